#!/bin/sh
# c/lib.sh: tests/lib.sh under the C back end (tests/backend.sh says why).
. "$srcdir/tests/backend.sh" lib.sh
