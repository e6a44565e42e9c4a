import * as fs from 'fs';
import * as http from 'http';
import { parseAllDocuments, stringify } from 'yaml';
import { Result, sleep } from './exec';
import { jsonpath } from './jsonpath';
import { KubeObject, Manifests } from './manifests';
import {
  ApiError, LEASES, ObjectStore, PODS, qualifiedPlural, qualifiedSingular, ResourceType, resourceType, SECRETS, sortKeys, StoredObject, typeOfKind,
} from './objects';

/** A pod as the API stand-in needs it: its object, its labels (which the API owns) and the kubelet's exec. */
export interface ApiPod {
  readonly name: string;
  readonly labels: Record<string, string>;
  /** Its node cannot reach the API server (nor the API server its kubelet). */
  readonly apiCutOff: boolean;
  toObject(namespace: string): KubeObject;
  exec(container: string, command: readonly string[], timeoutMs: number): Promise<Result>;
}

/** Who presents a token: a ServiceAccount, and the pod the token was mounted in. */
export interface TokenIdentity {
  readonly account: string;
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
}

/** How long a request to an API server that cannot be reached takes to fail (at most; less with --request-timeout). */
export const UNREACHABLE_TIMEOUT_MS = 2_000;
/** The address pods reach the API server at (the `kubernetes` Service), as kubectl's errors name it. */
const API_SERVER = '10.96.0.1:443';
const EXEC_TIMEOUT_MS = 120_000;

/** The caller of one request; no account is cluster-admin (the tests themselves). */
interface Caller {
  readonly account?: string;
  readonly pod?: string;
  readonly namespace: string;
}

interface Flags {
  selector?: string;
  fieldSelector?: string;
  output?: string;
  container?: string;
  namespace?: string;
  filename?: string;
  patch?: string;
  type?: string;
  requestTimeout?: string;
  overwrite?: boolean;
  ignoreNotFound?: boolean;
  wait?: boolean;
  watch?: boolean;
}

const VALUE_FLAGS: Record<string, keyof Flags> = {
  '-l': 'selector',
  '--selector': 'selector',
  '--field-selector': 'fieldSelector',
  '-o': 'output',
  '--output': 'output',
  '-c': 'container',
  '--container': 'container',
  '-n': 'namespace',
  '--namespace': 'namespace',
  '-f': 'filename',
  '--filename': 'filename',
  '-p': 'patch',
  '--patch': 'patch',
  '--type': 'type',
  '--request-timeout': 'requestTimeout',
};
const BOOLEAN_FLAGS: Record<string, keyof Flags> = {
  '--overwrite': 'overwrite', '--ignore-not-found': 'ignoreNotFound', '--wait': 'wait', '-w': 'watch', '--watch': 'watch',
};

/**
 * `kubectl get lease NAME --watch` (or a Secret): the object printed now, then again at every change, until the request
 * times out or the client goes away. An answer that streams instead of a Result.
 */
interface WatchAnswer extends Result {
  readonly watch: {
    readonly caller: Caller; readonly type: ResourceType; readonly name: string; readonly output?: string; readonly timeoutMs: number;
  };
}

/** An open watch: where its events go. */
interface OpenWatch {
  readonly caller: Caller;
  readonly type: ResourceType;
  readonly name: string;
  readonly output?: string;
  write(text: string): void;
}

/** Something the stand-in does not do (exit 2): a script that needs it fails its tests until the stand-in grows. */
class Unsupported extends Error {}

/** A kubectl error that is not the server's (`error: ...`). */
class ClientError extends Error {}

/**
 * Stands in for the Kubernetes API server, for what kubectl in the library's pods does:
 *   get pods|pod NAME|leases|lease NAME|secrets|secret NAME [-l SELECTOR] [--field-selector F] [-o name|json|yaml|jsonpath=T] [--ignore-not-found]
 *   get lease|secret NAME --watch
 *   create -f - (a Lease or a Secret) / replace -f - / patch lease|secret NAME --type=merge -p JSON / delete lease|secret NAME
 *   label pod NAME k=v|k- [--overwrite] / exec POD [-c CONTAINER] -- COMMAND...
 * with --request-timeout and -n. Leases and Secrets live in object stores with resourceVersions and
 * conflicts (Secrets: base64 data, stringData merged into it; those of the manifests are there from the
 * start, as after `kubectl apply -f dist/`); pods are the harness's pods as their kubelet reports them. Every request is authorized
 * with RBAC, from the Roles and RoleBindings in the synthesized manifests, for the ServiceAccount of
 * the calling pod's token. A pod cut off from the API (a partitioned node) times out instead.
 * Anything else fails, so a script that starts using more of kubectl fails its tests until this grows.
 */
