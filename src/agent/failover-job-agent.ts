// The failover job's executor: `node agent.js failover`, run by the CronJob `<cluster>-failover`. The leader record is
// the one source of truth: the job changes it with compare-and-swap, and every pod's sidecar fences a primary that the
// record does not name. What to do is decided by pure functions (failover.ts decideFailoverJob, failover-target.ts
// chooseFailoverTarget and chooseScaleDownTarget, transitions.ts); this file reads the record and the pods, asks them
// (`kubectl exec`: pg-node.sh status in the postgres container, the agent's fence in the sidecar) and writes the plan.
//   1. reads the record, as it lists the pods. If another failover job holds it and still runs, it stops: nothing
//      changed. If a job died holding it, this run resumes: it completes that failover or undoes it.
//   2. a planned switchover whose two pods the API shows ready needs nothing more; otherwise it surveys the pods. With
//      a healthy primary and no other FAILOVER_TARGET it does nothing.
//   3. takes the record: switching-over or failing-over, a new epoch, its own pod name.
//   4. a planned switchover is carried out by the two pods' sidecars, which watch the record; if it does not end in
//      time, the job gives the primary role back (compare-and-swap: a target that recorded itself first stands).
//      An unplanned failover waits until a primary it cannot reach must have fenced itself, fences every other
//      primary, lets the replicas settle, chooses the most advanced eligible replica and names it in the record.
//   5. waits for the replicas to follow the new primary.
// Exit codes: 0 done (or nothing to do), 1 refused (the record names the old primary, or is untouched; or, when a pod
// it fenced stayed a primary, the record stays failing-over, held by this job: run it again once that pod is stopped),
// 3 unfinished (the record names the new primary, which does not serve yet, or replicas do not follow it).
import { FailoverJobConfig, FailoverRun } from './config';
import { decideFailoverJob, decideSwitchoverRound } from './failover';
import { Candidate, chooseFailoverTarget, chooseScaleDownTarget, NodeRole, ordinalOf, parseLsn } from './failover-target';
import { ApiResult, ExecResult, PodSummary } from './kube';
import {
  decodeRecord, describeRecord, encodeAnnotations, encodeRecordPatch, FailingOverRecord, LeaderRecord, LeaseObject, RecordPatch, SwitchingOverRecord,
} from './record';
import { completeFailover, giveBack, recordTarget } from './transitions';

/** The API calls the job makes (KubeClient's). */
export interface JobKube {
  getLease(name: string): Promise<ApiResult<LeaseObject | undefined>>;
  patchLease(name: string, patch: RecordPatch): Promise<ApiResult<LeaseObject>>;
  listPods(labelSelector: string, fieldSelector?: string): Promise<ApiResult<PodSummary[]>>;
  getPod(name: string): Promise<ApiResult<PodSummary | undefined>>;
  labelPod(name: string, key: string, value: string | null): Promise<ApiResult<void>>;
  exec(pod: string, container: string, command: readonly string[], timeoutMs: number): Promise<ApiResult<ExecResult>>;
}

export interface JobClock {
  /** A monotonic clock, in seconds: never wall time, so that a stepped clock neither ends a wait early nor late. */
  monotonic(): number;
  sleep(ms: number): Promise<void>;
}

/** What a pod said of itself (pg-node.sh status), or the job's verdict on one it could not ask. */
export interface NodeState {
  readonly role: NodeRole;
  readonly lsn: string;
  readonly receiver: string;
  readonly timeline: number;
  readonly checkpoint: string;
}

/** How long one exec may take: pg-node.sh status connects with a 3 s timeout; a node that cannot be reached errs in seconds. */
const EXEC_MS = 20_000;
/** A fence waits for a fast shutdown, up to 60 s. */
const FENCE_EXEC_MS = 70_000;
/** Writes of the record sent again after a conflict with a change that left its fields as read. */
const WRITE_ATTEMPTS = 5;

