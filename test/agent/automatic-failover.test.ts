// Automatic failover, decided from facts: the primary renews (or fences, or lets the lease lapse), a replica's view of
// the lease lapses, and a replica whose view lapsed takes over only if it is the replica the failover job would promote.
import {
  AutomaticFailoverFacts, decideTakeover, FAILOVER_REQUEST, FailoverRequestFacts, lapsed, leaseHeld, leaseKey, leaseShown, LeaseState, leaseStateOf,
  NO_LEASE, PAUSE_ANNOTATION, primaryRenewal, requestUnanswered, TakeoverFacts, WAL_POSITION_ANNOTATION,
} from '../../src/agent/automatic-failover';
import { Candidate } from '../../src/agent/failover-target';
import { FailingOverRecord, LeaderRecord, LeaseObject, StableRecord, SwitchingOverRecord } from '../../src/agent/record';

// GIVEN what the agent of pod pg-1 knows; WHEN it decides; THEN exactly what it decides, and why.
const ME = 'pg-1';
const stableMe: StableRecord = { version: 1, state: 'stable', primary: ME, epoch: 4, timeline: 3, systemIdentifier: '7000', sync: [] };
const stableOther: StableRecord = { ...stableMe, primary: 'pg-0' };
const switching: SwitchingOverRecord = {
  version: 1, state: 'switching-over', epoch: 5, timeline: 3, systemIdentifier: '7000', sync: [], previous: 'pg-0', target: ME, job: 's-1', checkpoint: undefined,
};
const failing: FailingOverRecord = { version: 1, state: 'failing-over', epoch: 5, timeline: 3, systemIdentifier: '7000', sync: [], previous: 'pg-0', target: ME, job: 'f-1' };

const heldBy = (holder: string): LeaseState => ({ renewTime: '2024-05-01T10:00:00.000000Z', leaseDurationSeconds: 15, holder, walPosition: undefined, paused: false, failoverRequest: undefined });

function lease(overrides: Partial<AutomaticFailoverFacts> = {}): AutomaticFailoverFacts {
  return {
    leaseSeconds: 15,
    renewSeconds: 5,
    renewDeadlineSeconds: 10,
    primaryRestartGraceSeconds: 30,
    minimumIntervalSeconds: 60,
    secondsSinceRenewed: 0,
    secondsSinceServing: 0,
    secondsSinceLeaseChange: 0,
    secondsSincePrimaryChange: Infinity,
    lease: heldBy(ME),
    ...overrides,
  };
}

