/**
 * Automatic failover against Patroni, at equal settings, in one run: the primary's whole pod (node) is killed with
 * SIGKILL while a client writes continuously; the time from the kill to the first write acknowledged by another node,
 * rows lost (acknowledged rows missing on the new primary), and how long the old primary takes to stream again once it
 * is started again. Medians of several runs; the figures side by side. Run as root.
 *
 *   npx projen bench:automatic-failover [runs]      (runs: 3 by default)
 *
 * Ours: the e2e harness (real PostgreSQL 15, the synthesized manifest, the agent), automaticFailover with lease L,
 * renew interval R, renew deadline D (BENCH_LEASE, default 10; R = 2; D = L - 4), minimumFailoverIntervalSeconds: 0; the
 * client writes through the write Service. Killing the pod SIGKILLs every process in its network namespace.
 *
 * Patroni: Debian's patroni (apt-get install patroni etcd-server) with one etcd (v3 API) and three nodes on 127.0.0.1
 * (PostgreSQL 5441-5443, REST 8011-8013), the same PostgreSQL 15 binaries, as user postgres; ttl = L, loop_wait = R,
 * retry_timeout = (L - R) / 2, the largest Patroni accepts (it requires loop_wait + 2 × retry_timeout ≤ ttl; it plays
 * the renew deadline's part: the leader demotes itself when it cannot update its key within it),
 * maximum_lag_on_failover 1 MiB as ours. The client is the same loop (a new psql connection per row, retried 20 ms
 * after a failure) with a libpq multi-host string and target_session_attrs=read-write, connect_timeout=1. Killing the
 * node SIGKILLs its patroni, its postmaster and every child of the postmaster.
 *
 * Second event, "delete": the primary's pod deleted, as `kubectl delete pod`, a drain or an eviction does: the kubelet's
 * SIGTERM, then the grace period. Ours: the harness's graceful deletion (the agents hand the primary over first), the
 * StatefulSet then makes the pod anew. Patroni: SIGTERM to its patroni (a container's first process, which is what the
 * kubelet signals), which stops its PostgreSQL and gives up its leader key; started again for the rejoin.
 *
 * BENCH_SIDES=ours,patroni, BENCH_MODES=async,sync and BENCH_EVENTS=kill,delete choose what runs (all by default; sync:
 * synchronousReplicas: 1 against Patroni's synchronous_mode: true). BENCH_KEEP=1 keeps Patroni's temporary directory.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { E2eCluster } from '../test/e2e/harness/cluster';
import { waitFor } from '../test/e2e/harness/exec';
import { leader, streamingFrom, synthesizeToFile, valuesOn, Writer, writerScript } from '../test/e2e/support';

const RUNS = Number(process.argv[2] ?? 3);
const LEASE = Number(process.env.BENCH_LEASE ?? 10);
const RENEW = 2;
const DEADLINE = LEASE - 4;
const RETRY_TIMEOUT = Math.floor((LEASE - RENEW) / 2);
const SIDES = (process.env.BENCH_SIDES ?? 'ours,patroni').split(',');
const MODES = (process.env.BENCH_MODES ?? 'async,sync').split(',') as Mode[];
const EVENTS = (process.env.BENCH_EVENTS ?? 'kill,delete').split(',') as Event[];

type Mode = 'async' | 'sync';
/** kill: the node is lost (every process SIGKILLed, nothing told); delete: the pod deleted (SIGTERM, then its grace period). */
type Event = 'kill' | 'delete';
type Attempt = { ok: boolean; startedAt: number; server?: string };
/**
 * A write acknowledged by another server than the old primary's, begun at or after the event: a deleted primary serves
 * until it stops (ours: until its agent hands over), so only a write elsewhere counts.
 */
const writtenElsewhere = (since: number, oldServer: string) => (a: Attempt) => a.ok && a.startedAt >= since && a.server !== oldServer;
interface Sample { writeMs: number; lost: number; rejoinMs: number; from: string; to: string }

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));
const load = () => os.loadavg().map(l => l.toFixed(2)).join(' ');
const line = (side: string, event: Event, i: number, s: Sample) =>
  console.log(`  ${side} run ${i + 1}: ${s.from} ${event === 'kill' ? 'killed' : 'deleted'} → first write on ${s.to} after ${s.writeMs} ms; rows lost ${s.lost}; `
    + `old primary streaming ${s.rejoinMs} ms after its restart (load ${load()})`);

