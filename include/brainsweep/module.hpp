#pragma once
/// Optional parts of brainsweep live in modules loaded on first use (dlopen): the CUDA backend
/// (the CUDA libraries take ~180 MB of resident memory in every process that loads them), feature
/// extraction (libtorch, ~150 MB) and SentencePiece (whose bundled protobuf-lite clashes with
/// libtorch's libprotobuf). A ridge sweep's ranks load none of them.
#include <string>

namespace brainsweep {

/// Where to look for a module and what to take from it.
struct ModuleSpec {
  std::string what;        ///< for messages: "the CUDA backend"
  std::string env_var;     ///< if set and non-empty, the only path tried
  std::string file_name;   ///< libbrainsweep_x.so: tried next to the executable, then by dlopen's search
  std::string build_path;  ///< the build tree's copy (tests run from there)
  std::string symbol;      ///< the extern "C" entry point
  bool deep_bind = false;  ///< RTLD_DEEPBIND: the module prefers its own symbols to the program's
};

/// Load the module (once per path; dlopen keeps it loaded) and return the address of its symbol.
/// Tried in order: $env_var when set; else next to the executable, the build path, the bare name.
/// @throw Error  naming every path tried and dlopen's error for each, when none provides the symbol
void* module_symbol(const ModuleSpec& spec);

}  // namespace brainsweep
