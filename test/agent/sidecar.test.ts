import { AutomaticFailoverFacts, LeaseState, NO_LEASE } from '../../src/agent/automatic-failover';
import { FailingOverRecord, LeaderRecord, StableRecord, SwitchingOverRecord } from '../../src/agent/record';
import {
  authorizes, awaitsCheckpoint, decideSidecarStep, Delivery, newerDelivery, nextSyncSet, ServerRole, shutdownCheckpointUpdate, SidecarFacts,
  SidecarRecord, SidecarStep, streamsTimeline, timelineUpdate,
} from '../../src/agent/sidecar';
import { giveBack } from '../../src/agent/transitions';

// GIVEN what the sidecar of pod pg-1 sees in a round; WHEN it decides; THEN the steps and the reason.
const ME = 'pg-1';
const stableMe: StableRecord = { version: 1, state: 'stable', primary: ME, epoch: 4, timeline: 3, systemIdentifier: '7000', sync: [] };
const stableOther: StableRecord = { ...stableMe, primary: 'pg-0' };
const switchFromMe: SwitchingOverRecord = {
  version: 1, state: 'switching-over', epoch: 5, timeline: 3, systemIdentifier: '7000', sync: ['pg-0', 'pg-2'], previous: ME, target: 'pg-2', job: 's-1', checkpoint: undefined,
};
const switchToMe: SwitchingOverRecord = { ...switchFromMe, previous: 'pg-0', target: ME, checkpoint: '0/5000028' };
const failToMe: FailingOverRecord = { version: 1, state: 'failing-over', epoch: 5, timeline: 3, systemIdentifier: '7000', sync: [], previous: 'pg-0', target: ME, job: 'f-1' };

function facts(server: ServerRole, record: LeaderRecord | SidecarRecord | 'absent', overrides: Partial<SidecarFacts> = {}): SidecarFacts {
  const known: SidecarRecord = record === 'absent' ? { kind: 'read', record: undefined } : 'kind' in record ? record : { kind: 'read', record };
  return {
    podName: ME,
    record: known,
    secondsSinceRecordRead: 0,
    isolationFenceSeconds: 10,
    server,
    timeline: 3,
    systemIdentifier: '7000',
    otherPods: ['pg-2', 'pg-0'],
    syncReplicas: 0,
    receivedBeyondCheckpoint: undefined,
    targetStreams: undefined,
    automaticFailover: undefined,
    failoverRequest: undefined,
    leaseShown: false,
    failsafe: false,
    ...overrides,
  };
}

const label = (role: 'primary' | 'replica' | 'none'): SidecarStep => ({ do: 'label', role });
const promoted: SidecarStep[] = [{ do: 'promote', others: ['pg-2', 'pg-0'] }, label('primary'), { do: 'record-timeline' }];
const takeOver = (sync: string[]): SidecarStep => ({
  do: 'write-record',
  transition: 'takeOverSwitchover',
  record: { version: 1, state: 'stable', primary: ME, epoch: 5, timeline: 3, systemIdentifier: '7000', sync },
});

