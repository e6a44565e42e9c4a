// The agent's Kubernetes API client: the few requests the sidecar makes (the leader record's Lease, its pods' labels,
// Events), over Node's own https, as kubectl does them in role-labeler.sh and leader-record.sh. The I/O of the agent:
// every answer is a value (ApiResult, WatchEnd), never a throw, so the decisions stay pure functions of facts. The failover
// job's `kubectl exec` is here too (exec), over WebSocket as kubectl 1.30 and later speak it.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import { join } from 'path';
import { performance } from 'perf_hooks';
import { Duplex } from 'stream';
import { LeaseObject, RecordLease, RecordPatch } from './record';

/** A merge patch of a Lease with metadata.resourceVersion (compare-and-swap); null removes a field. */
export interface LeasePatch {
  readonly metadata: { readonly resourceVersion: string; readonly annotations?: Readonly<Record<string, string | null>> };
  readonly spec?: Readonly<Record<string, string | number | null>>;
}

export interface KubeClientOptions {
  /** `https://host:port` of the API server. */
  readonly server: string;
  /** The namespace of the Lease, the pods and the Events. */
  readonly namespace: string;
  /** The service account's token file: re-read when it changed (the kubelet rotates projected tokens); read at most once a second. */
  readonly tokenFile: string;
  /** The CA bundle that signs the API server's certificate. */
  readonly caFile: string;
  /** Bound on every request but watches (ms): no answer within it is an error with no status ("cannot reach" is never "down"). */
  readonly timeoutMs: number;
  /**
   * How long a watch lasts (its timeoutSeconds: the API server ends it then, and followLease watches again).
   * @default DEFAULT_WATCH_SECONDS
   */
  readonly watchSeconds?: number;
  /**
   * The User-Agent header, as the API server's audit log names the client.
   * @default 'cdk8s-postgres-agent'
   */
  readonly userAgent?: string;
}

/** Where a pod finds its ServiceAccount's token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** How long a token read is used before the file is read again (the kubelet rotates projected tokens well before they expire). */
export const TOKEN_REREAD_MS = 1000;
/** How long a watch lasts unless told (the API server ends it then); client-go picks 5 to 10 minutes. */
export const DEFAULT_WATCH_SECONDS = 300;
/** How long followLease waits after a failed get or a watch that could not go on. */
export const DEFAULT_RETRY_MS = 1000;
const DEFAULT_USER_AGENT = 'cdk8s-postgres-agent';
/** The reason of an ApiResult without an answer (status undefined). */
export const NO_ANSWER = 'NoAnswer';
/** The reason of an answer the client cannot read (not JSON, or not the object asked for). */
export const BAD_ANSWER = 'BadAnswer';

/**
 * In-cluster configuration, as kubectl and client-go build it: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT (IPv6
 * hosts bracketed) and `dir`'s token, ca.crt and namespace. Throws an error naming what is missing.
 */
export function inClusterOptions(env: NodeJS.ProcessEnv, timeoutMs: number, dir: string = SERVICE_ACCOUNT_DIR): KubeClientOptions {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  for (const [variable, value] of [['KUBERNETES_SERVICE_HOST', host], ['KUBERNETES_SERVICE_PORT', port]]) {
    if (value === '') throw new Error(`not in a Kubernetes pod: ${variable} is not set (the kubelet sets it in every container)`);
  }
  const file = (name: string, what: string): string => {
    const path = join(dir, name);
    if (!fs.existsSync(path)) throw new Error(`not in a Kubernetes pod: ${path} (${what}) does not exist; is a ServiceAccount token mounted?`);
    return path;
  };
  const tokenFile = file('token', 'the ServiceAccount token');
  const caFile = file('ca.crt', 'the CA bundle');
  const namespace = fs.readFileSync(file('namespace', 'the pod\'s namespace'), 'utf8').trim();
  return { server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, namespace, tokenFile, caFile, timeoutMs };
}

/** An API answer: the value, or why not. `status` undefined: no answer (timeout, connection refused/reset, TLS failure). */
export type ApiResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly status: number | undefined; readonly reason: string; readonly message: string };

type Failure = Extract<ApiResult<unknown>, { ok: false }>;

