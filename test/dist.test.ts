import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { PostgresClusterChart } from '../src';
import { synthCluster } from './support/synth';

// GitOps tools apply dist/ as committed: it must be exactly what main.ts synthesizes now.
test('dist/ holds the synthesized default cluster (run `npx cdk8s synth` and commit dist/ after a change)', () => {
  const file = path.join(__dirname, '..', 'dist', 'postgres-cluster.k8s.yaml');
  const committed = parseAllDocuments(fs.readFileSync(file, 'utf8')).map(d => d.toJS());
  expect(committed).toEqual(synthCluster());
});

// GitOps tools re-apply dist/ constantly: the same props must give the same bytes, every time.
test('synthesis is deterministic: the same props give byte-identical YAML', () => {
  const yaml = () => {
    const app = new App({ outdir: '/tmp/cdk8s-postgres-determinism' });
    new PostgresClusterChart(app, 'postgres-cluster', { synchronousReplicas: 1, extraSettings: { work_mem: '8MB', shared_buffers: '1GB' } });
    return app.synthYaml();
  };
  expect(yaml()).toBe(yaml());
});

describe('`npm run synth` (synth.js) writes exactly what `npx cdk8s synth` writes', () => {
  const root = path.join(__dirname, '..');
  // A copy of the project's app (main.ts, cdk8s.yaml, synth.js, package.json; src and node_modules linked), so that
  // the runs never touch the repository's dist/, which other tests read.
  let project: string;
  beforeAll(() => {
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-js-'));
    for (const file of ['main.ts', 'cdk8s.yaml', 'synth.js', 'package.json']) fs.copyFileSync(path.join(root, file), path.join(project, file));
    for (const dir of ['src', 'node_modules']) fs.symlinkSync(path.join(root, dir), path.join(project, dir));
  });
  afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

  const env = (extra: Record<string, string>) => {
    const { CDK8S_OUTDIR, ARGOCD_REPO_URL, ...rest } = process.env;
    return { ...rest, CDK8S_CHECK_UPGRADE: 'false', npm_config_update_notifier: 'false', ...extra };
  };
  const cdk8sSynth = (extra: Record<string, string> = {}) =>
    spawnSync(path.join(root, 'node_modules', '.bin', 'cdk8s'), ['synth'], { cwd: project, env: env(extra), encoding: 'utf8' });
  const npmRunSynth = (extra: Record<string, string> = {}) =>
    spawnSync('npm', ['run', '--silent', 'synth'], { cwd: project, env: env(extra), encoding: 'utf8' });

  /** What dist/ holds: every file (relative path, forward slashes) and its bytes; directories too, so empty ones count. */
  function contents(): Map<string, Buffer | 'directory'> {
    const dist = path.join(project, 'dist');
    const entries = fs.readdirSync(dist, { recursive: true, withFileTypes: true })
      .map(e => [path.relative(dist, path.join(e.parentPath, e.name)).split(path.sep).join('/'), e] as const)
      .sort(([a], [b]) => a.localeCompare(b));
    return new Map(entries.map(([name, e]) => [name, e.isDirectory() ? 'directory' : fs.readFileSync(path.join(dist, name))]));
  }

  /** Leaves files in dist/ that the app does not write: cdk8s synth deletes the folder first, and so must synth.js. */
  function plantStaleFiles(): void {
    fs.mkdirSync(path.join(project, 'dist', 'argocd'), { recursive: true });
    fs.mkdirSync(path.join(project, 'dist', 'old'), { recursive: true });
    fs.writeFileSync(path.join(project, 'dist', 'stale.k8s.yaml'), 'kind: Stale\n');
    fs.writeFileSync(path.join(project, 'dist', 'argocd', 'stale.k8s.yaml'), 'kind: Stale\n');
  }

  function expectSuccess(result: ReturnType<typeof spawnSync>): void {
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  }

  test.each([
    ['the default cluster', {}, ['postgres-cluster.k8s.yaml']],
    ['with ARGOCD_REPO_URL, the Argo CD Application in dist/argocd/', { ARGOCD_REPO_URL: 'https://github.com/acme/infra.git' },
      ['argocd', 'argocd/postgres-cluster-argocd.k8s.yaml', 'postgres-cluster.k8s.yaml']],
  ])('%s, byte for byte, stale files removed', (_, extra: Record<string, string>, files) => {
    plantStaleFiles();
    const cdk8s = cdk8sSynth(extra);
    expectSuccess(cdk8s);
    const expected = contents();
    expect([...expected.keys()]).toEqual(files);

    // Twice: the first run transpiles main.ts and src/ (its cache is empty), the second reads them from .cache/synth/.
    fs.rmSync(path.join(project, '.cache'), { recursive: true, force: true });
    for (const run of ['without', 'with'] as const) {
      plantStaleFiles();
      const result = npmRunSynth(extra);
      expectSuccess(result);
      expect([run, contents()]).toEqual([run, expected]);
      expect(result.stdout).toBe(cdk8s.stdout); // "Synthesizing application" and the manifests written
    }
    expect(fs.readdirSync(path.join(project, '.cache', 'synth')).length).toBeGreaterThan(0);
  }, 90_000);

  test('a bad prop fails both the same way: the message, exit code 1', () => {
    const bad = { ARGOCD_REPO_URL: 'not a url' };
    const expected = cdk8sSynth(bad);
    const actual = npmRunSynth(bad);
    const message = 'error: ArgoCdApplication postgres-cluster-argocd/Application: repoUrl "not a url" is not a Git repository URL';
    expect(expected.status).toBe(1);
    expect(expected.stderr).toContain(message);
    expect(actual.status).toBe(1);
    expect(actual.stderr).toContain(message);
  }, 60_000);
});
