// The sidecar's executor, round by round, against the e2e harness's API stand-in and a real PostgreSQL 15: pod pg-0's
// server (A) starts as the primary, pod pg-1's (B) as its streaming replica. The tests run in order and share them,
// as a cluster's life does: A creates the record and keeps its slots, synchronous set and passwords; B loses a
// compare-and-swap, then runs and stops; A, cut off from the API, fences itself; B is promoted by the record; A follows
// B and takes over in a switchover; A, no longer named, is fenced; with automatic failover, B takes over from A; B's pod,
// deleted, hands over to pod pg-2's server (C); C's, deleted in turn, to B, which never takes over. Time is the tests'
// own (a fake monotonic clock).
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { promisify } from 'util';
import { Client } from 'pg';
import { SidecarConfig } from '../../src/agent/config';
import { ApiResult, KubeClient } from '../../src/agent/kube';
import { observedRole, readControlFile, readPostmaster } from '../../src/agent/postgres';
import { encodeRecordLease, encodeRecordPatch, LeaderRecord, StableRecord, SwitchingOverRecord } from '../../src/agent/record';
import { nodeStatus, passfileField, passfileText, recordCopyText, SidecarAgent, SidecarEnvironment } from '../../src/agent/sidecar-agent';
import { ApiStandIn } from '../e2e/harness/api';
import { KubeObject, Manifests } from '../e2e/harness/manifests';
import { ApiTls } from '../e2e/harness/tls';
import { ListeningStandIn, startApiStandIn } from '../support/api-stand-in';
import { asPostgres, freePort, PG_BIN, postgresScratchDir, POSTGRES_CWD, runAsPostgres as run, writeAsPostgres } from '../support/postgres';
import { LEASE_AND_PODS, roleFor, runningPod } from '../support/rbac';

const NAMESPACE = 'default';
const scratch = postgresScratchDir();
const A = path.join(scratch, 'a');
const B = path.join(scratch, 'b');
let portA = 0;
let portB = 0;

// ---- the API stand-in: pods pg-0, pg-1 (and pg-2, pg-3 when a test says), each with its own ServiceAccount token ----

const manifests: KubeObject[] = [
  ...roleFor('pg', [
    ...LEASE_AND_PODS,
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['delete'] },
    { apiGroups: ['apps'], resources: ['statefulsets'], resourceNames: ['pg'], verbs: ['get'] },
  ]),
  // The same without watch nor Events: the agent's followLease then only gets the Lease, once a second, and wakes no nap between.
  ...roleFor('no-watch', [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'patch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'patch'] },
  ]),
];

type TestPod = ReturnType<typeof runningPod>;
/** Pods whose Ready condition is True, and pods being deleted (a deletionTimestamp); each pod's uid is `uid-<name>` unless podUids says. */
const readyPods = new Set<string>();
const deletingPods = new Set<string>();
const podUids = new Map<string, string>();
const testPod = (name: string): TestPod => {
  const pod = runningPod(name, { app: 'pg' });
  return {
    ...pod,
    toObject: namespace => {
      const object = pod.toObject(namespace);
      const deletion = deletingPods.has(name) ? { deletionTimestamp: '2026-12-05T20:00:00Z' } : {};
      const conditions = readyPods.has(name) ? [{ type: 'Ready', status: 'True' }] : [];
      return { ...object, metadata: { ...object.metadata, uid: podUids.get(name) ?? `uid-${name}`, ...deletion }, status: { ...object.status, conditions } };
    },
  };
};
/** The StatefulSet `pg` as the stand-in serves it (undefined: there is none); the pods deleted through the API. */
const NO_ROLL: KubeObject = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'pg' }, spec: { replicas: 2 }, status: {} } as KubeObject;
let statefulSet: KubeObject | undefined = NO_ROLL;
const deletedPods: string[] = [];

// Pod "127" of the peer domain "0.0.2" is 127.0.0.2 on this machine (a peer a candidate can reach: forwardPod).
const allPods = new Map([...Array.from({ length: 13 }, (_, i) => `pg-${i}`), '127'].map(name => [name, testPod(name)]));
const podOf = (name: string) => allPods.get(name)!;
/** The pods that exist now, in the order the API lists them. */
let existing: string[] = ['pg-0', 'pg-1'];
const labelChanges: string[] = [];
let dir: string;
let tls: ApiTls;
let api: ApiStandIn;
let adminToken: ListeningStandIn['tokenFile'];
const clients: KubeClient[] = [];

/** Whether a pod's token: the pod's name after "pod:" (Role pg) or "no-watch:" (Role no-watch). */
function identityOf(token: string) {
  const match = /^(pod|no-watch):(.+)$/.exec(token);
  if (!match) return undefined;
  return { account: match[1] === 'pod' ? 'pg' : 'no-watch', pod: match[2] };
}

function tokenFile(token: string): string {
  const file = path.join(dir, `${token.replace(':', '-')}.token`);
  fs.writeFileSync(file, `${token}\n`);
  return file;
}

/** A client as a pod's sidecar has one: its ServiceAccount's token. */
function podClient(pod: string, account: 'pod' | 'no-watch' = 'pod', timeoutMs = 2000): KubeClient {
  const made = new KubeClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile(`${account}:${pod}`), caFile: tls.caFile, timeoutMs });
  clients.push(made);
  return made;
}

let admin: KubeClient;

function must<T>(result: ApiResult<T>): T {
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

/** The record as someone else (the failover job, a test) writes it: a new Lease. */
async function seedRecord(name: string, record: LeaderRecord): Promise<void> {
  must(await admin.createLease(encodeRecordLease(name, { app: 'pg' }, record)));
}

/** Someone else's compare-and-swap of the record. */
async function changeRecord(name: string, record: LeaderRecord): Promise<void> {
  const lease = must(await admin.getLease(name))!;
  must(await admin.patchLease(name, encodeRecordPatch(record, lease.metadata!.resourceVersion as string)));
}

/** The record's annotations as the API stores them, without the prefix, and the holder. */
function storedRecord(name: string): Record<string, string> {
  const lease = api.lease(name)!;
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(lease.metadata.annotations ?? {})) fields[key.replace('postgres.cdk8s.io/', '')] = value as string;
  return { ...fields, holder: (lease.spec as { holderIdentity: string }).holderIdentity };
}

const stable = (primary: string, epoch: number, timeline: number, sync: string[] = []): StableRecord => ({
  version: 1, state: 'stable', primary, epoch, timeline, systemIdentifier: systemIdentifier(), sync,
});
const switchingOver = (previous: string, target: string, epoch: number, timeline: number, checkpoint?: string): SwitchingOverRecord => ({
  version: 1, state: 'switching-over', previous, target, job: 'switchover-1', epoch, timeline, systemIdentifier: systemIdentifier(), sync: [], checkpoint,
});

// ---- PostgreSQL ----

/** pg_ctl start in the background; A also listens on 127.0.0.1 (password logins). */
async function start(data: string, port: number, settings: readonly string[] = []): Promise<void> {
  const options = [`-c port=${port}`, `-c unix_socket_directories=${scratch}`, `-c listen_addresses='${data === A ? '127.0.0.1' : ''}'`, '-c wal_level=replica',
    ...settings.map(setting => `-c ${setting}`)];
  await promisify(execFile)('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, 'pg_ctl'), '-D', data, '-w', '-t', '30', '-l', `${data}.log`,
    '-o', options.join(' '), 'start'], { cwd: POSTGRES_CWD });
}

async function sql(port: number, text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = new Client({ host: scratch, port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Logs in over TCP with a password (scram): the role's name, or the error's message. */
async function login(user: string, password: string, database = 'postgres'): Promise<string> {
  const client = new Client({ host: '127.0.0.1', port: portA, user, password, database });
  try {
    await client.connect();
    return (await client.query('SELECT current_user AS who')).rows[0].who;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function control(data: string) {
  const read = readControlFile(data);
  if (read.kind !== 'read') throw new Error(read.reason);
  return read.control;
}
const systemIdentifier = () => control(A).systemIdentifier;

const slots = async (port: number) => (await sql(port, 'SELECT slot_name FROM pg_replication_slots ORDER BY 1')).map(row => row.slot_name);

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!await check()) {
    if (Date.now() > until) throw new Error('the condition never held');
    await sleep(20);
  }
}

/**
 * A fenced primary's postmaster goes: the fence itself ends at the shutdown checkpoint (pg_control says shut down), and
 * the exit comes after it (its WAL senders' last records), in the next moments.
 */
async function stopped(data: string): Promise<void> {
  expect(control(data).shutDown).toBe(true);
  await eventually(() => readPostmaster(data) === undefined);
}

beforeAll(async () => {
  // In the scratch directory, which the afterAll removes with the servers' data.
  ({ dir, tls, api, tokenFile: adminToken } = await startApiStandIn({
    namespace: NAMESPACE,
    manifests: new Manifests(manifests),
    pods: () => existing.map(podOf),
    identityOf,
    onLabelsChange: changed => labelChanges.push(`${changed.name} ${JSON.stringify(changed.labels)}`),
    statefulSetObject: () => statefulSet,
    deletePodByRequest: name => deletedPods.push(name),
  }, { prefix: 'api-', parent: scratch, watchTimeoutMs: 60_000 }));
  admin = new KubeClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: adminToken(api.adminToken, 'admin'), caFile: tls.caFile, timeoutMs: 5000 });
  clients.push(admin);

  portA = await freePort();
  portB = await freePort();
  run('initdb', '-D', A, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '--encoding=UTF8', '--locale=C');
  await start(A, portA);
  // B streams from slot pg_1 as "pg-1" (its cluster_name is its WAL receiver's application_name).
  run('pg_basebackup', '-D', B, '-h', scratch, '-p', String(portA), '-U', 'postgres', '-R', '-X', 'stream', '-c', 'fast', '-C', '-S', 'pg_1');
  fs.appendFileSync(path.join(B, 'postgresql.auto.conf'), "cluster_name = 'pg-1'\n");
  await start(B, portB);
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.close();
  api?.close();
  for (const data of [A, B]) asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  fs.rmSync(scratch, { recursive: true, force: true });
}, 30_000);

// ---- an agent of pod pg-0 (on A) or pg-1 (on B) ----

const AUTOMATIC_FAILOVER_OFF = {
  enabled: false,
  leaseSeconds: 10,
  renewSeconds: 2,
  renewDeadlineSeconds: 6,
  primaryRestartGraceSeconds: 30,
  minimumIntervalSeconds: 60,
  maximumLagBytes: 1048576,
  deadlineFile: '/nonexistent/lease-deadline',
};

const TIMING: SidecarConfig['timing'] = { pollSeconds: 30, reassertSeconds: 30, isolationFenceSeconds: 10, walCheckSeconds: 10, maintainSeconds: 10, apiTimeoutSeconds: 2 };

/** A valid configuration document (as config.test.ts synthesizes it), with this test's paths and names. */
function configFor(pod: string, files: string, overrides: Partial<SidecarConfig>): SidecarConfig {
  return {
    version: 1,
    leaderRecord: 'postgres-leader',
    recordLabels: { app: 'pg' },
    clusterSelector: 'app=pg',
    statefulSet: 'pg',
    roleLabel: 'role',
    primaryHost: '127.0.0.1',
    port: pod === 'pg-0' ? portA : portB,
    pgdata: pod === 'pg-0' ? A : B,
    socketDir: scratch,
    recordFile: path.join(files, 'leader-record'),
    eventFile: path.join(files, 'event'),
    startPlanFile: path.join(files, 'start-plan'),
    restoreFrom: false,
    users: { superuser: 'postgres', replication: 'replicator', app: 'app', network: 'replicator' },
    appDatabase: 'myapp',
    secretDir: path.join(files, 'secret'),
    appSecretDir: path.join(files, 'app-secret'),
    configDir: path.join(files, 'config'),
    tlsSecretDir: '',
    passwordFile: path.join(files, 'pgpass'),
    tls: false,
    synchronousReplicas: 0,
    postgresVersion: 15,
    peerDomain: 'pg-headless',
    timing: TIMING,
    // The heartbeat fence's file: the agent's own, writable, beside (not in) its directory of files.
    automaticFailover: { ...AUTOMATIC_FAILOVER_OFF, deadlineFile: `${files}.lease-deadline` },
    ...overrides,
  };
}

interface Agent {
  readonly agent: SidecarAgent;
  readonly config: SidecarConfig;
  /** The fake clock: seconds (monotonic), microseconds since the epoch. */
  readonly clock: { monotonic: number; wall: number };
  /** The log lines not taken yet. */
  readonly logs: string[];
  readonly files: string;
  /** A round at this monotonic time; the lines it logged. */
  round(at: number): Promise<string[]>;
}

let agents = 0;

function writeSecret(file: string, value: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, value);
}

function agentOf(pod: string, overrides: Partial<SidecarConfig>, kube: KubeClient = podClient(pod)): Agent {
  const files = path.join(dir, `agent-${++agents}`);
  fs.mkdirSync(files);
  const config = configFor(pod, files, overrides);
  writeSecret(path.join(config.secretDir, 'password'), 'super-secret');
  writeSecret(path.join(config.secretDir, 'replication-password'), 'replication-secret');
  writeSecret(path.join(config.appSecretDir, 'password'), 'app-secret');
  const clock = { monotonic: 1000, wall: 1_700_000_000_000_000 };
  const logs: string[] = [];
  const env: SidecarEnvironment = {
    monotonic: () => clock.monotonic, wallMicros: () => clock.wall, uptime: () => clock.monotonic, log: line => logs.push(line),
  };
  const agent = new SidecarAgent(config, pod, kube, env);
  return {
    agent,
    config,
    clock,
    logs,
    files,
    round: async at => {
      clock.monotonic = 1000 + at;
      clock.wall += 1_000_000;
      await agent.round();
      return logs.splice(0);
    },
  };
}

/** The agent's clocks from now on the real ones (for run(), whose naps wait real time): monotonic from 1000 s. */
function onRealClocks(agent: Agent): void {
  const t0 = Date.now();
  Object.defineProperty(agent.clock, 'monotonic', { get: () => 1000 + (Date.now() - t0) / 1000 });
  Object.defineProperty(agent.clock, 'wall', { get: () => Date.now() * 1000 });
}

/** One look of the agent's failsafe at this monotonic time; the lines it logged. */
async function failsafeLook(agent: Agent, at: number): Promise<string[]> {
  agent.clock.monotonic = 1000 + at;
  await agent.agent.failsafeCheck();
  return agent.logs.splice(0);
}

/** A log line as `text` says, but for a flush position (written `<lsn>` in it), which moves with the WAL. */
function withLsn(text: string): RegExp {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&').replace('<lsn>', '[0-9A-F]+/[0-9A-F]+')}$`);
}

const recordCopy = (agent: Agent) => fs.readFileSync(agent.config.recordFile, 'utf8');
const copyOf = (wall: number, record: LeaderRecord | undefined) => `read_at=${wall}\n${recordCopyText(record)}\n`;
const labelOf = (pod: string) => podOf(pod).labels.role;

/** A client that, once, lets someone else change the record while the agent lists the pods (between its read and its write). */
class InterferingClient extends KubeClient {
  public interfere: (() => Promise<void>) | undefined;

  public async listPods(labelSelector: string): ReturnType<KubeClient['listPods']> {
    const interfere = this.interfere;
    this.interfere = undefined;
    if (interfere !== undefined) await interfere();
    return super.listPods(labelSelector);
  }
}

/** A client before whose writes of a new timeline to the record someone else writes it first, `races` times: each is a 409. */
class TimelineRacingClient extends KubeClient {
  public races = 0;

  public async patchLease(name: string, patch: Parameters<KubeClient['patchLease']>[1]): ReturnType<KubeClient['patchLease']> {
    const annotations = patch.metadata?.annotations ?? {};
    const stored = api.lease(name)?.metadata.annotations?.['postgres.cdk8s.io/timeline'];
    if (this.races > 0 && annotations['postgres.cdk8s.io/timeline'] !== undefined && annotations['postgres.cdk8s.io/timeline'] !== stored) {
      this.races--;
      const resourceVersion = api.lease(name)!.metadata.resourceVersion as string;
      must(await admin.patchLease(name, { metadata: { resourceVersion, annotations: { 'example.com/raced': String(this.races) } } }));
    }
    return super.patchLease(name, patch);
  }
}

/** A client whose next `races` writes of the record (those `raced` picks) each lose to someone else's write made just before (a 409). */
class RacingClient extends KubeClient {
  public races = 0;
  public raced: (patch: Parameters<KubeClient['patchLease']>[1]) => boolean = () => true;

  public async patchLease(name: string, patch: Parameters<KubeClient['patchLease']>[1]): ReturnType<KubeClient['patchLease']> {
    if (this.races > 0 && this.raced(patch)) {
      this.races--;
      const resourceVersion = api.lease(name)!.metadata.resourceVersion as string;
      must(await admin.patchLease(name, { metadata: { resourceVersion, annotations: { 'example.com/raced': String(this.races) } } }));
    }
    return super.patchLease(name, patch);
  }
}

/** A RacingClient as the pod's sidecar has one. */
function racingClient(pod: string): RacingClient {
  const made = new RacingClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile(`pod:${pod}`), caFile: tls.caFile, timeoutMs: 2000 });
  clients.push(made);
  return made;
}

// ---- the tests, in the cluster's order ----

describe('the files other containers read', () => {
  test('the password file escapes ":" and "\\" (libpq); the record copy has found and every field, empty ones too', () => {
    expect(passfileField('a:b\\c')).toBe('a\\:b\\\\c');
    expect(passfileText('repl:', 'p\\w', 'postgres', 's')).toBe('*:*:*:repl\\::p\\\\w\n*:*:*:postgres:s\n');
    expect(recordCopyText(undefined)).toBe('found=no\nstate=\nprimary=\nepoch=\ntimeline=\nsystem-identifier=\nsync=\ntarget=\nprevious=\njob=\ncheckpoint=');
    expect(recordCopyText({ ...switchingOver('pg-0', 'pg-1', 4, 2, '0/3000028'), systemIdentifier: '7', sync: ['pg-1', 'pg-2'] })).toBe(
      'found=yes\nstate=switching-over\nprimary=\nepoch=4\ntimeline=2\nsystem-identifier=7\nsync=pg-1,pg-2\ntarget=pg-1\nprevious=pg-0\njob=switchover-1\ncheckpoint=0/3000028');
  });
});

