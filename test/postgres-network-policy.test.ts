import { Testing } from 'cdk8s';
import { FailoverJob, PostgresClusterChart, PostgresClusterChartProps, PostgresConfig, PostgresNetworkPolicy, PostgresStatefulSet } from '../src';
import { validate } from './support/schema';
import { find, Manifest, synthChart, synthCluster } from './support/synth';

const tcp = (port: number) => ({ protocol: 'TCP', port });
const clusterPods = { podSelector: { matchLabels: { 'app': 'postgres', 'app.kubernetes.io/instance': 'postgres' } } };
const API_SERVER = { ports: [tcp(443), tcp(6443)] };
const backupPods = { podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'postgres', 'app.kubernetes.io/component': 'backup' } } };

function policies(objects: Manifest[]): Manifest[] {
  return objects.filter(o => o.kind === 'NetworkPolicy');
}

function fails(props: PostgresClusterChartProps): () => void {
  return () => new PostgresClusterChart(Testing.app(), 'test', props);
}

describe('PostgresNetworkPolicy', () => {
  // Synthesized in each test, not while jest collects them: a mutation run sees which tests cover which code.
  let objects: Manifest[];
  let policy: Manifest;
  let failover: Manifest;
  beforeEach(() => {
    objects = synthCluster();
    policy = find(objects, 'NetworkPolicy', 'postgres-cluster');
    failover = find(objects, 'NetworkPolicy', 'postgres-failover');
  });

  test('the default cluster has three policies, valid against the Kubernetes schema, that deny whatever they do not allow', () => {
    expect(policies(objects).map(o => o.metadata.name)).toEqual(['postgres-cluster', 'postgres-backup', 'postgres-failover']);
    for (const p of [policy, failover, find(objects, 'NetworkPolicy', 'postgres-backup')]) {
      expect(p.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(() => validate(p)).not.toThrow();
    }
  });

  test('the cluster\'s pods take PostgreSQL connections from each other and from any pod of their namespace, and scrapes on 9187', () => {
    const statefulSet = find(objects, 'StatefulSet', 'postgres-cluster');
    expect(policy.spec.podSelector).toEqual(statefulSet.spec.selector);
    expect(policy.spec.ingress).toEqual([
      { from: [clusterPods, backupPods, { podSelector: {} }], ports: [tcp(5432)] },
      { from: [{ podSelector: {} }], ports: [tcp(9187)] },
    ]);
    // The ports are the containers' own.
    const ports = statefulSet.spec.template.spec.containers.flatMap((c: any) => c.ports ?? []).map((p: any) => p.containerPort);
    expect(ports).toEqual([5432, 9187]);
  });

  test('the cluster\'s pods reach each other on 5432, DNS anywhere, and the API server (443 and 6443, any address), nothing else', () => {
    expect(policy.spec.egress).toEqual([
      { to: [clusterPods], ports: [tcp(5432)] },
      { ports: [{ protocol: 'UDP', port: 53 }, tcp(53)] },
      API_SERVER,
    ]);
  });

  test('the backup job\'s pods reach PostgreSQL and DNS only, and nothing reaches them; without a backup, neither its policy nor its peer', () => {
    const backup = find(objects, 'NetworkPolicy', 'postgres-backup');
    expect(backup.metadata.labels).toEqual(policy.metadata.labels);
    expect(backup.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const backupPodLabels = find(objects, 'CronJob', 'postgres-backup').spec.jobTemplate.spec.template.metadata.labels;
    expect(backup.spec.podSelector).toEqual(backupPods.podSelector);
    expect(Object.entries(backup.spec.podSelector.matchLabels).every(([k, v]) => backupPodLabels[k] === v)).toBe(true);
    expect(backup.spec.ingress).toBeUndefined();
    expect(backup.spec.egress).toEqual([{ to: [clusterPods], ports: [tcp(5432)] }, { ports: [{ protocol: 'UDP', port: 53 }, tcp(53)] }]);
    const without = synthCluster({ backup: false });
    expect(policies(without).map(o => o.metadata.name)).toEqual(['postgres-cluster', 'postgres-failover']);
    expect(find(without, 'NetworkPolicy', 'postgres-cluster').spec.ingress[0].from).toEqual([clusterPods, { podSelector: {} }]);
  });

  test('the failover job\'s pods reach the API server only, and nothing reaches them', () => {
    const cronJob = find(objects, 'CronJob', 'postgres-failover');
    const jobPodLabels = cronJob.spec.jobTemplate.spec.template.metadata.labels;
    expect(failover.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/instance': 'postgres', 'app.kubernetes.io/component': 'failover' } });
    expect(jobPodLabels).toMatchObject(failover.spec.podSelector.matchLabels);
    expect(failover.metadata.labels).toEqual(policy.metadata.labels);
    // The job's own selector of its runs is the same.
    const jobSelector = JSON.parse(cronJob.spec.jobTemplate.spec.template.spec.containers[0].env.find((e: any) => e.name === 'FAILOVER_JOB_CONFIG').value).jobSelector;
    expect(jobSelector).toBe('app.kubernetes.io/instance=postgres,app.kubernetes.io/component=failover');
    // It does not select the database pods, nor does the cluster's policy select the job's.
    const podLabels = find(objects, 'StatefulSet', 'postgres-cluster').spec.template.metadata.labels;
    expect(Object.entries(failover.spec.podSelector.matchLabels).every(([k, v]) => podLabels[k] === v)).toBe(false);
    expect(Object.entries(policy.spec.podSelector.matchLabels).every(([k, v]) => jobPodLabels[k] === v)).toBe(false);
    expect(failover.spec.egress).toEqual([API_SERVER]);
    expect(failover.spec.ingress).toBeUndefined();
  });

  test('clients and scrapers can be chosen by pod and namespace labels (pod labels as matchExpressions, which kustomize leaves alone)', () => {
    const chosen = find(synthCluster({
      clusterName: 'orders',
      clientSelector: { 'orders-client': 'true', 'app.kubernetes.io/part-of': 'shop' },
      clientNamespaceSelector: {},
      metricsScraperSelector: { 'app.kubernetes.io/name': 'prometheus' },
      metricsScraperNamespaceSelector: { 'kubernetes.io/metadata.name': 'monitoring' },
    }), 'NetworkPolicy', 'orders-cluster');
    expect(chosen.spec.ingress).toEqual([
      {
        from: [
          { podSelector: { matchLabels: { 'app': 'orders', 'app.kubernetes.io/instance': 'orders' } } },
          { podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/component': 'backup' } } },
          {
            namespaceSelector: {},
            podSelector: {
              matchExpressions: [
                { key: 'app.kubernetes.io/part-of', operator: 'In', values: ['shop'] },
                { key: 'orders-client', operator: 'In', values: ['true'] },
              ],
            },
          },
        ],
        ports: [tcp(5432)],
      },
      {
        from: [{
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
          podSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: ['prometheus'] }] },
        }],
        ports: [tcp(9187)],
      },
    ]);
    expect(() => validate(chosen)).not.toThrow();
  });

  test('without the metrics sidecar, port 9187 is closed too', () => {
    const ingress = find(synthCluster({ metrics: false }), 'NetworkPolicy', 'postgres-cluster').spec.ingress;
    expect(ingress.map((rule: any) => rule.ports)).toEqual([[tcp(5432)]]);
  });

  test('networkPolicy: false removes both policies, and nothing else', () => {
    const without = synthCluster({ networkPolicy: false });
    expect(policies(without)).toEqual([]);
    expect(without).toEqual(objects.filter(o => o.kind !== 'NetworkPolicy'));
  });

  test('composed by hand, without a failover job, it writes the cluster\'s policy only', () => {
    let construct: PostgresNetworkPolicy | undefined;
    const written = synthChart(chart => {
      const statefulSet = new PostgresStatefulSet(chart, 'StatefulSet', { config: new PostgresConfig(chart, 'Config', {}) });
      construct = new PostgresNetworkPolicy(chart, 'NetworkPolicy', { statefulSet });
    });
    expect(policies(written).map(o => o.metadata.name)).toEqual(['postgres-cluster']);
    expect([construct!.name, construct!.failoverPolicyName]).toEqual(['postgres-cluster', undefined]);
    const withJob = synthChart(chart => {
      const statefulSet = new PostgresStatefulSet(chart, 'StatefulSet', { config: new PostgresConfig(chart, 'Config', {}) });
      new PostgresNetworkPolicy(chart, 'NetworkPolicy', { statefulSet, failoverJob: new FailoverJob(chart, 'Failover', { statefulSet }) });
    });
    expect(policies(withJob).map(o => o.metadata.name)).toEqual(['postgres-cluster', 'postgres-failover']);
  });

  describe('fails at synth', () => {
    test('fails on a selector whose label key is not one', () => {
      expect(fails({ clientSelector: { 'not a key': 'true' } })).toThrow(
        'PostgresNetworkPolicy test/NetworkPolicy: clientSelector: "not a key" is not a label key: use 1-63 letters, digits, "-", "_" and ".", '
        + 'starting and ending with a letter or digit, optionally after a DNS subdomain and "/", e.g. "app.kubernetes.io/name".');
      expect(fails({ metricsScraperNamespaceSelector: { 'Example.com/name': 'x' } })).toThrow(/metricsScraperNamespaceSelector: "Example.com\/name" is not a label key/);
      expect(fails({ clientSelector: { ['a'.repeat(64)]: 'x' } })).toThrow(/is not a label key/);
    });

    test('fails on a selector whose label value is not one', () => {
      expect(fails({ clientNamespaceSelector: { team: 'shop floor' } })).toThrow(
        'PostgresNetworkPolicy test/NetworkPolicy: clientNamespaceSelector["team"]: "shop floor" is not a label value: use at most 63 letters, digits, '
        + '"-", "_" and ".", starting and ending with a letter or digit, or nothing.');
      expect(fails({ clientSelector: { team: '' } })).not.toThrow();
    });

    test('fails on a selector that is not a map of strings', () => {
      expect(fails({ clientSelector: 'orders-client=true' as any })).toThrow(
        'PostgresNetworkPolicy test/NetworkPolicy: clientSelector must be an object of label keys to values, e.g. { "orders-db-client": "true" }; '
        + 'got "orders-client=true".');
      expect(fails({ metricsScraperSelector: { scraper: true } as any })).toThrow(
        'PostgresNetworkPolicy test/NetworkPolicy: metricsScraperSelector["scraper"] must be a string; got boolean true.');
      expect(fails({ networkPolicy: 'yes' as any })).toThrow('PostgresClusterChart test: networkPolicy must be a boolean; got "yes".');
    });

    test('fails on selectors that would apply to nothing', () => {
      expect(fails({ networkPolicy: false, clientSelector: { 'orders-client': 'true' } })).toThrow(
        'PostgresClusterChart test: clientSelector is set but networkPolicy is false: there is no NetworkPolicy to apply it to. '
        + 'Drop clientSelector, or set networkPolicy to true.');
      expect(fails({ metrics: false, metricsScraperSelector: {} })).toThrow(
        'PostgresNetworkPolicy test/NetworkPolicy: metricsScraperSelector is set but the StatefulSet has no metrics sidecar (metrics is false): '
        + 'there is nothing to scrape. Drop metricsScraperSelector, or set metrics to true.');
    });
  });
});
