#!/usr/bin/env bash
# Entrypoint of the postgres container. It decides nothing: the role-labeler sidecar's agent (src/agent/start.ts
# decideStart, docs/leader-record.md) reads the leader record, this pod's data and, where it matters, the recorded
# primary, and hands this entrypoint a plan in START_PLAN_FILE when asked (<START_PLAN_FILE>.wanted, a request id that
# the plan repeats). This container has no API token and the user's image has no Node.js: it carries out the plan's
# steps (initdb, pgBackRest restore, pg_basebackup, pg_rewind, ...) in order, and starts PostgreSQL as the plan says.
# In short, the plans:
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
# The sidecar's start plan for this pod, and (with .wanted) this entrypoint's request for one.
: "${START_PLAN_FILE:=/var/run/postgresql/start-plan}"
: "${CONNECT_TIMEOUT:=3}"
: "${RETRY_SECONDS:=2}"
: "${BOOTSTRAP_RETRY_SECONDS:=0.25}"
: "${PGPASSFILE:=/tmp/pgpass}"
# pgBackRest (walArchive, restoreFrom): its configuration. RESTORE_STANZA: a new cluster's first primary restores that
# stanza's newest backup (before RESTORE_TARGET_TIME, if set) instead of initdb, from this cluster's own repository or,
# with RESTORE_CONFIG, from another cluster's (a volume or a bucket) as that configuration file says, with its secrets
# given as RESTORE_PGBACKREST_* (PGBACKREST_REPO1_S3_KEY as RESTORE_PGBACKREST_REPO1_S3_KEY...).
: "${PGBACKREST_CONFIG:=}"
: "${RESTORE_STANZA:=}"
: "${RESTORE_CONFIG:=}"
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
# A command that fails where nothing handles it stops this script (set -e): it says which, rather than exit in silence.
set -E
trap 'log "STOPPED: \"$BASH_COMMAND\" failed (exit code $?, line $LINENO)"' ERR

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
  rm -rf "$target"
  # Flushed to disk with one syncfs() of the volume (sync -f), as a clone is, instead of initdb's fsync() of every file.
  initdb --pgdata="$target" --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync "${initdb_args[@]}"
  sync -f "$target"
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

# Runs "$@" (the restore's pgBackRest, or the server that replays with it) against the repository restored from: with
# another cluster's (RESTORE_CONFIG), its secrets replace those of this cluster's repository, which the restore never uses.
with_restore_repository() {
  (
    if [ -n "$RESTORE_CONFIG" ]; then
      local name
      for name in "${!PGBACKREST_REPO@}"; do unset "$name"; done
      for name in "${!RESTORE_PGBACKREST_@}"; do export "${name#RESTORE_}=${!name}"; done
    fi
    exec "$@"
  )
}

