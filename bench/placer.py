#!/usr/bin/python3
"""placer.py: evaluate trac's placers, the learned one (--placer=learned)
against the others, on programs its training corpus does not hold.

    python3 bench/placer.py [--trac ./trac] [--quick] [--seeds N]
        [--episodes STAGES] [--verbose] [--out FILE] [--no-steal]
        [--rounds R] [--jobs J] [--keep DIR] [--simulated-only] [--no-ranks]

Standard library only (no numpy). It

 1. trains the learned placer's weights with data/train-placer.sh for the
    seeds 1..N (5; 2 with --quick, which also trains fewer episodes) and
    reads each run's "simulator calls";
 2. writes the held-out programs: transformer blocks with 3, 6 and 8 heads
    (the corpus has 1, 2 and 4), MLPs of 5 and 6 layers (the corpus: 2
    and 3), matrix chains of other shapes, and samples/*.tra (those that
    fail to compile with --emit=plan are skipped and listed); it checks
    that none of them is in the training corpus;
 3. simulates each program on 2, 4 and 8 devices under roundrobin, greedy,
    lshs, critical-path, search (--search-calls = the training's simulator
    calls, mean over the seeds, rounded) and learned (each seed's
    weights), reading makespan_s from --emit=plan-json, and prints per
    device count each placer's mean over the programs of makespan /
    critical path's makespan (lower is better); learned is the mean over
    the seeds with the min..max of the per-seed means. --verbose adds a
    table per program;
 4. measures: the two placers with the best simulated mean on 2 devices
    (seed 1's weights for learned) compile every held-out program with
    --devices=2, at its simulated sizes where a run takes under about
    100 ms and smaller (-D, the table's "sizes") where not, and each
    program runs R rounds (5; 2 with --quick) of both placers' builds in
    turn, each `PROG --random --threads 2 --repeat 20 --time`; the time is
    the median over the rounds of the median_ms the program prints, the
    ratio the median over the rounds of the round's ratio (the builds run
    back to back, so that a load on the machine weighs on both alike).
    --no-steal also passes --no-steal to the programs (each task runs on
    the worker its placement names; by default idle workers steal). Then
    the same on 2 MPI ranks of one device each (--ranks=2 --devices=1,
    run by mpirun -np 2 with --threads 1; the time is the slower rank's),
    when mpirun is on PATH and --no-ranks is not given. --simulated-only
    leaves out the measured part.

It never asserts a result: a placer that loses is shown losing. The
header lists the command lines, so a run can be repeated; --out FILE also
writes the report as markdown.
"""

import argparse
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(HERE)
TRAIN_SCRIPT = os.path.join(SRCDIR, "data", "train-placer.sh")

DEVICES = [2, 4, 8]
PLACERS = ["roundrobin", "greedy", "lshs", "critical-path", "search", "learned"]
REFERENCE = "critical-path"
QUICK_EPISODES = "imitate:200,reinforce:400"

# --- the held-out programs ---------------------------------------------------
# The same families as data/train-placer.sh writes (so the same names mean
# the same things), at head counts, depths and shapes that it does not.


def chain_steps(dims):
    n = len(dims) - 1
    sizes = ", ".join("S%d = %d" % (k, d) for k, d in enumerate(dims))
    inputs = ", ".join("A%d[S%d, S%d]" % (k, k - 1, k) for k in range(1, n + 1))
    body = ["T2[i, m] = sum[j](A1[i, j] * A2[j, m])"]
    body += ["T%d[i, m] = sum[j](T%d[i, j] * A%d[j, m])" % (k, k - 1, k) for k in range(3, n + 1)]
    return ("# a chain of %d matrices, one product per statement\nsize %s\ninput %s\n%s\noutput T%d\n"
            % (n, sizes, inputs, "\n".join(body), n))


def chain_einsum(dims):
    n = len(dims) - 1
    sizes = ", ".join("S%d = %d" % (k, d) for k, d in enumerate(dims))
    inputs = ", ".join("A%d[S%d, S%d]" % (k, k - 1, k) for k in range(1, n + 1))
    factors = " * ".join("A%d[i%d, i%d]" % (k, k - 1, k) for k in range(1, n + 1))
    reduced = ", ".join("i%d" % k for k in range(1, n))
    return ("# a chain of %d matrices as one contraction (trac picks the order)\nsize %s\ninput %s\n"
            "Y[i0, i%d] = sum[%s](%s)\noutput Y\n" % (n, sizes, inputs, n, reduced, factors))


