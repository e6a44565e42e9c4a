// One round of the role-labeler sidecar, decided from facts: a port of role-labeler.sh's main loop (the `case "$role"`
// dispatch) and of the record writes it makes (create_record, take_over_switchover, report_shutdown_checkpoint,
// record_timeline). Pure: the executor gathers the facts, carries out the steps in order, and ends the round at a step
// that fails (asking for a round soon where the script sets SOON).
import { AutomaticFailoverFacts, FailoverRequestFacts, lapsed, primaryRenewal, requestUnanswered } from './automatic-failover';
import { parseLsn } from './failover-target';
import { describeRecord, LeaderRecord, StableRecord, SwitchingOverRecord } from './record';
import { createRecord, giveBack, recordCheckpoint, recordTimeline, takeOverSwitchover } from './transitions';

/** What the local PostgreSQL is (observed_role): a live postmaster that says "ready", and pg_control's state. */
export type ServerRole = 'primary' | 'replica' | 'not-serving';

/** The record as this round knows it. */
export type SidecarRecord =
  /** Read this round: the record, or undefined when there is none. */
  | { readonly kind: 'read'; readonly record: LeaderRecord | undefined }
  /**
   * Not read this round: the API did not answer, or answered with a record that record.ts refuses (never acted on:
   * treated as a record that could not be read). `error` says which; `last` is the record read last, if any.
   */
  | { readonly kind: 'unreadable'; readonly error: string; readonly last: LeaderRecord | undefined };

export interface SidecarFacts {
  readonly podName: string;
  readonly record: SidecarRecord;
  /** Seconds, on a monotonic clock, since the record was last read (and decoded). */
  readonly secondsSinceRecordRead: number;
  /** ISOLATION_FENCE_SECONDS: a primary that cannot read the record this long fences itself. */
  readonly isolationFenceSeconds: number;
  readonly server: ServerRole;
  /** The server's timeline (local_timeline), undefined when it does not answer. */
  readonly timeline: number | undefined;
  /** pg_controldata's system identifier, undefined when it could not be read. */
  readonly systemIdentifier: string | undefined;
  /** The cluster's other pods (other_pods), undefined when the API could not list them (or, for a primary to be fenced, was not asked). */
  readonly otherPods: readonly string[] | undefined;
  /** SYNC_REPLICAS. */
  readonly syncReplicas: number;
  /** A replica has received or replayed WAL beyond the record's switchover checkpoint; undefined when it could not say. */
  readonly receivedBeyondCheckpoint: boolean | undefined;
  /**
   * The old primary of a switchover, before its fence: whether the target streams this primary's current timeline
   * (streamsTimeline), waited for a while when it does not yet; undefined when not asked, or when PostgreSQL did not
   * answer.
   */
  readonly targetStreams: boolean | undefined;
  /** Automatic failover's facts (automatic-failover.ts); undefined when it is off. */
  readonly automaticFailover: AutomaticFailoverFacts | undefined;
  /** A failover requested on the record (FAILOVER_REQUEST), with or without automatic failover; undefined when none is. */
  readonly failoverRequest: FailoverRequestFacts | undefined;
  /** The Lease shows a lease (a renew time or a duration), which a primary without automatic failover removes. */
  readonly leaseShown: boolean;
  /**
   * The failsafe: every other pod, as last listed, streamed from this primary and replied to WAL it wrote within the last
   * seconds, so that none takes over and a failover job refuses; its heartbeat fence's deadline moved on.
   */
  readonly failsafe: boolean;
}

