// Automatic failover, decided from facts: whether the primary renews the leader record's lease (and fences itself when
// it cannot), whether a replica's view of the lease has lapsed, and, once its peers have been asked, whether it takes
// over. Pure: the executor (sidecar-agent.ts) reads the Lease, keeps the monotonic clocks, asks the peers and carries
// the decision out. Every clock is this agent's own: no time written by another node is ever compared with it.
import { Candidate, chooseFailoverTarget, parseLsn } from './failover-target';
import { describeRecord, LeaderRecord, LeaseObject, StableRecord } from './record';
import { takeOverLapsedLease } from './transitions';

/** An annotation on the record's Lease: "true" pauses automatic failover (maintenance); manual ways keep working. */
export const PAUSE_ANNOTATION = 'failover.postgres.cdk8s.io/paused';
/**
 * An annotation on the record's Lease: a failover asked for by a person, to a pod or `any`. A primary that serves and
 * reads it switches over instead (nothing is lost) or refuses, and removes it either way; one that does not answer it
 * within twice its fence time has stopped taking writes, and the replica that the failover job would promote takes over.
 */
export const FAILOVER_REQUEST = 'failover.postgres.cdk8s.io/target';
/** An annotation on the record's Lease: the primary's WAL position at its last renewal (maximumLagOnFailover's reference). */
export const WAL_POSITION_ANNOTATION = 'failover.postgres.cdk8s.io/wal-position';

/** The lease part of the record's Lease, as the agents read it. */
export interface LeaseState {
  /** spec.renewTime: only compared with its own earlier value, never with a clock. */
  readonly renewTime: string | undefined;
  readonly leaseDurationSeconds: number | undefined;
  /** spec.holderIdentity. */
  readonly holder: string | undefined;
  /** The primary's WAL position at its last renewal (WAL_POSITION_ANNOTATION). */
  readonly walPosition: string | undefined;
  /** PAUSE_ANNOTATION is "true". */
  readonly paused: boolean;
  /** FAILOVER_REQUEST, trimmed; undefined when there is none (or it is empty). */
  readonly failoverRequest: string | undefined;
}

/** The lease part of a Lease as the API returns it. */
export function leaseStateOf(lease: LeaseObject): LeaseState {
  const spec = (typeof lease.spec === 'object' && lease.spec !== null ? lease.spec : {}) as Record<string, unknown>;
  const annotations = (lease.metadata?.annotations ?? {}) as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const duration = spec.leaseDurationSeconds;
  return {
    renewTime: text(spec.renewTime),
    leaseDurationSeconds: typeof duration === 'number' && Number.isInteger(duration) && duration > 0 ? duration : undefined,
    holder: text(spec.holderIdentity),
    walPosition: text(annotations[WAL_POSITION_ANNOTATION]),
    paused: annotations[PAUSE_ANNOTATION] === 'true',
    failoverRequest: text(typeof annotations[FAILOVER_REQUEST] === 'string' ? (annotations[FAILOVER_REQUEST] as string).trim() : undefined),
  };
}

/** No lease on a Lease: what a record without automatic failover shows. */
export const NO_LEASE: LeaseState = {
  renewTime: undefined,
  leaseDurationSeconds: undefined,
  holder: undefined,
  walPosition: undefined,
  paused: false,
  failoverRequest: undefined,
};

/**
 * The record's primary holds a lease: it renews (a renew time and a duration, held by it). A primary that does not (its
 * agent runs without automatic failover, as during a rolling update that turns it on) is never taken over from.
 */
export function leaseHeld(lease: LeaseState, record: LeaderRecord | undefined): boolean {
  return record?.state === 'stable' && lease.renewTime !== undefined && lease.leaseDurationSeconds !== undefined && lease.holder === record.primary;
}

/** The Lease shows a lease (a renew time or a duration), which a primary without automatic failover removes. */
export function leaseShown(lease: LeaseState): boolean {
  return lease.renewTime !== undefined || lease.leaseDurationSeconds !== undefined;
}

