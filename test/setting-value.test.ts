import { Testing } from 'cdk8s';
import { PostgresConfig, PostgresConfigProps } from '../src';
import { conflictingSettingsReason, unknownSettingReason } from '../src/private/postgres-settings';
import { SETTINGS_CATALOGUE } from '../src/private/postgres-settings-catalogue';
import { invalidValueReason, parseBool, parseInteger, parseReal, SettingType } from '../src/private/setting-value';

const memory = (unit: string, min = 0, max = 2147483647): SettingType => ({ type: 'integer', unit, min, max });

describe('a Boolean setting', () => {
  test.each(['on', 'ON', 'of', 'off', 'Off', 't', 'tr', 'TRUE', 'f', 'fals', 'false', 'y', 'yes', 'n', 'no', '1', '0'])(
    'takes %j (a prefix of true, false, yes or no; on, of, off; 1 or 0)', value => {
      expect(parseBool(value)).toBe(true);
    });
  test.each(['', 'o', 'onn', 'offf', 'truee', 'yess', 'nope', '2', '01', '10', ' on', 'on ', 'enable'])('refuses %j', value => {
    expect(parseBool(value)).toBe(false);
  });
  test('says what it takes', () => {
    expect(invalidValueReason({ type: 'bool' }, 'maybe')).toBe('expected a Boolean: on, off, true, false, yes, no, 1 or 0');
    expect(invalidValueReason({ type: 'bool' }, 'yes')).toBeUndefined();
  });
});

describe('an enum setting', () => {
  const walLevel: SettingType = { type: 'enum', values: ['minimal', 'replica', 'logical'], hidden: ['archive', 'hot_standby'] };
  test('takes its values in any case, and the old spellings it does not list', () => {
    for (const value of ['replica', 'LOGICAL', 'Minimal', 'archive', 'HOT_STANDBY']) expect(invalidValueReason(walLevel, value)).toBeUndefined();
  });
  test('refuses anything else and lists only the documented values', () => {
    for (const value of ['', 'replica ', 'replicas', 'on']) {
      expect(invalidValueReason(walLevel, value)).toBe('expected one of minimal, replica, logical');
    }
  });
});

