import type { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { PostgresStatefulSet } from './postgres-stateful-set';
import { addObject } from './private/api-object';
import { api, asJson, postgresUserPod, quantity, restrictedContainer } from './private/k8s';
import { PATHS, POSTGRES_PORT, POSTGRES_UID } from './private/names';
import { SCRIPT_FILES } from './private/scripts';
import { validateCronSchedule, validateInteger, validateObjectName, validateStorageSize, validateTypes } from './private/validation';

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
}

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

    addObject(this, 'Volume', api.KubePersistentVolumeClaim.GVK, asJson<k8s.KubePersistentVolumeClaimProps>({
      metadata: { name: this.claimName, labels: { ...names.common } },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: props.storageClassName,
        resources: { requests: { storage: quantity(storage) } },
      },
    }));

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
                containers: [{
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
                }],
                volumes: [
                  { name: config.scriptsConfigMapName, configMap: { name: config.scriptsConfigMapName, defaultMode: 0o755 } },
                  { name: 'backup', persistentVolumeClaim: { claimName: this.claimName } },
                  { name: 'tmp', emptyDir: {} },
                ],
              },
            },
          },
        },
      },
    }));
  }
}
