import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { PostgresConfig } from './postgres-config';
import { addObject, addServiceAccountWithRole } from './private/api-object';
import {
  LABELER_CONTAINER, PATHS, podNames, POSTGRES_CONTAINER, POSTGRES_PORT, POSTGRES_PORT_NAME, POSTGRES_UID, ROLE_LABEL,
} from './private/names';
import { SCRIPT_FILES } from './private/scripts';
import { validateImage, validateInteger, validateStorageSize } from './private/validation';

/** The image of the role-labeler sidecar and the failover job: any image with bash, coreutils (od, sed, mktemp) and kubectl. */
export const DEFAULT_KUBECTL_IMAGE = 'docker.io/alpine/k8s:1.27.15';

/**
 * How the PostgreSQL pods run: their number, image, storage and resources.
 */
export interface PostgresPodOptions {
  /**
   * Pods to run: one primary and `replicas - 1` replicas.
   * @default 3
   */
  readonly replicas?: number;

  /**
   * The PostgreSQL image. It must run postgres as uid 999 and have PostgreSQL's binaries on PATH,
   * as the official images do.
   * @default - "postgres:<postgresVersion>"
   */
  readonly image?: string;

  /**
   * Size of each pod's data volume.
   * @default "10Gi"
   */
  readonly storage?: string;

  /**
   * StorageClass of the data volumes.
   * @default - the cluster's default StorageClass
   */
  readonly storageClassName?: string;

  /**
   * Resources of the postgres container.
   * @default - none set
   */
  readonly resources?: k8s.ResourceRequirements;

  /**
   * Image with bash, coreutils and kubectl, for the role-labeler sidecar and the failover job.
   * @default "docker.io/alpine/k8s:1.27.15"
   */
  readonly kubectlImage?: string;
}

/**
 * Properties of {@link PostgresStatefulSet}.
 */
export interface PostgresStatefulSetProps extends PostgresPodOptions {
  /**
   * The cluster's configuration; names, version and Secret come from it.
   */
  readonly config: PostgresConfig;
}

/**
 * The StatefulSet `<name>-cluster` that runs PostgreSQL, its headless Service
 * `<name>-headless`, and the ServiceAccount, Role and RoleBinding with which each
 * pod's role-labeler sidecar labels its own pod.
 */
export class PostgresStatefulSet extends Construct {
  /** Name of the StatefulSet; pods are "<name>-<ordinal>". */
  public readonly name: string;
  /** Name of the headless Service that gives pods stable DNS names. */
  public readonly headlessServiceName: string;
  /** Pods the StatefulSet starts with. */
  public readonly replicas: number;
  /** The PostgreSQL image. */
  public readonly image: string;
  /** The sidecar's image. */
  public readonly kubectlImage: string;
  /** Labels that select this cluster's pods. */
  public readonly selectorLabels: { [key: string]: string };
  /** The configuration the pods run with. */
  public readonly config: PostgresConfig;