describe('an integer setting', () => {
  test.each([
    ['42', '', 42],
    ['  42', '', 42],
    ['42  ', '', 42],
    ['+42', '', 42],
    ['-42', '', -42],
    ['0x1F', '', 31],
    ['0X1f', '', 31],
    ['010', '', 8],
    ['0', '', 0],
    ['1.5', '', 2],
    ['2.5', '', 2],
    ['3.5', '', 4],
    ['-2.5', '', -2],
    ['1e3', '', 1000],
    ['1E-1', '', 0],
    ['.6', '', 1],
  ])('reads %j as C does (strtol with base 0, else strtod; halves to even): %j base unit -> %d', (value, unit, expected) => {
    expect(parseInteger(value, unit)).toBe(expected);
  });
  test.each([
    ['1GB', 'kB', 1048576],
    ['1 GB', 'kB', 1048576],
    ['1GB ', 'kB', 1048576],
    ['1TB', 'MB', 1048576],
    ['2048B', 'kB', 2],
    ['1023B', 'kB', 1],
    ['512B', 'kB', 0],
    ['1536B', 'kB', 2],
    ['1MB', '8kB', 128],
    ['12kB', '8kB', 2],
    ['1MB', 'B', 1048576],
    ['1.5kB', 'B', 1536],
    ['30.1GB', 'kB', 31561728],
    ['1h', 's', 3600],
    ['1.5min', 's', 90],
    ['1d', 'min', 1440],
    ['90s', 'min', 2],
    ['1500us', 'ms', 2],
    ['2500us', 'ms', 2],
    ['0.5ms', 'ms', 0],
    ['5', 'ms', 5],
  ])('converts %j to its base unit %j: %d (a fraction rounds to the next smaller unit, then to an integer)', (value, unit, expected) => {
    expect(parseInteger(value, unit)).toBe(expected);
  });
  test.each([
    ['', ''],
    ['abc', ''],
    ['x1', ''],
    ['1x', ''],
    ['08', ''],
    ['0x', ''],
    ['0xg', ''],
    ['- 1', ''],
    ['1kB', ''],
    ['1s', ''],
    ['1kb', 'kB'],
    ['1mb', 'kB'],
    ['1 Kb', 'kB'],
    ['1s', 'kB'],
    ['1kB', 's'],
    ['1 sec', 's'],
    ['1mins', 's'],
    ['1 min s', 's'],
    ['1e', ''],
    ['nan', ''],
    ['NaN', ''],
    ['inf', ''],
    ['-infinity', ''],
    ['2147483648', ''],
    ['-2147483649', ''],
    ['9223372036854775808', ''],
    ['1e400', ''],
    ['2TB', 'B'],
  ])('refuses %j where the base unit is %j (not a number, a unit it does not take, or beyond 32 bits)', (value, unit) => {
    expect(parseInteger(value, unit)).toBeUndefined();
  });
  test('takes the edges of 32 bits, hex, and minus zero (strtol: a long has no negative zero)', () => {
    expect(parseInteger('2147483647', '')).toBe(2147483647);
    expect(parseInteger('-2147483648', '')).toBe(-2147483648);
    expect(parseInteger('2147483647.4', '')).toBe(2147483647);
    expect(parseInteger('-0', '')).toBe(0);
    expect(parseInteger('0x7fffffff', '')).toBe(2147483647);
  });
  test('a number beyond 32 bits is not an integer at all, whatever the range says (not "out of range")', () => {
    const any: SettingType = { type: 'integer', unit: '', min: -2147483648, max: 2147483647 };
    expect(invalidValueReason(any, '2147483648')).toBe('expected an integer from -2147483648 to 2147483647');
    expect(invalidValueReason(any, '2147483647')).toBeUndefined();
    // The same digits as a real are a number, beyond its range.
    expect(invalidValueReason({ ...any, type: 'real' }, '2147483648')).toBe('out of range: expected a number from -2147483648 to 2147483647');
  });
  test('says what it takes, the range and the units, in words', () => {
    const sharedBuffers = memory('8kB', 16, 1073741823);
    expect(invalidValueReason(sharedBuffers, 'lots')).toBe(
      'expected an integer from 16 to 1073741823 in 8kB blocks, or a size with a unit (TB, GB, MB, kB, B)');
    expect(invalidValueReason(sharedBuffers, '8TB')).toBe(
      'out of range: expected an integer from 16 to 1073741823 in 8kB blocks, or a size with a unit (TB, GB, MB, kB, B)');
    expect(invalidValueReason(sharedBuffers, '64kB')).toMatch(/^out of range/);
    expect(invalidValueReason(sharedBuffers, '128kB')).toBeUndefined();
    expect(invalidValueReason(sharedBuffers, '1073741823')).toBeUndefined();
    expect(invalidValueReason({ type: 'integer', unit: 's', min: -1, max: 3600 }, '2h')).toBe(
      'out of range: expected an integer from -1 to 3600 in s, or a duration with a unit (d, h, min, s, ms, us)');
    expect(invalidValueReason({ type: 'integer', unit: '', min: 1, max: 100 }, '0')).toBe('out of range: expected an integer from 1 to 100');
    expect(invalidValueReason({ type: 'integer', unit: '', min: 1, max: 100 }, '1')).toBeUndefined();
    expect(invalidValueReason({ type: 'integer', unit: '', min: 1, max: 100 }, '100')).toBeUndefined();
    expect(invalidValueReason({ type: 'integer', unit: '', min: 1, max: 100 }, '101')).toMatch(/^out of range/);
  });
});

