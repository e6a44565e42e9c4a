import { Testing } from 'cdk8s';
import {
  LogicalBackup, PostgresClusterChart, PostgresClusterChartProps, PostgresConfig, PostgresStatefulSet, RepositoryCaCertificate, S3Credentials,
  S3UriStyle,
} from '../src';
import { find, synthCluster } from './support/synth';
import { parseDumpCopyConfig } from '../src/agent/config';

function backupOf(props: PostgresClusterChartProps = {}) {
  const objects = synthCluster(props);
  const name = props.clusterName ?? 'postgres';
  const cronJob = find(objects, 'CronJob', `${name}-backup`);
  return { objects, cronJob, pod: cronJob.spec.jobTemplate.spec.template.spec, claim: find(objects, 'PersistentVolumeClaim', `${name}-backup`) };
}

const envOf = (container: any) => Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

function fails(props: PostgresClusterChartProps): () => void {
  return () => new PostgresClusterChart(Testing.app(), 'test', props);
}

describe('LogicalBackup', () => {
  test('dumps the application database every night at 03:00 onto its own volume, one run at a time', () => {
    const { cronJob, pod, claim } = backupOf();
    expect(cronJob.spec).toMatchObject({ schedule: '0 3 * * *', concurrencyPolicy: 'Forbid', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3 });
    expect(cronJob.spec.suspend).toBeUndefined();
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } });
    expect(pod.volumes).toContainEqual({ name: 'backup', persistentVolumeClaim: { claimName: 'postgres-backup' } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'backup', mountPath: '/backup' });
    expect(pod.containers[0].command).toEqual(['/bin/bash', '/opt/postgres-cluster/backup.sh']);
    expect(pod.containers[0].image).toBe('postgres:15');
  });

  test('logs in as the application role through the write Service, over TLS, with the password from its Secret; no API token', () => {
    const { pod } = backupOf();
    expect(envOf(pod.containers[0])).toMatchObject({
      PGHOST: 'postgres-write',
      PGPORT: '5432',
      PGUSER: 'app',
      PGDATABASE: 'myapp',
      PGSSLMODE: 'require',
      BACKUP_DIR: '/backup',
      BACKUP_RETENTION: '7',
      PGPASSWORD: { secretKeyRef: { name: 'postgres-app', key: 'password' } },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsUser: 999, fsGroup: 999, runAsNonRoot: true });
    expect(pod.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
    expect(envOf(backupOf({ tls: false }).pod.containers[0]).PGSSLMODE).toBe('prefer');
    expect(envOf(backupOf({ existingAppSecretName: 'apps', appUser: 'shop', database: 'shop' }).pod.containers[0]))
      .toMatchObject({ PGUSER: 'shop', PGDATABASE: 'shop', PGPASSWORD: { secretKeyRef: { name: 'apps', key: 'password' } } });
  });

  test('its pods carry the cluster\'s and the backup\'s labels, know their name, and write only to their volumes', () => {
    const { cronJob, pod, claim } = backupOf();
    const labels = {
      'app.kubernetes.io/name': 'postgresql',
      'app.kubernetes.io/instance': 'postgres',
      'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster',
      'app.kubernetes.io/component': 'backup',
    };
    expect([cronJob.metadata.labels, cronJob.spec.jobTemplate.metadata.labels, cronJob.spec.jobTemplate.spec.template.metadata.labels])
      .toEqual([labels, labels, labels]);
    expect(claim.metadata.labels).toEqual({
      'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'postgres', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster',
    });
    expect([pod.enableServiceLinks, pod.restartPolicy, cronJob.spec.jobTemplate.spec.backoffLimit]).toEqual([false, 'Never', 2]);
    const container = pod.containers[0];
    expect(container.name).toBe('backup');
    expect(container.env.find((e: any) => e.name === 'POD_NAME')).toEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(container.resources).toEqual({ requests: { cpu: '100m', memory: '64Mi' } });
    expect(container.volumeMounts).toEqual([
      { name: 'postgres-cluster-init', mountPath: '/opt/postgres-cluster' },
      { name: 'backup', mountPath: '/backup' },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(pod.volumes).toEqual([
      { name: 'postgres-cluster-init', configMap: { name: 'postgres-cluster-init', defaultMode: 0o755 } },
      { name: 'backup', persistentVolumeClaim: { claimName: 'postgres-backup' } },
      { name: 'tmp', emptyDir: {} },
    ]);
  });

  test('follows its props', () => {
    const { cronJob, claim, pod } = backupOf({ clusterName: 'orders', backupSchedule: '@hourly', backupRetention: 30, backupStorage: '50Gi', storageClassName: 'fast' });
    expect(cronJob.spec.schedule).toBe('@hourly');
    expect(claim.spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '50Gi' } } });
    expect(envOf(pod.containers[0])).toMatchObject({ PGHOST: 'orders-write', BACKUP_RETENTION: '30' });
    expect(cronJob.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/component': 'backup' });
  });

  test('backup: false leaves it out; its settings without it are refused', () => {
    const objects = synthCluster({ backup: false });
    expect(objects.filter(o => o.metadata.name === 'postgres-backup')).toEqual([]);
    expect(fails({ backup: false, backupSchedule: '@daily' })).toThrow(
      'PostgresClusterChart test: backupSchedule is set but backup is false: there is no backup to apply it to. Drop backupSchedule, or set backup to true.');
    expect(fails({ backup: false, backupRetention: 3 })).toThrow(/backupRetention is set but backup is false/);
  });

  test('refuses a schedule, retention or size that cannot work, naming the prop', () => {
    expect(fails({ backupSchedule: 'nightly' })).toThrow(
      'PostgresClusterChart test: backupSchedule "nightly" is not a cron schedule: give five fields (minute hour day-of-month month day-of-week), '
      + 'e.g. "0 3 * * *" for 03:00 every day, or a macro such as "@daily".');
    expect(fails({ backupRetention: 0 })).toThrow(/backupRetention must be an integer between 1 and 10000/);
    expect(fails({ backupStorage: 'lots' })).toThrow(/backupStorage/);
    const chart = Testing.chart();
    const statefulSet = new PostgresStatefulSet(chart, 'S', { config: new PostgresConfig(chart, 'C') });
    expect(() => new LogicalBackup(chart, 'B', { statefulSet, schedule: '* * *' })).toThrow(/LogicalBackup test\/B: schedule "\* \* \*" is not a cron schedule/);
    expect(() => new LogicalBackup(chart, 'B2', { statefulSet, retention: 1.5 })).toThrow(
      'LogicalBackup test/B2: retention must be an integer between 1 and 10000 (the number of dumps kept); got 1.5.');
    expect(() => new LogicalBackup(chart, 'B4', { statefulSet, storage: '10 GB' })).toThrow(/LogicalBackup test\/B4: storage "10 GB"/);
    expect(() => new LogicalBackup(chart, 'B5', { statefulSet, storageClassName: 'Fast_SSD' })).toThrow(/LogicalBackup test\/B5: storageClassName "Fast_SSD"/);
    for (const prop of ['schedule', 'storage', 'storageClassName'] as const) {
      expect(() => new LogicalBackup(chart, `T-${prop}`, { statefulSet, [prop]: 5 as any })).toThrow(new RegExp(`LogicalBackup test/T-${prop}: ${prop} `));
    }
    const backup = new LogicalBackup(chart, 'B3', { statefulSet });
    expect([backup.cronJobName, backup.claimName, backup.schedule, backup.retention]).toEqual(['postgres-backup', 'postgres-backup', '0 3 * * *', 7]);
  });
});

