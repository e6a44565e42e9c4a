// The failover job's executor (failover-job-agent.ts) with the real API client (KubeClient) against the e2e harness's
// API stand-in over HTTPS: Leases, the pods as their kubelets report them, pods/exec over WebSocket, the Role of the
// FailoverJob construct. The pods' answers (pg-node.sh status, reconnect, restart in the postgres container; the
// agent's fence and status in the sidecar) are scripted here, and so are the other actors: the pods' sidecars, which
// carry out a switchover in the leader record and label the primary, are played through the API by a loop that reads
// the record. Real time, with timeouts of a fraction of a second.
import * as https from 'node:https';
import { failoverRunOf, FailoverJobConfig, FailoverJobTimeouts } from '../../src/agent/config';
import { FailoverJobAgent, isFenced, JobKube, parseStatusLine } from '../../src/agent/failover-job-agent';
import { NodeRole } from '../../src/agent/failover-target';
import { KubeClient } from '../../src/agent/kube';
import {
  decodeRecord, encodeRecordLease, encodeRecordPatch, FailingOverRecord, LeaderRecord, StableRecord, SwitchingOverRecord,
} from '../../src/agent/record';
import { giveBack, recordCheckpoint, recordTimeline, takeOverSwitchover } from '../../src/agent/transitions';
import { ApiPod, ApiStandIn } from '../e2e/harness/api';
import { Result } from '../e2e/harness/exec';
import { KubeObject, Manifests } from '../e2e/harness/manifests';
import { LEASES, ObjectStore, ResourceType } from '../e2e/harness/objects';
import { ApiTls } from '../e2e/harness/tls';
import { ListeningStandIn, startApiStandIn } from '../support/api-stand-in';
import { roleFor } from '../support/rbac';

const NAMESPACE = 'default';
const LEASE = 'pg-leader';
const JOB_ACCOUNT = 'pg-failover';
const JOB_TOKEN = 'failover-job-token';
/** This run's pod; another job's pods. */
const JOB_POD = 'pg-failover-new';
const OTHER_JOB = 'pg-failover-old';
const POD_NAMES = ['pg-0', 'pg-1', 'pg-2', 'pg-3'];
const NODE_SCRIPT = '/scripts/pg-node.sh';
const AGENT = '/scripts/agent.js';
const AGENT_CONFIG = '/scripts/sidecar.json';
/** The old primary's shutdown checkpoint. */
const CHECKPOINT = '0/3000028';

const TIMEOUTS: FailoverJobTimeouts = {
  fenceSeconds: 0.5, settleSeconds: 0.3, reconnectSeconds: 0.3, switchoverSeconds: 0.3, followSeconds: 0.3, promoteSeconds: 0.5,
};
const CONFIG: FailoverJobConfig = {
  version: 1,
  leaderRecord: LEASE,
  clusterSelector: 'app=pg',
  jobSelector: 'app=pg-failover',
  roleLabel: 'role',
  postgresContainer: 'postgres',
  sidecarContainer: 'agent',
  nodeScript: NODE_SCRIPT,
  agent: AGENT,
  agentConfig: AGENT_CONFIG,
  synchronousReplicas: 0,
  isolationFenceSeconds: 0.1,
  apiTimeoutSeconds: 5,
  timeouts: TIMEOUTS,
};

/** The Role the FailoverJob construct gives the job (src/failover-job.ts), as fresh objects: a test may take a verb away. */
const jobRules = () => [
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  { apiGroups: [''], resources: ['pods'], resourceNames: POD_NAMES, verbs: ['get', 'patch'] },
  { apiGroups: [''], resources: ['pods/exec'], resourceNames: POD_NAMES, verbs: ['create', 'get'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [LEASE], verbs: ['get', 'patch', 'update'] },
];
const manifests: KubeObject[] = roleFor(JOB_ACCOUNT, jobRules());
const role = manifests[0];
/** Takes a verb on a resource away from the job's Role, as from now. */
function revoke(resource: string, verb: string): void {
  for (const rule of role.rules as Array<{ resources: string[]; verbs: string[] }>) {
    if (rule.resources.includes(resource)) rule.verbs = rule.verbs.filter(v => v !== verb);
  }
}

// ---- what happened: the job's log, the execs, the sidecars' acts, in one timeline ----

interface Event {
  readonly at: number;
  readonly what: string;
}
let trace: Event[] = [];
let logs: string[] = [];
const note = (what: string) => trace.push({ at: performance.now(), what });
/** The execs made, as `<pod> <container> <command>`. */
const execs = () => trace.filter(e => e.what.startsWith('exec ')).map(e => e.what.slice(5));
/** The execs made before the first event that starts with `what`. */
const execsBefore = (what: string) => {
  const index = trace.findIndex(e => e.what.startsWith(what));
  expect(index).toBeGreaterThanOrEqual(0);
  return trace.slice(0, index).filter(e => e.what.startsWith('exec ')).map(e => e.what.slice(5));
};
const count = (list: readonly string[], item: string) => list.filter(x => x === item).length;

// ---- the pods ----

type Answer = Result | undefined;

/**
 * A pod as its kubelet reports it, and what pg-node.sh and the agent in it answer. Its labels are kept by reference:
 * a label patch shows. `script` answers an exec before the defaults do (undefined: the default).
 */
class FakePod implements ApiPod {
  public readonly apiCutOff = false;
  public role: NodeRole = 'replica';
  public lsn = '0/3000060';
  public receiver = 'streaming';
  public timeline = 1;
  public checkpoint = '-';
  public ready = true;
  /** The postgres container runs (the kubelet says so). */
  public running = true;
  /** pg-node.sh status answers. */
  public answers = true;
  public phase = 'Running';
  /** Whether it streams from a new primary: at once, once restarted (its entrypoint rewinds it), or never. */
  public follows: 'yes' | 'after-restart' | 'never' = 'yes';
  /** The agent's fence: stops PostgreSQL with a shutdown checkpoint (true), or fails (false). */
  public fences = true;
  /** The full commands run. */
  public readonly commands: Array<readonly string[]> = [];

  constructor(public readonly name: string, public readonly labels: Record<string, string>) {}

  public script: (container: string, command: readonly string[]) => Promise<Answer> | Answer = () => undefined;

  public line(): string {
    return `${this.role} ${this.lsn} ${this.receiver} ${this.timeline} ${this.checkpoint}`;
  }

  public toObject(namespace: string): KubeObject {
    const running = { running: { startedAt: '2026-01-01T00:00:00Z' } };
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: this.name, namespace, labels: { ...this.labels } },
      spec: { containers: [{ name: 'postgres' }, { name: 'agent' }] },
      status: {
        phase: this.phase,
        conditions: [{ type: 'Ready', status: this.ready ? 'True' : 'False' }],
        containerStatuses: [
          { name: 'postgres', ready: this.ready, state: this.running ? running : { waiting: { reason: 'CrashLoopBackOff' } } },
          { name: 'agent', ready: true, state: running },
        ],
      },
    };
  }

  public async exec(container: string, command: readonly string[]): Promise<Result> {
    this.commands.push(command);
    note(`exec ${this.name} ${container} ${command[2]}`);
    const scripted = await this.script(container, command);
    if (scripted !== undefined) return scripted;
    const ok = (stdout: string): Result => ({ code: 0, stdout, stderr: '' });
    if (container === 'postgres') {
      if (!this.running) return { code: 126, stdout: '', stderr: 'error: container postgres is not running\n' };
      switch (command[2]) {
        case 'status':
          // One that does not answer fails, whatever it printed before (a state it read earlier is not its state now).
          return this.answers ? ok(`${this.line()}\n`) : { code: 2, stdout: `${this.line()}\n`, stderr: 'psql: error: connection to server failed: timeout expired\n' };
        case 'restart':
          if (this.follows === 'after-restart') this.follow();
          return ok('');
        default:
          return ok('');
      }
    }
    if (command[2] === 'fence' && this.fences) {
      this.role = 'down';
      this.receiver = 'none';
      this.checkpoint = CHECKPOINT;
      this.lsn = '0/0';
      return ok(`fenced: standby.signal written\n${this.line()}\n`);
    }
    if (command[2] === 'status') return ok(`${this.line()}\n`);
    return { code: 1, stdout: '', stderr: 'the fast shutdown did not finish within 60s\n' };
  }

  /** Streams from the primary that serves (its timeline). */
  public follow(): void {
    const serving = (p: FakePod) => p.role === 'primary' && p.running && p !== this;
    const primary = pods.find(p => serving(p) && p.labels.role === 'primary') ?? pods.find(serving);
    this.role = 'replica';
    this.receiver = 'streaming';
    this.checkpoint = '-';
    this.timeline = primary?.timeline ?? this.timeline;
    this.lsn = primary?.lsn ?? this.lsn;
  }
}

let pods: FakePod[] = [];
const pod = (name: string) => {
  const found = pods.find(p => p.name === name);
  if (found === undefined) throw new Error(`no pod ${name}`);
  return found;
};

/** pg-0 .. pg-<n-1> of the cluster, `primary` serving (labeled, timeline 1), the others streaming replicas; and the job's pod. */
function cluster(primary = 'pg-0', n = 3): FakePod[] {
  pods = POD_NAMES.slice(0, n).map(name => {
    const made = new FakePod(name, { app: 'pg', role: name === primary ? 'primary' : 'replica' });
    if (name === primary) {
      made.role = 'primary';
      made.receiver = 'none';
    }
    return made;
  });
  pods.push(jobPod(JOB_POD, 'Running'));
  return pods.slice(0, n);
}

function jobPod(name: string, phase: string): FakePod {
  const made = new FakePod(name, { app: 'pg-failover' });
  made.phase = phase;
  return made;
}

/** The pod's PostgreSQL is gone: its container does not run, and it keeps its labels (its sidecar cannot act). */
function lose(lost: FakePod): void {
  lost.running = false;
  lost.ready = false;
  lost.role = 'down';
}

/** The replicas lost their primary: their WAL receivers have let go (positions given). */
function orphan(...positions: Array<[FakePod, string]>): void {
  for (const [replica, lsn] of positions) {
    replica.receiver = 'none';
    replica.lsn = lsn;
  }
}

// ---- the API ----

let tls: ApiTls;
let api: ApiStandIn;
let admin: KubeClient;
const clients: KubeClient[] = [];

function tokenFile(token: string): string {
  return standIn!.tokenFile(token);
}