describe('a real setting', () => {
  test.each([
    ['0.9', '', 0.9],
    [' 1.5 ', '', 1.5],
    ['1e-3', '', 0.001],
    ['5.', '', 5],
    ['.25', '', 0.25],
    ['0x10', '', 16],
    ['0x1.8p1', '', 3],
    ['0x.8', '', 0.5],
    ['-0', '', -0],
    ['0e-400', '', 0],
    ['inf', '', Infinity],
    ['-Infinity', '', -Infinity],
    ['2ms', 'ms', 2],
    ['1.5s', 'ms', 1500],
    ['1500us', 'ms', 1.5],
    ['0.5us', 'ms', 0.0005],
    ['1.0005s', 'ms', 1000],
    ['0.00', '', 0],
    ['00', '', 0],
    ['.0e-400', '', 0],
    ['0x0p-5000', '', 0],
    ['2.2250738585072014e-308', '', 2.2250738585072014e-308],
    ['0x1p-1022', '', 2.2250738585072014e-308],
    ['0x1p-1074', '', 5e-324],
    ['-0x1.8p1', '', -3],
    ['0x.8p-1030', '', 2 ** -1031],
  ])('reads %j as strtod does, in base unit %j: %d (a fraction of a unit rounds to the next smaller unit, where there is one)', (value, unit, expected) => {
    expect(parseReal(value, unit)).toBe(expected);
  });
  test.each([
    ['', ''],
    ['.', ''],
    ['e5', ''],
    ['nan', ''],
    ['NAN(1)', ''],
    ['1e400', ''],
    ['-1e400', ''],
    ['1e-400', ''],
    ['1e-310', ''],
    ['0x1p-1075', ''],
    ['0x1.8p-1074', ''],
    ['1ms', ''],
    ['1 s', 'kB'],
    ['1 xs', 'ms'],
  ])('refuses %j where the base unit is %j (no number, NaN, beyond a double, or a unit it does not take)', (value, unit) => {
    expect(parseReal(value, unit)).toBeUndefined();
  });
  test('checks the range, where infinity is beyond every finite maximum', () => {
    const cost: SettingType = { type: 'real', unit: '', min: 0, max: 1.79769e+308 };
    expect(invalidValueReason(cost, '4')).toBeUndefined();
    expect(invalidValueReason(cost, '0')).toBeUndefined();
    expect(invalidValueReason(cost, '-0.1')).toBe('out of range: expected a number from 0 to 1.79769e+308');
    expect(invalidValueReason(cost, 'inf')).toMatch(/^out of range/);
    expect(invalidValueReason(cost, 'cheap')).toBe('expected a number from 0 to 1.79769e+308');
    expect(invalidValueReason({ type: 'real', unit: 'ms', min: 0, max: 100 }, '0.1s')).toBeUndefined();
    expect(invalidValueReason({ type: 'real', unit: 'ms', min: 0, max: 100 }, '0.2s')).toMatch(/^out of range/);
  });
});

test('a string setting takes anything: its own checks are the server\'s', () => {
  expect(invalidValueReason({ type: 'string' }, 'anything at all')).toBeUndefined();
});