describe('leaseStateOf: the lease part of the record\'s Lease', () => {
  test('a renewed lease: its renew time, duration, holder, published WAL position and pause, as written', () => {
    expect(leaseStateOf({
      metadata: {
        resourceVersion: '12',
        annotations: { [WAL_POSITION_ANNOTATION]: '0/5000000', [PAUSE_ANNOTATION]: 'true', [FAILOVER_REQUEST]: ' any ', 'postgres.cdk8s.io/primary': 'pg-0' },
      },
      spec: { holderIdentity: 'pg-0', renewTime: '2024-05-01T10:00:00.000000Z', leaseDurationSeconds: 15, acquireTime: '2024-05-01T09:00:00.000000Z' },
    })).toEqual({ renewTime: '2024-05-01T10:00:00.000000Z', leaseDurationSeconds: 15, holder: 'pg-0', walPosition: '0/5000000', paused: true, failoverRequest: 'any' });
  });

  test.each<[string, LeaseObject]>([
    ['no spec and no metadata', {}],
    ['a null spec', { spec: null, metadata: { annotations: {} } }],
    ['a spec that is not an object', { spec: 'renewTime', metadata: {} }],
    ['metadata without annotations', { metadata: { resourceVersion: '1' }, spec: {} }],
    ['a record without automatic failover: only the holder mirror is there, and it is empty', { metadata: { annotations: { 'postgres.cdk8s.io/primary': '' } }, spec: { holderIdentity: '' } }],
  ])('%s: no lease', (_name, given) => {
    expect(leaseStateOf(given)).toEqual(NO_LEASE);
    expect(leaseStateOf(given)).toEqual({
      renewTime: undefined, leaseDurationSeconds: undefined, holder: undefined, walPosition: undefined, paused: false, failoverRequest: undefined,
    });
  });

  test('a spec that is a function, whatever it carries, is not read', () => {
    // No API answer is a function; only an object spec is read (typeof), whatever properties something else has.
    const spec = Object.assign(() => undefined, { renewTime: 'T1', leaseDurationSeconds: 15, holderIdentity: 'pg-0' });
    expect(leaseStateOf({ spec })).toEqual(NO_LEASE);
  });

  test.each<[string, unknown, number | undefined]>([
    ['one second', 1, 1],
    ['fifteen seconds', 15, 15],
    ['0: no duration', 0, undefined],
    ['negative: no duration', -15, undefined],
    ['not a whole number: no duration', 1.5, undefined],
    ['a number as a string: no duration', '15', undefined],
    ['null: no duration', null, undefined],
    ['NaN: no duration', NaN, undefined],
    ['Infinity: no duration', Infinity, undefined],
  ])('leaseDurationSeconds %s', (_name, duration, expected) => {
    expect(leaseStateOf({ spec: { renewTime: 'T1', holderIdentity: 'pg-0', leaseDurationSeconds: duration } }).leaseDurationSeconds).toBe(expected);
  });

  test.each<[string, unknown, string | undefined]>([
    ['a time', 'T1', 'T1'],
    ['empty: none', '', undefined],
    ['a number: none', 5, undefined],
    ['null: none', null, undefined],
  ])('renewTime, holderIdentity and the WAL position: %s', (_name, value, expected) => {
    const state = leaseStateOf({
      metadata: { annotations: { [WAL_POSITION_ANNOTATION]: value } },
      spec: { renewTime: value, holderIdentity: value, leaseDurationSeconds: 15 },
    });
    expect([state.renewTime, state.holder, state.walPosition]).toEqual([expected, expected, expected]);
  });

  test.each<[string, unknown, string | undefined]>([
    ['a pod', 'pg-2', 'pg-2'],
    ['any, with spaces around', '  any\n', 'any'],
    ['empty: none', '', undefined],
    ['only spaces: none', '   ', undefined],
    ['a number: none (annotations are strings)', 2, undefined],
    ['null: none', null, undefined],
  ])('the failover request: %s', (_name, value, expected) => {
    expect(leaseStateOf({ metadata: { annotations: { [FAILOVER_REQUEST]: value } }, spec: {} }).failoverRequest).toBe(expected);
  });

  test.each<[string, unknown, boolean]>([
    ['"true" pauses', 'true', true],
    ['"false" does not', 'false', false],
    ['"True" does not (only "true")', 'True', false],
    ['"" does not', '', false],
    ['a boolean true does not (annotations are strings)', true, false],
  ])('the pause annotation: %s', (_name, value, expected) => {
    expect(leaseStateOf({ metadata: { annotations: { [PAUSE_ANNOTATION]: value } }, spec: {} }).paused).toBe(expected);
  });

  test('the annotations\' names', () => {
    expect([PAUSE_ANNOTATION, WAL_POSITION_ANNOTATION, FAILOVER_REQUEST]).toEqual(['failover.postgres.cdk8s.io/paused', 'failover.postgres.cdk8s.io/wal-position', 'failover.postgres.cdk8s.io/target']);
  });
});

describe('leaseHeld: whether the record\'s primary holds a lease', () => {
  test('a renew time and a duration, held by the recorded primary: held', () => {
    expect(leaseHeld(heldBy('pg-0'), stableOther)).toBe(true);
  });

  test.each<[string, LeaseState, LeaderRecord | undefined]>([
    ['no record', heldBy('pg-0'), undefined],
    ['no lease at all', NO_LEASE, stableOther],
    ['no renew time', { ...heldBy('pg-0'), renewTime: undefined }, stableOther],
    ['no duration', { ...heldBy('pg-0'), leaseDurationSeconds: undefined }, stableOther],
    ['no holder', { ...heldBy('pg-0'), holder: undefined }, stableOther],
    ['a holder other than the recorded primary', heldBy('pg-2'), stableOther],
    ['a record switching over (no primary), a lease without holder', { ...heldBy('pg-0'), holder: undefined }, switching],
    ['a record failing over (no primary), a lease without holder', { ...heldBy('pg-0'), holder: undefined }, failing],
    ['a record switching over, a lease held by its old primary', heldBy('pg-0'), switching],
  ])('not held: %s', (_name, state, record) => {
    expect(leaseHeld(state, record)).toBe(false);
  });
});

describe('leaseShown: whether the Lease shows a lease for a primary without automatic failover to remove', () => {
  test.each<[string, LeaseState, boolean]>([
    ['a renew time and a duration', heldBy('pg-0'), true],
    ['a renew time alone', { ...NO_LEASE, renewTime: '2024-05-01T10:00:00.000000Z' }, true],
    ['a duration alone', { ...NO_LEASE, leaseDurationSeconds: 15 }, true],
    ['a holder alone (the record\'s own, not a lease)', { ...NO_LEASE, holder: 'pg-0' }, false],
    ['annotations alone', { ...NO_LEASE, walPosition: '0/3000060', paused: true, failoverRequest: 'pg-1' }, false],
    ['nothing', NO_LEASE, false],
  ])('%s: %s', (_name, state, shown) => {
    expect(leaseShown(state)).toBe(shown);
  });
});

