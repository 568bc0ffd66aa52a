#!/bin/sh
# c/memory.sh: tests/memory.sh under the C back end (tests/backend.sh says
# why): the memory tasks' table rows and partial-block buffers are
# rendered by each back end.
. "$srcdir/tests/backend.sh" memory.sh
