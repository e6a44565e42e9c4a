// The failover job's choice of the replica to promote: ported from failover.sh's healthy_replicas, eligible_replicas,
// most_advanced, staying and the choosing part of `failover` (after the other primaries are fenced and the replicas
// have settled), and of plan_scale_down's choice; run by failover-job-agent.ts. Pure: the job surveys the pods
// (pg-node.sh status) and passes them in.

/** pg-node.sh status's role, or the job's own verdict on a pod it could not ask (node_state). */
export type NodeRole = 'primary' | 'replica' | 'starting' | 'down' | 'empty' | 'unreachable';

/** One pod as the job surveyed it. */
export interface Candidate {
  readonly pod: string;
  readonly role: NodeRole;
  /** Its WAL position ("X/Y"): for a replica the furthest it has written, flushed or replayed; "?" when it does not answer queries. */
  readonly lsn: string;
  /** The timeline it receives (a replica's WAL receiver) or writes; undefined or 0 when it did not say. */
  readonly timeline?: number;
}

export interface FailoverChoiceFacts {
  /** Every pod of the cluster, in the order the API lists them. */
  readonly candidates: readonly Candidate[];
  /** The old primary (the record's primary, or a dead job's previous). */
  readonly previous: string;
  /** SYNC_REPLICAS. */
  readonly syncReplicas: number;
  /** The record's synchronous set, in its order. */
  readonly syncSet: readonly string[];
  /** FAILOVER_ACCEPT_DATA_LOSS=true. */
  readonly acceptDataLoss: boolean;
  /** FAILOVER_TARGET (or a dead job's target). */
  readonly requestedTarget: string | undefined;
  /** SCALE_DOWN_TO: the number of pods that stay. */
  readonly scaleDownTo: number | undefined;
}

export type FailoverChoice =
  | { readonly kind: 'promote'; readonly target: string; readonly reason: string; readonly warning: string | undefined }
  /** The job gives the record back to the old primary and exits 1 (give_back_down). */
  | { readonly kind: 'refuse'; readonly reason: string };

const LSN = /^[0-9A-F]+\/[0-9A-F]+$/;

/** An LSN as a number (lsn_number), or undefined when it is not one (known_lsn). */
export function parseLsn(lsn: string): bigint | undefined {
  if (!LSN.test(lsn)) return undefined;
  const [high, low] = lsn.split('/');
  // lsn_number's (high << 32) | low, in arithmetic: low is below 2^32.
  return BigInt(`0x${high}`) * 0x1_0000_0000n + BigInt(`0x${low}`);
}

/** Replicas that answer with their WAL position, in the order given (healthy_replicas). */
export function healthyReplicas(candidates: readonly Candidate[]): Candidate[] {
  return candidates.filter(c => c.role === 'replica' && parseLsn(c.lsn) !== undefined);
}

/**
 * The candidates, most advanced first: by WAL position, highest first; equal positions keep the order given
 * (most_advanced takes the first of the highest). Only healthy replicas are ranked.
 */
export function rankCandidates(candidates: readonly Candidate[]): Candidate[] {
  // Array.prototype.sort is stable: equal positions (a difference of 0) keep their order.
  return healthyReplicas(candidates).sort((a, b) => Number((parseLsn(b.lsn) as bigint) - (parseLsn(a.lsn) as bigint)));
}

/** ${pod##*-}: the StatefulSet ordinal. */
export function ordinalOf(pod: string): number {
  return Number(pod.slice(pod.lastIndexOf('-') + 1));
}

/** Pods that stay after scaling to `scaleDownTo` pods (staying). */
function staying(candidates: readonly Candidate[], scaleDownTo: number): Candidate[] {
  return candidates.filter(c => ordinalOf(c.pod) < scaleDownTo);
}

function describe(candidates: readonly Candidate[]): string {
  return candidates.map(c => `${c.pod}=${c.role}@${c.lsn}`).join(' ');
}

type Eligible = { readonly ok: true; readonly candidates: Candidate[] } | { readonly ok: false; readonly reason: string };

/**
 * The replicas that may be promoted (eligible_replicas): every healthy one; in synchronous mode, only the recorded
 * synchronous standbys that answer, in the set's order, and only if at least n - k + 1 of its n members do (a commit
 * waited for k of them, so any n - k + 1 include one that has it). FAILOVER_ACCEPT_DATA_LOSS, or an old primary that
 * is a replica now, lifts the rule.
 */
function eligibleReplicas(facts: FailoverChoiceFacts): Eligible {
  const byPod = new Map(facts.candidates.map(c => [c.pod, c]));
  if (facts.syncReplicas === 0 || facts.acceptDataLoss || byPod.get(facts.previous)?.role === 'replica') {
    return { ok: true, candidates: healthyReplicas(facts.candidates) };
  }
  const members = facts.syncSet.length;
  // A member that is not a pod (scaled away) does not answer.
  const reached = healthyReplicas(facts.syncSet.map(pod => byPod.get(pod)).filter(c => c !== undefined));
  const needed = members - facts.syncReplicas + 1;
  if (members === 0 || reached.length < needed) {
    return {
      ok: false,
      reason: `synchronous mode: ${reached.length} of the ${members} recorded synchronous standbys (${facts.syncSet.join(',') || 'none'}) answer; `
        + `${needed} are needed to be sure of every acknowledged commit`,
    };
  }
  return { ok: true, candidates: reached };
}

