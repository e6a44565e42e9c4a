import { App, Chart, Testing } from 'cdk8s';
import * as fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { ArgoCdApplication, ArgoCdApplicationProps, PodAntiAffinity, PostgresClusterChart, PostgresClusterChartProps } from '../src';
import { validate } from './support/schema';
import { Manifest } from './support/synth';
import { parseSidecarConfig } from '../src/agent/config';

// Seeded, so that a failure replays; FUZZ_RUNS=2000 npx jest test/props-fuzz.test.ts for a longer search.
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const settings = { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261125) };

function synth(props: PostgresClusterChartProps): Manifest[] {
  return Testing.synth(new PostgresClusterChart(Testing.app(), 'postgres-cluster', props)) as Manifest[];
}

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const identifier = fc.stringMatching(/^[a-z_][a-z0-9_]{0,15}$/);
const quantity = fc.tuple(fc.integer({ min: 1, max: 999 }), fc.constantFrom('Mi', 'Gi', 'Ti')).map(([n, unit]) => `${n}${unit}`);
const labelKey = fc.oneof(dnsLabel, fc.tuple(dnsLabel, dnsLabel).map(([prefix, name]) => `${prefix}.example.com/${name}`));
const labelValue = fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?$/));
const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3 });
const containerResources = fc.record({
  'cpu': fc.oneof(fc.integer({ min: 1, max: 64 }).map(String), fc.integer({ min: 1, max: 999 }).map(n => `${n}m`)),
  'memory': quantity,
  'ephemeral-storage': quantity,
}, { requiredKeys: [] });
const size = fc.tuple(fc.integer({ min: 1, max: 64 }), fc.constantFrom('MB', 'GB')).map(([n, unit]) => `${n}${unit}`);

/** A postgresql.conf value as PostgreSQL reads it: bare, or quoted with '' and \\ escapes. */
function confValue(text: string): string {
  const quoted = /^'((?:[^'\\]|''|\\.)*)'$/.exec(text);
  return quoted ? quoted[1].replace(/''/g, "'").replace(/\\(.)/g, '$1') : text;
}

const walArchive = fc.oneof(
  fc.record({
    storage: quantity,
    storageClassName: dnsLabel,
    retentionFull: fc.integer({ min: 1, max: 100 }),
    fullBackupSchedule: fc.constantFrom('0 1 * * 0', '@weekly'),
    diffBackupSchedule: fc.constantFrom('0 1 * * 1-6', '@daily'),
    archiveTimeout: fc.constantFrom('60s', '5min', '1h'),
  }, { requiredKeys: [] }),
  fc.record({ existingClaimName: dnsLabel }),
);
const targetTime = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
  .chain(date => fc.constantFrom(date.toISOString(), date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '+00')));
const restoreFrom = fc.record({ clusterName: dnsLabel, claimName: dnsLabel, targetTime }, { requiredKeys: ['clusterName'] });
/** Timers valid together: renewals more often than the renew deadline, the lease at least 2 s past it. */
const automaticFailover = fc.record({
  renewIntervalSeconds: fc.integer({ min: 1, max: 30 }),
  deadlineAfterRenewal: fc.integer({ min: 1, max: 30 }),
  leaseAfterDeadline: fc.integer({ min: 2, max: 60 }),
  primaryRestartGraceSeconds: fc.option(fc.integer({ min: 1, max: 600 }), { nil: undefined }),
  minimumFailoverIntervalSeconds: fc.option(fc.integer({ min: 0, max: 3600 }), { nil: undefined }),
  maximumLagOnFailover: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }),
}).map(({ deadlineAfterRenewal, leaseAfterDeadline, ...options }) => ({
  ...options,
  renewDeadlineSeconds: options.renewIntervalSeconds + deadlineAfterRenewal,
  leaseDurationSeconds: options.renewIntervalSeconds + deadlineAfterRenewal + leaseAfterDeadline,
}));

