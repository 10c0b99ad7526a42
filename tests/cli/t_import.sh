# t_import.sh - presto-import on a fake stable-audio-tools checkpoint built
# from the conformance fixtures (mksaockpt): the files it writes, the
# tensors bit for bit, --dtype, the imported model end to end, errors.

imp=$BIN/presto-import
mk=$TOOLS/mksaockpt

# run_import OUTDIR [OPTION]...: the fake checkpoint with its T5 directory
run_import() {
	_o=$1
	shift
	expect_ok "$imp" --checkpoint fake/model.safetensors --config fake/model_config.json --t5 fake/t5 \
		-o "$_o" "$@"
}

no_stdout() {
	[ -s "$OUT" ] && { fail "stdout is not empty"; _show; }
	return 0
}

no_temp_dirs() {
	for _d in .*.import-*; do
		[ -e "$_d" ] && fail "temp directory '$_d' left behind"
	done
	return 0
}

# generate MODEL WAV: prompt -> conditioning -> latents -> audio
generate() {
	expect_ok sh -c '"$1/presto-encode" -m "$2" -s 0.1 "a test prompt" |
		"$1/presto-sample" -m "$2" --seed 3 --steps 2 |
		"$1/presto-decode" -m "$2" -o "$3"' sh "$BIN" "$1" "$2"
	expect_file "$2"
}

have=1
for f in dit_sao.json dit_sao.safetensors oobleck.json oobleck.safetensors t5_relu.json t5_relu.safetensors; do
	[ -f "$FIXTURES/$f" ] || have=0
done

tcase "mksaockpt builds a fake SAO checkpoint from the fixtures"
if [ $have = 1 ]; then
	expect_ok "$mk" "$FIXTURES" fake
	for f in model.safetensors model_config.json t5/config.json t5/model.safetensors t5/spiece.model; do
		expect_file "fake/$f"
	done
else
	skip "no conformance fixtures in $FIXTURES"
fi

tcase "import: exit 0, nothing on stdout, the five files"
if [ $have = 1 ]; then
	run_import m
	no_stdout
	for f in config.json dit.safetensors text.safetensors vae.safetensors tokenizer.model; do
		expect_file "m/$f"
	done
	[ "$(ls m | wc -l)" = 5 ] || fail "m holds more than the five files: $(ls m)"
	no_temp_dirs
else
	skip "no fixtures"
fi

tcase "the ignored checkpoint tensors and the dropped T5 tensors are noted on stderr"
if [ $have = 1 ]; then
	expect_err "ignoring 3 checkpoint tensors"
	expect_err "model_ema.* 2"
	expect_err "dropping 1 tensor of fake/t5/model.safetensors"
else
	skip "no fixtures"
fi

tcase "every imported tensor equals its source bit for bit (both ways)"
if [ $have = 1 ]; then
	expect_ok "$mk" --compare m/dit.safetensors fake/model.safetensors
	expect_ok "$mk" --compare fake/model.safetensors m/dit.safetensors model.model. model.model.
	expect_ok "$mk" --compare m/vae.safetensors fake/model.safetensors
	expect_ok "$mk" --compare fake/model.safetensors m/vae.safetensors pretransform.model. pretransform.model.
	expect_ok "$mk" --compare m/text.safetensors fake/model.safetensors conditioner. conditioner.
	expect_ok "$mk" --compare fake/model.safetensors m/text.safetensors conditioner. conditioner.
	expect_ok "$mk" --compare m/text.safetensors fake/t5/model.safetensors t5. ""
	expect_ok "$mk" --compare fake/t5/model.safetensors m/text.safetensors encoder. t5.encoder.
	expect_ok "$mk" --compare fake/t5/model.safetensors m/text.safetensors shared. t5.shared.
	cmp -s m/tokenizer.model fake/t5/spiece.model || fail "tokenizer.model differs from spiece.model"
	# and nothing else: the three files hold exactly the tensors compared
	expect_ok "$BIN/presto-info" m/text.safetensors
	grep -q 'decoder\.\|model_ema\|discriminator' "$OUT" && fail "text.safetensors holds a dropped tensor"
