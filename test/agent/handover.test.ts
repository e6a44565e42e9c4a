// A primary whose pod is being deleted hands the primary over (a switchover) to the most advanced standby that stays.
import { decideHandover, decideHandoverWait, decideRequestedSwitchover, HandoverFacts, HandoverWaitFacts, Standby } from '../../src/agent/handover';
import { StableRecord, SwitchingOverRecord } from '../../src/agent/record';

const ME = 'pg-2';
const named: StableRecord = { version: 1, state: 'stable', primary: ME, epoch: 7, timeline: 3, systemIdentifier: '70', sync: ['pg-0', 'pg-1'] };
const streaming = (name: string, flushLsn: string | undefined): Standby => ({ name, state: 'streaming', flushLsn });
// 'pg-1*': being deleted; 'pg-1!': not Ready (made anew a moment ago, say).
const pods = (...names: string[]) => names.map(name => ({ name: name.replace(/[*!]/g, ''), terminating: name.includes('*'), ready: !name.includes('!') }));

function facts(overrides: Partial<HandoverFacts> = {}): HandoverFacts {
  return {
    podName: ME,
    podTerminating: true,
    record: named,
    primaryData: true,
    standbys: [streaming('pg-0', '0/5000100'), streaming('pg-1', '0/5000200')],
    pods: pods('pg-0', 'pg-1', 'pg-2*'),
    ...overrides,
  };
}

