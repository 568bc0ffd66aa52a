#!/usr/bin/python3
"""bench.py: time trac's compiled workloads (W1-W6, their other spellings,
the contraction layouts, colsum, tanh, argmax, conv1d, short_rows and rotate of
bench/README) against NumPy and PyTorch.

    /usr/bin/python3 bench/bench.py --trac ./trac --builddir bench-build \\
        --threads 2 [--repeat 5] [--only w1,w4] [--small]

For each workload bench/wN_*.tra it compiles the program with trac into
the build directory, runs it with --random=1 --threads T --repeat R --time
and reads the median it prints, times the same computation in NumPy (and
PyTorch when `import torch` works) in a child process with the same thread
count, and measures the OpenBLAS sgemm peak with bench/sgemm_peak.c. It
prints one table; see bench/README for the columns and the FLOP formulas.

It never asserts a time: it exits 0 whenever it could run (--strict turns
failures and mismatches into exit status 1). A compilation or run that
fails is a 'failed' cell with the reason under the table. --small runs
every workload at small sizes in a few seconds and checks trac's outputs
against a float64 NumPy reference computed from the same --random=1
inputs (tests/trart_random.py reproduces them); --interpret does the same
checks through `trac --interpret`, which works before the C back end does.
"""

import argparse
import glob
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(HERE)
REEXEC_MARK = "TRAC_BENCH_REEXEC"
DEFAULT_TOL = 1e-4      # tra(5): f32 within 1e-4 relative error

# ---------------------------------------------------------------------------
# The workloads. `sizes` are the .tra defaults (passed again with -D, so the
# harness always measures the sizes it computes FLOPs for); `small` are the
# --small sizes, deliberately all different so a transposed index shows.
# ---------------------------------------------------------------------------


def _flops_w1(s):
    # D = A B C: the cheaper of (A B) C and A (B C); 2*m*n*k per GEMM
    m, p, q, n = s["M"], s["P"], s["Q"], s["N"]
    return min(2 * m * p * q + 2 * m * q * n, 2 * p * q * n + 2 * m * p * n)


def _flops_w2(s):
    # X W1 (2NDH), relu (NH), Hd W2 (2NHC), softmax: max, sub, exp, sum, div (5NC)
    n, d, h, c = s["N"], s["D"], s["H"], s["C"]
    return 2 * n * d * h + n * h + 2 * n * h * c + 5 * n * c


def _flops_w3(s):
    # per (b, h): Q K^T (2 S S D), /8, max, sub, exp, sum (5 S S),
    # E V (2 S S D), the final division (S D)
    bh, n, d = s["B"] * s["H"], s["S"], s["D"]
    return bh * (4 * n * n * d + 5 * n * n + n * d)


def _flops_w4(s):
    # per element: max, sub, exp, sum
    return 4 * s["N"] * s["D"]


def _bytes_w4(s):
    # X read once (f32), Y written
    return 4 * (s["N"] * s["D"] + s["N"])


def _bytes_w5(s):
    # X, w and y read once (f32), g written
    n, d = s["N"], s["D"]
    return 4 * (n * d + d + n + d)


def _flops_w5(s):
    # X w (2ND), sigmoid = 1/(1+exp(-z)) (4N), - y (N), X^T r (2ND), / n (D)
    n, d = s["N"], s["D"]
    return 4 * n * d + 5 * n + d


def _flops_w7(s):
    # the hand-written step (bench.py's numpy variant): forward X W1 (2NDH),
    # relu (NH), Hd W2 (2NHC), softmax and loss (max, sub, exp, sum, div,
    # log, Yt * Z and its sum: 8NC); backward P - Yt and / N (2NC),
    # Hd^T dZ and dZ W2^T (4NHC), the relu mask (NH), X^T dHd (2NDH);
    # the updates (2DH + 2HC)
    n, d, h, c = s["N"], s["D"], s["H"], s["C"]
    return 4 * n * d * h + 6 * n * h * c + 2 * n * h + 10 * n * c + 2 * d * h + 2 * h * c


def _flops_w6(s):
    return 2 * s["B"] * s["I"] * s["J"] * s["K"]


def _flops_shared_weight(s):
    return 2 * s["N"] * s["O"] * s["K"] * s["P"]


def _flops_middle_axis(s):
    return 2 * s["I"] * s["J"] * s["Q"] * s["R"]


def _flops_ao2mo(s):
    # four steps, each a GEMM of n x n^3 x n
    return 4 * 2 * s["N"] ** 5
def _flops_conv(s):
    return 2.0 * s["N"] * s["O"] * s["H"] * s["W"] * s["C"] * s["R"] * s["R"]


def _flops_conv1d(s):
    return 2.0 * s["N"] * s["K"]


def _flops_rotate(s):
    return 2.0 * s["N"] * s["D"] * s["D"]


def _flops_llama(s):
    b, t, c, f, k = s["B"], s["T"], s["C"], s["F"], s["K"]
    heads = s["G"] * s["R"]
    proj = 2.0 * b * t * c * (2 * c + 2 * k + 3 * f)   # q, o, k, v; w1, w3, w2
    attn = 2.0 * 2 * b * heads * t * t * s["D"]        # scores and values
    return proj + attn


def _flops_embed(s):
    # a copy: no arithmetic; its rate is the elements copied per second
    return float(s["T"] * s["C"])


def _bytes_argmax(s):
    # X read once (f32), one i64 position per row written
    return 4 * s["N"] * s["D"] + 8 * s["N"]


def _flops_elements(s):
    # colsum: N*D additions; tanh: one per element, as exp counts; argmax:
    # one comparison per element
    return s["N"] * s["D"]


# Each workload: its .tra file and table label, its sizes (small: --small's),
# its inputs and output as (name, the sizes' letters per dimension), the
# output's type where it is not the inputs' (out_dtype), and its FLOPs (and
# least bytes, for the read-bandwidth column) as functions of the sizes.
WORKLOADS = [
    dict(name="w1", file="w1_chain.tra", label="w1_chain",
         sizes=dict(M=4096, P=1024, Q=4096, N=1024),
         small=dict(M=48, P=20, Q=56, N=36),
         inputs=dict(A="MP", B="PQ", C="QN"), output=("D", "MN"),
         flops=_flops_w1),
    dict(name="w2", file="w2_mlp.tra", label="w2_mlp",
         sizes=dict(N=8192, D=1024, H=4096, C=1024),
         small=dict(N=40, D=24, H=56, C=32),
         inputs=dict(X="ND", W1="DH", W2="HC"), output=("P", "NC"),
         flops=_flops_w2),
    dict(name="w2n", same="w2", file="w2n_mlp.tra", label="w2n_mlp",
         sizes=dict(N=8192, D=1024, H=4096, C=1024),
         small=dict(N=40, D=24, H=56, C=32),
         inputs=dict(X="ND", W1="DH", W2="HC"), output=("P", "NC"),
         flops=_flops_w2),
    dict(name="w3", file="w3_attention.tra", label="w3_attention",
         sizes=dict(B=8, H=16, S=1024, D=64),
         small=dict(B=2, H=3, S=24, D=8),
         inputs=dict(Q="BHSD", K="BHSD", V="BHSD"), output=("O", "BHSD"),
         flops=_flops_w3),
    dict(name="w3n", same="w3", file="w3n_attention.tra", label="w3n_attention",
         sizes=dict(B=8, H=16, S=1024, D=64),
         small=dict(B=2, H=3, S=24, D=8),
         inputs=dict(Q="BHSD", K="BHSD", V="BHSD"), output=("O", "BHSD"),
         flops=_flops_w3),
    dict(name="w4", file="w4_lse.tra", label="w4_lse",
         sizes=dict(N=8192, D=8192),
         small=dict(N=40, D=72),
         inputs=dict(X="ND"), output=("Y", "N"),
         flops=_flops_w4, bytes=_bytes_w4),
    dict(name="w4s", same="w4", file="w4s_lse.tra", label="w4s_lse",
         sizes=dict(N=8192, D=8192),
         small=dict(N=40, D=72),
         inputs=dict(X="ND"), output=("Y", "N"),
         flops=_flops_w4, bytes=_bytes_w4),
    dict(name="w5", file="w5_logreg.tra", label="w5_logreg",
         sizes=dict(N=100000, D=1000),
         small=dict(N=300, D=28),
         inputs=dict(X="ND", w="D", y="N"), output=("g", "D"),
         flops=_flops_w5, bytes=_bytes_w5),
    dict(name="w5n", same="w5", file="w5n_logreg.tra", label="w5n_logreg",
         sizes=dict(N=100000, D=1000),
         small=dict(N=300, D=28),
         inputs=dict(X="ND", w="D", y="N"), output=("g", "D"),
         flops=_flops_w5, bytes=_bytes_w5),
    # a training step: W2's MLP with softmax cross-entropy, grad, SGD (issue 15)
    dict(name="w7", file="w7_train.tra", label="w7_train",
         sizes=dict(N=8192, D=1024, H=4096, C=1024),
         small=dict(N=40, D=24, H=56, C=32),
         inputs=dict(X="ND", Yt="NC", W1="DH", W2="HC"), output=("W1n", "DH"),
         flops=_flops_w7),
    dict(name="w6", file="w6_bmm.tra", label="w6_bmm",
         sizes=dict(B=64, I=512, J=512, K=512),
         small=dict(B=3, I=20, J=28, K=16),
         inputs=dict(X="BIJ", Y="BJK"), output=("Z", "BIK"),
         flops=_flops_w6),
    # contractions whose layout is not one GEMM as it lies (issue 9); the
    # AO-to-MO transform is f64, as quantum chemistry computes it
    dict(name="shared_weight", file="shared_weight.tra", label="shared_weight",
         sizes=dict(N=8, O=256, K=256, P=3136),
         small=dict(N=3, O=20, K=12, P=36),
         inputs=dict(W="OK", X="NKP"), output=("Y", "NOP"),
         flops=_flops_shared_weight),
    dict(name="middle_axis", file="middle_axis.tra", label="middle_axis",
         sizes=dict(I=64, J=64, Q=64, R=4096),
         small=dict(I=3, J=20, Q=12, R=36),
         inputs=dict(C="QJ", T1="IQR"), output=("T2", "IJR"),
         flops=_flops_middle_axis),
    dict(name="ao2mo_steps", file="ao2mo_steps.tra", label="ao2mo_steps",
         sizes=dict(N=64), small=dict(N=9), dtype="f64",
         inputs=dict(C="NN", G="NNNN"), output=("V", "NNNN"),
         flops=_flops_ao2mo),
    dict(name="ao2mo_one", file="ao2mo_one.tra", label="ao2mo_one",
         sizes=dict(N=64), small=dict(N=9), dtype="f64",
         inputs=dict(C="NN", G="NNNN"), output=("V", "NNNN"),
         flops=_flops_ao2mo),
    dict(name="colsum", file="colsum.tra", label="colsum",
         sizes=dict(N=8192, D=1024),
         small=dict(N=300, D=40),
         inputs=dict(X="ND"), output=("s", "D"),
         flops=_flops_elements),
    dict(name="tanh", file="tanh.tra", label="tanh",
         sizes=dict(N=2048, D=2048),
         small=dict(N=30, D=44),
         inputs=dict(X="ND"), output=("Y", "ND"),
         flops=_flops_elements),
    dict(name="argmax", file="argmax.tra", label="argmax",
         sizes=dict(N=4096, D=4096),
         small=dict(N=30, D=70),
         inputs=dict(X="ND"), output=("m", "N"), out_dtype="i64",
         flops=_flops_elements, bytes=_bytes_argmax),
    # a 'same' 1-D convolution of 9 taps: index arithmetic, short sums
    dict(name="conv1d", file="conv1d.tra", label="conv1d",
         sizes=dict(N=4194304, K=9),
         small=dict(N=300, K=9),
         inputs=dict(x="N", w="K"), output=("y", "N"),
         flops=_flops_conv1d),
    # an element-wise map over rows shorter than a vector
    dict(name="short_rows", file="short_rows.tra", label="short_rows",
         sizes=dict(N=4194304, D=10),
         small=dict(N=300, D=10),
         inputs=dict(X="ND"), output=("Y", "ND"),
         flops=_flops_elements),
    # a million tiny products: one loop nest, not a million gemv calls
    dict(name="rotate", file="rotate.tra", label="rotate",
         sizes=dict(N=1048576, D=3),
         small=dict(N=300, D=3),
         inputs=dict(R="NDD", P="ND"), output=("Y", "ND"),
         flops=_flops_rotate),
    # index arithmetic (issue 11): a 'same' 3x3 convolution in one statement
    dict(name="conv", file="conv3x3.tra", label="conv3x3",
         sizes=dict(N=8, C=64, H=56, W=56, O=64, R=3),
         small=dict(N=2, C=5, H=9, W=7, O=6, R=3),
         inputs=dict(X="NCHW", K="OCRR"), output=("Y", "NOHW"),
         flops=_flops_conv),
    # a gather: tok indexes E's rows (index: input -> the size it selects in)
    dict(name="embed", file="embed.tra", label="embed",
         sizes=dict(T=8192, V=50257, C=768),
         small=dict(T=40, V=23, C=12),
         inputs=dict(E="VC", tok="T"), index=dict(tok="V"), output=("X", "TC"),
         flops=_flops_embed),
    # a Llama-style block: RMSNorm, grouped-query attention with RoPE, SwiGLU
    dict(name="llama", file="llama.tra", label="llama",
         sizes=dict(B=2, T=256, C=2048, G=4, R=8, D=64, P=32, K=256, F=5632),
         small=dict(B=2, T=9, C=32, G=2, R=2, D=8, P=4, K=16, F=24),
         inputs=dict(X="BTC", g1="C", g2="C", Wq="CC", Wk="CK", Wv="CK", Wo="CC",
                     W1="CF", W3="CF", W2="FC"), output=("Y", "BTC"),
         flops=_flops_llama),
]
BY_NAME = {w["name"]: w for w in WORKLOADS}


