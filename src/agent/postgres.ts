// The agent's PostgreSQL side: every fact the sidecar reads from its server and every action on it, a port of what
// role-labeler.sh, pg-node.sh and common.sh do with psql, pg_ctl and pg_controldata. The sidecar container has none of
// those programs: it shares the pod's processes, the data volume and /var/run/postgresql with the postgres container,
// so it reads postmaster.pid and global/pg_control itself, signals the postmaster, and keeps one connection over the
// Unix socket. Nothing here logs: each function returns a value or throws an Error that says what failed.
import * as fs from 'fs';
import * as path from 'path';
// Bundled into the agent by esbuild: not a runtime dependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import { Client, ClientConfig, DatabaseError, QueryConfig } from 'pg';
import type { ArchiverLook } from './archive-watch';
import { timelineSwitchpoint } from './failover-target';
import type { Standby } from './handover';
import { ServerAnswer, STATUS_SQL } from './node-status';
import { ControlFile, ServerRole, streamsTimeline } from './sidecar';
import { HOT_STANDBY_SETTINGS, HotStandbyValues } from './start';

/** postmaster.pid as a live server writes it. */
export interface Postmaster {
  readonly pid: number;
  /** Line 8 says "ready": the server accepts connections. */
  readonly ready: boolean;
  /** The process exists (kill -0; one that may not be signalled counts, a zombie does not). */
  readonly alive: boolean;
}

/** postmaster.pid of the data directory, or undefined when there is none (or it names no process id). */
export function readPostmaster(pgdata: string): Postmaster | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(pgdata, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  // A positive decimal only: kill(0) or kill(-1) would signal whole process groups.
  if (!/^[1-9][0-9]*$/.test(lines[0].trim())) return undefined;
  const pid = Number(lines[0].trim());
  return { pid, ready: (lines[7] ?? '').trim() === 'ready', alive: processExists(pid) };
}

/** kill -0 (EPERM: it exists), and not a zombie: a process that exited but was not reaped yet. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  // "pid (comm) S ...": Z (zombie) or X (dead) has exited.
  return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
}

/** pg_control's DBState. */
export enum DbState {
  STARTUP = 0,
  SHUT_DOWN = 1,
  SHUT_DOWN_IN_RECOVERY = 2,
  SHUTTING_DOWN = 3,
  IN_CRASH_RECOVERY = 4,
  IN_ARCHIVE_RECOVERY = 5,
  IN_PRODUCTION = 6,
}

/** What the sidecar reads from global/pg_control (pg_controldata's lines of the same meaning). */
export interface PgControl extends ControlFile {
  /** "Database system identifier", in decimal. */
  readonly systemIdentifier: string;
  /** "pg_control version number". */
  readonly controlVersion: number;
  /** "Database cluster state". */
  readonly state: DbState;
  /** "Latest checkpoint location", as pg_controldata prints it (upper-case hex, X/X). */
  readonly checkpoint: string;
  /** "Latest checkpoint's TimeLineID". */
  readonly timeline: number;
  /**
   * "max_connections setting" ... "max_locks_per_xact setting": the values of the server that wrote the WAL, as last
   * replayed here (a replica's are its primary's), which a hot standby must at least run with.
   */
  readonly hotStandby: HotStandbyValues;
}


export type ControlFileRead =
  | { readonly kind: 'read'; readonly control: PgControl }
  /** No file, a version whose layout this does not know, or a checksum that does not match (a torn read). */
  | { readonly kind: 'unreadable'; readonly reason: string };

/**
 * The pg_control formats whose first fields are read here: 1300 (PostgreSQL 13 to 16) and 1700 (17), which both begin
 * with system_identifier (uint64 @0), pg_control_version (@8), catalog_version_no (@12), state (@16), time (int64 @24),
 * checkPoint (XLogRecPtr @32) and checkPointCopy, whose redo (@40) is followed by ThisTimeLineID (@48).
 */
const KNOWN_CONTROL_VERSIONS = [1300, 1700];

/**
 * global/pg_control of the data directory, parsed (little-endian, as on x86-64 and arm64). Its CRC-32C, the field
 * after the data, is checked: PostgreSQL rewrites the file in place, and a read may meet a write.
 */
