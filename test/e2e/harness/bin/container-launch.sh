#!/usr/bin/env bash
# Starts one container of an emulated pod, as a kubelet would: runs inside the pod's network
# namespace (`ip netns exec` gives it a private mount namespace and the pod's /etc/hosts), hides
# the host's files that the image does not have, bind-mounts the pod's volumes at the container's
# paths (parents first; a mount point inside an earlier mount is made there, as container runtimes
# do), then execs the container's command with only the container's environment, as the user of
# its securityContext. The command keeps this process's pid, so the harness can signal it and
# enter its namespaces for `kubectl exec` (which so sees the same files).
set -euo pipefail
spec=$1
readonly_root=false
if [ -s "$spec/readonly-root" ]; then
  # securityContext.readOnlyRootFilesystem: the image (here the host's root, whose mount this private mount
  # namespace has a copy of) is made read-only once the volumes are mounted; they stay writable as mounts of
  # their own, and so do the harness's own files (the "started" marker below).
  readonly_root=true
  mount --bind "$spec" "$spec"
fi
# The host's files that the image does not have (one path a line in "hidden"), hidden before the volumes are
# mounted (they are mounts on top of the image's filesystem): each such file's directory gets a read-only overlay
# of itself under a layer of whiteouts (character devices 0/0, overlayfs's mark of a removed file), so that the
# file is absent as in the image: `command -v` finds nothing, running it fails with "command not found" (127).
# A bind mount of /dev/null would leave a file there, which bash's `command -v` still prints.
declare -A whiteouts=()
rm -rf "$spec/whiteouts"
while IFS= read -r hidden; do
  if [ ! -e "$hidden" ] && [ ! -L "$hidden" ]; then continue; fi
  dir=$(realpath -e "$(dirname "$hidden")")
  if [ -z "${whiteouts[$dir]:-}" ]; then
    whiteouts[$dir]="$spec/whiteouts/${#whiteouts[@]}"
    mkdir -p "${whiteouts[$dir]}"
  fi
  mknod "${whiteouts[$dir]}/$(basename "$hidden")" c 0 0
done < "$spec/hidden"
for dir in "${!whiteouts[@]}"; do
  if ! mount -t overlay overlay -o "ro,lowerdir=${whiteouts[$dir]}:$dir" "$dir"; then
    echo "container-launch: cannot hide the image's missing files in $dir: an overlay mount failed (overlayfs is needed)" >&2
    exit 1
  fi
done
while IFS=$'\t' read -r source target mode; do
  mkdir -p "$target"
  mount --bind "$source" "$target"
  if [ "$mode" = ro ]; then mount -o remount,bind,ro "$target"; fi
done < "$spec/mounts"
if $readonly_root; then mount -o remount,bind,ro /; fi
mapfile -d '' -t environment < "$spec/env"
mapfile -d '' -t command < "$spec/command"
# The node's wall clock: the environment that preloads libfaketime with the pod's clock file (none: the real clock).
# sh, not bash, must be the first process to load it (see CLOCK_SHIM_HOP in pod.ts); it execs the command.
clock=()
if [ -s "$spec/clock" ]; then
  mapfile -d '' -t clock < "$spec/clock"
  command=(/bin/sh -c 'exec "$@"' sh "${command[@]}")
fi
read -r uid gid groups < "$spec/user"
cd /
# The container is set up (mounts in place): `kubectl exec` may enter it from now on.
: > "$spec/started"
exec setpriv --reuid="$uid" --regid="$gid" --groups="$groups" --no-new-privs -- env -i "${clock[@]}" "${environment[@]}" "${command[@]}"
