#!/usr/bin/env bash
# partition.sh: layer-4 fault tests of ordering (README.md, "Tests"): real network
# partitions between three PostgreSQL servers in network namespaces.
#
#   sudo test/faults/partition.sh          (SEED=n ROUNDS=n to vary)
#
# Run as root on Debian 12 with PostgreSQL 15 and the extension installed
# (make install).  Builds namespaces ordf-n1..ordf-n3 (10.213.0.1-3/24), each
# linked by a veth pair to a bridge in namespace ordf-br; nothing is added to
# the root namespace and traffic only goes to 10.213.0.1-3.  One server per
# node namespace, run as postgres.  Partitions:
#   isolate N      the bridge-side veth of N is set down (cable pulled)
#   cut A B        blackhole routes A->B and B->A (A and B still reach C)
#   oneway A B     blackhole route A->B only
# (tc netem is used by nothing: sch_netem is often missing in containers.)
#
# Scenarios (TAP output, plan at the end, exit status 1 on any failure):
#   a. the leader is isolated: the majority elects a new leader in a higher
#      term; the old leader steps down (check-quorum) and, thanks to pre-vote,
#      does not raise its term; submits on the majority succeed, a submit on
#      the isolated node fails with SQLSTATE 57014, reads there keep working
#   b. heal: the old leader catches up without disrupting the leader (same
#      leader and term before and after)
#   b2. an idle follower (log up to date) is isolated and rejoins: only
#      pre-vote keeps it from raising its term; leader and term unchanged
#   c. a follower is isolated while submits go on; heal; it catches up
#   e. (second channel faults-snap, snapshot_interval_bytes 1024) a follower
#      is isolated until the leader's log no longer has what it misses; on
#      rejoin it installs a snapshot, pulls the blocks and catches up
#   d. ROUNDS random partitions (seeded by SEED) under two background
#      submitters on different nodes; heal; quiescence
# Then on every node, for both channels: identical chains, verified in
# plain SQL (test/verify_chain.sql),
# every acknowledged transaction exactly once where it was acknowledged,
# no tx_id twice, nothing that was not submitted; and, from status samples
# taken throughout, never two leaders in one term.
#
# Environment: SEED (default: from the clock; printed), ROUNDS (6),
# HOLD_MAX (5: each random partition lasts 2..HOLD_MAX seconds),
# SNAPSHOT_INTERVAL_BYTES (the channel's snapshot_interval_bytes; default:
# the channel default, so no snapshot is taken in a normal run),
# PGBIN (/usr/lib/postgresql/15/bin), MAX_RUNTIME (seconds, 480: a watchdog
# ends the run), ORDF_LOG_DIR (copy the server logs there at the end),
# ORDF_EXTRA_CONF (appended to every postgresql.conf).
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SEED="${SEED:-$(( $(date +%s) % 1000000 ))}"
ROUNDS="${ROUNDS:-6}"
HOLD_MAX="${HOLD_MAX:-5}"   # scenario d: partitions last 2..HOLD_MAX s
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
MAX_RUNTIME="${MAX_RUNTIME:-480}"
CH=faults            # scenarios a-d; "the channel" of the helpers below
CH_MAIN=$CH
CH_SNAP=faults-snap  # scenario e: snapshots every 1024 bytes
NODES=(n1 n2 n3)
NET=10.213.0
RANDOM=$SEED

# ---------------------------------------------------------------- TAP
# diag pass fail check is bail now_ms elapsed wait_until
. "$HERE/tap.sh"

# ---------------------------------------------------------------- checks
[ "$(id -u)" -eq 0 ] || bail "run as root (sudo $0)"
for t in ip runuser timeout setsid psql; do
	command -v "$t" > /dev/null || bail "$t not found"
done
[ -x "$PGBIN/pg_ctl" ] && [ -x "$PGBIN/initdb" ] || bail "no PostgreSQL in $PGBIN (set PGBIN)"
id postgres > /dev/null 2>&1 || bail "no postgres user"
sharedir="$("$PGBIN/pg_config" --sharedir 2>/dev/null || echo /usr/share/postgresql/15)"
[ -f "$sharedir/extension/ordering.control" ] || bail "extension ordering not installed (make install)"
# one run at a time: the namespace names are fixed
command -v flock > /dev/null || bail "flock not found"
lockdir=/run/lock; [ -d "$lockdir" ] && [ -w "$lockdir" ] || lockdir=/tmp
exec 9> "$lockdir/ordf-partition.lock"
flock -n 9 || bail "another partition.sh is running (lock held)"
for ns in ordf-br "${NODES[@]/#/ordf-}"; do
	if ip netns list | grep -qw "^$ns"; then
		if [ -n "$(ip netns pids "$ns" 2>/dev/null)" ]; then
			bail "namespace $ns exists with processes in it (a run in progress?); \
see: ip netns pids $ns"
		fi
		ip netns del "$ns" || bail "cannot delete stale namespace $ns"
	fi
