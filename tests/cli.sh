#!/bin/sh
# cli.sh: the trac command line: usage errors (exit 2), errors in the
# program or its data (exit 1), no output file left behind on any error,
# --emit goldens, the interpreter's .npy inputs and outputs (two outputs
# in one file, directories a failed run made), and that the interpreter
# and a compiled program word every failure alike.
# Environment: TRAC (the binary), srcdir (the source tree, may be read-only).
set -u
: "${TRAC:?}" "${srcdir:?}"
. "$srcdir/tests/testlib.sh"
test_setup

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
expect bad-emit 2 "unknown --emit stage 'bogus'; the stages are tokens, ast, tra, " "$TRAC" good.tra --emit=bogus
expect bad-emit-near 2 "unknown --emit stage 'plan-jsn'; did you mean 'plan-json'\?" "$TRAC" good.tra --emit=tra,plan-jsn
expect bad-emit-empty 2 "unknown --emit stage ''" "$TRAC" good.tra --emit=tra,
expect two-modes 2 "cannot be combined" "$TRAC" good.tra --check --interpret
expect check-with-o 2 "writes nothing" "$TRAC" good.tra --check -o x
expect input-without-interpret 2 "need --interpret" "$TRAC" good.tra --check --input A=a.npy
expect bad-seed 2 "non-negative integer seed" "$TRAC" good.tra --interpret --random=x
expect bad-opt-level 2 "optimisation levels" "$TRAC" good.tra -O5
expect bad-reuse-one 2 "--reuse needs auto, none, or MIN,BLOCK" "$TRAC" good.tra --reuse=4M
expect bad-reuse-zero 2 "--reuse needs auto, none, or MIN,BLOCK" "$TRAC" good.tra --reuse=4M,0
expect bad-reuse-unit 2 "--reuse needs auto, none, or MIN,BLOCK" "$TRAC" good.tra --reuse=4M,2Q
expect bad-reuse-long 2 "--reuse needs auto, none, or MIN,BLOCK" "$TRAC" good.tra \
	--reuse=1111111111111111111111111111111111111111111111111111111111111111111,2
expect reuse-auto 0 "" "$TRAC" good.tra --check --reuse=auto
expect bad-name 2 "C identifier" "$TRAC" good.tra --name 1x
expect object-with-check 2 "cannot be combined" "$TRAC" good.tra -c --check
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

# ---- --emit=tra --after=PASS: the graph between passes ----------------------------
cat >hoist.tra <<'EOF'
size N = 6, K = 5, C = 4
input H[N, K], W[K, C]
Z[i, c] = sum[k](relu(H[i, k]) * W[k, c]) / 2
output Z
EOF
expect after-sema 0 "" "$TRAC" hoist.tra --emit=tra --after=sema
grep -q 'acc = sum\[k\] relu(H\[i, k\]) \* W\[k, c\]' out && grep -q 'acc / 2' out &&
	ok after-sema-as-written || bad after-sema-as-written
expect after-algebra 0 "" "$TRAC" hoist.tra --emit=tra --after=algebra
grep -q 'acc \* 0.5' out && ! grep -q 'Z.h1' out && ok after-algebra-shows || bad after-algebra-shows
expect after-hoist 0 "" "$TRAC" hoist.tra --emit=tra --after=hoist
grep -q 'Z.h1\[i, k\] f32 = relu(H\[i, k\])' out && grep -q 'acc = sum\[k\] Z.h1\[i, k\] \* W\[k, c\]' out &&
	ok after-hoist-shows || bad after-hoist-shows
expect after-dce 0 "" "$TRAC" hoist.tra --emit=tra --after=dce
"$TRAC" hoist.tra --emit=tra >last.out 2>err && cmp -s out last.out && ok after-dce-is-last || bad after-dce-is-last
expect after-other-stages 0 "" "$TRAC" hoist.tra --emit=tra,c --after=sema -o stages
grep -q 'relu(H\[i, k\]) \* W' stages/hoist.tra.txt && grep -q 'cblas_' stages/hoist.c &&
	ok after-tra-file || bad after-tra-file
