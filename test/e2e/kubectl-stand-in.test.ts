import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { ApiBackend, ApiPod, ApiStandIn, UNREACHABLE_TIMEOUT_MS } from './harness/api';
import { CutOffOptions, E2eCluster } from './harness/cluster';
import { Result, waitFor } from './harness/exec';
import { jsonpath } from './harness/jsonpath';
import { KubeObject, Manifests } from './harness/manifests';
import { DIST_MANIFEST } from './support';

jest.setTimeout(120_000);

type Fake = ApiPod & { labels: Record<string, string>; apiCutOff: boolean };

/** A pod as the API reports it, without processes: enough for the API stand-in. */
function fakePod(name: string, labels: Record<string, string>, phase = 'Running'): Fake {
  const pod: Fake = {
    name,
    labels: { ...labels },
    apiCutOff: false,
    toObject: namespace => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { ...pod.labels } },
      spec: { containers: [{ name: 'postgres' }, { name: 'sidecar' }] },
      status: {
        phase,
        podIP: '198.18.1.99',
        hostIP: '198.18.1.99',
        conditions: [{ type: 'Ready', status: phase === 'Running' ? 'True' : 'False' }],
        containerStatuses: [
          { name: 'postgres', ready: phase === 'Running', started: phase === 'Running', restartCount: 0, state: { running: { startedAt: '2024-01-01T00:00:00Z' } } },
          { name: 'sidecar', ready: false, started: false, restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } } },
        ],
      },
    }),
    exec: async (container, command) => ({ code: 0, stdout: `${name}/${container}: ${command.join(' ')}\n`, stderr: '' }),
  };
  return pod;
}

/** An API stand-in on a scratch socket, and a kubectl that presents a token (as bin/kubectl does). */
function standIn(manifests: Manifests, pods: ApiPod[], tokens: Record<string, { account: string; pod?: string }>) {
  const backend: ApiBackend = {
    namespace: 'default', manifests, pods: () => pods, identityOf: t => tokens[t], onLabelsChange: () => undefined,
  };
  const socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'api-')), 'api.sock');
  const api = new ApiStandIn(backend, socket);
  const kubectl = (token: string, args: string[], stdin?: string): Promise<Result> => {
    const body = JSON.stringify({ token, namespace: 'default', args, stdin });
    return new Promise((resolve, reject) => {
      const request = http.request({ socketPath: socket, path: '/kubectl', method: 'POST' }, response => {
        let text = '';
        response.on('data', d => { text += d; });
        response.on('end', () => resolve(JSON.parse(text)));
      });
      request.on('error', reject);
      request.end(body);
    });
  };
  return { api, kubectl, socket };
}

/** A watch (`kubectl get ... --watch`): the text streamed so far, whether the server ended it, and a way to stop it. */
function watch(socket: string, token: string, args: string[]) {
  const state = { text: '', ended: false, close: () => request.destroy() };
  const request = http.request({ socketPath: socket, path: '/kubectl', method: 'POST', headers: { 'x-kubectl-raw': '1' } }, response => {
    expect(response.headers['x-kubectl-stream']).toBe('1');
    response.on('data', d => { state.text += d; });
    response.on('end', () => { state.ended = true; });
  });
  request.on('error', () => undefined);
  request.end(JSON.stringify({ token, namespace: 'default', args }));
  return state;
}

function role(name: string, rules: object[], account = name): KubeObject[] {
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: account }],
    },
  ];
}

const LEASE = (name: string, annotations: Record<string, string> = {}) => JSON.stringify({
  apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, annotations }, spec: { holderIdentity: 'pod-0' },
});

