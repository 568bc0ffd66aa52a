#!/bin/sh
# sched.sh: the block task executor (runtime/sched.c) through
# tests/sched_stress: the random-graph checks at full size (10,000+
# tasks, 50 runs per configuration); malformed graphs (a cycle, npred not
# matching the succ lists) end the program with a message instead of
# hanging; a smaller run under valgrind for leaks and memory errors; and,
# where the compiler has ThreadSanitizer, the executor's sources and the
# stress test rebuilt with -fsanitize=thread and run with
# halt_on_error=1 (OpenBLAS replaced by a stub, so only our code runs).
# Environment: SCHED_STRESS (the built sched_stress; default
# tests/sched_stress), srcdir (the source tree), CC (the compiler, for
# the TSan build), VALGRIND (a valgrind to use; empty: none; unset:
# valgrind on PATH). Exits 77 only when nothing at all could run.
set -u
SS=${SCHED_STRESS:-tests/sched_stress}
srcdir=${srcdir:-.}
case $SS in /*) ;; *) SS=$(pwd)/$SS ;; esac
case $srcdir in /*) ;; *) srcdir=$(pwd)/$srcdir ;; esac
CC=${CC:-cc}
VG=${VALGRIND-$(command -v valgrind 2>/dev/null)}
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99
pass=0 fail=0 ran=0

ok() { pass=$((pass + 1)); ran=1; echo "PASS $1"; }
bad() { fail=$((fail + 1)); ran=1; echo "FAIL $1"; [ -s err ] && sed 's/^/  stderr: /' err | head -5; }
skip() { echo "SKIP $1"; }

# stress NAME CMD...: CMD runs the checks and ends "N passed, 0 failed".
stress() {
	name=$1
	shift
	"$@" >out 2>err
	rc=$?
	sed 's/^/  /' out
	if [ "$rc" -eq 0 ] && grep -Eq '^[1-9][0-9]* passed, 0 failed$' out; then
		ok "$name"
	else
		echo "  exit status $rc"
		bad "$name"
	fi
}

# aborts NAME PATTERN CMD...: CMD fails (does not hang: a timeout is a
# failure) with PATTERN (grep -E) in stderr.
aborts() {
	name=$1 pat=$2
	shift 2
	if command -v timeout >/dev/null 2>&1; then
		timeout 60 "$@" >out 2>err
	else
		"$@" >out 2>err
	fi
	rc=$?
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
		echo "  exit status $rc (0: ran to the end; 124: hung)"
		bad "$name"
	elif ! grep -Eq -- "$pat" err; then
		echo "  stderr lacks /$pat/"
		bad "$name"
	else
		ok "$name"
	fi
}

# ---- the checks, at full size ----------------------------------------------------
if [ -x "$SS" ]; then
	stress stress "$SS"
	aborts cycle "^trart: task graph: stuck with 1 of 64 tasks never released: the graph has a cycle$" \
		"$SS" --cycle
	aborts cycle-names-task "^trart: note: task 'malformed' \\(#[0-9]+\\) still waits for 1 of its" \
		"$SS" --cycle
	aborts bad-npred "^trart: task graph: task 'malformed' \\(#[0-9]+\\): npred is [0-9]+, but [0-9]+ succ entries name it$" \
		"$SS" --bad-npred
else
	skip "sched_stress checks (no $SS)"
fi

# ---- valgrind --------------------------------------------------------------------
vg_why="no valgrind"
if [ -n "$VG" ] && [ -x "$SS" ]; then
	"$VG" -q --error-exitcode=99 "$SS" --size 100 --reps 1 >out 2>err
	rc=$?
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 99 ]; then
		vg_why="$VG cannot run sched_stress: $(grep -v '^###' err | grep -m1 .)"
		VG=
	fi
elif [ -n "$VG" ]; then
	vg_why="no $SS"
	VG=
fi
if [ -n "$VG" ]; then
	stress valgrind "$VG" -q --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect "$SS" --size 400 --reps 2
else
	skip "valgrind checks ($vg_why)"
fi

# ---- ThreadSanitizer ----------------------------------------------------------------
cat >stub.c <<'EOF'
/* OpenBLAS's thread count, without OpenBLAS (not instrumented). */
static int stub_threads = 1;
void openblas_set_num_threads(int n) { stub_threads = n; }
int openblas_get_num_threads(void) { return stub_threads; }
EOF
echo 'int main(void) { return 0; }' >probe.c
tsan="$CC -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g -fsanitize=thread -pthread"
if $tsan probe.c -o probe >/dev/null 2>&1 && ./probe >/dev/null 2>&1; then
	if $tsan -I"$srcdir/runtime" "$srcdir/runtime/sched.c" "$srcdir/runtime/exec.c" \
		"$srcdir/runtime/trace.c" "$srcdir/runtime/pool.c" "$srcdir/runtime/files.c" "$srcdir/runtime/spill.c" "$srcdir/runtime/mapped.c" \
		"$srcdir/runtime/gpu.c" "$srcdir/runtime/gpu_sim.c" \
		"$srcdir/tests/sched_stress.c" stub.c -lm \
		-o sched_tsan >out 2>err; then
		ok tsan-build
		TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}" \
			stress tsan ./sched_tsan --size 1500 --reps 4
	else
		bad tsan-build
	fi
else
	skip "ThreadSanitizer checks ($CC cannot build and run with -fsanitize=thread)"
fi

echo "$pass passed, $fail failed"
[ "$ran" -eq 1 ] || exit 77
[ "$fail" -eq 0 ]
