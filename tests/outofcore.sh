#!/bin/sh
# outofcore.sh: inputs and outputs out of core (trac --memory; the
# memgraph's read, drop, claim and write nodes; the generated program's
# mapped .npy files). Two programs whose data are eight times the budget:
#  - W5's gradient, g = X^T (sigmoid(X w) - y) / N, with X of 64 MiB under
#    --memory=8M: g agrees with NumPy (float64, 1e-4 relative); --stats's
#    arena is within the budget and it read the bytes the plan says; the
#    program's peak resident memory (wait4's) stays under half of X, while
#    the same program compiled without a budget, which reads X whole,
#    peaks above X (so the comparison can fail);
#  - a map, Y = 2 X + 1, with X and Y of 64 MiB each: Y is written block
#    by block into its file, equal to NumPy's, the peak under half of X
#    and Y together (a block's pages are mapped in the file's large
#    folios, up to 2 MiB each, so a few MiB past the budget are resident);
# 1 and 3 threads (tests/c/outofcore.sh: the same under the C back end). Then the failures leave nothing behind: an output that finds no
# room (a file size limit standing in for a full disk) is one line and
# exit status 1, before any work, and no file is left in the output
# directory; so is a program killed by SIGTERM in the middle of its run.
# Environment: TRAC, srcdir, PYTHON_NUMPY (SKIP without).
set -u
: "${TRAC:?}" "${srcdir:?}"
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy"
	exit 77
fi
. "$srcdir/tests/testlib.sh"
test_setup

# the data and the references, in float64
"$PYTHON_NUMPY" - <<'PY' || exit 99
import numpy as np
rng = np.random.default_rng(12)
n, d = 32768, 512
X = rng.standard_normal((n, d)).astype("<f4")
w = (rng.standard_normal(d) / np.sqrt(d)).astype("<f4")
y = (rng.random(n) < 0.5).astype("<f4")
np.save("X.npy", X); np.save("w.npy", w); np.save("y.npy", y)
x = X.astype(np.float64)
np.save("want_g.npy", x.T @ (1 / (1 + np.exp(-(x @ w))) - y) / n)
np.save("want_Y.npy", 2 * x + 1)
PY
xbytes=$((32768 * 512 * 4))
cat >map.tra <<'EOF'
size N = 32768, D = 512
input X[N, D]
Y[i, j] = 2 * X[i, j] + 1
output Y
EOF

# peak CMD...: runs CMD (stderr to err); prints its exit status and its
# own peak resident bytes (wait4).
peak() {
	"$PYTHON_NUMPY" - "$@" <<'PY'
import os, subprocess, sys
with open("err", "wb") as e:
    p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=e)
    _, status, ru = os.wait4(p.pid, 0)
print(os.waitstatus_to_exitcode(status), ru.ru_maxrss * 1024)
PY
}

# close GOT WANT: GOT.npy equals WANT.npy to 1e-4 relative.
close() {
	"$PYTHON_NUMPY" -c '
import sys, numpy as np
g, w = np.load(sys.argv[1]), np.load(sys.argv[2])
sys.exit(0 if g.shape == w.shape and np.max(np.abs(g - w)) <= 1e-4 * max(np.max(np.abs(w)), 1e-30) else 1)' "$1" "$2"
}

# the stats line's "read ... = N bytes" and arena, and the plan's read bytes
stat_read() { sed -n 's/^memory: .* read [^=]*= \([0-9]*\) bytes.*/\1/p' err | head -n 1; }
stat_arena() { sed -n 's/^memory: arena [^=]*= \([0-9]*\) bytes.*/\1/p' err | head -n 1; }
plan_read() { sed -n 's/^  out of core: read \([0-9]*\) bytes of inputs.*/\1/p' "$1" | head -n 1; }

budget=$((8 * 1048576))
w5=$srcdir/bench/w5_logreg.tra
if "$TRAC" "$w5" -D N=32768 -D D=512 --devices=3 --memory=8M -o w5 2>err &&
   "$TRAC" "$w5" -D N=32768 -D D=512 --devices=3 --memory=8M --emit=plan >w5.plan 2>err &&
   "$TRAC" "$w5" -D N=32768 -D D=512 --devices=3 -o w5whole 2>err &&
   "$TRAC" map.tra --devices=3 --memory=8M -o map 2>err; then
	ok "compiled under --memory=8M (and without)"
