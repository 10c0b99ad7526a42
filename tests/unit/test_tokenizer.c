/* test_tokenizer.c - SentencePiece tokenizer: trains a tiny T5-layout model
 * on generated captions in a temporary folder, then checks the T5 encoding
 * rules (</s> last, padding, mask, truncation, empty and malformed text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenizer.h"

#include "check.h"


enum { MAXLEN = 48, LONGLEN = 512 };

static int write_captions(const char *path)
{
	static const char *const moods[] = {"warm", "dark", "bright", "dreamy", "energetic"};
	static const char *const styles[] = {"lofi piano", "ambient pads", "techno drums", "acoustic guitar",
					     "jazz trio", "synthwave lead", "orchestral strings", "deep house bass",
					     "folk banjo", "drum and bass"};
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	for (int i = 0; i < 50; i++)
		fprintf(f, "%s %s, %d BPM\n", moods[i % 5], styles[(i * 3) % 10], 60 + 5 * (i % 17));
	return fclose(f);
}

/* ids end with </s> at n-1, then pad; mask is 1 exactly on the first n. */
static int layout_ok(const int32_t *ids, const float *mask, int L, int n, int eos, int pad)
{
	if (n < 1 || n > L || ids[n - 1] != eos)
		return 0;
	for (int i = 0; i < L; i++) {
		if (mask[i] != (i < n ? 1.0f : 0.0f))
			return 0;
		if (i >= n && ids[i] != pad)
			return 0;
		if (i < n - 1 && ids[i] == eos)
			return 0;
	}
	return 1;
}

int main(void)
{
	char dir[] = "/tmp/presto-tok-XXXXXX", text[512], prefix[512], model[512];
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(text, sizeof text, "%s/captions.txt", dir);
	snprintf(prefix, sizeof prefix, "%s/tok", dir);
	snprintf(model, sizeof model, "%s/tok.model", dir);
	CHECK(write_captions(text) == 0, "write training captions");

	presto_status s = presto_tokenizer_train(text, prefix, 96);
	if (s)
		fprintf(stderr, "  %s\n", presto_error());
	CHECK(s == PRESTO_OK, "train a unigram model (T5 layout)");

	presto_tokenizer *tk = NULL;
	s = presto_tokenizer_load(model, &tk);
	if (s)
		fprintf(stderr, "  %s\n", presto_error());
	CHECK(s == PRESTO_OK && tk, "load the trained model");
	if (!tk)
		goto out;
	CHECK(presto_tokenizer_vocab_size(tk) > 3, "vocab size above the special pieces");

	const int eos = 1, pad = 0;
	int32_t ids[LONGLEN], ids2[LONGLEN], full[LONGLEN];
	float mask[LONGLEN], mask2[LONGLEN];
	int n = -1, n2 = -1;

	s = presto_tokenizer_encode_t5(tk, "warm lofi piano, 80 BPM", MAXLEN, ids, mask, &n);
	CHECK(s == PRESTO_OK && n > 2 && layout_ok(ids, mask, MAXLEN, n, eos, pad),
	      "caption: pieces, then </s>, then pad; mask on the tokens");
	int sum = 0;
	for (int i = 0; i < MAXLEN; i++)
		sum += mask[i] != 0.0f;
	CHECK(sum == n, "mask counts the real tokens (with </s>)");

	s = presto_tokenizer_encode_t5(tk, "warm lofi piano, 80 BPM", MAXLEN, ids2, mask2, &n2);
	CHECK(s == PRESTO_OK && n2 == n && !memcmp(ids, ids2, sizeof(int32_t) * MAXLEN) &&
		      !memcmp(mask, mask2, sizeof(float) * MAXLEN),
	      "same text, same ids");

	const char *longtext = "dreamy orchestral strings and deep house bass over energetic techno drums, "
			       "bright synthwave lead with acoustic guitar and a jazz trio, 128 BPM";
	int nf = 0;
	s = presto_tokenizer_encode_t5(tk, longtext, LONGLEN, full, mask, &nf);
	CHECK(s == PRESTO_OK && nf > 10 && layout_ok(full, mask, LONGLEN, nf, eos, pad), "long caption, untruncated");
	s = presto_tokenizer_encode_t5(tk, longtext, 8, ids, mask, &n);
	CHECK(s == PRESTO_OK && n == 8 && ids[7] == eos && !memcmp(ids, full, sizeof(int32_t) * 7) &&
		      layout_ok(ids, mask, 8, n, eos, pad),
	      "truncation to max_length keeps the first pieces and </s> last");

	s = presto_tokenizer_encode_t5(tk, "", MAXLEN, ids, mask, &n);
	CHECK(s == PRESTO_OK && n == 1 && layout_ok(ids, mask, MAXLEN, n, eos, pad), "empty text gives [</s>, pad...]");

	s = presto_tokenizer_encode_t5(tk, "warm", 1, ids, mask, &n);
	CHECK(s == PRESTO_OK && n == 1 && ids[0] == eos && mask[0] == 1.0f, "max_length 1 gives [</s>]");

	s = presto_tokenizer_encode_t5(tk, "warm \xff\xfe piano \xc3", MAXLEN, ids, mask, &n);
	CHECK(s == PRESTO_OK && layout_ok(ids, mask, MAXLEN, n, eos, pad), "malformed UTF-8 encodes without error");
	int vs = presto_tokenizer_vocab_size(tk), in_range = 1;
	for (int i = 0; i < MAXLEN; i++)
		in_range &= ids[i] >= 0 && ids[i] < vs;
	CHECK(in_range, "ids within the vocabulary");

	s = presto_tokenizer_encode_t5(tk, "warm", 0, ids, mask, &n);
	CHECK(s == PRESTO_EINVAL, "max_length 0 is an error");

	presto_tokenizer *tk2 = NULL;
	s = presto_tokenizer_load(model, &tk2);
	if (!s) {
		s = presto_tokenizer_encode_t5(tk2, longtext, LONGLEN, ids, mask, &n);
		CHECK(s == PRESTO_OK && n == nf && !memcmp(ids, full, sizeof(int32_t) * LONGLEN),
		      "a second load encodes identically");
		presto_tokenizer_free(tk2);
	} else {
		CHECK(0, "a second load encodes identically");
	}

	presto_tokenizer *bad = NULL;
	s = presto_tokenizer_load("/nonexistent/presto/tok.model", &bad);
	CHECK(s != PRESTO_OK && !bad && *presto_error(), "missing model file is an error with a message");
	s = presto_tokenizer_load(text, &bad); /* not a model */
	CHECK(s != PRESTO_OK && !bad, "a text file is not a model");
	snprintf(prefix, sizeof prefix, "%s/never", dir);
	s = presto_tokenizer_train("/nonexistent/presto/captions.txt", prefix, 64);
	CHECK(s != PRESTO_OK, "training on a missing file is an error");

	presto_tokenizer_free(tk);
out:
	unlink(text);
	unlink(model);
	snprintf(model, sizeof model, "%s/tok.vocab", dir);
	unlink(model);
	rmdir(dir);
	return check_status();
}
