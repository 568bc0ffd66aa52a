#!/bin/sh
# c/tsan.sh: tests/tsan.sh under the C back end (tests/backend.sh says
# why): the generated C compiled with -fsanitize=thread.
. "$srcdir/tests/backend.sh" tsan.sh