export function readControlFile(pgdata: string): ControlFileRead {
  const file = path.join(pgdata, 'global', 'pg_control');
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (error) {
    return { kind: 'unreadable', reason: `cannot read ${file}: ${(error as Error).message}` };
  }
  if (data.length < 512) return { kind: 'unreadable', reason: `${file} has ${data.length} bytes, not a pg_control` };
  const controlVersion = data.readUInt32LE(8);
  if (!KNOWN_CONTROL_VERSIONS.includes(controlVersion)) {
    return { kind: 'unreadable', reason: `${file} has pg_control_version ${controlVersion}, whose layout is not known here (${KNOWN_CONTROL_VERSIONS.join(', ')} are)` };
  }
  if (!hasValidChecksum(data)) return { kind: 'unreadable', reason: `${file}: its CRC does not match its contents (being written?)` };
  const state = data.readUInt32LE(16);
  // An XLogRecPtr (uint64) printed as pg_controldata prints it: its high and low halves in hex, "%X/%X".
  const checkpoint = `${data.readUInt32LE(36).toString(16)}/${data.readUInt32LE(32).toString(16)}`.toUpperCase();
  return {
    kind: 'read',
    control: {
      systemIdentifier: data.readBigUInt64LE(0).toString(),
      controlVersion,
      state,
      shutDown: state === DbState.SHUT_DOWN,
      checkpoint,
      timeline: data.readUInt32LE(48),
      // MaxConnections (int32 @180), then max_worker_processes, max_wal_senders, max_prepared_xacts, max_locks_per_xact,
      // in both formats.
      hotStandby: Object.fromEntries(HOT_STANDBY_SETTINGS.map((name, i) => [name, data.readInt32LE(180 + 4 * i)])) as HotStandbyValues,
    },
  };
}

/* eslint-disable no-bitwise */ // CRC-32C (Castagnoli), as PostgreSQL's pg_crc32c computes it
const CRC32C_TABLE = Array.from({ length: 256 }, (_, byte) => {
  let crc = byte;
  for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  return crc >>> 0;
});

/**
 * Whether the control data ends with the CRC-32C of the bytes before it. The CRC is its last field, whose offset
 * differs between versions (288 in format 1300): the first 4-byte-aligned offset where it matches is taken.
 */
function hasValidChecksum(data: Buffer): boolean {
  let crc = 0xffffffff;
  for (let offset = 0; offset + 4 <= 512; offset += 4) {
    if (offset >= 56 && ((crc ^ 0xffffffff) >>> 0) === data.readUInt32LE(offset)) return true;
    for (let i = offset; i < offset + 4; i++) crc = CRC32C_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  }
  return false;
}
/* eslint-enable no-bitwise */

/**
 * What the local server is (role-labeler.sh observed_role): a primary or a replica when a live postmaster says "ready"
 * and pg_control says in production (6) or in archive recovery (5); otherwise not serving (down, starting, stopping).
 */
export function observedRole(pgdata: string): ServerRole {
  const postmaster = readPostmaster(pgdata);
  if (!postmaster?.ready || !postmaster.alive) return 'not-serving';
  const state = controlOf(pgdata)?.state;
  if (state === DbState.IN_PRODUCTION) return 'primary';
  if (state === DbState.IN_ARCHIVE_RECOVERY) return 'replica';
  return 'not-serving';
}

/**
 * A fast shutdown (pg_ctl stop -m fast --wait): SIGINT to the postmaster named by postmaster.pid, then a look every
 * 5 ms until it is gone: its process has exited (or is a zombie), or postmaster.pid no longer names it (the postmaster
 * removes the file last; a restarted container writes another pid). True when it stopped (or none ran), false when it
 * still ran after timeoutMs.
 *
 * `until: 'shutdown-checkpoint'` also ends the wait once a server that was in production when signalled has written its
 * shutdown checkpoint (pg_control says shut down): its sessions are gone, and no WAL comes after that record, so it takes
 * no more writes. What it still does (its WAL senders hand the last records to the replicas, its archiver pushes the
 * segments still ready) goes on without the caller, which may report the checkpoint at once.
 */
export async function fastShutdown(pgdata: string, timeoutMs: number, until: 'exit' | 'shutdown-checkpoint' = 'exit'): Promise<boolean> {
  const postmaster = readPostmaster(pgdata);
  if (postmaster === undefined) return true;
  // Only a server in production before the signal: pg_control says shut down from an earlier stop until a starting
  // server has come out of it.
  const inProduction = until === 'shutdown-checkpoint' && controlOf(pgdata)?.state === DbState.IN_PRODUCTION;
  try {
    process.kill(postmaster.pid, 'SIGINT');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
    throw new Error(`cannot signal the postmaster ${postmaster.pid} of ${pgdata}: ${(error as Error).message}`);
  }
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (!postmasterRuns(pgdata, postmaster.pid)) return true;
    if (inProduction && controlOf(pgdata)?.state === DbState.SHUT_DOWN) return true;
    if (performance.now() >= deadline) return false;
    await sleep(5);
  }
}

