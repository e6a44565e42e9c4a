#!/usr/bin/env bash
# R is for the script that sources this file: it is set here and read there.
# shellcheck disable=SC2034
# The leader record: one coordination.k8s.io/v1 Lease per cluster, the single source of truth of who
# is primary. Read here (record_read) by the archive backup job; the agent (the sidecars and the failover job) reads and
# writes it (src/agent/record.ts). Its fields are annotations "postgres.cdk8s.io/<field>"; spec.holderIdentity mirrors the
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
# The agent changes it only by compare-and-swap on metadata.resourceVersion (a merge patch that carries it).
set -euo pipefail

: "${LEADER_RECORD:?LEADER_RECORD must name the leader Lease}"
: "${KUBECTL:=kubectl}"
: "${API_TIMEOUT:=2s}"

RECORD_PREFIX=postgres.cdk8s.io
RECORD_FIELDS=(state primary epoch timeline system-identifier sync target previous job checkpoint)
# The record read last, for the sourcing script (archive-backup.sh).
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
