import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import {
  DIST_MANIFEST, expectOnlyPrimary, expectRowsEverywhere, isPrimary, POD, step, synthesizeToFile, valuesOn, Writer,
} from './support';

jest.setTimeout(300_000);

const PODS = [POD(0), POD(1), POD(2)];

/**
 * Roles that stay correct, on real PostgreSQL 15 (the harness stands in for the Kubernetes API only):
 * the failover job, the role-labeler sidecars and the entrypoint's role decisions.
 */
describe('roles of the synthesized cluster (dist/)', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST });
    await cluster.sql('postgres-write', 'CREATE TABLE writes (v int PRIMARY KEY)');
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  afterEach(() => {
    expect(cluster.writeServiceViolations).toEqual([]);
  });

  test('labels follow what each server is, without a person', () => step(cluster, async () => {
    await expectOnlyPrimary(cluster, POD(0), PODS);
  }));

  test('the failover job does nothing while the primary is healthy and no target is set', () => step(cluster, async () => {
    const run = await cluster.runJob('postgres-failover');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('primary postgres-cluster-0 is healthy: nothing to do');
    await expectOnlyPrimary(cluster, POD(0), PODS);
  }));

  test('planned switchover to pod 1 while writing: one primary, replicas follow it, old primary rejoins, no committed row lost', () => step(cluster, async () => {
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('some writes', () => writer.acknowledged.length >= 20, 20_000);
    const run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(1) });
    expect(run.code).toBe(0);
    await waitFor('writes on the new primary', () => writer.attempts.some(a => a.ok && a.server === POD(1)), 20_000);
    await waitFor('more writes', () => writer.attempts.filter(a => a.ok && a.server === POD(1)).length >= 20, 20_000);
    await writer.stop();
    await expectOnlyPrimary(cluster, POD(1), PODS);
    await expectRowsEverywhere(cluster, PODS, 'writes', await valuesOn(cluster, POD(1), 'writes'));
    const onNewPrimary = new Set(await valuesOn(cluster, POD(1), 'writes'));
    expect(writer.acknowledged.filter(v => !onNewPrimary.has(v))).toEqual([]);
    expect(cluster.pod(POD(0)).logs()).toMatch(/starting as a replica/);
  }));

  test('running the same switchover again changes nothing', () => step(cluster, async () => {
    const run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(1) });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('postgres-cluster-1 is the only primary');
    expect(run.stdout).not.toContain('fencing');
    await expectOnlyPrimary(cluster, POD(1), PODS);
  }));

  test('failover after the primary is killed (SIGKILL): the most advanced replica is promoted, the write Service reaches it', () => step(cluster, async () => {
    const before = await valuesOn(cluster, POD(1), 'writes');
    await cluster.sql('postgres-write', 'INSERT INTO writes (v) VALUES (100000)');
    await expectRowsEverywhere(cluster, PODS, 'writes', [...before, 100000]);
    await cluster.killPod(POD(1));
    const run = await cluster.runJob('postgres-failover');
    expect(run.code).toBe(0);
    const promoted = /promoting (postgres-cluster-\d)/.exec(run.stdout)?.[1];
    expect([POD(0), POD(2)]).toContain(promoted);
    expect(await isPrimary(cluster, promoted!)).toBe(true);
    const survivors = PODS.filter(p => p !== POD(1));
    await waitFor('the write Service to reach the promoted replica', async () =>
      (await cluster.sql('postgres-write', 'INSERT INTO writes (v) VALUES (100001)')).code === 0, 10_000);
    await expectRowsEverywhere(cluster, survivors, 'writes', [...before, 100000, 100001]);
    expect(cluster.endpoints('postgres-write')).toEqual([promoted]);
    expect(cluster.pod(POD(1)).labels.role).toBeUndefined();
  }));

  test('the old primary, restarted after the failover, rejoins as a replica, never as a second primary', () => step(cluster, async () => {
    const primary = cluster.endpoints('postgres-write')[0];
    const mark = cluster.pod(POD(1)).logMark();
    cluster.startPod(POD(1));
    await waitFor('the old primary to serve again', () => cluster.pod(POD(1)).ready, 30_000);
    expect(await isPrimary(cluster, POD(1))).toBe(false);
    await expectOnlyPrimary(cluster, primary, PODS);
    expect(cluster.pod(POD(1)).logSince(mark)).toContain(`the leader record names ${primary} (epoch`);
    await expectRowsEverywhere(cluster, PODS, 'writes', await valuesOn(cluster, primary, 'writes'));
  }));

  test('failback to pod 0 with a planned switchover', () => step(cluster, async () => {
    const run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(0) });
    expect(run.code).toBe(0);
    await expectOnlyPrimary(cluster, POD(0), PODS);
    await cluster.sql('postgres-write', 'INSERT INTO writes (v) VALUES (100002)');
    await expectRowsEverywhere(cluster, PODS, 'writes', await valuesOn(cluster, POD(0), 'writes'));
  }));

  test('recreating every pod (all labels gone) restores the labels and the Service endpoints', () => step(cluster, async () => {
    const rows = await valuesOn(cluster, POD(0), 'writes');
    await Promise.all(PODS.map(p => cluster.deletePod(p)));
    expect(cluster.endpoints('postgres-write')).toEqual([]);
    await cluster.waitForPods(3, 90_000);
    for (const p of PODS) expect(cluster.pod(p).labels.role).toBeDefined();
    await expectOnlyPrimary(cluster, POD(0), PODS);
    await expectRowsEverywhere(cluster, PODS, 'writes', rows);
  }));

  test('the failover job refuses, and changes nothing, when no replica is healthy', () => step(cluster, async () => {
    await cluster.killPod(POD(1));
    await cluster.killPod(POD(2));
    await cluster.killPod(POD(0));
    try {
      const run = await cluster.runJob('postgres-failover');
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('REFUSED: no healthy replica to promote');
    } finally {
      // The pods come back whatever the job did: the tests after this one need them.
      for (const p of PODS) cluster.startPod(p);
    }
    await waitFor('all pods to serve again', () => PODS.every(p => cluster.pod(p).ready), 60_000);
    await expectOnlyPrimary(cluster, POD(0), PODS);
  }));

  test('the failover job refuses a target that is not a healthy pod of the cluster', () => step(cluster, async () => {
    const run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: 'postgres-cluster-7' });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('REFUSED: FAILOVER_TARGET postgres-cluster-7 is not a pod of this cluster');
    await expectOnlyPrimary(cluster, POD(0), PODS);
  }));

  test('before a scale-down, SCALE_DOWN_TO moves the primary off an ordinal that goes away, and refuses a target that would', () => step(cluster, async () => {
    expect((await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(2) })).code).toBe(0);
    await expectOnlyPrimary(cluster, POD(2), PODS);
    const refused = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(2), SCALE_DOWN_TO: '2' });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('REFUSED: FAILOVER_TARGET postgres-cluster-2 goes away when scaling to 2 pods; choose one of: postgres-cluster-0 postgres-cluster-1');
    await expectOnlyPrimary(cluster, POD(2), PODS);

    await cluster.sql('postgres-write', 'INSERT INTO writes (v) VALUES (100003)');
    const moved = await cluster.runJob('postgres-failover', { SCALE_DOWN_TO: '2' });
    expect(moved.code).toBe(0);
    const promoted = /switching over to (postgres-cluster-\d)/.exec(moved.stdout)?.[1];
    expect([POD(0), POD(1)]).toContain(promoted);
    await expectOnlyPrimary(cluster, promoted!, PODS);
    const again = await cluster.runJob('postgres-failover', { SCALE_DOWN_TO: '2' });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`the primary ${promoted} stays when scaling to 2 pods`);

    await cluster.scale(2);
    const stay = [POD(0), POD(1)];
    await expectOnlyPrimary(cluster, promoted!, stay);
    await cluster.sql('postgres-write', 'INSERT INTO writes (v) VALUES (100004)');
    const rows = await valuesOn(cluster, promoted!, 'writes');
    expect(rows).toEqual(expect.arrayContaining([100003, 100004]));
    await expectRowsEverywhere(cluster, stay, 'writes', rows);
  }));
});

