// Continuous archiving, watched by the primary's agent: PostgreSQL keeps every WAL segment that archive_command has not
// archived, so an archive that fails (wrong credentials, a full or unreachable repository) fills pg_wal until the
// primary stops. Its log says why, once per try; the agent says it where people look: a Warning Event on the primary's
// pod when archiving starts failing (again every ARCHIVE_REWARN_SECONDS while it goes on), a Normal one when it works
// again. Decided on pg_stat_archiver's counters between two looks, never on its times (another clock's). Pure.

/** How often the primary's agent looks at pg_stat_archiver. */
export const ARCHIVE_LOOK_SECONDS = 10;
/** While archiving keeps failing, the Warning Event again this often, with the counts of then. */
export const ARCHIVE_REWARN_SECONDS = 600;

/** What pg_stat_archiver and pg_wal/archive_status say at one look. */
export interface ArchiverLook {
  /** Segments archived since the statistics began. */
  readonly archived: number;
  /** Failed tries since the statistics began. */
  readonly failed: number;
  /** The segment of the last failed try, if any. */
  readonly lastFailedWal: string | undefined;
  /** Segments waiting to be archived (`.ready` files). */
  readonly waiting: number;
}

/** What the next look compares with. */
export interface ArchiveWatch {
  readonly last: ArchiverLook | undefined;
  /** Failing since then (monotonic seconds), and when the last Warning was posted. */
  readonly failing: { readonly since: number; readonly warnedAt: number } | undefined;
}

export interface ArchiveEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: 'ArchiveFailing' | 'ArchiveRecovered';
  readonly message: string;
}

export const NO_ARCHIVE_WATCH: ArchiveWatch = { last: undefined, failing: undefined };

/**
 * One look. Failing: tries failed since the last look and no segment was archived. Working: a segment was archived
 * since. Neither (no try since): as before. Counters that went down (the statistics were reset) start over.
 */
export function decideArchive(watch: ArchiveWatch, look: ArchiverLook, now: number, pod: string): { watch: ArchiveWatch; event?: ArchiveEvent } {
  const last = watch.last;
  if (last === undefined || look.archived < last.archived || look.failed < last.failed) return { watch: { last: look, failing: watch.failing } };
  const failures = look.failed - last.failed;
  const archived = look.archived - last.archived;
  if (archived > 0) {
    if (watch.failing === undefined) return { watch: { last: look, failing: undefined } };
    return {
      watch: { last: look, failing: undefined },
      event: {
        type: 'Normal',
        reason: 'ArchiveRecovered',
        message: `archiving WAL works again after ${Math.round(now - watch.failing.since)}s: ${archived} segment${archived === 1 ? '' : 's'} `
          + `archived since the last look, ${look.waiting} waiting`,
      },
    };
  }
  if (failures === 0) return { watch: { last: look, failing: watch.failing } };
  const since = watch.failing?.since ?? now;
  if (watch.failing !== undefined && now - watch.failing.warnedAt < ARCHIVE_REWARN_SECONDS) return { watch: { last: look, failing: watch.failing } };
  return {
    watch: { last: look, failing: { since, warnedAt: now } },
    event: {
      type: 'Warning',
      reason: 'ArchiveFailing',
      message: `archiving WAL fails${watch.failing === undefined ? '' : ` for ${Math.round(now - since)}s`}: ${failures} failed `
        + `tr${failures === 1 ? 'y' : 'ies'} since the last look, none archived; the last for ${look.lastFailedWal ?? '?'}. ${look.waiting} `
        + `segment${look.waiting === 1 ? ' waits' : 's wait'} in pg_wal, which keeps them until they are archived and fills meanwhile. `
        + `The archive command's error: kubectl logs ${pod} -c postgres`,
    },
  };
}
