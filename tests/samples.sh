#!/bin/sh
# samples.sh: every sample interpreted and compared with NumPy (check_samples.py).
set -u
: "${TRAC:?}" "${srcdir:?}"
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy (configure found none)"
	exit 77
fi
exec "$PYTHON_NUMPY" "$srcdir/tests/check_samples.py" "$TRAC" "$srcdir/samples"
