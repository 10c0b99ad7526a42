#!/bin/sh
# run.sh - everything a lent GPU machine is for, in one run (its time is
# short): the kernel and model tests against the CPU reference, the same
# under compute-sanitizer, and the benchmarks at real model sizes. Run on
# the device machine from the repository root, after pipelines/gpu/pack.sh
# here, with .gpu carried:
#
#   sh pipelines/gpu/run.sh [tests|bench|reference|all]     (default all)
#
# Results go to $OUT (the device run's returned folder; ./gpu-out without
# one): device.txt, test-gpu.log, sanitizer.log, bench-*.json, bench.log,
# reference.json (the PyTorch reference, when pack.sh --reference was used).
PART=${1:-all}
: "${OUT:=$PWD/gpu-out}"
mkdir -p "$OUT"
B=$PWD/.gpu/build
SYS=/tmp/presto-sys
# the Debian shared libraries, unpacked beside the system (never over it)
mkdir -p "$SYS"
for d in .gpu/debs/*.deb; do
	dpkg-deb -x "$d" "$SYS" 2> /dev/null ||
		(cd "$SYS" && ar p "$OLDPWD/$d" "$(ar t "$OLDPWD/$d" | grep '^data.tar')" | tar -x -J -f - 2> /dev/null ||
			ar p "$OLDPWD/$d" "$(ar t "$OLDPWD/$d" | grep '^data.tar')" | tar -x --zstd -f -)
done
L=$SYS/usr/lib/x86_64-linux-gnu
CUBLAS=$(dirname "$(find /usr/local /usr/lib /opt -name 'libcublas.so.13' 2> /dev/null | head -n 1)")
export LD_LIBRARY_PATH="$L:$L/openblas-pthread:$L/blas:$L/lapack:$CUBLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PRESTO_QUIET=1

{
	date -u
	nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
	"$B"/bin/presto-info --devices 2>&1
	echo "libcublas: $CUBLAS"
} > "$OUT/device.txt"
cat "$OUT/device.txt"

if [ "$PART" = tests ] || [ "$PART" = all ]; then
	for t in test_kernels test_dit test_vae test_t5; do
		echo "== $t"
		"$B/tests/gpu/$t"
		echo "exit $?"
	done > "$OUT/test-gpu.log" 2>&1
	if [ -d .gpu/conformance ]; then
		echo "== conformance --device cuda" >> "$OUT/test-gpu.log"
		"$B"/tests/conformance --device cuda .gpu/conformance >> "$OUT/test-gpu.log" 2>&1
		echo "exit $?" >> "$OUT/test-gpu.log"
	fi
	grep -E "^(FAIL|passed|FAILED|exit|SKIP|conformance:)" "$OUT/test-gpu.log"
	if command -v compute-sanitizer > /dev/null; then
		for t in test_kernels test_dit test_vae test_t5; do
			echo "== memcheck $t"
			compute-sanitizer --tool memcheck --leak-check full "$B/tests/gpu/$t" | tail -n 4
			echo "== racecheck $t"
			compute-sanitizer --tool racecheck "$B/tests/gpu/$t" | tail -n 3
		done > "$OUT/sanitizer.log" 2>&1
		grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/sanitizer.log"
	fi
fi

if [ "$PART" = bench ] || [ "$PART" = all ]; then
	M=/tmp/presto-models
	mkdir -p "$M"
	[ -f "$M/sao1/config.json" ] || "$B"/tests/mkmodel "$M/sao1" --size sao1 --dtype bf16 > /dev/null
	[ -f "$M/saos/config.json" ] || "$B"/tests/mkmodel "$M/saos" --size sao-small --objective rf --dtype bf16 > /dev/null
	bench() { # NAME ARGS...: one JSON report
		name=$1
		shift
		echo "== $name: presto-bench $*"
		"$B"/bin/presto-bench --json --device cuda "$@" > "$OUT/bench-$name.json"
		echo "exit $?"
		cat "$OUT/bench-$name.json"
	}
	{
		# SAO 1.0 recipe: 47.55 s, dpmpp-3m-sde 100 steps, cfg 7 (the model's defaults)
		bench sao1 -m "$M/sao1" --seconds 47.55 --runs 3
		bench sao1-fp32 -m "$M/sao1" --seconds 47.55 --runs 1 --warmup 0 --precision fp32 -n 10
		# the Presto-LS shape: 4 presto steps, no CFG, 60% of the blocks, 32 s
		bench presto-ls -m "$M/sao1" --seconds 32 --sampler presto -n 4 --cfg 1 --keep 0.6 --runs 5
		# SAO Small: 8 pingpong steps, 11.9 s
		bench saos -m "$M/saos" --seconds 11.89 --sampler pingpong -n 8 --cfg 1 --runs 5
	} > "$OUT/bench.log" 2>&1
	grep -E '^==|exit|end_to_end_s|"sample_s|"decode_s|"encode_s|gpu_peak' "$OUT/bench.log"
fi

if { [ "$PART" = reference ] || [ "$PART" = all ]; } && [ -d .gpu/ref ]; then
	echo "== the PyTorch reference (pipelines/gpu/reference.py)"
	PYTHONUNBUFFERED=1 python3 pipelines/gpu/reference.py --ref .gpu/ref > "$OUT/reference.json" 2> "$OUT/reference.log"
	echo "exit $?"
	grep -E '"preset"|end_to_end_s|"sample_s|"decode_s|"error' "$OUT/reference.json"
	tail -n 5 "$OUT/reference.log"
fi
