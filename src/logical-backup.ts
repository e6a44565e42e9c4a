import type { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { DUMP_COPY_COMMAND, DUMP_COPY_CONFIG_VERSION, DumpCopyConfig } from './agent/config';
import { S3RepositoryOptions, S3RepositorySettings } from './postgres-config';
import { PostgresStatefulSet } from './postgres-stateful-set';
import { addObject } from './private/api-object';
import { api, asJson, caVolume, postgresUserPod, quantity, restrictedContainer } from './private/k8s';
import { PATHS, POSTGRES_PORT, POSTGRES_UID, S3_CA_FILE } from './private/names';
import { AGENT_FILES, SCRIPT_FILES } from './private/scripts';
import { validateCronSchedule, validateInteger, validateObjectName, validateStorageSize, validateTypes, webIdentityRefused } from './private/validation';

/** Where the job mounts the backup volume. */
const BACKUP_DIR = '/backup';


/**
 * Properties of {@link LogicalBackup}.
 */
export interface LogicalBackupProps {
  /**
   * The cluster whose application database is dumped.
   */
  readonly statefulSet: PostgresStatefulSet;

  /**
   * When to dump, as a cron schedule in the cluster's time zone (usually UTC).
   * @default "0 3 * * *" (every day at 03:00)
   */
  readonly schedule?: string;

  /**
   * Dumps kept on the volume; older ones are removed after each new dump.
   * @default 7
   */
  readonly retention?: number;

  /**
   * Size of the backup volume.
   * @default "10Gi"
   */
  readonly storage?: string;

  /**
   * StorageClass of the backup volume.
   * @default - the cluster's default StorageClass
   */
  readonly storageClassName?: string;

  /**
   * Also copy each dump into an S3 (or S3-compatible) bucket, keeping the newest `retention` there too: after pg_dump,
   * the job's agent container (`agentImage`) puts the dump into the bucket, signed with the access key of
   * `credentials` (`S3Credentials.fromSecret`; a web identity is not supported here). Its `path` defaults to
   * "/<clusterName>/logical", beside the WAL archive's "/<clusterName>" of the same bucket.
   * @default - the dumps stay on the volume only
   */
  readonly s3?: S3RepositoryOptions;
}

/** Where the copy container finds the endpoint's CA. */
const BACKUP_CA_DIR = '/etc/postgres-cluster/backup-ca';

/**
 * A scheduled logical backup: the CronJob `<name>-backup` dumps the application database (`pg_dump`, custom
 * format, as the application role, through the write Service) onto the PersistentVolumeClaim `<name>-backup`,
 * keeping the newest `retention` dumps. A dump can be restored with `pg_restore` into any PostgreSQL (README,
 * "Backups"). It is a copy of one database at one moment, not point-in-time recovery.
 */
export class LogicalBackup extends Construct {
  /** Name of the CronJob. */
  public readonly cronJobName: string;
  /** Name of the PersistentVolumeClaim that holds the dumps. */
  public readonly claimName: string;
  /** Labels that select the backup job's pods. */
  public readonly selectorLabels: { [key: string]: string };
  /** The schedule of the dumps. */
  public readonly schedule: string;
  /** Dumps kept. */
  public readonly retention: number;
  /** The bucket the dumps are copied into, as resolved, if `s3` is given. */
  public readonly s3?: S3RepositorySettings;

  constructor(scope: Construct, id: string, props: LogicalBackupProps) {
    super(scope, id);
    const owner = `LogicalBackup ${this.node.path}`;
    validateTypes(owner, props, { schedule: 'string', storage: 'string', storageClassName: 'string' });
    const statefulSet = props.statefulSet;
    const config = statefulSet.config;
    const names = config._names;
    this.schedule = props.schedule ?? '0 3 * * *';
    validateCronSchedule(owner, 'schedule', this.schedule);
    this.retention = props.retention ?? 7;
    validateInteger(owner, 'retention', this.retention, 1, 10_000, 'the number of dumps kept');
    const storage = props.storage ?? '10Gi';
    validateStorageSize(owner, 'storage', storage);
    validateObjectName(owner, 'storageClassName', props.storageClassName);

    this.cronJobName = `${names.cluster}-backup`;
    this.claimName = `${names.cluster}-backup`;
    this.selectorLabels = { 'app.kubernetes.io/instance': names.cluster, 'app.kubernetes.io/component': 'backup' };
    const labels = { ...names.common, ...this.selectorLabels };
    const s3 = props.s3 !== undefined ? config._resolveS3(owner, props.s3, 's3', `${names.cluster}/logical`) : undefined;
    if (s3 && s3.credentialsSecretName === undefined) throw new Error(webIdentityRefused(owner, 's3'));
    this.s3 = s3;
    const copyConfig: DumpCopyConfig | undefined = s3 ? {
      version: DUMP_COPY_CONFIG_VERSION,
      dumpDir: BACKUP_DIR,
      database: config.database,
      retention: this.retention,
      bucket: s3.bucket,
      path: s3.path,
      endpoint: s3.endpoint,
      port: s3.port,
      region: s3.region,
      uriStyle: s3.uriStyle,
      verifyTls: s3.verifyTls,
    } : undefined;
    const ca = s3?.caCertificate;

    addObject(this, 'Volume', api.KubePersistentVolumeClaim.GVK, asJson<k8s.KubePersistentVolumeClaimProps>({
      metadata: { name: this.claimName, labels: { ...names.common } },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: props.storageClassName,
        resources: { requests: { storage: quantity(storage) } },
      },
    }));

    const dumpContainer: k8s.Container = {
      name: 'backup',
      // The cluster's own image: pg_dump of the server's major version.
      image: statefulSet.image,
      command: ['/bin/bash', `${PATHS.scriptsDir}/${SCRIPT_FILES.backup}`],
      env: [
        { name: 'PGHOST', value: names.writeService },
        { name: 'PGPORT', value: String(POSTGRES_PORT) },
        { name: 'PGUSER', value: config.appUser },
        { name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: config.appSecretName, key: 'password' } } },
        { name: 'PGDATABASE', value: config.database },
        { name: 'PGSSLMODE', value: config.tlsMode === 'off' ? 'prefer' : 'require' },
        { name: 'BACKUP_DIR', value: BACKUP_DIR },
        { name: 'BACKUP_RETENTION', value: String(this.retention) },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      ],
      resources: { requests: { cpu: quantity('100m'), memory: quantity('64Mi') } },
      securityContext: restrictedContainer(),
      volumeMounts: [
        { name: config.scriptsConfigMapName, mountPath: PATHS.scriptsDir },
        { name: 'backup', mountPath: BACKUP_DIR },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    };
    const copyContainer: k8s.Container | undefined = copyConfig ? {
      name: 'copy',
      image: statefulSet.agentImage,
      command: ['node', `${PATHS.scriptsDir}/${AGENT_FILES.bundle}`, DUMP_COPY_COMMAND],
      env: [
        { name: 'DUMP_COPY_CONFIG', value: JSON.stringify(copyConfig) },
        { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: s3!.credentialsSecretName!, key: s3!.accessKeyIdKey! } } },
        { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: s3!.credentialsSecretName!, key: s3!.secretAccessKeyKey! } } },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        // Node.js trusts the endpoint's CA beside the system's.
        ...(ca ? [{ name: 'NODE_EXTRA_CA_CERTS', value: `${BACKUP_CA_DIR}/${S3_CA_FILE}` }] : []),
      ],
      resources: { requests: { cpu: quantity('50m'), memory: quantity('64Mi') } },
      securityContext: restrictedContainer(),
      volumeMounts: [
        { name: config.scriptsConfigMapName, mountPath: PATHS.scriptsDir },
        { name: 'backup', mountPath: BACKUP_DIR, readOnly: true },
        ...(ca ? [{ name: 'backup-ca', mountPath: BACKUP_CA_DIR, readOnly: true }] : []),
      ],
    } : undefined;

    addObject(this, 'Resource', api.KubeCronJob.GVK, asJson<k8s.KubeCronJobProps>({
      metadata: { name: this.cronJobName, labels },
      spec: {
        schedule: this.schedule,
        // One dump at a time: a slow one is not overtaken by the next.
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: {
            backoffLimit: 2,
            template: {
              metadata: { labels },
              spec: {
                // It talks to PostgreSQL only: no API token.
                automountServiceAccountToken: false,
                enableServiceLinks: false,
                restartPolicy: 'Never',
                // The dumps' volume writable by the postgres user.
                securityContext: postgresUserPod(POSTGRES_UID, {}),
                // With a bucket, the dump is made first (an init container), then copied by the agent.
                initContainers: copyContainer ? [dumpContainer] : undefined,
                containers: [copyContainer ?? dumpContainer],
                volumes: [
                  { name: config.scriptsConfigMapName, configMap: { name: config.scriptsConfigMapName, defaultMode: 0o755 } },
                  { name: 'backup', persistentVolumeClaim: { claimName: this.claimName } },
                  { name: 'tmp', emptyDir: {} },
                  ...(ca ? [caVolume('backup-ca', ca, S3_CA_FILE)] : []),
                ],
              },
            },
          },
        },
      },
    }));
  }
}
