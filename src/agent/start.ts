// What a pod's postgres container does at start, decided from facts (once init-replica.sh's `decide`). Pure: the sidecar's
// agent gathers the facts when the entrypoint asks (the start-plan request file), decides, and hands the entrypoint the
// plan as text (startPlanText); the entrypoint, which has no API token and no Node.js, carries out its steps in order.
import { describeRecord, LeaderRecord, StableRecord } from './record';

/** The settings a hot standby must run with at least as high as its primary's (PostgreSQL refuses to start otherwise). */
export const HOT_STANDBY_SETTINGS = ['max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction'] as const;
export type HotStandbySetting = typeof HOT_STANDBY_SETTINGS[number];
export type HotStandbyValues = Readonly<Record<HotStandbySetting, number>>;

/** The leader record as the sidecar read it after the entrypoint asked for a plan. */
export type RecordCopy =
  /** The record could not be read after the entrypoint asked (the API does not answer): the entrypoint waits. */
  | { readonly kind: 'stale' }
  /** The copy could not be decoded (record.ts refused it): never acted on. */
  | { readonly kind: 'malformed'; readonly error: string }
  /** A fresh copy: the record, or undefined when there is none. */
  | { readonly kind: 'read'; readonly record: LeaderRecord | undefined };

/** The data directory ($PGDATA) after the remains of an interrupted clone or initialization were removed. */
export type DataDirectory =
  /** No PG_VERSION, and nothing else in it (or no directory). */
  | { readonly kind: 'empty' }
  /** No PG_VERSION, but files: not ours to delete. */
  | { readonly kind: 'not-a-data-directory' }
  /** A PG_VERSION (its major: `version`), but a global/pg_control that cannot be read (a layout this agent does not know, say). */
  | { readonly kind: 'unreadable'; readonly reason: string; readonly version: string }
  | {
    readonly kind: 'data';
    /** PG_VERSION: the major whose server wrote it. */
    readonly version: string;
    /** pg_controldata's "Database system identifier". */
    readonly systemIdentifier: string;
    /** The newer of pg_control's latest checkpoint timeline and the highest pg_wal/*.history (local_timeline). */
    readonly timeline: number;
    /** standby.signal exists: a replica's data (or a fenced primary's). */
    readonly standbySignal: boolean;
    /** pg_control says "shut down" or "shut down in recovery". */
    readonly shutDownCleanly: boolean;
    /** pg_control says "shut down in recovery" or "in archive recovery": a replica's data, not a (fenced) primary's. */
    readonly recoveryState: boolean;
    /** The entrypoint initialized it, and no record has named its cluster yet (the initialized-by-entrypoint file). */
    readonly initializedByEntrypoint: boolean;
    /** pg_control's hot-standby settings: those of the server that wrote the WAL, as last replayed here. */
    readonly hotStandby: HotStandbyValues;
  };

export interface StartFacts {
  readonly podName: string;
  readonly record: RecordCopy;
  readonly data: DataDirectory;
  /** The sidecar asked for a new clone (the reclone-requested file on the volume). */
  readonly recloneRequested: boolean;
  /** restoreFrom: a new cluster's first primary restores a pgBackRest backup instead of initdb (RESTORE_STANZA set). */
  readonly restoreFrom: boolean;
  /** SYNC_REPLICAS: in synchronous mode (> 0), a replica streams only once the record lists it. */
  readonly syncReplicas: number;
  /** The major of the server this pod runs (postgresVersion): it starts only on data of the same major. */
  readonly postgresVersion: number;
  /**
   * The hot-standby settings this pod's server is configured with (postgresql.conf, then postgresql.auto.conf, then
   * PostgreSQL's defaults); undefined when the configuration cannot be read.
   */
  readonly configured: HotStandbyValues | undefined;
  /** The recorded primary accepts connections (pg_isready); consulted only where init-replica.sh asks. */
  readonly recordedPrimaryAnswers: boolean;
  /**
   * The recorded primary's own timeline now (primary_timeline), undefined when it does not answer; asked only when this
   * pod's data is on a newer timeline than the record's (check_unrecorded_promotion).
   */
  readonly recordedPrimaryTimeline: number | undefined;
}

/** What the executor does when a step fails: wait RETRY_SECONDS and decide again, or exit (the container restarts). */
export type OnFailure = 'wait' | 'exit';

