# t_device.sh - presto-sample --device and --precision: parsing, the CPU
# path without a driver, a stand-in driver (tests/fakecuda) without the
# backend library, and with the backend built on the CUDA emulator
# (kernels/emu): the whole GPU path of the tool, checked against the CPU.

S="--seconds 0.1 -n 3 -S 7"

tcase "mkmodel and a conditioning stream"
"$TOOLS/mkmodel" m > /dev/null 2>&1 || fail "mkmodel failed"
PRESTO_MODEL=$PWD/m
export PRESTO_MODEL
expect_ok "$BIN/presto-encode" "a quiet test"
cp "$OUT" cond.st

tcase "--device and --precision reject bad values: exit 1"
for d in bogus cuda:x cuda:16 cuda: gpu; do
	expect_exit 1 "$BIN/presto-sample" --device "$d" cond.st
	expect_err "--device: device '$d'"
done
expect_exit 1 "$BIN/presto-sample" --precision half cond.st
expect_err "--precision: precision 'half'"
expect_exit 1 env PRESTO_DEVICE=tpu "$BIN/presto-sample" cond.st
expect_err "--device: device 'tpu'"
expect_exit 1 "$BIN/presto-sample" --device cpu --precision bf16 cond.st
expect_err "bf16 runs on a GPU only"

tcase "no driver: auto and cpu run on the CPU, silently, with the same bytes"
expect_ok $nodrv "$BIN/presto-sample" $S --device cpu cond.st
cp "$OUT" cpu.st
[ ! -s "$ERR" ] || fail "stderr not empty: $(cat "$ERR")"
expect_ok $nodrv "$BIN/presto-sample" $S cond.st
cmp -s "$OUT" cpu.st || fail "auto without a driver differs from --device cpu"
[ ! -s "$ERR" ] || fail "stderr not empty: $(cat "$ERR")"
expect_ok "$BIN/presto-info" cpu.st
expect_out 'device: "cpu"'

tcase "no driver: --device cuda (or PRESTO_DEVICE=cuda) fails clearly, exit 2"
expect_exit 2 $nodrv "$BIN/presto-sample" $S --device cuda cond.st
expect_err "cannot use --device cuda:0: no CUDA device"
expect_exit 2 $nodrv PRESTO_DEVICE=cuda:1 "$BIN/presto-sample" $S cond.st
expect_err "cannot use --device cuda:1"
expect_ok $nodrv PRESTO_DEVICE=cuda "$BIN/presto-sample" $S --device cpu cond.st
cmp -s "$OUT" cpu.st || fail "--device cpu over PRESTO_DEVICE=cuda differs"

tcase "a GPU but no backend library: auto notes it and uses the CPU; cuda fails"
expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=2 PRESTO_CUDA_BACKEND=$PWD/none.so "$BIN/presto-sample" $S cond.st
cmp -s "$OUT" cpu.st || fail "the CPU fallback differs from --device cpu"
expect_err "presto-sample: note: the CUDA backend library could not be loaded"
expect_err "using the CPU"
expect_exit 2 env PRESTO_LIBCUDA="$fake" FAKECUDA=2 PRESTO_CUDA_BACKEND=$PWD/none.so "$BIN/presto-sample" $S \
	--device cuda cond.st
expect_err "cannot use --device cuda:0: the CUDA backend library could not be loaded"
expect_exit 2 env PRESTO_LIBCUDA="$fake" FAKECUDA=2 PRESTO_CUDA_BACKEND="$fake" "$BIN/presto-sample" $S \
	--device cuda cond.st
expect_err "built from other sources"
expect_exit 2 env PRESTO_LIBCUDA="$fake" FAKECUDA=2 "$BIN/presto-sample" $S --device cuda:2 cond.st
expect_err "there are 2 CUDA devices"

