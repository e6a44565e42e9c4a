#!/usr/bin/env bash
# Entrypoint of the postgres container. The leader record decides the pod's role (this container has
# no API token: the role-labeler sidecar reads the record and hands it over in RECORD_FILE, with the
# time it read it; a copy older than RECORD_MAX_AGE seconds is not trusted, and this entrypoint waits).
#   - No record, empty volume: pod 0 initializes a new cluster and starts as its primary (its sidecar
#     then creates the record; if another pod created one first, this primary fences itself, and the
#     entrypoint discards what it initialized and clones). Other pods wait for the record.
#   - A record exists: the cluster exists. An empty volume clones from the recorded primary, never
#     initializes; the recorded primary with an empty volume waits for a person (its data is lost:
#     run the failover job to promote a replica).
#   - The pod the record names starts as the primary. Any other pod starts as a replica of it: a former
#     primary rewinds onto it (pg_rewind, or a new clone if that fails), but only onto a newer timeline
#     than its own; a replica that followed a branch the primary never had is rewound too.
#   - While a failover job holds the record, a pod starts as a replica, or waits if it was a primary.
set -euo pipefail

: "${POD_NAME:=${HOSTNAME:?POD_NAME or HOSTNAME must name this pod}}"
: "${PGDATA:?PGDATA must name the data directory}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=postgres}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must come from the Secret}"
: "${POSTGRES_REPLICATION_PASSWORD:?POSTGRES_REPLICATION_PASSWORD must come from the Secret}"
: "${REPLICATION_USER:=replicator}"
# The application's role, owner of POSTGRES_DB (created with it); its password comes from its Secret.
: "${APP_USER:?APP_USER must name the application role}"
: "${APP_PASSWORD:=}"
# Who connects to other pods over the network for pg_rewind: the replication role (PostgreSQL 15+, with
# pg_checkpoint), or the superuser where PostgreSQL needs it (13 and 14).
: "${NETWORK_USER:=$REPLICATION_USER}"
: "${PRIMARY_HOST:?PRIMARY_HOST must name the write Service}"
# TLS: "generate" makes this pod a self-signed certificate (in TLS_DIR, on its volume, outside the data directory so
# that clones do not copy it) the first time it starts and whenever it nears its end; "secret" uses the mounted
# Secret's (postgresql.conf names the files); "off", none.
: "${TLS_MODE:=off}"
: "${TLS_DIR:=$(dirname "$PGDATA")/tls}"
: "${TLS_DAYS:=3650}"
# Replicas stream encrypted whenever the primary offers TLS, and only so when TLS is on.
if [ "$TLS_MODE" = off ]; then REPLICATION_SSLMODE=prefer; else REPLICATION_SSLMODE=require; fi
: "${PEER_DOMAIN:?PEER_DOMAIN must name the headless Service}"
: "${PGPORT:=5432}"
: "${POSTGRES_CONFIG_DIR:=/etc/postgresql}"
: "${INITDB_DIR:=/docker-entrypoint-initdb.d}"
: "${POSTGRES_INITDB_ARGS:=}"
# The sidecar's copy of the leader record, and how old (seconds) a copy may be to be trusted.
: "${RECORD_FILE:=/var/run/postgresql/leader-record}"
: "${RECORD_MAX_AGE:=5}"
# Synchronous mode: replicas that confirm each commit. A replica streams only once the record lists it.
: "${SYNC_REPLICAS:=0}"
: "${CONNECT_TIMEOUT:=3}"
: "${RETRY_SECONDS:=2}"
: "${BOOTSTRAP_RETRY_SECONDS:=0.25}"
: "${PGPASSFILE:=/tmp/pgpass}"
# pgBackRest (walArchive, restoreFrom): its configuration. RESTORE_STANZA: a new cluster's first primary restores that
# stanza's newest backup (before RESTORE_TARGET_TIME, if set) from the repository at RESTORE_REPOSITORY instead of initdb.
: "${PGBACKREST_CONFIG:=}"
: "${RESTORE_STANZA:=}"
: "${RESTORE_REPOSITORY:=}"
: "${RESTORE_TARGET_TIME:=}"
# walArchive: the stanza (the cluster's name) that archive-push writes into; empty without archiving.
: "${ARCHIVE_STANZA:=}"
# A pod promoted by hand (a promotion the leader record never named) keeps the WAL of its own timeline here, up to this
# many MB, for a person, before it rejoins the recorded primary; and tells its sidecar, which posts an Event.
: "${DIVERGED_WAL_DIR:=$(dirname "$PGDATA")/diverged-wal}"
: "${DIVERGED_WAL_LIMIT_MB:=1024}"
: "${POD_EVENT_FILE:=/var/run/postgresql/pod-event}"
export PGPASSFILE PGPORT
export PGCONNECT_TIMEOUT=$CONNECT_TIMEOUT

