# programs.sh: what compile.sh and tsan.sh share to run the samples and
# bench programs at small sizes against the interpreter; sourced. Needs
# TRAC, and NPYCMP or PYTHON_NUMPY for compare.

# Small sizes for every size of program $1: odd and even, distinct where
# there are few, never powers of two only (-D replaces each definition).
sizes() {
	# shellcheck disable=SC2046 # the names, one word each
	set -- $("$TRAC" "$1" --emit=tra | sed -n 's/^# sizes: //p' | sed 's/=[0-9]*//g; s/ (-D)//g')
	vals="5 7 3 6 4 9 2 8 5 7 3 6 4 9 2 8"
	out=""
	for n in "$@"; do
		v=${vals%% *}
		vals=${vals#* }
		out="$out -D $n=$v"
	done
	echo "$out"
}

# least_budget PROG DEFS [PLACER]: the smallest --memory that works for
# PROG with DEFS on --devices=3 (placed by PLACER, default greedy), as
# trac's error for a budget of 1 byte names it (empty if it names none).
least_budget() {
	# shellcheck disable=SC2086 # $2 is the -D flags
	"$TRAC" "$1" $2 --devices=3 --placer="${3:-greedy}" --memory=1 --emit=memgraph 2>&1 >/dev/null |
		sed -n 's/.*the smallest budget that works is \([0-9]*\) bytes.*/\1/p'
}

# gpu_peak PROG DEFS BACKEND N: the largest GPU arena of PROG's unbounded
# plan on N GPUs of BACKEND (cuda or cuda-sim), empty if none; trac's
# stderr in err.
gpu_peak() {
	# shellcheck disable=SC2086 # $2 is the -D flags
	"$TRAC" "$1" $2 --backend="$3" --gpus="$4" --emit=plan 2>err |
		sed -n 's/^memory domain [0-9]* (GPU [0-9]*): budget unbounded, arena \([0-9]*\) bytes.*/\1/p' |
		sort -n | tail -n 1
}

# gpu_stats LABEL N KIND: a GPU run's --stats (in err) names N GPUs of
# KIND ("simulated GPU", "CUDA GPU"), and on one GPU nothing moved
# between GPUs; bad LABEL otherwise.
gpu_stats() {
	if ! grep -q "^gpus: $2 $3" err; then
		bad "$1: --stats has no 'gpus: $2 $3' line"
	elif [ "$2" = 1 ] && ! grep -q ' 0 between GPUs;' err; then
		bad "$1: bytes between GPUs on one GPU: $(grep '^gpus:' err)"
	fi
}

# compare DIR_GOT DIR_WANT [DIR_GOT...]: every .npy in WANT equals the
# one in GOT (and in each further GOT), within tra(5)'s tolerance. The
# tests run tests/npycmp (NPYCMP: C, a millisecond a call); this NumPy
# check is its definition (tests/npycmp.sh holds them to the same
# verdicts) and what runs where NPYCMP is not set.
compare() {
	if [ -n "${NPYCMP:-}" ]; then
		"$NPYCMP" "$@"
		return
	fi
	compare_numpy "$@"
}

compare_numpy() {
	"$PYTHON_NUMPY" - "$@" <<'PY'
import sys, os
import numpy as np
want_dir = sys.argv[2]
ok = True
for got_dir in [sys.argv[1]] + sys.argv[3:]:
    for f in sorted(os.listdir(want_dir)):
        want = np.load(os.path.join(want_dir, f))
        got = np.load(os.path.join(got_dir, f))
        tol = 1e-4 if want.dtype == np.float32 else 1e-10
        w, g = want.astype(np.float64), got.astype(np.float64)
        err = np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-30) if w.size else 0.0
        if got.dtype != want.dtype or got.shape != want.shape or not err <= tol:
            print("  %s/%s: dtype %s/%s shape %s/%s relative error %.3g" % (got_dir, f, got.dtype, want.dtype,
                  got.shape, want.shape, err))
            ok = False
sys.exit(0 if ok else 1)
PY
}

# A manual partition of the program's last node: every index split in
# 2, or 3 where that leaves uneven blocks (sizes here are odd).
manual() {
	# shellcheck disable=SC2086 # $2 is the -D flags
	"$TRAC" "$1" $2 --emit=tra | awk '
		/^%[0-9]+ / && !/ input / { node = $2; sub(/\[.*/, "", node) }
		/^    [a-z_0-9]+: / { line = $0 }
		END {
			n = split(line, f, " "); out = ""
			for (i = 1; i <= n; i++) if (f[i] ~ /:$/) {
				idx = f[i]; sub(/:$/, "", idx)
				v = f[i + 1]; sub(/.*=/, "", v)
				k = v >= 3 ? 3 : (v >= 2 ? 2 : 1)
				out = out (out == "" ? "" : ",") idx "=" k
			}
			print node ":" out
		}'
}