def act(name, x):
    return {
        "relu": "relu(%s)" % x,
        "gelu": "0.5 * {0} * (1 + tanh(0.7978845608 * ({0} + 0.044715 * {0} * {0} * {0})))".format(x),
        "erf": "0.5 * %s * (1 + erf(%s * 0.7071067811865476))" % (x, x),
        "silu": "%s * sigmoid(%s)" % (x, x),
    }[name]


def mlp(a, softmax, n, widths):
    layers = len(widths) - 1
    sizes = ", ".join(["N = %d" % n] + ["D%d = %d" % (k, d) for k, d in enumerate(widths)])
    inputs = ", ".join(["X[N, D0]"] + ["W{0}[D{1}, D{0}], c{0}[D{0}]".format(k, k - 1) for k in range(1, layers + 1)])
    body, prev = [], "X"
    for k in range(1, layers + 1):
        lin = "sum[e](%s[i, e] * W%d[e, j]) + c%d[j]" % (prev, k, k)
        if k < layers:
            body += ["U%d[i, j] = %s" % (k, lin), "H%d[i, j] = %s" % (k, act(a, "U%d[i, j]" % k))]
            prev = "H%d" % k
        else:
            body.append("Z[i, j] = %s" % lin)
    out = "Z"
    if softmax:
        body += ["M[i] = max[j](Z[i, j])", "E[i, j] = exp(Z[i, j] - M[i])", "P[i, j] = E[i, j] / sum[j2](E[i, j2])"]
        out = "P"
    return ("# a %d-layer perceptron (%s), batch %d\nsize %s\ninput %s\n\n%s\noutput %s\n"
            % (layers, a, n, sizes, inputs, "\n".join(body), out))


def block(B, T, C, NH, F, norm, ffn, causal):
    """A pre-norm transformer block, as data/train-placer.sh's block()."""
    b, bsz, bd = ("b, ", "B = %d, " % B, "B, ") if B > 1 else ("", "", "")
    h, hr, col = ("h, ", "h:NH, ", "h * D + d") if NH > 1 else ("", "", "d")
    score = "sum[d](Q[{b}t, {h}d] * K[{b}s, {h}d]) / sqrt(D)".format(b=b, h=h)
    if causal:
        score = "select(s <= t, %s, -inf)" % score
    extra = (", be1[C], be2[C]" if norm == "ln" else "") + (", W3[C, F]" if ffn == "swiglu" else "")

    def norm_rows(x, out, g, be):
        if norm == "rms":
            return ["{o}[{b}t, c] = {x}[{b}t, c] * rsqrt(mean[e]({x}[{b}t, e] * {x}[{b}t, e]) + 1e-5) * {g}[c]"
                    .format(o=out, x=x, g=g, b=b)]
        return ["{o}mu[{b}t] = mean[c]({x}[{b}t, c])".format(o=out, x=x, b=b),
                "{o}va[{b}t] = mean[c](({x}[{b}t, c] - {o}mu[{b}t]) * ({x}[{b}t, c] - {o}mu[{b}t]))"
                .format(o=out, x=x, b=b),
                "{o}[{b}t, c] = ({x}[{b}t, c] - {o}mu[{b}t]) * rsqrt({o}va[{b}t] + 1e-5) * {g}[c] + {be}[c]"
                .format(o=out, x=x, g=g, be=be, b=b)]

    f = dict(b=b, h=h, hr=hr, col=col, score=score)
    lines = ["# a transformer block: %d-head attention (batch %d), %s norm, %s feed-forward" % (NH, B, norm, ffn),
             "size %sT = %d, C = %d, NH = %d, D = C / NH, F = %d" % (bsz, T, C, NH, F),
             "input X[%sT, C], g1[C], g2[C], Wq[C, C], Wk[C, C], Wv[C, C], Wo[C, C]" % bd,
             "input W1[C, F], W2[F, C]%s" % extra, ""]
    lines += norm_rows("X", "N1", "g1", "be1")
    lines += [s.format(**f) for s in [
        "Q[{b}t, {hr}d:D] = sum[c](N1[{b}t, c] * Wq[c, {col}])",
        "K[{b}t, {hr}d:D] = sum[c](N1[{b}t, c] * Wk[c, {col}])",
        "V[{b}t, {hr}d:D] = sum[c](N1[{b}t, c] * Wv[c, {col}])",
        "S[{b}{h}t, s] = {score}",
        "M[{b}{h}t] = max[s](S[{b}{h}t, s])",
        "E[{b}{h}t, s] = exp(S[{b}{h}t, s] - M[{b}{h}t])",
        "O[{b}t, {h}d] = sum[s](E[{b}{h}t, s] * V[{b}s, {h}d]) / sum[s](E[{b}{h}t, s])",
        "Y1[{b}t, c] = X[{b}t, c] + sum[{h}d](O[{b}t, {h}d] * Wo[{col}, c])", ""]]
    lines += norm_rows("Y1", "N2", "g2", "be2")
    lines.append("U[{b}t, f] = sum[c](N2[{b}t, c] * W1[c, f])".format(b=b))
    if ffn == "swiglu":
        lines.append("G[{b}t, f] = U[{b}t, f] * sigmoid(U[{b}t, f]) * sum[c](N2[{b}t, c] * W3[c, f])".format(b=b))
    else:
        lines.append("G[{b}t, f] = {a}".format(b=b, a=act(ffn, "U[%st, f]" % b)))
    lines += ["Y[{b}t, c] = Y1[{b}t, c] + sum[f](G[{b}t, f] * W2[f, c])".format(b=b), "output Y"]
    return "\n".join(lines) + "\n"


