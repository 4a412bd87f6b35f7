#!/usr/bin/env bash
# bench/run.sh: throughput and commit latency of a local three-node ordering
# cluster, measured with pgbench.  See bench/README.md.
#
# Starts three PostgreSQL 15 servers (n1..n3) on 127.0.0.1, ports
# $BENCH_PORT_BASE+1..+3 (default 55601..55603), in a temporary directory,
# creates a channel on the three, and runs every combination of
#   payload size  BENCH_SIZES    (default "100 1024" bytes, random bytes)
#   submission    BENCH_MODES    (default "single batch": submit_tx, or
#                                 submit_txs with BENCH_BATCH payloads a call)
#   clients       BENCH_CLIENTS  (default "1 16 64" concurrent connections)
# for BENCH_SECONDS (default 20) each, after a BENCH_WARMUP (default 3) s
# warm-up.  Prints a markdown table: ordered transactions per second and the
# latency of a call (submit until committed in a block on the node) p50/p99.
# Then checks that the three chains are identical, and tears everything down.
#
# Other settings: BENCH_TARGET (leader | follower: where clients connect,
# default leader), BENCH_CONFIG (the channel's config jsonb, default
# '{"batch_timeout": 10, "max_message_count": 500}'), BENCH_CONF (extra
# postgresql.conf lines for each node), BENCH_OUT (also write the table to
# this file), BENCH_KEEP=1 (keep the temporary directory), BENCH_DIR (the
# temporary directory's parent, default /tmp), BENCH_NODES (default 3).
#
# Run as root (it re-executes itself as the postgres user) or as any user
# allowed to run PostgreSQL.  The extension must be installed (make install).
set -euo pipefail

export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"

if [ "$(id -u)" -eq 0 ]; then
	self="$(readlink -f "$0")"
	vars=()
	for v in $(compgen -e | grep '^BENCH_' || true); do
		vars+=("$v=${!v}")
	done
	# the script may live in a directory postgres cannot write: run a copy
	tmp_self="$(mktemp /tmp/ordering-bench-run.XXXXXX.sh)"
	cp "$self" "$tmp_self"
	chmod 755 "$tmp_self"
	chown postgres "$tmp_self"
	if [ -n "${BENCH_OUT:-}" ]; then
		touch "$BENCH_OUT"
		chown postgres "$BENCH_OUT"
	fi
	status=0
	su postgres -s /bin/bash -c "cd /tmp && env $(printf '%q ' "${vars[@]}") PATH='$PATH' bash '$tmp_self'" || status=$?
	rm -f "$tmp_self"
	exit $status
fi

SECONDS_PER_RUN="${BENCH_SECONDS:-20}"
WARMUP="${BENCH_WARMUP:-3}"
SIZES="${BENCH_SIZES:-100 1024}"
MODES="${BENCH_MODES:-single batch}"
CLIENTS="${BENCH_CLIENTS:-1 16 64}"
BATCH="${BENCH_BATCH:-10}"
PORT_BASE="${BENCH_PORT_BASE:-55600}"
TARGET="${BENCH_TARGET:-leader}"
CHANNEL_CONFIG="${BENCH_CONFIG:-}"
[ -n "$CHANNEL_CONFIG" ] || CHANNEL_CONFIG='{"batch_timeout": 10, "max_message_count": 500}'
CHANNEL=bench
NODES="$(seq -f "n%g" -s " " 1 "${BENCH_NODES:-3}")"

work="$(mktemp -d "${BENCH_DIR:-/tmp}/ordering-bench.XXXXXX")"
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

