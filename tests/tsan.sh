#!/bin/sh
# tsan.sh: the runtime under ThreadSanitizer. Every runtime/*.c (a glob:
# new runtime files come in by themselves) is rebuilt with
# -fsanitize=thread into a runtime directory (rt/lib/libtrart.a), and then
#  - tests/runtime.sh, the whole of it, runs against tests/rt_prog.c
#    linked with that library;
#  - every samples/*.tra and bench/*.tra (TSAN_SWEEP=smoke, tests/c/tsan.sh's:
#    samples/*.tra alone), at compile.sh's small sizes,
#    is compiled by `trac --sanitize=thread` against the same library
#    (--runtime-dir) as a block task graph (the default partition,
#    --devices=3, and --devices=2 with compile.sh's manual partition of
#    the last node: uneven blocks, split reductions; a bench program
#    under the manual partition alone) through the default
#    back end (llvm's kernels instrumented by LLVM's ThreadSanitizer
#    passes; tests/c/tsan.sh runs it all again with --backend=c) and run
#    with --random and --threads 1, 2, 3 and 8; each run's outputs equal
#    the reference
#    interpreter's, as in compile.sh (1e-4 relative for f32, 1e-10 for
#    f64; SKIPped without NumPy);
#  - five samples compiled at the smallest --memory budget that works
#    (offloads, reloads, reused regions) run with TRART_SHUFFLE=1..6, the
#    ready tasks in a random order per seed: only the memgraph's edges
#    order them, and every order equals the interpreter.
#  - five programs on simulated GPUs (--backend=cuda-sim --gpus=2 to 4),
#    and two at the smallest budget per GPU (offloads and reloads to host
#    memory), run with random delays on the streams and shuffled orders;
#  - five programs on MPI ranks (where configure found MPI).
# Any ThreadSanitizer report fails the check it came from: the runs have
# TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1, and
# "ThreadSanitizer" in a run's stderr is a failure too (runtime.sh's
# runs write their reports to files, shown whole). OpenBLAS is not
# instrumented, so it runs on one thread (OPENBLAS_NUM_THREADS=1), and
# valgrind is left out (VALGRIND=: the two do not mix).
# Environment: TRAC (the built trac), srcdir (the source tree, may be
# read-only), CC (the compiler; default cc), OPENBLAS_LIBS (OpenBLAS's
# link flags; default -lopenblas), PYTHON_NUMPY (may be empty: the
# comparisons SKIP, the TSan runs do not), TSAN_OPTIONS (added after
# ours, so it can override them). Exits 77 when $CC cannot build and run
# a threaded program with -fsanitize=thread, 99 when it cannot start (no
# trac, no source tree, no temporary directory), 1 on any failure.
set -u
: "${TRAC:?}" "${srcdir:?}"
case $TRAC in /*) ;; *) TRAC=$(pwd)/$TRAC ;; esac
case $srcdir in /*) ;; *) srcdir=$(pwd)/$srcdir ;; esac
if [ "${TRAC_CHECK:-full}" = quick ]; then
	# distcheck's suite checks the tarball; make check ran this on the same sources
	echo "SKIP: TRAC_CHECK=quick (make distcheck): make check ran the runtime under ThreadSanitizer"
	exit 77
fi
CC=${CC:-cc}
OPENBLAS_LIBS=${OPENBLAS_LIBS--lopenblas}
PY=${PYTHON_NUMPY:-}
if [ ! -x "$TRAC" ] || [ ! -f "$srcdir/tests/rt_prog.c" ] || [ ! -f "$srcdir/tests/runtime.sh" ]; then
	echo "ERROR: no $TRAC, or $srcdir is not trac's source tree"
	exit 99
fi
. "$srcdir/tests/testlib.sh"
test_setup
skip() { echo "SKIP $1"; }

user_tsan=${TSAN_OPTIONS:-}
TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1${user_tsan:+:$user_tsan}"
OPENBLAS_NUM_THREADS=1
export TSAN_OPTIONS OPENBLAS_NUM_THREADS
tsan="$CC -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g -fsanitize=thread -pthread"

# ---- can $CC do it at all ---------------------------------------------------------
# a program with two threads, and one with a race TSan must see (else a
# silent TSan would pass everything below)
cat >probe.c <<'EOF'
#include <pthread.h>
static int x;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both;
static void *bump(void *arg)
{
	(void)arg;
	/* both threads running before either touches x, and many touches:
	 * with one increment each, TSan saw the race in about half the runs */
	pthread_barrier_wait(&both);
	for (int i = 0; i < 1000; i++) {
#ifndef RACE
		pthread_mutex_lock(&m);
#endif
		x++;
#ifndef RACE
		pthread_mutex_unlock(&m);
#endif
	}
	return NULL;
}
int main(void)
{
	pthread_t t;
	if (pthread_barrier_init(&both, NULL, 2) != 0 || pthread_create(&t, NULL, bump, NULL) != 0)
		return 1;
	bump(NULL);
	pthread_join(t, NULL);
	return x != 2000;
}
EOF
if ! $tsan probe.c -o probe >out 2>err; then
	echo "SKIP: $CC cannot build a program with -fsanitize=thread: $(grep -m1 . err)"
	exit 77
