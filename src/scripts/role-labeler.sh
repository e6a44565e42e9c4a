#!/usr/bin/env bash
# Sidecar of every postgres pod, and the pod's only client of the Kubernetes API. Every second, and at once
# whenever the record changes (it watches it), it:
#   - reads the leader record (leader-record.sh) and hands it to the postgres container's entrypoint
#     through a file in the pod's shared run directory (that container has no API token);
#   - labels the pod role=primary only when PostgreSQL is a primary *and* the record names this pod,
#     role=replica when it is a replica, and removes the label otherwise;
#   - fences a primary that the record does not name (standby.signal, then a fast shutdown), and one
#     that cannot read the record for ISOLATION_FENCE_SECONDS: an isolated or forgotten primary stops
#     taking writes as soon as it can see the record again, or when it has lost sight of it too long;
#   - carries out a planned switchover that a failover job has written into the record (state switching-over):
#     the old primary fences itself and records its shutdown checkpoint; the target waits until it has received
#     WAL beyond that checkpoint, then records itself as the primary (compare-and-swap: a job that gave the
#     switchover up first wins, and the target is not promoted);
#   - promotes a replica that the record names as the primary (a switchover's target, or an old primary
#     that a refused switchover gave the role back to);
#   - creates the record when none exists and this pod is a primary (a new cluster, initialized by
#     pod 0); if another pod created it first, this primary is not named and fences itself;
#   - on the primary: keeps one replication slot per other pod that exists (dropping those of pods
#     scaled away), and in synchronous mode the record's set of standbys that may confirm commits;
#   - on a replica that has not streamed for WAL_CHECK_SECONDS while the primary is up: if the
#     primary no longer has the WAL it needs, asks the entrypoint to clone it afresh;
#   - with WAL archiving (ARCHIVE_STANZA), on the primary: creates the repository's stanza if it does not exist.
# PostgreSQL itself says what it is: a server serves when line 8 of postmaster.pid is "ready" and its
# port answers; global/pg_control says whether it is in production (a primary) or in archive recovery.
set -euo pipefail

: "${POD_NAME:?POD_NAME must name this pod}"
: "${PGDATA:?PGDATA must name the data directory}"
: "${PGPORT:=5432}"
: "${ROLE_LABEL:=role}"
: "${POLL_SECONDS:=1}"
# Labels are re-applied this often even without a change, in case someone edited them.
: "${REASSERT_SECONDS:=30}"
: "${RECORD_FILE:=/var/run/postgresql/leader-record}"
: "${ISOLATION_FENCE_SECONDS:=10}"
: "${WAL_CHECK_SECONDS:=10}"
: "${MAINTAIN_SECONDS:=10}"
: "${SYNC_REPLICAS:=0}"
: "${CLUSTER_SELECTOR:?CLUSTER_SELECTOR must select the pods of the cluster}"
: "${PRIMARY_HOST:?PRIMARY_HOST must name the write Service}"
: "${PGPASSFILE:=/tmp/pgpass}"
: "${POSTGRES_USER:=postgres}"
: "${REPLICATION_USER:=replicator}"
# The Secrets, mounted (the kubelet updates the files when a Secret changes): keys password and replication-password;
# the application's password (if APP_USER is set).
: "${SECRET_DIR:?SECRET_DIR must name the directory of the mounted Secret}"
: "${APP_SECRET_DIR:=}"
: "${APP_USER:=}"
: "${APP_DATABASE:=postgres}"
# The server certificate's mounted Secret (tlsSecretName), if any: when the kubelet brings a renewed one, PostgreSQL
# reloads it.
: "${TLS_SECRET_DIR:=}"
# Who connects to the primary over the network (pg_ls_waldir): the replication role, unless the superuser may
# (PostgreSQL before 15, where pg_rewind needs it).
: "${NETWORK_USER:=$REPLICATION_USER}"
# walArchive: the pgBackRest stanza (the cluster's name) and configuration; empty without archiving.
: "${ARCHIVE_STANZA:=}"
: "${PGBACKREST_CONFIG:=}"
: "${STANZA_RETRY_SECONDS:=30}"
export PGPORT PGPASSFILE PGHOST=/var/run/postgresql PGUSER=$POSTGRES_USER PGDATABASE=postgres PGCONNECT_TIMEOUT=3
export POSTGRES_USER REPLICATION_USER APP_USER APP_DATABASE

