import { E2eCluster } from './harness/cluster';
import { waitFor } from './harness/exec';
import { DIST_MANIFEST, isPrimary, POD, step, synthesizeToFile, waitForStreaming } from './support';

jest.setTimeout(600_000);

const ROWS = "SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(note, ',' ORDER BY id), '')) FROM orders";

/** `kubectl exec` into a pod's postgres container, as the README's commands do; the command's stdout, or an error with its stderr. */
async function exec(cluster: E2eCluster, pod: string, command: string[], stdin?: string): Promise<string> {
  const result = await cluster.kubectl(['exec', ...(stdin === undefined ? [] : ['-i']), pod, '-c', 'postgres', '--', ...command], stdin);
  if (result.code !== 0) throw new Error(`kubectl exec ${pod} -- ${command.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/** The README's `kubectl get pod -l app.kubernetes.io/instance=<cluster>,role=primary -o name`: one pod. */
async function primaryOf(cluster: E2eCluster, clusterName: string): Promise<string> {
  const result = await cluster.kubectl(['get', 'pod', '-l', `app.kubernetes.io/instance=${clusterName},role=primary`, '-o', 'name']);
  const pods = result.stdout.trim().split(/\s+/).filter(Boolean);
  if (result.code !== 0 || pods.length !== 1) throw new Error(`one pod labelled role=primary expected: ${result.stdout}${result.stderr}`);
  return pods[0];
}

/**
 * A major-version upgrade as the README documents it (Major-version upgrades): a new cluster of the new major beside the
 * old one, the application's database copied into it with the new major's pg_dump's format (a plain SQL dump of the old
 * server, replayed by the new one's psql), while writes are stopped; then the application is pointed at the new cluster.
 * Real PostgreSQL: the old cluster runs the host's 15, the new one 17 (Debian 13's build, test/setup/postgresql-17.sh),
 * each from the manifests the library synthesizes.
 */
describe('a major-version upgrade, 15 to 17: a new cluster of the new major, the database copied while writes stop', () => {
  let old: E2eCluster;
  let next: E2eCluster;

  beforeAll(async () => {
    old = await E2eCluster.start({ manifest: DIST_MANIFEST });
    next = await E2eCluster.start({ manifest: synthesizeToFile({ clusterName: 'postgres17', postgresVersion: 17 }) });
  });

  afterAll(async () => {
    await next?.destroy();
    await old?.destroy();
  });

  test('postgresVersion 17: pod 0 initializes PostgreSQL 17, the others clone it with 17\'s pg_basebackup and stream', () => step(next, async () => {
    await waitForStreaming(next, next.podName(0), [next.podName(1), next.podName(2)], 60_000);
    for (const pod of [0, 1, 2].map(i => next.podName(i))) {
      expect([pod, (await next.podSql(pod, 'SHOW server_version_num')).slice(0, 2)]).toEqual([pod, '17']);
    }
    expect(await isPrimary(next, next.podName(0))).toBe(true);
    expect(await isPrimary(next, next.podName(1))).toBe(false);
    // The old cluster is 15.
    expect((await old.podSql(POD(0), 'SHOW server_version_num')).slice(0, 2)).toBe('15');
  }));

  test('the README\'s steps: writes stopped on 15, the database dumped and replayed into 17; 17 holds exactly the rows, '
    + 'its replicas too, and takes writes', () => step(next, async () => {
    const database = old.containerEnv('POSTGRES_DB');
    const app = old.appCredentials();
    const write = await old.sql('postgres-write', 'CREATE TABLE orders (id int PRIMARY KEY, note text); '
      + 'INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 500) g');
    expect(write.code).toBe(0);
    const oldPrimary = await primaryOf(old, 'postgres');
    const newPrimary = await primaryOf(next, 'postgres17');
    expect([oldPrimary, newPrimary]).toEqual([`pod/${POD(0)}`, `pod/${next.podName(0)}`]);

    // 1. Writes stop: the application is stopped (here: the test writes no more), and the database turns read-only.
    expect([database, app.user]).toEqual(['myapp', 'app']);
    await exec(old, oldPrimary, ['psql', '-c', `ALTER DATABASE ${database} SET default_transaction_read_only = on`]);
    await exec(old, oldPrimary, ['psql', '-c', `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid()`]);
    const refused = await old.sql('postgres-write', 'INSERT INTO orders VALUES (501, \'late\')');
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining('cannot execute INSERT in a read-only transaction')]);
    const before = await old.sql('postgres-write', ROWS);

    // 2. The dump of the old server, replayed into the new cluster's primary as the application's role.
    const dump = await exec(old, oldPrimary, ['pg_dump', '--no-owner', '--no-privileges', database]);
    expect(dump).toContain('CREATE TABLE public.orders');
    await exec(next, newPrimary, ['env', `PGOPTIONS=-c role=${app.user}`, 'psql', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-d', database], dump);

    // 3. The new cluster has exactly the rows, on every pod, owned by the application's role; it takes writes.
    const copied = await next.sql('postgres17-write', ROWS);
    expect([copied.code, copied.stdout, copied.stderr]).toEqual([0, before.stdout, '']);
    expect(before.stdout.trim()).toMatch(/^500 125250 [0-9a-f]{32}$/);
    expect(await next.podSql(next.podName(0), "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'", database)).toBe(next.appCredentials().user);
    for (const pod of [1, 2].map(i => next.podName(i))) {
      await waitFor(`the rows on ${pod}`, async () => await next.podSql(pod, ROWS, database).catch(() => '') === before.stdout.trim(), 20_000, 200);
    }
    const after = await next.sql('postgres17-write', 'INSERT INTO orders VALUES (501, \'on 17\') RETURNING id');
    expect([after.code, after.stdout.trim()]).toEqual([0, '501']);
  }));
});
