/*-------------------------------------------------------------------------
 *
 * sha256.h
 *	  SHA-256 with its state in the caller's memory.
 *
 * src/common/sha256.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SHA256_H
#define ORDERING_SHA256_H

#define ORDERING_HASH_LEN 32

/*
 * Opaque to callers; sized for OpenSSL's SHA256_CTX (112 bytes), which
 * sha256.c checks at compile time.
 */
typedef struct OrderingSha256State
{
	uint64 state[16];
} OrderingSha256State;

extern void OrderingSha256Begin(OrderingSha256State *sha);
extern void
OrderingSha256Update(OrderingSha256State *sha, const void *data, Size len);
extern void
OrderingSha256End(OrderingSha256State *sha, uint8 out[ORDERING_HASH_LEN]);

/* The hash of one buffer. */
extern void
OrderingSha256(const void *data, Size len, uint8 out[ORDERING_HASH_LEN]);

#endif /* ORDERING_SHA256_H */
