// Loading optional modules (module.hpp).
#include "brainsweep/module.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "brainsweep/errors.hpp"

namespace brainsweep {

void* module_symbol(const ModuleSpec& spec) {
  std::vector<std::string> paths;
  std::error_code ec;
  if (const char* env = std::getenv(spec.env_var.c_str()); env && *env) {
    paths.emplace_back(env);
  } else {
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      paths.push_back((exe.parent_path() / spec.file_name).string());
      // `cmake --install`: PREFIX/bin/brainsweep and PREFIX/lib/brainsweep/<module>
      paths.push_back((exe.parent_path().parent_path() / "lib" / "brainsweep" / spec.file_name).string());
    }
    paths.push_back(spec.build_path);
    paths.push_back(spec.file_name);
  }
  std::string tried;
  for (const auto& p : paths) {
    if (p.find('/') != std::string::npos && !std::filesystem::exists(p, ec)) {
      tried += "\n  " + p + ": no such file";
      continue;
    }
    void* h = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL | (spec.deep_bind ? RTLD_DEEPBIND : 0));
    if (!h) {
      tried += "\n  " + p + ": " + dlerror();
      continue;
    }
    if (void* f = dlsym(h, spec.symbol.c_str())) return f;
    tried += "\n  " + p + ": no symbol " + spec.symbol;
  }
  throw Error("cannot load " + spec.what + " (" + spec.file_name + ", or set " + spec.env_var + "):" + tried);
}

}  // namespace brainsweep
