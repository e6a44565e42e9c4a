import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { apiOutageFor, leader, longestGapMs, lostRows, POD, step, synthesizeToFile, waitForStreaming, Writer, writing } from './support';

jest.setTimeout(600_000);

/** The timers of these tests: shorter than the defaults, in the same proportions. */
const LEASE = 7;
const PODS = [POD(0), POD(1), POD(2)];
const others = (pod: string) => PODS.filter(p => p !== pod);
const PAUSE = 'failover.postgres.cdk8s.io/paused';

/**
 * Automatic failover (automaticFailover): the primary's agent renews the leader record's lease and fences itself when it
 * cannot; a replica takes over when it has not seen the lease renewed for the lease's duration. Synchronous mode
 * (synchronousReplicas: 1): every acknowledged row survives. Real PostgreSQL 15, the synthesized scripts and agent.
 */
describe('automatic failover', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    const manifest = synthesizeToFile({
      synchronousReplicas: 1,
      automaticFailover: {
        leaseDurationSeconds: LEASE,
        renewIntervalSeconds: 1,
        renewDeadlineSeconds: 4,
        primaryRestartGraceSeconds: 15,
        minimumFailoverIntervalSeconds: 0,
      },
    });
    cluster = await E2eCluster.start({ manifest, replicas: 3 });
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('the primary renews the lease on the record: a renew time, the duration, its WAL position', () => step(cluster, async () => {
    const first = cluster.lease('postgres-leader')!;
    expect(first.spec).toMatchObject({ holderIdentity: POD(0), leaseDurationSeconds: LEASE, renewTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/) });
    expect(first.metadata.annotations['failover.postgres.cdk8s.io/wal-position']).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    await waitFor('a renewal', () => cluster.lease('postgres-leader')!.spec.renewTime !== first.spec.renewTime, 5_000, 100);
  }));

  test('the primary\'s pod dies (PostgreSQL and agent): a replica takes over within the lease + 2 s, one write endpoint, no acknowledged row lost', () => step(cluster, async () => {
    const before = Number(leader(cluster).epoch);
    const marks = new Map([POD(1), POD(2)].map(p => [p, cluster.pod(p).logMark('role-labeler')]));
    let killed = 0;
    const writer = await writing(cluster, async w => {
      killed = Date.now();
      await cluster.killPod(POD(0));
      await waitFor('writes on a new primary', () => w.attempts.some(a => a.ok && a.startedAt >= killed), 30_000, 50);
      await waitFor('more writes', () => w.attempts.filter(a => a.ok && a.startedAt >= killed).length >= 10, 20_000);
    });
    const outageMs = writer.firstSuccessAfter(killed)! - killed;
    const record = leader(cluster);
    expect(record).toMatchObject({ state: 'stable', epoch: String(before + 1) });
    expect([POD(1), POD(2)]).toContain(record.primary);
    // Both replicas' leases lapsed at about the same time: one took over, the other did not even try (it deferred to the
    // first by name, or saw the new record first): one epoch more, not two.
    const loser = [POD(1), POD(2)].find(p => p !== record.primary)!;
    expect(cluster.pod(loser).logSince(marks.get(loser)!, 'role-labeler')).not.toMatch(/AUTOMATIC FAILOVER|could not record the takeover/);
    expect(await lostRows(cluster, writer, record.primary)).toEqual([]);
    expect(cluster.writeServiceViolations).toEqual([]);
    expect(outageMs).toBeLessThan((LEASE + 2) * 1000);
    // Kubernetes Events say what happened, on the pod and on the record.
    const events = cluster.events().filter((e: any) => e.reason === 'AutomaticFailover');
    expect(events.map((e: any) => `${e.involvedObject.kind}/${e.involvedObject.name}`).sort()).toEqual(['Lease/postgres-leader', `Pod/${record.primary}`]);
    expect(events[0].message).toContain(`took over from ${POD(0)}, whose lease lapsed`);
    // The node comes back: the old primary rejoins as a replica of the new one.
    cluster.startPod(POD(0));
    await waitForStreaming(cluster, record.primary, others(record.primary), 90_000);
    expect(leader(cluster).primary).toBe(record.primary);
  }));

  test('two replicas equally advanced race for the lease: the first by name takes over, the other follows it; one epoch more', () => step(cluster, async () => {
    const record = leader(cluster);
    const [first, second] = others(record.primary).sort();
    await waitForStreaming(cluster, record.primary, [first, second], 60_000);
    // No writes: once both have received all the primary wrote, they are equally advanced, and both leases lapse together.
    await waitFor('both replicas at the primary\'s position', async () => {
      const [at, ...received] = await Promise.all([
        cluster.podSql(record.primary, 'SELECT pg_current_wal_lsn()'),
        ...[first, second].map(p => cluster.podSql(p, 'SELECT pg_last_wal_receive_lsn()')),
      ]);
      return received.every(lsn => lsn === at);
    }, 20_000, 200);
    const marks = new Map([first, second].map(p => [p, cluster.pod(p).logMark('role-labeler')]));
    const before = Number(record.epoch);
    await cluster.killPod(record.primary);
    await waitFor('a new primary', () => leader(cluster).state === 'stable' && leader(cluster).primary !== record.primary, (LEASE + 8) * 1000, 100);
    // The tie goes to the first by name, which both agree on: one takeover, one epoch more.
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: first, epoch: String(before + 1) });
    expect(cluster.pod(first).logSince(marks.get(first)!, 'role-labeler')).toMatch(/AUTOMATIC FAILOVER: the lease of .* lapsed and this pod is the replica to promote/);
    expect(cluster.pod(second).logSince(marks.get(second)!, 'role-labeler')).not.toMatch(/AUTOMATIC FAILOVER|could not record the takeover/);
    await waitForStreaming(cluster, first, [second], 30_000);
    expect(cluster.writeServiceViolations).toEqual([]);
    // The old primary's node comes back: it follows the winner too, and nobody took over again.
    cluster.startPod(record.primary);
    await waitForStreaming(cluster, first, others(first), 90_000);
    expect(leader(cluster)).toMatchObject({ primary: first, epoch: String(before + 1) });
  }));

  test('PostgreSQL crashes once on the primary: it restarts in place within the grace, no failover', () => step(cluster, async () => {
    const record = leader(cluster);
    const writer = await writing(cluster, async w => {
      const crashed = Date.now();
      process.kill(cluster.pod(record.primary).container('postgres').process!.pid!, 'SIGKILL');
      await waitFor('writes again', () => w.attempts.some(a => a.ok && a.startedAt >= crashed + 500), 30_000, 50);
      // Past the lease: nobody took over.
      await new Promise(resolve => setTimeout(resolve, (LEASE + 2) * 1000));
    });
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: record.primary, epoch: record.epoch });
    expect(await lostRows(cluster, writer, record.primary)).toEqual([]);
    await waitForStreaming(cluster, record.primary, others(record.primary), 60_000);
  }));

  test('PostgreSQL crashes again and again on the primary: after the restart grace, a replica takes over; no row lost', () => step(cluster, async () => {
    const record = leader(cluster);
    const postgres = cluster.pod(record.primary).container('postgres');
    let started = 0;
    const writer = await writing(cluster, async w => {
      started = Date.now();
      // Crash it whenever it runs, until another pod is recorded the primary (or a minute passed).
      while (leader(cluster).primary === record.primary && Date.now() - started < 60_000) {
        const pid = postgres.process?.pid;
        if (pid !== undefined) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await new Promise(resolve => setTimeout(resolve, 300));
      }
      await waitFor('writes on a new primary', () => w.attempts.some(a => a.ok && a.startedAt >= started && a.server !== record.primary), 30_000, 50);
    });
    const next = leader(cluster);
    expect(next).toMatchObject({ state: 'stable', epoch: String(Number(record.epoch) + 1) });
    expect(next.primary).not.toBe(record.primary);
    // Not before the grace (15 s) and the lease.
    expect(writer.firstSuccessAfter(started, next.primary)! - started).toBeGreaterThan(15_000);
    expect(await lostRows(cluster, writer, next.primary)).toEqual([]);
    await waitForStreaming(cluster, next.primary, others(next.primary), 90_000);
  }));

  test('the primary cut off from its replicas only: it keeps its lease, nobody takes over; writes resume when the network heals, no row lost', () => step(cluster, async () => {
    const record = leader(cluster);
    let healed = 0;
    const writer = await writing(cluster, async w => {
      await cluster.cutOff(record.primary, { network: true });
      try {
        await new Promise(resolve => setTimeout(resolve, 2 * LEASE * 1000));
      } finally {
        await cluster.reconnect(record.primary);
      }
      healed = Date.now();
      await waitFor('writes after', () => w.attempts.filter(a => a.ok && a.startedAt >= healed).length >= 10, 30_000);
    });
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: record.primary, epoch: record.epoch });
    expect(writer.attempts.filter(a => a.ok).every(a => a.server === record.primary)).toBe(true);
    expect(await lostRows(cluster, writer, record.primary)).toEqual([]);
    expect(cluster.writeServiceViolations).toEqual([]);
    await waitForStreaming(cluster, record.primary, others(record.primary), 90_000);
  }));

  test('the primary cut off from the API only: its replicas still reach it, so it keeps serving (failsafe); no failover, no outage', () => step(cluster, async () => {
    const record = leader(cluster);
    const mark = cluster.pod(record.primary).logMark('role-labeler');
    let cut = 0;
    let healed = 0;
    const writer = await writing(cluster, async w => {
      cut = Date.now();
      await cluster.cutOff(record.primary, { api: true });
      try {
        await new Promise(resolve => setTimeout(resolve, 3 * LEASE * 1000));
      } finally {
        await cluster.reconnect(record.primary);
      }
      healed = Date.now();
      await waitFor('writes after', () => w.attempts.filter(a => a.ok && a.startedAt >= healed).length >= 10, 20_000);
    });
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: record.primary, epoch: record.epoch });
    expect(longestGapMs(writer, cut, healed)).toBeLessThan(1_000);
    expect(writer.attempts.filter(a => a.ok && a.at >= cut).every(a => a.server === record.primary)).toBe(true);
    expect(await lostRows(cluster, writer, record.primary)).toEqual([]);
    expect(cluster.pod(record.primary).logSince(mark, 'role-labeler')).toMatch(/FAILSAFE: the lease cannot be renewed, but every other pod .* streams from this primary and replies/);
  }));

  test('the primary cut off from the API and the network (a partitioned node): it is fenced, then a replica takes over; no row lost', () => step(cluster, async () => {
    const record = leader(cluster);
    const pod = cluster.pod(record.primary);
    const marks = { agent: pod.logMark('role-labeler'), fence: pod.logMark('lease-fence') };
    let cut = 0;
    let writer: Writer;
    try {
      writer = await writing(cluster, async w => {
        cut = Date.now();
        await cluster.cutOff(record.primary);
        await waitFor('writes on a new primary', () => w.attempts.some(a => a.ok && a.startedAt >= cut && a.server !== record.primary), 30_000, 50);
        await waitFor('more writes', () => w.attempts.filter(a => a.ok && a.server !== record.primary).length >= 10, 20_000);
      });
    } finally {
      await cluster.reconnect(record.primary);
    }
    const next = leader(cluster);
    expect(next).toMatchObject({ state: 'stable', epoch: String(Number(record.epoch) + 1) });
    expect(next.primary).not.toBe(record.primary);
    // The old primary was fenced (by its agent or its heartbeat fence, whichever came first: the standbys no longer reply,
    // so no failsafe), before the new primary's first write.
    const fenced = [pod.logSince(marks.agent, 'role-labeler'), pod.logSince(marks.fence, 'lease-fence')]
      .map(log => /^(\S+) \S+ (?:role-labeler|lease-fence): FENCING this primary/m.exec(log)?.[1])
      .filter((at): at is string => at !== undefined).map(at => Date.parse(at));
    expect(fenced.length).toBeGreaterThan(0);
    expect(Math.min(...fenced)).toBeLessThan(writer!.firstSuccessAfter(cut, next.primary)!);
    expect(await lostRows(cluster, writer!, next.primary)).toEqual([]);
    expect(cluster.writeServiceViolations).toEqual([]);
    await waitForStreaming(cluster, next.primary, others(next.primary), 90_000);
  }));

  test('the primary\'s agent frozen (SIGSTOP) past the lease: its heartbeat fence stops PostgreSQL before a replica takes over; no row lost', () => step(cluster, async () => {
    const record = leader(cluster);
    const agent = cluster.pod(record.primary).container('role-labeler').process!.pid!;
    const fenceLog = cluster.pod(record.primary).logMark('lease-fence');
    let frozen = 0;
    const writer = await writing(cluster, async w => {
      frozen = Date.now();
      process.kill(agent, 'SIGSTOP');
      try {
        await waitFor('writes on a new primary', () => w.attempts.some(a => a.ok && a.startedAt >= frozen && a.server !== record.primary), 30_000, 50);
        await waitFor('more writes', () => w.attempts.filter(a => a.ok && a.server !== record.primary).length >= 10, 20_000);
      } finally {
        process.kill(agent, 'SIGCONT');
      }
    });
    const next = leader(cluster);
    expect(next).toMatchObject({ state: 'stable', epoch: String(Number(record.epoch) + 1) });
    // The fence (not the frozen agent) stopped the old primary, and before the new one took its first write.
    const fenced = /^(\S+) \S+ lease-fence: FENCING this primary: its agent has not confirmed it in time/m.exec(cluster.pod(record.primary).logSince(fenceLog, 'lease-fence'));
    expect(fenced).not.toBeNull();
    const firstNew = writer.firstSuccessAfter(frozen, next.primary)!;
    expect(Date.parse(fenced![1])).toBeLessThan(firstNew);
    const lastOld = Math.max(...writer.attempts.filter(a => a.ok && a.server === record.primary).map(a => a.at));
    expect(lastOld).toBeLessThan(firstNew);
    expect(await lostRows(cluster, writer, next.primary)).toEqual([]);
    expect(cluster.writeServiceViolations).toEqual([]);
    // Woken, the agent finds another primary recorded: its pod rejoins as a replica.
    await waitForStreaming(cluster, next.primary, others(next.primary), 90_000);
  }));

  test('the API server unreachable from every pod for 60 s under writes: no failover, no write outage (failsafe)', () => step(cluster, async () => {
    const record = leader(cluster);
    let cut = 0;
    let healed = 0;
    const writer = await writing(cluster, async w => {
      ({ cut, healed } = await apiOutageFor(cluster, 60_000));
      await waitFor('writes after', () => w.attempts.filter(a => a.ok && a.startedAt >= healed).length >= 10, 20_000);
    });
    expect(longestGapMs(writer, cut, healed)).toBeLessThan(1_000);
    expect(writer.attempts.filter(a => a.ok && a.at >= cut).every(a => a.server === record.primary)).toBe(true);
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: record.primary, epoch: record.epoch });
    expect(await lostRows(cluster, writer, record.primary)).toEqual([]);
    // The API back: the primary renews again.
    const renewed = cluster.lease('postgres-leader')!.spec.renewTime;
    await waitFor('a renewal', () => cluster.lease('postgres-leader')!.spec.renewTime !== renewed, 10_000, 100);
  }));

  test('paused (an annotation on the record): a dead primary is not replaced until the pause ends', () => step(cluster, async () => {
    const record = leader(cluster);
    expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `${PAUSE}=true`])).code).toBe(0);
    await cluster.killPod(record.primary);
    await new Promise(resolve => setTimeout(resolve, (2 * LEASE + 2) * 1000));
    expect(leader(cluster)).toMatchObject({ state: 'stable', primary: record.primary, epoch: record.epoch });
    const resumed = Date.now();
    expect((await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `${PAUSE}-`])).code).toBe(0);
    await waitFor('a new primary', () => leader(cluster).primary !== record.primary, (LEASE + 10) * 1000, 100);
    expect(Date.now() - resumed).toBeLessThan((LEASE + 5) * 1000);
    cluster.startPod(record.primary);
    const next = leader(cluster).primary;
    await waitForStreaming(cluster, next, others(next), 90_000);
  }));
});

