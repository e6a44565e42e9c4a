/** One `name = value` line of postgresql.conf. */
export interface Setting {
  readonly name: string;
  readonly value: string;
}

/**
 * Values postgresql.conf's lexer (guc-file.l) reads bare: an integer with its unit letters, a decimal number without a
 * unit (a unit after a decimal point is a syntax error there: "1.5kB" must be quoted), a plain word.
 */
const BARE_VALUE = /^(-?\d+[A-Za-z]*|-?\d+\.\d+|[a-z_]+)$/;

/** Quotes a value unless PostgreSQL reads it bare (numbers with units, enum words). */
export function formatValue(value: string): string {
  return BARE_VALUE.test(value) ? value : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export function renderConf(header: string, sections: ReadonlyArray<{ title: string; settings: readonly Setting[] }>): string {
  const lines = [`# ${header}`];
  for (const section of sections) {
    if (section.settings.length === 0) continue;
    lines.push('', `# ${section.title}`);
    for (const s of section.settings) lines.push(`${s.name} = ${formatValue(s.value)}`);
  }
  return lines.join('\n') + '\n';
}

/** What pg_hba.conf lets in. */
export interface HbaOptions {
  readonly replicationUser: string;
  readonly superuser: string;
  /** The superuser may log in over the network (before PostgreSQL 15, where pg_rewind needs it). */
  readonly superuserOverNetwork: boolean;
  /** Network connections without TLS are refused. */
  readonly requireTls: boolean;
}

/**
 * pg_hba.conf: the replication role streams with its password; the superuser only over the pod's Unix socket (on
 * PostgreSQL 15+; before 15, pg_rewind needs it over the network); everyone else (the application's role, the
 * replication role for pg_rewind and the sidecars' checks) with a password; with requireTls, only over TLS.
 */
export function renderHba(options: HbaOptions): string {
  const { replicationUser, superuser } = options;
  const host = options.requireTls ? 'hostssl' : 'host';
  const networks = ['0.0.0.0/0', '::/0'];
  const rows = [
    ['# TYPE', 'DATABASE', 'USER', 'ADDRESS', 'METHOD'],
    ...(options.requireTls ? [
      ['# Nothing over the network without TLS (requireTls)'],
      ...networks.map(n => ['hostnossl', 'all', 'all', n, 'reject']),
    ] : []),
    ['# Replication connections (pg_basebackup, streaming) with the replication role'],
    ...networks.map(n => [host, 'replication', replicationUser, n, 'scram-sha-256']),
    ...(options.superuserOverNetwork ? [] : [
      ['# The superuser only over the Unix socket, never over the network'],
      ...networks.map(n => [host, 'all', superuser, n, 'reject']),
    ]),
    [options.superuserOverNetwork
      ? '# Clients, peers and pg_rewind (the superuser, before PostgreSQL 15), with a password'
      : '# Clients (the application role), and peers and pg_rewind (the replication role), with a password'],
    ...networks.map(n => [host, 'all', 'all', n, 'scram-sha-256']),
    ['# Inside the pod (entrypoint, sidecars, probes, kubectl exec) over the Unix socket'],
    ['local', 'all', 'all', '', 'trust'],
  ];
  const widths = [options.requireTls ? 10 : 8, 12, Math.max(12, replicationUser.length + 1, superuser.length + 1), 12];
  return rows.map(row => row.length === 1
    ? row[0]
    : row.map((cell, i) => i < row.length - 1 ? cell.padEnd(widths[i]) : cell).join(' ').replace(/ +$/, ''),
  ).join('\n') + '\n';
}
