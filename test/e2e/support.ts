import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import { PostgresClusterChart, PostgresClusterChartProps } from '../../src';
import { E2eCluster } from './harness/cluster';
import { Result, sleep, waitFor } from './harness/exec';

export const DIST_MANIFEST = path.join(__dirname, '..', '..', 'dist', 'postgres-cluster.k8s.yaml');
export const POD = (i: number) => `postgres-cluster-${i}`;

/** YAML of a non-default cluster, synthesized by the library into a scratch file, as `cdk8s synth` would write it. */
export function synthesizeToFile(props: PostgresClusterChartProps): string {
  const app = Testing.app({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'pg-e2e-synth-')) });
  new PostgresClusterChart(app, 'postgres-cluster', props);
  app.synth();
  const chart = app.node.children.find(c => c instanceof Chart) as Chart;
  return path.join(app.outdir, `${chart.node.id}.k8s.yaml`);
}

/** Runs a step; when it fails, the error carries the cluster's state and every pod's recent log. */
export async function step<T>(cluster: E2eCluster, what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (error) {
    const servers = await cluster.serverDiagnostics().catch(e => `(server diagnostics failed: ${e})`);
    throw new Error(`${(error as Error).message}\n${servers}\n${cluster.diagnostics()}`);
  }
}

export async function isPrimary(cluster: E2eCluster, pod: string): Promise<boolean> {
  return (await cluster.podSql(pod, 'SELECT NOT pg_is_in_recovery()')) === 't';
}

