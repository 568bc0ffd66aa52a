#!/bin/sh
# order.sh: the contraction orders trac chooses for a list of hard einsum
# expressions (issue 9's among them) cost exactly the optimum of an
# exhaustive search written in tests/order.py; SKIP without a python3.
set -u
: "${TRAC:?}" "${srcdir:?}"
py=${PYTHON_NUMPY:-}
[ -n "$py" ] || { echo "SKIP: no python3"; exit 77; }
exec "$py" "$srcdir/tests/order.py" "$TRAC"
