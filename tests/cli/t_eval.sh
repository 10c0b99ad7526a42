# t_eval.sh - presto-eval: recon metrics of a clip against itself and
# against noisier copies (SI-SDR at the known SNR), --pairs, --summary,
# --png and spec pictures (their sizes), frechet on latent streams with a
# known distance, errors with their exit codes and nothing left behind.

ev=$BIN/presto-eval
sine=$TOOLS/mksine
mix=$BIN/presto-mix

# near A B TOL: |A - B| <= TOL
near() {
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
}

# less A B: A < B
less() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'
}

# col ROW NAME: the value in column NAME of data row ROW (1 = first pair)
# of the TSV on the last command's stdout
col() {
	awk -F '\t' -v r="$1" -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i } NR == r + 1 { print $c[n] }' "$OUT"
}

# key NAME: the value of a "key<TAB>value" line of stdout
key() {
	awk -F '\t' -v k="$1" '$1 == k { print $2 }' "$OUT"
}

# png_size FILE: "WIDTHxHEIGHT" from the IHDR chunk of a PNG
png_size() {
	if [ "$(od -An -c -j1 -N3 "$1" | tr -d ' ')" != PNG ]; then
		echo "not-a-png"
		return
	fi
	od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d\n", (($1 * 256 + $2) * 256 + $3) * 256 + $4, (($5 * 256 + $6) * 256 + $7) * 256 + $8 }'
}

tcase "test clips: a stereo tone, copies with a second tone 34 dB and 14 dB down"
"$sine" -r 44100 -c 2 -s 1 -f 440 -a 0.5 a.wav && "$sine" -r 44100 -c 2 -s 1 -f 1000 -a 0.01 n1.wav &&
	"$sine" -r 44100 -c 2 -s 1 -f 1000 -a 0.1 n2.wav && "$sine" -r 44100 -c 1 -s 1 mono.wav &&
	"$sine" -r 22050 -c 2 -s 2 slow.wav && "$sine" -r 44100 -c 2 -n 500 short.wav &&
	"$sine" -r 44100 -c 2 -s 1.5 -f 440 -a 0.5 long.wav && "$sine" -r 44100 -c 2 -n 44300 -f 440 -a 0.5 near.wav ||
	fail "mksine failed"
"$mix" --subtype float -o an1.wav a.wav n1.wav && "$mix" --subtype float -o an2.wav a.wav n2.wav ||
	fail "presto-mix failed"
cp a.wav b.wav && cp a.wav c.wav

tcase "recon of a clip against itself: mrstft 0, l1 0, SI-SDR above 100 dB"
expect_ok "$ev" recon a.wav a.wav
[ "$(head -n 1 "$OUT")" = "$(printf 'ref\tgen\tmrstft\tsisdr\tl1\tmrstft_ms')" ] || fail "header: $(head -n 1 "$OUT")"
[ "$(wc -l < "$OUT")" = 2 ] || fail "expected 2 lines"
[ "$(col 1 ref)" = a.wav ] && [ "$(col 1 gen)" = a.wav ] || fail "paths: $(col 1 ref) $(col 1 gen)"
[ "$(col 1 mrstft)" = 0 ] || fail "mrstft $(col 1 mrstft)"
[ "$(col 1 l1)" = 0 ] || fail "l1 $(col 1 l1)"
[ "$(col 1 mrstft_ms)" = 0 ] || fail "mrstft_ms $(col 1 mrstft_ms)"
less 100 "$(col 1 sisdr)" || fail "sisdr $(col 1 sisdr)"
[ -s "$ERR" ] && fail "unexpected stderr: $(cat "$ERR")"

tcase "recon against noisier copies: SI-SDR at the SNR, mrstft and l1 grow"
expect_ok "$ev" recon a.wav a.wav a.wav an1.wav a.wav an2.wav
[ "$(wc -l < "$OUT")" = 4 ] || fail "expected 4 lines"
near "$(col 2 sisdr)" 33.979 0.01 || fail "SI-SDR of the 34 dB copy: $(col 2 sisdr)"
near "$(col 3 sisdr)" 13.979 0.01 || fail "SI-SDR of the 14 dB copy: $(col 3 sisdr)"
near "$(col 2 l1)" 0.0063662 0.000001 || fail "l1 of the 34 dB copy: $(col 2 l1) (want 0.01 * 2 / pi)"
near "$(col 3 l1)" 0.063662 0.00001 || fail "l1 of the 14 dB copy: $(col 3 l1)"
less 0 "$(col 2 mrstft)" && less "$(col 2 mrstft)" "$(col 3 mrstft)" ||
	fail "mrstft does not grow: $(col 1 mrstft) $(col 2 mrstft) $(col 3 mrstft)"
