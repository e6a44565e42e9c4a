import type { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { PostgresStatefulSet } from './postgres-stateful-set';
import { addObject, addServiceAccountWithRole } from './private/api-object';
import { api, asJson, postgresUserPod, quantity, restrictedContainer, scriptJobVolumes } from './private/k8s';
import { PATHS, podNames, POSTGRES_CONTAINER, POSTGRES_UID } from './private/names';
import { SCRIPT_FILES } from './private/scripts';

/**
 * Properties of {@link WalArchive}.
 */
export interface WalArchiveProps {
  /**
   * The cluster whose WAL is archived; its configuration must have `walArchive` on.
   */
  readonly statefulSet: PostgresStatefulSet;

  /**
   * Seconds a backup run may take before Kubernetes stops it.
   * @default 86400 (a day)
   */
  readonly timeoutSeconds?: number;
}

/** The kinds of backup the CronJobs make, with the config's schedule of each. */
const BACKUP_TYPES = ['full', 'diff'] as const;

/**
 * What continuous archiving needs besides the pods' own settings (PostgresConfig writes archive_command and
 * pgbackrest.conf; the StatefulSet mounts the repository): the repository's `ReadWriteMany` PersistentVolumeClaim
 * `<name>-archive` (unless you manage one, or the repository is in an S3 bucket, an Azure Blob container or a Google
 * Cloud Storage bucket), and the CronJobs `<name>-archive-full` and `<name>-archive-diff`, which run `pgbackrest backup` in the postgres container of
 * the pod the leader record names as the primary (`kubectl exec`, with a ServiceAccount that may read the record and
 * exec into the cluster's pods only: the repository's keys, CA and passphrase are that container's own). A backup never runs during a failover, and a pod that stopped being the primary refuses it
 * (pgBackRest backs up a primary only).
 */
export class WalArchive extends Construct {
  /** The repository's claim; none with an S3, Azure or GCS repository. */
  public readonly claimName?: string;
  /** The CronJobs' names, by the kind of backup they make. */
  public readonly cronJobNames: { [type: string]: string };
  /** Labels that select the backup jobs' pods. */
  public readonly selectorLabels: { [key: string]: string };

  constructor(scope: Construct, id: string, props: WalArchiveProps) {
    super(scope, id);
    const owner = `WalArchive ${this.node.path}`;
    const statefulSet = props.statefulSet;
    const config = statefulSet.config;
    const archive = config.walArchive;
    if (archive === undefined) {
      throw new Error(`${owner}: the cluster's configuration has no walArchive: set walArchive (for example {}) on its PostgresConfig.`);
    }
    const names = config._names;
    const timeoutSeconds = props.timeoutSeconds ?? 86_400;
    this.claimName = archive.claimName;
    this.selectorLabels = { 'app.kubernetes.io/instance': names.cluster, 'app.kubernetes.io/component': 'archive-backup' };
    const labels = { ...names.common, ...this.selectorLabels };
    const pods = podNames(names, config.maxReplicas);
    const account = `${names.archive}-backup`;

    if (archive.createClaim) {
      addObject(this, 'Volume', api.KubePersistentVolumeClaim.GVK, asJson<k8s.KubePersistentVolumeClaimProps>({
        metadata: { name: archive.claimName, labels: { ...names.common } },
        spec: {
          // Every pod mounts it: whichever is primary archives into it.
          accessModes: ['ReadWriteMany'],
          storageClassName: archive.storageClassName,
          resources: { requests: { storage: quantity(archive.storage) } },
        },
      }));
    }

    addServiceAccountWithRole(this, account, labels, [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [names.leaderRecord], verbs: ['get'] },
      // kubectl exec reads the pod first. Websocket exec (kubectl 1.30+) is authorized as "get", SPDY exec as "create".
      { apiGroups: [''], resources: ['pods'], resourceNames: pods, verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/exec'], resourceNames: pods, verbs: ['create', 'get'] },
    ]);

    const jobVolumes = scriptJobVolumes(config.scriptsConfigMapName, PATHS.scriptsDir);
    this.cronJobNames = {};
    for (const type of BACKUP_TYPES) {
      const name = `${names.archive}-${type}`;
      this.cronJobNames[type] = name;
      addObject(this, `${type[0].toUpperCase()}${type.slice(1)}Backup`, api.KubeCronJob.GVK, asJson<k8s.KubeCronJobProps>({
        metadata: { name, labels },
        spec: {
          schedule: type === 'full' ? archive.fullBackupSchedule : archive.diffBackupSchedule,
          // pgBackRest runs one backup of a stanza at a time; a slow one is not overtaken by the next.
          concurrencyPolicy: 'Forbid',
          successfulJobsHistoryLimit: 3,
          failedJobsHistoryLimit: 3,
          jobTemplate: {
            metadata: { labels },
            spec: {
              // A failover in progress refuses the backup: a retry a few minutes later finds the new primary.
              backoffLimit: 3,
              activeDeadlineSeconds: timeoutSeconds,
              template: {
                metadata: { labels },
                spec: {
                  serviceAccountName: account,
                  enableServiceLinks: false,
                  restartPolicy: 'Never',
                  securityContext: postgresUserPod(POSTGRES_UID),
                  containers: [{
                    name: 'backup',
                    image: statefulSet.kubectlImage,
                    command: ['/bin/bash', `${PATHS.scriptsDir}/${SCRIPT_FILES.archiveBackup}`],
                    env: [
                      { name: 'BACKUP_TYPE', value: type },
                      { name: 'ARCHIVE_STANZA', value: archive.stanza },
                      { name: 'PGBACKREST_CONFIG', value: PATHS.pgbackrestConf },
                      { name: 'LEADER_RECORD', value: names.leaderRecord },
                      { name: 'POSTGRES_CONTAINER', value: POSTGRES_CONTAINER },
                      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                      { name: 'HOME', value: '/tmp' },
                    ],
                    resources: { requests: { cpu: quantity('10m'), memory: quantity('16Mi') } },
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
}
