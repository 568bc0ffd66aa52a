"""props.py: the property test of trac's TRA passes.

Usage: props.py TRAC COUNT [--seed S] [--bundle B] [--jobs J] [--keep DIR]
                [--assert-kinds K,K...] [--tolerance T] [--cflags F] [--reuse 'MIN,BLOCK ...']
                [--show N] [--verbose] [--print K] [--worse FILE]

Needs: a built trac (and its runtime, to compile), /usr/bin/python3 with
numpy. Gives: a line of counts per check, the programs behind every
failure, and exit status 0 (all held) or 1.

It writes COUNT random well-typed .tra programs (seeded, deterministic:
the same COUNT and seed give the same programs) that cover maps,
reductions (sum, max, min, prod, mean), nested reductions, contractions
of 2 to 5 operands, epilogues, scalar functions, select, broadcasting
reads, f32 and f64, and checks two properties:

1. Correctness. The passes keep the meaning: each program compiled by
   trac (passes, kernels, block tasks) gives the results of
   `trac --interpret` (the graph as written, unoptimised, in double
   precision) on the same --random inputs, within tra(5)'s tolerance as
   tests/programs.sh's compare applies it: the largest error over a
   tensor relative to its largest magnitude, 1e-4 for f32, 1e-10 for
   f64. Compiling one program at a time takes too long (the C compiler
   dominates), so BUNDLE programs share one .tra (names prefixed pK_,
   sizes and inputs of their own, several outputs each): one compile
   covers them all. A mismatch on an output so ill-conditioned that the
   interpreter's own result moves as much when the inputs move by two
   units in the last place (terms that cancel exactly) is counted apart,
   not failed: rounding, not a pass, explains it (ill_conditioned). So
   is one whose terms cancel for every input (the interpreter's value
   within rounding of the largest value the program computes, and the
   compiled one within the tolerance of that scale: cancels).
   Every other bundle is compiled with --reuse=MIN,BLOCK, the sizes
   taking turns from --reuse (default 128,32 to 1024,256: bytes, where
   trac's default finds reuse chains only for tensors of 32 MiB): the
   programs' tensors, of a few hundred elements, then make reuse chains
   (trac(1), REUSE CHAINS), reader and producer ones, cut along one to
   three indices, whose row blocks and depth-first placement must keep
   the results. The chains are counted (from --emit=plan); none in a run
   that compiled some bundle so fails.

2. Canonical form. Each program is rewritten into equivalent forms:
     inline     a statement inlined into its readers (one read, or one
                without a reduction);
     dup        a statement with a reduction, read several times, is
                inlined into every read (the reduction is duplicated);
     swap       operands of + and * swapped (at random, at least one);
     transpose  a tensor stored transposed by one statement and read
                with swapped subscripts (an intermediate's layout
                permuted, or a transposing copy of an input).
   Every rewrite is first interpreted and must give the original's
   results (so the rewriter itself is checked). Then both go through
   --emit=tra, plan-json and C (node kernels), and each pair is counted:
     identical  the same graph after the passes, modulo names (node
                names, index names, size names; nodes matched by their
                content, so their order does not matter);
     same-cost  not identical, but the same total FLOPs and the same
                kernel kinds (gemm, gemv, loops: one per einsum node);
     better     fewer FLOPs than the original;
     worse      more FLOPs than the original by more than the tolerance;
     other      the rest (the same FLOPs, other kernels, or a little more).
   The original and its rewrite sit among other programs in their files
   (a rewrite's file lacks the programs it does not apply to), so a
   program whose graph depends on its neighbours shows here too.
   Identical and same-cost counts are reported, not asserted. A worse
   rewrite fails the test for the kinds in --assert-kinds, and is only
   counted for the others: an inlined or duplicated rewrite may do more
   work than its original by its nature (a map inlined into two readers
   is computed by both; the same map read at permuted subscripts; an
   intermediate larger than every tensor its reader touches, which
   hoisting will not store again), so only some come back to the
   original's cost (see props.sh for the kinds asserted).

--worse FILE writes every worse pair, its original and its rewrite as
whole programs, so that they can be compiled alone and grouped by cause.

FLOPs are the plan's (--emit=plan-json with --partition=none, so one
block per node and no split-reduction partials: the sum of the TRA
nodes' exact counts), kernel kinds those --node-kernels writes (each
kernel's opening comment). Every program ends with a scalar output: the
code generator runs consecutive loop kernels over rows of one size as a
row group whose FLOPs the plan counts at the group's first node, and a
scalar node ends a group, so none spans two programs of a bundle.

The FLOPs tolerance (--tolerance, default 0.05 relative, plus 16 FLOPs):
a pass that canonicalises brings equivalent programs to the same count
exactly, and on main swapped and transposed rewrites do (a transposing
copy is read through by the algebra pass). What may still differ
without a pass being wrong is a heuristic allowed to see operand order:
the greedy contraction order beyond the exhaustive search's limit, or
which of two equally good readers a map is fused into, moving an
epilogue operation between a node's output points and its join points
(a few FLOPs per point of a small node). The slack absorbs that at the
sizes used here (2 to 7 per dimension, programs of some hundreds to
thousands of FLOPs); what the test is after -- a sub-expression no
longer hoisted, fused or shared -- multiplies that part's cost by a
whole index range, at least 2.
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

KINDS = ("inline", "dup", "swap", "transpose")
# what the graph comparison asks trac for: one block per node, kernels per node
EMIT = ["--node-kernels", "--partition=none", "--emit=tra,plan-json,c"]

# ---- expressions -------------------------------------------------------------
#
# A tree of tuples:
#   ("acc", tensor, [index, ...])      a tensor element (a scalar has [])
#   ("num", value)                     a literal, exactly representable
#   ("idx", index)                     an index's value, as a number
#   ("bin", op, a, b)                  op one of + - * /
#   ("neg", a)
#   ("call", name, [args])             exp log sqrt tanh sigmoid relu abs pow max min
#                                      sin cos erf exp2 expm1 log2 log1p rsqrt
#   ("select", cmp, x, y, a, b)        select(x cmp y, a, b)
#   ("red", agg, [index, ...], body)   sum prod max min mean


def text(e):
    """The expression as .tra source, with every binary operation in
    parentheses (the tree, not the precedence, says what it means)."""
    k = e[0]
    if k == "acc":
        return e[1] + ("[%s]" % ", ".join(e[2]) if e[2] else "")
    if k == "num":
        v = e[1]
        return repr(v) if v >= 0 else "(-%r)" % -v
    if k == "idx":
        return e[1]
    if k == "bin":
        return "(%s %s %s)" % (text(e[2]), e[1], text(e[3]))
    if k == "neg":
        return "(-%s)" % text(e[1])
    if k == "call":
        return "%s(%s)" % (e[1], ", ".join(text(a) for a in e[2]))
    if k == "select":
        return "select(%s %s %s, %s, %s)" % (text(e[2]), e[1], text(e[3]), text(e[4]), text(e[5]))
    if k == "red":
        return "%s[%s](%s)" % (e[1], ", ".join(e[2]), text(e[3]))
    raise ValueError(k)


def kids(e):
    """The sub-expressions of e, in order."""
    k = e[0]
    if k == "bin":
        return [e[2], e[3]]
    if k == "neg":
        return [e[1]]
    if k == "call":
        return list(e[2])
    if k == "select":
        return list(e[2:6])
    if k == "red":
        return [e[3]]
    return []


def rebuild(e, ks):
    """e with its sub-expressions replaced by ks."""
    k = e[0]
    if k == "bin":
        return ("bin", e[1], ks[0], ks[1])
    if k == "neg":
        return ("neg", ks[0])
    if k == "call":
        return ("call", e[1], ks)
    if k == "select":
        return ("select", e[1]) + tuple(ks)
    if k == "red":
        return ("red", e[1], e[2], ks[0])
    return e


def walk(e):
    yield e
    for c in kids(e):
        yield from walk(c)


def reads(e, name):
    """How many times e reads tensor name."""
    return sum(1 for x in walk(e) if x[0] == "acc" and x[1] == name)


def has_reduction(e):
    return any(x[0] == "red" for x in walk(e))


def rename(e, m):
    """e with index names renamed by m (subscripts, index values and
    reduction lists)."""
    k = e[0]
    if k == "acc":
        return ("acc", e[1], [m.get(i, i) for i in e[2]])
    if k == "idx":
        return ("idx", m.get(e[1], e[1]))
    if k == "red":
        return ("red", e[1], [m.get(i, i) for i in e[2]], rename(e[3], m))
    return rebuild(e, [rename(c, m) for c in kids(e)])


def bound_indices(e):
    """Every index some reduction in e binds."""
    return [i for x in walk(e) if x[0] == "red" for i in x[2]]


# ---- programs ----------------------------------------------------------------


class Stmt:
    """T[lhs] = expr; ranges maps every index of the statement to its size."""

    def __init__(self, name, lhs, expr, ranges):
        self.name, self.lhs, self.expr, self.ranges = name, lhs, expr, ranges

    def text(self):
        lhs = "[%s]" % ", ".join(self.lhs) if self.lhs else ""
        return "%s%s = %s" % (self.name, lhs, text(self.expr))


class Program:
    """One random program: its sizes, inputs, statements and outputs, all
    names prefixed so that many programs can share one file."""

    def __init__(self, prefix, dtype):
        self.prefix, self.dtype = prefix, dtype
        self.sizes = collections.OrderedDict()  # name -> value
        self.inputs = collections.OrderedDict()  # name -> [size names]
        self.stmts = []
        self.outputs = []

    def copy(self):
        p = Program(self.prefix, self.dtype)
        p.sizes = collections.OrderedDict(self.sizes)
        p.inputs = collections.OrderedDict(self.inputs)
        p.stmts = [Stmt(s.name, list(s.lhs), s.expr, dict(s.ranges)) for s in self.stmts]
        p.outputs = list(self.outputs)
        return p

    def lines(self):
        ty = " " + self.dtype
        out = ["# program %s (%s)" % (self.prefix, self.dtype),
               "size " + ", ".join("%s = %d" % kv for kv in self.sizes.items())]
        for name, dims in self.inputs.items():
            out.append("input %s%s%s" % (name, "[%s]" % ", ".join(dims) if dims else "", ty))
        out += [s.text() for s in self.stmts]
        out.append("output " + ", ".join(self.outputs))
        return out

    def shape(self, name):
        if name in self.inputs:
            return self.inputs[name]
        s = self.stmt(name)
        return [s.ranges[i] for i in s.lhs]

    def stmt(self, name):
        for s in self.stmts:
            if s.name == name:
                return s
        return None

    def readers(self, name):
        return [s for s in self.stmts if reads(s.expr, name)]


# ---- the generator -----------------------------------------------------------

AGGS = ("sum", "max", "min", "prod", "mean")
UNARY = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "neg", "pow",
         "sin", "cos", "erf", "exp2", "expm1", "log2", "log1p", "rsqrt")
CMPS = ("<", "<=", ">", ">=", "==", "!=")


def num(v):
    return ("num", v)


def bin_(op, a, b):
    return ("bin", op, a, b)


class Gen:
    """Writes one random program. Every expression carries a bound on its
    magnitude (inputs are in [-1, 1)), and whatever could overflow or lose
    precision is tamed: exp's argument is scaled to at most 4, log and
    sqrt and pow read an argument kept away from 0, a division's
    denominator is 1 + abs(x), a product's factors are 1 + tanh(x)/4, and a
    statement whose bound passes 64 is scaled by a power of two (exact).
    Every function used is then Lipschitz on what it reads, so rounding
    in f32 stays a small absolute error. select compares inputs, index
    values and literals only: all exact, so f32 and the interpreter's
    f64 take the same branch."""

    def __init__(self, rng, prefix, dtype):
        self.r, self.p = rng, Program(prefix, dtype)
        self.bound = {}  # tensor -> bound on its magnitude
        self.nreads = collections.Counter()  # tensor -> reads generated so far
        self.nidx = 0

    def fresh(self):
        self.nidx += 1
        return "i%d" % self.nidx

    def program(self):
        r, p = self.r, self.p
        for k, v in enumerate(r.sample(range(2, 8), r.randint(2, 4))):
            p.sizes["%sS%d" % (p.prefix, k)] = v
        names = list(p.sizes)
        for k in range(r.randint(2, 4)):
            rank = r.choice((0, 1, 1, 2, 2, 2, 3))
            p.inputs["%sX%d" % (p.prefix, k)] = [r.choice(names) for _ in range(rank)]
        for s in names:  # a vector per size: every index can be read somewhere
            if not any(d == [s] for d in p.inputs.values()):
                p.inputs["%sv%s" % (p.prefix, s[len(p.prefix):])] = [s]
        for t in p.inputs:
            self.bound[t] = 1.0
        for k in range(r.randint(2, 5)):
            self.statement("%sT%d" % (p.prefix, k))
        read = {t for s in p.stmts for x in walk(s.expr) if x[0] == "acc" for t in [x[1]]}
        p.outputs = [s.name for s in p.stmts if s.name not in read or r.random() < 0.2]
        # a scalar last: trac's code generator runs consecutive loop kernels
        # over rows of one size as a row group, whose flops the plan counts
        # at the group's first node; a scalar node ends a group, so no
        # group (and no count) spans two programs of a bundle. It has an
        # epilogue (* 2), so that CSE never moves it before another node
        # (an aggregate alone moves before an earlier node with the same
        # aggregate and an epilogue: cse.c)
        v = self.vector(names[0])
        p.stmts.append(Stmt(p.prefix + "end", [], ("bin", "*", ("red", "sum", ["k"], ("acc", v, ["k"])),
                                                   ("num", 2.0)), {"k": names[0]}))
        p.outputs.append(p.prefix + "end")
        return p

    def statement(self, name):
        r = self.r
        self.nidx = 0
        rank = r.choice((0, 1, 1, 2, 2, 2, 3))
        scope = [(self.fresh(), r.choice(list(self.p.sizes))) for _ in range(rank)]
        kind = r.choice(("contract", "contract", "reduce", "nested", "map", "map", "softmax", "mask"))
        if kind == "contract":
            e, b = self.contraction(scope, epilogue=True)
        elif kind == "reduce":
            e, b = self.reduction(scope, 1)
        elif kind == "nested":
            e, b = self.reduction(scope, 2)
        elif kind == "softmax":
            e, b = self.softmax(scope)
        elif kind == "mask" and scope:
            e, b = self.mask(scope)
        else:
            e, b = self.expr(scope, 2)
        e, b = self.cover(e, b, scope, [v for v, _ in scope])
        if not any(x[0] == "acc" for x in walk(e)):
            # a statement that reads no tensor would compute in f32
            k, s = self.fresh(), self.r.choice(list(self.p.sizes))
            e = bin_("+", e, ("red", "sum", [k], ("acc", self.vector(s), [k])))
            b += self.p.sizes[s]
        if b > 64:  # scale by an exact power of two
            k = 1
            while b / 2 ** k > 16:
                k += 1
            e, b = bin_("*", e, num(2.0 ** -k)), b / 2 ** k
        ranges = self.ranges(e, dict(scope))
        self.p.stmts.append(Stmt(name, [v for v, _ in scope], e, ranges))
        self.bound[name] = b

    def ranges(self, e, ranges):
        """Every index's size, from the accesses of e."""
        for x in walk(e):
            if x[0] == "acc":
                for i, s in zip(x[2], self.p.shape(x[1])):
                    ranges[i] = s
        return ranges

    # -- leaves --

    def tensors(self):
        return list(self.p.inputs) + [s.name for s in self.p.stmts]

    def access(self, scope, want=(), only_inputs=False):
        """An element of a tensor whose every dimension some index of scope
        can walk, preferring ones that read the indices in want and
        defined tensors (so that they are read more than once)."""
        r = self.r
        by_size = collections.defaultdict(list)
        for v, s in scope:
            by_size[s].append(v)
        cands = []
        for t in self.tensors():
            if only_inputs and t not in self.p.inputs:
                continue
            dims = self.p.shape(t)
            if all(by_size[d] for d in dims):
                w = 1 + 3 * any(v in want for d in dims for v in by_size[d])
                if t not in self.p.inputs:  # intermediates, the unread ones most
                    w += 3 + 4 * (self.nreads[t] == 0)
                cands.append((t, dims, w))
        if not cands:
            return None
        t, dims, _ = r.choices(cands, weights=[c[2] for c in cands])[0]
        used, idx = set(), []
        for d in dims:
            opts = by_size[d]
            pref = [v for v in opts if v in want and v not in used] or [v for v in opts if v not in used] or opts
            v = r.choice(pref)
            used.add(v)
            idx.append(v)
        self.nreads[t] += 1
        return ("acc", t, idx), self.bound[t]

    def leaf(self, scope):
        r = self.r
        got = self.access(scope) if r.random() < 0.8 else None
        if got:
            return got
        if scope and r.random() < 0.6:
            v, s = r.choice(scope)
            return bin_("/", ("idx", v), num(float(self.p.sizes[s]))), 1.0
        c = r.choice((0.5, 2.0, 0.25, 1.5, 3.0))
        return num(c), c

    def cover(self, e, b, scope, need):
        """e combined with reads of the indices of need that no subscript
        of e holds (an index needs one, for its range)."""
        for v in need:
            if any(x[0] == "acc" and v in x[2] for x in walk(e)):
                continue
            a, ab = self.access(scope, want=(v,))
            if v not in a[2]:  # the vector of v's size always fits
                a, ab = ("acc", self.vector(dict(scope)[v]), [v]), 1.0
            op = self.r.choice("+*")
            e = bin_(op, e, a) if self.r.random() < 0.5 else bin_(op, a, e)
            b = b + ab if op == "+" else b * ab
        return e, b

    def vector(self, size):
        for t, dims in self.p.inputs.items():
            if dims == [size]:
                return t
        raise AssertionError(size)

    # -- composite expressions --

    def expr(self, scope, depth):
        r = self.r
        if depth <= 0 or r.random() < 0.2:
            return self.leaf(scope)
        k = r.choices(("bin", "fn", "select", "red", "contract"), weights=(5, 4, 1, 2, 1))[0]
        if k == "bin":
            (a, ab), (c, cb) = self.expr(scope, depth - 1), self.expr(scope, depth - 1)
            op = r.choice("+-*/")
            if op == "/":
                return bin_("/", a, bin_("+", num(1.0), ("call", "abs", [c]))), ab
            return bin_(op, a, c), (ab * cb if op == "*" else ab + cb)
        if k == "fn":
            return self.function(*self.expr(scope, depth - 1))
        if k == "select":
            return self.select(scope, depth)
        if k == "red":
            return self.reduction(scope, 1)
        return self.contraction(scope, epilogue=False)

    def tame(self, e, b, limit):
        """e scaled by a power of two so that its bound is at most limit."""
        k = 0
        while b / 2 ** k > limit:
            k += 1
        return (bin_("*", e, num(2.0 ** -k)) if k else e), b / 2 ** k

    def function(self, e, b):
        r = self.r
        f = r.choice(UNARY + ("max", "min"))
        if f == "exp":
            e, b = self.tame(e, b, 4)
            return ("call", "exp", [e]), 2.718281828 ** b
        if f == "log":
            return ("call", "log", [bin_("+", num(0.5), ("call", "abs", [e]))]), max(0.7, b)
        if f == "sqrt":
            return ("call", "sqrt", [bin_("+", num(1.0), ("call", "abs", [e]))]), 1 + b
        if f == "pow":
            e, b = self.tame(e, b, 4)
            y = r.choice((2.0, 3.0, 0.5, 1.5))
            return ("call", "pow", [bin_("+", num(0.5), ("call", "abs", [e])), num(y)]), (b + 0.5) ** y + 1
        if f in ("exp2", "expm1"):
            e, b = self.tame(e, b, 4)
            return ("call", f, [e]), 2.718281828 ** b
        if f == "log2":
            return ("call", "log2", [bin_("+", num(0.5), ("call", "abs", [e]))]), max(1.0, 1.5 * b)
        if f == "log1p":
            return ("call", "log1p", [("call", "abs", [e])]), b
        if f == "rsqrt":
            return ("call", "rsqrt", [bin_("+", num(1.0), ("call", "abs", [e]))]), 1.0
        if f in ("sin", "cos", "erf"):
            return ("call", f, [e]), 1.0
        if f == "neg":
            return ("neg", e), b
        if f in ("max", "min"):
            c = r.choice((0.0, 0.5, -0.25))
            args = [e, num(c)] if r.random() < 0.5 else [num(c), e]
            return ("call", f, args), max(b, 0.5)
        return ("call", f, [e]), (1.0 if f in ("tanh", "sigmoid") else b)

    def select(self, scope, depth):
        r = self.r
        def side():
            got = self.access(scope, only_inputs=True) if r.random() < 0.6 else None
            if got:
                return got[0]
            if scope and r.random() < 0.5:
                return ("idx", r.choice(scope)[0])
            return num(r.choice((0.0, 0.5, -0.25, 2.0)))
        x, y = side(), side()
        (a, ab), (c, cb) = self.expr(scope, depth - 1), self.expr(scope, depth - 1)
        return ("select", r.choice(CMPS), x, y, a, c), max(ab, cb)

    def reduction(self, scope, depth):
        """agg[new](body), the new indices read by body; depth 2 nests
        another reduction in the body."""
        r = self.r
        new = [(self.fresh(), r.choice(list(self.p.sizes))) for _ in range(r.choice((1, 1, 1, 2)))]
        inner = scope + new
        if depth > 1:
            body, bb = self.reduction(inner, depth - 1)
            (a, ab) = self.leaf(inner)
            body, bb = (bin_("-", a, body), ab + bb) if r.random() < 0.5 else self.function(body, bb)
        else:
            body, bb = self.expr(inner, r.randint(0, 2))
        body, bb = self.cover(body, bb, inner, [v for v, _ in new])
        agg = r.choice(AGGS)
        n = 1
        for _, s in new:
            n *= self.p.sizes[s]
        if agg == "prod":
            t, _ = self.tame(body, bb, 2)
            body = bin_("+", num(1.0), bin_("*", num(0.25), ("call", "tanh", [t])))
            b = 1.25 ** n
        elif agg == "sum":
            b = bb * n
        else:
            b = bb
        e = ("red", agg, [v for v, _ in new], body)
        if r.random() < 0.4:  # an epilogue
            e, b = self.function(e, b) if r.random() < 0.5 else self.cover_any(e, b, scope)
        return e, b

    def cover_any(self, e, b, scope):
        got = self.access(scope)
        if not got:
            return e, b
        op = self.r.choice("+*")
        return bin_(op, e, got[0]), (b + got[1] if op == "+" else b * got[1])

    def contraction(self, scope, epilogue):
        """sum over a product of 2 to 5 tensor elements that share new
        (contracted) indices and read some of scope's."""
        r = self.r
        by_size = collections.defaultdict(list)
        for v, s in scope:
            by_size[s].append(v)
        new = collections.defaultdict(list)  # size -> contracted indices
        factors, b = [], 1.0
        cands = [t for t in self.tensors() if self.p.shape(t)]
        for _ in range(r.randint(2, 5)):
            t = r.choice(cands)
            idx = []
            for d in self.p.shape(t):
                pool = [v for v in by_size[d] + new[d] if v not in idx]
                if pool and r.random() < 0.7:
                    v = r.choice(pool)
                else:
                    v = self.fresh()
                    new[d].append(v)
                idx.append(v)
            factors.append(("acc", t, idx))
            b *= self.bound[t]
        red = [v for vs in new.values() for v in vs]
        e = factors[0]
        for f in factors[1:]:
            e = bin_("*", e, f)
        if not red:
            return e, b
        for d, vs in new.items():
            b *= self.p.sizes[d] ** len(vs)
        e = ("red", "sum", red, e)
        if epilogue and r.random() < 0.6:
            if r.random() < 0.5:
                e, b = self.cover_any(e, b, scope)
            e, b = self.function(e, b) if r.random() < 0.5 else (e, b)
        return e, b

    def mask(self, scope):
        """select(i <= j, x, c) over the statement's own indices, as a
        causal mask: index values, which passes must renumber when they
        move an expression into another node's index space."""
        r = self.r
        (a, ab), i, j = self.expr(scope, 2), r.choice(scope)[0], r.choice(scope)[0]
        c = num(r.choice((0.0, -0.5)))
        args = [a, c] if r.random() < 0.5 else [c, a]
        return ("select", r.choice(CMPS), ("idx", i), ("idx", j), args[0], args[1]), max(ab, 0.5)

    def softmax(self, scope):
        """exp(x - max) / sum(exp(x - max)) over a new index: a reduction
        read twice (the pattern that wants CSE)."""
        r = self.r
        if not scope:
            return self.reduction(scope, 2)
        v, s = r.choice(scope)
        k = self.fresh()
        a, ab = self.access(scope, want=(v,))
        if v not in a[2]:
            a = ("acc", self.vector(s), [v])
        a2 = rename(a, {v: k})
        m = ("red", "max", [k], a2)
        k2 = self.fresh()
        num_ = ("call", "exp", [bin_("-", a, m)])
        den = ("red", "sum", [k2], ("call", "exp", [bin_("-", rename(a, {v: k2}), m)]))
        return bin_("/", num_, den), 1.0


