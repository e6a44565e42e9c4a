// Every change of the leader record that the agent makes (the sidecars and the failover job; once the scripts' record_create and record_update),
// as a list, and each as a pure function from the record read to the record written. docs/leader-record.md holds the
// same list as a table; test/agent/transitions.test.ts checks that the two agree.
import { FailingOverRecord, LeaderRecord, RECORD_FORMAT_VERSION, RecordState, StableRecord, SwitchingOverRecord } from './record';

/**
 * Who writes the record. The postgres container's entrypoint has no API token: it reads the sidecar's copy and never
 * writes, so it makes no transition.
 */
export type Actor = 'sidecar' | 'job';

export interface Transition {
  /** The function below that makes it. */
  readonly name: string;
  /** The state read; 'absent' when there is no record (record_create). */
  readonly from: RecordState | 'absent';
  readonly to: RecordState;
  readonly by: Actor;
  /** The epoch written: the one read, one more, or 1 (a new record). */
  readonly epoch: 'same' | '+1' | '1';
  /** Why, and where in the scripts. */
  readonly why: string;
}

export const TRANSITIONS: readonly Transition[] = [
  {
    name: 'createRecord',
    from: 'absent',
    to: 'stable',
    by: 'sidecar',
    epoch: '1',
    why: 'a primary finds no record (a new cluster, or the Lease was deleted) and records itself, epoch 1 (role-labeler.sh create_record)',
  },
  {
    name: 'recordTimeline',
    from: 'stable',
    to: 'stable',
    by: 'sidecar',
    epoch: 'same',
    why: 'the named primary records its timeline after a promotion, and when it maintains slots (role-labeler.sh record_timeline)',
  },
  {
    name: 'recordSyncSet',
    from: 'stable',
    to: 'stable',
    by: 'sidecar',
    epoch: 'same',
    why: 'synchronous mode: the named primary records the standbys that may confirm commits (role-labeler.sh maintain_sync_set)',
  },
  {
    name: 'beginSwitchover',
    from: 'stable',
    to: 'switching-over',
    by: 'job',
    epoch: '+1',
    why: 'FAILOVER_TARGET names a replica and the primary serves: a planned switchover (failover-job-agent.ts, a switchover)',
  },
  {
    name: 'beginSwitchover',
    from: 'stable',
    to: 'switching-over',
    by: 'sidecar',
    epoch: '+1',
    why: 'the serving primary hands over, naming itself as the job: its pod is being deleted (decideHandover: to the most advanced standby that stays), or a switchover was asked for on the record (decideRequestedSwitchover), or a rolling update has updated every replica (decideRoll: to the most advanced standby of the new revision)',
  },
  {
    name: 'beginSwitchover',
    from: 'failing-over',
    to: 'switching-over',
    by: 'job',
    epoch: '+1',
    why: 'a job resumes a dead job\'s failover with a target while the previous primary still serves (failover-job-agent.ts decideAndAct, then a switchover)',
  },
  {
    name: 'takeOverLapsedLease',
    from: 'stable',
    to: 'stable',
    by: 'sidecar',
    epoch: '+1',
    why: 'automatic failover: a replica saw no renewal of the primary\'s lease for leaseDurationSeconds, or the primary left a failover request '
      + '(`failover.postgres.cdk8s.io/target`) unanswered for twice its fence time; nothing serves as a primary, and it is the replica the job would '
      + 'promote (the requested one, if named): it names itself the primary, then promotes (decideTakeover)',
  },
  {
    name: 'recordCheckpoint',
    from: 'switching-over',
    to: 'switching-over',
    by: 'sidecar',
    epoch: 'same',
    why: 'the old primary, fenced and shut down cleanly, records its shutdown checkpoint (role-labeler.sh report_shutdown_checkpoint)',
  },
  {
    name: 'takeOverSwitchover',
    from: 'switching-over',
    to: 'stable',
    by: 'sidecar',
    epoch: 'same',
    why: 'the target has received WAL beyond that checkpoint and names itself the primary (role-labeler.sh take_over_switchover)',
  },
  {
    name: 'giveBack',
    from: 'switching-over',
    to: 'stable',
    by: 'sidecar',
    epoch: '+1',
    why: 'a deleted primary\'s handover whose target is deleted too, or gone, before it took over: the old primary again, which is the primary when its pod is made anew (decideHandoverWait); or the old primary of any switchover, before its fence, finds that the target does not stream its timeline (waited for up to 2 s), so it could never receive the shutdown checkpoint: it stays the primary (decideSidecarStep)',
  },
  {
    name: 'giveBack',
    from: 'switching-over',
    to: 'stable',
    by: 'job',
    epoch: '+1',
    why: 'no checkpoint within FENCE_TIMEOUT_SECONDS, or the target lagged past SWITCHOVER_TIMEOUT_SECONDS: the old primary again (failover-job-agent.ts giveBack)',
  },
  {
    name: 'beginFailover',
    from: 'stable',
    to: 'failing-over',
    by: 'job',
    epoch: '+1',
    why: 'the recorded primary is not serving (or a target was asked for and it is not a primary): an unplanned failover (failover-job-agent.ts decideAndAct)',
  },
  {
    name: 'beginFailover',
    from: 'failing-over',
    to: 'failing-over',
    by: 'job',
    epoch: '+1',
    why: 'a job finds a dead job\'s failover and takes the record over to complete or undo it (failover-job-agent.ts decideAndAct)',
  },
  {
    name: 'recordTarget',
    from: 'failing-over',
    to: 'failing-over',
    by: 'job',
    epoch: 'same',
    why: 'the job has chosen the replica to promote (failover-job-agent.ts promote)',
  },
  {
    name: 'completeFailover',
    from: 'failing-over',
    to: 'stable',
    by: 'job',
    epoch: 'same',
    why: 'the job names the chosen replica the primary; its sidecar promotes it (failover-job-agent.ts promote)',
  },
  {
    name: 'giveBack',
    from: 'failing-over',
    to: 'stable',
    by: 'job',
    epoch: '+1',
    why: 'no replica may be promoted: the record names the old primary again, for when it returns (failover-job-agent.ts giveBackDown)',
  },
];