ORDINAL=${POD_NAME##*-}
DATA_VOLUME=$(dirname "$PGDATA")
RECLONE_MARKER=$DATA_VOLUME/reclone-requested
# Written into a data directory this entrypoint initialized, until the record names its cluster.
INIT_MARKER=initialized-by-entrypoint
CONFIG_FILE=$POSTGRES_CONFIG_DIR/postgresql.conf
HBA_FILE=$POSTGRES_CONFIG_DIR/pg_hba.conf

LOG_NAME="$POD_NAME init"
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
die() { log "FATAL: $*"; exit 1; }

# Passwords reach libpq through a passfile: never a prompt, never a command line.
# The sidecar rewrites the same file (write_password_file) when a Secret changes.
write_passfile() {
  write_password_file "$REPLICATION_USER" "$POSTGRES_REPLICATION_PASSWORD" "$POSTGRES_USER" "$POSTGRES_PASSWORD"
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
  # Flushed to disk with one syncfs() of the volume (sync -f) instead of pg_basebackup's fsync() of every file.
  if ! pg_basebackup --host="$host" --username="$REPLICATION_USER" --no-password \
    --pgdata="$PGDATA.clone" --wal-method=stream --write-recovery-conf --checkpoint=fast --no-sync \
    || ! sync -f "$PGDATA.clone"; then
    rm -rf "$PGDATA.clone"
    return 1
  fi
  mv "$PGDATA.clone" "$PGDATA"
  rm -rf "$PGDATA.diverged"
  log "clone complete: starting as a replica"
}

run_init_scripts() {
  local file
  # Where they find common.sh (create-replication-user.sh uses its psql_quote).
  CLUSTER_SCRIPTS_DIR=$(dirname "${BASH_SOURCE[0]}")
  export CLUSTER_SCRIPTS_DIR
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
  log "no leader record exists and the volume is empty: initializing a new cluster, with this pod as its primary"
  rm -rf "$target"
  initdb --pgdata="$target" --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 "${initdb_args[@]}"
  # Local socket only, no synchronous standby to wait for, and no archiving (walArchive) while the cluster is set up in a
  # directory that is not yet the data directory: an empty archive_command keeps the WAL for the real one.
  pg_ctl --pgdata="$target" --wait --silent \
    -o "-c config_file=$CONFIG_FILE -c hba_file=$HBA_FILE -c listen_addresses='' -c synchronous_standby_names='' -c archive_command=''" start
  export PGUSER=$POSTGRES_USER PGDATABASE=postgres
  if [ "$POSTGRES_DB" != postgres ]; then log "creating database $POSTGRES_DB, owned by the application role $APP_USER"; fi
  # The roles (replication, application) and their passwords, and the application's database, before the init
  # scripts (which may grant to them).
  APP_DATABASE=$POSTGRES_DB credentials_sql "$POSTGRES_PASSWORD" "$POSTGRES_REPLICATION_PASSWORD" "$APP_PASSWORD" | psql -X -q > /dev/null
  run_init_scripts
  pg_ctl --pgdata="$target" --wait --silent --mode=fast stop
  unset PGUSER PGDATABASE
  touch "$target/$INIT_MARKER"
  mv "$target" "$PGDATA"
  log "initialization complete: starting as the primary; the sidecar records this pod as the cluster's primary"
}

# A restore that failed, whatever the step: no server left running on its directory ($1), and no directory left.
abandon_restore() {
  unset PGUSER PGDATABASE
  pg_ctl --pgdata="$1" --wait --silent --mode=immediate stop > /dev/null 2>&1 || true
  rm -rf "$1"
}

# Instead of initdb (restoreFrom): pgBackRest restores the source cluster's newest backup (before the target time) into
# a sibling directory; PostgreSQL, on the local socket only, replays the archived WAL (pgBackRest's restore_command) up
# to the target or to the archive's end, and promotes; then the roles get this cluster's passwords, and the recovery
# settings go. Only then does the directory become the data directory: an interrupted restore leaves nothing that could
# start as a primary. Fails (and leaves nothing) when pgBackRest cannot restore or PostgreSQL cannot reach the target.
restore_cluster() {
  local target=$PGDATA.init pid
  local -a target_args=()
  if [ -n "$RESTORE_TARGET_TIME" ]; then target_args=(--type=time "--target=$RESTORE_TARGET_TIME" --target-action=promote); fi
  log "no leader record exists and the volume is empty: restoring cluster $RESTORE_STANZA${RESTORE_TARGET_TIME:+ as of $RESTORE_TARGET_TIME}" \
    "from the pgBackRest repository in $RESTORE_REPOSITORY, with this pod as the new cluster's primary"
  rm -rf "$target"
  mkdir -m 0700 "$target"
  if ! pgbackrest --config="$PGBACKREST_CONFIG" --stanza="$RESTORE_STANZA" --repo1-path="$RESTORE_REPOSITORY" --pg1-path="$target" \
    restore "${target_args[@]}"; then
    abandon_restore "$target"
    return 1
  fi
  log "backup restored: replaying the archived WAL${RESTORE_TARGET_TIME:+ up to $RESTORE_TARGET_TIME}, then promoting"
  # A day rather than pg_ctl's minute: replaying a week of WAL takes long (the startup probe allows startupTimeoutSeconds).
  if ! pg_ctl --pgdata="$target" --wait --silent --timeout=86400 \
    -o "-c config_file=$CONFIG_FILE -c hba_file=$HBA_FILE -c listen_addresses='' -c synchronous_standby_names='' -c archive_command=''" start; then
    log "PostgreSQL did not start on the restored backup (its log is above)"
    abandon_restore "$target"
    return 1
  fi
  pid=$(head -n 1 "$target/postmaster.pid")
  export PGUSER=$POSTGRES_USER PGDATABASE=postgres
  until [ "$(psql -XAtq -c 'SELECT pg_is_in_recovery()' 2> /dev/null)" = f ]; do
    if [ ! -d "/proc/$pid" ]; then
      log "PostgreSQL stopped before the end of recovery (its log is above: a target time after the last archived commit cannot be reached)"
      abandon_restore "$target"
      return 1
    fi
    sleep 0.2
  done
  log "recovery complete: $(psql -XAtq -c "SELECT 'timeline ' || timeline_id || ', last commit ' || coalesce(pg_last_committed_xact()::text, 'unknown') FROM pg_control_checkpoint()" 2> /dev/null || true)"
  # The recovery settings pgBackRest wrote are the source's restore, not this cluster's; the rest of postgresql.auto.conf stays.
  if ! psql -v ON_ERROR_STOP=1 -XAtq -c 'ALTER SYSTEM RESET restore_command' -c 'ALTER SYSTEM RESET recovery_target_time' \
    -c 'ALTER SYSTEM RESET recovery_target_action' \
    || ! APP_DATABASE=$POSTGRES_DB credentials_sql "$POSTGRES_PASSWORD" "$POSTGRES_REPLICATION_PASSWORD" "$APP_PASSWORD" | psql -X -q > /dev/null \
    || ! pg_ctl --pgdata="$target" --wait --silent --mode=fast stop; then
    abandon_restore "$target"
    return 1
  fi
  unset PGUSER PGDATABASE
  touch "$target/$INIT_MARKER"
  mv "$target" "$PGDATA"
  log "restore complete: starting as the primary; the sidecar records this pod as the cluster's primary"
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
  psql "host=$host user=$NETWORK_USER dbname=postgres" -XAtq -c CHECKPOINT || return 1
  finish_crash_recovery || return 1
  # Flushed with one syncfs() of the volume (sync -f) instead of pg_rewind's fsync() of every file.
  if pg_rewind --no-sync --target-pgdata="$PGDATA" --source-server="host=$host user=$NETWORK_USER dbname=postgres" \
    && sync -f "$PGDATA"; then
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


declare -A REC=()

now_us() { printf '%s' "${EPOCHREALTIME/./}"; }

# Reads the sidecar's copy of the record into REC; fails when there is none, or it was read before $1
# (microseconds), or it is too old to trust.
read_record() {
  local key value since=${1:-0}
  REC=()
  [ -r "$RECORD_FILE" ] || return 1
  while IFS='=' read -r key value; do REC[$key]=$value; done < "$RECORD_FILE"
  (( ${REC[read_at]:-0} > since && $(now_us) - ${REC[read_at]:-0} <= RECORD_MAX_AGE * 1000000 ))
}

# Waits for a copy of the record that the sidecar read after this moment: a decision never rests on what
# the record said before (say) a failover job fenced this pod and restarted it.
await_fresh_record() {
  local since
  since=$(now_us)
  touch "$RECORD_FILE.wanted" 2> /dev/null || true
  until read_record "$since"; do
    if (( $(now_us) - since > RECORD_MAX_AGE * 1000000 )); then
      wait_a_little "waiting for the role-labeler sidecar to read the leader record (no copy newer than ${RECORD_MAX_AGE}s in $RECORD_FILE)"
    else
      sleep 0.1
    fi
  done
}

# Says something at most every 10 s while the same situation lasts.
LAST_WAIT=""
WAIT_LOGGED=0
# The message may come in several words; WAIT_SECONDS (for one call) waits less than RETRY_SECONDS.
wait_a_little() {
  local message="$*" seconds=${WAIT_SECONDS:-$RETRY_SECONDS}
  if [ "$message" != "$LAST_WAIT" ] || (( SECONDS - WAIT_LOGGED >= 10 )); then
    log "$message; retrying every ${seconds}s"
    LAST_WAIT=$message
    WAIT_LOGGED=$SECONDS
  fi
  sleep "$seconds"
}

record_host() { printf '%s.%s' "${REC[primary]}" "$PEER_DOMAIN"; }

# Synchronous mode: a standby may confirm commits only once the record lists it, so that a failover
# knows every standby that may hold the last acknowledged commit.
await_sync_membership() {
  (( SYNC_REPLICAS > 0 )) || return 0
  until read_record && [[ ",${REC[sync]:-}," == *",$POD_NAME,"* ]]; do
    wait_a_little "synchronous mode: waiting until the leader record lists this pod among the synchronous standbys (the primary's sidecar adds it)"
  done
}

discard_data() {
  local reason=$1
  log "moving this pod's data aside to $PGDATA.diverged: $reason"
  rm -rf "$PGDATA.diverged"
  mv "$PGDATA" "$PGDATA.diverged"
}

# A former primary (or a replica that replayed WAL the primary never had) rejoins the recorded primary:
# only onto a newer timeline than its own, never the other way round.
rejoin() {
  local host own_timeline
  host=$(record_host)
  own_timeline=$(local_timeline)
  check_unrecorded_promotion "$own_timeline"
  case $DIVERGED in
    1) return 0 ;;
    2) return 13 ;;
  esac
  if (( ${REC[timeline]:-0} <= own_timeline )); then
    return 10
  fi
  pg_isready --quiet --host="$host" --port="$PGPORT" --timeout="$CONNECT_TIMEOUT" || return 11
  log "the leader record names ${REC[primary]} (epoch ${REC[epoch]}, timeline ${REC[timeline]}); this pod's data is on timeline $own_timeline: rejoining as its replica"
  rewind_from "$host" || reclone_from "$host" || return 12
}