done

addr() { echo "$NET.${1#n}"; }

# ---------------------------------------------------------------- cleanup
TMP=""
WATCHDOG=""
OWN_NS=0    # set once we create the namespaces: cleanup removes only ours
SUBMITTERS=()
cleanup() {
	local rc=$? n pid
	trap - EXIT INT TERM
	for pid in "${SUBMITTERS[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null
	done
	if [ -n "$TMP" ]; then
		for n in "${NODES[@]}"; do
			[ -f "$TMP/$n/data/postmaster.pid" ] || continue
			ip netns exec "ordf-$n" runuser -u postgres -- \
				"$PGBIN/pg_ctl" -D "$TMP/$n/data" -m immediate -w -t 30 stop > /dev/null 2>&1
			if [ -f "$TMP/$n/data/postmaster.pid" ]; then
				pid="$(head -1 "$TMP/$n/data/postmaster.pid")"
				[[ "$pid" =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
			fi
		done
		if [ $FAILED -ne 0 ] || [ $rc -ne 0 ]; then
			for n in "${NODES[@]}"; do
				[ -f "$TMP/$n/server.log" ] || continue
				diag "---- last lines of the server log of $n"
				diag "$(grep -v 'ordering.deliver' "$TMP/$n/server.log" | tail -n 40)"
			done
		fi
		if [ -n "${ORDF_LOG_DIR:-}" ]; then
			mkdir -p "$ORDF_LOG_DIR" && for n in "${NODES[@]}"; do
				cp "$TMP/$n/server.log" "$ORDF_LOG_DIR/$n.log" 2>/dev/null
			done
			cp -r "$TMP/load" "$ORDF_LOG_DIR/" 2>/dev/null
			cp "$TMP/monitor.log" "$ORDF_LOG_DIR/" 2>/dev/null
			diag "logs copied to $ORDF_LOG_DIR"
		fi
	fi
	for ns in "${NODES[@]/#/ordf-}" ordf-br; do
		[ $OWN_NS -eq 1 ] || break
		ip netns list | grep -qw "^$ns" || continue
		# anything of ours still in the namespace (a server that did not stop)
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "$TMP" ] && rm -rf "$TMP"
	stop_watchdog
	exit $rc
}
trap cleanup EXIT
start_watchdog

echo "# partition.sh: SEED=$SEED ROUNDS=$ROUNDS (rerun: SEED=$SEED ROUNDS=$ROUNDS $0)"

TMP="$(mktemp -d /tmp/ordf.XXXXXX)"
chmod 755 "$TMP"
cd "$TMP" || bail "cd $TMP"
mkdir -p "$TMP/load"
for f in acked attempted; do : > "$TMP/$f.$CH_MAIN"; : > "$TMP/$f.$CH_SNAP"; done
: > "$TMP/monitor.log"

# ---------------------------------------------------------------- network
net() { ip "$@" || bail "ip $* failed"; }
OWN_NS=1
net netns add ordf-br
net -n ordf-br link set lo up
net -n ordf-br link add br0 type bridge
net -n ordf-br link set br0 up
for n in "${NODES[@]}"; do
	i=${n#n}
	net netns add "ordf-$n"
	net -n "ordf-$n" link set lo up
	net -n ordf-br link add "v$i" type veth peer name eth0 netns "ordf-$n"
	net -n ordf-br link set "v$i" master br0
	net -n ordf-br link set "v$i" up
	net -n "ordf-$n" addr add "$(addr $n)/24" dev eth0
	net -n "ordf-$n" link set eth0 up
done

isolate() { ip -n ordf-br link set "v${1#n}" down; }
rejoin() { ip -n ordf-br link set "v${1#n}" up; }
oneway() { ip -n "ordf-$1" route replace blackhole "$(addr $2)/32"; }
cut() { oneway "$1" "$2"; oneway "$2" "$1"; }
heal_all() {
	local n
	for n in "${NODES[@]}"; do
		ip -n ordf-br link set "v${n#n}" up
		ip -n "ordf-$n" route flush type blackhole
	done
}

can_reach() { # FROM TO: TCP to TO's server from FROM's namespace
	timeout 5 ip netns exec "ordf-$1" bash -c "exec 3<>/dev/tcp/$(addr $2)/5432" 2>/dev/null
}
all_reach() {
	local a b
	for a in "${NODES[@]}"; do for b in "${NODES[@]}"; do
		[ "$a" = "$b" ] || can_reach "$a" "$b" || return 1
	done; done
}

# ---------------------------------------------------------------- servers
for n in "${NODES[@]}"; do
	mkdir -p "$TMP/$n/sock"
	chown -R postgres:postgres "$TMP/$n"
	runuser -u postgres -- "$PGBIN/initdb" -D "$TMP/$n/data" -U postgres -A trust \
		-E UTF8 --no-locale -N > "$TMP/$n/initdb.log" 2>&1 \
		|| { cat "$TMP/$n/initdb.log"; bail "initdb $n failed"; }
	cat > "$TMP/$n/data/pg_hba.conf" <<EOF
# test only: trust on the namespaces' private network
local all all trust
host  all all $NET.0/24 trust
EOF
	cat >> "$TMP/$n/data/postgresql.conf" <<EOF
# partition.sh
listen_addresses = '$(addr $n)'
port = 5432
unix_socket_directories = '$TMP/$n/sock'
shared_preload_libraries = 'ordering'
ordering.node_name = '$n'
ordering.database = 'postgres'
ordering.tick_interval = 50
max_connections = 120
log_line_prefix = '%m [%p] %q%a: '
log_min_messages = info
${ORDF_EXTRA_CONF:-}
EOF
	chown postgres:postgres "$TMP/$n/data/pg_hba.conf" "$TMP/$n/data/postgresql.conf"
	ip netns exec "ordf-$n" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/$n/data" \
		-l "$TMP/$n/server.log" -w -t 60 start > /dev/null \
		|| { tail -n 30 "$TMP/$n/server.log"; bail "server $n did not start"; }
done

# psql_n NODE ARGS...: psql inside NODE's namespace to NODE's server
psql_n() {
	local n="$1"; shift
	timeout -k 5 "${PSQL_TIMEOUT:-30}" ip netns exec "ordf-$n" \
		psql -X -A -t -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
		"host=$(addr $n) port=5432 dbname=postgres user=postgres connect_timeout=5 application_name=ordf" "$@"
}
# sql NODE SQL: stdout of one statement; errors to $TMP/psql.err
sql() { psql_n "$1" -c "$2" 2> "$TMP/psql.err"; }

for n in "${NODES[@]}"; do
	sql "$n" "CREATE EXTENSION ordering" > /dev/null \
		|| bail "CREATE EXTENSION on $n: $(cat "$TMP/psql.err")"
done
check "every node reaches every other node over the bridge" all_reach

consenters="{$(for n in "${NODES[@]}"; do
	printf '"%s": "hostaddr=%s port=5432 dbname=postgres user=postgres",' "$n" "$(addr $n)"
done | sed 's/,$//')}"
chconf='{"batch_timeout": 50'"${SNAPSHOT_INTERVAL_BYTES:+, \"snapshot_interval_bytes\": $SNAPSHOT_INTERVAL_BYTES}"'}'
diag "channel $CH: consenters n1..n3, config $chconf"
sql n1 "SELECT ordering.create_channel('$CH', '$consenters'::jsonb, '$chconf'::jsonb)" > /dev/null \
	|| bail "create_channel $CH: $(cat "$TMP/psql.err")"