/** application_name of every replica streaming from the pod. */
export async function streamingFrom(cluster: E2eCluster, primary: string): Promise<string[]> {
  const out = await cluster.podSql(primary, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1");
  return out ? out.split('\n') : [];
}

export async function waitForStreaming(cluster: E2eCluster, primary: string, replicas: string[], timeoutMs = 30_000): Promise<void> {
  const want = [...replicas].sort().join(',');
  await waitFor(`${replicas.join(', ')} streaming from ${primary}`,
    async () => (await streamingFrom(cluster, primary)).join(',') === want, timeoutMs, 250);
}

/**
 * Exactly one running server is a primary, every other pod streams from it, the labels say so, and
 * the write Service reaches it (and only it).
 */
export async function expectOnlyPrimary(cluster: E2eCluster, primary: string, pods: string[], timeoutMs = 30_000): Promise<void> {
  const replicas = pods.filter(p => p !== primary);
  // A pod fenced or rejoining may still be restarting: every pod must serve first (or the wait fails).
  await waitFor(`${pods.join(', ')} to serve`, () => pods.every(p => cluster.pod(p).ready), timeoutMs, 250);
  for (const pod of pods) expect([pod, await isPrimary(cluster, pod)]).toEqual([pod, pod === primary]);
  await waitForStreaming(cluster, primary, replicas, timeoutMs);
  await waitFor(`labels and Services to follow ${primary}`, () =>
    pods.every(p => cluster.pod(p).labels.role === (p === primary ? 'primary' : 'replica'))
    && cluster.endpoints('postgres-write').join() === primary
    && cluster.endpoints('postgres-read').join() === replicas.sort().join(), timeoutMs, 250);
  const served = await cluster.sql('postgres-write', "SELECT current_setting('cluster_name'), pg_is_in_recovery()");
  expect(served.stdout.trim()).toBe(`${primary}|f`);
}

/** The values in table `table` as seen by one pod. */
export async function valuesOn(cluster: E2eCluster, pod: string, table: string): Promise<number[]> {
  const out = await cluster.podSql(pod, `SELECT v FROM ${table} ORDER BY v`, 'myapp');
  return out ? out.split('\n').map(Number) : [];
}

/** Waits until every pod has replayed all of `expected` (and nothing else). */
export async function expectRowsEverywhere(
  cluster: E2eCluster, pods: string[], table: string, expected: number[], timeoutMs = 20_000,
): Promise<void> {
  for (const pod of pods) {
    await waitFor(`${pod} to hold the ${expected.length} committed rows of ${table}`,
      async () => (await valuesOn(cluster, pod, table)).join() === [...expected].sort((a, b) => a - b).join(), timeoutMs, 250);
  }
}

/**
 * A client that inserts one row at a time through the write Service, with a new connection each time
 * (as an application's pool reconnects after a failover), and remembers every acknowledged commit.
 */
export class Writer {
  public readonly acknowledged: number[] = [];
  public readonly attempts: Array<{ startedAt: number; at: number; ok: boolean; server?: string }> = [];
  private process?: ChildProcess;
  private ended?: Promise<void>;

  constructor(private readonly cluster: E2eCluster, public readonly table: string) {}

  public start(): void {
    // One client process of its own, which runs psql for each row (a new connection through the write
    // Service each time): the test's process, which also stands in for the API server and the kubelets,
    // is not slowed by spawning them.
    const child = this.cluster.clientScript(WRITER_SCRIPT, ['postgres-write', this.table]);
    this.process = child;
    let pending = '';
    child.stdout!.on('data', chunk => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) this.record(line);
    });
    this.ended = new Promise(resolve => child.once('close', () => resolve()));
  }

  /** Stops after the write in flight, whose outcome is recorded (its psql gets at most 15 s). */
  public async stop(): Promise<void> {
    const child = this.process;
    if (!child) return;
    const kill = (signal: NodeJS.Signals, group: boolean) => {
      try {
        process.kill(group ? -child.pid! : child.pid!, signal);
      } catch {
        // already ended
      }
    };
    kill('SIGTERM', false);
    const timer = setTimeout(() => kill('SIGKILL', true), 15_000);
    await this.ended;
    clearTimeout(timer);
    this.process = undefined;
  }

  /**
   * The write outage: the longest time between two acknowledgements in a row (ms), and when it began. A write that
   * fails, or waits, lengthens it; while writes succeed it is about one write's round trip.
   */
  public longestGap(): { ms: number; after: number } {
    const times = this.attempts.filter(a => a.ok).map(a => a.at).sort((x, y) => x - y);
    let gap = { ms: 0, after: times[0] ?? 0 };
    for (let i = 1; i < times.length; i++) {
      if (times[i] - times[i - 1] > gap.ms) gap = { ms: times[i] - times[i - 1], after: times[i - 1] };
    }
    return gap;
  }

  /** The servers that acknowledged writes, in order, each once per run of writes it acknowledged. */
  public servers(): string[] {
    const runs: string[] = [];
    for (const a of [...this.attempts].sort((x, y) => x.at - y.at)) {
      if (a.ok && a.server !== undefined && runs[runs.length - 1] !== a.server) runs.push(a.server);
    }
    return runs;
  }

  /** When the first write sent at or after `since` (to `server`, if given) was acknowledged. */
  public firstSuccessAfter(since: number, server?: string): number | undefined {
    return this.attempts.find(a => a.ok && a.startedAt >= since && (server === undefined || a.server === server))?.at;
  }

  /** "<value> <started> <ended> <psql exit code> <value>|<server>", times in seconds since the epoch. */
  private record(line: string): void {
    const [v, started, ended, code, answer = ''] = line.split(' ');
    if (ended === undefined) return;
    const [value, server] = answer.split('|');
    const ok = code === '0' && value === v;
    this.attempts.push({ startedAt: Math.round(Number(started) * 1000), at: Math.round(Number(ended) * 1000), ok, server: ok ? server : undefined });
    if (ok) this.acknowledged.push(Number(v));
  }
}

let writtenTables = 0;

/** Creates a table and writes to it through the write Service while `what` runs, then stops: the writer. */
export async function writing(cluster: E2eCluster, what: (writer: Writer) => Promise<void>): Promise<Writer> {
  const table = `writes_${process.pid}_${writtenTables++}`;
  const created = await cluster.sql('postgres-write', `CREATE TABLE ${table} (v int PRIMARY KEY)`);
  if (created.code !== 0) throw new Error(`CREATE TABLE ${table}: ${created.stderr}`);
  const writer = new Writer(cluster, table);
  writer.start();
  try {
    await waitFor('some writes', () => writer.acknowledged.length >= 10, 20_000);
    await what(writer);
  } finally {
    await writer.stop();
  }
  return writer;
}

