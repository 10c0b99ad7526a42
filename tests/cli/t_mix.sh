# t_mix.sh - presto-mix: sums with gains, concatenation with crossfades,
# channel and rate checks, normalisation and the clipping warning, latent
# interpolation (exact end points, lists, slerp, shape checks), errors
# and exit codes, --help vs the man page.

mix=$BIN/presto-mix
sine=$TOOLS/mksine
info=$BIN/presto-info

# info FILE [FRAME]: "frames=N channels=C rate=R peak=P" (+ "frame F: ...")
# of an audio file into info.txt
audio_info() {
	"$sine" --info "$@" > info.txt 2> info.err || fail "mksine --info $*: $(cat info.err)"
}

# field NAME: a value of the first line of info.txt (frames, channels, ...)
field() {
	sed -n "1s/.*$1=\([^ ]*\).*/\1/p" info.txt
}

# near A B TOL: |A - B| <= TOL
near() {
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
}

expect_frames() {
	[ "$(field frames)" = "$1" ] || fail "expected $1 frames, got $(field frames)"
}

expect_peak() {
	near "$(field peak)" "$1" "${2:-0.00002}" || fail "expected peak $1, got $(field peak)"
}

# frame_value CH: sample of channel CH (0-based) on the "frame F:" line
frame_value() {
	sed -n '2p' info.txt | awk -v c="$1" '{ print $(c + 3) }'
}

tcase "mksine writes test tones (8 kHz float WAV, peak = amplitude)"
"$sine" -a 0.5 a.wav && "$sine" -s 0.5 -f 220 -a 0.5 b.wav && "$sine" -a 0.25 -f 0 dc1.wav &&
	"$sine" -s 0.5 -a 0.25 -f 0 dc2.wav && "$sine" -c 2 -a 0.3 st.wav && "$sine" -c 3 st3.wav &&
	"$sine" -r 16000 r16.wav || fail "mksine failed"
audio_info a.wav
expect_frames 8000
expect_peak 0.5

tcase "--sum (default): as long as the longest input, samples added"
expect_ok "$mix" --subtype float -o sum.wav a.wav b.wav
expect_file sum.wav
audio_info sum.wav 0
expect_frames 8000
near "$(frame_value 0)" 1.0 0.00001 || fail "frame 0 is $(frame_value 0), want 0.5 + 0.5"
audio_info sum.wav 6000
near "$(frame_value 0)" "$(awk 'BEGIN { printf "%.6f", 0.5 * cos(2 * 3.14159265358979 * 440 * 6000 / 8000) }')" \
	0.00001 || fail "frame 6000 (past the end of b.wav) is $(frame_value 0)"

tcase "--gain once per input: 0 dB + -6 dB (WAV on stdout by default)"
expect_ok "$mix" -g 0 -g -6 --subtype float a.wav a.wav
cp "$OUT" g.wav
audio_info g.wav
expect_frames 8000
expect_peak 0.750594

tcase "--gain given once applies to every input"
expect_ok "$mix" --gain=-6 --subtype float -o g1.wav a.wav a.wav
audio_info g1.wav
expect_peak 0.501187

tcase "the default 16-bit output is within a 16-bit step"
expect_ok "$mix" -o s16.wav a.wav b.wav
audio_info s16.wav
expect_peak 1.0 0.0001

tcase "--concat: lengths add up"
expect_ok "$mix" --concat -o cat.wav a.wav b.wav
audio_info cat.wav
expect_frames 12000

tcase "--concat --crossfade: length a + b - crossfade, equal-power overlap"
expect_ok "$mix" --concat --crossfade 0.25 --subtype float -o xf.wav dc1.wav dc2.wav
audio_info xf.wav 0
expect_frames 10000
near "$(frame_value 0)" 0.25 0.000001 || fail "frame 0 is $(frame_value 0)"
# the overlap is frames 6000..7999; at its middle both weights are ~cos(pi/4)
audio_info xf.wav 6999
near "$(frame_value 0)" 0.353553 0.0001 || fail "mid-crossfade frame is $(frame_value 0), want 0.25 * sqrt(2)"
audio_info xf.wav 9999
near "$(frame_value 0)" 0.25 0.000001 || fail "last frame is $(frame_value 0)"