describe('leaseKey: what resets a replica\'s clock', () => {
  test.each<[string, LeaderRecord | undefined, LeaseState, string]>([
    ['the record and the renew time', stableOther, heldBy('pg-0'), 'epoch 4, stable, primary pg-0, timeline 3|2024-05-01T10:00:00.000000Z'],
    ['no renew time: the record alone', stableOther, NO_LEASE, 'epoch 4, stable, primary pg-0, timeline 3|'],
    ['no record, no lease', undefined, NO_LEASE, 'no leader record|'],
  ])('%s', (_name, record, state, expected) => {
    expect(leaseKey(record, state)).toBe(expected);
  });

  test('a renewal, a new epoch or a new primary each change it; the holder, duration and WAL position do not', () => {
    const key = leaseKey(stableOther, heldBy('pg-0'));
    expect(leaseKey(stableOther, { ...heldBy('pg-0'), renewTime: 'T2' })).not.toBe(key);
    expect(leaseKey({ ...stableOther, epoch: 5 }, heldBy('pg-0'))).not.toBe(key);
    expect(leaseKey({ ...stableOther, primary: 'pg-2' }, heldBy('pg-0'))).not.toBe(key);
    expect(leaseKey(stableOther, { ...heldBy('pg-2'), leaseDurationSeconds: 30, walPosition: '0/1', paused: true })).toBe(key);
  });
});

describe('primaryRenewal: whether the recorded primary renews its lease', () => {
  const lapseReason = 'PostgreSQL has not served for 30s (primaryRestartGraceSeconds): no longer renewing the lease, '
    + 'for a replica to take over once it lapses (epoch 4, stable, primary pg-1, timeline 3)';

  test.each<[string, Partial<AutomaticFailoverFacts>, boolean, ReturnType<typeof primaryRenewal>]>([
    // Serving.
    ['renewed just now: nothing to do', {}, true, { renew: 'no' }],
    ['renewed one second before renewSeconds: nothing to do', { secondsSinceRenewed: 4 }, true, { renew: 'no' }],
    ['renewSeconds since the last renewal began: due', { secondsSinceRenewed: 5 }, true, { renew: 'due' }],
    ['one second before the renew deadline: due, a failure retried', { secondsSinceRenewed: 9 }, true, { renew: 'due' }],
    ['exactly at the renew deadline: renew or fence', { secondsSinceRenewed: 10 }, true, { renew: 'or-fence' }],
    ['past the renew deadline: renew or fence', { secondsSinceRenewed: 11 }, true, { renew: 'or-fence' }],
    ['never renewed since the agent started: renew or fence', { secondsSinceRenewed: Infinity }, true, { renew: 'or-fence' }],
    ['the Lease shows no lease (a new primary, or one turning automatic failover on): due at once', { lease: NO_LEASE }, true, { renew: 'due' }],
    ['the lease names another holder: due at once', { lease: heldBy('pg-0') }, true, { renew: 'due' }],
    ['the lease has no duration: due at once', { lease: { ...heldBy(ME), leaseDurationSeconds: undefined } }, true, { renew: 'due' }],
    ['serving: PostgreSQL\'s last service long ago is no reason to lapse', { secondsSinceServing: 1000 }, true, { renew: 'no' }],
    // Not serving (a restart, a crash): renews during the grace, never fences for it.
    ['not serving, one second before the grace ends, renewed just now: nothing to do', { secondsSinceServing: 29 }, false, { renew: 'no' }],
    ['not serving within the grace, renewal due: due', { secondsSinceServing: 29, secondsSinceRenewed: 5 }, false, { renew: 'due' }],
    ['not serving within the grace, past the renew deadline: due, not fenced (it does not serve)', { secondsSinceServing: 29, secondsSinceRenewed: 10 }, false, { renew: 'due' }],
    ['not serving within the grace, no lease shown: due', { secondsSinceServing: 0, lease: NO_LEASE }, false, { renew: 'due' }],
    ['not serving for exactly the grace: the lease lapses', { secondsSinceServing: 30 }, false, { renew: 'lapse', reason: lapseReason }],
    ['not serving past the grace, even with a renewal due: the lease lapses', { secondsSinceServing: 31, secondsSinceRenewed: 100 }, false, { renew: 'lapse', reason: lapseReason }],
  ])('%s', (_name, overrides, serving, expected) => {
    expect(primaryRenewal(lease(overrides), stableMe, serving)).toEqual(expected);
  });

  test('the reason names the grace and the record as they are', () => {
    expect(primaryRenewal(lease({ primaryRestartGraceSeconds: 45, secondsSinceServing: 45 }), { ...stableMe, epoch: 9, sync: ['pg-0', 'pg-2'] }, false)).toEqual({
      renew: 'lapse',
      reason: 'PostgreSQL has not served for 45s (primaryRestartGraceSeconds): no longer renewing the lease, '
        + 'for a replica to take over once it lapses (epoch 9, stable, primary pg-1, timeline 3, synchronous standbys pg-0,pg-2)',
    });
  });
});

