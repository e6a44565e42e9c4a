// The primary's watch over continuous archiving: which look posts which Event, from pg_stat_archiver.
import { ARCHIVE_REWARN_SECONDS, archiveFails, ArchiverLook, ArchiveWatch, decideArchive, NO_ARCHIVE_WATCH } from '../../src/agent/archive-watch';

const C = '00000002000000000000000C';
const D = '00000002000000000000000D';
const look = (archived: number, failed: number, lastArchivedWal?: string, lastFailedWal?: string, waiting = 0): ArchiverLook =>
  ({ archived, failed, lastArchivedWal, lastFailedWal, waiting });
const seen = (last: ArchiverLook, failing?: { since: number; warnedAt: number }): ArchiveWatch => ({ last, failing });
const tail = 'in pg_wal, which keeps them until they are archived and fills meanwhile. The archive command\'s error: kubectl logs pg-0 -c postgres';

describe('archiveFails: the segment of the last failed try has not been archived since', () => {
  test.each<[string, ArchiverLook, boolean]>([
    ['nothing ever failed', look(5, 0, C), false],
    ['nothing archived and nothing failed yet (a new cluster)', look(0, 0), false],
    ['nothing archived yet, a try failed', look(0, 1, undefined, C), true],
    ['the failed segment is after the last archived one', look(5, 1, '00000002000000000000000B', C), true],
    ['the failed segment was archived since', look(6, 1, C, C), false],
    ['later segments were archived since', look(7, 1, D, C), false],
    ['a history file failed, before its timeline\'s segments', look(7, 1, '00000001000000000000000C', '00000002.history'), true],
    ['a history file failed, a segment of its timeline archived since', look(7, 1, D, '00000002.history'), false],
    ['a .partial segment failed, the same segment archived before', look(7, 1, C, `${C}.partial`), true],
  ])('%s: %s', (_name, archiver, fails) => {
    expect(archiveFails(archiver)).toBe(fails);
  });
});

