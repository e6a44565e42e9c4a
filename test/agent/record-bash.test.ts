// leader-record.sh's record_read (what the archive backup job reads: the recorded primary) against the agent's encoder:
// a Lease the agent writes (encodeRecordLease, encodeRecordPatch), read by bash with the real kubectl from the e2e
// harness's API stand-in, gives every field as the agent encoded it. Spawns bash and kubectl: left out of mutation runs
// (stryker.config.mjs), like test/scripts.test.ts.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from '../../src/agent/kube';
import { annotationOf, encodeAnnotations, encodeRecordLease, encodeRecordPatch, LeaderRecord, RECORD_FIELDS } from '../../src/agent/record';
import { kubectlBinary } from '../e2e/harness/kubectl';
import { Manifests } from '../e2e/harness/manifests';
import { ListeningStandIn, startApiStandIn } from '../support/api-stand-in';

const SCRIPTS = join(__dirname, '..', '..', 'src', 'scripts');

let standIn: ListeningStandIn | undefined;
let dir: string;
let kube: KubeClient;
beforeAll(async () => {
  standIn = await startApiStandIn({
    namespace: 'default', manifests: new Manifests([]), pods: () => [], identityOf: () => undefined, onLabelsChange: () => undefined,
  }, { prefix: 'record-bash-' });
  dir = standIn.dir;
  writeFileSync(join(dir, 'kubeconfig'), standIn.api.adminKubeconfig());
  kube = new KubeClient({
    server: standIn.api.adminServer, namespace: 'default', tokenFile: standIn.tokenFile(standIn.api.adminToken), caFile: standIn.tls.caFile, timeoutMs: 5000,
  });
});
afterAll(() => {
  kube?.close();
  standIn?.close();
});

/** record_read of `leaderRecord`, then its exit code and every R entry as `key=value` lines (sorted), and RECORD_ERROR. */
function recordRead(leaderRecord: string, kubeconfig = join(dir, 'kubeconfig')): Promise<{ code: number; fields: string[]; error: string }> {
  const script = `source "$SCRIPTS/common.sh"; source "$SCRIPTS/leader-record.sh"; code=0; record_read || code=$?
    echo "code=$code"; for key in "\${!R[@]}"; do echo "R $key=\${R[$key]}"; done; echo "error=$RECORD_ERROR"`;
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', script], {
      env: { PATH: process.env.PATH, HOME: dir, SCRIPTS, KUBECONFIG: kubeconfig, KUBECTL: kubectlBinary(), API_TIMEOUT: '10s', LEADER_RECORD: leaderRecord },
    }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`record_read failed: ${error.message}\n${stdout}${stderr}`));
      const lines = stdout.trim().split('\n');
      resolve({
        code: Number(lines.find(l => l.startsWith('code='))!.slice(5)),
        fields: lines.filter(l => l.startsWith('R ')).map(l => l.slice(2)).sort(),
        error: lines.find(l => l.startsWith('error='))!.slice(6),
      });
    });
  });
}

/** What record_read must give for a record the agent wrote: each field of RECORD_FIELDS as encoded, '' where absent. */
function expectedFields(record: LeaderRecord, resourceVersion: string): string[] {
  const annotations = encodeAnnotations(record);
  return [
    'found=yes', `version=${resourceVersion}`,
    ...RECORD_FIELDS.map(field => `${field}=${annotations[annotationOf(field)] ?? ''}`),
  ].sort();
}

const records: Array<[string, LeaderRecord]> = [
  ['stable', { version: 1, state: 'stable', primary: 'pg-0', epoch: 3, timeline: 2, systemIdentifier: '7412345678901234567', sync: ['pg-1', 'pg-2'] }],
  ['switching-over', {
    version: 1, state: 'switching-over', epoch: 4, timeline: 2, systemIdentifier: '1', sync: [], previous: 'pg-0', target: 'pg-1', job: 'switchover-1-abcde', checkpoint: '0/3000028',
  }],
  ['failing-over', { version: 1, state: 'failing-over', epoch: 5, timeline: 3, systemIdentifier: '1', sync: [], previous: 'pg-1', target: undefined, job: 'failover-1-xyz' }],
];

describe('leader-record.sh reads the record the agent writes', () => {
  test.each(records)('a Lease created with a %s record: record_read gives every field as the agent encoded it', async (state, record) => {
    const created = await kube.createLease(encodeRecordLease(`created-${state}`, { app: 'pg' }, record));
    if (!created.ok) throw new Error(created.message);
    const read = await recordRead(`created-${state}`);
    expect(read).toEqual({ code: 0, fields: expectedFields(record, created.value.metadata!.resourceVersion as string), error: '' });
  });

  test.each(records)('a record patched to %s (compare-and-swap): record_read gives the new fields and resourceVersion, none of the old', async (_state, record) => {
    const name = `patched-${record.state}`;
    const first: LeaderRecord = { version: 1, state: 'switching-over', epoch: 2, timeline: 1, systemIdentifier: '9', sync: ['pg-9'], previous: 'pg-8', target: 'pg-9', job: 'j', checkpoint: '0/1' };
    const created = await kube.createLease(encodeRecordLease(name, {}, first));
    if (!created.ok) throw new Error(created.message);
    const patched = await kube.patchLease(name, encodeRecordPatch(record, created.value.metadata!.resourceVersion as string));
    if (!patched.ok) throw new Error(patched.message);
    const read = await recordRead(name);
    expect(read.fields).toEqual(expectedFields(record, patched.value.metadata!.resourceVersion as string));
  });

  test('a Lease that does not exist: found=no, exit 0 (the API answered)', async () => {
    expect(await recordRead('absent')).toMatchObject({ code: 0, fields: ['found=no', 'version='] });
  });

  test('an API server that cannot be reached: exit 1, kubectl\'s message in RECORD_ERROR', async () => {
    const unreachable = join(dir, 'unreachable.kubeconfig');
    const config = JSON.parse(standIn!.api.adminKubeconfig());
    config.clusters[0].cluster.server = 'https://127.0.0.1:1';
    writeFileSync(unreachable, JSON.stringify(config));
    const read = await recordRead('absent', unreachable);
    expect(read.code).toBe(1);
    expect(read.error).toMatch(/connection refused|127\.0\.0\.1:1/);
  });
});
