#!/bin/sh
# test.sh - build a tiny corpus (6 clips of 2 s) and check it: metadata and
# captions parse, audio format and lengths (check.sh), MIDI tempo = caption
# BPM, bit-identical re-rendering of a deleted clip (resume + determinism),
# plan prefix stability, held-out splits on a large plan. Skips (exit 0) when
# the corpus packages (pipelines/setup-corpus.sh) are not installed.
#
#   sh pipelines/corpus/test.sh
cd "$(dirname "$0")" || exit 1
for c in mma fluidsynth parallel sox soxi; do
	command -v $c > /dev/null 2>&1 || { echo "SKIP corpus test: $c not installed (sh pipelines/setup-corpus.sh)"; exit 0; }
done
: "${SF2:=/usr/share/sounds/sf2/FluidR3_GM.sf2}"
[ -f "$SF2" ] || { echo "SKIP corpus test: no soundfont $SF2 (sh pipelines/setup-corpus.sh)"; exit 0; }
export SF2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $1"; }
no() { echo "not ok - $1"; fail=1; }
out=$tmp/c

# build + check
if make -s OUT="$out" N=6 SECONDS=2 SEED=7 J=2 > "$tmp/log" 2>&1; then ok "tiny corpus builds"; else no "tiny corpus builds"; tail -n 20 "$tmp/log"; exit 1; fi
if sh check.sh "$out"; then ok "check.sh"; else no "check.sh"; fi
[ "$(ls "$out/audio" | wc -l)" -eq 6 ] && ok "6 audio files" || no "6 audio files"
[ "$(soxi -V1 -s "$out"/audio/*.flac | sort -u)" = 88200 ] && ok "2 s = 88200 frames each" || no "2 s = 88200 frames each"

# MIDI tempo meta event (FF 51 03 tttttt, microseconds per quarter) = caption BPM
tail -n +2 "$out/metadata.tsv" | cut -f1,6 | while read -r id bpm; do
	us=$(od -An -v -tx1 "$out/midi/$id.mid" | tr -d '\n' | tr -s ' ' | sed -n 's/.* ff 51 03 \(..\) \(..\) \(..\).*/\1\2\3/p')
	[ -n "$us" ] || { echo "$id: no tempo event"; continue; }
	awk -v us="$((0x$us))" -v bpm="$bpm" -v id="$id" 'BEGIN { t = 60e6 / bpm; if (us < t - 1 || us > t + 1) print id ": tempo " 60e6 / us " BPM, caption " bpm }'
done > "$tmp/tempo"
[ ! -s "$tmp/tempo" ] && ok "MIDI tempo = caption BPM" || { no "MIDI tempo = caption BPM"; cat "$tmp/tempo"; }

# resume + determinism: a deleted clip comes back bit for bit, the others are kept
(cd "$out" && md5sum audio/* midi/*) > "$tmp/md5"
rm "$out/audio/000003.flac"
touch -d '2001-01-01' "$out/audio/000004.flac"
make -s OUT="$out" N=6 SECONDS=2 SEED=7 J=2 render > "$tmp/log" 2>&1 || no "re-render"
(cd "$out" && md5sum -c --quiet "$tmp/md5") && ok "re-rendered clip is bit-identical" || no "re-rendered clip is bit-identical"
[ "$(date -r "$out/audio/000004.flac" +%Y)" = 2001 ] && ok "finished clips are skipped" || no "finished clips are skipped"

# the plan: prefix-stable in N, changes with SEED, held-out splits
awk -v N=6 -v SEED=7 -v SECONDS=2 -f plan.awk styles.tsv voices.tsv progressions.tsv > "$tmp/p6"
awk -v N=2000 -v SEED=7 -v SECONDS=2 -f plan.awk styles.tsv voices.tsv progressions.tsv > "$tmp/p2000"
awk -v N=6 -v SEED=8 -v SECONDS=2 -f plan.awk styles.tsv voices.tsv progressions.tsv > "$tmp/p6b"
cmp -s "$tmp/p6" "$out/metadata.tsv" && ok "plan is deterministic" || no "plan is deterministic"
[ "$(head -n 7 "$tmp/p2000")" = "$(cat "$tmp/p6")" ] && ok "plan is prefix-stable in N" || no "plan is prefix-stable in N"
cmp -s "$tmp/p6" "$tmp/p6b" && no "SEED changes the plan" || ok "SEED changes the plan"
awk -F'\t' 'NR > 1 { n[$11]++; c = $4 "|" $7 "|" $8; if ((c in sp) && sp[c] != $11) bad++; sp[c] = $11 }
	END { if (bad || n["train"] < 1500 || n["valid"] < 100 || n["test"] < 100) { print "split counts", n["train"], n["valid"], n["test"], "shared combinations", bad + 0; exit 1 } }' \
	"$tmp/p2000" && ok "held-out (genre, key, mode) combinations" || no "held-out (genre, key, mode) combinations"

[ $fail = 0 ] && echo "corpus test: all passed" || echo "corpus test: FAILED"
exit $fail
