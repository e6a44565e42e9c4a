import { decideFailoverJob, decideSwitchoverRound, FailoverJobFacts, SwitchoverRoundFacts } from '../../src/agent/failover';
import { NodeRole } from '../../src/agent/failover-target';
import { describeRecord, FailingOverRecord, LeaderRecord, StableRecord, SwitchingOverRecord } from '../../src/agent/record';

// GIVEN the record and the survey; WHEN a failover job run (pod job-b) decides; THEN what it does.
const stable: StableRecord = { version: 1, state: 'stable', primary: 'pg-0', epoch: 4, timeline: 3, systemIdentifier: '7000', sync: ['pg-1', 'pg-2'] };
const failing: FailingOverRecord = { version: 1, state: 'failing-over', epoch: 5, timeline: 3, systemIdentifier: '7000', sync: [], previous: 'pg-0', target: 'pg-2', job: 'job-a' };
const switching: SwitchingOverRecord = {
  version: 1, state: 'switching-over', epoch: 5, timeline: 3, systemIdentifier: '7000', sync: [], previous: 'pg-0', target: 'pg-1', job: 'job-a', checkpoint: undefined,
};

function facts(record: LeaderRecord | undefined, roles: NodeRole[], overrides: Partial<FailoverJobFacts> = {}): FailoverJobFacts {
  return {
    jobPod: 'job-b',
    record,
    recordedJobRunning: false,
    requestedTarget: undefined,
    pods: roles.map((role, i) => ({ pod: `pg-${i}`, role, lsn: role === 'primary' || role === 'replica' ? `0/${i + 1}` : '0/0', receiver: role === 'replica' ? 'streaming' : 'none' })),
    ...overrides,
  };
}

