#include "brainsweep/fs.hpp"

#include <unistd.h>

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

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = temp_name(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(tmp + ": cannot create file");
    out << text;
    out.flush();
    if (!out) throw Error(tmp + ": write failed");
  }
  commit(tmp, path);
}

std::string absolute(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

}  // namespace brainsweep::fs