# ---- the rewrites ------------------------------------------------------------


def substitute(e, name, stmt, taken):
    """e with every element of tensor name replaced by stmt's expression
    (its left-hand indices renamed to the subscripts read, its reduction
    indices to fresh names that e does not use)."""
    if e[0] == "acc" and e[1] == name:
        m = dict(zip(stmt.lhs, e[2]))
        for i in bound_indices(stmt.expr):
            k = 1
            while "r%d" % k in taken:
                k += 1
            taken.add("r%d" % k)
            m[i] = "r%d" % k
        return rename(stmt.expr, m)
    return rebuild(e, [substitute(c, name, stmt, taken) for c in kids(e)])


def indices_of(s):
    return set(s.lhs) | set(bound_indices(s.expr)) | set(s.ranges)


def inline(p, name):
    """p with statement name inlined into every statement that reads it,
    and dropped."""
    src = p.stmt(name)
    q = p.copy()
    q.stmts = []
    for s in p.stmts:
        if s.name == name:
            continue
        if reads(s.expr, name):
            taken = indices_of(s)
            e = substitute(s.expr, name, src, taken)
            ranges = dict(s.ranges)
            ranges.update(ranges_after(e, q))
            s = Stmt(s.name, s.lhs, e, ranges)
        q.stmts.append(s)
    return q