function client(token: string): KubeClient {
  const made = new KubeClient({ server: api.adminServer, namespace: NAMESPACE, tokenFile: tokenFile(token), caFile: tls.caFile, timeoutMs: 5000 });
  clients.push(made);
  return made;
}

let standIn: ListeningStandIn | undefined;

beforeAll(async () => {
  standIn = await startApiStandIn({
    namespace: NAMESPACE,
    manifests: new Manifests(manifests),
    pods: () => pods,
    identityOf: token => (token === JOB_TOKEN ? { account: JOB_ACCOUNT, pod: JOB_POD } : undefined),
    onLabelsChange: changed => note(`labels ${changed.name} ${changed.labels.role ?? '-'}`),
  }, { prefix: 'failover-job-' });
  ({ tls, api } = standIn);
  admin = client(api.adminToken);
});

let sidecarLoops: Sidecars[] = [];
const pushRequest = Array.prototype.push;
beforeEach(async () => {
  trace = [];
  logs = [];
  pods = [];
  role.rules.splice(0, role.rules.length, ...jobRules());
  api.requests.push = pushRequest;
  await deleteLease();
  api.requests.length = 0;
});
afterEach(async () => {
  for (const loop of sidecarLoops.splice(0)) await loop.stop();
  api.requests.push = pushRequest;
});
afterAll(() => {
  for (const made of clients.splice(0)) made.close();
  standIn?.close();
});

function deleteLease(): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.request(`${api.adminServer}/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${LEASE}`,
      { method: 'DELETE', ca: tls.ca, headers: { authorization: `Bearer ${api.adminToken}` } }, response => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
    request.on('error', reject);
    request.end();
  });
}

// ---- the leader record ----

const stable = (primary: string, epoch: number, more: Partial<StableRecord> = {}): StableRecord =>
  ({ version: 1, state: 'stable', primary, epoch, timeline: 1, systemIdentifier: '7400000000000000001', sync: [], ...more });
const switchingOver = (previous: string, target: string, epoch: number, job: string, checkpoint?: string): SwitchingOverRecord =>
  ({ version: 1, state: 'switching-over', previous, target, job, checkpoint, epoch, timeline: 1, systemIdentifier: '7400000000000000001', sync: [] });
const failingOver = (previous: string, target: string | undefined, epoch: number, job: string): FailingOverRecord =>
  ({ version: 1, state: 'failing-over', previous, target, job, epoch, timeline: 1, systemIdentifier: '7400000000000000001', sync: [] });

async function createRecord(record: LeaderRecord): Promise<void> {
  const created = await admin.createLease(encodeRecordLease(LEASE, { app: 'pg' }, record));
  if (!created.ok) throw new Error(created.message);
}

/** The record and its resourceVersion, as the API stores them now. */
async function stored(): Promise<{ record: LeaderRecord; resourceVersion: string }> {
  const got = await admin.getLease(LEASE);
  if (!got.ok || got.value === undefined) throw new Error(`no leader record: ${got.ok ? 'none' : got.message}`);
  const decoded = decodeRecord(got.value);
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded;
}
const recordNow = async () => (await stored()).record;

/** Someone else writes the record (compare-and-swap on the version read). */
async function writeAsOther(change: (record: LeaderRecord) => LeaderRecord): Promise<void> {
  const { record, resourceVersion } = await stored();
  const written = await admin.patchLease(LEASE, encodeRecordPatch(change(record), resourceVersion));
  if (!written.ok) throw new Error(written.message);
}

// ---- the pods' sidecars, played through the API ----

interface SidecarBehaviour {
  /** The old primary of a switchover fences itself and records its shutdown checkpoint. */
  readonly checkpoint: boolean;
  /** The target of a switchover records itself as the primary once the checkpoint is recorded. */
  readonly takeOver: boolean;
  /** The pod a stable record names labels itself primary (promoted if it was a replica); the others follow it. */
  readonly label: boolean;
  /** Acts on a record first; true: nothing more this round. */
  readonly first?: (record: LeaderRecord, resourceVersion: string) => Promise<boolean>;
  /** After the named primary labeled itself. */
  readonly labeled?: (primary: FakePod) => void;
  /** They act only once the timeline has an event that starts with this. */
  readonly from?: string;
}

/** The sidecars of the pods: a loop that reads the record every 10 ms and does what each pod's sidecar would. */
class Sidecars {
  private stopped = false;
  /** When the target saw the checkpoint: it takes over 100 ms later (the time to receive the WAL up to it). */
  private checkpointSeenAt: number | undefined;
  private readonly loop: Promise<void>;

  constructor(private readonly behaviour: SidecarBehaviour) {
    this.loop = this.run();
  }

  public async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const got = await admin.getLease(LEASE);
      const decoded = got.ok && got.value !== undefined ? decodeRecord(got.value) : undefined;
      if (decoded?.ok) await this.act(decoded.record, decoded.resourceVersion);
      await new Promise(resolve => setTimeout(resolve, 10));
    }
  }

  private async cas(next: LeaderRecord, resourceVersion: string, what: string): Promise<void> {
    const written = await admin.patchLease(LEASE, encodeRecordPatch(next, resourceVersion));
    if (written.ok) note(`sidecar ${what}`);
  }

  private async act(record: LeaderRecord, resourceVersion: string): Promise<void> {
    const from = this.behaviour.from;
    if (from !== undefined && !trace.some(e => e.what.startsWith(from))) return;
    if (this.behaviour.first !== undefined && await this.behaviour.first(record, resourceVersion)) return;
    if (record.state === 'switching-over') {
      if (record.checkpoint === undefined && this.behaviour.checkpoint) {
        const old = pods.find(p => p.name === record.previous);
        if (old !== undefined) Object.assign(old, { role: 'down', receiver: 'none', lsn: '0/0', checkpoint: CHECKPOINT });
        await this.cas(recordCheckpoint(record, CHECKPOINT), resourceVersion, `${record.previous} checkpoint`);
      } else if (record.checkpoint !== undefined && this.behaviour.takeOver) {
        this.checkpointSeenAt ??= performance.now();
        if (performance.now() - this.checkpointSeenAt < 100) return;
        await this.cas(takeOverSwitchover(record, record.sync), resourceVersion, `${record.target} takes over`);
      }
      return;
    }
    const primary = record.state === 'stable' ? pods.find(p => p.name === record.primary) : undefined;
    // A pod whose PostgreSQL does not run, or does not answer, has nothing its sidecar could make a primary.
    if (primary === undefined || !this.behaviour.label || !primary.running || !primary.answers) return;
    if (primary.labels.role === 'primary' && primary.role === 'primary') return;
    if (primary.role === 'replica') {
      primary.timeline += 1;
      primary.lsn = '0/3000100';
    }
    Object.assign(primary, { role: 'primary', receiver: 'none', checkpoint: '-' });
    primary.labels.role = 'primary';
    note(`sidecar ${primary.name} labeled primary`);
    for (const other of pods) {
      if (other !== primary && other.labels.app === 'pg' && other.running && other.answers && other.follows === 'yes') other.follow();
    }
    this.behaviour.labeled?.(primary);
  }
}

function sidecars(behaviour: Partial<SidecarBehaviour> = {}): Sidecars {
  const made = new Sidecars({ checkpoint: true, takeOver: true, label: true, ...behaviour });
  sidecarLoops.push(made);
  return made;
}

/** A `first` behaviour: someone else replaces the job's switchover record, as the sidecars first see it, with `next`. */
function rewritesSwitchover(next: (record: SwitchingOverRecord) => LeaderRecord): SidecarBehaviour['first'] {
  return async (record, resourceVersion) => {
    if (record.state !== 'switching-over') return false;
    await admin.patchLease(LEASE, encodeRecordPatch(next(record), resourceVersion));
    return true;
  };
}

// ---- the job ----

/** Runs the job to its end, with this run's variables (FAILOVER_TARGET...); its exit code. `kube` may wrap its client. */
async function runJob(env: Record<string, string> = {}, config: Partial<FailoverJobConfig> = {}, kube = (made: JobKube) => made): Promise<number> {
  const document = { ...CONFIG, ...config };
  const run = failoverRunOf(env, document.timeouts);
  const job = new FailoverJobAgent(document, run, JOB_POD, kube(client(JOB_TOKEN)), {
    monotonic: () => performance.now() / 1000,
    sleep: ms => new Promise(resolve => setTimeout(resolve, ms)),
  }, message => {
    logs.push(message);
    note(`log ${message}`);
  });
  const code = await job.main();
  note('exit');
  return code;
}

const lastLog = () => logs[logs.length - 1];
afterEach(() => {
  if (process.env.SHOW_LOGS) console.log(logs.join('\n'));
});
const roles = () => Object.fromEntries(pods.filter(p => p.labels.app === 'pg').map(p => [p.name, p.labels.role]));

// ---- the tests ----

describe('what the job reads first', () => {
  test('no leader record: refused (exit 1), the cluster was never initialized; nothing asked of the pods', async () => {
    cluster();
    expect(await runJob()).toBe(1);
    expect(logs).toEqual([`REFUSED: there is no leader record (${LEASE}): the cluster has not been initialized yet`]);
    expect(execs()).toEqual([]);
  });

  test('a record that cannot be decoded: refused, with the decoder\'s reason; left as it is', async () => {
    cluster();
    const lease = encodeRecordLease(LEASE, { app: 'pg' }, stable('pg-0', 3));
    const created = await admin.createLease({ ...lease, metadata: { ...lease.metadata, annotations: { ...lease.metadata.annotations, 'postgres.cdk8s.io/state': 'sideways' } } });
    expect(created.ok).toBe(true);
    const before = api.lease(LEASE)!.metadata.resourceVersion;
    expect(await runJob()).toBe(1);
    expect(logs).toEqual([`REFUSED: cannot read the leader record ${LEASE}: malformed leader record: postgres.cdk8s.io/state is unknown: "sideways" `
      + '(known: stable, switching-over, failing-over)']);
    expect(api.lease(LEASE)!.metadata.resourceVersion).toBe(before);
    expect(execs()).toEqual([]);
  });

  test('a record the job may not read (403): refused, with the API\'s answer', async () => {
    cluster();
    await createRecord(stable('pg-0', 3));
    revoke('leases', 'get');
    expect(await runJob()).toBe(1);
    expect(lastLog()).toMatch(new RegExp(`^REFUSED: cannot read the leader record ${LEASE}: GET leases/${LEASE}: 403 Forbidden: `));
  });

  test('pods that cannot be listed: refused before anything is asked or written', async () => {
    cluster();
    await createRecord(stable('pg-0', 3));
    revoke('pods', 'list');
    expect(await runJob()).toBe(1);
    expect(lastLog()).toMatch(/^REFUSED: cannot list the pods of the cluster: GET pods\?labelSelector=app=pg: 403 Forbidden: /);
    expect(execs()).toEqual([]);
    expect(await recordNow()).toEqual(stable('pg-0', 3));
  });

  test('no pod matches the cluster\'s selector: refused', async () => {
    pods = [jobPod(JOB_POD, 'Running')];
    await createRecord(stable('pg-0', 3));
    expect(await runJob()).toBe(1);
    expect(logs).toEqual(['leader record: epoch 3, stable, primary pg-0, timeline 1', 'REFUSED: no pods match app=pg']);
  });
});

