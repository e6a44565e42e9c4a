import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRecord, encodeRecordPatch, FailingOverRecord, LeaderRecord, RECORD_STATES, StableRecord, SwitchingOverRecord } from '../../src/agent/record';
import {
  beginFailover, beginSwitchover, completeFailover, createRecord, giveBack, isAllowedTransition, recordCheckpoint, recordSyncSet,
  recordTarget, recordTimeline, takeOverLapsedLease, takeOverSwitchover, Transition, TRANSITIONS,
} from '../../src/agent/transitions';

const DOC = readFileSync(join(__dirname, '..', '..', 'docs', 'leader-record.md'), 'utf8');

/** The rows of the first table after a heading, cells trimmed. */
function tableAfter(heading: string): string[][] {
  const lines = DOC.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`docs/leader-record.md has no heading "${heading}"`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('|')) {
      inTable = true;
      rows.push(line.slice(1, -1).split('|').map(cell => cell.trim()));
    } else if (inTable) {
      break;
    }
  }
  // Header and separator.
  return rows.slice(2);
}

const stable: StableRecord = { version: 1, state: 'stable', primary: 'pg-0', epoch: 7, timeline: 3, systemIdentifier: '99', sync: ['pg-1', 'pg-2'] };
const switching: SwitchingOverRecord = {
  version: 1, state: 'switching-over', epoch: 8, timeline: 3, systemIdentifier: '99', sync: ['pg-1', 'pg-2'], previous: 'pg-0', target: 'pg-1', job: 'job-a', checkpoint: undefined,
};
const failing: FailingOverRecord = {
  version: 1, state: 'failing-over', epoch: 8, timeline: 3, systemIdentifier: '99', sync: ['pg-1', 'pg-2'], previous: 'pg-0', target: 'pg-2', job: 'job-a',
};
const sample: Record<string, LeaderRecord | undefined> = { 'absent': undefined, 'stable': stable, 'switching-over': switching, 'failing-over': failing };

/** Applies the transition named in the list to a sample record of its from-state. */
function apply(transition: Transition): LeaderRecord {
  const from = sample[transition.from];
  switch (transition.name) {
    case 'createRecord': return createRecord({ primary: 'pg-0', timeline: 1, systemIdentifier: '99', sync: [] });
    case 'recordTimeline': return recordTimeline(from as StableRecord, 4);
    case 'recordSyncSet': return recordSyncSet(from as StableRecord, ['pg-2']);
    case 'beginSwitchover': return beginSwitchover(from as StableRecord | FailingOverRecord, { previous: 'pg-0', target: 'pg-1', job: 'job-b' });
    case 'recordCheckpoint': return recordCheckpoint(from as SwitchingOverRecord, '0/5000028');
    case 'takeOverSwitchover': return takeOverSwitchover(from as SwitchingOverRecord, ['pg-0', 'pg-2']);
    case 'takeOverLapsedLease': return takeOverLapsedLease(from as StableRecord, 'pg-2', ['pg-0', 'pg-1']);
    case 'giveBack': return giveBack(from as SwitchingOverRecord | FailingOverRecord);
    case 'beginFailover': return beginFailover(from as StableRecord | FailingOverRecord, { previous: 'pg-0', target: undefined, job: 'job-b' });
    case 'recordTarget': return recordTarget(from as FailingOverRecord, 'pg-1');
    case 'completeFailover': return completeFailover(from as FailingOverRecord, ['pg-0', 'pg-1']);
    default: throw new Error(`no function for ${transition.name}`);
  }
}

