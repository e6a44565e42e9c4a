import { ChildProcess, execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiPod, ApiStandIn } from './e2e/harness/api';
import { kubectlBinary } from './e2e/harness/kubectl';
import { Manifests } from './e2e/harness/manifests';
import { makeApiTls } from './e2e/harness/tls';
import { asPostgres, PG_BIN, postgresScratchDir, writeAsPostgres } from './support/postgres';

const scriptsDir = path.join(__dirname, '..', 'src', 'scripts');
const scripts = fs.readdirSync(scriptsDir).filter(f => f.endsWith('.sh'));
const harnessScripts = [path.join(__dirname, 'e2e', 'harness', 'bin', 'container-launch.sh'), path.join(__dirname, '..', '.ci', 'run'),
  path.join(__dirname, 'setup', 'system-packages.sh'), path.join(__dirname, 'setup', 'postgresql-17.sh'), path.join(__dirname, 'setup', 'postgresql-17-check.sh')];

describe('shell scripts', () => {
  test('there are scripts to check', () => {
    expect(scripts).toEqual(expect.arrayContaining(['init-replica.sh', 'pg-node.sh', 'create-replication-user.sh']));
  });

  test.each([...scripts.map(s => path.join(scriptsDir, s)), ...harnessScripts])('%s passes shellcheck', file => {
    const result = spawnSync('shellcheck', ['--shell=bash', '--external-sources', file], { encoding: 'utf8' });
    if (result.error) throw new Error(`shellcheck is not installed (Debian package shellcheck; .ci/run installs it): ${result.error.message}`);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  test.each(scripts)('%s is strict bash: set -euo pipefail', file => {
    const text = fs.readFileSync(path.join(scriptsDir, file), 'utf8');
    expect(text.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(text).toMatch(/^set -euo pipefail$/m);
  });
});

describe('npm test brings the Debian packages it needs (test/setup/system-packages.sh)', () => {
  // As a user who is not root (uid 65534 when the tests run as root), with none of the programs on PATH.
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  // That user runs a copy in a folder anyone can read: the clone may sit in a folder only root can enter.
  const readable = fs.mkdtempSync(path.join(os.tmpdir(), 'system-packages-'));
  fs.chmodSync(readable, 0o755);
  const script = path.join(readable, 'system-packages.sh');
  fs.copyFileSync(path.join(__dirname, 'setup', 'system-packages.sh'), script);
  fs.chmodSync(script, 0o644);
  afterAll(() => fs.rmSync(readable, { recursive: true, force: true }));

  test('without root, it names the apt-get command that installs what is missing, and fails', () => {
    const result = spawnSync('/bin/bash', [script], { encoding: 'utf8', cwd: '/', env: { PATH: '/nonexistent' }, ...asUser });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('The tests need Debian packages that are not installed: shellcheck pgbackrest iproute2 util-linux gcc libc6-dev kubernetes-client unzip openssl default-jdk-headless maven python3-venv');
    expect(result.stderr).toContain('sudo apt-get update && sudo apt-get install -y --no-install-recommends shellcheck pgbackrest iproute2 util-linux gcc libc6-dev kubernetes-client unzip openssl default-jdk-headless maven python3-venv');
  });

  test('with everything there, it does nothing', () => {
    const result = spawnSync('/bin/bash', [script], { encoding: 'utf8', cwd: '/', env: { PATH: process.env.PATH }, ...asUser });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});

/**
 * pg-node.sh live, the liveness probe (and "live started", the startup probe), against PostgreSQL 15: it must never
 * fail while the entrypoint works or the server recovers, and must fail when the container is wedged.
 */
describe('pg-node.sh live: the liveness and startup probes', () => {
  const scratch = postgresScratchDir();
  // A copy of the scripts of this test's own: the probe recognizes the entrypoint by its path, and other tests
  // (or clusters) on this machine run theirs from other paths.
  const ownScripts = path.join(scratch, 'scripts');
  fs.mkdirSync(ownScripts);
  for (const file of fs.readdirSync(scriptsDir)) fs.copyFileSync(path.join(scriptsDir, file), path.join(ownScripts, file));
  const data = path.join(scratch, 'pgdata');
  const port = String(20_000 + (process.pid % 20_000));
  const env = { PATH: `${PG_BIN}:/usr/bin:/bin`, PGDATA: data, PGPORT: port, POD_NAME: 'live-test-0' };
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
  const init = asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--encoding=UTF8', '--locale=C']);
  let entrypoint: ChildProcess | undefined;

  afterEach(() => {
    if (entrypoint?.pid) try { process.kill(-entrypoint.pid, 'SIGKILL'); } catch { /* gone */ }
    entrypoint = undefined;
    const pid = postmasterPid();
    if (pid) try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
    asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  });
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  /** Runs `pg-node.sh <args>` as the postgres user, as the kubelet runs the probe in the container; its exit code. */
  function probe(...args: string[]): number {
    const result = spawnSync('/bin/bash', [path.join(ownScripts, 'pg-node.sh'), ...args], { env, uid, gid, cwd: scratch, encoding: 'utf8', timeout: 20_000 });
    return result.status ?? 1;
  }

  function startServer(...settings: string[]): void {
    const options = [`-c unix_socket_directories=/var/run/postgresql -c listen_addresses='' -c port=${port}`, ...settings.map(s => `-c ${s}`)];
    const started = asPostgres('pg_ctl', ['-D', data, '-w', '-t', '30', '-l', path.join(scratch, 'log'), '-o', options.join(' '), 'start']);
    if (started.code !== 0) throw new Error(started.output);
  }

  function postmasterPid(): number | undefined {
    const file = path.join(data, 'postmaster.pid');
    return fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8').split('\n')[0]) : undefined;
  }

  test('initdb works', () => {
    expect(init.code).toBe(0);
  });

  test('a running server is live and started', () => {
    startServer();
    expect([probe('live'), probe('live', 'started'), probe('ready')]).toEqual([0, 0, 0]);
  });

  test('a server that refuses connections while it recovers (a long crash recovery or catch-up) is live and started, though not ready', () => {
    writeAsPostgres(path.join(data, 'standby.signal'), '');
    try {
      // A standby without hot standby stays in recovery and answers every connection with "not yet accepting connections".
      startServer('hot_standby=off');
    } finally {
      fs.rmSync(path.join(data, 'standby.signal'), { force: true });
    }
    const isReady = spawnSync(path.join(PG_BIN, 'pg_isready'), ['-h', '/var/run/postgresql', '-p', port], { encoding: 'utf8' });
    expect([isReady.status, isReady.stdout]).toEqual([1, `/var/run/postgresql:${port} - rejecting connections\n`]);
    expect([probe('live'), probe('live', 'started'), probe('ready')]).toEqual([0, 0, 1]);
  });

  test('while the entrypoint waits (for the leader record, before it clones), it is live but not started', async () => {
    const volume = path.join(scratch, 'empty-volume');
    fs.mkdirSync(volume);
    fs.chownSync(volume, uid, gid);
    const waitingEnv = {
      ...env,
      PGDATA: path.join(volume, 'pgdata'),
      POD_NAME: 'live-test-1',
      POSTGRES_PASSWORD: 'p',
      POSTGRES_REPLICATION_PASSWORD: 'r',
      APP_USER: 'app',
      PRIMARY_HOST: 'nowhere.invalid',
      PEER_DOMAIN: 'nowhere.invalid',
      RECORD_FILE: path.join(volume, 'leader-record'),
      START_PLAN_FILE: path.join(volume, 'start-plan'),
      PGPASSFILE: path.join(volume, 'pgpass'),
      RETRY_SECONDS: '1',
      RECORD_MAX_AGE: '1',
    };
    const log: string[] = [];
    entrypoint = spawn('/bin/bash', [path.join(ownScripts, 'init-replica.sh')], { env: waitingEnv, uid, gid, cwd: scratch, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    entrypoint.stderr!.on('data', d => log.push(String(d)));
    for (let i = 0; i < 100 && !log.join('').includes('waiting for the role-labeler sidecar'); i++) await new Promise(r => setTimeout(r, 100));
    expect(log.join('')).toContain(`waiting for the role-labeler sidecar to answer with a start plan (none in ${volume}/start-plan within 1s)`);
    // It asked: a request id, in the file the sidecar's agent watches.
    expect(fs.readFileSync(path.join(volume, 'start-plan.wanted'), 'utf8')).toMatch(/^\d{16}-\d+\n$/);
    const probeWith = (...args: string[]) => spawnSync('/bin/bash', [path.join(ownScripts, 'pg-node.sh'), ...args],
      { env: waitingEnv, uid, gid, cwd: scratch, encoding: 'utf8' }).status;
    expect([probeWith('live'), probeWith('live', 'started')]).toEqual([0, 1]);

    process.kill(-entrypoint.pid!, 'SIGKILL');
    await new Promise(r => entrypoint!.once('exit', r));
    expect(probeWith('live')).toBe(1);
  });

  test('a stopped (wedged) postmaster, which answers nothing, is neither live nor started', () => {
    startServer();
    process.kill(postmasterPid()!, 'SIGSTOP');
    expect([probe('live'), probe('live', 'started')]).toEqual([1, 1]);
  });

  test('without a server, or with the postmaster.pid of a crashed one whose pid another process now has, it is not live', () => {
    expect(probe('live')).toBe(1);
    writeAsPostgres(path.join(data, 'postmaster.pid'), `${process.pid}\n${data}\n`);
    try {
      expect([probe('live'), probe('live', 'started')]).toEqual([1, 1]);
    } finally {
      fs.rmSync(path.join(data, 'postmaster.pid'), { force: true });
    }
  });
});

describe('archive-backup.sh: a pgBackRest backup in the recorded primary, never during a failover', () => {
  // The real kubectl against the e2e harness's API stand-in (HTTPS, a Lease store, pods whose exec is recorded).
  const record = (state: string, primary: string) => ({
    'postgres.cdk8s.io/state': state,
    'postgres.cdk8s.io/primary': primary,
    'postgres.cdk8s.io/epoch': '4',
    'postgres.cdk8s.io/timeline': '2',
    'postgres.cdk8s.io/system-identifier': '7714614225492620543',
    'postgres.cdk8s.io/job': 'job-0',
    ...(state === 'stable' ? {} : { 'postgres.cdk8s.io/target': 'postgres-cluster-2', 'postgres.cdk8s.io/previous': 'postgres-cluster-1' }),
  });
  type ExitOf = number | ((command: readonly string[]) => number);
  type Run = { status: number | null; output: string; calls: string[] };
  async function run(annotations: Record<string, string>, exitOfExec: ExitOf = 0): Promise<Run> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'archive-backup-'));
    const calls: string[] = [];
    const pod: ApiPod = {
      name: 'postgres-cluster-1',
      labels: {},
      apiCutOff: false,
      toObject: namespace => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'postgres-cluster-1', namespace },
        spec: { containers: [{ name: 'postgres' }] },
        status: { phase: 'Running', hostIP: '198.18.1.11' },
      }),
      exec: async (container, command) => {
        calls.push(`exec ${container}: ${command.join(' ')}`);
        return { code: typeof exitOfExec === 'number' ? exitOfExec : exitOfExec(command), stdout: '', stderr: '' };
      },
    };
    const api = new ApiStandIn({ namespace: 'default', manifests: new Manifests([]), pods: () => [pod], identityOf: () => undefined, onLabelsChange: () => undefined },
      path.join(dir, 'api.sock'), makeApiTls(path.join(dir, 'pki'), '10.96.0.1'));
    await api.listen();
    try {
      fs.writeFileSync(path.join(dir, 'kubeconfig'), api.adminKubeconfig());
      await new Promise<void>((resolve, reject) => {
        const create = spawn(kubectlBinary(), ['--kubeconfig', path.join(dir, 'kubeconfig'), 'create', '-f', '-'], { env: { HOME: dir } });
        create.on('exit', code => (code === 0 ? resolve() : reject(new Error(`creating the record failed: ${code}`))));
        create.stdin.end(JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'postgres-leader', annotations }, spec: {} }));
      });
      const result = await new Promise<{ status: number | null; output: string }>(resolve => {
        let output = '';
        const child = spawn('/bin/bash', [path.join(scriptsDir, 'archive-backup.sh')], {
          env: {
            PATH: process.env.PATH,
            HOME: dir,
            KUBECONFIG: path.join(dir, 'kubeconfig'),
            KUBECTL: kubectlBinary(),
            LEADER_RECORD: 'postgres-leader',
            BACKUP_TYPE: 'full',
            ARCHIVE_STANZA: 'postgres',
            PGBACKREST_CONFIG: '/etc/postgresql/pgbackrest.conf',
            POD_NAME: 'job-1',
          },
        });
        child.stdout.on('data', d => { output += d; });
        child.stderr.on('data', d => { output += d; });
        child.on('exit', status => resolve({ status, output }));
      });
      return { ...result, calls };
    } finally {
      api.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const pgbackrest = 'postgres: pgbackrest --config=/etc/postgresql/pgbackrest.conf --stanza=postgres';

  test('with a stable record, creates the stanza, checks the archive, checkpoints, backs up and shows the backups, each in the recorded primary\'s postgres container', async () => {
    const { status, calls, output } = await run(record('stable', 'postgres-cluster-1'));
    expect(output).toContain('full backup of stanza postgres on the primary, postgres-cluster-1 (epoch 4)');
    expect(status).toBe(0);
    expect(calls).toEqual([`exec ${pgbackrest} stanza-create`, `exec ${pgbackrest} check`, 'exec postgres: psql -XAtq -c CHECKPOINT',
      `exec ${pgbackrest} --type=full backup`, `exec ${pgbackrest} info`]);
  });

  test('an archive that does not work (pgbackrest check fails) fails the job before any backup, saying so', async () => {
    const { status, calls, output } = await run(record('stable', 'postgres-cluster-1'), command => (command.includes('check') ? 82 : 0));
    expect(status).toBe(1);
    expect(output).toContain('FAILED: pgbackrest check on postgres-cluster-1 failed: WAL is not archived into the repository');
    expect(calls).toEqual([`exec ${pgbackrest} stanza-create`, `exec ${pgbackrest} check`]);
  });

  test.each([
    ['a failover job holds the record', 'failing-over', 'a failover job holds the leader record (state failing-over)'],
    ['a switchover is under way', 'switching-over', 'state switching-over'],
  ])('refuses, and execs nothing, when %s', async (_what, state, message) => {
    const { status, calls, output } = await run(record(state, ''));
    expect(status).toBe(1);
    expect(output).toContain(message);
    expect(calls).toEqual([]);
  });

  test('a failed backup fails the job', async () => {
    const { status, output } = await run(record('stable', 'postgres-cluster-1'), 1);
    expect(status).toBe(1);
    expect(output).toContain('FAILED: stanza-create on postgres-cluster-1 failed');
  });

  test('an unknown backup type is refused before anything runs', () => {
    const result = spawnSync('/bin/bash', [path.join(scriptsDir, 'archive-backup.sh')], {
      encoding: 'utf8', env: { PATH: process.env.PATH, KUBECTL: '/bin/false', LEADER_RECORD: 'l', BACKUP_TYPE: 'weekly', ARCHIVE_STANZA: 's', PGBACKREST_CONFIG: 'c' },
    });
    expect([result.status, result.stderr]).toEqual([2, expect.stringContaining('BACKUP_TYPE must be full, diff or incr (not "weekly")')]);
  });
});