# Decides, from the record and this pod's data, how PostgreSQL starts; sets START_AS.
decide() {
  local own_id
  START_AS=""
  await_fresh_record
  if [ "${REC[found]}" = yes ] && [ -e "$RECLONE_MARKER" ] && [ -s "$PGDATA/PG_VERSION" ] && [ "${REC[state]}" = stable ] \
    && [ -n "${REC[primary]}" ] && [ "${REC[primary]}" != "$POD_NAME" ] && [ -f "$PGDATA/standby.signal" ]; then
    discard_data "the sidecar found that the primary no longer keeps the WAL this replica needs"
    rm -rf "$PGDATA.diverged"
  fi
  rm -f "$RECLONE_MARKER"

  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ "${REC[found]}" = no ]; then
      if [ "$ORDINAL" = 0 ]; then
        if [ -n "$RESTORE_STANZA" ]; then
          restore_cluster || { wait_a_little "restoring cluster $RESTORE_STANZA failed (see above)"; return; }
        else
          initialize_cluster
        fi
        START_AS=primary
      else
        # Pod 0 creates the record within seconds of its start: look often, a new cluster's replicas clone at once.
        WAIT_SECONDS=$BOOTSTRAP_RETRY_SECONDS wait_a_little "no leader record yet and an empty volume: waiting for pod 0 to initialize the cluster"
      fi
    elif [ "${REC[state]}" != stable ]; then
      wait_a_little "an empty volume, and a failover job holds the leader record ($(describe_record)): waiting for its end"
    elif [ "${REC[primary]}" = "$POD_NAME" ]; then
      wait_a_little "the leader record names this pod as the primary, but its volume is empty: its data is lost. Never initializing a" \
        "second cluster: start the failover job to promote a replica ($(describe_record))"
    else
      await_sync_membership
      clone_from "$(record_host)" || { wait_a_little "cloning from ${REC[primary]} failed"; return; }
      START_AS=replica
    fi
    return
  fi

  own_id=$(controldata 'Database system identifier')
  if [ "${REC[found]}" = yes ] && [ -n "${REC[system-identifier]}" ] && [ "${REC[system-identifier]}" != "$own_id" ]; then
    if [ -e "$PGDATA/$INIT_MARKER" ]; then
      discard_data "another pod created the cluster's leader record first (system identifier ${REC[system-identifier]}); this pod's new cluster ($own_id) was never used"
      return
    fi
    die "this pod's data belongs to another database cluster (system identifier $own_id; the leader record's is ${REC[system-identifier]}); refusing to touch it. Move the data away (or restore the right volume), then restart the pod"
  fi
  if [ "${REC[found]}" = yes ]; then rm -f "$PGDATA/$INIT_MARKER"; fi

  if [ "${REC[found]}" = no ]; then
    if [ -f "$PGDATA/standby.signal" ]; then
      wait_a_little "a replica's data and no leader record: waiting for the primary's sidecar to create it"
    else
      log "no leader record: this pod's data is a primary's; starting as the primary (its sidecar records it, unless another pod is recorded first)"
      START_AS=primary
    fi
    return
  fi

  if [ "${REC[state]}" != stable ]; then
    if [ "${REC[target]}" = "$POD_NAME" ] && [ ! -f "$PGDATA/standby.signal" ]; then
      log "a failover job promoted this pod ($(describe_record)): starting as the primary"
      START_AS=primary
    elif [ -f "$PGDATA/standby.signal" ]; then
      log "a failover job holds the leader record ($(describe_record)): starting as a replica of $PRIMARY_HOST"
      START_AS=replica
    else
      wait_a_little "this pod's data is a former primary's and a failover job holds the leader record ($(describe_record)): waiting for its end"
    fi
    return
  fi

  if [ "${REC[primary]}" = "$POD_NAME" ]; then
    # A replica's data (pg_control says recovery) is never started as a primary on its old timeline: other replicas may
    # have received more of it. It starts in recovery, and its sidecar promotes it (a new timeline). Only a primary's
    # data (fenced: standby.signal over a primary's clean shutdown) goes back to serving as it was.
    if [ -f "$PGDATA/standby.signal" ]; then
      case "$(controldata 'Database cluster state')" in
        'shut down in recovery' | 'in archive recovery')
          log "the leader record names this pod as the primary ($(describe_record)), and its data is a replica's: starting in" \
            "recovery; its sidecar promotes it (a new timeline)"
          START_AS=replica
          return ;;
      esac
      log "the leader record names this pod as the primary ($(describe_record)): removing standby.signal"
      rm -f "$PGDATA/standby.signal"
    fi
    log "the leader record names this pod as the primary ($(describe_record)): starting as the primary"
    START_AS=primary
    return
  fi

  if [ ! -f "$PGDATA/standby.signal" ]; then
    local outcome=0
    rejoin || outcome=$?
    case $outcome in
      0) ;;
      10) wait_a_little "this pod's data is a former primary's, on a timeline ($(local_timeline)) not older than the recorded primary's" \
           "(${REC[primary]}, timeline ${REC[timeline]}): never rewinding onto an older timeline. A person must decide: see the README (split brain)"; return ;;
      11) wait_a_little "this pod was a primary; the recorded primary ${REC[primary]} does not answer, and only it can say how to rejoin"; return ;;
      13) return ;;
      *) wait_a_little "rejoining ${REC[primary]} failed"; return ;;
    esac
  else
    check_unrecorded_promotion "$(local_timeline)"
    case $DIVERGED in
      0) resume_replica ;;
      2) return ;;
    esac
  fi
  await_sync_membership
  START_AS=replica
}