tcase "a mono input is copied to both channels of a stereo mix"
expect_ok "$mix" --subtype float -o ms.wav a.wav st.wav
audio_info ms.wav 0
[ "$(field channels)" = 2 ] || fail "expected 2 channels, got $(field channels)"
near "$(frame_value 0)" 0.8 0.00001 || fail "left is $(frame_value 0)"
near "$(frame_value 1)" 0.8 0.00001 || fail "right is $(frame_value 1)"

tcase "stereo with 3 channels: exit 2"
expect_exit 2 "$mix" -o bad.wav st.wav st3.wav
expect_err "st.wav: 2 channels cannot be mixed with 3"
expect_no_file bad.wav

tcase "sample-rate mismatch: exit 2, both rates named, no output file"
expect_exit 2 "$mix" -o bad.wav a.wav r16.wav
expect_err "r16.wav: sample rate 16000 Hz differs from the 8000 Hz of a.wav"
expect_no_file bad.wav
ls -a | grep -q '^\.bad\.wav' && fail "temp file left behind"

tcase "standard input as '-' (once)"
expect_exit_in b.wav 0 "$mix" --subtype float -o in.wav a.wav -
audio_info in.wav
expect_peak 1.0 0.00001
expect_exit 1 "$mix" - -
expect_err "only once"

tcase "a result beyond full scale: a warning, clipped 16-bit samples"
expect_ok "$mix" -o clip.wav a.wav a.wav a.wav
expect_err "presto-mix: warning: the result peaks at +3.52 dBFS and clips"
audio_info clip.wav
expect_peak 1.0 0.0001

tcase "--normalize (to -1 dBFS) and --peak"
expect_ok "$mix" --normalize --subtype float -o n.wav a.wav a.wav a.wav
[ -s "$ERR" ] && fail "unexpected message: $(cat "$ERR")"
audio_info n.wav
expect_peak 0.891251
expect_ok "$mix" --peak -6 --subtype float -o p.wav a.wav
audio_info p.wav
expect_peak 0.501187

tcase "other containers and subtypes by extension"
expect_ok "$mix" --subtype 24 -o x.flac a.wav b.wav
audio_info x.flac
expect_frames 8000
expect_exit 2 "$mix" -o x.xyz a.wav
expect_err "unsupported audio file extension"
expect_no_file x.xyz

tcase "--crossfade longer than a clip: exit 2"
expect_exit 2 "$mix" --concat --crossfade 0.6 -o bad.wav a.wav b.wav
expect_err "--crossfade: 0.6 s (4800 frames) is longer than b.wav (4000 frames)"
expect_no_file bad.wav

tcase "usage errors: exit 1, nothing written"
expect_exit 1 "$mix" --no-such-option a.wav
expect_err "unknown option '--no-such-option'"
expect_exit 1 "$mix"
expect_err "no input FILE"
expect_exit 1 "$mix" --sum --concat -o bad.wav a.wav b.wav
expect_exit 1 "$mix" --crossfade 1 -o bad.wav a.wav b.wav
expect_err "--crossfade needs --concat"
expect_exit 1 "$mix" -g 0 -g -6 -o bad.wav a.wav a.wav a.wav
expect_err "--gain given 2 times for 3 inputs"
expect_exit 1 "$mix" -g loud a.wav
expect_exit 1 "$mix" --crossfade -1 --concat a.wav
expect_exit 1 "$mix" --subtype 8 a.wav
expect_exit 1 "$mix" --peak 3 a.wav
expect_exit 1 "$mix" a.wav -o
expect_err "needs an argument"
expect_no_file bad.wav

tcase "missing input: exit 2"
expect_exit 2 "$mix" -o bad.wav a.wav no-such.wav
expect_err "cannot open 'no-such.wav'"
expect_no_file bad.wav

tcase "not an audio file: exit 2"
echo hello > hello.txt
expect_exit 2 "$mix" -o bad.wav hello.txt
expect_err "hello.txt: not a readable audio file"

tcase "unwritable output: exit 2, no file left"
expect_exit 2 "$mix" -o no-dir/x.wav a.wav
expect_err "cannot write 'no-dir/x.wav'"
expect_no_file no-dir
mkdir out.wav.d
expect_exit 2 "$mix" -o out.wav.d a.wav
expect_exit 2 "$mix" --interp 0 -o no-dir/z.msgpack a.wav
rmdir out.wav.d