/** pg_control of the data directory, or undefined when it cannot be read (readControlFile says why). */
export function controlOf(pgdata: string): PgControl | undefined {
  const read = readControlFile(pgdata);
  return read.kind === 'read' ? read.control : undefined;
}

function postmasterRuns(pgdata: string, pid: number): boolean {
  return readPostmaster(pgdata)?.pid === pid && processExists(pid);
}

/** standby.signal: the server restarts as a replica (fence_local). */
export function writeStandbySignal(pgdata: string): void {
  fs.closeSync(fs.openSync(path.join(pgdata, 'standby.signal'), 'a'));
}

/** The replication slot of a pod (common.sh slot_of): its name with "_" for "-" (slot names allow [a-z0-9_]). */
export function slotOf(pod: string): string {
  return pod.replace(/-/g, '_');
}

/** Whether the server is still in recovery, and whether its startup process sleeps out wal_retrieve_retry_interval. */
const PROMOTION_LOOK_SQL = `SELECT pg_is_in_recovery() AS recovery, EXISTS (SELECT 1 FROM pg_stat_activity
  WHERE backend_type = 'startup' AND wait_event = 'RecoveryRetrieveRetryInterval') AS retrying`;

/** credentials_sql's statement_timeout. */
const CREDENTIALS_TIMEOUT_MS = 10_000;

/**
 * Whether a replica's WAL receiver has streamed for a second (common.sh STREAMED_A_SECOND_SQL), on timeline $1 or a later
 * one; one that started "in the future" began before the wall clock was stepped back, and counts.
 */
const STREAMED_A_SECOND_SQL = `EXISTS (SELECT 1 FROM pg_stat_wal_receiver AS r JOIN pg_stat_activity AS a USING (pid)
  WHERE r.status = 'streaming' AND r.received_tli >= $1::int
    AND (a.backend_start < clock_timestamp() - interval '1 second' OR a.backend_start > clock_timestamp()))`;

export interface LocalPostgresOptions {
  /** The directory of the server's Unix socket (/var/run/postgresql). */
  readonly socketDir: string;
  readonly port: number;
  /** The superuser (POSTGRES_USER); pg_hba trusts local connections. */
  readonly user: string;
  /** Every statement's bound (statement_timeout; the client gives up a little later, when the server does not answer). */
  readonly queryTimeoutMs: number;
  /** @default 3000 */
  readonly connectTimeoutMs?: number;
  /** @default 'postgres-agent' */
  readonly applicationName?: string;
}

/** The Secrets' names and passwords, as common.sh credentials_sql applies them. */
export interface Credentials {
  readonly superuser: string;
  readonly superuserPassword: string;
  readonly replicationUser: string;
  readonly replicationPassword: string;
  /** The application role, if any (APP_USER), owner of appDatabase. */
  readonly appUser?: string;
  readonly appPassword?: string;
  readonly appDatabase: string;
}

/** What maintainSlots changed. */
export interface SlotChanges {
  /** Inactive slots dropped: their pod is gone ('unwanted'), or their WAL was removed ('lost'). */
  readonly dropped: readonly { readonly slot: string; readonly why: 'unwanted' | 'lost' }[];
  readonly created: readonly string[];
  /** A drop or creation that failed (the rest went on, as maintain_slots does): what and why. */
  readonly failed: readonly string[];
}

/** One statement on the kept connection; timeoutMs (client side) when it may run longer than queryTimeoutMs. */
type Query = (sql: string, params?: unknown[], timeoutMs?: number) => Promise<Record<string, unknown>[]>;

/**
 * The local server over its Unix socket, through one kept connection: made on the first call, dropped when an error
 * breaks it (the next call connects again), never two at once. Calls run one after another.
 */
export class LocalPostgres {
  public readonly socketDir: string;
  public readonly port: number;
  public readonly user: string;
  public readonly queryTimeoutMs: number;
  public readonly connectTimeoutMs: number;
  public readonly applicationName: string;
  private client: Client | undefined;
  private turn: Promise<unknown> = Promise.resolve();

  constructor(options: LocalPostgresOptions) {
    this.socketDir = options.socketDir;
    this.port = options.port;
    this.user = options.user;
    this.queryTimeoutMs = options.queryTimeoutMs;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 3000;
    this.applicationName = options.applicationName ?? 'postgres-agent';
  }

  /** The timeline of the current WAL file, on a primary (role-labeler.sh local_timeline). */
  public async timeline(): Promise<number> {
    return this.session('reading the timeline', async query => {
      const rows = await query("SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS timeline");
      return rows[0].timeline as number;
    });
  }

