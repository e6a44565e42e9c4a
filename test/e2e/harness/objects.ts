import * as crypto from 'crypto';

/** A resource type the API stand-in serves, with the names kubectl accepts for it. */
export interface ResourceType {
  readonly kind: string;
  readonly apiVersion: string;
  /** '' for the core group. */
  readonly group: string;
  readonly plural: string;
  readonly names: readonly string[];
}

export const PODS: ResourceType = { kind: 'Pod', apiVersion: 'v1', group: '', plural: 'pods', names: ['pod', 'pods', 'po'] };
export const LEASES: ResourceType = {
  kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', group: 'coordination.k8s.io', plural: 'leases', names: ['lease', 'leases'],
};
export const SECRETS: ResourceType = { kind: 'Secret', apiVersion: 'v1', group: '', plural: 'secrets', names: ['secret', 'secrets'] };
/** Served for reads only (the agent reads its update revision); the harness's controller keeps it (cluster.ts). */
export const STATEFULSETS: ResourceType = {
  kind: 'StatefulSet', apiVersion: 'apps/v1', group: 'apps', plural: 'statefulsets', names: ['statefulset', 'statefulsets', 'sts'],
};
const TYPES = [PODS, LEASES, SECRETS];

/** The type kubectl means by `lease`, `leases.coordination.k8s.io`, `po`... */
export function resourceType(name: string): ResourceType | undefined {
  return TYPES.find(t => t.names.some(n => name === n || (t.group && name === `${n}.${t.group}`)));
}

export function typeOfKind(apiVersion: string, kind: string): ResourceType | undefined {
  return TYPES.find(t => t.apiVersion === apiVersion && t.kind === kind);
}

/** `leases.coordination.k8s.io`, `pods`: how the API server names the resource in messages. */
export function qualifiedPlural(type: ResourceType): string {
  return type.group ? `${type.plural}.${type.group}` : type.plural;
}

/** `lease.coordination.k8s.io`, `pod`: how kubectl names an object in `<type>/<name>`. */
export function qualifiedSingular(type: ResourceType): string {
  const singular = type.kind.toLowerCase();
  return type.group ? `${singular}.${type.group}` : singular;
}

/** An error as the API server returns it; kubectl prints it as `Error from server (<reason>): <message>`. */
export class ApiError extends Error {
  constructor(public readonly reason: string, message: string) {
    super(message);
  }
}

export type StoredObject = Record<string, any>;
/** How a write changed an object, as a watch event names it. */
export type WriteKind = 'ADDED' | 'MODIFIED' | 'DELETED';
/** The API server's fieldValidation: what an unknown field in a write does. */
export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

/**
 * The API server's storage for objects the scripts write (Leases, Secrets): one resourceVersion counter
 * for every write, as etcd's revision; updates may carry a resourceVersion precondition, and an
 * object that changed since fails with Conflict (optimistic concurrency, the basis of leader election).
 */
export class ObjectStore {
  private readonly objects = new Map<string, StoredObject>();

  /** `nextRevision` is the cluster's one counter: every write of any object takes the next number. */
  /** `onWrite` hears of every change of an object (its new state, or its last with the deletion's resourceVersion), as a watch does. */
  constructor(private readonly type: ResourceType, private readonly nextRevision: () => number,
    private readonly onWrite: (namespace: string, name: string, object: StoredObject, change: WriteKind) => void = () => {}) {}

  public get(namespace: string, name: string): StoredObject {
    const found = this.objects.get(`${namespace}/${name}`);
    if (!found) throw this.notFound(name);
    return clone(found);
  }

  public find(namespace: string, name: string): StoredObject | undefined {
    const found = this.objects.get(`${namespace}/${name}`);
    return found && clone(found);
  }

  public list(namespace: string): StoredObject[] {
    return [...this.objects.values()].filter(o => o.metadata.namespace === namespace)
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map(clone);
  }

