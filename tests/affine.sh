#!/bin/sh
# affine.sh: index arithmetic through the reference interpreter against
# NumPy code written independently in tests/affine.py (convolutions,
# pooling, moving sums, slices, RoPE's half split, concatenation); SKIP
# without a python3 with numpy.
set -u
: "${TRAC:?}" "${srcdir:?}"
py=${PYTHON_NUMPY:-}
[ -n "$py" ] || { echo "SKIP: no python3 with numpy"; exit 77; }
exec "$py" "$srcdir/tests/affine.py" "$TRAC"
