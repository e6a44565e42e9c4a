import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { PostgresClusterChart } from '../src';

function synthesizeApp(build: (app: App) => void): Map<string, any[]> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'many-clusters-'));
  try {
    const app = new App({ outdir });
    build(app);
    app.synth();
    const files = new Map<string, any[]>();
    for (const file of fs.readdirSync(outdir).sort()) {
      files.set(file, parseAllDocuments(fs.readFileSync(path.join(outdir, file), 'utf8')).map(d => d.toJSON()));
    }
    return files;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

const identity = (o: any) => `${o.kind}/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;

describe('several clusters in one app', () => {
  test('a dev and a prod cluster synthesize into separate files, each object in its own namespace', () => {
    const files = synthesizeApp(app => {
      new PostgresClusterChart(app, 'dev', { namespace: 'dev', replicas: 1 });
      new PostgresClusterChart(app, 'prod', { namespace: 'prod', replicas: 3, synchronousReplicas: 1 });
    });
    expect([...files.keys()]).toEqual(['dev.k8s.yaml', 'prod.k8s.yaml']);
    const dev = files.get('dev.k8s.yaml')!;
    const prod = files.get('prod.k8s.yaml')!;
    expect(dev.every(o => o.metadata.namespace === 'dev')).toBe(true);
    expect(prod.every(o => o.metadata.namespace === 'prod')).toBe(true);
    expect(dev.find(o => o.kind === 'StatefulSet').spec.replicas).toBe(1);
    expect(prod.find(o => o.kind === 'StatefulSet').spec.replicas).toBe(3);
    expect(prod.find(o => o.kind === 'ConfigMap' && o.metadata.name === 'postgres-config').data['postgresql.conf'])
      .toMatch(/^synchronous_standby_names = 'ANY 1 \(\*\)'$/m);
    const all = [...dev, ...prod].map(identity);
    expect(new Set(all).size).toBe(all.length);
  });

  test('two clusters in one namespace need different names, and then share no object name', () => {
    const files = synthesizeApp(app => {
      new PostgresClusterChart(app, 'orders', { clusterName: 'orders' });
      new PostgresClusterChart(app, 'billing', { clusterName: 'billing' });
    });
    const all = [...files.values()].flat().map(identity);
    expect(all.length).toBeGreaterThan(20);
    expect(new Set(all).size).toBe(all.length);
    const selectors = [...files.values()].map(objects => objects.find(o => o.kind === 'StatefulSet').spec.selector.matchLabels);
    expect(selectors[0]).not.toEqual(selectors[1]);
  });

  test('a second cluster with the same name in the same namespace is refused, naming both charts', () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'many-clusters-')) });
    new PostgresClusterChart(app, 'first', { namespace: 'shop' });
    expect(() => new PostgresClusterChart(app, 'second', { namespace: 'shop' })).toThrow(
      'second: cluster "postgres" in namespace "shop" is already synthesized by first; their objects would overwrite each other. '
      + 'Give one of them another clusterName or namespace.');
    expect(() => new PostgresClusterChart(app, 'third', { namespace: 'other-shop' })).not.toThrow();
    expect(() => new PostgresClusterChart(new App(), 'first', { namespace: 'shop' })).not.toThrow();
  });
});
