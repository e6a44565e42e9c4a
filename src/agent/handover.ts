// A primary whose pod is being deleted (kubectl delete, a node drain's eviction, a scale-down, a rolling update) hands the
// primary over before it stops: it writes a planned switchover into the record, to the most advanced standby that
// streams from it and stays, and the sidecars carry it out as they carry out a job's (the old primary records its
// shutdown checkpoint, the target takes over once it has received it: no acknowledged commit is lost). Pure.
import { parseLsn } from './failover-target';
import { describeRecord, LeaderRecord, StableRecord, SwitchingOverRecord } from './record';
import { beginSwitchover, giveBack } from './transitions';

/** A standby as pg_stat_replication shows it on the primary. */
export interface Standby {
  /** application_name: the pod's name (primary_conninfo sets it). */
  readonly name: string;
  /** state: streaming, catchup, startup, backup, stopping. */
  readonly state: string;
  /** flush_lsn, undefined when not reported. */
  readonly flushLsn: string | undefined;
}

/** A pod of the cluster, whether it is being deleted, whether it is Ready, and its labels (the StatefulSet's revision among them). */
export interface PodState {
  readonly name: string;
  readonly terminating: boolean;
  /**
   * Its Ready condition is True: for a replica, PostgreSQL answers and streams (its readiness probe). A pod made anew
   * under a name that streamed a moment ago (a pod deleted with this one, which the StatefulSet has already replaced)
   * is not Ready yet: the standby list, taken before, still shows the name.
   */
  readonly ready: boolean;
  /** metadata.uid: a pod made anew under the same name has another. */
  readonly uid?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** The label the StatefulSet controller puts on each pod: the revision of the pod template it was made from. */
export const REVISION_LABEL = 'controller-revision-hash';

export interface HandoverFacts {
  readonly podName: string;
  /** This pod is being deleted (metadata.deletionTimestamp): undefined when the API did not say. */
  readonly podTerminating: boolean | undefined;
  readonly record: LeaderRecord | undefined;
  /**
   * This pod's data directory is a primary's (pg_control: in production, shutting down or shut down), whether or not
   * PostgreSQL still answers: the kubelet stops it at the same moment as the sidecar.
   */
  readonly primaryData: boolean;
  /** The standbys that streamed from it, as last seen (the sidecar keeps the list each round, while it can ask). */
  readonly standbys: readonly Standby[];
  /**
   * The cluster's pods, each with whether it is being deleted too, and its labels; undefined when they could not be
   * listed. This pod among them, as the API last showed it.
   */
  readonly pods: readonly PodState[] | undefined;
}

export type HandoverPlan =
  | { readonly kind: 'hand-over'; readonly target: string; readonly record: SwitchingOverRecord; readonly reason: string }
  | { readonly kind: 'stop'; readonly reason: string };

/**
 * A person's request for a switchover, on the record's Lease: `kubectl annotate lease <name>-leader
 * switchover.postgres.cdk8s.io/target=<pod>` (or `=any`: the most advanced standby). Outside the record's own
 * `postgres.cdk8s.io/` fields, which the agent refuses to guess at. The primary's sidecar carries it out at once.
 */
export const SWITCHOVER_REQUEST = 'switchover.postgres.cdk8s.io/target';

/**
 * The standbys that may take over, most advanced first: streaming, a pod of the cluster that is not being deleted,
 * and, for a stopping primary's handover (`ready`), Ready: its standby list was taken before it stopped, and a pod
 * deleted with it may have been made anew since under the same name. A serving primary's list is taken now.
 */
export function rankStandbys(standbys: readonly Standby[], pods: readonly PodState[], ready = false): Standby[] {
  // This pod is never among its own standbys (pg_stat_replication).
  const staying = new Set(pods.filter(pod => !pod.terminating && (pod.ready || !ready)).map(pod => pod.name));
  // "undefined" is no position either.
  const positioned = (standby: Standby) => parseLsn(String(standby.flushLsn)) !== undefined;
  return standbys
    .filter(standby => standby.state === 'streaming' && staying.has(standby.name) && positioned(standby))
    .sort((a, b) => {
      const diff = parseLsn(b.flushLsn!)! - parseLsn(a.flushLsn!)!;
      return diff > 0n ? 1 : diff < 0n ? -1 : a.name.localeCompare(b.name);
    });
}

export interface SwitchoverRequestFacts {
  readonly podName: string;
  readonly record: LeaderRecord | undefined;
  /** PostgreSQL serves here as a primary. */
  readonly serving: boolean;
  /** The request annotation's value. */
  readonly request: string;
  readonly standbys: readonly Standby[];
  readonly pods: readonly PodState[] | undefined;
  /**
   * A failover request (failover.postgres.cdk8s.io/target), which a serving primary carries out as a switchover: the
   * record's epoch when this agent first saw it (undefined when it has not; for a switchover request, ignored).
   */
  readonly failoverRequestEpoch?: number;
}

export type SwitchoverRequestPlan =
  | { readonly kind: 'hand-over'; readonly target: string; readonly record: SwitchingOverRecord; readonly reason: string }
  /** Remove the request and say why it was not carried out (log, Warning Event). */
  | { readonly kind: 'refuse'; readonly reason: string }
  /** Remove the request, which is no longer this primary's to answer (log only). */
  | { readonly kind: 'drop'; readonly reason: string }
  /** Not this pod's to carry out (it is not the serving primary the record names): leave the request. */
  | { readonly kind: 'ignore' };

/** What the primary's sidecar does with a switchover request on the record. */
export function decideRequestedSwitchover(facts: SwitchoverRequestFacts): SwitchoverRequestPlan {
  const record = facts.record;
  if (record?.state !== 'stable' || record.primary !== facts.podName || !facts.serving) return { kind: 'ignore' };
  const asked = facts.request.trim();
  // A failover asked for before this pod became the primary was answered by the change of primary (a failover or a
  // switchover): carrying it out again would move the primary once more.
  if (facts.failoverRequestEpoch !== undefined && facts.failoverRequestEpoch < record.epoch) {
    return {
      kind: 'drop',
      reason: `removing the failover request (${asked}) made before this pod became the primary (epoch ${facts.failoverRequestEpoch}, now ${record.epoch}): the change of primary answered it`,
    };
  }
  if (asked === facts.podName) return { kind: 'refuse', reason: `switchover to ${asked} requested: it is the primary already` };
  if (facts.pods === undefined) return { kind: 'ignore' };
  const ranked = rankStandbys(facts.standbys, facts.pods);
  const chosen = asked === 'any' ? ranked[0] : ranked.find(standby => standby.name === asked);
  if (chosen === undefined) {
    return {
      kind: 'refuse',
      reason: `switchover to ${asked || '(nothing)'} requested: ${asked === 'any' ? 'no standby streams' : `${asked} does not stream`} from the primary `
        + `${facts.podName} (standbys that may take over: ${ranked.map(standby => standby.name).join(', ') || 'none'}); the primary stays`,
    };
  }
  const next = beginSwitchover(record, { previous: facts.podName, target: chosen.name, job: facts.podName });
  return {
    kind: 'hand-over',
    target: chosen.name,
    record: next,
    reason: `switchover to ${asked} requested on the record: handing the primary over to ${chosen.name} (flushed ${chosen.flushLsn}), `
      + `by a switchover (${describeRecord(next)})`,
  };
}

/** What a stopping sidecar does about its primary, and why. */
export function decideHandover(facts: HandoverFacts): HandoverPlan {
  const record = facts.record;
  if (facts.podTerminating !== true) {
    const reason = facts.podTerminating === undefined
      ? 'stopping: the API did not say whether this pod is being deleted, so the primary stays where it is'
      : 'stopping, but the pod is not being deleted (a restart): the primary stays where it is';
    return { kind: 'stop', reason };
  }
  if (record?.state !== 'stable' || record.primary !== facts.podName || !facts.primaryData) {
    return { kind: 'stop', reason: `this pod is being deleted; it is not the primary the record names (${describeRecord(record)}): nothing to hand over` };
  }
  if (facts.pods === undefined) {
    return { kind: 'stop', reason: 'this primary\'s pod is being deleted, but the cluster\'s pods cannot be listed: no handover (run the failover job)' };
  }
  const candidates = rankStandbys(facts.standbys, facts.pods, true);
  if (candidates.length === 0) {
    return { kind: 'stop', reason: 'this primary\'s pod is being deleted, and no standby that stays streams from it: no handover (run the failover job)' };
  }
  // In a rolling update the StatefulSet deletes the pods of the old revision, highest ordinal first: a standby of
  // another revision than this pod's is updated already, and will not be deleted after it (a second switchover).
  const revisionOf = (name: string) => facts.pods!.find(pod => pod.name === name)?.labels?.[REVISION_LABEL];
  const mine = revisionOf(facts.podName);
  const updated = mine === undefined ? [] : candidates.filter(standby => {
    const revision = revisionOf(standby.name);
    return revision !== undefined && revision !== mine;
  });
  const chosen = updated[0] ?? candidates[0];
  const target = chosen.name;
  const next = beginSwitchover(record, { previous: facts.podName, target, job: facts.podName });
  const which = updated.length > 0
    ? `the most advanced standby that stays and runs the pod template's new revision (${revisionOf(target)}; this pod's: ${mine})`
    : 'the most advanced standby that stays';
  return {
    kind: 'hand-over',
    target,
    record: next,
    reason: `this primary's pod is being deleted: handing the primary over to ${target}, ${which} `
      + `(flushed ${chosen.flushLsn}), by a switchover (${describeRecord(next)})`,
  };
}

export interface HandoverWaitFacts {
  /** This primary's pod: the job the record names for the handover. */
  readonly podName: string;
  /** The handover's target. */
  readonly target: string;
  /** The target's metadata.uid when the handover was written (undefined when the list did not show it). */
  readonly targetUid: string | undefined;
  /** The record as last read. */
  readonly record: LeaderRecord | undefined;
  /** The target's pod now: null when the API says there is none, undefined when it did not answer. */
  readonly targetPod: PodState | null | undefined;
}

export type HandoverWaitPlan =
  | { readonly kind: 'done'; readonly reason: string }
  | { readonly kind: 'wait' }
  /** The record is the handover's still, and its target will never take over: the record names this pod again. */
  | { readonly kind: 'give-back'; readonly record: StableRecord; readonly reason: string };

/**
 * While a deleted primary waits for its handover's target to take over: whether it has (or someone else took the
 * record), or whether the target is going away too (deleted, or gone and made anew: `kubectl delete pod -l ...` deletes
 * one pod after the other, and the kubelet may stop this one first). Then the record is given back, so that this pod,
 * made anew, is the primary again (its data is the most advanced: every standby stopped at its shutdown checkpoint or
 * before); without it, the record would stay switching-over until a person ran the failover job. Safe: the target
 * writes the record (compare-and-swap) before it promotes, so either it took over or it never will.
 */
export function decideHandoverWait(facts: HandoverWaitFacts): HandoverWaitPlan {
  const record = facts.record;
  if (record?.state === 'stable' && record.primary === facts.target) return { kind: 'done', reason: `handed over: ${describeRecord(record)}` };
  if (record?.state !== 'switching-over' || record.job !== facts.podName || record.target !== facts.target) {
    return { kind: 'done', reason: `the handover was taken over by someone else (${describeRecord(record)})` };
  }
  const pod = facts.targetPod;
  const going = pod === null ? 'is gone'
    : pod === undefined ? undefined
      : pod.terminating ? 'is being deleted too'
        : facts.targetUid !== undefined && pod.uid !== undefined && pod.uid !== facts.targetUid ? 'is gone (a new pod has its name)'
          : undefined;
  if (going === undefined) return { kind: 'wait' };
  const next = giveBack(record);
  return {
    kind: 'give-back',
    record: next,
    reason: `the handover's target ${facts.target} ${going} before it took over: the record names this pod again, which is the primary `
      + `when it is made anew (${describeRecord(next)})`,
  };
}
