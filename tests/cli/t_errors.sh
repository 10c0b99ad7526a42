# t_errors.sh - one case per defect for presto-encode, presto-sample and
# presto-decode: the exit status (1 usage, 2 runtime), a "presto-xxx: "
# message, empty stdout, and no output file or temp file left behind.

enc=$BIN/presto-encode
smp=$BIN/presto-sample
dec=$BIN/presto-decode
mut=$TOOLS/mutstream

"$TOOLS/mkmodel" m > /dev/null 2>&1 || echo "# mkmodel failed"
PRESTO_MODEL=$PWD/m
export PRESTO_MODEL

# Valid inputs (made once; every case must leave only these behind).
"$enc" -s 1 "warm lofi piano, 80 BPM" > c1.cond
"$enc" -s 1 "dark ambient pad" "solo cello" > c2.cond
"$smp" --steps 2 --seed 1 c1.cond > z1.lat
"$smp" --steps 2 --seed 1 c2.cond > z2.lat
KEEP="m c1.cond c2.cond z1.lat z2.lat"

# clean: no file but the inputs (and those named) in the directory.
clean() {
	# shellcheck disable=SC2086
	expect_clean_dir $KEEP "$@"
}

# half FILE: the first half of FILE's bytes.
half() { head -c $(($(wc -c < "$1") / 2)) "$1"; }

tcase "inputs for the error cases"
for f in c1.cond c2.cond z1.lat z2.lat; do expect_file $f; done

# ---- broken streams ----

tcase "truncated cond stream into presto-sample: exit 2"
half c1.cond > trunc.cond
expect_exit 2 "$smp" --steps 2 -o out.lat trunc.cond
expect_err "presto-sample: trunc.cond: truncated stream"
expect_exit_in trunc.cond 2 "$smp" --steps 2
expect_err "stdin: truncated stream"
rm trunc.cond
clean

tcase "truncated after a complete record: presto-sample fails and -o leaves no file"
head -c $(($(wc -c < c2.cond) - 20)) c2.cond > trunc2.cond
expect_exit 2 "$smp" --steps 2 -o out.lat trunc2.cond
expect_err "truncated stream: ended after 1 record without an end record"
expect_no_file out.lat
rm trunc2.cond
clean

tcase "truncated latent stream into presto-decode: exit 2"
half z1.lat > trunc.lat
expect_exit 2 "$dec" -o out.wav trunc.lat
expect_err "presto-decode: trunc.lat: truncated stream"
expect_exit_in trunc.lat 2 "$dec"
expect_err "stdin: truncated stream"
rm trunc.lat
clean

tcase "a latent stream without its end record into a single file: nothing written"
head -c $(($(wc -c < z1.lat) - 5)) z1.lat > noend.lat
expect_exit 2 "$dec" -o out.wav noend.lat
expect_err "truncated stream: ended after 1 record"
expect_exit_in noend.lat 2 "$dec"
rm noend.lat
clean

tcase "a latent stream into presto-sample: wrong kind, exit 2"
expect_exit 2 "$smp" --steps 2 z1.lat
expect_err "presto-sample: z1.lat: stream kind is 'latent', expected 'cond'"
clean

tcase "a cond stream into presto-decode: wrong kind, exit 2"
expect_exit 2 "$dec" -o out.wav c1.cond
expect_err "presto-decode: c1.cond: stream kind is 'cond', expected 'latent'"
clean

tcase "garbage bytes: exit 2"
echo "this is not a stream" > garbage.txt
expect_exit 2 "$smp" garbage.txt
expect_err "not a presto stream"
expect_exit 2 "$dec" -o out.wav garbage.txt
expect_err "not a presto stream"
"$TOOLS/mkstream" garbage > garbage.lat
expect_exit 2 "$dec" -o out.wav garbage.lat
expect_err "garbage at byte"
rm garbage.txt garbage.lat
clean

tcase "wrong dtype (i64 cross_attn_cond): exit 2"
"$mut" dtype cross_attn_cond < c1.cond > i64.cond
expect_exit 2 "$smp" --steps 2 -o out.lat i64.cond
expect_err "presto-sample: i64.cond: record 0: tensor 'cross_attn_cond' has dtype i64, expected a float type"
rm i64.cond
clean

