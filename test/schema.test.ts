import { k8s } from 'cdk8s-plus-27';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Manifest, synthCluster } from './support/synth';

// One model class per apiVersion/kind the library writes; each validates against the Kubernetes OpenAPI schema.
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/CronJob': CronJob,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

function validate(object: Manifest): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) throw new Error(`no schema model for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

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
