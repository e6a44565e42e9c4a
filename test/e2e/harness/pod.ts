import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Result } from './exec';
import { emulateImage, EmulatedImage } from './images';
import { KubeObject } from './manifests';

/** What a pod needs from the cluster around it. */
export interface PodHost {
  readonly stateDir: string;
  readonly standInBin: string;
  readonly launcher: string;
  readonly namespace: string;
  configMap(name: string): KubeObject;
  secret(name: string): KubeObject;
  /** A directory that outlives the pod (a PersistentVolumeClaim). */
  claimDir(claim: string): string;
  serviceAccountToken(account: string): string;
  onReadinessChange(pod: Pod): void;
}

interface User {
  readonly uid: number;
  readonly gid: number;
  readonly groups: number;
}

/**
 * One container of an emulated pod: a process tree started by bin/container-launch.sh in the pod's
 * network namespace, restarted when it exits while its pod runs (restartPolicy Always).
 */
export class Container {
  public process?: ChildProcess;
  public ready = false;
  public restarts = 0;
  public readonly log: string;
  private readonly image: EmulatedImage;
  private readonly user: User;
  private readonly env: Record<string, string>;
  private readonly execs = new Set<ChildProcess>();
  private probeTimer?: NodeJS.Timeout;
  private probeFailures = 0;
  private exited?: Promise<void>;

  constructor(public readonly pod: Pod, public readonly spec: any, private readonly restartPolicy: 'Always' | 'Never') {
    this.image = emulateImage(spec.image, pod.host.standInBin);
    this.user = pod.userOf(spec);
    this.env = { ...this.image.env, ...pod.envOf(spec) };
    this.log = path.join(pod.dir, `${spec.name}.log`);
  }

  public get name(): string {
    return this.spec.name;
  }

  public get running(): boolean {
    return this.process !== undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  public start(): void {
    const specDir = path.join(this.pod.dir, `${this.name}.spec`);
    fs.mkdirSync(specDir, { recursive: true });
    const mounts = this.pod.mountsOf(this.spec, this.image);
    fs.writeFileSync(path.join(specDir, 'mounts'), mounts.map(m => `${m.source}\t${m.target}\t${m.readOnly ? 'ro' : 'rw'}\n`).join(''));
    fs.writeFileSync(path.join(specDir, 'env'), Object.entries(this.env).map(([k, v]) => `${k}=${v}\0`).join(''));
    fs.writeFileSync(path.join(specDir, 'command'), [...(this.spec.command ?? []), ...(this.spec.args ?? [])].map(a => `${a}\0`).join(''));
    fs.writeFileSync(path.join(specDir, 'user'), `${this.user.uid} ${this.user.gid} ${this.user.groups}\n`);
    const out = fs.openSync(this.log, 'a');
    fs.writeSync(out, `--- ${new Date().toISOString()} container ${this.name} starts (restart ${this.restarts}) ---\n`);
    const child = spawn('ip', ['netns', 'exec', this.pod.netns, 'bash', this.pod.host.launcher, specDir], {
      detached: true, stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    this.process = child;
    this.ready = !this.spec.readinessProbe;
    this.exited = new Promise(resolve => child.once('exit', (code, signal) => {
      fs.appendFileSync(this.log, `--- ${new Date().toISOString()} container ${this.name} exited (${signal ?? code}) ---\n`);
      this.afterExit(child);
      resolve();
    }));
    this.startProbes();
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
  public exec(command: readonly string[], timeoutMs = 30_000): Promise<Result> {
    if (!this.running) {
      return Promise.resolve({ code: 1, stdout: '', stderr: `error: container ${this.name} in pod ${this.pod.name} is not running\n` });
    }
    const args = [
      '-t', String(this.process!.pid), '-n', '-m', '--',
      'setpriv', `--reuid=${this.user.uid}`, `--regid=${this.user.gid}`, `--groups=${this.user.groups}`, '--no-new-privs', '--',
      'env', '-i', '-C', '/', ...Object.entries(this.env).map(([k, v]) => `${k}=${v}`), ...command,
    ];
    return new Promise(resolve => {
      const child = spawn('nsenter', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      this.execs.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', d => { stdout += d; });
      child.stderr!.on('data', d => { stderr += d; });
      const timer = setTimeout(() => this.signalGroup(child, 'SIGKILL'), timeoutMs);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.execs.delete(child);
        resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 1), stdout, stderr });
      });
    });
  }

