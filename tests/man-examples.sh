#!/bin/sh
# man-examples.sh: run the examples in trac's man pages, so that the
# documentation cannot go stale.
#
# usage: sh man-examples.sh TRAC MANPAGE... [SRCDIR]
#
#   TRAC     the trac to test; a relative path is taken from the current
#            directory, a bare name is looked up on PATH.
#   MANPAGE  a man page in man(7) roff. Each .EX/.EE block is an example;
#            the line right before .EX may mark it with a roff comment
#            `.\" example: KIND`.
#            - In a section 5 page (a file name ending in .5, i.e. tra.5),
#              every block is a complete .tra program, given to
#              `TRAC FILE.tra --check`, which must exit 0; a block marked
#              `error` must be rejected with exit status 1, and one marked
#              `warning` must exit 0 with a warning.
#            - In any page, a block marked `shell` is a shell script, run by
#              `sh -e` in a fresh empty directory with `trac` on PATH
#              running TRAC and $SAMPLES naming SRCDIR/samples (and $SRCDIR
#              the source tree); it must exit 0.
#            - Unmarked blocks in other pages (trac.1) are not run.
#            Inside a block, lines starting with .\" are dropped and roff
#            escapes are undone: \e \- \(aq \(dq \& and the like.
#   SRCDIR   the source tree, needed for $SAMPLES: an argument that is a
#            directory, else the SRCDIR environment variable, else the
#            directory above this script's.
#
# Prints PASS or FAIL for each example run, then "N passed, M failed".
# Exit status 0 when all pass, 1 when any fails, 2 on a usage error.
# Everything is written under one mktemp -d directory that is removed at
# the end, so the source tree may be read-only and the current directory
# a separate build directory.

usage() {
	echo "usage: sh man-examples.sh TRAC MANPAGE... [SRCDIR]" >&2
	exit 2
}

[ $# -ge 2 ] || usage
trac=$1
shift
case $trac in
/*) ;;
*/*) trac=$(pwd)/$trac ;;
*) trac=$(command -v "$trac") || { echo "man-examples.sh: $1: not found" >&2; exit 2; } ;;
esac
if [ ! -f "$trac" ] || [ ! -x "$trac" ]; then
	echo "man-examples.sh: $trac: not an executable file" >&2
	exit 2
fi

for arg do
	[ -d "$arg" ] && SRCDIR=$arg
done
: "${SRCDIR:=$(dirname "$0")/..}"
SRCDIR=$(cd "$SRCDIR" && pwd) || usage
SAMPLES=$SRCDIR/samples
export SRCDIR SAMPLES

