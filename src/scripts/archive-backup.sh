#!/usr/bin/env bash
# A pgBackRest backup (walArchive), run by the CronJobs <name>-archive-full and <name>-archive-diff: in the postgres
# container of the pod that the leader record names as the primary (kubectl exec), where the data directory and the
# repository's volume are. Never during a failover: the record must be stable. If the pod stops being the primary
# meanwhile, pgBackRest itself refuses (it backs up a primary only) and the job fails; a retry finds the new one.
# Creates the stanza first if the primary's sidecar has not yet (stanza-create changes nothing when it exists).
set -euo pipefail

: "${BACKUP_TYPE:?BACKUP_TYPE must be full, diff or incr}"
: "${ARCHIVE_STANZA:?ARCHIVE_STANZA must name the pgBackRest stanza (the cluster)}"
: "${PGBACKREST_CONFIG:?PGBACKREST_CONFIG must name pgbackrest.conf in the postgres container}"
: "${POSTGRES_CONTAINER:=postgres}"
: "${POD_NAME:=${HOSTNAME:-archive-backup}}"

# shellcheck source=SCRIPTDIR/leader-record.sh
source "$(dirname "${BASH_SOURCE[0]}")/leader-record.sh"
LOG_NAME="$POD_NAME archive-backup"
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fail() { log "FAILED: $*"; exit 1; }

case "$BACKUP_TYPE" in
  full | diff | incr) ;;
  *) log "BACKUP_TYPE must be full, diff or incr (not \"$BACKUP_TYPE\")"; exit 2 ;;
esac

record_read || fail "cannot read the leader record $LEADER_RECORD: $RECORD_ERROR"
[ "${R[found]}" = yes ] || fail "the leader record $LEADER_RECORD does not exist: the cluster has no primary yet"
if [ "${R[state]}" != stable ] || [ -z "${R[primary]}" ]; then
  fail "a failover job holds the leader record (state ${R[state]}): no backup now; the next try finds the new primary"
fi
primary=${R[primary]}

on_primary() { "$KUBECTL" exec "$primary" -c "$POSTGRES_CONTAINER" -- pgbackrest --config="$PGBACKREST_CONFIG" --stanza="$ARCHIVE_STANZA" "$@"; }

log "$BACKUP_TYPE backup of stanza $ARCHIVE_STANZA on the primary, $primary (epoch ${R[epoch]})"
started=$SECONDS
on_primary stanza-create || fail "stanza-create on $primary failed"
# The archive works (a WAL switch reaches the repository) before a backup that could not be restored without it.
on_primary check || fail "pgbackrest check on $primary failed: WAL is not archived into the repository (its error is above), so no backup now"
# Right after a promotion pg_control names the old timeline until the first checkpoint on the new one, and pgBackRest,
# which reads pg_control before it starts a backup, refuses ("WAL timeline 2 does not match pg_control timeline 1").
"$KUBECTL" exec "$primary" -c "$POSTGRES_CONTAINER" -- psql -XAtq -c CHECKPOINT > /dev/null || fail "CHECKPOINT on $primary failed"
on_primary --type="$BACKUP_TYPE" backup || fail "the backup on $primary failed"
log "backup complete in $((SECONDS - started)) s"
on_primary info
