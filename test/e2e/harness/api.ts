import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import { Duplex } from 'stream';
import { parseAllDocuments } from 'yaml';
import { Result } from './exec';
import { KubeObject, Manifests } from './manifests';
import {
  ApiError, FieldValidation, LEASES, mergePatch, ObjectStore, PODS, qualifiedPlural, ResourceType, SECRETS, sortKeys, STATEFULSETS, StoredObject,
  typeOfKind,
} from './objects';
import { ApiTls } from './tls';

/** A pod as the API stand-in needs it: its object, its labels (which the API owns) and the kubelet's exec. */
export interface ApiPod {
  readonly name: string;
  readonly labels: Record<string, string>;
  /** Its node cannot reach the API server (nor the API server its kubelet). */
  readonly apiCutOff: boolean;
  toObject(namespace: string): KubeObject;
  /** Runs a command in a container; `input` is its whole standard input (none: no stdin). */
  exec(container: string, command: readonly string[], timeoutMs: number, input?: Buffer): Promise<Result>;
}

/** Who presents a token: a ServiceAccount, and the pod the token was mounted in; no account is cluster-admin. */
export interface TokenIdentity {
  readonly account?: string;
  readonly pod?: string;
}

/** What the API stand-in needs from the cluster. */
export interface ApiBackend {
  readonly namespace: string;
  readonly manifests: Manifests;
  /** Every pod the API server has an object of: the StatefulSet's and the jobs'. */
  pods(): ApiPod[];
  identityOf(token: string): TokenIdentity | undefined;
  onLabelsChange(pod: ApiPod): void;
  /** The StatefulSet as the API reports it (spec, status.updateRevision), without namespace and resourceVersion; none: undefined. */
  statefulSetObject?(): KubeObject | undefined;
  /** A DELETE of one of the StatefulSet's pods: graceful (deletionTimestamp now, its containers stopped), as kubectl delete pod. */
  deletePodByRequest?(name: string): void;
}

/** How long a request from a node cut off from the API server hangs before its connection breaks (a dial that times out). */
export const UNREACHABLE_TIMEOUT_MS = 30_000;
/** How long the API server takes to find a cut-off node's kubelet unreachable, for `kubectl exec` into one of its pods. */
export const KUBELET_UNREACHABLE_MS = 2_000;
/** kube-apiserver ends a watch without timeoutSeconds after --min-request-timeout (1800 s) times a random factor in [1, 2). */
export const DEFAULT_WATCH_TIMEOUT_MS = 1_800_000;
const EXEC_TIMEOUT_MS = 120_000;
/** The Kubernetes version the stand-in reports (`/version`); the discovery and behaviour it serves are this release's. */
const SERVER_VERSION = { major: '1', minor: '33', gitVersion: 'v1.33.9-e2e-stand-in', platform: 'linux/amd64' };
/** Watch events kept to serve a watch from an older resourceVersion (etcd's compaction window, in events). */
const WATCH_HISTORY = 1000;

/** core/v1 Events: created only (POST), kept for the tests; neither listed, watched nor served by discovery. */
const EVENTS: ResourceType = { kind: 'Event', apiVersion: 'v1', group: '', plural: 'events', names: ['event', 'events', 'ev'] };
/** Events kept (the API server lets them expire after an hour). */
const EVENTS_KEPT = 1000;

/** The caller of one request: its ServiceAccount (none for cluster-admin), the pod its token is bound to, the namespace asked for. */
interface Caller {
  readonly account?: string;
  readonly pod?: string;
  readonly namespace: string;
}

/** A served resource: its type, its verbs for discovery, and the subresources it has. */
interface Served {
  readonly type: ResourceType;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly verbs: readonly string[];
  readonly subresources: ReadonlyArray<{ name: string; kind: string; verbs: readonly string[] }>;
}

const STORE_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const SERVED: readonly Served[] = [
  {
    type: PODS,
    singular: 'pod',
    shortNames: ['po'],
    verbs: ['delete', 'get', 'list', 'patch'],
    subresources: [{ name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] }],
  },
  { type: STATEFULSETS, singular: 'statefulset', shortNames: ['sts'], verbs: ['get', 'list'], subresources: [] },
  { type: SECRETS, singular: 'secret', shortNames: [], verbs: STORE_VERBS, subresources: [] },
  { type: LEASES, singular: 'lease', shortNames: [], verbs: STORE_VERBS, subresources: [] },
];

/** One change of a stored object, as a watch delivers it. */
interface WatchEvent {
  readonly revision: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly resource: ResourceType;
  readonly object: StoredObject;
}

/** An open watch: what it selects, and where its events go. */
interface OpenWatch {
  readonly caller: Caller;
  readonly resource: ResourceType;
  matches(object: StoredObject): boolean;
  send(event: WatchEvent): void;
}

/** Where a request's path leads: discovery, a collection, one object, or a subresource of one. */
interface Target {
  readonly served: Served;
  readonly namespace: string;
  readonly name?: string;
  readonly subresource?: string;
}

/** Something the stand-in does not serve: a clear error (501), so a script that starts using more fails its tests until this grows. */
class Unsupported extends Error {}

const STATUS_CODES: Record<string, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  UnsupportedMediaType: 415,
  Invalid: 422,
  InternalError: 500,
  NotImplemented: 501,
};

/**
 * Stands in for the Kubernetes API server, for the real kubectl in the library's pods and jobs and in the tests: the
 * REST API over HTTPS (a certificate from the cluster's CA, which the pods' `ca.crt` holds), authenticated by bearer
 * token (the pods' ServiceAccount tokens; the tests' own, cluster-admin), authorized with the Roles and RoleBindings
 * of the synthesized YAML. It serves discovery (aggregated, and the older per-group documents), the OpenAPI v3
 * documents kubectl reads for field validation, and:
 *   - Leases and Secrets: get, list, watch, create, update, patch (merge and strategic merge), delete, in object stores
 *     with resourceVersions from one counter, 409 Conflict on a stale resourceVersion, 409 AlreadyExists, 404;
 *     watches from a resourceVersion (410 Gone when it is older than the history kept), ended after timeoutSeconds
 *     or the server's own timeout, as kube-apiserver ends them;
 *   - pods (the harness's pods as their kubelet reports them): get, list with label and field selectors, patch of
 *     their labels, and `pods/exec` over WebSocket (`v5.channel.k8s.io`, as kubectl 1.30 and later speak it).
 *   - core/v1 Events: create only (the agent's podEvent), kept for the tests to read (`events()`).
 * A request whose token is bound to a pod whose node is cut off from the API never gets an answer (its connection
 * breaks after UNREACHABLE_TIMEOUT_MS), and its watches deliver nothing meanwhile.
 */
