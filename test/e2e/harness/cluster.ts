import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { ApiPod, ApiStandIn, TokenIdentity } from './api';
import { Result, runAsync, sleep, waitFor } from './exec';
import { kubectlBinary } from './kubectl';
import { KubeObject, Manifests, matchesSelector } from './manifests';
import { PodNetwork, removeStaleNamespaces } from './network';
import { StoredObject } from './objects';
import { API_SERVER_ADDRESS, containerEnvironment, FAKETIME_LIBRARY, Pod, PodHost } from './pod';
import { ApiTls, makeApiTls } from './tls';

const HARNESS_BIN = path.join(__dirname, 'bin');
const STATE_ROOT = '/var/tmp/cdk8s-postgres-e2e';
const CLIENT_PATH = '/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin';
let runCounter = 0;

export interface ClusterOptions {
  /** The synthesized YAML to run. */
  readonly manifest: string;
  /** Pods to start with. @default the StatefulSet's replicas */
  readonly replicas?: number;
  /**
   * Volumes that already hold data when the cluster starts, e.g. a pgBackRest repository that another cluster
   * left: PersistentVolumeClaims by claim name (a StatefulSet's `<template>-<pod>`, e.g. `data-postgres-cluster-0`,
   * or a pod's `persistentVolumeClaim.claimName`), each given as a host directory. Before any pod starts, its
   * content is copied (`cp -a dir/. claim/`: owners, modes and times kept exactly, the directory's own too) into
   * the claim's fresh volume (`claimDir(name)`, which holds `lost+found`); the directory itself is not changed.
   * The kubelet's fsGroup ownership change of a mounted volume's files is not emulated, here as for any volume.
   * Another cluster's volume is `volumeOf(pod)` or `claimDir(name)` of it: copy it out, or start the new cluster,
   * before that cluster's destroy() removes its state (stop its pods first, as a volume is detached before it is
   * attached elsewhere). @default none: every claim starts empty
   */
  readonly claims?: Readonly<Record<string, string>>;
  /**
   * Runs after the pod network and the API stand-in exist and before any pod starts: for a server outside the cluster
   * that the pods reach (an object store started in `cluster.hub.netns`, listening on `cluster.hub.address`), and the
   * Secrets that name its credentials (`cluster.updateSecret`). @default nothing
   */
  readonly beforePods?: (cluster: E2eCluster) => Promise<void>;
  /** How long start() waits for every pod to be ready before it fails (with the diagnostics). @default 90 s */
  readonly readyTimeoutMs?: number;
  /**
   * Asked while start() waits for the pods: once it gives a reason, start() fails at once with it (and the diagnostics)
   * instead of at readyTimeoutMs. For a cluster that must never become ready, so that its test waits until it has seen
   * what it looks for, however slow the machine, and no longer. @default none
   */
  readonly failWhen?: (cluster: E2eCluster) => string | undefined;
  /** How many of each container's last log lines the diagnostics (and so start()'s failure) show. @default 80 */
  readonly diagnosticLogLines?: number;
  /**
   * How long the API server lets a watch without timeoutSeconds run before it ends it (kubectl's `get --watch` asks
   * for none): kube-apiserver ends one after 30 to 60 minutes. @default DEFAULT_WATCH_TIMEOUT_MS (30 min)
   */
  readonly watchTimeoutMs?: number;
}

/** A run of a CronJob's job template: one pod, `restartPolicy: Never`. */
export interface JobRun {
  /** The Job's name (`<cronjob>-<n>`). */
  readonly name: string;
  /** Its pod's name (`<job>-<5 characters>`), also its HOSTNAME. */
  readonly pod: string;
  /** Resolves when the pod has ended (succeeded, failed, or was killed): the exit code and the container's log. */
  readonly finished: Promise<Result & { pod: string }>;
  /** SIGKILL to every process of the job's pod; the pod is Failed. Resolves when they are gone. */
  kill(): Promise<void>;
}

/** What to cut a pod off from; without options, both (its node is partitioned). */
export interface CutOffOptions {
  /** The pod's kubectl requests, and `kubectl exec` into it, time out like an unreachable API server. */
  readonly api?: boolean;
  /** Its link to the pod network goes down: no peer, Service or client reaches it, nor it them. */
  readonly network?: boolean;
}

interface ServiceAddress {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  readonly targetPort: number;
  readonly selector: Record<string, string>;
  /** Every pod that matches the selector is an endpoint, ready or not. */
  readonly publishNotReadyAddresses: boolean;
}

/**
 * Runs a synthesized cluster on this machine: the StatefulSet's pods (OrderedReady or Parallel),
 * its Services (following the pods' labels and readiness as the API server reports them, as the
 * endpoints controller and kube-proxy do), runs of the CronJobs, the API server's Leases and Secrets
 * (the manifests' Secrets are there from the start, as after `kubectl apply`),
 * partitions of pods from the network and from the API, failed and frozen nodes, and each node's wall clock.
 * See test/e2e/README.md for what is emulated how.
 */
export class E2eCluster implements PodHost {
  /** Starts the cluster and waits until every pod is ready. */
  public static async start(options: ClusterOptions): Promise<E2eCluster> {
    const cluster = new E2eCluster(options);
    try {
      for (const [claim, source] of Object.entries(options.claims ?? {})) cluster.restoreClaim(claim, source);
      await options.beforePods?.(cluster);
      await cluster.boot();
      await cluster.waitForPods(cluster.desiredReplicas, options.readyTimeoutMs ?? 90_000, options.failWhen && (() => options.failWhen!(cluster)));
    } catch (error) {
      const logs = cluster.diagnostics();
      await cluster.destroy();
      throw new Error(`${(error as Error).message}\n${logs}`);
    }
    return cluster;
  }

