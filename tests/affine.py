"""affine.py TRAC: index arithmetic (tra(5), INDEX ARITHMETIC) through the
reference interpreter, against NumPy code written here independently of
trac: convolutions ('valid', 'same' with zero padding, strided, dilated),
max pooling with -inf padding, 1-D moving sums, finite differences,
reversal, every other element, the thirds of a fused QKV weight, RoPE's
half split with sin and cos, the concatenation of three tensors,
constant subscripts, and gathers (an embedding lookup, the logits at
integer labels in a cross-entropy, a padded gather, and an index out of
range: exit 1 naming it, no output). Each case is one .tra program; its inputs are random
.npy files, its outputs are compared in double precision (f64 programs,
1e-12 relative) or single (f32, 1e-5). Then COUNT (default 150) random
programs of one affine element (random coefficients, offsets, ranges,
padding, sum or max), whose values loops written here compute, and whose
reads outside the tensor trac must reject; every third is also compiled.
Prints PASS or FAIL per case and exits 1 on any failure.

usage: affine.py TRAC [COUNT]"""
import os
import subprocess
import sys
import tempfile

import numpy as np

TRAC = sys.argv[1]
RNG = np.random.default_rng(11)


def conv_ref(x, w, stride=1, dilation=1, pad=0):
    """Cross-correlation over NCHW x and OIHW w, by explicit loops over
    the window: y[n,o,h,w] = sum x[n,c,h*s + r*d - pad, w*s + q*d - pad] w[o,c,r,q]."""
    n, c, hh, ww = x.shape
    o, _, kr, kq = w.shape
    xp = np.zeros((n, c, hh + 2 * pad, ww + 2 * pad))
    xp[:, :, pad:pad + hh, pad:pad + ww] = x
    ho = (hh + 2 * pad - dilation * (kr - 1) - 1) // stride + 1
    wo = (ww + 2 * pad - dilation * (kq - 1) - 1) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for r in range(kr):
        for q in range(kq):
            win = xp[:, :, r * dilation:r * dilation + stride * (ho - 1) + 1:stride,
                     q * dilation:q * dilation + stride * (wo - 1) + 1:stride]
            y += np.einsum("nchw,oc->nohw", win, w[:, :, r, q])
    return y


def maxpool_ref(x, k, stride, pad):
    n, c, hh, ww = x.shape
    xp = np.full((n, c, hh + 2 * pad, ww + 2 * pad), -np.inf)
    xp[:, :, pad:pad + hh, pad:pad + ww] = x
    ho = (hh + 2 * pad - k) // stride + 1
    wo = (ww + 2 * pad - k) // stride + 1
    y = np.full((n, c, ho, wo), -np.inf)
    for r in range(k):
        for q in range(k):
            y = np.maximum(y, xp[:, :, r:r + stride * (ho - 1) + 1:stride, q:q + stride * (wo - 1) + 1:stride])
    return y


def rope_ref(x, base=10000.0):
    t, d = x.shape
    h = d // 2
    theta = np.arange(t)[:, None] * base ** (-2.0 * np.arange(h)[None, :] / d)
    a, b = x[:, :h], x[:, h:]
    return np.concatenate([a * np.cos(theta) - b * np.sin(theta), b * np.cos(theta) + a * np.sin(theta)], axis=1)


X4 = RNG.standard_normal((2, 3, 9, 8))
K3 = RNG.standard_normal((4, 3, 3, 3))
V1 = RNG.standard_normal(13)
QKV_X = RNG.standard_normal((5, 6))
QKV_W = RNG.standard_normal((6, 18))
ROPE_X = RNG.standard_normal((7, 8))
CAT = [RNG.standard_normal((3, 2)), RNG.standard_normal((3, 4)), RNG.standard_normal((3, 1))]
EMB = RNG.standard_normal((11, 5))
TOK = RNG.integers(0, 11, size=(2, 6)).astype(np.int32)
LOGITS = RNG.standard_normal((6, 11))
LABELS = RNG.integers(0, 11, size=6).astype(np.int64)
SHIFT = np.array([0, 3, -1, 11, 10, 2], np.int64)  # two outside [0, 11): padded