def sizes_d(**kw):
    return ["-D%s=%d" % kv for kv in kw.items()]


# name, text, -D flags for the measured run, in --quick. The measured runs
# keep the simulated sizes (the same graphs) unless a run would take over
# about 100 ms.
GENERATED = [
    ("block_h3", block(1, 384, 384, 3, 1024, "ln", "gelu", False), [], True),
    ("block_h6", block(1, 256, 384, 6, 768, "rms", "swiglu", True), [], False),
    ("block_h8", block(2, 256, 512, 8, 1024, "ln", "relu", True), [], False),
    ("mlp5_relu", mlp("relu", True, 1024, [512, 1024, 1024, 512, 256, 10]), [], True),
    ("mlp6_gelu", mlp("gelu", False, 512, [256, 512, 512, 512, 512, 256, 64]), [], False),
    ("chain3_einsum_h", chain_einsum([4096, 64, 2048, 256]), [], False),
    ("chain4_steps_h", chain_steps([2048, 128, 2048, 256, 64]), [], True),
    ("chain5_steps_h", chain_steps([128, 2048, 512, 2048, 128, 1024]), [], False),
    ("chain6_einsum_h", chain_einsum([256, 1024, 128, 512, 64, 1024, 256]), [], False),
]

# samples/NAME.tra: -D flags for the measured run (none: the sample's own
# sizes), in --quick.
SAMPLES = {
    "attention": (sizes_d(B=2, H=8, S=512), True),
    "batched": (sizes_d(B=8), False),
    "chain": ([], True),
    "logreg": (sizes_d(N=20000), False),
    "mlp": ([], True),
    "softmax": (sizes_d(N=2048), False),
}


# --- running trac --------------------------------------------------------------

