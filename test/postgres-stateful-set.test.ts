import * as fs from 'fs';
import * as path from 'path';
import { Testing } from 'cdk8s';
import { PodAntiAffinity, PostgresConfig, PostgresConfigProps, PostgresResources, PostgresStatefulSet, PostgresStatefulSetProps } from '../src';
import { validate } from './support/schema';
import { container, envOf, find, Manifest, synthChart } from './support/synth';
import { typeProblems } from './support/typecheck';
import { scriptsDigest } from '../src/private/scripts';
import { WARNING_METADATA } from '../src/private/validation';

function statefulSet(props: Partial<PostgresStatefulSetProps> = {}, configProps: PostgresConfigProps = {}): Manifest[] {
  return synthChart(chart => {
    const config = new PostgresConfig(chart, 'Config', configProps);
    new PostgresStatefulSet(chart, 'StatefulSet', { config, ...props });
  });
}

/** The agent's configuration document (sidecar.json) in the cluster's scripts ConfigMap. */
function sidecarDocument(objects: Manifest[], cluster = 'postgres'): any {
  return JSON.parse(find(objects, 'ConfigMap', `${cluster}-cluster-init`).data['sidecar.json']);
}

function fails(props: Partial<PostgresStatefulSetProps>, configProps: PostgresConfigProps = {}): () => void {
  return () => {
    const chart = Testing.chart();
    new PostgresStatefulSet(chart, 'StatefulSet', { config: new PostgresConfig(chart, 'Config', configProps), ...props });
  };
}

