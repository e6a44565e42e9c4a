// The primary's watch over continuous archiving: which look posts which Event, from pg_stat_archiver's counters.
import { ARCHIVE_REWARN_SECONDS, ArchiverLook, ArchiveWatch, decideArchive, NO_ARCHIVE_WATCH } from '../../src/agent/archive-watch';

const look = (archived: number, failed: number, waiting = 0, lastFailedWal: string | undefined = undefined): ArchiverLook =>
  ({ archived, failed, waiting, lastFailedWal });
const seen = (last: ArchiverLook, failing?: { since: number; warnedAt: number }): ArchiveWatch => ({ last, failing });
const WAL = '000000010000000000000007';

describe('decideArchive: what the primary says of continuous archiving at each look', () => {
  test.each<[string, ArchiveWatch, ArchiverLook, ReturnType<typeof decideArchive>]>([
    ['the first look: kept, nothing said (whatever the counters)',
      NO_ARCHIVE_WATCH, look(5, 3, 2, WAL), { watch: seen(look(5, 3, 2, WAL)) }],
    ['segments archived, none failed: nothing to say',
      seen(look(5, 0)), look(9, 0), { watch: seen(look(9, 0)) }],
    ['no try since the last look: as before',
      seen(look(5, 0)), look(5, 0, 1), { watch: seen(look(5, 0, 1)) }],
    ['tries failed and none archived: a Warning naming the segment, the failures and what waits',
      seen(look(5, 0)), look(5, 3, 4, WAL), {
        watch: seen(look(5, 3, 4, WAL), { since: 100, warnedAt: 100 }),
        event: {
          type: 'Warning',
          reason: 'ArchiveFailing',
          message: `archiving WAL fails: 3 failed tries since the last look, none archived; the last for ${WAL}. 4 segments wait in pg_wal, `
            + 'which keeps them until they are archived and fills meanwhile. The archive command\'s error: kubectl logs pg-0 -c postgres',
        },
      }],
    ['one failed try, one segment waiting: the singular',
      seen(look(5, 0)), look(5, 1, 1, WAL), {
        watch: seen(look(5, 1, 1, WAL), { since: 100, warnedAt: 100 }),
        event: {
          type: 'Warning',
          reason: 'ArchiveFailing',
          message: `archiving WAL fails: 1 failed try since the last look, none archived; the last for ${WAL}. 1 segment waits in pg_wal, `
            + 'which keeps them until they are archived and fills meanwhile. The archive command\'s error: kubectl logs pg-0 -c postgres',
        },
      }],
    ['tries failed but a segment was archived too (one bad try among good ones): nothing to say',
      seen(look(5, 0)), look(6, 1, 0, WAL), { watch: seen(look(6, 1, 0, WAL)) }],
    ['still failing, warned less than ARCHIVE_REWARN_SECONDS ago: nothing new said',
      seen(look(5, 3), { since: 40, warnedAt: 100 - ARCHIVE_REWARN_SECONDS + 1 }), look(5, 6, 5, WAL),
      { watch: seen(look(5, 6, 5, WAL), { since: 40, warnedAt: 100 - ARCHIVE_REWARN_SECONDS + 1 }) }],
    ['still failing, warned ARCHIVE_REWARN_SECONDS ago: warned again, with how long it has failed',
      seen(look(5, 3), { since: 40, warnedAt: 100 - ARCHIVE_REWARN_SECONDS }), look(5, 6, 5, WAL), {
        watch: seen(look(5, 6, 5, WAL), { since: 40, warnedAt: 100 }),
        event: {
          type: 'Warning',
          reason: 'ArchiveFailing',
          message: `archiving WAL fails for 60s: 3 failed tries since the last look, none archived; the last for ${WAL}. 5 segments wait in `
            + 'pg_wal, which keeps them until they are archived and fills meanwhile. The archive command\'s error: kubectl logs pg-0 -c postgres',
        },
      }],
    ['failing, then no try since (the archiver waits a minute between rounds): still failing, nothing said',
      seen(look(5, 3), { since: 40, warnedAt: 40 }), look(5, 3, 5), { watch: seen(look(5, 3, 5), { since: 40, warnedAt: 40 }) }],
    ['failing, then segments archived: a Normal Event, how long it failed, what still waits',
      seen(look(5, 3), { since: 40, warnedAt: 40 }), look(8, 3, 2), {
        watch: seen(look(8, 3, 2)),
        event: { type: 'Normal', reason: 'ArchiveRecovered', message: 'archiving WAL works again after 60s: 3 segments archived since the last look, 2 waiting' },
      }],
    ['failing, then one segment archived: the singular',
      seen(look(5, 3), { since: 40, warnedAt: 40 }), look(6, 3, 0), {
        watch: seen(look(6, 3, 0)),
        event: { type: 'Normal', reason: 'ArchiveRecovered', message: 'archiving WAL works again after 60s: 1 segment archived since the last look, 0 waiting' },
      }],
    ['the archived counter went down (statistics reset): a new start, failing state kept',
      seen(look(50, 3), { since: 40, warnedAt: 40 }), look(0, 9), { watch: seen(look(0, 9), { since: 40, warnedAt: 40 }) }],
    ['the failed counter went down (statistics reset): a new start',
      seen(look(50, 30)), look(50, 2), { watch: seen(look(50, 2)) }],
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
    at(0, look(1, 0));
    at(10, look(2, 0));
    at(20, look(2, 2, 1, WAL));
    at(30, look(2, 4, 2, WAL));
    at(40, look(2, 4, 2, WAL));
    at(50, look(5, 4, 0));
    at(60, look(6, 4, 0));
    expect(events).toEqual(['20 ArchiveFailing', '50 ArchiveRecovered']);
  });
});