/** How a watch ended. */
export type WatchEnd =
  /** The server closed it (its timeout): watch again from `resourceVersion`, the last it delivered. */
  | { readonly kind: 'ended'; readonly resourceVersion: string }
  /** The resourceVersion is too old to watch from (410 Gone): get the object again. */
  | { readonly kind: 'gone' }
  /** No answer, another status, a broken stream, or aborted. */
  | { readonly kind: 'error'; readonly message: string };

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** What a command run in a container did (exec): its exit code, and its output, each stream apart (UTF-8). */
export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The channel protocols of pods/exec over WebSocket, as kubectl 1.30+ offers them, best first (v5 only adds channel 255, close). */
export const EXEC_PROTOCOLS: readonly string[] = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
/** What RFC 6455 appends to the client's key: the server's Sec-WebSocket-Accept is the SHA-1 of both, base64. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The opcodes of RFC 6455 frames. */
const CONTINUATION = 0x0;
const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;
/** The channels of an exec message (its first byte): the command's stdout, its stderr, and the Status of its end. */
const STDOUT_CHANNEL = 1;
const STDERR_CHANNEL = 2;
const ERROR_CHANNEL = 3;

/** A bare answer: its status and parsed body, or none. */
type Answer = { readonly ok: true; readonly status: number; readonly body: unknown } | Failure;

export class KubeClient {
  private readonly url: URL;
  /** One connection, kept open between requests: the agent idles cheaply. */
  private readonly agent: https.Agent;
  /** Watches hold their connection for minutes: their own. */
  private readonly watchAgent: https.Agent;
  /** An exec's connection becomes its WebSocket and is never reused: not kept alive. */
  private readonly execAgent: https.Agent;
  /** Events are best effort: their own connection, so that one sent beside a write of the record never holds it up. */
  private readonly eventAgent: https.Agent;
  private token: { readonly value: string; readonly readAt: number } | undefined;

  constructor(private readonly options: KubeClientOptions) {
    this.url = new URL(options.server);
    const ca = fs.readFileSync(options.caFile);
    this.agent = new https.Agent({ keepAlive: true, maxFreeSockets: 1, ca });
    this.watchAgent = new https.Agent({ keepAlive: true, maxFreeSockets: 1, ca });
    this.execAgent = new https.Agent({ keepAlive: false, ca });
    this.eventAgent = new https.Agent({ keepAlive: true, maxFreeSockets: 1, ca });
  }