# Instead of initdb (restoreFrom): pgBackRest restores the source cluster's newest backup (before the target time) into
# a sibling directory; PostgreSQL, on the local socket only, replays the archived WAL (pgBackRest's restore_command) up
# to the target or to the archive's end, and promotes; then the roles get this cluster's passwords, and the recovery
# settings go. Only then does the directory become the data directory: an interrupted restore leaves nothing that could
# start as a primary. Fails (and leaves nothing) when pgBackRest cannot restore or PostgreSQL cannot reach the target.
restore_cluster() {
  local target=$PGDATA.init pid repository="this cluster's own pgBackRest repository"
  if [ -n "$RESTORE_CONFIG" ]; then repository="the pgBackRest repository of $RESTORE_CONFIG"; fi
  local -a target_args=()
  if [ -n "$RESTORE_TARGET_TIME" ]; then target_args=(--type=time "--target=$RESTORE_TARGET_TIME" --target-action=promote); fi
  log "no leader record exists and the volume is empty: restoring cluster $RESTORE_STANZA${RESTORE_TARGET_TIME:+ as of $RESTORE_TARGET_TIME}" \
    "from $repository, with this pod as the new cluster's primary"
  rm -rf "$target"
  mkdir -m 0700 "$target"
  if ! with_restore_repository pgbackrest --config="${RESTORE_CONFIG:-$PGBACKREST_CONFIG}" --stanza="$RESTORE_STANZA" --pg1-path="$target" \
    restore "${target_args[@]}"; then
    abandon_restore "$target"
    return 1
  fi
  log "backup restored: replaying the archived WAL${RESTORE_TARGET_TIME:+ up to $RESTORE_TARGET_TIME}, then promoting"
  # A day rather than pg_ctl's minute: replaying a week of WAL takes long (the startup probe allows startupTimeoutSeconds).
  if ! with_restore_repository pg_ctl --pgdata="$target" --wait --silent --timeout=86400 \
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

# A short sleep without a process: read's timeout on a pipe that nobody writes to (opened once, read and write).
exec {PAUSE_FD}<> <(:)
pause() { read -r -t "$1" -u "$PAUSE_FD" _ || true; }

# Reads the sidecar's copy of the record into REC; fails when there is none, or it is too old to trust.
read_record() {
  local key value
  REC=()
  [ -r "$RECORD_FILE" ] || return 1
  while IFS='=' read -r key value; do REC[$key]=$value; done < "$RECORD_FILE"
  (( $(now_us) - ${REC[read_at]:-0} <= RECORD_MAX_AGE * 1000000 ))
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

peer_host() { printf '%s.%s' "$1" "$PEER_DOMAIN"; }

# Synchronous mode (a plan asks for it): a standby may confirm commits only once the record lists it, so that a
# failover knows every standby that may hold the last acknowledged commit.
await_sync_membership() {
  until read_record && [[ ",${REC[sync]:-}," == *",$POD_NAME,"* ]]; do
    wait_a_little "synchronous mode: waiting until the leader record lists this pod among the synchronous standbys (the primary's sidecar adds it)"
  done
}

discard_data() {
  log "moving this pod's data aside to $PGDATA.diverged"
  rm -rf "$PGDATA.diverged"
  mv "$PGDATA" "$PGDATA.diverged"
}

# The plan the sidecar's agent decided for this start (src/agent/start.ts decideStart), read by request_plan.
PLAN_REASON=""
PLAN_STEPS=()

# Reads the plan file into PLAN_REASON and PLAN_STEPS; fails unless it answers request $1.
read_plan() {
  local key value request=""
  PLAN_REASON=""
  PLAN_STEPS=()
  [ -r "$START_PLAN_FILE" ] || return 1
  while IFS='=' read -r key value; do
    case $key in
      request) request=$value ;;
      reason) PLAN_REASON=$value ;;
      step) PLAN_STEPS+=("$value") ;;
    esac
  done < "$START_PLAN_FILE"
  [ "$request" = "$1" ]
}

# Asks the sidecar's agent (which reads the leader record, this pod's data and, where it matters, the recorded primary)
# what this start does, and waits for its answer: a plan decided after this moment, never an older one (one made before,
# say, a failover job fenced this pod and restarted it).
request_plan() {
  local id since
  id="$(now_us)-$$"
  while true; do
    printf '%s\n' "$id" > "$START_PLAN_FILE.wanted.new" && mv -f "$START_PLAN_FILE.wanted.new" "$START_PLAN_FILE.wanted"
    since=$(now_us)
    # Every 20 ms, with builtins only (no process): the agent answers within a round of the request.
    while (( ${EPOCHREALTIME/./} - since <= RECORD_MAX_AGE * 1000000 )); do
      if read_plan "$id"; then return 0; fi
      pause 0.02
    done
    wait_a_little "waiting for the role-labeler sidecar to answer with a start plan (none in $START_PLAN_FILE within ${RECORD_MAX_AGE}s)"
  done
}

# A step failed: $1 is what the plan says then (wait: decide again after a while; exit: the container restarts).
step_failed() {
  if [ "$1" = exit ]; then die "$2"; fi
  wait_a_little "$2"
}

