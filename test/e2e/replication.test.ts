import * as fs from 'fs';
import * as path from 'path';
import { E2eCluster } from './harness/cluster';
import { sleep, waitFor } from './harness/exec';
import { DIST_MANIFEST, expectRowsEverywhere, isPrimary, POD, step, streamingFrom, valuesOn, waitForStreaming } from './support';

jest.setTimeout(240_000);

/**
 * The synthesized cluster in dist/, run on real PostgreSQL 15 by the e2e harness: bootstrap,
 * scaling, restarts and a lost data directory. Every step checks data, not only processes.
 */
describe('replication of the synthesized cluster (dist/)', () => {
  let cluster: E2eCluster;
  const committed: number[] = [];

  async function commit(...values: number[]): Promise<void> {
    const result = await cluster.sql('postgres-write', `INSERT INTO items (v) VALUES ${values.map(v => `(${v})`).join(',')}`);
    expect(result).toMatchObject({ code: 0 });
    committed.push(...values);
  }

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('bootstrap: pod 0 initializes as primary; pods 1 and 2 clone it and stream', () => step(cluster, async () => {
    expect(await isPrimary(cluster, POD(0))).toBe(true);
    expect(await isPrimary(cluster, POD(1))).toBe(false);
    expect(await isPrimary(cluster, POD(2))).toBe(false);
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
    const volume = cluster.volumeOf(POD(1));
    expect(fs.existsSync(path.join(volume, 'lost+found'))).toBe(true);
    expect(fs.existsSync(path.join(volume, 'pgdata', 'standby.signal'))).toBe(true);
  }));

  test('every container runs on a read-only root filesystem and writes only to its volumes', () => step(cluster, async () => {
    for (const container of ['postgres', 'role-labeler']) {
      const mounts = await cluster.pod(POD(0)).container(container).exec(['cat', '/proc/self/mounts'], 10_000);
      const root = mounts.stdout.split('\n').map(l => l.split(' ')).filter(f => f[1] === '/').pop()!;
      expect([container, root[3].split(',')[0]]).toEqual([container, 'ro']);
      // The postgres container writes its scratch files to its own /tmp volume; the agent writes none.
      const probe = container === 'postgres' ? 'touch /tmp/probe && touch /var/probe' : 'touch /var/probe';
      const tmp = await cluster.pod(POD(0)).container(container).exec(['sh', '-c', probe], 10_000);
      expect(tmp.stderr).toContain("cannot touch '/var/probe': Read-only file system");
    }
    const job = await cluster.runJob('postgres-failover');
    expect(job.code).toBe(0);
  }));

  test('bootstrap: the database and replication role exist, with the password from the Secret', () => step(cluster, async () => {
    expect(await cluster.podSql(POD(0), "SELECT datname FROM pg_database WHERE datname = 'myapp'")).toBe('myapp');
    expect(await cluster.podSql(POD(0), "SELECT rolreplication, rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'replicator'")).toBe('t|t');
  }));

  test('a table written through the write Service is readable through the read Service on every replica', () => step(cluster, async () => {
    expect(await cluster.sql('postgres-write', 'CREATE TABLE items (v int PRIMARY KEY)')).toMatchObject({ code: 0 });
    await commit(1, 2, 3);
    expect(cluster.endpoints('postgres-read')).toEqual([POD(1), POD(2)]);
    const servedBy = new Set<string>();
    await waitFor('both replicas to answer through the read Service with all rows', async () => {
      const result = await cluster.sql('postgres-read', "SELECT current_setting('cluster_name'), pg_is_in_recovery(), string_agg(v::text, ',' ORDER BY v) FROM items");
      const [server, inRecovery, values] = result.stdout.trim().split('|');
      if (result.code === 0 && inRecovery === 't' && values === '1,2,3') servedBy.add(server);
      return servedBy.size === 2;
    }, 20_000, 100);
    expect([...servedBy].sort()).toEqual([POD(1), POD(2)]);
  }));

  test('the write Service refuses to reach a replica: writes land on the primary only', () => step(cluster, async () => {
    expect(cluster.endpoints('postgres-write')).toEqual([POD(0)]);
    const readOnly = await cluster.sql('postgres-read', 'INSERT INTO items (v) VALUES (99)');
    expect(readOnly.stderr).toContain('cannot execute INSERT in a read-only transaction');
  }));

  test('each pod exports metrics: PostgreSQL is up, the role, and on the primary each replica\'s replay lag', () => step(cluster, async () => {
    const primary = (await Promise.all([POD(0), POD(1), POD(2)].map(async p => [p, await isPrimary(cluster, p)] as const))).find(([, is]) => is)![0];
    await waitFor('every exporter to answer with pg_up 1', async () => {
      for (const pod of cluster.livePods()) {
        const scrape = await cluster.httpGet(pod.ip, 9187, '/metrics');
        if (scrape.status !== 200 || !/^pg_up 1$/m.test(scrape.body)) return false;
      }
      return true;
    }, 30_000, 500);
    for (const pod of cluster.livePods()) {
      const { body } = await cluster.httpGet(pod.ip, 9187, '/metrics');
      expect([pod.name, /^pg_cluster_is_replica\S* (\d)/m.exec(body)?.[1]]).toEqual([pod.name, pod.name === primary ? '0' : '1']);
    }
    // Some WAL to replicate (in a table of its own: the other tests count the rows of theirs).
    expect(await cluster.sql('postgres-write', 'CREATE TABLE metrics_probe AS SELECT generate_series(1, 1000) AS v')).toMatchObject({ code: 0 });
    const { body } = await cluster.httpGet(cluster.pod(primary).ip, 9187, '/metrics');
    const lags = [...body.matchAll(/^pg_cluster_replica_replay_lag_bytes\{[^}]*replica="([^"]+)"[^}]*\} (\S+)$/gm)];
    expect(lags.map(m => m[1]).sort()).toEqual([POD(0), POD(1), POD(2)].filter(p => p !== primary));
    for (const m of lags) expect(Number(m[2])).toBeGreaterThanOrEqual(0);
  }));

  test('scale to 5: pods 3 and 4 clone the primary and stream too', () => step(cluster, async () => {
    await commit(4);
    await cluster.scale(5);
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2), POD(3), POD(4)]);
    await commit(5);
    await expectRowsEverywhere(cluster, [0, 1, 2, 3, 4].map(POD), 'items', committed);
  }));

  test('scale back to 3: the primary is unaffected and keeps its replicas', () => step(cluster, async () => {
    await cluster.scale(3);
    expect(cluster.livePods().map(p => p.name).sort()).toEqual([POD(0), POD(1), POD(2)]);
    expect(await isPrimary(cluster, POD(0))).toBe(true);
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
    await commit(6);
    await expectRowsEverywhere(cluster, [0, 1, 2].map(POD), 'items', committed);
  }));

  test('restart a replica: it resumes streaming on the same data directory, without a new base backup', () => step(cluster, async () => {
    const identity = fs.statSync(path.join(cluster.volumeOf(POD(2)), 'pgdata', 'PG_VERSION')).ino;
    const mark = cluster.pod(POD(2)).logMark();
    await cluster.stopPod(POD(2));
    await commit(7);
    cluster.startPod(POD(2));
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
    expect(fs.statSync(path.join(cluster.volumeOf(POD(2)), 'pgdata', 'PG_VERSION')).ino).toBe(identity);
    const log = cluster.pod(POD(2)).logSince(mark);
    expect(log).toContain('the data directory is a replica');
    expect(log).not.toContain('cloning the data directory');
    await expectRowsEverywhere(cluster, [POD(2)], 'items', committed);
  }));

  test('a replica killed while the primary\'s wall clock is 120 s behind streams again soon after its restart: its agent ends the '
    + 'walsender that its dead connection left holding its slot', () => step(cluster, async () => {
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
    const mark = cluster.pod(POD(2)).logMark('role-labeler');
    const slot = POD(2).replace(/-/g, '_');
    const held = `SELECT active_pid FROM pg_replication_slots WHERE slot_name = '${slot}' AND active`;
    // The walsender times out on the primary's wall clock (wal_sender_timeout): stepped back, it would hold the slot for 130 s.
    cluster.stepClock(POD(0), -120);
    try {
      await sleep(2_000);
      // The Service proxy keeps the primary's side of the killed pod's connection open, silent, as a dead node's would be.
      await cluster.killPod(POD(2));
      const stale = await cluster.podSql(POD(0), held);
      expect(stale).toMatch(/^\d+$/);
      await commit(8);
      cluster.startPod(POD(2));
      // The stale walsender shows as streaming on the primary, and a refused WAL receiver says "streaming" in the short
      // while before it ends: one that has lived for 2 s streams.
      const streams = `SELECT count(*) FROM pg_stat_wal_receiver AS r JOIN pg_stat_activity AS a USING (pid)
        WHERE r.status = 'streaming' AND a.backend_start < clock_timestamp() - interval '2 seconds'`;
      await waitFor(`${POD(2)}'s WAL receiver to stream`, async () => await cluster.podSql(POD(2), streams).catch(() => '') === '1', 40_000, 250);
      expect(await cluster.podSql(POD(0), held)).not.toBe(stale);
      expect(cluster.pod(POD(2)).logSince(mark, 'role-labeler'))
        .toContain(`the primary's walsender ${stale} held this pod's replication slot ${slot} at two looks`);
    } finally {
      cluster.stepClock(POD(0), 0);
    }
    await expectRowsEverywhere(cluster, [POD(2)], 'items', committed);
  }));

  test('restart the primary: it comes back as the primary and the replicas reconnect', () => step(cluster, async () => {
    await cluster.stopPod(POD(0));
    await sleep(500);
    expect(await streamingFrom(cluster, POD(1)).catch(() => [])).toEqual([]);
    cluster.startPod(POD(0));
    await waitFor('pod 0 to accept writes again', async () => (await cluster.sql('postgres-write', 'SELECT 1')).code === 0, 30_000);
    expect(await isPrimary(cluster, POD(0))).toBe(true);
    expect(await isPrimary(cluster, POD(1))).toBe(false);
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
    await commit(9);
    await expectRowsEverywhere(cluster, [0, 1, 2].map(POD), 'items', committed);
    expect(cluster.writeServiceViolations).toEqual([]);
  }));

  test('a replica whose data directory was deleted clones itself again on restart', () => step(cluster, async () => {
    const mark = cluster.pod(POD(1)).logMark();
    await cluster.stopPod(POD(1));
    fs.rmSync(path.join(cluster.volumeOf(POD(1)), 'pgdata'), { recursive: true });
    await commit(10);
    cluster.startPod(POD(1));
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
    expect(cluster.pod(POD(1)).logSince(mark)).toContain('cloning the data directory from primary postgres-cluster-0');
    await expectRowsEverywhere(cluster, [0, 1, 2].map(POD), 'items', committed);
    expect(await valuesOn(cluster, POD(1), 'items')).toEqual(committed);
  }));
});
