#!/usr/bin/env bash
# submitter.sh: a background load for partition.sh.
#
#   submitter.sh NODE ADDR CHANNEL PREFIX DIR MAX_COUNT DEADLINE SUBMIT_TIMEOUT_MS
#
# Submits transactions one at a time with ordering.submit_tx through psql in
# network namespace ordf-NODE, to ADDR, ids PREFIX-1, PREFIX-2, ... and
# payload 'payload <id>'.  Appends each id to DIR/attempted before the call,
# and "tx_id|block_number|position" to DIR/acked when the call returned it;
# failures go to DIR/errors.  Stops after MAX_COUNT submissions, at DEADLINE
# (seconds since the epoch) or when DIR/stop exists, whichever comes first;
# each call is bounded by SUBMIT_TIMEOUT_MS plus a margin.
set -u
node="$1" addr="$2" channel="$3" prefix="$4" dir="$5" max="$6" deadline="$7" tmo="$8"
call_limit=$(( tmo / 1000 + 15 ))
i=0
while (( i < max )) && [ ! -e "$dir/stop" ] && (( $(date +%s) < deadline )); do
	i=$((i + 1))
	id="$prefix-$i"
	echo "$id" >> "$dir/attempted"
	out=$(timeout -k 2 "$call_limit" ip netns exec "ordf-$node" \
		psql -X -A -t -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
		"host=$addr port=5432 dbname=postgres user=postgres connect_timeout=5 application_name=ordf-submitter" \
		-c "SET ordering.submit_timeout = $tmo" \
		-c "SELECT tx_id || '|' || block_number || '|' || position FROM ordering.submit_tx('$channel', convert_to('payload $id', 'UTF8'), '$id')" \
		2> "$dir/last_error")
	rc=$?
	if [ $rc -eq 0 ] && [[ "$out" =~ ^"$id"\|[0-9]+\|[0-9]+$ ]]; then
		echo "$out" >> "$dir/acked"
	else
		{ printf '%s %s rc=%d out=%s: ' "$(date +%T.%3N)" "$id" "$rc" "$out"
		  tr '\n' ' ' < "$dir/last_error"; echo; } >> "$dir/errors"
		# do not spin when the server refuses at once
		sleep 0.1
	fi
done
echo "$i" > "$dir/done"