/** The longest time between two acknowledged writes from `from` to `to` (at least ten of them). */
export function longestGapMs(writer: Writer, from: number, to: number): number {
  const acknowledged = writer.attempts.filter(a => a.ok && a.at >= from && a.startedAt <= to).map(a => a.at);
  expect(acknowledged.length).toBeGreaterThan(10);
  return Math.max(...acknowledged.slice(1).map((at, i) => at - acknowledged[i]));
}

/** The API server down for everyone for `ms` (E2eCluster.apiOutage): when it went, and when it was back. */
export async function apiOutageFor(cluster: E2eCluster, ms: number): Promise<{ cut: number; healed: number }> {
  const cut = Date.now();
  cluster.apiOutage();
  try {
    await new Promise(resolve => setTimeout(resolve, ms));
  } finally {
    cluster.apiRestored();
  }
  return { cut, healed: Date.now() };
}

/**
 * Steps a pod's wall clock by `offset` seconds for `seconds` (E2eCluster.stepClock), then back; checks that its bash and its
 * PostgreSQL read the step, give or take a few seconds (a process's one-second cache), and says what they read.
 */
export async function stepClockFor(cluster: E2eCluster, pod: string, offset: number, seconds: number): Promise<string> {
  const started = Date.now();
  cluster.stepClock(pod, offset);
  const readings: string[] = [];
  let seen: { bash: number; postgres: number } | undefined;
  try {
    // Past the second a running process may keep its last reading of the clock file; read until both show the step, for
    // up to 5 s (a process just thawed or started may take one more second of its cache).
    await new Promise(resolve => setTimeout(resolve, 1500));
    while (seen === undefined && Date.now() - started < 6_500) {
      const now = await cluster.clockOffsets(pod);
      readings.push(`bash ${now.bash}s, PostgreSQL ${now.postgres}s`);
      if (Math.abs(now.bash - offset) <= 3 && Math.abs(now.postgres - offset) <= 3) seen = now;
      else await new Promise(resolve => setTimeout(resolve, 500));
    }
    await new Promise(resolve => setTimeout(resolve, Math.max(0, started + seconds * 1000 - Date.now())));
  } finally {
    cluster.stepClock(pod, 0);
  }
  expect({ stepped: offset, seen: seen !== undefined, readings }).toEqual({ stepped: offset, seen: true, readings: expect.any(Array) });
  return `its bash read ${seen!.bash}s, its PostgreSQL ${seen!.postgres}s`;
}

/** The acknowledged rows of a writer that `primary` does not have. */
export async function lostRows(cluster: E2eCluster, writer: Writer, primary: string): Promise<number[]> {
  const rows = new Set(await valuesOn(cluster, primary, writer.table));
  return writer.acknowledged.filter(v => !rows.has(v));
}

/**
 * The writer's loop, one psql (a new connection) per row: $1 what psql connects to, $2 the table. A write that fails is
 * retried 20 ms later; SIGTERM: stop after the write in flight. Each line: "<value> <started> <ended> <psql exit code>
 * <value>|<server>". `connection`: a psql connection string made of $1 (a host, here a Service's name); `server`: the SQL
 * that names the server that answered (each pod's cluster_name is its name).
 */
export function writerScript(connection = '"host=$1"', server = "current_setting('cluster_name')"): string {
  return `
  v=0
  stop=""
  trap 'stop=1' TERM
  while [ -z "$stop" ]; do
    v=$((v + 1))
    started=$EPOCHREALTIME
    rc=0
    out=$(timeout 10 psql ${connection} -XAtq -v ON_ERROR_STOP=1 -c "INSERT INTO $2 (v) VALUES ($v) RETURNING v, ${server}" 2> /dev/null) || rc=$?
    printf '%s %s %s %s %s\n' "$v" "$started" "$EPOCHREALTIME" "$rc" "$out"
    if [ "$rc" != 0 ]; then sleep 0.02; fi
  done`;
}

