#!/usr/bin/env bash
# Commands the failover job runs inside a postgres container through `kubectl exec`:
#   status   prints "<primary|replica|down> <wal-lsn>": the WAL position a replica has
#            received or replayed (whichever is further), or a primary's current one.
#   fence    makes this server a replica for good: standby.signal first, so that the
#            restarted container comes back in recovery, then a fast shutdown, which
#            sends every WAL record to the connected replicas before it exits.
#   promote  promotes this replica (SELECT pg_promote()) and waits until it accepts writes.
set -euo pipefail

: "${PGDATA:?PGDATA must name the data directory}"
: "${POD_NAME:=${HOSTNAME:-unknown}}"
export PGUSER=${POSTGRES_USER:-postgres} PGDATABASE=postgres PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-3}
: "${PROMOTE_TIMEOUT:=60}"

STATUS_SQL="SELECT CASE WHEN pg_is_in_recovery() THEN 'replica' ELSE 'primary' END,
  CASE WHEN pg_is_in_recovery() THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
       ELSE pg_current_wal_lsn() END"

log() { printf '%s %s pg-node: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$POD_NAME" "$*" >&2; }

status() {
  local out
  if out=$(psql -XAtq -F' ' -c "$STATUS_SQL" 2> /dev/null); then
    echo "$out"
  else
    echo "down 0/0"
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

case "${1:-}" in
  status) status ;;
  fence) fence ;;
  promote) promote ;;
  *) echo "usage: pg-node.sh status|fence|promote" >&2; exit 2 ;;
esac
