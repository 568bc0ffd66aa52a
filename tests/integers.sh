#!/bin/sh
# integers.sh: integer tensors and conversions, interpreted and compiled
# by each back end, against NumPy code written in tests/integers.py; SKIP
# without a python3 with numpy.
set -u
: "${TRAC:?}" "${srcdir:?}"
py=${PYTHON_NUMPY:-}
[ -n "$py" ] || { echo "SKIP: no python3 with numpy"; exit 77; }
exec "$py" "$srcdir/tests/integers.py" "$TRAC"