def run(cmd, timeout=600, env=None):
    """(returncode, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr, time.monotonic() - t0
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %d s" % timeout, time.monotonic() - t0


def first_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[0] if lines else "(no message)"


def canonical(text):
    """A program without comments and blank space, to spot copies."""
    return "\n".join(re.sub(r"\s+", "", l.split("#")[0]) for l in text.splitlines() if l.split("#")[0].strip())


def runtime_dir(trac, tmp):
    """A --runtime-dir for compiling, or None when trac finds its own.

    trac looks for the runtime of its build tree only where it was
    configured; a copied build tree's trac looks in the install prefix. Then
    DIR/include and DIR/lib are made to point at the build tree's runtime/
    and runtime/.libs next to trac."""
    if os.environ.get("TRAC_RUNTIME_DIR"):
        return None
    rc, out, _, _ = run([trac, "--print-runtime-dir"])
    lines = out.split("\n")
    if rc == 0 and lines and os.path.isfile(os.path.join(lines[0], "trart.h")):
        return None
    build = os.path.dirname(os.path.realpath(trac))
    inc, lib = os.path.join(build, "runtime"), os.path.join(build, "runtime", ".libs")
    if not (os.path.isfile(os.path.join(inc, "trart.h")) and os.path.isdir(lib)):
        return None
    d = os.path.join(tmp, "runtime")
    os.makedirs(d, exist_ok=True)
    os.symlink(inc, os.path.join(d, "include"))
    os.symlink(lib, os.path.join(d, "lib"))
    return d


def train(args, seed, tmp, corpus=None):
    """Runs data/train-placer.sh for one seed: (weights, summary, calls, seconds, command)."""
    out = os.path.join(tmp, "seed%d.weights" % seed)
    cmd = ["sh", TRAIN_SCRIPT, args.trac, out, str(seed)] + ([args.episodes] if args.episodes else [])
    env = dict(os.environ)
    if corpus:
        env["TRAIN_PLACER_CORPUS"] = corpus
    rc, so, se, secs = run(cmd, timeout=3600, env=env)
    if rc != 0:
        sys.exit("placer.py: training failed (%s): %s" % (" ".join(cmd), first_line(se or so)))
    summary = first_line(so)
    m = re.search(r"(\d+) simulator calls", summary)
    if not m:
        sys.exit("placer.py: no 'simulator calls' in the training's output: %s" % summary)
    return out, summary, int(m.group(1)), secs, cmd


def plan_cmd(args, path, devices, placer, extra):
    return [args.trac, "--emit=plan-json", "--devices=%d" % devices, "--placer=" + placer] + extra + [path]


def simulate(args, path, devices, placer, extra):
    """(makespan in seconds or None, error or None, trac's seconds)."""
    cmd = plan_cmd(args, path, devices, placer, extra)
    rc, so, se, secs = run(cmd)
    if rc != 0:
        return None, first_line(se or so), secs
    try:
        plan = json.loads(so)
        return float(plan["makespan_s"]), None, secs
    except (ValueError, KeyError) as e:
        return None, "unreadable plan JSON (%s)" % e, secs


# --- tables --------------------------------------------------------------------

def md_table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    cells = [header] + rows
    width = [max(len(str(r[i])) for r in cells) for i in range(len(header))]

    def line(r):
        return "| " + " | ".join(str(c).ljust(w) if a == "l" else str(c).rjust(w)
                                 for c, w, a in zip(r, width, align)) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else (":" + "-" * (w + 1))
                         for w, a in zip(width, align)) + "|"
    return [line(header), sep] + [line(r) for r in rows]


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trac", default="./trac", help="the trac to evaluate (default ./trac)")
    ap.add_argument("--quick", action="store_true", help="fewer programs, 2 seeds, fewer episodes (a smoke run)")
    ap.add_argument("--seeds", type=int, help="training seeds 1..N (default 5; 2 with --quick)")
    ap.add_argument("--episodes", help="--train stages for data/train-placer.sh (default: the script's; "
                    "%s with --quick)" % QUICK_EPISODES)
    ap.add_argument("--verbose", action="store_true", help="also a table per program")
    ap.add_argument("--out", help="also write the report to FILE as markdown")
    ap.add_argument("--no-steal", action="store_true", help="run the measured programs with --no-steal")
    ap.add_argument("--rounds", type=int, help="measured rounds per program and placer (default 5; 2 with --quick)")
    ap.add_argument("--simulated-only", action="store_true", help="leave out the measured part")
    ap.add_argument("--no-ranks", action="store_true",
                    help="measure on threads only (by default also on 2 MPI ranks when mpirun is found)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="trac runs at a time for training and simulation (default: the cores)")
    ap.add_argument("--keep", help="write the programs, weights and builds to DIR and keep them")
    args = ap.parse_args()
    args.trac = os.path.abspath(args.trac) if os.sep in args.trac else (shutil.which(args.trac) or args.trac)
    if not os.access(args.trac, os.X_OK):
        sys.exit("placer.py: no trac at %s (--trac)" % args.trac)
    seeds = args.seeds or (2 if args.quick else 5)
    if args.quick and not args.episodes:
        args.episodes = QUICK_EPISODES
    if not args.rounds:
        args.rounds = 2 if args.quick else 5
    t_start = time.monotonic()

    if args.keep:
        tmp = os.path.abspath(args.keep)
        os.makedirs(tmp, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="placer-eval.")
    try:
        return evaluate(args, seeds, tmp, t_start)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def evaluate(args, seeds, tmp, t_start):
    report = []

    def say(line=""):
        print(line, flush=True)
        report.append(line)

    rel = os.path.relpath
    _, version, _, _ = run([args.trac, "--version"])
    say("# Placer evaluation: learned (data/train-placer.sh) against trac's other placers")
    say()
    say("- command: `%s`" % " ".join(shlex.quote(a) for a in [sys.executable, rel(__file__)] + sys.argv[1:]))
    say("- trac: `%s` (%s); %d cores; %s" % (args.trac, first_line(version), os.cpu_count() or 1,
                                            time.strftime("%Y-%m-%d %H:%M")))

    # 1. training
    corpus = os.path.join(tmp, "corpus")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = list(pool.map(lambda s: train(args, s, tmp, corpus if s == 1 else None), range(1, seeds + 1)))
    calls = [r[2] for r in runs]
    search_calls = int(round(statistics.mean(calls)))
    shown = ["sh", TRAIN_SCRIPT, args.trac, "SEED.weights", "SEED"] + ([args.episodes] if args.episodes else [])
    say("- training, per SEED in 1..%d: `%s`" % (seeds, " ".join(shlex.quote(a) for a in shown)))
    for s, r in enumerate(runs, 1):
        say("  - seed %d (%.1f s): %s" % (s, r[3], r[1]))
    say("- search: `--search-calls=%d` (the training's simulator calls, mean over the seeds)" % search_calls)
    say("- simulated: `%s --emit=plan-json --devices=N --placer=P PROG.tra` for N in 2, 4, 8 and each placer P; "
        "learned adds `--placer-weights=SEED.weights`, search `--search-calls=%d`; the makespan is makespan_s"
        % (args.trac, search_calls))

    # 2. the held-out programs
    progs = []  # (name, path, measured -D flags)
    pdir = os.path.join(tmp, "heldout")
    os.makedirs(pdir, exist_ok=True)
    for name, text, measure_d, in_quick in GENERATED:
        if args.quick and not in_quick:
            continue
        path = os.path.join(pdir, name + ".tra")
        with open(path, "w") as f:
            f.write(text)
        progs.append((name, path, measure_d))
    skipped = []
    for path in sorted(os.listdir(os.path.join(SRCDIR, "samples"))):
        if not path.endswith(".tra"):
            continue
        name = path[:-4]
        measure_d, in_quick = SAMPLES.get(name, ([], False))
        if args.quick and not in_quick:
            continue
        full = os.path.join(SRCDIR, "samples", path)
        rc, so, se, _ = run([args.trac, "--emit=plan", "--devices=2", full])
        if rc != 0:
            skipped.append("%s (%s)" % (rel(full), first_line(se or so)))
            continue
        progs.append(("samples/" + name, full, measure_d))
    seen = {}
    for f in sorted(os.listdir(corpus)):
        with open(os.path.join(corpus, f)) as fh:
            seen[canonical(fh.read())] = f
    for name, path, _ in progs:
        with open(path) as fh:
            c = canonical(fh.read())
        if c in seen:
            sys.exit("placer.py: held-out %s is the corpus's %s" % (name, seen[c]))
    tasks = {}
    for name, path, _ in progs:
        rc, so, _, _ = run([args.trac, "--emit=taskgraph", "--devices=8", path])
        m = re.search(r"tasks=(\d+)", so)
        tasks[name] = m.group(1) if m else "?"
    say("- held-out programs (%d; tasks on 8 devices; none is in the corpus of %d): %s"
        % (len(progs), len(seen), ", ".join("%s (%s)" % (n, tasks[n]) for n, _, _ in progs)))
    if skipped:
        say("- skipped (do not compile with --emit=plan): " + "; ".join(skipped))
    else:
        say("- skipped: none (every sample compiles with --emit=plan)")
    say()

    # 3. simulation
    jobs = []  # (program, devices, column, placer, extra)
    for name, path, _ in progs:
        for n in DEVICES:
            for p in PLACERS:
                if p == "learned":
                    for s, r in enumerate(runs, 1):
                        jobs.append((name, path, n, "learned/%d" % s, p, ["--placer-weights=" + r[0]]))
                elif p == "search":
                    jobs.append((name, path, n, p, p, ["--search-calls=%d" % search_calls]))
                else:
                    jobs.append((name, path, n, p, p, []))
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda j: simulate(args, j[1], j[2], j[4], j[5]), jobs))
    span, errors, secs = {}, [], {}
    for j, (ms, err, sec) in zip(jobs, results):
        span[(j[0], j[2], j[3])] = ms
        secs.setdefault(j[4], []).append(sec)
        if err:
            errors.append("%s, %d devices, %s: %s" % (j[0], j[2], j[3], err))

    def ratio(name, n, col):
        ref, v = span.get((name, n, REFERENCE)), span.get((name, n, col))
        return v / ref if ref and v else None

    cols = [p for p in PLACERS if p != "learned"] + ["learned/%d" % s for s in range(1, seeds + 1)]
    means = {}  # (n, placer) -> mean ratio (learned: mean over seeds)
    for n in DEVICES:
        ok = [name for name, _, _ in progs if all(ratio(name, n, c) for c in cols)]
        say("## Simulated, %d devices: makespan / critical path's, mean over %d programs (lower is better)"
            % (n, len(ok)))
        say()
        rows = []
        for p in PLACERS:
            if p == "learned":
                per_seed = [statistics.mean(ratio(x, n, "learned/%d" % s) for x in ok) for s in range(1, seeds + 1)]
                mean = statistics.mean(per_seed)
                spread = "%.4f..%.4f" % (min(per_seed), max(per_seed))
                per_prog = {x: statistics.mean(ratio(x, n, "learned/%d" % s) for s in range(1, seeds + 1)) for x in ok}
            else:
                per_prog = {x: ratio(x, n, p) for x in ok}
                mean, spread = statistics.mean(per_prog.values()), ""
            means[(n, p)] = mean
            better = sum(1 for v in per_prog.values() if v < 0.995)
            worse = sum(1 for v in per_prog.values() if v > 1.005)
            worst = max(per_prog, key=per_prog.get)
            rows.append([p + (" (%d seeds)" % seeds if p == "learned" else ""), "%.4f" % mean, spread,
                         "%d / %d" % (better, worse), "%.3f %s" % (per_prog[worst], worst) if p != REFERENCE else "",
                         "%.2f" % statistics.mean(secs[p])])
        for line in md_table(["placer", "mean ratio", "seeds min..max", "better / worse than c-p",
                              "worst (program)", "trac s"], rows, ["l", "r", "r", "r", "l", "r"]):
            say(line)
        say()
    say("better / worse: programs more than 0.5%% faster / slower than critical path; "
        "trac s: seconds per `trac --emit=plan-json` (learned: per seed), %d at a time" % args.jobs)
    say()
    if errors:
        say("Failed simulations (left out of the means above):")
        for e in errors:
            say("- " + e)
        say()

    if args.verbose:
        for n in DEVICES:
            say("## Per program, %d devices: makespan / critical path's (learned: mean over seeds, min..max)" % n)
            say()
            rows = []
            for name, _, _ in progs:
                row = [name, tasks[name],
                       "%.3f" % (span[(name, n, REFERENCE)] * 1e3) if span.get((name, n, REFERENCE)) else "failed"]
                for p in PLACERS:
                    if p == "learned":
                        v = [ratio(name, n, "learned/%d" % s) for s in range(1, seeds + 1)]
                        row.append("%.3f (%.3f..%.3f)" % (statistics.mean(v), min(v), max(v))
                                   if all(v) else "failed")
                    else:
                        v = ratio(name, n, p)
                        row.append("%.3f" % v if v else "failed")
                rows.append(row)
            for line in md_table(["program", "tasks@8", "c-p ms"] + PLACERS, rows):
                say(line)
            say()

    # 4. measured
    if not args.simulated_only:
        measure(args, tmp, progs, runs, search_calls, means, say, None)
        mpirun = None if args.no_ranks else shutil.which("mpirun")
        if mpirun:
            measure(args, tmp, progs, runs, search_calls, means, say, mpirun)
        elif not args.no_ranks:
            say("(no mpirun on PATH: not measured on MPI ranks)")
    say("(%.0f s in all)" % (time.monotonic() - t_start))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(report) + "\n")
    return 0


