// The agent's encoder against leader-record.sh itself: the script's record_update and record_create, run by bash with the
// real kubectl against the e2e harness's API stand-in, send what encodeRecordPatch and encodeRecordLease produce, and
// what the API then stores decodes to the same record. Spawns bash and kubectl: left out of mutation runs
// (stryker.config.mjs), like test/scripts.test.ts.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRecord, encodeAnnotations, encodeRecordLease, encodeRecordPatch, LeaderRecord } from '../../src/agent/record';
import { ApiStandIn } from '../e2e/harness/api';
import { kubectlBinary } from '../e2e/harness/kubectl';
import { Manifests } from '../e2e/harness/manifests';
import { makeApiTls } from '../e2e/harness/tls';

const SCRIPTS = join(__dirname, '..', '..', 'src', 'scripts');

let dir: string;
let api: ApiStandIn;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'record-bash-'));
  api = new ApiStandIn({ namespace: 'default', manifests: new Manifests([]), pods: () => [], identityOf: () => undefined, onLabelsChange: () => undefined },
    join(dir, 'api.sock'), makeApiTls(join(dir, 'pki'), '10.96.0.1'));
  await api.listen();
  writeFileSync(join(dir, 'kubeconfig'), api.adminKubeconfig());
});
afterAll(() => {
  api?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs a leader-record.sh function with key=value pairs (the record's fields, then version), R[version] set to `version`;
 * asynchronously, as the API stand-in answers from this process.
 */
function runScript(call: string, pairs: string[], version = '', leaderRecord = 'pg-leader'): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', `source "$SCRIPTS/common.sh"; source "$SCRIPTS/leader-record.sh"; R[version]=${version}; ${call} "$@"`, 'bash', ...pairs], {
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        SCRIPTS,
        KUBECONFIG: join(dir, 'kubeconfig'),
        KUBECTL: kubectlBinary(),
        API_TIMEOUT: '10s',
        LEADER_RECORD: leaderRecord,
        RECORD_LABELS: '{"app":"pg"}',
      },
    }, (error, stdout, stderr) => (error ? reject(new Error(`${call} failed: ${error.message}\n${stdout}${stderr}`)) : resolve()));
  });
}

const pairsOf = (record: LeaderRecord) => Object.entries(encodeAnnotations(record)).map(([key, value]) => `${key.slice('postgres.cdk8s.io/'.length)}=${value}`);
/** The body of the last request with this method. */
const lastBody = (method: string) => JSON.parse([...api.requests].reverse().find(r => r.method === method)!.body);

const records: Array<[string, LeaderRecord]> = [
  ['stable', { version: 1, state: 'stable', primary: 'pg-0', epoch: 3, timeline: 2, systemIdentifier: '7412345678901234567', sync: ['pg-1', 'pg-2'] }],
  ['switching-over', {
    version: 1, state: 'switching-over', epoch: 4, timeline: 2, systemIdentifier: '1', sync: [], previous: 'pg-0', target: 'pg-1', job: 'switchover-1-abcde', checkpoint: '0/3000028',
  }],
  ['failing-over', { version: 1, state: 'failing-over', epoch: 5, timeline: 3, systemIdentifier: '1', sync: [], previous: 'pg-1', target: undefined, job: 'failover-1-xyz' }],
];

