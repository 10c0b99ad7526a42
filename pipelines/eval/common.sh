# common.sh - sourced by the evaluation scripts: settings, the held-out
# selection and the tempo score. Needs BIN MODEL CORPUS WORK OUT N SEED.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${BIN:?}" "${MODEL:?}" "${CORPUS:?}" "${WORK:?}" "${OUT:?}" "${N:=48}" "${SEED:=1}" "${STEPS:=}" "${THREADS:=2}"
mkdir -p "$WORK" "$OUT/png"
export PRESTO_QUIET=1
steps_opt=${STEPS:+--steps $STEPS}

# heldout N > TSV: id, file (absolute), bpm, caption of N clips of the test
# split spread evenly over it (always the same clips for the same N).
heldout() {
	awk -F'\t' -v n="$1" -v dir="$CORPUS" '
		NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; print "id\tfile\tbpm\tcaption"; next }
		$c["split"] == "test" { k++; id[k] = $c["id"]; f[k] = $c["file"]; b[k] = $c["bpm"]; cap[k] = $c["caption"] }
		END {
			if (k < n) n = k
			for (j = 0; j < n; j++) {
				i = 1 + int(j * k / n)
				p = f[i]; if (p !~ /^\//) p = dir "/" p
				print id[i] "\t" p "\t" b[i] "\t" cap[i]
			}
		}' "$CORPUS/metadata.tsv"
}

# trainset N > TSV: the same for N clips of the train split.
trainset() {
	awk -F'\t' -v n="$1" -v dir="$CORPUS" '
		NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; print "id\tfile"; next }
		$c["split"] == "train" { k++; id[k] = $c["id"]; f[k] = $c["file"] }
		END {
			if (k < n) n = k
			for (j = 0; j < n; j++) { i = 1 + int(j * k / n); p = f[i]; if (p !~ /^\//) p = dir "/" p; print id[i] "\t" p }
		}' "$CORPUS/metadata.tsv"
}

# tempo_score TSV COL_BPM COL_EST: "within4 octave4 n" - the share of rows
# whose estimate is within 4% of the BPM, and within 4% of BPM x {1/2, 1, 2}.
tempo_score() {
	awk -F'\t' -v b="$2" -v e="$3" '
		function near(a, x) { return a > 0 && (a - x < 0 ? x - a : a - x) <= 0.04 * x }
		NR > 1 { n++; w += near($e, $b); o += near($e, $b) || near($e, 2 * $b) || near($e, $b / 2) }
		END { printf "%.4f\t%.4f\t%d\n", n ? w / n : 0, n ? o / n : 0, n }' "$1"
}