describe('lapsed: whether a replica\'s view of the lease has lapsed', () => {
  const lapsedView = { lease: heldBy('pg-0'), secondsSinceLeaseChange: 15 };

  test.each<[string, Partial<AutomaticFailoverFacts>, LeaderRecord | undefined, { lapsed: boolean; why: string }]>([
    ['not changed for exactly leaseSeconds: lapsed', lapsedView, stableOther,
      { lapsed: true, why: 'the lease of pg-0 has lapsed: not renewed for 15s' }],
    ['not changed for longer, the primary changed long before minimumIntervalSeconds: lapsed',
      { ...lapsedView, secondsSinceLeaseChange: 100, secondsSincePrimaryChange: 60 }, stableOther,
      { lapsed: true, why: 'the lease of pg-0 has lapsed: not renewed for 15s' }],
    ['one second before leaseSeconds: held', { ...lapsedView, secondsSinceLeaseChange: 14 }, stableOther, { lapsed: false, why: 'the lease is held' }],
    ['no record: nothing to take over from', lapsedView, undefined, { lapsed: false, why: 'no primary to take over from' }],
    ['a switchover under way: nothing to take over from', { ...lapsedView, lease: { ...heldBy('pg-0'), holder: undefined } }, switching,
      { lapsed: false, why: 'no primary to take over from' }],
    ['a failover under way: nothing to take over from', lapsedView, failing, { lapsed: false, why: 'no primary to take over from' }],
    ['the record names this pod: nothing to take over from', { ...lapsedView, lease: heldBy(ME) }, stableMe, { lapsed: false, why: 'no primary to take over from' }],
    ['the primary holds no lease (its agent runs without automatic failover)', { ...lapsedView, lease: NO_LEASE }, stableOther,
      { lapsed: false, why: 'pg-0 holds no lease (it runs without automatic failover)' }],
    ['the lease names a holder other than the primary: not its lease', { ...lapsedView, lease: heldBy('pg-2') }, stableOther,
      { lapsed: false, why: 'pg-0 holds no lease (it runs without automatic failover)' }],
    ['paused ("true"): held back', { ...lapsedView, lease: { ...heldBy('pg-0'), paused: true } }, stableOther,
      { lapsed: false, why: 'the lease of pg-0 has lapsed, but automatic failover is paused (failover.postgres.cdk8s.io/paused)' }],
    ['the primary changed one second before minimumIntervalSeconds: held back', { ...lapsedView, secondsSincePrimaryChange: 59 }, stableOther,
      { lapsed: false, why: 'the lease of pg-0 has lapsed, but the primary changed less than 60s ago (minimumFailoverIntervalSeconds)' }],
    ['paused and too soon: the pause is said', { ...lapsedView, secondsSincePrimaryChange: 0, lease: { ...heldBy('pg-0'), paused: true } }, stableOther,
      { lapsed: false, why: 'the lease of pg-0 has lapsed, but automatic failover is paused (failover.postgres.cdk8s.io/paused)' }],
    ['held and paused: held (the pause says nothing until it lapses)', { ...lapsedView, secondsSinceLeaseChange: 0, lease: { ...heldBy('pg-0'), paused: true } }, stableOther,
      { lapsed: false, why: 'the lease is held' }],
  ])('%s', (_name, overrides, record, expected) => {
    expect(lapsed(lease(overrides), record, ME)).toEqual(expected);
  });

  test('the reasons name the settings as they are', () => {
    const facts = lease({ leaseSeconds: 40, minimumIntervalSeconds: 300, secondsSinceLeaseChange: 40, secondsSincePrimaryChange: 299, lease: heldBy('pg-0') });
    expect(lapsed(facts, stableOther, ME).why).toBe('the lease of pg-0 has lapsed, but the primary changed less than 300s ago (minimumFailoverIntervalSeconds)');
    expect(lapsed({ ...facts, secondsSincePrimaryChange: 300 }, stableOther, ME)).toEqual({ lapsed: true, why: 'the lease of pg-0 has lapsed: not renewed for 40s' });
  });
});

const r = (pod: string, lsn: string, timeline?: number): Candidate => ({ pod, role: 'replica', lsn, ...timeline === undefined ? {} : { timeline } });
const gone = (pod: string): Candidate => ({ pod, role: 'unreachable', lsn: '?' });

