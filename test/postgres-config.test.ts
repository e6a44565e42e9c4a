import { Testing } from 'cdk8s';
import { AutomaticFailoverOptions, PostgresConfig, PostgresConfigProps } from '../src';
import { parseConf } from './support/reference-diff';
import { find, synthCluster, synthChart } from './support/synth';
import { parseSidecarConfig } from '../src/agent/config';

function config(props: PostgresConfigProps = {}) {
  const objects = synthChart(chart => new PostgresConfig(chart, 'Config', props));
  const name = props.clusterName ?? 'postgres';
  const conf = find(objects, 'ConfigMap', `${name}-config`).data;
  return { objects, settings: parseConf(conf['postgresql.conf']), hba: conf['pg_hba.conf'] as string };
}

function fails(props: PostgresConfigProps): () => void {
  return () => new PostgresConfig(Testing.chart(), 'Config', props);
}

/** The sidecar agent's configuration document (sidecar.json in the scripts ConfigMap), as the agent itself reads it. */
function sidecarDocument(props: PostgresConfigProps = {}) {
  const objects = synthChart(chart => new PostgresConfig(chart, 'Config', props));
  const text = find(objects, 'ConfigMap', `${props.clusterName ?? 'postgres'}-cluster-init`).data['sidecar.json'];
  return parseSidecarConfig(text, 'sidecar.json');
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

    test('writes integers with units, decimals and plain words bare, and quotes anything else (a decimal with a unit too), doubling quotes and backslashes', () => {
      const conf = new PostgresConfig(Testing.chart(), 'C', {
        extraSettings: {
          work_mem: '64MB',
          maintenance_work_mem: '1.5GB',
          log_min_duration_statement: '-1',
          checkpoint_completion_target: '0.9',
          log_min_messages: 'warning',
          log_directory: 'C:\\pg\\log',
          log_line_prefix: "it's ",
          search_path: '"$user", public',
          log_timezone: 'UTC',
        },
      }).postgresqlConf;
      const line = (name: string) => conf.split('\n').find(l => l.startsWith(`${name} = `));
      expect(line('work_mem')).toBe('work_mem = 64MB');
      // postgresql.conf's lexer reads a unit after an integer, never after a decimal point.
      expect(line('maintenance_work_mem')).toBe("maintenance_work_mem = '1.5GB'");
      expect(line('log_min_duration_statement')).toBe('log_min_duration_statement = -1');
      expect(line('checkpoint_completion_target')).toBe('checkpoint_completion_target = 0.9');
      expect(line('log_min_messages')).toBe('log_min_messages = warning');
      expect(line('log_directory')).toBe("log_directory = 'C:\\\\pg\\\\log'");
      expect(line('log_line_prefix')).toBe("log_line_prefix = 'it''s '");
      expect(line('search_path')).toBe('search_path = \'"$user", public\'');
      expect(line('log_timezone')).toBe("log_timezone = 'UTC'");
    });

    test('an extra setting may override a default of the library', () => {
      expect(config({ extraSettings: { wal_retrieve_retry_interval: '2s' } }).settings.get('wal_retrieve_retry_interval')).toBe('2s');
    });

    test('wal_level stays replica when other extra settings are given', () => {
      expect(config({ extraSettings: { work_mem: '4MB', shared_buffers: '1GB' } }).settings.get('wal_level')).toBe('replica');
    });

    test('wal_level may be raised to logical', () => {
      expect(config({ extraSettings: { wal_level: 'logical' } }).settings.get('wal_level')).toBe('logical');
    });

    test('names the PostgreSQL version it was written for', () => {
      const { objects } = config({ postgresVersion: 17 });
      expect(find(objects, 'ConfigMap', 'postgres-config').data['postgresql.conf']).toContain('for PostgreSQL 17');
    });

    test('says which cluster it belongs to, and groups the settings into what the library manages, its defaults and extraSettings', () => {
      // GIVEN a cluster with an extra setting WHEN its postgresql.conf is written THEN the comments tell a reader where each line comes from
      const conf = new PostgresConfig(Testing.chart(), 'C', { clusterName: 'orders', extraSettings: { work_mem: '4MB' } }).postgresqlConf;
      const lines = conf.split('\n');
      expect(lines[0]).toBe('# postgresql.conf of cluster "orders" for PostgreSQL 15, written by cdk8s-postgres-cluster.');
      const section = (title: string) => {
        const at = lines.indexOf(`# ${title}`);
        expect([title, at > 0]).toEqual([title, true]);
        return at;
      };
      const line = (name: string) => lines.findIndex(l => l.startsWith(`${name} = `));
      expect(section('Connections and replication (managed by the library)')).toBeLessThan(line('wal_level'));
      expect(line('password_encryption')).toBeLessThan(section('Defaults'));
      expect(section('Defaults')).toBeLessThan(line('wal_retrieve_retry_interval'));
      expect(line('wal_sender_timeout')).toBeLessThan(section('extraSettings'));
      expect(section('extraSettings')).toBeLessThan(line('work_mem'));
      expect(conf.endsWith('work_mem = 4MB\n')).toBe(true);
    });

    test('has no extraSettings section without extra settings, and no defaults section when extra settings replace every default', () => {
      expect(new PostgresConfig(Testing.chart(), 'C').postgresqlConf).not.toContain('# extraSettings');
      const replaced = new PostgresConfig(Testing.chart(), 'D', { extraSettings: { wal_retrieve_retry_interval: '5s', wal_sender_timeout: '30s', recovery_init_sync_method: 'fsync' } }).postgresqlConf;
      expect(replaced).not.toContain('# Defaults');
      expect(replaced.split('\n').filter(l => l.startsWith('wal_sender_timeout'))).toEqual(['wal_sender_timeout = 30s']);
    });

    test('a fast shutdown does not wait a minute for a WAL sender whose replica vanished: wal_sender_timeout 10s', () => {
      expect(config().settings.get('wal_sender_timeout')).toBe('10s');
    });

    test('an extra setting that replaces a default of the library is written once, with its value', () => {
      const conf = new PostgresConfig(Testing.chart(), 'C', { extraSettings: { wal_retrieve_retry_interval: '2s' } }).postgresqlConf;
      expect(conf.split('\n').filter(l => l.startsWith('wal_retrieve_retry_interval'))).toEqual(['wal_retrieve_retry_interval = 2s']);
    });

    test('wal_level logical is written once, in place of replica', () => {
      const conf = new PostgresConfig(Testing.chart(), 'C', { extraSettings: { wal_level: 'logical' } }).postgresqlConf;
      expect(conf.split('\n').filter(l => l.startsWith('wal_level'))).toEqual(['wal_level = logical']);
    });

    test('writes a setting name in lower case, as PostgreSQL reads it, whatever case it was given in', () => {
      expect(config({ extraSettings: { Work_Mem: '8MB' } }).settings.get('work_mem')).toBe('8MB');
      const conf = new PostgresConfig(Testing.chart(), 'C', { extraSettings: { WAL_LEVEL: 'logical' } }).postgresqlConf;
      expect(conf.split('\n').filter(l => /^wal_level/i.test(l))).toEqual(['wal_level = logical']);
    });

    test('writes max_connections only when it is given', () => {
      expect(config().settings.has('max_connections')).toBe(false);
      expect(config({ maxConnections: 10 }).settings.get('max_connections')).toBe('10');
      expect(config({ maxConnections: 262_118 }).settings.get('max_connections')).toBe('262118');
      expect(() => config({ maxConnections: 262_119 })).toThrow('maxConnections must be an integer between 10 and 262118 (PostgreSQL needs room for its own connections, and counts at most 262143 backends: max_connections + maxWalSenders (13) + 12); got 262119.');
    });
  });

  describe('pg_hba.conf', () => {
    const rulesOf = (hba: string) => hba.split('\n').filter(l => l && !l.startsWith('#')).map(l => l.split(/\s+/));

    test('asks every network client for a SCRAM password, replication only for the replication role, the superuser only over the socket', () => {
      expect(rulesOf(config({ replicationUser: 'streamer' }).hba)).toEqual([
        ['host', 'replication', 'streamer', '0.0.0.0/0', 'scram-sha-256'],
        ['host', 'replication', 'streamer', '::/0', 'scram-sha-256'],
        ['host', 'all', 'postgres', '0.0.0.0/0', 'reject'],
        ['host', 'all', 'postgres', '::/0', 'reject'],
        ['host', 'all', 'all', '0.0.0.0/0', 'scram-sha-256'],
        ['host', 'all', 'all', '::/0', 'scram-sha-256'],
        ['local', 'all', 'all', 'trust'],
      ]);
    });

    test('with requireTls, refuses every network connection without TLS, first', () => {
      expect(rulesOf(config({ requireTls: true }).hba)).toEqual([
        ['hostnossl', 'all', 'all', '0.0.0.0/0', 'reject'],
        ['hostnossl', 'all', 'all', '::/0', 'reject'],
        ['hostssl', 'replication', 'replicator', '0.0.0.0/0', 'scram-sha-256'],
        ['hostssl', 'replication', 'replicator', '::/0', 'scram-sha-256'],
        ['hostssl', 'all', 'postgres', '0.0.0.0/0', 'reject'],
        ['hostssl', 'all', 'postgres', '::/0', 'reject'],
        ['hostssl', 'all', 'all', '0.0.0.0/0', 'scram-sha-256'],
        ['hostssl', 'all', 'all', '::/0', 'scram-sha-256'],
        ['local', 'all', 'all', 'trust'],
      ]);
    });

    test('lets the superuser in over the network before PostgreSQL 15, whose pg_rewind needs it', () => {
      for (const postgresVersion of [13, 14]) {
        const c = new PostgresConfig(Testing.chart(), `V${postgresVersion}`, { postgresVersion });
        expect([postgresVersion, c.superuserOverNetwork, rulesOf(c.pgHbaConf).filter(r => r[4] === 'reject')]).toEqual([postgresVersion, true, []]);
      }
      for (const postgresVersion of [15, 16, 17]) {
        const c = new PostgresConfig(Testing.chart(), `V${postgresVersion}`, { postgresVersion });
        expect([postgresVersion, c.superuserOverNetwork, rulesOf(c.pgHbaConf).filter(r => r[4] === 'reject').length]).toEqual([postgresVersion, false, 2]);
      }
    });

    test('lines its columns up under the header, also for a long replication role name, without trailing blanks', () => {
      for (const replicationUser of ['replicator', 'a_replication_role_name_longer_than_a_column']) {
        const lines = config({ replicationUser }).hba.split('\n').filter(l => l);
        const header = lines[0];
        expect(header.startsWith('# TYPE')).toBe(true);
        const columns = ['DATABASE', 'USER', 'ADDRESS', 'METHOD'].map(title => header.indexOf(title));
        const rules = lines.filter(l => l.startsWith('host'));
        expect(rules).toHaveLength(6);
        for (const rule of rules) {
          const starts = [...rule.matchAll(/(?<= )\S/g)].map(m => m.index);
          expect([replicationUser, rule, starts]).toEqual([replicationUser, rule, columns]);
        }
        expect(lines.filter(l => / $/.test(l))).toEqual([]);
        const local = lines.find(l => l.startsWith('local'))!;
        expect([local.indexOf('trust'), local.split(/ +/)]).toEqual([columns[3], ['local', 'all', 'all', 'trust']]);
      }
    });
  });

  describe('TLS', () => {
    const settingsOf = (settings: Map<string, string>) => Object.fromEntries([...settings].filter(([name]) => name.startsWith('ssl')));

    test('is on by default, with the certificate each pod makes on its volume', () => {
      expect(settingsOf(config().settings)).toEqual({
        ssl: 'on', ssl_cert_file: '/var/lib/postgresql/data/tls/server.crt', ssl_key_file: '/var/lib/postgresql/data/tls/server.key',
      });
      expect(new PostgresConfig(Testing.chart(), 'C').tlsMode).toBe('generate');
    });

    test('uses the given Secret\'s certificate', () => {
      expect(settingsOf(config({ tlsSecretName: 'db-tls' }).settings)).toEqual({
        ssl: 'on', ssl_cert_file: '/etc/postgres-cluster/tls/tls.crt', ssl_key_file: '/etc/postgres-cluster/tls/tls.key',
      });
      const c = new PostgresConfig(Testing.chart(), 'C', { tlsSecretName: 'db-tls' });
      expect([c.tlsMode, c.tlsSecretName]).toEqual(['secret', 'db-tls']);
    });

    test('with a cert-manager issuer, asks cert-manager for the pods\' certificate and uses its Secret', () => {
      const { objects, settings } = config({ clusterName: 'orders', certManagerIssuer: { name: 'letsencrypt', kind: 'ClusterIssuer' } });
      const certificate = find(objects, 'Certificate', 'orders-tls');
      expect(certificate.apiVersion).toBe('cert-manager.io/v1');
      expect(certificate.spec).toEqual({
        secretName: 'orders-tls',
        issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer', group: 'cert-manager.io' },
        commonName: 'orders-write',
        dnsNames: ['orders-write', 'orders-read', 'orders-any', '*.orders-headless'],
        privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      });
      expect(settings.get('ssl_cert_file')).toBe('/etc/postgres-cluster/tls/tls.crt');
      const c = new PostgresConfig(Testing.chart(), 'C', { certManagerIssuer: { name: 'ca' }, tlsSecretName: 'db-tls' });
      expect([c.tlsMode, c.tlsSecretName]).toEqual(['secret', 'db-tls']);
      expect(find(config({ certManagerIssuer: { name: 'ca' } }).objects, 'Certificate', 'postgres-tls').spec.issuerRef.kind).toBe('Issuer');
    });

    test('a cert-manager certificate of a chart with a namespace also names the Services in it', () => {
      const objects = synthCluster({ namespace: 'shop', certManagerIssuer: { name: 'ca' } });
      expect(find(objects, 'Certificate', 'postgres-tls').spec.dnsNames).toEqual([
        'postgres-write', 'postgres-read', 'postgres-any', '*.postgres-headless',
        'postgres-write.shop.svc', 'postgres-read.shop.svc', 'postgres-any.shop.svc', '*.postgres-headless.shop.svc',
      ]);
    });

    test('refuses a cert-manager issuer it cannot use', () => {
      expect(fails({ tls: false, certManagerIssuer: { name: 'ca' } })).toThrow(
        'PostgresConfig test/Config: certManagerIssuer is given but tls is false: the certificate would not be used. Drop one of them.');
      expect(fails({ certManagerIssuer: { name: 'ca', kind: 'Vault' } })).toThrow(
        'PostgresConfig test/Config: certManagerIssuer.kind "Vault" is not "Issuer" or "ClusterIssuer".');
      expect(fails({ certManagerIssuer: {} as any })).toThrow('certManagerIssuer.name is missing: name the Issuer or ClusterIssuer.');
      expect(fails({ certManagerIssuer: 'ca' as any })).toThrow('certManagerIssuer "ca" is not an issuer: give { name: "my-issuer", kind: "Issuer" | "ClusterIssuer" }.');
      expect(fails({ certManagerIssuer: { name: 'Bad Name' } })).toThrow(/certManagerIssuer.name "Bad Name" is not a Kubernetes object name/);
    });

    test('can be turned off', () => {
      expect(settingsOf(config({ tls: false }).settings)).toEqual({});
      expect(new PostgresConfig(Testing.chart(), 'C', { tls: false }).tlsMode).toBe('off');
    });

    test('refuses props that contradict each other, and ssl settings in extraSettings', () => {
      expect(fails({ tls: false, tlsSecretName: 'db-tls' })).toThrow(
        'PostgresConfig test/Config: tlsSecretName "db-tls" is given but tls is false: the certificate would not be used. Drop one of them.');
      expect(fails({ tls: false, requireTls: true })).toThrow(
        'PostgresConfig test/Config: requireTls is true but tls is false: no client could connect. Turn tls on, or drop requireTls.');
      expect(fails({ extraSettings: { ssl: 'off' } })).toThrow('set "ssl" with the tls property, not extraSettings.');
      expect(fails({ extraSettings: { ssl_cert_file: '/x' } })).toThrow('set "ssl_cert_file" with the tlsSecretName property, not extraSettings.');
      expect(fails({ tlsSecretName: 'Bad_Name' })).toThrow(/tlsSecretName "Bad_Name" is not a Kubernetes object name/);
      expect(fails({ extraSettings: { ssl_ciphers: 'HIGH' } })).not.toThrow();
    });
  });

  describe('Secret', () => {
    const decoded = (secret: any) => Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v as string, 'base64').toString()]));

    test('no password is in the YAML by default: both Secrets are generated in the cluster', () => {
      const { objects } = config();
      expect(objects.filter(o => o.kind === 'Secret')).toEqual([]);
      expect(JSON.stringify(objects)).not.toMatch(/cG9zdGdyZXM=|cmVwbGljYXRvcg==/);
      const construct = new PostgresConfig(Testing.chart(), 'C');
      expect([construct.secretName, construct.appSecretName, construct.generatedSecretNames]).toEqual(['postgres-secret', 'postgres-app', ['postgres-secret', 'postgres-app']]);
    });

    test('holds the given passwords', () => {
      const secret = find(config({ superuserPassword: 'pä:ss\\word', replicationPassword: 'r3pl' }).objects, 'Secret', 'postgres-secret');
      expect(decoded(secret)).toEqual({ 'password': 'pä:ss\\word', 'replication-password': 'r3pl' });
      expect(new PostgresConfig(Testing.chart(), 'C', { superuserPassword: 'x' }).generatedSecretNames).toEqual(['postgres-app']);
    });

    test('one given password gets the reference design\'s for the other key', () => {
      expect(decoded(find(config({ replicationPassword: 'r3pl' }).objects, 'Secret', 'postgres-secret'))).toEqual({ 'password': 'postgres', 'replication-password': 'r3pl' });
      expect(decoded(find(config({ superuserPassword: 's' }).objects, 'Secret', 'postgres-secret'))).toEqual({ 'password': 's', 'replication-password': 'replicator' });
    });

    test('is not synthesized nor generated when an existing Secret is named', () => {
      const { objects } = config({ existingSecretName: 'vault-postgres' });
      expect(objects.filter(o => o.kind === 'Secret')).toEqual([]);
      const construct = new PostgresConfig(Testing.chart(), 'C', { existingSecretName: 'vault-postgres' });
      expect(construct.secretName).toBe('vault-postgres');
      expect(construct.generatedSecretNames).toEqual(['postgres-app']);
    });

    test('the application\'s Secret holds what a client connects with, the password URI-encoded in the uri', () => {
      const secret = find(config({ clusterName: 'orders', appUser: 'shop', database: 'shop_db', appPassword: 'p@ss/w:rd' }).objects, 'Secret', 'orders-app');
      expect(decoded(secret)).toEqual({
        username: 'shop',
        password: 'p@ss/w:rd',
        dbname: 'shop_db',
        host: 'orders-write',
        port: '5432',
        uri: 'postgresql://shop:p%40ss%2Fw%3Ard@orders-write:5432/shop_db',
      });
      expect(new PostgresConfig(Testing.chart(), 'C', { appPassword: 'x', existingSecretName: 'mine' }).generatedSecretNames).toEqual([]);
    });

    test('an existing application Secret is used as it is', () => {
      const construct = new PostgresConfig(Testing.chart(), 'C', { existingAppSecretName: 'app-credentials' });
      expect([construct.appSecretName, construct.generatedSecretNames]).toEqual(['app-credentials', ['postgres-secret']]);
      expect(config({ existingAppSecretName: 'app-credentials' }).objects.filter(o => o.kind === 'Secret')).toEqual([]);
    });

    test('is an Opaque Secret with the cluster\'s labels', () => {
      const { objects } = config({ clusterName: 'orders', superuserPassword: 's', appPassword: 'a' });
      for (const name of ['orders-secret', 'orders-app']) {
        const secret = find(objects, 'Secret', name);
        expect(secret.type).toBe('Opaque');
        expect(secret.metadata.labels).toEqual({
          'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster',
        });
      }
    });
  });

  describe('init scripts', () => {
    test('create the replication role from the Secret, never from a literal password', () => {
      const init = find(config().objects, 'ConfigMap', 'postgres-init').data;
      expect(Object.keys(init)).toEqual(['01-create-replication-user.sh', '02-create-monitoring-role.sql']);
      expect(init['01-create-replication-user.sh']).toContain('\\\\set password $(psql_quote "$POSTGRES_REPLICATION_PASSWORD")');
      expect(init['01-create-replication-user.sh']).not.toMatch(/PASSWORD '|-v password/);
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
      expect(objects.map(o => o.metadata.name).sort()).toEqual(['orders-cluster-init', 'orders-config', 'orders-init']);
      const withPasswords = config({ clusterName: 'orders', superuserPassword: 's', appPassword: 'a' }).objects;
      expect(withPasswords.map(o => o.metadata.name).sort()).toEqual(['orders-app', 'orders-cluster-init', 'orders-config', 'orders-init', 'orders-secret']);
    });

    test('every ConfigMap carries the cluster\'s labels', () => {
      const { objects } = config({ clusterName: 'orders' });
      for (const name of ['orders-config', 'orders-init', 'orders-cluster-init']) {
        expect([name, find(objects, 'ConfigMap', name).metadata.labels]).toEqual([name, {
          'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster',
        }]);
      }
    });

    test('exposes the settings it was given or defaulted to', () => {
      const c = new PostgresConfig(Testing.chart(), 'C', { postgresVersion: 16, maxReplicas: 5, synchronousReplicas: 1, database: 'shop', replicationUser: 'streamer', initdbArgs: '--data-checksums' });
      expect([c.clusterName, c.postgresVersion, c.maxReplicas, c.synchronousReplicas, c.database, c.replicationUser, c.initdbArgs])
        .toEqual(['postgres', 16, 5, 1, 'shop', 'streamer', '--data-checksums']);
      const d = new PostgresConfig(Testing.chart(), 'D');
      expect([d.postgresVersion, d.maxReplicas, d.synchronousReplicas, d.database, d.replicationUser, d.initdbArgs, d.appUser])
        .toEqual([15, 10, 0, 'myapp', 'replicator', '--encoding=UTF8 --locale=C', 'app']);
    });
  });

  describe('automatic failover', () => {
    const DEFAULT_TIMERS = {
      leaseSeconds: 10,
      renewSeconds: 2,
      renewDeadlineSeconds: 6,
      primaryRestartGraceSeconds: 30,
      minimumIntervalSeconds: 60,
      maximumLagBytes: 1_048_576,
      deadlineFile: '/var/run/postgresql/lease-deadline',
    };
    const failsWith = (options: AutomaticFailoverOptions) => fails({ automaticFailover: options });

    test('is off by default: the agents\' document says enabled: false (with the default timers, which it then ignores)', () => {
      expect(sidecarDocument().automaticFailover).toEqual({ enabled: false, ...DEFAULT_TIMERS });
    });

    test('automaticFailover: {} turns it on with the defaults: a 10 s lease renewed every 2 s, fenced at 6 s', () => {
      expect(sidecarDocument({ automaticFailover: {} }).automaticFailover).toEqual({ enabled: true, ...DEFAULT_TIMERS });
    });

    test('the given timers and limits reach the agents\' document, under the agent\'s names', () => {
      expect(sidecarDocument({
        clusterName: 'orders',
        automaticFailover: {
          leaseDurationSeconds: 20,
          renewIntervalSeconds: 3,
          renewDeadlineSeconds: 15,
          primaryRestartGraceSeconds: 45,
          minimumFailoverIntervalSeconds: 300,
          maximumLagOnFailover: 16_777_216,
        },
      }).automaticFailover).toEqual({
        enabled: true,
        leaseSeconds: 20,
        renewSeconds: 3,
        renewDeadlineSeconds: 15,
        primaryRestartGraceSeconds: 45,
        minimumIntervalSeconds: 300,
        maximumLagBytes: 16_777_216,
        deadlineFile: '/var/run/postgresql/lease-deadline',
      });
    });

    test('a value given alone keeps the defaults of the others', () => {
      expect(sidecarDocument({ automaticFailover: { leaseDurationSeconds: 30 } }).automaticFailover)
        .toEqual({ enabled: true, ...DEFAULT_TIMERS, leaseSeconds: 30 });
      expect(sidecarDocument({ automaticFailover: { maximumLagOnFailover: 0, minimumFailoverIntervalSeconds: 0 } }).automaticFailover)
        .toEqual({ enabled: true, ...DEFAULT_TIMERS, maximumLagBytes: 0, minimumIntervalSeconds: 0 });
    });

    test('the tightest timers it accepts (renew 1 s, deadline 2 s, lease 4 s) and the longest lease a Lease holds, the agent accepts too', () => {
      const tightest = { renewIntervalSeconds: 1, renewDeadlineSeconds: 2, leaseDurationSeconds: 4, primaryRestartGraceSeconds: 1 };
      expect(sidecarDocument({ automaticFailover: tightest }).automaticFailover)
        .toMatchObject({ renewSeconds: 1, renewDeadlineSeconds: 2, leaseSeconds: 4, primaryRestartGraceSeconds: 1 });
      expect(sidecarDocument({ automaticFailover: { leaseDurationSeconds: 2 ** 31 - 1 } }).automaticFailover.leaseSeconds).toBe(2 ** 31 - 1);
    });

    test('reaches the agents of a PostgresClusterChart', () => {
      const objects = synthCluster({ automaticFailover: { leaseDurationSeconds: 12 } });
      const document = JSON.parse(find(objects, 'ConfigMap', 'postgres-cluster-init').data['sidecar.json']);
      expect(document.automaticFailover).toEqual({ enabled: true, ...DEFAULT_TIMERS, leaseSeconds: 12 });
    });

    test('fails when automaticFailover is not a set of options, telling how to turn it on or leave it off', () => {
      expect(fails({ automaticFailover: true as unknown as AutomaticFailoverOptions })).toThrow(
        'PostgresConfig test/Config: automaticFailover true is not a set of options: give {} to turn automatic failover on with the defaults, '
        + 'or { leaseDurationSeconds: 20, renewDeadlineSeconds: 15 }; leave it out to keep it off.');
      for (const value of [false, null, 'on', 10, [{}]]) {
        expect(fails({ automaticFailover: value as unknown as AutomaticFailoverOptions })).toThrow(
          `PostgresConfig test/Config: automaticFailover ${JSON.stringify(value)} is not a set of options: give {}`);
      }
    });

    test('fails when a timer is not a whole number of seconds of at least 1, naming the value', () => {
      expect(failsWith({ leaseDurationSeconds: 0 })).toThrow(
        'PostgresConfig test/Config: automaticFailover.leaseDurationSeconds must be an integer between 1 and 2147483647 '
        + '(seconds without a renewal before a replica takes over; the Lease keeps them as a 32-bit integer); got 0.');
      expect(failsWith({ leaseDurationSeconds: 2 ** 31 })).toThrow('automaticFailover.leaseDurationSeconds must be an integer between 1 and 2147483647');
      expect(failsWith({ renewIntervalSeconds: 0.5 })).toThrow(
        'PostgresConfig test/Config: automaticFailover.renewIntervalSeconds must be an integer at least 1 (seconds between two renewals of the lease); got 0.5.');
      expect(failsWith({ renewDeadlineSeconds: -6 })).toThrow(
        'PostgresConfig test/Config: automaticFailover.renewDeadlineSeconds must be an integer at least 1 '
        + '(seconds after its last successful renewal began before a primary fences itself); got -6.');
      expect(failsWith({ primaryRestartGraceSeconds: 0 })).toThrow(
        'PostgresConfig test/Config: automaticFailover.primaryRestartGraceSeconds must be an integer at least 1 '
        + '(seconds a primary whose PostgreSQL stopped keeps its lease to restart in place); got 0.');
      for (const name of ['leaseDurationSeconds', 'renewIntervalSeconds', 'renewDeadlineSeconds', 'primaryRestartGraceSeconds']) {
        for (const value of ['10', NaN, Infinity, null, 1.5]) {
          expect(failsWith({ [name]: value } as unknown as AutomaticFailoverOptions)).toThrow(`automaticFailover.${name} must be an integer`);
        }
      }
    });

    test('fails when the minimum interval or the maximum lag is not a whole number of at least 0, naming the value', () => {
      expect(failsWith({ minimumFailoverIntervalSeconds: -1 })).toThrow(
        'PostgresConfig test/Config: automaticFailover.minimumFailoverIntervalSeconds must be an integer at least 0 '
        + '(seconds after a change of primary before the next automatic failover; 0 for none); got -1.');
      expect(failsWith({ maximumLagOnFailover: 1.5 })).toThrow(
        'PostgresConfig test/Config: automaticFailover.maximumLagOnFailover must be an integer at least 0 '
        + '(bytes of WAL a replica may be behind and still take over); got 1.5.');
      expect(failsWith({ maximumLagOnFailover: '1MB' as unknown as number })).toThrow('automaticFailover.maximumLagOnFailover must be an integer at least 0');
      expect(failsWith({ maximumLagOnFailover: 2 ** 53 })).toThrow('automaticFailover.maximumLagOnFailover must be an integer at least 0');
    });

    test('fails when the primary would renew no sooner than its renew deadline, naming both values and the fixes', () => {
      expect(failsWith({ renewIntervalSeconds: 6 })).toThrow(
        'PostgresConfig test/Config: automaticFailover.renewIntervalSeconds 6 is not shorter than automaticFailover.renewDeadlineSeconds (6 by default): '
        + 'the primary would fence itself before its next renewal. Set renewIntervalSeconds to at most 5, or renewDeadlineSeconds to at least 7.');
      expect(failsWith({ renewIntervalSeconds: 8 })).toThrow(
        'automaticFailover.renewIntervalSeconds 8 is not shorter than automaticFailover.renewDeadlineSeconds (6 by default): the primary would fence '
        + 'itself before its next renewal. Set renewIntervalSeconds to at most 5, or renewDeadlineSeconds to at least 9 and leaseDurationSeconds to at least 11.');
      expect(failsWith({ renewDeadlineSeconds: 2 })).toThrow(
        'automaticFailover.renewIntervalSeconds (2 by default) is not shorter than automaticFailover.renewDeadlineSeconds 2: the primary would fence '
        + 'itself before its next renewal. Set renewIntervalSeconds to at most 1, or renewDeadlineSeconds to at least 3.');
      expect(failsWith({ renewDeadlineSeconds: 1 })).toThrow(
        'automaticFailover.renewIntervalSeconds (2 by default) is not shorter than automaticFailover.renewDeadlineSeconds 1: the primary would fence '
        + 'itself before its next renewal. Set renewDeadlineSeconds to at least 3.');
      expect(failsWith({ renewIntervalSeconds: 5, renewDeadlineSeconds: 4, leaseDurationSeconds: 30 })).toThrow(
        'automaticFailover.renewIntervalSeconds 5 is not shorter than automaticFailover.renewDeadlineSeconds 4: the primary would fence '
        + 'itself before its next renewal. Set renewIntervalSeconds to at most 3, or renewDeadlineSeconds to at least 6.');
      expect(failsWith({ renewIntervalSeconds: 5 })).not.toThrow();
    });

    test('fails when the lease does not outlast the renew deadline by 2 s, also for a lease given alone against the default deadline', () => {
      expect(failsWith({ leaseDurationSeconds: 5 })).toThrow(
        'PostgresConfig test/Config: automaticFailover.leaseDurationSeconds 5 is too short for automaticFailover.renewDeadlineSeconds (6 by default): '
        + 'the lease must outlast the renew deadline by at least 2 seconds, for a primary that cannot renew to finish fencing itself before a replica '
        + 'may take over. Set leaseDurationSeconds to at least 8, or renewDeadlineSeconds to at most 3.');
      expect(failsWith({ leaseDurationSeconds: 7 }))
        .toThrow(/leaseDurationSeconds 7 is too short .* Set leaseDurationSeconds to at least 8, or renewDeadlineSeconds to at most 5\.$/);
      expect(failsWith({ leaseDurationSeconds: 8 })).not.toThrow();
      expect(failsWith({ renewDeadlineSeconds: 9 })).toThrow(
        'automaticFailover.leaseDurationSeconds (10 by default) is too short for automaticFailover.renewDeadlineSeconds 9: the lease must outlast '
        + 'the renew deadline by at least 2 seconds, for a primary that cannot renew to finish fencing itself before a replica may take over. '
        + 'Set leaseDurationSeconds to at least 11, or renewDeadlineSeconds to at most 8.');
      expect(failsWith({ renewDeadlineSeconds: 8 })).not.toThrow();
      // A shorter deadline needs a shorter renewal interval too, and below a 4 s lease no deadline fits.
      expect(failsWith({ leaseDurationSeconds: 4 })).toThrow(
        /Set leaseDurationSeconds to at least 8, or renewDeadlineSeconds to at most 2 and renewIntervalSeconds to at most 1\.$/);
      expect(failsWith({ leaseDurationSeconds: 3 })).toThrow(/leaseDurationSeconds 3 is too short .* Set leaseDurationSeconds to at least 8\.$/);
      expect(failsWith({ leaseDurationSeconds: 20, renewDeadlineSeconds: 19 })).toThrow(
        'automaticFailover.leaseDurationSeconds 20 is too short for automaticFailover.renewDeadlineSeconds 19: the lease must outlast');
      expect(failsWith({ leaseDurationSeconds: 20, renewDeadlineSeconds: 18 })).not.toThrow();
    });
  });

  describe('fails at synth', () => {
    test('fails when a prop that holds a name or a size is not a string (a JavaScript or Python caller)', () => {
      for (const prop of ['clusterName', 'walKeepSize', 'maxSlotWalKeepSize', 'database', 'replicationUser', 'superuserPassword',
        'replicationPassword', 'existingSecretName', 'initdbArgs']) {
        expect(fails({ [prop]: 5 })).toThrow(`PostgresConfig test/Config: ${prop} must be a string; got number 5.`);
      }
      expect(fails({ clusterName: null as unknown as string })).toThrow('clusterName must be a string; got null.');
      expect(fails({ database: ['a'] as unknown as string })).toThrow('database must be a string; got an array (["a"]).');
      expect(fails({ database: { a: 1 } as unknown as string })).toThrow('database must be a string; got an object ({"a":1}).');
      expect(fails({ initdbArgs: true as unknown as string })).toThrow('initdbArgs must be a string; got boolean true.');
    });

    test('fails on an empty password', () => {
      expect(fails({ superuserPassword: '' })).toThrow(
        'PostgresConfig test/Config: superuserPassword is empty: give a password, or leave it out (generated in the cluster), or use existingSecretName.');
      expect(fails({ replicationPassword: '' })).toThrow(
        'PostgresConfig test/Config: replicationPassword is empty: give a password, or leave it out (generated in the cluster), or use existingSecretName.');
      expect(fails({ appPassword: '' })).toThrow(
        'PostgresConfig test/Config: appPassword is empty: give a password, or leave it out (generated in the cluster), or use existingAppSecretName.');
    });

    test('fails on a password next to the Secret that would hold it', () => {
      expect(fails({ superuserPassword: 's', existingSecretName: 'mine' })).toThrow(
        'PostgresConfig test/Config: superuserPassword and existingSecretName are both given: the password would be ignored. Put it into your Secret "mine", or drop existingSecretName.');
      expect(fails({ replicationPassword: 'r', existingSecretName: 'mine' })).toThrow(/replicationPassword and existingSecretName are both given/);
      expect(fails({ appPassword: 'a', existingAppSecretName: 'apps' })).toThrow(
        'PostgresConfig test/Config: appPassword and existingAppSecretName are both given: the password would be ignored. Put it into your Secret "apps", or drop existingAppSecretName.');
    });

    test('fails on an application or replication role that has another role\'s name', () => {
      expect(fails({ appUser: 'postgres' })).toThrow(
        'PostgresConfig test/Config: appUser "postgres" is the superuser\'s name: the application needs a role of its own. Choose another.');
      expect(fails({ appUser: 'replicator' })).toThrow(/appUser "replicator" is the replication role's name/);
      expect(fails({ appUser: 'repl', replicationUser: 'repl' })).toThrow(/appUser "repl" is the replication role's name/);
      expect(fails({ appUser: 'postgres_exporter' })).toThrow(/appUser "postgres_exporter" is the metrics role's name/);
      expect(fails({ replicationUser: 'postgres' })).toThrow('PostgresConfig test/Config: replicationUser "postgres" is the superuser\'s name: choose another.');
      expect(fails({ replicationUser: 'postgres_exporter' })).toThrow(/replicationUser "postgres_exporter" is the metrics role's name/);
      expect(fails({ appUser: 'App' })).toThrow(/appUser "App" is not a plain PostgreSQL name/);
      expect(fails({ appUser: 'shop' })).not.toThrow();
    });

    test('fails when existingAppSecretName is not a Kubernetes object name', () => {
      expect(fails({ existingAppSecretName: 'App_Secret' })).toThrow(/existingAppSecretName "App_Secret" is not a Kubernetes object name/);
    });

    test('fails when existingSecretName is not a Kubernetes object name', () => {
      expect(fails({ existingSecretName: 'Vault_Postgres' })).toThrow(
        'PostgresConfig test/Config: existingSecretName "Vault_Postgres" is not a Kubernetes object name: use lower-case letters, digits, "-" and ".", '
        + 'starting and ending with a letter or digit, e.g. "orders-db-credentials".');
      expect(fails({ existingSecretName: 'a'.repeat(254) })).toThrow(/is not a Kubernetes object name/);
      expect(fails({ existingSecretName: 'a'.repeat(253) })).not.toThrow();
      expect(fails({ existingSecretName: 'vault.postgres-1' })).not.toThrow();
    });

    test('fails when extraSettings or initScripts is not an object of strings', () => {
      expect(fails({ extraSettings: 'work_mem=4MB' as unknown as {} })).toThrow(
        'PostgresConfig test/Config: extraSettings must be an object of names to strings, e.g. { "work_mem": "16MB" }; got "work_mem=4MB".');
      expect(fails({ initScripts: null as unknown as {} })).toThrow('initScripts must be an object of names to strings, e.g. { "work_mem": "16MB" }; got null.');
      expect(fails({ initScripts: ['a.sql'] as unknown as {} })).toThrow('initScripts must be an object of names to strings');
      expect(fails({ extraSettings: { work_mem: 4 } as unknown as {} })).toThrow('PostgresConfig test/Config: extraSettings["work_mem"] must be a string; got number 4.');
    });

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

    test('suggests a setting within a few edits of the misspelt name, more for a long name, and none when nothing is near', () => {
      const message = (name: string) => `PostgresConfig test/Config: extraSettings: PostgreSQL 15 does not know "${name}"`;
      expect(fails({ extraSettings: { work_mex: '4MB' } })).toThrow(`${message('work_mex')}; did you mean "work_mem"?.`);
      expect(fails({ extraSettings: { wal_keep_sise: '1GB' } })).toThrow(`${message('wal_keep_sise')}; did you mean "wal_keep_size"?.`);
      expect(fails({ extraSettings: { log_min_duration_statemen: '1s' } })).toThrow(`${message('log_min_duration_statemen')}; did you mean "log_min_duration_statement"?.`);
      // 3 edits at most for a name of up to 15 letters: shared_buf is 4 deletions away from shared_buffers.
      expect(fails({ extraSettings: { shared_buf: '1GB' } })).toThrow(`${message('shared_buf')}.`);
      // A quarter of the letters for a longer one: 6 edits for 26 letters.
      expect(fails({ extraSettings: { maintenance_work_mem_xxxxx: '1GB' } })).toThrow(`${message('maintenance_work_mem_xxxxx')}; did you mean "maintenance_work_mem"?.`);
      expect(fails({ extraSettings: { completely_unknown_thing: '1' } })).toThrow(`${message('completely_unknown_thing')}.`);
    });

    test('knows setting names in any case, and a custom setting of an extension (a name with a dot) always', () => {
      expect(config({ extraSettings: { 'Shared_Buffers': '1GB', 'myext.anything': 'x', 'pg_stat_statements.track': 'all' } }).settings.get('shared_buffers')).toBe('1GB');
      expect(fails({ extraSettings: { Standby_Mode: 'on' } })).toThrow(
        'PostgresConfig test/Config: extraSettings: PostgreSQL 15 does not know "Standby_Mode" (removed in 12): standby mode is a standby.signal file, which the library manages.');
    });

    test('fails on a setting from the version it was added in on, and from the version it was removed in on', () => {
      expect(fails({ postgresVersion: 13, extraSettings: { compute_query_id: 'on' } })).toThrow(
        'PostgresConfig test/Config: extraSettings: PostgreSQL 13 does not know "compute_query_id" (added in 14): remove it or use postgresVersion 14 or later.');
      expect(fails({ postgresVersion: 14, extraSettings: { compute_query_id: 'on' } })).not.toThrow();
      expect(fails({ postgresVersion: 16, extraSettings: { db_user_namespace: 'on' } })).not.toThrow();
      expect(fails({ postgresVersion: 17, extraSettings: { db_user_namespace: 'on' } })).toThrow(
        'PostgresConfig test/Config: extraSettings: PostgreSQL 17 does not know "db_user_namespace" (removed in 17): remove it.');
      expect(fails({ postgresVersion: 13, extraSettings: { checkpoint_segments: '3' } })).toThrow('(removed in 9.5): use max_wal_size.');
    });

    test('fails when extraSettings would override what replication depends on', () => {
      expect(fails({ extraSettings: { hot_standby: 'off' } })).toThrow('extraSettings may not set "hot_standby": the library manages it');
      expect(fails({ extraSettings: { wal_level: 'minimal' } })).toThrow('(only "logical" may replace "replica")');
      expect(fails({ extraSettings: { primary_conninfo: 'host=x' } })).toThrow(/may not set "primary_conninfo"/);
    });

    test('fails on every setting the library manages, whatever its value or case', () => {
      for (const name of ['listen_addresses', 'port', 'hot_standby', 'wal_log_hints', 'password_encryption', 'config_file', 'hba_file',
        'data_directory', 'cluster_name', 'primary_conninfo', 'unix_socket_directories', 'recovery_target_timeline', 'primary_slot_name']) {
        expect(fails({ extraSettings: { [name]: 'logical' } })).toThrow(
          `PostgresConfig test/Config: extraSettings may not set "${name}": the library manages it for replication and failover to work.`);
      }
      expect(fails({ extraSettings: { Hot_Standby: 'on' } })).toThrow('extraSettings may not set "Hot_Standby"');
      expect(fails({ extraSettings: { wal_level: 'replica' } })).toThrow(
        'PostgresConfig test/Config: extraSettings may not set "wal_level": the library manages it for replication and failover to work (only "logical" may replace "replica").');
    });

    test('fails when extraSettings sets what a typed property sets', () => {
      expect(fails({ extraSettings: { max_wal_senders: '3' } })).toThrow('set "max_wal_senders" with the maxWalSenders property, not extraSettings.');
      expect(fails({ extraSettings: { synchronous_standby_names: '*' } })).toThrow(/synchronousReplicas property/);
    });

    test('fails on every setting that a typed property sets, naming the property', () => {
      for (const [name, prop] of [['max_wal_senders', 'maxWalSenders'], ['wal_keep_size', 'walKeepSize'], ['max_slot_wal_keep_size', 'maxSlotWalKeepSize'],
        ['synchronous_standby_names', 'synchronousReplicas'], ['max_connections', 'maxConnections'], ['MAX_CONNECTIONS', 'maxConnections']]) {
        expect(fails({ extraSettings: { [name]: '1' } })).toThrow(`PostgresConfig test/Config: set "${name}" with the ${prop} property, not extraSettings.`);
      }
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

    test('fails on an init script whose file name the entrypoint would not run, or that is not a plain file name', () => {
      for (const name of ['.hidden.sql', '-x.sql', 'a b.sql', 'dir/a.sql', 'schema.sql.bak', 'schema.sqlx', 'schema.psql', 'x.sh~', 'schema']) {
        expect(fails({ initScripts: { [name]: '' } })).toThrow(
          `PostgresConfig test/Config: initScripts file name "${name}" must end in .sql or .sh and use letters, digits, ".", "_" and "-".`);
      }
      expect(fails({ initScripts: { '01-create-replication-user.sh': '' } })).toThrow(
        'PostgresConfig test/Config: initScripts may not replace "01-create-replication-user.sh": the library creates the replication role with it.');
      expect(fails({ initScripts: { 'A1_x-y.z.sql': '', '9.sh': '' } })).not.toThrow();
    });
  });
});