export type StartStep =
  /** Move $PGDATA aside to $PGDATA.diverged; `keep: false` then deletes it. */
  | { readonly do: 'discard-data'; readonly keep: boolean }
  | { readonly do: 'remove-reclone-marker' }
  | { readonly do: 'remove-init-marker' }
  | { readonly do: 'remove-standby-signal' }
  /** initdb, roles, init scripts, in $PGDATA.init, renamed when done (initialize_cluster). */
  | { readonly do: 'initialize' }
  /** pgBackRest restore, replay, promote, in $PGDATA.init, renamed when done (restore_cluster). */
  | { readonly do: 'restore'; readonly onFailure: OnFailure }
  /** Wait until a fresh copy of the record lists this pod in `sync` (await_sync_membership). */
  | { readonly do: 'await-sync-membership' }
  /** pg_basebackup from the pod (clone_from). */
  | { readonly do: 'clone'; readonly from: string; readonly onFailure: OnFailure }
  /**
   * The WAL of the timelines after `after` up to `through` (history files, then segments newest first, up to
   * DIVERGED_WAL_LIMIT_MB) copied to a directory of their own on the volume, an UnrecordedPromotion Event asked of the
   * sidecar (keep_diverged_wal).
   */
  | { readonly do: 'keep-diverged-wal'; readonly after: number; readonly through: number; readonly primary: string }
  /** CHECKPOINT on the pod, crash recovery here if needed, pg_rewind from it; if that fails, a new clone (rewind_from || reclone_from). */
  | { readonly do: 'rewind'; readonly from: string; readonly onFailure: OnFailure }
  /**
   * exec postgres: the last step of a start. `settings`: hot-standby settings a replica starts with instead of its
   * configured ones (`-c name=value`), as its primary's WAL requires more (hotStandbyRaises).
   */
  | { readonly do: 'start'; readonly as: 'primary' | 'replica'; readonly settings?: readonly SettingValue[] }
  /** Sleep (RETRY_SECONDS, or BOOTSTRAP_RETRY_SECONDS while pod 0 initializes), then decide again. */
  | { readonly do: 'wait'; readonly retry: 'normal' | 'bootstrap' }
  /** Decide again at once (with a fresh copy of the record). */
  | { readonly do: 'decide-again' }
  /** Stop with an error that a person must act on (exit 1). */
  | { readonly do: 'fail' };

/** A setting and the value a server starts with. */
export interface SettingValue {
  readonly name: HotStandbySetting;
  readonly value: number;
}

export interface StartPlan {
  readonly steps: readonly StartStep[];
  /** One line for the log: why. */
  readonly reason: string;
}

/**
 * A plan that only waits for pod 0 to initialize the cluster ('wait bootstrap'): the agent may hold its answer a little,
 * so that the round the record's change wakes answers with the plan that follows.
 */
export function isBootstrapWait(decided: StartPlan): boolean {
  const [only, ...more] = decided.steps;
  return more.length === 0 && only?.do === 'wait' && only.retry === 'bootstrap';
}

/** init-replica.sh's ORDINAL=${POD_NAME##*-}, compared as text with "0". */
function isPodZero(podName: string): boolean {
  return podName.slice(podName.lastIndexOf('-') + 1) === '0';
}

function plan(reason: string, ...steps: StartStep[]): StartPlan {
  return { steps, reason };
}

const WAIT: StartStep = { do: 'wait', retry: 'normal' };

