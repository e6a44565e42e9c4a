import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cleanClone, npmPack, PACKAGE_NAME, PackResult, root, run } from './support/clean-clone';

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
    + '(if test/dist.test.ts fails too, dist/ is out of date: run `npm run synth`)';
}

/** A consumer needs the compiled library, its jsii manifest, the embedded scripts, and the package's docs. */
function consumerNeeds(file: string): boolean {
  return ['package.json', 'README.md', 'API.md', 'LICENSE', '.jsii'].includes(file)
    || /^lib\/.+\.(js|d\.ts)$/.test(file)
    || /^lib\/scripts\/[^/]+\.sh$/.test(file);
}

let workDir: string;
let clone: string;
let packed: PackResult & { readonly tarball: string };
let packedFiles: string[];

// As a new user would: a clone with no lib/, `npm ci`, then `npm pack`, whose prepack builds lib/ (about 30 s in all).
beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'package-test-'));
  clone = cleanClone(workDir);
  expect(fs.existsSync(path.join(clone, 'lib'))).toBe(false);
  packed = npmPack(clone, workDir);
  packedFiles = packed.files.map(f => f.path).sort();
}, 300_000);

afterAll(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe('npm pack on a clean clone', () => {
  test('the tarball holds the compiled library, its jsii manifest, its docs, and every script the constructs embed', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'README.md', 'API.md', 'LICENSE', '.jsii', 'lib/index.js', 'lib/index.d.ts']));
    const compiled = filesUnder(path.join(clone, 'src')).filter(f => f.endsWith('.ts'))
      .flatMap(f => [`lib/${f.replace(/\.ts$/, '.js')}`, `lib/${f.replace(/\.ts$/, '.d.ts')}`]);
    expect(compiled.length).toBeGreaterThan(0);
    expect(packedFiles).toEqual(expect.arrayContaining(compiled));
    const scripts = fs.readdirSync(path.join(clone, 'src', 'scripts')).filter(f => f.endsWith('.sh')).map(f => `lib/scripts/${f}`);
    expect(scripts.length).toBeGreaterThan(0);
    expect(packedFiles).toEqual(expect.arrayContaining(scripts));
  });

  test('the tarball holds nothing else: no sources, tests, fixtures, benchmarks, docs, synthesized YAML, CI or scratch files', () => {
    expect(packedFiles.filter(file => !consumerNeeds(file))).toEqual([]);
    expect(packedFiles.filter(file => /^(src|test|bench|docs|dist|dist-packages|imports|\.ci|\.scratch|\.projen)\//.test(file))).toEqual([]);
    expect(packedFiles.filter(file => /\.test\.ts$|(^|\/)tsconfig(\.dev)?\.json$|\.tgz$/.test(file))).toEqual([]);
  });

  test('the tarball declares the jsii targets of every language the library is published in', () => {
    const manifest = JSON.parse(run('tar', ['-xzOf', packed.tarball, 'package/.jsii'], workDir).stdout);
    expect(Object.keys(manifest.targets).sort()).toEqual(['go', 'java', 'js', 'python']);
  });

  test('npm pack changes no tracked file of the clone: lib/ and .jsii are ignored by git, and API.md is current', () => {
    expect(run('git', ['status', '--porcelain'], clone).stdout).toBe('');
  });

  test('a fresh project installs the tarball with npm and synthesizes the default cluster byte for byte as dist/', () => {
    const consumer = path.join(workDir, 'consumer');
    fs.mkdirSync(consumer);
    // Its peer dependencies are the clone's, linked: npm installs nothing from the network.
    const peers = Object.keys(JSON.parse(fs.readFileSync(path.join(clone, 'package.json'), 'utf8')).peerDependencies);
    expect(peers).toEqual(expect.arrayContaining(['cdk8s', 'constructs', 'cdk8s-plus-27']));
    const dependencies: Record<string, string> = { [PACKAGE_NAME]: `file:${packed.tarball}` };
    for (const peer of peers) dependencies[peer] = `file:${path.join(clone, 'node_modules', peer)}`;
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({
      name: 'package-test-consumer', version: '1.0.0', private: true, dependencies,
    }, undefined, 2));
    // --legacy-peer-deps: npm 11 crashes checking peer dependencies against linked folders ("reading 'matches'").
    run('npm', ['install', '--offline', '--legacy-peer-deps', '--no-audit', '--no-fund'], consumer);

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

    expect(synth.stdout.trim()).toBe(path.join(consumer, 'node_modules', PACKAGE_NAME, 'lib', 'index.js'));
    expect(fs.readdirSync(outdir)).toEqual(['postgres-cluster.k8s.yaml']);
    const expected = fs.readFileSync(path.join(root, 'dist', 'postgres-cluster.k8s.yaml'), 'utf8');
    const actual = fs.readFileSync(path.join(outdir, 'postgres-cluster.k8s.yaml'), 'utf8');
    expect(firstDifference(expected, actual)).toBeUndefined();
  });
});
