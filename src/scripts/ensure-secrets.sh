#!/usr/bin/env bash
# The `secrets` init container of every pod, when the cluster's passwords are generated (neither
# existingSecretName nor passwords in the props): makes sure that the cluster's Secrets exist before PostgreSQL's
# containers start, creating each missing one with random passwords. It never changes a Secret that exists:
# applying dist/ again (nothing in it names these Secrets), restarting pods, or two pods creating the same Secret at
# the same moment (the second gets AlreadyExists) keeps the passwords. To rotate a password, change the Secret: the
# primary's sidecar applies it (README, "Passwords").
#   <name>-secret  password (the superuser's), replication-password
#   <name>-app     username, password, dbname, host, port, uri: what an application connects with
# Passwords reach kubectl on its standard input, never on a command line.
set -euo pipefail

: "${KUBECTL:=kubectl}"
# Either may be empty: that Secret is yours (existingSecretName, existingAppSecretName) or in the YAML.
: "${SECRET_NAME:=}"
: "${APP_SECRET_NAME:=}"
: "${APP_USER:=app}"
: "${APP_DATABASE:=postgres}"
: "${APP_HOST:=localhost}"
: "${PGPORT:=5432}"
if [ -z "${SECRET_LABELS:-}" ]; then SECRET_LABELS="{}"; fi
: "${RETRY_SECONDS:=2}"
: "${PASSWORD_LENGTH:=32}"
: "${POD_NAME:=${HOSTNAME:-unknown}}"

LOG_NAME="$POD_NAME secrets"
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Letters and digits from the kernel's random source: safe in a URI, a passfile and SQL without quoting.
random_password() {
  local password=""
  while (( ${#password} < PASSWORD_LENGTH )); do
    password+=$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')
  done
  printf '%s' "${password:0:PASSWORD_LENGTH}"
}

b64() { printf '%s' "$1" | base64 | tr -d '\n'; }

# The Secret's JSON, from key=value pairs.
secret_json() {
  local name=$1 data="" pair
  shift
  for pair in "$@"; do data+="${data:+,}\"${pair%%=*}\":\"$(b64 "${pair#*=}")\""; done
  printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"%s","labels":%s},"type":"Opaque","data":{%s}}' \
    "$name" "$SECRET_LABELS" "$data"
}

# Returns once the Secret exists: found, created, or created by another pod first.
ensure_secret() {
  local name=$1 out
  shift
  while true; do
    if out=$(API_TIMEOUT=5s kubectl_bounded get secret "$name" -o name 2>&1); then
      log "Secret $name exists: keeping its passwords"
      return 0
    fi
    if [[ $out == *"(NotFound)"* ]]; then
      if out=$(secret_json "$name" "$@" | API_TIMEOUT=5s kubectl_bounded create -f - -o name 2>&1); then
        log "created Secret $name with generated passwords"
        return 0
      fi
      if [[ $out == *"(AlreadyExists)"* ]]; then
        log "Secret $name was created by another pod first: keeping its passwords"
        return 0
      fi
    fi
    log "cannot read or create Secret $name (${out//$'\n'/ }); retrying every ${RETRY_SECONDS}s"
    sleep "$RETRY_SECONDS"
  done
}

if [ -n "$SECRET_NAME" ]; then
  ensure_secret "$SECRET_NAME" "password=$(random_password)" "replication-password=$(random_password)"
fi
if [ -n "$APP_SECRET_NAME" ]; then
  app_password=$(random_password)
  ensure_secret "$APP_SECRET_NAME" "username=$APP_USER" "password=$app_password" "dbname=$APP_DATABASE" \
    "host=$APP_HOST" "port=$PGPORT" "uri=postgresql://$APP_USER:$app_password@$APP_HOST:$PGPORT/$APP_DATABASE"
fi