describe('decideHandover: what a stopping sidecar does about its primary', () => {
  test('the pod is being deleted: a switchover to the standby that flushed the most, the old primary named as the job', () => {
    expect(decideHandover(facts())).toEqual({
      kind: 'hand-over',
      target: 'pg-1',
      record: { version: 1, state: 'switching-over', epoch: 8, timeline: 3, systemIdentifier: '70', sync: ['pg-0', 'pg-1'], previous: ME, target: 'pg-1', job: ME, checkpoint: undefined },
      reason: 'this primary\'s pod is being deleted: handing the primary over to pg-1, the most advanced standby that stays (flushed 0/5000200), '
        + 'by a switchover (epoch 8, switching-over, primary (none), timeline 3, synchronous standbys pg-0,pg-1 (job pg-2: pg-2 -> pg-1))',
    });
  });

  describe('in a rolling update (the StatefulSet deletes the old revision\'s pods, highest ordinal first)', () => {
    const revisions = (...specs: string[]) => specs.map(spec => {
      const [name, revision] = spec.replace('*', '').split('@');
      const labels: Record<string, string> = revision === undefined ? {} : { 'controller-revision-hash': revision };
      return { name, terminating: spec.endsWith('*'), ready: true, labels };
    });

    test('hands over to a standby of the new revision, even one behind an old one: it will not be deleted next', () => {
      const plan = decideHandover(facts({ pods: revisions('pg-0@old', 'pg-1@old', 'pg-2@old*'), podName: 'pg-2' }));
      expect(plan.kind === 'hand-over' && plan.target).toBe('pg-1');
      const updated = decideHandover(facts({
        podName: 'pg-1',
        record: { ...named, primary: 'pg-1' },
        standbys: [streaming('pg-0', '0/5000200'), streaming('pg-2', '0/5000100')],
        pods: revisions('pg-0@old', 'pg-1@old*', 'pg-2@new'),
      }));
      expect(updated).toMatchObject({
        kind: 'hand-over',
        target: 'pg-2',
        reason: 'this primary\'s pod is being deleted: handing the primary over to pg-2, the most advanced standby that stays and runs the pod '
          + 'template\'s new revision (new; this pod\'s: old) (flushed 0/5000100), by a switchover (epoch 8, switching-over, primary (none), '
          + 'timeline 3, synchronous standbys pg-0,pg-1 (job pg-1: pg-1 -> pg-2))',
      });
    });

    test.each<[string, string[], string, boolean]>([
      ['of two updated standbys, the most advanced', ['pg-0@new', 'pg-1@new', 'pg-2@old*'], 'pg-1', true],
      ['every pod on the same revision (a drain, a delete): the most advanced', ['pg-0@old', 'pg-1@old', 'pg-2@old*'], 'pg-1', false],
      ['an updated pod that is itself being deleted does not count', ['pg-0@new*', 'pg-1@old', 'pg-2@old*'], 'pg-1', false],
      ['a standby without the label is not known to be updated', ['pg-0', 'pg-1@old', 'pg-2@old*'], 'pg-1', false],
      ['this pod without the label: nothing is known of revisions', ['pg-0@new', 'pg-1@old', 'pg-2*'], 'pg-1', false],
      ['this pod not listed: nothing is known of revisions', ['pg-0@new', 'pg-1@old'], 'pg-1', false],
      ['an updated standby is preferred to the most advanced old one', ['pg-0@new', 'pg-1@old', 'pg-2@old*'], 'pg-0', true],
    ])('%s', (_, specs, target, updated) => {
      const plan = decideHandover(facts({ pods: revisions(...specs) }));
      expect(plan.kind === 'hand-over' && plan.target).toBe(target);
      expect(plan.reason).toContain(updated ? `${target}, the most advanced standby that stays and runs the pod template's new revision (new; this pod's: old)`
        : `${target}, the most advanced standby that stays (flushed`);
    });
  });

  test.each<[string, Partial<HandoverFacts>, string]>([
    ['positions compare as numbers, not text (0/A0 after 0/9F, 1/0 after 0/FFFFFFFF)',
      { standbys: [streaming('pg-0', '0/FFFFFFFF'), streaming('pg-1', '1/0')] }, 'pg-1'],
    ['a standby whose pod is being deleted too (a scale-down of several) is passed over, however far it is',
      { pods: pods('pg-0', 'pg-1*', 'pg-2*') }, 'pg-0'],
    ['a standby whose pod is not Ready (deleted with this one and made anew already: the standby list is older) is passed over',
      { pods: pods('pg-0', 'pg-1!', 'pg-2*') }, 'pg-0'],
    ['a standby that is not a pod of the cluster (a base backup, a stranger) is passed over',
      { standbys: [streaming('pg_basebackup', '9/0'), streaming('pg-0', '0/1')] }, 'pg-0'],
    ['a standby still catching up is passed over', { standbys: [{ name: 'pg-1', state: 'catchup', flushLsn: '0/9000000' }, streaming('pg-0', '0/1')] }, 'pg-0'],
    ['a standby that reports no position is passed over', { standbys: [streaming('pg-1', undefined), streaming('pg-0', '0/1')] }, 'pg-0'],
    ['a standby whose position is not one is passed over', { standbys: [streaming('pg-1', 'FFFF'), streaming('pg-0', '0/1')] }, 'pg-0'],
    ['equal positions: the first name', { standbys: [streaming('pg-1', '0/5'), streaming('pg-0', '0/5')] }, 'pg-0'],
  ])('%s', (_name, overrides, target) => {
    const plan = decideHandover(facts(overrides));
    expect(plan.kind === 'hand-over' ? plan.target : plan.reason).toBe(target);
  });

  test.each<[string, Partial<HandoverFacts>, string]>([
    ['a restart of the pod (no deletion): the primary stays where it is',
      { podTerminating: false }, 'stopping, but the pod is not being deleted (a restart): the primary stays where it is'],
    ['the API did not say: the primary stays where it is',
      { podTerminating: undefined }, 'stopping: the API did not say whether this pod is being deleted, so the primary stays where it is'],
    ['the record names another pod: nothing to hand over',
      { record: { ...named, primary: 'pg-0' } }, 'this pod is being deleted; it is not the primary the record names (epoch 7, stable, primary pg-0, timeline 3, synchronous standbys pg-0,pg-1): nothing to hand over'],
    ['a switchover is already under way: nothing to hand over',
      { record: { ...named, state: 'switching-over', previous: ME, target: 'pg-1', job: 'j', checkpoint: undefined } as any }, 'nothing to hand over'],
    ['no record: nothing to hand over', { record: undefined }, 'it is not the primary the record names (no leader record)'],
    ['a replica\'s data (the record names this pod, but it was never promoted): nothing to hand over', { primaryData: false }, 'nothing to hand over'],
    ['the pods cannot be listed: no handover', { pods: undefined }, 'the cluster\'s pods cannot be listed: no handover (run the failover job)'],
    ['no standby streams: no handover', { standbys: [] }, 'no standby that stays streams from it: no handover (run the failover job)'],
    ['every streaming standby is being deleted too: no handover', { pods: pods('pg-0*', 'pg-1*', 'pg-2*') }, 'no standby that stays streams from it'],
    ['every pod deleted at once, the others made anew before this one looked: no handover',
      { pods: pods('pg-0!', 'pg-1!', 'pg-2*') }, 'no standby that stays streams from it'],
  ])('%s', (_name, overrides, reason) => {
    const plan = decideHandover(facts(overrides));
    expect(plan.kind).toBe('stop');
    expect(plan.reason).toContain(reason);
  });
});