else
	skip "no fixtures"
fi

tcase "config.json: the model_config with the presto object"
if [ $have = 1 ]; then
	expect_ok "$BIN/presto-info" m
	expect_out 'presto.id: "m"'
	expect_out 'presto.t5_prefix: "t5."'
	expect_out 'presto.t5_config.vocab_size: 101'
	expect_out 'presto.t5_config.feed_forward_proj: "relu"'
	expect_out 'presto.sampling.sampler: "dpmpp-3m-sde"'
	expect_out 'presto.sampling.steps: 100'
	expect_out 'presto.source.checkpoint: "fake/model.safetensors"'
	expect_out 'model.diffusion.config.io_channels: 6'
	expect_out 'model.conditioning.configs[0].type: "t5"'
else
	skip "no fixtures"
fi

tcase "the imported model runs end to end"
if [ $have = 1 ]; then
	generate m a.wav
else
	skip "no fixtures"
fi

tcase "the same seed twice gives identical audio"
if [ $have = 1 ]; then
	generate m b.wav
	cmp -s a.wav b.wav || fail "a.wav and b.wav differ"
else
	skip "no fixtures"
fi

tcase "--dtype f16 stores F16 tensors and the model still generates"
if [ $have = 1 ]; then
	run_import m16 --dtype f16
	for f in dit text vae; do
		expect_ok "$BIN/presto-info" "m16/$f.safetensors"
		expect_out ": F16 ["
		grep -q ': F32 \[' "$OUT" && fail "m16/$f.safetensors still holds F32 tensors"
	done
	expect_ok "$BIN/presto-info" m16
	expect_out 'presto.source.dtype: "F16"'
	generate m16 c.wav
else
	skip "no fixtures"
fi

tcase "--dtype bf16, --id, a --t5 file with --t5-config and --spiece"
if [ $have = 1 ]; then
	expect_ok "$imp" --checkpoint fake/model.safetensors --config fake/model_config.json \
		--t5 fake/t5/model.safetensors --t5-config fake/t5/config.json --spiece fake/t5/spiece.model \
		--dtype bf16 --id my-model -o mb/
	expect_ok "$BIN/presto-info" mb/dit.safetensors
	expect_out ": BF16 ["
	expect_ok "$BIN/presto-info" mb
	expect_out 'presto.id: "my-model"'
else
	skip "no fixtures"
fi

tcase "an existing empty directory is filled"
if [ $have = 1 ]; then
	mkdir empty
	run_import empty
	expect_file empty/config.json
else
	skip "no fixtures"
fi

tcase "usage errors: exit 1, nothing written"
expect_exit 1 "$imp" --checkpoint x --config y
expect_err "give -o DIR"
expect_exit 1 "$imp" --no-such-option -o u
expect_err "unknown option '--no-such-option'"
expect_exit 1 "$imp" --config y -o u
expect_err "--checkpoint"
expect_exit 1 "$imp" --checkpoint x -o u
expect_err "--config"
expect_exit 1 "$imp" --checkpoint x --config y -o u --dtype f64
expect_err "--dtype: 'f64'"
expect_exit 1 "$imp" --checkpoint x --config y -o u extra
expect_exit 1 "$imp" --checkpoint x --config y -o .
expect_no_file u

tcase "a t5 conditioner without --t5: exit 1"
if [ $have = 1 ]; then
	expect_exit 1 "$imp" --checkpoint fake/model.safetensors --config fake/model_config.json -o u
	expect_err 'conditioner "prompt" is a T5 text encoder: give it with --t5'
	expect_exit 1 "$imp" --checkpoint fake/model.safetensors --config fake/model_config.json \
		--t5 fake/t5/model.safetensors -o u
	expect_err "--t5-config"
	expect_no_file u
	no_temp_dirs
