import { k8s } from 'cdk8s-plus-27';
import { PostgresClusterChartProps } from '../src';
import { validate } from './support/schema';
import { Manifest, synthCluster } from './support/synth';

const clusters: Array<[string, PostgresClusterChartProps]> = [
  ['the default cluster', {}],
  ['a customized cluster', {
    clusterName: 'orders-db',
    replicas: 5,
    postgresVersion: 16,
    synchronousReplicas: 1,
    storage: '50Gi',
    storageClassName: 'fast',
    existingSecretName: 'orders-db-credentials',
    failoverTargetPod: 'orders-db-cluster-1',
    resources: { requests: { cpu: k8s.Quantity.fromString('500m') } },
    anyService: false,
    podMonitor: true,
    certManagerIssuer: { name: 'internal-ca', kind: 'ClusterIssuer' },
    requireTls: true,
    namespace: 'shop',
  }],
];

/** The objects that break the Kubernetes schema, each with the reason. */
function invalidObjects(objects: Manifest[]): string[] {
  return objects.flatMap(object => {
    try {
      validate(object);
      return [];
    } catch (error) {
      return [`${object.kind}/${object.metadata.name}: ${(error as Error).message}`];
    }
  });
}

// Synthesized inside the test (not while collecting tests), so that a mutation run sees which tests cover which code.
describe.each(clusters)('%s', (_name, props) => {
  test('every object is valid against the Kubernetes schema', () => {
    const objects = synthCluster(props);
    expect(objects.length).toBeGreaterThan(0);
    expect(invalidObjects(objects)).toEqual([]);
  });
});

describe('the schema check itself', () => {
  test('fails for an object that breaks the schema', () => {
    const statefulSet = synthCluster().find(o => o.kind === 'StatefulSet')!;
    const broken = { ...statefulSet, spec: { ...statefulSet.spec, replicas: 'three' } };
    expect(() => validate(broken)).toThrow(/replicas/);
  });
});