LOG_NAME="$POD_NAME role-labeler"
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=SCRIPTDIR/leader-record.sh
source "$(dirname "${BASH_SOURCE[0]}")/leader-record.sh"

STATEFULSET=${POD_NAME%-*}
NODE_SCRIPT=$(dirname "${BASH_SOURCE[0]}")/pg-node.sh
DATA_VOLUME=$(dirname "$PGDATA")
RECLONE_MARKER=$DATA_VOLUME/reclone-requested


sql() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1" 2> /dev/null; }

# The DBState of pg_control: a 4-byte enum at offset 16 (after the system identifier, pg_control_version and
# catalog_version_no) in every PostgreSQL release since 9.x; 5 is DB_IN_ARCHIVE_RECOVERY, 6 DB_IN_PRODUCTION.
control_state() {
  od -An -tu4 -j16 -N4 "$PGDATA/global/pg_control" 2> /dev/null
}

# Sets ROLE to what the local server is: primary, replica, or "" (down, starting or stopping).
observed_role() {
  local status="" state lines=()
  ROLE=""
  if [ -r "$PGDATA/postmaster.pid" ]; then
    mapfile -t -n 8 lines < "$PGDATA/postmaster.pid" 2> /dev/null || true
    status=${lines[7]:-}
  fi
  # postmaster.pid outlives a killed server: only a live postmaster counts (the pod shares one process
  # namespace, so the sidecar sees it).
  if [ "${status// /}" != ready ] || ! kill -0 "${lines[0]:-0}" 2> /dev/null; then
    return 0
  fi
  state=$(control_state)
  case "${state// /}" in
    6) ROLE=primary ;;
    5) ROLE=replica ;;
  esac
}

# The passwords as the mounted Secrets say now (bash reads the files: no process). Fails while a file is missing.
read_secret_file() {
  local value=""
  [ -r "$1" ] || return 1
  IFS= read -r -d '' value < "$1" || true
  printf -v "$2" '%s' "$value"
}
# PASSWORDS_READ says whether this round read them all: the kubelet fills the mounted Secrets in a while after a
# generated Secret is created, and nothing is applied or written from a Secret not read.
SUPERUSER_PASSWORD="" REPLICATION_PASSWORD="" APP_PASSWORD="" PASSWORDS_READ=false
read_passwords() {
  PASSWORDS_READ=false
  read_secret_file "$SECRET_DIR/password" SUPERUSER_PASSWORD && read_secret_file "$SECRET_DIR/replication-password" REPLICATION_PASSWORD \
    && [ -n "$SUPERUSER_PASSWORD" ] && [ -n "$REPLICATION_PASSWORD" ] || return 1
  if [ -n "$APP_USER" ]; then read_secret_file "$APP_SECRET_DIR/password" APP_PASSWORD && [ -n "$APP_PASSWORD" ] || return 1; fi
  PASSWORDS_READ=true
}

# The pod's password file (shared with the postgres container, whose replication connection uses it: a replica
# reconnects with the rotated password), rewritten (rename) when the Secret changed.
PASSFILE_WRITTEN=""
write_passfile() {
  local wanted="$REPLICATION_PASSWORD|$SUPERUSER_PASSWORD"
  [ "$wanted" != "$PASSFILE_WRITTEN" ] || return 0
  write_password_file "$REPLICATION_USER" "$REPLICATION_PASSWORD" "$POSTGRES_USER" "$SUPERUSER_PASSWORD" || return 1
  if [ -n "$PASSFILE_WRITTEN" ]; then log "the Secret changed: rewrote this pod's password file"; fi
  PASSFILE_WRITTEN=$wanted
}