def base(w):
    """The workload whose computation, reference and NumPy code row w
    shares: itself, or the row it is another spelling of ("same")."""
    return w.get("same", w["name"])


def dtype_of(w):
    """The workload's element type: 'f32' (the default) or 'f64'."""
    return w.get("dtype", "f32")


def shape_of(dims, sizes):
    """'MP' with sizes {'M': 4, 'P': 3} -> (4, 3); size names are one letter."""
    return tuple(sizes[c] for c in dims)


# ---------------------------------------------------------------------------
# NumPy: the float64 reference (for the checks) and the timed float32
# formulations, the fastest reasonable ones PEERS.md names. A formulation
# is a factory: it gets the inputs, allocates its out= buffers (untimed,
# like a program that reuses its workspace) and returns the computation.
# ---------------------------------------------------------------------------


def reference(np, name, a, s):
    """The workload in float64 NumPy, from the inputs `a` (indices stay integers)."""
    a = {k: v if v.dtype.kind == "i" else v.astype(np.float64) for k, v in a.items()}
    if name == "w1":
        return np.linalg.multi_dot([a["A"], a["B"], a["C"]])
    if name == "w2":
        y = np.maximum(a["X"] @ a["W1"], 0) @ a["W2"]
        e = np.exp(y - y.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "w3":
        sc = a["Q"] @ a["K"].swapaxes(-1, -2) / 8
        e = np.exp(sc - sc.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)) @ a["V"]
    if name == "w4":
        x = a["X"]
        return np.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1)
    if name == "w5":
        z = a["X"] @ a["w"]
        return a["X"].T @ (1 / (1 + np.exp(-z)) - a["y"]) / s["N"]
    if name == "w6":
        return a["X"] @ a["Y"]
    if name == "w7":
        X, Yt, W1, W2 = a["X"], a["Yt"], a["W1"], a["W2"]
        A = X @ W1
        Hd = np.maximum(A, 0)
        Z = Hd @ W2
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        dZ = (P - Yt) / s["N"]  # d loss / dZ: softmax minus targets, over N
        dA = (dZ @ W2.T) * (A > 0)
        return W1 - 0.01 * (X.T @ dA)
    if name == "shared_weight":
        return np.matmul(a["W"], a["X"])
    if name == "middle_axis":
        return np.einsum("qj,iqr->ijr", a["C"], a["T1"])
    if name in ("ao2mo_steps", "ao2mo_one"):
        return _ao2mo_tensordot(np, a["C"], a["G"])
    if name == "colsum":
        return a["X"].sum(axis=0)
    if name == "tanh":
        return np.tanh(a["X"])
    if name == "argmax":
        return np.argmax(a["X"], axis=1)
    if name == "short_rows":
        return np.exp(a["X"])
    if name == "rotate":
        return np.einsum("nij,nj->ni", a["R"], a["P"])
    if name == "conv1d":
        return np.correlate(a["x"], a["w"], "same")
    if name == "conv":
        return _conv_im2col(np, a["X"], a["K"])
    if name == "embed":
        return a["E"][a["tok"]]
    if name == "llama":
        return _llama(np, s, **a)
    raise ValueError(name)


def _llama(np, s, X, g1, g2, Wq, Wk, Wv, Wo, W1, W3, W2):
    """The Llama-style block in NumPy: the heads as a batch of GEMMs, each
    group's query heads stacked against its one key head (grouped-query
    attention as Llama's reference code computes it, without repeating K)."""
    B, T, C, G, R, D = s["B"], s["T"], s["C"], s["G"], s["R"], s["D"]
    h = D // 2

    def rms(x, g):
        return x * (1 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + 1e-5)) * g

    th = np.arange(T)[:, None] * np.exp(-2.0 * np.arange(h)[None, :] / D * np.log(10000.0))
    cos, sin = np.cos(th).astype(X.dtype), np.sin(th).astype(X.dtype)

    def rope(x):  # x[..., T, D]
        a, b = x[..., :h], x[..., h:]
        return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)

    n1 = rms(X, g1)
    q = (n1 @ Wq).reshape(B, T, G, R, D).transpose(0, 2, 3, 1, 4)   # b g r t d
    k = (n1 @ Wk).reshape(B, T, G, D).transpose(0, 2, 1, 3)         # b g t d
    v = (n1 @ Wv).reshape(B, T, G, D).transpose(0, 2, 1, 3)
    q = rope(q).reshape(B, G, R * T, D)
    k = rope(k)
    sc = (q @ k.swapaxes(-1, -2)).reshape(B, G, R, T, T) / 8
    sc = np.where(np.tril(np.ones((T, T), bool)), sc, -np.inf)
    e = np.exp(sc - sc.max(axis=-1, keepdims=True))
    p = (e / e.sum(axis=-1, keepdims=True)).reshape(B, G, R * T, T)
    o = (p @ v).reshape(B, G, R, T, D).transpose(0, 3, 1, 2, 4).reshape(B, T, C)
    y1 = X + o @ Wo
    n2 = rms(y1, g2)
    u = n2 @ W1
    return y1 + (u / (1 + np.exp(-u)) * (n2 @ W3)) @ W2


def _conv_im2col(np, X, K, cols=None, xp=None, out=None):
    """A 'same' cross-correlation of NCHW X with OIRR K (R odd) as im2col
    and one batched GEMM, NumPy's fastest formulation; the buffers may
    be given (out= style) so that the timed run allocates nothing."""
    n, c, h, w = X.shape
    o, _, r, _ = K.shape
    p = r // 2
    if xp is None:
        xp = np.zeros((n, c, h + 2 * p, w + 2 * p), X.dtype)
    if cols is None:
        cols = np.empty((n, c, r, r, h, w), X.dtype)
    xp[:, :, p:p + h, p:p + w] = X
    for i in range(r):
        for j in range(r):
            cols[:, :, i, j] = xp[:, :, i:i + h, j:j + w]
    y = np.matmul(K.reshape(o, c * r * r), cols.reshape(n, c * r * r, h * w),
                  out=None if out is None else out.reshape(n, o, h * w))
    return y.reshape(n, o, h, w)


def _ao2mo_tensordot(np, C, G):
    """V[i,j,k,l] = sum C[p,i] C[q,j] C[r,k] C[s,l] G[p,q,r,s], one axis at
    a time: contracting the first axis each step rotates the new index to
    the end, so after four steps the axes are i, j, k, l and every step is
    one GEMM on the arrays as they lie."""
    v = G
    for _ in range(4):
        v = np.tensordot(v, C, axes=([0], [0]))
    return v