const cases: Array<[string, SidecarFacts, SidecarStep[], string]> = [
  // The record cannot be read.
  ['a primary that has not read the record for ISOLATION_FENCE_SECONDS fences itself',
    facts('primary', { kind: 'unreadable', error: 'no answer', last: stableMe }, { secondsSinceRecordRead: 10 }), [{ do: 'fence' }],
    'FENCING this primary: the leader record cannot be read (no answer) for 10s (isolated from the API?)'],
  ['a primary that has not read the record for less than that waits',
    facts('primary', { kind: 'unreadable', error: 'no answer', last: stableMe }, { secondsSinceRecordRead: 9 }), [], 'the leader record cannot be read (no answer): nothing changes (a primary fences itself after 10s)'],
  ['a replica that cannot read the record does nothing, however long',
    facts('replica', { kind: 'unreadable', error: 'no answer', last: stableOther }, { secondsSinceRecordRead: 1000 }), [], 'nothing changes'],
  ['an isolated old primary of a switchover fences itself and reports its checkpoint when it can',
    facts('primary', { kind: 'unreadable', error: 'no answer', last: switchFromMe }, { secondsSinceRecordRead: 11 }), [{ do: 'fence' }, { do: 'report-checkpoint' }], 'FENCING'],
  ['an isolated primary that never read a record fences itself',
    facts('primary', { kind: 'unreadable', error: 'no answer', last: undefined }, { secondsSinceRecordRead: 10 }), [{ do: 'fence' }], 'FENCING'],
  ['a malformed record is never acted on: a primary treats it as unreadable and fences itself after ISOLATION_FENCE_SECONDS',
    facts('primary', { kind: 'unreadable', error: 'malformed leader record: postgres.cdk8s.io/state is unknown: "x"', last: stableMe }, { secondsSinceRecordRead: 12 }), [{ do: 'fence' }],
    'FENCING this primary: the leader record cannot be read (malformed leader record: postgres.cdk8s.io/state is unknown: "x") for 12s'],
  ['a malformed record, read moments ago a good one: nothing changes',
    facts('primary', { kind: 'unreadable', error: 'bad', last: stableMe }, { secondsSinceRecordRead: 3 }), [], 'the leader record cannot be read (bad): nothing changes'],

  // PostgreSQL is a primary.
  ['a primary and no record: creates it (stable, epoch 1, itself) and looks again soon',
    facts('primary', 'absent'), [{ do: 'create-record', record: { ...stableMe, epoch: 1 } }, { do: 'soon' }],
    'no leader record: recording this primary (epoch 1, stable, primary pg-1, timeline 3)'],
  ['a primary and no record in synchronous mode: every other pod is a synchronous standby, in the order listed',
    facts('primary', 'absent', { syncReplicas: 1 }), [{ do: 'create-record', record: { ...stableMe, epoch: 1, sync: ['pg-2', 'pg-0'] } }, { do: 'soon' }], 'synchronous standbys pg-2,pg-0'],
  ['a primary and no record, asynchronous: the pods need not be listed',
    facts('primary', 'absent', { otherPods: undefined, systemIdentifier: undefined }), [{ do: 'create-record', record: { ...stableMe, epoch: 1, systemIdentifier: undefined } }, { do: 'soon' }],
    'recording this primary'],
  ['a primary and no record in synchronous mode, the pods cannot be listed: no record this round',
    facts('primary', 'absent', { syncReplicas: 1, otherPods: undefined }), [], 'the pods cannot be listed for the synchronous set: creating the record next round'],
  ['a primary and no record whose timeline is unknown: no record this round',
    facts('primary', 'absent', { timeline: undefined }), [], 'does not say its timeline: creating the record next round'],
  ['record: another pod is the primary; PostgreSQL: a primary. Fences itself',
    facts('primary', stableOther), [{ do: 'fence' }], 'FENCING this primary: the leader record does not name this pod (epoch 4, stable, primary pg-0, timeline 3)'],
  ['record: switching over from this pod; PostgreSQL: still a primary. Fences itself and reports its shutdown checkpoint',
    facts('primary', switchFromMe), [{ do: 'fence' }, { do: 'report-checkpoint' }], 'FENCING'],
  ['record: switching over from this pod to a target that streams from it: fences itself and reports its shutdown checkpoint',
    facts('primary', switchFromMe, { targetStreams: true }), [{ do: 'fence' }, { do: 'report-checkpoint' }], 'FENCING'],
  ['record: switching over from this pod to a target that does not stream from it (it could never receive the checkpoint): gives the switchover back, not fenced',
    facts('primary', switchFromMe, { targetStreams: false }),
    [{ do: 'write-record', transition: 'giveBack', record: { ...stableMe, epoch: 6, sync: ['pg-0', 'pg-2'] } }, label('primary'), { do: 'soon' }],
    'a switchover to pg-2, which does not stream this primary\'s timeline: it could not receive this primary\'s last WAL, so this primary does not fence itself '
      + 'and gives the switchover back (epoch 6, stable, primary pg-1, timeline 3, synchronous standbys pg-0,pg-2)'],
  ['the old primary of a switchover whose checkpoint is recorded already, its target gone from pg_stat_replication: fences, gives nothing back',
    facts('primary', { ...switchFromMe, checkpoint: '0/1' }, { targetStreams: false }), [{ do: 'fence' }], 'FENCING'],
  ['record: switching over from another pod to a third, which does not stream from this primary: fences itself',
    facts('primary', { ...switchFromMe, previous: 'pg-0' }, { targetStreams: false }), [{ do: 'fence' }], 'FENCING'],
  ['the old primary of a switchover whose checkpoint is recorded already: fences, reports nothing',
    facts('primary', { ...switchFromMe, checkpoint: '0/1' }), [{ do: 'fence' }], 'FENCING'],
  ['record: switching over to this pod; PostgreSQL: a primary. No pod may be primary while switching over: fences itself',
    facts('primary', switchToMe), [{ do: 'fence' }], 'FENCING'],
  ['record: failing over to another pod; PostgreSQL: a primary. Fences itself',
    facts('primary', { ...failToMe, target: 'pg-2' }), [{ do: 'fence' }], 'FENCING'],
  ['record: failing over, no target yet; PostgreSQL: a primary. Fences itself',
    facts('primary', { ...failToMe, target: undefined }), [{ do: 'fence' }], 'FENCING'],
  ['record: failing over to this pod; PostgreSQL: a primary already. Waits for the job to name it; no label',
    facts('primary', failToMe), [], 'a failover job is promoting this pod (epoch 5, failing-over'],
  ['the recorded primary serves: labels it, maintains slots and the synchronous set, applies passwords',
    facts('primary', stableMe), [label('primary'), { do: 'maintain-primary' }, { do: 'apply-credentials' }],
    'the leader record names this primary (epoch 4, stable, primary pg-1, timeline 3)'],

  // PostgreSQL is a replica.
  ['record: this pod is the primary; PostgreSQL: a replica. Promotes it, labels it, records its timeline',
    facts('replica', stableMe), promoted, 'the leader record names this pod as the primary: promoting it (epoch 4'],
  ['promoting when the pods cannot be listed: no slots made for them',
    facts('replica', stableMe, { otherPods: undefined }), [{ do: 'promote', others: [] }, label('primary'), { do: 'record-timeline' }], 'promoting it'],
  ['the switchover target has received beyond the checkpoint: records itself the primary (same epoch), then promotes',
    facts('replica', switchToMe, { receivedBeyondCheckpoint: true }), [label('replica'), takeOver([]), ...promoted],
    'received the old primary\'s shutdown checkpoint 0/5000028: recording this pod as the primary (epoch 5, stable, primary pg-1, timeline 3), then promoting it'],
  ['the switchover target in synchronous mode writes every other pod as synchronous standbys, sorted',
    facts('replica', switchToMe, { receivedBeyondCheckpoint: true, syncReplicas: 2 }), [label('replica'), takeOver(['pg-0', 'pg-2']), ...promoted], 'recording this pod as the primary'],
  ['the switchover target in synchronous mode cannot list the pods: tries again next round',
    facts('replica', switchToMe, { receivedBeyondCheckpoint: true, syncReplicas: 2, otherPods: undefined }), [label('replica')],
    'switchover to this pod: the pods cannot be listed for the synchronous set'],
  ['record: switchover to this pod; PostgreSQL: not yet past the checkpoint. Waits, looking again soon',
    facts('replica', switchToMe, { receivedBeyondCheckpoint: false }), [label('replica'), { do: 'soon' }],
    'waiting to receive WAL beyond the old primary\'s shutdown checkpoint 0/5000028'],
  ['the switchover target that cannot say how far it has received: waits, looking again soon',
    facts('replica', switchToMe), [label('replica'), { do: 'soon' }], 'waiting to receive WAL'],
  ['a replica, not the target, while switching over past the checkpoint: an ordinary replica',
    facts('replica', { ...switchToMe, target: 'pg-2' }, { receivedBeyondCheckpoint: true }), [label('replica'), { do: 'check-replica-wal' }], 'PostgreSQL is a replica (epoch 5, switching-over'],
  ['the switchover target before the old primary recorded its checkpoint: an ordinary replica',
    facts('replica', { ...switchToMe, checkpoint: undefined }), [label('replica'), { do: 'check-replica-wal' }], 'PostgreSQL is a replica (epoch 5, switching-over'],
  ['the old primary of a switchover, back as a replica before it reported: reports its checkpoint',
    facts('replica', switchFromMe), [label('replica'), { do: 'report-checkpoint' }, { do: 'check-replica-wal' }], 'PostgreSQL is a replica'],
  ['a replica of the recorded primary: labels it, follows a new primary\'s timeline, checks its WAL',
    facts('replica', stableOther), [label('replica'), { do: 'follow-new-primary', epoch: 4, timeline: 3 }, { do: 'check-replica-wal' }],
    'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3)'],
  ['a replica and no record: labels it a replica',
    facts('replica', 'absent'), [label('replica'), { do: 'check-replica-wal' }], 'PostgreSQL is a replica (no leader record)'],
  ['record: failing over to this pod; PostgreSQL: a replica. Not promoted until the job names it the primary',
    facts('replica', failToMe), [label('replica'), { do: 'check-replica-wal' }], 'PostgreSQL is a replica (epoch 5, failing-over'],

  // PostgreSQL is not serving.
  ['PostgreSQL not serving: no label',
    facts('not-serving', stableMe), [label('none')], 'PostgreSQL is not serving: no role label (epoch 4'],
  ['PostgreSQL not serving and no record: no label',
    facts('not-serving', 'absent'), [label('none')], 'no role label (no leader record)'],
  ['the fenced old primary of a switchover: no label, reports its shutdown checkpoint',
    facts('not-serving', switchFromMe), [label('none'), { do: 'report-checkpoint' }], 'not serving'],
  ['the switchover target, not serving: no label, nothing to report',
    facts('not-serving', switchToMe), [label('none')], 'not serving'],
];

