#pragma once
/// Counter-based random numbers for resampling (bootstrap, permutations; METRICS.md §2-3): draw k of
/// stream `seed` is a pure function of (seed, k), so any rank or thread can compute any draw and the
/// results do not depend on how the work is split. SplitMix64's output function (Steele, Lea & Flood
/// 2014, "Fast splittable pseudorandom number generators"; the seeding generator of xoshiro) applied
/// to seed + (k + 1) · 0x9E3779B97F4A7C15, modulo 2^64. Reproducible in numpy with uint64 arithmetic
/// (tests/reference/metrics_reference.py).
#include <cstdint>

namespace brainsweep {

/// The 64-bit draw number `k` of stream `seed`.
inline std::uint64_t splitmix64_at(std::uint64_t seed, std::uint64_t k) {
  std::uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// A uniform index in [0, n) from a 64-bit draw: ⌊z · n / 2^64⌋ (Lemire 2019, without the rejection
/// step: the bias is below n / 2^64). n ≥ 1.
inline std::uint64_t index_from_draw(std::uint64_t z, std::uint64_t n) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(z) * n) >> 64);
}

}  // namespace brainsweep
