#!/usr/bin/env bash
# Commands run inside a postgres container: by the failover job through `kubectl exec`, and by the
# kubelet (readiness).
#   status [full]  prints "<role> <wal-lsn> <receiver> <timeline> <checkpoint-lsn>":
#            role: primary | replica (from pg_control, whether or not the server answers queries),
#            starting (a postmaster runs but is in crash recovery or shutting down), down (no
#            postmaster), empty (no data directory);
#            wal-lsn: for a replica the WAL it has written, flushed or replayed (whichever is furthest),
#            for a primary its current WAL position, "?" when the server does not answer queries (too
#            many clients, say), 0/0 when it is not running;
#            receiver: the replica's WAL receiver state (streaming, or none); timeline: the timeline it
#            receives or writes; checkpoint-lsn: the latest checkpoint in pg_control (after a clean
#            shutdown, the shutdown checkpoint: what a switchover target must have received; "-" for a
#            server that answers, unless "full" is asked for).
#   fence    makes this server a replica for good: standby.signal first, so that the restarted
#            container comes back in recovery, then a fast shutdown, which sends every WAL record to
#            the connected replicas before it exits; then prints the status (run from the sidecar, which
#            shares the pod's processes and data, it reports the shutdown checkpoint).
#   promote [pod...]  promotes this replica (pg_promote()), waits until it accepts writes and creates the
#            replication slots of the given pods, so that they can stream at once (run by the sidecar of the
#            pod that the leader record names).
#   reconnect  stops this replica's WAL receiver, which PostgreSQL restarts at once: its connect loop
#            has no timeout, and one that hangs (a dead primary's address) would wait forever.
#   restart  a fast shutdown: the container restarts, and the entrypoint decides again from the record.
#   ready    the readiness probe: the server accepts connections and, if it is a replica, streams.
set -euo pipefail

: "${PGDATA:?PGDATA must name the data directory}"
: "${POD_NAME:=${HOSTNAME:-unknown}}"
export PGUSER=${POSTGRES_USER:-postgres} PGDATABASE=postgres PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-3}
: "${PROMOTE_TIMEOUT:=60}"
: "${PGPORT:=5432}"

STATUS_SQL="SELECT 'replica', greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), r.written_lsn),
    coalesce(r.status, 'none'), coalesce(r.received_tli, 0)
  FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS r ON true WHERE pg_is_in_recovery()
  UNION ALL
  SELECT 'primary', pg_current_wal_lsn(), 'none', ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
  WHERE NOT pg_is_in_recovery()"

LOG_NAME="$POD_NAME pg-node"
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

status() {
  local control state timeline checkpoint out role
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "empty 0/0 none 0 0/0"
    return
  fi
  # A server that answers needs one query; its checkpoint only when asked for ("status full").
  if [ "${1:-}" != full ] && out=$(psql -XAtq -F' ' -c "$STATUS_SQL" 2> /dev/null) && [ -n "$out" ]; then
    echo "$out -"
    return
  fi
  control=$(LC_ALL=C pg_controldata "$PGDATA")
  state=$(sed -n 's/^Database cluster state: *//p' <<< "$control")
  timeline=$(sed -n "s/^Latest checkpoint's TimeLineID: *//p" <<< "$control")
  checkpoint=$(sed -n 's/^Latest checkpoint location: *//p' <<< "$control")
  if ! pg_ctl status --pgdata="$PGDATA" > /dev/null 2>&1; then
    echo "down 0/0 none $timeline $checkpoint"
    return
  fi
  if out=$(psql -XAtq -F' ' -c "$STATUS_SQL" 2> /dev/null) && [ -n "$out" ]; then
    echo "$out $checkpoint"
    return
  fi
  case "$state" in
    'in production') role=primary ;;
    'in archive recovery') role=replica ;;
    *) role=starting ;;
  esac
  echo "$role ? none $timeline $checkpoint"
}

fence() {
  touch "$PGDATA/standby.signal"
  log "fenced: standby.signal written; stopping PostgreSQL (fast) so that it restarts as a replica"
  stop_fast
  status full
}

