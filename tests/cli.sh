#!/bin/sh
# cli.sh: the trac command line: usage errors (exit 2), errors in the
# program or its data (exit 1), no output file left behind on any error,
# --emit goldens, and the interpreter's .npy inputs and outputs.
# Environment: TRAC (the binary), srcdir (the source tree, may be read-only).
set -u
: "${TRAC:?}" "${srcdir:?}"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99
pass=0 fail=0

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

# absent NAME FILE: no file was left behind.
absent() {
	if [ -e "$2" ]; then echo "  $2 exists"; bad "$1"; else ok "$1"; fi
}

cat >good.tra <<'TRA'
# a scaled matrix product
size N = 4, K = 3, M = 2
input A[N, K], B[K, M]
input alpha
C[i, j] = alpha * sum[k](A[i, k] * B[k, j])
output C
TRA
cat >copy.tra <<'TRA'
size N = 5
input X[N]
Y[i] = X[i]
output Y
TRA
printf 'output Q\n' >broken.tra

# ---- usage ----------------------------------------------------------------
expect help 0 "" "$TRAC" --help
grep -q 'usage: trac' out && ok help-text || bad help-text
expect version 0 "" "$TRAC" --version
grep -Eq '^trac [0-9]+\.[0-9]+' out && ok version-text || bad version-text
expect no-file 2 "no input file" "$TRAC"
expect two-files 2 "one program at a time" "$TRAC" good.tra copy.tra --check
expect unknown-option 2 "unknown option '--frobnicate'" "$TRAC" good.tra --frobnicate
expect missing-value 2 "needs a value" "$TRAC" good.tra --check -D
expect bad-define 2 "expects NAME=VALUE" "$TRAC" good.tra --check -D N
expect bad-define-value 2 "positive integer" "$TRAC" good.tra --check -D N=-3
expect bad-define-zero 2 "positive integer" "$TRAC" good.tra --check -D N=0
expect define-twice 2 "given twice" "$TRAC" good.tra --check -D N=2 -D N=3
expect define-unknown 2 "defines no size 'Q'" "$TRAC" good.tra --check -D Q=3
expect bad-emit 2 "unknown --emit stage" "$TRAC" good.tra --emit=bogus
expect two-modes 2 "cannot be combined" "$TRAC" good.tra --check --interpret
expect check-with-o 2 "writes nothing" "$TRAC" good.tra --check -o x
expect input-without-interpret 2 "need --interpret" "$TRAC" good.tra --check --input A=a.npy
expect bad-seed 2 "non-negative integer seed" "$TRAC" good.tra --interpret --random=x
expect no-mode 2 "not available yet" "$TRAC" good.tra -o prog
expect missing-source 1 "cannot open 'nope.tra'" "$TRAC" nope.tra --check
expect check-ok 0 "" "$TRAC" good.tra --check
[ -s out ] && bad check-silent || ok check-silent

# ---- program errors leave nothing behind ------------------------------------
expect emit-error 1 "output 'Q' is not defined" "$TRAC" broken.tra --emit=tra -o broken.out
absent emit-error-no-file broken.out
expect emit-to-file 0 "" "$TRAC" good.tra --emit=tra -o good.out
grep -q 'acc = sum\[k\] A\[i, k\] \* B\[k, j\]' good.out && ok emit-to-file-content || bad emit-to-file-content
expect emit-to-devnull 0 "" "$TRAC" good.tra --emit=tra -o /dev/null
[ -c /dev/null ] && ok devnull-intact || bad devnull-intact

# ---- --emit goldens -----------------------------------------------------------
for stage in tokens ast tra; do
	"$TRAC" "$srcdir/tests/golden/matmul.tra" --emit=$stage >got.$stage 2>err
	if diff -u "$srcdir/tests/golden/matmul.emit-$stage" got.$stage >diff.out; then
		ok emit-$stage
	else
		cat diff.out | head -20
		bad emit-$stage
	fi
done
expect emit-d-override 0 "" "$TRAC" good.tra --emit=tra -D N=7
grep -q 'N=7 (-D)' out && ok emit-d-shows || bad emit-d-shows

