// The agent's API client against the e2e harness's API stand-in (HTTPS, resourceVersions, 409/404/410, watches that
// end), and against scripted servers for the answers the stand-in never gives (not JSON, watch ERROR events, silence).
import { getEventListeners } from 'node:events';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { join } from 'node:path';
import {
  ApiResult, BAD_ANSWER, followLease, inClusterOptions, KubeClient, KubeClientOptions, NO_ANSWER, WatchEnd, WatchEventType,
} from '../../src/agent/kube';
import { encodeRecordLease, encodeRecordPatch, LeaderRecord, LeaseObject } from '../../src/agent/record';
import { ApiPod, ApiStandIn } from '../e2e/harness/api';
import { KubeObject, Manifests } from '../e2e/harness/manifests';
import { ApiTls, makeApiTls } from '../e2e/harness/tls';
import { ListeningStandIn, startApiStandIn } from '../support/api-stand-in';
import { LEASE_AND_PODS, roleFor, runningPod } from '../support/rbac';

const NAMESPACE = 'default';
/** The token of the pods' ServiceAccount, which may do what the Role below allows, and nothing else. */
const POD_TOKEN = 'pod-token';
const TIMEOUT_MS = 400;
/** How late a bounded request may answer on a busy test machine. */
const SLACK_MS = 1500;

/** The pods' Role: the Lease, the pods' labels, no Events. */
const manifests: KubeObject[] = roleFor('pg', LEASE_AND_PODS);

const pod = (name: string, labels: Record<string, string>): ApiPod => runningPod(name, labels);

let dir: string;
let tls: ApiTls;
let api: ApiStandIn;
let adminTokenFile: string;
const pods = [pod('pg-0', { app: 'pg', role: 'primary' }), pod('pg-1', { app: 'pg', role: 'replica' }), pod('other-0', { app: 'other' })];
const labelChanges: string[] = [];
const clients: KubeClient[] = [];
/** The StatefulSet the stand-in serves (none: undefined), and the pods deleted through it. */
let statefulSet: KubeObject | undefined;
const deleted: string[] = [];

let standIn: ListeningStandIn | undefined;

beforeAll(async () => {
  standIn = await startApiStandIn({
    namespace: NAMESPACE,
    manifests: new Manifests(manifests),
    pods: () => pods,
    identityOf: token => (token === POD_TOKEN ? { account: 'pg', pod: 'pg-0' } : undefined),
    onLabelsChange: changed => labelChanges.push(`${changed.name} ${JSON.stringify(changed.labels)}`),
    statefulSetObject: () => statefulSet,
    deletePodByRequest: name => deleted.push(name),
  }, { prefix: 'kube-client-', watchTimeoutMs: 1_500 });
  ({ dir, tls, api } = standIn);
  adminTokenFile = tokenFile('admin', api.adminToken);
});
afterEach(() => {
  for (const made of clients.splice(0)) made.close();
});
afterAll(() => standIn?.close());

function tokenFile(name: string, token: string): string {
  return standIn!.tokenFile(token, name);
}

function client(overrides: Partial<KubeClientOptions> = {}): KubeClient {
  const made = new KubeClient({
    server: api.adminServer, namespace: NAMESPACE, tokenFile: adminTokenFile, caFile: tls.caFile, timeoutMs: TIMEOUT_MS, ...overrides,
  });
  clients.push(made);
  return made;
}

const stable = (primary: string, epoch: number): LeaderRecord => ({ version: 1, state: 'stable', primary, epoch, timeline: 1, systemIdentifier: '7', sync: [] });
let leases = 0;
/** A Lease name no other test uses. */
const freshName = () => `lease-${++leases}`;
const leaseOf = (name: string, record = stable('pg-0', 1)) => encodeRecordLease(name, { app: 'pg' }, record);
const rv = (lease: LeaseObject | undefined) => lease?.metadata?.resourceVersion as string;

/** Creates the Lease through the client; its stored resourceVersion. */
async function created(kube: KubeClient, name: string, record = stable('pg-0', 1)): Promise<string> {
  const result = await kube.createLease(leaseOf(name, record));
  if (!result.ok) throw new Error(result.message);
  return rv(result.value);
}

/** A request with the admin token, for what the client does not do (delete). */
function adminRequest(method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.request(`${api.adminServer}${path}`, { method, ca: tls.ca, headers: { authorization: `Bearer ${api.adminToken}` } }, response => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    request.end();
  });
}
const deleteLease = (name: string) => adminRequest('DELETE', `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${name}`);

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Waits until `check` holds (polling), failing after `ms`. */
async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('the condition never held');
    await sleep(10);
  }
}

describe('Leases', () => {
  test('get of a Lease that does not exist is ok, with no value', async () => {
    expect(await client().getLease('absent')).toEqual({ ok: true, value: undefined });
  });

  test('get of a Lease returns it as the API stores it', async () => {
    const kube = client();
    const name = freshName();
    await created(kube, name);
    expect(await kube.getLease(name)).toEqual({ ok: true, value: api.lease(name) });
  });

  test('create returns the stored Lease; a second create of the same name is 409 AlreadyExists', async () => {
    const kube = client();
    const name = freshName();
    const first = await kube.createLease(leaseOf(name));
    expect(first).toEqual({ ok: true, value: api.lease(name) });
    expect(api.lease(name)!.metadata.annotations['postgres.cdk8s.io/primary']).toBe('pg-0');
    expect(await kube.createLease(leaseOf(name, stable('pg-1', 2)))).toEqual({
      ok: false, status: 409, reason: 'AlreadyExists', message: `POST leases/${name}: 409 AlreadyExists: leases.coordination.k8s.io "${name}" already exists`,
    });
    expect(api.lease(name)!.metadata.annotations['postgres.cdk8s.io/primary']).toBe('pg-0');
  });

  test('create sends the Lease as JSON with the bearer token, to the namespace\'s leases', async () => {
    const kube = client();
    const name = freshName();
    await created(kube, name);
    const request = api.requests.filter(r => r.method === 'POST').pop()!;
    expect(request.path).toBe(`/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`);
    expect(request.contentType).toBe('application/json');
    expect(JSON.parse(request.body)).toEqual(leaseOf(name));
  });

  test('patch at the read resourceVersion writes the record (a merge patch); at a stale one it is 409 Conflict, Status message kept', async () => {
    const kube = client();
    const name = freshName();
    const first = await created(kube, name);
    const patched = await kube.patchLease(name, encodeRecordPatch(stable('pg-1', 2), first));
    expect(patched).toEqual({ ok: true, value: api.lease(name) });
    expect(Number(rv(api.lease(name)))).toBeGreaterThan(Number(first));
    expect(api.lease(name)!.spec).toEqual({ holderIdentity: 'pg-1' });
    const request = api.requests.filter(r => r.method === 'PATCH').pop()!;
    expect([request.path, request.contentType]).toEqual([`/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${name}`, 'application/merge-patch+json']);

    expect(await kube.patchLease(name, encodeRecordPatch(stable('pg-2', 3), first))).toEqual({
      ok: false,
      status: 409,
      reason: 'Conflict',
      message: `PATCH leases/${name}: 409 Conflict: Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": `
        + 'the object has been modified; please apply your changes to the latest version and try again',
    });
    expect(api.lease(name)!.spec).toEqual({ holderIdentity: 'pg-1' });
  });

  test('patch of a Lease deleted since it was read is 404 NotFound', async () => {
    const kube = client();
    const name = freshName();
    const first = await created(kube, name);
    expect(await deleteLease(name)).toBe(200);
    expect(await kube.patchLease(name, encodeRecordPatch(stable('pg-1', 2), first))).toEqual({
      ok: false, status: 404, reason: 'NotFound', message: `PATCH leases/${name}: 404 NotFound: leases.coordination.k8s.io "${name}" not found`,
    });
  });

  test('a request with a token the API does not know is 401 Unauthorized', async () => {
    const kube = client({ tokenFile: tokenFile('wrong', 'not-a-token') });
    expect(await kube.getLease('pg-leader')).toEqual({
      ok: false, status: 401, reason: 'Unauthorized', message: 'GET leases/pg-leader: 401 Unauthorized: Unauthorized',
    });
  });

  test('a request the Role does not allow is 403 Forbidden, the API\'s message kept', async () => {
    const kube = client({ tokenFile: tokenFile('pod', POD_TOKEN) });
    const result = await kube.podEvent('pg-0', 'Normal', 'Promoted', 'pg-0 is the primary', 'pg-agent');
    expect(result).toEqual({
      ok: false,
      status: 403,
      reason: 'Forbidden',
      message: 'POST events (Promoted about pod pg-0): 403 Forbidden: events is forbidden: User "system:serviceaccount:default:pg" '
        + 'cannot create resource "events" in API group "" in the namespace "default"',
    });
    // What the Role allows, the same token may do.
    expect(await kube.getLease('absent')).toEqual({ ok: true, value: undefined });
  });
});