def numpy_variants(np, name, a, s):
    """[(variant name, factory)] for workload `name` on float32 inputs `a`."""
    f32 = np.float32
    if name == "w1":
        A, B, C = a["A"], a["B"], a["C"]

        def multi_dot():
            out = np.empty((s["M"], s["N"]), f32)
            return lambda: np.linalg.multi_dot([A, B, C], out=out)

        def einsum_opt():
            path = np.einsum_path("ij,jk,kl->il", A, B, C, optimize="optimal")[0]
            return lambda: np.einsum("ij,jk,kl->il", A, B, C, optimize=path)
        return [("multi_dot", multi_dot), ("einsum(optimize)", einsum_opt)]

    if name == "w2":
        X, W1, W2 = a["X"], a["W1"], a["W2"]

        def inplace():
            h = np.empty((s["N"], s["H"]), f32)
            y = np.empty((s["N"], s["C"]), f32)
            r = np.empty((s["N"], 1), f32)

            def run():
                np.matmul(X, W1, out=h)
                np.maximum(h, 0, out=h)
                np.matmul(h, W2, out=y)
                np.max(y, axis=1, keepdims=True, out=r)
                np.subtract(y, r, out=y)
                np.exp(y, out=y)
                np.sum(y, axis=1, keepdims=True, out=r)
                np.divide(y, r, out=y)
                return y
            return run
        return [("in-place out=", inplace)]

    if name == "w3":
        Q, K, V = a["Q"], a["K"], a["V"]
        b, h, n, d = s["B"], s["H"], s["S"], s["D"]

        def bmm():
            qs = np.empty_like(Q)
            kt = K.swapaxes(-1, -2)
            sc = np.empty((b, h, n, n), f32)
            r = np.empty((b, h, n, 1), f32)
            o = np.empty((b, h, n, d), f32)

            def run():
                # Q/8 instead of (Q K^T)/8: exact (a power of two), S*D
                # instead of S*S divisions; normalise after E V likewise
                np.multiply(Q, f32(0.125), out=qs)
                np.matmul(qs, kt, out=sc)
                np.max(sc, axis=-1, keepdims=True, out=r)
                np.subtract(sc, r, out=sc)
                np.exp(sc, out=sc)
                np.sum(sc, axis=-1, keepdims=True, out=r)
                np.matmul(sc, V, out=o)
                np.divide(o, r, out=o)
                return o
            return run
        return [("batched matmul", bmm)]

    if name == "w4":
        X = a["X"]
        n, d = s["N"], s["D"]

        def whole():
            t = np.empty((n, d), f32)
            m = np.empty((n, 1), f32)
            y = np.empty(n, f32)

            def run():
                np.max(X, axis=1, keepdims=True, out=m)
                np.subtract(X, m, out=t)
                np.exp(t, out=t)
                np.sum(t, axis=1, out=y)
                return y
            return run

        def rowblocks():
            # the same on blocks of rows small enough to stay in cache
            rows = max(1, min(n, (256 << 10) // (4 * d)))
            t = np.empty((rows, d), f32)
            m = np.empty((rows, 1), f32)
            y = np.empty(n, f32)

            def run():
                for i in range(0, n, rows):
                    x = X[i:i + rows]
                    k = x.shape[0]
                    np.max(x, axis=1, keepdims=True, out=m[:k])
                    np.subtract(x, m[:k], out=t[:k])
                    np.exp(t[:k], out=t[:k])
                    np.sum(t[:k], axis=1, out=y[i:i + k])
                return y
            return run
        return [("out=", whole), ("out= row blocks", rowblocks)]

    if name == "w5":
        X, w, y = a["X"], a["w"], a["y"]
        n = s["N"]

        def gemv():
            z = np.empty(n, f32)
            g = np.empty(s["D"], f32)

            def run():
                np.matmul(X, w, out=z)
                np.negative(z, out=z)
                np.exp(z, out=z)
                np.add(z, 1, out=z)
                np.reciprocal(z, out=z)
                np.subtract(z, y, out=z)
                np.matmul(z, X, out=g)
                np.divide(g, f32(n), out=g)
                return g
            return run
        return [("gemv out=", gemv)]

    if name == "w7":
        X, Yt, W1, W2 = a["X"], a["Yt"], a["W1"], a["W2"]
        n, d, h, c = s["N"], s["D"], s["H"], s["C"]

        def handwritten():
            # the backward pass by hand, in place: dZ = (softmax(Z) - Yt) / N,
            # dW2 = Hd^T dZ, dHd = dZ W2^T masked by Hd > 0, dW1 = X^T dHd
            hd = np.empty((n, h), f32)
            mask = np.empty((n, h), bool)
            z = np.empty((n, c), f32)
            m = np.empty((n, 1), f32)
            r = np.empty((n, 1), f32)
            yz = np.empty(n, f32)
            dw1, w1n = np.empty((d, h), f32), np.empty((d, h), f32)
            dw2, w2n = np.empty((h, c), f32), np.empty((h, c), f32)
            lr = f32(0.01)

            def run():
                np.matmul(X, W1, out=hd)
                np.maximum(hd, 0, out=hd)
                np.greater(hd, 0, out=mask)
                np.matmul(hd, W2, out=z)
                np.einsum("ic,ic->i", Yt, z, out=yz)
                np.max(z, axis=1, keepdims=True, out=m)
                np.subtract(z, m, out=z)
                np.exp(z, out=z)
                np.sum(z, axis=1, keepdims=True, out=r)
                loss = np.mean(m[:, 0] + np.log(r[:, 0]) - yz)
                np.divide(z, r, out=z)
                np.subtract(z, Yt, out=z)
                np.multiply(z, f32(1.0 / n), out=z)
                np.matmul(hd.T, z, out=dw2)
                np.matmul(z, W2.T, out=hd)
                np.multiply(hd, mask, out=hd)
                np.matmul(X.T, hd, out=dw1)
                np.multiply(dw1, lr, out=dw1)
                np.subtract(W1, dw1, out=w1n)
                np.multiply(dw2, lr, out=dw2)
                np.subtract(W2, dw2, out=w2n)
                return w1n if loss == loss else None
            return run
        return [("backward by hand, out=", handwritten)]

    if name == "w6":
        X, Y = a["X"], a["Y"]

        def matmul():
            z = np.empty((s["B"], s["I"], s["K"]), f32)
            return lambda: np.matmul(X, Y, out=z)
        return [("matmul", matmul)]
    if name == "shared_weight":
        W, X = a["W"], a["X"]

        def bmatmul():
            y = np.empty((s["N"], s["O"], s["P"]), f32)
            return lambda: np.matmul(W, X, out=y)      # W broadcast over n

        def einsum():
            return lambda: np.einsum("ok,nkp->nop", W, X, optimize=True)
        return [("matmul(broadcast W)", bmatmul), ("einsum(optimize)", einsum)]
    if name == "middle_axis":
        C, T1 = a["C"], a["T1"]

        def bmatmul():
            t2 = np.empty((s["I"], s["J"], s["R"]), f32)
            return lambda: np.matmul(C.T, T1, out=t2)  # C^T broadcast over i

        def einsum():
            return lambda: np.einsum("qj,iqr->ijr", C, T1, optimize=True)
        return [("matmul(broadcast C^T)", bmatmul), ("einsum(optimize)", einsum)]
    if name in ("ao2mo_steps", "ao2mo_one"):
        C, G = a["C"], a["G"]

        def tensordot():
            return lambda: _ao2mo_tensordot(np, C, G)

        def einsum():
            path = np.einsum_path("pi,qj,rk,sl,pqrs->ijkl", C, C, C, C, G, optimize="optimal")[0]
            return lambda: np.einsum("pi,qj,rk,sl,pqrs->ijkl", C, C, C, C, G, optimize=path)
        return [("tensordot x4", tensordot), ("einsum(optimal path)", einsum)]

    if name == "colsum":
        X = a["X"]

        def colsum():
            y = np.empty(s["D"], f32)
            return lambda: np.sum(X, axis=0, out=y)

        def gemv():
            # ones @ X: OpenBLAS's sgemv, on T threads
            one = np.ones(s["N"], f32)
            y = np.empty(s["D"], f32)
            return lambda: np.matmul(one, X, out=y)
        return [("sum(axis=0, out=)", colsum), ("ones @ X", gemv)]

    if name == "tanh":
        X = a["X"]

        def tanh():
            y = np.empty_like(X)
            return lambda: np.tanh(X, out=y)
        return [("tanh(out=)", tanh)]

    if name == "short_rows":
        X = a["X"]

        def exp():
            y = np.empty_like(X)
            return lambda: np.exp(X, out=y)
        return [("exp(out=)", exp)]

    if name == "rotate":
        R, P = a["R"], a["P"]

        def matmul():
            y = np.empty((P.shape[0], P.shape[1], 1), f32)
            p = P[:, :, None]
            return lambda: np.matmul(R, p, out=y)
        return [("matmul(out=)", matmul),
                ("einsum", lambda: lambda: np.einsum("nij,nj->ni", R, P))]

    if name == "argmax":
        X = a["X"]

        def argmax():
            m = np.empty(s["N"], np.int64)
            return lambda: np.argmax(X, axis=1, out=m)
        return [("argmax(axis=1, out=)", argmax)]
    if name == "llama":
        return [("matmul + GQA batched", lambda: lambda: _llama(np, s, **a))]
    if name == "embed":
        E, tok = a["E"], a["tok"]

        def take():
            y = np.empty((tok.shape[0], E.shape[1]), f32)
            return lambda: np.take(E, tok, axis=0, out=y)

        def fancy():
            return lambda: E[tok]
        return [("E[tok]", fancy), ("take(out=)", take)]
    if name == "conv1d":
        x, w = a["x"], a["w"]
        return [("correlate(same)", lambda: lambda: np.correlate(x, w, "same"))]
    if name == "conv":
        X, K = a["X"], a["K"]
        n, c, h, w = X.shape
        o, _, r, _ = K.shape

        def im2col():
            xp = np.zeros((n, c, h + r - 1, w + r - 1), f32)
            cols = np.empty((n, c, r, r, h, w), f32)
            y = np.empty((n, o, h, w), f32)
            return lambda: _conv_im2col(np, X, K, cols, xp, y)
        return [("im2col + matmul", im2col)]
    raise ValueError(name)


def torch_variants(torch, name, a, s):
    """[(variant name, factory)] for PyTorch, float32, no autograd."""
    t = {k: torch.from_numpy(v) for k, v in a.items()}
    if name == "w1":
        return [("linalg.multi_dot",
                 lambda: lambda: torch.linalg.multi_dot([t["A"], t["B"], t["C"]]))]
    if name == "w2":
        def mlp():
            h = torch.empty(s["N"], s["H"])
            y = torch.empty(s["N"], s["C"])

            def run():
                torch.matmul(t["X"], t["W1"], out=h)
                h.relu_()
                torch.matmul(h, t["W2"], out=y)
                return torch.softmax(y, dim=1)
            return run
        return [("matmul+softmax", mlp)]
    if name == "w3":
        Q, K, V = t["Q"], t["K"], t["V"]
        out = [("matmul+softmax", lambda: lambda:
                torch.softmax(torch.matmul(Q, K.transpose(-1, -2)) / 8, dim=-1) @ V)]
        sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
        if sdpa is not None:    # scale 1/sqrt(64) = 1/8
            out.append(("scaled_dot_product_attention", lambda: lambda: sdpa(Q, K, V)))
        return out
    if name == "w4":
        X = t["X"]
        return [("exp-sum", lambda: lambda:
                 torch.exp(X - X.amax(dim=1, keepdim=True)).sum(dim=1))]
    if name == "w5":
        X, w, y = t["X"], t["w"], t["y"]
        n = s["N"]
        return [("mv", lambda: lambda: (X.T @ (torch.sigmoid(X @ w) - y)) / n)]
    if name == "w6":
        def bmm():
            z = torch.empty(s["B"], s["I"], s["K"])
            return lambda: torch.bmm(t["X"], t["Y"], out=z)
        return [("bmm", bmm)]
    if name == "shared_weight":
        return [("matmul", lambda: lambda: torch.matmul(t["W"], t["X"]))]
    if name == "middle_axis":
        return [("matmul", lambda: lambda: torch.matmul(t["C"].T, t["T1"]))]
    if name in ("ao2mo_steps", "ao2mo_one"):
        C, G = t["C"], t["G"]

        def steps():
            def run():
                v = G
                for _ in range(4):
                    v = torch.tensordot(v, C, dims=([0], [0]))
                return v
            return run
        return [("tensordot x4", steps)]
    if name == "colsum":
        return [("sum(0)", lambda: lambda: t["X"].sum(dim=0))]
    if name == "tanh":
        def tanh():
            y = torch.empty_like(t["X"])
            return lambda: torch.tanh(t["X"], out=y)
        return [("tanh(out=)", tanh)]
    if name == "short_rows":
        def exp():
            y = torch.empty_like(t["X"])
            return lambda: torch.exp(t["X"], out=y)
        return [("exp(out=)", exp)]
    if name == "rotate":
        return [("bmm", lambda: lambda: torch.bmm(t["R"], t["P"].unsqueeze(2)))]
    if name == "argmax":
        return [("argmax(1)", lambda: lambda: torch.argmax(t["X"], dim=1))]
    if name == "conv1d":
        return [("conv1d", lambda: lambda: torch.nn.functional.conv1d(t["x"].view(1, 1, -1), t["w"].view(1, 1, -1),
                                                                      padding=4))]
    if name == "conv":
        return [("conv2d", lambda: lambda: torch.nn.functional.conv2d(t["X"], t["K"], padding=1))]
    if name == "embed":
        tok = t["tok"].long()
        return [("embedding", lambda: lambda: torch.nn.functional.embedding(tok, t["E"]))]
    raise ValueError(name)


def rel_err(np, got, ref):
    """Normwise relative error max|got - ref| / max|ref|, or inf/None."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != ref.shape:
        return None
    if not np.all(np.isfinite(got)):
        return math.inf
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    return diff / scale if scale > 0 else diff


def worker(args):
    """Child process: time one workload in NumPy or PyTorch, print JSON.

    Runs with OPENBLAS_NUM_THREADS etc. already set by the parent, so the
    BLAS is loaded with the right thread count."""
    w = BY_NAME[args.workload]
    s = w["small"] if args.small else w["sizes"]
    res = {"variants": {}}
    try:
        import numpy as np
        if args.worker == "torch":
            import torch
            torch.set_num_threads(args.threads)
            res["version"] = torch.__version__
        else:
            res["version"] = np.__version__
    except Exception as e:      # noqa: BLE001 - report whatever went wrong
        print(json.dumps({"error": "import: %s" % e}))
        return 0
    rng = np.random.default_rng(1)
    dt = np.float64 if dtype_of(w) == "f64" else np.float32
    a = {k: (rng.random(shape_of(d, s), dtype=dt) * 2 - 1)
         for k, d in w["inputs"].items() if k not in w.get("index", {})}
    for k, size in w.get("index", {}).items():  # indices: int32 in [0, size)
        a[k] = rng.integers(0, s[size], size=shape_of(w["inputs"][k], s)).astype(np.int32)
    ref = reference(np, base(w), a, s) if args.small else None
    if args.worker == "torch":
        ctx = torch.inference_mode() if hasattr(torch, "inference_mode") else torch.no_grad()
        with ctx:
            variants = torch_variants(torch, base(w), a, s)
            _time_variants(np, variants, args.repeat, ref, res)
    else:
        _time_variants(np, numpy_variants(np, base(w), a, s), args.repeat, ref, res)
    ok = {k: v for k, v in res["variants"].items() if "median_ms" in v}
    if ok:
        best = min(ok, key=lambda k: ok[k]["median_ms"])
        res["best"] = best
        res["median_ms"] = ok[best]["median_ms"]
    else:
        res["error"] = "; ".join("%s: %s" % (k, v.get("error"))
                                 for k, v in res["variants"].items())
    print(json.dumps(res))
    return 0


def _time_variants(np, variants, repeat, ref, res):
    for vname, factory in variants:
        try:
            run = factory()
            out = run()                         # warm-up, untimed
            if ref is not None:
                res["variants"].setdefault(vname, {})["err"] = rel_err(
                    np, out.numpy() if hasattr(out, "numpy") else out, ref)
            ms = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                run()
                ms.append((time.perf_counter() - t0) * 1e3)
            res["variants"].setdefault(vname, {}).update(
                median_ms=statistics.median(ms), min_ms=min(ms))
        except Exception as e:  # noqa: BLE001
            res["variants"].setdefault(vname, {})["error"] = "%s: %s" % (type(e).__name__, e)


# ---------------------------------------------------------------------------
# The parent: environment, trac, the peers, the table.
# ---------------------------------------------------------------------------

def child_env(threads, coretype):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(threads)
    if coretype == "unset":
        env.pop("OPENBLAS_CORETYPE", None)
    elif coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    return env


def run_cmd(cmd, env, timeout, cwd=None):
    """(returncode or None, stdout, stderr, seconds); None on timeout/OSError."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        return (p.returncode, p.stdout.decode(errors="replace"),
                p.stderr.decode(errors="replace"), time.perf_counter() - t0)
    except subprocess.TimeoutExpired:
        return None, "", "timed out after %gs" % timeout, time.perf_counter() - t0
    except OSError as e:
        return None, "", str(e), time.perf_counter() - t0


def reason(rc, err, out=""):
    """A one-line reason from a failed command's output."""
    lines = [ln.strip() for ln in (err + "\n" + out).splitlines() if ln.strip()]
    # trac's own diagnostic first (not the linker's it reports on), then any error
    errs = [ln for ln in lines if "error" in ln.lower()]
    pick = next((ln for ln in errs if ln.startswith("trac:")),
                errs[0] if errs else (lines[-1] if lines else ""))
    other = next((ln for ln in lines if ln != pick and ("error" in ln.lower() or
                                                       "undefined" in ln)), None)
    if pick.startswith("trac:") and other:     # what the tool it ran said
        pick = "%s [%s]" % (pick.rstrip(":"), other)
    if rc is None:          # run_cmd's "timed out" or the OSError
        msg = pick or "could not run"
    else:
        head = "killed by signal %d" % -rc if rc < 0 else "exit %d" % rc
        msg = "%s: %s" % (head, pick) if pick else head
    return msg if len(msg) <= 300 else msg[:297] + "..."


TIME_RE = re.compile(r"time:\s*runs=(\d+)\s+median_ms=([-+0-9.eEinfa]+)\s+min_ms=([-+0-9.eEinfa]+)")
SGEMM_RE = re.compile(r"gflops=([0-9.]+)")
MEM_RE = re.compile(r"gbs=([0-9.]+)")


def sgemm_peak(args, env):
    """Build and run sgemm_peak; returns (gflops or None, line or reason)."""
    exe = os.path.join(args.builddir, "sgemm_peak")
    cc = shlex.split(args.cc or os.environ.get("CC") or "cc")
    cflags, libs = args.blas_cflags, args.blas_libs
    if cflags is None or libs is None:
        rc, out, _, _ = run_cmd(["pkg-config", "--cflags", "openblas"], env, 30)
        pc_cflags = out.strip() if rc == 0 else ""
        rc2, out2, _, _ = run_cmd(["pkg-config", "--libs", "openblas"], env, 30)
        pc_libs = out2.strip() if rc2 == 0 and out2.strip() else "-lopenblas"
        cflags = pc_cflags if cflags is None else cflags
        libs = pc_libs if libs is None else libs
    n, runs = (1024, 3) if args.small else (4096, 5)
    return run_peak(args, env, "sgemm_peak", [["-O2"] + shlex.split(cflags)], shlex.split(libs),
                    [n, runs], SGEMM_RE)


def mem_peak(args, env):
    """Build and run mem_peak (the read bandwidth of args.threads threads);
    returns (GB/s or None, line or reason)."""
    mib, runs = (64, 3) if args.small else (1024, 7)
    return run_peak(args, env, "mem_peak", [["-O3", "-march=native"], ["-O3"]], ["-pthread"],
                    [mib, runs, args.threads], MEM_RE)


def run_peak(args, env, name, flag_sets, libs, run_args, regex):
    """Builds bench/NAME.c with the first of flag_sets the compiler takes,
    runs it with run_args, and returns (the number regex finds in its line
    or None, the line or why not)."""
    exe = os.path.join(args.builddir, name)
    cc = shlex.split(args.cc or os.environ.get("CC") or "cc")
    rc, out, err, cmd = 1, "", "", []
    for flags in flag_sets:
        cmd = cc + flags + ["-std=c11", os.path.join(HERE, name + ".c"), "-o", exe] + libs
        rc, out, err, _ = run_cmd(cmd, env, 120)
        if rc == 0:
            break
    if rc != 0:
        return None, "build failed (%s): %s" % (" ".join(cmd), reason(rc, err, out))
    rc, out, err, _ = run_cmd([exe] + [str(a) for a in run_args], env, args.timeout)
    m = regex.search(out)
    if rc != 0 or not m:
        return None, "run failed: " + reason(rc, err, out)
    return float(m.group(1)), out.strip()


def describe_mem(bw, line):
    if bw is None:
        return "failed: " + line
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    return ("%.1f GB/s  (%s threads summing %s MiB, best of %s after a warm-up, median %s)"
            % (bw, f.get("threads"), f.get("mib"), f.get("runs"), f.get("gbs_median")))


def describe_peak(peak, line):
    if peak is None:
        return "failed: " + line
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    return ("%.1f GFLOP/s  (cblas_sgemm n=%s, best of %s after a warm-up, median %s; "
            "OpenBLAS kernels: %s)" % (peak, f.get("n"), f.get("runs"),
                                       f.get("gflops_median"), f.get("core")))


def probe(python, env, code):
    rc, out, _, _ = run_cmd([python, "-c", code], env, 120)
    return out.strip() if rc == 0 else None


def run_peer(args, env, kind, w):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind,
           "--workload", w["name"], "--threads", str(args.threads),
           "--repeat", str(args.repeat)] + (["--small"] if args.small else [])
    rc, out, err, _ = run_cmd(cmd, env, args.timeout)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if rc != 0 or not lines:
        return {"error": reason(rc, err, out)}
    try:
        return json.loads(lines[-1])
    except ValueError:
        return {"error": "unreadable worker output: " + lines[-1][:100]}


