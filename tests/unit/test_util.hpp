#pragma once
// Helpers shared by the unit tests.
#include <string>

#include "brainsweep/errors.hpp"

namespace brainsweep::test {

/// The message of the brainsweep::Error that `f()` throws, or "" if it throws none.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace brainsweep::test
