// Transcripts and tokenisation (text.hpp).
#include "brainsweep/text.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <system_error>

#include "brainsweep/errors.hpp"
#include "brainsweep/module.hpp"
#include "brainsweep/tsv.hpp"

namespace brainsweep {

std::vector<std::string> read_text_per_tr(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": transcript not found or unreadable");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  size_t pos = 0;
  long newlines = 0;
  std::vector<std::string> fields;
  auto next_record = [&](const std::string& t, size_t& p, std::vector<std::string>& f) {
    return next_tsv_record(t, p, f, newlines);
  };
  if (!next_record(text, pos, fields)) throw DataError(path + ": empty transcript (expected a header row)");
  long col = -1;
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i] == "text_per_tr") col = static_cast<long>(i);
  if (col < 0) throw DataError(path + ": no column 'text_per_tr' in the header");
  std::vector<std::string> rows;
  long line = 1;
  while (next_record(text, pos, fields)) {
    ++line;
    if (fields.size() == 1 && fields[0].empty() && pos >= text.size()) break;  // final newline
    if (static_cast<long>(fields.size()) <= col)
      throw DataError(path + ": record " + std::to_string(line) + " has " + std::to_string(fields.size()) +
                      " fields, expected at least " + std::to_string(col + 1));
    const std::string& v = fields[static_cast<size_t>(col)];
    rows.push_back(v == "nan" || v == "NaN" ? "" : v);
  }
  return rows;
}

std::vector<std::vector<std::string>> chunk_words(const std::vector<std::string>& text_per_tr, int context_words) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> history;
  for (const auto& text : text_per_tr) {
    std::vector<std::string> words;
    std::istringstream ws(text);
    for (std::string w; ws >> w;) words.push_back(w);
    const size_t keep = std::min(history.size(), static_cast<size_t>(std::max(context_words, 0)));
    std::vector<std::string> chunk(history.end() - static_cast<long>(keep), history.end());
    chunk.insert(chunk.end(), words.begin(), words.end());
    out.push_back(std::move(chunk));
    history.insert(history.end(), words.begin(), words.end());
  }
  return out;
}

// SentencePiece is reached through a module loaded with RTLD_LOCAL | RTLD_DEEPBIND
// (src/features/spm_module.cpp says why): $BRAINSWEEP_SPM_MODULE, else beside the executable, else
// the build tree (module.hpp).
namespace {

struct SpmModule {
  void* (*load)(const char*, char*, size_t) = nullptr;
  void (*free)(void*) = nullptr;
  int (*bos_id)(void*) = nullptr;
  long (*encode)(void*, const char*, int*, long, char*, size_t) = nullptr;
};

const SpmModule& spm_module() {
  static const SpmModule m = [] {
    auto sym = [](const char* name) {
      return module_symbol({"SentencePiece", "BRAINSWEEP_SPM_MODULE", "libbrainsweep_spm.so",
                            BRAINSWEEP_SPM_MODULE_BUILD_PATH, name, /*deep_bind=*/true});
    };
    SpmModule s;
    s.load = reinterpret_cast<decltype(s.load)>(sym("brainsweep_spm_load"));
    s.free = reinterpret_cast<decltype(s.free)>(sym("brainsweep_spm_free"));
    s.bos_id = reinterpret_cast<decltype(s.bos_id)>(sym("brainsweep_spm_bos_id"));
    s.encode = reinterpret_cast<decltype(s.encode)>(sym("brainsweep_spm_encode"));
    return s;
  }();
  return m;
}

}  // namespace

struct Tokenizer::Impl {
  void* sp = nullptr;
  ~Impl() {
    if (sp) spm_module().free(sp);
  }
};

Tokenizer::Tokenizer(const std::string& path) : impl_(std::make_unique<Impl>()) {
  if (!std::filesystem::is_regular_file(path)) throw DataError(path + ": tokenizer file not found");
  char err[512] = {0};
  impl_->sp = spm_module().load(path.c_str(), err, sizeof err);
  if (!impl_->sp) throw DataError(path + ": not a SentencePiece model (" + err + ")");
}

Tokenizer::~Tokenizer() = default;

std::vector<std::int64_t> Tokenizer::encode(const std::vector<std::string>& words, bool add_bos, int max_tokens) const {
  const auto& m = spm_module();
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  std::vector<int> pieces;
  if (!text.empty()) {
    char err[512] = {0};
    pieces.resize(text.size() + 8);
    long n = m.encode(impl_->sp, text.c_str(), pieces.data(), static_cast<long>(pieces.size()), err, sizeof err);
    if (n > static_cast<long>(pieces.size())) {
      pieces.resize(static_cast<size_t>(n));
      n = m.encode(impl_->sp, text.c_str(), pieces.data(), n, err, sizeof err);
    }
    if (n < 0) throw DataError("SentencePiece failed on '" + text + "': " + err);
    pieces.resize(static_cast<size_t>(n));
  }
  const int bos_id = m.bos_id(impl_->sp);
  const bool bos = add_bos && bos_id >= 0;
  const long room = std::max(0L, static_cast<long>(max_tokens) - (bos ? 1 : 0));
  const long skip = std::max(0L, static_cast<long>(pieces.size()) - room);
  std::vector<std::int64_t> ids;
  if (bos) ids.push_back(bos_id);
  for (size_t i = static_cast<size_t>(skip); i < pieces.size(); ++i) ids.push_back(pieces[i]);
  return ids;
}

}  // namespace brainsweep