/** Props a user may give, all valid together. */
const validProps: fc.Arbitrary<PostgresClusterChartProps> = fc.record({
  maxReplicas: fc.integer({ min: 1, max: 12 }),
  clusterName: fc.option(dnsLabel, { nil: undefined }),
  postgresVersion: fc.option(fc.constantFrom(13, 14, 15, 16, 17), { nil: undefined }),
  walKeepSize: fc.option(size, { nil: undefined }),
  maxSlotWalKeepSize: fc.option(size, { nil: undefined }),
  maxConnections: fc.option(fc.integer({ min: 10, max: 10_000 }), { nil: undefined }),
  database: fc.option(identifier, { nil: undefined }),
  replicationUser: fc.option(identifier.filter(n => !RESERVED_ROLES.includes(n)), { nil: undefined }),
  superuserPassword: fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
  appUser: fc.option(identifier.filter(n => !RESERVED_ROLES.includes(n)), { nil: undefined }),
  appPassword: fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
  existingSecretName: fc.option(dnsLabel, { nil: undefined }),
  storage: fc.option(quantity, { nil: undefined }),
  storageClassName: fc.option(dnsLabel, { nil: undefined }),
  podAntiAffinity: fc.option(fc.constantFrom(...Object.values(PodAntiAffinity)), { nil: undefined }),
  spreadAcrossZones: fc.option(fc.boolean(), { nil: undefined }),
  podDisruptionBudget: fc.option(fc.boolean(), { nil: undefined }),
  anyService: fc.option(fc.boolean(), { nil: undefined }),
  metrics: fc.option(fc.constant(true), { nil: undefined }),
  backup: fc.option(fc.boolean(), { nil: undefined }),
  podMonitor: fc.option(fc.boolean(), { nil: undefined }),
  startupTimeoutSeconds: fc.option(fc.integer({ min: 10, max: 2 ** 31 - 1 }), { nil: undefined }),
  networkPolicy: fc.option(fc.boolean(), { nil: undefined }),
  clientSelector: fc.option(labels, { nil: undefined }),
  clientNamespaceSelector: fc.option(labels, { nil: undefined }),
  metricsScraperSelector: fc.option(labels, { nil: undefined }),
  metricsScraperNamespaceSelector: fc.option(labels, { nil: undefined }),
  // Values PostgreSQL takes (test/setting-value.test.ts proves the checker refuses the others), and any text for an extension's.
  extraSettings: fc.option(fc.record({
    'work_mem': fc.tuple(fc.integer({ min: 64, max: 1_000_000 }), fc.constantFrom('', 'kB', ' kB')).map(([n, unit]) => `${n}${unit}`),
    'shared_buffers': fc.tuple(fc.integer({ min: 1, max: 64 }), fc.constantFrom('MB', 'GB', '.5GB')).map(([n, unit]) => `${n}${unit}`),
    'log_min_duration_statement': fc.tuple(fc.integer({ min: -1, max: 30_000 }), fc.constantFrom('', 'ms', 's', ' min')).map(([n, unit]) => `${n}${unit}`),
    'myext.option': fc.stringMatching(/^[A-Za-z0-9 ._'-]{0,12}$/),
  }, { requiredKeys: [] }), { nil: undefined }),
  walArchive: fc.option(walArchive, { nil: undefined }),
  restoreFrom: fc.option(restoreFrom, { nil: undefined }),
  automaticFailover: fc.option(fc.oneof(fc.constant({}), automaticFailover), { nil: undefined }),
  resources: fc.option(fc.record({ requests: containerResources, limits: containerResources }, { requiredKeys: [] }), { nil: undefined }),
}, { requiredKeys: ['maxReplicas'] }).chain(props => fc.record({
  replicas: fc.integer({ min: 1, max: props.maxReplicas! }),
}).chain(({ replicas }) => fc.record({
  synchronousReplicas: fc.integer({ min: 0, max: replicas - 1 }),
}).map(({ synchronousReplicas }) => withoutConflicts(withoutUnusedSelectors({ ...props, replicas, synchronousReplicas })))));

/** The superuser's, the default replication role's and the metrics role's names: no other role may take them. */
const RESERVED_ROLES = ['postgres', 'replicator', 'postgres_exporter'];

/** One role per name, and a password either in the props or in the user's Secret (both are refused). */
function withoutConflicts(props: PostgresClusterChartProps): PostgresClusterChartProps {
  const { appUser, superuserPassword, restoreFrom: restore, ...rest } = props;
  // pgBackRest needs an image of yours; a restore without a claim, the cluster's own archive.
  const pgbackrest = props.walArchive !== undefined || restore !== undefined;
  return {
    ...rest,
    ...(pgbackrest ? { image: `registry.example.com/postgres-pgbackrest:${props.postgresVersion ?? 15}` } : {}),
    ...(restore !== undefined ? { restoreFrom: props.walArchive || restore.claimName ? restore : { ...restore, claimName: 'repo' } } : {}),
    ...(appUser !== undefined && appUser !== props.replicationUser ? { appUser } : {}),
    ...(superuserPassword !== undefined && props.existingSecretName === undefined ? { superuserPassword } : {}),
  };
}

/** Selectors are refused without the NetworkPolicy they are for. */
function withoutUnusedSelectors(props: PostgresClusterChartProps): PostgresClusterChartProps {
  if (props.networkPolicy !== false) return props;
  const { clientSelector: _c, clientNamespaceSelector: _cn, metricsScraperSelector: _m, metricsScraperNamespaceSelector: _mn, ...rest } = props;
  return rest;
}

/** The props whose values this library checks, each with a value of every kind a JavaScript or Python caller could pass. */
const CHECKED_PROPS: Array<keyof PostgresClusterChartProps> = [
  'clusterName', 'postgresVersion', 'maxReplicas', 'maxWalSenders', 'walKeepSize', 'maxSlotWalKeepSize', 'maxConnections',
  'synchronousReplicas', 'database', 'replicationUser', 'existingSecretName', 'initdbArgs', 'replicas', 'image', 'storage',
  'storageClassName', 'kubectlImage', 'agentImage', 'podAntiAffinity', 'spreadAcrossZones', 'podDisruptionBudget', 'anyService',
  'failoverTargetPod', 'superuserPassword', 'replicationPassword', 'extraSettings', 'initScripts', 'metrics', 'metricsImage', 'podMonitor',
  'startupTimeoutSeconds', 'networkPolicy', 'clientSelector', 'clientNamespaceSelector', 'metricsScraperSelector', 'metricsScraperNamespaceSelector',
  'appUser', 'appPassword', 'existingAppSecretName', 'tls', 'tlsSecretName', 'requireTls', 'certManagerIssuer', 'backup', 'backupSchedule', 'backupRetention', 'backupStorage',
  'walArchive', 'restoreFrom', 'automaticFailover', 'resources',
];
const anyValue = fc.oneof(
  fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(''),
  fc.array(fc.string(), { maxLength: 2 }), fc.object({ maxDepth: 1 }), fc.stringMatching(/^[a-z0-9-]{1,20}$/),
  fc.dictionary(fc.string({ maxLength: 12 }), fc.oneof(fc.string({ maxLength: 12 }), fc.integer())),
);

describe('props, fuzzed (fast-check)', () => {
  test('any combination of valid props synthesizes objects that are valid against the Kubernetes schema', () => {
    fc.assert(fc.property(validProps, props => {
      const objects = synth(props);
      for (const object of objects) validate(object);
      const statefulSet = objects.find(o => o.kind === 'StatefulSet')!;
      expect(statefulSet.spec.replicas).toBe(props.replicas);
      expect(objects.filter(o => o.kind === 'NetworkPolicy'))
        .toHaveLength(props.networkPolicy === false ? 0 : (props.backup === false ? 2 : 3) + (props.walArchive ? 1 : 0));
      expect(objects.filter(o => o.kind === 'CronJob').map(o => o.metadata.name).filter(n => n.includes('-archive-'))).toHaveLength(props.walArchive ? 2 : 0);
      // The agent accepts its document (its timers in the order it needs them).
      const sidecar = parseSidecarConfig(objects.find(o => o.kind === 'ConfigMap' && o.data['sidecar.json'])!.data['sidecar.json'], 'sidecar.json');
      expect(sidecar.automaticFailover.enabled).toBe(props.automaticFailover !== undefined);
      const conf = objects.find(o => o.kind === 'ConfigMap' && o.data['postgresql.conf'])!.data['postgresql.conf'] as string;
      // Each extra setting is one line that PostgreSQL reads back as the value given.
      for (const [name, value] of Object.entries(props.extraSettings ?? {})) {
        const lines = conf.split('\n').filter(l => l.startsWith(`${name} = `));
        expect(lines).toHaveLength(1);
        expect(confValue(lines[0].slice(name.length + 3))).toBe(value);
      }
    }), settings);
  });

  test('any value of any checked prop either synthesizes valid objects or fails with an Error that names the prop', () => {
    fc.assert(fc.property(fc.constantFrom(...CHECKED_PROPS), anyValue, (prop, value) => {
      let objects: Manifest[];
      try {
        objects = synth({ [prop]: value } as PostgresClusterChartProps);
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).constructor).toBe(Error);
        expect((error as Error).message).toContain(prop === 'failoverTargetPod' ? 'targetPod' : prop);
        return;
      }
      for (const object of objects) validate(object);
    }), { ...settings, numRuns: RUNS * 5 });
  });
});

