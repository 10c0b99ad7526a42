# t_batch.sh - pipelines/batch.sh: prompts farmed over jobs (GNU parallel)
# give the files a single pipeline gives, whatever the shards; GPU job slots
# set CUDA_VISIBLE_DEVICES; bad options and failed jobs exit non-zero and
# leave no partial output.

batch=$ROOT/pipelines/batch.sh
if ! command -v parallel > /dev/null 2>&1; then
	tcase "pipelines/batch.sh"
	skip "no GNU parallel (pipelines/setup.sh installs it)"
else
	tcase "batch.sh: 2 prompts a job over 2 jobs gives the single pipeline's files"
	"$TOOLS/mkmodel" m > /dev/null 2>&1 || fail "mkmodel failed"
	PRESTO_MODEL=$PWD/m
	export PRESTO_MODEL
	printf 'a soft piano\nfast drums, 140 BPM\n\nstrings\na bass line\nbells, 90 BPM\n' > prompts.txt
	mkdir -p ref
	"$BIN/presto-encode" < prompts.txt | "$BIN/presto-sample" -S 5 -n 2 --seconds 0.2 |
		"$BIN/presto-decode" -o 'ref/%06d.wav' || fail "the single pipeline failed"
	run_in /dev/null env PRESTO_BIN="$BIN" sh "$batch" -o out -S 5 -n 2 -j 2 prompts.txt -- -n 2 --seconds 0.2
	[ "$RC" = 0 ] || { fail "batch.sh exited $RC"; _show; }
	expect_err "batch.sh: 5 clips in"
	[ "$(ls out | wc -l)" = 5 ] || fail "expected 5 files in out: $(ls -A out | tr '\n' ' ')"
	for i in 0 1 2 3 4; do
		f=$(printf %06d $i).wav
		cmp -s "ref/$f" "out/$f" || fail "out/$f differs from the single pipeline's"
	done
	[ -z "$(ls -A out | grep '^\.')" ] || fail "work files left in out: $(ls -A out)"

	tcase "batch.sh: -g 2 gives each job slot its GPU (CUDA_VISIBLE_DEVICES)"
	mkdir -p wrap
	for t in presto-encode presto-decode; do
		printf '#!/bin/sh\nexec "%s" "$@"\n' "$BIN/$t" > "wrap/$t"
	done
	printf '#!/bin/sh\necho "${CUDA_VISIBLE_DEVICES-unset}" >> "%s"\nexec "%s" "$@"\n' "$PWD/slots.log" \
		"$BIN/presto-sample" > wrap/presto-sample
	chmod +x wrap/*
	run_in /dev/null env PRESTO_BIN="$PWD/wrap" sh "$batch" -o gout -S 5 -n 2 -g 2 prompts.txt -- -n 2 --seconds 0.2
	[ "$RC" = 0 ] || { fail "batch.sh -g 2 exited $RC"; _show; }
	[ "$(sort -u slots.log | tr '\n' ' ')" = "0 1 " ] || fail "job slots saw CUDA_VISIBLE_DEVICES: $(tr '\n' ' ' < slots.log)"
	for i in 0 1 2 3 4; do
		f=$(printf %06d $i).wav
		cmp -s "ref/$f" "gout/$f" || fail "gout/$f differs from the single pipeline's"
	done

	tcase "batch.sh: bad options exit 1, a failed job exits 2 and leaves no file of its shard"
	run_in /dev/null sh "$batch" -n 0 prompts.txt
	[ "$RC" = 1 ] && grep -q "^batch.sh: -n: expected a positive count" "$ERR" || { fail "-n 0"; _show; }
	run_in /dev/null sh "$batch" -o x no-such-file
	[ "$RC" = 1 ] && grep -q "^batch.sh: no-such-file: cannot read the prompts" "$ERR" || { fail "no prompts file"; _show; }
	run_in /dev/null sh "$batch"
	[ "$RC" = 1 ] && grep -q "^usage: " "$ERR" || { fail "no arguments"; _show; }
	run_in /dev/null env PRESTO_BIN="$BIN" sh "$batch" -o bad -n 2 -j 2 prompts.txt -- --steps 0
	[ "$RC" = 2 ] && grep -q "^batch.sh: 3 of 3 shards failed" "$ERR" || { fail "a failing presto-sample"; _show; }
	[ -z "$(ls -A bad)" ] || fail "files left by failed shards: $(ls -A bad)"
	rm -rf m ref out gout wrap bad slots.log prompts.txt x
fi
