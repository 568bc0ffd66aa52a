#!/bin/sh
# vectorize.sh: every loop the LLVM back end tags for vectorisation (the
# loops C marks `omp simd`, and the innermost loop of maps) is vectorised
# by O3 in every sample and bench program, as block tasks (the default,
# and --devices=3: other block shapes, split reductions) and as whole-node
# kernels: `trac -v --emit=llvm` reports LLVM's warnings, and a tagged
# loop that stayed scalar is one; an argmax's lanes are vectors carried
# in registers, a padded read is a masked load, a map's short rows
# are vectors without a scalar remainder (masked where an element costs
# 3 operations or more), a map's rows of a few vectors
# reach its vector loop, a row sum of 9 or more terms is not vectorised
# across rows with gathers, and one of 64 is not a scalar chain. SKIP where trac has no LLVM back
# end.
# Then the C back end: with gcc, a map of each element function, in f32
# and f64, is a loop gcc vectorises (-fopt-info-vec-missed names none of
# them).
set -u
: "${TRAC:?}" "${srcdir:?}"
if ! "$TRAC" --backend=llvm --version >/dev/null 2>&1; then
	echo "SKIP: trac has no LLVM back end"
	exit 77
fi
. "$srcdir/tests/testlib.sh"
test_setup
for prog in "$srcdir"/samples/*.tra "$srcdir"/bench/*.tra; do
	name=$(basename "$prog" .tra)
	for flags in "" "--devices=3" "--node-kernels"; do
		# shellcheck disable=SC2086
		if ! "$TRAC" -v --backend=llvm "$prog" $flags --emit=llvm -o out.ll 2>err; then
			bad "$name $flags (compile)"
		elif grep -q 'LLVM warned' err; then
			grep 'LLVM warned' err | sed 's/^/  /'
			bad "$name $flags: a loop tagged for vectorisation stayed scalar"
		else
			ok "$name $flags"
		fi
	done
done

# an argmax's lanes (kplan.c, arg reductions: 64 over the bench's rows
# of 4096 f32) are two vectors that the loop over the groups of lanes
# carries in registers, their values and the groups they were found in
# (LLVM had kept them in memory, or cut them into vectors of 2, 8, 4 and
# 2)
if ! "$TRAC" --backend=llvm "$srcdir/bench/argmax.tra" --emit=llvm -o am.ll 2>err; then
	bad "argmax lanes (compile)"
elif grep -q 'phi <64 x float>' am.ll && grep -q 'phi <64 x i32>' am.ll; then
	ok "argmax lanes carried as vectors"
else
	bad "argmax lanes carried as vectors"
fi

# a padded read (conv1d's 'same' window) loads in a branch, at
# consecutive addresses, which the vectoriser makes a masked load, not a
# gather at clamped positions
if ! "$TRAC" --backend=llvm "$srcdir/bench/conv1d.tra" --emit=llvm -o c1.ll 2>err; then
	bad "padded reads (compile)"
elif grep -q 'llvm.masked.load' c1.ll && ! grep -q 'llvm.masked.gather' c1.ll; then
	ok "padded reads are masked loads"
else
	bad "padded reads are masked loads"
fi

# a map along rows shorter than a vector (llvm_kernels.c, short rows):
# rows of 12 are vectors of 16 with the last 4 lanes masked, rows of 4
# vectors of 4, neither with a scalar exp after them (the scalar
# remainder's floor)
cat >short.tra <<'EOF'
size N = 1000, C = 12, D = 4
input X[N, C], Z[N, D], m[N]
Y[i, c] = exp(X[i, c] - m[i])
W[i, d] = exp(Z[i, d] - m[i])
output Y, W
EOF
if ! "$TRAC" --backend=llvm short.tra --emit=llvm -o short.ll 2>err; then
	bad "short rows (compile)"
elif grep -q 'llvm.masked.store.v16f32' short.ll && grep -q 'llvm.floor.v4f32' short.ll &&
     ! grep -q 'llvm.floor.f32' short.ll; then
	ok "short rows are masked or narrow vectors"
else
	bad "short rows are masked or narrow vectors"
fi

# ... but a cheap map's short rows (an element of fewer than 3
# operations) are left to LLVM's own loop: no masked stores
cat >cheap.tra <<'EOF'
size N = 1000, C = 12
input X[N, C], b[C]
Y[i, c] = relu(X[i, c] + b[c])
output Y
EOF
if ! "$TRAC" --backend=llvm cheap.tra --emit=llvm -o cheap.ll 2>err; then
	bad "cheap short rows (compile)"
elif ! grep -q 'llvm.masked.store' cheap.ll && grep -q 'fadd <[0-9]* x float>' cheap.ll; then
	ok "cheap short rows are not masked"
else
	bad "cheap short rows are not masked"
fi

# a map along rows of a few vectors (llvm_kernels.c, rows of a few
# vectors): a padded copy along rows of 56 (a convolution's windows)
# runs at most 56 elements a pass of its vector loop, so the rows reach
# it (LLVM's own choice was 4 vectors a pass, 64 elements, and every row
# went to the scalar loop)
cat >few.tra <<'EOF'
size N = 64, W = 56
input X[N, W]
Y[i, w:W] = X[i, w - 1, pad=0]
output Y
EOF
if ! "$TRAC" --backend=llvm few.tra --emit=llvm -o few.ll 2>err; then
	bad "rows of a few vectors (compile)"
else
	passes=$(sed -n 's/.*min\.iters\.check = icmp ult i64 %[^,]*, \([0-9]*\).*/\1/p' few.ll)
	big=0
	for k in $passes; do
		[ "$k" -gt 56 ] && big=$k
	done
	if [ -n "$passes" ] && [ "$big" -eq 0 ]; then
		ok "rows of 56 reach the vector loop"
	else
		bad "rows of 56 reach the vector loop (a pass of ${big:-no} elements)"
	fi
