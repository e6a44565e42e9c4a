import { E2eCluster } from './harness/cluster';
import { sleep, waitFor } from './harness/exec';
import { leader, POD, random, runningPrimaries, stepClockFor, streamingFrom, synthesizeToFile, valuesOn, Writer } from './support';

/**
 * The randomized fault test with automatic failover on: a seeded sequence of rounds, each drawing one fault, while a
 * client commits continuously in synchronous mode. Nobody runs the failover job to repair anything: after each fault
 * the pods that are down are started again (as a kubelet or the StatefulSet controller would) and the agents must bring
 * the cluster back on their own. After every round: never two write endpoints, no acknowledged row lost, the cluster
 * converged (the record stable, one running primary, the recorded one, alone behind postgres-write, every other pod
 * streaming from it) within CONVERGE_MS and still so a lease after the fault began, a write acknowledged after it, and, where the README promises it (the failsafe, a crash restarted in place, a
 * replica's fault), the primary and the epoch unchanged. FAULT_ROUNDS_AUTOMATIC (default 20) and FAULT_SEED (default:
 * random) set the run; a failure prints the seed and the rounds so far, and FAULT_SEED=<seed> replays the draws.
 * FAULT_KINDS (e.g. freeze-pod,clock-step) draws from those only.
 */
const ROUNDS = Number(process.env.FAULT_ROUNDS_AUTOMATIC ?? 20);
const SEED = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PODS = [POD(0), POD(1), POD(2)];
/** The timers of automatic-failover.test.ts: shorter than the defaults, in the same proportions. */
const LEASE = 7;
const TIMERS = {
  leaseDurationSeconds: LEASE,
  renewIntervalSeconds: 1,
  renewDeadlineSeconds: 4,
  primaryRestartGraceSeconds: 15,
  minimumFailoverIntervalSeconds: 0,
};
/** From the end of a fault to a converged cluster. */
const CONVERGE_MS = 90_000;
/** A lost primary's node: a replica takes over within the lease plus its promotion (README: about the lease). */
const TAKEOVER_MS = (LEASE + 8) * 1000;
const SWITCHOVER_REQUEST = 'switchover.postgres.cdk8s.io/target';

// Per round: the longest fault (25 s), a takeover, the convergence bound, a write, the diagnostics of a failure.
jest.setTimeout(TAKEOVER_MS + CONVERGE_MS + 95_000);

type Fault = 'kill-primary' | 'kill-replica' | 'partition' | 'api-cut' | 'api-outage' | 'freeze-agent' | 'crash-postgres'
| 'switchover-request' | 'switchover-job' | 'freeze-pod' | 'clock-step';
const ALL_FAULTS: Fault[] = ['kill-primary', 'kill-replica', 'partition', 'api-cut', 'api-outage', 'freeze-agent', 'crash-postgres',
  'switchover-request', 'switchover-job', 'freeze-pod', 'clock-step'];
const FAULTS = process.env.FAULT_KINDS ? ALL_FAULTS.filter(f => process.env.FAULT_KINDS!.split(',').includes(f)) : ALL_FAULTS;
/** What a fault did, and what the README promises of the primary afterwards. */
interface Injected {
  readonly what: string;
  /**
   * 'same': no failover (the failsafe; a crash restarted in place; a replica's fault): the primary and the epoch unchanged.
   * A pod name: a switchover to it (the next epoch). 'any': whatever the agents decide (a new primary or the same one).
   */
  readonly primary: 'same' | 'any' | string;
}

