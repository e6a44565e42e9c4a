// The leader record as a type: one variant per state, one decoder from the Lease as the API returns it, one encoder to
// the merge patch that replaces it (the format leader-record.sh's record_update wrote, before the agent replaced it;
// its record_read still reads it for the archive backup job).
// Pure: no I/O. Not public API (src/index.ts does not export it).

/** The annotations' prefix: the record's fields are annotations `postgres.cdk8s.io/<field>`. */
export const RECORD_PREFIX = 'postgres.cdk8s.io';

/** The fields leader-record.sh reads and writes (its RECORD_FIELDS), in its order. */
export const RECORD_FIELDS = [
  'state', 'primary', 'epoch', 'timeline', 'system-identifier', 'sync', 'target', 'previous', 'job', 'checkpoint',
] as const;

/** The format's version field, new with the agent: leader-record.sh neither reads nor writes it. */
export const VERSION_FIELD = 'version';

/** The one format there is. A record without a version field is this format, written by leader-record.sh. */
export const RECORD_FORMAT_VERSION = 1;

export type RecordField = typeof RECORD_FIELDS[number] | typeof VERSION_FIELD;

/** The states of the record, as leader-record.sh's header lists them. */
export const RECORD_STATES = ['stable', 'switching-over', 'failing-over'] as const;
export type RecordState = typeof RECORD_STATES[number];

/** What every state carries. */
interface RecordCommon {
  readonly version: typeof RECORD_FORMAT_VERSION;
  /** Grows by one on every change of primary and every failover attempt (never 0). */
  readonly epoch: number;
  /** The primary's PostgreSQL timeline when it was recorded. */
  readonly timeline: number;
  /** The database cluster's identity (pg_control), decimal; undefined where the record leaves it empty. */
  readonly systemIdentifier: string | undefined;
  /** Synchronous mode: the standbys that may confirm commits, in the record's order (empty: none). */
  readonly sync: readonly string[];
}

/** The primary serves: the record names it. */
export interface StableRecord extends RecordCommon {
  readonly state: 'stable';
  readonly primary: string;
}

/** A planned switchover, carried out by the two pods' sidecars; no pod may be primary meanwhile. */
export interface SwitchingOverRecord extends RecordCommon {
  readonly state: 'switching-over';
  /** The old primary, which fences itself. */
  readonly previous: string;
  /** The replica that takes over once it has received the old primary's shutdown checkpoint. */
  readonly target: string;
  /** The failover job's pod that wrote the switchover. */
  readonly job: string;
  /** The old primary's shutdown checkpoint (an LSN), once written (a clean shutdown: no write comes after it) and recorded. */
  readonly checkpoint: string | undefined;
}

/** An unplanned failover: a job holds the record; no pod may be primary but the target. */
export interface FailingOverRecord extends RecordCommon {
  readonly state: 'failing-over';
  readonly previous: string;
  /** The replica the job promotes, once chosen (or asked for with FAILOVER_TARGET). */
  readonly target: string | undefined;
  readonly job: string;
}

export type LeaderRecord = StableRecord | SwitchingOverRecord | FailingOverRecord;

/** The Lease as the API returns it (only what the record needs). */
export interface LeaseObject {
  readonly metadata?: {
    readonly resourceVersion?: unknown;
    readonly annotations?: unknown;
  };
  readonly spec?: unknown;
}

/** A decoded Lease: the record and the resourceVersion to compare-and-swap on, or why it cannot be used. */
export type DecodedRecord =
  | { readonly ok: true; readonly record: LeaderRecord; readonly resourceVersion: string }
  | { readonly ok: false; readonly error: string };

/** The merge patch that changes the record: compare-and-swap on resourceVersion, the fields, holderIdentity mirroring the primary. */
export interface RecordPatch {
  readonly metadata: { readonly resourceVersion: string; readonly annotations: Readonly<Record<string, string>> };
  readonly spec: { readonly holderIdentity: string };
}