# A renewed certificate in the mounted Secret (cert-manager renews it; the kubelet swaps the files together): PostgreSQL
# reads its certificate and key again on a reload. Every pod, whatever its role.
CERTIFICATE_SEEN=""
reload_renewed_certificate() {
  local certificate=""
  [ -n "$TLS_SECRET_DIR" ] && read_secret_file "$TLS_SECRET_DIR/tls.crt" certificate && [ -n "$certificate" ] || return 0
  if [ -n "$CERTIFICATE_SEEN" ] && [ "$certificate" != "$CERTIFICATE_SEEN" ]; then
    sql "SELECT pg_reload_conf()" > /dev/null || return 0
    log "the certificate in $TLS_SECRET_DIR changed (renewed): PostgreSQL reloaded it"
  fi
  CERTIFICATE_SEEN=$certificate
}

# On the primary: the roles and their passwords as the Secrets say (credentials_sql), after every start of this
# sidecar and whenever a Secret changed: a password written into the Secret is the cluster's within seconds.
CREDENTIALS_APPLIED=""
apply_credentials() {
  local wanted="$SUPERUSER_PASSWORD|$REPLICATION_PASSWORD|$APP_PASSWORD" out
  $PASSWORDS_READ && [ "$wanted" != "$CREDENTIALS_APPLIED" ] || return 0
  if out=$(credentials_sql "$SUPERUSER_PASSWORD" "$REPLICATION_PASSWORD" "$APP_PASSWORD" | psql -XAtq 2>&1 > /dev/null); then
    if [ -n "$CREDENTIALS_APPLIED" ]; then
      log "applied the changed passwords of the Secrets to the roles $POSTGRES_USER, $REPLICATION_USER${APP_USER:+, $APP_USER}"
    fi
    CREDENTIALS_APPLIED=$wanted
  else
    log "could not apply the Secrets' passwords to the roles (${out//$'\n'/ }); retrying"
  fi
}

# walArchive, on the primary: the repository must have the cluster's stanza, or archive-push fails and WAL piles up in
# pg_wal. pgBackRest's stanza-create makes it (and changes nothing when it exists; it refuses a stanza of another
# database cluster). In the background: the loop never waits for it. Once per start of this sidecar when it succeeds;
# after a failure (its output logged), again STANZA_RETRY_SECONDS later.
STANZA=""
STANZA_TRIED=-1000
ensure_stanza() {
  [ -n "$ARCHIVE_STANZA" ] && [ "$STANZA" != created ] || return 0
  if [ -n "$STANZA" ]; then
    if kill -0 "$STANZA" 2> /dev/null; then return 0; fi
    if wait "$STANZA"; then
      STANZA=created
      log "pgBackRest: the repository has stanza $ARCHIVE_STANZA: WAL is archived"
      return 0
    fi
    STANZA=""
    log "pgBackRest: stanza-create $ARCHIVE_STANZA failed, retrying in ${STANZA_RETRY_SECONDS}s: $(tr '\n' ' ' < /tmp/stanza-create.log)"
  fi
  (( SECONDS - STANZA_TRIED >= STANZA_RETRY_SECONDS )) || return 0
  STANZA_TRIED=$SECONDS
  pgbackrest --config="$PGBACKREST_CONFIG" --stanza="$ARCHIVE_STANZA" --log-level-console=warn stanza-create > /tmp/stanza-create.log 2>&1 &
  STANZA=$!
}

# The entrypoint's copy of the record: key=value lines, replaced whole (rename), with the time (microseconds)
# at which the read began: what the record said at or after that moment.
# Written when the record changed, when the entrypoint asked (nap), and every RECORD_MAX_AGE / 2 seconds.
LAST_RECORD=""
LAST_WRITTEN=-1000
RECORD_WANTED=true
write_record_file() {
  local field text
  text="found=${R[found]}"
  for field in "${RECORD_FIELDS[@]}"; do text+=$'\n'"$field=${R[$field]:-}"; done
  if [ "$text" = "$LAST_RECORD" ] && ! $RECORD_WANTED && (( SECONDS - LAST_WRITTEN < 2 )); then return 0; fi
  printf 'read_at=%s\n%s\n' "$1" "$text" > "$RECORD_FILE.new"
  mv -f "$RECORD_FILE.new" "$RECORD_FILE"
  LAST_RECORD=$text
  LAST_WRITTEN=$SECONDS
  RECORD_WANTED=false
}