/** Which replica the failover job promotes, or why it refuses (FailoverJobAgent failover). */
export function chooseFailoverTarget(facts: FailoverChoiceFacts): FailoverChoice {
  const requested = facts.requestedTarget;
  const cluster = describe(facts.candidates);
  if (facts.candidates.some(c => c.pod === requested && c.role === 'primary')) {
    return { kind: 'promote', target: requested as string, reason: `${requested} was promoted already (by the job that ended): recording it`, warning: undefined };
  }
  const ranked = rankCandidates(facts.candidates);
  if (ranked.length === 0) return { kind: 'refuse', reason: `no healthy replica to promote (${cluster})` };
  const eligible = eligibleReplicas(facts);
  if (!eligible.ok || eligible.candidates.length === 0) {
    return {
      kind: 'refuse',
      reason: `${eligible.ok ? '' : `${eligible.reason}. `}no replica may be promoted without losing acknowledged commits (${cluster}). `
        + 'Bring back the missing pods and run the job again, or set FAILOVER_ACCEPT_DATA_LOSS=true to promote the most advanced replica anyway',
    };
  }
  let candidates = eligible.candidates;
  if (facts.scaleDownTo !== undefined && requested === undefined) {
    candidates = staying(candidates, facts.scaleDownTo);
    if (candidates.length === 0) return { kind: 'refuse', reason: `no replica that stays after scaling to ${facts.scaleDownTo} pods may be promoted (${cluster})` };
  }
  let target: Candidate;
  if (requested !== undefined) {
    const found = candidates.find(c => c.pod === requested);
    if (found === undefined) {
      const role = facts.candidates.find(c => c.pod === requested)?.role ?? 'not a pod';
      return { kind: 'refuse', reason: `FAILOVER_TARGET ${requested} may not be promoted (${role}; eligible: ${candidates.map(c => c.pod).join(' ')})` };
    }
    target = found;
  } else {
    target = rankCandidates(candidates)[0];
  }
  const best = ranked[0];
  const warning = (parseLsn(best.lsn) as bigint) > (parseLsn(target.lsn) as bigint)
    ? `${best.pod} has more WAL than ${target.pod}; what only ${best.pod} has is lost, and ${best.pod} is rewound when it restarts`
    : undefined;
  return { kind: 'promote', target: target.pod, reason: `promoting ${target.pod} (WAL ${target.lsn}) of ${candidates.map(c => c.pod).join(' ')}`, warning };
}

/**
 * With SCALE_DOWN_TO and no FAILOVER_TARGET, on a stable record: where the primary goes (plan_scale_down). Undefined
 * target: the primary stays where it is.
 */
export function chooseScaleDownTarget(candidates: readonly Candidate[], primary: string, scaleDownTo: number): FailoverChoice | { readonly kind: 'stay'; readonly reason: string } {
  if (ordinalOf(primary) < scaleDownTo) return { kind: 'stay', reason: `the primary ${primary} stays when scaling to ${scaleDownTo} pods` };
  const [target] = rankCandidates(staying(candidates, scaleDownTo));
  if (target === undefined) {
    return { kind: 'refuse', reason: `the primary ${primary} goes away when scaling to ${scaleDownTo} pods, and no healthy replica stays to take over (${describe(candidates)})` };
  }
  return { kind: 'promote', target: target.pod, reason: `the primary ${primary} goes away when scaling to ${scaleDownTo} pods: switching over to ${target.pod}`, warning: undefined };
}

/**
 * Where a timeline history file (pg_wal/<timeline>.history: one `<parent timeline>\t<switchpoint>\t<reason>` line per
 * ancestor) says `timeline` ended: the position at which its child forked off; undefined when it does not list it.
 */
export function switchpointOf(history: string, timeline: number): string | undefined {
  return historyEntries(history).find(entry => entry.parent === timeline)?.switchpoint;
}

/** The name of a timeline's history file in pg_wal: `0000000A.history` for timeline 10. */
export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/**
 * Where the timeline of a history file began (its last line's switch point: the position at which it forked off its
 * parent); undefined when the file lists no line.
 */
export function timelineSwitchpoint(history: string): string | undefined {
  const entries = historyEntries(history);
  return entries.length === 0 ? undefined : entries[entries.length - 1].switchpoint;
}

/** A history file's lines as PostgreSQL's sscanf reads them (whitespace apart, a decimal parent); other lines are passed over. */
function historyEntries(history: string): { readonly parent: number; readonly switchpoint: string }[] {
  const entries: { parent: number; switchpoint: string }[] = [];
  for (const line of history.split('\n')) {
    const [parent, switchpoint] = line.trim().split(/\s+/);
    if (/^\d+$/.test(parent) && parseLsn(switchpoint ?? '') !== undefined) entries.push({ parent: Number(parent), switchpoint });
  }
  return entries;
}

/**
 * A replica still on `timeline` that has replayed or received WAL up to `position` can never follow the recorded
 * primary's newer timeline if that one forked off `timeline` before `position` (PostgreSQL: "new timeline forked off
 * current database system timeline before current recovery point"): only a rewind or a new clone brings it back.
 */
export function forkedBehind(history: string, timeline: number, position: string): boolean {
  const switchpoint = switchpointOf(history, timeline);
  const at = parseLsn(position);
  return switchpoint !== undefined && at !== undefined && at > parseLsn(switchpoint)!;
}