  constructor(scope: Construct, id: string, props: PostgresStatefulSetProps) {
    super(scope, id);
    const owner = `PostgresStatefulSet ${this.node.path}`;
    const config = props.config;
    const names = config._names;

    this.config = config;
    this.name = names.statefulSet;
    this.headlessServiceName = names.headlessService;
    this.replicas = props.replicas ?? 3;
    validateInteger(owner, 'replicas', this.replicas, 1, config.maxReplicas,
      `one primary plus replicas, at most the config's maxReplicas (${config.maxReplicas})`);
    if (config.synchronousReplicas > this.replicas - 1) {
      throw new Error(
        `${owner}: synchronousReplicas ${config.synchronousReplicas} needs at least ${config.synchronousReplicas + 1} pods; ` +
        `replicas is ${this.replicas}. Raise replicas or lower synchronousReplicas, or writes would wait forever.`,
      );
    }
    this.image = props.image ?? `postgres:${config.postgresVersion}`;
    validateImage(owner, 'image', this.image);
    this.kubectlImage = props.kubectlImage ?? DEFAULT_KUBECTL_IMAGE;
    validateImage(owner, 'kubectlImage', this.kubectlImage);
    const storage = props.storage ?? '10Gi';
    validateStorageSize(owner, 'storage', storage);
    this.selectorLabels = { ...names.selector };

    const podLabels = { ...names.common, ...names.selector, 'app.kubernetes.io/component': 'database' };

    addObject(this, 'Headless', k8s.KubeService.GVK, k8s.toJson_KubeServiceProps({
      metadata: { name: this.headlessServiceName, labels: { ...names.common } },
      spec: {
        clusterIp: 'None',
        // Peers must resolve each other while they bootstrap, before they are ready.
        publishNotReadyAddresses: true,
        selector: { ...names.selector },
        ports: [{ port: POSTGRES_PORT, name: POSTGRES_PORT_NAME }],
      },
    }));

    addServiceAccountWithRole(this, names.podServiceAccount, { ...names.common }, [{
      apiGroups: [''],
      resources: ['pods'],
      // Only the cluster's own pods, up to the most it can be scaled to.
      resourceNames: podNames(names, config.maxReplicas),
      verbs: ['get', 'patch'],
    }]);

    const secretEnv = (name: string, key: string): k8s.EnvVar =>
      ({ name, valueFrom: { secretKeyRef: { name: config.secretName, key } } });
    const podNameEnv: k8s.EnvVar = { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };
    const scriptsMount: k8s.VolumeMount = { name: config.scriptsConfigMapName, mountPath: PATHS.scriptsDir };
    const restricted: k8s.SecurityContext = {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    };

    const spec: k8s.StatefulSetSpec = {
      serviceName: this.headlessServiceName,
      replicas: this.replicas,
      podManagementPolicy: 'OrderedReady',
      selector: { matchLabels: { ...names.selector } },
      template: {
        metadata: { labels: podLabels },
        spec: {
          serviceAccountName: names.podServiceAccount,
          // Service links would add variables such as POSTGRES_WRITE_PORT to every container.
          enableServiceLinks: false,
          securityContext: {
            runAsUser: POSTGRES_UID,
            runAsGroup: POSTGRES_UID,
            fsGroup: POSTGRES_UID,
            runAsNonRoot: true,
            fsGroupChangePolicy: 'OnRootMismatch',
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: POSTGRES_CONTAINER,
              image: this.image,
              command: ['/bin/bash', `${PATHS.scriptsDir}/${SCRIPT_FILES.entrypoint}`],
              env: [
                { name: 'POSTGRES_DB', value: config.database },
                { name: 'POSTGRES_USER', value: 'postgres' },
                secretEnv('POSTGRES_PASSWORD', 'password'),
                secretEnv('POSTGRES_REPLICATION_PASSWORD', 'replication-password'),
                { name: 'PGDATA', value: PATHS.pgdata },
                podNameEnv,
                { name: 'REPLICATION_USER', value: config.replicationUser },
                { name: 'PRIMARY_HOST', value: names.writeService },
                { name: 'PEER_DOMAIN', value: this.headlessServiceName },
                { name: 'POSTGRES_CONFIG_DIR', value: PATHS.configDir },
                { name: 'POSTGRES_INITDB_ARGS', value: config.initdbArgs },
              ],
              ports: [{ containerPort: POSTGRES_PORT, name: POSTGRES_PORT_NAME }],
              readinessProbe: {
                exec: { command: ['pg_isready', '--quiet', '--host=/var/run/postgresql', `--port=${POSTGRES_PORT}`] },
                periodSeconds: 2,
                timeoutSeconds: 2,
                failureThreshold: 2,
              },
              resources: props.resources,
              securityContext: restricted,
              volumeMounts: [
                { name: names.storageVolume, mountPath: PATHS.dataVolume },
                { name: config.configMapName, mountPath: PATHS.configDir },
                { name: config.initConfigMapName, mountPath: PATHS.initDir },
                scriptsMount,
              ],
            },
            {
              name: LABELER_CONTAINER,
              image: this.kubectlImage,
              command: ['/bin/bash', `${PATHS.scriptsDir}/${SCRIPT_FILES.labeler}`],
              env: [
                podNameEnv,
                { name: 'PGDATA', value: PATHS.pgdata },
                { name: 'ROLE_LABEL', value: ROLE_LABEL },
                // kubectl keeps its discovery cache under $HOME.
                { name: 'HOME', value: '/tmp' },
              ],
              resources: { requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('32Mi') } },
              securityContext: restricted,
              volumeMounts: [
                { name: names.storageVolume, mountPath: PATHS.dataVolume, readOnly: true },
                scriptsMount,
              ],
            },
          ],
          volumes: [
            { name: config.configMapName, configMap: { name: config.configMapName } },
            { name: config.initConfigMapName, configMap: { name: config.initConfigMapName } },
            { name: config.scriptsConfigMapName, configMap: { name: config.scriptsConfigMapName, defaultMode: 0o755 } },
          ],
        },
      },
      volumeClaimTemplates: [{
        metadata: { name: names.storageVolume },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: props.storageClassName,
          resources: { requests: { storage: k8s.Quantity.fromString(storage) } },
        },
      }],
    };
    const json = k8s.toJson_KubeStatefulSetProps({ metadata: { name: this.name, labels: { ...names.common } }, spec })!;
    // The typed claim template has no apiVersion/kind, yet without them Argo CD shows the StatefulSet OutOfSync forever.
    json.spec.volumeClaimTemplates = json.spec.volumeClaimTemplates.map((template: object) =>
      ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', ...template }));
    addObject(this, 'Resource', k8s.KubeStatefulSet.GVK, json);
  }
}
