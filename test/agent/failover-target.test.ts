import {
  Candidate, chooseFailoverTarget, chooseScaleDownTarget, FailoverChoiceFacts, forkedBehind, historyFileName, parseLsn, rankCandidates, switchpointOf,
  timelineSwitchpoint,
} from '../../src/agent/failover-target';

// GIVEN the job's survey of the pods (after fencing and settling); WHEN it chooses; THEN the target or the refusal.
const r = (pod: string, lsn: string): Candidate => ({ pod, role: 'replica', lsn });
const down = (pod: string): Candidate => ({ pod, role: 'down', lsn: '0/0' });

function facts(candidates: Candidate[], overrides: Partial<FailoverChoiceFacts> = {}): FailoverChoiceFacts {
  return { candidates, previous: 'pg-0', syncReplicas: 0, syncSet: [], acceptDataLoss: false, requestedTarget: undefined, scaleDownTo: undefined, ...overrides };
}

describe('parseLsn and rankCandidates: the order of replicas, most advanced first', () => {
  test.each([
    ['0/0', 0n],
    ['0/3000028', 0x3000028n],
    ['1/0', 0x1_0000_0000n],
    ['16/B374D848', 0x16_B374D848n],
    ['FFFFFFFF/FFFFFFFF', 0xFFFFFFFF_FFFFFFFFn],
  ])('%s is %s', (lsn, value) => {
    expect(parseLsn(lsn)).toBe(value);
  });

  test.each(['?', '', '0/', '/0', '0/3000028 ', ' 0/1', '0/3a', 'g/0', '0-1'])('"%s" is not an LSN', lsn => {
    expect(parseLsn(lsn)).toBeUndefined();
  });

  test('the replica with the most WAL first; the high word counts before the low', () => {
    const ranked = rankCandidates([r('pg-0', '0/FFFFFFFF'), r('pg-1', '1/0'), r('pg-2', '0/10')]);
    expect(ranked.map(c => c.pod)).toEqual(['pg-1', 'pg-0', 'pg-2']);
  });

  test('equal positions keep the order given (the first of the highest wins, as most_advanced does)', () => {
    expect(rankCandidates([r('pg-2', '0/5'), r('pg-1', '0/5'), r('pg-3', '0/6'), r('pg-0', '0/5')]).map(c => c.pod)).toEqual(['pg-3', 'pg-2', 'pg-1', 'pg-0']);
  });

  test('only replicas that answer with their position are ranked: no primary, starting, down, empty, unreachable, "?"', () => {
    const ranked = rankCandidates([
      { pod: 'a', role: 'primary', lsn: '9/0' }, { pod: 'b', role: 'starting', lsn: '9/0' }, { pod: 'c', role: 'down', lsn: '9/0' },
      { pod: 'd', role: 'empty', lsn: '9/0' }, { pod: 'e', role: 'unreachable', lsn: '9/0' }, r('f', '?'), r('g', '0/1'),
    ]);
    expect(ranked.map(c => c.pod)).toEqual(['g']);
  });
});

