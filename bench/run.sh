#!/usr/bin/env bash
# bench/run.sh: ordering side by side with etcd, three nodes each on this
# machine, in one run.  See bench/README.md.
#
#   bash bench/run.sh [--latency] [--throughput] [--batch] [--kib] [--catchup] [--idle]
#
# As root it installs the bench's packages (scripts/deps.sh --bench) and
# runs itself as the postgres user; as another user it runs as that user.
# The extension must be built and installed (scripts/build.sh) in the
# PostgreSQL 15 that PGBIN names (default /usr/lib/postgresql/15/bin).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"

if [ "$(id -u)" -eq 0 ]; then
	bash "$here/../scripts/deps.sh" --bench >&2
	if [ ! -f "$(pg_config --pkglibdir)/ordering.so" ]; then
		echo "bench: ordering is not installed in $(pg_config --pkglibdir): run scripts/build.sh" >&2
		exit 1
	fi
	# postgres may not be allowed to write where BENCH_OUT points: it writes
	# a file of its own, copied there afterwards
	out="${BENCH_OUT:-}"
	if [ -n "$out" ]; then
		: > "$out"
		BENCH_OUT="$(mktemp /tmp/ordering-bench-out.XXXXXX)"
		chown postgres "$BENCH_OUT"
	fi
	vars=(PATH="$PATH")
	for v in $(compgen -v | grep '^BENCH_' || true); do
		vars+=("$v=${!v}")
	done
	status=0
	su postgres -s /bin/bash -c \
		"cd /tmp && exec env $(printf '%q ' "${vars[@]}") PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 $(printf '%q ' "$here/bench.py" "$@")" ||
		status=$?
	if [ -n "$out" ]; then
		cat "$BENCH_OUT" > "$out"
		rm -f "$BENCH_OUT"
	fi
	exit $status
fi
PYTHONDONTWRITEBYTECODE=1 exec /usr/bin/python3 "$here/bench.py" "$@"
