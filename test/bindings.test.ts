import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Testing } from 'cdk8s';
import { PostgresClusterChart } from '../src';
import { cleanClone, installedVersion, npmPack, root, run } from './support/clean-clone';

// The Python, Java and Go bindings, each built by jsii-pacmak from a clean clone's package, installed as a user of that
// language installs it, and run by that language's own tests (test/bindings/<language>/): the default cluster must
// come out byte for byte as dist/, and a bad prop must fail with the message TypeScript gives.
// Run one language alone: `npx jest test/bindings.test.ts -t Python` (or Java, Go).

const DIST_YAML = path.join(root, 'dist', 'postgres-cluster.k8s.yaml');
const BAD_PROPS = { replicas: 0 };
// The cdk8s libraries at the versions the library is built against (package-lock.json's): their JavaScript, which each
// binding carries, writes the YAML, so every language runs the same versions.
const VERSIONS = {
  'cdk8s': installedVersion('cdk8s'),
  'constructs': installedVersion('constructs'),
  'cdk8s-plus-27': installedVersion('cdk8s-plus-27'),
};
// Java and Go build them with jsii-pacmak beside the library: Maven Central as reached here serves no
// org.cdk8s:cdk8s-plus-27 and no org.cdk8s:cdk8s past 2.70.47, and the Go module proxy no cdk8s-core-go or cdk8s-plus-go.
const CDK8S_MODULES = Object.keys(VERSIONS).map(name => path.join('node_modules', name));
// Maven's downloads (plugins, jsii-runtime, JUnit), kept between runs; jsii-pacmak's build and the Java tests share it.
const MAVEN_REPOSITORY = path.join(root, '.cache', 'bindings', 'maven');
const BUILD_TIMEOUT = 20 * 60_000;
const RUN_TIMEOUT = 2 * 60_000;

let workDir: string;
let clone: string;
let testEnv: NodeJS.ProcessEnv;

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bindings-test-'));
  clone = cleanClone(workDir);
  npmPack(clone, workDir); // its prepack builds lib/ and .jsii, which jsii-pacmak reads
  testEnv = { DIST_YAML, EXPECTED_ERROR: typeScriptError(), PYTHONDONTWRITEBYTECODE: '1' };
}, 300_000);

afterAll(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

function typeScriptError(): string {
  try {
    new PostgresClusterChart(Testing.app(), 'postgres-cluster', BAD_PROPS);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`${JSON.stringify(BAD_PROPS)} no longer fails in TypeScript: pick another bad prop`);
}

/** jsii-pacmak in the clone, one language, into <workDir>/<language>. */
function pacmak(language: string, options: string[], modules: string[]): void {
  run(path.join(clone, 'node_modules', '.bin', 'jsii-pacmak'), ['--target', language, '--outdir', workDir, '--no-npmignore', ...options, ...modules], clone, {
    // lib/ is built: the npm pack that jsii-pacmak runs need not run prepack again.
    env: { npm_config_ignore_scripts: 'true' },
  });
}

/** A copy of test/bindings/<language> beside jsii-pacmak's output, where the project files look for it (../<language>). */
function languageProject(language: string): string {
  const project = path.join(workDir, `${language}-tests`);
  fs.cpSync(path.join(__dirname, 'bindings', language), project, { recursive: true });
  return project;
}

/** The generated go.mod files ask for Go 1.25: the machine's own Go, as Debian's golang-go (1.19) is older. */
function requireGo(major: number, minor: number): void {
  const found = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' }).stdout?.trim() ?? '';
  const [foundMajor, foundMinor] = found.replace(/^go/, '').split('.').map(Number);
  if (!(foundMajor > major || (foundMajor === major && foundMinor >= minor))) {
    throw new Error(`The Go binding's tests need Go ${major}.${minor} or newer on PATH; found: ${found || 'none'}.`);
  }
}

describe('the Python binding (pip install cdk8s-postgres-cluster, module cdk8s_postgres_cluster)', () => {
  let python: string;
  let project: string;

  // A virtual environment with the wheel, the cdk8s libraries from PyPI and pytest.
  beforeAll(() => {
    pacmak('python', [], ['.']);
    const wheel = fs.readdirSync(path.join(workDir, 'python')).find(file => file.endsWith('.whl'));
    expect(wheel).toBeDefined();
    const venv = path.join(workDir, 'venv');
    run('python3', ['-m', 'venv', venv], workDir);
    python = path.join(venv, 'bin', 'python');
    run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', path.join(workDir, 'python', wheel!),
      ...Object.entries(VERSIONS).map(([name, version]) => `${name}==${version}`), 'pytest==9.2.0'], workDir);
    project = languageProject('python');
  }, BUILD_TIMEOUT);

  function pytest(test: string): void {
    const result = run(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', `test_binding.py::${test}`], project, { env: testEnv });
    expect(result.stdout).toMatch(/\b1 passed\b/);
  }

  test('synthesizes the default cluster byte for byte as dist/', () => {
    pytest('test_the_default_cluster_synthesizes_byte_for_byte_as_dist');
  }, RUN_TIMEOUT);

  test('fails when replicas is 0, with the message TypeScript gives', () => {
    pytest('test_fails_when_replicas_is_zero_with_the_message_typescript_gives');
  }, RUN_TIMEOUT);
});