/** What resets a replica's clock: a renewal, or any change of state, epoch or primary. */
export function leaseKey(record: LeaderRecord | undefined, lease: LeaseState): string {
  return `${describeRecord(record)}|${lease.renewTime ?? ''}`;
}

/** What the sidecar knows of the lease this round (the settings, and its own monotonic clocks). */
export interface AutomaticFailoverFacts {
  readonly leaseSeconds: number;
  readonly renewSeconds: number;
  readonly renewDeadlineSeconds: number;
  readonly primaryRestartGraceSeconds: number;
  readonly minimumIntervalSeconds: number;
  /** Since the start of this agent's last successful renewal (Infinity: none yet). */
  readonly secondsSinceRenewed: number;
  /** Since this pod's PostgreSQL last served (since the agent started, if it has not yet). */
  readonly secondsSinceServing: number;
  /** Since this agent saw the lease renewed or the record change (leaseKey), or started. */
  readonly secondsSinceLeaseChange: number;
  /** Since this agent saw the record name a new primary (Infinity: not since it started). */
  readonly secondsSincePrimaryChange: number;
  readonly lease: LeaseState;
}

export type PrimaryRenewal =
  /** Renewed recently enough. */
  | { readonly renew: 'no' }
  /** Renew now; a failure is retried. */
  | { readonly renew: 'due' }
  /** The renew deadline has passed: renew now, and fence if that fails. */
  | { readonly renew: 'or-fence' }
  /** PostgreSQL has not served for primaryRestartGraceSeconds: the lease is left to lapse, for a replica to take over. */
  | { readonly renew: 'lapse'; readonly reason: string };

/** Whether the primary named by a stable record renews its lease this round (serving: its PostgreSQL serves). */
export function primaryRenewal(facts: AutomaticFailoverFacts, record: StableRecord, serving: boolean): PrimaryRenewal {
  if (!serving && facts.secondsSinceServing >= facts.primaryRestartGraceSeconds) {
    return {
      renew: 'lapse',
      reason: `PostgreSQL has not served for ${facts.primaryRestartGraceSeconds}s (primaryRestartGraceSeconds): no longer renewing the lease, `
        + `for a replica to take over once it lapses (${describeRecord(record)})`,
    };
  }
  if (serving && facts.secondsSinceRenewed >= facts.renewDeadlineSeconds) return { renew: 'or-fence' };
  if (facts.secondsSinceRenewed >= facts.renewSeconds || !leaseHeld(facts.lease, record)) return { renew: 'due' };
  return { renew: 'no' };
}

/** Whether a replica's view of the lease lapsed, and why (or why not). */
export interface Lapse {
  readonly lapsed: boolean;
  readonly why: string;
}

/** Whether a replica asks its peers this round: the lease has lapsed on its clock and nothing holds it back. */
export function lapsed(facts: AutomaticFailoverFacts, record: LeaderRecord | undefined, podName: string): Lapse {
  if (record?.state !== 'stable' || record.primary === podName) return { lapsed: false, why: 'no primary to take over from' };
  if (!leaseHeld(facts.lease, record)) return { lapsed: false, why: `${record.primary} holds no lease (it runs without automatic failover)` };
  if (facts.secondsSinceLeaseChange < facts.leaseSeconds) return { lapsed: false, why: 'the lease is held' };
  if (facts.lease.paused) return { lapsed: false, why: `the lease of ${record.primary} has lapsed, but automatic failover is paused (${PAUSE_ANNOTATION})` };
  if (facts.secondsSincePrimaryChange < facts.minimumIntervalSeconds) {
    return { lapsed: false, why: `the lease of ${record.primary} has lapsed, but the primary changed less than ${facts.minimumIntervalSeconds}s ago (minimumFailoverIntervalSeconds)` };
  }
  return { lapsed: true, why: `the lease of ${record.primary} has lapsed: not renewed for ${facts.leaseSeconds}s` };
}

