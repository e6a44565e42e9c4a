import * as fs from 'fs';
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
