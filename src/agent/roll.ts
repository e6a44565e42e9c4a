// The rolling update, carried out by the agents. The StatefulSet's updateStrategy is OnDelete: the controller deletes no
// pod for a new template, and makes a deleted pod anew from it. The recorded primary's agent rolls the cluster: the
// replicas of an older revision first, one at a time (highest ordinal first), each once every pod is Ready again (a
// replica is Ready when it streams); then one switchover to an updated replica that streams; then the new primary's
// agent deletes the old primary's pod, a replica by then. Wherever the primary is, an update makes one switchover (the
// StatefulSet's own RollingUpdate deletes the highest ordinal first: a primary there handed over to a pod of the old
// revision, which the update then deleted too: a second switchover). Pure.
import { ordinalOf } from './failover-target';
import { PodState, rankStandbys, REVISION_LABEL, Standby } from './handover';
import { describeRecord, StableRecord, SwitchingOverRecord } from './record';
import { beginSwitchover } from './transitions';

/**
 * A person holds a roll with this annotation on the record's Lease (`kubectl annotate lease <cluster>-leader
 * rollout.postgres.cdk8s.io/paused=true`), to look at the first updated replica, say, or outside a maintenance window;
 * removing it lets the roll go on. Outside the record's own `postgres.cdk8s.io/` fields.
 */
export const ROLL_PAUSE_ANNOTATION = 'rollout.postgres.cdk8s.io/paused';

/** How long the roll may wait for the same thing before a Warning Event says that it stalled. */
export const ROLL_STALL_SECONDS = 60;

export interface RollFacts {
  /** This pod: the primary the record names, serving. */
  readonly podName: string;
  readonly record: StableRecord;
  /** The StatefulSet's spec.replicas. */
  readonly replicas: number;
  /** The StatefulSet's status.updateRevision: undefined before the controller wrote one. */
  readonly updateRevision: string | undefined;
  /** The cluster's pods, this one among them. */
  readonly pods: readonly PodState[];
  /** The standbys that stream from this primary (pg_stat_replication), as seen now. */
  readonly standbys: readonly Standby[];
  /** ROLL_PAUSE_ANNOTATION is "true" on the record's Lease. */
  readonly paused: boolean;
  /** The last look's wait (its reason) and how long ago that wait began; undefined when the last look did not wait. */
  readonly lastWait: { readonly reason: string; readonly seconds: number } | undefined;
}

export type RollPlan =
  /** Every pod runs the update revision, or there is none to run. */
  | { readonly kind: 'none'; readonly reason: string }
  /** Something must be Ready first. `stalled`: it has been so for ROLL_STALL_SECONDS (a Warning Event says why). */
  | { readonly kind: 'wait'; readonly reason: string; readonly stalled: boolean }
  /** Delete this pod (a precondition on its uid): the StatefulSet makes it anew from the new template. */
  | { readonly kind: 'delete'; readonly pod: string; readonly uid: string | undefined; readonly reason: string }
  /** Write the switchover (compare-and-swap); the two pods' sidecars carry it out. */
  | { readonly kind: 'switch-over'; readonly target: string; readonly record: SwitchingOverRecord; readonly reason: string };

/** What the primary's agent does next for a rolling update, and why. */
export function decideRoll(facts: RollFacts): RollPlan {
  const revision = facts.updateRevision;
  if (revision === undefined) return { kind: 'none', reason: 'the StatefulSet has no update revision yet: nothing to roll' };
  const stale = facts.pods.filter(pod => pod.labels?.[REVISION_LABEL] !== revision);
  if (stale.length === 0) return { kind: 'none', reason: `every pod runs the pod template's revision ${revision}` };
  const updated = `${facts.pods.length - stale.length} of ${facts.pods.length} pods run it`;
  const wait = (why: string): RollPlan => {
    const reason = `rolling update to revision ${revision} (${updated}): waiting, ${why}`;
    return { kind: 'wait', reason, stalled: facts.lastWait?.reason === reason && facts.lastWait.seconds >= ROLL_STALL_SECONDS };
  };
  if (facts.paused) {
    return { kind: 'wait', reason: `rolling update to revision ${revision} (${updated}): paused (${ROLL_PAUSE_ANNOTATION}=true on the record)`, stalled: false };
  }
  const terminating = facts.pods.find(pod => pod.terminating);
  if (terminating !== undefined) return wait(`${terminating.name} is being deleted`);
  const unready = [...facts.pods].sort((a, b) => ordinalOf(a.name) - ordinalOf(b.name)).find(pod => !pod.ready);
  if (unready !== undefined) return wait(`${unready.name} is not Ready (a replica is Ready once it streams)`);
  if (facts.pods.length !== facts.replicas) return wait(`the StatefulSet has ${facts.pods.length} pods of ${facts.replicas}`);
  const replica = stale.filter(pod => pod.name !== facts.podName).sort((a, b) => ordinalOf(b.name) - ordinalOf(a.name))[0];
  if (replica !== undefined) {
    return {
      kind: 'delete',
      pod: replica.name,
      uid: replica.uid,
      reason: `rolling update to revision ${revision} (${updated}): deleting replica ${replica.name} (revision `
        + `${replica.labels?.[REVISION_LABEL] ?? 'none'}); the StatefulSet makes it anew from the new template`,
    };
  }
  // Only this primary runs an older revision.
  if (facts.pods.length === 1) {
    return {
      kind: 'delete',
      pod: facts.podName,
      uid: facts.pods[0].uid,
      reason: `rolling update to revision ${revision}: this primary is the only pod, so it restarts in place (writes stop until it is back)`,
    };
  }
  // Every other pod runs the new revision by now, and every pod is Ready (above).
  const target = rankStandbys(facts.standbys, facts.pods)[0];
  if (target === undefined) return wait(`no replica of the new revision streams from the primary ${facts.podName}`);
  const next = beginSwitchover(facts.record, { previous: facts.podName, target: target.name, job: facts.podName });
  return {
    kind: 'switch-over',
    target: target.name,
    record: next,
    reason: `rolling update to revision ${revision} (${updated}, every replica): switching over to ${target.name}, the most advanced `
      + `standby of the new revision (flushed ${target.flushLsn}), before this primary's pod is updated (${describeRecord(next)})`,
  };
}