describe('LogicalBackup copied into an S3 bucket (backupS3)', () => {
  const S3 = { bucket: 'orders-dumps', credentials: S3Credentials.fromSecret('dump-keys') };

  test('pg_dump runs first (an init container), then the agent copies the dump into the bucket, keeping backupRetention there', () => {
    const { pod } = backupOf({ backupS3: S3, backupRetention: 3 });
    expect(pod.initContainers.map((c: any) => c.name)).toEqual(['backup']);
    expect(pod.initContainers[0].command).toEqual(['/bin/bash', '/opt/postgres-cluster/backup.sh']);
    expect(pod.containers.map((c: any) => c.name)).toEqual(['copy']);
    const copy = pod.containers[0];
    expect(copy.image).toMatch(/^(docker\.io\/library\/)?node:/);
    expect(copy.command).toEqual(['node', '/opt/postgres-cluster/agent.js', 'copy-dump']);
    const env = envOf(copy);
    expect(env).toMatchObject({
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 'dump-keys', key: 'access-key-id' } },
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'dump-keys', key: 'secret-access-key' } },
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    expect(env.NODE_EXTRA_CA_CERTS).toBeUndefined();
    // The document the agent reads is one it accepts: AWS by default, the cluster's "/<name>/logical", the retention.
    expect(parseDumpCopyConfig(env.DUMP_COPY_CONFIG, 'DUMP_COPY_CONFIG')).toEqual({
      version: 1,
      dumpDir: '/backup',
      database: 'myapp',
      retention: 3,
      bucket: 'orders-dumps',
      path: '/postgres/logical',
      endpoint: 's3.us-east-1.amazonaws.com',
      port: 443,
      region: 'us-east-1',
      uriStyle: 'host',
      verifyTls: true,
    });
    // The copy reads the dumps, never writes them.
    expect(copy.volumeMounts).toContainEqual({ name: 'backup', mountPath: '/backup', readOnly: true });
  });

  test('an S3-compatible server: endpoint, port, path style, a CA that Node.js trusts; the job may reach that port', () => {
    const { pod, objects } = backupOf({
      backupS3: { ...S3, endpoint: 'minio.storage.svc:9000', uriStyle: S3UriStyle.PATH, path: '/dumps', caCertificate: RepositoryCaCertificate.fromConfigMap('minio-ca', 'root.pem') },
    });
    const copy = pod.containers[0];
    expect(parseDumpCopyConfig(envOf(copy).DUMP_COPY_CONFIG, 'DUMP_COPY_CONFIG')).toMatchObject({ endpoint: 'minio.storage.svc', port: 9000, uriStyle: 'path', path: '/dumps' });
    expect(envOf(copy).NODE_EXTRA_CA_CERTS).toBe('/etc/postgres-cluster/backup-ca/ca.crt');
    expect(copy.volumeMounts).toContainEqual({ name: 'backup-ca', mountPath: '/etc/postgres-cluster/backup-ca', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'backup-ca', configMap: { name: 'minio-ca', items: [{ key: 'root.pem', path: 'ca.crt' }], defaultMode: 0o444 } });
    const policy = find(objects, 'NetworkPolicy', 'postgres-backup');
    expect(policy.spec.egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 9000 }] });
    const secretCa = backupOf({ backupS3: { ...S3, caCertificate: RepositoryCaCertificate.fromSecret('s3-ca') } }).pod;
    expect(secretCa.volumes).toContainEqual({ name: 'backup-ca', secret: { secretName: 's3-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }], defaultMode: 0o444 } });
  });

  test('without backupS3 the job is the dump alone, and its policy allows PostgreSQL and DNS only', () => {
    const { pod, objects } = backupOf();
    expect(pod.initContainers).toBeUndefined();
    expect(pod.containers.map((c: any) => c.name)).toEqual(['backup']);
    expect(find(objects, 'NetworkPolicy', 'postgres-backup').spec.egress).toHaveLength(2);
  });

  test.each([
    [{ backupS3: { bucket: 'Dumps', credentials: S3Credentials.fromSecret('k') } }, /PostgresClusterChart test: backupS3.bucket "Dumps" is not a bucket name S3 accepts/],
    [{ backupS3: { bucket: 'dumps' } as any }, /backupS3.credentials is missing: give S3Credentials.fromSecret/],
    [{ backupS3: { bucket: 'dumps', credentials: S3Credentials.webIdentity() } },
      'PostgresClusterChart test: backupS3.credentials is S3Credentials.webIdentity(), which the copy of the dumps cannot use (it signs with an access key): '
      + 'give S3Credentials.fromSecret("my-s3-keys").'],
    [{ backupS3: { bucket: 'dumps', path: 'dumps/', credentials: S3Credentials.fromSecret('k') } }, /backupS3.path "dumps\/" is not a directory in the bucket: .* e.g. "\/postgres\/logical"/],
    [{ backup: false, backupS3: { bucket: 'dumps', credentials: S3Credentials.fromSecret('k') } }, /backupS3 is set but backup is false/],
  ])('a bad backupS3 is refused, naming the prop: %j', (props, message) => {
    expect(fails(props as PostgresClusterChartProps)).toThrow(message);
  });

  test('the construct alone names its own prop, s3', () => {
    const chart = Testing.chart();
    const statefulSet = new PostgresStatefulSet(chart, 'S', { config: new PostgresConfig(chart, 'C') });
    expect(() => new LogicalBackup(chart, 'B', { statefulSet, s3: { bucket: 'x', credentials: S3Credentials.fromSecret('k') } }))
      .toThrow(/LogicalBackup test\/B: s3.bucket "x" is not a bucket name S3 accepts/);
    expect(() => new LogicalBackup(chart, 'B2', { statefulSet, s3: { bucket: 'dumps', credentials: S3Credentials.webIdentity() } }))
      .toThrow(/LogicalBackup test\/B2: s3.credentials is S3Credentials.webIdentity\(\)/);
    expect(new LogicalBackup(chart, 'B3', { statefulSet, s3: { bucket: 'dumps', endpoint: 'h:8443', credentials: S3Credentials.fromSecret('k') } }).s3)
      .toMatchObject({ bucket: 'dumps', endpoint: 'h', port: 8443, path: '/postgres/logical' });
  });
});
