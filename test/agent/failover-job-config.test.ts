// The failover job's contract: its configuration document (written by FailoverJob at synth), what a person asks for on
// one run (FAILOVER_TARGET and the others), and the status line it reads from each pod.
import { FailoverJob, PostgresConfig, PostgresStatefulSet } from '../../src';
import { FAILOVER_JOB_CONFIG_VERSION, FailoverJobConfig, failoverRunOf, parseFailoverJobConfig } from '../../src/agent/config';
import { isFenced, parseStatusLine } from '../../src/agent/failover-job-agent';
import { find, synthChart } from '../support/synth';

const TIMEOUTS = { fenceSeconds: 60, settleSeconds: 5, reconnectSeconds: 5, switchoverSeconds: 10, followSeconds: 15, promoteSeconds: 60 };
const DOCUMENT: FailoverJobConfig = {
  version: FAILOVER_JOB_CONFIG_VERSION,
  leaderRecord: 'pg-leader',
  clusterSelector: 'app=pg',
  jobSelector: 'app=pg,component=failover',
  roleLabel: 'role',
  postgresContainer: 'postgres',
  sidecarContainer: 'role-labeler',
  nodeScript: '/opt/pg/pg-node.sh',
  agent: '/opt/pg/agent.js',
  agentConfig: '/opt/pg/sidecar.json',
  synchronousReplicas: 1,
  isolationFenceSeconds: 10,
  apiTimeoutSeconds: 2,
  timeouts: TIMEOUTS,
};

const parse = (document: unknown) => parseFailoverJobConfig(JSON.stringify(document), 'FAILOVER_JOB_CONFIG');

describe('the failover job\'s configuration document', () => {
  test('a valid document is read as written', () => {
    expect(parse(DOCUMENT)).toEqual(DOCUMENT);
  });

  test('what FailoverJob writes into the CronJob is a valid document naming the cluster\'s record, pods, jobs and containers', () => {
    const objects = synthChart(chart => {
      const config = new PostgresConfig(chart, 'Config', { synchronousReplicas: 1 });
      new FailoverJob(chart, 'Failover', { statefulSet: new PostgresStatefulSet(chart, 'Set', { config }) });
    });
    const container = find(objects, 'CronJob', 'postgres-failover').spec.jobTemplate.spec.template.spec.containers[0];
    expect(container.command).toEqual(['node', '/opt/postgres-cluster/agent.js', 'failover']);
    const text = container.env.find((e: { name: string }) => e.name === 'FAILOVER_JOB_CONFIG').value;
    const read = parseFailoverJobConfig(text, 'FAILOVER_JOB_CONFIG');
    expect(read).toMatchObject({ leaderRecord: 'postgres-leader', synchronousReplicas: 1, postgresContainer: 'postgres', sidecarContainer: 'role-labeler' });
    expect(read.jobSelector).toContain('app.kubernetes.io/component=failover');
    expect(read.clusterSelector).not.toContain('failover');
  });

  test('not JSON: says so and how to fix it', () => {
    expect(() => parseFailoverJobConfig('{', 'FAILOVER_JOB_CONFIG')).toThrow(/^FAILOVER_JOB_CONFIG: not JSON \(.*\); it is written by the library at synth: synthesize the manifests again$/);
  });

  test.each([
    ['an array', [], 'the document must be a JSON object'],
    ['another version', { ...DOCUMENT, version: 2 }, 'version is 2: this agent reads version 1'],
    ['a missing setting', { ...DOCUMENT, leaderRecord: undefined }, 'leaderRecord is missing (a non-empty string without whitespace)'],
    ['a setting of the wrong kind', { ...DOCUMENT, synchronousReplicas: -1 }, 'synchronousReplicas is -1: it must be an integer ≥ 0'],
    ['an unknown setting', { ...DOCUMENT, extra: 1 }, 'extra is not a setting of this version of the agent'],
    ['a bad timeout', { ...DOCUMENT, timeouts: { ...TIMEOUTS, fenceSeconds: 0 } }, 'timeouts.fenceSeconds is 0: it must be a number of seconds > 0'],
    ['no timeouts', { ...DOCUMENT, timeouts: undefined }, 'timeouts must be an object'],
  ])('%s is refused, naming it, and the fix', (_what, document, problem) => {
    expect(() => parse(document)).toThrow(`FAILOVER_JOB_CONFIG: invalid failover job configuration: ${problem}`);
    expect(() => parse(document)).toThrow(/synthesize the manifests with the library version whose agent runs, and apply them again\.$/);
  });
});