describe('synchronous replication (synchronousReplicas: 1)', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: synthesizeToFile({ synchronousReplicas: 1 }) });
    await cluster.sql('postgres-write', 'CREATE TABLE writes (v int PRIMARY KEY)');
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('no committed row is lost when the primary is killed while writing', () => step(cluster, async () => {
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('some writes', () => writer.acknowledged.length >= 30, 30_000);
    await cluster.killPod(POD(0));
    const run = await cluster.runJob('postgres-failover');
    expect(run.code).toBe(0);
    const promoted = /promoting (postgres-cluster-\d)/.exec(run.stdout)![1];
    await waitFor('writes on the promoted replica', () => writer.attempts.filter(a => a.ok && a.server === promoted).length >= 10, 30_000);
    await writer.stop();
    const onPrimary = new Set(await valuesOn(cluster, promoted, 'writes'));
    expect(writer.acknowledged.length).toBeGreaterThan(40);
    expect(writer.acknowledged.filter(v => !onPrimary.has(v))).toEqual([]);
    cluster.startPod(POD(0));
    await waitFor('the old primary to serve again', () => cluster.pod(POD(0)).ready, 30_000);
    await expectOnlyPrimary(cluster, promoted, PODS);
    expect(cluster.writeServiceViolations).toEqual([]);
  }));
});
