# Makefile for the ordering extension (PGXS).
#
#   make && make install        build and install the extension
#   make installcheck           pg_regress + pgTAP + multi-server TAP tests
#   make raft-check             the Raft core's unit tests and simulator
#   make check-all              everything (what the README's test command runs)

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

REGRESS = $(patsubst sql/%.sql,%,$(filter-out sql/ordering--%,$(wildcard sql/*.sql)))
# The worker serves one database (ordering.database); scripts/pg-tests.sh
# creates it with test/regress.conf's settings before pg_regress runs.
REGRESS_OPTS = --use-existing
TAP_TESTS = 1
PROVE_TESTS = test/tap/*.pl

# PGXS tracks no header dependencies: rebuild every object when any header
# changes (the tree is small).
ORDERING_HEADERS = $(wildcard $(srcdir)/src/*.h \
	$(foreach layer,$(LAYERS),$(srcdir)/src/$(layer)/*.h))

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(ORDERING_HEADERS)

.PHONY: installcheck-regress-only installcheck-tap-only

installcheck-regress-only:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

installcheck-tap-only:
	$(prove_installcheck)

.PHONY: raft-check raft-check-asan raft-soak raft-fuzz pgtap-check check-all

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
