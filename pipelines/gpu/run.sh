#!/bin/sh
# run.sh - everything a lent GPU machine is for (its time is short): the
# kernel and model tests against the CPU reference, the same under
# compute-sanitizer, the benchmarks at real model sizes, the PyTorch
# reference on the same GPU, and a kernel profile. Run on the device machine
# from the repository root, after pipelines/gpu/pack.sh here, with .gpu
# carried; each part fits one device call (10 minutes; sanitizer and profile
# may need one each):
#
#   sh pipelines/gpu/run.sh PART...     tests bench reference sanitizer profile
#                                       (all: tests bench reference)
#
# Results go to $OUT (the device run's returned folder; ./gpu-out without
# one): device.txt, test-gpu.log, bench.log and bench-*.json,
# reference.json and reference.log, sanitizer.log, profile.txt and
# ncu-*.csv. docs/gpu.md says how to read them.
[ $# -gt 0 ] || set -- all
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
M=/tmp/presto-models

{
	date -u
	nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
	"$B"/bin/presto-info --devices 2>&1
	echo "libcublas: $CUBLAS"
} > "$OUT/device.txt"
cat "$OUT/device.txt"

models() { # the random-weight models of the benchmarks (bf16 weights)
	mkdir -p "$M"
	[ -f "$M/sao1/config.json" ] || "$B"/tests/mkmodel "$M/sao1" --size sao1 --dtype bf16 > /dev/null
	[ -f "$M/saos/config.json" ] || "$B"/tests/mkmodel "$M/saos" --size sao-small --objective rf --dtype bf16 > /dev/null
}

tests() {
	for t in test_kernels test_dit test_vae test_t5; do
		echo "== $t"
		timeout 300 "$B/tests/gpu/$t"
		echo "exit $?"
	done > "$OUT/test-gpu.log" 2>&1
	if [ -d .gpu/conformance ]; then
		echo "== conformance --device cuda" >> "$OUT/test-gpu.log"
		timeout 300 "$B"/tests/conformance --device cuda .gpu/conformance >> "$OUT/test-gpu.log" 2>&1
		echo "exit $?" >> "$OUT/test-gpu.log"
	fi
	grep -E "^(not ok|FAIL|passed|FAILED|exit|SKIP|conformance:)" "$OUT/test-gpu.log"
}

sanitizer() {
	command -v compute-sanitizer > /dev/null || { echo "no compute-sanitizer"; return; }
	for t in test_kernels test_dit test_vae test_t5; do
		echo "== memcheck $t"
		timeout 240 compute-sanitizer --tool memcheck --leak-check full "$B/tests/gpu/$t" | tail -n 4
		echo "== racecheck $t"
		timeout 240 compute-sanitizer --tool racecheck "$B/tests/gpu/$t" | tail -n 3
	done > "$OUT/sanitizer.log" 2>&1
	grep -E "^==|ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/sanitizer.log"
}

bench() {
	models
	run() { # NAME ARGS...: one JSON report
		name=$1
		shift
		echo "== $name: presto-bench $*"
		timeout 240 "$B"/bin/presto-bench --json --device cuda "$@" > "$OUT/bench-$name.json"
		echo "exit $?"
		cat "$OUT/bench-$name.json"
	}
	{
		# SAO 1.0 recipe: 47.55 s, dpmpp-3m-sde 100 steps, cfg 7 (the model's defaults)
		run sao1 -m "$M/sao1" --seconds 47.55 --runs 3
		run sao1-fp32 -m "$M/sao1" --seconds 47.55 --runs 1 --warmup 0 --precision fp32 -n 10
		# the Presto-LS shape: 4 presto steps, no CFG, 60% of the blocks, 32 s
		run presto-ls -m "$M/sao1" --seconds 32 --sampler presto -n 4 --cfg 1 --keep 0.6 --runs 5
		# the same with the sampling loop on the host (what keeping it on the device gains)
		(
			export PRESTO_DEVICE_LOOP=0
			run presto-ls-hostloop -m "$M/sao1" --seconds 32 --sampler presto -n 4 --cfg 1 --keep 0.6 --runs 5
		)
		# the decoder's convolutions by cuBLAS per tap, on 64-channel tiles only, double-buffered,
		# each residual unit as two convolutions
		for conv in cublas tc64 tc2 unfused; do
			(
				export PRESTO_CUDA_CONV=$conv
				run presto-ls-conv-$conv -m "$M/sao1" --seconds 32 --sampler presto -n 4 --cfg 1 --keep 0.6 --runs 3
			)
		done
		# the bf16 attention through mma.sync instead of wmma
		(
			export PRESTO_CUDA_ATTN=mma
			run sao1-attn-mma -m "$M/sao1" --seconds 47.55 --runs 2
			run presto-ls-attn-mma -m "$M/sao1" --seconds 32 --sampler presto -n 4 --cfg 1 --keep 0.6 --runs 3
		)
		# SAO Small: 8 pingpong steps, 11.9 s
		run saos -m "$M/saos" --seconds 11.89 --sampler pingpong -n 8 --cfg 1 --runs 5
		# throughput: several clips at once (presto-sample --batch)
		run saos-batch8 -m "$M/saos" --seconds 11.89 --sampler pingpong -n 8 --cfg 1 --runs 2 --batch 8
		run presto-ls-batch4 -m "$M/sao1" --seconds 32 --sampler presto -n 4 --cfg 1 --keep 0.6 --runs 2 --batch 4
	} > "$OUT/bench.log" 2>&1
	grep -E '^==|exit|end_to_end_s|"sample_s|"decode_s|"encode_s|gpu_peak' "$OUT/bench.log"
}

reference() {
	[ -d .gpu/ref ] || { echo "no .gpu/ref (pack.sh --reference)"; return; }
	echo "== the PyTorch reference (pipelines/gpu/reference.py), fp32 then fp16"
	: > "$OUT/reference.json"
	: > "$OUT/reference.log"
	for dt in fp32 fp16; do
		PYTHONUNBUFFERED=1 timeout 280 python3 pipelines/gpu/reference.py --ref .gpu/ref --dtype $dt \
			>> "$OUT/reference.json" 2>> "$OUT/reference.log"
		echo "exit $?"
	done
	grep -E '"preset"|"dtype"|end_to_end_s|"sample_s|"decode_s|"error' "$OUT/reference.json"
	tail -n 5 "$OUT/reference.log"
}

profile() { # where the GPU time goes: Nsight Compute, one line per kernel
	command -v ncu > /dev/null || { echo "no ncu"; return; }
	models
	metrics=gpu__time_duration.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed
	metrics=$metrics,gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed
	: > "$OUT/profile.txt"
	for what in "presto-ls --seconds 32 --sampler presto -n 4 --cfg 1 --keep 0.6" \
		"sao1-2steps --seconds 47.55 -n 2"; do
		name=${what%% *}
		args=${what#* }
		timeout 250 ncu --csv --metrics "$metrics" --launch-count 1500 --log-file "$OUT/ncu-$name.csv" \
			"$B"/bin/presto-bench --device cuda -m "$M/sao1" $args --runs 1 --warmup 0 > /dev/null 2>&1
		echo "== $name (exit $?): presto-bench $args" >> "$OUT/profile.txt"
		python3 pipelines/gpu/ncu_summary.py "$OUT/ncu-$name.csv" --top 30 >> "$OUT/profile.txt" 2>&1
	done
	cat "$OUT/profile.txt"
}

for part in "$@"; do
	case $part in
	all) tests; bench; reference ;;
	tests | bench | reference | sanitizer | profile) $part ;;
	*) echo "run.sh: unknown part '$part' (tests bench reference sanitizer profile all)" >&2; exit 1 ;;
	esac
done
