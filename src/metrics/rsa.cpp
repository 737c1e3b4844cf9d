// Representational similarity analysis (rsa.hpp, METRICS.md §2).
#include "brainsweep/rsa.hpp"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/random.hpp"
#include "metrics_util.hpp"

namespace brainsweep {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double weight(const std::vector<double>* w, size_t k) { return w ? (*w)[k] : 1.0; }

double pearson(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>* w) {
  double sw = 0, sx = 0, sy = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    const double wk = weight(w, k);
    sw += wk;
    sx += wk * x[k];
    sy += wk * y[k];
  }
  if (sw <= 0) return kNaN;
  const double mx = sx / sw, my = sy / sw;
  double sxx = 0, syy = 0, sxy = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    const double wk = weight(w, k), dx = x[k] - mx, dy = y[k] - my;
    sxx += wk * dx * dx;
    syy += wk * dy * dy;
    sxy += wk * dx * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : kNaN;  // a constant vector: undefined
}

double cosine(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>* w) {
  double sxx = 0, syy = 0, sxy = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    const double wk = weight(w, k);
    sxx += wk * x[k] * x[k];
    syy += wk * y[k] * y[k];
    sxy += wk * x[k] * y[k];
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : kNaN;  // a constant vector: undefined
}

/// A vector prepared once for many weighted comparisons: its stable sort order and dense ranks
/// (0-based ids of its distinct values, ascending).
struct Sorted {
  std::vector<std::uint32_t> order;
  std::vector<std::uint32_t> dense;  ///< per entry
  std::uint32_t distinct = 0;
};

Sorted prepare(const std::vector<double>& x) {
  Sorted p;
  p.order.resize(x.size());
  std::iota(p.order.begin(), p.order.end(), 0u);
  std::stable_sort(p.order.begin(), p.order.end(), [&](std::uint32_t a, std::uint32_t b) { return x[a] < x[b]; });
  p.dense.resize(x.size());
  for (size_t k = 0; k < x.size(); ++k) {
    if (k > 0 && x[p.order[k]] != x[p.order[k - 1]]) ++p.distinct;
    p.dense[p.order[k]] = p.distinct;
  }
  if (!x.empty()) ++p.distinct;
  return p;
}

/// ranks(x, w) given x's prepared order: O(N).
void ranks_sorted(const Sorted& p, const std::vector<double>* w, std::vector<double>& r) {
  r.resize(p.order.size());
  double before = 0;
  for (size_t g = 0; g < p.order.size();) {
    size_t e = g;
    double wg = 0;
    while (e < p.order.size() && p.dense[p.order[e]] == p.dense[p.order[g]]) wg += weight(w, p.order[e++]);
    const double rank = before + (wg + 1.0) / 2.0;
    for (size_t k = g; k < e; ++k) r[p.order[k]] = rank;
    before += wg;
    g = e;
  }
}

/// Ranks of the entries (1-based, ties averaged) of the vector with entry k repeated w[k] times.
std::vector<double> ranks(const std::vector<double>& x, const std::vector<double>* w) {
  std::vector<double> r;
  ranks_sorted(prepare(x), w, r);
  return r;
}

/// Twice the pairs tied within runs (Knight's tie counts): Σ over the maximal runs g … k − 1 of
/// positions 0 … n − 1 with same(g, k) of (Σw)² − Σw², w = weight(k) an integer weight.
template <class Same, class Weight>
unsigned long long tied_pairs(size_t n, Same same, Weight weight) {
  unsigned long long tot = 0;
  for (size_t g = 0; g < n;) {
    size_t k = g;
    unsigned long long a = 0, a2 = 0;
    for (; k < n && same(g, k); ++k) {
      const unsigned long long wk = weight(k);
      a += wk;
      a2 += wk * wk;
    }
    tot += a * a - a2;
    g = k;
  }
  return tot;
}

/// The runs [g, e) of positions in s.order whose entries hold one value, of two entries or more.
std::vector<std::pair<size_t, size_t>> tie_runs(const Sorted& s) {
  std::vector<std::pair<size_t, size_t>> runs;
  for (size_t g = 0; g < s.order.size();) {
    size_t e = g;
    while (e < s.order.size() && s.dense[s.order[e]] == s.dense[s.order[g]]) ++e;
    if (e - g > 1) runs.emplace_back(g, e);
    g = e;
  }
  return runs;
}

/// The conditions i < j of each entry of an RDM's upper triangle (n conditions, row by row).
void pair_conditions(long n, std::vector<std::uint32_t>& row, std::vector<std::uint32_t>& col) {
  row.clear();
  col.clear();
  for (long i = 0; i < n; ++i)
    for (long j = i + 1; j < n; ++j) {
      row.push_back(static_cast<std::uint32_t>(i));
      col.push_back(static_cast<std::uint32_t>(j));
    }
}

/// Bits that ids 0 … distinct − 1 need.
int id_bits(std::uint32_t distinct) {
  int b = 0;
  while ((1ULL << b) < distinct) ++b;
  return b;
}

/// Weighted inversion count Σ over i < j with x_i > x_j of w_i·w_j, for ids x < 2^bits and integer
/// weights (Σw < 2^32), in exact integer arithmetic; reorders x and w. Most-significant-digit radix:
/// one pass counts the inversions between different top digits (up to 10 bits) with running sums of
/// the weight already seen above each digit, held as 32 × 32 suffix sums so that an update is two
/// fixed-length masked adds (vectorised, no data-dependent branch); a stable counting sort then
/// groups the entries by that digit and each group goes on with the next digit (the last digit is
/// counted, not sorted); groups of ≤ 32 entries by insertion sort. For 1000 conditions (499 500
/// ids, 19 bits) that is three streaming passes where a merge sort makes fifteen over 4 MB.
class InversionCounter {
 public:
  template <bool Weighted>
  unsigned long long count(std::uint32_t* x, std::uint32_t* w, size_t n, int bits) {
    if (n < 2 || bits <= 0) return 0;
    if (n <= 32) return insertion<Weighted>(x, w, n);
    if (bits <= kDigit) return digit_pass<Weighted, false>(x, w, n, 0, bits);
    const int shift = bits - kDigit;
    unsigned long long inv = digit_pass<Weighted, true>(x, w, n, shift, kDigit);
    constexpr std::uint32_t nb = 1u << kDigit;
    std::vector<std::uint32_t> start(nb + 1, 0);
    for (std::uint32_t b = 0; b < nb; ++b) start[b + 1] = start[b] + hist_[b];
    if (xb_.size() < n) xb_.resize(n);
    if (Weighted && wb_.size() < n) wb_.resize(n);
    std::copy(start.begin(), start.end() - 1, hist_.begin());  // the next free slot of each digit
    for (size_t q = 0; q < n; ++q) {
      const std::uint32_t p = hist_[(x[q] >> shift) & (nb - 1)]++;
      xb_[p] = x[q];
      if constexpr (Weighted) wb_[p] = w[q];
    }
    std::copy(xb_.begin(), xb_.begin() + static_cast<long>(n), x);
    if constexpr (Weighted) std::copy(wb_.begin(), wb_.begin() + static_cast<long>(n), w);
    for (std::uint32_t b = 0; b < nb; ++b)
      inv += count<Weighted>(x + start[b], Weighted ? w + start[b] : nullptr, start[b + 1] - start[b], shift);
    return inv;
  }

 private:
  static constexpr int kDigit = 10;

