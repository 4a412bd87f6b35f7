#!/usr/bin/env bash
# deps.sh: install what building and testing ordering needs on Debian 12.
# Run as root.  Safe to run again.  Packages are installed without their
# recommendations: a program the tests run must come from a package listed
# here or one of its dependencies (scripts/check-tools.sh checks it).
#
#   deps.sh                  the build and test packages
#   deps.sh --bench          those, plus the benchmark's (bench/run.sh):
#                            etcd to compare with, its Python gRPC driver,
#                            perf for profiling; the tests never need them
#   deps.sh --list [GROUP]   print the packages, one a line: both groups, or
#                            GROUP (test or bench) alone
set -euo pipefail

test_packages=(
	build-essential
	postgresql-15
	postgresql-server-dev-15
	postgresql-15-pgtap
	libtap-parser-sourcehandler-pgtap-perl
	libpq-dev
	libssl-dev
	libipc-run-perl
	clang
	clang-format
	libclang-rt-14-dev
	iproute2
	rsync
	procps
	openssl
)

bench_packages=(
	etcd-server
	etcd-client
	python3
	python3-grpcio
	linux-perf
)

if [ "${1:-}" = --list ]; then
	case "${2:-all}" in
	test) printf '%s\n' "${test_packages[@]}" ;;
	bench) printf '%s\n' "${bench_packages[@]}" ;;
	all) printf '%s\n' "${test_packages[@]}" "${bench_packages[@]}" ;;
	*) echo "deps.sh: --list takes test or bench, not $2" >&2; exit 2 ;;
	esac
	exit 0
fi

packages=("${test_packages[@]}")
case "${1:-}" in
--bench) packages+=("${bench_packages[@]}") ;;
"") ;;
*) echo "usage: deps.sh [--bench | --list [test|bench]]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done

# Debian's etcd-server starts a default single-member etcd on 127.0.0.1:2379
# when it is installed, through invoke-rc.d (without systemd) or systemctl,
# unless /usr/sbin/policy-rc.d forbids it (as Docker images do).  The
# benchmark runs its own members on other ports; a stray default member
# would only take CPU from what is measured.  So forbid starting services
# while installing it, and stop one that was started anyway.
installing_etcd=0
for p in "${missing[@]}"; do
	[ "$p" = etcd-server ] && installing_etcd=1
done
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ $installing_etcd = 1 ] && [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# deps.sh: no service starts while installing\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	own_policy=1
fi
remove_own_policy() { [ $own_policy = 0 ] || rm -f "$policy"; }
trap remove_own_policy EXIT

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
remove_own_policy
own_policy=0

if [ $installing_etcd = 1 ]; then
	if [ -d /run/systemd/system ]; then
		systemctl disable --now etcd.service >/dev/null 2>&1 || true
	elif [ -x /etc/init.d/etcd ] && /etc/init.d/etcd status >/dev/null 2>&1; then
		/etc/init.d/etcd stop >/dev/null || true
	fi
fi

# Debian's package starts a default cluster on port 5432; ordering does not
# use it, and it is left alone.
export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"
pg_config --version
