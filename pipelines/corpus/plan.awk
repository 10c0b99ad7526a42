# plan.awk - the corpus plan: one line per clip, deciding everything about it
# (groove, tempo, key, chords, instrument changes, caption, split). Rendering
# only carries the plan out, so the plan is also the metadata.
#
#   awk -v N=3000 -v SEED=1 -v SECONDS=10 -f plan.awk \
#       styles.tsv voices.tsv progressions.tsv > plan.tsv
#
# Deterministic and portable (POSIX awk; mawk and gawk give the same bytes):
# each clip draws from its own Park-Miller generator (x = 48271 x mod 2^31-1,
# exact in doubles) seeded from a hash of "SEED:id", so clip i does not depend
# on N (a bigger N only appends clips) and the same SEED gives the same plan.
#
# Per clip: a library file uniformly, then one of its grooves uniformly; BPM
# uniform in the style's range; major or minor (1/2 each); the tonic (1/12
# each); a progression for that mode and the style's harmony; with probability
# 0.3 one pitched track's voice is swapped for another of its family
# (voices.tsv), with probability 0.1 (grooves with drums and at least two
# pitched tracks) the drums are muted. Splits: held-out prompts, decided by
# (genre, tonic, mode) alone (not by SEED): hash % 10 == 0 -> test, 1 -> valid,
# else train, so no (genre, key) pair of valid or test occurs in train.

function hash(s,    h, i) {
	h = 0
	for (i = 1; i <= length(s); i++)
		h = (h * 131 + ORD[substr(s, i, 1)]) % MOD
	return h
}
function seed(s,    i) {
	X = hash(s) % (MOD - 1) + 1
	for (i = 0; i < 8; i++)
		rnd(1)
}
# uniform integer in [0, n)
function rnd(n) {
	X = (X * 48271) % MOD
	return int((X - 1) / (MOD - 1) * n)
}
# uniform in [0, 1)
function unif() {
	X = (X * 48271) % MOD
	return (X - 1) / (MOD - 1)
}
# one of the "|"-separated synonyms, at random
function pick(s,    a, n) {
	n = split(s, a, "|")
	return a[1 + rnd(n)]
}
function canon(s,    a) {
	split(s, a, "|")
	return a[1]
}
# "a", "a and b", "a, b and c"
function andlist(a, n,    s, i) {
	s = a[1]
	for (i = 2; i <= n; i++)
		s = s (i == n ? " and " : ", ") a[i]
	return s
}
function tempo_word(bpm) {
	if (bpm < 80)
		return "slow"
	if (bpm < 110)
		return pick("mid-tempo|medium-tempo")
	if (bpm < 140)
		return "upbeat"
	return pick("fast|up-tempo")
}
function meter_phrase(m) {
	if (m == "12/8")
		return "12/8 feel"
	return m " time"
}

BEGIN {
	FS = OFS = "\t"
	MOD = 2147483647
	for (i = 32; i < 127; i++)
		ORD[sprintf("%c", i)] = i
	if (N == "")
		N = 3000
	if (SEED == "")
		SEED = 1
	if (SECONDS == "")
		SECONDS = 10
	if (P_SWAP == "")
		P_SWAP = 0.3
	if (P_NODRUMS == "")
		P_NODRUMS = 0.1
	split("C Db D Eb E F F# G Ab A Bb B", MAJ, " ")
	split("C C# D Eb E F F# G G# A Bb B", MIN, " ")
	split("C C# D D# E F F# G G# A A# B", SHARP, " ")
	split("C Db D Eb E F Gb G Ab A Bb B", FLAT, " ")
	# keys written with flats (chord roots spelled accordingly)
	split("0 1 3 5 8 10", a, " ")
	for (i in a)
		FLATKEY["major", a[i]] = 1
	split("0 2 3 5 7 10", a, " ")
	for (i in a)
		FLATKEY["minor", a[i]] = 1
}

FNR == 1 { fileno++ }
/^#/ || /^[ \t]*$/ { next }