# A replica that stopped while the primary moved to a newer timeline may have replayed WAL the new primary
# never had; pg_rewind finds out, and cuts it off if so. A replica that was not shut down cleanly is left to
# follow (it may not need a rewind; pg_rewind cannot run on it).
resume_replica() {
  local own_timeline
  own_timeline=$(local_timeline)
  log "the data directory is a replica's: starting as a replica of ${REC[primary]} (through $PRIMARY_HOST)"
  (( ${REC[timeline]:-0} > own_timeline )) || return 0
  case "$(controldata 'Database cluster state')" in
    'shut down' | 'shut down in recovery') ;;
    *) return 0 ;;
  esac
  pg_isready --quiet --host="$(record_host)" --port="$PGPORT" --timeout="$CONNECT_TIMEOUT" || return 0
  log "the primary is on a newer timeline (${REC[timeline]}) than this replica ($own_timeline): checking that this replica can follow it"
  rewind_from "$(record_host)" || reclone_from "$(record_host)"
}

# The recorded primary's own timeline now (that of its current WAL file), or nothing when it does not answer: the
# record's may lag behind it for a moment after a promotion.
primary_timeline() {
  psql "host=$(record_host) user=$NETWORK_USER dbname=postgres" -XAtq \
    -c "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int WHERE NOT pg_is_in_recovery()" 2> /dev/null
}