export class ApiStandIn {
  private readonly server: http.Server;
  /** One counter for every write, like etcd's revision: resourceVersions grow across objects. */
  private revision = 0;
  private readonly watches = new Set<OpenWatch>();
  /** The objects the API server stores (pods are the kubelets' instead). */
  private readonly stores = new Map<ResourceType, ObjectStore>([LEASES, SECRETS].map(type =>
    [type, new ObjectStore(type, () => ++this.revision, (namespace, name, object) => this.notify(type, namespace, name, object))]));

  constructor(private readonly backend: ApiBackend, public readonly socket: string) {
    // The Secrets of the manifests exist from the start, as after `kubectl apply -f dist/`.
    for (const secret of backend.manifests.all('Secret')) this.apply(secret);
    this.server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', chunk => chunks.push(chunk));
      request.on('end', async () => {
        const { token, namespace, args, stdin } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const identity = this.backend.identityOf(token);
        const result: Result | WatchAnswer = identity
          ? await this.kubectl({ ...identity, namespace: namespace || this.backend.namespace }, args, stdin)
          : { code: 1, stdout: '', stderr: 'error: You must be logged in to the server (Unauthorized)\n' };
        if (isWatch(result)) {
          this.stream(response, result);
          return;
        }
        if (request.headers['x-kubectl-raw'] === '1') {
          // The native client (bin/kubectl.c) has no JSON parser: `<code>\n<stdout bytes>\n<stdout><stderr>`.
          const stdout = Buffer.from(result.stdout, 'utf8');
          const framed = Buffer.concat([Buffer.from(`${result.code}\n${stdout.length}\n`), stdout, Buffer.from(result.stderr, 'utf8')]);
          response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': framed.length });
          response.end(framed);
          return;
        }
        response.end(JSON.stringify(result));
      });
    });
  }

  public listen(): Promise<void> {
    fs.rmSync(this.socket, { force: true });
    return new Promise(resolve => this.server.listen(this.socket, () => {
      fs.chmodSync(this.socket, 0o666);
      resolve();
    }));
  }

  public close(): void {
    this.server.close();
    // kubectl stand-ins keep their connections alive; they must not hold the test process open.
    this.server.closeAllConnections();
  }

  /**
   * A watch's answer: raw standard output as it comes (header `X-Kubectl-Stream: 1`, no framing, no chunked
   * encoding), ended by the server after the request's timeout, or by the client. Events are not delivered
   * while the watching pod is cut off from the API (they would not reach it), as on a partitioned node.
   */
  private stream(response: http.ServerResponse, answer: WatchAnswer): void {
    response.useChunkedEncodingByDefault = false;
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'x-kubectl-stream': '1', 'connection': 'close' });
    response.write(answer.stdout);
    const cutOff = () => !!answer.watch.caller.pod && !!this.backend.pods().find(p => p.name === answer.watch.caller.pod)?.apiCutOff;
    const open: OpenWatch = {
      ...answer.watch,
      write: text => {
        if (!cutOff()) response.write(text);
      },
    };
    this.watches.add(open);
    let timer: NodeJS.Timeout | undefined;
    const end = () => {
      if (!this.watches.delete(open)) return;
      if (timer) clearTimeout(timer);
      response.end();
    };
    if (answer.watch.timeoutMs > 0) timer = setTimeout(end, answer.watch.timeoutMs);
    response.on('close', end);
  }

  private notify(type: ResourceType, namespace: string, name: string, object: StoredObject | undefined): void {
    for (const watch of this.watches) {
      if (watch.type !== type || watch.caller.namespace !== namespace || watch.name !== name || !object) continue;
      try {
        watch.write(this.print([object], type, watch.output, true));
      } catch {
        // A template that fails on this object prints nothing for it.
      }
    }
  }

  /** kubectl as cluster-admin, from the tests: no RBAC, never partitioned. */
  public admin(args: string[], stdin?: string): Promise<Result> {
    return this.kubectl({ namespace: this.backend.namespace }, args, stdin);
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

  /** The store of a type the API server stores; Unsupported for others (pods). */
  private store(type: ResourceType, verb?: string): ObjectStore {
    const store = this.stores.get(type);
    if (!store) throw new Unsupported(`${verb ?? 'storing'} ${type.plural} is not supported`);
    return store;
  }

  private async kubectl(caller: Caller, args: string[], stdin?: string): Promise<Result | WatchAnswer> {
    try {
      const { positional, flags, command } = parseArgs(args);
      const timeoutMs = requestTimeoutMs(flags.requestTimeout);
      if (caller.pod && this.backend.pods().find(p => p.name === caller.pod)?.apiCutOff) {
        // The request never reaches the server: kubectl waits for its dial to time out.
        await sleep(Math.min(timeoutMs || UNREACHABLE_TIMEOUT_MS, UNREACHABLE_TIMEOUT_MS));
        return { code: 1, stdout: '', stderr: `Unable to connect to the server: dial tcp ${API_SERVER}: i/o timeout\n` };
      }
      const request = { ...caller, namespace: flags.namespace ?? caller.namespace };
      const [verb, ...rest] = positional;
      switch (verb) {
        case 'get': return flags.watch ? this.watch(request, rest, flags, timeoutMs) : this.get(request, rest, flags);
        case 'create': return this.write(request, 'create', rest, flags, stdin);
        case 'replace': return this.write(request, 'replace', rest, flags, stdin);
        case 'patch': return this.patch(request, rest, flags);
        case 'delete': return this.delete(request, rest, flags);
        case 'label': return this.label(request, rest, flags);
        case 'exec': return await this.exec(request, rest, flags, command, timeoutMs);
      }
      throw new Unsupported(`unsupported command: kubectl ${args.join(' ')}`);
    } catch (error) {
      if (error instanceof Unsupported) return { code: 2, stdout: '', stderr: `kubectl stand-in: ${error.message}\n` };
      if (error instanceof ApiError) return { code: 1, stdout: '', stderr: `${serverError(error)}\n` };
      return { code: 1, stdout: '', stderr: `${(error as Error).message}\n` };
    }
  }

  // ---- verbs ----

  private get(caller: Caller, rest: string[], flags: Flags): Result {
    const { type, names } = typeAndNames(rest);
    let objects: StoredObject[];
    const listed = names.length === 0;
    if (listed) {
      this.authorize(caller, 'list', type);
      objects = this.list(caller.namespace, type)
        .filter(labelSelector(flags.selector ?? ''))
        .filter(fieldSelector(flags.fieldSelector ?? '', type));
    } else {
      if (flags.selector) throw new ClientError('error: name cannot be provided when a selector is specified');
      objects = [];
      const errors: string[] = [];
      for (const name of names) {
        this.authorize(caller, 'get', type, name);
        const found = this.find(caller.namespace, type, name);
        if (found) objects.push(found);
        else if (!flags.ignoreNotFound) errors.push(serverError(new ApiError('NotFound', `${qualifiedPlural(type)} "${name}" not found`)));
      }
      if (errors.length > 0) {
        const printed = objects.length > 0 ? this.print(objects, type, flags.output, names.length === 1) : '';
        return { code: 1, stdout: printed, stderr: `${errors.join('\n')}\n` };
      }
    }
    if (objects.length === 0 && (listed || flags.ignoreNotFound) && !isStructured(flags.output)) {
      return { code: 0, stdout: '', stderr: listed && !flags.output ? `No resources found in ${caller.namespace} namespace.\n` : '' };
    }
    return ok(this.print(objects, type, flags.output, !listed && names.length === 1));
  }

  /** `get lease|secret NAME --watch`: needs get and watch on the name (the API server authorizes a watch of one object by its name). */
  private watch(caller: Caller, rest: string[], flags: Flags, timeoutMs: number): WatchAnswer | Result {
    const { type, names } = typeAndNames(rest);
    if (!this.stores.has(type) || names.length !== 1 || flags.selector || flags.fieldSelector) {
      throw new Unsupported(`only \`kubectl get lease|secret NAME --watch\` is supported (got get ${rest.join(' ')} --watch)`);
    }
    this.authorize(caller, 'get', type, names[0]);
    this.authorize(caller, 'watch', type, names[0]);
    const found = this.find(caller.namespace, type, names[0]);
    if (!found) return { code: 1, stdout: '', stderr: `${serverError(new ApiError('NotFound', `${qualifiedPlural(type)} "${names[0]}" not found`))}\n` };
    return { code: 0, stdout: this.print([found], type, flags.output, true), stderr: '', watch: { caller, type, name: names[0], output: flags.output, timeoutMs } };
  }

  private write(caller: Caller, verb: 'create' | 'replace', rest: string[], flags: Flags, stdin: string | undefined): Result {
    if (rest.length > 0 || flags.filename === undefined) {
      throw new Unsupported(`only \`kubectl ${verb} -f -\` is supported (got ${[verb, ...rest].join(' ')})`);
    }
    if (flags.filename !== '-') throw new Unsupported(`${verb} -f reads standard input only here (-f -)`);
    const source = 'STDIN';
    let documents: unknown[];
    try {
      documents = parseAllDocuments(stdin ?? '').map(d => {
        if (d.errors.length > 0) throw d.errors[0];
        return d.toJS();
      }).filter(d => d !== null && d !== undefined);
    } catch (error) {
      throw new ClientError(`error: error parsing ${source}: error converting YAML to JSON: ${(error as Error).message}`);
    }
    if (documents.length === 0) throw new ClientError(`error: no objects passed to ${verb}`);
    let stdout = '';
    const errors: string[] = [];
    for (const document of documents) {
      const object = document as StoredObject;
      const type = typeOfKind(object.apiVersion, object.kind);
      const name = object.metadata?.name ?? '';
      if (!type) {
        const version = object.apiVersion ?? '';
        throw new ClientError(`error: resource mapping not found for name: "${name}" namespace: "" from "${source}": `
          + `no matches for kind "${object.kind}" in version "${version}"\nensure CRDs are installed first`);
      }
      if (!this.stores.has(type)) throw new Unsupported(`${verb} of a ${type.kind} is not supported`);
      const store = this.store(type);
      const own = object.metadata?.namespace;
      if (own && flags.namespace && own !== flags.namespace) {
        throw new ClientError(`error: the namespace from the provided object "${own}" does not match the namespace "${flags.namespace}". `
          + `You must pass '--namespace=${own}' to perform this operation.`);
      }
      const namespace = own ?? caller.namespace;
      try {
        let stored: StoredObject;
        if (verb === 'create') {
          this.authorize({ ...caller, namespace }, 'create', type);
          stored = store.create(namespace, object);
        } else {
          // Without a resourceVersion, kubectl replace reads the object first and overwrites whatever is there.
          if (!object.metadata?.resourceVersion) this.authorize({ ...caller, namespace }, 'get', type, name);
          this.authorize({ ...caller, namespace }, 'update', type, name);
          stored = store.update(namespace, name, object).object;
        }
        stdout += this.print([stored], type, flags.output, true, verb === 'create' ? 'created' : 'replaced');
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        errors.push(serverError(error, `error when ${verb === 'create' ? 'creating' : 'replacing'} "${source}": `));
      }
    }
    return { code: errors.length > 0 ? 1 : 0, stdout, stderr: errors.map(e => `${e}\n`).join('') };
  }

  private patch(caller: Caller, rest: string[], flags: Flags): Result {
    const { type, names } = typeAndNames(rest);
    if (names.length !== 1) throw new ClientError('error: exactly one NAME is required to patch');
    if (!this.stores.has(type)) throw new Unsupported(`patch of ${type.plural} is not supported (label pods with kubectl label)`);
    const patchType = flags.type ?? 'strategic';
    // Leases and Secrets have no lists with merge keys: a strategic merge patch of one is a JSON merge patch.
    if (patchType !== 'merge' && patchType !== 'strategic') throw new Unsupported(`patch --type=${patchType} is not supported (use --type=merge)`);
    if (flags.patch === undefined) throw new ClientError('error: must specify -p to patch');
    let patch: unknown;
    try {
      patch = parseAllDocuments(flags.patch)[0]?.toJS();
    } catch (error) {
      throw new ClientError(`error: unable to parse "${flags.patch}": ${(error as Error).message}`);
    }
    this.authorize(caller, 'patch', type, names[0]);
    const { object, changed, warnings } = this.store(type).patch(caller.namespace, names[0], patch);
    return { code: 0, stdout: this.print([object], type, flags.output, true, changed ? 'patched' : 'patched (no change)'), stderr: warnings.map(w => `${w}\n`).join('') };
  }

  private delete(caller: Caller, rest: string[], flags: Flags): Result {
    const { type, names } = typeAndNames(rest);
    if (!this.stores.has(type)) throw new Unsupported(`delete of ${type.plural} is not supported`);
    if (names.length === 0) throw new ClientError('error: resource(s) were provided, but no name was specified');
    let stdout = '';
    const errors: string[] = [];
    for (const name of names) {
      this.authorize(caller, 'delete', type, name);
      try {
        this.store(type).delete(caller.namespace, name);
        stdout += `${qualifiedSingular(type)} "${name}" deleted\n`;
      } catch (error) {
        if (!(error instanceof ApiError) || (error.reason === 'NotFound' && flags.ignoreNotFound)) continue;
        errors.push(serverError(error));
      }
    }
    return { code: errors.length > 0 ? 1 : 0, stdout, stderr: errors.map(e => `${e}\n`).join('') };
  }

  private label(caller: Caller, rest: string[], flags: Flags): Result {
    const [target, ...changes] = rest;
    const { type, names } = typeAndNames(target?.includes('/') ? [target] : [target, changes.shift() ?? '']);
    if (type !== PODS || names.length !== 1 || !names[0] || changes.length === 0) {
      throw new Unsupported(`only \`kubectl label pod NAME key=value|key- ...\` is supported (got label ${rest.join(' ')})`);
    }
    const pod = this.podFor(caller, names[0], ['get', 'patch']);
    const before = JSON.stringify(pod.labels);
    let stderr = '';
    for (const change of changes) {
      if (change.endsWith('-')) {
        const key = change.slice(0, -1);
        if (!(key in pod.labels)) stderr += `label "${key}" not found.\n`;
        delete pod.labels[key];
        continue;
      }
      const [key, value] = change.split('=');
      if (value === undefined) throw new ClientError('error: at least one label update is required');
      if (key in pod.labels && pod.labels[key] !== value && !flags.overwrite) {
        return { code: 1, stdout: '', stderr: `error: '${key}' already has a value (${pod.labels[key]}), and --overwrite is false\n` };
      }
      pod.labels[key] = value;
    }
    // kubectl's words: nothing changed, labels removed (without --overwrite), or labeled.
    if (JSON.stringify(pod.labels) === before) return { code: 0, stdout: `pod/${pod.name} not labeled\n`, stderr };
    this.backend.onLabelsChange(pod);
    const removed = !flags.overwrite && Object.keys(pod.labels).length < Object.keys(JSON.parse(before)).length;
    return { code: 0, stdout: `pod/${pod.name} ${removed ? 'unlabeled' : 'labeled'}\n`, stderr };
  }

  private async exec(caller: Caller, rest: string[], flags: Flags, command: string[], timeoutMs: number): Promise<Result> {
    const target = rest[0]?.startsWith('pod/') ? rest[0].slice(4) : rest[0];
    if (rest.length !== 1 || !target || command.length === 0) {
      throw new Unsupported(`only \`kubectl exec POD [-c CONTAINER] -- COMMAND...\` is supported (got exec ${rest.join(' ')})`);
    }
    // kubectl reads the pod first, then asks for pods/exec.
    const pod = this.podFor(caller, target, ['get']);
    this.authorize(caller, 'create', PODS, target, 'exec');
    const object = pod.toObject(caller.namespace);
    if (object.status.phase === 'Succeeded' || object.status.phase === 'Failed') {
      throw new ClientError(`error: cannot exec into a container in a completed pod; current phase is ${object.status.phase}`);
    }
    let stderr = '';
    let container = flags.container;
    if (!container) {
      const names: string[] = object.spec.containers.map((c: any) => c.name);
      container = names[0];
      if (names.length > 1) stderr += `Defaulted container "${container}" out of: ${names.join(', ')}\n`;
    }
    if (pod.apiCutOff) {
      // The API server cannot reach the pod's kubelet.
      await sleep(Math.min(timeoutMs || UNREACHABLE_TIMEOUT_MS, UNREACHABLE_TIMEOUT_MS));
      return { code: 1, stdout: '', stderr: `${stderr}error: unable to upgrade connection: error dialing backend: dial tcp ${object.status.hostIP}:10250: i/o timeout\n` };
    }
    const result = await pod.exec(container, command, EXEC_TIMEOUT_MS);
    stderr += result.stderr;
    // kubectl says so when the command fails, and exits with its code.
    if (result.code !== 0 && !result.stderr.startsWith('error:') && !result.stderr.startsWith('Error from server')) {
      stderr += `command terminated with exit code ${result.code}\n`;
    }
    return { code: result.code, stdout: result.stdout, stderr };
  }

  // ---- objects ----

  private list(namespace: string, type: ResourceType): StoredObject[] {
    const store = this.stores.get(type);
    if (store) return store.list(namespace);
    if (namespace !== this.backend.namespace) return [];
    return this.backend.pods().map(p => p.toObject(namespace)).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  private find(namespace: string, type: ResourceType, name: string): StoredObject | undefined {
    const store = this.stores.get(type);
    if (store) return store.find(namespace, name);
    if (namespace !== this.backend.namespace) return undefined;
    return this.backend.pods().find(p => p.name === name)?.toObject(namespace);
  }

  private podFor(caller: Caller, name: string, verbs: string[]): ApiPod {
    for (const verb of verbs) this.authorize(caller, verb, PODS, name);
    const pod = caller.namespace === this.backend.namespace ? this.backend.pods().find(p => p.name === name) : undefined;
    if (!pod) throw new ApiError('NotFound', `pods "${name}" not found`);
    return pod;
  }

  private print(objects: StoredObject[], type: ResourceType, output: string | undefined, single: boolean, action?: string): string {
    const root = single && objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects, metadata: { resourceVersion: '' } };
    if (output === undefined || output === 'wide') {
      if (action) return objects.map(o => `${qualifiedSingular(type)}/${o.metadata.name} ${action}\n`).join('');
      return table(type, objects);
    }
    if (output === 'name') return objects.map(o => `${type === PODS ? 'pod' : qualifiedSingular(type)}/${o.metadata.name}\n`).join('');
    if (output === 'json') return `${JSON.stringify(root, null, 4)}\n`;
    if (output === 'yaml') return stringify(root);
    if (output.startsWith('jsonpath=')) return jsonpath(output.slice('jsonpath='.length), root);
    throw new ClientError(`error: unable to match a printer suitable for the output format "${output}", allowed formats are: json,jsonpath,name,yaml`);
  }

  /**
   * RBAC: some Role bound to the account, in the request's namespace, allows the verb on the
   * resource (API group, resource or resource/subresource, name). A rule with resourceNames matches
   * only requests that name an object: never a list, nor a create (the new object has no name yet).
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

function isWatch(result: Result | WatchAnswer): result is WatchAnswer {
  return 'watch' in result;
}

function ok(stdout: string): Result {
  return { code: 0, stdout, stderr: '' };
}

/** As kubectl prints an API error; an invalid object reads `The Lease "x" is invalid: ...`. */
function serverError(error: ApiError, context = ''): string {
  if (error.reason === 'Invalid') return `${context ? `${context}` : ''}The ${error.message}`;
  return `Error from server (${error.reason}): ${context}${error.message}`;
}

function isStructured(output: string | undefined): boolean {
  return output === 'json' || output === 'yaml';
}

/** `lease NAME...`, `lease/NAME`, `leases`: the type and the names. */
function typeAndNames(rest: string[]): { type: ResourceType; names: string[] } {
  if (rest.length === 0 || !rest[0]) throw new ClientError('error: You must specify the type of resource to get.');
  if (rest[0].includes('/')) {
    const names: string[] = [];
    let type: ResourceType | undefined;
    for (const arg of rest) {
      const [kind, name] = arg.split('/');
      const t = resourceType(kind);
      if (!t) throw new Unsupported(`resource type ${kind} is not served by the stand-in`);
      if (type && t !== type) throw new Unsupported('one resource type per command');
      type = t;
      names.push(name);
    }
    return { type: type!, names };
  }
  const type = resourceType(rest[0]);
  if (!type) throw new Unsupported(`resource type ${rest[0]} is not served by the stand-in`);
  return { type, names: rest.slice(1) };
}

function table(type: ResourceType, objects: StoredObject[]): string {
  const age = (o: StoredObject) => {
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(o.metadata.creationTimestamp)) / 1000));
    return seconds < 120 ? `${seconds}s` : seconds < 7200 ? `${Math.floor(seconds / 60)}m` : `${Math.floor(seconds / 3600)}h`;
  };
  let rows: string[][];
  if (type === LEASES) {
    rows = [['NAME', 'HOLDER', 'AGE'], ...objects.map(o => [o.metadata.name, o.spec?.holderIdentity ?? '', age(o)])];
  } else if (type === SECRETS) {
    rows = [['NAME', 'TYPE', 'DATA', 'AGE'], ...objects.map(o => [o.metadata.name, o.type ?? '', String(Object.keys(o.data ?? {}).length), age(o)])];
  } else {
    rows = [['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'], ...objects.map(o => {
      const statuses: any[] = o.status.containerStatuses ?? [];
      const waiting = statuses.find(s => s.state.waiting)?.state.waiting.reason;
      const status = o.status.phase === 'Succeeded' ? 'Completed' : o.status.phase === 'Failed' ? 'Error' : waiting ?? o.status.phase;
      return [o.metadata.name, `${statuses.filter(s => s.ready).length}/${statuses.length}`, status,
        String(statuses.reduce((n, s) => n + s.restartCount, 0)), age(o)];
    })];
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)));
  return rows.map(r => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] + 3))).join('')).map(l => `${l}\n`).join('');
}

