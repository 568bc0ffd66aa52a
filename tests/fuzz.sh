#!/bin/sh
# fuzz.sh: trac's front end, passes and back end under libFuzzer, ASan
# and UBSan (tests/fuzz/fuzz.c) for FUZZ_SECONDS seconds (default 60),
# seeded with samples/*.tra, bench/*.tra and the golden errors
# tests/errors/*.tra. Any crash, sanitizer report, internal error, leak,
# input slower than 30 s (a loaded machine makes slow inputs slower) or memory past 2 GB fails it, and the input is
# shown (and kept as fuzz-failure.tra in the build directory).
# `make fuzz` builds the target; SKIP (77) when configure found no clang
# that links -fsanitize=fuzzer (FUZZ_CC empty).
# Environment: FUZZ_CC, MAKE and BUILDDIR (from make check), srcdir;
# FUZZ_SECONDS and FUZZ_FLAGS (more libFuzzer flags) to fuzz longer or
# differently by hand.
set -u
: "${srcdir:?}" "${BUILDDIR:?}"
[ -n "${FUZZ_CC:-}" ] || { echo "SKIP: no clang with libFuzzer (configure's FUZZ_CC)"; exit 77; }
if [ "${TRAC_CHECK:-full}" = quick ]; then # distcheck's suite: make check fuzzed these sources
	echo "SKIP: TRAC_CHECK=quick (make distcheck): make check ran the fuzzer"
	exit 77
fi
here=$(pwd)
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
if ! ${MAKE:-make} -C "$BUILDDIR" fuzz >"$tmp/build.log" 2>&1; then
	tail -n 20 "$tmp/build.log"
	echo "FAIL make fuzz"
	exit 1
fi
mkdir "$tmp/corpus" "$tmp/seeds" || exit 99
for f in "$srcdir"/samples/*.tra "$srcdir"/bench/*.tra "$srcdir"/tests/errors/*.tra; do
	[ -f "$f" ] && cp "$f" "$tmp/seeds/$(basename "$(dirname "$f")")-$(basename "$f")"
done
cd "$tmp" || exit 99
# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
"$BUILDDIR/tests/fuzz/trac-fuzz" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=30 \
	-rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 \
	-dict="$srcdir/tests/fuzz/tra.dict" -artifact_prefix="$tmp/" ${FUZZ_FLAGS:-} \
	corpus seeds >log 2>&1
rc=$?
grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' log | tail -n 2
found=$(ls "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* 2>/dev/null | head -n 1)
if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
	grep -E -m 1 -A 30 'ERROR: |runtime error|internal error|==[0-9]+==' log | head -n 40
	if [ -n "$found" ]; then
		cp "$found" "$here/fuzz-failure.tra"
		echo "the input, kept as fuzz-failure.tra:"
		od -c "$found" | head -n 20
	fi
	echo "FAIL fuzz (libFuzzer exit status $rc)"
	exit 1
fi
echo "PASS fuzz (${FUZZ_SECONDS:-60} s, no crash)"