describe('pods', () => {
  test.each([
    ['app=pg', ['pg-0', 'pg-1']],
    ['app=pg,role=primary', ['pg-0']],
    ['app=pg,role!=primary', ['pg-1']],
    ['app=none', []],
    ['', ['other-0', 'pg-0', 'pg-1']],
  ])('listPodNames(%j) names the pods the selector matches', async (selector, names) => {
    expect(await client().listPodNames(selector)).toEqual({ ok: true, value: names });
  });

  test('listPods and getPod tell of each pod whether it is being deleted, whether it is Ready, its uid and labels; getPod of none: undefined', async () => {
    const made = (name: string, metadata: Record<string, unknown>, conditions: unknown): ApiPod => ({
      ...runningPod(name, { app: 'made' }),
      toObject: namespace => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace, labels: { app: 'made' }, ...metadata },
        spec: { containers: [{ name: 'postgres' }] },
        status: { phase: 'Running', conditions },
      }),
    });
    const extra = [
      made('made-0', { uid: 'u-0' }, [{ type: 'Initialized', status: 'True' }, { type: 'Ready', status: 'True' }]),
      made('made-1', { uid: 'u-1', deletionTimestamp: '2026-12-05T16:00:00Z' }, [{ type: 'Ready', status: 'False' }, { type: 'ContainersReady', status: 'True' }]),
      made('made-2', {}, 'not a list'),
      made('made-3', { uid: 7 }, [null, { type: 'Ready' }]),
    ];
    pods.push(...extra);
    try {
      const kube = client();
      const expected = [
        { name: 'made-0', terminating: false, ready: true, uid: 'u-0', labels: { app: 'made' }, phase: 'Running', runningContainers: [] },
        { name: 'made-1', terminating: true, ready: false, uid: 'u-1', labels: { app: 'made' }, phase: 'Running', runningContainers: [] },
        { name: 'made-2', terminating: false, ready: false, uid: undefined, labels: { app: 'made' }, phase: 'Running', runningContainers: [] },
        { name: 'made-3', terminating: false, ready: false, uid: undefined, labels: { app: 'made' }, phase: 'Running', runningContainers: [] },
      ];
      expect(await kube.listPods('app=made')).toEqual({ ok: true, value: expected });
      expect(await kube.getPod('made-1')).toEqual({ ok: true, value: expected[1] });
      expect(await kube.getPod('absent')).toEqual({ ok: true, value: undefined });
    } finally {
      pods.splice(pods.length - extra.length);
    }
  });

  test('listPodNames sends the selector encoded in the query', async () => {
    await client().listPodNames('app=pg,role in (primary)');
    expect(api.requests[api.requests.length - 1].path).toBe(`/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3Dpg%2Crole+in+%28primary%29`);
  });

  test('labelPod sets a label, then removes it, leaving the others', async () => {
    const kube = client();
    labelChanges.length = 0;
    expect(await kube.labelPod('pg-1', 'role', 'primary')).toEqual({ ok: true, value: undefined });
    expect(pods[1].labels).toEqual({ app: 'pg', role: 'primary' });
    expect(await kube.labelPod('pg-1', 'role', null)).toEqual({ ok: true, value: undefined });
    expect(pods[1].labels).toEqual({ app: 'pg' });
    expect(labelChanges).toEqual(['pg-1 {"app":"pg","role":"primary"}', 'pg-1 {"app":"pg"}']);
    const request = api.requests[api.requests.length - 1];
    expect([request.method, request.path, request.contentType, request.body])
      .toEqual(['PATCH', `/api/v1/namespaces/${NAMESPACE}/pods/pg-1`, 'application/merge-patch+json', '{"metadata":{"labels":{"role":null}}}']);
    await kube.labelPod('pg-1', 'role', 'replica');
  });

  test('labelPod of a pod that does not exist is 404 NotFound', async () => {
    expect(await client().labelPod('pg-9', 'role', 'primary')).toEqual({
      ok: false, status: 404, reason: 'NotFound', message: 'PATCH pods/pg-9: 404 NotFound: pods "pg-9" not found',
    });
  });
});

