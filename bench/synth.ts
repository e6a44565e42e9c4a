/**
 * Synthesis speed: the library's chart against a plain cdk8s chart of raw ApiObjects that emits the
 * same YAML, for 1 and for 100 clusters; and `cdk8s synth` and `npm run synth` from the command line. Prints figures.
 *   npx ts-node --transpile-only -P test/tsconfig.json bench/synth.ts
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ApiObject, App, Chart } from 'cdk8s';
import { PostgresClusterChart } from '../src';

const root = path.join(__dirname, '..');

function withLibrary(count: number): string {
  const app = new App({ outdir: '/tmp/bench-synth' });
  for (let i = 0; i < count; i++) new PostgresClusterChart(app, `c${i}`, { clusterName: `pg${i}` });
  return app.synthYaml();
}

// The baseline's "source": the same objects as literal JSON, one chart per cluster.
function manifests(count: number): any[][] {
  const app = new App({ outdir: '/tmp/bench-synth' });
  const charts = Array.from({ length: count }, (_, i) => new PostgresClusterChart(app, `c${i}`, { clusterName: `pg${i}` }));
  return charts.map(chart => chart.toJson());
}

function withRawApiObjects(sources: any[][]): string {
  const app = new App({ outdir: '/tmp/bench-synth' });
  sources.forEach((objects, i) => {
    const chart = new Chart(app, `c${i}`, { disableResourceNameHashes: true });
    objects.forEach((o, j) => new ApiObject(chart, `o${j}`, o));
  });
  return app.synthYaml();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(fn: () => unknown): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

for (const [count, runs] of [[1, 41], [100, 9]]) {
  const sources = JSON.parse(JSON.stringify(manifests(count)));
  if (withLibrary(count) !== withRawApiObjects(sources)) throw new Error('the two charts do not emit the same YAML');
  const library: number[] = [];
  const raw: number[] = [];
  for (let r = 0; r < runs; r++) {
    // Interleaved, so that both see the same machine.
    library.push(time(() => withLibrary(count)));
    raw.push(time(() => withRawApiObjects(sources)));
  }
  const ratio = median(library) / median(raw);
  console.log(`${String(count).padStart(3)} cluster(s): library ${median(library).toFixed(1)} ms, raw ApiObjects ${median(raw).toFixed(1)} ms, `
    + `ratio ${ratio.toFixed(2)} (target <= 1.10) ${ratio <= 1.1 ? 'OK' : 'MISSED'}  [median of ${runs}]`);
}

// The command line: `npx cdk8s synth`, and its two parts: the CLI's own start (`npx cdk8s --version`, which
// loads every command of cdk8s-cli, jsii-pacmak among them) and the app that cdk8s.yaml names; then `npm run synth`
// (synth.js: the same dist/, in one process, test/dist.test.ts checks), with its transpile cache (.cache/synth/)
// filled as after any earlier run, and empty as after a change to every file of src/.
const env = { ...process.env, CDK8S_CHECK_UPGRADE: 'false', npm_config_update_notifier: 'false' };
const emptyCache = () => fs.rmSync(path.join(root, '.cache', 'synth'), { recursive: true, force: true });
const commands: Array<[string, string, string[], number, (() => void)?]> = [
  ['npx cdk8s synth', 'npx', ['cdk8s', 'synth'], 1.0],
  ['  of which the CLI starting (npx cdk8s --version)', 'npx', ['cdk8s', '--version'], 0],
  ['  of which the app (node -r sucrase/register main.ts)', process.execPath, ['-r', 'sucrase/register', 'main.ts'], 0],
  ['npm run synth', 'npm', ['run', '--silent', 'synth'], 1.0],
  ['  of which node synth.js', process.execPath, ['synth.js'], 0],
  ['npm run synth, transpile cache empty', 'npm', ['run', '--silent', 'synth'], 1.0, emptyCache],
];
const RUNS = 7;
const times: number[][] = commands.map(() => []);
for (let r = 0; r < RUNS; r++) {
  // Interleaved, so that every command sees the same machine.
  commands.forEach(([, command, args, , before], i) => {
    before?.();
    times[i].push(time(() => execFileSync(command, args, { cwd: root, stdio: 'ignore', env })));
  });
}
commands.forEach(([label, , , target], i) => {
  const seconds = median(times[i]) / 1000;
  const range = `${(Math.min(...times[i]) / 1000).toFixed(2)}-${(Math.max(...times[i]) / 1000).toFixed(2)} s`;
  const verdict = target ? ` (target <= ${target.toFixed(2)}) ${seconds <= target ? 'OK' : 'MISSED'}` : '';
  console.log(`${label}: ${seconds.toFixed(2)} s${verdict}  [median of ${RUNS}, ${range}]`);
});
