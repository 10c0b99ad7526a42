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
# one), at most 8 files, as the device tool returns no more: device.txt,
# test-gpu.log, bench.log (every report), reference.json and
# reference.log, sanitizer.log, profile.txt, and results.tgz with the bulk
# files (bench-*.json, ncu-*.csv). docs/gpu.md says how to read them.
[ $# -gt 0 ] || set -- all
: "${OUT:=$PWD/gpu-out}"
mkdir -p "$OUT"
R=/tmp/presto-results # the bulk files, gathered into $OUT/results.tgz at the end
rm -rf "$R"
mkdir -p "$R"
P=/tmp/presto-gpu # pack.sh's binaries, fixtures and reference sources
[ -f .gpu/presto-gpu.tar.xz ] || { echo "run.sh: no .gpu/presto-gpu.tar.xz (pipelines/gpu/pack.sh, carry .gpu)" >&2; exit 2; }
rm -rf "$P"
mkdir -p "$P"
unxz() { # xz, or Python's lzma where the image has no xz
	if command -v xz > /dev/null; then xz -d; else
		python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)'
	fi
}
unxz < .gpu/presto-gpu.tar.xz | tar -x -C "$P" || exit 2
B=$P/build
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
# compute-sanitizer and ncu where the image has them off the PATH
for d in /usr/local/cuda/bin /opt/nvidia/nsight-compute/*; do
	[ -d "$d" ] && PATH=$PATH:$d
done
export PATH
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
	if [ -d "$P"/conformance ]; then
		echo "== conformance --device cuda" >> "$OUT/test-gpu.log"
		timeout 300 "$B"/tests/conformance --device cuda "$P"/conformance >> "$OUT/test-gpu.log" 2>&1
		echo "exit $?" >> "$OUT/test-gpu.log"
	fi
	grep -E "^(not ok|FAIL|passed|FAILED|exit|SKIP|conformance:)" "$OUT/test-gpu.log"
}

sanitizer() { # 8 runs of at most $SAN_LIMIT s (70): the whole inside one call
	command -v compute-sanitizer > /dev/null || { echo "no compute-sanitizer"; return; }
	for tool in memcheck racecheck; do
		for t in test_kernels test_dit test_vae test_t5; do
			opt=
			[ $tool = memcheck ] && opt="--leak-check full"
			timeout "${SAN_LIMIT:-70}" compute-sanitizer --tool $tool $opt "$B/tests/gpu/$t" > "$R/san-$tool-$t.txt" 2>&1
			echo "== $tool $t: exit $?"
			# its findings (the whole output in results.tgz)
			grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Invalid|Race reported|hazard|Leaked|^(passed|FAIL|SKIP)" \
				"$R/san-$tool-$t.txt" | head -n 20
		done
	done > "$OUT/sanitizer.log" 2>&1
	cat "$OUT/sanitizer.log"
}

bench() {
	models
	run() { # NAME ARGS...: one JSON report
		name=$1
		shift
		echo "== $name: presto-bench $*"
		timeout 240 "$B"/bin/presto-bench --json --device cuda "$@" > "$R/bench-$name.json"
		echo "exit $?"
		cat "$R/bench-$name.json"
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
	[ -d "$P"/ref ] || { echo "no reference sources (pack.sh --reference)"; return; }
	echo "== the PyTorch reference (pipelines/gpu/reference.py), fp32 then fp16"
	: > "$OUT/reference.json"
	: > "$OUT/reference.log"
	for dt in fp32 fp16; do
		PYTHONUNBUFFERED=1 timeout 280 python3 pipelines/gpu/reference.py --ref "$P"/ref --dtype $dt \
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
		timeout 250 ncu --clock-control none --csv --metrics "$metrics" --launch-count 1500 --log-file "$R/ncu-$name.csv" \
			"$B"/bin/presto-bench --device cuda -m "$M/sao1" $args --runs 1 --warmup 0 > /dev/null 2>&1
		echo "== $name (exit $?): presto-bench $args" >> "$OUT/profile.txt"
		python3 pipelines/gpu/ncu_summary.py "$R/ncu-$name.csv" --top 30 >> "$OUT/profile.txt" 2>&1
	done
	cat "$OUT/profile.txt"
}

for part in "$@"; do
	case $part in
	all | tests | bench | reference | sanitizer | profile) ;;
	*) echo "run.sh: unknown part '$part' (tests bench reference sanitizer profile all)" >&2; exit 1 ;;
	esac
done
timed() { # PART: run it, then say how long it took (device time is short)
	t0=$(date +%s)
	$1
	echo "run.sh: $1 took $(($(date +%s) - t0)) s" | tee -a "$OUT/device.txt"
}
for part in "$@"; do
	case $part in
	all) timed tests; timed bench; timed reference ;;
	*) timed $part ;;
	esac
done
# the bulk files in one archive (the summaries above are written to $OUT
# as they go, so that a call stopped at its limit still returns them)
tar -czf "$OUT/results.tgz" -C "$R" .
ls -l "$OUT"
