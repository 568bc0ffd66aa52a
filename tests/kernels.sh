#!/bin/sh
# kernels.sh: the loop kernels' numerics against NumPy: trart.h's
# vectorised element functions in ulps (tests/mathfn.py) and long f32
# sums against a float64 reference (tests/sums.py); large GEMMs, whose
# calls run Strassen-Winograd levels, against float64 NumPy and plain
# BLAS (tests/gemms.py); SKIP without a
# python3 with numpy.
set -u
: "${TRAC:?}" "${srcdir:?}"
py=${PYTHON_NUMPY:-}
[ -n "$py" ] || { echo "SKIP: no python3 with numpy"; exit 77; }
status=0
"$py" "$srcdir/tests/mathfn.py" "$TRAC" || status=1
"$py" "$srcdir/tests/sums.py" "$TRAC" || status=1
"$py" "$srcdir/tests/gemms.py" "$TRAC" || status=1
exit $status