less "$(col 2 mrstft_ms)" "$(col 3 mrstft_ms)" || fail "mrstft_ms does not grow"
cp "$OUT" positional.tsv

tcase "--pairs: columns found by name, comments and blank lines skipped, same numbers"
printf '# eval pairs\nid\tgen\tref\n1\ta.wav\ta.wav\n\n2\tan1.wav\ta.wav\n# done\n3\tan2.wav\ta.wav\n' > pairs.tsv
expect_ok "$ev" recon --pairs pairs.tsv
cmp -s "$OUT" positional.tsv || fail "--pairs gave another table: $(cat "$OUT")"
expect_exit_in pairs.tsv 0 "$ev" recon a.wav an1.wav --pairs -
[ "$(wc -l < "$OUT")" = 5 ] || fail "command-line pair + 3 from stdin: expected 5 lines"
[ "$(col 1 gen)" = an1.wav ] && [ "$(col 2 gen)" = a.wav ] || fail "the command-line pair comes first"

tcase "--summary: count, mean and median of every metric (JSON)"
expect_ok "$ev" recon --summary s.json a.wav a.wav a.wav an1.wav a.wav an2.wav
expect_file s.json
grep -q '"count": 3' s.json || fail "count: $(cat s.json)"
for k in mrstft sisdr l1 mrstft_ms; do grep -q "\"$k\"" s.json || fail "no $k in the summary"; done
med=$(tr -d ' \n' < s.json | sed 's/.*"l1":{"mean":[^,]*,"median":\([^}]*\)}.*/\1/')
mean=$(tr -d ' \n' < s.json | sed 's/.*"l1":{"mean":\([^,]*\),.*/\1/')
near "$med" 0.0063662 0.000001 || fail "l1 median $med"
near "$mean" 0.0233428 0.000001 || fail "l1 mean $mean (want (0 + 0.0063662 + 0.063662) / 3)"
expect_ok "$ev" recon --summary s1.json mono.wav mono.wav
grep -q mrstft_ms s1.json && fail "a mono pair has no mid/side term in the summary"
[ "$(col 1 mrstft_ms)" = nan ] || fail "mono mrstft_ms: $(col 1 mrstft_ms)"

tcase "--png: one picture per pair, reference above generated (100 columns per second)"
mkdir pics
expect_ok "$ev" recon --png pics a.wav an1.wav b.wav an2.wav
[ "$(png_size pics/a.png)" = 100x514 ] || fail "pics/a.png is $(png_size pics/a.png), want 100x(2*256+2)"
[ "$(png_size pics/b.png)" = 100x514 ] || fail "pics/b.png is $(png_size pics/b.png)"
[ "$(ls pics | wc -l)" = 2 ] || fail "pics holds $(ls pics)"
expect_ok "$ev" recon --png pics/ --width 40 --height 32 --db 60 a.wav an1.wav
[ "$(png_size pics/a.png)" = 40x66 ] || fail "--width 40 --height 32: $(png_size pics/a.png)"

tcase "spec: one picture, to a file or stdout"
expect_ok "$ev" spec -o s.png an2.wav
[ "$(png_size s.png)" = 100x256 ] || fail "s.png is $(png_size s.png)"
expect_ok "$ev" spec --width 300 --height 64 long.wav
cp "$OUT" s2.png
[ "$(png_size s2.png)" = 300x64 ] || fail "stdout picture is $(png_size s2.png)"
expect_ok "$ev" spec long.wav
cp "$OUT" s3.png
[ "$(png_size s3.png)" = 150x256 ] || fail "1.5 s gives $(png_size s3.png), want 150 columns"

