# t_pipeline.sh - presto-encode | presto-sample | presto-decode on the tiny
# random-weight model of mkmodel: audio files, determinism, seeds across a
# batch, many records, every sampler and option, the streams in between.
# Clips are 1 second and runs 2 to 4 steps, so the whole file takes seconds.

enc=$BIN/presto-encode
smp=$BIN/presto-sample
dec=$BIN/presto-decode
info=$BIN/presto-info
mut=$TOOLS/mutstream

# wav_frames FILE: frames of a 16-bit stereo WAV with a 44-byte header.
wav_bytes() { wc -c < "$1" | tr -d ' '; }

# is_wav FILE [BYTES]: a RIFF/WAVE file (of BYTES bytes when given).
is_wav() {
	[ -s "$1" ] || { fail "no file '$1'"; return 1; }
	[ "$(head -c 4 "$1")" = RIFF ] && [ "$(head -c 12 "$1" | tail -c 4)" = WAVE ] ||
		{ fail "'$1' is not a WAV file"; return 1; }
	if [ -n "$2" ] && [ "$(wav_bytes "$1")" != "$2" ]; then
		fail "'$1' has $(wav_bytes "$1") bytes, want $2"
		return 1
	fi
}

# same A B / differ A B: compare two files byte for byte.
same() { cmp -s "$1" "$2" || fail "'$1' and '$2' differ"; }
differ() {
	[ -s "$1" ] && [ -s "$2" ] || { fail "'$1' or '$2' missing"; return 1; }
	cmp -s "$1" "$2" && fail "'$1' and '$2' are identical"
}

# latent STREAM [ID] > raw: the bytes of a record's latent tensor.
latent() { "$mut" dump "${2:-0}" latent < "$1"; }

# The 1-second, 16-bit stereo WAV at 44.1 kHz that presto-decode makes of a
# one-second prompt: 44100 frames * 4 bytes + 44.
ONE_SEC=176444

tcase "mkmodel makes the tiny test model"
"$TOOLS/mkmodel" m > /dev/null 2>&1 || fail "mkmodel failed"
expect_file m/config.json
expect_file m/dit.safetensors
PRESTO_MODEL=$PWD/m
export PRESTO_MODEL

pipeline() { # OUT [SAMPLE OPTIONS]: the three tools in one pipe
	_o=$1
	shift
	"$enc" -s 1 "warm lofi piano, 80 BPM" | "$smp" --steps 2 "$@" | "$dec" -o "$_o"
}

tcase "encode | sample | decode makes a WAV cropped to the prompt's seconds"
expect_ok pipeline out.wav --seed 1
is_wav out.wav $ONE_SEC
[ -s "$ERR" ] && fail "unexpected stderr: $(cat "$ERR")"

tcase "-o x.flac writes FLAC"
expect_ok pipeline out.flac --seed 1
[ "$(head -c 4 out.flac)" = fLaC ] || fail "out.flac is not FLAC"

tcase "the stages one by one, through files given as operands and -o"
expect_ok "$enc" -s 1 -o c1.cond "warm lofi piano, 80 BPM"
expect_ok "$smp" --steps 2 --seed 1 -o z1.lat c1.cond
expect_ok "$dec" -o step.wav z1.lat
same step.wav out.wav
expect_exit_in z1.lat 0 "$dec" -
cp "$OUT" stdout.wav
same stdout.wav out.wav

tcase "-o FILE writes the same bytes as stdout"
expect_ok "$enc" -s 1 "warm lofi piano, 80 BPM"
cp "$OUT" c1-stdout.cond
same c1.cond c1-stdout.cond
expect_exit_in c1.cond 0 "$smp" --steps 2 --seed 1
cp "$OUT" z1-stdout.lat
same z1.lat z1-stdout.lat

