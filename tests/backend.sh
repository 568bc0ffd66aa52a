# backend.sh: runs another test under the C back end; sourced by the
# wrappers in tests/c/ as `. "$srcdir/tests/backend.sh" TEST.sh`.
#
# trac's default back end is llvm where configure found LLVM, so the
# tests themselves exercise it; each wrapper runs one of them again with
# every trac command given --backend=c (a shim named trac that adds it),
# so both back ends compile and run the same programs against the same
# references. In a trac built without LLVM the default is c and the test
# itself already ran it: the wrapper skips. It skips too under
# TRAC_CHECK=quick (make distcheck's suite, which checks the tarball).
set -u
: "${TRAC:?}" "${srcdir:?}"
backend_test=$1
if [ "${TRAC_CHECK:-full}" = quick ]; then
	echo "SKIP: TRAC_CHECK=quick (make distcheck): make check ran tests/$backend_test under --backend=c"
	exit 77
fi
if ! "$TRAC" --backend=llvm --version >/dev/null 2>&1; then
	echo "SKIP: trac has no LLVM back end, so tests/$backend_test ran the C back end"
	exit 77
fi
backend_dir=$(mktemp -d) || exit 99
trap 'rm -rf "$backend_dir"' EXIT
case $TRAC in
/*) backend_real=$TRAC ;;
*) backend_real=$PWD/$TRAC ;;
esac
printf '#!/bin/sh\nexec "%s" --backend=c "$@"\n' "$backend_real" >"$backend_dir/trac"
chmod +x "$backend_dir/trac" || exit 99
TRAC_BACKEND_SHIM=c TRAC=$backend_dir/trac sh "$srcdir/tests/$backend_test"