def ranges_after(e, q):
    """Every index's size, from the accesses of e (whose tensors q has)."""
    return {i: d for x in walk(e) if x[0] == "acc" for i, d in zip(x[2], q.shape(x[1]))}


def rw_inline(p, r, several):
    """Inline a non-output statement into its readers: one that reads
    no reduction or is read once (inline), or one holding a reduction
    and read two or more times, which duplicates it (dup)."""
    cands = []
    for s in p.stmts:
        if s.name in p.outputs:
            continue
        n = sum(reads(t.expr, s.name) for t in p.stmts)
        dup = n >= 2 and has_reduction(s.expr)
        if n and dup == several:
            cands.append(s.name)
    if not cands:
        return None
    q = inline(p, r.choice(cands))
    if any(len(s.lhs) + len(bound_indices(s.expr)) > 64 for s in q.stmts):
        return None  # trac's limit on index bindings in one statement
    return q


def swap(e, r, flips):
    ks = [swap(c, r, flips) for c in kids(e)]
    e = rebuild(e, ks)
    if e[0] == "bin" and e[1] in "+*" and r.random() < 0.5:
        flips.append(1)
        return ("bin", e[1], e[3], e[2])
    return e


def rw_swap(p, r):
    q, flips = p.copy(), []
    for s in q.stmts:
        s.expr = swap(s.expr, r, flips)
    return q if flips else None


