/**
 * WAL archiving figures (issue 21) on real PostgreSQL 15 and Debian's pgBackRest (run as root), with the pgBackRest
 * configuration the library synthesizes: a volume repository (`walArchive: {}`) beside an S3 bucket (`walArchive.s3`)
 * on moto's S3 server behind TLS, on this machine.
 *   - archive throughput: N WAL segments (16 MB each) written while archive_command is empty, then archive_command set
 *     to the synthesized one (paths of this machine added) and the time until PostgreSQL's archiver has archived the
 *     last of them: segments per second, with `archive-async` off and on (`--archive-async --process-max=2`);
 *   - a full backup of a ~1 GB database into each repository, `pgbackrest restore` of it into an empty directory (cold
 *     page cache), and the restored server's recovery (archive-get from the same repository) until it is promoted.
 *   npx projen bench:archive
 * Environment: ARCHIVE_SEGMENTS (64), ARCHIVE_RUNS (3), RESTORE_MB (1024), RESTORE_RUNS (1), BENCH_KEEP (keep the work
 * directory).
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'pg';
import { RepositoryCaCertificate, S3Credentials, S3UriStyle, WalArchiveOptions } from '../src';
import { runAsync, sleep, waitFor } from '../test/e2e/harness/exec';
import { Manifests } from '../test/e2e/harness/manifests';
import { synthesizeToFile } from '../test/e2e/support';

const SEGMENTS = Number(process.env.ARCHIVE_SEGMENTS ?? 64);
const ARCHIVE_RUNS = Number(process.env.ARCHIVE_RUNS ?? 3);
const RESTORE_MB = Number(process.env.RESTORE_MB ?? 1024);
const RESTORE_RUNS = Number(process.env.RESTORE_RUNS ?? 1);

const PG_BIN = '/usr/lib/postgresql/15/bin';
const MOTO = '/opt/moto-server/bin';
const TERMINATOR = path.join(__dirname, '..', 'test', 'e2e', 'harness', 'bin', 'tls-terminator.js');
const S3_HOST = '127.0.0.1';
const S3_PORT = 9000;
const MOTO_PORT = 9001;
const BUCKET = 'pg-bench-archive';
const SEGMENT_BYTES = 16 * 1024 * 1024;
/** Where the synthesized archive_command reads its configuration in the pod. */
const POD_CONFIG = '--config=/etc/postgresql/pgbackrest.conf';

type Repo = 'volume' | 's3';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const spread = (values: number[], digits: number) => values.length > 1
  ? ` (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})` : '';
const load = () => os.loadavg().map(l => l.toFixed(2)).join(' ');
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());

/** The work directory, under /tmp and open to the postgres user (a clone may live in a 0700 folder). */
const work = fs.mkdtempSync('/tmp/pg-bench-archive-');
fs.chmodSync(work, 0o755);
const at = (...parts: string[]) => path.join(work, ...parts);
const children: ChildProcess[] = [];
const synthesized: string[] = [];

function mkdirFor(dir: string, mode = 0o755): string {
  fs.mkdirSync(dir, { recursive: true, mode });
  fs.chmodSync(dir, mode);
  fs.chownSync(dir, uid, gid);
  return dir;
}

/** The cluster's ConfigMap postgres-config and the StatefulSet's initdb arguments, as the library writes them. */
function synthesize(walArchive: WalArchiveOptions): { pgbackrest: string; postgresql: string; initdbArgs: string } {
  const file = synthesizeToFile({ image: 'localhost/postgres-pgbackrest:15', walArchive });
  synthesized.push(path.dirname(file));
  const manifests = Manifests.fromFile(file);
  const data = manifests.get('ConfigMap', 'postgres-config').data as Record<string, string>;
  const env = (manifests.only('StatefulSet').spec.template.spec.containers as any[]).find(c => c.name === 'postgres').env as any[];
  return { pgbackrest: data['pgbackrest.conf'], postgresql: data['postgresql.conf'], initdbArgs: env.find(e => e.name === 'POSTGRES_INITDB_ARGS')?.value ?? '' };
}