export class ApiStandIn {
  /** The cluster-admin token of the tests' own kubectl. */
  public readonly adminToken = `admin.${crypto.randomBytes(12).toString('hex')}`;
  private readonly servers: https.Server[] = [];
  private adminPort = 0;
  /** One counter for every write, like etcd's revision: resourceVersions grow across objects. */
  private revision = 0;
  private readonly history: WatchEvent[] = [];
  private readonly watches = new Set<OpenWatch>();
  /** Every request that reached the server (the last 1,000), as tests look at what a client sent. */
  public readonly requests: Array<{ readonly method: string; readonly path: string; readonly contentType: string; readonly body: string }> = [];
  /** How many watches each pod has opened (by the pod its token is bound to; `''` for tokens bound to none). */
  private readonly watchesOpened = new Map<string, number>();
  private readonly sockets = new Set<Duplex>();
  /** The Events created (the last EVENTS_KEPT), oldest first. */
  private readonly eventLog: StoredObject[] = [];
  /** The objects the API server stores (pods are the kubelets' instead). */
  private readonly stores = new Map<ResourceType, ObjectStore>([LEASES, SECRETS].map(type =>
    [type, new ObjectStore(type, () => ++this.revision, (_namespace, _name, object, change) => this.notify(type, object, change))]));

  /**
   * `socket`: the Unix socket the pods reach it through (the Service proxy forwards the `kubernetes` Service's
   * address to it); the tests' kubectl reaches it on 127.0.0.1 (`adminServer`).
   */
  constructor(private readonly backend: ApiBackend, public readonly socket: string, private readonly tls: ApiTls,
    private readonly watchTimeoutMs = DEFAULT_WATCH_TIMEOUT_MS) {
    // The Secrets of the manifests exist from the start, as after `kubectl apply -f dist/`.
    for (const secret of backend.manifests.all('Secret')) this.apply(secret);
  }

  /** `https://127.0.0.1:<port>`: where the tests' kubectl reaches the API. */
  public get adminServer(): string {
    return `https://127.0.0.1:${this.adminPort}`;
  }

