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

# kubectl "$@", bounded by API_TIMEOUT (default 2s) with coreutils' timeout. Never --request-timeout: kubectl then
# ignores the pod's service account (in-cluster configuration) and dials localhost:8080 (kubernetes/kubernetes#93474).
# A call that timed out exits 124 and says so on stderr.
kubectl_bounded() {
  local status=0
  timeout "${API_TIMEOUT:-2s}" "${KUBECTL:-kubectl}" "$@" || status=$?
  if ((status == 124)); then echo "kubectl $1: no answer from the API server within ${API_TIMEOUT:-2s}" >&2; fi
  return "$status"
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
# its WAL gone from the primary, is "streaming" for a moment. A receiver that started "in the future" began before the
# wall clock was stepped back (NTP): it has streamed since before the step, and counts.
# shellcheck disable=SC2034 # used by the scripts that source this file
STREAMED_A_SECOND_SQL="EXISTS (SELECT 1 FROM pg_stat_wal_receiver AS r JOIN pg_stat_activity AS a USING (pid)
  WHERE r.status = 'streaming' AND (a.backend_start < clock_timestamp() - interval '1 second' OR a.backend_start > clock_timestamp()))"

# Replaces the pod's libpq password file ($PGPASSFILE) whole (rename), readable by its owner only (libpq ignores a
# file that others may read): a line for the replication role, then one for the superuser. Arguments: replication
# role, its password, superuser, its password. The entrypoint writes it at start, the sidecar when a Secret changes.
write_password_file() {
  (
    umask 077
    printf '*:*:*:%s:%s\n*:*:*:%s:%s\n' "$(pgpass_escape "$1")" "$(pgpass_escape "$2")" "$(pgpass_escape "$3")" "$(pgpass_escape "$4")" \
      > "$PGPASSFILE.$$" && mv -f "$PGPASSFILE.$$" "$PGPASSFILE"
  )
}

# A value for a psql \set between single quotes: "\" and "'" escaped.
psql_quote() {
  local value=${1//\\/\\\\}
  printf "'%s'" "${value//\'/\\\'}"
}

# The SQL (for psql, as the superuser over the Unix socket; read from its standard input, never a command line) that
# makes the roles what the Secrets say, and can run again and again: the replication role (created if missing: an
# init script may have made it), with what pg_rewind and the sidecars need over the network instead of the superuser
# (pg_monitor; pg_checkpoint on PostgreSQL 15+; pg_rewind's file functions); the application role, owner of the
# application database; the passwords of all three. Its commits do not wait for a synchronous standby (none may stream
# yet; a new primary's sidecar applies them again). Arguments: superuser, replication and application passwords.
# Environment: POSTGRES_USER, REPLICATION_USER, APP_USER (none if empty), APP_DATABASE. The server version (for
# pg_checkpoint) is the server's own, read by the SQL.
credentials_sql() {
  printf '\\set ON_ERROR_STOP 1\nSET client_min_messages = warning;\nSET synchronous_commit = local;\nSET statement_timeout = 10000;\n\\set superuser %s\n\\set superuser_password %s\n' \
    "$(psql_quote "$POSTGRES_USER")" "$(psql_quote "$1")"
  printf '\\set repl_user %s\n\\set repl_password %s\n' "$(psql_quote "$REPLICATION_USER")" "$(psql_quote "$2")"
  cat <<'SQL'
SELECT format('CREATE ROLE %I WITH REPLICATION LOGIN', :'repl_user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'repl_user') \gexec
ALTER ROLE :"repl_user" WITH REPLICATION LOGIN PASSWORD :'repl_password';
ALTER ROLE :"superuser" WITH PASSWORD :'superuser_password';
GRANT pg_monitor TO :"repl_user";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO :"repl_user";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO :"repl_user";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO :"repl_user";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO :"repl_user";
SELECT format('GRANT pg_checkpoint TO %I', :'repl_user') WHERE current_setting('server_version_num')::int >= 150000 \gexec
SQL
  if [ -n "${APP_USER:-}" ]; then
    printf '\\set app_user %s\n\\set app_password %s\n\\set app_database %s\n' \
      "$(psql_quote "$APP_USER")" "$(psql_quote "$3")" "$(psql_quote "$APP_DATABASE")"
    cat <<'SQL'
SELECT format('CREATE ROLE %I WITH LOGIN', :'app_user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user') \gexec
ALTER ROLE :"app_user" WITH LOGIN PASSWORD :'app_password';
SELECT format('CREATE DATABASE %I OWNER %I', :'app_database', :'app_user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_database') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'app_database', :'app_user') FROM pg_database
  WHERE datname = :'app_database' AND datdba = (SELECT oid FROM pg_roles WHERE rolname = :'superuser') \gexec
SQL
  fi
}
