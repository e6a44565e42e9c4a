import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { ApiBackend, ApiStandIn } from './harness/api';
import { Manifests } from './harness/manifests';
import { Pod } from './harness/pod';
import { DIST_MANIFEST } from './support';

/**
 * The API stand-in authorizes with the Roles and RoleBindings of the synthesized YAML, so the e2e
 * tests would fail if the library's RBAC did not allow what its scripts do - and this shows that it
 * refuses what RBAC does not allow.
 */
describe('the kubectl stand-in enforces the synthesized RBAC', () => {
  const manifests = Manifests.fromFile(DIST_MANIFEST);
  const pod = { name: 'postgres-cluster-0', labels: { app: 'postgres' } } as unknown as Pod;
  const other = { name: 'billing-db-0', labels: { app: 'billing' } } as unknown as Pod;
  const tokens: Record<string, string> = { labeler: 'postgres-cluster', failover: 'postgres-failover', stranger: 'default' };
  const backend: ApiBackend = {
    namespace: 'default', manifests, livePods: () => [pod, other], accountOfToken: t => tokens[t], onLabelsChange: () => undefined,
  };
  const socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'api-')), 'api.sock');
  const api = new ApiStandIn(backend, socket);

  beforeAll(() => api.listen());
  afterAll(() => api.close());

  function kubectl(token: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const body = JSON.stringify({ token, namespace: 'default', args });
    return new Promise((resolve, reject) => {
      const request = http.request({ socketPath: socket, path: '/kubectl', method: 'POST' }, response => {
        let text = '';
        response.on('data', d => { text += d; });
        response.on('end', () => resolve(JSON.parse(text)));
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  test('the sidecar may label its cluster pods', async () => {
    expect(await kubectl('labeler', 'label', 'pod', 'postgres-cluster-0', 'role=primary', '--overwrite')).toMatchObject({ code: 0 });
    expect((pod.labels as Record<string, string>).role).toBe('primary');
  });

  test('the sidecar may not label pods of other applications, list pods, or exec', async () => {
    expect((await kubectl('labeler', 'label', 'pod', 'billing-db-0', 'role=primary')).stderr).toContain('Forbidden');
    expect((await kubectl('labeler', 'get', 'pods', '-l', 'app=postgres', '-o', 'name')).stderr).toContain('cannot list resource "pods"');
    expect((await kubectl('labeler', 'exec', 'postgres-cluster-0', '-c', 'postgres', '--', 'true')).stderr).toContain('cannot create resource "pods/exec"');
  });

  test('the failover job may list pods and exec into the cluster pods only', async () => {
    expect(await kubectl('failover', 'get', 'pods', '-l', 'app=postgres', '-o', 'name')).toMatchObject({ code: 0, stdout: 'pod/postgres-cluster-0\n' });
    expect((await kubectl('failover', 'exec', 'billing-db-0', '-c', 'postgres', '--', 'true')).stderr).toContain('Forbidden');
  });

  test('an unknown ServiceAccount or token gets nothing', async () => {
    expect((await kubectl('stranger', 'get', 'pods', '-l', 'app=postgres', '-o', 'name')).code).toBe(1);
    expect((await kubectl('forged', 'get', 'pods', '-o', 'name')).stderr).toContain('Unauthorized');
  });

  test('kubectl commands the stand-in does not know fail loudly', async () => {
    expect(await kubectl('failover', 'delete', 'pod', 'postgres-cluster-0')).toMatchObject({ code: 2 });
    expect((await kubectl('failover', 'get', 'pods', '--all-namespaces')).stderr).toContain('unsupported flag');
  });
});
