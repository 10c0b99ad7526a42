# lib.sh - helpers for the CLI tests (sourced by run.sh before each t_*.sh).
#
# A test file is a POSIX sh script made of cases:
#
#   tcase "presto-info rejects a truncated stream"
#   "$TOOLS/mkstream" truncated > t.msgpack
#   expect_exit 2 "$BIN/presto-info" t.msgpack
#   expect_err "truncated stream"
#
# A case passes when none of its expectations failed. Each test file runs
# in a fresh empty directory (its cwd), removed afterwards, with:
#   BIN       the tools ($BUILD/bin, absolute)
#   TOOLS     test helpers built from tests/tools/*.c ($BUILD/tests)
#   FIXTURES  the conformance fixtures (absolute; may not exist: use skip)
#   ROOT      the source tree
#
# and these paths and command prefixes for the GPU path without a GPU:
#   fake      tests/fakecuda's stand-in driver (FAKECUDA=N devices)
#   emu       the CUDA backend built on kernels/emu (absent without make emu)
#   nodrv     env that points the tools at a libcuda that does not exist
#   gpu       env with the stand-in driver (2 devices) and the emulated backend
#
# Output protocol (run.sh numbers and counts): "ok - NAME",
# "not ok - NAME", "ok - NAME # SKIP reason", diagnostics start with "#".

fake=$TOOLS/libfakecuda.so
emu=$TOOLS/emu/libpresto-cuda.so
nodrv="env PRESTO_LIBCUDA=$PWD/no-such-libcuda.so"
gpu="env PRESTO_LIBCUDA=$fake FAKECUDA=2 PRESTO_CUDA_BACKEND=$emu"

_name=
_state=none   # none | pass | fail | skip
_skip_reason=
OUT=.cli_stdout
ERR=.cli_stderr
RC=0

_finish() {
	case $_state in
	pass) echo "ok - $_name" ;;
	fail) echo "not ok - $_name" ;;
	skip) echo "ok - $_name # SKIP $_skip_reason" ;;
	esac
	_state=none
}

# tcase NAME: start a case (ends the previous one).
tcase() {
	_finish
	_name=$1
	_state=pass
}

# fail MESSAGE: mark the current case failed, with a diagnostic.
fail() {
	echo "# $*"
	_state=fail
}

# skip REASON: the current case is skipped (counts as passed) unless it failed.
skip() {
	[ "$_state" = fail ] || { _state=skip; _skip_reason=$*; }
}

_show() {
	echo "#   command: $_cmd"
	echo "#   exit status: $RC"
	if [ -s "$ERR" ]; then
		sed -n '1,5s/^/#   stderr: /p' "$ERR"
	fi
	if [ -s "$OUT" ]; then
		sed -n '1,3s/^/#   stdout: /p' "$OUT"
	fi
}

# run_in FILE CMD...: run CMD with stdin from FILE; sets RC, OUT, ERR.
run_in() {
	_in=$1
	shift
	_cmd=$*
	"$@" < "$_in" > "$OUT" 2> "$ERR"
	RC=$?
}

# expect_exit_in FILE CODE CMD...: as expect_exit, stdin from FILE.
expect_exit_in() {
	_in=$1
	_want=$2
	shift 2
	run_in "$_in" "$@"
	_check_exit "$_want" "$1"
}

# expect_exit CODE CMD...: CMD (stdin /dev/null) exits with CODE. For a
# failure (CODE != 0) stdout must also be empty and stderr must start with
# "TOOL: " (the tool's name) - every presto tool reports that way.
expect_exit() {
	_want=$1
	shift
	run_in /dev/null "$@"
	_check_exit "$_want" "$1"
}

_check_exit() {
	_tool=$(basename "$2")
	case $_tool in presto-*) ;; *) _tool='presto-[a-z0-9-]*' ;; esac
	if [ "$RC" != "$1" ]; then
		fail "expected exit status $1, got $RC"
		_show
		return 1
	fi
	[ "$1" = 0 ] && return 0
	if [ -s "$OUT" ]; then
		fail "stdout is not empty on failure"
		_show
		return 1
	fi
	if ! head -n 1 "$ERR" | grep -q "^$_tool: ."; then
		fail "stderr does not start with a '$_tool: ' message"
		_show
		return 1
	fi
	return 0
}

# expect_ok CMD...: exit status 0.
expect_ok() {
	expect_exit 0 "$@"
}

# expect_out TEXT / expect_err TEXT: the last command's stdout / stderr
# contains TEXT (a fixed string).
expect_out() {
	grep -F -q -e "$1" "$OUT" || { fail "stdout lacks '$1'"; _show; return 1; }
}

expect_err() {
	grep -F -q -e "$1" "$ERR" || { fail "stderr lacks '$1'"; _show; return 1; }
}

# expect_out_not TEXT: stdout does not contain TEXT.
expect_out_not() {
	if grep -F -q -e "$1" "$OUT"; then
		fail "stdout contains '$1'"
		_show
		return 1
	fi
}

# expect_file PATH / expect_no_file PATH
expect_file() {
	[ -s "$1" ] || { fail "file '$1' missing or empty"; return 1; }
}

expect_no_file() {
	[ ! -e "$1" ] || { fail "file '$1' exists"; return 1; }
}

# expect_clean_dir: no file but the harness's own in the cwd except the
# names given (a failed command left no temp files behind).
expect_clean_dir() {
	for _f in .* *; do
		case $_f in .|..|"$OUT"|"$ERR"|'*') continue ;; esac
		_keep=0
		for _k in "$@"; do [ "$_f" = "$_k" ] && _keep=1; done
		[ $_keep = 1 ] || { fail "unexpected file '$_f' left in the directory"; return 1; }
	done
}

# have_fixture NAME: the fixture file exists (else the case is skipped).
have_fixture() {
	[ -f "$FIXTURES/$1" ] || { skip "no $FIXTURES/$1"; return 1; }
}
