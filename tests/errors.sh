#!/bin/sh
# errors.sh: golden tests of trac's diagnostics.
#
# Each tests/errors/NAME.tra is a small program with one kind of mistake
# (or a few, where the point is that they are reported together), and
# NAME.err is the exact standard error expected from
#
#     cd tests/errors && $TRAC --check NAME.tra
#
# so that locations print as NAME.tra:LINE:COL. For every case trac must
# exit with status 1, print nothing on standard output, and print exactly
# NAME.err on standard error; and `$TRAC NAME.tra --emit=tra -o FILE` must
# exit with status 1 and leave no FILE behind. A .tra without its .err (or
# an .err without its .tra) is a failure.
#
# To add a case: write NAME.tra, run the command above to make NAME.err,
# and read the .err critically before adding it (right line, column and
# range; a message that says what was expected).
#
# Environment: TRAC (the trac binary; a relative path is taken from the
# current directory) and srcdir (the source tree, which may be read-only:
# everything this script writes goes to a temporary directory).
#
# Prints PASS or FAIL for each case, the number of distinct messages the
# cases cover (the first line's message with quoted names replaced by
# '...'), and finally "N passed, M failed". Exit status 0 when all pass,
# 1 when any fails, 99 when the environment is unusable.

set -u
: "${TRAC:?TRAC must name the trac binary}" "${srcdir:?srcdir must name the source tree}"
case $TRAC in
*/*) case $TRAC in /*) ;; *) TRAC=$(pwd)/$TRAC ;; esac ;;
esac
dir=$srcdir/tests/errors
if [ ! -d "$dir" ]; then
	echo "errors.sh: no directory $dir" >&2
	exit 99
fi
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# check NAME: runs one case from inside $dir; prints why it fails, if it does.
check() {
	name=$1
	if [ ! -f "$name.err" ]; then
		echo "  $name.tra has no $name.err"
		return 1
	fi
	"$TRAC" --check "$name.tra" >"$tmp/stdout" 2>"$tmp/stderr"
	status=$?
	why=0
	if [ "$status" -ne 1 ]; then
		echo "  trac --check exited with status $status, expected 1"
		why=1
	fi
	if [ -s "$tmp/stdout" ]; then
		echo "  trac --check wrote to standard output:"
		sed 's/^/  | /' "$tmp/stdout"
		why=1
	fi
	if ! cmp -s "$name.err" "$tmp/stderr"; then
		echo "  standard error differs from $name.err (- expected, + got):"
		diff -u "$name.err" "$tmp/stderr" | sed '1,2d; s/^/  /'
		why=1
	fi
	rm -f "$tmp/out"
	"$TRAC" "$name.tra" --emit=tra -o "$tmp/out" >/dev/null 2>&1
	status=$?
	if [ "$status" -ne 1 ]; then
		echo "  trac --emit=tra -o exited with status $status, expected 1"
		why=1
	fi
	if [ -e "$tmp/out" ] || [ -L "$tmp/out" ]; then
		echo "  trac --emit=tra -o left its output file behind"
		why=1
	fi
	return $why
}

cd "$dir" || exit 99
for tra in *.tra; do
	[ -f "$tra" ] || continue
	name=${tra%.tra}
	if check "$name"; then ok "$name"; else bad "$name"; fi
done
for err in *.err; do
	[ -f "$err" ] || continue
	name=${err%.err}
	if [ ! -f "$name.tra" ]; then
		echo "  $err has no $name.tra"
		bad "$name"
	fi
done
if [ $((pass + fail)) -eq 0 ]; then
	echo "  no cases in $dir"
	fail=1
fi

# The messages covered: each case's first line, location and names elided.
for err in *.err; do
	[ -f "$err" ] && sed -n '1{s/^[^:]*:[0-9]*:[0-9]*: error: //; s/'\''[^'\'']*'\''/'\''...'\''/g; p;}' "$err"
done | sort -u >"$tmp/messages"
echo "$(wc -l <"$tmp/messages" | tr -d ' ') distinct error messages covered"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
