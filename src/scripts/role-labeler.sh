#!/usr/bin/env bash
# Sidecar of every postgres pod: keeps the pod's role label equal to what its
# PostgreSQL server is, so that the write and read Services follow the servers,
# also after the pod is recreated. PostgreSQL itself says what it is: a server
# accepts connections when line 8 of postmaster.pid is "ready" and its port
# answers, and global/pg_control records whether it is in production (a primary)
# or in archive recovery (a replica). A server that is down, starting or stopping
# gets no label.
set -euo pipefail

: "${POD_NAME:?POD_NAME must name this pod}"
: "${PGDATA:?PGDATA must name the data directory}"
: "${PGPORT:=5432}"
: "${ROLE_LABEL:=role}"
: "${POLL_SECONDS:=1}"
# Labels are re-applied this often even without a change, in case someone edited them.
: "${REASSERT_SECONDS:=30}"

log() { printf '%s %s role-labeler: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$POD_NAME" "$*" >&2; }

# The DBState of pg_control: a 4-byte enum at offset 16 (after the system identifier, pg_control_version and
# catalog_version_no) in every PostgreSQL release since 9.x; 5 is DB_IN_ARCHIVE_RECOVERY, 6 DB_IN_PRODUCTION.
control_state() {
  od -An -tu4 -j16 -N4 "$PGDATA/global/pg_control" 2> /dev/null | tr -d ' '
}

observed_role() {
  local status=""
  if [ -r "$PGDATA/postmaster.pid" ]; then
    status=$(sed -n 8p "$PGDATA/postmaster.pid" 2> /dev/null | tr -d ' ')
  fi
  # postmaster.pid outlives a killed server: only a listening server counts.
  if [ "$status" != ready ] || ! (exec 3<> "/dev/tcp/127.0.0.1/$PGPORT") 2> /dev/null; then
    return 0
  fi
  case "$(control_state)" in
    6) echo primary ;;
    5) echo replica ;;
  esac
}

apply_label() {
  if [ -n "$1" ]; then
    kubectl label pod "$POD_NAME" "$ROLE_LABEL=$1" --overwrite > /dev/null
  else
    kubectl label pod "$POD_NAME" "$ROLE_LABEL-" > /dev/null
  fi
}

main() {
  local applied="(unknown)" role now last_applied=0
  trap 'exit 0' TERM INT
  log "watching $PGDATA/postmaster.pid; label \"$ROLE_LABEL\""
  while true; do
    role=$(observed_role)
    now=$(date +%s)
    if [ "$role" != "$applied" ] || (( now - last_applied >= REASSERT_SECONDS )); then
      if apply_label "$role"; then
        if [ "$role" != "$applied" ]; then log "$ROLE_LABEL=${role:-(none)} (PostgreSQL is ${role:-not serving})"; fi
        applied=$role
        last_applied=$now
      else
        log "could not update the label; retrying"
      fi
    fi
    sleep "$POLL_SECONDS" &
    wait $!
  done
}

main "$@"
