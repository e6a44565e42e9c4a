import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application';
import { Chart, Testing } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { ArgoCdApplication, ArgoCdApplicationProps, PostgresClusterChart, PostgresClusterChartProps } from '../src';
import { CrdSchema, crdSchema, schemaErrors } from './support/crd';
import { Manifest, synthCluster } from './support/synth';

const REPO = 'https://github.com/acme/infra.git';
const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';

/** A cluster chart in one App, and its Application in a chart of a second App (as main.ts does it). */
function synthApplication(props: Partial<ArgoCdApplicationProps> = {}, clusterProps: PostgresClusterChartProps = {}): Manifest {
  const cluster = new PostgresClusterChart(Testing.app(), 'postgres-cluster', clusterProps);
  const chart = Testing.chart();
  new ArgoCdApplication(chart, 'ArgoCd', { statefulSet: cluster.statefulSet, repoUrl: REPO, ...props });
  const objects = Testing.synth(chart) as Manifest[];
  expect(objects).toHaveLength(1);
  return objects[0];
}

/** A cluster whose chart asks for sync waves (argoCdSyncWaves). */
function synthClusterWithSyncWaves(props: PostgresClusterChartProps = {}): Manifest[] {
  return Testing.synth(new PostgresClusterChart(Testing.app(), 'postgres-cluster', { ...props, argoCdSyncWaves: true })) as Manifest[];
}

/** Expects fn to throw a plain Error (not a TypeError from deep inside) with exactly this message. */
function expectError(fn: () => unknown, message: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(Error);
  expect({ type: (thrown as Error).constructor.name, message: (thrown as Error).message }).toEqual({ type: 'Error', message });
}

function waveOf(object: Manifest): string | undefined {
  return object.metadata.annotations?.[SYNC_WAVE];
}

// Argo CD's Application schema: the CRD rebuilt from @kubernetes-models/argo-cd (imports/argo-cd-application-crd.yaml).
function applicationSchema(): CrdSchema {
  return crdSchema('argo-cd-application-crd.yaml', 'v1alpha1');
}

