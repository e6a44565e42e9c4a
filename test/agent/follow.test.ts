// A replica following a new primary: when its WAL receiver is ended, and when it is given time.
import {
  countedTimeline, decideFollow, decideStaleSender, FOLLOW_HANG_SECONDS, FollowFacts, recloneReason, RecloneFacts, StaleSenderFacts,
} from '../../src/agent/follow';
import { FailingOverRecord, StableRecord } from '../../src/agent/record';

const facts = (overrides: Partial<FollowFacts>): FollowFacts => ({
  changed: false, streaming: false, receiver: 41, seen: undefined, now: 100, ...overrides,
});

describe('decideFollow: what a replica does about its WAL receiver when it looks', () => {
  test.each<[string, Partial<FollowFacts>, ReturnType<typeof decideFollow>]>([
    ['a new primary, not streaming on its timeline: the receiver ended at once and the configuration reloaded, whatever was seen',
      { changed: true, seen: { pid: 41, since: 99.5 } }, { end: 41, reload: true, seen: undefined, following: true }],
    ['a new primary and no receiver running: the reload alone (it wakes the startup process)',
      { changed: true, receiver: undefined }, { end: undefined, reload: true, seen: undefined, following: true }],
    ['a new primary, streaming on its timeline already: left alone',
      { changed: true, streaming: true }, { end: undefined, reload: false, seen: undefined, following: false }],
    ['streaming on the record\'s timeline: left alone, and nothing more to look at',
      { streaming: true, seen: { pid: 41, since: 0 } }, { end: undefined, reload: false, seen: undefined, following: false }],
    ['PostgreSQL could not say: nothing done, what was seen kept, looked at again',
      { streaming: undefined, seen: { pid: 41, since: 97 } }, { end: undefined, reload: false, seen: { pid: 41, since: 97 }, following: true }],
    ['a receiver not seen before: given FOLLOW_HANG_SECONDS from now',
      { seen: undefined }, { end: undefined, reload: false, seen: { pid: 41, since: 100 }, following: true }],
    ['another receiver than the one seen (the startup process started a new one): given its own time',
      { seen: { pid: 40, since: 90 } }, { end: undefined, reload: false, seen: { pid: 41, since: 100 }, following: true }],
    ['the same receiver, not yet FOLLOW_HANG_SECONDS without streaming: given the rest',
      { seen: { pid: 41, since: 100 - FOLLOW_HANG_SECONDS + 0.01 } },
      { end: undefined, reload: false, seen: { pid: 41, since: 97.01 }, following: true }],
    ['the same receiver, FOLLOW_HANG_SECONDS without streaming (a connection hanging on a dead address): ended, no reload',
      { seen: { pid: 41, since: 100 - FOLLOW_HANG_SECONDS } }, { end: 41, reload: false, seen: undefined, following: true }],
    ['no receiver running: nothing to end, nothing seen',
      { receiver: undefined, seen: { pid: 41, since: 0 } }, { end: undefined, reload: false, seen: undefined, following: true }],
  ])('%s', (_name, overrides, plan) => {
    expect(decideFollow(facts(overrides))).toEqual(plan);
  });

  test('a hanging receiver is ended FOLLOW_HANG_SECONDS after it was first seen, and its successor gets as long', () => {
    let seen: FollowFacts['seen'];
    const look = (now: number, receiver: number) => {
      const plan = decideFollow(facts({ now, receiver, seen }));
      seen = plan.seen;
      return plan.end;
    };
    expect([look(1, 7), look(2, 7), look(3, 7), look(4, 7)]).toEqual([undefined, undefined, undefined, 7]);
    expect([look(5, 8), look(7, 8), look(8, 8)]).toEqual([undefined, undefined, 8]);
  });
});

