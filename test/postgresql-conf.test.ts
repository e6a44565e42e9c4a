import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { PostgresClusterChartProps } from '../src';
import { asPostgres, POSTGRES_CWD, postgresScratchDir, writeAsPostgres } from './support/postgres';
import { find, synthCluster } from './support/synth';

/**
 * PostgreSQL 15 itself reads the synthesized postgresql.conf and pg_hba.conf: a server starts with
 * them and reports the settings back; pg_hba_file_rules shows every rule parsed without error.
 */
describe('PostgreSQL 15 accepts the synthesized configuration', () => {
  const scratch = postgresScratchDir();
  const data = path.join(scratch, 'data');
  const socket = path.join(scratch, 'run');
  fs.mkdirSync(socket);
  fs.chownSync(socket, Number(execFileSync('id', ['-u', 'postgres']).toString()), -1);
  const init = asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--encoding=UTF8', '--locale=C']);

  afterAll(() => {
    asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  // The pods' certificate lives on their volume (the entrypoint makes it): here, one made alike in the scratch directory.
  execFileSync('runuser', ['-u', 'postgres', '--', 'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=test',
    '-keyout', path.join(scratch, 'server.key'), '-out', path.join(scratch, 'server.crt')], { stdio: 'ignore', cwd: POSTGRES_CWD });

  function start(conf: string, hba: string): { code: number; output: string } {
    writeAsPostgres(path.join(scratch, 'postgresql.conf'), conf);
    writeAsPostgres(path.join(scratch, 'pg_hba.conf'), hba);
    asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    const certificate = /^ssl = on$/m.test(conf) ? ` -c ssl_cert_file=${scratch}/server.crt -c ssl_key_file=${scratch}/server.key` : '';
    return asPostgres('pg_ctl', ['-D', data, '-w', '-t', '30', '-l', path.join(scratch, 'log'), '-o',
      `-c config_file=${scratch}/postgresql.conf -c hba_file=${scratch}/pg_hba.conf -c unix_socket_directories=${socket} -c listen_addresses=''${certificate}`, 'start']);
  }

  function sql(query: string): string {
    const result = asPostgres('psql', ['-h', socket, '-U', 'postgres', '-d', 'postgres', '-XAtq', '-c', query]);
    if (result.code !== 0) throw new Error(result.output);
    return result.output.replace(/\n$/, '');
  }

  function configOf(props: PostgresClusterChartProps) {
    const files = find(synthCluster(props), 'ConfigMap', `${props.clusterName ?? 'postgres'}-config`).data;
    return { conf: files['postgresql.conf'] as string, hba: files['pg_hba.conf'] as string };
  }

  test('initdb works', () => {
    expect(init.code).toBe(0);
  });

  test.each<[string, PostgresClusterChartProps, Record<string, string>]>([
    ['the default cluster', {}, { wal_level: 'replica', max_wal_senders: '13', wal_keep_size: '1GB', wal_log_hints: 'on', hot_standby: 'on', password_encryption: 'scram-sha-256', wal_retrieve_retry_interval: '1s', synchronous_standby_names: '', ssl: 'on' }],
    ['synchronous replication and extra settings', { synchronousReplicas: 2, maxReplicas: 20, maxConnections: 50, extraSettings: { shared_buffers: '64MB', wal_level: 'logical', log_line_prefix: "%m '%u' " } },
      { synchronous_standby_names: 'ANY 2 (*)', max_wal_senders: '23', max_connections: '50', shared_buffers: '64MB', wal_level: 'logical', log_line_prefix: "%m '%u' " }],
  ])('%s: the server starts and reports the synthesized settings', (_name, props, expected) => {
    const { conf, hba } = configOf(props);
    const started = start(conf, hba);
    expect(started.output).toContain('server started');
    for (const [name, value] of Object.entries(expected)) {
      expect([name, sql(`SHOW ${name}`)]).toEqual([name, value]);
    }
    expect(sql("SELECT count(*) FROM pg_settings WHERE sourcefile LIKE '%postgresql.conf' AND name NOT IN (SELECT name FROM pg_file_settings WHERE applied)")).toBe('0');
    expect(sql('SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL')).toBe('0');
    // Every network rule asks for a SCRAM password, but the superuser's, which refuse it outright.
    expect(sql("SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules WHERE type LIKE 'host%' AND user_name <> '{postgres}'")).toBe('scram-sha-256');
    expect(sql("SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules WHERE type LIKE 'host%' AND user_name = '{postgres}'")).toBe('reject');
  });

  test("the reference design's postgresql.conf makes PostgreSQL 15 refuse to start", () => {
    const reference = parseAllDocuments(fs.readFileSync(path.join(__dirname, 'fixtures', 'postgres-cluster.reference.yaml'), 'utf8'))
      .map(d => d.toJS()).find(o => o?.metadata?.name === 'postgres-config');
    const started = start(reference.data['postgresql.conf'], reference.data['pg_hba.conf']);
    expect(started.code).not.toBe(0);
    expect(fs.readFileSync(path.join(scratch, 'log'), 'utf8')).toContain('unrecognized configuration parameter "wal_keep_segments"');
  });
});
