#!/usr/bin/env bash
# Entrypoint of the postgres container. It decides the pod's role from its data
# directory and from its peers (never from its ordinal alone), prepares the data
# directory, then execs postgres:
#   - empty volume: clone from the live primary; pod 0 initializes a new cluster
#     only when no other pod of the StatefulSet exists.
#   - replica data (standby.signal): start as a replica of the write Service.
#   - primary data: stay primary unless another primary is live; then rewind
#     (or re-clone) and rejoin as its replica. Never a second primary.
set -euo pipefail

: "${POD_NAME:=${HOSTNAME:?POD_NAME or HOSTNAME must name this pod}}"
: "${PGDATA:?PGDATA must name the data directory}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=postgres}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must come from the Secret}"
: "${POSTGRES_REPLICATION_PASSWORD:?POSTGRES_REPLICATION_PASSWORD must come from the Secret}"
: "${REPLICATION_USER:=replicator}"
: "${PRIMARY_HOST:?PRIMARY_HOST must name the write Service}"
: "${PEER_DOMAIN:?PEER_DOMAIN must name the headless Service}"
: "${PGPORT:=5432}"
: "${POSTGRES_CONFIG_DIR:=/etc/postgresql}"
: "${INITDB_DIR:=/docker-entrypoint-initdb.d}"
: "${POSTGRES_INITDB_ARGS:=}"
# Consecutive missing ordinals that end the scan for peers.
: "${PEER_SCAN_GAP:=3}"
: "${CONNECT_TIMEOUT:=3}"
: "${RETRY_SECONDS:=2}"
: "${PGPASSFILE:=/tmp/pgpass}"
export PGPASSFILE PGPORT
export PGCONNECT_TIMEOUT=$CONNECT_TIMEOUT