sql n1 "SELECT ordering.create_channel('$CH_SNAP', '$consenters'::jsonb, '{\"batch_timeout\": 50, \"snapshot_interval_bytes\": 1024}'::jsonb)" > /dev/null \
	|| bail "create_channel $CH_SNAP: $(cat "$TMP/psql.err")"

has_channel() {
	local n
	for n in "$@"; do
		[ "$(sql "$n" "SELECT count(*) FROM ordering.status WHERE channel = '$CH' AND role IS NOT NULL")" = 1 ] || return 1
	done
}
# with_ch CHANNEL COMMAND...: runs the command with $CH set to CHANNEL
with_ch() { local saved="$CH" rc; CH="$1"; shift; "$@"; rc=$?; CH="$saved"; return $rc; }
check "channel $CH is on every node" wait_until 60 "channel on n1..n3" has_channel "${NODES[@]}"
check "channel $CH_SNAP is on every node" with_ch "$CH_SNAP" wait_until 60 "channel on n1..n3" has_channel "${NODES[@]}"

# ---------------------------------------------------------------- status
# status NODE: sets S_ROLE S_TERM S_LEADER S_LAST (empty when no answer)
status() {
	local line
	line="$(sql "$1" "SELECT coalesce(role, '') || '|' || coalesce(term::text, '') || '|' || coalesce(leader, '') || '|' || coalesce(last_block::text, '') FROM ordering.status WHERE channel = '$CH'")"
	IFS='|' read -r S_ROLE S_TERM S_LEADER S_LAST <<< "$line"
	S_ROLE="${S_ROLE:-}" S_TERM="${S_TERM:-}" S_LEADER="${S_LEADER:-}" S_LAST="${S_LAST:-}"
	echo "$(now_ms) $1 ${S_ROLE:-?} ${S_TERM:-?} ${S_LEADER:--} $CH" >> "$TMP/monitor.log"
	[ -n "$line" ]
}
# agreed NODES...: every listed node names the same leader, which is one of
# them and says it leads; sets LEADER and TERM (the leader's term).
LAST_SEEN=""
agreed() {
	local n leader="" st=0
	LAST_SEEN=""
	for n in "$@"; do
		status "$n"
		LAST_SEEN+="$n: role=$S_ROLE term=$S_TERM leader=$S_LEADER last_block=$S_LAST; "
		[ -n "$S_LEADER" ] || st=1
		[ -z "$leader" ] && leader="$S_LEADER"
		[ "$S_LEADER" = "$leader" ] || st=1
	done
	[ $st -eq 0 ] || return 1
	[[ " $* " == *" $leader "* ]] || return 1
	status "$leader"
	[ "$S_ROLE" = leader ] || return 1
	LEADER="$leader" TERM="$S_TERM"
}
wait_leader() { # TIMEOUT NODES...
	local t="$1"; shift
	wait_until "$t" "a leader agreed by $*" agreed "$@" || { diag "  last seen: $LAST_SEEN"; return 1; }
}
not_leader() { status "$1" && [ "$S_ROLE" != leader ] && [ -n "$S_ROLE" ]; }
others() { local n; for n in "${NODES[@]}"; do [[ " $* " == *" $n "* ]] || echo -n "$n "; done; }

