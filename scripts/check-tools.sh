#!/usr/bin/env bash
# check-tools.sh: every program the tests run must come from a package that
# scripts/deps.sh installs (or one of their dependencies, or an essential
# package).  A program found only because someone installed its package by
# hand passes on that machine and fails on a fresh one; this finds it there.
#
#   check-tools.sh [program ...]     default: the programs the tests run
#
# Exits 1 naming each program that is missing or whose package is not
# covered by deps.sh, with the package to add.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"
pgxs="$(dirname "$(pg_config --pgxs 2>/dev/null || echo /nonexistent/x)")"

# What test-all.sh, pg-tests.sh, the TAP tests, the fault tests and the
# Raft core's tests call.  Keep in step with them.
tools=(
	make gcc clang clang-format rsync su runuser setsid timeout flock ip perl prove openssl
	pg_config initdb pg_ctl postgres psql createdb pg_isready pg_dump
	pg_restore pg_basebackup pg_prove "$pgxs/../test/regress/pg_regress"
)
[ $# -gt 0 ] && tools=("$@")

# DEPS_SH names another deps.sh (the self-test in test-all.sh uses it).
listed=$(bash "${DEPS_SH:-$here/deps.sh}" --list test | sort -u)
# The packages deps.sh lists and, recursively, what they depend on (apt
# installs no recommendations, so those do not count).
closure=$(apt-cache depends --recurse --no-recommends --no-suggests \
	--no-conflicts --no-breaks --no-replaces --no-enhances $listed 2>/dev/null |
	grep -v '^ ' | grep -v '^<' | sort -u)

# The package that owns a file, following Debian's merged /usr and
# postgresql-common's diversions.
owner() {
	local f="$1" alt pkg
	case "$f" in
	/usr/bin/* | /usr/sbin/*) alt="${f#/usr}" ;;
	/bin/* | /sbin/*) alt="/usr$f" ;;
	*) alt="$f" ;;
	esac
	# A relocated copy of PostgreSQL (PGBIN=/ROOT/usr/lib/postgresql/15/bin,
	# see README.md) stands for the packaged one it was copied from.
	local root="${PGBIN:-}"
	root="${root%/usr/lib/postgresql/15/bin}"
	if [ -n "$root" ] && [ "$root" != "${PGBIN:-}" ] && [[ "$f" == "$root"/* ]]; then
		alt="$(readlink -f "${f#"$root"}")"
	fi
	for p in "$f" "$alt"; do
		pkg=$(dpkg -S "$p" 2>/dev/null | grep -v '^diversion' | head -1 | cut -d: -f1) || true
		[ -n "$pkg" ] && { echo "$pkg"; return; }
	done
	return 0
}

covered() {
	local pkg="$1"
	grep -qx "$pkg" <<<"$closure" && return 0
	case "$(dpkg-query -W -f='${Essential} ${Priority}' "$pkg" 2>/dev/null)" in
	yes* | *required) return 0 ;;
	esac
	return 1
}

bad=0
for t in "${tools[@]}"; do
	if [[ "$t" = /* ]]; then
		path="$t"
		[ -e "$path" ] || path=""
	else
		path=$(command -v "$t" || true)
	fi
	name=$(basename "$t")
	if [ -z "$path" ]; then
		echo "check-tools: $name is not installed; add its package to scripts/deps.sh" >&2
		bad=1
		continue
	fi
	pkg=$(owner "$(readlink -f "$path")")
	if [ -z "$pkg" ]; then
		echo "check-tools: $name ($path) belongs to no Debian package" >&2
		bad=1
		continue
	fi
	covered "$pkg" || {
		echo "check-tools: $name comes from package $pkg, which scripts/deps.sh does not install: add $pkg to it" >&2
		bad=1
	}
done
[ $bad = 0 ] && echo "check-tools: all ${#tools[@]} programs come from packages deps.sh installs"
exit $bad