tcase "presto-decode: --subtype 24 and float, --no-normalize, --peak, --no-crop"
expect_ok "$dec" --subtype 24 -o s24.wav z1.lat
is_wav s24.wav
[ "$(wav_bytes s24.wav)" -gt $((44100 * 6)) ] || fail "24-bit WAV too small"
expect_ok "$dec" --subtype float -o sf.wav z1.lat
is_wav sf.wav
[ "$(wav_bytes sf.wav)" -gt $((44100 * 8)) ] || fail "float WAV too small"
expect_ok "$dec" --no-normalize -o raw.wav z1.lat
is_wav raw.wav $ONE_SEC
differ raw.wav out.wav
expect_ok "$dec" --peak -12 -o quiet.wav z1.lat
differ quiet.wav out.wav
# the latent has ceil(44100 / 256) = 173 frames of 256 samples
expect_ok "$dec" --no-crop -o full.wav z1.lat
is_wav full.wav $((173 * 256 * 4 + 44))

tcase "determinism: the same seed gives the same latent stream and WAV bytes"
expect_ok pipeline again.wav --seed 1
same again.wav out.wav
"$smp" --steps 2 --seed 1 c1.cond > z1b.lat
same z1b.lat z1.lat

tcase "a different seed gives a different latent and WAV"
expect_ok pipeline other.wav --seed 2
differ other.wav out.wav
"$smp" --steps 2 --seed 2 c1.cond > z2.lat
latent z1.lat > z1.raw
latent z2.lat > z2.raw
differ z1.raw z2.raw

tcase "without --seed the seed is random, recorded, and reproduces the latent"
"$smp" --steps 2 c1.cond > r1.lat
"$smp" --steps 2 c1.cond > r2.lat
latent r1.lat > r1.raw
latent r2.lat > r2.raw
differ r1.raw r2.raw
seed=$("$info" r1.lat | sed -n 's/^    seed: //p')
case $seed in '' | *[!0-9]*) fail "no seed in the record: '$seed'" ;; esac
"$smp" --steps 2 --seed "$seed" c1.cond > r1b.lat
latent r1b.lat > r1b.raw
same r1.raw r1b.raw

tcase "batch composition: record i of a batch uses seed+i"
"$enc" -s 1 "dark ambient synth pad" "solo cello melody, sad and slow" "techno kick, 128 BPM" > abc.cond
"$enc" -s 1 "solo cello melody, sad and slow" > b.cond
"$mut" dump 1 cross_attn_cond < abc.cond > abc1.cross
"$mut" dump 0 cross_attn_cond < b.cond > b0.cross
same abc1.cross b0.cross
expect_ok "$smp" --steps 3 --seed 10 -o abc.lat abc.cond
expect_ok "$smp" --steps 3 --seed 11 -o b11.lat b.cond
expect_ok "$smp" --steps 3 --seed 10 -o b10.lat b.cond
latent abc.lat 1 > abc1.raw
latent b11.lat > b11.raw
latent b10.lat > b10.raw
same abc1.raw b11.raw
differ abc1.raw b10.raw
expect_ok "$info" abc.lat
expect_out "seed: 10"
expect_out "seed: 11"
expect_out "seed: 12"

tcase "prompts from stdin, one per line, blank lines skipped"
printf 'dark ambient synth pad\n\n   \nsolo cello melody\r\ntechno kick, 128 BPM\n' > prompts.txt
expect_exit_in prompts.txt 0 "$enc" -s 1
cp "$OUT" lines.cond
expect_ok "$info" lines.cond
expect_out 'prompt: "dark ambient synth pad"'
expect_out 'prompt: "solo cello melody"'
expect_out "record 2"
expect_out "end: 3 records"
expect_out_not "record 3"

tcase "many records: -o 'out/%04d.wav' writes one file per record"
mkdir out
expect_exit_in prompts.txt 0 sh -c '"$1" -s 1 | "$2" --steps 2 --seed 3 | "$3" -o "out/%04d.wav"' sh "$enc" "$smp" "$dec"
is_wav out/0000.wav $ONE_SEC
is_wav out/0001.wav $ONE_SEC
is_wav out/0002.wav $ONE_SEC
expect_no_file out/0003.wav
differ out/0000.wav out/0001.wav
[ "$(ls -a out | wc -l)" = 5 ] || fail "unexpected files in out/: $(ls -a out)"