describe('PostgresStatefulSet', () => {
  // Synthesized afresh before each test, so that a mutation run (Stryker, perTest) sees which tests cover which code.
  let objects: Manifest[];
  let sts: Manifest;
  let postgres: any;
  beforeEach(() => {
    objects = statefulSet();
    sts = find(objects, 'StatefulSet', 'postgres-cluster');
    postgres = container(objects, 'postgres');
  });

  test('the heartbeat fence beside PostgreSQL: the isolation fence\'s 10 s without automatic failover, its renew deadline with it', () => {
    const without = container(statefulSet(), 'lease-fence');
    expect(envOf(without, 'FENCE_SECONDS').value).toBe('10');
    const withFence = statefulSet({}, { automaticFailover: { renewDeadlineSeconds: 4, leaseDurationSeconds: 7 } });
    const fence = container(withFence, 'lease-fence');
    const server = container(withFence, 'postgres');
    // The image of PostgreSQL (bash, and the data directory's owner), the script of the ConfigMap.
    expect(fence.image).toBe(server.image);
    expect(fence.command).toEqual(['/bin/bash', '/opt/postgres-cluster/lease-fence.sh']);
    expect(find(withFence, 'ConfigMap', 'postgres-cluster-init').data['lease-fence.sh']).toMatch(/^#!\/usr\/bin\/env bash\n/);
    expect(envOf(fence, 'FENCE_SECONDS').value).toBe('4');
    expect(without.command).toEqual(fence.command);
    expect(envOf(fence, 'PGDATA').value).toBe('/var/lib/postgresql/data/pgdata');
    // The file the agent writes is the one the fence reads, in the pod's shared run directory.
    expect(envOf(fence, 'LEASE_DEADLINE_FILE').value).toBe(sidecarDocument(withFence).automaticFailover.deadlineFile);
    expect(fence.volumeMounts.map((m: any) => m.mountPath).sort()).toEqual(['/opt/postgres-cluster', '/var/lib/postgresql/data', '/var/run/postgresql']);
    expect(fence.securityContext).toEqual(server.securityContext);
  });

  test('runs 3 pods of postgres:15 under the headless Service, all at once (the leader record decides roles, not start order)', () => {
    expect(sts.spec).toMatchObject({ replicas: 3, serviceName: 'postgres-headless', podManagementPolicy: 'Parallel' });
    expect(postgres.image).toBe('postgres:15');
  });

  test('runs as the image postgres user, never as root', () => {
    expect(sts.spec.template.spec.securityContext).toMatchObject({ runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true });
    expect(postgres.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
  });

  test('every container meets Pod Security "restricted" on a read-only root filesystem; those that write have a /tmp volume of their own', () => {
    const pod = sts.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    const containers = [...pod.containers, ...pod.initContainers];
    expect(containers.map((c: any) => c.name)).toEqual(['postgres', 'role-labeler', 'lease-fence', 'metrics', 'secrets']);
    for (const c of containers) {
      expect([c.name, c.securityContext]).toEqual([c.name, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true }]);
    }
    const tmpOf = (name: string) => containers.find((c: any) => c.name === name).volumeMounts.find((m: any) => m.mountPath === '/tmp')?.name;
    expect(tmpOf('postgres')).toBe('tmp');
    // The agent writes no scratch files; kubectl keeps its cache under /tmp.
    expect(tmpOf('role-labeler')).toBeUndefined();
    expect(tmpOf('secrets')).toBe('secrets-tmp');
    for (const volume of ['tmp', 'secrets-tmp']) expect(pod.volumes).toContainEqual({ name: volume, emptyDir: {} });
  });

  test('keeps PGDATA in a subdirectory of the volume, away from lost+found', () => {
    expect(envOf(postgres, 'PGDATA').value).toBe('/var/lib/postgresql/data/pgdata');
    expect(postgres.volumeMounts).toContainEqual({ name: 'postgres-storage', mountPath: '/var/lib/postgresql/data' });
  });

  test('writes apiVersion and kind into the volume claim template (Argo CD stays in sync)', () => {
    expect(sts.spec.volumeClaimTemplates).toEqual([{
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'postgres-storage' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
    }]);
  });

  test('takes passwords from the Secrets: the postgres container as variables, the sidecar from the mounted files that the kubelet updates', () => {
    expect(envOf(postgres, 'POSTGRES_PASSWORD').valueFrom).toEqual({ secretKeyRef: { name: 'postgres-secret', key: 'password' } });
    expect(envOf(postgres, 'POSTGRES_REPLICATION_PASSWORD').valueFrom).toEqual({ secretKeyRef: { name: 'postgres-secret', key: 'replication-password' } });
    expect(envOf(postgres, 'APP_PASSWORD').valueFrom).toEqual({ secretKeyRef: { name: 'postgres-app', key: 'password' } });
    const labeler = container(objects, 'role-labeler');
    expect(labeler.env.filter((e: any) => e.valueFrom?.secretKeyRef)).toEqual([]);
    expect(labeler.volumeMounts).toEqual(expect.arrayContaining([
      { name: 'secret', mountPath: '/etc/postgres-cluster/secret', readOnly: true },
      { name: 'app-secret', mountPath: '/etc/postgres-cluster/app-secret', readOnly: true },
    ]));
    const document = sidecarDocument(objects);
    expect([document.secretDir, document.appSecretDir]).toEqual(['/etc/postgres-cluster/secret', '/etc/postgres-cluster/app-secret']);
    const volumes = sts.spec.template.spec.volumes;
    expect(volumes).toEqual(expect.arrayContaining([
      { name: 'secret', secret: { secretName: 'postgres-secret', defaultMode: 0o440, optional: true } },
      { name: 'app-secret', secret: { secretName: 'postgres-app', defaultMode: 0o440, optional: true } },
      { name: 'credentials', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    ]));
    // One password file, in memory, for both: the sidecar rewrites it when a Secret changes.
    expect(envOf(postgres, 'PGPASSFILE').value).toBe('/var/run/postgres-credentials/pgpass');
    expect(document.passwordFile).toBe('/var/run/postgres-credentials/pgpass');
    for (const c of [postgres, labeler]) expect(c.volumeMounts).toContainEqual({ name: 'credentials', mountPath: '/var/run/postgres-credentials' });
    expect(container(objects, 'metrics').volumeMounts.map((m: any) => m.name)).not.toContain('credentials');
  });

  test('the secrets init container creates the generated Secrets, with the application\'s connection details', () => {
    const init = sts.spec.template.spec.initContainers[0];
    expect(init.command).toEqual(['/bin/bash', '/opt/postgres-cluster/ensure-secrets.sh']);
    expect(Object.fromEntries(init.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]))).toEqual({
      SECRET_NAME: 'postgres-secret',
      APP_SECRET_NAME: 'postgres-app',
      APP_USER: 'app',
      APP_DATABASE: 'myapp',
      APP_HOST: 'postgres-write',
      PGPORT: '5432',
      SECRET_LABELS: JSON.stringify({ 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'postgres', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster' }),
      HOME: '/tmp',
    });
    const onlyApp = find(statefulSet({}, { existingSecretName: 'mine', clusterName: 'orders', appUser: 'shop', database: 'shop' }), 'StatefulSet', 'orders-cluster');
    const onlyAppInit = onlyApp.spec.template.spec.initContainers[0];
    expect(Object.fromEntries(onlyAppInit.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value])))
      .toMatchObject({ SECRET_NAME: '', APP_SECRET_NAME: 'orders-app', APP_USER: 'shop', APP_DATABASE: 'shop', APP_HOST: 'orders-write' });
    const none = find(statefulSet({}, { existingSecretName: 'mine', appPassword: 'a' }), 'StatefulSet', 'postgres-cluster');
    expect(none.spec.template.spec.initContainers).toBeUndefined();
    expect(none.spec.template.spec.volumes).toContainEqual({ name: 'secret', secret: { secretName: 'mine', defaultMode: 0o440, optional: true } });
  });

  test('the postgres container makes its own certificate, or mounts the one given, for TLS', () => {
    expect(envOf(postgres, 'TLS_MODE').value).toBe('generate');
    expect(postgres.volumeMounts.map((m: any) => m.name)).not.toContain('tls');
    const given = statefulSet({}, { tlsSecretName: 'postgres-tls' });
    const pg = container(given, 'postgres');
    expect(envOf(pg, 'TLS_MODE').value).toBe('secret');
    expect(pg.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/postgres-cluster/tls', readOnly: true });
    expect(find(given, 'StatefulSet', 'postgres-cluster').spec.template.spec.volumes)
      .toContainEqual({ name: 'tls', secret: { secretName: 'postgres-tls', defaultMode: 0o440 } });
    expect(envOf(container(statefulSet({}, { tls: false }), 'postgres'), 'TLS_MODE').value).toBe('off');
    // The sidecar sees it too: it reloads PostgreSQL when the certificate is renewed.
    const labeler = container(given, 'role-labeler');
    expect(sidecarDocument(given).tlsSecretDir).toBe('/etc/postgres-cluster/tls');
    expect(labeler.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/postgres-cluster/tls', readOnly: true });
    expect(sidecarDocument(objects).tlsSecretDir).toBe('');
  });

  test('pg_rewind and the sidecars reach other pods as the replication role, or as the superuser before PostgreSQL 15', () => {
    expect([envOf(postgres, 'NETWORK_USER').value, envOf(postgres, 'REPLICATION_USER').value, envOf(postgres, 'POSTGRES_USER').value, envOf(postgres, 'APP_USER').value])
      .toEqual(['replicator', 'replicator', 'postgres', 'app']);
    expect(sidecarDocument(objects).users).toEqual({ network: 'replicator', replication: 'replicator', superuser: 'postgres', app: 'app' });
    const v14 = statefulSet({}, { postgresVersion: 14 });
    expect(envOf(container(v14, 'postgres'), 'NETWORK_USER').value).toBe('postgres');
    expect(sidecarDocument(v14).users.network).toBe('postgres');
    expect(sidecarDocument(statefulSet({}, { postgresVersion: 15, replicationUser: 'streamer' })).users.network).toBe('streamer');
  });

  test('starts with the embedded entrypoint script, mounted with the other scripts', () => {
    expect(postgres.command).toEqual(['/bin/bash', '/opt/postgres-cluster/init-replica.sh']);
    const scripts = find(objects, 'ConfigMap', 'postgres-cluster-init').data;
    for (const file of ['init-replica.sh', 'pg-node.sh', 'leader-record.sh', 'common.sh', 'ensure-secrets.sh']) {
      expect(scripts[file]).toBe(fs.readFileSync(path.join(__dirname, '..', 'src', 'scripts', file), 'utf8'));
    }
    // The agent: its bundle, as built from src/agent/, beside the scripts.
    expect(scripts['agent.js']).toBe(fs.readFileSync(path.join(__dirname, '..', 'src', 'agent', 'agent.bundle.js'), 'utf8'));
    expect(scripts['role-labeler.sh']).toBeUndefined();
  });

  test('clones replicas from the write Service peers found through the headless Service', () => {
    expect(envOf(postgres, 'PRIMARY_HOST').value).toBe('postgres-write');
    expect(envOf(postgres, 'PEER_DOMAIN').value).toBe('postgres-headless');
    expect(envOf(postgres, 'POD_NAME').valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
  });

  test('the headless Service publishes pods before they are ready, so peers resolve during bootstrap', () => {
    const headless = find(objects, 'Service', 'postgres-headless');
    expect(headless.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(headless.spec.selector).toEqual(sts.spec.selector.matchLabels);
  });

  test('a pod is ready while PostgreSQL accepts connections and, for a replica, streams', () => {
    expect(postgres.readinessProbe.exec.command).toEqual(['/bin/bash', '/opt/postgres-cluster/pg-node.sh', 'ready']);
  });

  test('the kubelet waits an hour for PostgreSQL to start (initdb, a clone), then restarts only a wedged container', () => {
    // Checked every second for 3600 s: the postmaster answers, if only to say that it is recovering.
    expect(postgres.startupProbe).toEqual({
      exec: { command: ['/bin/bash', '/opt/postgres-cluster/pg-node.sh', 'live', 'started'] },
      periodSeconds: 1,
      timeoutSeconds: 5,
      failureThreshold: 3600,
    });
    // Six failures in a row, a minute of a postmaster that answers nothing: never a long crash recovery or catch-up.
    expect(postgres.livenessProbe).toEqual({
      exec: { command: ['/bin/bash', '/opt/postgres-cluster/pg-node.sh', 'live'] },
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 6,
    });
    expect(container(statefulSet({ startupTimeoutSeconds: 86_400 }), 'postgres').startupProbe.failureThreshold).toBe(86_400);
    // The sidecars have no probes: the postgres container's decide the pod's fate.
    for (const name of ['role-labeler', 'metrics']) {
      expect(Object.keys(container(objects, name)).filter(k => k.endsWith('Probe'))).toEqual([]);
    }
  });

  test('only the sidecar has an API token; it runs the agent on the Node.js image, not the postgres image', () => {
    const pod = sts.spec.template.spec;
    const labeler = container(objects, 'role-labeler');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.shareProcessNamespace).toBe(true);
    expect(postgres.volumeMounts.map((m: any) => m.mountPath)).not.toContain('/var/run/secrets/kubernetes.io/serviceaccount');
    expect(labeler.volumeMounts).toContainEqual({ name: 'api-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true });
    expect(pod.volumes.find((v: any) => v.name === 'api-token').projected.sources[0]).toEqual({ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } });
    expect(labeler.image).toBe('docker.io/library/node:20.20.2-alpine');
    expect(container(statefulSet({ agentImage: 'registry.example.com/mirror/node:22' }), 'role-labeler').image).toBe('registry.example.com/mirror/node:22');
    expect(labeler.command).toEqual(['node', '/opt/postgres-cluster/agent.js', 'sidecar', '/opt/postgres-cluster/sidecar.json']);
    // The secrets init container (generated passwords) has the sidecar's token too; no other container has one.
    expect(pod.initContainers[0].volumeMounts).toContainEqual({ name: 'api-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true });
    expect([...pod.containers, ...pod.initContainers].filter((c: any) => c.volumeMounts.some((m: any) => m.name === 'api-token')).map((c: any) => c.name))
      .toEqual(['role-labeler', 'secrets']);
    // Both containers share the socket directory, where the sidecar leaves the leader record for the entrypoint.
    for (const c of [postgres, labeler]) expect(c.volumeMounts).toContainEqual({ name: 'run', mountPath: '/var/run/postgresql' });
  });

  test('the role-labeler sidecar may read, keep and delete (to roll an update) only its cluster\'s pods, and read only its StatefulSet and leader record', () => {
    const labeler = container(objects, 'role-labeler');
    expect(labeler.volumeMounts).toContainEqual({ name: 'postgres-storage', mountPath: '/var/lib/postgresql/data' });
    const document = sidecarDocument(objects);
    expect(document.leaderRecord).toBe('postgres-leader');
    expect(document.recordLabels).toMatchObject({ 'app.kubernetes.io/instance': 'postgres' });
    expect(document.timing.isolationFenceSeconds).toBe(10);
    expect(sts.spec.template.spec.serviceAccountName).toBe('postgres-cluster');
    const role = find(objects, 'Role', 'postgres-cluster');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch', 'delete'], resourceNames: Array.from({ length: 10 }, (_, i) => `postgres-cluster-${i}`) },
      { apiGroups: ['apps'], resources: ['statefulsets'], resourceNames: ['postgres-cluster'], verbs: ['get'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['postgres-leader'], verbs: ['get', 'watch', 'patch', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['postgres-secret', 'postgres-app'], verbs: ['get'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    // With every Secret given, no pod may create or read one.
    const given = find(statefulSet({}, { existingSecretName: 'mine', existingAppSecretName: 'apps' }), 'Role', 'postgres-cluster');
    expect(given.rules.filter((r: any) => r.resources.includes('secrets'))).toEqual([]);
    expect(find(objects, 'RoleBinding', 'postgres-cluster')).toMatchObject({
      roleRef: { kind: 'Role', name: 'postgres-cluster' }, subjects: [{ kind: 'ServiceAccount', name: 'postgres-cluster' }],
    });
  });

  test('props change the pods as documented', () => {
    const custom = statefulSet({ replicas: 5, image: 'registry.example.com/postgres:16.4', storage: '100Gi', storageClassName: 'fast' },
      { postgresVersion: 16, clusterName: 'orders' });
    const s = find(custom, 'StatefulSet', 'orders-cluster');
    expect(s.spec.replicas).toBe(5);
    expect(container(custom, 'postgres', 'orders-cluster').image).toBe('registry.example.com/postgres:16.4');
    expect(s.spec.volumeClaimTemplates[0].spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '100Gi' } } });
    expect(container(statefulSet({}, { postgresVersion: 17 }), 'postgres').image).toBe('postgres:17');
  });

  test('pods prefer different nodes and spread across zones; a drain takes one pod at a time', () => {
    const selector = { 'app': 'postgres', 'app.kubernetes.io/instance': 'postgres' };
    expect(sts.spec.template.spec.affinity).toEqual({
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } } },
        ],
      },
    });
    expect(sts.spec.template.spec.topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector } },
    ]);
    expect(find(objects, 'PodDisruptionBudget', 'postgres-cluster').spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: selector } });
    expect(sts.spec.selector.matchLabels).toEqual(selector);
  });

  test('placement and disruption rules follow their props', () => {
    const strict = statefulSet({ podAntiAffinity: PodAntiAffinity.REQUIRED }, { clusterName: 'orders' });
    expect(find(strict, 'StatefulSet', 'orders-cluster').spec.template.spec.affinity).toEqual({
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{
          topologyKey: 'kubernetes.io/hostname',
          labelSelector: { matchLabels: { 'app': 'orders', 'app.kubernetes.io/instance': 'orders' } },
        }],
      },
    });
    const loose = statefulSet({ podAntiAffinity: PodAntiAffinity.NONE, spreadAcrossZones: false, podDisruptionBudget: false });
    const spec = find(loose, 'StatefulSet', 'postgres-cluster').spec.template.spec;
    expect(spec.affinity).toBeUndefined();
    expect(spec.topologySpreadConstraints).toBeUndefined();
    expect(loose.filter(o => o.kind === 'PodDisruptionBudget')).toEqual([]);
  });

  test('the postgres container requests CPU and memory by default, without limits; given resources replace them', () => {
    expect(postgres.resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' } });
    const sized = statefulSet({ resources: { requests: { 'memory': '4Gi', 'ephemeral-storage': '1Gi' }, limits: { cpu: '2' } } });
    expect(container(sized, 'postgres').resources).toEqual({ requests: { 'memory': '4Gi', 'ephemeral-storage': '1Gi' }, limits: { cpu: '2' } });
    expect(container(statefulSet({ resources: { limits: { cpu: '1.5', memory: '1e9' } } }), 'postgres').resources).toEqual({ limits: { cpu: '1.5', memory: '1e9' } });
  });

  test('a user sets the postgres container\'s resources with this package\'s exports alone, without importing cdk8s-plus-27', () => {
    // A user's program that imports only cdk8s and this package (its public index, src/index.ts), type-checked strictly.
    const root = path.join(__dirname, '..');
    const file = path.join(root, 'test', 'user-program.ts');
    const program = [
      "import { App } from 'cdk8s';",
      `import { PostgresClusterChart } from '${path.join(root, 'src')}';`,
      "new PostgresClusterChart(new App(), 'db', { resources: { requests: { cpu: '1', memory: '4Gi' }, limits: { memory: '4Gi' } } });",
    ].join('\n');
    // The program lives in memory only: the compiler reads every other file from disk.
    const problems = typeProblems(file, program);
    expect(problems).toEqual([]);
  });

  test('a metrics sidecar exports PostgreSQL\'s statistics on port 9187 as a read-only role over the Unix socket', () => {
    const metrics = container(objects, 'metrics');
    expect(metrics.image).toBe('quay.io/prometheuscommunity/postgres-exporter:v0.15.0');
    expect(metrics.ports).toEqual([{ containerPort: 9187, name: 'metrics' }]);
    expect(envOf(metrics, 'DATA_SOURCE_NAME').value).toBe('host=/var/run/postgresql user=postgres_exporter dbname=postgres sslmode=disable');
    expect(metrics.args).toEqual(['--web.listen-address=:9187', '--extend.query-path=/etc/postgres-exporter/exporter-queries.yaml']);
    expect(metrics.volumeMounts).toEqual([
      { name: 'run', mountPath: '/var/run/postgresql' }, { name: 'postgres-config', mountPath: '/etc/postgres-exporter', readOnly: true },
    ]);
    expect(metrics.env.some((e: any) => e.valueFrom?.secretKeyRef)).toBe(false);
    const init = find(objects, 'ConfigMap', 'postgres-init').data['02-create-monitoring-role.sql'];
    expect(init).toContain('CREATE ROLE postgres_exporter WITH LOGIN;');
    expect(init).toContain('GRANT pg_monitor TO postgres_exporter;');
    expect(init).not.toMatch(/PASSWORD|SUPERUSER/i);
    expect(objects.filter(o => o.kind === 'PodMonitor')).toEqual([]);
  });

  test('metrics can be turned off, scraped by a PodMonitor, or exported by another image', () => {
    expect(statefulSet({ metrics: false }).find(o => o.kind === 'StatefulSet')!.spec.template.spec.containers.map((c: any) => c.name))
      .toEqual(['postgres', 'role-labeler', 'lease-fence']);
    const monitored = statefulSet({ podMonitor: true, metricsImage: 'registry.example.com/postgres-exporter:v0.16.0' }, { clusterName: 'orders' });
    expect(find(monitored, 'PodMonitor', 'orders-cluster').spec).toEqual({
      selector: { matchLabels: { 'app': 'orders', 'app.kubernetes.io/instance': 'orders' } },
      podMetricsEndpoints: [{ port: 'metrics', path: '/metrics' }],
    });
    expect(() => validate(find(monitored, 'PodMonitor', 'orders-cluster'))).not.toThrow();
    expect(container(monitored, 'metrics', 'orders-cluster').image).toBe('registry.example.com/postgres-exporter:v0.16.0');
  });

  test('the postgres container gets its database, users, configuration and initdb arguments from the config', () => {
    // GIVEN a config with its own names WHEN the pods are synthesized THEN the entrypoint's variables carry them
    const custom = statefulSet({}, { clusterName: 'orders', database: 'shop', replicationUser: 'streamer', initdbArgs: '--data-checksums', synchronousReplicas: 1 });
    const pg = container(custom, 'postgres', 'orders-cluster');
    const values = Object.fromEntries(pg.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
    expect(values).toEqual({
      POSTGRES_DB: 'shop',
      POSTGRES_USER: 'postgres',
      PGDATA: '/var/lib/postgresql/data/pgdata',
      REPLICATION_USER: 'streamer',
      APP_USER: 'app',
      NETWORK_USER: 'streamer',
      PGPASSFILE: '/var/run/postgres-credentials/pgpass',
      PRIMARY_HOST: 'orders-write',
      PEER_DOMAIN: 'orders-headless',
      POSTGRES_CONFIG_DIR: '/etc/postgresql',
      POSTGRES_INITDB_ARGS: '--data-checksums',
      TLS_MODE: 'generate',
    });
    // The start plan (the sidecar's agent) decides whether to wait for synchronous membership: no SYNC_REPLICAS here.
    expect(envOf(pg, 'SYNC_REPLICAS')).toBeUndefined();
    expect(envOf(pg, 'POSTGRES_PASSWORD').valueFrom).toEqual({ secretKeyRef: { name: 'orders-secret', key: 'password' } });
    expect(envOf(postgres, 'POSTGRES_INITDB_ARGS').value).toBe('--encoding=UTF8 --locale=C');
    expect(envOf(postgres, 'POSTGRES_DB').value).toBe('myapp');
    expect(envOf(postgres, 'REPLICATION_USER').value).toBe('replicator');
  });

  test('the postgres container listens on 5432, and reads its configuration, init scripts and scripts from the ConfigMaps', () => {
    expect(postgres.ports).toEqual([{ containerPort: 5432, name: 'postgres' }]);
    expect(postgres.readinessProbe).toMatchObject({ periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 2 });
    expect(postgres.volumeMounts).toEqual([
      { name: 'postgres-storage', mountPath: '/var/lib/postgresql/data' },
      { name: 'postgres-config', mountPath: '/etc/postgresql' },
      { name: 'postgres-init', mountPath: '/docker-entrypoint-initdb.d/' },
      { name: 'postgres-cluster-init', mountPath: '/opt/postgres-cluster' },
      { name: 'run', mountPath: '/var/run/postgresql' },
      { name: 'credentials', mountPath: '/var/run/postgres-credentials' },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    const volumes = sts.spec.template.spec.volumes;
    expect(volumes).toContainEqual({ name: 'postgres-config', configMap: { name: 'postgres-config' } });
    expect(volumes).toContainEqual({ name: 'postgres-init', configMap: { name: 'postgres-init' } });
    // The scripts are run by path: executable.
    expect(volumes).toContainEqual({ name: 'postgres-cluster-init', configMap: { name: 'postgres-cluster-init', defaultMode: 0o755 } });
    expect(volumes).toContainEqual({ name: 'run', emptyDir: {} });
  });

  test('the sidecar\'s API token is projected with the cluster CA and the namespace, as the service account\'s would be', () => {
    const token = sts.spec.template.spec.volumes.find((v: any) => v.name === 'api-token');
    expect(token.projected.sources).toEqual([
      { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
    ]);
  });

  test('the role-labeler sidecar knows its pod from the downward API, and everything else from its configuration document', () => {
    const custom = statefulSet({}, { clusterName: 'orders', synchronousReplicas: 1 });
    const labeler = container(custom, 'role-labeler', 'orders-cluster');
    expect(labeler.env).toEqual([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);
    expect(sidecarDocument(custom, 'orders')).toMatchObject({
      pgdata: '/var/lib/postgresql/data/pgdata',
      roleLabel: 'role',
      leaderRecord: 'orders-leader',
      recordLabels: { 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster' },
      clusterSelector: 'app=orders,app.kubernetes.io/instance=orders',
      primaryHost: 'orders-write',
      synchronousReplicas: 1,
    });
    expect(labeler.volumeMounts).toContainEqual({ name: 'secret', mountPath: '/etc/postgres-cluster/secret', readOnly: true });
    expect(find(custom, 'StatefulSet', 'orders-cluster').spec.template.spec.volumes)
      .toContainEqual({ name: 'app-secret', secret: { secretName: 'orders-app', defaultMode: 0o440, optional: true } });
    expect(labeler.volumeMounts).toContainEqual({ name: 'orders-cluster-init', mountPath: '/opt/postgres-cluster' });
  });

  test('the sidecars and the init container request a little CPU and memory', () => {
    const pod = sts.spec.template.spec;
    expect(container(objects, 'role-labeler').resources).toEqual({ requests: { cpu: '10m', memory: '64Mi' } });
    expect(container(objects, 'metrics').resources).toEqual({ requests: { cpu: '10m', memory: '32Mi' } });
    expect(pod.initContainers[0].resources).toEqual({ requests: { cpu: '10m', memory: '16Mi' } });
    expect(pod.initContainers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
  });

  test('pods carry the cluster\'s labels and the database component; the volume group is set only when it differs; no service links', () => {
    const custom = statefulSet({ podMonitor: true }, { clusterName: 'orders' });
    const s = find(custom, 'StatefulSet', 'orders-cluster');
    expect(s.spec.template.metadata.labels).toEqual({ ...{ 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster' }, 'app': 'orders', 'app.kubernetes.io/component': 'database' });
    expect(s.spec.template.spec).toMatchObject({ enableServiceLinks: false, securityContext: { fsGroupChangePolicy: 'OnRootMismatch' } });
    for (const [kind, name] of [['StatefulSet', 'orders-cluster'], ['Service', 'orders-headless'], ['ServiceAccount', 'orders-cluster'],
      ['Role', 'orders-cluster'], ['RoleBinding', 'orders-cluster'], ['PodDisruptionBudget', 'orders-cluster'], ['PodMonitor', 'orders-cluster']]) {
      expect([kind, find(custom, kind, name).metadata.labels]).toEqual([kind, { 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster' }]);
    }
    expect(find(custom, 'Service', 'orders-headless').spec.ports).toEqual([{ port: 5432, name: 'postgres' }]);
  });

  test('exposes its name, headless Service, pod count, images and selector', () => {
    const chart = Testing.chart();
    const s = new PostgresStatefulSet(chart, 'S', { config: new PostgresConfig(chart, 'C', { clusterName: 'orders', postgresVersion: 16 }), replicas: 2 });
    expect([s.name, s.headlessServiceName, s.replicas, s.image, s.kubectlImage, s.agentImage])
      .toEqual(['orders-cluster', 'orders-headless', 2, 'postgres:16', 'docker.io/alpine/k8s:1.33.9', 'docker.io/library/node:20.20.2-alpine']);
    expect(s.selectorLabels).toEqual({ 'app': 'orders', 'app.kubernetes.io/instance': 'orders' });
  });

  describe('fails at synth', () => {
    test('fails on a PodMonitor without metrics to scrape', () => {
      expect(fails({ podMonitor: true, metrics: false })).toThrow(
        'PostgresStatefulSet test/StatefulSet: podMonitor is true but metrics is false: there would be nothing to scrape. Set metrics to true, or drop podMonitor.');
    });

    test('fails on a podAntiAffinity that is not one of the choices', () => {
      expect(fails({ podAntiAffinity: 'sometimes' as PodAntiAffinity })).toThrow(
        'PostgresStatefulSet test/StatefulSet: podAntiAffinity "sometimes" is not one of "preferred", "required", "none" (PodAntiAffinity.PREFERRED, REQUIRED or NONE).');
    });

    test('fails when replicas is below 1', () => {
      expect(fails({ replicas: 0 })).toThrow(
        'PostgresStatefulSet test/StatefulSet: replicas must be an integer between 1 and 10 (one primary plus replicas, at most the config\'s maxReplicas (10)); got 0.');
      expect(fails({ replicas: 1.5 })).toThrow(/replicas must be an integer/);
      expect(fails({ replicas: 11 })).toThrow(/got 11/);
      expect(fails({ replicas: 11 }, { maxReplicas: 11 })).not.toThrow();
    });

    test('fails on a storage size Kubernetes cannot parse', () => {
      expect(fails({ storage: '10 GB' })).toThrow('storage "10 GB" is not a storage size: use a positive Kubernetes quantity such as "10Gi", "500Mi" or "1Ti".');
      expect(fails({ storage: '0Gi' })).toThrow(/is not a storage size/);
      expect(fails({ storage: 'lots' })).toThrow(/is not a storage size/);
    });

    test('fails when synchronous replication needs more replicas than there are', () => {
      expect(fails({ replicas: 2 }, { synchronousReplicas: 2 })).toThrow(
        'synchronousReplicas 2 needs at least 3 pods; replicas is 2. Raise replicas or lower synchronousReplicas, or writes would wait forever.');
    });

    test('warns when synchronous replication asks every replica to confirm, since one replica down would stop every write', () => {
      const warnings = (replicas: number, synchronousReplicas: number) => {
        const chart = Testing.chart();
        const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
        try {
          const made = new PostgresStatefulSet(chart, 'StatefulSet', { config: new PostgresConfig(chart, 'Config', { synchronousReplicas }), replicas });
          const recorded = made.node.metadata.filter(m => m.type === WARNING_METADATA).map(m => m.data as string);
          expect(stderr.mock.calls.map(call => String(call[0]))).toEqual(recorded.map(message => `[WARNING] ${message}\n`));
          return recorded;
        } finally {
          stderr.mockRestore();
        }
      };
      expect(warnings(3, 2)).toEqual(['PostgresStatefulSet test/StatefulSet: synchronousReplicas 2 asks every replica (2 of 3 pods) to confirm each commit: '
        + 'while any replica is down (a restart, an update, a node drain), every write waits. Raise replicas to 4 or lower synchronousReplicas to 1.']);
      expect(warnings(2, 1)).toEqual([expect.stringContaining('synchronousReplicas 1 asks every replica (1 of 2 pods)')]);
      expect(warnings(3, 1)).toEqual([]);
      expect(warnings(4, 2)).toEqual([]);
      expect(warnings(1, 0)).toEqual([]);
      expect(warnings(3, 0)).toEqual([]);
    });

    test('fails on a startupTimeoutSeconds that is not a whole number of seconds, at least 10', () => {
      expect(fails({ startupTimeoutSeconds: 5 })).toThrow(
        'PostgresStatefulSet test/StatefulSet: startupTimeoutSeconds must be an integer between 10 and 2147483647 (seconds the entrypoint may take to '
        + 'initialize, clone or rewind; PostgreSQL itself needs a few to start); got 5.');
      expect(fails({ startupTimeoutSeconds: 60.5 })).toThrow(/startupTimeoutSeconds must be an integer/);
      expect(fails({ startupTimeoutSeconds: '3600' as unknown as number })).toThrow(/startupTimeoutSeconds must be an integer .*; got "3600"/);
    });

    test('fails on resources that are not Kubernetes quantities, naming the resource', () => {
      expect(fails({ resources: { requests: { memory: '4 GB' } } })).toThrow(
        'PostgresStatefulSet test/StatefulSet: resources.requests["memory"] "4 GB" is not a Kubernetes quantity: use a string such as "500m" or "2" (CPU) or "1Gi" (memory).');
      expect(fails({ resources: { limits: { cpu: 2 as unknown as string } } })).toThrow('resources.limits["cpu"] number 2 is not a Kubernetes quantity');
      expect(fails({ resources: { limits: { cpu: '-1' } } })).toThrow('resources.limits["cpu"] "-1" is not a Kubernetes quantity');
      expect(fails({ resources: { requests: 'lots' as unknown as { [resource: string]: string } } })).toThrow(
        'PostgresStatefulSet test/StatefulSet: resources.requests must be an object of resource names to quantities, e.g. { cpu: "500m", memory: "1Gi" }; got "lots".');
      expect(fails({ resources: '1Gi' as unknown as PostgresResources })).toThrow(
        'PostgresStatefulSet test/StatefulSet: resources must be an object with requests and limits, e.g. { requests: { cpu: "500m", memory: "1Gi" } }; got "1Gi".');
    });

    test('fails on an image reference that is not one', () => {
      expect(fails({ image: 'postgres 15' })).toThrow('image "postgres 15" is not a container image reference');
      expect(fails({ kubectlImage: '' })).toThrow(/kubectlImage "" is not a container image reference/);
      expect(fails({ agentImage: 'node 20' })).toThrow(/agentImage "node 20" is not a container image reference/);
    });

    test('fails on a metrics image or a storage class that is not a valid name', () => {
      expect(fails({ metricsImage: 'exporter latest' })).toThrow(
        'PostgresStatefulSet test/StatefulSet: metricsImage "exporter latest" is not a container image reference, e.g. "postgres:15" or "registry.example.com/postgres:15.8".');
      expect(fails({ storageClassName: 'Fast_SSD' })).toThrow('PostgresStatefulSet test/StatefulSet: storageClassName "Fast_SSD" is not a Kubernetes object name');
    });

    test('fails when a prop has the wrong type (a JavaScript or Python caller)', () => {
      for (const prop of ['image', 'storage', 'storageClassName', 'kubectlImage', 'agentImage', 'metricsImage']) {
        expect(fails({ [prop]: 5 })).toThrow(`PostgresStatefulSet test/StatefulSet: ${prop} must be a string; got number 5.`);
      }
      for (const prop of ['spreadAcrossZones', 'podDisruptionBudget', 'metrics', 'podMonitor']) {
        expect(fails({ [prop]: 'yes' })).toThrow(`PostgresStatefulSet test/StatefulSet: ${prop} must be a boolean; got "yes".`);
      }
    });
  });
});

describe('the pod template carries the scripts\' digest', () => {
  test('scriptsDigest: each key with its value, whatever the order the keys were written in', () => {
    const digest = scriptsDigest({ 'a.sh': 'one', 'b.sh': 'two' });
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(scriptsDigest({ 'b.sh': 'two', 'a.sh': 'one' })).toBe(digest);
    expect(scriptsDigest({ 'a.sh': 'two', 'b.sh': 'one' })).not.toBe(digest);
    expect(scriptsDigest({ 'c.sh': 'one', 'b.sh': 'two' })).not.toBe(digest);
    expect(scriptsDigest({ 'a.sh': 'one' })).not.toBe(digest);
    expect(scriptsDigest({ 'a.sh': 'on', 'b.sh': 'etwo' })).not.toBe(digest);
  });

  function synthesized(configProps: PostgresConfigProps): { digest: string; scripts: unknown } {
    // An image with pgBackRest, which walArchive needs.
    const objects = statefulSet({ image: 'registry.example.com/postgres-pgbackrest:15' }, configProps);
    const digest = find(objects, 'StatefulSet', 'postgres-cluster').spec.template.metadata.annotations['postgres.cdk8s.io/scripts-sha256'];
    return { digest, scripts: find(objects, 'ConfigMap', 'postgres-cluster-init').data };
  }

  test('the same when the scripts ConfigMap holds the same; another when a script, the agent or its settings change', () => {
    const variants: Array<[string, PostgresConfigProps]> = [
      ['the defaults', {}],
      ['the defaults again', {}],
      ['other PostgreSQL settings (another ConfigMap)', { maxConnections: 300 }],
      ['other init scripts (another ConfigMap)', { initScripts: { '10-app.sql': 'CREATE TABLE t (v int);' } }],
      ['synchronous mode (the agent\'s settings)', { synchronousReplicas: 1 }],
      ['automatic failover (the agent\'s settings)', { automaticFailover: {} }],
      ['another lease duration', { automaticFailover: { leaseDurationSeconds: 20 } }],
      ['WAL archiving (one more script)', { walArchive: {} }],
    ];
    const seen = variants.map(([name, props]) => ({ name, ...synthesized(props) }));
    for (const { digest } of seen) expect(digest).toMatch(/^[0-9a-f]{64}$/);
    const pairs: string[] = [];
    for (const a of seen) {
      for (const b of seen) {
        if (a.name >= b.name) continue;
        const sameScripts = JSON.stringify(a.scripts) === JSON.stringify(b.scripts);
        expect([a.name, b.name, a.digest === b.digest]).toEqual([a.name, b.name, sameScripts]);
        if (sameScripts) pairs.push(`${a.name} = ${b.name}`);
      }
    }
    // The defaults, other settings and other init scripts share one scripts ConfigMap; the rest each have their own.
    expect(pairs.sort()).toEqual([
      'other PostgreSQL settings (another ConfigMap) = other init scripts (another ConfigMap)',
      'the defaults = other PostgreSQL settings (another ConfigMap)',
      'the defaults = other init scripts (another ConfigMap)',
      'the defaults = the defaults again',
      'the defaults again = other PostgreSQL settings (another ConfigMap)',
      'the defaults again = other init scripts (another ConfigMap)',
    ].map(pair => pair.split(' = ').sort().join(' = ')).sort());
  });
});

describe('the pod template carries the digest of the settings that need a restart', () => {
  const digestOf = (configProps: PostgresConfigProps) => find(statefulSet({}, configProps), 'StatefulSet', 'postgres-cluster')
    .spec.template.metadata.annotations['postgres.cdk8s.io/restart-settings-sha256'];

  test('a setting that a reload applies leaves the pod template alone; one that needs a restart changes it, and so rolls the pods', () => {
    const defaults = digestOf({});
    expect(defaults).toMatch(/^[0-9a-f]{64}$/);
    expect(digestOf({})).toBe(defaults);
    // Reloaded by each pod's agent: the same template, no roll.
    const reloaded: Array<Record<string, string>> = [{ work_mem: '64MB' }, { log_min_duration_statement: '1s', random_page_cost: '1.1' }, { wal_sender_timeout: '20s' }];
    for (const extraSettings of reloaded) {
      expect([extraSettings, digestOf({ extraSettings })]).toEqual([extraSettings, defaults]);
    }
    // Needs a restart: another template, a rolling update with one switchover.
    const restarts: PostgresConfigProps[] = [
      { extraSettings: { shared_buffers: '1GB' } },
      { extraSettings: { max_prepared_transactions: '10' } },
      { extraSettings: { wal_level: 'logical' } },
      { extraSettings: { 'pg_stat_statements.max': '5000' } },
      { maxConnections: 200 },
      { maxReplicas: 12 },
    ];
    const digests = restarts.map(digestOf);
    for (const [i, digest] of digests.entries()) expect([restarts[i], digest === defaults]).toEqual([restarts[i], false]);
    expect(new Set(digests).size).toBe(digests.length);
    expect(digestOf({ extraSettings: { shared_buffers: '1GB', work_mem: '64MB' } })).toBe(digests[0]);
  });
});

test('the sidecar reads postgresql.conf and pg_hba.conf (to reload a change) and nothing else of the ConfigMap, read-only', () => {
  const objects = statefulSet({ image: 'registry.example.com/postgres-pgbackrest:15' }, { walArchive: {} });
  const template = find(objects, 'StatefulSet', 'postgres-cluster').spec.template;
  const sidecar = template.spec.containers.find((c: any) => c.name === 'role-labeler');
  expect(sidecar.volumeMounts.find((m: any) => m.mountPath === '/etc/postgresql')).toEqual({ name: 'settings', mountPath: '/etc/postgresql', readOnly: true });
  expect(template.spec.volumes.find((v: any) => v.name === 'settings')).toEqual({
    name: 'settings',
    configMap: { name: 'postgres-config', items: [{ key: 'postgresql.conf', path: 'postgresql.conf' }, { key: 'pg_hba.conf', path: 'pg_hba.conf' }] },
  });
  expect(Object.keys(find(objects, 'ConfigMap', 'postgres-config').data)).toEqual(expect.arrayContaining(['postgresql.conf', 'pg_hba.conf', 'pgbackrest.conf']));
});