function parseArgs(args: string[]): { positional: string[]; flags: Flags; command: string[] } {
  const positional: string[] = [];
  const flags: Flags = {};
  let i = 0;
  for (; i < args.length && args[i] !== '--'; i++) {
    const arg = args[i];
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg;
    let inline = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : undefined;
    // Short flags take their value attached too: -ojson, -o=json, -lapp=x.
    if (!arg.startsWith('--') && arg.length > 2) {
      name = arg.slice(0, 2);
      inline = arg[2] === '=' ? arg.slice(3) : arg.slice(2);
    }
    if (name in BOOLEAN_FLAGS) {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw new ClientError(`error: invalid argument "${inline}" for "${name}" flag`);
      (flags as Record<string, unknown>)[BOOLEAN_FLAGS[name]] = inline !== 'false';
    } else if (name in VALUE_FLAGS) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new ClientError(`error: flag needs an argument: ${name}`);
      (flags as Record<string, unknown>)[VALUE_FLAGS[name]] = value;
    } else {
      throw new Unsupported(`unsupported flag ${arg}`);
    }
  }
  return { positional, flags, command: args.slice(i + 1) };
}

/** --request-timeout: `2s`, `500ms`, `1m`, or a plain number of seconds; 0 means none. */
export function requestTimeoutMs(value: string | undefined): number {
  if (value === undefined) return 0;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value);
  if (!match) {
    throw new ClientError('error: invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a '
      + 'corresponding time unit (e.g. 1s | 2m | 3h)');
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!;
  return Number(match[1]) * unit;
}

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
    throw new ClientError(`error: unable to parse requirement: ${term}`);
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