fi

# row sums and maxima of 24 and 9 terms in a row group, whose loops LLVM
# unrolls whole (llvm_kernels.c, cg_llvm_rows_scalar): vectorised along
# their terms, not across rows, where every load was a gather
cat >rowsum.tra <<'EOF'
size N = 1000, C = 24, D = 9
input X[N, C], Z[N, D]
s[i] = sum[c](X[i, c])
m[i] = max[c](X[i, c])
t[i] = sum[d](Z[i, d] * Z[i, d])
u[i] = max[d](Z[i, d])
output s, m, t, u
EOF
# rows_without_gathers NAME WHAT: NAME.tra through LLVM, as block tasks
# and as node kernels, has no gather in its IR
rows_without_gathers() {
	for flags in "" "--node-kernels"; do
		# shellcheck disable=SC2086
		if ! "$TRAC" --backend=llvm "$1.tra" $flags --emit=llvm -o "$1.ll" 2>err; then
			bad "$2 ${flags:-as block tasks} (compile)"
		elif grep -q 'llvm.masked.gather' "$1.ll"; then
			bad "$2 ${flags:-as block tasks} are not gathers across rows"
		else
			ok "$2 ${flags:-as block tasks} are not gathers across rows"
		fi
	done
}
rows_without_gathers rowsum "row sums"

# maps along rows of 12 and 24 in a row group (a division by a row's
# value, then the row's maximum), loops LLVM would unroll whole before
# vectorising across rows with a gather per element (llvm_kernels.c,
# cg_llvm_map_rolled): no gathers, as block tasks and as node kernels
cat >rowdiv.tra <<'EOF'
size N = 1000, C = 24, D = 12
input X[N, C], Z[N, D], s[N]
Y[i, c] = X[i, c] / s[i]
m[i] = max[c](Y[i, c])
W[i, d] = Z[i, d] / s[i]
u[i] = max[d](W[i, d])
output Y, m, W, u
EOF
rows_without_gathers rowdiv "row maps"

# a row sum of 64 terms in a row group, a loop LLVM would unroll whole
# before vectorising it (llvm_kernels.c, cg_llvm_sum_rolled): a sum of
# vectors, not a chain of 64 scalar additions
cat >rowsum64.tra <<'EOF'
size N = 1000, C = 64
input X[N, C]
s[i] = sum[c](X[i, c])
m[i] = max[c](X[i, c])
output s, m
EOF
if ! "$TRAC" --backend=llvm rowsum64.tra --emit=llvm -o rowsum64.ll 2>err; then
	bad "row sums of 64 (compile)"
else
	scalar=$(grep -c 'fadd float' rowsum64.ll)
	if grep -q 'fadd <[0-9]* x float>' rowsum64.ll && [ "$scalar" -lt 8 ]; then
		ok "row sums of 64 are vector additions"
	else
		bad "row sums of 64 are vector additions ($scalar scalar additions)"
	fi
fi

# every element function in a map of its own (fuse keeps them apart: row
# functions of one group), both element types
fns="exp log sqrt tanh sigmoid relu abs sin cos erf exp2 log2 expm1 log1p rsqrt sign floor ceil round"
{
	echo "size N = 4096"
	echo "input X[N], Y[N] f64"
	for f in $fns; do
		echo "F_$f[i] = $f(X[i] * 0.5)"
		echo "D_$f[i] = $f(Y[i] * 0.5)"
	done
	sep='output '
	for f in $fns; do printf '%sF_%s, D_%s' "$sep" "$f" "$f"; sep=', '; done
	echo
} >fn.tra
if ! "${CC:-cc}" --version 2>/dev/null | grep -qi 'gcc\|free software'; then
	echo "(the C compiler is not gcc: its vectorisation report is not checked)"
elif ! "$TRAC" --backend=c fn.tra --emit=c -o fn.c 2>err ||
	! "$TRAC" --backend=c fn.tra -Xcc -fopt-info-vec-missed -o fn 2>missed; then
	bad "element functions, C back end (compile)"
else
	scalar=0
	for line in $(sed -n 's/^[^:]*fn\.c:\([0-9]*\):[0-9]*: missed: not vectorized.*/\1/p' missed | sort -u); do
		# the loop's first statement names the function it maps
		body=$(sed -n "$((line + 1))p" fn.c)
		case $body in *"out["*) echo "  scalar: $body"; scalar=$((scalar + 1)) ;; esac
	done
	maps=$(grep -c 'out\[x0\] = ' fn.c)
	if [ "$scalar" -eq 0 ] && [ "$maps" -ge 38 ]; then
		ok "element functions, C back end: $maps maps, all vectorised"
	else
		bad "element functions, C back end: $scalar of $maps maps stayed scalar"
	fi
fi
# the widest vectors: on a CPU with AVX-512, both back ends' maps use
# 512-bit registers (compilers' tuning for Intel's prefers 256 bits;
# codegen/llvm.c and compiler/build.c ask for 512)
if ! grep -qw avx512f /proc/cpuinfo 2>/dev/null || ! command -v objdump >/dev/null 2>&1; then
	echo "(no AVX-512 on this CPU, or no objdump: the vector width is not checked)"
else
	for b in llvm c; do
		if ! "$TRAC" --backend=$b fn.tra -c -o "fn-$b.o" 2>err; then
			bad "512-bit vectors, $b back end (compile)"
		elif objdump -d "fn-$b.o" | grep -q '%zmm'; then
			ok "512-bit vectors, $b back end"
		else
			bad "512-bit vectors, $b back end: no zmm register in its kernels"
		fi
	done
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
