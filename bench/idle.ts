/**
 * Idle cost of the role-labeler sidecar on real PostgreSQL 15, through the e2e harness (run as root): a 3-pod cluster,
 * settled (every pod ready, both replicas streaming, then IDLE_SETTLE_SECONDS more), left alone for IDLE_SECONDS;
 * the CPU time and peak memory of the three `role-labeler` containers, for the bash sidecar (role-labeler.sh, which
 * starts kubectl and psql processes every second: the manifest of commit cca4a67) against the Node.js agent (one
 * process per pod: dist/ as it is now), one cluster after the other, never both at once. Target: the agent uses at
 * most a fifth of the bash sidecar's CPU.
 *   IDLE_SECONDS=60 npx ts-node --transpile-only -P test/tsconfig.json bench/idle.ts
 *
 * A container's processes: the harness starts each container as a session of its own (a detached child, whose
 * launcher execs the container's command under the same pid) and kills it as that pid's process group. They are
 * here the processes whose session is the container's main pid, and their descendants (by ppid).
 *   - CPU: utime + stime + cutime + cstime (/proc/<pid>/stat) of those processes at the end of the window, less the
 *     same at its start. cutime and cstime hold the children a process has waited for (kubectl, psql, bash's
 *     subshells: most of the bash sidecar's cost); a process that vanished during the window without a measured
 *     parent (orphaned, reaped by init) is added with its time as last sampled.
 *   - Processes started: the distinct processes (pid and start time) seen in the containers, sampled every
 *     IDLE_SAMPLE_MS (100 ms), that were not there at the window's start: a lower bound (one that lives less than a
 *     sampling interval may be missed; its CPU is not, being in its parent's cutime).
 *   - Peak memory: the largest sum of VmRSS (/proc/<pid>/status) over the three containers' processes at one sample
 *     (shared pages, e.g. libraries, count once per process).
 * Also printed, not part of the target: the postgres containers' CPU over the window (the backends of psql's
 * connections; the agent's kept connection) and this process's (the API stand-in serving the sidecars' requests,
 * the harness, the sampler).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { E2eCluster } from '../test/e2e/harness/cluster';
import { sleep, waitFor } from '../test/e2e/harness/exec';
import { Container } from '../test/e2e/harness/pod';

const SECONDS = Number(process.env.IDLE_SECONDS ?? 60);
const SETTLE_SECONDS = Number(process.env.IDLE_SETTLE_SECONDS ?? 10);
const SAMPLE_MS = Number(process.env.IDLE_SAMPLE_MS ?? 100);
/** The commit whose manifest has the bash sidecar (role-labeler.sh, the kubectl init container). */
const BASH_COMMIT = 'cca4a67';
const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist', 'postgres-cluster.k8s.yaml');
const SIDECAR = 'role-labeler';
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const TARGET = 0.2;

/** What /proc/<pid>/stat says of a process. */
interface Proc {
  readonly pid: number;
  readonly comm: string;
  readonly ppid: number;
  readonly session: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  readonly ticks: number;
  /** starttime: with the pid, names the process across pid reuse. */
  readonly key: string;
}

function readProc(pid: number): Proc | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone
  }
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  // Fields from the 3rd (state) on: field n is at n - 3.
  const f = text.slice(close + 2).split(' ');
  const field = (n: number) => Number(f[n - 3]);
  return {
    pid,
    comm,
    ppid: field(4),
    session: field(6),
    ticks: field(14) + field(15) + field(16) + field(17),
    key: `${pid}@${f[22 - 3]}`,
  };
}

function allProcesses(): Proc[] {
  const procs: Proc[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const proc = readProc(Number(entry));
    if (proc) procs.push(proc);
  }
  return procs;
}

/** The processes of a container: its session (the main pid's), and their descendants (postgres's backends start sessions of their own). */
function containerProcesses(all: readonly Proc[], main: number | undefined): Proc[] {
  if (main === undefined) return [];
  const children = new Map<number, Proc[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const found = new Map<number, Proc>();
  const queue = all.filter(p => p.session === main || p.pid === main);
  while (queue.length > 0) {
    const p = queue.pop()!;
    if (found.has(p.pid)) continue;
    found.set(p.pid, p);
    queue.push(...(children.get(p.pid) ?? []));
  }
  return [...found.values()];
}

function rssKib(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0; // a zombie has none
  } catch {
    return 0;
  }
}

const mainPid = (c: Container) => (c.running ? c.process?.pid : undefined);

