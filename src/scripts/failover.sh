#!/usr/bin/env bash
# The failover job. The leader record (leader-record.sh) is the one source of truth: the job changes it
# with compare-and-swap, and every pod's sidecar fences a primary that the record does not name.
#   1. reads the record. If another failover job holds it and still runs, it stops: nothing changed. If
#      a job died holding it, this run resumes: it completes that failover or undoes it.
#   2. a planned switchover whose two pods the API shows ready (the primary labeled primary, the target a
#      streaming replica) needs nothing more; otherwise it surveys the pods (pg-node.sh status through kubectl
#      exec; for a pod it cannot reach, the container state the kubelet reported). With a healthy primary and
#      no other FAILOVER_TARGET it does nothing.
#   3. takes the record: state switching-over or failing-over, a new epoch, its own pod name. From then on no
#      pod may be primary but the target, once it is named.
#   4. planned switchover (the primary serves): writes it into the record (state switching-over) and lets the two
#      pods' sidecars, which watch the record, carry it out without a round trip through this job: the old
#      primary fences itself (fast shutdown, which streams every WAL record out) and records its shutdown
#      checkpoint; the target, once it has received WAL beyond that checkpoint, records itself as the primary
#      and is promoted. If that does not happen in time, the job gives the primary role back to the old
#      primary (compare-and-swap: if the target recorded itself first, the switchover stands) and refuses.
#      unplanned failover (the primary is down): a primary it cannot reach may still run, so it first
#      waits until such a primary must have fenced itself (its sidecar does when it cannot read the
#      record); then, once the replicas have written what was in flight, chooses the most advanced
#      one. In synchronous mode only when it can reach enough of the recorded synchronous standbys to
#      be sure to hold every acknowledged commit (FAILOVER_ACCEPT_DATA_LOSS=true overrides, losing them).
#      It names the chosen replica in the record (state stable), and that pod's sidecar promotes and labels it.
#   5. waits for the replicas to follow the new primary.
# With SCALE_DOWN_TO=N (before `kubectl scale --replicas=N`), a primary on an ordinal that goes away is switched
# over to the most advanced healthy replica that stays, and a FAILOVER_TARGET that would go away is refused.
set -euo pipefail

: "${CLUSTER_SELECTOR:?CLUSTER_SELECTOR must select the pods of the cluster}"
: "${JOB_SELECTOR:?JOB_SELECTOR must select the failover job pods}"
: "${NODE_SCRIPT:=/opt/postgres-cluster/pg-node.sh}"
: "${POSTGRES_CONTAINER:=postgres}"
: "${SIDECAR_CONTAINER:=role-labeler}"
# The sidecar's agent (Node.js), which fences its pod and reports its status: `node $AGENT fence|status full $AGENT_CONFIG`.
: "${AGENT:=/opt/postgres-cluster/agent.js}"
: "${AGENT_CONFIG:=/opt/postgres-cluster/sidecar.json}"
: "${ROLE_LABEL:=role}"
: "${FENCE_TIMEOUT_SECONDS:=60}"
# How long replicas may take to write the WAL that was in flight when the primary was lost.
: "${SETTLE_SECONDS:=5}"
# How long replicas whose WAL receivers the job ended may take to show that they stream again (from a primary that serves).
# Longer than a primary in failsafe mode serves on once a replica stops replying to it (FAILSAFE_FENCE_SECONDS, 3, in
# src/agent/sidecar-agent.ts): one whose replicas did not come back has stopped by then.
: "${RECONNECT_SECONDS:=5}"
# How long a switchover target may take to receive the old primary's last WAL.
: "${SWITCHOVER_TIMEOUT_SECONDS:=10}"
# How long replicas may take to stream from the new primary before they are restarted.
: "${FOLLOW_TIMEOUT_SECONDS:=15}"
# How long the new primary's sidecar may take to promote it once the record names it.
: "${PROMOTE_TIMEOUT_SECONDS:=60}"
# After this long without reading the record, a primary's sidecar fences it (the agent: src/agent/sidecar.ts).
: "${ISOLATION_FENCE_SECONDS:=10}"
: "${SYNC_REPLICAS:=0}"
: "${FAILOVER_ACCEPT_DATA_LOSS:=false}"
: "${POD_NAME:=${HOSTNAME:?POD_NAME or HOSTNAME must name the job pod}}"
TARGET=${FAILOVER_TARGET:-}
# Before `kubectl scale --replicas=N`: the primary must end up on a pod that stays (ordinal below N).
SCALE_DOWN_TO=${SCALE_DOWN_TO:-}

