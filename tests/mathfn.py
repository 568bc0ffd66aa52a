#!/usr/bin/python3
"""mathfn.py TRAC: trac's vectorised element functions against NumPy.

Compiles one program per element type applying exp, log, tanh, sigmoid,
sqrt, pow, sin, cos, erf, exp2, log2, expm1, log1p, rsqrt, sign, floor,
ceil and round (trart.h's branch-free versions, or instructions) to a
vector of arguments spanning [-1e30, 1e30] (in f32; [-1e300, 1e300] in
f64): a dense sweep of [-100, 100], every power of ten, the edges of
overflow and underflow, subnormals, zeros, infinities and NaN. Each
result is compared with the double (for f64: long double) NumPy value
rounded to the element type, in units in the last place of that type;
NaN must match NaN, an infinity the same infinity. Exits 1 on a
mismatch, naming the function, the argument and both values.
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

# ulp bounds: LANGUAGE.md asks element functions to be computed in the
# element type; these are what trart.h's comment promises
BOUND = {"exp": 3, "log": 3, "tanh": 3, "sigmoid": 4, "sqrt": 1, "pow": 3,
         "sin": 2, "cos": 2, "exp2": 3, "log2": 3, "expm1": 3, "log1p": 3, "rsqrt": 2,
         "sign": 0, "floor": 0, "ceil": 0, "round": 0, "erf": 4}
TRIG_LIMIT = 2.0 ** 50  # sin and cos are NaN from here on (trart.h)
# the one-argument functions of X, by the output that holds each
UNARY = (("exp", "E"), ("log", "L"), ("tanh", "T"), ("sigmoid", "S"), ("sqrt", "R"),
         ("sin", "SN"), ("cos", "CS"), ("exp2", "E2"), ("log2", "L2"), ("expm1", "EM"),
         ("log1p", "LP"), ("rsqrt", "RS"), ("sign", "SG"), ("floor", "FL"), ("ceil", "CE"),
         ("round", "RD"), ("erf", "ER"))
POW_F64_REL = 2e-13     # pow in f64: the error of y log|x| (trart.h)

PROGRAM = """\
size N = {n}
input X[N] {t}
input P[N] {t}
input Q[N] {t}
W[i] = pow(P[i], Q[i])
""" + "".join("%s[i] = %s(X[i])\n" % (k, name) for name, k in UNARY) \
    + "output W, " + ", ".join(k for _, k in UNARY) + "\n"


def arguments(dt):
    """The arguments: a sweep, powers of ten, special values, both signs."""
    fi = np.finfo(dt)
    big = 30 if dt == np.float32 else 300
    pos = [np.linspace(0, 100, 20001),
           10.0 ** np.arange(-big, big + 1, 0.25),
           [fi.tiny, fi.tiny / 2, fi.tiny / 1024, fi.smallest_subnormal, fi.max,
            0.625, 0.6249, 9.0, 9.1, 20.0, 88.72, 88.73, 87.33, 87.34, 103.9,
            709.7, 709.8, 745.1, 745.2, np.inf]]
    x = np.concatenate([np.asarray(p, np.float64) for p in pos])
    x = np.concatenate([x, -x, [0.0, np.nan]]).astype(dt)
    return x


def pow_arguments(dt, rng):
    """Pairs (p, q): random bases over many magnitudes and exponents, and
    the special cases of C99's pow."""
    n = 40000
    p = rng.uniform(-1, 1, n) * 10.0 ** rng.uniform(-8, 8, n)
    q = rng.uniform(-20, 20, n)
    q[: n // 4] = np.round(q[: n // 4])       # integral exponents of negative bases
    sp = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, np.inf, -np.inf, np.nan, 1e-30, 1e30]
    a, b = np.meshgrid(sp, sp + [3.0, -3.0, 0.25])
    return (np.concatenate([p, a.ravel()]).astype(dt), np.concatenate([q, b.ravel()]).astype(dt))