describe('the Java binding (Maven io.github.cdk8s-postgres-cluster:cdk8s-postgres-cluster)', () => {
  let project: string;
  let maven: (...args: string[]) => string;

  // jsii-pacmak builds the jars into <workDir>/java, a Maven repository on disk; `mvn test-compile` builds the tests once.
  beforeAll(() => {
    // Left from an earlier run, these would stand in for the jars built now (same versions).
    for (const group of ['io/github/cdk8s-postgres-cluster', 'org/cdk8s', 'software/constructs']) {
      fs.rmSync(path.join(MAVEN_REPOSITORY, group), { recursive: true, force: true });
    }
    // No javadoc jars: only Maven Central asks for them, and they took 90 of the build's 130 s here.
    pacmak('java', ['--maven-local-repository', MAVEN_REPOSITORY, '--mvn-define=maven.javadoc.skip=true'], [...CDK8S_MODULES, '.']);
    project = languageProject('java');
    const bindingVersion = JSON.parse(fs.readFileSync(path.join(clone, 'package.json'), 'utf8')).version;
    const versions = [`-Dbinding.version=${bindingVersion}`, ...Object.entries(VERSIONS).map(([name, version]) => `-D${name}.version=${version}`)];
    maven = (...args) => run('mvn', ['--batch-mode', `-Dmaven.repo.local=${MAVEN_REPOSITORY}`, ...versions, ...args], project, { env: testEnv }).stdout;
    maven('--quiet', 'test-compile');
  }, BUILD_TIMEOUT);

  function junit(test: string): void {
    expect(maven(`-Dtest=BindingTest#${test}`, 'surefire:test')).toMatch(/Tests run: 1, Failures: 0, Errors: 0, Skipped: 0/);
  }

  test('synthesizes the default cluster byte for byte as dist/', () => {
    junit('theDefaultClusterSynthesizesByteForByteAsDist');
  }, RUN_TIMEOUT);

  test('fails when replicas is 0, with the message TypeScript gives', () => {
    junit('failsWhenReplicasIsZeroWithTheMessageTypeScriptGives');
  }, RUN_TIMEOUT);
});

describe('the Go binding (go get github.com/cdk8s-postgres-cluster/cdk8s-postgres-cluster-go/cdk8spostgrescluster)', () => {
  let project: string;

  // jsii-pacmak writes the modules' source into <workDir>/go, which go.mod replaces; `go vet` builds the tests once.
  beforeAll(() => {
    requireGo(1, 25);
    pacmak('go', ['--code-only'], [...CDK8S_MODULES, '.']);
    project = languageProject('go');
    run('go', ['mod', 'tidy'], project);
    run('go', ['vet', './...'], project);
  }, BUILD_TIMEOUT);

  function goTest(test: string): void {
    const result = run('go', ['test', '-count=1', '-v', '-run', `^${test}$`, './...'], project, { env: testEnv });
    expect(result.stdout).toMatch(new RegExp(`--- PASS: ${test} `));
  }

  test('synthesizes the default cluster byte for byte as dist/', () => {
    goTest('TestDefaultClusterSynthesizesByteForByteAsDist');
  }, RUN_TIMEOUT);

  test('fails when replicas is 0, with the message TypeScript gives', () => {
    goTest('TestFailsWhenReplicasIsZeroWithTheMessageTypeScriptGives');
  }, RUN_TIMEOUT);
});