/** What a pod's postgres container does at start, and why (init-replica.sh main and decide). */
export function decideStart(facts: StartFacts): StartPlan {
  if (facts.data.kind === 'not-a-data-directory') {
    return plan('the data directory is not a PostgreSQL data directory (no PG_VERSION) but is not empty: move its files away, then restart the pod', { do: 'fail' });
  }
  if ((facts.data.kind === 'data' || facts.data.kind === 'unreadable') && facts.data.version !== String(facts.postgresVersion)) {
    return plan(`the data directory is PostgreSQL ${facts.data.version}'s (PG_VERSION), and this pod runs PostgreSQL ${facts.postgresVersion}: `
      + `a server never starts on another major's data. Set postgresVersion back to ${facts.data.version} and apply, or upgrade `
      + '(README: Major-version upgrades)', { do: 'fail' });
  }
  if (facts.data.kind === 'unreadable') {
    return plan(`the data directory's pg_control cannot be read (${facts.data.reason}): refusing to guess what this data is`, { do: 'fail' });
  }
  if (facts.record.kind === 'stale') {
    return plan('the role-labeler sidecar cannot read the leader record now: waiting, never deciding on an older read', WAIT);
  }
  if (facts.record.kind === 'malformed') {
    return plan(`the leader record cannot be used (${facts.record.error}): waiting for a person to repair it`, WAIT);
  }
  const record = facts.record.record;
  const data = facts.data;
  // A re-clone is done only for a replica of a recorded primary that is another pod: its data goes, then it clones.
  const reclone = record?.state === 'stable' && facts.recloneRequested && data.kind === 'data' && record.primary !== facts.podName && data.standbySignal;
  const first: StartStep[] = reclone ? [{ do: 'discard-data', keep: false }] : [];
  if (facts.recloneRequested) first.push({ do: 'remove-reclone-marker' });
  if (reclone) {
    const decided = decideEmpty(facts, record);
    return { steps: [...first, ...decided.steps], reason: `the sidecar found that the primary no longer keeps the WAL this replica needs: discarding its data; ${decided.reason}` };
  }
  const decided = data.kind === 'empty'
    ? decideEmpty(facts, record)
    : withHotStandbySettings(decideWithData(facts, record, data), hotStandbyRaises(facts.configured, data.hotStandby));
  return { steps: [...first, ...decided.steps], reason: decided.reason };
}

/**
 * The hot-standby settings configured lower than the WAL this data last replayed requires: a replica started with them
 * would stop at once ("recovery aborted because of insufficient parameter settings"). That is a rolling update that
 * lowers one (`max_connections`, say): the replicas restart first, while the primary still runs with the higher value.
 * Such a replica starts with the WAL's value instead; the lower one takes effect once its primary runs with it.
 */
export function hotStandbyRaises(configured: HotStandbyValues | undefined, required: HotStandbyValues): SettingValue[] {
  if (configured === undefined) return [];
  return HOT_STANDBY_SETTINGS.filter(name => configured[name] < required[name]).map(name => ({ name, value: required[name] }));
}

/** The plan with a replica's start raised to the WAL's settings, and its reason saying so. */
function withHotStandbySettings(decided: StartPlan, raises: readonly SettingValue[]): StartPlan {
  if (raises.length === 0 || !decided.steps.some(step => step.do === 'start' && step.as === 'replica')) return decided;
  const said = raises.map(raise => `${raise.name} ${raise.value}`).join(', ');
  return {
    steps: decided.steps.map(step => (step.do === 'start' && step.as === 'replica' ? { ...step, settings: raises } : step)),
    reason: `${decided.reason}; with ${said} (the primary's WAL requires at least that on a replica, more than configured: the configured `
      + 'value takes effect once the primary runs with it)',
  };
}

function decideEmpty(facts: StartFacts, record: LeaderRecord | undefined): StartPlan {
  if (record === undefined) {
    if (!isPodZero(facts.podName)) {
      return plan('no leader record yet and an empty volume: waiting for pod 0 to initialize the cluster', { do: 'wait', retry: 'bootstrap' });
    }
    if (facts.restoreFrom) {
      return plan('no leader record exists and the volume is empty: restoring the backup (restoreFrom), with this pod as the new cluster\'s primary',
        { do: 'restore', onFailure: 'wait' }, { do: 'start', as: 'primary' });
    }
    return plan('no leader record exists and the volume is empty: initializing a new cluster, with this pod as its primary',
      { do: 'initialize' }, { do: 'start', as: 'primary' });
  }
  if (record.state !== 'stable') {
    return plan(`an empty volume, and a failover job holds the leader record (${describeRecord(record)}): waiting for its end`, WAIT);
  }
  if (record.primary === facts.podName) {
    return plan('the leader record names this pod as the primary, but its volume is empty: its data is lost. Never initializing a second cluster: '
      + `start the failover job to promote a replica (${describeRecord(record)})`, WAIT);
  }
  return plan(`an empty volume: cloning from the recorded primary ${record.primary}, then starting as its replica`,
    ...syncMembership(facts), { do: 'clone', from: record.primary, onFailure: 'wait' }, { do: 'start', as: 'replica' });
}

