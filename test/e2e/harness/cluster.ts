import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ApiStandIn } from './api';
import { Result, runAsync, sleep, waitFor } from './exec';
import { KubeObject, Manifests, matchesSelector } from './manifests';
import { PodNetwork, removeStaleNamespaces } from './network';
import { containerEnvironment, Pod, PodHost } from './pod';

const HARNESS_BIN = path.join(__dirname, 'bin');
const STATE_ROOT = '/var/tmp/cdk8s-postgres-e2e';
const CLIENT_PATH = '/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin';
let runCounter = 0;

export interface ClusterOptions {
  /** The synthesized YAML to run. */
  readonly manifest: string;
  /** Pods to start with. @default the StatefulSet's replicas */
  readonly replicas?: number;
}

interface ServiceAddress {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  readonly targetPort: number;
  readonly selector: Record<string, string>;
}

/**
 * Runs a synthesized cluster on this machine: the StatefulSet's pods (with OrderedReady ordering),
 * its Services (following the pods' labels and readiness, as the endpoints controller and
 * kube-proxy do), and runs of the failover CronJob. See test/e2e/README.md for what is emulated how.
 */
export class E2eCluster implements PodHost {
  /** Starts the cluster and waits until every pod is ready. */
  public static async start(options: ClusterOptions): Promise<E2eCluster> {
    const cluster = new E2eCluster(options);
    try {
      await cluster.boot();
      await cluster.waitForPods(cluster.desiredReplicas, 90_000);
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
  private readonly pods = new Map<string, Pod>();
  private readonly podAddresses = new Map<string, { netns: string; ip: string }>();
  private readonly jobPods = new Set<Pod>();
  private readonly tokens = new Map<string, string>();
  private proxy?: ChildProcess;
  private controller?: NodeJS.Timeout;
  private desiredReplicas: number;
  private readonly writeService: string;
  private jobCounter = 0;

  private constructor(options: ClusterOptions) {
    if (process.getuid?.() !== 0) {
      throw new Error('the e2e harness needs root (network namespaces, mounts, setpriv): run the tests as root, as CI does');
    }
    this.manifests = Manifests.fromFile(options.manifest);
    this.statefulSet = this.manifests.only('StatefulSet');
    this.desiredReplicas = options.replicas ?? this.statefulSet.spec.replicas;
    const write = this.manifests.all('Service').find(s => s.spec.selector?.role === 'primary');
    if (!write) throw new Error('the manifests have no Service that selects role=primary');
    this.writeService = write.metadata.name;

    removeStaleNamespaces(/^pgt(\d+)c\d+-/, pid => { try { process.kill(pid, 0); return true; } catch { return false; } });
    const prefix = `pgt${process.pid}c${runCounter++}`;
    this.stateDir = path.join(STATE_ROOT, prefix);
    fs.rmSync(this.stateDir, { recursive: true, force: true });
    fs.mkdirSync(path.join(this.stateDir, 'endpoints'), { recursive: true });
    fs.chmodSync(STATE_ROOT, 0o755);
    this.standInBin = path.join(this.stateDir, 'bin');
    fs.mkdirSync(this.standInBin);
    fs.copyFileSync(path.join(HARNESS_BIN, 'kubectl'), path.join(this.standInBin, 'kubectl'));
    fs.chmodSync(path.join(this.standInBin, 'kubectl'), 0o755);
    this.network = new PodNetwork(prefix);
    this.api = new ApiStandIn(this, path.join(this.stateDir, 'api.sock'));
  }

  // ---- PodHost ----

  public configMap(name: string): KubeObject {
    return this.manifests.get('ConfigMap', name);
  }

  public secret(name: string): KubeObject {
    return this.manifests.get('Secret', name);
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

  public serviceAccountToken(account: string): string {
    const token = `${account}.${crypto.randomBytes(8).toString('hex')}`;
    this.tokens.set(token, account);
    return token;
  }

  public accountOfToken(token: string): string | undefined {
    return this.tokens.get(token);
  }

  public onReadinessChange(): void {
    this.updateEndpoints();
  }

  public onLabelsChange(): void {
    this.updateEndpoints();
  }

  public livePods(): Pod[] {
    return [...this.pods.values()].filter(p => p.phase !== 'deleted');
  }

  // ---- what tests do ----

  public pod(name: string): Pod {
    const pod = this.pods.get(name);
    if (!pod || pod.phase === 'deleted') throw new Error(`no pod ${name}`);
    return pod;
  }

  public podName(ordinal: number): string {
    return `${this.statefulSet.metadata.name}-${ordinal}`;
  }

  /** Like `kubectl scale statefulset --replicas=n`; waits until the controller has done it. */
  public async scale(replicas: number, timeoutMs = 90_000): Promise<void> {
    this.desiredReplicas = replicas;
    await this.waitForPods(replicas, timeoutMs);
  }

  public async waitForPods(replicas: number, timeoutMs: number): Promise<void> {
    await waitFor(`${replicas} ready pods`, () => {
      const live = this.livePods();
      return live.length === replicas && live.every(p => p.ready);
    }, timeoutMs, 250, () => this.diagnostics());
  }

  /** Stops a pod's containers gracefully (as for a restart) and keeps them stopped. */
  public async stopPod(name: string): Promise<void> {
    await this.pod(name).stop();
    this.updateEndpoints();
  }

  /** Starts a stopped or killed pod's containers again, on the same volume, with the same labels. */
  public startPod(name: string): void {
    this.pod(name).start();
  }

  /** Kills every process of a pod with SIGKILL; nothing restarts them (a node failure) until startPod. */
  public async killPod(name: string): Promise<void> {
    const pod = this.pod(name);
    await pod.kill(() => this.network.pids(pod.netns));
    this.updateEndpoints();
  }

  /** Like `kubectl delete pod`: graceful stop, then the StatefulSet creates it anew (its labels are gone). */
  public async deletePod(name: string): Promise<void> {
    const pod = this.pod(name);
    await pod.stop();
    pod.phase = 'deleted';
    this.pods.delete(name);
    this.updateHosts();
    this.updateEndpoints();
  }

  /** The directory a pod's PersistentVolumeClaim is stored in. */
  public volumeOf(podName: string): string {
    const claim = this.statefulSet.spec.volumeClaimTemplates[0].metadata.name;
    return this.claimDir(`${claim}-${podName}`);
  }

  /** Runs SQL through a Service (or any host name), as a client in the cluster would. */
  public sql(host: string, sql: string, options: { database?: string; timeoutMs?: number } = {}): Promise<Result> {
    const database = options.database ?? this.containerEnv('POSTGRES_DB');
    return runAsync('ip', ['netns', 'exec', this.network.hub, 'psql',
      `host=${host} user=postgres dbname=${database} connect_timeout=3`, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    { env: { PATH: CLIENT_PATH, PGPASSWORD: this.containerEnv('POSTGRES_PASSWORD') }, timeoutMs: options.timeoutMs ?? 20_000 });
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

  public endpoints(service: string): string[] {
    const ips = this.readEndpoints(service);
    return this.livePods().filter(p => ips.includes(`${p.ip}:5432`)).map(p => p.name).sort();
  }

  /**
   * Creates a run of a CronJob, like `kubectl create job --from=cronjob/<name>`, with environment
   * overrides (`kubectl set env`); waits for it to finish and returns its exit code and log.
   */
  public async runJob(cronJobName: string, env: Record<string, string> = {}, timeoutMs = 120_000): Promise<Result & { pod: string }> {
    const cronJob = this.manifests.get('CronJob', cronJobName);
    const template = JSON.parse(JSON.stringify(cronJob.spec.jobTemplate.spec.template));
    template.spec.enableServiceLinks = template.spec.enableServiceLinks ?? false;
    for (const container of template.spec.containers) {
      for (const [name, value] of Object.entries(env)) {
        const existing = (container.env ?? []).find((e: any) => e.name === name);
        if (existing) existing.value = value;
        else (container.env = container.env ?? []).push({ name, value });
      }
    }
    const name = `${cronJobName}-${++this.jobCounter}`;
    const address = this.podAddress(name);
    this.updateHosts();
    const pod = new Pod(this, name, template, address.netns, address.ip, [], 'Never');
    this.jobPods.add(pod);
    pod.start();
    const container = pod.containers[0];
    await waitFor(`job ${name} to finish`, () => !container.running, timeoutMs, 100, () => pod.logs());
    pod.phase = 'stopped';
    const code = container.process?.exitCode ?? 1;
    return { code, stdout: fs.readFileSync(container.log, 'utf8'), stderr: '', pod: name };
  }

  /** Labels, readiness, endpoints and the recent logs of every pod: what a failing test shows. */
  public diagnostics(): string {
    const state = [...this.pods.values()].map(p =>
      `${p.name}: ${p.phase} ready=${p.ready} labels=${JSON.stringify(p.labels)}`).join('\n');
    const endpoints = this.services.map(s => `${s.name} -> ${this.endpoints(s.name).join(',') || '(none)'}`).join('\n');
    const logs = [...this.pods.values(), ...this.jobPods].map(p => p.logs()).join('\n');
    return `---- cluster state ----\n${state}\n---- endpoints ----\n${endpoints}\n---- logs ----\n${logs}`;
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
    for (const pod of [...this.pods.values(), ...this.jobPods]) {
      pod.phase = 'killed';
      for (const c of pod.containers) c.stopProbes();
    }
    this.proxy?.kill('SIGKILL');
    this.api.close();
    this.network.destroy();
    await sleep(100);
    if (!process.env.E2E_KEEP_STATE) fs.rmSync(this.stateDir, { recursive: true, force: true });
  }

  // ---- emulation ----

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
      });
    }
    this.updateHosts();
    this.updateEndpoints();
    this.proxy = spawn('ip', ['netns', 'exec', this.network.hub, process.execPath, path.join(HARNESS_BIN, 'service-proxy.js'),
      this.stateDir, ...this.services.map(s => `${s.name}=${s.ip}:${s.port}`)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let listening = 0;
    this.proxy.stdout!.on('data', d => { listening += String(d).split('\n').filter(l => l.startsWith('listening')).length; });
    await waitFor('the Service proxy to listen', () => listening === this.services.length, 10_000, 50);
    this.controller = setInterval(() => this.reconcile(), 250);
  }

  /** The StatefulSet controller, OrderedReady: one pod at a time, each after the one before is ready. */
  private reconcile(): void {
    for (let i = 0; i < this.desiredReplicas; i++) {
      const name = this.podName(i);
      const pod = this.pods.get(name);
      if (!pod) {
        this.createPod(name);
        return;
      }
      if (!pod.ready) return;
    }
    const extra = this.livePods().filter(p => Number(p.name.split('-').pop()) >= this.desiredReplicas);
    if (extra.length > 0) {
      const highest = extra.sort((a, b) => Number(b.name.split('-').pop()) - Number(a.name.split('-').pop()))[0];
      if (highest.phase === 'running' || highest.phase === 'killed' || highest.phase === 'stopped') {
        highest.phase = 'pending';
        void this.deletePod(highest.name);
      }
    }
  }

  private createPod(name: string): void {
    const address = this.podAddress(name);
    const claims = (this.statefulSet.spec.volumeClaimTemplates ?? []).map((t: any) => t.metadata.name);
    const template = JSON.parse(JSON.stringify(this.statefulSet.spec.template));
    const pod = new Pod(this, name, template, address.netns, address.ip, claims);
    this.pods.set(name, pod);
    this.updateHosts();
    pod.start();
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

  /** The endpoints controller: ready pods whose labels match each Service's selector. */
  private updateEndpoints(): void {
    for (const service of this.services) {
      const pods = this.livePods().filter(p => p.ready && matchesSelector(p.labels, service.selector));
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
