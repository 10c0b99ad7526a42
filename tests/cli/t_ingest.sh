# t_ingest.sh - presto-ingest (audio -> latents) and variations (presto-sample --init)

"$TOOLS/mkmodel" m > /dev/null || exit 1
P="-m m"

tcase "ingest a decoded clip: a latent stream, one record per file"
"$BIN/presto-encode" $P -s 1 "a soft pad" "a hard kick" | "$BIN/presto-sample" $P --seed 1 --steps 2 |
	"$BIN/presto-decode" $P -o 'clip%d.wav' || fail "pipeline failed"
expect_ok "$BIN/presto-ingest" $P clip0.wav clip1.wav
cp "$OUT" z.msgpack
expect_ok "$BIN/presto-info" z.msgpack
expect_out "end: 2 records"
expect_out 'producer: "presto-ingest'
expect_out 'source: "clip1.wav"'
expect_out 'posterior: "mean"'
expect_out "latent: f32 [8, 173]"

tcase "the latents decode back to audio of the same length"
expect_ok "$BIN/presto-decode" $P -o 'back%d.wav' z.msgpack
expect_file back0.wav
[ "$(wc -c < back0.wav)" = "$(wc -c < clip0.wav)" ] || fail "length differs"

tcase "mean is deterministic, --sample depends on the seed"
expect_ok "$BIN/presto-ingest" $P -o a.msgpack clip0.wav
expect_ok "$BIN/presto-ingest" $P -o b.msgpack clip0.wav
cmp -s a.msgpack b.msgpack || fail "two mean encodings differ"
expect_ok "$BIN/presto-ingest" $P --sample --seed 1 -o s1.msgpack clip0.wav
expect_ok "$BIN/presto-ingest" $P --sample --seed 2 -o s2.msgpack clip0.wav
cmp -s s1.msgpack s2.msgpack && fail "different seeds gave the same sample"
expect_ok "$BIN/presto-info" s1.msgpack
expect_out 'posterior: "sample"'
expect_out "seed: 1"

tcase "--seconds cuts or pads"
expect_ok "$BIN/presto-ingest" $P --seconds 0.5 clip0.wav
cp "$OUT" half.msgpack
expect_ok "$BIN/presto-info" half.msgpack
expect_out "seconds_total: 0.5"

tcase "mono input is copied to both channels"
"$TOOLS/mksine" -r 44100 -c 1 -s 1 mono.wav || fail "mksine failed"
expect_ok "$BIN/presto-ingest" $P mono.wav

tcase "variations: --init starts from the latent, cut schedule, same length"
"$BIN/presto-encode" $P -s 3 "a soft pad" > c.msgpack || fail "encode failed"
expect_ok "$BIN/presto-sample" $P --seed 5 --steps 8 --init a.msgpack --init-sigma 2 c.msgpack
cp "$OUT" v.msgpack
expect_ok "$BIN/presto-info" v.msgpack
expect_out "latent: f32 [8, 173]"
expect_out "steps: 3"
expect_ok "$BIN/presto-sample" $P --seed 5 --steps 8 --init a.msgpack --init-sigma 50 c.msgpack
cp "$OUT" v50.msgpack
cmp -s v.msgpack v50.msgpack && fail "--init-sigma changed nothing"

tcase "errors: no file (1), --init-sigma without --init (1), missing file (2), wrong rate (2)"
expect_exit 1 "$BIN/presto-ingest" $P
expect_exit 1 "$BIN/presto-sample" $P --init-sigma 2
expect_exit 2 "$BIN/presto-ingest" $P nonexistent.wav
"$TOOLS/mksine" -r 22050 -s 1 slow.wav || fail "mksine failed"
expect_exit 2 "$BIN/presto-ingest" $P slow.wav
expect_err "22050 Hz"
expect_exit 2 "$BIN/presto-ingest" $P -o /nonexistent/dir/x clip0.wav
expect_no_file /nonexistent/dir/x

tcase "--init with a cond stream is refused (wrong kind)"
expect_exit_in c.msgpack 2 "$BIN/presto-sample" $P --steps 2 --init c.msgpack

tcase "--list: files from a table, other columns become params"
mkdir -p sub && cp clip0.wav sub/x.wav
printf 'id\tfile\tprompt\tbpm\tsplit\n0\tsub/x.wav\twarm lofi piano, 80 BPM\t80\ttrain\n\n1\tclip1.wav\tfast drums\t174\tvalid\n' > list.tsv
expect_ok "$BIN/presto-ingest" $P --list list.tsv
cp "$OUT" l.msgpack
expect_ok "$BIN/presto-info" l.msgpack
expect_out "end: 2 records"
expect_out 'prompt: "warm lofi piano, 80 BPM"'
expect_out "bpm: 174"
expect_out 'split: "valid"'
expect_out 'source: "sub/x.wav"'

tcase "--list errors: no file column, ragged row, missing table, with FILEs (1)"
printf 'id\tname\n0\tx\n' > nofile.tsv
expect_exit 2 "$BIN/presto-ingest" $P --list nofile.tsv
expect_err 'no "file" column'
printf 'file\tprompt\nclip0.wav\n' > ragged.tsv
expect_exit 2 "$BIN/presto-ingest" $P --list ragged.tsv
expect_err "line 2"
expect_exit 2 "$BIN/presto-ingest" $P --list missing.tsv
expect_exit 1 "$BIN/presto-ingest" $P --list list.tsv clip0.wav
