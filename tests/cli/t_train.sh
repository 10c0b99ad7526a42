# t_train.sh - presto-train: tokenizer, dit (and vae, also with a frozen encoder) on tiny data; exact resume

"$TOOLS/mkmodel" m > /dev/null || exit 1
P="-m m"
printf 'a soft pad\na hard kick\nwarm lofi piano\nfast drums\n' > p.txt
"$BIN/presto-encode" $P -s 1 < p.txt | "$BIN/presto-sample" $P --seed 1 --steps 2 |
	"$BIN/presto-decode" $P -o 'c%d.wav' || exit 1
printf 'file\tprompt\tsplit\nc0.wav\ta soft pad\ttrain\nc1.wav\ta hard kick\ttrain\nc2.wav\twarm lofi piano\ttrain\nc3.wav\tfast drums\tvalid\n' > t.tsv
"$BIN/presto-ingest" $P -l t.tsv -o lat.msgpack || exit 1
T="--steps 6 --batch 2 --log-every 2 --valid-every 3 --ckpt-every 3 --dtype f32"

tcase "dit: trains, checkpoints, exports a model directory that generates"
expect_ok "$BIN/presto-train" dit $P --data lat.msgpack -o run $T --log run.log
expect_err "3 training and 1 validation records"
expect_err "exported the model to run"
for f in config.json dit.safetensors text.safetensors tokenizer.model vae.safetensors ckpt/latest; do
	expect_file "run/$f"
done
grep -q "^dit	valid	6	" run.log || fail "no validation line in the log"
"$BIN/presto-encode" -m run -s 1 "a soft pad" | "$BIN/presto-sample" -m run --seed 1 --steps 2 |
	"$BIN/presto-decode" -m run -o gen.wav || fail "the trained model does not generate"
expect_file gen.wav

tcase "dit: stopped and resumed equals uninterrupted, bit for bit"
expect_ok "$BIN/presto-train" dit $P --data lat.msgpack -o half --steps 3 --batch 2 --ckpt-every 3 --valid-every 0 --dtype f32
expect_ok "$BIN/presto-train" dit $P --data lat.msgpack -o half $T
expect_err "resumed from half/ckpt at step 3"
cmp -s run/dit.safetensors half/dit.safetensors || fail "resumed DiT differs"
cmp -s run/text.safetensors half/text.safetensors || fail "resumed text encoder differs"

tcase "dit: errors: no data (1), unknown subcommand (1), bad data (2), model missing (2)"
expect_exit 1 "$BIN/presto-train" dit $P -o x
expect_exit 1 "$BIN/presto-train" fly -o x
expect_exit 1 "$BIN/presto-train"
expect_exit 2 "$BIN/presto-train" dit $P --data t.tsv -o bad
expect_exit 2 "$BIN/presto-train" dit -m nomodel --data lat.msgpack -o bad2
expect_exit 1 "$BIN/presto-train" dit $P --data lat.msgpack -o x --noise gaussian

tcase "tokenizer: a SentencePiece model that loads"
for i in 1 2 3 4 5 6 7 8; do cat p.txt; done > caps.txt
expect_ok "$BIN/presto-train" tokenizer --data caps.txt --vocab 30 -o tok
expect_file tok/tokenizer.model
expect_exit 2 "$BIN/presto-train" tokenizer --data missing.txt -o tok2

tcase "vae: trains, exports vae.safetensors and pretransform.json; resume is exact"
cat > vae.json <<'JSON'
{"type": "autoencoder", "iterate_batch": true, "config": {
  "encoder": {"type": "oobleck", "config": {"in_channels": 2, "channels": 4, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 8, "use_snake": true}},
  "decoder": {"type": "oobleck", "config": {"out_channels": 2, "channels": 4, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 4, "use_snake": true, "final_tanh": false}},
  "bottleneck": {"type": "vae"}, "latent_dim": 4, "downsampling_ratio": 8, "io_channels": 2}}