describe('decideSidecarStep: one round of the role-labeler sidecar', () => {
  test.each(cases)('%s', (_name, given, steps, reason) => {
    const decided = decideSidecarStep(given);
    expect(decided.steps).toEqual(steps);
    expect(decided.reason).toContain(reason);
  });

  test.each([
    [stableMe, true],
    [stableOther, false],
    [failToMe, true],
    [{ ...failToMe, target: 'pg-2' }, false],
    [{ ...failToMe, target: undefined }, false],
    [switchToMe, false],
    [switchFromMe, false],
  ] as Array<[LeaderRecord, boolean]>)('the record %j authorizes pg-1 to be primary: %s', (record, expected) => {
    expect(authorizes(record, ME)).toBe(expected);
  });
});

describe('shutdownCheckpointUpdate: what the old primary of a switchover records', () => {
  const clean = { shutDown: true, checkpoint: '0/5000028' };
  test('a clean shutdown: its checkpoint', () => {
    expect(shutdownCheckpointUpdate(switchFromMe, ME, clean)).toEqual({ ...switchFromMe, checkpoint: '0/5000028' });
    expect(shutdownCheckpointUpdate(switchFromMe, ME, { shutDown: true, checkpoint: '16/B374D848' })).toEqual({ ...switchFromMe, checkpoint: '16/B374D848' });
  });
  test.each([
    ['the server did not shut down cleanly', switchFromMe, ME, { shutDown: false, checkpoint: '0/5000028' }],
    ['pg_control gave no LSN', switchFromMe, ME, { shutDown: true, checkpoint: '' }],
    ['pg_control gave a malformed LSN', switchFromMe, ME, { shutDown: true, checkpoint: 'x0/5000028' }],
    ['pg_control gave an LSN with trailing text', switchFromMe, ME, { shutDown: true, checkpoint: '0/5000028x' }],
    ['the checkpoint is recorded already', { ...switchFromMe, checkpoint: '0/1' }, ME, clean],
    ['this pod is not the old primary', switchFromMe, 'pg-2', clean],
    ['no switchover', stableMe, ME, clean],
    ['a failover', { ...failToMe, previous: ME }, ME, clean],
    ['no record', undefined, ME, clean],
  ] as Array<[string, LeaderRecord | undefined, string, { shutDown: boolean; checkpoint: string }]>)('nothing when %s', (_name, record, pod, control) => {
    expect(shutdownCheckpointUpdate(record, pod, control)).toBeUndefined();
  });
});

describe('newerDelivery: a round acts on what the watch delivered, without a read, only when it is newer than the record held', () => {
  // Deliveries in the watch's order, at t = 10, 11, 12 s; each lease is its version's name.
  const delivered = (...versions: string[]): Delivery<string>[] => versions.map((version, i) => ({ version, at: 10 + i, lease: `lease ${version}` }));
  test.each<[string, Delivery<string>[], string, number, string | undefined]>([
    ['the held version was delivered before the latest: the latest', delivered('7', '9', '12'), '9', 12.5, 'lease 12'],
    ['versions compared for equality only: "12" after "9" is newer because it came later', delivered('12', '9'), '12', 11.5, 'lease 9'],
    ['the held version is the latest delivered: nothing newer, a read', delivered('7', '9'), '9', 11.5, undefined],
    ['the held version was never delivered (this agent\'s own write, not delivered yet): a read', delivered('7', '9'), '10', 11.5, undefined],
    ['no record held yet: a read', delivered('7'), '', 10.5, undefined],
    ['nothing delivered: a read', [], '9', 10.5, undefined],
    ['the latest came exactly freshSeconds ago: still fresh', delivered('7', '9'), '7', 12, 'lease 9'],
    ['the latest came longer ago than freshSeconds: a read', delivered('7', '9'), '7', 12.01, undefined],
    ['the same version delivered again (a watch begun anew from a read): the held one is the latest, a read', delivered('7', '9', '9'), '9', 12.5, undefined],
    ['held version delivered twice, something newer after: the latest', delivered('9', '9', '11'), '9', 12.5, 'lease 11'],
  ])('%s', (_name, deliveries, held, now, lease) => {
    expect(newerDelivery(deliveries, held, now, 1)?.lease).toBe(lease);
  });
});

