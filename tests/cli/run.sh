#!/bin/sh
# run.sh - the CLI test runner (`make cli`): runs every tests/cli/t_*.sh in
# order, each in a fresh temp directory with the helpers of lib.sh, numbers
# the results ("ok N - name" / "not ok N - name"), ends with "N passed, N
# failed" and exits 1 if anything failed.
#
#   BUILD=build-dir FIXTURES=dir sh tests/cli/run.sh [t_name ...]
#
# BUILD (default build) holds bin/ and tests/; FIXTURES (default
# ../shared/conformance) the conformance fixtures; both may be relative to
# the source tree. Arguments select test files by name (t_info or t_info.sh).

here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
: "${BUILD:=build}"
: "${FIXTURES:=../shared/conformance}"
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
case $FIXTURES in /*) ;; *) FIXTURES=$ROOT/$FIXTURES ;; esac
BIN=$BUILD/bin
TOOLS=$BUILD/tests
export ROOT BUILD FIXTURES BIN TOOLS
# Tools must not draw progress bars into the captured output.
PRESTO_QUIET=1
export PRESTO_QUIET

if [ ! -d "$BIN" ]; then
	echo "run.sh: no $BIN (build first: make BUILD=... all)" >&2
	exit 2
fi

files=
if [ $# -gt 0 ]; then
	for a in "$@"; do
		a=${a%.sh}
		files="$files $here/t_${a#t_}.sh"
	done
else
	files=$(ls "$here"/t_*.sh 2>/dev/null)
fi

n=0
passed=0
failed=0
log=$(mktemp "${TMPDIR:-/tmp}/presto-cli.XXXXXX") || exit 2
for t in $files; do
	if [ ! -f "$t" ]; then
		echo "run.sh: no test file $t" >&2
		failed=$((failed + 1))
		continue
	fi
	name=$(basename "$t" .sh)
	echo "# $name"
	dir=$(mktemp -d "${TMPDIR:-/tmp}/presto-cli-$name.XXXXXX") || exit 2
	# A syntax error or an explicit exit in the test file skips "exit 0".
	(cd "$dir" && . "$here/lib.sh" && { . "$t"; _finish; exit 0; }) > "$log" 2>&1
	status=$?
	while IFS= read -r line; do
		case $line in
		"ok - "*)
			n=$((n + 1))
			passed=$((passed + 1))
			echo "ok $n - ${line#ok - }"
			;;
		"not ok - "*)
			n=$((n + 1))
			failed=$((failed + 1))
			echo "not ok $n - ${line#not ok - }"
			;;
		*)
			echo "$line"
			;;
		esac
	done < "$log"
	if [ $status -ne 0 ]; then
		n=$((n + 1))
		failed=$((failed + 1))
		echo "not ok $n - $name: the test script itself exited with status $status"
	fi
	rm -rf "$dir"
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