describe('pod deletion and the StatefulSet', () => {
  test('deletePod sends a DELETE with the uid as a precondition; another uid is 409 Conflict and deletes nothing; a pod gone is ok', async () => {
    const kube = client();
    deleted.length = 0;
    const withUid: ApiPod = { ...runningPod('pg-5', { app: 'pg' }), toObject: namespace => ({ ...runningPod('pg-5', {}).toObject(namespace), metadata: { name: 'pg-5', namespace, uid: 'u-5' } }) };
    pods.push(withUid);
    try {
      expect(await kube.deletePod('pg-5', 'u-4')).toMatchObject({ ok: false, status: 409, reason: 'Conflict' });
      expect(deleted).toEqual([]);
      expect(await kube.deletePod('pg-5', 'u-5')).toEqual({ ok: true, value: undefined });
      expect(deleted).toEqual(['pg-5']);
      const request = api.requests[api.requests.length - 1];
      expect([request.method, request.path, JSON.parse(request.body)]).toEqual(['DELETE', `/api/v1/namespaces/${NAMESPACE}/pods/pg-5`,
        { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 'u-5' } }]);
      expect(await kube.deletePod('pg-5', undefined)).toEqual({ ok: true, value: undefined });
      expect(deleted).toEqual(['pg-5', 'pg-5']);
    } finally {
      pods.pop();
    }
    expect(await kube.deletePod('pg-5', 'u-5')).toEqual({ ok: true, value: undefined });
    expect(deleted).toEqual(['pg-5', 'pg-5']);
  });

  test('getStatefulSet reads spec.replicas and status.updateRevision; none: undefined; one without replicas is a bad answer', async () => {
    const kube = client();
    const set = (spec: unknown, status: unknown): KubeObject => ({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'pg' }, spec, status } as KubeObject);
    statefulSet = undefined;
    expect(await kube.getStatefulSet('pg')).toEqual({ ok: true, value: undefined });
    statefulSet = set({ replicas: 3 }, { updateRevision: 'pg-abc', currentRevision: 'pg-old' });
    expect(await kube.getStatefulSet('pg')).toEqual({ ok: true, value: { replicas: 3, updateRevision: 'pg-abc' } });
    expect(api.requests[api.requests.length - 1].path).toBe(`/apis/apps/v1/namespaces/${NAMESPACE}/statefulsets/pg`);
    expect(await kube.getStatefulSet('other')).toEqual({ ok: true, value: undefined });
    statefulSet = set({ replicas: 1 }, {});
    expect(await kube.getStatefulSet('pg')).toEqual({ ok: true, value: { replicas: 1, updateRevision: undefined } });
    statefulSet = set({ replicas: 1 }, { updateRevision: '' });
    expect(await kube.getStatefulSet('pg')).toEqual({ ok: true, value: { replicas: 1, updateRevision: undefined } });
    statefulSet = set({ replicas: 1.5 }, { updateRevision: 'pg-abc' });
    expect(await kube.getStatefulSet('pg')).toMatchObject({ ok: false, reason: BAD_ANSWER });
    statefulSet = set({}, { updateRevision: 'pg-abc' });
    expect(await kube.getStatefulSet('pg')).toMatchObject({ ok: false, reason: BAD_ANSWER });
    statefulSet = undefined;
  });

  test('deletePod without a uid sends no DeleteOptions; a delete refused names the request and keeps the API\'s message', async () => {
    const kube = client();
    deleted.length = 0;
    const withUid: ApiPod = { ...runningPod('pg-6', { app: 'pg' }), toObject: namespace => ({ ...runningPod('pg-6', {}).toObject(namespace), metadata: { name: 'pg-6', namespace, uid: 'u-6' } }) };
    pods.push(withUid);
    try {
      expect(await kube.deletePod('pg-6', 'u-0')).toEqual({
        ok: false,
        status: 409,
        reason: 'Conflict',
        message: 'DELETE pods/pg-6: 409 Conflict: Operation cannot be fulfilled on Pod "pg-6": Precondition failed: UID in precondition: u-0, UID in object meta: u-6',
      });
      expect(await kube.deletePod('pg-6', undefined)).toEqual({ ok: true, value: undefined });
      const request = api.requests[api.requests.length - 1];
      expect([request.method, request.path, request.body]).toEqual(['DELETE', `/api/v1/namespaces/${NAMESPACE}/pods/pg-6`, '']);
      expect(deleted).toEqual(['pg-6']);
    } finally {
      pods.pop();
    }
  });

  test('a StatefulSet read the Role does not allow is an error naming the request, the API\'s message kept', async () => {
    expect(await client({ tokenFile: tokenFile('pod', POD_TOKEN) }).getStatefulSet('pg')).toEqual({
      ok: false,
      status: 403,
      reason: 'Forbidden',
      message: 'GET statefulsets/pg: 403 Forbidden: statefulsets.apps "pg" is forbidden: User "system:serviceaccount:default:pg" '
        + 'cannot get resource "statefulsets" in API group "apps" in the namespace "default"',
    });
  });

  test('a DELETE or a StatefulSet read that the Role does not allow is 403 Forbidden', async () => {
    const kube = client({ tokenFile: tokenFile('pod', POD_TOKEN) });
    expect(await kube.deletePod('pg-1', undefined)).toMatchObject({ ok: false, status: 403, reason: 'Forbidden' });
    expect(await kube.getStatefulSet('pg')).toMatchObject({ ok: false, status: 403, reason: 'Forbidden' });
    expect(deleted).not.toContain('pg-1');
  });
});

describe('Events', () => {
  test('podEvent creates a core/v1 Event about the pod, as client-go\'s recorder writes one', async () => {
    const before = api.events().length;
    const started = Date.now();
    expect(await client().podEvent('pg-1', 'Warning', 'Fenced', 'pg-1 cannot read the leader record: fenced', 'pg-agent'))
      .toEqual({ ok: true, value: undefined });
    const events = api.events();
    expect(events.length).toBe(before + 1);
    const event = events[events.length - 1];
    expect(event.metadata.name).toMatch(/^pg-1\.[0-9a-f]+$/);
    expect(event).toMatchObject({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: 'pg-1.', namespace: NAMESPACE },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'pg-1', namespace: NAMESPACE },
      type: 'Warning',
      reason: 'Fenced',
      message: 'pg-1 cannot read the leader record: fenced',
      source: { component: 'pg-agent' },
      reportingComponent: 'pg-agent',
      reportingInstance: 'pg-1',
      count: 1,
    });
    expect(event.firstTimestamp).toBe(event.lastTimestamp);
    expect(event.firstTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(event.firstTimestamp)).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000);
    expect(Date.parse(event.firstTimestamp)).toBeLessThanOrEqual(Date.now());
  });
  test('leaseEvent creates the same Event about the Lease, reported by the instance', async () => {
    const before = api.events().length;
    expect(await client().leaseEvent('pg-leader', 'pg-0', 'Normal', 'Elected', 'pg-0 holds the leader record', 'pg-agent')).toEqual({ ok: true, value: undefined });
    const events = api.events();
    expect(events.length).toBe(before + 1);
    const event = events[events.length - 1];
    expect(event.metadata.name).toMatch(/^pg-leader\.[0-9a-f]+$/);
    expect(event).toMatchObject({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: 'pg-leader.', namespace: NAMESPACE },
      type: 'Normal',
      reason: 'Elected',
      message: 'pg-0 holds the leader record',
      source: { component: 'pg-agent' },
      reportingComponent: 'pg-agent',
      reportingInstance: 'pg-0',
      count: 1,
    });
    expect(event.involvedObject).toEqual({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: 'pg-leader', namespace: NAMESPACE });
  });

  test('a leaseEvent the Role does not allow names the Lease in its error', async () => {
    expect(await client({ tokenFile: tokenFile('pod', POD_TOKEN) }).leaseEvent('pg-leader', 'pg-0', 'Warning', 'Fenced', 'fenced', 'pg-agent')).toEqual({
      ok: false,
      status: 403,
      reason: 'Forbidden',
      message: 'POST events (Fenced about lease pg-leader): 403 Forbidden: events is forbidden: User "system:serviceaccount:default:pg" '
        + 'cannot create resource "events" in API group "" in the namespace "default"',
    });
  });
});

