// A changed configuration: which settings changed, and what the agent says once PostgreSQL reloaded it.
import { changedSettings, confSettings, reloadReport } from '../../src/agent/configuration';

describe('confSettings: the settings of a postgresql.conf text', () => {
  test('reads bare and quoted values, with or without "=", names in lower case, skipping comments and blank lines', () => {
    const text = [
      '# postgresql.conf of cluster "postgres"',
      '',
      'listen_addresses = \'*\'',
      'Work_Mem = 64MB   # trailing comment',
      'wal_level replica',
      '  shared_buffers=1GB',
      "log_line_prefix = 'it''s %m '",
      "log_directory = 'C:\\\\pg\\\\log'",
      'pg_stat_statements.max = 5000',
      "search_path = '\"$user\", public'",
      '   # indented comment = 1',
      "empty = ''",
      "odd = it'",
    ].join('\n');
    expect([...confSettings(text)]).toEqual([
      ['listen_addresses', '*'],
      ['work_mem', '64MB'],
      ['wal_level', 'replica'],
      ['shared_buffers', '1GB'],
      ['log_line_prefix', "it's %m "],
      ['log_directory', 'C:\\pg\\log'],
      ['pg_stat_statements.max', '5000'],
      ['search_path', '"$user", public'],
      ['empty', ''],
      ['odd', "it'"],
    ]);
  });

  test('the last line of a setting wins, as PostgreSQL reads it', () => {
    expect(confSettings('work_mem = 4MB\nwork_mem = 8MB\n').get('work_mem')).toBe('8MB');
  });
});

describe('changedSettings', () => {
  test('lists each setting changed, added or removed, by name, and nothing for a change of comments or spacing', () => {
    const before = 'work_mem = 4MB\nshared_buffers = 1GB\nlog_min_duration_statement = 1s\n';
    const after = '# new comment\nwork_mem  =  8MB\nshared_buffers = 1GB\nmax_prepared_transactions = 3\n';
    expect(changedSettings(before, after)).toEqual([
      { name: 'log_min_duration_statement', from: '1s', to: undefined },
      { name: 'max_prepared_transactions', from: undefined, to: '3' },
      { name: 'work_mem', from: '4MB', to: '8MB' },
    ]);
    expect(changedSettings(before, `# only a comment\n${before.replace('= 4MB', '=4MB')}`)).toEqual([]);
  });
});

describe('reloadReport: what the agent says once PostgreSQL reloaded a changed configuration', () => {
  const work = { name: 'work_mem', from: '4MB', to: '8MB' };
  const buffers = { name: 'shared_buffers', from: '1GB', to: '2GB' };
  const clean = { pendingRestart: [], errors: [] };

  test('settings in effect now, and pg_hba.conf', () => {
    expect(reloadReport([work], true, clean)).toEqual({
      type: 'Normal',
      reason: 'ConfigurationReloaded',
      message: 'the configuration changed: PostgreSQL reloaded it; in effect now: work_mem "4MB" -> "8MB"; pg_hba.conf in effect now',
    });
  });

  test('a setting that needs a restart waits for the roll its change starts; one unset is shown as such', () => {
    expect(reloadReport([work, buffers, { name: 'jit', from: 'on', to: undefined }], false, { pendingRestart: ['shared_buffers'], errors: [] }).message).toBe(
      'the configuration changed: PostgreSQL reloaded it; in effect now: work_mem "4MB" -> "8MB", jit "on" -> (unset); '
      + 'at the next restart (the StatefulSet rolls the pods when a setting that needs one changes: one switchover): shared_buffers "1GB" -> "2GB"');
  });

  test('settings that waited for a restart before this change are named too', () => {
    expect(reloadReport([work], false, { pendingRestart: ['max_connections', 'shared_buffers'], errors: [] }).message).toBe(
      'the configuration changed: PostgreSQL reloaded it; in effect now: work_mem "4MB" -> "8MB"; also waiting for a restart: max_connections, shared_buffers');
  });

  test('a setting of this change that needs a restart is not named again among those that waited already', () => {
    expect(reloadReport([work, buffers], false, { pendingRestart: ['max_connections', 'shared_buffers'], errors: [] }).message).toBe(
      'the configuration changed: PostgreSQL reloaded it; in effect now: work_mem "4MB" -> "8MB"; '
      + 'at the next restart (the StatefulSet rolls the pods when a setting that needs one changes: one switchover): shared_buffers "1GB" -> "2GB"; '
      + 'also waiting for a restart: max_connections');
  });

  test('only comments changed: nothing changed, said so', () => {
    expect(reloadReport([], false, clean).message).toBe('the configuration changed: PostgreSQL reloaded it; no setting changed');
  });

  test('lines PostgreSQL refused: a Warning that names them, with what did take effect', () => {
    expect(reloadReport([work], false, { pendingRestart: [], errors: ['/etc/postgresql/postgresql.conf:12: work_mem: invalid value'] })).toEqual({
      type: 'Warning',
      reason: 'ConfigurationRefused',
      message: 'the configuration changed and PostgreSQL reloaded it, but refused /etc/postgresql/postgresql.conf:12: work_mem: invalid value: '
        + 'those lines keep their old values; in effect now: work_mem "4MB" -> "8MB"',
    });
    expect(reloadReport([], false, { pendingRestart: [], errors: ['a: x', 'b: y'] }).message).toBe(
      'the configuration changed and PostgreSQL reloaded it, but refused a: x; b: y: those lines keep their old values');
  });
});