describe('timelineUpdate: the primary keeps the record\'s timeline its own', () => {
  test('a new timeline is recorded', () => {
    expect(timelineUpdate(stableMe, 4)).toEqual({ ...stableMe, timeline: 4 });
  });
  test('the same timeline, or an unknown one, is not', () => {
    expect(timelineUpdate(stableMe, 3)).toBeUndefined();
    expect(timelineUpdate(stableMe, undefined)).toBeUndefined();
  });
});

describe('streamsTimeline: a walsender that hands its standby the shutdown checkpoint of this timeline', () => {
  test.each([
    ['streaming, on timeline 1 (no switch point)', 'streaming', undefined, undefined, true],
    ['catching up, on timeline 1', 'catchup', '0/1000000', undefined, true],
    ['starting (before START_REPLICATION, or between two timelines): ends at once when the server stops', 'startup', '0/0', undefined, false],
    ['starting, whatever it has sent before', 'startup', '0/9000000', '0/3000148', false],
    ['stopping', 'stopping', '0/9000000', undefined, false],
    ['a base backup', 'backup', '0/9000000', undefined, false],
    ['streaming past the switch point: this timeline', 'streaming', '0/3000149', '0/3000148', true],
    ['catching up past the switch point: this timeline', 'catchup', '1/0', '0/3000148', true],
    ['streaming up to the switch point: an older timeline, which stops there', 'streaming', '0/3000148', '0/3000148', false],
    ['streaming short of the switch point: an older timeline', 'streaming', '0/2FFFFFF', '0/3000148', false],
    ['the high word counts: 0/FFFFFFFF is short of 1/0', 'streaming', '0/FFFFFFFF', '1/0', false],
    ['no position sent, after a switch: not known to be on it', 'streaming', undefined, '0/3000148', false],
    ['a position that is not one, after a switch', 'streaming', 'FFFF', '0/3000148', false],
    ['a switch point that is not one: not known', 'streaming', '9/0', 'x', false],
  ])('%s', (_name, state, sent, switchpoint, streams) => {
    expect(streamsTimeline({ state, sent }, switchpoint)).toBe(streams);
  });
});

describe('decideSidecarStep over every record state × server role', () => {
  const recordsSeen: Array<LeaderRecord | undefined> = [undefined, stableMe, stableOther, switchFromMe, { ...switchFromMe, checkpoint: '0/1' }, switchToMe,
    { ...switchToMe, checkpoint: undefined }, failToMe, { ...failToMe, target: 'pg-2' }];
  const matrix = recordsSeen.flatMap(record => (['primary', 'replica', 'not-serving'] as const).flatMap(server => [true, false, undefined].flatMap(received =>
    [true, false, undefined].map(connected => facts(server, record ?? 'absent', { receivedBeyondCheckpoint: received, targetStreams: connected })))));

  test.each(matrix.map(f => [JSON.stringify(f.record), f.server, f.receivedBeyondCheckpoint, f.targetStreams, f] as const))(
    'record %s, server %s, received %s, target connected %s: labels primary and promotes only what the record names', (_r, _s, _x, _c, given) => {
      const decided = decideSidecarStep(given);
      const record = given.record.kind === 'read' ? given.record.record : undefined;
      const names = (r: LeaderRecord | undefined): boolean => r?.state === 'stable' && r.primary === ME;
      const written = decided.steps.find(s => s.do === 'write-record' || s.do === 'create-record') as { record: LeaderRecord } | undefined;
      const after = written?.record ?? record;
      for (const step of decided.steps) {
        if ((step.do === 'label' && step.role === 'primary') || step.do === 'promote') expect(names(after)).toBe(true);
      }
      // A primary the record does not let be primary is fenced, unless it is the old primary of a switchover, not fenced
      // yet, whose target does not stream from it: that one gives the switchover back.
      const givesBack = record?.state === 'switching-over' && record.previous === ME && record.checkpoint === undefined && given.targetStreams === false;
      if (given.server === 'primary' && record !== undefined && !authorizes(record, ME)) {
        expect(decided.steps[0]).toEqual(givesBack ? { do: 'write-record', transition: 'giveBack', record: giveBack(record) } : { do: 'fence' });
      }
      if (given.server !== 'primary' || !givesBack) expect(decided.steps.some(s => s.do === 'write-record' && s.transition === 'giveBack')).toBe(false);
      expect(decided.reason).not.toBe('');
    });
});

