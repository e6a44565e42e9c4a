import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Testing } from 'cdk8s';
import {
  AzureCredentials, AzureUriStyle, GcsCredentials, PostgresClusterChart, PostgresClusterChartProps, PostgresConfig, PostgresStatefulSet,
  RepositoryCaCertificate, S3Credentials, S3UriStyle, WalArchive,
} from '../src';
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
  /** What pgBackRest (Debian's, installed by test/setup/system-packages.sh) makes of an option for a command, from a configuration. */
  function currentOption(conf: string, command: string, option: string): string | undefined {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbackrest-conf-'));
    try {
      fs.writeFileSync(path.join(dir, 'pgbackrest.conf'), conf);
      const help = execFileSync('pgbackrest', [`--config=${path.join(dir, 'pgbackrest.conf')}`, '--stanza=postgres', 'help', command, option], { encoding: 'utf8' });
      return /^current: (.*)$/m.exec(help)?.[1];
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  test('asyncArchive: archive-push alone runs asynchronously, two at a time, its queue on the run volume (as pgBackRest reads it)', () => {
    const conf = clusterOf({ image: IMAGE, walArchive: { asyncArchive: true } }).config['pgbackrest.conf'];
    expect(conf).toContain('spool-path=/var/run/postgresql/pgbackrest-spool\n');
    expect(currentOption(conf, 'archive-push', 'archive-async')).toBe('true');
    expect(currentOption(conf, 'archive-push', 'process-max')).toBe('2');
    // Not archive-get (a restore's replay would prefetch WAL into the run volume), nor a backup's processes.
    expect(currentOption(conf, 'archive-get', 'archive-async')).toBeUndefined();
    expect(currentOption(conf, 'backup', 'process-max')).toBeUndefined();
    const sync = clusterOf().config['pgbackrest.conf'];
    expect(sync).not.toMatch(/async|spool/);
    expect(currentOption(sync, 'archive-push', 'archive-async')).toBeUndefined();
    expect(fails({ image: IMAGE, walArchive: { asyncArchive: 'yes' as any } })).toThrow(/walArchive.asyncArchive must be a boolean; got "yes"/);
  });

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
      RESTORE_CONFIG: '/etc/postgresql/pgbackrest-restore.conf',
      RESTORE_TARGET_TIME: '2026-12-02 08:00:00+00',
      PGBACKREST_CONFIG: '/etc/postgresql/pgbackrest.conf',
    });
    expect(pod.volumes).toContainEqual({ name: 'restore-source', persistentVolumeClaim: { claimName: 'old-archive', readOnly: true } });
    expect(postgres.volumeMounts).toContainEqual({ name: 'restore-source', mountPath: '/var/lib/pgbackrest-source', readOnly: true });
    // The source repository's own configuration: its mount as repo1, the source's stanza on this pod's data directory.
    const restoreConf = config['pgbackrest-restore.conf'];
    expect(restoreConf).toContain('[global]\nrepo1-path=/var/lib/pgbackrest-source\nlock-path=/var/run/postgresql/pgbackrest\n');
    expect(restoreConf).toContain('[old]\npg1-path=/var/lib/postgresql/data/pgdata\n');
    expect(restoreConf).not.toMatch(/repo1-type|cipher|retention/);
    // Restoring is not archiving: no archive settings, no stanza for the entrypoint to create.
    expect(config['postgresql.conf']).not.toMatch(/archive_mode/);
    expect(config['pgbackrest.conf']).not.toContain('repo1-retention-full');
    expect(envOf(postgres).ARCHIVE_STANZA).toBeUndefined();
    expect(sidecar.volumeMounts.map((m: any) => m.name)).not.toContain('restore-source');
  });

  test('restoring from the cluster\'s own archive uses its mount; without a target time, no target', () => {
    const { pod, postgres, config } = clusterOf({ image: IMAGE, walArchive: {}, restoreFrom: { clusterName: 'postgres' } });
    expect(envOf(postgres)).toMatchObject({ RESTORE_STANZA: 'postgres', PGBACKREST_CONFIG: '/etc/postgresql/pgbackrest.conf' });
    expect(envOf(postgres).RESTORE_TARGET_TIME).toBeUndefined();
    expect(envOf(postgres).RESTORE_CONFIG).toBeUndefined();
    expect(config['pgbackrest-restore.conf']).toBeUndefined();
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
    [{ restoreFrom: { clusterName: 'old', claimName: 'repo', s3: { bucket: 'old-backups', credentials: S3Credentials.fromSecret('keys') } } },
      /restoreFrom.claimName "repo" is given with restoreFrom.s3: a restore reads one repository. Drop restoreFrom.claimName to restore from the bucket/],
    [{ restoreFrom: { clusterName: 'old', s3: { bucket: 'Old' } as any } }, /restoreFrom.s3.bucket "Old" is not a bucket name S3 accepts/],
    [{ restoreFrom: { clusterName: 'old', s3: { bucket: 'old-backups' } as any } }, /restoreFrom.s3.credentials is missing: give S3Credentials.fromSecret/],
    [{ restoreFrom: { clusterName: 'old', s3: { bucket: 'old-backups', endpoint: '10.0.0.9', credentials: S3Credentials.fromSecret('keys') } } },
      /restoreFrom.s3.endpoint "10.0.0.9" is an IP address, .* set restoreFrom.s3.uriStyle to S3UriStyle.PATH/],
    [{ restoreFrom: { clusterName: 'old', s3: 'bucket' as any } }, /restoreFrom.s3 "bucket" is not an S3 repository/],
    [{ restoreFrom: { clusterName: 'old', claimName: 'repo', encryptionPassphraseSecretKey: 'pass' } },
      /restoreFrom.encryptionPassphraseSecretKey "pass" is given without restoreFrom.encryptionPassphraseSecretName/],
    [{ restoreFrom: { clusterName: 'old', claimName: 'repo', encryptionPassphraseSecretName: 'Pass!' } },
      /restoreFrom.encryptionPassphraseSecretName "Pass!" is not a Kubernetes object name/],
    [{ restoreFrom: { clusterName: 'old', claimName: 'repo', encryptionPassphraseSecretName: 'pass', encryptionPassphraseSecretKey: 'a b' } },
      /restoreFrom.encryptionPassphraseSecretKey "a b" is not a key of a Secret or ConfigMap/],
    [{ walArchive: {}, restoreFrom: { clusterName: 'postgres', encryptionPassphraseSecretName: 'pass' } },
      /restoreFrom.encryptionPassphraseSecretName "pass" is given for this cluster's own repository, which is read with its own passphrase/],
    [{ restoreFrom: { clusterName: 'old', claimName: 'repo', encryptionPassphraseSecretName: 1 as any } },
      /restoreFrom.encryptionPassphraseSecretName must be a string; got number 1/],
  ])('a bad restore is refused with the value and the fix: %j', (props, message) => {
    expect(fails({ image: IMAGE, ...props })).toThrow(message);
  });
});

