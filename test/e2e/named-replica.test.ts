import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { DIST_MANIFEST, leader, POD, step, valuesOn, waitForStreaming } from './support';

jest.setTimeout(300_000);

/**
 * The record names a replica the primary (as a failover job's last step does) while that replica's sidecar hangs, and
 * its PostgreSQL restarts meanwhile: its entrypoint must not start a replica's data as a primary on the old timeline
 * (the other pods could not follow it, and one may hold more of that timeline). It starts in recovery; once its sidecar
 * runs again it promotes it onto a new timeline, which every other pod follows.
 */
describe('a replica the record names while its sidecar hangs', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST, replicas: 3 });
    await cluster.sql('postgres-write', 'CREATE TABLE writes (v int PRIMARY KEY); INSERT INTO writes SELECT generate_series(1, 100)');
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('starts in recovery, is promoted onto a new timeline by its sidecar, and every pod follows it; no row lost', () => step(cluster, async () => {
    await waitFor('the rows on pod 1', async () => (await valuesOn(cluster, POD(1), 'writes')).length === 100, 20_000);
    const sidecar = cluster.pod(POD(1)).container('role-labeler').process!.pid!;
    process.kill(sidecar, 'SIGSTOP');
    try {
      // What a failover job's completeFailover writes: the target named, one epoch more.
      const epoch = Number(leader(cluster).epoch) + 1;
      const patch = { metadata: { annotations: { 'postgres.cdk8s.io/primary': POD(1), 'postgres.cdk8s.io/epoch': String(epoch) } }, spec: { holderIdentity: POD(1) } };
      expect((await cluster.kubectl(['patch', 'lease', 'postgres-leader', '--type=merge', '-p', JSON.stringify(patch)])).code).toBe(0);
      // Pod 0's sidecar fences it (the record no longer names it): once it is back, as a replica, its fast shutdown has
      // finished, so its last WAL reached pod 1 (a walsender ends only when its standby has flushed all it sent).
      // Waiting only until it stops answering would crash pod 1 while that WAL is on its way: then pod 1 forks its new
      // timeline before the others' end, and they cannot follow it.
      await waitFor('pod 0 fenced and back as a replica', async () => (await cluster.podSql(POD(0), 'SELECT pg_is_in_recovery()').catch(() => 'down')) === 't', 30_000, 200);
      // Pod 1's PostgreSQL crashes and restarts.
      const mark = cluster.pod(POD(1)).logMark('postgres');
      process.kill(cluster.pod(POD(1)).container('postgres').process!.pid!, 'SIGKILL');
      await waitFor('pod 1\'s entrypoint to wait for its sidecar', () => cluster.pod(POD(1)).logSince(mark, 'postgres').includes('waiting for the role-labeler sidecar'), 30_000, 200);
    } finally {
      process.kill(sidecar, 'SIGCONT');
    }
    await waitFor('pod 1 promoted onto a new timeline', async () => {
      // The timeline of the WAL it writes (pg_control's changes only at the next checkpoint).
      const row = await cluster.podSql(POD(1),
        "SELECT pg_is_in_recovery()::text || ' ' || CASE WHEN pg_is_in_recovery() THEN 0 ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END")
        .catch(() => '');
      return row.startsWith('false ') && Number(row.split(' ')[1]) >= 2;
    }, 60_000, 250);
    expect(cluster.pod(POD(1)).logSince(0, 'postgres')).toContain('and its data is a replica\'s: starting in recovery; its sidecar promotes it (a new timeline)');
    await waitForStreaming(cluster, POD(1), [POD(0), POD(2)], 90_000);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: POD(1) });
    for (const pod of [POD(0), POD(1), POD(2)]) expect((await valuesOn(cluster, pod, 'writes')).length).toBe(100);
    expect((await cluster.sql('postgres-write', 'INSERT INTO writes VALUES (101)')).code).toBe(0);
  }));

  test('replicas ahead of where the named replica\'s new timeline forked off theirs ask for a new clone, and follow it', () => step(cluster, async () => {
    const old = leader(cluster);
    const [named, other] = [POD(0), POD(1), POD(2)].filter(p => p !== old.primary);
    await waitForStreaming(cluster, old.primary, [named, other], 90_000);
    const rows = (await valuesOn(cluster, old.primary, 'writes')).length;
    // The named replica misses the primary's last WAL (its network cut); the other receives it.
    await cluster.cutOff(named, { api: false, network: true });
    try {
      expect((await cluster.sql('postgres-write', 'INSERT INTO writes SELECT generate_series(1001, 1100)')).code).toBe(0);
      await waitFor(`the rows on ${other}`, async () => (await valuesOn(cluster, other, 'writes')).length === rows + 100, 20_000);
      const patch = { metadata: { annotations: { 'postgres.cdk8s.io/primary': named, 'postgres.cdk8s.io/epoch': String(Number(old.epoch) + 1) } }, spec: { holderIdentity: named } };
      expect((await cluster.kubectl(['patch', 'lease', 'postgres-leader', '--type=merge', '-p', JSON.stringify(patch)])).code).toBe(0);
      await waitFor(`${named} promoted`, async () => (await cluster.podSql(named, 'SELECT pg_is_in_recovery()').catch(() => '')) === 'f', 30_000, 200);
    } finally {
      await cluster.reconnect(named);
    }
    const mark = cluster.pod(other).logMark('role-labeler');
    // Both are ahead of the fork (their WAL has the 100 rows). The old primary, fenced, restarts and its entrypoint rewinds
    // it; the other, a replica that never restarts, finds it cannot follow, asks for a new clone, and streams again.
    // (Its WAL receiver reconnects every second and streams for an instant each time: a sample of pg_stat_replication
    // may catch it "streaming".)
    const reclone = /not streaming for \d+s, and timeline \d+ of the primary forked off this replica's timeline \d+ at \S+, before the WAL this replica has \(\S+\): it can never follow: requesting a new clone/;
    await waitFor(`${other} asking for a new clone`, () => reclone.test(cluster.pod(other).logSince(mark, 'role-labeler')), 60_000, 500);
    await waitForStreaming(cluster, named, [old.primary, other], 120_000);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: named });
    // The rows only the old primary acknowledged are gone (asynchronous replication, and the record named a replica that lacked them).
    // A replica streams before it has replayed to a consistent state (a new clone, say): each is asked once it takes queries.
    for (const pod of [POD(0), POD(1), POD(2)]) {
      await waitFor(`${pod} taking queries`, async () => (await cluster.podSql(pod, 'SELECT 1').catch(() => '')) === '1', 60_000, 200);
      expect((await valuesOn(cluster, pod, 'writes')).length).toBe(rows);
    }
  }));
});
