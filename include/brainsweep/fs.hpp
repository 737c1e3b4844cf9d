#pragma once
/// Small file-system helpers: atomic writes (temporary file, then rename) so that a reader or a
/// rerun never sees half a file.
#include <string>

namespace brainsweep::fs {

/// Whole content of a text file. @throw DataError if it cannot be read.
std::string read_text(const std::string& path);
/// Write `size` bytes to `path` atomically: `path.tmp.<pid>` written, fsync'ed and closed with every
/// result checked, then renamed. @throw Error naming the file and the errno; the temporary is removed
/// and an existing `path` is left as it was.
void write_bytes_atomic(const std::string& path, const void* data, size_t size);
/// write_bytes_atomic of a text.
void write_text_atomic(const std::string& path, const std::string& text);
/// A temporary name beside `path`, unique to this process, for an atomic write followed by `commit`.
std::string temp_name(const std::string& path);
/// Rename `tmp` to `path` (atomic on POSIX within one file system).
void commit(const std::string& tmp, const std::string& path);
/// Absolute, lexically normal form of `path` (relative to the current directory).
std::string absolute(const std::string& path);

/// Before the work: refuse an output path whose parent directories cannot be made because a component
/// is a file (`--out results.csv/run`), and make the missing ones (`--out new/dir/x.csv`).
/// @throw ConfigError naming `option`, the path and the file in the way, or the directory that
///        cannot be made (errno's text)
void check_output_parent(const std::string& path, const std::string& option);

/// Write `size` bytes to the open descriptor `fd` of `path`, then fsync it. @throw Error naming `path`
/// and the errno (e.g. "No space left on device") when a write or the fsync fails.
void write_all_and_sync(int fd, const std::string& path, const void* data, size_t size);

/// fsync the file at `path` (after a library such as HDF5 wrote and closed it), so that a full disk
/// or an I/O error surfaces before the file is renamed into place. @throw Error naming path and errno
void sync_file(const std::string& path);

/// An exclusive advisory lock (flock) on the file `path`, created if needed, held while the object
/// lives. The kernel releases it when the process ends, however it ends, so a killed holder never
/// blocks the next one. Taking it writes who holds it (pid, host, start time, `what`) into the file;
/// releasing it empties the file again.
/// Not collective: take it on one rank. On NFS, Linux maps flock to POSIX byte-range locks.
class FileLock {
 public:
  /// @throw DataError  (exit 2) if another process holds the lock, naming the file and its holder
  /// @throw Error  if the lock file cannot be created
  FileLock(const std::string& path, const std::string& what);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace brainsweep::fs
