#!/bin/sh
# vectorize.sh: every loop the LLVM back end tags for vectorisation (the
# loops C marks `omp simd`, and the innermost loop of maps) is vectorised
# by O3 in every sample and bench program, as block tasks (the default,
# and --devices=3: other block shapes, split reductions) and as whole-node
# kernels: `trac -v --emit=llvm` reports LLVM's warnings, and a tagged
# loop that stayed scalar is one. SKIP where trac has no LLVM back end.
set -u
: "${TRAC:?}" "${srcdir:?}"
if ! "$TRAC" --backend=llvm --version >/dev/null 2>&1; then
	echo "SKIP: trac has no LLVM back end"
	exit 77
fi
. "$srcdir/tests/testlib.sh"
test_setup
for prog in "$srcdir"/samples/*.tra "$srcdir"/bench/*.tra; do
	name=$(basename "$prog" .tra)
	for flags in "" "--devices=3" "--node-kernels"; do
		# shellcheck disable=SC2086
		if ! "$TRAC" -v --backend=llvm "$prog" $flags --emit=llvm -o out.ll 2>err; then
			bad "$name $flags (compile)"
		elif grep -q 'LLVM warned' err; then
			grep 'LLVM warned' err | sed 's/^/  /'
			bad "$name $flags: a loop tagged for vectorisation stayed scalar"
		else
			ok "$name $flags"
		fi
	done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
