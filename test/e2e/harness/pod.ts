import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Result, sleep } from './exec';
import { emulateImage, EmulatedImage } from './images';
import { KubeObject } from './manifests';

/** What a pod needs from the cluster around it. */
export interface PodHost {
  readonly stateDir: string;
  /** Where the real kubectl is, first on the kubectl image's PATH. */
  readonly standInBin: string;
  readonly launcher: string;
  /** The cluster's root CA (PEM): every ServiceAccount token volume's ca.crt, and ConfigMap kube-root-ca.crt. */
  readonly rootCa: string;
  readonly namespace: string;
  configMap(name: string): KubeObject;
  /** The Secret as the API server stores it now (base64 `data`), or undefined. */
  findSecret(name: string): KubeObject | undefined;
  /** A directory that outlives the pod (a PersistentVolumeClaim). */
  claimDir(claim: string): string;
  /** A new token of the ServiceAccount, bound to the pod: the API stand-in knows both by it. */
  serviceAccountToken(account: string, pod: string): string;
  /** The ServiceAccount's own automountServiceAccountToken (true when it does not say). */
  automountsToken(account: string): boolean;
  onReadinessChange(pod: Pod): void;
}

interface User {
  readonly uid: number;
  readonly gid: number;
  readonly groups: number;
}

type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Debian's libfaketime (package libfaketime): each pod's wall clock, which E2eCluster.stepClock moves. */
export const FAKETIME_LIBRARY = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
/** The node lifecycle controller marks a silent node's pods not ready after node-monitor-grace-period. */
export const NODE_MONITOR_GRACE_MS = 40_000;
/** How often the kubelet tries again to start a container whose Secret is missing, or to set up a pod's secret volumes. */
export const SECRET_RETRY_MS = 250;
/**
 * How often mounted secret volumes are brought up to date with their Secrets: a change reaches the files
 * within this long. The real kubelet takes up to its sync period plus its cache's TTL (about a minute) and
 * swaps a `..data` symlink to a new directory, so that every file changes at once; here each file is
 * replaced atomically on its own (a temporary file in the same directory, then rename), and the files are
 * the keys themselves, not symlinks into `..data`.
 */
export const SECRET_VOLUME_SYNC_MS = 500;

/**
 * The kubelet cannot make the container's configuration: a Secret, or a key of it, that its env refers to
 * does not exist (yet). It does not start the container (waiting: CreateContainerConfigError) and tries again.
 */
export class CreateContainerConfigError extends Error {}

/**
 * One container of an emulated pod: a process tree started by bin/container-launch.sh in the pod's
 * network namespace, restarted when it exits while its pod runs (restartPolicy Always, or OnFailure
 * after a failure). Init containers are Containers that the pod runs to completion (restartPolicy Never).
 */
export class Container {
  public process?: ChildProcess;
  public ready = false;
  /** It has passed its startup probe (or has none) since it last started: the kubelet's `started`. */
  public started = false;
  public restarts = 0;
  public startedAt?: string;
  /** How its last run ended: the exit code (128 + the signal's number after a signal, as runtimes report it). */
  public lastExit?: { readonly code: number; readonly startedAt: string; readonly finishedAt: string };
  public readonly log: string;
  /** Why the kubelet cannot start it now (CreateContainerConfigError: a Secret or key its env needs is missing), while it tries again. */
  public configError?: string;
  private readonly image: EmulatedImage;
  private readonly user: User;
  /** Its environment as resolved when it last started: what its processes and `kubectl exec` see, until it starts again. */
  private env: Record<string, string> = {};
  /** The latest attempt to start it (startWhenConfigured): an older one that still waits gives up. */
  private attempts = 0;
  private readonly execs = new Set<ChildProcess>();
  private readonly probeTimers = new Map<string, NodeJS.Timeout>();
  /** Counts stopProbes: a probe run that began before (its exec stopped with a frozen pod) counts for nothing. */
  private probeGeneration = 0;
  private startedMarker?: string;
  private exited?: Promise<void>;

  constructor(public readonly pod: Pod, public readonly spec: any, private readonly restartPolicy: RestartPolicy) {
    this.image = emulateImage(spec.image, pod.host.standInBin);
    this.user = pod.userOf(spec);
    this.log = path.join(pod.dir, `${spec.name}.log`);
    // What the harness cannot emulate fails now; Secrets are read at each start (they may not exist yet).
    try {
      pod.envOf(spec);
    } catch (error) {
      if (!(error instanceof CreateContainerConfigError)) throw error;
    }
  }

  public get name(): string {
    return this.spec.name;
  }