  public stopProbes(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }

  private startProbes(): void {
    const probe = this.spec.readinessProbe;
    if (!probe) return;
    if (!probe.exec) throw new Error(`container ${this.name}: only exec readiness probes are emulated`);
    this.probeFailures = 0;
    const period = (probe.periodSeconds ?? 10) * 1000;
    const tick = async () => {
      if (!this.running) return;
      const result = await this.exec(probe.exec.command, (probe.timeoutSeconds ?? 1) * 1000);
      if (!this.running) return;
      const wasReady = this.ready;
      if (result.code === 0) {
        this.probeFailures = 0;
        this.ready = true;
      } else if (++this.probeFailures >= (probe.failureThreshold ?? 3)) {
        this.ready = false;
      }
      if (wasReady !== this.ready) this.pod.host.onReadinessChange(this.pod);
      this.probeTimer = setTimeout(tick, period);
    };
    this.probeTimer = setTimeout(tick, (probe.initialDelaySeconds ?? 0) * 1000);
  }

  private afterExit(child: ChildProcess): void {
    this.stopProbes();
    for (const exec of this.execs) this.signalGroup(exec, 'SIGKILL');
    // The container's other processes (e.g. postgres's children) go with it.
    this.signalGroup(child, 'SIGKILL');
    const wasReady = this.ready;
    this.ready = false;
    if (wasReady) this.pod.host.onReadinessChange(this.pod);
    if (this.pod.phase === 'running' && this.restartPolicy === 'Always' && this.process === child) {
      this.restarts++;
      // The kubelet restarts at once the first time, then backs off (10 s, 20 s...); tests use a short fixed delay.
      setTimeout(() => { if (this.pod.phase === 'running' && this.process === child) this.start(); }, 500);
    }
  }

  private signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined) return;
    try { process.kill(-child.pid, signal); } catch { /* gone */ }
  }
}

/**
 * An emulated pod: its containers, labels, volumes and readiness. Pod phases: running (containers are
 * supervised and restarted), stopped (shut down gracefully), killed (every process SIGKILLed and
 * nothing restarts them, as when a node fails) and deleted.
 */
export class Pod {
  public phase: 'pending' | 'running' | 'stopped' | 'killed' | 'deleted' = 'pending';
  public readonly labels: Record<string, string>;
  public readonly containers: Container[];
  public readonly dir: string;

  constructor(
    public readonly host: PodHost,
    public readonly name: string,
    public readonly template: any,
    public readonly netns: string,
    public readonly ip: string,
    private readonly claims: readonly string[],
    restartPolicy: 'Always' | 'Never' = 'Always',
  ) {
    this.labels = { ...(template.metadata?.labels ?? {}) };
    this.dir = path.join(host.stateDir, 'pods', name);
    fs.mkdirSync(this.dir, { recursive: true });
    this.containers = (template.spec.containers as any[]).map(spec => new Container(this, spec, restartPolicy));
  }

  public get ready(): boolean {
    return this.phase === 'running' && this.containers.every(c => c.running && c.ready);
  }

  public container(name: string): Container {
    const found = this.containers.find(c => c.name === name);
    if (!found) throw new Error(`pod ${this.name} has no container ${name}`);
    return found;
  }

  public start(): void {
    this.phase = 'running';
    for (const c of this.containers) if (!c.running) c.start();
  }

  public async stop(): Promise<void> {
    this.phase = 'stopped';
    const grace = this.template.spec.terminationGracePeriodSeconds ?? 30;
    await Promise.all(this.containers.map(c => c.stop(grace)));
  }