  /** A kubeconfig for the tests' kubectl: cluster-admin, the cluster's namespace. */
  public adminKubeconfig(): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { 'server': this.adminServer, 'certificate-authority': this.tls.caFile } }],
      users: [{ name: 'admin', user: { token: this.adminToken } }],
      contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'admin', namespace: this.backend.namespace } }],
      ['current-context']: 'e2e',
    });
  }

  public async listen(): Promise<void> {
    fs.rmSync(this.socket, { force: true });
    const listen = (server: https.Server, ...args: unknown[]) => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      (server.listen as (...a: unknown[]) => void)(...args, () => resolve());
    });
    const unix = this.createServer();
    const local = this.createServer();
    await listen(unix, this.socket);
    fs.chmodSync(this.socket, 0o666);
    await listen(local, 0, '127.0.0.1');
    this.adminPort = (local.address() as net.AddressInfo).port;
  }

  public close(): void {
    for (const server of this.servers) {
      server.close();
      server.closeAllConnections();
    }
    for (const socket of this.sockets) socket.destroy();
  }

  /** How many watches the pod's kubectl has opened so far. */
  public watchCount(pod: string): number {
    return this.watchesOpened.get(pod) ?? 0;
  }

  /** The stored Lease, or undefined. */
  public lease(name: string, namespace = this.backend.namespace): StoredObject | undefined {
    return this.store(LEASES).find(namespace, name);
  }

  public allLeases(namespace = this.backend.namespace): StoredObject[] {
    return this.store(LEASES).list(namespace);
  }

  /** The stored Secret (base64 `data`), or undefined. */
  public secret(name: string, namespace = this.backend.namespace): StoredObject | undefined {
    return this.store(SECRETS).find(namespace, name);
  }

  public allSecrets(namespace = this.backend.namespace): StoredObject[] {
    return this.store(SECRETS).list(namespace);
  }

  /**
   * Sets keys of a Secret to these plain-text values (stored base64; the other keys stay), as
   * `kubectl patch secret NAME -p '{"stringData":{...}}'` does, or creates it (Opaque) if it does not exist.
   * A change takes a new resourceVersion; the same values again are no write.
   */
  public updateSecret(name: string, values: Record<string, string>, namespace = this.backend.namespace): StoredObject {
    const store = this.store(SECRETS);
    const data = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
    if (!store.find(namespace, name)) return store.create(namespace, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', data });
    return store.patch(namespace, name, { data }).object;
  }

  /** The Events created in the namespace, oldest first. */
  public events(namespace = this.backend.namespace): StoredObject[] {
    return this.eventLog.filter(e => e.metadata.namespace === namespace).map(e => JSON.parse(JSON.stringify(e)));
  }

  private createServer(): https.Server {
    const server = https.createServer({ key: this.tls.key, cert: this.tls.cert }, (request, response) => {
      void this.handle(request, response);
    });
    server.on('upgrade', (request: http.IncomingMessage, socket: Duplex) => {
      void this.upgrade(request, socket);
    });
    server.on('connection', socket => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.servers.push(server);
    return server;
  }

  /**
   * `kubectl apply` of an object of the manifests that is not there yet: created as written, with the
   * annotation kubectl apply keeps (the applied object as JSON, sorted keys, its namespace set).
   */
  private apply(object: KubeObject): void {
    const type = typeOfKind(object.apiVersion, object.kind)!;
    const namespace = object.metadata.namespace ?? this.backend.namespace;
    const applied = { ...object, metadata: { ...object.metadata, annotations: { ...(object.metadata.annotations ?? {}) }, namespace } };
    const annotation = `${JSON.stringify(sortKeys(applied))}\n`;
    this.store(type).create(namespace, {
      ...object,
      metadata: {
        ...object.metadata,
        annotations: { ...(object.metadata.annotations ?? {}), 'kubectl.kubernetes.io/last-applied-configuration': annotation },
      },
    });
  }

  private store(type: ResourceType): ObjectStore {
    const store = this.stores.get(type);
    if (!store) throw new Unsupported(`the stand-in stores no ${type.plural}`);
    return store;
  }

  // ---- requests ----

  /** Who sent the request (by its bearer token), or undefined: 401. */
  private identify(request: http.IncomingMessage): TokenIdentity | undefined {
    const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
    if (!match) return undefined;
    if (match[1] === this.adminToken) return {};
    return this.backend.identityOf(match[1]);
  }

  /** A pod whose node is cut off from the API: its requests never arrive. */
  private cutOff(identity: TokenIdentity): boolean {
    return !!identity.pod && !!this.backend.pods().find(p => p.name === identity.pod)?.apiCutOff;
  }

  /** The request is lost on the way: no answer, and the connection breaks later, as a dial that times out. */
  private lose(socket: Duplex): void {
    const timer = setTimeout(() => socket.destroy(), UNREACHABLE_TIMEOUT_MS);
    socket.once('close', () => clearTimeout(timer));
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const body = await readBody(request);
    this.requests.push({ method: request.method ?? '', path: request.url ?? '', contentType: request.headers['content-type'] ?? '', body });
    if (this.requests.length > 1000) this.requests.shift();
    const identity = this.identify(request);
    if (identity && this.cutOff(identity)) {
      this.lose(request.socket);
      return;
    }
    try {
      if (!identity) throw new ApiError('Unauthorized', 'Unauthorized');
      const url = new URL(request.url ?? '/', 'https://api');
      const discovery = this.discovery(url.pathname, request.headers.accept ?? '');
      if (discovery) {
        sendJson(response, 200, discovery.body, discovery.contentType);
        return;
      }
      const events = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(url.pathname);
      if (events && request.method === 'POST') {
        sendJson(response, 201, this.createEvent({ ...identity, namespace: events[1] }, body));
        return;
      }
      const target = this.route(url.pathname, identity);
      const caller: Caller = { ...identity, namespace: target.namespace };
      const method = request.method ?? 'GET';
      if (target.subresource === 'exec') throw new ApiError('BadRequest', 'Upgrade request required');
      if (target.subresource) throw new ApiError('NotFound', `the server could not find the requested resource (${method} ${target.served.type.plural}/${target.subresource})`);
      if (method === 'GET' && !target.name && isTrue(url.searchParams.get('watch'))) {
        this.watch(caller, target, url.searchParams, response);
        return;
      }
      const answer = this.serve(caller, target, method, url.searchParams, body, request.headers['content-type'] ?? '');
      if (answer.warnings?.length) response.setHeader('Warning', answer.warnings.map(w => `299 - ${JSON.stringify(w)}`));
      // kubectl's default output asks for a Table (server-side printing), as for `kubectl get secrets`.
      const table = method === 'GET' && /as=Table;v=v1;g=meta\.k8s\.io/.test(request.headers.accept ?? '');
      sendJson(response, answer.code, table ? asTable(target.served.type, answer.body as StoredObject) : answer.body,
        table ? 'application/json;as=Table;v=v1;g=meta.k8s.io' : undefined);
    } catch (error) {
      sendStatus(response, error);
    }
  }

  /** The discovery documents kubectl reads before any request; undefined for any other path. */
  private discovery(pathname: string, accept: string): { body: unknown; contentType?: string } | undefined {
    const groups = [...new Set(SERVED.map(s => s.type.group))];
    const versionOf = (group: string) => SERVED.find(s => s.type.group === group)!.type.apiVersion.split('/').pop()!;
    const resources = (group: string) => SERVED.filter(s => s.type.group === group);
    const aggregated = /g=apidiscovery\.k8s\.io;v=v2(?!beta)[^,]*as=APIGroupDiscoveryList/.test(accept);
    if (pathname === '/version') return { body: { ...SERVER_VERSION, goVersion: 'go1.23', compiler: 'gc' } };
    if ((pathname === '/api' || pathname === '/apis') && aggregated) {
      const items = groups.filter(g => (pathname === '/api') === (g === '')).map(group => ({
        metadata: { name: group, creationTimestamp: null },
        versions: [{
          version: versionOf(group),
          freshness: 'Current',
          resources: resources(group).map(s => ({
            resource: s.type.plural,
            responseKind: { group, version: versionOf(group), kind: s.type.kind },
            scope: 'Namespaced',
            singularResource: s.singular,
            verbs: s.verbs,
            ...(s.shortNames.length ? { shortNames: s.shortNames } : {}),
            ...(s.subresources.length ? {
              subresources: s.subresources.map(sub => ({
                subresource: sub.name, responseKind: { group, version: versionOf(group), kind: sub.kind }, verbs: sub.verbs,
              })),
            } : {}),
          })),
        }],
      }));
      return {
        body: { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items },
        contentType: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
      };
    }
    if (pathname === '/api') return { body: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '10.96.0.1:443' }] } };
    const group = (name: string) => ({
      name,
      versions: [{ groupVersion: `${name}/${versionOf(name)}`, version: versionOf(name) }],
      preferredVersion: { groupVersion: `${name}/${versionOf(name)}`, version: versionOf(name) },
    });
    if (pathname === '/apis') return { body: { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.filter(g => g).map(group) } };
    for (const g of groups) {
      const prefix = g ? `/apis/${g}` : '/api';
      if (g && pathname === prefix) return { body: { kind: 'APIGroup', apiVersion: 'v1', ...group(g) } };
      if (pathname === `${prefix}/${versionOf(g)}`) {
        return {
          body: {
            kind: 'APIResourceList',
            apiVersion: 'v1',
            groupVersion: g ? `${g}/${versionOf(g)}` : 'v1',
            resources: resources(g).flatMap(s => [
              {
                name: s.type.plural,
                singularName: s.singular,
                namespaced: true,
                kind: s.type.kind,
                verbs: s.verbs,
                ...(s.shortNames.length ? { shortNames: s.shortNames } : {}),
              },
              ...s.subresources.map(sub => ({ name: `${s.type.plural}/${sub.name}`, singularName: '', namespaced: true, kind: sub.kind, verbs: sub.verbs })),
            ]),
          },
        };
      }
    }
    const openapi = this.openapi(pathname);
    if (openapi) return { body: openapi };
    return undefined;
  }

  /**
   * The OpenAPI v3 documents, as far as kubectl reads them: the index of group versions, and per group version the
   * paths whose operations take `fieldValidation` (kubectl then asks the server to validate fields, `--validate=strict`).
   */
  private openapi(pathname: string): unknown {
    const groupVersions = [...new Set(SERVED.map(s => s.type.apiVersion))];
    const pathOf = (apiVersion: string) => (apiVersion.includes('/') ? `apis/${apiVersion}` : `api/${apiVersion}`);
    if (pathname === '/openapi/v3') {
      return { paths: Object.fromEntries(groupVersions.map(v => [pathOf(v), { serverRelativeURL: `/openapi/v3/${pathOf(v)}?hash=e2e` }])) };
    }
    const apiVersion = groupVersions.find(v => pathname === `/openapi/v3/${pathOf(v)}`);
    if (!apiVersion) return undefined;
    const paths: Record<string, unknown> = {};
    for (const s of SERVED.filter(x => x.type.apiVersion === apiVersion)) {
      const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
      const gvk = { 'x-kubernetes-group-version-kind': { group, version, kind: s.type.kind } };
      const fieldValidation = { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } };
      const operation = (action: string) => ({ 'x-kubernetes-action': action, ...gvk, 'parameters': [fieldValidation], 'responses': {} });
      const base = `/${pathOf(apiVersion)}/namespaces/{namespace}/${s.type.plural}`;
      paths[base] = { post: operation('post') };
      paths[`${base}/{name}`] = { put: operation('put'), patch: operation('patch') };
    }
    return { openapi: '3.0.0', info: { title: 'Kubernetes (e2e stand-in)', version: SERVER_VERSION.gitVersion }, paths, components: { schemas: {} } };
  }

  /** `/api/v1/namespaces/NS/pods[/NAME[/SUB]]`, `/apis/coordination.k8s.io/v1/namespaces/NS/leases[/NAME]`. */
  private route(pathname: string, identity: TokenIdentity): Target {
    const match = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(pathname);
    const all = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)\/([^/]+)$/.exec(pathname);
    if (!match) {
      if (all && SERVED.some(s => s.type.plural === all[1])) {
        // Across namespaces: RBAC in a namespace never allows it.
        if (identity.account !== undefined) {
          throw new ApiError('Forbidden', `${all[1]} is forbidden: User "system:serviceaccount:${this.backend.namespace}:${identity.account}" `
            + `cannot list resource "${all[1]}" in API group "" at the cluster scope`);
        }
        throw new Unsupported(`lists across namespaces are not served (${pathname})`);
      }
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    const [, coreVersion, group = '', groupVersion, namespace, plural, name, subresource] = match;
    const apiVersion = coreVersion ?? `${group}/${groupVersion}`;
    const served = SERVED.find(s => s.type.plural === plural && s.type.apiVersion === apiVersion);
    if (!served) throw new ApiError('NotFound', 'the server could not find the requested resource');
    return { served, namespace, name, subresource };
  }

  /** A request on a collection or an object: the answer's code and body, and warnings (unknown fields dropped). */
  private serve(caller: Caller, target: Target, method: string, query: URLSearchParams, body: string, contentType: string)
    : { code: number; body: unknown; warnings?: string[] } {
    const type = target.served.type;
    const name = target.name;
    const validation = (query.get('fieldValidation') ?? 'Warn') as FieldValidation;
    if (!['Strict', 'Warn', 'Ignore'].includes(validation)) throw new ApiError('BadRequest', `fieldValidation "${validation}" is not one of Strict, Warn, Ignore`);
    if (method === 'GET' && !name) {
      this.authorize(caller, 'list', type, nameOfFieldSelector(query));
      const items = this.list(caller.namespace, type)
        .filter(labelSelector(query.get('labelSelector') ?? ''))
        .filter(fieldSelector(query.get('fieldSelector') ?? '', type));
      return { code: 200, body: { kind: `${type.kind}List`, apiVersion: type.apiVersion, metadata: { resourceVersion: String(this.revision) }, items } };
    }
    if (method === 'GET') {
      this.authorize(caller, 'get', type, name);
      const found = this.find(caller.namespace, type, name!);
      if (!found) throw new ApiError('NotFound', `${qualifiedPlural(type)} "${name}" not found`);
      return { code: 200, body: found };
    }
    if (method === 'POST' && !name) {
      this.authorize(caller, 'create', type);
      const object = parseJson(body) as StoredObject;
      if (object?.metadata?.namespace && object.metadata.namespace !== caller.namespace) {
        throw new ApiError('BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      const warnings: string[] = [];
      const created = this.store(type).create(caller.namespace, object, validation, warnings);
      return { code: 201, body: created, warnings };
    }
    if (!name) throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource (${method} ${type.plural})`);
    if (method === 'PUT') {
      this.authorize(caller, 'update', type, name);
      const warnings: string[] = [];
      const { object } = this.store(type).update(caller.namespace, name, parseJson(body) as StoredObject, validation, warnings);
      return { code: 200, body: object, warnings };
    }
    if (method === 'PATCH') {
      this.authorize(caller, 'patch', type, name);
      const kind = contentType.split(';')[0].trim();
      if (kind !== 'application/merge-patch+json' && kind !== 'application/strategic-merge-patch+json') {
        throw new ApiError('UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: '
          + `application/merge-patch+json, application/strategic-merge-patch+json (the stand-in does not serve ${kind})`);
      }
      // Leases, Secrets and pod labels have no lists with merge keys: a strategic merge patch of them is a JSON merge patch.
      const patch = parseJson(body);
      if (type === PODS) return { code: 200, body: this.patchPod(caller, name, patch) };
      const warnings: string[] = [];
      const { object } = this.store(type).patch(caller.namespace, name, patch, validation, warnings);
      return { code: 200, body: object, warnings };
    }
    if (method === 'DELETE' && type === PODS) {
      this.authorize(caller, 'delete', type, name);
      return { code: 200, body: this.deletePod(caller, name, body) };
    }
    if (method === 'DELETE') {
      this.authorize(caller, 'delete', type, name);
      const deleted = this.store(type).delete(caller.namespace, name);
      return { code: 200, body: deleted };
    }
    throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource (${method})`);
  }

  /**
   * `POST /api/v1/namespaces/NS/events`: a core/v1 Event, as client-go's recorder and the agent create one; its name
   * from metadata.name or generateName, its involvedObject in the request's namespace, a resourceVersion from the one counter.
   */
  private createEvent(caller: Caller, body: string): StoredObject {
    this.authorize(caller, 'create', EVENTS);
    const event = parseJson(body) as StoredObject;
    if (typeof event !== 'object' || event === null || Array.isArray(event) || event.apiVersion !== 'v1' || event.kind !== 'Event') {
      throw new ApiError('BadRequest', 'Event in version "v1" cannot be handled as a Event: the object is not a v1 Event');
    }
    const metadata = event.metadata ?? {};
    if (metadata.namespace && metadata.namespace !== caller.namespace) {
      throw new ApiError('BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    }
    const name: string = metadata.name || (metadata.generateName ? `${metadata.generateName}${crypto.randomBytes(8).toString('hex')}` : '');
    if (!name) throw new ApiError('Invalid', 'Event "" is invalid: metadata.name: Required value: name or generateName is required');
    const involved = event.involvedObject ?? {};
    if (involved.namespace !== undefined && involved.namespace !== caller.namespace) {
      throw new ApiError('Invalid', `Event "${name}" is invalid: involvedObject.namespace: Invalid value: "${involved.namespace}": does not match event.namespace`);
    }
    if (this.eventLog.some(e => e.metadata.namespace === caller.namespace && e.metadata.name === name)) {
      throw new ApiError('AlreadyExists', `events "${name}" already exists`);
    }
    const stored: StoredObject = {
      ...event,
      metadata: {
        ...metadata,
        name,
        namespace: caller.namespace,
        uid: crypto.randomUUID(),
        resourceVersion: String(++this.revision),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    };
    this.eventLog.push(stored);
    if (this.eventLog.length > EVENTS_KEPT) this.eventLog.shift();
    return stored;
  }

  /**
   * A pod deleted gracefully: the answer is the pod with its deletionTimestamp, at once (its containers stop after). A
   * DeleteOptions body may carry a uid precondition: another pod under the name → 409 Conflict. Only the StatefulSet's pods.
   */
  private deletePod(caller: Caller, name: string, body: string): StoredObject {
    const pod = this.podNamed(caller, name);
    const options = body.trim() === '' ? {} : parseJson(body) as StoredObject;
    const uid = options?.preconditions?.uid;
    const before = pod.toObject(caller.namespace);
    if (uid !== undefined && uid !== before.metadata.uid) {
      throw new ApiError('Conflict', `Operation cannot be fulfilled on Pod "${name}": Precondition failed: UID in precondition: ${uid}, `
        + `UID in object meta: ${before.metadata.uid}`);
    }
    if (!this.backend.deletePodByRequest) throw new Unsupported('pods are not deleted through this stand-in');
    if (before.metadata.deletionTimestamp === undefined) this.backend.deletePodByRequest(name);
    return pod.toObject(caller.namespace);
  }

  /** A merge patch of a pod: its labels (and annotations) may change, nothing else. */
  private patchPod(caller: Caller, name: string, patch: unknown): StoredObject {
    const pod = this.podNamed(caller, name);
    const before = pod.toObject(caller.namespace);
    const after = mergePatch(before, patch) as StoredObject;
    const precondition = after.metadata?.resourceVersion;
    if (precondition && precondition !== before.metadata.resourceVersion) {
      throw new ApiError('Conflict', `Operation cannot be fulfilled on pods "${name}": the object has been modified; `
        + 'please apply your changes to the latest version and try again');
    }
    const { labels: newLabels = {}, annotations: _a, resourceVersion: _r, ...otherMetadata } = after.metadata ?? {};
    const { labels: _l, annotations: _b, resourceVersion: _s, ...sameMetadata } = before.metadata;
    if (JSON.stringify(sortKeys({ ...after, metadata: otherMetadata })) !== JSON.stringify(sortKeys({ ...before, metadata: sameMetadata }))) {
      throw new ApiError('Invalid', `Pod "${name}" is invalid: spec: Forbidden: pod updates may not change fields other than labels `
        + 'and annotations here (the e2e stand-in serves label changes only)');
    }
    for (const [key, value] of Object.entries(newLabels)) {
      if (typeof value !== 'string') throw new ApiError('BadRequest', `unable to decode the patch: label ${key} is not a string`);
    }
    if (JSON.stringify(sortKeys(newLabels)) !== JSON.stringify(sortKeys(pod.labels))) {
      for (const key of Object.keys(pod.labels)) delete pod.labels[key];
      Object.assign(pod.labels, newLabels);
      this.backend.onLabelsChange(pod);
    }
    return pod.toObject(caller.namespace);
  }

  /**
   * A watch of a collection (kubectl's `get NAME --watch` asks for `fieldSelector=metadata.name=NAME`): the events after
   * `resourceVersion` (every object as ADDED when none is given), then each change as it happens, as chunked JSON lines,
   * until `timeoutSeconds` (or the server's own timeout) ends it. Pods are not watched here.
   */
  private watch(caller: Caller, target: Target, query: URLSearchParams, response: http.ServerResponse): void {
    const type = target.served.type;
    if (!this.stores.has(type)) throw new Unsupported(`watches of ${type.plural} are not served by the stand-in`);
    this.authorize(caller, 'watch', type, nameOfFieldSelector(query));
    const labels = labelSelector(query.get('labelSelector') ?? '');
    const fields = fieldSelector(query.get('fieldSelector') ?? '', type);
    const matches = (object: StoredObject) => object.metadata.namespace === caller.namespace && labels(object) && fields(object);
    const from = query.get('resourceVersion') ?? '';
    let backlog: WatchEvent[];
    if (from === '' || from === '0') {
      backlog = this.store(type).list(caller.namespace).filter(matches)
        .map(object => ({ revision: Number(object.metadata.resourceVersion), type: 'ADDED', resource: type, object }));
    } else {
      const revision = Number(from);
      if (!Number.isInteger(revision) || revision < 0) throw new ApiError('BadRequest', `invalid resource version "${from}"`);
      const oldest = this.history.length > 0 ? this.history[0].revision : this.revision + 1;
      if (revision < oldest - 1 && revision < this.revision) throw new ApiError('Gone', `too old resource version: ${revision} (${oldest - 1})`);
      backlog = this.history.filter(e => e.resource === type && e.revision > revision && matches(e.object));
    }
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    response.flushHeaders();
    const open: OpenWatch = {
      caller,
      resource: type,
      matches,
      send: event => {
        // A pod cut off from the API hears nothing meanwhile.
        if (this.cutOff(caller)) return;
        response.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
      },
    };
    for (const event of backlog) open.send(event);
    this.watches.add(open);
    this.watchesOpened.set(caller.pod ?? '', this.watchCount(caller.pod ?? '') + 1);
    // The client's timeoutSeconds, or the server's own limit when that comes first: a server may end any watch earlier
    // (kube-apiserver restarts, is upgraded, or sheds load), and clients must watch again.
    const seconds = Number(query.get('timeoutSeconds') ?? '');
    const timer = setTimeout(() => end(), Math.min(seconds > 0 ? seconds * 1000 : Infinity, this.watchTimeoutMs));
    const end = () => {
      clearTimeout(timer);
      if (!this.watches.delete(open)) return;
      response.end();
    };
    response.on('close', end);
  }

  private notify(type: ResourceType, object: StoredObject, change: 'ADDED' | 'MODIFIED' | 'DELETED'): void {
    const event: WatchEvent = { revision: Number(object.metadata.resourceVersion), type: change, resource: type, object };
    this.history.push(event);
    if (this.history.length > WATCH_HISTORY) this.history.shift();
    for (const watch of this.watches) {
      if (watch.resource === type && watch.matches(object)) watch.send(event);
    }
  }

  // ---- exec ----

  /** `pods/exec` over WebSocket (kubectl exec): the command's output on channels 1 and 2, its end as a Status on channel 3. */
  private async upgrade(request: http.IncomingMessage, socket: Duplex): Promise<void> {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const identity = this.identify(request);
    if (identity && this.cutOff(identity)) {
      this.lose(socket);
      return;
    }
    const refuse = (error: unknown) => {
      const status = statusOf(error);
      const text = JSON.stringify(status);
      socket.end(`HTTP/1.1 ${status.code} ${http.STATUS_CODES[status.code]}\r\ncontent-type: application/json\r\n`
        + `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
    };
    try {
      if (!identity) throw new ApiError('Unauthorized', 'Unauthorized');
      const url = new URL(request.url ?? '/', 'https://api');
      const target = this.route(url.pathname, identity);
      if (target.served.type !== PODS || target.subresource !== 'exec' || !target.name) {
        throw new ApiError('BadRequest', `the stand-in upgrades pods/exec only (${url.pathname})`);
      }
      const caller: Caller = { ...identity, namespace: target.namespace };
      // A WebSocket exec is a GET, authorized as create on pods/exec (AuthorizePodWebsocketUpgradeCreatePermission).
      this.authorize(caller, 'create', PODS, target.name, 'exec');
      const pod = this.podNamed(caller, target.name);
      const object = pod.toObject(caller.namespace);
      const command = url.searchParams.getAll('command');
      const container = url.searchParams.get('container') ?? object.spec.containers[0].name;
      if (command.length === 0) throw new ApiError('BadRequest', 'you must specify at least 1 command');
      if (object.status.phase === 'Succeeded' || object.status.phase === 'Failed') {
        throw new ApiError('BadRequest', `cannot exec into a container in a completed pod; current phase is ${object.status.phase}`);
      }
      if (pod.apiCutOff) {
        await new Promise(resolve => setTimeout(resolve, KUBELET_UNREACHABLE_MS));
        throw new ApiError('InternalError', `error dialing backend: dial tcp ${object.status.hostIP}:10250: i/o timeout`);
      }
      // Checked last, as kube-apiserver would answer an SPDY request it serves: kubectl falls back to SPDY when the
      // WebSocket upgrade fails, and must then see the same error (Forbidden, NotFound...) as for the WebSocket.
      if ((request.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
        throw new Unsupported(`exec over ${request.headers.upgrade} is not served: the stand-in speaks WebSocket (v5.channel.k8s.io, kubectl 1.30 and later)`);
      }
      const protocols = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map(p => p.trim());
      if (!protocols.includes('v5.channel.k8s.io')) {
        throw new ApiError('BadRequest', `unable to upgrade: no protocol the stand-in speaks among ${protocols.join(', ')} (it speaks v5.channel.k8s.io)`);
      }
      const accept = crypto.createHash('sha1').update(`${request.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
        + `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n`);
      // `kubectl exec -i`: its standard input on channel 0, until v5's CLOSE signal for it (channel 255, stream 0) at its
      // end. The stand-in hands the command all of it at once, once it has ended (a kubelet streams it as it comes):
      // enough for a command that reads its input to the end, not for an interactive one.
      const wantsStdin = url.searchParams.get('stdin') === 'true';
      const input: Buffer[] = [];
      let stdinClosed: () => void = () => undefined;
      const stdinEnded = new Promise<void>(resolve => { stdinClosed = resolve; });
      new WebSocketReader(socket, frame => {
        if (frame.opcode === 0x8) {
          stdinClosed();
          socket.end(wsFrame(0x8, Buffer.from([0x03, 0xe8])));
        } else if (frame.opcode === 0x9) {
          socket.write(wsFrame(0xa, frame.payload));
        } else if (frame.opcode === 0x2 && frame.payload[0] === 0) {
          input.push(frame.payload.subarray(1));
        } else if (frame.opcode === 0x2 && frame.payload[0] === 255 && frame.payload[1] === 0) {
          stdinClosed();
        }
      });
      if (wantsStdin) await stdinEnded;
      const result = await pod.exec(container, command, EXEC_TIMEOUT_MS, wantsStdin ? Buffer.concat(input) : undefined);
      const channel = (n: number, data: string | Buffer) => socket.write(wsFrame(0x2, Buffer.concat([Buffer.from([n]), Buffer.from(data)])));
      if (result.stdout) channel(1, result.stdout);
      if (result.stderr) channel(2, result.stderr);
      channel(3, JSON.stringify(result.code === 0 ? { metadata: {}, status: 'Success' } : {
        metadata: {},
        status: 'Failure',
        message: `command terminated with non-zero exit code: exit status ${result.code}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(result.code) }] },
      }));
      socket.end(wsFrame(0x8, Buffer.from([0x03, 0xe8])));
    } catch (error) {
      refuse(error);
    }
  }

  // ---- objects ----

  private list(namespace: string, type: ResourceType): StoredObject[] {
    const store = this.stores.get(type);
    if (store) return store.list(namespace);
    if (namespace !== this.backend.namespace) return [];
    if (type === STATEFULSETS) return this.statefulSets(namespace);
    return this.backend.pods().map(p => p.toObject(namespace)).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  private find(namespace: string, type: ResourceType, name: string): StoredObject | undefined {
    const store = this.stores.get(type);
    if (store) return store.find(namespace, name);
    if (namespace !== this.backend.namespace) return undefined;
    if (type === STATEFULSETS) return this.statefulSets(namespace).find(set => set.metadata.name === name);
    return this.backend.pods().find(p => p.name === name)?.toObject(namespace);
  }

  /** The StatefulSet now, with the one resourceVersion counter's value (it changes with its pods, as the controller writes its status). */
  private statefulSets(namespace: string): StoredObject[] {
    const object = this.backend.statefulSetObject?.();
    return object === undefined ? [] : [{ ...object, metadata: { ...object.metadata, namespace, resourceVersion: String(this.revision) } }];
  }

  private podNamed(caller: Caller, name: string): ApiPod {
    const pod = caller.namespace === this.backend.namespace ? this.backend.pods().find(p => p.name === name) : undefined;
    if (!pod) throw new ApiError('NotFound', `pods "${name}" not found`);
    return pod;
  }

  /**
   * RBAC: some Role bound to the account, in the request's namespace, allows the verb on the
   * resource (API group, resource or resource/subresource, name). A rule with resourceNames matches
   * only requests that name an object (a list or watch names one by `fieldSelector=metadata.name=`): never a
   * create (the new object has no name yet).
   */
  private authorize(caller: Caller, verb: string, type: ResourceType, name?: string, subresource?: string): void {
    if (caller.account === undefined) return;
    const resource = subresource ? `${type.plural}/${subresource}` : type.plural;
    const account = caller.account;
    const inNamespace = caller.namespace === this.backend.namespace;
    const roles = inNamespace ? this.backend.manifests.all('RoleBinding')
      .filter(b => (b.subjects ?? []).some((s: any) => s.kind === 'ServiceAccount' && s.name === account
        && (s.namespace ?? this.backend.namespace) === this.backend.namespace))
      .map(b => this.backend.manifests.get(b.roleRef.kind, b.roleRef.name)) : [];
    const has = (list: string[] | undefined, value: string) => (list ?? []).includes(value) || (list ?? []).includes('*');
    const allowed = roles.some(role => (role.rules ?? []).some((rule: any) =>
      has(rule.apiGroups, type.group) && has(rule.resources, resource) && has(rule.verbs, verb)
      && (!rule.resourceNames?.length || (!!name && rule.resourceNames.includes(name)))));
    if (!allowed) {
      throw new ApiError('Forbidden', `${qualifiedPlural(type)}${name ? ` "${name}"` : ''} is forbidden: User `
        + `"system:serviceaccount:${caller.namespace}:${account}" cannot ${verb} resource "${resource}" in API group "${type.group}" `
        + `in the namespace "${caller.namespace}"`);
    }
  }
}

// ---- tables ----

/** How old an object is, as kubectl prints an age: `42s`, `5m`, `3h`. */
function age(object: StoredObject): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(object.metadata.creationTimestamp)) / 1000));
  return seconds < 120 ? `${seconds}s` : seconds < 7200 ? `${Math.floor(seconds / 60)}m` : `${Math.floor(seconds / 3600)}h`;
}

/** The columns kube-apiserver prints for each type (its table convertors), as a meta.k8s.io/v1 Table. */
function asTable(type: ResourceType, answer: StoredObject): StoredObject {
  const objects: StoredObject[] = answer.items ?? [answer];
  let columns: string[];
  let cells: (o: StoredObject) => Array<string | number>;
  if (type === LEASES) {
    columns = ['Name', 'Holder', 'Age'];
    cells = o => [o.metadata.name, o.spec?.holderIdentity ?? '', age(o)];
  } else if (type === SECRETS) {
    columns = ['Name', 'Type', 'Data', 'Age'];
    cells = o => [o.metadata.name, o.type ?? '', Object.keys(o.data ?? {}).length, age(o)];
  } else {
    columns = ['Name', 'Ready', 'Status', 'Restarts', 'Age'];
    cells = o => {
      const statuses: any[] = o.status?.containerStatuses ?? [];
      const waiting = statuses.find(c => c.state?.waiting)?.state.waiting.reason;
      const status = o.status?.phase === 'Succeeded' ? 'Completed' : o.status?.phase === 'Failed' ? 'Error' : waiting ?? o.status?.phase;
      return [o.metadata.name, `${statuses.filter(c => c.ready).length}/${statuses.length}`, status, statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0),
        o.metadata.creationTimestamp ? age(o) : '<unknown>'];
    };
  }
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: answer.metadata?.resourceVersion ?? '' },
    columnDefinitions: columns.map((name, i) => ({
      name, type: name === 'Data' || name === 'Restarts' ? 'integer' : 'string', format: i === 0 ? 'name' : '', description: '', priority: 0,
    })),
    rows: objects.map(o => ({
      cells: cells(o),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}

// ---- HTTP ----

function readBody(request: http.IncomingMessage): Promise<string> {
  return new Promise(resolve => {
    const chunks: Buffer[] = [];
    request.on('data', chunk => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', () => resolve(''));
  });
}

function sendJson(response: http.ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  response.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache, private' });
  response.end(text);
}

/** A Status (kind Status) for an error, as the API server writes it. */
function statusOf(error: unknown): { code: number; [field: string]: unknown } {
  const reason = error instanceof ApiError ? error.reason : error instanceof Unsupported ? 'NotImplemented' : 'InternalError';
  const message = error instanceof Unsupported ? `e2e API stand-in: ${error.message}` : (error as Error).message;
  const code = STATUS_CODES[reason] ?? 500;
  // `Lease "x" is invalid: spec.field: detail`: kubectl prints an Invalid error from its details (kind, name, causes).
  const invalid = reason === 'Invalid' ? /^(\w+) "([^"]*)" is invalid: ([^:]+): (.*)$/s.exec(message) : null;
  if (invalid) {
    const [, kind, name, field, detail] = invalid;
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      code,
      details: { name, kind, causes: [{ reason: 'FieldValueInvalid', message: detail, field }] },
    };
  }
  const name = /"([^"]+)"/.exec(message)?.[1];
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(name ? { details: { name } } : {}), code };
}

function sendStatus(response: http.ServerResponse, error: unknown): void {
  const status = statusOf(error);
  sendJson(response, status.code, status);
}

function parseJson(body: string): unknown {
  try {
    // kubectl sends JSON; YAML is JSON's superset, as the API server's decoder accepts it.
    return parseAllDocuments(body)[0]?.toJS() ?? null;
  } catch (error) {
    throw new ApiError('BadRequest', `the request body could not be decoded: ${(error as Error).message}`);
  }
}

function isTrue(value: string | null): boolean {
  return value === 'true' || value === '1';
}

/** `fieldSelector=metadata.name=NAME` names the one object of a list or watch, as the API server's RBAC sees it. */
function nameOfFieldSelector(query: URLSearchParams): string | undefined {
  const match = /^metadata\.name==?([^,]+)$/.exec(query.get('fieldSelector') ?? '');
  return match?.[1];
}

// ---- WebSocket (RFC 6455), as much as kubectl's exec needs ----
/* eslint-disable no-bitwise */ // frames are bit fields

/** A server's frame: FIN, the opcode, an unmasked payload. */
function wsFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const header = length < 126 ? Buffer.from([0x80 | opcode, length])
    : length < 65536 ? Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff])
      : Buffer.concat([Buffer.from([0x80 | opcode, 127]), (() => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(BigInt(length));
        return b;
      })()]);
  return Buffer.concat([header, payload]);
}

/** Reads the client's (masked) frames and hands each to `onFrame`. */
class WebSocketReader {
  private buffer = Buffer.alloc(0);

  constructor(socket: Duplex, private readonly onFrame: (frame: { opcode: number; payload: Buffer }) => void) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.drain();
    });
  }

  private drain(): void {
    for (;;) {
      if (this.buffer.length < 2) return;
      const opcode = this.buffer[0] & 0x0f;
      const masked = (this.buffer[1] & 0x80) !== 0;
      let length = this.buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const maskLength = masked ? 4 : 0;
      if (this.buffer.length < offset + maskLength + length) return;
      const mask = this.buffer.subarray(offset, offset + maskLength);
      const payload = Buffer.from(this.buffer.subarray(offset + maskLength, offset + maskLength + length));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
      this.buffer = this.buffer.subarray(offset + maskLength + length);
      this.onFrame({ opcode, payload });
    }
  }
}

/* eslint-enable no-bitwise */

// ---- selectors ----

/** A label selector: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated. */
export function labelSelector(selector: string): (object: StoredObject) => boolean {
  const terms = selector.match(/([^,(]+(\([^)]*\))?)/g)?.map(t => t.trim()).filter(Boolean) ?? [];
  const tests = terms.map(term => {
    let m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(term);
    if (m) {
      const [, key, op, value] = m;
      return (labels: Record<string, string>) => (op === '!=' ? labels[key] !== value : labels[key] === value);
    }
    m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) {
      const [, key, op, list] = m;
      const values = list.split(',').map(v => v.trim());
      return (labels: Record<string, string>) => (op === 'in' ? key in labels && values.includes(labels[key]) : !(key in labels) || !values.includes(labels[key]));
    }
    m = /^(!?)([\w./-]+)$/.exec(term);
    if (m) {
      const [, not, key] = m;
      return (labels: Record<string, string>) => (not ? !(key in labels) : key in labels);
    }
    throw new ApiError('BadRequest', `unable to parse requirement: ${term}`);
  });
  return object => tests.every(t => t(object.metadata.labels ?? {}));
}

const FIELDS: Record<string, (o: StoredObject) => string | undefined> = {
  'metadata.name': o => o.metadata.name,
  'metadata.namespace': o => o.metadata.namespace,
  'status.phase': o => o.status?.phase,
  'status.podIP': o => o.status?.podIP,
  'spec.restartPolicy': o => o.spec?.restartPolicy ?? 'Always',
  'spec.serviceAccountName': o => o.spec?.serviceAccountName,
};

/** A field selector: `field=value`, `field==value`, `field!=value`, comma-separated, on the fields the API server indexes. */
export function fieldSelector(selector: string, type: ResourceType): (object: StoredObject) => boolean {
  const tests = selector.split(',').filter(Boolean).map(term => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term.trim());
    const supported = type === PODS ? Object.keys(FIELDS) : ['metadata.name', 'metadata.namespace'];
    if (!m || !supported.includes(m[1])) {
      throw new ApiError('BadRequest', `Unable to find "${type.group ? `${type.group}/` : '/'}${type.apiVersion.split('/').pop()}, Resource=${type.plural}" `
        + `that match label selector "", field selector "${selector}": field label not supported: ${m ? m[1] : term}`);
    }
    const [, field, op, value] = m;
    return (o: StoredObject) => ((FIELDS[field](o) ?? '') === value) === (op !== '!=');
  });
  return object => tests.every(t => t(object));
}
