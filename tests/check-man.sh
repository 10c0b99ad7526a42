#!/bin/sh
# check-man.sh BINDIR - for every presto-* tool in BINDIR, check that each
# long option its --help prints (--xxx) is documented in man/man1/TOOL.1.
# Prints one line per tool; exits 1 if a page is missing or lacks an option.
bindir=${1:?usage: check-man.sh BINDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
found=0
for tool in "$bindir"/presto-*; do
	[ -x "$tool" ] || continue
	found=1
	name=$(basename "$tool")
	page=$root/man/man1/$name.1
	if [ ! -f "$page" ]; then
		echo "check-man: $name: no man page (man/man1/$name.1)"
		status=1
		continue
	fi
	if ! help=$("$tool" --help 2>&1); then
		echo "check-man: $name: --help failed"
		status=1
		continue
	fi
	opts=$(printf '%s\n' "$help" | grep -o -e '--[a-z0-9][a-z0-9-]*' | sort -u)
	if [ -z "$opts" ]; then
		echo "check-man: $name: --help lists no long options"
		status=1
		continue
	fi
	# roff to plain text: \- is a hyphen, \fB..\fR are font changes.
	text=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\&//g' "$page")
	missing=
	n=0
	for o in $opts; do
		n=$((n + 1))
		printf '%s\n' "$text" | grep -q -E -e "$o(\$|[^a-z0-9-])" || missing="$missing $o"
	done
	if [ -n "$missing" ]; then
		echo "check-man: $name: not in man/man1/$name.1:$missing"
		status=1
	else
		echo "check-man: $name: ok ($n options)"
	fi
done
if [ $found = 0 ]; then
	echo "check-man: no presto-* tools in $bindir"
	exit 1
fi
exit $status