describe('jsonpath, the subset of kubectl -o jsonpath the scripts use', () => {
  const object = {
    metadata: { name: 'a', resourceVersion: '7', annotations: { 'postgres.cdk8s.io/epoch': '3' }, labels: { app: 'x' } },
    status: { phase: 'Running', containerStatuses: [{ name: 'postgres', ready: true, restartCount: 0 }, { name: 'sidecar', ready: false, restartCount: 2 }] },
  };
  const list = { kind: 'List', items: [{ metadata: { name: 'p0' }, status: { phase: 'Running' } }, { metadata: { name: 'p1' }, status: { phase: 'Failed' } }] };

  test('fields, escaped dots in keys, text and literals between actions', () => {
    expect(jsonpath('{.metadata.name}', object)).toBe('a');
    expect(jsonpath('{.metadata.annotations.postgres\\.cdk8s\\.io/epoch}', object)).toBe('3');
    expect(jsonpath("{.metadata.annotations['postgres.cdk8s.io/epoch']}", object)).toBe('3');
    expect(jsonpath('{.metadata.resourceVersion}|{.metadata.annotations.postgres\\.cdk8s\\.io/none}|{.status.phase}', object)).toBe('7||Running');
    expect(jsonpath('rv={.metadata.resourceVersion}{"\\t"}{.status.phase}{"\\n"}', object)).toBe('rv=7\tRunning\n');
  });

  test('a missing field prints nothing; maps and lists print as JSON, numbers and booleans as text', () => {
    expect(jsonpath('{.spec.holderIdentity}', object)).toBe('');
    expect(jsonpath('{.metadata.labels}', object)).toBe('{"app":"x"}');
    expect(jsonpath('{.status.containerStatuses[1].restartCount} {.status.containerStatuses[0].ready}', object)).toBe('2 true');
    expect(jsonpath('{.status.containerStatuses[-1].name}', object)).toBe('sidecar');
  });

  test('wildcards (space-joined), ranges and filters', () => {
    expect(jsonpath('{.items[*].metadata.name}', list)).toBe('p0 p1');
    expect(jsonpath('{range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}', list)).toBe('p0=Running\np1=Failed\n');
    expect(jsonpath('{.status.containerStatuses[?(@.name=="postgres")].ready}', object)).toBe('true');
    expect(jsonpath('{.status.containerStatuses[?(@.restartCount>0)].name}', object)).toBe('sidecar');
    expect(jsonpath('{.items[?(@.status.phase!="Running")].metadata.name}', list)).toBe('p1');
    expect(jsonpath('{$.metadata.name}', object)).toBe('a');
  });

  test('a malformed template is an error, as kubectl reports it', () => {
    expect(() => jsonpath('{.metadata.name', object)).toThrow('error parsing jsonpath {.metadata.name, unclosed action');
    expect(() => jsonpath('{range .items[*]}{.x}', list)).toThrow('unclosed range');
  });
});

/**
 * The API stand-in authorizes with the Roles and RoleBindings of the synthesized YAML, so the e2e
 * tests would fail if the library's RBAC did not allow what its scripts do - and this shows that it
 * refuses what RBAC does not allow.
 */
describe('the kubectl stand-in enforces the synthesized RBAC', () => {
  const pod = fakePod('postgres-cluster-0', { app: 'postgres' });
  const other = fakePod('billing-db-0', { app: 'billing' });
  const { api, kubectl } = standIn(Manifests.fromFile(DIST_MANIFEST), [pod, other], {
    labeler: { account: 'postgres-cluster', pod: 'postgres-cluster-0' }, failover: { account: 'postgres-failover' }, stranger: { account: 'default' },
  });

  beforeAll(() => api.listen());
  afterAll(() => api.close());

  test('the sidecar may label its cluster pods', async () => {
    expect(await kubectl('labeler', ['label', 'pod', 'postgres-cluster-0', 'role=primary', '--overwrite'])).toMatchObject({ code: 0 });
    expect(pod.labels.role).toBe('primary');
  });

  test('the sidecar may not label pods of other applications, or exec', async () => {
    expect((await kubectl('labeler', ['label', 'pod', 'billing-db-0', 'role=primary'])).stderr).toContain('Forbidden');
    expect((await kubectl('labeler', ['exec', 'postgres-cluster-0', '-c', 'postgres', '--', 'true'])).stderr).toContain('cannot create resource "pods/exec"');
  });

  test('the failover job may list pods and exec into the cluster pods only', async () => {
    expect(await kubectl('failover', ['get', 'pods', '-l', 'app=postgres', '-o', 'name'])).toMatchObject({ code: 0, stdout: 'pod/postgres-cluster-0\n' });
    expect(await kubectl('failover', ['exec', 'postgres-cluster-0', '-c', 'postgres', '--', 'pg-node.sh', 'status']))
      .toMatchObject({ code: 0, stdout: 'postgres-cluster-0/postgres: pg-node.sh status\n' });
    expect((await kubectl('failover', ['exec', 'billing-db-0', '-c', 'postgres', '--', 'true'])).stderr).toContain('Forbidden');
  });

  test('an unknown ServiceAccount or token gets nothing', async () => {
    expect(await kubectl('stranger', ['get', 'pods', '-l', 'app=postgres', '-o', 'name'])).toMatchObject({
      code: 1,
      stderr: 'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" '
        + 'in API group "" in the namespace "default"\n',
    });
    expect((await kubectl('forged', ['get', 'pods', '-o', 'name'])).stderr).toContain('Unauthorized');
  });

  test('kubectl commands the stand-in does not know fail loudly', async () => {
    expect(await kubectl('failover', ['delete', 'pod', 'postgres-cluster-0'])).toMatchObject({ code: 2 });
    expect((await kubectl('failover', ['get', 'pods', '--all-namespaces'])).stderr).toContain('unsupported flag');
  });
});