const WRITER_SCRIPT = writerScript();

/** The leader record's fields (annotations postgres.cdk8s.io/<field>), as the API holds them. */
export function leader(cluster: E2eCluster, name = 'postgres-leader'): Record<string, string> {
  const lease = cluster.lease(name);
  if (!lease) throw new Error(`no Lease ${name}`);
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries<string>(lease.metadata.annotations ?? {})) {
    if (key.startsWith('postgres.cdk8s.io/')) fields[key.slice('postgres.cdk8s.io/'.length)] = value;
  }
  return fields;
}

/** Pods whose PostgreSQL runs and is a primary (not in recovery), whatever their labels say. */
export async function runningPrimaries(cluster: E2eCluster): Promise<string[]> {
  const found: string[] = [];
  for (const pod of cluster.livePods()) {
    if (pod.phase !== 'running') continue;
    const result = await pod.container('postgres').exec(['bash', '-c',
      'pg_ctl status -D "$PGDATA" >/dev/null && LC_ALL=C pg_controldata "$PGDATA" | grep -q "cluster state: *in production"'], 10_000);
    if (result.code === 0) found.push(pod.name);
  }
  return found.sort();
}

/** Park-Miller (minimal standard) PRNG: a seed replays the same rounds (the randomized fault tests' FAULT_SEED). */
export function random(seed: number): () => number {
  let state = (Math.abs(Math.floor(seed)) % 2147483646) + 1;
  return () => {
    state = (state * 48271) % 2147483647;
    return (state - 1) / 2147483646;
  };
}

/** The rows of the archive tests' table `orders`: count, sum of ids, and a digest of every note in order. */
export const ORDER_ROWS = 'SELECT count(*), coalesce(sum(id), 0), md5(coalesce(string_agg(note, \',\' ORDER BY id), \'\')) FROM orders';

/**
 * The archive tests' failover (orders 1-100 exist, POD(1) is the primary after a switchover): rows 101-250 committed and
 * replayed by both replicas (asynchronous replication keeps in a failover only what they received); POD(1)'s pod killed
 * and the failover job run; on the new primary, rows 251-300 before a target time and 301-400 after it; `check` on the
 * new primary (a new segment, waited for until it is in the repository with every commit above); POD(1) back as a
 * replica. Returns the new primary, the target time and the rows before it.
 */
export async function failoverAroundTarget(
  cluster: E2eCluster, check: (pod: string) => Promise<Result>,
): Promise<{ primary: string; targetTime: string; beforeTarget: string }> {
  const insert = async (from: number, to: number) => expect(await cluster.sql('postgres-write',
    `INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(${from}, ${to}) g`)).toMatchObject({ code: 0 });
  await insert(101, 250);
  for (const replica of [POD(0), POD(2)]) {
    await waitFor(`${replica} to replay rows 101-250`, async () => (await cluster.podSql(replica, 'SELECT count(*) FROM orders', 'myapp').catch(() => '')) === '250', 30_000, 100);
  }
  await cluster.killPod(POD(1));
  const failover = await cluster.runJob('postgres-failover');
  expect(failover.code).toBe(0);
  const primary = [POD(0), POD(2)].find(p => cluster.pod(p).labels.role === 'primary')!;
  expect(primary).toBeDefined();
  await insert(251, 300);
  const beforeTarget = await cluster.podSql(primary, ORDER_ROWS, 'myapp');
  expect(beforeTarget).toMatch(/^300\|45150\|/);
  await sleep(1100);
  const targetTime = await cluster.podSql(primary, 'SELECT now()');
  await sleep(1100);
  await insert(301, 400);
  const checked = await check(primary);
  expect([checked.code, checked.stderr]).toEqual([0, '']);
  cluster.startPod(POD(1));
  await expectOnlyPrimary(cluster, primary, [POD(0), POD(1), POD(2)]);
  return { primary, targetTime, beforeTarget };
}
