#!/bin/sh
# props.sh: the property test of the TRA passes (tests/props.py) at CI
# size: 2,000 random programs, in bundles of 50, compiled by trac and
# compared with --interpret, and rewritten into equivalent forms whose
# optimised graphs are compared (counts printed; see props.py). A
# rewrite that costs more FLOPs than its original fails for the kinds
# in PROPS_ASSERT: swapping operands and transposing are asserted today;
# inlining and duplicating reductions come back to the original's cost
# only with hoisting and CSE, so add inline,dup here once trac's passes
# do them. `make props-long` runs a bigger sweep. SKIP without numpy.
set -u
: "${TRAC:?}" "${srcdir:?}"
py=${PYTHON_NUMPY:-}
[ -n "$py" ] || { echo "SKIP: no Python 3 with numpy"; exit 77; }
exec "$py" "$srcdir/tests/props.py" "$TRAC" "${PROPS_COUNT:-2000}" --seed "${PROPS_SEED:-1}" \
	--assert-kinds "${PROPS_ASSERT:-swap,transpose}"
