import { PostgresClusterChartProps } from '../../src';
import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { KubeObject, Manifests } from './harness/manifests';
import { leader, lostRows, POD, step, synthesizeToFile, waitForStreaming, writing } from './support';

jest.setTimeout(600_000);

const PODS = [POD(0), POD(1), POD(2)];
const others = (pod: string) => PODS.filter(p => p !== pod);

/** The manifests of the default cluster with these extraSettings. */
function manifestsWith(extraSettings: Record<string, string>, props: PostgresClusterChartProps = {}):
{ configMaps: KubeObject[]; statefulSet: KubeObject } {
  const manifests = Manifests.fromFile(synthesizeToFile({ ...props, extraSettings }));
  return { configMaps: manifests.all('ConfigMap'), statefulSet: manifests.only('StatefulSet') };
}

/**
 * A change of extraSettings, applied to a running 3-pod cluster as `kubectl apply -f dist/` applies it: a setting that a
 * reload applies changes only the ConfigMap, and each pod's agent reloads PostgreSQL when the kubelet updates the file;
 * a setting that needs a restart also changes the pod template (its restart-settings digest), and the StatefulSet's
 * rolling update restarts the pods with one switchover. Real PostgreSQL 15, the synthesized scripts and agent.
 */
describe('a configuration change', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: synthesizeToFile({}), replicas: 3 });
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  /** Each ConfigMap as `kubectl apply` leaves it (the scripts ConfigMap holds the agent's settings). */
  const applyConfigMaps = (configMaps: KubeObject[]) => {
    for (const configMap of configMaps) cluster.updateConfigMap(configMap.metadata.name, configMap.data);
  };

  const setting = async (pod: string, name: string) => (await cluster.podSql(pod, `SHOW ${name}`)).trim();

  test('a setting a reload applies: every pod reloads, says so in an Event, and nothing restarts or switches over', () => step(cluster, async () => {
    const before = leader(cluster);
    const next = manifestsWith({ work_mem: '12MB' });
    // Only the ConfigMap changes: the pod template is the same, so the StatefulSet rolls nothing.
    expect(next.statefulSet.spec.template).toEqual(cluster.statefulSet.spec.template);
    const pods = PODS.map(p => cluster.pod(p));
    const events = cluster.events().length;
    const writer = await writing(cluster, async () => {
      applyConfigMaps(next.configMaps);
      await waitFor('work_mem 12MB on every pod', async () => (await Promise.all(PODS.map(p => setting(p, 'work_mem')))).every(v => v === '12MB'), 30_000, 200);
    });
    const reloaded = () => cluster.events().slice(events).filter(e => e.reason === 'ConfigurationReloaded');
    await waitFor('an Event from each pod', () => reloaded().length >= 3, 10_000, 100);
    expect(reloaded().map(e => e.involvedObject.name).sort()).toEqual(PODS);
    for (const event of reloaded()) expect(event.message).toBe('the configuration changed: PostgreSQL reloaded it; in effect now: work_mem (unset) -> "12MB"');
    expect(PODS.map(p => cluster.pod(p))).toEqual(pods);
    expect(leader(cluster).epoch).toBe(before.epoch);
    expect(writer.servers()).toEqual([before.primary]);
    expect(await lostRows(cluster, writer, before.primary)).toEqual([]);
  }));

  test('a setting that needs a restart: the pods roll with one switchover, the setting in effect everywhere, no row lost', () => step(cluster, async () => {
    const before = leader(cluster);
    const next = manifestsWith({ work_mem: '12MB', shared_buffers: '64MB' });
    expect(next.statefulSet.spec.template).not.toEqual(cluster.statefulSet.spec.template);
    const writer = await writing(cluster, async () => {
      applyConfigMaps(next.configMaps);
      await cluster.applyTemplate(next.statefulSet.spec.template);
    });
    const after = leader(cluster);
    for (const pod of PODS) expect(await setting(pod, 'shared_buffers')).toBe('64MB');
    expect(after).toMatchObject({ state: 'stable', epoch: String(Number(before.epoch) + 1) });
    expect(writer.servers()).toEqual([before.primary, after.primary]);
    expect(await lostRows(cluster, writer, after.primary)).toEqual([]);
    console.log(`restart-only setting rolled out: longest write outage ${writer.longestGap().ms} ms`);
    expect(writer.longestGap().ms).toBeLessThan(5_000);
    await waitForStreaming(cluster, after.primary, others(after.primary), 90_000);
  }));

  test('max_connections lowered: each replica starts with the value its primary\'s WAL requires, the roll completes with one switchover, '
    + 'no row lost; the primary restarted in place takes the lower value', () => step(cluster, async () => {
    const before = leader(cluster);
    const marks = new Map(PODS.map(p => [p, cluster.pod(p).logMark('postgres')]));
    const next = manifestsWith({ work_mem: '12MB', shared_buffers: '64MB' }, { maxConnections: 50 });
    const writer = await writing(cluster, async () => {
      applyConfigMaps(next.configMaps);
      await cluster.applyTemplate(next.statefulSet.spec.template);
    });
    const after = leader(cluster);
    expect(after).toMatchObject({ state: 'stable', epoch: String(Number(before.epoch) + 1) });
    expect(writer.servers()).toEqual([before.primary, after.primary]);
    expect(await lostRows(cluster, writer, after.primary)).toEqual([]);
    // Each pod restarted as a replica (the new primary was promoted since), with the WAL's 100: with 50, PostgreSQL
    // refuses to start a hot standby ("recovery aborted because of insufficient parameter settings").
    for (const pod of PODS) {
      expect(await setting(pod, 'max_connections')).toBe('100');
      expect(cluster.pod(pod).logSince(marks.get(pod)!, 'postgres')).toContain('with max_connections 100 (the primary\'s WAL requires at least that on a replica');
    }
    await waitForStreaming(cluster, after.primary, others(after.primary), 90_000);
    // The primary stopped in place (its container restarts, the record names it): it starts as the primary, with 50;
    // the replicas, which run with more, follow it.
    const postgres = cluster.pod(after.primary).container('postgres');
    const restarts = postgres.restarts;
    // Its exec ends with the container (137, as kubectl exec's would).
    await postgres.exec(['pg_ctl', 'stop', '-m', 'fast']);
    await waitFor(`${after.primary}'s postgres container restarted`, () => postgres.restarts > restarts, 30_000, 100);
    await waitFor(`${after.primary} serving with max_connections 50`, async () => (await setting(after.primary, 'max_connections').catch(() => '')) === '50', 60_000, 250);
    await waitForStreaming(cluster, after.primary, others(after.primary), 90_000);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: after.primary, epoch: after.epoch });
  }));

  test('another major (postgresVersion): the first pod rolled refuses to start on the old data and says why; the roll stops there, '
    + 'a Warning Event says why; the primary serves on', () => step(cluster, async () => {
    const before = leader(cluster);
    // The roll deletes the replica with the highest ordinal first.
    const first = others(before.primary).sort((a, b) => Number(b.split('-').pop()) - Number(a.split('-').pop()))[0];
    const rest = others(first);
    const events = cluster.events().length;
    const kept = {
      configMaps: cluster.manifests.all('ConfigMap').map(c => JSON.parse(JSON.stringify(c)) as KubeObject),
      template: JSON.parse(JSON.stringify(cluster.statefulSet.spec.template)),
    };
    // postgres:17 runs PostgreSQL 17 here (test/setup/postgresql-17.sh): its own binaries meet the 15 data directory.
    const next = manifestsWith({ work_mem: '12MB', shared_buffers: '64MB' }, { postgresVersion: 17 });
    const writer = await writing(cluster, async w => {
      applyConfigMaps(next.configMaps);
      cluster.setTemplate(next.statefulSet.spec.template);
      // The primary's agent deleted that replica, and the StatefulSet made it again from the new template; its entrypoint
      // stops (and the kubelet restarts it) without starting PostgreSQL.
      await waitFor(`${first} refusing`, () => cluster.pod(first).logSince(0, 'postgres').includes('a server never starts on another major\'s data'), 30_000, 200);
      // And the rolling update waits for it: the other pods stay of the old revision.
      await new Promise(resolve => setTimeout(resolve, 5_000));
      expect(rest.map(p => cluster.pod(p).labels['controller-revision-hash'])).toEqual(rest.map(() => expect.not.stringMatching(cluster.revision)));
      const since = Date.now();
      await waitFor('writes on the primary meanwhile', () => w.attempts.filter(a => a.ok && a.startedAt >= since).length >= 10, 20_000, 50);
    });
    expect(cluster.pod(first).logSince(0, 'postgres')).toContain(
      'the data directory is PostgreSQL 15\'s (PG_VERSION), and this pod runs PostgreSQL 17: a server never starts on another major\'s data. '
      + 'Set postgresVersion back to 15 and apply, or upgrade (README: Major-version upgrades)');
    expect(cluster.pod(first).ready).toBe(false);
    // The rolling update waits for that pod: the primary and the other replica were not touched.
    expect(leader(cluster)).toMatchObject({ primary: before.primary, epoch: before.epoch });
    expect(writer.servers()).toEqual([before.primary]);
    expect(await lostRows(cluster, writer, before.primary)).toEqual([]);
    // A minute later, the primary's agent says in a Warning Event what the roll waits for.
    const stalled = () => cluster.events().slice(events).filter(e => e.reason === 'RollingUpdateStalled');
    await waitFor('a RollingUpdateStalled Event', () => stalled().length > 0, 90_000, 500);
    expect(stalled().map(e => [e.type, e.involvedObject.name])).toEqual([['Warning', before.primary]]);
    expect(stalled()[0].message).toMatch(new RegExp(`^for 60s and more: rolling update to revision \\S+ \\(1 of 3 pods run it\\): waiting, ${first} is not Ready`));
    expect(leader(cluster)).toMatchObject({ primary: before.primary, epoch: before.epoch });
    // Set back, and delete the pod that refused (the roll waits for every pod to be Ready before it deletes one): it
    // starts again on its data, a replica.
    applyConfigMaps(kept.configMaps);
    cluster.setTemplate(kept.template);
    await cluster.deletePod(first);
    await cluster.applyTemplate(kept.template, 120_000);
    await waitForStreaming(cluster, before.primary, others(before.primary), 90_000);
  }));
});