describe('ArgoCdApplication', () => {
  test.each<[string, Partial<ArgoCdApplicationProps>, PostgresClusterChartProps]>([
    ['with the defaults', {}, {}],
    ['customized, without automated sync', { autoSync: false, path: 'clusters/prod', targetRevision: 'v1.2.0', project: 'databases' },
      { clusterName: 'orders', namespace: 'shop' }],
    ['with pruning', { prune: true, selfHeal: false, repoUrl: 'git@github.com:acme/infra.git' }, {}],
  ])('is valid against Argo CD\'s Application schema: %s', (_name, props, clusterProps) => {
    const application = synthApplication(props, clusterProps);
    expect(application.apiVersion).toBe('argoproj.io/v1alpha1');
    expect(application.kind).toBe('Application');
    expect(schemaErrors(application, applicationSchema())).toEqual([]);
    // And by Argo CD's Application model (kubernetes-models), independently of the CRD rebuilt here.
    expect(() => new Application(application as any).validate()).not.toThrow();
  });

  test('points Argo CD at the given repository, directory and revision, as a plain directory', () => {
    const application = synthApplication({ path: 'clusters/prod', targetRevision: 'release-1' });
    expect(application.spec.source).toEqual({
      repoURL: REPO,
      path: 'clusters/prod',
      targetRevision: 'release-1',
      directory: { recurse: false },
    });
  });

  test('defaults: dist at HEAD, project "default", deployed in the cluster Argo CD runs in, named after the StatefulSet', () => {
    const application = synthApplication();
    expect(application.metadata).toMatchObject({ name: 'postgres-cluster', namespace: 'argocd' });
    expect(application.spec.project).toBe('default');
    expect(application.spec.source).toMatchObject({ path: 'dist', targetRevision: 'HEAD' });
    expect(application.spec.destination).toEqual({ server: 'https://kubernetes.default.svc', namespace: 'default' });
  });

  test('deploys to the chart\'s namespace when it has one', () => {
    const application = synthApplication({}, { clusterName: 'orders', namespace: 'shop' });
    expect(application.metadata.name).toBe('orders-cluster');
    expect(application.spec.destination.namespace).toBe('shop');
  });

  test('leaves spec.replicas of the cluster\'s StatefulSet to kubectl scale, in diffs and in syncs', () => {
    const application = synthApplication({}, { clusterName: 'orders', namespace: 'shop' });
    expect(application.spec.ignoreDifferences).toEqual([
      { group: 'apps', kind: 'StatefulSet', name: 'orders-cluster', namespace: 'shop', jsonPointers: ['/spec/replicas'] },
    ]);
    expect(application.spec.syncPolicy.syncOptions).toContain('RespectIgnoreDifferences=true');
  });

  test('syncs automatically with self-heal, and never prunes unless asked', () => {
    expect(synthApplication().spec.syncPolicy.automated).toEqual({ prune: false, selfHeal: true });
    expect(synthApplication({ selfHeal: false }).spec.syncPolicy.automated).toEqual({ prune: false, selfHeal: false });
    expect(synthApplication({ prune: true }).spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
  });

  test('the Application carries the cluster\'s labels and the given project', () => {
    const application = synthApplication({ project: 'databases' }, { clusterName: 'orders' });
    expect(application.metadata.labels).toEqual({
      'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster',
    });
    expect(application.spec.project).toBe('databases');
    expect(synthApplication({ selfHeal: false, prune: true }).spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: false });
  });

  test('without autoSync, Argo CD syncs only when asked', () => {
    const application = synthApplication({ autoSync: false });
    expect(application.spec.syncPolicy.automated).toBeUndefined();
    expect(application.spec.syncPolicy.syncOptions).toEqual(['RespectIgnoreDifferences=true']);
  });

  test('resolves its defaults once, into its attributes', () => {
    const cluster = new PostgresClusterChart(Testing.app(), 'postgres-cluster', { namespace: 'shop' });
    const application = new ArgoCdApplication(Testing.chart(), 'ArgoCd', { statefulSet: cluster.statefulSet, repoUrl: REPO });
    expect(application).toMatchObject({
      name: 'postgres-cluster',
      applicationNamespace: 'argocd',
      repoUrl: REPO,
      path: 'dist',
      targetRevision: 'HEAD',
      destinationNamespace: 'shop',
      destinationServer: 'https://kubernetes.default.svc',
      autoSync: true,
      selfHeal: true,
      prune: false,
    });
  });

  describe('bad props', () => {
    const owner = 'ArgoCdApplication test/ArgoCd';
    test.each<[string, Partial<ArgoCdApplicationProps>, PostgresClusterChartProps, string]>([
      ['repoUrl is empty', { repoUrl: '' }, {},
        `${owner}: repoUrl is empty: set it to the Git repository that holds the synthesized YAML, e.g. "https://github.com/acme/infra.git".`],
      ['repoUrl is not a URL', { repoUrl: 'acme/infra' }, {},
        `${owner}: repoUrl "acme/infra" is not a Git repository URL: use an https:// or ssh:// URL, or git@host:org/repo.git, `
        + 'e.g. "https://github.com/acme/infra.git".'],
      ['path is absolute', { path: '/dist' }, {},
        `${owner}: path "/dist" is absolute: Argo CD reads it relative to the repository root; use e.g. "dist".`],
      ['path leaves the repository', { path: '../dist' }, {},
        `${owner}: path "../dist" is not a directory in the repository: use one relative to its root, e.g. "dist" (or "." for the root).`],
      ['targetRevision is empty', { targetRevision: '' }, {},
        `${owner}: targetRevision "" is not a Git revision: use a branch, tag or commit, e.g. "main" or "HEAD".`],
      ['name is not a Kubernetes name', { name: 'Orders_DB' }, {},
        `${owner}: name "Orders_DB" is not a valid Kubernetes name: use at most 253 lower-case letters, digits and "-", `
        + 'starting and ending with a letter or digit, e.g. "orders-db".'],
      ['name is the cluster\'s name', { name: 'orders' }, { clusterName: 'orders' },
        `${owner}: name "orders" is the cluster's app.kubernetes.io/instance label, so Argo CD's label tracking would take the leader record `
        + 'made at run time (Lease orders-leader) for an object to prune: use another name, e.g. "orders-cluster".'],
      ['destinationNamespace is not the chart\'s', { destinationNamespace: 'prod' }, { namespace: 'shop' },
        `${owner}: destinationNamespace "prod" differs from the namespace "shop" that the cluster's objects name: `
        + 'drop destinationNamespace, or set the chart\'s namespace to "prod".'],
      ['destinationServer is not a URL', { destinationServer: 'in-cluster' }, {},
        `${owner}: destinationServer "in-cluster" is not an API server URL: use e.g. "https://kubernetes.default.svc" (the cluster Argo CD runs in).`],
      ['selfHeal is asked without autoSync', { autoSync: false, selfHeal: true }, {},
        `${owner}: selfHeal is true but autoSync is false: Argo CD only heals and prunes automated Applications; set autoSync to true, or drop selfHeal.`],
      ['prune is asked without autoSync', { autoSync: false, prune: true }, {},
        `${owner}: prune is true but autoSync is false: Argo CD only heals and prunes automated Applications; set autoSync to true, or drop prune.`],
      // Wrong types, as JavaScript and Python callers, or props read from YAML or JSON, may pass them.
      ['repoUrl is not set', { repoUrl: undefined }, {},
        `${owner}: repoUrl is not set: set it to the Git repository that holds the synthesized YAML, e.g. "https://github.com/acme/infra.git".`],
      ['repoUrl is not a string', { repoUrl: 42 as any }, {}, `${owner}: repoUrl must be a string; got number 42.`],
      ['path is not a string', { path: ['dist'] as any }, {}, `${owner}: path must be a string; got an array (["dist"]).`],
      ['path has a line break', { path: 'dist\nprod' }, {},
        `${owner}: path "dist\\nprod" is not a directory in the repository: use one relative to its root, e.g. "dist" (or "." for the root).`],
      ['targetRevision is not a string', { targetRevision: 1.2 as any }, {}, `${owner}: targetRevision must be a string; got number 1.2.`],
      ['name is not a string', { name: null as any }, {}, `${owner}: name must be a string; got null.`],
      ['applicationNamespace is not a string', { applicationNamespace: { name: 'argocd' } as any }, {},
        `${owner}: applicationNamespace must be a string; got an object ({"name":"argocd"}).`],
      ['project is not a string', { project: true as any }, {}, `${owner}: project must be a string; got boolean true.`],
      ['destinationServer is not a string', { destinationServer: 443 as any }, {}, `${owner}: destinationServer must be a string; got number 443.`],
      ['destinationNamespace is not a string', { destinationNamespace: [] as any }, {}, `${owner}: destinationNamespace must be a string; got an array ([]).`],
      ['autoSync is a string', { autoSync: 'false' as any }, {}, `${owner}: autoSync must be a boolean; got "false".`],
      ['selfHeal is a string', { selfHeal: 'yes' as any }, {}, `${owner}: selfHeal must be a boolean; got "yes".`],
      ['prune is a number', { prune: 1 as any }, {}, `${owner}: prune must be a boolean; got number 1.`],
      ['statefulSet is not set', { statefulSet: undefined }, {},
        `${owner}: statefulSet must be the cluster's PostgresStatefulSet, e.g. statefulSet: cluster.statefulSet (of a PostgresClusterChart); got nothing.`],
      ['statefulSet is a name', { statefulSet: 'postgres-cluster' as any }, {},
        `${owner}: statefulSet must be the cluster's PostgresStatefulSet, e.g. statefulSet: cluster.statefulSet (of a PostgresClusterChart); `
        + 'got "postgres-cluster".'],
    ])('fails when %s', (_name, props, clusterProps, message) => {
      expectError(() => synthApplication(props, clusterProps), message);
    });

    test('fails when statefulSet is the cluster\'s chart, not its StatefulSet', () => {
      const cluster = new PostgresClusterChart(Testing.app(), 'postgres-cluster');
      expectError(() => new ArgoCdApplication(Testing.chart(), 'ArgoCd', { statefulSet: cluster as any, repoUrl: REPO }),
        `${owner}: statefulSet must be the cluster's PostgresStatefulSet, e.g. statefulSet: cluster.statefulSet (of a PostgresClusterChart); `
        + 'got the construct postgres-cluster (PostgresClusterChart).');
    });

    test('fails when props are not given (a JavaScript caller)', () => {
      expectError(() => new ArgoCdApplication(Testing.chart(), 'ArgoCd', undefined as any),
        `${owner}: props must be an object, e.g. { statefulSet: cluster.statefulSet, repoUrl: "https://github.com/acme/infra.git" }; got undefined.`);
    });

    test('fails when it is in the same App as the cluster (it would deploy itself from the directory it is written to)', () => {
      const app = Testing.app();
      const cluster = new PostgresClusterChart(app, 'postgres-cluster');
      expectError(() => new ArgoCdApplication(cluster, 'ArgoCd', { statefulSet: cluster.statefulSet, repoUrl: REPO }),
        'ArgoCdApplication postgres-cluster/ArgoCd: it is in the same cdk8s App as postgres-cluster/StatefulSet, so it would be written '
        + 'into the directory it deploys and Argo CD would sync the Application from itself. '
        + 'Create it in a second App, e.g. new App({ outdir: "dist/argocd" }).');
    });

    test('fails on a blank repoUrl or path, a path through "..", a revision or server URL with blanks or anything around it', () => {
      const fails = (props: Partial<ArgoCdApplicationProps>) => () => synthApplication(props);
      expect(fails({ repoUrl: '  ' })).toThrow(`${owner}: repoUrl is empty: set it to the Git repository`);
      for (const dir of ['', ' ', 'clusters/../../etc']) {
        expect(fails({ path: dir })).toThrow(
          `${owner}: path "${dir}" is not a directory in the repository: use one relative to its root, e.g. "dist" (or "." for the root).`);
      }
      for (const targetRevision of ['release 1', ' main', 'main ']) {
        expect(fails({ targetRevision })).toThrow(`${owner}: targetRevision "${targetRevision}" is not a Git revision`);
      }
      for (const destinationServer of ['xhttps://kubernetes.default.svc', 'https://kubernetes default', 'https://', 'ftp://api.example.com']) {
        expect(fails({ destinationServer })).toThrow(`${owner}: destinationServer "${destinationServer}" is not an API server URL`);
      }
      expect(fails({ destinationServer: 'http://api.example.com:6443', path: '.', targetRevision: 'v1.2.0' })).not.toThrow();
    });

    test('fails on a name or namespace longer than Kubernetes allows, and on a project that is not a name', () => {
      const fails = (props: Partial<ArgoCdApplicationProps>) => () => synthApplication(props);
      expect(fails({ name: 'a'.repeat(253) })).not.toThrow();
      expect(fails({ name: 'a'.repeat(254) })).toThrow(`${owner}: name "${'a'.repeat(254)}" is not a valid Kubernetes name: use at most 253`);
      expect(fails({ applicationNamespace: 'a'.repeat(63), destinationNamespace: 'b'.repeat(63) })).not.toThrow();
      expect(fails({ applicationNamespace: 'a'.repeat(64) })).toThrow(
        `${owner}: applicationNamespace "${'a'.repeat(64)}" is not a valid Kubernetes name: use at most 63 lower-case letters, digits and "-", `
        + 'starting and ending with a letter or digit, e.g. "argocd".');
      expect(fails({ destinationNamespace: 'Shop' })).toThrow(`${owner}: destinationNamespace "Shop" is not a valid Kubernetes name: use at most 63`);
      expect(fails({ project: 'Databases' })).toThrow(`${owner}: project "Databases" is not a valid Kubernetes name: use at most 253`);
    });

    test('a cluster chart without a namespace may be deployed to any destinationNamespace', () => {
      const application = synthApplication({ destinationNamespace: 'shop' });
      expect(application.spec.destination.namespace).toBe('shop');
      expect(application.spec.ignoreDifferences[0].namespace).toBe('shop');
    });
  });
});

