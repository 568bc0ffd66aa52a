#!/bin/sh
# c/tsan.sh: tests/tsan.sh under the C back end (tests/backend.sh says
# why): the generated C compiled with -fsanitize=thread, on the samples
# alone (TSAN_SWEEP=smoke): a race is the executor's, which the samples'
# task graphs reach; tests/tsan.sh runs the bench programs under TSan and
# tests/c/compile.sh runs their C kernels.
TSAN_SWEEP=smoke
export TSAN_SWEEP
. "$srcdir/tests/backend.sh" tsan.sh
