#!/usr/bin/env bash
# The heartbeat fence, its own container beside PostgreSQL: a primary whose agent has not confirmed in time that it may
# serve stops taking writes, even when the agent itself cannot act (frozen, killed, restarting in a loop, its node
# frozen and thawed). The agent writes LEASE_DEADLINE_FILE whenever it confirms it (each renewal of the lease with
# automatic failover; each read of a record that names it without): the /proc/uptime (a monotonic clock all the pod's
# containers share), in hundredths of a second, at which that confirmation runs out. Past it, or with no such file
# FENCE_SECONDS after PostgreSQL was first seen serving as a primary, this fences the primary as the agent does:
# standby.signal, then a fast shutdown (SIGINT to the postmaster: the pod shares one process namespace). Nobody takes
# over sooner: a replica waits a lease (at least two seconds more), a failover job that cannot reach the old primary
# twice FENCE_SECONDS. Each look costs no process: the files are read with builtins, the wait is a read with a timeout.
set -euo pipefail
: "${PGDATA:?}" "${LEASE_DEADLINE_FILE:?}" "${FENCE_SECONDS:?}" "${POD_NAME:?}"
: "${CHECK_SECONDS:=0.2}"
LOG_NAME="$POD_NAME lease-fence"
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# A pipe nobody writes to: `read -t` on it is a sleep without a process.
exec {NAP}<> <(:)

# /proc/uptime in hundredths of a second ("12345.67 ..." -> 1234567).
now() {
  local uptime _
  read -r uptime _ < /proc/uptime
  NOW=$((10#${uptime/./}))
}

# A postmaster that says it is ready and is not a standby nor recovering: a primary taking writes. POSTMASTER: its pid.
serving_primary() {
  local -a lines=()
  POSTMASTER=""
  [ -e "$PGDATA/standby.signal" ] || [ -e "$PGDATA/recovery.signal" ] && return 1
  [ -r "$PGDATA/postmaster.pid" ] || return 1
  mapfile -t -n 8 lines 2> /dev/null < "$PGDATA/postmaster.pid" || return 1
  [ "${#lines[@]}" -ge 8 ] && [ "${lines[7]// /}" = ready ] && [ -d "/proc/${lines[0]}" ] || return 1
  POSTMASTER=${lines[0]}
}

# The deadline the agent wrote, or "" when there is none (DEADLINE).
deadline() {
  DEADLINE=""
  if [ -r "$LEASE_DEADLINE_FILE" ]; then read -r DEADLINE 2> /dev/null < "$LEASE_DEADLINE_FILE" || true; fi
  [[ $DEADLINE =~ ^[0-9]+$ ]] || DEADLINE=""
}

fence() {
  log "FENCING this primary: $*"
  : > "$PGDATA/standby.signal"
  kill -INT "$POSTMASTER" 2> /dev/null || true
}

log "watching $PGDATA: a primary whose agent has not confirmed it within ${FENCE_SECONDS}s stops taking writes"
primary_since=""
while :; do
  read -r -t "$CHECK_SECONDS" -u "$NAP" _ || true
  if ! serving_primary; then
    primary_since=""
    continue
  fi
  now
  [ -n "$primary_since" ] || primary_since=$NOW
  deadline
  if [ -n "$DEADLINE" ]; then
    if (( NOW >= DEADLINE )); then fence "its agent has not confirmed it in time (deadline passed $(( (NOW - DEADLINE) / 100 )).$(( (NOW - DEADLINE) % 100 / 10 ))s ago)"; fi
  elif (( NOW - primary_since >= FENCE_SECONDS * 100 )); then
    fence "PostgreSQL has served as a primary for ${FENCE_SECONDS}s and its agent has not confirmed it"
  fi
done
