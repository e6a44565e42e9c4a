// The agent's encoder against leader-record.sh itself: the script's record_update and record_create, run by bash with a
// stand-in kubectl that keeps what it was given, send what encodeRecordPatch and encodeRecordLease produce. Spawns bash:
// left out of mutation runs (stryker.config.mjs), like test/scripts.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRecord, encodeAnnotations, encodeRecordLease, encodeRecordPatch, LeaderRecord } from '../../src/agent/record';

const SCRIPTS = join(__dirname, '..', '..', 'src', 'scripts');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'record-bash-'));
  // Keeps its arguments (one a line) and its standard input; answers with a resourceVersion, as `-o jsonpath=` asks.
  writeFileSync(join(dir, 'kubectl'), '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$CAPTURE/args"\nif [ "$1" = create ]; then cat > "$CAPTURE/stdin"; fi\necho 43\n', { mode: 0o755 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a leader-record.sh function with key=value pairs: the record's fields, in RECORD_FIELDS order, then version. */
function runScript(call: string, record: LeaderRecord): void {
  const pairs = Object.entries(encodeAnnotations(record)).map(([key, value]) => `${key.slice('postgres.cdk8s.io/'.length)}=${value}`);
  execFileSync('bash', ['-c', `source "$SCRIPTS/common.sh"; source "$SCRIPTS/leader-record.sh"; R[version]=42; ${call} "$@"`, 'bash', ...pairs], {
    env: { PATH: process.env.PATH, SCRIPTS, CAPTURE: dir, KUBECTL: join(dir, 'kubectl'), LEADER_RECORD: 'pg-leader', RECORD_LABELS: '{"app":"pg"}' },
  });
}

const records: Array<[string, LeaderRecord]> = [
  ['stable', { version: 1, state: 'stable', primary: 'pg-0', epoch: 3, timeline: 2, systemIdentifier: '7412345678901234567', sync: ['pg-1', 'pg-2'] }],
  ['switching-over', {
    version: 1, state: 'switching-over', epoch: 4, timeline: 2, systemIdentifier: '1', sync: [], previous: 'pg-0', target: 'pg-1', job: 'switchover-1-abcde', checkpoint: '0/3000028',
  }],
  ['failing-over', { version: 1, state: 'failing-over', epoch: 5, timeline: 3, systemIdentifier: '1', sync: [], previous: 'pg-1', target: undefined, job: 'failover-1-xyz' }],
];

describe('the agent writes the record as leader-record.sh does', () => {
  test.each(records)('record_update with every field of a %s record sends encodeRecordPatch\'s patch, byte for byte', (_state, record) => {
    runScript('record_update', record);
    const args = readFileSync(join(dir, 'args'), 'utf8').split('\n');
    expect(args.slice(0, 4)).toEqual(['patch', 'lease', 'pg-leader', '--type=merge']);
    expect(args[args.indexOf('-p') + 1]).toBe(JSON.stringify(encodeRecordPatch(record, '42')));
  });

  test.each(records)('record_create with every field of a %s record sends encodeRecordLease\'s Lease, and it decodes', (_state, record) => {
    runScript('record_create', record);
    const created = JSON.parse(readFileSync(join(dir, 'stdin'), 'utf8'));
    expect(created).toEqual(encodeRecordLease('pg-leader', { app: 'pg' }, record));
    expect(decodeRecord({ metadata: { ...created.metadata, resourceVersion: '43' } })).toEqual({ ok: true, record, resourceVersion: '43' });
  });

  test('the record create_record makes (six fields, no version) decodes as version 1', () => {
    execFileSync('bash', ['-c', 'source "$SCRIPTS/common.sh"; source "$SCRIPTS/leader-record.sh"; record_create state=stable primary=pg-0 epoch=1 timeline=1 system-identifier=99 sync='], {
      env: { PATH: process.env.PATH, SCRIPTS, CAPTURE: dir, KUBECTL: join(dir, 'kubectl'), LEADER_RECORD: 'pg-leader' },
    });
    const created = JSON.parse(readFileSync(join(dir, 'stdin'), 'utf8'));
    expect(decodeRecord({ metadata: { ...created.metadata, resourceVersion: '1' } })).toEqual({
      ok: true, resourceVersion: '1', record: { version: 1, state: 'stable', primary: 'pg-0', epoch: 1, timeline: 1, systemIdentifier: '99', sync: [] },
    });
    expect(created.spec).toEqual({ holderIdentity: 'pg-0' });
  });
});