describe('WalArchive in an S3 bucket (walArchive.s3)', () => {
  const S3 = { bucket: 'orders-backups', credentials: S3Credentials.fromSecret('s3-keys') };
  const inS3 = (s3: object = {}, more: object = {}): PostgresClusterChartProps =>
    ({ image: IMAGE, walArchive: { s3: { ...S3, ...s3 }, ...more } });

  test('pgbackrest.conf names the bucket on AWS by default: host style, the region\'s endpoint, the cluster\'s directory; no key in it', () => {
    const conf = clusterOf(inS3()).config['pgbackrest.conf'];
    expect(conf).toContain([
      '[global]',
      '# The repository in an S3 bucket. Credentials come from the environment (PGBACKREST_REPO1_S3_KEY...), never from here.',
      'repo1-type=s3',
      'repo1-path=/postgres',
      'repo1-s3-bucket=orders-backups',
      'repo1-s3-endpoint=s3.us-east-1.amazonaws.com',
      'repo1-s3-region=us-east-1',
      'repo1-s3-uri-style=host',
      'repo1-retention-full=2',
      '# Every container',
    ].join('\n'));
    expect(conf).not.toMatch(/repo1-storage|key-type|cipher|\/var\/lib\/pgbackrest/);
  });

  test('an S3-compatible server: its endpoint and port, path style, its CA mounted from a Secret or a ConfigMap, or no verification', () => {
    const minio = clusterOf(inS3({
      endpoint: 'minio.storage.svc:9000',
      region: 'eu-west-1',
      uriStyle: S3UriStyle.PATH,
      path: '/clusters/orders',
      caCertificate: RepositoryCaCertificate.fromSecret('minio-ca'),
    }));
    expect(minio.config['pgbackrest.conf']).toContain([
      'repo1-path=/clusters/orders',
      'repo1-s3-bucket=orders-backups',
      'repo1-s3-endpoint=minio.storage.svc',
      'repo1-s3-region=eu-west-1',
      'repo1-s3-uri-style=path',
      'repo1-storage-port=9000',
      'repo1-storage-ca-file=/etc/postgres-cluster/archive-ca/ca.crt',
    ].join('\n'));
    expect(minio.pod.volumes).toContainEqual({ name: 'archive-ca', secret: { secretName: 'minio-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }], defaultMode: 0o444 } });
    expect(minio.postgres.volumeMounts).toContainEqual({ name: 'archive-ca', mountPath: '/etc/postgres-cluster/archive-ca', readOnly: true });
    expect(minio.sidecar.volumeMounts.map((m: any) => m.name)).not.toContain('archive-ca');

    const ceph = clusterOf(inS3({
      endpoint: '10.0.0.5',
      uriStyle: S3UriStyle.PATH,
      caCertificate: RepositoryCaCertificate.fromConfigMap('ceph-ca', 'root.pem'),
    }));
    expect(ceph.pod.volumes).toContainEqual({ name: 'archive-ca', configMap: { name: 'ceph-ca', items: [{ key: 'root.pem', path: 'ca.crt' }], defaultMode: 0o444 } });
    expect(ceph.config['pgbackrest.conf']).not.toContain('repo1-storage-port');

    const unverified = clusterOf(inS3({ endpoint: 'minio.test', verifyTls: false })).config['pgbackrest.conf'];
    expect(unverified).toContain('\nrepo1-storage-verify-tls=n\n');
    expect(unverified).not.toContain('repo1-storage-ca-file');
  });

  test('the access key reaches only the postgres container, from your Secret as environment variables; the default keys, or yours', () => {
    const { postgres, sidecar, objects } = clusterOf(inS3());
    expect(envOf(postgres)).toMatchObject({
      PGBACKREST_REPO1_S3_KEY: { secretKeyRef: { name: 's3-keys', key: 'access-key-id' } },
      PGBACKREST_REPO1_S3_KEY_SECRET: { secretKeyRef: { name: 's3-keys', key: 'secret-access-key' } },
    });
    expect(envOf(sidecar).PGBACKREST_REPO1_S3_KEY).toBeUndefined();
    // Nothing of the YAML but the env reference names the Secret: no copy of a key anywhere.
    expect(objects.filter(o => JSON.stringify(o).includes('s3-keys')).map(o => o.kind)).toEqual(['StatefulSet']);
    const custom = clusterOf(inS3({ credentials: S3Credentials.fromSecret('aws', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY') }));
    expect(envOf(custom.postgres)).toMatchObject({
      PGBACKREST_REPO1_S3_KEY: { secretKeyRef: { name: 'aws', key: 'AWS_ACCESS_KEY_ID' } },
      PGBACKREST_REPO1_S3_KEY_SECRET: { secretKeyRef: { name: 'aws', key: 'AWS_SECRET_ACCESS_KEY' } },
    });
  });

  test('a web identity (IRSA) puts no key anywhere: pgBackRest asks STS with the pod\'s token', () => {
    const { postgres, config } = clusterOf(inS3({ credentials: S3Credentials.webIdentity() }));
    expect(config['pgbackrest.conf']).toContain('\nrepo1-s3-key-type=web-id\n');
    expect(Object.keys(envOf(postgres)).filter(name => name.startsWith('PGBACKREST_REPO1'))).toEqual([]);
  });

  test('no archive claim is created or mounted; the CronJobs still back up; the pods may reach the bucket\'s port', () => {
    const chart = new PostgresClusterChart(Testing.app(), 'test', inS3({ endpoint: 'minio.storage.svc:9000' }));
    expect(chart.walArchive!.claimName).toBeUndefined();
    expect(chart.config.walArchive).toMatchObject({ claimName: undefined, createClaim: false, s3: { endpoint: 'minio.storage.svc', port: 9000 } });
    const { objects, pod, postgres } = clusterOf(inS3({ endpoint: 'minio.storage.svc:9000' }));
    expect(objects.filter(o => o.kind === 'PersistentVolumeClaim').map(o => o.metadata.name)).toEqual(['postgres-backup']);
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('archive');
    expect(postgres.volumeMounts.map((m: any) => m.mountPath)).not.toContain('/var/lib/pgbackrest');
    expect(objects.filter(o => o.kind === 'CronJob' && /archive/.test(o.metadata.name)).map(o => o.metadata.name))
      .toEqual(['postgres-archive-full', 'postgres-archive-diff']);
    expect(find(objects, 'NetworkPolicy', 'postgres-cluster').spec.egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 9000 }] });
    expect(find(clusterOf().objects, 'NetworkPolicy', 'postgres-cluster').spec.egress).toHaveLength(3);
  });

  test('encryption at rest: aes-256-cbc, the passphrase from your Secret\'s key as an environment variable; on a volume too', () => {
    const { config, postgres } = clusterOf(inS3({}, { encryptionPassphraseSecretName: 'backup-passphrase' }));
    expect(config['pgbackrest.conf']).toContain('# The passphrase comes from the environment (PGBACKREST_REPO1_CIPHER_PASS).\nrepo1-cipher-type=aes-256-cbc\n');
    expect(config['pgbackrest.conf']).not.toContain('cipher-pass');
    expect(envOf(postgres).PGBACKREST_REPO1_CIPHER_PASS).toEqual({ secretKeyRef: { name: 'backup-passphrase', key: 'passphrase' } });
    const onVolume = clusterOf({ image: IMAGE, walArchive: { encryptionPassphraseSecretName: 'pass', encryptionPassphraseSecretKey: 'key' } });
    expect(onVolume.config['pgbackrest.conf']).toContain('repo1-path=/var/lib/pgbackrest\n# The passphrase');
    expect(envOf(onVolume.postgres).PGBACKREST_REPO1_CIPHER_PASS).toEqual({ secretKeyRef: { name: 'pass', key: 'key' } });
    expect(envOf(clusterOf().postgres).PGBACKREST_REPO1_CIPHER_PASS).toBeUndefined();
  });

  test.each([
    [{ s3: 'bucket' }, /walArchive.s3 "bucket" is not an S3 repository: give \{ bucket: "my-backups", credentials: S3Credentials.fromSecret/],
    [{ s3: { ...S3, bucket: '' } }, /walArchive.s3.bucket is empty: name the bucket that holds the repository/],
    [{ s3: { credentials: S3.credentials } }, /walArchive.s3.bucket is missing/],
    [{ s3: { ...S3, bucket: 'Orders_Backups' } }, /walArchive.s3.bucket "Orders_Backups" is not a bucket name S3 accepts: use 3 to 63 lower-case letters/],
    [{ s3: { ...S3, bucket: 'ab' } }, /walArchive.s3.bucket "ab" is not a bucket name S3 accepts/],
    [{ s3: { ...S3, bucket: 'a'.repeat(64) } }, /is not a bucket name S3 accepts/],
    [{ s3: { ...S3, bucket: 'orders..backups' } }, /walArchive.s3.bucket "orders..backups" is not a bucket name/],
    [{ s3: { ...S3, bucket: '192.168.1.10' } }, /walArchive.s3.bucket "192.168.1.10" is not a bucket name/],
    [{ s3: { ...S3, endpoint: 'https://minio.storage.svc:9000' } },
      /walArchive.s3.endpoint "https:\/\/minio.storage.svc:9000" has a scheme: give the host alone, with a port if not 443 \("minio.storage.svc:9000"\): pgBackRest always speaks HTTPS/],
    [{ s3: { ...S3, endpoint: 'minio.storage.svc/s3' } }, /walArchive.s3.endpoint "minio.storage.svc\/s3" is not a host with an optional port/],
    [{ s3: { ...S3, endpoint: 'minio:99999' } }, /walArchive.s3.endpoint "minio:99999" is not a host with an optional port/],
    [{ s3: { ...S3, endpoint: '10.0.0.5:9000' } }, /walArchive.s3.endpoint "10.0.0.5:9000" is an IP address, which cannot carry the bucket in its host name: set walArchive.s3.uriStyle to S3UriStyle.PATH/],
    [{ s3: { ...S3, uriStyle: 'virtual' } }, /walArchive.s3.uriStyle "virtual" is not a URI style: use S3UriStyle.HOST or S3UriStyle.PATH/],
    [{ s3: { ...S3, region: 'EU West' } }, /walArchive.s3.region "EU West" is not a region/],
    [{ s3: { ...S3, path: 'backups' } }, /walArchive.s3.path "backups" is not a directory in the bucket: give an absolute path .* e.g. "\/postgres"/],
    [{ s3: { ...S3, path: '/backups/' } }, /walArchive.s3.path "\/backups\/" is not a directory in the bucket/],
    [{ s3: { ...S3, verifyTls: 'no' } }, /walArchive.s3.verifyTls must be a boolean; got "no"/],
    [{ s3: { ...S3, verifyTls: false, caCertificate: RepositoryCaCertificate.fromSecret('ca') } },
      /walArchive.s3.caCertificate is given with walArchive.s3.verifyTls false: a certificate that is not verified needs no CA/],
    [{ s3: { ...S3, caCertificate: { secretName: 'ca', key: 'ca.crt' } } }, /walArchive.s3.caCertificate .* is not a RepositoryCaCertificate: give RepositoryCaCertificate.fromSecret/],
    [{ s3: { ...S3, caCertificate: RepositoryCaCertificate.fromConfigMap('ca', 'ca crt') } }, /walArchive.s3.caCertificate key "ca crt" is not a key of a Secret or ConfigMap/],
    [{ s3: { bucket: 'orders-backups' } }, /walArchive.s3.credentials is missing: give S3Credentials.fromSecret\("my-s3-keys"\) .* or S3Credentials.webIdentity\(\)/],
    [{ s3: { ...S3, credentials: { secretName: 'keys' } } }, /walArchive.s3.credentials .* is not S3Credentials/],
    [{ s3: { ...S3, credentials: S3Credentials.fromSecret('S3 Keys') } }, /walArchive.s3.credentials secret name "S3 Keys" is not a Kubernetes object name/],
    [{ s3: S3, storage: '100Gi' }, /walArchive.storage "100Gi" is given with walArchive.s3: the repository is in the bucket, and no archive volume is created or mounted. Drop walArchive.storage/],
    [{ s3: S3, storageClassName: 'nfs' }, /walArchive.storageClassName "nfs" is given with walArchive.s3/],
    [{ s3: S3, existingClaimName: 'repo' }, /walArchive.existingClaimName "repo" is given with walArchive.s3/],
    [{ encryptionPassphraseSecretName: 'Pass!' }, /walArchive.encryptionPassphraseSecretName "Pass!" is not a Kubernetes object name/],
    [{ encryptionPassphraseSecretKey: 'passphrase' }, /walArchive.encryptionPassphraseSecretKey "passphrase" is given without walArchive.encryptionPassphraseSecretName/],
  ])('bad S3 or encryption options are refused with the prop, the value and the fix: %j', (walArchive, message) => {
    expect(fails({ image: IMAGE, walArchive: walArchive as any })).toThrow(message);
  });

  test('restoreFrom.s3: another cluster\'s bucket is read with a configuration of its own, its key and CA apart from the archive\'s', () => {
    const { pod, postgres, sidecar, config, objects } = clusterOf({
      ...inS3({ endpoint: 'minio.storage.svc:9000', uriStyle: S3UriStyle.PATH }),
      restoreFrom: {
        clusterName: 'old',
        targetTime: '2026-12-02T08:00:00Z',
        s3: {
          bucket: 'old-backups',
          endpoint: 's3.eu-west-1.example.com:8443',
          region: 'eu-west-1',
          caCertificate: RepositoryCaCertificate.fromConfigMap('old-ca', 'root.pem'),
          credentials: S3Credentials.fromSecret('old-keys', 'id', 'secret'),
        },
        encryptionPassphraseSecretName: 'old-passphrase',
      },
    });
    const restoreConf: string = config['pgbackrest-restore.conf'];
    expect(restoreConf).toContain([
      '[global]',
      '# The repository in an S3 bucket. Credentials come from the environment (PGBACKREST_REPO1_S3_KEY...), never from here.',
      'repo1-type=s3',
      'repo1-path=/old',
      'repo1-s3-bucket=old-backups',
      'repo1-s3-endpoint=s3.eu-west-1.example.com',
      'repo1-s3-region=eu-west-1',
      'repo1-s3-uri-style=host',
      'repo1-storage-port=8443',
      'repo1-storage-ca-file=/etc/postgres-cluster/restore-ca/ca.crt',
      '# The passphrase comes from the environment (PGBACKREST_REPO1_CIPHER_PASS).',
      'repo1-cipher-type=aes-256-cbc',
      'lock-path=/var/run/postgresql/pgbackrest',
    ].join('\n'));
    expect(restoreConf).toContain('\n[old]\npg1-path=/var/lib/postgresql/data/pgdata\n');
    expect(restoreConf).not.toMatch(/retention|minio/);
    // This cluster's own bucket stays in pgbackrest.conf, untouched by the restore.
    expect(config['pgbackrest.conf']).toMatch(/repo1-s3-bucket=orders-backups\nrepo1-s3-endpoint=minio.storage.svc\n/);
    // The source's secrets reach the restore only, under names the entrypoint maps to pgBackRest's.
    expect(envOf(postgres)).toMatchObject({
      RESTORE_STANZA: 'old',
      RESTORE_CONFIG: '/etc/postgresql/pgbackrest-restore.conf',
      RESTORE_TARGET_TIME: '2026-12-02T08:00:00Z',
      RESTORE_PGBACKREST_REPO1_S3_KEY: { secretKeyRef: { name: 'old-keys', key: 'id' } },
      RESTORE_PGBACKREST_REPO1_S3_KEY_SECRET: { secretKeyRef: { name: 'old-keys', key: 'secret' } },
      RESTORE_PGBACKREST_REPO1_CIPHER_PASS: { secretKeyRef: { name: 'old-passphrase', key: 'passphrase' } },
      PGBACKREST_REPO1_S3_KEY: { secretKeyRef: { name: 's3-keys', key: 'access-key-id' } },
    });
    expect(Object.keys(envOf(sidecar)).filter(name => name.startsWith('RESTORE'))).toEqual([]);
    expect(pod.volumes).toContainEqual({ name: 'restore-ca', configMap: { name: 'old-ca', items: [{ key: 'root.pem', path: 'ca.crt' }], defaultMode: 0o444 } });
    expect(postgres.volumeMounts).toContainEqual({ name: 'restore-ca', mountPath: '/etc/postgres-cluster/restore-ca', readOnly: true });
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('restore-source');
    // The pods may reach both buckets' ports.
    const egress = find(objects, 'NetworkPolicy', 'postgres-cluster').spec.egress;
    expect(egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 9000 }] });
    expect(egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 8443 }] });
  });

  test('restoreFrom.s3 with a web identity and the default path; a CA from a Secret; one egress rule when both buckets share a port', () => {
    const { pod, postgres, config, objects } = clusterOf({
      ...inS3(),
      restoreFrom: { clusterName: 'old', s3: { bucket: 'old-backups', caCertificate: RepositoryCaCertificate.fromSecret('old-ca'), credentials: S3Credentials.webIdentity() } },
    });
    const restoreConf: string = config['pgbackrest-restore.conf'];
    expect(restoreConf).toMatch(/repo1-path=\/old\nrepo1-s3-bucket=old-backups\nrepo1-s3-endpoint=s3.us-east-1.amazonaws.com\n/);
    expect(restoreConf).toContain('repo1-s3-key-type=web-id');
    expect(restoreConf).not.toMatch(/cipher|repo1-storage-port/);
    expect(Object.keys(envOf(postgres)).filter(name => name.startsWith('RESTORE_PGBACKREST'))).toEqual([]);
    expect(pod.volumes).toContainEqual({ name: 'restore-ca', secret: { secretName: 'old-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }], defaultMode: 0o444 } });
    const egress = find(objects, 'NetworkPolicy', 'postgres-cluster').spec.egress;
    expect(egress.filter((rule: any) => rule.to === undefined && rule.ports.length === 1 && rule.ports[0].port === 443)).toHaveLength(1);
  });

  test('restoreFrom.s3 without walArchive: the pods may reach the bucket, and nothing is archived', () => {
    const { config, objects, postgres } = clusterOf({
      image: IMAGE, restoreFrom: { clusterName: 'old', s3: { bucket: 'old-backups', credentials: S3Credentials.fromSecret('old-keys') } },
    });
    expect(config['pgbackrest-restore.conf']).toContain('repo1-s3-bucket=old-backups');
    expect(config['pgbackrest.conf']).not.toContain('repo1-s3');
    expect(config['postgresql.conf']).not.toMatch(/archive_mode/);
    expect(envOf(postgres).ARCHIVE_STANZA).toBeUndefined();
    expect(find(objects, 'NetworkPolicy', 'postgres-cluster').spec.egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 443 }] });
  });

  test('restoreFrom of this cluster\'s own bucket (a disaster): its own configuration and keys, no second one', () => {
    const { pod, postgres, config } = clusterOf({ ...inS3({}, { encryptionPassphraseSecretName: 'pass' }), restoreFrom: { clusterName: 'postgres' } });
    expect(envOf(postgres)).toMatchObject({ RESTORE_STANZA: 'postgres', PGBACKREST_REPO1_CIPHER_PASS: { secretKeyRef: { name: 'pass', key: 'passphrase' } } });
    expect(envOf(postgres).RESTORE_CONFIG).toBeUndefined();
    expect(config['pgbackrest-restore.conf']).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name).filter((name: string) => name.startsWith('restore'))).toEqual([]);
  });

  test('restoreFrom a volume while archiving into a bucket: the claim, with its own configuration', () => {
    const { pod, postgres, config } = clusterOf({ ...inS3(), restoreFrom: { clusterName: 'old', claimName: 'old-archive', encryptionPassphraseSecretName: 'old-pass', encryptionPassphraseSecretKey: 'key' } });
    expect(envOf(postgres)).toMatchObject({
      RESTORE_CONFIG: '/etc/postgresql/pgbackrest-restore.conf',
      RESTORE_PGBACKREST_REPO1_CIPHER_PASS: { secretKeyRef: { name: 'old-pass', key: 'key' } },
    });
    expect(config['pgbackrest-restore.conf']).toMatch(/\nrepo1-path=\/var\/lib\/pgbackrest-source\n.*\nrepo1-cipher-type=aes-256-cbc\n/);
    expect(pod.volumes).toContainEqual({ name: 'restore-source', persistentVolumeClaim: { claimName: 'old-archive', readOnly: true } });
  });
});