def check_trac_output(w, s, outdir, seed, tol):
    """Compare trac's output file with the float64 reference; (ok, text)."""
    import numpy as np
    name, dims = w["output"]
    path = os.path.join(outdir, name + ".npy")
    try:
        got = np.load(path)
    except Exception as e:  # noqa: BLE001
        return False, "no output %s (%s)" % (path, e)
    want_shape = shape_of(dims, s)
    want_dtype = {"f64": np.float64, "f32": np.float32, "i64": np.int64}[w.get("out_dtype", dtype_of(w))]
    if got.shape != want_shape or got.dtype != want_dtype:
        return False, "%s is %s %s, expected %s %s" % (name, got.shape, got.dtype, want_shape,
                                                       np.dtype(want_dtype).name)
    inputs = trac_inputs(w, s, seed)
    if inputs is None:
        return None, "skipped (tests/trart_random.py not found)"
    err = rel_err(np, got, reference(np, base(w), inputs, s))
    ok = err <= tol
    return ok, ("ok" if ok else "MISMATCH") + " (err %.1e)" % err


def trac_inputs(w, s, seed):
    """The inputs trac's --random=seed fills in, via tests/trart_random.py."""
    tests = os.path.join(SRCDIR, "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    try:
        from trart_random import random_fill, random_index
    except ImportError:
        return None
    index = w.get("index", {})
    return {k: random_index(shape_of(d, s), "i32", seed, k, s[index[k]]) if k in index
            else random_fill(shape_of(d, s), dtype_of(w), seed, k) for k, d in w["inputs"].items()}


def run_trac(args, env, w, s, row, backend=None):
    """Compile and run one workload with trac (with --backend=backend when
    given); fills row['trac_ms'] etc., and row['ms'][backend] and
    row['compile_s'][backend]. Returns the output directory, or None."""
    tra = os.path.join(HERE, w["file"])
    defs = []
    for k, v in s.items():
        defs += ["-D", "%s=%d" % (k, v)]
    # one directory per back end: the caller removes the others' while it
    # still checks the first's
    outdir = os.path.join(args.builddir, w["label"] + ("-" + backend if backend else "") + ".out")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir, exist_ok=True)
    if args.interpret:
        cmd = [args.trac, tra, "--interpret", "--random=1", "--output-dir", outdir] + defs
        rc, out, err, secs = run_cmd(cmd, env, args.timeout, cwd=args.builddir)
        if rc != 0:
            row["trac_fail"] = "interpret: " + reason(rc, err, out)
            return None
        row["notes"].append("trac --interpret took %.2f s (wall clock, not a timing)" % secs)
        return outdir
    suffix = "-" + backend if backend else ""
    fail = "trac_fail" if backend in (None, args.backends[0]) else backend + "_fail"
    exe = os.path.join(args.builddir, w["label"] + suffix)
    cmd = [args.trac, tra] + defs + shlex.split(args.trac_flags)
    if backend:
        cmd.append("--backend=" + backend)
    ms, secs, msg = compile_and_time(args, env, cmd, exe, outdir)
    if msg:
        row[fail] = msg
        return None
    row.setdefault("compile_s", {})[backend] = secs
    row.setdefault("ms", {})[backend] = ms[0]
    if fail == "trac_fail":
        row["trac_ms"], row["trac_min_ms"] = ms
        row["trac_exe"] = exe  # --rounds runs it again
        first, _ = time_exe(args, env, exe, outdir, repeat=1)
        if first:
            row["trac_first_ms"] = first[0]
    return outdir