describe('what one run asks for', () => {
  test('nothing set: no target, no scale-down, no data loss accepted, the document\'s timeouts', () => {
    expect(failoverRunOf({}, TIMEOUTS)).toEqual({ target: undefined, scaleDownTo: undefined, acceptDataLoss: false, timeouts: TIMEOUTS });
  });

  test('empty variables count as unset (the CronJob sets FAILOVER_TARGET to "" without a targetPod)', () => {
    expect(failoverRunOf({ FAILOVER_TARGET: '', SCALE_DOWN_TO: '', FAILOVER_ACCEPT_DATA_LOSS: '', SETTLE_SECONDS: '' }, TIMEOUTS))
      .toEqual({ target: undefined, scaleDownTo: undefined, acceptDataLoss: false, timeouts: TIMEOUTS });
  });

  test('a target, a scale-down, data loss accepted and each timeout overridden', () => {
    const run = failoverRunOf({
      FAILOVER_TARGET: 'pg-2',
      SCALE_DOWN_TO: '3',
      FAILOVER_ACCEPT_DATA_LOSS: 'true',
      FENCE_TIMEOUT_SECONDS: '7',
      SETTLE_SECONDS: '1.5',
      RECONNECT_SECONDS: '2',
      SWITCHOVER_TIMEOUT_SECONDS: '3',
      FOLLOW_TIMEOUT_SECONDS: '4',
      PROMOTE_TIMEOUT_SECONDS: '8',
    }, TIMEOUTS);
    expect(run).toEqual({
      target: 'pg-2',
      scaleDownTo: 3,
      acceptDataLoss: true,
      timeouts: { fenceSeconds: 7, settleSeconds: 1.5, reconnectSeconds: 2, switchoverSeconds: 3, followSeconds: 4, promoteSeconds: 8 },
    });
    expect(TIMEOUTS.fenceSeconds).toBe(60);
  });

  test('numbers of any length, and fractions of any length, are read as written; a one-character pod name is a name', () => {
    const run = failoverRunOf({ FAILOVER_TARGET: 'p', SCALE_DOWN_TO: '12', FENCE_TIMEOUT_SECONDS: '15', SETTLE_SECONDS: '1.25' }, TIMEOUTS);
    expect(run).toMatchObject({ target: 'p', scaleDownTo: 12, timeouts: { fenceSeconds: 15, settleSeconds: 1.25 } });
  });

  test.each([
    [{ FAILOVER_TARGET: 'Pg 1' }, 'FAILOVER_TARGET is "Pg 1": it must name a pod of the cluster, such as postgres-cluster-1'],
    [{ SCALE_DOWN_TO: '0' }, 'SCALE_DOWN_TO must be the number of pods you will scale to (1 or more), got "0"'],
    [{ SCALE_DOWN_TO: 'two' }, 'SCALE_DOWN_TO must be the number of pods you will scale to (1 or more), got "two"'],
    [{ SCALE_DOWN_TO: 'x1' }, 'SCALE_DOWN_TO must be the number of pods you will scale to (1 or more), got "x1"'],
    [{ SCALE_DOWN_TO: '1x' }, 'SCALE_DOWN_TO must be the number of pods you will scale to (1 or more), got "1x"'],
    [{ FAILOVER_TARGET: 'pg-1.x' }, 'FAILOVER_TARGET is "pg-1.x": it must name a pod of the cluster, such as postgres-cluster-1'],
    [{ FOLLOW_TIMEOUT_SECONDS: 'x5' }, 'FOLLOW_TIMEOUT_SECONDS is "x5": it must be a number of seconds > 0'],
    [{ FAILOVER_ACCEPT_DATA_LOSS: 'yes' }, 'FAILOVER_ACCEPT_DATA_LOSS is "yes": it must be true or false'],
    [{ SWITCHOVER_TIMEOUT_SECONDS: '0' }, 'SWITCHOVER_TIMEOUT_SECONDS is "0": it must be a number of seconds > 0'],
    [{ FENCE_TIMEOUT_SECONDS: '5s' }, 'FENCE_TIMEOUT_SECONDS is "5s": it must be a number of seconds > 0'],
  ])('%j is refused, naming the variable and its value', (env, problem) => {
    expect(() => failoverRunOf(env, TIMEOUTS)).toThrow(`invalid run of the failover job: ${problem}`);
  });

  test('every bad variable is named at once', () => {
    expect(() => failoverRunOf({ SCALE_DOWN_TO: 'x', FAILOVER_ACCEPT_DATA_LOSS: 'x' }, TIMEOUTS)).toThrow(/SCALE_DOWN_TO .*; FAILOVER_ACCEPT_DATA_LOSS/);
  });
});

describe('the status line a pod answers (pg-node.sh status, the agent\'s fence and status)', () => {
  test.each([
    ['primary 0/3000060 none 1 -', { role: 'primary', lsn: '0/3000060', receiver: 'none', timeline: 1, checkpoint: '-' }],
    ['replica 0/3000060 streaming 2 0/2000028\n', { role: 'replica', lsn: '0/3000060', receiver: 'streaming', timeline: 2, checkpoint: '0/2000028' }],
    ['down 0/0 none 1 0/2000028', { role: 'down', lsn: '0/0', receiver: 'none', timeline: 1, checkpoint: '0/2000028' }],
    ['starting ? none 1 0/2000028', { role: 'starting', lsn: '?', receiver: 'none', timeline: 1, checkpoint: '0/2000028' }],
  ])('%j is read field by field', (line, state) => {
    expect(parseStatusLine(line)).toEqual(state);
  });

  test.each([
    ['', 'nothing'],
    ['primary 0/1 none 1', 'four fields'],
    ['primary 0/1 none 1 - extra', 'six fields'],
    ['leader 0/1 none 1 -', 'a role it does not know'],
    ['primary 0/1 none x -', 'a timeline that is not a number'],
  ])('%j (%s) is not a status line', line => {
    expect(parseStatusLine(line)).toBeUndefined();
  });

  test.each([
    ['down 0/0 none 1 0/2000028', true],
    ['replica 0/3000060 none 2 0/2000028', true],
    ['primary 0/3000060 none 1 0/2000028', false],
    ['starting ? none 1 0/2000028', false],
    ['down 0/0 none 1 -', false],
    ['down 0/0 none 1 0/0', false],
  ])('%j says fenced: %s', (line, fenced) => {
    expect(isFenced(parseStatusLine(line))).toBe(fenced);
  });

  test('no answer is not fenced', () => {
    expect(isFenced(undefined)).toBe(false);
  });
});