describe('WalArchive in an Azure Blob container (walArchive.azure)', () => {
  const AZURE = { account: 'ordersbackups', container: 'orders-db', credentials: AzureCredentials.fromSecret('blob-credentials') };
  const inAzure = (azure: object = {}, more: object = {}): PostgresClusterChartProps =>
    ({ image: IMAGE, walArchive: { azure: { ...AZURE, ...azure }, ...more } });

  test('pgbackrest.conf names the account and container on Azure by default: host style, blob.core.windows.net, the cluster\'s directory, a shared key not in it', () => {
    const conf = clusterOf(inAzure()).config['pgbackrest.conf'];
    expect(conf).toContain([
      '[global]',
      '# The repository in an Azure Blob container. The key comes from the environment (PGBACKREST_REPO1_AZURE_KEY), never from here.',
      'repo1-type=azure',
      'repo1-path=/postgres',
      'repo1-azure-account=ordersbackups',
      'repo1-azure-container=orders-db',
      'repo1-azure-endpoint=blob.core.windows.net',
      'repo1-azure-uri-style=host',
      'repo1-azure-key-type=shared',
      'repo1-retention-full=2',
      '# Every container',
    ].join('\n'));
    expect(conf).not.toMatch(/repo1-storage|repo1-s3|repo1-azure-key=|cipher|\/var\/lib\/pgbackrest/);
    expect(clusterOf({ ...inAzure(), clusterName: 'orders' }).config['pgbackrest.conf']).toContain('\nrepo1-path=/orders\n');
  });

  test('an emulator or private endpoint: its port, path style, its CA mounted from a Secret or a ConfigMap, or no verification', () => {
    const azurite = clusterOf(inAzure({
      endpoint: '198.18.1.1:10000',
      uriStyle: AzureUriStyle.PATH,
      path: '/clusters/orders',
      caCertificate: RepositoryCaCertificate.fromSecret('azurite-ca'),
    }));
    expect(azurite.config['pgbackrest.conf']).toContain([
      'repo1-path=/clusters/orders',
      'repo1-azure-account=ordersbackups',
      'repo1-azure-container=orders-db',
      'repo1-azure-endpoint=198.18.1.1',
      'repo1-azure-uri-style=path',
      'repo1-azure-key-type=shared',
      'repo1-storage-port=10000',
      'repo1-storage-ca-file=/etc/postgres-cluster/archive-ca/ca.crt',
    ].join('\n'));
    expect(azurite.pod.volumes).toContainEqual({ name: 'archive-ca', secret: { secretName: 'azurite-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }], defaultMode: 0o444 } });
    expect(azurite.postgres.volumeMounts).toContainEqual({ name: 'archive-ca', mountPath: '/etc/postgres-cluster/archive-ca', readOnly: true });
    expect(azurite.sidecar.volumeMounts.map((m: any) => m.name)).not.toContain('archive-ca');

    const proxied = clusterOf(inAzure({ endpoint: 'blob.internal.example', caCertificate: RepositoryCaCertificate.fromConfigMap('corp-ca', 'root.pem') }));
    expect(proxied.pod.volumes).toContainEqual({ name: 'archive-ca', configMap: { name: 'corp-ca', items: [{ key: 'root.pem', path: 'ca.crt' }], defaultMode: 0o444 } });
    expect(proxied.config['pgbackrest.conf']).toContain('\nrepo1-azure-endpoint=blob.internal.example\nrepo1-azure-uri-style=host\n');
    expect(proxied.config['pgbackrest.conf']).not.toContain('repo1-storage-port');

    const unverified = clusterOf(inAzure({ endpoint: 'azurite.test:10000', uriStyle: AzureUriStyle.PATH, verifyTls: false })).config['pgbackrest.conf'];
    expect(unverified).toContain('\nrepo1-storage-port=10000\nrepo1-storage-verify-tls=n\n');
    expect(unverified).not.toContain('repo1-storage-ca-file');
    expect(clusterOf(inAzure()).pod.volumes.map((v: any) => v.name)).not.toContain('archive-ca');
  });

  test('the shared key or SAS token reaches only the postgres container, from your Secret as an environment variable; the default keys, or yours', () => {
    const { postgres, sidecar, objects } = clusterOf(inAzure());
    expect(envOf(postgres).PGBACKREST_REPO1_AZURE_KEY).toEqual({ secretKeyRef: { name: 'blob-credentials', key: 'storage-key' } });
    expect(Object.keys(envOf(postgres)).filter(name => name.startsWith('PGBACKREST_REPO1'))).toEqual(['PGBACKREST_REPO1_AZURE_KEY']);
    expect(envOf(sidecar).PGBACKREST_REPO1_AZURE_KEY).toBeUndefined();
    // Nothing of the YAML but the env reference names the Secret: no copy of a key anywhere.
    expect(objects.filter(o => JSON.stringify(o).includes('blob-credentials')).map(o => o.kind)).toEqual(['StatefulSet']);
    expect(envOf(clusterOf(inAzure({ credentials: AzureCredentials.fromSecret('storage', 'AZURE_STORAGE_KEY') })).postgres).PGBACKREST_REPO1_AZURE_KEY)
      .toEqual({ secretKeyRef: { name: 'storage', key: 'AZURE_STORAGE_KEY' } });

    const sas = clusterOf(inAzure({ credentials: AzureCredentials.sharedAccessSignature('azure-sas') }));
    expect(sas.config['pgbackrest.conf']).toContain('\nrepo1-azure-key-type=sas\n');
    expect(envOf(sas.postgres).PGBACKREST_REPO1_AZURE_KEY).toEqual({ secretKeyRef: { name: 'azure-sas', key: 'sas-token' } });
    expect(envOf(clusterOf(inAzure({ credentials: AzureCredentials.sharedAccessSignature('azure-sas', 'token') })).postgres).PGBACKREST_REPO1_AZURE_KEY)
      .toEqual({ secretKeyRef: { name: 'azure-sas', key: 'token' } });
  });

  test('no archive claim is created or mounted; the CronJobs still back up in the primary\'s postgres container; the pods may reach the endpoint\'s port', () => {
    const chart = new PostgresClusterChart(Testing.app(), 'test', inAzure({ endpoint: 'azurite.storage.svc:10000', uriStyle: AzureUriStyle.PATH }));
    expect(chart.walArchive!.claimName).toBeUndefined();
    expect(chart.config.walArchive).toMatchObject({ claimName: undefined, createClaim: false, azure: { endpoint: 'azurite.storage.svc', port: 10000 } });
    expect(chart.config.walArchive!.s3).toBeUndefined();
    const { objects, pod, postgres } = clusterOf(inAzure({ endpoint: 'azurite.storage.svc:10000', uriStyle: AzureUriStyle.PATH }));
    expect(objects.filter(o => o.kind === 'PersistentVolumeClaim').map(o => o.metadata.name)).toEqual(['postgres-backup']);
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('archive');
    expect(postgres.volumeMounts.map((m: any) => m.mountPath)).not.toContain('/var/lib/pgbackrest');
    for (const type of ['full', 'diff']) {
      // The job execs into the postgres container, whose env (the key) and mounts (the CA) pgBackRest reads there.
      const container = find(objects, 'CronJob', `postgres-archive-${type}`).spec.jobTemplate.spec.template.spec.containers[0];
      expect(envOf(container)).toMatchObject({ POSTGRES_CONTAINER: 'postgres', PGBACKREST_CONFIG: '/etc/postgresql/pgbackrest.conf' });
    }
    const egress = find(objects, 'NetworkPolicy', 'postgres-cluster').spec.egress;
    expect(egress).toHaveLength(4);
    expect(egress[3]).toEqual({ ports: [{ protocol: 'TCP', port: 10000 }] });
    expect(find(clusterOf(inAzure()).objects, 'NetworkPolicy', 'postgres-cluster').spec.egress[3]).toEqual({ ports: [{ protocol: 'TCP', port: 443 }] });
  });

  test('encryption at rest and retention as on any repository: aes-256-cbc with the passphrase from your Secret as an environment variable', () => {
    const { config, postgres } = clusterOf(inAzure({}, { encryptionPassphraseSecretName: 'backup-passphrase', retentionFull: 4 }));
    expect(config['pgbackrest.conf']).toContain([
      'repo1-azure-key-type=shared',
      '# The passphrase comes from the environment (PGBACKREST_REPO1_CIPHER_PASS).',
      'repo1-cipher-type=aes-256-cbc',
      'repo1-retention-full=4',
    ].join('\n'));
    expect(envOf(postgres)).toMatchObject({
      PGBACKREST_REPO1_AZURE_KEY: { secretKeyRef: { name: 'blob-credentials', key: 'storage-key' } },
      PGBACKREST_REPO1_CIPHER_PASS: { secretKeyRef: { name: 'backup-passphrase', key: 'passphrase' } },
    });
  });

  test.each([
    'abc', 'a'.repeat(63), 'orders-db-1', '1orders',
  ])('a container name Azure accepts is accepted: %s', container => {
    expect(clusterOf(inAzure({ container })).config['pgbackrest.conf']).toContain(`\nrepo1-azure-container=${container}\n`);
  });

  test.each([
    [{ azure: 'container' }, /walArchive.azure "container" is not an Azure repository: give \{ account: "mystorageaccount", container: "my-backups", credentials: AzureCredentials.fromSecret/],
    [{ azure: null }, /walArchive.azure null is not an Azure repository/],
    [{ azure: { ...AZURE, container: '' } }, /walArchive.azure.container is empty: name the container that holds the repository/],
    [{ azure: { account: AZURE.account, credentials: AZURE.credentials } }, /walArchive.azure.container is missing/],
    [{ azure: { ...AZURE, container: 'Orders_DB' } }, /walArchive.azure.container "Orders_DB" is not a container name Azure accepts: use 3 to 63 lower-case letters, digits and single "-"/],
    [{ azure: { ...AZURE, container: 'ab' } }, /walArchive.azure.container "ab" is not a container name Azure accepts/],
    [{ azure: { ...AZURE, container: 'a'.repeat(64) } }, /is not a container name Azure accepts/],
    [{ azure: { ...AZURE, container: 'orders--db' } }, /walArchive.azure.container "orders--db" is not a container name Azure accepts/],
    [{ azure: { ...AZURE, container: '-orders' } }, /walArchive.azure.container "-orders" is not a container name/],
    [{ azure: { ...AZURE, container: 'orders-' } }, /walArchive.azure.container "orders-" is not a container name/],
    [{ azure: { ...AZURE, container: 'orders.db' } }, /walArchive.azure.container "orders.db" is not a container name/],
    [{ azure: { ...AZURE, container: 5 } }, /walArchive.azure.container must be a string; got number 5/],
    [{ azure: { container: 'orders-db', credentials: AZURE.credentials } }, /walArchive.azure.account is missing: name the storage account that holds container "orders-db"/],
    [{ azure: { ...AZURE, account: '' } }, /walArchive.azure.account is empty/],
    [{ azure: { ...AZURE, account: 'Orders-Backups' } }, /walArchive.azure.account "Orders-Backups" is not a storage account name: use 3 to 24 lower-case letters and digits/],
    [{ azure: { ...AZURE, account: 'a'.repeat(25) } }, /is not a storage account name/],
    [{ azure: { ...AZURE, endpoint: 'https://blob.core.windows.net' } },
      /walArchive.azure.endpoint "https:\/\/blob.core.windows.net" has a scheme: give the host alone, with a port if not 443 \("blob.core.windows.net"\): pgBackRest always speaks HTTPS/],
    [{ azure: { ...AZURE, endpoint: 'azurite:10000/devstoreaccount1' } },
      /walArchive.azure.endpoint "azurite:10000\/devstoreaccount1" is not a host with an optional port: .* e.g. "azurite.storage.svc:10000"/],
    [{ azure: { ...AZURE, endpoint: 'azurite:0' } }, /walArchive.azure.endpoint "azurite:0" is not a host with an optional port/],
    [{ azure: { ...AZURE, endpoint: '10.0.0.5:10000' } },
      /walArchive.azure.endpoint "10.0.0.5:10000" is an IP address, which cannot carry the account in its host name: set walArchive.azure.uriStyle to AzureUriStyle.PATH/],
    [{ azure: { ...AZURE, uriStyle: 'virtual' } }, /walArchive.azure.uriStyle "virtual" is not a URI style: use AzureUriStyle.HOST or AzureUriStyle.PATH/],
    [{ azure: { ...AZURE, path: 'backups' } }, /walArchive.azure.path "backups" is not a directory in the container: give an absolute path .* e.g. "\/postgres"/],
    [{ azure: { ...AZURE, path: '/backups/' } }, /walArchive.azure.path "\/backups\/" is not a directory in the container/],
    [{ azure: { ...AZURE, verifyTls: 'no' } }, /walArchive.azure.verifyTls must be a boolean; got "no"/],
    [{ azure: { ...AZURE, verifyTls: false, caCertificate: RepositoryCaCertificate.fromSecret('ca') } },
      /walArchive.azure.caCertificate is given with walArchive.azure.verifyTls false: a certificate that is not verified needs no CA/],
    [{ azure: { ...AZURE, caCertificate: { secretName: 'ca', key: 'ca.crt' } } },
      /walArchive.azure.caCertificate .* is not a RepositoryCaCertificate: give RepositoryCaCertificate.fromSecret\("azure-ca"\)/],
    [{ azure: { ...AZURE, caCertificate: RepositoryCaCertificate.fromSecret('Azure CA') } }, /walArchive.azure.caCertificate secret name "Azure CA" is not a Kubernetes object name/],
    [{ azure: { ...AZURE, caCertificate: RepositoryCaCertificate.fromConfigMap('ca', 'ca crt') } }, /walArchive.azure.caCertificate key "ca crt" is not a key of a Secret or ConfigMap/],
    [{ azure: { account: AZURE.account, container: AZURE.container } },
      /walArchive.azure.credentials is missing: give AzureCredentials.fromSecret\("my-azure-key"\) .* or AzureCredentials.sharedAccessSignature\("my-azure-sas"\)/],
    [{ azure: { ...AZURE, credentials: S3Credentials.fromSecret('keys') } }, /walArchive.azure.credentials .* is not AzureCredentials/],
    [{ azure: { ...AZURE, credentials: AzureCredentials.fromSecret('Azure Key') } }, /walArchive.azure.credentials secret name "Azure Key" is not a Kubernetes object name/],
    [{ azure: { ...AZURE, credentials: AzureCredentials.sharedAccessSignature('sas', 'sas token') } }, /walArchive.azure.credentials key "sas token" is not a key of a Secret or ConfigMap/],
    [{ azure: AZURE, s3: { bucket: 'orders-backups', credentials: S3Credentials.fromSecret('s3-keys') } },
      /walArchive.s3 \(bucket "orders-backups"\) and walArchive.azure \(container "orders-db"\) are both given: pgBackRest archives into one repository. Keep one of them/],
    [{ azure: AZURE, storage: '100Gi' }, /walArchive.storage "100Gi" is given with walArchive.azure: the repository is in the container, and no archive volume is created or mounted. Drop walArchive.storage, or walArchive.azure/],
    [{ azure: AZURE, storageClassName: 'nfs' }, /walArchive.storageClassName "nfs" is given with walArchive.azure/],
    [{ azure: AZURE, existingClaimName: 'repo' }, /walArchive.existingClaimName "repo" is given with walArchive.azure/],
  ])('bad Azure options are refused with the prop, the value and the fix: %j', (walArchive, message) => {
    expect(fails({ image: IMAGE, walArchive: walArchive as any })).toThrow(message);
  });

  test('restoreFrom of this cluster\'s own container (a disaster): its own configuration and key, no second one', () => {
    const { pod, postgres, config } = clusterOf({ ...inAzure({}, { encryptionPassphraseSecretName: 'pass' }), restoreFrom: { clusterName: 'postgres' } });
    expect(envOf(postgres)).toMatchObject({
      RESTORE_STANZA: 'postgres',
      PGBACKREST_CONFIG: '/etc/postgresql/pgbackrest.conf',
      PGBACKREST_REPO1_AZURE_KEY: { secretKeyRef: { name: 'blob-credentials', key: 'storage-key' } },
      PGBACKREST_REPO1_CIPHER_PASS: { secretKeyRef: { name: 'pass', key: 'passphrase' } },
    });
    expect(config['pgbackrest.conf']).toContain('\nrepo1-type=azure\n');
    expect(envOf(postgres).RESTORE_CONFIG).toBeUndefined();
    expect(config['pgbackrest-restore.conf']).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name).filter((name: string) => name.startsWith('restore'))).toEqual([]);
  });

  test('restoreFrom.azure: another cluster\'s container is read with a configuration of its own, its SAS token and CA apart from the archive\'s', () => {
    const { pod, postgres, sidecar, config, objects } = clusterOf({
      ...inAzure({ endpoint: 'azurite.storage.svc:10000', uriStyle: AzureUriStyle.PATH }),
      restoreFrom: {
        clusterName: 'old',
        targetTime: '2026-12-02T08:00:00Z',
        azure: {
          account: 'oldbackups',
          container: 'old-db',
          endpoint: 'blob.private.example:8443',
          caCertificate: RepositoryCaCertificate.fromConfigMap('old-ca', 'root.pem'),
          credentials: AzureCredentials.sharedAccessSignature('old-sas', 'token'),
        },
        encryptionPassphraseSecretName: 'old-passphrase',
      },
    });
    const restoreConf: string = config['pgbackrest-restore.conf'];
    expect(restoreConf).toContain([
      '[global]',
      '# The repository in an Azure Blob container. The key comes from the environment (PGBACKREST_REPO1_AZURE_KEY), never from here.',
      'repo1-type=azure',
      'repo1-path=/old',
      'repo1-azure-account=oldbackups',
      'repo1-azure-container=old-db',
      'repo1-azure-endpoint=blob.private.example',
      'repo1-azure-uri-style=host',
      'repo1-azure-key-type=sas',
      'repo1-storage-port=8443',
      'repo1-storage-ca-file=/etc/postgres-cluster/restore-ca/ca.crt',
      '# The passphrase comes from the environment (PGBACKREST_REPO1_CIPHER_PASS).',
      'repo1-cipher-type=aes-256-cbc',
      'lock-path=/var/run/postgresql/pgbackrest',
    ].join('\n'));
    expect(restoreConf).toContain('\n[old]\npg1-path=/var/lib/postgresql/data/pgdata\n');
    expect(restoreConf).not.toMatch(/retention|azurite|ordersbackups/);
    // This cluster's own container stays in pgbackrest.conf, untouched by the restore.
    expect(config['pgbackrest.conf']).toMatch(/repo1-azure-account=ordersbackups\nrepo1-azure-container=orders-db\nrepo1-azure-endpoint=azurite.storage.svc\n/);
    // The source's token reaches the restore only, under a name the entrypoint maps to pgBackRest's.
    expect(envOf(postgres)).toMatchObject({
      RESTORE_STANZA: 'old',
      RESTORE_CONFIG: '/etc/postgresql/pgbackrest-restore.conf',
      RESTORE_PGBACKREST_REPO1_AZURE_KEY: { secretKeyRef: { name: 'old-sas', key: 'token' } },
      RESTORE_PGBACKREST_REPO1_CIPHER_PASS: { secretKeyRef: { name: 'old-passphrase', key: 'passphrase' } },
      PGBACKREST_REPO1_AZURE_KEY: { secretKeyRef: { name: 'blob-credentials', key: 'storage-key' } },
    });
    expect(Object.keys(envOf(sidecar)).filter(name => name.startsWith('RESTORE'))).toEqual([]);
    expect(pod.volumes).toContainEqual({ name: 'restore-ca', configMap: { name: 'old-ca', items: [{ key: 'root.pem', path: 'ca.crt' }], defaultMode: 0o444 } });
    expect(postgres.volumeMounts).toContainEqual({ name: 'restore-ca', mountPath: '/etc/postgres-cluster/restore-ca', readOnly: true });
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('restore-source');
    // The pods may reach both endpoints' ports.
    const egress = find(objects, 'NetworkPolicy', 'postgres-cluster').spec.egress;
    expect(egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 10000 }] });
    expect(egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 8443 }] });
  });

  test('restoreFrom.azure without walArchive, the default path and key: the pods may reach port 443 once, and nothing is archived', () => {
    const { config, objects, postgres, pod } = clusterOf({
      image: IMAGE, restoreFrom: { clusterName: 'old', azure: { account: 'oldbackups', container: 'old-db', credentials: AzureCredentials.fromSecret('old-key') } },
    });
    expect(config['pgbackrest-restore.conf']).toMatch(/\nrepo1-type=azure\nrepo1-path=\/old\n.*\nrepo1-azure-endpoint=blob.core.windows.net\nrepo1-azure-uri-style=host\nrepo1-azure-key-type=shared\n/s);
    expect(config['pgbackrest-restore.conf']).not.toMatch(/cipher|repo1-storage/);
    expect(config['pgbackrest.conf']).not.toContain('azure');
    expect(config['postgresql.conf']).not.toMatch(/archive_mode/);
    expect(envOf(postgres).RESTORE_PGBACKREST_REPO1_AZURE_KEY).toEqual({ secretKeyRef: { name: 'old-key', key: 'storage-key' } });
    expect(envOf(postgres).PGBACKREST_REPO1_AZURE_KEY).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name).filter((name: string) => name.startsWith('restore'))).toEqual([]);
    const egress = find(objects, 'NetworkPolicy', 'postgres-cluster').spec.egress;
    expect(egress.filter((rule: any) => rule.to === undefined && rule.ports.length === 1 && rule.ports[0].port === 443)).toHaveLength(1);
    // Archiving into a container on the same port as the one restored from: one rule.
    const same = find(clusterOf({ ...inAzure(), restoreFrom: { clusterName: 'old', azure: { account: 'oldbackups', container: 'old-db', credentials: AzureCredentials.fromSecret('old-key') } } }).objects,
      'NetworkPolicy', 'postgres-cluster').spec.egress;
    expect(same.filter((rule: any) => rule.to === undefined && rule.ports.length === 1 && rule.ports[0].port === 443)).toHaveLength(1);
  });

  test.each([
    [{ clusterName: 'old', claimName: 'repo', azure: AZURE }, /restoreFrom.claimName "repo" is given with restoreFrom.azure: a restore reads one repository. Drop restoreFrom.claimName to restore from the container/],
    [{ clusterName: 'old', azure: AZURE, s3: { bucket: 'old-backups', credentials: S3Credentials.fromSecret('keys') } },
      /restoreFrom.s3 \(bucket "old-backups"\) and restoreFrom.azure \(container "orders-db"\) are both given: a restore reads one repository. Keep the one that holds cluster "old"/],
    [{ clusterName: 'old', azure: 'container' }, /restoreFrom.azure "container" is not an Azure repository/],
    [{ clusterName: 'old', azure: { ...AZURE, container: 'Old_DB' } }, /restoreFrom.azure.container "Old_DB" is not a container name Azure accepts/],
    [{ clusterName: 'old', azure: { ...AZURE, account: undefined } }, /restoreFrom.azure.account is missing/],
    [{ clusterName: 'old', azure: { ...AZURE, endpoint: '10.0.0.9' } }, /restoreFrom.azure.endpoint "10.0.0.9" is an IP address, .* set restoreFrom.azure.uriStyle to AzureUriStyle.PATH/],
    [{ clusterName: 'old', azure: { ...AZURE, path: 'old' } }, /restoreFrom.azure.path "old" is not a directory in the container: .* e.g. "\/old"/],
    [{ clusterName: 'old', azure: { ...AZURE, verifyTls: false, caCertificate: RepositoryCaCertificate.fromSecret('ca') } },
      /restoreFrom.azure.caCertificate is given with restoreFrom.azure.verifyTls false/],
    [{ clusterName: 'old', azure: { account: AZURE.account, container: AZURE.container } }, /restoreFrom.azure.credentials is missing: give AzureCredentials.fromSecret/],
    [{ clusterName: 'old', azure: { ...AZURE, credentials: AzureCredentials.fromSecret('Old Key') } }, /restoreFrom.azure.credentials secret name "Old Key" is not a Kubernetes object name/],
  ])('a bad restoreFrom.azure is refused with the prop, the value and the fix: %j', (restoreFrom, message) => {
    expect(fails({ image: IMAGE, restoreFrom: restoreFrom as any })).toThrow(message);
  });

  test('restoreFrom a volume while archiving into a container: the claim, with its own configuration; the key stays the archive\'s', () => {
    const { pod, postgres, config } = clusterOf({ ...inAzure(), restoreFrom: { clusterName: 'old', claimName: 'old-archive' } });
    expect(envOf(postgres).RESTORE_CONFIG).toBe('/etc/postgresql/pgbackrest-restore.conf');
    expect(config['pgbackrest-restore.conf']).toContain('\nrepo1-path=/var/lib/pgbackrest-source\n');
    expect(config['pgbackrest-restore.conf']).not.toContain('azure');
    expect(Object.keys(envOf(postgres)).filter(name => name.startsWith('RESTORE_PGBACKREST'))).toEqual([]);
    expect(pod.volumes).toContainEqual({ name: 'restore-source', persistentVolumeClaim: { claimName: 'old-archive', readOnly: true } });
  });
});

