// Continuous archiving, watched by the primary's agent: PostgreSQL keeps every WAL segment that archive_command has not
// archived, so an archive that fails (wrong credentials, a full or unreachable repository) fills pg_wal until the
// primary stops. Its log says why, once per try; the agent says it where people look: a Warning Event on the primary's
// pod when archiving starts failing (again every ARCHIVE_REWARN_SECONDS while it goes on), a Normal one when it works
// again. Decided on pg_stat_archiver's segment names, never on its times (a clock that may step). Pure.

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
  /** The last segment (or history file) archived, if any. */
  readonly lastArchivedWal: string | undefined;
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
 * Archiving fails while the segment of the last failed try has not been archived since: the archiver archives in order,
 * and one that fails blocks those after it. WAL file names order by timeline and position (a history file before the
 * segments of its timeline, a `.partial` after its segment).
 */
export function archiveFails(look: ArchiverLook): boolean {
  return look.lastFailedWal !== undefined && (look.lastArchivedWal === undefined || look.lastFailedWal > look.lastArchivedWal);
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * One look: a Warning when archiving fails (archiveFails) and did not at the last look, or the agent has just started;
 * again every ARCHIVE_REWARN_SECONDS while it fails; a Normal Event when it works again. The counters say how many tries
 * failed and how many segments were archived since the last look (since the statistics began, at the first look or
 * after they were reset).
 */
export function decideArchive(watch: ArchiveWatch, look: ArchiverLook, now: number, pod: string): { watch: ArchiveWatch; event?: ArchiveEvent } {
  const last = watch.last !== undefined && look.archived >= watch.last.archived && look.failed >= watch.last.failed ? watch.last : undefined;
  const since = last === undefined ? 'since the statistics began' : 'since the last look';
  const failures = look.failed - (last?.failed ?? 0);
  const archived = look.archived - (last?.archived ?? 0);
  if (!archiveFails(look)) {
    if (watch.failing === undefined) return { watch: { last: look, failing: undefined } };
    return {
      watch: { last: look, failing: undefined },
      event: {
        type: 'Normal',
        reason: 'ArchiveRecovered',
        message: `archiving WAL works again after ${Math.round(now - watch.failing.since)}s: ${plural(archived, 'segment', 'segments')} `
          + `archived ${since}, ${look.waiting} waiting`,
      },
    };
  }
  if (watch.failing !== undefined && now - watch.failing.warnedAt < ARCHIVE_REWARN_SECONDS) return { watch: { last: look, failing: watch.failing } };
  const began = watch.failing?.since ?? now;
  return {
    watch: { last: look, failing: { since: began, warnedAt: now } },
    event: {
      type: 'Warning',
      reason: 'ArchiveFailing',
      message: `archiving WAL fails${watch.failing === undefined ? '' : ` for ${Math.round(now - began)}s`}: ${look.lastFailedWal} is not archived `
        + `(${plural(failures, 'failed try', 'failed tries')} and ${plural(archived, 'segment', 'segments')} archived ${since}). `
        + `${plural(look.waiting, 'segment waits', 'segments wait')} in pg_wal, which keeps them until they are archived and fills meanwhile. `
        + `The archive command's error: kubectl logs ${pod} -c postgres`,
    },
  };
}
