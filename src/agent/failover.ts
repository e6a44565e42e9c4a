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