def measure(args, tmp, progs, runs, search_calls, means, say, mpirun):
    """The measured part: the best two placers' builds timed in turn, on 2
    threads, or with mpirun on 2 MPI ranks of one device (and thread) each,
    where a run's time is its slowest rank's."""
    best = sorted(PLACERS, key=lambda p: means[(2, p)])[:2]
    where = ["--ranks=2", "--devices=1"] if mpirun else ["--devices=2"]
    launch = [mpirun, "--oversubscribe", "--allow-run-as-root", "-np", "2", "--mca", "btl", "self,vader"] if mpirun else []
    rtdir = runtime_dir(args.trac, tmp)
    placer_flags = {p: (["--placer-weights=" + runs[0][0]] if p == "learned" else
                        ["--search-calls=%d" % search_calls] if p == "search" else []) for p in best}
    prog_flags = (["--random", "--threads", "1" if mpirun else "2", "--repeat", "20", "--time"] +
                  (["--no-steal"] if args.no_steal else []))
    say("## Measured, %s: %s and %s, the best two placers by simulated mean on 2 devices"
        % (("2 MPI ranks" if mpirun else "2 threads",) + tuple(best)))
    say()
    compile_cmd = [args.trac, "PROG.tra"] + where + ["--placer=P", "[-D NAME=VALUE..]", "-o", "PROG"]
    say("- compile: `%s`, with the placer's flags above%s" % (
        " ".join(compile_cmd), " and `--runtime-dir=%s` (links to the build tree's runtime)" % rtdir if rtdir else ""))
    if "learned" in best:
        say("- learned uses seed 1's weights (the same as data/placer.weights when trained with the script's "
            "default episodes)")
    say("- run: `%s./PROG %s --output-dir DIR`, %d rounds of both builds (in turn, the first one first in odd "
        "rounds); ms: the median over the rounds of the median_ms it prints; ratio: the median over the rounds "
        "of the round's %s / %s, whose min..max shows the noise"
        % (" ".join(launch) + " " if launch else "", " ".join(prog_flags), args.rounds, best[1], best[0]))
    say()
    bdir = os.path.join(tmp, "build")
    odir = os.path.join(bdir, "outputs")  # the programs' outputs, removed after each run
    os.makedirs(bdir, exist_ok=True)
    rows, ratios, failures, consistent = [], [], [], [0, 0]
    for name, path, measure_d in progs:
        exes = {}
        for p in best:
            exe = os.path.join(bdir, "%s.%s" % (name.replace("/", "_"), p))
            cmd = ([args.trac, path] + where + ["--placer=" + p] + placer_flags[p] + measure_d + ["-o", exe] +
                   (["--runtime-dir=" + rtdir] if rtdir else []))
            rc, so, se, _ = run(cmd)
            if rc != 0:
                failures.append("%s, %s: compile failed: %s" % (name, p, first_line(se or so)))
                break
            exes[p] = exe
        if len(exes) < 2:
            continue
        times = {p: [] for p in best}
        failed = False
        for k in range(args.rounds):
            for p in (best if k % 2 == 0 else best[::-1]):
                rc, so, se, _ = run(launch + [exes[p]] + prog_flags + ["--output-dir", odir], timeout=300)
                shutil.rmtree(odir, ignore_errors=True)
                m = re.findall(r"median_ms=([0-9.eE+-]+)", se + so)
                if rc != 0 or not m:
                    failures.append("%s, %s: run failed: %s" % (name, p, first_line(se or so)))
                    failed = True
                    break
                times[p].append(max(float(x) for x in m))  # the slowest rank's
            if failed:
                break
        if failed:
            continue
        paired = [b / a for a, b in zip(times[best[0]], times[best[1]])]
        r = statistics.median(paired)
        ratios.append(r)
        if min(paired) > 1:
            consistent[0] += 1
        elif max(paired) < 1:
            consistent[1] += 1
        rows.append([name, " ".join(f[2:] for f in measure_d) or "as simulated",
                     "%.3f" % statistics.median(times[best[0]]), "%.3f" % statistics.median(times[best[1]]),
                     "%.3f" % r, "%.3f..%.3f" % (min(paired), max(paired))])
    for line in md_table(["program", "sizes", best[0] + " ms", best[1] + " ms", "ratio", "rounds min..max"], rows,
                         ["l", "l", "r", "r", "r", "r"]):
        say(line)
    say()
    if ratios:
        say("ratio %s / %s (above 1: %s ran faster, as simulated): geometric mean %.3f, median %.3f, "
            "min %.3f, max %.3f over %d programs; above 1 in every round on %d, below 1 in every round on %d"
            % (best[1], best[0], best[0], geomean(ratios), statistics.median(ratios), min(ratios), max(ratios),
               len(ratios), consistent[0], consistent[1]))
    for f in failures:
        say("- " + f)
    say()


if __name__ == "__main__":
    sys.exit(main())