# shellcheck source=SCRIPTDIR/leader-record.sh
source "$(dirname "${BASH_SOURCE[0]}")/leader-record.sh"

declare -a PODS=() FENCED=()
declare -A ROLE=() LSN=() RECEIVER=() TIMELINE=() CHECKPOINT=() API_LABEL=() API_READY=()
PREVIOUS=""
SYNC_SET=""

LOG_NAME=failover
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# The node's monotonic clock (/proc/uptime) in hundredths of a second, into NOW, with builtins only. Never wall time:
# bash's SECONDS follows the wall clock, so a clock stepped forward would end a wait early (the settle, the fence timeout).
now() { local up _; read -r up _ < /proc/uptime; NOW=$((10#${up/./})); }
NOW=0
refuse() { log "REFUSED: $*"; exit 1; }
# The failover happened (the record names the new primary) but did not finish: what a person must look at. Exit 3.
unfinished() { log "UNFINISHED: $*"; exit 3; }
# A command that fails where nothing handles it stops this script (set -e): it says which, rather than exit in silence.
set -E
trap 'log "STOPPED: \"$BASH_COMMAND\" failed (exit code $?, line $LINENO)"' ERR

on_node() {
  local pod=$1
  shift
  "$KUBECTL" exec "$pod" -c "$POSTGRES_CONTAINER" -- bash "$NODE_SCRIPT" "$@"
}

# What the kubelet last reported of a pod's postgres container: running, stopped, or unknown.
container_state() {
  local out
  out=$(kubectl_bounded get pod "$1" \
    -o "jsonpath={.status.containerStatuses[?(@.name==\"$POSTGRES_CONTAINER\")].state.running.startedAt}" 2> /dev/null) || {
    echo unknown
    return
  }
  if [ -n "$out" ]; then echo running; else echo stopped; fi
}

# "<role> <lsn> <receiver> <timeline> <checkpoint>" (pg-node.sh status). A pod that cannot be asked is
# "down" only when the kubelet says its container is not running; otherwise "unreachable": it may well
# be running, and serving.
node_state() {
  if on_node "$1" status 2> /dev/null; then return; fi
  # No checkpoint ("-"): only the node itself can say where its WAL ends.
  case "$(container_state "$1")" in
    stopped) echo "down 0/0 none 0 -" ;;
    *) echo "unreachable 0/0 none 0 -" ;;
  esac
}

lsn_number() { echo $(( (16#${1%/*} << 32) | 16#${1#*/} )); }
known_lsn() { [[ ${LSN[$1]:-?} =~ ^[0-9A-F]+/[0-9A-F]+$ ]]; }

survey_pods() {
  local dir pod
  dir=$(mktemp -d)
  for pod in "$@"; do
    node_state "$pod" > "$dir/$pod" &
  done
  wait
  for pod in "$@"; do
    read -r "ROLE[$pod]" "LSN[$pod]" "RECEIVER[$pod]" "TIMELINE[$pod]" "CHECKPOINT[$pod]" < "$dir/$pod"
  done
  rm -rf "$dir"
}

# The cluster's pods, with their role label and readiness as the API reports them (API_LABEL, API_READY).
list_pods() {
  local name label ready
  PODS=()
  while read -r name label ready; do
    [ -n "$name" ] || continue
    PODS+=("$name")
    API_LABEL[$name]=${label#-}
    API_READY[$name]=$ready
  done < <("$KUBECTL" get pods -l "$CLUSTER_SELECTOR" -o "jsonpath={range .items[*]}{.metadata.name} -{.metadata.labels.${ROLE_LABEL//./\\.}} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}")
  (( ${#PODS[@]} > 0 )) || refuse "no pods match $CLUSTER_SELECTOR"
}

# A pod's role label as the API reports it (empty when it has none, or the API cannot be reached).
role_label_of() {
  kubectl_bounded get pod "$1" -o "jsonpath={.metadata.labels.${ROLE_LABEL//./\\.}}" 2> /dev/null || true
}

# Whether the API shows a switchover's two pods ready to go: the recorded primary labeled primary and ready (its
# sidecar labels it only while PostgreSQL is a primary that the record names), the target labeled replica and
# ready (streaming for a second). The pods themselves have the last word: their sidecars act on the record.
switchover_ready_by_api() {
  [ "${API_LABEL[$PREVIOUS]:-}" = primary ] && [ "${API_READY[$PREVIOUS]:-}" = True ] \
    && [ "${API_LABEL[$TARGET]:-}" = replica ] && [ "${API_READY[$TARGET]:-}" = True ]
}

survey() {
  list_pods
  survey_pods "${PODS[@]}"
}

# Asks the pods that have not been asked yet.
survey_rest() {
  local pod rest=()
  for pod in "${PODS[@]}"; do if [ -z "${ROLE[$pod]:-}" ]; then rest+=("$pod"); fi; done
  if (( ${#rest[@]} > 0 )); then survey_pods "${rest[@]}"; fi
}

describe() {
  local pod
  for pod in "${PODS[@]}"; do printf '%s=%s@%s ' "$pod" "${ROLE[$pod]:-?}" "${LSN[$pod]:-?}"; done
}

is_pod() { [[ " ${PODS[*]} " == *" $1 "* ]]; }

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

job_running() {
  local pods
  pods=$(kubectl_bounded get pods -l "$JOB_SELECTOR" --field-selector=status.phase=Running -o name) || return 0
  grep -qx "pod/$1" <<< "$pods"
}

# Writes the record, or stops: a conflict means that someone else acted meanwhile.
update_record() {
  local rc=0
  record_update "$@" || rc=$?
  case $rc in
    0) return 0 ;;
    2) record_read || true
       refuse "the leader record changed while this job worked ($(record_describe)): someone else acted; run the job again to decide anew" ;;
    *) refuse "cannot update the leader record: $RECORD_ERROR" ;;
  esac
}

# Whether a pod's state says it is fenced: PostgreSQL stopped or back as a replica, with its data directory's
# latest checkpoint read from the node itself (after a fast shutdown, the shutdown checkpoint).
fenced_state() {
  local role checkpoint
  read -r role _ _ _ checkpoint <<< "$1"
  [[ $role == down || $role == replica ]] && [[ $checkpoint =~ ^[0-9A-F]+/[0-9A-F]+$ ]] && [ "$checkpoint" != 0/0 ]
}

fence() {
  local pod=$1 state deadline
  log "fencing $pod: removing its $ROLE_LABEL label, then restarting it as a replica"
  "$KUBECTL" label pod "$pod" "$ROLE_LABEL-" > /dev/null 2>&1 || true
  # Through the sidecar, which shares the pod's processes and data and outlives PostgreSQL's container: it
  # reports the shutdown checkpoint at once. The postgres container's own exec would end with it.
  state=$("$KUBECTL" exec "$pod" -c "$SIDECAR_CONTAINER" -- node "$AGENT" fence "$AGENT_CONFIG" 2> /dev/null | tail -n 1) || true
  now; deadline=$((NOW + FENCE_TIMEOUT_SECONDS * 100))
  while ! fenced_state "$state"; do
    if now; (( NOW >= deadline )); then return 1; fi
    sleep 0.1
    state=$("$KUBECTL" exec "$pod" -c "$SIDECAR_CONTAINER" -- node "$AGENT" status "$AGENT_CONFIG" 2> /dev/null) || state=$(node_state "$pod")
  done
  read -r "ROLE[$pod]" "LSN[$pod]" "RECEIVER[$pod]" "TIMELINE[$pod]" "CHECKPOINT[$pod]" <<< "$state"
  FENCED+=("$pod")
  log "$pod is fenced (now ${ROLE[$pod]}, shutdown checkpoint ${CHECKPOINT[$pod]})"
}

# A planned switchover, carried out by the two pods' sidecars (the agent) as soon as they see it in the record:
# no exec, no round trip through this job on the way. The old primary's label goes at once, so that no client
# reaches it while it stops.
switchover() {
  update_record state=switching-over primary= "epoch=$((R[epoch] + 1))" "previous=$PREVIOUS" "target=$TARGET" "job=$POD_NAME" checkpoint=
  log "took the leader record: $(record_describe)"
  SWITCH_JOB=$POD_NAME
  "$KUBECTL" label pod "$PREVIOUS" "$ROLE_LABEL-" > /dev/null 2>&1 || log "could not remove the $ROLE_LABEL label of $PREVIOUS (its sidecar removes it too)"
  log "promoting $TARGET once it has received the old primary's shutdown checkpoint: $PREVIOUS fences itself and records" \
    "the checkpoint, then $TARGET's sidecar records it as the primary and promotes it"
  await_switchover
}

# Waits for the sidecars to finish the switchover in the record: the old primary's shutdown checkpoint within
# FENCE_TIMEOUT_SECONDS, then the target named as the primary within SWITCHOVER_TIMEOUT_SECONDS; else gives it back.
SWITCH_JOB=""
await_switchover() {
  now; local fence_deadline=$((NOW + FENCE_TIMEOUT_SECONDS * 100)) take_deadline="" announced=""
  while true; do
    if record_read; then
      [ "${R[found]}" = yes ] || refuse "the leader record was deleted while this job worked"
      if [ "${R[state]}" = stable ] && [ "${R[primary]}" = "$TARGET" ]; then
        log "$TARGET is the primary ($(record_describe))"
        return 0
      fi
      if [ "${R[state]}" != switching-over ] || [ "${R[job]}" != "$SWITCH_JOB" ]; then
        refuse "the leader record changed while this job worked ($(record_describe)): someone else acted; run the job again to decide anew"
      fi
      if [ -n "${R[checkpoint]}" ] && [ -z "$announced" ]; then
        log "$PREVIOUS is fenced: its shutdown checkpoint is ${R[checkpoint]}"
        announced=${R[checkpoint]}
        now; take_deadline=$((NOW + SWITCHOVER_TIMEOUT_SECONDS * 100))
      fi
    fi
    if [ -z "$take_deadline" ] && now && (( NOW >= fence_deadline )); then
      give_back "$PREVIOUS did not record a shutdown checkpoint within ${FENCE_TIMEOUT_SECONDS}s (it may be cut off from the API," \
        "or not shut down cleanly)"
    elif [ -n "$take_deadline" ] && now && (( NOW >= take_deadline )); then
      give_back "switchover to $TARGET: it had not received the old primary's shutdown checkpoint $announced after" \
        "${SWITCHOVER_TIMEOUT_SECONDS}s; promoting it would lose commits"
    fi
    sleep 0.02
  done
}

# Gives a switchover up: the record names the old primary again (its sidecar or entrypoint makes it the primary
# again, its data ends at the shutdown checkpoint). Unless the target named itself first: then the switchover stands.
give_back() {
  local reason="$*" rc=0 deadline
  record_update state=stable "primary=$PREVIOUS" "epoch=$((R[epoch] + 1))" target= previous= job= checkpoint= || rc=$?
  if (( rc == 2 )); then
    record_read || true
    if [ "${R[state]:-}" = stable ] && [ "${R[primary]:-}" = "$TARGET" ]; then
      log "$TARGET recorded itself as the primary just now: the switchover stands"
      return 0
    fi
    refuse "the leader record changed while this job worked ($(record_describe)): someone else acted; run the job again to decide anew"
  elif (( rc != 0 )); then
    refuse "cannot update the leader record: $RECORD_ERROR"
  fi
  log "the leader record names $PREVIOUS again ($(record_describe))"
  now; deadline=$((NOW + FENCE_TIMEOUT_SECONDS * 100))
  until [ "$(role_label_of "$PREVIOUS")" = primary ]; do
    if now; (( NOW >= deadline )); then
      refuse "$reason; the leader record names $PREVIOUS again, which is not serving yet: its sidecar and entrypoint make it the primary"
    fi
    sleep 0.1
  done
  refuse "$reason; $PREVIOUS is the primary again, nothing was lost"
}

# With the primary lost, replicas may still be writing WAL that was on its way: compare them once their WAL
# receivers have let go of the lost primary and their positions stop moving. A receiver that no longer streams has
# written all it received (its position counts what it wrote): when none streams, the positions are final.
# A receiver that still streams then is ended (a partitioned node sends no reset, and kube-proxy keeps an established
# connection); one that streams again after that has found a primary behind the write Service: the old one, alive and
# not fenced. Promoting now would make two primaries and take commits the old one acknowledged: the job refuses.
settle() {
  now; local before pod deadline=$((NOW + SETTLE_SECONDS * 100))
  if [ -z "$(pods_with_receiver streaming)" ]; then return 0; fi
  before=$(describe)
  while now; (( NOW < deadline )); do
    sleep 0.2
    survey_pods "${PODS[@]}"
    if [ "$(describe)" = "$before" ] && [ -z "$(pods_with_receiver streaming)" ]; then return 0; fi
    before=$(describe)
  done
  log "replicas still receive after ${SETTLE_SECONDS}s ($(pods_with_receiver streaming)): ending their WAL receivers"
  for pod in $(pods_with_receiver streaming); do on_node "$pod" reconnect > /dev/null 2>&1 || log "could not end the WAL receiver of $pod"; done
  now; deadline=$((NOW + RECONNECT_SECONDS * 100))
  while now; (( NOW < deadline )); do
    sleep 0.5
    survey_pods "${PODS[@]}"
    if [ -z "$(pods_with_receiver streaming)" ]; then return 0; fi
  done
  give_back_down "replicas stream again after their WAL receivers were ended ($(pods_with_receiver streaming)): a primary still serves" \
    "behind the write Service, most likely $PREVIOUS, alive and not fenced; promoting now would make two primaries. Find out why it" \
    "did not fence itself (its sidecar and heartbeat fence), stop it, and run the job again"
}

# The replicas that may be promoted: every healthy one; in synchronous mode, only members of the recorded
# synchronous set (or the old primary itself), and only if enough members answer that one of them holds
# every acknowledged commit: a commit waited for SYNC_REPLICAS of the set's n members, so any n - SYNC_REPLICAS + 1
# of them include one that has it.
healthy_replicas() {
  local pod
  for pod in $(pods_with_role replica); do
    if known_lsn "$pod"; then echo "$pod"; fi
  done
}

eligible_replicas() {
  local pod members=0 reached=0
  local -a reach=()
  if (( SYNC_REPLICAS == 0 )) || [ "$FAILOVER_ACCEPT_DATA_LOSS" = true ] || [ "${ROLE[$PREVIOUS]:-}" = replica ]; then
    healthy_replicas
    return 0
  fi
  for pod in ${SYNC_SET//,/ }; do
    members=$((members + 1))
    if is_pod "$pod" && [ "${ROLE[$pod]}" = replica ] && known_lsn "$pod"; then reach+=("$pod"); reached=$((reached + 1)); fi
  done
  if (( members == 0 || reached < members - SYNC_REPLICAS + 1 )); then
    log "synchronous mode: $reached of the $members recorded synchronous standbys (${SYNC_SET:-none}) answer;" \
      "$((members - SYNC_REPLICAS + 1)) are needed to be sure of every acknowledged commit"
    return 1
  fi
  printf '%s\n' "${reach[@]}"
}

most_advanced() {
  local pod best="" best_lsn=-1 lsn
  for pod in "$@"; do
    lsn=$(lsn_number "${LSN[$pod]}")
    if (( lsn > best_lsn )); then best=$pod; best_lsn=$lsn; fi
  done
  echo "$best"
}

# An unplanned failover: no primary may run but the one this job promotes.
failover() {
  local pod best
  local -a candidates replicas
  if [ "${ROLE[$PREVIOUS]:-}" = unreachable ]; then
    log "$PREVIOUS cannot be reached and may still be running: waiting $((2 * ISOLATION_FENCE_SECONDS))s, by when a primary that" \
      "cannot read the leader record has fenced itself and one that can has seen that it is no longer named"
    sleep $((2 * ISOLATION_FENCE_SECONDS))
    survey_pods "${PODS[@]}"
  fi
  for pod in "${PODS[@]}"; do
    case "${ROLE[$pod]}" in
      primary | starting) if [ "$pod" != "$TARGET" ]; then fence "$pod" || refuse "$pod is still a primary ${FENCE_TIMEOUT_SECONDS}s after fencing"; fi ;;
    esac
  done
  if [ -n "$TARGET" ] && [ "${ROLE[$TARGET]}" = primary ]; then
    log "$TARGET was promoted already (by the job that ended); recording it"
    return 0
  fi
  settle
  mapfile -t replicas < <(healthy_replicas)
  if (( ${#replicas[@]} == 0 )) || [ -z "${replicas[0]}" ]; then
    give_back_down "no healthy replica to promote ($(describe))"
  fi
  mapfile -t candidates < <(eligible_replicas) || true
  if (( ${#candidates[@]} == 0 )) || [ -z "${candidates[0]}" ]; then
    give_back_down "no replica may be promoted without losing acknowledged commits ($(describe)). Bring back the missing pods and run the job again," \
      "or set FAILOVER_ACCEPT_DATA_LOSS=true to promote the most advanced replica anyway"
  fi
  if [ -n "$SCALE_DOWN_TO" ] && [ -z "$TARGET" ]; then
    mapfile -t candidates < <(staying "${candidates[@]}")
    if (( ${#candidates[@]} == 0 )) || [ -z "${candidates[0]}" ]; then
      give_back_down "no replica that stays after scaling to $SCALE_DOWN_TO pods may be promoted ($(describe))"
    fi
  fi
  if [ -n "$TARGET" ]; then
    [[ " ${candidates[*]} " == *" $TARGET "* ]] || give_back_down "FAILOVER_TARGET $TARGET may not be promoted (${ROLE[$TARGET]:-not a pod}; eligible: ${candidates[*]})"
  else
    TARGET=$(most_advanced "${candidates[@]}")
  fi
  best=$(most_advanced "${replicas[@]}")
  if [ "$TARGET" != "$best" ] && (( $(lsn_number "${LSN[$best]}") > $(lsn_number "${LSN[$TARGET]}") )); then
    log "WARNING: $best has more WAL than $TARGET; what only $best has is lost, and $best is rewound when it restarts"
  fi
}

ordinal() { echo "${1##*-}"; }

# Pods that stay after scaling to SCALE_DOWN_TO pods (all of them without it).
staying() {
  local pod
  for pod in "$@"; do
    if [ -z "$SCALE_DOWN_TO" ] || (( $(ordinal "$pod") < SCALE_DOWN_TO )); then echo "$pod"; fi
  done
}

# With SCALE_DOWN_TO: a target that stays, or a refusal. A primary that stays is left where it is; one on an
# ordinal that goes away is switched over to the most advanced healthy replica that stays.
plan_scale_down() {
  [[ $SCALE_DOWN_TO =~ ^[1-9][0-9]*$ ]] || refuse "SCALE_DOWN_TO must be the number of pods you will scale to (1 or more), got \"$SCALE_DOWN_TO\""
  if [ -n "$TARGET" ]; then
    (( $(ordinal "$TARGET") < SCALE_DOWN_TO )) || refuse "FAILOVER_TARGET $TARGET goes away when scaling to $SCALE_DOWN_TO pods; choose one of: $(staying "${PODS[@]}" | paste -sd' ' -)"
    return 0
  fi
  if [ "${R[state]}" != stable ]; then return 0; fi
  if (( $(ordinal "$PREVIOUS") < SCALE_DOWN_TO )); then
    log "the primary $PREVIOUS stays when scaling to $SCALE_DOWN_TO pods"
    return 0
  fi
  survey_pods "${PODS[@]}"
  local healthy candidates
  mapfile -t healthy < <(healthy_replicas)
  mapfile -t candidates < <(staying "${healthy[@]}")
  if (( ${#candidates[@]} == 0 )) || [ -z "${candidates[0]}" ]; then
    refuse "the primary $PREVIOUS goes away when scaling to $SCALE_DOWN_TO pods, and no healthy replica stays to take over ($(describe))"
  fi
  TARGET=$(most_advanced "${candidates[@]}")
  log "the primary $PREVIOUS goes away when scaling to $SCALE_DOWN_TO pods: switching over to $TARGET"
}

# Refusing with the old primary down: the record names it again, so that it is the primary when it returns.
give_back_down() {
  update_record state=stable "primary=$PREVIOUS" "epoch=$((R[epoch] + 1))" target= previous= job= checkpoint=
  refuse "$*; the leader record names $PREVIOUS again, nothing was changed"
}

promote() {
  local out others=() pod
  update_record "target=$TARGET"
  # A dead or unreachable primary's sidecar cannot take its label away, and the endpoints of a pod on a
  # partitioned node are not updated: remove it before any other pod is labeled, or the write Service
  # would have two endpoints.
  if [ -n "$PREVIOUS" ] && [ "$PREVIOUS" != "$TARGET" ]; then
    "$KUBECTL" label pod "$PREVIOUS" "$ROLE_LABEL-" > /dev/null 2>&1 || log "could not remove the $ROLE_LABEL label of $PREVIOUS"
  fi
  for pod in "${PODS[@]}"; do if [ "$pod" != "$TARGET" ]; then others+=("$pod"); fi; done
  now; local sync="" deadline=$((NOW + PROMOTE_TIMEOUT_SECONDS * 100))
  if (( SYNC_REPLICAS > 0 )); then sync=$(printf '%s\n' "${others[@]}" | sort | paste -sd, -); fi
  # No other pod may be a primary now (each was fenced, or its sidecar fences it): naming the target in the record
  # is what promotes it. Its sidecar, which watches the record, promotes it at once and labels it; its entrypoint
  # starts it as the primary if it restarts meanwhile.
  if [ "${ROLE[$TARGET]}" != primary ]; then
    log "promoting $TARGET (WAL ${LSN[$TARGET]}): the leader record names it, and its sidecar promotes it"
  fi
  # Its timeline is its sidecar's to record once it is promoted (a replica's, while not streaming, is unknown).
  update_record state=stable "primary=$TARGET" "sync=$sync" target= previous= job= checkpoint=
  log "$TARGET is the primary in the leader record ($(record_describe))"
  until [ "$(role_label_of "$TARGET")" = primary ]; do
    if now; (( NOW >= deadline )); then
      unfinished "$TARGET is the primary in the leader record but does not serve as one ${PROMOTE_TIMEOUT_SECONDS}s later: its sidecar" \
        "promotes it when it can (kubectl logs $TARGET -c role-labeler says why not yet), and no other pod may be a primary meanwhile," \
        "so writes wait for it. If it cannot start, run the job again with FAILOVER_TARGET set to a healthy replica"
    fi
    sleep 0.02
  done
  log "$TARGET serves as the primary"
}

# Every reachable replica should stream the new primary's timeline. A WAL receiver that does not is told to
# connect again every few seconds; a replica that still cannot (it replayed WAL the new primary never had) is
# restarted, and its entrypoint rewinds it.
wait_for_followers() {
  now; local pod started=$NOW next_nudge=$((NOW + 300))
  local -a lagging restarting
  while true; do
    survey
    lagging=()
    for pod in $(pods_with_role replica); do
      if [ "${RECEIVER[$pod]}" != streaming ] || [ "${TIMELINE[$pod]}" != "${TIMELINE[$TARGET]}" ]; then lagging+=("$pod"); fi
    done
    # A pod this job fenced is restarting as a replica: it counts until it streams.
    restarting=()
    for pod in "${FENCED[@]}"; do
      case "${ROLE[$pod]:-}" in down | starting | empty) restarting+=("$pod") ;; esac
    done
    if (( ${#lagging[@]} == 0 && ${#restarting[@]} == 0 )); then return 0; fi
    if now; (( NOW - started >= FOLLOW_TIMEOUT_SECONDS * 100 )); then break; fi
    if now; (( NOW >= next_nudge )); then
      for pod in "${lagging[@]}"; do
        log "$pod does not stream timeline ${TIMELINE[$TARGET]} yet (receiver ${RECEIVER[$pod]}): reconnecting its WAL receiver"
        on_node "$pod" reconnect > /dev/null 2>&1 || true
      done
      now; next_nudge=$((NOW + 300))
    fi
    sleep 0.5
  done
  local -a restarted=("${lagging[@]}")
  for pod in "${restarted[@]}"; do
    log "$pod does not stream timeline ${TIMELINE[$TARGET]} from $TARGET: restarting it so that its entrypoint rewinds it"
    on_node "$pod" restart > /dev/null 2>&1 || true
  done
  # The replicas this job restarted (rewound by their entrypoints) or fenced, and every replica that answers, must stream
  # the new timeline before the job is done. A pod that is down for another reason (a dead node) rejoins when it starts.
  now; started=$NOW
  while now; (( NOW - started < FOLLOW_TIMEOUT_SECONDS * 200 )); do
    sleep 1
    survey
    lagging=()
    for pod in "${PODS[@]}"; do
      if [ "$pod" = "$TARGET" ]; then continue; fi
      if [ "${ROLE[$pod]:-}" = replica ]; then
        if [ "${RECEIVER[$pod]}" != streaming ] || [ "${TIMELINE[$pod]}" != "${TIMELINE[$TARGET]}" ]; then lagging+=("$pod"); fi
      elif [[ " ${restarted[*]} ${FENCED[*]} " == *" $pod "* ]]; then
        lagging+=("$pod")
      fi
    done
    if (( ${#lagging[@]} == 0 )); then return 0; fi
  done
  unfinished "$TARGET is the primary and takes writes, but ${lagging[*]} do not stream from it $((FOLLOW_TIMEOUT_SECONDS * 3))s later" \
    "($(describe)): kubectl logs <pod> -c postgres says what its entrypoint waits for; until they stream, the cluster has fewer" \
    "replicas (in synchronous mode, writes may wait)"
}

# Nothing to do while the recorded primary serves and is the one asked for.
nothing_to_do() {
  local primary=${R[primary]}
  case "${ROLE[$primary]:-}" in
    primary)
      if [ -z "$TARGET" ] || [ "$TARGET" = "$primary" ]; then
        if known_lsn "$primary"; then
          log "primary $primary is healthy: nothing to do. For a planned switchover, set FAILOVER_TARGET to the replica to promote."
        else
          log "primary $primary is running but does not answer queries (too many clients?): not failing over a live primary." \
            "To move it anyway, set FAILOVER_TARGET: a switchover fences it first."
        fi
        # Its label is its sidecar's to set: this survey may already be out of date (another job acting).
        log "$primary is the only primary"
        return 0
      fi
      ;;
    starting)
      if [ -z "$TARGET" ]; then
        log "primary $primary is starting (crash recovery): not failing over. Run the job again if it does not come back."
        return 0
      fi
      ;;
  esac
  return 1
}

# After the new primary is recorded: no other primary may run, and the replicas follow it.
finish() {
  local pod
  survey
  for pod in $(pods_with_role primary); do
    if [ "$pod" != "$TARGET" ]; then
      log "$pod is a primary too: fencing it"
      fence "$pod" || true
    fi
  done
  wait_for_followers
  log "done: $TARGET is the primary; cluster: $(describe)"
}

main() {
  record_read || refuse "cannot read the leader record $LEADER_RECORD: $RECORD_ERROR"
  [ "${R[found]}" = yes ] || refuse "there is no leader record ($LEADER_RECORD): the cluster has not been initialized yet"
  log "leader record: $(record_describe)"
  if [ "${R[state]}" = switching-over ]; then
    if [ "${R[job]}" != "$POD_NAME" ] && job_running "${R[job]}"; then
      refuse "another failover job (${R[job]}) holds the leader record and is running; nothing was changed"
    fi
    PREVIOUS=${R[previous]}
    TARGET=${R[target]}
    SWITCH_JOB=${R[job]}
    log "job ${R[job]} ended without finishing its failover (a switchover, $PREVIOUS -> $TARGET): waiting for the two pods'" \
      "sidecars to finish it, or giving it back"
    await_switchover
    FENCED+=("$PREVIOUS")
    list_pods
    finish
    return 0
  fi
  if [ "${R[state]}" = failing-over ]; then
    if [ "${R[job]}" != "$POD_NAME" ] && job_running "${R[job]}"; then
      refuse "another failover job (${R[job]}) holds the leader record and is running; nothing was changed"
    fi
    PREVIOUS=${R[previous]}
    log "job ${R[job]} ended without finishing its failover ($PREVIOUS -> ${R[target]:-?}): completing or undoing it"
    if [ -z "$TARGET" ] && [ -n "${R[target]}" ]; then TARGET=${R[target]}; fi
  else
    PREVIOUS=${R[primary]}
  fi
  SYNC_SET=${R[sync]}
  list_pods
  if [ -n "$SCALE_DOWN_TO" ]; then plan_scale_down; fi
  # A planned switchover needs only the primary and the target, as the API shows them (or, if it does not show them
  # ready, as they answer themselves); anything else asks every pod.
  if [ "${R[state]}" = stable ] && [ -n "$TARGET" ] && [ "$TARGET" != "$PREVIOUS" ] && is_pod "$TARGET" && is_pod "$PREVIOUS"; then
    if [ -z "${ROLE[$PREVIOUS]:-}" ] && switchover_ready_by_api; then
      ROLE[$PREVIOUS]=primary ROLE[$TARGET]=replica
      log "the API shows $PREVIOUS serving as the primary and $TARGET as a streaming replica"
    else
      survey_pods "$PREVIOUS" "$TARGET"
      if [ "${ROLE[$PREVIOUS]}" != primary ] || [ "${ROLE[$TARGET]}" != replica ]; then survey_rest; fi
    fi
  else
    survey_pods "${PODS[@]}"
  fi
  log "cluster: $(describe)"
  if [ "${R[state]}" = stable ] && nothing_to_do; then exit 0; fi
  if [ -n "$TARGET" ]; then
    is_pod "$TARGET" || refuse "FAILOVER_TARGET $TARGET is not a pod of this cluster (pods: ${PODS[*]})"
    case "${ROLE[$TARGET]}" in
      replica | primary) ;;
      *) refuse "FAILOVER_TARGET $TARGET is not healthy (it is ${ROLE[$TARGET]}); choose another replica" ;;
    esac
  fi

  if [ -n "$TARGET" ] && [ "$TARGET" != "$PREVIOUS" ] && [ "${ROLE[$PREVIOUS]:-}" = primary ]; then
    switchover
    FENCED+=("$PREVIOUS")
  else
    update_record state=failing-over primary= "epoch=$((R[epoch] + 1))" "previous=$PREVIOUS" "target=$TARGET" "job=$POD_NAME" checkpoint=
    log "took the leader record: $(record_describe)"
    survey_rest
    failover
    promote
  fi
  finish
}

main "$@"
