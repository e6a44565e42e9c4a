import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { DIST_MANIFEST, leader, POD, step, valuesOn, waitForStreaming, Writer } from './support';

jest.setTimeout(300_000);

/**
 * The primary's pod is deleted (kubectl delete pod, a node drain's eviction, a scale-down that removes it): its sidecar
 * hands the primary over first, by a switchover to the most advanced standby that stays, and no acknowledged commit is
 * lost. A restart without deletion keeps the primary where it is (test/e2e/replication.test.ts).
 */
describe('a primary whose pod is deleted hands over first', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST, replicas: 3 });
    await cluster.sql('postgres-write', 'CREATE TABLE writes (v int PRIMARY KEY)');
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  async function lostRows(writer: Writer, primary: string): Promise<number[]> {
    const rows = new Set(await valuesOn(cluster, primary, 'writes'));
    return writer.acknowledged.filter(v => !rows.has(v));
  }

  test('kubectl delete pod of the primary: a replica is the primary within seconds, no acknowledged row lost, the pod comes back a replica', () => step(cluster, async () => {
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('some writes', () => writer.acknowledged.length >= 20, 20_000);
    const before = Number(leader(cluster).epoch);
    const deleted = Date.now();
    const deleting = cluster.deletePod(POD(0));
    await waitFor('a new primary taking writes', () => writer.attempts.some(a => a.ok && a.startedAt >= deleted && a.server !== POD(0)), 30_000, 50);
    const handedOverMs = writer.firstSuccessAfter(deleted)! - deleted;
    await deleting;
    await waitFor('more writes on the new primary', () => writer.attempts.filter(a => a.ok && a.startedAt >= deleted).length >= 20, 30_000);
    await writer.stop();
    const record = leader(cluster);
    expect(record.state).toBe('stable');
    expect([POD(1), POD(2)]).toContain(record.primary);
    // A switchover (the old primary's own), not a failover: one epoch more.
    expect(Number(record.epoch)).toBe(before + 1);
    expect(await lostRows(writer, record.primary)).toEqual([]);
    expect(handedOverMs).toBeLessThan(10_000);
    // For kubectl get events: the old primary said what it did, and the new one that it was promoted.
    const events = cluster.events().map(e => [e.type, e.reason, e.involvedObject.name]);
    expect(events).toContainEqual(['Normal', 'HandingOver', POD(0)]);
    expect(events).toContainEqual(['Normal', 'Promoted', record.primary]);
    // The StatefulSet brings the pod back: a replica of the new primary.
    await waitForStreaming(cluster, record.primary, [POD(0), POD(1), POD(2)].filter(p => p !== record.primary), 90_000);
  }));

  test('a switchover asked for on the record (an annotation): carried out by the sidecars at once, no row lost, the request removed', () => step(cluster, async () => {
    const primary = leader(cluster).primary;
    const target = [POD(0), POD(1), POD(2)].find(p => p !== primary)!;
    await waitForStreaming(cluster, primary, [POD(0), POD(1), POD(2)].filter(p => p !== primary), 90_000);
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('some writes', () => writer.attempts.filter(a => a.ok && a.server === primary).length >= 20, 20_000);
    const before = Number(leader(cluster).epoch);
    const asked = Date.now();
    expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `switchover.postgres.cdk8s.io/target=${target}`])).code).toBe(0);
    await waitFor('writes on the target', () => writer.attempts.filter(a => a.ok && a.server === target && a.startedAt >= asked).length >= 20, 30_000, 50);
    await writer.stop();
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: target, epoch: String(before + 1) });
    expect(cluster.lease('postgres-leader')!.metadata.annotations['switchover.postgres.cdk8s.io/target']).toBeUndefined();
    expect(cluster.events().filter(e => e.reason === 'SwitchingOver').map(e => [e.type, e.involvedObject.name, e.message]))
      .toContainEqual(['Normal', primary, expect.stringContaining(`switchover to ${target} requested on the record: handing the primary over to ${target}`)]);
    expect(await lostRows(writer, target)).toEqual([]);
    await waitForStreaming(cluster, target, [POD(0), POD(1), POD(2)].filter(p => p !== target), 90_000);
  }));

  test('a switchover asked for to a pod that cannot take over: refused, the request removed, a Warning Event says why', () => step(cluster, async () => {
    const record = leader(cluster);
    expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', 'switchover.postgres.cdk8s.io/target=postgres-cluster-7'])).code).toBe(0);
    await waitFor('the request removed', () => cluster.lease('postgres-leader')!.metadata.annotations['switchover.postgres.cdk8s.io/target'] === undefined, 10_000, 50);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: record.primary, epoch: record.epoch });
    const events = cluster.events().filter((e: any) => e.reason === 'SwitchoverRefused');
    expect(events.map((e: any) => [e.involvedObject.name, e.type, e.message])).toEqual([[record.primary, 'Warning',
      expect.stringMatching(/^switchover to postgres-cluster-7 requested: postgres-cluster-7 does not stream from the primary .* \(standbys that may take over: postgres-cluster-\d, postgres-cluster-\d\); the primary stays$/)]]);
  }));

  test('the handover\'s target deleted too before it takes over (kubectl deletes one pod after the other): the record is given back, '
    + 'the old primary is the primary again once its pod is made anew, no row lost', () => step(cluster, async () => {
    const primary = leader(cluster).primary;
    const replicas = [POD(0), POD(1), POD(2)].filter(p => p !== primary);
    await waitForStreaming(cluster, primary, replicas, 90_000);
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('some writes', () => writer.attempts.filter(a => a.ok && a.server === primary).length >= 20, 20_000);
    const before = Number(leader(cluster).epoch);
    // The replicas' agents hang, so that the target cannot take over before it is deleted in its turn.
    const agents = replicas.map(p => cluster.pod(p).container('role-labeler').process!.pid!);
    for (const pid of agents) process.kill(pid, 'SIGSTOP');
    let deletions: Promise<void>[] = [];
    try {
      deletions = [cluster.deletePod(primary)];
      await waitFor('the handover written', () => leader(cluster).state === 'switching-over', 10_000, 20);
      const target = leader(cluster).target;
      expect(replicas).toContain(target);
      deletions.push(cluster.deletePod(target));
      await waitFor('the record given back', () => leader(cluster).state === 'stable', 10_000, 50);
      expect(leader(cluster)).toMatchObject({ primary, epoch: String(before + 2) });
    } finally {
      for (const pid of agents) process.kill(pid, 'SIGCONT');
    }
    await Promise.all(deletions);
    await waitForStreaming(cluster, primary, replicas, 90_000);
    await waitFor('writes on the primary again', () => writer.attempts.filter(a => a.ok && a.server === primary).length >= 40, 30_000);
    await writer.stop();
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary, epoch: String(before + 2) });
    expect(await lostRows(writer, primary)).toEqual([]);
    expect(cluster.events().filter(e => e.reason === 'HandoverUndone').map(e => [e.type, e.involvedObject.name, e.message])).toEqual([['Warning', primary,
      expect.stringMatching(/^the handover's target postgres-cluster-\d is being deleted too before it took over: the record names this pod again/)]]);
  }));

  test('a scale-down that removes the primary\'s pod: it hands over to a pod that stays', () => step(cluster, async () => {
    // Make pod 2 the primary first (the failover job's switchover).
    expect((await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(2) })).code).toBe(0);
    await waitForStreaming(cluster, POD(2), [POD(0), POD(1)], 60_000);
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('some writes on pod 2', () => writer.attempts.filter(a => a.ok && a.server === POD(2)).length >= 20, 20_000);
    await cluster.scale(2);
    await waitFor('writes on a pod that stays', () => writer.attempts.filter(a => a.ok && a.server !== POD(2)).length >= 20, 30_000);
    await writer.stop();
    const record = leader(cluster);
    expect(record).toMatchObject({ state: 'stable' });
    expect([POD(0), POD(1)]).toContain(record.primary);
    expect(await lostRows(writer, record.primary)).toEqual([]);
  }));
});