  public get running(): boolean {
    return this.process !== undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  /**
   * Starts it now, with its environment resolved from the Secrets as they are now; false (and nothing
   * started) when a Secret or key its env needs does not exist: the kubelet's CreateContainerConfigError.
   */
  public start(): boolean {
    try {
      // The runtime sets HOME from the image's user database unless the image or the container sets it.
      this.env = { HOME: this.image.homes[this.user.uid] ?? '/', ...this.image.env, ...this.pod.envOf(this.spec) };
    } catch (error) {
      if (!(error instanceof CreateContainerConfigError)) throw error;
      if (this.configError !== error.message) {
        fs.appendFileSync(this.log, `--- ${new Date().toISOString()} container ${this.name} cannot start: CreateContainerConfigError: `
          + `${error.message} (tried again every ${SECRET_RETRY_MS} ms) ---\n`);
      }
      this.configError = error.message;
      return false;
    }
    this.configError = undefined;
    const specDir = path.join(this.pod.dir, `${this.name}.spec`);
    fs.mkdirSync(specDir, { recursive: true });
    const mounts = this.pod.mountsOf(this.spec, this.image);
    fs.writeFileSync(path.join(specDir, 'mounts'), mounts.map(m => `${m.source}\t${m.target}\t${m.readOnly ? 'ro' : 'rw'}\n`).join(''));
    fs.writeFileSync(path.join(specDir, 'env'), Object.entries(this.env).map(([k, v]) => `${k}=${v}\0`).join(''));
    fs.writeFileSync(path.join(specDir, 'clock'), this.pod.clockEnv().map(v => `${v}\0`).join(''));
    const command = [...(this.spec.command ?? this.image.entrypoint ?? []), ...(this.spec.args ?? [])];
    fs.writeFileSync(path.join(specDir, 'command'), command.map(a => `${a}\0`).join(''));
    fs.writeFileSync(path.join(specDir, 'user'), `${this.user.uid} ${this.user.gid} ${this.user.groups}\n`);
    fs.writeFileSync(path.join(specDir, 'readonly-root'), this.pod.readOnlyRoot(this.spec) ? 'true\n' : '');
    // The host's files the image does not have: the launcher hides them in the container's mount namespace.
    fs.writeFileSync(path.join(specDir, 'hidden'), this.image.hiddenPaths.map(p => `${p}\n`).join(''));
    fs.rmSync(path.join(specDir, 'started'), { force: true });
    this.startedMarker = path.join(specDir, 'started');
    const out = fs.openSync(this.log, 'a');
    fs.writeSync(out, `--- ${new Date().toISOString()} container ${this.name} starts (restart ${this.restarts}) ---\n`);
    const child = spawn('ip', ['netns', 'exec', this.pod.netns, 'bash', this.pod.host.launcher, specDir], {
      detached: true, stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    this.process = child;
    const startedAt = timestamp();
    this.startedAt = startedAt;
    this.ready = !this.spec.readinessProbe && !this.spec.startupProbe;
    this.exited = new Promise(resolve => child.once('exit', (code, signal) => {
      fs.appendFileSync(this.log, `--- ${new Date().toISOString()} container ${this.name} exited (${signal ?? code}) ---\n`);
      this.lastExit = { code: code ?? 128 + (os.constants.signals[signal!] ?? 0), startedAt, finishedAt: timestamp() };
      this.afterExit(child);
      resolve();
    }));
    this.startProbes();
    return true;
  }

  /**
   * Starts it as the kubelet does: now if its configuration can be made, else again every SECRET_RETRY_MS
   * while `current()` (its pod still runs this start) and no later attempt was made. Resolves true once it
   * has started, false when it gave up. The first try is synchronous (errors of the harness throw at once).
   */
  public startWhenConfigured(current: () => boolean): Promise<boolean> {
    const attempt = ++this.attempts;
    if (this.start()) return Promise.resolve(true);
    return (async () => {
      for (;;) {
        await sleep(SECRET_RETRY_MS);
        if (!current() || attempt !== this.attempts) return false;
        if (this.start()) return true;
      }
    })();
  }

  /** Runs the container once, to its end (an init container): its exit code, or undefined if `current()` ended first. */
  public async runToCompletion(current: () => boolean): Promise<number | undefined> {
    if (!(await this.startWhenConfigured(current))) return undefined;
    await this.exited;
    return this.lastExit?.code ?? 1;
  }

  /** Stops the container as the kubelet does: the image's stop signal, then SIGKILL after the grace period. */
  public async stop(graceSeconds: number): Promise<void> {
    const child = this.process;
    if (!child || !this.running) return;
    this.signalGroup(child, this.image.stopSignal);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), graceSeconds * 1000); });
    const done = await Promise.race([this.exited!.then(() => true), graceOver]);
    clearTimeout(timer);
    if (!done) {
      this.signalGroup(child, 'SIGKILL');
      await this.exited;
    }
  }

  /** Runs a command inside the running container, like `kubectl exec`. */
  public async exec(command: readonly string[], timeoutMs = 30_000, input?: Buffer): Promise<Result> {
    // A container being set up (its launcher still mounting volumes) is not yet there to enter, as in Kubernetes.
    for (let waited = 0; this.running && this.startedMarker && !fs.existsSync(this.startedMarker) && waited < 5000; waited += 10) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    if (!this.running) {
      return { code: 1, stdout: '', stderr: `error: unable to upgrade connection: container not found ("${this.name}")\n` };
    }
    const args = [
      '-t', String(this.process!.pid), '-n', '-m', '--',
      'setpriv', `--reuid=${this.user.uid}`, `--regid=${this.user.gid}`, `--groups=${this.user.groups}`, '--no-new-privs', '--',
      'env', '-i', '-C', '/', ...this.pod.clockEnv(), ...Object.entries(this.env).map(([k, v]) => `${k}=${v}`), ...CLOCK_SHIM_HOP, ...command,
    ];
    return new Promise(resolve => {
      const child = spawn('nsenter', args, { detached: true, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      this.execs.add(child);
      if (input !== undefined) {
        child.stdin!.on('error', () => undefined);
        child.stdin!.end(input);
      }
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', d => { stdout += d; });
      child.stderr!.on('data', d => { stderr += d; });
      const timer = setTimeout(() => this.signalGroup(child, 'SIGKILL'), timeoutMs);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.execs.delete(child);
        removeClockShimState(child.pid);
        resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 1), stdout, stderr });
      });
    });
  }

  public stopProbes(): void {
    this.probeGeneration++;
    for (const timer of this.probeTimers.values()) clearTimeout(timer);
    this.probeTimers.clear();
  }

  /** The kubelet's probes again after its node was frozen (E2eCluster.freeze): from where they were, a new period each. */
  public resumeProbes(): void {
    if (this.running) this.runProbes();
  }

  /**
   * The container's status as the kubelet reports it. `waiting` (a reason) when the pod will start it
   * (again); otherwise a container that is not running shows how it ended.
   */
  public status(waiting: string | undefined): Record<string, unknown> {
    const terminated = (exit: NonNullable<Container['lastExit']>) => ({
      exitCode: exit.code, reason: exit.code === 0 ? 'Completed' : 'Error', startedAt: exit.startedAt, finishedAt: exit.finishedAt,
    });
    let state: Record<string, unknown>;
    if (this.running) state = { running: { startedAt: this.startedAt } };
    else if (waiting === 'CreateContainerConfigError') state = { waiting: { reason: waiting, message: this.configError } };
    else if (waiting || !this.lastExit) state = { waiting: { reason: waiting ?? 'ContainerCreating' } };
    else state = { terminated: terminated(this.lastExit) };
    return {
      name: this.name,
      image: this.spec.image,
      ready: this.running && this.ready,
      started: this.running && this.started,
      restartCount: this.restarts,
      state,
      lastState: this.lastExit && (this.running || waiting) ? { terminated: terminated(this.lastExit) } : {},
    };
  }

  /**
   * The kubelet's exec probes, each every `periodSeconds` from the container's start: until the startup probe
   * succeeds the others are skipped (and the container is not ready); `failureThreshold` failures in a row of the
   * startup or liveness probe kill the container (restarted as after any exit), of the readiness probe make it unready.
   */
  private startProbes(): void {
    this.started = !this.spec.startupProbe;
    this.runProbes();
  }

  private runProbes(): void {
    const { startupProbe, readinessProbe, livenessProbe } = this.spec;
    if (startupProbe && !this.started) {
      this.runProbe('startup', startupProbe, (ok, failing) => {
        if (ok) {
          this.started = true;
          if (!readinessProbe) this.setReady(true);
        } else if (failing) {
          void this.killForProbe('startup', startupProbe);
        }
        return !ok && !failing;
      });
    }
    if (readinessProbe) {
      this.runProbe('readiness', readinessProbe, (ok, failing) => {
        if (ok || failing) this.setReady(ok);
        return true;
      });
    }
    if (livenessProbe) {
      this.runProbe('liveness', livenessProbe, (_ok, failing) => {
        if (failing) void this.killForProbe('liveness', livenessProbe);
        return !failing;
      });
    }
  }

  /** Runs one probe of this run of the container until `onResult` (its result, and whether failureThreshold is reached) says stop. */
  private runProbe(kind: string, probe: any, onResult: (ok: boolean, failing: boolean) => boolean): void {
    if (!probe.exec) throw new Error(`container ${this.name}: only exec ${kind} probes are emulated`);
    const child = this.process;
    const generation = this.probeGeneration;
    const current = () => this.running && this.process === child && this.probeGeneration === generation;
    let failures = 0;
    const period = (probe.periodSeconds ?? 10) * 1000;
    const tick = async () => {
      if (!current()) return;
      // The kubelet runs the other probes only once the startup probe has succeeded.
      if (kind === 'startup' || this.started) {
        const result = await this.exec(probe.exec.command, (probe.timeoutSeconds ?? 1) * 1000);
        if (!current()) return;
        failures = result.code === 0 ? 0 : failures + 1;
        if (!onResult(result.code === 0, failures >= (probe.failureThreshold ?? 3))) return;
      }
      this.probeTimers.set(kind, setTimeout(tick, period));
    };
    this.probeTimers.set(kind, setTimeout(tick, (probe.initialDelaySeconds ?? 0) * 1000));
  }

  private setReady(ready: boolean): void {
    if (this.ready === ready) return;
    this.ready = ready;
    this.pod.host.onReadinessChange(this.pod);
  }

  /** The kubelet kills a container that failed its startup or liveness probe: the stop signal, SIGKILL after the grace period. */
  private async killForProbe(kind: string, probe: any): Promise<void> {
    fs.appendFileSync(this.log, `--- ${new Date().toISOString()} container ${this.name} failed its ${kind} probe `
      + `${probe.failureThreshold ?? 3} times in a row: killed, and restarted ---\n`);
    await this.stop(probe.terminationGracePeriodSeconds ?? this.pod.template.spec.terminationGracePeriodSeconds ?? 30);
  }

  private afterExit(child: ChildProcess): void {
    this.stopProbes();
    for (const exec of this.execs) this.signalGroup(exec, 'SIGKILL');
    // The container's other processes (e.g. postgres's children) go with it.
    this.signalGroup(child, 'SIGKILL');
    removeClockShimState(child.pid);
    const wasReady = this.ready;
    this.ready = false;
    if (wasReady) this.pod.host.onReadinessChange(this.pod);
    const restart = this.restartPolicy === 'Always' || (this.restartPolicy === 'OnFailure' && this.lastExit?.code !== 0);
    if (this.pod.phase === 'running' && restart && this.process === child) {
      this.restarts++;
      // The kubelet restarts at once the first time, then backs off (10 s, 20 s...); tests use a short fixed delay.
      const current = () => this.pod.phase === 'running' && this.process === child;
      setTimeout(() => { if (current()) void this.startWhenConfigured(current); }, 500);
    }
    this.pod.onContainerExit();
  }

  private signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined) return;
    try { process.kill(-child.pid, signal); } catch { /* gone */ }
  }
}