def permute_reads(e, name, perm):
    if e[0] == "acc" and e[1] == name:
        return ("acc", name, [e[2][k] for k in perm])
    return rebuild(e, [permute_reads(c, name, perm) for c in kids(e)])


def rw_transpose(p, r):
    """A rank-2+ intermediate stored with its dimensions permuted, its
    readers' subscripts permuted to match; or, when there is none, an
    input copied transposed by a new statement that the readers read."""
    q = p.copy()
    cands = [s for s in q.stmts if len(s.lhs) >= 2 and s.name not in q.outputs and q.readers(s.name)]
    inputs = [t for t, d in q.inputs.items() if len(d) >= 2 and q.readers(t)]
    if not cands and not inputs:
        return None
    if cands and (not inputs or r.random() < 0.6):
        s = r.choice(cands)
        perm = list(range(len(s.lhs)))
        while perm == sorted(perm):
            r.shuffle(perm)
        s.lhs = [s.lhs[k] for k in perm]
        name = s.name
    else:
        name = r.choice(inputs)
        dims = q.inputs[name]
        perm = list(range(len(dims)))
        while perm == sorted(perm):
            r.shuffle(perm)
        lhs = ["t%d" % k for k in range(len(dims))]
        ranges = dict(zip(lhs, dims))
        t = Stmt(name + "_t", [lhs[k] for k in perm], ("acc", name, lhs), ranges)
        for s in q.stmts:
            s.expr = rename_tensor(s.expr, name, name + "_t")
        q.stmts.insert(0, t)
        name = t.name
    for s in q.stmts:
        if s.name != name:
            s.expr = permute_reads(s.expr, name, perm)
    return q


