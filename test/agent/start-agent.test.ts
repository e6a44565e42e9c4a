import * as fs from 'fs';
import * as path from 'path';
import { ServerAnswer } from '../../src/agent/node-status';
import { DbState, readControlFile } from '../../src/agent/postgres';
import { StableRecord } from '../../src/agent/record';
import { decideStart, HotStandbyValues } from '../../src/agent/start';
import { dataDirectoryOf, INIT_MARKER, parseStartRequest, RECLONE_MARKER, startPlanOf, StartInputs, writeStartPlan } from '../../src/agent/start-agent';
import { crc32c, postgresScratchDir, runAsPostgres as run } from '../support/postgres';

// GIVEN a data directory that initdb (PostgreSQL 15) made, copied and changed as a pod's volume may be; WHEN the sidecar
// answers the entrypoint's request for a start plan; THEN the facts it read, and the plan it wrote.
const scratch = postgresScratchDir();
const initialized = path.join(scratch, 'initialized');
let systemIdentifier = '';
let hotStandbyOfControldata: HotStandbyValues;
let copies = 0;

beforeAll(() => {
  run('initdb', '-D', initialized, '-U', 'postgres', '--auth-local=trust', '--encoding=UTF8', '--locale=C');
  const controldata = run('pg_controldata', initialized);
  systemIdentifier = /^Database system identifier: *(\d+)$/m.exec(controldata)![1];
  const setting = (label: string) => Number(new RegExp(`^${label} setting: *(\\d+)$`, 'm').exec(controldata)![1]);
  hotStandbyOfControldata = {
    max_connections: setting('max_connections'),
    max_worker_processes: setting('max_worker_processes'),
    max_wal_senders: setting('max_wal_senders'),
    max_prepared_transactions: setting('max_prepared_xacts'),
    max_locks_per_transaction: setting('max_locks_per_xact'),
  };
}, 60_000);

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** A copy of the initialized directory (its pg_control, PG_VERSION, an empty pg_wal), pg_control's state set to `state`. */
function dataWith(state: DbState = DbState.SHUT_DOWN): string {
  const dir = path.join(scratch, `copy-${++copies}`, 'pgdata');
  fs.mkdirSync(path.join(dir, 'global'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'pg_wal'));
  fs.copyFileSync(path.join(initialized, 'PG_VERSION'), path.join(dir, 'PG_VERSION'));
  const control = fs.readFileSync(path.join(initialized, 'global', 'pg_control'));
  control.writeUInt32LE(state, 16);
  control.writeUInt32LE(crc32c(control.subarray(0, 288)), 288);
  fs.writeFileSync(path.join(dir, 'global', 'pg_control'), control);
  return dir;
}

