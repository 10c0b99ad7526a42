# t_default.sh - the shipped default model (models/default): the tools find
# it without flags, and a short generation from a prompt is finite, not
# silent, as long as asked, the same for the same seed and different for
# another. Skipped only while no model is shipped.

enc=$BIN/presto-encode
smp=$BIN/presto-sample
dec=$BIN/presto-decode
sine=$TOOLS/mksine
model=$ROOT/models/default

# gen SEED OUT [PROMPT]: a 3 s clip, 4 steps, float WAV, no normalisation,
# with the model the tools find on their own (no -m, no PRESTO_MODEL).
gen() {
	(unset PRESTO_MODEL
	 "$enc" -s 3 "${3:-warm lofi piano, 80 BPM}" | "$smp" --steps 4 --seed "$1" |
		"$dec" --no-normalize --subtype float -o "$2") 2> gen.err ||
		{ fail "generation (seed $1) failed: $(head -3 gen.err)"; return 1; }
}

# stats FILE: "frames=... peak=... rms=... nonfinite=..." into stats.txt
stats() { "$sine" --info "$1" > stats.txt 2>&1 || fail "mksine --info $1: $(cat stats.txt)"; }
field() { sed -n "1s/.*$1=\([^ ]*\).*/\1/p" stats.txt; }

have_model() {
	[ -f "$model/config.json" ] || { skip "no model shipped in models/default"; return 1; }
}

tcase "the shipped model generates 3 s of finite, non-silent stereo audio"
if have_model; then
	if gen 7 a.wav; then
		stats a.wav
		[ "$(field frames)" = 132300 ] || fail "frames $(field frames), want 132300 (3 s at 44.1 kHz)"
		[ "$(field channels)" = 2 ] || fail "channels $(field channels), want 2"
		[ "$(field rate)" = 44100 ] || fail "rate $(field rate), want 44100"
		[ "$(field nonfinite)" = 0 ] || fail "$(field nonfinite) samples are NaN or infinite"
		awk -v r="$(field rms)" 'BEGIN { exit !(r > 0.001) }' || fail "silent: rms $(field rms)"
		awk -v p="$(field peak)" 'BEGIN { exit !(p < 8) }' || fail "runaway level: peak $(field peak)"
	fi
fi

tcase "the same seed gives the same bytes, another seed other audio"
if have_model; then
	gen 7 a.wav && gen 7 b.wav && gen 8 c.wav && gen 7 d.wav "dark techno, 128 BPM" && {
		cmp -s a.wav b.wav || fail "seed 7 twice: the files differ"
		cmp -s a.wav c.wav && fail "seeds 7 and 8 gave the same audio"
		cmp -s a.wav d.wav && fail "two prompts gave the same audio"
	}
fi

tcase "decoding gives the same bytes on 1, 2 and 3 threads (its work is split by channels and chunks)"
if have_model; then
	(unset PRESTO_MODEL
	 "$enc" -s 3 "warm lofi piano, 80 BPM" | "$smp" --steps 2 --seed 7 > th.lat) 2> th.err ||
		fail "sampling failed: $(head -3 th.err)"
	for n in 1 2 3; do
		(unset PRESTO_MODEL; "$dec" --threads $n --subtype float -o th$n.wav th.lat) 2> th.err ||
			fail "decoding on $n threads failed: $(head -3 th.err)"
	done
	cmp -s th1.wav th2.wav || fail "1 and 2 threads decode to other bytes"
	cmp -s th1.wav th3.wav || fail "1 and 3 threads decode to other bytes"
fi

tcase "the shipped model's files are small half-precision weights"
if have_model; then
	for f in "$model"/*.safetensors; do
		sz=$(wc -c < "$f")
		[ "$sz" -lt 67108864 ] || fail "$f is $sz bytes (over 64 MiB)"
	done
	"$BIN/presto-info" "$model" > info.txt 2>&1 || fail "presto-info $model: $(head -3 info.txt)"
fi