port_of() { echo $((PORT_BASE + ${1#n})); }
psql_on() { local n="$1"; shift; psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port_of "$n")" -U postgres -d postgres "$@"; }

cleanup() {
	for n in $NODES; do
		[ -d "$work/$n" ] && pg_ctl -D "$work/$n" -m immediate stop >/dev/null 2>&1 || true
	done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# Bounded wait: wait_for "what" seconds command...
wait_for() {
	local what="$1" secs="$2"; shift 2
	local deadline=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			log "timed out after ${secs}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

# --- the cluster
consenters="{"
for n in $NODES; do
	port="$(port_of "$n")"
	if pg_isready -q -h 127.0.0.1 -p "$port"; then
		log "port $port is in use"; exit 1
	fi
	initdb -D "$work/$n" -A trust -U postgres --no-sync >/dev/null
	cat >> "$work/$n/postgresql.conf" <<CONF
# bench/run.sh
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
max_connections = 200
shared_buffers = 256MB
shared_preload_libraries = 'ordering'
ordering.node_name = '$n'
ordering.database = 'postgres'
logging_collector = off
${BENCH_CONF:-}
CONF
	[ "$consenters" = "{" ] || consenters+=", "
	consenters+="\"$n\": \"host=127.0.0.1 port=$port dbname=postgres user=postgres\""
done
consenters+="}"

for n in $NODES; do
	pg_ctl -D "$work/$n" -l "$work/$n.log" -w start >/dev/null
	psql_on "$n" -c 'CREATE EXTENSION ordering' -c 'CREATE EXTENSION IF NOT EXISTS pgcrypto'
done
log "cluster up in $work"

create_sql="SELECT ordering.create_channel('$CHANNEL', '$consenters'::jsonb, '$CHANNEL_CONFIG'::jsonb)"
psql_on n1 -c "$create_sql" >/dev/null
has_channel_everywhere() {
	for n in $NODES; do
		[ "$(psql_on "$n" -c "SELECT count(*) FROM ordering.channels WHERE channel = '$CHANNEL'")" = 1 ] || return 1
	done
}
# The other consenters join when they hear from n1; if this build does not
# do that (yet), create the same channel (the same genesis block) on each.
if ! wait_for "$CHANNEL on every node" "${BENCH_JOIN_WAIT:-15}" has_channel_everywhere; then
	log "the other nodes did not join by themselves: creating $CHANNEL on each"
	for n in $NODES; do
		[ "$(psql_on "$n" -c "SELECT count(*) FROM ordering.channels WHERE channel = '$CHANNEL'")" = 1 ] ||
			psql_on "$n" -c "$create_sql" >/dev/null
	done
fi

leader_is_agreed() {
	local l="" x
	for n in $NODES; do
		x="$(psql_on "$n" -c "SELECT leader FROM ordering.status WHERE channel = '$CHANNEL'")" || return 1
		[ -n "$x" ] || return 1
		[ -z "$l" ] || [ "$l" = "$x" ] || return 1
		l="$x"
	done
	echo "$l" > "$work/leader"
}
wait_for "a leader of $CHANNEL" 60 leader_is_agreed || exit 1
leader="$(cat "$work/leader")"
case "$leader" in
	n[0-9]*) ;;
	*) leader="$(psql_on n1 -c "SELECT node FROM ordering.consenters WHERE channel = '$CHANNEL' AND raft_id = $leader")" ;;
esac
if [ "$TARGET" = follower ]; then
	target="$(for n in $NODES; do [ "$n" = "$leader" ] || echo "$n"; done | head -1)"
else
	target="$leader"
fi
target_port="$(port_of "$target")"
log "leader $leader; clients connect to $target (port $target_port)"

ordered_count() {
	psql_on "$target" -c "SELECT count(*) FROM ordering.transactions WHERE channel = '$CHANNEL'"
}

# --- the runs
nproc="$(nproc)"
results="$work/results.md"
{
	echo "| payload | submission | clients | ordered tx/s | calls/s | p50 ms | p99 ms | errors |"
	echo "|--------:|------------|--------:|-------------:|--------:|-------:|-------:|-------:|"
} > "$results"

for size in $SIZES; do
	for mode in $MODES; do
		script="$work/$mode-$size.sql"
		if [ "$mode" = batch ]; then
			per_call="$BATCH"
			echo "SELECT count(*) FROM ordering.submit_txs('$CHANNEL', ARRAY(SELECT gen_random_bytes($size) FROM generate_series(1, $BATCH)));" > "$script"
		else
			per_call=1
			echo "SELECT tx_id FROM ordering.submit_tx('$CHANNEL', gen_random_bytes($size));" > "$script"
		fi
		for c in $CLIENTS; do
			tag="$mode-$size-$c"
			threads=$(( c < nproc * 2 ? c : nproc * 2 ))
			if [ "$WARMUP" -gt 0 ]; then
				pgbench -n -h 127.0.0.1 -p "$target_port" -U postgres -M prepared \
					-f "$script" -c "$c" -j "$threads" -T "$WARMUP" postgres > "$work/$tag.warmup.out" 2>&1 || true
			fi
			mkdir -p "$work/log-$tag"
			before="$(ordered_count)"
			t0="$(date +%s.%N)"
			pgbench -n -h 127.0.0.1 -p "$target_port" -U postgres -M prepared \
				-f "$script" -c "$c" -j "$threads" -T "$SECONDS_PER_RUN" \
				-l --log-prefix="$work/log-$tag/tx" postgres > "$work/$tag.out" 2>&1 || true
			t1="$(date +%s.%N)"
			# calls still in flight when pgbench stops are not counted by it;
			# let them land before counting the table.
			sleep 1
			after="$(ordered_count)"
			# per-transaction log: client_id tx_no latency_us script_no epoch us
			cat "$work/log-$tag"/tx* 2>/dev/null | awk '$3 ~ /^[0-9]+$/ { print $3 }' | sort -n > "$work/$tag.lat"
			failed="$(cat "$work/log-$tag"/tx* 2>/dev/null | awk '$3 !~ /^[0-9]+$/' | wc -l)"
			aborted="$(grep -c 'aborted\|ERROR' "$work/$tag.out" || true)"
			calls="$(wc -l < "$work/$tag.lat")"
			read -r p50 p99 < <(awk '{ v[NR] = $1 } END {
				if (NR == 0) { print "n/a n/a"; exit }
				i50 = int(NR * 0.50 + 0.999999); if (i50 < 1) i50 = 1
				i99 = int(NR * 0.99 + 0.999999); if (i99 < 1) i99 = 1
				printf "%.1f %.1f\n", v[i50] / 1000, v[i99] / 1000 }' "$work/$tag.lat")
			tps_calls="$(awk -v n="$calls" -v s="$SECONDS_PER_RUN" 'BEGIN { printf "%.1f", n / s }')"
			tps_ordered="$(awk -v n="$calls" -v k="$per_call" -v s="$SECONDS_PER_RUN" 'BEGIN { printf "%.0f", n * k / s }')"
			table_rate="$(awk -v a="$after" -v b="$before" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", (a - b) / (t1 - t0) }')"
			label="$([ "$size" -ge 1024 ] && echo "$((size / 1024)) KiB" || echo "$size B")"
			sub="$([ "$mode" = batch ] && echo "submit_txs x$BATCH" || echo "submit_tx")"
			echo "| $label | $sub | $c | $tps_ordered | $tps_calls | $p50 | $p99 | $((failed + aborted)) |" >> "$results"
			log "$tag: $tps_ordered ordered tx/s (table: $table_rate/s over $(awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", t1 - t0 }') s), p50 $p50 ms, p99 $p99 ms, $calls calls"
			if [ $((failed + aborted)) -gt 0 ]; then
				log "$tag: errors, e.g.:"
				grep -h -m3 'ERROR\|error' "$work/$tag.out" >&2 || true
			fi
			if [ "$calls" -eq 0 ]; then
				log "no call completed; pgbench said:"; tail -20 "$work/$tag.out" >&2
			fi
		done
	done
done

# --- sanity: the three chains are the same
same_head() {
	local h="" x
	for n in $NODES; do
		x="$(psql_on "$n" -c "SELECT number || ':' || encode(hash, 'hex') FROM ordering.blocks WHERE channel = '$CHANNEL' ORDER BY number DESC LIMIT 1")" || return 1
		[ -z "$h" ] || [ "$h" = "$x" ] || return 1
		h="$x"
	done
}
if wait_for "identical chains" 60 same_head; then
	chains="identical on $NODES"
else
	chains="NOT identical (see the logs)"
fi
blocks="$(psql_on "$target" -c "SELECT count(*) FROM ordering.blocks WHERE channel = '$CHANNEL'")"
txs="$(ordered_count)"

{
	echo
	echo "Machine: $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, $(uname -sr)"
	echo "PostgreSQL: $(postgres --version | sed 's/^postgres //'); $(echo $NODES | wc -w) nodes on one machine, 127.0.0.1"
	echo "Channel config: $CHANNEL_CONFIG; clients on the $TARGET ($target); ${SECONDS_PER_RUN} s per run after ${WARMUP} s warm-up; pgbench -M prepared"
	echo "Node settings: shared_buffers = 256MB, fsync and synchronous_commit on (defaults), other ordering.* defaults${BENCH_CONF:+; plus: $BENCH_CONF}"
	echo "After the runs: $blocks blocks, $txs transactions; chains $chains"
} >> "$results"

echo
cat "$results"
if [ -n "${BENCH_OUT:-}" ]; then
	cp "$results" "$BENCH_OUT"
fi