describe('extraSettings', () => {
  const config = (props: PostgresConfigProps) => () => new PostgresConfig(Testing.chart(), 'Config', props);

  test('refuses a value PostgreSQL would refuse at start, naming the setting, the value and what it takes', () => {
    expect(config({ extraSettings: { shared_buffers: 'lots' } })).toThrow(
      'PostgresConfig test/Config: extraSettings: PostgreSQL 15 refuses "shared_buffers" = "lots": expected an integer from 16 to 1073741823 '
      + 'in 8kB blocks, or a size with a unit (TB, GB, MB, kB, B).');
    expect(config({ extraSettings: { Work_Mem: '4mb' } })).toThrow('PostgreSQL 15 refuses "Work_Mem" = "4mb": expected an integer');
    expect(config({ extraSettings: { jit: 'sometimes' } })).toThrow('PostgreSQL 15 refuses "jit" = "sometimes": expected a Boolean');
    expect(config({ extraSettings: { log_statement: 'everything' } })).toThrow(
      'PostgreSQL 15 refuses "log_statement" = "everything": expected one of none, ddl, mod, all.');
    expect(config({ extraSettings: { autovacuum_max_workers: '0' } })).toThrow('PostgreSQL 15 refuses "autovacuum_max_workers" = "0": out of range');
  });

  test('takes what PostgreSQL takes: units, spaces, case, hidden spellings, extension settings and strings unchecked', () => {
    const settings = {
      'shared_buffers': '1 GB',
      'work_mem': '4096',
      'jit': 'OFF',
      'synchronous_commit': 'true',
      'log_statement': 'DDL',
      'random_page_cost': '1.1',
      'statement_timeout': '5min',
      'pg_stat_statements.max': 'whatever',
      'log_line_prefix': '%m',
    };
    expect(config({ extraSettings: settings })).not.toThrow();
  });

  test('checks a value against the major it runs on: a range or a value that changed between majors', () => {
    expect(config({ postgresVersion: 17, extraSettings: { maintenance_work_mem: '64kB' } })).not.toThrow();
    expect(config({ postgresVersion: 16, extraSettings: { maintenance_work_mem: '64kB' } })).toThrow(
      'PostgreSQL 16 refuses "maintenance_work_mem" = "64kB": out of range: expected an integer from 1024 to 2147483647 in kB');
    expect(config({ postgresVersion: 14, extraSettings: { wal_compression: 'on' } })).not.toThrow();
    expect(config({ postgresVersion: 14, extraSettings: { wal_compression: 'zstd' } })).toThrow('expected a Boolean');
    expect(config({ postgresVersion: 15, extraSettings: { wal_compression: 'zstd' } })).not.toThrow();
    expect(config({ postgresVersion: 17, extraSettings: { default_toast_compression: 'lz4' } })).not.toThrow();
  });

  test('a cluster whose extraSettings count too many backends is refused at synth', () => {
    expect(config({ maxConnections: 262_000, extraSettings: { max_worker_processes: '200' } }))
      .toThrow(/PostgresConfig test\/Config: PostgreSQL 15 refuses max_connections \(262000\) \+ autovacuum_max_workers \(3\) \+ max_worker_processes \(200\) \+ max_wal_senders \(\d+\)/);
  });

  test('names an unknown setting before its value, and a setting owned by a property before its value', () => {
    expect(config({ extraSettings: { shared_bufers: 'lots' } })).toThrow('does not know "shared_bufers"; did you mean "shared_buffers"?');
    expect(config({ extraSettings: { max_slot_wal_keep_size: 'lots' } })).toThrow('with the maxSlotWalKeepSize property');
  });
});

describe('the settings catalogue', () => {
  test('describes every supported major, each setting once per major', () => {
    for (const version of [13, 14, 15, 16, 17]) {
      const names = SETTINGS_CATALOGUE.filter(row => row[1] <= version && version <= row[2]).map(row => row[0]);
      expect(names.length).toBeGreaterThan(300);
      expect(new Set(names).size).toBe(names.length);
      expect(names).toEqual(expect.arrayContaining(['shared_buffers', 'work_mem', 'wal_level', 'max_connections']));
    }
  });
});

describe('unknownSettingReason: a name the chosen major does not know', () => {
  test.each<[string, number, string | undefined]>([
    ['work_mem', 15, undefined],
    ['WORK_MEM', 13, undefined],
    ['myext.anything', 15, undefined],
    ['stats_temp_directory', 14, undefined],
    ['stats_temp_directory', 15, 'PostgreSQL 15 does not know "stats_temp_directory" (removed in 15): statistics live in shared memory since PostgreSQL 15; remove it'],
    ['checkpoint_segments', 13, 'PostgreSQL 13 does not know "checkpoint_segments" (removed in 9.5): use max_wal_size'],
    ['allow_alter_system', 17, undefined],
    ['allow_alter_system', 16, 'PostgreSQL 16 does not know "allow_alter_system" (added in 17): remove it or use postgresVersion 17 or later'],
    ['archive_library', 14, 'PostgreSQL 14 does not know "archive_library" (added in 15): remove it or use postgresVersion 15 or later'],
    ['archive_library', 15, undefined],
    ['extension_destdir', 17, undefined],
    ['shared_bufers', 15, 'PostgreSQL 15 does not know "shared_bufers"; did you mean "shared_buffers"?'],
    ['zzzzzzzzzzzzzzzzzzzzzzzzzzzz', 15, 'PostgreSQL 15 does not know "zzzzzzzzzzzzzzzzzzzzzzzzzzzz"'],
  ])('%s on PostgreSQL %d: %s', (name, version, reason) => {
    expect(unknownSettingReason(name, version)).toBe(reason);
  });

  test('every setting a supported major dropped has a hint, and the catalogue agrees on the major that dropped it', () => {
    const dropped = SETTINGS_CATALOGUE.filter(row => row[2] < 17).map(row => row[0])
      .filter(name => !SETTINGS_CATALOGUE.some(row => row[0] === name && row[2] === 17));
    expect(dropped.length).toBeGreaterThan(5);
    for (const name of dropped) {
      const last = Math.max(...SETTINGS_CATALOGUE.filter(row => row[0] === name).map(row => row[2]));
      expect(unknownSettingReason(name, last)).toBeUndefined();
      expect(unknownSettingReason(name, last + 1)).toMatch(new RegExp(`^PostgreSQL ${last + 1} does not know "${name}" \\(removed in ${last + 1}\\): .+`));
    }
  });

  test('suggests the nearest known name only within a few edits, for short and long names alike', () => {
    expect(unknownSettingReason('work_me', 15)).toBe('PostgreSQL 15 does not know "work_me"; did you mean "work_mem"?');
    expect(unknownSettingReason('xwork_memx', 15)).toBe('PostgreSQL 15 does not know "xwork_memx"; did you mean "work_mem"?');
    expect(unknownSettingReason('jitt', 15)).toBe('PostgreSQL 15 does not know "jitt"; did you mean "jit"?');
    expect(unknownSettingReason('wxyz', 15)).toBe('PostgreSQL 15 does not know "wxyz"');
    expect(unknownSettingReason('log_min_duration_statementxxxx', 15)).toBe(
      'PostgreSQL 15 does not know "log_min_duration_statementxxxx"; did you mean "log_min_duration_statement"?');
  });
});