describe('decideRequestedSwitchover: a switchover asked for on the record', () => {
  const request = (asked: string, overrides: Partial<Parameters<typeof decideRequestedSwitchover>[0]> = {}) => decideRequestedSwitchover({
    podName: ME,
    record: named,
    serving: true,
    request: asked,
    standbys: [streaming('pg-0', '0/5000100'), streaming('pg-1', '0/5000200')],
    pods: pods('pg-0', 'pg-1', 'pg-2'),
    ...overrides,
  });

  test('to a streaming standby: a switchover to it, the primary named as the job, whatever its position', () => {
    expect(request('pg-0')).toEqual({
      kind: 'hand-over',
      target: 'pg-0',
      record: { version: 1, state: 'switching-over', epoch: 8, timeline: 3, systemIdentifier: '70', sync: ['pg-0', 'pg-1'], previous: ME, target: 'pg-0', job: ME, checkpoint: undefined },
      reason: 'switchover to pg-0 requested on the record: handing the primary over to pg-0 (flushed 0/5000100), by a switchover '
        + '(epoch 8, switching-over, primary (none), timeline 3, synchronous standbys pg-0,pg-1 (job pg-2: pg-2 -> pg-0))',
    });
  });

  test('to a streaming standby not Ready yet (its probe comes later): carried out, the standby list being taken now', () => {
    expect(request('pg-1', { pods: pods('pg-0', 'pg-1!', 'pg-2') })).toMatchObject({ kind: 'hand-over', target: 'pg-1' });
  });

  test.each<[Record<string, string>, string]>([
    [{ 'pg-a': '0/1', 'pg-b': '0/3', 'pg-c': '0/2', 'pg-d': '0/3' }, 'pg-b, pg-d, pg-c, pg-a'],
    [{ 'pg-a': '0/2', 'pg-b': '0/1', 'pg-c': '1/0', 'pg-d': '0/1' }, 'pg-c, pg-a, pg-b, pg-d'],
  ])('the standbys that may take over, as a refusal names them (%j): most advanced first, equal positions by name, in whatever order listed', (positions, expected) => {
    const ranked = (order: string[]) => {
      const plan = request('pg-7', { standbys: order.map(name => streaming(name, positions[name])), pods: pods(...order, ME) });
      return plan.kind === 'refuse' && plan.reason.replace(/.*may take over: (.*)\); the primary stays/, '$1');
    };
    const names = Object.keys(positions);
    expect(ranked(names)).toBe(expected);
    expect(ranked([...names].reverse())).toBe(expected);
    expect(ranked([names[2], names[0], names[3], names[1]])).toBe(expected);
  });

  test('"any": the most advanced standby; spaces around the name do not matter', () => {
    expect(request('any')).toMatchObject({ kind: 'hand-over', target: 'pg-1' });
    expect(request(' pg-0 ')).toMatchObject({ kind: 'hand-over', target: 'pg-0' });
  });

  test.each<[string, string, Partial<Parameters<typeof decideRequestedSwitchover>[0]>, string]>([
    ['to the primary itself', ME, {}, 'switchover to pg-2 requested: it is the primary already'],
    ['to a pod that is not a standby', 'pg-7', {}, 'switchover to pg-7 requested: pg-7 does not stream from the primary pg-2 (standbys that may take over: pg-1, pg-0); the primary stays'],
    ['to a standby being deleted', 'pg-1', { pods: pods('pg-0', 'pg-1*', 'pg-2') }, 'pg-1 does not stream from the primary pg-2 (standbys that may take over: pg-0)'],
    ['to a standby still catching up', 'pg-0', { standbys: [{ name: 'pg-0', state: 'catchup', flushLsn: '0/1' }] }, 'pg-0 does not stream from the primary pg-2 (standbys that may take over: none)'],
    ['"any" with no standby', 'any', { standbys: [] }, 'switchover to any requested: no standby streams from the primary pg-2 (standbys that may take over: none); the primary stays'],
    ['an empty request', '', {}, 'switchover to (nothing) requested'],
  ])('refused %s: the request goes, and the reason says why', (_name, asked, overrides, reason) => {
    const plan = request(asked, overrides);
    expect(plan.kind).toBe('refuse');
    expect(plan.kind === 'refuse' && plan.reason).toContain(reason);
  });

  test.each<[string, Partial<Parameters<typeof decideRequestedSwitchover>[0]>]>([
    ['the record names another pod: its sidecar carries it out', { record: { ...named, primary: 'pg-0' } }],
    ['a switchover is under way: the request waits for its end', { record: { ...named, state: 'switching-over', previous: ME, target: 'pg-1', job: 'j', checkpoint: undefined } as any }],
    ['PostgreSQL does not serve here: the request waits', { serving: false }],
    ['no record', { record: undefined }],
    ['the pods cannot be listed: tried again next round', { pods: undefined }],
  ])('left alone when %s', (_name, overrides) => {
    expect(request('pg-0', overrides)).toEqual({ kind: 'ignore' });
  });

  test('a failover request made before this pod became the primary is dropped: the change of primary answered it', () => {
    expect(request('any', { failoverRequestEpoch: 6 })).toEqual({
      kind: 'drop',
      reason: 'removing the failover request (any) made before this pod became the primary (epoch 6, now 7): the change of primary answered it',
    });
    // Made while this pod was already the primary (the record's epoch): carried out, as a switchover.
    expect(request('any', { failoverRequestEpoch: 7 })).toMatchObject({ kind: 'hand-over', target: 'pg-1' });
    // Not seen at another epoch by this agent (started since): carried out.
    expect(request('any', { failoverRequestEpoch: undefined })).toMatchObject({ kind: 'hand-over' });
    // A pod that is not the serving primary leaves it to the replicas' rules.
    expect(request('any', { failoverRequestEpoch: 6, serving: false })).toEqual({ kind: 'ignore' });
  });
});

