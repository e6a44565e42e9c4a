#!/usr/bin/env bash
# Runs once, on the first primary, while the cluster is initialized: creates the
# role that replicas stream with. Its password comes from the Secret
# (POSTGRES_REPLICATION_PASSWORD), never from a literal in a manifest.
set -euo pipefail

: "${REPLICATION_USER:=replicator}"
: "${POSTGRES_REPLICATION_PASSWORD:?POSTGRES_REPLICATION_PASSWORD must come from the Secret}"

psql -v ON_ERROR_STOP=1 -X -v user="$REPLICATION_USER" -v password="$POSTGRES_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE :"user" WITH REPLICATION LOGIN PASSWORD :'password';
SQL