describe('Leases: an object store with resourceVersions, conflicts and RBAC', () => {
  const manifests = new Manifests([
    // What a leader's sidecar needs: create (no name yet: a rule without resourceNames), the rest on its one Lease.
    ...role('leader', [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['leader'], verbs: ['get', 'patch', 'update', 'delete'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]),
    // resourceNames on create never match: this account cannot create its Lease.
    ...role('named-only', [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['leader'], verbs: ['create', 'get', 'list'] },
    ]),
    // Leases in the core group do not exist: this rule allows nothing.
    ...role('wrong-group', [{ apiGroups: [''], resources: ['leases'], verbs: ['*'] }]),
  ]);
  const { api, kubectl } = standIn(manifests, [], {
    leader: { account: 'leader' }, named: { account: 'named-only' }, wrong: { account: 'wrong-group' },
  });

  beforeAll(() => api.listen());
  afterAll(() => api.close());

  test('create from standard input, then AlreadyExists', async () => {
    expect(await kubectl('leader', ['create', '-f', '-'], LEASE('leader', { 'postgres.cdk8s.io/epoch': '1' })))
      .toEqual({ code: 0, stdout: 'lease.coordination.k8s.io/leader created\n', stderr: '' });
    const stored = api.lease('leader')!;
    expect(stored.metadata).toMatchObject({ name: 'leader', namespace: 'default', resourceVersion: expect.stringMatching(/^\d+$/) });
    expect(stored.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(stored.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(await kubectl('leader', ['create', '--filename=-'], LEASE('leader'))).toEqual({
      code: 1, stdout: '', stderr: 'Error from server (AlreadyExists): error when creating "STDIN": leases.coordination.k8s.io "leader" already exists\n',
    });
  });

  test('get with jsonpath (a missing annotation prints nothing), json, and NotFound', async () => {
    const version = api.lease('leader')!.metadata.resourceVersion;
    expect(await kubectl('leader', ['get', 'lease', 'leader', '--request-timeout=2s',
      '-o', 'jsonpath={.metadata.resourceVersion}|{.metadata.annotations.postgres\\.cdk8s\\.io/epoch}|{.metadata.annotations.postgres\\.cdk8s\\.io/state}']))
      .toEqual({ code: 0, stdout: `${version}|1|`, stderr: '' });
    const json = await kubectl('leader', ['get', 'leases.coordination.k8s.io', 'leader', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', spec: { holderIdentity: 'pod-0' } });
    expect(await kubectl('named', ['get', 'lease', 'leader', '-o', 'name'])).toEqual({ code: 0, stdout: 'lease.coordination.k8s.io/leader\n', stderr: '' });
    expect(await kubectl('unknown-token', ['get', 'lease', 'leader'])).toMatchObject({ code: 1, stderr: 'error: You must be logged in to the server (Unauthorized)\n' });
    const missing = await api.admin(['get', 'lease', 'nothing', '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'Error from server (NotFound): leases.coordination.k8s.io "nothing" not found\n' });
  });

  test('a merge patch with the current resourceVersion applies and takes a new one; a stale one is a Conflict and changes nothing', async () => {
    const before = api.lease('leader')!;
    const patch = (version: string, epoch: string) => JSON.stringify({
      metadata: { resourceVersion: version, annotations: { 'postgres.cdk8s.io/epoch': epoch, 'postgres.cdk8s.io/state': null } },
      spec: { holderIdentity: `pod-${epoch}` },
    });
    const applied = await kubectl('leader', ['patch', 'lease', 'leader', '--type=merge', '-p', patch(before.metadata.resourceVersion, '2'),
      '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(applied.code).toBe(0);
    expect(Number(applied.stdout)).toBeGreaterThan(Number(before.metadata.resourceVersion));
    expect(api.lease('leader')).toMatchObject({ metadata: { annotations: { 'postgres.cdk8s.io/epoch': '2' } }, spec: { holderIdentity: 'pod-2' } });

    const stale = await kubectl('leader', ['patch', 'lease', 'leader', '--type', 'merge', '--patch', patch(before.metadata.resourceVersion, '3')]);
    expect(stale).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error from server (Conflict): Operation cannot be fulfilled on leases.coordination.k8s.io "leader": '
        + 'the object has been modified; please apply your changes to the latest version and try again\n',
    });
    expect(api.lease('leader')!.metadata.resourceVersion).toBe(applied.stdout);
    expect(api.lease('leader')!.spec.holderIdentity).toBe('pod-2');

    // Without a resourceVersion a patch is unconditional; one that changes nothing keeps the resourceVersion.
    expect(await kubectl('leader', ['patch', 'lease', 'leader', '--type=merge', '-p', '{"spec":{"holderIdentity":"pod-2"}}']))
      .toEqual({ code: 0, stdout: 'lease.coordination.k8s.io/leader patched (no change)\n', stderr: '' });
    expect(api.lease('leader')!.metadata.resourceVersion).toBe(applied.stdout);
  });

  test('a watch of one Lease prints it now and at every change, nothing while its pod is cut off, until its request times out; it needs watch on the name', async () => {
    const watcher = fakePod('watcher-0', {});
    const watching = standIn(new Manifests(role('watcher', [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['watched'], verbs: ['get', 'watch'] },
    ])), [watcher], { w: { account: 'watcher', pod: 'watcher-0' } });
    await watching.api.listen();
    try {
      await watching.api.admin(['create', '-f', '-'], LEASE('watched', { 'postgres.cdk8s.io/epoch': '1' }));
      const epoch = (value: string) => watching.api.admin(['patch', 'lease', 'watched', '--type=merge', '-p',
        JSON.stringify({ metadata: { annotations: { 'postgres.cdk8s.io/epoch': value } } })]);
      const args = ['get', 'lease', 'watched', '--watch', '-o', 'jsonpath={.metadata.annotations.postgres\\.cdk8s\\.io/epoch}{"\\n"}'];
      const open = watch(watching.socket, 'w', [...args, '--request-timeout=0']);
      await waitFor('the Lease as it is', () => open.text === '1\n', 5_000, 10);
      await epoch('2');
      await waitFor('the change', () => open.text === '1\n2\n', 5_000, 10);
      watcher.apiCutOff = true;
      await epoch('3');
      await new Promise(resolve => setTimeout(resolve, 200));
      expect(open.text).toBe('1\n2\n');
      watcher.apiCutOff = false;
      await epoch('4');
      await waitFor('the next change once it can be reached again', () => open.text === '1\n2\n4\n', 5_000, 10);
      expect(open.ended).toBe(false);
      open.close();

      const timed = watch(watching.socket, 'w', [...args, '--request-timeout=300ms']);
      await waitFor('the watch to end with its request', () => timed.ended, 5_000, 10);
      expect(timed.text).toBe('4\n');
      expect(await kubectl('leader', ['get', 'lease', 'leader', '--watch'])).toEqual({
        code: 1,
        stdout: '',
        stderr: 'Error from server (Forbidden): leases.coordination.k8s.io "leader" is forbidden: User '
          + '"system:serviceaccount:default:leader" cannot watch resource "leases" in API group "coordination.k8s.io" in the namespace "default"\n',
      });
    } finally {
      watching.api.close();
    }
  });

  test('replace -f - holds to the same precondition; one counter orders every write', async () => {
    const current = api.lease('leader')!;
    const stale = { ...current, metadata: { ...current.metadata, resourceVersion: '1' }, spec: { holderIdentity: 'x' } };
    expect((await kubectl('leader', ['replace', '-f', '-'], JSON.stringify(stale))).stderr).toBe(
      'Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on leases.coordination.k8s.io "leader": '
      + 'the object has been modified; please apply your changes to the latest version and try again\n');
    const fresh = { ...current, spec: { holderIdentity: 'pod-9', leaseDurationSeconds: 15 } };
    expect(await kubectl('leader', ['replace', '-f', '-'], stringify(fresh))).toMatchObject({ code: 0, stdout: 'lease.coordination.k8s.io/leader replaced\n' });
    expect(api.lease('leader')!.spec).toEqual({ holderIdentity: 'pod-9', leaseDurationSeconds: 15 });
    expect(await api.admin(['create', '-f', '-'], LEASE('other'))).toMatchObject({ code: 0 });
    expect(Number(api.lease('other')!.metadata.resourceVersion)).toBeGreaterThan(Number(api.lease('leader')!.metadata.resourceVersion));
    expect(await api.admin(['delete', 'lease', 'other'])).toEqual({ code: 0, stdout: 'lease.coordination.k8s.io "other" deleted\n', stderr: '' });
    expect(api.lease('other')).toBeUndefined();
  });

  test('the server checks what it decodes: MicroTime has six fractional digits, annotations are strings, unknown fields', async () => {
    const withSpec = (spec: object) => JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'timed' }, spec });
    expect((await api.admin(['create', '-f', '-'], withSpec({ renewTime: '2024-01-01T00:00:00Z' }))).stderr).toBe(
      'Error from server (BadRequest): error when creating "STDIN": Lease in version "v1" cannot be handled as a Lease: '
      + 'parsing time "2024-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"\n');
    expect((await api.admin(['create', '-f', '-'], withSpec({ leaseDurationSeconds: '15' }))).stderr).toContain('cannot unmarshal string');
    expect((await api.admin(['create', '-f', '-'], withSpec({ holder: 'x' }))).stderr).toContain('strict decoding error: unknown field "spec.holder"');
    expect(await api.admin(['create', '-f', '-'], withSpec({ renewTime: '2024-01-01T00:00:00.000000Z', leaseDurationSeconds: 15 }))).toMatchObject({ code: 0 });
    expect((await api.admin(['patch', 'lease', 'timed', '--type=merge', '-p', '{"metadata":{"annotations":{"epoch":4}}}'])).stderr)
      .toContain('cannot unmarshal number into Go struct field Lease.metadata.annotations of type string');
  });

  test('RBAC: create needs a rule without resourceNames; the rest needs the name listed; API groups count', async () => {
    const forbidden = (verb: string, name?: string) => 'Error from server (Forbidden): '
      + `${verb === 'create' ? 'error when creating "STDIN": ' : ''}leases.coordination.k8s.io${name ? ` "${name}"` : ''} is forbidden: `;
    expect((await kubectl('named', ['create', '-f', '-'], LEASE('leader'))).stderr).toBe(`${forbidden('create')}User "system:serviceaccount:default:named-only" `
      + 'cannot create resource "leases" in API group "coordination.k8s.io" in the namespace "default"\n');
    expect((await kubectl('named', ['get', 'leases'])).stderr).toContain('cannot list resource "leases"');
    expect((await kubectl('leader', ['get', 'lease', 'other-lease'])).stderr).toContain(`${forbidden('get', 'other-lease')}User`);
    expect((await kubectl('leader', ['patch', 'lease', 'other-lease', '--type=merge', '-p', '{}'])).stderr).toContain('cannot patch resource "leases"');
    expect((await kubectl('wrong', ['get', 'lease', 'leader'])).stderr).toContain('cannot get resource "leases" in API group "coordination.k8s.io"');
    expect(await kubectl('leader', ['create', '-f', '-'], LEASE('another'))).toMatchObject({ code: 0 });
  });
});

describe('pods as the API reports them, and partitions', () => {
  const manifests = new Manifests([
    ...role('failover', [
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods'], resourceNames: ['db-0', 'db-1'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/exec'], resourceNames: ['db-0', 'db-1'], verbs: ['create'] },
    ]),
  ]);
  const job = { 'app': 'db', 'job-name': 'failover-1' };
  const pods: Fake[] = [
    fakePod('db-0', { app: 'db' }), fakePod('db-1', { app: 'db' }),
    fakePod('failover-1-abcde', job, 'Failed'), fakePod('failover-2-fghjk', { ...job, 'job-name': 'failover-2' }, 'Running'),
    fakePod('failover-3-lmnpq', { ...job, 'job-name': 'failover-3' }, 'Succeeded'),
  ];
  const { api, kubectl } = standIn(manifests, pods, { job: { account: 'failover', pod: 'failover-2-fghjk' }, db0: { account: 'failover', pod: 'db-0' } });

  beforeAll(() => api.listen());
  afterAll(() => api.close());

  test('field selectors on job pods, set-based label selectors, and lists as JSON or jsonpath', async () => {
    expect(await kubectl('job', ['get', 'pods', '-l', 'job-name', '--field-selector=status.phase=Running', '-o', 'name']))
      .toEqual({ code: 0, stdout: 'pod/failover-2-fghjk\n', stderr: '' });
    expect((await kubectl('job', ['get', 'pods', '-l', 'job-name', '--field-selector', 'status.phase!=Running', '-o', 'name'])).stdout)
      .toBe('pod/failover-1-abcde\npod/failover-3-lmnpq\n');
    expect((await kubectl('job', ['get', 'pods', '-l', 'app=db,job-name in (failover-1,failover-3)', '-o', 'jsonpath={.items[*].metadata.name}'])).stdout)
      .toBe('failover-1-abcde failover-3-lmnpq');
    expect((await kubectl('job', ['get', 'pods', '-l', '!job-name', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}'])).stdout).toBe('db-0\ndb-1\n');
    const list = JSON.parse((await kubectl('job', ['get', 'pods', '-l', 'app=nothing', '-o', 'json'])).stdout);
    expect(list).toEqual({ apiVersion: 'v1', kind: 'List', items: [], metadata: { resourceVersion: '' } });
    expect((await kubectl('job', ['get', 'pods', '--field-selector=spec.nodeName=x'])).stderr).toContain('field label not supported: spec.nodeName');
  });

  test('get pod NAME: jsonpath filters on container statuses, RBAC by name', async () => {
    expect(await kubectl('job', ['get', 'pod', 'db-0', '-o', 'jsonpath={.status.phase} {.status.containerStatuses[?(@.name=="postgres")].ready} '
      + '{.status.containerStatuses[?(@.name=="sidecar")].state.waiting.reason}'])).toEqual({ code: 0, stdout: 'Running true CrashLoopBackOff', stderr: '' });
    expect((await kubectl('job', ['get', 'pod', 'failover-1-abcde', '-o', 'json'])).stderr).toContain('cannot get resource "pods"');
  });

  test('exec into a completed pod fails as kubectl says; a failing command reports its exit code', async () => {
    pods[1] = { ...fakePod('db-1', { app: 'db' }), exec: async () => ({ code: 3, stdout: '', stderr: 'no\n' }) };
    expect(await kubectl('job', ['exec', 'db-1', '--', 'false'])).toEqual({
      code: 3, stdout: '', stderr: 'Defaulted container "postgres" out of: postgres, sidecar\nno\ncommand terminated with exit code 3\n',
    });
    expect(await api.admin(['exec', 'failover-1-abcde', '-c', 'postgres', '--', 'true'])).toEqual({
      code: 1, stdout: '', stderr: 'error: cannot exec into a container in a completed pod; current phase is Failed\n',
    });
  });

  test('a pod cut off from the API: its requests time out after --request-timeout (at most 2 s), and so do execs into it', async () => {
    pods[0].apiCutOff = true;
    try {
      let started = Date.now();
      expect(await kubectl('db0', ['get', 'pods', '-o', 'name'])).toEqual({
        code: 1, stdout: '', stderr: 'Unable to connect to the server: dial tcp 10.96.0.1:443: i/o timeout\n',
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(UNREACHABLE_TIMEOUT_MS - 50);
      started = Date.now();
      expect((await kubectl('db0', ['get', 'pods', '--request-timeout', '300ms'])).code).toBe(1);
      expect(Date.now() - started).toBeLessThan(1_000);
      started = Date.now();
      expect(await kubectl('job', ['exec', 'db-0', '-c', 'postgres', '--request-timeout=0.5s', '--', 'true'])).toEqual({
        code: 1, stdout: '', stderr: 'error: unable to upgrade connection: error dialing backend: dial tcp 198.18.1.99:10250: i/o timeout\n',
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      // The API server still answers others about it, as it last saw it.
      expect((await kubectl('job', ['get', 'pod', 'db-0', '-o', 'jsonpath={.status.phase}'])).stdout).toBe('Running');
    } finally {
      pods[0].apiCutOff = false;
    }
    expect(await kubectl('db0', ['get', 'pods', '-l', 'job-name=failover-3', '-o', 'name'])).toMatchObject({ code: 0, stdout: 'pod/failover-3-lmnpq\n' });
  });
});

/**
 * The pod spec features the harness runs, on real processes, with a small manifest of its own:
 * Parallel pod management, an init container that copies kubectl into an emptyDir (retried once it
 * fails), a sidecar of the postgres image that runs that copy with a projected token, emptyDir mode
 * and sharing, partitions, and jobs run side by side.
 */
describe('the harness runs pods as their spec says', () => {
  let cluster: E2eCluster;
  const manifest = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'harness-fixture-')), 'fixture.k8s.yaml');
  const labels = { app: 'demo' };
  const emptyDirMount = { name: 'run', mountPath: '/var/run/postgresql' };
  const objects: object[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'demo' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'demo-job' } },
    ...role('demo', [
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['demo-leader'], verbs: ['get', 'patch'] },
    ]),
    ...role('demo-job', [
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods'], resourceNames: ['demo-0', 'demo-1'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/exec'], resourceNames: ['demo-0', 'demo-1'], verbs: ['create'] },
    ]),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'demo-headless' }, spec: { clusterIP: 'None', selector: labels, ports: [{ port: 5432 }] } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'demo-write' }, spec: { selector: { ...labels, role: 'primary' }, ports: [{ port: 5432, targetPort: 5432 }] } },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'demo' },
      spec: {
        podManagementPolicy: 'Parallel',
        replicas: 2,
        serviceName: 'demo-headless',
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            shareProcessNamespace: true,
            serviceAccountName: 'demo',
            securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true },
            initContainers: [{
              name: 'tools',
              image: 'docker.io/alpine/k8s:1.27.15',
              volumeMounts: [{ name: 'tools', mountPath: '/tools' }],
              // Fails its first run, to be tried again.
              command: ['/bin/sh', '-c', 'if [ ! -e /tools/tried ]; then touch /tools/tried; exit 1; fi; cp "$(command -v kubectl)" /tools/kubectl'],
            }],
            containers: [
              {
                name: 'main',
                image: 'postgres:15',
                volumeMounts: [emptyDirMount],
                command: ['bash', '-c', 'sleep 2; echo "$HOSTNAME" > /var/run/postgresql/marker; exec sleep 3600'],
                readinessProbe: { exec: { command: ['test', '-e', '/var/run/postgresql/marker'] }, periodSeconds: 1 },
              },
              {
                name: 'agent',
                image: 'postgres:15',
                command: ['sleep', '3600'],
                volumeMounts: [emptyDirMount, { name: 'tools', mountPath: '/tools' },
                  { name: 'api-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
              },
            ],
            volumes: [
              { name: 'run', emptyDir: {} },
              { name: 'tools', emptyDir: { medium: 'Memory' } },
              {
                name: 'api-token',
                projected: {
                  sources: [
                    { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
                    { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                    { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
                  ],
                },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'demo-job' },
      spec: {
        schedule: '0 0 31 2 *',
        suspend: true,
        jobTemplate: {
          spec: {
            backoffLimit: 0,
            activeDeadlineSeconds: 60,
            template: {
              metadata: { labels: { app: 'demo-job' } },
              spec: {
                restartPolicy: 'Never',
                enableServiceLinks: false,
                serviceAccountName: 'demo-job',
                securityContext: { runAsUser: 999, runAsGroup: 999 },
                containers: [{
                  name: 'job',
                  image: 'docker.io/alpine/k8s:1.27.15',
                  env: [{ name: 'SLEEP', value: '0' }, { name: 'EXIT', value: '0' }],
                  command: ['bash', '-c', 'echo "pod=$HOSTNAME"; sleep "$SLEEP"; kubectl get pods -l app=demo-job --field-selector=status.phase=Running -o name; exit "$EXIT"'],
                }],
              },
            },
          },
        },
      },
    },
  ];

  /** Runs kubectl in a pod's container, as its scripts would (the container's user, environment and mounts). */
  const kubectlIn = (pod: string, container: string, command: string) => cluster.pod(pod).container(container).exec(['bash', '-c', command], 20_000);
  const timed = async <T>(what: () => Promise<T>): Promise<[T, number]> => {
    const started = Date.now();
    const result = await what();
    return [result, Date.now() - started];
  };

  beforeAll(async () => {
    fs.writeFileSync(manifest, objects.map(o => stringify(o)).join('---\n'));
    cluster = await E2eCluster.start({ manifest });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('Parallel: both pods start at once; the init container ran to success (after a retry) before the containers', async () => {
    const starts = ['demo-0', 'demo-1'].map(p => Date.parse(cluster.pod(p).toObject('default').status.startTime));
    expect(Math.abs(starts[0] - starts[1])).toBeLessThanOrEqual(1_000);
    const status = JSON.parse((await cluster.kubectl(['get', 'pod', 'demo-0', '-o', 'json'])).stdout).status;
    expect(status).toMatchObject({ phase: 'Running', podIP: cluster.pod('demo-0').ip });
    expect(status.initContainerStatuses[0]).toMatchObject({ name: 'tools', restartCount: 1, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    expect(status.containerStatuses.map((c: any) => [c.name, c.ready, Object.keys(c.state)[0]])).toEqual([['main', true, 'running'], ['agent', true, 'running']]);
    expect(cluster.diagnostics()).toContain('==== demo-0/tools (restarts: 1)');
  });

  test('an emptyDir is shared, world-writable (set-gid for the fsGroup) and wins over the image\'s own directory', async () => {
    expect((await kubectlIn('demo-0', 'agent', 'cat /var/run/postgresql/marker; stat -c %a /var/run/postgresql')).stdout).toBe('demo-0\n2777\n');
  });

  test('the projected token is in the container that mounts it only, and the copied kubectl uses it', async () => {
    expect((await kubectlIn('demo-0', 'main', 'cat /var/run/secrets/kubernetes.io/serviceaccount/token')).code).not.toBe(0);
    expect((await kubectlIn('demo-0', 'agent', 'ls /var/run/secrets/kubernetes.io/serviceaccount; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace')).stdout)
      .toBe('ca.crt\nnamespace\ntoken\ndefault');
    const lease = JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'demo-leader' }, spec: { holderIdentity: 'demo-0' } });
    const created = await kubectlIn('demo-0', 'agent', `echo '${lease}' | /tools/kubectl create -f - -o 'jsonpath={.metadata.resourceVersion}'`);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(cluster.lease('demo-leader')).toMatchObject({ metadata: { resourceVersion: created.stdout }, spec: { holderIdentity: 'demo-0' } });
    expect((await kubectlIn('demo-1', 'agent', '/tools/kubectl get lease demo-leader -o jsonpath={.spec.holderIdentity}')).stdout).toBe('demo-0');
  });

  test('cut off from the API: the pod\'s kubectl times out, execs into it too, and the API still reports it Running and ready', async () => {
    const cut: CutOffOptions = { api: true };
    await cluster.cutOff('demo-0', cut);
    try {
      const [result, ms] = await timed(() => kubectlIn('demo-0', 'agent', '/tools/kubectl get lease demo-leader --request-timeout=2s'));
      expect(result).toMatchObject({ code: 1, stderr: 'Unable to connect to the server: dial tcp 10.96.0.1:443: i/o timeout\n' });
      expect(ms).toBeGreaterThanOrEqual(1_900);
      expect((await kubectlIn('demo-1', 'agent', '/tools/kubectl get lease demo-leader -o name')).stdout).toBe('lease.coordination.k8s.io/demo-leader\n');
      const exec = await cluster.kubectl(['exec', 'demo-0', '-c', 'main', '--request-timeout=1s', '--', 'true']);
      expect(exec.stderr).toMatch(/^error: unable to upgrade connection: .* i\/o timeout\n$/);
      expect((await cluster.kubectl(['get', 'pod', 'demo-0', '-o', 'jsonpath={.status.phase} {.status.conditions[?(@.type=="Ready")].status}'])).stdout)
        .toBe('Running True');
      expect(cluster.pod('demo-0').container('agent').running).toBe(true);
    } finally {
      await cluster.reconnect('demo-0');
    }
    expect(await kubectlIn('demo-0', 'agent', '/tools/kubectl get lease demo-leader -o name')).toMatchObject({ code: 0 });
  });

  test('cut off from the network: peers time out instead of being refused, the processes run on, and reconnect ends it', async () => {
    const probe = `timeout 3 bash -c 'echo > /dev/tcp/${cluster.pod('demo-1').ip}/5432' 2>&1; echo "exit=$?"`;
    expect((await kubectlIn('demo-0', 'agent', probe)).stdout).toContain('Connection refused');
    await cluster.cutOff('demo-1', { network: true });
    try {
      const [cut, ms] = await timed(() => kubectlIn('demo-0', 'agent', probe));
      expect(cut.stdout).not.toContain('Connection refused');
      expect(ms).toBeGreaterThanOrEqual(2_500);
      expect(cluster.pod('demo-1').container('main').running).toBe(true);
      // The API still reaches it: only its network is cut.
      expect((await kubectlIn('demo-1', 'agent', '/tools/kubectl get lease demo-leader -o name')).code).toBe(0);
    } finally {
      await cluster.reconnect('demo-1');
    }
    await waitFor('demo-1 to be reachable again', async () => (await kubectlIn('demo-0', 'agent', probe)).stdout.includes('Connection refused'), 15_000, 500);
  });

  test('jobs run side by side with unique pod names; a killed one is Failed; field selectors see their phases', async () => {
    const long = cluster.startJob('demo-job', { SLEEP: '30' });
    const short = cluster.startJob('demo-job', { SLEEP: '1' });
    expect(long.pod).toMatch(/^demo-job-\d+-[a-z0-9]{5}$/);
    expect(short.name).not.toBe(long.name);
    const done = await short.finished;
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`pod=${short.pod}\n`);
    // Both were running when the short one listed them.
    expect(done.stdout).toContain(`pod/${long.pod}\npod/${short.pod}\n`);
    await long.kill();
    expect((await long.finished).code).toBe(137);
    const phase = async (pod: string) => (await cluster.kubectl(['get', 'pod', pod, '-o', 'jsonpath={.status.phase}'])).stdout;
    expect([await phase(long.pod), await phase(short.pod)]).toEqual(['Failed', 'Succeeded']);
    expect((await cluster.runJob('demo-job', { EXIT: '3' })).code).toBe(3);
    const running = await cluster.kubectl(['get', 'pods', '-l', 'app=demo-job', '--field-selector', 'status.phase=Running', '-o', 'name']);
    expect(running).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('a killed pod starts again: init containers run again and a Memory emptyDir starts empty', async () => {
    await cluster.killPod('demo-1');
    expect((await cluster.kubectl(['get', 'pod', 'demo-1', '-o', 'jsonpath={.status.containerStatuses[0].state.terminated.exitCode}'])).stdout).toBe('137');
    cluster.startPod('demo-1');
    await cluster.waitForPods(2, 30_000);
    // The Memory emptyDir lost the first run's mark, so the init container failed once more.
    expect(cluster.pod('demo-1').initContainers[0].restarts).toBe(2);
    expect((await kubectlIn('demo-1', 'agent', '/tools/kubectl get lease demo-leader -o name')).code).toBe(0);
  });
});
