import type { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { PostgresConfig } from './postgres-config';
import { addObject, addServiceAccountWithRole } from './private/api-object';
import { api, asJson, caVolume, intOrString, postgresUserPod, quantity, restrictedContainer, secretKeyVolume } from './private/k8s';
import {
  DEFAULT_METRICS_IMAGE, METRICS_CONFIG_DIR, METRICS_CONTAINER, METRICS_PORT, METRICS_PORT_NAME, METRICS_QUERIES_KEY, METRICS_USER,
} from './private/metrics';
import {
  ISOLATION_FENCE_SECONDS, LABELER_CONTAINER, LEASE_FENCE_CONTAINER, PATHS, podNames, POSTGRES_CONTAINER, POSTGRES_PORT, POSTGRES_PORT_NAME,
  POSTGRES_UID, S3_CA_FILE, GCS_KEY_FILE, SUPERUSER,
} from './private/names';
import { AGENT_FILES, RESTART_SETTINGS_DIGEST_ANNOTATION, SCRIPT_FILES, SCRIPTS_DIGEST_ANNOTATION } from './private/scripts';
import {
  addWarning, MAX_INT32, shown, validateImage, validateInteger, validateObjectName, validateResourceQuantities, validateStorageSize, validateTypes,
} from './private/validation';

/** The image of the failover job and of the secrets init container: bash, coreutils and kubectl. */
export const DEFAULT_KUBECTL_IMAGE = 'docker.io/alpine/k8s:1.33.9';

/**
 * The image that runs the agent (the role-labeler sidecar): the official Node.js image, at the version the tests run the
 * agent with. The agent is one JavaScript file with no dependencies outside it; any Node.js 20 or later runs it.
 */
export const DEFAULT_AGENT_IMAGE = 'docker.io/library/node:20.20.2-alpine';

const RUN_VOLUME = 'run';
const TOKEN_VOLUME = 'api-token';
const POSTGRES_TMP_VOLUME = 'tmp';
const SECRETS_TMP_VOLUME = 'secrets-tmp';
const CREDENTIALS_VOLUME = 'credentials';
const SECRET_VOLUME = 'secret';
const APP_SECRET_VOLUME = 'app-secret';
const SECRETS_INIT_CONTAINER = 'secrets';
const TLS_VOLUME = 'tls';
/** postgresql.conf and pg_hba.conf alone, from the cluster's ConfigMap, for the sidecar (which reloads a change). */
const SETTINGS_VOLUME = 'settings';
const ARCHIVE_VOLUME = 'archive';
const RESTORE_VOLUME = 'restore-source';
const ARCHIVE_CA_VOLUME = 'archive-ca';
const RESTORE_CA_VOLUME = 'restore-ca';
const ARCHIVE_GCS_KEY_VOLUME = 'archive-gcs-key';
const RESTORE_GCS_KEY_VOLUME = 'restore-gcs-key';

/** How strongly the cluster's pods avoid sharing a node. */
export enum PodAntiAffinity {
  /** The scheduler puts pods on different nodes when it can, and on one node when it must. */
  PREFERRED = 'preferred',
  /** Pods never share a node: a cluster of n pods needs n nodes, or pods stay Pending. */
  REQUIRED = 'required',
  /** No rule: pods may share a node. */
  NONE = 'none',
}

/**
 * Compute resources of a container, as a Kubernetes container's `resources` holds them: quantities by resource name
 * ("cpu", "memory", "ephemeral-storage"), as plain strings.
 */
export interface PostgresResources {
  /**
   * What the scheduler reserves for the container, e.g. `{ cpu: "500m", memory: "1Gi" }`.
   * @default - no requests
   */
  readonly requests?: { [resource: string]: string };

  /**
   * The most the container may use, e.g. `{ cpu: "2" }`.
   * @default - no limits
   */
  readonly limits?: { [resource: string]: string };
}

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
   * Resources of the postgres container, e.g. `{ requests: { cpu: "1", memory: "4Gi" } }`; given, they replace the default.
   * @default - requests of 250m CPU and 256Mi of memory, no limits (a memory limit would have the kernel kill
   * PostgreSQL under load; size shared_buffers and work_mem with extraSettings instead)
   */
  readonly resources?: PostgresResources;

  /**
   * Whether the pods avoid sharing a node (a node's loss takes one pod, not the primary and its replicas).
   * @default PodAntiAffinity.PREFERRED
   */
  readonly podAntiAffinity?: PodAntiAffinity;

  /**
   * Spread the pods evenly across zones (`topology.kubernetes.io/zone`) when the scheduler can.
   * @default true
   */
  readonly spreadAcrossZones?: boolean;

  /**
   * A `metrics` sidecar in every pod: the Prometheus community's postgres_exporter on port 9187 (named
   * "metrics"), logged in over the pod's Unix socket as the read-only role `postgres_exporter` (pg_monitor).
   * Besides the exporter's own metrics (`pg_up`, ...), `pg_cluster_is_replica` tells the pod's role and
   * `pg_cluster_replica_replay_lag_bytes{replica}` (on the primary) and `pg_cluster_replay_lag_bytes` (on a
   * replica) the replication lag.
   * @default true
   */
  readonly metrics?: boolean;

  /**
   * The exporter's image.
   * @default "quay.io/prometheuscommunity/postgres-exporter:v0.15.0"
   */
  readonly metricsImage?: string;

  /**
   * A prometheus-operator `PodMonitor` `<name>-cluster` that scrapes the metrics sidecars. Its CRD must be
   * installed in the cluster (kube-prometheus-stack installs it), or applying the YAML fails.
   * @default false
   */
  readonly podMonitor?: boolean;

  /**
   * A PodDisruptionBudget `<name>-cluster` that lets voluntary disruptions (a node drain, a cluster upgrade)
   * take at most one pod at a time.
   * @default true
   */
  readonly podDisruptionBudget?: boolean;

  /**
   * Seconds the postgres container may take to start PostgreSQL (the startup probe, `pg-node.sh live started`:
   * the postmaster answers, if only to say that it is recovering): the entrypoint may initialize, wait for the
   * leader record, clone (pg_basebackup) or rewind for that long before the kubelet restarts the container.
   * Raise it for databases whose base backup takes longer. Crash recovery and catch-up after PostgreSQL has
   * started do not count, and the liveness probe (`pg-node.sh live`) never fails during them either.
   * @default 3600
   */
  readonly startupTimeoutSeconds?: number;

  /**
   * Image with bash, coreutils and kubectl: the init container that creates generated Secrets and the archive backup jobs run it.
   * @default "docker.io/alpine/k8s:1.33.9"
   */
  readonly kubectlImage?: string;

  /**
   * Image with Node.js (20 or later) that runs the agent: the role-labeler sidecar and the failover job. One JavaScript
   * file that the manifests embed, talking to the Kubernetes API over HTTPS (the job execs into the pods through it, over
   * WebSocket) and to PostgreSQL over the pod's socket. To mirror it, copy the
   * official image to your registry under any name and set this.
   * @default "docker.io/library/node:20.20.2-alpine"
   */
  readonly agentImage?: string;
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
 * pod's role-labeler sidecar reads and keeps the leader record (the Lease
 * `<name>-leader`) and labels its own pod. The postgres container gets no API token.
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
  /** The failover job's image (kubectl). */
  public readonly kubectlImage: string;
  /** The image that runs the agent (the role-labeler sidecar). */
  public readonly agentImage: string;
  /** Labels that select this cluster's pods. */
  public readonly selectorLabels: { [key: string]: string };
  /** The configuration the pods run with. */
  public readonly config: PostgresConfig;
  /** Whether the pods run the metrics sidecar (port 9187). */
  public readonly metrics: boolean;

  constructor(scope: Construct, id: string, props: PostgresStatefulSetProps) {
    super(scope, id);
    const owner = `PostgresStatefulSet ${this.node.path}`;
    const config = props.config;
    const names = config._names;
    validateTypes(owner, props, {
      image: 'string',
      storage: 'string',
      storageClassName: 'string',
      kubectlImage: 'string',
      agentImage: 'string',
      spreadAcrossZones: 'boolean',
      podDisruptionBudget: 'boolean',
      metricsImage: 'string',
      metrics: 'boolean',
      podMonitor: 'boolean',
    });
    const metrics = props.metrics ?? true;
    this.metrics = metrics;
    const metricsImage = props.metricsImage ?? DEFAULT_METRICS_IMAGE;
    validateImage(owner, 'metricsImage', metricsImage);
    if (props.podMonitor && !metrics) {
      throw new Error(`${owner}: podMonitor is true but metrics is false: there would be nothing to scrape. Set metrics to true, or drop podMonitor.`);
    }
    validateObjectName(owner, 'storageClassName', props.storageClassName);
    const resources = props.resources === undefined ? DEFAULT_RESOURCES : resourcesOf(owner, props.resources);

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
    if (config.synchronousReplicas > 0 && config.synchronousReplicas === this.replicas - 1) {
      addWarning(this, `${owner}: synchronousReplicas ${config.synchronousReplicas} asks every replica (${this.replicas - 1} of ${this.replicas} pods) `
        + 'to confirm each commit: while any replica is down (a restart, an update, a node drain), every write waits. '
        + `Raise replicas to ${this.replicas + 1} or lower synchronousReplicas to ${config.synchronousReplicas - 1}.`);
    }
    if (props.image === undefined && (config.walArchive || config.restore)) {
      throw new Error(`${owner}: ${config.walArchive ? 'walArchive' : 'restoreFrom'} needs pgBackRest in the postgres image, and the `
        + `official postgres:${config.postgresVersion} has none: build one FROM it with pgBackRest added (docs/images/postgres-pgbackrest/Dockerfile) `
        + 'and set image to it.');
    }
    this.image = props.image ?? `postgres:${config.postgresVersion}`;
    validateImage(owner, 'image', this.image);
    this.kubectlImage = props.kubectlImage ?? DEFAULT_KUBECTL_IMAGE;
    validateImage(owner, 'kubectlImage', this.kubectlImage);
    this.agentImage = props.agentImage ?? DEFAULT_AGENT_IMAGE;
    validateImage(owner, 'agentImage', this.agentImage);
    const storage = props.storage ?? '10Gi';
    validateStorageSize(owner, 'storage', storage);
    const startupTimeoutSeconds = props.startupTimeoutSeconds ?? 3600;
    validateInteger(owner, 'startupTimeoutSeconds', startupTimeoutSeconds, 10, MAX_INT32,
      'seconds the entrypoint may take to initialize, clone or rewind; PostgreSQL itself needs a few to start');
    this.selectorLabels = { ...names.selector };
    const podAntiAffinity = props.podAntiAffinity ?? PodAntiAffinity.PREFERRED;
    if (!Object.values(PodAntiAffinity).includes(podAntiAffinity)) {
      throw new Error(`${owner}: podAntiAffinity ${JSON.stringify(podAntiAffinity)} is not one of ${Object.values(PodAntiAffinity).map(v => `"${v}"`).join(', ')} `
        + '(PodAntiAffinity.PREFERRED, REQUIRED or NONE).');
    }

    const podLabels = { ...names.common, ...names.selector, 'app.kubernetes.io/component': 'database' };

    addObject(this, 'Headless', api.KubeService.GVK, asJson<k8s.KubeServiceProps>({
      metadata: { name: this.headlessServiceName, labels: { ...names.common } },
      // Its typed field clusterIp is JSON's clusterIP: the converter writes it.
      spec: api.toJson_ServiceSpec({
        clusterIp: 'None',
        // Peers must resolve each other while they bootstrap, before they are ready.
        publishNotReadyAddresses: true,
        selector: { ...names.selector },
        ports: [{ port: POSTGRES_PORT, name: POSTGRES_PORT_NAME }],
      }),
    }));

    const pods = podNames(names, config.maxReplicas);
    addServiceAccountWithRole(this, names.podServiceAccount, { ...names.common }, [
      // The primary's sidecar keeps replication slots (and the synchronous set) for the pods that exist.
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      // Only the cluster's own pods, up to the most it can be scaled to. The primary's sidecar deletes a pod of an older
      // revision in a rolling update (updateStrategy OnDelete: the StatefulSet makes it anew from the new template).
      { apiGroups: [''], resources: ['pods'], resourceNames: pods, verbs: ['get', 'patch', 'delete'] },
      // The StatefulSet's replicas and update revision: what the rolling update rolls to.
      { apiGroups: ['apps'], resources: ['statefulsets'], resourceNames: [names.statefulSet], verbs: ['get'] },
      // The sidecar watches the record, so that it acts at once when a switchover begins (a watch of one named object is
      // authorized by its name).
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [names.leaderRecord], verbs: ['get', 'watch', 'patch', 'update'] },
      // A new cluster's first primary creates the record; Kubernetes cannot limit "create" to a name.
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      // The sidecar tells people what its pod did that they should know (an unrecorded promotion undone): Events about it.
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      // The secrets init container creates the generated Secrets that do not exist yet (it reads no other Secret; the
      // kubelet, not the pod, mounts them).
      ...(config.generatedSecretNames.length > 0 ? [
        { apiGroups: [''], resources: ['secrets'], resourceNames: [...config.generatedSecretNames], verbs: ['get'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      ] : []),
    ]);

    const secretEnv = (name: string, key: string, secret = config.secretName): k8s.EnvVar =>
      ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });
    const credentialsMount: k8s.VolumeMount = { name: CREDENTIALS_VOLUME, mountPath: PATHS.credentialsDir };
    const passfileEnv: k8s.EnvVar = { name: 'PGPASSFILE', value: `${PATHS.credentialsDir}/pgpass` };
    const roleEnv: k8s.EnvVar[] = [
      { name: 'POSTGRES_USER', value: SUPERUSER },
      { name: 'REPLICATION_USER', value: config.replicationUser },
      { name: 'APP_USER', value: config.appUser },
      // pg_rewind and the sidecars' checks of other pods: the superuser only where PostgreSQL needs it (before 15).
      { name: 'NETWORK_USER', value: config.superuserOverNetwork ? SUPERUSER : config.replicationUser },
    ];
    const podNameEnv: k8s.EnvVar = { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };
    const scriptsMount: k8s.VolumeMount = { name: config.scriptsConfigMapName, mountPath: PATHS.scriptsDir };
    const runMount: k8s.VolumeMount = { name: RUN_VOLUME, mountPath: PATHS.runDir };
    const nodeScript = (...args: string[]) => ({ command: ['/bin/bash', `${PATHS.scriptsDir}/${SCRIPT_FILES.node}`, ...args] });
    const restricted = restrictedContainer();
    // pgBackRest (walArchive, restoreFrom): its configuration and repository where the postgres container and the sidecar run it.
    const archive = config.walArchive;
    const restore = config.restore;
    const pgbackrestEnv: k8s.EnvVar[] = config.pgbackrestConf !== undefined ? [{ name: 'PGBACKREST_CONFIG', value: PATHS.pgbackrestConf }] : [];
    // The object store's CA (S3, Azure or GCS), if the repository is in one and the image's system CAs do not sign its certificate.
    const archiveCa = archive?.s3?.caCertificate ?? archive?.azure?.caCertificate ?? archive?.gcs?.caCertificate;
    // A GCS service account's key is a file (repo1-gcs-key names it): its Secret's key, mounted read-only.
    const archiveGcsKey = archive?.gcs?.keyType === 'service' ? archive.gcs : undefined;
    const restoreGcsKey = restore?.gcs?.keyType === 'service' ? restore.gcs : undefined;
    const gcsKeyVolume = (name: string, gcs: { credentialsSecretName?: string; credentialsKey?: string }) =>
      secretKeyVolume(name, gcs.credentialsSecretName!, gcs.credentialsKey!, GCS_KEY_FILE);
    const archiveMounts: k8s.VolumeMount[] = [
      ...(archive?.claimName !== undefined ? [{ name: ARCHIVE_VOLUME, mountPath: PATHS.archiveDir }] : []),
      ...(archiveCa ? [{ name: ARCHIVE_CA_VOLUME, mountPath: PATHS.archiveCaDir, readOnly: true }] : []),
      ...(archiveGcsKey ? [{ name: ARCHIVE_GCS_KEY_VOLUME, mountPath: PATHS.archiveGcsKeyDir, readOnly: true }] : []),
    ];
    // The repository's secrets reach pgBackRest as environment variables, never through the ConfigMap.
    const archiveSecretEnv: k8s.EnvVar[] = [
      ...(archive?.s3?.credentialsSecretName !== undefined ? [
        secretEnv('PGBACKREST_REPO1_S3_KEY', archive.s3.accessKeyIdKey!, archive.s3.credentialsSecretName),
        secretEnv('PGBACKREST_REPO1_S3_KEY_SECRET', archive.s3.secretAccessKeyKey!, archive.s3.credentialsSecretName),
      ] : []),
      // The Azure account's shared key or a SAS token, as repo1-azure-key-type says.
      ...(archive?.azure ? [secretEnv('PGBACKREST_REPO1_AZURE_KEY', archive.azure.credentialsKey, archive.azure.credentialsSecretName)] : []),
      // A GCS access token (repo1-gcs-key-type=token); a service account's key is a file instead, Workload Identity needs none.
      ...(archive?.gcs?.keyType === 'token' ? [secretEnv('PGBACKREST_REPO1_GCS_KEY', archive.gcs.credentialsKey!, archive.gcs.credentialsSecretName)] : []),
      ...(archive?.encryptionPassphraseSecretName !== undefined
        ? [secretEnv('PGBACKREST_REPO1_CIPHER_PASS', archive.encryptionPassphraseSecretKey!, archive.encryptionPassphraseSecretName)] : []),
    ];
    // Another cluster's repository (a volume, a bucket or a container) is read with a configuration of its own, and its secrets reach
    // the restore as RESTORE_PGBACKREST_* (the entrypoint gives them to pgBackRest as PGBACKREST_* for the restore only).
    const restoreEnv: k8s.EnvVar[] = restore ? [
      { name: 'RESTORE_STANZA', value: restore.stanza },
      ...(!restore.ownArchive ? [{ name: 'RESTORE_CONFIG', value: PATHS.pgbackrestRestoreConf }] : []),
      ...(restore.targetTime !== undefined ? [{ name: 'RESTORE_TARGET_TIME', value: restore.targetTime }] : []),
      ...(restore.s3?.credentialsSecretName !== undefined ? [
        secretEnv('RESTORE_PGBACKREST_REPO1_S3_KEY', restore.s3.accessKeyIdKey!, restore.s3.credentialsSecretName),
        secretEnv('RESTORE_PGBACKREST_REPO1_S3_KEY_SECRET', restore.s3.secretAccessKeyKey!, restore.s3.credentialsSecretName),
      ] : []),
      ...(restore.azure ? [secretEnv('RESTORE_PGBACKREST_REPO1_AZURE_KEY', restore.azure.credentialsKey, restore.azure.credentialsSecretName)] : []),
      ...(restore.gcs?.keyType === 'token' ? [secretEnv('RESTORE_PGBACKREST_REPO1_GCS_KEY', restore.gcs.credentialsKey!, restore.gcs.credentialsSecretName)] : []),
      ...(restore.encryptionPassphraseSecretName !== undefined
        ? [secretEnv('RESTORE_PGBACKREST_REPO1_CIPHER_PASS', restore.encryptionPassphraseSecretKey!, restore.encryptionPassphraseSecretName)] : []),
    ] : [];
    // Another cluster's repository, read-only: restoring never writes to it.
    const restoreClaim = restore?.claimName;
    const restoreCa = restore?.s3?.caCertificate ?? restore?.azure?.caCertificate ?? restore?.gcs?.caCertificate;
    const restoreMounts: k8s.VolumeMount[] = [
      ...(restoreClaim !== undefined ? [{ name: RESTORE_VOLUME, mountPath: PATHS.restoreArchiveDir, readOnly: true }] : []),
      ...(restoreCa ? [{ name: RESTORE_CA_VOLUME, mountPath: PATHS.restoreCaDir, readOnly: true }] : []),
      ...(restoreGcsKey ? [{ name: RESTORE_GCS_KEY_VOLUME, mountPath: PATHS.restoreGcsKeyDir, readOnly: true }] : []),
    ];

    const spec: k8s.StatefulSetSpec = {
      serviceName: this.headlessServiceName,
      replicas: this.replicas,
      // The leader record, not start order, decides roles: every pod starts at once, and a pod 0 that cannot
      // start (its volume lost) does not keep the replicas that hold the data from starting.
      podManagementPolicy: 'Parallel',
      // The agents roll the pods (src/agent/roll.ts): replicas first, then one switchover, then the old primary. The
      // controller's RollingUpdate deletes the highest ordinal first, wherever the primary is: two switchovers when it is there.
      updateStrategy: { type: 'OnDelete' },
      selector: { matchLabels: { ...names.selector } },
      template: {
        // The scripts' and the agent's digest: a new version of either rolls the pods (the running programs are those
        // the ConfigMap held when each pod started), so that the entrypoint and its sidecar never differ in version.
        metadata: {
          labels: podLabels,
          annotations: { [SCRIPTS_DIGEST_ANNOTATION]: config._scriptsDigest, [RESTART_SETTINGS_DIGEST_ANNOTATION]: config._restartSettingsDigest },
        },
        spec: {
          serviceAccountName: names.podServiceAccount,
          // Only the sidecar gets a token (a projected volume below); the postgres container has none.
          automountServiceAccountToken: false,
          // The sidecar fences its PostgreSQL (pg_ctl stop) when the leader record does not name it.
          shareProcessNamespace: true,
          // Service links would add variables such as POSTGRES_WRITE_PORT to every container.
          enableServiceLinks: false,
          // The data volume writable by the postgres user; its ownership changed only when its root's is wrong (a large
          // volume is not walked at every start).
          securityContext: postgresUserPod(POSTGRES_UID, { changePolicy: 'OnRootMismatch' }),
          affinity: antiAffinity(podAntiAffinity, names.selector),
          topologySpreadConstraints: (props.spreadAcrossZones ?? true) ? [{
            maxSkew: 1,
            topologyKey: 'topology.kubernetes.io/zone',
            whenUnsatisfiable: 'ScheduleAnyway',
            labelSelector: { matchLabels: { ...names.selector } },
          }] : undefined,
          containers: [
            {
              name: POSTGRES_CONTAINER,
              image: this.image,
              command: ['/bin/bash', `${PATHS.scriptsDir}/${SCRIPT_FILES.entrypoint}`],
              env: [
                { name: 'POSTGRES_DB', value: config.database },
                ...roleEnv,
                secretEnv('POSTGRES_PASSWORD', 'password'),
                secretEnv('POSTGRES_REPLICATION_PASSWORD', 'replication-password'),
                secretEnv('APP_PASSWORD', 'password', config.appSecretName),
                passfileEnv,
                { name: 'PGDATA', value: PATHS.pgdata },
                podNameEnv,
                { name: 'PRIMARY_HOST', value: names.writeService },
                { name: 'PEER_DOMAIN', value: this.headlessServiceName },
                { name: 'POSTGRES_CONFIG_DIR', value: PATHS.configDir },
                { name: 'POSTGRES_INITDB_ARGS', value: config.initdbArgs },
                { name: 'TLS_MODE', value: config.tlsMode },
                ...pgbackrestEnv,
                // A primary's entrypoint makes sure the archive's stanza exists (pgBackRest), without which nothing is archived.
                ...(archive ? [{ name: 'ARCHIVE_STANZA', value: archive.stanza }] : []),
                ...archiveSecretEnv,
                ...restoreEnv,
              ],
              ports: [{ containerPort: POSTGRES_PORT, name: POSTGRES_PORT_NAME }],
              // The postmaster answers (if only "starting up"): every second, for up to startupTimeoutSeconds.
              startupProbe: { exec: nodeScript('live', 'started'), periodSeconds: 1, timeoutSeconds: 5, failureThreshold: startupTimeoutSeconds },
              // Only a wedged container fails it (a postmaster that answers nothing for a minute): never a long recovery.
              livenessProbe: { exec: nodeScript('live'), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
              readinessProbe: {
                // Accepts connections and, for a replica, streams: a replica that cannot follow serves no reads.
                exec: nodeScript('ready'),
                periodSeconds: 2,
                timeoutSeconds: 2,
                failureThreshold: 2,
              },
              resources,
              securityContext: restricted,
              volumeMounts: [
                { name: names.storageVolume, mountPath: PATHS.dataVolume },
                { name: config.configMapName, mountPath: PATHS.configDir },
                { name: config.initConfigMapName, mountPath: PATHS.initDir },
                scriptsMount,
                runMount,
                credentialsMount,
                ...(config.tlsSecretName !== undefined ? [{ name: TLS_VOLUME, mountPath: PATHS.tlsSecretDir, readOnly: true }] : []),
                ...archiveMounts,
                ...restoreMounts,
                // Its own /tmp (promote's scratch files): the root filesystem is read-only.
                { name: POSTGRES_TMP_VOLUME, mountPath: '/tmp' },
              ],
            },
            {
              name: LABELER_CONTAINER,
              // The agent (src/agent/): one JavaScript file, and its configuration document, both in the scripts ConfigMap.
              image: this.agentImage,
              command: ['node', `${PATHS.scriptsDir}/${AGENT_FILES.bundle}`, 'sidecar', `${PATHS.scriptsDir}/${AGENT_FILES.sidecarConfig}`],
              env: [podNameEnv],
              resources: { requests: { cpu: quantity('10m'), memory: quantity('64Mi') } },
              securityContext: restricted,
              volumeMounts: [
                // Read-write: fencing writes standby.signal, and a re-clone request next to the data directory.
                { name: names.storageVolume, mountPath: PATHS.dataVolume },
                scriptsMount,
                runMount,
                { name: TOKEN_VOLUME, mountPath: PATHS.serviceAccountDir, readOnly: true },
                { name: SECRET_VOLUME, mountPath: PATHS.secretDir, readOnly: true },
                { name: APP_SECRET_VOLUME, mountPath: PATHS.appSecretDir, readOnly: true },
                ...(config.tlsSecretName !== undefined ? [{ name: TLS_VOLUME, mountPath: PATHS.tlsSecretDir, readOnly: true }] : []),
                // postgresql.conf and pg_hba.conf (not pgbackrest.conf): a change is reloaded.
                { name: SETTINGS_VOLUME, mountPath: PATHS.configDir, readOnly: true },
                credentialsMount,
              ],
            },
            {
              // The heartbeat fence: stops a primary whose agent did not confirm in time that it may serve (a renewal of the
              // lease with automatic failover, a read of the record without), even when the agent itself cannot act
              // (lease-fence.sh). Bash builtins only: no process per look.
              name: LEASE_FENCE_CONTAINER,
              image: this.image,
              command: ['/bin/bash', `${PATHS.scriptsDir}/${SCRIPT_FILES.leaseFence}`],
              env: [
                podNameEnv,
                { name: 'PGDATA', value: PATHS.pgdata },
                { name: 'LEASE_DEADLINE_FILE', value: config._automaticFailover.deadlineFile },
                {
                  name: 'FENCE_SECONDS',
                  value: String(config._automaticFailover.enabled ? config._automaticFailover.renewDeadlineSeconds : ISOLATION_FENCE_SECONDS),
                },
              ],
              resources: { requests: { cpu: quantity('5m'), memory: quantity('16Mi') } },
              securityContext: restricted,
              volumeMounts: [
                // Read-write: fencing writes standby.signal.
                { name: names.storageVolume, mountPath: PATHS.dataVolume },
                scriptsMount,
                runMount,
              ],
            },
            ...(metrics ? [exporterContainer(metricsImage, config.configMapName, runMount, restricted)] : []),
          ],
          initContainers: config.generatedSecretNames.length > 0 ? [{
            // Creates the generated Secrets that do not exist (random passwords), before the containers that read them.
            name: SECRETS_INIT_CONTAINER,
            image: this.kubectlImage,
            command: ['/bin/bash', `${PATHS.scriptsDir}/${SCRIPT_FILES.ensureSecrets}`],
            env: [
              podNameEnv,
              { name: 'SECRET_NAME', value: config.generatedSecretNames.includes(config.secretName) ? config.secretName : '' },
              { name: 'APP_SECRET_NAME', value: config.generatedSecretNames.includes(config.appSecretName) ? config.appSecretName : '' },
              { name: 'APP_USER', value: config.appUser },
              { name: 'APP_DATABASE', value: config.database },
              { name: 'APP_HOST', value: names.writeService },
              { name: 'PGPORT', value: String(POSTGRES_PORT) },
              { name: 'SECRET_LABELS', value: JSON.stringify(names.common) },
              { name: 'HOME', value: '/tmp' },
            ],
            resources: { requests: { cpu: quantity('10m'), memory: quantity('16Mi') } },
            securityContext: restricted,
            volumeMounts: [
              scriptsMount,
              { name: TOKEN_VOLUME, mountPath: PATHS.serviceAccountDir, readOnly: true },
              { name: SECRETS_TMP_VOLUME, mountPath: '/tmp' },
            ],
          }] : undefined,
          volumes: [
            { name: RUN_VOLUME, emptyDir: {} },
            // Passwords: in memory, never on a disk of the node.
            { name: CREDENTIALS_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: quantity('1Mi') } },
            // Group-readable for the pod's group (fsGroup): the sidecar runs as the postgres user. Optional: a generated Secret
            // does not exist before the secrets init container creates it, and the kubelet mounts volumes before any container
            // starts (it fills them in once the Secret exists; the postgres container's variables are resolved after the
            // init containers).
            { name: SECRET_VOLUME, secret: { secretName: config.secretName, defaultMode: 0o440, optional: true } },
            { name: APP_SECRET_VOLUME, secret: { secretName: config.appSecretName, defaultMode: 0o440, optional: true } },
            // Yours, and needed before PostgreSQL starts (not optional). Root-owned and group-readable (fsGroup): the modes
            // that PostgreSQL accepts for a key file it does not own.
            ...(config.tlsSecretName !== undefined ? [{ name: TLS_VOLUME, secret: { secretName: config.tlsSecretName, defaultMode: 0o440 } }] : []),
            ...(archive?.claimName !== undefined ? [{ name: ARCHIVE_VOLUME, persistentVolumeClaim: { claimName: archive.claimName } }] : []),
            // The S3, Azure or GCS endpoint's CA, from your Secret or ConfigMap, at a name pgbackrest.conf knows.
            ...(archiveCa ? [caVolume(ARCHIVE_CA_VOLUME, archiveCa, S3_CA_FILE)] : []),
            // A GCS service account's key, from your Secret, at the name pgbackrest.conf gives (repo1-gcs-key); root-owned and
            // group-readable (fsGroup), as the TLS key.
            ...(archiveGcsKey ? [gcsKeyVolume(ARCHIVE_GCS_KEY_VOLUME, archiveGcsKey)] : []),
            ...(restoreClaim !== undefined ? [{ name: RESTORE_VOLUME, persistentVolumeClaim: { claimName: restoreClaim, readOnly: true } }] : []),
            // The CA of the bucket or container restored from (restoreFrom.s3, .azure or .gcs), likewise.
            ...(restoreCa ? [caVolume(RESTORE_CA_VOLUME, restoreCa, S3_CA_FILE)] : []),
            // The key of the GCS bucket restored from (restoreFrom.gcs), at the name pgbackrest-restore.conf gives.
            ...(restoreGcsKey ? [gcsKeyVolume(RESTORE_GCS_KEY_VOLUME, restoreGcsKey)] : []),
            { name: POSTGRES_TMP_VOLUME, emptyDir: {} },
            { name: SECRETS_TMP_VOLUME, emptyDir: {} },
            // Its typed field downwardApi is JSON's downwardAPI: the converter writes it.
            api.toJson_Volume({
              name: TOKEN_VOLUME,
              projected: {
                sources: [
                  { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
                  { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                  { downwardApi: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
                ],
              },
            }) as k8s.Volume,
            { name: config.configMapName, configMap: { name: config.configMapName } },
            {
              name: SETTINGS_VOLUME,
              configMap: { name: config.configMapName, items: ['postgresql.conf', 'pg_hba.conf'].map(key => ({ key, path: key })) },
            },
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
          resources: { requests: { storage: quantity(storage) } },
        },
      }],
    };
    const json = asJson<k8s.KubeStatefulSetProps>({ metadata: { name: this.name, labels: { ...names.common } }, spec });
    // The typed claim template has no apiVersion/kind, yet without them Argo CD shows the StatefulSet OutOfSync forever.
    json.spec.volumeClaimTemplates = json.spec.volumeClaimTemplates.map((template: object) =>
      ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', ...template }));
    addObject(this, 'Resource', api.KubeStatefulSet.GVK, json);

    if (props.podMonitor) {
      // prometheus-operator's PodMonitor (monitoring.coreos.com/v1), typed from its CRD (imports/prometheus-operator-pod-monitor-crd.yaml).
      new (loadPodMonitorClass())(this, 'PodMonitor', {
        metadata: { name: this.name, labels: { ...names.common } },
        spec: { selector: { matchLabels: { ...names.selector } }, podMetricsEndpoints: [{ port: METRICS_PORT_NAME, path: '/metrics' }] },
      });
    }

    if (props.podDisruptionBudget ?? true) {
      addObject(this, 'DisruptionBudget', api.KubePodDisruptionBudget.GVK, asJson<k8s.KubePodDisruptionBudgetProps>({
        metadata: { name: this.name, labels: { ...names.common } },
        spec: { maxUnavailable: intOrString(1), selector: { matchLabels: { ...names.selector } } },
      }));
    }
  }
}

/** The generated PodMonitor class, loaded only when one is made: its module adds ~0.05 s to every `cdk8s synth`. */
function loadPodMonitorClass(): typeof import('./private/imports/monitoring.coreos.com.generated').PodMonitor {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./private/imports/monitoring.coreos.com.generated').PodMonitor;
}

/** The metrics sidecar: postgres_exporter over the pod's Unix socket, with the cluster's own queries. */
function exporterContainer(image: string, configMapName: string, runMount: k8s.VolumeMount, securityContext: k8s.SecurityContext): k8s.Container {
  return {
    name: METRICS_CONTAINER,
    image,
    args: [`--web.listen-address=:${METRICS_PORT}`, `--extend.query-path=${METRICS_CONFIG_DIR}/${METRICS_QUERIES_KEY}`],
    env: [{ name: 'DATA_SOURCE_NAME', value: `host=${PATHS.runDir} user=${METRICS_USER} dbname=postgres sslmode=disable` }],
    ports: [{ containerPort: METRICS_PORT, name: METRICS_PORT_NAME }],
    resources: { requests: { cpu: quantity('10m'), memory: quantity('32Mi') } },
    securityContext,
    volumeMounts: [runMount, { name: configMapName, mountPath: METRICS_CONFIG_DIR, readOnly: true }],
  };
}

/** The postgres container's resources unless given: requests only. */
const DEFAULT_RESOURCES: k8s.ResourceRequirements = { requests: { cpu: quantity('250m'), memory: quantity('256Mi') } };

/** The given resources, checked, as the container's `resources` field: only the parts given. */
function resourcesOf(owner: string, resources: PostgresResources): k8s.ResourceRequirements {
  if (resources === null || typeof resources !== 'object' || Array.isArray(resources)) {
    throw new Error(`${owner}: resources must be an object with requests and limits, e.g. { requests: { cpu: "500m", memory: "1Gi" } }; got ${shown(resources)}.`);
  }
  const quantities = (part: 'requests' | 'limits') => {
    const given = resources[part];
    validateResourceQuantities(owner, `resources.${part}`, given);
    return given === undefined ? {} : { [part]: Object.fromEntries(Object.entries(given).map(([name, value]) => [name, quantity(value)])) };
  };
  return { ...quantities('requests'), ...quantities('limits') };
}

/** Keeps the cluster's pods (selected by `selector`) on different nodes, as asked. */
function antiAffinity(rule: PodAntiAffinity, selector: { [key: string]: string }): k8s.Affinity | undefined {
  const term: k8s.PodAffinityTerm = { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { ...selector } } };
  switch (rule) {
    case PodAntiAffinity.REQUIRED:
      return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
    case PodAntiAffinity.PREFERRED:
      return { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] } };
    default:
      return undefined;
  }
}
