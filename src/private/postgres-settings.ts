import { CatalogueRow, SETTINGS_CATALOGUE } from './postgres-settings-catalogue';
import { invalidValueReason, parseInteger, SettingType } from './setting-value';

export const SUPPORTED_POSTGRES_VERSIONS = [13, 14, 15, 16, 17] as const;

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

/** Each major's settings, by lower-case name, and those that take effect only at a restart, read once from the catalogue. */
const BY_VERSION = new Map<number, Map<string, SettingType>>(SUPPORTED_POSTGRES_VERSIONS.map(v => [v, new Map()]));
const RESTART = new Map<number, Set<string>>(SUPPORTED_POSTGRES_VERSIONS.map(v => [v, new Set()]));
for (const row of SETTINGS_CATALOGUE) {
  for (let version = row[1]; version <= row[2]; version++) {
    BY_VERSION.get(version)?.set(row[0], settingType(row));
    if (row[row.length - 1] === 'restart') RESTART.get(version)?.add(row[0]);
  }
}

/**
 * Whether PostgreSQL `version` applies the setting only when it starts (pg_settings.context postmaster), not at a reload.
 * An extension's setting (a name with a dot) is counted as one: the catalogue cannot tell, and a restart applies it either way.
 */
export function needsRestart(name: string, version: number): boolean {
  const key = name.toLowerCase();
  return key.includes('.') || RESTART.get(version)!.has(key);
}

function settingType(row: CatalogueRow): SettingType {
  switch (row[3]) {
    case 'integer':
    case 'real':
      return { type: row[3], unit: row[4], min: row[5], max: row[6] };
    case 'enum':
      return { type: 'enum', values: row[4].split(','), hidden: row[5] ? row[5].split(',') : [] };
    default:
      return { type: row[3] };
  }
}

const KNOWN = new Set<string>([...SETTINGS_CATALOGUE.map(row => row[0]), ...Object.keys(REMOVED)]);

/**
 * Returns why `name` cannot be set on PostgreSQL `version`, or undefined when it can.
 * Custom settings of extensions (names with a dot) are always accepted.
 */
export function unknownSettingReason(name: string, version: number): string | undefined {
  const key = name.toLowerCase();
  if (key.includes('.') || BY_VERSION.get(version)!.has(key)) return undefined;
  // Every setting a supported major dropped has a hint here (a test checks it against the catalogue).
  const removal = REMOVED[key];
  if (removal) return `PostgreSQL ${version} does not know "${name}" (removed in ${removal.removedIn}): ${removal.hint}`;
  // Known to another major, not removed: added after this one.
  const since = SUPPORTED_POSTGRES_VERSIONS.find(v => BY_VERSION.get(v)!.has(key));
  if (since !== undefined) {
    return `PostgreSQL ${version} does not know "${name}" (added in ${since}): remove it or use postgresVersion ${since} or later`;
  }
  const near = closest(key);
  return `PostgreSQL ${version} does not know "${name}"${near ? `; did you mean "${near}"?` : ''}`;
}

/**
 * Returns why PostgreSQL `version` would refuse `value` for the setting `name` (which it knows), or undefined when it
 * accepts it. Settings of extensions, and string settings, are accepted as they are.
 */
export function invalidSettingValueReason(name: string, value: string, version: number): string | undefined {
  const setting = BY_VERSION.get(version)!.get(name.toLowerCase());
  const reason = setting && invalidValueReason(setting, value);
  return reason && `PostgreSQL ${version} refuses "${name}" = "${value}": ${reason}`;
}

function closest(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(3, Math.floor(name.length / 4)) + 1;
  for (const candidate of KNOWN) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
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

/** PostgreSQL's defaults of the settings that count backends (the sum is checked when any is set). */
const BACKEND_SETTINGS: ReadonlyArray<readonly [name: string, fallback: number]> = [
  ['max_connections', 100], ['autovacuum_max_workers', 3], ['max_worker_processes', 8], ['max_wal_senders', 10],
];
/** The most backends PostgreSQL can count (MAX_BACKENDS, 2^18 - 1). */
const MAX_BACKENDS = 262_143;
const STAGE_STATS = ['log_parser_stats', 'log_planner_stats', 'log_executor_stats'];

/**
 * Returns why PostgreSQL `version` would refuse these settings together (each value valid alone), or undefined:
 * more backends than it can count, or statement statistics with statistics of a stage.
 */
export function conflictingSettingsReason(settings: ReadonlyMap<string, string>, version: number): string | undefined {
  const types = BY_VERSION.get(version)!;
  const counts = BACKEND_SETTINGS.map(([name, fallback]) => {
    const value = settings.get(name);
    const unit = (types.get(name) as { unit: string }).unit;
    return [name, value === undefined ? fallback : parseInteger(value, unit) ?? fallback] as const;
  });
  const backends = counts.reduce((sum, [, n]) => sum + n, 1);
  if (backends > MAX_BACKENDS) {
    return `PostgreSQL ${version} refuses ${counts.map(([name, n]) => `${name} (${n})`).join(' + ')} + 1 = ${backends} backends: `
      + `at most ${MAX_BACKENDS}; lower one of them`;
  }
  const on = (name: string) => isTrue(settings.get(name) ?? '');
  const stages = STAGE_STATS.filter(on);
  if (on('log_statement_stats') && stages.length > 0) {
    return `PostgreSQL ${version} refuses log_statement_stats with ${stages.join(', ')}: statement statistics include every stage's; turn one off`;
  }
  return undefined;
}

/** A Boolean spelling that means true (parse_bool's true, yes, on and 1). */
function isTrue(value: string): boolean {
  const v = value.toLowerCase();
  return v === '1' || v === 'on' || (v.length > 0 && ('true'.startsWith(v) || 'yes'.startsWith(v)));
}