// ArgoCdApplication, the same way: its props come from the same callers (and, in main.ts, from the environment).
type ApplicationCase = { cluster: { clusterName?: string; namespace?: string }; props: Omit<ArgoCdApplicationProps, 'statefulSet'> };

/** The Application's chart, in an App of its own (as main.ts makes it). */
function applicationChart({ cluster, props }: ApplicationCase): Chart {
  const clusterChart = new PostgresClusterChart(Testing.app(), 'postgres-cluster', cluster);
  const chart = new Chart(Testing.app(), 'argocd');
  new ArgoCdApplication(chart, 'Application', { ...props, statefulSet: clusterChart.statefulSet } as ArgoCdApplicationProps);
  return chart;
}

/** The Application's object, read back from its YAML (so a value that breaks the YAML fails here too). */
function synthApplication(chart: Chart): Manifest {
  const objects = Testing.synth(chart) as Manifest[];
  const app = chart.node.root as App;
  const documents = parseAllDocuments(app.synthYaml());
  for (const document of documents) expect(document.errors).toEqual([]);
  expect(documents.map(d => d.toJS())).toEqual(objects);
  expect(objects).toHaveLength(1);
  return objects[0];
}

const dnsSubdomain = fc.array(dnsLabel, { minLength: 1, maxLength: 3 }).map(parts => parts.join('.'));
const host = fc.array(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/), { minLength: 1, maxLength: 3 }).map(parts => parts.join('.'));
const repoPath = fc.array(fc.stringMatching(/^[A-Za-z0-9_.-]{1,10}$/).filter(segment => segment !== '..'), { minLength: 1, maxLength: 3 })
  .map(segments => segments.join('/'));
