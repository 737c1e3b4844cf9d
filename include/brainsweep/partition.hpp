#pragma once
/// Variance partitions of 2–4 feature spaces by Möbius inversion over the subset lattice (issue #26
/// §1; PEER_ANALYSES.md card A): what the encoding-level partition (partition.csv) and the RDM-level
/// `vpa` share.
#include <algorithm>
#include <bit>
#include <vector>

namespace brainsweep {

/// The part shared by exactly the spaces of `t` (a bit mask; bit k = space k of `all`'s):
/// v(T) = Σ_{∅≠S⊆T} (−1)^{|T|−|S|} (R(all) − R(all \ S)), with R(∅) = 0. For two spaces: unique A =
/// R(A+B) − R(B), shared = R(A) + R(B) − R(A+B); the parts of every T add up to R(all).
/// @param r  callable unsigned mask → double, defined on every non-empty subset of `all`
template <class R>
double shared_exactly(unsigned t, unsigned all, R&& r) {
  auto at = [&](unsigned m) { return m == 0 ? 0.0 : static_cast<double>(r(m)); };
  double v = 0;
  for (unsigned s = t; s; s = (s - 1) & t)
    v += ((std::popcount(t) - std::popcount(s)) % 2 ? -1.0 : 1.0) * (at(all) - at(all & ~s));
  return v;
}

/// The non-empty subsets of K spaces as masks, smallest first, then in mask order (the order of
/// partition.csv's and vpa's rows).
inline std::vector<unsigned> subsets_by_size(unsigned k) {
  std::vector<unsigned> m;
  for (unsigned x = 1; x < (1u << k); ++x) m.push_back(x);
  std::stable_sort(m.begin(), m.end(), [](unsigned a, unsigned b) { return std::popcount(a) < std::popcount(b); });
  return m;
}

}  // namespace brainsweep
