#!/bin/sh
# c/outofcore.sh: tests/outofcore.sh under the C back end (tests/backend.sh
# says why): the read, drop, claim and write rows are rendered by each back end.
. "$srcdir/tests/backend.sh" outofcore.sh