tcase "--help lists every option, --version"
expect_ok "$mix" --help
for o in --output --sum --concat --crossfade --gain --normalize --peak --subtype --interp --slerp --records \
	--help --version; do
	expect_out "$o"
done
expect_ok "$mix" --version
expect_out "presto-mix "

tcase "the man page documents every option of --help"
mkdir onlymix
ln -s "$mix" onlymix/presto-mix
expect_ok sh "$ROOT/tests/check-man.sh" onlymix
rm -rf onlymix

# ---- latent mode ----

tcase "latent streams from a tiny model"
"$TOOLS/mkmodel" m > /dev/null || fail "mkmodel failed"
"$BIN/presto-encode" -m m -s 1 "a soft pad" "a hard kick" > c2.msgpack &&
	"$BIN/presto-sample" -m m --seed 1 --steps 2 c2.msgpack > z2.msgpack &&
	"$BIN/presto-encode" -m m -s 1 "a bass" | "$BIN/presto-sample" -m m --seed 9 --steps 2 > z1.msgpack &&
	"$BIN/presto-encode" -m m -s 2 "a bass" | "$BIN/presto-sample" -m m --seed 9 --steps 2 > zlong.msgpack ||
	fail "the encode/sample pipeline failed"
expect_ok "$info" z2.msgpack
expect_out "end: 2 records"

# latent_line FILE N: the latent statistics of record N (from 1) of a stream
latent_line() {
	"$info" "$1" | grep 'latent: f32' | sed -n "$2p" | sed 's/^ *//'
}

tcase "--interp 0 and 1 give records A and B exactly"
expect_ok "$mix" --interp 0,1 -o i01.msgpack z2.msgpack
[ "$(latent_line i01.msgpack 1)" = "$(latent_line z2.msgpack 1)" ] || fail "t=0 differs from record 0"
[ "$(latent_line i01.msgpack 2)" = "$(latent_line z2.msgpack 2)" ] || fail "t=1 differs from record 1"
# decoded audio of the interpolated and the original latents, byte for byte
"$BIN/presto-decode" -m m --threads 1 --subtype float -o 'orig%d.wav' z2.msgpack &&
	"$BIN/presto-decode" -m m --threads 1 --subtype float -o 'mix%d.wav' i01.msgpack ||
	fail "presto-decode failed"
cmp -s orig0.wav mix0.wav || fail "decoded t=0 differs from decoded record A"
cmp -s orig1.wav mix1.wav || fail "decoded t=1 differs from decoded record B"

tcase "--interp list: one record per value, with its params"
expect_ok "$mix" --interp 0,0.25,0.5,0.75,1 z2.msgpack
cp "$OUT" i5.msgpack
expect_ok "$info" i5.msgpack
expect_out "end: 5 records"
expect_out 'producer: "presto-mix'
expect_out "record 4"
expect_out "interp: 0.75"
expect_out 'interp_method: "linear"'
expect_out "from_a: 0"
expect_out "from_b: 1"
expect_out 'prompt_a: "a soft pad"'
expect_out 'prompt_b: "a hard kick"'
expect_out "seed_a: 1"
expect_out "seed_b: 2"
expect_out "seconds_total: 1"
expect_out 'sampler: "'
expect_out "latent: f32 [8, "

tcase "the interpolated latents decode"
expect_ok "$BIN/presto-decode" -m m -o 'step%d.wav' i5.msgpack
for k in 0 1 2 3 4; do expect_file step$k.wav; done

tcase "--slerp: end points exact, method recorded"
expect_ok "$mix" --interp 0,0.5,1 --slerp -o s3.msgpack z2.msgpack
[ "$(latent_line s3.msgpack 1)" = "$(latent_line z2.msgpack 1)" ] || fail "slerp t=0 differs from record 0"
[ "$(latent_line s3.msgpack 3)" = "$(latent_line z2.msgpack 2)" ] || fail "slerp t=1 differs from record 1"
[ "$(latent_line s3.msgpack 2)" != "$(latent_line i5.msgpack 3)" ] || fail "slerp midpoint equals the linear one"
expect_ok "$info" s3.msgpack
expect_out 'interp_method: "slerp"'

