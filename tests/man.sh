#!/bin/sh
# man.sh: every example in the man pages is run (man-examples.sh).
set -u
: "${TRAC:?}" "${srcdir:?}"
SRCDIR=$srcdir; export SRCDIR
exec sh "$srcdir/tests/man-examples.sh" "$TRAC" "$srcdir/man/trac.1" "$srcdir/man/tra.5"
