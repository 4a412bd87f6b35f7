/*-------------------------------------------------------------------------
 *
 * tap.h
 *	  A minimal Test Anything Protocol emitter for the Raft core's tests,
 *	  read by prove(1).  No dependencies beyond stdio.
 *
 * test/raft/tap.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAFT_TAP_H
#define RAFT_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_count = 0;
static int tap_failed = 0;

static inline int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass)
		printf("#   failed at %s:%d\n", file, line);
	fflush(stdout);
	return pass;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_u64(got, want, name)                                               \
	do                                                                        \
	{                                                                         \
		unsigned long long tap_g_ = (unsigned long long) (got);               \
		unsigned long long tap_w_ = (unsigned long long) (want);              \
		if (!ok(tap_g_ == tap_w_, "%s", (name)))                              \
			printf("#   got %llu, want %llu\n", tap_g_, tap_w_);              \
	} while (0)
#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

/* Print the plan and return the process exit status. */
static inline int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed == 0 ? 0 : 1;
}

#endif /* RAFT_TAP_H */