expect after-unknown 2 "--after=hoisting: no such pass; did you mean 'hoist'\?" "$TRAC" hoist.tra --emit=tra --after=hoisting
expect after-far 2 "the passes are sema, algebra, cse, hoist" "$TRAC" hoist.tra --emit=tra --after=xyzzy
expect after-without-tra 2 "use it with --emit=tra" "$TRAC" hoist.tra --emit=c --after=hoist
expect after-compile 2 "use it with --emit=tra" "$TRAC" hoist.tra --after=hoist

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

"$TRAC" copy.tra --interpret -D N=6 --random --output Y=w6.npy 2>/dev/null
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
expect wrong-dtype 1 "input X: f8.npy: .*f8.*; convert the array with \\.astype\\(np\\.float32\\)$" \
	"$TRAC" copy.tra --interpret --input X=f8.npy --output Y=f.npy
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
# a scalar input takes a one-element (1,) array, what np.save(np.array([x])) writes
expect interp-make-one 0 "" "$TRAC" copy.tra --interpret -D N=1 --random=3 --output Y=one.npy
expect interp-scalar-1 0 "" "$TRAC" good.tra --interpret --random --input alpha=one.npy --output C=c1.npy
expect interp-scalar-2 1 "input alpha: y.npy: shape \\(5,\\) does not match the declared \\(\\) \\(a scalar: shape \\(\\) or \\(1,\\)\\)$" \
	"$TRAC" good.tra --interpret --random --input alpha=y.npy --output C=c2.npy
# two outputs in one file, however spelled: a usage error before anything runs
expect interp-same-file 2 "^trac: error: output A \\('same\\.npy'\\) and output B \\('\\./same\\.npy'\\) name the same file" \
	"$TRAC" two.tra --interpret --random --output A=same.npy --output B=./same.npy
absent interp-same-file-nothing same.npy
expect interp-same-file-dir 2 "output A \\('sd/B\\.npy'\\) and output B \\('sd/B\\.npy'\\) name the same file" \
	"$TRAC" two.tra --interpret --random --output-dir sd --output A=sd/B.npy
absent interp-same-file-dir-not-made sd
expect interp-devnull-shared 0 "" "$TRAC" two.tra --interpret --random --output A=/dev/null --output B=/dev/null
# a failed run removes the directories --output-dir made, and only those
mkdir -p had
expect interp-made-dirs 1 "output A: no/dir/pa\\.npy: cannot create: " \
	"$TRAC" two.tra --interpret --random --output-dir had/new/sub --output A=no/dir/pa.npy
absent interp-made-dirs-removed had/new
[ -d had ] && ok interp-made-dirs-keeps-old || bad interp-made-dirs-keeps-old
expect partial-outputs 1 "output B" "$TRAC" two.tra --interpret --random --output A=pa.npy --output B=no/dir/pb.npy
absent partial-outputs-removed pa.npy
expect failed-run-spares-devnull 1 "output B" "$TRAC" two.tra --interpret --random --output A=/dev/null --output B=no/dir/pb.npy
[ -c /dev/null ] && ok devnull-survives-failure || bad devnull-survives-failure
cp y.npy keep.npy
expect failed-run-keeps-files 1 "output B" "$TRAC" two.tra --interpret --random --output A=keep.npy --output B=no/dir/pb.npy
cmp -s keep.npy y.npy && ok existing-file-unchanged || bad existing-file-unchanged

