import type { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { PostgresStatefulSet } from './postgres-stateful-set';
import { addObject } from './private/api-object';
import { api, asJson, intOrString } from './private/k8s';
import { POSTGRES_PORT, PRIMARY_ROLE, REPLICA_ROLE, ROLE_LABEL } from './private/names';
import { validateTypes } from './private/validation';

/**
 * Properties of {@link RoleServices}.
 */
export interface RoleServicesProps {
  /**
   * The StatefulSet whose pods the Services route to.
   */
  readonly statefulSet: PostgresStatefulSet;

  /**
   * Also create `<name>-any`, a Service over every ready pod whatever its role, for clients
   * that only read and do not mind reading from the primary.
   * @default true
   */
  readonly anyService?: boolean;
}

/**
 * The Services clients connect to: `<name>-write` reaches the primary
 * (`role=primary`), `<name>-read` the replicas (`role=replica`), and
 * `<name>-any` every ready pod. The role labels are kept by each pod's
 * role-labeler sidecar and by the failover job.
 */
export class RoleServices extends Construct {
  /** DNS name of the Service that reaches the primary. */
  public readonly writeServiceName: string;
  /** DNS name of the Service that reaches the replicas. */
  public readonly readServiceName: string;
  /** DNS name of the Service that reaches any ready pod, if created. */
  public readonly anyServiceName?: string;

  constructor(scope: Construct, id: string, props: RoleServicesProps) {
    super(scope, id);
    validateTypes(`RoleServices ${this.node.path}`, props, { anyService: 'boolean' });
    const names = props.statefulSet.config._names;
    this.writeServiceName = names.writeService;
    this.readServiceName = names.readService;
    this.anyServiceName = (props.anyService ?? true) ? names.anyService : undefined;

    const service = (serviceId: string, name: string, selector: { [key: string]: string }, publishNotReadyAddresses?: boolean) =>
      addObject(this, serviceId, api.KubeService.GVK, asJson<k8s.KubeServiceProps>({
        metadata: { name, labels: { ...names.common } },
        spec: {
          selector,
          ports: [{ port: POSTGRES_PORT, targetPort: intOrString(POSTGRES_PORT) }],
          type: 'ClusterIP',
          ...(publishNotReadyAddresses ? { publishNotReadyAddresses } : {}),
        },
      }));
    // The primary's label alone decides (its sidecar sets it only on a serving primary that the leader record names,
    // and it goes before a primary stops): a new primary takes writes at once, not at its next readiness probe, which
    // fails while a replica whose primary was lost is not streaming.
    service('Write', this.writeServiceName, { ...names.selector, [ROLE_LABEL]: PRIMARY_ROLE }, true);
    service('Read', this.readServiceName, { ...names.selector, [ROLE_LABEL]: REPLICA_ROLE });
    if (this.anyServiceName) service('Any', this.anyServiceName, { ...names.selector });
  }
}
