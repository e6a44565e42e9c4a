// The failsafe: a primary that can neither renew its lease (automatic failover) nor read the record keeps serving while
// every other pod streams from it and replies to the WAL it writes, since nobody takes over from a primary that its
// replicas still follow. Each answer moves the heartbeat fence's deadline on. Pure: the sidecar asks and writes.

/**
 * Without automatic failover, how far each answer moves the heartbeat fence's deadline: once a standby stops replying
 * (the failover job ended its WAL receiver), the primary stops within this, before the job, which waits
 * RECONNECT_SECONDS (5) for receivers to stream again, may promote.
 */
export const FAILSAFE_FENCE_SECONDS = 3;
/** How long the failsafe's last hold counts for the sidecar's rounds, and after how long it says so again in the log. */
export const FAILSAFE_HOLDS_SECONDS = 2;

/** The heartbeat fence's deadline: `seconds` after `uptime` (/proc/uptime), in hundredths of a second, as the fence reads it. */
export function fenceDeadline(uptime: number, seconds: number): number {
  return Math.floor(uptime * 100) + seconds * 100;
}

/** Whether the failsafe's last hold, `sinceHeld` seconds ago, still counts for the sidecar's rounds. */
export function failsafeHolds(sinceHeld: number): boolean {
  return sinceHeld < FAILSAFE_HOLDS_SECONDS;
}

export interface FailsafeDueFacts {
  /** The record names this pod, stable. */
  readonly named: boolean;
  /** The other pods are known (listed since this agent started). */
  readonly othersKnown: boolean;
  /** Seconds since the last renewal (automatic failover) or read of the record. */
  readonly sinceConfirmed: number;
  /** After how long a confirmation is overdue (halfway to the fence: one merely late asks nothing). */
  readonly overdueAfter: number;
}

/**
 * Whether the failsafe asks the other pods now, if PostgreSQL serves here as a primary (which the sidecar reads from
 * files only then: it looks twice a second).
 */
export function failsafeDue(facts: FailsafeDueFacts): boolean {
  return facts.named && facts.othersKnown && facts.sinceConfirmed >= facts.overdueAfter;
}

export interface FailsafeAnswerFacts {
  readonly automaticFailover: boolean;
  /** Every other pod replied (or there is none). */
  readonly held: boolean;
  /** A renewal or read came after the question: the failsafe has nothing to hold. */
  readonly confirmedMeanwhile: boolean;
  /** The record still names this pod, stable. */
  readonly stillNamed: boolean;
  /** /proc/uptime when it asked: the deadline counts from the question, never from the answer. */
  readonly askedUptime: number;
  /** With automatic failover: the renew deadline, which each answer gives as a renewal would. */
  readonly renewDeadlineSeconds: number;
  /** The deadline written last (hundredths of uptime), -Infinity for none. */
  readonly deadlineWritten: number;
  /** Seconds since the failsafe last held. */
  readonly sinceHeld: number;
}

export type FailsafePlan =
  | { readonly hold: false }
  /** It holds: write this deadline (undefined: the one written is later already), and say so in the log (`say`). */
  | { readonly hold: true; readonly deadline: number | undefined; readonly say: boolean };

/** What an answer of the other pods means for the heartbeat fence. */
export function decideFailsafe(facts: FailsafeAnswerFacts): FailsafePlan {
  if (!facts.held || facts.confirmedMeanwhile || !facts.stillNamed) return { hold: false };
  const say = !failsafeHolds(facts.sinceHeld);
  if (facts.automaticFailover) return { hold: true, deadline: fenceDeadline(facts.askedUptime, facts.renewDeadlineSeconds), say };
  // Never earlier than the last read's deadline: the failsafe only ever keeps a primary serving longer.
  const deadline = fenceDeadline(facts.askedUptime, FAILSAFE_FENCE_SECONDS);
  return { hold: true, deadline: deadline > facts.deadlineWritten ? deadline : undefined, say };
}
