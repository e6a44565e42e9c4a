import { ApiObject, Chart } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import type { PostgresStatefulSet } from './postgres-stateful-set';
import type { ApplicationProps } from './private/imports/argoproj.io.generated';
import { DNS_LABEL, DNS_SUBDOMAIN, shown, validateTypes } from './private/validation';

/** The annotation that orders Argo CD's sync: lower waves are applied, and healthy, before higher ones. */
const SYNC_WAVE_ANNOTATION = 'argocd.argoproj.io/sync-wave';

/** Sync wave of each kind the library writes: configuration and RBAC, then the pods and their Services, then the failover job. */
const SYNC_WAVES: { readonly [kind: string]: string } = {
  ConfigMap: '-1',
  Secret: '-1',
  // The backup's volume, before its CronJob.
  PersistentVolumeClaim: '-1',
  // The pods wait for the Secret that cert-manager makes from it.
  Certificate: '-1',
  ServiceAccount: '-1',
  Role: '-1',
  RoleBinding: '-1',
  // Before the pods: they never run unprotected, and the policies allow all they need.
  NetworkPolicy: '-1',
  StatefulSet: '0',
  Service: '0',
  // With the pods it protects: in an earlier wave, a budget over no pods yet could hold the sync up.
  PodDisruptionBudget: '0',
  CronJob: '1',
};

/** What `git clone` takes: a URL (https, ssh, git, file) or scp-like `user@host:path`. */
const GIT_URL = /^((https?|ssh|git|file):\/\/[^\s/]+\/\S*|[\w.-]+@[\w.-]+:\S+)$/;

/**
 * Properties of {@link ArgoCdApplication}.
 */
export interface ArgoCdApplicationProps {
  /**
   * The cluster's StatefulSet (`PostgresClusterChart.statefulSet`): its name, namespace and cluster name.
   */
  readonly statefulSet: PostgresStatefulSet;

  /**
   * Git repository that holds the synthesized YAML, e.g. "https://github.com/acme/infra.git".
   */
  readonly repoUrl: string;

  /**
   * Directory of the synthesized YAML, relative to the repository root.
   * @default "dist"
   */
  readonly path?: string;

  /**
   * Branch, tag or commit to deploy.
   * @default "HEAD"
   */
  readonly targetRevision?: string;

  /**
   * Name of the Application. Not the cluster's name: that is the `app.kubernetes.io/instance` label of the
   * leader record (a Lease made at run time), which Argo CD's label tracking would take for its own.
   * @default - the StatefulSet's name, "<clusterName>-cluster"
   */
  readonly name?: string;

  /**
   * Namespace of the Application object itself: the one Argo CD watches.
   * @default "argocd"
   */
  readonly applicationNamespace?: string;

  /**
   * Argo CD project of the Application.
   * @default "default"
   */
  readonly project?: string;

  /**
   * API server of the Kubernetes cluster to deploy to.
   * @default "https://kubernetes.default.svc" (the cluster Argo CD runs in)
   */
  readonly destinationServer?: string;

  /**
   * Namespace to deploy to. It must be the chart's namespace when the chart has one.
   * @default - the chart's namespace, or "default"
   */
  readonly destinationNamespace?: string;

  /**
   * Sync automatically when the repository changes.
   * @default true
   */
  readonly autoSync?: boolean;

  /**
   * Undo changes made in the cluster to what the repository holds (except `spec.replicas` of the StatefulSet).
   * Requires `autoSync`.
   * @default true
   */
  readonly selfHeal?: boolean;

  /**
   * Delete objects that are no longer in the repository. Off by default: a renamed StatefulSet would be deleted.
   * Requires `autoSync`.
   * @default false
   */
  readonly prune?: boolean;
}

/**
 * An Argo CD `Application` (argoproj.io/v1alpha1) that deploys a cluster's synthesized directory from Git.
 * It tells Argo CD to leave the StatefulSet's `spec.replicas` to `kubectl scale` (`ignoreDifferences`,
 * respected by syncs too), so neither a sync nor self-heal changes the number of pods. Put it in a chart of
 * its own, in another cdk8s App than the cluster: it must not be in the directory it deploys.
 * `ArgoCdApplication.addSyncWaves` (the chart's `argoCdSyncWaves`) orders the cluster's objects.
 */
export class ArgoCdApplication extends Construct {
  /**
   * Annotates each of the library's objects under `scope` (a cluster chart) with its Argo CD sync wave:
   * ConfigMaps, Secrets, ServiceAccounts, Roles and RoleBindings "-1", the StatefulSet, its PodDisruptionBudget
   * and the Services "0", the failover CronJob "1". Only object metadata changes: the pod template, and so the pods, stay as they are.
   */
  public static addSyncWaves(scope: IConstruct): void {
    for (const child of scope.node.findAll()) {
      const wave = ApiObject.isApiObject(child) ? SYNC_WAVES[child.kind] : undefined;
      if (wave !== undefined) (child as ApiObject).metadata.addAnnotation(SYNC_WAVE_ANNOTATION, wave);
    }
  }