  /** Closes the idle connections (an agent that stops, a test that ends). */
  public close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
    this.execAgent.destroy();
    this.eventAgent.destroy();
  }

  /** GET the Lease; 404 → { ok: true, value: undefined }. */
  public async getLease(name: string): Promise<ApiResult<LeaseObject | undefined>> {
    const what = `GET leases/${name}`;
    const answer = await this.request('GET', what, this.leasePath(name));
    if (!answer.ok && answer.status === 404) return { ok: true, value: undefined };
    return asObject(what, answer);
  }

  /** POST; a Lease that exists → ok:false status 409 reason 'AlreadyExists'. */
  public async createLease(lease: RecordLease): Promise<ApiResult<LeaseObject>> {
    const what = `POST leases/${lease.metadata.name}`;
    return asObject(what, await this.request('POST', what, this.leasePath(), lease));
  }

  /** PATCH application/merge-patch+json with metadata.resourceVersion (compare-and-swap): a changed Lease → 409 reason 'Conflict'; a deleted one → 404. */
  public async patchLease(name: string, patch: RecordPatch | LeasePatch): Promise<ApiResult<LeaseObject>> {
    const what = `PATCH leases/${name}`;
    return asObject(what, await this.request('PATCH', what, this.leasePath(name), patch));
  }

  /** The names of the pods matching a label selector (`a=b,c=d`). */
  public async listPodNames(labelSelector: string): Promise<ApiResult<string[]>> {
    const listed = await this.listPods(labelSelector);
    return listed.ok ? { ok: true, value: listed.value.map(pod => pod.name) } : listed;
  }

  /**
   * The pods matching a label selector (`a=b,c=d`) and, when given, a field selector (`status.phase=Running`), each with
   * whether it is being deleted (metadata.deletionTimestamp), its phase and its running containers.
   */
  public async listPods(labelSelector: string, fieldSelector?: string): Promise<ApiResult<PodSummary[]>> {
    const query = new URLSearchParams({ labelSelector });
    if (fieldSelector !== undefined) query.set('fieldSelector', fieldSelector);
    const what = `GET pods?labelSelector=${labelSelector}${fieldSelector === undefined ? '' : `&fieldSelector=${fieldSelector}`}`;
    const answer = await this.request('GET', what, `${this.corePath('pods')}?${query}`);
    if (!answer.ok) return answer;
    const items = (answer.body as { items?: unknown } | null)?.items;
    const pods = Array.isArray(items) ? items.map(podSummary) : [];
    if (!Array.isArray(items) || pods.some(pod => pod === undefined)) return badAnswer(what, answer.status, 'a PodList with named items');
    return { ok: true, value: pods as PodSummary[] };
  }

  /** One pod, as listPods summarizes it; 404 → { ok: true, value: undefined }. */
  public async getPod(name: string): Promise<ApiResult<PodSummary | undefined>> {
    const what = `GET pods/${name}`;
    const answer = await this.request('GET', what, this.corePath('pods', name));
    if (!answer.ok) return answer.status === 404 ? { ok: true, value: undefined } : answer;
    const pod = podSummary(answer.body);
    return pod === undefined ? badAnswer(what, answer.status, 'a named Pod') : { ok: true, value: pod };
  }

  /** Sets (value string) or removes (value null) one label of a pod: a merge patch of metadata.labels. */
  public async labelPod(name: string, key: string, value: string | null): Promise<ApiResult<void>> {
    const what = `PATCH pods/${name}`;
    return asVoid(await this.request('PATCH', what, this.corePath('pods', name), { metadata: { labels: { [key]: value } } }));
  }

  /**
   * Deletes a pod (graceful: its containers get SIGTERM and the pod's grace period), only if it is still the one listed:
   * a precondition on its uid, so that a pod made anew under the same name since is left alone (409 Conflict).
   * 404 (gone already) → ok.
   */
  public async deletePod(name: string, uid: string | undefined): Promise<ApiResult<void>> {
    const what = `DELETE pods/${name}`;
    const options = uid === undefined ? undefined : { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } };
    const answer = await this.request('DELETE', what, this.corePath('pods', name), options);
    return !answer.ok && answer.status === 404 ? { ok: true, value: undefined } : asVoid(answer);
  }

  /** The StatefulSet's replicas and its update revision (status.updateRevision: the pod template pods are made from now); 404 → undefined. */
  public async getStatefulSet(name: string): Promise<ApiResult<StatefulSetSummary | undefined>> {
    const what = `GET statefulsets/${name}`;
    const path = `/apis/apps/v1/namespaces/${encodeURIComponent(this.options.namespace)}/statefulsets/${encodeURIComponent(name)}`;
    const answer = await this.request('GET', what, path);
    if (!answer.ok) return answer.status === 404 ? { ok: true, value: undefined } : answer;
    type Item = { spec?: { replicas?: unknown }; status?: { updateRevision?: unknown } };
    const item = answer.body as Item | null;
    const replicas = item?.spec?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas)) return badAnswer(what, answer.status, 'a StatefulSet with spec.replicas');
    const updateRevision = item?.status?.updateRevision;
    return { ok: true, value: { replicas, updateRevision: typeof updateRevision === 'string' && updateRevision !== '' ? updateRevision : undefined } };
  }

  /** Creates a core/v1 Event about a pod (type Normal|Warning, reason, message), for `kubectl get events`. Best effort. */
  public async podEvent(pod: string, type: 'Normal' | 'Warning', reason: string, message: string, component: string): Promise<ApiResult<void>> {
    return this.event({ apiVersion: 'v1', kind: 'Pod', name: pod }, pod, type, reason, message, component);
  }

  /** The same Event about a Lease (the leader record), reported by `instance` (this pod). */
  public async leaseEvent(lease: string, instance: string, type: 'Normal' | 'Warning', reason: string, message: string, component: string): Promise<ApiResult<void>> {
    return this.event({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: lease }, instance, type, reason, message, component);
  }

  private async event(involved: { apiVersion: string; kind: string; name: string }, instance: string, type: 'Normal' | 'Warning', reason: string,
    message: string, component: string): Promise<ApiResult<void>> {
    // The Event as client-go's legacy recorder writes it (core/v1: no eventTime, one occurrence).
    const now = `${new Date().toISOString().slice(0, 19)}Z`;
    const namespace = this.options.namespace;
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${involved.name}.`, namespace },
      involvedObject: { ...involved, namespace },
      type,
      reason,
      message,
      source: { component },
      reportingComponent: component,
      reportingInstance: instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    return asVoid(await this.request('POST', `POST events (${reason} about ${involved.kind.toLowerCase()} ${involved.name})`, this.corePath('events'), event, this.eventAgent));
  }

  /**
   * One watch of one Lease, from `resourceVersion` ('' for its state now, then its changes). Calls onEvent for each
   * ADDED/MODIFIED/DELETED event (BOOKMARK only advances the resourceVersion). Resolves when the watch ends; never rejects.
   * The answer's headers are bounded by timeoutMs; the watch by timeoutSeconds and timeoutMs (a server that does not end it
   * then is not heard).
   */
  public watchLease(name: string, resourceVersion: string, onEvent: (type: WatchEventType, lease: LeaseObject) => void,
    signal: AbortSignal, timeoutSeconds: number = this.options.watchSeconds ?? DEFAULT_WATCH_SECONDS): Promise<WatchEnd> {
    const what = `WATCH leases/${name}`;
    const query = new URLSearchParams({ fieldSelector: `metadata.name=${name}`, watch: 'true' });
    if (resourceVersion !== '') query.set('resourceVersion', resourceVersion);
    query.set('allowWatchBookmarks', 'true');
    query.set('timeoutSeconds', String(timeoutSeconds));
    return new Promise(resolve => {
      let last = resourceVersion;
      let request: http.ClientRequest | undefined;
      let timer: NodeJS.Timeout | undefined;
      // Set once the watch has ended: data still buffered then is not delivered.
      let done = false;
      const finish = (end: WatchEnd) => {
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (end.kind !== 'ended') request?.destroy();
        resolve(end);
      };
      const fail = (message: string) => finish({ kind: 'error', message: `${what}: ${message}` });
      const onAbort = () => fail('aborted');
      if (signal.aborted) return onAbort();
      const token = this.bearer();
      if (typeof token !== 'string') return fail(token.message);
      signal.addEventListener('abort', onAbort);
      timer = setTimeout(() => fail(`no answer from the API server within ${this.options.timeoutMs} ms`), this.options.timeoutMs);
      request = https.request(this.requestOptions('GET', `${this.leasePath()}?${query}`, token, this.watchAgent));
      request.on('error', error => fail(`no answer from the API server: ${error.message}`));
      request.on('response', response => {
        clearTimeout(timer);
        if (response.statusCode !== 200) {
          void readAll(response).then(text => {
            const failure = failureOf(what, response.statusCode ?? 0, text);
            if (failure.status === 410) finish({ kind: 'gone' });
            else finish({ kind: 'error', message: failure.message });
          }, (error: Error) => fail(`the answer broke off: ${error.message}`));
          return;
        }
        const limitMs = timeoutSeconds * 1000 + this.options.timeoutMs;
        timer = setTimeout(() => fail(`the API server did not end the watch within ${limitMs} ms`), limitMs);
        let buffer = '';
        // Each line one event; false: the watch cannot go on.
        const line = (text: string): boolean => {
          if (done) return false;
          if (text.trim() === '') return true;
          const { type, object } = (parseJson(text) ?? {}) as { type?: unknown; object?: LeaseObject | null };
          if (typeof object !== 'object' || object === null) {
            fail(`an event that is not a watch event: ${excerpt(text)}`);
            return false;
          }
          if (type === 'ERROR') {
            const status = object as { code?: unknown; reason?: unknown; message?: unknown };
            if (status.code === 410) finish({ kind: 'gone' });
            else fail(`${String(status.code)} ${String(status.reason)}: ${String(status.message)}`);
            return false;
          }
          last = versionOf(object) ?? last;
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            try {
              onEvent(type, object);
            } catch (error) {
              fail(`the watcher failed on a ${type} event: ${(error as Error).message}`);
              return false;
            }
          }
          return true;
        };
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
            const text = buffer.slice(0, end);
            buffer = buffer.slice(end + 1);
            if (!line(text)) return;
          }
        });
        response.on('close', () => {
          if (!response.complete) fail('the connection broke off');
          else if (line(buffer)) finish({ kind: 'ended', resourceVersion: last });
        });
      });
      request.end();
    });
  }

  /**
   * Runs a command in a pod's container, as `kubectl exec POD -c CONTAINER -- COMMAND...` (kubectl 1.30+): a GET of
   * pods/exec upgraded to a WebSocket (`v5.channel.k8s.io`, else `v4.channel.k8s.io`), no stdin, no tty. The command's
   * exit code and output (each stream apart), from the Status the API server sends on the error channel when it ends:
   * "Success" → code 0; "Failure" with reason NonZeroExitCode → the code of its ExitCode cause. Any other Failure (the
   * container is not running, the kubelet cannot be reached) → ok:false with the Status's code (if any), reason and
   * message; an upgrade refused (403, 404, 400...) → ok:false with the HTTP status and the Status's message, as the
   * other requests. No end within timeoutMs (the whole exec), or a stream that ends without a Status → NO_ANSWER: the
   * command may have run, or still run. Resolves when the WebSocket has closed; never rejects.
   */
  public exec(pod: string, container: string, command: readonly string[], timeoutMs: number): Promise<ApiResult<ExecResult>> {
    const what = `EXEC pods/${pod} (${container}): ${command.join(' ')}`;
    const token = this.bearer();
    if (typeof token !== 'string') return Promise.resolve({ ...token, message: `${what}: ${token.message}` });
    // Each word its own `command` parameter, as kubectl sends them (PodExecOptions); stdin and tty false by their absence.
    const query = new URLSearchParams(command.map((word): [string, string] => ['command', word]));
    query.append('container', container);
    query.append('stdout', 'true');
    query.append('stderr', 'true');
    const key = crypto.randomBytes(16).toString('base64');
    const options = this.requestOptions('GET', `${this.corePath('pods', pod)}/exec?${query}`, token, this.execAgent, undefined, undefined, {
      'Connection': 'Upgrade',
      'Upgrade': 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Protocol': EXEC_PROTOCOLS.join(', '),
    });
    return new Promise(resolve => {
      let socket: Duplex | undefined;
      // The first result stands: a promise resolves once.
      const finish = (result: ApiResult<ExecResult>) => {
        clearTimeout(timer);
        resolve(result);
      };
      const noAnswer = (detail: string) => {
        request.destroy();
        socket?.destroy();
        finish({ ok: false, status: undefined, reason: NO_ANSWER, message: `${what}: ${detail}` });
      };
      const timer = setTimeout(() => noAnswer(`no answer from the API server within ${timeoutMs} ms`), timeoutMs);
      const request = https.request(options);
      request.on('error', error => noAnswer(`no answer from the API server: ${error.message}`));
      // Not upgraded: an error status (Forbidden, NotFound, BadRequest...) with a Status, as for the other requests.
      request.on('response', response => {
        readAll(response).then(text => finish(failureOf(what, response.statusCode ?? 0, text)),
          (error: Error) => noAnswer(`no answer from the API server: the answer broke off: ${error.message}`));
      });
      request.on('upgrade', (response: http.IncomingMessage, upgraded: Duplex, head: Buffer) => {
        socket = upgraded;
        // A broken connection closes the socket: 'close' tells what is missing.
        upgraded.on('error', () => undefined);
        const accept = crypto.createHash('sha1').update(`${key}${WEBSOCKET_GUID}`).digest('base64');
        const protocol = response.headers['sec-websocket-protocol'];
        let refused: string | undefined;
        if (response.headers['sec-websocket-accept'] !== accept) refused = 'a WebSocket whose Sec-WebSocket-Accept is that of the key sent';
        else if (protocol === undefined || !EXEC_PROTOCOLS.includes(protocol)) refused = `a WebSocket of ${EXEC_PROTOCOLS.join(' or ')}, got ${protocol ?? 'no protocol'}`;
        if (refused !== undefined) {
          upgraded.destroy();
          return finish(badAnswer(what, 101, refused));
        }
        const streams = new Map<number, Buffer[]>([[STDOUT_CHANNEL, []], [STDERR_CHANNEL, []], [ERROR_CHANNEL, []]]);
        // Nothing is sent once the connection is ending (after the server's close, say): it is no longer writable.
        const send = (frame: Buffer) => {
          if (upgraded.writable) upgraded.write(frame);
        };
        readMessages(upgraded, head, (opcode, payload) => {
          if (opcode === PING) {
            send(clientFrame(PONG, payload));
          } else if (opcode === CLOSE) {
            // The server's close, answered with its status code (RFC 6455 5.5.1); then the connection ends.
            send(clientFrame(CLOSE, payload.subarray(0, 2)));
            upgraded.end();
          } else if ((opcode === BINARY || opcode === TEXT) && payload.length > 0) {
            // v5's channel 255 (a stream closed) and channels a command without stdin has no use for: skipped.
            streams.get(payload[0])?.push(payload.subarray(1));
          }
        });
        upgraded.on('close', () => {
          const text = (channel: number) => Buffer.concat(streams.get(channel)!).toString('utf8');
          if (streams.get(ERROR_CHANNEL)!.length === 0) return noAnswer('the exec stream ended without the command\'s exit status');
          return finish(execOutcome(what, text(ERROR_CHANNEL), text(STDOUT_CHANNEL), text(STDERR_CHANNEL)));
        });
      });
      request.end();
    });
  }

  // ---- requests ----

  private leasePath(name?: string): string {
    const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.options.namespace)}/leases`;
    return name === undefined ? collection : `${collection}/${encodeURIComponent(name)}`;
  }

  private corePath(plural: string, name?: string): string {
    const collection = `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/${plural}`;
    return name === undefined ? collection : `${collection}/${encodeURIComponent(name)}`;
  }

  /** The token, read again when the last read is TOKEN_REREAD_MS old; the old one while the file cannot be read. */
  private bearer(): string | Failure {
    const now = performance.now();
    if (this.token && now - this.token.readAt < TOKEN_REREAD_MS) return this.token.value;
    let value: string;
    try {
      value = fs.readFileSync(this.options.tokenFile, 'utf8').trim();
    } catch (error) {
      // The kubelet swaps the file by renaming a directory: a read between two renames fails, the old token still holds.
      if (this.token) return this.token.value;
      return noToken(`cannot read the token file: ${(error as Error).message}`);
    }
    if (value === '') return this.token?.value ?? noToken(`the token file ${this.options.tokenFile} is empty`);
    this.token = { value, readAt: now };
    return value;
  }

  private requestOptions(method: string, path: string, token: string, agent: https.Agent, body?: string, contentType?: string,
    headers: http.OutgoingHttpHeaders = {}): https.RequestOptions {
    return {
      method,
      // URL keeps an IPv6 address in brackets; a socket wants it bare.
      hostname: this.url.hostname.startsWith('[') ? this.url.hostname.slice(1, -1) : this.url.hostname,
      port: this.url.port || 443,
      path,
      agent,
      headers: {
        'Authorization': `Bearer ${token}`,
        'Accept': 'application/json',
        'User-Agent': this.options.userAgent ?? DEFAULT_USER_AGENT,
        ...(body === undefined ? {} : { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) }),
        ...headers,
      },
    };
  }

  /** One request, bounded by timeoutMs: its parsed answer, or why there is none. */
  private request(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', what: string, path: string, payload?: unknown, agent = this.agent): Promise<Answer> {
    const token = this.bearer();
    if (typeof token !== 'string') return Promise.resolve({ ...token, message: `${what}: ${token.message}` });
    const body = JSON.stringify(payload) as string | undefined;
    const contentType = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    return new Promise(resolve => {
      const request = https.request(this.requestOptions(method, path, token, agent, body, contentType));
      const finish = (answer: Answer) => {
        clearTimeout(timer);
        resolve(answer);
      };
      const noAnswer = (detail: string) => {
        request.destroy();
        finish({ ok: false, status: undefined, reason: NO_ANSWER, message: `${what}: no answer from the API server${detail}` });
      };
      const timer = setTimeout(() => noAnswer(` within ${this.options.timeoutMs} ms`), this.options.timeoutMs);
      request.on('error', error => noAnswer(`: ${error.message}`));
      request.on('response', response => {
        readAll(response).then(text => {
          const status = response.statusCode ?? 0;
          if (Math.floor(status / 100) !== 2) return finish(failureOf(what, status, text));
          const parsed = parseJson(text);
          if (parsed === undefined) return finish(badAnswer(what, status, `JSON, got ${excerpt(text)}`));
          return finish({ ok: true, status, body: parsed });
        }, (error: Error) => noAnswer(`: the answer broke off: ${error.message}`));
      });
      request.end(body);
    });
  }
}

