// The rolling update the agents carry out (updateStrategy OnDelete): replicas first, highest ordinal first, each once
// every pod is Ready; then one switchover to an updated standby; the old primary's pod last.
import { PodState, Standby } from '../../src/agent/handover';
import { StableRecord } from '../../src/agent/record';
import { decideRoll, RollFacts, ROLL_PAUSE_ANNOTATION, ROLL_STALL_SECONDS } from '../../src/agent/roll';

const ME = 'pg-1';
const NEW = 'pg-new';
const record: StableRecord = { version: 1, state: 'stable', primary: ME, epoch: 4, timeline: 2, systemIdentifier: '70', sync: [] };
const streaming = (name: string, flushLsn: string): Standby => ({ name, state: 'streaming', flushLsn });

/** 'pg-0@new': pod pg-0 of revision pg-new ('@' alone: no labels at all); a trailing '*': being deleted; '!': not Ready. */
function pods(...specs: string[]): PodState[] {
  return specs.map(spec => {
    const [name, revision] = spec.replace(/[*!]/g, '').split('@');
    return {
      name,
      terminating: spec.includes('*'),
      ready: !spec.includes('!'),
      uid: `uid-${name}`,
      labels: revision === '' ? undefined : { 'controller-revision-hash': `pg-${revision ?? 'old'}` } as Record<string, string>,
    };
  });
}

function facts(overrides: Partial<RollFacts> = {}): RollFacts {
  return {
    podName: ME,
    record,
    replicas: 3,
    updateRevision: NEW,
    pods: pods('pg-0@old', 'pg-1@old', 'pg-2@old'),
    standbys: [streaming('pg-0', '0/3000100'), streaming('pg-2', '0/3000200')],
    paused: false,
    lastWait: undefined,
    ...overrides,
  };
}

describe('decideRoll: nothing to roll', () => {
  test('the StatefulSet has no update revision yet', () => {
    expect(decideRoll(facts({ updateRevision: undefined }))).toEqual({ kind: 'none', reason: 'the StatefulSet has no update revision yet: nothing to roll' });
  });

  test('every pod runs the update revision, even with a pod not Ready or being deleted', () => {
    expect(decideRoll(facts({ pods: pods('pg-0@new!', 'pg-1@new', 'pg-2@new*') })))
      .toEqual({ kind: 'none', reason: 'every pod runs the pod template\'s revision pg-new' });
  });
});

describe('decideRoll: the replicas first, one at a time, highest ordinal first', () => {
  test('every pod of the old revision: the replica with the highest ordinal is deleted (with its uid), not the primary', () => {
    expect(decideRoll(facts())).toEqual({
      kind: 'delete',
      pod: 'pg-2',
      uid: 'uid-pg-2',
      reason: 'rolling update to revision pg-new (0 of 3 pods run it): deleting replica pg-2 (revision pg-old); the StatefulSet makes it anew from the new template',
    });
  });

  test.each([
    ['listed highest first', ['pg-2@old', 'pg-1@old', 'pg-0@old'], 'pg-2'],
    ['listed out of order', ['pg-0@old', 'pg-2@old', 'pg-1@old'], 'pg-2'],
    ['the highest updated already', ['pg-0@old', 'pg-1@old', 'pg-2@new'], 'pg-0'],
    ['ordinals compared as numbers (10 after 9)', ['pg-9@old', 'pg-1@old', 'pg-10@old'], 'pg-10'],
  ])('the replica deleted does not depend on the listing order: %s', (_, specs, deleted) => {
    expect(decideRoll(facts({ pods: pods(...specs) }))).toMatchObject({ kind: 'delete', pod: deleted });
  });

  test('a pod without the revision label is of an older revision: deleted, its revision said to be none', () => {
    expect(decideRoll(facts({ pods: pods('pg-0@new', 'pg-1@new', 'pg-2@') }))).toEqual({
      kind: 'delete',
      pod: 'pg-2',
      uid: 'uid-pg-2',
      reason: 'rolling update to revision pg-new (2 of 3 pods run it): deleting replica pg-2 (revision none); the StatefulSet makes it anew from the new template',
    });
  });

  test.each<[string, Partial<RollFacts>, string]>([
    ['a pod is being deleted (the last one deleted, say)', { pods: pods('pg-0@old', 'pg-1@old', 'pg-2@old*') }, 'pg-2 is being deleted'],
    ['a pod made anew is not Ready yet', { pods: pods('pg-0@old', 'pg-1@old', 'pg-2@new!') }, 'pg-2 is not Ready (a replica is Ready once it streams)'],
    ['two pods not Ready: the lower ordinal is named, whatever the order', { pods: pods('pg-2@new!', 'pg-1@old', 'pg-0@old!') }, 'pg-0 is not Ready (a replica is Ready once it streams)'],
    ['being deleted goes before not Ready', { pods: pods('pg-0@old!', 'pg-1@old', 'pg-2@old*') }, 'pg-2 is being deleted'],
    ['the pod deleted is not listed yet, nor made anew', { pods: pods('pg-0@old', 'pg-1@old') }, 'the StatefulSet has 2 pods of 3'],
    ['a scale-down is under way', { pods: pods('pg-0@old', 'pg-1@old', 'pg-2@old'), replicas: 2 }, 'the StatefulSet has 3 pods of 2'],
    ['the primary itself is not Ready', { pods: pods('pg-0@old', 'pg-1@old!', 'pg-2@old') }, 'pg-1 is not Ready (a replica is Ready once it streams)'],
  ])('waits while not every pod is there and Ready: %s', (_, overrides, why) => {
    const plan = decideRoll(facts(overrides));
    expect(plan).toEqual({ kind: 'wait', reason: expect.stringMatching(/^rolling update to revision pg-new \(\d of \d pods run it\): waiting, /), stalled: false });
    expect(plan.reason.endsWith(`waiting, ${why}`)).toBe(true);
  });
});

