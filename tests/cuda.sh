#!/bin/sh
# cuda.sh: the CUDA back end's kernels (codegen/cuda.c, --emit=cuda)
# compile, without a GPU. Every samples/*.tra and bench/*.tra, at
# programs.sh's small sizes, is printed with --emit=cuda as block tasks
# (--devices=2 with programs.sh's manual partition of the last node:
# uneven blocks, split reductions, their aggregations, split GEMMs into
# partial blocks; and for the samples, the default partition and
# --devices=3) and compiled by nvcc for sm_90 with every warning an
# error; its table has a launcher or NULL for each of the plan's tasks.
# Two programs are linked with cuBLAS and the CUDA runtime (their calls'
# names and arguments resolve). --emit=cuda with --node-kernels is
# refused. Whether the kernels compute the interpreter's results needs
# a GPU: tests/gpu.sh, when one is lent.
# CUDA_SWEEP=smoke (distcheck's): the samples' default partition alone.
# Environment: TRAC, srcdir, NVCC (SKIP without it).
set -u
: "${TRAC:?}" "${srcdir:?}"
if [ -z "${NVCC:-}" ] || ! [ -x "$NVCC" ]; then
	echo "SKIP: no nvcc (configure found no CUDA toolkit)"
	exit 77
fi
. "$srcdir/tests/testlib.sh"
test_setup
. "$srcdir/tests/programs.sh"
sweep=${CUDA_SWEEP:-quick}

# cu LABEL FILE PROG DEFS FLAGS: --emit=cuda into FILE.cu, compiled to
# FILE.o; the table's entries equal the plan's tasks.
cu() {
	# shellcheck disable=SC2086 # DEFS and FLAGS are lists of flags
	if ! "$TRAC" "$3" $4 $5 --emit=cuda >"$2.cu" 2>err; then
		bad "$1 (trac --emit=cuda)"
		return 1
	fi
	# shellcheck disable=SC2086
	tasks=$("$TRAC" "$3" $4 $5 --emit=taskgraph | sed -n 's/^# taskgraph tasks=\([0-9]*\) .*/\1/p')
	entries=$(sed -n '/^extern "C" const TracCudaFn trac_cuda_tasks/,/^};/p' "$2.cu" | grep -c '^	')
	if [ "$tasks" != "$entries" ]; then
		echo "  $tasks tasks, $entries entries in trac_cuda_tasks" >err
		bad "$1 (a launcher per task)"
		return 1
	fi
	if ! "$NVCC" -arch=sm_90 --Werror all-warnings -c "$2.cu" -o "$2.o" >out 2>err; then
		head -n 20 err >err.head
		mv err.head err
		bad "$1 (nvcc)"
		return 1
	fi
	ok "$1"
}

for prog in "$srcdir"/samples/*.tra "$srcdir"/bench/*.tra; do
	[ -f "$prog" ] || continue
	name=$(basename "$prog" .tra)
	sample=0
	case $prog in "$srcdir"/samples/*) sample=1 ;; esac
	[ "$sweep" = smoke ] && [ "$sample" -eq 0 ] && continue
	defs=$(sizes "$prog")
	head -n 1 "$prog" | grep -q 'keep sizes' && defs=""
	[ "$sample" -eq 1 ] && cu "$name" "$name" "$prog" "$defs" ""
	[ "$sweep" = smoke ] && continue
	cu "$name --devices=2 --partition=(manual)" "$name-m" "$prog" "$defs" \
		"--devices=2 --partition=$(manual "$prog" "$defs")"
	[ "$sample" -eq 1 ] && cu "$name --devices=3" "$name-3" "$prog" "$defs" "--devices=3"
done

# linked: cuBLAS's and the runtime's symbols, as the kernels call them
cat >main.cu <<'EOF'
#include <stdio.h>
typedef const char *(*TracCudaFn)(const void *);
extern "C" const int trac_cuda_ntasks;
extern "C" const TracCudaFn trac_cuda_tasks[];
int main(void)
{
	int n = 0;
	for (int t = 0; t < trac_cuda_ntasks; t++)
		n += trac_cuda_tasks[t] != NULL;
	printf("%d\n", n);
	return 0;
}
EOF
for name in mlp attention; do
	[ -f "$name.o" ] || { bad "$name linked with cuBLAS (no $name.o)"; continue; }
	if "$NVCC" -arch=sm_90 main.cu "$name.o" -lcublas -o "linked-$name" >out 2>err; then
		ok "$name linked with cuBLAS"
	else
		bad "$name linked with cuBLAS"
	fi
done

expect "--emit=cuda --node-kernels refused" 2 "renders block tasks: drop --node-kernels" \
	"$TRAC" "$srcdir/samples/mlp.tra" --emit=cuda --node-kernels

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] || exit 1
