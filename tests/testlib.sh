# testlib.sh: what the shell tests share; sourced (from "$srcdir/tests"),
# then test_setup starts the test in a temporary directory of its own.

# test_setup: a temporary directory ($tmp), removed at exit (made writable
# first: tests make read-only files) and made the current directory; the
# counters at 0. Exits 99 (a hard error) if it cannot.
test_setup() {
	tmp=$(mktemp -d) || exit 99
	trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
	cd "$tmp" || exit 99
	pass=0 fail=0
}

ok() { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -s err ] && sed 's/^/  stderr: /' err | head -5; }

skip() { echo "SKIP $1"; }
check() { # NAME CMD...: passes when CMD succeeds
	name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}

# expect NAME STATUS PATTERN CMD...: exit status STATUS and PATTERN (grep -E) in stderr.
expect() {
	name=$1 want=$2 pat=$3
	shift 3
	"$@" >out 2>err
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "  exit status $got, expected $want"
		bad "$name"
	elif [ -n "$pat" ] && ! grep -Eq -- "$pat" err; then
		echo "  stderr lacks /$pat/"
		bad "$name"
	else
		ok "$name"
	fi
}
