#!/bin/sh
# options.sh: the options --help lists are the options the man page
# documents, and the other way round: trac's --help against trac(1)'s
# SYNOPSIS and OPTIONS, and a generated program's --help against the
# section THE GENERATED PROGRAM. Likewise the stages of --emit: those
# --help lists (driver.c's table) against those trac(1) describes under
# --emit, with the files they get under -o DIR.
# Environment: TRAC (the binary), srcdir (the source tree, may be read-only).
set -u
: "${TRAC:?}" "${srcdir:?}"
. "$srcdir/tests/testlib.sh"
test_setup
man=$srcdir/man/trac.1

# help_options: the options a --help text on stdin lists, one a line
# (the first word of each line that starts with two spaces and a dash;
# "-O0 .. -O3" stands for the four levels), without their values.
help_options() {
	sed -n 's/^  \(-[^ ]*\).*/\1/p' | sed 's/^-O0$/-O0 -O1 -O2 -O3/' |
		tr ' ' '\n' | sed 's/[=[].*//' | grep . | sort -u
}

# man_options FIRST LAST: the options a man page section names in its
# synopsis lines (.B/.BI/.RB lines before the first .PP or .TP of the
# section) and its option headings (the line after each .TP), roff undone.
man_options() {
	sed -n "/^\.SH $1/,/^\.SH $2/p" "$man" |
		awk 'NR > 1 && /^\.(SH|PP|TP)/ { synopsis = 0 } NR == 1 { synopsis = 1; next }
		     synopsis && /^\.(B|BI|RB) / { print; next }
		     /^\.TP/ { getline; print }' |
		sed 's/\\-/-/g; s/\\c//g' | grep -o -- '\(^\|[] ("[|]\)-\{1,2\}[A-Za-z][A-Za-z0-9-]*' |
		sed 's/^[] ("[|]//' | sort -u
}

# compare NAME HELPFILE MANFILE: each list must hold the other.
compare() {
	only_help=$(comm -23 "$2" "$3" | tr '\n' ' ')
	only_man=$(comm -13 "$2" "$3" | tr '\n' ' ')
	if [ -n "$only_help" ]; then
		echo "  in --help but not in the man page: $only_help"
		bad "$1-help-in-man"
	else
		ok "$1-help-in-man"
	fi
	if [ -n "$only_man" ]; then
		echo "  in the man page but not in --help: $only_man"
		bad "$1-man-in-help"
	else
		ok "$1-man-in-help"
	fi
}

"$TRAC" --help | help_options >trac.help
{ man_options 'SYNOPSIS' 'DESCRIPTION'; man_options 'OPTIONS' 'THE GENERATED PROGRAM'; } | sort -u >trac.man
[ -s trac.help ] && [ -s trac.man ] && ok trac-lists-read || bad trac-lists-read
compare trac trac.help trac.man

# help_stages: "NAME FILE" for each stage in --help's list of stages
# (a line "  NAME   what it is (NAME.EXT)"), FILE without the NAME.
help_stages() {
	sed -n '/^Stages of --emit/,/^$/s/^  \([a-z][a-z-]*\)  .*(NAME\.\([^)]*\))$/\1 \2/p'
}

# man_emit: the --emit entry of trac(1)'s OPTIONS, from its heading to
# the end of its list of stages (.RS/.RE nest: taskgraph has its own).
man_emit() {
	sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$man" |
		awk '/^\.BI \\-\\-emit= / { on = 1 } on { print } on && /^\.RS/ { depth++ }
		     on && /^\.RE/ && --depth == 0 { exit }'
}

"$TRAC" --help | help_stages >stages.help
cut -d' ' -f1 stages.help | sort >stages.help.names
# the stages trac(1) lists: the headings (.TP) of the first level of the list
man_emit | awk '/^\.RS/ { depth++ } /^\.RE/ { depth-- } depth == 1 && /^\.TP/ { getline; print }' |
	sed 's/^\.B //; s/\\-/-/g' | sort >stages.man
# the LLVM back end's stages (llvm, llvm-unopt) exist only in a trac built with it
if ! "$TRAC" --version | grep -q "llvm (LLVM"; then
	grep -v '^llvm' stages.man >stages.man.c && mv stages.man.c stages.man
fi
[ "$(wc -l <stages.help)" -ge 5 ] && [ -s stages.man ] && ok stages-lists-read || bad stages-lists-read
compare stages stages.help.names stages.man
# trac(1) says a stage's file is DIR/NAME.STAGE "except" those it names
# in bold (tra.txt for tra ...): each stage whose file is not its name
# must be among them
man_emit >emit.man
missing=
while read -r stage ext; do
	[ "$ext" = "$stage" ] || grep -qx "\.B $ext" emit.man || missing="$missing $stage:$ext"
done <stages.help
if [ -z "$missing" ]; then
	ok stages-files-in-man
else
	echo "  files under -o DIR that trac(1) does not name:$missing"
	bad stages-files-in-man
fi

printf 'size N = 2\ninput X[N]\nY[i] = X[i]\noutput Y\n' >p.tra
"$TRAC" p.tra -o p || { echo "FAIL compile"; exit 1; }
./p --help | help_options >prog.help
man_options 'THE GENERATED PROGRAM' 'LIBRARY MODE' >prog.man
[ -s prog.help ] && [ -s prog.man ] && ok prog-lists-read || bad prog-lists-read
compare prog prog.help prog.man

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
