import { Testing } from 'cdk8s';
import { PostgresConfig, PostgresConfigProps } from '../src';
import { parseConf } from './support/reference-diff';
import { find, synthChart } from './support/synth';

function config(props: PostgresConfigProps = {}) {
  const objects = synthChart(chart => new PostgresConfig(chart, 'Config', props));
  const name = props.clusterName ?? 'postgres';
  const conf = find(objects, 'ConfigMap', `${name}-config`).data;
  return { objects, settings: parseConf(conf['postgresql.conf']), hba: conf['pg_hba.conf'] as string };
}

function fails(props: PostgresConfigProps): () => void {
  return () => new PostgresConfig(Testing.chart(), 'Config', props);
}

describe('PostgresConfig', () => {
  describe('postgresql.conf', () => {
    test('PostgreSQL 13+ can start with it: wal_keep_size, never wal_keep_segments', () => {
      const { settings } = config();
      expect(settings.get('wal_keep_size')).toBe('1GB');
      expect(settings.has('wal_keep_segments')).toBe(false);
    });

    test('caps the WAL that replication slots keep for a replica that is down or behind', () => {
      expect(config().settings.get('max_slot_wal_keep_size')).toBe('2GB');
      expect(config({ maxSlotWalKeepSize: '500MB' }).settings.get('max_slot_wal_keep_size')).toBe('500MB');
      expect(fails({ maxSlotWalKeepSize: '2Gi' })).toThrow('maxSlotWalKeepSize "2Gi" is not a PostgreSQL size');
      expect(fails({ extraSettings: { max_slot_wal_keep_size: '1GB' } })).toThrow('set "max_slot_wal_keep_size" with the maxSlotWalKeepSize property');
      expect(fails({ extraSettings: { primary_slot_name: 'x' } })).toThrow(/may not set "primary_slot_name"/);
    });

    test('sizes max_wal_senders for scaling to maxReplicas plus base backups', () => {
      expect(config().settings.get('max_wal_senders')).toBe('13');
      expect(config({ maxReplicas: 20 }).settings.get('max_wal_senders')).toBe('23');
      expect(config({ maxWalSenders: 40 }).settings.get('max_wal_senders')).toBe('40');
    });

    test('has what replication, pg_rewind and SCRAM need', () => {
      const { settings } = config();
      expect(Object.fromEntries(settings)).toMatchObject({
        listen_addresses: '*',
        wal_level: 'replica',
        hot_standby: 'on',
        wal_log_hints: 'on',
        password_encryption: 'scram-sha-256',
        wal_retrieve_retry_interval: '1s',
      });
    });

    test('replicates asynchronously by default and synchronously with synchronousReplicas', () => {
      expect(config().settings.has('synchronous_standby_names')).toBe(false);
      expect(config({ synchronousReplicas: 2 }).settings.get('synchronous_standby_names')).toBe('ANY 2 (*)');
    });

    test('writes typed and extra settings', () => {
      const { settings } = config({ walKeepSize: '4GB', maxConnections: 300, extraSettings: { 'shared_buffers': '512MB', 'pg_stat_statements.max': '5000', 'log_line_prefix': "%m [%p] '%u' " } });
      expect(settings.get('wal_keep_size')).toBe('4GB');
      expect(settings.get('max_connections')).toBe('300');
      expect(settings.get('shared_buffers')).toBe('512MB');
      expect(settings.get('pg_stat_statements.max')).toBe('5000');
      expect(settings.get('log_line_prefix')).toBe("%m [%p] '%u' ");
    });

    test('crash recovery flushes the data directory with one syncfs (PostgreSQL 14+), which 13 does not know', () => {
      expect(config().settings.get('recovery_init_sync_method')).toBe('syncfs');
      expect(config({ postgresVersion: 14 }).settings.get('recovery_init_sync_method')).toBe('syncfs');
      expect(config({ postgresVersion: 13 }).settings.has('recovery_init_sync_method')).toBe(false);
      expect(config({ extraSettings: { recovery_init_sync_method: 'fsync' } }).settings.get('recovery_init_sync_method')).toBe('fsync');
    });

    test('an extra setting may override a default of the library', () => {
      expect(config({ extraSettings: { wal_retrieve_retry_interval: '2s' } }).settings.get('wal_retrieve_retry_interval')).toBe('2s');
    });

    test('wal_level may be raised to logical', () => {
      expect(config({ extraSettings: { wal_level: 'logical' } }).settings.get('wal_level')).toBe('logical');
    });

    test('names the PostgreSQL version it was written for', () => {
      const { objects } = config({ postgresVersion: 17 });
      expect(find(objects, 'ConfigMap', 'postgres-config').data['postgresql.conf']).toContain('for PostgreSQL 17');
    });
  });

  describe('pg_hba.conf', () => {
    test('asks every network client for a SCRAM password, replication only for the replication role', () => {
      const rules = config({ replicationUser: 'streamer' }).hba.split('\n').filter(l => l && !l.startsWith('#')).map(l => l.split(/\s+/));
      expect(rules).toEqual([
        ['host', 'replication', 'streamer', '0.0.0.0/0', 'scram-sha-256'],
        ['host', 'replication', 'streamer', '::/0', 'scram-sha-256'],
        ['host', 'all', 'all', '0.0.0.0/0', 'scram-sha-256'],
        ['host', 'all', 'all', '::/0', 'scram-sha-256'],
        ['local', 'all', 'all', 'trust'],
      ]);
    });
  });

  describe('Secret', () => {
    test('holds the reference passwords by default', () => {
      const secret = find(config().objects, 'Secret', 'postgres-secret');
      expect(Buffer.from(secret.data.password, 'base64').toString()).toBe('postgres');
      expect(Buffer.from(secret.data['replication-password'], 'base64').toString()).toBe('replicator');
    });

    test('holds the given passwords', () => {
      const secret = find(config({ superuserPassword: 'pä:ss\\word', replicationPassword: 'r3pl' }).objects, 'Secret', 'postgres-secret');
      expect(Buffer.from(secret.data.password, 'base64').toString()).toBe('pä:ss\\word');
      expect(Buffer.from(secret.data['replication-password'], 'base64').toString()).toBe('r3pl');
    });

    test('is not synthesized when an existing Secret is named', () => {
      const { objects } = config({ existingSecretName: 'vault-postgres' });
      expect(objects.filter(o => o.kind === 'Secret')).toEqual([]);
      const construct = new PostgresConfig(Testing.chart(), 'C', { existingSecretName: 'vault-postgres' });
      expect(construct.secretName).toBe('vault-postgres');
    });
  });

  describe('init scripts', () => {
    test('create the replication role from the Secret, never from a literal password', () => {
      const init = find(config().objects, 'ConfigMap', 'postgres-init').data;
      expect(Object.keys(init)).toEqual(['01-create-replication-user.sh', '02-create-monitoring-role.sql']);
      expect(init['01-create-replication-user.sh']).toContain('password="$POSTGRES_REPLICATION_PASSWORD"');
      expect(init['01-create-replication-user.sh']).not.toMatch(/PASSWORD '/);
    });

    test('include the given files after the replication and monitoring roles', () => {
      const init = find(config({ initScripts: { '10-schema.sql': 'CREATE TABLE t (id int);' } }).objects, 'ConfigMap', 'postgres-init').data;
      expect(Object.keys(init)).toEqual(['01-create-replication-user.sh', '02-create-monitoring-role.sql', '10-schema.sql']);
    });
  });

  describe('derives every name from the cluster name', () => {
    test('the defaults are the reference names', () => {
      const c = new PostgresConfig(Testing.chart(), 'C');
      expect([c.configMapName, c.initConfigMapName, c.scriptsConfigMapName, c.secretName])
        .toEqual(['postgres-config', 'postgres-init', 'postgres-cluster-init', 'postgres-secret']);
    });

    test('another name renames every object', () => {
      const { objects } = config({ clusterName: 'orders' });
      expect(objects.map(o => o.metadata.name).sort()).toEqual(['orders-cluster-init', 'orders-config', 'orders-init', 'orders-secret']);
    });
  });

  describe('fails at synth', () => {
    test('fails when a setting is unknown to the chosen version, such as wal_keep_segments on 13+', () => {
      expect(fails({ extraSettings: { wal_keep_segments: '64' } })).toThrow(
        'PostgresConfig test/Config: extraSettings: PostgreSQL 15 does not know "wal_keep_segments" (removed in 13): use walKeepSize (wal_keep_size), e.g. walKeepSize: "1GB".');
      expect(fails({ postgresVersion: 13, extraSettings: { wal_keep_segments: '64' } })).toThrow(/PostgreSQL 13 does not know "wal_keep_segments"/);
    });

    test('fails when a setting is newer than the chosen version', () => {
      expect(fails({ postgresVersion: 15, extraSettings: { transaction_timeout: '5min' } })).toThrow(
        'PostgreSQL 15 does not know "transaction_timeout" (added in 17): remove it or use postgresVersion 17 or later');
      expect(fails({ postgresVersion: 17, extraSettings: { transaction_timeout: '5min' } })).not.toThrow();
    });

    test('fails when a setting was removed before the chosen version', () => {
      expect(fails({ postgresVersion: 16, extraSettings: { vacuum_defer_cleanup_age: '0' } })).toThrow(/removed in 16/);
      expect(fails({ postgresVersion: 15, extraSettings: { vacuum_defer_cleanup_age: '0' } })).not.toThrow();
    });

    test('fails on a misspelt setting, suggesting the right one', () => {
      expect(fails({ extraSettings: { shared_bufers: '1GB' } })).toThrow('PostgreSQL 15 does not know "shared_bufers"; did you mean "shared_buffers"?');
    });

    test('fails when extraSettings would override what replication depends on', () => {
      expect(fails({ extraSettings: { hot_standby: 'off' } })).toThrow('extraSettings may not set "hot_standby": the library manages it');
      expect(fails({ extraSettings: { wal_level: 'minimal' } })).toThrow('(only "logical" may replace "replica")');
      expect(fails({ extraSettings: { primary_conninfo: 'host=x' } })).toThrow(/may not set "primary_conninfo"/);
    });

    test('fails when extraSettings sets what a typed property sets', () => {
      expect(fails({ extraSettings: { max_wal_senders: '3' } })).toThrow('set "max_wal_senders" with the maxWalSenders property, not extraSettings.');
      expect(fails({ extraSettings: { synchronous_standby_names: '*' } })).toThrow(/synchronousReplicas property/);
    });

    test('fails on a setting name or value that would corrupt postgresql.conf', () => {
      expect(fails({ extraSettings: { 'bad name': '1' } })).toThrow('"bad name" is not a PostgreSQL setting name');
      expect(fails({ extraSettings: { work_mem: '4MB\nlisten_addresses = localhost' } })).toThrow('the value of "work_mem" contains a line break');
    });

    test('fails on an unsupported PostgreSQL version', () => {
      expect(fails({ postgresVersion: 12 })).toThrow('postgresVersion 12 is not supported: use one of 13, 14, 15, 16, 17.');
      expect(fails({ postgresVersion: 18 })).toThrow(/postgresVersion 18 is not supported/);
      expect(fails({ postgresVersion: '15' as unknown as number })).toThrow(/postgresVersion "15" is not supported/);
    });

    test('fails on a cluster name that is not a DNS-1123 label', () => {
      for (const name of ['Postgres', 'pg_main', '-pg', 'pg-', '', 'a'.repeat(45)]) {
        expect(fails({ clusterName: name })).toThrow(`clusterName "${name}" is not a valid cluster name: use 1-44 lower-case letters`);
      }
      expect(fails({ clusterName: 'a'.repeat(44) })).not.toThrow();
    });

    test('fails on sizes PostgreSQL cannot read', () => {
      expect(fails({ walKeepSize: '1 gig' })).toThrow('walKeepSize "1 gig" is not a PostgreSQL size: use a whole number with B, kB, MB, GB or TB, e.g. "1GB".');
      expect(fails({ walKeepSize: '1Gi' })).toThrow(/is not a PostgreSQL size/);
    });

    test('fails on counts out of range', () => {
      expect(fails({ maxReplicas: 0 })).toThrow('maxReplicas must be an integer between 1 and 1000');
      expect(fails({ maxReplicas: 5, maxWalSenders: 3 })).toThrow('maxWalSenders must be an integer between 4 and 10000 (at least one per replica: maxReplicas - 1 = 4); got 3.');
      expect(fails({ synchronousReplicas: -1 })).toThrow(/synchronousReplicas must be an integer between 0 and 9/);
      expect(fails({ maxConnections: 2.5 })).toThrow(/maxConnections must be an integer/);
    });

    test('fails on names that are not plain PostgreSQL identifiers', () => {
      expect(fails({ database: 'my-app' })).toThrow('database "my-app" is not a plain PostgreSQL name');
      expect(fails({ replicationUser: 'Repl' })).toThrow('replicationUser "Repl" is not a plain PostgreSQL name');
    });

    test('fails on init scripts it cannot run', () => {
      expect(fails({ initScripts: { 'schema.txt': '' } })).toThrow('initScripts file name "schema.txt" must end in .sql or .sh');
      expect(fails({ initScripts: { '01-create-replication-user.sh': '' } })).toThrow(/may not replace "01-create-replication-user.sh"/);
      expect(fails({ initScripts: { '02-create-monitoring-role.sql': '' } })).toThrow('initScripts may not replace "02-create-monitoring-role.sql": the library creates the metrics role with it.');
    });
  });
});