describe('nextSyncSet: the synchronous set the primary records', () => {
  test.each([
    ['every other pod, sorted', { recorded: [], others: ['pg-2', 'pg-0'], caughtUp: {}, syncReplicas: 1 }, { sync: ['pg-0', 'pg-2'], changed: true }],
    ['no change when the record lists them already', { recorded: ['pg-0', 'pg-2'], others: ['pg-2', 'pg-0'], caughtUp: {}, syncReplicas: 1 }, { sync: ['pg-0', 'pg-2'], changed: false }],
    ['a pod gone stays while fewer than k others have caught up', { recorded: ['pg-0', 'pg-2'], others: ['pg-0'], caughtUp: { 'pg-2': 0 }, syncReplicas: 1 },
      { sync: ['pg-0', 'pg-2'], changed: false }],
    ['a pod gone leaves once k others have caught up', { recorded: ['pg-0', 'pg-2'], others: ['pg-0'], caughtUp: { 'pg-2': 1 }, syncReplicas: 1 },
      { sync: ['pg-0'], changed: true }],
    ['k = 2: one caught up is not enough', { recorded: ['pg-0', 'pg-2', 'pg-3'], others: ['pg-0', 'pg-3'], caughtUp: { 'pg-2': 1 }, syncReplicas: 2 },
      { sync: ['pg-0', 'pg-2', 'pg-3'], changed: false }],
    ['k = 2: two caught up are', { recorded: ['pg-0', 'pg-2', 'pg-3'], others: ['pg-0', 'pg-3'], caughtUp: { 'pg-2': 2 }, syncReplicas: 2 },
      { sync: ['pg-0', 'pg-3'], changed: true }],
    ['a new pod joins the set', { recorded: ['pg-0'], others: ['pg-0', 'pg-3'], caughtUp: {}, syncReplicas: 1 }, { sync: ['pg-0', 'pg-3'], changed: true }],
    ['an unsorted record is rewritten sorted', { recorded: ['pg-2', 'pg-0'], others: ['pg-0', 'pg-2'], caughtUp: {}, syncReplicas: 1 }, { sync: ['pg-0', 'pg-2'], changed: true }],
  ])('%s', (_name, given, expected) => {
    expect(nextSyncSet(given)).toEqual(expected);
  });

  test('nothing is decided when the primary cannot say whether the others caught up', () => {
    expect(nextSyncSet({ recorded: ['pg-0', 'pg-2'], others: ['pg-0'], caughtUp: {}, syncReplicas: 1 })).toBeUndefined();
  });
});

describe('decideSidecarStep with a failover request on the record (failover.postgres.cdk8s.io/target)', () => {
  const replicaOf = [label('replica'), { do: 'follow-new-primary', epoch: 4, timeline: 3 }, { do: 'check-replica-wal' }] as SidecarStep[];
  const request = (secondsUnanswered: number, target = 'any') => ({ target, secondsUnanswered, answerSeconds: 20 });
  /** pg-0's lease, lapsed (not renewed, unchanged for its 15 s) unless `overrides` say otherwise. */
  const leaseOfPg0 = (overrides: Partial<AutomaticFailoverFacts>): AutomaticFailoverFacts => ({
    leaseSeconds: 15,
    renewSeconds: 5,
    renewDeadlineSeconds: 10,
    primaryRestartGraceSeconds: 30,
    minimumIntervalSeconds: 60,
    secondsSinceRenewed: Infinity,
    secondsSinceServing: 0,
    secondsSinceLeaseChange: 15,
    secondsSincePrimaryChange: Infinity,
    lease: { renewTime: 'T', leaseDurationSeconds: 15, holder: 'pg-0', walPosition: undefined, paused: false, failoverRequest: 'any' },
    ...overrides,
  });
  test.each<[string, SidecarFacts, SidecarStep[], string]>([
    ['unanswered for twice the fence time: a replica considers taking over, for the request, last',
      facts('replica', stableOther, { failoverRequest: request(20, 'pg-2') }), [...replicaOf, { do: 'consider-takeover', cause: { kind: 'request', target: 'pg-2' } }],
      'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3)'],
    ['not yet: the replica says it waits for the primary\'s answer',
      facts('replica', stableOther, { failoverRequest: request(19) }), replicaOf,
      'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3); a failover to any is requested (failover.postgres.cdk8s.io/target); waiting 20s for pg-0 to answer it'],
    ['with automatic failover on and the lease lapsed: the lease is the cause',
      facts('replica', stableOther, {
        failoverRequest: request(20),
        automaticFailover: leaseOfPg0({}),
      }), [...replicaOf, { do: 'consider-takeover', cause: { kind: 'lease' } }], 'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3)'],
    ['the lease lapsed while a request waits for the primary\'s answer: the lease is the cause, and the replica does not say it waits',
      facts('replica', stableOther, {
        failoverRequest: request(19),
        automaticFailover: leaseOfPg0({}),
      }), [...replicaOf, { do: 'consider-takeover', cause: { kind: 'lease' } }], 'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3)'],
    ['the lease held while a request waits for the primary\'s answer: the replica says it waits for the answer',
      facts('replica', stableOther, {
        failoverRequest: request(19),
        automaticFailover: leaseOfPg0({ secondsSinceRenewed: 1, secondsSinceLeaseChange: 1 }),
      }), replicaOf,
      'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3); a failover to any is requested (failover.postgres.cdk8s.io/target); waiting 20s for pg-0 to answer it'],
    ['the primary the record names is not a replica to take over with: it answers the request in its round (a switchover)',
      facts('primary', stableMe, { failoverRequest: request(100) }), [label('primary'), { do: 'maintain-primary' }, { do: 'apply-credentials' }],
      'the leader record names this primary (epoch 4, stable, primary pg-1, timeline 3)'],
    ['a replica the record names is promoted',
      facts('replica', stableMe, { failoverRequest: request(100) }), [{ do: 'promote', others: ['pg-2', 'pg-0'] }, label('primary'), { do: 'record-timeline' }],
      'the leader record names this pod as the primary: promoting it (epoch 4, stable, primary pg-1, timeline 3)'],
  ])('%s', (_name, given, steps, reason) => {
    const decided = decideSidecarStep(given);
    expect(decided.steps).toEqual(steps);
    expect(decided.reason).toBe(reason);
  });
});

