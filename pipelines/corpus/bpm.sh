#!/bin/sh
# bpm.sh - aubio's two tempo estimates of audio files, one line per file:
#
#   sh bpm.sh FILE...   ->   FILE<TAB>TEMPO<TAB>BEAT
#
# TEMPO is `aubio tempo`'s final value; BEAT is 60 / the median interval
# between `aubio beat`'s beat times (much closer on 10 s clips: the tempo
# tracker's start-up biases the first). 0 where aubio finds nothing. Used by
# tempo.sh (the corpus baseline) and by the evaluation of generated audio
# (pipelines/eval), so both are measured the same way.
set -eu
for f in "$@"; do
	t=$(aubio tempo -i "$f" 2>/dev/null | awk '/bpm/ { v = $1 } END { print v + 0 }')
	b=$(aubio beat -i "$f" 2>/dev/null | awk '
		NR > 1 { d[++n] = $1 - p } { p = $1 }
		END {
			if (n == 0) { print 0; exit }
			for (i = 2; i <= n; i++) { x = d[i]; for (j = i - 1; j >= 1 && d[j] > x; j--) d[j + 1] = d[j]; d[j + 1] = x }
			m = (n % 2) ? d[(n + 1) / 2] : (d[n / 2] + d[n / 2 + 1]) / 2
			print 60 / m
		}')
	printf '%s\t%s\t%s\n' "$f" "$t" "$b"
done
