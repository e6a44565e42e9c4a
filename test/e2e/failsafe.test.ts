import { E2eCluster } from './harness/cluster';
import { sleep, waitFor } from './harness/exec';
import { NODE_MONITOR_GRACE_MS } from './harness/pod';
import { apiOutageFor, DIST_MANIFEST, leader, longestGapMs, lostRows, POD, runningPrimaries, step, synthesizeToFile, waitForStreaming, writing } from './support';

jest.setTimeout(600_000);

const PODS = [POD(0), POD(1), POD(2)];
const others = (pod: string) => PODS.filter(p => p !== pod);

/** Reads through the read Service every 250 ms while `what` runs: how many were answered, and the errors of the others. */
async function reading(cluster: E2eCluster, what: () => Promise<void>): Promise<{ answered: number; failed: string[] }> {
  const seen = { answered: 0, failed: [] as string[] };
  let done = false;
  const loop = (async () => {
    while (!done) {
      const result = await cluster.sql('postgres-read', 'SELECT pg_is_in_recovery()');
      if (result.code === 0 && result.stdout.trim() === 't') seen.answered++;
      else seen.failed.push(`${new Date().toISOString()} ${result.stdout.trim()} ${result.stderr.trim()}`);
      await sleep(250);
    }
  })();
  try {
    await what();
  } finally {
    done = true;
    await loop;
  }
  return seen;
}

/**
 * The failsafe without automatic failover (the default): a primary that cannot read the leader record keeps serving while
 * every other pod streams from it and replies to WAL it writes, so an API server outage stops neither writes nor reads. A
 * failover job, which may not reach that primary, refuses while its replicas still follow it; a primary cut off from
 * its replicas too is fenced as before (leader-record.test.ts). Real PostgreSQL 15, the synthesized scripts and agent.
 */
describe.each([
  ['asynchronous (dist/)', DIST_MANIFEST],
  ['synchronous (synchronousReplicas: 1)', 'synchronous'],
])('the failsafe without automatic failover, %s', (_mode, manifest) => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({
      manifest: manifest === 'synchronous' ? synthesizeToFile({ synchronousReplicas: 1 }) : manifest,
      replicas: 3,
    });
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('the API server unreachable from every pod for 60 s under writes: no fence, no write outage, reads go on; no row lost', () => step(cluster, async () => {
    const record = leader(cluster);
    const mark = cluster.pod(record.primary).logMark('role-labeler');
    let cut = 0;
    let healed = 0;
    let reads = { answered: 0, failed: [] as string[] };
    const writer = await writing(cluster, async w => {
      reads = await reading(cluster, async () => {
        ({ cut, healed } = await apiOutageFor(cluster, 60_000));
      });
      await waitFor('writes after', () => w.attempts.filter(a => a.ok && a.startedAt >= healed).length >= 10, 20_000);
    });
    // Without the failsafe, the primary fenced itself 10 s into the outage and served again only once the API answered.
    expect(longestGapMs(writer, cut, healed)).toBeLessThan(1_000);
    expect(writer.attempts.filter(a => a.ok && a.at >= cut).every(a => a.server === record.primary)).toBe(true);
    expect(reads.failed).toEqual([]);
    expect(reads.answered).toBeGreaterThan(100);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: record.primary, epoch: record.epoch });
    expect(await lostRows(cluster, writer, record.primary)).toEqual([]);
    const log = cluster.pod(record.primary).logSince(mark, 'role-labeler');
    expect(log).toMatch(/FAILSAFE: the leader record cannot be read, but every other pod .* streams from this primary and replies/);
    expect(log).not.toContain('FENCING');
    await waitForStreaming(cluster, record.primary, others(record.primary), 30_000);
  }));

  test('the primary cut off from the API only, its wall clock stepped back 120 s: it keeps serving; a failover job run meanwhile refuses, '
    + 'as its replicas still follow it', () => step(cluster, async () => {
    const record = leader(cluster);
    let run: Awaited<ReturnType<E2eCluster['runJob']>> | undefined;
    const primaries: string[][] = [];
    let cut = 0;
    let healed = 0;
    const writer = await writing(cluster, async w => {
      cut = Date.now();
      await cluster.cutOff(record.primary, { api: true });
      // Issue 18's first scenario: what its agent and fence time must not follow the wall clock.
      cluster.stepClock(record.primary, -120);
      try {
        const sampling = (async () => {
          while (run === undefined) {
            primaries.push(await runningPrimaries(cluster));
            await sleep(500);
          }
        })();
        run = await cluster.runJob('postgres-failover', {}, 180_000);
        await sampling;
        const offsets = await cluster.clockOffsets(record.primary);
        expect([offsets.bash, offsets.postgres].every(offset => Math.abs(offset + 120) <= 3)).toBe(true);
      } finally {
        cluster.stepClock(record.primary, 0);
        await cluster.reconnect(record.primary);
      }
      healed = Date.now();
      await waitFor('writes after', () => w.attempts.filter(a => a.ok && a.startedAt >= healed).length >= 10, 20_000);
    });
    // The job cannot reach the primary (kubectl exec goes through the API to the node), waits out the isolation fence, ends
    // the receivers that still stream, sees them stream again from the old primary, and gives the record back.
    expect(run!.code).toBe(1);
    expect(run!.stdout).toContain(`${record.primary} cannot be reached and may still be running`);
    expect(run!.stdout).toContain('REFUSED: replicas stream again after their WAL receivers were ended');
    expect(primaries.length).toBeGreaterThan(10);
    for (const seen of primaries) expect(seen).toEqual([record.primary]);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: record.primary });
    // Writes went on throughout (until the node lifecycle controller would mark the silent pod's node not ready, which takes
    // it out of the write Service): the receivers the job ended came back within a second (synchronous commits waited).
    expect(longestGapMs(writer, cut, Math.min(healed, cut + NODE_MONITOR_GRACE_MS - 1_000))).toBeLessThan(3_000);
    expect(writer.servers()).toEqual([record.primary]);
    expect(await lostRows(cluster, writer, record.primary)).toEqual([]);
    await waitForStreaming(cluster, record.primary, others(record.primary), 30_000);
  }));
});
