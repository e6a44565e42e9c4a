// The one contract between the constructs and the agent: the sidecar's configuration document, a JSON key of the
// scripts ConfigMap that PostgresStatefulSet writes (`agent.json`) and the agent reads at start. The constructs build
// it from this interface; the agent refuses a document that does not match it, naming the setting and the fix, and
// never falls back to a default (a missing synchronousReplicas must not mean asynchronous replication).
// Pure: parseSidecarConfig takes the text, not a path.

/** The document's format; a document of another version is refused. */
export const SIDECAR_CONFIG_VERSION = 1;

/** The sidecar's timers, in seconds. */
export interface SidecarTiming {
  /** A round of the sidecar at least this often (the record is also watched). */
  readonly pollSeconds: number;
  /** The role label is re-applied this often, in case someone edited it. */
  readonly reassertSeconds: number;
  /** A primary that cannot read the leader record this long fences itself. */
  readonly isolationFenceSeconds: number;
  /** A replica not streaming this long checks whether the primary still has the WAL it needs. */
  readonly walCheckSeconds: number;
  /** The primary's slots, synchronous set and recorded timeline are checked at least this often. */
  readonly maintainSeconds: number;
  /** Bound on every call to the API server but watches. */
  readonly apiTimeoutSeconds: number;
}

/**
 * Automatic failover (opt-in): the primary's agent renews the leader record's lease (spec.renewTime) and fences itself
 * when it cannot; a replica's agent takes over when the lease has lapsed on its own monotonic clock.
 */
export interface AutomaticFailoverConfig {
  /** false: nothing below is used; the primary removes a lease a previous configuration left on the record. */
  readonly enabled: boolean;
  /** A replica takes over this long after it last saw the lease renewed (spec.leaseDurationSeconds). */
  readonly leaseSeconds: number;
  /** The primary renews this often. */
  readonly renewSeconds: number;
  /** A primary whose last successful renewal began this long ago fences itself (well before leaseSeconds). */
  readonly renewDeadlineSeconds: number;
  /** A primary whose PostgreSQL stopped serving keeps renewing this long, for a restart in place. */
  readonly primaryRestartGraceSeconds: number;
  /** No automatic failover within this long of the last change of primary this agent saw. */
  readonly minimumIntervalSeconds: number;
  /** A replica further than this behind the primary's last published WAL position never takes over. */
  readonly maximumLagBytes: number;
  /**
   * The heartbeat fence's file (lease-fence.sh): after each successful renewal, the /proc/uptime in hundredths of a
   * second at which this renewal's deadline passes; removed when this pod is not the primary.
   */
  readonly deadlineFile: string;
}

/** The role names the cluster uses. */
export interface SidecarUsers {
  readonly superuser: string;
  readonly replication: string;
  /** The application's role; empty: none. */
  readonly app: string;
  /** Who the sidecar connects to the primary as over the network (the replication role, or the superuser before 15). */
  readonly network: string;
}

