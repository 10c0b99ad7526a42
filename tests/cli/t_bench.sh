# t_bench.sh - presto-bench: its report and options on the tiny random
# model, on the CPU and on the CUDA emulator's GPU (no timing is checked:
# benchmark figures live in docs/benchmarks.md).

json_ok() { # FILE: a valid JSON document (python3 or jq), else skip
	if command -v python3 > /dev/null 2>&1; then
		python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$1" || fail "invalid JSON"
	elif command -v jq > /dev/null 2>&1; then
		jq . "$1" > /dev/null || fail "invalid JSON"
	fi
}

tcase "mkmodel"
"$TOOLS/mkmodel" m > /dev/null 2>&1 || fail "mkmodel failed"
PRESTO_MODEL=$PWD/m
export PRESTO_MODEL

tcase "the text report names every stage"
expect_ok $nodrv "$BIN/presto-bench" --seconds 0.2 --runs 2 --warmup 0
for w in "model      presto-test-tiny" "device     DiT: cpu; VAE: cpu" "8 steps" "3 of 3 blocks" "load" "encode" \
	"sample" "decode" "end to end" "real time (median of 2 runs)"; do
	expect_out "$w"
done
expect_out_not "GPU memory"

tcase "--json: one document, a time per step, the options applied"
expect_ok $nodrv "$BIN/presto-bench" --seconds 0.2 --runs 1 --json -n 3 --sampler euler --cfg 1 --keep 0.6
cp "$OUT" b.json
json_ok b.json
grep -q '"sampling_loop": "host"' b.json || fail "the CPU's loop is not on the host"
for w in '"sampler": "euler"' '"steps": 3' '"cfg": 1.0' '"blocks": 2' '"depth": 3' '"runs": 1' '"encode_s"' \
	'"sample_s"' '"decode_s"' '"end_to_end_s"' '"real_time_factor"' '"gpu_peak_bytes": null' '"latent_frames": 35'; do
	expect_out "$w"
done
[ "$(grep -c '^    [0-9]' b.json)" = 3 ] || fail "step_s does not hold 3 times"
expect_out '"dit_evaluations": 3'
expect_out '"sample_floor_s": null'
grep -q '"sample_flop": [1-9]' b.json || fail "no sample FLOP count"

tcase "--batch: clips at once; the work, the real-time factor and the throughput count them all"
expect_ok $nodrv "$BIN/presto-bench" --seconds 0.2 --runs 1 --warmup 0 --json -n 2 --cfg 1 --batch 3
cp "$OUT" b3.json
json_ok b3.json
expect_out '"batch": 3'
expect_out '"clips_per_s"'
expect_ok $nodrv "$BIN/presto-bench" --seconds 0.2 --runs 1 --warmup 0 --json -n 2 --cfg 1
cp "$OUT" b1.json
if command -v python3 > /dev/null 2>&1; then
python3 - b1.json b3.json <<'PY' || fail "a batch of 3 is not 3 clips' work"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a["batch"] == 1 and b["batch"] == 3
for k in ("sample_flop", "decode_flop"):
    assert abs(b[k] - 3 * a[k]) <= 1e-6 * b[k], k
assert abs(b["real_time_factor"] * b["end_to_end_s"] - 3 * b["seconds"]) <= 1e-6 * b["real_time_factor"]
assert abs(b["clips_per_s"] * b["end_to_end_s"] - 3) <= 1e-9
PY
fi
expect_ok $nodrv "$BIN/presto-bench" --seconds 0.2 --runs 1 --warmup 0 -n 2 --batch 2
expect_out "2 clips at once"
expect_out "throughput"
expect_exit 1 "$BIN/presto-bench" --batch 0
expect_err "--batch"
rm -f b1.json b3.json

tcase "--peak-tflops and --peak-gbps: the floors of sampling and decoding"
expect_ok $nodrv "$BIN/presto-bench" --seconds 0.2 --runs 1 --warmup 0 -n 2 --peak-tflops 0.5 --peak-gbps 100
expect_out "work       sample"
expect_out "floor      sample"
expect_out "at 0.5 TFLOP/s and the weights' bytes"
expect_exit 1 "$BIN/presto-bench" --peak-tflops 0

tcase "bad options: exit 1"
expect_exit 1 "$BIN/presto-bench" --keep 0
expect_err "--keep"
expect_exit 1 "$BIN/presto-bench" --runs 0
expect_exit 1 "$BIN/presto-bench" --sampler nope
expect_err "unknown sampler 'nope'"
expect_exit 1 "$BIN/presto-bench" extra-file
expect_exit 1 "$BIN/presto-bench" --device tpu
expect_exit 2 $nodrv "$BIN/presto-bench" --device cuda
expect_err "cannot use --device cuda:0"

if [ -f "$emu" ]; then
	tcase "on the emulator's GPU: both models on the device, the peak GPU memory"
	expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=1 PRESTO_CUDA_BACKEND="$emu" "$BIN/presto-bench" --seconds 0.1 \
		--runs 1 --warmup 0 -n 2 --json
	expect_out '"device": "cuda:0 presto CUDA emulator'
	expect_out '"vae_device": "cuda:0 presto CUDA emulator'
	expect_out '"text_device": "cuda:0 presto CUDA emulator'
	grep -q '"gpu_peak_bytes": [1-9]' "$OUT" || fail "no GPU peak memory"
	expect_out '"sampling_loop": "device"'
	expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=1 PRESTO_CUDA_BACKEND="$emu" PRESTO_DEVICE_LOOP=0 \
		PRESTO_CUDA_CONV=tc64 "$BIN/presto-bench" --seconds 0.1 --runs 1 --warmup 0 -n 2 --json
	expect_out '"sampling_loop": "host"'
	expect_out '"PRESTO_CUDA_CONV": "tc64"'
	expect_out '"PRESTO_DEVICE_LOOP": "0"'
	expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=1 PRESTO_CUDA_BACKEND="$emu" "$BIN/presto-bench" --seconds 0.1 \
		--runs 1 --warmup 0 -n 2
	expect_out "sampling loop on the device"
else
	tcase "on the emulator's GPU"
	skip "no $emu (make emu)"
fi
