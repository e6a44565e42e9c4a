import { POSTGRES_15_SETTINGS } from './postgres-15-settings';

export const SUPPORTED_POSTGRES_VERSIONS = [13, 14, 15, 16, 17] as const;

/** Settings that appeared in a given major version (relative to the PostgreSQL 15 list). */
const ADDED_IN: { readonly [version: number]: readonly string[] } = {
  14: [
    'client_connection_check_interval', 'compute_query_id', 'debug_discard_caches', 'default_toast_compression',
    'enable_async_append', 'enable_memoize', 'huge_page_size', 'idle_session_timeout', 'log_recovery_conflict_waits',
    'min_dynamic_shared_memory', 'recovery_init_sync_method', 'remove_temp_files_after_crash', 'ssl_crl_dir',
    'track_wal_io_timing', 'vacuum_failsafe_age', 'vacuum_multixact_failsafe_age',
  ],
  15: [
    'allow_in_place_tablespaces', 'archive_library', 'log_startup_progress_interval', 'recovery_prefetch',
    'recursive_worktable_factor', 'stats_fetch_consistency', 'wal_decode_buffer_size',
  ],
  16: [
    'createrole_self_grant', 'debug_io_direct', 'debug_parallel_query', 'enable_presorted_aggregate',
    'gss_accept_delegation', 'icu_validation_level', 'logical_replication_mode',
    'max_parallel_apply_workers_per_subscription', 'reserved_connections', 'scram_iterations',
    'send_abort_for_crash', 'send_abort_for_kill', 'vacuum_buffer_usage_limit',
  ],
  17: [
    'allow_alter_system', 'commit_timestamp_buffers', 'debug_logical_replication_streaming',
    'enable_group_by_reordering', 'event_triggers', 'io_combine_limit', 'max_notify_queue_pages',
    'multixact_member_buffers', 'multixact_offset_buffers', 'notify_buffers', 'serializable_buffers',
    'subtransaction_buffers', 'summarize_wal', 'sync_replication_slots', 'synchronized_standby_slots',
    'trace_connection_negotiation', 'transaction_buffers', 'transaction_timeout', 'wal_summary_keep_time',
  ],
};

interface Removal {
  readonly removedIn: number;
  readonly hint: string;
}

/** Settings that a major version no longer knows; PostgreSQL refuses to start when they are set. */
const REMOVED: { readonly [name: string]: Removal } = {
  checkpoint_segments: { removedIn: 9.5, hint: 'use max_wal_size' },
  standby_mode: { removedIn: 12, hint: 'standby mode is a standby.signal file, which the library manages' },
  trigger_file: { removedIn: 12, hint: 'promote with pg_promote() (the failover job does)' },
  wal_keep_segments: { removedIn: 13, hint: 'use walKeepSize (wal_keep_size), e.g. walKeepSize: "1GB"' },
  operator_precedence_warning: { removedIn: 14, hint: 'remove it' },
  vacuum_cleanup_index_scale_factor: { removedIn: 14, hint: 'remove it' },
  stats_temp_directory: { removedIn: 15, hint: 'statistics live in shared memory since PostgreSQL 15; remove it' },
  force_parallel_mode: { removedIn: 16, hint: 'use debug_parallel_query' },
  promote_trigger_file: { removedIn: 16, hint: 'promote with pg_promote() (the failover job does)' },
  vacuum_defer_cleanup_age: { removedIn: 16, hint: 'use hot_standby_feedback or replication slots' },
  db_user_namespace: { removedIn: 17, hint: 'remove it' },
  logical_replication_mode: { removedIn: 17, hint: 'use debug_logical_replication_streaming' },
  old_snapshot_threshold: { removedIn: 17, hint: 'remove it' },
  trace_recovery_messages: { removedIn: 17, hint: 'remove it' },
};

function addedIn(name: string): number | undefined {
  for (const [version, names] of Object.entries(ADDED_IN)) {
    if (names.includes(name)) return Number(version);
  }
  return undefined;
}

const KNOWN = new Set<string>([
  ...POSTGRES_15_SETTINGS,
  ...Object.values(ADDED_IN).flat(),
  ...Object.keys(REMOVED),
]);

/**
 * Returns why `name` cannot be set on PostgreSQL `version`, or undefined when it can.
 * Custom settings of extensions (names with a dot) are always accepted.
 */
export function unknownSettingReason(name: string, version: number): string | undefined {
  const key = name.toLowerCase();
  if (key.includes('.')) return undefined;
  const removal = REMOVED[key];
  if (removal && version >= removal.removedIn) {
    return `PostgreSQL ${version} does not know "${name}" (removed in ${removal.removedIn}): ${removal.hint}`;
  }
  const since = addedIn(key);
  if (since !== undefined && version < since) {
    return `PostgreSQL ${version} does not know "${name}" (added in ${since}): remove it or use postgresVersion ${since} or later`;
  }
  if (!KNOWN.has(key)) {
    const near = closest(key);
    return `PostgreSQL ${version} does not know "${name}"${near ? `; did you mean "${near}"?` : ''}`;
  }
  return undefined;
}

function closest(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(3, Math.floor(name.length / 4)) + 1;
  for (const candidate of KNOWN) {
    const d = editDistance(name, candidate, bestDistance);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
