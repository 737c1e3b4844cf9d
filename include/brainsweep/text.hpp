#pragma once
/// Transcripts for text features: the Algonauts TSV (one row per TR chunk, column `text_per_tr`,
/// DATA.md) and SentencePiece tokenisation with a context of preceding words.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace brainsweep {

/// Column `text_per_tr` of a transcript TSV: one string per row (chunk); an empty field, "nan" or
/// "NaN" (what pandas writes for a chunk without speech) is an empty chunk. Fields may be quoted
/// with '"' ("" inside a quoted field is one quote), as pandas writes them.
/// @throw DataError  if the file is missing, has no header, lacks the column, or a row has fewer fields
std::vector<std::string> read_text_per_tr(const std::string& path);

/// The words (whitespace-separated) that a chunk's model input holds: the last `context_words`
/// words of the preceding chunks, then the chunk's own words.
/// @return  one word list per chunk
std::vector<std::vector<std::string>> chunk_words(const std::vector<std::string>& text_per_tr, int context_words);

/// A SentencePiece model (Debian's libsentencepiece), loaded from the model's tokenizer file.
class Tokenizer {
 public:
  /// @throw DataError  if the file is missing or not a SentencePiece model
  explicit Tokenizer(const std::string& path);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  /// Ids of `words` joined by single spaces: [bos] (if add_bos and the model has one) followed by the
  /// pieces' ids, keeping the last `max_tokens` ids (the bos, when kept, stays first).
  /// An empty word list gives [bos], or nothing without a bos.
  std::vector<std::int64_t> encode(const std::vector<std::string>& words, bool add_bos, int max_tokens) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brainsweep
