#!/usr/bin/env python3
"""Cross-check every sample program against NumPy.

usage: check_samples.py TRAC SAMPLES_DIR

For each SAMPLES_DIR/*.tra, at the small sizes listed below:
  1. write seeded, well-scaled inputs as .npy files, run
       TRAC FILE.tra --interpret -D NAME=VALUE... --input NAME=FILE.npy...
            --output-dir DIR
     and compare every output with a float64 NumPy reference computed from
     the same inputs: dtype, shape, and max|out - ref| / max|ref| within
     1e-4 for f32 (1e-10 for f64), the tolerance LANGUAGE.md promises;
  2. run it on --random=3 inputs twice and on --random=4 once, and check
     that the outputs are finite and well-shaped, that the same seed gives
     identical bytes and that another seed gives different ones.

Every sample must have an entry in SAMPLES (a sample without a reference
fails, so a new sample cannot go untested), and every output the program
writes must have a reference.

Prints "PASS name" or "FAIL name: why" per sample, then "N passed, M
failed". Exit status: 0 when all pass, 1 when any fails, 2 on a usage
error, 77 (automake's SKIP) when numpy cannot be imported.
"""

import collections
import math
import glob
import os
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy cannot be imported by %s" % sys.executable)
    sys.exit(77)

TOLERANCE = {"f32": 1e-4, "f64": 1e-10}
NPY_DTYPE = {"f32": np.dtype("<f4"), "f64": np.dtype("<f8")}
TIMEOUT_S = 60  # per trac run; each should take well under a second


# -- input generators: (rng, shape, sizes) -> float64 array, well scaled --

def normal(scale=1.0, shift=0.0):
    return lambda rng, shape, sizes: shift + scale * rng.standard_normal(shape)


def scaled_by(size):
    """Normal entries divided by sqrt(size): keeps a dot product over an
    axis of that length at unit scale."""
    return lambda rng, shape, sizes: rng.standard_normal(shape) / np.sqrt(sizes[size])


def labels(rng, shape, sizes):
    return rng.integers(0, 2, size=shape).astype(np.float64)


def constant(value):
    return lambda rng, shape, sizes: np.full(shape, value, dtype=np.float64)


# -- the references ---------------------------------------------------------

def softmax_rows(y):
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def ref_matmul(s, A, B):
    return {"C": A @ B}


def ref_mlp(s, X, W1, b1, W2):
    hd = np.maximum(X @ W1 + b1, 0.0)
    return {"P": softmax_rows(hd @ W2)}


def ref_attention(s, Q, K, V):
    a = np.einsum("bhsd,bhtd->bhst", Q, K) / np.sqrt(s["D"])
    return {"O": np.einsum("bhst,bhtd->bhsd", softmax_rows(a), V)}


def ref_softmax(s, X):
    m = X.max(axis=1)
    z = np.exp(X - m[:, None]).sum(axis=1)
    return {"P": softmax_rows(X), "L": m + np.log(z)}


def ref_logreg(s, X, y, w, lr):
    z = X @ w
    grad = X.T @ (sigmoid(z) - y) / s["N"]
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return {"w_new": w - lr * grad, "loss": np.array(loss)}


def ref_chain(s, A, B, C, D):
    return {"Y": np.linalg.multi_dot([A, B, C, D])}


def ref_batched(s, X, Y, Q, R):
    z = np.matmul(X, Y)
    return {"Z": z, "Zt": np.einsum("bij->bji", z),
            "Sc": np.einsum("bhqd,bhkd->bhqk", Q, R)}


def ref_layernorm(s, X, gamma, beta):
    mu = X.mean(axis=1, keepdims=True)
    var = ((X - mu) ** 2).mean(axis=1, keepdims=True)
    return {"Y": (X - mu) / np.sqrt(var + 1e-5) * gamma + beta}


def ref_rope_gelu(s, Q1, Q2, pos, freq, X, W1, W2):
    a = np.outer(pos, freq)
    u = X @ W1
    g = 0.5 * u * (1 + np.vectorize(math.erf)(u / math.sqrt(2)))
    return {"R1": Q1 * np.cos(a) - Q2 * np.sin(a), "R2": Q2 * np.cos(a) + Q1 * np.sin(a),
            "Y": g @ W2}