fi
if ! ./probe >out 2>err; then
	echo "SKIP: a program built by $CC with -fsanitize=thread does not run: $(grep -m1 . err)"
	exit 77
fi
$tsan -DRACE probe.c -o race >out 2>err && ./race >out 2>err
rc=$?
if [ "$rc" -eq 66 ] && grep -q 'WARNING: ThreadSanitizer: data race' err; then
	ok tsan-sees-a-race
else
	echo "  a program with a data race: exit status $rc (expected 66), no report in stderr"
	bad tsan-sees-a-race
fi

# tsan_report STATUS FILE: the first lines of the ThreadSanitizer
# report in FILE (a run's stderr), or of FILE.
tsan_report() {
	echo "  ThreadSanitizer report (exit status $1); its first lines:"
	if grep -q ThreadSanitizer "$2"; then
		sed -n '/ThreadSanitizer/,$p' "$2"
	else
		cat "$2"
	fi | head -40 | sed 's/^/  | /'
}

# ---- the runtime, rebuilt with TSan -----------------------------------------------
# No runtime file includes config.h; each one's #includes are its own
# directory's (trart.h, exec.h) and the system's. mpi.c is not part of
# libtrart: it is libtrart_mpi, built with MPI's flags (MPI_CFLAGS) where
# configure found MPI, for the ranks section below; nor is cuda.c
# (libtrart_cuda, CUDA's headers: ThreadSanitizer cannot instrument
# CUDA, and gpu_sim.c stands in for it here).
built=1 nsrc=0
for src in "$srcdir"/runtime/*.c; do
	case $(basename "$src") in mpi.c | cuda.c) continue ;; esac
	obj=rt-$(basename "$src" .c).o
	nsrc=$((nsrc + 1))
	if ! $tsan -I"$srcdir/runtime" -c "$src" -o "$obj" >out 2>err; then
		echo "  $CC could not compile $src:"
		bad "tsan-build-runtime"
		built=0
	fi
done
# a runtime directory for trac --runtime-dir: include/trart.h, lib/libtrart.a
mkdir -p rt/include rt/lib && cp "$srcdir/runtime/trart.h" rt/include/ || exit 99
if [ "$built" -eq 1 ] && ar rcs rt/lib/libtrart.a rt-*.o >out 2>err; then
	ok "tsan-build-runtime ($nsrc files)"
else
	[ "$built" -eq 1 ] && bad "tsan-build-runtime (ar)"
	echo "$pass passed, $fail failed"
	exit 1
fi
# shellcheck disable=SC2086 # OPENBLAS_LIBS is a list of flags
if $tsan -I"$srcdir/runtime" "$srcdir/tests/rt_prog.c" rt/lib/libtrart.a \
	$OPENBLAS_LIBS -lm -o rt_prog >out 2>err; then
	ok tsan-build-rt_prog
else
	bad tsan-build-rt_prog
fi

# ---- runtime.sh against the TSan rt_prog --------------------------------------------
# Reports go to files (rt-report.PID), to be shown whole: runtime.sh
# shows only a failed check's first lines of stderr.
if [ -x rt_prog ]; then
	TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:log_path=$tmp/rt-report${user_tsan:+:$user_tsan}" \
		RT_PROG=$tmp/rt_prog VALGRIND='' sh "$srcdir/tests/runtime.sh" >out 2>err
	rc=$?
	sed 's/^/  /' out
	reports=$(ls rt-report.* 2>/dev/null)
	for r in $reports; do
		tsan_report 66 "$r"
	done
	if [ "$rc" -eq 0 ] && [ -z "$reports" ] && ! grep -q ThreadSanitizer out err; then
		ok "runtime.sh ($(tail -n 1 out))"
	else
		echo "  runtime.sh: exit status $rc"
		bad runtime.sh
	fi
fi

# ---- generated programs: block task graphs -----------------------------------------
. "$srcdir/tests/programs.sh" # sizes, compare, manual

# judge LABEL STATUS DIR: one run's verdict from its exit status and its
# stderr (in err): no ThreadSanitizer report, status 0, and its outputs in
# DIR equal the interpreter's want-$name; DIR is removed.
judge() {
	if [ "$2" -eq 66 ] || grep -q ThreadSanitizer err; then
		tsan_report "$2" err
		: >err
		bad "$1 (ThreadSanitizer)"
	elif [ "$2" -ne 0 ]; then
		echo "  exit status $2"
		bad "$1"
	elif [ -n "$PY" ] && ! compare "$3" "want-$name"; then
		bad "$1 (differs from the interpreter)"
	else
		ok "$1"
	fi
	rm -rf "$3"
}

# variant NAME PROG DEFS FLAGS: `trac --sanitize=thread` with FLAGS and
# the TSan runtime, run with 1, 2, 3 and 8 threads, each compared with
# the interpreter's want-$name.
variant() {
	vname=$1 vprog=$2 vdefs=$3 vflags=$4
	# shellcheck disable=SC2086
	if ! "$TRAC" "$vprog" $vdefs $vflags --sanitize=thread --runtime-dir="$tmp/rt" \
		-o "$vname" >out 2>err; then
		bad "$vname${vflags:+ $vflags} (trac --sanitize=thread)"
		return
	fi
	for t in 1 2 3 8; do
		d=got-$vname-$t
		"./$vname" --random=3 --threads "$t" --output-dir "$d" >out 2>err
		judge "$vname${vflags:+ $vflags} threads=$t" $? "$d"
	done
}

# the LLVM back end's kernels are instrumented (under --backend=c too:
# --emit=llvm is the llvm stage whatever the back end)
if "$TRAC" --backend=llvm --version >/dev/null 2>&1; then
	if "$TRAC" "$srcdir/samples/mlp.tra" --sanitize=thread --emit=llvm >out 2>err &&
		grep -q '@__tsan_read' out && grep -q '@__tsan_func_entry' out; then
		ok "llvm IR instrumented (--emit=llvm --sanitize=thread)"
	else
		bad "llvm IR instrumented (--emit=llvm --sanitize=thread)"
	fi
fi

[ -n "$PY" ] || skip "comparisons with the interpreter (no Python 3 with numpy): the TSan runs only"
# (TSAN_SWEEP=smoke, tests/c/tsan.sh's: the samples alone)
benches=$(ls "$srcdir"/bench/*.tra 2>/dev/null)
[ "${TSAN_SWEEP:-full}" = smoke ] && benches=""
for prog in "$srcdir"/samples/*.tra $benches; do
	[ -f "$prog" ] || continue
	name=$(basename "$prog" .tra)
	# (a trac that cannot read it would leave the sizes at full size)
	"$TRAC" "$prog" --emit=tra >out 2>err || { bad "$name (--emit=tra)"; continue; }
	defs=$(sizes "$prog")
	# a program whose first line says "keep sizes" needs its own sizes
	head -n 1 "$prog" | grep -q 'keep sizes' && defs=""
	if [ -n "$PY" ]; then
		# shellcheck disable=SC2086
		"$TRAC" "$prog" $defs --interpret --random=3 --output-dir "want-$name" >out 2>err ||
			{ bad "$name (interpret)"; continue; }
	fi
	# a bench program, the samples' kernels at other shapes: the manual
	# partition alone (split reductions, the most tasks at once)
	case $prog in
	*/bench/*) ;;
	*)
		variant "$name" "$prog" "$defs" ""
		variant "$name-t" "$prog" "$defs" "--devices=3"
		;;
	esac
	variant "$name-m" "$prog" "$defs" "--devices=2 --partition=$(manual "$prog" "$defs")"
done

# ---- memory plans under shuffled orders ----------------------------------------------
# Programs compiled at the smallest --memory budget that works (offloads,
# reloads and reused regions everywhere) run with TRART_SHUFFLE=SEED: the
# ready tasks in a random order per seed instead of by priority, so only
# the memgraph's edges keep buffers that share a region apart. Every
# order must give the interpreter's results, with no ThreadSanitizer
# report.
for prog in "$srcdir/samples/mlp.tra" "$srcdir/samples/attention.tra" "$srcdir/samples/layernorm.tra" \
	"$srcdir/samples/chain.tra" "$srcdir/samples/softmax.tra"; do
	name=$(basename "$prog" .tra)
	defs=$(sizes "$prog")
	least=$(least_budget "$prog" "$defs")
	[ -n "$least" ] || { bad "$name: no smallest budget"; continue; }
	# shellcheck disable=SC2086
	if ! "$TRAC" "$prog" $defs --devices=3 --memory="$least" --sanitize=thread --runtime-dir="$tmp/rt" \
		-o "shuf-$name" >out 2>err; then
		bad "$name --memory=$least (trac --sanitize=thread)"
		continue
	fi
	if [ -n "$PY" ] && [ ! -d "want-$name" ]; then
		# shellcheck disable=SC2086
		"$TRAC" "$prog" $defs --interpret --random=3 --output-dir "want-$name" >out 2>err
	fi
	for seed in 1 2 3 4 5 6; do
		t=$((seed % 3 + 1))
		d=got-shuf-$name
		TRART_SHUFFLE=$seed "./shuf-$name" --random=3 --threads "$t" --spill-dir "$tmp" --output-dir "$d" >out 2>err
		judge "$name --memory=$least TRART_SHUFFLE=$seed threads=$t" $? "$d"
	done
done

# ---- simulated GPUs: the GPU loop beside the streams' threads ------------------------
# Programs compiled with --backend=cuda-sim --gpus=N (the C back end's
# kernels on the simulated GPUs' stream threads, runtime/gpu_sim.c) run
# with a random delay before every stream operation (TRART_GPU_SIM
# jitter) and the ready tasks in a random order (TRART_SHUFFLE): the
# calling thread submits kernels and copies and polls their marks while
# each stream's thread runs them; only the marks order a block's writer,
# its copies and its readers on other GPUs. Under tests/c/tsan.sh
# (TRAC_BACKEND_SHIM=c) this and the ranks section below are skipped:
# they do not depend on the back end, and ran under the default one.
if [ "${TRAC_BACKEND_SHIM:-}" = c ]; then
	skip "simulated GPUs and MPI ranks: tests/tsan.sh ran them"
else
	for spec in "samples/mlp.tra:2" "samples/attention.tra:4" "samples/layernorm.tra:3" \
		"samples/conv.tra:2" "bench/w6_bmm.tra:4" "samples/transformer.tra:2:least" "samples/softmax.tra:4:least"; do
		prog=$srcdir/${spec%%:*} n=${spec#*:} budget=""
		case $n in *:least) n=${n%:least} budget=least ;; esac
		name=$(basename "$prog" .tra)
		defs=$(sizes "$prog")
		if [ "$budget" = least ]; then
			# shellcheck disable=SC2086 # the smallest budget per GPU: offloads and reloads
			budget=$("$TRAC" "$prog" $defs --backend=cuda-sim --gpus="$n" --placer=roundrobin --memory=1 \
				--emit=memgraph 2>&1 >/dev/null | sed -n 's/.*the smallest budget that works is \([0-9]*\) bytes.*/\1/p')
			[ -n "$budget" ] || { bad "$name --gpus=$n: no smallest budget"; continue; }
			budget=--memory=$budget
		fi
		if [ -n "$PY" ] && [ ! -d "want-$name" ]; then
			# shellcheck disable=SC2086
			"$TRAC" "$prog" $defs --interpret --random=3 --output-dir "want-$name" >out 2>err
		fi
		# shellcheck disable=SC2086
		if ! "$TRAC" "$prog" $defs $budget --backend=cuda-sim --gpus="$n" --placer=roundrobin --sanitize=thread \
			--runtime-dir="$tmp/rt" -o "gpu-$name" >out 2>err; then
			bad "$name --gpus=$n $budget (trac --sanitize=thread)"
			continue
		fi
		for seed in 1 2; do
			d=got-gpu-$name
			TRART_GPU_SIM=jitter=$seed TRART_SHUFFLE=$seed "./gpu-$name" --random=3 --output-dir "$d" >out 2>err
			judge "$name --backend=cuda-sim --gpus=$n $budget jitter=$seed TRART_SHUFFLE=$seed" $? "$d"
		done
	done
