#!/bin/sh
# cuda.sh: the CUDA back end's kernels (codegen/cuda.c, --emit=cuda)
# compile, without a GPU. Every samples/*.tra and bench/*.tra, at
# programs.sh's small sizes, is printed with --emit=cuda as block tasks
# (--devices=2 with programs.sh's manual partition of the last node:
# uneven blocks, split reductions, their aggregations, split GEMMs into
# partial blocks; and for the samples, the default partition and
# --devices=3) and compiled by nvcc for sm_90 with every warning an
# error; its table has a launcher or NULL for each of the plan's tasks.
# Two samples are built whole with --backend=cuda --gpus=2 (nvcc, then
# linked with libtrart_cuda, cuBLAS and cudart); without a GPU they exit
# 1 saying there is none, and write nothing. --cuda-arch with two
# architectures makes a fat binary, --tf32 reaches main's table; the
# combinations trac refuses. --emit=cuda with --node-kernels is
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

# cu LABEL FILE PROG DEFS FLAGS: --emit=cuda into FILE.cu, queued for
# nvcc_queue to compile to FILE.o; the table's entries equal the plan's
# tasks.
cu() {
	# shellcheck disable=SC2086 # DEFS and FLAGS are lists of flags
	if ! "$TRAC" "$3" $4 $5 --emit=cuda >"$2.cu" 2>err; then
		bad "$1 (trac --emit=cuda)"
		return 1
	fi
	# shellcheck disable=SC2086
	tasks=$("$TRAC" "$3" $4 $5 --emit=taskgraph | sed -n 's/^# taskgraph tasks=\([0-9]*\) .*/\1/p')
	entries=$(sed -n '/^extern "C" const void \*const trac_cuda_tasks/,/^};/p' "$2.cu" | grep -c '^	')
	if [ "$tasks" != "$entries" ]; then
		echo "  $tasks tasks, $entries entries in trac_cuda_tasks" >err
		bad "$1 (a launcher per task)"
		return 1
	fi
	printf '%s\t%s\n' "$2" "$1" >>queue
}

# nvcc_queue: every file cu queued, compiled by nvcc 8 to a call (its
# start-up is 40% of a file's time); a call that fails compiles its files
# one by one, to name the one that does not compile.
nvcc_one() {
	"$NVCC" -arch=sm_90 --Werror all-warnings -I"$srcdir/runtime" -c "$@" >out 2>err
}
nvcc_queue() {
	[ -s queue ] || return 0
	split -l 8 queue batch.
	for b in batch.*; do
		# shellcheck disable=SC2046 # the files, one word each
		if nvcc_one $(cut -f1 "$b" | sed 's/$/.cu/'); then
			while IFS="$(printf '\t')" read -r file label; do
				[ -s "$file.o" ] && ok "$label" || bad "$label (nvcc wrote no $file.o)"
			done <"$b"
			continue
		fi
		while IFS="$(printf '\t')" read -r file label; do
			if nvcc_one "$file.cu" -o "$file.o"; then
				ok "$label"
			else
				head -n 20 err >err.head
				mv err.head err
				bad "$label (nvcc)"
			fi
		done <"$b"
	done
	rm -f queue batch.*
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
nvcc_queue

# Whole programs: trac --backend=cuda compiles the C and the CUDA (nvcc),
# links libtrart_cuda, cuBLAS and cudart. Without a GPU the program
# says so, exit 1, and writes no output; on a GPU, tests/gpu.sh runs
# them.
gpu=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU' && gpu=1
for name in mlp attention; do
	# shellcheck disable=SC2046 # sizes prints -D flags
	if ! "$TRAC" "$srcdir/samples/$name.tra" $(sizes "$srcdir/samples/$name.tra") --backend=cuda --gpus=2 \
		-o "prog-$name" >out 2>err; then
		bad "$name: trac --backend=cuda --gpus=2"
		continue
	fi
	ok "$name: trac --backend=cuda --gpus=2 builds it"
	[ "$gpu" -eq 1 ] && continue
	expect "$name without a GPU" 1 "error: no CUDA GPU: cudaGetDeviceCount says" \
		"./prog-$name" --random --output-dir "out-$name"
	[ -e "out-$name" ] && bad "$name without a GPU: it wrote an output"
done
# a fat binary: a cubin per architecture (nvcc names each in the file)
printf 'size N = 8\ninput A[N, N]\nB[i, j] = 3 * A[i, j]\noutput B\n' >three.tra
if "$TRAC" three.tra --backend=cuda --cuda-arch=sm_80,sm_90 -v -o fat >out 2>err; then
	grep -q 'nvcc .*-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=\[sm_90,compute_90\]' err ||
		bad "--cuda-arch=sm_80,sm_90: nvcc's -gencode flags: $(grep nvcc err)"
	if strings fat | grep -q -- '-arch sm_80 ' && strings fat | grep -q -- '-arch sm_90 '; then
		ok "--cuda-arch=sm_80,sm_90: a cubin for each"
	else
		bad "--cuda-arch=sm_80,sm_90: the binary lacks a cubin"
	fi
else
	bad "--cuda-arch=sm_80,sm_90: trac"
fi
# --tf32 reaches the runtime through main; the default is f32
"$TRAC" three.tra --backend=cuda --tf32 --emit=c | grep -q 'trac_cuda = {trac_cuda_tasks, [0-9]*, true}' &&
	"$TRAC" three.tra --backend=cuda --emit=c | grep -q 'trac_cuda = {trac_cuda_tasks, [0-9]*, false}' &&
	ok "--tf32 in main's table, off by default" || bad "--tf32 in main's table"
expect "--backend=cuda -c refused" 2 '--gpus makes an executable: drop -c' \
	"$TRAC" three.tra --backend=cuda -c -o x.o
expect "--backend=cuda --ranks refused" 2 '--gpus and --ranks cannot be combined yet' \
	"$TRAC" three.tra --backend=cuda --ranks=2 -o y

expect "--emit=cuda --node-kernels refused" 2 "renders block tasks: drop --node-kernels" \
	"$TRAC" "$srcdir/samples/mlp.tra" --emit=cuda --node-kernels

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] || exit 1
