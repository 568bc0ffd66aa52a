#!/bin/sh
# placer.sh: the learned placer from the command line (trac(1), LEARNED
# PLACEMENT). --placer=learned with the default weights and with a file;
# --train-placer writes weights that place, the same bit for bit for one
# seed and other ones for another; fine-tuning reads a trace of the
# compiled program (--trace) and refuses one of another task graph;
# malformed weights, bad training options and programs with errors fail
# cleanly, leaving no output file. (Compiled programs placed by it are
# checked against the interpreter in compile.sh.)
# Environment: TRAC (the binary), srcdir (the source tree, may be read-only).
set -u
: "${TRAC:?}" "${srcdir:?}"
. "$srcdir/tests/testlib.sh"
test_setup
mlp=$srcdir/samples/mlp.tra
small="-D N=64 -D D=32 -D H=48"

# --placer=learned: the default weights, and the plan says so
expect default-weights 0 "" "$TRAC" "$mlp" $small --emit=plan --devices=3 --placer=learned
if grep -q "placer learned" out && grep -q "simulated makespan" out; then ok plan-names-learned; else bad plan-names-learned; fi

# training: a file that places; one seed, one file; another seed, another
expect train 0 "" "$TRAC" --train-placer=w1 --train=imitate:40,reinforce:40 --train-devices=2,3 $small "$mlp" "$srcdir/samples/chain.tra"
if grep -Eq "^trained on 4 graphs: greedy makespan [0-9.]+ of critical path's \(from [0-9.]+\), [0-9]+ simulator calls" out; then
	ok train-summary
else
	bad train-summary; cat out
fi
"$TRAC" --train-placer=w2 --train=imitate:40,reinforce:40 --train-devices=2,3 $small "$mlp" "$srcdir/samples/chain.tra" >/dev/null 2>&1
"$TRAC" --train-placer=w3 --train=imitate:40,reinforce:40 --train-devices=2,3 --train-seed=9 $small "$mlp" "$srcdir/samples/chain.tra" >/dev/null 2>&1
if cmp -s w1 w2; then ok train-deterministic; else bad train-deterministic; fi
if [ -s w3 ] && ! cmp -s w1 w3; then ok train-seed; else bad train-seed; fi
expect placer-weights 0 "" "$TRAC" "$mlp" $small --emit=plan --devices=2 --placer=learned --placer-weights=w1
# and trained further from a file
expect train-from-file 0 "" "$TRAC" --train-placer=w4 --placer-weights=w1 --train=imitate:0,reinforce:20 --train-devices=2 $small "$mlp"

# fine-tuning on a trace of the compiled program
if "$TRAC" "$mlp" $small --devices=2 -o mlp 2>err && ./mlp --random --repeat 3 --trace t.json >/dev/null 2>err; then
	expect finetune 0 "" "$TRAC" --train-placer=w5 --placer-weights=w1 --train-devices=2 --train=finetune:20 --measured=t.json $small "$mlp"
	if grep -q "^fine-tuned on measured times" out && [ -s w5 ]; then ok finetune-summary; else bad finetune-summary; fi
	expect finetune-other-graph 1 "t.json.*another" "$TRAC" --train-placer=w6 --placer-weights=w1 --train-devices=3 --measured=t.json $small "$mlp"
	[ ! -e w6 ] && ok finetune-no-output || bad finetune-no-output
else
	bad compile-traced
fi
expect finetune-missing-trace 1 "nothere.json" "$TRAC" --train-placer=w6 --train-devices=2 --measured=nothere.json $small "$mlp"

# malformed weights: the file, the line, what was expected; no program written
printf 'trac-placer-weights 1\nhidden 16 rounds 2 task-features 5 device-features 5\ntensor embed 16 5\n1 2 3\n' >bad.weights
expect bad-weights 1 "bad.weights:4: row 1 of embed: expected 5 numbers, found 3" "$TRAC" "$mlp" $small --devices=2 --placer=learned --placer-weights=bad.weights -o prog
[ ! -e prog ] && ok bad-weights-no-output || bad bad-weights-no-output
expect missing-weights 1 "cannot open the placer weights 'nothere'" "$TRAC" "$mlp" --emit=plan --placer=learned --placer-weights=nothere
printf 'garbage\n' >garbage.weights
expect garbage-weights 1 "garbage.weights:1: expected 'trac-placer-weights 1'" "$TRAC" "$mlp" --emit=plan --placer=learned --placer-weights=garbage.weights

# usage errors (exit 2) and programs with errors (exit 1), no weights written
expect train-stage 2 "expected STAGE:EPISODES" "$TRAC" --train-placer=w7 --train=dance:3 "$mlp"
expect train-stage-twice 2 "given twice" "$TRAC" --train-placer=w7 --train=imitate:3,imitate:4 "$mlp"
expect train-devices 2 "device counts from 1 to 4096" "$TRAC" --train-placer=w7 --train-devices=2,0 "$mlp"
expect train-seed 2 "non-negative integer" "$TRAC" --train-placer=w7 --train-seed=-1 "$mlp"
expect finetune-needs-trace 2 "needs the measured times" "$TRAC" --train-placer=w7 --train=finetune:5 "$mlp"
expect measured-count 2 "2 traces for 3 graphs" "$TRAC" --train-placer=w7 --measured=a.json --measured=b.json "$mlp"
expect train-with-o 2 "drop -o" "$TRAC" --train-placer=w7 -o x "$mlp"
expect train-options-alone 2 "need --train-placer" "$TRAC" --train-seed=3 "$mlp" --emit=plan
expect weights-need-learned 2 "is for --placer=learned" "$TRAC" --placer-weights=w1 "$mlp" --emit=plan
expect placer-unknown 2 "search, learned" "$TRAC" --placer=doppler "$mlp" --emit=plan
printf 'size N = 4\ninput X[N]\nY[i] = X[j]\noutput Y\n' >broken.tra
expect train-broken-program 1 "broken.tra:3:" "$TRAC" --train-placer=w7 broken.tra
[ ! -e w7 ] && ok train-no-output || bad train-no-output

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