else
	skip "no fixtures"
fi

tcase "a nonexistent checkpoint or T5: exit 2, no output directory"
if [ $have = 1 ]; then
	expect_exit 2 "$imp" --checkpoint nope.safetensors --config fake/model_config.json --t5 fake/t5 -o u
	expect_err "nope.safetensors"
	expect_exit 2 "$imp" --checkpoint fake/model.safetensors --config fake/model_config.json --t5 no-t5 -o u
	expect_err "cannot open 'no-t5'"
	expect_no_file u
	no_temp_dirs
else
	skip "no fixtures"
fi

tcase "a config that does not fit the checkpoint: exit 2 naming the tensor, nothing left"
if [ $have = 1 ]; then
	# io_channels 8 everywhere (DiT and VAE agree, the checkpoint has 6)
	sed -e 's/"io_channels": 6/"io_channels": 8/' -e 's/"latent_dim": 6/"latent_dim": 8/' \
		-e 's/"latent_dim": 12/"latent_dim": 16/' fake/model_config.json > wide.json
	grep -q '"io_channels": 8' wide.json || fail "could not edit the config"
	expect_exit 2 "$imp" --checkpoint fake/model.safetensors --config wide.json --t5 fake/t5 -o u
	expect_err "does not fit wide.json"
	expect_err "tensor 'model.model."
	expect_err "expected ["
	expect_no_file u
	no_temp_dirs
else
	skip "no fixtures"
fi

tcase "a config presto cannot use: exit 2, nothing left"
if [ $have = 1 ]; then
	sed -e 's/"type": "dit"/"type": "unet"/' fake/model_config.json > unet.json
	expect_exit 2 "$imp" --checkpoint fake/model.safetensors --config unet.json --t5 fake/t5 -o u
	expect_err 'unet.json: diffusion type "unet" is not supported'
	expect_no_file u
	no_temp_dirs
else
	skip "no fixtures"
fi

tcase "a non-empty output directory without --force: exit 2, left as it was"
if [ $have = 1 ]; then
	mkdir full
	echo keep > full/note.txt
	expect_exit 2 "$imp" --checkpoint fake/model.safetensors --config fake/model_config.json --t5 fake/t5 -o full
	expect_err "full exists and is not empty"
	expect_exit 2 "$imp" --checkpoint fake/model.safetensors --config fake/model_config.json --t5 fake/t5 -o m
	[ "$(ls full)" = note.txt ] || fail "full was modified"
else
	skip "no fixtures"
fi

tcase "--force does not replace a directory that is not a presto model: exit 2"
if [ $have = 1 ]; then
	expect_exit 2 "$imp" --checkpoint fake/model.safetensors --config fake/model_config.json --t5 fake/t5 \
		-o full --force
	expect_err "not a presto model directory"
	[ "$(ls full)" = note.txt ] || fail "full was modified"
	no_temp_dirs
else
	skip "no fixtures"
fi

tcase "--force replaces a presto model directory"
if [ $have = 1 ]; then
	echo old > m/extra.txt
	run_import m --force --id replaced
	expect_no_file m/extra.txt
	expect_ok "$BIN/presto-info" m
	expect_out 'presto.id: "replaced"'
	no_temp_dirs
else
	skip "no fixtures"
fi

tcase "--help lists every option, --version"
expect_ok "$imp" --help
for o in --checkpoint --config --t5 --t5-config --spiece --dtype --id --output --force --help --version; do
	expect_out "$o"
done
expect_ok "$imp" --version
expect_out "presto-import "

tcase "the man page documents every option of --help"
mkdir onlyimport
ln -s "$imp" onlyimport/presto-import
expect_ok sh "$ROOT/tests/check-man.sh" onlyimport
rm -rf onlyimport
