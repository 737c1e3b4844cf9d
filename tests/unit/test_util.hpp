#pragma once
// Helpers shared by the unit tests.
#include <random>
#include <string>

#include "brainsweep/errors.hpp"
#include "brainsweep/matrix.hpp"

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

/// An r × c matrix of standard normal draws in M's scalar type, from a fixed seed.
template <class M>
M randn(long r, long c, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<typename M::Scalar> n;
  M m(r, c);
  for (long i = 0; i < m.size(); ++i) m.data()[i] = n(rng);
  return m;
}

}  // namespace brainsweep::test
