import { ChildProcess, execFile, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { promisify } from 'util';
import { Client } from 'pg';
import {
  DbState, endSlotSender, fastShutdown, LocalPostgres, observedRole, peerStatus, PgControl, primaryLacksWal, readControlFile, readPostmaster, slotOf,
  slotSender, writeStandbySignal,
} from '../../src/agent/postgres';
import { asPostgres, crc32c, freePort, PG_BIN, postgresScratchDir, POSTGRES_CWD, runAsPostgres as run } from '../support/postgres';

// GIVEN a PostgreSQL 15 primary and a streaming replica on this machine (each with its Unix socket in the scratch
// directory, the primary also on 127.0.0.1 with scram and TLS); WHEN the agent reads or acts; THEN what PostgreSQL says.
const scratch = postgresScratchDir();
const primaryData = path.join(scratch, 'primary');
const replicaData = path.join(scratch, 'replica');
const SNAKEOIL = { cert: '/etc/ssl/certs/ssl-cert-snakeoil.pem', key: '/etc/ssl/private/ssl-cert-snakeoil.key' };
let primaryPort = 0;
let replicaPort = 0;
const opened: LocalPostgres[] = [];

interface LocalOptions { queryTimeoutMs?: number; connectTimeoutMs?: number; applicationName?: string; user?: string }

function local(port: number, options: LocalOptions = {}): LocalPostgres {
  const postgres = new LocalPostgres({ socketDir: scratch, port, user: 'postgres', queryTimeoutMs: 5000, ...options });
  opened.push(postgres);
  return postgres;
}

/** pg_ctl start, in the background (the event loop goes on: kept connections see their server go). */
async function start(data: string, port: number): Promise<void> {
  const options = [`-c port=${port}`, `-c unix_socket_directories=${scratch}`, "-c listen_addresses='127.0.0.1'", '-c wal_level=replica',
    '-c ssl=on', `-c ssl_cert_file=${SNAKEOIL.cert}`, `-c ssl_key_file=${SNAKEOIL.key}`];
  await promisify(execFile)('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, 'pg_ctl'), '-D', data, '-w', '-t', '30', '-l', `${data}.log`,
    '-o', options.join(' '), 'start'], { cwd: POSTGRES_CWD });
}

