#!/bin/sh
# c/man.sh: tests/man.sh under the C back end (tests/backend.sh says why).
. "$srcdir/tests/backend.sh" man.sh
