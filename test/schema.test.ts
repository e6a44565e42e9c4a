import { PostgresClusterChartProps } from '../src';
import { crdSchemaOf, schemaErrors } from './support/crd';
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
    resources: { requests: { cpu: '500m' }, limits: { memory: '1Gi' } },
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

  test('every custom resource is valid against the CRD in imports/ its typed class was imported from', () => {
    const custom = synthCluster(props).filter(object => crdSchemaOf(object) !== undefined);
    expect(custom.flatMap(object => schemaErrors(object, crdSchemaOf(object)!).map(e => `${object.kind}/${object.metadata.name}: ${e}`)))
      .toEqual([]);
    // The customized cluster writes both: cert-manager's Certificate and prometheus-operator's PodMonitor.
    expect(custom.map(o => o.kind).sort()).toEqual(props.podMonitor ? ['Certificate', 'PodMonitor'] : []);
  });
});

describe('the schema check itself', () => {
  test('fails for an object that breaks the schema', () => {
    const statefulSet = synthCluster().find(o => o.kind === 'StatefulSet')!;
    const broken = { ...statefulSet, spec: { ...statefulSet.spec, replicas: 'three' } };
    expect(() => validate(broken)).toThrow(/replicas/);
  });

  test('fails for a custom resource that breaks its CRD', () => {
    const certificate = synthCluster({ certManagerIssuer: { name: 'ca' } }).find(o => o.kind === 'Certificate')!;
    const broken = {
      ...certificate,
      spec: { ...certificate.spec, secretName: undefined, dnsName: 'postgres-write', privateKey: { ...certificate.spec.privateKey, algorithm: 'DSA', size: '256' } },
    };
    delete broken.spec.secretName;
    expect(schemaErrors(broken, crdSchemaOf(broken)!)).toEqual([
      '/spec/secretName: required, missing',
      '/spec/privateKey/algorithm: "DSA" is not one of ["RSA","ECDSA","Ed25519"]',
      '/spec/privateKey/size: "256" is not of type integer',
      '/spec/dnsName: not in the schema',
    ]);
    expect(() => validate(broken)).toThrow(/secretName|algorithm|size/);
  });
});
