# tap.sh: TAP output and bounded waits for the layer-4 fault tests
# (sourced by partition.sh and disk_full.sh).
# shellcheck shell=bash
T=0
FAILED=0
diag() { local l; while IFS= read -r l; do echo "# $l"; done <<< "$*"; }
pass() { T=$((T + 1)); echo "ok $T - $1"; }
fail() { T=$((T + 1)); FAILED=$((FAILED + 1)); echo "not ok $T - $1"; }
# check DESC COMMAND...: ok when the command succeeds
check() { local d="$1"; shift; if "$@"; then pass "$d"; else fail "$d"; return 1; fi; }
# is GOT EXPECTED DESC
is() {
	if [ "$1" == "$2" ]; then pass "$3"; else
		fail "$3"; diag "  got:      '$1'"; diag "  expected: '$2'"; fi
}
bail() { echo "Bail out! $*"; exit 1; }

# A watchdog that sends this script TERM after MAX_RUNTIME seconds (it polls,
# so it ends with the script even if that is SIGKILLed); stop_watchdog in
# the EXIT trap.
start_watchdog() {
	trap 'echo "Bail out! interrupted (or MAX_RUNTIME=${MAX_RUNTIME}s exceeded)"; exit 1' INT TERM
	setsid bash -c "for _ in \$(seq $MAX_RUNTIME); do sleep 1; kill -0 $$ || exit 0; done; kill -TERM $$" \
		> /dev/null 2>&1 &
	WATCHDOG=$!
}
stop_watchdog() { [ -z "${WATCHDOG:-}" ] || kill -TERM -- "-$WATCHDOG" 2>/dev/null || true; }

now_ms() { date +%s%3N; }
T0=$(now_ms)
elapsed() { echo "$(( ($(now_ms) - T0) / 1000 ))s"; }

# wait_until TIMEOUT_S DESC COMMAND...: runs the command every 200 ms until
# it succeeds (returns 0) or the deadline passes (returns 1, with a diag).
wait_until() {
	local timeout="$1" desc="$2"; shift 2
	local deadline=$(( $(now_ms) + timeout * 1000 ))
	while :; do
		"$@" && return 0
		if (( $(now_ms) > deadline )); then
			diag "timed out after ${timeout}s waiting for: $desc"
			return 1
		fi
		sleep 0.2
	done
}