const repoUrl = fc.oneof(
  fc.tuple(fc.constantFrom('https', 'http', 'ssh', 'git', 'file'), host, repoPath).map(([scheme, h, p]) => `${scheme}://${h}/${p}`),
  fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/), host, repoPath).map(([user, h, p]) => `${user}@${h}:${p}.git`),
);

/** Valid together: destinationNamespace is the chart's when it has one; selfHeal and prune only with autoSync. */
const validApplication: fc.Arbitrary<ApplicationCase> = fc.record({
  clusterName: fc.option(dnsLabel, { nil: undefined }),
  namespace: fc.option(dnsLabel, { nil: undefined }),
}).chain(cluster => fc.record({
  repoUrl,
  path: fc.option(fc.oneof(fc.constant('.'), repoPath), { nil: undefined }),
  targetRevision: fc.option(fc.stringMatching(/^[A-Za-z0-9._\/-]{1,20}$/), { nil: undefined }),
  // Anything but the cluster's name, which is its app.kubernetes.io/instance label.
  name: fc.option(dnsSubdomain.filter(name => name !== (cluster.clusterName ?? 'postgres')), { nil: undefined }),
  applicationNamespace: fc.option(dnsLabel, { nil: undefined }),
  project: fc.option(dnsSubdomain, { nil: undefined }),
  destinationServer: fc.option(fc.tuple(fc.constantFrom('https', 'http'), host, fc.option(fc.integer({ min: 1, max: 65_535 })))
    .map(([scheme, h, port]) => `${scheme}://${h}${port === null ? '' : `:${port}`}`), { nil: undefined }),
  destinationNamespace: fc.option(cluster.namespace === undefined ? dnsLabel : fc.constant(cluster.namespace), { nil: undefined }),
  autoSync: fc.option(fc.boolean(), { nil: undefined }),
}, { requiredKeys: ['repoUrl'] }).chain(props => fc.record({
  selfHeal: fc.option(props.autoSync === false ? fc.constant(false) : fc.boolean(), { nil: undefined }),
  prune: fc.option(props.autoSync === false ? fc.constant(false) : fc.boolean(), { nil: undefined }),
}).map(sync => ({ cluster, props: { ...props, ...sync } }))));