tcase "two streams: one record each, or chosen with --records"
expect_ok "$mix" --interp 0.5 -o two.msgpack z1.msgpack z1.msgpack
[ "$(latent_line two.msgpack 1)" = "$(latent_line z1.msgpack 1)" ] || fail "a latent with itself changed"
expect_ok "$mix" --interp 1 --records 0,1 -o two.msgpack z1.msgpack z2.msgpack
[ "$(latent_line two.msgpack 1)" = "$(latent_line z2.msgpack 2)" ] || fail "t=1 is not record 1 of the second"
expect_ok "$info" two.msgpack
expect_out 'prompt_a: "a bass"'
expect_out 'source_b: "z2.msgpack"'

tcase "a stream of several records without --records: exit 2"
expect_exit 2 "$mix" --interp 0.5 z1.msgpack z2.msgpack
expect_err "z2.msgpack holds more than 1 record: choose with --records A,B"
expect_exit 2 "$mix" --interp 0.5 z1.msgpack
expect_err "interpolation needs two"

tcase "--records on one stream, from stdin"
expect_exit_in z2.msgpack 0 "$mix" --interp 0 --records 1,0 -
expect_out "presto-stream"
cp "$OUT" r10.msgpack
[ "$(latent_line r10.msgpack 1)" = "$(latent_line z2.msgpack 2)" ] || fail "t=0 is not record 1"
expect_exit 2 "$mix" --interp 0 --records 0,7 z2.msgpack
expect_err "z2.msgpack: no record at position 7 (the stream holds 2)"

tcase "latent shape mismatch: exit 2, no output file"
expect_exit 2 "$mix" --interp 0.5 -o bad.msgpack z1.msgpack zlong.msgpack
expect_err "latent shapes differ: [8, "
expect_no_file bad.msgpack
ls -a | grep -q '^\.bad\.msgpack' && fail "temp file left behind"

tcase "a truncated or non-latent input: exit 2"
"$TOOLS/mkstream" truncated > trunc.msgpack
expect_exit 2 "$mix" --interp 0.5 -o bad.msgpack trunc.msgpack
expect_err "truncated stream"
"$TOOLS/mkstream" wrongkind > cond.msgpack
expect_exit 2 "$mix" --interp 0.5 cond.msgpack
expect_err "expected 'latent'"
expect_exit 2 "$mix" --interp 0.5 a.wav b.wav
expect_err "a.wav: not a presto stream"
expect_no_file bad.msgpack

tcase "a latent stream without --interp: exit 2 with a hint"
expect_exit 2 "$mix" -o bad.wav z1.msgpack
expect_err "a presto stream? decode it with presto-decode first"
expect_no_file bad.wav

tcase "latent-mode usage errors: exit 1"
expect_exit 1 "$mix" --interp 0.5 z1.msgpack z1.msgpack z1.msgpack
expect_exit 1 "$mix" --interp 0.5 -g -6 z2.msgpack
expect_err "--gain is for audio and cannot be used with --interp"
expect_exit 1 "$mix" --interp 0.5 --concat z2.msgpack
expect_exit 1 "$mix" --slerp a.wav
expect_err "--slerp needs --interp"
expect_exit 1 "$mix" --records 0,1 a.wav
expect_exit 1 "$mix" --interp 1.5 z2.msgpack
expect_err "outside [0, 1]"
expect_exit 1 "$mix" --interp 0.5, z2.msgpack
expect_exit 1 "$mix" --interp '' z2.msgpack
expect_exit 1 "$mix" --interp 0.5 --records 1 z2.msgpack
expect_exit 1 "$mix" --interp 0.5 --records a,b z2.msgpack
expect_exit 1 "$mix" --interp 0.5 --records -1,0 z2.msgpack

tcase "no stray files after all the failures"
expect_clean_dir a.wav b.wav dc1.wav dc2.wav st.wav st3.wav r16.wav info.txt info.err sum.wav g.wav g1.wav \
	s16.wav cat.wav xf.wav ms.wav in.wav clip.wav n.wav p.wav x.flac hello.txt m c2.msgpack z2.msgpack \
	z1.msgpack zlong.msgpack i01.msgpack orig0.wav orig1.wav mix0.wav mix1.wav i5.msgpack step0.wav \
	step1.wav step2.wav step3.wav step4.wav s3.msgpack two.msgpack r10.msgpack trunc.msgpack cond.msgpack