/** The parsed answer as an object (a Lease), or a bad answer. */
function asObject(what: string, answer: Answer): ApiResult<LeaseObject> {
  if (!answer.ok) return answer;
  if (typeof answer.body !== 'object' || answer.body === null || Array.isArray(answer.body)) return badAnswer(what, answer.status, 'an object');
  return { ok: true, value: answer.body as LeaseObject };
}

/** A pod as the agent needs it: its name, whether it is being deleted, whether it is Ready, its uid and labels. */
/** What the agent reads of its StatefulSet. */
export interface StatefulSetSummary {
  /** spec.replicas. */
  readonly replicas: number;
  /** status.updateRevision, undefined before the controller has written one. */
  readonly updateRevision: string | undefined;
}

export interface PodSummary {
  readonly name: string;
  /** metadata.deletionTimestamp is set: the pod is terminating (deleted, evicted, scaled away). */
  readonly terminating: boolean;
  /** status.conditions has Ready with status "True". */
  readonly ready: boolean;
  /** metadata.uid: another for a pod made anew under the same name. */
  readonly uid: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  /** status.phase (Pending, Running, Succeeded, Failed, Unknown); undefined before the kubelet reports one. */
  readonly phase: string | undefined;
  /** The containers running now (status.containerStatuses whose state.running is set): the ones an exec can reach. */
  readonly runningContainers: readonly string[];
}

