#!/bin/sh
# lib.sh: library mode through a plain Makefile: `trac -c scale.tra`
# gives scale.o and scale.h, which a small C program links and checks.
set -u
: "${TRAC:?}" "${srcdir:?}" "${TRART_LIBS:?}"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cp "$srcdir"/tests/lib/lib.mk "$srcdir"/tests/lib/scale.tra "$srcdir"/tests/lib/use_scale.c \
	"$srcdir"/tests/lib/use_scale_cpp.cpp "$srcdir"/tests/lib/dlopen_scale.c \
	"$srcdir"/tests/lib/ctypes_scale.py "$tmp"/ || exit 99
cd "$tmp" || exit 99
make -s -f lib.mk TRAC="$TRAC" CC="${CC:-cc}" TRART_LIBS="$TRART_LIBS" use_scale || { echo "FAIL build"; echo "0 passed, 1 failed"; exit 1; }
[ -f scale.h ] && [ -f scale.o ] || { echo "FAIL scale.h and scale.o"; exit 1; }
# (a broken runtime may hang concurrent calls: that is a failure too)
if command -v timeout >/dev/null 2>&1; then
	timeout 120 ./use_scale >out
else
	./use_scale >out
fi
rc=$?
[ "$rc" -eq 124 ] && echo "FAIL use_scale hung (killed after 120 s)" >>out
# C++, a shared library through dlopen, and Python's ctypes
mk() { make -s -f lib.mk TRAC="$TRAC" CC="${CC:-cc}" TRART_LIBS="$TRART_LIBS" "$@" >mk.out 2>&1; }
if command -v "${CXX:-g++}" >/dev/null 2>&1; then
	if mk use_scale_cpp; then ./use_scale_cpp >>out; else cat mk.out; echo "FAIL C++ build" >>out; fi
else
	echo "SKIP C++: no g++" >>out
fi
if mk dlopen_scale libscale.so; then
	[ -f libscale.h ] && echo "PASS --shared writes libscale.so and libscale.h" >>out ||
		echo "FAIL --shared wrote no libscale.h" >>out
	nm -D --undefined-only libscale.so | grep -q 'trart_' &&
		echo "FAIL libscale.so needs trart_ symbols from elsewhere" >>out ||
		echo "PASS libscale.so carries the runtime" >>out
	./dlopen_scale "$PWD/libscale.so" >>out
	py=${PYTHON_NUMPY:-}
	if [ -n "$py" ]; then
		"$py" ctypes_scale.py "$PWD/libscale.so" >>out 2>&1 || echo "FAIL ctypes" >>out
	else
		echo "SKIP ctypes: no python3 with numpy" >>out
	fi
else
	cat mk.out
	echo "FAIL --shared build" >>out
fi
cat out
echo "$(grep -c '^PASS' out) passed, $(grep -c '^FAIL' out) failed"
! grep -q '^FAIL' out