/** Cleanups to run however the bench ends (an error, Ctrl-C). */
const cleanups: Array<() => Promise<void> | void> = [];
async function cleanUp(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      console.error(`cleanup: ${(error as Error).message}`);
    }
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
}

// ---------------------------------------------------------------------------------------------------------------- ours

async function ours(mode: Mode, event: Event): Promise<Sample[]> {
  const manifest = synthesizeToFile({
    synchronousReplicas: mode === 'sync' ? 1 : 0,
    automaticFailover: {
      leaseDurationSeconds: LEASE,
      renewIntervalSeconds: RENEW,
      renewDeadlineSeconds: DEADLINE,
      minimumFailoverIntervalSeconds: 0,
    },
  });
  const cluster = await E2eCluster.start({ manifest, replicas: 3 });
  const destroy = () => cluster.destroy();
  cleanups.push(destroy);
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const table = `bench_af_${mode}_${event}_${i}`;
      const old = await waitFor('a primary behind the write Service', () => cluster.endpoints('postgres-write')[0], 30_000);
      const pods = cluster.livePods().map(p => p.name);
      await waitFor('every replica streaming', async () => (await streamingFrom(cluster, old)).length === pods.length - 1, 90_000, 250);
      await cluster.sql('postgres-write', `CREATE TABLE ${table} (v int PRIMARY KEY)`);
      await waitFor('the table on every pod', async () => {
        for (const p of pods) if ((await cluster.podSql(p, `SELECT to_regclass('${table}') IS NOT NULL`, 'myapp')) !== 't') return false;
        return true;
      }, 30_000);
      const writer = new Writer(cluster, table);
      writer.start();
      // BENCH_VERBOSE=1: a run slower than BENCH_VERBOSE_OVER_MS (1000) prints what the agents and servers logged.
      const watched = pods.map(p => ({ name: p, pod: cluster.pod(p), agent: cluster.pod(p).logMark('role-labeler'), server: cluster.pod(p).logMark('postgres') }));
      let killed = 0;
      let deleting: Promise<void> | undefined;
      try {
        await waitFor('writes before the kill', () => writer.acknowledged.length >= 10, 30_000);
        // Some renewals after the last change, so that the kill falls anywhere in a renew interval.
        await sleep(Math.random() * RENEW * 1000);
        killed = Date.now();
        if (event === 'kill') await cluster.killPod(old);
        else deleting = cluster.deletePod(old);
        await waitFor('a write on a new primary', () => writer.attempts.some(writtenElsewhere(killed, old)), (LEASE + 30) * 1000, 20);
        await waitFor('more writes', () => writer.attempts.filter(writtenElsewhere(killed, old)).length >= 10, 30_000);
      } finally {
        await writer.stop();
      }
      const first = writer.attempts.find(writtenElsewhere(killed, old))!;
      const promoted = first.server!;
      if (leader(cluster).primary !== promoted) throw new Error(`the record names ${leader(cluster).primary}, the write went to ${promoted}`);
      const rows = new Set(await valuesOn(cluster, promoted, table));
      const lost = writer.acknowledged.filter(v => !rows.has(v)).length;
      // A deleted pod is made anew by the StatefulSet: its rejoin counts from the deletion's end.
      await deleting;
      const restarted = Date.now();
      if (event === 'kill') cluster.startPod(old);
      await waitFor(`${old} streaming from ${promoted}`, async () => (await streamingFrom(cluster, promoted)).includes(old), 120_000, 100);
      const sample = { writeMs: first.at - killed, lost, rejoinMs: Date.now() - restarted, from: old, to: promoted };
      line(`ours (${mode})`, event, i, sample);
      if (process.env.BENCH_VERBOSE && sample.writeMs > Number(process.env.BENCH_VERBOSE_OVER_MS ?? 1000)) {
        console.log(`  (${event} at ${new Date(killed).toISOString()})\n${watched.map(w => `-- ${w.name} role-labeler --\n${w.pod.logSince(w.agent, 'role-labeler')}`
          + `-- ${w.name} postgres --\n${w.pod.logSince(w.server, 'postgres')}`).join('')}`);
      }
      samples.push(sample);
    }
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await cluster.serverDiagnostics().catch(() => '')}\n${cluster.diagnostics()}`);
  } finally {
    cleanups.splice(cleanups.indexOf(destroy), 1);
    await cluster.destroy();
  }
  return samples;
}

// ------------------------------------------------------------------------------------------------------------- Patroni

const PG_BIN = '/usr/lib/postgresql/15/bin';
const NODES = [1, 2, 3].map(n => ({ name: `node${n}`, pgPort: 5440 + n, restPort: 8010 + n }));
type Node = typeof NODES[number];
const ETCD_CLIENT = 'http://127.0.0.1:23790';

/** The pids of a process's descendants, from /proc. */
function descendants(pids: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...children.get(ppid) ?? [], Number(entry)]);
    } catch {
      // gone
    }
  }
  const found: number[] = [];
  const queue = [...pids];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function kill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

class PatroniCluster {
  public readonly dir = fs.mkdtempSync('/var/tmp/bench-patroni-');
  private etcd?: ChildProcess;
  private readonly patroni = new Map<string, ChildProcess>();

  constructor(private readonly mode: Mode) {
    fs.chmodSync(this.dir, 0o755);
    for (const node of NODES) fs.writeFileSync(this.config(node), this.yaml(node));
    execFileSync('chown', ['-R', 'postgres:postgres', this.dir]);
  }

  private config(node: Node): string {
    return path.join(this.dir, `${node.name}.yml`);
  }

  private dataDir(node: Node): string {
    return path.join(this.dir, node.name);
  }

  private yaml(node: Node): string {
    return `scope: bench