/** What the agent of pg-1 knows when it considers taking over from pg-0: the most advanced replica, on the record's timeline. */
function takeover(overrides: Partial<TakeoverFacts> = {}): TakeoverFacts {
  return {
    podName: ME,
    record: stableOther,
    self: r(ME, '0/5000000'),
    systemIdentifier: '7000',
    timeline: 3,
    peers: [gone('pg-0'), r('pg-2', '0/4000000')],
    otherPods: ['pg-2', 'pg-0'],
    syncReplicas: 0,
    maximumLagBytes: 1_048_576,
    primaryWalPosition: '0/5000000',
    leaseSeconds: 10,
    secondsSincePrimaryAnswered: Infinity,
    cause: { kind: 'lease' },
    ...overrides,
  };
}

describe('decideTakeover: whether a replica whose view of the lease lapsed takes over', () => {
  const tookOver = (sync: string[] = []): StableRecord => ({ version: 1, state: 'stable', primary: ME, epoch: 5, timeline: 3, systemIdentifier: '7000', sync });

  test('the most advanced replica takes over: itself the primary, a new epoch, no synchronous standbys when asynchronous', () => {
    expect(decideTakeover(takeover())).toEqual({
      kind: 'take-over',
      record: tookOver(),
      reason: 'AUTOMATIC FAILOVER: the lease of pg-0 lapsed and this pod is the replica to promote (promoting pg-1 (WAL 0/5000000) of pg-1 pg-2): '
        + 'recording it as the primary (epoch 5, stable, primary pg-1, timeline 3), then promoting it',
    });
  });

  test('a replica defers to a peer further ahead', () => {
    expect(decideTakeover(takeover({ peers: [gone('pg-0'), r('pg-2', '0/5000001')] }))).toEqual({
      kind: 'wait', reason: 'not taking over from pg-0: pg-2 is the replica to promote (promoting pg-2 (WAL 0/5000001) of pg-1 pg-2)',
    });
  });

  test.each<[string, Partial<TakeoverFacts>, string]>([
    ['a peer still serves as a primary: the old one, back', { peers: [{ pod: 'pg-0', role: 'primary', lsn: '0/6000000' }, r('pg-2', '0/4000000')] },
      'pg-0 still serves as a primary'],
    ['two peers serve as primaries: both are named', { peers: [{ pod: 'pg-0', role: 'primary', lsn: '0/1' }, { pod: 'pg-2', role: 'primary', lsn: '0/1' }] },
      'pg-0, pg-2 still serves as a primary'],
    ['this pod is starting', { self: { pod: ME, role: 'starting', lsn: '?' } }, 'this pod\'s PostgreSQL is not a replica that answers (starting at ?)'],
    ['this pod is down, whatever position it had', { self: { pod: ME, role: 'down', lsn: '0/9000000' } }, 'this pod\'s PostgreSQL is not a replica that answers (down at 0/9000000)'],
    ['this pod is a replica that does not say its position', { self: r(ME, '?') }, 'this pod\'s PostgreSQL is not a replica that answers (replica at ?)'],
    ['this pod is a primary already (not a replica)', { self: { pod: ME, role: 'primary', lsn: '0/5000000' } },
      'this pod\'s PostgreSQL is not a replica that answers (primary at 0/5000000)'],
    ['this pod\'s data is another cluster\'s', { systemIdentifier: '8000' }, 'this pod\'s data is not the recorded cluster\'s (system identifier 8000, recorded 7000)'],
    ['this pod\'s system identifier could not be read', { systemIdentifier: undefined }, 'this pod\'s data is not the recorded cluster\'s (system identifier unknown, recorded 7000)'],
    ['one byte more than maximumLagBytes behind the published position', { primaryWalPosition: '0/5100001' },
      'this replica is 1048577 bytes behind the primary\'s last published position 0/5100001 (maximumLagOnFailover 1048576)'],
    ['behind across the high word', { self: r(ME, '0/FFFFFFFF'), peers: [gone('pg-0')], primaryWalPosition: '1/0', maximumLagBytes: 0 },
      'this replica is 1 bytes behind the primary\'s last published position 1/0 (maximumLagOnFailover 0)'],
    ['no replica the job could promote: refuses as the job would', { self: r(ME, '0/5000000'), peers: [gone('pg-0'), gone('pg-2')], syncReplicas: 1, record: { ...stableOther, sync: ['pg-2'] } },
      'synchronous mode: 0 of the 1 recorded synchronous standbys (pg-2) answer; 1 are needed to be sure of every acknowledged commit. '
        + 'no replica may be promoted without losing acknowledged commits (pg-0=unreachable@? pg-1=replica@0/5000000 pg-2=unreachable@?). '
        + 'Bring back the missing pods and run the job again, or set FAILOVER_ACCEPT_DATA_LOSS=true to promote the most advanced replica anyway'],
  ])('waits: %s', (_name, overrides, reason) => {
    expect(decideTakeover(takeover(overrides))).toEqual({ kind: 'wait', reason: `not taking over from pg-0: ${reason}` });
  });

  test.each<[string, Partial<TakeoverFacts>]>([
    ['exactly maximumLagBytes behind the published position', { primaryWalPosition: '0/5100000' }],
    ['ahead of the published position', { primaryWalPosition: '0/4000000' }],
    ['no published position: no lag is known', { primaryWalPosition: undefined, maximumLagBytes: 0 }],
    ['a published position that is not an LSN: no lag is known', { primaryWalPosition: 'garbage', maximumLagBytes: 0 }],
    ['maximumLagBytes 0 and exactly at the published position', { primaryWalPosition: '0/5000000', maximumLagBytes: 0 }],
    ['a record without system identifier: any data', { record: { ...stableOther, systemIdentifier: undefined }, systemIdentifier: '8000' }],
    ['a record without system identifier, and none read', { record: { ...stableOther, systemIdentifier: undefined }, systemIdentifier: undefined }],
    ['the peers that are down, empty or starting do not hold it back', {
      peers: [{ pod: 'pg-0', role: 'down', lsn: '0/0' }, { pod: 'pg-2', role: 'starting', lsn: '?' }, { pod: 'pg-3', role: 'empty', lsn: '?' }],
    }],
  ])('takes over: %s', (_name, overrides) => {
    const given = takeover(overrides);
    const decided = decideTakeover(given);
    expect(decided.kind).toBe('take-over');
    expect(decided).toMatchObject({ record: { ...tookOver(), systemIdentifier: given.record.systemIdentifier } });
    expect(decided.reason).toMatch(/^AUTOMATIC FAILOVER: the lease of pg-0 lapsed and this pod is the replica to promote \(promoting pg-1 /);
  });

  test.each<[string, string, Candidate[], string]>([
    ['tied with a peer after it by name: this pod (the first name) takes over', ME, [gone('pg-0'), r('pg-2', '0/5000000')], ME],
    ['tied with a peer before it by name: the peer', 'pg-2', [gone('pg-0'), r('pg-1', '0/5000000')], 'pg-1'],
    ['tied with two peers listed in reverse order: the first name', 'pg-3', [r('pg-2', '0/5000000'), r('pg-1', '0/5000000'), gone('pg-0')], 'pg-1'],
    ['tied with two peers listed out of order: the first name, this pod', ME, [r('pg-3', '0/5000000'), r('pg-2', '0/5000000'), gone('pg-0')], ME],
    ['names order as text: pg-10 before pg-2', 'pg-2', [r('pg-10', '0/5000000'), gone('pg-0')], 'pg-10'],
  ])('ties go to the first pod by name, so that peers that see the same agree: %s', (_name, podName, peers, expected) => {
    const decided = decideTakeover(takeover({ podName, self: r(podName, '0/5000000'), peers }));
    if (expected === podName) {
      expect(decided).toMatchObject({ kind: 'take-over', record: { primary: podName } });
    } else {
      expect(decided).toEqual({ kind: 'wait', reason: expect.stringMatching(new RegExp(`^not taking over from pg-0: ${expected} is the replica to promote \\(promoting ${expected} `)) });
    }
  });

  test('every pod that sees the same survey agrees on one pod to take over', () => {
    const survey = [gone('pg-0'), r('pg-1', '0/5000000'), r('pg-2', '0/5000000'), r('pg-3', '0/4000000')];
    const decisions = survey.filter(c => c.role === 'replica').map(self => decideTakeover(takeover({
      podName: self.pod, self, peers: survey.filter(c => c.pod !== self.pod), otherPods: survey.map(c => c.pod).filter(pod => pod !== self.pod),
    })));
    expect(decisions.map(d => d.kind)).toEqual(['take-over', 'wait', 'wait']);
  });

  test('the old primary, answering as a replica, is never the replica to promote (its data may be ahead of what it sent)', () => {
    // pg-0 lost its lease and came back as a replica, further ahead than any other: it is no candidate.
    expect(decideTakeover(takeover({ peers: [r('pg-0', '0/6000000'), r('pg-2', '0/4000000')] }))).toMatchObject({ kind: 'take-over', record: tookOver() });
  });

  test('a primary that answered lately may serve on (failsafe): no takeover until it has not answered for a lease', () => {
    expect(decideTakeover(takeover({ leaseSeconds: 10, secondsSincePrimaryAnswered: 9.9 }))).toEqual({
      kind: 'wait',
      reason: 'not taking over from pg-0: it answered as a primary less than 10s ago, and may still serve (failsafe) until it misses this pod',
    });
    expect(decideTakeover(takeover({ leaseSeconds: 10, secondsSincePrimaryAnswered: 10 }))).toMatchObject({ kind: 'take-over' });
    expect(decideTakeover(takeover({ leaseSeconds: 4, secondsSincePrimaryAnswered: 5 }))).toMatchObject({ kind: 'take-over' });
  });

  describe('on the record\'s timeline only: a replica that missed a promotion, or made one nobody recorded, never takes over', () => {
    test.each<[string, Partial<TakeoverFacts>, string]>([
      ['its data behind the record\'s timeline (it missed a promotion)', { timeline: 2 }, 'this pod\'s data is on timeline 2, the recorded primary\'s on 3'],
      ['its data ahead of it (an unrecorded promotion)', { timeline: 4 }, 'this pod\'s data is on timeline 4, the recorded primary\'s on 3'],
      ['its timeline unknown (the data could not be read)', { timeline: undefined }, 'this pod\'s data is on timeline unknown, the recorded primary\'s on 3'],
    ])('%s: it waits', (_, overrides, reason) => {
      expect(decideTakeover(takeover(overrides))).toEqual({ kind: 'wait', reason: `not taking over from pg-0: ${reason}` });
    });

    test('a peer streaming on another timeline is no candidate: the one on the record\'s takes over, even behind it', () => {
      const ahead = r('pg-2', '0/6000000', 4);
      expect(decideTakeover(takeover({ peers: [gone('pg-0'), ahead] })).kind).toBe('take-over');
      // The same peer on the record's timeline, or silent about it, is the one to promote.
      for (const timeline of [3, 0, undefined]) {
        expect(decideTakeover(takeover({ peers: [gone('pg-0'), r('pg-2', '0/6000000', timeline)] }))).toMatchObject({ kind: 'wait', reason: expect.stringContaining('pg-2 is the replica to promote') });
      }
    });
  });

  describe('synchronous mode: only a recorded synchronous standby, with n - k + 1 of the set answering', () => {
    const sync = (members: string[]) => ({ ...stableOther, sync: members });

    test('a recorded standby with the whole set answering takes over; the new set is every other pod, sorted', () => {
      expect(decideTakeover(takeover({ syncReplicas: 1, record: sync(['pg-1', 'pg-2']), otherPods: ['pg-2', 'pg-0'] }))).toEqual({
        kind: 'take-over',
        record: tookOver(['pg-0', 'pg-2']),
        reason: 'AUTOMATIC FAILOVER: the lease of pg-0 lapsed and this pod is the replica to promote (promoting pg-1 (WAL 0/5000000) of pg-1 pg-2): '
          + 'recording it as the primary (epoch 5, stable, primary pg-1, timeline 3, synchronous standbys pg-0,pg-2), then promoting it',
      });
    });

    test('n - k + 1 of the set answering is enough (3 members, k = 2: 2 of them)', () => {
      const decided = decideTakeover(takeover({
        syncReplicas: 2,
        record: sync(['pg-1', 'pg-2', 'pg-3']),
        peers: [gone('pg-0'), r('pg-2', '0/4000000'), gone('pg-3')],
        otherPods: ['pg-3', 'pg-2', 'pg-0'],
      }));
      expect(decided).toMatchObject({ kind: 'take-over', record: tookOver(['pg-0', 'pg-2', 'pg-3']) });
    });

    test('one fewer than n - k + 1 answering: waits, as the job would refuse', () => {
      expect(decideTakeover(takeover({ syncReplicas: 1, record: sync(['pg-1', 'pg-2']), peers: [gone('pg-0'), gone('pg-2')] }))).toEqual({
        kind: 'wait',
        reason: 'not taking over from pg-0: synchronous mode: 1 of the 2 recorded synchronous standbys (pg-1,pg-2) answer; 2 are needed to be sure of every acknowledged commit. '
          + 'no replica may be promoted without losing acknowledged commits (pg-0=unreachable@? pg-1=replica@0/5000000 pg-2=unreachable@?). '
          + 'Bring back the missing pods and run the job again, or set FAILOVER_ACCEPT_DATA_LOSS=true to promote the most advanced replica anyway',
      });
    });

    test('a replica not in the recorded set never takes over, however far ahead: the recorded standby is the one', () => {
      expect(decideTakeover(takeover({ syncReplicas: 1, record: sync(['pg-2']), peers: [gone('pg-0'), r('pg-2', '0/4000000')] }))).toEqual({
        kind: 'wait', reason: 'not taking over from pg-0: pg-2 is the replica to promote (promoting pg-2 (WAL 0/4000000) of pg-2)',
      });
    });
  });
});

describe('requestUnanswered: whether a replica acts on a failover request the primary has not answered', () => {
  const request = (overrides: Partial<FailoverRequestFacts> = {}): FailoverRequestFacts => ({ target: 'any', secondsUnanswered: 20, answerSeconds: 20, ...overrides });
  test.each<[string, FailoverRequestFacts | undefined, LeaderRecord | undefined, { lapsed: boolean; why: string }]>([
    ['no request', undefined, stableOther, { lapsed: false, why: 'no failover request' }],
    ['unanswered for answerSeconds: acts', request(), stableOther,
      { lapsed: true, why: 'pg-0 did not answer the failover request (failover.postgres.cdk8s.io/target=any) within 20s' }],
    ['one second before answerSeconds: waits, and says for what', request({ secondsUnanswered: 19, target: 'pg-2' }), stableOther,
      { lapsed: false, why: 'a failover to pg-2 is requested (failover.postgres.cdk8s.io/target); waiting 20s for pg-0 to answer it' }],
    ['the record names this pod: nothing to fail over from', request(), stableMe, { lapsed: false, why: 'no primary to fail over from' }],
    ['no record', request(), undefined, { lapsed: false, why: 'no primary to fail over from' }],
    ['a switchover under way', request(), switching, { lapsed: false, why: 'no primary to fail over from' }],
    ['a job\'s failover under way', request(), failing, { lapsed: false, why: 'no primary to fail over from' }],
  ])('%s', (_name, given, record, expected) => {
    expect(requestUnanswered(given, record, ME)).toEqual(expected);
  });

  test('the reasons name the time as it is', () => {
    expect(requestUnanswered(request({ answerSeconds: 12, secondsUnanswered: 12 }), stableOther, ME).why).toContain('within 12s');
    expect(requestUnanswered(request({ answerSeconds: 12, secondsUnanswered: 11.9 }), stableOther, ME).why).toContain('waiting 12s');
  });
});

describe('decideTakeover for a failover request the primary did not answer', () => {
  const facts = (target: string, overrides: Partial<TakeoverFacts> = {}): TakeoverFacts =>
    takeover({ primaryWalPosition: undefined, leaseSeconds: 20, cause: { kind: 'request', target }, ...overrides });

  test('any: the most advanced replica takes over, naming the request in its reason', () => {
    expect(decideTakeover(facts('any'))).toEqual({
      kind: 'take-over',
      record: { version: 1, state: 'stable', primary: ME, epoch: 5, timeline: 3, systemIdentifier: '7000', sync: [] },
      reason: 'REQUESTED FAILOVER: pg-0 did not answer the failover request (failover.postgres.cdk8s.io/target=any) within 20s and this pod is the replica '
        + 'to promote (promoting pg-1 (WAL 0/5000000) of pg-1 pg-2): recording it as the primary (epoch 5, stable, primary pg-1, timeline 3), then promoting it',
    });
  });

  test('a named pod behind another: it takes over (the job would warn), and the other waits for it', () => {
    const named = decideTakeover(facts('pg-2', { podName: 'pg-2', self: r('pg-2', '0/4000000'), peers: [gone('pg-0'), r(ME, '0/5000000')], otherPods: ['pg-1', 'pg-0'] }));
    expect(named).toMatchObject({ kind: 'take-over', record: { primary: 'pg-2', epoch: 5 } });
    expect(named.reason).toMatch(/^REQUESTED FAILOVER: pg-0 did not answer the failover request \(failover.postgres.cdk8s.io\/target=pg-2\) within 20s/);
    expect(decideTakeover(facts('pg-2'))).toEqual({ kind: 'wait', reason: expect.stringMatching(/^not taking over from pg-0: pg-2 is the replica to promote/) });
  });

  test('a named pod that is not a healthy replica: every replica waits, saying why', () => {
    expect(decideTakeover(facts('pg-2', { peers: [gone('pg-0'), gone('pg-2')] }))).toEqual({
      kind: 'wait', reason: expect.stringMatching(/^not taking over from pg-0: .*pg-2/),
    });
  });

  test('a named pod that is down, its data on an older timeline: every replica waits, saying it is down (it answered, it is not unreachable)', () => {
    expect(decideTakeover(facts('pg-2', { peers: [gone('pg-0'), { pod: 'pg-2', role: 'down', lsn: '0/0', timeline: 2 }] }))).toEqual({
      kind: 'wait', reason: 'not taking over from pg-0: FAILOVER_TARGET pg-2 may not be promoted (down; eligible: pg-1)',
    });
  });

  test('the primary answering as a primary still holds everything back', () => {
    expect(decideTakeover(facts('any', { peers: [{ pod: 'pg-0', role: 'primary', lsn: '0/6000000' }, r('pg-2', '0/4000000')] }))).toEqual({
      kind: 'wait', reason: 'not taking over from pg-0: pg-0 still serves as a primary',
    });
    expect(decideTakeover(facts('any', { secondsSincePrimaryAnswered: 19 }))).toEqual({
      kind: 'wait', reason: 'not taking over from pg-0: it answered as a primary less than 20s ago, and may still serve (failsafe) until it misses this pod',
    });
  });
});
