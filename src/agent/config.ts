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
  return readDocument<SidecarConfig>(text, source, 'sidecar configuration', SIDECAR_CONFIG_VERSION, document => {
    const { version: _version, users, timing, automaticFailover, ...rest } = document;
    const problems = [...problemsOf('', rest, FIELDS), ...problemsOf('users.', users, USERS), ...problemsOf('timing.', timing, TIMING),
      ...problemsOf('automaticFailover.', automaticFailover, AUTOMATIC_FAILOVER)];
    if (problems.length > 0) return problems;
    return orderProblems(timing as unknown as SidecarTiming, automaticFailover as unknown as AutomaticFailoverConfig);
  });
}

/**
 * A configuration document of one version from its text, checked by `check` (the problems of an object of that version),
 * or an Error that lists every problem and says how to fix it.
 */
function readDocument<T>(text: string, source: string, what: string, version: number, check: (document: Record<string, unknown>) => string[]): T {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not JSON (${(error as Error).message}); it is written by the library at synth: synthesize the manifests again`);
  }
  const problems: string[] = [];
  if (!isObject(document)) {
    problems.push('the document must be a JSON object');
  } else if (document.version !== version) {
    problems.push(`version is ${JSON.stringify(document.version)}: this agent reads version ${version}`);
  } else {
    problems.push(...check(document));
  }
  if (problems.length > 0) {
    throw new Error(`${source}: invalid ${what}: ${problems.join('; ')}. The document is written by the library at `
      + 'synth: synthesize the manifests with the library version whose agent runs, and apply them again.');
  }
  return document as unknown as T;
}

/** The agent's command that runs the failover job (`node agent.js failover`): its document is the variable FAILOVER_JOB_CONFIG. */
export const FAILOVER_COMMAND = 'failover';

/** The failover job's document's format; a document of another version is refused. */
export const FAILOVER_JOB_CONFIG_VERSION = 1;

/** How long the failover job waits for each thing, in seconds; a run may override each with its variable (FAILOVER_RUN_VARIABLES). */
export interface FailoverJobTimeouts {
  /** A pod told to fence itself (and a switchover's old primary) has this long to stop and report its shutdown checkpoint. */
  readonly fenceSeconds: number;
  /** How long replicas may take to write the WAL that was in flight when the primary was lost. */
  readonly settleSeconds: number;
  /**
   * How long replicas whose WAL receivers the job ended may take to show that they stream again (from a primary that
   * serves): longer than a primary in failsafe mode serves on once a replica stops replying to it (3 s).
   */
  readonly reconnectSeconds: number;
  /** How long a switchover target may take to receive the old primary's shutdown checkpoint. */
  readonly switchoverSeconds: number;
  /** How long replicas may take to stream from the new primary before they are restarted (and as long again after). */
  readonly followSeconds: number;
  /** How long the new primary's sidecar may take to promote it once the record names it. */
  readonly promoteSeconds: number;
}

/**
 * The failover job's configuration document (the CronJob's FAILOVER_JOB_CONFIG variable, written by FailoverJob at
 * synth): everything a run needs but what a person chooses per run (FAILOVER_TARGET and the others: failoverRunOf).
 */
export interface FailoverJobConfig {
  readonly version: typeof FAILOVER_JOB_CONFIG_VERSION;
  /** The leader record (a Lease) in the job's namespace. */
  readonly leaderRecord: string;
  /** Selects the cluster's pods. */
  readonly clusterSelector: string;
  /** Selects the pods of this cluster's failover jobs: a record held by one that still runs is not taken over. */
  readonly jobSelector: string;
  /** The label the write and read Services select on. */
  readonly roleLabel: string;
  /** The pods' PostgreSQL container, where nodeScript runs (`kubectl exec`). */
  readonly postgresContainer: string;
  /** The pods' sidecar, whose agent fences its pod: it shares the pod's processes and data and outlives PostgreSQL's container. */
  readonly sidecarContainer: string;
  /** pg-node.sh in the postgres container: `status`, `reconnect`, `restart`. */
  readonly nodeScript: string;
  /** The agent's bundle in the sidecar (`node <agent> fence|status <agentConfig>`). */
  readonly agent: string;
  /** The sidecar's configuration document. */
  readonly agentConfig: string;
  /** Standbys that must confirm each commit; 0: asynchronous. */
  readonly synchronousReplicas: number;
  /** A primary's sidecar that cannot read the record this long fences its pod. */
  readonly isolationFenceSeconds: number;
  /** Bound on every call to the API server but exec. */
  readonly apiTimeoutSeconds: number;
  readonly timeouts: FailoverJobTimeouts;
}

const JOB_FIELDS: Readonly<Record<Exclude<keyof FailoverJobConfig, 'version' | 'timeouts'>, Kind>> = {
  leaderRecord: 'name',
  clusterSelector: 'selector',
  jobSelector: 'selector',
  roleLabel: 'name',
  postgresContainer: 'name',
  sidecarContainer: 'name',
  nodeScript: 'path',
  agent: 'path',
  agentConfig: 'path',
  synchronousReplicas: 'count',
  isolationFenceSeconds: 'seconds',
  apiTimeoutSeconds: 'seconds',
};

const JOB_TIMEOUTS: Readonly<Record<keyof FailoverJobTimeouts, Kind>> = {
  fenceSeconds: 'seconds',
  settleSeconds: 'seconds',
  reconnectSeconds: 'seconds',
  switchoverSeconds: 'seconds',
  followSeconds: 'seconds',
  promoteSeconds: 'seconds',
};

/** The failover job's configuration from its document, or an Error that lists every problem and says how to fix it. */
export function parseFailoverJobConfig(text: string, source: string): FailoverJobConfig {
  return readDocument<FailoverJobConfig>(text, source, 'failover job configuration', FAILOVER_JOB_CONFIG_VERSION, document => {
    const { version: _version, timeouts, ...rest } = document;
    return [...problemsOf('', rest, JOB_FIELDS), ...problemsOf('timeouts.', timeouts, JOB_TIMEOUTS)];
  });
}

/** The variables a person may set on one run of the failover job, and the timeout each overrides. */
export const FAILOVER_RUN_VARIABLES = {
  FENCE_TIMEOUT_SECONDS: 'fenceSeconds',
  SETTLE_SECONDS: 'settleSeconds',
  RECONNECT_SECONDS: 'reconnectSeconds',
  SWITCHOVER_TIMEOUT_SECONDS: 'switchoverSeconds',
  FOLLOW_TIMEOUT_SECONDS: 'followSeconds',
  PROMOTE_TIMEOUT_SECONDS: 'promoteSeconds',
} as const satisfies Readonly<Record<string, keyof FailoverJobTimeouts>>;

/** What one run is asked for. */
export interface FailoverRun {
  /** FAILOVER_TARGET: the pod to promote (a switchover while the primary serves); undefined: the most advanced replica, only if the primary is lost. */
  readonly target: string | undefined;
  /** SCALE_DOWN_TO: the number of pods the cluster is about to be scaled to; the primary must end up on one that stays. */
  readonly scaleDownTo: number | undefined;
  /** FAILOVER_ACCEPT_DATA_LOSS=true: in synchronous mode, promote the most advanced replica even if it may lack acknowledged commits. */
  readonly acceptDataLoss: boolean;
  /** The document's timeouts with the run's overrides. */
  readonly timeouts: FailoverJobTimeouts;
}

/**
 * The run's request from its environment (an empty variable counts as unset), or an Error naming each variable that
 * is not what it must be, and the value it had.
 */
export function failoverRunOf(env: Readonly<Record<string, string | undefined>>, timeouts: FailoverJobTimeouts): FailoverRun {
  const problems: string[] = [];
  const set = (name: string): string | undefined => (env[name] ?? '') === '' ? undefined : env[name];
  const target = set('FAILOVER_TARGET');
  if (target !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(target)) {
    problems.push(`FAILOVER_TARGET is ${JSON.stringify(target)}: it must name a pod of the cluster, such as postgres-cluster-1`);
  }
  const scale = set('SCALE_DOWN_TO');
  if (scale !== undefined && !/^[1-9][0-9]*$/.test(scale)) {
    problems.push(`SCALE_DOWN_TO must be the number of pods you will scale to (1 or more), got ${JSON.stringify(scale)}`);
  }
  const accept = set('FAILOVER_ACCEPT_DATA_LOSS') ?? 'false';
  if (accept !== 'true' && accept !== 'false') problems.push(`FAILOVER_ACCEPT_DATA_LOSS is ${JSON.stringify(accept)}: it must be true or false`);
  const overridden: Record<string, number> = { ...timeouts };
  for (const [variable, field] of Object.entries(FAILOVER_RUN_VARIABLES)) {
    const value = set(variable);
    if (value === undefined) continue;
    if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || Number(value) <= 0) problems.push(`${variable} is ${JSON.stringify(value)}: it must be a number of seconds > 0`);
    else overridden[field] = Number(value);
  }
  if (problems.length > 0) throw new Error(`invalid run of the failover job: ${problems.join('; ')}`);
  return {
    target,
    scaleDownTo: scale === undefined ? undefined : Number(scale),
    acceptDataLoss: accept === 'true',
    timeouts: overridden as unknown as FailoverJobTimeouts,
  };
}

/** The agent's command that copies the logical backup's newest dump into a bucket (`node agent.js copy-dump`). */
export const DUMP_COPY_COMMAND = 'copy-dump';

/** The dump copy's document's format (DUMP_COPY_CONFIG); a document of another version is refused. */
export const DUMP_COPY_CONFIG_VERSION = 1;

/**
 * The logical backup's copy into an S3 bucket (backupS3), written by the library into the job's variable
 * DUMP_COPY_CONFIG. The access key comes from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the Secret), never from here.
 */
export interface DumpCopyConfig {
  readonly version: typeof DUMP_COPY_CONFIG_VERSION;
  /** The backup volume's mount, with the dumps `<database>-<UTC time>.dump`. */
  readonly dumpDir: string;
  /** The database whose dumps are copied. */
  readonly database: string;
  /** Dumps kept in the bucket (the newest). */
  readonly retention: number;
  /** The bucket. */
  readonly bucket: string;
  /** The directory in the bucket ("/postgres/logical"). */
  readonly path: string;
  /** The endpoint's host. */
  readonly endpoint: string;
  /** Its port. */
  readonly port: number;
  /** The region that requests are signed for. */
  readonly region: string;
  /** "host" (the bucket in the host name) or "path". */
  readonly uriStyle: string;
  /** Whether the endpoint's certificate is verified (against the system's CAs and NODE_EXTRA_CA_CERTS). */
  readonly verifyTls: boolean;
}

const DUMP_COPY_FIELDS: Readonly<Record<Exclude<keyof DumpCopyConfig, 'version'>, Kind>> = {
  dumpDir: 'path',
  database: 'name',
  retention: 'count',
  bucket: 'name',
  path: 'path',
  endpoint: 'name',
  port: 'port',
  region: 'name',
  uriStyle: 'name',
  verifyTls: 'boolean',
};

/** The dump copy's configuration from its document, or an Error that lists every problem and says how to fix it. */
export function parseDumpCopyConfig(text: string, source: string): DumpCopyConfig {
  return readDocument<DumpCopyConfig>(text, source, 'dump copy configuration', DUMP_COPY_CONFIG_VERSION, document => {
    const { version: _version, ...rest } = document;
    const problems = problemsOf('', rest, DUMP_COPY_FIELDS);
    if (problems.length > 0) return problems;
    if (rest.uriStyle !== 'host' && rest.uriStyle !== 'path') problems.push(`uriStyle is ${JSON.stringify(rest.uriStyle)}: it must be "host" or "path"`);
    if ((rest.retention as number) < 1) problems.push('retention is 0: it must keep at least 1 dump');
    return problems;
  });
}
