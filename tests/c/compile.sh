#!/bin/sh
# c/compile.sh: tests/compile.sh under the C back end (tests/backend.sh says
# why), with the sweep that reaches every kind of kernel (compile.sh's
# COMPILE_SWEEP=kernels): the placers and thread counts it leaves out vary
# the executor, not the back end, and tests/compile.sh runs them.
COMPILE_SWEEP=kernels
export COMPILE_SWEEP
. "$srcdir/tests/backend.sh" compile.sh
