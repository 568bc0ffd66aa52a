#!/bin/sh
# props.sh: the property test of the TRA passes (tests/props.py) at CI
# size: 1,000 random programs, in bundles of 50, compiled by trac and
# compared with --interpret, and rewritten into equivalent forms whose
# optimised graphs are compared (counts printed; see props.py). A wrong
# result, a crash or an internal error fails, and so does a swapped or
# transposed rewrite that costs more FLOPs than its original (the kinds
# in PROPS_ASSERT, swap,transpose by default; seed 1: none of the first
# 2,000 do).
# Inlined and duplicated rewrites are counted, not asserted: hoisting and
# CSE bring many, not all, back to the original's cost (props.py says
# why). `make props-long` runs a bigger sweep. SKIP without numpy.
set -u
: "${TRAC:?}" "${srcdir:?}"
py=${PYTHON_NUMPY:-}
[ -n "$py" ] || { echo "SKIP: no Python 3 with numpy"; exit 77; }
exec "$py" "$srcdir/tests/props.py" "$TRAC" "${PROPS_COUNT:-1000}" --seed "${PROPS_SEED:-1}" \
	--assert-kinds "${PROPS_ASSERT-swap,transpose}"