JSON
V="--config vae.json --data t.tsv --batch 1 --chunk 4096 --valid-every 0 --dtype f32"
expect_ok "$BIN/presto-train" vae $V -o vrun --steps 2
expect_file vrun/vae.safetensors
expect_file vrun/pretransform.json
expect_ok "$BIN/presto-train" vae $V -o vhalf --steps 1
expect_ok "$BIN/presto-train" vae $V -o vhalf --steps 2
cmp -s vrun/vae.safetensors vhalf/vae.safetensors || fail "resumed VAE differs"
expect_ok "$BIN/presto-info" vrun/vae.safetensors
expect_out "pretransform.model.decoder.layers.0.weight_v"

tcase "vae --l1 / --l2: waveform terms change the training; negative weights are usage errors"
expect_ok "$BIN/presto-train" vae $V -o vl1 --steps 2 --l1 1 --l2 0.5
cmp -s vrun/vae.safetensors vl1/vae.safetensors && fail "--l1 1 --l2 0.5 trained the same weights as no waveform terms"
expect_exit 1 "$BIN/presto-train" vae $V -o vbad --steps 1 --l1 -1
expect_exit 1 "$BIN/presto-train" vae $V -o vbad --steps 1 --l2 x
[ -e vbad ] && fail "a refused run left vbad behind"

tcase "vae --freeze-encoder: needs --init (1), trains the decoder only, resumes exactly"
expect_exit 1 "$BIN/presto-train" vae $V --freeze-encoder -o vfz0 --steps 1
expect_err "--freeze-encoder needs --init"
expect_no_file vfz0
expect_ok "$BIN/presto-train" vae $V --freeze-encoder --init vrun/vae.safetensors -o vfz --steps 3
expect_err "encoder frozen"
expect_file vfz/vae.safetensors
"$BIN/presto-info" --stats vrun/vae.safetensors > init.txt && "$BIN/presto-info" --stats vfz/vae.safetensors > fz.txt ||
	fail "presto-info --stats failed"
grep -c 'encoder\.' init.txt | grep -qv '^0$' || fail "no encoder tensors in the init"
[ "$(grep 'encoder\.' init.txt)" = "$(grep 'encoder\.' fz.txt)" ] || fail "the encoder changed"
[ "$(grep 'decoder\.' init.txt)" != "$(grep 'decoder\.' fz.txt)" ] || fail "the decoder did not change"
expect_ok "$BIN/presto-train" vae $V --freeze-encoder --init vrun/vae.safetensors -o vfzh --steps 2
expect_ok "$BIN/presto-train" vae $V --freeze-encoder -o vfzh --steps 3
expect_err "resumed from vfzh/ckpt/step-000002.safetensors at step 2"
cmp -s vfz/vae.safetensors vfzh/vae.safetensors || fail "resumed frozen-encoder VAE differs"
expect_exit 2 "$BIN/presto-train" vae $V -o vfzh --steps 4
expect_err "a checkpoint of a run with a frozen encoder"
expect_exit 2 "$BIN/presto-train" vae $V --freeze-encoder --init vrun/vae.safetensors -o vrun --steps 3
expect_err "a checkpoint of a run that trains the encoder"

tcase "vae: errors: no config (1), unreadable table (2), bad chunk (2)"
expect_exit 1 "$BIN/presto-train" vae --data t.tsv -o v1
expect_exit 2 "$BIN/presto-train" vae --config vae.json --data missing.tsv -o v2
expect_exit 2 "$BIN/presto-train" vae --config vae.json --data t.tsv --chunk 4095 -o v3

tcase "dit: a corpus table's \"caption\" column serves as the prompt"
printf 'file\tcaption\tsplit\nc0.wav\ta soft pad\ttrain\nc1.wav\ta hard kick\ttrain\n' > cap.tsv
"$BIN/presto-ingest" $P -l cap.tsv -o cap.msgpack || fail "ingest failed"
expect_ok "$BIN/presto-train" dit $P --data cap.msgpack -o caprun --steps 1 --batch 2 --valid-every 0
expect_err "2 training and 0 validation records"
