#!/usr/bin/python3
"""gemms.py TRAC: large GEMMs, whose calls run Strassen-Winograd levels
(runtime/strassen.c), against NumPy.

Compiles products large enough for one or two levels (every side at
least TRAC_STRASSEN_MIN, 384; twice that for two), with odd sizes so that
the halves leave a row, a column and a term over: an f32 product with a
scaled, biased relu epilogue; one whose first operand is stored
transposed; a batch of products; an f64 product; one whose reduction a
partition splits into two blocks (partial products, then their sum). It
compiles them as block tasks under both back ends, as whole-node kernels
and with --no-strassen, and checks:
  - the kernel plans (--emit=kernels) say Strassen-Winograd for every
    product by default, for none with --no-strassen or under --memory,
    and not for a product with a side below 384;
  - every output's normwise relative error against float64 NumPy on the
    same inputs is at most 4 times that of the --no-strassen build
    (plain BLAS calls) plus 1e-7 (f32; 1e-15 for f64), and far inside
    LANGUAGE.md's 1e-4.
Exits 1 on a failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

PROGRAM = """\
size M = 801, K = 777, N = 799, G = 3, P = 451, Q = 449, R = 453
input X[M, K], W[K, N], b[N]
Y[i, j] = relu(sum[k](X[i, k] * W[k, j]) * 0.5 + b[j])
output Y
input U[K, M]
Z[i, j] = sum[k](U[k, i] * W[k, j])
output Z
input A[G, P, Q], B[G, Q, R]
C[g, i, j] = sum[q](A[g, i, q] * B[g, q, j])
output C
input E[P, Q] f64, F[Q, R] f64
H[i, j] = sum[q](E[i, q] * F[q, j])
output H
input S[P, 383], T[383, R]
V[i, j] = sum[q](S[i, q] * T[q, j])
output V
"""
SPLIT = "--partition=Y:i=1,j=1,k=2"


def references(x):
    f = lambda a: a.astype(np.float64)
    return {
        "Y": np.maximum(f(x["X"]) @ f(x["W"]) * 0.5 + f(x["b"]), 0),
        "Z": f(x["U"]).T @ f(x["W"]),
        "C": np.matmul(f(x["A"]), f(x["B"])),
        "H": x["E"] @ x["F"],
        "V": f(x["S"]) @ f(x["T"]),
    }


def error(got, ref):
    return float(np.linalg.norm(got.astype(np.float64) - ref) / np.linalg.norm(ref))


def kernel_plans(trac, src, flags):
    out = subprocess.run([trac, src, "--emit=kernels", "--devices=2"] + flags, check=True, capture_output=True,
                         text=True).stdout
    # "kernel 3: blas Y, blocks" then its "  gemm, ..." line
    plans, name = {}, None
    for line in out.splitlines():
        if line.startswith("kernel ") and ": blas " in line:
            name = line.split(": blas ")[1].split(",")[0]
        elif name and line.strip().startswith(("gemm", "gemv")):
            plans[name] = "Strassen-Winograd" in line
            name = None
    return plans


def main():
    trac = sys.argv[1]
    rng = np.random.default_rng(5)
    fails = 0

    def check(ok, what):
        nonlocal fails
        fails += not ok
        print("%s %s" % ("PASS" if ok else "FAIL", what))

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "gemms.tra")
        with open(src, "w") as f:
            f.write(PROGRAM)
        plans = kernel_plans(trac, src, [])
        check(all(plans.get(n) for n in "YZC") and plans.get("V") is False,
              "plans: Strassen-Winograd for Y, Z, C, not V (K 383): %s" % plans)
        for flags in (["--no-strassen"], ["--memory=1G"]):
            plans = kernel_plans(trac, src, flags)
            check(plans and not any(plans.values()), "plans %s: no Strassen-Winograd: %s" % (" ".join(flags), plans))
        # whole-node kernels run OpenBLAS's threads on every call (kplan.c)
        plans = kernel_plans(trac, src, ["--node-kernels"])
        check(plans and not any(plans.values()), "plans --node-kernels: no Strassen-Winograd: %s" % plans)

        shapes = {"X": (801, 777), "W": (777, 799), "b": (799,), "U": (777, 801), "A": (3, 451, 449),
                  "B": (3, 449, 453), "E": (451, 449), "F": (449, 453), "S": (451, 383), "T": (383, 453)}
        x = {}
        for name, shape in shapes.items():
            dt = np.float64 if name in "EF" else np.float32
            x[name] = (rng.random(shape) * 2 - 1).astype(dt)
            np.save(os.path.join(tmp, name + ".npy"), x[name])
        refs = references(x)
        inputs = ["--input=%s=%s/%s.npy" % (n, tmp, n) for n in shapes]
        builds = {"plain": ["--no-strassen"], "plain-node": ["--no-strassen", "--node-kernels"], "llvm": ["--backend=llvm"], "c": ["--backend=c"],
                  "node": ["--node-kernels"], "split": [SPLIT], "split-c": [SPLIT, "--backend=c"]}
        errs = {}
        for label, flags in builds.items():
            exe = os.path.join(tmp, "gemms_" + label)
            out = os.path.join(tmp, "out_" + label)
            os.mkdir(out)
            subprocess.run([trac, src, "-o", exe, "--devices=2"] + flags, check=True)
            subprocess.run([exe, "--threads", "2", "--output-dir", out] + inputs, check=True)
            errs[label] = {n: error(np.load(os.path.join(out, n + ".npy")), refs[n]) for n in refs}
        for label in builds:
            if label.startswith("plain"):
                continue
            for n in refs:
                e, base = errs[label][n], errs["plain-node" if label == "node" else "plain"][n]
                floor = 1e-14 if n == "H" else 1e-7
                ok = e <= 10 * base + floor and e < (1e-10 if n == "H" else 1e-4)
                check(ok, "%s %s: relative error %.3g, plain BLAS %.3g" % (label, n, e, base))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
