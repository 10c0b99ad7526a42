#!/bin/sh
# run.sh - every test that needs no GPU (`make test`): unit tests,
# conformance against the reference fixtures, CLI tests, man page coverage.
# Prints each suite's lines and one closing "N passed, N failed" line.
#
#   BUILD=build FIXTURES=../shared/conformance sh tests/run.sh
: "${BUILD:=build}"
: "${FIXTURES:=../shared/conformance}"
PRESTO_FIXTURES=$FIXTURES
export BUILD FIXTURES PRESTO_FIXTURES
passed=0
failed=0
count() { # count NAME STATUS
	if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "ok - $1"; else failed=$((failed + 1)); echo "not ok - $1"; fi
}

run_binaries() { # run_binaries LABEL PATTERN: every test binary, its output's tail when it fails
	for t in $2; do
		[ -x "$t" ] || continue
		out=$("$t" 2>&1)
		rc=$?
		[ $rc = 0 ] || printf '%s\n' "$out" | tail -n 20 | sed 's/^/# /'
		count "$1 $(basename "$t")" $rc
	done
}

echo "== unit tests"
run_binaries unit "$BUILD/tests/test_*"

echo "== CUDA kernels on the CPU emulator (kernels/emu)"
run_binaries emulated "$BUILD/tests/emu/test_*"

echo "== the same with the emulator's threads in reverse order (races)"
# A GPU runs the threads between two barriers in any order: every result
# the tests check must have the same bytes when blocks, warps and lanes run
# in the opposite order (gpucheck.h's digests)
dig=$(mktemp -d) || exit 2
for t in "$BUILD"/tests/emu/test_*; do
	[ -x "$t" ] || continue
	n=$(basename "$t")
	PRESTO_TEST_DIGEST=$dig/$n.fwd "$t" >/dev/null 2>&1
	a=$?
	PRESTO_EMU_ORDER=reverse PRESTO_TEST_DIGEST=$dig/$n.rev "$t" >"$dig/$n.out" 2>&1
	b=$?
	rc=0
	if [ $a != 0 ] || [ $b != 0 ]; then
		tail -n 20 "$dig/$n.out" | sed 's/^/# /'
		rc=1
	elif ! cmp -s "$dig/$n.fwd" "$dig/$n.rev" 2>/dev/null && [ -f "$dig/$n.fwd" ]; then
		diff "$dig/$n.fwd" "$dig/$n.rev" | head -n 10 | sed 's/^/# /'
		rc=1
	fi
	count "reverse order $n" $rc
done
rm -rf "$dig"

echo "== conformance on the CUDA emulator's GPU (a stand-in driver, the emulated backend)"
if [ -d "$FIXTURES" ] && [ -f "$BUILD"/tests/emu/libpresto-cuda.so ]; then
	# every fixture, the models on the emulated GPU (fp32)
	env PRESTO_LIBCUDA="$BUILD"/tests/libfakecuda.so FAKECUDA=1 PRESTO_CUDA_BACKEND="$BUILD"/tests/emu/libpresto-cuda.so \
		"$BUILD"/tests/conformance --device cuda "$FIXTURES"
	count "conformance on the emulated GPU" $?
else
	echo "# no fixtures or no emulated backend: not run"
fi

echo "== conformance ($FIXTURES)"
if [ -d "$FIXTURES" ]; then
	"$BUILD"/tests/conformance "$FIXTURES"
	count "conformance" $?
else
	echo "# no fixtures at $FIXTURES: conformance not run"
	count "conformance fixtures present" 1
fi

echo "== command-line tests"
BUILD=$BUILD FIXTURES=$FIXTURES sh tests/cli/run.sh
count "cli" $?

echo "== corpus pipeline (skips without mma/fluidsynth)"
sh pipelines/corpus/test.sh
count "corpus pipeline" $?

echo "== man pages"
sh tests/check-man.sh "$BUILD"/bin
count "man pages cover every option" $?

echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
