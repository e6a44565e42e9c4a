import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { KUBECTL_VERSION } from './harness/kubectl';
import { DIST_MANIFEST, POD, valuesOn, Writer } from './support';
import { PATHS } from '../../src/private/names';

jest.setTimeout(180_000);

/**
 * Every form of kubectl call the scripts make, run in the pods with the real kubectl binary (the version of the default
 * kubectl image) through the in-cluster configuration alone: the pod's ServiceAccount token and CA, and
 * KUBERNETES_SERVICE_HOST/PORT, as the kubelet sets them. No kubeconfig, no flag beyond what the scripts pass. A flag
 * that makes kubectl ignore the in-cluster configuration (as --request-timeout does) fails these tests.
 */
describe('kubectl in the pods reaches the API through the in-cluster configuration alone', () => {
  let cluster: E2eCluster;
  const sidecar = (script: string) => cluster.pod(POD(0)).container('role-labeler').exec(['bash', '-c',
    `set -euo pipefail; source ${PATHS.scriptsDir}/common.sh; source ${PATHS.scriptsDir}/leader-record.sh; ${script}`], 30_000);

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST, replicas: 2 });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('the sidecar\'s kubectl is the real one, with no kubeconfig: only the mounted token, CA and the Service variables', async () => {
    const found = await sidecar(`"$KUBECTL" version --client -o json | grep -o '"gitVersion": "[^"]*"';
      ls /var/run/secrets/kubernetes.io/serviceaccount; echo "host=$KUBERNETES_SERVICE_HOST port=$KUBERNETES_SERVICE_PORT";
      ls "$HOME/.kube/config" 2>&1 || true; echo "KUBECONFIG=\${KUBECONFIG:-unset}"`);
    expect(found.stdout).toContain(`"gitVersion": "v${KUBECTL_VERSION}"`);
    expect(found.stdout).toContain('ca.crt\nnamespace\ntoken\n');
    expect(found.stdout).toContain('host=10.96.0.1 port=443\n');
    expect(found.stdout).toContain('No such file or directory');
    expect(found.stdout).toContain('KUBECONFIG=unset\n');
  });

  test('the leader record: read, compare-and-swap update, create, and a watch that prints each change', async () => {
    const read = await sidecar('record_read; echo "found=${R[found]} version=${R[version]} primary=${R[primary]}"');
    expect(read).toMatchObject({ code: 0 });
    expect(read.stdout).toMatch(new RegExp(`^found=yes version=\\d+ primary=${POD(0)}\\n$`));
    // The same value again: a merge patch that carries the resourceVersion, and changes nothing.
    const update = await sidecar('record_read; record_update "epoch=${R[epoch]}"; echo "updated version=${R[version]}"');
    expect(update).toMatchObject({ code: 0 });
    expect(update.stdout).toMatch(/^updated version=\d+\n$/);
    const stale = await sidecar('record_read; R[version]=1; status=0; record_update "epoch=${R[epoch]}" || status=$?; echo "status=$status $RECORD_ERROR"');
    expect(stale.stdout).toContain('status=2 Error from server (Conflict)');
    const create = await sidecar('LEADER_RECORD=in-cluster-probe; status=0; record_create state=stable || status=$?; echo "status=$status ${R[version]:-} $RECORD_ERROR"');
    expect(create.stdout).toMatch(/^status=0 \d+ \n$/);
    expect(cluster.lease('in-cluster-probe')).toBeDefined();
    const again = await sidecar('LEADER_RECORD=in-cluster-probe; status=0; record_create state=stable || status=$?; echo "status=$status"');
    expect(again.stdout).toBe('status=2\n');
    const watched = await sidecar(`(record_watch > /tmp/watch.out 2>&1 &); sleep 1.5; record_read; record_update "epoch=\${R[epoch]}" "checkpoint=probe";
      sleep 1.5; record_read; record_update "checkpoint="; sleep 1; pkill -f -- "get lease $LEADER_RECORD --watch" || true; cat /tmp/watch.out`);
    const lines = watched.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.every(line => /^\d+$/.test(line))).toBe(true);
  });

  test('labels of its own pod, the list of the cluster\'s pods, and the Secrets it reads', async () => {
    const labeled = await sidecar(`kubectl_bounded label pod "$POD_NAME" probe=yes --overwrite; kubectl_bounded get pods -l "$CLUSTER_SELECTOR" -o name;
      kubectl_bounded label pod "$POD_NAME" probe-`);
    expect(labeled).toMatchObject({ code: 0, stdout: `pod/${POD(0)} labeled\npod/${POD(0)}\npod/${POD(1)}\npod/${POD(0)} unlabeled\n` });
    const secret = await cluster.pod(POD(0)).container('role-labeler').exec(['bash', '-c',
      `source ${PATHS.scriptsDir}/common.sh; API_TIMEOUT=5s kubectl_bounded get secret postgres-secret -o name`], 30_000);
    expect(secret).toMatchObject({ code: 0, stdout: 'secret/postgres-secret\n' });
  });

  test('the failover job: its pod list with a field selector, its reads of pods, and its execs into the sidecars', async () => {
    const run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(1) });
    expect(run.stdout).not.toContain('localhost:8080');
    expect(run.code).toBe(0);
    expect(cluster.lease('postgres-leader')!.spec.holderIdentity).toBe(POD(1));
  });

  test('a call that bounds itself with --request-timeout ignores the in-cluster configuration (the reason the scripts use timeout)', async () => {
    const flagged = await sidecar('"$KUBECTL" get lease "$LEADER_RECORD" --request-timeout=2s -o name 2>&1 || true');
    expect(flagged.stdout).toContain('localhost:8080');
    const bounded = await sidecar('kubectl_bounded get lease "$LEADER_RECORD" -o name');
    expect(bounded).toMatchObject({ code: 0, stdout: 'lease.coordination.k8s.io/postgres-leader\n' });
  });

  test('an API server that does not answer: the bounded call gives up after API_TIMEOUT and says so', async () => {
    await cluster.cutOff(POD(0), { api: true });
    try {
      const started = Date.now();
      const lost = await sidecar('status=0; API_TIMEOUT=1s kubectl_bounded get lease "$LEADER_RECORD" -o name 2>&1 || status=$?; echo "status=$status"');
      expect(lost.stdout).toContain('kubectl get: no answer from the API server within 1s\nstatus=124\n');
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    } finally {
      await cluster.reconnect(POD(0));
    }
  });
});

