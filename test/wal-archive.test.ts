import { Testing } from 'cdk8s';
import { PostgresClusterChart, PostgresClusterChartProps, PostgresConfig, PostgresStatefulSet, WalArchive } from '../src';
import { find, synthCluster } from './support/synth';

const IMAGE = 'registry.example.com/postgres-pgbackrest:15';
const ARCHIVING: PostgresClusterChartProps = { image: IMAGE, walArchive: {} };

const envOf = (container: any) => Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
const containerOf = (pod: any, name: string) => pod.containers.find((c: any) => c.name === name);

function clusterOf(props: PostgresClusterChartProps = ARCHIVING) {
  const objects = synthCluster(props);
  const name = props.clusterName ?? 'postgres';
  const statefulSet = find(objects, 'StatefulSet', `${name}-cluster`);
  const pod = statefulSet.spec.template.spec;
  const config = find(objects, 'ConfigMap', `${name}-config`).data;
  return { objects, pod, config, postgres: containerOf(pod, 'postgres'), sidecar: containerOf(pod, 'role-labeler') };
}

function fails(props: PostgresClusterChartProps): () => void {
  return () => new PostgresClusterChart(Testing.app(), 'test', props);
}

describe('WalArchive', () => {
  test('without walArchive nothing archives: no archive settings, no pgBackRest configuration, claim or CronJob', () => {
    const { objects, config, postgres, pod } = clusterOf({});
    expect(config['postgresql.conf']).not.toMatch(/archive_/);
    expect(config['pgbackrest.conf']).toBeUndefined();
    expect(objects.filter(o => /archive/.test(o.metadata.name))).toEqual([]);
    expect(envOf(postgres).PGBACKREST_CONFIG).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('archive');
    expect(find(objects, 'ConfigMap', 'postgres-cluster-init').data['archive-backup.sh']).toBeUndefined();
  });

  test('the primary archives every WAL segment with pgBackRest into the stanza named after the cluster, at least every 5 minutes', () => {
    const { config } = clusterOf();
    expect(config['postgresql.conf']).toContain([
      'archive_mode = on',
      "archive_command = 'pgbackrest --config=/etc/postgresql/pgbackrest.conf --stanza=postgres archive-push %p'",
      'archive_timeout = 5min',
    ].join('\n'));
    expect(clusterOf({ ...ARCHIVING, clusterName: 'orders', walArchive: { archiveTimeout: '60s' } }).config['postgresql.conf'])
      .toMatch(/--stanza=orders archive-push %p'\narchive_timeout = 60s/);
  });

  test('pgbackrest.conf: the repository on its volume, retention, shared locks, logs to the console, the data directory over the socket', () => {
    expect(clusterOf().config['pgbackrest.conf']).toBe([
      '# pgBackRest configuration of cluster "postgres", written by cdk8s-postgres-cluster.',
      '[global]',
      'repo1-path=/var/lib/pgbackrest',
      'repo1-retention-full=2',
      '# Every container of a pod shares this directory: archive-push, a backup and stanza-create see one another\'s locks.',
      'lock-path=/var/run/postgresql/pgbackrest',
      '# Logs go to the container\'s output (the root filesystem is read-only).',
      'log-level-console=info',
      'log-level-file=off',
      '# A backup starts with an immediate checkpoint, not the next scheduled one.',
      'start-fast=y',
      'compress-type=lz4',
      '',
      '[postgres]',
      'pg1-path=/var/lib/postgresql/data/pgdata',
      'pg1-socket-path=/var/run/postgresql',
      'pg1-port=5432',
      'pg1-user=postgres',
      '',
    ].join('\n'));
    expect(clusterOf({ ...ARCHIVING, walArchive: { retentionFull: 5 } }).config['pgbackrest.conf']).toContain('\nrepo1-retention-full=5\n');
  });

  test('every pod mounts the repository\'s ReadWriteMany claim in the postgres container, whose entrypoint creates the stanza', () => {
    const { objects, pod, postgres, sidecar } = clusterOf();
    expect(find(objects, 'PersistentVolumeClaim', 'postgres-archive').spec)
      .toEqual({ accessModes: ['ReadWriteMany'], resources: { requests: { storage: '50Gi' } } });
    expect(pod.volumes).toContainEqual({ name: 'archive', persistentVolumeClaim: { claimName: 'postgres-archive' } });
    expect(postgres.volumeMounts).toContainEqual({ name: 'archive', mountPath: '/var/lib/pgbackrest' });
    expect(envOf(postgres).PGBACKREST_CONFIG).toBe('/etc/postgresql/pgbackrest.conf');
    expect(envOf(postgres).ARCHIVE_STANZA).toBe('postgres');
    expect(postgres.image).toBe(IMAGE);
    // The agent runs no pgBackRest: neither the repository nor its configuration.
    expect(sidecar.volumeMounts.map((m: any) => m.name)).not.toContain('archive');
    expect(sidecar.volumeMounts.map((m: any) => m.name)).not.toContain('postgres-config');
    expect(find(objects, 'ConfigMap', 'postgres-cluster-init').data['init-replica.sh'])
      .toContain('pgbackrest --config="$PGBACKREST_CONFIG" --stanza="$ARCHIVE_STANZA" --log-level-console=warn --no-online stanza-create');
  });

  test('a claim of the given size and StorageClass, or yours and none in the YAML', () => {
    const sized = clusterOf({ ...ARCHIVING, walArchive: { storage: '200Gi', storageClassName: 'nfs' } });
    expect(find(sized.objects, 'PersistentVolumeClaim', 'postgres-archive').spec)
      .toEqual({ accessModes: ['ReadWriteMany'], storageClassName: 'nfs', resources: { requests: { storage: '200Gi' } } });
    const yours = clusterOf({ ...ARCHIVING, walArchive: { existingClaimName: 'shared-repo' } });
    expect(yours.objects.filter(o => o.kind === 'PersistentVolumeClaim').map(o => o.metadata.name)).toEqual(['postgres-backup']);
    expect(yours.pod.volumes).toContainEqual({ name: 'archive', persistentVolumeClaim: { claimName: 'shared-repo' } });
  });

  test('full backups on Sundays and differential ones on other days, one at a time, run by kubectl exec in the primary', () => {
    const { objects } = clusterOf();
    const scripts = find(objects, 'ConfigMap', 'postgres-cluster-init').data;
    expect(scripts['archive-backup.sh']).toContain('pgbackrest --config="$PGBACKREST_CONFIG" --stanza="$ARCHIVE_STANZA"');
    for (const [type, schedule] of [['full', '0 1 * * 0'], ['diff', '0 1 * * 1-6']]) {
      const cronJob = find(objects, 'CronJob', `postgres-archive-${type}`);
      expect(cronJob.spec).toMatchObject({ schedule, concurrencyPolicy: 'Forbid' });
      expect(cronJob.spec.suspend).toBeUndefined();
      const pod = cronJob.spec.jobTemplate.spec.template.spec;
      expect(pod.serviceAccountName).toBe('postgres-archive-backup');
      expect(pod.containers[0].image).toBe('docker.io/alpine/k8s:1.33.9');
      expect(pod.containers[0].command).toEqual(['/bin/bash', '/opt/postgres-cluster/archive-backup.sh']);
      expect(envOf(pod.containers[0])).toMatchObject({
        BACKUP_TYPE: type,
        ARCHIVE_STANZA: 'postgres',
        PGBACKREST_CONFIG: '/etc/postgresql/pgbackrest.conf',
        LEADER_RECORD: 'postgres-leader',
        POSTGRES_CONTAINER: 'postgres',
      });
      expect(pod.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
    }
    const custom = clusterOf({ ...ARCHIVING, walArchive: { fullBackupSchedule: '@weekly', diffBackupSchedule: '30 2 * * *' } }).objects;
    expect(find(custom, 'CronJob', 'postgres-archive-full').spec.schedule).toBe('@weekly');
    expect(find(custom, 'CronJob', 'postgres-archive-diff').spec.schedule).toBe('30 2 * * *');
  });

  test('the backup jobs may read the leader record and exec into the cluster\'s pods, nothing else, and reach only the API server', () => {
    const { objects } = clusterOf({ ...ARCHIVING, maxReplicas: 3 });
    expect(find(objects, 'Role', 'postgres-archive-backup').rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['postgres-leader'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods'], resourceNames: ['postgres-cluster-0', 'postgres-cluster-1', 'postgres-cluster-2'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/exec'], resourceNames: ['postgres-cluster-0', 'postgres-cluster-1', 'postgres-cluster-2'], verbs: ['create', 'get'] },
    ]);
    expect(find(objects, 'RoleBinding', 'postgres-archive-backup').subjects).toEqual([{ kind: 'ServiceAccount', name: 'postgres-archive-backup' }]);
    const policy = find(objects, 'NetworkPolicy', 'postgres-archive-backup');
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'postgres', 'app.kubernetes.io/component': 'archive-backup' } },
      policyTypes: ['Ingress', 'Egress'],
      egress: [{ ports: [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 6443 }] }],
    });
  });

  test('a backup job\'s pod: the kubectl image as the postgres user, read-only root, its name and HOME, no service links, a day to finish', () => {
    const { objects } = clusterOf();
    const cronJob = find(objects, 'CronJob', 'postgres-archive-diff');
    const labels = {
      'app.kubernetes.io/name': 'postgresql',
      'app.kubernetes.io/instance': 'postgres',
      'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster',
      'app.kubernetes.io/component': 'archive-backup',
    };
    expect([cronJob.metadata.labels, cronJob.spec.jobTemplate.metadata.labels, cronJob.spec.jobTemplate.spec.template.metadata.labels])
      .toEqual([labels, labels, labels]);
    expect(find(objects, 'PersistentVolumeClaim', 'postgres-archive').metadata.labels).toEqual({
      'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'postgres', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster',
    });
    expect(cronJob.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 3, activeDeadlineSeconds: 86_400 });
    const pod = cronJob.spec.jobTemplate.spec.template.spec;
    expect(pod).toMatchObject({ serviceAccountName: 'postgres-archive-backup', enableServiceLinks: false, restartPolicy: 'Never' });
    expect(pod.securityContext).toMatchObject({ runAsUser: 999, runAsNonRoot: true });
    expect(pod.containers).toHaveLength(1);
    const container = pod.containers[0];
    expect(container.name).toBe('backup');
    expect(envOf(container)).toMatchObject({ POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } }, HOME: '/tmp' });
    expect(container.resources).toEqual({ requests: { cpu: '10m', memory: '16Mi' } });
    expect(container.volumeMounts).toEqual([
      { name: 'postgres-cluster-init', mountPath: '/opt/postgres-cluster' },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(pod.volumes).toEqual([
      { name: 'postgres-cluster-init', configMap: { name: 'postgres-cluster-init', defaultMode: 0o755 } },
      { name: 'tmp', emptyDir: {} },
    ]);
    const chart = new PostgresClusterChart(Testing.app(), 'test', ARCHIVING);
    expect(chart.walArchive!.cronJobNames).toEqual({ full: 'postgres-archive-full', diff: 'postgres-archive-diff' });
    expect(['FullBackup', 'DiffBackup'].map(id => chart.walArchive!.node.tryFindChild(id) !== undefined)).toEqual([true, true]);
  });

  test('a WalArchive of your own composition may take longer (timeoutSeconds)', () => {
    const chart = Testing.chart();
    const config = new PostgresConfig(chart, 'Config', { walArchive: {} });
    const statefulSet = new PostgresStatefulSet(chart, 'StatefulSet', { config, image: IMAGE });
    new WalArchive(chart, 'Archive', { statefulSet, timeoutSeconds: 7200 });
    const cronJob = Testing.synth(chart).find((o: any) => o.kind === 'CronJob' && o.metadata.name === 'postgres-archive-full');
    expect(cronJob.spec.jobTemplate.spec.activeDeadlineSeconds).toBe(7200);
  });

  test('WalArchive on a configuration without walArchive is refused, naming the fix', () => {
    const chart = Testing.chart();
    const config = new PostgresConfig(chart, 'Config');
    const statefulSet = new PostgresStatefulSet(chart, 'StatefulSet', { config });
    expect(() => new WalArchive(chart, 'Archive', { statefulSet })).toThrow(/^WalArchive [^:]*Archive: the cluster's configuration has no walArchive: set walArchive \(for example \{\}\) on its PostgresConfig/);
  });

  test('the official image has no pgBackRest: archiving or restoring without an image of yours is refused, naming the fix', () => {
    expect(fails({ walArchive: {} })).toThrow(/walArchive needs pgBackRest in the postgres image, and the official postgres:15 has none: .*docs\/images\/postgres-pgbackrest\/Dockerfile/);
    expect(fails({ restoreFrom: { clusterName: 'old', claimName: 'old-archive' } })).toThrow(/restoreFrom needs pgBackRest in the postgres image/);
  });

  test.each([
    [{ walArchive: 'yes' as any }, /walArchive "yes" is not a set of options/],
    [{ walArchive: null as any }, /walArchive null is not a set of options/],
    [{ walArchive: [] as any }, /walArchive \[\] is not a set of options/],
    [{ walArchive: { existingClaimName: 'Repo!' } }, /walArchive.existingClaimName "Repo!" is not a Kubernetes object name/],
    [{ walArchive: { storage: 'big' } }, /walArchive.storage "big" is not a storage size/],
    [{ walArchive: { storage: 5 as any } }, /walArchive.storage must be a string; got number 5/],
    [{ walArchive: { storageClassName: 'NFS!' } }, /walArchive.storageClassName "NFS!" is not a Kubernetes object name/],
    [{ walArchive: { existingClaimName: 'repo', storage: '1Ti' } }, /walArchive.existingClaimName "repo" is given with walArchive.storage, which only the claim the YAML creates would use/],
    [{ walArchive: { existingClaimName: 'repo', storageClassName: 'nfs' } }, /with walArchive.storageClassName/],
    [{ walArchive: { fullBackupSchedule: 'weekly' } }, /walArchive.fullBackupSchedule "weekly" is not a cron schedule/],
    [{ walArchive: { diffBackupSchedule: '* *' } }, /walArchive.diffBackupSchedule "\* \*" is not a cron schedule/],
    [{ walArchive: { retentionFull: 0 } }, /walArchive.retentionFull must be an integer between 1 and 9999999 \(the number of full backups kept\); got 0/],
    [{ walArchive: { archiveTimeout: '5 minutes' } }, /walArchive.archiveTimeout "5 minutes" is not a PostgreSQL duration/],
    [{ walArchive: {}, extraSettings: { archive_command: '/bin/true' } }, /extraSettings may not set "archive_command" while walArchive is on: pgBackRest archives \(drop it/],
    [{ walArchive: {}, extraSettings: { archive_timeout: '1min' } }, /"archive_timeout" while walArchive is on: .*set walArchive.archiveTimeout instead/],
  ])('bad archiving options are refused with the value and the fix: %j', (props, message) => {
    expect(fails({ image: IMAGE, ...props })).toThrow(message);
  });

  test('without walArchive, extraSettings may archive their own way', () => {
    expect(clusterOf({ extraSettings: { archive_mode: 'on', archive_command: '/bin/true' } }).config['postgresql.conf'])
      .toContain("archive_command = '/bin/true'");
  });
});