describe('the primary', () => {
  test('a primary with no record creates it (epoch 1, its timeline, pg_control\'s system identifier, the other pods sorted in synchronous mode), then labels itself', async () => {
    existing = ['pg-2', 'pg-0', 'pg-1'];
    const a = agentOf('pg-0', { leaderRecord: 'created', synchronousReplicas: 1 });
    const described = 'epoch 1, stable, primary pg-0, timeline 1, synchronous standbys pg-1,pg-2';
    expect(await a.round(0)).toEqual([`no leader record: recording this primary (${described})`, `created the leader record: ${described}`]);
    expect(storedRecord('created')).toEqual({
      'state': 'stable',
      'primary': 'pg-0',
      'epoch': '1',
      'timeline': '1',
      'system-identifier': systemIdentifier(),
      'sync': 'pg-1,pg-2',
      'target': '',
      'previous': '',
      'job': '',
      'checkpoint': '',
      'version': '1',
      'holder': 'pg-0',
    });
    expect(systemIdentifier()).toMatch(/^[1-9][0-9]{15,19}$/);
    // The copy was read before the record existed; no label yet.
    expect(recordCopy(a)).toBe(copyOf(a.clock.wall, undefined));
    expect(labelOf('pg-0')).toBeUndefined();

    expect(await a.round(0)).toEqual([`the leader record names this primary (${described})`, `role=primary (PostgreSQL is primary; ${described})`]);
    expect(labelOf('pg-0')).toBe('primary');
    const created = stable('pg-0', 1, 1, ['pg-1', 'pg-2']);
    expect(recordCopy(a)).toBe(copyOf(a.clock.wall, created));
    expect(recordCopy(a)).toContain('found=yes\nstate=stable\nprimary=pg-0\nepoch=1\ntimeline=1\n');
    expect(await slots(portA)).toEqual(['pg_1', 'pg_2']);

    // The copy is rewritten every 2 s (with the time its read began), not at every round.
    const written = a.clock.wall;
    expect(await a.round(1.9)).toEqual([]);
    expect(recordCopy(a)).toBe(copyOf(written, created));
    expect(await a.round(2)).toEqual([]);
    expect(recordCopy(a)).toBe(copyOf(a.clock.wall, created));
    expect(fs.readdirSync(a.files).sort()).toEqual(['app-secret', 'leader-record', 'pgpass', 'secret']);
  });

  test('maintain-primary: a slot per other pod; a gone pod\'s slot dropped; a gone member stays synchronous until enough others flushed past it', async () => {
    existing = ['pg-0', 'pg-1', 'pg-2'];
    await seedRecord('maintained', stable('pg-0', 1, 1, ['pg-1', 'pg-2']));
    const a = agentOf('pg-0', { leaderRecord: 'maintained', synchronousReplicas: 1 });
    const described = 'epoch 1, stable, primary pg-0, timeline 1, synchronous standbys pg-1,pg-2';
    expect(await a.round(0)).toEqual([`the leader record names this primary (${described})`, `role=primary (PostgreSQL is primary; ${described})`]);
    expect(await slots(portA)).toEqual(['pg_1', 'pg_2']);

    // pg-2 goes while B's WAL receiver stands still: B has not flushed what A wrote since.
    const [{ pid }] = await sql(portB, 'SELECT pid FROM pg_stat_wal_receiver');
    process.kill(pid as number, 'SIGSTOP');
    try {
      await sql(portA, 'CREATE TABLE written_after (n int)');
      existing = ['pg-0', 'pg-1'];
      expect(await a.round(1)).toEqual(['dropping replication slot pg_2 (its pod is gone)']);
      expect(await slots(portA)).toEqual(['pg_1']);
      expect(storedRecord('maintained').sync).toBe('pg-1,pg-2');
      expect(await a.round(2)).toEqual([]);
      expect(storedRecord('maintained').sync).toBe('pg-1,pg-2');
    } finally {
      process.kill(pid as number, 'SIGCONT');
    }
    await eventually(async () => (await sql(portA, `SELECT count(*)::int AS n FROM pg_stat_replication
      WHERE application_name = 'pg-1' AND flush_lsn >= pg_current_wal_lsn()`))[0].n === 1);
    expect(await a.round(3)).toEqual(['synchronous standbys recorded: pg-1']);
    expect(storedRecord('maintained').sync).toBe('pg-1');

    // A new pod: its slot, and it joins the synchronous set.
    existing = ['pg-0', 'pg-3', 'pg-1'];
    expect(await a.round(4)).toEqual(['the leader record names this primary (epoch 1, stable, primary pg-0, timeline 1, synchronous standbys pg-1)',
      'synchronous standbys recorded: pg-1,pg-3']);
    expect(await slots(portA)).toEqual(['pg_1', 'pg_3']);
    expect(storedRecord('maintained')).toMatchObject({ sync: 'pg-1,pg-3', epoch: '1', primary: 'pg-0' });
    // Nothing changed: the slots are looked at again only after maintainSeconds.
    await sql(portA, "SELECT pg_drop_replication_slot('pg_3')");
    expect(await a.round(5)).toEqual(['the leader record names this primary (epoch 1, stable, primary pg-0, timeline 1, synchronous standbys pg-1,pg-3)']);
    expect(await a.round(13.9)).toEqual([]);
    expect(await slots(portA)).toEqual(['pg_1']);
    expect(await a.round(14)).toEqual([]);
    expect(await slots(portA)).toEqual(['pg_1', 'pg_3']);
    await sql(portA, "SELECT pg_drop_replication_slot('pg_3')");
    existing = ['pg-0', 'pg-1'];
  });

  test('a gone member leaves the synchronous set once the others flushed past where WAL stood when it was first missed, not at a later look; a write that loses is tried again', async () => {
    existing = ['pg-0', 'pg-1', 'pg-2'];
    await seedRecord('sync-gone', stable('pg-0', 1, 1, ['pg-1', 'pg-2']));
    const kube = racingClient('pg-0');
    const a = agentOf('pg-0', { leaderRecord: 'sync-gone', synchronousReplicas: 1 }, kube);
    await a.round(0);
    const [{ pid }] = await sql(portB, 'SELECT pid FROM pg_stat_wal_receiver');
    const flushedAll = async () => (await sql(portA, `SELECT count(*)::int AS n FROM pg_stat_replication
      WHERE application_name = 'pg-1' AND flush_lsn >= pg_current_wal_lsn()`))[0].n === 1;
    process.kill(pid as number, 'SIGSTOP');
    try {
      // pg-2 is missed while B stands still: where WAL stands now is what B must flush.
      await sql(portA, 'CREATE TABLE sync_gone_1 (n int)');
      existing = ['pg-0', 'pg-1'];
      expect(await a.round(1)).toEqual(['dropping replication slot pg_2 (its pod is gone)']);
      // pg-3 comes: the set grows, and pg-2 stays in it, B not caught up.
      existing = ['pg-0', 'pg-1', 'pg-3'];
      expect(await a.round(2)).toEqual(['synchronous standbys recorded: pg-1,pg-2,pg-3']);
      process.kill(pid as number, 'SIGCONT');
      await eventually(flushedAll);
      // B flushed past that point, then stands still again behind new WAL: pg-2 may go all the same.
      process.kill(pid as number, 'SIGSTOP');
      await sql(portA, 'CREATE TABLE sync_gone_2 (n int)');
      expect(await flushedAll()).toBe(false);
      kube.races = 1;
      // The write loses (someone wrote the record first): nothing said, and the next round writes it.
      expect(await a.round(3)).toEqual(['the leader record names this primary (epoch 1, stable, primary pg-0, timeline 1, synchronous standbys pg-1,pg-2,pg-3)']);
      expect(storedRecord('sync-gone').sync).toBe('pg-1,pg-2,pg-3');
      expect(await a.round(4)).toEqual(['synchronous standbys recorded: pg-1,pg-3']);
      expect(storedRecord('sync-gone').sync).toBe('pg-1,pg-3');
      expect(await a.round(5)).toEqual(['the leader record names this primary (epoch 1, stable, primary pg-0, timeline 1, synchronous standbys pg-1,pg-3)']);
    } finally {
      process.kill(pid as number, 'SIGCONT');
    }
    await sql(portA, "SELECT pg_drop_replication_slot('pg_3')");
    existing = ['pg-0', 'pg-1'];
  });

  test('a slot that lost its WAL is dropped, said so, and made again; each slot PostgreSQL cannot make (none left) is logged, and tried again', async () => {
    existing = ['pg-0', 'pg-1', 'pg-2'];
    await seedRecord('slots', stable('pg-0', 1, 1));
    const a = agentOf('pg-0', { leaderRecord: 'slots' });
    await a.round(0);
    expect(await slots(portA)).toEqual(['pg_1', 'pg_2']);
    const walStatus = async () => (await sql(portA, 'SELECT slot_name, wal_status FROM pg_replication_slots ORDER BY 1')).map(row => `${row.slot_name} ${row.wal_status}`);
    // pg_2 loses its WAL: a checkpoint removes the segments beyond max_slot_wal_keep_size (B's pg_1, confirmed, keeps it).
    await sql(portA, "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
    await sql(portA, 'SELECT pg_reload_conf()');
    try {
      await sql(portA, 'CREATE TABLE slot_lost (n int)');
      for (let i = 0; i < 3; i++) await sql(portA, 'INSERT INTO slot_lost VALUES (1); SELECT pg_switch_wal()');
      const [{ end }] = await sql(portA, 'SELECT pg_current_wal_lsn()::text AS end');
      await eventually(async () => (await sql(portA, "SELECT restart_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = 'pg_1'", [end]))[0].ok === true);
      await sql(portA, 'CHECKPOINT');
      expect(await walStatus()).toEqual(['pg_1 reserved', 'pg_2 lost']);
      // Looked at when maintainSeconds passed.
      expect(await a.round(10)).toEqual(['dropping replication slot pg_2 (lost)']);
      expect(await walStatus()).toEqual(['pg_1 reserved', 'pg_2 reserved']);
    } finally {
      await sql(portA, 'ALTER SYSTEM RESET max_slot_wal_keep_size');
      await sql(portA, 'SELECT pg_reload_conf()');
    }
    // More pods than max_replication_slots (10): each slot PostgreSQL refuses is said, and asked for again next time.
    existing = Array.from({ length: 13 }, (_, i) => `pg-${i}`);
    // 12 wanted, made in their names' order (pg_1, pg_10, pg_11, pg_12, pg_2, ...): the last two find none left.
    const refused = ['pg_8', 'pg_9'].map(slot => `could not maintain a replication slot: creating ${slot}: all replication slots are in use`);
    expect(await a.round(11)).toEqual(refused);
    expect(await slots(portA)).toHaveLength(10);
    expect(await a.round(21)).toEqual(refused);
    for (const slot of await slots(portA)) if (slot !== 'pg_1') await sql(portA, 'SELECT pg_drop_replication_slot($1)', [slot]);
    existing = ['pg-0', 'pg-1'];
  });

  test('the password file: written 0600 once every Secret is there, escaped; rewritten and logged when a Secret changes; the passwords applied to the roles', async () => {
    await seedRecord('credentials', stable('pg-0', 1, 1));
    const a = agentOf('pg-0', { leaderRecord: 'credentials' });
    const secret = (name: string, value: string) => writeSecret(path.join(a.config.secretDir, name), value);
    fs.rmSync(path.join(a.config.appSecretDir, 'password'));
    secret('password', 'su:per\\pass');
    secret('replication-password', 're:pl\\pass');
    // The application's Secret is missing: no file, no passwords applied.
    expect(await a.round(0)).toEqual(['the leader record names this primary (epoch 1, stable, primary pg-0, timeline 1)',
      'role=primary (PostgreSQL is primary; epoch 1, stable, primary pg-0, timeline 1)']);
    expect(fs.existsSync(a.config.passwordFile)).toBe(false);

    writeSecret(path.join(a.config.appSecretDir, 'password'), 'app:pass 1');
    expect(await a.round(1)).toEqual([]);
    expect(fs.readFileSync(a.config.passwordFile, 'utf8')).toBe('*:*:*:replicator:re\\:pl\\\\pass\n*:*:*:postgres:su\\:per\\\\pass\n');
    expect(fs.statSync(a.config.passwordFile).mode % 0o1000).toBe(0o600);
    expect(fs.readdirSync(a.files).sort()).toEqual(['app-secret', 'leader-record', 'pgpass', 'secret']);
    expect(await login('app', 'app:pass 1', 'myapp')).toBe('app');
    expect(await login('replicator', 're:pl\\pass')).toBe('replicator');
    expect(await login('postgres', 'su:per\\pass')).toBe('postgres');

    // The application's password: not in the password file, applied to its role.
    writeSecret(path.join(a.config.appSecretDir, 'password'), 'app pass 2');
    expect(await a.round(2)).toEqual(['applied the changed passwords of the Secrets to the roles postgres, replicator, app']);
    expect(await login('app', 'app pass 2', 'myapp')).toBe('app');
    expect(await login('app', 'app:pass 1', 'myapp')).toBe('password authentication failed for user "app"');

    secret('replication-password', 'rotated');
    expect(await a.round(3)).toEqual(['the Secret changed: rewrote this pod\'s password file',
      'applied the changed passwords of the Secrets to the roles postgres, replicator, app']);
    expect(fs.readFileSync(a.config.passwordFile, 'utf8')).toBe('*:*:*:replicator:rotated\n*:*:*:postgres:su\\:per\\\\pass\n');
    expect(fs.statSync(a.config.passwordFile).mode % 0o1000).toBe(0o600);
    expect(await login('replicator', 'rotated')).toBe('replicator');
    expect(await a.round(4)).toEqual([]);

    secret('password', 'super-secret');
    expect(await a.round(5)).toEqual(['the Secret changed: rewrote this pod\'s password file',
      'applied the changed passwords of the Secrets to the roles postgres, replicator, app']);
    expect(await login('postgres', 'super-secret')).toBe('postgres');
  });

  test('the password file waits for the superuser\'s and the replication role\'s Secrets each, missing or empty', async () => {
    await seedRecord('credentials-missing', stable('pg-0', 1, 1));
    const a = agentOf('pg-0', { leaderRecord: 'credentials-missing' });
    const secret = path.join(a.config.secretDir, 'password');
    const replication = path.join(a.config.secretDir, 'replication-password');
    fs.rmSync(secret);
    await a.round(0);
    expect(fs.existsSync(a.config.passwordFile)).toBe(false);
    writeSecret(secret, '');
    expect(await a.round(1)).toEqual([]);
    expect(fs.existsSync(a.config.passwordFile)).toBe(false);
    writeSecret(secret, 'super-secret');
    fs.rmSync(replication);
    expect(await a.round(2)).toEqual([]);
    expect(fs.existsSync(a.config.passwordFile)).toBe(false);
    writeSecret(replication, '');
    expect(await a.round(3)).toEqual([]);
    expect(fs.existsSync(a.config.passwordFile)).toBe(false);
  });

  test('without an application role, the passwords of the superuser and the replication role are applied and named', async () => {
    await seedRecord('no-app', stable('pg-0', 1, 1));
    const a = agentOf('pg-0', { leaderRecord: 'no-app', users: { superuser: 'postgres', replication: 'replicator', app: '', network: 'replicator' } });
    fs.rmSync(path.join(a.config.appSecretDir, 'password'));
    await a.round(0);
    expect(fs.readFileSync(a.config.passwordFile, 'utf8')).toBe('*:*:*:replicator:replication-secret\n*:*:*:postgres:super-secret\n');
    writeSecret(path.join(a.config.secretDir, 'replication-password'), 'rotated again');
    expect(await a.round(1)).toEqual(['the Secret changed: rewrote this pod\'s password file',
      'applied the changed passwords of the Secrets to the roles postgres, replicator']);
    expect(await login('replicator', 'rotated again')).toBe('replicator');
    // An application Secret mounted all the same is not read: its change applies nothing.
    writeSecret(path.join(a.config.appSecretDir, 'password'), 'no role uses it');
    expect(await a.round(2)).toEqual([]);
  });

  test('passwords PostgreSQL does not take (its transactions read-only) are logged, and applied by a later round', async () => {
    await seedRecord('read-only', stable('pg-0', 1, 1));
    const a = agentOf('pg-0', { leaderRecord: 'read-only' });
    await a.round(0);
    await sql(portA, 'ALTER SYSTEM SET default_transaction_read_only = on');
    await sql(portA, 'SELECT pg_reload_conf()');
    try {
      writeSecret(path.join(a.config.secretDir, 'replication-password'), 'read only');
      expect(await a.round(1)).toEqual(['the Secret changed: rewrote this pod\'s password file',
        'could not apply the Secrets\' passwords to the roles (applying the credentials: cannot execute ALTER ROLE in a read-only transaction); retrying']);
      expect(await login('replicator', 'read only')).toBe('password authentication failed for user "replicator"');
    } finally {
      await sql(portA, 'ALTER SYSTEM RESET default_transaction_read_only');
      await sql(portA, 'SELECT pg_reload_conf()');
    }
    expect(await a.round(2)).toEqual(['applied the changed passwords of the Secrets to the roles postgres, replicator, app']);
    expect(await login('replicator', 'read only')).toBe('replicator');
  });

  test('a renewed certificate file makes PostgreSQL reload it, once', async () => {
    await seedRecord('certificate', stable('pg-0', 1, 1));
    const tlsDir = path.join(dir, 'tls');
    const a = agentOf('pg-0', { leaderRecord: 'certificate', tlsSecretDir: tlsDir });
    const loaded = async () => String((await sql(portA, 'SELECT pg_conf_load_time()::text AS t'))[0].t);
    // No certificate yet, then an empty one: nothing to compare with.
    expect(await a.round(0)).toHaveLength(2);
    writeSecret(path.join(tlsDir, 'tls.crt'), '');
    expect(await a.round(1)).toEqual([]);
    writeSecret(path.join(tlsDir, 'tls.crt'), 'certificate 1');
    expect(await a.round(2)).toEqual([]);
    const before = await loaded();
    writeSecret(path.join(tlsDir, 'tls.crt'), 'certificate 2');
    expect(await a.round(3)).toEqual([`the certificate in ${tlsDir} changed (renewed): PostgreSQL reloaded it`]);
    await eventually(async () => await loaded() !== before);
    expect(await a.round(4)).toEqual([]);
    writeSecret(path.join(tlsDir, 'tls.crt'), '');
    expect(await a.round(5)).toEqual([]);
    writeSecret(path.join(tlsDir, 'tls.crt'), 'certificate 2');
    expect(await a.round(6)).toEqual([]);
    writeSecret(path.join(tlsDir, 'tls.crt'), 'certificate 3');
    expect(await a.round(7)).toEqual([`the certificate in ${tlsDir} changed (renewed): PostgreSQL reloaded it`]);
  });
});

describe('a rolling update (updateStrategy OnDelete: the primary\'s agent rolls)', () => {
  afterEach(() => {
    statefulSet = NO_ROLL;
    readyPods.clear();
    deletingPods.clear();
    for (const pod of ['pg-0', 'pg-1']) delete podOf(pod).labels['controller-revision-hash'];
  });

  test('the primary deletes a replica of an older revision once every pod is Ready, not while the record holds the roll; waits while it goes, '
    + 'says so after a minute; looks every 5 s when idle, every second during a roll', async () => {
    existing = ['pg-0', 'pg-1'];
    const a = agentOf('pg-0', { leaderRecord: 'rolled' });
    const looks = () => api.requests.filter(r => r.path.endsWith('/statefulsets/pg')).length;
    const events = api.events().length;
    const before = looks();
    // The first rounds: no record, then a record and nothing to roll, which is not said.
    expect(await a.round(0)).toHaveLength(2);
    expect(await a.round(0)).toHaveLength(2);
    const idle = looks();
    expect(idle).toBe(before + 1);
    for (const pod of ['pg-0', 'pg-1']) {
      podOf(pod).labels['controller-revision-hash'] = 'pg-old';
      readyPods.add(pod);
    }
    statefulSet = { ...NO_ROLL, status: { updateRevision: 'pg-new' } } as KubeObject;
    // Held by a person first: nothing deleted until the annotation goes.
    await patchLeaseAsAdmin('rolled', {}, { 'rollout.postgres.cdk8s.io/paused': 'true' });
    expect(await a.round(4.9)).toEqual([]);
    expect(looks()).toBe(idle);
    expect(await a.round(5)).toEqual(['rolling update to revision pg-new (0 of 2 pods run it): paused (rollout.postgres.cdk8s.io/paused=true on the record)']);
    expect(deletedPods).toEqual([]);
    await patchLeaseAsAdmin('rolled', {}, { 'rollout.postgres.cdk8s.io/paused': null });
    const deleting = 'rolling update to revision pg-new (0 of 2 pods run it): deleting replica pg-1 (revision pg-old); the StatefulSet makes it anew from the new template';
    expect(await a.round(6)).toEqual([deleting]);
    expect(deletedPods).toEqual(['pg-1']);
    const request = api.requests.filter(r => r.method === 'DELETE').pop()!;
    expect([request.path, JSON.parse(request.body).preconditions]).toEqual([`/api/v1/namespaces/${NAMESPACE}/pods/pg-1`, { uid: 'uid-pg-1' }]);

    // While pods of the old revision are left, a look every second.
    deletingPods.add('pg-1');
    expect(await a.round(6.9)).toEqual([]);
    expect(looks()).toBe(idle + 2);
    const waiting = 'rolling update to revision pg-new (0 of 2 pods run it): waiting, pg-1 is being deleted';
    expect(await a.round(7)).toEqual([waiting]);
    expect(await a.round(66.9)).toEqual([]);
    // Not a minute yet: no Event but the deletion's.
    expect(api.events()).toHaveLength(events + 1);
    // A minute of the same wait: a Warning Event, once; the log says nothing new.
    expect(await a.round(67)).toEqual([]);
    expect(await a.round(68)).toEqual([]);
    expect(await a.round(69)).toEqual([]);
    expect(api.events().slice(events).map((e: any) => [e.type, e.reason, e.involvedObject.name, e.message])).toEqual([
      ['Normal', 'RollingUpdate', 'pg-0', deleting],
      ['Warning', 'RollingUpdateStalled', 'pg-0', `for 60s and more: ${waiting}`],
    ]);

    // Every pod of the new revision: said once, then a look every 5 s again.
    deletingPods.delete('pg-1');
    for (const pod of ['pg-0', 'pg-1']) podOf(pod).labels['controller-revision-hash'] = 'pg-new';
    expect(await a.round(70)).toEqual(['every pod runs the pod template\'s revision pg-new']);
    expect(await a.round(74.9)).toEqual([]);
    const looked = looks();
    statefulSet = undefined;
    expect(await a.round(75)).toEqual(['cannot look at the rolling update: there is no StatefulSet pg']);
    expect(looks()).toBe(looked + 1);
    expect(await a.round(80)).toEqual([]);
    expect(deletedPods).toEqual(['pg-1']);
  });

  test('a replica of an older revision whose deletion the API refuses is logged, no Event, and deleted at the next look', async () => {
    existing = ['pg-0', 'pg-1'];
    await seedRecord('undeleted', stable('pg-0', 1, control(A).timeline));
    class RefusingClient extends KubeClient {
      public refusals = 1;

      public async deletePod(name: string, uid: string | undefined): ReturnType<KubeClient['deletePod']> {
        if (this.refusals-- > 0) return { ok: false, status: 409, reason: 'Conflict', message: `DELETE pods/${name}: 409 Conflict` };
        return super.deletePod(name, uid);
      }
    }
    const kube = new RefusingClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile('pod:pg-0'), caFile: tls.caFile, timeoutMs: 2000 });
    clients.push(kube);
    const a = agentOf('pg-0', { leaderRecord: 'undeleted' }, kube);
    for (const pod of ['pg-0', 'pg-1']) {
      podOf(pod).labels['controller-revision-hash'] = 'pg-old';
      readyPods.add(pod);
    }
    statefulSet = { ...NO_ROLL, status: { updateRevision: 'pg-new' } } as KubeObject;
    const events = api.events().length;
    const deleted = deletedPods.length;
    const deleting = 'rolling update to revision pg-new (0 of 2 pods run it): deleting replica pg-1 (revision pg-old); the StatefulSet makes it anew from the new template';
    expect((await a.round(0)).slice(2)).toEqual([deleting, 'could not delete pg-1 (DELETE pods/pg-1: 409 Conflict): looking again']);
    expect(deletedPods).toHaveLength(deleted);
    expect(api.events()).toHaveLength(events);
    expect(await a.round(1)).toEqual([]);
    expect(deletedPods.slice(deleted)).toEqual(['pg-1']);
    expect(api.events().slice(events).map((e: any) => [e.type, e.reason, e.message])).toEqual([['Normal', 'RollingUpdate', deleting]]);
  });

  test('once only the primary runs the older revision, it switches over to the most advanced standby of the new one; a write that loses is tried again', async () => {
    existing = ['pg-0', 'pg-1'];
    const timeline = control(A).timeline;
    await seedRecord('rolled-over', stable('pg-0', 1, timeline));
    const kube = racingClient('pg-0');
    const a = agentOf('pg-0', { leaderRecord: 'rolled-over' }, kube);
    podOf('pg-0').labels['controller-revision-hash'] = 'pg-old';
    podOf('pg-1').labels['controller-revision-hash'] = 'pg-new';
    for (const pod of ['pg-0', 'pg-1']) readyPods.add(pod);
    statefulSet = { ...NO_ROLL, status: { updateRevision: 'pg-new' } } as KubeObject;
    const events = api.events().length;
    const deleted = deletedPods.length;
    kube.races = 1;
    const switching = `epoch 2, switching-over, primary (none), timeline ${timeline} (job pg-0: pg-0 -> pg-1)`;
    const rolling = withLsn('rolling update to revision pg-new (1 of 2 pods run it, every replica): switching over to pg-1, the most advanced '
      + `standby of the new revision (flushed <lsn>), before this primary's pod is updated (${switching})`);
    const first = await a.round(0);
    expect(first.slice(2)).toEqual([expect.stringMatching(rolling), expect.stringMatching(/^could not write the rolling update's switchover \(.*409.*\): deciding again$/)]);
    expect(storedRecord('rolled-over')).toMatchObject({ state: 'stable', primary: 'pg-0', epoch: '1' });
    // A second later (a roll is under way): the same plan (said again only if the standby's flush position moved meanwhile), written this time.
    const second = await a.round(1);
    expect(second.filter(line => !rolling.test(line))).toEqual([]);
    expect(storedRecord('rolled-over')).toMatchObject({ state: 'switching-over', previous: 'pg-0', target: 'pg-1', job: 'pg-0', epoch: '2' });
    expect(api.events().slice(events).map((e: any) => [e.type, e.reason, e.involvedObject.name, e.message])).toEqual([
      ['Normal', 'SwitchingOver', 'pg-0', expect.stringMatching(rolling)],
    ]);
    // No pod deleted: the switchover comes first.
    expect(deletedPods).toHaveLength(deleted);
    // This agent rounds no more: A stays the primary for the tests that follow.
    expect(observedRole(A)).toBe('primary');
  });
});

describe('a changed configuration (the ConfigMap as the kubelet updates it)', () => {
  // The agent reads the files PostgreSQL reads: here A's own postgresql.conf and pg_hba.conf, restored afterwards.
  const conf = () => path.join(A, 'postgresql.conf');
  const hba = () => path.join(A, 'pg_hba.conf');
  let original: { conf: string; hba: string };
  beforeAll(() => { original = { conf: fs.readFileSync(conf(), 'utf8'), hba: fs.readFileSync(hba(), 'utf8') }; });
  afterAll(async () => {
    writeAsPostgres(conf(), original.conf);
    writeAsPostgres(hba(), original.hba);
    await sql(portA, 'SELECT pg_reload_conf()');
  });
  const setting = async (name: string) => String((await sql(portA, `SELECT current_setting('${name}') AS v`))[0].v);

  test('is reloaded once: a log line and an Event say what is in effect now and what waits for a restart', async () => {
    await seedRecord('configuration', stable('pg-0', 1, 1));
    const a = agentOf('pg-0', { leaderRecord: 'configuration', configDir: A });
    expect(await a.round(0)).toHaveLength(2);
    // First sight: what PostgreSQL started with; nothing to reload.
    expect(await a.round(1)).toEqual([]);
    const before = api.events().length;
    writeAsPostgres(conf(), `${original.conf}\nwork_mem = '7MB'\nmax_prepared_transactions = 3\n`);
    writeAsPostgres(hba(), `${original.hba}\n# a comment\n`);
    const message = 'the configuration changed: PostgreSQL reloaded it; in effect now: work_mem (unset) -> "7MB"; pg_hba.conf in effect now; '
      + 'at the next restart (the StatefulSet rolls the pods when a setting that needs one changes: one switchover): max_prepared_transactions (unset) -> "3"';
    expect(await a.round(2)).toEqual([`ConfigurationReloaded: ${message}`]);
    expect(await setting('work_mem')).toBe('7MB');
    expect(await setting('max_prepared_transactions')).toBe('0');
    expect(api.events().slice(before).map((e: any) => [e.type, e.reason, e.involvedObject.name, e.message])).toEqual([['Normal', 'ConfigurationReloaded', 'pg-0', message]]);
    // Unchanged since: no second reload, no second Event.
    expect(await a.round(3)).toEqual([]);
    expect(api.events()).toHaveLength(before + 1);
    // postgresql.conf alone: pg_hba.conf is not said.
    writeAsPostgres(conf(), `${original.conf}\nwork_mem = '8MB'\nmax_prepared_transactions = 3\n`);
    const restart = 'also waiting for a restart: max_prepared_transactions';
    expect(await a.round(4)).toEqual([`ConfigurationReloaded: the configuration changed: PostgreSQL reloaded it; in effect now: work_mem "7MB" -> "8MB"; ${restart}`]);
    writeAsPostgres(conf(), `${original.conf}\nwork_mem = '7MB'\nmax_prepared_transactions = 3\n`);
    expect(await a.round(5)).toEqual([`ConfigurationReloaded: the configuration changed: PostgreSQL reloaded it; in effect now: work_mem "8MB" -> "7MB"; ${restart}`]);
  });

  test('a change while PostgreSQL does not serve is only logged, once: PostgreSQL reads the files as it starts', async () => {
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    const configDir = fs.mkdtempSync(path.join(dir, 'config-'));
    fs.writeFileSync(path.join(configDir, 'postgresql.conf'), 'work_mem = 4MB\n');
    const b = agentOf('pg-1', { leaderRecord: 'not-serving-config', pgdata: empty, configDir });
    const said = 'the configuration changed while PostgreSQL does not serve: it reads the new one as it starts';
    // Either file missing (the ConfigMap not mounted whole yet): no configuration to compare, whatever changes.
    expect(await b.round(0)).not.toContain(said);
    fs.writeFileSync(path.join(configDir, 'postgresql.conf'), 'work_mem = 2MB\n');
    expect(await b.round(0.5)).not.toContain(said);
    fs.renameSync(path.join(configDir, 'postgresql.conf'), path.join(configDir, 'pg_hba.conf'));
    expect(await b.round(0.6)).not.toContain(said);
    fs.writeFileSync(path.join(configDir, 'pg_hba.conf'), 'local all all trust\n');
    fs.writeFileSync(path.join(configDir, 'postgresql.conf'), 'work_mem = 4MB\n');
    expect(await b.round(0.7)).not.toContain(said);
    fs.writeFileSync(path.join(configDir, 'postgresql.conf'), 'work_mem = 8MB\n');
    expect(await b.round(1)).toContain(said);
    expect(await b.round(2)).not.toContain(said);
    fs.writeFileSync(path.join(configDir, 'pg_hba.conf'), 'local all all peer\n');
    expect(await b.round(3)).toContain(said);
  });

  test('a value PostgreSQL refuses: a Warning Event names the line, and the setting keeps its value', async () => {
    const a = agentOf('pg-0', { leaderRecord: 'configuration', configDir: A });
    expect(await a.round(0)).toHaveLength(2);
    const before = api.events().length;
    writeAsPostgres(conf(), `${original.conf}\nwork_mem = 'lots'\n`);
    const lines = await a.round(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^ConfigurationRefused: the configuration changed and PostgreSQL reloaded it, but refused ${conf()}:\\d+: work_mem: `));
    expect(api.events().slice(before).map((e: any) => [e.type, e.reason])).toEqual([['Warning', 'ConfigurationRefused']]);
    expect(await setting('work_mem')).not.toBe('lots');
  });
});

describe('what goes wrong on the primary\'s side', () => {
  test('a record this agent cannot act on is an unreadable record: logged once per error, nothing changes, then "the API answers again"', async () => {
    const malformed = encodeRecordLease('malformed', { app: 'pg' }, stable('pg-0', 1, 1));
    must(await admin.createLease({ ...malformed, metadata: { ...malformed.metadata, annotations: { ...malformed.metadata.annotations, 'postgres.cdk8s.io/state': 'weird' } } }));
    const a = agentOf('pg-0', { leaderRecord: 'malformed' });
    const error = 'the leader record is not one this agent can act on: malformed leader record: postgres.cdk8s.io/state is unknown: "weird" (known: stable, switching-over, failing-over)';
    expect(await a.round(0)).toEqual([`cannot read the leader record: ${error}`,
      `the leader record cannot be read (${error}): nothing changes (a primary fences itself after 10s)`]);
    // No copy for the entrypoint from a record that could not be read.
    expect(fs.existsSync(a.config.recordFile)).toBe(false);
    expect(await a.round(5)).toEqual([]);
    expect(observedRole(A)).toBe('primary');
    // Another error while the record still cannot be read: said.
    await patchLeaseAsAdmin('malformed', {}, { 'postgres.cdk8s.io/state': 'odd' });
    const other = error.replace(/"weird"/, '"odd"');
    expect(await a.round(5.5)).toEqual([`cannot read the leader record: ${other}`,
      `the leader record cannot be read (${other}): nothing changes (a primary fences itself after 10s)`]);
    expect(await a.round(5.6)).toEqual([]);
    await changeRecord('malformed', stable('pg-0', 2, 1));
    expect(await a.round(6)).toEqual(['the API answers again: epoch 2, stable, primary pg-0, timeline 1',
      'the leader record names this primary (epoch 2, stable, primary pg-0, timeline 1)', 'role=primary (PostgreSQL is primary; epoch 2, stable, primary pg-0, timeline 1)']);
    expect(recordCopy(a)).toBe(copyOf(a.clock.wall, stable('pg-0', 2, 1)));

    // A Lease of that name without a single annotation (made by someone else): no record either.
    const bareLease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'bare' }, spec: {} };
    must(await admin.createLease(bareLease as unknown as Parameters<KubeClient['createLease']>[0]));
    const bare = agentOf('pg-0', { leaderRecord: 'bare' });
    expect((await bare.round(0))[0]).toMatch(/^cannot read the leader record: the leader record is not one this agent can act on: /);
  });

  test('a record created by someone else first: "could not create the leader record", and the next round follows theirs', async () => {
    const kube = new InterferingClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile('pod:pg-0'), caFile: tls.caFile, timeoutMs: 2000 });
    clients.push(kube);
    kube.interfere = () => seedRecord('raced-create', stable('pg-0', 7, 1));
    const a = agentOf('pg-0', { leaderRecord: 'raced-create' }, kube);
    expect(await a.round(0)).toEqual(['no leader record: recording this primary (epoch 1, stable, primary pg-0, timeline 1)',
      'could not create the leader record: POST leases/raced-create: 409 AlreadyExists: leases.coordination.k8s.io "raced-create" already exists']);
    expect(storedRecord('raced-create')).toMatchObject({ epoch: '7' });
    expect(await a.round(1)).toEqual(['the leader record names this primary (epoch 7, stable, primary pg-0, timeline 1)',
      'role=primary (PostgreSQL is primary; epoch 7, stable, primary pg-0, timeline 1)']);
  });

  test('files that cannot be written and a label the API refuses are logged and tried again next round', async () => {
    await seedRecord('unwritable', stable('pg-0', 1, 1));
    const nowhere = path.join(dir, 'missing-directory');
    const a = agentOf('pg-0', { leaderRecord: 'unwritable', recordFile: path.join(nowhere, 'leader-record'), passwordFile: path.join(nowhere, 'pgpass') });
    existing = ['pg-1'];
    const lines = await a.round(0);
    existing = ['pg-0', 'pg-1'];
    expect(lines).toEqual([
      `could not write ${nowhere}/pgpass (ENOENT: no such file or directory, open '${nowhere}/pgpass.${process.pid}'); retrying`,
      `could not write ${nowhere}/leader-record: ENOENT: no such file or directory, open '${nowhere}/leader-record.new'`,
      'the leader record names this primary (epoch 1, stable, primary pg-0, timeline 1)',
      'could not update the label (PATCH pods/pg-0: 404 NotFound: pods "pg-0" not found); retrying',
    ]);
    fs.mkdirSync(nowhere);
    // The password file is written at once, but not logged as a change; the label goes on.
    expect(await a.round(0.5)).toEqual(['role=primary (PostgreSQL is primary; epoch 1, stable, primary pg-0, timeline 1)']);
    expect(fs.readFileSync(path.join(nowhere, 'pgpass'), 'utf8')).toBe('*:*:*:replicator:replication-secret\n*:*:*:postgres:super-secret\n');
    expect(recordCopy({ ...a, config: { ...a.config, recordFile: path.join(nowhere, 'leader-record') } })).toBe(copyOf(a.clock.wall, stable('pg-0', 1, 1)));
    fs.rmSync(nowhere, { recursive: true });
  });

  test('a primary whose label was moved by hand to another pod waits until that pod\'s sidecar removes it, says so once, then sets its own back', async () => {
    await seedRecord('moved-label', stable('pg-0', 1, 1));
    const a = agentOf('pg-0', { leaderRecord: 'moved-label' });
    expect(await a.round(0)).toEqual(['the leader record names this primary (epoch 1, stable, primary pg-0, timeline 1)',
      'role=primary (PostgreSQL is primary; epoch 1, stable, primary pg-0, timeline 1)']);
    expect(labelOf('pg-0')).toBe('primary');
    // A person moves it: pg-0 is a replica, pg-1 the primary.
    must(await admin.labelPod('pg-0', 'role', 'replica'));
    must(await admin.labelPod('pg-1', 'role', 'primary'));
    const waiting = 'the role label was moved by hand to pg-1: waiting until its sidecar removes it';
    expect(await a.round(1)).toEqual([waiting]);
    expect(await a.round(2)).toEqual([]);
    expect(labelOf('pg-0')).toBe('replica');
    // pg-1's sidecar removes its label; a listing LABEL_RESTORE_SECONDS later still shows no other primary: pg-0's comes back.
    must(await admin.labelPod('pg-1', 'role', null));
    expect(await a.round(3)).toEqual([]);
    expect(await a.round(3.8)).toEqual([]);
    expect(labelOf('pg-0')).toBe('replica');
    expect(await a.round(4)).toEqual(['the role label was changed to "replica" by someone else: setting it back to "primary"']);
    expect(labelOf('pg-0')).toBe('primary');
  });

  test('an Event the entrypoint left is posted about the pod and its file removed; a refused post is retried; a line that is not an Event is dropped', async () => {
    await seedRecord('events', stable('pg-0', 1, 1));
    const refused = agentOf('pg-0', { leaderRecord: 'events' }, podClient('pg-0', 'no-watch'));
    const eventFile = refused.config.eventFile;
    fs.writeFileSync(eventFile, 'Warning UnrecordedPromotion this pod was promoted outside the leader record\n');
    const lines = await refused.round(0);
    expect(lines[0]).toMatch(/^could not post the UnrecordedPromotion Event \(POST events \(UnrecordedPromotion about pod pg-0\): 403 Forbidden: .*\); retrying$/);
    expect(fs.existsSync(eventFile)).toBe(true);

    const a = agentOf('pg-0', { leaderRecord: 'events', eventFile });
    const before = api.events().length;
    expect((await a.round(0))[0]).toBe('posted a Warning Event about this pod: UnrecordedPromotion');
    expect(fs.existsSync(eventFile)).toBe(false);
    const posted = api.events().slice(before);
    expect(posted).toHaveLength(1);
    expect(posted[0]).toMatchObject({
      type: 'Warning',
      reason: 'UnrecordedPromotion',
      message: 'this pod was promoted outside the leader record',
      involvedObject: { kind: 'Pod', name: 'pg-0' },
      source: { component: 'postgres-cluster-agent' },
    });
    const garbage = `not an event ${'x'.repeat(300)}`;
    fs.writeFileSync(eventFile, `${garbage}\n`);
    expect(await a.round(1)).toEqual([`ignoring ${eventFile}: not "<Normal|Warning> <Reason> <message>": ${garbage.slice(0, 200)}`]);
    expect(fs.existsSync(eventFile)).toBe(false);
    expect(api.events()).toHaveLength(before + 1);
    expect(await a.round(2)).toEqual([]);
  });
});

describe('the replica, and run()', () => {
  test('a compare-and-swap that loses (the record changed between read and write) logs "could not record" and decides again soon, without promoting', async () => {
    await seedRecord('raced', switchingOver('pg-0', 'pg-1', 2, 1, '0/1'));
    const kube = new InterferingClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile('no-watch:pg-1'), caFile: tls.caFile, timeoutMs: 2000 });
    clients.push(kube);
    let changedAt = 0;
    kube.interfere = async () => {
      await changeRecord('raced', { ...stable('pg-0', 3, 1), systemIdentifier: systemIdentifier() });
      changedAt = Date.now();
    };
    const b = agentOf('pg-1', { leaderRecord: 'raced' }, kube);
    const stop = new AbortController();
    const running = b.agent.run(stop.signal);
    const secondRound = 'PostgreSQL is a replica (epoch 3, stable, primary pg-0, timeline 1)';
    await eventually(() => b.logs.includes(secondRound)).finally(() => stop.abort());
    const decidedAgainAfter = Date.now() - changedAt;
    await running;
    expect(b.logs).toEqual([
      `watching ${B} and leader record raced; label "role"`,
      "received the old primary's shutdown checkpoint 0/1: recording this pod as the primary (epoch 2, stable, primary pg-1, timeline 1), then promoting it",
      'role=replica (PostgreSQL is replica; epoch 2, switching-over, primary (none), timeline 1 (job switchover-1: pg-0 -> pg-1), shutdown checkpoint 0/1)',
      expect.stringMatching(/^could not record epoch 2, stable, primary pg-1, timeline 1 \(takeOverSwitchover: .*\): deciding again$/),
      secondRound,
      'stopping, but the pod is not being deleted (a restart): the primary stays where it is',
    ]);
    expect(b.logs[3]).toContain('409');
    // followLease (no watch here) wakes a nap only after its next get, a second later: this round came soon.
    expect(decidedAgainAfter).toBeLessThan(700);
    expect(observedRole(B)).toBe('replica');
    expect(storedRecord('raced')).toMatchObject({ state: 'stable', primary: 'pg-0', epoch: '3' });
    // run() ends by removing the label.
    expect(labelOf('pg-1')).toBeUndefined();
  });

  test('run(): a record change that arrives while a round runs (after its read) is acted on at once, not a poll later', async () => {
    await seedRecord('changed-mid-round', stable('pg-0', 1, 1));
    class ChangingClient extends KubeClient {
      public change: (() => Promise<void>) | undefined;
      public async getLease(name: string): ReturnType<KubeClient['getLease']> {
        const got = await super.getLease(name);
        const change = this.change;
        this.change = undefined;
        // The record changes right after this round read it: its watch event arrives while the round runs.
        if (change !== undefined) await change();
        return got;
      }
    }
    const kube = new ChangingClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile('pod:pg-1'), caFile: tls.caFile, timeoutMs: 2000 });
    clients.push(kube);
    const b = agentOf('pg-1', { leaderRecord: 'changed-mid-round' }, kube);
    const stop = new AbortController();
    const running = b.agent.run(stop.signal);
    let changedAt = 0;
    try {
      await eventually(() => b.logs.some(line => line.startsWith('PostgreSQL is a replica (epoch 1,')));
      await sleep(200);
      kube.change = async () => {
        await changeRecord('changed-mid-round', stable('pg-0', 2, 1));
        changedAt = Date.now();
        // Until the watch has delivered it, the round goes on.
        await sleep(100);
      };
      // Ends the nap (pollSeconds 30): the round that reads epoch 1 once more, then changes it.
      fs.writeFileSync(`${b.config.startPlanFile}.wanted`, '1700000000000000-1\n');
      await eventually(() => b.logs.some(line => line.startsWith('PostgreSQL is a replica (epoch 2,')), 5000);
    } finally {
      stop.abort();
      await running;
    }
    // The next round came 10 ms after the one that ran, not pollSeconds (30 s) later.
    expect(Date.now() - changedAt).toBeLessThan(1500);
  });

  test('run(): a round woken by a change of the record acts on the lease its watch delivered, without reading it again', async () => {
    await seedRecord('delivered', stable('pg-0', 1, 1));
    const b = agentOf('pg-1', { leaderRecord: 'delivered' });
    const stop = new AbortController();
    const running = b.agent.run(stop.signal);
    const reads = () => api.requests.filter(r => r.method === 'GET' && r.path.endsWith('/leases/delivered')).length;
    let readsMeanwhile: number;
    try {
      await eventually(() => b.logs.some(line => line.startsWith('PostgreSQL is a replica (epoch 1,')));
      await sleep(200);
      const before = reads();
      // One read: the change's own (changeRecord reads the lease, then writes it).
      await changeRecord('delivered', stable('pg-0', 2, 1));
      await eventually(() => b.logs.some(line => line.startsWith('PostgreSQL is a replica (epoch 2,')), 5000);
      readsMeanwhile = reads() - before;
    } finally {
      stop.abort();
      await running;
    }
    expect(readsMeanwhile).toBe(1);
    // The copy of the record the entrypoint reads is the delivered one.
    expect(fs.readFileSync(b.config.recordFile, 'utf8').split('\n')).toContain('epoch=2');
  });

  test('run(): the entrypoint\'s start-plan request ends the nap; the plan answers it from a read made after it, with a fresh copy of the record', async () => {
    await seedRecord('followed', stable('pg-0', 1, 1));
    const b = agentOf('pg-1', { leaderRecord: 'followed' });
    const stop = new AbortController();
    labelChanges.length = 0;
    const running = b.agent.run(stop.signal);
    const wanted = `${b.config.startPlanFile}.wanted`;
    const plan = () => fs.readFileSync(b.config.startPlanFile, 'utf8');
    try {
      await eventually(() => labelOf('pg-1') === 'replica' && fs.existsSync(b.config.recordFile));
      const first = b.clock.wall;
      expect(recordCopy(b)).toBe(copyOf(first, stable('pg-0', 1, 1)));
      // The nap lasts pollSeconds (30): no round reads the record meanwhile, the copy stays as it is.
      const reads = () => api.requests.filter(request => request.method === 'GET' && request.path.endsWith('/leases/followed')).length;
      await sleep(100);
      const readsBefore = reads();
      b.clock.wall += 5_000_000;
      await sleep(400);
      expect(reads()).toBe(readsBefore);
      expect(fs.existsSync(b.config.startPlanFile)).toBe(false);
      fs.writeFileSync(wanted, '1700000000000000-7\n');
      await eventually(() => fs.existsSync(b.config.startPlanFile), 2000);
      expect(reads()).toBe(readsBefore + 1);
      // B's data (a running replica's, on the record's timeline): start as a replica.
      expect(plan()).toBe('request=1700000000000000-7\nreason=the data directory is a replica\'s: starting as a replica of pg-0\nstep=start replica\n');
      expect(fs.existsSync(wanted)).toBe(false);
      expect(recordCopy(b)).toBe(copyOf(first + 5_000_000, stable('pg-0', 1, 1)));

      // A record the agent cannot decode: the plan waits for a person, naming what is wrong.
      must(await admin.patchLease('followed', { metadata: { annotations: { 'postgres.cdk8s.io/epoch': 'x' } } } as any));
      fs.writeFileSync(wanted, 'second');
      await eventually(() => plan().startsWith('request=second\n'), 2000);
      expect(plan()).toMatch(/^request=second\nreason=the leader record cannot be used \(the leader record is not one this agent can act on: .*epoch.*\): waiting for a person to repair it\nstep=wait normal\n$/);
      await changeRecord('followed', stable('pg-0', 2, 1));

      // The API does not answer: no plan rests on an older read; the plan is to wait.
      podOf('pg-1').apiCutOff = true;
      try {
        fs.writeFileSync(wanted, 'third');
        await eventually(() => plan().startsWith('request=third\n'), 5000);
        expect(plan()).toBe('request=third\nreason=the role-labeler sidecar cannot read the leader record now: waiting, never deciding on an older read\nstep=wait normal\n');
      } finally {
        podOf('pg-1').apiCutOff = false;
      }

      // A request that is not an id is ignored (said once), and answered by no plan.
      fs.writeFileSync(wanted, 'not an id');
      await eventually(() => !fs.existsSync(wanted), 2000);
      await sleep(300);
      expect(plan()).toMatch(/^request=third\n/);
      expect(b.logs).toContain(`ignoring ${wanted}: "not an id" is not a request id`);
    } finally {
      stop.abort();
      await running;
    }
    expect(labelOf('pg-1')).toBeUndefined();
    expect(labelChanges[0]).toBe('pg-1 {"app":"pg","role":"replica"}');
    expect(labelChanges[labelChanges.length - 1]).toBe('pg-1 {"app":"pg"}');
  });

  test('a start request found before a round is answered by it; one whose plan only waits for pod 0 is held until the record appears, or for 2 s', async () => {
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    const b = agentOf('pg-1', { leaderRecord: 'held', pgdata: empty });
    const wanted = `${b.config.startPlanFile}.wanted`;
    const plan = () => (fs.existsSync(b.config.startPlanFile) ? fs.readFileSync(b.config.startPlanFile, 'utf8') : undefined);
    // No record yet: the plan would be to wait for pod 0; held, not written.
    fs.writeFileSync(wanted, 'r0\n');
    await b.round(0);
    expect(fs.existsSync(wanted)).toBe(false);
    expect(plan()).toBeUndefined();
    await b.round(1.9);
    expect(plan()).toBeUndefined();
    // Two seconds after it was taken, with still no record: answered with the wait.
    await b.round(2);
    expect(plan()).toBe('request=r0\nreason=no leader record yet and an empty volume: waiting for pod 0 to initialize the cluster\nstep=wait bootstrap\n');
    // The next request is held until a round reads the record pod 0's sidecar created: that round answers it.
    fs.writeFileSync(wanted, 'r1\n');
    await b.round(3);
    expect(plan()).toMatch(/^request=r0\n/);
    await seedRecord('held', stable('pg-0', 1, 1));
    await b.round(3.1);
    expect(plan()).toBe('request=r1\nreason=an empty volume: cloning from the recorded primary pg-0, then starting as its replica\nstep=clone pg-0 wait\nstep=start replica\n');
    // A plan that does more than wait is never held: answered by the round that took the request.
    fs.writeFileSync(wanted, 'r2\n');
    await b.round(3.2);
    expect(plan()).toMatch(/^request=r2\nreason=an empty volume: cloning/);
  });

  test('run(): a start request held for the record (wait bootstrap) is answered when its hold ends, 2 s, not a poll (30 s) later', async () => {
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    const b = agentOf('pg-1', { leaderRecord: 'never-created', pgdata: empty });
    onRealClocks(b);
    const plan = () => (fs.existsSync(b.config.startPlanFile) ? fs.readFileSync(b.config.startPlanFile, 'utf8') : '');
    const stop = new AbortController();
    const running = b.agent.run(stop.signal);
    let answeredAfter = 0;
    try {
      await eventually(() => b.logs.length > 1);
      const asked = Date.now();
      fs.writeFileSync(`${b.config.startPlanFile}.wanted`, 'h1\n');
      await eventually(() => plan().startsWith('request=h1\n'), 5000);
      answeredAfter = Date.now() - asked;
    } finally {
      stop.abort();
      await running;
    }
    expect(plan()).toBe('request=h1\nreason=no leader record yet and an empty volume: waiting for pod 0 to initialize the cluster\nstep=wait bootstrap\n');
    expect(answeredAfter).toBeGreaterThanOrEqual(1900);
    expect(answeredAfter).toBeLessThan(4500);
  }, 30_000);

  test('a steady round asks the API only what its decisions need', async () => {
    existing = ['pg-0', 'pg-1'];
    await seedRecord('steady', stable('pg-0', 1, control(A).timeline));
    const a = agentOf('pg-0', { leaderRecord: 'steady' });
    const b = agentOf('pg-1', { leaderRecord: 'steady' });
    await a.round(0);
    await b.round(0);
    // The requests made since `mark` (the stand-in keeps the last 1,000).
    const since = (mark: typeof api.requests[0]) => api.requests.slice(api.requests.lastIndexOf(mark) + 1)
      .map(request => `${request.method} ${request.path.replace(/\?.*/, '')}`);
    const lease = 'GET /apis/coordination.k8s.io/v1/namespaces/default/leases/steady';
    // The primary: the record, and the pods once (its label in place: nothing patched).
    let mark = api.requests[api.requests.length - 1];
    expect(await a.round(1)).toEqual([]);
    expect(since(mark)).toEqual([lease, 'GET /api/v1/namespaces/default/pods']);
    // A replica the record does not involve: the record only.
    mark = api.requests[api.requests.length - 1];
    expect(await b.round(1)).toEqual([]);
    expect(since(mark)).toEqual([lease]);
    // A pod the record names whose PostgreSQL does not serve (it starts): the record only.
    await seedRecord('steady-starting', stable('pg-1', 1, control(A).timeline));
    const starting = agentOf('pg-1', { leaderRecord: 'steady-starting', pgdata: fs.mkdtempSync(path.join(dir, 'empty-')) });
    await starting.round(0);
    mark = api.requests[api.requests.length - 1];
    expect(await starting.round(1)).toEqual([]);
    expect(since(mark)).toEqual(['GET /apis/coordination.k8s.io/v1/namespaces/default/leases/steady-starting']);
  });

  test('a start plan that cannot be written is logged, and written by a later round', async () => {
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    // A directory where the plan should be: nothing is renamed onto it.
    const planFile = path.join(dir, 'blocked-start-plan');
    fs.mkdirSync(path.join(planFile, 'inside'), { recursive: true });
    const b = agentOf('pg-1', { leaderRecord: 'held', pgdata: empty, startPlanFile: planFile });
    fs.writeFileSync(`${planFile}.wanted`, 'r7\n');
    const first = await b.round(0);
    const refused = first.filter(line => line.startsWith('could not write'));
    expect(refused).toEqual([expect.stringMatching(new RegExp(`^could not write ${planFile}: .+`))]);
    // A request id: nothing ignored.
    expect(first.filter(line => line.startsWith('ignoring'))).toEqual([]);
    expect(await b.round(1)).toEqual([refused[0]]);
    fs.rmSync(planFile, { recursive: true });
    expect(await b.round(2)).toEqual([]);
    expect(fs.readFileSync(planFile, 'utf8')).toMatch(/^request=r7\nreason=an empty volume: cloning from the recorded primary pg-0/);
    // Answered: not written again.
    fs.rmSync(planFile);
    await b.round(3);
    expect(fs.existsSync(planFile)).toBe(false);
    // A request that is no id, however long, is ignored and quoted up to its 80th character.
    const long = `${'x'.repeat(79)}!${'y'.repeat(40)}`;
    fs.writeFileSync(`${planFile}.wanted`, long);
    expect(await b.round(4)).toEqual([`ignoring ${planFile}.wanted: ${JSON.stringify(long.slice(0, 80))} is not a request id`]);
    expect(fs.existsSync(planFile)).toBe(false);
  });

  test('a former primary\'s start plan rests on the recorded primary\'s answer over the pod network: it rejoins one that answers, and waits for one that does not', async () => {
    // A former primary's data (no standby.signal) on timeline t; the record names pod "127" (127.0.0.2: A) on t + 1.
    const former = fs.mkdtempSync(path.join(dir, 'former-primary-'));
    fs.mkdirSync(path.join(former, 'global'));
    fs.mkdirSync(path.join(former, 'pg_wal'));
    fs.copyFileSync(path.join(B, 'PG_VERSION'), path.join(former, 'PG_VERSION'));
    fs.copyFileSync(path.join(B, 'global', 'pg_control'), path.join(former, 'global', 'pg_control'));
    const t = control(former).timeline;
    await seedRecord('rejoin', stable('127', 9, t + 1));
    const primary = await forwardPod('127.0.0.2', portB, portA);
    try {
      const b = agentOf('pg-1', { leaderRecord: 'rejoin', pgdata: former, peerDomain: '0.0.2', users: NETWORK_SUPERUSER });
      const wanted = `${b.config.startPlanFile}.wanted`;
      const plan = () => fs.readFileSync(b.config.startPlanFile, 'utf8');
      fs.writeFileSync(wanted, 'j1\n');
      await b.round(0);
      expect(plan()).toBe(`request=j1\nreason=the leader record names 127 (epoch 9, timeline ${t + 1}); this pod's data is on timeline ${t}: `
        + 'rejoining as its replica\nstep=rewind 127 wait\nstep=start replica\n');
      primary.close();
      fs.writeFileSync(wanted, 'j2\n');
      await b.round(1);
      expect(plan()).toBe('request=j2\nreason=this pod was a primary; the recorded primary 127 does not answer, and only it can say how to rejoin\nstep=wait normal\n');
    } finally {
      primary.close();
    }
  });
});

/**
 * The primary as a replica's agent reaches it (primaryHost, at the agent's own port): a directory with the primary's
 * socket under the replica's port.
 */
function socketAs(primaryPort: number, port: number): string {
  const socketDir = fs.mkdtempSync(path.join(dir, 'primary-socket-'));
  fs.symlinkSync(path.join(scratch, `.s.PGSQL.${primaryPort}`), path.join(socketDir, `.s.PGSQL.${port}`));
  return socketDir;
}

/** The network role the superuser: it may end any walsender (the replicas here stream as postgres). */
const NETWORK_SUPERUSER = { superuser: 'postgres', replication: 'replicator', app: 'app', network: 'postgres' };

describe('a replica whose connection to the primary is gone on its side only', () => {
  test('the walsender that still holds its slot is ended once seen at two looks 3 s apart, while the replica does not stream', async () => {
    existing = ['pg-0', 'pg-1'];
    await seedRecord('stale-sender', stable('pg-0', 1, control(A).timeline));
    const b = agentOf('pg-1', { leaderRecord: 'stale-sender', primaryHost: socketAs(portA, portB), users: NETWORK_SUPERUSER });
    // B streams (for a second and more) at the first look: nothing seen.
    await eventually(async () => (await sql(portB, `SELECT count(*)::int AS n FROM pg_stat_wal_receiver AS r JOIN pg_stat_activity AS a USING (pid)
      WHERE r.status = 'streaming' AND a.backend_start < clock_timestamp() - interval '1 second'`))[0].n === 1);
    await b.round(0);
    // A's walsender stands still, holding slot pg_1; B's WAL receiver ends, and every new one finds the slot taken.
    const senderOf = async () => (await sql(portA, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pg_1'"))[0].active_pid as number | null;
    const sender = (await senderOf())!;
    const [{ pid: receiver }] = await sql(portB, 'SELECT pid FROM pg_stat_wal_receiver');
    process.kill(sender, 'SIGSTOP');
    try {
      process.kill(receiver as number, 'SIGTERM');
      await eventually(async () => (await sql(portB, "SELECT count(*)::int AS n FROM pg_stat_wal_receiver WHERE status = 'streaming'"))[0].n === 0);
      const ended = `the primary's walsender ${sender} held this pod's replication slot pg_1 at two looks 3s apart, while this replica did not stream: `
        + 'its connection is gone; ended it, so that the WAL receiver can connect';
      // One look (every 3 s) sees it, in the background (a question to a local socket: done well within 2 s); the next ends it.
      expect(await b.round(2.9)).toEqual([]);
      expect(await b.round(3)).toEqual([]);
      await sleep(2000);
      expect(await b.round(5.9)).toEqual([]);
      await sleep(1000);
      expect(b.logs).toEqual([]);
      expect(await b.round(6)).toEqual([]);
      await eventually(() => b.logs.includes(ended));
    } finally {
      process.kill(sender, 'SIGCONT');
    }
    await eventually(async () => await senderOf() !== sender);
    await sql(portB, 'SELECT pg_reload_conf()');
    await eventually(streamingFromA, 30_000);
  }, 60_000);
});

describe('run() while a replica follows a new primary', () => {
  test('it looks again every second, not a poll (30 s) later: a WAL receiver that has not streamed on the record\'s timeline for 3 s is ended', async () => {
    existing = ['pg-0', 'pg-1'];
    // A timeline B cannot stream on: B's WAL receiver never does.
    await seedRecord('follow-nap', stable('pg-0', 1, await walTimeline(portA) + 1));
    const b = agentOf('pg-1', { leaderRecord: 'follow-nap' });
    onRealClocks(b);
    const receiver = async () => (await sql(portB, 'SELECT pid FROM pg_stat_wal_receiver'))[0]?.pid as number | undefined;
    const alive = async (pid: number) => (await sql(portB, 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid]))[0].n === 1;
    const first = (await receiver())!;
    const stop = new AbortController();
    const running = b.agent.run(stop.signal);
    try {
      // The first look ends the receiver (a new primary) and reloads: the startup process starts another at once.
      let next: number | undefined;
      await eventually(async () => { next = await receiver(); return next !== undefined && next !== first; }, 5000);
      const seenAt = Date.now();
      // Seen at the next look, a second later, and ended at the look 3 s after that.
      await eventually(async () => !await alive(next!), 8000);
      expect(Date.now() - seenAt).toBeGreaterThan(1500);
    } finally {
      stop.abort();
      await running;
    }
    await sql(portB, 'SELECT pg_reload_conf()');
    await eventually(streamingFromA, 30_000);
  }, 30_000);
});

describe('fencing, promotion and switchover', () => {
  test('without automatic failover, a primary that cannot read the record keeps serving while every other pod streams from it and replies (failsafe)', async () => {
    await seedRecord('failsafe', stable('pg-0', 1, 1));
    const deadlineFile = path.join(dir, 'failsafe.deadline');
    const a = agentOf('pg-0', { leaderRecord: 'failsafe', automaticFailover: { ...AUTOMATIC_FAILOVER_OFF, deadlineFile } }, podClient('pg-0', 'pod', 300));
    const described = 'epoch 1, stable, primary pg-0, timeline 1';
    expect(await a.round(0)).toEqual([`the leader record names this primary (${described})`, `role=primary (PostgreSQL is primary; ${described})`]);
    // Each read of a record that names it moves the heartbeat fence's deadline 10 s on (uptime 1000 s: 101000).
    expect(readDeadline(deadlineFile)).toBe('101000\n');
    const held = 'FAILSAFE: the leader record cannot be read, but every other pod (pg-1) streams from this primary and replies: it keeps '
      + 'serving (nobody takes over from a primary that its replicas still follow)';
    const look = (at: number) => failsafeLook(a, at);
    podOf('pg-0').apiCutOff = true;
    try {
      // Before half the isolation fence without a read, it asks nothing.
      expect(await look(4.9)).toEqual([]);
      // Halfway: pg-1 (B) streams from A and replies. The deadline stays the read's, which is later than 3 s from now.
      expect(await look(5)).toEqual([held]);
      expect(readDeadline(deadlineFile)).toBe('101000\n');
      // Later, each answer moves it 3 s past the moment it asked, once that is later than the read's; said once.
      expect(await look(6.5)).toEqual([]);
      expect(readDeadline(deadlineFile)).toBe('101000\n');
      expect(await look(8)).toEqual([]);
      expect(readDeadline(deadlineFile)).toBe('101100\n');
      expect(await look(9.5)).toEqual([]);
      expect(readDeadline(deadlineFile)).toBe('101250\n');
      // Past the isolation fence, the round does not fence: the failsafe held less than 2 s ago.
      const lines = await a.round(11);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^cannot read the leader record: /);
      const error = lines[0].slice('cannot read the leader record: '.length);
      expect(lines[1]).toBe(`FAILSAFE: the leader record cannot be read (${error}), but every other pod streams from this primary: it keeps serving `
        + '(nobody takes over from a primary that its replicas still follow)');
      expect(observedRole(A)).toBe('primary');
      expect(fs.existsSync(path.join(A, 'standby.signal'))).toBe(false);
      // pg-1's WAL receiver frozen (its node frozen, say): no reply within a second, so the deadline stays, and the
      // failsafe lapses 2 s after it last held (a round then fences, as in the next test).
      const receiver = Number((await sql(portB, 'SELECT pid FROM pg_stat_wal_receiver'))[0].pid);
      process.kill(receiver, 'SIGSTOP');
      try {
        expect(await look(12)).toEqual([]);
      } finally {
        process.kill(receiver, 'SIGCONT');
      }
      expect(readDeadline(deadlineFile)).toBe('101250\n');
    } finally {
      podOf('pg-0').apiCutOff = false;
    }
    // The API back: a read moves the deadline on again, and nothing was fenced.
    expect(await a.round(13)).toEqual([`the API answers again: ${described}`, `the leader record names this primary (${described})`]);
    expect(readDeadline(deadlineFile)).toBe('102300\n');
    expect(labelOf('pg-0')).toBe('primary');
    await eventually(async () => (await sql(portA, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'pg-1' AND state = 'streaming'"))[0].n === 1);
  }, 30_000);

  test('the failsafe with automatic failover looks halfway from a renewal due to the renew deadline and says the lease cannot be renewed; a primary alone holds, no other pod to ask', async () => {
    await seedRecord('failsafe-lease', stable('pg-0', 1, control(A).timeline));
    const a = agentOf('pg-0', { leaderRecord: 'failsafe-lease', automaticFailover: automaticFailoverOn('failsafe-lease') }, podClient('pg-0', 'pod', 300));
    await a.round(0);
    podOf('pg-0').apiCutOff = true;
    try {
      // Renewed at 0: renewSeconds 2, renewDeadlineSeconds 6, so it asks from 4 s on.
      expect(await failsafeLook(a, 3.9)).toEqual([]);
      expect(await failsafeLook(a, 4)).toEqual(['FAILSAFE: the lease cannot be renewed, but every other pod (pg-1) streams from this primary and replies: it '
        + 'keeps serving (nobody takes over from a primary that its replicas still follow)']);
    } finally {
      podOf('pg-0').apiCutOff = false;
    }

    // The only pod: nobody to ask, nobody to take over.
    existing = ['pg-0'];
    await seedRecord('failsafe-alone', stable('pg-0', 1, control(A).timeline));
    const alone = agentOf('pg-0', { leaderRecord: 'failsafe-alone' }, podClient('pg-0', 'pod', 300));
    await alone.round(0);
    podOf('pg-0').apiCutOff = true;
    try {
      expect(await failsafeLook(alone, 5)).toEqual(['FAILSAFE: the leader record cannot be read, but every other pod (none) streams from this primary and replies: '
        + 'it keeps serving (nobody takes over from a primary that its replicas still follow)']);
    } finally {
      podOf('pg-0').apiCutOff = false;
      existing = ['pg-0', 'pg-1'];
    }
  }, 30_000);

  test('a primary that cannot read the record fences itself after isolationFenceSeconds, and not before', async () => {
    await seedRecord('isolated', stable('pg-0', 1, 1));
    const a = agentOf('pg-0', { leaderRecord: 'isolated' }, podClient('pg-0', 'pod', 300));
    const described = 'epoch 1, stable, primary pg-0, timeline 1';
    expect(await a.round(0)).toEqual([`the leader record names this primary (${described})`, `role=primary (PostgreSQL is primary; ${described})`]);
    podOf('pg-0').apiCutOff = true;
    try {
      const cannot = 'GET leases/isolated: no answer within 300ms';
      const lines = await a.round(9.9);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^cannot read the leader record: /);
      const error = lines[0].slice('cannot read the leader record: '.length);
      expect(error).toContain(cannot.slice(0, 17));
      expect(lines[1]).toBe(`the leader record cannot be read (${error}): nothing changes (a primary fences itself after 10s)`);
      expect(observedRole(A)).toBe('primary');
      expect(fs.existsSync(path.join(A, 'standby.signal'))).toBe(false);
      expect(await a.round(10)).toEqual([`FENCING this primary: the leader record cannot be read (${error}) for 10s (isolated from the API?)`]);
    } finally {
      podOf('pg-0').apiCutOff = false;
    }
    expect(fs.existsSync(path.join(A, 'standby.signal'))).toBe(true);
    await stopped(A);
    expect(control(A).shutDown).toBe(true);
    // The label could not be removed meanwhile; once the API answers, it goes.
    expect(labelOf('pg-0')).toBe('primary');
    expect(await a.round(11)).toEqual([`the API answers again: ${described}`, `PostgreSQL is not serving: no role label (${described})`, `role=(none) (PostgreSQL is not serving; ${described})`]);
    expect(labelOf('pg-0')).toBeUndefined();
    expect(await nodeStatus(a.config)).toBe(`down 0/0 none 1 ${control(A).checkpoint}`);
  });

  test('a replica the record names is promoted, with slots for the other pods, labelled primary, and its new timeline recorded', async () => {
    existing = ['pg-0', 'pg-1', 'pg-2'];
    await seedRecord('promoted', stable('pg-1', 2, 1));
    const b = agentOf('pg-1', { leaderRecord: 'promoted' });
    const events = api.events().length;
    expect(await b.round(0)).toEqual([
      'the leader record names this pod as the primary: promoting it (epoch 2, stable, primary pg-1, timeline 1)',
      'role=primary (PostgreSQL is primary; epoch 2, stable, primary pg-1, timeline 1)',
    ]);
    // The decision, for kubectl get events: a Normal Event on the pod, once.
    expect(api.events().slice(events).map((e: any) => [e.type, e.reason, e.involvedObject.name, e.message])).toEqual([
      ['Normal', 'Promoted', 'pg-1', 'the leader record names this pod as the primary: promoting it (epoch 2, stable, primary pg-1, timeline 1)'],
    ]);
    expect(observedRole(B)).toBe('primary');
    expect(labelOf('pg-1')).toBe('primary');
    expect(await slots(portB)).toEqual(['pg_0', 'pg_2']);
    expect(storedRecord('promoted')).toMatchObject({ state: 'stable', primary: 'pg-1', epoch: '2', timeline: '2', holder: 'pg-1' });
    existing = ['pg-0', 'pg-1'];
    expect(await b.round(1)).toEqual(['the leader record names this primary (epoch 2, stable, primary pg-1, timeline 2)',
      'dropping replication slot pg_2 (its pod is gone)']);
    expect(await slots(portB)).toEqual(['pg_0']);
  });

  test('a new timeline whose write conflicts (someone else wrote first, again and again) is written in the next round, not when the primary is next maintained', async () => {
    // B is the primary since the promotion above.
    const timeline = await walTimeline(portB);
    await seedRecord('timeline-raced', stable('pg-1', 2, timeline - 1));
    const kube = new TimelineRacingClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile('pod:pg-1'), caFile: tls.caFile, timeoutMs: 2000 });
    clients.push(kube);
    const b = agentOf('pg-1', { leaderRecord: 'timeline-raced' }, kube);
    kube.races = 2;
    const described = `epoch 2, stable, primary pg-1, timeline ${timeline - 1}`;
    expect(await b.round(0)).toEqual([`the leader record names this primary (${described})`, `role=primary (PostgreSQL is primary; ${described})`]);
    expect(await b.round(0.01)).toEqual([]);
    expect(kube.races).toBe(0);
    expect(storedRecord('timeline-raced')).toMatchObject({ primary: 'pg-1', epoch: '2', timeline: String(timeline - 1) });
    // The replicas follow a new primary when the record's timeline changes: the third round writes it.
    expect(await b.round(0.02)).toEqual([]);
    expect(storedRecord('timeline-raced')).toMatchObject({ primary: 'pg-1', epoch: '2', timeline: String(timeline) });
  });

  test('switching over: the old primary fences and records its shutdown checkpoint; the target that received beyond it records itself and promotes', async () => {
    // A follows B (the new primary) on B's timeline.
    fs.appendFileSync(path.join(A, 'postgresql.auto.conf'), `primary_conninfo = 'host=${scratch} port=${portB} user=postgres application_name=pg-0'\n`);
    await start(A, portA);
    await eventually(async () => (await sql(portB, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'pg-0' AND state = 'streaming'"))[0].n === 1);
    expect(observedRole(A)).toBe('replica');

    // follow-new-primary: a replica that does not stream the record's timeline is woken by a reload, once per epoch and timeline.
    const loaded = async () => String((await sql(portA, 'SELECT pg_conf_load_time()::text AS t'))[0].t);
    const receiver = async () => (await sql(portA, 'SELECT pid FROM pg_stat_wal_receiver'))[0]?.pid as number | undefined;
    await eventually(async () => await receiver() !== undefined);
    const firstReceiver = await receiver();
    await seedRecord('followed-timeline', stable('pg-1', 2, 2));
    const follower = agentOf('pg-0', { leaderRecord: 'followed-timeline' });
    let before = await loaded();
    expect(await follower.round(0)).toEqual(['PostgreSQL is a replica (epoch 2, stable, primary pg-1, timeline 2)',
      'role=replica (PostgreSQL is replica; epoch 2, stable, primary pg-1, timeline 2)']);
    await changeRecord('followed-timeline', stable('pg-1', 3, 9));
    await sleep(300);
    expect(await loaded()).toBe(before);
    expect(await follower.round(1)).toEqual(['PostgreSQL is a replica (epoch 3, stable, primary pg-1, timeline 9)']);
    await eventually(async () => await loaded() !== before);
    // Its WAL receiver, which may hold a connection to an old primary that sends no reset, was ended: another connects.
    await eventually(async () => ![undefined, firstReceiver].includes(await receiver()));
    before = await loaded();
    const secondReceiver = await receiver();
    // Still not on timeline 9: the new receiver is given FOLLOW_HANG_SECONDS (3 s) from when a look first saw it, a second
    // later; no other reload.
    expect(await follower.round(2)).toEqual([]);
    expect(await follower.round(4)).toEqual([]);
    await sleep(300);
    expect(await loaded()).toBe(before);
    expect(await receiver()).toBe(secondReceiver);
    // The same receiver three seconds later: ended (a connection attempt that hangs on a dead primary's address never
    // ends by itself), without another reload.
    expect(await follower.round(5)).toEqual([]);
    await eventually(async () => ![undefined, secondReceiver].includes(await receiver()));
    expect(await loaded()).toBe(before);
    // Streaming on the record's timeline again: left alone.
    await changeRecord('followed-timeline', stable('pg-1', 3, 2));
    await eventually(async () => (await sql(portB, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'pg-0' AND state = 'streaming'"))[0].n === 1);
    const streaming = await receiver();
    expect(await follower.round(8)).toEqual(['PostgreSQL is a replica (epoch 3, stable, primary pg-1, timeline 2)']);
    expect(await follower.round(12)).toEqual([]);
    expect(await follower.round(16)).toEqual([]);
    await sleep(300);
    expect(await receiver()).toBe(streaming);

    // A switchover to a pod that does not stream from B (pg_stat_replication lists pg-0 alone): B would fence itself for a
    // checkpoint that pg-2 never receives. It gives the switchover back instead, and serves on.
    await seedRecord('not-streaming', switchingOver('pg-1', 'pg-2', 3, 2));
    const refuser = agentOf('pg-1', { leaderRecord: 'not-streaming' });
    const givenBack = 'epoch 4, stable, primary pg-1, timeline 2';
    expect(await refuser.round(0)).toEqual([
      'a switchover to pg-2, which does not stream this primary\'s timeline: it could not receive this primary\'s last WAL, so this primary does not fence '
        + `itself and gives the switchover back (${givenBack})`,
      `recorded ${givenBack} (giveBack)`,
      `role=primary (PostgreSQL is primary; ${givenBack})`,
    ]);
    expect(storedRecord('not-streaming')).toMatchObject({ state: 'stable', primary: 'pg-1', epoch: '4', checkpoint: '', holder: 'pg-1' });
    expect(observedRole(B)).toBe('primary');
    expect(fs.existsSync(path.join(B, 'standby.signal'))).toBe(false);
    expect(labelOf('pg-1')).toBe('primary');

    await seedRecord('switched', switchingOver('pg-1', 'pg-0', 3, 2));
    const b = agentOf('pg-1', { leaderRecord: 'switched' });
    const a = agentOf('pg-0', { leaderRecord: 'switched', synchronousReplicas: 1 });
    // The target waits for the checkpoint.
    expect(await a.round(0)).toEqual(['PostgreSQL is a replica (epoch 3, switching-over, primary (none), timeline 2 (job switchover-1: pg-1 -> pg-0))',
      'role=replica (PostgreSQL is replica; epoch 3, switching-over, primary (none), timeline 2 (job switchover-1: pg-1 -> pg-0))']);

    expect(await b.round(0)).toEqual([
      'FENCING this primary: the leader record does not name this pod (epoch 3, switching-over, primary (none), timeline 2 (job switchover-1: pg-1 -> pg-0))',
      `fenced for the switchover to pg-0: recorded the shutdown checkpoint ${control(B).checkpoint}`,
    ]);
    const checkpoint = control(B).checkpoint;
    expect(control(B)).toMatchObject({ shutDown: true, timeline: 2 });
    expect(fs.existsSync(path.join(B, 'standby.signal'))).toBe(true);
    await stopped(B);
    expect(labelOf('pg-1')).toBeUndefined();
    expect(storedRecord('switched')).toMatchObject({ state: 'switching-over', previous: 'pg-1', target: 'pg-0', epoch: '3', checkpoint, holder: '' });

    const switching = `epoch 3, switching-over, primary (none), timeline 2 (job switchover-1: pg-1 -> pg-0), shutdown checkpoint ${checkpoint}`;
    expect(await a.round(1)).toEqual([
      `received the old primary's shutdown checkpoint ${checkpoint}: recording this pod as the primary (epoch 3, stable, primary pg-0, timeline 2, synchronous standbys pg-1), then promoting it`,
      `received the old primary's shutdown checkpoint ${checkpoint}: recorded this pod as the primary (epoch 3, stable, primary pg-0, timeline 2, synchronous standbys pg-1)`,
      'role=primary (PostgreSQL is primary; epoch 3, stable, primary pg-0, timeline 2, synchronous standbys pg-1)',
    ]);
    expect(switching).toContain(checkpoint);
    expect(observedRole(A)).toBe('primary');
    expect(labelOf('pg-0')).toBe('primary');
    expect(storedRecord('switched')).toMatchObject({ state: 'stable', primary: 'pg-0', epoch: '3', timeline: '3', sync: 'pg-1', checkpoint: '', holder: 'pg-0' });
    // The old primary, stopped, owes nothing more.
    expect(await b.round(1)).toEqual(['PostgreSQL is not serving: no role label (epoch 3, stable, primary pg-0, timeline 3, synchronous standbys pg-1)']);
  });

  test('a primary the record does not name is fenced: label removed, standby.signal, a fast shutdown; FENCING logged once, a fence that fails tried again', async () => {
    await seedRecord('fenced', stable('pg-1', 4, 3));
    const a = agentOf('pg-0', { leaderRecord: 'fenced' });
    expect(labelOf('pg-0')).toBe('primary');
    expect(fs.existsSync(path.join(A, 'standby.signal'))).toBe(false);
    const status = await nodeStatus(a.config);
    expect(status).toMatch(new RegExp(`^primary [0-9A-F]+/[0-9A-F]+ none 3 ${control(A).checkpoint}$`));
    // Running, but its socket is not where the status query looks: pg_control says what it can, the position unknown.
    expect(await nodeStatus({ ...a.config, socketDir: path.join(scratch, 'no-socket-here') })).toBe(`primary ? none ${control(A).timeline} ${control(A).checkpoint}`);
    const described = 'epoch 4, stable, primary pg-1, timeline 3';
    const events = api.events().length;
    // Fenced whoever the other pods are: they are not listed first.
    const listings = () => api.requests.filter(r => r.method === 'GET' && r.path.includes('/pods?')).length;
    const listedBefore = listings();
    // Its first try cannot write standby.signal (a directory of that name is in the way): said, and tried again next round.
    const inTheWay = path.join(A, 'standby.signal');
    fs.mkdirSync(inTheWay);
    expect(await a.round(0)).toEqual([`FENCING this primary: the leader record does not name this pod (${described})`,
      `could not fence: EISDIR: illegal operation on a directory, open '${inTheWay}'; retrying next round`]);
    expect(listings()).toBe(listedBefore);
    expect(await inRecovery(portA)).toBe(false);
    fs.rmdirSync(inTheWay);
    expect(api.events()).toHaveLength(events);
    expect(await a.round(0.5)).toEqual([]);
    // A Warning Event on the pod says so (posted without waiting for the API: it may be what the pod is cut off from).
    await eventually(async () => api.events().length > events);
    expect(api.events().slice(events).map((e: any) => [e.type, e.reason, e.involvedObject.name, e.message])).toEqual([
      ['Warning', 'Fenced', 'pg-0', `FENCING this primary: the leader record does not name this pod (${described})`],
    ]);
    expect(labelOf('pg-0')).toBeUndefined();
    expect(fs.existsSync(path.join(A, 'standby.signal'))).toBe(true);
    await stopped(A);
    expect(control(A)).toMatchObject({ shutDown: true, timeline: 3 });
    expect(await a.round(1)).toEqual([`PostgreSQL is not serving: no role label (${described})`]);
    expect(await a.round(2)).toEqual([]);
    // Once: a fenced server is not fenced (nor reported) again.
    expect(api.events()).toHaveLength(events + 1);
    expect(await nodeStatus({ ...a.config, pgdata: path.join(scratch, 'nothing') })).toBe('empty 0/0 none 0 0/0');
  });
});

// ---- automatic failover: last, as it leaves B promoted by a takeover and A fenced ----

/** Automatic failover on, with a heartbeat fence's file of this test's own. */
const automaticFailoverOn = (name: string): SidecarConfig['automaticFailover'] => ({
  ...AUTOMATIC_FAILOVER_OFF, enabled: true, deadlineFile: path.join(dir, `${name}.deadline`),
});

/** The lease part of the record's Lease as the API stores it. */
function storedLease(name: string) {
  const lease = api.lease(name)!;
  const spec = lease.spec as Record<string, unknown>;
  const annotations = (lease.metadata.annotations ?? {}) as Record<string, string>;
  return {
    renewTime: spec.renewTime,
    leaseDurationSeconds: spec.leaseDurationSeconds,
    holderIdentity: spec.holderIdentity,
    walPosition: annotations['failover.postgres.cdk8s.io/wal-position'],
    paused: annotations['failover.postgres.cdk8s.io/paused'],
  };
}

/** Someone else's change of the Lease's lease fields and annotations (a previous configuration, kubectl annotate). */
async function patchLeaseAsAdmin(name: string, spec: Record<string, string | number | null>,
  annotations: Record<string, string | null> = {}): Promise<void> {
  const lease = must(await admin.getLease(name))!;
  must(await admin.patchLease(name, { metadata: { resourceVersion: lease.metadata!.resourceVersion as string, annotations }, spec }));
}

/**
 * A pod on the pod network: connections to host:port (the cluster's port, the same on every pod) reach toPort on
 * 127.0.0.1, as a pod's address reaches its PostgreSQL. Closing it also ends the connections it carries.
 */
async function forwardPod(host: string, port: number, toPort: number): Promise<{ close(): void }> {
  const carried = new Set<net.Socket>();
  const server = net.createServer(socket => {
    const upstream = net.connect(toPort, '127.0.0.1');
    for (const end of [socket, upstream]) {
      carried.add(end);
      end.on('error', () => undefined);
      end.on('close', () => {
        carried.delete(end);
        socket.destroy();
        upstream.destroy();
      });
    }
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    close: () => {
      server.close();
      for (const socket of carried) socket.destroy();
    },
  };
}

const readDeadline = (file: string) => fs.readFileSync(file, 'utf8');
const currentWalLsn = async (port: number) => String((await sql(port, 'SELECT pg_current_wal_lsn()::text AS lsn'))[0].lsn);
/** The timeline PostgreSQL writes WAL on now (pg_control's changes only at the next checkpoint). */
const walTimeline = async (port: number) => parseInt(String((await sql(port, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS f'))[0].f).slice(0, 8), 16);
const inRecovery = async (port: number) => (await sql(port, 'SELECT pg_is_in_recovery() AS r'))[0].r as boolean;
const streamingFromA = async () => (await sql(portA, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'pg-1' AND state = 'streaming'"))[0].n === 1;

/** A, fenced and stopped, starts again as the primary; a reload wakes B's startup process to connect to it at once. */
async function servesAgainFromA(): Promise<void> {
  fs.rmSync(path.join(A, 'standby.signal'));
  await start(A, portA);
  await sql(portB, 'SELECT pg_reload_conf()');
  await eventually(streamingFromA, 30_000);
}

describe('automatic failover', () => {
  // The tests before leave A fenced (timeline 3) and B stopped after its switchover: A serves again as the primary, B as its replica.
  beforeAll(async () => {
    existing = ['pg-0', 'pg-1'];
    fs.rmSync(path.join(A, 'standby.signal'), { force: true });
    await start(A, portA);
    await start(B, portB);
    await eventually(streamingFromA, 30_000);
  }, 60_000);

  test('a switchover request on the record: one to a pod that does not stream is refused (removed, SwitchoverRefused); one to a standby is carried out, again when its write loses', async () => {
    const timeline = control(A).timeline;
    const SWITCHOVER = 'switchover.postgres.cdk8s.io/target';
    await seedRecord('switch-asked', stable('pg-0', 1, timeline));
    const kube = racingClient('pg-0');
    const a = agentOf('pg-0', { leaderRecord: 'switch-asked' }, kube);
    await a.round(0);
    const events = api.events().length;
    const posted = () => api.events().slice(events).map((e: any) => [e.type, e.reason, e.involvedObject.name, e.message]);
    await patchLeaseAsAdmin('switch-asked', {}, { [SWITCHOVER]: 'pg-3' });
    const refused = 'switchover to pg-3 requested: pg-3 does not stream from the primary pg-0 (standbys that may take over: pg-1); the primary stays';
    expect(await a.round(1)).toEqual([refused]);
    expect(api.lease('switch-asked')!.metadata.annotations?.[SWITCHOVER]).toBeUndefined();
    expect(storedRecord('switch-asked')).toMatchObject({ state: 'stable', primary: 'pg-0', epoch: '1' });
    expect(posted()).toEqual([['Warning', 'SwitchoverRefused', 'pg-0', refused]]);

    // To pg-1: the first write loses (409), and the request stays for the next round, which writes it.
    await patchLeaseAsAdmin('switch-asked', {}, { [SWITCHOVER]: 'pg-1' });
    kube.races = 1;
    const switching = `epoch 2, switching-over, primary (none), timeline ${timeline} (job pg-0: pg-0 -> pg-1)`;
    const handing = withLsn(`switchover to pg-1 requested on the record: handing the primary over to pg-1 (flushed <lsn>), by a switchover (${switching})`);
    const lost = await a.round(2);
    expect(lost.slice(0, 2)).toEqual([expect.stringMatching(handing), expect.stringMatching(/^could not write the switchover request's outcome \(.*409.*\): deciding again$/)]);
    expect(api.lease('switch-asked')!.metadata.annotations?.[SWITCHOVER]).toBe('pg-1');
    expect(storedRecord('switch-asked')).toMatchObject({ state: 'stable', primary: 'pg-0', epoch: '1' });
    const written = await a.round(3);
    expect(written[0]).toMatch(handing);
    expect(written).toContain(`FENCING this primary: the leader record does not name this pod (${switching})`);
    expect(api.lease('switch-asked')!.metadata.annotations?.[SWITCHOVER]).toBeUndefined();
    expect(storedRecord('switch-asked')).toMatchObject({ state: 'switching-over', previous: 'pg-0', target: 'pg-1', job: 'pg-0', epoch: '2' });
    expect(posted().filter(event => event[1] === 'SwitchingOver')).toEqual([['Normal', 'SwitchingOver', 'pg-0', written[0]]]);

    // A serves again as the primary, for the tests that follow (pg-1's agent never ran: it did not take over).
    await stopped(A);
    await servesAgainFromA();
  }, 60_000);

  test('a deadline file that cannot be written or removed is logged: the heartbeat fence keeps the last deadline written', async () => {
    const timeline = control(A).timeline;
    await seedRecord('deadline-refused', stable('pg-0', 1, timeline));
    // A directory where the file should be: neither renamed onto nor removed.
    const blocked = path.join(dir, 'deadline-is-a-directory');
    fs.mkdirSync(path.join(blocked, 'inside'), { recursive: true });
    const a = agentOf('pg-0', { leaderRecord: 'deadline-refused', automaticFailover: { ...automaticFailoverOn('deadline-refused'), deadlineFile: blocked } });
    const lines = await a.round(0);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^could not write ${blocked} \\(.+\\): the heartbeat fence stops this primary at the last deadline written$`)));
    expect(storedRecord('deadline-refused')).toMatchObject({ primary: 'pg-0', holder: 'pg-0' });
    const b = agentOf('pg-1', { leaderRecord: 'deadline-refused', automaticFailover: { ...automaticFailoverOn('deadline-refused'), deadlineFile: blocked } });
    expect(await b.round(0)).toContainEqual(expect.stringMatching(new RegExp(`^could not remove ${blocked} \\(.+\\)$`)));
    expect(fs.statSync(blocked).isDirectory()).toBe(true);
    expect(observedRole(A)).toBe('primary');
  });

  test('a primary renews: renewTime from the wall clock, leaseDurationSeconds, holder, its WAL position; the deadline file; again only after renewSeconds', async () => {
    const timeline = control(A).timeline;
    await seedRecord('renewed', stable('pg-0', 1, timeline));
    const failover = automaticFailoverOn('renewed');
    const a = agentOf('pg-0', { leaderRecord: 'renewed', automaticFailover: failover });
    const described = `epoch 1, stable, primary pg-0, timeline ${timeline}`;
    a.clock.wall = 1_700_000_000_123_456;
    expect(await a.round(0.375)).toEqual([`the leader record names this primary (${described})`, `role=primary (PostgreSQL is primary; ${described})`]);
    const first = storedLease('renewed');
    expect(first).toMatchObject({ renewTime: '2023-11-14T22:13:21.123456Z', leaseDurationSeconds: 10, holderIdentity: 'pg-0' });
    expect(first.walPosition).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    // floor(1000.375 * 100) + 6 * 100.
    expect(readDeadline(failover.deadlineFile)).toBe('100637\n');
    expect(storedRecord('renewed')).toMatchObject({ state: 'stable', primary: 'pg-0', epoch: '1', holder: 'pg-0' });

    // Not before renewSeconds (2) since the last renewal began: the Lease and the deadline stay.
    expect(await a.round(1.9)).toEqual([]);
    expect(await a.round(2.25)).toEqual([]);
    expect(storedLease('renewed')).toEqual(first);
    expect(readDeadline(failover.deadlineFile)).toBe('100637\n');

    // WAL written meanwhile: the renewal publishes the position as pg_current_wal_lsn() says it.
    await sql(portA, 'CREATE TABLE written_before_renewal (n int)');
    const position = await currentWalLsn(portA);
    expect(position).not.toBe(first.walPosition);
    a.clock.wall = 1_700_000_009_000_042;
    expect(await a.round(2.375)).toEqual([]);
    expect(storedLease('renewed')).toEqual({ renewTime: '2023-11-14T22:13:30.000042Z', leaseDurationSeconds: 10, holderIdentity: 'pg-0', walPosition: position, paused: undefined });
    expect(readDeadline(failover.deadlineFile)).toBe('100837\n');
    expect(fs.existsSync(`${failover.deadlineFile}.new`)).toBe(false);
  });

  test('without automatic failover, a primary removes a lease left on the record (renewTime, duration, WAL position), logs it once; the record stays; a removal that loses is tried again', async () => {
    const timeline = control(A).timeline;
    await seedRecord('released', stable('pg-0', 1, timeline));
    await patchLeaseAsAdmin('released', { renewTime: '2023-11-14T22:13:21.123456Z', leaseDurationSeconds: 10 }, { 'failover.postgres.cdk8s.io/wal-position': '0/3000000' });
    expect(storedLease('released')).toMatchObject({ renewTime: '2023-11-14T22:13:21.123456Z', leaseDurationSeconds: 10, walPosition: '0/3000000' });
    const record = storedRecord('released');
    const kube = racingClient('pg-0');
    const a = agentOf('pg-0', { leaderRecord: 'released' }, kube);
    const described = `epoch 1, stable, primary pg-0, timeline ${timeline}`;
    expect(await a.round(0)).toEqual([`the leader record names this primary (${described})`, 'automatic failover is off: removed the lease from the leader record',
      `role=primary (PostgreSQL is primary; ${described})`]);
    expect(storedLease('released')).toEqual({ renewTime: undefined, leaseDurationSeconds: undefined, holderIdentity: 'pg-0', walPosition: undefined, paused: undefined });
    // Every other annotation and the holder stay as they were.
    const { 'failover.wal-position': removed, ...kept } = record;
    expect(removed).toBe('0/3000000');
    expect(storedRecord('released')).toEqual(kept);
    const version = api.lease('released')!.metadata.resourceVersion;
    expect(await a.round(1)).toEqual([]);
    expect(api.lease('released')!.metadata.resourceVersion).toBe(version);
    // A lease left again, whose removal loses (someone wrote the record first): said, and removed by the next round.
    await patchLeaseAsAdmin('released', { renewTime: '2023-11-14T22:13:22.123456Z', leaseDurationSeconds: 10 }, {});
    kube.races = 1;
    expect(await a.round(2)).toEqual([expect.stringMatching(/^could not remove the lease from the leader record \(PATCH leases\/released: 409 Conflict: .*\)$/)]);
    expect(storedLease('released').renewTime).toBe('2023-11-14T22:13:22.123456Z');
    expect(await a.round(3)).toEqual(['automatic failover is off: removed the lease from the leader record']);
    expect(storedLease('released')).toMatchObject({ renewTime: undefined, leaseDurationSeconds: undefined });
  });

  test('past the renew deadline, a renewal that conflicts (409) does not fence and the next round follows the record; one the API does not answer fences', async () => {
    const timeline = control(A).timeline;
    await seedRecord('renew-conflict', stable('pg-0', 1, timeline));
    const kube = new InterferingClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile('pod:pg-0'), caFile: tls.caFile, timeoutMs: 300 });
    clients.push(kube);
    const failover = automaticFailoverOn('renew-conflict');
    const a = agentOf('pg-0', { leaderRecord: 'renew-conflict', automaticFailover: failover }, kube);
    const described = (epoch: number) => `epoch ${epoch}, stable, primary pg-0, timeline ${timeline}`;
    expect(await a.round(0)).toEqual([`the leader record names this primary (${described(1)})`, `role=primary (PostgreSQL is primary; ${described(1)})`]);
    const renewed = storedLease('renew-conflict');
    expect(readDeadline(failover.deadlineFile)).toBe('100600\n');

    // The record changes between the agent's read and its renewal (someone else's compare-and-swap): 409, 6 s after the last renewal.
    kube.interfere = () => changeRecord('renew-conflict', stable('pg-0', 2, timeline));
    const conflict = await a.round(6);
    expect(conflict).toHaveLength(1);
    expect(conflict[0]).toMatch(/^could not renew the lease \(PATCH leases\/renew-conflict: 409 Conflict: .*\); retrying$/);
    expect(observedRole(A)).toBe('primary');
    expect(fs.existsSync(path.join(A, 'standby.signal'))).toBe(false);
    expect(labelOf('pg-0')).toBe('primary');
    expect(storedRecord('renew-conflict')).toMatchObject({ epoch: '2', primary: 'pg-0' });
    expect(storedLease('renew-conflict').renewTime).toBe(renewed.renewTime);
    expect(readDeadline(failover.deadlineFile)).toBe('100600\n');
    // The next round decides on the record as it is now, and renews.
    expect(await a.round(6.5)).toEqual([`the leader record names this primary (${described(2)})`, 'renewed the lease again']);
    expect(storedLease('renew-conflict').renewTime).not.toBe(renewed.renewTime);
    expect(storedLease('renew-conflict')).toMatchObject({ holderIdentity: 'pg-0', leaseDurationSeconds: 10 });
    expect(readDeadline(failover.deadlineFile)).toBe('101250\n');

    // The API stops answering after the read. Before the deadline, the renewal is retried; past it, the primary fences itself.
    const noAnswer = 'could not renew the lease (PATCH leases/renew-conflict: no answer from the API server within 300 ms)';
    try {
      kube.interfere = async () => { podOf('pg-0').apiCutOff = true; };
      expect(await a.round(12.4)).toEqual([`${noAnswer}; retrying`]);
      expect(observedRole(A)).toBe('primary');
      expect(readDeadline(failover.deadlineFile)).toBe('101250\n');
      podOf('pg-0').apiCutOff = false;
      kube.interfere = async () => { podOf('pg-0').apiCutOff = true; };
      expect(await a.round(12.5)).toEqual([`FENCING this primary: ${noAnswer}, and its last renewal began 6s ago or more (renewDeadlineSeconds)`]);
    } finally {
      podOf('pg-0').apiCutOff = false;
    }
    expect(fs.existsSync(path.join(A, 'standby.signal'))).toBe(true);
    await stopped(A);
    expect(control(A).shutDown).toBe(true);
    expect(fs.existsSync(failover.deadlineFile)).toBe(false);

    // A serves again as the primary, for the tests that follow.
    await servesAgainFromA();
  }, 60_000);

  test('a replica does not take over while the lease is paused, before leaseSeconds passed, nor from a primary that holds no lease', async () => {
    const timeline = control(A).timeline;
    await seedRecord('held-back', stable('pg-0', 1, timeline));
    const a = agentOf('pg-0', { leaderRecord: 'held-back', automaticFailover: automaticFailoverOn('held-back-a') });
    await a.round(0);
    expect(storedLease('held-back')).toMatchObject({ holderIdentity: 'pg-0', leaseDurationSeconds: 10 });
    await patchLeaseAsAdmin('held-back', {}, { 'failover.postgres.cdk8s.io/paused': 'true' });
    const before = { record: storedRecord('held-back'), lease: storedLease('held-back') };
    expect(before.lease.paused).toBe('true');

    const b = agentOf('pg-1', { leaderRecord: 'held-back', automaticFailover: automaticFailoverOn('held-back-b'), peerDomain: 'invalid.' });
    const described = `epoch 1, stable, primary pg-0, timeline ${timeline}`;
    expect(await b.round(0)).toEqual([`PostgreSQL is a replica (${described})`, `role=replica (PostgreSQL is replica; ${described})`]);
    // Not renewed since, but less than leaseSeconds (10) on this replica's clock: held.
    expect(await b.round(9.9)).toEqual([]);
    expect(await b.round(10)).toEqual([`PostgreSQL is a replica (${described}); the lease of pg-0 has lapsed, but automatic failover is paused (failover.postgres.cdk8s.io/paused)`]);
    expect(await b.round(30)).toEqual([]);
    expect(storedRecord('held-back')).toEqual(before.record);
    expect(storedLease('held-back')).toEqual(before.lease);
    expect(await inRecovery(portB)).toBe(true);
    expect(labelOf('pg-0')).toBe('primary');
    expect(fs.existsSync(automaticFailoverOn('held-back-b').deadlineFile)).toBe(false);

    // A replica that could not read the record a while does not know the lease lapsed meanwhile: its clock starts again
    // when the API answers (the primary may have served on in failsafe mode, unseen).
    // (Recorded with another cluster's identity: once it lapses, the replica considers taking over, and declines.)
    await seedRecord('unwatched', { ...stable('pg-0', 1, timeline), systemIdentifier: '1' });
    const u = agentOf('pg-0', { leaderRecord: 'unwatched', automaticFailover: automaticFailoverOn('unwatched-a') });
    await u.round(0);
    const r = agentOf('pg-1', { leaderRecord: 'unwatched', automaticFailover: automaticFailoverOn('unwatched-b'), peerDomain: 'invalid.' });
    await r.round(0);
    podOf('pg-1').apiCutOff = true;
    try {
      await r.round(5);
    } finally {
      podOf('pg-1').apiCutOff = false;
    }
    const unwatched = storedRecord('unwatched');
    expect((await r.round(12)).join('\n')).toContain('the API answers again');
    expect(await r.round(21.9)).toEqual([]);
    expect(storedRecord('unwatched')).toEqual(unwatched);
    expect((await r.round(22)).join('\n')).toContain('not taking over from pg-0: this pod\'s data is not the recorded cluster\'s');
    expect(storedRecord('unwatched')).toEqual(unwatched);
    // Why, as an Event on the pod: once per reason.
    const waiting = () => api.events().filter((e: any) => e.reason === 'AutomaticFailoverWaiting' && e.involvedObject.name === 'pg-1');
    expect(waiting().map((e: any) => [e.type, e.message])).toEqual([['Normal', expect.stringMatching(/^not taking over from pg-0: this pod's data is not the recorded cluster's/)]]);
    expect(await r.round(23)).toEqual([]);
    expect(waiting()).toHaveLength(1);

    // A primary without automatic failover holds no lease (no renewTime): never taken over from, however long.
    await seedRecord('no-lease', stable('pg-0', 1, timeline));
    const unleased = storedRecord('no-lease');
    expect(storedLease('no-lease').renewTime).toBeUndefined();
    const c = agentOf('pg-1', { leaderRecord: 'no-lease', automaticFailover: automaticFailoverOn('no-lease'), peerDomain: 'invalid.' });
    expect(await c.round(0)).toEqual([`PostgreSQL is a replica (${described})`, `role=replica (PostgreSQL is replica; ${described})`]);
    expect(await c.round(10)).toEqual([]);
    expect(await c.round(100)).toEqual([]);
    expect(storedRecord('no-lease')).toEqual(unleased);
    expect(storedLease('no-lease').renewTime).toBeUndefined();
    expect(await inRecovery(portB)).toBe(true);
  });

  test('run(): a replica\'s nap ends when its view of the lease lapses (leaseSeconds 2), not a poll (30 s) later', async () => {
    await seedRecord('lapse-nap', stable('pg-0', 1, control(A).timeline));
    const a = agentOf('pg-0', { leaderRecord: 'lapse-nap', automaticFailover: automaticFailoverOn('lapse-nap-a') });
    await a.round(0);
    // Paused: once it lapses, the replica only says so.
    await patchLeaseAsAdmin('lapse-nap', {}, { 'failover.postgres.cdk8s.io/paused': 'true' });
    const b = agentOf('pg-1', { leaderRecord: 'lapse-nap', automaticFailover: { ...automaticFailoverOn('lapse-nap-b'), leaseSeconds: 2 }, peerDomain: 'invalid.' });
    onRealClocks(b);
    const stop = new AbortController();
    const started = Date.now();
    const running = b.agent.run(stop.signal);
    try {
      await eventually(async () => b.logs.some(line => line.includes('the lease of pg-0 has lapsed, but automatic failover is paused')), 5000);
      expect(Date.now() - started).toBeGreaterThan(1900);
    } finally {
      stop.abort();
      await running;
    }
  });

  test('a replica does not take over within minimumFailoverIntervalSeconds of a change of primary it saw; the first record it read is no change', async () => {
    const timeline = control(A).timeline;
    // Recorded with another cluster's identity: once its view of the lease lapses, the replica considers taking over, and declines.
    await seedRecord('interval', { ...stable('pg-0', 1, timeline), systemIdentifier: '1' });
    const a = agentOf('pg-0', { leaderRecord: 'interval', automaticFailover: automaticFailoverOn('interval-a') });
    await a.round(0);
    const b = agentOf('pg-1', { leaderRecord: 'interval', automaticFailover: automaticFailoverOn('interval-b'), peerDomain: 'invalid.' });
    await b.round(0);
    // Its view of the lease lapses (leaseSeconds 10): no change of primary held it back.
    const declined = /^not taking over from pg-0: this pod's data is not the recorded cluster's \(system identifier \d+, recorded 1\)$/;
    expect(await b.round(10)).toEqual([expect.stringMatching(declined)]);
    // A new epoch (a change of primary, as a switchover back would make it): its lease counts again, and lapses at 21.
    await changeRecord('interval', { ...stable('pg-0', 2, timeline), systemIdentifier: '1' });
    const replica = `PostgreSQL is a replica (epoch 2, stable, primary pg-0, timeline ${timeline})`;
    expect(await b.round(11)).toEqual([replica]);
    expect(await b.round(21)).toEqual([`${replica}; the lease of pg-0 has lapsed, but the primary changed less than 60s ago (minimumFailoverIntervalSeconds)`]);
    expect(await b.round(70.9)).toEqual([]);
    // 60 s after the change: considered again (and declined again, said before).
    expect(await b.round(71)).toEqual([replica]);
    expect(storedRecord('interval')).toMatchObject({ primary: 'pg-0', epoch: '2' });
  });

  test('a replica whose view of the lease lapsed, but which cannot list the pods, does not take over: says so once, and asks again each round', async () => {
    const timeline = control(A).timeline;
    await seedRecord('unlisted', stable('pg-0', 1, timeline));
    const a = agentOf('pg-0', { leaderRecord: 'unlisted', automaticFailover: automaticFailoverOn('unlisted-a') });
    await a.round(0);
    class UnlistingClient extends KubeClient {
      public listings = 0;

      public async listPodNames(): ReturnType<KubeClient['listPodNames']> {
        this.listings++;
        return { ok: false, status: 503, reason: 'ServiceUnavailable', message: 'GET pods: 503 ServiceUnavailable' };
      }
    }
    const kube = new UnlistingClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile('pod:pg-1'), caFile: tls.caFile, timeoutMs: 2000 });
    clients.push(kube);
    const b = agentOf('pg-1', { leaderRecord: 'unlisted', automaticFailover: automaticFailoverOn('unlisted-b') }, kube);
    const described = `epoch 1, stable, primary pg-0, timeline ${timeline}`;
    expect(await b.round(0)).toEqual([`PostgreSQL is a replica (${described})`, `role=replica (PostgreSQL is replica; ${described})`]);
    const before = storedRecord('unlisted');
    const lines = await b.round(10);
    expect(lines.slice(-1)).toEqual(['not taking over from pg-0: the pods cannot be listed (GET pods: 503 ServiceUnavailable)']);
    expect(kube.listings).toBe(1);
    expect(await b.round(11)).toEqual([]);
    expect(kube.listings).toBe(2);
    expect(storedRecord('unlisted')).toEqual(before);
    expect(await inRecovery(portB)).toBe(true);
  });

  test('a failover request: the serving primary refuses one to itself (removed, FailoverRefused); a replica waits twice the fence time, counting again when the record changes, then asks its peers', async () => {
    const timeline = control(A).timeline;
    const FAILOVER = 'failover.postgres.cdk8s.io/target';
    await seedRecord('requested', stable('pg-0', 1, timeline));
    const a = agentOf('pg-0', { leaderRecord: 'requested' });
    await a.round(0);
    await patchLeaseAsAdmin('requested', {}, { [FAILOVER]: 'pg-0' });
    const refused = 'failover requested (failover.postgres.cdk8s.io/target), but this primary serves: switchover to pg-0 requested: it is the primary already';
    expect(await a.round(1)).toEqual([refused]);
    expect(api.lease('requested')!.metadata.annotations?.[FAILOVER]).toBeUndefined();
    expect(storedRecord('requested')).toMatchObject({ state: 'stable', primary: 'pg-0', epoch: '1' });
    expect(api.events().filter((e: any) => e.reason === 'FailoverRefused').map((e: any) => [e.type, e.involvedObject.name, e.message])).toEqual([['Warning', 'pg-0', refused]]);
    expect(await a.round(2)).toEqual([]);

    // A replica, without automatic failover: twice ISOLATION_FENCE_SECONDS (10). The record names another cluster, so that
    // once it asks, it declines.
    await seedRecord('unanswered', { ...stable('pg-0', 1, timeline), systemIdentifier: '1' });
    await patchLeaseAsAdmin('unanswered', {}, { [FAILOVER]: 'any' });
    const b = agentOf('pg-1', { leaderRecord: 'unanswered', peerDomain: 'invalid.' });
    const described = (epoch: number) => `epoch ${epoch}, stable, primary pg-0, timeline ${timeline}`;
    const waiting = (epoch: number) => `PostgreSQL is a replica (${described(epoch)}); a failover to any is requested (${FAILOVER}); waiting 20s for pg-0 to answer it`;
    expect(await b.round(0)).toEqual([waiting(1), `role=replica (PostgreSQL is replica; ${described(1)})`]);
    expect(await b.round(19.9)).toEqual([]);
    // Someone else's compare-and-swap: the count starts again.
    await changeRecord('unanswered', { ...stable('pg-0', 2, timeline), systemIdentifier: '1' });
    expect(await b.round(15)).toEqual([waiting(2)]);
    expect(await b.round(34.9)).toEqual([]);
    const events = api.events().length;
    const lines = await b.round(35);
    expect(lines).toEqual([`PostgreSQL is a replica (${described(2)})`, expect.stringMatching(/^not taking over from pg-0: this pod's data is not the recorded cluster's/)]);
    expect(api.events().slice(events).map((e: any) => [e.type, e.reason, e.involvedObject.name])).toEqual([['Normal', 'RequestedFailoverWaiting', 'pg-1']]);
    expect(await b.round(36)).toEqual([]);
    expect(api.events()).toHaveLength(events + 1);
    expect(storedRecord('unanswered')).toMatchObject({ primary: 'pg-0', epoch: '2' });
    expect(api.lease('unanswered')!.metadata.annotations?.[FAILOVER]).toBe('any');
    expect(await inRecovery(portB)).toBe(true);

    // With automatic failover, twice renewDeadlineSeconds (6).
    const c = agentOf('pg-1', { leaderRecord: 'unanswered', peerDomain: 'invalid.', automaticFailover: automaticFailoverOn('unanswered-c') });
    expect((await c.round(0))[0]).toBe(`PostgreSQL is a replica (${described(2)}); a failover to any is requested (${FAILOVER}); waiting 12s for pg-0 to answer it`);
    expect(await c.round(11.9)).toEqual([]);
    expect((await c.round(12)).join('\n')).toContain('not taking over from pg-0');
  });

  test('a replica whose view of the lease lapsed asks its peers over the pod network: not while the primary answers as one, '
    + 'nor within a lease of its last answer (failsafe); then it decides on the rest (here: too far behind)', async () => {
    const timeline = control(A).timeline;
    // The primary is pod "127": 127.0.0.2 on B's port (the cluster's port) reaches A, as the pod network would.
    const primary = await forwardPod('127.0.0.2', portB, portA);
    const listed = existing;
    existing = ['127', 'pg-1'];
    try {
      expect(await login('postgres', 'super-secret')).toBe('postgres');
      await seedRecord('answering', stable('127', 7, timeline));
      // Published far ahead of any replica: once the primary's answers no longer hold it back, the lag does.
      await patchLeaseAsAdmin('answering', { holderIdentity: '127', renewTime: '2023-11-14T22:13:21.123456Z', leaseDurationSeconds: 10 },
        { 'failover.postgres.cdk8s.io/wal-position': 'FFFFFFF/0' });
      const b = agentOf('pg-1', { leaderRecord: 'answering', automaticFailover: automaticFailoverOn('answering-b'), peerDomain: '0.0.2', users: NETWORK_SUPERUSER });
      const described = `epoch 7, stable, primary 127, timeline ${timeline}`;
      expect(await b.round(0)).toEqual([`PostgreSQL is a replica (${described})`, `role=replica (PostgreSQL is replica; ${described})`]);
      expect(await b.round(9.9)).toEqual([]);
      const events = api.events().length;
      const serves = 'not taking over from 127: 127 still serves as a primary';
      expect(await b.round(10.25)).toEqual([serves]);
      expect(api.events().slice(events).map((e: any) => [e.reason, e.involvedObject.name, e.message])).toEqual([['AutomaticFailoverWaiting', 'pg-1', serves]]);
      // Unreachable now: it answered 4.75 s ago, and may serve on in failsafe mode until it misses this pod.
      primary.close();
      const answered = 'not taking over from 127: it answered as a primary less than 10s ago, and may still serve (failsafe) until it misses this pod';
      expect(await b.round(15)).toEqual([answered]);
      expect(await b.round(20.2)).toEqual([]);
      const behind = await b.round(20.3);
      expect(behind).toHaveLength(1);
      expect(behind[0]).toMatch(/^not taking over from 127: this replica is \d+ bytes behind the primary's last published position FFFFFFF\/0 \(maximumLagOnFailover 1048576\)$/);
      expect(storedRecord('answering')).toMatchObject({ state: 'stable', primary: '127', epoch: '7', holder: '127' });
      expect(await inRecovery(portB)).toBe(true);
    } finally {
      primary.close();
      existing = listed;
    }
  });

  test('a takeover is a compare-and-swap: one that loses to a renewal made meanwhile is not recorded, nothing is promoted, and the renewed lease holds', async () => {
    const timeline = control(A).timeline;
    await seedRecord('takeover-raced', stable('pg-0', 3, timeline));
    const a = agentOf('pg-0', { leaderRecord: 'takeover-raced', automaticFailover: automaticFailoverOn('takeover-raced-a') });
    await a.round(0);
    expect(storedLease('takeover-raced')).toMatchObject({ holderIdentity: 'pg-0', leaseDurationSeconds: 10 });
    const kube = new InterferingClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile('pod:pg-1'), caFile: tls.caFile, timeoutMs: 2000 });
    clients.push(kube);
    const failover = automaticFailoverOn('takeover-raced-b');
    const b = agentOf('pg-1', { leaderRecord: 'takeover-raced', automaticFailover: failover, peerDomain: 'invalid.' }, kube);
    const described = `epoch 3, stable, primary pg-0, timeline ${timeline}`;
    expect(await b.round(0)).toEqual([`PostgreSQL is a replica (${described})`, `role=replica (PostgreSQL is replica; ${described})`]);
    // The primary renews while the replica lists the pods for its takeover (after its read, before its write).
    kube.interfere = () => patchLeaseAsAdmin('takeover-raced', { renewTime: '2030-01-01T00:00:00.000001Z' });
    const events = api.events().length;
    const lines = await b.round(10);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^AUTOMATIC FAILOVER: the lease of pg-0 lapsed and this pod is the replica to promote \(.*\): recording it as the primary \(epoch 4, stable, primary pg-1, timeline \d+\), then promoting it$/);
    expect(lines[1]).toMatch(/^could not record the takeover \(PATCH leases\/takeover-raced: 409 Conflict: .*\): deciding again$/);
    expect(storedRecord('takeover-raced')).toMatchObject({ state: 'stable', primary: 'pg-0', epoch: '3', holder: 'pg-0' });
    expect(storedLease('takeover-raced').renewTime).toBe('2030-01-01T00:00:00.000001Z');
    expect(await inRecovery(portB)).toBe(true);
    expect(labelOf('pg-0')).toBe('primary');
    expect(labelOf('pg-1')).toBe('replica');
    expect(fs.existsSync(failover.deadlineFile)).toBe(false);
    expect(api.events()).toHaveLength(events);
    // The next round reads the renewal: the lease is held again on this replica's clock, for another leaseSeconds.
    expect(await b.round(10.5)).toEqual([]);
    expect(await b.round(20.4)).toEqual([]);
    expect(storedRecord('takeover-raced')).toMatchObject({ primary: 'pg-0', epoch: '3' });
    expect(await inRecovery(portB)).toBe(true);
  });

  test('a replica whose view of the lease lapsed and whose peers do not answer takes over: record (epoch + 1), old label removed, lease, promotion, Events, deadline', async () => {
    const timeline = control(A).timeline;
    await seedRecord('automatic', stable('pg-0', 5, timeline));
    const a = agentOf('pg-0', { leaderRecord: 'automatic', automaticFailover: automaticFailoverOn('automatic-a') });
    await a.round(0);
    expect(labelOf('pg-0')).toBe('primary');
    expect(storedLease('automatic')).toMatchObject({ holderIdentity: 'pg-0', leaseDurationSeconds: 10 });
    const published = storedLease('automatic').walPosition;
    expect(published).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);

    const failover = automaticFailoverOn('automatic-b');
    const b = agentOf('pg-1', { leaderRecord: 'automatic', automaticFailover: failover, peerDomain: 'invalid.' });
    const described = `epoch 5, stable, primary pg-0, timeline ${timeline}`;
    expect(await b.round(0)).toEqual([`PostgreSQL is a replica (${described})`, `role=replica (PostgreSQL is replica; ${described})`]);
    expect(await b.round(9.5)).toEqual([]);
    expect(storedRecord('automatic')).toMatchObject({ primary: 'pg-0', epoch: '5' });
    const version = api.lease('automatic')!.metadata.resourceVersion;
    const events = api.events().length;

    b.clock.wall = 1_700_000_100_000_000;
    const lines = await b.round(10.25);
    const next = `epoch 6, stable, primary pg-1, timeline ${timeline}`;
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^AUTOMATIC FAILOVER: the lease of pg-0 lapsed and this pod is the replica to promote \\(.*\\): recording it as the primary \\(${next}\\), then promoting it$`));
    expect(lines[1]).toBe(`role=primary (PostgreSQL is primary; ${next})`);

    expect(await inRecovery(portB)).toBe(false);
    expect(observedRole(B)).toBe('primary');
    const promoted = await walTimeline(portB);
    expect(promoted).toBe(timeline + 1);
    expect(storedRecord('automatic')).toMatchObject({
      'state': 'stable',
      'primary': 'pg-1',
      'epoch': '6',
      'timeline': String(promoted),
      'holder': 'pg-1',
      'sync': '',
      'system-identifier': systemIdentifier(),
    });
    expect(Number(api.lease('automatic')!.metadata.resourceVersion)).toBeGreaterThan(Number(version));
    expect(storedLease('automatic')).toEqual({ renewTime: '2023-11-14T22:15:01.000000Z', leaseDurationSeconds: 10, holderIdentity: 'pg-1', walPosition: undefined, paused: undefined });
    expect(labelOf('pg-0')).toBeUndefined();
    expect(labelOf('pg-1')).toBe('primary');
    expect(await slots(portB)).toContain('pg_0');
    // floor(1010.25 * 100) + 6 * 100.
    expect(readDeadline(failover.deadlineFile)).toBe('101625\n');

    const message = `pg-1 took over from pg-0, whose lease lapsed (${next})`;
    const posted = api.events().slice(events);
    expect(posted).toHaveLength(2);
    expect(posted).toEqual(expect.arrayContaining([
      expect.objectContaining({ type: 'Warning', reason: 'AutomaticFailover', message, involvedObject: expect.objectContaining({ kind: 'Pod', name: 'pg-1' }) }),
      expect.objectContaining({ type: 'Warning', reason: 'AutomaticFailover', message, involvedObject: expect.objectContaining({ kind: 'Lease', name: 'automatic' }) }),
    ]));
    // The next round: the primary the record names, nothing taken over again.
    expect(await b.round(11)).toEqual([`the leader record names this primary (epoch 6, stable, primary pg-1, timeline ${promoted})`]);
    expect(storedRecord('automatic')).toMatchObject({ primary: 'pg-1', epoch: '6' });
    expect(api.events()).toHaveLength(events + 2);
  }, 30_000);

  test('the deadline file is removed when the record names another pod', async () => {
    // A still serves as a primary (the takeover above could not reach it): its agent renews, then finds pg-1 recorded.
    const timeline = control(A).timeline;
    await seedRecord('deadline-removed', stable('pg-0', 1, timeline));
    const failover = automaticFailoverOn('deadline-removed');
    const a = agentOf('pg-0', { leaderRecord: 'deadline-removed', automaticFailover: failover });
    await a.round(0);
    expect(readDeadline(failover.deadlineFile)).toBe('100600\n');
    const elsewhere = `epoch 2, stable, primary pg-1, timeline ${await walTimeline(portB)}`;
    await changeRecord('deadline-removed', stable('pg-1', 2, await walTimeline(portB)));
    expect(await a.round(1)).toEqual([`FENCING this primary: the leader record does not name this pod (${elsewhere})`]);
    expect(fs.existsSync(failover.deadlineFile)).toBe(false);
    await stopped(A);

    // A replica's agent (here A's, now stopped) removes one an earlier promotion left.
    fs.writeFileSync(failover.deadlineFile, '100600\n');
    expect(await a.round(2)).toEqual([`PostgreSQL is not serving: no role label (${elsewhere})`]);
    expect(fs.existsSync(failover.deadlineFile)).toBe(false);
  });

  test('a primary with automatic failover naps no longer than its next renewal is due (pollSeconds 30, renewSeconds 1): a renewal a second', async () => {
    // B is the primary since the takeover; the agent runs on the real clocks.
    const timeline = await walTimeline(portB);
    await seedRecord('napped', stable('pg-1', 1, timeline));
    const b = agentOf('pg-1', { leaderRecord: 'napped', automaticFailover: { ...automaticFailoverOn('napped'), renewSeconds: 1, renewDeadlineSeconds: 3 } });
    onRealClocks(b);
    const renewals = () => api.requests.filter(request => request.method === 'PATCH' && request.path.endsWith('/leases/napped')
      && request.body.includes('"renewTime"')).length;
    const stop = new AbortController();
    const running = b.agent.run(stop.signal);
    try {
      await eventually(() => renewals() === 1, 5000);
      // Renewals due at about 1 s and 2 s after the first; without them, the agent would nap 30 s (its own PATCH wakes it once).
      await sleep(2300);
      expect(renewals()).toBe(3);
    } finally {
      stop.abort();
      await running;
    }
    expect(b.logs.slice(0, 3)).toEqual([
      `watching ${B} and leader record napped; label "role"`,
      `the leader record names this primary (epoch 1, stable, primary pg-1, timeline ${timeline})`,
      `role=primary (PostgreSQL is primary; epoch 1, stable, primary pg-1, timeline ${timeline})`,
    ]);
  }, 30_000);
});

// ---- a primary whose pod is deleted hands over: last, on B (the primary since the takeover) and a third server C ----

const C = path.join(scratch, 'c');
let portC = 0;
/** `name` streams from the server on `port` and has replied with its flush position (a handover's candidate has one). */
const streamingFrom = async (port: number, name: string) => (await sql(port, `SELECT count(*)::int AS n FROM pg_stat_replication
  WHERE application_name = $1 AND state = 'streaming' AND flush_lsn IS NOT NULL`, [name]))[0].n === 1;

/**
 * run() of an agent whose stop was asked before it began (the kubelet's SIGTERM): it goes straight to the handover. Its
 * clock moves on by `tick` seconds every 20 ms meanwhile (the handover looks at its target every 0.25 s, and waits 20 s).
 * `during` runs meanwhile; it is told whether run() has ended.
 */
async function stopping(agent: Agent, tick: number, during: (ended: () => boolean) => Promise<void> = async () => {}): Promise<void> {
  const stop = new AbortController();
  stop.abort();
  const ticking = setInterval(() => {
    agent.clock.monotonic += tick;
  }, 20);
  let ended = false;
  try {
    const running = agent.agent.run(stop.signal).finally(() => {
      ended = true;
    });
    await during(() => ended);
    await running;
  } finally {
    clearInterval(ticking);
  }
}

/** B as the primary of a new record `name`, its agent (a RacingClient's) after one round, and its pod being deleted. */
async function deletedPrimaryB(name: string): Promise<{ b: Agent; kube: RacingClient; timeline: number }> {
  const timeline = await walTimeline(portB);
  await seedRecord(name, stable('pg-1', 1, timeline));
  const kube = racingClient('pg-1');
  const b = agentOf('pg-1', { leaderRecord: name }, kube);
  await b.round(0);
  deletingPods.add('pg-1');
  return { b, kube, timeline };
}

describe('a primary whose pod is deleted hands over to a standby by a switchover', () => {
  beforeAll(async () => {
    // C streams from B (slot pg_2, application_name pg-2); A stays stopped. Only pg-2's pod is Ready.
    portC = await freePort();
    await sql(portB, "SELECT pg_create_physical_replication_slot('pg_2') WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = 'pg_2')");
    run('pg_basebackup', '-D', C, '-h', scratch, '-p', String(portB), '-U', 'postgres', '-R', '-X', 'stream', '-c', 'fast', '-S', 'pg_2');
    fs.appendFileSync(path.join(C, 'postgresql.auto.conf'), "cluster_name = 'pg-2'\n");
    await start(C, portC);
    await eventually(() => streamingFrom(portB, 'pg-2'), 30_000);
    existing = ['pg-0', 'pg-1', 'pg-2'];
    readyPods.clear();
    readyPods.add('pg-2');
    deletingPods.clear();
  }, 60_000);

  afterAll(() => {
    asPostgres('pg_ctl', ['-D', C, '-m', 'immediate', '-w', 'stop']);
  });

  test('a handover the record changed under is not written: logged, and the primary stops without one', async () => {
    const { b, kube } = await deletedPrimaryB('handover-lost');
    kube.races = 1;
    const events = api.events().length;
    await stopping(b, 0);
    expect(b.logs.slice(1, 2)).toEqual([expect.stringMatching(/^this primary's pod is being deleted: handing the primary over to pg-2, /)]);
    expect(b.logs[2]).toMatch(/^could not write the handover \(.*409.*\): the primary stops without one \(run the failover job\)$/);
    expect(b.logs).toHaveLength(3);
    expect(storedRecord('handover-lost')).toMatchObject({ 'state': 'stable', 'primary': 'pg-1', 'epoch': '1', 'example.com/raced': '0' });
    expect(api.events()).toHaveLength(events);
    expect(observedRole(B)).toBe('primary');
    deletingPods.clear();
  });

  test('its target replaced by a new pod of the same name before it took over: the record is given back (tried again when that loses), HandoverUndone', async () => {
    const { b, kube, timeline } = await deletedPrimaryB('handover-undone');
    const events = api.events().length;
    await stopping(b, 0.05, async () => {
      // The old primary fences itself and records its shutdown checkpoint; then pg-2's pod is made anew (another uid).
      await eventually(() => storedRecord('handover-undone').checkpoint !== undefined && storedRecord('handover-undone').checkpoint !== '');
      kube.races = 1;
      podUids.set('pg-2', 'uid-pg-2-new');
    });
    const handedOver = `epoch 2, switching-over, primary (none), timeline ${timeline} (job pg-1: pg-1 -> pg-2)`;
    const givenBack = `epoch 3, stable, primary pg-1, timeline ${timeline}`;
    const undone = `the handover's target pg-2 is gone (a new pod has its name) before it took over: the record names this pod again, which is the primary when it is made anew (${givenBack})`;
    expect(b.logs[1]).toMatch(withLsn(`this primary's pod is being deleted: handing the primary over to pg-2, the most advanced standby that stays (flushed <lsn>), by a switchover (${handedOver})`));
    expect(b.logs).toContain(`FENCING this primary: the leader record does not name this pod (${handedOver})`);
    const lost = b.logs.findIndex(line => line.startsWith('could not give the record back ('));
    expect(b.logs[lost]).toMatch(/409.*; looking again$/);
    expect(b.logs.slice(lost + 1).filter(line => !line.startsWith('PostgreSQL is not serving'))).toEqual([undone]);
    expect(storedRecord('handover-undone')).toMatchObject({ state: 'stable', primary: 'pg-1', epoch: '3', holder: 'pg-1' });
    const posted = api.events().slice(events).map((e: any) => [e.type, e.reason, e.involvedObject.name, e.message]);
    expect(posted).toEqual(expect.arrayContaining([
      ['Normal', 'HandingOver', 'pg-1', b.logs[1]],
      ['Warning', 'HandoverUndone', 'pg-1', undone],
    ]));
    expect(posted.filter(event => event[1] === 'HandoverUndone')).toHaveLength(1);
    expect(labelOf('pg-1')).toBeUndefined();
    podUids.clear();
    deletingPods.clear();
    // B serves again as the primary, for the tests that follow; C streams from it once more.
    await stopped(B);
    fs.rmSync(path.join(B, 'standby.signal'));
    await start(B, portB);
    await sql(portC, 'SELECT pg_reload_conf()');
    await eventually(() => streamingFrom(portB, 'pg-2'), 30_000);
  }, 60_000);

  test('a primary PostgreSQL stopped already (the kubelet stops both containers) hands over: it records its shutdown checkpoint, the target takes over, "handed over"', async () => {
    const { b, timeline } = await deletedPrimaryB('handed-over');
    const c = agentOf('pg-2', { leaderRecord: 'handed-over', port: portC, pgdata: C });
    expect(await c.round(0)).toEqual([`PostgreSQL is a replica (epoch 1, stable, primary pg-1, timeline ${timeline})`,
      `role=replica (PostgreSQL is replica; epoch 1, stable, primary pg-1, timeline ${timeline})`]);
    asPostgres('pg_ctl', ['-D', B, '-m', 'fast', '-w', 'stop']);
    expect(control(B).shutDown).toBe(true);
    const events = api.events().length;
    let rounds = 0;
    const logged: string[] = [];
    await stopping(b, 0, async ended => {
      // pg-2's agent, round after round, until the record names it (or the handover ended without).
      while (storedRecord('handed-over').primary !== 'pg-2' && !ended()) {
        logged.push(...await c.round(++rounds));
        await sleep(20);
      }
    });
    const checkpoint = control(B).checkpoint;
    const switching = `epoch 2, switching-over, primary (none), timeline ${timeline} (job pg-1: pg-1 -> pg-2)`;
    // The target records itself, promotes, then records its new timeline: the old primary may see either record.
    const handedOver = `epoch 2, stable, primary pg-2, timeline (${timeline}|${timeline + 1})`;
    expect(b.logs.slice(1)).toEqual([
      expect.stringMatching(withLsn(`this primary's pod is being deleted: handing the primary over to pg-2, the most advanced standby that stays (flushed <lsn>), by a switchover (${switching})`)),
      `PostgreSQL is not serving: no role label (${switching})`,
      `role=(none) (PostgreSQL is not serving; ${switching})`,
      `fenced for the switchover to pg-2: recorded the shutdown checkpoint ${checkpoint}`,
      expect.stringMatching(new RegExp(`^PostgreSQL is not serving: no role label \\(${handedOver}\\)$`)),
      expect.stringMatching(new RegExp(`^handed over: ${handedOver}$`)),
    ]);
    expect(logged.join('\n')).toContain(`received the old primary's shutdown checkpoint ${checkpoint}: recording this pod as the primary`);
    expect(observedRole(C)).toBe('primary');
    expect(storedRecord('handed-over')).toMatchObject({ state: 'stable', primary: 'pg-2', epoch: '2' });
    expect(api.events().slice(events).map((e: any) => [e.type, e.reason, e.involvedObject.name])).toContainEqual(['Normal', 'HandingOver', 'pg-1']);
    deletingPods.clear();
  }, 60_000);

  test('a target that does not take over within 20 s: the record stays switching-over, and the log says to run the failover job', async () => {
    // C is the primary since the handover; B follows it (the shutdown checkpoint it recorded is on C's timeline).
    const timeline = await walTimeline(portC);
    await sql(portC, "SELECT pg_create_physical_replication_slot('pg_1') WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = 'pg_1')");
    fs.appendFileSync(path.join(B, 'postgresql.auto.conf'), `primary_conninfo = 'host=${scratch} port=${portC} user=postgres'\n`);
    writeAsPostgres(path.join(B, 'standby.signal'), '');
    await start(B, portB);
    await eventually(() => streamingFrom(portC, 'pg-1'), 30_000);
    readyPods.add('pg-1');
    await seedRecord('handover-late', stable('pg-2', 1, timeline));
    // Its first write of its shutdown checkpoint loses (409): written again.
    const kube = racingClient('pg-2');
    kube.races = 1;
    kube.raced = patch => (patch.metadata?.annotations?.['postgres.cdk8s.io/checkpoint'] ?? '') !== '';
    const c = agentOf('pg-2', { leaderRecord: 'handover-late', port: portC, pgdata: C }, kube);
    await c.round(0);
    deletingPods.add('pg-2');
    await stopping(c, 0.05, async () => {
      // Fenced, its checkpoint recorded; pg-1's agent never runs, and the clock passes the handover's 20 s.
      await eventually(() => (storedRecord('handover-late').checkpoint ?? '') !== '');
      c.clock.monotonic += 25;
    });
    const switching = `epoch 2, switching-over, primary (none), timeline ${timeline} (job pg-2: pg-2 -> pg-1)`;
    expect(c.logs[1]).toMatch(/^this primary's pod is being deleted: handing the primary over to pg-1, /);
    expect(c.logs).toContain(`FENCING this primary: the leader record does not name this pod (${switching})`);
    expect(c.logs).toContainEqual(expect.stringMatching(new RegExp(`^could not record the shutdown checkpoint ${control(C).checkpoint} \\(.*409.*\\); retrying$`)));
    expect(c.logs).toContain(`fenced for the switchover to pg-1: recorded the shutdown checkpoint ${control(C).checkpoint}`);
    expect(kube.races).toBe(0);
    expect(c.logs[c.logs.length - 1]).toBe('pg-1 did not take over within 20s: the record stays switching-over (run the failover job to finish or undo it)');
    expect(storedRecord('handover-late')).toMatchObject({ state: 'switching-over', previous: 'pg-2', target: 'pg-1', epoch: '2', checkpoint: control(C).checkpoint });
    expect(observedRole(B)).toBe('replica');
    deletingPods.clear();
  }, 60_000);
});

describe('run() while PostgreSQL starts', () => {
  afterAll(() => {
    asPostgres('pg_ctl', ['-D', C, '-m', 'immediate', '-w', 'stop']);
  });

  test('a nap ends as soon as the stopped server serves (its postmaster ready), not a poll (30 s) later', async () => {
    // C, fenced by the test before, starts again as a standby.
    await seedRecord('late-start', stable('pg-1', 1, control(C).timeline));
    const c = agentOf('pg-2', { leaderRecord: 'late-start', port: portC, pgdata: C });
    const stop = new AbortController();
    const running = c.agent.run(stop.signal);
    try {
      await eventually(() => c.logs.some(line => line.startsWith('PostgreSQL is not serving')));
      const started = Date.now();
      await start(C, portC);
      await eventually(() => c.logs.some(line => line.startsWith('PostgreSQL is a replica')), 5000);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      stop.abort();
      await running;
    }
    expect(c.logs[c.logs.length - 1]).toBe('stopping, but the pod is not being deleted (a restart): the primary stays where it is');
  }, 30_000);
});

describe('a requested failover', () => {
  test('a replica takes over from a primary that did not answer the request: RequestedFailover Events; a label it cannot remove (the pod is gone) is logged', async () => {
    // B, the replica the tests before leave, is the only pod: pg-0, the recorded primary, has no pod left.
    existing = ['pg-1'];
    // The timeline it follows: its newest history file's (pg_control's lags until a restartpoint).
    const histories = fs.readdirSync(path.join(B, 'pg_wal')).filter(file => /^[0-9A-F]{8}\.history$/.test(file));
    const timeline = Math.max(1, ...histories.map(file => parseInt(file.slice(0, 8), 16)));
    await seedRecord('requested-gone', stable('pg-0', 1, timeline));
    await patchLeaseAsAdmin('requested-gone', {}, { 'failover.postgres.cdk8s.io/target': 'any' });
    const b = agentOf('pg-1', { leaderRecord: 'requested-gone', peerDomain: 'invalid.' });
    const recorded = `epoch 1, stable, primary pg-0, timeline ${timeline}`;
    expect(await b.round(0)).toEqual([
      `PostgreSQL is a replica (${recorded}); a failover to any is requested (failover.postgres.cdk8s.io/target); waiting 20s for pg-0 to answer it`,
      `role=replica (PostgreSQL is replica; ${recorded})`,
    ]);
    const events = api.events().length;
    // Twice isolationFenceSeconds (10) later, nobody answered for pg-0.
    const next = `epoch 2, stable, primary pg-1, timeline ${timeline}`;
    expect(await b.round(20)).toEqual([
      `PostgreSQL is a replica (${recorded})`,
      expect.stringMatching(withLsn('REQUESTED FAILOVER: pg-0 did not answer the failover request (failover.postgres.cdk8s.io/target=any) within 20s and '
        + `this pod is the replica to promote (promoting pg-1 (WAL <lsn>) of pg-1): recording it as the primary (${next}), then promoting it`)),
      'could not remove the role label of pg-0 (PATCH pods/pg-0: 404 NotFound: pods "pg-0" not found); its agent removes it when it can',
      `role=primary (PostgreSQL is primary; ${next})`,
    ]);
    expect(observedRole(B)).toBe('primary');
    const message = `pg-1 took over from pg-0, which did not answer the failover request (failover.postgres.cdk8s.io/target=any) (${next})`;
    expect(api.events().slice(events).map((e: any) => [e.type, e.reason, e.involvedObject.kind, e.involvedObject.name, e.message])).toEqual([
      ['Warning', 'RequestedFailover', 'Pod', 'pg-1', message],
      ['Warning', 'RequestedFailover', 'Lease', 'requested-gone', message],
    ]);
    // The request is answered: gone from the record.
    expect(api.lease('requested-gone')!.metadata.annotations?.['failover.postgres.cdk8s.io/target']).toBeUndefined();
  }, 30_000);
});

describe('a replica whose WAL the primary no longer has', () => {
  test('asks for a new clone once it has not streamed for walCheckSeconds: the marker beside its data, its PostgreSQL stopped', async () => {
    // C, cloned anew from B (the primary since the requested failover above), stops; B's inactive slots go.
    fs.rmSync(C, { recursive: true, force: true });
    run('pg_basebackup', '-D', C, '-h', scratch, '-p', String(portB), '-U', 'postgres', '-R', '-X', 'stream', '-c', 'fast');
    // B's settings came with the copy: C streams as pg-2, from no slot.
    fs.appendFileSync(path.join(C, 'postgresql.auto.conf'), "cluster_name = 'pg-2'\nprimary_slot_name = ''\n");
    await start(C, portC);
    await eventually(() => streamingFrom(portB, 'pg-2'), 30_000);
    asPostgres('pg_ctl', ['-D', C, '-m', 'fast', '-w', 'stop']);
    const position = control(C).checkpoint;
    await sql(portB, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active');
    // B writes on, and its checkpoints remove the segments C needs next.
    await sql(portB, 'CREATE TABLE reclone (n int)');
    for (let i = 0; i < 3; i++) await sql(portB, 'INSERT INTO reclone VALUES (1); SELECT pg_switch_wal(); CHECKPOINT');
    const [{ gone }] = await sql(portB, `SELECT NOT EXISTS (SELECT FROM pg_ls_waldir()
      WHERE substr(name, 9, 16) = substr(pg_walfile_name($1::pg_lsn), 9, 16)) AS gone`, [position]);
    expect(gone).toBe(true);
    await start(C, portC);

    existing = ['pg-1', 'pg-2'];
    await seedRecord('reclone', stable('pg-1', 1, await walTimeline(portB)));
    const primaryHost = socketAs(portB, portC);
    const timing = { ...TIMING, walCheckSeconds: 12 };
    const c = agentOf('pg-2', { leaderRecord: 'reclone', port: portC, pgdata: C, primaryHost, users: NETWORK_SUPERUSER, timing });
    const marker = path.join(path.dirname(C), 'reclone-requested');
    await c.round(0);
    // It looks every 3 s; until 12 s (walCheckSeconds) without streaming, it only looks.
    for (const at of [3, 6, 9, 11.9]) expect(await c.round(at)).toEqual([]);
    expect(fs.existsSync(marker)).toBe(false);
    expect(await c.round(12)).toEqual([expect.stringMatching(
      /^not streaming for 12s, and the primary no longer has the WAL this replica needs \([0-9A-F]+\/[0-9A-F]+\): requesting a new clone$/)]);
    expect(fs.existsSync(marker)).toBe(true);
    // Stopped (in recovery: pg_control says "shut down in recovery"): its entrypoint clones when it starts again.
    await eventually(() => readPostmaster(C) === undefined);
    fs.rmSync(marker);
  }, 60_000);
});

describe('a failover request older than the primary', () => {
  test('a pod that became the primary after a failover request was made removes it: the change of primary answered it (no FailoverRefused)', async () => {
    // C, stopped by the test before (a standby that asked for a new clone), is the pod the record comes to name.
    existing = ['pg-1', 'pg-2'];
    const timeline = await walTimeline(portB);
    await seedRecord('old-request', stable('pg-0', 1, timeline));
    await patchLeaseAsAdmin('old-request', {}, { 'failover.postgres.cdk8s.io/target': 'any' });
    const c = agentOf('pg-2', { leaderRecord: 'old-request', port: portC, pgdata: C });
    // Seen at epoch 1, while C does not serve.
    expect((await c.round(0))[0]).toBe(`PostgreSQL is not serving: no role label (epoch 1, stable, primary pg-0, timeline ${timeline})`);
    await start(C, portC);
    await changeRecord('old-request', stable('pg-2', 2, timeline));
    const events = api.events().length;
    const promoted = `epoch 2, stable, primary pg-2, timeline ${timeline}`;
    expect(await c.round(1)).toEqual([`the leader record names this pod as the primary: promoting it (${promoted})`, `role=primary (PostgreSQL is primary; ${promoted})`]);
    expect(await c.round(2)).toEqual([
      'removing the failover request (any) made before this pod became the primary (epoch 1, now 2): the change of primary answered it',
      `the leader record names this primary (epoch 2, stable, primary pg-2, timeline ${timeline + 1})`,
    ]);
    expect(api.lease('old-request')!.metadata.annotations?.['failover.postgres.cdk8s.io/target']).toBeUndefined();
    expect(storedRecord('old-request')).toMatchObject({ state: 'stable', primary: 'pg-2', epoch: '2' });
    expect(await c.round(3)).toEqual([]);
    expect(api.events().slice(events).map((e: any) => e.reason)).toEqual(['Promoted']);
  });
});

describe('a primary whose PostgreSQL stopped, with automatic failover', () => {
  test('renews the lease for primaryRestartGraceSeconds after it last served, then leaves it to lapse', async () => {
    // C serves as the primary since the test before.
    const timeline = await walTimeline(portC);
    await seedRecord('grace', stable('pg-2', 1, timeline));
    const c = agentOf('pg-2', { leaderRecord: 'grace', port: portC, pgdata: C, automaticFailover: automaticFailoverOn('grace') });
    const renewed = () => storedLease('grace').renewTime;
    await c.round(0);
    // It serves at 10 s, and stops.
    await c.round(10);
    asPostgres('pg_ctl', ['-D', C, '-m', 'fast', '-w', 'stop']);
    const described = `epoch 1, stable, primary pg-2, timeline ${timeline}`;
    expect(await c.round(20)).toEqual([`PostgreSQL is not serving: no role label (${described})`, `role=(none) (PostgreSQL is not serving; ${described})`]);
    // Renewed (every renewSeconds, 2) until 30 s after it last served, without a WAL position.
    let last = renewed();
    expect(await c.round(39.9)).toEqual([]);
    expect(renewed()).not.toBe(last);
    expect(storedLease('grace')).toMatchObject({ holderIdentity: 'pg-2', walPosition: undefined });
    last = renewed();
    expect(await c.round(40)).toEqual([`PostgreSQL has not served for 30s (primaryRestartGraceSeconds): no longer renewing the lease, for a replica to take over once it lapses (${described})`]);
    expect(renewed()).toBe(last);
    expect(await c.round(42)).toEqual([]);
    expect(renewed()).toBe(last);
  });
});

describe('a primary whose WAL archiving fails', () => {
  test('says so by a Warning Event at its first look, and by a Normal one at the look after it works again', async () => {
    // C, the primary stopped by the test before, starts again with an archive_command that fails.
    await start(C, portC, ['archive_mode=on']);
    await sql(portC, "ALTER SYSTEM SET archive_command = 'false'");
    await sql(portC, 'SELECT pg_reload_conf()');
    await sql(portC, 'CREATE TABLE archived (n int); INSERT INTO archived VALUES (1); SELECT pg_switch_wal()');
    await eventually(async () => (await sql(portC, 'SELECT last_failed_wal FROM pg_stat_archiver'))[0].last_failed_wal !== null);
    await seedRecord('archive', stable('pg-2', 1, await walTimeline(portC)));
    const c = agentOf('pg-2', { leaderRecord: 'archive', port: portC, pgdata: C });
    const events = api.events().length;
    // The archiver tries each segment three times in a row: one to three tries failed by now.
    const failing = new RegExp('^archiving WAL fails: [0-9A-F]{24} is not archived \\([1-3] failed tr(y|ies) and 0 segments archived since the statistics began\\)\\. '
      + '1 segment waits in pg_wal, which keeps them until they are archived and fills meanwhile\\. The archive command\'s error: kubectl logs pg-2 -c postgres$');
    expect((await c.round(0)).slice(2)).toEqual([expect.stringMatching(new RegExp(`^ArchiveFailing: ${failing.source.slice(1)}`))]);
    await sql(portC, "ALTER SYSTEM SET archive_command = 'true'");
    await sql(portC, 'SELECT pg_reload_conf()');
    await eventually(async () => (await sql(portC, 'SELECT last_archived_wal >= last_failed_wal AS ok FROM pg_stat_archiver'))[0].ok === true, 20_000);
    // Looked at every ARCHIVE_LOOK_SECONDS (10).
    expect(await c.round(9.9)).toEqual([]);
    const recovered = 'archiving WAL works again after 10s: 1 segment archived since the last look, 0 waiting';
    expect(await c.round(10)).toEqual([`ArchiveRecovered: ${recovered}`]);
    expect(api.events().slice(events).map((e: any) => [e.type, e.reason, e.involvedObject.name, e.message])).toEqual([
      ['Warning', 'ArchiveFailing', 'pg-2', expect.stringMatching(failing)],
      ['Normal', 'ArchiveRecovered', 'pg-2', recovered],
    ]);
    asPostgres('pg_ctl', ['-D', C, '-m', 'fast', '-w', 'stop']);
  }, 120_000);
});

describe('the Events the agent posted', () => {
  test('each is reported by postgres-cluster-agent, as its pod (source, reportingComponent, reportingInstance)', () => {
    const posted = api.events().filter((e: any) => e.involvedObject.kind === 'Pod');
    expect(posted.length).toBeGreaterThan(10);
    for (const event of posted as any[]) {
      expect([event.reason, event.source, event.reportingComponent, event.reportingInstance]).toEqual(
        [event.reason, { component: 'postgres-cluster-agent' }, 'postgres-cluster-agent', event.involvedObject.name]);
    }
  });
});
