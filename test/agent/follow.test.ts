// A replica following a new primary: when its WAL receiver is ended, and when it is given time.
import { decideFollow, decideStaleSender, FOLLOW_HANG_SECONDS, FollowFacts, StaleSenderFacts } from '../../src/agent/follow';

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