/**
 * An emulated pod: its init containers and containers, labels, volumes and readiness. Pod phases
 * here: running (init containers run in order, then the containers are supervised and restarted),
 * stopped (shut down gracefully), killed (every process SIGKILLed and nothing restarts them, as when
 * a node fails) and deleted. What the API server reports of it is `toObject()`.
 */
export class Pod {
  public phase: 'pending' | 'running' | 'stopped' | 'killed' | 'deleted' = 'pending';
  /** Set when the pod is deleted: the API shows it while its containers stop (their grace period). */
  public deletionTimestamp: string | undefined;
  public readonly labels: Record<string, string>;
  public readonly containers: Container[];
  public readonly initContainers: Container[];
  public readonly dir: string;
  public readonly uid = crypto.randomUUID();
  public readonly restartPolicy: RestartPolicy;
  /** The init containers have all succeeded since the last start. */
  public initialized = false;
  /** Its node cannot reach the API server: its kubectl requests and execs into it time out. */
  public apiCutOff = false;
  /** Its network link is down: it reaches no peer, no Service, no client. */
  public networkCutOff = false;
  /** Its node is frozen (E2eCluster.freeze): every process stopped, the kubelet's probes too. */
  public frozen = false;
  /** The offset of its node's wall clock (E2eCluster.stepClock), which every process of the pod reads through libfaketime. */
  public readonly clockFile: string;
  private readonly createdAt = timestamp();
  private startTime?: string;
  private runs = 0;
  private initFailed = false;
  private memoryLost = false;
  /** What the API server saw last before the node was cut off from it, and since when. */
  private reported?: { readonly status: Record<string, any>; readonly since: number };
  private readonly volumeDirs = new Map<string, string>();
  /** The secret (and projected) volumes set up, with what their Secret files were made from: kept up to date while the pod runs. */
  private readonly secretMounts = new Map<string, SecretMount>();
  /** The ConfigMap volumes made so far: their directory, and the data they were written from (synced as Secrets are). */
  private readonly configMapMounts = new Map<string, { readonly dir: string; readonly version: string }>();
  /** Why the pod's volumes cannot be set up now (a Secret of a secret volume missing), while the kubelet tries again. */
  private volumeError?: string;
  private volumeSync?: NodeJS.Timeout;
  private readonly completionWaiters: Array<() => void> = [];

  constructor(
    public readonly host: PodHost,
    public readonly name: string,
    public readonly template: any,
    public readonly netns: string,
    public readonly ip: string,
    private readonly claims: readonly string[],
    restartPolicy?: RestartPolicy,
  ) {
    this.labels = { ...(template.metadata?.labels ?? {}) };
    this.restartPolicy = restartPolicy ?? template.spec.restartPolicy ?? 'Always';
    this.dir = path.join(host.stateDir, 'pods', name);
    // A new pod (a recreation has the same name) starts with new emptyDir volumes.
    fs.rmSync(path.join(this.dir, 'volumes'), { recursive: true, force: true });
    fs.mkdirSync(this.dir, { recursive: true });
    // A new pod is on a node whose clock is right.
    this.clockFile = path.join(this.dir, 'clock');
    this.setClock(0);
    this.initContainers = ((template.spec.initContainers ?? []) as any[]).map(spec => new Container(this, spec, 'Never'));
    this.containers = (template.spec.containers as any[]).map(spec => new Container(this, spec, this.restartPolicy));
  }

