// The agent's bundle, as the manifests embed it: what `npx projen bundle:agent` builds from src/agent/ today, and a
// program that runs on Node.js alone (no node_modules beside it), refusing bad input with a message that names it.
// Spawns esbuild and node: left out of mutation runs (stryker.config.mjs).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PostgresConfig } from '../../src';
import { find, synthChart } from '../support/synth';

const ROOT = path.join(__dirname, '..', '..');
const BUNDLE = path.join(ROOT, 'src', 'agent', 'agent.bundle.js');

let dir: string;
beforeAll(() => {
  // Readable by anyone: the bundle runs from a folder outside the clone, as in a pod (no node_modules to fall back on).
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-bundle-'));
  fs.copyFileSync(BUNDLE, path.join(dir, 'agent.js'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [path.join(dir, 'agent.js'), ...args], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 20_000 });
}

describe('the agent bundle', () => {
  test('is what the sources build today (run `npx projen bundle:agent` after changing src/agent/)', () => {
    const task = JSON.parse(fs.readFileSync(path.join(ROOT, '.projen', 'tasks.json'), 'utf8')).tasks['bundle:agent'];
    const command: string = task.steps[0].exec;
    expect(command).toContain('--outfile=src/agent/agent.bundle.js');
    const out = path.join(dir, 'fresh.js');
    execFileSync('bash', ['-c', `PATH="${path.join(ROOT, 'node_modules', '.bin')}:$PATH" ${command.replace('--outfile=src/agent/agent.bundle.js', `--outfile=${out}`)}`],
      { cwd: ROOT, stdio: 'pipe' });
    const fresh = fs.readFileSync(out, 'utf8');
    expect(fresh === fs.readFileSync(BUNDLE, 'utf8') ? 'up to date' : 'stale: run npx projen bundle:agent').toBe('up to date');
  }, 60_000);

  test('a command it does not know: usage, exit 2', () => {
    const result = run(['start', 'x.json'], { POD_NAME: 'pg-0' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^\S+Z pg-0 agent: usage: agent\.js sidecar\|fence\|status <configuration file>, or agent\.js failover\|copy-dump \(got: start x\.json\)\n$/);
  });

  test('the dump copy without its document or its key: says which, exit 2, before any request', () => {
    const none = run(['copy-dump'], { POD_NAME: 'backup-abc' });
    expect([none.status, none.stderr]).toEqual([2, expect.stringContaining('backup-abc copy-dump: DUMP_COPY_CONFIG: not JSON')]);
    const document = JSON.stringify({
      version: 1,
      dumpDir: '/backup',
      database: 'myapp',
      retention: 2,
      bucket: 'b',
      path: '/p',
      endpoint: 'e',
      port: 443,
      region: 'r',
      uriStyle: 'path',
      verifyTls: true,
    });
    const keyless = run(['copy-dump'], { POD_NAME: 'backup-abc', DUMP_COPY_CONFIG: document, AWS_ACCESS_KEY_ID: 'id' });
    expect([keyless.status, keyless.stderr]).toEqual([2,
      expect.stringContaining('AWS_SECRET_ACCESS_KEY is not set: it comes from the Secret of backupS3.credentials, which must have the key')]);
  });

  test('the failover job takes no file: its document is FAILOVER_JOB_CONFIG; `failover x.json` is refused with the usage', () => {
    const result = run(['failover', 'x.json'], { POD_NAME: 'job-abc' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('usage: agent.js sidecar|fence|status <configuration file>, or agent.js failover|copy-dump (got: failover x.json)');
  });

  test('the failover job without its document, or with a bad run variable: says which, exit 2, before any request', () => {
    const none = run(['failover'], { POD_NAME: 'job-abc' });
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('job-abc agent: FAILOVER_JOB_CONFIG: not JSON');
    const document = JSON.stringify({
      version: 1,
      leaderRecord: 'pg-leader',
      clusterSelector: 'app=pg',
      jobSelector: 'app=pg-job',
      roleLabel: 'role',
      postgresContainer: 'postgres',
      sidecarContainer: 'role-labeler',
      nodeScript: '/opt/pg-node.sh',
      agent: '/opt/agent.js',
      agentConfig: '/opt/sidecar.json',
      synchronousReplicas: 0,
      isolationFenceSeconds: 10,
      apiTimeoutSeconds: 2,
      timeouts: { fenceSeconds: 60, settleSeconds: 5, reconnectSeconds: 5, switchoverSeconds: 10, followSeconds: 15, promoteSeconds: 60 },
    });
    const bad = run(['failover'], { POD_NAME: 'job-abc', FAILOVER_JOB_CONFIG: document, SCALE_DOWN_TO: 'all' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('invalid run of the failover job: SCALE_DOWN_TO must be the number of pods you will scale to (1 or more), got "all"');
    const outside = run(['failover'], { POD_NAME: 'job-abc', FAILOVER_JOB_CONFIG: document });
    expect(outside.status).toBe(2);
    expect(outside.stderr).toContain('not in a Kubernetes pod: KUBERNETES_SERVICE_HOST is not set');
  });

  test('the failover job never loads the PostgreSQL client (a third of the start); `status` does', () => {
    // Which environment variables the process read: the client reads NODE_PG_FORCE_NATIVE as it loads.
    const preload = path.join(dir, 'env-reads.js');
    fs.writeFileSync(preload, `const real = process.env; const seen = new Set();
      process.env = new Proxy(real, { get: (target, key) => { if (typeof key === 'string') seen.add(key); return target[key]; } });
      process.on('exit', () => require('fs').writeFileSync(real.ENV_READS, [...seen].join('\\n')));`);
    const reads = (args: string[], env: NodeJS.ProcessEnv) => {
      const out = path.join(dir, `reads-${args[0]}`);
      const result = run(args, { ...env, NODE_OPTIONS: `--require=${preload}`, ENV_READS: out });
      return { status: result.status, reads: fs.readFileSync(out, 'utf8').split('\n') };
    };
    const job = reads(['failover'], { POD_NAME: 'job-abc' });
    expect(job.status).toBe(2);
    expect(job.reads).toContain('FAILOVER_JOB_CONFIG');
    expect(job.reads).not.toContain('NODE_PG_FORCE_NATIVE');
    const status = reads(['status', path.join(dir, 'missing.json')], { POD_NAME: 'pg-0' });
    expect(status.status).toBe(2);
    expect(status.reads).not.toContain('NODE_PG_FORCE_NATIVE');
    const objects = synthChart(chart => new PostgresConfig(chart, 'Config', {}));
    const document = JSON.parse(find(objects, 'ConfigMap', 'postgres-cluster-init').data['sidecar.json']);
    const file = path.join(dir, 'loads.json');
    fs.writeFileSync(file, JSON.stringify({ ...document, pgdata: path.join(dir, 'pgdata'), socketDir: dir }));
    const loaded = reads(['status', file], { POD_NAME: 'pg-0' });
    expect(loaded.status).toBe(0);
    expect(loaded.reads).toContain('NODE_PG_FORCE_NATIVE');
  });

  test('no pod name: says where it comes from, exit 2', () => {
    const result = run(['status', 'x.json']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('POD_NAME is "": it must name this pod (set it from the downward API, metadata.name)');
  });

  test('a bad configuration document: names the setting, exit 2, before doing anything', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ version: 1 }));
    const result = run(['sidecar', file], { POD_NAME: 'pg-0' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`${file}: invalid sidecar configuration: leaderRecord is missing`);
  });

  test('status of a pod whose data directory is empty: the line the failover job reads', () => {
    const objects = synthChart(chart => new PostgresConfig(chart, 'Config', {}));
    const document = JSON.parse(find(objects, 'ConfigMap', 'postgres-cluster-init').data['sidecar.json']);
    const file = path.join(dir, 'sidecar.json');
    fs.writeFileSync(file, JSON.stringify({ ...document, pgdata: path.join(dir, 'pgdata'), socketDir: dir }));
    const result = run(['status', file], { POD_NAME: 'pg-0' });
    expect([result.status, result.stdout]).toEqual([0, 'empty 0/0 none 0 0/0\n']);
  });
});
