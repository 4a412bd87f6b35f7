/*-------------------------------------------------------------------------
 *
 * sim_options.c
 *	  The simulator's command line: the knobs of a run (sim_options), their
 *	  defaults, and the command that replays a seed with every knob spelled
 *	  out.
 *
 * test/raft/sim_options.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage(const char *argv0)
{
	fprintf(stderr,
			"usage: %s --seeds A..B [--steps N] [--nodes 3|5|7]\n"
			"  [--drop P] [--dup P] [--delay P] [--max-delay STEPS]\n"
			"  [--reorder|--no-reorder] [--partition-rate P] [--crash-rate P]\n"
			"  [--restart-rate P] [--propose-rate P] [--conf-rate P]\n"
			"  [--transfer-rate P] [--snapshot-rate P] [--fault-fraction F]\n"
			"  [--liveness-steps N] [--no-pre-vote] [--no-check-quorum]\n"
			"  [--snapshot-on-conf] [--bootstrap snapshot|genesis|mixed]\n"
			"  [--interleave] [--early-send P] [--lose-rate P]\n"
			"  [--rollback-rate P]\n"
			"  [--seconds S] [--verbose] [--quiet]\n"
			"A..B may be open-ended (A..) with --seconds.  Rates are per step,\n"
			"drop/dup/delay per message.  Output is TAP.\n",
			argv0);
	exit(2);
}

static double
parse_double(const char *arg, const char *argv0)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end != '\0' || v < 0)
		usage(argv0);
	return v;
}

static uint64_t
parse_u64(const char *arg, const char *argv0)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);

	if (*end != '\0' || end == arg)
		usage(argv0);
	return (uint64_t) v;
}

static void
parse_seeds(sim_options *o, const char *arg, const char *argv0)
{
	const char *dots = strstr(arg, "..");
	char first[32];

	if (dots == NULL)
	{
		o->seed_first = o->seed_last = parse_u64(arg, argv0);
		return;
	}
	if ((size_t) (dots - arg) >= sizeof(first))
		usage(argv0);
	memcpy(first, arg, (size_t) (dots - arg));
	first[dots - arg] = '\0';
	o->seed_first = parse_u64(first, argv0);
	o->seed_last = dots[2] == '\0' ? UINT64_MAX : parse_u64(dots + 2, argv0);
	if (o->seed_last < o->seed_first)
		usage(argv0);
}

void
sim_parse_options(sim_options *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->seed_first = 1;
	o->seed_last = 100;
	o->steps = 5000;
	o->drop = 0.05;
	o->dup = 0.02;
	o->delay = 0.2;
	o->max_delay = 40;
	o->reorder = true;
	o->partition_rate = 0.002;
	o->crash_rate = 0.001;
	o->restart_rate = 0.004;
	o->propose_rate = 0.03;
	o->conf_rate = 0.002;
	o->transfer_rate = 0.001;
	o->snapshot_rate = 0.004;
	o->fault_fraction = 0.7;
	o->liveness_steps = 200000;
	o->pre_vote = true;
	o->check_quorum = true;
	o->snapshot_on_conf = false;
	o->bootstrap = BOOTSTRAP_MIXED;
	o->interleave = false;
	o->early_send = 0.5;

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

#define VALUE() (v != NULL ? (i++, v) : (usage(argv[0]), ""))
		if (strcmp(a, "--seeds") == 0)
			parse_seeds(o, VALUE(), argv[0]);
		else if (strcmp(a, "--steps") == 0)
			o->steps = parse_u64(VALUE(), argv[0]);
		else if (strcmp(a, "--nodes") == 0)
		{
			o->nodes = (uint32_t) parse_u64(VALUE(), argv[0]);
			if (o->nodes != 3 && o->nodes != 5 && o->nodes != 7)
				usage(argv[0]);
		}
		else if (strcmp(a, "--drop") == 0)
			o->drop = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--dup") == 0)
			o->dup = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--delay") == 0)
			o->delay = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--max-delay") == 0)
			o->max_delay = (uint32_t) parse_u64(VALUE(), argv[0]);
		else if (strcmp(a, "--reorder") == 0)
			o->reorder = true;
		else if (strcmp(a, "--no-reorder") == 0)
			o->reorder = false;
		else if (strcmp(a, "--partition-rate") == 0)
			o->partition_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--crash-rate") == 0)
			o->crash_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--restart-rate") == 0)
			o->restart_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--propose-rate") == 0)
			o->propose_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--conf-rate") == 0)
			o->conf_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--transfer-rate") == 0)
			o->transfer_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--snapshot-rate") == 0)
			o->snapshot_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--fault-fraction") == 0)
			o->fault_fraction = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--liveness-steps") == 0)
			o->liveness_steps = parse_u64(VALUE(), argv[0]);
		else if (strcmp(a, "--seconds") == 0)
			o->seconds = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--no-pre-vote") == 0)
			o->pre_vote = false;
		else if (strcmp(a, "--no-check-quorum") == 0)
			o->check_quorum = false;
		else if (strcmp(a, "--no-snapshot-on-conf") == 0)
			o->snapshot_on_conf = false;
		else if (strcmp(a, "--snapshot-on-conf") == 0)
			o->snapshot_on_conf = true;
		else if (strcmp(a, "--interleave") == 0)
			o->interleave = true;
		else if (strcmp(a, "--early-send") == 0)
			o->early_send = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--lose-rate") == 0)
			o->lose_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--rollback-rate") == 0)
			o->rollback_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--bootstrap") == 0)
		{
			const char *b = VALUE();

			if (strcmp(b, "snapshot") == 0)
				o->bootstrap = BOOTSTRAP_SNAPSHOT;
			else if (strcmp(b, "genesis") == 0)
				o->bootstrap = BOOTSTRAP_GENESIS;
			else if (strcmp(b, "mixed") == 0)
				o->bootstrap = BOOTSTRAP_MIXED;
			else
				usage(argv[0]);
		}
		else if (strcmp(a, "--verbose") == 0)
			o->verbose = true;
		else if (strcmp(a, "--quiet") == 0)
			o->quiet = true;
		else
			usage(argv[0]);
#undef VALUE
	}
	if (o->seed_last == UINT64_MAX && o->seconds <= 0)
		usage(argv[0]);
	if (o->fault_fraction > 1.0 || o->drop > 1.0 || o->dup > 1.0 ||
		o->delay > 1.0 || o->early_send > 1.0)
		usage(argv[0]);
}

/* Every knob, so that the printed command replays the run exactly. */
void
sim_format_replay(const sim_options *o, const char *argv0, char *out, size_t cap)
{
	snprintf(out, cap,
			 "%s --steps %" PRIu64 "%s%.0u --drop %g --dup %g --delay %g "
			 "--max-delay %u %s --partition-rate %g --crash-rate %g "
			 "--restart-rate %g --propose-rate %g --conf-rate %g "
			 "--transfer-rate %g --snapshot-rate %g --fault-fraction %g "
			 "--liveness-steps %" PRIu64 " --early-send %g --lose-rate %g "
			 "--rollback-rate %g --bootstrap %s%s%s%s%s",
			 argv0, o->steps, o->nodes ? " --nodes " : "", o->nodes, o->drop,
			 o->dup, o->delay, o->max_delay,
			 o->reorder ? "--reorder" : "--no-reorder", o->partition_rate,
			 o->crash_rate, o->restart_rate, o->propose_rate, o->conf_rate,
			 o->transfer_rate, o->snapshot_rate, o->fault_fraction,
			 o->liveness_steps, o->early_send, o->lose_rate, o->rollback_rate,
			 o->bootstrap == BOOTSTRAP_SNAPSHOT		 ? "snapshot"
				 : o->bootstrap == BOOTSTRAP_GENESIS ? "genesis"
													 : "mixed",
			 o->pre_vote ? "" : " --no-pre-vote",
			 o->check_quorum ? "" : " --no-check-quorum",
			 o->snapshot_on_conf ? " --snapshot-on-conf" : "",
			 o->interleave ? " --interleave" : "");
}