function podSummary(item: unknown): PodSummary | undefined {
  type Item = {
    metadata?: { name?: unknown; uid?: unknown; deletionTimestamp?: unknown; labels?: unknown };
    status?: { conditions?: unknown; phase?: unknown; containerStatuses?: unknown };
  };
  type ContainerStatus = { name?: unknown; state?: { running?: unknown } | null } | null;
  const pod = item as Item | null;
  const metadata = pod?.metadata;
  if (typeof metadata?.name !== 'string') return undefined;
  const labels = typeof metadata.labels === 'object' && metadata.labels !== null ? metadata.labels as Record<string, unknown> : {};
  const conditions = Array.isArray(pod?.status?.conditions) ? pod!.status!.conditions as unknown[] : [];
  const containers = Array.isArray(pod?.status?.containerStatuses) ? pod!.status!.containerStatuses as ContainerStatus[] : [];
  const running = (c: ContainerStatus) => typeof c?.state?.running === 'object' && c.state.running !== null;
  return {
    name: metadata.name,
    terminating: typeof metadata.deletionTimestamp === 'string',
    ready: conditions.some(c => (c as { type?: unknown } | null)?.type === 'Ready' && (c as { status?: unknown }).status === 'True'),
    uid: typeof metadata.uid === 'string' ? metadata.uid : undefined,
    labels: Object.fromEntries(Object.entries(labels).filter((entry): entry is [string, string] => typeof entry[1] === 'string')),
    phase: typeof pod?.status?.phase === 'string' ? pod.status.phase : undefined,
    runningContainers: containers.filter(c => running(c) && typeof c?.name === 'string').map(c => c!.name as string),
  };
}

