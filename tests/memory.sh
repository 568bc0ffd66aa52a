#!/bin/sh
# memory.sh: memory planning end to end (compiler/memgraph.c, the
# runtime's arena and spill file). Every sample and bench program, at
# compile.sh's small sizes scaled up until it holds at least 32 kB
# (scaled_sizes), on --devices=3, is compiled with --memory at 100%, 50%
# and 25% of its unbounded peak (its inputs and outputs whole and its
# unbounded arena, --emit=memgraph's: under a budget, all three are
# counted) where that is at least the smallest budget that works (what
# trac's error for a smaller one says; the log names the budgets
# skipped), and at that smallest budget, and run with --random on 1, 2
# and 3 threads:
#  - its outputs equal the interpreter's (1e-4 relative for f32, 1e-10
#    for f64);
#  - --stats's arena is within the budget, its peak memory within the
#    inputs, the outputs and the budget (nothing else holds a whole
#    intermediate), and its offloads and reloads (blocks and bytes) are
#    the memgraph's;
#  - the spill directory is empty after the run (the file is unlinked);
# and at the smallest budget once more on inputs from .npy files, which
# the program maps and reads block by block, against the interpreter.
# (At their smallest budgets, most programs keep some intermediate block
# by block, and mlp's and W2's Hd are checked to be.)
# Each budget is compiled under one placer, the four taking turns
# (MEMORY_SWEEP=full: every placer at every budget, 4x the runs;
# MEMORY_SWEEP=smoke, distcheck's: the samples alone, not bench/).
# Then the errors: a budget below the smallest is exit status 1 with the
# task and the smallest budget named; a malformed --memory is a usage
# error; a spill directory that cannot be written is exit status 1 with
# one line naming it, and no output file; so is a spill file that finds
# no room (a file size limit of 0 standing in for a full disk).
# Environment: TRAC, srcdir, PYTHON_NUMPY (the comparisons; SKIP without).
set -u
: "${TRAC:?}" "${srcdir:?}"
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy to compare .npy files"
	exit 77
fi
. "$srcdir/tests/testlib.sh"
test_setup
. "$srcdir/tests/programs.sh"
sweep=${MEMORY_SWEEP:-quick}
placers="greedy roundrobin lshs critical-path"

# memline FILE WORD: the bytes and blocks of WORD (offloaded, reloaded)
# in a memgraph dump's domain line, as "BYTES BLOCKS".
memline() {
	sed -n "s/.* $2 \([0-9]*\) bytes (\([0-9]*\)).*/\1 \2/p" "$1" | head -n 1
}

# statline FILE WORD: the same from --stats's memory line.
statline() {
	sed -n "s/^memory: .* $2 [^=]*= \([0-9]*\) bytes in \([0-9]*\) blocks*,.*/\1 \2/p" "$1" | head -n 1
}

# run_budget NAME PROG DEFS BUDGET PLACER SLOT: compile, run on 1, 2, 3
# threads, check the stats; the outputs go to got-SLOT-PLACER-THREADS,
# added to $gotdirs for the program's one comparison. A budget below
# the smallest that works (not the least slot's) is skipped, once
# trac's error names a smallest budget above it.
run_budget() {
	rname=$1 rprog=$2 rdefs=$3 rbudget=$4 rplacer=$5 rslot=$6
	label="$rname --memory=$rbudget --placer=$rplacer"
	# shellcheck disable=SC2086
	if ! "$TRAC" "$rprog" $rdefs --devices=3 --placer="$rplacer" --memory="$rbudget" -o prog >out 2>err; then
		least=$(sed -n 's/.* is too small: .*the smallest budget that works is \([0-9]*\) bytes$/\1/p' err)
		if [ "$rslot" != least ] && [ -n "$least" ] && [ "$least" -gt "$rbudget" ]; then
			echo "  $label: the $rslot is below its smallest budget, $least"
		else
			bad "$label (compile)"
		fi
		return
	fi
	# shellcheck disable=SC2086
	if ! "$TRAC" "$rprog" $rdefs --devices=3 --placer="$rplacer" --memory="$rbudget" --emit=memgraph >mg 2>err; then
		bad "$label (--emit=memgraph)"
		return
	fi
	want_out=$(memline mg offloaded) want_in=$(memline mg reloaded)
	for t in 1 2 3; do
		got=got-$rslot-$rplacer-$t
		rm -rf "$got" spill && mkdir spill
		if ! ./prog --random=3 --threads "$t" --stats --spill-dir spill --output-dir "$got" >out 2>err; then
			bad "$label threads=$t (exit status)"
			continue
		fi
		gotdirs="$gotdirs $got"
		arena=$(sed -n 's/^memory: arena [^=]*= \([0-9]*\) bytes.*/\1/p' err)
		rpeak=$(sed -n 's/^peak memory: \([0-9]*\) bytes.*/\1/p' err)
		got_out=$(statline err offloaded) got_in=$(statline err reloaded)
		if [ -z "$arena" ] || [ "$arena" -gt "$rbudget" ]; then
			echo "  arena '$arena' bytes, budget $rbudget"
			bad "$label threads=$t (arena over the budget)"
		elif [ -z "$rpeak" ] || [ "$rpeak" -gt $((rio + rbudget + rio / 100 + 65536)) ]; then
			echo "  peak memory '$rpeak' bytes, inputs and outputs $rio, budget $rbudget"
			bad "$label threads=$t (peak over the inputs, outputs and budget)"
		elif [ "$got_out" != "$want_out" ] || [ "$got_in" != "$want_in" ]; then
			echo "  offloaded/reloaded '$got_out'/'$got_in', the memgraph's '$want_out'/'$want_in'"
			bad "$label threads=$t (moves differ from the plan)"
		elif [ -n "$(ls -A spill)" ]; then
			bad "$label threads=$t (files left in the spill directory)"
		else
			ok "$label threads=$t (offloaded ${got_out:-0 0})"
		fi
	done
}