describe('chooseFailoverTarget: the failover job\'s choice', () => {
  test('asynchronous: the most advanced healthy replica', () => {
    expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '0/5000000'), r('pg-2', '0/6000000')]))).toEqual({
      kind: 'promote', target: 'pg-2', reason: 'promoting pg-2 (WAL 0/6000000) of pg-1 pg-2', warning: undefined,
    });
  });

  test('refuses when no replica is healthy (give the record back)', () => {
    expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '?'), { pod: 'pg-2', role: 'starting', lsn: '?' }]))).toEqual({
      kind: 'refuse', reason: 'no healthy replica to promote (pg-0=down@0/0 pg-1=replica@? pg-2=starting@?)',
    });
  });

  test('a requested target that is a primary already (a dead job promoted it) is recorded as it is', () => {
    expect(chooseFailoverTarget(facts([down('pg-0'), { pod: 'pg-1', role: 'primary', lsn: '0/9' }, r('pg-2', '0/10')], { requestedTarget: 'pg-1' }))).toEqual({
      kind: 'promote', target: 'pg-1', reason: 'pg-1 was promoted already (by the job that ended): recording it', warning: undefined,
    });
  });

  test('a requested target that is a healthy replica is promoted, with a warning when another has more WAL', () => {
    expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '0/9'), r('pg-2', '0/10')], { requestedTarget: 'pg-1' }))).toEqual({
      kind: 'promote',
      target: 'pg-1',
      reason: 'promoting pg-1 (WAL 0/9) of pg-1 pg-2',
      warning: 'pg-2 has more WAL than pg-1; what only pg-2 has is lost, and pg-2 is rewound when it restarts',
    });
  });

  test('a requested replica is not taken for promoted already because another pod is a primary', () => {
    expect(chooseFailoverTarget(facts([{ pod: 'pg-0', role: 'primary', lsn: '0/9' }, r('pg-1', '0/9')], { requestedTarget: 'pg-1' }))).toEqual({
      kind: 'promote', target: 'pg-1', reason: 'promoting pg-1 (WAL 0/9) of pg-1', warning: undefined,
    });
  });

  test('a requested target as advanced as the best: no warning', () => {
    expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '0/10'), r('pg-2', '0/10')], { requestedTarget: 'pg-2' }))).toMatchObject({ target: 'pg-2', warning: undefined });
  });

  test('refuses a requested target that is not a healthy replica, saying what it is', () => {
    expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '0/9'), r('pg-2', '?')], { requestedTarget: 'pg-2' }))).toEqual({
      kind: 'refuse', reason: 'FAILOVER_TARGET pg-2 may not be promoted (replica; eligible: pg-1)',
    });
    expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '0/9')], { requestedTarget: 'pg-7' }))).toEqual({
      kind: 'refuse', reason: 'FAILOVER_TARGET pg-7 may not be promoted (not a pod; eligible: pg-1)',
    });
  });

  describe('synchronous mode', () => {
    const pods = [down('pg-0'), r('pg-1', '0/9'), r('pg-2', '0/10'), r('pg-3', '0/11')];

    test('promotes the most advanced recorded synchronous standby when n - k + 1 of them answer, not a more advanced outsider', () => {
      const choice = chooseFailoverTarget(facts(pods, { syncReplicas: 1, syncSet: ['pg-1', 'pg-2'] }));
      expect(choice).toEqual({
        kind: 'promote',
        target: 'pg-2',
        reason: 'promoting pg-2 (WAL 0/10) of pg-1 pg-2',
        warning: 'pg-3 has more WAL than pg-2; what only pg-3 has is lost, and pg-3 is rewound when it restarts',
      });
    });

    test('with k = 1 of n = 3, one answering member is enough', () => {
      expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '0/9'), down('pg-2'), down('pg-3')], { syncReplicas: 1, syncSet: ['pg-1', 'pg-2', 'pg-3'] })))
        .toEqual({ kind: 'refuse', reason: expect.stringContaining('1 of the 3 recorded synchronous standbys (pg-1,pg-2,pg-3) answer; 3 are needed') });
    });

    test('refuses when fewer than n - k + 1 members answer, and says how many are needed', () => {
      expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '0/9'), down('pg-2'), r('pg-3', '0/11')], { syncReplicas: 2, syncSet: ['pg-1', 'pg-2', 'pg-3'] }))).toMatchObject({ kind: 'promote', target: 'pg-3' });
      expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '0/9'), down('pg-2'), down('pg-3')], { syncReplicas: 2, syncSet: ['pg-1', 'pg-2', 'pg-3'] }))).toEqual({
        kind: 'refuse',
        reason: 'synchronous mode: 1 of the 3 recorded synchronous standbys (pg-1,pg-2,pg-3) answer; 2 are needed to be sure of every acknowledged commit. '
          + 'no replica may be promoted without losing acknowledged commits (pg-0=down@0/0 pg-1=replica@0/9 pg-2=down@0/0 pg-3=down@0/0). '
          + 'Bring back the missing pods and run the job again, or set FAILOVER_ACCEPT_DATA_LOSS=true to promote the most advanced replica anyway',
      });
    });

    test('an old primary that is no pod any more does not lift the rule', () => {
      expect(chooseFailoverTarget(facts(pods.slice(1), { previous: 'pg-0', syncReplicas: 1, syncSet: ['pg-1', 'pg-2'] }))).toMatchObject({ kind: 'promote', target: 'pg-2' });
      expect(chooseFailoverTarget(facts(pods.slice(1), { previous: 'pg-0', syncReplicas: 1, syncSet: ['pg-8', 'pg-9'] }))).toMatchObject({ kind: 'refuse' });
    });

    test('a member that is not a pod (scaled away) counts as a member that does not answer', () => {
      expect(chooseFailoverTarget(facts(pods, { syncReplicas: 1, syncSet: ['pg-1', 'pg-9'] }))).toMatchObject({ kind: 'refuse', reason: expect.stringContaining('1 of the 2 recorded') });
    });

    test('refuses when the recorded set is empty', () => {
      expect(chooseFailoverTarget(facts(pods, { syncReplicas: 1, syncSet: [] }))).toMatchObject({ kind: 'refuse', reason: expect.stringContaining('0 of the 0 recorded synchronous standbys (none) answer; 0 are needed') });
    });

    test('k beyond the set\'s size: n - k + 1 < 1 members are needed, so one that answers is promoted', () => {
      expect(chooseFailoverTarget(facts(pods, { syncReplicas: 3, syncSet: ['pg-1'] }))).toMatchObject({ kind: 'promote', target: 'pg-1' });
    });

    test('refuses when enough members answer by count but none is a healthy replica (k beyond the set, its member gone)', () => {
      expect(chooseFailoverTarget(facts(pods, { syncReplicas: 2, syncSet: ['pg-9'] }))).toEqual({
        kind: 'refuse', reason: expect.stringMatching(/^no replica may be promoted without losing acknowledged commits/),
      });
    });

    test('ties among members keep the synchronous set\'s order', () => {
      expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '0/9'), r('pg-2', '0/9')], { syncReplicas: 1, syncSet: ['pg-2', 'pg-1'] }))).toMatchObject({ target: 'pg-2' });
      expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-1', '0/9'), r('pg-2', '0/9')], { syncReplicas: 1, syncSet: ['pg-1', 'pg-2'] }))).toMatchObject({ target: 'pg-1' });
    });

    test('FAILOVER_ACCEPT_DATA_LOSS promotes the most advanced survivor', () => {
      expect(chooseFailoverTarget(facts(pods, { syncReplicas: 2, syncSet: ['pg-1', 'pg-2'], acceptDataLoss: true }))).toMatchObject({ kind: 'promote', target: 'pg-3', warning: undefined });
    });

    test('an old primary that is a replica now lifts the rule: every healthy replica is eligible', () => {
      const fenced = [r('pg-0', '0/8'), r('pg-1', '0/9'), r('pg-3', '0/11')];
      expect(chooseFailoverTarget(facts(fenced, { syncReplicas: 2, syncSet: ['pg-1', 'pg-2'] }))).toMatchObject({ kind: 'promote', target: 'pg-3' });
    });

    test('a requested target outside the synchronous set is refused', () => {
      expect(chooseFailoverTarget(facts(pods, { syncReplicas: 1, syncSet: ['pg-1', 'pg-2'], requestedTarget: 'pg-3' }))).toEqual({
        kind: 'refuse', reason: 'FAILOVER_TARGET pg-3 may not be promoted (replica; eligible: pg-1 pg-2)',
      });
    });
  });

  describe('before a scale-down (SCALE_DOWN_TO)', () => {
    const pods = [down('pg-0'), r('pg-1', '0/9'), r('pg-2', '0/10')];

    test('the most advanced replica that stays, with a warning when one that goes has more WAL', () => {
      expect(chooseFailoverTarget(facts(pods, { scaleDownTo: 2 }))).toEqual({
        kind: 'promote', target: 'pg-1', reason: 'promoting pg-1 (WAL 0/9) of pg-1', warning: expect.stringContaining('pg-2 has more WAL than pg-1'),
      });
    });

    test('refuses when no eligible replica stays', () => {
      expect(chooseFailoverTarget(facts(pods, { scaleDownTo: 1 }))).toEqual({
        kind: 'refuse', reason: 'no replica that stays after scaling to 1 pods may be promoted (pg-0=down@0/0 pg-1=replica@0/9 pg-2=replica@0/10)',
      });
    });

    test('a requested target is not filtered by the scale-down here (plan_scale_down checked it first)', () => {
      expect(chooseFailoverTarget(facts(pods, { scaleDownTo: 1, requestedTarget: 'pg-2' }))).toMatchObject({ kind: 'promote', target: 'pg-2' });
    });

    test('pod 10 goes when scaling to 2: the ordinal is a number, not text', () => {
      expect(chooseFailoverTarget(facts([down('pg-0'), r('pg-10', '0/10'), r('pg-1', '0/9')], { scaleDownTo: 2 }))).toMatchObject({ target: 'pg-1' });
    });
  });
});