describe('decideArchive: what the primary says of continuous archiving at each look', () => {
  test.each<[string, ArchiveWatch, ArchiverLook, ReturnType<typeof decideArchive>]>([
    ['the first look, archiving works: kept, nothing said',
      NO_ARCHIVE_WATCH, look(5, 3, D, C), { watch: seen(look(5, 3, D, C)) }],
    ['the first look, archiving fails (the agent started meanwhile): a Warning, counted since the statistics began',
      NO_ARCHIVE_WATCH, look(5, 3, '00000002000000000000000B', C, 2), {
        watch: seen(look(5, 3, '00000002000000000000000B', C, 2), { since: 100, warnedAt: 100 }),
        event: {
          type: 'Warning',
          reason: 'ArchiveFailing',
          message: `archiving WAL fails: ${C} is not archived (3 failed tries and 5 segments archived since the statistics began). 2 segments wait ${tail}`,
        },
      }],
    ['segments archived, none failed: nothing to say',
      seen(look(5, 0, C)), look(9, 0, D), { watch: seen(look(9, 0, D)) }],
    ['a try failed, then it was archived, before this look (a bad try among good ones): nothing to say',
      seen(look(5, 0, '00000002000000000000000B')), look(6, 1, C, C), { watch: seen(look(6, 1, C, C)) }],
    ['a segment archived, then the next failed, both since the last look: a Warning (the counters alone would miss it)',
      seen(look(5, 0, '00000002000000000000000B')), look(6, 3, C, D, 1), {
        watch: seen(look(6, 3, C, D, 1), { since: 100, warnedAt: 100 }),
        event: {
          type: 'Warning',
          reason: 'ArchiveFailing',
          message: `archiving WAL fails: ${D} is not archived (3 failed tries and 1 segment archived since the last look). 1 segment waits ${tail}`,
        },
      }],
    ['still failing, warned less than ARCHIVE_REWARN_SECONDS ago: nothing new said',
      seen(look(5, 3, C, D), { since: 40, warnedAt: 100 - ARCHIVE_REWARN_SECONDS + 1 }), look(5, 6, C, D, 5),
      { watch: seen(look(5, 6, C, D, 5), { since: 40, warnedAt: 100 - ARCHIVE_REWARN_SECONDS + 1 }) }],
    ['still failing, warned ARCHIVE_REWARN_SECONDS ago: warned again, with how long it has failed',
      seen(look(5, 3, C, D), { since: 40, warnedAt: 100 - ARCHIVE_REWARN_SECONDS }), look(5, 4, C, D, 5), {
        watch: seen(look(5, 4, C, D, 5), { since: 40, warnedAt: 100 }),
        event: {
          type: 'Warning',
          reason: 'ArchiveFailing',
          message: `archiving WAL fails for 60s: ${D} is not archived (1 failed try and 0 segments archived since the last look). 5 segments wait ${tail}`,
        },
      }],
    ['failing, then the segment archived: a Normal Event, how long it failed, what still waits',
      seen(look(5, 3, C, D), { since: 40, warnedAt: 40 }), look(8, 3, '00000002000000000000000F', D, 2), {
        watch: seen(look(8, 3, '00000002000000000000000F', D, 2)),
        event: { type: 'Normal', reason: 'ArchiveRecovered', message: 'archiving WAL works again after 60s: 3 segments archived since the last look, 2 waiting' },
      }],
    ['failing, then only the failed segment archived: the singular',
      seen(look(5, 3, C, D), { since: 40, warnedAt: 40 }), look(6, 3, D, D, 0), {
        watch: seen(look(6, 3, D, D, 0)),
        event: { type: 'Normal', reason: 'ArchiveRecovered', message: 'archiving WAL works again after 60s: 1 segment archived since the last look, 0 waiting' },
      }],
    ['the counters went down (statistics reset) while failing: counted since the statistics began',
      seen(look(50, 30, C, D), { since: 40, warnedAt: 100 - ARCHIVE_REWARN_SECONDS }), look(0, 2, undefined, D, 1), {
        watch: seen(look(0, 2, undefined, D, 1), { since: 40, warnedAt: 100 }),
        event: {
          type: 'Warning',
          reason: 'ArchiveFailing',
          message: `archiving WAL fails for 60s: ${D} is not archived (2 failed tries and 0 segments archived since the statistics began). 1 segment waits ${tail}`,
        },
      }],
    ['the failed counter alone went down (statistics reset), archiving works: nothing to say',
      seen(look(50, 30, D, C)), look(50, 2, D, C), { watch: seen(look(50, 2, D, C)) }],
    ['the archived counter alone went down (statistics reset) while tries failed on: counted since the statistics began',
      seen(look(50, 2, C, D)), look(3, 5, C, D, 1), {
        watch: seen(look(3, 5, C, D, 1), { since: 100, warnedAt: 100 }),
        event: {
          type: 'Warning',
          reason: 'ArchiveFailing',
          message: `archiving WAL fails: ${D} is not archived (5 failed tries and 3 segments archived since the statistics began). 1 segment waits ${tail}`,
        },
      }],
    ['the failed counter alone went down (statistics reset) and archiving works again: counted since the statistics began',
      seen(look(5, 30, C, D), { since: 40, warnedAt: 40 }), look(7, 2, '00000002000000000000000F', D, 0), {
        watch: seen(look(7, 2, '00000002000000000000000F', D, 0)),
        event: { type: 'Normal', reason: 'ArchiveRecovered', message: 'archiving WAL works again after 60s: 7 segments archived since the statistics began, 0 waiting' },
      }],
  ])('%s', (_name, watch, now, decided) => {
    expect(decideArchive(watch, now, 100, 'pg-0')).toEqual(decided);
  });

  test('looks in a row: one Warning when it starts failing, one Normal when it works again', () => {
    let watch = NO_ARCHIVE_WATCH;
    const events: string[] = [];
    const at = (now: number, archiverLook: ArchiverLook) => {
      const decided = decideArchive(watch, archiverLook, now, 'pg-0');
      watch = decided.watch;
      if (decided.event) events.push(`${now} ${decided.event.reason}`);
    };
    at(0, look(1, 0, '00000002000000000000000A'));
    at(10, look(2, 0, '00000002000000000000000B'));
    at(20, look(2, 3, '00000002000000000000000B', C, 1));
    at(30, look(2, 3, '00000002000000000000000B', C, 1));
    at(40, look(2, 6, '00000002000000000000000B', C, 2));
    at(50, look(4, 6, D, C, 0));
    at(60, look(5, 6, '00000002000000000000000E', C, 0));
    expect(events).toEqual(['20 ArchiveFailing', '50 ArchiveRecovered']);
  });
});
