"""reuse_gen.py: random programs in the shapes that make reuse chains,
compiled with small --reuse sizes, against the interpreter.

Usage: reuse_gen.py TRAC COUNT [--seed S] [--keep DIR]

Needs: a built trac (and its runtime, to compile), tests/npycmp built
beside it or NPYCMP set, Python 3 (no numpy). Gives: a line per program
(its shape, the chain --emit=plan names, whether a row reducer sums
into partial blocks, and the check), then the counts; exit status 0,
or 1 on any wrong result, failed compile, or a shape that never made a
chain (or logreg chains without a row reducer).

props.py's random programs make reuse chains only now and then. These
are built around one: a tensor read by two contractions, the second
depending on the first (logreg: z = X w, r = f(z) - y, g = X^T r; gate:
Y = X * f(X w)), or a batched contraction whose output later nodes read
(attention over random batch dimensions: scores, their row reduction, a
map, its row sums, the product with V), each with random sizes (so
uneven blocks), random batch dimensions (0 to 3, so chains cut along one
to three indices), random functions and dtypes. Each program is compiled
with --reuse=MIN,BLOCK, MIN at most the tensor's bytes and BLOCK a random
fraction of it, placer and threads taking turns, and its outputs
compared with `trac --interpret` (tests/npycmp, tra(5)'s tolerance).
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

PLACERS = ["greedy", "roundrobin", "critical-path", "lshs", "learned"]
FUNCS = ["exp", "tanh", "sigmoid", "relu"]


def dims(names, sizes):
    return ", ".join("%s" % sizes[n] for n in names)


def attention(r, dtype):
    nb = r.randint(1, 3)
    batch = ["b%d" % k for k in range(nb)]
    sizes = {b: r.randint(2, 5) for b in batch}
    sizes.update(s=r.randint(3, 9), t=r.randint(3, 9), d=r.randint(2, 6))
    bt = "".join(b + ", " for b in batch)
    red = r.choice(["max", "sum", "min"])
    f = r.choice(["exp", "tanh", "sigmoid"])
    lines = [
        "input Q[%s] %s, K[%s] %s, V[%s] %s" % (dims(batch + ["s", "d"], sizes), dtype, dims(batch + ["t", "d"], sizes),
                                                dtype, dims(batch + ["t", "d"], sizes), dtype),
        "A[%ss, t] = sum[d](Q[%ss, d] * K[%st, d]) / %d" % (bt, bt, bt, r.randint(2, 9)),
        "M[%ss] = %s[t](A[%ss, t])" % (bt, red, bt),
        "E[%ss, t] = %s(A[%ss, t] - M[%ss])" % (bt, f, bt, bt),
        # a denominator of 1 or more: tanh's E sums to near -1 at times,
        # and dividing by near zero would amplify rounding past tra(5)'s
        # tolerance whatever the chain does
        "O[%ss, d] = sum[t](E[%ss, t] * V[%st, d]) / (sum[t](E[%ss, t] * E[%ss, t]) + 1)" % (bt, bt, bt, bt, bt),
        "output O",
    ]
    elems = 1
    for b in batch:
        elems *= sizes[b]
    return "attention", lines, elems * sizes["s"] * sizes["t"], 64


def logreg(r, dtype):
    n, d = r.randint(16, 80), r.randint(3, 12)
    f = r.choice(FUNCS)
    if r.random() < 0.3:  # c classes: Z a GEMM, G a matrix (a 2-d row reducer)
        c = r.randint(2, 5)
        lines = [
            "input X[%d, %d] %s, W[%d, %d] %s, Y[%d, %d] %s" % (n, d, dtype, d, c, dtype, n, c, dtype),
            "z[i, c] = sum[j](X[i, j] * W[j, c])",
            "r[i, c] = %s(z[i, c]) - Y[i, c]" % f,
            "g[j, c] = sum[i](X[i, j] * r[i, c]) / %d" % n,
        ]
        step = "w2[j, c] = W[j, c] - 0.5 * g[j, c]"
    else:
        lines = [
            "input X[%d, %d] %s, w[%d] %s, y[%d] %s" % (n, d, dtype, d, dtype, n, dtype),
            "z[i] = sum[j](X[i, j] * w[j])",
            "r[i] = %s(z[i]) - y[i]" % f,
            "g[j] = sum[i](X[i, j] * r[i]) / %d" % n,
        ]
        step = "w2[j] = w[j] - 0.5 * g[j]"
    # g an output, or an intermediate that a step reads (pooled)
    lines += [step, "output w2"] if r.random() < 0.5 else ["output g"]
    # g's partial blocks must cost under a quarter of X: few row blocks
    return "logreg", lines, n * d, 6


def gate(r, dtype):
    n, d = r.randint(8, 40), r.randint(3, 12)
    f = r.choice(FUNCS)
    lines = [
        "input X[%d, %d] %s, w[%d] %s" % (n, d, dtype, d, dtype),
        "z[i] = sum[j](X[i, j] * w[j])",
        "Y[i, j] = X[i, j] * %s(z[i])" % f,
        "output Y",
    ]
    return "gate", lines, n * d, 64


SHAPES = [attention, attention, logreg, gate]


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw)


def check(args, work, k, npycmp):
    r = random.Random(args.seed * 7919 + k)
    dtype = r.choice(["f32", "f32", "f64"])
    # elems: the chain's tensor's; at most 1/most of its bytes per block
    shape, lines, elems, most = r.choice(SHAPES)(r, dtype)
    size = elems * (4 if dtype == "f32" else 8)
    reuse = "%d,%d" % (r.randint(max(1, size // 2), size), r.randint(max(1, size // most), max(1, size // 2)))
    placer, threads = PLACERS[k % len(PLACERS)], 1 + k % 3
    path = os.path.join(work, "p%d.tra" % k)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    flags = ["--reuse=" + reuse, "--placer=" + placer]
    p = run([args.trac, path, "--emit=plan"] + flags)
    chain = [l for l in p.stdout.splitlines() if l.startswith("reuse chain: ")]
    # a logreg chain's g sums its rows into partial blocks (kplan.c's row
    # groups), unless its row blocks are longer than the rows it sums in turn
    p = run([args.trac, path, "--emit=kernels"] + flags)
    if "sums them into its partial block" in p.stdout:
        chain = chain + ["row reducer"]
    # an attention chain cut along a batch index after its first makes a
    # row group whose rows are points of several indices
    if ", a row for each " in p.stdout:
        chain = chain + ["rows over several indices"]
    what = "p%d %s %s %s threads=%d: %s" % (k, shape, dtype, " ".join(flags), threads,
                                            "; ".join(chain) if chain else "no chain")
    want, got, exe = (os.path.join(work, "%s%d" % (s, k)) for s in ("want", "got", "exe"))
    if run([args.trac, path, "--interpret", "--random=3", "--output-dir", want]).returncode:
        return shape, chain, False, what + ": interpreter failed"
    p = run([args.trac, path, "-o", exe] + flags)
    if p.returncode:
        return shape, chain, False, what + ": compile failed: " + p.stderr.strip()[-300:]
    p = run([exe, "--random=3", "--threads", str(threads), "--output-dir", got])
    if p.returncode:
        return shape, chain, False, what + ": run failed: " + p.stderr.strip()[-300:]
    p = run([npycmp, got, want])
    return shape, chain, p.returncode == 0, what + (": ok" if p.returncode == 0 else ": WRONG " + p.stdout.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trac")
    ap.add_argument("count", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="work in this directory and keep it")
    args = ap.parse_args()
    npycmp = os.environ.get("NPYCMP") or os.path.join(os.path.dirname(os.path.abspath(args.trac)), "tests", "npycmp")
    work = args.keep or tempfile.mkdtemp(prefix="reuse_gen.")
    os.makedirs(work, exist_ok=True)
    chains, wrong, seen, reducers, multi = {}, 0, {}, 0, 0
    try:
        for k in range(args.count):
            shape, chain, good, what = check(args, work, k, npycmp)
            print(("PASS " if good else "FAIL ") + what)
            wrong += not good
            seen[shape] = seen.get(shape, 0) + 1
            chains[shape] = chains.get(shape, 0) + any(c.startswith("reuse chain") for c in chain)
            reducers += "row reducer" in chain
            multi += "rows over several indices" in chain
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("%d programs: %d wrong or failed; chains by shape: %s; row reducers %d; row groups over several "
          "indices %d" % (args.count, wrong, ", ".join("%s %d of %d" % (s, chains[s], seen[s]) for s in sorted(seen)),
                          reducers, multi))
    chainless = [s for s in seen if chains[s] == 0]
    for s in chainless:
        print("FAIL no %s program made a reuse chain" % s)
    if chains.get("logreg", 0) and not reducers:
        print("FAIL no logreg chain made a row reducer")
    return 1 if wrong or chainless or (chains.get("logreg", 0) and not reducers) else 0


if __name__ == "__main__":
    sys.exit(main())