  template <bool Weighted>
  static unsigned long long insertion(std::uint32_t* x, std::uint32_t* w, size_t n) {
    unsigned long long inv = 0;
    for (size_t i = 1; i < n; ++i) {
      const std::uint32_t v = x[i], wv = Weighted ? w[i] : 1;
      size_t j = i;
      unsigned long long passed = 0;
      while (j > 0 && x[j - 1] > v) {
        passed += Weighted ? w[j - 1] : 1;
        x[j] = x[j - 1];
        if constexpr (Weighted) w[j] = w[j - 1];
        --j;
      }
      x[j] = v;
      if constexpr (Weighted) w[j] = wv;
      inv += passed * wv;
    }
    return inv;
  }

  /// Inversions between different digits (x >> shift) mod 2^k, k ≤ 10; with `Histogram`, the
  /// number of entries of each digit in hist_.
  template <bool Weighted, bool Histogram>
  unsigned long long digit_pass(const std::uint32_t* x, const std::uint32_t* w, size_t n, int shift, int k) {
    const int lo_bits = std::min(k, 5);
    const std::uint32_t rows = 1u << (k - lo_bits), mask = (1u << k) - 1;
    std::fill(above_hi_.begin(), above_hi_.end(), 0u);
    std::fill(above_lo_.begin(), above_lo_.begin() + rows * 32, 0u);
    if constexpr (Histogram) std::fill(hist_.begin(), hist_.end(), 0u);
    unsigned long long inv = 0;
    for (size_t q = 0; q < n; ++q) {
      const std::uint32_t d = (x[q] >> shift) & mask, hi = d >> 5, lo = d & 31, wq = Weighted ? w[q] : 1;
      std::uint32_t* row = above_lo_.data() + hi * 32;
      inv += static_cast<unsigned long long>(wq) * (above_hi_[hi] + row[lo]);
      for (std::uint32_t t = 0; t < 32; ++t) above_hi_[t] += t < hi ? wq : 0;  // seen above rows 0 … hi − 1
      for (std::uint32_t t = 0; t < 32; ++t) row[t] += t < lo ? wq : 0;        // above digits of row hi
      if constexpr (Histogram) ++hist_[d];
    }
    return inv;
  }

  std::array<std::uint32_t, 32> above_hi_{};
  std::array<std::uint32_t, 32 * 32> above_lo_{};
  std::array<std::uint32_t, 1u << kDigit> hist_{};
  std::vector<std::uint32_t> xb_, wb_;
};

/// τa's entries: x id, y id and integer weight (a draw-count product) of each, in (x id, y id)
/// order, no weight 0; the work arrays are reused.
struct TauWork {
  std::vector<std::uint32_t> xs, ys, ws;
  size_t n = 0;
  InversionCounter inversions;
  void reset(size_t capacity) {
    if (xs.size() < capacity) {
      xs.resize(capacity);
      ys.resize(capacity);
      ws.resize(capacity);
    }
    n = 0;
  }
  /// Adds the entry; one of weight 0 is written and then overwritten (no branch).
  void add(std::uint32_t x, std::uint32_t y, std::uint32_t w) {
    xs[n] = x;
    ys[n] = y;
    ws[n] = w;
    n += w != 0;
  }
};

/// τa of TauWork's entries (Knight's counts, exact): `n2` is Σ over groups of equal y id of
/// (Σw)² − Σw² (the y-tied pairs of copies, doubled), y ids < 2^y_bits. Discordant pairs are the
/// weighted inversions of the y ids in (x, y) order (InversionCounter; y-sorted within tied x).
double tau_a_counts(TauWork& t, unsigned long long n2, int y_bits) {
  using u64 = unsigned long long;
  const size_t n = t.n;
  u64 W = 0, W2 = 0;
  for (size_t k = 0; k < n; ++k) {
    W += t.ws[k];
    W2 += static_cast<u64>(t.ws[k]) * t.ws[k];
  }
  if (W < 2) return kNaN;
  if (W >> 32)
    throw DataError(fmt::format("tau-a: a total weight of {} (2^32 or more) overflows the exact pair counts", W));
  auto w = [&](size_t k) { return t.ws[k]; };
  const u64 n0 = W * W - W2;  // all twice the pair counts
  const u64 n1 = tied_pairs(n, [&](size_t g, size_t k) { return t.xs[k] == t.xs[g]; }, w);
  if (n1 == n0 || n2 == n0) return kNaN;  // every pair tied in one vector: undefined
  const u64 n3 = tied_pairs(n, [&](size_t g, size_t k) { return t.xs[k] == t.xs[g] && t.ys[k] == t.ys[g]; }, w);
  const u64 swaps = t.inversions.count<true>(t.ys.data(), t.ws.data(), n, y_bits);
  // C − D = n0 − n1 − n2 + n3 − 2·swaps (the first four are stored doubled)
  const double cd = (static_cast<double>(n0) - static_cast<double>(n1) - static_cast<double>(n2) +
                     static_cast<double>(n3)) / 2.0 - 2.0 * static_cast<double>(swaps);
  return cd / (static_cast<double>(W) * static_cast<double>(W - 1) / 2.0);
}

/// τa of the entries in `order` (by (x id, y id)) with their x ids and y's prepared order and ids,
/// entries of weight 0 left out (weights are integers: draw-count products).
double tau_in_order(const std::vector<std::uint32_t>& order, const std::vector<std::uint32_t>& xid, const Sorted& y,
                    const std::vector<double>* w, TauWork& t) {
  t.reset(order.size());
  for (std::uint32_t e : order) t.add(xid[e], y.dense[e], static_cast<std::uint32_t>(weight(w, e)));
  const unsigned long long n2 = tied_pairs(  // y's ties, in y's order
      y.order.size(), [&](size_t g, size_t k) { return y.dense[y.order[k]] == y.dense[y.order[g]]; },
      [&](size_t k) { return static_cast<unsigned long long>(weight(w, y.order[k])); });
  return tau_a_counts(t, n2, id_bits(y.distinct));
}