# ---- compiling ------------------------------------------------------------------
expect compile 0 "" "$TRAC" copy.tra -o copyprog
[ -x copyprog ] && ok compile-executable || bad compile-executable
expect compile-default-name 0 "" "$TRAC" good.tra
[ -x good ] && ok compile-named-after-file || bad compile-named-after-file
expect compile-verbose 0 "" "$TRAC" copy.tra -o v -v -O1 --portable --backend=c
grep -q -- "-O1" err && ! grep -q -- "-march=native" err && ok verbose-shows-command || bad verbose-shows-command
expect emit-c 0 "" "$TRAC" copy.tra -S -o copy.c
grep -q 'int main' copy.c && ok emit-c-main || bad emit-c-main
mkdir -p lib
expect object 0 "" "$TRAC" copy.tra -c -o lib/copy.o
[ -f lib/copy.o ] && [ -f lib/copy.h ] && ok object-and-header || bad object-and-header
expect object-dir-missing 1 "cannot write" "$TRAC" copy.tra -c -o nodir/copy.o
absent object-no-header nodir/copy.h
expect cc-fails 3 "the C compiler failed" "$TRAC" copy.tra -o ccfail --cc false --backend=c
absent cc-fails-no-output ccfail
expect cc-missing 1 "cannot find the C compiler '/nonexistent/cc'" "$TRAC" copy.tra -o ccmiss --cc /nonexistent/cc
absent cc-missing-no-output ccmiss
expect keep-temps 0 "kept the intermediate files" "$TRAC" copy.tra -o kt --keep-temps --backend=c
dir=$(sed -n 's/.*intermediate files in //p' err)
[ -f "$dir/copy.c" ] && ok keep-temps-kept || bad keep-temps-kept
rm -rf "$dir"
# -S shows exactly the C that -o compiles, block tasks or whole-node kernels
for mode in --devices=3 --node-kernels; do
	"$TRAC" copy.tra -o kt $mode --keep-temps --backend=c 2>err
	dir=$(sed -n 's/.*intermediate files in //p' err)
	"$TRAC" copy.tra -S -o shown.c $mode 2>/dev/null
	cmp -s shown.c "$dir/copy.c" && ok "emit-c-is-compiled$mode" || bad "emit-c-is-compiled$mode"
	rm -rf "$dir"
done

# ---- the back ends: c always, llvm where configure found LLVM 14 -------------------
expect backend-unknown 2 "unknown --backend 'fortran'; the back ends are c, llvm, cuda and cuda-sim" \
	"$TRAC" copy.tra --backend=fortran
"$TRAC" --version >version.out 2>&1
grep -q "^back ends: c" version.out && ok version-names-back-ends || bad version-names-back-ends
if grep -q "llvm" version.out && ! grep -q "configure --with-llvm" version.out; then
	grep -q "default llvm" version.out && ok version-default-llvm || bad version-default-llvm
	expect keep-temps-llvm 0 "kept the intermediate files" "$TRAC" copy.tra -o kt --keep-temps --backend=llvm
	dir=$(sed -n 's/.*intermediate files in //p' err)
	[ -f "$dir/copy.o" ] && [ -f "$dir/copy.ll" ] && ok keep-temps-llvm-kept || bad keep-temps-llvm-kept
	# --emit=llvm shows exactly the IR that -o compiles, block tasks or whole-node kernels
	for mode in --devices=3 --node-kernels; do
		"$TRAC" copy.tra -o kt $mode --keep-temps --backend=llvm 2>err
		kept=$(sed -n 's/.*intermediate files in //p' err)
		"$TRAC" copy.tra --emit=llvm -o shown.ll $mode 2>/dev/null
		cmp -s shown.ll "$kept/copy.ll" && ok "emit-llvm-is-compiled$mode" || bad "emit-llvm-is-compiled$mode"
		rm -rf "$kept"
	done
	rm -rf "$dir"
	"$TRAC" copy.tra --emit=llvm-unopt -o unopt.ll 2>/dev/null
	grep -q "^define i32 @main" unopt.ll && grep -q "^define internal void @" unopt.ll &&
		ok emit-llvm-unopt || bad emit-llvm-unopt
	expect verbose-llvm 0 "LLVM: .*copy.o at O3" "$TRAC" copy.tra -o v -v --backend=llvm
	grep -q -- "-o .*copy.out .*copy.o" err && ! grep -q -- " -c " err && ok verbose-llvm-links-only ||
		bad verbose-llvm-links-only
	expect object-llvm 0 "" "$TRAC" copy.tra -c -o lib/copyl.o --backend=llvm
	[ -f lib/copyl.o ] && [ -f lib/copyl.h ] && ok object-llvm-and-header || bad object-llvm-and-header
	expect link-fails-llvm 1 "linking failed" "$TRAC" copy.tra -o lfail --cc false --backend=llvm
	absent link-fails-llvm-no-output lfail