apply_label() {
  if [ -n "$1" ]; then
    kubectl_bounded label pod "$POD_NAME" "$ROLE_LABEL=$1" --overwrite > /dev/null
  else
    kubectl_bounded label pod "$POD_NAME" "$ROLE_LABEL-" > /dev/null
  fi
}

# This server must stop taking writes now: it restarts as a replica (standby.signal) and its entrypoint
# decides from the record what it follows. A fast shutdown hands every WAL record to connected replicas.
fence_local() {
  local unlabel
  log "FENCING this primary: $1"
  # The label goes while PostgreSQL stops (a failover job removes it too): no client should reach a server that is
  # shutting down.
  apply_label "" 2> /dev/null &
  unlabel=$!
  applied=""
  touch "$PGDATA/standby.signal"
  stop_fast 2> /dev/null || log "pg_ctl stop failed; retrying next round"
  wait "$unlabel" || true
  report_shutdown_checkpoint
}

# A switchover away from this pod waits for its shutdown checkpoint: after a clean (fast) shutdown, the end of its
# WAL, which every connected replica was sent before the server exited. Only a cleanly shut down data directory
# (pg_control: DB_SHUTDOWNED, 1) says so; one that crashed, or has started again, leaves the switchover to time out.
report_shutdown_checkpoint() {
  local lsn
  [ "${R[state]:-}" = switching-over ] && [ "${R[previous]}" = "$POD_NAME" ] && [ -z "${R[checkpoint]}" ] || return 0
  [ "$(control_state | tr -d ' ')" = 1 ] || return 0
  lsn=$(LC_ALL=C pg_controldata "$PGDATA" | sed -n 's/^Latest checkpoint location: *//p')
  [[ $lsn =~ ^[0-9A-F]+/[0-9A-F]+$ ]] || return 0
  if record_update "checkpoint=$lsn"; then
    log "fenced for the switchover to ${R[target]}: recorded the shutdown checkpoint $lsn"
  else
    log "could not record the shutdown checkpoint $lsn ($RECORD_ERROR); retrying"
    SOON=true
  fi
}

# The target of a switchover: once it has received WAL beyond the old primary's shutdown checkpoint (it holds
# every commit), it names itself in the record and is promoted. Until then it looks again soon.
take_over_switchover() {
  local received sync="" checkpoint=${R[checkpoint]}
  received=$(sql "SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) > '$checkpoint'::pg_lsn") || received=""
  if [ "$received" != t ]; then
    SOON=true
    return 0
  fi
  if (( SYNC_REPLICAS > 0 )); then sync=$(other_pods | sort | paste -sd, -) || return 0; fi
  if record_update state=stable "primary=$POD_NAME" "sync=$sync" target= previous= job= checkpoint=; then
    log "received the old primary's shutdown checkpoint $checkpoint: recorded this pod as the primary ($(record_describe))"
    promote_named
  else
    log "could not record this pod as the primary ($RECORD_ERROR): deciding again"
    SOON=true
  fi
}

# The record names this pod, and PostgreSQL is a replica: promote it (pg-node.sh promote: slots for the other
# pods, then it accepts writes), label it, and record its new timeline.
promote_named() {
  local others
  others=$(other_pods) || others=""
  log "the leader record names this pod as the primary: promoting it"
  # shellcheck disable=SC2086 # one pod name per word
  if ! bash "$NODE_SCRIPT" promote $others > /dev/null; then
    log "promotion failed; deciding again"
    SOON=true
    return 0
  fi
  role=primary
  label primary
  record_timeline
  LAST_OTHERS="(unknown)"
}

# Keeps the record's timeline that of this primary (it changes with a promotion).
record_timeline() {
  local timeline
  timeline=$(local_timeline) || return 0
  if [ -n "$timeline" ] && [ "$timeline" != "${R[timeline]}" ]; then record_update "timeline=$timeline" || true; fi
}

