#!/usr/bin/env bash
# Sourced by every script of the cluster (entrypoint, sidecar, pg-node.sh, failover job): what they share.
# Each sets LOG_NAME (what its log lines are prefixed with) before sourcing it.
set -euo pipefail

# PostgreSQL's own programs first. The postgres image puts their directory last on PATH, behind Debian's
# pg_wrapper (/usr/bin/psql, pg_isready, pg_basebackup): a Perl script that costs ~70 ms of CPU per call.
if [ -n "${PG_MAJOR:-}" ] && [ -d "/usr/lib/postgresql/$PG_MAJOR/bin" ]; then
  PATH="/usr/lib/postgresql/$PG_MAJOR/bin:$PATH"
fi

# One line on stderr with the UTC time to the millisecond, from bash's own clock (no process per line).
log() {
  local now=$EPOCHREALTIME micros
  micros=${now#*.}
  TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%S)T.%sZ %s: %s\n' "${now%.*}" "${micros:0:3}" "${LOG_NAME:-postgres-cluster}" "$*" >&2
}

# A value for a libpq password file, whose fields are separated by ":" and escape with "\".
pgpass_escape() {
  local value=${1//\\/\\\\}
  printf '%s' "${value//:/\\:}"
}

# A fast shutdown of the server in $PGDATA, waited for in steps of 10 ms (pg_ctl --wait looks every 100 ms): done
# when postmaster.pid is gone, as pg_ctl judges it, or its process has died (/proc: the sidecar, another user in
# the pod's shared process namespace, may not signal it). Fails after 60 s.
stop_fast() {
  local pid i
  pid=$(head -n 1 "$PGDATA/postmaster.pid" 2> /dev/null) || return 0
  pg_ctl stop --pgdata="$PGDATA" --mode=fast --no-wait > /dev/null || return 1
  for ((i = 0; i < 6000; i++)); do
    if [ ! -e "$PGDATA/postmaster.pid" ] || [ ! -d "/proc/$pid" ]; then return 0; fi
    sleep 0.01
  done
  return 1
}

# The replication slot of a pod: its name with "_" for "-" (slot names allow [a-z0-9_]).
slot_of() { printf '%s' "${1//-/_}"; }

# Whether this server's WAL receiver has streamed for a second (SQL, true or false): one that fails at once,
# its WAL gone from the primary, is "streaming" for a moment.
# shellcheck disable=SC2034 # used by the scripts that source this file
STREAMED_A_SECOND_SQL="EXISTS (SELECT 1 FROM pg_stat_wal_receiver AS r JOIN pg_stat_activity AS a USING (pid)
  WHERE r.status = 'streaming' AND a.backend_start < clock_timestamp() - interval '1 second')"
