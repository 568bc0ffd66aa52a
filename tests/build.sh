#!/bin/sh
# build.sh: trac as a build tool sees it: outputs that may not overwrite
# the program, stdin and stdout, several --emit stages and their JSON,
# make dependency files driving a rebuild, extra compiler flags, a missing
# compiler or runtime (the environment's fault, exit 1, no temporary
# directory left), the names library mode refuses, and the usage errors
# that name what is wrong.
# Environment: TRAC (the binary), srcdir (the source tree, may be read-only),
# PYTHON_NUMPY (a python3, optional: the JSON checks).
set -u
: "${TRAC:?}" "${srcdir:?}"
. "$srcdir/tests/testlib.sh"
test_setup
py=${PYTHON_NUMPY:-}

absent() { if [ -e "$2" ]; then echo "  $2 exists"; bad "$1"; else ok "$1"; fi; }
# no_temps NAME: the private TMPDIR holds nothing (no trac-XXXXXX left behind)
no_temps() { if [ -n "$(ls -A tmpdir)" ]; then echo "  left: $(ls tmpdir)"; bad "$1"; else ok "$1"; fi; }
mkdir tmpdir
TMPDIR=$tmp/tmpdir; export TMPDIR

cat >scale.tra <<'TRA'
size N = 4, K = 3
input A[N, K]
input alpha
C[i, k] = alpha * A[i, k]
output C
TRA

# ---- usage errors name what is wrong ----------------------------------------------
expect unknown-short-option 2 "unknown option '-f' in '-fPIC'.*-Xcc" "$TRAC" scale.tra -fPIC
expect unknown-warning-option 2 "unknown warning '-Wextra'.*-Xcc" "$TRAC" scale.tra -Wextra
expect unknown-long-option 2 "unknown option '--frobnicate'" "$TRAC" scale.tra --frobnicate
expect define-too-large 2 "9223372036854775808 is too large" "$TRAC" scale.tra --check -D N=9223372036854775808
expect define-near-miss 2 "no size 'n'; did you mean 'N'\\?" "$TRAC" scale.tra --check -D n=4
grep -q "its sizes are N, K" err && ok define-lists-sizes || bad define-lists-sizes
expect sim-inf 2 "finite positive" "$TRAC" scale.tra --emit=plan --sim=latency=inf
expect sim-huge 2 "finite positive" "$TRAC" scale.tra --emit=plan --sim=latency=1e999
expect sim-trailing-comma 2 "nothing after the last" "$TRAC" scale.tra --emit=plan --sim=latency=1e-6,
expect partition-empty 2 "no counts after 'C:'" "$TRAC" scale.tra --emit=plan --partition=C:
expect partition-twice 2 "index i of node C is given twice" "$TRAC" scale.tra --emit=plan --partition=C:i=2,i=3
expect partition-trailing-comma 2 "trailing comma" "$TRAC" scale.tra --emit=plan --partition=C:i=2,
printf 'size N = 8589934592\ninput A[N]\nY[i] = A[i] * 2\noutput Y\n' >long.tra
expect partition-count-2-32 2 "from 1 to 4096" "$TRAC" long.tra --emit=plan --partition=Y:i=4294967296
expect partition-count-wraps 2 "from 1 to 4096" "$TRAC" long.tra --emit=plan --partition=Y:i=4294967298
printf 'size N = 8192\ninput A[N, N]\nY[i, j] = A[i, j] * 2\noutput Y\n' >square.tra
expect partition-too-many-blocks 2 "would have 131072 blocks; at most 16384" \
	"$TRAC" square.tra --emit=plan --partition=Y:i=4096,j=32
