// The line that the failover job reads from a pod (`kubectl exec <pod> -c role-labeler -- node agent.js status|fence`):
// "<role> <wal-lsn> <receiver> <timeline> <checkpoint-lsn>", as pg-node.sh's `status` prints it for the postgres
// container. Pure: the facts are gathered by the caller.

/** What the SQL of a server that answers says (pg-node.sh's STATUS_SQL). */
export interface ServerAnswer {
  readonly role: 'primary' | 'replica';
  /** A replica's furthest WAL (received, replayed or written); a primary's current WAL position. */
  readonly lsn: string;
  /** The WAL receiver's status, or `none`. */
  readonly receiver: string;
  /** The timeline it receives (0: none yet) or writes. */
  readonly timeline: number;
}

/** pg_control as the status line needs it. */
export interface StatusControl {
  /** DBState: 1 shut down, 2 shut down in recovery, 3 shutting down, 4 in crash recovery, 5 in archive recovery, 6 in production. */
  readonly state: number;
  /** "Latest checkpoint's TimeLineID". */
  readonly timeline: number;
  /** "Latest checkpoint location". */
  readonly checkpoint: string;
}

export interface NodeStatusFacts {
  /** The data directory has a PG_VERSION. */
  readonly initialized: boolean;
  /** The server's answer to the status query, undefined when it does not answer. */
  readonly answer: ServerAnswer | undefined;
  /** A live postmaster (pg_ctl status). */
  readonly running: boolean;
  /** pg_control, undefined when it cannot be read. */
  readonly control: StatusControl | undefined;
}

/**
 * The status line: `full` adds the checkpoint of a server that answers (otherwise "-"). Undefined when pg_control cannot
 * be read although the directory is initialized (pg-node.sh fails then too).
 */
export function statusLine(facts: NodeStatusFacts, full: boolean): string | undefined {
  if (!facts.initialized) return 'empty 0/0 none 0 0/0';
  const answered = (answer: ServerAnswer, checkpoint: string) => `${answer.role} ${answer.lsn} ${answer.receiver} ${answer.timeline} ${checkpoint}`;
  if (!full && facts.answer !== undefined) return answered(facts.answer, '-');
  const control = facts.control;
  if (control === undefined) return undefined;
  if (!facts.running) return `down 0/0 none ${control.timeline} ${control.checkpoint}`;
  if (facts.answer !== undefined) return answered(facts.answer, control.checkpoint);
  const role = control.state === 6 ? 'primary' : control.state === 5 ? 'replica' : 'starting';
  return `${role} ? none ${control.timeline} ${control.checkpoint}`;
}

/** pg-node.sh's STATUS_SQL: one row, for a replica or a primary. */
export const STATUS_SQL = `SELECT 'replica' AS role, greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), r.written_lsn)::text AS lsn,
    coalesce(r.status, 'none') AS receiver, coalesce(r.received_tli, 0) AS timeline
  FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS r ON true WHERE pg_is_in_recovery()
  UNION ALL
  SELECT 'primary', pg_current_wal_lsn()::text, 'none', ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
  WHERE NOT pg_is_in_recovery()`;
