#!/bin/sh
# stats.sh - a Markdown summary of a built corpus (written to OUT/STATS.md by
# the Makefile): size, hours, splits, styles and genres, tempo and key
# balance, caption vocabulary, rendering speed of the last run, tool versions.
#
#   sh stats.sh OUT
set -u
out=${1:?usage: stats.sh OUT}
meta=$out/metadata.tsv
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }

echo "# Corpus statistics ($out)"
echo
tail -n +2 "$meta" | awk -F'\t' '
{ n++; sec += $10; sp[$11]++; spsec[$11] += $10; st[$3] = 1; ge[$4]++; split($3, f, ":"); fi[f[1]] = 1
  mo[$8]++; ke[$7 " " $8] = 1; me[$14]++; if ($16 ~ /nodrums/) nd++; if ($16 ~ /voice:/) vs++
  b = $6; if (b < 80) tb["slow (< 80)"]++; else if (b < 110) tb["mid (80-109)"]++; else if (b < 140) tb["upbeat (110-139)"]++; else tb["fast (>= 140)"]++
  if (min == "" || b < min) min = b; if (b > max) max = b }
END {
	printf "- clips: %d, %.2f hours (%g s each)\n", n, sec / 3600, sec / n
	printf "- splits: train %d (%.2f h), valid %d (%.2f h), test %d (%.2f h)\n", sp["train"], spsec["train"] / 3600, sp["valid"], spsec["valid"] / 3600, sp["test"], spsec["test"] / 3600
	for (s in st) ns++; for (s in fi) nfi++; for (s in ge) ng++; for (s in ke) nk++
	printf "- styles: %d MMA grooves from %d library files, %d genres\n", ns, nfi, ng
	printf "- tempo: %d-%d BPM;", min, max
	for (t in tb) printf " %s %d,", t, tb[t]; printf "\n"
	printf "- keys: %d of 24; major %d, minor %d\n", nk, mo["major"], mo["minor"]
	printf "- metre:"; for (m in me) printf " %s %d,", m, me[m]; printf "\n"
	printf "- variations: voice swapped %d, drums muted %d\n", vs, nd
}'
bytes=$(du -sb "$out/audio" | cut -f1)
echo "- audio on disk: $(awk -v b="$bytes" 'BEGIN { printf "%.2f GiB", b / 2^30 }') (FLAC, 16-bit stereo 44.1 kHz)"
echo "- caption vocabulary: $(tail -n +2 "$meta" | cut -f12 | tr ' ,' '\n\n' | grep -v '^$' | grep -v '^[0-9]*$' | sort -u | wc -l) distinct words (numbers aside) in $(tail -n +2 "$meta" | cut -f12 | sort -u | wc -l) distinct captions"
if [ -f "$out/render.joblog" ] && [ -f "$out/render.start" ] && [ -f "$out/render.end" ]; then
	wall=$(( $(cat "$out/render.end") - $(cat "$out/render.start") ))
	awk -F'\t' -v wall="$wall" -v cores="$(nproc)" 'NR > 1 { n++; t += $4; if ($7 != 0) f++ }
	END {
		if (n == 0) exit
		printf "- last render run: %d jobs (%d failed) in %d s wall on %d cores: %.1f clips/min; %.2f s per clip and job (including clips already done)\n", n, f, wall, cores, (wall > 0 ? n * 60 / wall : 0), t / n
	}' "$out/render.joblog"
fi
echo "- tools: mma $(ver mma), fluidsynth $(ver fluidsynth), fluid-soundfont-gm $(ver fluid-soundfont-gm), sox $(ver sox)"
echo
echo "## Clips per genre"
echo
tail -n +2 "$meta" | cut -f4 | sort | uniq -c | sort -k1,1nr -k2 | awk '{ c = $1; $1 = ""; printf "%s%s (%d)", (NR > 1 ? ", " : ""), substr($0, 2), c } END { print "" }'