# ---- the interpreter's data -------------------------------------------------------
expect interp-random 0 "" "$TRAC" copy.tra --interpret --random=5 --output Y=y.npy
[ -s y.npy ] && ok interp-wrote || bad interp-wrote
expect interp-roundtrip 0 "" "$TRAC" copy.tra --interpret --input X=y.npy --output Y=y2.npy
cmp -s y.npy y2.npy && ok interp-roundtrip-equal || bad interp-roundtrip-equal
expect interp-same-seed 0 "" "$TRAC" copy.tra --interpret --random=5 --output-dir d1
cmp -s y.npy d1/Y.npy && ok interp-seed-deterministic || bad interp-seed-deterministic
expect interp-other-seed 0 "" "$TRAC" copy.tra --interpret --random=6 --output-dir d2
cmp -s y.npy d2/Y.npy && bad interp-seed-differs || ok interp-seed-differs
expect interp-nested-dir 0 "" "$TRAC" copy.tra --interpret --random --output-dir a/b/c
[ -f a/b/c/Y.npy ] && ok interp-nested-dir-file || bad interp-nested-dir-file

expect interp-to-devnull 0 "" "$TRAC" copy.tra --interpret --random --output Y=/dev/null
[ -c /dev/null ] && ok interp-devnull-intact || bad interp-devnull-intact
: >target.npy
ln -s target.npy link.npy
expect interp-through-symlink 0 "" "$TRAC" copy.tra --interpret --random=5 --output Y=link.npy
[ -L link.npy ] && cmp -s target.npy y.npy && ok symlink-followed || bad symlink-followed
expect missing-input 1 "input X is missing" "$TRAC" copy.tra --interpret --output Y=m.npy
absent missing-input-no-file m.npy
expect unknown-input 2 "no input named 'Q'" "$TRAC" copy.tra --interpret --input Q=y.npy --random
expect unknown-output 2 "no output named 'X'" "$TRAC" copy.tra --interpret --random --output X=x.npy
expect input-twice 2 "given twice" "$TRAC" copy.tra --interpret --input X=y.npy --input X=y.npy
expect no-such-input-file 1 "input X: nothing.npy" "$TRAC" copy.tra --interpret --input X=nothing.npy --output Y=n.npy
absent no-such-input-file-no-output n.npy
expect wrong-shape 1 "input X: .*shape" "$TRAC" copy.tra --interpret -D N=6 --input X=y.npy --output Y=w.npy
absent wrong-shape-no-output w.npy
head -c 100 y.npy >trunc.npy
expect truncated 1 "input X: trunc.npy: .*truncated" "$TRAC" copy.tra --interpret --input X=trunc.npy --output Y=t.npy
absent truncated-no-output t.npy
printf 'this is not a numpy file at all, not even close........................' >garbage.npy
expect garbage 1 "input X: garbage.npy" "$TRAC" copy.tra --interpret --input X=garbage.npy --output Y=g.npy
absent garbage-no-output g.npy
sed 's/<f4/<f8/' y.npy >f8.npy
expect wrong-dtype 1 "input X: f8.npy: .*f8" "$TRAC" copy.tra --interpret --input X=f8.npy --output Y=f.npy
absent wrong-dtype-no-output f.npy
sed 's/<f4/>f4/' y.npy >be.npy
expect big-endian 1 "input X: be.npy: .*(byte order|endian)" "$TRAC" copy.tra --interpret --input X=be.npy --output Y=b.npy
sed 's/False/True /' y.npy >fortran.npy
expect fortran 1 "input X: fortran.npy: .*Fortran" "$TRAC" copy.tra --interpret --input X=fortran.npy --output Y=f2.npy
mkdir ro && chmod 555 ro
if [ "$(id -u)" -ne 0 ]; then
	expect unwritable 1 "output Y" "$TRAC" copy.tra --interpret --random --output Y=ro/y.npy
fi
expect output-dir-is-file 1 "cannot create the output directory" "$TRAC" copy.tra --interpret --random --output-dir y.npy
expect output-missing-dir 1 "output Y" "$TRAC" copy.tra --interpret --random --output Y=no/such/dir/y.npy
absent output-missing-dir-no-file no/such/dir/y.npy
cat >two.tra <<'TRA'
size N = 3
input X[N]
A[i] = X[i] + 1
B[i] = X[i] * 2
output A, B
TRA
expect partial-outputs 1 "output B" "$TRAC" two.tra --interpret --random --output A=pa.npy --output B=no/dir/pb.npy
absent partial-outputs-removed pa.npy

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
