import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { E2eCluster } from './harness/cluster';
import { DIST_MANIFEST, POD, step } from './support';

jest.setTimeout(240_000);

/** A client program's exit code and output, once it ends. */
function finished(child: ChildProcess): Promise<{ code: number; output: string }> {
  let output = '';
  child.stdout?.on('data', d => { output += String(d); });
  return new Promise(resolve => child.on('close', code => resolve({ code: code ?? 1, output })));
}

/**
 * The default cluster's logical backup: the CronJob's run dumps the application database onto its volume, and
 * pg_restore brings back exactly what was committed before the dump, on real PostgreSQL 15.
 */
describe('logical backup of the default cluster (dist/): pg_dump onto a volume, pg_restore back', () => {
  let cluster: E2eCluster;
  const dumps = () => fs.readdirSync(cluster.claimDir('postgres-backup')).filter(f => /^myapp-\d{8}T\d{6}Z\.dump$/.test(f)).sort();

  beforeAll(async () => {
    cluster = await E2eCluster.start({ manifest: DIST_MANIFEST });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  test('a run dumps what was committed; rows written after it are not in the dump; the dump restores into a new database', () => step(cluster, async () => {
    expect(await cluster.sql('postgres-write', 'CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 1000) g'))
      .toMatchObject({ code: 0 });
    const before = (await cluster.sql('postgres-write', 'SELECT count(*), sum(id), md5(string_agg(note, \',\' ORDER BY id)) FROM orders')).stdout;
    const run = await cluster.runJob('postgres-backup');
    expect([run.code, run.stdout]).toEqual([0, expect.stringMatching(/dumping database myapp from postgres-write as app[\s\S]*dump complete/)]);
    expect(dumps()).toHaveLength(1);
    // Committed after the dump: not in it.
    expect(await cluster.sql('postgres-write', "INSERT INTO orders VALUES (1001, 'after the dump')")).toMatchObject({ code: 0 });

    // Restore as a person would: a new database owned by the application, pg_restore as the application role from a client.
    await cluster.podSql(POD(0), 'CREATE DATABASE restored OWNER app');
    const restore = await finished(cluster.clientScript('pg_restore --host=postgres-write --dbname=restored --no-owner --exit-on-error "$1" 2>&1',
      [path.join(cluster.claimDir('postgres-backup'), dumps()[0])]));
    expect(restore).toEqual({ code: 0, output: '' });
    const restored = await cluster.podSql(POD(0), 'SELECT count(*), sum(id), md5(string_agg(note, \',\' ORDER BY id)) FROM orders', 'restored');
    expect(restored).toBe(before.trim());
    expect(await cluster.podSql(POD(0), 'SELECT count(*) FROM orders WHERE id = 1001', 'restored')).toBe('0');
  }));

  test('only the newest dumps are kept, and a failed run leaves no dump behind under a final name', () => step(cluster, async () => {
    for (let i = 0; i < 2; i++) {
      await new Promise(resolve => setTimeout(resolve, 1100));
      expect((await cluster.runJob('postgres-backup', { BACKUP_RETENTION: '2' })).code).toBe(0);
    }
    expect(dumps()).toHaveLength(2);
    const kept = dumps();
    // A run that cannot log in (a wrong password) fails and adds nothing.
    const failed = await cluster.runJob('postgres-backup', { PGPASSWORD: 'wrong' });
    expect(failed.code).not.toBe(0);
    expect(failed.stdout).toContain('password authentication failed for user "app"');
    expect(dumps()).toEqual(kept);
    expect(fs.readdirSync(cluster.claimDir('postgres-backup')).filter(f => f.endsWith('.partial'))).toEqual([]);
  }));
});
