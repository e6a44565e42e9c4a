#!/usr/bin/env bash
# The logical backup, run by the CronJob <name>-backup: pg_dump of the application's database through the write
# Service (the primary: a dump from a replica may be cancelled by recovery conflicts), in pg_dump's custom format,
# onto the backup volume as <database>-<UTC time>.dump. A dump is written under a temporary name and renamed only
# once pg_dump has finished and flushed it, so that a file with the final name is always whole; then only the newest
# BACKUP_RETENTION dumps are kept. Restore one with pg_restore (README, "Backups").
# Connection: the libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE); the password in PGPASSWORD, from
# the application's Secret, never on a command line.
set -euo pipefail

: "${PGHOST:?PGHOST must name the write Service}"
: "${PGDATABASE:?PGDATABASE must name the database to dump}"
: "${BACKUP_DIR:?BACKUP_DIR must name the backup volume}"
: "${BACKUP_RETENTION:=7}"
: "${POD_NAME:=${HOSTNAME:-backup}}"
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}

LOG_NAME="$POD_NAME backup"
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $BACKUP_RETENTION =~ ^[1-9][0-9]*$ ]] || { log "BACKUP_RETENTION must be a whole number of dumps, at least 1 (not \"$BACKUP_RETENTION\")"; exit 2; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
target="$BACKUP_DIR/$PGDATABASE-$stamp.dump"
partial="$BACKUP_DIR/.$PGDATABASE-$stamp.dump.partial"
# A run that fails (or is stopped) leaves nothing behind; one that was killed outright, the next run removes.
rm -f "$BACKUP_DIR"/.*.dump.partial
trap 'rm -f "$partial"' EXIT
log "dumping database $PGDATABASE from $PGHOST as $PGUSER into $target"
started=$SECONDS
pg_dump --format=custom --file="$partial" --no-password
sync -f "$partial"
mv "$partial" "$target"
log "dump complete: $(du -h "$target" | cut -f1) in $((SECONDS - started)) s"

# The newest BACKUP_RETENTION dumps stay (names sort by time).
mapfile -t dumps < <(find "$BACKUP_DIR" -maxdepth 1 -name "$PGDATABASE-*.dump" -printf '%f\n' | sort -r)
for old in "${dumps[@]:BACKUP_RETENTION}"; do
  log "removing $old (keeping the newest $BACKUP_RETENTION)"
  rm -f "$BACKUP_DIR/$old"
done