describe('chooseScaleDownTarget: where the primary goes before a scale-down', () => {
  const pods = [{ pod: 'pg-0', role: 'replica', lsn: '0/8' }, r('pg-1', '0/9'), { pod: 'pg-2', role: 'primary', lsn: '0/10' }] as Candidate[];

  test('a primary that stays stays', () => {
    expect(chooseScaleDownTarget(pods, 'pg-1', 2)).toEqual({ kind: 'stay', reason: 'the primary pg-1 stays when scaling to 2 pods' });
  });

  test('a primary that goes is switched over to the most advanced healthy replica that stays', () => {
    expect(chooseScaleDownTarget(pods, 'pg-2', 2)).toEqual({
      kind: 'promote', target: 'pg-1', reason: 'the primary pg-2 goes away when scaling to 2 pods: switching over to pg-1', warning: undefined,
    });
  });

  test('refuses when no healthy replica stays', () => {
    expect(chooseScaleDownTarget([{ ...pods[0], lsn: '?' }, pods[1], pods[2]], 'pg-2', 1)).toEqual({
      kind: 'refuse', reason: 'the primary pg-2 goes away when scaling to 1 pods, and no healthy replica stays to take over (pg-0=replica@? pg-1=replica@0/9 pg-2=primary@0/10)',
    });
  });
});

