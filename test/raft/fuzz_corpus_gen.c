/*-------------------------------------------------------------------------
 *
 * fuzz_corpus_gen.c
 *	  Writes the fuzzer's seed corpus: one file per message type, encoded
 *	  from plausible messages (entries on APP, a snapshot with a config and
 *	  data on SNAP), plus two conf changes.  `make fuzz-corpus` reruns it;
 *	  the output is committed under test/raft/fuzz_corpus/.
 *
 * test/raft/fuzz_corpus_gen.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t buf[1 << 16];

static void
write_file(const char *dir, const char *name, const uint8_t *data, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0)
	{
		perror(path);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	static uint8_t payload[] = "block batch: tx1 tx2 tx3";
	static uint8_t snap_data[] = "applied=120 chain=0123456789abcdef";
	uint8_t cc_bytes[64];
	size_t cc_len = 0;
	raft_conf_change cc = { .type = RAFT_CONF_ADD_LEARNER,
							.node = 4,
							.context_size = 9,
							.context = (const uint8_t *) "10.0.0.4" };
	raft_entry entries[3];
	raft_snapshot snapshot;
	const char *dir = argc > 1 ? argv[1] : "fuzz_corpus";

	if (raft_conf_change_encode(&cc, cc_bytes, sizeof(cc_bytes), &cc_len) !=
		RAFT_OK)
		return 1;
	write_file(dir, "conf_change_add_learner", cc_bytes, cc_len);

	entries[0] =
		(raft_entry){ .term = 7, .index = 120, .type = RAFT_ENTRY_NORMAL };
	entries[1] = (raft_entry){ .term = 7,
							   .index = 121,
							   .type = RAFT_ENTRY_NORMAL,
							   .size = sizeof(payload),
							   .data = payload };
	entries[2] = (raft_entry){ .term = 7,
							   .index = 122,
							   .type = RAFT_ENTRY_CONF_CHANGE,
							   .size = (uint32_t) cc_len,
							   .data = cc_bytes };
	memset(&snapshot, 0, sizeof(snapshot));
	snapshot.meta.index = 120;
	snapshot.meta.term = 6;
	snapshot.meta.config.n_voters = 3;
	snapshot.meta.config.voters[0] = 1;
	snapshot.meta.config.voters[1] = 2;
	snapshot.meta.config.voters[2] = 3;
	snapshot.meta.config.n_learners = 1;
	snapshot.meta.config.learners[0] = 4;
	snapshot.data_size = sizeof(snap_data);
	snapshot.data = snap_data;

	for (uint8_t type = 0; type < RAFT_MSG_TYPE_COUNT; type++)
	{
		raft_message msg;
		size_t n = 0;
		char name[64];

		memset(&msg, 0, sizeof(msg));
		msg.type = type;
		msg.from = 1;
		msg.to = 2;
		msg.term = 7;
		msg.log_term = 6;
		msg.index = 119;
		msg.commit = 118;
		msg.reject = type == RAFT_MSG_APP_RESP;
		msg.reject_hint = msg.reject ? 100 : 0;
		msg.context = type == RAFT_MSG_VOTE ? 1
			: type == RAFT_MSG_RECOVER		? UINT64_C(0x300000a5a5)
											: 0;
		msg.from_incarnation = UINT64_C(0x1234567890abcdef);
		msg.from_boot = UINT64_C(0x400000c3c3);
		msg.recovering = type == RAFT_MSG_APP_RESP;
		if (type == RAFT_MSG_APP)
		{
			msg.n_entries = 3;
			msg.entries = entries;
		}
		if (type == RAFT_MSG_SNAP)
			msg.snapshot = &snapshot;
		if (raft_message_encode(&msg, buf, sizeof(buf), &n) != RAFT_OK)
			return 1;
		snprintf(name, sizeof(name), "message_type_%02u", type);
		write_file(dir, name, buf, n);
	}
	return 0;
}
