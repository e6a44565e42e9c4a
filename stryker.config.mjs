// Mutation testing of src/ with Stryker: `npx projen mutation` (by hand, not part of `npm test`).
// Figures and how to read them: bench/README.md, "Mutation score (Stryker)".
//
// The score counts behaviour tests alone: tests that only compare the output with a recorded copy
// (the snapshot, dist/, the reference fixture) catch drift, not bugs, and are left out here, as are
// the tests that spawn other programs (npm, kubectl, shellcheck, ts-node, PostgreSQL) or test the
// shell scripts rather than the TypeScript.
import { fileURLToPath } from 'node:url';

const drift = [
  'the default cluster: 3 pods of PostgreSQL 15 and the reference objects (snapshot)',
  'writes the Application for dist/ into dist/argocd/',
];
// The fuzzed props tests (test/props-fuzz.test.ts) cover nearly every mutant, and at their 60 runs cost ~4 s of
// each mutant's run: 10 runs here (the test runners inherit the variable).
process.env.FUZZ_RUNS ??= '10';
const escape = s => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// STRYKER_SCOPE=decisions: the agent's decisions (pure functions, no I/O) against their table tests alone, which is
// how issue 17 asks for the score ("from these unit tests alone"). A run over all tests takes each mutant through
// every covering test, and the agent's I/O tests (its API stand-in, real PostgreSQL) run in real time: 7-20 mutants a
// minute, against about 40 here (2,846 mutants in 69 minutes). Its incremental report is its own, so the two kinds of run
// never mix results.
const decisions = process.env.STRYKER_SCOPE === 'decisions';
// STRYKER_NAME=kube: a run of its own (reports/stryker-incremental-kube.json, reports/mutation-kube/), so that runs on
// different files, one at a time, keep each its results for the next run of that file.
const name = process.env.STRYKER_NAME;
// STRYKER_BAIL=1: a mutant stops at the first test that kills it (faster for the I/O executors, whose covering tests
// run in real time); the report then names one killing test per mutant.
const bail = process.env.STRYKER_BAIL === '1';
// STRYKER_TESTS=kube,kube-exec: only these files of test/agent/ (a file's own behaviour tests, when all of those that
// cover it would take hours: kube.ts is reached by every test of the agent's I/O, most of them in real time).
const only = process.env.STRYKER_TESTS?.split(',').map(test => `<rootDir>/test/agent/${test}.test.ts`);
const decisionTests = [
  'archive-watch', 'automatic-failover', 'config', 'configuration', 'dump-copy-config', 'event-line', 'failover', 'failover-job-config',
  'failover-target', 'failsafe', 'follow', 'handover', 'label', 'node-status', 'record', 'roll', 'sidecar', 'start', 'transitions',
].map(name => `<rootDir>/test/agent/${name}.test.ts`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  coverageAnalysis: 'perTest',
  checkers: [],
  concurrency: 1,
  // A mutant that only module-level code reaches (tables and patterns built as a file loads) needs
  // the whole suite reloaded, ~10 s each: such "static" mutants are reported as Ignored, not scored.
  ignoreStatic: true,
  mutate: [
    'src/**/*.ts',
    '!src/private/imports/**',
    // Re-exports only.
    '!src/index.ts',
    // Generated from each major's pg_settings (see its first lines), like the imports: data, no logic.
    // Each of its ~370 rows would be a static mutant, a whole run of the suite each.
    '!src/private/postgres-settings-catalogue.ts',
    // The agent's entry point: its command line, run by test/agent/bundle.test.ts and the e2e suite.
    '!src/agent/main.ts',
  ],
  jest: {
    projectType: 'custom',
    config: {
      testMatch: only ?? (decisions ? decisionTests : ['<rootDir>/test/**/*.test.ts']),
      testPathIgnorePatterns: [
        '/node_modules/',
        '/test/e2e/',
        // Spawn npm, kubectl, ts-node, shellcheck or PostgreSQL (initdb runs as each file loads).
        '/test/package\\.test\\.ts$',
        // Clones the repository and builds the Python, Java and Go packages.
        '/test/bindings\\.test\\.ts$',
        '/test/kustomize\\.test\\.ts$',
        '/test/readme\\.test\\.ts$',
        '/test/scripts\\.test\\.ts$',
        '/test/postgresql-conf\\.test\\.ts$',
        '/test/setting-value-postgres\\.test\\.ts$',
        // Runs leader-record.sh with bash against the agent's record encoder.
        '/test/agent/record-bash\\.test\\.ts$',
        // Builds the agent's bundle with esbuild and runs it with node.
        '/test/agent/bundle\\.test\\.ts$',
        // The default cluster against the reference fixture and docs/deviations.md: drift.
        '/test/reference\\.test\\.ts$',
        // dist/ against the code: drift; its determinism test has a twin in argo-cd-application.test.ts.
        '/test/dist\\.test\\.ts$',
      ],
      // A mutant run names the tests that cover it; this one leaves out the drift tests otherwise.
      testNamePattern: `^(?!.*(${drift.map(escape).join('|')}))`,
      testTimeout: 30_000,
      // Skipped tests end their coverage (see the file).
      testEnvironment: fileURLToPath(new URL('./test/support/stryker-environment.js', import.meta.url)),
      transform: { '^.+\\.[t]sx?$': ['ts-jest', { tsconfig: 'test/tsconfig.json' }] },
      reporters: [],
    },
    enableFindRelatedTests: true,
  },
  // The e2e tests stay out of the sandbox, but not their harness: the agent's tests run against its API stand-in.
  ignorePatterns: ['dist-packages', 'lib', 'test-reports', 'reports', 'coverage', '.scratch', 'test/e2e/*', '!test/e2e/harness'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  timeoutMS: 20_000,
  // Jest runs every covering test of a mutant anyway: this keeps all those that kill it in the JSON report, not only the first.
  disableBail: !bail,
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  // Later runs re-test only the mutants whose code or covering tests changed (reports/stryker-incremental.json).
  incremental: true,
  incrementalFile: name ? `reports/stryker-incremental-${name}.json`
    : decisions ? 'reports/stryker-incremental-decisions.json' : 'reports/stryker-incremental.json',
  ...(decisions || name ? {
    htmlReporter: { fileName: `reports/mutation-${name ?? 'decisions'}/index.html` },
    jsonReporter: { fileName: `reports/mutation-${name ?? 'decisions'}/mutation.json` },
  } : {}),
};
