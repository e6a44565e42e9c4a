import { Testing } from 'cdk8s';
import { PostgresConfig, PostgresStatefulSet, RoleServices } from '../src';
import { find, Manifest, synthChart, synthCluster } from './support/synth';

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

describe('RoleServices', () => {
  // Synthesized afresh before each test, so that a mutation run (Stryker, perTest) sees which tests cover which code.
  let objects: Manifest[];
  let podLabels: Record<string, string>;
  beforeEach(() => {
    objects = synthCluster();
    podLabels = find(objects, 'StatefulSet', 'postgres-cluster').spec.template.metadata.labels;
  });

  test('the write Service reaches the pod labeled primary, the read Service the replicas', () => {
    const write = find(objects, 'Service', 'postgres-write');
    const read = find(objects, 'Service', 'postgres-read');
    expect(write.spec).toMatchObject({ type: 'ClusterIP', ports: [{ port: 5432, targetPort: 5432 }] });
    expect(selects(write.spec.selector, { ...podLabels, role: 'primary' })).toBe(true);
    expect(selects(write.spec.selector, { ...podLabels, role: 'replica' })).toBe(false);
    expect(selects(write.spec.selector, podLabels)).toBe(false);
    expect(selects(read.spec.selector, { ...podLabels, role: 'replica' })).toBe(true);
    expect(selects(read.spec.selector, { ...podLabels, role: 'primary' })).toBe(false);
  });

  test('the write Service follows the primary label alone, ready or not; the read and any Services only ready pods', () => {
    expect(find(objects, 'Service', 'postgres-write').spec.publishNotReadyAddresses).toBe(true);
    expect(find(objects, 'Service', 'postgres-read').spec.publishNotReadyAddresses).toBeUndefined();
    expect(find(objects, 'Service', 'postgres-any').spec.publishNotReadyAddresses).toBeUndefined();
  });

  test('the any Service reaches every pod whatever its role, and can be left out', () => {
    const any = find(objects, 'Service', 'postgres-any');
    expect(selects(any.spec.selector, podLabels)).toBe(true);
    const without = synthCluster({ anyService: false });
    expect(without.filter(o => o.metadata.name === 'postgres-any')).toEqual([]);
  });

  test('two clusters in one namespace: no shared names, no Service reaches the other cluster', () => {
    const both: Manifest[] = synthChart(chart => {
      for (const name of ['orders', 'billing']) {
        const config = new PostgresConfig(chart, `${name}-config`, { clusterName: name });
        const statefulSet = new PostgresStatefulSet(chart, `${name}-sts`, { config });
        new RoleServices(chart, `${name}-services`, { statefulSet });
      }
    });
    const ids = both.map(o => `${o.kind}/${o.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    const labelsOf = (cluster: string) => find(both, 'StatefulSet', `${cluster}-cluster`).spec.template.metadata.labels;
    for (const service of both.filter(o => o.kind === 'Service')) {
      const own = service.metadata.name.split('-')[0];
      const other = own === 'orders' ? 'billing' : 'orders';
      for (const role of ['primary', 'replica', undefined]) {
        const labels = role ? { ...labelsOf(other), role } : labelsOf(other);
        expect(selects(service.spec.selector, labels)).toBe(false);
      }
    }
  });

  test('cannot reach pods of another application labeled app=postgres', () => {
    const write = find(objects, 'Service', 'postgres-write');
    expect(selects(write.spec.selector, { app: 'postgres', role: 'primary' })).toBe(false);
  });

  test('every Service carries the cluster\'s labels and serves PostgreSQL\'s port as ClusterIP', () => {
    for (const name of ['postgres-write', 'postgres-read', 'postgres-any']) {
      const service = find(objects, 'Service', name);
      expect([name, service.metadata.labels]).toEqual([name, {
        'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'postgres', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster',
      }]);
      expect([name, service.spec.type, service.spec.ports]).toEqual([name, 'ClusterIP', [{ port: 5432, targetPort: 5432 }]]);
    }
  });

  test('exposes the names of its Services; none for the any Service when it is left out', () => {
    const build = (anyService?: boolean) => {
      const chart = Testing.chart();
      const statefulSet = new PostgresStatefulSet(chart, 'S', { config: new PostgresConfig(chart, 'C', { clusterName: 'orders' }) });
      return new RoleServices(chart, 'R', { statefulSet, anyService });
    };
    const services = build();
    expect([services.writeServiceName, services.readServiceName, services.anyServiceName]).toEqual(['orders-write', 'orders-read', 'orders-any']);
    expect(build(true).anyServiceName).toBe('orders-any');
    expect(build(false).anyServiceName).toBeUndefined();
  });

  test('fails when anyService is not a boolean (a JavaScript or Python caller)', () => {
    const chart = Testing.chart();
    const statefulSet = new PostgresStatefulSet(chart, 'S', { config: new PostgresConfig(chart, 'C') });
    expect(() => new RoleServices(chart, 'R', { statefulSet, anyService: 'no' as unknown as boolean })).toThrow(
      'RoleServices test/R: anyService must be a boolean; got "no".');
  });
});