function asVoid(answer: Answer): ApiResult<void> {
  return answer.ok ? { ok: true, value: undefined } : answer;
}

function noToken(message: string): Failure {
  return { ok: false, status: undefined, reason: 'NoToken', message };
}

function badAnswer(what: string, status: number, expected: string): Failure {
  return { ok: false, status, reason: BAD_ANSWER, message: `${what}: ${status} but the answer is not ${expected}` };
}

/** An error status: the reason and message of its Status object, as kubectl prints them, or the answer's text. */
function failureOf(what: string, status: number, text: string): Failure {
  const parsed = parseJson(text) as { kind?: unknown; reason?: unknown; message?: unknown } | undefined;
  const isStatus = parsed?.kind === 'Status';
  const reason = isStatus && typeof parsed.reason === 'string' && parsed.reason !== '' ? parsed.reason : reasonOf(status);
  const message = isStatus && typeof parsed.message === 'string' ? parsed.message : excerpt(text);
  return { ok: false, status, reason, message: `${what}: ${status} ${reason}: ${message}` };
}

/** The reasons client-go gives a status that comes without a Status object (its reasonForCode). */
const REASONS = new Map<number, string>([
  [400, 'BadRequest'], [401, 'Unauthorized'], [403, 'Forbidden'], [404, 'NotFound'], [405, 'MethodNotAllowed'], [409, 'Conflict'],
  [410, 'Expired'], [422, 'Invalid'], [429, 'TooManyRequests'], [500, 'InternalError'], [503, 'ServiceUnavailable'], [504, 'Timeout'],
]);