tcase "wrong dtype (i64 latent): exit 2"
"$mut" dtype latent < z1.lat > i64.lat
expect_exit 2 "$dec" -o out.wav i64.lat
expect_err "presto-decode: i64.lat: record 0: tensor 'latent' has dtype i64, expected a float type"
rm i64.lat
clean

tcase "wrong shape (cond_dim mismatch): exit 2"
"$mut" shape cross_attn_cond 1 < c1.cond > dim.cond
expect_exit 2 "$smp" --steps 2 -o out.lat dim.cond
expect_err "record 0: tensor 'cross_attn_cond' has shape [18, 31], expected [*, 32]"
"$mut" shape global_cond 0 < c1.cond > gdim.cond
expect_exit 2 "$smp" --steps 2 gdim.cond
expect_err "record 0: tensor 'global_cond' has shape [63], expected [64]"
rm dim.cond gdim.cond
clean

tcase "wrong shape (latent channels): exit 2"
"$mut" shape latent 0 < z1.lat > dim.lat
expect_exit 2 "$dec" -o out.wav dim.lat
expect_err "presto-decode: dim.lat: record 0: tensor 'latent' has shape [7, 173], expected [8, *]"
rm dim.lat
clean

tcase "a missing tensor: exit 2"
"$mut" drop cross_attn_cond < c1.cond > nocross.cond
expect_exit 2 "$smp" --steps 2 nocross.cond
expect_err "record 0: missing tensor 'cross_attn_cond'"
"$mut" drop latent < z1.lat > nolat.lat
expect_exit 2 "$dec" nolat.lat
expect_err "record 0: missing tensor 'latent'"
rm nocross.cond nolat.lat
clean

tcase "NaN in a tensor: exit 2 naming record, tensor and element"
"$mut" nan cross_attn_cond < c1.cond > nan.cond
expect_exit 2 "$smp" --steps 2 -o out.lat nan.cond
expect_err "presto-sample: nan.cond: record 0: tensor 'cross_attn_cond': 1 non-finite value (first: NaN at [0, 1])"
"$mut" nan latent < z1.lat > nan.lat
expect_exit 2 "$dec" -o out.wav nan.lat
expect_err "presto-decode: nan.lat: record 0: tensor 'latent': 1 non-finite value (first: NaN at [0, 1])"
rm nan.cond nan.lat
clean

tcase "a stream without records: exit 2"
"$TOOLS/mkstream" empty > empty.lat
"$mut" kind cond < empty.lat > empty.cond
expect_exit 2 "$smp" --steps 2 empty.cond
expect_err "presto-sample: empty.cond: the stream holds no record"
expect_exit 2 "$dec" --stream empty.lat
expect_err "presto-decode: empty.lat: the stream holds no record"
rm empty.lat empty.cond
clean

tcase "a record without seconds_total and no --seconds: exit 2"
"$mut" unparam seconds_total < c1.cond > nosecs.cond
expect_exit 2 "$smp" --steps 2 nosecs.cond
expect_err "presto-sample: nosecs.cond: record 0: "
expect_err "seconds_total"
expect_ok "$smp" --steps 2 --seconds 1 -o ok.lat nosecs.cond
rm nosecs.cond ok.lat
clean

# ---- empty input ----

tcase "presto-encode without prompts: exit 2, empty stdout"
expect_exit 2 "$enc" -s 1
expect_err "presto-encode: no prompt given"
printf '\n  \n\n' > blank.txt
expect_exit_in blank.txt 2 "$enc" -s 1
expect_err "no prompt given"
expect_exit 2 "$enc" -s 1 -o out.cond
expect_no_file out.cond
rm blank.txt
clean

tcase "presto-sample and presto-decode on empty input: exit 2"
expect_exit 2 "$smp" --steps 2
expect_err "presto-sample: stdin: empty input"
expect_exit 2 "$dec" -o out.wav
expect_err "presto-decode: stdin: empty input"
expect_exit 2 "$dec" --stream
expect_err "presto-decode: stdin: empty input"
clean

tcase "a NUL byte in a prompt line names the line: exit 2"
printf 'a calm piano\n\nrain\000 on a roof\n' > nul.txt
expect_exit_in nul.txt 2 "$enc" -s 1 -o out.cond
expect_err "presto-encode: stdin: line 3: NUL byte in prompt"
expect_no_file out.cond
rm nul.txt
clean

