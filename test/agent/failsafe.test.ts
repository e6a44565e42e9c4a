// The failsafe: when a primary that cannot confirm itself asks its peers, and what their answer does to its fence.
import {
  decideFailsafe, FAILSAFE_FENCE_SECONDS, FAILSAFE_HOLDS_SECONDS, failsafeDue, FailsafeAnswerFacts, FailsafeDueFacts, failsafeHolds, fenceDeadline,
} from '../../src/agent/failsafe';

describe('fenceDeadline: hundredths of /proc/uptime, as the heartbeat fence reads them', () => {
  test.each([
    [1234.567, 10, 124456],
    [1234.5, 3, 123750],
    [0.009, 6, 600],
  ])('%s s + %s s: %s', (uptime, seconds, deadline) => {
    expect(fenceDeadline(uptime, seconds)).toBe(deadline);
  });
});

describe('failsafeHolds: whether the last hold still counts for the sidecar\'s rounds', () => {
  test.each([
    [0, true],
    [1.99, true],
    [2, false],
    [60, false],
    [Infinity, false],
  ])('held %s s ago: %s', (sinceHeld, holds) => {
    expect(failsafeHolds(sinceHeld)).toBe(holds);
  });
});

describe('failsafeDue: whether the primary asks the other pods now', () => {
  const due = (overrides: Partial<FailsafeDueFacts>) => failsafeDue({
    named: true, othersKnown: true, sinceConfirmed: 5, overdueAfter: 5, ...overrides,
  });

  test('unconfirmed for half the fence time, named, the others known: it asks', () => {
    expect(due({})).toBe(true);
    expect(due({ sinceConfirmed: 60 })).toBe(true);
  });

  test.each<[string, Partial<FailsafeDueFacts>]>([
    ['a confirmation merely late', { sinceConfirmed: 4.99 }],
    ['the record does not name it', { named: false }],
    ['the other pods not known yet', { othersKnown: false }],
  ])('%s: it does not', (_name, overrides) => {
    expect(due(overrides)).toBe(false);
  });
});

describe('decideFailsafe: what the other pods\' answer does to the heartbeat fence', () => {
  const answer = (overrides: Partial<FailsafeAnswerFacts>) => decideFailsafe({
    automaticFailover: false,
    held: true,
    confirmedMeanwhile: false,
    stillNamed: true,
    askedUptime: 500.25,
    renewDeadlineSeconds: 6,
    deadlineWritten: 50_000,
    sinceHeld: 0.5,
    ...overrides,
  });

  test('without automatic failover: every pod replied, the deadline FAILSAFE_FENCE_SECONDS after the question', () => {
    expect(FAILSAFE_FENCE_SECONDS).toBe(3);
    expect(answer({})).toEqual({ hold: true, deadline: 50_325, say: false });
  });

  test('without automatic failover: never earlier than the deadline written last (a read\'s, further on)', () => {
    expect(answer({ deadlineWritten: 50_325 })).toEqual({ hold: true, deadline: undefined, say: false });
    expect(answer({ deadlineWritten: 50_324 })).toEqual({ hold: true, deadline: 50_325, say: false });
    expect(answer({ deadlineWritten: -Infinity })).toEqual({ hold: true, deadline: 50_325, say: false });
  });

  test('with automatic failover: the renew deadline after the question, as a renewal gives, whatever was written', () => {
    expect(answer({ automaticFailover: true, deadlineWritten: 90_000 })).toEqual({ hold: true, deadline: 50_625, say: false });
  });

  test('it says so in the log when it had not held for FAILSAFE_HOLDS_SECONDS', () => {
    expect(answer({ sinceHeld: FAILSAFE_HOLDS_SECONDS })).toMatchObject({ hold: true, say: true });
    expect(answer({ sinceHeld: FAILSAFE_HOLDS_SECONDS - 0.01 })).toMatchObject({ hold: true, say: false });
    expect(answer({ sinceHeld: Infinity, automaticFailover: true })).toMatchObject({ hold: true, say: true });
  });

  test.each<[string, Partial<FailsafeAnswerFacts>]>([
    ['a pod did not reply', { held: false }],
    ['a renewal or read came meanwhile', { confirmedMeanwhile: true }],
    ['another primary recorded meanwhile', { stillNamed: false }],
    ['with automatic failover, a pod did not reply', { held: false, automaticFailover: true }],
  ])('%s: nothing held, the deadline stays', (_name, overrides) => {
    expect(answer(overrides)).toEqual({ hold: false });
  });
});
