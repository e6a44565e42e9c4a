import { FailingOverRecord, LeaderRecord, StableRecord, SwitchingOverRecord } from '../../src/agent/record';
import { asksRecordedPrimary, DataDirectory, decideStart, hotStandbyRaises, isBootstrapWait, HotStandbyValues, StartFacts, startPlanText, StartStep, stepText } from '../../src/agent/start';

// GIVEN facts as the entrypoint of pod pg-1 gathers them; WHEN it decides; THEN the plan's steps and its reason.
const ME = 'pg-1';
const stableOther: StableRecord = { version: 1, state: 'stable', primary: 'pg-0', epoch: 4, timeline: 3, systemIdentifier: '7000', sync: [] };
const stableMe: StableRecord = { ...stableOther, primary: ME };
const failingToMe: FailingOverRecord = { version: 1, state: 'failing-over', epoch: 5, timeline: 3, systemIdentifier: '7000', sync: [], previous: 'pg-0', target: ME, job: 'f-1' };
const failingNoTarget: FailingOverRecord = { ...failingToMe, target: undefined };
const switchingToMe: SwitchingOverRecord = {
  version: 1, state: 'switching-over', epoch: 5, timeline: 3, systemIdentifier: '7000', sync: [], previous: 'pg-0', target: ME, job: 's-1', checkpoint: undefined,
};

const DEFAULTS: HotStandbyValues = {
  max_connections: 100, max_worker_processes: 8, max_wal_senders: 10, max_prepared_transactions: 0, max_locks_per_transaction: 64,
};
const replicaData: DataDirectory = {
  kind: 'data',
  version: '15',
  systemIdentifier: '7000',
  timeline: 3,
  standbySignal: true,
  shutDownCleanly: true,
  recoveryState: true,
  initializedByEntrypoint: false,
  hotStandby: DEFAULTS,
};
const primaryData: DataDirectory = { ...replicaData, standbySignal: false, recoveryState: false };
/** A primary fenced by its sidecar: standby.signal over a primary's clean shutdown. */
const fencedData: DataDirectory = { ...replicaData, recoveryState: false };

function facts(overrides: Partial<StartFacts> & { rec?: LeaderRecord | 'absent' } = {}): StartFacts {
  const { rec, ...rest } = overrides;
  return {
    podName: ME,
    record: { kind: 'read', record: rec === undefined ? stableOther : rec === 'absent' ? undefined : rec },
    data: replicaData,
    recloneRequested: false,
    restoreFrom: false,
    syncReplicas: 0,
    postgresVersion: 15,
    configured: DEFAULTS,
    recordedPrimaryAnswers: true,
    recordedPrimaryTimeline: 3,
    ...rest,
  };
}

const startPrimary: StartStep = { do: 'start', as: 'primary' };
const startReplica: StartStep = { do: 'start', as: 'replica' };
const wait: StartStep = { do: 'wait', retry: 'normal' };
const awaitSync: StartStep = { do: 'await-sync-membership' };
const empty: DataDirectory = { kind: 'empty' };