expect xcc-without-flag 2 "-Xcc needs a flag" "$TRAC" scale.tra -Xcc
expect x-other 2 "unknown option '-Xfoo'" "$TRAC" scale.tra -Xfoo bar
expect march-bad 2 "expected a CPU name" "$TRAC" scale.tra --march=-O3
expect shared-and-c 2 "cannot be combined" "$TRAC" scale.tra -c --shared
expect md-check 2 "-MD and -MF" "$TRAC" scale.tra --check -MD
expect exe-to-stdout 2 "cannot go to standard output" "$TRAC" scale.tra -o -
expect stages-need-dir 2 "several --emit stages need -o DIR" "$TRAC" scale.tra --emit=tra,plan

# ---- outputs never overwrite the program, nor each other ----------------------------------
cp scale.tra keep.tra
expect refuse-o-source 2 "is the program 'scale.tra' itself" "$TRAC" scale.tra -o scale.tra
expect refuse-o-source-dotslash 2 "itself" "$TRAC" scale.tra -o ./scale.tra
expect refuse-emit-source 2 "itself" "$TRAC" scale.tra --emit=tra -o scale.tra
expect refuse-S-source 2 "itself" "$TRAC" scale.tra -S -o scale.tra
expect refuse-c-header-source 2 "itself" "$TRAC" scale.tra -c -o scale.o --name scale_x -D N=4 -MF scale.tra
expect refuse-interpret-output-source 2 "itself" "$TRAC" scale.tra --interpret --random --output C=scale.tra
cmp -s scale.tra keep.tra && ok source-intact || bad source-intact
cp scale.tra sc.h
expect refuse-c-header-is-source 2 "itself" "$TRAC" sc.h -c -o sc.o
expect refuse-object-named-h 2 "written twice \\(the output and its header\\)" "$TRAC" scale.tra -c -o build-x.h
absent object-named-h-absent build-x.h

# ---- names library mode refuses ------------------------------------------------------------
cp scale.tra int.tra; cp scale.tra exp.tra; cp scale.tra main.tra
expect name-keyword 2 "'int' \\(from 'int.tra'\\) is a C or C\\+\\+ keyword.*--name" "$TRAC" -c int.tra
expect name-libc 2 "'exp' .*C library" "$TRAC" -c exp.tra
expect name-main 2 "'main' .*C library" "$TRAC" -c main.tra
expect name-option 2 "--name int: is a C or C\\+\\+ keyword" "$TRAC" -c scale.tra --name int
expect name-generated 2 "kernels and tables" "$TRAC" --shared scale.tra --name k0
expect name-runtime-prefix 2 "reserved" "$TRAC" -c scale.tra --name trart_x
no_temps names-no-temps
expect name-keyword-executable 0 "" "$TRAC" int.tra -o intprog
[ -x intprog ] && ok keyword-fine-for-executables || bad keyword-fine-for-executables

# ---- a program too large for this machine is built, with a warning ----------------------------
expect too-large-warns 0 "warning: the program needs at least .* GB \\(its largest tensor, [AC]," \
	"$TRAC" scale.tra -D N=100000000000 -o hugeprog
[ -x hugeprog ] && ok too-large-built || bad too-large-built

# ---- standard input and output -----------------------------------------------------------------
expect stdin-check 0 "" sh -c "\"$TRAC\" - --check <scale.tra"
expect stdin-error-location 1 "^<stdin>:1:" sh -c "printf 'output Q\n' | \"$TRAC\" - --check"
expect stdin-emit 0 "" sh -c "\"$TRAC\" - --emit=tra <scale.tra"
grep -q "C\\[i, k\\]" out && ok stdin-emit-content || bad stdin-emit-content
expect stdin-compile-needs-o 2 "standard input: name the output with -o" sh -c "\"$TRAC\" - <scale.tra"
expect stdin-compile 0 "" sh -c "\"$TRAC\" - -o fromstdin <scale.tra"
./fromstdin --random=1 --output C=s1.npy && "$TRAC" scale.tra --interpret --random=1 --output C=s2.npy &&
	cmp -s s1.npy s2.npy && ok stdin-program-runs || bad stdin-program-runs