  public readonly namespace = 'default';
  public readonly stateDir: string;
  public readonly standInBin: string;
  public readonly launcher = path.join(HARNESS_BIN, 'container-launch.sh');
  public readonly manifests: Manifests;
  public readonly statefulSet: KubeObject;
  public readonly services: ServiceAddress[] = [];
  /** Each time the write Service had more than one endpoint: the time and the pods. */
  public readonly writeServiceViolations: Array<{ at: number; pods: string[] }> = [];
  private readonly network: PodNetwork;
  private readonly api: ApiStandIn;
  /** The cluster's root CA (the pods' ca.crt) and the API server's certificate. */
  public readonly tls: ApiTls;
  private readonly statefulSetPods = new Map<string, Pod>();
  private readonly podAddresses = new Map<string, { netns: string; ip: string }>();
  private readonly jobPods = new Set<Pod>();
  private readonly jobTimers = new Set<NodeJS.Timeout>();
  private readonly tokens = new Map<string, TokenIdentity>();
  /** Namespaces whose link is down: a pod created anew in one is on a healthy node, and gets its link back. */
  private readonly disconnected = new Set<string>();
  /**
   * The control plane is down (apiOutage): the endpoints controller and the node lifecycle controller run beside the API
   * server, so the Services' endpoints stay as they were, and no silent pod is marked not ready, until it is back.
   */
  private controlPlaneDown = false;
  /** Namespaces whose link is down because the pod's node is dead (killPod) or frozen: up again when it runs again. */
  private readonly silenced = new Set<string>();
  /** What a frozen pod's partition was before the freeze, to leave it so at the thaw. */
  private readonly frozenApiCut = new Map<string, boolean>();
  private proxy?: ChildProcess;
  /** Client scripts still running (clientScript): destroy() ends them, so a failed test leaves no loop behind. */
  private readonly clients = new Set<ChildProcess>();
  private controller?: NodeJS.Timeout;
  private desiredReplicas: number;
  /** StatefulSet pods deleted and not made again, by name (their logs stay in the diagnostics). */
  private readonly departed = new Map<string, Pod>();
  private readonly writeService: string;
  private jobCounter = 0;
  private readonly diagnosticLogLines: number;

  private constructor(options: ClusterOptions) {
    if (process.getuid?.() !== 0) {
      throw new Error('the e2e harness needs root (network namespaces, mounts, setpriv): run the tests as root, as CI does');
    }
    if (!fs.existsSync(FAKETIME_LIBRARY)) {
      throw new Error(`the e2e harness needs ${FAKETIME_LIBRARY} (each pod's wall clock): apt-get install libfaketime, as npm test does`);
    }
    this.manifests = Manifests.fromFile(options.manifest);
    this.statefulSet = this.manifests.only('StatefulSet');
    this.desiredReplicas = options.replicas ?? this.statefulSet.spec.replicas;
    const write = this.manifests.all('Service').find(s => s.spec.selector?.role === 'primary');
    if (!write) throw new Error('the manifests have no Service that selects role=primary');
    this.writeService = write.metadata.name;
    this.diagnosticLogLines = options.diagnosticLogLines ?? 80;

    removeStaleNamespaces(/^pgt(\d+)c\d+-/, pid => { try { process.kill(pid, 0); return true; } catch { return false; } });
    const prefix = `pgt${process.pid}c${runCounter++}`;
    this.stateDir = path.join(STATE_ROOT, prefix);
    fs.rmSync(this.stateDir, { recursive: true, force: true });
    fs.mkdirSync(path.join(this.stateDir, 'endpoints'), { recursive: true });
    fs.chmodSync(STATE_ROOT, 0o755);
    this.standInBin = path.join(this.stateDir, 'bin');
    fs.mkdirSync(this.standInBin);
    // The real kubectl, as the kubectl image has it on PATH (a link to the unpacked binary: readable wherever the clone is).
    linkOrCopy(kubectlBinary(), path.join(this.standInBin, 'kubectl'));
    this.tls = makeApiTls(path.join(this.stateDir, 'pki'), API_SERVER_ADDRESS.split(':')[0]);
    this.network = new PodNetwork(prefix);
    this.api = new ApiStandIn(this, path.join(this.stateDir, 'api.sock'), this.tls, options.watchTimeoutMs);
  }

  // ---- PodHost ----

  /**
   * The hub namespace, which holds the pod network's bridge, and the bridge's own address: outside every pod, as a
   * node's host network is, and reached by every pod (a server started there with `ip netns exec <netns>` is outside the
   * cluster).
   */
  public get hub(): { netns: string; address: string } {
    return { netns: this.network.hub, address: this.network.address(1) };
  }

  public get rootCa(): string {
    return this.tls.ca;
  }

  public configMap(name: string): KubeObject {
    return this.manifests.get('ConfigMap', name);
  }

  /**
   * Replaces a ConfigMap's data, as `kubectl apply` of a changed one does; each pod's kubelet writes the new files into
   * the volumes that mount it at its next sync (SECRET_VOLUME_SYNC_MS here, about a minute on a real node).
   */
  public updateConfigMap(name: string, data: Record<string, string>): void {
    Object.assign(this.manifests.get('ConfigMap', name), { data: { ...data } });
  }

  /**
   * A new pod template, as `kubectl apply` of a changed StatefulSet writes it: the controller rolls the pods to it
   * (see rolloutRestart). Waits until every pod is of the new revision and ready.
   */
  public async applyTemplate(template: KubeObject['spec'], timeoutMs = 180_000): Promise<void> {
    this.setTemplate(template);
    await this.waitForRevision(this.revision, timeoutMs);
  }

  /** A new pod template, without waiting: the controller rolls the pods to it as far as it can. */
  public setTemplate(template: KubeObject['spec']): void {
    this.statefulSet.spec.template = JSON.parse(JSON.stringify(template));
  }

  /** The Secret as the API server stores it now (a copy, base64 `data`): from the manifests, or created or changed since. */
  public secret(name: string): KubeObject {
    const found = this.findSecret(name);
    if (!found) throw new Error(`the API has no Secret ${name} (not in the manifests, nor created since)`);
    return found;
  }

  /** The Secret as the API server stores it now (a copy), or undefined. */
  public findSecret(name: string): KubeObject | undefined {
    return this.api.secret(name) as KubeObject | undefined;
  }

