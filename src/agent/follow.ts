// A replica following a new primary (a new epoch or timeline in the record). Its WAL receiver may still hold a connection
// to the old primary, which a partitioned or frozen node never resets (it would wait out wal_receiver_timeout, and a
// synchronous new primary for it), or it may hang connecting to the old primary's address (the receiver's connect loop
// has no timeout, and packets to a frozen node go nowhere). Ending it makes the startup process start another, through
// the write Service, which names the new primary by then. Pure: the sidecar looks, and carries out what this returns.

/** How long the same WAL receiver may go on without streaming on the record's timeline before it is ended. */
export const FOLLOW_HANG_SECONDS = 3;

/** A WAL receiver as an earlier look first saw it: its process, and when (monotonic seconds). */
export interface SeenReceiver {
  readonly pid: number;
  readonly since: number;
}

export interface FollowFacts {
  /** The record's epoch or timeline changed since the last look (a new primary, or its promotion). */
  readonly changed: boolean;
  /** It streams on the record's timeline; undefined when PostgreSQL could not say. */
  readonly streaming: boolean | undefined;
  /** The WAL receiver's process, connecting or streaming (pg_stat_activity); undefined when there is none or it was not asked. */
  readonly receiver: number | undefined;
  /** The receiver as first seen by an earlier look that found it not streaming. */
  readonly seen: SeenReceiver | undefined;
  /** Now, monotonic seconds. */
  readonly now: number;
}

export interface FollowPlan {
  /** End this WAL receiver (SIGTERM). */
  readonly end: number | undefined;
  /** Reload the configuration: wakes the startup process out of its wal_retrieve_retry_interval wait. */
  readonly reload: boolean;
  /** What the next look compares with. */
  readonly seen: SeenReceiver | undefined;
  /** Look again soon (it does not stream yet). */
  readonly following: boolean;
}

/**
 * What a replica does about its WAL receiver when it looks. A new primary: the receiver (if any) is ended at once, and
 * the configuration reloaded. Afterwards, while it does not stream on the record's timeline, a receiver is ended only
 * once the same process has gone FOLLOW_HANG_SECONDS without streaming: a new one gets that long to connect and
 * catch up, so a slow connection is never cut off again and again.
 */
export function decideFollow(facts: FollowFacts): FollowPlan {
  if (facts.streaming === true) return { end: undefined, reload: false, seen: undefined, following: false };
  if (facts.streaming === undefined) return { end: undefined, reload: false, seen: facts.seen, following: true };
  if (facts.changed) return { end: facts.receiver, reload: true, seen: undefined, following: true };
  if (facts.receiver === undefined) return { end: undefined, reload: false, seen: undefined, following: true };
  if (facts.seen?.pid !== facts.receiver) return { end: undefined, reload: false, seen: { pid: facts.receiver, since: facts.now }, following: true };
  if (facts.now - facts.seen.since >= FOLLOW_HANG_SECONDS) return { end: facts.receiver, reload: false, seen: undefined, following: true };
  return { end: undefined, reload: false, seen: facts.seen, following: true };
}