export type SidecarStep =
  /** Label the pod role=primary, role=replica, or remove the label (re-applied every REASSERT_SECONDS). */
  | { readonly do: 'label'; readonly role: 'primary' | 'replica' | 'none' }
  /** record_create: losing the race (AlreadyExists) is logged; the next round sees the other pod's record. */
  | { readonly do: 'create-record'; readonly record: StableRecord }
  /** fence_local: remove the label, standby.signal, fast shutdown. */
  | { readonly do: 'fence' }
  /** report_shutdown_checkpoint: if pg_control says the server shut down cleanly, write shutdownCheckpointUpdate's record. */
  | { readonly do: 'report-checkpoint' }
  /** A compare-and-swap of the record read; a conflict or error ends the round and asks for another soon. */
  | { readonly do: 'write-record'; readonly record: LeaderRecord; readonly transition: string }
  /** pg-node.sh promote with the other pods' slots; a failure ends the round and asks for another soon. */
  | { readonly do: 'promote'; readonly others: readonly string[] }
  /** record_timeline: write timelineUpdate's record, if any (a failure is ignored). */
  | { readonly do: 'record-timeline' }
  /** maintain_primary: slots, the synchronous set, the timeline, when pods came or went or MAINTAIN_SECONDS passed. */
  | { readonly do: 'maintain-primary' }
  /** apply_credentials: the Secrets' passwords to the roles, when they changed. */
  | { readonly do: 'apply-credentials' }
  /** follow_new_primary: once per epoch and timeline, wake a WAL receiver that does not stream that timeline. */
  | { readonly do: 'follow-new-primary'; readonly epoch: number; readonly timeline: number }
  /**
   * check_replica_wal: a replica not streaming for WAL_CHECK_SECONDS whose WAL the primary lost, or which is ahead of
   * where the primary's timeline forked off its own, asks for a new clone.
   */
  | { readonly do: 'check-replica-wal' }
  /**
   * Automatic failover: renew the lease (compare-and-swap of spec.renewTime, with the WAL position); a conflict ends the
   * round. fenceOnFailure: the renew deadline has passed, so a renewal that fails fences this primary.
   */
  | { readonly do: 'renew'; readonly fenceOnFailure: boolean }
  /** Without automatic failover: remove a lease a previous configuration left, so that no replica reads it as lapsing. */
  | { readonly do: 'release-lease' }
  /**
   * The lease lapsed on this replica's clock (automatic failover), or the primary did not answer a failover request: ask
   * the peers, and take over if decideTakeover says so.
   */
  | { readonly do: 'consider-takeover'; readonly cause: { readonly kind: 'lease' } | { readonly kind: 'request'; readonly target: string } }
  /** Look again in 10 ms rather than POLL_SECONDS. */
  | { readonly do: 'soon' };

export interface SidecarPlan {
  readonly steps: readonly SidecarStep[];
  /** One line for the log: why. */
  readonly reason: string;
}

function plan(reason: string, ...steps: SidecarStep[]): SidecarPlan {
  return { steps, reason };
}

/** Whether the record lets this pod be a primary: it names it, or a failover job is promoting it (authorized). */
export function authorizes(record: LeaderRecord, podName: string): boolean {
  if (record.state === 'stable') return record.primary === podName;
  return record.state === 'failing-over' && record.target === podName;
}

/** The old primary of a switchover, fenced, owes the record its shutdown checkpoint (report_shutdown_checkpoint). */
export function owesCheckpoint(record: LeaderRecord | undefined, podName: string): record is SwitchingOverRecord {
  return record?.state === 'switching-over' && record.previous === podName && record.checkpoint === undefined;
}

/** The target of a switchover whose old primary recorded its shutdown checkpoint: it takes over once it has received it. */
export function awaitsCheckpoint(record: LeaderRecord | undefined, podName: string): record is SwitchingOverRecord & { readonly checkpoint: string } {
  return record?.state === 'switching-over' && record.target === podName && record.checkpoint !== undefined;
}

/** A walsender as pg_stat_replication shows it: its state, and the position it has sent up to (sent_lsn). */
export interface WalSender {
  readonly state: string;
  readonly sent: string | undefined;
}

/**
 * Whether a walsender streams the primary's current timeline, which began at `switchpoint` (undefined: timeline 1, or
 * the primary's first). A fast shutdown waits only for walsenders whose replication is active (streaming or catching
 * up) to send all WAL, its shutdown checkpoint included: one starting (startup), between two timelines (startup), or
 * stopping ends at once. One that streams an older timeline stops at its switch point, short of that checkpoint: its
 * position must be past where this timeline began.
 */
