// What a failover job run does with the record it read and the pods it surveyed: ported from failover.sh's `main` up to
// the moment it takes the record (nothing_to_do, the checks of FAILOVER_TARGET, switchover or failover). Pure: the job
// reads the record, asks whether a job pod runs, surveys the pods (pg-node.sh status), and carries out the plan. With
// SCALE_DOWN_TO it first asks chooseScaleDownTarget (failover-target.ts) for the target.
import { NodeRole, parseLsn } from './failover-target';
import { describeRecord, FailingOverRecord, LeaderRecord, SwitchingOverRecord } from './record';
import { beginFailover, beginSwitchover } from './transitions';

export interface FailoverJobFacts {
  /** This job's pod. */
  readonly jobPod: string;
  /** The record, undefined when there is none. */
  readonly record: LeaderRecord | undefined;
  /** Whether the pod of the job that the record names (a failing-over or switching-over record's job) runs. */
  readonly recordedJobRunning: boolean;
  /** FAILOVER_TARGET, or the target chooseScaleDownTarget chose. */
  readonly requestedTarget: string | undefined;
  /**
   * The cluster's pods as surveyed: role, WAL position ("?" when the server answers no query) and the WAL receiver's
   * status (pg_stat_wal_receiver: streaming, waiting, ...; "none" without one).
   */
  readonly pods: ReadonlyArray<{ readonly pod: string; readonly role: NodeRole; readonly lsn: string; readonly receiver: string }>;
}

export type FailoverJobPlan =
  /** Exit 1, the record untouched. */
  | { readonly kind: 'refuse'; readonly reason: string }
  /** Exit 0, the record untouched. */
  | { readonly kind: 'nothing'; readonly reason: string }
  /** A dead job's switchover: wait for the sidecars to finish it, or give it back (await_switchover, then finish). */
  | { readonly kind: 'resume-switchover'; readonly previous: string; readonly target: string; readonly reason: string }
  /** Write the switchover (compare-and-swap) and wait for the sidecars (switchover). */
  | { readonly kind: 'switchover'; readonly record: SwitchingOverRecord; readonly reason: string }
  /**
   * Take the record (compare-and-swap), then: if the old primary could not be reached, wait 2 × ISOLATION_FENCE_SECONDS
   * (by then it has fenced itself); fence every other primary; choose a target (chooseFailoverTarget); promote.
   */
  | { readonly kind: 'failover'; readonly record: FailingOverRecord; readonly awaitIsolationFence: boolean; readonly reason: string };

/** What a failover job does, and why (failover-job-agent.ts decideAndAct). */
export function decideFailoverJob(facts: FailoverJobFacts): FailoverJobPlan {
  const record = facts.record;
  if (record === undefined) return { kind: 'refuse', reason: 'there is no leader record: the cluster has not been initialized yet' };
  if (record.state !== 'stable' && record.job !== facts.jobPod && facts.recordedJobRunning) {
    return { kind: 'refuse', reason: `another failover job (${record.job}) holds the leader record and is running; nothing was changed` };
  }
  if (record.state === 'switching-over') {
    return {
      kind: 'resume-switchover',
      previous: record.previous,
      target: record.target,
      reason: `job ${record.job} ended without finishing its failover (a switchover, ${record.previous} -> ${record.target}): `
        + 'waiting for the two pods\' sidecars to finish it, or giving it back',
    };
  }
  const [previous, recordedTarget] = record.state === 'stable' ? [record.primary, undefined] : [record.previous, record.target];
  // A dead job's target counts unless this run asks for another.
  const target = facts.requestedTarget ?? recordedTarget;
  const roleOf = (pod: string): NodeRole | undefined => facts.pods.find(p => p.pod === pod)?.role;
  if (record.state === 'stable') {
    const nothing = nothingToDo(facts, previous, target);
    if (nothing !== undefined) return { kind: 'nothing', reason: nothing };
  }
  if (target !== undefined) {
    const role = roleOf(target);
    if (role === undefined) return { kind: 'refuse', reason: `FAILOVER_TARGET ${target} is not a pod of this cluster (pods: ${facts.pods.map(p => p.pod).join(' ')})` };
    if (role !== 'replica' && role !== 'primary') return { kind: 'refuse', reason: `FAILOVER_TARGET ${target} is not healthy (it is ${role}); choose another replica` };
  }
  if (target !== undefined && target !== previous && roleOf(previous) === 'primary') {
    // A target that does not stream from the primary (a primary itself included) would never receive its last WAL.
    const receiver = facts.pods.find(p => p.pod === target)!.receiver;
    if (receiver !== 'streaming') {
      return {
        kind: 'refuse',
        reason: `FAILOVER_TARGET ${target} does not stream from ${previous} (its WAL receiver is ${receiver}): it could not receive the primary's last WAL, `
          + 'so nothing was changed; run the job again once it streams (its pod is Ready)',
      };
    }
    const next = beginSwitchover(record, { previous, target, job: facts.jobPod });
    return { kind: 'switchover', record: next, reason: `a planned switchover: ${previous} serves; promoting ${target} once it has received ${previous}'s shutdown checkpoint (${describeRecord(next)})` };
  }
  const next = beginFailover(record, { previous, target, job: facts.jobPod });
  const unreachable = roleOf(previous) === 'unreachable';
  return {
    kind: 'failover',
    record: next,
    awaitIsolationFence: unreachable,
    reason: `${record.state === 'failing-over' ? `job ${record.job} ended without finishing its failover: completing or undoing it; ` : ''}`
      + `an unplanned failover from ${previous}${unreachable ? ', which cannot be reached and may still be running' : ''} (${describeRecord(next)})`,
  };
}