def rename_tensor(e, old, new):
    if e[0] == "acc" and e[1] == old:
        return ("acc", new, e[2])
    return rebuild(e, [rename_tensor(c, old, new) for c in kids(e)])


def rewrite(p, kind, seed):
    r = random.Random(seed)
    if kind == "inline":
        return rw_inline(p, r, False)
    if kind == "dup":
        return rw_inline(p, r, True)
    if kind == "swap":
        return rw_swap(p, r)
    return rw_transpose(p, r)


# ---- trac's graph, normalised ------------------------------------------------

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
KEEP = {"acc", "sum", "prod", "max", "min", "exp", "log", "sqrt", "tanh", "sigmoid", "relu",
        "abs", "pow", "select", "inf", "f32", "f64", "output", "sin", "cos", "exp2", "expm1",
        "log2", "log1p", "rsqrt", "erf"}


def parse_tra(path):
    """--emit=tra's paragraphs: [(name, [lines])] in graph order."""
    nodes = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"%\d+ (?:input )?([A-Za-z_][A-Za-z0-9_.]*)", line)
            if m:
                nodes.append((m.group(1), [line]))
            elif line.startswith("    ") and nodes:
                nodes[-1][1].append(line.strip())
    return nodes


HEAD = re.compile(r"%\d+ (input )?([A-Za-z_][A-Za-z0-9_.]*)(?:\[([^\]]*)\])? (f32|f64)( output)?(?: = (.*))?$")