# styles.tsv
fileno == 1 {
	if ($1 == "ref")
		next
	ns++
	S_ref[ns] = $1; S_file[ns] = $2; S_genre[ns] = $4; S_lo[ns] = $5; S_hi[ns] = $6
	S_meter[ns] = $7; S_beats[ns] = $8; S_harm[ns] = $9; S_feel[ns] = $10; S_tracks[ns] = $11
	if (!($2 in F_n))
		F_name[++nf] = $2
	F_idx[$2, ++F_n[$2]] = ns
	next
}
# voices.tsv
fileno == 2 {
	V_word[$2, $1] = $3
	if ($2 == "I") {
		V_fam[$1] = $4
		if ($4 != "-")
			FAM[$4, ++FAM_n[$4]] = $1
	}
	next
}
# progressions.tsv
fileno == 3 {
	k = ++P_n[$1, $2]
	P_name[$1, $2, k] = $3
	P_chords[$1, $2, k] = $4
	next
}

END {
	if (ns == 0 || nf == 0)
		exit 1
	print "id", "file", "style", "genre", "instruments", "bpm", "key", "mode", "progression", "seconds", \
	      "split", "caption", "feel", "meter", "chords", "variation", "mma_seed", "beats", "bars", "mma"
	for (id = 0; id < N; id++) {
		seed(SEED ":" id)
		f = F_name[1 + rnd(nf)]
		s = F_idx[f, 1 + rnd(F_n[f])]
		bpm = S_lo[s] + rnd(S_hi[s] - S_lo[s] + 1)
		mode = rnd(2) ? "minor" : "major"
		tonic = rnd(12)
		keyname = (mode == "major" ? MAJ[tonic + 1] : MIN[tonic + 1])
		harm = S_harm[s]
		np = P_n[mode, harm]
		if (np == 0) {
			print "plan: no progression for " mode " " harm > "/dev/stderr"
			exit 1
		}
		p = 1 + rnd(np)
		nc = split(P_chords[mode, harm, p], tok, " ")
		chords = ""
		for (c = 1; c <= nc; c++) {
			split(tok[c], q, "/")
			pc = (tonic + q[1]) % 12
			chords = chords (c > 1 ? " " : "") ((mode, tonic) in FLATKEY ? FLAT[pc + 1] : SHARP[pc + 1]) q[2]
		}

		# tracks: NAME=VOICE[/VOICE...]
		nt = split(S_tracks[s], tr, ",")
		ncand = 0; ndrum = 0; npitch = 0
		for (t = 1; t <= nt; t++) {
			eq = index(tr[t], "=")
			T_name[t] = substr(tr[t], 1, eq - 1)
			T_voice[t] = substr(tr[t], eq + 1)
			T_kind[t] = (T_name[t] ~ /^DRUM/) ? "D" : "I"
			T_off[t] = 0
			if (T_kind[t] == "D")
				ndrum++
			else {
				npitch++
				v = T_voice[t]
				if (index(v, "/") == 0 && V_fam[v] != "-" && FAM_n[V_fam[v]] >= 2)
					cand[++ncand] = t
			}
		}
		variation = ""; mma = ""
		if (ncand > 0 && unif() < P_SWAP) {
			t = cand[1 + rnd(ncand)]
			old = T_voice[t]; fam = V_fam[old]
			do
				nv = FAM[fam, 1 + rnd(FAM_n[fam])]
			while (nv == old)
			T_voice[t] = nv
			variation = "voice:" T_name[t] "=" old ">" nv
			mma = T_name[t] " Voice " nv
		}
		nodrums = 0
		if (ndrum > 0 && npitch >= 2 && unif() < P_NODRUMS) {
			nodrums = 1
			variation = variation (variation != "" ? "+" : "") "nodrums"
			for (t = 1; t <= nt; t++)
				if (T_kind[t] == "D") {
					T_off[t] = 1
					mma = mma (mma != "" ? ";" : "") T_name[t] " Off"
				}
		}
		if (variation == "")
			variation = "none"

		# instruments: pitched words in track order, then drums, then percussion
		for (w in seen)
			delete seen[w]
		ni = 0; npw = 0; nperc = 0; hasdrums = ""
		for (t = 1; t <= nt; t++) {
			if (T_off[t] || T_kind[t] != "I")
				continue
			nv = split(T_voice[t], vv, "/")
			for (j = 1; j <= nv; j++) {
				w = V_word["I", vv[j]]
				if (w == "" ) {
					print "plan: voice " vv[j] " not in voices.tsv" > "/dev/stderr"
					exit 1
				}
				if (w == "-" || (canon(w) in seen))
					continue
				seen[canon(w)] = 1
				inst[++ni] = canon(w)
				pw[++npw] = w
			}
		}
		for (t = 1; t <= nt; t++) {
			if (T_off[t] || T_kind[t] != "D")
				continue
			nv = split(T_voice[t], vv, "/")
			for (j = 1; j <= nv; j++) {
				w = V_word["D", vv[j]]
				if (w == "") {
					print "plan: drum tone " vv[j] " not in voices.tsv" > "/dev/stderr"
					exit 1
				}
				if (w == "-" || (canon(w) in seen))
					continue
				seen[canon(w)] = 1
				if (canon(w) == "drums")
					hasdrums = w
				else
					perc[++nperc] = w
			}
		}
		if (hasdrums != "")
			inst[++ni] = "drums"
		for (j = 1; j <= nperc; j++)
			inst[++ni] = canon(perc[j])
		instruments = inst[1]
		for (j = 2; j <= ni; j++)
			instruments = instruments ", " inst[j]

		# caption instruments: at most 4 pitched, the drums, at most 1 other
		# percussion; shuffled; a synonym each
		for (j = npw; j > 1; j--) {
			k = 1 + rnd(j); w = pw[j]; pw[j] = pw[k]; pw[k] = w
		}
		nci = 0
		for (j = 1; j <= npw && j <= 4; j++)
			ci[++nci] = pick(pw[j])
		if (hasdrums != "")
			ci[++nci] = pick(hasdrums)
		if (nperc > 0)
			ci[++nci] = pick(perc[1 + rnd(nperc)])
		for (j = nci; j > 1; j--) {
			k = 1 + rnd(j); w = ci[j]; ci[j] = ci[k]; ci[k] = w
		}
		il = andlist(ci, nci)

		genre = canon(S_genre[s])
		g = pick(S_genre[s])
		nfe = split(S_feel[s], fe, ",")
		feel = fe[1 + rnd(nfe)]
		tw = tempo_word(bpm)
		b = bpm " BPM"
		k = keyname " " mode
		tpl = rnd(8)
		if (tpl == 0)
			cap = feel " " g " with " il ", " b ", " k
		else if (tpl == 1)
			cap = g " in " k ", " b ", featuring " il
		else if (tpl == 2)
			cap = tw " " feel " " g ", " il ", " k ", " b
		else if (tpl == 3)
			cap = il " playing " g " in " k " at " b
		else if (tpl == 4)
			cap = k " " g ", " b ", " feel " and " tw ", with " il
		else if (tpl == 5)
			cap = b " " tw " " g " in " k " with " il
		else if (tpl == 6)
			cap = (feel ~ /^[aeiou]/ ? "an " : "a ") feel " " g " piece in " k " with " il ", " b
		else
			cap = g ", " feel ", " tw ", " il ", " k ", " b
		if (S_meter[s] != "4/4")
			cap = cap ", " meter_phrase(S_meter[s])
		if (nodrums)
			cap = cap ", " pick("no drums|without drums")

		h = hash(genre "|" keyname "|" mode) % 10
		split_ = (h == 0 ? "test" : h == 1 ? "valid" : "train")

		# whole bars covering SECONDS (the release tail is rendered too)
		bars = int(SECONDS * bpm / (60 * S_beats[s])) + 1
		mseed = 1 + rnd(MOD - 2)
		sid = sprintf("%06d", id)
		print sid, "audio/" sid ".flac", S_ref[s], genre, instruments, bpm, keyname, mode, \
		      P_name[mode, harm, p], SECONDS, split_, cap, feel, S_meter[s], chords, variation, \
		      sprintf("%d", mseed), S_beats[s], bars, (mma == "" ? "-" : mma)
	}
}
