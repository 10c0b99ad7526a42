#!/bin/sh
# check.sh - verify a built corpus: metadata fields parse, every clip's audio
# is there and is 44.1 kHz stereo 16-bit of exactly its length, captions carry
# the clip's BPM and key, the splits partition the clips and their (genre,
# key, mode) combinations, no held-out prompt is a training caption.
#
#   sh check.sh OUT        (prints "check: ok ..." and exits 0, or the problems)
set -u
out=${1:?usage: check.sh OUT}
meta=$out/metadata.tsv
fail=0
bad() { echo "check: $*" >&2; fail=1; }

[ -f "$meta" ] || { echo "check: no $meta" >&2; exit 1; }
want="id	file	style	genre	instruments	bpm	key	mode	progression	seconds	split	caption	feel	meter	chords	variation	mma_seed	beats	bars	mma"
[ "$(head -n 1 "$meta")" = "$want" ] || bad "metadata header differs from: $want"

# field syntax, caption contents
awk -F'\t' 'NR > 1 {
	e = ""
	if (NF != 20) e = e " " NF " fields"
	if ($1 !~ /^[0-9][0-9][0-9][0-9][0-9][0-9]$/ || $1 + 0 != NR - 2) e = e " id"
	if ($2 != "audio/" $1 ".flac") e = e " file"
	if ($3 !~ /^[a-z]+\/[^:]+:[^ ]+$/) e = e " style"
	if ($6 !~ /^[0-9]+$/ || $6 < 40 || $6 > 240) e = e " bpm"
	if ($7 !~ /^[A-G][b#]?$/) e = e " key"
	if ($8 != "major" && $8 != "minor") e = e " mode"
	if ($10 !~ /^[0-9]+(\.[0-9]+)?$/ || $10 <= 0) e = e " seconds"
	if ($11 != "train" && $11 != "valid" && $11 != "test") e = e " split"
	if (index($12, $6 " BPM") == 0) e = e " caption-bpm"
	if (index($12, $7 " " $8) == 0) e = e " caption-key"
	# exactly one BPM number in the caption, and it is the clip'"'"'s
	s = $12; n = 0
	while (match(s, /[0-9]+ BPM/)) { n++; v = substr(s, RSTART, RLENGTH - 4); s = substr(s, RSTART + RLENGTH) }
	if (n != 1 || v != $6) e = e " caption-bpm-count"
	if ($5 == "" || $4 == "" || $9 == "" || $12 == "") e = e " empty"
	if (e != "") { print "check: line " NR ":" e; bad = 1 }
	if (NR > 40 && bad) exit 1
} END { exit bad }' "$meta" >&2 || fail=1

n=$(($(wc -l < "$meta") - 1))
[ "$n" -gt 0 ] || bad "no clips"

# audio: presence, format, length (headers only)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tail -n +2 "$meta" | cut -f1 | sort > "$tmp/ids"
tail -n +2 "$meta" | awk -F'\t' -v o="$out" '{ printf "%s/%s\t%d\n", o, $2, $10 * 44100 + 0.5 }' > "$tmp/want"
cut -f1 "$tmp/want" > "$tmp/files"
missing=$(while read -r f; do [ -f "$f" ] || echo "$f"; done < "$tmp/files" | head -n 5)
[ -z "$missing" ] || bad "missing audio: $missing"
if [ -z "$missing" ]; then
	for q in r c b s; do
		tr '\n' '\0' < "$tmp/files" | xargs -0 soxi -V1 -$q > "$tmp/$q" || bad "soxi -$q failed"
	done
	paste "$tmp/want" "$tmp/r" "$tmp/c" "$tmp/b" "$tmp/s" | awk -F'\t' '
		$3 != 44100 || $4 != 2 || $5 != 16 || $6 != $2 {
			print "check: " $1 ": " $3 " Hz, " $4 " channels, " $5 " bits, " $6 " frames (want 44100, 2, 16, " $2 ")"; bad = 1
		} END { exit bad }' >&2 || fail=1
fi
extra=$(ls "$out/audio" | sed 's/\.flac$//' | sort | comm -23 - "$tmp/ids" | head -n 5)
[ -z "$extra" ] || bad "audio not in the metadata: $extra"

# splits: a partition of the clips; (genre, key, mode) disjoint across splits
for s in train valid test; do
	[ -f "$out/$s.tsv" ] || { bad "no $s.tsv"; continue; }
	tail -n +2 "$out/$s.tsv" | cut -f1 | sort > "$tmp/$s"
done
cat "$tmp/train" "$tmp/valid" "$tmp/test" 2>/dev/null | sort > "$tmp/all"
[ -z "$(uniq -d "$tmp/all")" ] || bad "a clip is in two splits"
cmp -s "$tmp/all" "$tmp/ids" || bad "the splits do not cover the clips exactly"
awk -F'\t' 'NR > 1 { c = $4 "|" $7 "|" $8; if ((c in sp) && sp[c] != $11) { print "check: " c " in " sp[c] " and " $11; bad = 1 } sp[c] = $11 }
	END { exit bad }' "$meta" >&2 || fail=1
if [ -f "$out/captions-train.txt" ]; then
	for s in valid test; do
		[ -f "$out/prompts-$s.txt" ] || continue
		sort -u "$out/captions-train.txt" | comm -12 - "$out/prompts-$s.txt" > "$tmp/common"
		[ ! -s "$tmp/common" ] || bad "$s prompts that are training captions: $(head -n 3 "$tmp/common")"
	done
fi

[ $fail = 0 ] || exit 1
echo "check: ok, $n clips ($(wc -l < "$tmp/train") train, $(wc -l < "$tmp/valid") valid, $(wc -l < "$tmp/test") test)"