describe('WalArchive in a Google Cloud Storage bucket (walArchive.gcs)', () => {
  const GCS = { bucket: 'orders-backups', credentials: GcsCredentials.fromServiceAccountKey('gcs-key') };
  const inGcs = (gcs: object = {}, more: object = {}): PostgresClusterChartProps =>
    ({ image: IMAGE, walArchive: { gcs: { ...GCS, ...gcs }, ...more } });

  test('pgbackrest.conf names the bucket on Google\'s endpoint, the cluster\'s directory and the mounted key file; no key in it', () => {
    const { config, objects } = clusterOf(inGcs());
    const conf = config['pgbackrest.conf'];
    expect(conf).toContain([
      '[global]',
      '# The repository in a GCS bucket. The service account\'s key is a file mounted from its Secret, never written here.',
      'repo1-type=gcs',
      'repo1-path=/postgres',
      'repo1-gcs-bucket=orders-backups',
      'repo1-gcs-endpoint=storage.googleapis.com',
      'repo1-gcs-key-type=service',
      'repo1-gcs-key=/etc/postgres-cluster/archive-gcs-key/key.json',
      'repo1-retention-full=2',
      '# Every container',
    ].join('\n'));
    expect(conf).not.toMatch(/repo1-storage|s3|cipher|\/var\/lib\/pgbackrest\n/);
    // Nothing of the YAML but the StatefulSet's volume names the Secret: the key is never copied.
    expect(objects.filter(o => JSON.stringify(o).includes('gcs-key"')).map(o => o.kind)).toEqual(['StatefulSet']);
  });

  test('the service account key is a file, mounted read-only from your Secret into the postgres container only; the default key, or yours', () => {
    const { pod, postgres, sidecar } = clusterOf(inGcs());
    expect(pod.volumes).toContainEqual({
      name: 'archive-gcs-key', secret: { secretName: 'gcs-key', items: [{ key: 'key.json', path: 'key.json' }], defaultMode: 0o440 },
    });
    expect(postgres.volumeMounts).toContainEqual({ name: 'archive-gcs-key', mountPath: '/etc/postgres-cluster/archive-gcs-key', readOnly: true });
    expect(sidecar.volumeMounts.map((m: any) => m.name)).not.toContain('archive-gcs-key');
    expect(Object.keys(envOf(postgres)).filter(name => name.startsWith('PGBACKREST_REPO1'))).toEqual([]);
    const custom = clusterOf(inGcs({ credentials: GcsCredentials.fromServiceAccountKey('google', 'sa.json') }));
    expect(custom.pod.volumes).toContainEqual({
      name: 'archive-gcs-key', secret: { secretName: 'google', items: [{ key: 'sa.json', path: 'key.json' }], defaultMode: 0o440 },
    });
  });

  test('Workload Identity puts no key anywhere: pgBackRest asks the metadata server; the pods may reach it', () => {
    const { pod, postgres, config, objects } = clusterOf(inGcs({ credentials: GcsCredentials.workloadIdentity() }));
    expect(config['pgbackrest.conf']).toContain('\nrepo1-gcs-key-type=auto\n');
    expect(config['pgbackrest.conf']).not.toContain('repo1-gcs-key=');
    expect(Object.keys(envOf(postgres)).filter(name => name.startsWith('PGBACKREST_REPO1'))).toEqual([]);
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('archive-gcs-key');
    expect(find(objects, 'NetworkPolicy', 'postgres-cluster').spec.egress)
      .toContainEqual({ ports: [80, 443, 988].map(port => ({ protocol: 'TCP', port })) });
  });

  test('an access token (for tests): from your Secret as PGBACKREST_REPO1_GCS_KEY, in the postgres container only', () => {
    const { pod, postgres, sidecar, config } = clusterOf(inGcs({ credentials: GcsCredentials.fromAccessToken('gcs-token') }));
    expect(config['pgbackrest.conf']).toContain('\nrepo1-gcs-key-type=token\n');
    expect(config['pgbackrest.conf']).not.toContain('repo1-gcs-key=');
    expect(envOf(postgres).PGBACKREST_REPO1_GCS_KEY).toEqual({ secretKeyRef: { name: 'gcs-token', key: 'token' } });
    expect(envOf(sidecar).PGBACKREST_REPO1_GCS_KEY).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('archive-gcs-key');
    const custom = clusterOf(inGcs({ credentials: GcsCredentials.fromAccessToken('t', 'access-token') }));
    expect(envOf(custom.postgres).PGBACKREST_REPO1_GCS_KEY).toEqual({ secretKeyRef: { name: 't', key: 'access-token' } });
  });

  test('a GCS emulator or private endpoint: its port in the endpoint, its CA mounted, or no verification; the pods may reach its port', () => {
    const chart = new PostgresClusterChart(Testing.app(), 'test', inGcs({
      endpoint: 'gcs.storage.svc:4443', path: '/clusters/orders', caCertificate: RepositoryCaCertificate.fromConfigMap('gcs-ca', 'root.pem'),
    }));
    expect(chart.walArchive!.claimName).toBeUndefined();
    expect(chart.config.walArchive).toMatchObject({ claimName: undefined, createClaim: false, gcs: { endpoint: 'gcs.storage.svc', port: 4443, keyType: 'service' } });
    const { objects, pod, postgres, config } = clusterOf(inGcs({
      endpoint: 'gcs.storage.svc:4443', path: '/clusters/orders', caCertificate: RepositoryCaCertificate.fromConfigMap('gcs-ca', 'root.pem'),
    }));
    expect(config['pgbackrest.conf']).toContain([
      'repo1-path=/clusters/orders',
      'repo1-gcs-bucket=orders-backups',
      'repo1-gcs-endpoint=gcs.storage.svc:4443',
      'repo1-gcs-key-type=service',
      'repo1-gcs-key=/etc/postgres-cluster/archive-gcs-key/key.json',
      'repo1-storage-ca-file=/etc/postgres-cluster/archive-ca/ca.crt',
    ].join('\n'));
    expect(config['pgbackrest.conf']).not.toContain('repo1-storage-port');
    expect(pod.volumes).toContainEqual({ name: 'archive-ca', configMap: { name: 'gcs-ca', items: [{ key: 'root.pem', path: 'ca.crt' }], defaultMode: 0o444 } });
    expect(postgres.volumeMounts).toContainEqual({ name: 'archive-ca', mountPath: '/etc/postgres-cluster/archive-ca', readOnly: true });
    expect(objects.filter(o => o.kind === 'PersistentVolumeClaim').map(o => o.metadata.name)).toEqual(['postgres-backup']);
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('archive');
    expect(objects.filter(o => o.kind === 'CronJob' && /archive/.test(o.metadata.name)).map(o => o.metadata.name))
      .toEqual(['postgres-archive-full', 'postgres-archive-diff']);
    // The endpoint's port, and 443 for the service account's token endpoint (oauth2.googleapis.com).
    expect(find(objects, 'NetworkPolicy', 'postgres-cluster').spec.egress)
      .toContainEqual({ ports: [443, 4443].map(port => ({ protocol: 'TCP', port })) });
    const unverified = clusterOf(inGcs({ endpoint: '10.0.0.5:4443', verifyTls: false })).config['pgbackrest.conf'];
    expect(unverified).toContain('\nrepo1-gcs-endpoint=10.0.0.5:4443\n');
    expect(unverified).toContain('\nrepo1-storage-verify-tls=n\n');
    expect(unverified).not.toContain('repo1-storage-ca-file');
  });

  test('encryption at rest in the bucket: aes-256-cbc, the passphrase from your Secret as an environment variable', () => {
    const { config, postgres } = clusterOf(inGcs({}, { encryptionPassphraseSecretName: 'backup-passphrase' }));
    expect(config['pgbackrest.conf']).toContain('repo1-gcs-key=/etc/postgres-cluster/archive-gcs-key/key.json\n# The passphrase comes from the environment '
      + '(PGBACKREST_REPO1_CIPHER_PASS).\nrepo1-cipher-type=aes-256-cbc\n');
    expect(envOf(postgres).PGBACKREST_REPO1_CIPHER_PASS).toEqual({ secretKeyRef: { name: 'backup-passphrase', key: 'passphrase' } });
  });

  test.each([
    [{ gcs: 'bucket' }, /walArchive.gcs "bucket" is not a GCS repository: give \{ bucket: "my-backups", credentials: GcsCredentials.fromServiceAccountKey/],
    [{ gcs: { ...GCS, bucket: '' } }, /walArchive.gcs.bucket is empty: name the bucket that holds the repository/],
    [{ gcs: { credentials: GCS.credentials } }, /walArchive.gcs.bucket is missing/],
    [{ gcs: { ...GCS, bucket: 'Orders-Backups' } }, /walArchive.gcs.bucket "Orders-Backups" is not a bucket name GCS accepts: use 3 to 63 lower-case letters, digits, "-", "_" and "."/],
    [{ gcs: { ...GCS, bucket: 'ab' } }, /walArchive.gcs.bucket "ab" is not a bucket name GCS accepts/],
    [{ gcs: { ...GCS, bucket: 'a'.repeat(64) } }, /is not a bucket name GCS accepts/],
    [{ gcs: { ...GCS, bucket: '_orders' } }, /walArchive.gcs.bucket "_orders" is not a bucket name GCS accepts/],
    [{ gcs: { ...GCS, bucket: 'orders-' } }, /walArchive.gcs.bucket "orders-" is not a bucket name GCS accepts/],
    [{ gcs: { ...GCS, bucket: 'orders..backups' } }, /walArchive.gcs.bucket "orders..backups" is not a bucket name/],
    [{ gcs: { ...GCS, bucket: '192.168.1.10' } }, /walArchive.gcs.bucket "192.168.1.10" is not a bucket name/],
    [{ gcs: { ...GCS, bucket: 'goog-backups' } }, /walArchive.gcs.bucket "goog-backups" is not a bucket name GCS accepts: .*not starting with "goog"/],
    [{ gcs: { ...GCS, bucket: 'my-google-backups' } }, /walArchive.gcs.bucket "my-google-backups" is not a bucket name GCS accepts/],
    [{ gcs: { ...GCS, endpoint: 'https://gcs.storage.svc:4443' } },
      /walArchive.gcs.endpoint "https:\/\/gcs.storage.svc:4443" has a scheme: give the host alone, with a port if not 443 \("gcs.storage.svc:4443"\): pgBackRest always speaks HTTPS/],
    [{ gcs: { ...GCS, endpoint: 'gcs.storage.svc/storage/v1' } }, /walArchive.gcs.endpoint "gcs.storage.svc\/storage\/v1" is not a host with an optional port/],
    [{ gcs: { ...GCS, endpoint: 'gcs:0' } }, /walArchive.gcs.endpoint "gcs:0" is not a host with an optional port/],
    [{ gcs: { ...GCS, path: 'backups' } }, /walArchive.gcs.path "backups" is not a directory in the bucket: give an absolute path .* e.g. "\/postgres"/],
    [{ gcs: { ...GCS, path: '/a b' } }, /walArchive.gcs.path "\/a b" is not a directory in the bucket/],
    [{ gcs: { ...GCS, verifyTls: 'no' } }, /walArchive.gcs.verifyTls must be a boolean; got "no"/],
    [{ gcs: { ...GCS, verifyTls: false, caCertificate: RepositoryCaCertificate.fromSecret('ca') } },
      /walArchive.gcs.caCertificate is given with walArchive.gcs.verifyTls false: a certificate that is not verified needs no CA/],
    [{ gcs: { ...GCS, caCertificate: 'ca.crt' } }, /walArchive.gcs.caCertificate "ca.crt" is not a RepositoryCaCertificate: give RepositoryCaCertificate.fromSecret\("gcs-ca"\)/],
    [{ gcs: { bucket: 'orders-backups' } },
      /walArchive.gcs.credentials is missing: give GcsCredentials.fromServiceAccountKey\("my-gcs-key"\) .* or GcsCredentials.workloadIdentity\(\) \(GKE Workload Identity\)/],
    [{ gcs: { ...GCS, credentials: S3Credentials.fromSecret('keys') } }, /walArchive.gcs.credentials .* is not GcsCredentials/],
    [{ gcs: { ...GCS, credentials: GcsCredentials.fromServiceAccountKey('GCS Key') } }, /walArchive.gcs.credentials secret name "GCS Key" is not a Kubernetes object name/],
    [{ gcs: { ...GCS, credentials: GcsCredentials.fromServiceAccountKey('gcs-key', 'key/json') } }, /walArchive.gcs.credentials key "key\/json" is not a key of a Secret or ConfigMap/],
    [{ gcs: { ...GCS, credentials: GcsCredentials.fromAccessToken('gcs-token', '') } }, /walArchive.gcs.credentials key "" is not a key of a Secret or ConfigMap/],
    [{ gcs: GCS, storage: '100Gi' }, /walArchive.storage "100Gi" is given with walArchive.gcs: the repository is in the bucket, and no archive volume is created or mounted. Drop walArchive.storage/],
    [{ gcs: GCS, storageClassName: 'nfs' }, /walArchive.storageClassName "nfs" is given with walArchive.gcs/],
    [{ gcs: GCS, existingClaimName: 'repo' }, /walArchive.existingClaimName "repo" is given with walArchive.gcs/],
    [{ gcs: GCS, s3: { bucket: 'other', credentials: S3Credentials.fromSecret('k') } },
      /walArchive.s3 \(bucket "other"\) and walArchive.gcs \(bucket "orders-backups"\) are both given: a cluster has one repository. Drop walArchive.s3 .*, or walArchive.gcs/],
    [{ gcs: GCS, azure: { account: 'ordersbackups', container: 'orders-db', credentials: AzureCredentials.fromSecret('k') } },
      /walArchive.azure \(container "orders-db"\) and walArchive.gcs \(bucket "orders-backups"\) are both given: a cluster has one repository. Drop walArchive.azure .*, or walArchive.gcs/],
  ])('bad GCS options are refused with the prop, the value and the fix: %j', (walArchive, message) => {
    expect(fails({ image: IMAGE, walArchive: walArchive as any })).toThrow(message);
  });

  test('the GCS bucket name rules\' edges are accepted: 3 and 63 characters, "_" and "." inside', () => {
    for (const bucket of ['abc', 'a'.repeat(63), 'orders_db.backups-1', '1orders']) {
      expect(clusterOf(inGcs({ bucket })).config['pgbackrest.conf']).toContain(`\nrepo1-gcs-bucket=${bucket}\n`);
    }
  });

  test('restoreFrom.gcs: another cluster\'s bucket is read with a configuration of its own, its key file and CA apart from the archive\'s', () => {
    const { pod, postgres, sidecar, config, objects } = clusterOf({
      ...inGcs({ endpoint: 'gcs.storage.svc:4443' }),
      restoreFrom: {
        clusterName: 'old',
        targetTime: '2026-12-02T08:00:00Z',
        gcs: {
          bucket: 'old-backups',
          endpoint: 'gcs.example.com:8443',
          caCertificate: RepositoryCaCertificate.fromSecret('old-ca', 'root.pem'),
          credentials: GcsCredentials.fromServiceAccountKey('old-key', 'reader.json'),
        },
        encryptionPassphraseSecretName: 'old-passphrase',
      },
    });
    const restoreConf: string = config['pgbackrest-restore.conf'];
    expect(restoreConf).toContain([
      '[global]',
      '# The repository in a GCS bucket. The service account\'s key is a file mounted from its Secret, never written here.',
      'repo1-type=gcs',
      'repo1-path=/old',
      'repo1-gcs-bucket=old-backups',
      'repo1-gcs-endpoint=gcs.example.com:8443',
      'repo1-gcs-key-type=service',
      'repo1-gcs-key=/etc/postgres-cluster/restore-gcs-key/key.json',
      'repo1-storage-ca-file=/etc/postgres-cluster/restore-ca/ca.crt',
      '# The passphrase comes from the environment (PGBACKREST_REPO1_CIPHER_PASS).',
      'repo1-cipher-type=aes-256-cbc',
      'lock-path=/var/run/postgresql/pgbackrest',
    ].join('\n'));
    expect(restoreConf).toContain('\n[old]\npg1-path=/var/lib/postgresql/data/pgdata\n');
    // This cluster's own bucket stays in pgbackrest.conf, with its own key file.
    expect(config['pgbackrest.conf']).toMatch(/repo1-gcs-endpoint=gcs.storage.svc:4443\nrepo1-gcs-key-type=service\nrepo1-gcs-key=\/etc\/postgres-cluster\/archive-gcs-key\/key.json\n/);
    expect(envOf(postgres)).toMatchObject({
      RESTORE_STANZA: 'old',
      RESTORE_CONFIG: '/etc/postgresql/pgbackrest-restore.conf',
      RESTORE_PGBACKREST_REPO1_CIPHER_PASS: { secretKeyRef: { name: 'old-passphrase', key: 'passphrase' } },
    });
    expect(Object.keys(envOf(sidecar)).filter(name => name.startsWith('RESTORE'))).toEqual([]);
    expect(pod.volumes).toContainEqual({
      name: 'restore-gcs-key', secret: { secretName: 'old-key', items: [{ key: 'reader.json', path: 'key.json' }], defaultMode: 0o440 },
    });
    expect(pod.volumes).toContainEqual({ name: 'archive-gcs-key', secret: { secretName: 'gcs-key', items: [{ key: 'key.json', path: 'key.json' }], defaultMode: 0o440 } });
    expect(postgres.volumeMounts).toContainEqual({ name: 'restore-gcs-key', mountPath: '/etc/postgres-cluster/restore-gcs-key', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'restore-ca', secret: { secretName: 'old-ca', items: [{ key: 'root.pem', path: 'ca.crt' }], defaultMode: 0o444 } });
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('restore-source');
    expect(find(objects, 'NetworkPolicy', 'postgres-cluster').spec.egress)
      .toContainEqual({ ports: [443, 4443, 8443].map(port => ({ protocol: 'TCP', port })) });
  });

  test('restoreFrom.gcs with a token and the default path, without walArchive: RESTORE_PGBACKREST_REPO1_GCS_KEY, nothing archived', () => {
    const { pod, postgres, config } = clusterOf({
      image: IMAGE, restoreFrom: { clusterName: 'old', gcs: { bucket: 'old-backups', credentials: GcsCredentials.fromAccessToken('old-token') } },
    });
    const restoreConf: string = config['pgbackrest-restore.conf'];
    expect(restoreConf).toMatch(/repo1-path=\/old\nrepo1-gcs-bucket=old-backups\nrepo1-gcs-endpoint=storage.googleapis.com\nrepo1-gcs-key-type=token\n/);
    expect(restoreConf).not.toMatch(/repo1-gcs-key=|cipher/);
    expect(envOf(postgres).RESTORE_PGBACKREST_REPO1_GCS_KEY).toEqual({ secretKeyRef: { name: 'old-token', key: 'token' } });
    expect(envOf(postgres).PGBACKREST_REPO1_GCS_KEY).toBeUndefined();
    expect(config['pgbackrest.conf']).not.toContain('repo1-gcs');
    expect(config['postgresql.conf']).not.toMatch(/archive_mode/);
    expect(pod.volumes.map((v: any) => v.name).filter((name: string) => /gcs|restore/.test(name))).toEqual([]);
  });

  test('restoreFrom of this cluster\'s own GCS bucket (a disaster): its own configuration and key, no second one', () => {
    const { pod, postgres, config } = clusterOf({ ...inGcs(), restoreFrom: { clusterName: 'postgres' } });
    expect(envOf(postgres).RESTORE_STANZA).toBe('postgres');
    expect(envOf(postgres).RESTORE_CONFIG).toBeUndefined();
    expect(config['pgbackrest-restore.conf']).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name).filter((name: string) => name.startsWith('restore'))).toEqual([]);
  });

  test.each([
    [{ clusterName: 'old', claimName: 'old-archive', gcs: { bucket: 'old-backups', credentials: GcsCredentials.workloadIdentity() } },
      /restoreFrom.claimName "old-archive" is given with restoreFrom.gcs: a restore reads one repository. Drop restoreFrom.claimName to restore from the bucket, or restoreFrom.gcs/],
    [{ clusterName: 'old', gcs: { bucket: 'old-backups', credentials: GcsCredentials.workloadIdentity() }, s3: { bucket: 'old-s3', credentials: S3Credentials.webIdentity() } },
      /restoreFrom.s3 \(bucket "old-s3"\) and restoreFrom.gcs \(bucket "old-backups"\) are both given: a restore reads one repository. Keep the one that holds cluster "old"/],
    [{
      clusterName: 'old',
      gcs: { bucket: 'old-backups', credentials: GcsCredentials.workloadIdentity() },
      azure: { account: 'oldbackups', container: 'old-db', credentials: AzureCredentials.fromSecret('old-key') },
    },
    /restoreFrom.azure \(container "old-db"\) and restoreFrom.gcs \(bucket "old-backups"\) are both given: a restore reads one repository. Keep the one that holds cluster "old"/],
    [{ clusterName: 'old', gcs: { bucket: 'Old', credentials: GcsCredentials.workloadIdentity() } }, /restoreFrom.gcs.bucket "Old" is not a bucket name GCS accepts/],
    [{ clusterName: 'old', gcs: { bucket: 'old-backups' } }, /restoreFrom.gcs.credentials is missing/],
    [{ clusterName: 'old' }, /restoreFrom.claimName is missing and walArchive is off: .*\(or its bucket, restoreFrom.s3 or restoreFrom.gcs, or its container, restoreFrom.azure\)/],
  ])('bad restoreFrom.gcs options are refused with the prop, the value and the fix: %j', (restoreFrom, message) => {
    expect(fails({ image: IMAGE, restoreFrom: restoreFrom as any })).toThrow(message);
  });
});