tcase "a bpm model and a prompt without a tempo: exit 2"
"$TOOLS/mkmodel" mbpm --bpm > /dev/null 2>&1
expect_exit 2 "$enc" -m mbpm -s 1 "a calm piano"
expect_err "presto-encode: prompt 1 has no tempo: add 'N BPM' or use --bpm"
rm -rf mbpm
clean

# ---- models ----

tcase "a missing model directory: exit 2 for every tool"
expect_exit 2 "$enc" -m no-such-model -s 1 "a calm piano"
expect_err "no-such-model"
expect_exit 2 "$smp" -m no-such-model c1.cond
expect_err "no-such-model"
expect_exit 2 "$dec" -m no-such-model -o out.wav z1.lat
expect_err "no-such-model"
clean

tcase "no model at all (no --model, no PRESTO_MODEL): exit 2"
# copies of the tools with no model next to them (the shipped one is found
# relative to the executable: bin/../models, bin/../../models,
# bin/../share/presto/models)
mkdir -p lone/a/bin
cp "$enc" "$smp" "$dec" lone/a/bin/
expect_exit 2 env -u PRESTO_MODEL lone/a/bin/presto-encode -s 1 "a calm piano"
expect_err "presto-encode: no model: use --model DIR or set PRESTO_MODEL"
expect_exit 2 env -u PRESTO_MODEL lone/a/bin/presto-sample c1.cond
expect_err "presto-sample: no model"
expect_exit 2 env -u PRESTO_MODEL lone/a/bin/presto-decode -o out.wav z1.lat
expect_err "presto-decode: no model"
rm -rf lone
clean

tcase "garbage in config.json: exit 2 for every tool"
cp -r m badcfg
echo "{ this is not json" > badcfg/config.json
expect_exit 2 "$enc" -m badcfg -s 1 "a calm piano"
expect_err "config.json"
expect_exit 2 "$smp" -m badcfg c1.cond
expect_err "config.json"
expect_exit 2 "$dec" -m badcfg -o out.wav z1.lat
expect_err "config.json"
rm -rf badcfg
clean

tcase "a bad sampling default in config.json is a model error (exit 2), not a usage error"
cp -r m badsched
sed 's/"schedule": "karras"/"schedule": "nope"/' m/config.json > badsched/config.json
expect_exit 2 "$smp" -m badsched c1.cond
expect_err "config.json: presto.sampling: unknown schedule"
# an option that replaces it makes the model usable
expect_ok "$smp" -m badsched --schedule karras --steps 2 -o ok.lat c1.cond
rm -rf badsched ok.lat
clean

tcase "a truncated dit.safetensors: presto-sample exit 2, presto-encode still works"
cp -r m baddit
head -c 1000 m/dit.safetensors > baddit/dit.safetensors
expect_exit 2 "$smp" -m baddit --steps 2 -o out.lat c1.cond
expect_err "dit.safetensors"
expect_ok "$enc" -m baddit -s 1 -o ok.cond "a calm piano"
expect_ok "$dec" -m baddit -o ok.wav z1.lat
rm -rf baddit ok.cond ok.wav
clean

tcase "a missing vae.safetensors: presto-decode exit 2, encode and sample still work"
cp -r m novae
rm novae/vae.safetensors
expect_exit 2 "$dec" -m novae -o out.wav z1.lat
expect_err "vae.safetensors"
expect_ok "$enc" -m novae -s 1 -o ok.cond "a calm piano"
expect_ok "$smp" -m novae --steps 2 -o ok.lat ok.cond
rm -rf novae ok.cond ok.lat
clean

tcase "a missing text.safetensors or tokenizer: presto-encode exit 2"
cp -r m notext
rm notext/text.safetensors
expect_exit 2 "$enc" -m notext -s 1 "a calm piano"
expect_err "text.safetensors"
cp m/text.safetensors notext/
rm notext/tokenizer.model
expect_exit 2 "$enc" -m notext -s 1 "a calm piano"
expect_err "tokenizer.model"
rm -rf notext
clean

# ---- options ----