describe('the agent writes the record as leader-record.sh does', () => {
  test.each(records)('record_create with every field of a %s record sends encodeRecordLease\'s Lease, and what the API stores decodes to it', async (state, record) => {
    await runScript('record_create', pairsOf(record), '', `created-${state}`);
    const lease = encodeRecordLease(`created-${state}`, { app: 'pg' }, record);
    // kubectl create sets the namespace of its context in the object it sends.
    expect(lastBody('POST')).toEqual({ ...lease, metadata: { ...lease.metadata, namespace: 'default' } });
    const stored = api.lease(`created-${state}`)!;
    expect(decodeRecord(stored)).toEqual({ ok: true, record, resourceVersion: stored.metadata.resourceVersion });
  });

  test.each(records)('record_update with every field of a %s record sends encodeRecordPatch\'s patch, and what the API stores decodes to it', async (_state, record) => {
    if (!api.lease('pg-leader')) await runScript('record_create', ['state=stable', 'primary=pg-9', 'epoch=1', 'timeline=1', 'system-identifier=1', 'sync=']);
    const before = api.lease('pg-leader')!.metadata.resourceVersion;
    await runScript('record_update', pairsOf(record), before);
    expect(lastBody('PATCH')).toEqual(encodeRecordPatch(record, before));
    const stored = api.lease('pg-leader')!;
    expect(Number(stored.metadata.resourceVersion)).toBeGreaterThan(Number(before));
    expect(decodeRecord(stored)).toEqual({ ok: true, record, resourceVersion: stored.metadata.resourceVersion });
  });

  test('the record create_record makes (six fields, no version) decodes as version 1', async () => {
    await runScript('record_create', ['state=stable', 'primary=pg-0', 'epoch=1', 'timeline=1', 'system-identifier=99', 'sync='], '', 'six-fields');
    const stored = api.lease('six-fields')!;
    expect(decodeRecord(stored)).toEqual({
      ok: true,
      resourceVersion: stored.metadata.resourceVersion,
      record: { version: 1, state: 'stable', primary: 'pg-0', epoch: 1, timeline: 1, systemIdentifier: '99', sync: [] },
    });
    expect(stored.spec).toEqual({ holderIdentity: 'pg-0' });
  });

  describe('record_update meets a conflict', () => {
    /** Reads the record, lets someone else patch the Lease, then updates: record_update's exit code. */
    function readPatchUpdate(name: string, someoneElse: object, update: string[]): Promise<number> {
      return new Promise(resolve => {
        const script = `source "$SCRIPTS/common.sh"; source "$SCRIPTS/leader-record.sh"; record_read
          "$KUBECTL" patch lease ${name} --type=merge -p '${JSON.stringify(someoneElse)}' > /dev/null
          rc=0; record_update "$@" || rc=$?; exit $rc`;
        execFile('bash', ['-c', script, 'bash', ...update], {
          env: { PATH: process.env.PATH, HOME: dir, SCRIPTS, KUBECONFIG: join(dir, 'kubeconfig'), KUBECTL: kubectlBinary(), API_TIMEOUT: '10s', LEADER_RECORD: name },
        }, error => resolve(error === null ? 0 : (error as { code?: number }).code ?? -1));
      });
    }
    const created = (name: string) => runScript('record_create', ['state=stable', 'primary=pg-0', 'epoch=3', 'timeline=1', 'system-identifier=99', 'sync='], '', name);

    test('a change that left the record\'s fields as read (a lease renewal): the update is sent again and lands', async () => {
      await created('renewed');
      const renewal = { metadata: { annotations: { 'failover.postgres.cdk8s.io/wal-position': '0/3000000' } }, spec: { renewTime: '2026-12-05T04:00:00.000000Z' } };
      expect(await readPatchUpdate('renewed', renewal, ['state=failing-over', 'primary=', 'epoch=4', 'previous=pg-0', 'job=failover-1'])).toBe(0);
      const stored = api.lease('renewed')!;
      expect(stored.metadata.annotations).toMatchObject({ 'postgres.cdk8s.io/state': 'failing-over', 'postgres.cdk8s.io/epoch': '4', 'failover.postgres.cdk8s.io/wal-position': '0/3000000' });
      expect(stored.spec.renewTime).toBe('2026-12-05T04:00:00.000000Z');
    });

    test('a change of a field of the record: a conflict (2), and the record is as the other writer left it', async () => {
      await created('changed');
      const other = { metadata: { annotations: { 'postgres.cdk8s.io/epoch': '4' } } };
      expect(await readPatchUpdate('changed', other, ['state=failing-over', 'primary=', 'epoch=4', 'previous=pg-0', 'job=failover-1'])).toBe(2);
      expect(api.lease('changed')!.metadata.annotations).toMatchObject({ 'postgres.cdk8s.io/state': 'stable', 'postgres.cdk8s.io/epoch': '4' });
    });
  });
});
