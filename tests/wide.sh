#!/bin/sh
# wide.sh: random programs at the dimension limits never crash trac
# (tests/wide.py); SKIP without a python3.
set -u
: "${TRAC:?}" "${srcdir:?}"
py=${PYTHON_NUMPY:-}
[ -n "$py" ] || { echo "SKIP: no python3"; exit 77; }
exec "$py" "$srcdir/tests/wide.py" "$TRAC" 150
