#!/bin/sh
# npycmp.sh: tests/npycmp, the C compare the tests use, gives the verdict
# of its NumPy definition (tests/programs.sh's compare_numpy) on 400
# random cases: every dtype, ranks 0 to 3 with empty arrays, got equal to
# want or off by a relative error on either side of each tolerance, NaN
# and inf in either, another dtype or shape (() against (1,) too), a
# missing, extra or corrupt file, several GOT directories at once. The
# generator states the expected verdict with compare_numpy's own
# formula; compare_numpy itself runs on 15 of the cases, to hold the
# generator to it.
# Environment: NPYCMP, srcdir, PYTHON_NUMPY (SKIP without it).
set -u
: "${NPYCMP:?}" "${srcdir:?}"
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy to write the cases"
	exit 77
fi
. "$srcdir/tests/testlib.sh"
test_setup
. "$srcdir/tests/programs.sh"

"$PYTHON_NUMPY" - <<'PY' || { echo "FAIL: the case generator"; exit 1; }
import os, warnings
import numpy as np

warnings.simplefilter("ignore")  # the NaN and inf cases' arithmetic
rng = np.random.default_rng(7)
dtypes = [np.float32, np.float64, np.int32, np.int64]

def verdict(want_dir, got_dirs):
    # compare_numpy's formula (tests/programs.sh), in this process
    for got_dir in got_dirs:
        for f in sorted(os.listdir(want_dir)):
            try:
                want = np.load(os.path.join(want_dir, f))
                got = np.load(os.path.join(got_dir, f))
            except Exception:
                return 1
            tol = 1e-4 if want.dtype == np.float32 else 1e-10
            if got.dtype != want.dtype or got.shape != want.shape:
                return 1
            w, g = want.astype(np.float64), got.astype(np.float64)
            err = np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-30) if w.size else 0.0
            if not err <= tol:
                return 1
    return 0

def array(dt):
    shape = tuple(int(rng.integers(0 if rng.random() < 0.1 else 1, 5)) for _ in range(int(rng.integers(0, 4))))
    if np.issubdtype(dt, np.integer):
        return rng.integers(-50, 50, size=shape).astype(dt)
    scale = 10.0 ** rng.integers(-3, 4)
    a = (rng.standard_normal(shape) * scale).astype(dt)
    if rng.random() < 0.05:
        a = np.zeros(shape, dt)
    return a

def perturb(w):
    g = w.copy()
    kind = rng.integers(0, 12)
    if g.size == 0 or kind == 0:
        return g
    flat = g.reshape(-1)
    i = int(rng.integers(0, flat.size))
    big = float(np.max(np.abs(w.astype(np.float64)))) or 1e-30
    if np.issubdtype(g.dtype, np.integer):
        flat[i] += 1 if kind < 6 else 0
        return g
    if kind <= 6:
        rel = [1e-12, 1e-9, 5e-5, 9e-5, 2e-4, 1e-2][kind - 1]
        flat[i] = flat[i] + g.dtype.type(rel * big)
    elif kind == 7:
        flat[i] = np.nan
    elif kind == 8:
        flat[i] = np.inf
    elif kind == 9:
        w.reshape(-1)[i] = np.nan
        flat[i] = np.nan
    elif kind == 10:
        w.reshape(-1)[i] = np.inf
        flat[i] = np.inf
    else:
        flat[i] = -flat[i]
    return g

with open("cases", "w") as out:
    for c in range(400):
        d = "c%d" % c
        os.makedirs(d + "/want")
        ngot = 1 if rng.random() < 0.8 else 2
        gots = ["%s/got%d" % (d, k) for k in range(ngot)]
        for gd in gots:
            os.makedirs(gd)
        for f in range(int(rng.integers(0, 4))):
            name = "t%d.npy" % f
            dt = dtypes[int(rng.integers(0, 4))]
            w = array(dt)
            for gd in gots:
                g = perturb(w)
                odd = rng.random()
                path = os.path.join(gd, name)
                if odd < 0.03:
                    continue                       # missing
                elif odd < 0.06:
                    g = g.astype(dtypes[(dtypes.index(dt) + 1) % 4])
                elif odd < 0.09:
                    g = g.reshape((1,) + g.shape) if g.ndim < 3 else g.reshape(-1)
                elif odd < 0.11:
                    with open(path, "wb") as fh:
                        fh.write(b"\x93NUMPY\x01\x00garbage")
                    continue
                elif odd < 0.13:
                    np.save(os.path.join(gd, "extra.npy"), w)
                np.save(path, g)
            if w.ndim == 0 and rng.random() < 0.5:
                # a scalar written as (1,) is another shape to NumPy
                np.save(os.path.join(gots[0], name), w.reshape(1))
            np.save(os.path.join(d, "want", name), w)
        out.write("%s %d %s\n" % (d, verdict(d + "/want", gots), " ".join(gots)))
PY

# npycmp against the generator's verdict, and compare_numpy on 15 cases
n=0
while read -r dir want g1 g2; do
	n=$((n + 1))
	# shellcheck disable=SC2086 # g2 is empty or one directory
	"$NPYCMP" "$g1" "$dir/want" $g2 >out 2>&1
	got=$?
	[ "$got" -gt 1 ] && got=2
	if [ "$got" = "$want" ]; then
		ok "$dir: npycmp says $got"
	else
		bad "$dir: npycmp says $got, NumPy $want: $(head -3 out)"
	fi
	if [ $((n % 27)) = 1 ]; then
		# shellcheck disable=SC2086
		compare_numpy "$g1" "$dir/want" $g2 >/dev/null 2>&1
		py=$?
		[ "$py" -gt 1 ] && py=1
		[ "$py" = "$want" ] && ok "$dir: compare_numpy says $py" ||
			bad "$dir: compare_numpy says $py, the generator $want"
	fi
done <cases

# what a mismatch prints, and usage
"$NPYCMP" c0 >out 2>&1
[ $? = 2 ] && grep -q '^usage: npycmp' out && ok "usage: status 2" || bad "usage: $(cat out)"
"$NPYCMP" c0/got0 nowhere >out 2>&1
[ $? = 1 ] && grep -q 'nowhere: cannot read the directory' out && ok "no WANT directory" ||
	bad "no WANT directory: $(cat out)"
mkdir -p m/want m/got
"$PYTHON_NUMPY" -c "import numpy as np; np.save('m/want/y.npy', np.ones((5, 3), np.float32)); a = np.ones((5, 3), np.float32); a[2, 1] = 1.5; np.save('m/got/y.npy', a)"
"$NPYCMP" m/got m/want >out 2>&1
grep -q '^  m/got/y.npy: dtype float32/float32 shape (5, 3)/(5, 3) relative error 0.5$' out &&
	ok "a mismatch names the file, dtypes, shapes and error" || bad "mismatch message: $(cat out)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