const cases: Array<[string, StartFacts, StartStep[], string]> = [
  // Before the record is looked at.
  ['fails when the data directory has files but no PG_VERSION, whatever the record says',
    facts({ data: { kind: 'not-a-data-directory' }, record: { kind: 'stale' } }), [{ do: 'fail' }], 'is not a PostgreSQL data directory (no PG_VERSION) but is not empty'],
  ['waits while the record cannot be read after the request, never deciding on an older read',
    facts({ record: { kind: 'stale' } }), [wait], 'the role-labeler sidecar cannot read the leader record now: waiting, never deciding on an older read'],
  ['never acts on a malformed record: waits, and says why',
    facts({ record: { kind: 'malformed', error: 'postgres.cdk8s.io/epoch is missing' } }), [wait], '(postgres.cdk8s.io/epoch is missing): waiting for a person'],

  // An empty volume.
  ['pod 0, no record, empty volume: initializes a new cluster and starts as its primary',
    facts({ podName: 'pg-0', rec: 'absent', data: empty }), [{ do: 'initialize' }, startPrimary], 'initializing a new cluster, with this pod as its primary'],
  ['pod 0, no record, empty volume, restoreFrom: restores instead of initdb, waiting and retrying on failure',
    facts({ podName: 'pg-0', rec: 'absent', data: empty, restoreFrom: true }), [{ do: 'restore', onFailure: 'wait' }, startPrimary], 'restoring the backup (restoreFrom)'],
  ['another pod, no record, empty volume: waits (briefly) for pod 0 to initialize',
    facts({ rec: 'absent', data: empty }), [{ do: 'wait', retry: 'bootstrap' }], 'waiting for pod 0 to initialize the cluster'],
  ['pod 10 is not pod 0 (the ordinal is the text after the last dash)',
    facts({ podName: 'pg-10', rec: 'absent', data: empty, restoreFrom: true }), [{ do: 'wait', retry: 'bootstrap' }], 'waiting for pod 0'],
  ['pod 0 of a cluster whose name has dashes initializes',
    facts({ podName: 'my-pg-cluster-0', rec: 'absent', data: empty }), [{ do: 'initialize' }, startPrimary], 'initializing'],
  ['empty volume while a failover job holds the record: waits for its end',
    facts({ rec: failingToMe, data: empty }), [wait], 'an empty volume, and a failover job holds the leader record (epoch 5, failing-over'],
  ['empty volume while switching over: waits too (the message says "failover job" for a switchover as well)',
    facts({ rec: switchingToMe, data: empty }), [wait], 'a failover job holds the leader record (epoch 5, switching-over'],
  ['empty volume of the recorded primary: its data is lost; never initializes a second cluster, waits for a person',
    facts({ rec: stableMe, data: empty }), [wait], 'its data is lost. Never initializing a second cluster: start the failover job to promote a replica (epoch 4'],
  ['empty volume of another pod: clones from the recorded primary and starts as its replica',
    facts({ data: empty }), [{ do: 'clone', from: 'pg-0', onFailure: 'wait' }, startReplica], 'cloning from the recorded primary pg-0'],
  ['empty volume in synchronous mode: waits to be listed before it clones',
    facts({ data: empty, syncReplicas: 1 }), [awaitSync, { do: 'clone', from: 'pg-0', onFailure: 'wait' }, startReplica], 'cloning from the recorded primary pg-0'],

  // Data of another cluster.
  ['data of another cluster that this entrypoint initialized (it lost the race to create the record): discards it and decides again',
    facts({ data: { ...primaryData, systemIdentifier: '8000', initializedByEntrypoint: true } }), [{ do: 'discard-data', keep: true }, { do: 'decide-again' }],
    'another pod created the cluster\'s leader record first (system identifier 7000); this pod\'s new cluster (8000) was never used'],
  ['fails when the data belongs to another database cluster: refuses to touch it',
    facts({ data: { ...replicaData, systemIdentifier: '8000' } }), [{ do: 'fail' }], 'belongs to another database cluster (system identifier 8000; the leader record\'s is 7000)'],
  ['a record without a system identifier is not compared (the script skips the check)',
    facts({ rec: { ...stableOther, systemIdentifier: undefined }, data: { ...replicaData, systemIdentifier: '8000' } }), [startReplica], 'starting as a replica of pg-0'],

  // Data, no record.
  ['a replica\'s data and no record: waits for the primary\'s sidecar to create it',
    facts({ rec: 'absent' }), [wait], 'a replica\'s data and no leader record'],
  ['a primary\'s data and no record: starts as the primary; its sidecar records it',
    facts({ rec: 'absent', data: primaryData }), [startPrimary], 'no leader record: this pod\'s data is a primary\'s'],
  ['a primary\'s data that this entrypoint initialized, no record yet: starts as the primary, keeps the marker',
    facts({ podName: 'pg-0', rec: 'absent', data: { ...primaryData, initializedByEntrypoint: true } }), [startPrimary], 'starting as the primary'],

  // A job holds the record.
  ['failing over to this pod, which was promoted (no standby.signal): starts as the primary',
    facts({ rec: failingToMe, data: primaryData }), [startPrimary], 'a failover job promoted this pod (epoch 5, failing-over, primary (none), timeline 3 (job f-1: pg-0 -> pg-1)): starting as the primary'],
  ['switching over to this pod without standby.signal: starts as the primary, as the script does (its sidecar will fence it)',
    facts({ rec: switchingToMe, data: primaryData }), [startPrimary], 'a failover job promoted this pod'],
  ['record: failing over to this pod; PostgreSQL: a replica\'s data. Starts as a replica: the sidecar promotes',
    facts({ rec: failingToMe }), [startReplica], 'a failover job holds the leader record (epoch 5'],
  ['a replica while a failover job holds the record: starts as a replica, without waiting to be listed (even in synchronous mode)',
    facts({ rec: failingNoTarget, syncReplicas: 2 }), [startReplica], 'starting as a replica'],
  ['a former primary while a failover job holds the record (target another pod): waits for its end',
    facts({ rec: { ...failingToMe, target: 'pg-2' }, data: primaryData }), [wait], 'this pod\'s data is a former primary\'s and a failover job holds the leader record'],
  ['a former primary while a failover has no target yet: waits',
    facts({ rec: failingNoTarget, data: primaryData }), [wait], 'waiting for its end'],

  // The record names this pod.
  ['the record names this pod and its data is a primary\'s: starts as the primary',
    facts({ rec: stableMe, data: primaryData }), [startPrimary], 'the leader record names this pod as the primary (epoch 4, stable, primary pg-1'],
  ['record: this pod is the primary; PostgreSQL: a replica\'s data. Removes standby.signal and starts as the primary',
    facts({ rec: stableMe, data: fencedData }), [{ do: 'remove-standby-signal' }, startPrimary], 'starting as the primary'],
  ['record: this pod the primary; data: a replica\'s (a failover named it while its sidecar could not promote it): starts in recovery, never on the old timeline as a primary',
    facts({ rec: stableMe }), [startReplica],
    'the leader record names this pod as the primary (epoch 4, stable, primary pg-1, timeline 3), and its data is a replica\'s: starting in recovery; its sidecar promotes it (a new timeline)'],
  ['the same in synchronous mode: no wait to be listed (the primary is never in its own set)',
    facts({ rec: stableMe, syncReplicas: 1 }), [startReplica], 'its sidecar promotes it'],
  ['a replica\'s data that crashed in recovery: the same',
    facts({ rec: stableMe, data: { ...replicaData, shutDownCleanly: false } }), [startReplica], 'its sidecar promotes it'],
  ['the record names this pod\'s new cluster: the init marker goes, then it starts as the primary',
    facts({ podName: 'pg-0', rec: { ...stableMe, primary: 'pg-0' }, data: { ...primaryData, initializedByEntrypoint: true } }),
    [{ do: 'remove-init-marker' }, startPrimary], 'starting as the primary'],

  // A former primary, another pod recorded: rejoin.
  ['record: another primary on a newer timeline; PostgreSQL: a primary\'s data. Rewinds onto it (or re-clones) and starts as a replica',
    facts({ data: { ...primaryData, timeline: 2 } }), [{ do: 'rewind', from: 'pg-0', onFailure: 'wait' }, startReplica],
    'the leader record names pg-0 (epoch 4, timeline 3); this pod\'s data is on timeline 2: rejoining as its replica'],
  ['rejoining in synchronous mode: rewinds, then waits to be listed, then starts',
    facts({ data: { ...primaryData, timeline: 2 }, syncReplicas: 1 }), [{ do: 'rewind', from: 'pg-0', onFailure: 'wait' }, awaitSync, startReplica], 'rejoining'],
  ['record: another primary on the same timeline; PostgreSQL: a primary\'s data. Never rewinds onto an older timeline: split brain, waits for a person',
    facts({ data: primaryData }), [wait], 'on a timeline (3) not older than the recorded primary\'s (pg-0, timeline 3): never rewinding onto an older timeline'],
  // A timeline the record never named: a promotion by hand (issue: the reference design's manual failover steps).
  ['a former primary on a newer timeline than the record\'s, the record\'s being its primary\'s: promoted by hand; keeps its WAL aside, rejoins',
    facts({ data: { ...primaryData, timeline: 4 } }),
    [{ do: 'keep-diverged-wal', after: 3, through: 4, primary: 'pg-0' }, { do: 'rewind', from: 'pg-0', onFailure: 'wait' }, startReplica],
    'this pod was promoted outside the leader record (timeline 4; the record names pg-0 on timeline 3): an unrecorded divergence, not a newer primary'],
  ['a fenced pod (standby.signal) promoted by hand, two timelines ahead: keeps both timelines\' WAL, rejoins, waits to be listed in synchronous mode',
    facts({ data: { ...replicaData, timeline: 5 }, syncReplicas: 1 }),
    [{ do: 'keep-diverged-wal', after: 3, through: 5, primary: 'pg-0' }, { do: 'rewind', from: 'pg-0', onFailure: 'wait' }, awaitSync, startReplica], 'an unrecorded divergence'],
  ['a newer timeline while the recorded primary does not answer: waits (only it can tell)',
    facts({ data: { ...replicaData, timeline: 4 }, recordedPrimaryTimeline: undefined }), [wait],
    'this pod\'s data is on timeline 4, newer than the leader record\'s (3); the recorded primary pg-0 does not answer'],
  ['a newer timeline while the record lags behind its primary (just promoted, not yet recorded): waits briefly, never discards',
    facts({ data: { ...replicaData, timeline: 4 }, recordedPrimaryTimeline: 4 }), [{ do: 'wait', retry: 'bootstrap' }],
    'the leader record\'s timeline (3) is behind its primary\'s (4): waiting for its sidecar to record it'],
  ['a newer timeline than a primary that is itself ahead of the record: still waits for the record',
    facts({ data: { ...primaryData, timeline: 6 }, recordedPrimaryTimeline: 5 }), [{ do: 'wait', retry: 'bootstrap' }], 'is behind its primary\'s (5)'],
  ['a former primary whose recorded primary does not answer: waits (only it can say how to rejoin)',
    facts({ data: { ...primaryData, timeline: 2 }, recordedPrimaryAnswers: false }), [wait], 'the recorded primary pg-0 does not answer'],

  // A replica, another pod recorded: resume.
  ['a replica on the primary\'s timeline: starts as its replica',
    facts(), [startReplica], 'the data directory is a replica\'s: starting as a replica of pg-0'],
  ['a replica in synchronous mode: waits to be listed, then starts',
    facts({ syncReplicas: 1 }), [awaitSync, startReplica], 'starting as a replica of pg-0'],
  ['a replica shut down cleanly behind a newer timeline: pg_rewind checks it can follow; a failed re-clone exits (the container restarts)',
    facts({ data: { ...replicaData, timeline: 2 } }), [{ do: 'rewind', from: 'pg-0', onFailure: 'exit' }, startReplica],
    'the primary is on a newer timeline (3) than this replica (2): checking that this replica can follow it'],
  ['the same in synchronous mode: rewinds, waits to be listed, starts',
    facts({ data: { ...replicaData, timeline: 2 }, syncReplicas: 3 }), [{ do: 'rewind', from: 'pg-0', onFailure: 'exit' }, awaitSync, startReplica], 'checking'],
  ['a replica behind a newer timeline that crashed: left to follow (pg_rewind cannot run on it)',
    facts({ data: { ...replicaData, timeline: 2, shutDownCleanly: false } }), [startReplica], 'starting as a replica of pg-0'],
  ['a replica behind a newer timeline whose primary does not answer: starts and follows',
    facts({ data: { ...replicaData, timeline: 2 }, recordedPrimaryAnswers: false }), [startReplica], 'starting as a replica of pg-0'],

  // The sidecar asked for a new clone.
  ['a re-clone asked for by the sidecar: the replica\'s data goes, the marker goes, it clones and starts',
    facts({ recloneRequested: true }), [{ do: 'discard-data', keep: false }, { do: 'remove-reclone-marker' }, { do: 'clone', from: 'pg-0', onFailure: 'wait' }, startReplica],
    'the sidecar found that the primary no longer keeps the WAL this replica needs: discarding its data; an empty volume: cloning from the recorded primary pg-0'],
  ['a re-clone asked for, in synchronous mode: waits to be listed before it clones',
    facts({ recloneRequested: true, syncReplicas: 1 }), [{ do: 'discard-data', keep: false }, { do: 'remove-reclone-marker' }, awaitSync, { do: 'clone', from: 'pg-0', onFailure: 'wait' }, startReplica],
    'discarding its data'],
  ['a re-clone asked for, but the record names this pod: no discard; the marker goes; starts as the primary',
    facts({ recloneRequested: true, rec: stableMe, data: fencedData }), [{ do: 'remove-reclone-marker' }, { do: 'remove-standby-signal' }, startPrimary], 'the leader record names this pod as the primary'],
  ['a re-clone asked for, but the data is a primary\'s: no discard',
    facts({ recloneRequested: true, data: { ...primaryData, timeline: 2 } }), [{ do: 'remove-reclone-marker' }, { do: 'rewind', from: 'pg-0', onFailure: 'wait' }, startReplica], 'rejoining'],
  ['a re-clone asked for while a failover job holds the record: no discard',
    facts({ recloneRequested: true, rec: failingNoTarget }), [{ do: 'remove-reclone-marker' }, startReplica], 'a failover job holds the leader record'],
  ['fails when pg_control cannot be read (a layout the agent does not know), whatever the record says',
    facts({ data: { kind: 'unreadable', reason: 'pg_control_version 1900', version: '15' }, record: { kind: 'stale' } }), [{ do: 'fail' }],
    'the data directory\'s pg_control cannot be read (pg_control_version 1900): refusing to guess'],
  ['fails on another major\'s data (postgresVersion changed on an existing cluster): never started, never discarded, whatever the record',
    facts({ postgresVersion: 16, recloneRequested: true, rec: stableMe, data: primaryData }), [{ do: 'fail' }],
    'the data directory is PostgreSQL 15\'s (PG_VERSION), and this pod runs PostgreSQL 16: a server never starts on another major\'s data. '
    + 'Set postgresVersion back to 15 and apply, or upgrade (README: Major-version upgrades)'],
  ['fails on another major\'s data before trying its pg_control (another major\'s layout)',
    facts({ data: { kind: 'unreadable', reason: 'pg_control_version 1700', version: '17' }, record: { kind: 'stale' } }), [{ do: 'fail' }],
    'the data directory is PostgreSQL 17\'s (PG_VERSION), and this pod runs PostgreSQL 15'],
  ['an empty volume has no major: a pod of any postgresVersion initializes it',
    facts({ postgresVersion: 17, podName: 'pg-0', rec: 'absent', data: empty }), [{ do: 'initialize' }, startPrimary], 'initializing'],
  ['a re-clone asked for with no record: no discard',
    facts({ recloneRequested: true, rec: 'absent' }), [{ do: 'remove-reclone-marker' }, wait], 'a replica\'s data and no leader record'],
  ['a re-clone asked for on an empty volume: nothing to discard',
    facts({ recloneRequested: true, data: empty }), [{ do: 'remove-reclone-marker' }, { do: 'clone', from: 'pg-0', onFailure: 'wait' }, startReplica], 'an empty volume: cloning'],
];

