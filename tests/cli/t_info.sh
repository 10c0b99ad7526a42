# t_info.sh - presto-info on valid and broken streams, safetensors files,
# model directories; options, exit codes, --help vs the man page, --png.

info=$BIN/presto-info
mk=$TOOLS/mkstream

json_ok() { # FILE: a valid JSON document (python3 or jq), else skip
	if command -v python3 > /dev/null 2>&1; then
		python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$1" || fail "invalid JSON"
	elif command -v jq > /dev/null 2>&1; then
		jq . "$1" > /dev/null || fail "invalid JSON"
	else
		skip "neither python3 nor jq to check JSON"
	fi
}

tcase "mkstream writes a valid stream"
"$mk" valid 3 > valid.msgpack || fail "mkstream valid failed"
expect_file valid.msgpack

tcase "valid stream from a file: header, records, params, tensor statistics"
expect_ok "$info" valid.msgpack
expect_out "stream 0: kind latent, version 1"
expect_out 'producer: "mkstream'
expect_out "record 2"
expect_out 'prompt: "a calm piano, 120 BPM"'
expect_out "sigmas: [inf, 20, 2.5, 0.3, 0]"
expect_out "latent: f32 [8, 16] min="
expect_out "nan=0 inf=0"
expect_out "end: 3 records"

tcase "valid stream from stdin"
expect_exit_in valid.msgpack 0 "$info"
expect_out "source: stdin"
expect_out "end: 3 records"

tcase "valid stream from stdin given as -"
expect_exit_in valid.msgpack 0 "$info" -
expect_out "end: 3 records"

tcase "--json prints one valid JSON document"
expect_ok "$info" --json valid.msgpack
expect_out '"type": "stream"'
expect_out '"kind": "latent"'
cp "$OUT" out.json
json_ok out.json

tcase "--kind accepts the right kind"
expect_ok "$info" --kind latent valid.msgpack

tcase "--kind rejects another kind (exit 2)"
"$mk" wrongkind > cond.msgpack
expect_exit 2 "$info" --kind latent cond.msgpack
expect_err "stream kind is 'cond', expected 'latent'"

tcase "a stream without records"
"$mk" empty > empty.msgpack
expect_ok "$info" empty.msgpack
expect_out "end: 0 records"

tcase "concatenated streams (cat a b a) are listed one after the other"
cat valid.msgpack empty.msgpack valid.msgpack > cat.msgpack
expect_exit_in cat.msgpack 0 "$info"
expect_out "stream 1: kind latent"
expect_out "stream 2: kind latent"
[ "$(grep -c '^end: ' "$OUT")" = 3 ] || fail "expected 3 end lines"

tcase "truncated stream: exit 2, empty stdout, message"
"$mk" truncated > trunc.msgpack
expect_exit 2 "$info" trunc.msgpack
expect_err "presto-info: trunc.msgpack: truncated stream: ended after 1 record without an end record"

tcase "truncated stream on stdin"
expect_exit_in trunc.msgpack 2 "$info"
expect_err "stdin: truncated stream"

tcase "missing end record"
"$mk" nocount > nocount.msgpack
expect_exit 2 "$info" nocount.msgpack
expect_err "truncated stream: ended after 2 records without an end record"

tcase "end count mismatch"
"$mk" badcount > badcount.msgpack
expect_exit 2 "$info" badcount.msgpack
expect_err "end record says 5 records but the stream has 2"

tcase "garbage bytes after a record"
"$mk" garbage > garbage.msgpack
expect_exit 2 "$info" garbage.msgpack
expect_err "garbage at byte"

tcase "not a stream at all (text)"
echo "hello" > hello.txt
expect_exit 2 "$info" hello.txt
expect_err "not a presto stream"

tcase "wrong dtype name"
"$mk" baddtype > baddtype.msgpack
expect_exit 2 "$info" baddtype.msgpack
expect_err "record 0: tensor 'latent': unknown dtype 'f33'"

tcase "shape/data size mismatch"
"$mk" shape > shape.msgpack
expect_exit 2 "$info" shape.msgpack
expect_err "needs 512 bytes of data, found 412"

tcase "NaN in a tensor: exit 2 naming record, tensor and element"
"$mk" nan > nan.msgpack
expect_exit 2 "$info" nan.msgpack
expect_err "record 1: tensor 'latent': 1 non-finite value (first: NaN at [4, 3])"

