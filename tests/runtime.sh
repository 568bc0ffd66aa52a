#!/bin/sh
# runtime.sh: the command line every generated program has (libtrart's
# trart_main), its executor and worker pool, through tests/rt_prog, a
# hand-written stand-in for a generated program (see rt_prog.c):
# --help/--version; outputs and where they go; results against NumPy and
# trart_random.py; the same bytes for the same seed and for any thread
# count; data errors (exit 1, one line naming the tensor, no file left
# behind: a failed run changes no file, not even one it would overwrite);
# usage errors (exit 2), two outputs in one file among them; --time in
# constant memory, --trace and --stats; a planned graph's arena and
# spill file (rt_prog as rt_spill: the same bytes on any thread count,
# the bytes moved, --spill-dir, no spill file left behind, a spill
# directory that cannot take one); inputs and outputs out of core
# (rt_prog as rt_ooc: mapped files, what the memory tasks read and
# wrote, fallbacks, no staged file left by an error, a signal or a full
# disk); out-of-memory messages from programs
# trac compiles with huge sizes; a block-task program's run without
# OpenBLAS's threads; trart.h from C++; and a valgrind run.
# Environment: RT_PROG (the built rt_prog), srcdir (the source tree, may
# be read-only), PYTHON_NUMPY (may be empty: the NumPy checks SKIP),
# VALGRIND (a valgrind to use; empty: none; unset: valgrind on PATH),
# TRAC and TRART_LIBS (may be unset: the checks that compile SKIP), CXX
# (a C++ compiler; unset: c++ on PATH).
set -u
: "${RT_PROG:?}" "${srcdir:?}"
case $RT_PROG in /*) ;; *) RT_PROG=$(pwd)/$RT_PROG ;; esac
case $srcdir in /*) ;; *) srcdir=$(pwd)/$srcdir ;; esac
PY=${PYTHON_NUMPY:-}
VG=${VALGRIND-$(command -v valgrind 2>/dev/null)}
. "$srcdir/tests/testlib.sh"
test_setup

# absent NAME PATH...: nothing is left at any PATH.
absent() {
	name=$1
	shift
	for f in "$@"; do
		if [ -e "$f" ]; then
			echo "  $f exists"
			bad "$name"
			return
		fi
	done
	ok "$name"
}

# one_line NAME: stderr is exactly one line.
one_line() { check "$1" test "$(wc -l <err)" -eq 1; }

# data_error NAME PATTERN ARGS...: exit 1, one line "rt_prog: error: "
# matching PATTERN that never shows a staged file's name, and not even
# the --output-dir it is given is left behind.
data_error() {
	name=$1 pat=$2
	shift 2
	expect "$name" 1 "^rt_prog: error: $pat" "$RT_PROG" --output-dir "d-$name" "$@"
	one_line "$name-one-line"
	check "$name-user-path" test -z "$(grep -E '\.(stage|tmp)[0-9A-Za-z]' err)"
	absent "$name-no-output-dir" "d-$name"
}

# usage_error NAME PATTERN ARGS...: exit 2, the message and a hint, and
# nothing created.
usage_error() {
	name=$1 pat=$2
	shift 2
	expect "$name" 2 "^rt_prog: error: $pat" "$RT_PROG" --output-dir "u-$name" "$@"
	if grep -q "^try 'rt_prog --help'" err; then ok "$name-hint"; else bad "$name-hint"; fi
	absent "$name-nothing-created" "u-$name"
}

# ---- --help and --version ---------------------------------------------------
expect help 0 "" "$RT_PROG" --help
check help-usage grep -q '^usage: rt_prog' out
check help-inputs grep -q '^  X\[5, 3\] f32$' out
check help-scalar grep -q '^  s f32 (scalar)$' out
check help-outputs grep -q '^  Y\[5\] f32$' out
check help-inout grep -q '^  Z\[4\] f64 (also an output)$' out
check help-no-temps test -z "$(grep '^  T' out)"
check help-kernels grep -q 'one kernel per node' out
# every long option the program accepts is in its --help, and in trac(1)'s
# synopsis of the generated program
sed -n '/^\.SH THE GENERATED PROGRAM/,/^\.PP/p' "$srcdir/man/trac.1" | tr -d '\\' >synopsis
for opt in input output output-dir random threads repeat time trace stats no-steal help version; do
	check "help-lists-$opt" grep -q "^  --$opt[ =[]" out
	check "man-synopsis-lists-$opt" grep -q -- "--$opt\b" synopsis
done
check help-no-steal-kernels grep -q '^  --no-steal .*no effect' out
check help-lists-spill-dir grep -q '^  --spill-dir DIR ' out
expect version 0 "" "$RT_PROG" --version
check version-text grep -Eq '^rt_prog \(trac [^ )]+\)$' out

# ---- runs and where outputs go ---------------------------------------------
expect random-run 0 "" "$RT_PROG" --random --output-dir r0/sub/dir
check random-run-quiet test ! -s err
check random-run-outputs test -f r0/sub/dir/Y.npy -a -f r0/sub/dir/Z.npy
absent random-run-no-temp r0/sub/dir/T.npy r0/sub/dir/X.npy
# shellcheck disable=SC2016 # $1 is expanded by the inner sh
expect default-dir 0 "" sh -c 'mkdir -p cwd && cd cwd && "$1" --random' sh "$RT_PROG"
check default-dir-outputs test -f cwd/Y.npy -a -f cwd/Z.npy
expect default-seed 0 "" "$RT_PROG" --random=0 --output-dir r0b
check default-seed-is-0 cmp -s r0/sub/dir/Y.npy r0b/Y.npy
expect seed-a 0 "" "$RT_PROG" --random=5 --output-dir s1
expect seed-b 0 "" "$RT_PROG" --random=5 --output-dir s2
check same-seed-same-bytes cmp -s s1/Y.npy s2/Y.npy
check same-seed-same-bytes-inout cmp -s s1/Z.npy s2/Z.npy
expect seed-c 0 "" "$RT_PROG" --random=6 --output-dir s3
check other-seed-other-bytes test -n "$(cmp s1/Y.npy s3/Y.npy)"
expect output-file 0 "" "$RT_PROG" --random=5 --output Y=named.npy --output-dir od
check output-file-written cmp -s named.npy s1/Y.npy
absent output-file-not-in-dir od/Y.npy
check output-file-others-in-dir cmp -s od/Z.npy s1/Z.npy
expect spelled-with-equals 0 "" "$RT_PROG" --random=5 --output-dir=eq --threads=2 --repeat=2
check spelled-with-equals-same cmp -s eq/Y.npy s1/Y.npy
expect inout-read 0 "" "$RT_PROG" --random=9 --input Z=s1/Z.npy --output-dir io
check inout-passed-through cmp -s io/Z.npy s1/Z.npy
cp s1/Z.npy zz.npy
expect inout-same-file 0 "" "$RT_PROG" --random=9 --input Z=zz.npy --output Z=zz.npy --output-dir io2
check inout-same-file-unchanged cmp -s zz.npy s1/Z.npy
# npy_f32 FILE SHAPE DATA: a version 1.0 .npy file of '<f4' with the
# shape text SHAPE ("(1,)") and the bytes DATA (printf escapes).
npy_f32() {
	dict="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
	pad=$((63 - (10 + ${#dict}) % 64))
	# shellcheck disable=SC2059 # the formats are built on purpose
	{
		printf '\223NUMPY\001\000'
		printf "\\$(printf %03o $((${#dict} + pad + 1)))\\000"
		printf "%s%${pad}s\n" "$dict" ""
		printf "$3"
	} >"$1"
}
# A scalar input takes a 0-d array or a one-element (1,), alike.
npy_f32 s0.npy '()' '\000\000\340\077'   # 1.75
npy_f32 s1.npy '(1,)' '\000\000\340\077'
expect scalar-0d 0 "" "$RT_PROG" --random=4 --input s=s0.npy --output-dir sc0
expect scalar-1 0 "" "$RT_PROG" --random=4 --input s=s1.npy --output-dir sc1
check scalar-1-same-result cmp -s sc0/Y.npy sc1/Y.npy
check scalar-not-random test -n "$(cmp sc0/Y.npy s1/Y.npy 2>&1)"
for t in 1 2 3 8; do
	expect "threads-$t" 0 "" "$RT_PROG" --random=3 --threads "$t" --output-dir "th$t"
	check "threads-$t-same-bytes" cmp -s "th$t/Y.npy" th1/Y.npy
done
expect threads-default 0 "" "$RT_PROG" --random=3 --output-dir thd
check threads-default-same-bytes cmp -s thd/Y.npy th1/Y.npy
expect repeat-same-bytes-run 0 "" "$RT_PROG" --random=3 --threads 3 --repeat 50 --output-dir rp
check repeat-same-bytes cmp -s rp/Y.npy th1/Y.npy

# ---- data errors: exit 1, one line, nothing written --------------------------
data_error missing-input "input X is missing: give --input X=FILE\\.npy or --random$"
data_error missing-some "input X is missing" --input Z=s1/Z.npy
data_error wrong-shape "input X: s1/Y\\.npy: shape \\(5,\\) does not match the declared \\(5, 3\\)$" \
	--random --input X=s1/Y.npy
data_error wrong-dtype "input X: s1/Z\\.npy: dtype '<f8' does not match the declared '<f4' \\(f32\\); convert the array with \\.astype\\(np\\.float32\\)$" \
	--random --input X=s1/Z.npy
size=$(wc -c <s1/Z.npy)
head -c $((size - 3)) s1/Z.npy >trunc-data.npy
head -c 40 s1/Z.npy >trunc-header.npy
data_error truncated-data "input Z: trunc-data\\.npy: truncated" --random --input Z=trunc-data.npy
data_error truncated-header "input Z: trunc-header\\.npy: truncated" --random --input Z=trunc-header.npy
printf 'this is not a .npy file at all\n' >garbage.npy
data_error garbage-header "input Z: garbage\\.npy: " --random --input Z=garbage.npy
data_error no-such-file "input X: nope\\.npy: cannot open" --random --input X=nope.npy
data_error unwritable-output "output Y: nodir/sub/Y\\.npy: " --random --output Y=nodir/sub/Y.npy
absent unwritable-output-nothing nodir
# Y is written before Z fails: the rollback removes it, and no temporary stays.
data_error rollback "output Z: nodir/Z\\.npy: cannot create: No such file or directory$" \
	--random --output Z=nodir/Z.npy
data_error trace-rollback "trace: nodir/t\\.json: cannot create: " --random --trace nodir/t.json
# A failed run removes the directories --output-dir created, and only those.
mkdir -p had
expect made-dirs-removed 1 "output Z: nodir/Z\\.npy: " "$RT_PROG" --random \
	--output-dir had/new/sub --output Z=nodir/Z.npy
absent made-dirs-removed-gone had/new
check made-dirs-removed-keeps-old test -d had
# A write that fails part way (a file size limit, as a full disk would)
# names the user's path, not the staged copy's, and leaves nothing.
# (The limit would stop the message too, were stderr a file: a pipe.)
{ (trap '' XFSZ; ulimit -f 0; exec "$RT_PROG" --random --output-dir fz) 2>&1; echo "status $?"; } | cat >err
check short-write grep -q '^rt_prog: error: output Y: fz/Y\.npy: write failed: File too large$' err
check short-write-status grep -q '^status 1$' err
absent short-write-nothing-left fz
# A failed run changes no file, even one it would have overwritten: here
# Z's own input file, and the outputs of an earlier run.
cp s1/Z.npy keep.npy
data_error keeps-input-file "trace: nodir/t\\.json: " --random=9 --input Z=keep.npy \
	--output Z=keep.npy --trace nodir/t.json
check keeps-input-file-bytes cmp -s keep.npy s1/Z.npy
mkdir -p again && cp s1/Y.npy s1/Z.npy again/
expect keeps-old-outputs 1 "trace: nodir/t\\.json: " "$RT_PROG" --random=6 --output-dir again --trace nodir/t.json
check keeps-old-outputs-bytes cmp -s again/Y.npy s1/Y.npy
check keeps-old-outputs-only test "$(find again -type f | wc -l)" -eq 2
: >file-not-dir
expect output-dir-is-file 1 "cannot create the output directory 'file-not-dir/x'" \
	"$RT_PROG" --random --output-dir file-not-dir/x

# ---- usage errors: exit 2 ------------------------------------------------------
usage_error unknown-option "unknown option '--frobnicate'" --frobnicate
usage_error unknown-short "unknown option '-x'" -x
usage_error no-value-flag "option '--time=3' takes no value" --time=3
usage_error missing-value "option '--threads' needs a value" --random --threads
usage_error ambiguous "option '--t' is ambiguous" --t 3
usage_error input-not-input "--input T: the program has no input named 'T'" --input T=x.npy
usage_error input-is-output "--input Y: the program has no input named 'Y'" --input Y=x.npy
usage_error input-unknown "--input Q: the program has no input named 'Q'" --input Q=x.npy
usage_error output-not-output "--output X: the program has no output named 'X'" --output X=x.npy
usage_error input-no-file "--input expects NAME=FILE\\.npy, not 'X'" --input X
usage_error input-twice "--input X is given twice" --input X=a.npy --input X=b.npy
for n in 0 -1 abc 2x 1025 ''; do
	usage_error "threads-${n:-empty}" "--threads needs a whole number from 1 to 1024, not '$n'" \
		--random --threads "$n"
done
usage_error repeat-0 "--repeat needs a whole number" --random --repeat 0
usage_error repeat-abc "--repeat needs a whole number" --random --repeat abc
usage_error bad-seed "--random=SEED needs a non-negative integer seed, not 'x'" --random=x
usage_error negative-seed "--random=SEED needs a non-negative integer seed, not '-1'" --random=-1
usage_error positional "unexpected argument '5'" --random 5
usage_error empty-dir "--output-dir needs a non-empty path" --output-dir=
# two files of the run that are one file, however spelled or reached
usage_error same-file "output Y \\('same\\.npy'\\) and output Z \\('same\\.npy'\\) name the same file" \
	--random --output Y=same.npy --output Z=same.npy
usage_error same-file-spelling "output Y \\('\\./same\\.npy'\\) and output Z \\('same\\.npy'\\) name the same file" \
	--random --output Y=./same.npy --output Z=same.npy
usage_error same-file-dotdot ".*name the same file" --random --output Y=sub/../same.npy --output Z=same.npy
usage_error same-file-via-dir "output Y \\('samedir/Z\\.npy'\\) and output Z \\('samedir/Z\\.npy'\\) name the same file" \
	--random --output-dir samedir --output Y=samedir/Z.npy
usage_error same-file-trace "output Y \\('t\\.npy'\\) and trace \\('t\\.npy'\\) name the same file" \
	--random --output Y=t.npy --trace t.npy
mkdir -p realdir && ln -s realdir aliasdir
usage_error same-file-symlink-dir ".*name the same file" --random --output Y=aliasdir/a.npy --output Z=realdir/a.npy
: >realfile.npy && ln -s realfile.npy alias.npy
usage_error same-file-symlink ".*name the same file" --random --output Y=alias.npy --output Z=realfile.npy
absent same-file-nothing-written same.npy samedir realdir/a.npy t.npy
check same-file-symlink-untouched test ! -s realfile.npy
expect devnull-shared 0 "" "$RT_PROG" --random --output Y=/dev/null --output Z=/dev/null
check devnull-shared-intact test -c /dev/null

# ---- --time, --trace, --stats --------------------------------------------------
TIME_RE='median_ms=[0-9.]+ min_ms=[0-9.]+ mean_ms=[0-9.]+ max_ms=[0-9.]+$'
# time_order NAME: min <= median <= max and min <= mean <= max in err.
time_order() {
	check "$1" awk '/^time:/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] + 0 }
		exit !(v["min_ms"] <= v["median_ms"] && v["median_ms"] <= v["max_ms"] &&
		       v["min_ms"] <= v["mean_ms"] && v["mean_ms"] <= v["max_ms"]) }' err
}
expect time 0 "" "$RT_PROG" --random --repeat 3 --time --output-dir tm
one_line time-one-line
check time-format grep -Eq "^time: runs=3 $TIME_RE" err
check time-no-stdout test ! -s out
time_order time-ordered
expect time-once 0 "" "$RT_PROG" --random --time --output-dir tm
check time-once-format grep -Eq "^time: runs=1 $TIME_RE" err
# more runs than the median's reservoir holds
expect time-many 0 "" "$RT_PROG" --random --threads 1 --repeat 5000 --time --output-dir tm
check time-many-format grep -Eq "^time: runs=5000 $TIME_RE" err
time_order time-many-ordered
# --time keeps constant memory: under a 1 GB address-space limit the
# largest --repeat runs (until timeout stops it) instead of failing to
# allocate a time per run. A sanitizer build cannot run under the limit.
if (ulimit -v 1000000 && "$RT_PROG" --version) >/dev/null 2>&1; then
	# shellcheck disable=SC2016 # $1 is expanded by the inner sh
	expect time-huge-repeat 124 "" sh -c 'ulimit -v 1000000; exec timeout 1 "$1" --random \
		--threads 1 --repeat 1000000000 --time --output-dir th' sh "$RT_PROG"
	check time-huge-repeat-quiet test ! -s err
else
	skip "time-huge-repeat (cannot run under ulimit -v)"
fi

expect trace 0 "" "$RT_PROG" --random --repeat 3 --threads 2 --trace t.json --output-dir tr
check trace-events test "$(grep -c '"ph": "X"' t.json)" -eq 6
check trace-kernel-names test "$(grep -c '"name": "T", "cat": "kernel", "ph": "X"' t.json)" -eq 3
if [ -n "$PY" ]; then
	check trace-valid-json "$PY" - t.json <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ev = [e for e in doc["traceEvents"] if e["ph"] == "X"]
assert len(ev) == 6, len(ev)
assert [e["name"] for e in ev] == ["T", "Y"] * 3
for a, b in zip(ev, ev[1:]):
    assert b["ts"] >= a["ts"] + a["dur"] - 0.001, (a, b)
for e in ev:
    assert e["pid"] == 1 and e["tid"] == 1 and e["ts"] >= 0 and e["dur"] >= 0
    assert e["args"]["flops"] == (15 if e["name"] == "T" else 10)
    assert e["args"]["bytes"] == (124 if e["name"] == "T" else 80)
PY
else
	check trace-json-shape grep -q '^{"traceEvents": \[$' t.json
fi

expect stats 0 "" "$RT_PROG" --random --repeat 3 --stats --output-dir st
check stats-header grep -Eq '^kernel +calls +total ms +GFLOP/s' err
check stats-kernel-t grep -Eq '^T +3 +[0-9.]+ ' err
check stats-kernel-y grep -Eq '^Y +3 +[0-9.]+ ' err
check stats-total grep -Eq '^total +6 +[0-9.]+ ' err
check stats-tensor-bytes grep -Eq '^tensor bytes: 176 ' err
check stats-peak grep -Eq '^peak memory: [0-9]+ bytes' err
check stats-no-arena test -z "$(grep '^memory:' err)"

# ---- a planned graph's memory: the arena and the spill file ------------------------
# RT_PROGRAM=spill makes rt_prog rt_spill (rt_prog.c), the stand-in for a
# graph whose memory the compiler planned: each block of B is offloaded
# to the spill file, its place in the arena taken by C, and B reloaded
# elsewhere, where its consumers check every element (a wrong one fails
# the run). The spill file is unlinked as soon as it is made, so no run,
# however it ends, leaves one behind.
spill() { RT_PROGRAM=spill "$RT_PROG" "$@"; }
# spill_moved NAME RUNS: out says the memory tasks moved the plan's bytes
# RUNS times, in four blocks a run, each way.
spill_moved() {
	check "$1" awk -v runs="$2" '/^spill: plan / { plan = $3; off = $10; noff = $13; rel = $16; nrel = $19 }
		END { exit !(plan > 0 && off == plan * runs && noff == 4 * runs && rel == off && nrel == noff) }' out
}
mkdir -p sd
for t in 1 2 3 8; do
	expect "spill-threads-$t" 0 "" spill --random=3 --threads "$t" --repeat 3 --spill-dir sd --output-dir "sp$t"
	check "spill-threads-$t-quiet" test ! -s err
	spill_moved "spill-threads-$t-moved" 3
	check "spill-threads-$t-same-bytes" cmp -s "sp$t/Y.npy" sp1/Y.npy
	check "spill-threads-$t-same-bytes-c" cmp -s "sp$t/W.npy" sp1/W.npy
done
check spill-dir-left-empty test -z "$(ls -A sd)"
expect spill-stats 0 "" spill --random --threads 2 --stats --spill-dir sd --output-dir sps
spill_moved spill-stats-moved 1
check spill-stats-line grep -Eq '^memory: arena 2\.1 MB = [0-9]+ bytes, offloaded 1\.0 MB = [0-9]+ bytes in 4 blocks, reloaded 1\.0 MB = [0-9]+ bytes in 4 blocks, reload wait [0-9]+\.[0-9]+ ms$' err
# the peak counts the arena: 3 MB of tensors and 2 MB of arena at least
check spill-stats-peak awk '/^peak memory:/ { exit !($3 >= 5242880) }' err
# the offloads and reloads run on the I/O thread, not on a worker: the
# workers ran the other 20 tasks, and the trace has the 8 on a track of
# their own
check spill-stats-workers awk '/^worker / { on = 1; next } /^memory:/ { on = 0 }
	on { n += $2 } END { exit n != 20 }' err
expect spill-trace 0 "" spill --random --threads 2 --repeat 2 --trace sp.json --spill-dir sd --output-dir spt2
check spill-trace-io-track test "$(grep '"ph": "X"' sp.json | grep -c '"tid": 1025,')" -eq 16
check spill-trace-io-named grep -q '"tid": 1025, "args": {"name": "spill I/O"}' sp.json
# a memory task's slice is named by what it does and its tensor
check spill-trace-offload-named test "$(grep -c '"name": "offload B", "cat": "task", "ph": "X"' sp.json)" -eq 8
check spill-trace-reload-named test "$(grep -c '"name": "reload B", "cat": "task", "ph": "X"' sp.json)" -eq 8
check spill-trace-workers test "$(grep '"ph": "X"' sp.json | grep -c '"tid": [12],')" -eq 40
# $TMPDIR when there is no --spill-dir; /tmp when it is empty too
mkdir -p td
expect spill-tmpdir 0 "" env TMPDIR="$tmp/td" RT_PROGRAM=spill "$RT_PROG" --random --output-dir spt
check spill-tmpdir-same-bytes cmp -s spt/Y.npy sps/Y.npy
check spill-tmpdir-left-empty test -z "$(ls -A td)"
expect spill-tmpdir-missing 1 "^rt_spill: error: cannot create a spill file in $tmp/no-td: No such file or directory$" \
	env TMPDIR="$tmp/no-td" RT_PROGRAM=spill "$RT_PROG" --random --output-dir spm
one_line spill-tmpdir-missing-one-line
absent spill-tmpdir-missing-no-output spm
expect spill-tmpdir-empty 0 "" env TMPDIR= RT_PROGRAM=spill "$RT_PROG" --random --output-dir spe
# a spill directory that cannot take a file: exit 1, one line, no output
# and no spill file written (root writes anywhere: a directory that does
# not exist then)
mkdir -p ro && chmod 555 ro
if [ "$(id -u)" -ne 0 ]; then
	bad_dir=ro bad_why="Permission denied"
else
	bad_dir=ro/missing bad_why="No such file or directory"
fi
expect spill-dir-unwritable 1 "^rt_spill: error: cannot create a spill file in $bad_dir: $bad_why$" \
	spill --random --spill-dir "$bad_dir" --output-dir spu
one_line spill-dir-unwritable-one-line
check spill-dir-unwritable-no-stdout test ! -s out
absent spill-dir-unwritable-no-output spu
check spill-dir-unwritable-no-file test -z "$(ls -A ro)"
expect spill-dir-is-file 1 "^rt_spill: error: cannot create a spill file in file-not-dir: Not a directory$" \
	spill --random --spill-dir file-not-dir --output-dir spf
absent spill-dir-is-file-no-output spf
usage_error spill-dir-empty "--spill-dir needs a non-empty path" --spill-dir=
# The spill file's bytes are reserved before anything is computed: a
# file size limit (as a full disk would) stops the run there.
{ (trap '' XFSZ; ulimit -f 0; exec env RT_PROGRAM=spill "$RT_PROG" --random --spill-dir sd --output-dir spr) 2>&1; echo "status $?"; } | cat >err
check spill-reserve grep -q '^rt_spill: error: cannot reserve 1\.0 MB for the spill file in sd: File too large$' err
check spill-reserve-status grep -q '^status 1$' err
absent spill-reserve-nothing-left spr
check spill-reserve-left-empty test -z "$(ls -A sd)"
# While a run goes, its spill file is open but has no name (Linux shows
# it as "(deleted)"), so SIGKILL leaves nothing behind either.
if [ -d /proc/self/fd ]; then
	mkdir -p sk
	env RT_PROGRAM=spill "$RT_PROG" --random --threads 2 --repeat 100000000 --spill-dir sk --output-dir skx >out 2>err &
	pid=$!
	n=0
	until ls -l "/proc/$pid/fd" 2>/dev/null | grep -q 'sk/trac-spill-.* (deleted)$' || [ $n -ge 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	check spill-open-unlinked test $n -lt 100
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	check spill-killed-left-empty test -z "$(ls -A sk)"
	absent spill-killed-no-output skx
else
	skip "spill file while running (no /proc/self/fd)"
fi

# ---- inputs and outputs out of core ----------------------------------------------
# RT_PROGRAM=outofcore makes rt_prog rt_ooc (rt_prog.c): its plan reads X
# and writes Y a row at a time (READ and DROP, CLAIM and WRITE memory
# tasks), so trart_main maps --input files and stages Y's file, mapped,
# before the run. Checked: Y = 3 X - 1 on any thread count; the bytes the
# memory tasks read and wrote (--stats, and rt_ooc's own line: a file
# that is not mapped counts nothing); the mapped files not counted as
# memory; the trace's slice names; a file that cannot be mapped (data
# not 64-aligned) read whole instead; a file trart_npy_read refuses
# refused with its message; and no staged file left after a success, a
# fatal error mid-run, SIGTERM or SIGHUP mid-run, or a full disk.
ooc() { RT_PROGRAM=outofcore "$RT_PROG" "$@"; }
# ooc_moved NAME READS WRITES: out says the memory tasks read READS runs
# of the plan's bytes, in 4 blocks a run, and wrote WRITES runs of them.
ooc_moved() {
	check "$1" awk -v reads="$2" -v writes="$3" '/^outofcore: plan / { plan = $3; r = $12; nr = $15; w = $18; nw = $21 }
		END { exit !(plan > 0 && r == reads * plan && nr == reads * 4 &&
		             w == writes * plan && nw == writes * 4) }' out
}
# ended PID: waits for the background program PID, which was sent a
# signal, and gives its exit status; one still running 20 s later is
# killed (status 137), so that a lost signal fails a check instead of
# hanging the suite.
ended() {
	n=0
	while kill -0 "$1" 2>/dev/null && [ $n -lt 200 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -0 "$1" 2>/dev/null && { echo "  pid $1 still ran 20 s after its signal: killed"; kill -KILL "$1"; }
	wait "$1" 2>/dev/null
}
# no_stage NAME DIR: DIR holds no staged file.
no_stage() { check "$1" test -z "$(find "$2" -name '*.stage*' 2>/dev/null)"; }
if [ -n "$PY" ]; then
	check ooc-make-inputs "$PY" - <<'PY'
import numpy as np
x = (np.arange(160000) % 1000 * 0.5 - 7).astype('<f4').reshape(4, 40000)
np.save('ox.npy', x)
np.save('ox-be.npy', x.astype('>f4'))
np.save('ox-f.npy', np.asfortranarray(x))
# the same array behind a header 16 bytes longer: its data at byte 144
d = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 40000), }"
h = d + ' ' * (144 - 10 - 1 - len(d)) + '\n'
with open('ox-odd.npy', 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + len(h).to_bytes(2, 'little') + h.encode() + x.tobytes())
PY
	# ooc_right NAME FILE: FILE holds 3 X - 1, in f32
	ooc_right() {
		check "$1" "$PY" -c "import numpy as np, sys
x = np.load('ox.npy'); y = np.load('$2')
sys.exit(not (y.dtype == np.float32 and y.shape == x.shape and (y == x * 3 - 1).all()))"
	}
	for t in 1 2 4; do
		expect "ooc-threads-$t" 0 "" ooc --input X=ox.npy --threads "$t" --repeat 2 --stats --output-dir "oc$t"
		ooc_right "ooc-threads-$t-right" "oc$t/Y.npy"
		ooc_moved "ooc-threads-$t-moved" 2 2
		check "ooc-threads-$t-stats" grep -Eq '^memory: arena 1\.3 MB = 1280000 bytes, .*, reload wait [0-9.]+ ms, read 1\.3 MB = 1280000 bytes in 8 blocks from input files, written 1\.3 MB = 1280000 bytes in 8 blocks to output files$' err
		# the arena only: x.npy and Y.npy are files' pages, not memory
		check "ooc-threads-$t-peak" grep -q '^peak memory: 1280000 bytes' err
		check "ooc-threads-$t-only-y" test "$(ls -A "oc$t")" = Y.npy
	done
	expect ooc-trace 0 "" ooc --input X=ox.npy --threads 2 --trace oc.json --output-dir oct
	for s in 'read X' 'drop X' 'claim Y' 'write Y'; do
		check "ooc-trace-$s" test "$(grep -c "\"name\": \"$s\", \"cat\": \"task\", \"ph\": \"X\"" oc.json)" -eq 4
	done
	check ooc-trace-io test "$(grep -E '"name": "(read X|write Y)"' oc.json | grep -c '"tid": 1025,')" -eq 8
	# --random's X is ordinary memory: the reads do nothing, the writes do
	expect ooc-random 0 "" ooc --random --stats --output-dir ocr
	ooc_moved ooc-random-moved 0 1
	check ooc-random-stats grep -Eq 'reload wait [0-9.]+ ms, written 640\.0 KB = 640000 bytes in 4 blocks to output files$' err
	# data not at a multiple of 64: read whole, as before; nothing mapped
	expect ooc-unaligned 0 "" ooc --input X=ox-odd.npy --output-dir ocu
	ooc_right ooc-unaligned-right ocu/Y.npy
	ooc_moved ooc-unaligned-moved 0 1
	# an output that is not a regular file is written the old way
	expect ooc-dev-null 0 "" ooc --input X=ox.npy --output Y=/dev/null
	ooc_moved ooc-dev-null-moved 1 0
	# what trart_npy_read refuses, with its messages; nothing left behind
	head -c 500000 ox.npy >ox-short.npy
	{ cat ox.npy; printf '12345678'; } >ox-long.npy
	for c in "be:dtype '>f4' has the wrong byte order; expected little-endian '<f4'" \
	         "f:array is in Fortran order; expected C order" \
	         "short:truncated: expected 640000 bytes of data, found 499872" \
	         "long:trailing data: expected 640000 bytes of data, found 640008"; do
		f=${c%%:*}
		expect "ooc-refuse-$f" 1 "^rt_ooc: error: input X: ox-$f\.npy: ${c#*:}" ooc --input X="ox-$f.npy" --output-dir "ocx-$f"
		one_line "ooc-refuse-$f-one-line"
		absent "ooc-refuse-$f-nothing-left" "ocx-$f"
	done
	# an error mid-run (trart_fatal) removes the staged file, and the
	# existing output stays as it was
	mkdir -p ocf && echo old >ocf/Y.npy
	expect ooc-fatal 1 "^rt_ooc: error: rt_ooc: row 2 fails, as RT_OOC_FAIL asks$" \
		env RT_OOC_FAIL=1 RT_PROGRAM=outofcore "$RT_PROG" --input X=ox.npy --threads 2 --output-dir ocf
	one_line ooc-fatal-one-line
	check ooc-fatal-kept test "$(cat ocf/Y.npy)" = old
	no_stage ooc-fatal-no-stage ocf
	expect ooc-fatal-dir 1 "row 2 fails" env RT_OOC_FAIL=1 RT_PROGRAM=outofcore "$RT_PROG" --input X=ox.npy --output-dir ocf2/sub
	absent ooc-fatal-dir-removed ocf2
	# a file size limit below Y's: a clean error before anything runs
	{ (trap '' XFSZ; ulimit -f 100; exec env RT_PROGRAM=outofcore "$RT_PROG" --input X=ox.npy --output-dir ocd) 2>&1; echo "status $?"; } | cat >err
	check ooc-full-disk grep -q '^rt_ooc: error: output Y: ocd/Y\.npy: cannot reserve 640\.1 KB: File too large$' err
	check ooc-full-disk-status test "$(sed -n 2p err)" = "status 1"
	absent ooc-full-disk-nothing-left ocd
	# SIGTERM and SIGHUP mid-run: the staged file and the directory go,
	# and the signal still ends the program. The program keeps a signal
	# that it starts with ignored ignored (as under nohup), so each runs
	# with the signal's default action where env can give it one: a
	# suite run under nohup failed here, the program rightly ignoring
	# SIGHUP
	for sig in TERM HUP; do
		dflt=""
		env --default-signal="$sig" true 2>/dev/null && dflt="--default-signal=$sig"
		# shellcheck disable=SC2086
		env $dflt RT_OOC_SLEEP=50 RT_PROGRAM=outofcore "$RT_PROG" --input X=ox.npy --threads 1 --repeat 100000 --output-dir "ocs-$sig" >out 2>err &
		pid=$!
		n=0
		until [ -n "$(find "ocs-$sig" -name 'Y.npy.stage*' 2>/dev/null)" ] || [ $n -ge 100 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		check "ooc-sig$sig-staged" test $n -lt 100
		sleep 0.2
		kill -"$sig" "$pid"
		ended "$pid"
		rc=$?
		case $sig in HUP) num=1 ;; TERM) num=15 ;; esac # (dash's kill -l takes numbers only)
		check "ooc-sig$sig-status" test "$rc" -eq $((128 + num))
		absent "ooc-sig$sig-nothing-left" "ocs-$sig"
	done
	# SIGTERM early, at moments while the output is being staged (any
	# thread may take it: OpenBLAS's block no signal): nothing is left
	# (a guard installed only after staging left a staged file in 5 of
	# 40 such kills under TSan)
	left=""
	for d in 0.005 0.01 0.015 0.02 0.03 0.05; do
		RT_OOC_SLEEP=50 RT_PROGRAM=outofcore "$RT_PROG" --input X=ox.npy --threads 1 --repeat 100000 --output-dir ocq >out 2>err &
		pid=$!
		sleep "$d"
		kill -TERM "$pid"
		ended "$pid"
		rc=$?
		[ "$rc" -eq 143 ] || left="$left $d:status-$rc"
		[ -e ocq ] && left="$left $d:$(ls -A ocq | tr '\n' ' ')"
		rm -rf ocq
	done
	[ -n "$left" ] && echo "  after an early SIGTERM (delay:what was wrong):$left"
	check ooc-early-signals-nothing-left test -z "$left"
else
	skip "inputs and outputs out of core (no NumPy to write x.npy)"
fi

# ---- against NumPy ----------------------------------------------------------------
if [ -n "$PY" ]; then
	check numpy-make-inputs "$PY" - <<'PY'
import numpy as np
rng = np.random.default_rng(1)
np.save("x.npy", rng.standard_normal((5, 3)).astype(np.float32))
np.save("s.npy", np.array(1.75, dtype=np.float32))
np.save("z.npy", rng.standard_normal(4))
np.save("x45.npy", np.zeros((4, 5), np.float32))
np.save("xf.npy", np.asfortranarray(np.zeros((5, 3), np.float32)))
np.save("s1.npy", np.zeros((1,), np.float32))
PY
	expect numpy-run 0 "" "$RT_PROG" --input X=x.npy --input s=s.npy --input Z=z.npy --threads 3 --output-dir np
	check numpy-inout-as-np-save cmp -s np/Z.npy z.npy
	check numpy-result "$PY" - <<'PY'
import numpy as np
x, s = np.load("x.npy"), np.load("s.npy")
t = x * s
want = (t[:, 0] + t[:, 1]) + t[:, 2]
got = np.load("np/Y.npy")
assert got.dtype == np.float32 and got.shape == (5,)
assert np.array_equal(got, want), (got, want)
PY
	expect numpy-random-run 0 "" "$RT_PROG" --random=11 --output-dir nr
	check numpy-random-result "$PY" - "$srcdir/tests" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from trart_random import random_fill
x = random_fill((5, 3), np.float32, 11, "X")
s = random_fill((), np.float32, 11, "s")
t = x * s
assert np.array_equal(np.load("nr/Y.npy"), (t[:, 0] + t[:, 1]) + t[:, 2])
assert np.array_equal(np.load("nr/Z.npy"), random_fill((4,), np.float64, 11, "Z"))
PY
	data_error numpy-shape "input X: x45\\.npy: shape \\(4, 5\\) does not match the declared \\(5, 3\\)$" \
		--random --input X=x45.npy
	data_error numpy-fortran "input X: xf\\.npy: " --random --input X=xf.npy
	check numpy-spill-result "$PY" - "$srcdir/tests" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from trart_random import random_fill
x = random_fill((4 * 65536,), np.float32, 3, "X")
assert np.array_equal(np.load("sp1/Y.npy"), x * np.float32(2) + np.float32(1))
assert np.array_equal(np.load("sp1/W.npy"), -x - np.float32(7))
PY
	# a scalar takes np.array([x]) as well as a 0-d array
	expect numpy-scalar-1 0 "" "$RT_PROG" --random --input s=s1.npy --output-dir ns
	check numpy-scalar-1-result "$PY" -c 'import numpy as np; assert not np.load("ns/Y.npy").any()'
	check numpy-make-s2 "$PY" -c 'import numpy as np; np.save("s2.npy", np.zeros((2,), np.float32))'
	data_error numpy-scalar-2 "input s: s2\\.npy: shape \\(2,\\) does not match the declared \\(\\) \\(a scalar: shape \\(\\) or \\(1,\\)\\)$" \
		--random --input s=s2.npy
else
	skip "numpy checks (no Python 3 with numpy)"
fi

# ---- programs trac compiles: --help of a block-task program; out of memory -----
if [ -n "${TRAC:-}" ] && [ -x "$TRAC" ]; then
	cat >wide.tra <<'TRA'
size N = 4, D = 4, K = 4
input A[N, D], B[K]
T[i, j, k] = A[i, j] + B[k]
S[i] = sum[j, k](T[i, j, k])
H[i] = sum[j, k](T[i, j, k] * B[k] * S[i])
output H
TRA
	expect tasks-compile 0 "" "$TRAC" wide.tra --devices=2 -o wide
	expect tasks-help 0 "" ./wide --help
	check tasks-help-says-tasks grep -q 'runs block tasks' out
	check tasks-help-trace-tasks grep -q '^  --trace FILE.json .*task runs' out
	check tasks-help-no-kernels test -z "$(grep -i kernel out)"
	check tasks-help-no-steal grep -q '^  --no-steal ' out
	# 4 TB a tensor, 12 TB in all: more memory than any machine this runs
	# on, found before anything is allocated (quickly: timeout would say 124)
	for kind in tasks node-kernels; do
		flag=--devices=2
		[ $kind = node-kernels ] && flag=--node-kernels
		expect "huge-$kind-compile" 0 "" "$TRAC" wide.tra -D N=1000000 -D D=1000000 \
			$flag -o "huge-$kind"
		expect "huge-$kind" 1 "^wide: error: out of memory allocating 4\\.0 TB for tensor A \\(1000000 x 1000000 f32\\): the program's tensors need [0-9.]+ TB, more than this machine's [0-9.]+ [KMGT]B of memory$" \
			timeout 20 "./huge-$kind" --random --output-dir "hg-$kind"
		one_line "huge-$kind-one-line"
		absent "huge-$kind-nothing" "hg-$kind"
	done
	# Allocations that fail although the machine has the memory (here a
	# 200 MB address-space limit, which a sanitizer build cannot run
	# under): T is 268 MB, up front with whole-node kernels; with tasks
	# it lives in the arena of the memory plan, allocated as the graph
	# starts (spill.c).
	expect mid-tasks-compile 0 "" "$TRAC" wide.tra -D N=64 -D D=64 -D K=16384 --devices=2 -o mid-tasks
	expect mid-kernels-compile 0 "" "$TRAC" wide.tra -D N=64 -D D=64 -D K=16384 --node-kernels -o mid-kernels
	if (ulimit -v 200000 && ./mid-tasks --version) >/dev/null 2>&1; then
		# shellcheck disable=SC2016 # $1 is expanded by the inner sh
		lim='ulimit -v 200000; OPENBLAS_NUM_THREADS=1 exec timeout 20 "$@"'
		expect oom-kernels 1 "^wide: error: out of memory allocating 268\\.4 MB for tensor T \\(64 x 64 x 16384 f32\\)$" \
			sh -c "$lim" sh ./mid-kernels --random --output-dir om-k
		one_line oom-kernels-one-line
		absent oom-kernels-nothing om-k
		expect oom-arena 1 "^wide: error: out of memory allocating 2[0-9][0-9]\\.[0-9] MB for the arena of the intermediate tensors$" \
			sh -c "$lim" sh ./mid-tasks --random --threads 2 --output-dir om-t
		one_line oom-arena-one-line
		absent oom-arena-nothing om-t
	else
		skip "out-of-memory checks under ulimit -v (cannot run under it)"
	fi
	# OpenBLAS's own threads: a block-task program stops them before its
	# first run (they spin for a while after OpenBLAS starts them, on the
	# workers' cores: exec.c), so on one thread it runs as one thread.
	# OPENBLAS_NUM_THREADS=2 has OpenBLAS start one as it loads, on any
	# machine. The program repeats until one thread is seen twice in a
	# row (or 30 s pass): seen as the program, not as the shell that
	# forks it or a process that has exited, and twice, 50 ms apart, so
	# not in the moment between exec and OpenBLAS's start either.
	if [ -r /proc/self/status ]; then
		OPENBLAS_NUM_THREADS=2 ./wide --random --threads 1 --repeat 1000000000 \
			--output-dir blas-idle >/dev/null 2>err &
		pid=$! ones=0 seen=
		for _ in $(seq 600); do
			seen=$(awk '/^Name:/ { n = $2 } /^State:/ { s = $2 } /^Threads:/ { t = $2 }
				END { print (n == "wide" && s != "Z" ? t : "-") }' "/proc/$pid/status" 2>/dev/null)
			if [ "$seen" = 1 ]; then ones=$((ones + 1)); else ones=0; fi
			[ "$ones" -ge 2 ] && break
			sleep 0.05
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		check "tasks-blas-threads-stopped (last seen: ${seen:-none})" test "$ones" -ge 2
	else
		skip "OpenBLAS's threads (no /proc)"
	fi
else
	skip "compiled programs (no TRAC)"
fi

# ---- trart.h from C++ -------------------------------------------------------------
CXX=${CXX-$(command -v c++ 2>/dev/null)}
if [ -n "$CXX" ] && [ -n "${TRART_LIBS:-}" ]; then
	cat >cxx.cc <<'CC'
#include "trart.h"
int main() { return trart_dtype_size(TRART_F64) == 8 && trart_threads() >= 0 ? 0 : 1; }
CC
	# shellcheck disable=SC2086 # TRART_LIBS is a list of words
	expect cxx-links 0 "" "$CXX" -I"$srcdir/runtime" cxx.cc -o cxx $TRART_LIBS
	expect cxx-runs 0 "" ./cxx
else
	skip "trart.h from C++ (no C++ compiler or TRART_LIBS)"
fi

# ---- valgrind ----------------------------------------------------------------------
# A valgrind too old for the compiler's debug info (DWARF 5 from a new
# clang) gives up on the binary itself: that is a SKIP, not a failure;
# a memory error in the probe (status 99) is left for the checks to find.
vg_why="no valgrind"
if [ -n "$VG" ]; then
	"$VG" -q --error-exitcode=99 "$RT_PROG" --version >out 2>err
	rc=$?
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 99 ]; then
		vg_why="$VG cannot run rt_prog: $(grep -v '^###' err | grep -m1 .)"
		VG=
	fi
fi
if [ -n "$VG" ]; then
	vg() { "$VG" -q --error-exitcode=99 --leak-check=full "$@"; }
	expect valgrind 0 "" "$VG" -q --error-exitcode=1 --leak-check=full \
		"$RT_PROG" --random --threads 3 --output-dir vg
	expect valgrind-profiled 0 "" vg "$RT_PROG" --random --threads 2 --repeat 3 \
		--time --stats --trace vg.json --output-dir vg2
	expect valgrind-data-error 1 "input X is missing" vg "$RT_PROG" --threads 3 --output-dir vg3
	expect valgrind-rollback 1 "output Z" vg "$RT_PROG" --random --output Z=nodir/Z.npy --output-dir vg4
	expect valgrind-usage-error 2 "unknown option" vg "$RT_PROG" --random --bogus
	expect valgrind-help 0 "" vg "$RT_PROG" --help
	expect valgrind-same-file 2 "name the same file" vg "$RT_PROG" --random --output Y=v.npy --output Z=./v.npy
	expect valgrind-made-dirs 1 "output Z" vg "$RT_PROG" --random --output-dir vg5/sub --output Z=nodir/Z.npy
	expect valgrind-time-reservoir 0 "" vg "$RT_PROG" --random --threads 1 --repeat 1500 --time --output-dir vg6
	expect valgrind-scalar-1 0 "" vg "$RT_PROG" --random --input s=s1.npy --output-dir vg7
	expect valgrind-spill 0 "" env RT_PROGRAM=spill "$VG" -q --error-exitcode=99 --leak-check=full \
		"$RT_PROG" --random --threads 3 --repeat 2 --stats --spill-dir sd --output-dir vg9
	# (an error mid-run ends the program at once, _exit, as running out
	# of memory does: what it leaves allocated is no leak)
	expect valgrind-spill-error 1 "cannot create a spill file" env RT_PROGRAM=spill "$VG" -q \
		--error-exitcode=99 --leak-check=no "$RT_PROG" --random --spill-dir file-not-dir --output-dir vg10
	if [ -f ox.npy ]; then # out of core: mapped input and output
		expect valgrind-ooc 0 "" env RT_PROGRAM=outofcore "$VG" -q --error-exitcode=99 --leak-check=full \
			"$RT_PROG" --input X=ox.npy --threads 2 --stats --output-dir vg11
	fi
	if [ -x ./huge-tasks ]; then
		expect valgrind-huge 1 "out of memory allocating" vg ./huge-tasks --random --output-dir vg8
	fi
else
	skip "valgrind checks ($vg_why)"
fi

check no-stray-files test -z "$(find . -name '*.stage*' -o -name '*.tmp*' -o -name 'trac-spill-*')"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
