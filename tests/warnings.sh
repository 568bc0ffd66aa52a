#!/bin/sh
# warnings.sh: golden tests of trac's warnings, and of -w, -Werror, -Wno-NAME.
#
# Each tests/warnings/NAME.tra is a valid program with something a user
# would want to hear about, and NAME.warn is the exact standard error of
#
#     cd tests/warnings && $TRAC --check NAME.tra
#
# For every case trac must exit 0 (warnings do not change the status),
# print NAME.warn exactly, compile the program all the same; print nothing
# with -w; and with -Werror exit 1, print every warning as an error, and
# leave no output file. To add a case: write NAME.tra, make NAME.warn with
# the command above, and read it critically.
#
# Environment: TRAC and srcdir, as errors.sh. Exit status 0 when all pass.

set -u
: "${TRAC:?TRAC must name the trac binary}" "${srcdir:?srcdir must name the source tree}"
case $TRAC in
*/*) case $TRAC in /*) ;; *) TRAC=$(pwd)/$TRAC ;; esac ;;
esac
dir=$srcdir/tests/warnings
[ -d "$dir" ] || { echo "warnings.sh: no directory $dir" >&2; exit 99; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# check NAME: one case, from inside $dir; prints why it fails, if it does.
check() {
	name=$1 why=0
	[ -f "$name.warn" ] || { echo "  $name.tra has no $name.warn"; return 1; }
	"$TRAC" --check "$name.tra" >"$tmp/stdout" 2>"$tmp/stderr"
	st=$?
	[ "$st" -eq 0 ] || { echo "  trac --check exited with status $st, expected 0"; why=1; }
	[ -s "$tmp/stdout" ] && { echo "  trac --check wrote to standard output"; why=1; }
	grep -q ': warning: ' "$name.warn" || { echo "  $name.warn holds no warning"; why=1; }
	if ! cmp -s "$name.warn" "$tmp/stderr"; then
		echo "  standard error differs from $name.warn (- expected, + got):"
		diff -u "$name.warn" "$tmp/stderr" | sed '1,2d; s/^/  /'
		why=1
	fi
	"$TRAC" -w --check "$name.tra" >/dev/null 2>"$tmp/stderr"
	st=$?
	{ [ "$st" -eq 0 ] && [ ! -s "$tmp/stderr" ]; } || { echo "  -w: status $st or output left"; why=1; }
	# -Werror: the same messages, as errors, and status 1
	sed -n 's/: warning: /: error: /p' "$name.warn" | sed 's/ \[-W\([a-z-]*\)\]$/ [-Werror,-W\1]/' >"$tmp/want"
	rm -f "$tmp/prog"
	"$TRAC" -Werror "$name.tra" -o "$tmp/prog" >/dev/null 2>"$tmp/stderr"
	st=$?
	grep ': error: ' "$tmp/stderr" >"$tmp/got"
	[ "$st" -eq 1 ] || { echo "  -Werror: status $st, expected 1"; why=1; }
	cmp -s "$tmp/want" "$tmp/got" || { echo "  -Werror: the errors are not the warnings"; why=1; }
	[ -e "$tmp/prog" ] && { echo "  -Werror: the program was written"; why=1; }
	# warnings alone: the program is compiled, and the warnings printed once
	"$TRAC" "$name.tra" -o "$tmp/prog" >/dev/null 2>"$tmp/stderr"
	st=$?
	{ [ "$st" -eq 0 ] && [ -x "$tmp/prog" ] && cmp -s "$name.warn" "$tmp/stderr"; } ||
		{ echo "  compiling: status $st, or no program, or other messages"; why=1; }
	return $why
}

cd "$dir" || exit 99
for tra in *.tra; do
	[ -f "$tra" ] || continue
	if check "${tra%.tra}"; then ok "${tra%.tra}"; else bad "${tra%.tra}"; fi
done
for w in *.warn; do
	[ -f "${w%.warn}.tra" ] || { echo "  $w has no .tra"; bad "${w%.warn}"; }
done

# -Wno-NAME turns off one warning and leaves the others
expect_count() { # NAME WANT ARGS...: WANT warnings from trac ARGS
	n=$1 want=$2
	shift 2
	got=$("$TRAC" --check "$@" 2>&1 | grep -c ': warning: ')
	if [ "$got" -eq "$want" ]; then ok "$n"; else echo "  $got warnings, expected $want"; bad "$n"; fi
}
expect_count wno-division 1 several.tra -Wno-division-by-zero
expect_count wno-unused 1 several.tra -Wno-unused
expect_count wno-then-w 2 several.tra -Wno-unused -Wunused
expect_count wall-after-wno 2 several.tra -Wno-unused -Wall
expect_count w-beats-werror 0 several.tra -w -Werror
"$TRAC" --check several.tra -Wunusd >/dev/null 2>"$tmp/stderr"
st=$?
if [ "$st" -eq 2 ] && grep -q "unknown warning '-Wunusd'; did you mean '-Wunused'" "$tmp/stderr"; then
	ok unknown-warning
else
	echo "  status $st"; bad unknown-warning
fi
# a program with errors gets its errors, not warnings about what they hid
printf 'size N = 4, Q = 2\ninput X[N] f32\nY[i] = X[j]\noutput Y\n' >"$tmp/bad.tra"
"$TRAC" --check "$tmp/bad.tra" >/dev/null 2>"$tmp/stderr"
st=$?
if [ "$st" -eq 1 ] && ! grep -q warning "$tmp/stderr"; then ok no-warnings-with-errors; else bad no-warnings-with-errors; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
