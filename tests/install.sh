#!/bin/sh
# install.sh: `make install` as a user sees it. The tree is installed
# under a staging directory (DESTDIR), which puts trac somewhere other
# than the prefix it was configured with; the staged prefix is then moved
# again. Each time, with only that prefix's bin (and the system's) on
# PATH, the installed trac must find its own runtime, compile an
# installed sample and run it to the interpreter's answer; the shared
# runtime, the header, pkg-config file, samples, the learned placer's
# weights and the LLVM back end's module must be there (and
# --placer=learned find them); without the module, --check still works
# and a compile says what is missing. Then
# the tree, built for its configured prefix, is installed with another
# (`make install prefix=P`, as after `./configure --prefix=P` in a tree
# built earlier): what depends on the paths is rebuilt, and that install
# and a move of it work the same way; at the end the tree is rebuilt for
# its own prefix. Because it rebuilds trac, Makefile.am runs this test
# after all the others.
# Environment: TRAC, srcdir, BUILDDIR (the build tree), MAKE, and the
# configured prefix, bindir, includedir, libdir, pkgdatadir.
set -u
: "${TRAC:?}" "${srcdir:?}" "${BUILDDIR:?}" "${prefix:?}" "${bindir:?}" "${includedir:?}" \
	"${libdir:?}" "${pkgdatadir:?}"
tmp=$(mktemp -d) || exit 99
restore=false
# shellcheck disable=SC2064
trap 'if $restore; then ${MAKE:-make} -s -C "$BUILDDIR" >/dev/null 2>&1; fi; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99
pass=0 fail=0
. "$srcdir/tests/testlib.sh"
sys_path=/usr/local/bin:/usr/bin:/bin

