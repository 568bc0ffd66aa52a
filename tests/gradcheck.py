"""gradcheck.py: the gradient check of trac's grad (compiler/grad.c).

Usage: gradcheck.py TRAC COUNT [--seed S] [--bundle B] [--compile-every C]
                    [--keep DIR] [--show N]

Needs: a built trac (and its runtime, to compile), /usr/bin/python3 with
numpy. Gives: counts, the programs behind every failure, and exit status
0 (all held) or 1.

It writes COUNT random f64 programs (seeded: the same COUNT and seed give
the same programs), each a few statements over small inputs that end in
a scalar loss, and `dX = grad(loss, X)` for every input X. The programs
cover every scalar function of tra(5) (with their arguments kept inside
the domain: log(a * a + 0.5), a / (b * b + 0.5)), select, the
element-wise max and min, every aggregation (sum, mean, max, min, prod),
nested reductions and epilogues, tensors read by several statements and
several times by one, diagonals (X[i, i]), transposes, scalar inputs,
views (a constant subscript, a shifted or strided read with padding,
a convolution's h + r), and gathers through integer inputs (T[tok[i], j],
T[tok[i, j]], T[tok[i], i], some padded with positions outside the table), whose
tables' gradients are scatter-adds; positions repeat, so rows add up.
Some programs put exact zeros in their inputs
and use smooth functions only, so that a product's zero-safe rule is
checked where it matters.

1. Against central finite differences of the interpreter, twice per
   program: with a random direction V_X (uniform in [-1, 1)) for each
   input X, the directional derivative that `trac --interpret` computes,
   the sum over the inputs of <dX, V_X>, is compared with
   (L(X + hV) - L(X - hV)) / 2h, every input moved at once, also from
   the interpreter (double precision); then the same for one input
   chosen at random, moved alone. With h = 1e-5 the difference's truncation error
   is h^2/6 |L'''| (about 1e-11 here) and its rounding error about
   1e-16 |L| / h (1e-11 |L|); the tolerance is 1e-6 of the magnitudes
   plus 1e-8 (1 + |L|), a thousand times both. Where the loss is not
   smooth within h of the point (a relu, abs, max or select switching),
   the two differences for h and h/2 disagree by more than the
   tolerance: such a check is counted as "not smooth" and not compared
   (the fraction is reported, and over 5% fails the run).
2. Compiled against the interpreter: every C-th bundle is compiled by
   trac (the passes, block tasks, kernels) and run on the same inputs;
   the loss and every gradient must match the interpreter's within
   tra(5)'s f64 tolerance (1e-10 of the largest magnitude).

Programs are bundled B to a .tra file (names prefixed pK_): an
interpreter run or a compile covers them all.
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

UNARY = ['exp', 'log', 'sqrt', 'tanh', 'sigmoid', 'relu', 'abs', 'floor', 'ceil', 'round',
         'sign', 'rsqrt', 'exp2', 'log2', 'expm1', 'log1p', 'sin', 'cos', 'erf', 'neg']
SMOOTH_UNARY = ['exp', 'log', 'sqrt', 'tanh', 'sigmoid', 'rsqrt', 'exp2', 'log2', 'expm1',
                'log1p', 'sin', 'cos', 'erf', 'neg']
AGGS = ['sum', 'mean', 'max', 'min', 'prod']
SMOOTH_AGGS = ['sum', 'mean', 'prod']
DIMS = [2, 3, 4]


class Prog:
    """One random program: its statements, inputs and gradients."""

    def __init__(self, rng, k):
        self.rng = rng
        self.p = 'p%d_' % k
        self.smooth = rng.random() < 0.2  # zeros in the inputs, smooth functions only
        self.inputs = []   # (name, shape)
        self.ints = []     # (name, shape, lo, hi): integer inputs, values in [lo, hi)
        self.tensors = []  # (name, shape): inputs and definitions, readable
        self.lines = []
        self.nidx = 0
        self.kinds = set()

    def fresh_index(self):
        self.nidx += 1
        return 'x%d' % self.nidx

    def add_input(self, shape):
        name = '%sI%d' % (self.p, len(self.inputs))
        self.inputs.append((name, shape))
        self.tensors.append((name, shape))
        dims = ', '.join(str(d) for d in shape)
        self.lines.append('input %s%s f64' % (name, '[%s]' % dims if shape else ''))
        return name

    def add_int_input(self, shape, lo, hi):
        name = '%sN%d' % (self.p, len(self.ints))
        self.ints.append((name, shape, lo, hi))
        self.lines.append('input %s[%s] i64' % (name, ', '.join(str(d) for d in shape)))
        return name

    # ---- expressions: env maps index name -> range ----

    def read(self, env, need):
        """A read of a tensor at env's indices (preferring the indices in need)."""
        rng = self.rng
        names = list(env)
        if names and rng.random() < 0.05:
            return self.gather(env, rng.choice([n for n in names if n in need] or names))
        for _ in range(20):
            t, shape = rng.choice(self.tensors)
            if not shape:
                self.kinds.add('scalar')
                return t
            subs = []
            for d in shape:
                cands = [x for x in names if env[x] == d]
                pref = [x for x in cands if x in need and x not in subs]
                if pref and rng.random() < 0.8:
                    subs.append(rng.choice(pref))
                elif cands:
                    subs.append(rng.choice(cands))
                else:
                    subs.append(None)
            if None in subs:
                continue
            if len(set(subs)) < len(subs):
                self.kinds.add('diagonal')
            return '%s[%s]' % (t, ', '.join(subs))
        return self.view(env, need)

    def view(self, env, need):
        """A read with a subscript that is not a plain index."""
        rng = self.rng
        names = list(env)
        if not names:
            self.kinds.add('scalar')
            return self.add_input(())
        x = rng.choice([n for n in names if n in need] or names)
        n = env[x]
        kind = rng.choice(['const', 'shift', 'stride', 'gather'])
        if kind == 'gather':
            return self.gather(env, x)
        if kind == 'const':
            d = rng.choice(DIMS)
            self.kinds.add('view-const')
            if rng.random() < 0.5:
                return '%s[%d, %s]' % (self.add_input((d, n)), rng.randrange(d), x)
            return '%s[%s, %d]' % (self.add_input((n, d)), x, rng.randrange(d))
        if kind == 'shift':
            t = self.add_input((n,))
            self.kinds.add('view-shift')
            return '%s[%s %s 1, pad=0]' % (t, x, rng.choice(['+', '-']))
        t = self.add_input((2 * n,))
        self.kinds.add('view-stride')
        return '%s[2 * %s + %d]' % (t, x, rng.randrange(2))

    def gather(self, env, x):
        """A table read at positions from an integer input: T[tok[x], y],
        T[tok[x, y]], or T[tok[x], x] (nothing summed: the scatter-add
        reads its position in its vector loop); padded, some positions
        fall outside the table."""
        rng = self.rng
        rows = rng.choice(DIMS)
        pad = rng.random() < 0.3
        others = [y for y in env if y != x]
        y = rng.choice(others) if others else None
        self.kinds.add('gather-padded' if pad else 'gather')
        lo, hi = (-1, rows + 1) if pad else (0, rows)
        suffix = ', pad=0' if pad else ''
        if y is not None and rng.random() < 0.5:
            tok = self.add_int_input((env[x], env[y]), lo, hi)
            return '%s[%s[%s, %s]%s]' % (self.add_input((rows,)), tok, x, y, suffix)
        tok = self.add_int_input((env[x],), lo, hi)
        if rng.random() < 0.2:
            return '%s[%s[%s], %s%s]' % (self.add_input((rows, env[x])), tok, x, x, suffix)
        if y is not None:
            return '%s[%s[%s], %s%s]' % (self.add_input((rows, env[y])), tok, x, y, suffix)
        return '%s[%s[%s]%s]' % (self.add_input((rows,)), tok, x, suffix)

    def positive(self, e):
        return '(%s * %s + 0.5)' % (e, e)

    def expr(self, env, need, depth):
        rng = self.rng
        r = rng.random()
        if depth <= 0 or r < 0.25:
            if rng.random() < 0.1:
                return '%.2f' % rng.uniform(-1.5, 1.5)
            return self.read(env, need)
        if r < 0.45:
            f = rng.choice(SMOOTH_UNARY if self.smooth else UNARY)
            a = self.expr(env, need, depth - 1)
            self.kinds.add(f)
            if f == 'neg':
                return '-(%s)' % a
            if f in ('log', 'log2', 'sqrt', 'rsqrt'):
                a = self.positive(a)
            if f == 'log1p':
                a = '%s * %s' % (a, a)
            if f in ('exp', 'exp2', 'expm1'):
                a = 'tanh(%s)' % a
            return '%s(%s)' % (f, a)
        if r < 0.7:
            op = rng.choice(['+', '-', '*', '/', 'pow', 'max', 'min'] if not self.smooth else
                            ['+', '-', '*', '/', 'pow'])
            a = self.expr(env, need, depth - 1)
            b = self.expr(env, need, depth - 1)
            self.kinds.add(op)
            if op == '/':
                return '(%s) / %s' % (a, self.positive(b))
            if op == 'pow':
                if rng.random() < 0.5:
                    return 'pow(%s, %d)' % (a, rng.choice([2, 3]))
                return 'pow(%s, tanh(%s))' % (self.positive(a), b)
            if op in ('max', 'min'):
                return '%s(%s, %s)' % (op, a, b)
            return '(%s %s %s)' % (a, op, b)
        if r < 0.78 and not self.smooth:
            a = self.expr(env, need, depth - 1)
            b = self.expr(env, need, depth - 1)
            c = self.expr(env, need, depth - 1)
            self.kinds.add('select')
            return 'select(%s > %s, %s, %s)' % (a, '%.1f' % rng.uniform(-0.5, 0.5), b, c)
        return self.reduction(env, need, depth - 1)

    def reduction(self, env, need, depth):
        rng = self.rng
        agg = rng.choice(SMOOTH_AGGS if self.smooth else AGGS)
        k = self.fresh_index()
        n = rng.choice(DIMS)
        inner = dict(env)
        inner[k] = n
        if rng.random() < 0.3 and not self.smooth:  # a convolution's h + r
            t = self.add_input((n + 2,))
            body = '%s[%s + %s, pad=0] * %s' % (t, rng.choice(list(env) or [k]), k,
                                               self.read(inner, {k}))
            self.kinds.add('view-conv')
        else:
            body = self.expr(inner, {k}, depth)
        if not self.uses(body, k):
            body = '(%s) * %s' % (body, self.read(inner, {k}))
        if not self.uses(body, k):
            t = self.add_input((n,))
            body = '(%s) * %s[%s]' % (body, t, k)
        self.kinds.add('agg-' + agg)
        return '%s[%s : %d](%s)' % (agg, k, n, body)

    def statement(self, name):
        rng = self.rng
        rank = rng.choice([0, 1, 1, 2, 2])
        env = {}
        for _ in range(rank):
            env[self.fresh_index()] = rng.choice(DIMS)
        body = self.expr(env, set(env), rng.choice([2, 3]))
        if self.p not in body:  # reads no tensor: it would be f32
            body = '(%s) * %s' % (body, self.read(env, set(env)))
        for x in env:
            if not self.uses(body, x):
                t = self.add_input((env[x],))
                body = '(%s) + %s[%s]' % (body, t, x)
        lhs = '%s[%s]' % (name, ', '.join('%s : %d' % (x, env[x]) for x in env)) if env else name
        self.lines.append('%s = %s' % (lhs, body))
        self.tensors.append((name, tuple(env.values())))
        return name

    @staticmethod
    def uses(body, x):
        return re.search(r'\b%s\b' % x, body) is not None

    def build(self):
        rng = self.rng
        for _ in range(rng.choice([2, 3])):
            self.add_input(tuple(rng.choice(DIMS) for _ in range(rng.choice([0, 1, 2, 2]))))
        last = None
        for s in range(rng.choice([1, 2, 3])):
            last = self.statement('%sT%d' % (self.p, s))
        shape = dict(self.tensors)[last]
        idx = ['y%d' % d for d in range(len(shape))]
        if shape:
            w = self.add_input(shape)
            sub = ', '.join(idx)
            self.lines.append('%sL = sum[%s](%s[%s] * %s[%s])' % (self.p, sub, last, sub, w, sub))
        else:
            self.lines.append('%sL = %s * %s' % (self.p, last, '1.5'))
        self.loss = self.p + 'L'
        self.grads = []
        for name, shape in self.inputs:
            g = 'd' + name
            self.lines.append('%s = grad(%s, %s)' % (g, self.loss, name))
            self.grads.append((g, name))
        self.outputs = [self.loss] + [g for g, _ in self.grads]
        return self

    def values(self, nrng):
        vals = {}
        for name, shape in self.inputs:
            v = nrng.uniform(-1, 1, shape) if shape else np.array(nrng.uniform(-1, 1))
            if self.smooth and v.size > 1:
                v.flat[nrng.integers(v.size)] = 0.0
            vals[name] = np.asarray(v, dtype=np.float64)
        for name, shape, lo, hi in self.ints:
            vals[name] = nrng.integers(lo, hi, shape).astype(np.int64)
        return vals