else
	grep -q "default c" version.out && ok version-default-c || bad version-default-c
	expect backend-llvm-missing 2 "built without the LLVM back end" "$TRAC" copy.tra --backend=llvm
	expect emit-llvm-missing 2 "configure --with-llvm" "$TRAC" copy.tra --emit=llvm
	expect emit-llvm-unopt-missing 2 "configure --with-llvm" "$TRAC" copy.tra --emit=llvm-unopt
fi

# ---- the generated program's command line ------------------------------------------
expect prog-help 0 "" ./copyprog --help
expect prog-version 0 "" ./copyprog --version
expect prog-run 0 "" ./copyprog --random=5 --output Y=py.npy
cmp -s py.npy y.npy && ok prog-equals-interpreter || bad prog-equals-interpreter
expect prog-time 0 "^time: runs=3 median_ms=[0-9.]+ min_ms=[0-9.]+ mean_ms=[0-9.]+ max_ms=[0-9.]+$" ./copyprog --random --repeat 3 --time --output Y=pt.npy
expect prog-missing-input 1 "input X" ./copyprog --output Y=pm.npy
absent prog-missing-input-no-file pm.npy
expect prog-wrong-shape 1 "input X: w6.npy: .*shape" ./copyprog --input X=w6.npy --output Y=pw.npy
absent prog-wrong-shape-no-file pw.npy
expect prog-wrong-dtype 1 "input X: f8.npy" ./copyprog --input X=f8.npy --output Y=pd.npy
expect prog-truncated 1 "input X: trunc.npy: .*truncated" ./copyprog --input X=trunc.npy --output Y=pt2.npy
expect prog-garbage 1 "input X: garbage.npy" ./copyprog --input X=garbage.npy --output Y=pg.npy
expect prog-unwritable 1 "output Y" ./copyprog --random --output Y=no/dir/y.npy
absent prog-unwritable-no-file no/dir/y.npy
expect prog-unknown-option 2 "" ./copyprog --frobnicate
expect prog-bad-threads 2 "" ./copyprog --random --threads 0x

# ---- the interpreter and the program word every failure alike --------------------------
# same_words NAME PROG ARGS...: `trac PROG.tra --interpret ARGS` and
# ./PROGprog ARGS fail with the same status and, after "trac:" and
# "PROG:", the same stderr, naming the user's paths, never a staged copy.
same_words() {
	name=$1 prog=$2
	shift 2
	{ "$TRAC" "$prog.tra" --interpret "$@" 2>&1; echo "status $?"; } | sed 's/^trac: //; s/trac --help/PROG --help/' >words.interp
	{ "./${prog}prog" "$@" 2>&1; echo "status $?"; } | sed "s/^$prog: //; s/$prog --help/PROG --help/" >words.prog
	if cmp -s words.interp words.prog && ! grep -q '\.stage[0-9]\|\.tmp' words.prog; then
		ok "$name"
	else
		sed 's/^/  interp: /' words.interp
		sed 's/^/  prog:   /' words.prog
		bad "$name"
	fi
}
expect two-compile 0 "" "$TRAC" two.tra -o twoprog
same_words words-no-dir copy --random --output Y=nodir/y.npy
same_words words-no-dir-in-dir two --random --output-dir wd --output B=nodir/b.npy
absent words-no-dir-in-dir-removed wd
same_words words-same-file two --random --output A=w.npy --output B=./w.npy
same_words words-same-file-dir two --random --output-dir wd --output B=wd/A.npy
same_words words-missing-input copy --output Y=wm.npy
same_words words-bad-dtype copy --input X=f8.npy --output Y=wf.npy
same_words words-output-dir-is-file copy --random --output-dir y.npy/sub
# a write failing part way (a file size limit, as a full disk would); the
# limit is only on the command, so its messages reach the pipe
cat >lim.sh <<'SH'
trap '' XFSZ
ulimit -f 0
exec "$@"
SH
{ sh lim.sh "$TRAC" copy.tra --interpret --random --output Y=wl.npy 2>&1; echo "status $?"; } | sed 's/^trac: //' >words.interp
{ sh lim.sh ./copyprog --random --output Y=wl.npy 2>&1; echo "status $?"; } | sed 's/^copy: //' >words.prog
grep -q '^error: output Y: wl\.npy: write failed: File too large$' words.prog && ok words-short-write || bad words-short-write
cmp -s words.interp words.prog && ok words-short-write-same || bad words-short-write-same
absent words-short-write-nothing wl.npy

