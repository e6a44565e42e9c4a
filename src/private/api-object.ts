import { ApiObject, GroupVersionKind } from 'cdk8s';
import type { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { api, asJson } from './k8s';

/**
 * Adds a Kubernetes object from its JSON (see asJson): the props are checked by the compiler as for
 * `new k8s.KubeXxx(...)`, but synthesis skips the typed object's conversions, which keeps the chart as
 * fast as one of raw ApiObjects.
 */
export function addObject(scope: Construct, id: string, gvk: GroupVersionKind, json: Record<string, any> | undefined): ApiObject {
  return new ApiObject(scope, id, { ...gvk, ...json });
}

/**
 * A ServiceAccount, a Role with the given rules, and the RoleBinding between them, all named `name`:
 * the identity of one of the cluster's programs (the role-labeler sidecar, the failover job).
 */
export function addServiceAccountWithRole(
  scope: Construct, name: string, labels: { [key: string]: string }, rules: k8s.PolicyRule[],
): void {
  addObject(scope, 'ServiceAccount', api.KubeServiceAccount.GVK, asJson<k8s.KubeServiceAccountProps>({ metadata: { name, labels } }));
  addObject(scope, 'Role', api.KubeRole.GVK, asJson<k8s.KubeRoleProps>({ metadata: { name, labels }, rules }));
  addObject(scope, 'RoleBinding', api.KubeRoleBinding.GVK, asJson<k8s.KubeRoleBindingProps>({
    metadata: { name, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name }],
  }));
}