describe('restoreFrom', () => {
  test('pod 0 is told to restore the source stanza, up to the target time, from the source repository mounted read-only', () => {
    const { pod, postgres, sidecar, config } = clusterOf({
      image: IMAGE, restoreFrom: { clusterName: 'old', claimName: 'old-archive', targetTime: '2026-12-02 08:00:00+00' },
    });
    expect(envOf(postgres)).toMatchObject({
      RESTORE_STANZA: 'old',
      RESTORE_REPOSITORY: '/var/lib/pgbackrest-source',
      RESTORE_TARGET_TIME: '2026-12-02 08:00:00+00',
      PGBACKREST_CONFIG: '/etc/postgresql/pgbackrest.conf',
    });
    expect(pod.volumes).toContainEqual({ name: 'restore-source', persistentVolumeClaim: { claimName: 'old-archive', readOnly: true } });
    expect(postgres.volumeMounts).toContainEqual({ name: 'restore-source', mountPath: '/var/lib/pgbackrest-source', readOnly: true });
    // Restoring is not archiving: no archive settings, no stanza for the entrypoint to create.
    expect(config['postgresql.conf']).not.toMatch(/archive_mode/);
    expect(config['pgbackrest.conf']).not.toContain('repo1-retention-full');
    expect(envOf(postgres).ARCHIVE_STANZA).toBeUndefined();
    expect(sidecar.volumeMounts.map((m: any) => m.name)).not.toContain('restore-source');
  });

  test('restoring from the cluster\'s own archive uses its mount; without a target time, no target', () => {
    const { pod, postgres } = clusterOf({ image: IMAGE, walArchive: {}, restoreFrom: { clusterName: 'postgres' } });
    expect(envOf(postgres)).toMatchObject({ RESTORE_STANZA: 'postgres', RESTORE_REPOSITORY: '/var/lib/pgbackrest' });
    expect(envOf(postgres).RESTORE_TARGET_TIME).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('restore-source');
  });

  test.each(['2026-12-02T08:00:00Z', '2026-12-02 08:00:00.123456+01', '2026-12-02 08:00:00-05:30', '2026-12-02T08:00:00+0200'])(
    'a time with its zone is a target time: %s', targetTime => {
      const { postgres } = clusterOf({ image: IMAGE, restoreFrom: { clusterName: 'old', claimName: 'repo', targetTime } });
      expect(envOf(postgres).RESTORE_TARGET_TIME).toBe(targetTime);
    });

  test.each([
    [{ restoreFrom: 'old' as any }, /restoreFrom "old" is not a restore: give \{ clusterName/],
    [{ restoreFrom: null as any }, /restoreFrom null is not a restore/],
    [{ restoreFrom: ['old'] as any }, /restoreFrom \["old"\] is not a restore/],
    [{ restoreFrom: { clusterName: 'old', claimName: 'repo', targetTime: '2026-12-02 08:00:00+99' } }, /restoreFrom.targetTime "2026-12-02 08:00:00\+99" is not a time/],
    [{ restoreFrom: { claimName: 'repo' } as any }, /restoreFrom.clusterName is missing: name the cluster whose backups to restore/],
    [{ restoreFrom: { clusterName: 'Old_DB', claimName: 'repo' } }, /restoreFrom.clusterName "Old_DB" is not a valid cluster name/],
    [{ restoreFrom: { clusterName: 'old' } }, /restoreFrom.claimName is missing and walArchive is off: name the PersistentVolumeClaim that holds the repository of cluster "old"/],
    [{ restoreFrom: { clusterName: 'old', claimName: 'Repo!' } }, /restoreFrom.claimName "Repo!" is not a Kubernetes object name/],
    [{ restoreFrom: { clusterName: 'old', claimName: 'repo', targetTime: '2026-12-02 08:00:00' } }, /restoreFrom.targetTime "2026-12-02 08:00:00" is not a time with its zone/],
    [{ restoreFrom: { clusterName: 'old', claimName: 'repo', targetTime: 'yesterday' } }, /restoreFrom.targetTime "yesterday" is not a time with its zone/],
    [{ restoreFrom: { clusterName: 'old', claimName: 'repo', targetTime: '2026-13-45 08:00:00Z' } }, /restoreFrom.targetTime "2026-13-45 08:00:00Z" is not a time/],
    [{ restoreFrom: { clusterName: 'old', claimName: 'repo', targetTime: 1 as any } }, /restoreFrom.targetTime must be a string; got number 1/],
  ])('a bad restore is refused with the value and the fix: %j', (props, message) => {
    expect(fails({ image: IMAGE, ...props })).toThrow(message);
  });
});