tcase "unknown option: exit 1 for every tool"
expect_exit 1 "$enc" --no-such-option "a calm piano"
expect_err "presto-encode: unknown option '--no-such-option'"
expect_exit 1 "$smp" --no-such-option c1.cond
expect_err "presto-sample: unknown option '--no-such-option'"
expect_exit 1 "$dec" --no-such-option z1.lat
expect_err "presto-decode: unknown option '--no-such-option'"
expect_exit 1 "$dec" -x z1.lat
expect_err "unknown option '-x'"
clean

tcase "an option without its argument: exit 1"
expect_exit 1 "$enc" "a calm piano" --seconds
expect_err "needs an argument"
expect_exit 1 "$smp" c1.cond --steps
expect_err "needs an argument"
expect_exit 1 "$dec" z1.lat -o
expect_err "needs an argument"
clean

tcase "presto-encode: bad option values: exit 1"
expect_exit 1 "$enc" --seconds -1 "a calm piano"
expect_err "--seconds: -1 is out of range"
expect_exit 1 "$enc" -s abc "a calm piano"
expect_err "--seconds: 'abc' is not a number"
expect_exit 1 "$enc" --seconds-start -5 "a calm piano"
expect_exit 1 "$enc" --bpm 0 "a calm piano"
expect_exit 1 "$enc" --threads 0 "a calm piano"
clean

tcase "presto-sample: bad option values: exit 1"
expect_exit 1 "$smp" --steps 0 c1.cond
expect_err "--steps: 0 is out of range"
expect_exit 1 "$smp" --sampler nope c1.cond
expect_err "--sampler: unknown sampler 'nope'"
expect_exit 1 "$smp" --seconds -1 c1.cond
expect_exit 1 "$smp" --seed -1 c1.cond
expect_exit 1 "$smp" --seed x c1.cond
expect_exit 1 "$smp" --cfg -1 c1.cond
expect_exit 1 "$smp" --schedule nope c1.cond
expect_err "unknown schedule"
expect_exit 1 "$smp" --sigma-min 0 c1.cond
expect_exit 1 "$smp" --sigma-min 100 --sigma-max 1 c1.cond
expect_err "decrease"
expect_exit 1 "$smp" --eta -1 c1.cond
expect_exit 1 "$smp" c1.cond c1.cond
expect_err "at most one input FILE"
clean

tcase "presto-sample: bad --sigmas: exit 1"
expect_exit 1 "$smp" --sigmas 1,2,0 c1.cond
expect_err "decrease"
expect_exit 1 "$smp" --sigmas 10,1 c1.cond
expect_err "ending in 0"
expect_exit 1 "$smp" --sigmas 10,x,0 c1.cond
expect_err "not a comma-separated list"
expect_exit 1 "$smp" --sigmas 10,1,0 --steps 3 c1.cond
expect_err "disagrees"
clean

tcase "presto-sample: a sampler that cannot start at sigma = inf: exit 1"
expect_exit 1 "$smp" --sampler euler --sigmas inf,1,0 c1.cond
expect_err "sampler euler cannot start at sigma = inf"
clean

tcase "presto-sample: bad --budget: exit 1"
expect_exit 1 "$smp" --budget '[{' c1.cond
expect_err "--budget"
expect_exit 1 "$smp" --budget '[{"sigma_min": 1, "sigma_max": null, "blocks": [7]}]' c1.cond
expect_err "block index out of range 0..2"
expect_exit 1 "$smp" --budget '{"blocks": [0]}' c1.cond
expect_exit 1 "$smp" --budget @no-such-file.json c1.cond
expect_exit 1 "$smp" --budget '[]' --no-budget c1.cond
expect_err "exclude each other"
clean

tcase "presto-decode: bad option values: exit 1"
expect_exit 1 "$dec" --subtype 8 -o out.wav z1.lat
expect_err "--subtype: '8' is not 16, 24 or float"
expect_exit 1 "$dec" --peak 3 -o out.wav z1.lat
expect_exit 1 "$dec" -o 'out/%s.wav' z1.lat
expect_err "at most one %d conversion"
expect_exit 1 "$dec" -o 'out/%d-%d.wav' z1.lat
expect_exit 1 "$dec" -o out.xyz z1.lat
expect_err "out.xyz"
expect_exit 1 "$dec" --subtype float -o out.flac z1.lat
expect_err "float"
expect_exit 1 "$dec" z1.lat z1.lat
clean