describe('no answer is not an answer: status undefined', () => {
  let silent: net.Server;
  let silentPort: number;
  const held = new Set<net.Socket>();
  beforeAll(async () => {
    // Accepts connections and never says a word (not even TLS).
    silent = net.createServer(socket => held.add(socket));
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as net.AddressInfo).port;
  });
  afterAll(() => {
    silent.close();
    for (const socket of held) socket.destroy();
  });

  test('a server that accepts and never answers: NoAnswer within timeoutMs', async () => {
    const kube = client({ server: `https://127.0.0.1:${silentPort}` });
    const started = Date.now();
    expect(await kube.getLease('pg-leader')).toEqual({
      ok: false, status: undefined, reason: NO_ANSWER, message: `GET leases/pg-leader: no answer from the API server within ${TIMEOUT_MS} ms`,
    });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  });

  test('a refused connection: NoAnswer, saying why', async () => {
    const closed = net.createServer();
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise(resolve => closed.close(resolve));
    const result = await client({ server: `https://127.0.0.1:${port}` }).listPodNames('app=pg');
    expect(result).toEqual({
      ok: false, status: undefined, reason: NO_ANSWER, message: `GET pods?labelSelector=app=pg: no answer from the API server: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
  });

  test('an IPv6 server, its address bracketed in the URL: the connection is made to the bare address', async () => {
    const closed = net.createServer();
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise(resolve => closed.close(resolve));
    const result = await client({ server: `https://[::1]:${port}` }).getLease('pg-leader');
    expect(result).toMatchObject({ ok: false, status: undefined, reason: NO_ANSWER });
    expect((result as { message: string }).message).toMatch(new RegExp(`^GET leases/pg-leader: no answer from the API server: connect E[A-Z]+ ::1:${port}$`));
  });

  test('a server whose certificate the CA did not sign: NoAnswer (TLS failure)', async () => {
    const otherCa = makeApiTls(join(dir, 'other-pki'), '10.96.0.1');
    const result = await client({ caFile: otherCa.caFile }).getLease('pg-leader');
    expect(result).toMatchObject({ ok: false, status: undefined, reason: NO_ANSWER });
    expect((result as { message: string }).message).toMatch(/^GET leases\/pg-leader: no answer from the API server: .*(certificate|self.signed)/);
  });

  test('a token file that cannot be read: NoToken, no request', async () => {
    const before = api.requests.length;
    const result = await client({ tokenFile: join(dir, 'missing.token') }).getLease('pg-leader');
    expect(result).toEqual({
      ok: false,
      status: undefined,
      reason: 'NoToken',
      message: `GET leases/pg-leader: cannot read the token file: ENOENT: no such file or directory, open '${join(dir, 'missing.token')}'`,
    });
    expect(api.requests.length).toBe(before);
  });

  test('an empty token file: NoToken', async () => {
    const file = tokenFile('empty', '');
    expect(await client({ tokenFile: file }).getLease('pg-leader')).toEqual({
      ok: false, status: undefined, reason: 'NoToken', message: `GET leases/pg-leader: the token file ${file} is empty`,
    });
  });

  test('a watch with no answer ends in an error within timeoutMs', async () => {
    const kube = client({ server: `https://127.0.0.1:${silentPort}` });
    const started = Date.now();
    expect(await kube.watchLease('pg-leader', '1', () => undefined, new AbortController().signal)).toEqual({
      kind: 'error', message: `WATCH leases/pg-leader: no answer from the API server within ${TIMEOUT_MS} ms`,
    });
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  });
});

describe('the token', () => {
  test('is read again once a second has passed since it was read, so a rotated token is used', async () => {
    const file = tokenFile('rotating', 'old-token');
    const kube = client({ tokenFile: file });
    expect(await kube.getLease('absent')).toMatchObject({ ok: false, status: 401 });
    writeFileSync(file, api.adminToken);
    // Within the second: the token read stands.
    expect(await kube.getLease('absent')).toMatchObject({ ok: false, status: 401 });
    await sleep(1100);
    expect(await kube.getLease('absent')).toEqual({ ok: true, value: undefined });
  });

  test('that was read stays in use while its file cannot be read (the kubelet swapping it)', async () => {
    const file = tokenFile('swapped', api.adminToken);
    const kube = client({ tokenFile: file });
    expect(await kube.getLease('absent')).toEqual({ ok: true, value: undefined });
    rmSync(file);
    await sleep(1100);
    expect(await kube.getLease('absent')).toEqual({ ok: true, value: undefined });
    writeFileSync(file, '');
    expect(await kube.getLease('absent')).toEqual({ ok: true, value: undefined });
  });
});

describe('watches', () => {
  /** Watches the Lease; its events as `TYPE rv holder`. */
  function watch(kube: KubeClient, name: string, from: string, signal = new AbortController().signal, seconds?: number) {
    const events: string[] = [];
    const end = kube.watchLease(name, from, (type, lease) => events.push(`${type} ${rv(lease)} ${(lease.spec as { holderIdentity?: string }).holderIdentity}`),
      signal, seconds);
    return { events, end };
  }

  test('a watch from the read resourceVersion sees the patch as MODIFIED, and ends in an error when aborted', async () => {
    const kube = client();
    const name = freshName();
    const first = await created(kube, name);
    const abort = new AbortController();
    const { events, end } = watch(kube, name, first, abort.signal);
    await eventually(() => api.requests.some(r => r.path.includes(`metadata.name%3D${name}&watch=true`)));
    await sleep(50);
    await kube.patchLease(name, encodeRecordPatch(stable('pg-1', 2), first));
    await eventually(() => events.length === 1);
    expect(events).toEqual([`MODIFIED ${rv(api.lease(name))} pg-1`]);
    abort.abort();
    expect(await end).toEqual({ kind: 'error', message: `WATCH leases/${name}: aborted` });
  });

  test('asks for one Lease by field selector, from the resourceVersion, with bookmarks and the timeout', async () => {
    const kube = client();
    await kube.watchLease('pg-leader', '42', () => undefined, AbortSignal.abort());
    const name = freshName();
    const first = await created(kube, name);
    await watch(kube, name, first, undefined, 1).end;
    expect(api.requests.filter(r => r.path.includes('watch=true')).pop()!.path).toBe(`/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`
      + `?fieldSelector=metadata.name%3D${name}&watch=true&resourceVersion=${first}&allowWatchBookmarks=true&timeoutSeconds=1`);
  });

  test('a watch that ends leaves no listener on the signal (followLease passes one signal to every watch)', async () => {
    const kube = client({ watchSeconds: 1 });
    const name = freshName();
    const first = await created(kube, name);
    const abort = new AbortController();
    expect(await watch(kube, name, first, abort.signal).end).toEqual({ kind: 'ended', resourceVersion: first });
    // And one that got no answer.
    expect(await client({ server: 'https://127.0.0.1:1' }).watchLease(name, first, () => undefined, abort.signal))
      .toEqual({ kind: 'error', message: `WATCH leases/${name}: no answer from the API server: connect ECONNREFUSED 127.0.0.1:1` });
    expect(getEventListeners(abort.signal, 'abort')).toEqual([]);
  });

  test('a watch already aborted makes no request', async () => {
    const before = api.requests.length;
    expect(await client().watchLease('pg-leader', '1', () => undefined, AbortSignal.abort()))
      .toEqual({ kind: 'error', message: 'WATCH leases/pg-leader: aborted' });
    expect(api.requests.length).toBe(before);
  });

  test('a watch the server ends (timeoutSeconds) resolves ended, with the last resourceVersion it delivered', async () => {
    const kube = client();
    const name = freshName();
    const first = await created(kube, name);
    const started = Date.now();
    const { events, end } = watch(kube, name, first, undefined, 1);
    await sleep(100);
    await kube.patchLease(name, encodeRecordPatch(stable('pg-1', 2), first));
    const last = rv(api.lease(name));
    expect(await end).toEqual({ kind: 'ended', resourceVersion: last });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(events).toEqual([`MODIFIED ${last} pg-1`]);
  });

  test('a watch that delivers nothing ends with the resourceVersion it started from', async () => {
    const kube = client({ watchSeconds: 1 });
    const name = freshName();
    const first = await created(kube, name);
    expect(await watch(kube, name, first).end).toEqual({ kind: 'ended', resourceVersion: first });
  });

  test('a watch from no resourceVersion delivers the Lease as ADDED, then its deletion', async () => {
    const kube = client({ watchSeconds: 1 });
    const name = freshName();
    const first = await created(kube, name);
    const { events, end } = watch(kube, name, '');
    await eventually(() => events.length === 1);
    expect(await deleteLease(name)).toBe(200);
    const result = await end;
    expect(result.kind).toBe('ended');
    const deletedAt = (result as { resourceVersion: string }).resourceVersion;
    expect(Number(deletedAt)).toBeGreaterThan(Number(first));
    expect(events).toEqual([`ADDED ${first} pg-0`, `DELETED ${deletedAt} pg-0`]);
    expect(api.requests.filter(r => r.path.includes('watch=true')).pop()!.path).not.toContain('resourceVersion');
  });

  test('a watch from a resourceVersion older than the history the API keeps is gone', async () => {
    const kube = client();
    const name = freshName();
    const first = await created(kube, name);
    // The stand-in keeps 1,000 events, as etcd compacts.
    for (let i = 0; i < 1001; i++) api.updateSecret('churn', { n: String(i) });
    expect(await watch(kube, name, first).end).toEqual({ kind: 'gone' });
  });

  test('a watch the Role does not allow ends in an error with the API\'s message', async () => {
    const kube = client({ tokenFile: tokenFile('pod', POD_TOKEN), namespace: 'kube-system' });
    expect(await watch(kube, 'pg-leader', '1').end).toEqual({
      kind: 'error',
      message: 'WATCH leases/pg-leader: 403 Forbidden: leases.coordination.k8s.io "pg-leader" is forbidden: User "system:serviceaccount:kube-system:pg" '
        + 'cannot watch resource "leases" in API group "coordination.k8s.io" in the namespace "kube-system"',
    });
  });
});

describe('followLease', () => {
  test('reports the Lease absent, created, changed, deleted and created again, across watches the server ends', async () => {
    const kube = client({ watchSeconds: 1 });
    const writer = client();
    const name = freshName();
    const seen: Array<string | undefined> = [];
    const abort = new AbortController();
    const following = followLease(kube, name, lease => seen.push(lease && `${rv(lease)} ${(lease.spec as { holderIdentity: string }).holderIdentity}`),
      abort.signal, 50);
    const last = () => seen[seen.length - 1];
    await eventually(() => seen.length === 1);
    expect(seen).toEqual([undefined]);

    const first = await created(writer, name);
    await eventually(() => last() === `${first} pg-0`);
    // After the watch the server ended, the next one goes on from where it stopped.
    await sleep(1300);
    await writer.patchLease(name, encodeRecordPatch(stable('pg-1', 2), first));
    const second = rv(api.lease(name));
    await eventually(() => last() === `${second} pg-1`);
    await deleteLease(name);
    await eventually(() => last() === undefined);
    await sleep(1300);
    const again = await created(writer, name, stable('pg-2', 3));
    await eventually(() => last() === `${again} pg-2`);
    abort.abort();
    await following;

    // One get, then watches only: each value once, in order.
    expect(seen).toEqual([undefined, `${first} pg-0`, `${second} pg-1`, undefined, `${again} pg-2`]);
    const watches = api.requests.filter(r => r.path.includes(`metadata.name%3D${name}&watch=true`)).map(r => new URL(r.path, 'https://api').searchParams.get('resourceVersion'));
    expect(watches.length).toBeGreaterThanOrEqual(3);
    expect(watches[0]).toBeNull();
  });

  test('reports a Lease that exists once, then watches it from its resourceVersion', async () => {
    const kube = client();
    const name = freshName();
    const first = await created(kube, name);
    const seen: string[] = [];
    const abort = new AbortController();
    const following = followLease(kube, name, lease => seen.push(rv(lease)), abort.signal);
    await eventually(() => api.requests.some(r => r.path.includes(`metadata.name%3D${name}&watch=true`)));
    await sleep(100);
    abort.abort();
    await following;
    expect(seen).toEqual([first]);
    expect(api.requests.filter(r => r.path.includes(`metadata.name%3D${name}&watch=true`)).map(r => new URL(r.path, 'https://api').searchParams.get('resourceVersion')))
      .toEqual([first]);
  });

  test('stops at once when aborted while it waits to retry', async () => {
    const kube = client({ tokenFile: join(dir, 'no-such.token') });
    const abort = new AbortController();
    const following = followLease(kube, 'pg-leader', () => undefined, abort.signal, 60_000);
    await sleep(50);
    const aborted = Date.now();
    abort.abort();
    await following;
    expect(Date.now() - aborted).toBeLessThan(500);
  });

  test('gets the Lease again when its watch is gone, and reports it', async () => {
    const kube = client({ watchSeconds: 1 });
    const name = freshName();
    const first = await created(kube, name);
    const seen: string[] = [];
    const abort = new AbortController();
    // A client whose watches are always gone: the stand-in forgets nothing, so the first watch is made from a forgotten resourceVersion.
    let watches = 0;
    const gone = Object.assign(Object.create(kube) as KubeClient, {
      watchLease: async (): Promise<WatchEnd> => {
        watches++;
        return { kind: 'gone' };
      },
    });
    const following = followLease(gone, name, lease => seen.push(rv(lease)), abort.signal, 20);
    await eventually(() => seen.length >= 3);
    await sleep(100);
    abort.abort();
    await following;
    expect(seen.slice(0, 3)).toEqual([first, first, first]);
    expect(watches).toBeGreaterThanOrEqual(2);
    // A get every retryMs (20 ms), not as fast as the API answers.
    expect(seen.length).toBeLessThan(20);
  });

  test('retries a get that failed after retryMs, and stops when aborted', async () => {
    const kube = client({ tokenFile: join(dir, 'no-such.token') });
    const abort = new AbortController();
    const seen: unknown[] = [];
    const before = Date.now();
    let gets = 0;
    const counting = Object.assign(Object.create(kube) as KubeClient, {
      getLease: (n: string): Promise<ApiResult<LeaseObject | undefined>> => {
        gets++;
        return kube.getLease(n);
      },
    });
    const following = followLease(counting, 'pg-leader', lease => seen.push(lease), abort.signal, 100);
    await sleep(350);
    // Each wait's listener goes with it.
    expect(getEventListeners(abort.signal, 'abort').length).toBeLessThanOrEqual(1);
    abort.abort();
    await following;
    expect(Date.now() - before).toBeLessThan(600);
    expect(seen).toEqual([]);
    expect(gets).toBeGreaterThanOrEqual(3);
    expect(gets).toBeLessThanOrEqual(5);
  });
  test('a get that failed reports nothing and starts no watch', async () => {
    const kube = client({ tokenFile: join(dir, 'no-such.token') });
    const abort = new AbortController();
    let changes = 0;
    let watches = 0;
    const counting = Object.assign(Object.create(kube) as KubeClient, {
      watchLease: (...args: Parameters<KubeClient['watchLease']>): Promise<WatchEnd> => {
        watches++;
        return kube.watchLease(...args);
      },
    });
    const following = followLease(counting, 'pg-leader', () => changes++, abort.signal, 20);
    await sleep(150);
    abort.abort();
    await following;
    expect([changes, watches]).toEqual([0, 0]);
  });

  test('stops at once when aborted during a watch, with no wait to retry after it', async () => {
    const kube = client();
    const name = freshName();
    await created(kube, name);
    const abort = new AbortController();
    const following = followLease(kube, name, () => undefined, abort.signal, 60_000);
    await eventually(() => api.requests.some(r => r.path.includes(`metadata.name%3D${name}&watch=true`)));
    const aborted = Date.now();
    abort.abort();
    await following;
    expect(Date.now() - aborted).toBeLessThan(500);
  });
});

describe('answers the stand-in never gives (a scripted server)', () => {
  let server: https.Server;
  let handler: (request: http.IncomingMessage, response: http.ServerResponse) => void;
  let url: string;
  beforeAll(async () => {
    server = https.createServer({ key: tls.key, cert: tls.cert }, (request, response) => handler(request, response));
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  afterAll(() => {
    server.close();
    server.closeAllConnections();
  });
  const scripted = (overrides: Partial<KubeClientOptions> = {}) => client({ server: url, ...overrides });
  const answer = (status: number, body: string, contentType = 'application/json') => {
    handler = (_request, response) => {
      response.writeHead(status, { 'content-type': contentType });
      response.end(body);
    };
  };
  const lease = { metadata: { name: 'pg-leader', resourceVersion: '5' } };

  test('sends the bearer token, JSON accept, and the user agent, default or given', async () => {
    const headers: http.IncomingHttpHeaders[] = [];
    handler = (request, response) => {
      headers.push(request.headers);
      response.end(JSON.stringify(lease));
    };
    await scripted().getLease('pg-leader');
    await scripted({ userAgent: 'pg-agent/pg-0' }).getLease('pg-leader');
    expect(headers.map(h => [h.authorization, h.accept, h['user-agent']])).toEqual([
      [`Bearer ${api.adminToken}`, 'application/json', 'cdk8s-postgres-agent'],
      [`Bearer ${api.adminToken}`, 'application/json', 'pg-agent/pg-0'],
    ]);
  });

  test('reuses one connection for requests one after another', async () => {
    const ports = new Set<number>();
    handler = (request, response) => {
      ports.add(request.socket.remotePort!);
      response.end(JSON.stringify(lease));
    };
    const kube = scripted();
    for (let i = 0; i < 4; i++) expect(await kube.getLease('pg-leader')).toEqual({ ok: true, value: lease });
    expect(ports.size).toBe(1);
  });

  const bad: Array<[string, number, string, string, ApiResult<unknown>]> = [
    ['a 200 that is not JSON', 200, 'text/html', '<html>proxy login</html>',
      { ok: false, status: 200, reason: BAD_ANSWER, message: 'GET leases/pg-leader: 200 but the answer is not JSON, got "<html>proxy login</html>"' }],
    ['an empty 200', 200, 'application/json', '',
      { ok: false, status: 200, reason: BAD_ANSWER, message: 'GET leases/pg-leader: 200 but the answer is not JSON, got (an empty answer)' }],
    ['a 200 that is JSON but no object', 200, 'application/json', '[1]',
      { ok: false, status: 200, reason: BAD_ANSWER, message: 'GET leases/pg-leader: 200 but the answer is not an object' }],
    ['a 200 of null', 200, 'application/json', 'null',
      { ok: false, status: 200, reason: BAD_ANSWER, message: 'GET leases/pg-leader: 200 but the answer is not an object' }],
    ['a 200 of a string', 200, 'application/json', '"x"',
      { ok: false, status: 200, reason: BAD_ANSWER, message: 'GET leases/pg-leader: 200 but the answer is not an object' }],
    ['a 503 with text, not a Status', 503, 'text/plain', '\nupstream connect error \n  or disconnect\n',
      { ok: false, status: 503, reason: 'ServiceUnavailable', message: 'GET leases/pg-leader: 503 ServiceUnavailable: "upstream connect error or disconnect"' }],
    ['a 502 with no Status', 502, 'text/plain', 'Bad gateway',
      { ok: false, status: 502, reason: 'BadGateway', message: 'GET leases/pg-leader: 502 BadGateway: "Bad gateway"' }],
    ['a 599, a status HTTP has no name for', 599, 'text/plain', '',
      { ok: false, status: 599, reason: 'Unknown', message: 'GET leases/pg-leader: 599 Unknown: (an empty answer)' }],
    ['a 500 whose JSON is not a Status', 500, 'application/json', '{"reason":"Nope","message":"not a status"}',
      { ok: false, status: 500, reason: 'InternalError', message: 'GET leases/pg-leader: 500 InternalError: "{"reason":"Nope","message":"not a status"}"' }],
    ['a Status with no reason', 429, 'application/json', '{"kind":"Status","message":"slow down","reason":""}',
      { ok: false, status: 429, reason: 'TooManyRequests', message: 'GET leases/pg-leader: 429 TooManyRequests: slow down' }],
    ['a Status whose message is not a string', 500, 'application/json', '{"kind":"Status","reason":"InternalError","message":7}',
      { ok: false, status: 500, reason: 'InternalError', message: 'GET leases/pg-leader: 500 InternalError: "{"kind":"Status","reason":"InternalError","message":7}"' }],
    ['a text of 200 characters, whole', 500, 'text/plain', 'y'.repeat(200),
      { ok: false, status: 500, reason: 'InternalError', message: `GET leases/pg-leader: 500 InternalError: "${'y'.repeat(200)}"` }],
    ['a Status whose reason is not a string', 403, 'application/json', '{"kind":"Status","reason":5,"message":"no"}',
      { ok: false, status: 403, reason: 'Forbidden', message: 'GET leases/pg-leader: 403 Forbidden: no' }],
    ['a long text, cut', 500, 'text/plain', 'x'.repeat(250),
      { ok: false, status: 500, reason: 'InternalError', message: `GET leases/pg-leader: 500 InternalError: ${'x'.repeat(200)}...` }],
  ];
  test.each(bad)('%s is an error result, never a throw', async (_case, status, contentType, body, expected) => {
    answer(status, body, contentType);
    expect(await scripted().getLease('pg-leader')).toEqual(expected);
  });

  test.each([
    ['no items', '{"kind":"PodList"}'],
    ['an item with no name', '{"items":[{"metadata":{"name":"pg-0"}},{"metadata":{}}]}'],
    ['a null item', '{"items":[null]}'],
    ['an item with no metadata', '{"items":[{}]}'],
    ['null', 'null'],
  ])('a pod list with %s is a bad answer', async (_case, body) => {
    answer(200, body);
    expect(await scripted().listPodNames('app=pg')).toEqual({
      ok: false, status: 200, reason: BAD_ANSWER, message: 'GET pods?labelSelector=app=pg: 200 but the answer is not a PodList with named items',
    });
  });

  test.each([
    ['a Pod without a name: a bad answer', 200, { kind: 'Pod', metadata: {} },
      { ok: false, status: 200, reason: BAD_ANSWER, message: 'GET pods/pg-0: 200 but the answer is not a named Pod' }],
    ['a 500: an error naming the request', 500, { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd is sad' },
      { ok: false, status: 500, reason: 'InternalError', message: 'GET pods/pg-0: 500 InternalError: etcd is sad' }],
    ['a 403: an error, not an absent pod', 403, { kind: 'Status', code: 403, reason: 'Forbidden', message: 'no' },
      { ok: false, status: 403, reason: 'Forbidden', message: 'GET pods/pg-0: 403 Forbidden: no' }],
  ])('getPod answered with %s', async (_case, status, body, expected) => {
    answer(status, JSON.stringify(body));
    expect(await scripted().getPod('pg-0')).toEqual(expected);
  });

  test.each([
    ['labels that are not an object: none', 'app=pg', {}],
    ['label values that are not strings: dropped', { app: 'pg', replicas: 3, gone: null, nested: { a: 'b' }, role: 'primary' }, { app: 'pg', role: 'primary' }],
  ])('a pod with %s', async (_case, labels, expected) => {
    answer(200, JSON.stringify({ kind: 'Pod', metadata: { name: 'pg-0', labels }, status: { phase: 'Running' } }));
    expect(await scripted().getPod('pg-0')).toEqual({
      ok: true, value: { name: 'pg-0', terminating: false, ready: false, uid: undefined, labels: expected, phase: 'Running', runningContainers: [] },
    });
  });

  test.each([
    ['no spec: a bad answer', { metadata: { name: 'pg' } },
      { ok: false, status: 200, reason: BAD_ANSWER, message: 'GET statefulsets/pg: 200 but the answer is not a StatefulSet with spec.replicas' }],
    ['null: a bad answer', null,
      { ok: false, status: 200, reason: BAD_ANSWER, message: 'GET statefulsets/pg: 200 but the answer is not a StatefulSet with spec.replicas' }],
    ['replicas that are a string: a bad answer', { spec: { replicas: '3' } },
      { ok: false, status: 200, reason: BAD_ANSWER, message: 'GET statefulsets/pg: 200 but the answer is not a StatefulSet with spec.replicas' }],
    ['no status: no update revision', { spec: { replicas: 2 } }, { ok: true, value: { replicas: 2, updateRevision: undefined } }],
    ['an update revision that is not a string: none', { spec: { replicas: 2 }, status: { updateRevision: 7 } }, { ok: true, value: { replicas: 2, updateRevision: undefined } }],
  ])('a StatefulSet with %s', async (_case, body, expected) => {
    answer(200, JSON.stringify(body));
    expect(await scripted().getStatefulSet('pg')).toEqual(expected);
  });

  test('a StatefulSet read answered 500 is an error naming the request', async () => {
    answer(500, '{"kind":"Status","code":500,"reason":"InternalError","message":"etcd is sad"}');
    expect(await scripted().getStatefulSet('pg')).toEqual({
      ok: false, status: 500, reason: 'InternalError', message: 'GET statefulsets/pg: 500 InternalError: etcd is sad',
    });
  });

  test('Events one after another reuse a connection of their own', async () => {
    const ports: number[] = [];
    handler = (request, response) => {
      ports.push(request.socket.remotePort!);
      response.writeHead(201, { 'content-type': 'application/json' });
      response.end(request.method === 'POST' ? '{"kind":"Event"}' : JSON.stringify(lease));
    };
    const kube = scripted();
    for (let i = 0; i < 3; i++) expect(await kube.podEvent('pg-0', 'Normal', 'Promoted', 'pg-0 is the primary', 'pg-agent')).toEqual({ ok: true, value: undefined });
    expect(await kube.getLease('pg-leader')).toEqual({ ok: true, value: lease });
    expect(new Set(ports.slice(0, 3)).size).toBe(1);
    expect(ports[3]).not.toBe(ports[0]);
  });

  test('an answer that breaks off after its headers is no answer', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      response.write('{"metadata":');
      setTimeout(() => response.socket?.destroy(), 20);
    };
    expect(await scripted().getLease('pg-leader')).toEqual({
      ok: false, status: undefined, reason: NO_ANSWER, message: 'GET leases/pg-leader: no answer from the API server: the answer broke off: the connection closed',
    });
  });

  test('an answer whose body never ends is no answer within timeoutMs', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"metadata":');
    };
    expect(await scripted().getLease('pg-leader')).toEqual({
      ok: false, status: undefined, reason: NO_ANSWER, message: `GET leases/pg-leader: no answer from the API server within ${TIMEOUT_MS} ms`,
    });
  });

  /** A watch answered with these lines (200), then the end. */
  const stream = (lines: unknown[], status = 200) => {
    handler = (_request, response) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      // One event split across writes, as chunks arrive.
      const text = lines.map(l => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
      const half = Math.floor(text.length / 2);
      response.write(text.slice(0, half));
      setTimeout(() => response.end(text.slice(half)), 20);
    };
  };
  const at = (version: string, holder = 'pg-0') => ({ metadata: { name: 'pg-leader', resourceVersion: version }, spec: { holderIdentity: holder } });

  const streams: Array<[string, unknown[], string[], WatchEnd]> = [
    ['events then the end: ended at the last resourceVersion', [{ type: 'ADDED', object: at('7') }, { type: 'MODIFIED', object: at('9', 'pg-1') }, ''],
      ['ADDED 7', 'MODIFIED 9'], { kind: 'ended', resourceVersion: '9' }],
    ['a last line without a newline', [{ type: 'DELETED', object: at('12') }],
      ['DELETED 12'], { kind: 'ended', resourceVersion: '12' }],
    ['a BOOKMARK: the resourceVersion advances, no event', [{ type: 'MODIFIED', object: at('7') }, { type: 'BOOKMARK', object: { metadata: { resourceVersion: '30' } } }, ''],
      ['MODIFIED 7'], { kind: 'ended', resourceVersion: '30' }],
    ['an event of an unknown type: skipped', [{ type: 'SYNCED', object: at('8') }, ''],
      [], { kind: 'ended', resourceVersion: '8' }],
    ['an event whose object has no resourceVersion: the last stands', [{ type: 'MODIFIED', object: at('7') }, { type: 'MODIFIED', object: { metadata: {} } }, '', '  '],
      ['MODIFIED 7', 'MODIFIED undefined'], { kind: 'ended', resourceVersion: '7' }],
    ['an event whose object has no metadata: the last stands', [{ type: 'MODIFIED', object: at('7') }, { type: 'MODIFIED', object: {} }, ''],
      ['MODIFIED 7', 'MODIFIED undefined'], { kind: 'ended', resourceVersion: '7' }],
    ['an ERROR event with code 410: gone', [{ type: 'MODIFIED', object: at('7') }, { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 5 (7)' } },
      { type: 'MODIFIED', object: at('8') }, ''], ['MODIFIED 7'], { kind: 'gone' }],
    ['an ERROR event of another code: an error with its message', [{ type: 'ERROR', object: { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd is sad' } }, { type: 'MODIFIED', object: at('8') }, ''],
      [], { kind: 'error', message: 'WATCH leases/pg-leader: 500 InternalError: etcd is sad' }],
    ['a line that is not JSON: an error', [{ type: 'MODIFIED', object: at('7') }, 'not json', { type: 'MODIFIED', object: at('8') }, ''],
      ['MODIFIED 7'], { kind: 'error', message: 'WATCH leases/pg-leader: an event that is not a watch event: "not json"' }],
    ['an event without an object: an error', [{ type: 'MODIFIED' }],
      [], { kind: 'error', message: 'WATCH leases/pg-leader: an event that is not a watch event: "{"type":"MODIFIED"}"' }],
    ['an event whose object is null: an error', [{ type: 'MODIFIED', object: null }],
      [], { kind: 'error', message: 'WATCH leases/pg-leader: an event that is not a watch event: "{"type":"MODIFIED","object":null}"' }],
    ['a JSON line that is null: an error', ['null'],
      [], { kind: 'error', message: 'WATCH leases/pg-leader: an event that is not a watch event: "null"' }],
    ['an event whose resourceVersion is not a string: the last stands', [{ type: 'MODIFIED', object: at('7') }, { type: 'MODIFIED', object: { metadata: { resourceVersion: 9 } } }, ''],
      ['MODIFIED 7', 'MODIFIED 9'], { kind: 'ended', resourceVersion: '7' }],
  ];
  test.each(streams)('a watch stream with %s', async (_case, lines, expectedEvents, expectedEnd) => {
    stream(lines);
    const events: string[] = [];
    const end = await scripted().watchLease('pg-leader', '5', (type: WatchEventType, l: LeaseObject) => events.push(`${type} ${String(l.metadata?.resourceVersion)}`),
      new AbortController().signal);
    expect([events, end]).toEqual([expectedEvents, expectedEnd]);
  });

  test.each([
    ['410 with a Status: gone', 410, '{"kind":"Status","code":410,"reason":"Expired","message":"too old"}', { kind: 'gone' }],
    ['410 with no Status: gone', 410, 'gone', { kind: 'gone' }],
    ['500: an error with the Status message', 500, '{"kind":"Status","code":500,"reason":"InternalError","message":"etcd is sad"}',
      { kind: 'error', message: 'WATCH leases/pg-leader: 500 InternalError: etcd is sad' }],
  ])('a watch answered %s', async (_case, status, body, expected) => {
    answer(status, body);
    expect(await scripted().watchLease('pg-leader', '5', () => undefined, new AbortController().signal)).toEqual(expected);
  });

  test('a watch delivers each event as it comes, several in one chunk, blank lines between, before the watch ends', async () => {
    let response: http.ServerResponse | undefined;
    handler = (_request, answering) => {
      response = answering;
      answering.writeHead(200, { 'content-type': 'application/json' });
      answering.write('\n');
    };
    const abort = new AbortController();
    const events: string[] = [];
    const end = scripted().watchLease('pg-leader', '5', (type, l) => events.push(`${type} ${String(l.metadata?.resourceVersion)}`), abort.signal);
    await eventually(() => response !== undefined);
    await sleep(20);
    response!.write(`${JSON.stringify({ type: 'MODIFIED', object: at('7') })}\n\n${JSON.stringify({ type: 'MODIFIED', object: at('8') })}\n`);
    await eventually(() => events.length === 2);
    expect(events).toEqual(['MODIFIED 7', 'MODIFIED 8']);
    const closed = new Promise(resolve => response!.on('close', resolve));
    abort.abort();
    expect(await end).toEqual({ kind: 'error', message: 'WATCH leases/pg-leader: aborted' });
    // Aborted, the watch lets go of its connection.
    await closed;
  });

  test('watches one after another reuse one connection', async () => {
    const ports = new Set<number>();
    handler = (request, response) => {
      ports.add(request.socket.remotePort!);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(`${JSON.stringify({ type: 'MODIFIED', object: at('7') })}\n`);
    };
    const kube = scripted();
    for (let i = 0; i < 3; i++) expect(await kube.watchLease('pg-leader', '5', () => undefined, new AbortController().signal)).toEqual({ kind: 'ended', resourceVersion: '7' });
    expect(ports.size).toBe(1);
  });

  test('close() closes the idle connection at once, not when the server would let it go', async () => {
    let socket: net.Socket | undefined;
    handler = (request, response) => {
      socket = request.socket;
      response.end(JSON.stringify(lease));
    };
    const kube = scripted();
    await kube.getLease('pg-leader');
    const closed = new Promise(resolve => socket!.on('close', () => resolve('closed')));
    kube.close();
    // The server keeps an idle connection server.keepAliveTimeout (5 s).
    expect(await Promise.race([closed, sleep(1000).then(() => 'still open')])).toBe('closed');
  });

  test('a watch refused with an answer that breaks off ends in an error', async () => {
    handler = (_request, response) => {
      response.writeHead(500, { 'content-type': 'application/json', 'content-length': '100' });
      response.write('{"kind":');
      setTimeout(() => response.socket?.destroy(), 20);
    };
    expect(await scripted().watchLease('pg-leader', '5', () => undefined, new AbortController().signal))
      .toEqual({ kind: 'error', message: 'WATCH leases/pg-leader: the answer broke off: the connection closed' });
  });

  test('a watcher that throws ends the watch in an error naming the event', async () => {
    stream([{ type: 'ADDED', object: at('7') }, { type: 'MODIFIED', object: at('8') }, '']);
    const seen: string[] = [];
    const end = await scripted().watchLease('pg-leader', '5', type => {
      seen.push(type);
      throw new Error('boom');
    }, new AbortController().signal);
    expect([seen, end]).toEqual([['ADDED'], { kind: 'error', message: 'WATCH leases/pg-leader: the watcher failed on a ADDED event: boom' }]);
  });

  test('a watch whose connection breaks off ends in an error', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write(`${JSON.stringify({ type: 'ADDED', object: at('7') })}\n`);
      setTimeout(() => response.socket?.destroy(), 30);
    };
    expect(await scripted().watchLease('pg-leader', '5', () => undefined, new AbortController().signal))
      .toEqual({ kind: 'error', message: 'WATCH leases/pg-leader: the connection broke off' });
  });

  test('a watch the server does not end by timeoutSeconds (and timeoutMs) is given up', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('\n');
    };
    const started = Date.now();
    expect(await scripted().watchLease('pg-leader', '5', () => undefined, new AbortController().signal, 1))
      .toEqual({ kind: 'error', message: `WATCH leases/pg-leader: the API server did not end the watch within ${1000 + TIMEOUT_MS} ms` });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000 + TIMEOUT_MS - 5);
  });

  test('a watch with a token file that cannot be read ends in an error, with no request', async () => {
    let requests = 0;
    handler = (_request, response) => {
      requests++;
      response.end();
    };
    expect(await scripted({ tokenFile: join(dir, 'gone.token') }).watchLease('pg-leader', '5', () => undefined, new AbortController().signal)).toEqual({
      kind: 'error', message: `WATCH leases/pg-leader: cannot read the token file: ENOENT: no such file or directory, open '${join(dir, 'gone.token')}'`,
    });
    expect(requests).toBe(0);
  });
});