# chain digest of a node: "count:md5 of number:hash list"
digest() {
	sql "$1" "SELECT count(*) || ':' || md5(coalesce(string_agg(number || ':' || encode(hash, 'hex'), ',' ORDER BY number), '')) || ':' || coalesce(max(number), -1) FROM ordering.blocks WHERE channel = '$CH'"
}
DIGESTS=""
same_chain() { # NODES...: identical (number, hash) lists
	local n d first="" st=0
	DIGESTS=""
	for n in "$@"; do
		d="$(digest "$n")" || { DIGESTS+="$n=no answer "; st=1; continue; }
		DIGESTS+="$n=$d "
		[ -z "$first" ] && first="$d"
		[ "$d" = "$first" ] || st=1
	done
	return $st
}
wait_same_chain() { # TIMEOUT NODES...
	local t="$1"; shift
	wait_until "$t" "identical chains on $*" same_chain "$@" || { diag "  chains: $DIGESTS"; return 1; }
}
# observe SECONDS COMMAND...: the command must hold at every sample (every
# 200 ms) for the whole period; a bounded observation, not a wait.
observe() {
	local secs="$1"; shift
	local end=$(( $(now_ms) + secs * 1000 ))
	while (( $(now_ms) < end )); do
		"$@" || return 1
		sleep 0.2
	done
}
# sample every node's status into the monitor log for SECONDS
monitor() {
	local end=$(( $(now_ms) + $1 * 1000 )) n
	while (( $(now_ms) < end )); do
		for n in "${NODES[@]}"; do status "$n"; done
		sleep 0.2
	done
}

# submit NODE ID [SUBMIT_TIMEOUT_MS]: ordering.submit_tx with payload
# 'payload ID'; sets SUB_RC, SUB_OUT, SUB_STATE (the SQLSTATE) and records
# the id as attempted, and as acknowledged when it was.
submit() {
	local n="$1" id="$2" tmo="${3:-20000}"
	echo "$id" >> "$TMP/attempted.$CH"
	SUB_OUT="$(PSQL_TIMEOUT=$(( tmo / 1000 + 20 )) psql_n "$n" \
		-c "SET ordering.submit_timeout = $tmo" \
		-c "SELECT tx_id || '|' || block_number || '|' || position FROM ordering.submit_tx('$CH', convert_to('payload $id', 'UTF8'), '$id')" \
		2> "$TMP/submit.err")"
	SUB_RC=$?
	SUB_STATE="$(grep -o -m1 -E '(ERROR|FATAL): +[0-9A-Z]{5}' "$TMP/submit.err" | grep -o -E '[0-9A-Z]{5}$')"
	SUB_ERR="$(tr '\n' ' ' < "$TMP/submit.err")"
	if [ $SUB_RC -eq 0 ] && [[ "$SUB_OUT" =~ ^"$id"\|[0-9]+\|[0-9]+$ ]]; then
		echo "$SUB_OUT" >> "$TMP/acked.$CH"
		return 0
	fi
	return 1
}
# submit_ok NODE ID: a TAP test that the submit is acknowledged
submit_ok() {
	if submit "$1" "$2" 20000; then pass "submit $2 on $1 acknowledged (block ${SUB_OUT#*|})"
	else fail "submit $2 on $1 acknowledged"; diag "  rc=$SUB_RC $SUB_ERR"; fi
}

# ================================================================ start
wait_leader 60 "${NODES[@]}" || bail "no leader agreed by n1..n3"
pass "n1..n3 agree on leader $LEADER (term $TERM) [$(elapsed)]"
for i in 1 2 3; do submit_ok "n$i" "init-$i"; done
check "all three have the same chain before the faults" wait_same_chain 30 "${NODES[@]}"

