#!/bin/sh
# lib.sh: library mode through a plain Makefile: `trac -c scale.tra`
# gives scale.o and scale.h, which a small C program links and checks.
set -u
: "${TRAC:?}" "${srcdir:?}" "${TRART_LIBS:?}"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cp "$srcdir"/tests/lib/lib.mk "$srcdir"/tests/lib/scale.tra "$srcdir"/tests/lib/use_scale.c "$tmp"/ || exit 99
cd "$tmp" || exit 99
make -s -f lib.mk TRAC="$TRAC" CC="${CC:-cc}" TRART_LIBS="$TRART_LIBS" use_scale || { echo "FAIL build"; echo "0 passed, 1 failed"; exit 1; }
[ -f scale.h ] && [ -f scale.o ] || { echo "FAIL scale.h and scale.o"; exit 1; }
# (a broken runtime may hang concurrent calls: that is a failure too)
if command -v timeout >/dev/null 2>&1; then
	timeout 120 ./use_scale >out
else
	./use_scale >out
fi
rc=$?
[ "$rc" -eq 124 ] && echo "FAIL use_scale hung (killed after 120 s)" >>out
cat out
echo "$(grep -c '^PASS' out) passed, $(grep -c '^FAIL' out) failed"
exit $rc
