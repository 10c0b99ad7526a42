/* tokenizer.cc - the C interface of lib/tokenizer.h over libsentencepiece.
 *
 * Every entry point catches C++ exceptions (std::bad_alloc and anything the
 * library throws) and reports them as a presto_status with a message. */
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <exception>
#include <fstream>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

extern "C" {
#include "tokenizer.h"
}

struct presto_tokenizer {
	sentencepiece::SentencePieceProcessor sp;
};

namespace {

presto_status fail_exception(const char *what, const std::exception &e)
{
	if (dynamic_cast<const std::bad_alloc *>(&e))
		return presto_error_set(PRESTO_ENOMEM, "%s: out of memory", what);
	return presto_error_set(PRESTO_EINVAL, "%s: %s", what, e.what());
}

/* Lines of a text file (without their line ends) for the trainer, so that the
 * file name is never parsed as the comma-separated `input` flag. */
class line_iterator : public sentencepiece::SentenceIterator {
public:
	explicit line_iterator(const char *path) : in_(path, std::ios::binary)
	{
		if (!in_)
			status_ = sentencepiece::util::Status(sentencepiece::util::StatusCode::kNotFound,
							      std::string("cannot open ") + path);
		else
			Next();
	}
	bool done() const override { return done_; }
	void Next() override
	{
		if (!status_.ok() || !std::getline(in_, line_)) {
			done_ = true;
			return;
		}
		if (!line_.empty() && line_.back() == '\r')
			line_.pop_back();
	}
	const std::string &value() const override { return line_; }
	sentencepiece::util::Status status() const override { return status_; }

private:
	std::ifstream in_;
	std::string line_;
	sentencepiece::util::Status status_;
	bool done_ = false;
};

} // namespace

extern "C" presto_status presto_tokenizer_load(const char *path, presto_tokenizer **out)
{
	*out = nullptr;
	if (!path)
		return presto_error_set(PRESTO_EINVAL, "tokenizer: no model path");
	try {
		presto_tokenizer *tk = new presto_tokenizer;
		auto st = tk->sp.Load(path);
		if (!st.ok()) {
			delete tk;
			return presto_error_set(PRESTO_EIO, "tokenizer %s: %s", path, st.ToString().c_str());
		}
		*out = tk;
		return PRESTO_OK;
	} catch (const std::exception &e) {
		return fail_exception("loading tokenizer", e);
	} catch (...) {
		return presto_error_set(PRESTO_EINVAL, "tokenizer %s: unknown error", path);
	}
}

extern "C" void presto_tokenizer_free(presto_tokenizer *tk) { delete tk; }

extern "C" int presto_tokenizer_vocab_size(const presto_tokenizer *tk)
{
	try {
		return tk->sp.GetPieceSize();
	} catch (...) {
		return 0;
	}
}

extern "C" presto_status presto_tokenizer_encode_t5(const presto_tokenizer *tk, const char *text, int max_length,
						    int32_t *ids, float *mask, int *n)
{
	if (n)
		*n = 0;
	if (!tk || !text || !ids || !mask || max_length < 1)
		return presto_error_set(PRESTO_EINVAL, "tokenizer: bad arguments (max_length %d)", max_length);
	try {
		int eos = tk->sp.eos_id(), pad = tk->sp.pad_id();
		if (eos < 0)
			return presto_error_set(PRESTO_EUNSUP, "tokenizer: the model has no </s> piece");
		if (pad < 0)
			pad = 0;
		std::vector<int> pieces;
		auto st = tk->sp.Encode(text, &pieces);
		if (!st.ok())
			return presto_error_set(PRESTO_EINVAL, "tokenizer: %s", st.ToString().c_str());
		size_t keep = pieces.size();
		if (keep > (size_t)max_length - 1)
			keep = (size_t)max_length - 1;
		for (size_t i = 0; i < keep; i++) {
			ids[i] = pieces[i];
			mask[i] = 1.0f;
		}
		ids[keep] = eos;
		mask[keep] = 1.0f;
		for (size_t i = keep + 1; i < (size_t)max_length; i++) {
			ids[i] = pad;
			mask[i] = 0.0f;
		}
		if (n)
			*n = (int)keep + 1;
		return PRESTO_OK;
	} catch (const std::exception &e) {
		return fail_exception("tokenizer", e);
	} catch (...) {
		return presto_error_set(PRESTO_EINVAL, "tokenizer: unknown error");
	}
}

extern "C" presto_status presto_tokenizer_train(const char *text_file, const char *model_prefix, int vocab_size)
{
	if (!text_file || !model_prefix || !*model_prefix || vocab_size < 4)
		return presto_error_set(PRESTO_EINVAL, "tokenizer training: bad arguments (vocab size %d)", vocab_size);
	try {
		const std::unordered_map<std::string, std::string> args = {
			{"model_prefix", model_prefix},
			{"vocab_size", std::to_string(vocab_size)},
			{"model_type", "unigram"},
			{"pad_id", "0"},
			{"eos_id", "1"},
			{"unk_id", "2"},
			{"bos_id", "-1"},
			{"character_coverage", "1.0"},
			{"hard_vocab_limit", "false"},
			{"minloglevel", "2"},
		};
		line_iterator lines(text_file);
		auto st = sentencepiece::SentencePieceTrainer::Train(args, &lines);
		if (!st.ok())
			return presto_error_set(PRESTO_EINVAL, "tokenizer training on %s: %s", text_file,
						st.ToString().c_str());
		return PRESTO_OK;
	} catch (const std::exception &e) {
		return fail_exception("tokenizer training", e);
	} catch (...) {
		return presto_error_set(PRESTO_EINVAL, "tokenizer training on %s: unknown error", text_file);
	}
}