# ================================================================ a
echo "# --- a. the leader is isolated"
L="$LEADER" TL="$TERM"
read -r -a MAJ <<< "$(others "$L")"
status "$L"; blocks_before_l="$S_LAST"
isolate "$L"
diag "isolated $L (leader, term $TL); majority ${MAJ[*]} [$(elapsed)]"
cannot_reach() { ! can_reach "$1" "$2"; }
check "$L cannot reach ${MAJ[0]} (the partition is real)" cannot_reach "$L" "${MAJ[0]}"

new_leader_in_majority() { agreed "${MAJ[@]}" && [ "$LEADER" != "$L" ] && (( TERM > TL )); }
if wait_until 30 "a new leader among ${MAJ[*]}" new_leader_in_majority; then
	M="$LEADER" TM="$TERM"
	pass "the majority elects a new leader $M in a higher term ($TM > $TL) [$(elapsed)]"
else
	fail "the majority elects a new leader in a higher term"; diag "  last seen: $LAST_SEEN"
	M="${MAJ[0]}" TM="$TL"
fi
check "the isolated old leader $L steps down (check-quorum)" \
	wait_until 20 "$L not leader" not_leader "$L"
diag "  $L: role=$S_ROLE term=$S_TERM leader=${S_LEADER:-none}"

for i in 1 2 3; do submit_ok "${MAJ[$(( i % 2 ))]}" "a-majority-$i"; done

if submit "$L" "a-isolated-1" 2000; then
	fail "a submit on the isolated node $L times out"; diag "  it was acknowledged: $SUB_OUT"
else
	is "$SUB_STATE" 57014 "a submit on the isolated node $L fails with SQLSTATE 57014 after ordering.submit_timeout"
	[ "$SUB_STATE" = 57014 ] || diag "  rc=$SUB_RC $SUB_ERR"
	if [[ "$SUB_ERR" == *"a-isolated-1"*"not ordered within 2000 ms"* ]]; then
		pass "the error names the transaction and the timeout"
	else fail "the error names the transaction and the timeout"; diag "  $SUB_ERR"; fi
fi

# reads keep working on the isolated node
n_blocks="$(sql "$L" "SELECT count(*) FROM ordering.blocks WHERE channel = '$CH'")"
check "reads work on the isolated node $L ($n_blocks blocks)" test -n "$n_blocks" -a "${n_blocks:-0}" -gt 0
n_init="$(sql "$L" "SELECT count(*) FROM ordering.transactions WHERE channel = '$CH' AND tx_id LIKE 'init-%'")"
is "$n_init" 3 "the isolated node $L reads its committed transactions"
bad="$(psql_n "$L" -v ch="$CH" -f "$HERE/../verify_chain.sql" 2>&1)"
is "$bad" "" "the isolated node's chain still verifies"
status "$L"
is "$S_TERM" "$TL" "pre-vote: the isolated node $L did not raise its term while isolated"
check "no block was added on the isolated node $L" test "${S_LAST:-x}" = "$blocks_before_l"

# ================================================================ b
echo "# --- b. heal: $L rejoins"
status "$M"; TM="$S_TERM"
rejoin "$L"
diag "rejoined $L; leader $M term $TM [$(elapsed)]"
check "$L reaches the others again" wait_until 20 "$L reaches ${MAJ[*]}" all_reach
check "$L catches up (identical chains)" wait_same_chain 60 "${NODES[@]}"
if wait_leader 30 "${NODES[@]}"; then
	is "$LEADER/$TERM" "$M/$TM" "after the rejoin the leader and term are unchanged ($M, term $TM)"
else fail "all three agree on a leader after the rejoin"; fi
leader_is() { status "$1" && [ "$S_ROLE" = leader ] && [ "$S_TERM" = "$2" ]; }
check "pre-vote: the rejoined node does not disrupt $M for 3 s (still leader, term $TM)" \
	observe 3 leader_is "$M" "$TM"
status "$L"
is "$S_TERM/$S_ROLE" "$TM/follower" "the rejoined node $L follows in the cluster's term"
submit_ok "$L" "b-rejoined-1"
check "identical chains after a submit on the rejoined node" wait_same_chain 30 "${NODES[@]}"

# ================================================================ b2
# An idle follower is isolated: nothing is committed meanwhile, so its log
# stays as up to date as the leader's and only pre-vote keeps it from
# raising its term and deposing the leader when it comes back.
echo "# --- b2. an idle follower (up-to-date log) is isolated, then rejoins"
wait_leader 30 "${NODES[@]}" || fail "a leader before scenario b2"
M="$LEADER" TM="$TERM"
read -r F G <<< "$(others "$M")"
isolate "$F"
diag "isolated idle follower $F; leader $M term $TM [$(elapsed)]"
check "the leader $M keeps its role and term $TM while $F is away (3 s)" observe 3 leader_is "$M" "$TM"
status "$F"
is "$S_TERM" "$TM" "pre-vote: the idle isolated follower $F did not raise its term"
check "the idle isolated follower $F is not leader" test "$S_ROLE" != leader
rejoin "$F"
check "$F reaches the others again" wait_until 20 "$F reaches the others" all_reach
check "pre-vote: $F does not disrupt $M after rejoining (3 s)" observe 3 leader_is "$M" "$TM"
if wait_leader 30 "${NODES[@]}"; then
	is "$LEADER/$TERM" "$M/$TM" "leader and term unchanged after the idle follower $F rejoins"
