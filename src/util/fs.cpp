#include "brainsweep/fs.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "brainsweep/errors.hpp"

namespace brainsweep::fs {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot read file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string temp_name(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

void commit(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(path + ": cannot rename " + tmp + " into place: " + ec.message());
}

namespace {
std::string errno_text(int err) { return std::strerror(err); }
}  // namespace

void check_output_parent(const std::string& path, const std::string& option) {
  std::filesystem::path prefix;
  const std::filesystem::path full = std::filesystem::absolute(path).lexically_normal();
  const std::filesystem::path parent = full.parent_path();
  for (const auto& part : parent) {
    prefix /= part;
    std::error_code ec;
    if (std::filesystem::exists(prefix, ec) && !std::filesystem::is_directory(prefix, ec))
      throw ConfigError(option + " " + path + ": " + prefix.string() + " is a file, not a directory");
  }
  // Missing directories are made now, before the work (a missing one was found after it, on a
  // temporary file's name).
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) throw ConfigError(option + " " + path + ": cannot create " + parent.string() + ": " + ec.message());
  }
}

void write_all_and_sync(int fd, const std::string& path, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(path + ": write failed: " + errno_text(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) throw Error(path + ": fsync failed: " + errno_text(errno));
}

void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open to sync: " + errno_text(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(path + ": fsync failed: " + errno_text(err));
}

void write_bytes_atomic(const std::string& path, const void* data, size_t size) {
  const std::string tmp = temp_name(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(tmp + ": cannot create file: " + errno_text(errno));
  auto discard = [&] {  // no temporary survives a failed write
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
  };
  try {
    write_all_and_sync(fd, tmp, data, size);
  } catch (...) {
    ::close(fd);
    discard();
    throw;
  }
  if (::close(fd) != 0) {
    const int err = errno;
    discard();
    throw Error(tmp + ": close failed: " + errno_text(err));
  }
  try {
    commit(tmp, path);
  } catch (...) {
    discard();
    throw;
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_bytes_atomic(path, text.data(), text.size());
}

FileLock::FileLock(const std::string& path, const std::string& what) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(path + ": cannot create the lock file: " + errno_text(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    char buf[512];
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    if (n > 0) holder.assign(buf, static_cast<size_t>(n));
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw DataError(path + ": locked by another brainsweep (" + (holder.empty() ? "holder unknown" : holder) +
                      "); wait for it to end, or stop it: the lock is released when that process ends");
    throw Error(path + ": cannot lock: " + errno_text(err));
  }
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  const std::string text = what + ", pid " + std::to_string(::getpid()) + " on " + host + " since " + when + "\n";
  if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, text.data(), text.size(), 0) < 0) {
    // who holds it is informative only; the lock itself is held
  }
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  if (::ftruncate(fd_, 0) != 0) {
    // the holder's line stays; informative only
  }
  ::close(fd_);  // releases the flock
}

std::string absolute(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

}  // namespace brainsweep::fs
