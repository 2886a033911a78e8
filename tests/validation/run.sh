#!/bin/bash
# tests/validation/run.sh [VERSION...]: the opencontainers runtime-tools
# validation suite against ocirun. Each validation/* program is built from
# the runtime-tools module (fetched through the Go module proxy), run with
# RUNTIME=ocirun from a copy of the module's tree (the programs look for
# ./runtimetest and ./rootfs-amd64.tar.gz there, which we build: runtimetest
# statically, the tarball from bundles/mkrootfs.sh), and judged by its TAP
# output. Prints PASS/FAIL per program and the totals. Exits non-zero when a
# program listed in PASSING.<version> (what passed before) fails: CI
# catches regressions while the rest is worked on. With VALIDATION_STRICT=1
# it also fails on any failure not in EXPECTED_FAILURES (with its reason).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export PATH=$PATH:/usr/local/go/bin
master=v0.9.1-0.20251114084447-edf4cb3d2116
versions=("${@:-v0.9.0}")
[ $# -gt 0 ] || versions+=("$master")
cache=$repo/.cache/validation
mkdir -p "$cache"
(cd "$repo" && make -s build) || exit 1
"$repo/bundles/mkrootfs.sh" "$repo/bundles/rootfs" || exit 1
tar -C "$repo/bundles/rootfs" -czf "$cache/rootfs.tar.gz" .

# expected_reason NAME VERSION: the reason EXPECTED_FAILURES gives for NAME
# failing on VERSION. A line's key is NAME (every version) or NAME@VERSION
# (that version only); the version-specific line wins.
expected_reason() {
	local r
	r=$(awk -v k="$1@$2" '$1 == k { $1 = ""; print substr($0, 2); exit }' "$here/EXPECTED_FAILURES")
	[ -n "$r" ] || r=$(awk -v k="$1" '$1 == k { $1 = ""; print substr($0, 2); exit }' "$here/EXPECTED_FAILURES")
	printf '%s' "$r"
}

# The programs run ocirun through a wrapper with a state root of their own:
# other users of the machine's default root never see their containers, and
# whatever a program leaves behind (start's check 7 leaves a created
# container whose bundle it has removed) is force-deleted after it.
state=$cache/state
runtime=$cache/ocirun-validation
printf '#!/bin/sh\nexec %q --root %q "$@"\n' "$repo/ocirun" "$state" > "$runtime"
chmod +x "$runtime"
cleanup_containers() {
	local id
	for id in $("$runtime" list -q 2>/dev/null); do "$runtime" delete --force "$id" >/dev/null 2>&1; done
}

status=0
for v in "${versions[@]}"; do
	src=$cache/src-$v
	if ! [ -f "$src/.ok" ]; then
		rm -rf "$src" && mkdir -p "$cache/mod"
		(cd "$cache/mod" && [ -f go.mod ] || printf 'module fetch\ngo 1.22\n' > go.mod
		 cd "$cache/mod" && GOFLAGS=-mod=mod go get "github.com/opencontainers/runtime-tools@$v" >/dev/null 2>&1)
		dir=$(cd "$cache/mod" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' "github.com/opencontainers/runtime-tools@$v" 2>/dev/null)
		[ -n "$dir" ] && [ -d "$dir" ] || { echo "validation: cannot fetch runtime-tools $v"; status=1; continue; }
		cp -r "$dir" "$src" && chmod -R u+w "$src"
		rm -rf "$src/vendor" # the module zip carries no complete vendor tree: fetch through the proxy
		export GOFLAGS=-mod=mod
		if [ -f "$here/go.mod.$v" ]; then # a version that predates Go modules: our pinned go.mod
			cp "$here/go.mod.$v" "$src/go.mod"; cp "$here/go.sum.$v" "$src/go.sum" 2>/dev/null || true
			rm -rf "$src/vendor"
		fi
		(cd "$src" && CGO_ENABLED=0 go build -o runtimetest ./cmd/runtimetest) || { echo "validation: build runtimetest failed"; status=1; continue; }
		for d in "$src"/validation/*/; do
			name=$(basename "$d")
			[ "$name" = util ] && continue
			(cd "$src" && go build -o "validation/$name/$name.t" "./validation/$name") >/dev/null 2>&1 || echo "validation: build $name failed"
		done
		touch "$src/.ok"
	fi
	cp "$cache/rootfs.tar.gz" "$src/rootfs-amd64.tar.gz"
	pass=0 fail=0 unexpected=0 regressed=0
	printf '\nruntime-tools %s\n' "$v"
	for t in "$src"/validation/*/*.t; do
		name=$(basename "$t" .t)
		out=$(cd "$src" && RUNTIME="$runtime" timeout 120 "$t" 2>&1)
		rc=$?
		cleanup_containers
		# TAP: a failure is a "not ok" line or a non-zero exit. Some programs
		# report only a plan of 1..0: then an "error" diagnostic is the failure.
		failed=0
		[ $rc -eq 0 ] || failed=1
		grep -q '^not ok' <<<"$out" && failed=1
		if ! grep -q '^ok' <<<"$out" && grep -qE '"error": "[^"]' <<<"$out"; then failed=1; fi
		if [ $failed -eq 0 ]; then
			pass=$((pass + 1)); printf 'PASS  %s\n' "$name"
		else
			fail=$((fail + 1))
			reason=$(expected_reason "$name" "$v")
			if [ -n "$reason" ]; then
				printf 'FAIL  %s (expected: %s)\n' "$name" "$reason"
			else
				unexpected=$((unexpected + 1))
				if grep -qx "$name" "$here/PASSING.$v" 2>/dev/null; then
					regressed=$((regressed + 1)); printf 'FAIL  %s (REGRESSION: it passed before)\n' "$name"
				else
					printf 'FAIL  %s\n' "$name"
				fi
				diag=$(grep -E '^not ok|^#|"error": "[^"]' <<<"$out" | head -5)
				# A program that dies through util.Fatal prints its reason as a plain last line.
				[ -n "$diag" ] || diag=$(printf 'exit %d; last lines:\n%s' "$rc" "$(tail -n 3 <<<"$out")")
				sed 's/^/      /' <<<"$diag"
			fi
		fi
	done
	printf 'runtime-tools %s: %d of %d programs pass; of the %d failing, %d are expected and %d not yet explained; %d regressions\n' \
		"$v" "$pass" "$((pass + fail))" "$fail" "$((fail - unexpected))" "$unexpected" "$regressed"
	[ $regressed -eq 0 ] || status=1
	[ "${VALIDATION_STRICT:-0}" = 0 ] || [ $unexpected -eq 0 ] || status=1
done
exit $status
