import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { leader, lostRows, POD, step, synthesizeToFile, waitForStreaming, writing } from './support';

jest.setTimeout(600_000);

const PODS = [POD(0), POD(1), POD(2)];
const others = (pod: string) => PODS.filter(p => p !== pod);
const FAILOVER = 'failover.postgres.cdk8s.io/target';
/** Twice the primary's fence time without automatic failover (ISOLATION_FENCE_SECONDS, 10 s). */
const ANSWER_SECONDS = 20;

/**
 * A failover asked for on the record (`kubectl annotate lease postgres-leader failover.postgres.cdk8s.io/target=<pod|any>`),
 * without automatic failover and without a job's pod: a primary that serves switches over instead; a dead one, which
 * cannot answer, is replaced once it must have fenced itself. Synchronous mode (synchronousReplicas: 1): every
 * acknowledged row survives. Real PostgreSQL 15, the synthesized scripts and agent.
 */
describe('a failover requested on the record', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: synthesizeToFile({ synchronousReplicas: 1 }), replicas: 3 });
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  const request = () => cluster.lease('postgres-leader')!.metadata.annotations?.[FAILOVER];

  test('while the primary serves: it switches over instead (no row lost), and the request goes', () => step(cluster, async () => {
    const before = Number(leader(cluster).epoch);
    const mark = cluster.pod(POD(0)).logMark('role-labeler');
    let asked = 0;
    const written = await writing(cluster, async w => {
      asked = Date.now();
      expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `${FAILOVER}=any`])).code).toBe(0);
      await waitFor('writes on another pod', () => w.attempts.filter(a => a.ok && a.server !== POD(0) && a.startedAt >= asked).length >= 10, 30_000, 50);
    });
    const record = leader(cluster);
    expect(record).toMatchObject({ state: 'stable', epoch: String(before + 1) });
    expect(others(POD(0))).toContain(record.primary);
    expect(request()).toBeUndefined();
    expect(await lostRows(cluster, written, record.primary)).toEqual([]);
    // A switchover, at once: nobody waited for the primary to fence itself.
    expect(written.firstSuccessAfter(asked, record.primary)! - asked).toBeLessThan(5_000);
    expect(cluster.pod(POD(0)).logSince(mark, 'role-labeler')).toContain(`failover requested (${FAILOVER}), but this primary serves: switchover to any requested on the record`);
    await waitForStreaming(cluster, record.primary, others(record.primary), 90_000);
  }));

  test('the primary\'s pod is dead: after twice its fence time the named replica takes over; no acknowledged row lost; Events say so', () => step(cluster, async () => {
    const old = leader(cluster);
    const target = others(old.primary)[1];
    const bystander = others(old.primary)[0];
    const bystanderMark = cluster.pod(bystander).logMark('role-labeler');
    let asked = 0;
    const written = await writing(cluster, async w => {
      await cluster.killPod(old.primary);
      asked = Date.now();
      expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `${FAILOVER}=${target}`])).code).toBe(0);
      await waitFor('writes on the target', () => w.attempts.some(a => a.ok && a.server === target && a.startedAt >= asked), (ANSWER_SECONDS + 30) * 1000, 50);
      await waitFor('more writes', () => w.attempts.filter(a => a.ok && a.startedAt >= asked).length >= 10, 20_000);
    });
    const record = leader(cluster);
    expect(record).toMatchObject({ state: 'stable', primary: target, epoch: String(Number(old.epoch) + 1) });
    expect(request()).toBeUndefined();
    expect(await lostRows(cluster, written, target)).toEqual([]);
    expect(cluster.writeServiceViolations).toEqual([]);
    // Not before the old primary had to have fenced itself; soon after.
    const tookMs = written.firstSuccessAfter(asked)! - asked;
    expect(tookMs).toBeGreaterThan(ANSWER_SECONDS * 1000);
    expect(tookMs).toBeLessThan((ANSWER_SECONDS + 8) * 1000);
    // The other replica said what it waited for, and never tried to take over itself.
    const waited = cluster.pod(bystander).logSince(bystanderMark, 'role-labeler');
    expect(waited).toContain(`a failover to ${target} is requested (${FAILOVER}); waiting ${ANSWER_SECONDS}s for ${old.primary} to answer it`);
    expect(waited).not.toMatch(/REQUESTED FAILOVER|could not record the takeover/);
    const events = cluster.events().filter((e: any) => e.reason === 'RequestedFailover');
    expect(events.map((e: any) => `${e.involvedObject.kind}/${e.involvedObject.name}`).sort()).toEqual(['Lease/postgres-leader', `Pod/${target}`]);
    expect(events[0].message).toContain(`took over from ${old.primary}, which did not answer the failover request (${FAILOVER}=${target})`);
    // The node comes back: the old primary rejoins as a replica of the new one.
    cluster.startPod(old.primary);
    await waitForStreaming(cluster, target, others(target), 90_000);
    expect(leader(cluster).primary).toBe(target);
  }));

  test('a request to the primary itself: refused, the request removed, a Warning Event says why', () => step(cluster, async () => {
    const record = leader(cluster);
    expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `${FAILOVER}=${record.primary}`])).code).toBe(0);
    await waitFor('the request removed', () => request() === undefined, 10_000, 50);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: record.primary, epoch: record.epoch });
    // The Event is posted apart from the round that removed the request (an API call of its own).
    await waitFor('the FailoverRefused Event', () => cluster.events().some((e: any) => e.reason === 'FailoverRefused'), 10_000, 50);
    const events = cluster.events().filter((e: any) => e.reason === 'FailoverRefused');
    expect(events.map((e: any) => [e.involvedObject.name, e.type, e.message])).toEqual([[record.primary, 'Warning',
      `failover requested (${FAILOVER}), but this primary serves: switchover to ${record.primary} requested: it is the primary already`]]);
  }));
});
