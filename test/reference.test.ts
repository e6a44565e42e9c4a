import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { covers, diffManifests, parseDeviations } from './support/reference-diff';
import { synthCluster } from './support/synth';

// Kubernetes reads manifests as YAML 1.1 (defaultMode: 0755 is octal there).
const reference = parseAllDocuments(fs.readFileSync(path.join(__dirname, 'fixtures', 'postgres-cluster.reference.yaml'), 'utf8'), { version: '1.1' })
  .map(doc => doc.toJS())
  .filter(Boolean);
const deviations = parseDeviations(fs.readFileSync(path.join(__dirname, '..', 'docs', 'deviations.md'), 'utf8'));

describe('the default cluster against the reference design', () => {
  const synthesized = synthCluster();
  const differences = diffManifests(reference, synthesized);

  test('the reference fixture holds the eight objects of the design', () => {
    expect(reference.map(o => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ConfigMap/postgres-config', 'ConfigMap/postgres-init', 'Secret/postgres-secret', 'ConfigMap/postgres-cluster-init',
      'StatefulSet/postgres-cluster', 'Service/postgres-write', 'Service/postgres-read', 'Service/postgres-headless',
    ]);
  });

  test.each(reference.map(o => [`${o.kind}/${o.metadata.name}`, o.kind, o.metadata.name]))(
    'keeps %s with the same kind and name', (_id, kind, name) => {
      expect(synthesized.filter(o => o.kind === kind && o.metadata.name === name)).toHaveLength(1);
    });

  test('every difference from the reference is recorded in docs/deviations.md', () => {
    const unrecorded = differences.filter(d => !deviations.some(row => covers(row, d)));
    expect(unrecorded).toEqual([]);
  });

  test('every recorded deviation still exists', () => {
    const stale = deviations.filter(row => !differences.some(d => covers(row, d)));
    expect(stale).toEqual([]);
  });

  test('every recorded deviation gives its reason', () => {
    expect(deviations.filter(row => row.reason.length < 10)).toEqual([]);
  });
});

describe('the deviation check itself', () => {
  test('fails for a difference nobody recorded', () => {
    const changed = synthCluster({ database: 'otherdb' });
    const unrecorded = diffManifests(reference, changed).filter(d => !deviations.some(row => covers(row, d)));
    expect(unrecorded).toEqual([{
      object: 'StatefulSet/postgres-cluster', path: 'spec.template.spec.containers[postgres].env[POSTGRES_DB].value', change: 'changed',
    }]);
  });

  test('notices a recorded difference that went away', () => {
    const fixed = reference.map(o => o.kind === 'Service' && o.metadata.name === 'postgres-headless'
      ? { ...o, spec: { ...o.spec, publishNotReadyAddresses: true } } : o);
    const differences = diffManifests(fixed, synthCluster());
    const stale = deviations.filter(row => !differences.some(d => covers(row, d)));
    expect(stale.map(r => `${r.object} ${r.path}`)).toEqual(['Service/postgres-headless spec.publishNotReadyAddresses']);
  });
});