else fail "all three agree on a leader after $F rejoins"; fi

# ================================================================ c
echo "# --- c. a follower is isolated while submits go on"
wait_leader 30 "${NODES[@]}" || fail "a leader before scenario c"
M="$LEADER" TM="$TERM"
read -r F G <<< "$(others "$M")"
isolate "$F"
diag "isolated follower $F; leader $M term $TM; $G stays [$(elapsed)]"
t_iso=$(now_ms)
for i in 1 2 3 4 5 6; do
	if (( i % 2 )); then submit_ok "$M" "c-$i"; else submit_ok "$G" "c-$i"; fi
done
# let the isolated follower run several election timeouts (10 ticks x 50 ms)
left=$(( 3 - ($(now_ms) - t_iso) / 1000 )); (( left < 1 )) && left=1
check "the leader $M keeps its quorum and term $TM while $F is away" observe "$left" leader_is "$M" "$TM"
status "$F"
is "$S_TERM" "$TM" "pre-vote: the isolated follower $F did not raise its term"
check "the isolated follower $F is not leader" test "$S_ROLE" != leader
rejoin "$F"
diag "rejoined $F [$(elapsed)]"
check "$F catches up (identical chains)" wait_same_chain 60 "${NODES[@]}"
if wait_leader 30 "${NODES[@]}"; then
	is "$LEADER/$TERM" "$M/$TM" "leader and term unchanged after $F rejoins"
else fail "all three agree on a leader after $F rejoins"; fi

# ================================================================ e
# Fabric's example: a follower misses so much that the leader's log no longer
# has it (snapshots every 1024 bytes delete the covered entries); on rejoin it
# gets a snapshot, pulls the missing blocks from a peer and verifies them.
CH="$CH_SNAP"
echo "# --- e. channel $CH: a follower misses enough to need a snapshot"
# submit_batch NODE PREFIX COUNT PAD: COUNT sequential submit_tx in one call,
# ids PREFIX-1.., payload 'payload <id>|' plus PAD x's
submit_batch() {
	local n="$1" prefix="$2" count="$3" pad="$4" g out rc
	for g in $(seq 1 "$count"); do echo "$prefix-$g" >> "$TMP/attempted.$CH"; done
	out="$(PSQL_TIMEOUT=60 psql_n "$n" -c "SET ordering.submit_timeout = 20000" \
		-c "SELECT s.tx_id || '|' || s.block_number || '|' || s.position FROM generate_series(1, $count) g, LATERAL ordering.submit_tx('$CH', convert_to('payload $prefix-' || g || '|' || repeat('x', $pad), 'UTF8'), '$prefix-' || g) s ORDER BY g" \
		2> "$TMP/submit.err")"
	rc=$?
	if [ $rc -eq 0 ] && [ "$(grep -cE "^$prefix-[0-9]+\|[0-9]+\|[0-9]+$" <<< "$out")" -eq "$count" ]; then
		echo "$out" >> "$TMP/acked.$CH"
		pass "$CH: $count transactions $prefix-* submitted on $n acknowledged"
	else
		fail "$CH: $count transactions $prefix-* submitted on $n acknowledged"
		diag "  rc=$rc $(tr '\n' ' ' < "$TMP/submit.err")"
	fi
}
# progress NODE: "applied_index snapshot_index" of $CH on NODE
progress() { sql "$1" "SELECT applied_index || ' ' || snapshot_index FROM ordering.status WHERE channel = '$CH'"; }
if wait_leader 30 "${NODES[@]}"; then
	pass "$CH: all three agree on leader $LEADER (term $TERM)"
	M="$LEADER"
	read -r F G <<< "$(others "$M")"
	submit_batch "$G" e-before 3 10
	check "$CH: identical chains before the partition" wait_same_chain 30 "${NODES[@]}"
	isolate "$F"
	diag "isolated follower $F of $CH; leader $M; $F at applied/snapshot $(progress "$F") [$(elapsed)]"
	submit_batch "$M" e-away-a 15 1000
	# The appends for these are queued for $F by the leader's transport; they
	# are dropped when its next connection attempt fails (backoff <= 5 s, then
	# the transport's 5 s connect timeout).  Otherwise, delivered after the heal, they would
	# catch $F up without a snapshot.
	wait_leader 10 "$M" "$G" > /dev/null; TM="$TERM"
	check "$CH: the leader $M keeps its role and term while $F is away (8 s)" observe 8 leader_is "$M" "$TM"
	diag "the leader's view of $F (ordering.peers): $(sql "$M" "SELECT 'state ' || state || ', match ' || match_index || ', next ' || next_index || ', recent_active ' || recent_active || ', inflight ' || inflight FROM ordering.peers WHERE channel = '$CH' AND node = '$F'")"
	submit_batch "$G" e-away-b 15 1000
	read -r f_applied f_snap <<< "$(progress "$F")"
	read -r m_applied m_snap <<< "$(progress "$M")"
	diag "leader $M at applied $m_applied snapshot $m_snap; $F at applied $f_applied snapshot $f_snap"
	check "$CH: the leader's snapshot index ($m_snap) is past $F's applied index ($f_applied): $F needs a snapshot" \
		test "${m_snap:-0}" -gt "${f_applied:-0}"
	rejoin "$F"
	diag "rejoined $F [$(elapsed)]"
	check "$CH: $F catches up through the snapshot (identical chains)" wait_same_chain 60 "${NODES[@]}"
	diag "$F now at applied/snapshot $(progress "$F")"
	pulled="$(grep -h "channel \"$CH\": pulled blocks" "$TMP/$F/server.log" | sed 's/^.*LOG: *//' | tr '\n' ' ')"
	check "$CH: $F installed a snapshot and pulled the blocks it covers (server log: ${pulled:-nothing})" test -n "$pulled"
	submit_batch "$F" e-after 3 10
	check "$CH: identical chains after a submit on $F" wait_same_chain 30 "${NODES[@]}"
