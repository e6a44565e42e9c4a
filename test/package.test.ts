import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');
const PACKAGE_NAME = 'cdk8s-postgres-cluster';
// Nothing here may reach the network: builds, packs and installs run offline in CI.
const env = { ...process.env, CDK8S_CHECK_UPGRADE: 'false', npm_config_offline: 'true', npm_config_update_notifier: 'false' };

interface PackResult {
  readonly filename: string;
  readonly size: number;
  readonly files: { readonly path: string }[];
}

function run(command: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`\`${command} ${args.join(' ')}\` exited with ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/** Every file under dir, relative to it, with forward slashes. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter(entry => entry.isFile())
    .map(entry => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
}

/** Where two texts first differ, as a sentence; undefined when they are identical. */
function firstDifference(expected: string, actual: string): string | undefined {
  if (expected === actual) return undefined;
  const want = expected.split('\n');
  const got = actual.split('\n');
  let line = 0;
  while (line < want.length && line < got.length && want[line] === got[line]) line++;
  return `line ${line + 1} differs: dist/ has ${JSON.stringify(want[line] ?? '<end of file>')}, `
    + `the packed library wrote ${JSON.stringify(got[line] ?? '<end of file>')} `
    + '(if test/dist.test.ts fails too, dist/ is out of date: run `npx cdk8s synth`)';
}

/** A consumer needs the compiled library, its jsii manifest, the embedded scripts, and the package's docs. */
function consumerNeeds(file: string): boolean {
  return ['package.json', 'README.md', 'API.md', 'LICENSE', '.jsii'].includes(file)
    || /^lib\/.+\.(js|d\.ts)$/.test(file)
    || /^lib\/scripts\/[^/]+\.sh$/.test(file);
}

let workDir: string;
let tarball: string;
let packed: PackResult;
let packedFiles: string[];

// Built as a release would be, so the test also works on a clean clone where lib/ does not exist yet.
beforeAll(() => {
  const projen = path.join(root, 'node_modules', '.bin', 'projen');
  run(projen, ['compile'], root);
  run(projen, ['post-compile'], root);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'package-test-'));
  const pack = run('npm', ['pack', '--pack-destination', workDir, '--json'], root);
  packed = (JSON.parse(pack.stdout) as PackResult[])[0];
  tarball = path.join(workDir, packed.filename);
  packedFiles = packed.files.map(f => f.path).sort();
}, 180_000);

afterAll(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe('npm pack', () => {
  test('the tarball holds the compiled library, its jsii manifest, its docs, and every script the constructs embed', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'README.md', 'API.md', 'LICENSE', '.jsii', 'lib/index.js', 'lib/index.d.ts']));
    const compiled = filesUnder(path.join(root, 'src')).filter(f => f.endsWith('.ts'))
      .flatMap(f => [`lib/${f.replace(/\.ts$/, '.js')}`, `lib/${f.replace(/\.ts$/, '.d.ts')}`]);
    expect(compiled.length).toBeGreaterThan(0);
    expect(packedFiles).toEqual(expect.arrayContaining(compiled));
    const scripts = fs.readdirSync(path.join(root, 'src', 'scripts')).filter(f => f.endsWith('.sh')).map(f => `lib/scripts/${f}`);
    expect(scripts.length).toBeGreaterThan(0);
    expect(packedFiles).toEqual(expect.arrayContaining(scripts));
  });

  test('the tarball holds nothing else: no sources, tests, fixtures, benchmarks, docs, synthesized YAML, CI or scratch files', () => {
    expect(packedFiles.filter(file => !consumerNeeds(file))).toEqual([]);
    expect(packedFiles.filter(file => /^(src|test|bench|docs|dist|dist-packages|imports|\.ci|\.scratch|\.projen)\//.test(file))).toEqual([]);
    expect(packedFiles.filter(file => /\.test\.ts$|(^|\/)tsconfig(\.dev)?\.json$|\.tgz$/.test(file))).toEqual([]);
  });

  test('a fresh project installs the tarball offline and synthesizes the default cluster byte for byte as dist/', () => {
    const consumer = path.join(workDir, 'consumer');
    const installed = path.join(consumer, 'node_modules', PACKAGE_NAME);
    fs.mkdirSync(installed, { recursive: true });
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({
      name: 'package-test-consumer', version: '1.0.0', private: true, dependencies: { [PACKAGE_NAME]: `file:${tarball}` },
    }, undefined, 2));
    run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1', 'package/'], consumer);

    // What the packed library needs at run time comes from the repository's node_modules, never the network.
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
    const runtime = Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies });
    expect(runtime).toEqual(expect.arrayContaining(['cdk8s', 'constructs', 'cdk8s-plus-27']));
    for (const dependency of runtime) {
      const link = path.join(consumer, 'node_modules', dependency);
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(path.join(root, 'node_modules', dependency), link, 'dir');
    }

    const outdir = path.join(workDir, 'out');
    fs.writeFileSync(path.join(consumer, 'synth.js'), [
      "const { App } = require('cdk8s');",
      `const { PostgresClusterChart } = require('${PACKAGE_NAME}');`,
      'const app = new App({ outdir: process.argv[2] });',
      "new PostgresClusterChart(app, 'postgres-cluster');",
      'app.synth();',
      `console.log(require.resolve('${PACKAGE_NAME}'));`,
    ].join('\n'));
    const synth = run(process.execPath, ['synth.js', outdir], consumer);

    expect(synth.stdout.trim()).toBe(path.join(fs.realpathSync(installed), 'lib', 'index.js'));
    expect(fs.readdirSync(outdir)).toEqual(['postgres-cluster.k8s.yaml']);
    const expected = fs.readFileSync(path.join(root, 'dist', 'postgres-cluster.k8s.yaml'), 'utf8');
    const actual = fs.readFileSync(path.join(outdir, 'postgres-cluster.k8s.yaml'), 'utf8');
    expect(firstDifference(expected, actual)).toBeUndefined();
  });
});
