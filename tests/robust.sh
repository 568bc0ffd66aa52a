#!/bin/sh
# robust.sh: 150 evenly spaced prefixes of every sample (ROBUST_PREFIXES)
# and 1000 seeded mutations of them (ROBUST_MUTATIONS; make robust-long:
# 600 prefixes each and 10,000 mutations), through trac --check /
# --emit=tra: exit 0 or 1, never a crash, hang or sanitizer report (see
# robust.c).
set -u
: "${TRAC:?}" "${srcdir:?}"
here=$(pwd)
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99
"$here/tests/robust" "$TRAC" "$srcdir"/samples/*.tra --mutations "${ROBUST_MUTATIONS:-1000}" \
	--prefixes "${ROBUST_PREFIXES:-150}" --seed 1
rc=$?
[ -f robust-failure.tra ] && cp robust-failure.tra "$here/robust-failure.tra" &&
	echo "the first failing input is in robust-failure.tra"
exit $rc