expect emit-to-stdout 0 "" "$TRAC" scale.tra --emit=plan -o -
grep -q "simulated makespan" out && ok emit-dash-is-stdout || bad emit-dash-is-stdout
absent emit-dash-no-file ./-

# ---- several stages in one run, and the JSON ones ------------------------------------------------
expect emit-several 0 "" "$TRAC" scale.tra --emit=tra,plan,c --emit=plan-json,signature-json -o stages
for f in scale.tra.txt scale.plan scale.c scale.plan.json scale.signature.json; do
	[ -s "stages/$f" ] && ok "stage-file-$f" || bad "stage-file-$f"
done
"$TRAC" scale.tra --emit=plan >plan.one && cmp -s plan.one stages/scale.plan && ok stages-same-as-single ||
	bad stages-same-as-single
"$TRAC" scale.tra -S -o c.one && cmp -s c.one stages/scale.c && ok stages-c-same || bad stages-c-same
printf 'output Q\n' >broken.tra
expect emit-several-error 1 "" "$TRAC" broken.tra --emit=tra,plan -o brokendir
absent emit-several-error-nothing brokendir
mkdir -p blocked/scale.plan
expect emit-several-write-fails 1 "cannot write 'blocked/scale.plan'" "$TRAC" scale.tra --emit=tra,plan -o blocked
absent emit-several-all-or-nothing blocked/scale.tra.txt
if [ -n "$py" ]; then
	"$py" - stages/scale.signature.json stages/scale.plan.json <<'PY' >pyout 2>&1 && ok json-valid || { cat pyout; bad json-valid; }
import json, sys
sig = json.load(open(sys.argv[1]))
assert sig["name"] == "scale", sig
assert sig["sizes"] == {"N": 4, "K": 3}, sig
assert [t["name"] for t in sig["inputs"]] == ["A", "alpha"], sig
assert sig["inputs"][0] == {"name": "A", "dtype": "f32", "shape": [4, 3], "dims": ["N", "K"]}, sig
assert sig["inputs"][1]["shape"] == [], sig
assert sig["outputs"][0]["name"] == "C" and sig["outputs"][0]["shape"] == [4, 3], sig
plan = json.load(open(sys.argv[2]))
assert plan["tasks"] > 0 and plan["makespan_s"] > 0 and len(plan["per_device"]) == plan["devices"]
assert any(n["name"] == "C" and n["kind"] == "einsum" for n in plan["nodes"]), plan
assert sum(d["tasks"] for d in plan["per_device"]) == plan["tasks"]
PY
fi

# ---- make dependency files -------------------------------------------------------------------------
expect md 0 "" "$TRAC" scale.tra -c -o dep.o -MD
grep -q '^dep.o dep.h:' dep.d && grep -q 'scale.tra' dep.d && grep -q 'trart.h' dep.d &&
	ok md-rule || { cat dep.d; bad md-rule; }
expect mf 0 "" "$TRAC" scale.tra -o depprog -MF prog.dep
grep -q '^depprog:' prog.dep && grep -q 'libtrart.a' prog.dep && ok mf-rule || bad mf-rule
cat >Makefile <<'MK'
# the rule users write, with the dependency file trac writes beside it
scaleprog: scale.tra
	$(TRAC) scale.tra -o scaleprog -MD
-include scaleprog.d
MK
make -s TRAC="$TRAC" >mk.out 2>&1 && [ -x scaleprog ] && ok make-first-build || { cat mk.out; bad make-first-build; }
[ -f scaleprog.d ] && ok make-depfile || bad make-depfile
make -s TRAC="$TRAC" -q scaleprog && ok make-up-to-date || bad make-up-to-date
runtime_h=$(sed -n 's/^\(.*trart\.h\):$/\1/p' scaleprog.d)
[ -n "$runtime_h" ] && ok make-phony-runtime || bad make-phony-runtime
touch -t 200001010000 scaleprog
make -s TRAC="$TRAC" -q scaleprog && bad make-rebuild-on-change || ok make-rebuild-on-change
make -s TRAC="$TRAC" >mk.out 2>&1 && make -s TRAC="$TRAC" -q scaleprog && ok make-rebuilt || bad make-rebuilt

