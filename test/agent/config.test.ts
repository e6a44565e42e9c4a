// The one contract from the constructs to the agent: the sidecar's configuration document that PostgresConfig writes
// into the scripts ConfigMap is what the agent's reader accepts, every setting arriving; a bad document is refused with
// a message naming the setting.
import { PostgresConfig, PostgresConfigProps } from '../../src';
import { parseSidecarConfig, SidecarConfig } from '../../src/agent/config';
import { find, synthChart } from '../support/synth';

function documentOf(props: PostgresConfigProps): { text: string; config: SidecarConfig } {
  const objects = synthChart(chart => new PostgresConfig(chart, 'Config', props));
  const scripts = find(objects, 'ConfigMap', `${props.clusterName ?? 'postgres'}-cluster-init`);
  const text = scripts.data['sidecar.json'] as string;
  return { text, config: parseSidecarConfig(text, 'sidecar.json') };
}

const valid = (): Record<string, any> => JSON.parse(documentOf({}).text);
const refusal = (document: unknown) => {
  try {
    parseSidecarConfig(JSON.stringify(document), '/opt/postgres-cluster/sidecar.json');
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
};

describe('the sidecar configuration document', () => {
  test('the default cluster\'s document: every setting as the manifests name things', () => {
    expect(documentOf({}).config).toEqual({
      version: 1,
      leaderRecord: 'postgres-leader',
      recordLabels: { 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'postgres', 'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster' },
      clusterSelector: 'app=postgres,app.kubernetes.io/instance=postgres',
      statefulSet: 'postgres-cluster',
      roleLabel: 'role',
      primaryHost: 'postgres-write',
      port: 5432,
      pgdata: '/var/lib/postgresql/data/pgdata',
      socketDir: '/var/run/postgresql',
      recordFile: '/var/run/postgresql/leader-record',
      eventFile: '/var/run/postgresql/pod-event',
      startPlanFile: '/var/run/postgresql/start-plan',
      restoreFrom: false,
      users: { superuser: 'postgres', replication: 'replicator', app: 'app', network: 'replicator' },
      appDatabase: 'myapp',
      secretDir: '/etc/postgres-cluster/secret',
      appSecretDir: '/etc/postgres-cluster/app-secret',
      configDir: '/etc/postgresql',
      tlsSecretDir: '',
      passwordFile: '/var/run/postgres-credentials/pgpass',
      tls: true,
      synchronousReplicas: 0,
      postgresVersion: 15,
      peerDomain: 'postgres-headless',
      timing: { pollSeconds: 1, reassertSeconds: 30, isolationFenceSeconds: 10, walCheckSeconds: 10, maintainSeconds: 10, apiTimeoutSeconds: 2 },
      automaticFailover: {
        enabled: false,
        leaseSeconds: 10,
        renewSeconds: 2,
        renewDeadlineSeconds: 6,
        primaryRestartGraceSeconds: 30,
        minimumIntervalSeconds: 60,
        maximumLagBytes: 1048576,
        deadlineFile: '/var/run/postgresql/lease-deadline',
      },
    });
  });

  test('automatic failover on: its timers and limits arrive as given, the rest as the defaults', () => {
    const { config } = documentOf({ automaticFailover: { leaseDurationSeconds: 8, renewIntervalSeconds: 1, maximumLagOnFailover: 0 } });
    expect(config.automaticFailover).toEqual({
      enabled: true,
      leaseSeconds: 8,
      renewSeconds: 1,
      renewDeadlineSeconds: 6,
      primaryRestartGraceSeconds: 30,
      minimumIntervalSeconds: 60,
      maximumLagBytes: 0,
      deadlineFile: '/var/run/postgresql/lease-deadline',
    });
  });

  test('non-default props arrive: names, roles, database, synchronous mode, TLS off, PostgreSQL 14\'s network superuser', () => {
    const { config } = documentOf({
      clusterName: 'orders', replicationUser: 'streamer', appUser: 'shop', database: 'shopdb', synchronousReplicas: 2, tls: false, postgresVersion: 14,
    });
    expect(config).toMatchObject({
      leaderRecord: 'orders-leader',
      clusterSelector: 'app=orders,app.kubernetes.io/instance=orders',
      statefulSet: 'orders-cluster',
      primaryHost: 'orders-write',
      users: { superuser: 'postgres', replication: 'streamer', app: 'shop', network: 'postgres' },
      appDatabase: 'shopdb',
      synchronousReplicas: 2,
      tls: false,
    });
    expect(config.recordLabels['app.kubernetes.io/instance']).toBe('orders');
  });

  test('restoreFrom: the start plan of a new cluster\'s first pod restores the backup (restoreFrom true), not initdb', () => {
    expect(documentOf({ restoreFrom: { clusterName: 'old', claimName: 'old-archive' } }).config.restoreFrom).toBe(true);
    expect(documentOf({}).config.restoreFrom).toBe(false);
  });

  test('a certificate from a Secret: the sidecar watches its mounted directory for renewals', () => {
    expect(documentOf({ tlsSecretName: 'pg-cert' }).config).toMatchObject({ tls: true, tlsSecretDir: '/etc/postgres-cluster/tls' });
  });

  test.each<[string, (d: Record<string, any>) => unknown, string]>([
    ['a missing setting', d => { delete d.synchronousReplicas; return d; }, 'synchronousReplicas is missing (an integer ≥ 0)'],
    ['a negative count', d => ({ ...d, synchronousReplicas: -1 }), 'synchronousReplicas is -1: it must be an integer ≥ 0'],
    ['a count given as text', d => ({ ...d, synchronousReplicas: '1' }), 'synchronousReplicas is "1": it must be an integer ≥ 0'],
    ['a fractional count', d => ({ ...d, synchronousReplicas: 1.5 }), 'synchronousReplicas is 1.5: it must be an integer ≥ 0'],
    ['an unknown setting', d => ({ ...d, pollSecs: 1 }), 'pollSecs is not a setting of this version of the agent'],
    ['a relative path', d => ({ ...d, pgdata: 'data' }), 'pgdata is "data": it must be an absolute path'],
    ['a path with a space', d => ({ ...d, recordFile: '/var/run/leader record' }), 'recordFile is "/var/run/leader record": it must be an absolute path'],
    ['an empty name', d => ({ ...d, leaderRecord: '' }), 'leaderRecord is "": it must be a non-empty string without whitespace'],
    ['a selector without a value', d => ({ ...d, clusterSelector: 'app' }), 'clusterSelector is "app": it must be a label selector'],
    ['a selector with a space', d => ({ ...d, clusterSelector: 'app=a, b=c' }), 'clusterSelector is "app=a, b=c": it must be a label selector'],
    ['port 0', d => ({ ...d, port: 0 }), 'port is 0: it must be an integer from 1 to 65535'],
    ['port 65536', d => ({ ...d, port: 65536 }), 'port is 65536: it must be an integer from 1 to 65535'],
    ['tls as text', d => ({ ...d, tls: 'true' }), 'tls is "true": it must be true or false'],
    ['labels with a number', d => ({ ...d, recordLabels: { a: 1 } }), 'recordLabels is {"a":1}: it must be an object of string values'],
    ['labels as a list', d => ({ ...d, recordLabels: ['a'] }), 'recordLabels is ["a"]: it must be an object of string values'],
    ['a missing role', d => ({ ...d, users: { ...d.users, replication: undefined } }), 'users.replication is missing'],
    ['an app role that is not text', d => ({ ...d, users: { ...d.users, app: null } }), 'users.app is null: it must be a string'],
    ['no timing', d => ({ ...d, timing: undefined }), 'timing must be an object'],
    ['zero seconds', d => ({ ...d, timing: { ...d.timing, pollSeconds: 0 } }), 'timing.pollSeconds is 0: it must be a number of seconds > 0'],
    ['infinite seconds', d => ({ ...d, timing: { ...d.timing, maintainSeconds: 1e999 } }), 'timing.maintainSeconds is null: it must be a number of seconds > 0'],
    ['a fence no longer than a round', d => ({ ...d, timing: { ...d.timing, isolationFenceSeconds: 1 } }),
      'timing.isolationFenceSeconds must be longer than timing.pollSeconds'],
    ['another version', d => ({ ...d, version: 2 }), 'version is 2: this agent reads version 1'],
    ['no automatic failover settings', d => ({ ...d, automaticFailover: undefined }), 'automaticFailover must be an object'],
    ['automatic failover neither on nor off', d => ({ ...d, automaticFailover: { ...d.automaticFailover, enabled: 'yes' } }),
      'automaticFailover.enabled is "yes": it must be true or false'],
    ['a lag given in megabytes', d => ({ ...d, automaticFailover: { ...d.automaticFailover, maximumLagBytes: 1.5 } }),
      'automaticFailover.maximumLagBytes is 1.5: it must be an integer ≥ 0'],
    ['a renew deadline no longer than the renew interval', d => ({ ...d, automaticFailover: { ...d.automaticFailover, renewDeadlineSeconds: 2 } }),
      'automaticFailover.renewDeadlineSeconds must be longer than automaticFailover.renewSeconds'],
    ['a lease no longer than the renew deadline', d => ({ ...d, automaticFailover: { ...d.automaticFailover, leaseSeconds: 6 } }),
      'automaticFailover.leaseSeconds must be longer than automaticFailover.renewDeadlineSeconds: a replica could take over before the primary fenced itself'],
    ['a peer domain with a space', d => ({ ...d, peerDomain: 'a b' }), 'peerDomain is "a b": it must be a non-empty string without whitespace'],
    ['a list', () => [], 'the document must be a JSON object'],
    ['a name given as a list', d => ({ ...d, leaderRecord: ['x'] }), 'leaderRecord is ["x"]: it must be a non-empty string without whitespace'],
    ['a name with a leading space', d => ({ ...d, leaderRecord: ' pg' }), 'leaderRecord is " pg": it must be a non-empty string without whitespace'],
    ['a name with a trailing space', d => ({ ...d, roleLabel: 'role ' }), 'roleLabel is "role ": it must be a non-empty string without whitespace'],
    ['a path given as a list', d => ({ ...d, pgdata: ['/data'] }), 'pgdata is ["/data"]: it must be an absolute path'],
    ['a path that only contains a slash', d => ({ ...d, socketDir: 'run/postgresql' }), 'socketDir is "run/postgresql": it must be an absolute path'],
    ['an optional path that is relative', d => ({ ...d, tlsSecretDir: 'tls' }), 'tlsSecretDir is "tls": it must be an absolute path or ""'],
    ['a selector given as a list', d => ({ ...d, clusterSelector: ['app=a'] }), 'clusterSelector is ["app=a"]: it must be a label selector'],
    ['a selector with three terms, one broken', d => ({ ...d, clusterSelector: 'a=1,b=2,c' }), 'clusterSelector is "a=1,b=2,c": it must be a label selector'],
    ['seconds given as text', d => ({ ...d, timing: { ...d.timing, pollSeconds: '1' } }), 'timing.pollSeconds is "1": it must be a number of seconds > 0'],
    ['negative seconds', d => ({ ...d, timing: { ...d.timing, walCheckSeconds: -5 } }), 'timing.walCheckSeconds is -5: it must be a number of seconds > 0'],
    ['labels with one number among strings', d => ({ ...d, recordLabels: { a: 'x', b: 2 } }), 'recordLabels is {"a":"x","b":2}: it must be an object of string values'],
    ['users that are not an object', d => ({ ...d, users: 'postgres' }), 'users must be an object'],
    ['timing that is null', d => ({ ...d, timing: null }), 'timing must be an object'],
  ])('refuses %s, naming the setting and how to fix it', (_name, change, problem) => {
    const message = refusal(change(valid()));
    expect(message).toContain(problem);
    expect(message).toMatch(/^\/opt\/postgres-cluster\/sidecar\.json: invalid sidecar configuration: .* synthesize the manifests with the library version whose agent runs/);
  });

  test('every problem at once, not only the first', () => {
    const message = refusal({ ...valid(), port: 0, tls: 1 });
    expect(message).toContain(': invalid sidecar configuration: port is 0: it must be an integer from 1 to 65535; tls is 1: it must be true or false. ');
  });

  test('the edges of what is accepted: port 1 and 65535, a three-term selector, fractional seconds, an empty optional path', () => {
    const d = valid();
    expect(refusal({ ...d, port: 1, clusterSelector: 'a=1,b=2,c=3', tlsSecretDir: '', timing: { ...d.timing, apiTimeoutSeconds: 0.5 } })).toBe('accepted');
    expect(refusal({ ...d, port: 65535 })).toBe('accepted');
  });

  test('a document that is not an object names the document itself', () => {
    expect(refusal('sidecar')).toContain('invalid sidecar configuration: the document must be a JSON object');
  });

  test('a fence one round longer than the poll is accepted', () => {
    const d = valid();
    expect(refusal({ ...d, timing: { ...d.timing, pollSeconds: 1, isolationFenceSeconds: 1.5 } })).toBe('accepted');
  });

  test('an app role may be empty (none), and a certificate directory too', () => {
    const d = valid();
    expect(refusal({ ...d, users: { ...d.users, app: '' }, tlsSecretDir: '' })).toBe('accepted');
  });

  test('text that is not JSON is refused as such', () => {
    expect(() => parseSidecarConfig('{version: 1', 'sidecar.json')).toThrow(/^sidecar\.json: not JSON \(.*\); it is written by the library at synth/);
  });
});
