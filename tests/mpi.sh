#!/bin/sh
# mpi.sh: programs on MPI ranks end to end (trac --ranks, runtime/mpi.c,
# the executor's comm thread in sched.c). Every sample and bench program,
# at programs.sh's small sizes, is compiled with --ranks=R --devices=1
# for R = 1, 2, 3 and 4, the four placers taking turns (and the back
# ends, where there are two), and run under mpirun -np R (oversubscribed:
# this machine has 2 cores) with --random:
#  - its outputs, which rank 0 alone writes, equal the interpreter's;
#  - each rank's --stats line of bytes sent and received equals
#    --emit=plan's line for that rank (the compiler's count of the
#    pieces sched.c moves);
# and once per program, the same binary without mpirun (one process).
# MPI_SWEEP=full runs every placer for every R (4x the runs);
# MPI_SWEEP=smoke, distcheck's, the samples alone, not bench/.
# Then: every training sample runs --steps on 2 and 3 ranks; a program
# whose every rank sends before it receives (a transpose, rows cut in
# two, round robin) completes under a time limit, and again on inputs
# from .npy files;
# TRART_FAIL_RANK=1 makes rank 1 fail after its first block: mpirun
# exits non-zero within the limit and no output file is left; an input
# that is missing is reported once, not once per rank; -np other than R
# is refused with both counts named; --trace writes one file per rank.
# Environment: TRAC, srcdir, PYTHON_NUMPY, MPIRUN (SKIP without it, or
# when trac was built without MPI).
set -u
: "${TRAC:?}" "${srcdir:?}"
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy to compare .npy files"
	exit 77
fi
if [ -z "${MPIRUN:-}" ] || ! [ -x "$MPIRUN" ]; then
	echo "SKIP: no mpirun (configure found no MPI)"
	exit 77
fi
. "$srcdir/tests/testlib.sh"
test_setup
. "$srcdir/tests/programs.sh"
printf 'size N = 4\ninput A[N, N]\nB[i, j] = 3 * A[i, j]\noutput B\n' >probe.tra
if "$TRAC" probe.tra --ranks=2 -o probe 2>err; then :; elif grep -q 'without MPI' err; then
	echo "SKIP: this trac was built without MPI"
	exit 77
fi
sweep=${MPI_SWEEP:-quick}
placers="greedy roundrobin lshs critical-path"
backends="c"
"$TRAC" --help | grep -q 'backend=llvm' && backends="llvm c"
limit=120

# mpi R CMD...: CMD under mpirun with R processes, killed past $limit s.
mpi() {
	np=$1
	shift
	timeout "$limit" "$MPIRUN" --oversubscribe --allow-run-as-root -np "$np" "$@"
}

# bytes_check LABEL PLAN STATS R: every rank's sent and received bytes
# in --stats (STATS) equal --emit=plan's (PLAN).
bytes_check() {
	bc_ok=1
	r=0
	while [ "$r" -lt "$4" ]; do
		want=$(sed -n "s/^  rank $r: compute .*, sends \([0-9]*\) bytes, receives \([0-9]*\) bytes.*/\1 \2/p" "$2")
		got=$(sed -n "s/^rank $r: sent \([0-9]*\) bytes in [0-9]* pieces, received \([0-9]*\) bytes.*/\1 \2/p" "$3")
		if [ -z "$want" ] || [ "$want" != "$got" ]; then
			echo "  rank $r: plan sends, receives '$want', run '$got'"
			bc_ok=0
		fi
		r=$((r + 1))
	done
	[ "$bc_ok" = 1 ]
}

# run_ranks NAME PROG DEFS R PLACER BACKEND: compile for R ranks, run
# under mpirun, check bytes; outputs to got-R-PLACER, added to gotdirs.
run_ranks() {
	label="$1 --ranks=$4 --placer=$5 --backend=$6"
	exe="p-$4-$5"
	# shellcheck disable=SC2086 # $3 is the -D flags
	if ! "$TRAC" "$2" $3 --ranks="$4" --devices=1 --placer="$5" --backend="$6" -o "$exe" 2>err ||
	   ! "$TRAC" "$2" $3 --ranks="$4" --devices=1 --placer="$5" --emit=plan >"plan-$4-$5" 2>err; then
		bad "$label: compile"
		return
	fi
	if ! mpi "$4" "./$exe" --random=3 --threads=1 --stats --output-dir "got-$4-$5" >out 2>err; then
		bad "$label: run"
		return
	fi
	gotdirs="$gotdirs got-$4-$5"
	if [ "$4" -gt 1 ] && ! bytes_check "$label" "plan-$4-$5" err "$4"; then
		bad "$label: bytes sent and received per rank"
	else
		ok "$label: bytes per rank"
	fi
}

