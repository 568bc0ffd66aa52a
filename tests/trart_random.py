"""trart_random.py: trac's --random inputs, reproduced in NumPy.

A line-for-line reimplementation of runtime/random.c (whose top comment
states the algorithm), so tests can compute the exact inputs a program
run with `--random=SEED` used and check its outputs against NumPy:

    from trart_random import random_fill
    a = random_fill((3, 4), "f32", 42, "A")   # what trac fills input A with

Element k of a tensor is a pure function of (seed, name, k), computed
here for all k at once with uint64 arithmetic that wraps modulo 2**64
exactly like the C.
"""

import numpy as np

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_GAMMA = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def fnv1a64(name):
    """FNV-1a over the UTF-8 bytes of name, as a Python int."""
    h = _FNV_OFFSET
    for b in name.encode("utf-8"):
        h = ((h ^ b) * _FNV_PRIME) & _MASK
    return h


def _mix_int(z):
    """splitmix64's finaliser on a Python int."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _mix_array(z):
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def random_bits(n, seed, name):
    """The 64-bit words x[0..n) for a tensor called name."""
    key = _mix_int(_mix_int(seed & _MASK) ^ fnv1a64(name))
    with np.errstate(over="ignore"):
        k = np.arange(1, n + 1, dtype=np.uint64)
        return _mix_array(np.uint64(key) + k * np.uint64(_GAMMA))


def random_index(shape, dtype, seed, name, below):
    """The array --random gives an integer input that gathers read, whose
    smallest gathered dimension has `below` elements: (x >> 11) mod below."""
    shape = tuple(int(d) for d in shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    x = random_bits(n, seed, name)
    v = ((x >> np.uint64(11)) % np.uint64(below)).astype(np.int64)
    return v.astype(np.dtype(_NUMPY.get(dtype, dtype))).reshape(shape)


def random_fill(shape, dtype, seed, name):
    """The array trac's --random=seed gives the input `name`.

    shape is a tuple (() for a scalar); dtype is "f32"/"f64"/"i32"/"i64"
    or the NumPy dtype."""
    shape = tuple(int(d) for d in shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    x = random_bits(n, seed, name)
    dt = np.dtype(_NUMPY.get(dtype, dtype))
    if dt.kind == "i":  # integers uniform in [-64, 64)
        v = ((x >> np.uint64(57)).astype(np.int64) - 64).astype(dt)
    elif dt == np.float64:
        v = (x >> np.uint64(11)).astype(np.float64) * 2.0**-52 - 1.0
    else:
        u = (x >> np.uint64(40)).astype(np.float64)
        v = (u * 2.0**-23 - 1.0).astype(np.float32)
    return v.reshape(shape)


_NUMPY = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64}


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 5:
        sys.exit("usage: trart_random.py SHAPE DTYPE SEED NAME  "
                 "(SHAPE like 3,4 or '' for a scalar)")
    dims = tuple(int(d) for d in sys.argv[1].split(",") if d)
    np.set_printoptions(precision=17)
    print(random_fill(dims, sys.argv[2], int(sys.argv[3]), sys.argv[4]))
