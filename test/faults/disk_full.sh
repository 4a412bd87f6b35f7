#!/usr/bin/env bash
# disk_full.sh: layer-4 fault test of ordering (README.md, "Tests", issue 10
# item 4): a follower whose disk fills up under load loses nothing, the
# others keep ordering, and it catches up once space is freed.
#
#   sudo test/faults/disk_full.sh
#
# Run as root (mount) on Debian 12 with PostgreSQL 15 and the extension
# installed (make install).  Three servers on 127.0.0.1 (ports BASE_PORT..+2),
# run as postgres; the data directory of n3 lives on a tmpfs of TMPFS_MB,
# filled with a ballast file but for HEADROOM_MB (1 MB WAL segments, so
# that it fills within seconds).  Under a load submitted on the leader,
# n3's writes fail with ENOSPC (its worker's transactions fail; a WAL write
# failure makes PostgreSQL restart or stop it).  Checks (TAP):
#   - n3's log says "No space left on device";
#   - the leader goes on ordering meanwhile (20 blocks past the moment n3
#     was found full);
#   - after the ballast is deleted (and n3 started again if it stopped), n3
#     reaches the leader's last block with the same hash;
#   - on every node: the chain verifies in plain SQL, every acknowledged
#     transaction is there exactly once where it was acknowledged, nothing
#     that was not submitted (test/faults/check_txs.sql).
# Bounded by MAX_RUNTIME (170 s): a watchdog ends the run.
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
MAX_RUNTIME="${MAX_RUNTIME:-170}"
BASE_PORT="${BASE_PORT:-56890}"
TMPFS_MB="${TMPFS_MB:-128}"
HEADROOM_MB="${HEADROOM_MB:-6}"
CH=diskfull
NODES=(n1 n2 n3)
FULL=n3

# diag pass fail check is bail now_ms wait_until
. "$HERE/tap.sh"

[ "$(id -u)" -eq 0 ] || bail "run as root (sudo $0)"
for t in mount umount runuser timeout psql df dd; do
	command -v "$t" > /dev/null || bail "$t not found"
done
[ -x "$PGBIN/pg_ctl" ] || bail "no PostgreSQL in $PGBIN (set PGBIN)"
sharedir="$("$PGBIN/pg_config" --sharedir 2>/dev/null || echo /usr/share/postgresql/15)"
[ -f "$sharedir/extension/ordering.control" ] || bail "extension ordering not installed (make install)"