def compile_and_time(args, env, cmd, exe, outdir):
    """Compiles with cmd + ['-o', exe] (timed: trac has no cache, so every
    compile is cold), runs exe with --random=1 --time into outdir: returns
    ((median ms, min ms), compile seconds, None), or (None, None, why)."""
    if os.path.exists(exe):
        os.remove(exe)
    rc, out, err, secs = run_cmd(cmd + ["-o", exe], env, args.timeout, cwd=args.builddir)
    if rc != 0 or not os.path.exists(exe):
        return None, None, "compile: " + (reason(rc, err, out) if rc != 0
                                          else "trac exited 0 but wrote no " + exe)
    ms, msg = time_exe(args, env, exe, outdir)
    return (ms, secs, None) if ms else (None, None, msg)


def time_exe(args, env, exe, outdir, repeat=None):
    """Runs the compiled exe with --random=1 --time into outdir, --repeat
    args.repeat times unless repeat says: returns ((median ms, min ms),
    None), or (None, why). repeat=1 times a fresh process's only run, the
    one a user who runs the program once waits for."""
    cmd = [exe, "--random=1", "--threads", str(args.threads), "--repeat",
           str(repeat or args.repeat), "--time", "--output-dir", outdir]
    rc, out, err, _ = run_cmd(cmd, env, args.timeout, cwd=args.builddir)
    if rc != 0:
        return None, "run: " + reason(rc, err, out)
    m = None
    for m in TIME_RE.finditer(err + "\n" + out):   # stderr, as specified; the last
        pass
    if m is None:
        return None, "run: no 'time: runs=N median_ms=X min_ms=Y' line on stderr"
    return (float(m.group(2)), float(m.group(3))), None


def more_rounds(args, env, w, row):
    """--rounds R > 1: R - 1 more rounds of trac's first back end (the
    binary already built) and NumPy's fastest formulation, one after the
    other, so that both see the same drift of the machine; trac ms and
    numpy ms become the medians of the rounds, and trac/numpy the median
    of the rounds' ratios."""
    if args.rounds < 2 or not row.get("trac_ms") or not row.get("numpy_ms"):
        return
    exe = row["trac_exe"]
    outdir = os.path.join(args.builddir, w["label"] + "-rounds.out")
    os.makedirs(outdir, exist_ok=True)
    trac, numpy = [row["trac_ms"]], [row["numpy_ms"]]
    for _ in range(args.rounds - 1):
        ms, _ = time_exe(args, env, exe, outdir)
        res = run_peer(args, env, "numpy", w)
        if ms and "median_ms" in res:
            trac.append(ms[0])
            numpy.append(res["median_ms"])
    shutil.rmtree(outdir, ignore_errors=True)
    ratios = [t / n for t, n in zip(trac, numpy)]
    row["trac_ms"], row["numpy_ms"] = statistics.median(trac), statistics.median(numpy)
    row["ratio"] = statistics.median(ratios)
    row["notes"].append("%d rounds: trac/numpy %s" % (len(ratios), ", ".join("%.2f" % r for r in ratios)))


def trac_backends(args, env):
    """The back ends to compare: --backends, or every one this trac has
    (llvm, its default where built, first)."""
    if args.backends_arg:
        return [b.strip() for b in args.backends_arg.split(",") if b.strip()]
    rc, _, _, _ = run_cmd([args.trac, "--backend=llvm", "--version"], env, 60)
    return ["llvm", "c"] if rc == 0 else ["c"]


def trac_blas_core(args, env):
    """(core, chose): the OpenBLAS kernels a trac program runs with under
    env, and the core OpenBLAS chose itself where the program replaced it
    (OpenBLAS's Prescott fallback on a CPU it does not know; runtime/exec.c),
    else None; (None, None) if it cannot tell."""
    tra = os.path.join(args.builddir, "blas-core.tra")
    exe = os.path.join(args.builddir, "blas-core")
    with open(tra, "w") as f:
        f.write("input A[2, 2], B[2, 2]\nC[i, k] = sum[j](A[i, j] * B[j, k])\noutput C\n")
    rc, _, _, _ = run_cmd([args.trac, tra, "-o", exe], env, 120)
    if rc != 0:
        return None, None
    rc, _, err, _ = run_cmd([exe, "--random", "--stats", "--output-dir", args.builddir], env, 60)
    m = re.search(r"^blas: OpenBLAS, (\S+) kernels(?: \(.*OpenBLAS chose (\S+)\))?$", err, re.M)
    return (m.group(1), m.group(2)) if rc == 0 and m else (None, None)


def run_samples(args, env):
    """Every samples/*.tra at its own sizes under each back end: the compile
    time (cold) and the run time. Returns rows for print_samples_table."""
    rows = []
    for tra in sorted(glob.glob(os.path.join(SRCDIR, "samples", "*.tra"))):
        name = os.path.splitext(os.path.basename(tra))[0]
        row = {"name": name, "ms": {}, "compile_s": {}, "fail": {}}
        outdir = os.path.join(args.builddir, "sample-" + name + ".out")
        os.makedirs(outdir, exist_ok=True)
        print("running sample %s ..." % name, file=sys.stderr, flush=True)
        for b in args.backends:
            exe = os.path.join(args.builddir, "sample-%s-%s" % (name, b))
            ms, secs, msg = compile_and_time(args, env, [args.trac, tra, "--backend=" + b],
                                             exe, outdir)
            if msg:
                row["fail"][b] = msg
            else:
                row["ms"][b], row["compile_s"][b] = ms[0], secs
        shutil.rmtree(outdir, ignore_errors=True)
        rows.append(row)
    return rows


def print_table(hdr, table, title=None):
    widths = [max(len(str(c)) for c in col) for col in zip(hdr, *table)]
    print()
    if title:
        print(title)
    for cells in [hdr, ["-" * wd for wd in widths]] + table:
        print("  ".join(str(c).ljust(wd) if i == 0 else str(c).rjust(wd)
                        for i, (c, wd) in enumerate(zip(cells, widths))).rstrip())


def print_backend_tables(args, rows, samples):
    """Run times of the workloads and samples under each back end, then
    compile times and their medians."""
    bs = args.backends
    first = bs[0]
    hdr = ["program"] + ["%s ms" % b for b in bs] + ["%s/%s" % (first, b) for b in bs[1:]]
    table = []
    for r in rows + samples:
        ms = r.get("ms", {})
        fails = r.get("fail", {})
        cells = [r["name"]]
        for b in bs:
            failed = b in fails or (b == first and "trac_fail" in r) or b + "_fail" in r
            cells.append("failed" if failed else fmt(ms.get(b), ".2f"))
        for b in bs[1:]:
            cells.append(fmt(ms[first] / ms[b] if ms.get(first) and ms.get(b) else None, ".3f"))
        table.append(cells)
    print_table(hdr, table, "run time by back end (workloads, then samples at their own sizes; "
                "medians of %d runs):" % args.repeat)
    hdr = ["program"] + ["%s compile s" % b for b in bs]
    table = [[r["name"]] + [fmt(r.get("compile_s", {}).get(b), ".3f") for b in bs]
             for r in rows + samples]
    med = []
    for b in bs:
        xs = [r["compile_s"][b] for r in rows + samples if b in r.get("compile_s", {})]
        med.append(fmt(statistics.median(xs) if xs else None, ".3f"))
    table.append(["median"] + med)
    print_table(hdr, table, "compile time by back end (trac prog.tra -o prog, wall clock, no "
                "cache: every compile is cold):")
    for r in samples:
        for b, msg in r["fail"].items():
            print("  sample %s: %s failed: %s" % (r["name"], b, msg))


def print_first_runs(args, rows):
    """A fresh process's only run (--repeat 1) against the median of
    --repeat runs, under the first back end: what a program run once
    costs beyond its steady state (the page faults of its memory, threads
    starting, OpenBLAS's buffers)."""
    table = [[r["name"], fmt(r["trac_first_ms"], ".2f"), fmt(r.get("trac_ms"), ".2f"),
              fmt(r["trac_first_ms"] / r["trac_ms"] if r.get("trac_ms") else None, ".2f")]
             for r in rows if "trac_first_ms" in r]
    if table:
        print_table(["program", "first run ms", "median ms", "first/median"], table,
                    "first runs (%s back end; a fresh process with --repeat 1, against the "
                    "median of --repeat %d):" % (args.backends[0], args.repeat))


PLAN_RE = re.compile(r"simulated makespan:\s*([0-9.eE+-]+)\s*(us|ms|s)\b")


def run_tasks(args, env, w, s, row):
    """The workload as a block task graph (trac --devices=T): its time on 1
    and T threads, and the makespan trac's simulator predicts for it."""
    tra = os.path.join(HERE, w["file"])
    defs = []
    for k, v in s.items():
        defs += ["-D", "%s=%d" % (k, v)]
    devices = "--devices=%d" % args.threads
    rc, out, err, _ = run_cmd([args.trac, tra, devices, "--emit=plan"] + defs, env,
                              args.timeout, cwd=args.builddir)
    m = PLAN_RE.search(out)
    if rc == 0 and m:
        row["sim_ms"] = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    exe = os.path.join(args.builddir, w["label"] + "-tasks")
    rc, out, err, _ = run_cmd([args.trac, tra, devices, "-o", exe] + defs, env,
                              args.timeout, cwd=args.builddir)
    if rc != 0:
        row["tasks_fail"] = "compile: " + reason(rc, err, out)
        return
    outdir = os.path.join(args.builddir, w["label"] + "-tasks.out")
    for t in sorted({1, args.threads}):
        cmd = [exe, "--random=1", "--threads", str(t), "--repeat", str(args.repeat),
               "--time", "--output-dir", outdir]
        rc, out, err, _ = run_cmd(cmd, env, args.timeout, cwd=args.builddir)
        tm = None
        for tm in TIME_RE.finditer(err + "\n" + out):
            pass
        if rc != 0 or tm is None:
            row["tasks_fail"] = "run: " + reason(rc, err, out)
            return
        row["tasks_%d_ms" % t] = float(tm.group(2))
    shutil.rmtree(outdir, ignore_errors=True)