def ref_conv(s, X, K, b):
    # the padded windows by explicit loops, then the 2x2 pooling by reshaping
    n, c, h, w = X.shape
    xp = np.zeros((n, c, h + 2, w + 2))
    xp[:, :, 1:h + 1, 1:w + 1] = X
    a = np.zeros((n, K.shape[0], h, w))
    for r in range(3):
        for q in range(3):
            a += np.einsum("nchw,oc->nohw", xp[:, :, r:r + h, q:q + w], K[:, :, r, q])
    a = np.maximum(a + b[None, :, None, None], 0)
    a = a[:, :, :h // 2 * 2, :w // 2 * 2]
    return {"P": a.reshape(n, K.shape[0], h // 2, 2, w // 2, 2).max(axis=(3, 5))}


def ref_kmeans(s, X, M):
    d2 = ((X[:, None, :] - M[None, :, :]) ** 2).sum(axis=2)
    label = d2.argmin(axis=1)
    count = np.bincount(label, minlength=M.shape[0])
    S = np.zeros_like(M)
    np.add.at(S, label, X)
    M2 = np.where(count[:, None] > 0, S / np.maximum(count, 1)[:, None], M)
    return {"label": label.astype(np.int64), "count": count.astype(np.int64), "M2": M2}


def ref_transformer(s, tok, E, g1, g2, Wq, Wk, Wv, Wo, W1, W3, W2):
    def rms(x, g):
        return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-5) * g

    def rope(x):
        T, C = x.shape
        h = C // 2
        th = np.arange(T)[:, None] * 10000.0 ** (-2.0 * np.arange(h)[None, :] / C)
        a, b = x[:, :h], x[:, h:]
        return np.concatenate([a * np.cos(th) - b * np.sin(th), b * np.cos(th) + a * np.sin(th)], axis=1)

    X = E[tok.astype(np.int64)]
    n1 = rms(X, g1)
    q, k, v = rope(n1 @ Wq), rope(n1 @ Wk), n1 @ Wv
    T, C = X.shape
    sc = np.where(np.tril(np.ones((T, T), bool)), q @ k.T / np.sqrt(C), -np.inf)
    p = np.exp(sc - sc.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y1 = X + (p @ v) @ Wo
    n2 = rms(y1, g2)
    u = n2 @ W1
    return {"Y": y1 + (u / (1 + np.exp(-u)) * (n2 @ W3)) @ W2}


# -- the training samples: forward, a backward pass written here by hand
# (not by differentiating trac's graph), and the SGD update --

def softmax_xent(Z, Yt):
    """The mean softmax cross-entropy of logits Z against one-hot Yt,
    and its gradient by Z."""
    m = Z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(Z - m).sum(axis=1))
    return np.mean(lse - (Yt * Z).sum(axis=1)), (softmax_rows(Z) - Yt) / Z.shape[0]


def ref_train_mlp(s, X, Yt, W1, W2, lr):
    A = X @ W1
    Hd = np.maximum(A, 0.0)
    Z = Hd @ W2
    loss, dZ = softmax_xent(Z, Yt)
    dW2 = Hd.T @ dZ
    dA = (dZ @ W2.T) * (A > 0)
    dW1 = X.T @ dA
    return {"loss": np.array(loss), "W1n": W1 - lr * dW1, "W2n": W2 - lr * dW2}


def ref_train_embed(s, tok, Yt, E, W, lr):
    t = tok.astype(np.int64)
    H = E[t].mean(axis=1)
    Z = H @ W
    loss, dZ = softmax_xent(Z, Yt)
    dW = H.T @ dZ
    dH = dZ @ W.T / s["S"]
    dE = np.zeros_like(E)
    for i in range(s["N"]):  # each token's row gets its example's dH, repeats adding up
        for j in range(s["S"]):
            dE[t[i, j]] += dH[i]
    return {"loss": np.array(loss), "En": E - lr * dE, "Wn": W - lr * dW}


def ref_train_logreg(s, X, y, w, lr):
    p = sigmoid(X @ w)
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    dw = X.T @ (p - y) / s["N"]
    return {"loss": np.array(loss), "dw": dw, "w2": w - lr * dw}


def ref_train_layernorm(s, X, T, gamma, beta, lr):
    mu = X.mean(axis=1, keepdims=True)
    var = ((X - mu) ** 2).mean(axis=1, keepdims=True)
    inv = 1.0 / np.sqrt(var + 1e-5)
    xhat = (X - mu) * inv
    Y = xhat * gamma + beta
    loss = np.mean((Y - T) ** 2)
    dY = 2.0 * (Y - T) / Y.size
    dgamma = (dY * xhat).sum(axis=0)
    dbeta = dY.sum(axis=0)
    dxhat = dY * gamma
    dX = inv * (dxhat - dxhat.mean(axis=1, keepdims=True)
                - xhat * (dxhat * xhat).mean(axis=1, keepdims=True))
    return {"loss": np.array(loss), "dX": dX, "gamma2": gamma - lr * dgamma,
            "beta2": beta - lr * dbeta}


def ref_train_attention(s, X, T, Wq, Wk, Wv, lr):
    Q, K, V = X @ Wq, X @ Wk, X @ Wv
    scale = 1.0 / np.sqrt(s["D"])
    P = softmax_rows(Q @ K.T * scale)
    O = P @ V
    loss = np.mean((O - T) ** 2)
    dO = 2.0 * (O - T) / O.size
    dV = P.T @ dO
    dP = dO @ V.T
    dA = P * (dP - (dP * P).sum(axis=1, keepdims=True))
    dQ = dA @ K * scale
    dK = dA.T @ Q * scale
    return {"loss": np.array(loss), "Wq2": Wq - lr * (X.T @ dQ),
            "Wk2": Wk - lr * (X.T @ dK), "Wv2": Wv - lr * (X.T @ dV)}


def one_hot(size):
    """Rows with a single 1 at a random class in [0, sizes[size])."""
    def gen(rng, shape, sizes):
        y = np.zeros(shape)
        y[np.arange(shape[0]), rng.integers(0, sizes[size], size=shape[0])] = 1.0
        return y
    return gen


def token_ids(size):
    """Integer token ids in [0, sizes[size]), as i32."""
    return lambda rng, shape, sizes: rng.integers(0, sizes[size], size=shape)


# A sample's test: sizes for -D, the element type of all its tensors,
# its inputs (name -> (shape as size names, generator)), and the reference
# (sizes, inputs as float64 keyword arguments) -> {output name: array}.
Sample = collections.namedtuple("Sample", "sizes dtype inputs ref")

SAMPLES = {
    "matmul": Sample(
        dict(M=7, K=5, N=9), "f32",
        dict(A=("M K", normal()), B=("K N", normal())),
        ref_matmul),
    "mlp": Sample(
        dict(N=7, D=5, H=9, C=3), "f32",
        dict(X=("N D", normal()), W1=("D H", scaled_by("D")),
             b1=("H", normal(0.1)), W2=("H C", scaled_by("H"))),
        ref_mlp),
    "attention": Sample(
        dict(B=2, H=3, S=7, D=5), "f32",
        dict(Q=("B H S D", normal()), K=("B H S D", normal()),
             V=("B H S D", normal())),
        ref_attention),
    "softmax": Sample(
        dict(N=7, D=9), "f32",
        dict(X=("N D", normal(3.0))),
        ref_softmax),
    "logreg": Sample(
        dict(N=11, D=5), "f64",
        dict(X=("N D", normal()), y=("N", labels), w=("D", scaled_by("D")),
             lr=("", constant(0.25))),
        ref_logreg),
    "chain": Sample(
        dict(M=7, P=5, Q=9, R=3, N=11), "f32",
        dict(A=("M P", scaled_by("P")), B=("P Q", scaled_by("Q")),
             C=("Q R", scaled_by("R")), D=("R N", normal())),
        ref_chain),
    "batched": Sample(
        dict(B=3, N=7, K=5, M=9, H=11, S=13, D=15), "f32",
        dict(X=("B N K", normal()), Y=("B K M", normal()),
             Q=("B H S D", normal()), R=("B H S D", normal())),
        ref_batched),
    "layernorm": Sample(
        dict(N=7, D=9), "f32",
        dict(X=("N D", normal(2.0, 0.5)), gamma=("D", normal()),
             beta=("D", normal())),
        ref_layernorm),
    "rope_gelu": Sample(
        dict(T=7, P=5, D=9, H=11), "f32",
        dict(Q1=("T P", normal()), Q2=("T P", normal()), pos=("T", normal(20.0)),
             freq=("P", normal()), X=("T D", normal()), W1=("D H", scaled_by("D")),
             W2=("H D", scaled_by("H"))),
        ref_rope_gelu),
    "conv": Sample(
        dict(N=2, C=3, H=7, W=6, O=4, R=3), "f32",
        dict(X=("N C H W", normal()), K=("O C R R", scaled_by("C")), b=("O", normal())),
        ref_conv),
    "kmeans": Sample(
        dict(N=40, K=6, D=3), "f32",
        dict(X=("N D", normal()), M=("K D", normal())),
        ref_kmeans),
    "transformer": Sample(
        dict(T=9, V=13, C=8, H=4, F=10), "f32",
        dict(tok=("T", token_ids("V")), E=("V C", normal()), g1=("C", normal(0.2, 1.0)),
             g2=("C", normal(0.2, 1.0)), Wq=("C C", scaled_by("C")), Wk=("C C", scaled_by("C")),
             Wv=("C C", scaled_by("C")), Wo=("C C", scaled_by("C")), W1=("C F", scaled_by("C")),
             W3=("C F", scaled_by("C")), W2=("F C", scaled_by("F"))),
        ref_transformer),
    "train_mlp": Sample(
        dict(N=7, D=5, H=9, C=3), "f32",
        dict(X=("N D", normal()), Yt=("N C", one_hot("C")), W1=("D H", scaled_by("D")),
             W2=("H C", scaled_by("H")), lr=("", constant(0.5))),
        ref_train_mlp),
    "train_embed": Sample(
        dict(N=7, S=3, V=6, D=5, C=3), "f32",
        dict(tok=("N S", token_ids("V")), Yt=("N C", one_hot("C")), E=("V D", normal()),
             W=("D C", scaled_by("D")), lr=("", constant(0.5))),
        ref_train_embed),
    "train_logreg": Sample(
        dict(N=11, D=5), "f64",
        dict(X=("N D", normal()), y=("N", labels), w=("D", scaled_by("D")),
             lr=("", constant(0.5))),
        ref_train_logreg),
    "train_layernorm": Sample(
        dict(N=7, D=9), "f32",
        dict(X=("N D", normal(2.0, 0.5)), T=("N D", normal()), gamma=("D", normal(0.2, 1.0)),
             beta=("D", normal(0.1)), lr=("", constant(0.5))),
        ref_train_layernorm),
    "train_attention": Sample(
        dict(S=7, C=6, D=5), "f32",
        dict(X=("S C", normal()), T=("S D", normal()), Wq=("C D", scaled_by("C")),
             Wk=("C D", scaled_by("C")), Wv=("C D", scaled_by("C")), lr=("", constant(0.1))),
        ref_train_attention),
}

# The training samples' state: which output feeds which input (NEXT -> X).
FEEDS = {
    "train_mlp": {"W1n": "W1", "W2n": "W2"},
    "train_embed": {"En": "E", "Wn": "W"},
    "train_logreg": {"w2": "w"},
    "train_layernorm": {"gamma2": "gamma", "beta2": "beta"},
    "train_attention": {"Wq2": "Wq", "Wk2": "Wk", "Wv2": "Wv"},
}


# -- running trac -----------------------------------------------------------

class Failure(Exception):
    pass


def make_inputs(name, sample, directory):
    """Writes the sample's inputs as .npy files; returns {name: path} and
    {name: the same values as float64}."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    paths, values = {}, {}
    for tensor, (dims, gen) in sample.inputs.items():
        shape = tuple(sample.sizes[d] for d in dims.split())
        data = np.asarray(gen(rng, shape, sample.sizes))
        # integer inputs (token ids) are i32, the others the sample's type
        data = data.astype(np.dtype("<i4") if data.dtype.kind == "i" else NPY_DTYPE[sample.dtype])
        paths[tensor] = os.path.join(directory, tensor + ".npy")
        np.save(paths[tensor], data)
        values[tensor] = data.astype(np.float64)
    return paths, values


def run_trac(trac, program, sizes, outdir, extra, what):
    """Runs trac --interpret with extra arguments; `what` names the run in
    failures. Returns the outputs it wrote to outdir, as read_outputs."""
    os.mkdir(outdir)
    cmd = [trac, program, "--interpret"]
    for size, value in sizes.items():
        cmd += ["-D", "%s=%d" % (size, value)]
    cmd += extra + ["--output-dir", outdir]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Failure("%s timed out after %d s" % (what, TIMEOUT_S))
    except OSError as e:
        raise Failure("cannot run %s: %s" % (trac, e))
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise Failure("%s exited %d: %s" % (
            what, proc.returncode, lines[0] if lines else "(no message)"))
    return read_outputs(outdir)


def read_outputs(outdir):
    """{name: (array, raw bytes)} for every .npy file in outdir."""
    outputs = {}
    for path in sorted(glob.glob(os.path.join(outdir, "*.npy"))):
        name = os.path.basename(path)[:-4]
        with open(path, "rb") as f:
            raw = f.read()
        try:
            outputs[name] = (np.load(path, allow_pickle=False), raw)
        except Exception as e:
            raise Failure("output %s: not a valid .npy file: %s" % (name, e))
    return outputs


def check_layout(outputs, expected, dtypes):
    """Checks that outputs holds exactly the expected names, each with the
    expected shape and dtype (dtypes, by name)."""
    missing = sorted(set(expected) - set(outputs))
    extra = sorted(set(outputs) - set(expected))
    if missing:
        raise Failure("no output file for %s" % ", ".join(missing))
    if extra:
        raise Failure("output %s has no NumPy reference" % ", ".join(extra))
    for name, shape in expected.items():
        got = outputs[name][0]
        if got.dtype != dtypes[name]:
            raise Failure("output %s: dtype %s, expected %s" % (
                name, got.dtype.str, dtypes[name].str))
        if got.shape != shape:
            raise Failure("output %s: shape %s, expected %s" % (
                name, got.shape, shape))


def relative_error(got, want):
    scale = max(np.max(np.abs(want), initial=0.0), np.finfo(np.float64).tiny)
    diff = np.max(np.abs(got.astype(np.float64) - want), initial=0.0)
    return diff / scale


def check_sample(trac, program, name, sample, workdir):
    paths, values = make_inputs(name, sample, workdir)
    raw = sample.ref(sample.sizes, **values)
    # integer outputs (argmax's, counts) are i64 and must be exact
    dtypes = {k: np.dtype("<i8") if np.asarray(v).dtype.kind == "i" else NPY_DTYPE[sample.dtype]
              for k, v in raw.items()}
    ref = {k: np.asarray(v, dtype=np.float64) for k, v in raw.items()}
    shapes = {k: v.shape for k, v in ref.items()}

    extra = []
    for tensor, path in paths.items():
        extra += ["--input", "%s=%s" % (tensor, path)]
    outputs = run_trac(trac, program, sample.sizes,
                       os.path.join(workdir, "out"), extra,
                       "trac --interpret on seeded inputs")
    check_layout(outputs, shapes, dtypes)
    tol = TOLERANCE[sample.dtype]
    for out, want in sorted(ref.items()):
        if dtypes[out].kind == "i" and not np.array_equal(outputs[out][0], want):
            raise Failure("output %s: %s, expected %s" % (out, outputs[out][0], want.astype(np.int64)))
        err = relative_error(outputs[out][0], want)
        if not err <= tol:
            raise Failure("output %s: relative error %.3g exceeds %g" % (
                out, err, tol))

    runs = []
    for tag, seed in (("a", 3), ("b", 3), ("c", 4)):
        outs = run_trac(trac, program, sample.sizes,
                        os.path.join(workdir, "random-" + tag),
                        ["--random=%d" % seed],
                        "trac --interpret --random=%d" % seed)
        check_layout(outs, shapes, dtypes)
        for out, (arr, _) in outs.items():
            if not np.all(np.isfinite(arr)):
                raise Failure("output %s is not finite with --random=%d" % (out, seed))
        runs.append(outs)
    for out in sorted(shapes):
        if runs[0][out][1] != runs[1][out][1]:
            raise Failure("output %s differs between two runs with --random=3" % out)
        if runs[0][out][1] == runs[2][out][1]:
            raise Failure("output %s is the same with --random=3 and --random=4" % out)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: %s TRAC SAMPLES_DIR\n" % argv[0])
        return 2
    trac, sample_dir = argv[1], argv[2]
    programs = {os.path.basename(p)[:-4]: p
                for p in glob.glob(os.path.join(sample_dir, "*.tra"))}
    passed = failed = 0
    for name in sorted(set(programs) | set(SAMPLES)):
        try:
            if name not in SAMPLES:
                raise Failure("no NumPy reference in %s" % os.path.basename(__file__))
            if name not in programs:
                raise Failure("a reference but no %s.tra in %s" % (name, sample_dir))
            with tempfile.TemporaryDirectory(prefix="check-" + name + ".") as tmp:
                check_sample(trac, programs[name], name, SAMPLES[name], tmp)
        except Failure as e:
            print("FAIL %s: %s" % (name, e))
            failed += 1
        else:
            print("PASS %s" % name)
            passed += 1
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
