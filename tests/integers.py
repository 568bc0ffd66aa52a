"""integers.py TRAC: integer tensors (tra(5), TYPES) against NumPy code
written here: i32 and i64 arithmetic that wraps, floor division (by zero
0, MIN / -1 wrapping), abs, sign, max, min, select, integer sums,
products, max and min, argmax and argmin (ties: the first index; NaN:
the first NaN, as NumPy), index values, conversions between every pair of
types (floats to integers toward zero, NaN 0, saturating; integers to
i32 wrapping), and .npy '<i4'/'<i8' files in and out. Each case runs in
the interpreter (i64 values there below 2^53: tra(5), NUMERICS) and
compiled by each back end trac has, as block tasks on 3 threads and as
whole-node kernels; all must equal NumPy exactly (floats: within 1e-6
relative). Prints PASS or FAIL per case and run, exits 1 on any failure."""
import os
import subprocess
import sys
import tempfile

import numpy as np

TRAC = sys.argv[1]
RNG = np.random.default_rng(7)

I32 = np.array([0, 1, -1, 7, -7, 13, -13, 2**31 - 1, -2**31, 2**31 - 2, -2**31 + 1, 100], np.int32)
D32 = np.array([3, -3, 2, 2, -2, 0, 5, -1, -1, 1, 3, -7], np.int32)
I64 = np.array([0, 1, -1, 7, -7, 2**40 + 3, -2**40, 2**62, -2**62, 9, -9, 2**52], np.int64)
D64 = np.array([3, -3, 2, -2, 2, 0, 3, -1, 5, -4, 4, 7], np.int64)
X = np.array([0.5, -0.5, 1.99, -1.99, 3e9, -3e9, 1e19, -1e19, np.nan, 2.5, -2.5, 7.0], np.float32)
M = RNG.integers(-50, 50, size=(5, 7)).astype(np.int32)
# ties (the first wins), NaN (the first NaN wins, as NumPy), -inf, a constant row
S = np.array([[1, 3, 3, 0, 2, -1], [np.nan, 1, np.nan, 5, 0, 2], [-1, -1, -1, -1, -1, -1],
              [0, 2, np.nan, 9, 9, -np.inf], [-np.inf, -np.inf, 4, 4, 1, 1]], np.float32)
T = np.array([[5, 1, 5, 0, 1, 0], [2, 2, 2, 2, 2, 2], [-3, 7, 7, -3, 0, 1],
              [0, 0, 0, 0, 0, 9], [9, 0, 0, 0, 0, 0]], np.int32)