describe('conflictingSettingsReason: settings PostgreSQL refuses together, each valid alone', () => {
  const conflict = (settings: Record<string, string>, version = 15) => conflictingSettingsReason(new Map(Object.entries(settings)), version);

  test.each<[Record<string, string>, number]>([
    [{}, 122],
    [{ max_connections: '262000' }, 262022],
    [{ max_connections: '262121' }, 262143],
    [{ max_connections: '262000', autovacuum_max_workers: '10', max_worker_processes: '20', max_wal_senders: '30' }, 262061],
    [{ max_connections: 'lots' }, 122],
    [{ max_connections: '0x100' }, 278],
  ])('counts %j as %d backends, PostgreSQL\'s defaults for the others: within 262143', (settings, backends) => {
    expect(backends).toBeLessThanOrEqual(262_143);
    expect(conflict(settings)).toBeUndefined();
  });

  test('one backend more is refused, naming every count and the sum', () => {
    expect(conflict({ max_connections: '262000', max_wal_senders: '133' })).toBe(
      'PostgreSQL 15 refuses max_connections (262000) + autovacuum_max_workers (3) + max_worker_processes (8) + max_wal_senders (133) + 1 = 262145 '
      + 'backends: at most 262143; lower one of them');
    expect(conflict({ autovacuum_max_workers: '262100' }, 13)).toMatch(/^PostgreSQL 13 refuses .* = 262219 backends/);
  });

  test.each<[string, boolean]>([
    ['on', true], ['ON', true], ['true', true], ['t', true], ['tr', true], ['yes', true], ['y', true], ['1', true],
    ['off', false], ['of', false], ['false', false], ['f', false], ['no', false], ['n', false], ['0', false], ['', false], ['truex', false], ['2', false],
  ])('log_statement_stats = %j with log_parser_stats on: refused is %s', (value, refused) => {
    expect(conflict({ log_statement_stats: value, log_parser_stats: 'on' }) !== undefined).toBe(refused);
    expect(conflict({ log_parser_stats: value, log_statement_stats: 'on' }) !== undefined).toBe(refused);
  });

  test('statement statistics alone, or stage statistics alone, are fine; the message names each stage that is on', () => {
    expect(conflict({ log_statement_stats: 'on' })).toBeUndefined();
    expect(conflict({ log_parser_stats: 'on', log_planner_stats: 'on', log_executor_stats: 'on' })).toBeUndefined();
    expect(conflict({ log_statement_stats: 'on', log_planner_stats: 'on', log_executor_stats: 'yes', log_parser_stats: 'off' })).toBe(
      'PostgreSQL 15 refuses log_statement_stats with log_planner_stats, log_executor_stats: statement statistics include every stage\'s; turn one off');
  });
});