/// τa of permuted models against one subject (the permutation test): the entries in the subject's
/// order, fixed, so that a permutation only gathers the permuted model ids in that order and counts
/// their inversions (discordant pairs, InversionCounter); the ties of the model (the same multiset
/// of values under any permutation) and of the subject are counted once. Exact integer counts,
/// equal to tau_in_order's.
class TauPermutations {
 public:
  TauPermutations(const Sorted& model, const Sorted& subject, long n_conditions)
      : n_(n_conditions), x_bits_(id_bits(model.distinct)) {
    using u64 = unsigned long long;
    const size_t m = subject.order.size();
    std::vector<std::uint32_t> row, col;
    pair_conditions(n_, row, col);
    pi_.resize(m);
    pj_.resize(m);
    for (size_t k = 0; k < m; ++k) {
      pi_[k] = row[subject.order[k]];
      pj_[k] = col[subject.order[k]];
    }
    groups_ = tie_runs(subject);
    for (const auto& [g, e] : groups_) n2_ += static_cast<u64>(e - g) * (e - g) - (e - g);
    for (const auto& [g, e] : tie_runs(model)) n1_ += static_cast<u64>(e - g) * (e - g) - (e - g);
    n0_ = static_cast<u64>(m) * m - m;
    xs_.resize(m);
  }
  /// τa of the model permuted by `perm` (condition i of the permuted model is condition perm[i]);
  /// `full_id`: the model's dense ids as a full n × n matrix.
  double tau(const std::vector<long>& perm, const std::vector<std::uint32_t>& full_id) {
    using u64 = unsigned long long;
    const size_t m = xs_.size();
    for (size_t k = 0; k < m; ++k)
      xs_[k] = full_id[static_cast<size_t>(perm[pi_[k]]) * static_cast<size_t>(n_) + static_cast<size_t>(perm[pj_[k]])];
    u64 n3 = 0;
    for (const auto& [g, e] : groups_) {  // subject ties: ordered by the model's id, counting both-tied pairs
      std::sort(xs_.begin() + static_cast<long>(g), xs_.begin() + static_cast<long>(e));
      const std::uint32_t* run = xs_.data() + g;
      n3 += tied_pairs(e - g, [&](size_t a, size_t b) { return run[b] == run[a]; }, [](size_t) { return 1ULL; });
    }
    const u64 swaps = inversions_.count<false>(xs_.data(), nullptr, m, x_bits_);
    const double cd = (static_cast<double>(n0_) - static_cast<double>(n1_) - static_cast<double>(n2_) +
                       static_cast<double>(n3)) / 2.0 - 2.0 * static_cast<double>(swaps);
    const double pairs = static_cast<double>(m);
    // every pair tied in the model or in the subject: no pair orders, τa is undefined
    if (m < 2 || n1_ == n0_ || n2_ == n0_) return kNaN;
    return cd / (pairs * (pairs - 1) / 2.0);
  }

 private:
  long n_;
  int x_bits_;
  std::vector<std::uint32_t> pi_, pj_, xs_;
  std::vector<std::pair<size_t, size_t>> groups_;
  InversionCounter inversions_;
  unsigned long long n0_ = 0, n1_ = 0, n2_ = 0;
};

/// Order of the entries by (x id, y id): counting sort by y (via y's prepared order) then a stable
/// counting sort by x id. O(N + distinct values).
void order_by_xy(const std::vector<std::uint32_t>& xid, std::uint32_t x_distinct, const Sorted& y,
                 std::vector<std::uint32_t>& out, std::vector<std::uint32_t>& count) {
  count.assign(x_distinct + 1, 0);
  for (std::uint32_t v : xid) ++count[v + 1];
  for (size_t k = 1; k < count.size(); ++k) count[k] += count[k - 1];
  out.resize(xid.size());
  for (std::uint32_t e : y.order) out[count[xid[e]]++] = e;  // y order within each x id: stable
}


// ---- Linear CKA from RDMs (issue #26 §3) ----
// A squared-distance RDM D of patterns X (euclidean: |x_i − x_j|² / channels; correlation: the same of
// patterns z-scored per condition, over 2·channels) gives X Xᵀ up to terms a_i + a_j and a factor:
// −½ D = X Xᵀ/channels − ½(|x_i|² + |x_j|²)/channels. Both centrings below remove such terms exactly,
// so the centred Gram, and CKA, come from the RDM alone.

/// Per row of `r` (subjects, then the mean): the resamples whose statistic is defined, their count,
/// SD and 95 % interval (RsaResult's bootstrap fields); samples[q] is consumed.
void summarise_bootstrap(std::vector<std::vector<double>>& samples, RsaResult& r) {
  for (size_t q = 0; q < samples.size(); ++q) {
    std::erase_if(samples[q], [](double v) { return std::isnan(v); });
    r.bootstrap_n[q] = static_cast<long>(samples[q].size());
    if (samples[q].size() > 1) {
      const metrics::Spread sp = metrics::bootstrap_spread(std::move(samples[q]));
      r.bootstrap_sd[q] = sp.sd;
      r.ci_low[q] = sp.ci_low;
      r.ci_high[q] = sp.ci_high;
    }
  }
}

long conditions_of_entries(size_t m) {
  const auto n = static_cast<long>(std::llround((1.0 + std::sqrt(1.0 + 8.0 * static_cast<double>(m))) / 2.0));
  if (static_cast<size_t>(n * (n - 1) / 2) != m)
    throw DimensionMismatch(fmt::format("an RDM vector of {} entries (expected n(n − 1)/2 for n conditions)", m));
  return n;
}

/// −½ D as a full n × n matrix (zero diagonal) from an upper triangle.
MatrixD half_negative_distance(const std::vector<double>& v, long n) {
  MatrixD full = MatrixD::Zero(n, n);
  size_t q = 0;
  for (long i = 0; i < n; ++i)
    for (long j = i + 1; j < n; ++j, ++q) full(i, j) = full(j, i) = -0.5 * v[q];
  return full;
}

/// Centre a Gram-like matrix in place: H G H (H = I − 11ᵀ/n; Kornblith et al. 2019), or, debiased,
/// U-centring (Székely & Rizzo 2014; the unbiased HSIC of Song et al. 2012, as Kornblith's
/// center_gram(unbiased=True)): diagonal zeroed, m_i = Σ_l G_il / (n − 2) − Σ G / (2(n − 1)(n − 2)),
/// G_ij − m_i − m_j off the diagonal, diagonal zero.
void centre_gram(MatrixD& g, bool debiased) {
  const long n = g.rows();
  // g is symmetric: its row sums are its column sums
  if (!debiased) {
    const Eigen::VectorXd rm = g.rowwise().mean();
    const double gm = rm.mean();
    for (long i = 0; i < n; ++i) {
      double* row = g.data() + static_cast<size_t>(i) * n;
      const double a = gm - rm[i];
      for (long j = 0; j < n; ++j) row[j] += a - rm[j];
    }
    return;
  }
  g.diagonal().setZero();
  Eigen::VectorXd m = g.rowwise().sum() / static_cast<double>(n - 2);
  m.array() -= m.sum() / (2.0 * static_cast<double>(n - 1));
  for (long i = 0; i < n; ++i) {
    double* row = g.data() + static_cast<size_t>(i) * n;
    for (long j = 0; j < n; ++j) row[j] -= m[i] + m[j];
    row[i] = 0.0;
  }
}

/// ⟨A, B⟩_F / (‖A‖_F ‖B‖_F), NaN where either is zero (a representation without variance).
double frobenius_cosine(const MatrixD& a, const MatrixD& b) {
  double ab = 0, aa = 0, bb = 0;
  const double* pa = a.data();
  const double* pb = b.data();
  for (long k = 0; k < a.size(); ++k) {
    ab += pa[k] * pb[k];
    aa += pa[k] * pa[k];
    bb += pb[k] * pb[k];
  }
  if (!(aa > 0) || !(bb > 0)) return kNaN;
  return ab / std::sqrt(aa * bb);
}

MatrixD centred_gram_of(const std::vector<double>& v, long n, bool debiased) {
  MatrixD g = half_negative_distance(v, n);
  centre_gram(g, debiased);
  return g;
}

bool is_cka(Comparison c) { return c == Comparison::cka || c == Comparison::cka_debiased; }

double cka_of_vectors(const std::vector<double>& x, const std::vector<double>& y, bool debiased) {
  const long n = conditions_of_entries(x.size());
  if (debiased && n < 4) return kNaN;  // U-centring divides by n − 3 terms
  return frobenius_cosine(centred_gram_of(x, n, debiased), centred_gram_of(y, n, debiased));
}

}  // namespace