  /** Every process of the pod dies at once (SIGKILL) and stays dead. */
  public async kill(pids: () => number[]): Promise<void> {
    this.phase = 'killed';
    for (const c of this.containers) c.stopProbes();
    for (const pid of pids()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await Promise.all(this.containers.map(c => c.stop(0)));
  }

  /** A mark in a container's log, for reading what it wrote after it (logSince). */
  public logMark(container = 'postgres'): number {
    const file = this.container(container).log;
    return fs.existsSync(file) ? fs.statSync(file).size : 0;
  }

  public logSince(mark: number, container = 'postgres'): string {
    return fs.readFileSync(this.container(container).log).subarray(mark).toString('utf8');
  }

  public logs(): string {
    return this.containers.map(c => {
      const text = fs.existsSync(c.log) ? fs.readFileSync(c.log, 'utf8') : '';
      return `==== ${this.name}/${c.name} (restarts: ${c.restarts}) ====\n${text.split('\n').slice(-80).join('\n')}`;
    }).join('\n');
  }

  public envOf(spec: any): Record<string, string> {
    return containerEnvironment(this.host, this.name, this.ip, this.template, spec);
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

  public mountsOf(spec: any, image: EmulatedImage): Array<{ source: string; target: string; readOnly: boolean }> {
    const mounts: Array<{ source: string; target: string; readOnly: boolean }> = [];
    for (const dir of image.writableDirs) {
      const source = path.join(this.dir, `${spec.name}.fs`, dir.path.replace(/\//g, '_'));
      fs.mkdirSync(source, { recursive: true });
      fs.chownSync(source, dir.uid, dir.uid);
      fs.chmodSync(source, dir.mode);
      mounts.push({ source, target: dir.path, readOnly: false });
    }
    for (const m of spec.volumeMounts ?? []) {
      if (m.subPath) throw new Error(`container ${spec.name}: subPath mounts are not emulated`);
      mounts.push({ source: this.volumeDir(m.name), target: m.mountPath, readOnly: m.readOnly === true });
    }
    if (this.template.spec.automountServiceAccountToken !== false) {
      mounts.push({ source: this.serviceAccountDir(), target: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true });
    }
    for (const m of mounts) fs.mkdirSync(m.target, { recursive: true });
    return mounts;
  }

  private volumeDir(name: string): string {
    if (this.claims.includes(name)) return this.host.claimDir(`${name}-${this.name}`);
    const volume = (this.template.spec.volumes ?? []).find((v: any) => v.name === name);
    if (!volume) throw new Error(`pod ${this.name}: no volume ${name}`);
    const dir = path.join(this.dir, 'volumes', name);
    if (volume.configMap || volume.secret) {
      const source = volume.configMap ? this.host.configMap(volume.configMap.name) : this.host.secret(volume.secret.secretName);
      const mode = (volume.configMap ?? volume.secret).defaultMode ?? 0o644;
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      for (const [key, value] of Object.entries<string>(source.data ?? {})) {
        const file = path.join(dir, key);
        fs.writeFileSync(file, volume.secret ? Buffer.from(value, 'base64') : value);
        fs.chmodSync(file, mode);
      }
      return dir;
    }
    if (volume.emptyDir) {
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    }
    throw new Error(`pod ${this.name}: volume ${name} is of a kind the harness does not emulate`);
  }

  private serviceAccountDir(): string {
    const dir = path.join(this.dir, 'serviceaccount');
    fs.mkdirSync(dir, { recursive: true });
    const account = this.template.spec.serviceAccountName ?? 'default';
    fs.writeFileSync(path.join(dir, 'token'), this.host.serviceAccountToken(account));
    fs.writeFileSync(path.join(dir, 'namespace'), this.host.namespace);
    return dir;
  }
}

/** A container's environment as the kubelet sets it: HOSTNAME, then the container's env, resolved. */
export function containerEnvironment(host: PodHost, podName: string, podIp: string, template: any, spec: any): Record<string, string> {
  if (template.spec.enableServiceLinks !== false) {
    throw new Error(`pod ${podName}: the harness does not emulate Service environment variables (enableServiceLinks)`);
  }
  const env: Record<string, string> = { HOSTNAME: podName };
  for (const e of spec.env ?? []) env[e.name] = envValue(host, podName, podIp, e);
  return env;
}

function envValue(host: PodHost, podName: string, podIp: string, e: any): string {
  if (e.value !== undefined) return String(e.value);
  const from = e.valueFrom ?? {};
  if (from.secretKeyRef) {
    const data = host.secret(from.secretKeyRef.name).data ?? {};
    const value = data[from.secretKeyRef.key];
    if (value === undefined) throw new Error(`secret ${from.secretKeyRef.name} has no key ${from.secretKeyRef.key}`);
    return Buffer.from(value, 'base64').toString('utf8');
  }
  if (from.configMapKeyRef) return host.configMap(from.configMapKeyRef.name).data[from.configMapKeyRef.key];
  if (from.fieldRef) {
    switch (from.fieldRef.fieldPath) {
      case 'metadata.name': return podName;
      case 'metadata.namespace': return host.namespace;
      case 'status.podIP': return podIp;
    }
  }
  throw new Error(`env ${e.name}: this kind of value is not emulated: ${JSON.stringify(e)}`);
}