# ---- block task programs ------------------------------------------------------------
expect tasks-compile 0 "" "$TRAC" good.tra --devices=2 -o goodtasks
expect tasks-run 0 "" ./goodtasks --random=2 --threads 2 --no-steal --output C=ct.npy
expect tasks-interp 0 "" "$TRAC" good.tra --interpret --random=2 --output C=ci.npy
expect tasks-trace 0 "" ./goodtasks --random=2 --threads 2 --trace tasks.json --stats --output-dir td
grep -q '"worker 2"\|"worker 1"' tasks.json && ok tasks-trace-worker-tracks || bad tasks-trace-worker-tracks
grep -q 'steals' err && ok tasks-stats-workers || bad tasks-stats-workers

# ---- OpenBLAS's kernels --------------------------------------------------------------
# A program whose OpenBLAS fell back to its oldest kernels (Prescott) on
# a CPU with AVX2 sets OPENBLAS_CORETYPE and executes itself again
# (runtime/exec.c). TRART_BLAS_FALLBACK names the core taken for the
# fallback, so that the path runs on any machine: here, the one OpenBLAS
# chooses itself.
blas_line() { sed -n 's/^blas: //p' err; }
expect blas-own 0 "" env -u OPENBLAS_CORETYPE -u TRART_BLAS_FALLBACK ./goodtasks --random=2 --stats --output-dir bo
own=$(blas_line | sed -n 's/^OpenBLAS, \([A-Za-z0-9]*\) kernels.*/\1/p')
case $(blas_line) in *"OpenBLAS chose "*) own=$(blas_line | sed 's/.*OpenBLAS chose \([A-Za-z0-9]*\))$/\1/') ;; esac
flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*://') "
has() { for f; do case $flags in *" $f "*) ;; *) return 1 ;; esac; done; }
if has avx512f avx512vl avx512bw avx512dq; then cpu_core=SkylakeX
elif has avx2 fma; then cpu_core=Haswell
else cpu_core=
fi
if [ -z "$(blas_line)" ]; then
	skip "OpenBLAS's kernels (the BLAS is not OpenBLAS)"
elif [ -z "$cpu_core" ] || [ -z "$own" ]; then
	skip "OpenBLAS's kernels (no AVX2 on this CPU, or no core name)"
else
	# its own choice taken for the fallback: replaced, the run's options kept
	expect blas-replaced 0 "" env -u OPENBLAS_CORETYPE TRART_BLAS_FALLBACK="$own" \
		./goodtasks --random=2 --threads 2 --stats --output-dir brd
	check blas-replaced-line test "$(blas_line)" = \
		"OpenBLAS, $cpu_core kernels (OPENBLAS_CORETYPE set by the program: OpenBLAS chose $own)"
	expect blas-interp 0 "" "$TRAC" good.tra --interpret --random=2 --output-dir bid
	expect blas-replaced-same 0 "" "$NPYCMP" brd bid
	# a variable the user set stays
	expect blas-user-set 0 "" env OPENBLAS_CORETYPE="$own" TRART_BLAS_FALLBACK="$own" \
		./goodtasks --random=2 --stats --output-dir bu
	check blas-user-set-line test "$(blas_line)" = "OpenBLAS, $own kernels"
	# anything but the fallback stays
	expect blas-other 0 "" env -u OPENBLAS_CORETYPE TRART_BLAS_FALLBACK=NoSuchCore \
		./goodtasks --random=2 --stats --output-dir bn
	case $(blas_line) in *"set by the program"*) bad blas-other-line ;; *) ok blas-other-line ;; esac
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
