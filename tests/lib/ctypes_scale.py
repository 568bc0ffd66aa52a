"""ctypes_scale.py LIB: Python loads the shared library `trac --shared`
made, reads its input descriptions through the exported tables, calls
scale() on NumPy arrays and checks the result against NumPy."""
import ctypes
import sys

import numpy as np


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_int), ("shape", ctypes.POINTER(ctypes.c_int64))]


lib = ctypes.CDLL(sys.argv[1])
inputs = (TensorInfo * 3).in_dll(lib, "scale_inputs")
shapes = [tuple(t.shape[d] for d in range(t.rank)) for t in inputs]
assert [t.name for t in inputs] == [b"A", b"B", b"alpha"], [t.name for t in inputs]
assert shapes == [(3, 4), (4, 2), ()], shapes
rng = np.random.default_rng(7)
A = rng.standard_normal((3, 4)).astype(np.float32)
B = rng.standard_normal((4, 2)).astype(np.float32)
alpha = np.array(0.75, dtype=np.float32)
C = np.zeros((3, 2), np.float32)
R = np.zeros(3, np.float32)
ins = (ctypes.c_void_p * 3)(A.ctypes.data, B.ctypes.data, alpha.ctypes.data)
outs = (ctypes.c_void_p * 2)(C.ctypes.data, R.ctypes.data)
lib.scale.restype = ctypes.c_int
assert lib.scale(ins, outs, 2) == 0
want = alpha * (A @ B)
assert np.allclose(C, want, rtol=1e-5, atol=1e-6), (C, want)
assert np.allclose(R, want.max(axis=1), rtol=1e-5, atol=1e-6)
lib.trart_shutdown()
print("PASS ctypes calls scale() on NumPy arrays")