export function streamsTimeline(sender: WalSender, switchpoint: string | undefined): boolean {
  if (sender.state !== 'streaming' && sender.state !== 'catchup') return false;
  if (switchpoint === undefined) return true;
  const sent = parseLsn(sender.sent ?? '');
  const begun = parseLsn(switchpoint);
  return sent !== undefined && begun !== undefined && sent > begun;
}

/** pg_control as report_shutdown_checkpoint reads it. */
export interface ControlFile {
  /** DBState 1, DB_SHUTDOWNED: a clean shutdown (not "shut down in recovery"). */
  readonly shutDown: boolean;
  /** "Latest checkpoint location". */
  readonly checkpoint: string;
}

/** The record with this pod's shutdown checkpoint, or undefined when it owes none or pg_control cannot say. */
export function shutdownCheckpointUpdate(record: LeaderRecord | undefined, podName: string, control: ControlFile): LeaderRecord | undefined {
  if (!owesCheckpoint(record, podName) || !control.shutDown || !/^[0-9A-F]+\/[0-9A-F]+$/.test(control.checkpoint)) return undefined;
  return recordCheckpoint(record as Extract<LeaderRecord, { state: 'switching-over' }>, control.checkpoint);
}

/** The record with this primary's timeline, or undefined when it is unknown or already recorded (record_timeline). */
export function timelineUpdate(record: StableRecord, timeline: number | undefined): StableRecord | undefined {
  if (timeline === undefined || timeline === record.timeline) return undefined;
  return recordTimeline(record, timeline);
}

/** The synchronous set a new primary writes: every other pod, sorted, in synchronous mode; none otherwise. */
function syncSetOf(facts: SidecarFacts): readonly string[] | undefined {
  if (facts.syncReplicas <= 0) return [];
  return facts.otherPods === undefined ? undefined : [...facts.otherPods].sort();
}

/** What the record's watch delivered: the lease's resourceVersion, when it came (a monotonic clock, seconds), and it. */
export interface Delivery<T> {
  readonly version: string;
  readonly at: number;
  readonly lease: T;
}

/**
 * The lease a round may act on without reading the record again: the watch's latest delivery, when it is newer than the
 * record this agent holds and came within `freshSeconds`; undefined when the round reads it (GET). A watch delivers in
 * the API's order, so a delivery is newer when the held version was delivered before it; resourceVersions are compared
 * for equality only, as the API asks of clients. A held version the watch has not delivered (this agent's own write, or
 * a read the watch is behind) says nothing, and the round reads.
 */
export function newerDelivery<T>(delivered: readonly Delivery<T>[], heldVersion: string, now: number, freshSeconds: number): Delivery<T> | undefined {
  const held = delivered.map(d => d.version).lastIndexOf(heldVersion);
  if (held < 0 || held === delivered.length - 1) return undefined;
  const latest = delivered[delivered.length - 1];
  return now - latest.at <= freshSeconds ? latest : undefined;
}

