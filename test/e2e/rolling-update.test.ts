import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { DIST_MANIFEST, leader, lostRows, POD, step, waitForStreaming, writing } from './support';

jest.setTimeout(600_000);

const PODS = [POD(0), POD(1), POD(2)];
const others = (pod: string) => PODS.filter(p => p !== pod);
const SWITCHOVER = 'switchover.postgres.cdk8s.io/target';
const REVISION = 'controller-revision-hash';

/**
 * A rolling update of the pod template (`kubectl rollout restart`, a new image, a new setting that needs a restart). The
 * StatefulSet's updateStrategy is OnDelete; the primary's agent rolls: the replicas of the old revision first, one at a
 * time, highest ordinal first, each once every pod is Ready; then one switchover to an updated standby; then the new
 * primary's agent deletes the old primary's pod. Replicas restart without a write outage; wherever the primary is, the
 * update makes exactly one switchover and loses no acknowledged row. dist/ as written (asynchronous replication), real
 * PostgreSQL 15, the synthesized scripts and agent.
 */
describe('a rolling update of a 3-pod cluster', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST, replicas: 3 });
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  /** Rolls every pod while a writer writes; what the writer saw and the record before and after. */
  interface Update { before: Record<string, string>; after: Record<string, string>; servers: string[]; gapMs: number; lost: number[] }

  /** The primary moved to `pod` by a switchover requested on the record, unless it is there. */
  async function primaryOn(pod: string): Promise<void> {
    if (leader(cluster).primary === pod) return;
    expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `${SWITCHOVER}=${pod}`])).code).toBe(0);
    await waitFor(`${pod} the primary`, () => leader(cluster).primary === pod && leader(cluster).state === 'stable', 30_000, 50);
  }

  async function rollingUpdate(): Promise<Update> {
    const before = leader(cluster);
    await waitForStreaming(cluster, before.primary, others(before.primary), 90_000);
    const revisions = PODS.map(p => cluster.pod(p).labels[REVISION]);
    const events = cluster.events().length;
    const writer = await writing(cluster, async w => {
      await cluster.rolloutRestart();
      await waitFor('writes after the update', () => w.attempts.filter(a => a.ok && a.startedAt >= Date.now() - 1000).length >= 5, 30_000, 50);
    });
    const after = leader(cluster);
    // Every pod was made again, from the new revision.
    for (const [i, pod] of PODS.entries()) {
      expect(cluster.pod(pod).labels[REVISION]).toBe(cluster.revision);
      expect(cluster.pod(pod).labels[REVISION]).not.toBe(revisions[i]);
    }
    await waitForStreaming(cluster, after.primary, others(after.primary), 90_000);
    // The agents' own account: each old pod deleted once, replicas first, the old primary last; one switchover.
    const rolled = cluster.events().slice(events).filter(e => e.reason === 'RollingUpdate' || e.reason === 'SwitchingOver');
    const replicas = others(before.primary).sort().reverse();
    expect(rolled.map(e => [e.reason, e.involvedObject.name, /deleting replica (\S+)/.exec(e.message)?.[1] ?? ''])).toEqual([
      ...replicas.map(replica => ['RollingUpdate', before.primary, replica]),
      ['SwitchingOver', before.primary, ''],
      ['RollingUpdate', after.primary, before.primary],
    ]);
    return { before, after, servers: writer.servers(), gapMs: writer.longestGap().ms, lost: await lostRows(cluster, writer, after.primary) };
  }

  test('the primary on pod 0: the replicas first, then exactly one switchover, a write outage of one switchover, no row lost', () => step(cluster, async () => {
    expect(leader(cluster).primary).toBe(POD(0));
    const update = await rollingUpdate();
    console.log(`rolling update, primary on ${POD(0)}: longest write outage ${update.gapMs} ms; writes went to ${update.servers.join(' -> ')}`);
    expect(update.after).toMatchObject({ state: 'stable', epoch: String(Number(update.before.epoch) + 1) });
    expect(others(POD(0))).toContain(update.after.primary);
    expect(update.servers).toEqual([POD(0), update.after.primary]);
    expect(update.lost).toEqual([]);
    expect(update.gapMs).toBeLessThan(5_000);
    expect(cluster.writeServiceViolations).toEqual([]);
  }));

  test.each([1, 2])('the primary on pod %i: the replicas first, then one switchover to an updated standby, the old primary last', ordinal => step(cluster, async () => {
    await primaryOn(POD(ordinal));
    // The pod object of the old revision: its log stays readable after the pod is made again.
    const old = cluster.pod(POD(ordinal));
    const mark = old.logMark('role-labeler');
    const update = await rollingUpdate();
    console.log(`rolling update, primary on ${POD(ordinal)}: longest write outage ${update.gapMs} ms; writes went to ${update.servers.join(' -> ')}`);
    expect(update.before.primary).toBe(POD(ordinal));
    expect(update.after).toMatchObject({ state: 'stable', epoch: String(Number(update.before.epoch) + 1) });
    expect(others(POD(ordinal))).toContain(update.after.primary);
    expect(update.servers).toEqual([POD(ordinal), update.after.primary]);
    expect(update.lost).toEqual([]);
    expect(update.gapMs).toBeLessThan(5_000);
    expect(cluster.writeServiceViolations).toEqual([]);
    expect(old.logSince(mark, 'role-labeler')).toContain(`switching over to ${update.after.primary}, the most advanced standby of the new revision`);
  }));

  test('kubectl scale to 5, the primary moved to pod 4, then kubectl apply -f dist/ (3 pods): the primary hands over to a pod that stays, no row lost', () => step(cluster, async () => {
    await cluster.scale(5);
    const five = [...PODS, POD(3), POD(4)];
    await waitForStreaming(cluster, leader(cluster).primary, five.filter(p => p !== leader(cluster).primary), 90_000);
    expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `${SWITCHOVER}=${POD(4)}`])).code).toBe(0);
    await waitFor(`${POD(4)} the primary`, () => leader(cluster).primary === POD(4) && leader(cluster).state === 'stable', 30_000, 50);
    await waitForStreaming(cluster, POD(4), five.filter(p => p !== POD(4)), 90_000);
    const before = leader(cluster);
    // dist/ says 3 pods: applying it again scales the StatefulSet down, removing pods 4 and 3 at once (Parallel).
    const writer = await writing(cluster, async w => {
      await cluster.scale(3);
      const since = Date.now();
      await waitFor('writes after the scale-down', () => w.attempts.filter(a => a.ok && a.startedAt >= since).length >= 10, 30_000, 50);
    });
    const after = leader(cluster);
    expect(PODS).toContain(after.primary);
    expect(after).toMatchObject({ state: 'stable', epoch: String(Number(before.epoch) + 1) });
    expect(writer.servers()).toEqual([POD(4), after.primary]);
    expect(await lostRows(cluster, writer, after.primary)).toEqual([]);
    expect(cluster.livePods().map(p => p.name).sort()).toEqual(PODS);
    await waitForStreaming(cluster, after.primary, others(after.primary), 90_000);
  }));
  test('a roll held by rollout.postgres.cdk8s.io/paused=true on the record deletes nothing, and goes on, with one switchover, once it is removed', () => step(cluster, async () => {
    const before = leader(cluster);
    await waitForStreaming(cluster, before.primary, others(before.primary), 90_000);
    expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', 'rollout.postgres.cdk8s.io/paused=true'])).code).toBe(0);
    const revisions = PODS.map(p => cluster.pod(p).labels[REVISION]);
    const mark = cluster.pod(before.primary).logMark('role-labeler');
    const template = JSON.parse(JSON.stringify(cluster.statefulSet.spec.template));
    template.metadata = { ...template.metadata, annotations: { ...template.metadata?.annotations, 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } };
    cluster.setTemplate(template);
    // The primary looks every 5 s while idle: two looks, and nothing moved.
    await new Promise(resolve => setTimeout(resolve, 11_000));
    expect(PODS.map(p => cluster.pod(p).labels[REVISION])).toEqual(revisions);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: before.primary, epoch: before.epoch });
    expect(cluster.pod(before.primary).logSince(mark, 'role-labeler')).toContain('paused (rollout.postgres.cdk8s.io/paused=true on the record)');
    expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', 'rollout.postgres.cdk8s.io/paused-'])).code).toBe(0);
    await cluster.applyTemplate(template);
    expect(leader(cluster)).toMatchObject({ state: 'stable', epoch: String(Number(before.epoch) + 1) });
    expect(others(before.primary)).toContain(leader(cluster).primary);
  }));
});
