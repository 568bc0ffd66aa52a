"""npy_numpy_check.py: do the .npy files trac wrote read in NumPy as NumPy's own?

    python3 npy_numpy_check.py FILE.npy...

For each file: numpy.load must read it (without pickles), the array must
be little-endian float32 or float64, and np.save of that array must give
back the file byte for byte, header padding included; so a file passes
only if it is exactly what NumPy would have written. (trac writes the
headers of NumPy >= 1.23, which leave spare spaces for the first axis to
grow; with an older NumPy only the data and the 64-byte alignment of the
header are compared.) Prints one line per
failure, "PATH: what is wrong", and exits 1 if any failed, 0 if all
passed, and 77 (automake's SKIP) when NumPy is not installed.
"""

import io
import sys

try:
    import numpy as np
except ImportError:
    print("npy_numpy_check.py: NumPy is not installed; skipping")
    sys.exit(77)


def check(path):
    """Returns None if path is a file NumPy would write, else why not."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        a = np.load(io.BytesIO(raw), allow_pickle=False)
    except (OSError, ValueError) as e:
        return "numpy cannot load it: %s" % e
    if a.dtype.str not in ("<f4", "<f8"):
        return "dtype %r, expected '<f4' or '<f8'" % a.dtype.str
    again = io.BytesIO()
    np.save(again, a, allow_pickle=False)
    if again.getvalue() == raw:
        return None
    if hasattr(np.lib.format, "GROWTH_AXIS_MAX_DIGITS"):
        return "differs from what np.save writes for the same array"
    data = len(raw) - a.nbytes
    if data % 64 or raw[data:] != a.tobytes() or raw[data - 1:data] != b"\n":
        return "header not 64-byte aligned or data differs"
    return None


def main(paths):
    if not paths:
        print("usage: npy_numpy_check.py FILE.npy...", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        why = check(path)
        if why:
            print("%s: %s" % (path, why))
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