describe('decideFailoverJob: what a failover job run does', () => {
  test('refuses when there is no record', () => {
    expect(decideFailoverJob(facts(undefined, ['primary']))).toEqual({ kind: 'refuse', reason: 'there is no leader record: the cluster has not been initialized yet' });
  });

  test.each([failing, switching])('refuses while another job holds the record (%#) and runs', record => {
    expect(decideFailoverJob(facts(record, ['down', 'replica', 'replica'], { recordedJobRunning: true }))).toEqual({
      kind: 'refuse', reason: 'another failover job (job-a) holds the leader record and is running; nothing was changed',
    });
  });

  test('a record held by this very job (a restarted job pod) is resumed, however its pod is reported', () => {
    expect(decideFailoverJob(facts({ ...switching, job: 'job-b' }, ['down', 'replica'], { recordedJobRunning: true }))).toMatchObject({ kind: 'resume-switchover' });
  });

  test('a stable record is never another job\'s, whatever job pods run', () => {
    expect(decideFailoverJob(facts(stable, ['down', 'replica'], { recordedJobRunning: true }))).toMatchObject({ kind: 'failover' });
  });

  test('a dead job\'s failover whose target is the old primary, serving again: a failover that records it', () => {
    expect(decideFailoverJob(facts({ ...failing, target: 'pg-0' }, ['primary', 'replica']))).toMatchObject({ kind: 'failover', record: { previous: 'pg-0', target: 'pg-0' } });
  });

  test('a dead job\'s switchover is resumed: the sidecars finish it, or the job gives it back', () => {
    expect(decideFailoverJob(facts(switching, ['down', 'replica'], { requestedTarget: 'pg-2' }))).toEqual({
      kind: 'resume-switchover',
      previous: 'pg-0',
      target: 'pg-1',
      reason: 'job job-a ended without finishing its failover (a switchover, pg-0 -> pg-1): waiting for the two pods\' sidecars to finish it, or giving it back',
    });
  });

  test('nothing to do while the recorded primary serves and no other target is asked for', () => {
    expect(decideFailoverJob(facts(stable, ['primary', 'replica']))).toEqual({
      kind: 'nothing', reason: 'primary pg-0 is healthy: nothing to do. For a planned switchover, set FAILOVER_TARGET to the replica to promote.',
    });
    expect(decideFailoverJob(facts(stable, ['primary', 'replica'], { requestedTarget: 'pg-0' }))).toMatchObject({ kind: 'nothing' });
  });

  test('record: pg-0 primary; PostgreSQL: runs but answers no query. Never fails a live primary over', () => {
    const given = facts(stable, ['primary', 'replica']);
    expect(decideFailoverJob({ ...given, pods: [{ pod: 'pg-0', role: 'primary', lsn: '?', receiver: 'none' }, given.pods[1]] })).toEqual({
      kind: 'nothing',
      reason: 'primary pg-0 is running but does not answer queries (too many clients?): not failing over a live primary. '
        + 'To move it anyway, set FAILOVER_TARGET: a switchover fences it first.',
    });
  });

  test('the recorded primary is found wherever the API lists it', () => {
    expect(decideFailoverJob(facts({ ...stable, primary: 'pg-1' }, ['replica', 'primary']))).toMatchObject({ kind: 'nothing', reason: expect.stringContaining('primary pg-1 is healthy') });
    expect(decideFailoverJob(facts({ ...stable, primary: 'pg-1' }, ['primary', 'down']))).toMatchObject({ kind: 'failover' });
  });

  test('nothing to do while the recorded primary is in crash recovery and no target is asked for', () => {
    expect(decideFailoverJob(facts(stable, ['starting', 'replica']))).toEqual({
      kind: 'nothing', reason: 'primary pg-0 is starting (crash recovery): not failing over. Run the job again if it does not come back.',
    });
  });

  test('a target asked for while the primary is starting: a failover (the primary is fenced)', () => {
    expect(decideFailoverJob(facts(stable, ['starting', 'replica'], { requestedTarget: 'pg-1' }))).toMatchObject({ kind: 'failover', record: { target: 'pg-1' } });
  });

  test('a target asked for while the primary serves: a planned switchover, a new epoch', () => {
    expect(decideFailoverJob(facts(stable, ['primary', 'replica'], { requestedTarget: 'pg-1' }))).toEqual({
      kind: 'switchover',
      record: { ...switching, job: 'job-b', sync: ['pg-1', 'pg-2'] },
      reason: 'a planned switchover: pg-0 serves; promoting pg-1 once it has received pg-0\'s shutdown checkpoint '
        + '(epoch 5, switching-over, primary (none), timeline 3, synchronous standbys pg-1,pg-2 (job job-b: pg-0 -> pg-1))',
    });
  });

  test.each(['waiting', 'starting', 'restarting', 'stopped', 'none'])(
    'a target asked for while the primary serves, its WAL receiver %s (not streaming from the primary): refused, nothing changed', receiver => {
      const given = facts(stable, ['primary', 'replica', 'replica'], { requestedTarget: 'pg-1' });
      expect(decideFailoverJob({ ...given, pods: given.pods.map(p => (p.pod === 'pg-1' ? { ...p, receiver } : p)) })).toEqual({
        kind: 'refuse',
        reason: `FAILOVER_TARGET pg-1 does not stream from pg-0 (its WAL receiver is ${receiver}): it could not receive the primary's last WAL, `
          + 'so nothing was changed; run the job again once it streams (its pod is Ready)',
      });
    });

  test('a target that is a primary too (promoted by hand): refused, as it does not stream from the recorded primary', () => {
    expect(decideFailoverJob(facts(stable, ['primary', 'primary'], { requestedTarget: 'pg-1' }))).toEqual({
      kind: 'refuse',
      reason: 'FAILOVER_TARGET pg-1 does not stream from pg-0 (its WAL receiver is none): it could not receive the primary\'s last WAL, '
        + 'so nothing was changed; run the job again once it streams (its pod is Ready)',
    });
  });

  test('a target that does not stream is no switchover target, but a failover\'s (the primary down) may be: what streams there is nothing', () => {
    const given = facts(stable, ['down', 'replica'], { requestedTarget: 'pg-1' });
    expect(decideFailoverJob({ ...given, pods: given.pods.map(p => ({ ...p, receiver: 'waiting' })) })).toMatchObject({ kind: 'failover', record: { target: 'pg-1' } });
  });

  test('another replica that does not stream does not stop a switchover to one that does', () => {
    const given = facts(stable, ['primary', 'replica', 'replica'], { requestedTarget: 'pg-1' });
    expect(decideFailoverJob({ ...given, pods: given.pods.map(p => (p.pod === 'pg-2' ? { ...p, receiver: 'waiting' } : p)) })).toMatchObject({ kind: 'switchover' });
  });

  test('record: pg-0 primary; PostgreSQL: pg-0 down. An unplanned failover without a target yet', () => {
    expect(decideFailoverJob(facts(stable, ['down', 'replica', 'replica']))).toEqual({
      kind: 'failover',
      record: { ...failing, target: undefined, job: 'job-b', sync: ['pg-1', 'pg-2'] },
      awaitIsolationFence: false,
      reason: 'an unplanned failover from pg-0 (epoch 5, failing-over, primary (none), timeline 3, synchronous standbys pg-1,pg-2 (job job-b: pg-0 -> ?))',
    });
  });

  test('an old primary that cannot be reached may still run: the failover waits for it to fence itself', () => {
    expect(decideFailoverJob(facts(stable, ['unreachable', 'replica']))).toMatchObject({
      kind: 'failover', awaitIsolationFence: true, reason: expect.stringContaining('from pg-0, which cannot be reached and may still be running (epoch 5'),
    });
  });

  test('a recorded primary that is no pod (scaled away): a failover', () => {
    expect(decideFailoverJob(facts({ ...stable, primary: 'pg-7' }, ['replica', 'replica']))).toMatchObject({ kind: 'failover', record: { previous: 'pg-7' } });
  });

  test('a dead job\'s failover is taken over with its target, a new epoch', () => {
    expect(decideFailoverJob(facts(failing, ['down', 'replica', 'replica']))).toEqual({
      kind: 'failover',
      record: { ...failing, epoch: 6, job: 'job-b' },
      awaitIsolationFence: false,
      reason: 'job job-a ended without finishing its failover: completing or undoing it; an unplanned failover from pg-0 (epoch 6, failing-over, primary (none), timeline 3 (job job-b: pg-0 -> pg-2))',
    });
  });

  test('a target asked for now counts over a dead job\'s', () => {
    expect(decideFailoverJob(facts(failing, ['down', 'replica', 'replica'], { requestedTarget: 'pg-1' }))).toMatchObject({ kind: 'failover', record: { target: 'pg-1' } });
  });

  test('a dead job\'s failover whose old primary serves again, with a target: a switchover from failing-over', () => {
    expect(decideFailoverJob(facts(failing, ['primary', 'replica', 'replica']))).toMatchObject({ kind: 'switchover', record: { state: 'switching-over', epoch: 6, previous: 'pg-0', target: 'pg-2' } });
  });

  test('a dead job\'s failover with no target whose old primary serves again: a failover (the job fences it)', () => {
    expect(decideFailoverJob(facts({ ...failing, target: undefined }, ['primary', 'replica']))).toMatchObject({ kind: 'failover', record: { target: undefined } });
  });

  test('refuses a target that is not a pod of the cluster', () => {
    expect(decideFailoverJob(facts(stable, ['down', 'replica'], { requestedTarget: 'pg-5' }))).toEqual({
      kind: 'refuse', reason: 'FAILOVER_TARGET pg-5 is not a pod of this cluster (pods: pg-0 pg-1)',
    });
  });

  test.each(['starting', 'down', 'empty', 'unreachable'] as NodeRole[])('refuses a target that is %s', role => {
    expect(decideFailoverJob(facts(stable, ['down', role], { requestedTarget: 'pg-1' }))).toEqual({
      kind: 'refuse', reason: `FAILOVER_TARGET pg-1 is not healthy (it is ${role}); choose another replica`,
    });
  });

  test('a target that is a primary already (a dead job promoted it) is accepted: a failover records it', () => {
    expect(decideFailoverJob(facts(failing, ['down', 'replica', 'primary']))).toMatchObject({ kind: 'failover', record: { target: 'pg-2' } });
  });
});

