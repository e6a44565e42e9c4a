// A replica following a new primary (a new epoch or timeline in the record). Its WAL receiver may still hold a connection
// to the old primary, which a partitioned or frozen node never resets (it would wait out wal_receiver_timeout, and a
// synchronous new primary for it), or it may hang connecting to the old primary's address (the receiver's connect loop
// has no timeout, and packets to a frozen node go nowhere). Ending it makes the startup process start another, through
// the write Service, which names the new primary by then. Pure: the sidecar looks, and carries out what this returns.

import { forkedBehind, switchpointOf } from './failover-target';
import { LeaderRecord } from './record';

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

// A replica whose WAL receiver cannot start because the primary still holds its slot for a connection that is gone (its
// pod was killed, or a partition ended it, and no reset reached the primary): the primary's walsender waits out
// wal_sender_timeout, on the primary's wall clock, so a clock stepped back there stretches it by the step. Meanwhile each
// new receiver is refused ("replication slot ... is active for PID ..."). The slot is this pod's own, and this pod's
// receiver does not stream: the walsender holding it serves no one, and the replica ends it (the network role may end its
// own role's backends).

export interface StaleSenderFacts {
  /**
   * This replica's WAL receiver has streamed for a second (a receiver refused by the primary ends at once: it never has,
   * although pg_stat_wal_receiver says "streaming" from the moment it starts); undefined when PostgreSQL could not say.
   */
  readonly streams: boolean | undefined;
  /** The walsender holding this pod's slot on the primary: its process, null when the slot is not active, undefined when the primary was not asked or did not answer. */
  readonly sender: number | null | undefined;
  /** The walsender an earlier look found holding the slot while this replica did not stream. */
  readonly seen: number | undefined;
}

export interface StaleSenderPlan {
  /** End this walsender on the primary (pg_terminate_backend, only while it still holds the slot). */
  readonly end: number | undefined;
  /** What the next look compares with. */
  readonly seen: number | undefined;
}

/**
 * Whether the walsender holding this replica's slot is stale: the same process held it at two looks, and this replica's
 * receiver streamed at neither. One look is not enough: a receiver that has just connected holds the slot before it
 * streams, and is left alone; a look that could not be made forgets what the last one saw.
 */
export function decideStaleSender(facts: StaleSenderFacts): StaleSenderPlan {
  if (facts.streams !== false || facts.sender === undefined || facts.sender === null) return { end: undefined, seen: undefined };
  if (facts.seen === facts.sender) return { end: facts.sender, seen: undefined };
  return { end: undefined, seen: facts.sender };
}

/**
 * The timeline on which a replica's streaming counts: the recorded primary's, or a later one (the record's is written
 * after a promotion). A replica ahead of where that timeline forked off its own restarts streaming its own timeline
 * every second, and must not count as streaming then. Without a stable record, any.
 */
export function countedTimeline(record: LeaderRecord | undefined): number {
  return record?.state === 'stable' ? record.timeline : 1;
}

export interface RecloneFacts {
  /** The recorded primary's timeline. */
  readonly recordTimeline: number;
  /** The WAL position this replica has received. */
  readonly position: string;
  /** The primary no longer has the WAL segment of `position` (primaryLacksWal); undefined when it could not say. */
  readonly primaryLacksWal: boolean | undefined;
  /** The timeline this replica's WAL receiver last streamed; undefined when PostgreSQL could not say. */
  readonly receiverTimeline: number | undefined;
  /** The recorded timeline's history file in this replica's pg_wal (fetched by its WAL receiver), undefined when absent. */
  readonly history: string | undefined;
}

/**
 * Why a replica that has not streamed for walCheckSeconds, although its primary answers, can never follow it (it then
 * asks for a new clone), or undefined when it may still: the primary no longer has the WAL it needs, or it is ahead of
 * where the recorded primary's timeline forked off its own (the old primary's last WAL reached it but not the new
 * primary), as the history file says.
 */
export function recloneReason(facts: RecloneFacts): string | undefined {
  if (facts.primaryLacksWal === true) return `the primary no longer has the WAL this replica needs (${facts.position})`;
  const { receiverTimeline: timeline, history } = facts;
  // The recorded timeline's history lists only the timelines before it: one at or after it never forked behind.
  if (timeline === undefined || history === undefined || !forkedBehind(history, timeline, facts.position)) return undefined;
  return `timeline ${facts.recordTimeline} of the primary forked off this replica's timeline ${timeline} at ${switchpointOf(history, timeline)}, `
    + `before the WAL this replica has (${facts.position}): it can never follow`;
}