tcase "--allow-nonfinite reads it and counts the NaN"
expect_ok "$info" --allow-nonfinite nan.msgpack
expect_out "nan=1 inf=0"

tcase "unknown kind and wrong magic"
"$mk" badkind > badkind.msgpack
"$mk" badmagic > badmagic.msgpack
expect_exit 2 "$info" badkind.msgpack
expect_err "unknown stream kind 'video'"
expect_exit 2 "$info" badmagic.msgpack
expect_err "not a presto stream: header magic"

tcase "empty input"
expect_exit 2 "$info"
expect_err "stdin: empty input"

tcase "missing file: exit 2"
expect_exit 2 "$info" no-such-file.msgpack
expect_err "cannot open 'no-such-file.msgpack'"

tcase "unknown option: exit 1, empty stdout"
expect_exit 1 "$info" --no-such-option valid.msgpack
expect_err "unknown option '--no-such-option'"

tcase "option missing its argument: exit 1"
expect_exit 1 "$info" valid.msgpack --png
expect_err "needs an argument"

tcase "bad option values: exit 1"
expect_exit 1 "$info" --kind video valid.msgpack
expect_exit 1 "$info" --png x.png --record abc valid.msgpack
expect_exit 1 "$info" --png x.png --scale 0 valid.msgpack
expect_exit 1 "$info" --png x.png --colormap jet valid.msgpack
expect_exit 1 "$info" --record 1 valid.msgpack
expect_err "need --png"
expect_exit 1 "$info" valid.msgpack valid.msgpack
expect_no_file x.png

tcase "--help lists every option on stdout, --version"
expect_ok "$info" --help
for o in --json --kind --allow-nonfinite --stats --png --record --tensor --colormap --scale --help --version; do
	expect_out "$o"
done
expect_ok "$info" --version
expect_out "presto-info "

tcase "the man page documents every option of --help"
mkdir onlyinfo
ln -s "$info" onlyinfo/presto-info
expect_ok sh "$ROOT/tests/check-man.sh" onlyinfo
rm -rf onlyinfo