# A timeline newer than the recorded primary's, which the record never named: this pod was promoted by hand (as the
# reference design's manual failover steps say: relabel, pg_promote), not by a failover job. Not a newer primary but an
# unrecorded divergence: what it accepted meanwhile is kept aside for a person (its WAL since the promotion, up to
# DIVERGED_WAL_LIMIT_MB), and it rejoins the recorded primary (pg_rewind, or a new clone). Sets DIVERGED: 0 not
# diverged, 1 diverged and rejoined, 2 cannot tell yet (the primary does not answer, or the record lags behind it).
check_unrecorded_promotion() {
  local own_timeline=$1 primary
  DIVERGED=0
  [[ ${REC[timeline]:-} =~ ^[1-9][0-9]*$ ]] && (( own_timeline > REC[timeline] )) || return 0
  DIVERGED=2
  primary=$(primary_timeline) || primary=""
  if ! [[ $primary =~ ^[0-9]+$ ]]; then
    wait_a_little "this pod's data is on timeline $own_timeline, newer than the leader record's (${REC[timeline]}); the recorded primary" \
      "${REC[primary]} does not answer, and only it can say whether this pod's timeline is one the record never named"
    return 0
  fi
  if (( primary != REC[timeline] )); then
    WAIT_SECONDS=0.2 wait_a_little "the leader record's timeline (${REC[timeline]}) is behind its primary's ($primary): waiting for its sidecar to record it"
    return 0
  fi
  keep_diverged_wal "$own_timeline"
  rewind_from "$(record_host)" || reclone_from "$(record_host)" || { wait_a_little "rejoining ${REC[primary]} failed"; return 0; }
  DIVERGED=1
}