interface Figures {
  readonly name: string;
  readonly seconds: number;
  /** The three sidecars' CPU over the window, in seconds, and of which orphans reaped outside them. */
  readonly cpu: number;
  readonly orphanCpu: number;
  readonly perPod: number[];
  /** Largest sum of the three sidecars' VmRSS at one sample, MiB; and the largest of one sidecar. */
  readonly peakRss: number;
  readonly peakPodRss: number;
  readonly started: number;
  /** Processes seen in the sidecars during the window, by command name. */
  readonly commands: Map<string, number>;
  readonly samples: number;
  readonly postgresCpu: number;
  readonly harnessCpu: number;
  readonly samplerCpu: number;
  readonly restarts: number;
  /** The sidecars' main processes (command names) at the end. */
  readonly mains: string;
  /** The sidecar's requests in the manifest. */
  readonly requests: { cpu: string; memory: string };
}

/** Measures the sidecars of a settled cluster over the window. */
async function measure(name: string, cluster: E2eCluster): Promise<Figures> {
  const pods = cluster.livePods().sort((a, b) => a.name.localeCompare(b.name));
  const sidecars = pods.map(p => p.container(SIDECAR));
  const servers = pods.map(p => p.container('postgres'));
  const restartsBefore = sidecars.reduce((n, c) => n + c.restarts, 0);
  const podTicks = (all: Proc[], c: Container) => containerProcesses(all, mainPid(c)).reduce((n, p) => n + p.ticks, 0);

  // Every process seen in a sidecar: its last sample (ticks, parent) and whether it was still in its container then.
  const seen = new Map<string, { proc: Proc; pod: number; parentMeasured: boolean; lastSample: number }>();
  const atStart = new Set<string>();
  const vanishedOrphans: number[] = pods.map(() => 0);
  let peakRss = 0;
  let peakPodRss = 0;
  let samples = 0;
  let samplerMs = 0;

  /** One look at /proc: the sidecars' processes, their memory, the ones that vanished since the last look. */
  const sample = (): Proc[] => {
    const t = performance.now();
    const all = allProcesses();
    let rss = 0;
    sidecars.forEach((c, i) => {
      const procs = containerProcesses(all, mainPid(c));
      const pids = new Set(procs.map(p => p.pid));
      let podRss = 0;
      for (const p of procs) {
        podRss += rssKib(p.pid);
        seen.set(p.key, { proc: p, pod: i, parentMeasured: pids.has(p.ppid), lastSample: samples });
        if (samples === 0) atStart.add(p.key);
      }
      rss += podRss;
      peakPodRss = Math.max(peakPodRss, podRss);
    });
    peakRss = Math.max(peakRss, rss);
    // Gone since the last sample, last seen without a measured parent (it was orphaned): nobody measured waits for it.
    const present = new Set(all.map(p => p.key));
    for (const entry of seen.values()) {
      if (entry.lastSample === samples - 1 && !entry.parentMeasured && !present.has(entry.proc.key)) {
        vanishedOrphans[entry.pod] += entry.proc.ticks;
      }
    }
    samples++;
    samplerMs += performance.now() - t;
    return all;
  };

  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  const first = sample();
  const sidecarStart = sidecars.map(c => podTicks(first, c));
  const serverStart = servers.reduce((n, c) => n + podTicks(first, c), 0);
  const end = startedAt + SECONDS * 1000;
  while (performance.now() < end - SAMPLE_MS) {
    await sleep(Math.max(0, Math.min(SAMPLE_MS, end - performance.now())));
    sample();
  }
  await sleep(Math.max(0, end - performance.now()));
  const last = sample();
  const seconds = (performance.now() - startedAt) / 1000;
  const cpuAfter = process.cpuUsage(cpuBefore);

  const perPodTicks = sidecars.map((c, i) => podTicks(last, c) - sidecarStart[i] + vanishedOrphans[i]);
  const commands = new Map<string, number>();
  for (const { proc } of seen.values()) commands.set(proc.comm, (commands.get(proc.comm) ?? 0) + 1);
  const container = cluster.statefulSet.spec.template.spec.containers.find((c: any) => c.name === SIDECAR);
  return {
    name,
    seconds,
    cpu: perPodTicks.reduce((a, b) => a + b, 0) / TICKS,
    orphanCpu: vanishedOrphans.reduce((a, b) => a + b, 0) / TICKS,
    perPod: perPodTicks.map(t => t / TICKS),
    peakRss: peakRss / 1024,
    peakPodRss: peakPodRss / 1024,
    started: [...seen.keys()].filter(k => !atStart.has(k)).length,
    commands,
    samples,
    postgresCpu: (servers.reduce((n, c) => n + podTicks(last, c), 0) - serverStart) / TICKS,
    harnessCpu: (cpuAfter.user + cpuAfter.system) / 1e6,
    samplerCpu: samplerMs / 1000,
    restarts: sidecars.reduce((n, c) => n + c.restarts, 0) - restartsBefore,
    mains: sidecars.map(c => last.find(p => p.pid === mainPid(c))?.comm ?? '(not running)').join(', '),
    requests: { cpu: container?.resources?.requests?.cpu ?? '?', memory: container?.resources?.requests?.memory ?? '?' },
  };
}

