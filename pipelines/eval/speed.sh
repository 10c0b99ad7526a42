#!/bin/sh
# speed.sh - the README's main command end to end on this machine (the
# median of 3 runs; the model's own sampler and steps), and each stage
# alone: encode, sample (the model's default steps, and 4 steps), decode.
# Writes OUT/speed.json.
. "$(dirname "$0")/common.sh"
prompt="warm lofi piano, 80 BPM"
now() { date +%s.%N; }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
run() { # run CMD...: wall seconds
	t0=$(now); "$@" > /dev/null; t1=$(now); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
e2e() { "$BIN/presto-encode" -m "$MODEL" --threads "$THREADS" "$prompt" | "$BIN/presto-sample" -m "$MODEL" --threads "$THREADS" --seed 1 |
	"$BIN/presto-decode" -m "$MODEL" --threads "$THREADS" > "$WORK/speed.wav"; }
enc() { "$BIN/presto-encode" -m "$MODEL" --threads "$THREADS" "$prompt" > "$WORK/speed.cond"; }
smp4() { "$BIN/presto-sample" -m "$MODEL" --threads "$THREADS" --steps 4 --seed 1 < "$WORK/speed.cond" > "$WORK/speed.lat"; }
smpd() { "$BIN/presto-sample" -m "$MODEL" --threads "$THREADS" --seed 1 < "$WORK/speed.cond" > "$WORK/speed-teacher.lat"; }
dec() { "$BIN/presto-decode" -m "$MODEL" --threads "$THREADS" < "$WORK/speed.lat" > "$WORK/speed.wav"; }
e2e # warm the page cache
E=$(median3 "$(run e2e)" "$(run e2e)" "$(run e2e)")
A=$(median3 "$(run enc)" "$(run enc)" "$(run enc)")
S=$(median3 "$(run smp4)" "$(run smp4)" "$(run smp4)")
T=$(median3 "$(run smpd)" "$(run smpd)" "$(run smpd)")
D=$(median3 "$(run dec)" "$(run dec)" "$(run dec)")
steps=$("$BIN/presto-info" "$WORK/speed-teacher.lat" | sed -n 's/.*steps: \([0-9]*\).*/\1/p' | head -1)
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
cat > "$OUT/speed.json" <<JSON
{"command": "presto-encode \"$prompt\" | presto-sample | presto-decode > out.wav",
 "clip_seconds": 10, "threads": $THREADS, "cpu": "$cpu",
 "end_to_end_s": $E, "encode_s": $A, "sample_4_steps_s": $S, "decode_s": $D,
 "sample_default_s": $T, "default_steps": "${steps:-?}"}
JSON
cat "$OUT/speed.json"
