/* tokenizer.h - SentencePiece tokenizer (C interface over libsentencepiece).
 *
 * lib/tokenizer.cc implements it in C++ and turns every SentencePiece error or
 * C++ exception into a presto_status. A loaded tokenizer may be used by
 * several threads at once for encoding. */
#ifndef PRESTO_TOKENIZER_H
#define PRESTO_TOKENIZER_H

#include <stdint.h>

#include "error.h"

typedef struct presto_tokenizer presto_tokenizer;

presto_status presto_tokenizer_load(const char *path, presto_tokenizer **out);
void presto_tokenizer_free(presto_tokenizer *tk);
int presto_tokenizer_vocab_size(const presto_tokenizer *tk);
/* T5 convention (HF T5Tokenizer, padding='max_length', truncation=True):
 * encode the UTF-8 `text`, keep at most max_length - 1 pieces, append </s>
 * (the model's eos_id), pad with the model's pad_id (0 if it has none).
 * ids[max_length], mask[max_length] (1 token, 0 pad). The number of real
 * tokens (including </s>) goes to *n (n may be NULL). An empty text gives
 * [</s>, pad, ...]; malformed UTF-8 is encoded as SentencePiece does (as
 * unknown pieces), never an error. max_length >= 1. */
presto_status presto_tokenizer_encode_t5(const presto_tokenizer *tk, const char *text, int max_length, int32_t *ids,
					 float *mask, int *n);

/* Train a unigram SentencePiece model in the T5 layout (pad 0, </s> 1,
 * <unk> 2, no <s>; full character coverage; vocab_size is a target, not a
 * hard limit) on text_file, one sentence a line. Writes
 * <model_prefix>.model and <model_prefix>.vocab. Quiet unless it fails. */
presto_status presto_tokenizer_train(const char *text_file, const char *model_prefix, int vocab_size);

#endif
