import { Construct } from 'constructs';
import { SUPPORTED_POSTGRES_VERSIONS } from './postgres-settings';

/**
 * The longest cluster name whose derived names all stay valid: pods are named
 * `<name>-cluster-<ordinal>` and the StatefulSet name must leave room for
 * the controller-revision-hash label (52 characters).
 */
export const MAX_CLUSTER_NAME_LENGTH = 44;

/** A Kubernetes DNS-1123 label (namespaces, cluster names) and subdomain (most object names). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Metadata type of the warnings a construct adds at synth (`construct.node.metadata`). */
export const WARNING_METADATA = 'cdk8s-postgres-cluster:warning';

/**
 * A setting that synthesizes valid manifests but that the person should know about: recorded on the construct's
 * metadata (for tools and tests) and printed on stderr when it is synthesized.
 */
export function addWarning(scope: Construct, message: string): void {
  scope.node.addMetadata(WARNING_METADATA, message);
  process.stderr.write(`[WARNING] ${message}\n`);
}

export function validateClusterName(owner: string, name: string, prop = 'clusterName'): void {
  if (!DNS_LABEL.test(name) || name.length > MAX_CLUSTER_NAME_LENGTH) {
    throw new Error(
      `${owner}: ${prop} "${name}" is not a valid cluster name: use 1-${MAX_CLUSTER_NAME_LENGTH} lower-case letters, digits and "-", ` +
      'starting and ending with a letter or digit (a DNS-1123 label), e.g. "orders-db".',
    );
  }
}

/** The largest value of Kubernetes' int32 fields (a probe's seconds, a Lease's leaseDurationSeconds). */
export const MAX_INT32 = 2 ** 31 - 1;

export function validateInteger(owner: string, prop: string, value: number, min: number, max: number, why: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
    throw new Error(`${owner}: ${prop} must be an integer ${range} (${why}); got ${JSON.stringify(value)}.`);
  }
}

export function validatePostgresVersion(owner: string, version: number): void {
  if (!(SUPPORTED_POSTGRES_VERSIONS as readonly number[]).includes(version)) {
    throw new Error(
      `${owner}: postgresVersion ${JSON.stringify(version)} is not supported: use one of ${SUPPORTED_POSTGRES_VERSIONS.join(', ')}.`,
    );
  }
}

const QUANTITY = /^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

/** A Kubernetes storage quantity such as "10Gi"; must be positive. */
export function validateStorageSize(owner: string, prop: string, value: string): void {
  const match = QUANTITY.exec(value);
  if (!match || Number(match[1]) <= 0) {
    throw new Error(
      `${owner}: ${prop} "${value}" is not a storage size: use a positive Kubernetes quantity such as "10Gi", "500Mi" or "1Ti".`,
    );
  }
}

