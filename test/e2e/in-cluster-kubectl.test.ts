import { E2eCluster, JobRun } from './harness/cluster';
import { waitFor } from './harness/exec';
import { KUBECTL_VERSION } from './harness/kubectl';
import { DIST_MANIFEST, POD, synthesizeToFile, valuesOn, Writer } from './support';
import { PATHS } from '../../src/private/names';

jest.setTimeout(180_000);

/**
 * Every form of kubectl call the scripts make, run in an archive backup job's pod (the image and service account of
 * the job, which with the secrets init container is what still runs kubectl: the sidecar and the failover job are the
 * agent, which talks to the API itself) with the real kubectl binary (the version of the default kubectl image) through
 * the in-cluster configuration alone: the pod's ServiceAccount token and CA, and KUBERNETES_SERVICE_HOST/PORT, as the
 * kubelet sets them. No kubeconfig, no flag beyond what the scripts pass. A flag that makes kubectl ignore the
 * in-cluster configuration (as --request-timeout does) fails these tests. (The agent's API client:
 * test/agent/kube.test.ts, test/agent/kube-exec.test.ts and the whole e2e suite.)
 */
describe('kubectl in the pods reaches the API through the in-cluster configuration alone', () => {
  let cluster: E2eCluster;
  let probe: JobRun;
  const job = (script: string) => cluster.pod(probe.pod).container('backup').exec(['bash', '-c',
    `set -euo pipefail; source ${PATHS.scriptsDir}/common.sh; source ${PATHS.scriptsDir}/leader-record.sh; ${script}`], 30_000);

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: synthesizeToFile({ image: 'localhost/postgres-pgbackrest:15', walArchive: {}, replicas: 2 }), replicas: 2 });
    // An archive backup job's pod that waits: the tests run the scripts' calls in it.
    probe = cluster.startJob('postgres-archive-full', {}, ['sleep', '600']);
    await waitFor('the probe job to run', () => cluster.pod(probe.pod).phase === 'running', 30_000, 100);
  });

  afterAll(async () => {
    await probe?.kill();
    await cluster?.destroy();
  });

  test('the job\'s kubectl is the real one, with no kubeconfig: only the mounted token, CA and the Service variables', async () => {
    const found = await job(`"$KUBECTL" version --client -o json | grep -o '"gitVersion": "[^"]*"';
      ls /var/run/secrets/kubernetes.io/serviceaccount; echo "host=$KUBERNETES_SERVICE_HOST port=$KUBERNETES_SERVICE_PORT";
      ls "$HOME/.kube/config" 2>&1 || true; echo "KUBECONFIG=\${KUBECONFIG:-unset}"`);
    expect(found.stdout).toContain(`"gitVersion": "v${KUBECTL_VERSION}"`);
    expect(found.stdout).toContain('ca.crt\nnamespace\ntoken\n');
    expect(found.stdout).toContain('host=10.96.0.1 port=443\n');
    expect(found.stdout).toContain('No such file or directory');
    expect(found.stdout).toContain('KUBECONFIG=unset\n');
  });

  test('the leader record: read; another Lease, which its Role does not allow, is an error (Forbidden), never "not found"', async () => {
    const read = await job('record_read; echo "found=${R[found]} version=${R[version]} primary=${R[primary]}"');
    expect(read).toMatchObject({ code: 0 });
    expect(read.stdout).toMatch(new RegExp(`^found=yes version=\\d+ primary=${POD(0)}\\n$`));
    // Its Role reads this one Lease only: another is Forbidden, which is not "not found".
    const other = await job('status=0; LEADER_RECORD=other-leader; record_read || status=$?; echo "status=$status found=${R[found]:-} $RECORD_ERROR"');
    expect(other.stdout).toMatch(/^status=1 found= .*Forbidden/);
  });

  test('an exec into the recorded primary\'s postgres container, as the backup runs pgBackRest there', async () => {
    const ran = await job(`"$KUBECTL" exec ${POD(0)} -c postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()'`);
    expect(ran).toMatchObject({ code: 0, stdout: 'f\n' });
  });

  test('a run of the archive backup job: no localhost:8080, the backup made on the primary', async () => {
    const run = await cluster.runJob('postgres-archive-full');
    expect(run.stdout).not.toContain('localhost:8080');
    expect(run.stdout).toContain(`full backup of stanza postgres on the primary, ${POD(0)}`);
    expect(run.code).toBe(0);
  });

  test('a call that bounds itself with --request-timeout ignores the in-cluster configuration (the reason the scripts use timeout)', async () => {
    const flagged = await job('"$KUBECTL" get lease "$LEADER_RECORD" --request-timeout=2s -o name 2>&1 || true');
    expect(flagged.stdout).toContain('localhost:8080');
    const bounded = await job('kubectl_bounded get lease "$LEADER_RECORD" -o name');
    expect(bounded).toMatchObject({ code: 0, stdout: 'lease.coordination.k8s.io/postgres-leader\n' });
  });

  test('an API server that does not answer: the bounded call gives up after API_TIMEOUT and says so', async () => {
    await cluster.cutOff(probe.pod, { api: true });
    try {
      const started = Date.now();
      const lost = await job('status=0; API_TIMEOUT=1s kubectl_bounded get lease "$LEADER_RECORD" -o name 2>&1 || status=$?; echo "status=$status"');
      expect(lost.stdout).toContain('kubectl get: no answer from the API server within 1s\nstatus=124\n');
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    } finally {
      await cluster.reconnect(probe.pod);
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