def print_tasks_table(args, rows):
    """The block-task table: 1 and T threads, speed-up, simulated makespan."""
    t = args.threads
    hdr = ["workload", "tasks 1 thr ms", "tasks %d thr ms" % t, "speed-up",
           "simulated ms", "measured/simulated"]
    table = []
    for r in rows:
        one, many, sim = r.get("tasks_1_ms"), r.get("tasks_%d_ms" % t), r.get("sim_ms")
        table.append([r["name"], "failed" if "tasks_fail" in r else fmt(one, ".2f"),
                      "failed" if "tasks_fail" in r else fmt(many, ".2f"),
                      fmt(one / many if one and many else None, ".2f"),
                      fmt(sim, ".2f"), fmt(many / sim if many and sim else None, ".2f")])
    widths = [max(len(str(c)) for c in col) for col in zip(hdr, *table)]
    print()
    print("block task graphs (trac --devices=%d: decomposed, placed, run by the event-driven "
          "executor):" % t)
    print("  ".join(str(c).ljust(wd) if i == 0 else str(c).rjust(wd)
                    for i, (c, wd) in enumerate(zip(hdr, widths))))
    print("  ".join("-" * wd for wd in widths))
    for cells in table:
        print("  ".join(str(c).ljust(wd) if i == 0 else str(c).rjust(wd)
                        for i, (c, wd) in enumerate(zip(cells, widths))))
    for r in rows:
        if "tasks_fail" in r:
            print("  %s: tasks failed: %s" % (r["name"], r["tasks_fail"]))


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


# ---- memory budgets (trac --memory: compiler/memgraph.c) ---------------------------------

MEMORY_WORKLOADS = ("w2",)   # the workloads timed under a budget too
LEAST_RE = re.compile(r"the smallest budget that works is (\d+) bytes")
MEMLINE_RE = re.compile(r"memory: arena [^=]*= (\d+) bytes, offloaded [^=]*= (\d+) bytes in (\d+) blocks?, "
                        r"reloaded [^=]*= (\d+) bytes in (\d+) blocks?, reload wait ([0-9.]+) ms")


def spill_read_bandwidth(args, env):
    """Bytes/s dd reads a 256 MiB file in the build directory back (written
    with fdatasync, read after dropping what it can of the page cache with
    posix_fadvise): the spill file's medium, measured in the same run."""
    path = os.path.join(args.builddir, "dd-probe")
    rc, _, err, _ = run_cmd(["dd", "if=/dev/zero", "of=" + path, "bs=1M", "count=256",
                             "conv=fdatasync"], env, args.timeout)
    if rc != 0:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    except (AttributeError, OSError):
        pass
    rc, _, err, secs = run_cmd(["dd", "if=" + path, "of=/dev/null", "bs=1M"], env, args.timeout)
    os.remove(path)
    return 256 * 1048576 / secs if rc == 0 and secs > 0 else None


TENSORS_RE = re.compile(r"^tensor bytes: (\d+)", re.M)


def run_memory_exe(args, env, base, exe, extra, row, key):
    """Compiles base + extra to exe and runs it (--random, --stats): its
    median time, bytes offloaded and reload wait per run, and the bytes of
    its tensors, into row under key; False (row["fail"] set) on failure."""
    rc, out, err, _ = run_cmd(base + extra + ["-o", exe], env, args.timeout, cwd=args.builddir)
    if rc != 0:
        row["fail"] = "compile %s: %s" % (key, reason(rc, err, out))
        return False
    outdir = exe + ".out"
    rc, out, err, _ = run_cmd([exe, "--random=1", "--threads", str(args.threads), "--repeat",
                               str(args.repeat), "--time", "--stats", "--spill-dir", args.builddir,
                               "--output-dir", outdir], env, args.timeout, cwd=args.builddir)
    shutil.rmtree(outdir, ignore_errors=True)
    tm = None
    for tm in TIME_RE.finditer(err):
        pass
    ml = MEMLINE_RE.search(err)
    tb = TENSORS_RE.search(err)
    if rc != 0 or tm is None or ml is None or tb is None:
        row["fail"] = "run %s: %s" % (key, reason(rc, err, out))
        return False
    row[key + "_ms"] = float(tm.group(2))
    row[key + "_offloaded"] = int(ml.group(2)) / max(args.repeat, 1)
    row[key + "_wait_ms"] = float(ml.group(6)) / max(args.repeat, 1)
    row[key + "_arena"] = int(ml.group(1))
    row["tensors"] = int(tb.group(1))
    return True


def run_memory(args, env, w, s):
    """The workload as block tasks unbounded and under a quarter of its
    working set: every tensor it holds unbounded (--stats's tensor bytes:
    inputs, intermediates, outputs), since a budget covers the blocks of
    all three (or the smallest budget that works, when a quarter cannot).
    Times, bytes offloaded, reload wait. Returns a row for
    print_memory_table."""
    tra = os.path.join(HERE, w["file"])
    defs = []
    for k, v in s.items():
        defs += ["-D", "%s=%d" % (k, v)]
    base = [args.trac, tra, "--devices=%d" % args.threads] + defs
    row = {"name": w["label"]}
    exe = os.path.join(args.builddir, "%s-memory-" % w["label"])
    if not run_memory_exe(args, env, base, exe + "unbounded", [], row, "unbounded"):
        return row
    budget = max(row["tensors"] // 4, 1)
    rc, out, err, _ = run_cmd(base + ["--memory=%d" % budget, "--emit=memgraph"], env, args.timeout,
                              cwd=args.builddir)
    m = LEAST_RE.search(err)
    if rc != 0 and m:
        budget = int(m.group(1))
        row["note"] = "a quarter does not fit the largest task; its smallest budget instead"
    row["budget"] = budget
    run_memory_exe(args, env, base, exe + "budget", ["--memory=%d" % budget], row, "budget")
    return row


# ---- out of core (trac --memory with inputs larger than the budget) ---------------------

OOC_SIZES = {"N": 1000000, "D": 1000}       # X of 4 GB (f32), as issue 12 asks
OOC_SMALL = {"N": 20000, "D": 1000}         # 80 MB, for --small
OOC_BUDGET, OOC_BUDGET_SMALL = 512 << 20, 16 << 20
OOC_CHUNK = 50000                           # rows of X written or reduced at once


def drop_cache(path):
    """Drops what it can of path from the page cache (posix_fadvise), so
    that the next read comes from the medium: False where it cannot."""
    try:
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        return True
    except (AttributeError, OSError):
        return False


OOC_DATA = r"""
import os, sys
import numpy as np
d, n, dim, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(5)
X = np.lib.format.open_memmap(os.path.join(d, "X.npy"), mode="w+", dtype="<f4", shape=(n, dim))
w = (rng.standard_normal(dim) / np.sqrt(dim)).astype("<f4")
y = (rng.random(n) < 0.5).astype("<f4")
g = np.zeros(dim)
for lo in range(0, n, chunk):
    hi = min(n, lo + chunk)
    x = rng.standard_normal((hi - lo, dim), dtype=np.float32)
    X[lo:hi] = x
    x = x.astype(np.float64)
    g += x.T @ (1 / (1 + np.exp(-(x @ w))) - y[lo:hi])
X.flush()
np.save(os.path.join(d, "w.npy"), w)
np.save(os.path.join(d, "y.npy"), y)
np.save(os.path.join(d, "want.npy"), g / n)
"""


def ooc_data(args, env, d, n, dim):
    """W5's inputs as .npy files in d (X written in chunks through a
    memory map, never whole in memory) and its gradient in float64,
    reduced chunk by chunk, as d/want.npy: in a process of its own, so
    that this one never holds X's pages (a child's peak resident memory
    counts its parent's at the fork). Returns None, or why it failed."""
    rc, out, err, _ = run_cmd([sys.executable, "-c", OOC_DATA, d, str(n), str(dim), str(OOC_CHUNK)], env,
                              args.timeout * 4)
    return None if rc == 0 else reason(rc, err, out)


def ooc_run(cmd, env, timeout, cwd):
    """Runs cmd: (returncode or None, stderr, seconds, peak RSS in bytes:
    its own, from wait4, not the largest of every child so far)."""
    import tempfile
    import threading
    with tempfile.TemporaryFile() as ef:
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=ef)
        except OSError as e:
            return None, str(e), 0, None
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        _, status, ru = os.wait4(p.pid, 0)
        timer.cancel()
        secs = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        ef.seek(0)
        err = ef.read().decode(errors="replace")
    if p.returncode == -9 and secs >= timeout:
        return None, "timed out after %gs" % timeout, secs, None
    return p.returncode, err, secs, ru.ru_maxrss * 1024


def run_outofcore(args, env):
    """W5 with X larger than the budget: X read from its file block by
    block. Each run starts with X out of the page cache, as dd's read of
    it does, measured in the same run: the row says how close trac's
    pass over X comes to the medium's read bandwidth."""
    try:
        import numpy as np
    except ImportError:
        return {"fail": "needs numpy to write X.npy and check g"}
    sizes = OOC_SMALL if args.small else OOC_SIZES
    budget = OOC_BUDGET_SMALL if args.small else OOC_BUDGET
    n, dim = sizes["N"], sizes["D"]
    d = os.path.join(args.builddir, "w5-outofcore")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    row = {"name": "w5 out of core", "x_bytes": n * dim * 4, "budget": budget}
    exe = os.path.join(d, "w5")
    rc, out, err, _ = run_cmd([args.trac, os.path.join(HERE, "w5_logreg.tra"), "-D", "N=%d" % n,
                               "-D", "D=%d" % dim, "--devices=%d" % args.threads,
                               "--memory=%d" % budget, "-o", exe], env, args.timeout)
    if rc != 0:
        row["fail"] = "compile: " + reason(rc, err, out)
        return row
    why = ooc_data(args, env, d, n, dim)
    if why:
        row["fail"] = "writing X.npy: " + why
        return row
    want = np.load(os.path.join(d, "want.npy"))
    xpath = os.path.join(d, "X.npy")
    cold = drop_cache(xpath)
    rc, _, err, secs = run_cmd(["dd", "if=" + xpath, "of=/dev/null", "bs=1M"], env, args.timeout)
    row["dd_bw"] = os.path.getsize(xpath) / secs if rc == 0 and secs > 0 else None
    times, peaks = [], []
    for _ in range(max(1, min(args.repeat, 3))):
        cold = drop_cache(xpath) and cold
        rc, err, secs, peak = ooc_run([exe, "--input", "X=" + xpath, "--input", "w=" + os.path.join(d, "w.npy"),
                                       "--input", "y=" + os.path.join(d, "y.npy"), "--threads",
                                       str(args.threads), "--stats", "--output-dir", d], env, args.timeout,
                                      None)
        if rc != 0:
            row["fail"] = "run: " + reason(rc, err)
            return row
        times.append(secs)
        peaks.append(peak)
    row["cold"] = cold
    row["ms"] = sorted(times)[len(times) // 2] * 1e3
    row["peak_rss"] = max(p for p in peaks if p is not None) if any(p is not None for p in peaks) else None
    m = re.search(r"read ([0-9.]+ [kMGT]?B) = (\d+) bytes", err)
    row["read"] = int(m.group(2)) if m else None
    got = np.load(os.path.join(d, "g.npy"))
    row["err"] = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))
    shutil.rmtree(d, ignore_errors=True)
    return row