/** Why there is nothing to do while the recorded primary serves (or starts) and is the one asked for (nothing_to_do). */
function nothingToDo(facts: FailoverJobFacts, primary: string, target: string | undefined): string | undefined {
  const node = facts.pods.find(p => p.pod === primary);
  if (node?.role === 'primary' && (target === undefined || target === primary)) {
    return parseLsn(node.lsn) !== undefined
      ? `primary ${primary} is healthy: nothing to do. For a planned switchover, set FAILOVER_TARGET to the replica to promote.`
      : `primary ${primary} is running but does not answer queries (too many clients?): not failing over a live primary. `
        + 'To move it anyway, set FAILOVER_TARGET: a switchover fences it first.';
  }
  if (node?.role === 'starting' && target === undefined) {
    return `primary ${primary} is starting (crash recovery): not failing over. Run the job again if it does not come back.`;
  }
  return undefined;
}

/** One round of a job waiting for the sidecars to finish its switchover (failover-job-agent.ts awaitSwitchover). */
export interface SwitchoverRoundFacts {
  /** The job pod that the switching-over record names: this job's, or a dead job's that this one resumes. */
  readonly job: string;
  readonly previous: string;
  readonly target: string;
  /** The epoch of the switchover (the switching-over record as written or resumed). */
  readonly epoch: number;
  /** The record read this round: undefined when it was deleted, `'unread'` when it could not be read (try again). */
  readonly record: LeaderRecord | undefined | 'unread';
  /** The shutdown checkpoint an earlier round saw in the record; undefined until the old primary records one. */
  readonly announced: string | undefined;
  /** Monotonic seconds: now, the end of the fence timeout, and the end of the switchover timeout once it runs. */
  readonly now: number;
  readonly fenceDeadline: number;
  readonly takeDeadline: number | undefined;
  /** FENCE_TIMEOUT_SECONDS and SWITCHOVER_TIMEOUT_SECONDS, for the reasons. */
  readonly fenceSeconds: number;
  readonly switchoverSeconds: number;
}

export type SwitchoverRoundPlan =
  /** The target is the recorded primary: the switchover is done. */
  | { readonly kind: 'switched'; readonly reason: string }
  /** The old primary gave the switchover back itself (its target did not stream from it): wait for its label, exit 1. */
  | { readonly kind: 'given-back'; readonly reason: string }
  /** Exit 1 at once: the record was deleted or changed by someone else. */
  | { readonly kind: 'refuse'; readonly reason: string }
  /** A timeout ran out: give the switchover back (compare-and-swap to the old primary), then exit 1. */
  | { readonly kind: 'give-back'; readonly reason: string }
  /** The old primary recorded its shutdown checkpoint: the switchover timeout starts now. */
  | { readonly kind: 'fenced'; readonly checkpoint: string; readonly reason: string }
  /** Read again in a moment. */
  | { readonly kind: 'wait' };

/** What a job waiting for its switchover does after one more read of the record (await_switchover). */
export function decideSwitchoverRound(facts: SwitchoverRoundFacts): SwitchoverRoundPlan {
  const { record, previous, target } = facts;
  if (record !== 'unread') {
    if (record === undefined) return { kind: 'refuse', reason: 'the leader record was deleted while this job worked' };
    if (record.state === 'stable' && record.primary === target) return { kind: 'switched', reason: `${target} is the primary (${describeRecord(record)})` };
    if (record.state === 'stable' && record.primary === previous && record.epoch === facts.epoch + 1) {
      return {
        kind: 'given-back',
        reason: `switchover to ${target}: ${previous} gave it back (${describeRecord(record)}), as it does when ${target} does not `
          + `stream from it (${target} could not have received its last WAL); run the job again once ${target} streams`,
      };
    }
    if (record.state !== 'switching-over' || record.job !== facts.job) {
      return { kind: 'refuse', reason: `the leader record changed while this job worked (${describeRecord(record)}): someone else acted; run the job again to decide anew` };
    }
    if (record.checkpoint !== undefined && facts.announced === undefined) {
      return { kind: 'fenced', checkpoint: record.checkpoint, reason: `${previous} is fenced: its shutdown checkpoint is ${record.checkpoint}` };
    }
  }
  if (facts.takeDeadline === undefined && facts.now >= facts.fenceDeadline) {
    return {
      kind: 'give-back',
      reason: `${previous} did not record a shutdown checkpoint within ${facts.fenceSeconds}s (it may be cut off from the API, or not shut down cleanly)`,
    };
  }
  if (facts.takeDeadline !== undefined && facts.now >= facts.takeDeadline) {
    return {
      kind: 'give-back',
      reason: `switchover to ${target}: it had not received the old primary's shutdown checkpoint ${facts.announced} after ${facts.switchoverSeconds}s; `
        + 'promoting it would lose commits',
    };
  }
  return { kind: 'wait' };
}