# ---- extra flags for the C compiler (what the C back end compiles) ---------------------------------
expect xcc 0 "" "$TRAC" scale.tra -o x1 -v -Xcc -DTRAC_TEST_FLAG=1 --cflags="-g -DSECOND=2" --backend=c
grep -q -- "-DTRAC_TEST_FLAG=1 -g -DSECOND=2" err && ok xcc-passed || bad xcc-passed
expect march 0 "" "$TRAC" scale.tra -o x2 -v --march=x86-64 --backend=c
grep -q -- "-march=x86-64" err && ! grep -q -- "-march=native" err && ok march-passed || bad march-passed
expect xcc-breaks 1 "flags given with -Xcc" "$TRAC" scale.tra -o x3 -Xcc -include -Xcc no-such-header.h --backend=c
absent xcc-breaks-no-output x3
no_temps xcc-breaks-no-temps

# ---- the environment: no compiler, no runtime -------------------------------------------------------
mkdir emptybin
expect no-cc-on-path 1 "cannot find the C compiler 'gcc|cannot find the C compiler" env PATH="$tmp/emptybin" "$TRAC" scale.tra -o nocc
grep -q "install a C compiler" err && ok no-cc-hint || bad no-cc-hint
absent no-cc-no-output nocc
expect cc-env-missing 1 "cannot find the C compiler 'no-such-cc' \\(the environment variable CC\\) on PATH" env CC=no-such-cc "$TRAC" scale.tra -o nocc
no_temps missing-cc-no-temps
# a compiler named by several words (a wrapper, as "ccache gcc") is run as they say, once
expect cc-words 0 "" env CC="env ${CC:-cc}" "$TRAC" scale.tra -o ccwords -v --backend=c
[ "$(grep -c -- ' -std=c11 ' err)" -eq 1 ] && ! grep -q -- "-std=c11 .*env ${CC:-cc}" err &&
	./ccwords --random=1 --output-dir ccwords.out >/dev/null && ok cc-words-once || bad cc-words-once
expect runtime-dir-bad 1 "holds no trart.h" "$TRAC" scale.tra -o nort --runtime-dir="$tmp/emptybin"
expect runtime-env-bad 1 "holds no trart.h" env TRAC_RUNTIME_DIR="$tmp/emptybin" "$TRAC" scale.tra -o nort
absent runtime-bad-no-output nort
expect print-runtime-dir 0 "" "$TRAC" --print-runtime-dir
[ "$(wc -l <out)" -eq 2 ] && [ -f "$(sed -n 1p out)/trart.h" ] && [ -f "$(sed -n 2p out)/libtrart.a" ] &&
	ok print-runtime-dir-real || bad print-runtime-dir-real
# a runtime directory that holds both files works as an override
mkdir rt && cp "$(sed -n 1p out)/trart.h" "$(sed -n 2p out)/libtrart.a" rt/
expect runtime-dir-flat 0 "" "$TRAC" scale.tra -o viart --runtime-dir="$tmp/rt" -v --backend=c
grep -q -- "-I$tmp/rt" err && ok runtime-dir-used || bad runtime-dir-used
# killed while compiling: the temporary directory goes too
cat >slowcc <<'SH'
#!/bin/sh
sleep 30
SH
chmod +x slowcc
"$TRAC" scale.tra -o killed --cc "$tmp/slowcc" 2>/dev/null &
pid=$!
sleep 1
kill -TERM $pid
wait $pid
[ $? -ne 0 ] && ok killed-fails || bad killed-fails
no_temps killed-no-temps
absent killed-no-output killed

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
