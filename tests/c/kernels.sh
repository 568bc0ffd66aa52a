#!/bin/sh
# c/kernels.sh: tests/kernels.sh under the C back end (tests/backend.sh says why).
. "$srcdir/tests/backend.sh" kernels.sh