describe('decideStaleSender: whether the walsender holding a replica\'s slot on the primary serves no one', () => {
  test.each<[string, StaleSenderFacts, ReturnType<typeof decideStaleSender>]>([
    ['first seen holding the slot while the receiver does not stream: remembered, not ended (a receiver may just be connecting)',
      { streams: false, sender: 7, seen: undefined }, { end: undefined, seen: 7 }],
    ['the same walsender at the next look, the receiver still not streaming: ended',
      { streams: false, sender: 7, seen: 7 }, { end: 7, seen: undefined }],
    ['another walsender than the one seen: remembered anew, not ended',
      { streams: false, sender: 8, seen: 7 }, { end: undefined, seen: 8 }],
    ['the receiver streams: the walsender is its own, nothing remembered',
      { streams: true, sender: 7, seen: 7 }, { end: undefined, seen: undefined }],
    ['PostgreSQL could not say whether it streams: nothing done, nothing remembered',
      { streams: undefined, sender: 7, seen: 7 }, { end: undefined, seen: undefined }],
    ['the slot is not held: nothing to end',
      { streams: false, sender: null, seen: 7 }, { end: undefined, seen: undefined }],
    ['the primary could not be asked (which never means the slot is free): nothing done, nothing remembered',
      { streams: false, sender: undefined, seen: 7 }, { end: undefined, seen: undefined }],
  ])('%s', (_name, looked, plan) => {
    expect(decideStaleSender(looked)).toEqual(plan);
  });

  test('looks in a row: a walsender is ended at its second look, and one that a streaming look came between is not', () => {
    let seen: number | undefined;
    const look = (streams: boolean, sender: number | null) => {
      const plan = decideStaleSender({ streams, sender, seen });
      seen = plan.seen;
      return plan.end;
    };
    expect([look(false, 5), look(true, 5), look(false, 5), look(false, 5)]).toEqual([undefined, undefined, undefined, 5]);
    expect([look(false, null), look(false, 6), look(false, 6)]).toEqual([undefined, undefined, 6]);
  });
});

describe('countedTimeline: the timeline on which a replica\'s streaming counts', () => {
  const stable: StableRecord = { version: 1, state: 'stable', primary: 'pg-0', epoch: 4, timeline: 3, systemIdentifier: '7000', sync: [] };
  const failing: FailingOverRecord = { ...stable, state: 'failing-over', previous: 'pg-0', target: 'pg-1', job: 'f-1' };

  test('the stable record\'s timeline; any (1) without one', () => {
    expect(countedTimeline(stable)).toBe(3);
    expect(countedTimeline(failing)).toBe(1);
    expect(countedTimeline(undefined)).toBe(1);
  });
});

// GIVEN a replica of the primary on timeline 3 that has not streamed for walCheckSeconds, at 0/6000100; WHEN it looks at
// why; THEN the reason it asks for a new clone, or none.
describe('recloneReason: why a replica that does not stream can never follow its primary', () => {
  // 00000003.history: timeline 1 ended at 0/4024DD0, timeline 2 at 0/6000A8.
  const history = '1\t0/4024DD0\tno recovery target specified\n\n2\t0/6000A8\tno recovery target specified\n';
  const reclone = (overrides: Partial<RecloneFacts>): RecloneFacts => ({
    recordTimeline: 3, position: '0/6000100', primaryLacksWal: false, receiverTimeline: 2, history, ...overrides,
  });
  const forked = 'timeline 3 of the primary forked off this replica\'s timeline 2 at 0/6000A8, before the WAL this replica has (0/6000100): it can never follow';

  test('the primary no longer has the WAL it needs, whatever its timeline', () => {
    const lacks = 'the primary no longer has the WAL this replica needs (0/6000100)';
    expect(recloneReason(reclone({ primaryLacksWal: true }))).toBe(lacks);
    expect(recloneReason(reclone({ primaryLacksWal: true, receiverTimeline: 3, history: undefined }))).toBe(lacks);
  });

  test('ahead of where the primary\'s timeline forked off its own: it can never follow', () => {
    expect(recloneReason(reclone({}))).toBe(forked);
    expect(recloneReason(reclone({ primaryLacksWal: undefined }))).toBe(forked);
    expect(recloneReason(reclone({ receiverTimeline: 1, position: '0/5000000' }))).toBe(
      'timeline 3 of the primary forked off this replica\'s timeline 1 at 0/4024DD0, before the WAL this replica has (0/5000000): it can never follow');
  });

  test.each<[string, Partial<RecloneFacts>]>([
    ['at the fork', { position: '0/6000A8' }],
    ['behind the fork', { position: '0/600000' }],
    ['on the primary\'s timeline', { receiverTimeline: 3 }],
    ['on a later timeline than the record\'s', { receiverTimeline: 4 }],
    ['its timeline unknown', { receiverTimeline: undefined }],
    ['no history file', { history: undefined }],
    ['a history file that does not list its timeline', { history: '1\t0/4024DD0\tx\n' }],
  ])('none: %s (it may still follow)', (_name, overrides) => {
    expect(recloneReason(reclone(overrides))).toBeUndefined();
  });
});
