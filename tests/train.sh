#!/bin/sh
# train.sh: the training samples (samples/train_*.tra) run 100 steps,
# compiled and interpreted, against NumPy's hand-written backward pass
# and SGD (tests/train.py); SKIP without numpy.
set -u
: "${TRAC:?}" "${srcdir:?}"
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy (configure found none)"
	exit 77
fi
exec "$PYTHON_NUMPY" "$srcdir/tests/train.py" "$TRAC" "$srcdir/samples" "${TRAIN_STEPS:-100}"
