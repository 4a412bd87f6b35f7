#!/usr/bin/env bash
# pg-tests.sh: the PostgreSQL-side tests, as a non-root user, with the
# extension already installed: pg_regress and pgTAP against a temporary
# one-node server, then the multi-server TAP tests (which start their own
# servers).  Run from the top of a tree the current user can write.
set -euo pipefail
export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"
top="$(pwd)"
port="${ORDERING_TEST_PORT:-55400}"
data="$(mktemp -d /tmp/ordering-regress.XXXXXX)"

cleanup() {
	pg_ctl -D "$data/db" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$data"
}
trap cleanup EXIT

initdb -D "$data/db" -A trust -U postgres >/dev/null
cat "$top/test/regress.conf" >> "$data/db/postgresql.conf"
cat >> "$data/db/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$data'
listen_addresses = ''
CONF
pg_ctl -D "$data/db" -l "$data/server.log" -w start >/dev/null
export PGHOST="$data" PGPORT="$port" PGUSER=postgres
# The worker serves ordering.database (contrib_regression in regress.conf);
# pg_regress runs with --use-existing so it does not drop it under the worker.
createdb contrib_regression

status=0
echo "--- pg_regress"
make -s installcheck-regress-only || { status=1; cat regression.diffs 2>/dev/null | head -200; }

echo "--- pgTAP"
if ls test/pgtap/*.sql >/dev/null 2>&1; then
	psql -q -d contrib_regression -c 'CREATE EXTENSION IF NOT EXISTS pgtap' \
		-c 'CREATE EXTENSION IF NOT EXISTS ordering'
	pg_prove -d contrib_regression test/pgtap/*.sql || status=1
fi

pg_ctl -D "$data/db" -m fast stop >/dev/null

echo "--- multi-server TAP tests"
make -s installcheck-tap-only || status=1

exit $status