tcase "different lengths: the first frames are compared, one warning beyond 1%"
expect_ok "$ev" recon a.wav long.wav a.wav near.wav long.wav a.wav
[ "$(col 1 mrstft)" = 0 ] && [ "$(col 3 l1)" = 0 ] || fail "the common frames differ: $(cat "$OUT")"
expect_err "comparing the first 44100"
[ "$(wc -l < "$ERR")" = 1 ] || fail "expected one warning: $(cat "$ERR")"
expect_ok "$ev" recon a.wav near.wav
[ -s "$ERR" ] && fail "a 0.5% difference warned: $(cat "$ERR")"

tcase "errors: a missing file, channel and rate mismatches, a short clip (2, nothing printed)"
expect_exit 2 "$ev" recon a.wav a.wav a.wav missing.wav
expect_err "missing.wav"
expect_exit 2 "$ev" recon a.wav mono.wav
expect_err "mono.wav: 1 channel, but a.wav has 2"
expect_exit 2 "$ev" recon a.wav slow.wav
expect_err "slow.wav: sample rate 22050 Hz"
expect_exit 2 "$ev" recon short.wav short.wav
expect_err "short.wav vs short.wav"
expect_exit 2 "$ev" spec missing.wav -o x.png
expect_no_file x.png

tcase "errors: --pairs without a header or a gen column, or a line without a path (2)"
printf 'a.wav\ta.wav\n' > nohead.tsv
expect_exit 2 "$ev" recon --pairs nohead.tsv
expect_err "no 'ref' column"
printf 'ref\tgenerated\na.wav\ta.wav\n' > nogen.tsv
expect_exit 2 "$ev" recon --pairs nogen.tsv
expect_err "no 'gen' column"
printf 'ref\tgen\na.wav\n' > short.tsv
expect_exit 2 "$ev" recon --pairs short.tsv
expect_err "short.tsv:2: no gen path"
printf '# nothing\n' > empty.tsv
expect_exit 2 "$ev" recon --pairs empty.tsv
expect_exit 2 "$ev" recon --pairs missing.tsv

tcase "errors: --png into a missing directory or a file, or twice the same name (2, nothing written)"
expect_exit 2 "$ev" recon --png nodir --summary x.json a.wav a.wav
expect_err "nodir"
expect_no_file x.json
expect_exit 2 "$ev" recon --png a.wav a.wav a.wav
expect_err "is not a directory"
mkdir sub
cp a.wav sub/a.wav
mkdir pics2
expect_exit 2 "$ev" recon --png pics2 a.wav a.wav sub/a.wav an1.wav
expect_err "would both be drawn into pics2/a.png"
[ -z "$(ls pics2)" ] || fail "pics2 holds $(ls pics2)"

tcase "a failing pair removes the pictures and the summary of the run"
mkdir pics3
expect_exit 2 "$ev" recon --png pics3 --summary s3.json a.wav an1.wav b.wav an2.wav c.wav mono.wav
[ -z "$(ls -A pics3)" ] || fail "pics3 holds $(ls -A pics3)"
expect_no_file s3.json
expect_clean_dir a.wav b.wav c.wav n1.wav n2.wav an1.wav an2.wav mono.wav slow.wav short.wav long.wav near.wav \
	positional.tsv pairs.tsv s.json s1.json pics s.png s2.png s3.png nohead.tsv nogen.tsv short.tsv empty.tsv sub \
	pics2 pics3

tcase "usage errors (1): no command, unknown command, odd pairs, wrong options or counts"
expect_exit 1 "$ev"
expect_exit 1 "$ev" mean a.wav
expect_exit 1 "$ev" recon
expect_exit 1 "$ev" recon a.wav
expect_err "pairs REF GEN: 1 file given"
expect_exit 1 "$ev" recon a.wav a.wav an1.wav
expect_exit 1 "$ev" recon --width 10 a.wav a.wav
expect_err "--width needs --png"
expect_exit 1 "$ev" recon --tensor latent a.wav a.wav
expect_exit 1 "$ev" recon - -
expect_exit 1 "$ev" spec a.wav an1.wav
expect_exit 1 "$ev" spec --png pics a.wav
expect_exit 1 "$ev" spec --height 1 a.wav
expect_exit 1 "$ev" spec --db 0 a.wav
expect_exit 1 "$ev" frechet a.wav
expect_exit 1 "$ev" frechet --summary x.json a b
expect_exit 1 "$ev" --bogus recon a.wav a.wav

