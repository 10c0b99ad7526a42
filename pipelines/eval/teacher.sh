#!/bin/sh
# teacher.sh - the teacher on the captions of N held-out clips (10 s each,
# the model's sampler, steps and guidance unless STEPS is set):
#   tempo adherence: aubio's estimates (pipelines/corpus/bpm.sh) of the
#     generated clips and of the rendered originals against the caption BPM;
#   Frechet distance between the generated latents and the held-out clips'
#     latents, beside train-vs-held-out (the floor a model can reach with
#     this many clips);
#   spectrograms of the first four generations.
# Writes OUT/teacher-tempo.tsv, OUT/teacher.json, OUT/png/gen-*.png.
. "$(dirname "$0")/common.sh"
ROOT=$(cd "$here/../.." && pwd)
heldout "$N" > "$WORK/heldout.tsv"
[ -s "$WORK/heldout.msgpack" ] && [ "$WORK/heldout.msgpack" -nt "$MODEL/vae.safetensors" ] ||
	"$BIN/presto-ingest" -m "$MODEL" --threads "$THREADS" --list "$WORK/heldout.tsv" -o "$WORK/heldout.msgpack"
trainset "$N" > "$WORK/train.tsv"
[ -s "$WORK/train.msgpack" ] && [ "$WORK/train.msgpack" -nt "$MODEL/vae.safetensors" ] ||
	"$BIN/presto-ingest" -m "$MODEL" --threads "$THREADS" --list "$WORK/train.tsv" -o "$WORK/train.msgpack"

# generate: one record per caption, seeds SEED, SEED+1, ...
tail -n +2 "$WORK/heldout.tsv" | cut -f4 > "$WORK/captions.txt"
start=$(date +%s)
"$BIN/presto-encode" -m "$MODEL" --threads "$THREADS" < "$WORK/captions.txt" |
	"$BIN/presto-sample" -m "$MODEL" --threads "$THREADS" --seed "$SEED" $steps_opt -o "$WORK/gen.msgpack"
rm -rf "$WORK/gen" && mkdir -p "$WORK/gen"
"$BIN/presto-decode" -m "$MODEL" --threads "$THREADS" -o "$WORK/gen/%04d.wav" "$WORK/gen.msgpack"
secs=$(( $(date +%s) - start ))

# tempo: generated and original, same estimator
tail -n +2 "$WORK/heldout.tsv" | awk -F'\t' -v d="$WORK/gen" '{ printf "%s\t%s\t%s\t%s/%04d.wav\n", $1, $3, $2, d, NR - 1 }' \
	> "$WORK/tempo.in"
{
	printf 'id\tbpm\tref_tempo\tref_beat\tgen_tempo\tgen_beat\n'
	parallel --colsep '\t' -j"$THREADS" -k \
		"printf '%s\t%s\t' {1} {2}; printf '%s\t%s\t' \$(sh $ROOT/pipelines/corpus/bpm.sh {3} | cut -f2-); sh $ROOT/pipelines/corpus/bpm.sh {4} | cut -f2-" \
		< "$WORK/tempo.in"
} > "$OUT/teacher-tempo.tsv"
ref=$(tempo_score "$OUT/teacher-tempo.tsv" 2 4)
gen=$(tempo_score "$OUT/teacher-tempo.tsv" 2 6)

# latent distributions
fd() { "$BIN/presto-eval" frechet "$1" "$2" | awk '$1 == "frechet" { print $2 }'; }
fd_gen=$(fd "$WORK/gen.msgpack" "$WORK/heldout.msgpack")
fd_train=$(fd "$WORK/train.msgpack" "$WORK/heldout.msgpack")

for i in 0 1 2 3; do
	f=$(printf '%s/gen/%04d.wav' "$WORK" $i)
	[ -f "$f" ] && "$BIN/presto-eval" spec "$f" -o "$OUT/png/gen-$i.png"
done
set -- $ref; ref_w=$1 ref_o=$2 n=$3
set -- $gen; gen_w=$1 gen_o=$2
cat > "$OUT/teacher.json" <<JSON
{"clips": $n, "seconds_per_clip": 10, "seed": $SEED, "steps": "${STEPS:-model default}",
 "generation_wall_s": $secs, "threads": $THREADS,
 "tempo_within_4pct": {"generated": $gen_w, "ground_truth": $ref_w},
 "tempo_within_4pct_octave": {"generated": $gen_o, "ground_truth": $ref_o},
 "frechet_latent": {"generated_vs_heldout": $fd_gen, "train_vs_heldout": $fd_train}}
JSON
cat "$OUT/teacher.json"