def canon_node(lines, tensors):
    """One node's paragraph modulo names: the tensors it reads by their
    canonical forms, its indices renamed in order of first use (output
    indices first; the reduced list sorted after renaming), sizes by
    value. An input keeps its name: inputs are the interface."""
    m = HEAD.match(lines[0])
    if not m:  # a form this parser does not know: compared as printed
        return NAME.sub(lambda mt: tensors.get(mt.group(0), mt.group(0)), re.sub(r"^%\d+ ", "", " ".join(lines[:2])))
    if m.group(1):
        return lines[0].split(" ", 1)[1]
    outidx = [i.strip() for i in (m.group(3) or "").split(",") if i.strip()]
    dtype, is_out, epi = m.group(4), bool(m.group(5)), m.group(6)
    idx_map = {i: "o%d" % k for k, i in enumerate(outidx)}
    agg, red, join = "", [], ""
    sizes = {}
    for line in lines[1:]:
        a = re.match(r"acc = (\w+)\[([^\]]*)\] (.*)", line)
        if a:
            agg, red, join = a.group(1), [i.strip() for i in a.group(2).split(",")], a.group(3)
        else:
            sizes.update(re.findall(r"(\w+): (?:\w+=)?(\d+)", line))

    def one(mt):
        w = mt.group(0)
        if w in tensors:
            return tensors[w]
        if w in red and w not in idx_map:
            idx_map[w] = "r%d" % len(idx_map)
        return idx_map.get(w, w)
    join_c, epi_c = NAME.sub(one, join), NAME.sub(one, epi)
    ranges = ",".join("%s=%s" % (idx_map.get(i, i), sizes.get(i, "?")) for i in outidx)
    reds = ",".join(sorted("%s=%s" % (idx_map.get(i, i), sizes.get(i, "?")) for i in red))
    return "%s%s[%s] = %s | %s[%s] %s" % (dtype, " output" if is_out else "", ranges, epi_c, agg, reds, join_c)


def canon_graph(nodes, inputs):
    """A program's graph modulo names: a sorted list of canonical nodes."""
    tensors, out = {}, []
    for name, lines in nodes:
        c = canon_node(lines, tensors)
        tensors[name] = name if name in inputs else "<%s>" % c
        out.append(c)
    return sorted(out)


def kernel_kinds(cpath):
    """Per node name, the kernel --node-kernels gives it: gemm, gemv or loops."""
    kinds = {}
    with open(cpath) as f:
        for line in f:
            m = re.match(r"/\* (\S+): (GEMM|loops)(.*)\*/", line)
            if not m:
                continue
            if m.group(2) == "loops":
                kinds[m.group(1)] = "loops"
            else:
                mm = re.search(r"M (\d+), N (\d+), K (\d+)", m.group(3))
                gemv = mm and (mm.group(1) == "1" or mm.group(2) == "1") and mm.group(3) != "1"
                kinds[m.group(1)] = "gemv" if gemv else "gemm"
    return kinds


class Emitted:
    """One bundle's optimised graph, split by program."""

    def __init__(self, d, stem):
        self.nodes = collections.defaultdict(list)
        for name, lines in parse_tra(os.path.join(d, stem + ".tra.txt")):
            self.nodes[name.split("_", 1)[0]].append((name, lines))
        with open(os.path.join(d, stem + ".plan.json")) as f:
            plan = json.load(f)
        self.flops = collections.Counter()
        for n in plan["nodes"]:
            self.flops[n["name"].split("_", 1)[0]] += n["flops"]
        self.kinds = collections.defaultdict(collections.Counter)
        for name, k in kernel_kinds(os.path.join(d, stem + ".c")).items():
            self.kinds[name.split("_", 1)[0]][k] += 1

    def summary(self, prog):
        key = prog.prefix.rstrip("_")
        return (canon_graph(self.nodes[key], set(prog.inputs)), self.flops[key], self.kinds[key])


# ---- running trac --------------------------------------------------------------


def run(cmd, timeout=600):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def compare_dirs(got_dir, want_dir, outputs):
    """Per output name, None when it matches, else what differs (the test
    of tests/programs.sh's compare)."""
    bad = {}
    for name in outputs:
        f = name + ".npy"
        try:
            want = np.load(os.path.join(want_dir, f))
            got = np.load(os.path.join(got_dir, f))
        except (OSError, ValueError) as e:
            bad[name] = "cannot read: %s" % e
            continue
        tol = 1e-4 if want.dtype == np.float32 else 1e-10
        w, g = want.astype(np.float64), got.astype(np.float64)
        err = np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-30) if w.size else 0.0
        if got.dtype != want.dtype or got.shape != want.shape or not err <= tol:
            bad[name] = "dtype %s/%s shape %s/%s relative error %.3g" % (got.dtype, want.dtype, got.shape, want.shape, err)
    return bad


ILL_TRIALS = 4  # random perturbations of the inputs; the largest change counts


def ill_conditioned(args, prog, name, got):
    """Whether output name of prog is so ill-conditioned that rounding
    alone explains a mismatch: the interpreter's own result moves by more
    than a quarter of the tolerance when every input moves by 2 units in
    the last place of its type (at random, up or down), in the worst of
    ILL_TRIALS such moves. A sum of terms that cancel exactly
    (sum[k](x[k] - mean[j](x[j]))) is rounding noise whatever the passes
    do; a wrong pass on a well-conditioned output still fails. One move
    is not enough: the signs can cancel the error out, and for seed 11's
    p1051_ (an f32 sum of 1792 products whose terms cancel 72,000-fold)
    one move changed the result by 6e-6 and others by 5.4e-5, while the
    compiled program's rounding was 1.75e-4. An output whose terms cancel
    exactly for every input (sum[i](v[i]) - 4 * mean[i](v[i]) over four
    elements) moves with no perturbation: it is judged by cancels."""
    tol, eps = (1e-4, 2.0 ** -22) if prog.dtype == "f32" else (1e-10, 2.0 ** -51)
    with tempfile.TemporaryDirectory() as tmp:
        q = prog.copy()
        # the inputs and statements come back as files
        q.outputs = [name] + list(q.inputs) + [s.name for s in q.stmts if s.name != name]
        path = os.path.join(tmp, "one.tra")
        write(path, [q])
        a = os.path.join(tmp, "a")
        if run([args.trac, path, "--interpret", "--random=%d" % args.seed, "--output-dir", a]).returncode:
            return False
        wa = np.load(os.path.join(a, name + ".npy")).astype(np.float64)
        if not wa.size:
            return False
        if cancels(a, q.outputs, wa, got, eps, tol):
            return True
        rng, change = np.random.default_rng(0), 0.0
        for trial in range(ILL_TRIALS):
            b, flags = os.path.join(tmp, "b%d" % trial), []
            for t in q.inputs:
                x = np.load(os.path.join(a, t + ".npy"))
                y = (x * (1 + eps * rng.choice((-1.0, 1.0), size=x.shape))).astype(x.dtype)
                np.save(os.path.join(tmp, "in-%s.npy" % t), y)
                flags += ["--input", "%s=%s" % (t, os.path.join(tmp, "in-%s.npy" % t))]
            if run([args.trac, path, "--interpret", "--output-dir", b] + flags).returncode:
                return False
            wb = np.load(os.path.join(b, name + ".npy")).astype(np.float64)
            change = max(change, np.max(np.abs(wa - wb)) / max(np.max(np.abs(wa)), 1e-300))
        return not change <= tol / 4


