import * as fs from 'fs';
import * as path from 'path';
import { E2eCluster } from './harness/cluster';
import { sleep, waitFor } from './harness/exec';
import { DIST_MANIFEST, leader, POD, step, valuesOn, waitForStreaming, Writer } from './support';

jest.setTimeout(300_000);

/**
 * Someone follows the reference design's own manual failover steps on a healthy cluster whose leader record names pod 0:
 * relabel pod 0 replica and pod 1 primary, then `SELECT pg_promote()` in pod 1. The record never named that promotion: pod
 * 1 is fenced at once, keeps what it may have accepted aside (its WAL since the promotion), rejoins pod 0 by itself and
 * streams again; pod 0 stays the one primary, and no commit it acknowledged is lost.
 */
describe('a pod promoted by hand, outside the leader record', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST, replicas: 3 });
    await cluster.sql('postgres-write', 'CREATE TABLE writes (v int PRIMARY KEY)');
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('is fenced, keeps its diverged WAL aside, says so in an Event, and streams from the recorded primary again; never two writable primaries', () => step(cluster, async () => {
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('some writes', () => writer.acknowledged.length >= 20, 20_000);
    // Every 100 ms: the write Service's pods that accept writes (not in recovery).
    const writable: string[][] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const open: string[] = [];
        for (const pod of cluster.endpoints('postgres-write')) {
          const inRecovery = await cluster.podSql(pod, 'SELECT pg_is_in_recovery()').catch(() => 't');
          if (inRecovery === 'f') open.push(pod);
        }
        writable.push(open);
        await sleep(100);
      }
    })();
    const mark = cluster.pod(POD(1)).logMark('postgres');
    const relabeled = Date.now();
    try {
      expect((await cluster.kubectl(['label', 'pod', POD(0), 'role=replica', '--overwrite'])).code).toBe(0);
      expect((await cluster.kubectl(['label', 'pod', POD(1), 'role=primary', '--overwrite'])).code).toBe(0);
      // pg_promote() waits for the promotion to finish; the fence may end its session first (PostgreSQL stopped by the
      // agent), which is the same promotion, seen from the person's psql.
      const promoted = await cluster.podSql(POD(1), 'SELECT pg_promote()').catch((error: Error) => error.message);
      expect(promoted).toMatch(/^t$|terminating connection due to administrator command/);
      await waitFor('pod 1 to say what happened and rejoin', () => cluster.pod(POD(1)).logSince(mark, 'postgres').includes('UNRECORDED PROMOTION'), 60_000, 250);
      await waitForStreaming(cluster, POD(0), [POD(1), POD(2)], 90_000);
      await waitFor('writes on pod 0 again', () => writer.attempts.filter(a => a.ok && a.server === POD(0) && a.startedAt > Date.now() - 2_000).length >= 5, 60_000, 250);
    } finally {
      await writer.stop();
      sampling = false;
      await sampler;
    }
    // Pod 0's sidecar sets its changed label back at once: writes stop for seconds, not until its next reassertion (30 s).
    const back = writer.attempts.find(a => a.ok && a.server === POD(0) && a.startedAt > relabeled + 1_000);
    expect(back!.at - relabeled).toBeLessThan(8_000);

    // Never two writable primaries behind the write Service.
    expect(writable.filter(open => open.length > 1)).toEqual([]);
    // The record still names pod 0, which kept its data: every commit it acknowledged is on every pod.
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: POD(0) });
    const byPod0 = writer.attempts.filter(a => a.ok && a.server === POD(0)).length;
    expect(byPod0).toBeGreaterThan(20);
    // The writer acknowledges in order: its n-th acknowledged value is its n-th successful attempt's.
    const succeeded = writer.attempts.filter(a => a.ok);
    const acknowledgedByPod0 = new Set(writer.acknowledged.filter((_, i) => succeeded[i].server === POD(0)));
    for (const pod of [POD(0), POD(1), POD(2)]) {
      await waitFor(`pod ${pod} to hold every row pod 0 acknowledged`, async () => {
        const rows = new Set(await valuesOn(cluster, pod, 'writes'));
        return [...acknowledgedByPod0].every(v => rows.has(v));
      }, 30_000, 500);
    }
    // What pod 1 may have accepted is where the README says: its WAL since the promotion, in diverged-wal/ on its volume.
    const keptIn = path.join(cluster.volumeOf(POD(1)), 'diverged-wal');
    const kept = fs.readdirSync(keptIn);
    expect(kept).toEqual([expect.stringMatching(/^\d{8}T\d{6}Z-timeline-2$/)]);
    const files = fs.readdirSync(path.join(keptIn, kept[0]));
    expect(files).toContain('00000002.history');
    expect(files.some(f => /^00000002[0-9A-F]{16}$/.test(f))).toBe(true);
    const log = cluster.pod(POD(1)).logSince(mark, 'postgres');
    expect(log).toContain(`this pod was promoted outside the leader record (timeline 2; the record names ${POD(0)} on timeline 1)`);
    expect(log).toContain(`kept in /var/lib/postgresql/data/diverged-wal/${kept[0]}`);
    // An Event on pod 1 says the same, for `kubectl get events`.
    const events = cluster.events().filter((e: any) => e.involvedObject?.name === POD(1) && e.reason === 'UnrecordedPromotion');
    expect(events.map((e: any) => [e.type, e.message])).toEqual([['Warning', expect.stringContaining(`kept in /var/lib/postgresql/data/diverged-wal/${kept[0]}`)]]);
  }));
});