  /** pg-node.sh's status query (node-status.ts STATUS_SQL): what a server that answers is, for the failover job. */
  public async status(): Promise<ServerAnswer | undefined> {
    return this.session('reading the status', async query => {
      const row = (await query(STATUS_SQL))[0];
      if (row === undefined) return undefined;
      return { role: row.role as ServerAnswer['role'], lsn: (row.lsn as string | null) ?? '', receiver: row.receiver as string, timeline: Number(row.timeline) };
    });
  }

  /** The standbys streaming from this primary (pg_stat_replication): name, state and flushed position. */
  public async standbys(): Promise<Standby[]> {
    return this.session('listing the standbys', async query => {
      const rows = await query('SELECT application_name AS name, state, flush_lsn::text AS flush FROM pg_stat_replication');
      return rows.map(row => ({ name: String(row.name), state: String(row.state), flushLsn: (row.flush as string | null) ?? undefined }));
    });
  }

  /**
   * Whether the standby `name` (application_name) streams this primary's current timeline (sidecar.ts streamsTimeline),
   * asked every 20 ms until it does or timeoutMs have passed: a standby that has just connected, or is crossing from an
   * older timeline, streams within milliseconds. The timeline's switch point comes from its history file.
   */
  public async awaitStandbyStream(name: string, timeoutMs: number): Promise<boolean> {
    return this.session(`waiting for ${name} to stream this primary's timeline`, async query => {
      const [{ file, history }] = await query(`SELECT file, CASE WHEN file <> '00000001.history' THEN pg_read_file('pg_wal/' || file) END AS history
        FROM (SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) || '.history' AS file) AS timeline`);
      const switchpoint = history === null ? undefined : timelineSwitchpoint(history as string);
      if (history !== null && switchpoint === undefined) throw new Error(`pg_wal/${file} names no switch point`);
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const senders = await query('SELECT state, sent_lsn::text AS sent FROM pg_stat_replication WHERE application_name = $1', [name]);
        const streaming = senders.map(sender => ({ state: String(sender.state), sent: (sender.sent as string | null) ?? undefined }));
        if (streaming.some(sender => streamsTimeline(sender, switchpoint))) return true;
        if (performance.now() >= deadline) return false;
        await sleep(20);
      }
    });
  }

  public async isInRecovery(): Promise<boolean> {
    return this.session('asking whether the server is in recovery', async query => {
      return (await query('SELECT pg_is_in_recovery() AS recovery'))[0].recovery as boolean;
    });
  }

  /**
   * Promotes this replica (pg-node.sh promote): pg_promote(false), a look every 10 ms until it accepts writes (an
   * error after timeoutMs), then the physical slots of slotNames that do not exist yet, reserving WAL. A server that
   * is no longer in recovery is not promoted again: only its slots are made. Returns the slots created.
   */
  public async promote(slotNames: readonly string[], timeoutMs: number): Promise<string[]> {
    return this.session('promoting', async query => {
      const signalled = await query('SELECT pg_promote(false) AS signalled WHERE pg_is_in_recovery()');
      if (signalled.length > 0) {
        if (signalled[0].signalled !== true) throw new Refusal('pg_promote() could not signal the postmaster');
        const deadline = performance.now() + timeoutMs;
        for (;;) {
          const [look] = await query(PROMOTION_LOOK_SQL);
          if (look.recovery !== true) break;
          if (performance.now() >= deadline) throw new Refusal(`promotion did not finish within ${timeoutMs / 1000}s`);
          // PostgreSQL 15 may notice the promotion as its WAL receiver's restart is under way (a switchover's target,
          // whose stream from the old primary has just ended), take it for a failure of the stream, and sleep out
          // wal_retrieve_retry_interval before it acts on it: a reload wakes it (its latch), as followNewPrimary's does.
          if (look.retrying === true) await query('SELECT pg_reload_conf()');
          await sleep(10);
        }
      }
      return createMissingSlots(query, slotNames);
    });
  }

  /** A replica has received or replayed WAL beyond lsn (take_over_switchover): false on a primary. */
  public async receivedBeyond(lsn: string): Promise<boolean> {
    return this.session(`comparing the received WAL with ${lsn}`, async query => {
      const rows = await query('SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) > $1::pg_lsn AS beyond', [lsn]);
      return rows[0].beyond === true;
    });
  }

  /** The WAL receiver streams on this timeline (follow_new_primary). */
  public async streamingOnTimeline(timeline: number): Promise<boolean> {
    return this.session(`asking whether the WAL receiver streams timeline ${timeline}`, async query => {
      const rows = await query("SELECT count(*)::int AS streaming FROM pg_stat_wal_receiver WHERE status = 'streaming' AND received_tli = $1", [timeline]);
      return (rows[0].streaming as number) > 0;
    });
  }

  /**
   * A replica's WAL receiver process, if one runs, connecting or streaming: found in pg_stat_activity, which lists it
   * from its start (pg_stat_wal_receiver shows no row until it has connected, and one whose connection attempt hangs on
   * a dead primary's address is the one to end).
   */
  public async walReceiverPid(): Promise<number | undefined> {
    const pid = await this.session('finding the WAL receiver',
      async query => (await query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'walreceiver'"))[0]?.pid);
    return typeof pid === 'number' ? pid : undefined;
  }

  /**
   * Ends a WAL receiver (walReceiverPid): SIGTERM, as the pod shares one process namespace (pg_terminate_backend cannot:
   * it is an auxiliary process). The startup process starts another, which connects anew. Gone already: nothing to do.
   */
  public async endWalReceiver(pid: number): Promise<void> {
    try {
      process.kill(pid, 'SIGTERM');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  /** pg_reload_conf(): the configuration (and certificate) again; wakes a replica's startup process. */
  public async reload(): Promise<void> {
    await this.session('reloading the configuration', async query => {
      const rows = await query('SELECT pg_reload_conf() AS reloaded');
      if (rows[0].reloaded !== true) throw new Refusal('pg_reload_conf() could not signal the postmaster');
    });
  }

  /**
   * After a reload: the settings still waiting for a restart (pg_settings.pending_restart), and the lines of the
   * configuration files PostgreSQL refused (pg_file_settings.error; a changed setting that needs a restart is not one).
   */
  public async reloadOutcome(): Promise<{ pendingRestart: string[]; errors: string[] }> {
    return this.session('reading the reloaded configuration', async query => {
      const pending = await query('SELECT lower(name) AS name FROM pg_settings WHERE pending_restart ORDER BY 1');
      const errors = await query('SELECT sourcefile, sourceline, lower(name) AS name, error FROM pg_file_settings WHERE error IS NOT NULL '
        + 'AND (name IS NULL OR lower(name) NOT IN (SELECT lower(name) FROM pg_settings WHERE pending_restart)) ORDER BY sourcefile, sourceline');
      return {
        pendingRestart: pending.map(row => String(row.name)),
        errors: errors.map(row => `${String(row.sourcefile)}:${String(row.sourceline)}: ${row.name === null ? '' : `${String(row.name)}: `}${String(row.error)}`),
      };
    });
  }

  /**
   * role-labeler.sh maintain_slots: the inactive physical slots whose names begin with prefix (slotOf(statefulSet) + '_')
   * that are not wanted, or whose WAL was removed (wal_status lost), are dropped; the wanted slots that are missing are
   * created, reserving WAL. An active slot is never dropped.
   */
  public async maintainSlots(wanted: readonly string[], prefix: string): Promise<SlotChanges> {
    return this.session('maintaining the replication slots', async query => {
      const stale = await query(`SELECT slot_name, wal_status = 'lost' AS lost FROM pg_replication_slots
        WHERE slot_type = 'physical' AND starts_with(slot_name, $1) AND NOT active AND (slot_name <> ALL ($2::text[]) OR wal_status = 'lost')
        ORDER BY slot_name`, [prefix, wanted]);
      const dropped: { slot: string; why: 'unwanted' | 'lost' }[] = [];
      const failed: string[] = [];
      for (const row of stale) {
        const slot = row.slot_name as string;
        try {
          await query('SELECT pg_drop_replication_slot($1)', [slot]);
          dropped.push({ slot, why: row.lost === true ? 'lost' : 'unwanted' });
        } catch (error) {
          if (!isStatementError(error)) throw error;
          failed.push(`dropping ${slot}: ${(error as Error).message}`);
        }
      }
      const created: string[] = [];
      for (const slot of wanted) {
        try {
          created.push(...await createMissingSlots(query, [slot]));
        } catch (error) {
          if (!isStatementError(error)) throw error;
          failed.push(`creating ${slot}: ${(error as Error).message}`);
        }
      }
      return { dropped, created, failed };
    });
  }

  /** pg_current_wal_lsn() of a primary, as PostgreSQL prints it. */
  public async currentWalLsn(): Promise<string> {
    return this.session('reading the current WAL position', async query => {
      return (await query('SELECT pg_current_wal_lsn()::text AS lsn'))[0].lsn as string;
    });
  }

  /** How many of the named standbys (application_name) have flushed WAL up to lsn (maintain_sync_set's caught_up). */
  public async standbysFlushedPast(names: readonly string[], lsn: string): Promise<number> {
    return this.session(`counting the standbys that flushed ${lsn}`, async query => {
      const rows = await query(`SELECT count(*)::int AS caught_up FROM pg_stat_replication
        WHERE application_name = ANY ($1::text[]) AND flush_lsn >= $2::pg_lsn`, [names, lsn]);
      return rows[0].caught_up as number;
    });
  }

  /**
   * The failsafe's question: do all these standbys stream from this primary now? It writes a WAL record (a logical
   * message outside any transaction: no commit, no wait for a synchronous standby) and waits up to timeoutMs for each to
   * reply having written it (pg_stat_replication: a reply sent after the message, its write position past it). A standby
   * that cannot reach this primary cannot reply.
   */
  public async standbysAnswer(names: readonly string[], timeoutMs: number): Promise<boolean> {
    return this.session('asking the standbys to reply', async query => {
      const [ping] = await query(`SELECT clock_timestamp() AS at,
        pg_logical_emit_message(false, 'postgres-cluster-failsafe', '')::text AS lsn`);
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const rows = await query(`SELECT count(DISTINCT application_name)::int AS replied FROM pg_stat_replication
          WHERE application_name = ANY ($1::text[]) AND state = 'streaming' AND reply_time >= $2 AND write_lsn >= $3::pg_lsn`,
        [names, ping.at, ping.lsn]);
        if (rows[0].replied === names.length) return true;
        if (performance.now() >= deadline) return false;
        await sleep(50);
      }
    });
  }

  /**
   * The WAL receiver has streamed for a second (common.sh STREAMED_A_SECOND_SQL), on `timeline` or a later one (1: any). A
   * receiver that cannot follow the primary's timeline, because that timeline forked off its own before the WAL it has,
   * restarts streaming its own timeline every wal_retrieve_retry_interval, and is "streaming" an instant each time (longer
   * on a slow disk): it does not stream the primary's timeline.
   */
  public async streamedASecond(timeline = 1): Promise<boolean> {
    return this.session('asking whether the WAL receiver streams', async query => {
      return (await query(`SELECT ${STREAMED_A_SECOND_SQL} AS streamed`, [timeline]))[0].streamed as boolean;
    });
  }

  /** pg_stat_archiver's counters and the segments waiting to be archived (archive-watch.ts). */
  public async archiverLook(): Promise<ArchiverLook> {
    return this.session('reading pg_stat_archiver', async query => {
      const [row] = await query(`SELECT archived_count AS archived, failed_count AS failed, last_archived_wal, last_failed_wal,
        (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready')::int AS waiting FROM pg_stat_archiver`);
      return {
        archived: Number(row.archived),
        failed: Number(row.failed),
        lastArchivedWal: (row.last_archived_wal as string | null) ?? undefined,
        lastFailedWal: (row.last_failed_wal as string | null) ?? undefined,
        waiting: row.waiting as number,
      };
    });
  }

  /** The timeline a replica's WAL receiver asks for (the one its startup process is on); undefined without a receiver. */
  public async receiverTimeline(): Promise<number | undefined> {
    return this.session('reading the WAL receiver\'s timeline', async query => {
      const rows = await query('SELECT received_tli AS timeline FROM pg_stat_wal_receiver WHERE received_tli > 0');
      return rows.length === 0 ? undefined : Number(rows[0].timeline);
    });
  }

  /** The WAL a replica has received or replayed, whichever is further (check_replica_wal's pos); undefined on a primary. */
  public async receivePosition(): Promise<string | undefined> {
    return this.session('reading the received WAL position', async query => {
      const rows = await query('SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text AS position');
      return (rows[0].position as string | null) ?? undefined;
    });
  }

  /**
   * The roles and passwords as the Secrets say (common.sh credentials_sql), on the primary: the replication role
   * (created if missing) with pg_monitor, pg_rewind's file functions and, from PostgreSQL 15, pg_checkpoint; the
   * superuser's password; the application role and its database, which it owns. Idempotent. Its commits do not wait
   * for a synchronous standby. Names and passwords reach the SQL through format('%I', '%L') of bound parameters.
   */
  public async applyCredentials(credentials: Credentials): Promise<void> {
    const appUser = credentials.appUser ?? '';
    if (appUser !== '' && credentials.appPassword === undefined) throw new Error(`applying the credentials: no password for the application role ${appUser}`);
    await this.session('applying the credentials', async query => {
      // Each generated statement runs on its own (\gexec): CREATE DATABASE cannot run in a transaction block.
      const generated = async (sql: string, params: unknown[]) => {
        for (const row of await query(sql, params)) await query(row.statement as string, undefined, CREDENTIALS_TIMEOUT_MS);
      };
      const superuser = credentials.superuser;
      const repl = credentials.replicationUser;
      const reset = 'RESET client_min_messages; RESET synchronous_commit; RESET statement_timeout';
      await query(`SET client_min_messages = warning; SET synchronous_commit = local; SET statement_timeout = ${CREDENTIALS_TIMEOUT_MS}`);
      try {
        await generated(`SELECT format('CREATE ROLE %I WITH REPLICATION LOGIN', $1::text) AS statement
          WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::text)`, [repl]);
        await generated("SELECT format('ALTER ROLE %I WITH REPLICATION LOGIN PASSWORD %L', $1::text, $2::text) AS statement", [repl, credentials.replicationPassword]);
        await generated("SELECT format('ALTER ROLE %I WITH PASSWORD %L', $1::text, $2::text) AS statement", [superuser, credentials.superuserPassword]);
        for (const grant of [
          'GRANT pg_monitor TO %I',
          'GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO %I',
          'GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO %I',
          'GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO %I',
          'GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO %I',
        ]) {
          await generated('SELECT format($1::text, $2::text) AS statement', [grant, repl]);
        }
        await generated(`SELECT format('GRANT pg_checkpoint TO %I', $1::text) AS statement
          WHERE current_setting('server_version_num')::int >= 150000`, [repl]);
        if (appUser !== '') {
          const database = credentials.appDatabase;
          await generated(`SELECT format('CREATE ROLE %I WITH LOGIN', $1::text) AS statement
            WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::text)`, [appUser]);
          await generated("SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text) AS statement", [appUser, credentials.appPassword]);
          await generated(`SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $2::text) AS statement
            WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1::text)`, [database, appUser]);
          await generated(`SELECT format('ALTER DATABASE %I OWNER TO %I', $1::text, $2::text) AS statement FROM pg_database
            WHERE datname = $1::text AND datdba = (SELECT oid FROM pg_roles WHERE rolname = $3::text)`, [database, appUser, superuser]);
        }
      } catch (error) {
        await query(reset).catch(() => undefined);
        throw error;
      }
      // The kept connection goes back to its own settings (statement_timeout: the one it connected with).
      await query(reset);
    });
  }

  /** Ends the kept connection, if any. */
  public async close(): Promise<void> {
    await this.exclusive(async () => {
      const client = this.client;
      this.client = undefined;
      if (client !== undefined) await endClient(client, 1000);
    });
  }

  /** Runs fn with the kept connection (connecting first if there is none), after the calls before it. */
  private async session<T>(what: string, fn: (query: Query) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      let client: Client;
      try {
        client = await this.connection();
      } catch (error) {
        throw new Error(`${what}: cannot connect to PostgreSQL at ${this.socketDir}:${this.port}: ${(error as Error).message}`);
      }
      const query: Query = async (text, values, timeoutMs) => {
        // pg reads query_timeout from a query's config too (not in its types).
        const config: QueryConfig = Object.assign({ text, values }, timeoutMs === undefined ? {} : { query_timeout: timeoutMs + 1000 });
        return (await client.query(config)).rows;
      };
      try {
        return await fn(query);
      } catch (error) {
        // A statement's own error leaves the connection usable; anything else (a timeout, a lost or terminated
        // connection) drops it.
        if (!isStatementError(error)) this.drop(client);
        throw new Error(`${what}: ${(error as Error).message}`);
      }
    });
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.turn.then(fn);
    this.turn = result.catch(() => undefined);
    return result;
  }

  private async connection(): Promise<Client> {
    if (this.client !== undefined) return this.client;
    const config: ClientConfig = {
      host: this.socketDir,
      port: this.port,
      user: this.user,
      database: 'postgres',
      application_name: this.applicationName,
      connectionTimeoutMillis: this.connectTimeoutMs,
      statement_timeout: this.queryTimeoutMs,
      // The server ends a statement first; the client gives up on a server that does not answer at all.
      query_timeout: this.queryTimeoutMs + 1000,
    };
    const client = new Client(config);
    // An idle connection that the server ends (a restart) drops it, without an unhandled 'error'.
    client.on('error', () => this.drop(client));
    client.on('end', () => this.drop(client));
    try {
      await client.connect();
    } catch (error) {
      destroyClient(client);
      throw error;
    }
    this.client = client;
    return client;
  }

  private drop(client: Client): void {
    if (this.client === client) this.client = undefined;
    destroyClient(client);
  }
}

