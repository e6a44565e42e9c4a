/**
 * Bootstrap and base backup figures on real PostgreSQL 15, through the e2e harness (run as root):
 *   - time from empty volumes to every replica streaming (the default 3-pod cluster in dist/);
 *   - a new replica's base backup (pg_basebackup, as the entrypoint runs it) of a ~1 GB database,
 *     against a plain copy (cp -a) of the same data directory on the same disk, both from a cold
 *     page cache: the throughput ratio (target >= 0.85).
 *   npx ts-node --transpile-only -P test/tsconfig.json bench/bootstrap.ts [megabytes]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { E2eCluster } from '../test/e2e/harness/cluster';
import { waitFor } from '../test/e2e/harness/exec';
import { POD, streamingFrom } from '../test/e2e/support';

const MEGABYTES = Number(process.argv[2] ?? 1024);
const DIST = path.join(__dirname, '..', 'dist', 'postgres-cluster.k8s.yaml');

function dropCaches(): void {
  execFileSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}

function bytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

void (async () => {
  const started = Date.now();
  const cluster = await E2eCluster.start({ manifest: DIST });
  try {
    await waitFor('both replicas streaming', async () => (await streamingFrom(cluster, POD(0))).length === 2, 60_000, 100);
    const seconds = (Date.now() - started) / 1000;
    console.log(`bootstrap: empty volumes to 2 replicas streaming in ${seconds.toFixed(1)} s (3 pods; target <= 6.0) ${seconds <= 6 ? 'OK' : 'MISSED'}`);

    // ~4 rows of 250 bytes per kB: fill the database to the requested size.
    const rows = Math.round(MEGABYTES * 1024 * 1024 / 250);
    const fill = await cluster.sql('postgres-write', `CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 6) AS pad FROM generate_series(1, ${rows}) AS g`,
      { timeoutMs: 600_000 });
    if (fill.code !== 0) throw new Error(fill.stderr);
    // CHECKPOINT needs the superuser (or pg_checkpoint), which logs in only over the pod's socket.
    await cluster.podSql(POD(0), 'CHECKPOINT');
    const source = path.join(cluster.volumeOf(POD(0)), 'pgdata');
    const size = bytes(source);
    const database = Number((await cluster.sql('postgres-write', 'SELECT pg_database_size(current_database())')).stdout.trim());

    const target = '/var/lib/postgresql/data/bench-basebackup';
    dropCaches();
    let t = Date.now();
    const backup = await cluster.pod(POD(1)).container('postgres').exec(['bash', '-c',
      `rm -rf ${target} && PGPASSFILE=/var/run/postgres-credentials/pgpass pg_basebackup --host=${POD(0)}.postgres-headless --username=replicator --no-password `
      + `--pgdata=${target} --wal-method=stream --checkpoint=fast`], 1_800_000);
    const backupSeconds = (Date.now() - t) / 1000;
    if (backup.code !== 0) throw new Error(backup.stderr);

    const copy = path.join(path.dirname(cluster.volumeOf(POD(1))), 'plain-copy');
    fs.rmSync(copy, { recursive: true, force: true });
    dropCaches();
    t = Date.now();
    execFileSync('cp', ['-a', source, copy]);
    execFileSync('sync');
    const copySeconds = (Date.now() - t) / 1000;

    const mb = size / 1024 / 1024;
    const backupRate = mb / backupSeconds;
    const copyRate = mb / copySeconds;
    const ratio = backupRate / copyRate;
    console.log(`database ${(database / 1024 / 1024).toFixed(0)} MB; data directory (with WAL) ${mb.toFixed(0)} MB`);
    console.log(`base backup: ${mb.toFixed(0)} MB in ${backupSeconds.toFixed(2)} s = ${backupRate.toFixed(0)} MB/s; `
      + `plain copy (cp -a, same disk): ${copySeconds.toFixed(2)} s = ${copyRate.toFixed(0)} MB/s; `
      + `ratio ${ratio.toFixed(2)} (target >= 0.85) ${ratio >= 0.85 ? 'OK' : 'MISSED'}`);
    fs.rmSync(copy, { recursive: true, force: true });
  } catch (error) {
    console.error(`${(error as Error).message}\n${cluster.diagnostics()}`);
    process.exitCode = 1;
  } finally {
    await cluster.destroy();
  }
})();
