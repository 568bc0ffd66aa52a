#!/usr/bin/env python3
"""train.py: the training samples run for many steps (`--steps`).

usage: train.py TRAC SAMPLES_DIR [STEPS]

For each samples/train_*.tra, at check_samples.py's small sizes and on
its seeded inputs: NumPy runs STEPS (default 100) steps of the sample's
update, with check_samples.py's hand-written backward pass, feeding each
updated tensor back as the next step's input (FEEDS there). Then

  1. the program trac compiles, run with --steps STEPS --log-every 1,
     must print STEPS lines 'step S: loss=...' whose losses follow
     NumPy's (within 2e-4 relative for the first 5 steps, 1e-3 after, for
     f32; 1e-10 and 1e-7 for f64: see TOL): a wrong gradient, a feed not
     copied or copied at the wrong time moves the trajectory off at once;
  2. its final outputs (the fed tensors: the state after the last step)
     must match NumPy's within the same tolerance;
  3. trac --interpret with the same options must print the same steps
     (within the tolerance) and write the same outputs; train_mlp and
     train_embed are also compiled as whole-node kernels, for 3 devices,
     and for 2 simulated GPUs (CONFIGS; train_embed through the C back
     end too), each checked the same way;
  4. NumPy's loss must go down (the last step's below 90% of the first),
     so that the samples are worth training.

Prints PASS or FAIL per sample; exit 1 on any failure, 77 without numpy.
"""
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy cannot be imported by %s" % sys.executable)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_samples as cs  # noqa: E402

# Relative tolerances of a step's loss and of the final state: tight for
# the first steps, looser later, where training amplifies rounding (an
# f64 attention program compiled by trac drifted 9e-10 from NumPy in 100
# steps, interpreted 6e-9; at a learning rate twice the sample's, f32
# NumPy itself drifts from f64 by a factor of 3 there: the samples' rates
# keep their training well conditioned); a wrong gradient or feed is off
# by far more, from the first steps on.
TOL = {"f32": (2e-4, 1e-3), "f64": (1e-10, 1e-7)}
EARLY = 5


# How the programs are compiled: the default, and for train_mlp also the
# other ways a step can run (the state is copied between steps the same
# way in each: runtime/cli.c).
CONFIGS = [[], ["--node-kernels"], ["--devices=3", "--placer=critical-path"],
           ["--gpus=2", "--backend=cuda-sim"]]
# train_embed's scatter-add (the embedding's gradient) has a kernel of
# its own in each back end: also through C, whole-node and in blocks.
CONFIGS_OF = {"train_mlp": CONFIGS,
              "train_embed": CONFIGS + [["--backend=c"], ["--backend=c", "--node-kernels"]]}


def numpy_steps(name, sample, values, steps):
    """The losses of every step and the final outputs, in float64."""
    v = dict(values)
    losses = []
    out = None
    for k in range(steps):
        out = sample.ref(sample.sizes, **v)
        losses.append(float(out["loss"]))
        if k + 1 < steps:
            for src, dst in cs.FEEDS[name].items():
                v[dst] = out[src]
    return losses, out


def parse_log(text, steps):
    losses = []
    for line in text.splitlines():
        m = re.match(r"step (\d+): (.*)$", line)
        if not m:
            raise RuntimeError("unexpected line on stdout: %r" % line)
        fields = dict(f.split("=") for f in m.group(2).split())
        if int(m.group(1)) != len(losses) + 1:
            raise RuntimeError("step %s out of order" % m.group(1))
        losses.append(float(fields["loss"]))
    if len(losses) != steps:
        raise RuntimeError("%d step lines, expected %d" % (len(losses), steps))
    return losses


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (os.path.basename(cmd[0]), r.returncode,
                                                  r.stderr.decode(errors="replace").strip()[:500]))
    return r.stdout.decode()


def close(got, want, tol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(float(np.max(np.abs(want))), 1e-30)
    return float(np.max(np.abs(got - want))) / scale <= tol


def check(trac, program, name, steps, tmp):
    sample = cs.SAMPLES[name]
    paths, values = cs.make_inputs(name, sample, tmp)
    want_losses, want = numpy_steps(name, sample, values, steps)
    worst = 0.0
    if not want_losses[-1] < 0.9 * want_losses[0]:
        raise RuntimeError("NumPy's loss does not go down: %g to %g" % (want_losses[0], want_losses[-1]))
    tol = TOL[sample.dtype]
    defs = []
    for size, value in sample.sizes.items():
        defs += ["-D", "%s=%d" % (size, value)]
    inputs = []
    for tensor, path in paths.items():
        inputs += ["--input", "%s=%s" % (tensor, path)]
    opts = ["--steps", str(steps), "--log-every", "1"]
    runs = [("interpreted", [trac, program, "--interpret"] + defs + inputs + opts)]
    for k, config in enumerate(CONFIGS_OF.get(name, CONFIGS[:1])):
        exe = os.path.join(tmp, "%s%d" % (name, k))
        run([trac, program, "-o", exe] + defs + config)
        runs.append(("compiled %s" % " ".join(config or ["(default)"]), [exe] + inputs + opts))
    for how, cmd in runs:
        outdir = os.path.join(tmp, how)
        os.mkdir(outdir)
        losses = parse_log(run(cmd + ["--output-dir", outdir]), steps)
        for k, (a, b) in enumerate(zip(losses, want_losses)):
            worst = max(worst, abs(a - b) / abs(b))
            if not abs(a - b) <= tol[k >= EARLY] * abs(b):
                raise RuntimeError("%s: step %d's loss is %.9g, NumPy's %.9g" % (how, k + 1, a, b))
        for src in cs.FEEDS[name]:
            got = np.load(os.path.join(outdir, src + ".npy"))
            if not close(got, want[src], tol[1]):
                raise RuntimeError("%s: %s after %d steps differs from NumPy's" % (how, src, steps))
    return want_losses[0], want_losses[-1], worst


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write("usage: %s TRAC SAMPLES_DIR [STEPS]\n" % argv[0])
        return 2
    trac, sample_dir = os.path.abspath(argv[1]), argv[2]
    steps = int(argv[3]) if len(argv) == 4 else 100
    failed = 0
    names = sorted(cs.FEEDS)
    for name in names:
        program = os.path.join(sample_dir, name + ".tra")
        try:
            with tempfile.TemporaryDirectory(prefix="train-" + name + ".") as tmp:
                first, last, worst = check(trac, program, name, steps, tmp)
            print("PASS %s: loss %.6g -> %.6g in %d steps, as NumPy's (within %.2g)"
                  % (name, first, last, steps, worst))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            print("FAIL %s: %s" % (name, e))
            failed += 1
    print("%d passed, %d failed" % (len(names) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