tcase "many records into a single output file: exit 2, nothing written"
"$smp" --steps 2 --seed 3 lines.cond > lines.lat
expect_exit 2 "$dec" -o single.wav lines.lat
expect_err "holds more than one record"
expect_no_file single.wav
expect_exit_in lines.lat 2 "$dec"
expect_err "holds more than one record"

tcase "concatenated cond streams (cat a b) are sampled as one input"
cat c1.cond b.cond > cat.cond
expect_ok "$smp" --steps 2 --seed 1 -o cat.lat cat.cond
expect_ok "$info" cat.lat
expect_out "end: 2 records"
latent cat.lat > cat0.raw
same cat0.raw z1.raw

tcase "--emit-steps adds steps.x and steps.denoised [steps, C, T]"
expect_ok "$smp" --steps 3 --seed 1 --emit-steps -o emit.lat c1.cond
expect_ok "$info" emit.lat
expect_out "latent: f32 [8, 173]"
expect_out "steps.x: f32 [3, 8, 173]"
expect_out "steps.denoised: f32 [3, 8, 173]"
"$smp" --steps 3 --seed 1 c1.cond > noemit.lat
latent emit.lat > emit.raw
latent noemit.lat > noemit.raw
same emit.raw noemit.raw

tcase "every sampler runs with 2 steps and is recorded"
for s in euler heun dpmpp-2m dpmpp-3m-sde pingpong presto; do
	expect_ok "$smp" --sampler $s --steps 2 --seed 1 -o "s-$s.lat" c1.cond
	expect_ok "$info" "s-$s.lat"
	expect_out "sampler: \"$s\""
	expect_out "steps: 2"
done
latent s-euler.lat > euler.raw
latent s-heun.lat > heun.raw
latent s-dpmpp-3m-sde.lat > sde.raw
differ euler.raw heun.raw
differ euler.raw sde.raw

tcase "--sigmas sets an explicit schedule"
expect_ok "$smp" --sigmas 10,1,0 --seed 1 -o sig.lat c1.cond
expect_ok "$info" sig.lat
expect_out "steps: 2"
expect_out "sigmas: [10, 1, 0]"
expect_out 'schedule: "explicit"'

tcase "--schedule, --sigma-min, --sigma-max, --rho shape the schedule"
expect_ok "$smp" --steps 3 --schedule log-linear --sigma-min 0.5 --sigma-max 50 --seed 1 -o ll.lat c1.cond
expect_ok "$info" ll.lat
expect_out 'schedule: "log-linear"'
expect_out "sigmas: [50, 5, 0.5, 0]"
expect_ok "$smp" --steps 3 --schedule karras --sigma-min 1 --sigma-max 16 --rho 1 --seed 1 -o k.lat c1.cond
expect_ok "$info" k.lat
expect_out "sigmas: [16, 8.5, 1, 0]"

tcase "--eta and --s-noise change dpmpp-3m-sde and are recorded"
expect_ok "$smp" --sampler dpmpp-3m-sde --eta 0.5 --s-noise 0.9 --steps 2 --seed 1 -o eta.lat c1.cond
expect_ok "$info" eta.lat
expect_out "eta: 0.5"
expect_out "s_noise: 0.9"
latent eta.lat > eta.raw
differ eta.raw sde.raw

tcase "--budget skips blocks (changes the latent) and is recorded"
budget='[{"sigma_min": 1, "sigma_max": null, "blocks": [0, 2]}]'
expect_ok "$smp" --steps 2 --seed 1 --budget "$budget" -o bud.lat c1.cond
expect_ok "$info" bud.lat
expect_out 'budget: "[{\"sigma_min\":1.0,\"sigma_max\":null,\"blocks\":[0,2]}]"'
latent bud.lat > bud.raw
differ bud.raw z1.raw
printf '%s\n' "$budget" > budget.json
expect_ok "$smp" --steps 2 --seed 1 --budget @budget.json -o bud2.lat c1.cond
same bud2.lat bud.lat

tcase "a budget entry no sigma falls in changes nothing"
expect_ok "$smp" --steps 2 --seed 1 --budget '[{"sigma_min": 1000, "sigma_max": null, "blocks": [0]}]' -o nob.lat c1.cond
latent nob.lat > nob.raw
same nob.raw z1.raw