else
	fail "$CH: a leader agreed by all three"
fi
CH="$CH_MAIN"

# ================================================================ d
echo "# --- d. $ROUNDS random partitions under load (SEED=$SEED)"
SUB_NODES=(n1 n2)
# on different nodes, chosen by the seed
case $(( RANDOM % 3 )) in 0) SUB_NODES=(n1 n2) ;; 1) SUB_NODES=(n2 n3) ;; 2) SUB_NODES=(n3 n1) ;; esac
load_deadline=$(( $(date +%s) + 120 + ROUNDS * (HOLD_MAX + 7) ))
for s in "${SUB_NODES[@]}"; do
	d="$TMP/load/$s"; mkdir -p "$d"; : > "$d/acked"; : > "$d/attempted"
	setsid bash "$HERE/submitter.sh" "$s" "$(addr $s)" "$CH" "d-$s" "$d" 5000 "$load_deadline" 3000 \
		> /dev/null 2>&1 &
	SUBMITTERS+=($!)
done
diag "background submitters on ${SUB_NODES[*]} (submit_timeout 3000 ms)"
acked_count() { local c=0 s; for s in "${SUB_NODES[@]}"; do c=$(( c + $(grep -cE '^[^|]+\|[0-9]+\|[0-9]+$' "$TMP/load/$s/acked") )); done; echo $c; }
acked_more_than() { (( $(acked_count) > $1 )); }
check "the background submitters get acknowledgements" wait_until 30 "acks" acked_more_than 3

# (no $(...) around RANDOM: a subshell's RANDOM does not advance ours)
pick() { PICK="${NODES[$(( RANDOM % 3 ))]}"; }
for r in $(seq 1 "$ROUNDS"); do
	kind=$(( RANDOM % 5 ))
	pick; a="$PICK"
	for _ in 1 2 3 4 5 6 7 8 9 10; do pick; b="$PICK"; [ "$b" = "$a" ] || break; done
	[ "$b" = "$a" ] && b="$(others "$a" | cut -d' ' -f1)"
	case $kind in
	0) isolate "$a"; desc="isolate $a" ;;
	1) cut "$a" "$b"; desc="cut $a-$b (both still reach the third)" ;;
	2) if agreed "${NODES[@]}" 2>/dev/null; then a="$LEADER"; fi
	   isolate "$a"; desc="isolate the leader ($a)" ;;
	3) isolate "$a"; isolate "$b"; desc="isolate $a and $b (no quorum anywhere)" ;;
	4) oneway "$a" "$b"; desc="one-way: $a -> $b dropped" ;;
	esac
	hold=$(( 2 + RANDOM % (HOLD_MAX - 1) )); rest=$(( 1 + RANDOM % 3 ))
	before=$(acked_count)
	diag "round $r: $desc for ${hold}s, then heal for ${rest}s [$(elapsed), acked $before]"
	monitor "$hold"
	heal_all
	monitor "$rest"
done