# files_run NAME PROG DEFS: the program last compiled (prog, at the
# smallest budget) run on inputs from .npy files, which it maps and reads
# out of core (floats normal, integers 0: in range for every gather),
# against the interpreter given the same files.
files_run() {
	# shellcheck disable=SC2086
	"$TRAC" "$2" $3 --emit=signature-json >sig.json 2>err || { bad "$1 files (signature)"; return; }
	rm -rf in && mkdir in
	"$PYTHON_NUMPY" - <<'PY' >inflags || { bad "$1 files (inputs)"; return; }
import json, numpy as np
sig = json.load(open("sig.json"))
rng = np.random.default_rng(7)
for t in sig["inputs"]:
    dt = {"f32": "<f4", "f64": "<f8", "i32": "<i4", "i64": "<i8"}[t["dtype"]]
    a = np.zeros(t["shape"], dt) if dt[1] == "i" else rng.standard_normal(t["shape"]).astype(dt)
    np.save("in/%s.npy" % t["name"], a)
    print("--input %s=in/%s.npy" % (t["name"], t["name"]))
PY
	rm -rf fwant fgot
	# shellcheck disable=SC2046,SC2086
	if ! "$TRAC" "$2" $3 --interpret $(cat inflags) --output-dir fwant >out 2>err; then
		bad "$1 files (interpret)"
	elif ! ./prog $(cat inflags) --threads 2 --output-dir fgot >out 2>err; then
		bad "$1 files (exit status)"
	elif ! compare fgot fwant; then
		bad "$1 files (differs from the interpreter)"
	else
		ok "$1 files: inputs mapped, outputs written block by block"
	fi
}

# peak PROG DEFS: the most an unbounded program holds: its inputs and
# outputs whole (--emit=signature-json) and its unbounded arena.
peak() {
	# shellcheck disable=SC2086
	"$TRAC" "$1" $2 --devices=3 --emit=memgraph >mg 2>err || return
	arena=$(sed -n 's/.*budget unbounded, arena \([0-9]*\) bytes.*/\1/p' mg)
	# shellcheck disable=SC2086
	"$TRAC" "$1" $2 --emit=signature-json 2>err | awk -v n="${arena:-0}" '
		/"dtype": / {
			e = /"(f64|i64)"/ ? 8 : 4
			s = $0; sub(/.*"shape": \[/, "", s); sub(/\].*/, "", s)
			k = split(s, d, ", ")
			for (i = 1; i <= k; i++) e *= d[i]
			n += e
		}
		END { print n }'
}

# scaled_sizes PROG: programs.sh's sizes times 1, 2, 4 or 8, the first
# at which the program holds at least PEAK_LEAST bytes unbounded: at
# compile.sh's sizes a tensor is a few dozen bytes, and the arena's
# 64-byte alignment would decide every budget.
PEAK_LEAST=32768
scaled_sizes() {
	for f in 1 2 4 8; do
		sdefs=$(sizes "$1" | awk -v f="$f" '{ for (i = 1; i <= NF; i++) {
			if ($i ~ /=/) { split($i, a, "="); printf " %s=%d", a[1], a[2] * f } else printf " %s", $i }
			print "" }')
		p=$(peak "$1" "$sdefs")
		[ -n "$p" ] && [ "$p" -ge "$PEAK_LEAST" ] && break
	done
	echo "$sdefs"
}