def planted(cols, lanes):
    """Ten rows of cols terms for an argmax in lanes (kplan.c, arg
    reductions: lane l holds positions l, l + lanes, ...; the terms after
    the last whole group of lanes follow in order), each row with one
    thing planted, the first position of its best value said beside."""
    tail = cols - cols % lanes
    a = RNG.integers(-20, 20, size=(10, cols)).astype(np.float32)
    a[0, [37, tail - lanes + 9, tail + 2]] = 50    # ties in two lanes and the tail: 37
    a[1, [tail - 50, 30]] = np.nan                 # two NaNs: 30
    a[2, tail + 1] = np.nan                        # a NaN in the tail only
    a[3, :] = 4                                    # constant: position 0
    a[4, cols - 1] = 60                            # the best in the tail only
    a[5, :] = -np.inf                              # all -inf: position 0
    a[6, [0, lanes, 1]] = 70                       # one lane twice, then another: 0
    a[7, [2 * lanes, lanes + 1]] = 80              # lane 0 later than lane 1: lanes + 1
    a[8, [2 * lanes + 6, lanes + lanes // 2 + 1]] = np.nan  # NaNs in two lanes: the 2nd
    a[9, [12, tail + 3]] = -90                     # argmin: a lane, then the tail: 12
    return a


# long rows for argmax's lanes: 16 lanes below 1024 terms, here 203 =
# 12 * 16 + 11
L = planted(203, 16)
LI = RNG.integers(-5, 5, size=(10, 203)).astype(np.int32)
LI[:, 100] = 9
LI[:, 150] = 9                     # ties: 100
LC = RNG.integers(-20, 20, size=(130, 5)).astype(np.float32)
LC[[64, 3], 1] = 40                # a column's ties: 3
LC[[77, 120], 2] = np.nan          # a column's NaNs: 77

# rows of 1024 terms and more run in more lanes (kplan.c,
# kplan_arg_lanes: 32 for f32 and i32, 16 for f64 and i64), here 1100 =
# 34 * 32 + 12 terms; 64 lanes from 2048 terms (4-byte types), here 2100
# = 32 * 64 + 52
G = planted(1100, 32)
H = planted(2100, 64)
GI = RNG.integers(-5, 5, size=(10, 1100)).astype(np.int32)
GI[:, 500] = 9
GI[:, 17] = 9                      # ties: 17
GI[3, 1097] = 11                   # the tail: 1097

# random ties and NaNs at random lengths around the lanes' edges: values
# in -2..2 (each row ties many times), a NaN in one element of 40
def tie_heavy(shape, nan=True):
    a = RNG.integers(-2, 3, size=shape).astype(np.float32)
    if nan:
        a[RNG.random(shape) < 1 / 40] = np.nan
    return a


P1, P2, P3, P4 = tie_heavy((9, 64)), tie_heavy((9, 97)), tie_heavy((9, 300), nan=False), tie_heavy((161, 4))
Q1, Q2, Q3 = tie_heavy((5, 1024)), tie_heavy((5, 1055)), tie_heavy((5, 2079), nan=False)


def wrap32(v):
    return np.asarray(v, dtype=np.int64).astype(np.int32)


def floordiv(a, b):
    """NumPy's // with its answers where it warns: x // 0 = 0, MIN // -1 = MIN."""
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    with np.errstate(all="ignore"):
        q = np.where(b64 == 0, 0, a64 // np.where(b64 == 0, 1, b64))
    return q


def sat(x, dtype):
    info = np.iinfo(dtype)
    x = np.asarray(x, np.float64)
    out = np.where(np.isnan(x), 0, np.trunc(np.clip(np.nan_to_num(x), info.min, info.max)))
    # the i64 limits are not doubles: 2^63 saturates to the maximum
    return np.array([info.max if v >= 2.0**63 else info.min if v <= -2.0**63 else int(v) for v in out], dtype)


CASES = [
    ("i32-arithmetic", """
size N = 12
input a[N] i32, b[N] i32
s[i] = a[i] + b[i]
d[i] = a[i] - b[i]
p[i] = a[i] * b[i] * 3
q[i] = a[i] / b[i]
n[i] = -a[i]
ab[i] = abs(a[i])
sg[i] = sign(a[i]) + relu(b[i])
mx[i] = max(a[i], b[i]) - min(a[i], b[i])
sel[i] = select(a[i] < b[i], a[i], 2 * b[i])
ix[i] = a[i] / 2 + i
output s, d, p, q, n, ab, sg, mx, sel, ix
""", {"a": I32, "b": D32}, lambda a, b: {
        "s": wrap32(a.astype(np.int64) + b), "d": wrap32(a.astype(np.int64) - b),
        "p": wrap32(a.astype(np.int64) * b * 3 & 0xFFFFFFFF),
        "q": wrap32(floordiv(a, b)), "n": wrap32(-a.astype(np.int64)),
        "ab": wrap32(np.abs(a.astype(np.int64))),
        "sg": wrap32(np.sign(a) + np.maximum(b, 0)),
        "mx": wrap32(np.maximum(a, b).astype(np.int64) - np.minimum(a, b)),
        "sel": wrap32(np.where(a < b, a.astype(np.int64), 2 * b.astype(np.int64))),
        "ix": wrap32(floordiv(a, np.full_like(a, 2)) + np.arange(12))}),
    ("i64-arithmetic", """
size N = 12
input a[N] i64, b[N] i64
s[i] = a[i] + b[i]
p[i] = a[i] * b[i]
q[i] = a[i] / b[i]
t = sum[i](a[i])
m = max[i](a[i] * b[i])
output s, p, q, t, m
""", {"a": I64, "b": D64}, lambda a, b: {
        "s": a + b, "p": a * b, "q": floordiv(a, b), "t": np.array(a.sum()),
        "m": np.array((a * b).max())}),
    ("i32-reductions", """
size R = 5, C = 7
input M[R, C] i32
rs[i] = sum[j](M[i, j])
cp[j] = prod[i](M[i, j])
mx[i] = max[j](M[i, j])
mn[j] = min[i](M[i, j])
tot = sum[i, j](M[i, j] * M[i, j])
output rs, cp, mx, mn, tot
""", {"M": M}, lambda M: {
        "rs": M.sum(axis=1, dtype=np.int32), "cp": wrap32(np.prod(M.astype(np.int64), axis=0) & 0xFFFFFFFF),
        "mx": M.max(axis=1), "mn": M.min(axis=0), "tot": np.array((M.astype(np.int64) ** 2).sum(), np.int32)}),
    ("conversions", """
size N = 12
input x[N], a[N] i32, w[N] i64
ti[i] = i32(x[i])
tl[i] = i64(x[i])
fa[i] = f64(a[i]) / 4
fw[i] = f32(w[i])
nw[i] = i32(w[i])
lw[i] = i64(a[i]) * 4294967296
mix[i] = x[i] * f32(a[i] / 3)
ones[i:N] = f64(i) + 0.5
output ti, tl, fa, fw, nw, lw, mix, ones
""", {"x": X, "a": I32, "w": I64}, lambda x, a, w: {
        "ti": sat(x, np.int32), "tl": sat(x, np.int64), "fa": a.astype(np.float64) / 4,
        "fw": w.astype(np.float32), "nw": w.astype(np.int32),
        "lw": a.astype(np.int64) * 4294967296,
        "mix": x * floordiv(a, np.full_like(a, 3)).astype(np.float32),
        "ones": np.arange(12) + 0.5}),
    ("argmax-argmin", """
size R = 5, C = 6
input S[R, C], T[R, C] i32
am[i] = argmax[j](S[i, j])
an[i] = argmin[j](S[i, j])
cm[j] = argmax[i](S[i, j] * 2)
ti[i] = argmin[j](T[i, j])
tj[j] = argmax[i](T[i, j] - i)
lab[i] = f32(argmax[j](T[i, j])) + S[i, 0]
hits = sum[i](select(argmax[j](S[i, j]) == argmax[j](T[i, j]), 1, 0))
output am, an, cm, ti, tj, lab, hits
""", {"S": S, "T": T}, lambda S, T: {
        "am": np.argmax(S, axis=1), "an": np.argmin(S, axis=1), "cm": np.argmax(S * 2, axis=0),
        "ti": np.argmin(T, axis=1), "tj": np.argmax(T - np.arange(5)[:, None], axis=0),
        "lab": np.argmax(T, axis=1).astype(np.float32) + S[:, 0],
        "hits": np.array(np.sum(np.argmax(S, axis=1) == np.argmax(T, axis=1)), np.int64)}),
    ("argmax-lanes", """
size R = 10, C = 203, H = 130, W = 5
input L[R, C], LI[R, C] i32, LC[H, W]
am[i] = argmax[j](L[i, j])
an[i] = argmin[j](L[i, j])
ad[i] = argmax[j](f64(L[i, j]) * 2)
ai[i] = argmax[j](LI[i, j])
ac[j] = argmax[i](LC[i, j])
al[j] = argmin[i](LC[i, j])
output am, an, ad, ai, ac, al
""", {"L": L, "LI": LI, "LC": LC}, lambda L, LI, LC: {
        "am": np.argmax(L, axis=1), "an": np.argmin(L, axis=1),
        "ad": np.argmax(L.astype(np.float64) * 2, axis=1), "ai": np.argmax(LI, axis=1),
        "ac": np.argmax(LC, axis=0), "al": np.argmin(LC, axis=0)}),
    ("argmax-long-lanes", """
size R = 10, C = 1100, E = 2100
input G[R, C], GI[R, C] i32, H[R, E]
am[i] = argmax[j](G[i, j])
an[i] = argmin[j](G[i, j])
ad[i] = argmax[j](f64(G[i, j]) * 2)
ai[i] = argmax[j](GI[i, j])
al[i] = argmin[j](i64(GI[i, j]) * -3)
hm[i] = argmax[j](H[i, j])
hn[i] = argmin[j](H[i, j])
output am, an, ad, ai, al, hm, hn
""", {"G": G, "GI": GI, "H": H}, lambda G, GI, H: {
        "am": np.argmax(G, axis=1), "an": np.argmin(G, axis=1),
        "ad": np.argmax(G.astype(np.float64) * 2, axis=1), "ai": np.argmax(GI, axis=1),
        "al": np.argmin(GI.astype(np.int64) * -3, axis=1),
        "hm": np.argmax(H, axis=1), "hn": np.argmin(H, axis=1)}),
    ("argmax-long-ties", """
size A = 5, B = 1024, C = 1055, D = 2079
input Q1[A, B], Q2[A, C], Q3[A, D]
a1[i] = argmax[j](Q1[i, j])
n1[i] = argmin[j](Q1[i, j])
a2[i] = argmax[j](Q2[i, j])
n2[i] = argmin[j](f64(Q2[i, j]))
a3[i] = argmax[j](Q3[i, j])
n3[i] = argmin[j](-Q3[i, j])
output a1, n1, a2, n2, a3, n3
""", {"Q1": Q1, "Q2": Q2, "Q3": Q3}, lambda Q1, Q2, Q3: {
        "a1": np.argmax(Q1, axis=1), "n1": np.argmin(Q1, axis=1), "a2": np.argmax(Q2, axis=1),
        "n2": np.argmin(Q2.astype(np.float64), axis=1), "a3": np.argmax(Q3, axis=1),
        "n3": np.argmin(-Q3, axis=1)}),
    ("argmax-ties", """
size A = 9, B = 64, C = 97, D = 300, E = 161, F = 4
input P1[A, B], P2[A, C], P3[A, D], P4[E, F]
a1[i] = argmax[j](P1[i, j])
n1[i] = argmin[j](P1[i, j])
a2[i] = argmax[j](P2[i, j])
n2[i] = argmin[j](P2[i, j])
a3[i] = argmax[j](P3[i, j])
n3[i] = argmin[j](-P3[i, j])
a4[j] = argmax[i](P4[i, j])
n4[j] = argmin[i](P4[i, j])
output a1, n1, a2, n2, a3, n3, a4, n4
""", {"P1": P1, "P2": P2, "P3": P3, "P4": P4}, lambda P1, P2, P3, P4: {
        "a1": np.argmax(P1, axis=1), "n1": np.argmin(P1, axis=1), "a2": np.argmax(P2, axis=1),
        "n2": np.argmin(P2, axis=1), "a3": np.argmax(P3, axis=1), "n3": np.argmin(-P3, axis=1),
        "a4": np.argmax(P4, axis=0), "n4": np.argmin(P4, axis=0)}),
]


def run(tmp, name, prog, inputs, want, how):
    """Runs the case one way (how: 'interp', or (flags) compiled); returns None or why."""
    path = os.path.join(tmp, name + ".tra")
    with open(path, "w") as f:
        f.write(prog)
    args = []
    for k, v in inputs.items():
        np.save(os.path.join(tmp, k + ".npy"), v)
        args += ["--input", "%s=%s" % (k, os.path.join(tmp, k + ".npy"))]
    out = os.path.join(tmp, "out-" + name)
    if how == "interp":
        r = subprocess.run([TRAC, path, "--interpret", "--output-dir", out] + args, capture_output=True, text=True)
    else:
        exe = os.path.join(tmp, name)
        r = subprocess.run([TRAC, path, "-o", exe] + list(how), capture_output=True, text=True)
        if r.returncode == 0:
            r = subprocess.run([exe, "--threads", "3", "--output-dir", out] + args, capture_output=True, text=True)
    if r.returncode != 0:
        return "failed: " + r.stderr.strip()
    for k, w in want.items():
        got = np.load(os.path.join(out, k + ".npy"))
        w = np.asarray(w)
        if got.shape != w.shape:
            return "%s: shape %s, want %s" % (k, got.shape, w.shape)
        if got.dtype.kind == "i":
            if how == "interp" and any(v.dtype == np.int64 and np.any(np.abs(v) >= 2**53)
                                       for v in inputs.values()):
                continue  # the interpreter holds integers in doubles: exact below 2^53
            if got.dtype != w.dtype and got.dtype.kind != w.dtype.kind:
                return "%s: dtype %s, want %s" % (k, got.dtype, w.dtype)
            if not np.array_equal(got, w.astype(got.dtype)):
                return "%s: got %s, want %s" % (k, got, w.astype(got.dtype))
        elif not np.allclose(got, w, rtol=1e-6, atol=0, equal_nan=True):
            return "%s: got %s, want %s" % (k, got, w)
    return None


def backends():
    r = subprocess.run([TRAC, "--version"], capture_output=True, text=True)
    return ["c", "llvm"] if "llvm" in r.stdout.lower() else ["c"]


def arg_edges():
    """argmax and argmin of tie-heavy rows (NaNs in the f32 ones) at every
    length around the lanes' thresholds and groups (kplan.c,
    kplan_arg_lanes: 16 lanes from 64 terms, 32 from 1024 and 64 from
    2048 for 4-byte types, 16 for 8-byte ones), in f32, f64, i32 and i64:
    one case, an input per length."""
    lengths = [63, 64, 65, 79, 127, 1023, 1024, 1025, 1055, 1089, 2047, 2048, 2049, 2111, 2175]
    sizes, decls, stmts, outs, inputs, refs = [], [], [], [], {}, {}
    for n, c in enumerate(lengths):
        name = "E%d" % n
        sizes.append("C%d = %d" % (n, c))
        decls.append("%s[A, C%d]" % (name, n))
        inputs[name] = tie_heavy((4, c))
        ints = "EI%d" % n
        decls.append("%s[A, C%d] i32" % (ints, n))
        inputs[ints] = RNG.integers(-2, 3, size=(4, c)).astype(np.int32)
        for out, agg, expr, ref in [
                ("m%d" % n, "argmax", "%s[i, j]" % name, lambda d, a=name: np.argmax(d[a], axis=1)),
                ("n%d" % n, "argmin", "f64(%s[i, j])" % name,
                 lambda d, a=name: np.argmin(d[a].astype(np.float64), axis=1)),
                ("k%d" % n, "argmax", "%s[i, j]" % ints, lambda d, a=ints: np.argmax(d[a], axis=1)),
                ("l%d" % n, "argmin", "i64(%s[i, j])" % ints,
                 lambda d, a=ints: np.argmin(d[a].astype(np.int64), axis=1))]:
            stmts.append("%s[i] = %s[j](%s)" % (out, agg, expr))
            outs.append(out)
            refs[out] = ref
    prog = "size A = 4, %s\ninput %s\n%s\noutput %s\n" % (", ".join(sizes), ", ".join(decls),
                                                           "\n".join(stmts), ", ".join(outs))
    names = list(inputs)
    return ("argmax-edges", prog, inputs,
            lambda *vals: {o: r(dict(zip(names, vals))) for o, r in refs.items()})


CASES.append(arg_edges())


def main():
    fails = total = 0
    hows = ["interp"]
    for b in backends():
        hows += [("--backend=" + b,), ("--backend=" + b, "--node-kernels"), ("--backend=" + b, "--devices=3")]
    with tempfile.TemporaryDirectory() as tmp:
        for name, prog, inputs, ref in CASES:
            want = ref(*inputs.values())
            for how in hows:
                why = run(tmp, name, prog, inputs, want, how)
                label = how if how == "interp" else " ".join(how)
                print(("FAIL %s (%s): %s" % (name, label, why)) if why else "PASS %s (%s)" % (name, label))
                fails += why is not None
                total += 1
    print("%d passed, %d failed" % (total - fails, fails))
    sys.exit(1 if fails else 0)


main()
