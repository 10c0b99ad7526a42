#!/bin/sh
# oov.sh - prompts outside the caption vocabulary (oov.txt: instruments,
# genres and words the corpus never used): what comes out. For each prompt:
# aubio's tempo estimates against the BPM in the prompt, and a spectrogram;
# overall: the Frechet distance of the outputs' latents to the held-out
# latents (does the model stay in the music it knows?).
# Writes OUT/oov.tsv, OUT/oov.json, OUT/png/oov-*.png.
. "$(dirname "$0")/common.sh"
ROOT=$(cd "$here/../.." && pwd)
"$BIN/presto-encode" -m "$MODEL" --threads "$THREADS" < "$here/oov.txt" |
	"$BIN/presto-sample" -m "$MODEL" --threads "$THREADS" --seed "$SEED" $steps_opt -o "$WORK/oov.msgpack"
rm -rf "$WORK/oov" && mkdir -p "$WORK/oov"
"$BIN/presto-decode" -m "$MODEL" --threads "$THREADS" -o "$WORK/oov/%04d.wav" "$WORK/oov.msgpack"
{
	printf 'prompt\tbpm\ttempo\tbeat\n'
	i=0
	while IFS= read -r p; do
		[ -n "$p" ] || continue
		f=$(printf '%s/oov/%04d.wav' "$WORK" $i)
		bpm=$(printf '%s\n' "$p" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) BPM.*/\1/p')
		printf '%s\t%s\t%s\n' "$p" "${bpm:-0}" "$(sh "$ROOT/pipelines/corpus/bpm.sh" "$f" | cut -f2-)"
		"$BIN/presto-eval" spec "$f" -o "$OUT/png/oov-$i.png"
		i=$((i + 1))
	done < "$here/oov.txt"
} > "$OUT/oov.tsv"
[ -s "$WORK/heldout.msgpack" ] || { heldout "$N" > "$WORK/heldout.tsv"; "$BIN/presto-ingest" -m "$MODEL" --threads "$THREADS" --list "$WORK/heldout.tsv" -o "$WORK/heldout.msgpack"; }
set -- $(tempo_score "$OUT/oov.tsv" 2 4)
fd=$("$BIN/presto-eval" frechet "$WORK/oov.msgpack" "$WORK/heldout.msgpack" | awk '$1 == "frechet" { print $2 }')
printf '{"prompts": %d, "tempo_within_4pct": %s, "tempo_within_4pct_octave": %s, "frechet_latent_vs_heldout": %s}\n' \
	"$3" "$1" "$2" "$fd" > "$OUT/oov.json"
cat "$OUT/oov.tsv" "$OUT/oov.json"
