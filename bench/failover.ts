/**
 * Switchover and failover times on real PostgreSQL 15, through the e2e harness (run as root):
 * from the creation of the failover job's run to the first write accepted through the write
 * Service by the new primary, while a client writes continuously; rows lost; and how long the old
 * primary takes to stream again as a replica. Prints medians of several runs.
 *   npx ts-node --transpile-only -P test/tsconfig.json bench/failover.ts [runs]
 */
import * as path from 'path';
import { E2eCluster } from '../test/e2e/harness/cluster';
import { waitFor } from '../test/e2e/harness/exec';
import { streamingFrom, synthesizeToFile, valuesOn, Writer } from '../test/e2e/support';

const RUNS = Number(process.argv[2] ?? 5);
const DIST = path.join(__dirname, '..', 'dist', 'postgres-cluster.k8s.yaml');

interface Sample { writeMs: number; servesMs: number; jobMs: number; lost: number; rejoinMs: number }

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function primaryOf(cluster: E2eCluster): Promise<string> {
  return waitFor('a primary behind the write Service', () => cluster.endpoints('postgres-write')[0], 30_000);
}

type Kind = 'switchover' | 'failover' | 'request';

async function event(cluster: E2eCluster, kind: Kind, table: string): Promise<Sample> {
  const old = await primaryOf(cluster);
  const pods = cluster.livePods().map(p => p.name);
  const target = pods.find(p => p !== old)!;
  // A planned switchover of a settled cluster: every pod Ready with its role label, as the job reads them from the API
  // (a target not yet shown Ready, such as the old primary of the run before, is asked through pods/exec: ~60 ms more).
  await waitFor('every pod Ready with its role label', () => cluster.livePods().every(p => p.ready && (p.labels.role === 'primary' || p.labels.role === 'replica')),
    30_000);
  const writer = new Writer(cluster, table);
  writer.start();
  await waitFor('writes before the event', () => writer.acknowledged.length >= 10, 30_000);
  if (kind === 'failover') await cluster.killPod(old);
  const marks = new Map(pods.map(p => [p, cluster.pod(p).logMark('role-labeler')]));
  const serverMarks = new Map(pods.map(p => [p, cluster.pod(p).logMark('postgres')]));
  const created = Date.now();
  // When the write Service's one endpoint is another pod than the old primary (the new primary, labeled once it serves):
  // what the cluster does, apart from the client, whose connection attempt to a killed pod's address waits for TCP's
  // first retransmission (1 s) before it tries again.
  let servesAt: number | undefined;
  const serving = (async () => {
    while (servesAt === undefined && Date.now() - created < 30_000) {
      const endpoints = cluster.endpoints('postgres-write');
      if (endpoints.length === 1 && endpoints[0] !== old) servesAt = Date.now();
      else await new Promise(resolve => setTimeout(resolve, 5));
    }
  })();
  // A switchover asked for on the record (an annotation, by the tests' real kubectl: its own start, ~100 ms, counts), or the job.
  const run = kind === 'request'
    ? await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `switchover.postgres.cdk8s.io/target=${target}`])
    : await cluster.runJob('postgres-failover', kind === 'switchover' ? { FAILOVER_TARGET: target } : {});
  const jobMs = Date.now() - created;
  await serving;
  if (run.code !== 0) throw new Error(`the ${kind === 'request' ? 'annotation' : 'failover job'} failed:\n${run.stdout}${run.stderr}`);
  const promoted = kind === 'request' ? target : /promoting (\S+)/.exec(run.stdout)![1];
  const firstWrite = await waitFor('a write on the new primary', () => writer.firstSuccessAfter(created, promoted), 30_000, 20);
  await waitFor('more writes', () => writer.attempts.filter(a => a.ok && a.server === promoted).length >= 10, 30_000);
  await writer.stop();
  const rows = new Set(await valuesOn(cluster, promoted, table));
  const lost = writer.acknowledged.filter(v => !rows.has(v)).length;
  const rejoinFrom = Date.now();
  if (kind === 'failover') cluster.startPod(old);
  await waitFor(`${old} streaming from ${promoted}`, async () => (await streamingFrom(cluster, promoted)).includes(old), 60_000, 100);
  const rejoinMs = kind === 'failover' ? Date.now() - rejoinFrom : Date.now() - created;
  if (firstWrite - created > Number(process.env.BENCH_VERBOSE_OVER_MS ?? 3000) && process.env.BENCH_VERBOSE) {
    const sidecars = pods.map(p => `-- ${p} role-labeler --\n${cluster.pod(p).logSince(marks.get(p)!, 'role-labeler')}`
      + `\n-- ${p} postgres --\n${cluster.pod(p).logSince(serverMarks.get(p)!, 'postgres')}`).join('\n');
    console.log(`slow ${kind}: ${firstWrite - created} ms (job created ${new Date(created).toISOString()})\n${run.stdout}\n${sidecars}\n${await cluster.serverDiagnostics()}`);
  }
  if (process.env.BENCH_ATTEMPTS) {
    const around = writer.attempts.filter(a => a.at >= created - 500 && a.startedAt <= firstWrite);
    console.log(around.map(a => `  attempt ${a.startedAt - created}..${a.at - created} ms ${a.ok ? `ok on ${a.server}` : 'failed'}`).join('\n'));
  }
  return { writeMs: firstWrite - created, servesMs: (servesAt ?? Number.NaN) - created, jobMs, lost, rejoinMs };
}