describe('the schema check itself', () => {
  test('fails for an Application that breaks Argo CD\'s schema', () => {
    const application = synthApplication();
    const broken = {
      ...application,
      spec: {
        ...application.spec,
        project: undefined,
        source: { ...application.spec.source, repoUrl: REPO },
        syncPolicy: { automated: { selfHeal: 'yes' } },
      },
    };
    delete broken.spec.project;
    expect(schemaErrors(broken, applicationSchema())).toEqual([
      '/spec/project: required, missing',
      '/spec/source/repoUrl: not in the schema',
      '/spec/syncPolicy/automated/selfHeal: "yes" is not of type boolean',
    ]);
    expect(() => new Application(broken).validate()).toThrow(/project|selfHeal/);
  });
});

describe('Argo CD sync waves', () => {
  const WAVES: { [kind: string]: string } = {
    ConfigMap: '-1',
    Secret: '-1',
    PersistentVolumeClaim: '-1',
    ServiceAccount: '-1',
    Role: '-1',
    RoleBinding: '-1',
    NetworkPolicy: '-1',
    StatefulSet: '0',
    Service: '0',
    PodDisruptionBudget: '0',
    CronJob: '1',
  };

  test('order configuration and RBAC before the StatefulSet and Services, and those before the failover CronJob', () => {
    const objects = synthClusterWithSyncWaves();
    const id = (o: Manifest) => `${o.kind}/${o.metadata.name}`;
    expect(objects.map(o => `${id(o)}: ${waveOf(o)}`)).toEqual(objects.map(o => `${id(o)}: ${WAVES[o.kind]}`));
    const waves = (kinds: string[]) => objects.filter(o => kinds.includes(o.kind)).map(o => Number(waveOf(o)));
    const config = waves(['ConfigMap', 'Secret', 'ServiceAccount', 'Role', 'RoleBinding', 'NetworkPolicy']);
    const statefulSet = waves(['StatefulSet']);
    const cronJob = waves(['CronJob']);
    expect([config, statefulSet, cronJob].map(group => group.length > 0)).toEqual([true, true, true]);
    expect(Math.max(...config)).toBeLessThan(Math.min(...statefulSet));
    expect(Math.max(...waves(['StatefulSet', 'Service']))).toBeLessThan(Math.min(...cronJob));
  });

  test('give every object of a customized cluster a wave', () => {
    const objects = synthClusterWithSyncWaves({ clusterName: 'orders', namespace: 'shop', existingSecretName: 'orders-db', anyService: false });
    expect(objects.filter(o => waveOf(o) === undefined).map(o => `${o.kind}/${o.metadata.name}`)).toEqual([]);
  });

  test('change only the objects\' own annotations: the pod template, and so the pods, stay as they are', () => {
    const withoutWaves = synthCluster();
    const withWaves = synthClusterWithSyncWaves();
    const stripped = withWaves.map(o => {
      const { [SYNC_WAVE]: _wave, ...annotations } = o.metadata.annotations ?? {};
      const metadata = { ...o.metadata, annotations };
      if (Object.keys(annotations).length === 0) delete metadata.annotations;
      return { ...o, metadata };
    });
    expect(stripped).toEqual(withoutWaves);
  });

  test('are absent unless asked for: no object of the default cluster has one', () => {
    expect(synthCluster().filter(o => waveOf(o) !== undefined)).toEqual([]);
  });
});