tcase "frechet: a stream against itself is 0"
"$TOOLS/mkstream" valid 4 > v4.msgpack && "$TOOLS/mkstream" valid 2 > v2.msgpack &&
	"$TOOLS/mkstream" shifted 4 > s4.msgpack && "$TOOLS/mkstream" wide 2 > w2.msgpack &&
	"$TOOLS/mkstream" empty > e.msgpack && "$TOOLS/mkstream" truncated 3 > t.msgpack || fail "mkstream failed"
expect_ok "$ev" frechet v4.msgpack v4.msgpack
near "$(key frechet)" 0 1e-9 || fail "frechet $(key frechet)"
[ "$(key channels)" = 8 ] && [ "$(key frames_a)" = 64 ] && [ "$(key frames_b)" = 64 ] &&
	[ "$(key records_a)" = 4 ] && [ "$(key records_b)" = 4 ] || fail "counts: $(cat "$OUT")"
[ "$(cut -f 1 "$OUT" | tr '\n' ' ')" = "frechet frechet_mean frechet_cov frechet_standardized channels frames_a frames_b records_a records_b " ] ||
	fail "keys: $(cut -f 1 "$OUT" | tr '\n' ' ')"

tcase "frechet: latents shifted by 1 in each of 8 channels are 8 apart; fewer records differ a little"
expect_ok "$ev" frechet s4.msgpack v4.msgpack
near "$(key frechet)" 8 0.00001 || fail "frechet $(key frechet), want 8"
near "$(key frechet_mean)" 8 0.00001 || fail "frechet_mean $(key frechet_mean)"
near "$(key frechet_cov)" 0 0.00001 || fail "frechet_cov $(key frechet_cov)"
expect_ok "$ev" frechet v2.msgpack v4.msgpack
less 0 "$(key frechet)" && less "$(key frechet)" 1 || fail "frechet of 2 vs 4 records: $(key frechet)"
[ "$(key frames_a)" = 32 ] || fail "frames_a $(key frames_a)"
expect_exit_in v2.msgpack 0 "$ev" frechet - v4.msgpack
[ "$(key frames_a)" = 32 ] || fail "stdin: frames_a $(key frames_a)"

tcase "frechet errors: channel counts, a missing tensor, no frames, a truncated stream (2)"
expect_exit 2 "$ev" frechet w2.msgpack v4.msgpack
expect_err "channel counts differ: 'latent' has 16 in w2.msgpack, 8 in v4.msgpack"
expect_exit 2 "$ev" frechet --tensor nope v4.msgpack v4.msgpack
expect_err "no tensor 'nope'"
expect_exit 2 "$ev" frechet --tensor mask v4.msgpack v4.msgpack
expect_exit 2 "$ev" frechet e.msgpack v4.msgpack
expect_err "0 frames"
expect_exit 2 "$ev" frechet v4.msgpack t.msgpack
expect_err "truncated"
expect_exit 2 "$ev" frechet v4.msgpack missing.msgpack
expect_exit 1 "$ev" frechet - -

tcase "frechet of presto-ingest latents of the test model"
"$TOOLS/mkmodel" m > /dev/null || fail "mkmodel failed"
"$sine" -r 44100 -c 2 -s 2 -f 220 -a 0.5 low.wav && "$sine" -r 44100 -c 2 -s 2 -f 3000 -a 0.5 high.wav ||
	fail "mksine failed"
"$BIN/presto-ingest" -m m low.wav > low.msgpack && "$BIN/presto-ingest" -m m high.wav > high.msgpack ||
	fail "presto-ingest failed"
expect_ok "$ev" frechet low.msgpack low.msgpack
near "$(key frechet)" 0 1e-9 || fail "same latents: $(key frechet)"
expect_ok "$ev" frechet low.msgpack high.msgpack
less 0 "$(key frechet)" || fail "different clips: $(key frechet)"
less 8 "$(key frames_a)" || fail "frames_a $(key frames_a)"
