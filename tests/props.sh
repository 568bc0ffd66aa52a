#!/bin/sh
# props.sh: the property test of the TRA passes (tests/props.py) at CI
# size: 2,000 random programs, in bundles of 50, compiled by trac and
# compared with --interpret, and rewritten into equivalent forms whose
# optimised graphs are compared (counts printed; see props.py). A wrong
# result, a crash or an internal error fails. A rewrite that costs more
# FLOPs than its original fails only for the kinds in PROPS_ASSERT,
# none by default: the passes are not yet canonical enough to promise
# it. In 2,000 programs (seed 1) 4 swaps and 6 transposes cost more, for
# two known reasons: the order pass's search counts flops without
# knowing that CSE will merge equal steps (so ties between equally
# cheap orders break differently), and a pure copy (T[i, j] = X[i, j])
# is not replaced by what it copies. Set PROPS_ASSERT=swap,transpose to
# see them fail. `make props-long` runs a bigger sweep. SKIP without numpy.
set -u
: "${TRAC:?}" "${srcdir:?}"
py=${PYTHON_NUMPY:-}
[ -n "$py" ] || { echo "SKIP: no Python 3 with numpy"; exit 77; }
exec "$py" "$srcdir/tests/props.py" "$TRAC" "${PROPS_COUNT:-2000}" --seed "${PROPS_SEED:-1}" \
	--assert-kinds "${PROPS_ASSERT-}"
