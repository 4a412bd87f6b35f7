/*-------------------------------------------------------------------------
 *
 * sha256.c
 *	  SHA-256 for the chain and transaction ids, through OpenSSL's SHA256_*
 *	  functions.
 *
 * Every ordered transaction is hashed on every node (its item in the
 * block's data_hash) and again on the submitting backend and the leader
 * (its id, its payload's check), so the fixed cost of one hash counts.
 * PostgreSQL's cryptohash API goes through OpenSSL 3's EVP layer, which
 * looks the algorithm up in its provider tables at every initialization
 * (locks, parameter lists) and allocates the context: about 450 ns of the
 * 550 a 100-byte hash took, and 7 to 9 % of a follower's worker under
 * load (perf).  SHA256_Init/Update/Final are the same implementation
 * (OpenSSL's assembly, SHA-NI where the CPU has it) without the lookup,
 * about 100 ns, and their state lives in the caller's struct: nothing to
 * allocate, nothing to free when an error unwinds.  OpenSSL 3 deprecates
 * them in favour of EVP, and keeps them; hence the suppression below,
 * confined to this file.  The bytes are SHA-256's whatever computes them:
 * SQL's sha256() verifies the chain (README.md, "How blocks are hashed and
 * verified").
 *
 * src/common/sha256.c
 *
 *-------------------------------------------------------------------------
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "postgres.h"

#include <openssl/sha.h>

#include "common/sha256.h"

StaticAssertDecl(sizeof(SHA256_CTX) <= sizeof(OrderingSha256State),
				 "OrderingSha256State must hold a SHA256_CTX");
StaticAssertDecl(SHA256_DIGEST_LENGTH == ORDERING_HASH_LEN,
				 "a SHA-256 digest is ORDERING_HASH_LEN bytes");

/* OpenSSL's SHA256_* return 1 on success; they fail only on bad pointers. */
static void
sha256_check(int rc, const char *step)
{
	if (rc != 1)
		elog(ERROR, "could not %s SHA-256", step);
}

void
OrderingSha256Begin(OrderingSha256State *sha)
{
	sha256_check(SHA256_Init((SHA256_CTX *) sha), "initialize");
}

void
OrderingSha256Update(OrderingSha256State *sha, const void *data, Size len)
{
	sha256_check(SHA256_Update((SHA256_CTX *) sha, data, len), "update");
}

void
OrderingSha256End(OrderingSha256State *sha, uint8 out[ORDERING_HASH_LEN])
{
	sha256_check(SHA256_Final(out, (SHA256_CTX *) sha), "finalize");
}

void
OrderingSha256(const void *data, Size len, uint8 out[ORDERING_HASH_LEN])
{
	OrderingSha256State sha;

	OrderingSha256Begin(&sha);
	OrderingSha256Update(&sha, data, len);
	OrderingSha256End(&sha, out);
}