describe('a fault of the job itself', () => {
  test('an unexpected error (a bug, a client that throws): STOPPED with its stack, exit 1, the record as it was', async () => {
    cluster();
    await createRecord(stable('pg-0', 7));
    const broken = (made: JobKube): JobKube => Object.assign(Object.create(made) as JobKube, {
      listPods: () => { throw new TypeError('listPods broke'); },
    });
    expect(await runJob({}, {}, broken)).toBe(1);
    expect(lastLog()).toMatch(/^STOPPED: TypeError: listPods broke\n {4}at /);
    expect(await recordNow()).toEqual(stable('pg-0', 7));
  });

  test('a client that throws as the record is read or the pods are listed: STOPPED once the other request has ended, nothing left in flight', async () => {
    cluster();
    await createRecord(stable('pg-0', 7));
    const lists = `GET /api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3Dpg`;
    const reads = `GET /apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${LEASE}`;
    const sent = () => api.requests.filter(r => r.method === 'GET').map(r => `${r.method} ${r.path}`);
    const readBroken = (made: JobKube): JobKube => Object.assign(Object.create(made) as JobKube, {
      getLease: () => { throw new RangeError('getLease broke'); },
    });
    expect(await runJob({}, {}, readBroken)).toBe(1);
    expect(lastLog()).toMatch(/^STOPPED: RangeError: getLease broke\n {4}at /);
    expect(sent()).toEqual([lists]);
    api.requests.length = 0;
    const listBroken = (made: JobKube): JobKube => Object.assign(Object.create(made) as JobKube, {
      listPods: () => { throw new TypeError('listPods broke'); },
    });
    expect(await runJob({}, {}, listBroken)).toBe(1);
    expect(lastLog()).toMatch(/^STOPPED: TypeError: listPods broke\n {4}at /);
    expect(sent()).toEqual([reads]);
    expect(await recordNow()).toEqual(stable('pg-0', 7));
  });

  test('a thrown value that is not an Error: STOPPED with what it says', async () => {
    cluster();
    await createRecord(stable('pg-0', 7));
    const broken = (made: JobKube): JobKube => Object.assign(Object.create(made) as JobKube, {
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      listPods: () => { throw 'no pods today'; },
    });
    expect(await runJob({}, {}, broken)).toBe(1);
    expect(lastLog()).toBe('STOPPED: no pods today');
  });
});

describe('nothing to do', () => {
  test('a healthy primary and no FAILOVER_TARGET: exit 0, every pod asked once, the record and labels untouched', async () => {
    cluster();
    await createRecord(stable('pg-0', 3));
    const before = api.lease(LEASE)!.metadata.resourceVersion;
    expect(await runJob()).toBe(0);
    expect(logs).toEqual([
      'leader record: epoch 3, stable, primary pg-0, timeline 1',
      'cluster: pg-0=primary@0/3000060 pg-1=replica@0/3000060 pg-2=replica@0/3000060',
      'primary pg-0 is healthy: nothing to do. For a planned switchover, set FAILOVER_TARGET to the replica to promote.',
      'pg-0 is the only primary',
    ]);
    expect(execs().sort()).toEqual(['pg-0 postgres status', 'pg-1 postgres status', 'pg-2 postgres status']);
    expect(pod('pg-0').commands[0]).toEqual(['bash', NODE_SCRIPT, 'status']);
    expect(api.lease(LEASE)!.metadata.resourceVersion).toBe(before);
    expect(roles()).toEqual({ 'pg-0': 'primary', 'pg-1': 'replica', 'pg-2': 'replica' });
    // Its API requests: the record read and the pods listed, once each; all else it learned from the pods themselves. A
    // stable record names no job: no job's pod is looked for.
    expect(api.requests.filter(r => r.method !== 'POST').map(r => `${r.method} ${r.path}`)).toEqual([
      `GET /apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${LEASE}`,
      `GET /api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3Dpg`,
    ]);
  });

  test('FAILOVER_TARGET naming the primary itself: nothing to do', async () => {
    cluster();
    await createRecord(stable('pg-0', 3));
    expect(await runJob({ FAILOVER_TARGET: 'pg-0' })).toBe(0);
    expect(logs).toContain('primary pg-0 is healthy: nothing to do. For a planned switchover, set FAILOVER_TARGET to the replica to promote.');
    expect(await recordNow()).toEqual(stable('pg-0', 3));
    expect(execs().sort()).toEqual(['pg-0 postgres status', 'pg-1 postgres status', 'pg-2 postgres status']);
  });

  test('a primary that answers no queries (WAL position "?"): not failed over, and the message says it does not answer', async () => {
    const [primary] = cluster();
    primary.lsn = '?';
    await createRecord(stable('pg-0', 3));
    expect(await runJob()).toBe(0);
    expect(logs.slice(-2)).toEqual([
      'primary pg-0 is running but does not answer queries (too many clients?): not failing over a live primary. '
        + 'To move it anyway, set FAILOVER_TARGET: a switchover fences it first.',
      'pg-0 is the only primary',
    ]);
    expect(await recordNow()).toEqual(stable('pg-0', 3));
    expect(execs().filter(e => !e.endsWith('status'))).toEqual([]);
  });

  test('a primary in crash recovery (starting): not failed over', async () => {
    const [primary] = cluster();
    primary.role = 'starting';
    await createRecord(stable('pg-0', 3));
    expect(await runJob()).toBe(0);
    expect(logs).toContain('primary pg-0 is starting (crash recovery): not failing over. Run the job again if it does not come back.');
    expect(await recordNow()).toEqual(stable('pg-0', 3));
  });
});

describe('another job', () => {
  test.each([
    ['failing-over', failingOver('pg-0', undefined, 4, OTHER_JOB)],
    ['switching-over', switchingOver('pg-0', 'pg-1', 4, OTHER_JOB)],
  ])('a %s record held by a job that still runs: refused, the record untouched, no pod asked', async (_state, record) => {
    cluster();
    pods.push(jobPod(OTHER_JOB, 'Running'));
    await createRecord(record);
    const before = api.lease(LEASE)!.metadata.resourceVersion;
    expect(await runJob({ FAILOVER_TARGET: 'pg-2' })).toBe(1);
    expect(lastLog()).toBe(`REFUSED: another failover job (${OTHER_JOB}) holds the leader record and is running; nothing was changed`);
    expect(api.lease(LEASE)!.metadata.resourceVersion).toBe(before);
    expect(execs()).toEqual([]);
  });

  test('a failing-over record whose job cannot be looked for (pods not listable): taken as running, nothing taken', async () => {
    cluster();
    await createRecord(failingOver('pg-0', undefined, 4, OTHER_JOB));
    revoke('pods', 'list');
    expect(await runJob()).toBe(1);
    expect(lastLog()).toBe(`REFUSED: another failover job (${OTHER_JOB}) holds the leader record and is running; nothing was changed`);
    expect(await recordNow()).toEqual(failingOver('pg-0', undefined, 4, OTHER_JOB));
  });

  test('a dead job\'s switching-over record (its pod failed): resumed; the sidecars finish it; exit 0, its epoch kept', async () => {
    const [old, target] = cluster();
    pods.push(jobPod(OTHER_JOB, 'Failed'));
    delete old.labels.role;
    // The old primary, fenced, streams from the new one a little after it serves.
    old.follows = 'never';
    await createRecord(switchingOver('pg-0', 'pg-1', 6, OTHER_JOB));
    sidecars({ labeled: () => setTimeout(() => old.follow(), 300) });
    expect(await runJob({ FOLLOW_TIMEOUT_SECONDS: '3' })).toBe(0);
    expect(logs).toContain(`job ${OTHER_JOB} ended without finishing its failover (a switchover, pg-0 -> pg-1): waiting for the two pods' sidecars `
      + 'to finish it, or giving it back');
    expect(logs).toContain('pg-1 is the primary (epoch 6, stable, primary pg-1, timeline 1)');
    expect(lastLog()).toMatch(/^done: pg-1 is the primary; cluster: pg-0=replica@0\/3000100 pg-1=primary@0\/3000100 pg-2=replica@0\/3000100$/);
    expect(await recordNow()).toEqual(stable('pg-1', 6));
    expect(target.labels.role).toBe('primary');
    // Nothing asked before the sidecars finished: the record is what the job waited on.
    expect(execsBefore('sidecar pg-1 takes over')).toEqual([]);
  });

  test('a failing-over record held by this very pod (its container ran again): not another job\'s; the failover completed', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(failingOver('pg-0', undefined, 6, JOB_POD));
    sidecars();
    expect(await runJob()).toBe(0);
    expect(logs[2]).toBe(`took the leader record: epoch 7, failing-over, primary (none), timeline 1 (job ${JOB_POD}: pg-0 -> ?)`);
    expect(await recordNow()).toEqual(stable('pg-2', 7));
  });

  test('a dead job\'s failing-over record while the old primary still serves, with a target: every pod asked, then a switchover', async () => {
    cluster();
    await createRecord(failingOver('pg-0', 'pg-1', 6, OTHER_JOB));
    sidecars();
    expect(await runJob()).toBe(0);
    expect(logs.some(l => l.startsWith('the API shows'))).toBe(false);
    expect(logs[1]).toBe('cluster: pg-0=primary@0/3000060 pg-1=replica@0/3000060 pg-2=replica@0/3000060');
    expect(logs[2]).toBe(`took the leader record: epoch 7, switching-over, primary (none), timeline 1 (job ${JOB_POD}: pg-0 -> pg-1)`);
    expect(execsBefore('sidecar pg-0 checkpoint').sort()).toEqual(['pg-0 postgres status', 'pg-1 postgres status', 'pg-2 postgres status']);
    expect(await recordNow()).toEqual(stable('pg-1', 7));
  });

  test('a dead job\'s failing-over record whose target it promoted already: recorded as the primary, exit 0', async () => {
    const [old, target, replica] = cluster();
    lose(old);
    Object.assign(target, { role: 'primary', receiver: 'none', timeline: 2, lsn: '0/3000100' });
    await createRecord(failingOver('pg-0', 'pg-1', 6, OTHER_JOB));
    sidecars();
    expect(await runJob()).toBe(0);
    expect(logs[1]).toBe('cluster: pg-0=down@0/0 pg-1=primary@0/3000100 pg-2=replica@0/3000060');
    expect(logs).toContain('pg-1 was promoted already (by the job that ended); recording it');
    expect(logs.some(l => l.startsWith('promoting'))).toBe(false);
    expect(await recordNow()).toEqual(stable('pg-1', 7));
    expect(old.labels.role).toBeUndefined();
    expect(replica.timeline).toBe(2);
    expect(execs().filter(e => !e.endsWith('status'))).toEqual([]);
  });
});

