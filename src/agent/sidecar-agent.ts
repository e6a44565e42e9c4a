// The sidecar's executor: each round it gathers the facts (the leader record from the API, PostgreSQL's state from
// its files and one kept connection), asks decideSidecarStep (sidecar.ts) what to do, logs why when that changes, and
// carries the steps out in order. It also keeps what the pod's other containers read: the copy of the record for the
// entrypoint (which has no API token) and the pod's password file. The successor of role-labeler.sh: same log lines,
// same files, same record writes; no process is started.
import * as fs from 'fs';
import * as path from 'path';
import { ARCHIVE_LOOK_SECONDS, ArchiveWatch, decideArchive, NO_ARCHIVE_WATCH } from './archive-watch';
import {
  decideTakeover, FAILOVER_REQUEST, leaseKey, leaseShown, LeaseState, leaseStateOf, NO_LEASE, TakeoverFacts, WAL_POSITION_ANNOTATION,
} from './automatic-failover';
import { SidecarConfig } from './config';
import { changedSettings, reloadReport } from './configuration';
import { Candidate, historyFileName } from './failover-target';
import { decideFailsafe, failsafeDue, failsafeHolds, fenceDeadline } from './failsafe';
import { countedTimeline, decideFollow, decideStaleSender, recloneReason, SeenReceiver } from './follow';
import { decideHandover, decideHandoverWait, decideRequestedSwitchover, PodState, Standby, SWITCHOVER_REQUEST } from './handover';
import { ApiResult, followLease, KubeClient, LeasePatch, sleep } from './kube';
import { decideLabel } from './label';
import { NodeStatusFacts, statusLine } from './node-status';
import {
  controlOf, DbState, endSlotSender, fastShutdown, LocalPostgres, observedRole, peerStatus, PrimaryConnection, primaryLacksWal, readPostmaster,
  slotOf, slotSender, writeStandbySignal,
} from './postgres';
import {
  decodeRecord, describeRecord, encodeAnnotations, encodeRecordLease, encodeRecordPatch, LeaderRecord, RECORD_FIELDS, RECORD_PREFIX,
  LeaseObject, StableRecord,
} from './record';
import { decideRoll, ROLL_PAUSE_ANNOTATION, ROLL_STALL_SECONDS } from './roll';
import {
  authorizes, awaitsCheckpoint, decideSidecarStep, Delivery, newerDelivery, nextSyncSet, owesCheckpoint, ServerRole, shutdownCheckpointUpdate,
  SidecarFacts, SidecarRecord, SidecarStep, timelineUpdate,
} from './sidecar';
import { isBootstrapWait, RecordCopy } from './start';
import { dataDirectoryOf, RECLONE_MARKER, parseStartRequest, readIfExists, startPlanOf, writeStartPlan } from './start-agent';
import { recordSyncSet } from './transitions';

/** The component that reports the agent's Events (source.component, reportingComponent). */
const AGENT_COMPONENT = 'postgres-cluster-agent';

/** When something that has not happened yet happened (a time, or a deadline written): earlier than any other. */
const NEVER = -Infinity;

/** Removes a file; one already gone is no error. */
function removeIfThere(file: string): void {
  fs.rmSync(file, { force: true });
}

/** The status line of this pod's PostgreSQL (`agent.js status`), undefined when pg_control cannot be read. */
export async function nodeStatus(config: SidecarConfig): Promise<string | undefined> {
  const initialized = (readIfExists(path.join(config.pgdata, 'PG_VERSION')) ?? '').trim() !== '';
  const running = readPostmaster(config.pgdata)?.alive === true;
  const control = controlOf(config.pgdata);
  let answer: NodeStatusFacts['answer'];
  if (running && initialized) {
    const pg = new LocalPostgres({ socketDir: config.socketDir, port: config.port, user: config.users.superuser, queryTimeoutMs: 3_000 });
    // Unanswered, the line says what pg_control can.
    answer = await pg.status().catch(() => undefined);
    await pg.close();
  }
  return statusLine({ initialized, running, control, answer }, true);
}

/** What the executor needs from the world besides the API and PostgreSQL: time and the log. */
export interface SidecarEnvironment {
  /** Seconds on a monotonic clock. */
  readonly monotonic: () => number;
  /** Microseconds since the epoch (the entrypoint compares the record copy's read_at with its own clock). */
  readonly wallMicros: () => number;
  /**
   * Seconds of /proc/uptime: the monotonic clock that every container of the pod shares, on which the heartbeat fence
   * (lease-fence.sh) reads the renewal deadline.
   */
  readonly uptime: () => number;
  readonly log: (line: string) => void;
}

/** How long a fast shutdown may take before the round gives up on it (pg_ctl's wait). */
const SHUTDOWN_TIMEOUT_MS = 60_000;
/** How long a promotion may take. */
const PROMOTE_TIMEOUT_MS = 60_000;
/**
 * How long the old primary of a switchover waits for its target to stream its timeline before it gives the switchover
 * back (it serves meanwhile): a target that reconnects after a timeline switch streams within a second
 * (wal_retrieve_retry_interval, cut short by the reload followNewPrimary makes).
 */
const TARGET_STREAM_WAIT_MS = 2_000;
/** The record copy is rewritten at least this often, so that the entrypoint always finds a fresh one. */
const RECORD_COPY_SECONDS = 2;
/** How long a primary whose pod is being deleted waits for its handover to finish (within the pod's 30 s of grace). */
const HANDOVER_SECONDS = 20;
/** How often a handing-over primary looks at its target's pod (decideHandoverWait). */
const HANDOVER_LOOK_SECONDS = 0.25;
/** How long the failsafe waits for every standby to reply to the WAL it wrote (the WAL writer flushes within 200 ms). */
const FAILSAFE_REPLY_MS = 1_000;
/** How often the failsafe looks whether to ask (failsafeDue). */
const FAILSAFE_EVERY_MS = 500;
/** How often a replica that does not stream on the record's timeline looks at its WAL receiver again (decideFollow). */
const FOLLOW_LOOK_SECONDS = 1;
/** The primary looks at the rolling update this often while pods of an older revision are left (roll.ts), and this often otherwise. */
const ROLL_LOOK_SECONDS = 1;
const ROLL_IDLE_SECONDS = 5;
/**
 * How long a candidate waits for a peer's connection once the lease lapsed. A dead node's address answers nothing (no
 * reset): the wait is part of every failover, and a pod on the same cluster network connects within milliseconds.
 */
const PEER_CONNECT_MS = 500;
/** How long after pg_reload_conf() the agent asks what took effect: the postmaster passes the signal on to each process. */
const RELOAD_SETTLE_MS = 200;
/** A replica looks at its WAL receiver every few seconds, enough to notice walCheckSeconds without streaming. */
const WAL_CHECK_EVERY_SECONDS = 3;
/**
 * How long a start request whose plan is only to wait for the record ('wait bootstrap': pod 0 initializing) stays
 * unanswered, so that the round the record's change wakes answers it at once rather than the entrypoint's next request.
 * Well within the entrypoint's wait for an answer (RECORD_MAX_AGE, 5 s).
 */
const START_HOLD_SECONDS = 2;
/** A round acts on the watch's delivery of the record, rather than reading it, when it came this recently (newerDelivery). */
const DELIVERY_FRESH_SECONDS = 1;
/** The watch's deliveries kept (newerDelivery looks for the held version among them). */
const DELIVERIES_KEPT = 16;

