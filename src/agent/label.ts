// The pod's role label, which the write and read Services select on: when the sidecar sets it, sets it again, or waits.
// Someone may change it by hand (the reference design's manual failover moves it): a replica's is set back at once; a
// primary's only once no other pod carries `primary`, so that the write Service never reaches two pods. Pure: the
// sidecar lists the pods and labels its own.

/** How long a primary whose label someone changed waits, listing the pods again, before it sets the label back. */
export const LABEL_RESTORE_SECONDS = 0.9;

export interface LabelFacts {
  /** The role label's key, for the reasons. */
  readonly labelKey: string;
  /** The label the round's plan wants: `primary`, `replica`, or '' for none. */
  readonly wanted: string;
  /** The label this sidecar set last: undefined before the first, '' for none. */
  readonly applied: string | undefined;
  /** This pod's label as the API listed it since (someone else may have changed it), undefined when not listed since. */
  readonly seen: string | undefined;
  /** The other pods labelled primary, as listed last. */
  readonly othersPrimary: readonly string[];
  /** Monotonic seconds: now, and when this sidecar set the label last. */
  readonly now: number;
  readonly appliedAt: number;
  /** When this primary's label was first seen changed by someone else; undefined when it is not. */
  readonly changedSeenAt: number | undefined;
  /** How often a label is set again although it looks unchanged (REASSERT_SECONDS). */
  readonly reassertSeconds: number;
  /** What the last round waited for ('' for nothing), so that a wait is logged once. */
  readonly waiting: string;
}

export type LabelPlan =
  /**
   * Leave the label this round: `waiting` says for what ('' for a wait not worth a line), logged when `say`; the
   * moment the label was first seen changed is kept as `changedSeenAt`.
   */
  | { readonly do: 'wait'; readonly waiting: string; readonly say: boolean; readonly changedSeenAt: number | undefined }
  /** Set at the last REASSERT_SECONDS and unchanged since: nothing to do. */
  | { readonly do: 'keep' }
  /** Set the label (again); `restore`: someone else changed it. */
  | { readonly do: 'set'; readonly restore: boolean };

/** What the sidecar does about its pod's role label this round. */
export function decideLabel(facts: LabelFacts): LabelPlan {
  const changed = facts.wanted === facts.applied && facts.seen !== undefined && facts.seen !== facts.wanted;
  if (changed && facts.wanted === 'primary') {
    if (facts.othersPrimary.length > 0) {
      // Moved by hand to another pod, whose sidecar removes it (and fences that pod if it was promoted).
      const waiting = `the ${facts.labelKey} label was moved by hand to ${facts.othersPrimary.join(', ')}: waiting until its sidecar removes it`;
      return { do: 'wait', waiting, say: waiting !== facts.waiting, changedSeenAt: facts.changedSeenAt };
    }
    // A person moving the label relabels this pod, then another: the primary's label comes back only once a second
    // listing, LABEL_RESTORE_SECONDS or more later, still shows no other pod labelled primary.
    const since = facts.changedSeenAt ?? facts.now;
    if (facts.now - since < LABEL_RESTORE_SECONDS) return { do: 'wait', waiting: '', say: false, changedSeenAt: since };
  }
  if (!changed && facts.wanted === facts.applied && facts.now - facts.appliedAt < facts.reassertSeconds) return { do: 'keep' };
  return { do: 'set', restore: changed };
}