/**
 * kube-apiserver ends every watch after a while (30 to 60 minutes; 1.5 s here): the sidecars watch the leader record
 * again each time, and still carry out a switchover at once.
 */
describe('watches that the API server ends', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST, replicas: 2, watchTimeoutMs: 1_500 });
    await cluster.sql('postgres-write', 'CREATE TABLE writes (v int PRIMARY KEY)');
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('each sidecar watches the record again after the server ends its watch; a switchover then loses no row', async () => {
    const before = [POD(0), POD(1)].map(p => cluster.watchCount(p));
    await waitFor('three more watches from each sidecar', () => [POD(0), POD(1)].every((p, i) => cluster.watchCount(p) >= before[i] + 3), 15_000, 100);
    const writer = new Writer(cluster, 'writes');
    writer.start();
    await waitFor('some writes', () => writer.acknowledged.length >= 10, 20_000);
    const run = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(1) });
    expect(run.code).toBe(0);
    await waitFor('writes on the new primary', () => writer.attempts.filter(a => a.ok && a.server === POD(1)).length >= 10, 20_000);
    await writer.stop();
    const rows = new Set(await valuesOn(cluster, POD(1), 'writes'));
    expect(writer.acknowledged.filter(v => !rows.has(v))).toEqual([]);
  });
});