def cancels(a, names, wa, got, eps, tol):
    """Whether an output (its interpreted value wa) is the rounding of
    terms that cancel: wa is within 64 units in the last place of the
    largest value the program reads or computes (the files in a, names),
    and the compiled output in directory got within the tolerance of that
    scale. The relative error compare_dirs measures is then meaningless:
    seed 29's p803_ is exactly 0 in the interpreter's double precision,
    and 3.7e-9 where f32 computes terms of about 1."""
    scale = 0.0
    for n in names:
        x = np.load(os.path.join(a, n + ".npy"))
        if x.size and x.dtype.kind == "f":
            scale = max(scale, float(np.max(np.abs(x.astype(np.float64)))))
    if not scale or not np.max(np.abs(wa)) <= 64 * eps * scale:
        return False
    try:
        g = np.load(os.path.join(got, names[0] + ".npy")).astype(np.float64)
    except (OSError, ValueError):
        return False
    return g.shape == wa.shape and np.max(np.abs(g - wa)) <= tol * scale


def write(path, progs):
    with open(path, "w") as f:
        for p in progs:
            f.write("\n".join(p.lines()) + "\n\n")


def all_outputs(progs):
    return [o for p in progs for o in p.outputs]


class Bundle:
    """BUNDLE programs in one file, and what the checks found."""

    def __init__(self, args, work, number, progs):
        self.args, self.work, self.number, self.progs = args, work, number, progs
        self.dir = os.path.join(work, "b%d" % number)
        os.makedirs(self.dir, exist_ok=True)
        self.failures = []  # (program prefix, what)
        self.chains = None  # reuse chains compiled, for a bundle compiled with --reuse
        self.ill = []  # (program prefix, what): mismatches rounding explains
        self.pairs = []  # (kind, prefix, class, detail, the rewrite's lines)

    def path(self, stem):
        return os.path.join(self.dir, stem + ".tra")

    def fail(self, prefix, what):
        self.failures.append((prefix, what))

    def interpret(self, stem):
        d = os.path.join(self.dir, "want-" + stem)
        p = run([self.args.trac, self.path(stem), "--interpret", "--random=%d" % self.args.seed, "--output-dir", d])
        return d if p.returncode == 0 else p.stderr.strip()

    def correctness(self):
        write(self.path("orig"), self.progs)
        want = self.interpret("orig")
        if not os.path.isdir(want):
            self.blame(self.progs, "interpreter", ["--interpret", "--random=1", "--output-dir"], want)
            return None
        exe = os.path.join(self.dir, "orig")
        flags = self.args.cflags.split()
        sizes = self.args.reuse.split()
        if sizes and self.number % 2:
            flags.append("--reuse=" + sizes[self.number // 2 % len(sizes)])
            p = run([self.args.trac, self.path("orig"), "--emit=plan"] + flags)
            self.chains = p.stdout.count("\nreuse chain: ") if p.returncode == 0 else 0
        p = run([self.args.trac, self.path("orig"), "-o", exe] + flags)
        if p.returncode != 0:
            self.blame(self.progs, "compile", ["--emit=c", "-o"], p.stderr.strip())
            return want
        got = os.path.join(self.dir, "got")
        p = run([exe, "--random=%d" % self.args.seed, "--threads", "2", "--output-dir", got])
        if p.returncode != 0:
            self.fail("bundle %d" % self.number, "run: " + p.stderr.strip()[-400:])
            return want
        bad = compare_dirs(got, want, all_outputs(self.progs))
        for prog in self.progs:
            for o in prog.outputs:
                if o in bad and ill_conditioned(self.args, prog, o, got):
                    self.ill.append((prog.prefix, "compiled %s: %s" % (o, bad[o])))
                elif o in bad:
                    self.fail(prog.prefix, "compiled %s: %s" % (o, bad[o]))
        return want

    def blame(self, progs, what, flags, err):
        """A run of trac on the whole bundle failed: the programs that fail
        alone (with flags and an output path), or the bundle."""
        found = 0
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "one.tra")
            for prog in progs:
                write(path, [prog])
                p = run([self.args.trac, path] + flags + [os.path.join(tmp, "out")])
                if p.returncode != 0:
                    found += 1
                    self.fail(prog.prefix, "%s: %s\n  as run:\n  %s" % (what, p.stderr.strip()[-600:], "\n  ".join(prog.lines())))
        if not found:
            self.fail("bundle %d" % self.number, "%s: %s" % (what, err[-600:]))

    def emit(self, stem):
        d = os.path.join(self.dir, "emit-" + stem)
        p = run([self.args.trac, self.path(stem)] + EMIT + ["-o", d])
        if p.returncode != 0:
            return p.stderr.strip()
        return Emitted(d, stem)

    def canonical(self, want):
        orig = self.emit("orig")
        if isinstance(orig, str):
            self.blame(self.progs, "emit", EMIT + ["-o"], orig)
            return
        for kind in KINDS:
            pairs = []
            for k, prog in enumerate(self.progs):
                q = rewrite(prog, kind, self.args.seed * 1000003 + self.number * 1009 + k)
                if q is None:
                    self.pairs.append((kind, prog.prefix, "n/a", "", []))
                else:
                    pairs.append((prog, q))
            if not pairs:
                continue
            stem = "rw_" + kind
            write(self.path(stem), [q for _, q in pairs])
            got = self.interpret(stem)
            if not os.path.isdir(got):
                self.blame([q for _, q in pairs], kind + " rewrite, interpreter",
                           ["--interpret", "--random=1", "--output-dir"], got)
                continue
            bad = compare_dirs(got, want, all_outputs([q for _, q in pairs]))
            em = self.emit(stem)
            if isinstance(em, str):
                self.blame([q for _, q in pairs], kind + " rewrite, emit", EMIT + ["-o"], em)
                continue
            for prog, q in pairs:
                wrong = [o for o in q.outputs if o in bad and not ill_conditioned(self.args, prog, o, got)]
                if wrong:
                    self.fail(prog.prefix, "%s rewrite changed %s: %s\n%s" % (kind, wrong[0], bad[wrong[0]], "\n".join(q.lines())))
                    continue
                self.pairs.append((kind, prog.prefix) + classify(orig.summary(prog), em.summary(q), self.args.tolerance)
                                  + (q.lines(),))

    def check(self):
        want = self.correctness()
        if want:
            self.canonical(want)
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return self


def classify(a, b, tol):
    """identical, same-cost, better, worse or other, and the detail."""
    (ga, fa, ka), (gb, fb, kb) = a, b
    if ga == gb:
        return "identical", ""
    detail = "flops %g -> %g, kernels %s -> %s" % (fa, fb, dict(ka), dict(kb))
    if fa == fb and ka == kb:
        return "same-cost", detail
    if fb > fa * (1 + tol) + 16:
        return "worse", detail
    if fb < fa:
        return "better", detail
    return "other", detail


def programs(count, seed):
    """The COUNT programs of this seed: the same ones for every bundle size."""
    out = []
    for k in range(count):
        r = random.Random(seed * 7919 + k)
        out.append(Gen(r, "p%d_" % k, r.choice(("f32", "f32", "f64"))).program())
    return out


def report(bundles, args, progs):
    failures = [f for b in bundles for f in b.failures]
    by_prefix = {p.prefix: p for p in progs}
    shown = 0
    for prefix, what in failures:
        if shown < args.show:
            print("FAIL %s: %s" % (prefix, what))
            if prefix in by_prefix:
                print("  " + "\n  ".join(by_prefix[prefix].lines()))
            shown += 1
    asserted = set(args.assert_kinds.split(",")) if args.assert_kinds else set()
    worse_fail = 0
    ill = [f for b in bundles for f in b.ill]
    print("%d programs in %d bundles: %d wrong results, %d mismatches of ill-conditioned outputs "
          "(rounding explains them: not failures)" % (len(progs), len(bundles), len(failures), len(ill)))
    for prefix, what in ill[:args.show] if args.verbose else []:
        print("  ill-conditioned %s %s" % (prefix, what))
    reused = [b.chains for b in bundles if b.chains is not None]
    if reused:
        print("reuse chains: %d in the %d bundles compiled with --reuse (%s)" % (sum(reused), len(reused), args.reuse))
        if sum(reused) == 0:
            print("FAIL no reuse chain: --reuse (%s) no longer makes any" % args.reuse)
    print("%-10s %9s %9s %9s %9s %9s %9s" % ("rewrite", "identical", "same-cost", "better", "other", "worse", "n/a"))
    for kind in KINDS:
        c = collections.Counter(cl for b in bundles for k, _, cl, _, _ in b.pairs if k == kind)
        print("%-10s %9d %9d %9d %9d %9d %9d%s" % (kind, c["identical"], c["same-cost"], c["better"], c["other"],
                                                 c["worse"], c["n/a"], " (asserted)" if kind in asserted else ""))
    for b in bundles:
        for kind, prefix, cl, detail, _ in b.pairs:
            if cl == "worse" and kind in asserted:
                worse_fail += 1
                if worse_fail <= args.show:
                    print("FAIL %s rewrite of %s costs more: %s" % (kind, prefix, detail))
                    print("  " + "\n  ".join(by_prefix[prefix].lines()))
    if args.verbose:
        for b in bundles:
            for kind, prefix, cl, detail, _ in b.pairs:
                if cl not in ("identical", "n/a"):
                    print("  %s %s %s: %s" % (kind, prefix, cl, detail))
    if args.worse:
        write_worse(args.worse, bundles, by_prefix)
    return 1 if failures or worse_fail or (reused and sum(reused) == 0) else 0


def write_worse(path, bundles, by_prefix):
    """--worse FILE: every worse pair, its original and its rewrite, for
    grouping them by cause (each runs alone through trac --emit=tra)."""
    with open(path, "w") as f:
        for b in bundles:
            for kind, prefix, cl, detail, lines in b.pairs:
                if cl == "worse":
                    f.write("# ==== %s %s: %s\n# original\n%s\n# rewrite\n%s\n\n"
                            % (kind, prefix, detail, "\n".join(by_prefix[prefix].lines()), "\n".join(lines)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trac")
    ap.add_argument("count", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bundle", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", help="work in this directory and keep it")
    ap.add_argument("--assert-kinds", default="swap,transpose")
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--cflags", default="-O0", help="trac's flags for the compile (the C compiler's "
                    "level does not change what the passes do, and -O0 compiles fastest)")
    ap.add_argument("--reuse", default="128,32 256,64 512,128 1024,256", metavar="'MIN,BLOCK ...'",
                    help="trac's --reuse for every other bundle, in turn ('' for none)")
    ap.add_argument("--show", type=int, default=5, help="failures shown in full")
    ap.add_argument("--verbose", action="store_true", help="list every pair that is not identical")
    ap.add_argument("--worse", metavar="FILE", help="write every worse pair (original and rewrite) to FILE")
    ap.add_argument("--print", type=int, metavar="K", help="print program K and its rewrites, and exit")
    args = ap.parse_args()
    progs = programs(args.count, args.seed)
    if args.print is not None:
        p = progs[args.print]
        print("\n".join(p.lines()))
        for kind in KINDS:
            q = rewrite(p, kind, 0)
            print("\n# --- %s ---\n%s" % (kind, "\n".join(q.lines()) if q else "# (not applicable)"))
        return 0
    work = args.keep or tempfile.mkdtemp(prefix="props.")
    os.makedirs(work, exist_ok=True)
    try:
        chunks = [progs[k:k + args.bundle] for k in range(0, len(progs), args.bundle)]
        with ThreadPoolExecutor(args.jobs) as ex:
            bundles = list(ex.map(lambda a: Bundle(args, work, a[0], a[1]).check(), enumerate(chunks)))
        return report(bundles, args, progs)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