fi

# ---- MPI ranks: the comm thread beside the workers ----------------------------------
# Where configure found MPI (MPIRUN and MPI_CFLAGS set), mpi.c is built
# with TSan into rt/lib/libtrart_mpi.a and programs compiled with
# --ranks=R --devices=2 run under mpirun -np R: each rank's comm thread
# posts receives, tests sends and publishes arrived blocks while its two
# workers run tasks. Open MPI itself is not instrumented: its shared
# memory transport alone is used (--mca btl self,vader; the TCP one takes
# two locks in both orders while it connects, which TSan reports), and
# its unlock of a mutex it did not lock at MPI_Finalize is suppressed
# (mutex:libmpi.so). Every report from our code still fails.
if [ "${TRAC_BACKEND_SHIM:-}" = c ]; then
	: # (said above)
elif [ -n "${MPIRUN:-}" ] && [ -x "$MPIRUN" ] && [ -n "${MPI_CFLAGS+set}" ]; then
	# shellcheck disable=SC2086 # MPI_CFLAGS is a list of flags
	if $tsan $MPI_CFLAGS -I"$srcdir/runtime" -c "$srcdir/runtime/mpi.c" -o mpi.o >out 2>err &&
		ar rcs rt/lib/libtrart_mpi.a mpi.o >out 2>err; then
		ok "tsan-build-runtime (mpi.c)"
		echo 'mutex:libmpi.so' >mpi.supp
		cp "$srcdir/tests/golden/swap.tra" swap.tra
		"$TRAC" swap.tra --interpret --random=3 --output-dir want-swap >out 2>err
		for spec in "samples/mlp.tra:greedy" "samples/attention.tra:critical-path" \
			"samples/layernorm.tra:roundrobin" "bench/w6_bmm.tra:lshs" "swap:roundrobin"; do
			prog=$srcdir/${spec%%:*} placer=${spec#*:}
			name=$(basename "$prog" .tra)
			defs=$(sizes "$prog") flags=""
			if [ "$name" = swap ]; then
				prog=swap.tra defs="" flags="--partition=B:i=2 --partition=C:i=2"
			elif [ -n "$PY" ] && [ ! -d "want-$name" ]; then
				# shellcheck disable=SC2086
				"$TRAC" "$prog" $defs --interpret --random=3 --output-dir "want-$name" >out 2>err
			fi
			for r in 2 3; do
				label="$name --ranks=$r --placer=$placer"
				# shellcheck disable=SC2086
				if ! "$TRAC" "$prog" $defs $flags --ranks=$r --devices=2 --placer="$placer" \
					--sanitize=thread --runtime-dir="$tmp/rt" -o "rk-$name" >out 2>err; then
					bad "$label (trac --sanitize=thread)"
					continue
				fi
				d=got-rk-$name
				TSAN_OPTIONS="$TSAN_OPTIONS:suppressions=$tmp/mpi.supp" timeout 300 "$MPIRUN" \
					--oversubscribe --allow-run-as-root --mca btl self,vader -x TSAN_OPTIONS \
					-x OPENBLAS_NUM_THREADS -np "$r" "./rk-$name" --random=3 --output-dir "$d" >out 2>err
				judge "$label" $? "$d"
			done
		done
	else
		bad "tsan-build-runtime (mpi.c)"
	fi
else
	skip "MPI ranks (configure found no MPI)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] || exit 1