# every sample is installed (the Makefile lists them one by one)
for f in "$srcdir"/samples/*.tra; do
	grep -q "samples/$(basename "$f")" "$srcdir/Makefile.am" && ok "listed-$(basename "$f")" ||
		bad "listed-$(basename "$f") (add it to dist_samples_DATA)"
done

stage=$tmp/stage
if ! ${MAKE:-make} -s -C "$BUILDDIR" install DESTDIR="$stage" >install.log 2>&1; then
	cat install.log
	echo "FAIL make install"
	exit 1
fi
ok make-install
for f in "$bindir/trac" "$includedir/trart.h" "$libdir/libtrart.a" "$libdir/libtrart.so" \
	"$libdir/pkgconfig/trac.pc" "$pkgdatadir/samples/matmul.tra" "$pkgdatadir/placer.weights"; do
	[ -f "$stage$f" ] && ok "installed-$(basename "$f")" || bad "installed $f"
done
# the LLVM back end's module, where trac has that back end
if "$TRAC" --backend=llvm --version >/dev/null 2>&1; then
	[ -f "$stage$libdir/trac/trac-llvm.so" ] && ok installed-trac-llvm.so || bad "installed $libdir/trac/trac-llvm.so"
fi

# check_prefix NAME BIN: the trac in BIN, alone on PATH, builds and runs a sample
check_prefix() {
	pfx=$1 bin=$2 root=$3
	expect "$pfx-print-runtime-dir" 0 "" env PATH="$bin:$sys_path" trac --print-runtime-dir
	rt_include=$(sed -n 1p out)
	case $rt_include in
	"$root"/*) ok "$pfx-runtime-found-under-prefix" ;;
	*) echo "  $(cat out)"; bad "$pfx-runtime-found-under-prefix" ;;
	esac
	sample=$root${pkgdatadir#"$prefix"}/samples/matmul.tra
	expect "$pfx-compile" 0 "" env -u TRAC_RUNTIME_DIR PATH="$bin:$sys_path" \
		trac "$sample" -D M=40 -D K=24 -D N=16 -o "$pfx-prog"
	expect "$pfx-run" 0 "" "./$pfx-prog" --random=3 --output C="$pfx-c.npy"
	expect "$pfx-interp" 0 "" env PATH="$bin:$sys_path" \
		trac "$sample" -D M=40 -D K=24 -D N=16 --interpret --random=3 --output C="$pfx-ref.npy"
	if [ -n "${PYTHON_NUMPY:-}" ]; then
		"$PYTHON_NUMPY" -c "import numpy as np, sys; a = np.load('$pfx-c.npy'); b = np.load('$pfx-ref.npy'); \
sys.exit(not np.allclose(a, b, rtol=1e-4, atol=1e-5))" && ok "$pfx-agrees" || bad "$pfx-agrees"
	fi
	# the learned placer's default weights, found under the prefix too
	expect "$pfx-placer-learned" 0 "" env PATH="$bin:$sys_path" trac "$sample" --emit=plan --devices=2 --placer=learned
	grep -q "placer learned" out && ok "$pfx-placer-learned-plan" || bad "$pfx-placer-learned-plan"
	expect "$pfx-library" 0 "" env PATH="$bin:$sys_path" trac "$sample" -D M=4 -D K=3 -D N=2 -c -o mm.o
	printf '#include "mm.h"\nint main(void) { return matmul_C_ELEMENTS == 8 ? 0 : 1; }\n' >usemm.c
	expect "$pfx-header-compiles" 0 "" ${CC:-cc} -I"$rt_include" -I. usemm.c -o usemm
	[ -x usemm ] && ./usemm && ok "$pfx-header-macros" || bad "$pfx-header-macros"
	# pkg-config finds this install's runtime, wherever it is now
	if command -v pkg-config >/dev/null 2>&1; then
		pc_inc=$(PKG_CONFIG_PATH="$root${libdir#"$prefix"}/pkgconfig" pkg-config --cflags-only-I trac | sed "s/ *$//")
		[ -f "${pc_inc#-I}/trart.h" ] && ok "$pfx-pkg-config" || { echo "  $pc_inc"; bad "$pfx-pkg-config"; }
	fi
}

check_prefix staged "$stage$bindir" "$stage$prefix"
case $bindir:$includedir:$libdir:$pkgdatadir in
"$prefix"/*:"$prefix"/*:"$prefix"/*:"$prefix"/*)
	mv "$stage$prefix" "$tmp/moved"
	check_prefix moved "$tmp/moved${bindir#"$prefix"}" "$tmp/moved"
	# the override wins over what trac finds
	expect override-env 1 "holds no trart.h" env TRAC_RUNTIME_DIR="$tmp" \
		"$tmp/moved${bindir#"$prefix"}/trac" "$srcdir/samples/matmul.tra" -o never
	expect override-flag 0 "" "$tmp/moved${bindir#"$prefix"}/trac" --print-runtime-dir --runtime-dir="$tmp/moved"
	[ "$(sed -n 1p out)" = "$tmp/moved${includedir#"$prefix"}" ] && ok override-flag-used || bad override-flag-used
	# the LLVM back end is a module, loaded only by a run that renders
	# LLVM: without it (and none at the configured prefix either) --check
	# works and a compile says what is missing
	module=$tmp/moved${libdir#"$prefix"}/trac/trac-llvm.so
	if [ -f "$module" ] && [ ! -e "$libdir/trac/trac-llvm.so" ]; then
		mv "$module" "$tmp/module.so"
		expect no-module-check 0 "" "$tmp/moved${bindir#"$prefix"}/trac" "$srcdir/samples/matmul.tra" --check
		expect no-module-compile 1 "cannot load the LLVM back end: .*trac-llvm.so.*--backend=c compiles without it" \
			"$tmp/moved${bindir#"$prefix"}/trac" "$srcdir/samples/matmul.tra" -o never
		[ -e never ] && bad "no-module-compile: it wrote a program"
		mv "$tmp/module.so" "$module"
	fi
	;;
*) echo "SKIP moving the prefix: bindir, includedir, libdir or pkgdatadir is outside it" ;;
esac

# another prefix for the same tree, then that install moved
case $bindir:$includedir:$libdir:$pkgdatadir in
"$prefix"/*:"$prefix"/*:"$prefix"/*:"$prefix"/*)
	other=$tmp/other
	restore=true
	if ${MAKE:-make} -C "$BUILDDIR" install prefix="$other" >reinstall.log 2>&1; then
		ok reprefix-install
		grep -q 'compiler/build\.lo\|CC  *compiler/build' reinstall.log && ok reprefix-rebuilt-paths ||
			{ echo "  (build.c was not recompiled for the new prefix)"; bad reprefix-rebuilt-paths; }
		check_prefix reprefixed "$other${bindir#"$prefix"}" "$other"
		mv "$other" "$tmp/other-moved"
		check_prefix reprefix-moved "$tmp/other-moved${bindir#"$prefix"}" "$tmp/other-moved"
	else
		tail -20 reinstall.log
		bad reprefix-install
	fi
	;;
esac

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
