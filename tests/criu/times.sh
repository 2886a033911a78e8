#!/bin/bash
# tests/criu/times.sh [ROUNDS]: checkpoint and restore times of ocirun and
# runc on the same container (a busybox counter loop), interleaved, with the
# same CRIU (tests/criu/setup.sh). Prints the medians. A measurement, not a
# test: it never fails on numbers. Checkpoint is counted to the container's
# removal (runc's checkpoint removes it; ocirun's needs a delete after).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rounds=${1:-10}
criu=$("$here/setup.sh")
command -v runc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null
(cd "$repo" && make -s build && ./bundles/mkrootfs.sh bundles/rootfs >/dev/null)
work=$(mktemp -d)
trap 'for r in ocirun runc; do "${bin[$r]}" --root "$work/root-$r" delete -f t 2>/dev/null || true; done; rm -rf "$work"' EXIT
declare -A bin=([ocirun]="$repo/ocirun" [runc]=runc)
mkdir -p "$work/bundle"
(cd "$work/bundle" && "$repo/ocirun" spec)
python3 - "$work/bundle/config.json" "$repo/bundles/rootfs" <<'PY'
import json, sys
p, rootfs = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "i=0; while :; do i=$((i+1)); usleep 10000; done"]
json.dump(c, open(p, "w"))
PY
ms() { echo "$(( ($2 - $1) / 1000000 ))"; }
declare -A ck rs
for i in $(seq "$rounds"); do
	for r in ocirun runc; do
		b=${bin[$r]}
		root=$work/root-$r
		img=$work/img-$r-$i
		"$b" --root "$root" run -d --bundle "$work/bundle" t </dev/null >/dev/null 2>&1
		sleep 0.2
		t0=$(date +%s%N)
		"$b" --root "$root" --criu "$criu" checkpoint --image-path "$img" t </dev/null >/dev/null 2>"$work/err" || { echo "$r checkpoint failed: $(tail -2 "$work/err")"; exit 1; }
		# runc's checkpoint removes the container; ocirun's leaves it stopped
		# until delete: that delete counts as part of ocirun's checkpoint.
		"$b" --root "$root" delete t >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		(cd "$work/bundle" && "$b" --root "$root" --criu "$criu" restore -d --image-path "$img" t </dev/null >/dev/null 2>"$work/err") || { echo "$r restore failed: $(tail -2 "$work/err")"; exit 1; }
		t2=$(date +%s%N)
		"$b" --root "$root" delete -f t >/dev/null 2>&1
		ck[$r]+="$(ms "$t0" "$t1") "
		rs[$r]+="$(ms "$t1" "$t2") "
	done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "CRIU: $("$criu" --version | head -1) ($criu); $rounds rounds, medians"
printf '%-8s %12s %12s\n' runtime checkpoint restore
for r in ocirun runc; do
	printf '%-8s %9s ms %9s ms\n' "$r" "$(median <<<"${ck[$r]}")" "$(median <<<"${rs[$r]}")"
done