describe('decideStart: what the postgres container does at start', () => {
  test.each(cases)('%s', (_name, given, steps, reason) => {
    const decided = decideStart(given);
    expect(decided.steps).toEqual(steps);
    expect(decided.reason).toContain(reason);
  });

  test('the reason of a plain start carries no re-clone preamble', () => {
    expect(decideStart(facts()).reason).toBe('the data directory is a replica\'s: starting as a replica of pg-0');
  });

  test('a re-clone asked for but not done (the record names this pod) says nothing of discarding', () => {
    expect(decideStart(facts({ recloneRequested: true, rec: stableMe, data: fencedData })).reason).toBe(
      'the leader record names this pod as the primary (epoch 4, stable, primary pg-1, timeline 3): starting as the primary');
  });
});

describe('decideStart over every record state × data directory × answer of the primary', () => {
  const recordsSeen: Array<LeaderRecord | undefined> = [undefined, stableMe, stableOther, failingToMe, failingNoTarget, { ...failingToMe, target: 'pg-2' }, switchingToMe,
    { ...switchingToMe, target: 'pg-2', previous: ME }];
  const dataSeen: DataDirectory[] = [empty, replicaData, primaryData, fencedData, { ...replicaData, timeline: 2 }, { ...primaryData, timeline: 2 },
    { ...primaryData, timeline: 4 }, { ...replicaData, timeline: 2, shutDownCleanly: false }, { ...primaryData, initializedByEntrypoint: true }];
  const matrix = recordsSeen.flatMap(record => dataSeen.flatMap(data => [true, false].flatMap(answers =>
    [0, 1].map(syncReplicas => facts({ rec: record ?? 'absent', data, recordedPrimaryAnswers: answers, recordedPrimaryTimeline: answers ? 3 : undefined, syncReplicas })))));

  const rows = matrix.map(f => [JSON.stringify(f.record), JSON.stringify(f.data), f.recordedPrimaryAnswers, f.syncReplicas, f] as const);
  test.each(rows)(
    'record %s, data %s, primary answers %s, sync %s: starts a primary only where the record allows it', (_r, _d, _a, _s, given) => {
      const decided = decideStart(given);
      const record = given.record.kind === 'read' ? given.record.record : undefined;
      const last = decided.steps[decided.steps.length - 1];
      expect(decided.reason).not.toBe('');
      if (last.do === 'start' && last.as === 'primary') {
        const allowed = record === undefined
          || (record.state === 'stable' && record.primary === ME)
          || (record.state !== 'stable' && record.target === ME && given.data.kind === 'data' && !given.data.standbySignal);
        expect(allowed).toBe(true);
      }
      // A new cluster is made only when there is no record.
      if (decided.steps.some(s => s.do === 'initialize' || s.do === 'restore')) expect(record).toBeUndefined();
      // Data is rewound onto a timeline that is not newer than its own only when that timeline is one the record never
      // named (the recorded primary confirms the record's), and only after its WAL was kept aside.
      const rewind = decided.steps.findIndex(s => s.do === 'rewind');
      if (rewind >= 0 && given.data.kind === 'data' && record!.timeline <= given.data.timeline) {
        expect(record!.timeline).toBeLessThan(given.data.timeline);
        expect(given.recordedPrimaryTimeline).toBe(record!.timeline);
        expect(decided.steps.slice(0, rewind)).toContainEqual({ do: 'keep-diverged-wal', after: record!.timeline, through: given.data.timeline, primary: (record as StableRecord).primary });
      }
      // Every plan ends in a start, a wait, a new decision or a failure.
      expect(['start', 'wait', 'decide-again', 'fail']).toContain(last.do);
    });
});

