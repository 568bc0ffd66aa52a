#!/bin/sh
# dot.sh: --emit=dot renders with Graphviz (skipped, exit 77, without it).
set -u
: "${TRAC:?}" "${srcdir:?}"
command -v dot >/dev/null 2>&1 || { echo "SKIP: Graphviz's dot is not installed"; exit 77; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
for f in mlp attention chain; do
	"$TRAC" "$srcdir/samples/$f.tra" --emit=dot --devices=4 >"$tmp/$f.dot" || exit 1
	dot -Tsvg "$tmp/$f.dot" >"$tmp/$f.svg" || { echo "FAIL $f: dot rejects it"; exit 1; }
	grep -q '<svg' "$tmp/$f.svg" || { echo "FAIL $f: no picture"; exit 1; }
	echo "PASS $f"
done