describe('a planned switchover (FAILOVER_TARGET)', () => {
  test('both pods labeled and Ready: the API shortcut (no exec before the switchover), the sidecars carry it out, exit 0', async () => {
    const [old, target] = cluster();
    await createRecord(stable('pg-0', 4));
    sidecars();
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(0);
    expect(logs.slice(0, 6)).toEqual([
      'leader record: epoch 4, stable, primary pg-0, timeline 1',
      'the API shows pg-0 serving as the primary and pg-1 as a streaming replica',
      'cluster: pg-0=primary@? pg-1=replica@? pg-2=?@?',
      `took the leader record: epoch 5, switching-over, primary (none), timeline 1 (job ${JOB_POD}: pg-0 -> pg-1)`,
      'promoting pg-1 once it has received the old primary\'s shutdown checkpoint: pg-0 fences itself and records the checkpoint, '
        + 'then pg-1\'s sidecar records it as the primary and promotes it',
      `pg-0 is fenced: its shutdown checkpoint is ${CHECKPOINT}`,
    ]);
    expect(logs[6]).toBe('pg-1 is the primary (epoch 5, stable, primary pg-1, timeline 1)');
    expect(lastLog()).toBe('done: pg-1 is the primary; cluster: pg-0=replica@0/3000100 pg-1=primary@0/3000100 pg-2=replica@0/3000100');
    expect(await recordNow()).toEqual(stable('pg-1', 5));
    expect(execsBefore('sidecar pg-0 checkpoint')).toEqual([]);
    // The job took the old primary's label away at once, before the target took over and labeled itself.
    expect(trace.findIndex(e => e.what === 'labels pg-0 -')).toBeGreaterThanOrEqual(0);
    expect(trace.findIndex(e => e.what === 'labels pg-0 -')).toBeLessThan(trace.findIndex(e => e.what === 'sidecar pg-1 takes over'));
    expect(roles()).toEqual({ 'pg-0': undefined, 'pg-1': 'primary', 'pg-2': 'replica' });
    expect(old.timeline).toBe(2);
    expect(target.timeline).toBe(2);
    // After: every pod asked (and nobody fenced, reconnected or restarted), until they all followed: two rounds, at most three.
    expect([...new Set(execs())].sort()).toEqual(['pg-0 postgres status', 'pg-1 postgres status', 'pg-2 postgres status']);
    expect(count(execs(), 'pg-2 postgres status')).toBeLessThanOrEqual(3);
  });

  test('a target the API does not show Ready: the two pods are asked (and only they) before the switchover', async () => {
    const [, target] = cluster();
    target.ready = false;
    await createRecord(stable('pg-0', 4));
    sidecars();
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(0);
    expect(logs[1]).toBe('cluster: pg-0=primary@0/3000060 pg-1=replica@0/3000060 pg-2=?@?');
    expect(logs.some(l => l.startsWith('the API shows'))).toBe(false);
    expect(execsBefore('sidecar pg-0 checkpoint').sort()).toEqual(['pg-0 postgres status', 'pg-1 postgres status']);
    expect(await recordNow()).toEqual(stable('pg-1', 5));
  });

  test('a target that is not Ready and does not stream (its WAL receiver waits): refused before anything is written, the primary keeps its label', async () => {
    const [old, target] = cluster();
    target.ready = false;
    target.receiver = 'waiting';
    await createRecord(stable('pg-0', 4));
    sidecars();
    const version = api.lease(LEASE)!.metadata.resourceVersion;
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: FAILOVER_TARGET pg-1 does not stream from pg-0 (its WAL receiver is waiting): it could not receive the primary\'s last WAL, '
      + 'so nothing was changed; run the job again once it streams (its pod is Ready)');
    expect(api.lease(LEASE)!.metadata.resourceVersion).toBe(version);
    expect(old.labels.role).toBe('primary');
    expect(execs().sort()).toEqual(['pg-0 postgres status', 'pg-1 postgres status']);
  });

  test.each([
    ['the primary is not labeled', (p: FakePod[]) => delete p[0].labels.role],
    ['the primary is not Ready', (p: FakePod[]) => (p[0].ready = false)],
    ['the target is labeled primary', (p: FakePod[]) => (p[1].labels.role = 'primary')],
  ])('no shortcut when %s: the survey decides', async (_case, change) => {
    change(cluster());
    await createRecord(stable('pg-0', 4));
    sidecars({ from: 'log took the leader record' });
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(0);
    expect(logs.some(l => l.startsWith('the API shows'))).toBe(false);
    expect(execsBefore('sidecar pg-0 checkpoint').sort()).toEqual(['pg-0 postgres status', 'pg-1 postgres status']);
  });

  test.each(['down', 'starting', 'empty'] as const)('an old primary still %s after the switchover: the job waits until it streams', async state => {
    const [old] = cluster();
    old.follows = 'never';
    await createRecord(stable('pg-0', 4));
    sidecars({
      labeled: () => {
        old.role = state;
        setTimeout(() => old.follow(), 300);
      },
    });
    expect(await runJob({ FAILOVER_TARGET: 'pg-1', FOLLOW_TIMEOUT_SECONDS: '3' })).toBe(0);
    expect(lastLog()).toBe('done: pg-1 is the primary; cluster: pg-0=replica@0/3000100 pg-1=primary@0/3000100 pg-2=replica@0/3000100');
    expect(execs().filter(e => !e.endsWith('status'))).toEqual([]);
  });

  test('a target that answers as not a replica: every pod asked, refused as not healthy, the record untouched', async () => {
    const [, target] = cluster();
    target.ready = false;
    target.role = 'starting';
    await createRecord(stable('pg-0', 4));
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: FAILOVER_TARGET pg-1 is not healthy (it is starting); choose another replica');
    expect(execs().sort()).toEqual(['pg-0 postgres status', 'pg-1 postgres status', 'pg-2 postgres status']);
    expect(await recordNow()).toEqual(stable('pg-0', 4));
    expect(roles()['pg-0']).toBe('primary');
  });

  test('a FAILOVER_TARGET that is not a pod of the cluster: refused, the record untouched, the pod never looked for', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    expect(await runJob({ FAILOVER_TARGET: 'pg-3' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: FAILOVER_TARGET pg-3 is not a pod of this cluster (pods: pg-0 pg-1 pg-2)');
    expect(await recordNow()).toEqual(stable('pg-0', 4));
    expect(execs().sort()).toEqual(['pg-0 postgres status', 'pg-1 postgres status', 'pg-2 postgres status']);
    expect(api.requests.filter(r => r.path.includes('/pods/pg-3'))).toEqual([]);
  });

  test('a recorded primary that is no pod any more (scaled away): a failover to FAILOVER_TARGET; its label cannot go (404), and that is no failure', async () => {
    cluster('pg-1');
    pod('pg-1').labels.role = 'replica';
    pod('pg-1').role = 'replica';
    pod('pg-1').receiver = 'none';
    orphan([pod('pg-0'), '0/3000060'], [pod('pg-2'), '0/3000100']);
    await createRecord(stable('pg-3', 4));
    sidecars();
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(0);
    expect(logs[1]).toBe('cluster: pg-0=replica@0/3000060 pg-1=replica@0/3000060 pg-2=replica@0/3000100');
    expect(logs.some(l => l.startsWith('could not remove'))).toBe(false);
    expect(logs.some(l => l.includes('cannot be reached'))).toBe(false);
    expect(await recordNow()).toEqual(stable('pg-1', 5));
    expect(api.requests.filter(r => r.path.includes('/pods/pg-3')).map(r => r.method)).toEqual(['PATCH']);
  });

  test('old primary labels the job may not remove (403): logged, and the switchover goes on', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    revoke('pods', 'patch');
    sidecars();
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(0);
    expect(logs).toContain('could not remove the role label of pg-0 (its sidecar removes it too)');
    expect(await recordNow()).toEqual(stable('pg-1', 5));
  });

  test('a lost primary\'s label the job may not remove (403): logged, and the failover goes on', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    revoke('pods', 'patch');
    sidecars();
    expect(await runJob()).toBe(0);
    expect(logs).toContain('could not remove the role label of pg-0');
    expect(await recordNow()).toEqual(stable('pg-2', 8));
  });

  test('a target that never takes over: given back (stable, the old primary, epoch + 2); exit 1 once the old primary is labeled again', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({ takeOver: false });
    const started = performance.now();
    // Once the checkpoint is recorded, the fence timeout no longer counts: the switchover's does.
    expect(await runJob({ FAILOVER_TARGET: 'pg-1', FENCE_TIMEOUT_SECONDS: '0.3', SWITCHOVER_TIMEOUT_SECONDS: '0.6' })).toBe(1);
    expect(logs.slice(-2)).toEqual([
      'the leader record names pg-0 again (epoch 6, stable, primary pg-0, timeline 1)',
      `REFUSED: switchover to pg-1: it had not received the old primary's shutdown checkpoint ${CHECKPOINT} after 0.6s; promoting it would lose commits; `
        + 'pg-0 is the primary again, nothing was lost',
    ]);
    expect(await recordNow()).toEqual(stable('pg-0', 6));
    expect(roles()).toEqual({ 'pg-0': 'primary', 'pg-1': 'replica', 'pg-2': 'replica' });
    // It waited the switchover timeout from the checkpoint on.
    const checkpointed = trace.find(e => e.what === 'sidecar pg-0 checkpoint')!.at;
    const gaveBack = trace.find(e => e.what.startsWith('log the leader record names pg-0 again'))!.at;
    expect(gaveBack - checkpointed).toBeGreaterThanOrEqual(550);
    expect(gaveBack - started).toBeLessThan(TIMEOUTS.fenceSeconds * 1000 + 3000);
    expect(execs()).toEqual([]);
  });

  test('an old primary that never records its checkpoint: given back after the fence timeout', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({ checkpoint: false });
    const started = performance.now();
    expect(await runJob({ FAILOVER_TARGET: 'pg-1', FENCE_TIMEOUT_SECONDS: '0.4', SWITCHOVER_TIMEOUT_SECONDS: '5' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: pg-0 did not record a shutdown checkpoint within 0.4s (it may be cut off from the API, or not shut down cleanly); '
      + 'pg-0 is the primary again, nothing was lost');
    expect(await recordNow()).toEqual(stable('pg-0', 6));
    const gaveBack = trace.find(e => e.what.startsWith('log the leader record names pg-0 again'))!.at;
    expect(gaveBack - started).toBeGreaterThanOrEqual(380);
    expect(gaveBack - started).toBeLessThan(4000);
  });

  test('given back, and the old primary is not labeled primary again within the fence timeout: refused, not serving yet', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({ checkpoint: false, label: false });
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: pg-0 did not record a shutdown checkpoint within 0.5s (it may be cut off from the API, or not shut down cleanly); '
      + 'the leader record names pg-0 again, which is not serving yet: its sidecar and entrypoint make it the primary');
    expect(await recordNow()).toEqual(stable('pg-0', 6));
    expect(roles()['pg-0']).toBeUndefined();
    // Its label asked for every 100 ms, for the fence timeout.
    const asked = api.requests.filter(r => r.method === 'GET' && r.path.endsWith('/pods/pg-0')).length;
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(asked).toBeLessThanOrEqual(8);
  });

  test('the target records itself just as the job gives back: the give-back conflicts, the switchover stands, exit 0', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({ takeOver: false });
    // The target's write lands at the API just before the job's give-back does.
    const leases = (api as unknown as { stores: Map<ResourceType, ObjectStore> }).stores.get(LEASES)!;
    api.requests.push = function push(this: typeof api.requests, ...items) {
      for (const item of items) {
        if (item.method === 'PATCH' && item.body.includes('"postgres.cdk8s.io/primary":"pg-0"') && item.path.includes('/leases/')) {
          const current = leases.get(NAMESPACE, LEASE);
          const decoded = decodeRecord(current);
          if (decoded.ok && decoded.record.state === 'switching-over') {
            leases.patch(NAMESPACE, LEASE, encodeRecordPatch(takeOverSwitchover(decoded.record, []), decoded.resourceVersion));
            note('sidecar pg-1 takes over');
          }
        }
      }
      return pushRequest.apply(this, items);
    };
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(0);
    expect(logs).toContain('pg-1 recorded itself as the primary just now: the switchover stands');
    expect(logs.some(l => l.startsWith('the leader record names pg-0 again'))).toBe(false);
    expect(lastLog()).toMatch(/^done: pg-1 is the primary; /);
    expect(await recordNow()).toEqual(stable('pg-1', 5));
  });

  test('the give-back conflicts with a write that is not the target\'s: refused, the record changed', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({ takeOver: false });
    const leases = (api as unknown as { stores: Map<ResourceType, ObjectStore> }).stores.get(LEASES)!;
    api.requests.push = function push(this: typeof api.requests, ...items) {
      for (const item of items) {
        if (item.method === 'PATCH' && item.body.includes('"postgres.cdk8s.io/primary":"pg-0"') && item.path.includes('/leases/')) {
          const decoded = decodeRecord(leases.get(NAMESPACE, LEASE));
          if (decoded.ok && decoded.record.state === 'switching-over') {
            leases.patch(NAMESPACE, LEASE, encodeRecordPatch(giveBack(decoded.record), decoded.resourceVersion));
          }
        }
      }
      return pushRequest.apply(this, items);
    };
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: the leader record changed while this job worked (epoch 6, stable, primary pg-0, timeline 1): someone else acted; '
      + 'run the job again to decide anew');
  });

  test('the give-back meets a deleted record: refused, the record changed (no record)', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({ takeOver: false });
    const leases = (api as unknown as { stores: Map<ResourceType, ObjectStore> }).stores.get(LEASES)!;
    api.requests.push = function push(this: typeof api.requests, ...items) {
      for (const item of items) {
        if (item.method === 'PATCH' && item.body.includes('"postgres.cdk8s.io/primary":"pg-0"') && item.path.includes('/leases/')) leases.delete(NAMESPACE, LEASE);
      }
      return pushRequest.apply(this, items);
    };
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: the leader record changed while this job worked (no leader record): someone else acted; run the job again to decide anew');
  });

  test('the old primary gives the switchover back (its target does not stream from it): refused with why, once it serves again', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({ first: rewritesSwitchover(record => giveBack(record)) });
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: switchover to pg-1: pg-0 gave it back (epoch 6, stable, primary pg-0, timeline 1), as it does when pg-1 does not stream '
      + 'from it (pg-1 could not have received its last WAL); run the job again once pg-1 streams; pg-0 is the primary again, nothing was lost');
    expect(await recordNow()).toEqual(stable('pg-0', 6));
    expect(roles()['pg-0']).toBe('primary');
  });

  test('the record changed by someone else during the switchover (another primary, a later epoch): refused, the other\'s record stands', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({ first: rewritesSwitchover(record => ({ ...giveBack(record), primary: 'pg-2' })) });
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: the leader record changed while this job worked (epoch 6, stable, primary pg-2, timeline 1): someone else acted; '
      + 'run the job again to decide anew');
    expect(await recordNow()).toEqual(stable('pg-2', 6));
  });

  test('the old primary named again two epochs on (not its give-back of this switchover): refused, the record changed', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({ first: rewritesSwitchover(record => ({ ...giveBack(record), epoch: record.epoch + 2 })) });
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: the leader record changed while this job worked (epoch 7, stable, primary pg-0, timeline 1): someone else acted; '
      + 'run the job again to decide anew');
  });

  test('another job\'s switchover record replacing this job\'s: refused at once', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({
      first: async (record, resourceVersion) => {
        if (record.state === 'switching-over' && record.job === JOB_POD) {
          await admin.patchLease(LEASE, encodeRecordPatch({ ...record, job: OTHER_JOB, epoch: record.epoch + 1 }, resourceVersion));
        }
        return true;
      },
    });
    const started = performance.now();
    expect(await runJob({ FAILOVER_TARGET: 'pg-1', FENCE_TIMEOUT_SECONDS: '5' })).toBe(1);
    expect(lastLog()).toBe(`REFUSED: the leader record changed while this job worked (epoch 6, switching-over, primary (none), timeline 1 (job ${OTHER_JOB}: `
      + 'pg-0 -> pg-1)): someone else acted; run the job again to decide anew');
    expect(performance.now() - started).toBeLessThan(4000);
  });

  test('a give-back the job may not write (403): refused, cannot update the record', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({
      first: async record => {
        if (record.state === 'switching-over') revoke('leases', 'patch');
        return true;
      },
    });
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(1);
    expect(lastLog()).toMatch(new RegExp(`^REFUSED: cannot update the leader record: PATCH leases/${LEASE}: 403 Forbidden: `));
    expect((await recordNow()).state).toBe('switching-over');
  });

  test('the record deleted during the switchover: refused', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    sidecars({
      first: async record => {
        if (record.state === 'switching-over') await deleteLease();
        return true;
      },
    });
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: the leader record was deleted while this job worked');
  });

  test('a primary that stays primary after the switchover is fenced through its sidecar', async () => {
    const [old] = cluster();
    // It follows the new primary once fenced.
    old.follows = 'never';
    old.script = (container, command) => {
      if (container === 'agent' && command[2] === 'fence') setTimeout(() => old.follow(), 50);
      return undefined;
    };
    await createRecord(stable('pg-0', 4));
    // The old primary records its checkpoint but PostgreSQL keeps running as a primary.
    sidecars({
      first: async (record, resourceVersion) => {
        if (record.state !== 'switching-over' || record.checkpoint !== undefined) return false;
        await admin.patchLease(LEASE, encodeRecordPatch(recordCheckpoint(record, CHECKPOINT), resourceVersion));
        return true;
      },
    });
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(0);
    expect(logs).toContain('pg-0 is a primary too: fencing it');
    expect(logs).toContain('fencing pg-0: removing its role label, then restarting it as a replica');
    expect(logs).toContain(`pg-0 is fenced (now down, shutdown checkpoint ${CHECKPOINT})`);
    expect(old.commands).toContainEqual(['node', AGENT, 'fence', AGENT_CONFIG]);
    expect(await recordNow()).toEqual(stable('pg-1', 5));
  });
});

