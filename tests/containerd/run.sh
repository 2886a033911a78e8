#!/bin/bash
# tests/containerd/run.sh: containerd's io.containerd.runc.v2 shim driving
# ocirun. Installs containerd from Debian, starts a private instance (own
# root, state and socket under a temp dir, CRI off, no TCP), imports a
# busybox OCI image made here by hand, and runs containers through ctr with
# --runc-binary ocirun. Stops only the containerd it started.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=$PATH:/usr/local/go/bin
command -v containerd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd >/dev/null; }
(cd "$repo" && make -s build)
"$repo/bundles/mkrootfs.sh" "$repo/bundles/rootfs"
ocirun=$repo/ocirun

work=$(mktemp -d /tmp/ocirun-containerd-XXXXXX)
sock=$work/containerd.sock
cat > "$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
TOML
containerd --config "$work/config.toml" > "$work/containerd.log" 2>&1 &
cpid=$!
cleanup() {
	ctr -a "$sock" -n ocitest tasks kill -s KILL sleeper >/dev/null 2>&1 || true
	kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
	pkill -f "containerd-shim-runc-v2 -namespace ocitest" 2>/dev/null || true
	# The shim keeps ocirun's state under /run/containerd/runc/<namespace>: ours is "ocitest".
	for id in $(ls /run/containerd/runc/ocitest 2>/dev/null | grep -v '#'); do
		"$ocirun" --root /run/containerd/runc/ocitest delete --force "$id" 2>/dev/null || true
	done
	grep " $work/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r umount -l 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
for i in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
c() { ctr -a "$sock" -n ocitest "$@"; }

# A busybox OCI image, by hand: one layer, a config, a manifest, an index.
img=$work/img
mkdir -p "$img/blobs/sha256"
tar -C "$repo/bundles/rootfs" -cf "$work/layer.tar" .
layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1); mv "$work/layer.tar" "$img/blobs/sha256/$layer"
lsize=$(stat -c %s "$img/blobs/sha256/$layer")
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > "$work/config.json"
cfg=$(sha256sum "$work/config.json" | cut -d' ' -f1); csize=$(stat -c %s "$work/config.json"); mv "$work/config.json" "$img/blobs/sha256/$cfg"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' "$cfg" "$csize" "$layer" "$lsize" > "$work/manifest.json"
man=$(sha256sum "$work/manifest.json" | cut -d' ' -f1); msize=$(stat -c %s "$work/manifest.json"); mv "$work/manifest.json" "$img/blobs/sha256/$man"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"latest","io.containerd.image.name":"docker.io/ocirun/busybox:latest"}}]}' "$man" "$msize" > "$img/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$img/oci-layout"
tar -C "$img" -cf "$work/image.tar" oci-layout index.json blobs
c image import "$work/image.tar" >/dev/null
image=docker.io/ocirun/busybox:latest

pass=0 fail=0
check() { # check NAME CONDITION-COMMAND...
	local name=$1; shift
	if "$@"; then pass=$((pass + 1)); echo "PASS  $name"; else fail=$((fail + 1)); echo "FAIL  $name"; fi
}
rt=(--runc-binary "$ocirun")

# 1. Run to completion with the right exit code.
set +e
c run --rm "${rt[@]}" "$image" once sh -c 'echo hello from containerd; exit 7' > "$work/out" 2>&1
code=$?
set -e
check "run to completion, exit code 7" [ "$code" = 7 ]
check "the container's output" grep -q "hello from containerd" "$work/out"

# 2. Detached, then exec, ps, pause, resume, metrics, kill, delete.
c run -d "${rt[@]}" "$image" sleeper sleep 3600 >/dev/null
check "detached task running" sh -c "ctr -a $sock -n ocitest tasks ls | grep -q 'sleeper.*RUNNING'"
# ocirun's own state file (only ocirun writes init_start_time) under the shim's runtime root.
check "the shim ran ocirun (its state file)" sh -c "grep -l init_start_time /run/containerd/runc/ocitest/sleeper/state.json $work/state/*/ocitest/sleeper/state.json 2>/dev/null | grep -q ."
out=$(c tasks exec --exec-id e1 sleeper sh -c 'echo exec-ok' 2>&1 || true)
check "exec without tty" [ "$(echo "$out" | head -1)" = "exec-ok" ]
set +e; c tasks exec --exec-id e2 sleeper sh -c 'exit 3' >/dev/null 2>&1; code=$?; set -e
check "exec exit code" [ "$code" = 3 ]
out=$(script -qec "ctr -a $sock -n ocitest tasks exec -t --exec-id e3 sleeper sh -c 'tty'" /dev/null 2>&1 || true)
check "exec with tty" sh -c "echo '$out' | grep -q /dev/pts/"
check "ps lists the task's process" sh -c "ctr -a $sock -n ocitest tasks ps sleeper | grep -qE '^[0-9]+'"
c tasks pause sleeper
check "pause" sh -c "ctr -a $sock -n ocitest tasks ls | grep -q 'sleeper.*PAUSED'"
c tasks resume sleeper
check "resume" sh -c "ctr -a $sock -n ocitest tasks ls | grep -q 'sleeper.*RUNNING'"
check "metrics" sh -c "ctr -a $sock -n ocitest tasks metrics sleeper 2>&1 | grep -qiE 'memory|pids'"
c tasks kill -s KILL sleeper
for i in $(seq 50); do c tasks ls | grep -q 'sleeper.*STOPPED' && break; sleep 0.1; done
check "kill" sh -c "ctr -a $sock -n ocitest tasks ls | grep -q 'sleeper.*STOPPED'"
c tasks delete sleeper >/dev/null
c containers delete sleeper
check "delete" sh -c "! ctr -a $sock -n ocitest tasks ls | grep -q sleeper"

echo "containerd: $pass passed, $fail failed"
[ "$fail" = 0 ]