describe('inClusterOptions', () => {
  let accountDir: string;
  beforeAll(() => {
    accountDir = join(dir, 'serviceaccount');
    mkdirSync(accountDir);
    writeFileSync(join(accountDir, 'token'), 'token');
    writeFileSync(join(accountDir, 'ca.crt'), tls.ca);
    writeFileSync(join(accountDir, 'namespace'), 'pg-ns\n');
  });

  test.each([
    ['an IPv4 host', '10.96.0.1', '443', 'https://10.96.0.1:443'],
    ['an IPv6 host, bracketed', 'fd00:10:96::1', '443', 'https://[fd00:10:96::1]:443'],
    ['a DNS name', 'kubernetes.default.svc', '6443', 'https://kubernetes.default.svc:6443'],
  ])('builds the options from the environment and the ServiceAccount files: %s', (_case, host, port, server) => {
    expect(inClusterOptions({ KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port }, 2000, accountDir)).toEqual({
      server, namespace: 'pg-ns', tokenFile: join(accountDir, 'token'), caFile: join(accountDir, 'ca.crt'), timeoutMs: 2000,
    });
  });

  test('reads the files from the ServiceAccount mount by default', () => {
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const token = '/var/run/secrets/kubernetes.io/serviceaccount/token';
    // Run in a pod, the tests find a mount there.
    if (existsSync(token)) {
      expect(inClusterOptions(env, 2000).tokenFile).toBe(token);
    } else {
      expect(() => inClusterOptions(env, 2000))
        .toThrow(`not in a Kubernetes pod: ${token} (the ServiceAccount token) does not exist; is a ServiceAccount token mounted?`);
    }
  });

  test.each([
    ['KUBERNETES_SERVICE_HOST is missing', { KUBERNETES_SERVICE_PORT: '443' }, 'KUBERNETES_SERVICE_HOST is not set (the kubelet sets it in every container)'],
    ['KUBERNETES_SERVICE_HOST is empty', { KUBERNETES_SERVICE_HOST: '', KUBERNETES_SERVICE_PORT: '443' }, 'KUBERNETES_SERVICE_HOST is not set (the kubelet sets it in every container)'],
    ['KUBERNETES_SERVICE_PORT is missing', { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, 'KUBERNETES_SERVICE_PORT is not set (the kubelet sets it in every container)'],
  ])('fails when %s', (_case, env, message) => {
    expect(() => inClusterOptions(env, 2000, accountDir)).toThrow(`not in a Kubernetes pod: ${message}`);
  });

  test.each([
    ['token', 'the ServiceAccount token'],
    ['ca.crt', 'the CA bundle'],
    ['namespace', 'the pod\'s namespace'],
  ])('fails when the mount has no %s', (file, what) => {
    const partial = mkdtempSync(join(dir, 'partial-'));
    for (const name of ['token', 'ca.crt', 'namespace'].filter(n => n !== file)) writeFileSync(join(partial, name), 'x');
    expect(() => inClusterOptions({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, 2000, partial))
      .toThrow(`not in a Kubernetes pod: ${join(partial, file)} (${what}) does not exist; is a ServiceAccount token mounted?`);
  });

  test('a client built from them reaches the API by the service host and port', async () => {
    const port = new URL(api.adminServer).port;
    writeFileSync(join(accountDir, 'token'), api.adminToken);
    writeFileSync(join(accountDir, 'namespace'), NAMESPACE);
    const kube = new KubeClient(inClusterOptions({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, 2000, accountDir));
    clients.push(kube);
    expect(await kube.listPodNames('app=pg')).toEqual({ ok: true, value: ['pg-0', 'pg-1'] });
  });
});
