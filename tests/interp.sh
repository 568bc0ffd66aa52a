#!/bin/sh
# interp.sh: `trac --interpret samples/mlp.tra --random=1 --output-dir out`
# equals NumPy's MLP on the same inputs, which trart_random.py reproduces
# from the seed (so this also pins down --random's values), at reduced
# sizes and at the sample's default sizes.
set -u
: "${TRAC:?}" "${srcdir:?}"
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy"
	exit 77
fi
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99
fail=0 pass=0
run() { # NAME SIZES...
	name=$1
	shift
	defs=""
	for kv in "$@"; do defs="$defs -D $kv"; done
	# shellcheck disable=SC2086
	if "$TRAC" "$srcdir/samples/mlp.tra" --interpret $defs --random=1 --output-dir "out-$name" &&
	   "$PYTHON_NUMPY" - "$srcdir/tests" "out-$name/P.npy" "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from trart_random import random_fill
sizes = dict(N=512, D=256, H=512, C=16)  # samples/mlp.tra's defaults
for kv in sys.argv[3:]:
    k, v = kv.split("=")
    sizes[k] = int(v)
N, D, H, C = (sizes[k] for k in "NDHC")
X = random_fill((N, D), np.float32, 1, "X").astype(np.float64)
W1 = random_fill((D, H), np.float32, 1, "W1").astype(np.float64)
b1 = random_fill((H,), np.float32, 1, "b1").astype(np.float64)
W2 = random_fill((H, C), np.float32, 1, "W2").astype(np.float64)
Y = np.maximum(X @ W1 + b1, 0) @ W2
E = np.exp(Y - Y.max(axis=1, keepdims=True))
want = E / E.sum(axis=1, keepdims=True)
got = np.load(sys.argv[2])
assert got.dtype == np.float32, got.dtype
assert got.shape == want.shape, (got.shape, want.shape)
err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30)
print("  max relative error %.3g" % err)
sys.exit(0 if err <= 1e-4 else 1)
PY
	then pass=$((pass + 1)); echo "PASS mlp $name"
	else fail=$((fail + 1)); echo "FAIL mlp $name"
	fi
}
run small N=9 D=7 H=5 C=3
run medium N=33 D=64 H=48 C=16
run default
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