CASES = [
    ("conv-valid", """
size N = 2, C = 3, H = 9, W = 8, O = 4
input X[N, C, H, W] f64, K[O, C, 3, 3] f64
Y[n, o, h, w] = sum[c, r, s](K[o, c, r, s] * X[n, c, h + r, w + s])
output Y
""", {"X": X4, "K": K3}, {"Y": conv_ref(X4, K3)}),
    ("conv-same", """
size N = 2, C = 3, H = 9, W = 8, O = 4
input X[N, C, H, W] f64, K[O, C, 3, 3] f64
Y[n, o, h:H, w:W] = sum[c, r, s](K[o, c, r, s] * X[n, c, h + r - 1, w + s - 1, pad=0])
output Y
""", {"X": X4, "K": K3}, {"Y": conv_ref(X4, K3, pad=1)}),
    ("conv-strided", """
size N = 2, C = 3, H = 9, W = 8, O = 4
input X[N, C, H, W] f64, K[O, C, 3, 3] f64
Y[n, o, h, w] = sum[c, r, s](K[o, c, r, s] * X[n, c, 2 * h + r, 2 * w + s])
output Y
""", {"X": X4, "K": K3}, {"Y": conv_ref(X4, K3, stride=2)}),
    ("conv-dilated", """
size N = 2, C = 3, H = 9, W = 8, O = 4
input X[N, C, H, W] f64, K[O, C, 3, 3] f64
Y[n, o, h, w] = sum[c, r, s](K[o, c, r, s] * X[n, c, h + 2 * r, w + 2 * s])
output Y
""", {"X": X4, "K": K3}, {"Y": conv_ref(X4, K3, dilation=2)}),
    ("conv-strided-same-f32", """
size N = 2, C = 3, H = 9, W = 8, O = 4
input X[N, C, H, W], K[O, C, 3, 3]
Y[n, o, h:(H + 1) / 2, w:W / 2] = sum[c, r, s](K[o, c, r, s] * X[n, c, 2 * h + r - 1, 2 * w + s - 1, pad=0])
output Y
""", {"X": X4.astype(np.float32), "K": K3.astype(np.float32)}, {"Y": conv_ref(X4, K3, stride=2, pad=1)}),
    ("maxpool", """
size N = 2, C = 3, H = 9, W = 8
input X[N, C, H, W] f64
P[n, c, h, w] = max[r:2, s:2](X[n, c, 2 * h + r, 2 * w + s])
Q[n, c, h:H, w:W] = max[r:3, s:3](X[n, c, h + r - 1, w + s - 1, pad=-inf])
output P, Q
""", {"X": X4}, {"P": maxpool_ref(X4, 2, 2, 0), "Q": maxpool_ref(X4, 3, 1, 1)}),
    ("moving-sums", """
size N = 13
input x[N] f64
m[i] = sum[r:4](x[i + r])
c[i:N] = sum[r:4](x[i - r, pad=0])
d[i] = x[i + 1] - x[i]
rev[i] = x[N - 1 - i]
even[i] = x[2 * i]
ends = x[0] + x[N - 1]
output m, c, d, rev, even, ends
""", {"x": V1}, {
        "m": np.convolve(V1, np.ones(4), "valid"),
        "c": np.convolve(V1, np.ones(4))[:13],
        "d": np.diff(V1),
        "rev": V1[::-1],
        "even": V1[::2],
        "ends": np.array(V1[0] + V1[-1]),
    }),
    ("fused-qkv", """
size T = 5, C = 6
input X[T, C] f64, W[C, 3 * C] f64
Q[t, j:C] = sum[k](X[t, k] * W[k, j])
K[t, j:C] = sum[k](X[t, k] * W[k, j + C])
V[t, j] = sum[k](X[t, k] * W[k, j + 2 * C])
output Q, K, V
""", {"X": QKV_X, "W": QKV_W}, {
        "Q": QKV_X @ QKV_W[:, :6], "K": QKV_X @ QKV_W[:, 6:12], "V": QKV_X @ QKV_W[:, 12:]}),
    ("rope-half-split", """
size T = 7, D = 8, H = D / 2
input X[T, D] f64
A[t, j:H] = X[t, j] * cos(t * exp(-2 * j / D * log(10000))) - X[t, j + H] * sin(t * exp(-2 * j / D * log(10000)))
B[t, j:H] = X[t, j + H] * cos(t * exp(-2 * j / D * log(10000))) + X[t, j] * sin(t * exp(-2 * j / D * log(10000)))
R[t, j:D] = A[t, j, pad=0] + B[t, j - H, pad=0]
output R
""", {"X": ROPE_X}, {"R": rope_ref(ROPE_X)}),
    ("concat-three", """
size M = 3, A = 2, B = 4, C = 1
input P[M, A] f64, Q[M, B] f64, R[M, C] f64
Y[i, j:A + B + C] = P[i, j, pad=0] + Q[i, j - A, pad=0] + R[i, j - A - B, pad=0]
output Y
""", {"P": CAT[0], "Q": CAT[1], "R": CAT[2]}, {"Y": np.concatenate(CAT, axis=1)}),
]