/** A server that answered, but not as asked: the connection still serves. */
class Refusal extends Error {}

/** A statement's error (severity ERROR), or a Refusal: the connection still serves. FATAL, PANIC and all else break it. */
function isStatementError(error: unknown): boolean {
  return (error instanceof DatabaseError && error.severity === 'ERROR') || error instanceof Refusal;
}

async function createMissingSlots(query: Query, slotNames: readonly string[]): Promise<string[]> {
  const rows = await query(`SELECT (pg_create_physical_replication_slot(name, true)).slot_name AS slot FROM unnest($1::text[]) AS name
    WHERE name IS NOT NULL AND name NOT IN (SELECT slot_name FROM pg_replication_slots)`, [slotNames]);
  return rows.map(row => row.slot as string);
}

/** Closes a connection at once, whatever state it is in (a hung server never answers a Terminate). */
function destroyClient(client: Client): void {
  client.end().catch(() => undefined);
  client.connection.stream.destroy();
}

async function endClient(client: Client, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>(resolve => { timer = setTimeout(resolve, timeoutMs); });
  await Promise.race([client.end().catch(() => undefined), timedOut]);
  clearTimeout(timer);
  client.connection.stream.destroy();
}

/** Where check_replica_wal asks the primary (the write Service), over the network. */
export interface PrimaryConnection {
  readonly host: string;
  readonly port: number;
  /** NETWORK_USER: the replication role (with pg_monitor), or the superuser before PostgreSQL 15. */
  readonly user: string;
  readonly password: string;
  /** TLS without verifying the certificate (libpq's sslmode=require). */
  readonly ssl: boolean;
  readonly connectTimeoutMs: number;
}