tcase "--png draws the latent of the first record"
expect_ok "$info" --png latent.png valid.msgpack
expect_out "png: latent.png"
expect_file latent.png
[ "$(head -c 8 latent.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "not a PNG"

tcase "--png with --record, --tensor, --colormap, --scale"
expect_ok "$info" --png mask.png --record 2 --tensor mask --colormap gray --scale 3 valid.msgpack
expect_out "tensor 'mask' of record 2"
expect_out "(24x3,"
expect_file mask.png

tcase "--png failures leave no file behind"
expect_exit 2 "$info" --png bad.png --record 9 valid.msgpack
expect_err "no record with id 9"
expect_exit 2 "$info" --png bad.png --tensor nope valid.msgpack
expect_err "record 0 has no tensor 'nope'"
expect_exit 2 "$info" --png bad.png trunc.msgpack
expect_no_file bad.png
ls -a | grep -q '^\.bad\.png\.' && fail "temp file left behind"

tcase "safetensors file"
if have_fixture number_cond.safetensors; then
	expect_ok "$info" "$FIXTURES/number_cond.safetensors"
	expect_out "safetensors: "
	expect_out "conditioner.conditioners.seconds_total.embedder.embedding.1.weight: F32 [24, 257]"
	expect_out_not "min="
fi

tcase "safetensors file with --stats and --json"
if have_fixture number_cond.safetensors; then
	expect_ok "$info" --stats --json "$FIXTURES/number_cond.safetensors"
	expect_out '"type": "safetensors"'
	expect_out '"std":'
	cp "$OUT" st.json
	json_ok st.json
fi

tcase "model directory: config summary and each safetensors file"
if have_fixture number_cond.safetensors; then
	mkdir model
	printf '{"model_type": "diffusion_cond", "sample_rate": 44100, "model": {"io_channels": 64, "conditioning": {"configs": [{"id": "prompt", "type": "t5"}]}}}\n' > model/config.json
	cp "$FIXTURES/number_cond.safetensors" model/text.safetensors
	cp "$FIXTURES/number_cond.safetensors" model/dit.safetensors
	expect_ok "$info" model
	expect_out "model.io_channels: 64"
	expect_out "model.conditioning.configs[0].id: \"prompt\""
	expect_out "safetensors: model/dit.safetensors"
	expect_out "safetensors: model/text.safetensors"
	expect_ok "$info" --json model
	cp "$OUT" model.json
	json_ok model.json
fi

tcase "a directory without config.json: exit 2"
mkdir notmodel
expect_exit 2 "$info" notmodel
expect_err "not a model directory"

tcase "--png on a safetensors file or model: exit 1"
if have_fixture number_cond.safetensors; then
	expect_exit 1 "$info" --png x.png "$FIXTURES/number_cond.safetensors"
fi

tcase "a closed stdout is a reported write error (exit 2)"
"$mk" valid 200 > big.msgpack
# the reader of the pipe exits at once; presto-info must not die silently
( "$info" big.msgpack 2> epipe.err; echo $? > epipe.rc ) | true
[ "$(cat epipe.rc)" = 2 ] || fail "exit status $(cat epipe.rc), want 2"
grep -q '^presto-info: write error on stdout' epipe.err || fail "no write error message: $(cat epipe.err)"

tcase "--devices: the CUDA devices, or why there are none (exit 0 either way)"
expect_ok "$info" --devices
if grep -q '^cuda:0  ' "$OUT"; then
	expect_out "driver: CUDA "
	grep -Eq '^cuda:[0-9]+  .+  [0-9.]+ GiB  sm_[0-9]+  [0-9]+ multiprocessors$' "$OUT" ||
		fail "device line not as documented: $(head -1 "$OUT")"
else
	expect_out "no CUDA device: "
fi
expect_ok "$info" --devices --json
cp "$OUT" devices.json
json_ok devices.json
expect_out '"devices": ['
grep -q '"id": "cuda:0"' devices.json || expect_out '"reason": "'
rm -f devices.json

tcase "--devices without a driver, with a library that is no driver"
expect_ok env PRESTO_LIBCUDA=/nonexistent/libcuda.so.1 "$info" --devices
expect_out "no CUDA device: no NVIDIA driver (/nonexistent/libcuda.so.1 cannot be loaded)"
expect_ok env PRESTO_LIBCUDA=libm.so.6 "$info" --devices --json
expect_out '"devices": []'
expect_out '"driver_version": null'
expect_out '"reason": "libm.so.6 lacks the CUDA driver API"'

tcase "--devices takes no file and no other option: exit 1"
expect_exit 1 "$info" --devices valid.msgpack
expect_err "--devices takes no FILE"
expect_exit 1 "$info" --devices --stats
expect_err "--devices takes no FILE"

tcase "--devices with a driver (a stand-in libcuda): every device, the driver version"
expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=2 "$info" --devices
expect_out "cuda:0  Fake GPU 0  2.0 GiB  sm_90  132 multiprocessors"
expect_out "cuda:1  Fake GPU 1  3.0 GiB  sm_90  132 multiprocessors"
expect_out "driver: CUDA 13.0"
[ ! -s "$ERR" ] || fail "stderr not empty: $(cat "$ERR")"
expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=2 "$info" --devices --json
cp "$OUT" devices.json
json_ok devices.json
expect_out '"id": "cuda:1"'
expect_out '"memory_bytes": 3221225472'
expect_out '"compute_capability": "9.0"'
expect_out '"driver_version": "13.0"'
expect_out '"reason": null'
rm -f devices.json

tcase "--devices says whether presto can run on the GPU (the backend library on cuda:0)"
if [ -f "$emu" ]; then
	expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=2 PRESTO_CUDA_BACKEND="$emu" "$info" --devices
	expect_out "presto: runs on cuda:0 presto CUDA emulator, 1.0 GiB, sm_90, bf16 by default"
	expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=2 PRESTO_CUDA_BACKEND="$emu" "$info" --devices --json
	expect_out '"ready": true'
fi
expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=2 PRESTO_CUDA_BACKEND=$PWD/none.so "$info" --devices
expect_out "presto: cannot use the GPU: the CUDA backend library could not be loaded"
expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=2 PRESTO_CUDA_BACKEND=$PWD/none.so "$info" --devices --json
expect_out '"ready": false'
expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=0 "$info" --devices --json
expect_out '"backend": null'

tcase "--devices: a driver with no device; a device that fails its query"
expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=0 "$info" --devices
expect_out "no CUDA device: the driver finds no device"
expect_ok env PRESTO_LIBCUDA="$fake" FAKECUDA=fail "$info" --devices
expect_out "cuda:0  Fake GPU 0"
expect_out_not "cuda:1"
expect_err "presto-info: cuda:1: CUDA error 999, unknown error"
