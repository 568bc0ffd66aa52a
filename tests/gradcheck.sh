#!/bin/sh
# gradcheck.sh: the gradient check of grad (tests/gradcheck.py) at CI
# size: 1,000 random f64 programs, in bundles of 50, each differentiated
# by every input and checked twice against central finite differences of
# the interpreter (every input moved along a random direction, then one
# alone); every second bundle is also compiled and must give the
# interpreter's loss and gradients. `make gradcheck-long` runs 10,000.
# SKIP without numpy.
set -u
: "${TRAC:?}" "${srcdir:?}"
py=${PYTHON_NUMPY:-}
[ -n "$py" ] || { echo "SKIP: no Python 3 with numpy"; exit 77; }
exec "$py" "$srcdir/tests/gradcheck.py" "$TRAC" "${GRADCHECK_COUNT:-1000}" --seed "${GRADCHECK_SEED:-1}" \
	--bundle 50 --compile-every 2