/** Everything the sidecar needs that is the same for every pod of a cluster (the pod's name comes from POD_NAME). */
export interface SidecarConfig {
  readonly version: typeof SIDECAR_CONFIG_VERSION;
  /** The leader record (a Lease) in the pod's namespace. */
  readonly leaderRecord: string;
  /** Labels of a Lease the sidecar creates. */
  readonly recordLabels: Readonly<Record<string, string>>;
  /** Selects the cluster's pods (`a=b,c=d`). */
  readonly clusterSelector: string;
  /** The cluster's StatefulSet (updateStrategy OnDelete): the primary's agent rolls its pods to its update revision. */
  readonly statefulSet: string;
  /** The label the write and read Services select on (`role`). */
  readonly roleLabel: string;
  /** The write Service's name: the primary, as the other pods reach it. */
  readonly primaryHost: string;
  readonly port: number;
  readonly pgdata: string;
  /** PostgreSQL's Unix socket directory, shared by the pod's containers. */
  readonly socketDir: string;
  /** The copy of the record the entrypoint reads (key=value lines) while it waits to be listed as a synchronous standby. */
  readonly recordFile: string;
  /** An Event the entrypoint (which has no API token) asks the sidecar to post about the pod: one line `<type> <reason> <message>`. */
  readonly eventFile: string;
  /**
   * The plan the sidecar hands the entrypoint (start.ts startPlanText), in answer to `<startPlanFile>.wanted`, the
   * entrypoint's request (one line: its id, which the plan repeats).
   */
  readonly startPlanFile: string;
  /** restoreFrom: a new cluster's first primary restores a pgBackRest backup instead of initdb. */
  readonly restoreFrom: boolean;
  readonly users: SidecarUsers;
  /** The application's database. */
  readonly appDatabase: string;
  /** The mounted Secret with keys `password` and `replication-password`. */
  readonly secretDir: string;
  /** The mounted application Secret (key `password`). */
  readonly appSecretDir: string;
  /** The mounted ConfigMap with postgresql.conf and pg_hba.conf: a change is reloaded. */
  readonly configDir: string;
  /** The mounted server certificate's Secret (tlsSecretName): a renewed one is reloaded. Empty: none. */
  readonly tlsSecretDir: string;
  /** The pod's libpq password file, which the sidecar keeps as the Secrets say. */
  readonly passwordFile: string;
  /** Whether the sidecar's connections to the primary over the network use TLS. */
  readonly tls: boolean;
  /** Standbys that must confirm each commit; 0: asynchronous. */
  readonly synchronousReplicas: number;
  /** The major of PostgreSQL the pods run (postgresVersion): a pod starts only on data of that major. */
  readonly postgresVersion: number;
  /** The headless Service's domain: a pod is `<pod>.<peerDomain>` on the pod network. */
  readonly peerDomain: string;
  readonly timing: SidecarTiming;
  readonly automaticFailover: AutomaticFailoverConfig;
}

type Kind = 'string' | 'name' | 'path' | 'optional-path' | 'selector' | 'count' | 'seconds' | 'port' | 'boolean' | 'labels';

const TIMING: Readonly<Record<keyof SidecarTiming, Kind>> = {
  pollSeconds: 'seconds',
  reassertSeconds: 'seconds',
  isolationFenceSeconds: 'seconds',
  walCheckSeconds: 'seconds',
  maintainSeconds: 'seconds',
  apiTimeoutSeconds: 'seconds',
};

const AUTOMATIC_FAILOVER: Readonly<Record<keyof AutomaticFailoverConfig, Kind>> = {
  enabled: 'boolean',
  leaseSeconds: 'seconds',
  renewSeconds: 'seconds',
  renewDeadlineSeconds: 'seconds',
  primaryRestartGraceSeconds: 'seconds',
  minimumIntervalSeconds: 'count',
  maximumLagBytes: 'count',
  deadlineFile: 'path',
};

const USERS: Readonly<Record<keyof SidecarUsers, Kind>> = { superuser: 'name', replication: 'name', app: 'string', network: 'name' };

/** Every setting of the document but version, users and timing, with what it must be. */
const FIELDS: Readonly<Record<Exclude<keyof SidecarConfig, 'version' | 'users' | 'timing' | 'automaticFailover'>, Kind>> = {
  leaderRecord: 'name',
  recordLabels: 'labels',
  clusterSelector: 'selector',
  statefulSet: 'name',
  roleLabel: 'name',
  primaryHost: 'name',
  port: 'port',
  pgdata: 'path',
  socketDir: 'path',
  recordFile: 'path',
  eventFile: 'path',
  startPlanFile: 'path',
  restoreFrom: 'boolean',
  appDatabase: 'name',
  secretDir: 'path',
  appSecretDir: 'path',
  configDir: 'path',
  tlsSecretDir: 'optional-path',
  passwordFile: 'path',
  tls: 'boolean',
  synchronousReplicas: 'count',
  postgresVersion: 'count',
  peerDomain: 'name',
};

const WHAT: Readonly<Record<Kind, string>> = {
  'string': 'a string',
  'name': 'a non-empty string without whitespace',
  'path': 'an absolute path',
  'optional-path': 'an absolute path or ""',
  'selector': 'a label selector such as "app=pg,cluster=main"',
  'count': 'an integer ≥ 0',
  'seconds': 'a number of seconds > 0',
  'port': 'an integer from 1 to 65535',
  'boolean': 'true or false',
  'labels': 'an object of string values',
};