async function series(name: string, manifest: string, kind: Kind): Promise<void> {
  const cluster = await E2eCluster.start({ manifest });
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const table = `bench_${kind}_${i}`;
      await cluster.sql('postgres-write', `CREATE TABLE ${table} (v int PRIMARY KEY)`);
      await waitFor('the table on every pod', async () => {
        for (const p of cluster.livePods()) if ((await cluster.podSql(p.name, `SELECT to_regclass('${table}') IS NOT NULL`, 'myapp')) !== 't') return false;
        return true;
      }, 30_000);
      samples.push(await event(cluster, kind, table));
    }
  } catch (error) {
    console.error(`${(error as Error).message}\n${cluster.diagnostics()}`);
    throw error;
  } finally {
    await cluster.destroy();
  }
  // Targets: switchover 1.0 s, failover after a kill 1.5 s (job creation to first write), a request on the record 0.5 s; rejoin 3 s.
  const target = kind === 'switchover' ? 1000 : kind === 'request' ? 500 : 1500;
  const write = median(samples.map(s => s.writeMs));
  const lost = samples.reduce((n, s) => n + s.lost, 0);
  const rejoin = median(samples.map(s => s.rejoinMs));
  console.log(`${name}: first write on the new primary ${write} ms after the ${kind === 'request' ? 'request' : 'job'} was created (median of ${samples.length}; `
    + `all: ${samples.map(s => s.writeMs).join(', ')}; target <= ${target}) ${write <= target ? 'OK' : 'MISSED'}`);
  console.log(`${name}: the write Service's one endpoint the new primary ${median(samples.map(s => s.servesMs))} ms after (all: `
    + `${samples.map(s => s.servesMs).join(', ')})`);
  console.log(`${name}: job run ${median(samples.map(s => s.jobMs))} ms; rows lost: ${lost} in all runs`
    + `; old primary streaming again after ${rejoin} ms (target <= 3000) ${rejoin <= 3000 ? 'OK' : 'MISSED'}`);
}

// BENCH_SERIES=request,switchover,failover,sync,archive runs some of the series only (the first four by default; archive: a
// switchover with WAL archiving on, pgBackRest pushing each segment, whose fast shutdown archives the last one).
const SERIES = (process.env.BENCH_SERIES ?? 'request,switchover,failover,sync').split(',');

void (async () => {
  if (SERIES.includes('request')) await series('switchover by request on the record (async)', DIST, 'request');
  if (SERIES.includes('switchover')) await series('planned switchover (async)', DIST, 'switchover');
  if (SERIES.includes('failover')) await series('failover after SIGKILL (async)', DIST, 'failover');
  if (SERIES.includes('sync')) await series('failover after SIGKILL (synchronousReplicas: 1)', synthesizeToFile({ synchronousReplicas: 1 }), 'failover');
  if (SERIES.includes('archive')) {
    await series('planned switchover (async, walArchive)', synthesizeToFile({ image: 'localhost/postgres-pgbackrest:15', walArchive: {} }), 'switchover');
  }
})().catch(() => process.exit(1));