if [ -f "$emu" ]; then
	tcase "GPU path on the emulator: fp32 matches the CPU, bf16 within bf16 rounding"
	expect_ok $gpu "$BIN/presto-sample" $S --device cuda --precision fp32 cond.st
	cp "$OUT" fp32.st
	expect_ok "$BIN/presto-info" fp32.st
	expect_out 'device: "cuda:0 presto CUDA emulator'
	expect_out 'fp32"'
	"$TOOLS/mutstream" dump 0 latent < cpu.st > cpu.raw
	"$TOOLS/mutstream" dump 0 latent < fp32.st > fp32.raw
	"$TOOLS/cmpraw" cpu.raw fp32.raw 1e-5 > cmp.txt || fail "fp32 latent: $(cat cmp.txt)"
	expect_ok $gpu "$BIN/presto-sample" $S --device cuda:0 --precision bf16 cond.st
	"$TOOLS/mutstream" dump 0 latent < "$OUT" > bf16.raw
	"$TOOLS/cmpraw" cpu.raw bf16.raw 3e-2 > cmp.txt || fail "bf16 latent: $(cat cmp.txt)"
	"$TOOLS/cmpraw" cpu.raw bf16.raw 1e-5 > /dev/null && fail "bf16 latent equals the fp32 one: bf16 not used?"

	tcase "GPU path on the emulator: auto takes the GPU in bf16; the same seed gives the same bytes"
	expect_ok $gpu "$BIN/presto-sample" $S cond.st
	cp "$OUT" auto.st
	[ ! -s "$ERR" ] || fail "stderr not empty: $(cat "$ERR")"
	expect_ok "$BIN/presto-info" auto.st
	expect_out 'bf16"'
	expect_ok $gpu "$BIN/presto-sample" $S cond.st
	cmp -s "$OUT" auto.st || fail "two GPU runs of one seed differ"
	# with the emulator's threads in reverse order between barriers: a race
	# in a kernel would change the bytes
	expect_ok $gpu PRESTO_EMU_ORDER=reverse "$BIN/presto-sample" $S --sampler dpmpp-3m-sde --cfg 3 cond.st
	cp "$OUT" rev.st
	expect_ok $gpu "$BIN/presto-sample" $S --sampler dpmpp-3m-sde --cfg 3 cond.st
	cmp -s "$OUT" rev.st || fail "threads in reverse order give other bytes: a race in a kernel"
	rm -f rev.st

	tcase "GPU path on the emulator: the DiT forwards replay as CUDA graphs, with the bytes of direct launches"
	expect_ok $gpu PRESTO_EMU_STATS=1 "$BIN/presto-sample" $S --device cuda cond.st
	cp "$OUT" graphs.st
	grep -q "CUDA emulator: [0-9]* kernel launches, [1-9][0-9]* graph launches (0 kernels" "$ERR" &&
		fail "graph launches ran no kernel"
	grep -q "CUDA emulator: [0-9]* kernel launches, [1-9][0-9]* graph launches" "$ERR" ||
		fail "no graph launch: $(cat "$ERR")"
	expect_ok $gpu PRESTO_EMU_STATS=1 PRESTO_CUDA_GRAPHS=0 "$BIN/presto-sample" $S --device cuda cond.st
	grep -q " 0 graph launches" "$ERR" || fail "PRESTO_CUDA_GRAPHS=0 still launched graphs: $(cat "$ERR")"
	cmp -s "$OUT" graphs.st || fail "graph replays differ from direct launches"
	rm -f graphs.st

	tcase "GPU path on the emulator: the sampling loop stays on the device, with the host loop's bytes"
	# the copies between host and device do not grow with the steps: only
	# the conditioning goes up and the latent comes back, once a record
	copies() { sed -n 's/.*graph launches ([0-9]* kernels in them), \(.*to the host\).*$/\1/p' "$ERR"; }
	for args in "--sampler dpmpp-3m-sde --cfg 3" "--sampler presto --schedule rf --emit-steps" \
		"--sampler heun --cfg 2 --init cpu.st --init-sigma 2" "--sampler dpmpp-2m"; do
		expect_ok $gpu PRESTO_EMU_STATS=1 "$BIN/presto-sample" --seconds 0.1 -n 3 -S 7 $args --device cuda cond.st
		cp "$OUT" loop3.st
		c3=$(copies)
		expect_ok $gpu PRESTO_EMU_STATS=1 PRESTO_DEVICE_LOOP=0 "$BIN/presto-sample" --seconds 0.1 -n 3 -S 7 $args \
			--device cuda cond.st
		cmp -s "$OUT" loop3.st || fail "$args: the device loop differs from the host loop"
		h3=$(copies)
		expect_ok $gpu PRESTO_EMU_STATS=1 "$BIN/presto-sample" --seconds 0.1 -n 6 -S 7 $args --device cuda cond.st
		c6=$(copies)
		case $args in
		*--emit-steps*) # x and denoised come back every step, nothing else
			up3=${c3%% copies*} up6=${c6%% copies*} down3=${c3##*, } down6=${c6##*, }
			[ -n "$c3" ] && [ "$up3" = "$up6" ] && [ "${down6%% *}" -eq "$((${down3%% *} + 6))" ] ||
				fail "$args: not two latents a step: '$c3' then '$c6'" ;;
		*) [ -n "$c3" ] && [ "$c3" = "$c6" ] || fail "$args: copies grow with the steps: '$c3' then '$c6'" ;;
		esac
		[ "$h3" != "$c3" ] || fail "$args: the host loop copied as little as the device loop: '$h3'"
	done
	rm -f loop3.st

	tcase "GPU path on the emulator: records of one length reuse the device memory of the first"
	allocs() { sed -n 's/.* \([0-9]*\) allocations$/\1/p' "$ERR"; }
	"$BIN/presto-encode" --seconds 0.1 "a b" > one.st
	"$BIN/presto-encode" --seconds 0.1 "a b" "c d" "e f" "g h" > four.st
	expect_ok $gpu PRESTO_EMU_STATS=1 "$BIN/presto-sample" -n 3 -S 1 --device cuda one.st
	a1=$(allocs)
	expect_ok $gpu PRESTO_EMU_STATS=1 "$BIN/presto-sample" -n 3 -S 1 --device cuda four.st
	a4=$(allocs)
	[ -n "$a1" ] && [ "$a1" = "$a4" ] || fail "device allocations grow with the records: $a1 for one, $a4 for four"
	rm -f one.st four.st

	tcase "GPU path on the emulator: a layer budget of two masks, graphs for each, as on the CPU"
	bud='[{"sigma_min": 1, "sigma_max": null, "blocks": [0, 1]}, {"sigma_min": 0, "sigma_max": 1, "blocks": [1, 2]}]'
	expect_ok $nodrv "$BIN/presto-sample" --seconds 0.1 -n 6 -S 7 --budget "$bud" cond.st
	"$TOOLS/mutstream" dump 0 latent < "$OUT" > b_cpu.raw
	expect_ok $nodrv "$BIN/presto-sample" --seconds 0.1 -n 6 -S 7 cond.st
	"$TOOLS/mutstream" dump 0 latent < "$OUT" > b_all.raw
	"$TOOLS/cmpraw" b_all.raw b_cpu.raw 1e-3 > /dev/null && fail "the budget changed nothing"
	expect_ok $gpu PRESTO_EMU_STATS=1 "$BIN/presto-sample" --seconds 0.1 -n 6 -S 7 --budget "$bud" --device cuda \
		--precision fp32 cond.st
	# 6 steps over 2 masks: the first forward computes the context's keys and
	# values (a key of its own, run directly), then steps 2-3 (mask 1) and
	# 4-6 (mask 2) each run their key's first forward directly and replay
	# the graph captured on its second
	grep -q "CUDA emulator: [0-9]* kernel launches, 3 graph launches" "$ERR" ||
		fail "expected 3 graph launches (6 steps, 2 masks): $(cat "$ERR")"
	"$TOOLS/mutstream" dump 0 latent < "$OUT" > b_gpu.raw
	"$TOOLS/cmpraw" b_cpu.raw b_gpu.raw 1e-5 > cmp.txt || fail "budgeted latent: $(cat cmp.txt)"
	rm -f b_cpu.raw b_gpu.raw b_all.raw

	tcase "GPU path on the emulator: records of different lengths in one run (activations and graphs resized)"
	"$BIN/presto-encode" --seconds 0.1 "a b" "c d" > s1.st
	"$BIN/presto-encode" --seconds 0.2 "e f" > s2.st
	"$BIN/presto-encode" --seconds 0.1 "g h" > s3.st
	cat s1.st s2.st s3.st > mixed.st
	expect_ok $nodrv "$BIN/presto-sample" -n 3 -S 1 mixed.st
	"$TOOLS/mutstream" dumpall latent < "$OUT" > m_cpu.raw
	expect_ok $gpu "$BIN/presto-sample" -n 3 -S 1 --device cuda --precision fp32 mixed.st
	"$TOOLS/mutstream" dumpall latent < "$OUT" > m_gpu.raw
	"$TOOLS/cmpraw" m_cpu.raw m_gpu.raw 1e-5 > cmp.txt || fail "mixed lengths: $(cat cmp.txt)"
	grep -q "^$((8 * (18 + 18 + 35 + 18))) floats" cmp.txt || fail "unexpected sizes: $(cat cmp.txt)"
	rm -f s1.st s2.st s3.st mixed.st m_cpu.raw m_gpu.raw

	tcase "GPU path on the emulator: a device the backend cannot open, out of GPU memory, a failed launch: exit 2"
	expect_exit 2 $gpu "$BIN/presto-sample" $S --device cuda:1 cond.st
	expect_err "cannot use --device cuda:1: CUDA device 1: invalid device ordinal"
	expect_exit 2 $gpu PRESTO_EMU_MEMORY=4096 "$BIN/presto-sample" $S --device cuda cond.st
	expect_err "out of GPU memory uploading the DiT"
	expect_exit 2 $gpu PRESTO_EMU_MEMORY=4096 "$BIN/presto-sample" $S cond.st
	expect_err "out of GPU memory"
	# room for the tiny model's bf16 weights, not for its activations
	expect_exit 2 $gpu PRESTO_EMU_FAIL_LAUNCH=20 "$BIN/presto-sample" $S --device cuda cond.st
	expect_err "presto-sample: record 0: GPU error on cuda:0 running the DiT on 1 x 18 frames: unspecified launch failure"
	expect_exit 2 $gpu PRESTO_EMU_FAIL_LAUNCH=3 "$BIN/presto-decode" --device cuda --stream cpu.st
	expect_err "presto-decode: record 0: GPU error on cuda:0 decoding 18 latent frames: unspecified launch failure"
	expect_exit 2 $gpu PRESTO_EMU_MEMORY=600000 "$BIN/presto-sample" $S cond.st
	expect_err "presto-sample: record 0: out of GPU memory on cuda:0 running the DiT"
	expect_exit 2 $gpu PRESTO_EMU_MEMORY=600000 PRESTO_DEVICE_LOOP=0 "$BIN/presto-sample" $S cond.st
	expect_err "presto-sample: record 0: out of GPU memory on cuda:0 running the DiT"

	tcase "presto-decode on the emulator's GPU: fp32 matches the CPU, bf16 within bf16 rounding"
	expect_ok $nodrv "$BIN/presto-decode" --stream cpu.st
	"$TOOLS/mutstream" dump 0 audio < "$OUT" > a_cpu.raw
	expect_ok $gpu "$BIN/presto-decode" --device cuda --precision fp32 --stream cpu.st
	"$TOOLS/mutstream" dump 0 audio < "$OUT" > a_fp32.raw
	"$TOOLS/cmpraw" a_cpu.raw a_fp32.raw 1e-5 > cmp.txt || fail "fp32 audio: $(cat cmp.txt)"
	expect_ok $gpu "$BIN/presto-decode" --stream cpu.st
	[ ! -s "$ERR" ] || fail "stderr not empty: $(cat "$ERR")"
	"$TOOLS/mutstream" dump 0 audio < "$OUT" > a_bf16.raw
	"$TOOLS/cmpraw" a_cpu.raw a_bf16.raw 3e-2 > cmp.txt || fail "bf16 audio: $(cat cmp.txt)"
	"$TOOLS/cmpraw" a_cpu.raw a_bf16.raw 1e-5 > /dev/null && fail "bf16 audio equals the CPU's: bf16 not used?"
	expect_ok $gpu PRESTO_EMU_ORDER=reverse "$BIN/presto-decode" --stream cpu.st
	"$TOOLS/mutstream" dump 0 audio < "$OUT" > a_rev.raw
	cmp -s a_bf16.raw a_rev.raw || fail "decoding with threads in reverse order gives other bytes: a race"
	expect_exit 2 $gpu PRESTO_EMU_MEMORY=4096 "$BIN/presto-decode" --stream cpu.st
	expect_err "presto-decode: out of GPU memory uploading the VAE decoder"
	expect_exit 2 $nodrv "$BIN/presto-decode" --device cuda:3 --stream cpu.st
	expect_err "presto-decode: cannot use --device cuda:3: no CUDA device"
	expect_exit 1 "$BIN/presto-decode" --device cpu --precision bf16 --stream cpu.st
	expect_err "bf16 runs on a GPU only"
	tcase "presto-ingest on the emulator's GPU: the encoder's latents match the CPU's"
	expect_ok $nodrv "$BIN/presto-decode" -o clip.wav cpu.st
	expect_ok $nodrv "$BIN/presto-ingest" clip.wav
	"$TOOLS/mutstream" dumpall latent < "$OUT" > i_cpu.raw
	expect_ok $gpu "$BIN/presto-ingest" --device cuda --precision fp32 clip.wav
	"$TOOLS/mutstream" dumpall latent < "$OUT" > i_gpu.raw
	"$TOOLS/cmpraw" i_cpu.raw i_gpu.raw 1e-5 > cmp.txt || fail "fp32 ingest: $(cat cmp.txt)"
	expect_ok $gpu "$BIN/presto-ingest" clip.wav
	"$TOOLS/mutstream" dumpall latent < "$OUT" > i_gpu.raw
	"$TOOLS/cmpraw" i_cpu.raw i_gpu.raw 3e-2 > cmp.txt || fail "bf16 ingest: $(cat cmp.txt)"
	expect_exit 1 "$BIN/presto-ingest" --device nope clip.wav
	rm -f clip.wav i_cpu.raw i_gpu.raw

	tcase "presto-encode on the emulator's GPU: fp32 matches the CPU, auto (TF32) too"
	"$TOOLS/mutstream" dump 0 cross_attn_cond < cond.st > c_cpu.raw
	expect_ok $gpu "$BIN/presto-encode" --device cuda --precision fp32 "a quiet test"
	"$TOOLS/mutstream" dump 0 cross_attn_cond < "$OUT" > c_gpu.raw
	"$TOOLS/cmpraw" c_cpu.raw c_gpu.raw 1e-5 > cmp.txt || fail "fp32 conditioning: $(cat cmp.txt)"
	expect_ok $gpu "$BIN/presto-encode" "a quiet test"
	[ ! -s "$ERR" ] || fail "stderr not empty: $(cat "$ERR")"
	"$TOOLS/mutstream" dump 0 cross_attn_cond < "$OUT" > c_gpu.raw
	"$TOOLS/cmpraw" c_cpu.raw c_gpu.raw 1e-2 > cmp.txt || fail "tf32 conditioning: $(cat cmp.txt)"
	expect_ok $gpu PRESTO_EMU_ORDER=reverse "$BIN/presto-encode" "a quiet test"
	"$TOOLS/mutstream" dump 0 cross_attn_cond < "$OUT" > c_rev.raw
	cmp -s c_gpu.raw c_rev.raw || fail "encoding with threads in reverse order gives other bytes: a race"
	expect_exit 2 $gpu PRESTO_EMU_MEMORY=4096 "$BIN/presto-encode" "a quiet test"
	expect_err "presto-encode: out of GPU memory uploading the T5 encoder"
	expect_exit 2 $nodrv "$BIN/presto-encode" --device cuda "a quiet test"
	expect_err "presto-encode: cannot use --device cuda:0: no CUDA device"
	expect_exit 1 "$BIN/presto-encode" --device cuda:x "a quiet test"
	expect_err "--device: device 'cuda:x'"
	rm -f c_cpu.raw c_gpu.raw c_rev.raw a_rev.raw
	expect_clean_dir cond.st cpu.st m fp32.st cpu.raw fp32.raw bf16.raw cmp.txt auto.st a_cpu.raw a_fp32.raw \
		a_bf16.raw
else
	tcase "GPU path on the emulator"
	skip "no $emu (make emu)"
fi