function fits(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case 'string': return typeof value === 'string';
    case 'name': return typeof value === 'string' && /^\S+$/.test(value);
    case 'path': return typeof value === 'string' && /^\/\S*$/.test(value);
    case 'optional-path': return value === '' || fits('path', value);
    case 'selector': return typeof value === 'string' && /^[^\s=,]+=[^\s=,]*(,[^\s=,]+=[^\s=,]*)*$/.test(value);
    case 'count': return Number.isSafeInteger(value) && (value as number) >= 0;
    case 'seconds': return typeof value === 'number' && Number.isFinite(value) && value > 0;
    case 'port': return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
    case 'boolean': return typeof value === 'boolean';
    default: return isObject(value) && Object.values(value).every(v => typeof v === 'string');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The problems of one object against its fields: missing, unknown, or not of its kind. */
function problemsOf(where: string, value: unknown, fields: Readonly<Record<string, Kind>>): string[] {
  if (!isObject(value)) return [`${where.slice(0, -1)} must be an object`];
  const problems: string[] = [];
  for (const [name, kind] of Object.entries(fields)) {
    if (!(name in value)) problems.push(`${where}${name} is missing (${WHAT[kind]})`);
    else if (!fits(kind, value[name])) problems.push(`${where}${name} is ${JSON.stringify(value[name])}: it must be ${WHAT[kind]}`);
  }
  for (const name of Object.keys(value)) {
    if (!(name in fields)) problems.push(`${where}${name} is not a setting of this version of the agent`);
  }
  return problems;
}

/** Timers that only work in one order. */
function orderProblems(timing: SidecarTiming, failover: AutomaticFailoverConfig): string[] {
  const problems: string[] = [];
  if (timing.isolationFenceSeconds <= timing.pollSeconds) {
    problems.push('timing.isolationFenceSeconds must be longer than timing.pollSeconds: a primary would fence itself between two rounds');
  }
  if (failover.renewDeadlineSeconds <= failover.renewSeconds) {
    problems.push('automaticFailover.renewDeadlineSeconds must be longer than automaticFailover.renewSeconds: a primary would fence itself between two renewals');
  }
  if (failover.leaseSeconds <= failover.renewDeadlineSeconds) {
    problems.push('automaticFailover.leaseSeconds must be longer than automaticFailover.renewDeadlineSeconds: a replica could take over before the primary fenced itself');
  }
  return problems;
}

/**
 * The sidecar's configuration from its document, or an Error that lists every problem (each naming the setting, what
 * it is and what it must be), and says how to fix it: synthesize the manifests with the same version of the library
 * as the agent's.
 */
export function parseSidecarConfig(text: string, source: string): SidecarConfig {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not JSON (${(error as Error).message}); it is written by the library at synth: synthesize the manifests again`);
  }
  const problems: string[] = [];
  if (!isObject(document)) {
    problems.push('the document must be a JSON object');
  } else if (document.version !== SIDECAR_CONFIG_VERSION) {
    problems.push(`version is ${JSON.stringify(document.version)}: this agent reads version ${SIDECAR_CONFIG_VERSION}`);
  } else {
    const { version: _version, users, timing, automaticFailover, ...rest } = document;
    problems.push(...problemsOf('', rest, FIELDS), ...problemsOf('users.', users, USERS), ...problemsOf('timing.', timing, TIMING),
      ...problemsOf('automaticFailover.', automaticFailover, AUTOMATIC_FAILOVER));
    if (problems.length === 0) {
      problems.push(...orderProblems(timing as unknown as SidecarTiming, automaticFailover as unknown as AutomaticFailoverConfig));
    }
  }
  if (problems.length > 0) {
    throw new Error(`${source}: invalid sidecar configuration: ${problems.join('; ')}. The document is written by the library at `
      + 'synth: synthesize the manifests with the library version whose agent runs, and apply them again.');
  }
  return document as unknown as SidecarConfig;
}