/** Asynchronous replication: how far behind a replica may be and still take over (maximumLagOnFailover). */
describe('automatic failover, asynchronous, with a replica behind', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    const manifest = synthesizeToFile({
      clusterName: 'lag',
      automaticFailover: {
        leaseDurationSeconds: LEASE,
        renewIntervalSeconds: 1,
        renewDeadlineSeconds: 4,
        minimumFailoverIntervalSeconds: 0,
        maximumLagOnFailover: 65_536,
      },
    });
    cluster = await E2eCluster.start({ manifest, replicas: 3 });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  const pod = (i: number) => `lag-cluster-${i}`;
  const record = () => leader(cluster, 'lag-leader');

  /** The pid of a pod's WAL receiver process (the pod's processes are this machine's). */
  async function walReceiver(name: string): Promise<number> {
    const postgres = cluster.pod(name).container('postgres');
    return waitFor(`${name}'s WAL receiver`, async () => {
      const ps = await postgres.exec(['ps', '-o', 'pid=,args=', '--ppid', String(postgres.process?.pid ?? 0)], 10_000);
      const line = ps.stdout.split('\n').find(l => / walreceiver/.test(l));
      return line === undefined ? undefined : Number(line.trim().split(/\s+/)[0]);
    }, 20_000, 200);
  }

  test('a replica further behind than maximumLagOnFailover never takes over; one within it does, and the other follows', () => step(cluster, async () => {
    const primary = record().primary;
    const [behind, current] = [pod(0), pod(1), pod(2)].filter(p => p !== primary);
    await waitForStreaming(cluster, primary, [behind, current], 60_000);
    // The replica that falls behind: its WAL receiver frozen while 1 MB of WAL is written.
    const receiver = await walReceiver(behind);
    process.kill(receiver, 'SIGSTOP');
    try {
      expect(await cluster.sql('lag-write', "CREATE TABLE bulk AS SELECT g, repeat('x', 500) AS t FROM generate_series(1, 2000) AS g")).toMatchObject({ code: 0 });
      // The position the primary publishes at its renewals includes it.
      const written = await cluster.podSql(primary, 'SELECT pg_current_wal_lsn()');
      await waitFor('a renewal that publishes it', () => {
        const published = cluster.lease('lag-leader')!.metadata.annotations['failover.postgres.cdk8s.io/wal-position'];
        return published !== undefined && lsnBytes(published) >= lsnBytes(written);
      }, 10_000, 100);
      // Only the replica behind is left: the primary's node and the current replica's are lost.
      const mark = cluster.pod(behind).logMark('role-labeler');
      await cluster.killPod(current);
      await cluster.killPod(primary);
      await new Promise(resolve => setTimeout(resolve, (2 * LEASE + 2) * 1000));
      expect(record()).toMatchObject({ state: 'stable', primary });
      expect(cluster.pod(behind).logSince(mark, 'role-labeler'))
        .toMatch(new RegExp(`not taking over from ${primary}: this replica is \\d+ bytes behind the primary's last published position`));
    } finally {
      process.kill(receiver, 'SIGCONT');
    }
    // The current replica's node comes back: it takes over (a lease after it came back), and the other follows it.
    cluster.startPod(current);
    await waitFor('the current replica the primary', () => record().primary === current, (3 * LEASE + 30) * 1000, 200);
    cluster.startPod(primary);
    await waitForStreaming(cluster, current, [behind, primary], 90_000);
    expect(await cluster.podSql(behind, 'SELECT count(*) FROM bulk', 'myapp')).toBe('2000');
  }));
});

/** An LSN ("X/Y") as a number of bytes. */
function lsnBytes(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return BigInt(`0x${high}`) * 0x1_0000_0000n + BigInt(`0x${low}`);
}
