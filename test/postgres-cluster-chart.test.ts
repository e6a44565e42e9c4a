import { Testing } from 'cdk8s';
import { PostgresClusterChart } from '../src';
import { synthCluster } from './support/synth';

describe('PostgresClusterChart', () => {
  test('the default cluster: 3 pods of PostgreSQL 15 and the reference objects (snapshot)', () => {
    expect(synthCluster()).toMatchSnapshot();
  });

  test('exposes the hosts clients connect to', () => {
    const chart = new PostgresClusterChart(Testing.app(), 'c', { clusterName: 'orders' });
    expect([chart.primaryHost, chart.replicaHost]).toEqual(['orders-write', 'orders-read']);
    expect(chart.failover.cronJobName).toBe('orders-failover');
    expect(chart.statefulSet.name).toBe('orders-cluster');
  });

  test('puts every object in the chart namespace, and binds the ServiceAccounts there', () => {
    const objects = synthCluster({ namespace: 'databases' });
    expect(objects.every(o => o.metadata.namespace === 'databases')).toBe(true);
  });

  test.each<[string, unknown]>([
    ['upper case', 'Payments'],
    ['an underscore', 'pay_ments'],
    ['a leading dash', '-payments'],
    ['a dot (a subdomain, not a label)', 'team.payments'],
    ['64 characters', 'a'.repeat(64)],
    ['empty', ''],
    ['a number (a JavaScript or Python caller)', 7],
  ])('fails when the namespace is not a Kubernetes namespace name: %s', (_name, namespace) => {
    expect(() => new PostgresClusterChart(Testing.app(), 'c', { namespace: namespace as string })).toThrow(
      `PostgresClusterChart c: namespace ${JSON.stringify(namespace)} is not a Kubernetes namespace name: use 1-63 lower-case letters, digits and "-", `
      + 'starting and ending with a letter or digit (a DNS-1123 label), e.g. "payments".');
  });

  test('accepts a namespace of 63 characters and one of one', () => {
    expect(() => new PostgresClusterChart(Testing.app(), 'c', { namespace: 'a'.repeat(63) })).not.toThrow();
    expect(() => new PostgresClusterChart(Testing.app(), 'c', { namespace: 'p' })).not.toThrow();
  });

  test('passes StatefulSet props through', () => {
    const objects = synthCluster({ replicas: 5, storage: '20Gi', kubectlImage: 'registry.example.com/kubectl:1.27', agentImage: 'registry.example.com/node:20' });
    const sts = objects.find(o => o.kind === 'StatefulSet')!;
    expect(sts.spec.replicas).toBe(5);
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('20Gi');
    expect(sts.spec.template.spec.initContainers[0].image).toBe('registry.example.com/kubectl:1.27');
    expect(sts.spec.template.spec.containers.find((c: any) => c.name === 'role-labeler').image).toBe('registry.example.com/node:20');
    // The failover job is the agent.
    const cron = objects.find(o => o.kind === 'CronJob')!;
    expect(cron.spec.jobTemplate.spec.template.spec.containers[0].image).toBe('registry.example.com/node:20');
  });

  test('fails when a second cluster of the same name is in the same App without a namespace, naming the default namespace', () => {
    const app = Testing.app();
    new PostgresClusterChart(app, 'first');
    expect(() => new PostgresClusterChart(app, 'second')).toThrow(
      'second: cluster "postgres" in namespace "default" is already synthesized by first; their objects would overwrite each other. '
      + 'Give one of them another clusterName or namespace.');
    expect(() => new PostgresClusterChart(app, 'third', { clusterName: 'orders' })).not.toThrow();
  });

  test('passes the chart\'s labels to every object, and names objects without a hash', () => {
    const objects = synthCluster({ labels: { team: 'payments' } });
    expect(objects.filter(o => o.metadata.labels?.team !== 'payments').map(o => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    expect(objects.find(o => o.kind === 'StatefulSet')!.metadata.name).toBe('postgres-cluster');
  });

  test('passes the any Service prop through', () => {
    expect(synthCluster({ anyService: false }).filter(o => o.kind === 'Service').map(o => o.metadata.name).sort())
      .toEqual(['postgres-headless', 'postgres-read', 'postgres-write']);
  });
});
