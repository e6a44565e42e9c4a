import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import { ArgoCdApplication } from './argo-cd-application';
import { FailoverJob } from './failover-job';
import { LogicalBackup } from './logical-backup';
import { PostgresConfig, PostgresConfigProps, S3RepositoryOptions } from './postgres-config';
import { PostgresNetworkPolicy, PostgresNetworkPolicyOptions } from './postgres-network-policy';
import { PostgresPodOptions, PostgresStatefulSet } from './postgres-stateful-set';
import { validateCronSchedule, validateInteger, validateNamespace, validateStorageSize, validateTypes, webIdentityRefused } from './private/validation';
import { RoleServices } from './role-services';
import { WalArchive } from './wal-archive';

/**
 * Properties of {@link PostgresClusterChart}: the configuration's, the pods', the NetworkPolicies', and the Services'
 * and failover job's.
 */
export interface PostgresClusterChartProps extends ChartProps, PostgresConfigProps, PostgresPodOptions, PostgresNetworkPolicyOptions {
  /**
   * Also create the `<name>-any` Service over every ready pod.
   * @default true
   */
  readonly anyService?: boolean;

  /**
   * Pod the failover job promotes by default ("<clusterName>-cluster-<ordinal>", an ordinal below maxReplicas).
   * @default - the replica with the most WAL, only when no healthy primary exists
   */
  readonly failoverTargetPod?: string;

  /**
   * NetworkPolicies that let only clients (`clientSelector`), the cluster's own pods and metrics scrapers in, and
   * only what the cluster needs out: see {@link PostgresNetworkPolicy}. They take effect only where a network
   * plugin enforces NetworkPolicies.
   * @default true
   */
  readonly networkPolicy?: boolean;

  /**
   * Annotate the objects with Argo CD sync waves (`argocd.argoproj.io/sync-wave`): configuration, RBAC and
   * NetworkPolicies (-1), then the StatefulSet, its PodDisruptionBudget and the Services (0), then the failover CronJob (1).
   * Only object metadata changes: pods are not restarted by turning it on.
   * @default false
   */
  readonly argoCdSyncWaves?: boolean;

  /**
   * A scheduled logical backup of the application database: see {@link LogicalBackup}.
   * @default true
   */
  readonly backup?: boolean;

  /**
   * When the logical backup runs (cron).
   * @default "0 3 * * *"
   */
  readonly backupSchedule?: string;

  /**
   * Dumps the logical backup keeps.
   * @default 7
   */
  readonly backupRetention?: number;

  /**
   * Size of the logical backup's volume.
   * @default "10Gi"
   */
  readonly backupStorage?: string;

  /**
   * Also copy each dump of the logical backup into an S3 (or S3-compatible) bucket, keeping `backupRetention` there
   * too: see {@link LogicalBackupProps.s3}. Its path defaults to "/<clusterName>/logical".
   * @default - the dumps stay on the backup volume only
   */
  readonly backupS3?: S3RepositoryOptions;
}

/**
 * A whole PostgreSQL primary/replica cluster in one chart: its configuration,
 * StatefulSet, role Services and failover job. The defaults reproduce the
 * reference design's names: `postgres-cluster`, `postgres-write`, `postgres-read`...
 */
export class PostgresClusterChart extends Chart {
  /** The configuration (ConfigMaps and Secret). */
  public readonly config: PostgresConfig;
  /** The StatefulSet and its headless Service. */
  public readonly statefulSet: PostgresStatefulSet;
  /** The write, read and any Services. */
  public readonly services: RoleServices;
  /** The failover job's CronJob template. */
  public readonly failover: FailoverJob;
  /** The logical backup, unless `backup` is false. */
  public readonly backup?: LogicalBackup;
  /** The WAL archive's claim and backup CronJobs, if `walArchive` is on. */
  public readonly walArchive?: WalArchive;
  /** The NetworkPolicies, unless `networkPolicy` is false. */
  public readonly networkPolicy?: PostgresNetworkPolicy;
  /** Host name that reaches the primary (the write Service). */
  public readonly primaryHost: string;
  /** Host name that reaches the replicas (the read Service). */
  public readonly replicaHost: string;