  public claimDir(claim: string): string {
    const dir = path.join(this.stateDir, 'claims', claim);
    if (!fs.existsSync(dir)) {
      // A fresh volume: its root belongs to the pod's fsGroup (set-group-id) and holds lost+found.
      const fsGroup = this.statefulSet.spec.template.spec.securityContext?.fsGroup ?? 0;
      fs.mkdirSync(path.join(dir, 'lost+found'), { recursive: true, mode: 0o700 });
      fs.chownSync(dir, 0, fsGroup);
      fs.chmodSync(dir, 0o2775);
    }
    return dir;
  }

  public serviceAccountToken(account: string, pod: string): string {
    const token = `${account}.${crypto.randomBytes(8).toString('hex')}`;
    this.tokens.set(token, { account, pod });
    return token;
  }

  public automountsToken(account: string): boolean {
    const serviceAccount = this.manifests.all('ServiceAccount').find(a => a.metadata.name === account);
    return serviceAccount?.automountServiceAccountToken ?? true;
  }

  // ---- ApiBackend ----

  public identityOf(token: string): TokenIdentity | undefined {
    return this.tokens.get(token);
  }

  public onReadinessChange(): void {
    this.updateEndpoints();
  }

  public onLabelsChange(): void {
    this.updateEndpoints();
  }

  public statefulSetObject(): KubeObject {
    const live = this.livePods();
    const revision = this.revision;
    const ordinal = (p: Pod) => Number(p.name.split('-').pop());
    const stale = live.filter(p => p.labels['controller-revision-hash'] !== revision).sort((a, b) => ordinal(a) - ordinal(b))[0];
    return {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { ...this.statefulSet.metadata },
      spec: { ...this.statefulSet.spec, replicas: this.desiredReplicas },
      status: {
        replicas: live.length,
        readyReplicas: live.filter(p => p.reportedReady).length,
        updatedReplicas: live.filter(p => p.labels['controller-revision-hash'] === revision).length,
        currentRevision: stale?.labels['controller-revision-hash'] ?? revision,
        updateRevision: revision,
      },
    };
  }

  public deletePodByRequest(name: string): void {
    const pod = this.statefulSetPods.get(name);
    if (!pod || pod.phase === 'deleted') return;
    void this.deletePod(name);
  }

  /** Every pod the API server has an object of: the StatefulSet's and the jobs' (finished ones too). */
  public pods(): ApiPod[] {
    return [...this.livePods(), ...this.jobPods];
  }

  /** The StatefulSet's pods. */
  public livePods(): Pod[] {
    return [...this.statefulSetPods.values()].filter(p => p.phase !== 'deleted');
  }

  // ---- what tests do ----

  /** A pod of the StatefulSet, or of a job. */
  public pod(name: string): Pod {
    const pod = this.statefulSetPods.get(name) ?? [...this.jobPods].find(p => p.name === name);
    if (!pod || pod.phase === 'deleted') throw new Error(`no pod ${name}`);
    return pod;
  }

  public podName(ordinal: number): string {
    return `${this.statefulSet.metadata.name}-${ordinal}`;
  }

  /** The StatefulSet's current revision (its updateRevision), as the `controller-revision-hash` label of its pods. */
  public get revision(): string {
    const hash = crypto.createHash('sha256').update(JSON.stringify(this.statefulSet.spec.template)).digest('hex').slice(0, 10);
    return `${this.statefulSet.metadata.name}-${hash}`;
  }

  /**
   * Like `kubectl rollout restart statefulset` (a change of the pod template: a new revision): the controller's rolling
   * update deletes each pod of an older revision, highest ordinal first, one at a time, each once every pod is ready
   * again, and recreates it from the new template. Waits until every pod is of the new revision and ready.
   */
  public async rolloutRestart(timeoutMs = 180_000): Promise<void> {
    const template = this.statefulSet.spec.template;
    template.metadata = { ...template.metadata, annotations: { ...template.metadata?.annotations, 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } };
    await this.waitForRevision(this.revision, timeoutMs);
  }

  private async waitForRevision(revision: string, timeoutMs: number): Promise<void> {
    await waitFor('every pod of the new revision, ready', () => {
      const live = this.livePods();
      return live.length === this.desiredReplicas && live.every(p => p.ready && p.labels['controller-revision-hash'] === revision);
    }, timeoutMs, 250, () => this.diagnostics());
  }

  /** Like `kubectl scale statefulset --replicas=n`; waits until the controller has done it. */
  public async scale(replicas: number, timeoutMs = 90_000): Promise<void> {
    this.desiredReplicas = replicas;
    await this.waitForPods(replicas, timeoutMs);
  }

  /** Waits until `replicas` pods are live and ready; fails at once when `failWhen` gives a reason. */
  public async waitForPods(replicas: number, timeoutMs: number, failWhen?: () => string | undefined): Promise<void> {
    let failed: string | undefined;
    await waitFor(`${replicas} ready pods`, () => {
      failed = failWhen?.();
      if (failed !== undefined) return true;
      const live = this.livePods();
      return live.length === replicas && live.every(p => p.ready);
    }, timeoutMs, 250, () => this.diagnostics());
    if (failed !== undefined) throw new Error(failed);
  }

  /** Stops a pod's containers gracefully (as for a restart) and keeps them stopped. */
  public async stopPod(name: string): Promise<void> {
    await this.pod(name).stop();
    this.updateEndpoints();
  }

  /** Starts a stopped or killed pod's containers again, on the same volume, with the same labels. */
  public startPod(name: string): void {
    const pod = this.pod(name);
    this.unsilence(pod);
    pod.start();
  }

