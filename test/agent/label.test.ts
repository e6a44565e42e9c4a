// The pod's role label: when the sidecar sets it, sets it again, or waits (someone may have changed it by hand).
import { decideLabel, LABEL_RESTORE_SECONDS, LabelFacts, LabelPlan } from '../../src/agent/label';

// GIVEN what the sidecar last set and what the API lists now (at 100 s; set last at 95 s, re-asserted every 10 s);
// WHEN it labels its pod; THEN what it does.
const facts = (overrides: Partial<LabelFacts>): LabelFacts => ({
  labelKey: 'role',
  wanted: 'primary',
  applied: 'primary',
  seen: undefined,
  othersPrimary: [],
  now: 100,
  appliedAt: 95,
  changedSeenAt: undefined,
  reassertSeconds: 10,
  waiting: '',
  ...overrides,
});
const moved = 'the role label was moved by hand to pg-2: waiting until its sidecar removes it';

describe('decideLabel: what the sidecar does about its pod\'s role label', () => {
  test.each<[string, Partial<LabelFacts>, LabelPlan]>([
    ['the first label', { applied: undefined }, { do: 'set', restore: false }],
    ['the first label, none wanted', { applied: undefined, wanted: '' }, { do: 'set', restore: false }],
    ['another role wanted', { wanted: 'replica' }, { do: 'set', restore: false }],
    ['the label removed (none wanted)', { wanted: '' }, { do: 'set', restore: false }],
    ['set lately, unchanged', {}, { do: 'keep' }],
    ['set lately, listed as set', { seen: 'primary' }, { do: 'keep' }],
    ['set lately, not listed but another pod labelled primary (its sidecar removes it)', { othersPrimary: ['pg-2'] }, { do: 'keep' }],
    ['set just under REASSERT_SECONDS ago', { appliedAt: 90.01 }, { do: 'keep' }],
    ['set REASSERT_SECONDS ago: set again', { appliedAt: 90 }, { do: 'set', restore: false }],
    ['a replica\'s label changed by someone else: set back at once', { wanted: 'replica', applied: 'replica', seen: 'primary' }, { do: 'set', restore: true }],
    ['a replica\'s label removed by someone else: set back at once', { wanted: 'replica', applied: 'replica', seen: '' }, { do: 'set', restore: true }],
    ['a label someone set on a pod that should have none: removed at once', { wanted: '', applied: '', seen: 'primary' }, { do: 'set', restore: true }],
    ['a primary\'s label removed, first seen now: waits', { seen: '' }, { do: 'wait', waiting: '', say: false, changedSeenAt: 100 }],
    ['a primary\'s label removed, first seen just under LABEL_RESTORE_SECONDS ago: waits on', { seen: '', changedSeenAt: 100 - LABEL_RESTORE_SECONDS + 0.01 },
      { do: 'wait', waiting: '', say: false, changedSeenAt: 100 - LABEL_RESTORE_SECONDS + 0.01 }],
    ['a primary\'s label removed LABEL_RESTORE_SECONDS ago, no other pod labelled primary: set back', { seen: '', changedSeenAt: 100 - LABEL_RESTORE_SECONDS },
      { do: 'set', restore: true }],
    ['a primary\'s label removed exactly LABEL_RESTORE_SECONDS ago: set back', { seen: '', now: LABEL_RESTORE_SECONDS, changedSeenAt: 0 },
      { do: 'set', restore: true }],
    ['a primary\'s label changed to replica long ago: set back', { seen: 'replica', changedSeenAt: 50 }, { do: 'set', restore: true }],
    ['a primary\'s label moved by hand to another pod: waits until that pod\'s sidecar removes it, and says so', { seen: '', othersPrimary: ['pg-2'] },
      { do: 'wait', waiting: moved, say: true, changedSeenAt: undefined }],
    ['the same wait again: said once', { seen: '', othersPrimary: ['pg-2'], waiting: moved, changedSeenAt: 99 },
      { do: 'wait', waiting: moved, say: false, changedSeenAt: 99 }],
    ['moved to two pods', { seen: '', othersPrimary: ['pg-0', 'pg-2'], waiting: moved },
      { do: 'wait', waiting: 'the role label was moved by hand to pg-0, pg-2: waiting until its sidecar removes it', say: true, changedSeenAt: undefined }],
    ['moved by hand, but a new role is wanted: set', { wanted: 'replica', seen: '', othersPrimary: ['pg-2'] }, { do: 'set', restore: false }],
  ])('%s', (_name, overrides, plan) => {
    expect(decideLabel(facts(overrides))).toEqual(plan);
  });
});
