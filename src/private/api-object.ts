import { ApiObject, GroupVersionKind } from 'cdk8s';
import { Construct } from 'constructs';

/**
 * Adds a Kubernetes object from typed props already converted to JSON (`k8s.toJson_KubeXxxProps`): the
 * props are checked by the compiler as for `new k8s.KubeXxx(...)`, but synthesis skips the typed object's
 * second conversion, which keeps the chart as fast as one of raw ApiObjects.
 */
export function addObject(scope: Construct, id: string, gvk: GroupVersionKind, json: Record<string, any> | undefined): ApiObject {
  return new ApiObject(scope, id, { ...gvk, ...json });
}