# A new primary records its timeline once it is promoted and labelled: a replica that does not stream on that
# timeline yet is woken out of its wal_retrieve_retry_interval wait (a reload wakes PostgreSQL's startup process,
# which then connects at once), once per timeline. A synchronous primary waits for such a standby before it
# acknowledges its first commit.
FOLLOWED=""
follow_new_primary() {
  local streaming
  [ "${R[state]}" = stable ] && [ -n "${R[primary]}" ] && [ "${R[primary]}" != "$POD_NAME" ] && [[ ${R[timeline]} =~ ^[0-9]+$ ]] \
    && [ "${R[epoch]}/${R[timeline]}" != "$FOLLOWED" ] || return 0
  FOLLOWED="${R[epoch]}/${R[timeline]}"
  streaming=$(sql "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming' AND received_tli = ${R[timeline]}") || return 0
  if [ "$streaming" = 0 ]; then sql "SELECT pg_reload_conf()" > /dev/null || true; fi
}

local_timeline() {
  sql "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"
}

other_pods() {
  local names name
  names=$(kubectl_bounded get pods -l "$CLUSTER_SELECTOR" -o name) || return 1
  for name in $names; do
    name=${name#pod/}
    if [ "$name" != "$POD_NAME" ]; then echo "$name"; fi
  done
}

# A new cluster: its first primary records itself. Losing the race means another pod's cluster is the
# cluster; this one is not named and fences itself on the next round.
create_record() {
  local id timeline sync=""
  id=$(LC_ALL=C pg_controldata "$PGDATA" | sed -n 's/^Database system identifier: *//p')
  timeline=$(local_timeline) || return 0
  if (( SYNC_REPLICAS > 0 )); then sync=$(other_pods | paste -sd, -); fi
  if record_create state=stable "primary=$POD_NAME" epoch=1 "timeline=$timeline" "system-identifier=$id" "sync=$sync"; then
    log "created the leader record: $(record_describe)"
    SOON=true
  else
    log "could not create the leader record: $RECORD_ERROR"
  fi
}

# Slots for every other pod that exists, none for pods that are gone. A slot whose WAL was removed
# (max_slot_wal_keep_size) is dropped, and made anew on the next round.
maintain_slots() {
  local others=$1 wanted="" pod name active status
  for pod in $others; do wanted+=" $(slot_of "$pod")"; done
  while IFS='|' read -r name active status; do
    [ -n "$name" ] || continue
    if [[ " $wanted " != *" $name "* || $status == lost ]] && [ "$active" = f ]; then
      log "dropping replication slot $name (${status:-its pod is gone})"
      sql "SELECT pg_drop_replication_slot('$name')" > /dev/null || true
    fi
  done < <(sql "SELECT slot_name, active, coalesce(wal_status, '') FROM pg_replication_slots
    WHERE slot_type = 'physical' AND slot_name LIKE '$(slot_of "$STATEFULSET")\\_%'")
  for name in $wanted; do
    sql "SELECT pg_create_physical_replication_slot('$name', true)
      WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$name')" > /dev/null || true
  done
}

# Synchronous mode: the record lists every standby that may confirm a commit (all other pods that exist;
# a joining pod's entrypoint waits until it is listed before it starts streaming). A pod that is gone
# leaves the list only once SYNC_REPLICAS of the remaining ones have flushed all WAL written before it
# left: then any failover that reaches enough of the list finds every acknowledged commit.
declare -A GONE_AT=()
maintain_sync_set() {
  local others=$1 member next="" changed=false lsn caught_up
  for member in $others; do next+="${next:+,}$member"; done
  for member in ${R[sync]//,/ }; do
    if [[ ",$next," == *",$member,"* ]]; then continue; fi
    if [ -z "${GONE_AT[$member]:-}" ]; then GONE_AT[$member]=$(sql "SELECT pg_current_wal_lsn()") || return 0; fi
    lsn=${GONE_AT[$member]}
    caught_up=$(sql "SELECT count(*) FROM pg_stat_replication
      WHERE application_name = ANY (string_to_array('$next', ',')) AND flush_lsn >= '$lsn'::pg_lsn") || return 0
    if (( caught_up < SYNC_REPLICAS )); then next+="${next:+,}$member"; fi
  done
  next=$(tr ',' '\n' <<< "$next" | sed '/^$/d' | sort -u | paste -sd, -)
  [ "$next" != "${R[sync]}" ] && changed=true
  if $changed && record_update "sync=$next"; then
    log "synchronous standbys recorded: ${next:-(none)}"
    for member in "${!GONE_AT[@]}"; do
      if [[ ",$next," != *",$member,"* ]]; then unset "GONE_AT[$member]"; fi
    done
  fi
}

# Slots, the synchronous set and the record's timeline need work only when pods come or go, a departed
# synchronous standby is pending, or now and then (MAINTAIN_SECONDS): the sidecar stays light.
LAST_OTHERS="(unknown)"
LAST_MAINTAINED=-1000
maintain_primary() {
  local others
  others=$(other_pods) || return 0
  if [ "$others" = "$LAST_OTHERS" ] && (( SECONDS - LAST_MAINTAINED < MAINTAIN_SECONDS && ${#GONE_AT[@]} == 0 )) \
    && { (( SYNC_REPLICAS == 0 )) || [ "${others//$'\n'/,}" = "${R[sync]}" ]; }; then
    return 0
  fi
  LAST_OTHERS=$others
  LAST_MAINTAINED=$SECONDS
  maintain_slots "$others"
  if (( SYNC_REPLICAS > 0 )); then maintain_sync_set "$others"; fi
  record_timeline
}

# A replica that has not streamed for a while although the primary answers: if the primary no longer has
# the WAL segment this replica needs next (its slot was invalidated past max_slot_wal_keep_size, or it
# was made after the replica fell behind), only a new clone helps.
LAST_STREAMING=$SECONDS
LAST_WAL_CHECK=-1000
check_replica_wal() {
  local pos gone
  # Every few seconds is enough to notice WAL_CHECK_SECONDS without streaming.
  (( SECONDS - LAST_WAL_CHECK >= 3 )) || return 0
  LAST_WAL_CHECK=$SECONDS
  if [ "$(sql "SELECT $STREAMED_A_SECOND_SQL")" = t ]; then
    LAST_STREAMING=$SECONDS
    return 0
  fi
  (( SECONDS - LAST_STREAMING >= WAL_CHECK_SECONDS )) || return 0
  [ "${R[state]}" = stable ] && [ -n "${R[primary]}" ] && [ "${R[primary]}" != "$POD_NAME" ] || return 0
  pos=$(sql "SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())") || return 0
  gone=$(psql "host=$PRIMARY_HOST user=$NETWORK_USER dbname=postgres" -XAtq -c "SELECT NOT pg_is_in_recovery() AND NOT EXISTS (
      SELECT 1 FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' AND substr(name, 9, 16) = substr(pg_walfile_name('$pos'), 9, 16))" \
    2> /dev/null) || return 0
  [ "$gone" = t ] || return 0
  log "not streaming for $((SECONDS - LAST_STREAMING))s, and the primary no longer has the WAL this replica needs ($pos): requesting a new clone"
  touch "$RECLONE_MARKER"
  stop_fast 2> /dev/null || true
  LAST_STREAMING=$SECONDS
}

# Sleeps POLL_SECONDS, or less: when the record changes (the watcher writes a line into the FIFO), when the
# entrypoint asks for a fresh read of the record (it decides only on a copy read after it started), or, after a
# round that asked for it (SOON), 10 ms.
SOON=false
AWAIT_SERVER=false
nap() {
  local tenths
  if $SOON; then
    SOON=false
    read -r -t 0.01 -u "$NAP_FD" _ || true
    return 0
  fi
  for ((tenths = 0; tenths < POLL_SECONDS * 10; tenths++)); do
    if [ -e "$RECORD_FILE.wanted" ]; then
      rm -f "$RECORD_FILE.wanted"
      RECORD_WANTED=true
      return 0
    fi
    # While PostgreSQL is not serving, its start ends the nap (a new primary is recorded and labelled at once).
    if $AWAIT_SERVER && server_ready; then return 0; fi
    # A tenth of a second without a process of its own, or less: a line from the watcher (the record changed) ends it.
    if read -r -t 0.1 -u "$NAP_FD" _; then return 0; fi
  done
}

# Whether a live postmaster's postmaster.pid says that it accepts connections (bash alone: no process started).
server_ready() {
  local lines=()
  [ -r "$PGDATA/postmaster.pid" ] && mapfile -t -n 8 lines 2> /dev/null < "$PGDATA/postmaster.pid" || return 1
  [ "${lines[7]:-}" != "" ] && [ "${lines[7]// /}" = ready ] && kill -0 "${lines[0]:-0}" 2> /dev/null
}

# Writes a line to standard output at every change of the record (a watch, started again when it ends).
watch_record() {
  local child=""
  trap 'if [ -n "$child" ]; then kill "$child" 2> /dev/null; fi; exit 0' TERM INT
  while true; do
    record_watch 2> /dev/null &
    child=$!
    wait "$child" || true
    sleep "$POLL_SECONDS"
  done
}

# Whether the record lets this pod be a primary: it names it, or a failover job is promoting it. While the sidecars
# switch over, no pod may (the target is named once it is sure to hold every commit).
authorized() {
  [ "${R[found]}" = yes ] || return 1
  if [ "${R[state]}" = stable ]; then [ "${R[primary]}" = "$POD_NAME" ]; return; fi
  [ "${R[state]}" = failing-over ] && [ "${R[target]}" = "$POD_NAME" ]
}

applied="(unknown)"
last_applied=0
label() {
  local now=$SECONDS
  if [ "$1" != "$applied" ] || (( now - last_applied >= REASSERT_SECONDS )); then
    if apply_label "$1"; then
      if [ "$1" != "$applied" ]; then log "$ROLE_LABEL=${1:-(none)} (PostgreSQL is ${role:-not serving}; $(record_describe))"; fi
      applied=$1
      last_applied=$now
    else
      log "could not update the label; retrying"
    fi
  fi
}

main() {
  local role started last_read=$SECONDS api=up watcher
  rm -f /tmp/nap.fifo
  mkfifo /tmp/nap.fifo
  exec {NAP_FD}<> /tmp/nap.fifo
  # Each change of the record wakes the loop at once; the loop still reads the record every POLL_SECONDS.
  watch_record >&"$NAP_FD" &
  watcher=$!
  # The pod is going away (or this sidecar is restarted): the write Service follows the label alone, so it goes first.
  trap 'kill "$watcher" 2> /dev/null; if [ -n "$applied" ]; then apply_label "" 2> /dev/null || true; fi; exit 0' TERM INT
  log "watching $PGDATA and leader record $LEADER_RECORD; label \"$ROLE_LABEL\""
  while true; do
    started=${EPOCHREALTIME/./}
    if read_passwords; then write_passfile || log "could not write $PGPASSFILE; retrying"; fi
    reload_renewed_certificate
    if record_read; then
      last_read=$SECONDS
      write_record_file "$started"
      if [ "$api" != up ]; then log "the API answers again: $(record_describe)"; api=up; fi
    elif [ "$api" = up ]; then
      log "cannot read the leader record: $RECORD_ERROR"
      api=down
    fi
    observed_role
    role=$ROLE
    AWAIT_SERVER=false
    if [ -z "$role" ] && ! server_ready; then AWAIT_SERVER=true; fi
    if [ "$api" = up ]; then
      case "$role" in
        primary)
          if [ "${R[found]}" = no ]; then
            create_record
          elif ! authorized; then
            fence_local "the leader record does not name this pod ($(record_describe))"
          elif [ "${R[state]}" = stable ]; then
            label primary
            maintain_primary
            apply_credentials
            ensure_stanza
          fi
          ;;
        replica)
          if [ "${R[found]}" = yes ] && [ "${R[state]}" = stable ] && [ "${R[primary]}" = "$POD_NAME" ]; then
            promote_named
          elif [ "${R[state]:-}" = switching-over ] && [ "${R[target]}" = "$POD_NAME" ] && [ -n "${R[checkpoint]}" ]; then
            label replica
            take_over_switchover
          else
            label replica
            follow_new_primary
            report_shutdown_checkpoint
            check_replica_wal
          fi
          ;;
        *)
          label ""
          report_shutdown_checkpoint
          ;;
      esac
    elif [ "$role" = primary ] && (( SECONDS - last_read >= ISOLATION_FENCE_SECONDS )); then
      fence_local "the leader record could not be read for $((SECONDS - last_read))s (isolated from the API?)"
    fi
    nap
  done
}

main "$@"
