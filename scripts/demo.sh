#!/usr/bin/env bash
# demo.sh: from a fresh Debian 12 machine, a three-node ordering cluster on
# this machine, showing it at work.
#
#   bash scripts/demo.sh          install, build, start n1..n3, demo
#   bash scripts/demo.sh stop     stop the three servers
#   bash scripts/demo.sh clean    stop them and delete $DEMO_DIR
#
# Run as root.
#
# The servers run as the postgres user under $DEMO_DIR (default
# /tmp/ordering-demo), on 127.0.0.1 ports 55501..55503, with trust
# authentication on loopback: a demo, not a secure setup (see the README).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"
# Run under a subreaper so that servers killed with SIGKILL are reaped
# (see scripts/reaper.pl).
if [ -z "${ORDERING_UNDER_REAPER:-}" ]; then
	export ORDERING_UNDER_REAPER=1
	exec perl "$here/scripts/reaper.pl" bash "$0" "$@"
fi
DEMO_DIR="${DEMO_DIR:-/tmp/ordering-demo}"
nodes=(n1 n2 n3)
declare -A port=([n1]=55501 [n2]=55502 [n3]=55503)

as_pg() { su postgres -s /bin/bash -c "export PATH='$PATH'; $*"; }
sql() {	# sql NODE QUERY...: run on a node, unaligned output
	local n="$1"; shift
	as_pg "psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p ${port[$n]} -d postgres $(printf "%q " "$@")"
}
show() { # show NODE QUERY: print the query and its result as a table
	echo "$1> $2"
	as_pg "psql -X -h 127.0.0.1 -p ${port[$1]} -d postgres -c $(printf %q "$2")"
}
stop_all() {
	for n in "${nodes[@]}"; do
		[ -d "$DEMO_DIR/$n" ] && as_pg "pg_ctl -D $DEMO_DIR/$n -m fast stop" >/dev/null 2>&1 || true
	done
}
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: poll until it succeeds
	local limit="$1" what="$2"; shift 2
	local deadline=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			echo "demo: timed out waiting for $what" >&2
			return 1
		fi
		sleep 0.2
	done
}
leader_of() { # leader_of NODE: the leader node name as NODE sees it
	sql "$1" -At -c "SELECT leader FROM ordering.status WHERE channel = 'demo'"
}
has_leader() { [ -n "$(leader_of "$1")" ]; }

case "${1:-run}" in
stop) stop_all; exit 0 ;;
clean) stop_all; rm -rf "$DEMO_DIR"; exit 0 ;;
run) ;;
*) echo "usage: $0 [run|stop|clean]" >&2; exit 2 ;;
esac

[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root (it installs packages)" >&2; exit 1; }
bash "$here/scripts/deps.sh"
bash "$here/scripts/build.sh"

stop_all
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
chown postgres:postgres "$DEMO_DIR"

echo "== starting three PostgreSQL servers under $DEMO_DIR"
for n in "${nodes[@]}"; do
	as_pg "initdb -D $DEMO_DIR/$n -A trust -U postgres" >/dev/null
	cat >> "$DEMO_DIR/$n/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = ${port[$n]}
unix_socket_directories = '$DEMO_DIR'
shared_preload_libraries = 'ordering'
ordering.node_name = '$n'
ordering.database = 'postgres'
ordering.tick_interval = 100
CONF
	as_pg "pg_ctl -D $DEMO_DIR/$n -l $DEMO_DIR/$n.log -w start" >/dev/null
	sql "$n" -c "CREATE EXTENSION ordering"
done

consenters=$(printf '{"n1": "host=127.0.0.1 port=%s dbname=postgres user=postgres", "n2": "host=127.0.0.1 port=%s dbname=postgres user=postgres", "n3": "host=127.0.0.1 port=%s dbname=postgres user=postgres"}' \
	"${port[n1]}" "${port[n2]}" "${port[n3]}")

echo "== creating channel 'demo' on n1 with consenters n1, n2, n3"
show n1 "SELECT ordering.create_channel('demo', '$consenters', '{\"batch_timeout\": 100}')"
for n in "${nodes[@]}"; do
	wait_for 30 "$n to join and see a leader" has_leader "$n"
done

echo "== submitting transactions on every node (followers route to the leader)"
for n in "${nodes[@]}"; do
	show "$n" "SELECT * FROM ordering.submit_tx('demo', convert_to('hello from $n', 'UTF8'))"
done
show n2 "SELECT * FROM ordering.submit_txs('demo', ARRAY[convert_to('a','UTF8'), convert_to('b','UTF8'), convert_to('c','UTF8')])"

echo "== the chain, the same on every node"
show n3 "SELECT number, tx_count, is_config, encode(hash, 'hex') AS hash FROM ordering.blocks WHERE channel = 'demo' ORDER BY number"
show n1 "SELECT channel, node, role, term, leader, commit_index, applied_index, last_block FROM ordering.status"
show n1 "SELECT * FROM ordering.verify_chain('demo')"

old=$(leader_of n1)
echo "== kill -9 of the leader ($old)"
pid=$(head -1 "$DEMO_DIR/$old/postmaster.pid")
kill -9 "$pid"
survivor=n1; [ "$old" = n1 ] && survivor=n2
new_leader_elected() { local l; l=$(leader_of "$survivor"); [ -n "$l" ] && [ "$l" != "$old" ]; }
wait_for 30 "a new leader" new_leader_elected
echo "new leader: $(leader_of "$survivor")"
show "$survivor" "SELECT * FROM ordering.submit_tx('demo', convert_to('after the crash', 'UTF8'))"
show "$survivor" "SELECT channel, node, role, term, leader, last_block FROM ordering.status"

echo "== restarting $old: it catches up"
# The killed postmaster's children exit when they notice it is gone; until
# they have, the new server refuses to start over their shared memory.
gone() { ! kill -0 "$pid" 2>/dev/null; }
wait_for 30 "the killed postmaster to be gone" gone
start_old() { as_pg "pg_ctl -D $DEMO_DIR/$old -l $DEMO_DIR/$old.log -w start"; }
wait_for 30 "$old to start again" start_old
last=$(sql "$survivor" -At -c "SELECT max(number) FROM ordering.blocks WHERE channel = 'demo'")
caught_up() { [ "$(sql "$old" -At -c "SELECT coalesce(max(number), -1) FROM ordering.blocks WHERE channel = 'demo'")" -ge "$last" ]; }
wait_for 60 "$old to catch up" caught_up
show "$old" "SELECT number, tx_count, encode(hash, 'hex') AS hash FROM ordering.blocks WHERE channel = 'demo' ORDER BY number DESC LIMIT 3"

cat <<DONE

The cluster is still running: psql -h 127.0.0.1 -p 55501 -d postgres (n1),
55502 (n2), 55503 (n3).  Stop it with:  bash $0 stop
Stop it and delete its data with:      bash $0 clean
DONE