describe('applying dist/ again', () => {
  test('synthesizing the same cluster and Application twice gives byte-identical YAML (nothing random or time-based)', () => {
    const synthYaml = () => {
      const clusterApp = Testing.app();
      const cluster = new PostgresClusterChart(clusterApp, 'postgres-cluster', { synchronousReplicas: 1 });
      ArgoCdApplication.addSyncWaves(cluster);
      const argoApp = Testing.app();
      new ArgoCdApplication(new Chart(argoApp, 'argocd'), 'ArgoCd', { statefulSet: cluster.statefulSet, repoUrl: REPO });
      return [clusterApp.synthYaml(), argoApp.synthYaml()];
    };
    expect(synthYaml()).toEqual(synthYaml());
  });

  test('the default dist/ starts nothing that changes the cluster: no Job or Pod, the failover CronJob suspended, the only schedule a read-only dump', () => {
    const dist = path.join(__dirname, '..', 'dist');
    const files = fs.readdirSync(dist).filter(f => f.endsWith('.yaml'));
    expect(files).toContain('postgres-cluster.k8s.yaml');
    const objects: Manifest[] = files.flatMap(f => parseAllDocuments(fs.readFileSync(path.join(dist, f), 'utf8')).map(d => d.toJS()));
    expect(objects.filter(o => o.kind === 'Job' || o.kind === 'Pod')).toEqual([]);
    const cronJobs = objects.filter(o => o.kind === 'CronJob');
    expect(cronJobs.map(o => [o.metadata.name, o.spec.suspend])).toEqual([['postgres-failover', true], ['postgres-backup', undefined]]);
    // The backup logs in as the application role (no superuser, no API token) and runs pg_dump, which only reads.
    const backup = cronJobs[1].spec.jobTemplate.spec.template.spec;
    expect([backup.automountServiceAccountToken, backup.containers.map((c: any) => c.command)]).toEqual([false, [['/bin/bash', '/opt/postgres-cluster/backup.sh']]]);
    expect(backup.containers[0].env.find((e: any) => e.name === 'PGUSER').value).toBe('app');
  });
});

describe('main.ts with ARGOCD_REPO_URL', () => {
  test('writes the Application for dist/ into dist/argocd/, and dist/ itself as without it', () => {
    const root = path.join(__dirname, '..');
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'argocd-main-'));
    try {
      const run = spawnSync(process.execPath, ['-r', 'sucrase/register', 'main.ts'], {
        cwd: root, encoding: 'utf8', env: { ...process.env, CDK8S_OUTDIR: outdir, ARGOCD_REPO_URL: REPO },
      });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(fs.readFileSync(path.join(outdir, 'postgres-cluster.k8s.yaml'), 'utf8'))
        .toBe(fs.readFileSync(path.join(root, 'dist', 'postgres-cluster.k8s.yaml'), 'utf8'));
      const [application] = parseAllDocuments(fs.readFileSync(path.join(outdir, 'argocd', 'postgres-cluster-argocd.k8s.yaml'), 'utf8'))
        .map(d => d.toJSON());
      expect(application).toMatchObject({ kind: 'Application', spec: { source: { repoURL: REPO, path: 'dist' } } });
      expect(fs.readdirSync(outdir).sort()).toEqual(['argocd', 'postgres-cluster.k8s.yaml']);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});