  /** Name of the Application. */
  public readonly name: string;
  /** Namespace of the Application object. */
  public readonly applicationNamespace: string;
  /** Git repository that holds the synthesized YAML. */
  public readonly repoUrl: string;
  /** Directory of the synthesized YAML in the repository. */
  public readonly path: string;
  /** Branch, tag or commit deployed. */
  public readonly targetRevision: string;
  /** Namespace deployed to. */
  public readonly destinationNamespace: string;
  /** API server deployed to. */
  public readonly destinationServer: string;
  /** Whether Argo CD syncs automatically. */
  public readonly autoSync: boolean;
  /** Whether Argo CD undoes changes made in the cluster. */
  public readonly selfHeal: boolean;
  /** Whether Argo CD deletes objects that are no longer in the repository. */
  public readonly prune: boolean;

  constructor(scope: Construct, id: string, props: ArgoCdApplicationProps) {
    super(scope, id);
    const owner = `ArgoCdApplication ${this.node.path}`;
    // JavaScript and Python callers (and props read from YAML or JSON) may pass anything: each prop is checked
    // before it is used, so that a wrong one is named instead of surfacing as a TypeError.
    if (props === null || typeof props !== 'object' || Array.isArray(props)) {
      throw new Error(`${owner}: props must be an object, e.g. { statefulSet: cluster.statefulSet, repoUrl: "https://github.com/acme/infra.git" }; `
        + `got ${shown(props)}.`);
    }
    validateStatefulSet(owner, props.statefulSet);
    validateTypes(owner, props, {
      repoUrl: 'string',
      path: 'string',
      targetRevision: 'string',
      name: 'string',
      applicationNamespace: 'string',
      project: 'string',
      destinationServer: 'string',
      destinationNamespace: 'string',
      autoSync: 'boolean',
      selfHeal: 'boolean',
      prune: 'boolean',
    });
    const statefulSet = props.statefulSet;
    const chartNamespace = Chart.of(statefulSet).namespace;
    this.name = props.name ?? statefulSet.name;
    this.applicationNamespace = props.applicationNamespace ?? 'argocd';
    this.repoUrl = props.repoUrl;
    this.path = props.path ?? 'dist';
    this.targetRevision = props.targetRevision ?? 'HEAD';
    this.destinationNamespace = props.destinationNamespace ?? chartNamespace ?? 'default';
    this.destinationServer = props.destinationServer ?? 'https://kubernetes.default.svc';
    this.autoSync = props.autoSync ?? true;
    this.selfHeal = this.autoSync && (props.selfHeal ?? true);
    this.prune = this.autoSync && (props.prune ?? false);
    const project = props.project ?? 'default';

    if (this.node.root === statefulSet.node.root) {
      throw new Error(`${owner}: it is in the same cdk8s App as ${statefulSet.node.path}, so it would be written into the directory `
        + 'it deploys and Argo CD would sync the Application from itself. Create it in a second App, e.g. new App({ outdir: "dist/argocd" }).');
    }
    validateRepoUrl(owner, this.repoUrl);
    validatePath(owner, this.path);
    if (!/^\S+$/.test(this.targetRevision)) {
      throw new Error(`${owner}: targetRevision ${shown(this.targetRevision)} is not a Git revision: use a branch, tag or commit, e.g. "main" or "HEAD".`);
    }
    validateName(owner, 'name', this.name, DNS_SUBDOMAIN, 253, '"orders-db"');
    if (this.name === statefulSet.config.clusterName) {
      // Argo CD's label tracking (the default before 3.0) claims every object labeled app.kubernetes.io/instance=<name>.
      throw new Error(`${owner}: name ${shown(this.name)} is the cluster's app.kubernetes.io/instance label, so Argo CD's label tracking `
        + `would take the leader record made at run time (Lease ${statefulSet.config._names.leaderRecord}) for an object to prune: `
        + `use another name, e.g. "${statefulSet.name}".`);
    }
    validateName(owner, 'applicationNamespace', this.applicationNamespace, DNS_LABEL, 63, '"argocd"');
    validateName(owner, 'destinationNamespace', this.destinationNamespace, DNS_LABEL, 63, '"shop"');
    validateName(owner, 'project', project, DNS_SUBDOMAIN, 253, '"default"');
    if (chartNamespace !== undefined && this.destinationNamespace !== chartNamespace) {
      throw new Error(`${owner}: destinationNamespace ${shown(this.destinationNamespace)} differs from the namespace ${shown(chartNamespace)} `
        + `that the cluster's objects name: drop destinationNamespace, or set the chart's namespace to ${shown(this.destinationNamespace)}.`);
    }
    if (!/^https?:\/\/\S+$/.test(this.destinationServer)) {
      throw new Error(`${owner}: destinationServer ${shown(this.destinationServer)} is not an API server URL: `
        + 'use e.g. "https://kubernetes.default.svc" (the cluster Argo CD runs in).');
    }
    for (const option of ['selfHeal', 'prune'] as const) {
      if (props[option] === true && !this.autoSync) {
        throw new Error(`${owner}: ${option} is true but autoSync is false: Argo CD only heals and prunes automated Applications; `
          + `set autoSync to true, or drop ${option}.`);
      }
    }

    const application: ApplicationProps = {
      metadata: { name: this.name, namespace: this.applicationNamespace, labels: { ...statefulSet.config._names.common } },
      spec: {
        project,
        source: {
          repoUrl: this.repoUrl,
          path: this.path,
          targetRevision: this.targetRevision,
          // A plain directory, without its subdirectories (where a second App may write this Application).
          directory: { recurse: false },
        },
        destination: { server: this.destinationServer, namespace: this.destinationNamespace },
        // The number of pods is kubectl scale's (a scale-down must first move the primary off the pods that go).
        ignoreDifferences: [{
          group: 'apps',
          kind: 'StatefulSet',
          name: statefulSet.name,
          namespace: this.destinationNamespace,
          jsonPointers: ['/spec/replicas'],
        }],
        syncPolicy: {
          automated: this.autoSync ? { prune: this.prune, selfHeal: this.selfHeal } : undefined,
          // Without it a sync would still write spec.replicas back from the repository.
          syncOptions: ['RespectIgnoreDifferences=true'],
        },
      },
    };
    new (loadApplicationClass())(this, 'Resource', application);
  }
}

