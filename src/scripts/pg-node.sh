#!/usr/bin/env bash
# Commands the failover job runs inside a postgres container through `kubectl exec`:
#   status   prints "<primary|replica|down> <wal-lsn> <receiver> <timeline>": for a replica, the
#            WAL it has written, flushed or replayed (whichever is furthest), the state of its
#            WAL receiver (streaming, or none) and the timeline it receives; for a primary, its
#            current WAL position and timeline.
#   fence    makes this server a replica for good: standby.signal first, so that the
#            restarted container comes back in recovery, then a fast shutdown, which
#            sends every WAL record to the connected replicas before it exits.
#   promote  promotes this replica (SELECT pg_promote()) and waits until it accepts writes.
#   reconnect  stops this replica's WAL receiver, which PostgreSQL restarts at once: its connect
#            loop has no timeout, and one that hangs (a dead primary's address) would wait forever.
#   restart  a fast shutdown: the container restarts, and the entrypoint rewinds a replica that
#            cannot follow the primary's timeline.
set -euo pipefail

: "${PGDATA:?PGDATA must name the data directory}"
: "${POD_NAME:=${HOSTNAME:-unknown}}"
export PGUSER=${POSTGRES_USER:-postgres} PGDATABASE=postgres PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-3}
: "${PROMOTE_TIMEOUT:=60}"

STATUS_SQL="SELECT 'replica', greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), r.written_lsn),
    coalesce(r.status, 'none'), coalesce(r.received_tli, 0)
  FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS r ON true WHERE pg_is_in_recovery()
  UNION ALL
  SELECT 'primary', pg_current_wal_lsn(), 'none', ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
  WHERE NOT pg_is_in_recovery()"

log() { printf '%s %s pg-node: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$POD_NAME" "$*" >&2; }

status() {
  local out
  if out=$(psql -XAtq -F' ' -c "$STATUS_SQL" 2> /dev/null); then
    echo "$out"
  else
    echo "down 0/0 none 0"
  fi
}

fence() {
  touch "$PGDATA/standby.signal"
  log "fenced: standby.signal written; stopping PostgreSQL (fast) so that it restarts as a replica"
  pg_ctl stop --pgdata="$PGDATA" --mode=fast --wait --timeout=60 > /dev/null
}

promote() {
  local promoted
  log "promoting this replica"
  promoted=$(psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT pg_promote(true, $PROMOTE_TIMEOUT)")
  if [ "$promoted" != t ]; then
    log "pg_promote did not finish within ${PROMOTE_TIMEOUT}s"
    exit 1
  fi
  status
}

reconnect() {
  local pid
  pid=$(psql -XAtq -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walreceiver'")
  if [ -n "$pid" ]; then
    log "stopping WAL receiver $pid so that it connects again"
    kill -TERM "$pid"
  fi
}

restart() {
  log "restarting PostgreSQL (fast shutdown)"
  pg_ctl stop --pgdata="$PGDATA" --mode=fast --wait --timeout=60 > /dev/null
}

case "${1:-}" in
  status) status ;;
  fence) fence ;;
  promote) promote ;;
  reconnect) reconnect ;;
  restart) restart ;;
  *) echo "usage: pg-node.sh status|fence|promote|reconnect|restart" >&2; exit 2 ;;
esac
