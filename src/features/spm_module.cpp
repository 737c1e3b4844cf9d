// A loadable module around libsentencepiece with a C interface (see text.cpp for why): Debian's
// libsentencepiece carries its own protobuf-lite, whose exported symbols clash with the
// libprotobuf that libtorch loads (a crash at start-up when both are linked into one program).
// text.cpp loads this module with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), so each library keeps its own.
#include <sentencepiece_processor.h>

#include <cstring>
#include <string>

extern "C" {

/// A loaded model, or nullptr with the reason in `err` (NUL-terminated, truncated to `err_len`).
void* brainsweep_spm_load(const char* path, char* err, size_t err_len) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  const auto status = sp->Load(path);
  if (status.ok()) return sp;
  std::strncpy(err, status.ToString().c_str(), err_len - 1);
  err[err_len - 1] = '\0';
  delete sp;
  return nullptr;
}

void brainsweep_spm_free(void* sp) { delete static_cast<sentencepiece::SentencePieceProcessor*>(sp); }

int brainsweep_spm_bos_id(void* sp) { return static_cast<sentencepiece::SentencePieceProcessor*>(sp)->bos_id(); }

/// Piece ids of `text`: returns their number (which may exceed `cap`; then call again with more
/// room), or -1 with the reason in `err`.
long brainsweep_spm_encode(void* sp, const char* text, int* ids, long cap, char* err, size_t err_len) {
  std::vector<int> out;
  const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(sp)->Encode(text, &out);
  if (!status.ok()) {
    std::strncpy(err, status.ToString().c_str(), err_len - 1);
    err[err_len - 1] = '\0';
    return -1;
  }
  for (long i = 0; i < static_cast<long>(out.size()) && i < cap; ++i) ids[i] = out[static_cast<size_t>(i)];
  return static_cast<long>(out.size());
}
}
