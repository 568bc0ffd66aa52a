#!/bin/sh
# c/memory.sh: tests/memory.sh under the C back end (tests/backend.sh says
# why): the memory tasks' table rows and partial-block buffers are
# rendered by each back end. On the samples alone (MEMORY_SWEEP=smoke):
# they reach every kind of memory task and view, and tests/memory.sh runs
# the bench programs too.
MEMORY_SWEEP=smoke
export MEMORY_SWEEP
. "$srcdir/tests/backend.sh" memory.sh