STATEFULSET=${POD_NAME%-*}
ORDINAL=${POD_NAME##*-}
CONFIG_FILE=$POSTGRES_CONFIG_DIR/postgresql.conf
HBA_FILE=$POSTGRES_CONFIG_DIR/pg_hba.conf

# Reports "<role> <system-identifier> <timeline>" of a running server.
PEER_SQL="SELECT CASE WHEN pg_is_in_recovery() THEN 'replica' ELSE 'primary' END,
  (SELECT system_identifier FROM pg_control_system()),
  (SELECT coalesce(max(('x' || substr(f, 1, 8))::bit(32)::int), 1)
     FROM pg_ls_dir('pg_wal') AS f WHERE f ~ '^[0-9A-F]{8}[.]history$')"

log() { printf '%s %s init: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$POD_NAME" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

pgpass_escape() {
  local value=${1//\\/\\\\}
  printf '%s' "${value//:/\\:}"
}

# Passwords reach libpq through a passfile: never a prompt, never a command line.
write_passfile() {
  (
    umask 077
    printf '*:*:*:%s:%s\n' "$(pgpass_escape "$REPLICATION_USER")" "$(pgpass_escape "$POSTGRES_REPLICATION_PASSWORD")"
    printf '*:*:*:%s:%s\n' "$(pgpass_escape "$POSTGRES_USER")" "$(pgpass_escape "$POSTGRES_PASSWORD")"
  ) > "$PGPASSFILE"
  chmod 600 "$PGPASSFILE"
}

# A clone or initialization that was interrupted leaves a sibling directory; the data directory itself is only ever
# replaced by a finished one (rename), so it is never half-written.
remove_unfinished_work() {
  local dir
  for dir in "$PGDATA.init" "$PGDATA.clone"; do
    if [ -e "$dir" ]; then
      log "removing $dir, left by an interrupted start"
      rm -rf "$dir"
    fi
  done
}

peer_host() { printf '%s-%s.%s' "$STATEFULSET" "$1" "$PEER_DOMAIN"; }

# Prints one line per other pod that exists: "<host> <primary|replica|down> <system-id> <timeline>".
scan_peers() {
  local i=0 gap=0 host state
  while (( gap < PEER_SCAN_GAP )); do
    if (( i != ORDINAL )); then
      host=$(peer_host "$i")
      if getent hosts "$host" > /dev/null 2>&1; then
        gap=0
        state=$(psql "host=$host user=$POSTGRES_USER dbname=postgres" -XAtq -F' ' -c "$PEER_SQL" 2> /dev/null | tr '\n' ' ') \
          || state="down - 0"
        printf '%s %s\n' "$host" "${state% }"
      else
        gap=$((gap + 1))
      fi
    fi
    i=$((i + 1))
  done
}

# The primary among scanned peers: the one on the newest timeline if (wrongly) there are several.
pick_primary() {
  local count
  count=$(awk '$2 == "primary"' <<< "$1" | wc -l)
  if (( count > 1 )); then
    log "WARNING: $count peers claim to be primary: $(awk '$2 == "primary" { printf "%s(timeline %s) ", $1, $4 }' <<< "$1")"
  fi
  awk '$2 == "primary"' <<< "$1" | sort -k4,4n | tail -n 1
}

controldata() { LC_ALL=C pg_controldata "$PGDATA" | sed -n "s/^$1: *//p"; }

local_timeline() {
  local timeline history number
  timeline=$(controldata "Latest checkpoint's TimeLineID")
  for history in "$PGDATA"/pg_wal/*.history; do
    [ -e "$history" ] || continue
    number=$((16#$(basename "$history" .history)))
    if (( number > timeline )); then timeline=$number; fi
  done
  echo "$timeline"
}

clone_from() {
  local host=$1
  log "cloning the data directory from primary $host (pg_basebackup)"
  rm -rf "$PGDATA.clone"
  pg_basebackup --host="$host" --username="$REPLICATION_USER" --no-password \
    --pgdata="$PGDATA.clone" --wal-method=stream --write-recovery-conf --checkpoint=fast
  mv "$PGDATA.clone" "$PGDATA"
  rm -rf "$PGDATA.diverged"
  log "clone complete: starting as a replica"
}

run_init_scripts() {
  local file
  for file in "$INITDB_DIR"/*; do
    case "$file" in
      *.sql) log "running $file"; psql -v ON_ERROR_STOP=1 -X -f "$file" ;;
      *.sh) log "running $file"; bash "$file" ;;
      *) if [ -e "$file" ]; then log "ignoring $file (neither .sql nor .sh)"; fi ;;
    esac
  done
}

initialize_cluster() {
  local target=$PGDATA.init
  local -a initdb_args
  read -r -a initdb_args <<< "$POSTGRES_INITDB_ARGS"
  log "no other pod of $STATEFULSET exists: initializing a new cluster, with this pod as its primary"
  rm -rf "$target"
  initdb --pgdata="$target" --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 "${initdb_args[@]}"
  # Local socket only, and no synchronous standby to wait for, while the cluster is set up.
  pg_ctl --pgdata="$target" --wait --silent \
    -o "-c config_file=$CONFIG_FILE -c hba_file=$HBA_FILE -c listen_addresses='' -c synchronous_standby_names=''" start
  export PGUSER=$POSTGRES_USER PGDATABASE=postgres
  if [ "$POSTGRES_DB" != postgres ]; then
    log "creating database $POSTGRES_DB"
    psql -v ON_ERROR_STOP=1 -X -v db="$POSTGRES_DB" <<< 'CREATE DATABASE :"db";'
  fi
  run_init_scripts
  pg_ctl --pgdata="$target" --wait --silent --mode=fast stop
  unset PGUSER PGDATABASE
  mv "$target" "$PGDATA"
  log "initialization complete: starting as the primary"
}

bootstrap_empty_volume() {
  local peers primary
  while true; do
    peers=$(scan_peers)
    primary=$(pick_primary "$peers")
    if [ -n "$primary" ]; then
      clone_from "${primary%% *}"
      return
    fi
    if [ "$ORDINAL" = 0 ] && [ -z "$peers" ]; then
      initialize_cluster
      return
    fi
    log "empty data directory and no primary to clone from (peers: $(tr '\n' ';' <<< "${peers:-none}")); retrying in ${RETRY_SECONDS}s." \
      "If the primary is gone for good, start the failover job to promote a replica."
    sleep "$RETRY_SECONDS"
  done
}

# pg_rewind needs a cleanly shut down target. Its own crash recovery would run with the data directory's
# postgresql.conf and so record wal_log_hints=off; recover here with the cluster's configuration instead.
finish_crash_recovery() {
  case "$(controldata 'Database cluster state')" in
    'shut down' | 'shut down in recovery') return 0 ;;
  esac
  log "the data directory was not shut down cleanly: running crash recovery first (single-user mode)"
  postgres --single -D "$PGDATA" -c config_file="$CONFIG_FILE" -c hba_file="$HBA_FILE" template1 < /dev/null > /dev/null
}

rewind_from() {
  local host=$1
  log "rewinding this pod's data to the history of $host (pg_rewind)"
  # pg_rewind reads the source's timeline from its control file, which a just-promoted primary updates only
  # at its next checkpoint; without one, pg_rewind wrongly finds "no rewind required".
  psql "host=$host user=$POSTGRES_USER dbname=postgres" -XAtq -c CHECKPOINT || return 1
  finish_crash_recovery || return 1
  if pg_rewind --target-pgdata="$PGDATA" --source-server="host=$host user=$POSTGRES_USER dbname=postgres"; then
    touch "$PGDATA/standby.signal"
    log "rewind complete: starting as a replica"
    return 0
  fi
  log "pg_rewind failed: cloning a fresh copy instead"
  return 1
}

reclone_from() {
  rm -rf "$PGDATA.diverged"
  mv "$PGDATA" "$PGDATA.diverged"
  clone_from "$1"
}

# This pod was a primary when it stopped. It stays one only if no other primary is live and no replica has
# followed a newer primary; otherwise it rejoins as a replica.
resume_former_primary() {
  local own_id own_timeline peers primary host id timeline newer
  own_id=$(controldata 'Database system identifier')
  own_timeline=$(local_timeline)
  while true; do
    peers=$(scan_peers)
    primary=$(pick_primary "$peers")
    if [ -n "$primary" ]; then
      read -r host _ id timeline <<< "$primary"
      if [ "$id" != "$own_id" ]; then
        die "primary $host belongs to another database cluster (system identifier $id, this pod's is $own_id); refusing to touch this data"
      fi
      log "this pod was a primary (timeline $own_timeline), but $host is the primary now (timeline $timeline): rejoining as its replica"
      rewind_from "$host" || reclone_from "$host"
      return
    fi
    newer=$(awk -v id="$own_id" -v tl="$own_timeline" '$2 == "replica" && $3 == id && $4 > tl' <<< "$peers")
    if [ -z "$newer" ]; then
      log "no other primary is live: starting as the primary (timeline $own_timeline)"
      return
    fi
    log "replica ${newer%% *} follows a newer timeline than this pod's ($own_timeline): a newer primary was promoted." \
      "Not starting as a primary; waiting ${RETRY_SECONDS}s for that primary (or a failover job) to come back."
    sleep "$RETRY_SECONDS"
  done
}

# This pod was a replica when it stopped. If the primary has moved to a newer timeline, this pod may have
# replayed WAL that the new primary never had (a branch that ends nowhere); pg_rewind finds out, and cuts it
# off if so. Otherwise, or with no primary in sight, it simply starts as a replica.
resume_replica() {
  local own_id own_timeline primary host id timeline
  log "the data directory is a replica's: starting as a replica of $PRIMARY_HOST"
  primary=$(pick_primary "$(scan_peers)")
  [ -n "$primary" ] || return 0
  read -r host _ id timeline <<< "$primary"
  own_id=$(controldata 'Database system identifier')
  own_timeline=$(local_timeline)
  if [ "$id" != "$own_id" ] || (( timeline <= own_timeline )); then
    return 0
  fi
  case "$(controldata 'Database cluster state')" in
    'shut down' | 'shut down in recovery') ;;
    *) log "primary $host is on timeline $timeline, this replica on $own_timeline, but it was not shut down cleanly: not rewinding"; return 0 ;;
  esac
  log "primary $host is on a newer timeline ($timeline) than this replica ($own_timeline): checking that this replica can follow it"
  rewind_from "$host" || reclone_from "$host"
}

main() {
  trap 'log "stop signal received"; exit 143' TERM INT
  write_passfile
  remove_unfinished_work
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    # An empty directory may go (a deleted data directory's remains); anything else is not ours to delete.
    rmdir "$PGDATA" 2> /dev/null || true
    if [ -e "$PGDATA" ]; then
      die "$PGDATA is not a PostgreSQL data directory (no PG_VERSION) but is not empty: move its files away, then restart the pod"
    fi
    bootstrap_empty_volume
  elif [ -f "$PGDATA/standby.signal" ]; then
    resume_replica
  else
    resume_former_primary
  fi
  trap - TERM INT
  exec postgres -D "$PGDATA" \
    -c config_file="$CONFIG_FILE" \
    -c hba_file="$HBA_FILE" \
    -c cluster_name="$POD_NAME" \
    -c primary_conninfo="host=$PRIMARY_HOST port=$PGPORT user=$REPLICATION_USER passfile=$PGPASSFILE application_name=$POD_NAME connect_timeout=$CONNECT_TIMEOUT"
}

main "$@"
