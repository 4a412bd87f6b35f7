#!/usr/bin/env bash
# test-all.sh: every test of ordering, from a fresh Debian 12 machine.
#
#   1. install packages, build (-Werror) and install the extension (root)
#   2. as the postgres user, in a copy of the tree:
#      - the layout and format checks (scripts/check-layout.sh,
#        make format-check)
#      - the Raft core: unit tests + simulator, then again under
#        AddressSanitizer/UBSan, then the decoder fuzzer for a short while
#      - pg_regress and the multi-server TAP tests (make installcheck)
#      - pgTAP tests against a temporary server
#   3. as root: network partitions between servers in network namespaces,
#      and a follower's disk filling up (tmpfs)
#
# Environment: FUZZ_SECONDS (default 30), SKIP_RAFT=1, SKIP_ASAN=1,
# SKIP_FUZZ=1, SKIP_FAULTS=1 to leave parts out while developing; PGBIN (the
# PostgreSQL 15 bin directory, /usr/lib/postgresql/15/bin) and
# ORDERING_TEST_PORT (55400) to run beside another copy.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"
# Run under a subreaper so that servers killed with SIGKILL are reaped
# (see scripts/reaper.pl).
if [ -z "${ORDERING_UNDER_REAPER:-}" ]; then
	export ORDERING_UNDER_REAPER=1
	exec perl "$here/scripts/reaper.pl" bash "$0" "$@"
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "test-all.sh: run as root (it installs packages and the extension," >&2
	echo "and runs the tests as the postgres user)" >&2
	exit 1
fi

bash "$here/scripts/deps.sh"
# Every program the tests run comes from a package deps.sh installs; and the
# check itself catches a package left out (pg_prove once was).
bash "$here/scripts/check-tools.sh"
selftest="$(mktemp)"
grep -v '^\s*libtap-parser-sourcehandler-pgtap-perl$' "$here/scripts/deps.sh" >"$selftest"
found=$(DEPS_SH="$selftest" bash "$here/scripts/check-tools.sh" pg_prove 2>&1 || true)
rm -f "$selftest"
if ! grep -q 'add libtap-parser-sourcehandler-pgtap-perl' <<<"$found"; then
	echo "test-all.sh: check-tools.sh did not notice a missing package: $found" >&2
	exit 1
fi
bash "$here/scripts/build.sh"

work="$(mktemp -d /tmp/ordering-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rsync -a --exclude .git --exclude 'test/raft/build*' "$here/" "$work/src/"
chown -R postgres:postgres "$work"

as_postgres() {
	su postgres -s /bin/bash -c "cd '$work/src' && export PATH='$PATH' && $*"
}

status=0
run() {
	echo "=== $*"
	if ! as_postgres "$@"; then
		echo "=== FAILED: $*"
		status=1
	fi
}

run bash scripts/check-layout.sh
run make -s format-check

if [ "${SKIP_RAFT:-0}" != 1 ]; then
	run make -s raft-check
	[ "${SKIP_ASAN:-0}" = 1 ] || run make -s raft-check-asan
	[ "${SKIP_FUZZ:-0}" = 1 ] || run make -s raft-fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
fi

run bash scripts/pg-tests.sh

# Layer 4: real network partitions between servers in network namespaces.
# It needs root (ip netns); it runs the servers as postgres itself.
if [ "${SKIP_FAULTS:-0}" != 1 ]; then
	echo "=== test/faults/partition.sh"
	# One run at a time per machine: the namespaces and addresses are fixed.
	if ! flock /tmp/ordering-faults.lock bash "$work/src/test/faults/partition.sh"; then
		echo "=== FAILED: test/faults/partition.sh"
		status=1
	fi
	# A follower's disk (a small tmpfs) fills up under load (mount: root).
	echo "=== test/faults/disk_full.sh"
	if ! flock /tmp/ordering-faults.lock bash "$work/src/test/faults/disk_full.sh"; then
		echo "=== FAILED: test/faults/disk_full.sh"
		status=1
	fi
fi

if [ $status -ne 0 ]; then
	echo "test-all.sh: some tests FAILED"
	exit 1
fi
echo "test-all.sh: all tests passed"