  public get ready(): boolean {
    return this.phase === 'running' && this.initialized && this.containers.every(c => c.running && c.ready);
  }

  /** Ready as the API server (and so the endpoints controller) sees it. */
  public get reportedReady(): boolean {
    if (!this.reported) return this.ready;
    return this.apiStatus().conditions.find((c: any) => c.type === 'Ready')?.status === 'True';
  }

  /** A pod that does not restart its containers has run them all to their end (or was killed, or failed to initialize). */
  public get completed(): boolean {
    if (this.phase === 'killed' || this.phase === 'stopped' || this.phase === 'deleted' || this.initFailed) return true;
    return this.phase === 'running' && this.initialized && this.containers.every(c => !c.running && c.lastExit !== undefined);
  }

  public container(name: string): Container {
    const found = this.containers.find(c => c.name === name) ?? this.initContainers.find(c => c.name === name);
    if (!found) throw new Error(`pod ${this.name} has no container ${name}`);
    return found;
  }

  /** `kubectl exec` once the API server reached the kubelet. */
  public exec(container: string, command: readonly string[], timeoutMs: number, input?: Buffer): Promise<Result> {
    const found = this.containers.find(c => c.name === container) ?? this.initContainers.find(c => c.name === container);
    if (!found) return Promise.resolve({ code: 1, stdout: '', stderr: `Error from server (BadRequest): container ${container} is not valid for pod ${this.name}\n` });
    return found.exec(command, timeoutMs, input);
  }

  /**
   * Starts the pod (again): its secret volumes set up (as the kubelet mounts every volume before any container:
   * one whose Secret is missing holds the pod until it exists), then its init containers in order, each to
   * success, then its containers (each as soon as the Secrets its env needs exist).
   */
  public start(): void {
    this.phase = 'running';
    const run = ++this.runs;
    this.startTime = this.startTime ?? timestamp();
    this.initFailed = false;
    if (this.memoryLost) this.wipeMemoryVolumes();
    this.initialized = false;
    if (this.setUpVolumes()) this.begin(run);
    else void this.waitForVolumes(run);
  }

  /** What the kubelet waits for before it can go on with the pod: its volumes, its containers' Secrets. */
  public waitingFor(): string[] {
    if (this.phase !== 'running') return [];
    const waits = this.volumeError ? [this.volumeError] : [];
    for (const c of [...this.initContainers, ...this.containers]) {
      if (!c.running && c.configError) waits.push(`container ${c.name}: CreateContainerConfigError: ${c.configError}`);
    }
    return waits;
  }

  public async stop(): Promise<void> {
    this.phase = 'stopped';
    this.runs++;
    this.stopVolumeSync();
    const grace = this.template.spec.terminationGracePeriodSeconds ?? 30;
    await Promise.all([...this.initContainers, ...this.containers].map(c => c.stop(grace)));
    this.settle();
  }

  /**
   * The environment that preloads libfaketime with this pod's clock file into a process: only the wall clock moves
   * (CLOCK_MONOTONIC, /proc/uptime and timers do not, as with a real clock step); each process reads the file again
   * at most once a second.
   */
  public clockEnv(): string[] {
    return [`LD_PRELOAD=${FAKETIME_LIBRARY}`, `FAKETIME_TIMESTAMP_FILE=${this.clockFile}`, 'FAKETIME_CACHE_DURATION=1',
      'FAKETIME_DONT_FAKE_MONOTONIC=1'];
  }

  /** Sets its node's wall clock `seconds` off the real one (replaced atomically: a reader never finds it empty). */
  public setClock(seconds: number): void {
    const temporary = `${this.clockFile}.new`;
    fs.writeFileSync(temporary, `${seconds < 0 ? '' : '+'}${Math.round(seconds)}\n`, { mode: 0o644 });
    fs.renameSync(temporary, this.clockFile);
  }

  /** Its node freezes: the kubelet's probes stop with it (the caller stops the processes). */
  public freeze(): void {
    this.frozen = true;
    for (const c of [...this.initContainers, ...this.containers]) c.stopProbes();
  }

  /** Its node runs again: the probes of the running containers go on. */
  public thaw(): void {
    if (!this.frozen) return;
    this.frozen = false;
    if (this.phase === 'running') for (const c of [...this.initContainers, ...this.containers]) c.resumeProbes();
  }