/** A status line, or undefined when it is not one ("<role> <lsn> <receiver> <timeline> <checkpoint>"). */
export function parseStatusLine(line: string): NodeState | undefined {
  const [role, lsn, receiver, timeline, checkpoint, ...rest] = line.trim().split(/\s+/);
  const roles: readonly string[] = ['primary', 'replica', 'starting', 'down', 'empty', 'unreachable'];
  if (rest.length > 0 || checkpoint === undefined || !roles.includes(role) || !/^\d+$/.test(timeline)) return undefined;
  return { role: role as NodeRole, lsn, receiver, timeline: Number(timeline), checkpoint };
}

/** A pod's state says it is fenced: stopped or back as a replica, with its data directory's latest checkpoint (fenced_state). */
export function isFenced(state: NodeState | undefined): boolean {
  return state !== undefined && (state.role === 'down' || state.role === 'replica') && parseLsn(state.checkpoint) !== undefined && state.checkpoint !== '0/0';
}

/** A pod this job has not asked (a planned switchover asks only its two pods): as one that cannot be asked. */
const NOT_ASKED: NodeState = { role: 'unreachable', lsn: '?', receiver: 'none', timeline: 0, checkpoint: '-' };

/** The job stops: exit code and the line it logs. */
class Stop extends Error {
  constructor(public readonly code: number, message: string) {
    super(message);
  }
}