describe('historyFileName: a timeline\'s history file in pg_wal', () => {
  test.each([
    [2, '00000002.history'],
    [10, '0000000A.history'],
    [0x1F3, '000001F3.history'],
    [0xFFFFFFFF, 'FFFFFFFF.history'],
  ])('timeline %s: %s', (timeline, name) => {
    expect(historyFileName(timeline)).toBe(name);
  });
});

describe('switchpointOf and forkedBehind: whether a replica is ahead of where a newer timeline forked off its own', () => {
  // 00000003.history after two promotions: timeline 1 ended at 0/4024DD0, timeline 2 at 0/6000A8.
  const history = '1\t0/4024DD0\tno recovery target specified\n\n2\t0/6000A8\tno recovery target specified\n';

  test('reads the switchpoint of each ancestor; none for a timeline the file does not list, nor from a malformed line', () => {
    expect(switchpointOf(history, 1)).toBe('0/4024DD0');
    expect(switchpointOf(history, 2)).toBe('0/6000A8');
    expect(switchpointOf(history, 3)).toBeUndefined();
    expect(switchpointOf('', 1)).toBeUndefined();
    expect(switchpointOf('1\tsoon\tx\n', 1)).toBeUndefined();
    expect(switchpointOf('x1\t0/1\tx\n', 1)).toBeUndefined();
    expect(switchpointOf('  1 0/10 reason with spaces', 1)).toBe('0/10');
  });

  test('reads a line as PostgreSQL does: any run of whitespace between the fields, a parent timeline in plain decimal', () => {
    // readTimeLineHistory's sscanf("%u\t%X/%X") takes any whitespace for the tab.
    expect(switchpointOf('1 \t 0/10\treason', 1)).toBe('0/10');
    expect(switchpointOf('12\t0/12\treason', 12)).toBe('0/12');
    // Number() would read these as 1: they are not a timeline.
    expect(switchpointOf('0x1\t0/1\treason', 1)).toBeUndefined();
    expect(switchpointOf('1e0\t0/1\treason', 1)).toBeUndefined();
    expect(switchpointOf('1', 1)).toBeUndefined();
  });

  test.each<[string, number, string, boolean]>([
    ['WAL beyond the switchpoint on the old timeline: can never follow', 1, '0/4024E48', true],
    ['exactly at the switchpoint: follows', 1, '0/4024DD0', false],
    ['before it (catching up): follows', 1, '0/4000000', false],
    ['positions compare as numbers (1/0 after 0/4024DD0)', 1, '1/0', true],
    ['on the second timeline, beyond its switchpoint', 2, '0/6000B0', true],
    ['a timeline the history does not list: not known to be behind', 5, '9/0', false],
    ['a position that is not one: not known', 1, 'later', false],
  ])('%s', (_, timeline, position, expected) => {
    expect(forkedBehind(history, timeline, position)).toBe(expected);
  });
});

describe('timelineSwitchpoint: where the primary\'s timeline began, from its history file', () => {
  test.each([
    ['timeline 2: its one line', '1\t0/3000148\tno recovery target specified\n', '0/3000148'],
    ['timeline 4: the last of three lines, not the first', '1\t0/3000148\tno recovery target specified\n\n2\t0/5000A0\tno recovery target specified\n\n3\t1/2000028\tbefore 2026-12-06\n', '1/2000028'],
    ['a last line without a reason or a newline', '1\t0/3000148\tx\n2\t0/40000D8', '0/40000D8'],
    ['timeline 13: a parent timeline of two digits, a high word of two', '11\t1F/3000148\tx\n12\t2A/40000D8\tx\n', '2A/40000D8'],
    ['a line that is not one (a comment, lower-case hex) is passed over', '1\t0/3000148\tx\n# 2\t0/4000000\tx\n3\t0/5000abc\tx\n', '0/3000148'],
    ['an empty file: none', '', undefined],
    ['a file of something else: none', 'timeline 2 began at 0/3000148\n', undefined],
  ])('%s', (_name, history, switchpoint) => {
    expect(timelineSwitchpoint(history)).toBe(switchpoint);
  });
});
