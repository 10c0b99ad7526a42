#!/bin/sh
# render-clip.sh - render one clip of the plan: an MMA song file -> MIDI (mma)
# -> 32-bit float WAV (fluidsynth, General MIDI soundfont) -> exactly SECONDS
# of 44.1 kHz stereo 16-bit FLAC, peak-normalised to -1 dBFS (sox).
#
#   render-clip.sh OUT ID STYLE BPM KEY MODE SECONDS CHORDS MMA_SEED BARS MMA
#
# (the plan.tsv columns of the same names; MMA is extra MMA commands separated
# by ";", or "-"). Environment: SF2 (soundfont), GAIN (fluidsynth gain).
#
# Resumable and atomic: the song file written for a clip records everything
# that decides its audio (render settings included); a clip whose audio exists
# and whose stored song file is identical is skipped. Work happens in OUT/tmp
# and lands with rename(2): the audio first, then the song file, so a killed
# run leaves either a finished clip or one that is rendered again.
set -eu
[ $# -eq 11 ] || { echo "usage: render-clip.sh OUT ID STYLE BPM KEY MODE SECONDS CHORDS MMA_SEED BARS MMA" >&2; exit 2; }
out=$1 id=$2 style=$3 bpm=$4 key=$5 mode=$6 seconds=$7 chords=$8 mseed=$9
bars=${10} extra=${11}
: "${SF2:=/usr/share/sounds/sf2/FluidR3_GM.sf2}"
: "${GAIN:=0.2}"
rate=44100
frames=$(awk -v s="$seconds" -v r=$rate 'BEGIN { printf "%d", s * r + 0.5 }')

song=$(
	echo "// presto corpus clip $id: $seconds s at $rate Hz, fluidsynth -g $GAIN $(basename "$SF2")"
	echo "RndSeed $mseed"
	echo "Groove $style"
	echo "Tempo $bpm"
	echo "KeySig $key $mode"
	if [ "$extra" != "-" ]; then
		echo "$extra" | tr ';' '\n'
	fi
	echo "$chords" | awk -v bars="$bars" '{ for (b = 1; b <= bars; b++) print b, $((b - 1) % NF + 1) }'
)

audio=$out/audio/$id.flac
stored=$out/mma/$id.mma
if [ -f "$audio" ] && [ -f "$stored" ] && [ "$(cat "$stored")" = "$song" ]; then
	exit 0
fi

# a directory of its own, and relative names: MMA writes the input file name
# into the MIDI file
tmpdir=$out/tmp/$id.$$
mkdir -p "$tmpdir"
trap 'rm -rf "$tmpdir"' EXIT
tmp=$tmpdir/$id
printf '%s\n' "$song" > "$tmp.mma"
if ! (cd "$tmpdir" && PYTHONHASHSEED=0 mma -f "$id.mid" "$id.mma") > "$tmp.log" 2>&1 || [ ! -s "$tmp.mid" ]; then
	echo "render-clip: $id: mma failed:" >&2
	grep -v PLUGIN "$tmp.log" >&2 || true
	exit 1
fi
if ! fluidsynth -ni -q -F "$tmp.wav" -r $rate -O float -T wav -g "$GAIN" "$SF2" "$tmp.mid" > "$tmp.log" 2>&1; then
	echo "render-clip: $id: fluidsynth failed:" >&2
	cat "$tmp.log" >&2
	exit 1
fi
have=$(soxi -V1 -s "$tmp.wav")
if [ "$have" -lt "$frames" ]; then
	echo "render-clip: $id: rendered $have frames, fewer than $frames" >&2
	exit 1
fi
peak=$(sox -V1 "$tmp.wav" -n trim 0 "${frames}s" stat 2>&1 | awk '/^Maximum amplitude/ { print $3 }')
if awk -v p="$peak" 'BEGIN { exit !(p < 0.001) }'; then
	echo "render-clip: $id: silent (peak $peak)" >&2
	exit 1
fi
sox -D -V1 "$tmp.wav" -b 16 "$tmp.flac" trim 0 "${frames}s" gain -n -1
mv -f "$tmp.mid" "$out/midi/$id.mid"
mv -f "$tmp.flac" "$audio"
mv -f "$tmp.mma" "$stored"