describe('decideSidecarStep with automatic failover: renew, fence, lapse, consider taking over', () => {
  const held = (holder: string): LeaseState => ({ renewTime: '2024-05-01T10:00:00.000000Z', leaseDurationSeconds: 15, holder, walPosition: undefined, paused: false, failoverRequest: undefined });
  // Distinct settings, so that a reason or a comparison that takes the wrong one shows.
  const lease = (overrides: Partial<AutomaticFailoverFacts> = {}): AutomaticFailoverFacts => ({
    leaseSeconds: 15,
    renewSeconds: 5,
    renewDeadlineSeconds: 10,
    primaryRestartGraceSeconds: 30,
    minimumIntervalSeconds: 60,
    secondsSinceRenewed: 0,
    secondsSinceServing: 0,
    secondsSinceLeaseChange: 0,
    secondsSincePrimaryChange: Infinity,
    lease: held(ME),
    ...overrides,
  });
  const serves: SidecarStep[] = [label('primary'), { do: 'maintain-primary' }, { do: 'apply-credentials' }];
  const renew = (fenceOnFailure: boolean): SidecarStep => ({ do: 'renew', fenceOnFailure });
  const replicaOf = [label('replica'), { do: 'follow-new-primary', epoch: 4, timeline: 3 }, { do: 'check-replica-wal' }] as SidecarStep[];
  const lapsedOf0 = { lease: held('pg-0'), secondsSinceLeaseChange: 15 };

  const automatic: Array<[string, SidecarFacts, SidecarStep[], string]> = [
    // The recorded primary serves: it renews before it labels.
    ['a primary renewed less than renewSeconds ago: no renewal',
      facts('primary', stableMe, { automaticFailover: lease({ secondsSinceRenewed: 4 }) }), serves, 'the leader record names this primary (epoch 4, stable, primary pg-1, timeline 3)'],
    ['a primary due to renew renews before its label; a failure is retried, not fenced',
      facts('primary', stableMe, { automaticFailover: lease({ secondsSinceRenewed: 5 }) }), [renew(false), ...serves], 'the leader record names this primary (epoch 4, stable, primary pg-1, timeline 3)'],
    ['a primary one second before the renew deadline renews without fencing on failure',
      facts('primary', stableMe, { automaticFailover: lease({ secondsSinceRenewed: 9 }) }), [renew(false), ...serves], 'the leader record names this primary (epoch 4, stable, primary pg-1, timeline 3)'],
    ['a primary exactly at the renew deadline renews or fences',
      facts('primary', stableMe, { automaticFailover: lease({ secondsSinceRenewed: 10 }) }), [renew(true), ...serves], 'the leader record names this primary (epoch 4, stable, primary pg-1, timeline 3)'],
    ['a primary that never renewed since its agent started renews or fences',
      facts('primary', stableMe, { automaticFailover: lease({ secondsSinceRenewed: Infinity }) }), [renew(true), ...serves], 'the leader record names this primary (epoch 4, stable, primary pg-1, timeline 3)'],
    ['a new primary whose Lease shows no lease renews at once',
      facts('primary', stableMe, { automaticFailover: lease({ lease: NO_LEASE }), leaseShown: false }), [renew(false), ...serves], 'the leader record names this primary (epoch 4, stable, primary pg-1, timeline 3)'],
    ['with automatic failover, a lease shown is renewed, never released',
      facts('primary', stableMe, { automaticFailover: lease(), leaseShown: true }), serves, 'the leader record names this primary (epoch 4, stable, primary pg-1, timeline 3)'],
    // Without automatic failover.
    ['without automatic failover, a primary whose Lease shows a lease releases it before its label',
      facts('primary', stableMe, { leaseShown: true }), [{ do: 'release-lease' }, ...serves], 'the leader record names this primary (epoch 4, stable, primary pg-1, timeline 3)'],
    ['without automatic failover, a replica leaves a lease shown alone',
      facts('replica', stableOther, { leaseShown: true }), replicaOf, 'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3)'],
    ['without automatic failover, a primary not serving leaves a lease shown alone',
      facts('not-serving', stableMe, { leaseShown: true }), [label('none')], 'PostgreSQL is not serving: no role label (epoch 4, stable, primary pg-1, timeline 3)'],
    ['a primary a failover job is promoting neither renews nor releases',
      facts('primary', failToMe, { automaticFailover: lease({ secondsSinceRenewed: 100, lease: NO_LEASE }), leaseShown: true }), [],
      'a failover job is promoting this pod (epoch 5, failing-over, primary (none), timeline 3 (job f-1: pg-0 -> pg-1)): no label until the record names it'],
    ['a primary the record does not name fences, renewing nothing',
      facts('primary', stableOther, { automaticFailover: lease({ secondsSinceRenewed: 100 }) }), [{ do: 'fence' }], 'FENCING this primary: the leader record does not name this pod (epoch 4, stable, primary pg-0, timeline 3)'],

    // The recorded primary's PostgreSQL does not serve: it renews during the grace, then lets the lease lapse.
    ['a primary not serving within the grace renews, never fencing on failure',
      facts('not-serving', stableMe, { automaticFailover: lease({ secondsSinceServing: 29, secondsSinceRenewed: 10 }) }), [label('none'), renew(false)],
      'PostgreSQL is not serving: no role label (epoch 4, stable, primary pg-1, timeline 3)'],
    ['a primary not serving within the grace, renewed recently: only the label goes',
      facts('not-serving', stableMe, { automaticFailover: lease({ secondsSinceServing: 29, secondsSinceRenewed: 4 }) }), [label('none')],
      'PostgreSQL is not serving: no role label (epoch 4, stable, primary pg-1, timeline 3)'],
    ['a primary not serving for exactly the grace lets the lease lapse: only the label goes',
      facts('not-serving', stableMe, { automaticFailover: lease({ secondsSinceServing: 30, secondsSinceRenewed: 10 }) }), [label('none')],
      'PostgreSQL has not served for 30s (primaryRestartGraceSeconds): no longer renewing the lease, for a replica to take over once it lapses (epoch 4, stable, primary pg-1, timeline 3)'],
    ['a pod not serving that the record does not name renews nothing',
      facts('not-serving', stableOther, { automaticFailover: lease({ secondsSinceServing: 100, secondsSinceRenewed: 100, lease: held('pg-0') }) }), [label('none')],
      'PostgreSQL is not serving: no role label (epoch 4, stable, primary pg-0, timeline 3)'],
    ['the fenced old primary of a switchover renews nothing, reports its checkpoint',
      facts('not-serving', switchFromMe, { automaticFailover: lease({ secondsSinceServing: 100, secondsSinceRenewed: 100 }) }), [label('none'), { do: 'report-checkpoint' }],
      'PostgreSQL is not serving: no role label (epoch 5, switching-over, primary (none), timeline 3, synchronous standbys pg-0,pg-2 (job s-1: pg-1 -> pg-2))'],
    ['a pod not serving and no record renews nothing',
      facts('not-serving', 'absent', { automaticFailover: lease({ secondsSinceRenewed: 100, lease: NO_LEASE }) }), [label('none')], 'PostgreSQL is not serving: no role label (no leader record)'],

    // A replica.
    ['a replica whose view of the lease lapsed considers taking over, last',
      facts('replica', stableOther, { automaticFailover: lease(lapsedOf0) }), [...replicaOf, { do: 'consider-takeover', cause: { kind: 'lease' } }],
      'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3)'],
    ['a replica one second before leaseSeconds: the lease is held, nothing said of it',
      facts('replica', stableOther, { automaticFailover: lease({ ...lapsedOf0, secondsSinceLeaseChange: 14 }) }), replicaOf,
      'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3)'],
    ['a lapse held back by the pause annotation: said in the reason, no takeover',
      facts('replica', stableOther, { automaticFailover: lease({ ...lapsedOf0, lease: { ...held('pg-0'), paused: true } }) }), replicaOf,
      'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3); the lease of pg-0 has lapsed, but automatic failover is paused (failover.postgres.cdk8s.io/paused)'],
    ['a lapse held back by minimumIntervalSeconds: said in the reason, no takeover',
      facts('replica', stableOther, { automaticFailover: lease({ ...lapsedOf0, secondsSincePrimaryChange: 59 }) }), replicaOf,
      'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3); the lease of pg-0 has lapsed, but the primary changed less than 60s ago (minimumFailoverIntervalSeconds)'],
    ['a primary that holds no lease is never taken over from, and that is not said each round',
      facts('replica', stableOther, { automaticFailover: lease({ ...lapsedOf0, lease: NO_LEASE }) }), replicaOf, 'PostgreSQL is a replica (epoch 4, stable, primary pg-0, timeline 3)'],
    ['a replica and no record: nothing to take over from',
      facts('replica', 'absent', { automaticFailover: lease({ ...lapsedOf0, lease: NO_LEASE }) }), [label('replica'), { do: 'check-replica-wal' }], 'PostgreSQL is a replica (no leader record)'],
    ['a replica during a failover: nothing to take over from',
      facts('replica', failToMe, { automaticFailover: lease(lapsedOf0) }), [label('replica'), { do: 'check-replica-wal' }],
      'PostgreSQL is a replica (epoch 5, failing-over, primary (none), timeline 3 (job f-1: pg-0 -> pg-1))'],
    ['a replica the record names is promoted, not taken over with',
      facts('replica', stableMe, { automaticFailover: lease({ ...lapsedOf0, lease: held(ME) }) }), promoted, 'the leader record names this pod as the primary: promoting it (epoch 4, stable, primary pg-1, timeline 3)'],

    // The record cannot be read.
    ['an unreadable record: a serving primary fences exactly at the renew deadline, before isolationFenceSeconds',
      facts('primary', { kind: 'unreadable', error: 'no answer', last: stableMe }, { secondsSinceRecordRead: 3, automaticFailover: lease({ secondsSinceRenewed: 10 }) }), [{ do: 'fence' }],
      'FENCING this primary: the leader record cannot be read (no answer), and its lease was last renewed 10s ago or more (renewDeadlineSeconds): a replica may take over once it lapses'],
    ['an unreadable record: a primary one second before the renew deadline waits',
      facts('primary', { kind: 'unreadable', error: 'no answer', last: stableMe }, { secondsSinceRecordRead: 3, automaticFailover: lease({ secondsSinceRenewed: 9 }) }), [],
      'the leader record cannot be read (no answer): nothing changes (a primary fences itself after 10s)'],
    ['an unreadable record: the isolation fence comes first once isolationFenceSeconds passed',
      facts('primary', { kind: 'unreadable', error: 'no answer', last: stableMe }, { secondsSinceRecordRead: 10, automaticFailover: lease({ secondsSinceRenewed: 100 }) }), [{ do: 'fence' }],
      'FENCING this primary: the leader record cannot be read (no answer) for 10s (isolated from the API?)'],
    ['an unreadable record: the old primary of a switchover past its renew deadline fences and reports its checkpoint',
      facts('primary', { kind: 'unreadable', error: 'no answer', last: switchFromMe }, { secondsSinceRecordRead: 0, automaticFailover: lease({ secondsSinceRenewed: 10 }) }),
      [{ do: 'fence' }, { do: 'report-checkpoint' }], 'FENCING this primary: the leader record cannot be read (no answer), and its lease was last renewed 10s ago or more (renewDeadlineSeconds): a replica may take over once it lapses'],
    ['an unreadable record: a replica does nothing, past any deadline',
      facts('replica', { kind: 'unreadable', error: 'no answer', last: stableOther }, { secondsSinceRecordRead: 3, automaticFailover: lease({ secondsSinceRenewed: Infinity }) }), [],
      'the leader record cannot be read (no answer): nothing changes (a primary fences itself after 10s)'],
    ['an unreadable record: a pod not serving does nothing, past any deadline',
      facts('not-serving', { kind: 'unreadable', error: 'no answer', last: stableMe }, { secondsSinceRecordRead: 3, automaticFailover: lease({ secondsSinceRenewed: Infinity }) }), [],
      'the leader record cannot be read (no answer): nothing changes (a primary fences itself after 10s)'],
    ['an unreadable record without automatic failover: a primary waits for isolationFenceSeconds',
      facts('primary', { kind: 'unreadable', error: 'no answer', last: stableMe }, { secondsSinceRecordRead: 9 }), [],
      'the leader record cannot be read (no answer): nothing changes (a primary fences itself after 10s)'],
  ];

  test.each(automatic)('%s', (_name, given, steps, reason) => {
    const decided = decideSidecarStep(given);
    expect(decided.steps).toEqual(steps);
    expect(decided.reason).toBe(reason);
  });

  test('the renew deadline is read from the settings, not fixed: a later one waits, then fences', () => {
    const unreadable = (secondsSinceRenewed: number) => decideSidecarStep(facts('primary', { kind: 'unreadable', error: 'no answer', last: stableMe },
      { secondsSinceRecordRead: 0, isolationFenceSeconds: 100, automaticFailover: lease({ renewDeadlineSeconds: 40, secondsSinceRenewed }) }));
    expect(unreadable(39)).toEqual({ steps: [], reason: 'the leader record cannot be read (no answer): nothing changes (a primary fences itself after 100s)' });
    expect(unreadable(40)).toEqual({
      steps: [{ do: 'fence' }],
      reason: 'FENCING this primary: the leader record cannot be read (no answer), and its lease was last renewed 40s ago or more (renewDeadlineSeconds): a replica may take over once it lapses',
    });
  });

  describe('the failsafe: a primary that cannot read the record keeps serving while every other pod streams from it', () => {
    const unreadable = (overrides: Partial<SidecarFacts>) => decideSidecarStep(facts('primary', { kind: 'unreadable', error: 'no answer', last: stableMe },
      { secondsSinceRecordRead: 3, isolationFenceSeconds: 10, ...overrides }));
    const failsafeReason = 'FAILSAFE: the leader record cannot be read (no answer), but every other pod streams from this primary: it keeps serving '
      + '(nobody takes over from a primary that its replicas still follow)';

    test.each<[string, Partial<SidecarFacts>, SidecarStep[], string]>([
      ['past the renew deadline, every pod streaming: no fence',
        { failsafe: true, automaticFailover: lease({ secondsSinceRenewed: 10 }) }, [], failsafeReason],
      ['past the isolation fence, every pod streaming: the same',
        { failsafe: true, secondsSinceRecordRead: 10, automaticFailover: lease({ secondsSinceRenewed: 1 }) }, [], failsafeReason],
      ['past the renew deadline, a pod not streaming: fenced',
        { failsafe: false, automaticFailover: lease({ secondsSinceRenewed: 10 }) }, [{ do: 'fence' }],
        'FENCING this primary: the leader record cannot be read (no answer), and its lease was last renewed 10s ago or more (renewDeadlineSeconds): '
        + 'a replica may take over once it lapses'],
      ['before any deadline: nothing to keep, nothing changes',
        { failsafe: true, automaticFailover: lease({ secondsSinceRenewed: 9.9 }) }, [],
        'the leader record cannot be read (no answer): nothing changes (a primary fences itself after 10s)'],
      ['without automatic failover, past the isolation fence, every pod streaming: the same (a failover job refuses meanwhile)',
        { failsafe: true, secondsSinceRecordRead: 10 }, [], failsafeReason],
      ['without automatic failover, past the isolation fence, a pod not streaming: fenced',
        { failsafe: false, secondsSinceRecordRead: 10 }, [{ do: 'fence' }],
        'FENCING this primary: the leader record cannot be read (no answer) for 10s (isolated from the API?)'],
      ['without automatic failover, before the isolation fence: nothing changes',
        { failsafe: true, secondsSinceRecordRead: 9 }, [],
        'the leader record cannot be read (no answer): nothing changes (a primary fences itself after 10s)'],
    ])('%s', (_name, overrides, steps, reason) => {
      expect(unreadable(overrides)).toEqual({ steps, reason });
    });

    test('a readable record past the deadline: the renewal is tried, and its failure fences only when the failsafe does not hold', () => {
      const readable = (failsafe: boolean) => decideSidecarStep(facts('primary', stableMe, {
        failsafe, automaticFailover: lease({ secondsSinceRenewed: 10 }),
      })).steps[0];
      expect(readable(true)).toEqual({ do: 'renew', fenceOnFailure: false });
      expect(readable(false)).toEqual({ do: 'renew', fenceOnFailure: true });
    });

    test('a replica or a pod not serving (a primary that just stopped, its failsafe still holding) has nothing to keep, and never says it keeps serving', () => {
      for (const server of ['replica', 'not-serving'] as const) {
        const decided = decideSidecarStep(facts(server, { kind: 'unreadable', error: 'no answer', last: stableOther },
          { secondsSinceRecordRead: 30, failsafe: true, automaticFailover: lease({ secondsSinceRenewed: Infinity }) }));
        expect(decided).toEqual({ steps: [], reason: 'the leader record cannot be read (no answer): nothing changes (a primary fences itself after 10s)' });
      }
    });
  });
});

describe('awaitsCheckpoint: this pod is the target of a switchover whose old primary recorded its shutdown checkpoint', () => {
  test('the target, once the checkpoint is recorded', () => {
    expect(awaitsCheckpoint(switchToMe, ME)).toBe(true);
  });

  test.each<[string, LeaderRecord | undefined]>([
    ['before the checkpoint is recorded', { ...switchToMe, checkpoint: undefined }],
    ['another pod\'s switchover', { ...switchToMe, target: 'pg-2' }],
    ['the old primary\'s side of it', switchFromMe],
    ['a failover to this pod', failToMe],
    ['a stable record naming this pod', stableMe],
    ['no record', undefined],
  ])('not: %s', (_name, record) => {
    expect(awaitsCheckpoint(record, ME)).toBe(false);
  });
});