/** One round of the sidecar: what it does, and why (role-labeler.sh main). */
export function decideSidecarStep(facts: SidecarFacts): SidecarPlan {
  const me = facts.podName;
  if (facts.record.kind === 'unreadable') {
    const why = `the leader record cannot be read (${facts.record.error})`;
    const steps: SidecarStep[] = [{ do: 'fence' }];
    if (owesCheckpoint(facts.record.last, me)) steps.push({ do: 'report-checkpoint' });
    const lease = facts.automaticFailover;
    const pastDeadline = lease !== undefined && lease.secondsSinceRenewed >= lease.renewDeadlineSeconds;
    // A replica takes over only from a primary that does not answer it, and a failover job refuses while the replicas
    // stream from the old primary: one that all of them still follow may serve on, API or not.
    if (facts.server === 'primary' && facts.failsafe && (pastDeadline || facts.secondsSinceRecordRead >= facts.isolationFenceSeconds)) {
      return plan(`FAILSAFE: ${why}, but every other pod streams from this primary: it keeps serving (nobody takes over from a `
        + 'primary that its replicas still follow)');
    }
    if (facts.server === 'primary' && facts.secondsSinceRecordRead >= facts.isolationFenceSeconds) {
      return plan(`FENCING this primary: ${why} for ${facts.secondsSinceRecordRead}s (isolated from the API?)`, ...steps);
    }
    if (facts.server === 'primary' && lease !== undefined && lease.secondsSinceRenewed >= lease.renewDeadlineSeconds) {
      return plan(`FENCING this primary: ${why}, and its lease was last renewed ${lease.renewDeadlineSeconds}s ago or more (renewDeadlineSeconds): `
        + 'a replica may take over once it lapses', ...steps);
    }
    return plan(`${why}: nothing changes (a primary fences itself after ${facts.isolationFenceSeconds}s)`);
  }
  const record = facts.record.record;
  switch (facts.server) {
    case 'primary': return decidePrimary(facts, record);
    case 'replica': return decideReplica(facts, record);
    default: {
      const steps: SidecarStep[] = [{ do: 'label', role: 'none' }];
      if (owesCheckpoint(record, me)) steps.push({ do: 'report-checkpoint' });
      const lease = facts.automaticFailover;
      if (lease !== undefined && record?.state === 'stable' && record.primary === me) {
        const renewal = primaryRenewal(lease, record, false);
        if (renewal.renew === 'lapse') return plan(renewal.reason, ...steps);
        if (renewal.renew !== 'no') steps.push({ do: 'renew', fenceOnFailure: false });
      }
      return plan(`PostgreSQL is not serving: no role label (${describeRecord(record)})`, ...steps);
    }
  }
}

function decidePrimary(facts: SidecarFacts, record: LeaderRecord | undefined): SidecarPlan {
  const me = facts.podName;
  if (record === undefined) {
    if (facts.timeline === undefined) return plan('no leader record, and this primary does not say its timeline: creating the record next round');
    const sync = facts.syncReplicas > 0 ? facts.otherPods : [];
    // create_record's `sync=$(other_pods | ...)` under set -e: the script exits when the pods cannot be listed.
    if (sync === undefined) return plan('no leader record, and the pods cannot be listed for the synchronous set: creating the record next round');
    const created = createRecord({ primary: me, timeline: facts.timeline, systemIdentifier: facts.systemIdentifier, sync });
    return plan(`no leader record: recording this primary (${describeRecord(created)})`, { do: 'create-record', record: created }, { do: 'soon' });
  }
  if (!authorizes(record, me)) {
    if (owesCheckpoint(record, me) && facts.targetStreams === false) {
      const back = giveBack(record);
      return plan(`a switchover to ${record.target}, which does not stream this primary's timeline: it could not receive this primary's last WAL, so this `
        + `primary does not fence itself and gives the switchover back (${describeRecord(back)})`,
      { do: 'write-record', record: back, transition: 'giveBack' }, { do: 'label', role: 'primary' }, { do: 'soon' });
    }
    const steps: SidecarStep[] = [{ do: 'fence' }];
    if (owesCheckpoint(record, me)) steps.push({ do: 'report-checkpoint' });
    return plan(`FENCING this primary: the leader record does not name this pod (${describeRecord(record)})`, ...steps);
  }
  if (record.state === 'stable') {
    const steps: SidecarStep[] = [];
    const lease = facts.automaticFailover;
    if (lease !== undefined) {
      const renewal = primaryRenewal(lease, record, true);
      // Past the deadline, a renewal that fails fences, unless the failsafe holds (every other pod streams from this one).
      if (renewal.renew !== 'no') steps.push({ do: 'renew', fenceOnFailure: renewal.renew === 'or-fence' && !facts.failsafe });
    } else if (facts.leaseShown) {
      steps.push({ do: 'release-lease' });
    }
    return plan(`the leader record names this primary (${describeRecord(record)})`,
      ...steps, { do: 'label', role: 'primary' }, { do: 'maintain-primary' }, { do: 'apply-credentials' });
  }
  return plan(`a failover job is promoting this pod (${describeRecord(record)}): no label until the record names it`);
}