// GIVEN the record as read in one round of waiting for switchover pg-0 -> pg-1 (job-a, epoch 5; the fence timeout ends
// at 30, the switchover timeout at 50 once it runs); WHEN the job decides; THEN what it does.
describe('decideSwitchoverRound: a job waiting for the sidecars to finish its switchover', () => {
  const base: SwitchoverRoundFacts = {
    job: 'job-a',
    previous: 'pg-0',
    target: 'pg-1',
    epoch: 5,
    record: switching,
    announced: undefined,
    now: 20,
    fenceDeadline: 30,
    takeDeadline: undefined,
    fenceSeconds: 10,
    switchoverSeconds: 20,
  };
  const round = (overrides: Partial<SwitchoverRoundFacts>): SwitchoverRoundFacts => ({ ...base, ...overrides });
  const fenced = { ...switching, checkpoint: '0/3000028' };
  const changed = (record: LeaderRecord) => ({
    kind: 'refuse',
    reason: `the leader record changed while this job worked (${describeRecord(record)}): someone else acted; run the job again to decide anew`,
  });
  const fenceTimeout = {
    kind: 'give-back', reason: 'pg-0 did not record a shutdown checkpoint within 10s (it may be cut off from the API, or not shut down cleanly)',
  };
  const takeTimeout = {
    kind: 'give-back',
    reason: 'switchover to pg-1: it had not received the old primary\'s shutdown checkpoint 0/3000028 after 20s; promoting it would lose commits',
  };

  test('the record names the target as the primary: the switchover is done', () => {
    const done = { ...stable, primary: 'pg-1', epoch: 6 };
    expect(decideSwitchoverRound(round({ record: done }))).toEqual({ kind: 'switched', reason: `pg-1 is the primary (${describeRecord(done)})` });
    // However late: the sidecars finished it.
    expect(decideSwitchoverRound(round({ record: done, now: 99, announced: '0/3000028', takeDeadline: 50 }))).toMatchObject({ kind: 'switched' });
  });

  test('the old primary named again at the next epoch: it gave the switchover back itself', () => {
    const back = { ...stable, epoch: 6 };
    expect(decideSwitchoverRound(round({ record: back }))).toEqual({
      kind: 'given-back',
      reason: `switchover to pg-1: pg-0 gave it back (${describeRecord(back)}), as it does when pg-1 does not stream from it (pg-1 could not have `
        + 'received its last WAL); run the job again once pg-1 streams',
    });
  });

  test.each([
    ['the old primary at a later epoch', { ...stable, epoch: 7 }],
    ['the old primary at this epoch', { ...stable, epoch: 5 }],
    ['another pod as the primary', { ...stable, primary: 'pg-2', epoch: 6 }],
    ['a failover', { ...failing, job: 'job-a' }],
    ['another job\'s switchover', { ...switching, job: 'job-c' }],
  ] as Array<[string, LeaderRecord]>)('the record shows %s: refuses, someone else acted', (_, record) => {
    expect(decideSwitchoverRound(round({ record }))).toEqual(changed(record));
  });

  test('the record was deleted: refuses', () => {
    expect(decideSwitchoverRound(round({ record: undefined }))).toEqual({ kind: 'refuse', reason: 'the leader record was deleted while this job worked' });
  });

  test('the switchover still waits for the checkpoint within the fence timeout, read or not', () => {
    expect(decideSwitchoverRound(round({}))).toEqual({ kind: 'wait' });
    expect(decideSwitchoverRound(round({ now: 29.99 }))).toEqual({ kind: 'wait' });
    expect(decideSwitchoverRound(round({ record: 'unread', now: 29.99 }))).toEqual({ kind: 'wait' });
  });

  test('no checkpoint when the fence timeout ends: gives it back, whether the record could be read or not', () => {
    expect(decideSwitchoverRound(round({ now: 30 }))).toEqual(fenceTimeout);
    expect(decideSwitchoverRound(round({ record: 'unread', now: 30 }))).toEqual(fenceTimeout);
  });

  test('the old primary recorded its checkpoint: the switchover timeout starts, even after the fence timeout', () => {
    const reason = 'pg-0 is fenced: its shutdown checkpoint is 0/3000028';
    expect(decideSwitchoverRound(round({ record: fenced }))).toEqual({ kind: 'fenced', checkpoint: '0/3000028', reason });
    expect(decideSwitchoverRound(round({ record: fenced, now: 31 }))).toEqual({ kind: 'fenced', checkpoint: '0/3000028', reason });
  });

  test('a checkpoint already announced is waited on until the switchover timeout ends, past the fence timeout', () => {
    const waiting = { record: fenced, announced: '0/3000028', takeDeadline: 50 };
    expect(decideSwitchoverRound(round({ ...waiting, now: 40 }))).toEqual({ kind: 'wait' });
    expect(decideSwitchoverRound(round({ ...waiting, now: 49.99 }))).toEqual({ kind: 'wait' });
    expect(decideSwitchoverRound(round({ ...waiting, record: 'unread', now: 40 }))).toEqual({ kind: 'wait' });
  });

  test('the target has not taken over when the switchover timeout ends: gives it back', () => {
    const waiting = { record: fenced, announced: '0/3000028', takeDeadline: 50 };
    expect(decideSwitchoverRound(round({ ...waiting, now: 50 }))).toEqual(takeTimeout);
    expect(decideSwitchoverRound(round({ ...waiting, record: 'unread', now: 50 }))).toEqual(takeTimeout);
    // Before the fence timeout, too (a short switchover timeout).
    expect(decideSwitchoverRound(round({ ...waiting, takeDeadline: 25, now: 25 }))).toEqual(takeTimeout);
  });
});