/** The generated Application class, loaded only when one is made: its module adds ~0.1 s to every `cdk8s synth`. */
function loadApplicationClass(): typeof import('./private/imports/argoproj.io.generated').Application {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./private/imports/argoproj.io.generated').Application;
}

/**
 * What the Application reads of the StatefulSet: a construct with its name and its cluster's names (not `instanceof`,
 * which fails when an app holds two copies of the library).
 */
function validateStatefulSet(owner: string, statefulSet: unknown): void {
  const candidate = statefulSet as Partial<PostgresStatefulSet> | undefined;
  if (!Construct.isConstruct(statefulSet) || typeof candidate?.name !== 'string' || typeof candidate.config?.clusterName !== 'string'
    || typeof candidate.config._names?.leaderRecord !== 'string') {
    throw new Error(`${owner}: statefulSet must be the cluster's PostgresStatefulSet, e.g. statefulSet: cluster.statefulSet `
      + `(of a PostgresClusterChart); got ${statefulSet === undefined ? 'nothing' : shown(statefulSet)}.`);
  }
}

function validateRepoUrl(owner: string, repoUrl: string | undefined): void {
  if (repoUrl === undefined) {
    throw new Error(`${owner}: repoUrl is not set: set it to the Git repository that holds the synthesized YAML, `
      + 'e.g. "https://github.com/acme/infra.git".');
  }
  if (repoUrl.trim() === '') {
    throw new Error(`${owner}: repoUrl is empty: set it to the Git repository that holds the synthesized YAML, `
      + 'e.g. "https://github.com/acme/infra.git".');
  }
  if (!GIT_URL.test(repoUrl)) {
    throw new Error(`${owner}: repoUrl ${shown(repoUrl)} is not a Git repository URL: use an https:// or ssh:// URL, or git@host:org/repo.git, `
      + 'e.g. "https://github.com/acme/infra.git".');
  }
}

function validatePath(owner: string, path: string): void {
  if (path.startsWith('/')) {
    throw new Error(`${owner}: path ${shown(path)} is absolute: Argo CD reads it relative to the repository root; use e.g. "dist".`);
  }
  if (path.trim() === '' || path.split('/').includes('..') || /[\0-\x1f\x7f]/.test(path)) {
    throw new Error(`${owner}: path ${shown(path)} is not a directory in the repository: use one relative to its root, e.g. "dist" (or "." for the root).`);
  }
}

function validateName(owner: string, prop: string, value: string, pattern: RegExp, maxLength: number, example: string): void {
  if (!pattern.test(value) || value.length > maxLength) {
    throw new Error(`${owner}: ${prop} ${shown(value)} is not a valid Kubernetes name: use at most ${maxLength} lower-case letters, digits and "-", `
      + `starting and ending with a letter or digit, e.g. ${example}.`);
  }
}
