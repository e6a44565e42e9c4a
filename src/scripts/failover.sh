#!/usr/bin/env bash
# The failover job. It leaves exactly one primary:
#   1. surveys every pod (role and WAL position, through pg-node.sh status);
#   2. picks the target: FAILOVER_TARGET if set, else - only when no healthy
#      primary exists - the replica with the most WAL, once every replica has
#      written what was still on its way from the lost primary;
#   3. fences every other primary (label removed, standby.signal, fast stop) and
#      removes the role label of pods it cannot reach;
#   4. promotes the target and labels it role=primary;
#   5. looks again, and fences any primary that came back meanwhile;
#   6. waits for the replicas to stream from the new primary: a WAL receiver that
#      does not is told to reconnect, a replica that cannot is restarted (its
#      entrypoint rewinds it onto the new timeline).
# Running it twice does no harm: with a healthy primary and no other target it does nothing.
set -euo pipefail

: "${CLUSTER_SELECTOR:?CLUSTER_SELECTOR must select the pods of the cluster}"
: "${NODE_SCRIPT:=/opt/postgres-cluster/pg-node.sh}"
: "${POSTGRES_CONTAINER:=postgres}"
: "${ROLE_LABEL:=role}"
: "${FENCE_TIMEOUT_SECONDS:=60}"
# How long replicas may take to write the WAL that was in flight when the primary was lost.
: "${SETTLE_SECONDS:=5}"
# How long replicas may take to stream from the new primary before they are restarted.
: "${FOLLOW_TIMEOUT_SECONDS:=15}"
TARGET=${FAILOVER_TARGET:-}

declare -a PODS=()
declare -A ROLE=() LSN=() RECEIVER=() TIMELINE=()

