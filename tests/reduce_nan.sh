#!/bin/sh
# reduce_nan.sh: max and min reductions see NaN and infinities in their
# inputs (which --random never draws): every kernel plan of a reduction
# (a SIMD row, a column tile, a blocked column sum, a scalar, a split
# join and its aggregation, a row group) under each back end, as block
# tasks (default, 3 devices, a manual split of the reduced index) and
# as node kernels, gives the interpreter's results: NaN exactly where it
# gives NaN (max and min propagate it, tra(5)), equal elsewhere within
# the tolerance of tests/programs.sh's compare.
set -u
: "${TRAC:?}" "${srcdir:?}"
py=${PYTHON_NUMPY:-}
[ -n "$py" ] || { echo "SKIP: no python3 with numpy"; exit 77; }
. "$srcdir/tests/testlib.sh"
test_setup

cat >nan.tra <<'TRA'
size N = 300, D = 70
input X[N, D], Y[N, D] f64
R[i]    = max[j](X[i, j])
Q[i]    = min[j](X[i, j] * 2)
C[j]    = max[i](X[i, j])
K[j]    = min[i](Y[i, j])
S[j]    = sum[i](X[i, j])
m       = max[i, j](X[i, j])
E[i, j] = exp(X[i, j] - R[i])
Z[i]    = sum[j](E[i, j])
output R, Q, C, K, S, m, Z
TRA
# NaNs (of both signs) and infinities in a few rows and columns, some
# rows and columns all NaN, the rest ordinary values
"$py" - <<'PY' || exit 99
import numpy as np
r = np.random.default_rng(7)
x = r.uniform(-1, 1, (300, 70)).astype(np.float32)
y = r.uniform(-1, 1, (300, 70))
for a in (x, y):
    a[5, 3] = np.nan; a[17, :] = np.nan; a[:, 11] = -np.nan; a[200, 40] = np.inf
    a[201, 41] = -np.inf; a[120:140, 60] = np.nan
np.save("X.npy", x); np.save("Y.npy", y)
PY
inputs="--input X=X.npy --input Y=Y.npy"
# shellcheck disable=SC2086
"$TRAC" nan.tra --interpret $inputs --output-dir want 2>err || { bad "interpret"; exit 1; }

# same GOT WANT: every output has NaN where WANT has, and agrees elsewhere.
same() {
	"$py" - "$1" "$2" <<'PY'
import os, sys
import numpy as np
ok = True
for f in sorted(os.listdir(sys.argv[2])):
    w = np.load(os.path.join(sys.argv[2], f)).astype(np.float64)
    g = np.load(os.path.join(sys.argv[1], f)).astype(np.float64)
    nan_w, nan_g = np.isnan(w), np.isnan(g)
    fin = ~nan_w & ~nan_g & np.isfinite(w)
    tol = 1e-4 * max(np.max(np.abs(w[fin])), 1e-30) if fin.any() else 0
    if (nan_w != nan_g).any() or (g[~nan_w & ~fin] != w[~nan_w & ~fin]).any() or \
       (np.abs(g[fin] - w[fin]) > tol).any():
        print("  %s: %d NaN wanted, %d got, %d differ" % (f, nan_w.sum(), nan_g.sum(),
              int(((nan_w != nan_g) | (~nan_w & (g != w) & ~fin)).sum())))
        ok = False
sys.exit(0 if ok else 1)
PY
}

backends="c"
"$TRAC" --version | grep -q "back ends:.*llvm" && backends="c llvm"
for be in $backends; do
	for flags in "" "--node-kernels" "--devices=3" "--devices=2 --partition=C:i=3,j=2" "--devices=2 --partition=m:i=2,j=3"; do
		name="--backend=$be $flags"
		# shellcheck disable=SC2086
		if "$TRAC" --backend=$be $flags nan.tra -o prog 2>err && ./prog $inputs --threads 2 --output-dir got 2>err &&
		   same got want; then
			ok "$name"
		else
			bad "$name"
		fi
		rm -rf got prog
	done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