else
	bad "compiled under --memory=8M (and without)"
	echo "$pass passed, $fail failed"
	exit 1
fi
want_read=$(plan_read w5.plan)
for t in 1 3; do
	rm -rf got && mkdir got
	set -- $(peak ./w5 --input X=X.npy --input w=w.npy --input y=y.npy --threads $t --stats --output-dir got)
	rc=$1 rss=$2 read=$(stat_read) arena=$(stat_arena)
	if [ "$rc" -ne 0 ]; then
		bad "w5 threads=$t (exit status $rc)"
	elif ! close got/g.npy want_g.npy; then
		bad "w5 threads=$t (g differs from NumPy's)"
	elif [ -z "$arena" ] || [ "$arena" -gt "$budget" ]; then
		bad "w5 threads=$t (arena '$arena' over the budget $budget)"
	elif [ -z "$want_read" ] || [ "$read" != "$want_read" ]; then
		bad "w5 threads=$t (read '$read' bytes, the plan '$want_read')"
	elif [ "$rss" -ge $((xbytes / 2)) ]; then
		bad "w5 threads=$t (peak resident $rss bytes, X is $xbytes)"
	else
		ok "w5 threads=$t: X read once ($read bytes), peak resident $rss bytes"
	fi
	[ "$(ls got)" = g.npy ] || bad "w5 threads=$t (the output directory holds $(ls got | tr '\n' ' '))"
done
set -- $(peak ./w5whole --input X=X.npy --input w=w.npy --input y=y.npy --threads 3 --output-dir got)
if [ "$1" -eq 0 ] && [ "$2" -gt "$xbytes" ]; then
	ok "without a budget X is read whole (peak resident $2 bytes)"
else
	bad "without a budget X is read whole (exit status $1, peak resident $2 bytes)"
fi
for t in 1 3; do
	rm -rf got && mkdir got
	set -- $(peak ./map --input X=X.npy --threads $t --stats --output-dir got)
	if [ "$1" -ne 0 ]; then
		bad "map threads=$t (exit status $1)"
	elif ! close got/Y.npy want_Y.npy; then
		bad "map threads=$t (Y differs from NumPy's)"
	elif [ "$2" -ge "$xbytes" ]; then
		bad "map threads=$t (peak resident $2 bytes, X and Y are $xbytes each)"
	elif ! grep -Eq "^memory: .*written [^=]*= $xbytes bytes" err; then
		bad "map threads=$t (the stats line does not say $xbytes bytes written)"
	else
		ok "map threads=$t: Y written block by block, peak resident $2 bytes"
	fi
done

# ---- nothing left behind -----------------------------------------------------------
# an output that finds no room: a file size limit of 1 MiB (1024 blocks of 1 KiB)
rm -rf got && mkdir got
{ (ulimit -f 1024 && exec ./map --input X=X.npy --output-dir got) 2>&1 >/dev/null
  echo $? >status; } | cat >err
rc=$(cat status)
if [ "$rc" -eq 1 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q 'error: .*Y' err && [ -z "$(ls -A got)" ]; then
	ok "no room for the output (ulimit -f): one line, exit status 1, nothing left"
else
	echo "  exit status $rc; left: $(ls -A got | tr '\n' ' ')"
	sed 's/^/  stderr: /' err | head -3
	bad "no room for the output (ulimit -f): one line, exit status 1, nothing left"
fi
# killed in the middle: the staged output goes with the program
rm -rf got && mkdir got
./map --input X=X.npy --output-dir got --repeat 100000 2>err &
pid=$!
i=0
while [ -z "$(ls -A got)" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.2
kill -TERM $pid
wait $pid
rc=$?
if [ -z "$(ls -A got)" ] && [ "$rc" -ne 0 ]; then
	ok "SIGTERM mid-run leaves no output file (exit status $rc)"
else
	echo "  exit status $rc; left: $(ls -A got | tr '\n' ' ')"
	bad "SIGTERM mid-run leaves no output file"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] || exit 1