function decideWithData(facts: StartFacts, record: LeaderRecord | undefined, data: Extract<DataDirectory, { kind: 'data' }>): StartPlan {
  if (record?.systemIdentifier !== undefined && record.systemIdentifier !== data.systemIdentifier) {
    if (data.initializedByEntrypoint) {
      return plan(`another pod created the cluster's leader record first (system identifier ${record.systemIdentifier}); `
        + `this pod's new cluster (${data.systemIdentifier}) was never used: discarding it`, { do: 'discard-data', keep: true }, { do: 'decide-again' });
    }
    return plan(`this pod's data belongs to another database cluster (system identifier ${data.systemIdentifier}; the leader record's is `
      + `${record.systemIdentifier}); refusing to touch it. Move the data away (or restore the right volume), then restart the pod`, { do: 'fail' });
  }
  if (record === undefined) {
    if (data.standbySignal) return plan('a replica\'s data and no leader record: waiting for the primary\'s sidecar to create it', WAIT);
    return plan('no leader record: this pod\'s data is a primary\'s; starting as the primary (its sidecar records it, unless another pod is recorded first)',
      { do: 'start', as: 'primary' });
  }
  const decided = decideWithRecord(facts, record, data);
  // The record names this data's cluster: it is no longer one that only this entrypoint knows.
  return data.initializedByEntrypoint ? { ...decided, steps: [{ do: 'remove-init-marker' }, ...decided.steps] } : decided;
}

function decideWithRecord(facts: StartFacts, record: LeaderRecord, data: Extract<DataDirectory, { kind: 'data' }>): StartPlan {
  if (record.state !== 'stable') {
    // Also while switching over, which the sidecar treats otherwise (docs/leader-record.md, "Where the scripts disagree").
    if (record.target === facts.podName && !data.standbySignal) {
      return plan(`a failover job promoted this pod (${describeRecord(record)}): starting as the primary`, { do: 'start', as: 'primary' });
    }
    if (data.standbySignal) {
      return plan(`a failover job holds the leader record (${describeRecord(record)}): starting as a replica`, { do: 'start', as: 'replica' });
    }
    return plan(`this pod's data is a former primary's and a failover job holds the leader record (${describeRecord(record)}): waiting for its end`, WAIT);
  }
  if (record.primary === facts.podName) {
    if (data.standbySignal && data.recoveryState) {
      // A replica's data never starts as a primary on its old timeline (others may have more of it): its sidecar promotes it.
      return plan(`the leader record names this pod as the primary (${describeRecord(record)}), and its data is a replica's: starting in `
        + 'recovery; its sidecar promotes it (a new timeline)', { do: 'start', as: 'replica' });
    }
    const steps: StartStep[] = data.standbySignal ? [{ do: 'remove-standby-signal' }] : [];
    return plan(`the leader record names this pod as the primary (${describeRecord(record)}): starting as the primary`, ...steps, { do: 'start', as: 'primary' });
  }
  if (data.timeline > record.timeline) return decideNewerTimeline(facts, record, data);
  if (!data.standbySignal) {
    // rejoin: a former primary follows the recorded one only onto a newer timeline, and only if it answers.
    if (record.timeline <= data.timeline) {
      return plan(`this pod's data is a former primary's, on a timeline (${data.timeline}) not older than the recorded primary's (${record.primary}, `
        + `timeline ${record.timeline}): never rewinding onto an older timeline. A person must decide: see the README (split brain)`, WAIT);
    }
    if (!facts.recordedPrimaryAnswers) {
      return plan(`this pod was a primary; the recorded primary ${record.primary} does not answer, and only it can say how to rejoin`, WAIT);
    }
    return plan(`the leader record names ${record.primary} (epoch ${record.epoch}, timeline ${record.timeline}); this pod's data is on timeline `
      + `${data.timeline}: rejoining as its replica`,
    { do: 'rewind', from: record.primary, onFailure: 'wait' }, ...syncMembership(facts), { do: 'start', as: 'replica' });
  }
  // resume_replica: a replica that stopped cleanly while the primary moved to a newer timeline is checked by pg_rewind.
  if (record.timeline > data.timeline && data.shutDownCleanly && facts.recordedPrimaryAnswers) {
    return plan(`the primary is on a newer timeline (${record.timeline}) than this replica (${data.timeline}): checking that this replica can follow it`,
      { do: 'rewind', from: record.primary, onFailure: 'exit' }, ...syncMembership(facts), { do: 'start', as: 'replica' });
  }
  return plan(`the data directory is a replica's: starting as a replica of ${record.primary}`, ...syncMembership(facts), { do: 'start', as: 'replica' });
}

