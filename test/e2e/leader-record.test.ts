import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { E2eCluster } from './harness/cluster';
import { sleep, waitFor } from './harness/exec';
import {
  DIST_MANIFEST, expectOnlyPrimary, expectRowsEverywhere, isPrimary, leader, POD, runningPrimaries, step, synthesizeToFile,
  valuesOn, Writer,
} from './support';

jest.setTimeout(400_000);

const PODS = [POD(0), POD(1), POD(2)];

/**
 * The leader record (the Lease postgres-leader) decides who is primary, under the faults that broke the
 * record-less design: each test injects the fault on real PostgreSQL 15 and checks the data afterwards.
 */
describe('the leader record under faults (dist/)', () => {
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

  test('a new cluster records its first primary once: epoch 1, its timeline and system identifier', () => step(cluster, async () => {
    const record = leader(cluster);
    const id = await cluster.podSql(POD(0), 'SELECT system_identifier FROM pg_control_system()');
    expect(record).toMatchObject({ 'state': 'stable', 'primary': POD(0), 'epoch': '1', 'timeline': '1', 'system-identifier': id });
    expect(cluster.lease('postgres-leader')?.spec.holderIdentity).toBe(POD(0));
    await expectOnlyPrimary(cluster, POD(0), PODS);
  }));

  test('the postgres container has no API token; the sidecar has one', () => step(cluster, async () => {
    const token = '/var/run/secrets/kubernetes.io/serviceaccount/token';
    expect((await cluster.pod(POD(0)).container('postgres').exec(['cat', token])).code).not.toBe(0);
    expect((await cluster.pod(POD(0)).container('role-labeler').exec(['cat', token])).code).toBe(0);
  }));

  test('each replica streams through a replication slot of its own, kept by the primary', () => step(cluster, async () => {
    await waitFor('slots of pods 1 and 2, active', async () =>
      await cluster.podSql(POD(0), "SELECT string_agg(slot_name || ':' || active, ',' ORDER BY slot_name) FROM pg_replication_slots")
        === 'postgres_cluster_1:true,postgres_cluster_2:true', 20_000, 250);
  }));

  test('a primary that answers no queries (connection slots full) is not failed over by an unplanned run', () => step(cluster, async () => {
    const hogs = await fillConnectionSlots(cluster, POD(0));
    try {
      expect((await cluster.sql('postgres-write', 'SELECT 1')).stderr).toContain('too many clients');
      const run = await cluster.runJob('postgres-failover');
      expect(run.stdout).toContain('primary postgres-cluster-0 is running but does not answer queries');
      expect(run.code).toBe(0);
      expect(leader(cluster)).toMatchObject({ state: 'stable', primary: POD(0), epoch: '1' });
      expect(cluster.endpoints('postgres-write')).toEqual([POD(0)]);
      expect(await runningPrimaries(cluster)).toEqual([POD(0)]);
    } finally {
      await endSessions(cluster, POD(0), hogs);
    }
    await expectOnlyPrimary(cluster, POD(0), PODS);
  }));

  test('a switchover away from a primary with full connection slots ends its sessions: no write lands on it after the promotion', () => step(cluster, async () => {
    const hogs = await fillConnectionSlots(cluster, POD(0));
    try {
      const run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(1) });
      expect(run.code).toBe(0);
      expect(leader(cluster)).toMatchObject({ state: 'stable', primary: POD(1), epoch: '2' });
      await waitFor('the sessions on the old primary to end', () => hogs.every(h => h.exitCode !== null || h.signalCode !== null), 10_000);
    } finally {
      await endSessions(cluster, POD(0), hogs);
    }
    await expectOnlyPrimary(cluster, POD(1), PODS);
  }));

  test('two failover jobs at once: one takes the record, the other changes nothing; one primary', () => step(cluster, async () => {
    const rows = await valuesOn(cluster, POD(1), 'writes');
    const epoch = Number(leader(cluster).epoch);
    const targets = [POD(0), POD(2)];
    const results = await Promise.all(targets.map(target => cluster.startJob('postgres-failover', { FAILOVER_TARGET: target }).finished));
    // A loser: the other job holds the record, or wrote it first, or (its survey taken while the other's switchover ran)
    // its target's WAL receiver was between primaries.
    const refused = /REFUSED: (another failover job \(\S+\) holds the leader record|the leader record changed while this job worked|FAILOVER_TARGET \S+ does not stream from)/;
    // Started together, but a job's container may start so late that the other job has finished: it reads the other's
    // switchover done (a stable record of a later epoch, naming the other's target). Then it is a later switchover, not a
    // race: its target is taken over; or it is refused, as the new primary writes its timeline meanwhile (the record
    // changed), or as the target does not stream from the new primary yet (the job sees it, or the new primary gives the
    // switchover back), and nothing is lost.
    const late = results.findIndex((r, i) => {
      const read = /leader record: epoch (\d+), stable, primary (\S+),/.exec(r.stdout);
      return read !== null && Number(read[1]) > epoch && read[2] === targets[1 - i];
    });
    let primary: string;
    if (late < 0) {
      const winners = results.filter(r => r.code === 0);
      expect(winners).toHaveLength(1);
      const loser = results.find(r => r.code !== 0)!;
      expect(loser.stdout).toMatch(refused);
      primary = /done: (\S+) is the primary/.exec(winners[0].stdout)![1];
      expect(targets).toContain(primary);
    } else {
      const [first, second] = [results[1 - late], results[late]];
      expect(first.code).toBe(0);
      expect(first.stdout).toContain(`done: ${targets[1 - late]} is the primary`);
      if (second.code === 0) {
        expect(second.stdout).toContain(`done: ${targets[late]} is the primary`);
        primary = targets[late];
      } else {
        expect(second.stdout).toMatch(new RegExp(`${refused.source}|REFUSED: switchover to ${targets[late]}: ${targets[1 - late]} gave it back`));
        primary = targets[1 - late];
      }
    }
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary });
    await waitFor('every pod to serve', () => PODS.every(p => cluster.pod(p).ready), 60_000);
    await expectOnlyPrimary(cluster, primary, PODS);
    await expectRowsEverywhere(cluster, PODS, 'writes', rows);
  }));

  test('a switchover whose job is killed right after it took the record goes on without it: the sidecars finish it', () => step(cluster, async () => {
    const before = leader(cluster).primary;
    const target = PODS.find(p => p !== before)!;
    await cluster.sql('postgres-write', 'INSERT INTO writes (v) VALUES (200000)');
    const job = cluster.startJob('postgres-failover', { FAILOVER_TARGET: target });
    await waitFor('the job to take the record', () => leader(cluster).state !== 'stable' || leader(cluster).primary !== before, 20_000, 5);
    await job.kill();
    await waitFor(`the record to name ${target}`, () => leader(cluster).state === 'stable' && leader(cluster).primary === target, 20_000);
    await expectOnlyPrimary(cluster, target, PODS);
    expect(await valuesOn(cluster, target, 'writes')).toContain(200000);
    const again = await cluster.runJob('postgres-failover');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`primary ${target} is healthy: nothing to do`);
    await expectRowsEverywhere(cluster, PODS, 'writes', await valuesOn(cluster, target, 'writes'));
  }));

  test('a stalled switchover whose job was killed stays switching over, the old primary fenced; running the job again gives it back', () => step(cluster, async () => {
    const before = leader(cluster).primary;
    const target = PODS.find(p => p !== before)!;
    await cluster.sql('postgres-write', 'INSERT INTO writes (v) VALUES (200001)');
    // The target cannot receive the old primary's last WAL: the sidecars cannot finish the switchover.
    await cluster.cutOff(target, { network: true });
    const job = cluster.startJob('postgres-failover', { FAILOVER_TARGET: target });
    await waitFor('the old primary to record its shutdown checkpoint', () => !!leader(cluster).checkpoint, 30_000, 20);
    await job.kill();
    await sleep(2000);
    expect(leader(cluster)).toMatchObject({ state: 'switching-over', job: job.pod, previous: before, target });
    expect(await runningPrimaries(cluster)).toEqual([]);
    expect(cluster.endpoints('postgres-write')).toEqual([]);
    const again = await cluster.runJob('postgres-failover', { SWITCHOVER_TIMEOUT_SECONDS: '2' });
    expect(again.stdout).toContain(`job ${job.pod} ended without finishing its failover`);
    expect(again.stdout).toContain(`REFUSED: switchover to ${target}`);
    expect(again.stdout).toContain(`${before} is the primary again, nothing was lost`);
    expect(again.code).toBe(1);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: before, checkpoint: '' });
    await cluster.reconnect(target);
    await expectOnlyPrimary(cluster, before, PODS);
    expect(await valuesOn(cluster, before, 'writes')).toContain(200001);
    await expectRowsEverywhere(cluster, PODS, 'writes', await valuesOn(cluster, before, 'writes'));
  }));

  test('a switchover to a disconnected replica is refused and given back: the old primary keeps every row', () => step(cluster, async () => {
    const primary = leader(cluster).primary;
    const target = PODS.find(p => p !== primary)!;
    const epoch = Number(leader(cluster).epoch);
    await cluster.cutOff(target, { network: true });
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('writes the target does not receive', () => writer.acknowledged.length >= 30, 30_000);
    const run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: target, SWITCHOVER_TIMEOUT_SECONDS: '3' });
    const refusedAt = Date.now();
    await waitFor('writes after the refusal', () => writer.attempts.filter(a => a.ok && a.startedAt > refusedAt).length >= 5, 30_000);
    await writer.stop();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`REFUSED: switchover to ${target}`);
    expect(run.stdout).toContain(`${primary} is the primary again, nothing was lost`);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary });
    expect(Number(leader(cluster).epoch)).toBe(epoch + 2);
    await cluster.reconnect(target);
    await expectOnlyPrimary(cluster, primary, PODS);
    const rows = new Set(await valuesOn(cluster, primary, 'writes'));
    expect(writer.acknowledged.filter(v => !rows.has(v))).toEqual([]);
    await expectRowsEverywhere(cluster, PODS, 'writes', [...rows]);
  }));

  test('a switchover to a replica whose WAL receiver does not stream is refused before anything changes: no write outage, no row lost', () => step(cluster, async () => {
    const primary = leader(cluster).primary;
    const target = PODS.find(p => p !== primary)!;
    const epoch = leader(cluster).epoch;
    // Cut off, its WAL receiver ended (SIGTERM: pg_terminate_backend does not reach it): the new one cannot reach the
    // primary, so it does not stream.
    await cluster.cutOff(target, { network: true });
    const ended = await cluster.pod(target).container('postgres').exec(['bash', '-c',
      'kill -TERM "$(psql -XAtq -c "SELECT pid FROM pg_stat_wal_receiver")"'], 10_000);
    expect(ended.code).toBe(0);
    await waitFor(`${target}'s WAL receiver not to stream`, async () =>
      await cluster.podSql(target, "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'") === '0', 20_000, 200);
    // Its readiness probe says so too: the job asks the pods themselves (the API's shortcut needs a Ready target).
    await waitFor(`${target} not to be Ready`, () => !cluster.pod(target).ready, 30_000);
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('writes before the job', () => writer.acknowledged.length >= 10, 30_000);
    const started = Date.now();
    const run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: target });
    const finished = Date.now();
    await waitFor('writes after the job', () => writer.attempts.filter(a => a.ok && a.startedAt > finished).length >= 5, 30_000);
    await writer.stop();
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`REFUSED: FAILOVER_TARGET ${target} does not stream from ${primary} \\(its WAL receiver is \\S+\\): `
      + 'it could not receive the primary\'s last WAL, so nothing was changed'));
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary, epoch });
    // Every write while the job ran succeeded: the primary was never unlabeled, fenced or stopped.
    expect(writer.attempts.filter(a => a.startedAt >= started && a.startedAt <= finished && !a.ok)).toEqual([]);
    expect(writer.attempts.filter(a => a.startedAt >= started && a.startedAt <= finished).length).toBeGreaterThan(0);
    await cluster.reconnect(target);
    await expectOnlyPrimary(cluster, primary, PODS);
    const rows = new Set(await valuesOn(cluster, primary, 'writes'));
    expect(writer.acknowledged.filter(v => !rows.has(v))).toEqual([]);
    await expectRowsEverywhere(cluster, PODS, 'writes', [...rows]);
  }));

  test('a partitioned primary fences itself before the job promotes; it rejoins when the partition heals', () => step(cluster, async () => {
    const old = leader(cluster).primary;
    const rows = await valuesOn(cluster, old, 'writes');
    const marks = { agent: cluster.pod(old).logMark('role-labeler'), fence: cluster.pod(old).logMark('lease-fence') };
    await cluster.cutOff(old, { api: true, network: true });
    const run = await cluster.runJob('postgres-failover', {}, 120_000);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${old} cannot be reached and may still be running`);
    const promoted = /promoting (\S+)/.exec(run.stdout)![1];
    const fencedAt = fenceTime(cluster.pod(old).logSince(marks.agent, 'role-labeler'), cluster.pod(old).logSince(marks.fence, 'lease-fence'));
    const promotedAt = Date.parse(/^(\S+) failover: promoting/m.exec(run.stdout)![1]);
    expect(fencedAt).toBeLessThan(promotedAt);
    expect(cluster.endpoints('postgres-write')).toEqual([promoted]);
    await cluster.sql('postgres-write', 'INSERT INTO writes (v) VALUES (300000)');
    await cluster.reconnect(old);
    await waitFor(`${old} to serve again`, () => cluster.pod(old).ready, 60_000);
    expect(await isPrimary(cluster, old)).toBe(false);
    await expectOnlyPrimary(cluster, promoted, PODS);
    await expectRowsEverywhere(cluster, PODS, 'writes', [...rows, 300000]);
  }));

  test('a former primary that starts while its peers are unreachable never becomes primary; the new primary is never rewound', () => step(cluster, async () => {
    const old = leader(cluster).primary;
    await cluster.killPod(old);
    const run = await cluster.runJob('postgres-failover');
    expect(run.code).toBe(0);
    const promoted = leader(cluster).primary;
    expect(promoted).not.toBe(old);
    await cluster.sql('postgres-write', 'INSERT INTO writes (v) VALUES (400000)');
    const newMark = cluster.pod(promoted).logMark();
    await cluster.cutOff(old, { network: true });
    const mark = cluster.pod(old).logMark();
    cluster.startPod(old);
    await waitFor(`${old} to wait for the recorded primary`, () => cluster.pod(old).logSince(mark).includes('does not answer'), 30_000);
    await sleep(3000);
    expect(await runningPrimaries(cluster)).toEqual([promoted]);
    await cluster.reconnect(old);
    await waitFor(`${old} to serve again`, () => cluster.pod(old).ready, 60_000);
    await expectOnlyPrimary(cluster, promoted, PODS);
    expect(cluster.pod(promoted).logSince(newMark)).not.toContain('rewinding');
    const rows = await valuesOn(cluster, promoted, 'writes');
    expect(rows).toContain(400000);
    await expectRowsEverywhere(cluster, PODS, 'writes', rows);
  }));

  test('all pods restarted with the primary\'s volume empty: no new cluster; the job promotes a replica and the pod clones it', () => step(cluster, async () => {
    const primary = leader(cluster).primary;
    const rows = await valuesOn(cluster, primary, 'writes');
    const id = leader(cluster)['system-identifier'];
    await Promise.all(PODS.map(p => cluster.stopPod(p)));
    fs.rmSync(path.join(cluster.volumeOf(primary), 'pgdata'), { recursive: true, force: true });
    const mark = cluster.pod(primary).logMark();
    PODS.forEach(p => cluster.startPod(p));
    await waitFor(`${primary} to say its data is lost`, () => cluster.pod(primary).logSince(mark).includes('its volume is empty: its data is lost'), 30_000);
    expect(cluster.pod(primary).logSince(mark)).not.toContain('initializing a new cluster');
    expect(cluster.endpoints('postgres-write')).toEqual([]);
    expect(await runningPrimaries(cluster)).toEqual([]);
    const run = await cluster.runJob('postgres-failover');
    expect(run.code).toBe(0);
    const promoted = leader(cluster).primary;
    expect(promoted).not.toBe(primary);
    await waitFor('every pod to serve', () => PODS.every(p => cluster.pod(p).ready), 60_000);
    await expectOnlyPrimary(cluster, promoted, PODS);
    for (const p of PODS) expect(await cluster.podSql(p, 'SELECT system_identifier FROM pg_control_system()')).toBe(id);
    await expectRowsEverywhere(cluster, PODS, 'writes', rows);
  }));
});

describe('synchronous mode (synchronousReplicas: 1) keeps the synchronous set in the record', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: synthesizeToFile({ synchronousReplicas: 1 }) });
    await cluster.sql('postgres-write', 'CREATE TABLE writes (v int PRIMARY KEY)');
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('the record lists every other pod as a synchronous standby', () => step(cluster, async () => {
    await waitFor('the synchronous set', () => leader(cluster).sync === `${POD(1)},${POD(2)}`, 20_000);
  }));

  test('losing the primary and a replica together: the job refuses (acknowledged commits may be on the lost one), then promotes once it is back', () => step(cluster, async () => {
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('some writes', () => writer.acknowledged.length >= 30, 30_000);
    await Promise.all([cluster.killPod(POD(0)), cluster.killPod(POD(1))]);
    const refused = await cluster.runJob('postgres-failover');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('1 of the 2 recorded synchronous standbys');
    expect(refused.stdout).toContain('FAILOVER_ACCEPT_DATA_LOSS=true');
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: POD(0) });
    cluster.startPod(POD(1));
    await waitFor('pod 1 to run as a replica again', async () => (await cluster.podSql(POD(1), 'SELECT pg_is_in_recovery()').catch(() => '')) === 't', 30_000);
    const run = await cluster.runJob('postgres-failover');
    expect(run.code).toBe(0);
    const promoted = leader(cluster).primary;
    await waitFor('writes on the promoted replica', () => writer.attempts.filter(a => a.ok && a.server === promoted).length >= 10, 30_000);
    await writer.stop();
    const rows = new Set(await valuesOn(cluster, promoted, 'writes'));
    expect(writer.acknowledged.filter(v => !rows.has(v))).toEqual([]);
    cluster.startPod(POD(0));
    await waitFor('every pod to serve', () => PODS.every(p => cluster.pod(p).ready), 60_000);
    await expectOnlyPrimary(cluster, promoted, PODS);
    expect(cluster.writeServiceViolations).toEqual([]);
  }));

  test('FAILOVER_ACCEPT_DATA_LOSS=true promotes the surviving replica anyway', () => step(cluster, async () => {
    const primary = leader(cluster).primary;
    const replica = PODS.find(p => p !== primary)!;
    const survivor = PODS.find(p => p !== primary && p !== replica)!;
    await Promise.all([cluster.killPod(primary), cluster.killPod(replica)]);
    const run = await cluster.runJob('postgres-failover', { FAILOVER_ACCEPT_DATA_LOSS: 'true' });
    expect(run.code).toBe(0);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: survivor });
    cluster.startPod(primary);
    cluster.startPod(replica);
    await waitFor('every pod to serve', () => PODS.every(p => cluster.pod(p).ready), 60_000);
    await expectOnlyPrimary(cluster, survivor, PODS);
  }));
});

describe('a replica whose WAL was recycled (maxSlotWalKeepSize: 64MB)', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: synthesizeToFile({ maxSlotWalKeepSize: '64MB', walKeepSize: '0' }) });
    await cluster.sql('postgres-write', 'CREATE TABLE writes (v int PRIMARY KEY)');
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('loses its slot, is not ready while it cannot stream, and clones itself afresh', () => step(cluster, async () => {
    await cluster.stopPod(POD(2));
    await cluster.sql('postgres-write', "CREATE TABLE filler AS SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 150000) AS g", { timeoutMs: 120_000 });
    await cluster.sql('postgres-write', 'INSERT INTO writes (v) VALUES (1), (2), (3)');
    const primaryMark = cluster.pod(POD(0)).logMark('role-labeler');
    await cluster.podSql(POD(0), 'SELECT pg_switch_wal(); CHECKPOINT; SELECT pg_switch_wal(); CHECKPOINT');
    // The slot is invalidated at the checkpoint; the primary's sidecar drops it and makes it anew.
    await waitFor('the lost slot to be dropped', () => cluster.pod(POD(0)).logSince(primaryMark, 'role-labeler')
      .includes('dropping replication slot postgres_cluster_2 (lost)'), 20_000);
    const mark = cluster.pod(POD(2)).logMark('role-labeler');
    cluster.startPod(POD(2));
    await sleep(6000);
    expect(cluster.pod(POD(2)).ready).toBe(false);
    expect(cluster.endpoints('postgres-read')).toEqual([POD(1)]);
    await waitFor('pod 2 to ask for a new clone', () => cluster.pod(POD(2)).logSince(mark, 'role-labeler').includes('requesting a new clone'), 60_000);
    await waitFor('pod 2 to serve again', () => cluster.pod(POD(2)).ready, 90_000);
    await expectOnlyPrimary(cluster, POD(0), PODS);
    await expectRowsEverywhere(cluster, PODS, 'writes', [1, 2, 3]);
  }));
});

/**
 * Takes every connection slot of a pod until PostgreSQL refuses more ("too many clients"): the application's sessions
 * through the pod's address, and superuser sessions over its Unix socket for the slots reserved to superusers (as
 * `kubectl exec ... psql` sessions or a superuser's connection pool would).
 */
async function fillConnectionSlots(cluster: E2eCluster, pod: string): Promise<ReturnType<typeof spawn>[]> {
  const max = Number(await cluster.podSql(pod, 'SHOW max_connections'));
  const reserved = Number(await cluster.podSql(pod, 'SHOW superuser_reserved_connections'));
  const hogs = [];
  // More sessions than slots: probes and sidecars take slots for a moment, and a session refused then would
  // leave a slot free for good; the extra ones take those slots as they come free.
  for (let i = 0; i < max + 20; i++) {
    hogs.push(cluster.clientProcess(`${pod}.postgres-headless`, 'SELECT pg_sleep(600)'));
  }
  for (let i = 0; i < reserved + 5; i++) {
    void cluster.pod(pod).container('postgres').exec(['psql', '-XAtq', '-d', 'myapp', '-c', 'SELECT pg_sleep(600)'], 700_000).catch(() => undefined);
  }
  await waitFor('every connection slot to be taken', async () =>
    (await cluster.sql(`${pod}.postgres-headless`, 'SELECT 1')).stderr.includes('too many clients'), 90_000, 250);
  return hogs;
}

/**
 * Ends the sessions: a backend in pg_sleep does not notice its client is gone, and with every slot taken
 * no one can log in to terminate it, so its server processes are signalled directly (SIGTERM, as
 * pg_terminate_backend does), found among the postmaster's children.
 */
async function endSessions(cluster: E2eCluster, pod: string, hogs: ReturnType<typeof spawn>[]): Promise<void> {
  for (const hog of hogs) hog.kill('SIGKILL');
  const postgres = cluster.pod(pod).container('postgres');
  if (!postgres.running) return;
  const children = await postgres.exec(['ps', '-o', 'pid=,args=', '--ppid', String(postgres.process?.pid ?? 0)], 10_000);
  const pids = children.stdout.split('\n').filter(l => / (app|postgres) myapp /.test(l)).map(l => l.trim().split(/\s+/)[0]);
  if (pids.length > 0) await postgres.exec(['kill', '-TERM', ...pids], 10_000);
  await waitFor('a free connection slot', async () => (await cluster.sql(`${pod}.postgres-headless`, 'SELECT 1')).code === 0, 20_000, 250);
}

/** When the old primary was fenced: by its agent (the sidecar) or by its heartbeat fence, whichever came first. */
function fenceTime(agentLog: string, fenceLog: string): number {
  const times = [/^(\S+) \S+ role-labeler: FENCING/m.exec(agentLog), /^(\S+) \S+ lease-fence: FENCING/m.exec(fenceLog)]
    .filter(line => line !== null).map(line => Date.parse(line![1]));
  if (times.length === 0) throw new Error(`neither the old primary's sidecar nor its heartbeat fence fenced it:\n${agentLog}\n${fenceLog}`);
  return Math.min(...times);
}