  /** Every process of the pod dies at once (SIGKILL) and stays dead; memory-backed volumes are lost with the node. */
  public async kill(pids: () => number[]): Promise<void> {
    this.phase = 'killed';
    this.frozen = false;
    this.runs++;
    this.stopVolumeSync();
    this.memoryLost = true;
    const all = [...this.initContainers, ...this.containers];
    for (const c of all) c.stopProbes();
    for (const pid of pids()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await Promise.all(all.map(c => c.stop(0)));
    this.settle();
  }

  /** Resolves once `completed` (for pods that do not restart their containers: jobs). */
  public whenCompleted(): Promise<void> {
    return new Promise(resolve => {
      if (this.completed) resolve();
      else this.completionWaiters.push(resolve);
    });
  }

  public onContainerExit(): void {
    this.settle();
  }

  /** The node loses the API server: from now on the API reports the pod as it last saw it. */
  public cutOffFromApi(): void {
    this.reported = this.reported ?? { status: this.currentStatus(), since: Date.now() };
    this.apiCutOff = true;
  }

  public reconnectToApi(): void {
    this.reported = undefined;
    this.apiCutOff = false;
  }

  /** The pod as the API server returns it (`kubectl get pod -o json`). */
  public toObject(namespace: string): KubeObject {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: this.name,
        namespace,
        uid: this.uid,
        creationTimestamp: this.createdAt,
        labels: { ...this.labels },
        // Deleted (kubectl delete, eviction, a scale-down): terminating until its containers have stopped.
        ...(this.deletionTimestamp !== undefined ? { deletionTimestamp: this.deletionTimestamp } : {}),
      },
      spec: JSON.parse(JSON.stringify(this.template.spec)),
      status: this.apiStatus(),
    };
  }

  /** A mark in a container's log, for reading what it wrote after it (logSince). */
  public logMark(container = 'postgres'): number {
    const file = this.container(container).log;
    return fs.existsSync(file) ? fs.statSync(file).size : 0;
  }

  public logSince(mark: number, container = 'postgres'): string {
    return fs.readFileSync(this.container(container).log).subarray(mark).toString('utf8');
  }

  /** Each container's log, its last `lines` lines. */
  public logs(lines = 80): string {
    return [...this.initContainers, ...this.containers].map(c => {
      const text = fs.existsSync(c.log) ? fs.readFileSync(c.log, 'utf8') : '';
      return `==== ${this.name}/${c.name} (restarts: ${c.restarts}) ====\n${text.split('\n').slice(-lines).join('\n')}`;
    }).join('\n');
  }

  public envOf(spec: any): Record<string, string> {
    return containerEnvironment(this.host, this.name, this.ip, this.template, spec);
  }

  /** securityContext.readOnlyRootFilesystem of a container. */
  public readOnlyRoot(spec: any): boolean {
    return spec.securityContext?.readOnlyRootFilesystem === true;
  }

  public userOf(spec: any): User {
    const pod = this.template.spec.securityContext ?? {};
    const own = spec.securityContext ?? {};
    const uid = own.runAsUser ?? pod.runAsUser;
    if (uid === undefined) throw new Error(`container ${spec.name}: set runAsUser; the harness does not know the image's user`);
    if ((own.runAsNonRoot ?? pod.runAsNonRoot) && uid === 0) throw new Error(`container ${spec.name}: runAsNonRoot with uid 0`);
    const gid = own.runAsGroup ?? pod.runAsGroup ?? uid;
    return { uid, gid, groups: pod.fsGroup ?? gid };
  }

  /**
   * The container's mounts: the image's writable directories (fresh for every container start, as a
   * new container gets a new writable layer) unless a volume is mounted at the same path, then its
   * volumes, then the ServiceAccount token; parents before children, as container runtimes order them.
   */
  public mountsOf(spec: any, image: EmulatedImage): Array<{ source: string; target: string; readOnly: boolean }> {
    const mounts: Array<{ source: string; target: string; readOnly: boolean }> = [];
    const volumeTargets = new Set<string>((spec.volumeMounts ?? []).map((m: any) => normalizePath(m.mountPath)));
    // The image's own directories, as its layers made them: writable, or read-only on a read-only root filesystem
    // (there only volumes can be written), never the host's directory of the same path.
    const readOnly = this.readOnlyRoot(spec);
    for (const dir of image.writableDirs) {
      if (volumeTargets.has(dir.path)) continue;
      const source = path.join(this.dir, `${spec.name}.fs`, dir.path.replace(/\//g, '_'));
      fs.rmSync(source, { recursive: true, force: true });
      fs.mkdirSync(source, { recursive: true });
      fs.chownSync(source, dir.uid, dir.uid);
      fs.chmodSync(source, dir.mode);
      mounts.push({ source, target: dir.path, readOnly });
    }
    for (const m of spec.volumeMounts ?? []) {
      if (m.subPath) throw new Error(`container ${spec.name}: subPath mounts are not emulated`);
      // The kubelet mounts a secret volume read-only whatever the mount says.
      const secret = (this.template.spec.volumes ?? []).some((v: any) => v.name === m.name && v.secret);
      mounts.push({ source: this.volumeDir(m.name), target: normalizePath(m.mountPath), readOnly: m.readOnly === true || secret });
    }
    if (this.automountsToken() && !volumeTargets.has(SERVICE_ACCOUNT_PATH)) {
      mounts.push({ source: this.serviceAccountDir(), target: SERVICE_ACCOUNT_PATH, readOnly: true });
    }
    mounts.sort((a, b) => a.target.split('/').length - b.target.split('/').length);
    for (const m of mounts) fs.mkdirSync(m.target, { recursive: true });
    return mounts;
  }

  /** Its volumes are set up: the secret volumes follow their Secrets from now on, then the init containers run (or the containers start). */
  private begin(run: number): void {
    this.volumeError = undefined;
    this.syncSecretVolumes();
    this.startVolumeSync(run);
    this.initialized = this.initContainers.length === 0;
    if (this.initialized) this.startContainers();
    else void this.initialize(run);
  }

  /** The kubelet tries again to set up the volumes until it can (or the pod is stopped). */
  private async waitForVolumes(run: number): Promise<void> {
    for (;;) {
      await sleep(SECRET_RETRY_MS);
      if (this.runs !== run || this.phase !== 'running') return;
      if (this.setUpVolumes()) {
        this.begin(run);
        return;
      }
    }
  }

  /**
   * Sets up the secret volumes (and projected ones with Secret sources) that its containers mount, as the kubelet's
   * MountVolume.SetUp: false, with the reason in volumeError, while a Secret (or a key that `items` lists)
   * does not exist and the source is not `optional`. Other volumes are made when a container first mounts them.
   */
  private setUpVolumes(): boolean {
    const mounted = new Set<string>([...this.initContainers, ...this.containers].flatMap(c => (c.spec.volumeMounts ?? []).map((m: any) => m.name)));
    for (const volume of this.template.spec.volumes ?? []) {
      const secrets = volume.secret || (volume.projected?.sources ?? []).some((s: any) => s.secret);
      if (!mounted.has(volume.name) || !secrets || this.volumeDirs.has(volume.name)) continue;
      const payload = this.secretPayload(volume);
      if (typeof payload === 'string') {
        this.volumeError = `MountVolume.SetUp failed for volume "${volume.name}" : ${payload}`;
        return false;
      }
      this.volumeDir(volume.name);
    }
    return true;
  }

  private startVolumeSync(run: number): void {
    this.stopVolumeSync();
    const tick = () => {
      if (this.runs !== run || this.phase !== 'running') return;
      this.syncSecretVolumes();
      this.syncConfigMapVolumes();
      this.volumeSync = setTimeout(tick, SECRET_VOLUME_SYNC_MS).unref();
    };
    this.volumeSync = setTimeout(tick, SECRET_VOLUME_SYNC_MS).unref();
  }

  private stopVolumeSync(): void {
    if (this.volumeSync) clearTimeout(this.volumeSync);
    this.volumeSync = undefined;
  }

  /**
   * Brings the mounted Secret files up to date with the Secrets as they are now: each changed file replaced
   * atomically, files of keys that are gone removed. A Secret that cannot be read now (deleted, or a key
   * that `items` lists gone) leaves the files as they are, as the kubelet keeps what it mounted; an
   * `optional` source whose Secret is gone is emptied.
   */
  private syncSecretVolumes(): void {
    for (const [name, mount] of this.secretMounts) {
      const volume = (this.template.spec.volumes ?? []).find((v: any) => v.name === name);
      const payload = this.secretPayload(volume);
      if (typeof payload === 'string' || payload.version === mount.version) continue;
      const files = new Set<string>();
      for (const file of payload.files) {
        files.add(file.file);
        this.writeSecretFile(mount.dir, file, mount.fsGroup);
      }
      for (const old of mount.files) if (!files.has(old)) fs.rmSync(path.join(mount.dir, old), { force: true });
      this.secretMounts.set(name, { ...mount, version: payload.version, files });
    }
  }

  /**
   * Brings the mounted ConfigMap files up to date with the ConfigMaps as they are now (the kubelet's periodic sync):
   * each file of a changed ConfigMap replaced atomically (a new file renamed over it).
   */
  private syncConfigMapVolumes(): void {
    for (const [name, mount] of this.configMapMounts) {
      const volume = (this.template.spec.volumes ?? []).find((v: any) => v.name === name);
      const data = this.keysOf(volume);
      const version = JSON.stringify(data);
      if (version === mount.version) continue;
      const staging = `${mount.dir}.sync`;
      fs.rmSync(staging, { recursive: true, force: true });
      fs.mkdirSync(staging);
      this.writeKeys(staging, data, volume.configMap.items, volume.configMap.defaultMode ?? 0o644);
      for (const file of fs.readdirSync(staging)) fs.renameSync(path.join(staging, file), path.join(mount.dir, file));
      fs.rmSync(staging, { recursive: true, force: true });
      this.configMapMounts.set(name, { dir: mount.dir, version });
    }
  }

  private async initialize(run: number): Promise<void> {
    const current = () => this.runs === run && this.phase === 'running';
    for (const c of this.initContainers) {
      for (;;) {
        const code = await c.runToCompletion(current);
        if (!current() || code === undefined) return;
        if (code === 0) break;
        if (this.restartPolicy === 'Never') {
          this.initFailed = true;
          this.settle();
          return;
        }
        // The kubelet backs off (10 s, 20 s...) before it tries a failed init container again; tests use 1 s.
        await sleep(1000);
        if (!current()) return;
        c.restarts++;
      }
    }
    this.initialized = true;
    this.startContainers();
  }

  /** Starts each container that is not running; one whose Secrets are missing waits (and tries again) without holding the others. */
  private startContainers(): void {
    const run = this.runs;
    const current = () => this.runs === run && this.phase === 'running';
    for (const c of this.containers) if (!c.running) void c.startWhenConfigured(current);
  }

  private settle(): void {
    if (!this.completed) return;
    for (const resolve of this.completionWaiters.splice(0)) resolve();
  }

  private apiStatus(): Record<string, any> {
    if (!this.reported) return this.currentStatus();
    const status = JSON.parse(JSON.stringify(this.reported.status));
    if (Date.now() - this.reported.since >= NODE_MONITOR_GRACE_MS) {
      for (const condition of status.conditions) {
        if (condition.type === 'Ready') Object.assign(condition, { status: 'False', reason: 'NodeNotReady', message: 'Node is not ready' });
      }
    }
    return status;
  }

  /** The status the kubelet reports now. */
  private currentStatus(): Record<string, any> {
    const phase = this.apiPhase();
    const active = this.phase === 'running' && (phase === 'Running' || phase === 'Pending');
    const condition = (type: string, ok: boolean) => ({ type, status: ok ? 'True' : 'False' });
    const status: Record<string, any> = {
      phase,
      conditions: [
        condition('Initialized', this.initialized), condition('Ready', this.ready),
        condition('ContainersReady', this.ready), condition('PodScheduled', true),
      ],
      hostIP: this.ip,
      podIP: this.ip,
      podIPs: [{ ip: this.ip }],
      startTime: this.startTime,
    };
    if (this.initContainers.length > 0) status.initContainerStatuses = this.initContainers.map(c => c.status(this.waitingReason(c, true, active)));
    status.containerStatuses = this.containers.map(c => c.status(this.waitingReason(c, false, active)));
    return status;
  }

  /** Why a container that is not running waits, while the pod will (re)start it; undefined when it will not. */
  private waitingReason(c: Container, init: boolean, active: boolean): string | undefined {
    if (!active || c.running) return undefined;
    if (c.configError) return 'CreateContainerConfigError';
    if (init) return c.lastExit?.code === 0 ? undefined : c.lastExit ? 'CrashLoopBackOff' : 'PodInitializing';
    // Before the init containers have run, or the volumes are set up (ContainerCreating when there are no init containers).
    if (!this.initialized) return this.initContainers.length > 0 ? 'PodInitializing' : 'ContainerCreating';
    return this.restartPolicy === 'Never' || !c.lastExit ? undefined : 'CrashLoopBackOff';
  }

  /** The phase as the kubelet computes it: a pod that restarts its containers stays Running while they are down. */
  private apiPhase(): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
    const ended = this.initialized && this.containers.every(c => !c.running && c.lastExit !== undefined);
    if (this.restartPolicy !== 'Always') {
      if (this.phase === 'killed' || this.initFailed) return 'Failed';
      const succeeded = ended && this.containers.every(c => c.lastExit!.code === 0);
      if (succeeded) return 'Succeeded';
      if (this.restartPolicy === 'Never' && (ended || this.phase === 'stopped')) return 'Failed';
    }
    // A container that has never run (its Secret is missing: CreateContainerConfigError) keeps the pod Pending, as the kubelet's getPhase counts it.
    const neverRan = this.containers.some(c => !c.running && c.lastExit === undefined);
    return this.phase === 'pending' || !this.initialized || neverRan ? 'Pending' : 'Running';
  }

  private automountsToken(): boolean {
    const spec = this.template.spec;
    return spec.automountServiceAccountToken ?? this.host.automountsToken(spec.serviceAccountName ?? 'default');
  }

  /** A volume's directory, made once per pod: containers that restart find the same content. */
  private volumeDir(name: string): string {
    if (this.claims.includes(name)) return this.host.claimDir(`${name}-${this.name}`);
    const made = this.volumeDirs.get(name);
    if (made) return made;
    const volume = (this.template.spec.volumes ?? []).find((v: any) => v.name === name);
    if (!volume) throw new Error(`pod ${this.name}: no volume ${name}`);
    // A PersistentVolumeClaim of its own (a job's): the same volume for every pod that names it, run after run.
    if (volume.persistentVolumeClaim) return this.host.claimDir(volume.persistentVolumeClaim.claimName);
    const dir = path.join(this.dir, 'volumes', name);
    fs.mkdirSync(dir, { recursive: true });
    if (volume.configMap) {
      const data = this.keysOf(volume);
      this.writeKeys(dir, data, volume.configMap.items, volume.configMap.defaultMode ?? 0o644);
      this.configMapMounts.set(name, { dir, version: JSON.stringify(data) });
    } else if (volume.secret) {
      // As the kubelet sets up a secret volume: with an fsGroup, the directory and files are its group's,
      // the files group-readable (mode | 0440); mounted read-only.
      const fsGroup = this.template.spec.securityContext?.fsGroup;
      fs.chownSync(dir, 0, fsGroup ?? 0);
      fs.chmodSync(dir, fsGroup === undefined ? 0o755 : 0o2755);
      this.mountSecretFiles(volume, dir, fsGroup);
    } else if (volume.emptyDir) {
      // Kubernetes makes an emptyDir world-writable; with an fsGroup, its group and set-group-id as well.
      const fsGroup = this.template.spec.securityContext?.fsGroup;
      fs.chownSync(dir, 0, fsGroup ?? 0);
      fs.chmodSync(dir, fsGroup === undefined ? 0o777 : 0o2777);
    } else if (volume.projected) {
      this.writeProjected(name, dir, volume.projected);
    } else {
      throw new Error(`pod ${this.name}: volume ${name} is of a kind the harness does not emulate`);
    }
    this.volumeDirs.set(name, dir);
    return dir;
  }

  private keysOf(source: any): Record<string, string | Buffer> {
    // kube-root-ca.crt exists in every namespace (the root CA publisher).
    if (source.configMap.name === 'kube-root-ca.crt') return { 'ca.crt': this.host.rootCa };
    return this.host.configMap(source.configMap.name).data ?? {};
  }

  /** Writes a volume's Secret files for the first time (setUpVolumes has made sure they can be), and keeps it to be synced. */
  private mountSecretFiles(volume: any, dir: string, fsGroup: number | undefined): void {
    const payload = this.secretPayload(volume);
    if (typeof payload === 'string') throw new Error(`pod ${this.name}: volume ${volume.name}: ${payload}`);
    for (const file of payload.files) this.writeSecretFile(dir, file, fsGroup);
    this.secretMounts.set(volume.name, { dir, fsGroup, version: payload.version, files: new Set(payload.files.map(f => f.file)) });
  }

  /**
   * The Secret files of a `secret` volume or of a projected volume's Secret sources, from the Secrets as the API
   * server has them now: every key (or the listed `items`, at their paths and modes), and what they were made
   * from (each Secret's uid and resourceVersion). A string, as the kubelet's error says, when a Secret or a
   * listed key is missing and its source is not `optional` (an optional one contributes what exists).
   */
  private secretPayload(volume: any): { files: SecretFile[]; version: string } | string {
    const sources: Array<{ source: any; mode: number }> = volume.secret
      ? [{ source: { ...volume.secret, name: volume.secret.secretName }, mode: volume.secret.defaultMode ?? 0o644 }]
      : (volume.projected?.sources ?? []).filter((s: any) => s.secret)
        .map((s: any) => ({ source: s.secret, mode: volume.projected.defaultMode ?? 0o644 }));
    const files: SecretFile[] = [];
    const versions: string[] = [];
    for (const { source, mode } of sources) {
      const secret = this.host.findSecret(source.name);
      if (!secret) {
        if (!source.optional) return `secret "${source.name}" not found`;
        versions.push('absent');
        continue;
      }
      versions.push(`${secret.metadata.uid}/${secret.metadata.resourceVersion}`);
      const data: Record<string, string> = secret.data ?? {};
      const items: any[] = source.items ?? Object.keys(data).sort().map(key => ({ key, path: key }));
      for (const item of items) {
        if (data[item.key] === undefined) {
          if (source.optional) continue;
          return `references non-existent secret key: ${item.key}`;
        }
        files.push({ file: item.path, content: Buffer.from(data[item.key], 'base64'), mode: item.mode ?? mode });
      }
    }
    return { files, version: versions.join(',') };
  }

  /**
   * Writes one Secret file atomically (a temporary file in the same directory, renamed over it), unless it
   * is already as it should be. With an fsGroup (secret volumes), the file is its group's and mode | 0440.
   */
  private writeSecretFile(dir: string, file: SecretFile, fsGroup: number | undefined): void {
    const target = path.join(dir, file.file);
    // eslint-disable-next-line no-bitwise -- permission bits: what the kubelet adds for the fsGroup (read-only volume)
    const mode = fsGroup === undefined ? file.mode : file.mode | 0o440;
    const gid = fsGroup ?? 0;
    try {
      const stat = fs.statSync(target);
      if (stat.mode % 0o10000 === mode && stat.gid === gid && fs.readFileSync(target).equals(file.content)) return;
    } catch {
      // not there yet
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const temporary = path.join(path.dirname(target), `..${path.basename(target)}.${crypto.randomBytes(4).toString('hex')}.tmp`);
    fs.writeFileSync(temporary, file.content, { mode });
    fs.chmodSync(temporary, mode);
    fs.chownSync(temporary, 0, gid);
    fs.renameSync(temporary, target);
  }

  /** Writes keys as files: all of them, or only the listed `items` at their paths. */
  private writeKeys(dir: string, data: Record<string, string | Buffer>, items: any[] | undefined, mode: number): void {
    const files = items
      ? items.map((i: any) => ({ key: i.key, file: i.path, mode: i.mode ?? mode }))
      : Object.keys(data).map(key => ({ key, file: key, mode }));
    for (const { key, file, mode: fileMode } of files) {
      if (data[key] === undefined) throw new Error(`pod ${this.name}: no key ${key} to project into ${file}`);
      this.writeFile(dir, file, data[key], fileMode);
    }
  }

  private writeFile(dir: string, file: string, content: string | Buffer, mode: number): void {
    const target = path.join(dir, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
    fs.chmodSync(target, mode);
  }

  /** A projected volume: a bound ServiceAccount token, ConfigMap and Secret keys, downward API fields. */
  private writeProjected(name: string, dir: string, projected: any): void {
    const mode = projected.defaultMode ?? 0o644;
    for (const source of projected.sources ?? []) {
      if (source.serviceAccountToken) {
        const token = this.host.serviceAccountToken(this.template.spec.serviceAccountName ?? 'default', this.name);
        this.writeFile(dir, source.serviceAccountToken.path, token, mode);
      } else if (source.configMap) {
        this.writeKeys(dir, this.keysOf(source), source.configMap.items, mode);
      } else if (source.secret) {
        // Written below, all Secret sources together (and kept up to date).
      } else if (source.downwardAPI) {
        for (const item of source.downwardAPI.items ?? []) {
          if (!item.fieldRef) throw new Error(`pod ${this.name}: only fieldRef items of downwardAPI projections are emulated`);
          this.writeFile(dir, item.path, this.downwardValue(item.fieldRef.fieldPath), item.mode ?? mode);
        }
      } else {
        throw new Error(`pod ${this.name}: a projected source the harness does not emulate: ${JSON.stringify(source)}`);
      }
    }
    if ((projected.sources ?? []).some((s: any) => s.secret)) this.mountSecretFiles({ name, projected }, dir, undefined);
  }

  private downwardValue(fieldPath: string): string {
    switch (fieldPath) {
      case 'metadata.name': return this.name;
      case 'metadata.namespace': return this.host.namespace;
      case 'metadata.uid': return this.uid;
      case 'metadata.labels': return Object.keys(this.labels).sort().map(k => `${k}=${JSON.stringify(this.labels[k])}`).join('\n');
    }
    throw new Error(`pod ${this.name}: downward API field ${fieldPath} is not emulated`);
  }

  /** The ServiceAccount token Kubernetes mounts into every container (kube-api-access), made once per pod. */
  private serviceAccountDir(): string {
    const made = this.volumeDirs.get(SERVICE_ACCOUNT_PATH);
    if (made) return made;
    const dir = path.join(this.dir, 'volumes', 'kube-api-access');
    fs.mkdirSync(dir, { recursive: true });
    const account = this.template.spec.serviceAccountName ?? 'default';
    this.writeFile(dir, 'token', this.host.serviceAccountToken(account, this.name), 0o644);
    this.writeFile(dir, 'ca.crt', this.host.rootCa, 0o644);
    this.writeFile(dir, 'namespace', this.host.namespace, 0o644);
    this.volumeDirs.set(SERVICE_ACCOUNT_PATH, dir);
    return dir;
  }

  /** A failed node comes back without what its memory held: `emptyDir.medium: Memory` volumes start empty. */
  private wipeMemoryVolumes(): void {
    this.memoryLost = false;
    for (const volume of this.template.spec.volumes ?? []) {
      const dir = this.volumeDirs.get(volume.name);
      if (!dir || volume.emptyDir?.medium !== 'Memory') continue;
      for (const entry of fs.readdirSync(dir)) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
  }
}

/** A file of a secret volume: its path in the volume, content and mode (before the fsGroup's bits). */
interface SecretFile {
  readonly file: string;
  readonly content: Buffer;
  readonly mode: number;
}

/** A secret (or projected) volume as set up: where, the fsGroup its files belong to, and what its Secret files were made from. */
interface SecretMount {
  readonly dir: string;
  readonly fsGroup: number | undefined;
  readonly version: string;
  readonly files: ReadonlySet<string>;
}

function normalizePath(p: string): string {
  const normal = path.posix.normalize(p);
  return normal.length > 1 ? normal.replace(/\/$/, '') : normal;
}

/**
 * Run between `env -i` and a command, with the pod's clockEnv. libfaketime 0.9.10 preloaded into a bash that is the
 * first process of its tree leaves bash's own clock reads ($EPOCHREALTIME, $EPOCHSECONDS, printf %()T) unfaked: bash
 * has its own getenv and setenv, which libfaketime calls while it sets up the state the tree shares (FAKETIME_SHARED,
 * in /dev/shm). Set up by a first process that is not bash, it works in bash too: sh does it, then execs the command
 * (the pid is kept).
 */
const CLOCK_SHIM_HOP = ['/bin/sh', '-c', 'exec "$@"', 'sh'];

/** The shared state libfaketime's first process (the sh of CLOCK_SHIM_HOP, gone by exec) left in /dev/shm: removed once its tree has ended. */
function removeClockShimState(pid: number | undefined): void {
  if (pid === undefined) return;
  fs.rmSync(`/dev/shm/faketime_shm_${pid}`, { force: true });
  fs.rmSync(`/dev/shm/sem.faketime_sem_${pid}`, { force: true });
}

/** Kubernetes' timestamps: RFC 3339, whole seconds, UTC. */
function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** The address kubectl in a pod reaches the API server at: the `kubernetes` Service, as the kubelet tells every container. */
export const API_SERVER_ADDRESS = '10.96.0.1:443';

/**
 * A container's environment as the kubelet sets it: HOSTNAME, the `kubernetes` Service's variables
 * (set even with enableServiceLinks false), then the container's env, resolved.
 */
export function containerEnvironment(host: PodHost, podName: string, podIp: string, template: any, spec: any): Record<string, string> {
  if (template.spec.enableServiceLinks !== false) {
    throw new Error(`pod ${podName}: the harness does not emulate Service environment variables (enableServiceLinks)`);
  }
  const [apiHost, apiPort] = API_SERVER_ADDRESS.split(':');
  const env: Record<string, string> = {
    HOSTNAME: podName,
    KUBERNETES_SERVICE_HOST: apiHost,
    KUBERNETES_SERVICE_PORT: apiPort,
    KUBERNETES_SERVICE_PORT_HTTPS: apiPort,
    KUBERNETES_PORT: `tcp://${API_SERVER_ADDRESS}`,
    [`KUBERNETES_PORT_${apiPort}_TCP`]: `tcp://${API_SERVER_ADDRESS}`,
    [`KUBERNETES_PORT_${apiPort}_TCP_PROTO`]: 'tcp',
    [`KUBERNETES_PORT_${apiPort}_TCP_PORT`]: apiPort,
    [`KUBERNETES_PORT_${apiPort}_TCP_ADDR`]: apiHost,
  };
  for (const e of spec.env ?? []) {
    const value = envValue(host, podName, podIp, template, e);
    if (value !== undefined) env[e.name] = value;
  }
  return env;
}

/** A variable's value; undefined for an `optional` secretKeyRef whose Secret or key is missing (the variable is not set). */
function envValue(host: PodHost, podName: string, podIp: string, template: any, e: any): string | undefined {
  if (e.value !== undefined) return String(e.value);
  const from = e.valueFrom ?? {};
  if (from.secretKeyRef) {
    const { name, key, optional } = from.secretKeyRef;
    // The Secret as the API server has it now, as the kubelet reads it when it starts the container.
    const secret = host.findSecret(name);
    const value = secret?.data?.[key];
    if (value !== undefined) return Buffer.from(value, 'base64').toString('utf8');
    if (optional) return undefined;
    throw new CreateContainerConfigError(secret ? `couldn't find key ${key} in Secret ${host.namespace}/${name}` : `secret "${name}" not found`);
  }
  if (from.configMapKeyRef) return host.configMap(from.configMapKeyRef.name).data[from.configMapKeyRef.key];
  if (from.fieldRef) {
    switch (from.fieldRef.fieldPath) {
      case 'metadata.name': return podName;
      case 'metadata.namespace': return host.namespace;
      case 'status.podIP': return podIp;
      case 'status.hostIP': return podIp;
      case 'spec.serviceAccountName': return template.spec.serviceAccountName ?? 'default';
    }
  }
  throw new Error(`env ${e.name}: this kind of value is not emulated: ${JSON.stringify(e)}`);
}
