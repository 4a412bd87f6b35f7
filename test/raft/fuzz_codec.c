/*-------------------------------------------------------------------------
 *
 * fuzz_codec.c
 *	  libFuzzer target for the wire format: any input either decodes to a
 *	  message that re-encodes to the very same bytes (the encoding is
 *	  canonical), or is refused with a decoder error and a zeroed message.
 *	  The same holds for raft_conf_change.  Run with `make fuzz`.
 *
 * test/raft/fuzz_codec.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int condition)
{
	if (!condition)
		abort();
}

static bool
is_decoder_error(int err)
{
	return err == RAFT_ERR_MALFORMED || err == RAFT_ERR_TOO_LARGE ||
		err == RAFT_ERR_VERSION || err == RAFT_ERR_NOMEM;
}

static void
fuzz_message(const uint8_t *data, size_t size)
{
	static const raft_message zero;
	raft_message msg;
	int err = raft_message_decode(data, size, &msg);

	if (err != RAFT_OK)
	{
		check(is_decoder_error(err));
		check(memcmp(&msg, &zero, sizeof(msg)) == 0);
		return;
	}
	{
		size_t need = raft_message_encoded_size(&msg);
		uint8_t *out = malloc(need > 0 ? need : 1);
		size_t written = 0;

		check(out != NULL);
		check(need == size);
		check(raft_message_encode(&msg, out, need, &written) == RAFT_OK);
		check(written == size && memcmp(out, data, size) == 0);
		free(out);
	}
	raft_message_free(&msg);
	check(memcmp(&msg, &zero, sizeof(msg)) == 0);
}

static void
fuzz_conf_change(const uint8_t *data, size_t size)
{
	raft_conf_change cc;
	int err = raft_conf_change_decode(data, size, &cc);

	if (err != RAFT_OK)
	{
		check(is_decoder_error(err));
		check(cc.node == RAFT_NONE && cc.context == NULL);
		return;
	}
	check(cc.context_size == 0 ||
		  (cc.context >= data && cc.context + cc.context_size <= data + size));
	{
		size_t need = raft_conf_change_encoded_size(&cc);
		uint8_t *out = malloc(need);
		size_t written = 0;

		check(out != NULL && need == size);
		check(raft_conf_change_encode(&cc, out, need, &written) == RAFT_OK);
		check(written == size && memcmp(out, data, size) == 0);
		free(out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_message(data, size);
	fuzz_conf_change(data, size);
	return 0;
}