echo "# --- d. heal everything; quiescence"
heal_all
check "every node reaches every other node after the heal" wait_until 20 "all reach" all_reach
if wait_leader 60 "${NODES[@]}"; then pass "all three agree on leader $LEADER (term $TERM) after the rounds [$(elapsed)]"
else fail "all three agree on a leader after the rounds"; fi
healed_at=$(acked_count)
check "submitters make progress after the heal" wait_until 60 "more acks" acked_more_than $(( healed_at + 4 ))
for s in "${SUB_NODES[@]}"; do touch "$TMP/load/$s/stop"; done
submitters_done() { local s; for s in "${SUB_NODES[@]}"; do [ -e "$TMP/load/$s/done" ] || return 1; done; }
check "the background submitters stop" wait_until 40 "submitters stop" submitters_done
for pid in "${SUBMITTERS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
SUBMITTERS=()
for s in "${SUB_NODES[@]}"; do
	grep -E '^[^|]+\|[0-9]+\|[0-9]+$' "$TMP/load/$s/acked" >> "$TMP/acked.$CH"
	cat "$TMP/load/$s/attempted" >> "$TMP/attempted.$CH"
	diag "submitter on $s: $(wc -l < "$TMP/load/$s/attempted") attempted, $(grep -cE '^[^|]+\|[0-9]+\|[0-9]+$' "$TMP/load/$s/acked") acknowledged, $(wc -l < "$TMP/load/$s/errors" 2>/dev/null || echo 0) failed"
	[ -s "$TMP/load/$s/errors" ] && diag "  e.g. $(grep -m1 57014 "$TMP/load/$s/errors" || head -1 "$TMP/load/$s/errors")"
done

# quiescence: identical chains on every node in samples spanning >= 3 s
# (transactions that timed out for their client may still be ordered late)
STABLE_N=0 STABLE_D=""
stable_chain() {
	if same_chain "${NODES[@]}"; then
		if [ "$DIGESTS" = "$STABLE_D" ]; then STABLE_N=$((STABLE_N + 1)); else STABLE_N=1; STABLE_D="$DIGESTS"; fi
	else STABLE_N=0; STABLE_D=""; fi
	(( STABLE_N >= 15 ))
}
if wait_until 90 "identical and stable chains" stable_chain; then
	pass "quiescence: identical chains on every node, unchanged for 3 s [$(elapsed)]"
else fail "quiescence: identical chains on every node, unchanged for 3 s"; diag "  chains: $DIGESTS"; fi

# ================================================================ final
final_checks() { # on channel $CH
	local n bad vc problems n_acked n_tx
	echo "# --- final checks of channel $CH on every node"
	n_acked=$(sort -u "$TMP/acked.$CH" | wc -l)
	for n in "${NODES[@]}"; do
		bad="$(psql_n "$n" -v ch="$CH" -f "$HERE/../verify_chain.sql" 2>&1)"
		is "$bad" "" "$CH: chain on $n verifies in plain SQL"
		vc="$(sql "$n" "SELECT ok::text || '|' || blocks || '|' || coalesce(first_bad_block::text, '') || '|' || coalesce(detail, '') FROM ordering.verify_chain('$CH')")"
		check "$CH: ordering.verify_chain on $n says ok ($vc)" test "${vc%%|*}" = true
		problems="$( { sort -u "$TMP/acked.$CH"; echo '\.'; sort -u "$TMP/attempted.$CH"; echo '\.'; } |
			psql_n "$n" -v ch="$CH" -f "$HERE/check_txs.sql" 2>&1)"
		is "$problems" "" "$CH: on $n all $n_acked acknowledged transactions present exactly once where acknowledged; no tx_id twice; nothing unsubmitted"
	done
	if same_chain "${NODES[@]}"; then pass "$CH: every node has the same chain (blocks:md5:last $(digest n1))"
	else fail "$CH: every node has the same chain"; diag "  chains: $DIGESTS"; fi
	n_tx="$(sql n1 "SELECT count(*) || ' transactions in ' || count(DISTINCT block_number) || ' blocks' FROM ordering.transactions WHERE channel = '$CH'")"
	diag "$CH on n1: $n_tx; $(sort -u "$TMP/attempted.$CH" | wc -l) ids attempted, $n_acked acknowledged"
	for n in "${NODES[@]}"; do
		diag "$CH on $n: $(sql "$n" "SELECT 'role ' || role || ', term ' || term || ', commit ' || commit_index || ', applied ' || applied_index || ', snapshot ' || snapshot_index || ', leader changes ' || leader_changes || ', proposal failures ' || proposal_failures FROM ordering.status WHERE channel = '$CH'")"
	done
}
with_ch "$CH_MAIN" final_checks
with_ch "$CH_SNAP" final_checks

# never two leaders in one term, in any status sample of the whole run
two_leaders="$(awk '$3 == "leader" { k = $6 " term " $4; if ((k in who) && who[k] != $2) print k ": " who[k] " and " $2; who[k] = $2 }' "$TMP/monitor.log" | sort -u)"
is "$two_leaders" "" "never two leaders in the same term ($(wc -l < "$TMP/monitor.log") status samples)"

echo "1..$T"
diag "SEED=$SEED ROUNDS=$ROUNDS: $FAILED of $T failed [$(elapsed)]"
[ $FAILED -eq 0 ] || exit 1
exit 0
