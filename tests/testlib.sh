# testlib.sh: what the shell tests share; sourced, after `pass=0 fail=0`,
# from the temporary directory the test works in.

ok() { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -s err ] && sed 's/^/  stderr: /' err | head -5; }

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