describe('asksRecordedPrimary: the agent asks the recorded primary only when the decision depends on its answer', () => {
  test.each<[string, StartFacts, boolean]>([
    ['a replica on the record\'s timeline', facts(), false],
    ['a former primary on the record\'s timeline (it waits for a person without asking)', facts({ data: primaryData }), false],
    ['a replica behind the record\'s timeline (may need a rewind)', facts({ data: { ...replicaData, timeline: 2 } }), true],
    ['a former primary behind the record\'s timeline (rejoins)', facts({ data: { ...primaryData, timeline: 2 } }), true],
    ['data ahead of the record\'s timeline (promoted by hand?)', facts({ data: { ...primaryData, timeline: 4 } }), true],
    ['the record names this pod', facts({ rec: stableMe, data: { ...primaryData, timeline: 2 } }), false],
    ['a failover job holds the record', facts({ rec: failingToMe, data: { ...primaryData, timeline: 2 } }), false],
    ['no record', facts({ rec: 'absent', data: { ...primaryData, timeline: 2 } }), false],
    ['no fresh record', facts({ record: { kind: 'stale' }, data: { ...primaryData, timeline: 2 } }), false],
    ['an empty volume', facts({ data: empty }), false],
  ])('%s: %s', (_name, given, asks) => {
    expect(asksRecordedPrimary(given)).toBe(asks);
  });

  test('where it does not ask, the plan is the same whatever the primary would have answered', () => {
    const records: Array<LeaderRecord | 'absent'> = ['absent', stableMe, stableOther, failingToMe, failingNoTarget, switchingToMe];
    const data: DataDirectory[] = [empty, replicaData, primaryData, fencedData, { ...replicaData, timeline: 2 }, { ...primaryData, timeline: 4 },
      { ...replicaData, timeline: 2, shutDownCleanly: false }, { ...primaryData, initializedByEntrypoint: true }];
    let unasked = 0;
    for (const rec of records) {
      for (const d of data) {
        const base = facts({ rec, data: d });
        if (asksRecordedPrimary(base)) continue;
        unasked++;
        const answered = decideStart({ ...base, recordedPrimaryAnswers: true, recordedPrimaryTimeline: 3 });
        expect(decideStart({ ...base, recordedPrimaryAnswers: false, recordedPrimaryTimeline: undefined })).toEqual(answered);
        expect(decideStart({ ...base, recordedPrimaryAnswers: true, recordedPrimaryTimeline: 9 })).toEqual(answered);
      }
    }
    expect(unasked).toBeGreaterThan(30);
  });
});