/** Whether the scripts ever change a record in state `from` into state `to`, by `by`. */
export function isAllowedTransition(from: RecordState | 'absent', to: RecordState, by: Actor): boolean {
  return TRANSITIONS.some(t => t.from === from && t.to === to && t.by === by);
}

/** What the first primary of a cluster knows of itself. */
export interface NewPrimary {
  readonly primary: string;
  readonly timeline: number;
  readonly systemIdentifier: string | undefined;
  readonly sync: readonly string[];
}

/** A new record: stable, epoch 1 (create_record). */
export function createRecord(primary: NewPrimary): StableRecord {
  return {
    version: RECORD_FORMAT_VERSION,
    state: 'stable',
    primary: primary.primary,
    epoch: 1,
    timeline: primary.timeline,
    systemIdentifier: primary.systemIdentifier,
    sync: [...primary.sync],
  };
}

/** The primary's timeline (record_timeline). */
export function recordTimeline(record: StableRecord, timeline: number): StableRecord {
  return { ...record, timeline };
}

/** The synchronous standbys (maintain_sync_set). */
export function recordSyncSet(record: StableRecord, sync: readonly string[]): StableRecord {
  return { ...record, sync: [...sync] };
}

/** Who takes the record, and for which pods. */
export interface Takeover {
  readonly previous: string;
  readonly target: string;
  readonly job: string;
}

/** What a job's taking of the record makes of it: no primary, a new epoch, the job and the old primary named; timeline and sync stay. */
function takenBy(record: StableRecord | FailingOverRecord, takeover: Omit<Takeover, 'target'>) {
  return {
    version: record.version,
    epoch: record.epoch + 1,
    timeline: record.timeline,
    systemIdentifier: record.systemIdentifier,
    sync: record.sync,
    previous: takeover.previous,
    job: takeover.job,
  };
}

/** A planned switchover: no primary, a new epoch, no checkpoint yet; timeline and sync stay (failover-job-agent.ts, a switchover). */
export function beginSwitchover(record: StableRecord | FailingOverRecord, takeover: Takeover): SwitchingOverRecord {
  return { ...takenBy(record, takeover), state: 'switching-over', target: takeover.target, checkpoint: undefined };
}

/** The old primary's shutdown checkpoint (report_shutdown_checkpoint). */
export function recordCheckpoint(record: SwitchingOverRecord, checkpoint: string): SwitchingOverRecord {
  return { ...record, checkpoint };
}

/** The target names itself the primary, in the switchover's epoch; sync is written whole (take_over_switchover). */
export function takeOverSwitchover(record: SwitchingOverRecord, sync: readonly string[]): StableRecord {
  return stable(record, record.target, record.epoch, [...sync]);
}

/** A switchover or failover given up: the old primary again, a new epoch; sync stays (give_back, give_back_down). */
export function giveBack(record: SwitchingOverRecord | FailingOverRecord): StableRecord {
  return stable(record, record.previous, record.epoch + 1, record.sync);
}

/** A replica names itself the primary of a new epoch when the primary's lease lapsed; sync is written whole (decideTakeover). */
export function takeOverLapsedLease(record: StableRecord, primary: string, sync: readonly string[]): StableRecord {
  return stable(record, primary, record.epoch + 1, [...sync]);
}

/** An unplanned failover: no primary, a new epoch, the target if one was asked for (failover-job-agent.ts decideAndAct). */
export function beginFailover(record: StableRecord | FailingOverRecord, takeover: Omit<Takeover, 'target'> & { readonly target: string | undefined }): FailingOverRecord {
  return { ...takenBy(record, takeover), state: 'failing-over', target: takeover.target };
}

/** The replica the job promotes (failover-job-agent.ts promote). */
export function recordTarget(record: FailingOverRecord, target: string): FailingOverRecord {
  return { ...record, target };
}

/**
 * The chosen replica named the primary, in the failover's epoch; sync is written whole. The timeline stays the old
 * primary's until the new one's sidecar records its own (failover-job-agent.ts promote).
 */
export function completeFailover(record: FailingOverRecord, sync: readonly string[]): StableRecord {
  if (record.target === undefined) throw new Error(`completeFailover: the failing-over record (epoch ${record.epoch}) names no target`);
  return stable(record, record.target, record.epoch, [...sync]);
}

function stable(record: LeaderRecord, primary: string, epoch: number, sync: readonly string[]): StableRecord {
  return {
    version: record.version,
    state: 'stable',
    primary,
    epoch,
    timeline: record.timeline,
    systemIdentifier: record.systemIdentifier,
    sync,
  };
}
