import type { ApiPod } from '../e2e/harness/api';
import type { KubeObject } from '../e2e/harness/manifests';

/** A Role of these rules and its binding to the ServiceAccount of the same name, for the API stand-in. */
export function roleFor(name: string, rules: KubeObject['rules']): KubeObject[] {
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name }],
    },
  ];
}

/** What the agent's tests give the pods: the Lease, and the pods' labels. */
export const LEASE_AND_PODS = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'patch'] },
];

/** A running pod as the API stand-in lists it, with these labels (kept by reference: a label patch shows), and no exec. */
export function runningPod(name: string, labels: Record<string, string>): ApiPod & { apiCutOff: boolean } {
  return {
    name,
    labels,
    apiCutOff: false,
    toObject: namespace => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { ...labels } },
      spec: { containers: [{ name: 'postgres' }] },
      status: { phase: 'Running' },
    }),
    exec: () => Promise.reject(new Error('no exec here')),
  };
}
