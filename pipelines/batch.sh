#!/bin/sh
# batch.sh - one clip per prompt of a file, farmed over GPUs (one job slot
# per GPU, CUDA_VISIBLE_DEVICES) or CPU jobs with GNU parallel. Every clip
# is the file a single pipeline would write: the prompts are cut into shards
# and shard k's first record gets the seed its line has in the whole file,
# so the output does not depend on the shards, the jobs or their order.
#
#   sh pipelines/batch.sh [-o DIR] [-S SEED] [-n PER_JOB] [-j JOBS] [-g GPUS]
#                         [-e EXT] PROMPTS [-- PRESTO-SAMPLE OPTIONS...]
#
#   -o DIR      output directory (default out): DIR/000000.EXT, ... one file
#               per non-blank line of PROMPTS, numbered from 0 in file order
#   -S SEED     seed of the first prompt; prompt i uses SEED + i (default 0)
#   -n PER_JOB  prompts a job (default 16)
#   -g GPUS     one job slot per GPU: slot s runs with CUDA_VISIBLE_DEVICES=s-1
#   -j JOBS     jobs at once (default: GPUS, else 1; on the CPU each job
#               uses every core, so more than 1 rarely helps)
#   -e EXT      audio format by extension: wav (default), flac, ...
#
# The tools come from $PRESTO_BIN (default: build/bin of this checkout, else
# the PATH). Across hosts, GNU parallel's own $PARALLEL carries its options
# (e.g. PARALLEL='-S 2/host1,2/host2 --workdir .'; the hosts need presto and
# the model at the same paths). Exit 0 when every prompt has its file; 1 on
# a usage error; 2 when a job failed (its shard is named; finished files
# stay, a failed shard leaves none).
set -u
prog=batch.sh
usage() {
	echo "usage: sh pipelines/batch.sh [-o DIR] [-S SEED] [-n PER_JOB] [-j JOBS] [-g GPUS] [-e EXT] PROMPTS [-- SAMPLE_OPTIONS...]" >&2
	exit 1
}
die() {
	echo "$prog: $*" >&2
	exit "${2:-1}"
}
isnum() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }

# one job (run by GNU parallel): JOB K START COUNT PROMPTS OUT EXT SEED [SAMPLE_OPTIONS...]
if [ "${1:-}" = --job ]; then
	shift
	k=$1 start=$2 count=$3 prompts=$4 out=$5 ext=$6 seed=$7
	shift 7
	tmp=$out/.shard-$k
	rm -rf "$tmp" && mkdir -p "$tmp" || exit 2
	if [ -n "${BATCH_GPU_SLOT:-}" ]; then
		CUDA_VISIBLE_DEVICES=$((BATCH_GPU_SLOT - 1))
		export CUDA_VISIBLE_DEVICES
	fi
	sed -n "$((start + 1)),$((start + count))p" "$prompts" | "$PRESTO_BIN_DIR"presto-encode |
		"$PRESTO_BIN_DIR"presto-sample -S $((seed + start)) "$@" |
		"$PRESTO_BIN_DIR"presto-decode -o "$tmp/%d.$ext"
	rc=$?
	i=0
	while [ $rc -eq 0 ] && [ $i -lt "$count" ]; do
		[ -f "$tmp/$i.$ext" ] || { echo "$prog: shard $k: no file for prompt $((start + i))" >&2; rc=2; break; }
		i=$((i + 1))
	done
	if [ $rc -eq 0 ]; then
		i=0
		while [ $i -lt "$count" ]; do
			mv "$tmp/$i.$ext" "$out/$(printf %06d $((start + i))).$ext" || rc=2
			i=$((i + 1))
		done
	fi
	rm -rf "$tmp"
	[ $rc -eq 0 ] || echo "$prog: shard $k (prompts $start..$((start + count - 1))) failed" >&2
	exit $rc
fi

out=out seed=0 per=16 jobs= gpus=0 ext=wav
while getopts o:S:n:j:g:e:h opt; do
	case $opt in
	o) out=$OPTARG ;;
	S) seed=$OPTARG ;;
	n) per=$OPTARG ;;
	j) jobs=$OPTARG ;;
	g) gpus=$OPTARG ;;
	e) ext=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
prompts=$1
shift
[ "${1:-}" = -- ] && shift
isnum "$seed" || die "-S: a seed is a non-negative integer (got '$seed')"
isnum "$per" && [ "$per" -gt 0 ] || die "-n: expected a positive count (got '$per')"
isnum "$gpus" || die "-g: expected a number of GPUs (got '$gpus')"
[ -z "$jobs" ] && { [ "$gpus" -gt 0 ] && jobs=$gpus || jobs=1; }
isnum "$jobs" && [ "$jobs" -gt 0 ] || die "-j: expected a positive number of jobs (got '$jobs')"
case $ext in '' | */* | .*) die "-e: expected an extension such as wav or flac (got '$ext')" ;; esac
[ -r "$prompts" ] || die "$prompts: cannot read the prompts"
command -v parallel > /dev/null || die "GNU parallel is needed (apt-get install parallel)" 2

here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${PRESTO_BIN:-}" ]; then
	PRESTO_BIN_DIR=${PRESTO_BIN%/}/
elif [ -x "$here/build/bin/presto-sample" ]; then
	PRESTO_BIN_DIR=$here/build/bin/
else
	PRESTO_BIN_DIR=
fi
export PRESTO_BIN_DIR
mkdir -p "$out" || die "$out: cannot make the directory" 2
out=$(cd "$out" && pwd)
# the prompts presto-encode takes (it skips blank lines): their index is the record's
lines=$out/.prompts
grep -v '^[[:space:]]*$' "$prompts" > "$lines"
total=$(wc -l < "$lines")
if [ "$total" -eq 0 ]; then
	rm -f "$lines"
	die "$prompts: no prompt" 2
fi
shards=$(((total + per - 1) / per))
self=$here/pipelines/batch.sh
slot=
[ "$gpus" -gt 0 ] && slot='BATCH_GPU_SLOT={%}'
k=0
while [ $k -lt $shards ]; do
	start=$((k * per))
	count=$per
	[ $((start + count)) -gt "$total" ] && count=$((total - start))
	echo "$k $start $count"
	k=$((k + 1))
done | parallel --will-cite -q -j "$jobs" --colsep ' ' \
	env $slot sh "$self" --job {1} {2} {3} "$lines" "$out" "$ext" "$seed" "$@"
failed=$?
rm -f "$lines"
[ $failed -eq 0 ] || die "$failed of $shards shards failed" 2
echo "$prog: $total clips in $out" >&2