Rdm rdm_from_matrix(const MatrixD& m, const std::string& where) {
  if (m.rows() != m.cols())
    throw DataError(fmt::format("{}: an RDM must be square (conditions × conditions), found {}×{}", where, m.rows(), m.cols()));
  if (m.rows() < 3) throw DataError(fmt::format("{}: {} conditions (expected at least 3)", where, m.rows()));
  double scale = 0;
  for (long i = 0; i < m.rows(); ++i)
    for (long j = 0; j < m.cols(); ++j) {
      if (!std::isfinite(m(i, j)))
        throw DataError(fmt::format("{}: non-finite value ({}) at row {}, column {}", where, m(i, j), i, j));
      scale = std::max(scale, std::abs(m(i, j)));
    }
  const double tol = scale > 0 ? 1e-6 * scale : 1e-12;
  Rdm r;
  r.n = m.rows();
  r.v.reserve(static_cast<size_t>(r.n * (r.n - 1) / 2));
  for (long i = 0; i < r.n; ++i) {
    if (std::abs(m(i, i)) > tol)
      throw DataError(fmt::format("{}: non-zero diagonal ({} at row {}; an RDM's diagonal is 0)", where, m(i, i), i));
    for (long j = i + 1; j < r.n; ++j) {
      if (std::abs(m(i, j) - m(j, i)) > tol)
        throw DataError(fmt::format("{}: not symmetric (entry ({}, {}) is {}, entry ({}, {}) is {})", where, i, j, m(i, j),
                                    j, i, m(j, i)));
      r.v.push_back(m(i, j));
    }
  }
  return r;
}

namespace {

/// Round to 1e-10 of the largest entry: dissimilarities equal in exact arithmetic (identical or
/// collinear patterns, binary features) then tie whatever the order of the float sums, which
/// spearman and tau-a would otherwise rank by round-off.
void round_to_ties(Rdm& r) {
  double scale = 0;
  for (double v : r.v) scale = std::max(scale, std::abs(v));
  if (scale > 0) {
    const double q = scale * 1e-10;
    for (double& v : r.v) v = std::round(v / q) * q;
  }
}

}  // namespace

Rdm rdm_from_patterns(const MatrixD& p, const std::string& distance) {
  if (distance == "crossnobis")
    throw ConfigError("distance crossnobis: needs the patterns of each run (rdm_crossnobis), not their mean");
  if (distance != "correlation" && distance != "euclidean" && distance != "standardized-euclidean")
    throw ConfigError("distance: expected correlation, euclidean, standardized-euclidean or crossnobis, found '" +
                      distance + "'");
  if (p.rows() < 3) throw DataError(fmt::format("{} conditions (expected at least 3)", p.rows()));
  Rdm r;
  r.n = p.rows();
  MatrixD z = p;
  if (distance == "standardized-euclidean") {
    // every channel z-scored over the conditions (population SD, scikit-learn's StandardScaler as
    // Net2Brain's CKA applies it); a constant channel (SD ≤ 1e-7 of its largest |value|) becomes 0
    for (long c = 0; c < z.cols(); ++c) {
      const double top = z.col(c).cwiseAbs().maxCoeff();
      z.col(c).array() -= z.col(c).mean();
      const double sd = std::sqrt(z.col(c).squaredNorm() / static_cast<double>(z.rows()));
      if (sd > 1e-7 * top) z.col(c) /= sd;
      else z.col(c).setZero();
    }
  }
  if (distance == "correlation") {
    long constant = 0, first = -1;
    for (long i = 0; i < r.n; ++i) {
      const double top = p.row(i).cwiseAbs().maxCoeff();
      z.row(i).array() -= z.row(i).mean();
      const double norm = z.row(i).norm();
      // SD ≤ 1e-7 of the largest |value| (kConstantColumn's rule for a pattern), or all zero
      if (!(norm > 1e-7 * top * std::sqrt(static_cast<double>(p.cols())))) {
        if (constant++ == 0) first = i;
      } else {
        z.row(i) /= norm;
      }
    }
    if (p.cols() < 3)
      r.undefined = fmt::format("correlation distance over {} channel{} (needs at least 3; over 2 every correlation "
                                "is ±1)", p.cols(), p.cols() == 1 ? "" : "s");
    else if (constant > 0)
      r.undefined = fmt::format("correlation distance of a constant pattern: {} of {} conditions (the first: condition "
                                "{})", constant, r.n, first);
  }
  for (long i = 0; i < r.n; ++i)
    for (long j = i + 1; j < r.n; ++j)
      r.v.push_back(distance == "correlation" ? 1.0 - z.row(i).dot(z.row(j))
                                              : (z.row(i) - z.row(j)).squaredNorm() / static_cast<double>(p.cols()));
  round_to_ties(r);
  return r;
}

Rdm rdm_crossnobis(const std::vector<MatrixD>& runs) {
  if (runs.size() < 2)
    throw DataError(fmt::format("distance crossnobis: {} run (expected at least 2 runs of the conditions)", runs.size()));
  const long n = runs.front().rows(), channels = runs.front().cols();
  for (const auto& run : runs)
    if (run.rows() != n || run.cols() != channels)
      throw DimensionMismatch(fmt::format("distance crossnobis: runs of {}×{} and {}×{} patterns (expected the same "
                                          "conditions × channels in every run)", n, channels, run.rows(), run.cols()));
  if (n < 3) throw DataError(fmt::format("{} conditions (expected at least 3)", n));
  MatrixD total = MatrixD::Zero(n, channels);
  for (const auto& run : runs) total += run;
  const double k = static_cast<double>(runs.size());
  MatrixD sum = MatrixD::Zero(n, n);
  for (const auto& test : runs) {
    const MatrixD train = (total - test) / (k - 1);  // mean of the other runs
    const MatrixD kernel = train * test.transpose();
    for (long i = 0; i < n; ++i)
      for (long j = i + 1; j < n; ++j) sum(i, j) += kernel(i, i) + kernel(j, j) - kernel(i, j) - kernel(j, i);
  }
  Rdm r;
  r.n = n;
  for (long i = 0; i < n; ++i)
    for (long j = i + 1; j < n; ++j) r.v.push_back(sum(i, j) / k / static_cast<double>(channels));
  round_to_ties(r);
  return r;
}

Comparison parse_comparison(const std::string& name, const std::string& option) {
  if (name == "corr") return Comparison::corr;
  if (name == "spearman") return Comparison::spearman;
  if (name == "tau-a") return Comparison::tau_a;
  if (name == "cosine") return Comparison::cosine;
  if (name == "cka") return Comparison::cka;
  if (name == "cka-debiased") return Comparison::cka_debiased;
  throw ConfigError(option + ": expected corr, spearman, tau-a, cosine, cka or cka-debiased, found '" + name + "'");
}

std::vector<Comparison> parse_comparisons(const std::vector<std::string>& names) {
  std::vector<Comparison> comps;
  for (const auto& name : names) comps.push_back(parse_comparison(name));
  if (comps.empty())  // '' wrote a header-only CSV with exit 0
    throw ConfigError("--comparison: expected at least one of corr, spearman, tau-a, cosine, cka, cka-debiased "
                      "(comma-separated), found none");
  return comps;
}

std::string to_string(Comparison c) {
  switch (c) {
    case Comparison::corr: return "corr";
    case Comparison::spearman: return "spearman";
    case Comparison::tau_a: return "tau-a";
    case Comparison::cosine: return "cosine";
    case Comparison::cka: return "cka";
    case Comparison::cka_debiased: return "cka-debiased";
  }
  return "";
}

