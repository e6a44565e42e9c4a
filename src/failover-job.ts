import type { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { FAILOVER_COMMAND, FAILOVER_JOB_CONFIG_VERSION, FailoverJobConfig } from './agent/config';
import { PostgresStatefulSet } from './postgres-stateful-set';
import { addObject, addServiceAccountWithRole } from './private/api-object';
import { api, asJson, postgresUserPod, restrictedContainer, scriptJobVolumes } from './private/k8s';
import { ISOLATION_FENCE_SECONDS, LABELER_CONTAINER, PATHS, podNames, POSTGRES_CONTAINER, POSTGRES_UID, ROLE_LABEL } from './private/names';
import { AGENT_FILES, SCRIPT_FILES } from './private/scripts';
import { validateTargetPod, validateTypes } from './private/validation';

/** A schedule that never comes (February 31st): the CronJob is only a template for manual runs. */
const NEVER = '0 0 31 2 *';

/**
 * Properties of {@link FailoverJob}.
 */
export interface FailoverJobProps {
  /**
   * The StatefulSet whose primary the job moves.
   */
  readonly statefulSet: PostgresStatefulSet;

  /**
   * Pod to promote, e.g. "postgres-cluster-1" (an ordinal below the config's maxReplicas). A run can override it with the
   * FAILOVER_TARGET variable.
   * @default - the replica with the most WAL, and only when no healthy primary exists
   */
  readonly targetPod?: string;

  /**
   * Seconds a run may take before Kubernetes stops it.
   * @default 300
   */
  readonly timeoutSeconds?: number;
}

/**
 * The failover job, shipped as a suspended CronJob `<name>-failover` that never
 * runs by itself: `kubectl create job --from=cronjob/<name>-failover <run-name>`
 * starts a run. It takes the leader record (compare-and-swap; a second job at
 * the same time stops and changes nothing), fences the old primary, promotes the
 * target (a switchover target only once it has the old primary's last WAL; in
 * synchronous mode only a replica that holds every acknowledged commit), records
 * and labels it; with least-privilege RBAC (its own ServiceAccount, Role and RoleBinding).
 */
export class FailoverJob extends Construct {
  /** Name of the CronJob to create runs from. */
  public readonly cronJobName: string;
  /** The pod promoted by default, if one is set. */
  public readonly targetPod?: string;
  /** Labels that select the job's pods, those of every run. */
  public readonly selectorLabels: { [key: string]: string };

  constructor(scope: Construct, id: string, props: FailoverJobProps) {
    super(scope, id);
    const owner = `FailoverJob ${this.node.path}`;
    const statefulSet = props.statefulSet;
    const config = statefulSet.config;
    const names = config._names;
    this.cronJobName = names.failover;
    validateTypes(owner, props, { targetPod: 'string' });
    this.targetPod = props.targetPod;
    validateTargetPod(owner, statefulSet.name, this.targetPod, config.maxReplicas);
    const timeoutSeconds = props.timeoutSeconds ?? 300;
    this.selectorLabels = { 'app.kubernetes.io/instance': names.cluster, 'app.kubernetes.io/component': 'failover' };
    const labels = { ...names.common, ...this.selectorLabels };
    const selector = Object.entries(names.selector).map(([k, v]) => `${k}=${v}`).join(',');
    const jobSelector = Object.entries(this.selectorLabels).map(([k, v]) => `${k}=${v}`).join(',');
    const pods = podNames(names, config.maxReplicas);
    const jobConfig: FailoverJobConfig = {
      version: FAILOVER_JOB_CONFIG_VERSION,
      leaderRecord: names.leaderRecord,
      clusterSelector: selector,
      // Failover jobs of this cluster: a record held by one that still runs is not taken over.
      jobSelector,
      roleLabel: ROLE_LABEL,
      postgresContainer: POSTGRES_CONTAINER,
      // Fencing runs in the sidecar's agent, which outlives PostgreSQL's container and reports its last checkpoint.
      sidecarContainer: LABELER_CONTAINER,
      nodeScript: `${PATHS.scriptsDir}/${SCRIPT_FILES.node}`,
      agent: `${PATHS.scriptsDir}/${AGENT_FILES.bundle}`,
      agentConfig: `${PATHS.scriptsDir}/${AGENT_FILES.sidecarConfig}`,
      synchronousReplicas: config.synchronousReplicas,
      isolationFenceSeconds: ISOLATION_FENCE_SECONDS,
      apiTimeoutSeconds: 2,
      timeouts: { fenceSeconds: 60, settleSeconds: 5, reconnectSeconds: 5, switchoverSeconds: 10, followSeconds: 15, promoteSeconds: 60 },
    };

    addServiceAccountWithRole(this, names.failover, labels, [
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods'], resourceNames: pods, verbs: ['get', 'patch'] },
      // Websocket exec (kubectl 1.30+) is authorized as "get", SPDY exec as "create".
      { apiGroups: [''], resources: ['pods/exec'], resourceNames: pods, verbs: ['create', 'get'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [names.leaderRecord], verbs: ['get', 'patch', 'update'] },
    ]);

    const jobVolumes = scriptJobVolumes(config.scriptsConfigMapName, PATHS.scriptsDir);
    addObject(this, 'Resource', api.KubeCronJob.GVK, asJson<k8s.KubeCronJobProps>({
      metadata: { name: this.cronJobName, labels },
      spec: {
        schedule: NEVER,
        suspend: true,
        concurrencyPolicy: 'Forbid',
        jobTemplate: {
          metadata: { labels },
          spec: {
            backoffLimit: 0,
            activeDeadlineSeconds: timeoutSeconds,
            template: {
              metadata: { labels },
              spec: {
                serviceAccountName: names.failover,
                // Service links would add variables such as POSTGRES_WRITE_PORT to every container.
                enableServiceLinks: false,
                restartPolicy: 'Never',
                securityContext: postgresUserPod(POSTGRES_UID),
                containers: [{
                  name: 'failover',
                  // The agent (Node.js) runs the job: it talks to the API itself, and execs into the pods through it.
                  image: statefulSet.agentImage,
                  command: ['node', `${PATHS.scriptsDir}/${AGENT_FILES.bundle}`, FAILOVER_COMMAND],
                  env: [
                    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    // The job's configuration document (src/agent/config.ts FailoverJobConfig).
                    { name: 'FAILOVER_JOB_CONFIG', value: JSON.stringify(jobConfig) },
                    // Synchronous mode: "true" promotes a replica even when it may lack acknowledged commits.
                    { name: 'FAILOVER_ACCEPT_DATA_LOSS', value: 'false' },
                    { name: 'FAILOVER_TARGET', value: this.targetPod ?? '' },
                  ],
                  securityContext: restrictedContainer(),
                  volumeMounts: jobVolumes.mounts,
                }],
                volumes: jobVolumes.volumes,
              },
            },
          },
        },
      },
    }));
  }
}
