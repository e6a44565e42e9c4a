import { ApiObject, GroupVersionKind } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';

/**
 * Adds a Kubernetes object from typed props already converted to JSON (`k8s.toJson_KubeXxxProps`): the
 * props are checked by the compiler as for `new k8s.KubeXxx(...)`, but synthesis skips the typed object's
 * second conversion, which keeps the chart as fast as one of raw ApiObjects.
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
  addObject(scope, 'ServiceAccount', k8s.KubeServiceAccount.GVK, k8s.toJson_KubeServiceAccountProps({ metadata: { name, labels } }));
  addObject(scope, 'Role', k8s.KubeRole.GVK, k8s.toJson_KubeRoleProps({ metadata: { name, labels }, rules }));
  addObject(scope, 'RoleBinding', k8s.KubeRoleBinding.GVK, k8s.toJson_KubeRoleBindingProps({
    metadata: { name, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name }],
  }));
}
