#!/bin/sh
# bench-cpu.sh - CPU timing of one DiT sampling step for a random-weight model
# of Stable Audio Open Small's shape (1024 wide, 16 blocks, 8 heads, qk
# LayerNorm, 64 latent channels, 256 latent frames = 11.9 s), the SAO Small
# recipe (pingpong, cfg 1). One step = (time of N+1 steps - time of 1 step) / N,
# so model loading and the rest of the pipeline cancel out.
#
#   BUILD=build sh pipelines/bench-cpu.sh [N]
set -e
: "${BUILD:=build}"
N=${1:-4}
M=$BUILD/models/sao-small
mkdir -p "$(dirname "$M")"
[ -f "$M/config.json" ] || "$BUILD"/tests/mkmodel "$M" --size sao-small --objective rf --dtype f16 >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BUILD"/bin/presto-encode -m "$M" -s 11.88 "warm lofi piano, 80 BPM" > "$tmp/c"
t() { # t STEPS -> seconds
	s=$(date +%s.%N)
	"$BUILD"/bin/presto-sample -m "$M" --seed 1 --steps "$1" < "$tmp/c" > "$tmp/l"
	e=$(date +%s.%N)
	awk "BEGIN { print $e - $s }"
}
t1=$(t 1)
tn=$(t $((N + 1)))
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf 'sao-small DiT, 256 frames, cfg 1: 1 step run %.2f s, %d-step run %.2f s, one step %.2f s\n' \
	"$t1" $((N + 1)) "$tn" "$(awk "BEGIN { print ($tn - $t1) / $N }")"