describe('a replica configured below what its primary\'s WAL requires starts with the WAL\'s values', () => {
  test.each<[string, Partial<HotStandbyValues>, Partial<HotStandbyValues>, ReturnType<typeof hotStandbyRaises>]>([
    ['all as the WAL\'s: nothing raised', {}, {}, []],
    ['configured higher (a rolling update raising them): nothing raised', { max_connections: 200, max_wal_senders: 20 }, {}, []],
    ['max_connections lowered', { max_connections: 50 }, {}, [{ name: 'max_connections', value: 100 }]],
    ['each of the five, in PostgreSQL\'s order', { max_connections: 99, max_worker_processes: 7, max_wal_senders: 9, max_prepared_transactions: 0, max_locks_per_transaction: 63 },
      { max_prepared_transactions: 1 }, [
        { name: 'max_connections', value: 100 }, { name: 'max_worker_processes', value: 8 }, { name: 'max_wal_senders', value: 10 },
        { name: 'max_prepared_transactions', value: 1 }, { name: 'max_locks_per_transaction', value: 64 },
      ]],
  ])('%s', (_name, configured, required, raises) => {
    expect(hotStandbyRaises({ ...DEFAULTS, ...configured }, { ...DEFAULTS, ...required })).toEqual(raises);
  });

  test('the configuration unknown: nothing raised', () => {
    expect(hotStandbyRaises(undefined, { ...DEFAULTS, max_connections: 500 })).toEqual([]);
  });

  test('only a replica\'s start is raised, and the reason says so; a primary starts as configured', () => {
    const lowered = { configured: { ...DEFAULTS, max_connections: 40 } };
    expect(decideStart(facts(lowered))).toEqual({
      steps: [{ do: 'start', as: 'replica', settings: [{ name: 'max_connections', value: 100 }] }],
      reason: 'the data directory is a replica\'s: starting as a replica of pg-0; with max_connections 100 (the primary\'s WAL requires at least '
        + 'that on a replica, more than configured: the configured value takes effect once the primary runs with it)',
    });
    const rejoining = decideStart(facts({ ...lowered, data: fencedData, rec: { ...stableOther, timeline: 4 } }));
    expect(rejoining.steps[rejoining.steps.length - 1]).toEqual({ do: 'start', as: 'replica', settings: [{ name: 'max_connections', value: 100 }] });
    expect(decideStart(facts({ ...lowered, data: primaryData, rec: stableMe }))).toEqual(decideStart(facts({ data: primaryData, rec: stableMe })));
    // A plan that does not start (waits) is as it was.
    expect(decideStart(facts({ ...lowered, record: { kind: 'stale' } }))).toEqual(decideStart(facts({ record: { kind: 'stale' } })));
  });

  test('a replica checked against a newer timeline, with two settings lowered: only its start is raised, the steps before it run as planned, and the reason names each setting', () => {
    const lowered = { configured: { ...DEFAULTS, max_connections: 40, max_wal_senders: 5 }, syncReplicas: 1 };
    const raises = [{ name: 'max_connections', value: 100 }, { name: 'max_wal_senders', value: 10 }];
    expect(decideStart(facts({ ...lowered, data: fencedData, rec: { ...stableOther, timeline: 4 } }))).toEqual({
      steps: [{ do: 'rewind', from: 'pg-0', onFailure: 'exit' }, awaitSync, { do: 'start', as: 'replica', settings: raises }],
      reason: 'the primary is on a newer timeline (4) than this replica (3): checking that this replica can follow it; with max_connections 100, '
        + 'max_wal_senders 10 (the primary\'s WAL requires at least that on a replica, more than configured: the configured value takes effect once '
        + 'the primary runs with it)',
    });
  });
});