/** The Lease that creates the record. */
export interface RecordLease {
  readonly apiVersion: 'coordination.k8s.io/v1';
  readonly kind: 'Lease';
  readonly metadata: {
    readonly name: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  readonly spec: { readonly holderIdentity: string };
}

/** The annotation that holds a field. */
export function annotationOf(field: RecordField): string {
  return `${RECORD_PREFIX}/${field}`;
}

const KNOWN_ANNOTATIONS = new Set<string>([...RECORD_FIELDS, VERSION_FIELD].map(field => annotationOf(field as RecordField)));
// pg-node.sh and role-labeler.sh accept a checkpoint only in this form (pg_controldata's).
const LSN_PATTERN = /^[0-9A-F]+\/[0-9A-F]+$/;
const DECIMAL_PATTERN = /^[0-9]+$/;

class RecordError extends Error {}

function refuse(field: RecordField, problem: string): never {
  throw new RecordError(`${annotationOf(field)} ${problem}`);
}

/**
 * The record in a Lease as the API returns it, or an error that names the field at fault: a record that is
 * malformed, of an unknown state or of an unknown version is never guessed at (nothing may act on it).
 */
export function decodeRecord(lease: LeaseObject): DecodedRecord {
  try {
    return decodeOrThrow(lease);
  } catch (error) {
    if (error instanceof RecordError) return { ok: false, error: `malformed leader record: ${error.message}` };
    throw error;
  }
}

function decodeOrThrow(lease: LeaseObject): DecodedRecord {
  const { resourceVersion, annotations = {} } = lease?.metadata ?? {};
  if (typeof resourceVersion !== 'string' || resourceVersion === '') {
    throw new RecordError('metadata.resourceVersion is missing: a record without one cannot be compared-and-swapped');
  }
  if (typeof annotations !== 'object' || annotations === null || Array.isArray(annotations)) {
    throw new RecordError('metadata.annotations is not an object');
  }
  const values = new Map<string, string>();
  for (const [key, value] of Object.entries(annotations as Record<string, unknown>)) {
    if (!key.startsWith(`${RECORD_PREFIX}/`)) continue;
    if (!KNOWN_ANNOTATIONS.has(key)) throw new RecordError(`${key} is not a field of the record`);
    if (typeof value !== 'string') throw new RecordError(`${key} is not a string`);
    values.set(key, value);
  }
  // leader-record.sh reads a missing annotation as an empty one (a created record has no target, say).
  const text = (field: RecordField): string => values.get(annotationOf(field)) ?? '';

  const version = text(VERSION_FIELD);
  if (version !== '' && version !== String(RECORD_FORMAT_VERSION)) {
    refuse(VERSION_FIELD, `is unknown: "${version}" (this agent reads version ${RECORD_FORMAT_VERSION})`);
  }
  const common: RecordCommon = {
    version: RECORD_FORMAT_VERSION,
    epoch: positiveInteger('epoch', text('epoch')),
    timeline: positiveInteger('timeline', text('timeline')),
    systemIdentifier: systemIdentifier(text('system-identifier')),
    sync: podList('sync', text('sync')),
  };
  const state = text('state');
  let record: LeaderRecord;
  switch (state) {
    case 'stable':
      mustBeEmpty(state, ['target', 'previous', 'job', 'checkpoint'], text);
      record = { state, primary: required('primary', text('primary'), state), ...common };
      break;
    case 'switching-over':
      mustBeEmpty(state, ['primary'], text);
      record = {
        state,
        previous: required('previous', text('previous'), state),
        target: required('target', text('target'), state),
        job: required('job', text('job'), state),
        checkpoint: checkpoint(text('checkpoint')),
        ...common,
      };
      break;
    case 'failing-over':
      mustBeEmpty(state, ['primary', 'checkpoint'], text);
      record = {
        state,
        previous: required('previous', text('previous'), state),
        target: text('target') || undefined,
        job: required('job', text('job'), state),
        ...common,
      };
      break;
    case '':
      refuse('state', 'is missing');
    default:
      refuse('state', `is unknown: "${state}" (known: ${RECORD_STATES.join(', ')})`);
  }
  return { ok: true, record, resourceVersion };
}

function positiveInteger(field: RecordField, value: string): number {
  if (value === '') refuse(field, 'is missing');
  const number = Number(value);
  if (!DECIMAL_PATTERN.test(value) || !Number.isSafeInteger(number) || number < 1) {
    refuse(field, `is not a positive integer: "${value}"`);
  }
  return number;
}

function systemIdentifier(value: string): string | undefined {
  // init-replica.sh compares it only when it is set; role-labeler.sh may record it empty (pg_controldata failed).
  if (value === '') return undefined;
  if (!DECIMAL_PATTERN.test(value)) refuse('system-identifier', `is not a decimal number: "${value}"`);
  return value;
}

function checkpoint(value: string): string | undefined {
  if (value === '') return undefined;
  if (!LSN_PATTERN.test(value)) refuse('checkpoint', `is not an LSN such as 0/3000028: "${value}"`);
  return value;
}

function podList(field: RecordField, value: string): string[] {
  if (value === '') return [];
  const pods = value.split(',');
  const seen = new Set<string>();
  for (const pod of pods) {
    if (pod === '') refuse(field, `has an empty member: "${value}"`);
    if (seen.has(pod)) refuse(field, `lists ${pod} twice: "${value}"`);
    seen.add(pod);
  }
  return pods;
}

function required(field: RecordField, value: string, state: RecordState): string {
  if (value === '') refuse(field, `is missing (state ${state} needs it)`);
  return value;
}

function mustBeEmpty(state: RecordState, fields: RecordField[], text: (field: RecordField) => string): void {
  for (const field of fields) {
    if (text(field) !== '') refuse(field, `must be empty in state ${state}, got "${text(field)}"`);
  }
}

/** Every field of the record as leader-record.sh writes it (RECORD_FIELDS' order, "" for an empty field), then the version. */
export function encodeAnnotations(record: LeaderRecord): Record<string, string> {
  const fields: Record<typeof RECORD_FIELDS[number], string> = {
    'state': record.state,
    'primary': record.state === 'stable' ? record.primary : '',
    'epoch': String(record.epoch),
    'timeline': String(record.timeline),
    'system-identifier': record.systemIdentifier ?? '',
    'sync': record.sync.join(','),
    'target': record.state === 'stable' ? '' : record.target ?? '',
    'previous': record.state === 'stable' ? '' : record.previous,
    'job': record.state === 'stable' ? '' : record.job,
    'checkpoint': record.state === 'switching-over' ? record.checkpoint ?? '' : '',
  };
  const annotations: Record<string, string> = {};
  for (const field of RECORD_FIELDS) annotations[annotationOf(field)] = fields[field];
  annotations[annotationOf(VERSION_FIELD)] = String(record.version);
  return annotations;
}

/** The pod that spec.holderIdentity shows: the primary, or none while failing or switching over. */
export function holderOf(record: LeaderRecord): string {
  return record.state === 'stable' ? record.primary : '';
}

/**
 * The merge patch that replaces the record read at `resourceVersion` with `record` (as record_update sent it): the API
 * refuses it (409 Conflict) if anyone changed the record since.
 */
export function encodeRecordPatch(record: LeaderRecord, resourceVersion: string): RecordPatch {
  if (resourceVersion === '') throw new Error('a record patch needs the resourceVersion it replaces (compare-and-swap)');
  return {
    metadata: { resourceVersion, annotations: encodeAnnotations(record) },
    spec: { holderIdentity: holderOf(record) },
  };
}

/** The Lease that creates the record (as record_create made it); the API refuses it, 409 AlreadyExists, if one exists. */
export function encodeRecordLease(name: string, labels: Readonly<Record<string, string>>, record: LeaderRecord): RecordLease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, labels, annotations: encodeAnnotations(record) },
    spec: { holderIdentity: holderOf(record) },
  };
}

/** One line for a log, as record_describe prints it. */
export function describeRecord(record: LeaderRecord | undefined): string {
  if (record === undefined) return 'no leader record';
  let line = `epoch ${record.epoch}, ${record.state}, primary ${holderOf(record) || '(none)'}, timeline ${record.timeline}`;
  if (record.sync.length > 0) line += `, synchronous standbys ${record.sync.join(',')}`;
  if (record.state !== 'stable') line += ` (job ${record.job}: ${record.previous} -> ${record.target ?? '?'})`;
  if (record.state === 'switching-over' && record.checkpoint !== undefined) line += `, shutdown checkpoint ${record.checkpoint}`;
  return line;
}