benches=$(ls "$srcdir"/bench/*.tra 2>/dev/null)
[ "$sweep" = smoke ] && benches=""
i=0
for prog in "$srcdir"/samples/*.tra $benches; do
	name=$(basename "$prog" .tra)
	defs=$(sizes "$prog")
	head -n 1 "$prog" | grep -q 'keep sizes' && defs=""
	rm -rf want got-* p-*
	# shellcheck disable=SC2086 # $defs is the -D flags
	if ! "$TRAC" "$prog" $defs --interpret --random=3 --output-dir want 2>err; then
		bad "$name: interpreter"
		continue
	fi
	gotdirs=""
	for r in 1 2 3 4; do
		if [ "$sweep" = full ]; then use=$placers; else
			use=$(echo $placers | cut -d' ' -f$((i % 4 + 1)))
		fi
		for p in $use; do
			set -- $backends
			[ $((i % 2)) = 1 ] && [ $# -gt 1 ] && shift
			run_ranks "$name" "$prog" "$defs" "$r" "$p" "$1"
			i=$((i + 1))
		done
	done
	# the last binary, without mpirun: one process
	last=$(ls -d p-4-* | head -n 1)
	if "./$last" --random=3 --output-dir got-alone 2>err; then
		gotdirs="$gotdirs got-alone"
	else
		bad "$name: without mpirun"
	fi
	# shellcheck disable=SC2086 # the directories, one word each
	set -- $gotdirs # compare GOT WANT [GOT...]
	if [ $# -gt 0 ] && first=$1 && shift && compare "$first" want "$@"; then
		ok "$name: outputs on 1-4 ranks and alone equal the interpreter's"
	else
		bad "$name: outputs"
	fi
done

# Training state on ranks (--steps): rank 0 copies each fed output into
# its input and broadcasts it between steps. Every training sample, on 2
# and 3 ranks (the placers taking turns), runs 10 steps: its outputs
# equal the interpreter's 10 steps, and its --log-every lines the same
# binary's without mpirun (the same blocks in the same order: the same
# bits). Without the broadcast, rank 1 keeps the first step's state.
i=0
for prog in "$srcdir"/samples/train_*.tra; do
	name=$(basename "$prog" .tra)
	rm -rf want got-* p-* log-*
	if ! "$TRAC" "$prog" --interpret --random=3 --steps 10 --output-dir want 2>err; then
		bad "$name: interpreter, 10 steps"
		continue
	fi
	for r in 2 3; do
		p=$(echo $placers | cut -d' ' -f$((i % 4 + 1)))
		i=$((i + 1))
		label="$name --ranks=$r --placer=$p --steps 10"
		if "$TRAC" "$prog" --ranks="$r" --devices=1 --placer="$p" -o "p-$r" 2>err &&
		   mpi "$r" "./p-$r" --random=3 --steps 10 --log-every 5 --output-dir "got-$r" \
			>"log-$r" 2>err &&
		   "./p-$r" --random=3 --steps 10 --log-every 5 --output-dir got-alone >log-alone 2>err &&
		   [ -s "log-$r" ] && cmp -s "log-$r" log-alone && compare "got-$r" want; then
			ok "$label: outputs equal the interpreter's, the log one process's"
		else
			bad "$label"
		fi
	done
done

# Every rank sends before it receives: B's row blocks on ranks 0 and 1,
# and each row block of C = B transposed needs both.
cp "$srcdir/tests/golden/swap.tra" swap.tra
if "$TRAC" swap.tra --ranks=2 --devices=1 --placer=roundrobin --partition=B:i=2 \
	--partition=C:i=2 -o swap 2>err &&
   "$TRAC" swap.tra --interpret --random=5 --output-dir swant 2>err &&
   mpi 2 ./swap --random=5 --output-dir sgot 2>err && compare sgot swant; then
	ok "every rank sends before it receives: no deadlock"
else
	bad "every rank sends before it receives"
fi

# Inputs from .npy files, which every rank maps and reads its blocks of.
"$PYTHON_NUMPY" -c "import numpy as np
np.save('a.npy', ((np.arange(4096) % 13 - 6) / 7).astype(np.float32).reshape(64, 64))"
if "$TRAC" swap.tra --interpret --input A=a.npy --output-dir nwant 2>err &&
   mpi 2 ./swap --input A=a.npy --output-dir ngot 2>err && compare ngot nwant; then
	ok "inputs from .npy files on 2 ranks"
else
	bad "inputs from .npy files on 2 ranks"
fi

# A rank that fails mid-run ends the job: non-zero, no output file.
rm -rf fgot
start=$(date +%s)
TRART_FAIL_RANK=1 mpi 2 ./swap --random=5 --output-dir fgot >out 2>err
rc=$?
took=$(($(date +%s) - start))
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$took" -lt 60 ] && ! [ -e fgot/C.npy ] &&
   grep -q 'rank 1: failing after task' err; then
	ok "a rank that fails makes mpirun exit $rc in ${took}s, no output"
else
	bad "a rank that fails (exit $rc after ${took}s)"
fi

# Errors before the run come once, from one rank.
cp probe.tra one.tra
"$TRAC" one.tra --ranks=2 --devices=1 -o one 2>err || bad "one.tra: compile"
expect "a missing input, reported once" 1 'input A is missing' mpi 2 ./one
if [ "$(grep -c 'error:' err)" = 1 ]; then ok "one error line for 2 ranks"; else bad "error lines: $(grep -c 'error:' err)"; fi
expect "-np 3 for a program of 2 ranks" 2 'compiled for 2 ranks .*started on 3' mpi 3 ./one --random
mpi 2 ./one --random --trace t.json --output-dir tout >out 2>err
if [ -s t.rank0.json ] && [ -s t.rank1.json ] && [ -s tout/B.npy ]; then
	ok "--trace: one file per rank"
else
	bad "--trace on ranks"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