def print_outofcore(args, r):
    hdr = ["workload", "X GB", "budget MB", "trac ms", "X GB/s", "dd GB/s", "of dd", "read GB",
           "peak RSS MB", "max rel err"]
    if "fail" in r:
        cells = [r["name"], "failed"] + ["-"] * (len(hdr) - 2)
    else:
        bw = r["x_bytes"] / (r["ms"] / 1e3)
        cells = [r["name"], fmt(r["x_bytes"] / 1e9, ".2f"), fmt(r["budget"] / 1048576, ".0f"),
                 fmt(r["ms"], ".0f"), fmt(bw / 1e9, ".2f"),
                 fmt(r["dd_bw"] / 1e9 if r["dd_bw"] else None, ".2f"),
                 fmt(bw / r["dd_bw"] if r["dd_bw"] else None, ".2f"),
                 fmt(r["read"] / 1e9 if r["read"] is not None else None, ".2f"),
                 fmt(r["peak_rss"] / 1048576 if r["peak_rss"] else None, ".0f"), fmt(r["err"], ".1e")]
    print_table(hdr, [cells], "out of core (W5 g = X^T (sigmoid(X w) - y) / N, X read from its .npy file "
                "under --memory; each run, and dd's, with X dropped from the page cache first; trac ms: "
                "the whole process, median):")
    if "fail" in r:
        print("  %s: %s" % (r["name"], r["fail"]))
    elif not r["cold"]:
        print("  X could not be dropped from the page cache: the reads may have come from memory")


def print_memory_table(args, rows, read_bw):
    hdr = ["workload", "tensors MB", "budget MB", "budget/tensors", "arena MB", "unbounded ms",
           "budget ms", "budget/unbounded", "offloaded MB/run", "reload wait ms/run"]
    table = []
    for r in rows:
        if "fail" in r:
            table.append([r["name"], "failed"] + ["-"] * (len(hdr) - 2))
            continue
        table.append([r["name"], fmt(r["tensors"] / 1e6, ".1f"), fmt(r["budget"] / 1e6, ".1f"),
                      fmt(r["budget"] / r["tensors"], ".2f"), fmt(r["budget_arena"] / 1e6, ".1f"),
                      fmt(r["unbounded_ms"], ".2f"), fmt(r["budget_ms"], ".2f"),
                      fmt(r["budget_ms"] / r["unbounded_ms"], ".2f"),
                      fmt(r["budget_offloaded"] / 1e6, ".1f"), fmt(r["budget_wait_ms"], ".2f")])
    print_table(hdr, table, "memory budgets (trac --devices=%d --memory=BUDGET; the spill file "
                "in the build directory):" % args.threads)
    if read_bw:
        print("  the build directory's medium: dd reads %.2f GB/s" % (read_bw / 1e9))
    for r in rows:
        if "fail" in r:
            print("  %s: %s" % (r["name"], r["fail"]))
        elif "note" in r:
            print("  %s: %s" % (r["name"], r["note"]))


# ---- MPI ranks (trac --ranks): 2 ranks x 1 worker against 1 rank x 2 workers ----------

RANKS_WORKLOADS = ("w1", "w2", "w6")
PLANRANK_RE = re.compile(r"^  rank (\d+): compute .*, sends (\d+) bytes, receives (\d+) bytes"
                         r"(?: \((\d+) of them outputs)?", re.M)
BOUND_RE = re.compile(r"^lower bound for \S+ .* on \d+ ranks: .* received per rank.*the plan's most "
                      r"\(outputs aside\): .*?(?:\(([0-9.]+)x\))?$", re.M)
BOUND_BYTES_RE = re.compile(r"^lower bound for (\S+) .*: ([0-9.]+ [kMG]?B) received per rank", re.M)
SIMSPAN_RE = re.compile(r"^simulated makespan: ([0-9.e+-]+) (us|ms|s)\b", re.M)
SENT_RE = re.compile(r"^rank (\d+): sent (\d+) bytes in \d+ pieces, received (\d+) bytes", re.M)


def _seconds(v, unit):
    return float(v) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def run_ranks(args, env, w, s, mpirun):
    """The workload on 1 rank of 2 workers (--devices=2, --threads 2) and
    on 2 ranks of 1 worker (--ranks=2 --devices=1, mpirun -np 2, --threads
    1): both times (rank 0's --time median), the plan's bytes between
    ranks, the lower bound on the bytes a rank receives and the plan's
    most, the simulated makespan of each against its measured time."""
    tra = os.path.join(HERE, w["file"])
    defs = []
    for k, v in s.items():
        defs += ["-D", "%s=%d" % (k, v)]
    row = {"name": w["label"]}
    exe = os.path.join(args.builddir, "%s-ranks-" % w["label"])
    for key, flags, launch, threads in (
            ("threads", ["--devices=2"], [], 2),
            ("ranks", ["--ranks=2", "--devices=1"],
             [mpirun, "--oversubscribe", "--allow-run-as-root", "-np", "2"], 1)):
        base = [args.trac, tra] + defs + flags
        rc, plan, err, _ = run_cmd(base + ["--emit=plan"], env, args.timeout, cwd=args.builddir)
        sp = SIMSPAN_RE.search(plan)
        if rc != 0 or sp is None:
            row["fail"] = "plan %s: %s" % (key, reason(rc, err, plan))
            return row
        row[key + "_sim_ms"] = _seconds(sp.group(1), sp.group(2)) * 1e3
        if key == "ranks":
            row["plan_bytes"] = sum(int(m.group(2)) for m in PLANRANK_RE.finditer(plan))
            row["plan_most"] = max(int(m.group(3)) for m in PLANRANK_RE.finditer(plan))
            b = BOUND_BYTES_RE.search(plan)
            row["bound"] = b.group(2) if b else "-"
            bx = BOUND_RE.search(plan)
            row["most_over_bound"] = float(bx.group(1)) if bx and bx.group(1) else None
        rc, out, err, _ = run_cmd(base + ["-o", exe + key], env, args.timeout, cwd=args.builddir)
        if rc != 0:
            row["fail"] = "compile %s: %s" % (key, reason(rc, err, out))
            return row
        outdir = exe + key + ".out"
        rc, out, err, _ = run_cmd(launch + [exe + key, "--random=1", "--threads", str(threads),
                                            "--repeat", str(args.repeat), "--time", "--stats",
                                            "--output-dir", outdir], env, args.timeout, cwd=args.builddir)
        shutil.rmtree(outdir, ignore_errors=True)
        tm = None
        for tm in TIME_RE.finditer(err):
            pass
        if rc != 0 or tm is None:
            row["fail"] = "run %s: %s" % (key, reason(rc, err, out))
            return row
        row[key + "_ms"] = min(float(m.group(2)) for m in TIME_RE.finditer(err)) \
            if key == "threads" else max(float(m.group(2)) for m in TIME_RE.finditer(err))
        if key == "ranks":
            row["sent"] = sum(int(m.group(2)) for m in SENT_RE.finditer(err))
    return row