/** A quantity of a container resource: a number with a suffix of Kubernetes' ("250m", "2", "1.5", "4Gi", "1e3"). */
const RESOURCE_QUANTITY = /^(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

/** A container's requests or limits: resource names to quantities, as strings. */
export function validateResourceQuantities(owner: string, prop: string, value: unknown): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${owner}: ${prop} must be an object of resource names to quantities, e.g. { cpu: "500m", memory: "1Gi" }; got ${shown(value)}.`);
  }
  for (const [name, quantity] of Object.entries(value)) {
    if (typeof quantity !== 'string' || !RESOURCE_QUANTITY.test(quantity)) {
      throw new Error(`${owner}: ${prop}["${name}"] ${shown(quantity)} is not a Kubernetes quantity: use a string such as "500m" or "2" (CPU) `
        + 'or "1Gi" (memory).');
    }
  }
}

const POSTGRES_SIZE = /^\d+\s*(B|kB|MB|GB|TB)?$/;

/** A PostgreSQL memory/disk size such as "1GB" (units are case-sensitive in postgresql.conf). */
export function validatePostgresSize(owner: string, prop: string, value: string): void {
  if (!POSTGRES_SIZE.test(value)) {
    throw new Error(
      `${owner}: ${prop} "${value}" is not a PostgreSQL size: use a whole number with B, kB, MB, GB or TB, e.g. "1GB".`,
    );
  }
}

const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

export function validateSettingName(owner: string, name: string): void {
  if (!SETTING_NAME.test(name)) {
    throw new Error(
      `${owner}: extraSettings: "${name}" is not a PostgreSQL setting name: use letters, digits and "_" (optionally "extension.setting").`,
    );
  }
}

/** Rejects values that would break out of a single line of postgresql.conf. */
export function validateSettingValue(owner: string, name: string, value: string): void {
  if (/[\r\n\0]/.test(value)) {
    throw new Error(`${owner}: extraSettings: the value of "${name}" contains a line break; a postgresql.conf setting is one line.`);
  }
}

const IMAGE = /^[a-z0-9]([a-z0-9._\/:-]*[a-z0-9])?(@sha256:[a-f0-9]{64})?$/i;

export function validateImage(owner: string, prop: string, value: string): void {
  if (!IMAGE.test(value)) {
    throw new Error(`${owner}: ${prop} "${value}" is not a container image reference, e.g. "postgres:15" or "registry.example.com/postgres:15.8".`);
  }
}

const POD_NAME = /^(.*)-(\d+)$/;

/**
 * A pod of this StatefulSet, "<statefulSet>-<ordinal>" (an ordinal as the StatefulSet writes it, below maxReplicas: the
 * job may reach no other pod), or undefined for "choose automatically".
 */
export function validateTargetPod(owner: string, statefulSetName: string, target: string | undefined, maxReplicas: number): void {
  if (target === undefined) return;
  const match = POD_NAME.exec(target);
  if (!match || match[1] !== statefulSetName || String(Number(match[2])) !== match[2]) {
    throw new Error(
      `${owner}: targetPod "${target}" is not a pod of StatefulSet ${statefulSetName}: use "${statefulSetName}-<ordinal>", ` +
      'e.g. "' + statefulSetName + '-1", or leave it unset to promote the most advanced replica.',
    );
  }
  if (Number(match[2]) >= maxReplicas) {
    throw new Error(
      `${owner}: targetPod "${target}" is beyond maxReplicas (${maxReplicas}): the cluster never has that pod, and the failover job may not reach it. ` +
      `Use an ordinal below ${maxReplicas}, or raise maxReplicas.`,
    );
  }
}

/** A Kubernetes namespace: a DNS-1123 label of at most 63 characters. */
export function validateNamespace(owner: string, namespace: string | undefined): void {
  if (namespace === undefined) return;
  if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace) || namespace.length > 63) {
    throw new Error(
      `${owner}: namespace ${JSON.stringify(namespace)} is not a Kubernetes namespace name: use 1-63 lower-case letters, digits and "-", ` +
      'starting and ending with a letter or digit (a DNS-1123 label), e.g. "payments".',
    );
  }
}

const POSTGRES_DURATION = /^\d+\s*(us|ms|s|min|h|d)?$/;

/** A PostgreSQL time setting such as "5min" (units are case-sensitive in postgresql.conf). */
export function validatePostgresDuration(owner: string, prop: string, value: string): void {
  if (!POSTGRES_DURATION.test(value)) {
    throw new Error(
      `${owner}: ${prop} "${value}" is not a PostgreSQL duration: use a whole number with us, ms, s, min, h or d, e.g. "5min".`,
    );
  }
}

/** How a value a caller passed reads in an error message. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `an array (${json(value)})`;
  if (value === null || value === undefined) return String(value);
  if (Construct.isConstruct(value)) return `the construct ${value.node.path || '(the App)'} (${value.constructor.name})`;
  if (typeof value === 'object') return `an object (${json(value)})`;
  return `${typeof value} ${String(value)}`;
}

/** JSON, or "..." for what JSON cannot show (cycles, BigInts): an error message must not fail itself. */
function json(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return '...';
  }
}

/**
 * Checks the type of each given prop that is set: JavaScript and Python callers may pass anything, and a
 * number where a name belongs would otherwise reach the YAML.
 */
export function validateTypes(owner: string, props: object, types: { readonly [prop: string]: 'string' | 'boolean' }, prefix = ''): void {
  for (const [prop, type] of Object.entries(types)) {
    const value = (props as Record<string, unknown>)[prop];
    if (value !== undefined && typeof value !== type) {
      throw new Error(`${owner}: ${prefix}${prop} must be a ${type}; got ${shown(value)}.`);
    }
  }
}

/** The name of a Kubernetes object that the cluster refers to (a Secret, a StorageClass). */
export function validateObjectName(owner: string, prop: string, value: string | undefined): void {
  if (value !== undefined && (!DNS_SUBDOMAIN.test(value) || value.length > 253)) {
    throw new Error(`${owner}: ${prop} ${shown(value)} is not a Kubernetes object name: use lower-case letters, digits, "-" and ".", `
      + 'starting and ending with a letter or digit, e.g. "orders-db-credentials".');
  }
}

/** A map of names to strings (extraSettings, initScripts). */
export function validateStringMap(owner: string, prop: string, value: unknown): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${owner}: ${prop} must be an object of names to strings, e.g. { "work_mem": "16MB" }; got ${shown(value)}.`);
  }
  for (const [name, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw new Error(`${owner}: ${prop}["${name}"] must be a string; got ${shown(entry)}.`);
  }
}

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** A label selector as a map of label keys ("prefix/name" or "name") to values, as matchLabels takes it. */
export function validateLabelSelector(owner: string, prop: string, value: unknown): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${owner}: ${prop} must be an object of label keys to values, e.g. { "orders-db-client": "true" }; got ${shown(value)}.`);
  }
  for (const [key, entry] of Object.entries(value)) {
    const slash = key.lastIndexOf('/');
    const prefix = slash < 0 ? undefined : key.slice(0, slash);
    const name = key.slice(slash + 1);
    if (!LABEL_NAME.test(name) || (prefix !== undefined && (!DNS_SUBDOMAIN.test(prefix) || prefix.length > 253))) {
      throw new Error(`${owner}: ${prop}: ${JSON.stringify(key)} is not a label key: use 1-63 letters, digits, "-", "_" and ".", starting and `
        + 'ending with a letter or digit, optionally after a DNS subdomain and "/", e.g. "app.kubernetes.io/name".');
    }
    if (typeof entry !== 'string') throw new Error(`${owner}: ${prop}["${key}"] must be a string; got ${shown(entry)}.`);
    if (entry !== '' && !LABEL_NAME.test(entry)) {
      throw new Error(`${owner}: ${prop}["${key}"]: ${JSON.stringify(entry)} is not a label value: use at most 63 letters, digits, "-", "_" `
        + 'and ".", starting and ending with a letter or digit, or nothing.');
    }
  }
}

/** Five fields of a cron schedule (minute hour day-of-month month day-of-week), or a macro such as @daily. */
const CRON = /^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$/;

export function validateCronSchedule(owner: string, prop: string, value: string): void {
  if (!CRON.test(value.trim())) {
    throw new Error(`${owner}: ${prop} ${JSON.stringify(value)} is not a cron schedule: give five fields `
      + '(minute hour day-of-month month day-of-week), e.g. "0 3 * * *" for 03:00 every day, or a macro such as "@daily".');
  }
}

/** The error of a web identity given to the logical backup's copy into a bucket, which signs with an access key. */
export function webIdentityRefused(owner: string, prop: string): string {
  return `${owner}: ${prop}.credentials is S3Credentials.webIdentity(), which the copy of the dumps cannot use (it signs with an access key): `
    + 'give S3Credentials.fromSecret("my-s3-keys").';
}