np=0
benches="$srcdir"/bench/*.tra
[ "$sweep" = smoke ] && benches=""
for prog in "$srcdir"/samples/*.tra $benches; do
	[ -f "$prog" ] || continue
	name=$(basename "$prog" .tra)
	defs=$(scaled_sizes "$prog")
	head -n 1 "$prog" | grep -q 'keep sizes' && defs=""
	# shellcheck disable=SC2086
	"$TRAC" "$prog" $defs --interpret --random=3 --output-dir "want-$name" >out 2>err ||
		{ bad "$name (interpret)"; continue; }
	whole=$(peak "$prog" "$defs")
	if [ -z "$whole" ]; then
		bad "$name (its unbounded peak)"
		continue
	fi
	# the inputs' and outputs' bytes (run_budget's bound on --stats's peak)
	rio=$((whole - $(sed -n 's/.*budget unbounded, arena \([0-9]*\) bytes.*/\1/p' mg)))
	if ! grep -q "budget unbounded, arena [1-9]" mg; then
		ok "$name: no intermediates to plan"
		continue
	fi
	i=0
	gotdirs=""
	for slot in whole half quarter least; do
		if [ "$sweep" = full ]; then
			use=$placers
		else
			# shellcheck disable=SC2086
			set -- $placers
			shift $(((np + i) % 4))
			use=$1
		fi
		i=$((i + 1))
		for p in $use; do
			case $slot in
			whole) budget=$whole ;;
			half) budget=$((whole / 2)) ;;
			quarter) budget=$((whole / 4)) ;;
			least) budget=$(least_budget "$prog" "$defs" "$p") ;;
			esac
			if [ -z "$budget" ]; then
				bad "$name --memory=1 --placer=$p (no smallest budget in the error)"
				continue
			fi
			run_budget "$name" "$prog" "$defs" "$budget" "$p" "$slot"
		done
	done
	# every run's results at once (one Python)
	# shellcheck disable=SC2086
	set -- $gotdirs
	if [ $# -eq 0 ]; then
		bad "$name: no run to compare"
	elif first=$1 && shift && compare "$first" "want-$name" "$@"; then
		ok "$name: every budget's results equal the interpreter's"
	else
		bad "$name (differs from the interpreter)"
	fi
	files_run "$name" "$prog" "$defs"
	np=$((np + 1))
done

# ---- intermediates kept by block --------------------------------------------------
# At their smallest budgets, mlp's and W2's row blocks of Hd are buffers
# of their own (the memgraph's intermediate's blocks), so the runs above
# went through the kernels' views of them.
for prog in "$srcdir/samples/mlp.tra" "$srcdir/bench/w2_mlp.tra"; do
	name=$(basename "$prog" .tra)
	least=$(least_budget "$prog" "$(sizes "$prog")")
	# shellcheck disable=SC2046
	"$TRAC" "$prog" $(sizes "$prog") --devices=3 --memory="${least:-1}" --emit=memgraph >mg 2>err
	if grep -q "^  Hd\.block#[0-9]* .*, intermediate's block" mg && ! grep -q "^  Hd  " mg; then
		ok "$name --memory=$least keeps Hd by block"
	else
		bad "$name --memory=$least keeps Hd by block"
	fi
done

# ---- errors ---------------------------------------------------------------------
mlp=$srcdir/samples/mlp.tra
expect "budget below the smallest" 1 \
	'error: --memory=1024 is too small: task #[0-9]+ \(a block of [A-Za-z0-9_.]+\) uses [0-9]+ bytes of buffers at once; the smallest budget that works is [0-9]+ bytes' \
	"$TRAC" "$mlp" --devices=2 --memory=1K -o never
[ -e never ] && bad "no program is written when the budget is too small"
for arg in 0 -5 12Q 1.5G K ""; do
	expect "--memory='$arg' is a usage error" 2 "--memory=SIZE needs a positive byte count" \
		"$TRAC" "$mlp" --memory="$arg" --emit=memgraph
done
# a budget that forces offloads, run with a spill directory that is not there
least=$(least_budget "$mlp" "$(sizes "$mlp")")
# shellcheck disable=SC2046
if [ -n "$least" ] && "$TRAC" "$mlp" $(sizes "$mlp") --devices=3 --memory="$least" -o tight >out 2>err &&
   "$TRAC" "$mlp" $(sizes "$mlp") --devices=3 --memory="$least" --emit=memgraph >mg 2>err &&
   [ "$(memline mg offloaded | cut -d' ' -f2)" -gt 0 ]; then
	rm -rf got
	expect "spill directory missing" 1 "error: cannot create a spill file in $tmp/nowhere: No such file or directory" \
		./tight --random=1 --spill-dir "$tmp/nowhere" --output-dir got
	[ -e got ] && bad "no output is written when the spill file cannot be made"
	# a full disk, as a file size limit of 0: the reservation fails before any work
	# (the output to /dev/null, which is written after the run: a regular
	# file would be staged before it, and meet the limit first)
	mkdir -p full
	# (stderr through a pipe: under the limit, the message could not be
	# written to a file either)
	{ (ulimit -f 0 && exec ./tight --random=1 --spill-dir full --output P=/dev/null) 2>&1 >/dev/null
	  echo $? >status; } | cat >err
	rc=$(cat status)
	if [ "$rc" -eq 1 ] && grep -Eq "error: cannot reserve [0-9.]+ ([kMGTPE]B|bytes) for the spill file in full: File too large" err &&
	   [ -z "$(ls -A full)" ]; then
		ok "no room for the spill file (ulimit -f 0)"
	else
		echo "  exit status $rc"
		bad "no room for the spill file (ulimit -f 0)"
	fi
else
	bad "mlp at its smallest budget offloads (the spill error's set-up)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] || exit 1