# Copies the WAL of the timelines after the record's (their history files, then their segments, newest first, up to
# DIVERGED_WAL_LIMIT_MB) into a directory of its own on the volume, logs where, and leaves an Event for the sidecar.
keep_diverged_wal() {
  local own_timeline=$1 dir timeline hex file kept=0 left=0 bytes=0 size limit=$((DIVERGED_WAL_LIMIT_MB * 1048576)) message over=""
  dir="$DIVERGED_WAL_DIR/$(TZ=UTC0 printf '%(%Y%m%dT%H%M%SZ)T' -1)-timeline-$own_timeline"
  mkdir -p "$dir"
  for ((timeline = REC[timeline] + 1; timeline <= own_timeline; timeline++)); do
    hex=$(printf '%08X' "$timeline")
    if [ -e "$PGDATA/pg_wal/$hex.history" ]; then cp -p "$PGDATA/pg_wal/$hex.history" "$dir/"; fi
    while IFS= read -r file; do
      size=$(stat -c %s "$PGDATA/pg_wal/$file")
      if (( bytes + size > limit )); then left=$((left + 1)); continue; fi
      cp -p "$PGDATA/pg_wal/$file" "$dir/"
      bytes=$((bytes + size))
      kept=$((kept + 1))
    done < <(find "$PGDATA/pg_wal" -maxdepth 1 -name "${hex}????????????????*" -printf '%f\n' | sort -r)
  done
  if ((left > 0)); then over="; $left older files left out, over $DIVERGED_WAL_LIMIT_MB MB"; fi
  message="this pod was promoted outside the leader record (timeline $own_timeline; the record names ${REC[primary]} on timeline"
  message+=" ${REC[timeline]}): an unrecorded divergence, not a newer primary. Whatever it accepted since is kept in $dir ($kept WAL"
  message+=" files, $((bytes / 1048576)) MB$over); rejoining ${REC[primary]}"
  log "UNRECORDED PROMOTION: $message"
  if printf 'Warning UnrecordedPromotion %s\n' "$message" > "$POD_EVENT_FILE.new"; then mv -f "$POD_EVENT_FILE.new" "$POD_EVENT_FILE"; fi
}

