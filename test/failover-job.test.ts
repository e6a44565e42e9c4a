import { Testing } from 'cdk8s';
import { FailoverJob, PostgresConfig, PostgresStatefulSet } from '../src';
import { envOf, find, Manifest, synthCluster } from './support/synth';
import { FailoverJobConfig, parseFailoverJobConfig } from '../src/agent/config';

/** The job's configuration document, as the agent reads it. */
function config(container: any): FailoverJobConfig {
  return parseFailoverJobConfig(envOf(container, 'FAILOVER_JOB_CONFIG').value, 'FAILOVER_JOB_CONFIG');
}

describe('FailoverJob', () => {
  // Synthesized afresh before each test, so that a mutation run (Stryker, perTest) sees which tests cover which code.
  let objects: Manifest[];
  let cronJob: Manifest;
  let job: any;
  let failover: any;
  beforeEach(() => {
    objects = synthCluster();
    cronJob = find(objects, 'CronJob', 'postgres-failover');
    job = cronJob.spec.jobTemplate.spec;
    failover = job.template.spec.containers[0];
  });

  test('is a suspended CronJob that never runs by itself: applying dist/ starts no failover', () => {
    expect(cronJob.spec).toMatchObject({ suspend: true, schedule: '0 0 31 2 *', concurrencyPolicy: 'Forbid' });
    expect(objects.filter(o => o.kind === 'Job')).toEqual([]);
  });

  test('runs as a non-root user on a read-only root filesystem, with a /tmp volume for its scratch files', () => {
    expect(job.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, seccompProfile: { type: 'RuntimeDefault' } });
    expect(failover.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
    expect(failover.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(job.template.spec.volumes).toContainEqual({ name: 'tmp', emptyDir: {} });
  });

  test('a run is tried once and stops within its deadline', () => {
    expect(job).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 300 });
    expect(job.template.spec.restartPolicy).toBe('Never');
  });

  test('runs the embedded agent\'s failover command in the agent image, against the cluster pods', () => {
    expect(failover.command).toEqual(['node', '/opt/postgres-cluster/agent.js', 'failover']);
    expect(failover.image).toBe(find(objects, 'StatefulSet', 'postgres-cluster').spec.template.spec.containers[1].image);
    expect(failover.image).toMatch(/^docker\.io\/library\/node:/);
    expect(config(failover).clusterSelector).toBe('app=postgres,app.kubernetes.io/instance=postgres');
    expect(config(failover).nodeScript).toBe('/opt/postgres-cluster/pg-node.sh');
    expect(envOf(failover, 'FAILOVER_TARGET').value).toBe('');
  });

  test('promotes the target pod given as a prop', () => {
    const targeted = find(synthCluster({ failoverTargetPod: 'postgres-cluster-2' }), 'CronJob', 'postgres-failover');
    expect(envOf(targeted.spec.jobTemplate.spec.template.spec.containers[0], 'FAILOVER_TARGET').value).toBe('postgres-cluster-2');
  });

  test('knows the leader record, the other failover runs, its own pod and the synchronous mode', () => {
    expect(config(failover).leaderRecord).toBe('postgres-leader');
    expect(config(failover).jobSelector).toBe('app.kubernetes.io/instance=postgres,app.kubernetes.io/component=failover');
    expect(job.template.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'postgres', 'app.kubernetes.io/component': 'failover' });
    expect(envOf(failover, 'POD_NAME').valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(config(failover).synchronousReplicas).toBe(0);
    expect(envOf(failover, 'FAILOVER_ACCEPT_DATA_LOSS').value).toBe('false');
    const sync = find(synthCluster({ synchronousReplicas: 2 }), 'CronJob', 'postgres-failover');
    expect(config(sync.spec.jobTemplate.spec.template.spec.containers[0]).synchronousReplicas).toBe(2);
  });

  test('has least privilege: list pods; get, patch and exec only the cluster pods; get and patch only its leader record', () => {
    const pods = Array.from({ length: 10 }, (_, i) => `postgres-cluster-${i}`);
    expect(find(objects, 'Role', 'postgres-failover').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods'], resourceNames: pods, verbs: ['get', 'patch'] },
      { apiGroups: [''], resources: ['pods/exec'], resourceNames: pods, verbs: ['create', 'get'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['postgres-leader'], verbs: ['get', 'patch', 'update'] },
    ]);
    expect(job.template.spec.serviceAccountName).toBe('postgres-failover');
    expect(job.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999 });
  });

  test('fails at synth when the target is not a pod of the StatefulSet', () => {
    const chart = Testing.chart();
    const statefulSet = new PostgresStatefulSet(chart, 'S', { config: new PostgresConfig(chart, 'C') });
    expect(() => new FailoverJob(chart, 'F', { statefulSet, targetPod: 'postgres-1' })).toThrow(
      'FailoverJob test/F: targetPod "postgres-1" is not a pod of StatefulSet postgres-cluster: use "postgres-cluster-<ordinal>", e.g. "postgres-cluster-1", or leave it unset to promote the most advanced replica.');
    expect(() => new FailoverJob(chart, 'G', { statefulSet, targetPod: 'postgres-cluster-3' })).not.toThrow();
  });

  test('fails at synth when the target is beyond maxReplicas, or its ordinal is not one a StatefulSet writes', () => {
    const chart = Testing.chart();
    const statefulSet = new PostgresStatefulSet(chart, 'S', { config: new PostgresConfig(chart, 'C', { maxReplicas: 5 }) });
    expect(() => new FailoverJob(chart, 'F', { statefulSet, targetPod: 'postgres-cluster-5' })).toThrow(
      'FailoverJob test/F: targetPod "postgres-cluster-5" is beyond maxReplicas (5): the cluster never has that pod, and the failover job may not reach it. '
      + 'Use an ordinal below 5, or raise maxReplicas.');
    expect(() => new FailoverJob(chart, 'G', { statefulSet, targetPod: 'postgres-cluster-4' })).not.toThrow();
    expect(() => new FailoverJob(chart, 'H', { statefulSet, targetPod: 'postgres-cluster-01' })).toThrow(
      'FailoverJob test/H: targetPod "postgres-cluster-01" is not a pod of StatefulSet postgres-cluster: use "postgres-cluster-<ordinal>"');
    expect(() => new FailoverJob(chart, 'I', { statefulSet, targetPod: 'postgres-cluster-0' })).not.toThrow();
  });

  test('fails at synth when the target has no ordinal', () => {
    const chart = Testing.chart();
    const statefulSet = new PostgresStatefulSet(chart, 'S', { config: new PostgresConfig(chart, 'C') });
    expect(() => new FailoverJob(chart, 'H', { statefulSet, targetPod: 'postgres-cluster' })).toThrow(
      'FailoverJob test/H: targetPod "postgres-cluster" is not a pod of StatefulSet postgres-cluster: use "postgres-cluster-<ordinal>", e.g. "postgres-cluster-1", or leave it unset to promote the most advanced replica.');
  });

  test('fails when targetPod is not a string (a JavaScript or Python caller)', () => {
    const chart = Testing.chart();
    const statefulSet = new PostgresStatefulSet(chart, 'S', { config: new PostgresConfig(chart, 'C') });
    expect(() => new FailoverJob(chart, 'F', { statefulSet, targetPod: 1 as unknown as string })).toThrow('FailoverJob test/F: targetPod must be a string; got number 1.');
  });

  test('knows the containers of the cluster\'s pods, the role label, and runs the pods\' node script from the mounted scripts', () => {
    expect(config(failover)).toMatchObject({
      postgresContainer: 'postgres',
      sidecarContainer: 'role-labeler',
      roleLabel: 'role',
      isolationFenceSeconds: 10,
      agent: '/opt/postgres-cluster/agent.js',
      agentConfig: '/opt/postgres-cluster/sidecar.json',
    });
    const statefulSet = find(objects, 'StatefulSet', 'postgres-cluster').spec.template.spec;
    const containers = statefulSet.containers.map((c: { name: string }) => c.name);
    expect(containers).toEqual(expect.arrayContaining([config(failover).postgresContainer, config(failover).sidecarContainer]));
    expect(find(objects, 'ConfigMap', 'postgres-cluster-init').data['pg-node.sh']).toBeDefined();
    expect(failover.volumeMounts).toContainEqual({ name: 'postgres-cluster-init', mountPath: '/opt/postgres-cluster' });
    expect(job.template.spec.volumes).toContainEqual({ name: 'postgres-cluster-init', configMap: { name: 'postgres-cluster-init', defaultMode: 0o755 } });
    expect(job.template.spec).toMatchObject({ enableServiceLinks: false, securityContext: { runAsGroup: 999 } });
    expect(failover.name).toBe('failover');
  });

  test('a cluster of another name: its own CronJob, labels, selectors, leader record and identity', () => {
    const orders = synthCluster({ clusterName: 'orders' });
    const cron = find(orders, 'CronJob', 'orders-failover');
    expect(cron.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster', 'app.kubernetes.io/component': 'failover' });
    expect(cron.spec.jobTemplate.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster', 'app.kubernetes.io/component': 'failover' });
    expect(cron.spec.jobTemplate.spec.template.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster', 'app.kubernetes.io/component': 'failover' });
    const c = cron.spec.jobTemplate.spec.template.spec.containers[0];
    expect(config(c).clusterSelector).toBe('app=orders,app.kubernetes.io/instance=orders');
    expect(config(c).jobSelector).toBe('app.kubernetes.io/instance=orders,app.kubernetes.io/component=failover');
    expect(config(c).leaderRecord).toBe('orders-leader');
    expect(cron.spec.jobTemplate.spec.template.spec.serviceAccountName).toBe('orders-failover');
    for (const kind of ['ServiceAccount', 'Role', 'RoleBinding']) {
      expect([kind, find(orders, kind, 'orders-failover').metadata.labels]).toEqual([kind, { 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster', 'app.kubernetes.io/component': 'failover' }]);
    }
    expect(find(orders, 'RoleBinding', 'orders-failover')).toMatchObject({
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'orders-failover' }, subjects: [{ kind: 'ServiceAccount', name: 'orders-failover' }],
    });
  });

  test('a run stops within the given timeout; exposes its CronJob and target', () => {
    const chart = Testing.chart();
    const statefulSet = new PostgresStatefulSet(chart, 'S', { config: new PostgresConfig(chart, 'C') });
    const f = new FailoverJob(chart, 'F', { statefulSet, targetPod: 'postgres-cluster-1', timeoutSeconds: 60 });
    expect([f.cronJobName, f.targetPod]).toEqual(['postgres-failover', 'postgres-cluster-1']);
    const cron = find(Testing.synth(chart) as Manifest[], 'CronJob', 'postgres-failover');
    expect(cron.spec.jobTemplate.spec.activeDeadlineSeconds).toBe(60);
  });
});
