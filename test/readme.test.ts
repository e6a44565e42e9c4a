import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { typeProblems } from './support/typecheck';

const root = path.join(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1]);

describe('README', () => {
  test('has a TypeScript usage example', () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  test.each(examples.map((code, i) => [i + 1, code]))('example %d compiles against the library and synthesizes', (i, code) => {
    const dir = fs.mkdtempSync(path.join(root, 'test', '.readme-example-'));
    try {
      const file = path.join(dir, `example-${i}.ts`);
      fs.writeFileSync(file, (code as string).replace(/from 'cdk8s-postgres-cluster'/g, `from '${path.join(root, 'src')}'`));
      const problems = typeProblems(file);
      expect(problems).toEqual([]);
      const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'readme-synth-'));
      const run = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', file], {
        cwd: root, encoding: 'utf8', env: { ...process.env, CDK8S_OUTDIR: outdir, TS_NODE_PROJECT: path.join(root, 'test', 'tsconfig.json') },
      });
      expect(run.stderr).toBe('');
      // One file per chart the example makes.
      expect(fs.readdirSync(outdir).filter(f => f.endsWith('.k8s.yaml')).length).toBe((code as string).split('new PostgresClusterChart(').length - 1);
      fs.rmSync(outdir, { recursive: true, force: true });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('README: Set-up', () => {
  const setUp = readme.slice(readme.indexOf('## Set-up\n'), readme.indexOf('\n## ', readme.indexOf('## Set-up\n') + 1));

  test('names every Debian package that npm test\'s first step installs', () => {
    const script = fs.readFileSync(path.join(root, 'test', 'setup', 'system-packages.sh'), 'utf8');
    const packages = [...script.matchAll(/missing\+=\(([^)]*)\)/g)].flatMap(m => m[1].trim().split(/\s+/));
    expect(packages).toEqual(expect.arrayContaining(['postgresql-15', 'pgbackrest', 'prometheus-postgres-exporter']));
    expect(packages.filter(p => !setUp.includes(`\`${p}\``))).toEqual([]);
  });
});
