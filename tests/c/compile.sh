#!/bin/sh
# c/compile.sh: tests/compile.sh under the C back end (tests/backend.sh says why).
. "$srcdir/tests/backend.sh" compile.sh
