import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { DIST_MANIFEST, leader, lostRows, POD, runningPrimaries, step, synthesizeToFile, waitForStreaming, writing } from './support';

jest.setTimeout(600_000);

const PODS = [POD(0), POD(1), POD(2)];
const others = (pod: string) => PODS.filter(p => p !== pod);

/**
 * The failover job never promotes while the old primary visibly serves (issue 18, its first scenario): the primary's pod
 * cut off from the API while its PostgreSQL serves on, and neither its sidecar nor its heartbeat fence able to stop it
 * (both frozen, as on a node whose clock jumped or whose agent hung). The job waits out the fence time; its replicas
 * still stream; it ends their WAL receivers; they stream again from the old primary, still behind the write Service
 * (its node is not marked not ready for 40 s): the job gives the record back and exits non-zero, saying why. Nothing is
 * promoted, so there are never two primaries and no acknowledged commit is lost. A primary whose whole node freezes
 * (issue 18, its second scenario) is another matter: nothing of it answers, so the job promotes a replica; thawed, the old
 * primary must acknowledge nothing more. In both replication modes: dist/
 * (asynchronous), and synchronousReplicas: 1, where a replica that still follows the old primary would confirm its commits.
 * Real PostgreSQL 15.
 */
describe.each([
  ['asynchronous (dist/)', DIST_MANIFEST],
  ['synchronous (synchronousReplicas: 1)', 'synchronous'],
])('the failover job while the old primary serves but cannot fence itself, %s', (_mode, manifest) => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: manifest === 'synchronous' ? synthesizeToFile({ synchronousReplicas: 1 }) : manifest, replicas: 3 });
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('refuses: it ends the replicas\' receivers, sees them stream again, gives the record back; one primary throughout, no row lost', () => step(cluster, async () => {
    const before = leader(cluster);
    const primary = cluster.pod(before.primary);
    const frozen = ['role-labeler', 'lease-fence'].map(name => primary.container(name).process!.pid!);
    let run: Awaited<ReturnType<E2eCluster['runJob']>> | undefined;
    const primaries: string[][] = [];
    const writer = await writing(cluster, async () => {
      for (const pid of frozen) process.kill(pid, 'SIGSTOP');
      try {
        await cluster.cutOff(before.primary, { api: true, network: false });
        const sampling = (async () => {
          while (run === undefined) {
            primaries.push(await runningPrimaries(cluster));
            await new Promise(resolve => setTimeout(resolve, 500));
          }
        })();
        run = await cluster.runJob('postgres-failover', {}, 180_000);
        await sampling;
      } finally {
        for (const pid of frozen) process.kill(pid, 'SIGCONT');
      }
    });
    expect(run!.code).toBe(1);
    expect(run!.stdout).toContain('replicas still receive after 5s');
    expect(run!.stdout).toContain('REFUSED: replicas stream again after their WAL receivers were ended');
    expect(run!.stdout).toContain(`most likely ${before.primary}, alive and not fenced; promoting now would make two primaries`);
    expect(run!.stdout).toContain(`the leader record names ${before.primary} again, nothing was changed`);
    // Never a second primary: the job promoted nobody.
    expect(primaries.length).toBeGreaterThan(10);
    for (const seen of primaries) expect(seen).toEqual([before.primary]);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: before.primary });
    expect(writer.servers()).toEqual([before.primary]);
    // Thawed, its heartbeat fence finds its deadline long past and stops PostgreSQL; the record names it, so it starts
    // again as the primary, and its replicas follow it.
    await cluster.reconnect(before.primary);
    await waitForStreaming(cluster, before.primary, others(before.primary), 90_000);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: before.primary });
    expect(await lostRows(cluster, writer, before.primary)).toEqual([]);
  }));

  test('the primary\'s whole node frozen 40 s, the job run meanwhile: a replica promoted; thawed, the old primary acknowledges nothing more, no row lost, it rejoins', () => step(cluster, async () => {
    const before = leader(cluster);
    await waitForStreaming(cluster, before.primary, others(before.primary), 90_000);
    let run: Awaited<ReturnType<E2eCluster['runJob']>> | undefined;
    let frozenAt = 0;
    let thawedAt = 0;
    const writer = await writing(cluster, async w => {
      await cluster.freeze(before.primary);
      frozenAt = Date.now();
      try {
        run = await cluster.runJob('postgres-failover', {}, 180_000);
        await new Promise(resolve => setTimeout(resolve, Math.max(0, 40_000 - (Date.now() - frozenAt))));
      } finally {
        await cluster.thaw(before.primary);
      }
      thawedAt = Date.now();
      await waitFor('writes after the thaw', () => w.attempts.filter(a => a.ok && a.startedAt >= thawedAt).length >= 20, 30_000, 50);
    });
    expect(run!.code).toBe(0);
    const after = leader(cluster);
    expect(after.state).toBe('stable');
    expect(others(before.primary)).toContain(after.primary);
    // Its clients' connections went with the freeze; thawed, it fenced itself before anything could reach it again.
    expect(writer.attempts.filter(a => a.ok && a.server === before.primary && a.at >= frozenAt)).toEqual([]);
    expect(new Set(writer.attempts.filter(a => a.ok && a.startedAt >= thawedAt).map(a => a.server))).toEqual(new Set([after.primary]));
    expect(await lostRows(cluster, writer, after.primary)).toEqual([]);
    await waitForStreaming(cluster, after.primary, others(after.primary), 120_000);
    expect(await runningPrimaries(cluster)).toEqual([after.primary]);
  }));

  test('a failover that cannot finish says so: the target\'s sidecar hung, the job exits 3 naming what waits; thawed, the target serves and all follow', () => step(cluster, async () => {
    const before = leader(cluster);
    await waitForStreaming(cluster, before.primary, others(before.primary), 90_000);
    const [target, bystander] = others(before.primary);
    const sidecar = cluster.pod(target).container('role-labeler').process!.pid!;
    process.kill(sidecar, 'SIGSTOP');
    let run: Awaited<ReturnType<E2eCluster['runJob']>>;
    try {
      await cluster.killPod(before.primary);
      run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: target, PROMOTE_TIMEOUT_SECONDS: '8' }, 180_000);
    } finally {
      process.kill(sidecar, 'SIGCONT');
    }
    expect(run.code).toBe(3);
    expect(run.stdout).toContain(`UNFINISHED: ${target} is the primary in the leader record but does not serve as one 8s later`);
    expect(run.stdout).not.toContain('done:');
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: target });
    // Woken, its sidecar promotes it (a new timeline); the other replica follows, and the old primary rejoins when it starts.
    cluster.startPod(before.primary);
    await waitForStreaming(cluster, target, [bystander, before.primary], 120_000);
    expect(await runningPrimaries(cluster)).toEqual([target]);
  }));
});