/** Starts the cluster, lets it settle, measures, destroys it. */
async function run(name: string, manifest: string): Promise<Figures> {
  const cluster = await E2eCluster.start({ manifest });
  try {
    const pods = cluster.livePods().map(p => p.name);
    // Settled: both replicas streaming from the primary (the one pod that has two), then a quiet while.
    await waitFor('both replicas streaming', async () => {
      for (const pod of pods) {
        const streaming = await cluster.podSql(pod, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'");
        if (Number(streaming) === pods.length - 1) return true;
      }
      return false;
    }, 60_000, 250);
    await sleep(SETTLE_SECONDS * 1000);
    const figures = await measure(name, cluster);
    const primaries = cluster.endpoints(cluster.manifests.all('Service').find(s => s.spec.selector?.role === 'primary')!.metadata.name);
    if (primaries.length !== 1) throw new Error(`after the window the write Service has ${primaries.length} endpoints: ${primaries.join(', ')}`);
    return figures;
  } catch (error) {
    console.error(`${(error as Error).message}\n${cluster.diagnostics()}`);
    throw error;
  } finally {
    await cluster.destroy();
  }
}

const fixed = (n: number, digits: number) => n.toFixed(digits);

function report(results: Figures[]): void {
  for (const r of results) {
    const commands = [...r.commands].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
    console.log(`${r.name}: ${fixed(r.seconds, 1)} s, ${r.samples} samples; sidecar CPU per pod ${r.perPod.map(s => fixed(s, 2)).join(' / ')} s`
      + ` (of which orphans reaped outside the sidecars: ${fixed(r.orphanCpu, 2)} s); main processes: ${r.mains}; processes seen in the sidecars: ${commands}`
      + `; sidecar requests ${r.requests.cpu} CPU, ${r.requests.memory}${r.restarts ? `; SIDECAR RESTARTS DURING THE WINDOW: ${r.restarts}` : ''}`);
  }
  const heading = `idle ${fixed(results[0].seconds, 0)} s, 3 pods`;
  const rows: string[][] = [
    [heading, 'CPU s (sidecars)', 'per pod (ms/s)', 'peak RSS (MiB, 3 pods)', 'peak RSS (MiB, 1 pod)', 'processes started',
      'CPU s (postgres containers)', 'CPU s (harness process)'],
    ...results.map(r => [r.name, fixed(r.cpu, 2), fixed(r.cpu / 3 / r.seconds * 1000, 1), fixed(r.peakRss, 1), fixed(r.peakPodRss, 1),
      `>= ${r.started}`, fixed(r.postgresCpu, 2), `${fixed(r.harnessCpu, 2)} (sampler ${fixed(r.samplerCpu, 2)})`]),
  ];
  const [bash, agent] = [results.find(r => r.name.startsWith('bash')), results.find(r => r.name.startsWith('agent'))];
  if (bash && agent) {
    const ratio = (a: number, b: number) => (b === 0 ? '-' : fixed(a / b, 3));
    rows.push(['agent / bash', ratio(agent.cpu, bash.cpu), ratio(agent.cpu / agent.seconds, bash.cpu / bash.seconds),
      ratio(agent.peakRss, bash.peakRss), ratio(agent.peakPodRss, bash.peakPodRss), ratio(agent.started, bash.started),
      ratio(agent.postgresCpu, bash.postgresCpu), ratio(agent.harnessCpu, bash.harnessCpu)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)));
  console.log('');
  for (const row of rows) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('   '));
  if (bash && agent) {
    const ratio = (agent.cpu / agent.seconds) / (bash.cpu / bash.seconds);
    console.log(`\nagent / bash sidecar CPU: ${fixed(ratio, 3)} (target <= ${TARGET}) ${ratio <= TARGET ? 'OK' : 'MISSED'}`);
  }
}

// IDLE_VARIANTS=bash or agent measures one of them only.
const VARIANTS = (process.env.IDLE_VARIANTS ?? 'bash,agent').split(',');

void (async () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-idle-'));
  try {
    const results: Figures[] = [];
    if (VARIANTS.includes('bash')) {
      const manifest = path.join(scratch, 'bash-sidecar.k8s.yaml');
      fs.writeFileSync(manifest, execFileSync('git', ['show', `${BASH_COMMIT}:dist/postgres-cluster.k8s.yaml`], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }));
      results.push(await run(`bash sidecar (${BASH_COMMIT})`, manifest));
    }
    if (VARIANTS.includes('agent')) results.push(await run('agent (dist/)', DIST));
    report(results);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
})().catch(error => {
  console.error(error);
  process.exit(1);
});