log() { printf '%s failover: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
refuse() { log "REFUSED: $*"; exit 1; }

on_node() {
  local pod=$1
  shift
  kubectl exec "$pod" -c "$POSTGRES_CONTAINER" -- bash "$NODE_SCRIPT" "$@"
}

node_state() { on_node "$1" status 2> /dev/null || echo "unreachable 0/0 none 0"; }

lsn_number() { echo $(( (16#${1%/*} << 32) | 16#${1#*/} )); }

survey() {
  local dir pod
  dir=$(mktemp -d)
  mapfile -t PODS < <(kubectl get pods -l "$CLUSTER_SELECTOR" -o name | sed 's|^pod/||')
  (( ${#PODS[@]} > 0 )) || refuse "no pods match $CLUSTER_SELECTOR"
  for pod in "${PODS[@]}"; do
    node_state "$pod" > "$dir/$pod" &
  done
  wait
  for pod in "${PODS[@]}"; do
    read -r "ROLE[$pod]" "LSN[$pod]" "RECEIVER[$pod]" "TIMELINE[$pod]" < "$dir/$pod"
  done
  rm -rf "$dir"
}

describe() {
  local pod
  for pod in "${PODS[@]}"; do printf '%s=%s@%s ' "$pod" "${ROLE[$pod]}" "${LSN[$pod]}"; done
}

pods_with_role() {
  local pod
  for pod in "${PODS[@]}"; do
    if [ "${ROLE[$pod]}" = "$1" ]; then echo "$pod"; fi
  done
}

pods_with_receiver() {
  local pod
  for pod in $(pods_with_role replica); do
    if [ "${RECEIVER[$pod]}" = "$1" ]; then echo "$pod"; fi
  done
}

most_advanced_replica() {
  local pod best="" best_lsn=-1 lsn
  for pod in $(pods_with_role replica); do
    lsn=$(lsn_number "${LSN[$pod]}")
    if (( lsn > best_lsn )); then best=$pod; best_lsn=$lsn; fi
  done
  [ -n "$best" ] && echo "$best"
}

# With the primary lost, replicas may still be writing WAL that was on its way: compare them once their WAL
# receivers have let go of the lost primary and their positions stop moving.
settle() {
  local before deadline=$((SECONDS + SETTLE_SECONDS))
  before=$(describe)
  while (( SECONDS < deadline )); do
    sleep 0.2
    survey
    if [ "$(describe)" = "$before" ] && [ -z "$(pods_with_receiver streaming)" ]; then return 0; fi
    before=$(describe)
  done
  log "replicas still receive after ${SETTLE_SECONDS}s ($(pods_with_receiver streaming)); comparing them as they are now"
}

choose_target() {
  local -a primaries
  local best
  mapfile -t primaries < <(pods_with_role primary)
  if [ -n "$TARGET" ]; then
    [ -n "${ROLE[$TARGET]+set}" ] || refuse "FAILOVER_TARGET $TARGET is not a pod of this cluster (pods: ${PODS[*]})"
    case "${ROLE[$TARGET]}" in
      primary | replica) ;;
      *) refuse "FAILOVER_TARGET $TARGET is not healthy (it is ${ROLE[$TARGET]}); choose another replica" ;;
    esac
  elif (( ${#primaries[@]} == 1 )); then
    log "primary ${primaries[0]} is healthy: nothing to do. For a planned switchover, set FAILOVER_TARGET to the replica to promote."
    kubectl label pod "${primaries[0]}" "$ROLE_LABEL=primary" --overwrite > /dev/null
    exit 0
  elif (( ${#primaries[@]} > 1 )); then
    refuse "${#primaries[@]} primaries are running (${primaries[*]}): set FAILOVER_TARGET to the one to keep"
  fi
  if (( ${#primaries[@]} == 0 )); then
    settle
    best=$(most_advanced_replica) || refuse "no healthy replica to promote ($(describe)); nothing was changed"
    if [ -z "$TARGET" ]; then
      TARGET=$best
    elif [ "$TARGET" != "$best" ] && (( $(lsn_number "${LSN[$best]}") > $(lsn_number "${LSN[$TARGET]}") )); then
      log "WARNING: $best has more WAL than FAILOVER_TARGET $TARGET; what only $best has is lost, and $best is rewound when it restarts"
    fi
  fi
}

fence() {
  local pod=$1 state deadline
  log "fencing $pod: removing its $ROLE_LABEL label, then restarting it as a replica"
  kubectl label pod "$pod" "$ROLE_LABEL-" > /dev/null
  # The container exits with PostgreSQL, so this exec may end abruptly; the state below is what counts.
  on_node "$pod" fence > /dev/null 2>&1 || true
  deadline=$((SECONDS + FENCE_TIMEOUT_SECONDS))
  while (( SECONDS < deadline )); do
    state=$(node_state "$pod")
    if [ "${state%% *}" != primary ]; then
      log "$pod is fenced (now ${state%% *})"
      return 0
    fi
    sleep 0.2
  done
  refuse "$pod is still a primary ${FENCE_TIMEOUT_SECONDS}s after fencing; promoting nobody"
}

promote() {
  local out
  log "promoting $TARGET (WAL ${LSN[$TARGET]})"
  out=$(on_node "$TARGET" promote) || refuse "promoting $TARGET failed: $out"
  kubectl label pod "$TARGET" "$ROLE_LABEL=primary" --overwrite > /dev/null
  log "$TARGET is the primary ($out)"
}

# Pods that cannot answer cannot serve: they lose their role label, so no Service sends them clients.
unlabel_unreachable() {
  local pod
  for pod in "${PODS[@]}"; do
    case "${ROLE[$pod]}" in
      unreachable | down) kubectl label pod "$pod" "$ROLE_LABEL-" > /dev/null 2>&1 || true ;;
    esac
  done
}

# Every reachable replica should stream the new primary's timeline. A WAL receiver that does not is told to
# connect again every few seconds; a replica that still cannot (it replayed WAL the new primary never had) is
# restarted, and its entrypoint rewinds it.
wait_for_followers() {
  local pod started=$SECONDS next_nudge=$((SECONDS + 3))
  local -a lagging
  while true; do
    survey
    lagging=()
    for pod in $(pods_with_role replica); do
      if [ "${RECEIVER[$pod]}" != streaming ] || [ "${TIMELINE[$pod]}" != "${TIMELINE[$TARGET]}" ]; then lagging+=("$pod"); fi
    done
    if (( ${#lagging[@]} == 0 )); then return 0; fi
    if (( SECONDS - started >= FOLLOW_TIMEOUT_SECONDS )); then break; fi
    if (( SECONDS >= next_nudge )); then
      for pod in "${lagging[@]}"; do
        log "$pod does not stream timeline ${TIMELINE[$TARGET]} yet (receiver ${RECEIVER[$pod]}): reconnecting its WAL receiver"
        on_node "$pod" reconnect > /dev/null 2>&1 || true
      done
      next_nudge=$((SECONDS + 3))
    fi
    sleep 0.5
  done
  for pod in "${lagging[@]}"; do
    log "$pod does not stream timeline ${TIMELINE[$TARGET]} from $TARGET: restarting it so that its entrypoint rewinds it"
    on_node "$pod" restart > /dev/null 2>&1 || true
  done
}

main() {
  local pod
  survey
  log "cluster: $(describe)"
  choose_target
  for pod in $(pods_with_role primary); do
    if [ "$pod" != "$TARGET" ]; then fence "$pod"; fi
  done
  unlabel_unreachable
  if [ "${ROLE[$TARGET]}" = primary ]; then
    kubectl label pod "$TARGET" "$ROLE_LABEL=primary" --overwrite > /dev/null
    log "$TARGET is the only primary"
  else
    promote
  fi
  survey
  for pod in $(pods_with_role primary); do
    if [ "$pod" != "$TARGET" ]; then
      log "$pod became a primary during the failover"
      fence "$pod"
    fi
  done
  wait_for_followers
  log "done: $TARGET is the primary; cluster: $(describe)"
}

main "$@"