describe('SCALE_DOWN_TO', () => {
  test('a primary on an ordinal that goes away is switched over to the most advanced replica that stays', async () => {
    const [first, second] = cluster('pg-2');
    first.lsn = '0/3000050';
    second.lsn = '0/3000058';
    await createRecord(stable('pg-2', 4));
    sidecars();
    expect(await runJob({ SCALE_DOWN_TO: '2' })).toBe(0);
    expect(logs).toContain('the primary pg-2 goes away when scaling to 2 pods: switching over to pg-1');
    // Every pod asked to choose the target, then the two again: not the API's view.
    expect(logs.some(l => l.startsWith('the API shows'))).toBe(false);
    expect(execsBefore('sidecar pg-2 checkpoint').sort())
      .toEqual(['pg-0 postgres status', 'pg-1 postgres status', 'pg-1 postgres status', 'pg-2 postgres status', 'pg-2 postgres status']);
    expect(await recordNow()).toEqual(stable('pg-1', 5));
    expect(roles()).toEqual({ 'pg-0': 'replica', 'pg-1': 'primary', 'pg-2': undefined });
  });

  test('a FAILOVER_TARGET that goes away: refused, naming the pods that stay', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    expect(await runJob({ SCALE_DOWN_TO: '2', FAILOVER_TARGET: 'pg-2' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: FAILOVER_TARGET pg-2 goes away when scaling to 2 pods; choose one of: pg-0 pg-1');
    expect(execs()).toEqual([]);
    expect(await recordNow()).toEqual(stable('pg-0', 4));
  });

  test('a FAILOVER_TARGET that stays: the switchover to it', async () => {
    cluster('pg-2');
    await createRecord(stable('pg-2', 4));
    sidecars();
    expect(await runJob({ SCALE_DOWN_TO: '2', FAILOVER_TARGET: 'pg-1' })).toBe(0);
    expect(await recordNow()).toEqual(stable('pg-1', 5));
  });

  test('a primary that stays: nothing to do', async () => {
    cluster();
    await createRecord(stable('pg-0', 4));
    expect(await runJob({ SCALE_DOWN_TO: '2' })).toBe(0);
    expect(logs).toContain('the primary pg-0 stays when scaling to 2 pods');
    expect(await recordNow()).toEqual(stable('pg-0', 4));
    expect(execs().sort()).toEqual(['pg-0 postgres status', 'pg-1 postgres status', 'pg-2 postgres status']);
  });

  test('a dead job\'s failover with SCALE_DOWN_TO: the most advanced replica that stays is promoted, not the one that goes', async () => {
    const [first, second, old, last] = cluster('pg-2', 4);
    lose(old);
    orphan([first, '0/3000100'], [second, '0/3000200'], [last, '0/3000300']);
    await createRecord(failingOver('pg-2', undefined, 6, OTHER_JOB));
    sidecars();
    expect(await runJob({ SCALE_DOWN_TO: '3' })).toBe(0);
    expect(logs.some(l => l.includes('when scaling'))).toBe(false);
    expect(logs[1]).toBe('cluster: pg-0=replica@0/3000100 pg-1=replica@0/3000200 pg-2=down@0/0 pg-3=replica@0/3000300');
    expect(await recordNow()).toEqual(stable('pg-1', 7));
  });

  test('a primary that goes away with no healthy replica that stays: refused', async () => {
    const [first, second] = cluster('pg-2');
    first.answers = false;
    second.answers = false;
    await createRecord(stable('pg-2', 4));
    expect(await runJob({ SCALE_DOWN_TO: '2' })).toBe(1);
    expect(lastLog()).toBe('REFUSED: the primary pg-2 goes away when scaling to 2 pods, and no healthy replica stays to take over '
      + '(pg-0=unreachable@0/0 pg-1=unreachable@0/0 pg-2=primary@0/3000060)');
    expect(await recordNow()).toEqual(stable('pg-2', 4));
  });
});

describe('an unplanned failover', () => {
  test('the old primary back as a replica, asked for by FAILOVER_TARGET: promoted again, its label left to its sidecar', async () => {
    const [old, replica, other] = cluster();
    Object.assign(old, { role: 'replica', receiver: 'none', lsn: '0/3000100' });
    old.labels.role = 'replica';
    orphan([replica, '0/3000200'], [other, '0/3000050']);
    await createRecord(stable('pg-0', 7));
    sidecars({ from: 'log took the leader record' });
    expect(await runJob({ FAILOVER_TARGET: 'pg-0' })).toBe(0);
    expect(logs).toContain('WARNING: pg-1 has more WAL than pg-0; what only pg-1 has is lost, and pg-1 is rewound when it restarts');
    expect(await recordNow()).toEqual(stable('pg-0', 8));
    expect(trace.some(e => e.what === 'labels pg-0 -')).toBe(false);
  });

  test('the primary down: the most advanced replica named, the record stable with it (epoch + 1, no sync set), exit 0 once it serves', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    sidecars();
    expect(await runJob()).toBe(0);
    expect(logs).toEqual([
      'leader record: epoch 7, stable, primary pg-0, timeline 1',
      'cluster: pg-0=down@0/0 pg-1=replica@0/3000100 pg-2=replica@0/3000200',
      `took the leader record: epoch 8, failing-over, primary (none), timeline 1 (job ${JOB_POD}: pg-0 -> ?)`,
      'promoting pg-2 (WAL 0/3000200): the leader record names it, and its sidecar promotes it',
      'pg-2 is the primary in the leader record (epoch 8, stable, primary pg-2, timeline 1)',
      'pg-2 serves as the primary',
      'done: pg-2 is the primary; cluster: pg-0=down@0/0 pg-1=replica@0/3000100 pg-2=primary@0/3000100',
    ]);
    expect(await recordNow()).toEqual(stable('pg-2', 8));
    expect(roles()).toEqual({ 'pg-0': undefined, 'pg-1': 'replica', 'pg-2': 'primary' });
    // The lost primary's label went before the new one was labeled.
    expect(trace.findIndex(e => e.what === 'labels pg-0 -')).toBeGreaterThanOrEqual(0);
    expect(trace.findIndex(e => e.what === 'labels pg-0 -')).toBeLessThan(trace.findIndex(e => e.what === 'sidecar pg-2 labeled primary'));
    expect(replica.timeline).toBe(2);
    expect(execs().filter(e => !e.endsWith('status'))).toEqual([]);
    // Three writes of the record, each on the version the one before left: taken, the target named, the target the primary.
    expect(api.requests.filter(r => r.method === 'PATCH' && r.path.includes('/leases/')).length).toBe(3);
    // Each pod asked for the choice, then again after the promotion.
    expect(count(execsBefore('sidecar pg-2 labeled primary'), 'pg-0 postgres status')).toBe(1);
  });

  test('synchronous mode: the record\'s sync set becomes the other pods, sorted', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7, { sync: ['pg-2', 'pg-1'] }));
    sidecars();
    expect(await runJob({}, { synchronousReplicas: 1 })).toBe(0);
    expect(await recordNow()).toEqual(stable('pg-2', 8, { sync: ['pg-0', 'pg-1'] }));
  });

  test('synchronous mode with too few recorded standbys answering (fewer than n - k + 1): given back, exit 1', async () => {
    const [old, replica, other] = cluster();
    lose(old);
    orphan([replica, '0/3000100']);
    other.answers = false;
    await createRecord(stable('pg-0', 7, { sync: ['pg-1', 'pg-2'] }));
    expect(await runJob({}, { synchronousReplicas: 1 })).toBe(1);
    expect(lastLog()).toBe('REFUSED: synchronous mode: 1 of the 2 recorded synchronous standbys (pg-1,pg-2) answer; 2 are needed to be sure of every '
      + 'acknowledged commit. no replica may be promoted without losing acknowledged commits (pg-0=down@0/0 pg-1=replica@0/3000100 '
      + 'pg-2=unreachable@0/0). Bring back the missing pods and run the job again, or set FAILOVER_ACCEPT_DATA_LOSS=true to promote the most '
      + 'advanced replica anyway; the leader record names pg-0 again, nothing was changed');
    expect(await recordNow()).toEqual(stable('pg-0', 9, { sync: ['pg-1', 'pg-2'] }));
    expect(roles()['pg-1']).toBe('replica');
  });

  test('FAILOVER_ACCEPT_DATA_LOSS=true lifts the synchronous rule: the answering replica is promoted', async () => {
    const [old, replica, other] = cluster();
    lose(old);
    orphan([replica, '0/3000100']);
    other.answers = false;
    await createRecord(stable('pg-0', 7, { sync: ['pg-1', 'pg-2'] }));
    sidecars();
    expect(await runJob({ FAILOVER_ACCEPT_DATA_LOSS: 'true' }, { synchronousReplicas: 1 })).toBe(0);
    expect(await recordNow()).toEqual(stable('pg-1', 8, { sync: ['pg-0', 'pg-2'] }));
  });

  test('a FAILOVER_TARGET behind another replica: promoted with a warning that the other\'s WAL is lost', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    sidecars();
    expect(await runJob({ FAILOVER_TARGET: 'pg-1' })).toBe(0);
    expect(logs).toContain('WARNING: pg-2 has more WAL than pg-1; what only pg-2 has is lost, and pg-2 is rewound when it restarts');
    // The old primary answered as down: every pod asked before the record was taken.
    expect(logs[1]).toBe('cluster: pg-0=down@0/0 pg-1=replica@0/3000100 pg-2=replica@0/3000200');
    expect(logs[2]).toBe(`took the leader record: epoch 8, failing-over, primary (none), timeline 1 (job ${JOB_POD}: pg-0 -> pg-1)`);
    expect(await recordNow()).toEqual(stable('pg-1', 8));
  });

  test('the primary unreachable (exec fails, its container runs): the job waits 2 x isolationFenceSeconds, then asks again', async () => {
    const [old, replica, best] = cluster();
    old.answers = false;
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    sidecars();
    expect(await runJob()).toBe(0);
    const waiting = 'pg-0 cannot be reached and may still be running: waiting 0.2s, by when a primary that cannot read the leader record has fenced '
      + 'itself and one that can has seen that it is no longer named';
    expect(logs).toContain(waiting);
    expect(logs[1]).toBe('cluster: pg-0=unreachable@0/0 pg-1=replica@0/3000100 pg-2=replica@0/3000200');
    const said = trace.findIndex(e => e.what === `log ${waiting}`);
    const next = trace.slice(said).find(e => e.what.startsWith('exec '))!;
    expect(next.at - trace[said].at).toBeGreaterThanOrEqual(190);
    expect(count(execsBefore('sidecar pg-2 labeled primary'), 'pg-0 postgres status')).toBe(2);
    expect(await recordNow()).toEqual(stable('pg-2', 8));
    expect(old.labels.role).toBeUndefined();
  });

  test('a pod that is still a primary is fenced through its sidecar before a replica is chosen', async () => {
    const [old, rogue, replica] = cluster();
    lose(old);
    Object.assign(rogue, { role: 'primary', receiver: 'none', lsn: '0/3000300' });
    rogue.labels.role = 'primary';
    orphan([replica, '0/3000200']);
    // Fenced, it restarts as a replica and streams a little after the new primary serves.
    rogue.follows = 'never';
    await createRecord(stable('pg-0', 7));
    sidecars({ labeled: () => setTimeout(() => rogue.follow(), 300) });
    expect(await runJob({ FOLLOW_TIMEOUT_SECONDS: '3' })).toBe(0);
    expect(lastLog()).toBe('done: pg-2 is the primary; cluster: pg-0=down@0/0 pg-1=replica@0/3000100 pg-2=primary@0/3000100');
    expect(logs).toContain('fencing pg-1: removing its role label, then restarting it as a replica');
    expect(logs).toContain(`pg-1 is fenced (now down, shutdown checkpoint ${CHECKPOINT})`);
    expect(rogue.commands).toContainEqual(['node', AGENT, 'fence', AGENT_CONFIG]);
    // The fence's last line said it: no status asked after it.
    expect(execsBefore('sidecar pg-2 labeled primary').filter(e => !e.endsWith('postgres status'))).toEqual(['pg-1 agent fence']);
    expect(await recordNow()).toEqual(stable('pg-2', 8));
    // The fence took its label away; its sidecar labels it replica again once it streams.
    expect(roles()).toEqual({ 'pg-0': undefined, 'pg-1': undefined, 'pg-2': 'primary' });
    expect(rogue.role).toBe('replica');
  });

  test('a fence that completes only later: the job asks the sidecar\'s status until it says fenced', async () => {
    const [old, rogue, replica] = cluster();
    lose(old);
    Object.assign(rogue, { role: 'starting', receiver: 'none' });
    orphan([replica, '0/3000200']);
    let statuses = 0;
    rogue.script = (container, command) => {
      if (container !== 'agent') return undefined;
      // A fence that fails: what it printed is not taken for the pod's state.
      if (command[2] === 'fence') {
        rogue.answers = false;
        return { code: 1, stdout: 'down 0/0 none 1 0/3000999\n', stderr: 'still stopping\n' };
      }
      if (++statuses < 3) return { code: 0, stdout: 'starting 0/3000300 none 1 -\n', stderr: '' };
      Object.assign(rogue, { role: 'down', receiver: 'none', checkpoint: '0/3000400', lsn: '0/0' });
      return undefined;
    };
    await createRecord(stable('pg-0', 7));
    sidecars();
    expect(await runJob({ FENCE_TIMEOUT_SECONDS: '3' })).toBe(0);
    expect(logs).toContain('pg-1 is fenced (now down, shutdown checkpoint 0/3000400)');
    expect(count(execs(), 'pg-1 agent status')).toBe(3);
    expect(await recordNow()).toEqual(stable('pg-2', 8));
  });

  test('a fence that never completes: refused, the pod is still a primary (the record stays failing-over)', async () => {
    const [old, rogue, replica] = cluster();
    lose(old);
    Object.assign(rogue, { role: 'primary', receiver: 'none', fences: false });
    orphan([replica, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    const started = performance.now();
    expect(await runJob()).toBe(1);
    expect(lastLog()).toBe('REFUSED: pg-1 is still a primary 0.5s after fencing');
    expect(performance.now() - started).toBeGreaterThanOrEqual(480);
    expect(count(execs(), 'pg-1 agent fence')).toBe(1);
    expect(count(execs(), 'pg-1 agent status')).toBeGreaterThanOrEqual(2);
    // Asked every 100 ms for the fence timeout.
    expect(count(execs(), 'pg-1 agent status')).toBeLessThanOrEqual(8);
    expect(await recordNow()).toEqual(failingOver('pg-0', undefined, 8, JOB_POD));
  });

  test('no healthy replica: the record given back to the old primary (epoch + 2), exit 1', async () => {
    const [old, replica, other] = cluster();
    lose(old);
    lose(replica);
    other.answers = false;
    await createRecord(stable('pg-0', 7));
    expect(await runJob()).toBe(1);
    expect(lastLog()).toBe('REFUSED: no healthy replica to promote (pg-0=down@0/0 pg-1=down@0/0 pg-2=unreachable@0/0); '
      + 'the leader record names pg-0 again, nothing was changed');
    expect(await recordNow()).toEqual(stable('pg-0', 9));
    expect(roles()).toEqual({ 'pg-0': 'primary', 'pg-1': 'replica', 'pg-2': 'replica' });
  });

  test('replicas that still stream stop once their WAL receivers are ended: then the most advanced is promoted', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    replica.lsn = '0/3000100';
    best.lsn = '0/3000200';
    for (const p of [replica, best]) {
      p.script = (_container, command) => {
        if (command[2] === 'reconnect') p.receiver = 'none';
        return undefined;
      };
    }
    await createRecord(stable('pg-0', 7));
    sidecars();
    expect(await runJob()).toBe(0);
    expect(logs).toContain('replicas still receive after 0.3s (pg-1 pg-2): ending their WAL receivers');
    expect(logs.some(l => l.startsWith('could not end'))).toBe(false);
    expect(execs().filter(e => e.endsWith('reconnect')).sort()).toEqual(['pg-1 postgres reconnect', 'pg-2 postgres reconnect']);
    expect(await recordNow()).toEqual(stable('pg-2', 8));
  });

  test('replicas whose receivers let go by themselves during the settle time: no reconnect', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    replica.lsn = '0/3000100';
    best.lsn = '0/3000200';
    let asked = 0;
    best.script = (_container, command) => {
      // Its receiver lets go after writing what was on its way: the position moves once more, then stays.
      if (command[2] === 'status' && ++asked === 2) Object.assign(best, { receiver: 'none', lsn: '0/3000280' });
      return undefined;
    };
    replica.receiver = 'none';
    await createRecord(stable('pg-0', 7));
    sidecars();
    expect(await runJob({ SETTLE_SECONDS: '3' })).toBe(0);
    expect(execs().filter(e => e.endsWith('reconnect'))).toEqual([]);
    expect(logs).toContain('promoting pg-2 (WAL 0/3000280): the leader record names it, and its sidecar promotes it');
    // Asked until two rounds agree: the first survey, the round where it moved, the round where it stayed.
    expect(count(execsBefore('sidecar pg-2 labeled primary'), 'pg-2 postgres status')).toBe(3);
    expect(await recordNow()).toEqual(stable('pg-2', 8));
  });

  test('replicas that stream again after their receivers were ended: refused, the record given back', async () => {
    const [old, replica] = cluster();
    lose(old);
    replica.lsn = '0/3000100';
    replica.script = (_container, command) => (command[2] === 'reconnect' ? { code: 1, stdout: '', stderr: 'no receiver\n' } : undefined);
    await createRecord(stable('pg-0', 7));
    expect(await runJob()).toBe(1);
    expect(logs).toContain('could not end the WAL receiver of pg-1');
    expect(lastLog()).toBe('REFUSED: replicas stream again after their WAL receivers were ended (pg-1 pg-2): a primary still serves behind the '
      + 'write Service, most likely pg-0, alive and not fenced; promoting now would make two primaries. Find out why it did not fence itself '
      + '(its sidecar and heartbeat fence), stop it, and run the job again; the leader record names pg-0 again, nothing was changed');
    expect(await recordNow()).toEqual(stable('pg-0', 9));
  });

  test('a target named in the record that never labels itself primary: exit 3 UNFINISHED, the record names it', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    sidecars({ label: false });
    expect(await runJob()).toBe(3);
    expect(lastLog()).toBe('UNFINISHED: pg-2 is the primary in the leader record but does not serve as one 0.5s later: its sidecar promotes it when '
      + 'it can (kubectl logs pg-2 -c agent says why not yet), and no other pod may be a primary meanwhile, so writes wait for it. If it cannot '
      + 'start, run the job again with FAILOVER_TARGET set to a healthy replica');
    expect(await recordNow()).toEqual(stable('pg-2', 8));
    expect(roles()).toEqual({ 'pg-0': undefined, 'pg-1': 'replica', 'pg-2': 'replica' });
  });

  test('a target deleted while the job waits for it to serve (its GET answers 404): exit 3 UNFINISHED, as for one that does not label itself', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    sidecars({
      label: false,
      first: async record => {
        if (record.state === 'stable' && record.primary === 'pg-2' && pods.includes(best)) {
          pods = pods.filter(other => other !== best);
          note('pg-2 deleted');
        }
        return false;
      },
    });
    expect(await runJob()).toBe(3);
    expect(trace.some(e => e.what === 'pg-2 deleted')).toBe(true);
    expect(lastLog()).toMatch(/^UNFINISHED: pg-2 is the primary in the leader record but does not serve as one 0\.5s later/);
    expect(await recordNow()).toEqual(stable('pg-2', 8));
  });

  test('the record changed by someone else while the job asked the pods: its first write conflicts (409), refused', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    best.script = async () => {
      await writeAsOther(record => recordTimeline(record as StableRecord, 2));
      return undefined;
    };
    await createRecord(stable('pg-0', 7));
    expect(await runJob()).toBe(1);
    expect(lastLog()).toBe('REFUSED: the leader record changed while this job worked (epoch 7, stable, primary pg-0, timeline 2): someone else acted; '
      + 'run the job again to decide anew');
    expect(await recordNow()).toEqual(stable('pg-0', 7, { timeline: 2 }));
    expect(roles()['pg-0']).toBe('primary');
  });

  test('the record deleted while the job asked the pods: its first write fails (404), refused', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    best.script = async () => {
      await deleteLease();
      return undefined;
    };
    await createRecord(stable('pg-0', 7));
    expect(await runJob()).toBe(1);
    expect(lastLog()).toBe('REFUSED: the leader record changed while this job worked (no leader record): someone else acted; run the job again to decide anew');
  });

  test('a conflict with a change that leaves the record as read (a lease renewal): written again on the new version', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    let renewed = false;
    best.script = async () => {
      if (!renewed) {
        renewed = true;
        const { resourceVersion } = await stored();
        const written = await admin.patchLease(LEASE, { metadata: { resourceVersion }, spec: { renewTime: '2026-12-06T00:00:00.000000Z' } });
        expect(written.ok).toBe(true);
      }
      return undefined;
    };
    await createRecord(stable('pg-0', 7));
    sidecars();
    expect(await runJob()).toBe(0);
    expect(await recordNow()).toEqual(stable('pg-2', 8));
    expect(api.lease(LEASE)!.spec.renewTime).toBe('2026-12-06T00:00:00.000000Z');
  });

  /** Every PATCH of the Lease by the job meets a write that lands first: a renewal, and `also`. */
  function renewBeforeEachWrite(also: () => void = () => undefined): () => number {
    const leases = (api as unknown as { stores: Map<ResourceType, ObjectStore> }).stores.get(LEASES)!;
    let patches = 0;
    api.requests.push = function push(this: typeof api.requests, ...items) {
      for (const item of items) {
        if (item.method === 'PATCH' && item.path.includes('/leases/') && item.body.includes('/state":"failing-over"')) {
          patches++;
          leases.patch(NAMESPACE, LEASE, { spec: { renewTime: `2026-12-06T00:00:0${patches}.000000Z` } });
          also();
        }
      }
      return pushRequest.apply(this, items);
    };
    return () => patches;
  }

  test('a conflict again and again with renewals: the job tries 5 times, then refuses', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    const patches = renewBeforeEachWrite();
    expect(await runJob()).toBe(1);
    expect(patches()).toBe(5);
    expect(lastLog()).toBe('REFUSED: the leader record changed while this job worked (epoch 7, stable, primary pg-0, timeline 1): someone else acted; '
      + 'run the job again to decide anew');
    expect(await recordNow()).toEqual(stable('pg-0', 7));
  });

  test('a conflict, then the record gone when read again: refused, the record changed (no record)', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    const leases = (api as unknown as { stores: Map<ResourceType, ObjectStore> }).stores.get(LEASES)!;
    let conflicted = false;
    api.requests.push = function push(this: typeof api.requests, ...items) {
      for (const item of items) {
        if (!item.path.includes(`/leases/${LEASE}`)) continue;
        if (item.method === 'PATCH' && !conflicted) {
          conflicted = true;
          leases.patch(NAMESPACE, LEASE, { spec: { renewTime: '2026-12-06T00:00:01.000000Z' } });
        } else if (item.method === 'GET' && conflicted && leases.find(NAMESPACE, LEASE) !== undefined) {
          leases.delete(NAMESPACE, LEASE);
        }
      }
      return pushRequest.apply(this, items);
    };
    expect(await runJob()).toBe(1);
    expect(lastLog()).toBe('REFUSED: the leader record changed while this job worked (no leader record): someone else acted; run the job again to decide anew');
  });

  test('a conflict after which the record cannot be read: refused, cannot update the record', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    const patches = renewBeforeEachWrite(() => revoke('leases', 'get'));
    expect(await runJob()).toBe(1);
    expect(patches()).toBe(1);
    expect(lastLog()).toMatch(new RegExp(`^REFUSED: cannot update the leader record: GET leases/${LEASE}: 403 Forbidden: `));
  });

  test('a pod that failed (exec refused, 400) is down; one deleted while asked (404) is unreachable; neither is promoted', async () => {
    const [old, gone, replica] = cluster();
    lose(old);
    old.phase = 'Failed';
    orphan([gone, '0/3000900'], [replica, '0/3000200']);
    gone.script = () => {
      pods = pods.filter(p => p !== gone);
      return { code: 1, stdout: '', stderr: 'error: pod not found\n' };
    };
    await createRecord(stable('pg-0', 7));
    sidecars();
    expect(await runJob()).toBe(0);
    expect(logs[1]).toBe('cluster: pg-0=down@0/0 pg-1=unreachable@0/0 pg-2=replica@0/3000200');
    expect(execs().some(e => e.startsWith('pg-0 '))).toBe(false);
    expect(await recordNow()).toEqual(stable('pg-2', 8));
  });

  test('a record the job may not write (403): refused, the API\'s answer given', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    revoke('leases', 'patch');
    await createRecord(stable('pg-0', 7));
    expect(await runJob()).toBe(1);
    expect(lastLog()).toMatch(new RegExp(`^REFUSED: cannot update the leader record: PATCH leases/${LEASE}: 403 Forbidden: `));
    expect(await recordNow()).toEqual(stable('pg-0', 7));
  });
});