describe('decideRoll: then one switchover, to an updated standby that streams', () => {
  test('only the primary is of the old revision: a switchover to the most advanced updated standby, the primary named as the job', () => {
    expect(decideRoll(facts({ pods: pods('pg-0@new', 'pg-1@old', 'pg-2@new') }))).toEqual({
      kind: 'switch-over',
      target: 'pg-2',
      record: { version: 1, state: 'switching-over', epoch: 5, timeline: 2, systemIdentifier: '70', sync: [], previous: ME, target: 'pg-2', job: ME, checkpoint: undefined },
      reason: 'rolling update to revision pg-new (2 of 3 pods run it, every replica): switching over to pg-2, the most advanced standby of the new '
        + 'revision (flushed 0/3000200), before this primary\'s pod is updated (epoch 5, switching-over, primary (none), timeline 2 '
        + '(job pg-1: pg-1 -> pg-2))',
    });
  });

  test('a standby that is not a pod of the cluster is never the target, however advanced', () => {
    const standbys = [streaming('pg-0', '0/3000100'), streaming('pg-2', '0/3000200'), streaming('pg-7', '0/9000000')];
    expect(decideRoll(facts({ pods: pods('pg-0@new', 'pg-1@old', 'pg-2@new'), standbys }))).toMatchObject({ kind: 'switch-over', target: 'pg-2' });
  });

  test.each<[string, Standby[]]>([
    ['no standby streams', []],
    ['the updated replicas are catching up', [{ name: 'pg-0', state: 'catchup', flushLsn: '0/3000100' }, { name: 'pg-2', state: 'catchup', flushLsn: '0/3000200' }]],
    ['the standbys report no position', [{ name: 'pg-0', state: 'streaming', flushLsn: undefined }]],
  ])('waits when no updated replica streams from the primary: %s', (_, standbys) => {
    expect(decideRoll(facts({ pods: pods('pg-0@new', 'pg-1@old', 'pg-2@new'), standbys }))).toEqual({
      kind: 'wait',
      reason: 'rolling update to revision pg-new (2 of 3 pods run it): waiting, no replica of the new revision streams from the primary pg-1',
      stalled: false,
    });
  });

  test('a primary that is the only pod restarts in place: its own pod is deleted', () => {
    expect(decideRoll(facts({ replicas: 1, pods: pods('pg-1@old'), standbys: [] }))).toEqual({
      kind: 'delete',
      pod: ME,
      uid: 'uid-pg-1',
      reason: 'rolling update to revision pg-new: this primary is the only pod, so it restarts in place (writes stop until it is back)',
    });
  });
});

describe('decideRoll: a person holds the roll with an annotation on the record', () => {
  test.each<[string, Partial<RollFacts>]>([
    ['before the first replica', {}],
    ['with a pod not Ready (paused is said first)', { pods: pods('pg-0@old', 'pg-1@old', 'pg-2@new!') }],
    ['before the switchover', { pods: pods('pg-0@new', 'pg-1@old', 'pg-2@new') }],
  ])('paused: nothing is deleted nor switched over, and a pause never stalls: %s', (_, overrides) => {
    const plan = decideRoll(facts({ ...overrides, paused: true, lastWait: { reason: 'x', seconds: ROLL_STALL_SECONDS * 10 } }));
    expect(plan).toEqual({ kind: 'wait', reason: expect.stringMatching(/^rolling update to revision pg-new \(\d of 3 pods run it\): paused /), stalled: false });
    expect(plan.reason.endsWith('paused (rollout.postgres.cdk8s.io/paused=true on the record)')).toBe(true);
    const again = decideRoll(facts({ ...overrides, paused: true, lastWait: { reason: plan.reason, seconds: ROLL_STALL_SECONDS * 10 } }));
    expect(again).toEqual(plan);
  });

  test('the annotation, and nothing to roll while paused', () => {
    expect(ROLL_PAUSE_ANNOTATION).toBe('rollout.postgres.cdk8s.io/paused');
    expect(decideRoll(facts({ paused: true, pods: pods('pg-0@new', 'pg-1@new', 'pg-2@new') }))).toMatchObject({ kind: 'none' });
  });
});

describe('decideRoll: a roll that waits too long says so', () => {
  const waiting = facts({ pods: pods('pg-0@old', 'pg-1@old', 'pg-2@new!') });
  const reason = decideRoll(waiting).reason;

  test.each<[string, RollFacts['lastWait'], boolean]>([
    ['the same wait, for the stall time', { reason, seconds: ROLL_STALL_SECONDS }, true],
    ['the same wait, for longer', { reason, seconds: ROLL_STALL_SECONDS * 10 }, true],
    ['the same wait, not for the stall time yet', { reason, seconds: ROLL_STALL_SECONDS - 0.5 }, false],
    ['another wait, for long', { reason: `${reason} (before)`, seconds: ROLL_STALL_SECONDS * 10 }, false],
    ['no wait before', undefined, false],
  ])('%s: stalled %s', (_, lastWait, stalled) => {
    expect(decideRoll({ ...waiting, lastWait })).toEqual({ kind: 'wait', reason, stalled });
  });

  test('the stall time is a minute', () => {
    expect(ROLL_STALL_SECONDS).toBe(60);
  });
});
