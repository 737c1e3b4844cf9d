#pragma once
/// Small file-system helpers: atomic writes (temporary file, then rename) so that a reader or a
/// rerun never sees half a file.
#include <string>

namespace brainsweep::fs {

/// Whole content of a text file. @throw DataError if it cannot be read.
std::string read_text(const std::string& path);
/// Write `text` to `path` atomically (write `path.tmp.<pid>`, then rename). @throw Error on failure.
void write_text_atomic(const std::string& path, const std::string& text);
/// A temporary name beside `path`, unique to this process, for an atomic write followed by `commit`.
std::string temp_name(const std::string& path);
/// Rename `tmp` to `path` (atomic on POSIX within one file system).
void commit(const std::string& tmp, const std::string& path);
/// Absolute, lexically normal form of `path` (relative to the current directory).
std::string absolute(const std::string& path);

}  // namespace brainsweep::fs