describe(`randomized faults with automatic failover, synchronous mode (FAULT_SEED=${SEED}, ${ROUNDS} rounds)`, () => {
  let cluster: E2eCluster;
  let writer: Writer;
  const rand = random(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)];
  const history: string[] = [];
  let failed: string | undefined;
  /** The record as the last round left it. */
  let settled: { primary: string; epoch: string } | undefined;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: synthesizeToFile({ synchronousReplicas: 1, automaticFailover: TIMERS }), replicas: 3 });
    await waitFor('every pod streaming from the primary', async () =>
      (await streamingFrom(cluster, leader(cluster).primary).catch(() => [])).length === PODS.length - 1, 60_000, 250);
    await cluster.sql('postgres-write', 'CREATE TABLE writes_automatic (v int PRIMARY KEY)');
    writer = new Writer(cluster, 'writes_automatic');
    writer.start();
    await waitFor('some writes', () => writer.acknowledged.length >= 10, 20_000);
  });

  afterAll(async () => {
    // What was drawn and how each round ended: the seed replays it.
    console.log(`FAULT_SEED=${SEED} FAULT_ROUNDS_AUTOMATIC=${ROUNDS}:\n${history.join('\n')}`);
    await writer?.stop();
    await cluster?.destroy();
  });

  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

  /** Cuts the pods off (from the API, the network or both) for `ms`, then reconnects them. */
  async function cutOffFor(pods: string[], api: boolean, network: boolean, ms: number): Promise<void> {
    try {
      for (const pod of pods) await cluster.cutOff(pod, { api, network });
      await sleep(ms);
    } finally {
      for (const pod of pods) await cluster.reconnect(pod);
    }
  }

  async function inject(fault: Fault): Promise<Injected> {
    const record = leader(cluster);
    const primary = record.primary;
    const replicas = PODS.filter(p => p !== primary);
    switch (fault) {
      case 'kill-primary': {
        // A node lost: nothing restarts its pod until the node comes back (converge), and no job runs.
        const killed = Date.now();
        await cluster.killPod(primary);
        await waitFor(`a replica to take over from ${primary} (no job)`, () => {
          const next = leader(cluster);
          return next.state === 'stable' && next.primary !== primary;
        }, TAKEOVER_MS, 100);
        const next = leader(cluster);
        expect(Number(next.epoch)).toBeGreaterThan(Number(record.epoch));
        return { what: `killed primary ${primary}'s pod: ${next.primary} took over in ${seconds(Date.now() - killed)} (epoch ${next.epoch})`, primary: 'any' };
      }
      case 'kill-replica': {
        const pod = pick(replicas);
        const ms = 1000 + Math.floor(rand() * 3000);
        await cluster.killPod(pod);
        await sleep(ms);
        return { what: `killed replica ${pod}'s pod for ${seconds(ms)}`, primary: 'same' };
      }
      case 'partition': {
        // Cut off from the API and from every peer, Service and client: a partitioned node.
        const pod = pick(PODS);
        const s = pick([3, 14]);
        await cutOffFor([pod], true, true, s * 1000);
        // A replica's partition never moves the primary (it cannot reach the record, nor win the synchronous rule);
        // the primary's may (fenced after the renew deadline, replaced after the lease) or not (3 s: under the deadline).
        return { what: `partitioned ${pod}${pod === primary ? ' (primary)' : ''} (API and network) for ${s}s`, primary: pod === primary ? 'any' : 'same' };
      }
      case 'api-cut': {
        // README: the primary cut off from the API keeps serving while its replicas reach it (failsafe); a replica
        // cut off from it sees no renewal, but the primary still answers it as a primary, so it does not take over.
        const pod = pick(PODS);
        const s = pick([3, 14]);
        await cutOffFor([pod], true, false, s * 1000);
        return { what: `cut ${pod}${pod === primary ? ' (primary)' : ''} off from the API for ${s}s`, primary: 'same' };
      }
      case 'api-outage': {
        // README: an API server outage alone never fails over nor stops writes.
        const s = 10 + Math.floor(rand() * 11);
        await cutOffFor(PODS, true, false, s * 1000);
        return { what: `cut every pod off from the API for ${s}s`, primary: 'same' };
      }
      case 'freeze-agent': {
        // Its heartbeat fence stops PostgreSQL by the renew deadline; whether a replica takes over before the agent
        // wakes (the lease, and a lease after the primary last answered) is a race, so either outcome is fine.
        const agent = cluster.pod(primary).container('role-labeler').process!.pid!;
        process.kill(agent, 'SIGSTOP');
        try {
          await sleep((LEASE + 3) * 1000);
        } finally {
          process.kill(agent, 'SIGCONT');
        }
        return { what: `froze primary ${primary}'s agent for ${LEASE + 3}s`, primary: 'any' };
      }
      case 'crash-postgres': {
        // README: a crashed PostgreSQL keeps the lease for primaryRestartGraceSeconds, to restart in place (here at once).
        process.kill(cluster.pod(primary).container('postgres').process!.pid!, 'SIGKILL');
        await sleep(1000);
        return { what: `SIGKILLed primary ${primary}'s PostgreSQL`, primary: 'same' };
      }
      case 'switchover-request': {
        const target = pick(replicas);
        const asked = await cluster.kubectl(['annotate', 'lease', 'postgres-leader', `${SWITCHOVER_REQUEST}=${target}`]);
        expect(asked.code).toBe(0);
        await waitFor('the switchover request carried out and removed', () =>
          cluster.lease('postgres-leader')!.metadata.annotations?.[SWITCHOVER_REQUEST] === undefined, 30_000, 100);
        return { what: `asked for a switchover to ${target} on the record`, primary: target };
      }
      case 'switchover-job': {
        const target = pick(replicas);
        const run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: target });
        if (run.code !== 0) throw new Error(`the switchover job to ${target} failed (exit ${run.code}):\n${run.stdout}`);
        return { what: `switchover job to ${target}: exit 0`, primary: target };
      }
      case 'freeze-pod': {
        // The whole node stopped (every process, its network, its kubelet), then thawed: a frozen primary's lease
        // lapses and a replica may take over meanwhile (its heartbeat fence stops it at the thaw); a frozen replica
        // moves nothing.
        const pod = pick(PODS);
        const s = 15 + Math.floor(rand() * 11);
        await cluster.freeze(pod);
        try {
          await sleep(s * 1000);
        } finally {
          await cluster.thaw(pod);
        }
        const now = leader(cluster);
        const what = `froze ${pod}${pod === primary ? ' (primary)' : ''}'s whole pod for ${s}s (at the thaw: ${now.primary} epoch ${now.epoch})`;
        return { what, primary: pod === primary ? 'any' : 'same' };
      }
      case 'clock-step': {
        // README: leases and deadlines are timed on monotonic clocks, never compared across machines: a wall clock
        // stepped either way moves nothing.
        const pod = pick(PODS);
        const step = pick([120, -120]);
        const s = 10 + Math.floor(rand() * 11);
        const seen = await stepClockFor(cluster, pod, step, s);
        const what = `stepped ${pod}${pod === primary ? ' (primary)' : ''}'s wall clock by ${step}s for ${s}s `
          + `(${seen})`;
        return { what, primary: 'same' };
      }
    }
  }

  /**
   * Converged: the record stable, exactly one running primary (whatever the labels say), the recorded one, the write
   * Service's only endpoint, every pod ready and every other one streaming from it, no switchover request left. The
   * only help: pods that are down are started again (a node back, a kubelet). Never the failover job.
   */
  async function converge(): Promise<{ primary: string; state: string }> {
    const deadline = Date.now() + CONVERGE_MS;
    let state = '';
    while (Date.now() < deadline) {
      for (const pod of cluster.livePods()) if (pod.phase !== 'running') cluster.startPod(pod.name);
      const record = leader(cluster);
      const primaries = await runningPrimaries(cluster);
      const endpoints = cluster.endpoints('postgres-write');
      const streaming = primaries.length === 1 ? await streamingFrom(cluster, primaries[0]).catch(() => []) : [];
      state = `record ${record.state} ${record.primary} epoch ${record.epoch}; running primaries [${primaries.join()}]; `
        + `postgres-write -> [${endpoints.join()}]; ready [${PODS.filter(p => cluster.pod(p).ready).join()}]; `
        + `streaming from ${primaries[0] ?? '-'}: [${streaming.join()}]`;
      if (record.state === 'stable' && primaries.length === 1 && primaries[0] === record.primary
        && endpoints.join() === record.primary && PODS.every(p => cluster.pod(p).ready)
        && streaming.join() === PODS.filter(p => p !== record.primary).join()
        && cluster.lease('postgres-leader')!.metadata.annotations?.[SWITCHOVER_REQUEST] === undefined) {
        return { primary: record.primary, state };
      }
      await sleep(500);
    }
    throw new Error(`the cluster did not converge within ${CONVERGE_MS} ms without the failover job; last seen: ${state}`);
  }

  for (let round = 1; round <= ROUNDS; round++) {
    test(`round ${round}`, async () => {
      // A failed round leaves the cluster as it failed: the rounds after it would only report that again.
      if (failed) throw new Error(`not run: ${failed}`);
      const fault = pick(FAULTS);
      const started = Date.now();
      try {
        const before = leader(cluster);
        // Between rounds nothing happens: the record is as the last round left it.
        if (settled) expect({ primary: before.primary, epoch: before.epoch }).toEqual(settled);
        history.push(`${round}: ${fault} (record: ${before.primary} epoch ${before.epoch})`);
        const injectedFrom = Date.now();
        const injected = await inject(fault);
        history.push(`   ${injected.what}`);
        const injectedAt = Date.now();
        const { primary } = await converge();
        const convergedMs = Date.now() - injectedAt;
        const after = leader(cluster);
        // Converged for good, not for a moment: past the lease since the fault began (a takeover it led to would have
        // happened by then), the record is still the one the cluster converged on, and the cluster still converged.
        await sleep(injectedFrom + (LEASE + 2) * 1000 - Date.now());
        expect({ primary: leader(cluster).primary, epoch: leader(cluster).epoch }).toEqual({ primary: after.primary, epoch: after.epoch });
        await converge();
        const checked = Date.now();
        await waitFor('a write after the round', () => writer.attempts.some(a => a.ok && a.startedAt >= checked), 30_000);
        // Acknowledged before the query starts, so committed before its snapshot (the writer goes on writing).
        const acknowledged = [...writer.acknowledged];
        const rows = new Set(await valuesOn(cluster, primary, 'writes_automatic'));
        const lost = acknowledged.filter(v => !rows.has(v));
        expect({ lost, twoWriteEndpoints: cluster.writeServiceViolations }).toEqual({ lost: [], twoWriteEndpoints: [] });
        if (injected.primary === 'same') {
          expect({ primary: after.primary, epoch: after.epoch }).toEqual({ primary: before.primary, epoch: before.epoch });
        } else if (injected.primary !== 'any') {
          expect({ primary: after.primary, epoch: after.epoch }).toEqual({ primary: injected.primary, epoch: String(Number(before.epoch) + 1) });
        }
        settled = { primary: leader(cluster).primary, epoch: leader(cluster).epoch };
        history.push(`   converged in ${seconds(convergedMs)} (round ${seconds(Date.now() - started)}): ${primary} the primary, `
          + `epoch ${after.epoch}; ${writer.acknowledged.length} rows acknowledged, none lost`);
      } catch (error) {
        failed = `FAULT_SEED=${SEED} round ${round} (${fault}) failed`;
        history.push(`   FAILED after ${seconds(Date.now() - started)}: ${(error as Error).message.split('\n')[0]}`);
        const servers = await cluster.serverDiagnostics().catch(() => '');
        throw new Error(`${failed}: ${(error as Error).message}\n`
          + `rounds so far:\n${history.join('\n')}\n${servers}\n${cluster.diagnostics()}`);
      }
    });
  }
});
