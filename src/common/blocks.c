/*-------------------------------------------------------------------------
 *
 * blocks.c
 *	  The hash chain (README.md, "How blocks are hashed and verified") and
 *	  the configuration document.
 *
 *	  data_hash = sha256(sha256(item_1) || ... || sha256(item_n))
 *	  hash      = sha256(int8send(number) || previous_hash || data_hash)
 *
 * The hashes are SHA-256 (common/sha256.c), what SQL's sha256() computes,
 * so anyone can verify the chain in plain SQL.
 *
 * The configuration document is the single item of every configuration
 * block.  One function builds it, for create_channel and for the worker
 * alike, so that every node hashes exactly the same bytes.
 *
 * src/common/blocks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "port/pg_bswap.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "common/blocks.h"

void
OrderingDataHashBegin(OrderingDataHasher *hasher)
{
	OrderingSha256Begin(&hasher->outer);
	hasher->active = true;
	hasher->n_items = 0;
}

void
OrderingDataHashAdd(OrderingDataHasher *hasher, const void *item, Size len)
{
	uint8 item_hash[ORDERING_HASH_LEN];

	Assert(hasher->active);
	OrderingSha256(item, len, item_hash);
	OrderingSha256Update(&hasher->outer, item_hash, ORDERING_HASH_LEN);
	hasher->n_items++;
}

/*
 * The item of a transaction covers its id as well as its payload, so that
 * nobody holding the blocks (a catch-up source, a table owner) can rename a
 * transaction without breaking the chain.  Hashed in parts: the item is
 * never copied.
 */
void
OrderingDataHashAddTx(OrderingDataHasher *hasher, const char *tx_id,
					  const void *payload, Size payload_len)
{
	static const char separator = '\0';
	Size tx_id_len = strlen(tx_id);
	/* convert_to(tx_id, 'UTF8'): the same bytes whatever the encoding. */
	char *tx_id_utf8 = pg_server_to_any(tx_id, tx_id_len, PG_UTF8);
	OrderingSha256State item;
	uint8 item_hash[ORDERING_HASH_LEN];

	Assert(hasher->active);
	OrderingSha256Begin(&item);
	OrderingSha256Update(&item, tx_id_utf8, strlen(tx_id_utf8));
	OrderingSha256Update(&item, &separator, 1);
	OrderingSha256Update(&item, payload, payload_len);
	OrderingSha256End(&item, item_hash);
	if (tx_id_utf8 != tx_id)
		pfree(tx_id_utf8);
	OrderingSha256Update(&hasher->outer, item_hash, ORDERING_HASH_LEN);
	hasher->n_items++;
}

void
OrderingDataHashEnd(OrderingDataHasher *hasher,
					uint8 data_hash[ORDERING_HASH_LEN])
{
	Assert(hasher->active);
	OrderingSha256End(&hasher->outer, data_hash);
	hasher->active = false;
}

void
OrderingBlockHash(int64 number, const uint8 previous_hash[ORDERING_HASH_LEN],
				  const uint8 data_hash[ORDERING_HASH_LEN],
				  uint8 hash[ORDERING_HASH_LEN])
{
	/* int8send: 8 bytes, most significant first. */
	uint64 number_big_endian = pg_hton64((uint64) number);
	OrderingSha256State sha;

	OrderingSha256Begin(&sha);
	OrderingSha256Update(&sha, &number_big_endian, sizeof(number_big_endian));
	OrderingSha256Update(&sha, previous_hash, ORDERING_HASH_LEN);
	OrderingSha256Update(&sha, data_hash, ORDERING_HASH_LEN);
	OrderingSha256End(&sha, hash);
}

void
OrderingGenesisHashes(const char *document, Size len,
					  uint8 data_hash[ORDERING_HASH_LEN],
					  uint8 hash[ORDERING_HASH_LEN])
{
	static const uint8 zero_hash[ORDERING_HASH_LEN] = { 0 };
	OrderingDataHasher hasher;

	OrderingDataHashBegin(&hasher);
	OrderingDataHashAdd(&hasher, document, len);
	OrderingDataHashEnd(&hasher, data_hash);
	OrderingBlockHash(0, zero_hash, data_hash, hash);
}

/* jsonb's canonical text: keys sorted, one space after ':' and ','. */
static char *
jsonb_canonical_text(Jsonb *jsonb)
{
	return JsonbToCString(NULL, &jsonb->root, VARSIZE(jsonb));
}

static void
push_key(JsonbParseState **state, const char *name)
{
	JsonbValue key;

	key.type = jbvString;
	key.val.string.val = (char *) name;
	key.val.string.len = strlen(name);
	pushJsonbValue(state, WJB_KEY, &key);
}

static void
push_string_value(JsonbParseState **state, const char *string)
{
	JsonbValue value;

	value.type = jbvString;
	value.val.string.val = (char *) string;
	value.val.string.len = strlen(string);
	pushJsonbValue(state, WJB_VALUE, &value);
}

/* Pushes a whole jsonb document as one value (pushJsonbValue unpacks it). */
static void
push_jsonb_value(JsonbParseState **state, Jsonb *jsonb)
{
	JsonbValue value;

	value.type = jbvBinary;
	value.val.binary.data = &jsonb->root;
	value.val.binary.len = VARSIZE(jsonb) - VARHDRSZ;
	pushJsonbValue(state, WJB_VALUE, &value);
}

/*
 * Builds the "consenters" member of the configuration document from the
 * rows of ordering.consenters: {node: {"id": n, "conninfo": "...",
 * "learner": false}, ...}.
 */
Jsonb *
OrderingConsentersDocument(int n_consenters, const char *const *nodes,
						   const uint64 *raft_ids,
						   const char *const *conninfos, const bool *is_learner)
{
	JsonbParseState *state = NULL;
	JsonbValue value;

	Assert(n_consenters >= 0);
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < n_consenters; i++)
	{
		push_key(&state, nodes[i]);
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);

		push_key(&state, "id");
		value.type = jbvNumeric;
		value.val.numeric = int64_to_numeric((int64) raft_ids[i]);
		pushJsonbValue(&state, WJB_VALUE, &value);

		push_key(&state, "conninfo");
		push_string_value(&state, conninfos[i]);

		push_key(&state, "learner");
		value.type = jbvBool;
		value.val.boolean = is_learner[i];
		pushJsonbValue(&state, WJB_VALUE, &value);

		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * Builds the configuration document:
 *
 *	{"channel": ..., "consenters": {node: {"id", "conninfo", "learner"}},
 *	 "config": {...}, "change": ...}
 *
 * consenters must already be an object of node -> {"id", "conninfo",
 * "learner"} and config the complete settings object; they are taken as
 * they are.  The result is jsonb's canonical text (JsonbToCString), so the
 * same document always gives the same bytes, on every node.
 */
char *
OrderingConfigDocument(const char *channel, Jsonb *consenters, Jsonb *config,
					   const char *change)
{
	JsonbParseState *state = NULL;

	Assert(channel != NULL && change != NULL);
	Assert(JB_ROOT_IS_OBJECT(consenters) && JB_ROOT_IS_OBJECT(config));

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_key(&state, "channel");
	push_string_value(&state, channel);
	push_key(&state, "consenters");
	push_jsonb_value(&state, consenters);
	push_key(&state, "config");
	push_jsonb_value(&state, config);
	push_key(&state, "change");
	push_string_value(&state, change);
	return jsonb_canonical_text(
		JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)));
}
