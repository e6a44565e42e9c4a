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
    'keeps %s with the same kind and name, unless docs/deviations.md says why not', (id, kind, name) => {
      const kept = synthesized.filter(o => o.kind === kind && o.metadata.name === name).length;
      const removal = { object: id, path: '(object)', change: 'removed' as const };
      expect([id, kept === 1 || (kept === 0 && deviations.some(row => covers(row, removal)))]).toEqual([id, true]);
    });

  test('only the Secret is left out of the YAML: its passwords are generated in the cluster, under the same name', () => {
    const missing = reference.filter(r => !synthesized.some(o => o.kind === r.kind && o.metadata.name === r.metadata.name));
    expect(missing.map(o => `${o.kind}/${o.metadata.name}`)).toEqual(['Secret/postgres-secret']);
    const sts = synthesized.find(o => o.kind === 'StatefulSet')!;
    const init = sts.spec.template.spec.initContainers.find((c: any) => c.name === 'secrets');
    expect(init.env.find((e: any) => e.name === 'SECRET_NAME').value).toBe('postgres-secret');
    // The pods read the same keys as the reference's Secret holds.
    const keys = sts.spec.template.spec.containers.flatMap((c: any) => c.env ?? [])
      .filter((e: any) => e.valueFrom?.secretKeyRef?.name === 'postgres-secret').map((e: any) => e.valueFrom.secretKeyRef.key);
    expect([...new Set(keys)].sort()).toEqual(Object.keys(reference.find(o => o.kind === 'Secret').data).sort());
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

describe('objects behind props that are off by default (docs/deviations.md, "Behind props")', () => {
  const behindProps = parseDeviations(fs.readFileSync(path.join(__dirname, '..', 'docs', 'deviations.md'), 'utf8'), 'Behind props');
  const withProps = synthCluster({
    image: 'registry.example.com/postgres-pgbackrest:15',
    walArchive: {},
    restoreFrom: { clusterName: 'old', claimName: 'old-archive', targetTime: '2026-12-02 08:00:00+00' },
    automaticFailover: {},
  });
  const added = diffManifests(synthCluster(), withProps);

  test('every difference that walArchive, restoreFrom and automaticFailover make is recorded', () => {
    expect(added.length).toBeGreaterThan(10);
    expect(added.filter(d => !behindProps.some(row => covers(row, d)))).toEqual([]);
  });

  test('every row there is still a difference, with a reason', () => {
    expect(behindProps.filter(row => !added.some(d => covers(row, d))).map(r => `${r.object} ${r.path}`)).toEqual([]);
    expect(behindProps.filter(row => row.reason.length < 10)).toEqual([]);
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