/** A value for a libpq password file, whose fields are separated by ":" and escape with "\". */
export function passfileField(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/** The pod's libpq password file: a line for the replication role, then one for the superuser. */
export function passfileText(replicationUser: string, replicationPassword: string, superuser: string, superuserPassword: string): string {
  return `*:*:*:${passfileField(replicationUser)}:${passfileField(replicationPassword)}\n`
    + `*:*:*:${passfileField(superuser)}:${passfileField(superuserPassword)}\n`;
}

/** The entrypoint's copy of the record: found=yes|no, then each field leader-record.sh knows, as key=value lines. */
export function recordCopyText(record: LeaderRecord | undefined): string {
  const annotations = record === undefined ? {} : encodeAnnotations(record);
  const lines = [`found=${record === undefined ? 'no' : 'yes'}`];
  for (const field of RECORD_FIELDS) lines.push(`${field}=${annotations[`${RECORD_PREFIX}/${field}`] ?? ''}`);
  return lines.join('\n');
}

/** An Event line the entrypoint wrote: `<Normal|Warning> <Reason> <message>`, or undefined when it is not one. */
export function parseEventLine(text: string): { type: 'Normal' | 'Warning'; reason: string; message: string } | undefined {
  const match = /^(Normal|Warning) ([A-Z][A-Za-z]*) (\S.*)/s.exec(text);
  return match === null ? undefined : { type: match[1] as 'Normal' | 'Warning', reason: match[2], message: match[3] };
}

interface Passwords {
  readonly superuser: string;
  readonly replication: string;
  readonly app: string;
}

export class SidecarAgent {
  private record: LeaderRecord | undefined;
  private resourceVersion = '';
  private recordError = '';
  private apiUp = true;
  private lastRead: number;
  /** The plan's reason as last logged; undefined: none yet. */
  private lastReason: string | undefined;
  /** Events sent during this round (report), answered by its end. */
  private readonly reports: Promise<unknown>[] = [];
  /** The leases the record's watch delivered, in its order (the last DELIVERIES_KEPT), each with the wall time it came. */
  private readonly delivered: Delivery<{ readonly lease: LeaseObject; readonly wallMicros: number }>[] = [];
  private server: ServerRole = 'not-serving';
  private passwords: Passwords | undefined;
  private passfileWritten = '';
  private credentialsApplied = '';
  /** What PostgreSQL reads again on a reload as this agent last read it, by path: the certificate, the configuration's directory. */
  private readonly filesSeen = new Map<string, string>();
  /** The record copy's text as last written; undefined: none yet. */
  private recordCopy: string | undefined;
  private recordCopyWrittenAt = NEVER;
  private recordWanted = true;
  /** The entrypoint's request for a start plan (its id), not answered yet, and when (monotonic) this agent took it. */
  private startRequest: string | undefined;
  private startRequestAt = NEVER;
  /** The record could be read but not decoded (a malformed record), as read last. */
  private recordMalformed = false;
  /** The label as last applied: undefined before the first (unknown), '' for none. */
  private applied: string | undefined;
  private appliedAt = 0;
  private lastOthers: string | undefined;
  private lastMaintained = NEVER;
  private readonly goneAt = new Map<string, string>();
  /** The epoch and timeline (`<epoch>/<timeline>`) followNewPrimary last got an answer for; undefined: none yet. */
  private followed: string | undefined;
  /** When (monotonic) followNewPrimary last looked whether this replica streams on the record's timeline. */
  private followLookedAt = NEVER;
  /** It did not: the nap ends in time for the next look (FOLLOW_LOOK_SECONDS). */
  private following = false;
  /** The WAL receiver as first seen not streaming (decideFollow). */
  private receiverSeen: SeenReceiver | undefined;
  /** Continuous archiving as last looked at (decideArchive), and when. */
  private archiveWatch: ArchiveWatch = NO_ARCHIVE_WATCH;
  private archiveLookedAt = NEVER;
  /** The primary's walsender first seen holding this replica's slot while it did not stream (decideStaleSender). */
  private senderSeen: number | undefined;
  /** The look for a stale walsender under way (endStaleSender), if one is. */
  private staleSenderLook: Promise<void> | undefined;
  private lastStreaming: number;
  private lastWalCheck = NEVER;
  private soon = false;
  /** This pod's role label as the API listed it last this round ('' for none), undefined when not listed since it was set. */
  private labelSeen: string | undefined;
  /** The other pods labelled primary, as listed last. */
  private othersLabeled: readonly string[] = [];
  private lastLabelWait = '';
  /** When this primary's label was first seen changed by someone else (it is set back LABEL_RESTORE_SECONDS later). */
  private labelChangedSeenAt: number | undefined;
  /** A switchover asked for on the record's Lease (its SWITCHOVER_REQUEST annotation), as read last. */
  private switchoverRequest: string | undefined;
  /** The standbys streaming from this primary, as last seen (maintainPrimary). */
  private standbys: readonly Standby[] = [];
  private wake: (() => void) | undefined;
  private readonly pg: LocalPostgres;
  /** The lease part of the record's Lease, as read last. */
  private lease: LeaseState = NO_LEASE;
  /** leaseKey as last seen, and when (monotonic) it last changed. */
  private leaseKeySeen = '';
  private leaseChangedAt: number;
  /** The failover request with the record as last seen (FAILOVER_REQUEST and leaseKey; '' for none), and since when (monotonic). */
  private requestKeySeen = '';
  private requestSeenAt: number;
  /** The failover request as last seen, and the record's epoch when this agent first saw it. */
  private requestSeen: string | undefined;
  private requestEpoch: number | undefined;
  /** The record's epoch as last seen, and when it last changed (a new primary); NEVER: not since this agent started. */
  private epochSeen: number | undefined;
  private epochChangedAt = NEVER;
  /** When (monotonic) this agent's last successful renewal began; NEVER: none yet. */
  private renewedAt = NEVER;
  /** When this pod's PostgreSQL was last seen serving (as a primary or a replica); the agent's start until it is. */
  private servingAt: number;
  private lastRenewProblem = '';
  /** The takeover's reason as last logged; undefined: none yet. */
  private lastTakeoverReason: string | undefined;
  /** The cluster's other pods as the API listed them last (the failsafe asks whether each streams from this primary). */
  private knownOthers: readonly string[] | undefined;
  /** When (monotonic) each pod last answered this replica, as a candidate, that it serves as a primary. */
  private readonly primaryAnsweredAt = new Map<string, number>();
  /** When (monotonic) the failsafe last found every other pod replying (failsafeLoop). */
  private failsafeHeldAt = NEVER;
  /** The heartbeat fence's deadline as last written (uptime, hundredths of a second); NEVER: none. */
  private deadlineWritten = NEVER;
  /** When (monotonic) this primary last looked at the rolling update, and whether pods of an older revision were left then. */
  private rollLookedAt = NEVER;
  private rolling = false;
  /** The rolling update's wait as last decided, and since when (monotonic); the reason a stall was last reported for. */
  private rollWait: { readonly reason: string; readonly since: number } | undefined;
  private rollStallReported: string | undefined;
  /** ROLL_PAUSE_ANNOTATION on the record's Lease, as read last. */
  private rollPaused = false;
  /** The rolling update's reason as last logged; undefined: none yet. */
  private lastRollReason: string | undefined;

  constructor(private readonly config: SidecarConfig, private readonly podName: string, private readonly kube: KubeClient,
    private readonly env: SidecarEnvironment) {
    this.lastRead = env.monotonic();
    this.lastStreaming = env.monotonic();
    this.leaseChangedAt = env.monotonic();
    this.requestSeenAt = env.monotonic();
    this.servingAt = env.monotonic();
    this.pg = new LocalPostgres({ socketDir: config.socketDir, port: config.port, user: config.users.superuser, queryTimeoutMs: 5_000 });
  }

  private log(message: string): void {
    this.env.log(message);
  }

  /** Rounds until `signal` aborts; then the label goes (the write Service follows the label alone). */
  public async run(signal: AbortSignal): Promise<void> {
    this.log(`watching ${this.config.pgdata} and leader record ${this.config.leaderRecord}; label "${this.config.roleLabel}"`);
    // A change that arrives during a round (no nap to wake) makes the next nap short: the round read the record before it.
    const watching = followLease(this.kube, this.config.leaderRecord, lease => {
      this.deliver(lease);
      if (this.wake !== undefined) this.wake();
      else this.soon = true;
    }, signal);
    const failsafe = this.failsafeLoop(signal);
    while (!signal.aborted) {
      await this.round();
      await this.nap(signal);
    }
    // At once: every moment lost here is one in which the pods deleted with this one are replaced, and their new pods
    // (not Ready yet) are no handover's target.
    await this.handOverIfDeleted();
    await Promise.all([watching, failsafe]);
    if (this.applied !== '') await this.kube.labelPod(this.podName, this.config.roleLabel, null);
    await this.pg.close();
  }

  /**
   * Stopping: if this pod is being deleted and is the serving primary the record names, it hands the primary over by a
   * switchover (handover.ts), then goes on with its rounds (it fences itself, as the kubelet stops PostgreSQL anyway, and
   * records its shutdown checkpoint) until the target is the recorded primary or HANDOVER_SECONDS have passed.
   */
  private async handOverIfDeleted(): Promise<void> {
    const [me, pods] = await Promise.all([
      this.kube.getPod(this.podName), this.kube.listPods(this.config.clusterSelector), this.readRecord(this.env.wallMicros()),
    ]);
    const state = controlOf(this.config.pgdata)?.state;
    const plan = decideHandover({
      podName: this.podName,
      podTerminating: me.ok ? me.value?.terminating === true : undefined,
      record: this.apiUp ? this.record : undefined,
      primaryData: state === DbState.IN_PRODUCTION || state === DbState.SHUTTING_DOWN || state === DbState.SHUT_DOWN,
      standbys: this.standbys,
      pods: pods.ok ? pods.value : undefined,
    });
    this.log(plan.reason);
    if (plan.kind !== 'hand-over') return;
    const done = await this.swap(plan.record);
    if (!done.ok) {
      this.log(`could not write the handover (${done.message}): the primary stops without one (run the failover job)`);
      return;
    }
    await this.podEvent('Normal', 'HandingOver', plan.reason);
    const targetUid = pods.ok ? pods.value.find(pod => pod.name === plan.target)?.uid : undefined;
    const deadline = this.env.monotonic() + HANDOVER_SECONDS;
    let lookedAt = NEVER;
    while (this.env.monotonic() < deadline) {
      await this.round();
      // The target's pod, now and then: it may be deleted too, after this one.
      let targetPod: PodState | null | undefined;
      if (this.env.monotonic() - lookedAt >= HANDOVER_LOOK_SECONDS) {
        lookedAt = this.env.monotonic();
        const found = await this.kube.getPod(plan.target);
        targetPod = found.ok ? found.value ?? null : undefined;
      }
      const next = decideHandoverWait({ podName: this.podName, target: plan.target, targetUid, record: this.record, targetPod });
      if (next.kind === 'done') {
        this.log(next.reason);
        return;
      }
      if (next.kind === 'give-back') {
        const given = await this.swap(next.record);
        this.log(given.ok ? next.reason : `could not give the record back (${given.message}); looking again`);
        if (given.ok) {
          await this.podEvent('Warning', 'HandoverUndone', next.reason);
          return;
        }
      }
      await new Promise(resolve => setTimeout(resolve, 50));
    }
    this.log(`${plan.target} did not take over within ${HANDOVER_SECONDS}s: the record stays switching-over (run the failover job to finish or undo it)`);
  }

  /** One round: read, decide, act. */
  public async round(): Promise<void> {
    // A request written before this round (before the agent's first nap, say) is answered by it: its read comes after.
    this.takeStartRequest();
    const started = this.env.wallMicros();
    await this.postPodEvent();
    this.readPasswords();
    await this.reloadRenewedCertificate();
    await this.reloadChangedConfiguration();
    const readUptime = this.env.uptime();
    await this.readRecord(started);
    this.server = observedRole(this.config.pgdata);
    if (this.server !== 'not-serving') this.servingAt = this.env.monotonic();
    if (this.startRequest !== undefined) await this.answerStartRequest(this.startRequest);
    const named = this.record?.state === 'stable' && this.record.primary === this.podName;
    if (this.apiUp && !named) this.removeDeadline();
    // Without automatic failover, each read of a record that names this serving primary moves its heartbeat fence's
    // deadline on by isolationFenceSeconds (as its own isolation fence counts); with it, each renewal does.
    if (this.apiUp && named && this.server === 'primary' && !this.config.automaticFailover.enabled) {
      this.writeDeadline(readUptime, this.config.timing.isolationFenceSeconds);
    }
    if (this.apiUp && this.switchoverRequest !== undefined) {
      await this.carryOutSwitchoverRequest(this.switchoverRequest, 'switchover');
    } else if (this.apiUp && this.lease.failoverRequest !== undefined) {
      await this.carryOutSwitchoverRequest(this.lease.failoverRequest, 'failover');
    }
    const facts = await this.facts();
    const plan = decideSidecarStep(facts);
    if (plan.reason !== this.lastReason) {
      this.log(plan.reason);
      this.lastReason = plan.reason;
    }
    let done = true;
    for (const step of plan.steps) {
      done = await this.carryOut(step, plan.reason, facts.otherPods);
      if (!done) break;
    }
    // A round whose steps did not all succeed (a renewal the API did not answer, say) does not roll.
    if (done && this.apiUp && this.server === 'primary' && this.record?.state === 'stable' && this.record.primary === this.podName) await this.roll();
    if (this.server === 'primary') await this.watchArchive();
    await Promise.all(this.reports.splice(0));
  }

  /**
   * An Event about this pod, sent beside the round's next steps rather than before them (a promoted pod's label, a
   * fenced one's shutdown checkpoint, come first); the round ends once it is answered.
   */
  private report(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.reports.push(this.podEvent(type, reason, message));
  }

  /** An Event about this pod, reported by the agent. */
  private podEvent(type: 'Normal' | 'Warning', reason: string, message: string): ReturnType<KubeClient['podEvent']> {
    return this.kube.podEvent(this.podName, type, reason, message, AGENT_COMPONENT);
  }

  /** Continuous archiving, on a primary (decideArchive): a look at pg_stat_archiver every ARCHIVE_LOOK_SECONDS, an Event when it starts failing or works again. */
  private async watchArchive(): Promise<void> {
    const now = this.env.monotonic();
    if (now - this.archiveLookedAt < ARCHIVE_LOOK_SECONDS) return;
    this.archiveLookedAt = now;
    const look = await this.attempt(() => this.pg.archiverLook());
    if (look === undefined) return;
    const decided = decideArchive(this.archiveWatch, look, now, this.podName);
    this.archiveWatch = decided.watch;
    if (decided.event === undefined) return;
    this.log(`${decided.event.reason}: ${decided.event.message}`);
    await this.podEvent(decided.event.type, decided.event.reason, decided.event.message);
  }

  /**
   * The rolling update (decideRoll), by the recorded primary that serves: a look every ROLL_LOOK_SECONDS while pods of an
   * older revision are left, every ROLL_IDLE_SECONDS otherwise.
   */
  private async roll(): Promise<void> {
    const now = this.env.monotonic();
    if (now - this.rollLookedAt < (this.rolling ? ROLL_LOOK_SECONDS : ROLL_IDLE_SECONDS)) return;
    this.rollLookedAt = now;
    const record = this.record;
    if (record?.state !== 'stable') return;
    const [set, pods, standbys] = await Promise.all([
      this.kube.getStatefulSet(this.config.statefulSet),
      this.kube.listPods(this.config.clusterSelector),
      this.attempt(() => this.pg.standbys()),
    ]);
    if (!set.ok || !pods.ok || set.value === undefined || standbys === undefined) {
      const why = !set.ok ? set.message : !pods.ok ? pods.message : set.value === undefined ? `there is no StatefulSet ${this.config.statefulSet}` : 'PostgreSQL did not answer';
      this.logRoll(`cannot look at the rolling update: ${why}`);
      return;
    }
    const plan = decideRoll({
      podName: this.podName,
      record,
      replicas: set.value.replicas,
      updateRevision: set.value.updateRevision,
      pods: pods.value,
      standbys,
      paused: this.rollPaused,
      lastWait: this.rollWait === undefined ? undefined : { reason: this.rollWait.reason, seconds: now - this.rollWait.since },
    });
    // Nothing to roll is said once a roll is over, not while there was none.
    if (plan.kind !== 'none' || this.rolling) this.logRoll(plan.reason);
    this.rolling = plan.kind !== 'none';
    this.rollWait = plan.kind !== 'wait' ? undefined : plan.reason === this.rollWait?.reason ? this.rollWait : { reason: plan.reason, since: now };
    if (plan.kind === 'wait' && plan.stalled && this.rollStallReported !== plan.reason) {
      this.rollStallReported = plan.reason;
      await this.podEvent('Warning', 'RollingUpdateStalled', `for ${ROLL_STALL_SECONDS}s and more: ${plan.reason}`);
    }
    if (plan.kind === 'delete') {
      const deleted = await this.kube.deletePod(plan.pod, plan.uid);
      if (!deleted.ok) this.log(`could not delete ${plan.pod} (${deleted.message}): looking again`);
      else await this.podEvent('Normal', 'RollingUpdate', plan.reason);
    }
    if (plan.kind === 'switch-over') {
      const done = await this.swap(plan.record);
      if (!done.ok) {
        this.log(`could not write the rolling update's switchover (${done.message}): deciding again`);
        this.soon = true;
        return;
      }
      await this.podEvent('Normal', 'SwitchingOver', plan.reason);
      this.soon = true;
    }
  }

  private logRoll(reason: string): void {
    if (reason === this.lastRollReason) return;
    this.lastRollReason = reason;
    this.log(reason);
  }

  /** A lease the watch delivered (or read at its start), kept for newerDelivery; a deleted one forgets them all. */
  private deliver(lease: LeaseObject | undefined): void {
    const version = lease?.metadata?.resourceVersion;
    if (lease === undefined || typeof version !== 'string' || version === '') {
      this.delivered.length = 0;
      return;
    }
    this.delivered.push({ version, at: this.env.monotonic(), lease: { lease, wallMicros: this.env.wallMicros() } });
    if (this.delivered.length > DELIVERIES_KEPT) this.delivered.shift();
  }

  /**
   * Reads the record (GET), or takes the watch's delivery of it when that is newer than the record held and fresh
   * (newerDelivery): a round woken by a change acts on it without asking the API again. Either is an answer of the API,
   * and counts as a read from when it came. A start request is answered from a read made after it: that round reads.
   */
  private async readRecord(started: number): Promise<void> {
    const delivery = this.startRequest === undefined
      ? newerDelivery(this.delivered, this.resourceVersion, this.env.monotonic(), DELIVERY_FRESH_SECONDS) : undefined;
    const got: ApiResult<LeaseObject | undefined> = delivery === undefined ? await this.kube.getLease(this.config.leaderRecord)
      : { ok: true, value: delivery.lease.lease };
    let error: string | undefined;
    this.recordMalformed = false;
    if (!got.ok) {
      error = got.message;
    } else if (got.value === undefined) {
      this.switchoverRequest = undefined;
      this.record = undefined;
      this.resourceVersion = '';
      this.lease = NO_LEASE;
    } else {
      this.lease = leaseStateOf(got.value);
      const decoded = decodeRecord(got.value);
      // Annotations are strings (the API refuses any other value).
      const annotations = got.value.metadata?.annotations as Record<string, string> | undefined;
      this.switchoverRequest = annotations?.[SWITCHOVER_REQUEST];
      this.rollPaused = annotations?.[ROLL_PAUSE_ANNOTATION] === 'true';
      if (decoded.ok) {
        this.record = decoded.record;
        this.resourceVersion = decoded.resourceVersion;
      } else {
        error = `the leader record is not one this agent can act on: ${decoded.error}`;
        this.recordMalformed = true;
      }
    }
    if (error !== undefined) {
      if (this.apiUp || error !== this.recordError) this.log(`cannot read the leader record: ${error}`);
      this.apiUp = false;
      this.recordError = error;
      return;
    }
    this.lastRead = delivery?.at ?? this.env.monotonic();
    this.noteLeaseChanges();
    // A replica that could not watch the lease does not know that it lapsed (nor whether its primary served meanwhile,
    // in failsafe mode): its clock starts again.
    if (!this.apiUp) {
      this.leaseChangedAt = this.env.monotonic();
      this.requestSeenAt = this.env.monotonic();
    }
    this.writeRecordCopy(delivery?.lease.wallMicros ?? started);
    if (!this.apiUp) this.log(`the API answers again: ${describeRecord(this.record)}`);
    this.apiUp = true;
  }

  /** A replica's clocks: when it last saw the lease renewed or the record change, and when the primary last changed. */
  private noteLeaseChanges(): void {
    const now = this.env.monotonic();
    const key = leaseKey(this.record, this.lease);
    if (key !== this.leaseKeySeen) {
      this.leaseKeySeen = key;
      this.leaseChangedAt = now;
    }
    const requestKey = `${this.lease.failoverRequest}|${key}`;
    if (requestKey !== this.requestKeySeen) {
      this.requestKeySeen = requestKey;
      this.requestSeenAt = now;
    }
    if (this.lease.failoverRequest !== this.requestSeen) {
      this.requestSeen = this.lease.failoverRequest;
      this.requestEpoch = this.requestSeen === undefined ? undefined : this.record?.epoch;
    }
    const epoch = this.record?.epoch;
    if (this.epochSeen !== undefined && epoch !== undefined && epoch !== this.epochSeen) this.epochChangedAt = now;
    if (epoch !== undefined) this.epochSeen = epoch;
  }

  /** The entrypoint's copy, replaced whole (rename), with the time at which the read began. */
  private writeRecordCopy(started: number): void {
    const text = recordCopyText(this.record);
    const now = this.env.monotonic();
    if (text === this.recordCopy && !this.recordWanted && now - this.recordCopyWrittenAt < RECORD_COPY_SECONDS) return;
    const file = this.config.recordFile;
    try {
      fs.writeFileSync(`${file}.new`, `read_at=${started}\n${text}\n`);
      fs.renameSync(`${file}.new`, file);
      this.recordCopy = text;
      this.recordCopyWrittenAt = now;
      this.recordWanted = false;
    } catch (error) {
      this.log(`could not write ${file}: ${(error as Error).message}`);
    }
  }

  private async facts(): Promise<SidecarFacts> {
    const record: SidecarRecord = this.apiUp
      ? { kind: 'read', record: this.record }
      : { kind: 'unreadable', error: this.recordError, last: this.record };
    const me = this.podName;
    const current = this.apiUp ? this.record : undefined;
    const involved = current === undefined ? this.server === 'primary'
      : current.state === 'stable' ? current.primary === me : current.target === me;
    // A primary the record does not authorize is fenced, whoever the others are: not listed, the fence comes sooner.
    const listed = this.server === 'primary' ? current === undefined || authorizes(current, me) : involved;
    const otherPods = this.apiUp && this.server !== 'not-serving' && listed ? await this.otherPods() : undefined;
    const creating = this.apiUp && this.server === 'primary' && current === undefined;
    return {
      podName: me,
      record,
      secondsSinceRecordRead: Math.floor(this.env.monotonic() - this.lastRead),
      isolationFenceSeconds: this.config.timing.isolationFenceSeconds,
      server: this.server,
      timeline: creating ? await this.attempt(() => this.pg.timeline()) : undefined,
      systemIdentifier: creating ? controlOf(this.config.pgdata)?.systemIdentifier : undefined,
      otherPods,
      syncReplicas: this.config.synchronousReplicas,
      // Asked of the target only: the old primary's checkpoint, once recorded, is what it waits for.
      receivedBeyondCheckpoint: awaitsCheckpoint(current, me) ? await this.attempt(() => this.pg.receivedBeyond(current.checkpoint)) : undefined,
      // Asked on the kept connection just before the fence: a target that does not stream this primary's timeline would
      // never receive its shutdown checkpoint.
      targetStreams: owesCheckpoint(current, me) && this.server === 'primary'
        ? await this.attempt(() => this.pg.awaitStandbyStream(current.target, TARGET_STREAM_WAIT_MS)) : undefined,
      automaticFailover: this.automaticFailoverFacts(),
      failoverRequest: this.lease.failoverRequest === undefined ? undefined : {
        target: this.lease.failoverRequest,
        secondsUnanswered: this.env.monotonic() - this.requestSeenAt,
        answerSeconds: this.requestAnswerSeconds(),
      },
      leaseShown: leaseShown(this.lease),
      failsafe: failsafeHolds(this.env.monotonic() - this.failsafeHeldAt),
    };
  }

  /**
   * The failsafe, apart from the rounds (whose calls to an API that does not answer take apiTimeoutSeconds each): twice a
   * second, while this pod is the recorded primary and serves, but has not confirmed it with the API for a while (with
   * automatic failover, no renewal for halfway to the renew deadline; without, no read of the record for half the
   * isolation fence), it asks every other pod (as last listed) to reply to WAL written now. When all do, each of them
   * reaches this primary: none takes over (a candidate waits a lease after this primary last answered it), and a failover
   * job refuses while they stream from it. The heartbeat fence's deadline moves on, and the rounds do not fence. Once one
   * stops replying, the deadline stays, and the fence comes within renewDeadlineSeconds (with automatic failover) or
   * FAILSAFE_FENCE_SECONDS (without).
   */
  private async failsafeLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(FAILSAFE_EVERY_MS, signal);
      if (!signal.aborted) await this.failsafeCheck();
    }
  }

  /** One look of the failsafe (failsafeLoop): failsafeDue, then decideFailsafe with the other pods' answer. */
  public async failsafeCheck(): Promise<void> {
    const settings = this.config.automaticFailover;
    const others = this.knownOthers;
    const named = () => this.record?.state === 'stable' && this.record.primary === this.podName;
    const confirmedAt = () => (settings.enabled ? this.renewedAt : this.lastRead);
    const due = failsafeDue({
      named: named(),
      othersKnown: others !== undefined,
      sinceConfirmed: this.env.monotonic() - confirmedAt(),
      // Halfway from a renewal due to the deadline, or halfway to the isolation fence.
      overdueAfter: settings.enabled ? (settings.renewSeconds + settings.renewDeadlineSeconds) / 2 : this.config.timing.isolationFenceSeconds / 2,
    });
    if (!due || others === undefined || observedRole(this.config.pgdata) !== 'primary') return;
    const askedAt = this.env.monotonic();
    const askedUptime = this.env.uptime();
    const held = others.length === 0 || await this.attempt(() => this.pg.standbysAnswer(others, FAILSAFE_REPLY_MS)) === true;
    const plan = decideFailsafe({
      automaticFailover: settings.enabled,
      held,
      confirmedMeanwhile: confirmedAt() >= askedAt,
      stillNamed: named(),
      askedUptime,
      renewDeadlineSeconds: settings.renewDeadlineSeconds,
      deadlineWritten: this.deadlineWritten,
      sinceHeld: this.env.monotonic() - this.failsafeHeldAt,
    });
    if (!plan.hold) return;
    if (plan.say) {
      const why = settings.enabled ? 'the lease cannot be renewed' : 'the leader record cannot be read';
      this.log(`FAILSAFE: ${why}, but every other pod (${others.join(', ') || 'none'}) streams from this primary `
        + 'and replies: it keeps serving (nobody takes over from a primary that its replicas still follow)');
    }
    this.failsafeHeldAt = askedAt;
    if (plan.deadline !== undefined) this.writeDeadlineAt(plan.deadline);
  }

  /** How long a primary may take to answer a failover request: twice the time after which it fences itself unconfirmed. */
  private requestAnswerSeconds(): number {
    const settings = this.config.automaticFailover;
    return 2 * (settings.enabled ? settings.renewDeadlineSeconds : this.config.timing.isolationFenceSeconds);
  }

  private automaticFailoverFacts(): SidecarFacts['automaticFailover'] {
    const settings = this.config.automaticFailover;
    if (!settings.enabled) return undefined;
    const now = this.env.monotonic();
    return {
      leaseSeconds: settings.leaseSeconds,
      renewSeconds: settings.renewSeconds,
      renewDeadlineSeconds: settings.renewDeadlineSeconds,
      primaryRestartGraceSeconds: settings.primaryRestartGraceSeconds,
      minimumIntervalSeconds: settings.minimumIntervalSeconds,
      secondsSinceRenewed: now - this.renewedAt,
      secondsSinceServing: now - this.servingAt,
      secondsSinceLeaseChange: now - this.leaseChangedAt,
      secondsSincePrimaryChange: now - this.epochChangedAt,
      lease: this.lease,
    };
  }

  /** A value from PostgreSQL, or undefined when it did not answer. */
  private async attempt<T>(query: () => Promise<T>): Promise<T | undefined> {
    try {
      return await query();
    } catch {
      return undefined;
    }
  }

  /** The cluster's other pods; on the way, this pod's role label as the API has it (someone may have changed it). */
  private async otherPods(): Promise<string[] | undefined> {
    const listed = await this.kube.listPods(this.config.clusterSelector);
    if (!listed.ok) return undefined;
    this.knownOthers = listed.value.map(pod => pod.name).filter(name => name !== this.podName).sort();
    const me = listed.value.find(pod => pod.name === this.podName);
    this.labelSeen = me === undefined ? undefined : me.labels[this.config.roleLabel] ?? '';
    this.othersLabeled = listed.value.filter(pod => pod.name !== this.podName && pod.labels[this.config.roleLabel] === 'primary').map(pod => pod.name);
    return listed.value.map(pod => pod.name).filter(name => name !== this.podName).sort();
  }

  /** Carries out one step of a plan decided for `reason` (`listed`: the other pods as the round's facts listed them); false ends the round. */
  private async carryOut(step: SidecarStep, reason: string, listed: SidecarFacts['otherPods']): Promise<boolean> {
    switch (step.do) {
      case 'label': await this.label(step.role === 'none' ? '' : step.role); return true;
      case 'create-record': await this.createRecord(step.record); return true;
      case 'fence': {
        const serving = this.server !== 'not-serving';
        await this.fence();
        // Said once, when it stopped a server that served (a fence that failed is tried again, and said when it stops
        // it); not awaited: the API may be what it is cut off from.
        if (serving && this.server === 'not-serving') void this.podEvent('Warning', 'Fenced', reason);
        return true;
      }
      case 'report-checkpoint': return this.reportCheckpoint();
      case 'write-record': return this.writeRecord(step.record, step.transition);
      case 'promote': {
        if (!await this.promote(step.others)) return false;
        this.report('Normal', 'Promoted', reason);
        return true;
      }
      case 'record-timeline': await this.recordTimeline(); return true;
      case 'maintain-primary': await this.maintainPrimary(listed); return true;
      case 'apply-credentials': await this.applyCredentials(); return true;
      case 'follow-new-primary': await this.followNewPrimary(step.epoch, step.timeline); return true;
      case 'check-replica-wal': await this.checkReplicaWal(); return true;
      case 'renew': return this.renew(step.fenceOnFailure);
      case 'release-lease': await this.releaseLease(); return true;
      case 'consider-takeover': return this.considerTakeover(step.cause);
      default: this.soon = true; return true;
    }
  }

  private async label(role: string): Promise<void> {
    const now = this.env.monotonic();
    const plan = decideLabel({
      labelKey: this.config.roleLabel,
      wanted: role,
      applied: this.applied,
      seen: this.labelSeen,
      othersPrimary: this.othersLabeled,
      now,
      appliedAt: this.appliedAt,
      changedSeenAt: this.labelChangedSeenAt,
      reassertSeconds: this.config.timing.reassertSeconds,
      waiting: this.lastLabelWait,
    });
    if (plan.do === 'wait') {
      if (plan.say) this.log(plan.waiting);
      this.lastLabelWait = plan.waiting;
      this.labelChangedSeenAt = plan.changedSeenAt;
      return;
    }
    this.lastLabelWait = '';
    this.labelChangedSeenAt = undefined;
    if (plan.do === 'keep') return;
    if (plan.restore) this.log(`the ${this.config.roleLabel} label was changed to "${this.labelSeen}" by someone else: setting it back to "${role}"`);
    const done = await this.kube.labelPod(this.podName, this.config.roleLabel, role === '' ? null : role);
    if (!done.ok) {
      this.log(`could not update the label (${done.message}); retrying`);
      return;
    }
    if (role !== this.applied) {
      this.log(`${this.config.roleLabel}=${role === '' ? '(none)' : role} (PostgreSQL is ${this.server === 'not-serving' ? 'not serving' : this.server}; ${describeRecord(this.record)})`);
    }
    this.applied = role;
    this.appliedAt = now;
    this.labelSeen = undefined;
  }

  /**
   * A switchover asked for on the record (SWITCHOVER_REQUEST): the serving primary hands over to that standby (or the
   * most advanced, for `any`) and the sidecars carry it out; a request it cannot carry out is removed, with a Warning
   * Event. A failover request (FAILOVER_REQUEST) is carried out the same way by a primary that serves (nothing is lost),
   * unless it was made before this pod became the primary (a failover or switchover answered it already): then it goes.
   */
  private async carryOutSwitchoverRequest(request: string, asked: 'switchover' | 'failover'): Promise<void> {
    const serving = this.server === 'primary';
    const record = this.record;
    if (record?.state !== 'stable' || record.primary !== this.podName || !serving) return;
    const standbys = await this.attempt(() => this.pg.standbys());
    const pods = await this.kube.listPods(this.config.clusterSelector);
    const plan = decideRequestedSwitchover({
      podName: this.podName,
      record,
      serving,
      request,
      standbys: standbys ?? [],
      pods: pods.ok ? pods.value : undefined,
      failoverRequestEpoch: asked === 'failover' ? this.requestEpoch : undefined,
    });
    if (plan.kind === 'ignore') return;
    const reason = asked === 'switchover' || plan.kind === 'drop' ? plan.reason : `failover requested (${FAILOVER_REQUEST}), but this primary serves: ${plan.reason}`;
    this.log(reason);
    const done = await this.swap(plan.kind === 'hand-over' ? plan.record : record, true);
    if (!done.ok) {
      this.log(`could not write the switchover request's outcome (${done.message}): deciding again`);
      this.soon = true;
      return;
    }
    this.switchoverRequest = undefined;
    if (plan.kind === 'refuse') await this.podEvent('Warning', asked === 'switchover' ? 'SwitchoverRefused' : 'FailoverRefused', reason);
    if (plan.kind === 'hand-over') await this.podEvent('Normal', 'SwitchingOver', reason);
  }

  /**
   * A Compare-and-swap of the record read this round; the record and resourceVersion follow the API's answer.
   * `clearRequest` also removes a switchover or failover request from the Lease.
   */
  private async swap(record: LeaderRecord, clearRequest = false, lease: LeasePatch['spec'] & {} = {}, extra: Record<string, string | null> = {}):
  Promise<{ ok: true } | { ok: false; status: number | undefined; message: string }> {
    const patch = encodeRecordPatch(record, this.resourceVersion);
    const requests: Record<string, null> = clearRequest ? { [SWITCHOVER_REQUEST]: null, [FAILOVER_REQUEST]: null } : {};
    const annotations = { ...patch.metadata.annotations, ...extra, ...requests };
    const sent: LeasePatch = { metadata: { ...patch.metadata, annotations }, spec: { ...patch.spec, ...lease } };
    const done = await this.kube.patchLease(this.config.leaderRecord, sent);
    if (!done.ok) return done;
    const decoded = decodeRecord(done.value);
    if (decoded.ok) {
      this.record = decoded.record;
      this.resourceVersion = decoded.resourceVersion;
      this.lease = leaseStateOf(done.value);
      this.noteLeaseChanges();
    }
    return { ok: true };
  }

  /** spec.renewTime now, as a MicroTime (six digits of fraction, as the API server writes and parses it). */
  private renewTime(): string {
    const micros = this.env.wallMicros();
    const seconds = new Date(Math.floor(micros / 1_000_000) * 1000).toISOString().slice(0, 19);
    return `${seconds}.${String(Math.floor(micros % 1_000_000)).padStart(6, '0')}Z`;
  }

  /** The lease fields of a renewal by this pod, with the WAL position of its PostgreSQL if it answers (else removed). */
  private async renewal(): Promise<{ spec: Record<string, string | number>; annotations: Record<string, string | null> }> {
    const position = this.server === 'primary' ? await this.attempt(() => this.pg.currentWalLsn()) : undefined;
    return {
      spec: { renewTime: this.renewTime(), leaseDurationSeconds: this.config.automaticFailover.leaseSeconds },
      annotations: { [WAL_POSITION_ANNOTATION]: position ?? null },
    };
  }

  /**
   * Automatic failover: renews this primary's lease (a compare-and-swap of the record read, with a new renew time). Its
   * deadline counts from the start of the renewal, before the API could have written it. A renewal that fails after the
   * deadline fences this primary: by the time a replica may take over, it takes no writes.
   */
  private async renew(fenceOnFailure: boolean): Promise<boolean> {
    const record = this.record;
    if (record === undefined) return true;
    const started = this.env.monotonic();
    const renewal = await this.renewal();
    const startedUptime = this.env.uptime();
    const done = await this.swap(record, false, renewal.spec, renewal.annotations);
    if (done.ok) {
      this.renewedAt = started;
      this.writeDeadline(startedUptime);
      if (this.lastRenewProblem !== '') this.log('renewed the lease again');
      this.lastRenewProblem = '';
      return true;
    }
    const problem = `could not renew the lease (${done.message})`;
    // A conflict is an answer: the record changed, and the next round decides on what it says now (at once). Were the
    // conflicts to go on, the heartbeat fence stops this primary at its deadline all the same.
    if (fenceOnFailure && done.status !== 409) {
      this.log(`FENCING this primary: ${problem}, and its last renewal began ${this.config.automaticFailover.renewDeadlineSeconds}s ago or more (renewDeadlineSeconds)`);
      this.lastRenewProblem = problem;
      await this.fence();
      return false;
    }
    if (problem !== this.lastRenewProblem) this.log(`${problem}; retrying`);
    this.lastRenewProblem = problem;
    // A conflict: the record changed; decide again on what it says now.
    if (done.status === 409) this.soon = true;
    return false;
  }

  /**
   * The heartbeat fence's deadline (lease-fence.sh): the start of what confirmed this primary (a renewal, a read of the
   * record, the failsafe's question) on the pod's shared clock, plus `seconds` (by default the renew deadline), in
   * hundredths of a second; replaced whole (rename). The fence stops PostgreSQL once it has passed.
   */
  private writeDeadline(startedUptime: number, seconds = this.config.automaticFailover.renewDeadlineSeconds): void {
    this.writeDeadlineAt(fenceDeadline(startedUptime, seconds));
  }

  /** Writes the heartbeat fence's deadline (hundredths of /proc/uptime). */
  private writeDeadlineAt(deadline: number): void {
    const file = this.config.automaticFailover.deadlineFile;
    try {
      fs.writeFileSync(`${file}.new`, `${deadline}\n`);
      fs.renameSync(`${file}.new`, file);
      this.deadlineWritten = deadline;
    } catch (error) {
      this.log(`could not write ${file} (${(error as Error).message}): the heartbeat fence stops this primary at the last deadline written`);
    }
  }

  /** Not the primary: no deadline for the heartbeat fence (a promotion later must not find an old one, long passed). */
  private removeDeadline(): void {
    try {
      removeIfThere(this.config.automaticFailover.deadlineFile);
      this.deadlineWritten = NEVER;
    } catch (error) {
      this.log(`could not remove ${this.config.automaticFailover.deadlineFile} (${(error as Error).message})`);
    }
  }

  /** Without automatic failover, a lease left on the record goes (a replica with automatic failover would see it lapse). */
  private async releaseLease(): Promise<void> {
    const record = this.record;
    if (record === undefined) return;
    const done = await this.swap(record, false, { renewTime: null, leaseDurationSeconds: null }, { [WAL_POSITION_ANNOTATION]: null });
    this.log(done.ok ? 'automatic failover is off: removed the lease from the leader record' : `could not remove the lease from the leader record (${done.message})`);
  }

  /**
   * Automatic failover: the primary's lease lapsed on this replica's clock. It asks itself and every other pod what they are
   * (over the pod network), and takes over if decideTakeover says so: the record first (compare-and-swap, a new epoch, a
   * renewed lease), then the promotion, the label and the timeline, and an Event on the pod and on the record.
   */
  private async considerTakeover(cause: TakeoverFacts['cause']): Promise<boolean> {
    const record = this.record;
    if (record?.state !== 'stable' || this.passwords === undefined) return true;
    const listed = await this.kube.listPodNames(this.config.clusterSelector);
    if (!listed.ok) {
      this.logTakeover(`not taking over from ${record.primary}: the pods cannot be listed (${listed.message})`);
      return true;
    }
    const others = listed.value.filter(pod => pod !== this.podName).sort();
    const passwords = this.passwords;
    const [self, ...answers] = await Promise.all([
      this.attempt(() => this.pg.status()),
      ...others.map(pod => peerStatus(this.peerConnection(`${pod}.${this.config.peerDomain}`, passwords, PEER_CONNECT_MS))),
    ]);
    if (answers[others.indexOf(record.primary)]?.role === 'primary') this.primaryAnsweredAt.set(record.primary, this.env.monotonic());
    const peers: Candidate[] = others.map((pod, i) => {
      const answer = answers[i];
      if (answer === undefined) return { pod, role: 'unreachable', lsn: '?' };
      return { pod, role: answer.role, lsn: answer.lsn, timeline: answer.timeline };
    });
    const data = dataDirectoryOf(this.config.pgdata);
    const decision = decideTakeover({
      podName: this.podName,
      record,
      self: self === undefined ? { pod: this.podName, role: 'starting', lsn: '?' } : { pod: this.podName, role: self.role, lsn: self.lsn },
      systemIdentifier: data.kind === 'data' ? data.systemIdentifier : undefined,
      timeline: data.kind === 'data' ? data.timeline : undefined,
      peers,
      otherPods: others,
      syncReplicas: this.config.synchronousReplicas,
      maximumLagBytes: this.config.automaticFailover.maximumLagBytes,
      primaryWalPosition: this.lease.walPosition,
      leaseSeconds: cause.kind === 'lease' ? this.config.automaticFailover.leaseSeconds : this.requestAnswerSeconds(),
      secondsSincePrimaryAnswered: this.env.monotonic() - (this.primaryAnsweredAt.get(record.primary) ?? NEVER),
      cause,
    });
    const news = decision.reason !== this.lastTakeoverReason;
    this.logTakeover(decision.reason);
    if (decision.kind === 'wait') {
      // Why a lapsed lease was not taken over, once per reason, for `kubectl get events`.
      const waiting = cause.kind === 'lease' ? 'AutomaticFailoverWaiting' : 'RequestedFailoverWaiting';
      if (news) await this.podEvent('Normal', waiting, decision.reason);
      return true;
    }
    const automatic = this.config.automaticFailover.enabled;
    const started = this.env.monotonic();
    const startedUptime = this.env.uptime();
    // With automatic failover the new primary holds the lease from the start. A takeover answers any request left.
    const renewal = automatic ? await this.renewal() : undefined;
    const done = await this.swap(decision.record, true, renewal === undefined ? {} : { ...renewal.spec, holderIdentity: this.podName },
      renewal === undefined ? {} : { [WAL_POSITION_ANNOTATION]: null });
    if (!done.ok) {
      this.log(`could not record the takeover (${done.message}): deciding again`);
      this.soon = true;
      return false;
    }
    if (automatic) this.renewedAt = started;
    this.writeDeadline(startedUptime, automatic ? this.config.automaticFailover.renewDeadlineSeconds : this.config.timing.isolationFenceSeconds);
    const message = `${this.podName} took over from ${record.primary}, ${cause.kind === 'lease' ? 'whose lease lapsed'
      : `which did not answer the failover request (${FAILOVER_REQUEST}=${cause.target})`} (${describeRecord(this.record)})`;
    const eventReason = cause.kind === 'lease' ? 'AutomaticFailover' : 'RequestedFailover';
    // A dead or cut-off primary's agent cannot take its label away, and the endpoints of a pod on a lost node stay: the
    // label goes before this pod is labelled, or the write Service would reach both.
    const unlabelled = await this.kube.labelPod(record.primary, this.config.roleLabel, null);
    if (!unlabelled.ok) this.log(`could not remove the ${this.config.roleLabel} label of ${record.primary} (${unlabelled.message}); its agent removes it when it can`);
    const promoted = await this.promote(others);
    if (promoted) await this.label('primary');
    await Promise.all([
      this.podEvent('Warning', eventReason, message),
      this.kube.leaseEvent(this.config.leaderRecord, this.podName, 'Warning', eventReason, message, AGENT_COMPONENT),
    ]);
    if (promoted) await this.recordTimeline();
    return false;
  }

  private logTakeover(reason: string): void {
    if (reason !== this.lastTakeoverReason) this.log(reason);
    this.lastTakeoverReason = reason;
  }

  private async createRecord(record: StableRecord): Promise<void> {
    const done = await this.kube.createLease(encodeRecordLease(this.config.leaderRecord, this.config.recordLabels, record));
    if (done.ok) {
      this.log(`created the leader record: ${describeRecord(record)}`);
    } else {
      this.log(`could not create the leader record: ${done.message}`);
    }
  }

  /**
   * This server must stop taking writes now: it restarts as a replica (standby.signal) and its entrypoint decides from the
   * record what it follows. The label goes while PostgreSQL stops. The fence is done once the shutdown checkpoint is
   * written (no write comes after it), which a switchover reports at once; the postmaster's exit comes later: its WAL
   * senders hand the last records to the replicas, its archiver pushes the segments still ready.
   */
  private async fence(): Promise<void> {
    this.removeDeadline();
    const unlabel = this.kube.labelPod(this.podName, this.config.roleLabel, null);
    try {
      writeStandbySignal(this.config.pgdata);
      if (!await fastShutdown(this.config.pgdata, SHUTDOWN_TIMEOUT_MS, 'shutdown-checkpoint')) this.log('the fast shutdown did not finish; retrying next round');
    } catch (error) {
      this.log(`could not fence: ${(error as Error).message}; retrying next round`);
    }
    // A label that could not be removed (an isolated pod) is unknown: the next label step removes it once the API answers.
    this.applied = (await unlabel).ok ? '' : undefined;
    // The label seen before the fence is gone with it: not a change by someone else.
    this.labelSeen = undefined;
    this.server = observedRole(this.config.pgdata);
  }

  /** A switchover away from this pod waits for its shutdown checkpoint, once pg_control says it shut down cleanly. */
  private async reportCheckpoint(): Promise<boolean> {
    const control = controlOf(this.config.pgdata);
    const next = control === undefined ? undefined : shutdownCheckpointUpdate(this.record, this.podName, control);
    if (next === undefined || next.state !== 'switching-over') return true;
    const done = await this.swap(next);
    if (done.ok) {
      this.log(`fenced for the switchover to ${next.target}: recorded the shutdown checkpoint ${next.checkpoint}`);
      return true;
    }
    this.log(`could not record the shutdown checkpoint ${next.checkpoint} (${done.message}); retrying`);
    this.soon = true;
    return false;
  }

  private async writeRecord(record: LeaderRecord, transition: string): Promise<boolean> {
    const previous = this.record;
    const done = await this.swap(record);
    if (!done.ok) {
      this.log(`could not record ${describeRecord(record)} (${transition}: ${done.message}): deciding again`);
      this.soon = true;
      return false;
    }
    const checkpoint = previous?.state === 'switching-over' ? previous.checkpoint : undefined;
    this.log(checkpoint !== undefined
      ? `received the old primary's shutdown checkpoint ${checkpoint}: recorded this pod as the primary (${describeRecord(record)})`
      : `recorded ${describeRecord(record)} (${transition})`);
    return true;
  }

  /** The record names this pod, and PostgreSQL is a replica: promote it, with slots for the other pods. */
  private async promote(others: readonly string[]): Promise<boolean> {
    try {
      await this.pg.promote(others.map(slotOf), PROMOTE_TIMEOUT_MS);
    } catch (error) {
      this.log(`promotion failed (${(error as Error).message}); deciding again`);
      this.soon = true;
      return false;
    }
    this.server = 'primary';
    this.lastOthers = undefined;
    return true;
  }

  /**
   * Keeps the record's timeline that of this primary (it changes with a promotion). The replicas follow a new primary
   * when the record's timeline changes: a write that conflicts (another write came first, as the old primary's last
   * after a handover) or is not answered is tried again in the next round, at once (maintainPrimary does it again), not
   * when the primary is next maintained.
   */
  private async recordTimeline(): Promise<void> {
    if (this.record?.state !== 'stable') return;
    const next = timelineUpdate(this.record, await this.attempt(() => this.pg.timeline()));
    if (next === undefined || (await this.swap(next)).ok) return;
    this.lastOthers = undefined;
    this.soon = true;
  }

  /**
   * Slots for every other pod that exists, the synchronous set and the timeline, when pods came or went or now and then;
   * the pods as the round listed them (listed again only when it did not).
   */
  private async maintainPrimary(listed: readonly string[] | undefined): Promise<void> {
    // Kept for a handover when this pod is deleted: by then PostgreSQL may no longer answer.
    this.standbys = await this.attempt(() => this.pg.standbys()) ?? this.standbys;
    const others = listed ?? await this.otherPods();
    if (others === undefined || this.record?.state !== 'stable') return;
    const key = others.join(',');
    const now = this.env.monotonic();
    if (key === this.lastOthers && now - this.lastMaintained < this.config.timing.maintainSeconds && this.goneAt.size === 0
      && (this.config.synchronousReplicas === 0 || key === this.record.sync.join(','))) {
      return;
    }
    this.lastOthers = key;
    this.lastMaintained = now;
    await this.maintainSlots(others);
    if (this.config.synchronousReplicas > 0) await this.maintainSyncSet(this.record, others);
    await this.recordTimeline();
  }

  private async maintainSlots(others: readonly string[]): Promise<void> {
    try {
      const changes = await this.pg.maintainSlots(others.map(slotOf), `${slotOf(this.podName.replace(/-\d+$/, ''))}_`);
      for (const dropped of changes.dropped) this.log(`dropping replication slot ${dropped.slot} (${dropped.why === 'lost' ? 'lost' : 'its pod is gone'})`);
      for (const failed of changes.failed) this.log(`could not maintain a replication slot: ${failed}`);
    } catch (error) {
      this.log(`could not maintain the replication slots: ${(error as Error).message}`);
    }
  }

  /**
   * Synchronous mode: the record lists every standby that may confirm a commit; a pod that is gone leaves the list only
   * once synchronousReplicas of the others have flushed all WAL written before it left (nextSyncSet).
   */
  private async maintainSyncSet(record: StableRecord, others: readonly string[]): Promise<void> {
    const recorded = record.sync;
    const caughtUp: Record<string, number | undefined> = {};
    for (const member of recorded) {
      if (others.includes(member)) continue;
      if (!this.goneAt.has(member)) {
        const lsn = await this.attempt(() => this.pg.currentWalLsn());
        if (lsn === undefined) return;
        this.goneAt.set(member, lsn);
      }
      caughtUp[member] = await this.attempt(() => this.pg.standbysFlushedPast(others, this.goneAt.get(member)!));
    }
    const next = nextSyncSet({ recorded, others, caughtUp, syncReplicas: this.config.synchronousReplicas });
    if (next === undefined || !next.changed) return;
    const done = await this.swap(recordSyncSet(record, next.sync));
    if (!done.ok) return;
    // Never empty: a gone member stays until synchronousReplicas (at least 1) others flushed past it.
    this.log(`synchronous standbys recorded: ${next.sync.join(',')}`);
    for (const member of [...this.goneAt.keys()]) {
      if (!next.sync.includes(member)) this.goneAt.delete(member);
    }
  }

  /** An Event the entrypoint left for the sidecar to post (`<type> <reason> <message>`); the file goes once it is posted. */
  private async postPodEvent(): Promise<void> {
    let text: string;
    try {
      text = fs.readFileSync(this.config.eventFile, 'utf8').trim();
    } catch {
      return;
    }
    const parsed = parseEventLine(text);
    if (parsed === undefined) {
      this.log(`ignoring ${this.config.eventFile}: not "<Normal|Warning> <Reason> <message>": ${text.slice(0, 200)}`);
      removeIfThere(this.config.eventFile);
      return;
    }
    const posted = await this.podEvent(parsed.type, parsed.reason, parsed.message);
    if (!posted.ok) {
      this.log(`could not post the ${parsed.reason} Event (${posted.message}); retrying`);
      return;
    }
    this.log(`posted a ${parsed.type} Event about this pod: ${parsed.reason}`);
    removeIfThere(this.config.eventFile);
  }

  /** The passwords as the mounted Secrets say now; undefined while a file is missing or empty. */
  private readPasswords(): void {
    const read = (file: string) => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch {
        return '';
      }
    };
    const superuser = read(path.join(this.config.secretDir, 'password'));
    const replication = read(path.join(this.config.secretDir, 'replication-password'));
    const app = this.config.users.app === '' ? '' : read(path.join(this.config.appSecretDir, 'password'));
    this.passwords = superuser !== '' && replication !== '' && (this.config.users.app === '' || app !== '') ? { superuser, replication, app } : undefined;
    if (this.passwords !== undefined) this.writePassfile(this.passwords);
  }

  /** The pod's password file (the postgres container's replication connection uses it), rewritten when a Secret changed. */
  private writePassfile(passwords: Passwords): void {
    const users = this.config.users;
    const text = passfileText(users.replication, passwords.replication, users.superuser, passwords.superuser);
    if (text === this.passfileWritten) return;
    const file = this.config.passwordFile;
    try {
      fs.writeFileSync(`${file}.${process.pid}`, text, { mode: 0o600 });
      fs.renameSync(`${file}.${process.pid}`, file);
    } catch (error) {
      this.log(`could not write ${file} (${(error as Error).message}); retrying`);
      return;
    }
    if (this.passfileWritten !== '') this.log('the Secret changed: rewrote this pod\'s password file');
    this.passfileWritten = text;
  }

  /** On the primary: the roles and their passwords as the Secrets say, after every start and whenever a Secret changed. */
  private async applyCredentials(): Promise<void> {
    const passwords = this.passwords;
    if (passwords === undefined) return;
    const wanted = JSON.stringify(passwords);
    if (wanted === this.credentialsApplied) return;
    const users = this.config.users;
    try {
      await this.pg.applyCredentials({
        superuser: users.superuser,
        superuserPassword: passwords.superuser,
        replicationUser: users.replication,
        replicationPassword: passwords.replication,
        appUser: users.app === '' ? undefined : users.app,
        appPassword: users.app === '' ? undefined : passwords.app,
        appDatabase: this.config.appDatabase,
      });
    } catch (error) {
      this.log(`could not apply the Secrets' passwords to the roles (${(error as Error).message}); retrying`);
      return;
    }
    if (this.credentialsApplied !== '') {
      this.log(`applied the changed passwords of the Secrets to the roles ${[users.superuser, users.replication, ...(users.app === '' ? [] : [users.app])].join(', ')}`);
    }
    this.credentialsApplied = wanted;
  }

  /**
   * What PostgreSQL reads again on a reload (a file, or a directory of them), as read now: when it differs from what this
   * agent read last (not at the first read), `changed(before)` reloads; what was read is kept once that succeeds, so a
   * failed reload is tried again.
   */
  private async onChange(where: string, contents: string, changed: (before: string) => Promise<boolean>): Promise<void> {
    const before = this.filesSeen.get(where);
    if (before !== undefined && before !== contents && !await changed(before)) return;
    this.filesSeen.set(where, contents);
  }

  private async reloaded(): Promise<boolean> {
    return await this.attempt(async () => { await this.pg.reload(); return true; }) === true;
  }

  /** A renewed certificate in the mounted Secret: PostgreSQL reads its certificate and key again on a reload. */
  private async reloadRenewedCertificate(): Promise<void> {
    if (this.config.tlsSecretDir === '') return;
    const file = path.join(this.config.tlsSecretDir, 'tls.crt');
    const certificate = readIfExists(file);
    // None yet, or an empty one (the Secret before cert-manager filled it): nothing to compare with.
    if (!certificate) return;
    await this.onChange(file, certificate, async () => {
      if (!await this.reloaded()) return false;
      this.log(`the certificate in ${this.config.tlsSecretDir} changed (renewed): PostgreSQL reloaded it`);
      return true;
    });
  }

  /**
   * A changed configuration (the ConfigMap's postgresql.conf or pg_hba.conf, which the kubelet updates in the running
   * pod): PostgreSQL reloads it, and the agent says which settings are in effect now and which wait for a restart (a log
   * line and an Event on the pod). While PostgreSQL does not serve there is nothing to reload: it reads them as it starts.
   */
  private async reloadChangedConfiguration(): Promise<void> {
    const read = (file: string) => readIfExists(path.join(this.config.configDir, file));
    const [conf, hba] = [read('postgresql.conf'), read('pg_hba.conf')];
    if (conf === undefined || hba === undefined) return;
    await this.onChange(this.config.configDir, `${conf}\0${hba}`, async before => {
      if (this.server === 'not-serving') {
        this.log('the configuration changed while PostgreSQL does not serve: it reads the new one as it starts');
        return true;
      }
      if (!await this.reloaded()) return false;
      // Each server process reads the files again when the postmaster passes the signal on: this one's next query.
      await new Promise(resolve => setTimeout(resolve, RELOAD_SETTLE_MS));
      const outcome = await this.attempt(() => this.pg.reloadOutcome());
      if (outcome === undefined) return false;
      const [oldConf, oldHba] = before.split('\0');
      const report = reloadReport(changedSettings(oldConf, conf), hba !== oldHba, outcome);
      this.log(`${report.reason}: ${report.message}`);
      await this.podEvent(report.type, report.reason, report.message);
      return true;
    });
  }

  /**
   * A new primary's timeline: a replica that does not stream on it yet has its WAL receiver ended and its configuration
   * reloaded (which wakes the startup process out of its wal_retrieve_retry_interval wait: it connects at once, through
   * the write Service), once per epoch and timeline; afterwards, while it still does not, a receiver that has gone
   * FOLLOW_HANG_SECONDS without streaming is ended again (decideFollow), looking every FOLLOW_LOOK_SECONDS.
   */
  private async followNewPrimary(epoch: number, timeline: number): Promise<void> {
    const key = `${epoch}/${timeline}`;
    const changed = key !== this.followed;
    const now = this.env.monotonic();
    if (!changed && now - this.followLookedAt < FOLLOW_LOOK_SECONDS) return;
    this.followLookedAt = now;
    const streaming = await this.attempt(() => this.pg.streamingOnTimeline(timeline));
    // Not answered: the change is kept for the next look.
    if (streaming !== undefined) this.followed = key;
    const receiver = streaming === false ? await this.attempt(() => this.pg.walReceiverPid()) : undefined;
    const plan = decideFollow({ changed, streaming, receiver, seen: this.receiverSeen, now });
    this.receiverSeen = plan.seen;
    this.following = plan.following;
    if (plan.end !== undefined) await this.attempt(() => this.pg.endWalReceiver(plan.end!));
    if (plan.reload) await this.attempt(() => this.pg.reload());
  }

  /**
   * A replica that has not streamed for walCheckSeconds although the primary answers: if the primary no longer has the WAL
   * segment it needs next, only a new clone helps (the entrypoint makes one when it finds the request).
   */
  private async checkReplicaWal(): Promise<void> {
    const now = this.env.monotonic();
    if (now - this.lastWalCheck < WAL_CHECK_EVERY_SECONDS) return;
    this.lastWalCheck = now;
    const record = this.record;
    const streamed = await this.attempt(() => this.pg.streamedASecond(countedTimeline(record)));
    if (streamed === true) {
      this.lastStreaming = now;
      this.senderSeen = undefined;
      return;
    }
    if (record?.state !== 'stable' || record.primary === this.podName || this.passwords === undefined) return;
    // In the background, one look at a time: a primary whose node is gone leaves its address answering nothing, and the
    // round (a takeover, following a new primary) must not wait for the question to time out.
    if (this.staleSenderLook === undefined) {
      this.staleSenderLook = this.endStaleSender(this.passwords, streamed).catch(error => this.log(`could not look for a stale walsender: ${(error as Error).message}`))
        .finally(() => { this.staleSenderLook = undefined; });
    }
    if (now - this.lastStreaming < this.config.timing.walCheckSeconds) return;
    const position = await this.attempt(() => this.pg.receivePosition());
    if (position === undefined || position === null) return;
    const lacks = await primaryLacksWal(this.peerConnection(this.config.primaryHost, this.passwords, 3_000), position);
    // The history file, if its WAL receiver fetched it, says where the recorded primary's timeline forked off.
    const why = recloneReason({
      recordTimeline: record.timeline,
      position,
      primaryLacksWal: lacks,
      receiverTimeline: await this.attempt(() => this.pg.receiverTimeline()),
      history: readIfExists(path.join(this.config.pgdata, 'pg_wal', historyFileName(record.timeline))),
    });
    if (why === undefined) return;
    this.log(`not streaming for ${Math.floor(now - this.lastStreaming)}s, and ${why}: requesting a new clone`);
    fs.writeFileSync(path.join(path.dirname(this.config.pgdata), RECLONE_MARKER), '');
    await fastShutdown(this.config.pgdata, SHUTDOWN_TIMEOUT_MS);
    this.lastStreaming = this.env.monotonic();
  }

  /**
   * A walsender on the primary that holds this pod's slot while this replica does not stream (decideStaleSender): its
   * connection is gone, and it would refuse every new WAL receiver until the primary's wal_sender_timeout ends it.
   */
  private async endStaleSender(passwords: Passwords, streams: boolean | undefined): Promise<void> {
    const primary = this.peerConnection(this.config.primaryHost, passwords, 3_000);
    const slot = slotOf(this.podName);
    const sender = streams === false ? await slotSender(primary, slot) : undefined;
    const plan = decideStaleSender({ streams, sender, seen: this.senderSeen });
    this.senderSeen = plan.seen;
    if (plan.end === undefined) return;
    const ended = await endSlotSender(primary, slot, plan.end);
    if (ended === true) {
      this.log(`the primary's walsender ${plan.end} held this pod's replication slot ${slot} at two looks ${WAL_CHECK_EVERY_SECONDS}s apart, `
        + 'while this replica did not stream: its connection is gone; ended it, so that the WAL receiver can connect');
    }
  }

  /** How this agent logs in to another pod's PostgreSQL: the network role, with its password (TLS when the cluster has it). */
  private peerConnection(host: string, passwords: Passwords, connectTimeoutMs: number): PrimaryConnection {
    const users = this.config.users;
    return {
      host,
      port: this.config.port,
      user: users.network,
      password: users.network === users.superuser ? passwords.superuser : passwords.replication,
      ssl: this.config.tls,
      connectTimeoutMs,
    };
  }

  /**
   * The entrypoint's start plan (start-agent.ts), decided on the record this round read after the request: while the
   * API cannot be read the plan is to wait (decideStart's 'stale'), never one resting on an older read.
   */
  private async answerStartRequest(request: string): Promise<void> {
    const record: RecordCopy = this.apiUp ? { kind: 'read', record: this.record }
      : this.recordMalformed ? { kind: 'malformed', error: this.recordError } : { kind: 'stale' };
    const passwords = this.passwords;
    const plan = await startPlanOf({
      podName: this.podName,
      pgdata: this.config.pgdata,
      configDir: this.config.configDir,
      record,
      restoreFrom: this.config.restoreFrom,
      syncReplicas: this.config.synchronousReplicas,
      postgresVersion: this.config.postgresVersion,
      ask: async pod => passwords === undefined ? undefined : peerStatus(this.peerConnection(`${pod}.${this.config.peerDomain}`, passwords, 3_000)),
    });
    // Only waiting for the record (pod 0 initializes): held until the record changes (the watch wakes the nap, and
    // that round decides again on a read after the change) or START_HOLD_SECONDS pass.
    if (isBootstrapWait(plan) && this.env.monotonic() - this.startRequestAt < START_HOLD_SECONDS) return;
    try {
      writeStartPlan(this.config.startPlanFile, request, plan);
      this.startRequest = undefined;
    } catch (error) {
      this.log(`could not write ${this.config.startPlanFile}: ${(error as Error).message}`);
    }
  }

  /** Automatic failover: seconds until this agent must look again (a renewal due, its deadline, a replica's lease lapsing). */
  private dueInSeconds(): number {
    const settings = this.config.automaticFailover;
    if (!settings.enabled) return Infinity;
    const now = this.env.monotonic();
    const record = this.record;
    const due = record?.state === 'stable' && record.primary === this.podName
      ? [this.renewedAt + settings.renewSeconds, this.renewedAt + settings.renewDeadlineSeconds]
      : [this.leaseChangedAt + settings.leaseSeconds];
    const ahead = due.map(at => at - now).filter(seconds => seconds > 0);
    return ahead.length > 0 ? Math.min(...ahead) : Infinity;
  }

  /**
   * Takes the entrypoint's start-plan request (`<startPlanFile>.wanted`) if there is one: this round or the next answers
   * it, with a fresh copy of the record. False when there is none.
   */
  private takeStartRequest(): boolean {
    const wanted = `${this.config.startPlanFile}.wanted`;
    // existsSync first: a missing file costs no exception, ten times a second.
    const request = fs.existsSync(wanted) ? readIfExists(wanted) : undefined;
    if (request === undefined) return false;
    removeIfThere(wanted);
    this.startRequest = parseStartRequest(request);
    this.startRequestAt = this.env.monotonic();
    if (this.startRequest === undefined) this.log(`ignoring ${wanted}: ${JSON.stringify(request.slice(0, 80))} is not a request id`);
    this.recordWanted = true;
    return true;
  }

  /**
   * Waits pollSeconds, or less: when the record changes (the watch), when the entrypoint asks for a start plan
   * (`<startPlanFile>.wanted`, which also rewrites the copy of the record: seen at once where the file system tells,
   * else within a tenth of a second), when PostgreSQL starts serving while it was not, when a held start request is due
   * (START_HOLD_SECONDS), when a replica that does not stream on the record's timeline is due another look
   * (FOLLOW_LOOK_SECONDS), or 10 ms after a round that asked.
   */
  private nap(signal: AbortSignal): Promise<void> {
    // Stopped while the round ran: no nap (its listener would never hear an abort that already happened).
    if (signal.aborted) return Promise.resolve();
    if (this.soon) {
      this.soon = false;
      return new Promise(resolve => setTimeout(resolve, 10));
    }
    const awaitServer = this.server === 'not-serving' && readPostmaster(this.config.pgdata)?.ready !== true;
    // A held start request: the round when its hold ends answers it (a plan that could not be written waits for pollSeconds).
    const holdLeft = this.startRequest === undefined ? 0 : this.startRequestAt + START_HOLD_SECONDS - this.env.monotonic();
    const held = holdLeft > 0 ? holdLeft : Infinity;
    return new Promise(resolve => {
      let watcher: fs.FSWatcher | undefined;
      const finish = () => {
        clearInterval(looking);
        clearTimeout(timer);
        watcher?.close();
        signal.removeEventListener('abort', finish);
        this.wake = undefined;
        resolve();
      };
      const look = () => {
        if (this.takeStartRequest()) {
          finish();
        } else if (awaitServer) {
          const postmaster = readPostmaster(this.config.pgdata);
          if (postmaster?.ready === true && postmaster.alive) finish();
        }
      };
      const follow = this.following && this.server === 'replica' ? this.followLookedAt + FOLLOW_LOOK_SECONDS - this.env.monotonic() : Infinity;
      const timer = setTimeout(finish, Math.max(10, Math.min(this.config.timing.pollSeconds, this.dueInSeconds(), held, follow) * 1000));
      // A tenth of a second, as the entrypoint waits for its copy of the record and a new primary for its label.
      const looking = setInterval(look, 100);
      try {
        // The request's rename into place, told by the file system rather than found by the next look. Any change in
        // the directory looks (the plan's own rename too): a look finds the request or nothing, cheaply.
        watcher = fs.watch(path.dirname(this.config.startPlanFile), look);
        watcher.on('error', () => watcher?.close());
      } catch {
        // No such directory, or no watches left: the looks alone.
      }
      this.wake = finish;
      signal.addEventListener('abort', finish);
      look();
    });
  }
}
