import * as fs from 'fs';
import * as path from 'path';
import { asPostgres, postgresScratchDir, writeAsPostgres } from './support/postgres';
import { conflictingSettingsReason, invalidSettingValueReason } from '../src/private/postgres-settings';
import { SETTINGS_CATALOGUE } from '../src/private/postgres-settings-catalogue';
import { formatValue } from '../src/private/postgresql-conf';

/**
 * The value checker agrees with PostgreSQL 15 itself: every bool, enum, integer and real setting, with values at and
 * beyond its edges and in every spelling the checker distinguishes, written into postgresql.conf as the library writes
 * it (formatValue); the server reads each file with `postgres -C` and logs every line it refuses.
 */
describe('agrees with PostgreSQL 15', () => {
  // Left to their own test below: the settings PostgreSQL checks against each other (backends, statistics), and
  // max_stack_depth, whose limit is the process's stack size, which only the pod knows.
  const together = ['max_connections', 'autovacuum_max_workers', 'max_worker_processes', 'max_wal_senders',
    'log_statement_stats', 'log_parser_stats', 'log_planner_stats', 'log_executor_stats', 'max_stack_depth'];
  const rows = SETTINGS_CATALOGUE.filter(row => row[1] <= 15 && 15 <= row[2] && row[3] !== 'string' && !together.includes(row[0]));

  function candidates(row: (typeof rows)[number]): string[] {
    switch (row[3]) {
      case 'bool':
        return ['on', 'ON', 'of', 'o', 'off', 't', 'tru', 'truee', 'FALSE', 'y', 'n', 'no', '1', '0', '2', '', ' on', 'on '];
      case 'enum': {
        const values = [...row[4].split(','), ...(row[5] ? row[5].split(',') : [])];
        return [...values, ...values.map(v => v.toUpperCase()), `${values[0]} `, 'bogus', '', 'on', 'off', '1', 'archive'];
      }
      case 'integer':
      case 'real': {
        const [min, max] = [row[5], row[6]];
        const edges = row[3] === 'integer'
          ? [String(min), String(max), String(min - 1), String(max + 1), `${max}.4`, `${max}.5`]
          : [String(min), String(max), String(min - 0.001), String(max * 1.01), 'inf', '-inf', '1e-310', '1e-400',
            // Below the smallest normal double: glibc refuses what is not exact.
            '0x1p-1074', '0x1p-1075', '0x3p-1076', '0x1.8p-1074', '0x.8p-1030', '0x1p-1022', '0x0p-5000', '.0e-400', '0.00'];
        return [...edges, '0', '1', '-1', '1.5', '2.5', '0x10', '010', '08', ' 7 ', '7 kB', '7kB', '7kb', '7MB', '1GB', '1TB', '7B',
          '7s', '7ms', '7min', '7h', '7d', '7us', '1500us', '0.5ms', '1.5min', '7 s ', '7sec', '1e3', '1E2kB', '1e', '.5', '5.',
          'nan', '', 'abc', '+3', '- 3', '0x', '2147483648', '9223372036854775808', '30.1GB', '1.5kB', '8TB', '2048B', '-0'];
      }
      default:
        return [];
    }
  }

  test('on every value of every typed setting', () => {
    const dir = postgresScratchDir();
    try {
      const lists = rows.map(row => ({ name: row[0], values: candidates(row) }));
      const rounds = Math.max(...lists.map(l => l.values.length));
      const disagreements: string[] = [];
      let checked = 0;
      for (let round = 0; round < rounds; round++) {
        // log_min_messages last: the server applies the lines in order, and a higher level would hide the later refusals.
        const lines = lists.filter(l => l.values[round] !== undefined)
          .sort((a, b) => Number(a.name === 'log_min_messages') - Number(b.name === 'log_min_messages'));
        const file = path.join(dir, `round-${round}.conf`);
        writeAsPostgres(file, lines.map(l => `${l.name} = ${formatValue(l.values[round])}\n`).join(''));
        const { output } = asPostgres('postgres', ['-D', dir, `--config_file=${file}`, '-C', 'port']);
        const refused = new Set([...output.matchAll(/parameter "([^"]+)"/g)].map(m => m[1].toLowerCase()));
        for (const l of lines) {
          const ours = invalidSettingValueReason(l.name, l.values[round], 15) !== undefined;
          if (ours !== refused.has(l.name)) disagreements.push(`${l.name} = ${JSON.stringify(l.values[round])}: PostgreSQL ${refused.has(l.name) ? 'refuses' : 'takes'} it, the checker ${ours ? 'refuses' : 'takes'} it`);
          checked++;
        }
      }
      expect(disagreements).toEqual([]);
      expect(checked).toBeGreaterThan(8000);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('settings PostgreSQL 15 checks together', () => {
  const cases: ReadonlyArray<{ readonly [name: string]: string }> = [
    { max_connections: '262000' },
    { max_connections: '262121' },
    { max_connections: '262122' },
    { max_connections: '262100', max_wal_senders: '21' },
    { max_connections: '262100', max_wal_senders: '22' },
    { max_connections: '100', autovacuum_max_workers: '262031' },
    { max_connections: '100', autovacuum_max_workers: '262032' },
    { max_connections: '0x3fff0' },
    { max_connections: '1000', max_worker_processes: '261000' },
    { log_statement_stats: 'on', log_parser_stats: 'off' },
    { log_statement_stats: 'on', log_parser_stats: 'on' },
    { log_statement_stats: 'yes', log_executor_stats: 'TRUE' },
    { log_statement_stats: 't', log_planner_stats: '1' },
    { log_statement_stats: 'off', log_planner_stats: 'on', log_executor_stats: 'on' },
    { log_statement_stats: 'of', log_parser_stats: 'on' },
  ];
  test.each(cases)('%j: the checker refuses it exactly when PostgreSQL 15 does', settings => {
    const dir = postgresScratchDir();
    try {
      const file = path.join(dir, 'together.conf');
      writeAsPostgres(file, Object.entries(settings).map(([name, value]) => `${name} = ${formatValue(value)}\n`).join(''));
      const postgres = asPostgres('postgres', ['-D', dir, `--config_file=${file}`, '-C', 'port']).code === 0;
      const ours = conflictingSettingsReason(new Map(Object.entries(settings)), 15) === undefined;
      expect(ours).toBe(postgres);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