# promote [pod...]: see above.
promote() {
  local slots="" pod errors error_text rc=0 out
  for pod in "$@"; do slots+="${slots:+,}'$(slot_of "$pod")'"; done
  log "promoting this replica"
  errors=$(mktemp)
  # One connection: pg_promote(false) and a tight poll (pg_promote(true) looks only every 100 ms), then the other
  # pods' slots, then the new status.
  out=$(psql -XAtq -F' ' -v ON_ERROR_STOP=1 -c "DO \$\$ BEGIN
      PERFORM pg_promote(false);
      FOR i IN 1..$((PROMOTE_TIMEOUT * 100)) LOOP
        EXIT WHEN NOT pg_is_in_recovery();
        PERFORM pg_sleep(0.01);
      END LOOP;
      IF pg_is_in_recovery() THEN RAISE EXCEPTION 'promotion did not finish within ${PROMOTE_TIMEOUT}s'; END IF;
    END \$\$" -c '\o /dev/null' \
    -c "SELECT pg_create_physical_replication_slot(name, true) FROM unnest(ARRAY[${slots:-NULL}]::text[]) AS name
      WHERE name IS NOT NULL AND name NOT IN (SELECT slot_name FROM pg_replication_slots)" \
    -c '\o' -c "$STATUS_SQL" 2> "$errors") || rc=$?
  error_text=$(< "$errors")
  rm -f "$errors"
  if (( rc != 0 )); then
    printf '%s\n' "$error_text" >&2
    exit 1
  fi
  printf '%s -\n' "$out"
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
  stop_fast
}

# One query in the common case: a primary, or a replica whose WAL receiver has streamed for a second (a
# receiver that fails at once, its WAL gone, streams for a moment). A server that accepts no query (too
# many clients) is ready if it is a primary that accepts connections.
ready() {
  local answer
  if answer=$(psql -XAtq -c "SELECT NOT pg_is_in_recovery() OR $STREAMED_A_SECOND_SQL" \
    2> /dev/null); then
    [ "$answer" = t ]
    return
  fi
  pg_isready --quiet --host=/var/run/postgresql --port="$PGPORT" || return 1
  [ "$(LC_ALL=C pg_controldata "$PGDATA" | sed -n 's/^Database cluster state: *//p')" = 'in production' ]
}

# live [started]: the liveness probe, which fails only when the container is wedged: never during a long crash
# recovery, catch-up or shutdown. Alive while the postmaster of $PGDATA answers on its socket, if only to say that it
# is starting up or shutting down (a stopped or hung one answers nothing within pg_isready's 3 s), or while this
# container's entrypoint (same mount namespace) still decides, waits for the record, clones or rewinds.
# "started", the startup probe: the postmaster answers, whatever the entrypoint does.
live() {
  local pid proc arg1 rc=0 entrypoint
  if read -r pid 2> /dev/null < "$PGDATA/postmaster.pid" && [[ $pid =~ ^[1-9][0-9]*$ ]] && [ -d "/proc/$pid" ]; then
    pg_isready --quiet --host=/var/run/postgresql --port="$PGPORT" || rc=$?
    (( rc > 1 )) || return 0
  fi
  [ "${1:-}" != started ] || return 1
  entrypoint=$(dirname "${BASH_SOURCE[0]}")/init-replica.sh
  for proc in /proc/[0-9]*; do
    if { read -r -d '' _ && read -r -d '' arg1; } 2> /dev/null < "$proc/cmdline" && [ "$arg1" = "$entrypoint" ] \
      && [ "$proc/ns/mnt" -ef /proc/self/ns/mnt ]; then
      return 0
    fi
  done
  return 1
}

command=${1:-}
shift || true
case "$command" in
  status) status "$@" ;;
  fence) fence ;;
  promote) promote "$@" ;;
  reconnect) reconnect ;;
  restart) restart ;;
  ready) ready || exit 1 ;;
  live) live "$@" || exit 1 ;;
  *) echo "usage: pg-node.sh status [full]|fence|promote [pod...]|reconnect|restart|ready" >&2; exit 2 ;;
esac