describe('the leader record\'s transitions', () => {
  test('docs/leader-record.md lists exactly the code\'s transitions, in its order', () => {
    const documented = tableAfter('## Transitions').map(([from, to, by, name, epoch, why]) => ({ from, to, by, name: name.replace(/`/g, ''), epoch, why }));
    expect(documented).toEqual(TRANSITIONS.map(({ from, to, by, name, epoch, why }) => ({ from, to, by, name, epoch, why })));
  });

  test('docs/leader-record.md lists exactly the code\'s states, and absent', () => {
    expect(tableAfter('## States').map(row => row[0])).toEqual(['absent', ...RECORD_STATES]);
  });

  test('each state is reached, and each is left, by some transition (no dead end, no orphan)', () => {
    for (const state of RECORD_STATES) {
      expect(TRANSITIONS.some(t => t.to === state)).toBe(true);
      expect(TRANSITIONS.some(t => t.from === state && t.to !== state)).toBe(true);
    }
  });

  test.each(TRANSITIONS.map(t => [t.name, t.from, t.to, t] as const))('%s (%s -> %s) writes its to-state with its epoch, and the result decodes', (_name, _from, _to, transition) => {
    const from = sample[transition.from];
    const to = apply(transition);
    expect(to.state).toBe(transition.to);
    const epoch = { 'same': from?.epoch, '+1': (from?.epoch ?? NaN) + 1, '1': 1 }[transition.epoch];
    expect(to.epoch).toBe(epoch);
    expect(decodeRecord({ metadata: { ...encodeRecordPatch(to, '1').metadata } })).toEqual({ ok: true, record: to, resourceVersion: '1' });
  });

  test('the writers are the sidecar and the job alone: the entrypoint has no API token', () => {
    expect(new Set(TRANSITIONS.map(t => t.by))).toEqual(new Set(['sidecar', 'job']));
  });

  test.each([
    ['absent', 'stable', 'sidecar', true],
    ['absent', 'stable', 'job', false],
    ['stable', 'switching-over', 'job', true],
    // A primary whose pod is being deleted hands over (handover.ts).
    ['stable', 'switching-over', 'sidecar', true],
    ['stable', 'failing-over', 'sidecar', false],
    ['switching-over', 'stable', 'sidecar', true],
    ['switching-over', 'failing-over', 'job', false],
    ['failing-over', 'stable', 'sidecar', false],
    ['failing-over', 'switching-over', 'job', true],
  ] as const)('%s -> %s by the %s: allowed %s', (from, to, by, allowed) => {
    expect(isAllowedTransition(from, to, by)).toBe(allowed);
  });

  test('createRecord: stable, epoch 1, the primary with its timeline, identity and synchronous set', () => {
    expect(createRecord({ primary: 'pg-0', timeline: 1, systemIdentifier: '99', sync: ['pg-1'] })).toEqual(
      { version: 1, state: 'stable', primary: 'pg-0', epoch: 1, timeline: 1, systemIdentifier: '99', sync: ['pg-1'] });
  });

  test('recordTimeline and recordSyncSet change only their field', () => {
    expect(recordTimeline(stable, 4)).toEqual({ ...stable, timeline: 4 });
    expect(recordSyncSet(stable, ['pg-2'])).toEqual({ ...stable, sync: ['pg-2'] });
  });

  test('beginSwitchover: no primary, a new epoch, the pods and the job, no checkpoint; timeline and sync stay', () => {
    expect(beginSwitchover(stable, { previous: 'pg-0', target: 'pg-1', job: 'job-b' })).toEqual({
      version: 1, state: 'switching-over', epoch: 8, timeline: 3, systemIdentifier: '99', sync: ['pg-1', 'pg-2'], previous: 'pg-0', target: 'pg-1', job: 'job-b', checkpoint: undefined,
    });
  });

  test('recordCheckpoint records the old primary\'s shutdown checkpoint, nothing else', () => {
    expect(recordCheckpoint(switching, '0/5000028')).toEqual({ ...switching, checkpoint: '0/5000028' });
  });

  test('takeOverSwitchover names the target, same epoch, the new synchronous set, job fields emptied', () => {
    expect(takeOverSwitchover({ ...switching, checkpoint: '0/5000028' }, [])).toEqual(
      { version: 1, state: 'stable', primary: 'pg-1', epoch: 8, timeline: 3, systemIdentifier: '99', sync: [] });
  });

  test('giveBack names the previous primary again with a new epoch; sync stays', () => {
    const expected = { version: 1, state: 'stable', primary: 'pg-0', epoch: 9, timeline: 3, systemIdentifier: '99', sync: ['pg-1', 'pg-2'] };
    expect(giveBack(switching)).toEqual(expected);
    expect(giveBack(failing)).toEqual(expected);
  });

  test('beginFailover: no primary, a new epoch, the previous primary, the job, the target if asked for', () => {
    expect(beginFailover(stable, { previous: 'pg-0', target: 'pg-2', job: 'job-b' })).toEqual({
      version: 1, state: 'failing-over', epoch: 8, timeline: 3, systemIdentifier: '99', sync: ['pg-1', 'pg-2'], previous: 'pg-0', target: 'pg-2', job: 'job-b',
    });
    expect(beginFailover(failing, { previous: 'pg-0', target: undefined, job: 'job-c' })).toMatchObject({ epoch: 9, target: undefined, job: 'job-c' });
  });

  test('recordTarget and completeFailover: the chosen replica, then named the primary in the same epoch', () => {
    const chosen = recordTarget({ ...failing, target: undefined }, 'pg-1');
    expect(chosen).toEqual({ ...failing, target: 'pg-1' });
    expect(completeFailover(chosen, ['pg-0', 'pg-2'])).toEqual(
      { version: 1, state: 'stable', primary: 'pg-1', epoch: 8, timeline: 3, systemIdentifier: '99', sync: ['pg-0', 'pg-2'] });
  });

  test('fails when completeFailover is asked of a failover without a target', () => {
    expect(() => completeFailover({ ...failing, target: undefined }, [])).toThrow('completeFailover: the failing-over record (epoch 8) names no target');
  });
});