let configDirs = 0;
/** A directory with this postgresql.conf, as the ConfigMap is mounted. */
function configDirWith(conf: string): string {
  const dir = path.join(scratch, `config-${++configDirs}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'postgresql.conf'), conf);
  return dir;
}

const recordOf = (primary: string, timeline: number): StableRecord => ({
  version: 1, state: 'stable', primary, epoch: 2, timeline, systemIdentifier, sync: [],
});

describe('dataDirectoryOf: the data directory as the start decision needs it', () => {
  test('what initdb left: its system identifier, timeline 1, a clean shutdown, no standby.signal nor markers', () => {
    expect(dataDirectoryOf(dataWith())).toEqual({
      kind: 'data',
      version: '15',
      systemIdentifier,
      timeline: 1,
      standbySignal: false,
      shutDownCleanly: true,
      recoveryState: false,
      initializedByEntrypoint: false,
      hotStandby: hotStandbyOfControldata,
    });
    expect(systemIdentifier).toMatch(/^[1-9]\d{15,19}$/);
  });

  test('the hot-standby settings pg_control keeps are pg_controldata\'s, each at its own place', () => {
    expect(Object.values(hotStandbyOfControldata).every(value => Number.isInteger(value))).toBe(true);
    const dir = dataWith();
    const control = fs.readFileSync(path.join(dir, 'global', 'pg_control'));
    [37, 9, 7, 3, 70].forEach((value, i) => control.writeInt32LE(value, 180 + 4 * i));
    control.writeUInt32LE(crc32c(control.subarray(0, 288)), 288);
    fs.writeFileSync(path.join(dir, 'global', 'pg_control'), control);
    expect(dataDirectoryOf(dir)).toMatchObject({
      hotStandby: { max_connections: 37, max_worker_processes: 9, max_wal_senders: 7, max_prepared_transactions: 3, max_locks_per_transaction: 70 },
    });
  });

  test.each<[string, boolean, boolean, DbState]>([
    ['shut down', true, false, DbState.SHUT_DOWN],
    ['shut down in recovery (a replica stopped cleanly)', true, true, DbState.SHUT_DOWN_IN_RECOVERY],
    ['in archive recovery (a replica that crashed)', false, true, DbState.IN_ARCHIVE_RECOVERY],
    ['in production (a primary that crashed)', false, false, DbState.IN_PRODUCTION],
    ['in crash recovery', false, false, DbState.IN_CRASH_RECOVERY],
    ['shutting down', false, false, DbState.SHUTTING_DOWN],
  ])('pg_control says %s: shut down cleanly %s, a replica\'s state %s', (_name, clean, recovery, state) => {
    expect(dataDirectoryOf(dataWith(state))).toMatchObject({ shutDownCleanly: clean, recoveryState: recovery });
  });

  test('standby.signal and the entrypoint\'s marker are seen; the timeline is the highest of pg_control and pg_wal/*.history', () => {
    const dir = dataWith(DbState.SHUT_DOWN_IN_RECOVERY);
    fs.writeFileSync(path.join(dir, 'standby.signal'), '');
    fs.writeFileSync(path.join(dir, INIT_MARKER), '');
    expect(dataDirectoryOf(dir)).toMatchObject({ timeline: 1, standbySignal: true, initializedByEntrypoint: true });
    for (const name of ['00000002.history', '0000000A.history', '0000000B.history.partial', '0000000C', '0000000D.HISTORY', 'history', 'x0000000F.history']) {
      fs.writeFileSync(path.join(dir, 'pg_wal', name), '');
    }
    expect(dataDirectoryOf(dir)).toMatchObject({ timeline: 10 });
  });

  test('pg_control ahead of every history file: its timeline counts', () => {
    const dir = dataWith();
    const control = fs.readFileSync(path.join(dir, 'global', 'pg_control'));
    control.writeUInt32LE(7, 48);
    control.writeUInt32LE(crc32c(control.subarray(0, 288)), 288);
    fs.writeFileSync(path.join(dir, 'global', 'pg_control'), control);
    fs.writeFileSync(path.join(dir, 'pg_wal', '00000003.history'), '');
    expect(readControlFile(dir)).toMatchObject({ kind: 'read', control: { timeline: 7 } });
    expect(dataDirectoryOf(dir)).toMatchObject({ timeline: 7 });
    // No pg_wal at all: pg_control alone.
    fs.rmSync(path.join(dir, 'pg_wal'), { recursive: true });
    expect(dataDirectoryOf(dir)).toMatchObject({ kind: 'data', timeline: 7 });
  });

  test('no directory, or an empty one: empty; files without a PG_VERSION (or an empty one): not a data directory', () => {
    const base = path.join(scratch, 'volumes');
    fs.mkdirSync(path.join(base, 'empty'), { recursive: true });
    expect(dataDirectoryOf(path.join(base, 'missing'))).toEqual({ kind: 'empty' });
    expect(dataDirectoryOf(path.join(base, 'empty'))).toEqual({ kind: 'empty' });
    fs.mkdirSync(path.join(base, 'files'));
    fs.writeFileSync(path.join(base, 'files', 'notes.txt'), 'mine');
    expect(dataDirectoryOf(path.join(base, 'files'))).toEqual({ kind: 'not-a-data-directory' });
    fs.writeFileSync(path.join(base, 'files', 'PG_VERSION'), '');
    expect(dataDirectoryOf(path.join(base, 'files'))).toEqual({ kind: 'not-a-data-directory' });
  });

  test('a PG_VERSION whose pg_control cannot be read: unreadable, with the reason', () => {
    const dir = dataWith();
    fs.rmSync(path.join(dir, 'global', 'pg_control'));
    expect(dataDirectoryOf(dir)).toEqual({ kind: 'unreadable', reason: expect.stringMatching(/^cannot read .*global\/pg_control: ENOENT/), version: '15' });
  });
});

describe('startPlanOf: the facts gathered, the recorded primary asked only where the decision needs it', () => {
  function inputs(pgdata: string, overrides: Partial<StartInputs> = {}): StartInputs & { asked: string[] } {
    const asked: string[] = [];
    return {
      podName: 'pg-1',
      pgdata,
      configDir: configDirWith(''),
      record: { kind: 'read', record: recordOf('pg-0', 1) },
      restoreFrom: false,
      syncReplicas: 0,
      postgresVersion: 15,
      ask: async pod => { asked.push(pod); return undefined; },
      asked,
      ...overrides,
    };
  }
  const answering = (answer: ServerAnswer, asked: string[]) => async (pod: string) => { asked.push(pod); return answer; };

  test('a replica configured below what its primary\'s WAL requires (a rolling update lowering max_connections) starts with the WAL\'s values: '
    + 'postgresql.conf, postgresql.auto.conf over it', async () => {
    const dir = dataWith(DbState.SHUT_DOWN_IN_RECOVERY);
    fs.writeFileSync(path.join(dir, 'standby.signal'), '');
    const required = hotStandbyOfControldata.max_connections;
    const lowered = await startPlanOf(inputs(dir, { configDir: configDirWith(`max_connections = ${required - 20}\nmax_wal_senders = 1\n`) }));
    expect(lowered.steps).toEqual([{
      do: 'start',
      as: 'replica',
      settings: [
        { name: 'max_connections', value: required }, { name: 'max_wal_senders', value: hotStandbyOfControldata.max_wal_senders },
      ],
    }]);
    expect(lowered.reason).toBe(`the data directory is a replica's: starting as a replica of pg-0; with max_connections ${required}, max_wal_senders `
      + `${hotStandbyOfControldata.max_wal_senders} (the primary's WAL requires at least that on a replica, more than configured: the configured value `
      + 'takes effect once the primary runs with it)');
    fs.writeFileSync(path.join(dir, 'postgresql.auto.conf'), `max_wal_senders = '${hotStandbyOfControldata.max_wal_senders}'\n`);
    expect((await startPlanOf(inputs(dir, { configDir: configDirWith(`max_connections = ${required - 20}\nmax_wal_senders = 1\n`) }))).steps)
      .toEqual([{ do: 'start', as: 'replica', settings: [{ name: 'max_connections', value: required }] }]);
    // No postgresql.conf to read: nothing is known to be lower.
    expect((await startPlanOf(inputs(dir, { configDir: path.join(scratch, 'no-such-dir') }))).steps).toEqual([{ do: 'start', as: 'replica' }]);
  });

  test('a replica on the record\'s timeline starts without asking the primary', async () => {
    const dir = dataWith(DbState.SHUT_DOWN_IN_RECOVERY);
    fs.writeFileSync(path.join(dir, 'standby.signal'), '');
    const given = inputs(dir);
    expect(await startPlanOf(given)).toEqual({ reason: 'the data directory is a replica\'s: starting as a replica of pg-0', steps: [{ do: 'start', as: 'replica' }] });
    expect(given.asked).toEqual([]);
  });

  test('a former primary behind the record: the primary is asked; it answers, so the pod rejoins it; it does not, so the pod waits', async () => {
    const dir = dataWith();
    const asked: string[] = [];
    const rejoins = await startPlanOf(inputs(dir, {
      record: { kind: 'read', record: recordOf('pg-0', 2) },
      ask: answering({ role: 'replica', lsn: '0/3000000', receiver: 'streaming', timeline: 2 }, asked),
    }));
    expect(rejoins.steps).toEqual([{ do: 'rewind', from: 'pg-0', onFailure: 'wait' }, { do: 'start', as: 'replica' }]);
    expect(asked).toEqual(['pg-0']);
    const silent = inputs(dir, { record: { kind: 'read', record: recordOf('pg-0', 2) } });
    expect((await startPlanOf(silent)).reason).toBe('this pod was a primary; the recorded primary pg-0 does not answer, and only it can say how to rejoin');
    expect(silent.asked).toEqual(['pg-0']);
  });

  test('data ahead of the record: the primary\'s timeline counts only when it answers as a primary', async () => {
    const dir = dataWith();
    fs.writeFileSync(path.join(dir, 'pg_wal', '00000002.history'), '');
    const record = { kind: 'read' as const, record: recordOf('pg-0', 1) };
    const asPrimary = await startPlanOf(inputs(dir, { record, ask: answering({ role: 'primary', lsn: '0/3000000', receiver: 'none', timeline: 1 }, []) }));
    expect(asPrimary.steps[0]).toEqual({ do: 'keep-diverged-wal', after: 1, through: 2, primary: 'pg-0' });
    const asReplica = await startPlanOf(inputs(dir, { record, ask: answering({ role: 'replica', lsn: '0/3000000', receiver: 'streaming', timeline: 1 }, []) }));
    expect(asReplica.reason).toContain('the recorded primary pg-0 does not answer, and only it can say whether this pod\'s timeline is one the record never named');
  });

  test('the re-clone marker beside the data directory, restoreFrom and synchronous mode reach the decision', async () => {
    const dir = dataWith(DbState.SHUT_DOWN_IN_RECOVERY);
    fs.writeFileSync(path.join(dir, 'standby.signal'), '');
    fs.writeFileSync(path.join(path.dirname(dir), RECLONE_MARKER), '');
    const recloned = await startPlanOf(inputs(dir, { syncReplicas: 1 }));
    expect(recloned.steps).toEqual([{ do: 'discard-data', keep: false }, { do: 'remove-reclone-marker' }, { do: 'await-sync-membership' },
      { do: 'clone', from: 'pg-0', onFailure: 'wait' }, { do: 'start', as: 'replica' }]);
    const fresh = path.join(scratch, 'fresh-volume', 'pgdata');
    const restores = await startPlanOf(inputs(fresh, { podName: 'pg-0', record: { kind: 'read', record: undefined }, restoreFrom: true }));
    expect(restores.steps).toEqual([{ do: 'restore', onFailure: 'wait' }, { do: 'start', as: 'primary' }]);
    const initializes = await startPlanOf(inputs(fresh, { podName: 'pg-0', record: { kind: 'read', record: undefined } }));
    expect(initializes.steps).toEqual([{ do: 'initialize' }, { do: 'start', as: 'primary' }]);
  });

  test('the plan is decideStart\'s on the facts read: a stale record waits, a malformed one is never acted on', async () => {
    const dir = dataWith();
    expect(await startPlanOf(inputs(dir, { record: { kind: 'stale' } }))).toEqual(decideStart({
      podName: 'pg-1',
      record: { kind: 'stale' },
      data: dataDirectoryOf(dir),
      recloneRequested: false,
      restoreFrom: false,
      syncReplicas: 0,
      postgresVersion: 15,
      configured: hotStandbyOfControldata,
      recordedPrimaryAnswers: false,
      recordedPrimaryTimeline: undefined,
    }));
    expect((await startPlanOf(inputs(dir, { record: { kind: 'malformed', error: 'epoch is "x"' } }))).reason).toContain('(epoch is "x")');
  });
});

describe('the request and the plan files', () => {
  test.each<[string, string | undefined]>([
    ['1733380000000000-42\n', '1733380000000000-42'],
    ['  abc.DEF-1  ', 'abc.DEF-1'],
    ['', undefined],
    ['two words', undefined],
    ['a/b', undefined],
    ['x'.repeat(65), undefined],
    ['x'.repeat(64), 'x'.repeat(64)],
  ])('request %j: id %j', (text, id) => {
    expect(parseStartRequest(text)).toBe(id);
  });

  test('the plan replaces the file whole, and leaves no temporary file', () => {
    const dir = path.join(scratch, 'run');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'start-plan');
    fs.writeFileSync(file, 'request=old\n');
    writeStartPlan(file, 'r-2', { reason: 'because', steps: [{ do: 'start', as: 'primary' }] });
    expect(fs.readFileSync(file, 'utf8')).toBe('request=r-2\nreason=because\nstep=start primary\n');
    expect(fs.readdirSync(dir)).toEqual(['start-plan']);
  });
});