const APPLICATION_PROPS: Array<keyof ArgoCdApplicationProps> = [
  'statefulSet', 'repoUrl', 'path', 'targetRevision', 'name', 'applicationNamespace', 'project', 'destinationServer',
  'destinationNamespace', 'autoSync', 'selfHeal', 'prune',
];

describe('ArgoCdApplication props, fuzzed (fast-check)', () => {
  test('any combination of valid props synthesizes an Application valid against Argo CD\'s schema, with the values given', () => {
    fc.assert(fc.property(validApplication, ({ cluster, props }) => {
      const application = synthApplication(applicationChart({ cluster, props }));
      validate(application);
      const autoSync = props.autoSync ?? true;
      expect(application.metadata).toMatchObject({ name: props.name ?? `${cluster.clusterName ?? 'postgres'}-cluster`, namespace: props.applicationNamespace ?? 'argocd' });
      expect(application.spec).toMatchObject({
        project: props.project ?? 'default',
        source: { repoURL: props.repoUrl, path: props.path ?? 'dist', targetRevision: props.targetRevision ?? 'HEAD' },
        destination: { server: props.destinationServer ?? 'https://kubernetes.default.svc', namespace: props.destinationNamespace ?? cluster.namespace ?? 'default' },
      });
      expect(application.spec.syncPolicy.automated).toEqual(autoSync ? { selfHeal: props.selfHeal ?? true, prune: props.prune ?? false } : undefined);
    }), settings);
  });

  test('any value of any prop either synthesizes a valid Application or fails with an Error that names the prop', () => {
    fc.assert(fc.property(fc.constantFrom(...APPLICATION_PROPS), anyValue, (prop, value) => {
      const valid: ApplicationCase = { cluster: {}, props: { repoUrl: 'https://github.com/acme/infra.git' } };
      const build = prop === 'statefulSet'
        ? () => {
          const chart = new Chart(Testing.app(), 'argocd');
          new ArgoCdApplication(chart, 'Application', { repoUrl: valid.props.repoUrl, statefulSet: value as any });
          return chart;
        }
        : () => applicationChart({ ...valid, props: { ...valid.props, [prop]: value } });
      let chart: Chart;
      try {
        chart = build();
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).constructor).toBe(Error);
        expect((error as Error).message).toContain(`: ${prop} `);
        return;
      }
      expect(prop).not.toBe('statefulSet'); // no value fuzzed here is a PostgresStatefulSet
      validate(synthApplication(chart));
    }), { ...settings, numRuns: RUNS * 5 });
  });
});
