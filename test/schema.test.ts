import { k8s } from 'cdk8s-plus-27';
import { validate } from './support/schema';
import { Manifest, synthCluster } from './support/synth';

const clusters: Array<[string, Manifest[]]> = [
  ['the default cluster', synthCluster()],
  ['a customized cluster', synthCluster({
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
  })],
];

describe.each(clusters)('%s', (_name, objects) => {
  test.each(objects.map(o => [`${o.kind}/${o.metadata.name}`, o]))('%s is valid against the Kubernetes schema', (_id, object) => {
    expect(() => validate(object as Manifest)).not.toThrow();
  });
});

describe('the schema check itself', () => {
  test('fails for an object that breaks the schema', () => {
    const statefulSet = synthCluster().find(o => o.kind === 'StatefulSet')!;
    const broken = { ...statefulSet, spec: { ...statefulSet.spec, replicas: 'three' } };
    expect(() => validate(broken)).toThrow(/replicas/);
  });
});
