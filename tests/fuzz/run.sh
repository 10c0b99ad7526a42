#!/bin/sh
# run.sh - build and run the libFuzzer targets (`make fuzz`).
#
#   sh tests/fuzz/run.sh [TARGET...]      (default: every tests/fuzz/*.c)
#
# Each target is compiled with clang -fsanitize=fuzzer,address,undefined
# together with the library sources it needs (compiled the same way, not the
# gcc archive), given a seed corpus (valid and broken streams from
# tests/tools/mkstream.c, small safetensors files, the conformance
# fixture number_cond.safetensors when present) and run for FUZZ_SECONDS
# (default 30) seconds. Exit status 1 if a target crashed (the input is kept
# under $BUILD/fuzz/artifacts/), 2 if something could not be built.
#
# Environment: BUILD (default build), FIXTURES (default
# ../shared/conformance), FUZZ_SECONDS, CLANG (default clang), FUZZ_JOBS
# (parallel fuzzing processes per target, default 1).

set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 2
: "${BUILD:=build}"
: "${FIXTURES:=../shared/conformance}"
: "${FUZZ_SECONDS:=30}"
: "${CLANG:=clang}"
: "${FUZZ_JOBS:=1}"
out=$BUILD/fuzz
mkdir -p "$out/artifacts" || exit 2

if ! command -v "$CLANG" > /dev/null 2>&1; then
	echo "fuzz: $CLANG not found (set CLANG=...)" >&2
	exit 2
fi

# Library sources per target (only what each needs: no BLAS, no OpenMP).
CORE="lib/error.c lib/tensor.c"
src_fuzz_stream="$CORE formats/stream.c formats/stream_read.c"
src_fuzz_safetensors="$CORE formats/safetensors.c"
src_mkstream="$CORE formats/stream.c formats/stream_read.c"

CFLAGS="-std=c11 -g -O1 -fno-omit-frame-pointer -Ilib -Iformats -D_GNU_SOURCE -DPRESTO_VERSION=\"fuzz\""
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
LIBS="-lmsgpackc -ljansson -lm"

targets=$*
if [ -z "$targets" ]; then
	for f in "$here"/*.c; do
		targets="$targets $(basename "$f" .c)"
	done
fi

build() { # NAME SOURCES... -> $out/NAME
	name=$1
	shift
	echo "fuzz: building $name"
	# shellcheck disable=SC2086
	$CLANG $CFLAGS "$@" $LIBS -o "$out/$name"
}

# Seed corpora.
build mkstream $SAN $src_mkstream tests/tools/mkstream.c || exit 2
seeds=$out/seeds
rm -rf "$seeds"
mkdir -p "$seeds/fuzz_stream" "$seeds/fuzz_safetensors" || exit 2
for v in valid empty wrongkind truncated nocount badcount garbage baddtype shape nan badkind badmagic; do
	"$out/mkstream" $v > "$seeds/fuzz_stream/$v" || exit 2
done
"$out/mkstream" valid 1 > "$seeds/fuzz_stream/one"
cat "$seeds/fuzz_stream/one" "$seeds/fuzz_stream/empty" > "$seeds/fuzz_stream/concat"

st_seed() { # FILE JSON [DATA_BYTES]: header length (u64 LE), JSON, zero data
	len=$(printf '%s' "$2" | wc -c)
	{
		printf "$(printf '\\%03o\\%03o' $((len % 256)) $((len / 256)))\\000\\000\\000\\000\\000\\000"
		printf '%s' "$2"
		head -c "${3:-0}" /dev/zero
	} > "$1"
}
st_seed "$seeds/fuzz_safetensors/f32" '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"__metadata__":{"format":"pt"}}' 24
st_seed "$seeds/fuzz_safetensors/mixed" '{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[],"data_offsets":[8,10]},"i":{"dtype":"I64","shape":[1,0],"data_offsets":[10,10]}}' 10
st_seed "$seeds/fuzz_safetensors/bad" '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,99]}}' 24
if [ -f "$FIXTURES/number_cond.safetensors" ]; then
	cp "$FIXTURES/number_cond.safetensors" "$seeds/fuzz_safetensors/number_cond"
fi

# Dictionary for the stream target: the keys and values of the format as
# MessagePack strings.
dict=$out/stream.dict
: > "$dict"
for w in type header record end magic presto-stream version kind cond latent audio producer model \
	id params tensors dtype shape data count f32 f16 bf16 f64 i64 i32 prompt sigmas; do
	n=$(printf '%s' "$w" | wc -c)
	printf '"\\x%02x%s"\n' $((160 + n)) "$w" >> "$dict"
done

status=0
for t in $targets; do
	eval "srcs=\${src_$t:-}"
	if [ -z "$srcs" ]; then
		echo "fuzz: unknown target $t (add its sources to tests/fuzz/run.sh)" >&2
		status=2
		continue
	fi
	# shellcheck disable=SC2154
	build "$t" -fsanitize=fuzzer $SAN $srcs "tests/fuzz/$t.c" || { status=2; continue; }
	corpus=$out/corpus-$t
	mkdir -p "$corpus"
	extra=
	[ "$t" = fuzz_stream ] && extra="-dict=$dict"
	[ "$FUZZ_JOBS" -gt 1 ] && extra="$extra -jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS"
	echo "fuzz: running $t for $FUZZ_SECONDS s"
	# shellcheck disable=SC2086
	if "$out/$t" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$t-" $extra "$corpus" "$seeds/$t" > "$out/$t.log" 2>&1; then
		echo "fuzz: $t: ok ($(ls "$corpus" | wc -l) corpus inputs)"
		grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$out/$t.log" | sed 's/^/fuzz:   /'
	else
		echo "fuzz: $t: CRASH (log $out/$t.log, inputs in $out/artifacts/)"
		grep -E 'ERROR|SUMMARY|runtime error' "$out/$t.log" | head -5 | sed 's/^/fuzz:   /'
		status=1
	fi
done
exit $status
