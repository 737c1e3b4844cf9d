#pragma once
/// Exception hierarchy of brainsweep (STYLE.md, after Ginkgo and faiss).
/// Every message says where (file, dataset, YAML key and line), what was expected and what was found.
/// Exit codes (ARCHITECTURE.md): input and usage errors 2, runtime failures 1.
#include <stdexcept>
#include <string>

namespace brainsweep {

/// Base of all brainsweep errors; `exit_code()` is what the CLI returns.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  virtual int exit_code() const { return 1; }
};

/// A sweep or descriptor file is wrong: names the file, the key path and the line.
class ConfigError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 2; }
};

/// Input data are missing or wrong: names the file and the dataset.
class DataError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 2; }
};

/// Two operands disagree in shape; the message gives both shapes.
class DimensionMismatch : public Error {
 public:
  using Error::Error;
};

/// A numerical routine failed (LAPACK info != 0, non-finite result).
class NumericalError : public Error {
 public:
  using Error::Error;
};

/// A feature was asked for that this build does not have (e.g. `backend: cuda` without CUDA).
class NotCompiled : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 2; }
};

/// A compiled backend cannot run here (e.g. no CUDA device visible to this rank).
class DeviceUnavailable : public Error {
 public:
  using Error::Error;
};

}  // namespace brainsweep

/// Throw `Type` with a message when `cond` is false. Never aborts: one rank that aborts silently
/// would hang the others.
#define BRAINSWEEP_ENSURE(cond, Type, msg) \
  do {                                     \
    if (!(cond)) throw Type(msg);          \
  } while (0)