describe('decideHandoverWait: a deleted primary waiting for its handover\'s target to take over', () => {
  const handing: SwitchingOverRecord = {
    ...named, state: 'switching-over', epoch: 8, previous: ME, target: 'pg-1', job: ME, checkpoint: '0/5000300',
  };
  const target = { name: 'pg-1', terminating: false, ready: true, uid: 'u1' };
  const wait = (overrides: Partial<HandoverWaitFacts> = {}) => decideHandoverWait({
    podName: ME, target: 'pg-1', targetUid: 'u1', record: handing, targetPod: target, ...overrides,
  });

  test('the target deleted too before it took over: the record names this pod again, a new epoch, and says why', () => {
    expect(wait({ targetPod: { ...target, terminating: true } })).toEqual({
      kind: 'give-back',
      record: { version: 1, state: 'stable', primary: ME, epoch: 9, timeline: 3, systemIdentifier: '70', sync: ['pg-0', 'pg-1'] },
      reason: 'the handover\'s target pg-1 is being deleted too before it took over: the record names this pod again, which is the primary when '
        + 'it is made anew (epoch 9, stable, primary pg-2, timeline 3, synchronous standbys pg-0,pg-1)',
    });
  });

  test.each<[string, Partial<HandoverWaitFacts>, string]>([
    ['the target\'s pod gone', { targetPod: null }, 'pg-1 is gone before it took over'],
    ['a new pod under the target\'s name', { targetPod: { ...target, uid: 'u2' } }, 'pg-1 is gone (a new pod has its name) before it took over'],
    ['a new pod under the target\'s name, being deleted too', { targetPod: { ...target, uid: 'u2', terminating: true } }, 'pg-1 is being deleted too'],
  ])('%s: given back', (_name, overrides, reason) => {
    const plan = wait(overrides);
    expect(plan.kind).toBe('give-back');
    expect(plan.kind === 'give-back' && plan.reason).toContain(reason);
  });

  test.each<[string, Partial<HandoverWaitFacts>]>([
    ['the target there, not yet taken over', {}],
    ['the target not looked at this time', { targetPod: undefined }],
    ['the target not Ready (it is being promoted): still the same pod', { targetPod: { ...target, ready: false } }],
    ['the target\'s uid unknown when the handover began', { targetUid: undefined, targetPod: { ...target, uid: 'u2' } }],
    ['the target\'s uid unknown now', { targetPod: { ...target, uid: undefined } }],
  ])('%s: waits', (_name, overrides) => {
    expect(wait(overrides)).toEqual({ kind: 'wait' });
  });

  test.each<[string, Partial<HandoverWaitFacts>, string]>([
    ['the target named the primary', { record: { ...named, epoch: 8, primary: 'pg-1' } }, 'handed over: epoch 8, stable, primary pg-1'],
    ['the target named the primary, whatever its pod shows now', { record: { ...named, epoch: 8, primary: 'pg-1' }, targetPod: null }, 'handed over'],
    ['the record given back by a job', { record: { ...named, epoch: 9 } }, 'the handover was taken over by someone else (epoch 9, stable, primary pg-2'],
    ['a job took the switchover over', { record: { ...handing, epoch: 9, job: 'postgres-failover-x' }, targetPod: null }, 'taken over by someone else'],
    ['another switchover, to another target', { record: { ...handing, target: 'pg-0' }, targetPod: null }, 'taken over by someone else'],
    ['no record', { record: undefined }, 'the handover was taken over by someone else (no leader record)'],
  ])('%s: done', (_name, overrides, reason) => {
    const plan = wait(overrides);
    expect(plan.kind).toBe('done');
    expect(plan.kind === 'done' && plan.reason).toContain(reason);
  });
});