describe_record() {
  printf 'epoch %s, %s, primary %s' "${REC[epoch]:-?}" "${REC[state]:-?}" "${REC[primary]:-(none)}"
  if [ "${REC[state]:-}" = failing-over ]; then printf ', promoting %s' "${REC[target]:-?}"; fi
}

# The pod's own certificate (TLS_MODE=generate): an ECDSA P-256 key and a self-signed certificate for the pod's
# names and the Services', made once (openssl, from the postgres image) and again 30 days before it expires.
# Clients that verify certificates (sslmode=verify-full) need your own: tlsSecretName.
ensure_certificate() {
  local names
  [ "$TLS_MODE" = generate ] || return 0
  command -v openssl > /dev/null || die "TLS: the image has no openssl to make this pod's certificate: use an image with openssl, give a certificate (tlsSecretName), or turn TLS off (tls: false)"
  if [ -s "$TLS_DIR/server.crt" ] && [ -s "$TLS_DIR/server.key" ] \
    && openssl x509 -checkend $((30 * 86400)) -noout -in "$TLS_DIR/server.crt" > /dev/null 2>&1; then
    return 0
  fi
  names="DNS:$POD_NAME.$PEER_DOMAIN,DNS:$POD_NAME,DNS:$PRIMARY_HOST,DNS:localhost"
  rm -rf "$TLS_DIR.new"
  mkdir -p "$TLS_DIR.new"
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$TLS_DAYS" -subj "/CN=$POD_NAME.$PEER_DOMAIN" \
      -addext "subjectAltName=$names" -keyout "$TLS_DIR.new/server.key" -out "$TLS_DIR.new/server.crt" 2> /dev/null
  ) || die "TLS: openssl could not make this pod's certificate"
  rm -rf "$TLS_DIR"
  mv "$TLS_DIR.new" "$TLS_DIR"
  log "TLS: made this pod's self-signed certificate ($names; $TLS_DAYS days)"
}