  constructor(scope: Construct, id: string, props: PostgresClusterChartProps = {}) {
    super(scope, id, { disableResourceNameHashes: true, ...props });
    validateNamespace(`PostgresClusterChart ${this.node.path}`, props.namespace);
    this.config = new PostgresConfig(this, 'Config', props);
    claimClusterName(this, this.config.clusterName);
    this.statefulSet = new PostgresStatefulSet(this, 'StatefulSet', { ...props, config: this.config });
    this.services = new RoleServices(this, 'Services', { statefulSet: this.statefulSet, anyService: props.anyService });
    this.failover = new FailoverJob(this, 'Failover', { statefulSet: this.statefulSet, targetPod: props.failoverTargetPod });
    this.backup = backupOf(this, props, this.statefulSet);
    this.walArchive = this.config.walArchive ? new WalArchive(this, 'WalArchive', { statefulSet: this.statefulSet }) : undefined;
    this.networkPolicy = networkPolicyOf(this, props, this.statefulSet, this.failover, this.backup, this.walArchive);
    if (props.argoCdSyncWaves) ArgoCdApplication.addSyncWaves(this);
    this.primaryHost = this.services.writeServiceName;
    this.replicaHost = this.services.readServiceName;
  }
}

/** The logical backup unless turned off; its settings without it are a mistake, not a silent no-op. */
function backupOf(chart: Chart, props: PostgresClusterChartProps, statefulSet: PostgresStatefulSet): LogicalBackup | undefined {
  const owner = `PostgresClusterChart ${chart.node.path}`;
  validateTypes(owner, props, { backup: 'boolean', backupSchedule: 'string', backupStorage: 'string' });
  if (props.backup ?? true) {
    // Named as the chart's props: the backup's own errors would name its (schedule, retention, storage).
    if (props.backupSchedule !== undefined) validateCronSchedule(owner, 'backupSchedule', props.backupSchedule);
    if (props.backupRetention !== undefined) validateInteger(owner, 'backupRetention', props.backupRetention, 1, 10_000, 'the number of dumps kept');
    if (props.backupStorage !== undefined) validateStorageSize(owner, 'backupStorage', props.backupStorage);
    if (props.backupS3 !== undefined) {
      const s3 = statefulSet.config._resolveS3(owner, props.backupS3, 'backupS3', `${statefulSet.config.clusterName}/logical`);
      if (s3.credentialsSecretName === undefined) throw new Error(webIdentityRefused(owner, 'backupS3'));
    }
    return new LogicalBackup(chart, 'Backup', {
      statefulSet,
      schedule: props.backupSchedule,
      retention: props.backupRetention,
      storage: props.backupStorage,
      s3: props.backupS3,
      storageClassName: props.storageClassName,
    });
  }
  for (const prop of ['backupSchedule', 'backupRetention', 'backupStorage', 'backupS3'] as const) {
    if (props[prop] !== undefined) {
      throw new Error(`${owner}: ${prop} is set but backup is false: there is no backup to apply it to. Drop ${prop}, or set backup to true.`);
    }
  }
  return undefined;
}

/** The NetworkPolicies unless turned off; their selectors without them are a mistake, not a silent no-op. */
function networkPolicyOf(
  chart: Chart, props: PostgresClusterChartProps, statefulSet: PostgresStatefulSet, failoverJob: FailoverJob, backup?: LogicalBackup,
  walArchive?: WalArchive,
): PostgresNetworkPolicy | undefined {
  const owner = `PostgresClusterChart ${chart.node.path}`;
  validateTypes(owner, props, { networkPolicy: 'boolean' });
  if (props.networkPolicy ?? true) {
    return new PostgresNetworkPolicy(chart, 'NetworkPolicy', {
      statefulSet,
      failoverJob,
      backup,
      walArchive,
      clientSelector: props.clientSelector,
      clientNamespaceSelector: props.clientNamespaceSelector,
      metricsScraperSelector: props.metricsScraperSelector,
      metricsScraperNamespaceSelector: props.metricsScraperNamespaceSelector,
    });
  }
  for (const prop of ['clientSelector', 'clientNamespaceSelector', 'metricsScraperSelector', 'metricsScraperNamespaceSelector'] as const) {
    if (props[prop] !== undefined) {
      throw new Error(`${owner}: ${prop} is set but networkPolicy is false: there is no NetworkPolicy to apply it to. `
        + `Drop ${prop}, or set networkPolicy to true.`);
    }
  }
  return undefined;
}

/** Per app: "<namespace>/<clusterName>" of every cluster chart, and the chart's path. */
const clustersByApp = new WeakMap<Construct, Map<string, string>>();

/** Two clusters with one name in one namespace would overwrite each other's objects: refuse, naming both. */
function claimClusterName(chart: Chart, clusterName: string): void {
  const namespace = chart.namespace ?? 'default';
  let clusters = clustersByApp.get(chart.node.root);
  if (!clusters) {
    clusters = new Map();
    clustersByApp.set(chart.node.root, clusters);
  }
  const key = `${namespace}/${clusterName}`;
  const other = clusters.get(key);
  if (other !== undefined) {
    throw new Error(`${chart.node.path}: cluster "${clusterName}" in namespace "${namespace}" is already synthesized by ${other}; `
      + 'their objects would overwrite each other. Give one of them another clusterName or namespace.');
  }
  clusters.set(key, chart.node.path);
}