# Compiled as well as interpreted: the passes after views.c (share.c)
# once took X[i - 1, pad=0] and X[i] for one operand, so that the two
# differences below were one value, squared.
SHIFT_X = RNG.standard_normal(9)
COMPILED_CASES = [
    ("shifted-pair", """
input X[9] f64
Y[i] = (X[i - 1, pad=0] - X[i]) * (X[i] - X[i - 1, pad=0]) + select(X[i - 1, pad=0] < X[i], 1, 2)
output Y
""", {"X": SHIFT_X}, {"Y": -(np.concatenate([[0], SHIFT_X[:-1]]) - SHIFT_X) ** 2 +
                      np.where(np.concatenate([[0], SHIFT_X[:-1]]) < SHIFT_X, 1, 2)}),
]

GATHER_CASES = [
    ("embedding-lookup", """
size B = 2, T = 6, V = 11, C = 5
input E[V, C] f64, tok[B, T] i32
X[b, t, c] = E[tok[b, t], c]
S[b, c] = sum[t](E[tok[b, t], c])
output X, S
""", {"E": EMB, "tok": TOK}, {"X": EMB[TOK], "S": EMB[TOK].sum(axis=1)}),
    ("cross-entropy-labels", """
size N = 6, V = 11
input Z[N, V] f64, y[N] i64
m[i] = max[v](Z[i, v])
L = mean[i](log(sum[v](exp(Z[i, v] - m[i]))) + m[i] - Z[i, y[i]])
output L
""", {"Z": LOGITS, "y": LABELS}, {"L": np.array(np.mean(
        np.log(np.exp(LOGITS - LOGITS.max(1, keepdims=True)).sum(1)) + LOGITS.max(1)
        - LOGITS[np.arange(6), LABELS]))}),
    ("gather-padded", """
size N = 6, V = 11, C = 5
input E[V, C] f64, k[N] i64
P[i, c] = E[k[i], c, pad=-2]
output P
""", {"E": EMB, "k": SHIFT}, {"P": np.where(((SHIFT >= 0) & (SHIFT < 11))[:, None],
                                           EMB[np.clip(SHIFT, 0, 10)], -2.0)}),
]

# an index outside the tensor: exit 1, the index, its position and value
# named, no output file, interpreted and compiled by each back end
GATHER_BAD = """
size N = 6, V = 11, C = 5
input E[V, C] f64, k[N] i64
P[i, c] = E[k[i], c] * 2
output P
"""


def run_gather_bad(tmp):
    path = os.path.join(tmp, "bad.tra")
    with open(path, "w") as f:
        f.write(GATHER_BAD)
    np.save(os.path.join(tmp, "E.npy"), EMB)
    np.save(os.path.join(tmp, "k.npy"), SHIFT)
    ins = ["--input", "E=" + os.path.join(tmp, "E.npy"), "--input", "k=" + os.path.join(tmp, "k.npy")]
    out = os.path.join(tmp, "bad-out")
    runs = [[TRAC, path, "--interpret", "--output-dir", out] + ins]
    for flags in ([], ["--backend=c"], ["--devices=3"]):
        exe = os.path.join(tmp, "bad")
        c = subprocess.run([TRAC, path, "-o", exe] + flags, capture_output=True, text=True)
        if c.returncode != 0:
            return "compile %s: %s" % (flags, c.stderr.strip())
        runs.append([exe, "--threads", "2", "--output-dir", out] + ins)
    for cmd in runs:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 1 or "k[2] is -1, outside dimension 1 of E (0..10)" not in r.stderr \
                or os.path.exists(out):
            return "%s: exit %d, %s" % (cmd[0], r.returncode, r.stderr.strip())
    return None


