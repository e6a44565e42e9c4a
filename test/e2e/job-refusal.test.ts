import { E2eCluster } from './harness/cluster';
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
 * promoted, so there are never two primaries and no acknowledged commit is lost. In both replication modes: dist/
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