  /**
   * Kills every process of a pod with SIGKILL; nothing restarts them (a node failure) until startPod. A dead node
   * delivers nothing: its link goes down first, the Service proxy drops what it holds of the pod's connections as its
   * processes die, and what their sockets still hold is never sent (they are destroyed before the link comes back).
   * The link then comes back, so that a connection to the dead pod's address is refused at once (by the Service proxy
   * while the link is down), as before this
   * harness silenced kills: a dead node's address answering nothing (each connection waiting out its timeout) is what
   * freeze() models.
   */
  public async killPod(name: string): Promise<void> {
    const pod = this.pod(name);
    this.silence(pod);
    // A frozen pod that is killed: its kubelet reports again (its node is to start anew), unless a partition holds it.
    if (pod.frozen && !this.frozenApiCut.get(pod.name)) pod.reconnectToApi();
    this.frozenApiCut.delete(pod.name);
    // Every process gets SIGKILL now; the proxy resets the connections to the pod, whose clients reconnect at once, and
    // refuses new ones to it until its link is back (it refuses them itself then): through the dead link they would
    // wait for TCP's retransmission instead.
    const killed = pod.kill(() => this.network.pids(pod.netns));
    this.updateEndpoints();
    await this.cutAtProxy(pod.ip, 'refuse');
    await killed;
    this.network.dropSockets(pod.netns);
    this.unsilence(pod);
    await this.cutAtProxy(pod.ip, 'admit');
    this.updateEndpoints();
  }

  /**
   * Freezes a pod's node (until thaw): its link goes down and the Service proxy drops what it holds of the pod's
   * connections (a frozen kernel sends nothing), every process of the pod is stopped (SIGSTOP), and its kubelet with
   * them (no probes; the API keeps reporting the pod as it last saw it, as for a node cut off from the API).
   */
  public async freeze(name: string): Promise<void> {
    const pod = this.pod(name);
    if (pod.frozen) return;
    this.frozenApiCut.set(pod.name, pod.apiCutOff);
    pod.freeze();
    pod.cutOffFromApi();
    this.silence(pod);
    await this.cutAtProxy(pod.ip);
    // Until no new process turns up: one may fork while the others are being stopped.
    const stopped = new Set<number>();
    for (let pass = 0; pass < 20; pass++) {
      const pids = this.network.pids(pod.netns).filter(pid => !stopped.has(pid));
      if (pids.length === 0) break;
      for (const pid of pids) {
        try { process.kill(pid, 'SIGSTOP'); } catch { /* gone */ }
        stopped.add(pid);
      }
    }
    this.updateEndpoints();
  }

  /** Its node runs again: every process continues (SIGCONT), its link comes back, its kubelet probes and reports again. */
  public async thaw(name: string): Promise<void> {
    const pod = this.pod(name);
    if (!pod.frozen) return;
    for (const pid of this.network.pids(pod.netns)) {
      try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
    }
    this.unsilence(pod);
    if (!this.frozenApiCut.get(pod.name)) pod.reconnectToApi();
    this.frozenApiCut.delete(pod.name);
    pod.thaw();
    this.updateEndpoints();
  }

  /**
   * Moves a pod's node's wall clock `seconds` off the real one (0: back), for every process of the pod (libfaketime):
   * new processes at once, running ones within a second. Its monotonic clocks (/proc/uptime too) do not move.
   */
  public stepClock(name: string, seconds: number): void {
    this.pod(name).setClock(seconds);
  }

  /**
   * The wall clock as a pod reads it, less the real one, in whole seconds: in a new process (bash's $EPOCHREALTIME,
   * through `kubectl exec` into the postgres container) and in PostgreSQL (clock_timestamp() in a backend, forked from
   * the long-running postmaster).
   */
  public async clockOffsets(name: string): Promise<{ bash: number; postgres: number }> {
    const offset = async (read: () => Promise<string>) => {
      const before = Date.now();
      const seen = Number(await read());
      if (!Number.isFinite(seen)) throw new Error(`${name}: no clock reading`);
      return Math.round(seen - (before + Date.now()) / 2000);
    };
    const bash = await offset(async () => {
      const result = await this.pod(name).container('postgres').exec(['bash', '-c', 'echo "$EPOCHREALTIME"'], 10_000);
      if (result.code !== 0) throw new Error(`${name}: bash's clock: ${result.stderr}`);
      return result.stdout.trim();
    });
    const postgres = await offset(() => this.podSql(name, 'SELECT extract(epoch FROM clock_timestamp())'));
    return { bash, postgres };
  }

  /** Stops every pod of the StatefulSet gracefully, all at once, and keeps them stopped (as when every node restarts). */
  public async stopAll(): Promise<void> {
    await Promise.all(this.livePods().map(p => p.stop()));
    this.updateEndpoints();
  }

  /** Starts every stopped or killed pod of the StatefulSet again, all at once. */
  public startAll(): void {
    for (const pod of this.livePods()) if (pod.phase === 'stopped' || pod.phase === 'killed') this.startPod(pod.name);
  }

  /**
   * Partitions a pod (see CutOffOptions; without options, from both). Its processes keep running.
   * Cut off from the API, it stays as the API server saw it last (Running, ready, in its Services'
   * endpoints) until the node lifecycle controller marks it not ready after NODE_MONITOR_GRACE_MS.
   */
  public async cutOff(name: string, options: CutOffOptions = { api: true, network: true }): Promise<void> {
    const pod = this.pod(name);
    if (options.network && !pod.networkCutOff) {
      this.network.disconnect(pod.netns);
      this.disconnected.add(pod.netns);
      pod.networkCutOff = true;
    }
    if (options.api) pod.cutOffFromApi();
    this.updateEndpoints();
  }

  /**
   * The API server down for everyone (a control-plane outage, an etcd failure): every pod cut off from it, and the
   * controllers beside it stopped too, so endpoints do not change meanwhile (kube-proxy keeps the rules it has). The
   * tests' own kubectl still reaches it, to look. Ends with apiRestored.
   */
  public apiOutage(): void {
    this.controlPlaneDown = true;
    for (const pod of this.livePods()) pod.cutOffFromApi();
  }

  /** The API server back after apiOutage: every pod reaches it again, and the controllers catch up. */
  public apiRestored(): void {
    for (const pod of this.livePods()) if (!pod.frozen) pod.reconnectToApi();
    this.controlPlaneDown = false;
    this.updateEndpoints();
  }