def run_case(tmp, name, prog, inputs, want, compiled=False):
    path = os.path.join(tmp, name + ".tra")
    with open(path, "w") as f:
        f.write(prog)
    cmd = [TRAC, path, "--interpret"]
    if compiled:
        exe = os.path.join(tmp, name)
        r = subprocess.run([TRAC, path, "-o", exe], capture_output=True, text=True)
        if r.returncode != 0:
            return "trac failed: " + r.stderr.strip()
        cmd = [exe]
    for k, v in inputs.items():
        np.save(os.path.join(tmp, k + ".npy"), v)
        cmd += ["--input", "%s=%s" % (k, os.path.join(tmp, k + ".npy"))]
    for k in want:
        cmd += ["--output", "%s=%s" % (k, os.path.join(tmp, "got-" + k + ".npy"))]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return "trac failed: " + r.stderr.strip()
    for k, w in want.items():
        got = np.load(os.path.join(tmp, "got-" + k + ".npy"))
        tol = 1e-12 if got.dtype == np.float64 else 1e-5
        if got.shape != w.shape:
            return "%s: shape %s, want %s" % (k, got.shape, w.shape)
        err = np.max(np.abs(got - w)) / max(np.max(np.abs(w)), 1e-30) if w.size else 0.0
        if not err <= tol:
            return "%s: relative error %.3g" % (k, err)
    return None


# ---- random programs ---------------------------------------------------------
# Y[i, j] = AGG[r](X[a0 i + b0 j + c0 r + o0, a1 i + b1 j + c1 r + o1 (, pad=p)])
# with every range written, so that whether a read can leave X is known
# here: trac must reject exactly the unpadded programs where one can
# (exit 1, "outside"), and compute the others as the loops below do;
# every third one is also compiled, in a configuration of CONFIGS.

CONFIGS = [[], ["--node-kernels"], ["--devices=3"], ["--devices=2", "--partition=none"],
           ["--backend=c"], ["--backend=c", "--devices=3", "--placer=critical-path"]]


def random_program(rng):
    shape = [int(rng.integers(3, 10)), int(rng.integers(3, 10))]
    ranges = {"i": int(rng.integers(1, 7)), "j": int(rng.integers(1, 7)), "r": int(rng.integers(1, 4))}
    agg = ["sum", "max", None][int(rng.integers(0, 3))]
    names = ["i", "j"] + (["r"] if agg else [])
    forms = []
    for d in range(2):
        coef = {x: int(rng.choice([0, 0, 1, 1, 2, -1, 3])) for x in names}
        forms.append((coef, int(rng.integers(-3, 4))))
    for x in names:  # every index occurs somewhere
        if all(coef[x] == 0 for coef, _ in forms):
            forms[int(rng.integers(0, 2))][0][x] = 1
    padded = bool(rng.integers(0, 2))
    pad = float(rng.choice([0.0, -1.5, 2.0]))
    return shape, ranges, agg, names, forms, padded, pad


def subscript_text(coef, off):
    parts = []
    for x, c in coef.items():
        if c:
            parts.append(("%s" % x) if c == 1 else ("-%s" % x if c == -1 else "%d * %s" % (c, x)))
    text = " + ".join(parts) if parts else ""
    if off or not text:
        text = ("%s %s %d" % (text, "+" if off >= 0 else "-", abs(off))) if text else str(off)
    return text.replace("+ -", "- ")


def program_text(p):
    shape, ranges, agg, names, forms, padded, pad = p
    subs = ", ".join(subscript_text(c, o) for c, o in forms)
    if padded:
        subs += ", pad=%g" % pad
    elem = "X[%s]" % subs
    rhs = "%s[r:%d](%s)" % (agg, ranges["r"], elem) if agg else elem
    return ("size A = %d, B = %d\ninput X[A, B] f64\nY[i:%d, j:%d] = %s\noutput Y\n"
            % (shape[0], shape[1], ranges["i"], ranges["j"], rhs))


