#!/usr/bin/env bash
# The leader record: one coordination.k8s.io/v1 Lease per cluster, the single source of truth of who
# is primary. Sourced by the failover job; the role-labeler sidecar's agent reads and writes the same format
# (src/agent/record.ts). Its fields are annotations "postgres.cdk8s.io/<field>"; spec.holderIdentity mirrors the
# primary, so `kubectl get lease` shows it:
#   state              stable (the primary serves) | failing-over (a failover job holds the record) |
#                      switching-over (a planned switchover, carried out by the two pods' sidecars: the old
#                      primary fences itself and records its shutdown checkpoint; the target, once it has
#                      received that checkpoint, records itself as the primary and is promoted)
#   primary            the pod that may be primary (empty while failing or switching over)
#   epoch              grows by one on every change of primary, and on every failover attempt
#   timeline           the primary's PostgreSQL timeline when it was recorded
#   system-identifier  the database cluster's identity (pg_control); nothing else may join
#   sync               synchronous mode: the standbys that may confirm commits (comma-separated)
#   target, previous, job   while failing or switching over: the pod to promote, the old primary, the job's pod
#   checkpoint         while switching over: the old primary's shutdown checkpoint, once it has stopped
# Every change is a compare-and-swap on metadata.resourceVersion (a merge patch that carries it): a
# conflict means that someone else changed the record, and the caller re-reads and decides again.
set -euo pipefail

: "${LEADER_RECORD:?LEADER_RECORD must name the leader Lease}"
: "${KUBECTL:=kubectl}"
: "${API_TIMEOUT:=2s}"
if [ -z "${RECORD_LABELS:-}" ]; then RECORD_LABELS="{}"; fi

RECORD_PREFIX=postgres.cdk8s.io
RECORD_FIELDS=(state primary epoch timeline system-identifier sync target previous job checkpoint)
declare -gA R=()
# Why the last record_* call failed (kubectl's message), for the sourcing script's log.
export RECORD_ERROR=""

# Reads the record into R (R[found]=yes|no, R[version], R[<field>]). Returns 0 when the API answered
# (found or not found), 1 when it could not be reached.
record_read() {
  local template out field i=0
  local -a values
  template='{.metadata.resourceVersion}'
  for field in "${RECORD_FIELDS[@]}"; do template+="|{.metadata.annotations.${RECORD_PREFIX//./\\.}/$field}"; done
  if ! out=$(kubectl_bounded get lease "$LEADER_RECORD" -o "jsonpath=$template" 2>&1); then
    RECORD_ERROR=${out//$'\n'/ }
    if [[ $out == *"(NotFound)"* ]]; then
      R=([found]=no [version]="")
      return 0
    fi
    return 1
  fi
  IFS='|' read -r -a values <<< "$out|"
  R=([found]=yes [version]="${values[0]}")
  for field in "${RECORD_FIELDS[@]}"; do
    i=$((i + 1))
    R[$field]=${values[$i]:-}
  done
  return 0
}

record_annotations_json() {
  local json="" pair key
  for pair in "$@"; do
    key=${pair%%=*}
    json+="${json:+,}\"$RECORD_PREFIX/$key\":\"${pair#*=}\""
  done
  printf '{%s}' "$json"
}

# Changes fields of the record read last (key=value ...), only if nobody changed it since.
# Returns 0 when done (R follows), 2 on a conflict, 1 when the API could not be reached. A conflict with a change that
# left every field of the record as read (the primary renewing its lease with automatic failover, an annotation of
# someone's) is no conflict with this change: it is sent again on the Lease's new resourceVersion (5 times at most).
record_update() {
  local pair out holder="" patch attempt field
  local -A read_fields=()
  for pair in "$@"; do
    if [[ $pair == primary=* ]]; then holder=${pair#primary=}; fi
  done
  for field in "${RECORD_FIELDS[@]}"; do read_fields[$field]=${R[$field]:-}; done
  for attempt in 1 2 3 4 5; do
    patch="{\"metadata\":{\"resourceVersion\":\"${R[version]}\",\"annotations\":$(record_annotations_json "$@")}"
    if [[ " $* " == *" primary="* ]]; then patch+=",\"spec\":{\"holderIdentity\":\"$holder\"}"; fi
    patch+="}"
    if out=$(kubectl_bounded patch lease "$LEADER_RECORD" --type=merge -p "$patch" \
      -o 'jsonpath={.metadata.resourceVersion}' 2>&1); then
      R[version]=$out
      for pair in "$@"; do R[${pair%%=*}]=${pair#*=}; done
      return 0
    fi
    RECORD_ERROR=${out//$'\n'/ }
    if [[ $out != *"(Conflict)"* ]]; then return 1; fi
    (( attempt < 5 )) || break
    record_read || return 1
    [ "${R[found]}" = yes ] || return 2
    for field in "${RECORD_FIELDS[@]}"; do
      if [ "${R[$field]}" != "${read_fields[$field]}" ]; then return 2; fi
    done
  done
  return 2
}

# Creates the record with the given fields. Returns 0 when created, 2 when it exists already, 1 when
# the API could not be reached.
record_create() {
  local out pair field holder=""
  for pair in "$@"; do
    if [[ $pair == primary=* ]]; then holder=${pair#primary=}; fi
  done
  if ! out=$(kubectl_bounded create -f - -o 'jsonpath={.metadata.resourceVersion}' 2>&1 <<EOF
{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"$LEADER_RECORD","labels":$RECORD_LABELS,"annotations":$(record_annotations_json "$@")},"spec":{"holderIdentity":"$holder"}}
EOF
  ); then
    RECORD_ERROR=${out//$'\n'/ }
    if [[ $out == *"(AlreadyExists)"* ]]; then return 2; fi
    return 1
  fi
  R=([found]=yes [version]="$out")
  for field in "${RECORD_FIELDS[@]}"; do R[$field]=""; done
  for pair in "$@"; do R[${pair%%=*}]=${pair#*=}; done
  return 0
}

record_describe() {
  if [ "${R[found]:-}" != yes ]; then
    echo "no leader record"
    return
  fi
  printf 'epoch %s, %s, primary %s, timeline %s' "${R[epoch]}" "${R[state]}" "${R[primary]:-(none)}" "${R[timeline]}"
  if [ -n "${R[sync]}" ]; then printf ', synchronous standbys %s' "${R[sync]}"; fi
  if [ "${R[state]}" != stable ]; then printf ' (job %s: %s -> %s)' "${R[job]}" "${R[previous]:-?}" "${R[target]:-?}"; fi
  if [ -n "${R[checkpoint]}" ]; then printf ', shutdown checkpoint %s' "${R[checkpoint]}"; fi
  echo
}

# Prints a line (the record's resourceVersion) now and at every change of the record, until the API ends the
# watch or cannot be reached. A reader wakes on each line; what it decides on, it reads with record_read.
# Run it in the background (`record_watch &`): kubectl replaces the subshell, so that its pid is kubectl's.
record_watch() {
  exec "$KUBECTL" get lease "$LEADER_RECORD" --watch -o 'jsonpath={.metadata.resourceVersion}{"\n"}'
}