def print_ranks_table(args, rows):
    hdr = ["workload", "1x2 ms", "2x1 ms", "2x1/1x2", "bytes moved", "bound/rank", "most recv/bound",
           "sim 1x2 ms", "sim 2x1 ms", "sim/measured 2x1"]
    table = []
    for r in rows:
        if "fail" in r:
            table.append([r["name"], "failed"] + ["-"] * (len(hdr) - 2))
            continue
        table.append([r["name"], fmt(r["threads_ms"], ".2f"), fmt(r["ranks_ms"], ".2f"),
                      fmt(r["ranks_ms"] / r["threads_ms"], ".2f"), "%d" % r["sent"], r["bound"],
                      fmt(r["most_over_bound"], ".2f") if r["most_over_bound"] is not None else "-",
                      fmt(r["threads_sim_ms"], ".2f"), fmt(r["ranks_sim_ms"], ".2f"),
                      fmt(r["ranks_sim_ms"] / r["ranks_ms"], ".2f")])
    print_table(hdr, table, "MPI ranks: 1 rank x 2 workers (--devices=2) against 2 ranks x 1 worker "
                "(--ranks=2 --devices=1, mpirun -np 2; its time: the slower rank's median):")
    for r in rows:
        if "fail" in r:
            print("  %s: %s" % (r["name"], r["fail"]))
        elif r["sent"] != r["plan_bytes"]:
            print("  %s: the ranks sent %d bytes, the plan says %d" % (r["name"], r["sent"], r["plan_bytes"]))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Time trac's compiled W1-W6 against NumPy, PyTorch and the sgemm peak.")
    ap.add_argument("--trac", default="./trac", help="the trac compiler (default ./trac)")
    ap.add_argument("--builddir", default="bench-build",
                    help="where binaries and outputs go (default bench-build)")
    ap.add_argument("--threads", type=int, default=2, help="threads for everyone (default 2)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (default 5)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of trac and NumPy, one after the other; trac/numpy is the "
                    "median of the rounds' ratios (default 1)")
    ap.add_argument("--only", default="", help="comma-separated workloads, e.g. w1,w4")
    ap.add_argument("--small", action="store_true",
                    help="small sizes: a smoke test that also checks trac's outputs")
    ap.add_argument("--interpret", action="store_true",
                    help="run `trac --interpret` instead of compiling (checks only, no timing)")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    ap.add_argument("--no-numpy", action="store_true", help="skip the NumPy timings")
    ap.add_argument("--trac-flags", default="", help="extra flags for `trac prog.tra -o prog`")
    ap.add_argument("--backends", dest="backends_arg", default="",
                    help="comma-separated back ends to time, the first the reference for "
                         "trac/numpy (default: llvm,c where trac has llvm, else c)")
    ap.add_argument("--no-samples", action="store_true",
                    help="skip the samples' run and compile times by back end")
    ap.add_argument("--no-ooc", action="store_true",
                    help="skip the out-of-core W5 (it writes X, 4 GB, to the build directory)")
    ap.add_argument("--no-tasks", action="store_true",
                    help="skip the block-task-graph table (trac --devices=T)")
    ap.add_argument("--no-ranks", action="store_true",
                    help="skip W1, W2, W6 on 2 MPI ranks against 2 threads (needs mpirun)")
    ap.add_argument("--cc", default=None, help="C compiler for sgemm_peak.c (default $CC or cc)")
    ap.add_argument("--blas-cflags", default=None, help="default: pkg-config --cflags openblas")
    ap.add_argument("--blas-libs", default=None,
                    help="default: pkg-config --libs openblas, else -lopenblas")
    ap.add_argument("--openblas-coretype", default=None, metavar="NAME|unset",
                    help="set (or with 'unset', remove) OPENBLAS_CORETYPE for every run")
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds per command: compile, run, peer (default 300)")
    ap.add_argument("--tol", type=float, default=DEFAULT_TOL,
                    help="normwise relative error allowed by the checks (default 1e-4)")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 if anything failed or mismatched (default: exit 0)")
    ap.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads < 1 or args.repeat < 1 or args.rounds < 1:
        ap.error("--threads, --repeat and --rounds must be at least 1")
    if args.worker:
        return worker(args)

    env = child_env(args.threads, args.openblas_coretype)
    # this process loads numpy only for --small's checks, after the thread
    # variables are set, so that its BLAS too sees them
    os.environ.update({k: env[k] for k in env if k.endswith("_NUM_THREADS")})
    if args.openblas_coretype is not None:
        if "OPENBLAS_CORETYPE" in env:
            os.environ["OPENBLAS_CORETYPE"] = env["OPENBLAS_CORETYPE"]
        else:
            os.environ.pop("OPENBLAS_CORETYPE", None)

    # PEERS.md's trap: the python3 first on PATH may not see Debian's numpy
    has_numpy = probe(sys.executable, env, "import numpy; print(numpy.__version__)")
    if has_numpy is None and os.environ.get(REEXEC_MARK) is None and \
            os.path.exists("/usr/bin/python3") and \
            os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        if probe("/usr/bin/python3", env, "import numpy") is not None:
            print("bench: %s cannot import numpy; re-running under /usr/bin/python3"
                  % sys.executable, flush=True)
            os.environ[REEXEC_MARK] = "1"
            os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__)]
                     + (sys.argv[1:] if argv is None else list(argv)))

    only = [x.strip() for x in args.only.split(",") if x.strip()]
    bad = [x for x in only if x not in BY_NAME]
    if bad:
        ap.error("unknown workload(s) %s; choose from %s" % (", ".join(bad), ", ".join(BY_NAME)))
    todo = [w for w in WORKLOADS if not only or w["name"] in only]
    args.backends = ["default"]  # --interpret compiles nothing
    args.builddir = os.path.abspath(args.builddir)
    os.makedirs(args.builddir, exist_ok=True)
    if os.sep in args.trac:
        args.trac = os.path.abspath(args.trac)
    torch_version = None
    if not args.no_torch:
        torch_version = probe(sys.executable, env, "import torch; print(torch.__version__)")

    # the header
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f
                          if ln.startswith("model name")), "")
    except OSError:
        pass
    # a trac program that finds OpenBLAS's fallback kernels sets
    # OPENBLAS_CORETYPE itself; the peers then get the same (PEERS.md)
    replaced = None
    if not args.interpret and "OPENBLAS_CORETYPE" not in env:
        core, replaced = trac_blas_core(args, env)
        if replaced:
            env["OPENBLAS_CORETYPE"] = os.environ["OPENBLAS_CORETYPE"] = core
    coretype = env.get("OPENBLAS_CORETYPE")
    print("trac bench: %s%s" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                "  (--small: reduced sizes, a smoke test)" if args.small else ""))
    print("cores: %s online, %s usable%s" % (os.cpu_count(), usable,
                                             " (%s)" % model if model else ""))
    print("threads: %d   repeat: %d   OPENBLAS_CORETYPE: %s" % (
        args.threads, args.repeat,
        "unset" if coretype is None else (repr(coretype) + " (empty: native kernels)"
                                          if coretype == "" else coretype)
        + ("  (set for every run, as trac's programs set it: OpenBLAS chose its %s "
           "kernels on this CPU; trac(1), ENVIRONMENT)" % replaced if replaced else "")))
    print("python: %s   numpy: %s   torch: %s" % (
        sys.executable, has_numpy or "not importable",
        torch_version or ("skipped" if args.no_torch else "not importable")))
    if not args.interpret:
        args.backends = trac_backends(args, env)
    print("trac: %s%s" % (args.trac, "  (--interpret: reference interpreter)"
                          if args.interpret else "   back ends: " + ", ".join(args.backends)))
    sys.stdout.flush()
    peak, peak_line = sgemm_peak(args, env)
    print("sgemm peak: " + describe_peak(peak, peak_line))
    bw, bw_line = mem_peak(args, env)
    print("read bandwidth: " + describe_mem(bw, bw_line))
    print(flush=True)

    rows = []
    for w in todo:
        s = w["small"] if args.small else w["sizes"]
        row = {"name": w["label"], "gflop": w["flops"](s) / 1e9, "notes": [],
               "least_bytes": w["bytes"](s) if "bytes" in w else None,
               "trac_ms": None, "numpy_ms": None, "torch_ms": None, "check": None}
        print("running %s ..." % w["label"], file=sys.stderr, flush=True)
        if args.interpret:
            outdir = run_trac(args, env, w, s, row)
        else:
            outdir = run_trac(args, env, w, s, row, args.backends[0])
            for b in args.backends[1:]:
                shutil.rmtree(run_trac(args, env, w, s, row, b) or "", ignore_errors=True)
        if not args.no_tasks and not args.interpret:
            run_tasks(args, env, w, s, row)
        if outdir is not None and (args.small or args.interpret):
            ok, text = check_trac_output(w, s, outdir, 1, args.tol)
            row["check"] = text
            if ok is False:
                row["mismatch"] = True
        if outdir is not None and not (args.small or args.interpret):
            shutil.rmtree(outdir, ignore_errors=True)
        for kind, skip, avail in (("numpy", args.no_numpy, has_numpy),
                                  ("torch", args.no_torch, torch_version)):
            if skip or not avail:
                continue
            res = run_peer(args, env, kind, w)
            if "median_ms" in res:
                row[kind + "_ms"] = res["median_ms"]
                others = ", ".join("%s %.2f ms" % (k, v["median_ms"])
                                   for k, v in res["variants"].items()
                                   if k != res["best"] and "median_ms" in v)
                row["notes"].append("%s: %s%s" % (kind, res["best"],
                                                  " (also %s)" % others if others else ""))
            else:
                row[kind + "_fail"] = res.get("error", "failed")
            for k, v in res.get("variants", {}).items():
                if "error" in v and "median_ms" in res:
                    row["notes"].append("%s %s failed: %s" % (kind, k, v["error"]))
                if v.get("err") is not None and v["err"] > args.tol:
                    row["notes"].append("%s %s MISMATCH with the float64 reference (err %.1e)"
                                        % (kind, k, v["err"]))
                    row["mismatch"] = True
        if not (args.small or args.interpret or args.no_numpy or not has_numpy):
            more_rounds(args, env, w, row)
        rows.append(row)

    memory_rows = []
    if not args.no_tasks and not args.interpret:
        for w in todo:
            if w["name"] in MEMORY_WORKLOADS:
                print("running %s under a memory budget ..." % w["label"], file=sys.stderr, flush=True)
                memory_rows.append(run_memory(args, env, w, w["small"] if args.small else w["sizes"]))

    ranks_rows = []
    mpirun = shutil.which("mpirun")
    if not args.no_ranks and not args.interpret and mpirun:
        for w in todo:
            if w["name"] in RANKS_WORKLOADS:
                print("running %s on 2 ranks ..." % w["label"], file=sys.stderr, flush=True)
                ranks_rows.append(run_ranks(args, env, w, w["small"] if args.small else w["sizes"], mpirun))

    ooc_row = None
    if not args.no_tasks and not args.interpret and not args.no_ooc and any(w["name"] == "w5" for w in todo):
        print("running w5 out of core ...", file=sys.stderr, flush=True)
        ooc_row = run_outofcore(args, env)

    samples = []
    if not args.no_samples and not args.interpret and not args.small and not only:
        samples = run_samples(args, env)

    peak_after = bw_after = None
    if not args.small and not args.interpret:
        # the machines drift 10-25% within minutes: measure the peaks again
        peak_after, line_after = sgemm_peak(args, env)
        print("sgemm peak after the workloads: " + describe_peak(peak_after, line_after))
        bw_after, bw_line_after = mem_peak(args, env)
        print("read bandwidth after the workloads: " + describe_mem(bw_after, bw_line_after))
        print()
    peak_used = max([p for p in (peak, peak_after) if p], default=None)
    bw_used = max([b for b in (bw, bw_after) if b], default=None)

    # the table
    hdr = ["workload", "GFLOP", "trac ms", "numpy ms", "trac/numpy", "torch ms",
           "trac GFLOP/s", "of sgemm peak", "of read bw"]
    show_check = args.small or args.interpret
    if show_check:
        hdr.append("check")
    table = []
    for r in rows:
        t = r["trac_ms"]
        ratio = r.get("ratio") or (t / r["numpy_ms"] if t and r["numpy_ms"] else None)
        gfs = r["gflop"] / (t * 1e-3) if t else None
        r["trac_gflops"] = gfs
        r["peak_fraction"] = gfs / peak_used if gfs and peak_used else None
        # the least traffic at the read bandwidth, against trac's time
        r["bw_fraction"] = (r["least_bytes"] / bw_used / 1e6 / t
                            if t and bw_used and r.get("least_bytes") else None)
        cells = [r["name"], fmt(r["gflop"], ".3g"),
                 "failed" if "trac_fail" in r else fmt(t, ".2f"),
                 "failed" if "numpy_fail" in r else fmt(r["numpy_ms"], ".2f"),
                 fmt(ratio, ".2f"),
                 "failed" if "torch_fail" in r else fmt(r["torch_ms"], ".2f"),
                 fmt(gfs, ".1f"),
                 fmt(r["peak_fraction"] * 100 if r["peak_fraction"] else None, ".1f") +
                 ("%" if r["peak_fraction"] else ""),
                 fmt(r["bw_fraction"] * 100 if r["bw_fraction"] else None, ".1f") +
                 ("%" if r["bw_fraction"] else "")]
        if show_check:
            cells.append(r["check"] or "-")
        table.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(hdr, *table)]
    left = {0, len(hdr) - 1} if show_check else {0}

    def line(cells):
        return "  ".join(str(c).ljust(wd) if i in left else str(c).rjust(wd)
                         for i, (c, wd) in enumerate(zip(cells, widths)))
    print(line(hdr).rstrip())
    print("  ".join("-" * wd for wd in widths))
    for cells in table:
        print(line(cells).rstrip())
    if not args.interpret and (len(args.backends) > 1 or samples):
        print_backend_tables(args, rows, samples)
    if not args.interpret:
        print_first_runs(args, rows)
    if not args.no_tasks and not args.interpret:
        print_tasks_table(args, rows)
    if memory_rows:
        print_memory_table(args, memory_rows, spill_read_bandwidth(args, env))
    if ooc_row:
        print_outofcore(args, ooc_row)
    if ranks_rows:
        print_ranks_table(args, ranks_rows)
    notes = []
    for r in rows:
        for k in ["trac", "numpy", "torch"] + args.backends[1:]:
            if k + "_fail" in r:
                notes.append("%s: %s failed: %s" % (r["name"], k, r[k + "_fail"]))
        notes += ["%s: %s" % (r["name"], n) for n in r["notes"]]
    if notes:
        print()
        for n in notes:
            print("  " + n)
    print("\ntrac ms and numpy ms: medians of %d runs, data generation excluded; "
          "trac/numpy < 1: trac is faster." % args.repeat)
    if peak_used:
        print("of sgemm peak: trac GFLOP/s / %.1f GFLOP/s, the higher sgemm peak of this run."
              % peak_used)
    if bw_used:
        print("of read bw: the workload's least traffic (its inputs read once, its output "
              "written once) at %.1f GB/s, the higher read bandwidth of this run, / trac ms; "
              "for memory-bound workloads whose inputs exceed the caches." % bw_used)
    if peak and peak_after and abs(peak - peak_after) > 0.1 * max(peak, peak_after):
        print("warning: the sgemm peak moved by more than 10%% during the run (%.1f -> %.1f "
              "GFLOP/s): the machine is busy or drifting; run again." % (peak, peak_after))
    if args.small:
        print("--small sizes are far too small to mean anything as timings.")
    if args.interpret:
        print("--interpret: trac was not compiled, so there is no trac timing.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "repeat": args.repeat, "small": args.small,
                       "openblas_coretype": coretype, "numpy": has_numpy,
                       "torch": torch_version, "sgemm_peak_gflops": peak,
                       "sgemm_peak_after_gflops": peak_after, "read_gbs": bw,
                       "read_after_gbs": bw_after, "backends": args.backends,
                       "rows": rows, "samples": samples, "memory": memory_rows,
                       "outofcore": ooc_row, "ranks": ranks_rows},
                      f, indent=1)
    bad = any("trac_fail" in r or "numpy_fail" in r or r.get("mismatch") for r in rows)
    return 1 if args.strict and (bad or peak is None) else 0


if __name__ == "__main__":
    sys.exit(main())