def program_reference(p, X):
    """The value by loops, or None when an unpadded read leaves X."""
    shape, ranges, agg, names, forms, padded, pad = p
    Y = np.zeros((ranges["i"], ranges["j"]))
    for i in range(ranges["i"]):
        for j in range(ranges["j"]):
            vals = []
            for r in range(ranges["r"] if agg else 1):
                at = {"i": i, "j": j, "r": r}
                pos = [sum(c * at[x] for x, c in coef.items()) + off for coef, off in forms]
                inside = all(0 <= q < n for q, n in zip(pos, shape))
                if not inside and not padded:
                    return None
                vals.append(X[pos[0], pos[1]] if inside else pad)
            Y[i, j] = sum(vals) if agg == "sum" else max(vals)
    return Y


STATS = {"rejected": 0, "compiled": 0}


def run_random(tmp, k, rng):
    p = random_program(rng)
    text = program_text(p)
    X = rng.standard_normal(p[0])
    want = program_reference(p, X)
    path = os.path.join(tmp, "r%d.tra" % k)
    with open(path, "w") as f:
        f.write(text)
    np.save(os.path.join(tmp, "X.npy"), X)
    got = os.path.join(tmp, "Y.npy")
    r = subprocess.run([TRAC, path, "--interpret", "--input", "X=" + os.path.join(tmp, "X.npy"),
                        "--output", "Y=" + got], capture_output=True, text=True)
    if want is None:
        STATS["rejected"] += 1
        if r.returncode == 1 and "outside" in r.stderr:
            return None
        return "a read leaves X, but trac says (exit %d) %s\n%s" % (r.returncode, r.stderr.strip(), text)
    if r.returncode != 0:
        return "trac failed: %s\n%s" % (r.stderr.strip(), text)
    outs = [("interpreter", got)]
    if k % 3 == 0:
        exe = os.path.join(tmp, "r%d" % k)
        flags = CONFIGS[(k // 3) % len(CONFIGS)]
        c = subprocess.run([TRAC, path, "-o", exe] + flags, capture_output=True, text=True)
        if c.returncode != 0:
            return "compile %s failed: %s\n%s" % (flags, c.stderr.strip(), text)
        run = subprocess.run([exe, "--input", "X=" + os.path.join(tmp, "X.npy"), "--output",
                              "Y=" + got + ".c.npy", "--threads", "2"], capture_output=True, text=True)
        if run.returncode != 0:
            return "compiled %s failed: %s\n%s" % (flags, run.stderr.strip(), text)
        outs.append(("compiled %s" % " ".join(flags), got + ".c.npy"))
        STATS["compiled"] += 1
    for what, f in outs:
        y = np.load(f)
        if y.shape != want.shape or not np.allclose(y, want, rtol=1e-12, atol=1e-12):
            return "%s differs from the loops\n%s" % (what, text)
    return None


def main():
    fails = 0
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    with tempfile.TemporaryDirectory() as tmp:
        for name, prog, inputs, want in CASES + GATHER_CASES:
            why = run_case(tmp, name, prog, inputs, want)
            print(("FAIL %s: %s" % (name, why)) if why else "PASS %s" % name)
            fails += why is not None
        for name, prog, inputs, want in COMPILED_CASES:
            for compiled in (False, True):
                why = run_case(tmp, name, prog, inputs, want, compiled)
                name_as = name + (" (compiled)" if compiled else "")
                print(("FAIL %s: %s" % (name_as, why)) if why else "PASS %s" % name_as)
                fails += why is not None
        why = run_gather_bad(tmp)
        print(("FAIL gather out of range: %s" % why) if why else "PASS gather out of range")
        fails += why is not None
        rng = np.random.default_rng(5)
        rfails = 0
        for k in range(count):
            why = run_random(tmp, k, rng)
            if why:
                print("FAIL random program %d: %s" % (k, why))
                rfails += 1
        print("%s %d random programs (%d failed; %d rightly rejected for reading outside, %d "
              "also compiled)" % ("FAIL" if rfails else "PASS", count, rfails, STATS["rejected"],
                                  STATS["compiled"]))
        fails += rfails
    print("%d failed" % fails)
    sys.exit(1 if fails else 0)


main()