/**
 * This pod's data is on a newer timeline than the record's, and the record names another pod (check_unrecorded_promotion).
 * Once the recorded primary confirms the record's timeline is its own, this pod's timeline is one the record never named:
 * a promotion by hand (the reference design's manual steps: relabel, pg_promote), not a newer primary. Its WAL since is
 * kept aside for a person, and it rejoins the recorded primary, rewinding "onto an older timeline": that rule guards
 * recorded primaries, and this one never was.
 */
function decideNewerTimeline(facts: StartFacts, record: StableRecord, data: Extract<DataDirectory, { kind: 'data' }>): StartPlan {
  const primary = facts.recordedPrimaryTimeline;
  if (primary === undefined) {
    return plan(`this pod's data is on timeline ${data.timeline}, newer than the leader record's (${record.timeline}); the recorded primary `
      + `${record.primary} does not answer, and only it can say whether this pod's timeline is one the record never named`, WAIT);
  }
  if (primary !== record.timeline) {
    return plan(`the leader record's timeline (${record.timeline}) is behind its primary's (${primary}): waiting for its sidecar to record it`,
      { do: 'wait', retry: 'bootstrap' });
  }
  return plan(`this pod was promoted outside the leader record (timeline ${data.timeline}; the record names ${record.primary} on timeline `
    + `${record.timeline}): an unrecorded divergence, not a newer primary. Keeping its WAL since aside, then rejoining ${record.primary}`,
  { do: 'keep-diverged-wal', after: record.timeline, through: data.timeline, primary: record.primary }, { do: 'rewind', from: record.primary, onFailure: 'wait' },
  ...syncMembership(facts), { do: 'start', as: 'replica' });
}

function syncMembership(facts: StartFacts): StartStep[] {
  return facts.syncReplicas > 0 ? [{ do: 'await-sync-membership' }] : [];
}

/**
 * Whether deciding needs the recorded primary's answer (recordedPrimaryAnswers, recordedPrimaryTimeline): only for data
 * of a pod the stable record does not name, whose timeline or role means it may have to rewind onto the primary. The
 * agent asks the primary over the network only then (a replica whose primary is down starts without waiting for it).
 */
export function asksRecordedPrimary(facts: Pick<StartFacts, 'podName' | 'record' | 'data'>): boolean {
  const record = facts.record.kind === 'read' ? facts.record.record : undefined;
  const data = facts.data;
  if (record?.state !== 'stable' || record.primary === facts.podName || data.kind !== 'data') return false;
  return data.timeline !== record.timeline;
}

/** A step as one line of the plan file: its name, then its arguments, separated by spaces. */
export function stepText(step: StartStep): string {
  switch (step.do) {
    case 'discard-data': return `discard-data ${step.keep ? 'keep' : 'delete'}`;
    case 'restore': return `restore ${step.onFailure}`;
    case 'clone':
    case 'rewind': return `${step.do} ${step.from} ${step.onFailure}`;
    case 'keep-diverged-wal': return `keep-diverged-wal ${step.after} ${step.through} ${step.primary}`;
    case 'start': return ['start', step.as, ...(step.settings ?? []).map(setting => `${setting.name}=${setting.value}`)].join(' ');
    case 'wait': return `wait ${step.retry}`;
    default: return step.do;
  }
}

/**
 * The plan file the entrypoint reads: `request=<the request it answers>`, `reason=<one line>`, then `step=<step>` lines
 * in order (stepText). The reason is one line whatever it says.
 */
export function startPlanText(request: string, decided: StartPlan): string {
  const lines = [`request=${request}`, `reason=${decided.reason.replace(/\s*\n\s*/g, ' ')}`, ...decided.steps.map(step => `step=${stepText(step)}`)];
  return `${lines.join('\n')}\n`;
}