def ulps(got, want, dt):
    """|got - want| in ulps of want (both of type dt), inf where one is
    NaN or infinite and the other is not the same."""
    g, w = got.astype(np.float64), want.astype(np.float64)
    special = ~np.isfinite(g) | ~np.isfinite(w)
    same = (np.isnan(g) & np.isnan(w)) | (g == w)
    sp = np.spacing(np.abs(want)).astype(np.float64)
    sp = np.maximum(sp, np.finfo(dt).smallest_subnormal)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.abs(g - w) / sp
    e[special] = np.where(same[special], 0.0, np.inf)
    return e


def reference(name, x, wide):
    """The function in float64 (f32) or long double (f64)."""
    x = x.astype(wide)
    with np.errstate(all="ignore"):
        if name == "erf":   # NumPy has none: the C library's, in double
            return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64)).astype(wide)
        if name in ("sin", "cos"):
            return np.where(np.abs(x) < TRIG_LIMIT, getattr(np, name)(x), np.nan)
        return {"exp": np.exp, "log": np.log, "tanh": np.tanh, "sqrt": np.sqrt,
                "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "exp2": np.exp2, "log2": np.log2,
                "expm1": np.expm1, "log1p": np.log1p, "rsqrt": lambda v: 1 / np.sqrt(v),
                "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.rint}[name](x)


def check(name, got, want, dt, args, bad):
    with np.errstate(over="ignore"):
        want = want.astype(dt)
    e = ulps(got, want, dt)
    worst = int(np.argmax(e))
    line = "%s %s: max %.3g ulp" % (np.dtype(dt).name, name, e[worst])
    limit = BOUND[name]
    if name == "pow" and dt == np.float64:
        with np.errstate(all="ignore"):
            rel = np.abs(got - want) / np.abs(want)
        fin = np.isfinite(want) & np.isfinite(got) & (want != 0)
        e = np.where(fin, rel / POW_F64_REL, e / limit)
        worst, limit = int(np.argmax(e)), 1
        line = "%s pow: max %.3g of the bound" % (np.dtype(dt).name, e[worst])
    if not e[worst] <= limit:
        bad.append("%s: %s at %s: got %r, want %r" % (line, "over the bound",
                   ", ".join(repr(a[worst]) for a in args), got[worst], want[worst]))
    print(line)


def run(trac, dt, tmp, bad):
    tname = "f32" if dt == np.float32 else "f64"
    wide = np.float64 if dt == np.float32 else np.longdouble
    x = arguments(dt)
    p, q = pow_arguments(dt, np.random.default_rng(7))
    n = max(len(x), len(p))
    x = np.resize(x, n)
    p, q = np.resize(p, n), np.resize(q, n)
    d = os.path.join(tmp, tname)
    os.makedirs(d)
    src = os.path.join(d, "fn.tra")
    with open(src, "w") as f:
        f.write(PROGRAM.format(n=n, t=tname))
    for name, a in (("X", x), ("P", p), ("Q", q)):
        np.save(os.path.join(d, name + ".npy"), a)
    subprocess.run([trac, src, "-o", os.path.join(d, "fn")], check=True)
    subprocess.run([os.path.join(d, "fn"), "--output-dir", d]
                   + ["--input=%s=%s/%s.npy" % (k, d, k) for k in "XPQ"], check=True)
    out = {k: np.load(os.path.join(d, k + ".npy")) for k in [k for _, k in UNARY] + ["W"]}
    for name, k in UNARY:
        check(name, out[k], reference(name, x, wide), dt, [x], bad)
    with np.errstate(all="ignore"):
        want = np.power(p.astype(wide), q.astype(wide))
    check("pow", out["W"], want, dt, [p, q], bad)


def main():
    trac = sys.argv[1]
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        for dt in (np.float32, np.float64):
            run(trac, dt, tmp, bad)
    for b in bad:
        print("FAIL " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