# Carries out the plan's steps in order; a start step sets START_AS, and START_SETTINGS to the name=value settings it
# starts with instead of the configured ones. A plan that waits, fails a step or asks to decide again returns with
# START_AS empty: main asks for a new plan.
carry_out_plan() {
  local step host setting
  local -a args
  local says=no
  # The reason once: a plan that waits says it (every 10 s at most) as it waits, one that fails as it stops.
  for step in "${PLAN_STEPS[@]}"; do
    case ${step%% *} in wait | fail) says=yes ;; esac
  done
  if [ "$says" = no ]; then log "$PLAN_REASON"; fi
  for step in "${PLAN_STEPS[@]}"; do
    read -r -a args <<< "$step"
    case ${args[0]} in
      discard-data)
        discard_data
        if [ "${args[1]}" != keep ]; then rm -rf "$PGDATA.diverged"; fi ;;
      remove-reclone-marker) rm -f "$RECLONE_MARKER" ;;
      remove-init-marker) rm -f "$PGDATA/$INIT_MARKER" ;;
      remove-standby-signal) rm -f "$PGDATA/standby.signal" ;;
      initialize) initialize_cluster ;;
      restore) restore_cluster || { step_failed "${args[1]}" "restoring cluster $RESTORE_STANZA failed (see above)"; return 0; } ;;
      await-sync-membership) await_sync_membership ;;
      clone) clone_from "$(peer_host "${args[1]}")" || { step_failed "${args[2]}" "cloning from ${args[1]} failed"; return 0; } ;;
      keep-diverged-wal) keep_diverged_wal "${args[1]}" "${args[2]}" "${args[3]}" ;;
      rewind)
        host=$(peer_host "${args[1]}")
        rewind_from "$host" || reclone_from "$host" || { step_failed "${args[2]}" "rejoining ${args[1]} failed"; return 0; } ;;
      start)
        START_AS=${args[1]}
        START_SETTINGS=()
        for setting in "${args[@]:2}"; do START_SETTINGS+=(-c "$setting"); done ;;
      wait)
        if [ "${args[1]}" = bootstrap ]; then
          WAIT_SECONDS=$BOOTSTRAP_RETRY_SECONDS wait_a_little "$PLAN_REASON"
        else
          wait_a_little "$PLAN_REASON"
        fi
        return 0 ;;
      decide-again) return 0 ;;
      fail) die "$PLAN_REASON" ;;
      *) die "the sidecar's start plan has a step this entrypoint does not know ($step): are the role-labeler and this script of different versions?" ;;
    esac
  done
}

# Copies the WAL of the timelines after $1 up to $2 (their history files, then their segments, newest first, up to
# DIVERGED_WAL_LIMIT_MB) into a directory of its own on the volume, logs where, and leaves an Event for the sidecar.
# $3: the recorded primary.
keep_diverged_wal() {
  local after=$1 own_timeline=$2 primary=$3 dir timeline hex file kept=0 left=0 bytes=0 size limit=$((DIVERGED_WAL_LIMIT_MB * 1048576)) message over=""
  dir="$DIVERGED_WAL_DIR/$(TZ=UTC0 printf '%(%Y%m%dT%H%M%SZ)T' -1)-timeline-$own_timeline"
  mkdir -p "$dir"
  for ((timeline = after + 1; timeline <= own_timeline; timeline++)); do
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
  message="this pod was promoted outside the leader record (timeline $own_timeline; the record names $primary on timeline"
  message+=" $after): an unrecorded divergence, not a newer primary. Whatever it accepted since is kept in $dir ($kept WAL"
  message+=" files, $((bytes / 1048576)) MB$over); rejoining $primary"
  log "UNRECORDED PROMOTION: $message"
  if printf 'Warning UnrecordedPromotion %s\n' "$message" > "$POD_EVENT_FILE.new"; then mv -f "$POD_EVENT_FILE.new" "$POD_EVENT_FILE"; fi
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
  # An empty directory may go (a deleted data directory's remains); anything else is not ours to delete (the plan says so).
  if [ ! -s "$PGDATA/PG_VERSION" ]; then rmdir "$PGDATA" 2> /dev/null || true; fi
  START_AS=""
  START_SETTINGS=()
  while [ -z "$START_AS" ]; do
    request_plan
    carry_out_plan
  done
  if [ "$START_AS" = primary ]; then ensure_stanza; fi
  trap - TERM INT
  exec {PAUSE_FD}>&-
  exec postgres -D "$PGDATA" \
    -c config_file="$CONFIG_FILE" \
    -c hba_file="$HBA_FILE" \
    -c cluster_name="$POD_NAME" \
    -c primary_slot_name="$(slot_of "$POD_NAME")" \
    -c primary_conninfo="host=$PRIMARY_HOST port=$PGPORT user=$REPLICATION_USER passfile=$PGPASSFILE application_name=$POD_NAME connect_timeout=$CONNECT_TIMEOUT sslmode=$REPLICATION_SSLMODE" \
    "${START_SETTINGS[@]}"
}

main "$@"