  /** Ends every partition of the pod. */
  public async reconnect(name: string): Promise<void> {
    const pod = this.pod(name);
    if (pod.networkCutOff) {
      // A dead or frozen node stays silent.
      if (!this.silenced.has(pod.netns)) this.network.reconnect(pod.netns);
      this.disconnected.delete(pod.netns);
      pod.networkCutOff = false;
    }
    if (pod.frozen) this.frozenApiCut.set(pod.name, false);
    else pod.reconnectToApi();
    this.updateEndpoints();
  }

  /** How many watches the pod's kubectl has opened on the API server so far. */
  public watchCount(pod: string): number {
    return this.api.watchCount(pod);
  }

  /** The Lease as the API server stores it (a copy), or undefined. */
  public lease(name: string): StoredObject | undefined {
    return this.api.lease(name);
  }

  /**
   * Sets keys of a Secret to these plain-text values (stored base64, a new resourceVersion; its other keys stay),
   * or creates it (Opaque) if it does not exist: a password rotation, or a Secret created after the pods.
   * `kubectl get secret` shows it at once; mounted secret volumes follow within SECRET_VOLUME_SYNC_MS;
   * containers that run keep their environment (a container that starts later reads the new values).
   */
  public updateSecret(name: string, data: Record<string, string>): KubeObject {
    return this.api.updateSecret(name, data) as KubeObject;
  }

  /**
   * The real kubectl as cluster-admin, from the test (no RBAC, never partitioned), through a kubeconfig that
   * names the API server on 127.0.0.1: e.g. `kubectl(['create', '-f', '-'], json)`, `kubectl(['exec', pod, '--', 'id'])`.
   */
  public kubectl(args: string[], stdin?: string): Promise<Result> {
    const kubeconfig = path.join(this.stateDir, 'admin.kubeconfig');
    if (!fs.existsSync(kubeconfig)) fs.writeFileSync(kubeconfig, this.api.adminKubeconfig(), { mode: 0o600 });
    return runAsync(kubectlBinary(), ['--kubeconfig', kubeconfig, ...args], {
      env: { PATH: CLIENT_PATH, HOME: path.join(this.stateDir, 'admin-home') }, input: stdin ?? '', timeoutMs: 60_000,
    });
  }

  /** Like `kubectl delete pod`: graceful stop, then the StatefulSet creates it anew (its labels are gone). */
  public async deletePod(name: string): Promise<void> {
    const pod = this.pod(name);
    pod.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await pod.stop();
    pod.phase = 'deleted';
    this.statefulSetPods.delete(name);
    this.departed.set(name, pod);
    this.updateHosts();
    this.updateEndpoints();
  }

  /** The directory a pod's PersistentVolumeClaim is stored in. */
  public volumeOf(podName: string): string {
    const claim = this.statefulSet.spec.volumeClaimTemplates[0].metadata.name;
    return this.claimDir(`${claim}-${podName}`);
  }

  /**
   * The application's credentials, as an application reads them from its Secret (the postgres container's APP_USER and
   * APP_PASSWORD, resolved from the API's Secret now): the superuser may not log in over the network.
   */
  public appCredentials(): { user: string; password: string } {
    return { user: this.containerEnv('APP_USER'), password: this.containerEnv('APP_PASSWORD') };
  }

