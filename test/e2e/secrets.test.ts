import * as fs from 'fs';
import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { DIST_MANIFEST, expectOnlyPrimary, POD, step, synthesizeToFile, waitForStreaming } from './support';

jest.setTimeout(240_000);

const PODS = [POD(0), POD(1), POD(2)];
const decoded = (secret: any): Record<string, string> =>
  Object.fromEntries(Object.entries<string>(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

/**
 * The default cluster's passwords: in no manifest, generated in the cluster by the pods' `secrets` init
 * container, never rewritten, applied to the running cluster when someone changes a Secret.
 */
describe('passwords of the default cluster (dist/): generated in the cluster, rotated by changing the Secret', () => {
  let cluster: E2eCluster;

  /** psql through a Service as a client with a password. */
  function login(host: string, user: string, password: string, sql = 'SELECT current_user, current_database()', database = 'myapp') {
    return cluster.sql(host, sql, { user, password, database });
  }

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('no password is in the YAML: one pod creates both Secrets with random passwords, the others keep them', () => step(cluster, async () => {
    expect(cluster.manifests.all('Secret')).toEqual([]);
    const secret = decoded(cluster.secret('postgres-secret'));
    const app = decoded(cluster.secret('postgres-app'));
    expect(Object.keys(secret).sort()).toEqual(['password', 'replication-password']);
    for (const password of [secret.password, secret['replication-password'], app.password]) expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(new Set([secret.password, secret['replication-password'], app.password]).size).toBe(3);
    expect(app).toEqual({
      username: 'app',
      password: app.password,
      dbname: 'myapp',
      host: 'postgres-write',
      port: '5432',
      uri: `postgresql://app:${app.password}@postgres-write:5432/myapp`,
    });
    expect(cluster.containerEnv('POSTGRES_PASSWORD')).toBe(secret.password);
    const logs = PODS.map(p => cluster.pod(p).logSince(0, 'secrets')).join('\n');
    expect(logs.match(/created Secret postgres-secret with generated passwords/g)).toHaveLength(1);
    expect(logs.match(/created Secret postgres-app with generated passwords/g)).toHaveLength(1);
  }));

  test('the application logs in through the write Service as its own role, which owns its database', () => step(cluster, async () => {
    const app = decoded(cluster.secret('postgres-app'));
    const who = await login('postgres-write', app.username, app.password,
      'SELECT current_user, current_database(), pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()');
    expect([who.code, who.stdout.trim(), who.stderr]).toEqual([0, 'app|myapp|app', '']);
    const write = await login('postgres-write', 'app', app.password, 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1)');
    expect(write).toMatchObject({ code: 0 });
    expect((await login('postgres-write', 'app', 'wrong')).stderr).toContain('password authentication failed for user "app"');
  }));

  test('the superuser cannot log in over the network, even with its password; the replication role can only replicate and read statistics',
    () => step(cluster, async () => {
      const secret = decoded(cluster.secret('postgres-secret'));
      for (const host of ['postgres-write', `${POD(1)}.postgres-headless`]) {
        const superuser = await login(host, 'postgres', secret.password);
        expect([host, superuser.code, superuser.stderr]).toEqual([host, 2, expect.stringContaining('pg_hba.conf rejects connection')]);
      }
      const replicator = await login('postgres-write', 'replicator', secret['replication-password'], 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user');
      expect([replicator.code, replicator.stdout.trim()]).toEqual([0, 'f']);
      expect((await login('postgres-write', 'replicator', secret['replication-password'], 'INSERT INTO orders VALUES (2)')).stderr)
        .toContain('permission denied for table orders');
    }));

  test('restarting every pod keeps the passwords: the Secrets are never rewritten', () => step(cluster, async () => {
    const before = { cluster: cluster.secret('postgres-secret'), app: cluster.secret('postgres-app') };
    await cluster.stopAll();
    cluster.startAll();
    await expectOnlyPrimary(cluster, POD(0), PODS, 60_000);
    expect([cluster.secret('postgres-secret'), cluster.secret('postgres-app')]).toEqual([before.cluster, before.app]);
    const app = decoded(before.app);
    expect(await login('postgres-write', 'app', app.password, 'SELECT count(*) FROM orders')).toMatchObject({ code: 0, stdout: '1\n' });
    const logs = PODS.map(p => cluster.pod(p).logSince(0, 'secrets')).join('\n');
    expect(logs).toContain('Secret postgres-secret exists: keeping its passwords');
  }));

  test('a password changed in the Secret is applied to the running cluster, without a restart', () => step(cluster, async () => {
    const app = decoded(cluster.secret('postgres-app'));
    const rotated = 'Rotated-app-password-1';
    cluster.updateSecret('postgres-app', { ...app, password: rotated });
    await waitFor('the rotated application password to work', async () =>
      (await login('postgres-write', 'app', rotated)).code === 0, 30_000, 250);
    expect((await login('postgres-write', 'app', app.password)).stderr).toContain('password authentication failed for user "app"');
    expect(cluster.pod(POD(0)).logSince(0, 'role-labeler')).toContain('applied the changed passwords of the Secrets to the roles postgres, replicator, app');
  }));

  test('a rotated replication password: replicas reconnect with it after a switchover, and the old primary rewinds with it', () => step(cluster, async () => {
    const secret = decoded(cluster.secret('postgres-secret'));
    const rotated = "Rotated'replication\\pass:1";
    cluster.updateSecret('postgres-secret', { ...secret, 'replication-password': rotated });
    await waitFor('every pod to rewrite its password file', () =>
      PODS.every(p => cluster.pod(p).logSince(0, 'role-labeler').includes('the Secret changed: rewrote this pod\'s password file')), 30_000, 250);
    await waitFor('the primary to apply it', async () =>
      (await login('postgres-write', 'replicator', rotated, 'SELECT 1', 'postgres')).code === 0, 30_000, 250);
    expect((await login('postgres-write', 'replicator', secret['replication-password'], 'SELECT 1', 'postgres')).stderr)
      .toContain('password authentication failed for user "replicator"');
    const job = await cluster.runJob('postgres-failover', { FAILOVER_TARGET: POD(1) });
    expect(job.code).toBe(0);
    await expectOnlyPrimary(cluster, POD(1), PODS, 60_000);
    await waitForStreaming(cluster, POD(1), [POD(0), POD(2)], 60_000);
    // Never on a command line, never in postgresql.auto.conf: only the password file (in memory) and the Secret hold it.
    for (const pod of PODS) {
      // The password reaches grep as a file (base64 on the command line): grep's own arguments must not hold it.
      const leaks = await cluster.pod(pod).container('postgres').exec(['bash', '-c',
        'grep -l -F -f <(printf %s "$1" | base64 -d) /proc/[0-9]*/cmdline "$PGDATA/postgresql.auto.conf" 2>/dev/null || true',
        'leaks', Buffer.from(rotated).toString('base64')], 10_000);
      expect([pod, leaks.stdout.trim()]).toEqual([pod, '']);
    }
  }));
});

describe('your own cluster Secret (existingSecretName) beside a generated application Secret', () => {
  let cluster: E2eCluster;

  beforeAll(async () => {
    const manifest = synthesizeToFile({ existingSecretName: 'vault-postgres', replicas: 2 });
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vault-postgres' }, stringData: { 'password': 'from-vault-1', 'replication-password': 'from-vault-2' } };
    fs.appendFileSync(manifest, `---\n${JSON.stringify(secret)}\n`);
    cluster = await E2eCluster.start({ manifest });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('the pods use your Secret as it is, and generate only the application\'s', () => step(cluster, async () => {
    expect(decoded(cluster.secret('vault-postgres'))).toEqual({ 'password': 'from-vault-1', 'replication-password': 'from-vault-2' });
    expect(cluster.findSecret('postgres-secret')).toBeUndefined();
    const app = decoded(cluster.secret('postgres-app'));
    expect(app.password).toMatch(/^[A-Za-z0-9]{32}$/);
    await waitForStreaming(cluster, POD(0), [POD(1)]);
    expect(await cluster.sql('postgres-write', 'SELECT current_user', { user: 'app', password: app.password })).toMatchObject({ code: 0, stdout: 'app\n' });
    expect(await cluster.sql('postgres-write', 'SELECT 1', { user: 'replicator', password: 'from-vault-2', database: 'postgres' })).toMatchObject({ code: 0 });
  }));
});
