import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { synthCluster } from './support/synth';

// GitOps tools apply dist/ as committed: it must be exactly what main.ts synthesizes now.
test('dist/ holds the synthesized default cluster (run `npx cdk8s synth` and commit dist/ after a change)', () => {
  const file = path.join(__dirname, '..', 'dist', 'postgres-cluster.k8s.yaml');
  const committed = parseAllDocuments(fs.readFileSync(file, 'utf8')).map(d => d.toJS());
  expect(committed).toEqual(synthCluster());
});