port() { echo $(( BASE_PORT + ${1#n} - 1 )); }
TMP=""
MOUNTED=0
WATCHDOG=""
LOAD=""
cleanup() {
	local rc=$? n
	trap - EXIT INT TERM
	[ -n "$LOAD" ] && kill -TERM $LOAD 2>/dev/null
	if [ -n "$TMP" ]; then
		for n in "${NODES[@]}"; do
			[ -f "$TMP/$n/data/postmaster.pid" ] || continue
			runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/$n/data" -m immediate -w -t 30 stop > /dev/null 2>&1
		done
		if [ $FAILED -ne 0 ] || [ $rc -ne 0 ]; then
			for n in "${NODES[@]}"; do
				diag "---- last lines of the server log of $n"
				diag "$(grep -v 'ordering.deliver' "$TMP/log/$n.log" 2>/dev/null | tail -n 30)"
			done
		fi
		[ $MOUNTED -eq 1 ] && umount "$TMP/$FULL"
		rm -rf "$TMP"
	fi
	stop_watchdog
	exit $rc
}
trap cleanup EXIT
start_watchdog

TMP="$(mktemp -d /tmp/orddisk.XXXXXX)"
chmod 755 "$TMP"
mkdir -p "$TMP/log" "$TMP/load"
chown postgres:postgres "$TMP/log"
for n in "${NODES[@]}"; do mkdir -p "$TMP/$n"; done
mount -t tmpfs -o "size=${TMPFS_MB}m,mode=0755" tmpfs "$TMP/$FULL" || bail "mount tmpfs"
MOUNTED=1

psql_n() { # NODE ARGS...
	local n="$1"; shift
	timeout -k 5 "${PSQL_TIMEOUT:-30}" psql -X -A -t -q -v ON_ERROR_STOP=1 \
		"host=127.0.0.1 port=$(port "$n") dbname=postgres user=postgres connect_timeout=5 application_name=orddisk" "$@"
}
sql() { psql_n "$1" -c "$2" 2> "$TMP/psql.err"; }
start() { # NODE
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/$1/data" -l "$TMP/log/$1.log" -w -t 60 start > /dev/null
}
running() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/$1/data" status > /dev/null 2>&1; }

for n in "${NODES[@]}"; do
	chown postgres:postgres "$TMP/$n"
	runuser -u postgres -- "$PGBIN/initdb" -D "$TMP/$n/data" -U postgres -A trust \
		-E UTF8 --no-locale -N --wal-segsize=1 > "$TMP/log/$n.initdb" 2>&1 \
		|| { cat "$TMP/log/$n.initdb"; bail "initdb $n failed"; }
	cat >> "$TMP/$n/data/postgresql.conf" <<EOF
# disk_full.sh
listen_addresses = '127.0.0.1'
port = $(port "$n")
unix_socket_directories = '$TMP/$n'
shared_preload_libraries = 'ordering'
ordering.node_name = '$n'
ordering.database = 'postgres'
ordering.tick_interval = 50
min_wal_size = 2MB
max_wal_size = 16MB
log_min_messages = info
EOF
	start "$n" || { tail -n 30 "$TMP/log/$n.log"; bail "server $n did not start"; }
	sql "$n" "CREATE EXTENSION ordering" > /dev/null || bail "CREATE EXTENSION on $n: $(cat "$TMP/psql.err")"
done

consenters="{$(for n in "${NODES[@]}"; do
	printf '"%s": "host=127.0.0.1 port=%s dbname=postgres user=postgres",' "$n" "$(port "$n")"
done | sed 's/,$//')}"
sql n1 "SELECT ordering.create_channel('$CH', '$consenters'::jsonb, '{\"batch_timeout\": 50}'::jsonb)" > /dev/null \
	|| bail "create_channel: $(cat "$TMP/psql.err")"

LEADER=""
leader_of() { # sets LEADER when n1 and n2 agree on a leader other than n3
	local a b
	a="$(sql n1 "SELECT leader FROM ordering.status WHERE channel = '$CH'")"
	b="$(sql n2 "SELECT leader FROM ordering.status WHERE channel = '$CH'")"
	[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$FULL" ] || return 1
	LEADER="$a"
}
has_leader() { leader_of && return 0; sql n1 "SELECT ordering.transfer_leadership('$CH', 'n1')" > /dev/null 2>&1; return 1; }
check "a leader other than $FULL" wait_until 60 "a leader other than $FULL" has_leader || bail "no leader"
last_block() { sql "$1" "SELECT coalesce(max(number), -1) FROM ordering.blocks WHERE channel = '$CH'"; }
head_of() { sql "$1" "SELECT number || ':' || encode(hash, 'hex') FROM ordering.blocks WHERE channel = '$CH' ORDER BY number DESC LIMIT 1"; }
check "$FULL has the channel" wait_until 60 "$FULL has the channel" \
	bash -c "[ \"\$(psql -X -At 'host=127.0.0.1 port=$(port $FULL) dbname=postgres user=postgres' -c \"SELECT count(*) FROM ordering.status WHERE channel = '$CH' AND role IS NOT NULL\")\" = 1 ]"

# ---------------------------------------------------------------- load
# Three submitters on the leader, one transaction at a time each, ids
# disk-P-I, payloads "payload <id>|" and 2 kB of padding (check_txs.sql).
pad="$(printf 'x%.0s' $(seq 2000))"
load() { # PREFIX
	local i=0 id out
	while [ ! -e "$TMP/load/stop" ]; do
		i=$((i + 1))
		id="disk-$1-$i"
		echo "$id" >> "$TMP/load/attempted.$1"
		out="$(PSQL_TIMEOUT=20 psql_n "$LEADER" -c "SET ordering.submit_timeout = 10000" \
			-c "SELECT tx_id || '|' || block_number || '|' || position FROM ordering.submit_tx('$CH', convert_to('payload $id|$pad', 'UTF8'), '$id')" \
			2>> "$TMP/load/errors")" && [ -n "$out" ] && echo "$out" >> "$TMP/load/acked.$1"
	done
}
LOADS=()
for p in a b c; do
	: > "$TMP/load/acked.$p"; : > "$TMP/load/attempted.$p"
	load "$p" &
	LOADS+=($!)
done
LOAD="${LOADS[*]}"

# ---------------------------------------------------------------- fill n3
avail="$(df --output=avail -BM "$TMP/$FULL" | tail -1 | tr -dc 0-9)"
ballast=$(( avail - HEADROOM_MB ))
diag "tmpfs of $FULL: ${avail} MB free, ballast ${ballast} MB, leader $LEADER"
dd if=/dev/zero of="$TMP/$FULL/ballast" bs=1M count="$ballast" status=none 2> /dev/null
full() { grep -q "No space left on device" "$TMP/log/$FULL.log"; }
check "$FULL runs out of space under load" wait_until 90 "ENOSPC on $FULL" full
l0="$(last_block "$LEADER")"
past() { local l; l="$(last_block "$LEADER")"; [ -n "$l" ] && (( l >= l0 + 20 )); }
check "the others keep ordering while $FULL is full (from block $l0 on)" wait_until 60 "20 more blocks" past

diag "while full: $FULL at block $(last_block "$FULL" || echo '?'), the leader at $(last_block "$LEADER")"

# ---------------------------------------------------------------- free it
rm -f "$TMP/$FULL/ballast"
if ! running "$FULL"; then
	diag "$FULL stopped on the full disk: starting it again"
	start "$FULL" || fail "$FULL starts again once space is freed"
fi
touch "$TMP/load/stop"
wait $LOAD
LOAD=""
cat "$TMP"/load/acked.* > "$TMP/load/acked"
cat "$TMP"/load/attempted.* > "$TMP/load/attempted"
same_head() { local h; h="$(head_of "$LEADER")"; [ -n "$h" ] && [ "$(head_of "$FULL")" = "$h" ] && [ "$(head_of n1)" = "$h" ] && [ "$(head_of n2)" = "$h" ]; }
check "$FULL catches up: the same last block as the leader" wait_until 60 "the same head everywhere" same_head
n_acked=$(wc -l < "$TMP/load/acked")
diag "$n_acked transactions acknowledged"
check "transactions were acknowledged" [ "$n_acked" -gt 0 ]
for n in "${NODES[@]}"; do
	bad="$(psql_n "$n" -v ch="$CH" -f "$HERE/../verify_chain.sql" 2>&1)"
	is "$bad" "" "the chain on $n verifies in plain SQL"
	bad="$({ cat "$TMP/load/acked"; echo '\.'; cat "$TMP/load/attempted"; echo '\.'; } |
		psql_n "$n" -v ch="$CH" -f "$HERE/check_txs.sql" 2>&1)"
	is "$bad" "" "on $n every acknowledged transaction is there exactly once, nothing else"
done

echo "1..$T"
[ $FAILED -eq 0 ]