describe('the replicas follow the new primary', () => {
  test('a replica that does not stream until restarted: restarted (its entrypoint rewinds it), then exit 0', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    replica.follows = 'after-restart';
    await createRecord(stable('pg-0', 7));
    // It is on the new timeline, but its WAL receiver does not stream.
    sidecars({ labeled: () => (replica.timeline = 2) });
    expect(await runJob()).toBe(0);
    expect(logs).toContain('pg-1 does not stream timeline 2 from pg-2: restarting it so that its entrypoint rewinds it');
    expect(execs().filter(e => !e.endsWith('status'))).toEqual(['pg-1 postgres restart']);
    expect(lastLog()).toBe('done: pg-2 is the primary; cluster: pg-0=down@0/0 pg-1=replica@0/3000100 pg-2=primary@0/3000100');
  });

  test('a replica that never follows: restarted, then exit 3 UNFINISHED after 3 x followSeconds', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    replica.follows = 'never';
    // It streams, but the old timeline; restarted, it does not come back.
    replica.script = (_container, command) => {
      if (command[2] === 'restart') replica.role = 'down';
      return undefined;
    };
    await createRecord(stable('pg-0', 7));
    sidecars({ labeled: () => (replica.receiver = 'streaming') });
    const started = performance.now();
    expect(await runJob({ FOLLOW_TIMEOUT_SECONDS: '0.5' })).toBe(3);
    const restarted = trace.find(e => e.what === 'exec pg-1 postgres restart')!.at;
    expect(performance.now() - started).toBeGreaterThanOrEqual(1500);
    // Twice the follow timeout after the restart (polled every second), not longer.
    expect(performance.now() - restarted).toBeGreaterThanOrEqual(950);
    expect(performance.now() - restarted).toBeLessThan(3000);
    expect(logs).toContain('pg-1 does not stream timeline 2 from pg-2: restarting it so that its entrypoint rewinds it');
    expect(lastLog()).toBe('UNFINISHED: pg-2 is the primary and takes writes, but pg-1 do not stream from it 1.5s later (pg-0=down@0/0 '
      + 'pg-1=down@0/3000100 pg-2=primary@0/3000100): kubectl logs <pod> -c postgres says what its entrypoint waits for; until they '
      + 'stream, the cluster has fewer replicas (in synchronous mode, writes may wait)');
    expect(execs().filter(e => !e.endsWith('status'))).toEqual(['pg-1 postgres restart']);
    expect(await recordNow()).toEqual(stable('pg-2', 8));
  });

  test('two replicas that never follow: both restarted, and the UNFINISHED line names both', async () => {
    const [old, first, second, best] = cluster('pg-0', 4);
    lose(old);
    orphan([first, '0/3000100'], [second, '0/3000100'], [best, '0/3000200']);
    for (const replica of [first, second]) {
      replica.follows = 'never';
      replica.script = (_container, command) => {
        if (command[2] === 'restart') replica.role = 'down';
        return undefined;
      };
    }
    await createRecord(stable('pg-0', 7));
    sidecars({ labeled: () => { first.receiver = 'streaming'; second.receiver = 'streaming'; } });
    expect(await runJob({ FOLLOW_TIMEOUT_SECONDS: '0.5' })).toBe(3);
    expect(execs().filter(e => !e.endsWith('status')).sort()).toEqual(['pg-1 postgres restart', 'pg-2 postgres restart']);
    expect(lastLog()).toMatch(/^UNFINISHED: pg-3 is the primary and takes writes, but pg-1 pg-2 do not stream from it 1\.5s later \(/);
  });

  test('a replica that does not stream for a few seconds is told to reconnect first, then restarted', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    replica.follows = 'after-restart';
    await createRecord(stable('pg-0', 7));
    sidecars();
    expect(await runJob({ FOLLOW_TIMEOUT_SECONDS: '3.2' })).toBe(0);
    expect(logs).toContain('pg-1 does not stream timeline 2 yet (receiver none): reconnecting its WAL receiver');
    expect(execs().filter(e => !e.endsWith('status'))).toEqual(['pg-1 postgres reconnect', 'pg-1 postgres restart']);
    expect(lastLog()).toMatch(/^done: pg-2 is the primary; /);
  }, 20_000);

  test('the job survives a pod list the API refuses while it waits for the followers: it asks the pods listed before', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    sidecars({ labeled: () => revoke('pods', 'list') });
    expect(await runJob()).toBe(0);
    expect(logs.filter(l => l.startsWith('cannot list')).length).toBeGreaterThanOrEqual(1);
    expect(logs.find(l => l.startsWith('cannot list'))).toMatch(
      /^cannot list the pods of the cluster \(GET pods\?labelSelector=app=pg: 403 Forbidden: .*\): asking those listed before$/);
    expect(lastLog()).toBe('done: pg-2 is the primary; cluster: pg-0=down@0/0 pg-1=replica@0/3000100 pg-2=primary@0/3000100');
  });

  test('the job survives a pod list that comes back empty: it asks the pods listed before', async () => {
    const [old, replica, best] = cluster();
    lose(old);
    orphan([replica, '0/3000100'], [best, '0/3000200']);
    await createRecord(stable('pg-0', 7));
    sidecars({
      labeled: () => {
        for (const p of pods) if (p.labels.app === 'pg') p.labels.app = 'pg-relabeled';
      },
    });
    expect(await runJob()).toBe(0);
    expect(logs).toContain('cannot list the pods of the cluster (none listed): asking those listed before');
    expect(lastLog()).toBe('done: pg-2 is the primary; cluster: pg-0=down@0/0 pg-1=replica@0/3000100 pg-2=primary@0/3000100');
  });
});