/** A status's reason, from client-go's table, else its HTTP phrase without spaces. */
function reasonOf(status: number): string {
  return REASONS.get(status) ?? (http.STATUS_CODES[status] ?? 'Unknown').replace(/ /g, '');
}

/** JSON.parse, undefined for text that is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Text for a log line: its first 200 characters, on one line. */
function excerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line === '') return '(an empty answer)';
  return line.length > 200 ? `${line.slice(0, 200)}...` : `"${line}"`;
}

function readAll(response: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    // An answer cut short closes incomplete (IncomingMessage emits no 'error' without a listener).
    response.on('close', () => (response.complete ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error('the connection closed'))));
  });
}

/**
 * The end of an exec, from the error channel's Status (metav1.Status): "Success" → code 0; "Failure" with reason
 * NonZeroExitCode → the code in its ExitCode cause; another Failure → its code (if any), reason and message.
 */
function execOutcome(what: string, text: string, stdout: string, stderr: string): ApiResult<ExecResult> {
  type Status = { status?: unknown; code?: unknown; reason?: unknown; message?: unknown; details?: { causes?: unknown } | null } | null;
  const status = parseJson(text) as Status | undefined;
  if (status?.status === 'Success') return { ok: true, value: { code: 0, stdout, stderr } };
  if (status?.status !== 'Failure') return badAnswer(what, 101, `a Status on the error channel, got ${excerpt(text)}`);
  const causes = Array.isArray(status.details?.causes) ? status.details.causes as Array<{ reason?: unknown; message?: unknown } | null> : [];
  const exit = status.reason === 'NonZeroExitCode' ? causes.find(cause => cause?.reason === 'ExitCode')?.message : undefined;
  if (typeof exit === 'string' && /^\d+$/.test(exit)) return { ok: true, value: { code: Number(exit), stdout, stderr } };
  const code = typeof status.code === 'number' ? status.code : undefined;
  const reason = typeof status.reason === 'string' && status.reason !== '' ? status.reason : code === undefined ? 'Failure' : reasonOf(code);
  const message = typeof status.message === 'string' ? status.message : excerpt(text);
  return { ok: false, status: code, reason, message: `${what}: ${code === undefined ? '' : `${code} `}${reason}: ${message}` };
}

// ---- WebSocket (RFC 6455), as much as an exec needs ----
/* eslint-disable no-bitwise */ // frames are bit fields

