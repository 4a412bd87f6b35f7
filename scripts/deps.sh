#!/usr/bin/env bash
# deps.sh: install what building and testing ordering needs on Debian 12.
# Run as root.  Safe to run again.  Packages are installed without their
# recommendations: a program the tests run must come from a package listed
# here or one of its dependencies (scripts/check-tools.sh checks it).
set -euo pipefail

packages=(
	build-essential
	postgresql-15
	postgresql-server-dev-15
	postgresql-15-pgtap
	libtap-parser-sourcehandler-pgtap-perl
	libpq-dev
	libipc-run-perl
	clang
	clang-format
	libclang-rt-14-dev
	iproute2
	rsync
	procps
	openssl
)

# deps.sh --list: print the packages, one a line (scripts/check-tools.sh
# checks every program the tests run against them).
if [ "${1:-}" = --list ]; then
	printf '%s\n' "${packages[@]}"
	exit 0
fi

missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Debian's package starts a default cluster on port 5432; ordering does not
# use it, and it is left alone.
export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"
pg_config --version