def run_with_inputs(cmd, vals, outdir, what):
    """Runs cmd with every input of vals written to outdir as .npy and
    its outputs into outdir; returns outdir."""
    os.makedirs(outdir, exist_ok=True)
    args = cmd + ['--output-dir', outdir]
    for k, v in vals.items():
        f = os.path.join(outdir, 'in.%s.npy' % k)
        np.save(f, v)
        args += ['--input', '%s=%s' % (k, f)]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError('%s failed: %s' % (what, r.stderr[-2000:]))
    return outdir


def interp(trac, tra, vals, outdir):
    """Runs the interpreter on tra with inputs vals; returns the directory
    of its outputs."""
    return run_with_inputs([trac, '-w', '--interpret', tra], vals, outdir, 'trac --interpret')


def load(outdir, name):
    return np.load(os.path.join(outdir, name + '.npy'))


def run_compiled(trac, tra, exe, vals, outdir):
    r = subprocess.run([trac, '-w', tra, '-o', exe], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError('trac failed to compile: %s' % r.stderr[-2000:])
    run_with_inputs([exe], vals, outdir, 'the compiled program')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('trac')
    ap.add_argument('count', type=int)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--bundle', type=int, default=25)
    ap.add_argument('--compile-every', type=int, default=2)
    ap.add_argument('--keep')
    ap.add_argument('--show', type=int, default=3)
    a = ap.parse_args()
    trac = os.path.abspath(a.trac)
    tmp = a.keep or tempfile.mkdtemp(prefix='gradcheck.')
    os.makedirs(tmp, exist_ok=True)
    rng = random.Random(a.seed)
    nrng = np.random.default_rng(a.seed)
    h = 1e-5
    stats = dict(checks=0, passed=0, failed=0, rough=0, compiled=0, compiled_failed=0, programs=0)
    kinds = {}
    failures = []
    worst = 0.0
    nb = (a.count + a.bundle - 1) // a.bundle
    for b in range(nb):
        progs = [Prog(rng, k).build() for k in range(min(a.bundle, a.count - b * a.bundle))]
        stats['programs'] += len(progs)
        for p in progs:
            for k in p.kinds:
                kinds[k] = kinds.get(k, 0) + 1
        text = []
        for p in progs:
            text += p.lines
        text.append('output ' + ', '.join(o for p in progs for o in p.outputs))
        tra = os.path.join(tmp, 'b%d.tra' % b)
        with open(tra, 'w') as f:
            f.write('\n'.join(text) + '\n')
        vals = {}
        for p in progs:
            vals.update(p.values(nrng))
        base = interp(trac, tra, vals, os.path.join(tmp, 'b%d.base' % b))
        # one direction per (program, input); run j perturbs every program's j-th input
        dirs = {}
        for p in progs:
            for name, shape in p.inputs:
                dirs[name] = np.asarray(nrng.uniform(-1, 1, shape), dtype=np.float64)
        # two checks per program: every input along its direction at once
        # (<dL, V> summed over the inputs), and one input chosen at random
        one = {p.loss: rng.randrange(len(p.inputs)) for p in progs}
        fd = {}
        for which in ('all', 'one'):
            runs = []
            for step, sgn in ((h, 1), (h, -1), (h / 2, 1), (h / 2, -1)):
                v = dict(vals)
                for p in progs:
                    for j, (n, _) in enumerate(p.inputs):
                        if which == 'all' or j == one[p.loss]:
                            v[n] = vals[n] + sgn * step * dirs[n]
                runs.append(interp(trac, tra, v, os.path.join(tmp, 'b%d.%s.%g.%d' % (b, which, step, sgn))))
            for p in progs:
                lp = [float(load(d, p.loss)) for d in runs]
                fd[(p.loss, which)] = ((lp[0] - lp[1]) / (2 * h), (lp[2] - lp[3]) / h)
        for p in progs:
            L = float(load(base, p.loss))
            for which in ('all', 'one'):
                grads = p.grads if which == 'all' else [p.grads[one[p.loss]]]
                ad = sum(float(np.sum(load(base, g) * dirs[name])) for g, name in grads)
                f1, f2 = fd[(p.loss, which)]
                tol = 1e-6 * (abs(f2) + abs(ad)) + 1e-8 * (1 + abs(L))
                stats['checks'] += 1
                if not (np.isfinite(ad) and np.isfinite(f2)) or abs(f1 - f2) > tol:
                    stats['rough'] += 1
                    continue
                err = abs(ad - f2)
                if err <= tol:
                    worst = max(worst, err / tol)
                    stats['passed'] += 1
                else:
                    stats['failed'] += 1
                    what = 'every input' if which == 'all' else grads[0][1]
                    failures.append('%s: d%s along V (%s): grad %.12g, differences %.12g (h), %.12g (h/2)'
                                    % (tra, p.loss, what, ad, f1, f2) + '\n    ' + '\n    '.join(p.lines))
        if a.compile_every > 0 and b % a.compile_every == 0:
            out = os.path.join(tmp, 'b%d.run' % b)
            try:
                run_compiled(trac, tra, os.path.join(tmp, 'b%d.exe' % b), vals, out)
                bad = []
                for p in progs:
                    for o in p.outputs:
                        want, got = load(base, o), load(out, o)
                        scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-300)
                        if not np.all(np.abs(got - want) <= 1e-10 * scale) and scale > 1e-300:
                            bad.append(o)
                stats['compiled'] += 1
                if bad:
                    stats['compiled_failed'] += 1
                    failures.append('%s: compiled outputs differ from the interpreter\'s: %s' % (tra, ', '.join(bad)))
            except RuntimeError as e:
                stats['compiled'] += 1
                stats['compiled_failed'] += 1
                failures.append('%s: %s' % (tra, e))
    print('programs %d, gradient checks %d: %d passed, %d failed, %d not smooth at the point (%.1f%%)'
          % (stats['programs'], stats['checks'], stats['passed'], stats['failed'], stats['rough'],
             100.0 * stats['rough'] / max(1, stats['checks'])))
    print('largest error of a passing check, as a fraction of its tolerance: %.3g' % worst)
    print('compiled bundles %d, %d differing from the interpreter' % (stats['compiled'], stats['compiled_failed']))
    print('constructs: ' + ', '.join('%s %d' % (k, kinds[k]) for k in sorted(kinds)))
    for f in failures[:a.show]:
        print('FAIL ' + f)
    ok = not failures and stats['rough'] <= 0.05 * stats['checks']
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