double compare_rdms(const std::vector<double>& x, const std::vector<double>& y, Comparison c,
                    const std::vector<double>* w) {
  if (x.size() != y.size() || (w && w->size() != x.size()))
    throw DimensionMismatch(fmt::format("RDM vectors of {} and {} entries", x.size(), y.size()));
  switch (c) {
    case Comparison::cka:
    case Comparison::cka_debiased:
      if (w) throw ConfigError("compare_rdms: CKA takes no pair weights (its bootstrap resamples conditions)");
      return cka_of_vectors(x, y, c == Comparison::cka_debiased);
    case Comparison::corr: return pearson(x, y, w);
    case Comparison::cosine: return cosine(x, y, w);
    case Comparison::spearman: return pearson(ranks(x, w), ranks(y, w), w);
    case Comparison::tau_a: {
      const Sorted px = prepare(x), py = prepare(y);
      std::vector<std::uint32_t> order, count;
      order_by_xy(px.dense, px.distinct, py, order, count);
      TauWork t;
      return tau_in_order(order, px.dense, py, w, t);
    }
  }
  return 0;
}

std::vector<double> pool_rdms(const std::vector<const std::vector<double>*>& rdms, Comparison c) {
  const size_t m = rdms.front()->size();
  std::vector<double> out(m, 0.0);
  if (is_cka(c)) {
    // The centring is linear in D: the mean of the RDMs each divided by its centred Gram's norm has
    // the mean of the normalised centred Grams as its own (what CKA, a cosine of them, compares).
    const long n = conditions_of_entries(m);
    for (const auto* v : rdms) {
      const double norm = centred_gram_of(*v, n, c == Comparison::cka_debiased).norm();
      if (norm > 0)
        for (size_t k = 0; k < m; ++k) out[k] += (*v)[k] / norm;
    }
    for (double& a : out) a /= static_cast<double>(rdms.size());
    return out;
  }
  for (const auto* v : rdms) {
    if (c == Comparison::corr) {  // z-scored (ddof 0) into the sum, without a copy of the vector
      double mean = 0, ss = 0;
      for (double a : *v) mean += a;
      mean /= static_cast<double>(m);
      for (double a : *v) ss += (a - mean) * (a - mean);
      const double sd = std::sqrt(ss / static_cast<double>(m));
      if (sd > 0)
        for (size_t k = 0; k < m; ++k) out[k] += ((*v)[k] - mean) / sd;
    } else if (c == Comparison::cosine) {
      double ss = 0;
      for (double a : *v) ss += a * a;
      const double rms = std::sqrt(ss / static_cast<double>(m));
      if (rms > 0)
        for (size_t k = 0; k < m; ++k) out[k] += (*v)[k] / rms;
    } else {
      const std::vector<double> t = ranks(*v, nullptr);
      for (size_t k = 0; k < m; ++k) out[k] += t[k];
    }
  }
  // Divide once: sums of ranks (multiples of ½) are exact, so equal mean ranks stay equal (ties)
  for (double& a : out) a /= static_cast<double>(rdms.size());
  if (c == Comparison::corr) {
    const double lo = *std::min_element(out.begin(), out.end());
    for (double& a : out) a -= lo;
  }
  return out;
}

std::pair<double, double> noise_ceiling(const std::vector<std::vector<double>>& s, Comparison c) {
  if (s.size() < 2)
    throw ConfigError(fmt::format("a noise ceiling needs at least 2 subjects, found {}", s.size()));
  std::vector<const std::vector<double>*> all;
  for (const auto& v : s) all.push_back(&v);
  const auto pooled = pool_rdms(all, c);
  double upper = 0, lower = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    std::vector<const std::vector<double>*> rest;
    for (size_t j = 0; j < s.size(); ++j)
      if (j != i) rest.push_back(&s[j]);
    upper += compare_rdms(pooled, s[i], c);
    lower += compare_rdms(pool_rdms(rest, c), s[i], c);
  }
  return {lower / static_cast<double>(s.size()), upper / static_cast<double>(s.size())};
}