/** What a replica knows of a failover request on the record (FAILOVER_REQUEST). */
export interface FailoverRequestFacts {
  /** The request: a pod, or `any`. */
  readonly target: string;
  /** Since this agent first saw the request with the record as it is now (a change of either starts the count again). */
  readonly secondsUnanswered: number;
  /**
   * How long the primary may take to answer before it is sure to have stopped taking writes: twice its fence time (its
   * renew deadline with automatic failover, ISOLATION_FENCE_SECONDS without), as the failover job waits for an
   * unreachable primary.
   */
  readonly answerSeconds: number;
}

/**
 * Whether a replica acts on a failover request: the recorded primary has not answered it (a primary that reads the
 * record answers at once: a switchover, or a refusal that removes it) for answerSeconds, so it has fenced itself.
 */
export function requestUnanswered(request: FailoverRequestFacts | undefined, record: LeaderRecord | undefined, podName: string): Lapse {
  if (request === undefined) return { lapsed: false, why: 'no failover request' };
  if (record?.state !== 'stable' || record.primary === podName) return { lapsed: false, why: 'no primary to fail over from' };
  if (request.secondsUnanswered < request.answerSeconds) {
    return { lapsed: false, why: `a failover to ${request.target} is requested (${FAILOVER_REQUEST}); waiting ${request.answerSeconds}s for ${record.primary} to answer it` };
  }
  return { lapsed: true, why: `${record.primary} did not answer the failover request (${FAILOVER_REQUEST}=${request.target}) within ${request.answerSeconds}s` };
}

/** What a replica whose view of the lease lapsed learned from itself and its peers. */
export interface TakeoverFacts {
  readonly podName: string;
  readonly record: StableRecord;
  /** This pod's PostgreSQL, as its status query says (role and WAL position). */
  readonly self: Candidate;
  /** This pod's system identifier (pg_control), undefined when it could not be read. */
  readonly systemIdentifier: string | undefined;
  /**
   * This pod's timeline from its data: the newer of pg_control's checkpoint timeline and its highest history file (what
   * it followed, even with no WAL receiver running); undefined when it could not be read.
   */
  readonly timeline: number | undefined;
  /** Every other pod, as it answered over the pod network ('unreachable' when it did not). */
  readonly peers: readonly Candidate[];
  /** The other pods, for the synchronous set the new record lists (sorted). */
  readonly otherPods: readonly string[];
  readonly syncReplicas: number;
  readonly maximumLagBytes: number;
  /** The primary's WAL position at its last renewal, if it published one. */
  readonly primaryWalPosition: string | undefined;
  /** The lease's duration (leaseSeconds). */
  readonly leaseSeconds: number;
  /** Since the record's primary last answered this pod that it serves as a primary (Infinity: not since the lease lapsed). */
  readonly secondsSincePrimaryAnswered: number;
  /**
   * Why this replica asks: the lease lapsed, or a failover request went unanswered (its target: a pod, or `any`); for a
   * request, leaseSeconds is the time the primary had to answer it.
   */
  readonly cause: { readonly kind: 'lease' } | { readonly kind: 'request'; readonly target: string };
}

export type TakeoverDecision =
  | { readonly kind: 'wait'; readonly reason: string }
  | { readonly kind: 'take-over'; readonly record: StableRecord; readonly reason: string };

/**
 * Whether this replica takes over from a primary whose lease lapsed: never while a peer still serves as a primary, nor
 * with another cluster's data, nor further behind the primary's last published position than maximumLagBytes; then
 * only the replica that the failover job would promote (the most advanced; in synchronous mode a recorded synchronous
 * standby, with n - k + 1 of the set answering), ties going to the first by name, so that peers that see the same
 * agree. The record (compare-and-swap, a new epoch) decides a race.
 */
