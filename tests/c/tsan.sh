#!/bin/sh
# c/tsan.sh: tests/tsan.sh under the C back end (tests/backend.sh says why).
. "$srcdir/tests/backend.sh" tsan.sh
