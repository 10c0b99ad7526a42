/* tokenizer.h - SentencePiece tokenizer (C interface over libsentencepiece). */
#ifndef PRESTO_TOKENIZER_H
#define PRESTO_TOKENIZER_H

#include <stdint.h>

#include "error.h"

typedef struct presto_tokenizer presto_tokenizer;

presto_status presto_tokenizer_load(const char *path, presto_tokenizer **out);
void presto_tokenizer_free(presto_tokenizer *tk);
int presto_tokenizer_vocab_size(const presto_tokenizer *tk);
/* T5 convention: encode `text`, append </s> (id eos_id), truncate to
 * max_length (keeping </s> last), pad with pad_id (0). ids[max_length],
 * mask[max_length] (1 token, 0 pad). Returns the number of real tokens in *n. */
presto_status presto_tokenizer_encode_t5(const presto_tokenizer *tk, const char *text, int max_length, int32_t *ids,
					 float *mask, int *n);

#endif