/** One frame of the server: FIN, its opcode, its payload, and its size in the stream. */
interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
  readonly size: number;
}

/** The first frame in `buffer`, or how many bytes it needs to hold it whole. Server frames are unmasked; a masked one is unmasked. */
function parseFrame(buffer: Buffer): Frame | number {
  if (buffer.length < 2) return 2;
  const lengthCode = buffer[1] & 0x7f;
  const masked = (buffer[1] & 0x80) !== 0;
  // The payload's length: 7 bits, else the next 16 bits (126), else the next 64 bits (127).
  const lengthSize = lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0;
  const headerSize = 2 + lengthSize + (masked ? 4 : 0);
  if (buffer.length < headerSize) return headerSize;
  const length = lengthSize === 2 ? buffer.readUInt16BE(2) : lengthSize === 8 ? Number(buffer.readBigUInt64BE(2)) : lengthCode;
  const size = headerSize + length;
  if (buffer.length < size) return size;
  let payload = buffer.subarray(headerSize, size);
  if (masked) {
    const mask = buffer.subarray(headerSize - 4, headerSize);
    payload = Buffer.from(payload);
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
  }
  return { fin: (buffer[0] & 0x80) !== 0, opcode: buffer[0] & 0x0f, payload, size };
}

/**
 * Reads the server's frames from `socket` (`head`: what came with the handshake) and hands onMessage each message, its
 * fragments (continuation frames) joined, and each control frame (close, ping, pong: never fragmented, they may come
 * between a message's fragments). The bytes of a large frame are joined once it is whole.
 */
function readMessages(socket: Duplex, head: Buffer, onMessage: (opcode: number, payload: Buffer) => void): void {
  let chunks: Buffer[] = [];
  let buffered = 0;
  let needed = 2;
  let fragments: Buffer[] = [];
  let messageOpcode = BINARY;
  const read = (chunk: Buffer) => {
    chunks.push(chunk);
    buffered += chunk.length;
    if (buffered < needed) return;
    let buffer = Buffer.concat(chunks, buffered);
    for (let frame = parseFrame(buffer); typeof frame !== 'number'; frame = parseFrame(buffer)) {
      buffer = buffer.subarray(frame.size);
      if (frame.opcode >= CLOSE) {
        onMessage(frame.opcode, frame.payload);
        continue;
      }
      if (frame.opcode !== CONTINUATION) messageOpcode = frame.opcode;
      fragments.push(frame.payload);
      if (frame.fin) {
        const message = Buffer.concat(fragments);
        fragments = [];
        onMessage(messageOpcode, message);
      }
    }
    needed = parseFrame(buffer) as number;
    chunks = [buffer];
    buffered = buffer.length;
  };
  read(head);
  socket.on('data', read);
}

/** A frame of the client: masked with a random key, as RFC 6455 requires of every client frame; a control frame (at most 125 bytes). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const body = payload.subarray(0, 125);
  const mask = crypto.randomBytes(4);
  const frame = Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | body.length]), mask, body]);
  for (let i = 0; i < body.length; i++) frame[6 + i] ^= mask[i % 4];
  return frame;
}

/* eslint-enable no-bitwise */

/** The resourceVersion of a Lease, if it has one. */
function versionOf(lease: LeaseObject | undefined): string | undefined {
  const version = lease?.metadata?.resourceVersion;
  return typeof version === 'string' ? version : undefined;
}

/** Waits `ms`, or less if `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/**
 * Keeps the latest state of one Lease: gets it, then watches from its resourceVersion, again and again (a watch that
 * ends is restarted at once from the last resourceVersion; 'gone' or an error → get again after `retryMs`). Calls
 * onChange(lease | undefined) whenever what it knows changes (including after each successful get). Stops when `signal`
 * aborts. An absent Lease is watched from no resourceVersion: the API then sends it as ADDED if it is created meanwhile.
 */
export async function followLease(client: KubeClient, name: string, onChange: (lease: LeaseObject | undefined) => void,
  signal: AbortSignal, retryMs: number = DEFAULT_RETRY_MS): Promise<void> {
  while (!signal.aborted) {
    const got = await client.getLease(name);
    if (!got.ok) {
      await sleep(retryMs, signal);
      continue;
    }
    onChange(got.value);
    let end: WatchEnd = { kind: 'ended', resourceVersion: versionOf(got.value) ?? '' };
    while (end.kind === 'ended' && !signal.aborted) {
      end = await client.watchLease(name, end.resourceVersion, (type, lease) => onChange(type === 'DELETED' ? undefined : lease), signal);
    }
    if (!signal.aborted) await sleep(retryMs, signal);
  }
}