function setting(conf: string, name: string): string {
  const line = new RegExp(`^${name} = (.*)$`, 'm').exec(conf);
  if (!line) throw new Error(`the synthesized postgresql.conf has no ${name}`);
  return line[1];
}

function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=bench CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', `/CN=${S3_HOST}`);
  // pgBackRest 2.45 matches the endpoint against the certificate's DNS names only.
  fs.writeFileSync(file('server.ext'), `subjectAltName=IP:${S3_HOST},DNS:${S3_HOST}\nextendedKeyUsage=serverAuth\n`);
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('server.crt'), '-days', '2', '-extfile', file('server.ext'));
  for (const name of fs.readdirSync(dir)) fs.chmodSync(file(name), 0o644);
  return { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') };
}

function start(command: string, args: string[], log: string, env: NodeJS.ProcessEnv = { PATH: process.env.PATH }): ChildProcess {
  const fd = fs.openSync(log, 'a');
  const child = spawn(command, args, { env, stdio: ['ignore', fd, fd], detached: true });
  fs.closeSync(fd);
  children.push(child);
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, signal);
  } catch {
    // already ended
  }
}

async function ended(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise(resolve => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
}

/** Every process this run started, its own groups and any that left them (pgBackRest's async process daemonizes): their command lines name the work directory. */
async function cleanUp(): Promise<void> {
  for (const child of children) killGroup(child, 'SIGINT');
  for (const child of children) if (!await ended(child, 15_000)) killGroup(child, 'SIGKILL');
  for (const pid of fs.readdirSync('/proc').filter(p => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(work)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (!process.env.BENCH_KEEP) fs.rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
  for (const dir of synthesized) fs.rmSync(dir, { recursive: true, force: true });
}

void (async () => {
  let primary: Client | undefined;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`${signal}: stopping every process started and removing ${work}`);
    void primary?.end().catch(() => undefined);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    console.log(`load average at the start: ${load()} (${os.cpus().length} cores)`);
    if (!fs.existsSync(`${MOTO}/moto_server`)) throw new Error(`moto's S3 server is not in ${MOTO}: run \`bash test/setup/system-packages.sh\` as root`);
    for (const port of [S3_PORT, MOTO_PORT]) {
      if ((await runAsync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`])).code === 0) throw new Error(`port ${port} on 127.0.0.1 is taken`);
    }

    // The library's configuration of each cluster.
    const volume = synthesize({});
    const s3 = synthesize({
      s3: {
        bucket: BUCKET,
        endpoint: `${S3_HOST}:${S3_PORT}`,
        uriStyle: S3UriStyle.PATH,
        caCertificate: RepositoryCaCertificate.fromSecret('s3-ca'),
        credentials: S3Credentials.fromSecret('s3-keys'),
      },
    });
    const archiveCommand = setting(s3.postgresql, 'archive_command');
    if (archiveCommand !== setting(volume.postgresql, 'archive_command') || !archiveCommand.includes(POD_CONFIG)) {
      throw new Error(`unexpected archive_command: ${archiveCommand}`);
    }

    // The S3 server: moto (plain HTTP) behind TLS; an IAM user's key signs every request after the set-up's four.
    const pki = makeCertificates(mkdirFor(at('pki')));
    start(`${MOTO}/moto_server`, ['-H', '127.0.0.1', '-p', String(MOTO_PORT)], at('moto.log'),
      { PATH: process.env.PATH, INITIAL_NO_AUTH_ACTION_COUNT: '4' });
    start(process.execPath, [TERMINATOR, pki.cert, pki.key, S3_HOST, String(S3_PORT), `127.0.0.1:${MOTO_PORT}`], at('tls.log'));
    await waitFor('the S3 server to listen', async () => (await runAsync('bash', ['-c', `exec 3<>/dev/tcp/${S3_HOST}/${S3_PORT}`])).code === 0, 30_000, 200);
    const created = await runAsync(`${MOTO}/python`, ['-c', [
      'import boto3, json',
      `kw = dict(endpoint_url="https://${S3_HOST}:${S3_PORT}", region_name="us-east-1", verify=${JSON.stringify(pki.ca)}, aws_access_key_id="setup", aws_secret_access_key="setup")`,
      'iam, s3 = boto3.client("iam", **kw), boto3.client("s3", **kw)',
      'iam.create_user(UserName="backup")',
      'iam.put_user_policy(UserName="backup", PolicyName="s3", PolicyDocument=json.dumps({"Version": "2012-10-17", '
        + '"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))',
      'key = iam.create_access_key(UserName="backup")["AccessKey"]',
      `s3.create_bucket(Bucket="${BUCKET}")`,
      'print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))',
    ].join('\n')], { timeoutMs: 60_000 });
    if (created.code !== 0) throw new Error(`the S3 set-up failed: ${created.stdout}${created.stderr}`);
    const keys = JSON.parse(created.stdout) as { id: string; secret: string };

    // Each repository's pgbackrest.conf as synthesized; on the command line only this machine's paths.
    mkdirFor(at('primary'));
    const pgdata = mkdirFor(at('primary', 'data'), 0o700);
    const socket = mkdirFor(at('primary', 'run'));
    const lock = mkdirFor(at('lock'));
    const spool = mkdirFor(at('spool'));
    mkdirFor(at('volume'));
    const volumeRepo = mkdirFor(at('volume', 'repo'), 0o750);
    mkdirFor(at('s3'));
    fs.writeFileSync(at('volume', 'pgbackrest.conf'), volume.pgbackrest);
    fs.writeFileSync(at('s3', 'pgbackrest.conf'), s3.pgbackrest);
    const repoOptions = (repo: Repo) => [
      `--config=${at(repo, 'pgbackrest.conf')}`,
      repo === 'volume' ? `--repo1-path=${volumeRepo}` : `--repo1-storage-ca-file=${pki.ca}`,
      `--lock-path=${lock}`,
    ];
    // archive-push takes the data directory (where %p is) but refuses pg1-socket-path; stanza-create and backup connect.
    const serverOptions = [`--pg1-path=${pgdata}`, `--pg1-socket-path=${socket}`];
    const asyncOptions = ['--archive-async', `--spool-path=${spool}`, '--process-max=2'];
    const command = (repo: Repo, async: boolean) => archiveCommand.slice(1, -1)
      .replace(POD_CONFIG, [...repoOptions(repo), `--pg1-path=${pgdata}`, ...async ? asyncOptions : []].join(' '));
    // The pod's environment: the S3 key from the Secret; Debian's spool path belongs to its own postgres (archive-get takes no --spool-path).
    const environment = ['PATH=' + `${PG_BIN}:/usr/bin:/bin`, `PGBACKREST_REPO1_S3_KEY=${keys.id}`, `PGBACKREST_REPO1_S3_KEY_SECRET=${keys.secret}`,
      `PGBACKREST_SPOOL_PATH=${spool}`];
    const asPostgres = (args: string[]) => ['--reuid=' + uid, '--regid=' + gid, '--clear-groups', 'env', '-i', '-C', work, ...environment, ...args];
    const pgbackrest = async (repo: Repo, args: string[], timeoutMs = 1_800_000) => {
      const result = await runAsync('setpriv', asPostgres(['pgbackrest', ...repoOptions(repo), '--stanza=postgres', ...args]), { timeoutMs });
      if (result.code !== 0) throw new Error(`pgbackrest ${args.join(' ')} (${repo}) failed (${result.code}):\n${result.stdout}${result.stderr}`);
      return result.stdout;
    };

    // The primary: the synthesized WAL and archive settings; archive_command (ALTER SYSTEM) empty until a round starts.
    const initdb = await runAsync('setpriv', asPostgres(['initdb', '-D', pgdata, '-U', 'postgres', '--auth=trust', ...volume.initdbArgs.split(' ').filter(a => a)]),
      { timeoutMs: 120_000 });
    if (initdb.code !== 0) throw new Error(`initdb failed: ${initdb.stderr}`);
    const settings = ['wal_level', 'wal_log_hints', 'wal_keep_size', 'max_slot_wal_keep_size', 'max_wal_senders', 'archive_mode', 'archive_timeout']
      .map(name => `${name} = ${setting(s3.postgresql, name)}`);
    fs.appendFileSync(path.join(pgdata, 'postgresql.conf'), ['', '# bench/archive.ts: from the synthesized postgresql.conf', ...settings,
      '# bench/archive.ts: this machine', "listen_addresses = ''", `unix_socket_directories = '${socket}'`, "archive_command = ''", ''].join('\n'));
    const server = start('setpriv', asPostgres(['postgres', '-D', pgdata]), at('primary', 'postgres.log'));
    primary = await waitFor('the primary to accept connections', async () => {
      const client = new Client({ host: socket, user: 'postgres', database: 'postgres' });
      try {
        await client.connect();
        return client;
      } catch {
        await client.end().catch(() => undefined);
        if (server.exitCode !== null) throw new Error(`the primary exited:\n${fs.readFileSync(at('primary', 'postgres.log'), 'utf8')}`);
        return undefined;
      }
    }, 60_000, 100);
    const sql = async (text: string) => (await primary!.query(text)).rows;
    const value = async (text: string) => Object.values((await sql(text))[0])[0] as string;
    const setArchiveCommand = async (text: string) => {
      await sql(`ALTER SYSTEM SET archive_command = ${literal(text)}`);
      await sql('SELECT pg_reload_conf()');
    };
    for (const repo of ['volume', 's3'] as Repo[]) await pgbackrest(repo, [...serverOptions, 'stanza-create'], 120_000);

    // Archive throughput. Every round writes new WAL (a 1 MB block of random hex stored uncompressed, 2 rows an
    // INSERT: lz4 barely compresses it, so the repository gets about the WAL's bytes) while archive_command is empty.
    // No autovacuum of it: vacuuming 1 GB of new rows (wal_log_hints is on) writes WAL of its own while a round is timed.
    await sql('CREATE TABLE churn (id int, payload text) WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off)');
    await sql('ALTER TABLE churn ALTER payload SET STORAGE EXTERNAL');
    await sql("CREATE TABLE block AS SELECT string_agg(md5(random()::text), '') AS payload FROM generate_series(1, 32768)");
    const kinds: Array<{ repo: Repo; async: boolean }> = [
      { repo: 'volume', async: false }, { repo: 'volume', async: true }, { repo: 's3', async: false }, { repo: 's3', async: true },
    ];
    const label = (k: { repo: Repo; async: boolean }) => `${k.repo === 'volume' ? 'volume' : 'S3 (moto, TLS)'}, archive-async ${k.async ? 'on' : 'off'}`;
    const rates = new Map<string, number[]>(kinds.map(k => [label(k), []]));
    const readyCount = async () => Number(await value("SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"));
    for (let run = 1; run <= ARCHIVE_RUNS; run++) {
      for (const kind of kinds) {
        await setArchiveCommand('');
        await sql('TRUNCATE churn');
        if (await readyCount() !== 0) {
          throw new Error(`segments are waiting to be archived before the round: ${JSON.stringify(await sql("SELECT name FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"))}`);
        }
        await sql(`DO $$
          DECLARE
            here numeric := pg_current_wal_insert_lsn() - '0/0'::pg_lsn;
            stop pg_lsn := '0/0'::pg_lsn + (here - here % ${SEGMENT_BYTES} + ${(SEGMENTS - 1) * SEGMENT_BYTES + SEGMENT_BYTES / 2});
          BEGIN
            WHILE pg_current_wal_insert_lsn() < stop LOOP
              INSERT INTO churn SELECT g, (SELECT payload FROM block) FROM generate_series(1, 2) g;
            END LOOP;
          END $$`);
        const last = await value('SELECT pg_walfile_name(pg_switch_wal())');
        const segments = await readyCount();
        if (segments !== SEGMENTS) throw new Error(`expected ${SEGMENTS} segments to archive, found ${segments} (after ${last})`);
        const before = (await sql('SELECT archived_count, failed_count FROM pg_stat_archiver'))[0];
        const ready = path.join(pgdata, 'pg_wal', 'archive_status', `${last}.ready`);
        if (!fs.existsSync(ready)) throw new Error(`${ready} is missing`);
        const started = performance.now();
        await setArchiveCommand(command(kind.repo, kind.async));
        // The archiver takes the oldest segment first: the last one's .ready goes once every one is archived.
        let polls = 0;
        while (fs.existsSync(ready)) {
          // Every 50th look (~0.5 s), whether the archiver fails: then the round would never end.
          if (++polls % 50 === 0 && Number(await value('SELECT failed_count FROM pg_stat_archiver')) - Number(before.failed_count) >= 3) {
            throw new Error(`${label(kind)}: archive_command fails:\n${fs.readFileSync(at('primary', 'postgres.log'), 'utf8').slice(-3000)}`);
          }
          await sleep(10);
        }
        const seconds = (performance.now() - started) / 1000;
        // The archiver renames .ready to .done, then counts the segment in pg_stat_archiver.
        const after = await waitFor('pg_stat_archiver to count the round', async () => {
          const counts = (await sql('SELECT archived_count, failed_count FROM pg_stat_archiver'))[0];
          return Number(counts.archived_count) - Number(before.archived_count) >= SEGMENTS ? counts : undefined;
        }, 5_000, 20);
        const archived = Number(after.archived_count) - Number(before.archived_count);
        const failed = Number(after.failed_count) - Number(before.failed_count);
        if (archived !== SEGMENTS) throw new Error(`${label(kind)}: pg_stat_archiver counts ${archived} archived, not ${SEGMENTS}`);
        // Anything else ready meanwhile is archived by the same command before the next round (said, not timed).
        const stray = (await sql("SELECT name FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready' ORDER BY 1")).map(r => r.name as string);
        if (stray.length) {
          console.log(`  (after ${last}, also ready: ${stray.join(' ')})`);
          await waitFor('the other ready segments to be archived', async () => await readyCount() === 0, 600_000, 100);
        }
        rates.get(label(kind))!.push(SEGMENTS / seconds);
        console.log(`run ${run}: ${label(kind)}: ${SEGMENTS} segments in ${seconds.toFixed(2)} s = ${(SEGMENTS / seconds).toFixed(1)} segments/s`
          + `${failed ? `, ${failed} failed attempts` : ''}; load ${load()}`);
      }
    }
    await sql('DROP TABLE churn, block');

    // Restore: a database of RESTORE_MB (bootstrap.ts's rows), archived into both repositories, a full backup into each.
    const both = `${command('volume', false)} && ${command('s3', false)}`;
    await setArchiveCommand(both);
    const rows = Math.round(RESTORE_MB * 1024 * 1024 / 250);
    let t = performance.now();
    await sql(`CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 6) AS pad FROM generate_series(1, ${rows}) AS g`);
    // Vacuumed now, as autovacuum would soon (its WAL archived before the backups).
    await sql('VACUUM ANALYZE filler');
    await value('SELECT pg_walfile_name(pg_switch_wal())');
    await waitFor('the load\'s WAL to be archived into both repositories', async () => await readyCount() === 0, 900_000, 200);
    const database = Number(await value('SELECT pg_database_size(current_database())'));
    console.log(`database ${(database / 1024 / 1024).toFixed(0)} MB loaded and its WAL archived into both repositories in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const restoreFigures = new Map<Repo, { backup: number[]; restore: number[]; recovery: number[]; stored: number }>(
      (['volume', 's3'] as Repo[]).map(repo => [repo, { backup: [], restore: [], recovery: [], stored: 0 }]));
    for (let run = 1; run <= RESTORE_RUNS; run++) {
      for (const repo of ['volume', 's3'] as Repo[]) {
        const figures = restoreFigures.get(repo)!;
        execFileSync('sync');
        t = performance.now();
        await pgbackrest(repo, [...serverOptions, '--type=full', 'backup']);
        figures.backup.push((performance.now() - t) / 1000);
        const info = JSON.parse(await pgbackrest(repo, ['info', '--output=json']))[0];
        figures.stored = info.backup[info.backup.length - 1].info.repository.delta;

        const target = mkdirFor(at(`restore-${repo}`));
        const data = mkdirFor(path.join(target, 'data'), 0o700);
        const run2 = mkdirFor(path.join(target, 'run'));
        // A cold page cache, as a restore onto a new machine would read the repository.
        execFileSync('sync');
        fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
        t = performance.now();
        await pgbackrest(repo, [`--pg1-path=${data}`, 'restore']);
        figures.restore.push((performance.now() - t) / 1000);

        // The restored server replays the archived WAL (archive-get from the same repository), then promotes.
        t = performance.now();
        const restored = start('setpriv', asPostgres(['postgres', '-D', data, '-c', 'listen_addresses=', '-c', `unix_socket_directories=${run2}`,
          '-c', 'archive_mode=off', '-c', 'hot_standby=off']), path.join(target, 'postgres.log'));
        const client = await waitFor(`the server restored from ${repo} to finish recovery`, async () => {
          if (restored.exitCode !== null) throw new Error(`the restored server exited:\n${fs.readFileSync(path.join(target, 'postgres.log'), 'utf8')}`);
          const c = new Client({ host: run2, user: 'postgres', database: 'postgres' });
          try {
            await c.connect();
            if ((await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r === false) return c;
          } catch {
            // still recovering
          }
          await c.end().catch(() => undefined);
          return undefined;
        }, 600_000, 100, () => fs.readFileSync(path.join(target, 'postgres.log'), 'utf8').slice(-3000));
        figures.recovery.push((performance.now() - t) / 1000);
        const count = Number((await client.query('SELECT count(*) AS n FROM filler')).rows[0].n);
        await client.end();
        if (count !== rows) throw new Error(`the server restored from ${repo} has ${count} rows, not ${rows}`);
        killGroup(restored, 'SIGINT');
        if (!await ended(restored, 60_000)) throw new Error(`the server restored from ${repo} did not stop`);
        fs.rmSync(target, { recursive: true, force: true });
        console.log(`run ${run}: ${repo}: backup ${figures.backup[figures.backup.length - 1].toFixed(1)} s, restore ${figures.restore[figures.restore.length - 1].toFixed(1)} s, `
          + `recovery to promotion ${figures.recovery[figures.recovery.length - 1].toFixed(1)} s; load ${load()}`);
      }
    }

    console.log('');
    console.log(`Archive throughput: ${SEGMENTS} segments of 16 MB, median of ${ARCHIVE_RUNS} runs (range)`);
    console.log('| Repository, mode | segments/s | MB/s of WAL |');
    console.log('|---|---|---|');
    for (const [name, values] of rates) {
      console.log(`| ${name} | ${median(values).toFixed(1)}${spread(values, 1)} | ${(median(values) * 16).toFixed(0)}${spread(values.map(v => v * 16), 0)} |`);
    }
    console.log('');
    console.log(`Backup and restore: database ${(database / 1024 / 1024).toFixed(0)} MB, median of ${RESTORE_RUNS} run(s) (range)`);
    console.log('| Repository | full backup | backup in the repository | restore (cold cache) | restored server: start to promoted |');
    console.log('|---|---|---|---|---|');
    for (const [repo, f] of restoreFigures) {
      console.log(`| ${repo === 'volume' ? 'volume' : 'S3 (moto, TLS)'} | ${median(f.backup).toFixed(1)} s${spread(f.backup, 1)} | ${(f.stored / 1024 / 1024).toFixed(0)} MB `
        + `| ${median(f.restore).toFixed(1)} s${spread(f.restore, 1)} | ${median(f.recovery).toFixed(1)} s${spread(f.recovery, 1)} |`);
    }
  } catch (error) {
    if (!interrupted) {
      console.error((error as Error).stack ?? error);
      process.exitCode = 1;
    }
  } finally {
    if (!interrupted) {
      await primary?.end().catch(() => undefined);
      await cleanUp();
      console.log(`load average at the end: ${load()}`);
    }
  }
})();