  /**
   * `validation`: the request's fieldValidation (kubectl create asks for Strict): unknown fields fail the request
   * (Strict), are dropped with a warning (Warn, the default) or silently (Ignore).
   */
  public create(namespace: string, input: StoredObject, validation: FieldValidation = 'Strict', warnings: string[] = []): StoredObject {
    const object = decode(this.type, input, validation, warnings);
    const name = object.metadata.name;
    if (object.metadata.resourceVersion) throw new ApiError('BadRequest', 'resourceVersion should not be set on objects to be created');
    if (this.objects.has(`${namespace}/${name}`)) {
      throw new ApiError('AlreadyExists', `${qualifiedPlural(this.type)} "${name}" already exists`);
    }
    object.metadata = {
      ...object.metadata,
      namespace,
      uid: crypto.randomUUID(),
      resourceVersion: String(this.nextRevision()),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    this.objects.set(`${namespace}/${name}`, object);
    this.onWrite(namespace, name, clone(object), 'ADDED');
    return clone(object);
  }

  /** A full update (`kubectl replace`): the object's resourceVersion, if any, must be the stored one. */
  public update(namespace: string, name: string, input: StoredObject, validation: FieldValidation = 'Strict', warnings: string[] = [])
    : { object: StoredObject; changed: boolean } {
    const current = this.get(namespace, name);
    const object = decode(this.type, input, validation, warnings);
    if (object.metadata.name !== name) throw this.invalid(name, `metadata.name: Invalid value: "${object.metadata.name}": field is immutable`);
    return this.write(namespace, current, object, object.metadata.resourceVersion);
  }

  /** An RFC 7386 JSON merge patch (`kubectl patch --type=merge`); a resourceVersion in it is a precondition. */
  public patch(namespace: string, name: string, patch: unknown, validation: FieldValidation = 'Warn', warnings: string[] = [])
    : { object: StoredObject; changed: boolean; warnings: string[] } {
    const current = this.get(namespace, name);
    if (!isObject(patch)) throw new ApiError('BadRequest', 'error decoding patch: the patch is not a JSON object');
    const precondition = isObject(patch.metadata) ? patch.metadata.resourceVersion : undefined;
    const merged = mergePatch(current, patch) as StoredObject;
    // kubectl patch asks for no field validation: the server drops unknown fields with a warning.
    const object = decode(this.type, merged, validation, warnings);
    if (object.metadata.name !== name) throw this.invalid(name, `metadata.name: Invalid value: "${object.metadata.name}": field is immutable`);
    return { ...this.write(namespace, current, object, precondition), warnings };
  }

  /** Removes the object; returns its last state, with the deletion's resourceVersion (as a watch's DELETED event carries it). */
  public delete(namespace: string, name: string): StoredObject {
    const last = this.get(namespace, name);
    this.objects.delete(`${namespace}/${name}`);
    last.metadata.resourceVersion = String(this.nextRevision());
    this.onWrite(namespace, name, clone(last), 'DELETED');
    return last;
  }

  private write(namespace: string, current: StoredObject, next: StoredObject, precondition: unknown): { object: StoredObject; changed: boolean } {
    const name = current.metadata.name;
    if (precondition !== undefined && precondition !== null && precondition !== '' && precondition !== current.metadata.resourceVersion) {
      throw new ApiError('Conflict', `Operation cannot be fulfilled on ${qualifiedPlural(this.type)} "${name}": `
        + 'the object has been modified; please apply your changes to the latest version and try again');
    }
    // What the server owns stays as it is.
    next.metadata = {
      ...next.metadata,
      namespace,
      uid: current.metadata.uid,
      creationTimestamp: current.metadata.creationTimestamp,
      resourceVersion: current.metadata.resourceVersion,
    };
    validateUpdate(this.type, current, next);
    // A write that changes nothing is no write: the resourceVersion stays (kubectl says "(no change)").
    if (JSON.stringify(sortKeys(next)) === JSON.stringify(sortKeys(current))) return { object: current, changed: false };
    next.metadata.resourceVersion = String(this.nextRevision());
    this.objects.set(`${namespace}/${name}`, next);
    this.onWrite(namespace, name, clone(next), 'MODIFIED');
    return { object: clone(next), changed: true };
  }

  private notFound(name: string): ApiError {
    return new ApiError('NotFound', `${qualifiedPlural(this.type)} "${name}" not found`);
  }

  private invalid(name: string, detail: string): ApiError {
    return new ApiError('Invalid', `${this.type.kind} "${name}" is invalid: ${detail}`);
  }
}

/** RFC 7386: objects merge key by key, null removes a key, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

// ---- decoding, as the API server's typed decoder and validation do ----

type FieldType = 'string' | 'int32' | 'bool' | 'microtime' | 'stringmap' | 'bytesmap' | 'any' | { readonly [field: string]: FieldType };

const OBJECT_META: FieldType = {
  name: 'string',
  generateName: 'string',
  namespace: 'string',
  uid: 'string',
  resourceVersion: 'string',
  generation: 'int32',
  creationTimestamp: 'any',
  labels: 'stringmap',
  annotations: 'stringmap',
  ownerReferences: 'any',
  finalizers: 'any',
  managedFields: 'any',
};

const SCHEMAS: Record<string, FieldType> = {
  Lease: {
    apiVersion: 'string',
    kind: 'string',
    metadata: OBJECT_META,
    spec: {
      holderIdentity: 'string',
      leaseDurationSeconds: 'int32',
      acquireTime: 'microtime',
      renewTime: 'microtime',
      leaseTransitions: 'int32',
      strategy: 'string',
      preferredHolder: 'string',
    },
  },
  Secret: {
    apiVersion: 'string',
    kind: 'string',
    metadata: OBJECT_META,
    // map[string][]byte: base64 in JSON.
    data: 'bytesmap',
    // Write-only: merged into data by the API server, never stored.
    stringData: 'stringmap',
    type: 'string',
    immutable: 'bool',
  },
};

const GO_TYPE: Record<string, string> = {
  string: 'string', int32: 'int32', bool: 'bool', microtime: 'v1.MicroTime', stringmap: 'map[string]string', bytesmap: 'map[string][]uint8',
};

/**
 * Checks an object as the API server decodes it into its Go type: field types, MicroTime's exact
 * format (six fractional digits: `2006-01-02T15:04:05.000000Z07:00`), unknown fields (rejected when
 * strict, else dropped with a warning), base64 of a Secret's data (Go's decoder, and its error's offset),
 * and the Lease's and the Secret's validation rules. A Secret's stringData is merged into its data here,
 * on every write, as the API server's conversion does.
 */
function decode(type: ResourceType, input: unknown, validation: FieldValidation, warnings: string[] = []): StoredObject {
  const schema = SCHEMAS[type.kind];
  const handled = `${type.kind} in version "${type.apiVersion.split('/').pop()}" cannot be handled as a ${type.kind}`;
  if (!isObject(input)) throw new ApiError('BadRequest', `${handled}: the object is not a JSON object`);
  // In the order the API server writes the fields.
  const { apiVersion = type.apiVersion, kind = type.kind, metadata, ...rest } = clone(input) as StoredObject;
  const object: StoredObject = { apiVersion, kind, metadata, ...rest };
  if (object.apiVersion !== type.apiVersion || object.kind !== type.kind) {
    throw new ApiError('BadRequest', `${handled}: the object is a ${object.kind} of ${object.apiVersion}`);
  }
  const unknown: string[] = [];
  const problem = check(schema, object, '', unknown, type.kind);
  if (problem) throw new ApiError('BadRequest', `${handled}: ${problem}`);
  if (unknown.length > 0) {
    if (validation === 'Strict') throw new ApiError('BadRequest', `${handled}: strict decoding error: ${unknown.map(u => `unknown field "${u}"`).join(', ')}`);
    for (const field of unknown) {
      if (validation === 'Warn') warnings.push(`unknown field "${field}"`);
      removePath(object, field.split('.'));
    }
  }
  const name = object.metadata?.name;
  if (!name) throw new ApiError('Invalid', `${type.kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name) || name.length > 253) {
    throw new ApiError('Invalid', `${type.kind} "${name}" is invalid: metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain `
      + "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
  }
  const spec = object.spec ?? {};
  if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds <= 0) {
    throw new ApiError('Invalid', `${type.kind} "${name}" is invalid: spec.leaseDurationSeconds: Invalid value: ${spec.leaseDurationSeconds}: must be greater than 0`);
  }
  if (spec.leaseTransitions !== undefined && spec.leaseTransitions < 0) {
    throw new ApiError('Invalid', `${type.kind} "${name}" is invalid: spec.leaseTransitions: Invalid value: ${spec.leaseTransitions}: must be greater than or equal to 0`);
  }
  if (type.kind === 'Secret') finishSecret(object, name);
  return object;
}

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
/** The API server's limit on a Secret's data (decoded bytes, keys not counted). */
const MAX_SECRET_BYTES = 1024 * 1024;

/**
 * What the API server makes of a decoded Secret: stringData merged into data (base64; a key in both takes
 * stringData's value) and dropped, data in canonical base64, type Opaque by default, keys and size validated.
 */
function finishSecret(object: StoredObject, name: string): void {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(object.data ?? {})) data[key] = Buffer.from((value as string | null) ?? '', 'base64').toString('base64');
  for (const [key, value] of Object.entries(object.stringData ?? {})) data[key] = Buffer.from(value as string, 'utf8').toString('base64');
  delete object.stringData;
  delete object.data;
  if (Object.keys(data).length > 0) object.data = Object.fromEntries(Object.keys(data).sort().map(k => [k, data[k]]));
  object.type = object.type || 'Opaque';
  const invalid = (detail: string) => new ApiError('Invalid', `Secret "${name}" is invalid: ${detail}`);
  let bytes = 0;
  for (const [key, value] of Object.entries(data)) {
    if (!CONFIG_KEY.test(key) || key === '.' || key === '..' || key.startsWith('..') || key.length > 253) {
      throw invalid(`data[${key}]: Invalid value: "${key}": a valid config key must consist of alphanumeric characters, '-', '_' or '.' `
        + "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')");
    }
    bytes += Buffer.from(value, 'base64').length;
  }
  if (bytes > MAX_SECRET_BYTES) throw invalid(`data: Too long: must have at most ${MAX_SECRET_BYTES} bytes`);
}

/** What an update may not change: a Secret's type, and an immutable Secret's data (and immutability). */
function validateUpdate(type: ResourceType, current: StoredObject, next: StoredObject): void {
  if (type.kind !== 'Secret') return;
  const invalid = (detail: string) => new ApiError('Invalid', `Secret "${current.metadata.name}" is invalid: ${detail}`);
  if (next.type !== current.type) throw invalid(`type: Invalid value: "${next.type}": field is immutable`);
  if (current.immutable === true) {
    if (next.immutable !== true) throw invalid('immutable: Forbidden: field is immutable when `immutable` is set');
    if (JSON.stringify(sortKeys(next.data ?? {})) !== JSON.stringify(sortKeys(current.data ?? {}))) {
      throw invalid('data: Forbidden: field is immutable when `immutable` is set');
    }
  }
}

/**
 * Go's base64.StdEncoding (what encoding/json decodes a []byte with): padding required, CR and LF skipped,
 * unused trailing bits not checked. The error as Go words it (`illegal base64 data at input byte N`,
 * N the offset in the string's UTF-8 bytes), or undefined when the text decodes.
 */
export function base64Problem(text: string): string | undefined {
  const src = Buffer.from(text, 'utf8');
  const corrupt = (offset: number) => `illegal base64 data at input byte ${offset}`;
  const newline = (b: number) => b === 0x0a || b === 0x0d;
  const alphabet = (b: number) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2b || b === 0x2f;
  const PAD = 0x3d;
  let si = 0;
  // One quantum (four characters) at a time, as Go's decodeQuantum.
  for (;;) {
    for (let j = 0; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return undefined;
        return corrupt(si - j);
      }
      const c = src[si++];
      if (alphabet(c)) continue;
      if (newline(c)) {
        j--;
        continue;
      }
      if (c !== PAD || j < 2) return corrupt(si - 1);
      if (j === 2) {
        // "==" expected: the first is read.
        while (si < src.length && newline(src[si])) si++;
        if (si === src.length) return corrupt(src.length);
        if (src[si] !== PAD) return corrupt(si - 1);
        si++;
      }
      while (si < src.length && newline(src[si])) si++;
      return si < src.length ? corrupt(si) : undefined;
    }
  }
}

function check(schema: FieldType, value: unknown, at: string, unknown: string[], goType: string): string | undefined {
  if (value === null || value === undefined) return undefined;
  const field = at || goType;
  if (typeof schema === 'object') {
    if (!isObject(value)) return `json: cannot unmarshal ${jsonKind(value)} into Go struct field ${goType}.${field} of type object`;
    for (const [key, child] of Object.entries(value)) {
      const path = at ? `${at}.${key}` : key;
      if (!(key in schema)) {unknown.push(path);} else {
        const problem = check(schema[key], child, path, unknown, goType);
        if (problem) return problem;
      }
    }
    return undefined;
  }
  const mismatch = `json: cannot unmarshal ${jsonKind(value)} into Go struct field ${goType}.${field} of type ${GO_TYPE[schema]}`;
  switch (schema) {
    case 'string':
      return typeof value === 'string' ? undefined : mismatch;
    case 'int32':
      return typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < 2 ** 31 ? undefined : mismatch;
    case 'bool':
      return typeof value === 'boolean' ? undefined : mismatch;
    case 'bytesmap':
      if (!isObject(value)) return mismatch;
      for (const v of Object.values(value)) {
        if (v === null) continue;
        if (typeof v !== 'string') return `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${goType}.${field} of type []uint8`;
        const problem = base64Problem(v);
        if (problem) return problem;
      }
      return undefined;
    case 'stringmap':
      if (!isObject(value)) return mismatch;
      for (const v of Object.values(value)) {
        if (typeof v !== 'string') return `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${goType}.${field} of type string`;
      }
      return undefined;
    case 'microtime':
      if (typeof value !== 'string') return mismatch;
      return microTimeProblem(value);
    default:
      return undefined;
  }
}

const MICRO_TIME_LAYOUT = '2006-01-02T15:04:05.000000Z07:00';

/** Go's time.Parse(RFC3339Micro): exactly six fractional digits, then Z or an offset. */
function microTimeProblem(value: string): string | undefined {
  const parsing = `parsing time "${value}" as "${MICRO_TIME_LAYOUT}"`;
  const seconds = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.exec(value);
  if (!seconds) return `${parsing}: cannot parse "${value}" as "2006"`;
  const rest = value.slice(seconds[0].length);
  if (!/^\.\d{6}/.test(rest)) return `${parsing}: cannot parse "${rest}" as ".000000"`;
  const zone = rest.slice(7);
  if (!/^(Z|[+-]\d{2}:\d{2})$/.test(zone)) return `${parsing}: cannot parse "${zone}" as "Z07:00"`;
  return isNaN(Date.parse(value)) ? `${parsing}: month or day out of range` : undefined;
}

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}

function removePath(object: Record<string, any>, path: string[]): void {
  const [head, ...rest] = path;
  if (rest.length === 0) delete object[head];
  else if (isObject(object[head])) removePath(object[head], rest);
}

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return value === undefined ? value : JSON.parse(JSON.stringify(value));
}

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.keys(value).sort().map(k => [k, sortKeys(value[k])]));
}