async function restart(data: string): Promise<void> {
  await promisify(execFile)('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, 'pg_ctl'), '-D', data, '-w', '-t', '30', '-l', `${data}.log`, '-m', 'fast', 'restart'], { cwd: POSTGRES_CWD });
}

/** One statement over a connection of its own, as the superuser over the socket. */
async function sql(port: number, text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = new Client({ host: scratch, port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** pg_controldata's lines, as the scripts read them. */
interface ControlData {
  systemIdentifier: string;
  checkpoint: string;
  timeline: number;
  state: string;
  version: number;
  hotStandby: Record<string, number>;
}

function controldata(data: string): ControlData {
  const out = run('pg_controldata', data);
  const field = (name: string) => new RegExp(`^${name}: *(.*)$`, 'm').exec(out)?.[1];
  return {
    systemIdentifier: field('Database system identifier')!,
    checkpoint: field('Latest checkpoint location')!,
    timeline: Number(field("Latest checkpoint's TimeLineID")),
    state: field('Database cluster state')!,
    version: Number(field('pg_control version number')),
    hotStandby: {
      max_connections: Number(field('max_connections setting')),
      max_worker_processes: Number(field('max_worker_processes setting')),
      max_wal_senders: Number(field('max_wal_senders setting')),
      max_prepared_transactions: Number(field('max_prepared_xacts setting')),
      max_locks_per_transaction: Number(field('max_locks_per_xact setting')),
    },
  };
}

const STATE_NAMES: Record<string, DbState> = { 'shut down': 1, 'shut down in recovery': 2, 'in archive recovery': 5, 'in production': 6 };

function control(data: string): PgControl {
  const read = readControlFile(data);
  if (read.kind !== 'read') throw new Error(read.reason);
  return read.control;
}

function expectSameAsControldata(data: string, state: string): void {
  const expected = controldata(data);
  expect(expected.state).toBe(state);
  expect(control(data)).toEqual({
    systemIdentifier: expected.systemIdentifier,
    controlVersion: 1300,
    state: STATE_NAMES[state],
    shutDown: state === 'shut down',
    checkpoint: expected.checkpoint,
    timeline: expected.timeline,
    hotStandby: expected.hotStandby,
  });
}

async function eventually<T>(what: () => Promise<T>, wanted: T, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await what();
  while (last !== wanted && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 20));
    last = await what();
  }
  return last;
}

function postmasterPid(data: string): number {
  return Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** A WAL position as PostgreSQL prints it. */
const LSN = /^[0-9A-F]+\/[0-9A-F]+$/;

/** Whether WAL position a is at or beyond b, as PostgreSQL compares them. */
async function atOrBeyond(a: string, b: string): Promise<boolean> {
  return (await sql(primaryPort, 'SELECT $1::pg_lsn >= $2::pg_lsn AS beyond', [a, b]))[0].beyond as boolean;
}

/** A process id that no process has (beyond /proc/sys/kernel/pid_max): kill -0 says ESRCH. */
const NO_PROCESS = 2 ** 22 + 1;

/** postmaster.pid of a live server, naming process `pid`; its 8th line "ready" unless `lines` cuts it short. */
function writePostmaster(data: string, pid: number, lines = 8): void {
  fs.writeFileSync(path.join(data, 'postmaster.pid'), `${[pid, data, '0', '5432', scratch, '127.0.0.1', '0 0', 'ready'].slice(0, lines).join('\n')}\n`);
}

/** A directory of its own in the scratch directory (readable by the postgres user). */
function scratchDir(name: string): string {
  const dir = path.join(scratch, name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

/** A sleeping process of the nobody user, which the postgres user may not signal. */
function nobodysProcess(): ChildProcess {
  const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
  return spawn('sleep', ['30'], { uid: nobody, gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' })), stdio: 'ignore' });
}

/**
 * fn run with the postgres user's effective uid (the tests run as root, which may signal any process): kill(pid, 0) on
 * a process of a third user then fails with EPERM, as the sidecar's does on a process it may not signal.
 */
function withPostgresEuid<T>(fn: () => T): T {
  process.seteuid!(fs.statSync(scratch).uid);
  try {
    return fn();
  } finally {
    process.seteuid!(0);
  }
}

/** global/pg_control in `data`: the primary's, in `state`, with its CRC-32C made anew. */
function writeControl(data: string, state: DbState): void {
  const bytes = fs.readFileSync(path.join(primaryData, 'global', 'pg_control'));
  bytes.writeUInt32LE(state, 16);
  bytes.writeUInt32LE(crc32c(bytes.subarray(0, 288)), 288);
  fs.mkdirSync(path.join(data, 'global'), { recursive: true });
  fs.writeFileSync(path.join(data, 'global', 'pg_control'), bytes);
}

/**
 * A primary of the describe block's own, with archive_mode on and `archiveCommand`: made and started before its tests,
 * stopped after them. Its port is known once started.
 */
function archivingPrimary(name: string, archiveCommand: string): { readonly data: string; readonly port: () => number } {
  const data = path.join(scratch, name);
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
    run('initdb', '-D', data, '-U', 'postgres', '--auth-local=trust', '--encoding=UTF8', '--locale=C');
    fs.appendFileSync(path.join(data, 'postgresql.auto.conf'), `archive_mode = on\narchive_command = '${archiveCommand}'\n`);
    await start(data, port);
  }, 60_000);
  afterAll(() => {
    if (readPostmaster(data)?.alive) asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  });
  return { data, port: () => port };
}

beforeAll(async () => {
  primaryPort = await freePort();
  replicaPort = await freePort();
  run('initdb', '-D', primaryData, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '--encoding=UTF8', '--locale=C');
  // Over TCP, TLS only: a connection that asks for it proves that it got it.
  const hba = path.join(primaryData, 'pg_hba.conf');
  fs.writeFileSync(hba, `hostnossl all all 0.0.0.0/0 reject\n${fs.readFileSync(hba, 'utf8')}`);
  await start(primaryData, primaryPort);
  // The replica streams from slot pg_1 as "pg-1" (its cluster_name is its WAL receiver's application_name).
  run('pg_basebackup', '-D', replicaData, '-h', scratch, '-p', String(primaryPort), '-U', 'postgres', '-R', '-X', 'stream', '-c', 'fast', '-C', '-S', 'pg_1');
  fs.appendFileSync(path.join(replicaData, 'postgresql.auto.conf'), "cluster_name = 'pg-1'\n");
  await start(replicaData, replicaPort);
}, 60_000);

afterAll(async () => {
  for (const postgres of opened) await postgres.close();
  for (const data of [primaryData, replicaData]) {
    if (fs.existsSync(path.join(data, 'postmaster.pid'))) {
      try { process.kill(postmasterPid(data), 'SIGCONT'); } catch { /* gone */ }
    }
    asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  }
  fs.rmSync(scratch, { recursive: true, force: true });
}, 30_000);

describe('files: postmaster.pid and pg_control', () => {
  test('readControlFile reads what pg_controldata prints, on a running primary and a running replica', async () => {
    await sql(primaryPort, 'CHECKPOINT');
    expectSameAsControldata(primaryData, 'in production');
    expectSameAsControldata(replicaData, 'in archive recovery');
    expect(control(replicaData).systemIdentifier).toBe(control(primaryData).systemIdentifier);
    expect(control(primaryData).systemIdentifier).toMatch(/^[1-9][0-9]{15,19}$/);
  });

  test('pg_control format 1300 ends with the CRC-32C of its first 288 bytes; format 1700 is read at the same offsets', () => {
    const original = fs.readFileSync(path.join(primaryData, 'global', 'pg_control'));
    expect(original.readUInt32LE(288)).toBe(crc32c(original.subarray(0, 288)));
    const copy = path.join(scratch, 'control-copy');
    fs.mkdirSync(path.join(copy, 'global'), { recursive: true });
    const write = (bytes: Buffer) => fs.writeFileSync(path.join(copy, 'global', 'pg_control'), bytes);

    const v17 = Buffer.from(original);
    v17.writeUInt32LE(1700, 8);
    v17.writeUInt32LE(crc32c(v17.subarray(0, 288)), 288);
    write(v17);
    expect(control(copy)).toEqual({ ...control(primaryData), controlVersion: 1700 });

    const v12 = Buffer.from(v17);
    v12.writeUInt32LE(1201, 8);
    v12.writeUInt32LE(crc32c(v12.subarray(0, 288)), 288);
    write(v12);
    expect(readControlFile(copy)).toEqual({ kind: 'unreadable', reason: `${copy}/global/pg_control has pg_control_version 1201, whose layout is not known here (1300, 1700 are)` });

    const torn = Buffer.from(original);
    torn[33] ^= 0xff; // eslint-disable-line no-bitwise
    write(torn);
    expect(readControlFile(copy)).toEqual({ kind: 'unreadable', reason: `${copy}/global/pg_control: its CRC does not match its contents (being written?)` });

    fs.rmSync(path.join(copy, 'global', 'pg_control'));
    expect(readControlFile(copy)).toMatchObject({ kind: 'unreadable', reason: expect.stringMatching(/^cannot read .*pg_control: ENOENT/) });
  });

  test('observedRole: a ready primary is the primary, a ready replica the replica, no data directory is not serving', () => {
    expect(observedRole(primaryData)).toBe('primary');
    expect(observedRole(replicaData)).toBe('replica');
    expect(observedRole(path.join(scratch, 'nothing'))).toBe('not-serving');
    expect(readPostmaster(primaryData)).toEqual({ pid: postmasterPid(primaryData), ready: true, alive: true });
    expect(readPostmaster(path.join(scratch, 'nothing'))).toBeUndefined();
  });

  test('readControlFile: a file of fewer than 512 bytes is no pg_control, and the reason says how long it is', () => {
    const copy = scratchDir('short-control');
    fs.mkdirSync(path.join(copy, 'global'));
    fs.writeFileSync(path.join(copy, 'global', 'pg_control'), fs.readFileSync(path.join(primaryData, 'global', 'pg_control')).subarray(0, 511));
    expect(readControlFile(copy)).toEqual({ kind: 'unreadable', reason: `${copy}/global/pg_control has 511 bytes, not a pg_control` });
  });

  test('observedRole: a ready, live postmaster is the primary in production (6), the replica in archive recovery (5), not serving in any other state or without a pg_control', () => {
    // GIVEN a postmaster.pid that says ready, naming a live process (this one)
    const data = scratchDir('states');
    writePostmaster(data, process.pid);
    // WHEN pg_control says each state in turn
    const roles = [DbState.STARTUP, DbState.SHUT_DOWN, DbState.SHUT_DOWN_IN_RECOVERY, DbState.SHUTTING_DOWN, DbState.IN_CRASH_RECOVERY,
      DbState.IN_ARCHIVE_RECOVERY, DbState.IN_PRODUCTION].map(state => {
      writeControl(data, state);
      return observedRole(data);
    });
    // THEN
    expect(roles).toEqual(['not-serving', 'not-serving', 'not-serving', 'not-serving', 'not-serving', 'replica', 'primary']);
    fs.rmSync(path.join(data, 'global', 'pg_control'));
    expect(observedRole(data)).toBe('not-serving');
  });

  test('readPostmaster: a process of another user is alive (kill -0 says EPERM); a process id no process has is not; a postmaster.pid written only in part is not ready', () => {
    const data = scratchDir('pids');
    const other = nobodysProcess();
    try {
      writePostmaster(data, other.pid!);
      expect(withPostgresEuid(() => readPostmaster(data))).toEqual({ pid: other.pid, ready: true, alive: true });
      writePostmaster(data, NO_PROCESS);
      expect(readPostmaster(data)).toEqual({ pid: NO_PROCESS, ready: true, alive: false });
      writePostmaster(data, other.pid!, 3);
      expect(readPostmaster(data)).toEqual({ pid: other.pid, ready: false, alive: true });
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('writeStandbySignal touches standby.signal', () => {
    const dir = path.join(scratch, 'signal');
    fs.mkdirSync(dir);
    writeStandbySignal(dir);
    writeStandbySignal(dir);
    expect(fs.readdirSync(dir)).toEqual(['standby.signal']);
    expect(slotOf('my-cluster-2')).toBe('my_cluster_2');
  });
});

describe('queries over the kept connection', () => {
  test("the primary's facts: timeline 1, not in recovery, nothing received", async () => {
    const primary = local(primaryPort);
    expect(await primary.timeline()).toBe(1);
    expect(await primary.isInRecovery()).toBe(false);
    expect(await primary.receivePosition()).toBeUndefined();
    expect(await primary.receivedBeyond('0/0')).toBe(false);
    expect(await primary.streamedASecond()).toBe(false);
    expect(await primary.streamingOnTimeline(1)).toBe(false);
    const lsn = await primary.currentWalLsn();
    expect(lsn).toBe((await sql(primaryPort, 'SELECT pg_current_wal_lsn()::text AS lsn'))[0].lsn);
    await expect(local(replicaPort).timeline()).rejects.toThrow('reading the timeline: recovery is in progress');
  });

  test("the replica's facts: in recovery, WAL received beyond a position, streaming timeline 1 for a second", async () => {
    const replica = local(replicaPort);
    const primary = local(primaryPort);
    expect(await replica.isInRecovery()).toBe(true);
    const before = await primary.currentWalLsn();
    await sql(primaryPort, 'CREATE TABLE received (n int); INSERT INTO received VALUES (1)');
    expect(await eventually(() => replica.receivedBeyond(before), true)).toBe(true);
    expect(await replica.receivedBeyond('FFFFFFFF/0')).toBe(false);
    await expect(replica.receivedBeyond('not an lsn')).rejects.toThrow('comparing the received WAL with not an lsn: invalid input syntax for type pg_lsn: "not an lsn"');
    expect(await replica.streamingOnTimeline(1)).toBe(true);
    expect(await replica.streamingOnTimeline(2)).toBe(false);
    expect(await eventually(() => replica.streamedASecond(), true, 3000)).toBe(true);
    expect(await replica.streamedASecond(1)).toBe(true);
    // Not on timeline 2 or later: a receiver that streams an older timeline than the primary's does not follow it.
    expect(await replica.streamedASecond(2)).toBe(false);
    const position = await replica.receivePosition();
    expect((await sql(replicaPort, 'SELECT $1::pg_lsn > $2::pg_lsn AS beyond', [position, before]))[0].beyond).toBe(true);
    await replica.reload();
  });

  test('walReceiverPid finds a WAL receiver whose connection attempt hangs (a primary that never answers), unseen in pg_stat_wal_receiver, and endWalReceiver ends it', async () => {
    const replica = local(replicaPort);
    const conninfo = String((await sql(replicaPort, 'SHOW primary_conninfo'))[0].primary_conninfo);
    // A dead node's address behind a Service: the connection is taken, and nothing ever answers.
    const silent = net.createServer(() => undefined);
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve));
    const receiverPid = async () => (await sql(replicaPort, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walreceiver'"))[0]?.pid;
    try {
      await sql(replicaPort, `ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=${(silent.address() as net.AddressInfo).port} user=postgres'`);
      await replica.reload();
      // The streaming receiver goes (a changed primary_conninfo), and the next one hangs connecting.
      expect(await eventually(async () => (await sql(replicaPort, 'SELECT count(*)::int AS n FROM pg_stat_wal_receiver'))[0].n, 0)).toBe(0);
      const hanging = await eventually(async () => typeof await receiverPid() === 'number', true);
      expect(hanging).toBe(true);
      const pid = await receiverPid();
      await new Promise(resolve => setTimeout(resolve, 500));
      expect(await receiverPid()).toBe(pid);
      expect(await replica.walReceiverPid()).toBe(pid);
      await replica.endWalReceiver(pid as number);
      expect(await eventually(async () => await receiverPid() !== pid, true)).toBe(true);
      // One gone already: nothing to do. A primary has none.
      await replica.endWalReceiver(2 ** 22 + 1);
      expect(await local(primaryPort).walReceiverPid()).toBeUndefined();
    } finally {
      await sql(replicaPort, `ALTER SYSTEM SET primary_conninfo = '${conninfo.replace(/'/g, "''")}'`);
      await replica.reload();
      silent.close();
    }
    expect(await eventually(() => replica.streamingOnTimeline(1), true)).toBe(true);
  });

  test('endWalReceiver: a process it may not signal is an error (kill EPERM), unlike one gone already', async () => {
    const replica = local(replicaPort);
    const other = nobodysProcess();
    try {
      // Signalled (and refused) at once, as the call is made.
      const ending = withPostgresEuid(() => replica.endWalReceiver(other.pid!));
      await expect(ending).rejects.toThrow('kill EPERM');
      expect(other.signalCode).toBeNull();
      await expect(withPostgresEuid(() => replica.endWalReceiver(NO_PROCESS))).resolves.toBeUndefined();
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('standbysFlushedPast counts the named standbys that flushed a position', async () => {
    const primary = local(primaryPort);
    const lsn = await primary.currentWalLsn();
    expect(await eventually(() => primary.standbysFlushedPast(['pg-1', 'pg-9'], lsn), 1)).toBe(1);
    expect(await primary.standbysFlushedPast(['pg-9'], lsn)).toBe(0);
    expect(await primary.standbysFlushedPast(['pg-1'], 'FFFFFFFF/0')).toBe(0);
  });

  test('maintainSlots drops inactive slots of the prefix that are unwanted or lost, keeps active ones, creates the missing', async () => {
    const primary = local(primaryPort);
    await sql(primaryPort, "SELECT pg_create_physical_replication_slot(name, true) FROM unnest(ARRAY['pg_2', 'other_3']) AS name");
    await sql(primaryPort, "SELECT pg_create_physical_replication_slot('pg_9')");
    // pg_2 loses its WAL: a checkpoint removes the segments beyond max_slot_wal_keep_size.
    await sql(primaryPort, "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
    await sql(primaryPort, 'SELECT pg_reload_conf()');
    for (let i = 0; i < 3; i++) await sql(primaryPort, 'INSERT INTO received VALUES (1); SELECT pg_switch_wal()');
    // The replica's slot, pg_1, must not lose its WAL too: the checkpoint waits until the replica has confirmed it all.
    const [{ end }] = await sql(primaryPort, 'SELECT pg_current_wal_lsn()::text AS end');
    const confirmed = async () => (await sql(primaryPort, "SELECT restart_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = 'pg_1'", [end]))[0].ok;
    expect(await eventually(confirmed, true)).toBe(true);
    await sql(primaryPort, 'CHECKPOINT');
    const slots = async () => sql(primaryPort, 'SELECT slot_name, active, wal_status FROM pg_replication_slots ORDER BY slot_name');
    expect((await slots()).map(slot => `${slot.slot_name} ${slot.wal_status}`)).toEqual(['other_3 lost', 'pg_1 reserved', 'pg_2 lost', 'pg_9 null']);

    const changes = await primary.maintainSlots(['pg_1', 'pg_2', 'pg_3'], 'pg_');
    expect(changes).toEqual({ dropped: [{ slot: 'pg_2', why: 'lost' }, { slot: 'pg_9', why: 'unwanted' }], created: ['pg_2', 'pg_3'], failed: [] });
    expect((await slots()).map(slot => `${slot.slot_name} ${slot.active} ${slot.wal_status}`))
      .toEqual(['other_3 false lost', 'pg_1 true reserved', 'pg_2 false reserved', 'pg_3 false reserved']);
    // pg_1 is active: kept even when no pod wants it; nothing else changes the second time.
    expect(await primary.maintainSlots(['pg_2', 'pg_3'], 'pg_')).toEqual({ dropped: [], created: [], failed: [] });
    await sql(primaryPort, 'ALTER SYSTEM RESET max_slot_wal_keep_size');
    await sql(primaryPort, 'SELECT pg_reload_conf()');
  }, 20_000);
});

describe('what the primary and the replica say of themselves and of each other', () => {
  test('status: the primary says primary, its current WAL position, no receiver, its timeline; the replica says replica, the WAL it has, its streaming receiver, the timeline it receives', async () => {
    const primary = local(primaryPort);
    const replica = local(replicaPort);
    const before = await primary.currentWalLsn();
    const primaryStatus = await primary.status();
    const after = await primary.currentWalLsn();
    expect(primaryStatus).toEqual({ role: 'primary', lsn: expect.stringMatching(LSN), receiver: 'none', timeline: 1 });
    expect(await atOrBeyond(primaryStatus!.lsn, before)).toBe(true);
    expect(await atOrBeyond(after, primaryStatus!.lsn)).toBe(true);

    expect(await eventually(async () => (await replica.status())?.receiver, 'streaming')).toBe('streaming');
    await sql(primaryPort, 'CREATE TABLE IF NOT EXISTS written (n int); INSERT INTO written VALUES (1)');
    expect(await eventually(() => replica.receivedBeyond(after), true)).toBe(true);
    const replicaStatus = await replica.status();
    const written = await primary.currentWalLsn();
    expect(replicaStatus).toEqual({ role: 'replica', lsn: expect.stringMatching(LSN), receiver: 'streaming', timeline: 1 });
    expect(await atOrBeyond(replicaStatus!.lsn, after)).toBe(true);
    // No further than the primary has written since.
    expect(await atOrBeyond(written, replicaStatus!.lsn)).toBe(true);
  });

  test('standbys lists the streaming replica by its application_name with the position it flushed, and a walsender that has not started streaming without one', async () => {
    const primary = local(primaryPort);
    const lsn = await primary.currentWalLsn();
    expect(await eventually(() => primary.standbysFlushedPast(['pg-1'], lsn), 1)).toBe(1);
    const [standby] = await primary.standbys();
    expect(standby).toEqual({ name: 'pg-1', state: 'streaming', flushLsn: expect.stringMatching(LSN) });
    expect(await atOrBeyond(standby.flushLsn!, lsn)).toBe(true);
    // A replication connection that has only identified the system: a walsender in state startup, which reports nothing.
    const connected = new Client({ host: scratch, port: primaryPort, user: 'postgres', replication: 'true', application_name: 'pg-6' } as ConstructorParameters<typeof Client>[0]);
    await connected.connect();
    try {
      await connected.query('IDENTIFY_SYSTEM');
      const byName = (standbys: { name: string }[]) => [...standbys].sort((a, b) => a.name.localeCompare(b.name));
      expect(byName(await primary.standbys())).toEqual([{ name: 'pg-1', state: 'streaming', flushLsn: expect.stringMatching(LSN) }, { name: 'pg-6', state: 'startup', flushLsn: undefined }]);
    } finally {
      await connected.end();
    }
    expect(await local(replicaPort).standbys()).toEqual([]);
  });

  test('receiverTimeline: the timeline the replica\'s WAL receiver asks for (1); a primary has no WAL receiver', async () => {
    const replica = local(replicaPort);
    expect(await eventually(() => replica.receiverTimeline(), 1)).toBe(1);
    expect(await local(primaryPort).receiverTimeline()).toBeUndefined();
  });

  test('standbysAnswer: the streaming replica replies to a fresh WAL record at once; a standby that does not stream does not within the wait, and then not all of a list that names it', async () => {
    const primary = local(primaryPort);
    let started = performance.now();
    expect(await primary.standbysAnswer(['pg-1'], 5000)).toBe(true);
    expect(performance.now() - started).toBeLessThan(3000);
    started = performance.now();
    expect(await primary.standbysAnswer(['pg-9'], 300)).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(await primary.standbysAnswer(['pg-1', 'pg-9'], 300)).toBe(false);
  });

  test('reloadOutcome: a changed setting that needs a restart is pending, not an error; a value or a line PostgreSQL refuses is an error with its file and line', async () => {
    const primary = local(primaryPort);
    const autoConf = path.join(primaryData, 'postgresql.auto.conf');
    const original = fs.readFileSync(autoConf, 'utf8');
    expect(await primary.reloadOutcome()).toEqual({ pendingRestart: [], errors: [] });
    try {
      // GIVEN max_connections changed (a restart applies it), and a value work_mem cannot take
      const [{ max_connections: connections }] = await sql(primaryPort, 'SHOW max_connections');
      await sql(primaryPort, `ALTER SYSTEM SET max_connections = ${Number(connections) + 1}`);
      fs.appendFileSync(autoConf, "work_mem = 'lots'\n");
      const badValue = fs.readFileSync(autoConf, 'utf8').trimEnd().split('\n').length;
      // WHEN the server reloads (this connection's backend reads the files again once the postmaster passes the signal on)
      await primary.reload();
      expect(await eventually(async () => (await primary.reloadOutcome()).pendingRestart.join(), 'max_connections')).toBe('max_connections');
      // THEN
      expect(await primary.reloadOutcome()).toEqual({ pendingRestart: ['max_connections'], errors: [`${autoConf}:${badValue}: work_mem: setting could not be applied`] });
      // A line that does not parse names no setting.
      fs.appendFileSync(autoConf, 'not a setting\n');
      expect(await primary.reloadOutcome()).toEqual({ pendingRestart: ['max_connections'], errors: [`${autoConf}:${badValue + 1}: syntax error`] });
    } finally {
      fs.writeFileSync(autoConf, original);
      await primary.reload();
    }
    expect(await eventually(async () => (await primary.reloadOutcome()).pendingRestart.join(), '')).toBe('');
    expect(await primary.reloadOutcome()).toEqual({ pendingRestart: [], errors: [] });
  });

  test('maintainSlots reports each drop and creation PostgreSQL refuses (a role without REPLICATION may use no slot), and goes on to the next', async () => {
    await sql(primaryPort, "CREATE ROLE slot_watcher LOGIN; SELECT pg_create_physical_replication_slot('watched_1')");
    const watcher = local(primaryPort, { user: 'slot_watcher' });
    const slots = async () => (await sql(primaryPort, "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'watched%'")).map(row => row.slot_name);
    try {
      const refused = 'must be superuser or replication role to use replication slots';
      expect(await watcher.maintainSlots(['watched_2', 'watched_3'], 'watched_')).toEqual({
        dropped: [],
        created: [],
        failed: [`dropping watched_1: ${refused}`, `creating watched_2: ${refused}`, `creating watched_3: ${refused}`],
      });
      expect(await slots()).toEqual(['watched_1']);
      // A statement's error: the connection still serves.
      expect(await watcher.isInRecovery()).toBe(false);
    } finally {
      await watcher.close();
      await sql(primaryPort, "SELECT pg_drop_replication_slot('watched_1'); DROP ROLE slot_watcher");
    }
  });
});

describe('credentials and the question to the primary over the network', () => {
  const credentials = {
    superuser: 'postgres',
    superuserPassword: "super'pass\"word\\",
    replicationUser: "repl\"user'",
    replicationPassword: "it's a \\secret",
    appUser: "app'user",
    appPassword: 'app password; DROP ROLE postgres; --',
    appDatabase: "app \"db\"'s",
  };

  async function login(user: string, password: string, database = 'postgres'): Promise<string> {
    const client = new Client({ host: '127.0.0.1', port: primaryPort, user, password, database, ssl: { rejectUnauthorized: false } });
    await client.connect();
    try {
      return (await client.query('SELECT current_user AS who')).rows[0].who;
    } finally {
      await client.end();
    }
  }

  test('applyCredentials creates the roles and database with their passwords (scram over TCP), again and again', async () => {
    const primary = local(primaryPort);
    await primary.applyCredentials(credentials);
    await primary.applyCredentials(credentials);
    expect(await login('postgres', credentials.superuserPassword)).toBe('postgres');
    expect(await login(credentials.replicationUser, credentials.replicationPassword)).toBe(credentials.replicationUser);
    expect(await login(credentials.appUser, credentials.appPassword, credentials.appDatabase)).toBe(credentials.appUser);
    await expect(login(credentials.appUser, 'wrong')).rejects.toThrow(`password authentication failed for user "${credentials.appUser}"`);
    const [facts] = await sql(primaryPort, `SELECT r.rolreplication AND r.rolcanlogin AS replication, pg_has_role($1, 'pg_monitor', 'member') AS monitor,
        pg_has_role($1, 'pg_checkpoint', 'member') AS checkpoint, has_function_privilege($1, 'pg_read_binary_file(text)', 'execute') AS read_file,
        (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $2) AS owner
      FROM pg_roles AS r WHERE r.rolname = $1`, [credentials.replicationUser, credentials.appDatabase]);
    expect(facts).toEqual({ replication: true, monitor: true, checkpoint: true, read_file: true, owner: credentials.appUser });

    // A rotated password replaces the old one.
    await primary.applyCredentials({ ...credentials, appPassword: 'rotated' });
    expect(await login(credentials.appUser, 'rotated')).toBe(credentials.appUser);
    await expect(login(credentials.appUser, credentials.appPassword)).rejects.toThrow('password authentication failed');
    expect(await primary.timeline()).toBe(1);
    await expect(primary.applyCredentials({ ...credentials, appPassword: undefined }))
      .rejects.toThrow(`applying the credentials: no password for the application role ${credentials.appUser}`);
  }, 20_000);

  test('applyCredentials without an application role: the replication role with pg_monitor, pg_checkpoint and pg_rewind\'s file functions, the superuser\'s password, nothing else', async () => {
    const primary = local(primaryPort);
    const roles = async () => (await sql(primaryPort, 'SELECT rolname FROM pg_roles ORDER BY 1')).map(row => row.rolname);
    const databases = async () => (await sql(primaryPort, 'SELECT datname FROM pg_database ORDER BY 1')).map(row => row.datname);
    const [rolesBefore, databasesBefore] = [await roles(), await databases()];
    try {
      await primary.applyCredentials({ ...credentials, replicationUser: 'rewinder', appUser: undefined, appPassword: undefined, appDatabase: 'never_made' });
      expect(await roles()).toEqual([...rolesBefore, 'rewinder'].sort());
      expect(await databases()).toEqual(databasesBefore);
      expect(await login('rewinder', credentials.replicationPassword)).toBe('rewinder');
      const [granted] = await sql(primaryPort, `SELECT pg_has_role('rewinder', 'pg_monitor', 'member') AS monitor, pg_has_role('rewinder', 'pg_checkpoint', 'member') AS checkpoint,
          has_function_privilege('rewinder', 'pg_ls_dir(text, boolean, boolean)', 'execute') AS ls_dir,
          has_function_privilege('rewinder', 'pg_stat_file(text, boolean)', 'execute') AS stat_file,
          has_function_privilege('rewinder', 'pg_read_binary_file(text)', 'execute') AS read_file,
          has_function_privilege('rewinder', 'pg_read_binary_file(text, bigint, bigint, boolean)', 'execute') AS read_part`);
      expect(granted).toEqual({ monitor: true, checkpoint: true, ls_dir: true, stat_file: true, read_file: true, read_part: true });
    } finally {
      if ((await roles()).includes('rewinder')) await sql(primaryPort, 'DROP OWNED BY rewinder; DROP ROLE rewinder');
    }
  });

  test('applyCredentials gives the application role its database made before by the superuser, not one another role owns', async () => {
    const primary = local(primaryPort);
    await sql(primaryPort, 'CREATE ROLE someone_else');
    await sql(primaryPort, 'CREATE DATABASE made_before');
    await sql(primaryPort, 'CREATE DATABASE not_ours OWNER someone_else');
    const owner = async (database: string) => (await sql(primaryPort, 'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [database]))[0].owner;
    try {
      expect(await owner('made_before')).toBe('postgres');
      await primary.applyCredentials({ ...credentials, appDatabase: 'made_before' });
      expect(await owner('made_before')).toBe(credentials.appUser);
      await primary.applyCredentials({ ...credentials, appDatabase: 'not_ours' });
      expect(await owner('not_ours')).toBe('someone_else');
    } finally {
      await sql(primaryPort, 'DROP DATABASE made_before');
      await sql(primaryPort, 'DROP DATABASE not_ours');
      await sql(primaryPort, 'DROP ROLE someone_else');
    }
  });

  /** What the kept connection's statement_timeout does: archiverLook while another transaction locks pg_stat_archiver. */
  async function lockedArchiverLook(postgres: LocalPostgres): Promise<{ error: string; afterMs: number }> {
    const holder = new Client({ host: scratch, port: primaryPort, user: 'postgres', database: 'postgres' });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE pg_catalog.pg_stat_archiver IN ACCESS EXCLUSIVE MODE');
      const started = performance.now();
      const error = await postgres.archiverLook().then(() => 'none', (failed: Error) => failed.message);
      return { error, afterMs: performance.now() - started };
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  }

  test("applyCredentials waits for a lock up to its own 10 s, not the kept connection's statement_timeout, and does not wait for a synchronous "
    + "standby; the kept connection's own settings come back", async () => {
    const primary = local(primaryPort, { queryTimeoutMs: 100, applicationName: 'agent-credentials' });
    // GIVEN a synchronous standby that never connects, and the kept connection's statement_timeout of 100 ms
    expect(await lockedArchiverLook(primary)).toEqual({ error: 'reading pg_stat_archiver: canceling statement due to statement timeout', afterMs: expect.any(Number) });
    await sql(primaryPort, "ALTER SYSTEM SET synchronous_standby_names = 'nobody_here'");
    await sql(primaryPort, 'SELECT pg_reload_conf()');
    const holder = new Client({ host: scratch, port: primaryPort, user: 'postgres', database: 'postgres' });
    await holder.connect();
    try {
      // AND another transaction that has changed the superuser's role and not ended
      await holder.query('BEGIN');
      await holder.query("ALTER ROLE postgres PASSWORD 'held'");
      // WHEN the credentials are applied: ALTER ROLE postgres waits for that transaction, longer than the kept connection's
      // statement_timeout and than its client waits for an answer (1.1 s)
      const applying = primary.applyCredentials(credentials);
      const waits = async () => (await sql(primaryPort, "SELECT wait_event_type FROM pg_stat_activity WHERE application_name = 'agent-credentials'"))[0]?.wait_event_type;
      expect(await eventually(waits, 'Lock')).toBe('Lock');
      await new Promise(resolve => setTimeout(resolve, 1300));
      await holder.query('ROLLBACK');
      // THEN they are applied, without a synchronous standby's confirmation
      await applying;
      expect(await login('postgres', credentials.superuserPassword)).toBe('postgres');
    } finally {
      await holder.end();
      await sql(primaryPort, 'ALTER SYSTEM RESET synchronous_standby_names');
      await sql(primaryPort, 'SELECT pg_reload_conf()');
    }
    // AND the kept connection has its statement_timeout again: the server cancels a statement after 100 ms
    const look = await lockedArchiverLook(primary);
    expect(look.error).toBe('reading pg_stat_archiver: canceling statement due to statement timeout');
    expect(look.afterMs).toBeLessThan(1000);
  }, 20_000);

  test('applyCredentials fails with the error of a statement PostgreSQL refuses (a reserved role name); the kept connection serves on, with its own statement_timeout', async () => {
    const primary = local(primaryPort, { queryTimeoutMs: 100 });
    await expect(primary.applyCredentials({ ...credentials, appUser: 'pg_app', appPassword: 'secret' }))
      .rejects.toThrow('applying the credentials: role name "pg_app" is reserved');
    const look = await lockedArchiverLook(primary);
    expect(look.error).toBe('reading pg_stat_archiver: canceling statement due to statement timeout');
    expect(look.afterMs).toBeLessThan(1000);
  });

  test('slotSender names the walsender holding a slot; endSlotSender ends it only while it holds that slot, and only a backend of '
    + 'the network role; undefined when the primary cannot be asked', async () => {
    const network = { host: '127.0.0.1', port: primaryPort, user: credentials.replicationUser, password: credentials.replicationPassword, ssl: true, connectTimeoutMs: 2000 };
    await sql(primaryPort, "SELECT pg_create_physical_replication_slot('pg_7')");
    const wal = path.join(scratch, 'received');
    fs.mkdirSync(wal);
    execFileSync('chown', ['postgres:postgres', wal]);
    // A stream on slot pg_7 as the network role, as a replica's WAL receiver is (a client of its own, kept by the test).
    const receiver = spawn('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, 'pg_receivewal'), '-D', wal, '-S', 'pg_7', '--no-loop',
      '-d', `host=127.0.0.1 port=${primaryPort} user='${credentials.replicationUser.replace(/'/g, "\\'")}' sslmode=require`],
    { cwd: POSTGRES_CWD, env: { ...process.env, PGPASSWORD: credentials.replicationPassword }, stdio: ['ignore', 'ignore', 'pipe'] });
    let said = '';
    receiver.stderr.on('data', chunk => { said += String(chunk); });
    const ended = new Promise<number | null>(resolve => receiver.on('exit', code => resolve(code)));
    try {
      let pid: number | null | undefined = null;
      for (let look = 0; look < 250 && typeof pid !== 'number'; look++) {
        pid = await slotSender(network, 'pg_7');
        if (typeof pid !== 'number') await new Promise(resolve => setTimeout(resolve, 20));
      }
      if (typeof pid !== 'number') throw new Error(`pg_receivewal never held slot pg_7: ${said}`);
      expect(await slotSender(network, 'pg_1')).toEqual(expect.any(Number));
      expect(await slotSender(network, 'no_such_slot')).toBeNull();
      expect(await slotSender({ ...network, password: 'wrong' }, 'pg_7')).toBeUndefined();
      // Another process than the one holding the slot, or another slot: nothing done.
      expect(await endSlotSender(network, 'pg_7', pid + 1)).toBe(false);
      expect(await endSlotSender(network, 'pg_1', pid)).toBe(false);
      // The replica's walsender runs as the superuser here: the network role may not end it.
      const superuserSender = (await slotSender(network, 'pg_1'))!;
      expect(await endSlotSender(network, 'pg_1', superuserSender)).toBeUndefined();
      expect(await slotSender(network, 'pg_1')).toBe(superuserSender);
      expect(await slotSender(network, 'pg_7')).toBe(pid);
      expect(await endSlotSender({ ...network, port: await freePort() }, 'pg_7', pid)).toBeUndefined();
      expect(await endSlotSender(network, 'pg_7', pid)).toBe(true);
      expect(await ended).toBe(1);
      expect(await eventually(() => slotSender(network, 'pg_7'), null)).toBeNull();
    } finally {
      receiver.kill('SIGKILL');
      await sql(primaryPort, "SELECT pg_drop_replication_slot('pg_7') FROM pg_replication_slots WHERE slot_name = 'pg_7' AND NOT active");
    }
  }, 30_000);

  test('primaryLacksWal: the WAL of the current position is there, that of a far position is not; undefined when it cannot ask', async () => {
    const primary = local(primaryPort);
    const position = await primary.currentWalLsn();
    const network = { host: '127.0.0.1', port: primaryPort, user: credentials.replicationUser, password: credentials.replicationPassword, ssl: true, connectTimeoutMs: 2000 };
    expect(await primaryLacksWal(network, position)).toBe(false);
    expect(await primaryLacksWal({ ...network, ssl: false }, position)).toBeUndefined();
    expect(await primaryLacksWal(network, 'FF/0')).toBe(true);
    expect(await primaryLacksWal({ ...network, password: 'wrong' }, position)).toBeUndefined();
    expect(await primaryLacksWal({ ...network, port: await freePort() }, position)).toBeUndefined();
    // The question names a WAL file of this timeline: a replica (in recovery) cannot answer it.
    expect(await primaryLacksWal({ ...network, host: scratch, port: replicaPort, user: 'postgres' }, position)).toBeUndefined();
  }, 20_000);

  test('peerStatus: the primary and the replica say over TCP (TLS, scram, the network role) what they are; undefined when they cannot be asked', async () => {
    // The network role, as the first test of this block made it (again: this test may run alone).
    await local(primaryPort).applyCredentials(credentials);
    const network = { host: '127.0.0.1', port: primaryPort, user: credentials.replicationUser, password: credentials.replicationPassword, ssl: true, connectTimeoutMs: 2000 };
    expect(await peerStatus(network)).toEqual({ role: 'primary', lsn: expect.stringMatching(LSN), receiver: 'none', timeline: 1 });
    expect(await eventually(async () => (await peerStatus({ ...network, port: replicaPort }))?.receiver, 'streaming')).toBe('streaming');
    expect(await peerStatus({ ...network, port: replicaPort })).toEqual({ role: 'replica', lsn: expect.stringMatching(LSN), receiver: 'streaming', timeline: 1 });
    expect(await peerStatus({ ...network, password: 'wrong' })).toBeUndefined();
    expect(await peerStatus({ ...network, port: await freePort() })).toBeUndefined();
  });
});

describe('the kept connection', () => {
  test('survives a restart of the server: the next call connects again', async () => {
    const primary = local(primaryPort, { applicationName: 'agent-restart' });
    expect(await primary.timeline()).toBe(1);
    const backends = async () => (await sql(primaryPort, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'agent-restart'"))[0].n;
    expect(await backends()).toBe(1);
    await restart(primaryData);
    expect(await primary.timeline()).toBe(1);
    // Calls made together share the one connection.
    expect(await Promise.all([primary.isInRecovery(), primary.timeline(), primary.streamedASecond()])).toEqual([false, 1, false]);
    expect(await backends()).toBe(1);
    const fresh = local(primaryPort, { applicationName: 'agent-restart' });
    expect(await Promise.all([fresh.isInRecovery(), fresh.timeline(), fresh.receivePosition()])).toEqual([false, 1, undefined]);
    expect(await backends()).toBe(2);
  }, 30_000);

  test('a backend that does not answer: an error within the timeout, then a new connection', async () => {
    const primary = local(primaryPort, { queryTimeoutMs: 500, applicationName: 'agent-hung' });
    expect(await primary.timeline()).toBe(1);
    const backend = async () => (await sql(primaryPort, "SELECT pid FROM pg_stat_activity WHERE application_name = 'agent-hung'"))[0].pid;
    const pid = await backend();
    // A statement's error keeps the connection.
    await expect(primary.receivedBeyond('x')).rejects.toThrow('comparing the received WAL with x: invalid input syntax for type pg_lsn: "x"');
    expect(await primary.timeline()).toBe(1);
    expect(await backend()).toBe(pid);
    process.kill(pid as number, 'SIGSTOP');
    try {
      const started = Date.now();
      await expect(primary.timeline()).rejects.toThrow('reading the timeline: Query read timeout');
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      process.kill(pid as number, 'SIGCONT');
    }
    expect(await primary.timeline()).toBe(1);
    // The stopped backend exits once it runs again and finds its client gone: one connection remains, a new one.
    const onlyANewOne = async () => {
      const pids = (await sql(primaryPort, "SELECT pid FROM pg_stat_activity WHERE application_name = 'agent-hung'")).map(row => row.pid);
      return pids.length === 1 && pids[0] !== pid;
    };
    expect(await eventually(onlyANewOne, true, 5000)).toBe(true);
  });

  test('a postmaster that does not answer: the connection times out; a missing socket fails at once', async () => {
    const pid = postmasterPid(primaryData);
    const primary = local(primaryPort, { queryTimeoutMs: 500, connectTimeoutMs: 1000 });
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      await expect(primary.isInRecovery()).rejects.toThrow(`asking whether the server is in recovery: cannot connect to PostgreSQL at ${scratch}:${primaryPort}: timeout expired`);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(await primary.isInRecovery()).toBe(false);
    const nowhere = local(await freePort());
    await expect(nowhere.isInRecovery()).rejects.toThrow(/cannot connect to PostgreSQL at .*: connect ENOENT/);
  });

  test('a backend ended (FATAL) while it runs a statement breaks the connection: the next call connects again at once', async () => {
    const primary = local(primaryPort, { applicationName: 'agent-ended' });
    expect(await primary.timeline()).toBe(1);
    const backends = async () => (await sql(primaryPort, "SELECT pid FROM pg_stat_activity WHERE application_name = 'agent-ended'")).map(row => row.pid as number);
    const [pid] = await backends();
    // GIVEN a backend stopped as it waits for the next statement, and that statement sent
    process.kill(pid, 'SIGSTOP');
    const asked = primary.timeline();
    try {
      // WHEN pg_terminate_backend ends it: it takes the signal as it runs again, before it runs the statement
      expect((await sql(primaryPort, 'SELECT pg_terminate_backend($1) AS ended', [pid]))[0].ended).toBe(true);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // THEN the statement fails with the FATAL error, and the call right after it has a new connection
    await expect(asked).rejects.toThrow('reading the timeline: terminating connection due to administrator command');
    expect(await primary.timeline()).toBe(1);
    expect(await eventually(async () => (await backends()).includes(pid), false)).toBe(false);
    expect(await backends()).toHaveLength(1);
  });

  test('close ends the kept connection (its backend leaves pg_stat_activity) after the call before it; a call after close connects again', async () => {
    const postgres = local(primaryPort, { applicationName: 'agent-closed' });
    const backends = async () => (await sql(primaryPort, "SELECT pid FROM pg_stat_activity WHERE application_name = 'agent-closed'")).map(row => row.pid as number);
    await postgres.close();
    expect(await backends()).toEqual([]);
    // GIVEN a call in flight
    const asked = postgres.timeline();
    // WHEN the connection is closed
    await postgres.close();
    // THEN the call was answered first, and no backend is left
    expect(await asked).toBe(1);
    expect(await eventually(async () => (await backends()).length, 0)).toBe(0);
    expect(await postgres.timeline()).toBe(1);
    expect(await backends()).toHaveLength(1);
  });

  test('by default it connects to database postgres, whatever its user, as application postgres-agent', async () => {
    await sql(primaryPort, 'CREATE ROLE agent_default LOGIN');
    const postgres = local(primaryPort, { user: 'agent_default' });
    try {
      expect(await postgres.isInRecovery()).toBe(false);
      expect(await sql(primaryPort, "SELECT datname, application_name FROM pg_stat_activity WHERE usename = 'agent_default'"))
        .toEqual([{ datname: 'postgres', application_name: 'postgres-agent' }]);
    } finally {
      await postgres.close();
      await sql(primaryPort, 'DROP ROLE agent_default');
    }
  });

  test('every call says what it was doing when it cannot connect', async () => {
    const port = await freePort();
    const nowhere = local(port);
    const calls: [string, () => Promise<unknown>][] = [
      ['reading the timeline', () => nowhere.timeline()],
      ['reading the status', () => nowhere.status()],
      ['listing the standbys', () => nowhere.standbys()],
      ["waiting for pg-1 to stream this primary's timeline", () => nowhere.awaitStandbyStream('pg-1', 10)],
      ['asking whether the server is in recovery', () => nowhere.isInRecovery()],
      ['promoting', () => nowhere.promote([], 10)],
      ['comparing the received WAL with 0/1', () => nowhere.receivedBeyond('0/1')],
      ['asking whether the WAL receiver streams timeline 2', () => nowhere.streamingOnTimeline(2)],
      ['finding the WAL receiver', () => nowhere.walReceiverPid()],
      ['reloading the configuration', () => nowhere.reload()],
      ['reading the reloaded configuration', () => nowhere.reloadOutcome()],
      ['maintaining the replication slots', () => nowhere.maintainSlots([], 'pg_')],
      ['reading the current WAL position', () => nowhere.currentWalLsn()],
      ['counting the standbys that flushed 0/2', () => nowhere.standbysFlushedPast(['pg-1'], '0/2')],
      ['asking the standbys to reply', () => nowhere.standbysAnswer(['pg-1'], 10)],
      ['asking whether the WAL receiver streams', () => nowhere.streamedASecond()],
      ['reading pg_stat_archiver', () => nowhere.archiverLook()],
      ["reading the WAL receiver's timeline", () => nowhere.receiverTimeline()],
      ['reading the received WAL position', () => nowhere.receivePosition()],
      ['applying the credentials', () => nowhere.applyCredentials({ superuser: 'postgres', superuserPassword: 'p', replicationUser: 'r', replicationPassword: 'p', appDatabase: 'd' })],
    ];
    const said: string[] = [];
    for (const [, call] of calls) said.push(await call().then(() => 'answered', (error: Error) => error.message));
    expect(said).toEqual(calls.map(([what]) => `${what}: cannot connect to PostgreSQL at ${scratch}:${port}: connect ENOENT ${scratch}/.s.PGSQL.${port}`));
  });
});

describe('promotion noticed as the WAL receiver restarts (wal_retrieve_retry_interval 30s)', () => {
  // A standby of the primary above whose primary_conninfo names a listener that accepts and never answers: its WAL
  // receiver hangs connecting. The race a switchover's target can meet (its stream from the old primary has just ended,
  // and the next WAL receiver is not started yet as the promotion comes) is made certain here by stopping the postmaster:
  // the WAL receiver is ended, the startup process asks for another, which the stopped postmaster does not start, and it
  // notices the promotion while it waits for that one. PostgreSQL 15 takes that for a failure of the stream and sleeps
  // out what is left of wal_retrieve_retry_interval since the last failure (30 s) before it acts on the promotion.
  const data = path.join(scratch, 'restarting');
  let port = 0;
  let silent: net.Server;
  let connections = 0;

  beforeAll(async () => {
    port = await freePort();
    silent = net.createServer(() => { connections++; });
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', () => resolve()));
    const silentPort = (silent.address() as net.AddressInfo).port;
    run('pg_basebackup', '-D', data, '-h', scratch, '-p', String(primaryPort), '-U', 'postgres', '-R', '-X', 'stream', '-c', 'fast');
    fs.appendFileSync(path.join(data, 'postgresql.auto.conf'),
      `primary_conninfo = 'host=127.0.0.1 port=${silentPort} user=postgres connect_timeout=120'\nwal_retrieve_retry_interval = '30s'\n`);
    await start(data, port);
  }, 60_000);

  afterAll(() => {
    silent.close();
    try { process.kill(postmasterPid(data), 'SIGCONT'); } catch { /* gone */ }
    if (readPostmaster(data)?.alive) asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  });

  test('promote wakes the startup process out of that sleep (a reload): the standby is a primary within seconds, not 30', async () => {
    const standby = local(port);
    await eventually(async () => connections, 1);
    const receiver = await standby.walReceiverPid();
    const [{ pid: startup }] = await sql(port, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'");
    expect(await standby.isInRecovery()).toBe(true);
    const postmaster = postmasterPid(data);
    process.kill(postmaster, 'SIGSTOP');
    let promoted: Promise<string[]>;
    const started = Date.now();
    try {
      // The WAL receiver ends; the startup process asks for the next one, which the stopped postmaster does not start.
      process.kill(receiver!, 'SIGTERM');
      await new Promise(resolve => setTimeout(resolve, 300));
      // pg_promote writes the promote file and signals the (stopped) postmaster; the startup process gets the promotion
      // as the postmaster would pass it on, while it waits for its next WAL receiver.
      promoted = standby.promote([], 10_000);
      await eventually(async () => fs.existsSync(path.join(data, 'promote')), true, 5000);
      process.kill(startup as number, 'SIGUSR2');
      await eventually(async () => fs.readFileSync(`${data}.log`, 'utf8').includes('waiting for WAL to become available'), true, 5000);
    } finally {
      process.kill(postmaster, 'SIGCONT');
    }
    await promoted;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await standby.isInRecovery()).toBe(false);
  }, 30_000);
});

describe('fast shutdown and promotion', () => {
  test('promote: a promotion that does not finish within the timeout is refused, and the connection serves on', async () => {
    const replica = local(replicaPort);
    // GIVEN the replica's startup process stopped: it cannot act on a promotion
    const [{ pid: startup }] = await sql(replicaPort, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'");
    process.kill(startup as number, 'SIGSTOP');
    const started = performance.now();
    try {
      // WHEN it is promoted, with 200 ms to finish
      await expect(replica.promote(['pg_0'], 200)).rejects.toThrow('promoting: promotion did not finish within 0.2s');
      expect(performance.now() - started).toBeGreaterThanOrEqual(200);
    } finally {
      // The request withdrawn (pg_promote's file), the startup process goes on as a replica's.
      fs.rmSync(path.join(replicaData, 'promote'), { force: true });
      process.kill(startup as number, 'SIGCONT');
    }
    // THEN it is still a replica, without the slot, and the connection still serves
    expect(await replica.isInRecovery()).toBe(true);
    expect(await sql(replicaPort, 'SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    expect(await eventually(() => replica.streamingOnTimeline(1), true)).toBe(true);
  });

  test('fastShutdown: a postmaster.pid naming a process id no process has is stopped already; one naming a process it may not signal is an error that says so', async () => {
    const data = scratchDir('foreign');
    writePostmaster(data, NO_PROCESS);
    expect(await fastShutdown(data, 1000)).toBe(true);
    const other = nobodysProcess();
    try {
      writePostmaster(data, other.pid!);
      // Signalled (and refused) at once, before the function waits for anything.
      const stopping = withPostgresEuid(() => fastShutdown(data, 1000));
      await expect(stopping).rejects.toThrow(`cannot signal the postmaster ${other.pid} of ${data}: kill EPERM`);
      expect(other.exitCode).toBeNull();
      expect(other.signalCode).toBeNull();
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('fastShutdown: false while the postmaster cannot stop; a replica then shuts down in recovery (state 2)', async () => {
    const pid = postmasterPid(replicaData);
    process.kill(pid, 'SIGSTOP');
    let stopped: boolean;
    const started = Date.now();
    try {
      stopped = await fastShutdown(replicaData, 300);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(stopped).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await fastShutdown(replicaData, 10_000)).toBe(true);
    expect(readPostmaster(replicaData)).toBeUndefined();
    expectSameAsControldata(replicaData, 'shut down in recovery');
    expect(observedRole(replicaData)).toBe('not-serving');
    expect(await fastShutdown(replicaData, 10)).toBe(true);
    await start(replicaData, replicaPort);
    expect(observedRole(replicaData)).toBe('replica');
  });

  test('promote makes the replica a writable primary on timeline 2 with the missing slots; a promoted one only gets slots', async () => {
    const replica = local(replicaPort);
    expect(await replica.isInRecovery()).toBe(true);
    expect(await replica.promote(['pg_0', 'pg_2'], 10_000)).toEqual(['pg_0', 'pg_2']);
    expect(await replica.isInRecovery()).toBe(false);
    expect(await replica.timeline()).toBe(2);
    await sql(replicaPort, 'INSERT INTO received VALUES (2)');
    const slots = await sql(replicaPort, 'SELECT slot_name, slot_type, restart_lsn IS NOT NULL AS reserved FROM pg_replication_slots ORDER BY slot_name');
    expect(slots).toEqual([{ slot_name: 'pg_0', slot_type: 'physical', reserved: true }, { slot_name: 'pg_2', slot_type: 'physical', reserved: true }]);
    expect(await replica.promote(['pg_0', 'pg_3'], 10_000)).toEqual(['pg_3']);
    expect(observedRole(replicaData)).toBe('primary');
  });

  test('fastShutdown stops a primary cleanly: state 1, its shutdown checkpoint as pg_controldata prints it', async () => {
    expect(await fastShutdown(replicaData, 10_000)).toBe(true);
    expectSameAsControldata(replicaData, 'shut down');
    expect(control(replicaData)).toMatchObject({ shutDown: true, timeline: 2 });
    expect(observedRole(replicaData)).toBe('not-serving');
  });

  test("a killed postmaster's postmaster.pid is stale: not serving", async () => {
    const pid = postmasterPid(primaryData);
    process.kill(pid, 'SIGKILL');
    await eventually(async () => readPostmaster(primaryData)?.alive, false, 5000);
    expect(readPostmaster(primaryData)).toEqual({ pid, ready: true, alive: false });
    expect(observedRole(primaryData)).toBe('not-serving');
    expect(control(primaryData).state).toBe(DbState.IN_PRODUCTION);
  });
});

describe("a fence that ends at the primary's shutdown checkpoint (fastShutdown until 'shutdown-checkpoint')", () => {
  // A primary whose archiver takes 2 s a segment: at shutdown the postmaster waits for its last cycle.
  const { data, port } = archivingPrimary('fenced', 'sleep 2');

  test('it ends once pg_control says shut down, while the archiver still pushes; no WAL comes after that checkpoint', async () => {
    await sql(port(), 'CREATE TABLE t (n int); INSERT INTO t VALUES (1)');
    await sql(port(), 'SELECT pg_switch_wal()');
    const started = Date.now();
    expect(await fastShutdown(data, 10_000, 'shutdown-checkpoint')).toBe(true);
    const fenced = Date.now() - started;
    const atFence = control(data);
    expect(atFence.shutDown).toBe(true);
    expect(readPostmaster(data)?.alive).toBe(true);
    expect(observedRole(data)).toBe('not-serving');
    // The same wait until the exit: later, and pg_control's checkpoint is still the one the fence saw.
    expect(await fastShutdown(data, 10_000)).toBe(true);
    expect(readPostmaster(data)).toBeUndefined();
    expect(Date.now() - started - fenced).toBeGreaterThan(500);
    expect(control(data).checkpoint).toBe(atFence.checkpoint);
    expectSameAsControldata(data, 'shut down');
  }, 30_000);

  test('a postmaster.pid over no pg_control is not of a server in production: waited for to its exit; a pg_control that goes during the wait is no shutdown checkpoint', async () => {
    const other = scratchDir('no-control');
    // A process that SIGINT ends, as a postmaster's; no pg_control to say what it was.
    const ending = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writePostmaster(other, ending.pid!);
      expect(await fastShutdown(other, 5000, 'shutdown-checkpoint')).toBe(true);
    } finally {
      ending.kill('SIGKILL');
    }

    // In production when signalled; the signal removes pg_control, and the process goes on.
    writeControl(other, DbState.IN_PRODUCTION);
    const controlFile = path.join(other, 'global', 'pg_control');
    const holder = spawn('bash', ['-c', `trap 'rm -f ${controlFile}' INT; echo trapping; while :; do sleep 0.02; done`], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise(resolve => holder.stdout!.once('data', resolve));
      writePostmaster(other, holder.pid!);
      expect(await fastShutdown(other, 300, 'shutdown-checkpoint')).toBe(false);
      expect(fs.existsSync(controlFile)).toBe(false);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  test('a server not in production when signalled (pg_control says shut down from an earlier stop) is waited for to its exit', async () => {
    // A postmaster.pid naming a process that ignores SIGINT, over the data directory stopped by the test before.
    const holder = spawn('bash', ['-c', "trap '' INT; echo ignoring; sleep 30"], { stdio: ['ignore', 'pipe', 'ignore'] });
    const pidFile = path.join(data, 'postmaster.pid');
    try {
      await new Promise(resolve => holder.stdout!.once('data', resolve));
      fs.writeFileSync(pidFile, `${holder.pid}\n${data}\n0\n${port()}\n${scratch}\n127.0.0.1\n0 0\nstarting\n`);
      expect(control(data).shutDown).toBe(true);
      const started = Date.now();
      expect(await fastShutdown(data, 300, 'shutdown-checkpoint')).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    } finally {
      holder.kill('SIGKILL');
      fs.rmSync(pidFile, { force: true });
    }
  });
});

describe('pg_stat_archiver (the primary\'s watch over continuous archiving)', () => {
  const { data, port } = archivingPrimary('archiving', 'exit 1');

  async function lookUntil(postgres: LocalPostgres, done: (look: Awaited<ReturnType<LocalPostgres['archiverLook']>>) => boolean) {
    for (let tries = 0; ; tries++) {
      const look = await postgres.archiverLook();
      if (done(look) || tries === 500) return look;
      await new Promise(resolve => setTimeout(resolve, 20));
    }
  }

  test('archiverLook: the failed tries and their segment, the segments that wait; archived ones once the command works', async () => {
    const postgres = local(port());
    expect(await postgres.archiverLook()).toEqual({ archived: 0, failed: 0, lastArchivedWal: undefined, lastFailedWal: undefined, waiting: 0 });
    await sql(port(), 'CREATE TABLE t (n int); INSERT INTO t VALUES (1)');
    const [{ wal }] = await sql(port(), 'SELECT pg_walfile_name(pg_switch_wal()) AS wal');
    expect(await lookUntil(postgres, look => look.failed >= 3))
      .toEqual({ archived: 0, failed: expect.any(Number), lastArchivedWal: undefined, lastFailedWal: wal, waiting: 1 });
    // The archiver waits a minute after three failed tries, or until it is signalled: the reload wakes it.
    fs.appendFileSync(path.join(data, 'postgresql.auto.conf'), "archive_command = 'true'\n");
    await postgres.reload();
    expect(await lookUntil(postgres, look => look.archived === 1))
      .toMatchObject({ archived: 1, lastArchivedWal: wal, lastFailedWal: wal, waiting: 0 });
  }, 30_000);
});

describe("a switchover's target streams the old primary's timeline (awaitStandbyStream)", () => {
  // A primary of its own ("old", timeline 1) and a standby that streams from it as "pg-5" ("new"); the second test
  // switches them over: the old one shuts down, the new one is promoted (timeline 2), the old one follows it as "pg-4".
  const oldData = path.join(scratch, 'switch-old');
  const newData = path.join(scratch, 'switch-new');
  let oldPort = 0;
  let newPort = 0;
  const replicationClients: Client[] = [];

  /** A replication connection as `name` (a walsender in pg_stat_replication, state startup until it asks to stream). */
  async function walsender(port: number, name: string): Promise<Client> {
    const client = new Client({ host: scratch, port, user: 'postgres', replication: 'true', application_name: name } as ConstructorParameters<typeof Client>[0]);
    client.on('error', () => { /* ended by the test */ });
    await client.connect();
    replicationClients.push(client);
    await client.query('IDENTIFY_SYSTEM');
    return client;
  }

  /** START_REPLICATION on that connection: the walsender streams until the connection ends (nothing is answered). */
  function stream(client: Client, from: string, timeline: number): void {
    client.query(`START_REPLICATION PHYSICAL ${from} TIMELINE ${timeline}`).catch(() => { /* ended by the test */ });
  }

  function endConnection(client: Client): void {
    (client as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
  }

  async function sender(port: number, name: string): Promise<{ state: string; sent: string } | undefined> {
    const rows = await sql(port, 'SELECT state, sent_lsn::text AS sent FROM pg_stat_replication WHERE application_name = $1', [name]);
    return rows[0] as { state: string; sent: string } | undefined;
  }

  async function timed<T>(what: () => Promise<T>): Promise<[T, number]> {
    const started = performance.now();
    const value = await what();
    return [value, performance.now() - started];
  }

  beforeAll(async () => {
    oldPort = await freePort();
    newPort = await freePort();
    run('initdb', '-D', oldData, '-U', 'postgres', '--auth-local=trust', '--encoding=UTF8', '--locale=C');
    await start(oldData, oldPort);
    run('pg_basebackup', '-D', newData, '-h', scratch, '-p', String(oldPort), '-U', 'postgres', '-R', '-X', 'stream', '-c', 'fast');
    fs.appendFileSync(path.join(newData, 'postgresql.auto.conf'), "cluster_name = 'pg-5'\n");
    await start(newData, newPort);
  }, 60_000);

  afterAll(() => {
    for (const client of replicationClients) endConnection(client);
    for (const data of [oldData, newData]) {
      if (readPostmaster(data)?.alive) asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    }
  });

  test('timeline 1: a streaming standby counts at once; one not listed, or only connected (startup), not within the wait; one that starts streaming during the wait counts then', async () => {
    const primary = local(oldPort);
    const [streams, tookMs] = await timed(() => primary.awaitStandbyStream('pg-5', 5000));
    expect(streams).toBe(true);
    expect(tookMs).toBeLessThan(3000);

    const [absent, waitedMs] = await timed(() => primary.awaitStandbyStream('pg-9', 300));
    expect(absent).toBe(false);
    expect(waitedMs).toBeGreaterThanOrEqual(300);

    const connected = await walsender(oldPort, 'pg-9');
    expect(await sender(oldPort, 'pg-9')).toMatchObject({ state: 'startup' });
    expect(await primary.awaitStandbyStream('pg-9', 300)).toBe(false);

    const waiting = timed(() => primary.awaitStandbyStream('pg-9', 5000));
    await new Promise(resolve => setTimeout(resolve, 300));
    const [{ lsn }] = await sql(oldPort, 'SELECT pg_current_wal_lsn()::text AS lsn');
    stream(connected, lsn as string, 1);
    const [streamsNow, afterMs] = await waiting;
    expect(streamsNow).toBe(true);
    expect(afterMs).toBeGreaterThanOrEqual(300);
    expect(afterMs).toBeLessThan(3000);
    // A walsender that streams waits, in a shutdown, for its receiver to confirm every record: this one never would.
    endConnection(connected);
    expect(await eventually(async () => sender(oldPort, 'pg-9'), undefined)).toBeUndefined();
  }, 30_000);

  test('timeline 2: the old primary following the new one counts; a walsender that streams timeline 1 up to its switch point does not', async () => {
    // The switchover: the old primary's fast shutdown hands its standby every record, its shutdown checkpoint included.
    expect(await fastShutdown(oldData, 10_000)).toBe(true);
    const checkpoint = control(oldData).checkpoint;
    const promoted = local(newPort);
    expect(await eventually(() => promoted.receivedBeyond(checkpoint).then(beyond => beyond || undefined), true)).toBe(true);
    await promoted.promote([], 10_000);
    expect(await promoted.timeline()).toBe(2);
    const switchpoint = /^1\t([0-9A-F]+\/[0-9A-F]+)\t/m.exec(fs.readFileSync(path.join(newData, 'pg_wal', '00000002.history'), 'utf8'))![1];

    writeStandbySignal(oldData);
    fs.appendFileSync(path.join(oldData, 'postgresql.auto.conf'), `primary_conninfo = 'host=${scratch} port=${newPort} user=postgres application_name=pg-4'\n`);
    await start(oldData, oldPort);
    expect(await promoted.awaitStandbyStream('pg-4', 10_000)).toBe(true);
    expect(await sql(oldPort, 'SELECT received_tli FROM pg_stat_wal_receiver')).toEqual([{ received_tli: 2 }]);

    // Timeline 1 from the start of the switch point's segment: its walsender sends up to the switch point, says so, and
    // (not answered) stays there, "streaming".
    const [high, low] = switchpoint.split('/');
    const segmentStart = `${high}/${(parseInt(low, 16) - parseInt(low, 16) % 0x1000000).toString(16).toUpperCase()}`;
    stream(await walsender(newPort, 'pg-8'), segmentStart, 1);
    expect(await eventually(async () => JSON.stringify(await sender(newPort, 'pg-8')), JSON.stringify({ state: 'streaming', sent: switchpoint }))).toBe(
      JSON.stringify({ state: 'streaming', sent: switchpoint }));
    expect(await promoted.awaitStandbyStream('pg-8', 300)).toBe(false);
    // The same connection's walsender counts once it streams timeline 2: another connection, asked from the switch point.
    stream(await walsender(newPort, 'pg-7'), switchpoint, 2);
    expect(await promoted.awaitStandbyStream('pg-7', 5000)).toBe(true);
    // A history file that names no switch point: an error (the sidecar then does not know, and fences as before).
    fs.writeFileSync(path.join(newData, 'pg_wal', '00000002.history'), 'not a history\n');
    await expect(promoted.awaitStandbyStream('pg-7', 5000)).rejects.toThrow("waiting for pg-7 to stream this primary's timeline: pg_wal/00000002.history names no switch point");
  }, 60_000);
});
