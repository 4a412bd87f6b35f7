#!/bin/sh
# test/raft/t/sim-replay.t
#	A seed replays exactly: two verbose runs of the same seed and knobs
#	print the same trace, event for event.  SIM names the simulator
#	(default: build/sim next to this directory).
sim=${SIM:-$(dirname "$0")/../build/sim}
tmp=${TMPDIR:-/tmp}/sim-replay.$$
trap 'rm -f "$tmp".1 "$tmp".2' EXIT
echo "1..3"
n=0
for seed in 7 77 777; do
	n=$((n + 1))
	# The summary line holds the wall-clock time: leave it out.
	"$sim" --seeds "$seed" --drop 0.2 --verbose 2>&1 |
		grep -v '^# [0-9]* seeds, ' > "$tmp".1
	"$sim" --seeds "$seed" --drop 0.2 --verbose 2>&1 |
		grep -v '^# [0-9]* seeds, ' > "$tmp".2
	if cmp -s "$tmp".1 "$tmp".2 && grep -q '^ok' "$tmp".1; then
		echo "ok $n - seed $seed replays identically ($(wc -l < "$tmp".1) lines)"
	else
		echo "not ok $n - seed $seed does not replay identically"
	fi
done
