# t_sample_batch.sh - presto-sample --batch: records sampled together give
# the bytes they give one at a time on the CPU (every sampler's noise from
# each record's own seed, CFG, negative prompts, --emit-steps, --init), a
# batch is cut where the length or the conditioning's kind changes, the
# progress names the batch's records; on the emulated GPU a batch matches
# the CPU and keeps the device loop's bytes.

tcase "a stream of records of two lengths, with and without a negative prompt"
"$TOOLS/mkmodel" m > /dev/null 2>&1 || fail "mkmodel failed"
PRESTO_MODEL=$PWD/m
export PRESTO_MODEL
"$BIN/presto-encode" --seconds 0.1 "a b" "c d" > s1.st || fail "encode 1"
"$BIN/presto-encode" --seconds 0.2 "e f" > s2.st || fail "encode 2"
"$BIN/presto-encode" --seconds 0.1 --negative "noise" "g h" "i j" > s3.st || fail "encode 3"
"$BIN/presto-encode" --seconds 0.1 "k l" "m n" "o p" > s4.st || fail "encode 4"
cat s1.st s2.st s3.st s4.st > all.st
rm -f s1.st s2.st s3.st s4.st

tcase "--batch 2, 3 and 8 give the bytes of one record at a time (CPU)"
for args in "--sampler dpmpp-3m-sde --cfg 3" "--sampler presto --schedule rf" "--sampler euler --emit-steps" \
	"--sampler pingpong --schedule rf --cfg 2"; do
	expect_ok $nodrv "$BIN/presto-sample" -n 3 -S 11 $args all.st
	cp "$OUT" one.st
	for b in 2 3 8; do
		expect_ok $nodrv "$BIN/presto-sample" -n 3 -S 11 --batch "$b" $args all.st
		cmp -s "$OUT" one.st || fail "$args --batch $b: other bytes than one record at a time"
	done
done
"$TOOLS/mutstream" dumpall latent < one.st > one.raw
[ "$(wc -c < one.raw)" = "$((4 * 8 * (18 * 7 + 35)))" ] || fail "unexpected latents: $(wc -c < one.raw) bytes"
rm -f one.raw

tcase "--batch with --init: each record starts from its own latent"
expect_ok $nodrv "$BIN/presto-sample" -n 2 -S 3 all.st
cp "$OUT" start.st
expect_ok $nodrv "$BIN/presto-sample" -n 4 -S 20 --init start.st --init-sigma 2 all.st
cp "$OUT" one.st
expect_ok $nodrv "$BIN/presto-sample" -n 4 -S 20 --init start.st --init-sigma 2 --batch 4 all.st
cmp -s "$OUT" one.st || fail "--init --batch 4: other bytes than one record at a time"
rm -f start.st

tcase "--progress names the records of each batch; the batches break where the records differ"
expect_ok $nodrv "$BIN/presto-sample" -n 2 -S 1 --batch 8 --progress all.st
# (the ids of each of the four concatenated streams start at 0)
printf 'records 0-1\nrecord 0\nrecords 0-1\nrecords 0-2\n' > want.txt
sed -n 's/^presto-sample: \(.*\) step 1\/2$/\1/p' "$ERR" > got.txt
cmp -s want.txt got.txt || fail "batches: $(tr '\n' ',' < got.txt), not $(tr '\n' ',' < want.txt)"
expect_err "presto-sample: records 0-2 step 2/2"
rm -f want.txt got.txt

tcase "--batch out of range or not a number: exit 1, nothing written"
for b in 0 257 x -1; do
	expect_exit 1 "$BIN/presto-sample" --batch "$b" all.st
	expect_err "--batch"
	[ ! -s "$OUT" ] || fail "--batch $b wrote output"
done

if [ -f "$emu" ]; then
	tcase "GPU path on the emulator: a batch matches the CPU, the device loop the host loop"
	expect_ok $nodrv "$BIN/presto-sample" -n 3 -S 11 --sampler dpmpp-3m-sde --cfg 3 all.st
	"$TOOLS/mutstream" dumpall latent < "$OUT" > cpu.raw
	expect_ok $gpu "$BIN/presto-sample" -n 3 -S 11 --sampler dpmpp-3m-sde --cfg 3 --device cuda --precision fp32 \
		--batch 4 all.st
	cp "$OUT" dev.st
	"$TOOLS/mutstream" dumpall latent < dev.st > gpu.raw
	"$TOOLS/cmpraw" cpu.raw gpu.raw 1e-5 > cmp.txt || fail "batched fp32 latents: $(cat cmp.txt)"
	expect_ok $gpu PRESTO_DEVICE_LOOP=0 "$BIN/presto-sample" -n 3 -S 11 --sampler dpmpp-3m-sde --cfg 3 \
		--device cuda --precision fp32 --batch 4 all.st
	cmp -s "$OUT" dev.st || fail "the batched device loop differs from the host loop"
	expect_ok $gpu "$BIN/presto-sample" -n 3 -S 11 --sampler presto --schedule rf --device cuda --batch 3 \
		--emit-steps all.st
	"$TOOLS/mutstream" dumpall latent < "$OUT" > bf16.raw
	expect_ok $nodrv "$BIN/presto-sample" -n 3 -S 11 --sampler presto --schedule rf --emit-steps all.st
	"$TOOLS/mutstream" dumpall latent < "$OUT" > cpu.raw
	"$TOOLS/cmpraw" cpu.raw bf16.raw 3e-2 > cmp.txt || fail "batched bf16 latents: $(cat cmp.txt)"
	rm -f cpu.raw gpu.raw bf16.raw dev.st cmp.txt

	tcase "GPU path on the emulator: a batch out of GPU memory names its records, exit 2, no output"
	expect_exit 2 $gpu PRESTO_EMU_MEMORY=600000 "$BIN/presto-sample" -n 2 -S 1 --device cuda --batch 2 all.st
	expect_err "presto-sample: records 0-1: out of GPU memory on cuda:0"
	[ ! -s "$OUT" ] || fail "output written before the error"
	expect_exit 2 $gpu PRESTO_EMU_MEMORY=600000 "$BIN/presto-sample" -n 2 -S 1 --device cuda --batch 2 -o out.st \
		all.st
	[ ! -e out.st ] || fail "-o out.st left behind"
	expect_clean_dir one.st all.st m
else
	tcase "GPU path on the emulator"
	skip "no $emu (make emu)"
fi
rm -f one.st all.st
rm -rf m
expect_clean_dir
