# Makefile for the ordering extension (PGXS).
#
#   make && make install        build and install the extension
#   make check-fast             the fast lane, no root and no server: build,
#                               layout and format checks, the Raft core's
#                               unit tests and simulator
#   make installcheck           pg_regress + multi-server TAP tests against
#                               the installed extension
#   make raft-check             the Raft core's unit tests and simulator
#   make format                 clang-format the C sources (.clang-format)
#   make format-check           fail if a C source is not formatted
#
# Every layer, from a fresh machine, as root: bash scripts/test-all.sh.

MODULE_big = ordering
EXTENSION = ordering
DATA = $(wildcard sql/ordering--*.sql)
PGFILEDESC = "ordering - a Raft ordering service inside PostgreSQL"

# One folder per layer (README.md, "Layout"); the Raft core builds here too.
LAYERS = common store worker sql raft
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c) \
	$(foreach layer,$(LAYERS),$(wildcard src/$(layer)/*.c))))

# Includes name their layer: #include "store/chain.h", "raft/raft.h".
PG_CPPFLAGS = -I$(srcdir)/src -I$(libpq_srcdir)
# Warnings are errors; the few -Wextra checks PostgreSQL's own headers trip
# are turned off rather than the whole class.
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Wno-cast-function-type
SHLIB_LINK_INTERNAL = $(libpq)
# OpenSSL's SHA-256 (src/common/sha256.c says why not PostgreSQL's wrapper).
SHLIB_LINK = -lcrypto

REGRESS = $(patsubst sql/%.sql,%,$(filter-out sql/ordering--%,$(wildcard sql/*.sql)))
# The worker serves one database (ordering.database); scripts/pg-tests.sh
# creates it with test/regress.conf's settings before pg_regress runs.
REGRESS_OPTS = --use-existing
TAP_TESTS = 1
PROVE_TESTS = test/tap/*.pl

# PGXS tracks no header dependencies: rebuild every object when any header
# changes (the tree is small).
ORDERING_HEADERS = $(wildcard $(srcdir)/src/*.h \
	$(foreach layer,$(LAYERS),$(srcdir)/src/$(layer)/*.h) \
	$(srcdir)/src/raft/internal/*.h)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(ORDERING_HEADERS)

.PHONY: installcheck-regress-only installcheck-tap-only

installcheck-regress-only:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

installcheck-tap-only:
	$(prove_installcheck)

.PHONY: raft-check raft-check-asan raft-soak raft-fuzz pgtap-check

raft-check:
	$(MAKE) -C test/raft check

raft-check-asan:
	$(MAKE) -C test/raft check-asan

raft-soak:
	$(MAKE) -C test/raft soak

raft-fuzz:
	$(MAKE) -C test/raft fuzz

# pgTAP tests against the running server named by the usual PG* variables.
pgtap-check:
	pg_prove -v test/pgtap/*.sql

# The fast lane: what a developer runs before every commit, as any user.
.PHONY: check-fast check-layout format format-check

check-fast: all check-layout format-check raft-check

check-layout:
	bash $(srcdir)/scripts/check-layout.sh $(srcdir)

# Every C file of the tree, less FORMAT_EXCLUDE (patterns of paths).
CLANG_FORMAT ?= clang-format
FORMAT_EXCLUDE ?=
FORMAT_FILES = $(filter-out $(FORMAT_EXCLUDE),$(sort $(shell cd $(srcdir) && \
	find src test bench -name '*.[ch]' -not -path '*/build*')))

format:
	cd $(srcdir) && $(CLANG_FORMAT) -i --style=file $(FORMAT_FILES)

format-check:
	cd $(srcdir) && $(CLANG_FORMAT) --dry-run -Werror --style=file $(FORMAT_FILES)
