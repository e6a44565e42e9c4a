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
    expect(result.stderr).toMatch(/^\S+Z pg-0 agent: usage: agent\.js sidecar\|fence\|status <configuration file> \(got: start x\.json\)\n$/);
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