function decideReplica(facts: SidecarFacts, record: LeaderRecord | undefined): SidecarPlan {
  const me = facts.podName;
  const others = facts.otherPods ?? [];
  if (record?.state === 'stable' && record.primary === me) {
    return plan(`the leader record names this pod as the primary: promoting it (${describeRecord(record)})`,
      { do: 'promote', others }, { do: 'label', role: 'primary' }, { do: 'record-timeline' });
  }
  if (awaitsCheckpoint(record, me)) {
    if (facts.receivedBeyondCheckpoint !== true) {
      return plan(`switchover to this pod: waiting to receive WAL beyond the old primary's shutdown checkpoint ${record.checkpoint}`,
        { do: 'label', role: 'replica' }, { do: 'soon' });
    }
    const sync = syncSetOf(facts);
    if (sync === undefined) {
      return plan('switchover to this pod: the pods cannot be listed for the synchronous set; trying again next round', { do: 'label', role: 'replica' });
    }
    const next = takeOverSwitchover(record, sync);
    return plan(`received the old primary's shutdown checkpoint ${record.checkpoint}: recording this pod as the primary (${describeRecord(next)}), then promoting it`,
      { do: 'label', role: 'replica' }, { do: 'write-record', record: next, transition: 'takeOverSwitchover' },
      { do: 'promote', others }, { do: 'label', role: 'primary' }, { do: 'record-timeline' });
  }
  const steps: SidecarStep[] = [{ do: 'label', role: 'replica' }];
  if (record?.state === 'stable') steps.push({ do: 'follow-new-primary', epoch: record.epoch, timeline: record.timeline });
  if (owesCheckpoint(record, me)) steps.push({ do: 'report-checkpoint' });
  steps.push({ do: 'check-replica-wal' });
  const lease = facts.automaticFailover === undefined ? undefined : lapsed(facts.automaticFailover, record, me);
  const request = facts.failoverRequest;
  const unanswered = requestUnanswered(request, record, me);
  if (lease?.lapsed === true) {
    steps.push({ do: 'consider-takeover', cause: { kind: 'lease' } });
  } else if (unanswered.lapsed && request !== undefined) {
    steps.push({ do: 'consider-takeover', cause: { kind: 'request', target: request.target } });
  }
  // A lapse held back (paused, too soon after the last change) is said once; a held lease is the usual case. So is a
  // request that waits for the primary's answer.
  const heldBack = lease !== undefined && !lease.lapsed && / lapsed/.test(lease.why) ? `; ${lease.why}` : '';
  const waiting = request !== undefined && !unanswered.lapsed && lease?.lapsed !== true && / requested/.test(unanswered.why) ? `; ${unanswered.why}` : '';
  return plan(`PostgreSQL is a replica (${describeRecord(record)})${heldBack}${waiting}`, ...steps);
}

/** What maintain_sync_set knows on the primary. */
export interface SyncSetFacts {
  /** The record's synchronous set. */
  readonly recorded: readonly string[];
  /** The other pods that exist, as listed. */
  readonly others: readonly string[];
  /**
   * For each recorded member that is no longer a pod: how many standbys have flushed all the WAL written before it
   * was first seen gone (pg_stat_replication); undefined when that could not be asked.
   */
  readonly caughtUp: Readonly<Record<string, number | undefined>>;
  readonly syncReplicas: number;
}

/**
 * The synchronous set the primary records (maintain_sync_set): every other pod that exists; a member that is gone
 * stays until SYNC_REPLICAS of the others have flushed all WAL written before it left, so that a failover that reaches
 * enough of the set finds every acknowledged commit. Sorted, each pod once. Undefined: nothing is known this round.
 */
export function nextSyncSet(facts: SyncSetFacts): { readonly sync: readonly string[]; readonly changed: boolean } | undefined {
  const next = new Set(facts.others);
  for (const member of facts.recorded) {
    if (facts.others.includes(member)) continue;
    const caughtUp = facts.caughtUp[member];
    if (caughtUp === undefined) return undefined;
    if (caughtUp < facts.syncReplicas) next.add(member);
  }
  const sync = [...next].sort();
  return { sync, changed: sync.join(',') !== facts.recorded.join(',') };
}