describe('the status line a pod answers', () => {
  test.each([
    ['fields apart by several blanks', 'replica  0/3000060\tstreaming   1 -', { role: 'replica', lsn: '0/3000060', receiver: 'streaming', timeline: 1, checkpoint: '-' }],
    ['the job\'s own verdict', 'unreachable 0/0 none 0 -', { role: 'unreachable', lsn: '0/0', receiver: 'none', timeline: 0, checkpoint: '-' }],
    ['a timeline of two digits', 'primary 0/3000060 none 12 -', { role: 'primary', lsn: '0/3000060', receiver: 'none', timeline: 12, checkpoint: '-' }],
  ])('%s is read', (_case, line, state) => {
    expect(parseStatusLine(line)).toEqual(state);
  });

  test.each([
    'primary 0/3000060 none x1 -', 'primary 0/3000060 none 1x -', 'primary 0/3000060 none 1 - extra', 'primary 0/3000060 none 1', 'leader 0/3000060 none 1 -', '',
  ])('%j is not a status line', line => {
    expect(parseStatusLine(line)).toBeUndefined();
  });
});

describe('whether a pod\'s status says it is fenced', () => {
  const state = (nodeRole: NodeRole, checkpoint: string) => ({ role: nodeRole, lsn: '0/3000060', receiver: 'none', timeline: 1, checkpoint });
  test.each([
    ['stopped, with its shutdown checkpoint', state('down', CHECKPOINT), true],
    ['back as a replica, with its shutdown checkpoint', state('replica', CHECKPOINT), true],
    ['still a primary', state('primary', CHECKPOINT), false],
    ['starting', state('starting', CHECKPOINT), false],
    ['an empty data directory', state('empty', CHECKPOINT), false],
    ['stopped, its checkpoint unknown ("-")', state('down', '-'), false],
    ['stopped, its checkpoint 0/0', state('down', '0/0'), false],
    ['a replica, its checkpoint 0/0', state('replica', '0/0'), false],
    ['no answer', undefined, false],
  ])('%s: %s', (_case, status, fenced) => {
    expect(isFenced(status)).toBe(fenced);
  });
});