tmp=$(mktemp -d "${TMPDIR:-/tmp}/man-examples.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# `trac` on PATH for shell examples: a wrapper rather than a link, so that
# a libtool wrapper script still finds its real program.
mkdir "$tmp/bin"
quoted=$(printf '%s\n' "$trac" | sed "s/'/'\\\\''/g")
printf '#!/bin/sh\nexec '\''%s'\'' "$@"\n' "$quoted" >"$tmp/bin/trac"
chmod +x "$tmp/bin/trac"

# extract PAGE DIR: writes each block of PAGE to DIR/N.ex and, to DIR/index,
# one line "N LINE KIND" per block: its number, the line of its .EX, and its
# marker (plain if none; unterminated if no .EE follows).
extract() {
	awk -v dir="$2" '
	function glyph(name) {
		if (name == "aq") return "\047"
		if (name == "dq") return "\""
		if (name == "ga") return "`"
		if (name == "ti") return "~"
		if (name == "ha") return "^"
		if (name == "rs") return "\\"
		if (name == "hy" || name == "mi" || name == "en") return "-"
		if (name == "em") return "--"
		return "\\(" name
	}
	function unescape(s,    out, i, c, j) {
		out = ""
		while ((i = index(s, "\\")) > 0) {
			out = out substr(s, 1, i - 1)
			c = substr(s, i + 1, 1)
			s = substr(s, i + 2)
			if (c == "e" || c == "\\") out = out "\\"
			else if (c == "(") { out = out glyph(substr(s, 1, 2)); s = substr(s, 3) }
			else if (c == "[") {
				j = index(s, "]")
				out = out glyph(substr(s, 1, j - 1)); s = substr(s, j + 1)
			} else if (c == "f") {
				# a font change: \fB, \f(CW or \f[CR]
				c = substr(s, 1, 1)
				if (c == "(") s = substr(s, 4)
				else if (c == "[") s = substr(s, index(s, "]") + 1)
				else s = substr(s, 2)
			} else if (c == "\"") {
				return out    # a comment to the end of the line
			} else if (c == "&" || c == "|" || c == "^" || c == ")" || c == "") ;
			else if (c == " " || c == "~" || c == "0") out = out " "
			else out = out c    # \- \. \" and the rest: the character
		}
		return out s
	}
	BEGIN { n = 0; inblock = 0; prev = "" }
	!inblock && /^\.EX([ \t]|$)/ {
		n++
		inblock = 1
		start = NR
		file = dir "/" n ".ex"
		printf "" >file
		kind = "plain"
		if (prev ~ /^\.\\"[ \t]*example:/) {
			kind = prev
			sub(/^\.\\"[ \t]*example:[ \t]*/, "", kind)
			sub(/[ \t].*$/, "", kind)
		}
		next
	}
	!inblock { prev = $0; next }
	/^\.EE([ \t]|$)/ {
		inblock = 0
		close(file)
		print n, start, kind >(dir "/index")
		prev = $0
		next
	}
	/^\.\\"/ { next }
	{ print unescape($0) >file }
	END { if (inblock) print n, start, "unterminated" >(dir "/index") }
	' "$1"
}

passed=0
failed=0

pass() {
	echo "PASS $1"
	passed=$((passed + 1))
}

# fail LABEL WHY [OUTPUT-FILE]
fail() {
	echo "FAIL $1: $2"
	[ $# -lt 3 ] || sed -e 's/^/    /' -e 20q "$3"
	failed=$((failed + 1))
}

# check LABEL FILE WANT: runs trac --check on FILE, expecting exit status WANT.
check() {
	cp "$2" "$tmp/run/example.tra"
	"$trac" "$tmp/run/example.tra" --check </dev/null >"$tmp/run/out" 2>&1
	rc=$?
	if [ "$rc" -eq "$3" ]; then
		pass "$1"
	else
		fail "$1" "trac --check exited $rc, expected $3" "$tmp/run/out"
	fi
}

# warned LABEL: the example just checked printed a warning.
warned() {
	grep -q ': warning: ' "$tmp/run/out" || fail "$1" "no warning printed" "$tmp/run/out"
}

# shell LABEL FILE: runs FILE with sh -e in a fresh directory.
shell() {
	rm -rf "$tmp/run/work"
	mkdir "$tmp/run/work"
	(cd "$tmp/run/work" && PATH=$tmp/bin:$PATH sh -e "$2") </dev/null >"$tmp/run/out" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "$1"
	else
		fail "$1" "shell example exited $rc" "$tmp/run/out"
	fi
}

for page do
	[ -d "$page" ] && continue
	name=$(basename "$page")
	ex=$tmp/ex
	rm -rf "$ex" "$tmp/run"
	mkdir "$ex" "$tmp/run"
	: >"$ex/index"
	if [ ! -r "$page" ] || ! extract "$page" "$ex"; then
		fail "$name" "cannot read the examples"
		continue
	fi
	case $name in
	*.5) section5=yes ;;
	*) section5=no ;;
	esac
	if [ "$section5" = yes ] && [ ! -s "$ex/index" ]; then
		fail "$name" "no .EX/.EE examples found"
		continue
	fi
	while read -r n line kind; do
		label=$name:$line
		case $section5/$kind in
		*/unterminated) fail "$label" ".EX without .EE" ;;
		*/shell) shell "$label (shell)" "$ex/$n.ex" ;;
		yes/plain) check "$label" "$ex/$n.ex" 0 ;;
		yes/error) check "$label (error)" "$ex/$n.ex" 1 ;;
		yes/warning) check "$label (warning)" "$ex/$n.ex" 0 && warned "$label" ;;
		no/plain) ;;
		*) fail "$label" "marker 'example: $kind' does not apply to $name" ;;
		esac
	done <"$ex/index"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
