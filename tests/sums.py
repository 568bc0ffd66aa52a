#!/usr/bin/python3
"""sums.py TRAC: long f32 sums are as accurate as NumPy's pairwise sums.

Compiles row sums s[i] = sum[j](X[i, j]) of 50257 terms, column sums
c[j] = sum[i](X[i, j]) of 50257 terms and a whole-matrix sum, as block
tasks and as whole-node kernels, runs them on data whose sequential f32
sum drifts (values near 0.1, and uniform [0, 1)), and compares each with
the float64 sum of the same f32 inputs. A result passes when its
normwise relative error is at most 3e-7 and at most 1.5 times that of
NumPy's own f32 sum (np.sum, pairwise along a row) plus 1e-8. Summing
the terms one after another, as trac's loops did before blocked
summation, gives 1.3e-6 on the first data (row and column sums) and
4.4e-7 on the second. Exits 1 on a failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

PROGRAM = """\
size N = {n}, D = {d}
input X[N, D]
s[i] = sum[j](X[i, j])
output s
input XT[D, N]
c[j] = sum[i](XT[i, j])
output c
t = sum[i, j](X[i, j])
output t
"""
BOUND = 3e-7


def data(rng, kind, n, d):
    if kind == "tenth":
        x = 0.1 + 1e-4 * rng.random((n, d))
    else:
        x = rng.random((n, d))
    return x.astype(np.float32)


def err(got, ref):
    return float(np.max(np.abs(got.astype(np.float64) - ref)) / np.max(np.abs(ref)))


def main():
    trac = sys.argv[1]
    n, d = 24, 50257
    rng = np.random.default_rng(11)
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "sums.tra")
        with open(src, "w") as f:
            f.write(PROGRAM.format(n=n, d=d))
        for flags in ([], ["--node-kernels"]):
            exe = os.path.join(tmp, "sums")
            subprocess.run([trac, src, "-o", exe] + flags, check=True)
            for kind in ("tenth", "uniform"):
                x = data(rng, kind, n, d)
                xt = np.ascontiguousarray(x.T)
                np.save(os.path.join(tmp, "X.npy"), x)
                np.save(os.path.join(tmp, "XT.npy"), xt)
                subprocess.run([exe, "--input=X=%s/X.npy" % tmp, "--input=XT=%s/XT.npy" % tmp,
                                "--output-dir", tmp], check=True)
                x64 = x.astype(np.float64)
                cases = (("row sums", "s", x64.sum(axis=1), x.sum(axis=1)),
                         ("column sums", "c", x64.sum(axis=1), xt.sum(axis=0)),
                         ("whole sum", "t", np.array(x64.sum()), np.array(x.sum())))
                for what, name, ref, numpy in cases:
                    got = np.load(os.path.join(tmp, name + ".npy"))
                    e, ne = err(got, ref), err(numpy, ref)
                    ok = e <= BOUND and e <= 1.5 * ne + 1e-8
                    fails += not ok
                    print("%s %s %s (%s): relative error %.3g, NumPy %.3g" % (
                        "PASS" if ok else "FAIL", " ".join(flags) or "blocks", what, kind, e, ne))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
