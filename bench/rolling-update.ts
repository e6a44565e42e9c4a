/**
 * The write outage of a rolling update of a 3-pod cluster (dist/, real PostgreSQL 15, through the e2e harness, as
 * root), side by side with the anchor, one switchover asked for on the record, in the same run: the longest time
 * between two acknowledged writes of a client that writes continuously through the write Service (one connection per
 * row), the switchovers the update made (epochs of the record), and rows lost. A rolling update is
 * `kubectl rollout restart` (any change of the pod template: an image, a setting that needs a restart): the primary's
 * agent deletes the old revision's replicas one at a time, highest ordinal first, switches over to an updated one, and
 * the new primary's agent deletes the old primary's pod (updateStrategy OnDelete). Each run puts the primary on pod 0,
 * pod 1 and pod 2 (the first the StatefulSet's own RollingUpdate would delete).
 *   npx ts-node --transpile-only -P test/tsconfig.json bench/rolling-update.ts [runs]
 */
import * as path from 'path';
import { E2eCluster } from '../test/e2e/harness/cluster';
import { waitFor } from '../test/e2e/harness/exec';
import { leader, lostRows, streamingFrom, writing } from '../test/e2e/support';

const RUNS = Number(process.argv[2] ?? 3);
const DIST = path.join(__dirname, '..', 'dist', 'postgres-cluster.k8s.yaml');
const POD = (i: number) => `postgres-cluster-${i}`;

interface Sample { outageMs: number; switchovers: number; lost: number; tookMs: number }

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function allStreaming(cluster: E2eCluster): Promise<void> {
  await waitFor('every replica streaming', async () => {
    const record = leader(cluster);
    return record.state === 'stable' && (await streamingFrom(cluster, record.primary)).length === 2;
  }, 90_000, 200);
}

/** Makes `pod` the primary by a switchover asked for on the record, if it is not. */
async function primaryOn(cluster: E2eCluster, pod: string): Promise<void> {
  // Only a streaming standby may take over: the old primary of the last switchover may still be rejoining.
  await allStreaming(cluster);
  // A standby that has just connected streams before it reports a flushed position: the primary refuses (and removes)
  // a request to it until then, so the request is made again.
  for (let attempt = 1; leader(cluster).primary !== pod; attempt++) {
    const run = await cluster.kubectl(['annotate', '--overwrite', 'lease', 'postgres-leader', `switchover.postgres.cdk8s.io/target=${pod}`]);
    if (run.code !== 0) throw new Error(run.stderr);
    const done = await waitFor(`${pod} the primary`, () => leader(cluster).state === 'stable' && leader(cluster).primary === pod, 5_000, 50)
      .then(() => true, error => {
        if (attempt === 6) throw error;
        return false;
      });
    if (done) break;
  }
  await allStreaming(cluster);
}

async function measure(cluster: E2eCluster, what: () => Promise<void>): Promise<Sample> {
  await allStreaming(cluster);
  const before = Number(leader(cluster).epoch);
  const started = Date.now();
  let tookMs = 0;
  const writer = await writing(cluster, async w => {
    await what();
    tookMs = Date.now() - started;
    const done = Date.now();
    await waitFor('writes after it', () => w.attempts.filter(a => a.ok && a.startedAt >= done).length >= 10, 30_000, 50);
  });
  const record = leader(cluster);
  return { outageMs: writer.longestGap().ms, switchovers: Number(record.epoch) - before, lost: (await lostRows(cluster, writer, record.primary)).length, tookMs };
}

function line(name: string, samples: Sample[]): string {
  return `${name.padEnd(44)} outage ${String(median(samples.map(s => s.outageMs))).padStart(5)} ms (max ${Math.max(...samples.map(s => s.outageMs))}), `
    + `switchovers ${samples.map(s => s.switchovers).join('/')}, rows lost ${samples.reduce((n, s) => n + s.lost, 0)}, `
    + `whole update ${(median(samples.map(s => s.tookMs)) / 1000).toFixed(1)} s`;
}

void (async () => {
  const cluster = await E2eCluster.start({ manifest: DIST, replicas: 3 });
  const samples = new Map<string, Sample[]>();
  const add = (name: string, sample: Sample) => {
    samples.set(name, [...samples.get(name) ?? [], sample]);
    console.log(`  ${name}: outage ${sample.outageMs} ms, switchovers ${sample.switchovers}, rows lost ${sample.lost}, ${(sample.tookMs / 1000).toFixed(1)} s`);
  };
  try {
    for (let run = 0; run < RUNS; run++) {
      await primaryOn(cluster, POD(0));
      add('anchor: one switchover (asked on the record)', await measure(cluster, async () => {
        const run = await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `switchover.postgres.cdk8s.io/target=${POD(1)}`]);
        if (run.code !== 0) throw new Error(run.stderr);
        await waitFor('the switchover', () => leader(cluster).state === 'stable' && leader(cluster).primary === POD(1), 30_000, 20);
      }));
      // The reference design's update of the primary: its server restarted in place (a fast shutdown, the container
      // started again by the kubelet), no switchover.
      await primaryOn(cluster, POD(0));
      add('anchor: the primary restarted in place', await measure(cluster, async () => {
        const postgres = cluster.pod(POD(0)).container('postgres');
        const restarts = postgres.restarts;
        await postgres.exec(['pg_ctl', 'stop', '-m', 'fast']).catch(() => undefined);
        await waitFor('the postgres container restarted', () => postgres.restarts > restarts, 30_000, 20);
        await waitFor('the primary serving again', async () => (await cluster.sql('postgres-write', 'SELECT 1', { timeoutMs: 1000 }).catch(() => undefined))?.code === 0, 60_000, 20);
      }));
      await primaryOn(cluster, POD(0));
      add('rolling update, primary on pod 0', await measure(cluster, () => cluster.rolloutRestart()));
      await primaryOn(cluster, POD(1));
      add('rolling update, primary on pod 1', await measure(cluster, () => cluster.rolloutRestart()));
      await primaryOn(cluster, POD(2));
      add('rolling update, primary on pod 2', await measure(cluster, () => cluster.rolloutRestart()));
    }
    const anchor = median(samples.get('anchor: one switchover (asked on the record)')!.map(s => s.outageMs));
    const inPlace = median(samples.get('anchor: the primary restarted in place')!.map(s => s.outageMs));
    for (const [name, list] of samples) console.log(line(name, list));
    const worst = Math.max(...[...samples.entries()].filter(([name]) => name.startsWith('rolling')).flatMap(([, list]) => list.map(s => s.outageMs)));
    const once = [...samples.entries()].filter(([name]) => name.startsWith('rolling')).every(([, list]) => list.every(s => s.switchovers === 1));
    console.log(`the reference's update, the primary restarted in place: ${inPlace} ms of write outage (median)`);
    console.log(`target: a rolling update's outage no longer than one switchover's (${anchor} ms here, median), exactly one switchover: `
      + `worst update ${worst} ms, ${once ? 'one switchover each' : 'NOT one switchover each'} ${worst <= Math.max(anchor * 1.5, anchor + 300) && once ? 'OK' : 'MISSED'}`);
  } catch (error) {
    console.error(`${(error as Error).message}\n${cluster.diagnostics()}`);
    process.exitCode = 1;
  } finally {
    await cluster.destroy();
  }
})();