describe('isBootstrapWait: the one plan whose answer the sidecar may hold, a wait for pod 0 to initialize the cluster', () => {
  const bootstrap: StartStep = { do: 'wait', retry: 'bootstrap' };
  test.each<[string, readonly StartStep[], boolean]>([
    ['a wait for pod 0, alone', [bootstrap], true],
    ['a plain wait (RETRY_SECONDS)', [{ do: 'wait', retry: 'normal' }], false],
    ['a wait for pod 0 after another step', [{ do: 'remove-init-marker' }, bootstrap], false],
    ['a wait for pod 0 before another step', [bootstrap, { do: 'decide-again' }], false],
    ['a start', [{ do: 'start', as: 'replica' }], false],
    ['no step', [], false],
  ])('%s: %s', (_name, steps, holds) => {
    expect(isBootstrapWait({ steps, reason: 'why' })).toBe(holds);
  });
  test('decideStart makes it for a pod other than 0 before the cluster exists', () => {
    const plan = decideStart(facts({ rec: 'absent', data: empty }));
    expect(isBootstrapWait(plan)).toBe(true);
  });
});

describe('the plan file the entrypoint reads', () => {
  test.each<[StartStep, string]>([
    [{ do: 'discard-data', keep: true }, 'discard-data keep'],
    [{ do: 'discard-data', keep: false }, 'discard-data delete'],
    [{ do: 'remove-reclone-marker' }, 'remove-reclone-marker'],
    [{ do: 'remove-init-marker' }, 'remove-init-marker'],
    [{ do: 'remove-standby-signal' }, 'remove-standby-signal'],
    [{ do: 'initialize' }, 'initialize'],
    [{ do: 'restore', onFailure: 'wait' }, 'restore wait'],
    [{ do: 'await-sync-membership' }, 'await-sync-membership'],
    [{ do: 'clone', from: 'pg-0', onFailure: 'wait' }, 'clone pg-0 wait'],
    [{ do: 'keep-diverged-wal', after: 3, through: 5, primary: 'pg-0' }, 'keep-diverged-wal 3 5 pg-0'],
    [{ do: 'rewind', from: 'pg-2', onFailure: 'exit' }, 'rewind pg-2 exit'],
    [startPrimary, 'start primary'],
    [startReplica, 'start replica'],
    [{ do: 'start', as: 'replica', settings: [] }, 'start replica'],
    [{ do: 'start', as: 'replica', settings: [{ name: 'max_connections', value: 200 }, { name: 'max_locks_per_transaction', value: 128 }] },
      'start replica max_connections=200 max_locks_per_transaction=128'],
    [wait, 'wait normal'],
    [{ do: 'wait', retry: 'bootstrap' }, 'wait bootstrap'],
    [{ do: 'decide-again' }, 'decide-again'],
    [{ do: 'fail' }, 'fail'],
  ])('%j is the line "%s"', (step, line) => {
    expect(stepText(step)).toBe(line);
  });

  test('the request it answers, the reason on one line, then the steps in order', () => {
    const decided = { reason: 'first line\n  second line', steps: [{ do: 'rewind', from: 'pg-0', onFailure: 'wait' }, startReplica] as StartStep[] };
    expect(startPlanText('1733380000000000-42', decided)).toBe(
      'request=1733380000000000-42\nreason=first line second line\nstep=rewind pg-0 wait\nstep=start replica\n');
    expect(startPlanText('r', decideStart(facts()))).toBe('request=r\nreason=the data directory is a replica\'s: starting as a replica of pg-0\nstep=start replica\n');
  });
});
