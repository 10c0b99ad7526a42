#!/bin/sh
# tempo.sh - how well aubio's tempo estimates agree with the captions' BPM on
# the corpus itself: the baseline for the tempo-adherence check of generated
# audio (a model trained on it cannot be expected to do better).
#
#   sh tempo.sh OUT [COUNT]   (COUNT clips spread evenly over the ids; default all)
#
# Two estimates per clip (bpm.sh): `aubio tempo` and 60 / the median
# interval of `aubio beat`'s beat times. Writes OUT/tempo.tsv (id, style, bpm, tempo, beat)
# and prints the share of clips within 4% of the BPM, and within 4% of BPM x
# {1/2, 1, 2} (octave errors forgiven), and the library files that agree least.
set -eu
out=${1:?usage: tempo.sh OUT [COUNT]}
meta=$out/metadata.tsv
n=$(($(wc -l < "$meta") - 1))
count=${2:-$n}
step=$(( n / count )); [ $step -ge 1 ] || step=1
here=$(cd "$(dirname "$0")" && pwd)
tail -n +2 "$meta" | awk -F'\t' -v step=$step -v count="$count" '(NR - 1) % step == 0 && k++ < count { print $1 "\t" $3 "\t" $6 }' > "$out/tempo.in"
: > "$out/tempo.tsv"
# one clip per parallel job
parallel --colsep '\t' -j"$(nproc)" -k \
	"printf '%s\t%s\t%s\t' {1} {2} {3}; sh $here/bpm.sh $out/audio/{1}.flac | cut -f2-" < "$out/tempo.in" > "$out/tempo.tsv"
rm -f "$out/tempo.in"
awk -F'\t' '
function near(a, b) { return a > 0 && (a - b < 0 ? b - a : a - b) <= 0.04 * b }
function oct(a, b) { return near(a, b) || near(a, 2 * b) || near(a, b / 2) }
{
	n++; g = $2; sub(/:.*/, "", g); ng[g]++
	te += near($4, $3); to += oct($4, $3); be += near($5, $3); bo += oct($5, $3); og[g] += oct($5, $3)
}
END {
	printf "tempo: %d clips within 4%% of the caption BPM (octave errors forgiven):\n", n
	printf "  aubio tempo:              %5.1f%% (%5.1f%%)\n", 100 * te / n, 100 * to / n
	printf "  aubio beat, median beat:  %5.1f%% (%5.1f%%)\n", 100 * be / n, 100 * bo / n
	for (g in ng)
		if (ng[g] >= 3)
			printf "%.3f %s %d/%d\n", og[g] / ng[g], g, og[g], ng[g] > "/dev/stderr"
}' "$out/tempo.tsv" 2> "$out/tempo.files"
echo "library files agreeing least (aubio beat, octave-tolerant):"
sort -n "$out/tempo.files" | head -n 10 | awk '{ print "  " $2 " " $3 }'
rm -f "$out/tempo.files"