  /** Runs SQL through a Service (or any host name), as a client in the cluster would: the application's role by default. */
  public sql(host: string, sql: string,
    options: { database?: string; timeoutMs?: number; user?: string; password?: string; conninfo?: string } = {}): Promise<Result> {
    const database = options.database ?? this.containerEnv('POSTGRES_DB');
    const app = options.user === undefined ? this.appCredentials() : { user: options.user, password: options.password ?? '' };
    return runAsync('ip', ['netns', 'exec', this.network.hub, 'psql',
      `host=${host} user=${app.user} dbname=${database} connect_timeout=3 ${options.conninfo ?? ''}`, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    { env: { PATH: CLIENT_PATH, PGPASSWORD: app.password }, timeoutMs: options.timeoutMs ?? 20_000 });
  }

  /**
   * A client session that stays open: psql running `sql` through a Service or host name, in the
   * background, until it ends or the test kills the process (destroy() ends it too).
   */
  public clientProcess(host: string, sql: string, options: { database?: string } = {}): ChildProcess {
    const database = options.database ?? this.containerEnv('POSTGRES_DB');
    const app = this.appCredentials();
    return spawn('ip', ['netns', 'exec', this.network.hub, 'psql',
      `host=${host} user=${app.user} dbname=${database} connect_timeout=3`, '-XAtq', '-c', sql],
    { env: { PATH: CLIENT_PATH, PGPASSWORD: app.password }, stdio: 'ignore' });
  }

  /**
   * A client program in the cluster, like clientProcess: `bash -c script` (with `args` as $1...), psql on PATH,
   * the application's role and password in PGUSER and PGPASSWORD and the database in PGDATABASE; its stdout is piped to the test.
   * It runs in a process group of its own (stop it with process.kill(-pid)).
   */
  public clientScript(script: string, args: string[] = [], options: { database?: string } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.network.hub, 'bash', '-c', script, 'client', ...args], {
      env: {
        PATH: CLIENT_PATH,
        PGUSER: this.appCredentials().user,
        PGDATABASE: options.database ?? this.containerEnv('POSTGRES_DB'),
        PGPASSWORD: this.appCredentials().password,
        PGCONNECT_TIMEOUT: '3',
      },
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    this.clients.add(child);
    child.once('close', () => this.clients.delete(child));
    return child;
  }

  /** An HTTP GET from inside the cluster's network (as Prometheus would scrape a pod): status and body. */
  public async httpGet(host: string, port: number, urlPath: string): Promise<{ status: number; body: string }> {
    const script = `require('http').get({ host: process.argv[1], port: Number(process.argv[2]), path: process.argv[3], timeout: 5000 }, r => {
      let body = ''; r.on('data', d => body += d); r.on('end', () => process.stdout.write(JSON.stringify({ status: r.statusCode, body })));
    }).on('error', e => { process.stderr.write(String(e)); process.exit(1); });`;
    const result = await runAsync('ip', ['netns', 'exec', this.network.hub, process.execPath, '-e', script, host, String(port), urlPath],
      { timeoutMs: 10_000 });
    if (result.code !== 0) return { status: 0, body: result.stderr };
    return JSON.parse(result.stdout);
  }

  /** Runs SQL inside a pod's postgres container over its Unix socket (`kubectl exec ... psql`). */
  public async podSql(podName: string, sql: string, database = 'postgres'): Promise<string> {
    const result = await this.pod(podName).container('postgres').exec(['psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', sql], 20_000);
    if (result.code !== 0) throw new Error(`psql on ${podName} failed (${result.code}): ${result.stderr}`);
    return result.stdout.trim();
  }

  /** The value of an environment variable of the postgres container, resolved as the kubelet does. */
  public containerEnv(name: string): string {
    const template = this.statefulSet.spec.template;
    return containerEnvironment(this, this.podName(0), '', template, template.spec.containers[0])[name];
  }

  /** The Events the API server holds (the sidecars' podEvent), as `kubectl get events` lists them. */
  public events(): StoredObject[] {
    return this.api.events();
  }

  public endpoints(service: string): string[] {
    const ips = this.readEndpoints(service);
    return this.livePods().filter(p => ips.includes(`${p.ip}:5432`)).map(p => p.name).sort();
  }

  /**
   * Creates a run of a CronJob, like `kubectl create job <cronjob>-<n> --from=cronjob/<name>`, with
   * environment overrides (`kubectl set env`), and returns at once. Its pod carries the Job
   * controller's labels (`job-name`, `batch.kubernetes.io/job-name`, `controller-uid`) and is killed
   * after the job's activeDeadlineSeconds. Several may run at once.
   */
  public startJob(cronJobName: string, env: Record<string, string> = {}, command?: string[]): JobRun {
    const cronJob = this.manifests.get('CronJob', cronJobName);
    const jobSpec = cronJob.spec.jobTemplate.spec;
    const template = JSON.parse(JSON.stringify(jobSpec.template));
    // Like `kubectl create job --from=cronjob/<name> -- <command>`: the job's own pod, running something else.
    if (command !== undefined) template.spec.containers[0].command = command;
    template.spec.enableServiceLinks = template.spec.enableServiceLinks ?? false;
    for (const container of template.spec.containers) {
      for (const [name, value] of Object.entries(env)) {
        const existing = (container.env ?? []).find((e: any) => e.name === name);
        if (existing) { existing.value = value; delete existing.valueFrom; } else {(container.env = container.env ?? []).push({ name, value });}
      }
    }
    const job = `${cronJobName}-${++this.jobCounter}`;
    const controllerUid = crypto.randomUUID();
    template.metadata = { ...(template.metadata ?? {}) };
    template.metadata.labels = {
      ...(template.metadata.labels ?? {}),
      'batch.kubernetes.io/controller-uid': controllerUid,
      'batch.kubernetes.io/job-name': job,
      'controller-uid': controllerUid,
      'job-name': job,
    };
    const name = `${job}-${randomSuffix()}`;
    const address = this.podAddress(name);
    this.updateHosts();
    const pod = new Pod(this, name, template, address.netns, address.ip, [], 'Never');
    this.jobPods.add(pod);
    pod.start();
    const kill = () => pod.kill(() => this.network.pids(pod.netns));
    let deadline: NodeJS.Timeout | undefined;
    if (jobSpec.activeDeadlineSeconds) {
      // The Job controller ends a job that runs past its deadline (DeadlineExceeded).
      deadline = setTimeout(() => { this.jobTimers.delete(deadline!); void kill(); }, jobSpec.activeDeadlineSeconds * 1000);
      this.jobTimers.add(deadline);
    }
    const finished = pod.whenCompleted().then(() => {
      if (deadline) { clearTimeout(deadline); this.jobTimers.delete(deadline); }
      const container = pod.containers[0];
      const code = pod.phase === 'killed' ? 137 : container.lastExit?.code ?? 1;
      return { code, stdout: fs.existsSync(container.log) ? fs.readFileSync(container.log, 'utf8') : '', stderr: '', pod: name };
    });
    return { name: job, pod: name, finished, kill };
  }

  /** startJob, then waits for it to finish (killing it after timeoutMs) and returns its exit code and log. */
  public async runJob(cronJobName: string, env: Record<string, string> = {}, timeoutMs = 120_000): Promise<Result & { pod: string }> {
    const run = this.startJob(cronJobName, env);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<undefined>(resolve => { timer = setTimeout(() => resolve(undefined), timeoutMs); });
    const result = await Promise.race([run.finished, timedOut]);
    clearTimeout(timer);
    if (result) return result;
    const logs = this.pod(run.pod).logs();
    await run.kill();
    throw new Error(`timed out after ${timeoutMs} ms waiting for job ${run.name} to finish\n${logs}`);
  }

  /** Labels, readiness, endpoints and the recent logs of every pod: what a failing test shows. */
  public diagnostics(): string {
    const cut = (p: Pod) => `${p.apiCutOff ? ' CUT OFF from the API' : ''}${p.networkCutOff ? ' CUT OFF from the network' : ''}`;
    const state = [...this.statefulSetPods.values(), ...this.jobPods].map(p =>
      `${p.name}: ${p.phase} (API: ${p.toObject(this.namespace).status.phase}) ready=${p.ready} labels=${JSON.stringify(p.labels)}${cut(p)}`
      + `${p.waitingFor().map(w => `\n  waiting: ${w}`).join('')}`).join('\n');
    const endpoints = this.services.map(s => `${s.name} -> ${this.endpoints(s.name).join(',') || '(none)'}`).join('\n');
    const leases = this.api.allLeases().map(l =>
      `${l.metadata.name} resourceVersion=${l.metadata.resourceVersion} holder=${l.spec?.holderIdentity ?? ''} `
      + `annotations=${JSON.stringify(l.metadata.annotations ?? {})}`).join('\n') || '(none)';
    // Names and keys, not values.
    const secrets = this.api.allSecrets().map(s =>
      `${s.metadata.name} resourceVersion=${s.metadata.resourceVersion} keys=${Object.keys(s.data ?? {}).join(',')}`).join('\n') || '(none)';
    const logs = [...this.statefulSetPods.values(), ...this.jobPods].map(p => p.logs(this.diagnosticLogLines)).join('\n');
    // A pod deleted and not made again (a scale-down): what it did last is often the answer.
    const departed = [...this.departed.values()].map(p => p.logs(this.diagnosticLogLines)).join('\n');
    return `---- cluster state ----\n${state}\n---- endpoints ----\n${endpoints}\n---- leases ----\n${leases}\n---- secrets ----\n${secrets}\n`
      + `---- logs ----\n${logs}${departed === '' ? '' : `\n---- logs of pods deleted since (not made again) ----\n${departed}`}`;
  }

  /** What each running server says of itself: recovery, WAL receiver, replication; and its processes. */
  public async serverDiagnostics(): Promise<string> {
    const lines: string[] = [];
    for (const pod of this.livePods().filter(p => p.phase === 'running')) {
      const postgres = pod.container('postgres');
      const sql = "SELECT 'recovery=' || pg_is_in_recovery() || ' receiver=' || coalesce((SELECT status || '@' || coalesce(written_lsn::text, '?') "
        + "|| ' tli ' || received_tli || ' from ' || coalesce(sender_host, '?') FROM pg_stat_wal_receiver), 'none') || ' senders=' "
        + "|| coalesce((SELECT string_agg(application_name || ':' || state, ',') FROM pg_stat_replication), '')";
      const state = await postgres.exec(['psql', '-XAtq', '-c', sql], 5_000);
      const processes = await postgres.exec(['ps', '-o', 'pid,stat,args', '--ppid', String(postgres.process?.pid ?? 0)], 5_000);
      lines.push(`${pod.name}: ${state.stdout.trim() || state.stderr.trim()}\n${processes.stdout}`);
    }
    return `---- servers ----\n${lines.join('\n')}`;
  }

  public async destroy(): Promise<void> {
    if (this.controller) clearInterval(this.controller);
    this.controller = undefined;
    for (const timer of this.jobTimers) clearTimeout(timer);
    this.jobTimers.clear();
    for (const pod of [...this.statefulSetPods.values(), ...this.jobPods]) {
      pod.phase = 'killed';
      for (const c of [...pod.initContainers, ...pod.containers]) c.stopProbes();
    }
    this.proxy?.kill('SIGKILL');
    for (const client of this.clients) {
      try {
        process.kill(-client.pid!, 'SIGKILL');
      } catch {
        // already ended
      }
    }
    this.api.close();
    this.network.destroy();
    await sleep(100);
    if (!process.env.E2E_KEEP_STATE) fs.rmSync(this.stateDir, { recursive: true, force: true });
  }

  // ---- emulation ----

  /** A claim that holds data before the cluster starts (ClusterOptions.claims): the directory's content copied into its fresh volume. */
  private restoreClaim(claim: string, source: string): void {
    if (!fs.statSync(source, { throwIfNoEntry: false })?.isDirectory()) {
      throw new Error(`claims.${claim}: ${source} is not a directory`);
    }
    const dir = this.claimDir(claim);
    // Without its set-group-id bit (of a fresh volume), which the directories cp makes would inherit and cp -a keeps:
    // the copy then has exactly the source's modes, its root too.
    fs.chmodSync(dir, 0o775);
    execFileSync('cp', ['-a', '--', `${source}/.`, `${dir}/`], { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  private async boot(): Promise<void> {
    await this.api.listen();
    let host = 2;
    for (const service of this.manifests.all('Service')) {
      if (service.spec.clusterIP === 'None') continue;
      const port = service.spec.ports[0];
      this.services.push({
        name: service.metadata.name,
        ip: this.network.addServiceAddress(host++),
        port: port.port,
        targetPort: typeof port.targetPort === 'number' ? port.targetPort : port.port,
        selector: service.spec.selector,
        publishNotReadyAddresses: service.spec.publishNotReadyAddresses === true,
      });
    }
    this.updateHosts();
    this.updateEndpoints();
    // The `kubernetes` Service: its one endpoint is the API stand-in's socket (kube-apiserver's address on a real node).
    this.network.addControlPlaneAddress(API_SERVER_ADDRESS.split(':')[0]);
    fs.writeFileSync(path.join(this.stateDir, 'endpoints', 'kubernetes'), JSON.stringify([this.api.socket]));
    const proxied = [...this.services.map(s => `${s.name}=${s.ip}:${s.port}`), `kubernetes=${API_SERVER_ADDRESS}`];
    this.proxy = spawn('ip', ['netns', 'exec', this.network.hub, process.execPath, path.join(HARNESS_BIN, 'service-proxy.js'),
      this.stateDir, ...proxied], { stdio: ['ignore', 'pipe', 'inherit'] });
    let listening = 0;
    this.proxy.stdout!.on('data', d => { listening += String(d).split('\n').filter(l => l.startsWith('listening')).length; });
    // Its Services, and its control socket.
    await waitFor('the Service proxy to listen', () => listening === proxied.length + 1, 10_000, 50);
    this.controller = setInterval(() => this.reconcile(), 250);
  }

  /**
   * The StatefulSet controller, from the pods as the API server reports them. OrderedReady: one pod
   * at a time, each after the one before is ready; scale-down from the highest ordinal, one at a
   * time. Parallel: every missing pod created at once, every extra pod deleted at once, no waiting.
   * Each tick also lets the endpoints follow what the API reports (pods of silent nodes turn not ready).
   */
  private reconcile(): void {
    this.updateEndpoints();
    const parallel = this.statefulSet.spec.podManagementPolicy === 'Parallel';
    for (let i = 0; i < this.desiredReplicas; i++) {
      const name = this.podName(i);
      const pod = this.statefulSetPods.get(name);
      if (!pod) {
        this.createPod(name);
        if (!parallel) return;
      } else if (!parallel && !pod.reportedReady) {
        return;
      }
    }
    const ordinal = (p: Pod) => Number(p.name.split('-').pop());
    const extra = this.livePods().filter(p => ordinal(p) >= this.desiredReplicas).sort((a, b) => ordinal(b) - ordinal(a));
    for (const pod of parallel ? extra : extra.slice(0, 1)) {
      if (pod.phase === 'running' || pod.phase === 'killed' || pod.phase === 'stopped') {
        pod.phase = 'pending';
        void this.deletePod(pod.name);
      }
    }
    // RollingUpdate (the default strategy, whatever the pod management policy): once every pod is there and ready,
    // the highest ordinal of an older revision is deleted (and made again from the new template above). OnDelete: none
    // is; a pod deleted by someone is made again from the new template.
    if (this.statefulSet.spec.updateStrategy?.type === 'OnDelete') return;
    const live = this.livePods();
    if (extra.length > 0 || live.length !== this.desiredReplicas || !live.every(p => p.reportedReady && p.phase === 'running')) return;
    const revision = this.revision;
    const stale = live.filter(p => p.labels['controller-revision-hash'] !== revision).sort((a, b) => ordinal(b) - ordinal(a))[0];
    if (stale) {
      stale.phase = 'pending';
      void this.deletePod(stale.name);
    }
  }

  private createPod(name: string): void {
    const address = this.podAddress(name);
    const claims = (this.statefulSet.spec.volumeClaimTemplates ?? []).map((t: any) => t.metadata.name);
    const template = JSON.parse(JSON.stringify(this.statefulSet.spec.template));
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, 'controller-revision-hash': this.revision } };
    const partitioned = this.disconnected.delete(address.netns);
    if (this.silenced.delete(address.netns) || partitioned) this.network.reconnect(address.netns);
    this.frozenApiCut.delete(name);
    const pod = new Pod(this, name, template, address.netns, address.ip, claims);
    this.statefulSetPods.set(name, pod);
    this.departed.delete(name);
    this.updateHosts();
    pod.start();
  }

  /** The pod's node sends nothing more: its link goes down (the caller then has the Service proxy drop what it holds). */
  private silence(pod: Pod): void {
    this.network.disconnect(pod.netns);
    this.silenced.add(pod.netns);
  }

  /** The pod's node runs again: its link comes back, unless a partition holds it down. */
  private unsilence(pod: Pod): void {
    if (!this.silenced.delete(pod.netns)) return;
    if (!pod.networkCutOff) this.network.reconnect(pod.netns);
  }

  /**
   * Asks the Service proxy to drop every connection to or from `ip` (cut), and also to refuse new ones to it (refuse)
   * until `admit`; waits until it has.
   */
  private cutAtProxy(ip: string, command: 'cut' | 'refuse' | 'admit' = 'cut'): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path.join(this.stateDir, 'service-proxy.sock'));
      let answer = '';
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`the Service proxy did not ${command} ${ip} within 5 s`)); }, 5_000);
      socket.on('connect', () => socket.write(`${command} ${ip}\n`));
      socket.on('data', d => {
        answer += d;
        if (!answer.includes('\n')) return;
        clearTimeout(timer);
        socket.destroy();
        if (answer.startsWith(command === 'admit' ? 'admitted' : 'cut ')) resolve();
        else reject(new Error(`the Service proxy answered ${JSON.stringify(answer)} to ${command} ${ip}`));
      });
      socket.on('error', error => { clearTimeout(timer); reject(new Error(`the Service proxy's control socket: ${error.message}`)); });
    });
  }

  private podAddress(name: string): { netns: string; ip: string } {
    let address = this.podAddresses.get(name);
    if (!address) {
      address = this.network.addPodNamespace(name);
      this.podAddresses.set(name, address);
    }
    return address;
  }

  /** Cluster DNS: every existing pod under the headless Service, every Service by name. */
  private updateHosts(): void {
    const headless = this.statefulSet.spec.serviceName;
    const entries: Array<[string, string[]]> = [];
    for (const pod of this.livePods()) {
      entries.push([pod.ip, [`${pod.name}.${headless}`, `${pod.name}.${headless}.${this.namespace}.svc.cluster.local`]]);
    }
    for (const service of this.services) {
      entries.push([service.ip, [service.name, `${service.name}.${this.namespace}.svc.cluster.local`]]);
    }
    for (const netns of this.network.allNamespaces) this.network.writeHosts(netns, entries);
  }

  /**
   * The endpoints controller: pods that the API reports ready (any, with publishNotReadyAddresses), whose labels
   * match each Service's selector.
   */
  private updateEndpoints(): void {
    if (this.controlPlaneDown) return;
    for (const service of this.services) {
      const pods = this.livePods().filter(p => (service.publishNotReadyAddresses || p.reportedReady) && matchesSelector(p.labels, service.selector));
      const file = path.join(this.stateDir, 'endpoints', service.name);
      const next = JSON.stringify(pods.map(p => `${p.ip}:${service.targetPort}`).sort());
      if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === next) continue;
      fs.writeFileSync(`${file}.new`, next);
      fs.renameSync(`${file}.new`, file);
      if (service.name === this.writeService) {
        const names = pods.map(p => p.name).sort();
        if (names.length > 1) this.writeServiceViolations.push({ at: Date.now(), pods: names });
      }
    }
  }

  private readEndpoints(service: string): string[] {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.stateDir, 'endpoints', service), 'utf8'));
    } catch {
      return [];
    }
  }
}

/** A hard link where the file system allows it (instant), else a copy; the target's mode is the source's. */
function linkOrCopy(source: string, target: string): void {
  try {
    fs.linkSync(source, target);
  } catch {
    fs.copyFileSync(source, target);
  }
}

/** The five characters the Job controller appends to a pod's name (Kubernetes' alphabet without vowels and look-alikes). */
function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...crypto.randomBytes(5)].map(b => alphabet[b % alphabet.length]).join('');
}
