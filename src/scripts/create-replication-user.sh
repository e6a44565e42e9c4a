#!/usr/bin/env bash
# Runs once, on the first primary, while the cluster is initialized: makes sure that the role replicas stream
# with exists (the entrypoint creates it first, with the grants pg_rewind needs; this script is the reference
# design's, kept for clusters whose init scripts expect it). Its password comes from the Secret
# (POSTGRES_REPLICATION_PASSWORD), never from a literal in a manifest nor a command line: psql reads it on stdin.
set -euo pipefail

: "${REPLICATION_USER:=replicator}"
: "${POSTGRES_REPLICATION_PASSWORD:?POSTGRES_REPLICATION_PASSWORD must come from the Secret}"

# From /docker-entrypoint-initdb.d, the entrypoint's own scripts are in CLUSTER_SCRIPTS_DIR (it says where).
LOG_NAME="init ${0##*/}"
# shellcheck source=SCRIPTDIR/common.sh
source "${CLUSTER_SCRIPTS_DIR:-/opt/postgres-cluster}/common.sh"

psql -X -q <<SQL
\\set ON_ERROR_STOP 1
\\set user $(psql_quote "$REPLICATION_USER")
\\set password $(psql_quote "$POSTGRES_REPLICATION_PASSWORD")
SELECT format('CREATE ROLE %I WITH REPLICATION LOGIN PASSWORD %L', :'user', :'password')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \\gexec
SQL