# ---- outputs ----

tcase "unwritable output: exit 2, nothing written"
expect_exit 2 "$enc" -s 1 -o /nonexistent/x.cond "a calm piano"
expect_err "presto-encode: cannot write '/nonexistent/x.cond'"
expect_exit 2 "$smp" --steps 2 -o /nonexistent/x.lat c1.cond
expect_err "presto-sample: cannot write '/nonexistent/x.lat'"
expect_exit 2 "$dec" -o /nonexistent/dir/x.wav z1.lat
expect_err "presto-decode: cannot write '/nonexistent/dir/x.wav'"
expect_exit 2 "$dec" --stream -o /nonexistent/x.audio z1.lat
expect_err "cannot write"
mkdir adir.wav
expect_exit 2 "$dec" -o adir.wav z1.lat
expect_err "cannot write 'adir.wav'"
rmdir adir.wav
clean

tcase "an unwritable pattern fails before reading the input"
expect_exit 2 "$dec" -o '/nonexistent/dir/%04d.wav'
expect_err "presto-decode: cannot write '/nonexistent/dir/0000.wav'"
clean

tcase "an input file that does not exist: exit 2"
expect_exit 2 "$smp" no-such.cond
expect_err "presto-sample: cannot open 'no-such.cond'"
expect_exit 2 "$dec" -o out.wav no-such.lat
expect_err "presto-decode: cannot open 'no-such.lat'"
clean

tcase "binary output to a terminal is refused"
if command -v script > /dev/null 2>&1; then
	script -qec "$enc -s 1 'a calm piano'" /dev/null > tty.txt 2>&1
	grep -q "presto-encode: refusing to write binary data to a terminal" tty.txt || fail "encode: $(cat tty.txt)"
	script -qec "$dec z1.lat" /dev/null > tty.txt 2>&1
	grep -q "presto-decode: refusing to write audio to a terminal" tty.txt || fail "decode: $(cat tty.txt)"
	rm -f tty.txt typescript
else
	skip "no script(1) to make a terminal"
fi
clean

tcase "an existing output file is kept when a later run fails"
"$dec" -o keep.wav z1.lat
cp keep.wav keep.orig
expect_exit 2 "$dec" -o keep.wav z2.lat
cmp -s keep.wav keep.orig || fail "keep.wav was changed"
rm keep.wav keep.orig
clean

# ---- failures in the middle of a pipeline ----

tcase "presto-sample cut off mid-stream: presto-decode fails with the truncated-stream error"
expect_exit 2 sh -c '"$1" --steps 2 --seed 1 c1.cond | head -c 3000 | "$2" -o out.wav' sh "$smp" "$dec"
expect_err "presto-decode: stdin: truncated stream"
expect_no_file out.wav
clean

tcase "a failing producer makes the whole pipeline fail"
expect_exit 2 sh -c '"$1" -m no-such-model "a calm piano" | "$2" --steps 2 | "$3" -o out.wav' sh "$enc" "$smp" "$dec"
expect_err "presto-decode: stdin: empty input"
expect_no_file out.wav
clean

tcase "presto-sample with a closed stdout: exit 2, write error"
( "$smp" --steps 2 c2.cond 2> epipe.err; echo $? > epipe.rc ) | true
[ "$(cat epipe.rc)" = 2 ] || fail "exit status $(cat epipe.rc), want 2"
grep -q '^presto-sample: stdout: write failed' epipe.err || fail "no write error: $(cat epipe.err)"
rm epipe.err epipe.rc
clean

tcase "presto-sample killed by a signal removes its temp output file"
"$smp" --steps 10000 --seed 1 -o big.lat c1.cond 2> /dev/null &
pid=$!
n=0
until ls -a | grep -q '^\.big\.lat\.' || [ $n -ge 100 ]; do
	sleep 0.05
	n=$((n + 1))
done
[ $n -lt 100 ] || fail "no temp file appeared"
kill -TERM $pid
{ wait $pid; } 2> /dev/null
rc=$?
[ $rc = 143 ] || fail "exit status $rc, want 143 (SIGTERM)"
expect_no_file big.lat
clean