/** Both values, once both have settled: a failure of either (a client that throws) is thrown only then, with nothing left in flight. */
async function settledBoth<A, B>(first: Promise<A>, second: () => Promise<B>): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled([first, (async () => second())()]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

const refuse = (message: string) => new Stop(1, `REFUSED: ${message}`);
const unfinished = (message: string) => new Stop(3, `UNFINISHED: ${message}`);

export class FailoverJobAgent {
  private record: LeaderRecord | undefined;
  private resourceVersion = '';
  private pods: string[] = [];
  private readonly apiView = new Map<string, { label: string | undefined; ready: boolean }>();
  private readonly states = new Map<string, NodeState>();
  private readonly fenced: string[] = [];
  private previous = '';
  private target: string | undefined;

  constructor(
    private readonly config: FailoverJobConfig,
    private readonly run: FailoverRun,
    private readonly jobPod: string,
    private readonly kube: JobKube,
    private readonly clock: JobClock,
    private readonly log: (message: string) => void,
  ) {
    this.target = run.target;
  }

  /** Runs the job: its exit code. */
  public async main(): Promise<number> {
    try {
      await this.decideAndAct();
      return 0;
    } catch (error) {
      if (error instanceof Stop) {
        this.log(error.message);
        return error.code;
      }
      this.log(`STOPPED: ${(error as Error).stack ?? String(error)}`);
      return 1;
    }
  }

  private async decideAndAct(): Promise<void> {
    // The pods are listed as the record is read, not after it: one round trip less before the survey.
    const [read, listed] = await settledBoth(this.readRecord(), () => this.kube.listPods(this.config.clusterSelector));
    if (read !== undefined) throw refuse(`cannot read the leader record ${this.config.leaderRecord}: ${read}`);
    const record = this.record;
    if (record === undefined) throw refuse(`there is no leader record (${this.config.leaderRecord}): the cluster has not been initialized yet`);
    this.log(`leader record: ${describeRecord(record)}`);
    const recordedJobRunning = record.state !== 'stable' && record.job !== this.jobPod && await this.jobRunning(record.job);
    if (record.state === 'switching-over') {
      const plan = decideFailoverJob({ jobPod: this.jobPod, record, recordedJobRunning, requestedTarget: this.target, pods: [] });
      if (plan.kind === 'refuse') throw refuse(plan.reason);
      this.previous = record.previous;
      this.target = record.target;
      this.log(plan.reason);
      await this.awaitSwitchover(record.job);
      this.fenced.push(this.previous);
      await this.listPods();
      await this.finish();
      return;
    }
    if (record.state === 'failing-over') {
      if (recordedJobRunning) throw refuse(`another failover job (${record.job}) holds the leader record and is running; nothing was changed`);
      this.previous = record.previous;
      this.target ??= record.target;
    } else {
      this.previous = record.primary;
    }
    this.takePods(listed);
    if (this.run.scaleDownTo !== undefined) await this.planScaleDown(record);
    const target = this.target;
    // A planned switchover needs only the primary and the target, as the API shows them (or, if it does not show them
    // ready, as they answer themselves); anything else asks every pod.
    if (record.state === 'stable' && target !== undefined && target !== this.previous && this.pods.includes(target) && this.pods.includes(this.previous)) {
      if (!this.states.has(this.previous) && this.switchoverReadyByApi(target)) {
        this.states.set(this.previous, { role: 'primary', lsn: '?', receiver: 'none', timeline: 0, checkpoint: '-' });
        this.states.set(target, { role: 'replica', lsn: '?', receiver: 'streaming', timeline: 0, checkpoint: '-' });
        this.log(`the API shows ${this.previous} serving as the primary and ${target} as a streaming replica`);
      } else {
        await this.survey([this.previous, target]);
        if (this.stateOf(this.previous).role !== 'primary' || this.stateOf(target).role !== 'replica') await this.surveyRest();
      }
    } else {
      await this.survey(this.pods);
    }
    this.log(`cluster: ${this.describe()}`);
    const plan = decideFailoverJob({
      jobPod: this.jobPod,
      record,
      recordedJobRunning,
      requestedTarget: this.target,
      pods: this.pods.map(pod => ({ pod, role: this.stateOf(pod).role, lsn: this.stateOf(pod).lsn, receiver: this.stateOf(pod).receiver })),
    });
    switch (plan.kind) {
      case 'nothing':
        this.log(plan.reason);
        // Its label is its sidecar's to set: this survey may already be out of date (another job acting).
        this.log(`${(record as { primary: string }).primary} is the only primary`);
        return;
      case 'switchover':
        await this.writeRecord(plan.record);
        this.log(`took the leader record: ${describeRecord(this.record)}`);
        await this.label(this.previous, `could not remove the ${this.config.roleLabel} label of ${this.previous} (its sidecar removes it too)`);
        this.log(`promoting ${plan.record.target} once it has received the old primary's shutdown checkpoint: ${this.previous} fences itself and records`
          + ` the checkpoint, then ${plan.record.target}'s sidecar records it as the primary and promotes it`);
        await this.awaitSwitchover(this.jobPod);
        this.fenced.push(this.previous);
        break;
      case 'failover':
        await this.writeRecord(plan.record);
        this.log(`took the leader record: ${describeRecord(this.record)}`);
        await this.surveyRest();
        await this.failover();
        await this.promote();
        break;
      default:
        // Refused (a resumed switchover was handled above).
        throw refuse(plan.reason);
    }
    await this.finish();
  }

  // ---- the record ----

  /** Reads the record into this.record; undefined, or why it cannot be read. */
  private async readRecord(): Promise<string | undefined> {
    const got = await this.kube.getLease(this.config.leaderRecord);
    if (!got.ok) return got.message;
    if (got.value === undefined) {
      this.record = undefined;
      return undefined;
    }
    const decoded = decodeRecord(got.value);
    if (!decoded.ok) return decoded.error;
    this.record = decoded.record;
    this.resourceVersion = decoded.resourceVersion;
    return undefined;
  }

  /**
   * Compare-and-swap: 0 written, 2 the record changed (or is gone) since it was read, 1 another failure (its message in
   * `error`). A conflict with a change that left every field of the record as read (the primary renewing its lease
   * with automatic failover, someone's annotation) is no conflict with this change: it is sent again on the Lease's new
   * resourceVersion, WRITE_ATTEMPTS times at most.
   */
  private async tryWrite(next: LeaderRecord): Promise<{ code: 0 } | { code: 1 | 2; error: string }> {
    // A record was read (a missing one was refused).
    const read = JSON.stringify(encodeAnnotations(this.record as LeaderRecord));
    for (let attempt = 1; ; attempt++) {
      const written = await this.kube.patchLease(this.config.leaderRecord, encodeRecordPatch(next, this.resourceVersion));
      if (written.ok) {
        const decoded = decodeRecord(written.value);
        this.record = next;
        if (decoded.ok) this.resourceVersion = decoded.resourceVersion;
        return { code: 0 };
      }
      if (written.status !== 409 && written.status !== 404) return { code: 1, error: written.message };
      if (attempt === WRITE_ATTEMPTS) return { code: 2, error: written.message };
      // Read again: a record gone (404) or changed is a conflict; one left as read is written again on its new version.
      const failed = await this.readRecord();
      if (failed !== undefined) return { code: 1, error: failed };
      if (this.record === undefined || JSON.stringify(encodeAnnotations(this.record)) !== read) return { code: 2, error: written.message };
    }
  }

  /** Writes the record, or stops: a conflict means that someone else acted meanwhile (update_record). */
  private async writeRecord(next: LeaderRecord): Promise<void> {
    const written = await this.tryWrite(next);
    if (written.code === 0) return;
    if (written.code === 2) throw await this.changedMeanwhile();
    throw refuse(`cannot update the leader record: ${written.error}`);
  }

  private async changedMeanwhile(): Promise<Stop> {
    await this.readRecord();
    return refuse(`the leader record changed while this job worked (${describeRecord(this.record)}): someone else acted; run the job again to decide anew`);
  }

  // ---- the pods ----

  /** The cluster's pods, with their role label and readiness as the API reports them. */
  private async listPods(): Promise<void> {
    this.takePods(await this.kube.listPods(this.config.clusterSelector));
  }

  private takePods(listed: ApiResult<PodSummary[]>): void {
    if (!listed.ok) throw refuse(`cannot list the pods of the cluster: ${listed.message}`);
    this.pods = listed.value.map(pod => pod.name);
    for (const pod of listed.value) this.apiView.set(pod.name, { label: pod.labels[this.config.roleLabel], ready: pod.ready });
    if (this.pods.length === 0) throw refuse(`no pods match ${this.config.clusterSelector}`);
  }

  /** Whether the API shows the recorded primary labeled primary and ready, the target labeled replica and ready. */
  private switchoverReadyByApi(target: string): boolean {
    // Both are listed pods (the caller checks).
    const primary = this.apiView.get(this.previous)!;
    const replica = this.apiView.get(target)!;
    return primary.label === 'primary' && primary.ready && replica.label === 'replica' && replica.ready;
  }

  private async jobRunning(job: string): Promise<boolean> {
    const listed = await this.kube.listPods(this.config.jobSelector, 'status.phase=Running');
    // Cannot tell: as if it ran (nothing is taken from a job that may still act).
    return !listed.ok || listed.value.some(pod => pod.name === job);
  }

  private async onNode(pod: string, command: string): Promise<ApiResult<ExecResult>> {
    return this.kube.exec(pod, this.config.postgresContainer, ['bash', this.config.nodeScript, command], EXEC_MS);
  }

  /** A pod's status; one that cannot be asked is down only when the kubelet says its container is not running (node_state). */
  private async nodeState(pod: string): Promise<NodeState> {
    const asked = await this.onNode(pod, 'status');
    const state = asked.ok && asked.value.code === 0 ? parseStatusLine(asked.value.stdout) : undefined;
    if (state !== undefined) return state;
    // No checkpoint ("-"): only the node itself can say where its WAL ends.
    const got = await this.kube.getPod(pod);
    const stopped = got.ok && got.value !== undefined && !got.value.runningContainers.includes(this.config.postgresContainer);
    return { role: stopped ? 'down' : 'unreachable', lsn: '0/0', receiver: 'none', timeline: 0, checkpoint: '-' };
  }

  private async survey(pods: readonly string[]): Promise<void> {
    const states = await Promise.all(pods.map(pod => this.nodeState(pod)));
    pods.forEach((pod, i) => this.states.set(pod, states[i]));
  }

  /** Asks the pods that have not been asked yet. */
  private async surveyRest(): Promise<void> {
    await this.survey(this.pods.filter(pod => !this.states.has(pod)));
  }

  /** The whole survey again: the pods as listed now (as listed last if the API does not answer), each asked. */
  private async surveyAll(): Promise<void> {
    const listed = await this.kube.listPods(this.config.clusterSelector);
    if (listed.ok && listed.value.length > 0) this.pods = listed.value.map(pod => pod.name);
    else this.log(`cannot list the pods of the cluster (${listed.ok ? 'none listed' : listed.message}): asking those listed before`);
    await this.survey(this.pods);
  }

  private describe(): string {
    return this.pods.map(pod => `${pod}=${this.states.get(pod)?.role ?? '?'}@${this.states.get(pod)?.lsn ?? '?'}`).join(' ');
  }

  /** What a pod answered last, or NOT_ASKED. */
  private stateOf(pod: string): NodeState {
    return this.states.get(pod) ?? NOT_ASKED;
  }

  private withRole(role: NodeRole): string[] {
    return this.pods.filter(pod => this.stateOf(pod).role === role);
  }

  private streaming(): string[] {
    return this.withRole('replica').filter(pod => this.stateOf(pod).receiver === 'streaming');
  }

  private candidates(): Candidate[] {
    return this.pods.map(pod => ({ pod, role: this.stateOf(pod).role, lsn: this.stateOf(pod).lsn, timeline: this.stateOf(pod).timeline }));
  }

  /** Removes a pod's role label; logs `failure` when it cannot. */
  private async label(pod: string, failure: string): Promise<void> {
    const removed = await this.kube.labelPod(pod, this.config.roleLabel, null);
    if (!removed.ok && removed.status !== 404) this.log(failure);
  }

  private async roleLabelOf(pod: string): Promise<string | undefined> {
    const got = await this.kube.getPod(pod);
    return got.ok ? got.value?.labels[this.config.roleLabel] : undefined;
  }

  /** Waits (polling every `everyMs`) until `done` holds or `seconds` have passed on the monotonic clock: whether it held. */
  private async until(seconds: number, everyMs: number, done: () => Promise<boolean>): Promise<boolean> {
    const deadline = this.clock.monotonic() + seconds;
    for (;;) {
      if (await done()) return true;
      if (this.clock.monotonic() >= deadline) return false;
      await this.clock.sleep(everyMs);
    }
  }

  // ---- fencing ----

  /** Tells a pod's sidecar to fence it, and waits until its status says it is fenced (fence). */
  private async fence(pod: string): Promise<boolean> {
    this.log(`fencing ${pod}: removing its ${this.config.roleLabel} label, then restarting it as a replica`);
    await this.kube.labelPod(pod, this.config.roleLabel, null);
    // Through the sidecar, which shares the pod's processes and data and outlives PostgreSQL's container: it reports
    // the shutdown checkpoint at once. The postgres container's own exec would end with it.
    const agent = async (command: 'fence' | 'status', ms: number): Promise<NodeState | undefined> => {
      const ran = await this.kube.exec(pod, this.config.sidecarContainer, ['node', this.config.agent, command, this.config.agentConfig], ms);
      // Its last line.
      return ran.ok && ran.value.code === 0 ? parseStatusLine(ran.value.stdout.trim().split('\n').pop() as string) : undefined;
    };
    let state = await agent('fence', FENCE_EXEC_MS);
    const fenced = isFenced(state) || await this.until(this.run.timeouts.fenceSeconds, 100, async () => {
      state = await agent('status', EXEC_MS) ?? await this.nodeState(pod);
      return isFenced(state);
    });
    if (!fenced) return false;
    // A fenced state is one.
    state = state as NodeState;
    this.states.set(pod, state);
    this.fenced.push(pod);
    this.log(`${pod} is fenced (now ${state.role}, shutdown checkpoint ${state.checkpoint})`);
    return true;
  }

  // ---- a planned switchover ----

  /**
   * Waits for the sidecars to finish the switchover in the record: the old primary's shutdown checkpoint within the
   * fence timeout, then the target named as the primary within the switchover timeout; else gives it back.
   */
  private async awaitSwitchover(job: string): Promise<void> {
    const timeouts = this.run.timeouts;
    const epoch = (this.record as SwitchingOverRecord).epoch;
    const fenceDeadline = this.clock.monotonic() + timeouts.fenceSeconds;
    let takeDeadline: number | undefined;
    let announced: string | undefined;
    for (;;) {
      const record = await this.readRecord() === undefined ? this.record : 'unread';
      const plan = decideSwitchoverRound({
        job,
        previous: this.previous,
        target: this.target as string,
        epoch,
        record,
        announced,
        now: this.clock.monotonic(),
        fenceDeadline,
        takeDeadline,
        fenceSeconds: timeouts.fenceSeconds,
        switchoverSeconds: timeouts.switchoverSeconds,
      });
      switch (plan.kind) {
        case 'switched':
          this.log(plan.reason);
          return;
        case 'given-back':
          return this.givenBack(plan.reason);
        case 'refuse':
          throw refuse(plan.reason);
        case 'give-back':
          // The record as last read: this job's switchover (any other record ended the wait before a timeout counts).
          return this.giveBack(this.record as SwitchingOverRecord, plan.reason);
        case 'fenced':
          this.log(plan.reason);
          announced = plan.checkpoint;
          takeDeadline = this.clock.monotonic() + timeouts.switchoverSeconds;
          break;
      }
      await this.clock.sleep(20);
    }
  }

  /** Gives the switchover `record` up: the record names the old primary again, unless the target named itself first (give_back). */
  private async giveBack(record: SwitchingOverRecord, reason: string): Promise<void> {
    const written = await this.tryWrite(giveBack(record));
    if (written.code === 2) {
      await this.readRecord();
      if (this.record?.state === 'stable' && this.record.primary === this.target) {
        this.log(`${this.target} recorded itself as the primary just now: the switchover stands`);
        return;
      }
      throw await this.changedMeanwhile();
    }
    if (written.code !== 0) throw refuse(`cannot update the leader record: ${written.error}`);
    this.log(`the leader record names ${this.previous} again (${describeRecord(this.record)})`);
    return this.givenBack(reason);
  }

  /** The record names the old primary again: waits for its label, then refuses with `reason`. */
  private async givenBack(reason: string): Promise<never> {
    const back = await this.until(this.run.timeouts.fenceSeconds, 100, async () => await this.roleLabelOf(this.previous) === 'primary');
    if (!back) throw refuse(`${reason}; the leader record names ${this.previous} again, which is not serving yet: its sidecar and entrypoint make it the primary`);
    throw refuse(`${reason}; ${this.previous} is the primary again, nothing was lost`);
  }

  // ---- an unplanned failover ----

  /** Refusing with the old primary down: the record names it again, so that it is the primary when it returns (give_back_down). */
  private async giveBackDown(reason: string): Promise<never> {
    // The record is this job's failover (a change by anyone else ended the job before).
    await this.writeRecord(giveBack(this.record as FailingOverRecord));
    throw refuse(`${reason}; the leader record names ${this.previous} again, nothing was changed`);
  }

  /** An unplanned failover: no primary may run but the one this job promotes. Chooses this.target. */
  private async failover(): Promise<void> {
    // Asked and not reached (a recorded primary that is no pod any more was not asked: it is gone).
    if (this.states.get(this.previous)?.role === 'unreachable') {
      const wait = 2 * this.config.isolationFenceSeconds;
      this.log(`${this.previous} cannot be reached and may still be running: waiting ${wait}s, by when a primary that`
        + ' cannot read the leader record has fenced itself and one that can has seen that it is no longer named');
      await this.clock.sleep(wait * 1000);
      await this.survey(this.pods);
    }
    for (const pod of this.pods) {
      const role = this.stateOf(pod).role;
      if ((role === 'primary' || role === 'starting') && pod !== this.target && !await this.fence(pod)) {
        throw refuse(`${pod} is still a primary ${this.run.timeouts.fenceSeconds}s after fencing`);
      }
    }
    if (this.stateOf(this.target as string).role === 'primary') {
      this.log(`${this.target} was promoted already (by the job that ended); recording it`);
      return;
    }
    await this.settle();
    const choice = chooseFailoverTarget({
      candidates: this.candidates(),
      previous: this.previous,
      syncReplicas: this.config.synchronousReplicas,
      syncSet: (this.record as FailingOverRecord).sync,
      acceptDataLoss: this.run.acceptDataLoss,
      requestedTarget: this.target,
      scaleDownTo: this.run.scaleDownTo,
    });
    if (choice.kind === 'refuse') return this.giveBackDown(choice.reason);
    if (choice.warning !== undefined) this.log(`WARNING: ${choice.warning}`);
    this.target = choice.target;
  }

  /**
   * With the primary lost, replicas may still be writing WAL that was on its way: compare them once their WAL receivers
   * have let go of the lost primary and their positions stop moving. A receiver that still streams then is ended; one
   * that streams again after that has found a primary behind the write Service: the old one, alive and not fenced.
   */
  private async settle(): Promise<void> {
    if (this.streaming().length === 0) return;
    let before = this.describe();
    const settled = await this.until(this.run.timeouts.settleSeconds, 0, async () => {
      await this.clock.sleep(200);
      await this.survey(this.pods);
      const same = this.describe() === before && this.streaming().length === 0;
      before = this.describe();
      return same;
    });
    if (settled) return;
    this.log(`replicas still receive after ${this.run.timeouts.settleSeconds}s (${this.streaming().join(' ')}): ending their WAL receivers`);
    for (const pod of this.streaming()) {
      const ended = await this.onNode(pod, 'reconnect');
      if (!ended.ok || ended.value.code !== 0) this.log(`could not end the WAL receiver of ${pod}`);
    }
    const stopped = await this.until(this.run.timeouts.reconnectSeconds, 0, async () => {
      await this.clock.sleep(500);
      await this.survey(this.pods);
      return this.streaming().length === 0;
    });
    if (stopped) return;
    await this.giveBackDown(`replicas stream again after their WAL receivers were ended (${this.streaming().join(' ')}): a primary still serves `
      + `behind the write Service, most likely ${this.previous}, alive and not fenced; promoting now would make two primaries. Find out why it `
      + 'did not fence itself (its sidecar and heartbeat fence), stop it, and run the job again');
  }

  /** With SCALE_DOWN_TO: a target that stays, or a refusal (plan_scale_down). */
  private async planScaleDown(record: LeaderRecord): Promise<void> {
    const scaleDownTo = this.run.scaleDownTo as number;
    if (this.target !== undefined) {
      if (ordinalOf(this.target) >= scaleDownTo) {
        throw refuse(`FAILOVER_TARGET ${this.target} goes away when scaling to ${scaleDownTo} pods; choose one of: `
          + this.pods.filter(pod => ordinalOf(pod) < scaleDownTo).join(' '));
      }
      return;
    }
    if (record.state !== 'stable') return;
    if (ordinalOf(this.previous) >= scaleDownTo) await this.survey(this.pods);
    const choice = chooseScaleDownTarget(this.candidates(), this.previous, scaleDownTo);
    if (choice.kind === 'refuse') throw refuse(choice.reason);
    this.log(choice.reason);
    if (choice.kind === 'promote') this.target = choice.target;
  }

  /** Names the chosen replica in the record: its sidecar promotes and labels it (promote). */
  private async promote(): Promise<void> {
    const target = this.target as string;
    // This job's failover (a change by anyone else ended the job before).
    await this.writeRecord(recordTarget(this.record as FailingOverRecord, target));
    // A dead or unreachable primary's sidecar cannot take its label away, and the endpoints of a pod on a partitioned
    // node are not updated: remove it before any other pod is labeled, or the write Service would have two endpoints.
    if (this.previous !== target) await this.label(this.previous, `could not remove the ${this.config.roleLabel} label of ${this.previous}`);
    const others = this.pods.filter(pod => pod !== target);
    const sync = this.config.synchronousReplicas > 0 ? [...others].sort() : [];
    if (this.stateOf(target).role !== 'primary') {
      this.log(`promoting ${target} (WAL ${this.stateOf(target).lsn}): the leader record names it, and its sidecar promotes it`);
    }
    // No other pod may be a primary now (each was fenced, or its sidecar fences it): naming the target in the record is
    // what promotes it. Its timeline is its sidecar's to record once it is promoted.
    await this.writeRecord(completeFailover(this.record as FailingOverRecord, sync));
    this.log(`${target} is the primary in the leader record (${describeRecord(this.record)})`);
    const serves = await this.until(this.run.timeouts.promoteSeconds, 20, async () => await this.roleLabelOf(target) === 'primary');
    if (!serves) {
      throw unfinished(`${target} is the primary in the leader record but does not serve as one ${this.run.timeouts.promoteSeconds}s later: its sidecar `
        + `promotes it when it can (kubectl logs ${target} -c ${this.config.sidecarContainer} says why not yet), and no other pod may be a primary meanwhile, `
        + 'so writes wait for it. If it cannot start, run the job again with FAILOVER_TARGET set to a healthy replica');
    }
    this.log(`${target} serves as the primary`);
  }

  // ---- after the new primary is recorded ----

  /** No other primary may run, and the replicas follow the new one (finish). */
  private async finish(): Promise<void> {
    const target = this.target as string;
    await this.surveyAll();
    for (const pod of this.withRole('primary')) {
      if (pod !== target) {
        this.log(`${pod} is a primary too: fencing it`);
        await this.fence(pod);
      }
    }
    await this.waitForFollowers(target);
    this.log(`done: ${target} is the primary; cluster: ${this.describe()}`);
  }

  /** Replicas that do not stream the target's timeline. */
  private lagging(target: string): string[] {
    const timeline = this.stateOf(target).timeline;
    return this.withRole('replica').filter(pod => pod !== target && (this.stateOf(pod).receiver !== 'streaming' || this.stateOf(pod).timeline !== timeline));
  }

  /**
   * Every reachable replica should stream the new primary's timeline. A WAL receiver that does not is told to connect
   * again every few seconds; a replica that still cannot (it replayed WAL the new primary never had) is restarted,
   * and its entrypoint rewinds it.
   */
  private async waitForFollowers(target: string): Promise<void> {
    const follow = this.run.timeouts.followSeconds;
    let nextNudge = this.clock.monotonic() + 3;
    let lagging: string[] = [];
    const followed = await this.until(follow, 500, async () => {
      await this.surveyAll();
      lagging = this.lagging(target);
      // A pod this job fenced is restarting as a replica: it counts until it streams.
      const restarting = this.fenced.filter(pod => ['down', 'starting', 'empty'].includes(this.stateOf(pod).role));
      if (lagging.length === 0 && restarting.length === 0) return true;
      if (this.clock.monotonic() >= nextNudge) {
        for (const pod of lagging) {
          this.log(`${pod} does not stream timeline ${this.stateOf(target).timeline} yet (receiver ${this.stateOf(pod).receiver}): reconnecting its WAL receiver`);
          await this.onNode(pod, 'reconnect');
        }
        nextNudge = this.clock.monotonic() + 3;
      }
      return false;
    });
    if (followed) return;
    const restarted = [...lagging];
    for (const pod of restarted) {
      this.log(`${pod} does not stream timeline ${this.stateOf(target).timeline} from ${target}: restarting it so that its entrypoint rewinds it`);
      await this.onNode(pod, 'restart');
    }
    // The replicas this job restarted (rewound by their entrypoints) or fenced, and every replica that answers, must
    // stream the new timeline before the job is done. A pod that is down for another reason (a dead node) rejoins when it starts.
    const watched = new Set([...restarted, ...this.fenced]);
    const rejoined = await this.until(2 * follow, 0, async () => {
      await this.clock.sleep(1000);
      await this.surveyAll();
      lagging = this.pods.filter(pod => pod !== target && (this.stateOf(pod).role === 'replica' ? this.lagging(target).includes(pod) : watched.has(pod)));
      return lagging.length === 0;
    });
    if (rejoined) return;
    throw unfinished(`${target} is the primary and takes writes, but ${lagging.join(' ')} do not stream from it ${Number((follow * 3).toFixed(3))}s later `
      + `(${this.describe()}): kubectl logs <pod> -c postgres says what its entrypoint waits for; until they stream, the cluster has fewer `
      + 'replicas (in synchronous mode, writes may wait)');
  }
}
