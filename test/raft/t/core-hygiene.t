#!/bin/sh
# test/raft/t/core-hygiene.t
#	The core stays embeddable: every allocation goes through the heap
#	hooks and every assertion through RAFT_ASSERT (heap.c alone calls
#	libc's allocator and abort), and the public header includes nothing
#	but the C standard library.
core=$(dirname "$0")/../../../src/raft
echo "1..4"

direct=$(grep -nE '(^|[^_[:alnum:].>])(malloc|calloc|realloc|free)\(' \
	"$core"/*.c | grep -v '/heap\.c:' | grep -vE ':[0-9]+:\s*(\*|/\*)')
if [ -z "$direct" ]; then
	echo "ok 1 - no direct malloc, calloc, realloc or free outside heap.c"
else
	echo "not ok 1 - direct allocation outside heap.c:"
	echo "$direct" | sed 's/^/# /'
fi

asserts=$(grep -nE '(^|[^_[:alnum:]])assert\(|<assert\.h>|(^|[^_[:alnum:]])abort\(' \
	"$core"/*.c "$core"/*.h "$core"/*/*.h 2>/dev/null | grep -v '/heap\.c:' |
	grep -vE ':[0-9]+:\s*(\*|/\*)')
if [ -z "$asserts" ]; then
	echo "ok 2 - no assert() or abort() outside heap.c: RAFT_ASSERT only"
else
	echo "not ok 2 - assert() or abort() outside heap.c:"
	echo "$asserts" | sed 's/^/# /'
fi

public=$(grep -E '^#include' "$core/raft.h" | grep -vE '<std(bool|def|int)\.h>')
if [ -z "$public" ]; then
	echo "ok 3 - raft.h includes only the C standard library"
else
	echo "not ok 3 - raft.h includes more: $public"
fi

pg=$(grep -lE '#include [<"](postgres|pg_|utils/|access/|catalog/)' \
	"$core"/*.c "$core"/*.h "$core"/*/*.h 2>/dev/null)
if [ -z "$pg" ]; then
	echo "ok 4 - no PostgreSQL header in the core"
else
	echo "not ok 4 - PostgreSQL headers in: $pg"
fi