name: ${node.name}
log:
  level: INFO
restapi:
  listen: 127.0.0.1:${node.restPort}
  connect_address: 127.0.0.1:${node.restPort}
etcd3:
  hosts: 127.0.0.1:23790
bootstrap:
  dcs:
    ttl: ${LEASE}
    loop_wait: ${RENEW}
    retry_timeout: ${RETRY_TIMEOUT}
    maximum_lag_on_failover: 1048576
    synchronous_mode: ${this.mode === 'sync'}
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
  initdb:
  - encoding: UTF8
  - data-checksums
  pg_hba:
  - local all all trust
  - host replication replicator 127.0.0.1/32 trust
  - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${node.pgPort}
  connect_address: 127.0.0.1:${node.pgPort}
  data_dir: ${this.dataDir(node)}
  bin_dir: ${PG_BIN}
  pgpass: ${path.join(this.dir, `${node.name}.pgpass`)}
  authentication:
    replication: { username: replicator, password: rep }
    superuser: { username: postgres, password: postgres }
    rewind: { username: postgres, password: postgres }
  parameters:
    unix_socket_directories: ${this.dir}
tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false }
`;
  }

  public async start(): Promise<void> {
    const etcdData = path.join(this.dir, 'etcd');
    const etcdLog = fs.openSync(path.join(this.dir, 'etcd.log'), 'a');
    this.etcd = spawn('etcd', ['--name', 'bench', '--data-dir', etcdData,
      '--listen-client-urls', ETCD_CLIENT, '--advertise-client-urls', ETCD_CLIENT,
      '--listen-peer-urls', 'http://127.0.0.1:23800', '--initial-advertise-peer-urls', 'http://127.0.0.1:23800',
      '--initial-cluster', 'bench=http://127.0.0.1:23800', '--initial-cluster-state', 'new'],
    { stdio: ['ignore', etcdLog, etcdLog] });
    fs.closeSync(etcdLog);
    const healthy = async () => ((await fetch(`${ETCD_CLIENT}/health`).then(r => r.json()).catch(() => ({}))) as { health?: string }).health === 'true';
    await waitFor('etcd', healthy, 30_000, 100);
    // The first node bootstraps (initdb), then the two others clone it.
    this.startNode(NODES[0]);
    await waitFor('a Patroni leader', async () => (await this.leader()) !== undefined, 90_000, 250);
    this.startNode(NODES[1]);
    this.startNode(NODES[2]);
    await this.waitForStreaming(120_000);
  }

  public startNode(node: Node): void {
    const log = fs.openSync(path.join(this.dir, `${node.name}.log`), 'a');
    // setpriv execs: the pid is patroni's own.
    const child = spawn('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', 'patroni', this.config(node)], {
      stdio: ['ignore', log, log],
      env: { PATH: '/usr/bin:/bin', HOME: this.dir, LANG: 'C.UTF-8' },
      cwd: this.dir,
    });
    fs.closeSync(log);
    this.patroni.set(node.name, child);
  }

  /**
   * The node's pod deleted: SIGTERM to its patroni, as the kubelet signals a container's first process; it stops its
   * PostgreSQL and gives up the leader key. Resolves once patroni has exited (the pod's grace period, at most 30 s).
   */
  public async stopNode(node: Node): Promise<void> {
    const patroni = this.patroni.get(node.name);
    if (!patroni?.pid || patroni.exitCode !== null || patroni.signalCode !== null) return;
    const exited = new Promise(resolve => patroni.once('exit', resolve));
    kill(patroni.pid, 'SIGTERM');
    const timer = setTimeout(() => this.killNode(node), 30_000);
    await exited;
    clearTimeout(timer);
    this.patroni.delete(node.name);
  }

  /** The node's pod dies: its patroni, its postmaster and the postmaster's children, SIGKILL. */
  public killNode(node: Node): void {
    const pids: number[] = [];
    const patroni = this.patroni.get(node.name);
    if (patroni?.pid && patroni.exitCode === null && patroni.signalCode === null) pids.push(patroni.pid);
    const postmaster = this.postmaster(node);
    if (postmaster) pids.push(postmaster);
    const all = [...pids, ...descendants(pids)];
    for (const pid of all) kill(pid, 'SIGSTOP');
    for (const pid of [...all, ...descendants(all)]) kill(pid, 'SIGKILL');
    this.patroni.delete(node.name);
  }

  private postmaster(node: Node): number | undefined {
    try {
      const pid = Number(fs.readFileSync(path.join(this.dataDir(node), 'postmaster.pid'), 'utf8').split('\n')[0]);
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes(this.dataDir(node)) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** The leader's node, by Patroni's REST API (GET /primary: 200 on the leader only). */
  public async leader(): Promise<Node | undefined> {
    for (const node of NODES) {
      const status = await fetch(`http://127.0.0.1:${node.restPort}/primary`, { signal: AbortSignal.timeout(1000) }).then(r => r.status).catch(() => 0);
      if (status === 200) return node;
    }
    return undefined;
  }

  public psql(node: Node, sql: string): string {
    return execFileSync(`${PG_BIN}/psql`, ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(node.pgPort), '-U', 'postgres', '-d', 'postgres', '-c', sql],
      { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  }

  /** application_name of the replicas streaming from the node (Patroni's: the node names). */
  public streamingFrom(node: Node): string[] {
    try {
      const out = this.psql(node, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1");
      return out ? out.split('\n') : [];
    } catch {
      return [];
    }
  }

  /**
   * The leader once both replicas stream from it and, in synchronous mode, Patroni has recorded a synchronous standby
   * in etcd (role sync_standby in GET /cluster): until then Patroni refuses to fail over (no node may promote), so a
   * kill right after a rejoin would wait forever.
   */
  public async waitForStreaming(timeoutMs: number): Promise<Node> {
    return waitFor('a Patroni leader, two streaming replicas' + (this.mode === 'sync' ? ', a synchronous standby' : ''), async () => {
      const leaderNode = await this.leader();
      if (!leaderNode || this.streamingFrom(leaderNode).length !== 2) return undefined;
      if (this.mode === 'sync') {
        const cluster = await fetch(`http://127.0.0.1:${leaderNode.restPort}/cluster`, { signal: AbortSignal.timeout(1000) })
          .then(r => r.json()).catch(() => ({})) as { members?: Array<{ role: string }> };
        if (!cluster.members?.some(m => m.role === 'sync_standby')) return undefined;
      }
      return leaderNode;
    }, timeoutMs, 250);
  }

  public async destroy(): Promise<void> {
    for (const node of NODES) this.killNode(node);
    if (this.etcd?.pid) kill(this.etcd.pid);
    await sleep(200);
    if (process.env.BENCH_KEEP) console.log(`Patroni's directory kept: ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The e2e Writer's loop, against Patroni's nodes: a libpq multi-host string that connects to the read-write node. */
class PatroniWriter {
  public readonly acknowledged: number[] = [];
  public readonly attempts: Array<{ startedAt: number; at: number; ok: boolean; server?: string }> = [];
  private process?: ChildProcess;
  private ended?: Promise<void>;

  constructor(private readonly table: string) {}

  public start(): void {
    const conninfo = `host=${NODES.map(() => '127.0.0.1').join(',')} port=${NODES.map(n => n.pgPort).join(',')} `
      + 'user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=1';
    const child = spawn('bash', ['-c', PATRONI_WRITER_SCRIPT, 'client', conninfo, this.table], {
      env: { PATH: `${PG_BIN}:/usr/bin:/bin` },
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    this.process = child;
    let pending = '';
    child.stdout!.on('data', chunk => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) {
        const [v, started, ended, code, answer = ''] = l.split(' ');
        if (ended === undefined) continue;
        const [value, server] = answer.split('|');
        const ok = code === '0' && value === v;
        this.attempts.push({ startedAt: Math.round(Number(started) * 1000), at: Math.round(Number(ended) * 1000), ok, server: ok ? server : undefined });
        if (ok) this.acknowledged.push(Number(v));
      }
    });
    this.ended = new Promise(resolve => child.once('close', () => resolve()));
  }

  public async stop(): Promise<void> {
    const child = this.process;
    if (!child) return;
    kill(child.pid!, 'SIGTERM');
    const timer = setTimeout(() => kill(-child.pid!, 'SIGKILL'), 15_000);
    await this.ended;
    clearTimeout(timer);
    this.process = undefined;
  }
}

/** The e2e Writer's loop: $1 a whole connection string (libpq's multi-host), $2 the table; the server named by its port. */
const PATRONI_WRITER_SCRIPT = writerScript('"$1"', 'inet_server_port()');

async function patroni(mode: Mode, event: Event): Promise<Sample[]> {
  const cluster = new PatroniCluster(mode);
  const destroy = () => cluster.destroy();
  cleanups.push(destroy);
  const samples: Sample[] = [];
  try {
    await cluster.start();
    for (let i = 0; i < RUNS; i++) {
      const table = `bench_af_${mode}_${event}_${i}`;
      const old = await cluster.waitForStreaming(120_000);
      cluster.psql(old, `CREATE TABLE ${table} (v int PRIMARY KEY)`);
      await waitFor('the table on every node', () => NODES.every(n => {
        try {
          return cluster.psql(n, `SELECT to_regclass('${table}') IS NOT NULL`) === 't';
        } catch {
          return false;
        }
      }), 30_000);
      const writer = new PatroniWriter(table);
      writer.start();
      let killed = 0;
      let stopping: Promise<void> | undefined;
      try {
        await waitFor('writes before the kill', () => writer.acknowledged.length >= 10, 30_000);
        await sleep(Math.random() * RENEW * 1000);
        killed = Date.now();
        if (event === 'kill') cluster.killNode(old);
        else stopping = cluster.stopNode(old);
        await waitFor('a write on a new leader', () => writer.attempts.some(writtenElsewhere(killed, String(old.pgPort))), (LEASE + 60) * 1000, 20);
        await waitFor('more writes', () => writer.attempts.filter(writtenElsewhere(killed, String(old.pgPort))).length >= 10, 30_000);
      } finally {
        await writer.stop();
      }
      const first = writer.attempts.find(writtenElsewhere(killed, String(old.pgPort)))!;
      const promoted = NODES.find(n => String(n.pgPort) === first.server)!;
      const rows = new Set(cluster.psql(promoted, `SELECT v FROM ${table}`).split('\n').filter(Boolean).map(Number));
      const lost = writer.acknowledged.filter(v => !rows.has(v)).length;
      await stopping;
      const restarted = Date.now();
      cluster.startNode(old);
      await waitFor(`${old.name} streaming from ${promoted.name}`, () => cluster.streamingFrom(promoted).includes(old.name), 180_000, 100);
      const sample = { writeMs: first.at - killed, lost, rejoinMs: Date.now() - restarted, from: old.name, to: promoted.name };
      line(`Patroni (${mode})`, event, i, sample);
      samples.push(sample);
    }
  } catch (error) {
    console.error(`${(error as Error).message}\nPatroni's logs: ${cluster.dir} (kept)`);
    process.env.BENCH_KEEP = '1';
    throw error;
  } finally {
    cleanups.splice(cleanups.indexOf(destroy), 1);
    await cluster.destroy();
  }
  return samples;
}

// ------------------------------------------------------------------------------------------------------------- summary

const summary = (samples: Sample[]) => samples.length
  ? `median ${(median(samples.map(s => s.writeMs)) / 1000).toFixed(2)} s (runs ${samples.map(s => (s.writeMs / 1000).toFixed(2)).join(', ')}; `
    + `rows lost ${samples.map(s => s.lost).join(', ')}; rejoin median ${(median(samples.map(s => s.rejoinMs)) / 1000).toFixed(1)} s)`
  : 'not run';

void (async () => {
  console.log(`automatic failover bench: ${RUNS} runs per side; ours lease ${LEASE} s, renew ${RENEW} s, deadline ${DEADLINE} s; `
    + `Patroni ttl ${LEASE}, loop_wait ${RENEW}, retry_timeout ${RETRY_TIMEOUT}; load at start ${load()} (${os.cpus().length} CPUs)`);
  const results: string[] = [];
  let failed = false;
  for (const event of EVENTS) {
    for (const mode of MODES) {
      let mine: Sample[] = [];
      let theirs: Sample[] = [];
      // One side failing does not stop the other; the whole error (the cluster's diagnostics) goes to a file.
      for (const [side, run] of [['ours', ours], ['patroni', patroni]] as const) {
        if (!SIDES.includes(side)) continue;
        try {
          if (side === 'ours') mine = await run(mode, event);
          else theirs = await run(mode, event);
        } catch (error) {
          const file = path.join(os.tmpdir(), `bench-automatic-failover-${side}-${mode}-${event}-${Date.now()}.log`);
          fs.writeFileSync(file, `${(error as Error).stack ?? error}\n`);
          console.error(`${side} (${mode}, ${event}) FAILED: ${(error as Error).message.split('\n')[0]} (the whole error: ${file})`);
          failed = true;
        }
      }
      const x = mine.length ? median(mine.map(s => s.writeMs)) : NaN;
      const y = theirs.length ? median(theirs.map(s => s.writeMs)) : NaN;
      const ratio = x / y;
      const verdict = !mine.length ? '' : `; ≤ ${LEASE + 2} s ${x <= (LEASE + 2) * 1000 ? 'met' : 'MISSED'}`
        + (theirs.length ? `, ≤ 0.5×Patroni ${ratio <= 0.5 ? 'met' : 'MISSED'}` : '');
      const what = event === 'kill' ? 'primary\'s node lost (SIGKILL)' : 'primary\'s pod deleted (SIGTERM)';
      results.push(`${what}, ${mode}, lease ${LEASE} s: ours ${summary(mine)}, Patroni ttl ${LEASE} ${summary(theirs)}; `
        + `ratio ${Number.isNaN(ratio) ? 'n/a' : ratio.toFixed(2)}; target: ≤ ${LEASE + 2} s and ≤ 0.5×Patroni${verdict}`);
    }
  }
  console.log(`\n${results.join('\n')}\nload at end ${load()}`);
  await cleanUp();
  process.exit(failed ? 1 : 0);
})().catch(async error => {
  console.error(error);
  await cleanUp();
  process.exit(1);
});