namespace {
/// rsa_compare for CKA: the same statistics on the centred Grams of the RDMs, the same streams of
/// resamples and permutations. A bootstrap resample takes the drawn conditions with their repeats
/// (rows and columns of −½D gathered, then centred); a permutation reorders the model's conditions,
/// which leaves its centred Gram's norm unchanged.
RsaResult cka_compare(const Rdm& model, const std::vector<Rdm>& subjects, bool debiased, const RsaOptions& o) {
  const size_t ns = subjects.size();
  const long n = model.n;
  RsaResult r;
  r.bootstrap_n.assign(ns + 1, 0);
  r.similarity.assign(ns + 1, 0.0);
  r.bootstrap_sd.assign(ns + 1, kNaN);
  r.ci_low = r.ci_high = r.p_permutation = r.bootstrap_sd;
  if (debiased && n < 4) {
    r.similarity.assign(ns + 1, kNaN);
    return r;
  }
  const MatrixD gm = centred_gram_of(model.v, n, debiased);
  std::vector<MatrixD> gs;
  for (const auto& s : subjects) gs.push_back(centred_gram_of(s.v, n, debiased));
  for (size_t s = 0; s < ns; ++s) {
    r.similarity[s] = frobenius_cosine(gm, gs[s]);
    r.similarity[ns] += r.similarity[s] / static_cast<double>(ns);
  }
  const auto nu = static_cast<std::uint64_t>(n);
  if (o.bootstrap > 0) {
    std::vector<std::vector<double>> samples(ns + 1);
    std::vector<long> idx(static_cast<size_t>(n));
    std::vector<char> seen(static_cast<size_t>(n));
    // −½D of every RDM as a full matrix, once; a resample gathers its rows and columns into a buffer
    // and centres it there
    const MatrixD fm = half_negative_distance(model.v, n);
    std::vector<MatrixD> fs;
    for (const auto& s : subjects) fs.push_back(half_negative_distance(s.v, n));
    // The resampled matrices are symmetric: kept as their upper triangles with the diagonal (row i:
    // columns i … n − 1), centred there, and compared with the off-diagonal entries counted twice.
    const size_t packed = static_cast<size_t>(n * (n + 1) / 2);
    std::vector<double> bm(packed), bs(packed), rsum(static_cast<size_t>(n));
    auto gather_centre = [&](const MatrixD& full, std::vector<double>& out) {
      std::fill(rsum.begin(), rsum.end(), 0.0);
      size_t q = 0;
      for (long i = 0; i < n; ++i) {
        const double* row = full.data() + static_cast<size_t>(idx[static_cast<size_t>(i)]) * n;
        const double d = debiased ? 0.0 : row[idx[static_cast<size_t>(i)]];
        out[q++] = d;
        rsum[static_cast<size_t>(i)] += d;
        double acc = 0;
        for (long j = i + 1; j < n; ++j, ++q) {
          const double v = row[idx[static_cast<size_t>(j)]];
          out[q] = v;
          acc += v;
          rsum[static_cast<size_t>(j)] += v;
        }
        rsum[static_cast<size_t>(i)] += acc;
      }
      double total = 0;
      for (double v : rsum) total += v;
      const double nn = static_cast<double>(n);
      // plain: g − r_i/n − r_j/n + Σr/n²; debiased (U-centring): g − m_i − m_j off the diagonal, with
      // m_i = r_i/(n − 2) − Σr/(2(n − 1)(n − 2)), diagonal 0
      std::vector<double>& m = rsum;
      for (double& v : m)
        v = debiased ? v / (nn - 2) - total / (2.0 * (nn - 1) * (nn - 2)) : v / nn - 0.5 * total / (nn * nn);
      q = 0;
      for (long i = 0; i < n; ++i) {
        const double mi = m[static_cast<size_t>(i)];
        out[q] = debiased ? 0.0 : out[q] - 2 * mi;
        ++q;
        for (long j = i + 1; j < n; ++j, ++q) out[q] -= mi + m[static_cast<size_t>(j)];
      }
    };
    auto packed_cosine = [&](const std::vector<double>& a, const std::vector<double>& b) {
      double ab = 0, aa = 0, bb = 0;
      size_t q = 0;
      for (long i = 0; i < n; ++i) {
        ab += 0.5 * a[q] * b[q], aa += 0.5 * a[q] * a[q], bb += 0.5 * b[q] * b[q];  // the diagonal once
        ++q;
        for (long j = i + 1; j < n; ++j, ++q) ab += a[q] * b[q], aa += a[q] * a[q], bb += b[q] * b[q];
      }
      return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : kNaN;
    };
    for (long b = 0; b < o.bootstrap; ++b) {
      std::fill(seen.begin(), seen.end(), 0);
      long distinct = 0;
      for (std::uint64_t i = 0; i < nu; ++i) {
        const auto k = static_cast<long>(index_from_draw(splitmix64_at(o.seed, static_cast<std::uint64_t>(b) * nu + i), nu));
        idx[i] = k;
        distinct += !seen[static_cast<size_t>(k)];
        seen[static_cast<size_t>(k)] = 1;
      }
      if (distinct < 3) continue;
      gather_centre(fm, bm);
      std::vector<double> sim(ns + 1, 0.0);
      for (size_t s = 0; s < ns; ++s) {
        gather_centre(fs[s], bs);
        sim[s] = packed_cosine(bm, bs);
        sim[ns] += sim[s] / static_cast<double>(ns);
      }
      for (size_t q = 0; q <= ns; ++q) samples[q].push_back(sim[q]);
    }
    summarise_bootstrap(samples, r);
  }
  if (o.permutations > 0) {
    const double mnorm = gm.norm();
    std::vector<double> snorm(ns);
    for (size_t s = 0; s < ns; ++s) snorm[s] = gs[s].norm();
    // the observed values as the permutations compute them (the identity permutation ties exactly)
    auto permuted_sims = [&](const std::vector<long>& perm) {
      std::vector<double> sim(ns + 1, 0.0);
      for (size_t s = 0; s < ns; ++s) {
        double acc = 0;
        for (long i = 0; i < n; ++i) {
          const double* row = gm.data() + static_cast<size_t>(perm[static_cast<size_t>(i)]) * n;
          const double* sub = gs[s].data() + static_cast<size_t>(i) * n;
          for (long j = 0; j < n; ++j) acc += row[perm[static_cast<size_t>(j)]] * sub[j];
        }
        sim[s] = mnorm > 0 && snorm[s] > 0 ? acc / (mnorm * snorm[s]) : kNaN;
        sim[ns] += sim[s] / static_cast<double>(ns);
      }
      return sim;
    };
    std::vector<long> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), 0L);
    const std::vector<double> observed = permuted_sims(perm);
    std::vector<long> ge(ns + 1, 0);
    for (long k = 0; k < o.permutations; ++k) {
      std::iota(perm.begin(), perm.end(), 0L);
      for (long i = n - 1; i >= 1; --i) {
        const auto j = static_cast<long>(
            index_from_draw(splitmix64_at(o.seed ^ 0x5DEECE66DULL, static_cast<std::uint64_t>(k) * nu + i), i + 1));
        std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
      }
      const auto sim = permuted_sims(perm);
      for (size_t q = 0; q <= ns; ++q) ge[q] += sim[q] >= observed[q];
    }
    for (size_t q = 0; q <= ns; ++q)
      r.p_permutation[q] = std::isnan(observed[q]) ? kNaN
                                                   : (1.0 + static_cast<double>(ge[q])) / (1.0 + static_cast<double>(o.permutations));
  }
  return r;
}
}  // namespace