tcase "the model's layer_budget applies by default; --no-budget turns it off"
cp -r m mb
sed 's/"presto": {/"presto": {"layer_budget": [{"sigma_min": 1, "sigma_max": null, "blocks": [0, 2]}], /' m/config.json > mb/config.json
expect_ok "$smp" -m mb --steps 2 --seed 1 -o mb.lat c1.cond
latent mb.lat > mb.raw
same mb.raw bud.raw
expect_ok "$smp" -m mb --no-budget --steps 2 --seed 1 -o mbn.lat c1.cond
latent mbn.lat > mbn.raw
same mbn.raw z1.raw
expect_ok "$info" mbn.lat
expect_out "budget: nil"

tcase "--cfg 1 (no guidance) differs from the model's default and is recorded"
expect_ok "$smp" --steps 2 --seed 1 --cfg 1 -o cfg1.lat c1.cond
expect_ok "$info" cfg1.lat
expect_out "cfg: 1"
latent cfg1.lat > cfg1.raw
differ cfg1.raw z1.raw

tcase "a negative prompt adds negative_cross_attn_cond and changes the result"
expect_ok "$enc" -s 1 -n "noise, distortion" -o neg.cond "warm lofi piano, 80 BPM"
expect_ok "$info" neg.cond
expect_out 'negative_prompt: "noise, distortion"'
expect_out "negative_cross_attn_cond: f32 [18, 32]"
"$mut" dump 0 cross_attn_cond < neg.cond > neg.cross
"$mut" dump 0 cross_attn_cond < c1.cond > c1.cross
same neg.cross c1.cross
expect_ok "$smp" --steps 2 --seed 1 -o neg.lat neg.cond
latent neg.lat > neg.raw
differ neg.raw z1.raw
# without guidance the negative prompt plays no part
expect_ok "$smp" --steps 2 --seed 1 --cfg 1 -o neg1.lat neg.cond
latent neg1.lat > neg1.raw
same neg1.raw cfg1.raw

tcase "latent records carry the whole recipe"
expect_ok "$info" z1.lat
expect_out 'producer: "presto-sample 0.1.0"'
expect_out 'model: "presto-test-tiny"'
expect_out 'prompt: "warm lofi piano, 80 BPM"'
expect_out "seconds_total: 1"
expect_out "seed: 1"
expect_out 'sampler: "dpmpp-3m-sde"'
expect_out "steps: 2"
expect_out "sigmas: [80, 0.03, 0]"
expect_out "cfg: 4.5"
expect_out 'schedule: "karras"'
expect_out "budget: nil"

tcase "a parameter of the input named like a sampling one is replaced, not duplicated"
"$mut" param seed 99 < c1.cond > seeded.cond
expect_ok "$smp" --steps 2 --seed 1 -o seeded.lat seeded.cond
expect_ok "$info" seeded.lat
expect_out "seed: 1"
expect_out_not "seed: \"99\""

tcase "presto-encode: --seconds-start, --seconds, tempo from the prompt or --bpm"
expect_ok "$enc" -s 2.5 --seconds-start 3 "warm lofi piano, 80 BPM"
cp "$OUT" ss.cond
expect_ok "$info" ss.cond
expect_out "seconds_start: 3"
expect_out "seconds_total: 2.5"
expect_out_not "bpm:"
expect_ok "$enc" -s 1 --bpm 90 "warm lofi piano"
expect_err "presto-encode: warning: --bpm ignored: model presto-test-tiny has no bpm conditioner"
cp "$OUT" nobpm.cond
expect_ok "$info" nobpm.cond
expect_out_not "bpm:"
"$TOOLS/mkmodel" mbpm --bpm > /dev/null 2>&1 || fail "mkmodel --bpm failed"
expect_ok "$enc" -m mbpm -s 1 "funky bass groove, 110 BPM" "slow blues 70bpm"
cp "$OUT" bpm.cond
expect_ok "$info" bpm.cond
expect_out "bpm: 110"
expect_out "bpm: 70"
expect_ok "$enc" -m mbpm -s 1 --bpm 90 "funky bass groove"
cp "$OUT" bpm90.cond
expect_ok "$info" bpm90.cond
expect_out "bpm: 90"
expect_ok "$smp" -m mbpm --steps 2 --seed 1 -o bpm.lat bpm90.cond