# walArchive: a primary archives into the repository's stanza, which must exist, or archive-push fails and WAL piles up
# in pg_wal. pgBackRest's stanza-create makes it from pg_control before the server starts (--no-online), and changes
# nothing when it exists; it refuses a stanza of another database cluster. A failure is logged, and tried again at the
# next start (and by every backup: archive-backup.sh).
ensure_stanza() {
  local out
  [ -n "$ARCHIVE_STANZA" ] || return 0
  if out=$(pgbackrest --config="$PGBACKREST_CONFIG" --stanza="$ARCHIVE_STANZA" --log-level-console=warn --no-online stanza-create 2>&1); then
    log "pgBackRest: the repository has stanza $ARCHIVE_STANZA: WAL is archived"
  else
    log "pgBackRest: stanza-create $ARCHIVE_STANZA failed (${out//$'\n'/ }): WAL is not archived until it succeeds (at the next start, or a backup)"
  fi
}

main() {
  trap 'log "stop signal received"; exit 143' TERM INT
  write_passfile
  if [ -n "$PGBACKREST_CONFIG" ] && ! command -v pgbackrest > /dev/null; then
    die "pgBackRest: the image has no pgbackrest, which archiving (walArchive) and restoreFrom run: use an image with it (docs/images/postgres-pgbackrest)"
  fi
  ensure_certificate
  remove_unfinished_work
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    # An empty directory may go (a deleted data directory's remains); anything else is not ours to delete.
    rmdir "$PGDATA" 2> /dev/null || true
    if [ -e "$PGDATA" ]; then
      die "$PGDATA is not a PostgreSQL data directory (no PG_VERSION) but is not empty: move its files away, then restart the pod"
    fi
  fi
  START_AS=""
  while [ -z "$START_AS" ]; do decide; done
  if [ "$START_AS" = primary ]; then ensure_stanza; fi
  trap - TERM INT
  exec postgres -D "$PGDATA" \
    -c config_file="$CONFIG_FILE" \
    -c hba_file="$HBA_FILE" \
    -c cluster_name="$POD_NAME" \
    -c primary_slot_name="$(slot_of "$POD_NAME")" \
    -c primary_conninfo="host=$PRIMARY_HOST port=$PGPORT user=$REPLICATION_USER passfile=$PGPASSFILE application_name=$POD_NAME connect_timeout=$CONNECT_TIMEOUT sslmode=$REPLICATION_SSLMODE"
}

main "$@"