export function decideTakeover(facts: TakeoverFacts): TakeoverDecision {
  const { record, self, cause } = facts;
  const wait = (reason: string): TakeoverDecision => ({ kind: 'wait', reason: `not taking over from ${record.primary}: ${reason}` });
  const requested = cause.kind === 'request' && cause.target !== 'any' ? cause.target : undefined;
  const serving = facts.peers.filter(peer => peer.role === 'primary').map(peer => peer.pod);
  if (serving.length > 0) return wait(`${serving.join(', ')} still serves as a primary`);
  // A primary that answered lately may serve on in failsafe mode (it cannot reach the API, but its replicas reach it); it
  // fences itself within a round of missing this pod's replies, well within a lease.
  if (facts.secondsSincePrimaryAnswered < facts.leaseSeconds) {
    return wait(`it answered as a primary less than ${facts.leaseSeconds}s ago, and may still serve (failsafe) until it misses this pod`);
  }
  if (self.role !== 'replica' || parseLsn(self.lsn) === undefined) return wait(`this pod's PostgreSQL is not a replica that answers (${self.role} at ${self.lsn})`);
  if (record.systemIdentifier !== undefined && facts.systemIdentifier !== record.systemIdentifier) {
    return wait(`this pod's data is not the recorded cluster's (system identifier ${facts.systemIdentifier ?? 'unknown'}, recorded ${record.systemIdentifier})`);
  }
  // On another timeline than the record's, it missed a promotion (behind) or made one nobody recorded (ahead): its WAL is
  // not the recorded primary's history, whatever its position says.
  if (facts.timeline !== record.timeline) {
    return wait(`this pod's data is on timeline ${facts.timeline ?? 'unknown'}, the recorded primary's on ${record.timeline}`);
  }
  const published = facts.primaryWalPosition === undefined ? undefined : parseLsn(facts.primaryWalPosition);
  if (published !== undefined) {
    const lag = published - (parseLsn(self.lsn) as bigint);
    if (lag > BigInt(facts.maximumLagBytes)) {
      return wait(`this replica is ${lag} bytes behind the primary's last published position ${facts.primaryWalPosition} (maximumLagOnFailover ${facts.maximumLagBytes})`);
    }
  }
  // The old primary is asked whether it still serves; it is never a candidate (its data may be ahead of what it sent, and
  // a replica's answer from it would lift the synchronous rule, as only the job may, knowing it rewinds that pod).
  // A peer that streams on another timeline than the record's is no candidate either (nor one that says nothing of it).
  const otherTimeline = (peer: Candidate) => peer.role === 'replica' && peer.timeline !== undefined && peer.timeline !== 0 && peer.timeline !== record.timeline;
  const peers = facts.peers.map(peer => (peer.pod === record.primary || otherTimeline(peer) ? { pod: peer.pod, role: 'unreachable' as const, lsn: '?' } : peer));
  const candidates = [self, ...peers].sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0));
  const choice = chooseFailoverTarget({
    candidates,
    previous: record.primary,
    syncReplicas: facts.syncReplicas,
    syncSet: record.sync,
    acceptDataLoss: false,
    requestedTarget: requested,
    scaleDownTo: undefined,
  });
  if (choice.kind === 'refuse') return wait(choice.reason);
  if (choice.target !== facts.podName) return wait(`${choice.target} is the replica to promote (${choice.reason})`);
  const sync = facts.syncReplicas > 0 ? [...facts.otherPods].sort() : [];
  const next = takeOverLapsedLease(record, facts.podName, sync);
  const why = cause.kind === 'lease' ? `AUTOMATIC FAILOVER: the lease of ${record.primary} lapsed`
    : `REQUESTED FAILOVER: ${record.primary} did not answer the failover request (${FAILOVER_REQUEST}=${cause.target}) within ${facts.leaseSeconds}s`;
  return {
    kind: 'take-over',
    record: next,
    reason: `${why} and this pod is the replica to promote (${choice.reason}): recording it as the primary (${describeRecord(next)}), then promoting it`,
  };
}