tcase "presto-sample --seconds sets the latent length; decode crops to seconds_total"
expect_ok "$smp" --steps 2 --seed 1 --seconds 2 -o two.lat c1.cond
expect_ok "$info" two.lat
expect_out "latent: f32 [8, 345]"
expect_ok "$dec" -o two.wav two.lat
is_wav two.wav $ONE_SEC
expect_ok "$dec" --no-crop -o two-full.wav two.lat
is_wav two-full.wav $((345 * 256 * 4 + 44))

tcase "an rf (SAO Small) model runs its default pingpong sampler from sigma = inf"
"$TOOLS/mkmodel" mrf --objective rf > /dev/null 2>&1 || fail "mkmodel --objective rf failed"
expect_ok sh -c '"$1" -m mrf -s 1 "a calm piano" | "$2" -m mrf --steps 3 --seed 1 -o rf.lat' sh "$enc" "$smp"
expect_ok "$info" rf.lat
expect_out 'sampler: "pingpong"'
expect_out "sigmas: [inf,"
expect_out "cfg: 1"
expect_ok "$dec" -m mrf -o rf.wav rf.lat
is_wav rf.wav $ONE_SEC

tcase "presto-info reads each kind of stream"
expect_ok "$info" --kind cond c1.cond
expect_out "stream 0: kind cond"
expect_out "cross_attn_cond: f32 [18, 32]"
expect_out "cross_attn_mask: f32 [18]"
expect_out "global_cond: f32 [64]"
expect_ok "$info" --kind latent z1.lat
expect_out "stream 0: kind latent"
expect_ok "$dec" --stream -o a.audio z1.lat
expect_ok "$info" --kind audio a.audio
expect_out "stream 0: kind audio"
expect_out 'producer: "presto-decode 0.1.0"'
expect_out "audio: f32 [2, 44100]"
expect_out "sample_rate: 44100"
expect_out "seed: 1"

tcase "presto-decode --stream on stdout, many records"
expect_exit_in lines.lat 0 "$dec" --stream
cp "$OUT" lines.audio
expect_ok "$info" --kind audio lines.audio
expect_out "end: 3 records"

tcase "--progress reports each step on stderr"
expect_ok "$smp" --steps 2 --seed 1 --progress -o prog.lat abc.cond
expect_err "presto-sample: record 0 step 1/2"
expect_err "presto-sample: record 2 step 2/2"
expect_ok "$smp" --steps 2 --seed 1 -o quiet.lat abc.cond
[ -s "$ERR" ] && fail "progress without --progress: $(cat "$ERR")"

tcase "--threads is accepted and deterministic for a given count; decoding gives the same bytes on any"
expect_ok "$smp" --threads 1 --steps 2 --seed 1 -o t1.lat c1.cond
expect_ok "$smp" --threads 1 --steps 2 --seed 1 -o t1b.lat c1.cond
same t1.lat t1b.lat
expect_ok "$enc" --threads 1 -s 1 -o t1.cond "warm lofi piano, 80 BPM"
expect_ok "$dec" --threads 1 -o t1.wav z1.lat
# the decoder's work is split over threads by channels and chunks of
# frames, never by what a thread count decides: the same bytes on any
expect_ok "$dec" --threads 2 -o t2.wav z1.lat
expect_ok "$dec" --threads 3 -o t3.wav z1.lat
same t1.wav t2.wav
same t1.wav t3.wav

tcase "--help lists every option, --version"
for t in "$enc" "$smp" "$dec"; do
	expect_ok "$t" --help
	expect_out "Usage: $(basename "$t")"
	expect_out "--model"
	expect_out "--threads"
	expect_ok "$t" --version
	expect_out "$(basename "$t") 0.1.0"
done

tcase "the man pages document every option of --help"
mkdir tools
for t in presto-encode presto-sample presto-decode; do
	ln -s "$BIN/$t" tools/$t
done
expect_ok sh "$ROOT/tests/check-man.sh" tools
rm -rf tools
