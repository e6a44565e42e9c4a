import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { DIST_MANIFEST, expectOnlyPrimary, POD, step, synthesizeToFile, waitForStreaming } from './support';

jest.setTimeout(240_000);

const PODS = [POD(0), POD(1), POD(2)];
const SSL_SQL = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

/** Replication connections to the primary that run over TLS. */
async function encryptedStreams(cluster: E2eCluster, primary: string): Promise<string> {
  return cluster.podSql(primary, "SELECT string_agg(application_name, ',' ORDER BY application_name) FROM pg_stat_replication JOIN pg_stat_ssl USING (pid) WHERE ssl");
}

describe('TLS of the default cluster (dist/): each pod makes its own certificate', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('clients and replicas connect over TLS; each pod has a certificate of its own names, kept over restarts', () => step(cluster, async () => {
    expect(await cluster.sql('postgres-write', SSL_SQL, { conninfo: 'sslmode=require' })).toMatchObject({ code: 0, stdout: 't\n' });
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
    expect(await encryptedStreams(cluster, POD(0))).toBe(`${POD(1)},${POD(2)}`);
    const certificate = async (pod: string) => (await cluster.pod(pod).container('postgres').exec(['bash', '-c',
      'openssl x509 -in /var/lib/postgresql/data/tls/server.crt -noout -subject -ext subjectAltName -fingerprint'], 10_000)).stdout;
    const before = await Promise.all(PODS.map(certificate));
    for (const [i, text] of before.entries()) {
      expect(text).toContain(`CN = ${POD(i)}.postgres-headless`);
      expect(text).toContain(`DNS:${POD(i)}.postgres-headless, DNS:${POD(i)}, DNS:postgres-write`);
    }
    // Clients without TLS still get in (requireTls is off by default).
    expect(await cluster.sql('postgres-write', SSL_SQL, { conninfo: 'sslmode=disable' })).toMatchObject({ code: 0, stdout: 'f\n' });
    await cluster.stopPod(POD(1));
    cluster.startPod(POD(1));
    await expectOnlyPrimary(cluster, POD(0), PODS, 60_000);
    expect(await certificate(POD(1))).toBe(before[1]);
    await waitFor('pod 1 streaming over TLS again', async () => (await encryptedStreams(cluster, POD(0))) === `${POD(1)},${POD(2)}`, 30_000, 250);
  }));
});

describe('TLS with your certificate (tlsSecretName) and requireTls', () => {
  let cluster: E2eCluster;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-e2e-tls-'));
  const crt = path.join(scratch, 'tls.crt');

  beforeAll(async () => {
    // A certificate for the Services' and the pods' names, as cert-manager would keep it in a kubernetes.io/tls Secret.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=postgres-write',
      '-addext', 'subjectAltName=DNS:postgres-write,DNS:postgres-read,DNS:*.postgres-headless',
      '-keyout', path.join(scratch, 'tls.key'), '-out', crt], { stdio: 'ignore' });
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'postgres-tls' },
      data: { 'tls.crt': fs.readFileSync(crt).toString('base64'), 'tls.key': fs.readFileSync(path.join(scratch, 'tls.key')).toString('base64') },
    };
    const manifest = synthesizeToFile({ requireTls: true, tlsSecretName: 'postgres-tls' });
    fs.appendFileSync(manifest, `---\n${JSON.stringify(secret)}\n`);
    cluster = await E2eCluster.start({ manifest });
  });

  afterAll(async () => {
    await cluster?.destroy();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('the pods serve the given certificate, which a client verifies; a client without TLS is refused', () => step(cluster, async () => {
    fs.chmodSync(scratch, 0o755);
    const verified = await cluster.sql('postgres-write', SSL_SQL, { conninfo: `sslmode=verify-full sslrootcert=${crt}` });
    expect([verified.code, verified.stdout, verified.stderr]).toEqual([0, 't\n', '']);
    const plain = await cluster.sql('postgres-write', 'SELECT 1', { conninfo: 'sslmode=disable' });
    expect(plain.stderr).toMatch(/pg_hba.conf rejects connection for host .* user "app", database "myapp", no encryption/);
    await waitForStreaming(cluster, POD(0), [POD(1), POD(2)]);
    expect(await encryptedStreams(cluster, POD(0))).toBe(`${POD(1)},${POD(2)}`);
    // A switchover: the old primary rewinds over TLS, and every replica streams from the new one over TLS.
    expect((await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(2) })).code).toBe(0);
    await expectOnlyPrimary(cluster, POD(2), PODS, 60_000);
    await waitForStreaming(cluster, POD(2), [POD(0), POD(1)], 60_000);
    expect(await encryptedStreams(cluster, POD(2))).toBe(`${POD(0)},${POD(1)}`);
  }));

  test('a renewed certificate in the Secret (as cert-manager renews it) is served without a restart', () => step(cluster, async () => {
    const renewed = path.join(scratch, 'renewed.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=renewed',
      '-addext', 'subjectAltName=DNS:postgres-write,DNS:postgres-read,DNS:*.postgres-headless',
      '-keyout', path.join(scratch, 'renewed.key'), '-out', renewed], { stdio: 'ignore' });
    const marks = PODS.map(p => cluster.pod(p).logMark('role-labeler'));
    const restarts = () => PODS.map(p => cluster.pod(p).container('postgres').restarts);
    const restartsBefore = restarts();
    cluster.updateSecret('postgres-tls', { 'tls.crt': fs.readFileSync(renewed, 'utf8'), 'tls.key': fs.readFileSync(path.join(scratch, 'renewed.key'), 'utf8') });
    await waitFor('every pod to reload its renewed certificate', () =>
      PODS.every((p, i) => cluster.pod(p).logSince(marks[i], 'role-labeler').includes('PostgreSQL reloaded it')), 30_000, 250);
    const verified = await cluster.sql('postgres-write', SSL_SQL, { conninfo: `sslmode=verify-full sslrootcert=${renewed}` });
    expect([verified.code, verified.stdout, verified.stderr]).toEqual([0, 't\n', '']);
    const old = await cluster.sql('postgres-write', SSL_SQL, { conninfo: `sslmode=verify-full sslrootcert=${crt}` });
    expect(old.stderr).toContain('certificate verify failed');
    expect(restarts()).toEqual(restartsBefore);
  }));
});