/**
 * check_replica_wal's question to the primary: it is a primary and no longer has the WAL segment that holds position
 * (the replica's next WAL): only a new clone helps that replica. Undefined when it could not be asked.
 */
export async function primaryLacksWal(primary: PrimaryConnection, position: string): Promise<boolean | undefined> {
  return askOverNetwork(primary, async client => {
    const rows = await client.query(`SELECT NOT pg_is_in_recovery() AND NOT EXISTS (
        SELECT 1 FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' AND substr(name, 9, 16) = substr(pg_walfile_name($1::pg_lsn), 9, 16)) AS gone`,
    [position]);
    return rows.rows[0].gone as boolean;
  });
}

/**
 * The walsender holding a slot on the primary (pg_replication_slots.active_pid): null when the slot is not active (or
 * does not exist), undefined when the primary could not be asked.
 */
export async function slotSender(primary: PrimaryConnection, slot: string): Promise<number | null | undefined> {
  return askOverNetwork(primary, async client => {
    const rows = await client.query('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot]);
    const pid = rows.rows[0]?.active_pid as unknown;
    return typeof pid === 'number' ? pid : null;
  });
}

/**
 * Ends the walsender `pid` on the primary, only while it still holds `slot` (a walsender that has ended meanwhile, or a
 * process that is another one by now, is left alone): true when it was signalled, undefined when the primary could not be
 * asked. The network role may end backends of its own role, as every walsender of a replica is.
 */
export async function endSlotSender(primary: PrimaryConnection, slot: string, pid: number): Promise<boolean | undefined> {
  return askOverNetwork(primary, async client => {
    const rows = await client.query(`SELECT pg_terminate_backend(active_pid) AS ended FROM pg_replication_slots
      WHERE slot_name = $1 AND active_pid = $2`, [slot, pid]);
    return rows.rows[0]?.ended === true;
  });
}

/**
 * What another pod's PostgreSQL says of itself over the pod network (the status query, node-status.ts STATUS_SQL), as an
 * automatic failover's candidate asks its peers; undefined when it could not be asked (which never means it is down).
 */
export async function peerStatus(peer: PrimaryConnection): Promise<ServerAnswer | undefined> {
  return askOverNetwork(peer, async client => {
    const row = (await client.query(STATUS_SQL)).rows[0];
    if (row === undefined) return undefined;
    return { role: row.role as ServerAnswer['role'], lsn: (row.lsn as string | null) ?? '', receiver: row.receiver as string, timeline: Number(row.timeline) };
  });
}

/** One question to a server over the network, bounded by connectTimeoutMs; undefined when it could not be asked. */
async function askOverNetwork<T>(server: PrimaryConnection, ask: (client: Client) => Promise<T>): Promise<T | undefined> {
  const client = new Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: 'postgres',
    application_name: 'postgres-agent',
    ssl: server.ssl ? { rejectUnauthorized: false } : false,
    connectionTimeoutMillis: server.connectTimeoutMs,
    statement_timeout: server.connectTimeoutMs,
    query_timeout: server.connectTimeoutMs + 1000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await ask(client);
  } catch {
    return undefined;
  } finally {
    await endClient(client, 1000);
  }
}

async function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}
