#!/bin/sh
# vae.sh - VAE reconstruction of N held-out clips: encode (posterior mean),
# decode at the decoder's own level, compare with the original.
# Writes OUT/vae.tsv (per clip), OUT/vae.json (means, medians) and
# before/after spectrograms OUT/png/vae-*.png of the first three clips.
. "$(dirname "$0")/common.sh"
heldout "$N" > "$WORK/heldout.tsv"
"$BIN/presto-ingest" -m "$MODEL" --threads "$THREADS" --list "$WORK/heldout.tsv" -o "$WORK/heldout.msgpack"
rm -rf "$WORK/vae" && mkdir -p "$WORK/vae"
"$BIN/presto-decode" -m "$MODEL" --threads "$THREADS" --no-normalize --subtype float \
	-o "$WORK/vae/%04d.wav" "$WORK/heldout.msgpack"
awk -F'\t' -v d="$WORK/vae" 'NR == 1 { print "ref\tgen"; next } { printf "%s\t%s/%04d.wav\n", $2, d, NR - 2 }' \
	"$WORK/heldout.tsv" > "$WORK/vae-pairs.tsv"
rm -rf "$WORK/vae-png" && mkdir -p "$WORK/vae-png"
"$BIN/presto-eval" recon --pairs "$WORK/vae-pairs.tsv" --summary "$OUT/vae.json" --png "$WORK/vae-png" > "$WORK/vae.tsv"
# keep the table with paths relative to the corpus / work directory
sed -e "s#$CORPUS/##g" -e "s#$WORK/##g" "$WORK/vae.tsv" > "$OUT/vae.tsv"
for id in $(awk -F'\t' 'NR > 1 && NR <= 4 { print $1 }' "$WORK/heldout.tsv"); do
	cp "$WORK/vae-png/$id.png" "$OUT/png/vae-$id.png"
done
cat "$OUT/vae.json"
