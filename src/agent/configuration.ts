// A changed configuration (the cluster's ConfigMap: postgresql.conf and pg_hba.conf, which the kubelet updates in the
// running pods) takes effect by a reload, which the agent makes; settings that need a restart wait for the rolling
// update that their change starts (the pod template's restart-settings digest). What the agent says about it. Pure.
import { HOT_STANDBY_SETTINGS, HotStandbySetting, HotStandbyValues } from './start';

/** The settings of a postgresql.conf text: `name = value` lines, names in lower case, values unquoted. */
export function confSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*('(?:[^'\\]|\\.|'')*'|[^\s#]*)/.exec(line);
    if (match === null) continue;
    const raw = match[2];
    const value = raw.startsWith("'") ? raw.slice(1, -1).replace(/''/g, "'").replace(/\\(.)/g, '$1') : raw;
    settings.set(match[1].toLowerCase(), value);
  }
  return settings;
}

/** PostgreSQL's defaults of the hot-standby settings (15, as 13 to 17). */
const HOT_STANDBY_DEFAULTS: HotStandbyValues = {
  max_connections: 100, max_worker_processes: 8, max_wal_senders: 10, max_prepared_transactions: 0, max_locks_per_transaction: 64,
};

/**
 * The hot-standby settings a server runs with: postgresql.conf's, postgresql.auto.conf's over them (ALTER SYSTEM), or
 * PostgreSQL's defaults. Undefined when postgresql.conf cannot be read or a value is not a plain integer: nothing is
 * then known to be lower than the WAL requires.
 */
export function configuredHotStandby(conf: string | undefined, auto: string | undefined): HotStandbyValues | undefined {
  if (conf === undefined) return undefined;
  const set = new Map([...confSettings(conf), ...confSettings(auto ?? '')]);
  const values: Partial<Record<HotStandbySetting, number>> = {};
  for (const name of HOT_STANDBY_SETTINGS) {
    const value = set.get(name);
    if (value !== undefined && !/^\d+$/.test(value)) return undefined;
    values[name] = value === undefined ? HOT_STANDBY_DEFAULTS[name] : Number(value);
  }
  return values as HotStandbyValues;
}

/** A setting whose value changed, appeared (from undefined) or went away (to undefined). */
export interface SettingChange {
  readonly name: string;
  readonly from: string | undefined;
  readonly to: string | undefined;
}

/** The settings that differ between two postgresql.conf texts, by name. */
export function changedSettings(before: string, after: string): SettingChange[] {
  const old = confSettings(before);
  const next = confSettings(after);
  return [...new Set([...old.keys(), ...next.keys()])].sort()
    .filter(name => old.get(name) !== next.get(name))
    .map(name => ({ name, from: old.get(name), to: next.get(name) }));
}

/** What PostgreSQL said after the reload: the settings still waiting for a restart, and the lines it refused. */
export interface ReloadOutcome {
  /** pg_settings.pending_restart. */
  readonly pendingRestart: readonly string[];
  /** pg_file_settings.error, as `<file>:<line>: <name>: <error>`. */
  readonly errors: readonly string[];
}

export interface ReloadReport {
  readonly type: 'Normal' | 'Warning';
  readonly reason: 'ConfigurationReloaded' | 'ConfigurationRefused';
  readonly message: string;
}

const shown = (value: string | undefined) => value === undefined ? '(unset)' : JSON.stringify(value);

/** What the agent logs and posts (an Event on the pod) once it reloaded a changed configuration. */
export function reloadReport(changes: readonly SettingChange[], hbaChanged: boolean, outcome: ReloadOutcome): ReloadReport {
  const pending = new Set(outcome.pendingRestart);
  const applied = changes.filter(change => !pending.has(change.name));
  const waiting = changes.filter(change => pending.has(change.name));
  const describe = (list: readonly SettingChange[]) => list.map(change => `${change.name} ${shown(change.from)} -> ${shown(change.to)}`).join(', ');
  const parts = [
    ...applied.length > 0 ? [`in effect now: ${describe(applied)}`] : [],
    ...hbaChanged ? ['pg_hba.conf in effect now'] : [],
    ...waiting.length > 0 ? [`at the next restart (the StatefulSet rolls the pods when a setting that needs one changes: one switchover): ${describe(waiting)}`] : [],
    ...pending.size > waiting.length
      ? [`also waiting for a restart: ${outcome.pendingRestart.filter(name => !waiting.some(change => change.name === name)).join(', ')}`] : [],
  ];
  if (outcome.errors.length > 0) {
    return {
      type: 'Warning',
      reason: 'ConfigurationRefused',
      message: `the configuration changed and PostgreSQL reloaded it, but refused ${outcome.errors.join('; ')}: those lines keep their old values`
        + `${parts.length > 0 ? `; ${parts.join('; ')}` : ''}`,
    };
  }
  return {
    type: 'Normal',
    reason: 'ConfigurationReloaded',
    message: `the configuration changed: PostgreSQL reloaded it; ${parts.length > 0 ? parts.join('; ') : 'no setting changed'}`,
  };
}