RsaResult rsa_compare(const Rdm& model, const std::vector<Rdm>& subjects, Comparison c, const RsaOptions& o) {
  if (o.bootstrap < 0 || o.permutations < 0) throw ConfigError("--bootstrap and --permutations: expected >= 0");
  const size_t ns = subjects.size();
  for (const auto& s : subjects)
    if (s.n != model.n)
      throw DimensionMismatch(fmt::format("the model RDM has {} conditions, a subject's {}", model.n, s.n));
  RsaResult r;
  const size_t m = model.v.size();
  r.bootstrap_n.assign(ns + 1, 0);
  bool undefined = !model.undefined.empty();
  for (const auto& s : subjects) undefined = undefined || !s.undefined.empty();
  if (undefined) {  // nothing to compare: every value NaN, no resample used
    r.similarity.assign(ns + 1, kNaN);
    r.bootstrap_sd = r.ci_low = r.ci_high = r.p_permutation = r.similarity;
    return r;
  }
  if (is_cka(c)) return cka_compare(model, subjects, c == Comparison::cka_debiased, o);
  // Prepared once: sort orders and dense ranks (spearman's ranks and τa's sort become O(N)).
  const bool rank_based = c == Comparison::spearman || c == Comparison::tau_a;
  Sorted pm;
  std::vector<Sorted> ps(ns);
  std::vector<std::vector<std::uint32_t>> xy_order(ns);  // τa: entries by (model, subject)
  std::vector<std::uint32_t> count;
  if (rank_based) {
    pm = prepare(model.v);
    for (size_t s = 0; s < ns; ++s) {
      ps[s] = prepare(subjects[s].v);
      if (c == Comparison::tau_a) order_by_xy(pm.dense, pm.distinct, ps[s], xy_order[s], count);
    }
  }
  TauWork tw;
  std::vector<double> rx, ry;
  // τa's bootstrap: per subject, the entries in (model, subject) order with their ids and conditions,
  // so that a resample reads them in sequence and takes its weights c_i·c_j from the draw counts.
  struct XyEntry {
    std::uint32_t x, y, i, j;
  };
  std::vector<std::vector<XyEntry>> xy_entries(ns);
  // … and the subject's ties: the conditions (i, j) of each group of entries with an equal subject
  // value (groups of one left out; none for continuous data), for the y-tied pairs of a resample.
  struct Ties {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;
    std::vector<size_t> start{0};  // group g: pairs[start[g] … start[g + 1])
  };
  std::vector<Ties> y_ties(ns);
  std::vector<std::uint32_t> cnt32(static_cast<size_t>(model.n));
  if (c == Comparison::tau_a && o.bootstrap > 0) {
    std::vector<std::uint32_t> pi, pj;
    pair_conditions(model.n, pi, pj);
    for (size_t t = 0; t < ns; ++t) {
      xy_entries[t].reserve(m);
      for (std::uint32_t e : xy_order[t]) xy_entries[t].push_back({pm.dense[e], ps[t].dense[e], pi[e], pj[e]});
      for (const auto& [g, e] : tie_runs(ps[t])) {
        for (size_t k = g; k < e; ++k) y_ties[t].pairs.emplace_back(pi[ps[t].order[k]], pj[ps[t].order[k]]);
        y_ties[t].start.push_back(y_ties[t].pairs.size());
      }
    }
  }
  const std::vector<double>* draw_counts = nullptr;  // set during the bootstrap
  // corr / cosine under a resample: quadratic forms of the draw counts (below), on vectors centred
  // beforehand by their plain means (corr; Pearson r does not change, and the sums cancel less).
  std::vector<double> mc, sc_flat;
  if ((c == Comparison::corr || c == Comparison::cosine) && o.bootstrap > 0) {
    auto centred = [&](const std::vector<double>& v) {
      std::vector<double> out = v;
      if (c == Comparison::corr) {
        double mean = 0;
        for (double a : v) mean += a;
        mean /= static_cast<double>(v.size());
        for (double& a : out) a -= mean;
      }
      return out;
    };
    mc = centred(model.v);
    for (size_t t = 0; t < ns; ++t) {
      const auto v = centred(subjects[t].v);
      sc_flat.insert(sc_flat.end(), v.begin(), v.end());
    }
  }
  auto all_subjects = [&](const std::vector<double>* w) {
    std::vector<double> out(ns + 1, 0.0);
    if (c == Comparison::spearman) ranks_sorted(pm, w, rx);
    for (size_t s = 0; s < ns; ++s) {
      switch (c) {
        case Comparison::cka:
        case Comparison::cka_debiased: break;  // cka_compare, before
        case Comparison::corr: out[s] = pearson(model.v, subjects[s].v, w); break;
        case Comparison::cosine: out[s] = cosine(model.v, subjects[s].v, w); break;
        case Comparison::spearman:
          ranks_sorted(ps[s], w, ry);
          out[s] = pearson(rx, ry, w);
          break;
        case Comparison::tau_a:
          if (w && draw_counts) {
            for (size_t i = 0; i < cnt32.size(); ++i) cnt32[i] = static_cast<std::uint32_t>((*draw_counts)[i]);
            tw.reset(xy_entries[s].size());
            for (const XyEntry& x : xy_entries[s]) tw.add(x.x, x.y, cnt32[x.i] * cnt32[x.j]);
            unsigned long long n2 = 0;
            const Ties& ties = y_ties[s];
            for (size_t g = 0; g + 1 < ties.start.size(); ++g) {
              unsigned long long a = 0, a2 = 0;
              for (size_t e = ties.start[g]; e < ties.start[g + 1]; ++e) {
                const unsigned long long we = cnt32[ties.pairs[e].first] * cnt32[ties.pairs[e].second];
                a += we;
                a2 += we * we;
              }
              n2 += a * a - a2;
            }
            out[s] = tau_a_counts(tw, n2, id_bits(ps[s].distinct));
          } else {
            out[s] = tau_in_order(xy_order[s], pm.dense, ps[s], w, tw);
          }
          break;
      }
      out[ns] += out[s] / static_cast<double>(ns);
    }
    return out;
  };
  r.similarity = all_subjects(nullptr);
  r.bootstrap_sd.assign(ns + 1, kNaN);
  r.ci_low = r.ci_high = r.p_permutation = r.bootstrap_sd;
  const auto n = static_cast<std::uint64_t>(model.n);
  if (o.bootstrap > 0) {
    std::vector<std::vector<double>> samples(ns + 1);
    std::vector<double> w(m), cnt(model.n);
    // corr / cosine: every weighted sum of a resample is a quadratic form ½ cᵀ A c of its draw
    // counts c with a symmetric matrix A (zero diagonal) of the pairs' values, so a block of
    // resamples is one GEMM per term (counts × A), then a row-wise dot with the counts.
    // (Up to 4000 conditions: one n × n term matrix, 128 MB; beyond, the weighted vectors below.)
    const bool quadratic = (c == Comparison::corr || c == Comparison::cosine) && model.n <= 4000;
    const long nn = model.n;
    const long block = quadratic ? std::min<long>(o.bootstrap, std::max<long>(1, (64L << 20) / (8 * nn))) : 0;
    std::vector<double> counts, q_terms, full, prod;  // block × n, block × terms, n × n, block × n
    const size_t n_terms = 3 + 3 * ns;  // 1, x, x², then per subject y, y², x·y
    auto term_matrix = [&](size_t term) {
      full.assign(static_cast<size_t>(nn * nn), 0.0);
      size_t q = 0;
      for (long i = 0; i < nn; ++i)
        for (long j = i + 1; j < nn; ++j, ++q) {
          const double x = mc[q];
          double v = 1.0;
          if (term == 1) v = x;
          else if (term == 2) v = x * x;
          else if (term >= 3) {
            const size_t t = (term - 3) / 3;
            const double y = sc_flat[t * m + q];
            v = (term - 3) % 3 == 0 ? y : (term - 3) % 3 == 1 ? y * y : x * y;
          }
          full[static_cast<size_t>(i * nn + j)] = full[static_cast<size_t>(j * nn + i)] = v;
        }
    };
    for (long b0 = 0; b0 < o.bootstrap; b0 += std::max<long>(block, 1)) {
      const long b1 = quadratic ? std::min<long>(o.bootstrap, b0 + block) : b0 + 1;
      if (quadratic) {
        const long rows = b1 - b0;
        counts.assign(static_cast<size_t>(rows * nn), 0.0);
        for (long b = b0; b < b1; ++b)
          for (std::uint64_t i = 0; i < n; ++i)
            ++counts[static_cast<size_t>((b - b0) * nn) + index_from_draw(splitmix64_at(o.seed, b * n + i), n)];
        q_terms.assign(static_cast<size_t>(rows) * n_terms, 0.0);
        prod.resize(static_cast<size_t>(rows * nn));
        for (size_t term = 0; term < n_terms; ++term) {
          term_matrix(term);
          cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(nn),
                      static_cast<int>(nn), 1.0, counts.data(), static_cast<int>(nn), full.data(), static_cast<int>(nn),
                      0.0, prod.data(), static_cast<int>(nn));
          for (long r0 = 0; r0 < rows; ++r0) {
            double acc = 0;
            for (long j = 0; j < nn; ++j) acc += prod[static_cast<size_t>(r0 * nn + j)] * counts[static_cast<size_t>(r0 * nn + j)];
            q_terms[static_cast<size_t>(r0) * n_terms + term] = 0.5 * acc;
          }
        }
      }
      for (long b = b0; b < b1; ++b) {
        if (quadratic) {
          std::copy_n(counts.begin() + (b - b0) * nn, nn, cnt.begin());
        } else {
          std::fill(cnt.begin(), cnt.end(), 0.0);
          for (std::uint64_t i = 0; i < n; ++i) ++cnt[index_from_draw(splitmix64_at(o.seed, b * n + i), n)];
        }
        long distinct = 0;
        for (double x : cnt) distinct += x > 0;
        if (distinct < 3) continue;  // 2 distinct conditions leave one distinct pair: no correlation
        if (quadratic) {
          const double* qt = q_terms.data() + static_cast<size_t>(b - b0) * n_terms;
          const double sw = qt[0], sx = qt[1], sxx = qt[2];
          std::vector<double> s(ns + 1, 0.0);
          for (size_t t = 0; t < ns; ++t) {
            double vx = sxx, vy = qt[3 + 3 * t + 1], cxy = qt[3 + 3 * t + 2];
            const double sy = qt[3 + 3 * t];
            if (c == Comparison::corr && sw > 0) {
              vx -= sx * sx / sw;
              vy -= sy * sy / sw;
              cxy -= sx * sy / sw;
            }
            // a vector constant over the resample (zero up to the round-off of its sums): undefined
            s[t] = vx > 1e-12 * qt[2] && vy > 1e-12 * qt[3 + 3 * t + 1] ? cxy / std::sqrt(vx * vy) : kNaN;
            s[ns] += s[t] / static_cast<double>(ns);
          }
          for (size_t q = 0; q <= ns; ++q) samples[q].push_back(s[q]);
          continue;
        }
        if (c != Comparison::tau_a) {  // spearman, or corr / cosine beyond 4000 conditions
          size_t k = 0;
          for (long i = 0; i < model.n; ++i)
            for (long j = i + 1; j < model.n; ++j) w[k++] = cnt[i] * cnt[j];
        }
        draw_counts = &cnt;
        const auto s = all_subjects(&w);
        draw_counts = nullptr;
        for (size_t q = 0; q <= ns; ++q) samples[q].push_back(s[q]);
      }
    }
    summarise_bootstrap(samples, r);
  }
  if (o.permutations > 0) {
    // Spearman of a permuted vector is Pearson of the permuted ranks; τa of it needs the permuted
    // dense ranks sorted with the subject's (a counting sort). Rank once.
    std::vector<double> base_ranks;
    std::vector<std::vector<double>> subject_ranks(ns);
    if (c == Comparison::spearman) {
      ranks_sorted(pm, nullptr, base_ranks);
      for (size_t s = 0; s < ns; ++s) ranks_sorted(ps[s], nullptr, subject_ranks[s]);
    }
    // corr / spearman (Pearson of ranks) / cosine against a fixed subject vector: one pass over the
    // permuted vector with the subject's centred values (or raw, cosine) and norm precomputed.
    std::vector<std::vector<double>> fixed(ns);
    std::vector<double> fixed_norm(ns);
    if (c != Comparison::tau_a)
      for (size_t t = 0; t < ns; ++t) {
        const std::vector<double>& y = c == Comparison::spearman ? subject_ranks[t] : subjects[t].v;
        double mean = 0;
        if (c != Comparison::cosine) {
          for (double v : y) mean += v;
          mean /= static_cast<double>(y.size());
        }
        fixed[t].resize(y.size());
        double ss = 0;
        for (size_t q = 0; q < y.size(); ++q) {
          fixed[t][q] = y[q] - mean;
          ss += fixed[t][q] * fixed[t][q];
        }
        fixed_norm[t] = std::sqrt(ss);
      }
    // The model's values (or ranks) whatever their order: their sum and sum of squares.
    double fixed_x_var = 0;
    if (c != Comparison::tau_a) {
      const std::vector<double>& x = c == Comparison::spearman ? base_ranks : model.v;
      double sx = 0, sxx = 0;
      for (double v : x) sx += v, sxx += v * v;
      fixed_x_var = c == Comparison::cosine ? sxx : sxx - sx * sx / static_cast<double>(x.size());
    }
    auto from_sums = [&](double sxy, size_t t) {
      return fixed_x_var > 0 && fixed_norm[t] > 0 ? sxy / (std::sqrt(fixed_x_var) * fixed_norm[t]) : kNaN;
    };
    // The observed values as the permutations compute them (an unchanged permuted vector ties exactly:
    // the same row-by-row sums).
    std::vector<double> observed = r.similarity;
    if (c != Comparison::tau_a) {
      const std::vector<double>& x = c == Comparison::spearman ? base_ranks : model.v;
      observed[ns] = 0;
      for (size_t t = 0; t < ns; ++t) {
        double sxy = 0;
        size_t q = 0;
        for (long i = 0; i < model.n; ++i) {
          const long len = model.n - i - 1;
          double acc = 0;
          for (long j = 0; j < len; ++j) acc += x[q + static_cast<size_t>(j)] * fixed[t][q + static_cast<size_t>(j)];
          sxy += acc;
          q += static_cast<size_t>(len);
        }
        observed[t] = from_sums(sxy, t);
        observed[ns] += observed[t] / static_cast<double>(ns);
      }
    }
    std::vector<long> ge(ns + 1, 0);
    std::vector<long> perm(model.n);
    std::vector<double> permuted(m);
    // The model as a full symmetric matrix of what a permutation gathers (values, ranks or dense
    // ids), so that row i of the permuted triangle reads one row of it (cache-friendly).
    std::vector<double> full_v;
    std::vector<std::uint32_t> full_id;
    {
      const std::vector<double>& src = c == Comparison::spearman ? base_ranks : model.v;
      if (c == Comparison::tau_a) full_id.assign(static_cast<size_t>(model.n) * model.n, 0);
      else full_v.assign(static_cast<size_t>(model.n) * model.n, 0.0);
      size_t q = 0;
      for (long i = 0; i < model.n; ++i)
        for (long j = i + 1; j < model.n; ++j, ++q) {
          if (c == Comparison::tau_a) full_id[i * model.n + j] = full_id[j * model.n + i] = pm.dense[q];
          else full_v[i * model.n + j] = full_v[j * model.n + i] = src[q];
        }
    }
    std::vector<TauPermutations> tau_perm;
    if (c == Comparison::tau_a)
      for (size_t t = 0; t < ns; ++t) tau_perm.emplace_back(pm, ps[t], model.n);
    for (long k = 0; k < o.permutations; ++k) {
      std::iota(perm.begin(), perm.end(), 0L);
      for (long i = model.n - 1; i >= 1; --i) {
        const auto j = static_cast<long>(
            index_from_draw(splitmix64_at(o.seed ^ 0x5DEECE66DULL, static_cast<std::uint64_t>(k) * n + i), i + 1));
        std::swap(perm[i], perm[j]);
      }
      std::vector<double> sim(ns + 1, 0.0);
      size_t q = 0;
      if (c == Comparison::tau_a) {
        for (size_t t = 0; t < ns; ++t) sim[t] = tau_perm[t].tau(perm, full_id);
      } else {
        // corr, spearman (Pearson of ranks), cosine: the permuted vector has the model's values, so
        // its sum and sum of squares are those of the model (fixed_x); only Σ x_π·y changes. One
        // pass gathers the permuted values and accumulates that sum for every subject.
        std::vector<double> sxy(ns, 0.0);
        for (long i = 0; i < model.n; ++i) {
          const double* row = full_v.data() + static_cast<size_t>(perm[i]) * model.n;
          const long len = model.n - i - 1;
          double* buf = permuted.data();
          for (long j = 0; j < len; ++j) buf[j] = row[perm[i + 1 + j]];
          for (size_t t = 0; t < ns; ++t) {
            const double* y = fixed[t].data() + q;
            double acc = 0;
            for (long j = 0; j < len; ++j) acc += buf[j] * y[j];
            sxy[t] += acc;
          }
          q += static_cast<size_t>(len);
        }
        for (size_t t = 0; t < ns; ++t) sim[t] = from_sums(sxy[t], t);
      }
      for (size_t t = 0; t < ns; ++t) sim[ns] += sim[t] / static_cast<double>(ns);
      for (size_t t = 0; t <= ns; ++t) ge[t] += sim[t] >= observed[t];
    }
    for (size_t t = 0; t <= ns; ++t)
      r.p_permutation[t] = std::isnan(observed[t]) ? kNaN
                                                   : (1.0 + static_cast<double>(ge[t])) / (1.0 + static_cast<double>(o.permutations));
  }
  return r;
}

}  // namespace brainsweep
