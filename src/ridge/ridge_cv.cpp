// RidgeCV per target (ENCODING.md §3–4), written once against the Backend kernels.
#include <algorithm>
#include <chrono>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "brainsweep/errors.hpp"
#include "brainsweep/ridge.hpp"

namespace brainsweep {

Precision parse_precision(const std::string& name, bool allow_float32) {
  if (name == "mixed") return Precision::mixed;
  if (name == "float64") return Precision::float64;
  if (name == "float32") {
    if (allow_float32) return Precision::float32;
    throw ConfigError(std::string("precision 'float32': ") + kFloat32Refused);
  }
  throw ConfigError("precision '" + name + "': expected mixed or float64");
}

std::string to_string(Precision p) {
  switch (p) {
    case Precision::mixed: return "mixed";
    case Precision::float64: return "float64";
    case Precision::float32: return "float32";
  }
  return "?";
}

namespace {

using Clock = std::chrono::steady_clock;

/// Contiguous fold bounds: fold k holds rows [bounds[k], bounds[k+1]).
constexpr long kMinHeldOutSamples = 2;  // a Pearson r over one sample is undefined

std::vector<long> fold_bounds(const std::vector<int>& fold_of_row, int k) {
  std::vector<long> b{0};
  const long n = static_cast<long>(fold_of_row.size());
  for (int f = 0; f < k; ++f) {
    long end = b.back();
    while (end < n && fold_of_row[static_cast<size_t>(end)] == f) ++end;
    if (end == b.back()) throw DataError("ridge_cv: fold " + std::to_string(f) + " is empty or not contiguous");
    // A Pearson r over one held-out sample is undefined: every CV score would be 0
    // and the top alpha would win everywhere (issue #25). Refused.
    if (end - b.back() < kMinHeldOutSamples)
      throw DataError("folds: fold " + std::to_string(f) + " holds " + std::to_string(end - b.back()) +
                      " held-out samples of " + std::to_string(n) + "; a Pearson r needs at least " +
                      std::to_string(kMinHeldOutSamples) + " (use fewer folds: at most " +
                      std::to_string(std::max(1L, n / kMinHeldOutSamples)) + " for " + std::to_string(n) + " samples)");
    b.push_back(end);
  }
  if (b.back() != n) throw DataError("ridge_cv: folds are not contiguous blocks of rows in fold order");
  return b;
}

/// One fit. G: type of Gram matrices, decompositions and the CV moments; Q: type of the products
/// with the eigenvectors (A = X_k V, the weights) and with the targets (XᵀY, X_kᵀY_k,
/// B = Vᵀ X₋ₖᵀY₋ₖ, H = Aᵀ Y_k).
template <class G, class Q>
class Engine {
 public:
  Engine(const Backend& be, const MatrixF& x, const MatrixF& y, std::vector<long> bounds, const RidgeOptions& opt)
      : be_(be), opt_(opt), bounds_(std::move(bounds)), n_(x.rows()), p_(x.cols()), t_(y.cols()),
        k_(static_cast<long>(bounds_.size()) - 1), na_(static_cast<long>(opt.alphas.size())) {
    tb_ = std::max(1L, std::min(t_, opt.target_batch > 0 ? opt.target_batch : t_));
    // A host backend reads the caller's matrices in place (the design matrix is held once).
    if (be.space() == Space::host) {
      xf_ = host_view(x);
      yf_ = host_view(y);
    } else {
      xf_store_ = be.upload(host_view(x));
      yf_store_ = be.upload(host_view(y));
      xf_ = xf_store_;
      yf_ = yf_store_;
    }
    block_ = std::max(1L, opt.convert_block);
    held_out_moments(y);
  }

  RidgeCvResult run() {
    long max_fold = 0;
    for (long k = 0; k < k_; ++k) max_fold = std::max(max_fold, bounds_[k + 1] - bounds_[k]);
    const bool dual = opt_.solver == "dual" || (opt_.solver == "auto" && p_ > n_ - max_fold);
    if (opt_.solver != "auto" && opt_.solver != "primal" && opt_.solver != "dual")
      throw ConfigError("solver '" + opt_.solver + "': expected auto, primal or dual");
    res_.solver = dual ? "dual" : "primal";
    scores_ = Array<double>(be_, na_, t_);
    be_.fill(scores_, 0.0);
    alpha_b_ = Array<double>(be_, 1, tb_);
    if (dual)
      run_dual();
    else
      run_primal();
    return std::move(res_);
  }

 private:
  /// `src` in type T: itself when it is of type T, else converted into `store` (grown as needed, see
  /// work), which must outlive the view returned.
  template <class T, class S>
  View<const T> as_type(View<const S> src, Array<T>& store) {
    if constexpr (std::is_same_v<S, T>) {
      return src;
    } else {
      const View<T> dst = work(store, src.rows, src.cols);
      be_.convert(src, dst);
      return dst;
    }
  }
  /// A packed rows × cols view of the work array `a`, which grows when it is too small: work space
  /// reused from batch to batch and fold to fold (fresh pages cost a page fault each).
  template <class T>
  View<T> work(Array<T>& a, long rows, long cols) {
    const long need = std::max(1L, rows * cols);
    if (a.rows() * a.cols() < need) a = Array<T>(be_, 1, need);
    return View<T>{a.view().data, rows, cols, cols, a.view().space};
  }
  /// Frees the CV's work space (before the refit, which needs its own).
  void release_work() {
    ws_bd_ = ws_u_ = ws_terms_ = ws_sums_ = ws_gsq_ = Array<double>();
    ws_pg_ = ws_xtyk_ = ws_b_ = ws_h_ = ws_pk_ = Array<Q>();
  }
  /// Row k of ymean_ and yss_: the column means and centred sums of squares of the targets on fold
  /// k's held-out rows, in float64, once per fit. One pass over the rows, shifted by the fold's first
  /// row y₀ (the shifted-data algorithm: with s₁ = Σ(y − y₀) and s₂ = Σ(y − y₀)², the mean is
  /// y₀ + s₁/m and the centred sum s₂ − s₁²/m, whose relative round-off is ε · (1 + z₀²) for the
  /// z-score z₀ of y₀). A column whose centred sum is at most 1e-12 of its sum of squares Σy² (a
  /// constant column) gets 0, which add_pearson_moments scores as 0 (ENCODING.md §4).
  void held_out_moments(const MatrixF& y) {
    MatrixD mean = MatrixD::Zero(k_, t_), ss = MatrixD::Zero(k_, t_);
    for (long k = 0; k < k_; ++k) {
      const long a = bounds_[k], m = bounds_[k + 1] - a;
      double *s1 = mean.data() + k * t_, *s2 = ss.data() + k * t_;
      const float* y0 = y.data() + a * t_;
      for (long i = a + 1; i < a + m; ++i) {
        const float* yi = y.data() + i * t_;
        for (long j = 0; j < t_; ++j) {
          const double c = static_cast<double>(yi[j]) - static_cast<double>(y0[j]);
          s1[j] += c;
          s2[j] += c * c;
        }
      }
      const double dm = static_cast<double>(std::max(1L, m));
      for (long j = 0; j < t_; ++j) {
        const double shift = y0[j], centred = s2[j] - s1[j] * s1[j] / dm;
        const double squares = s2[j] + 2.0 * shift * s1[j] + dm * shift * shift;  // Σy²
        s1[j] = shift + s1[j] / dm;
        s2[j] = centred > 1e-12 * squares ? centred : 0.0;
      }
    }
    ymean_ = be_.upload(host_view(std::as_const(mean)));
    yss_ = be_.upload(host_view(std::as_const(ss)));
  }
  /// Rows per conversion block for operands of `cols` columns in total.
  long block_rows(long cols) const { return std::max(1L, block_ / std::max(1L, cols)); }

  /// c = beta · c + alpha · aᵀ b, a and b row-aligned (same rows), products in T (G or Q). A float32
  /// operand of a product in G = float64 is converted block by block of rows, so that no float64
  /// copy of X or Y ever exists; when b is a (a Gram matrix) one converted block serves both (SYRK
  /// on the CPU). Summing the blocks' products in G changes only the order of the float64 additions.
  /// Products in Q take operands of type Q only.
  template <class T, class A, class B>
  void gemm_tn(T alpha, View<const A> a, View<const B> b, T beta, View<T> c) {
    const bool same = static_cast<const void*>(a.data) == static_cast<const void*>(b.data) && a.ld == b.ld &&
                      a.cols == b.cols && a.rows == b.rows && std::is_same_v<A, B>;
    if constexpr (std::is_same_v<A, T> && std::is_same_v<B, T>) {
      be_.gemm(Op::trans, Op::none, alpha, a, b, beta, c);
    } else {
      static_assert(std::is_same_v<T, G>, "gemm_tn: only products in G convert their operands");
      // At least convert_block / 1024 rows per block (1024 by default): each block's product also
      // passes over all of c, so with wide operands (p + t in the thousands) short blocks would make
      // the GEMMs memory-bound.
      const long rows = a.rows,
                 rb = std::max(block_ / 1024, block_rows((std::is_same_v<A, G> ? 0 : a.cols) + (same ? 0 : b.cols)));
      for (long r0 = 0; r0 == 0 || r0 < rows; r0 += rb) {  // once with 0 rows: c = beta · c
        const long nr = std::min(rb, rows - r0);
        const View<const G> ab = as_type<G>(a.middle_rows(r0, nr), blk_a_);
        const View<const G> bb = same ? ab : as_type<G>(b.middle_rows(r0, nr), blk_b_);
        be_.gemm(Op::trans, Op::none, alpha, ab, bb, r0 == 0 ? beta : G(1), c);
      }
    }
  }
  /// c = a aᵀ (n × n) in G from float32 a, over blocks of columns (dual Gram matrix, SYRK on the CPU).
  /// At least 1024 columns per block (when a has them): each block's product costs n² · cb
  /// multiply-adds but also a pass over the n × n result (the CPU mirrors SYRK's triangle).
  void gram_nt(View<const float> a, View<G> c) {
    const long cb = std::max(block_rows(a.rows), std::min(a.cols, 1024L));
    for (long c0 = 0; c0 == 0 || c0 < a.cols; c0 += cb) {
      const View<const G> ab = as_type<G>(a.middle_cols(c0, std::min(cb, a.cols - c0)), blk_a_);
      be_.gemm(Op::none, Op::trans, G(1), ab, ab, c0 == 0 ? G(0) : G(1), c);
    }
  }
  /// c = aᵀ m (a: n × p float32, m: n × nb in G), over blocks of a's columns (rows of c).
  void gemm_tn_cols(View<const float> a, View<const G> m, View<G> c) {
    const long cb = block_rows(a.rows);
    for (long c0 = 0; c0 == 0 || c0 < a.cols; c0 += cb) {
      const long nc = std::min(cb, a.cols - c0);
      be_.gemm(Op::trans, Op::none, G(1), as_type<G>(a.middle_cols(c0, nc), blk_a_), m, G(0), c.middle_rows(c0, nc));
    }
  }
  /// out = x v (x: rows of the float32 design, v: p × p in Q): float32 directly, float64 by row blocks.
  void x_times(View<const float> x, View<const Q> v, View<Q> out) {
    if constexpr (std::is_same_v<Q, float>) {
      be_.gemm(Op::none, Op::none, 1.0f, x, v, 0.0f, out);
    } else {
      const long rb = block_rows(x.cols);
      for (long r0 = 0; r0 == 0 || r0 < x.rows; r0 += rb) {
        const long nr = std::min(rb, x.rows - r0);
        be_.gemm(Op::none, Op::none, Q(1), as_type<Q>(x.middle_rows(r0, nr), blk_a_), v, Q(0), out.middle_rows(r0, nr));
      }
    }
  }
  /// Columns [j0, j0 + nb) of Y (float32, all rows).
  View<const float> y_batch(long j0, long nb) const { return yf_.middle_cols(j0, nb); }
  /// Rows [a, a + m) of the current Y batch in type Q (for Pearson r).
  View<const Q> yq_rows(View<const float> yb, long a, long m) {
    return as_type<Q>(yb.middle_rows(a, m), yq_store_);
  }
  /// Eigenvalues, clamped at 0 (round-off makes some of a PSD matrix slightly negative), as float64.
  Array<double> clamped(View<const G> w) {
    auto h = be_.download(w);
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> d = h.template cast<double>().cwiseMax(0.0);
    return be_.upload(host_view(static_cast<const decltype(d)&>(d)));
  }

  /// What scoring every alpha on one fold needs besides B and H, shared by every target (score_fold).
  /// With w1 = 1 / (λ_i + α) and w2 = w1² per alpha (row) and eigenvalue (column):
  struct FoldMoments {
    Array<double> cross;  ///< r × r: C_ij = M_ij / (λ_j − λ_i) between different eigenvalue groups, 0 within
    Array<double> lpp;    ///< alphas × 2r: [w2 ∘ diag | 2·w1], diag_i = M_ii for an eigenvalue alone in its group, else 0
    Array<double> w1;     ///< alphas × r
    Array<double> w1c;    ///< alphas × r: w1 ∘ (Aᵀ1)ᵀ
    Array<double> w2g;    ///< alphas × groups: w2 of each group of 2 or more eigenvalues (its common value)
    std::vector<std::pair<long, long>> groups;  ///< (first, size) of each group of 2 or more eigenvalues
    long first = 0;  ///< eigenvalues [0, first) are numerically zero and left out; the arrays cover the rest
  };

  /// How many of the ascending eigenvalues `lam` (1 × r) are numerically zero: at most r · ε · λ_max,
  /// ε of G (the round-off of the Gram matrix). Their eigenvectors span the training rows' null
  /// space, where Vᵀ XᵀY vanishes but for round-off (of float32 products in mixed precision).
  static long null_count(const MatrixD& lam) {
    const long r = lam.cols();
    const double level = static_cast<double>(r) * std::numeric_limits<G>::epsilon() * (r ? lam(0, r - 1) : 0.0);
    long z = 0;
    while (z < r && lam(0, z) <= level) ++z;
    return z;
  }

  /// Targets whose moment terms (score_fold) are formed at once.
  static constexpr long kTermTargets = 256;
  /// Targets whose columns of B are converted and multiplied by C at once (score_fold).
  static constexpr long kProductTargets = 1024;

  /// Eigenvalues whose gap is below kTie · (λ + smallest alpha) form one group (see fold_moments).
  static constexpr double kTie = 1e-7;

  /// M = AᵀA and Aᵀ1 from A itself (m × r_all, in Q): 2·m·r² flops in G.
  auto moments_from_a(View<const Q> a_all) {
    return [this, a_all](long first, View<G> mg, MatrixD& colsum) {
      const long m = a_all.rows, r = a_all.cols - first;
      const View<const Q> a = a_all.middle_cols(first, r);
      gemm_tn(G(1), a, a, G(0), mg);  // M = AᵀA
      const Eigen::Matrix<Q, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> ones_h =
          Eigen::Matrix<Q, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>::Ones(m, 1);
      const Array<Q> ones = be_.upload(host_view(ones_h));
      Array<G> cg(be_, r, 1);
      gemm_tn(G(1), a, View<const Q>(ones), G(0), cg.view());  // Aᵀ1
      colsum = be_.download(View<const G>(cg)).template cast<double>().transpose();
      res_.timings.cv_gflop += 2.0 * m * r * (r + 1) * 1e-9;
    };
  }
  /// M = Vᵀ G_k V and Aᵀ1 = Vᵀ (X_kᵀ1) from the held-out rows' Gram matrix G_k = X_kᵀX_k (p × p) and
  /// the fold's eigenvectors V (p × p), both in G: 2·p·r·(p + r) flops in G, against 2·m·r² (and A = X_k V,
  /// 2·m·p·r in Q) from A, so cheaper when 3m > 4p. More accurate too: M from float64 G_k, not from A
  /// rounded to float32 in mixed precision.
  auto moments_from_gram(View<const G> gk, View<const G> v, View<const float> xk) {
    return [this, gk, v, xk](long first, View<G> mg, MatrixD& colsum) {
      const long m = xk.rows, r = v.cols - first;
      const View<const G> ve = v.middle_cols(first, r);
      Array<G> gv(be_, p_, r), xs(be_, p_, 1), cg(be_, r, 1);
      be_.gemm(Op::none, Op::none, G(1), gk, ve, G(0), gv.view());                   // G_k V
      be_.gemm(Op::trans, Op::none, G(1), ve, View<const G>(gv), G(0), mg);          // M = Vᵀ G_k V
      const MatrixF ones_h = MatrixF::Ones(m, 1);
      const Array<float> ones = be_.upload(host_view(ones_h));
      gemm_tn(G(1), xk, View<const float>(ones), G(0), xs.view());                   // X_kᵀ1
      be_.gemm(Op::trans, Op::none, G(1), ve, View<const G>(xs), G(0), cg.view());  // Aᵀ1 = Vᵀ X_kᵀ1
      colsum = be_.download(View<const G>(cg)).template cast<double>().transpose();
      res_.timings.cv_gflop += (2.0 * p_ * r * (p_ + r) + 2.0 * m * p_ + 2.0 * p_ * r) * 1e-9;
    };
  }

  /// The fold's moments, from the clamped ascending eigenvalues `s` (1 × r) and `moments`, which
  /// fills M = AᵀA (r × r, in G) and the column sums Aᵀ1 (1 × r, host) of A = X_k V, the held-out
  /// rows in the fold's eigenbasis, for the eigenvectors from `first` on (moments_from_a,
  /// moments_from_gram). With M, the squared norm of the held-out prediction A D b
  /// (D = (Λ + α)⁻¹) splits by partial fractions,
  ///   Σ_ij b_i b_j M_ij / ((λ_i + α)(λ_j + α)) = 2 Σ_i b_i (C b)_i / (λ_i + α) + Σ_i b_i² M_ii / (λ_i + α)²,
  /// C_ij = M_ij / (λ_j − λ_i) for i ≠ j, so that one product C b per fold serves every alpha.
  /// Eigenvalues closer than kTie · (λ + α_min) are grouped and set to the group's mean (a change
  /// of the fold's eigenvalues far below float32 accuracy, none for exactly tied ones such as the
  /// zeros of a rank-deficient Gram matrix): C is 0 within a group, where the pairs' terms share the
  /// factor 1 / (λ_g + α)² and sum to ‖A_g b_g‖² (score_fold). C's entries are then at most
  /// |M_ij| / (kTie · (λ + α_min)), so the round-off of the split stays near 1e-9 of Σŷ².
  ///
  /// Eigenvalues at most r · ε · λ_max (ε of G: the round-off of the Gram matrix) are numerically
  /// zero and left out (FoldMoments::first): their eigenvectors span the training rows' null
  /// space, where B = Vᵀ X₋ₖᵀ Y₋ₖ is 0 up to round-off, so they add nothing to any prediction.
  template <class Moments>
  FoldMoments fold_moments(const Array<double>& s, Moments&& moments) {
    const MatrixD lam_all = be_.download(View<const double>(s));
    const long r_all = lam_all.cols();
    FoldMoments fm;
    fm.first = null_count(lam_all);
    res_.null_eigenvalues += fm.first;
    const long r = r_all - fm.first;
    const MatrixD lam = lam_all.rightCols(r);
    Array<G> mg(be_, r, r);
    MatrixD colsum;
    moments(fm.first, mg.view(), colsum);
    // M becomes C in place: in mg itself when it is float64 in host memory, else in a host copy
    // (one r × r matrix at a time besides the backend's).
    constexpr bool in_place = std::is_same_v<G, double>;
    MatrixD mh;
    double* cm = nullptr;
    if (in_place && be_.space() == Space::host) {
      cm = reinterpret_cast<double*>(mg.view().data);
    } else {
      mh = be_.download(View<const G>(mg)).template cast<double>();
      mg = Array<G>();
      cm = mh.data();
    }

    // M symmetric: the split pairs M_ij with M_ji, and an asymmetry δ (round-off of Vᵀ G_k V, ε of G)
    // adds b_i b_j δ_ij / ((λ_j − λ_i)(λ_i + α)) to Σŷ², which decays as 1/α where the true value
    // decays as 1/α². With a float32 G that was CV r off by 0.13 at α = 1e7 (Sherlock's topic_model),
    // so M is symmetrised; with a float64 G (mixed, float64) δ is ~1e-16 of M and the scores agree with
    // per-fold solves to ~1e-9, and the pass is skipped (a 64 × 64-tiled pass over r² = 8192² values
    // took 0.6 s per fold here, ~2 s on the H200's host: it doubled an Algonauts-scale unit's CV time).
    if constexpr (std::is_same_v<G, float>) {
      constexpr long kTile = 64;
      for (long i0 = 0; i0 < r; i0 += kTile)
        for (long j0 = i0; j0 < r; j0 += kTile)
          for (long i = i0; i < std::min(r, i0 + kTile); ++i)
            for (long j = std::max(j0, i + 1); j < std::min(r, j0 + kTile); ++j)
              cm[i * r + j] = cm[j * r + i] = 0.5 * (cm[i * r + j] + cm[j * r + i]);
    }
    const double amin = opt_.alphas.front();
    std::vector<long> group(static_cast<size_t>(r));
    std::vector<double> lt(static_cast<size_t>(r));
    for (long i0 = 0, g = 0; i0 < r; ++g) {
      long i1 = i0 + 1;
      while (i1 < r && lam(0, i1) - lam(0, i1 - 1) <= kTie * (lam(0, i1) + amin)) ++i1;
      const double mean = lam.row(0).segment(i0, i1 - i0).mean();
      for (long i = i0; i < i1; ++i) group[static_cast<size_t>(i)] = g, lt[static_cast<size_t>(i)] = mean;
      if (i1 - i0 > 1) fm.groups.emplace_back(i0, i1 - i0);
      i0 = i1;
    }
    res_.tied_groups += static_cast<long>(fm.groups.size());
    MatrixD lpp(na_, 2 * r), w1(na_, r), w1c(na_, r), w2g(na_, static_cast<long>(fm.groups.size()));
    for (long i = 0; i < r; ++i) {
      const size_t gi = static_cast<size_t>(i);
      const bool alone = (i == 0 || group[gi - 1] != group[gi]) && (i == r - 1 || group[gi + 1] != group[gi]);
      const double diag = alone ? cm[i * r + i] : 0.0;
      for (long j = 0; j < r; ++j) {
        const size_t gj = static_cast<size_t>(j);
        cm[i * r + j] = group[gi] == group[gj] ? 0.0 : cm[i * r + j] / (lt[gj] - lt[gi]);
      }
      for (long ai = 0; ai < na_; ++ai) {
        w1(ai, i) = 1.0 / (lt[gi] + opt_.alphas[static_cast<size_t>(ai)]);
        lpp(ai, i) = w1(ai, i) * w1(ai, i) * diag;
        lpp(ai, r + i) = 2.0 * w1(ai, i);
        w1c(ai, i) = w1(ai, i) * colsum(0, i);
      }
    }
    for (size_t q = 0; q < fm.groups.size(); ++q)
      for (long ai = 0; ai < na_; ++ai) {
        const double w = w1(ai, fm.groups[q].first);
        w2g(ai, static_cast<long>(q)) = w * w;
      }
    if constexpr (in_place) {
      if (be_.space() == Space::host) fm.cross = std::move(mg);
    }
    if (fm.cross.rows() == 0) fm.cross = be_.upload(host_view(std::as_const(mh)));
    fm.lpp = be_.upload(host_view(lpp));
    fm.w1 = be_.upload(host_view(w1));
    fm.w1c = be_.upload(host_view(w1c));
    if (!fm.groups.empty()) fm.w2g = be_.upload(host_view(w2g));
    return fm;
  }

  /// Score every alpha on fold `k` (ENCODING.md §4) without forming the held-out predictions
  /// ŷ = A D_α b of each alpha (m × t per alpha): their moments Σŷ² (fold_moments), Σŷy = Σ_i
  /// h_i b_i / (λ_i + α) and Σŷ = Σ_i (Aᵀ1)_i b_i / (λ_i + α) come from the terms b∘b, b∘u, b∘h
  /// (3r × t, u = C b) formed once per fold and three (alphas × r or 2r) products, in float64:
  /// 2·r·t·(r + 4·alphas) flops per fold besides B and H, instead of 2·m·r·t per alpha; plus
  /// 2·m·k·t for each group of k tied eigenvalues (‖A_g b_g‖², in Q). The held-out targets' means
  /// and centred sums of squares come from held_out_moments. a: A (m × r), b: B (r × t),
  /// h: H = Aᵀ y_held (r × t); r counts the eigenvalues from FoldMoments::first on; m held-out rows;
  /// a (m × r) is read only when the fold has tied groups.
  void score_fold(long k, const FoldMoments& fm, long m, View<const Q> a, View<const Q> b, View<const Q> h, long j0) {
    const long r = b.rows, nb = b.cols, ng = static_cast<long>(fm.groups.size());
    // Per chunk of kProductTargets targets: B's columns in float64 (exact: B is float32 or already
    // float64) and U = C B (a DGEMM wide enough to run near its peak); within it, per sub-chunk of
    // kTermTargets (cache-sized): the terms and the sums (alphas × 3 per target).
    const long pchunk = std::min(nb, kProductTargets), chunk = std::min(nb, kTermTargets);
    for (long p0 = 0; p0 < nb; p0 += pchunk) {
      const long np = std::min(pchunk, nb - p0);
      const View<const double> bp = as_type<double>(b.middle_cols(p0, np), ws_bd_);
      const View<double> up = work(ws_u_, r, np);
      be_.gemm(Op::none, Op::none, 1.0, View<const double>(fm.cross), bp, 0.0, up);  // U = C B
      for (long s0 = 0; s0 < np; s0 += chunk) {
        const long nc = std::min(chunk, np - s0), c0 = p0 + s0;
        const View<double> tw = work(ws_terms_, 3 * r, nc), sv = work(ws_sums_, na_, 3 * nc);
        const View<const double> tv = tw, bc = bp.middle_cols(s0, nc);
        be_.moment_terms(bc, View<const double>(up).middle_cols(s0, nc), h.middle_cols(c0, nc), tw);
        const View<double> spp = sv.middle_cols(0, nc), spy = sv.middle_cols(nc, nc), sp = sv.middle_cols(2 * nc, nc);
        // Σŷ² = Σ_i w2 diag b² + 2 w1 b (C b) (fold_moments), then the groups' ‖A_g b_g‖² w2_g.
        be_.gemm(Op::none, Op::none, 1.0, View<const double>(fm.lpp), tv.middle_rows(0, 2 * r), 0.0, spp);
        if (ng > 0) {
          const View<double> gsq = work(ws_gsq_, ng, nc);
          be_.fill(gsq, 0.0);
          for (long q = 0; q < ng; ++q) {
            const auto [g0, kg] = fm.groups[static_cast<size_t>(q)];
            Array<Q> bq_store;
            const View<const Q> bq = as_type<Q>(b.middle_cols(c0, nc).middle_rows(g0, kg), bq_store);
            const View<Q> pg = work(ws_pg_, m, nc);
            be_.gemm(Op::none, Op::none, Q(1), a.middle_cols(g0, kg), bq, Q(0), pg);
            be_.add_column_squares(View<const Q>(pg), gsq.middle_rows(q, 1));
            res_.timings.cv_gflop += 2.0 * m * kg * nc * 1e-9;
          }
          be_.gemm(Op::none, Op::none, 1.0, View<const double>(fm.w2g), View<const double>(gsq), 1.0, spp);
        }
        be_.gemm(Op::none, Op::none, 1.0, View<const double>(fm.w1), tv.middle_rows(2 * r, r), 0.0, spy);  // Σŷy
        be_.gemm(Op::none, Op::none, 1.0, View<const double>(fm.w1c), bc, 0.0, sp);                         // Σŷ
        be_.add_pearson_moments(spp, spy, sp, View<const double>(ymean_).middle_rows(k, 1).middle_cols(j0 + c0, nc),
                                View<const double>(yss_).middle_rows(k, 1).middle_cols(j0 + c0, nc), m,
                                1.0 / static_cast<double>(k_), scores_.view().middle_cols(j0 + c0, nc));
      }
    }
    res_.timings.cv_gflop += 2.0 * r * nb * (r + 4.0 * na_) * 1e-9;
  }

  /// Scores to host; per target the best alpha (ties to the larger) and its score.
  void select() {
    res_.cv_scores = be_.download(View<const double>(scores_));
    res_.alpha.resize(static_cast<size_t>(t_));
    res_.cv_r.resize(static_cast<size_t>(t_));
    for (long j = 0; j < t_; ++j) {
      long best = 0;
      for (long ai = 1; ai < na_; ++ai)
        if (res_.cv_scores(ai, j) >= res_.cv_scores(best, j)) best = ai;
      res_.alpha[static_cast<size_t>(j)] = opt_.alphas[static_cast<size_t>(best)];
      res_.cv_r[static_cast<size_t>(j)] = res_.cv_scores(best, j);
    }
    res_.weights.resize(p_, t_);
  }

  /// Chosen alphas of targets [j0, j0 + nb) on the backend.
  View<const double> chosen_alphas(long j0, long nb) {
    const Eigen::Map<const MatrixD> h(res_.alpha.data() + j0, 1, nb);
    const MatrixD hm = h;
    const Array<double> a = be_.upload(host_view(hm));
    be_.copy(View<const double>(a), alpha_b_.view().middle_cols(0, nb));
    return View<const double>(alpha_b_).middle_cols(0, nb);
  }

  void store_weights(View<const Q> w, long j0) {
    const auto h = be_.download(w);
    res_.weights.middleCols(j0, w.cols) = h.template cast<float>();
  }

  /// How many m × m decompositions run together: the backend's concurrency (or
  /// RidgeOptions::concurrent_decompositions when set), at most one per fold plus the refit, and
  /// fewer when the extra matrices and LAPACK work space (3 m² elements each beyond the first)
  /// would pass 1 GiB.
  long decomposition_group(long m) const {
    long g = std::min<long>(be_.concurrency(), k_ + 1);
    if (opt_.concurrent_decompositions > 0) g = std::min<long>(g, opt_.concurrent_decompositions);
    const double extra = 3.0 * static_cast<double>(m) * static_cast<double>(m) * sizeof(G);
    while (g > 1 && static_cast<double>(g - 1) * extra > 1024.0 * 1024.0 * 1024.0) --g;
    return std::max(1L, g);
  }

  static double seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
  static double eig_gflop(long m) { return 9.0 * m * m * m * 1e-9; }  // tridiagonalisation + back-transformation

  void run_primal() {
    auto t0 = Clock::now();
    Array<G> gram(be_, p_, p_);
    Array<Q> xty(be_, p_, t_);
    // XᵀX as the sum of the folds' Gram matrices G_k = X_kᵀX_k, kept for the folds when memory
    // allows (keeps_fold_grams): the training Grams are then G − G_k (n·p² flops in all, not 2·n·p²),
    // and M = Vᵀ G_k V replaces A = X_k V and AᵀA when cheaper (moments_from_gram).
    std::vector<Array<G>> gram_fold;
    if (keeps_fold_grams(n_, p_, t_, static_cast<int>(k_), static_cast<int>(sizeof(G)))) {
      for (long k = 0; k < k_; ++k) {
        const View<const float> xk = xf_.middle_rows(bounds_[k], bounds_[k + 1] - bounds_[k]);
        gram_fold.emplace_back(be_, p_, p_);
        gemm_tn(G(1), xk, xk, G(0), gram_fold.back().view());
        if (k == 0)
          be_.copy(View<const G>(gram_fold[0]), gram.view());
        else
          be_.axpy(G(1), View<const G>(gram_fold.back()), gram.view());
      }
    } else {
      gemm_tn(G(1), xf_, xf_, G(0), gram.view());
    }
    // XᵀY as the sum of the folds' X_kᵀY_k, kept for the folds (then the targets' products with X
    // cost 2·n·p·t in all, not twice that) when memory allows (keeps_fold_products; large n:
    // Algonauts-sized training sets).
    std::vector<Array<Q>> xty_fold;
    if (keeps_fold_products(n_, p_, t_, static_cast<int>(k_), static_cast<int>(sizeof(Q)))) {
      for (long k = 0; k < k_; ++k) {
        const long a = bounds_[k], m = bounds_[k + 1] - a;
        xty_fold.emplace_back(be_, p_, t_);
        for (long j0 = 0; j0 < t_; j0 += tb_) {
          const long nb = std::min(tb_, t_ - j0);
          gemm_tn(Q(1), xf_.middle_rows(a, m), y_batch(j0, nb).middle_rows(a, m), Q(0),
                  xty_fold.back().view().middle_cols(j0, nb));
        }
        if (k == 0)
          be_.copy(View<const Q>(xty_fold[0]), xty.view());
        else
          be_.axpy(Q(1), View<const Q>(xty_fold.back()), xty.view());
      }
    } else {
      for (long j0 = 0; j0 < t_; j0 += tb_) {
        const long nb = std::min(tb_, t_ - j0);
        gemm_tn(Q(1), xf_, y_batch(j0, nb), Q(0), xty.view().middle_cols(j0, nb));
      }
    }
    be_.synchronize();
    res_.timings.gram_s += seconds(t0);
    res_.timings.gram_gflop += 2.0 * n_ * p_ * (p_ + t_) * 1e-9;

    // The folds' decompositions in groups run together (Backend::syevd_many); the last group also
    // takes the refit's decomposition of the full Gram matrix when it has room (in place: every
    // fold's Gram matrix has been formed from it by then).
    const long group = decomposition_group(p_);
    Array<G> w_full(be_, 1, p_);
    bool full_done = false;
    for (long k0 = 0; k0 < k_; k0 += group) {
      const long kn = std::min(group, k_ - k0);
      t0 = Clock::now();
      std::vector<Array<G>> v, w;
      std::vector<View<G>> av, wv;
      for (long k = k0; k < k0 + kn; ++k) {
        const long a = bounds_[k], m = bounds_[k + 1] - a;
        v.emplace_back(be_, p_, p_);
        w.emplace_back(be_, 1, p_);
        be_.copy(View<const G>(gram), v.back().view());
        if (!gram_fold.empty()) {
          be_.axpy(G(-1), View<const G>(gram_fold[static_cast<size_t>(k)]), v.back().view());  // G − G_k
          if (!moments_from_fold_gram(m, p_)) gram_fold[static_cast<size_t>(k)] = Array<G>();  // not needed again
        } else {
          const View<const float> xk = xf_.middle_rows(a, m);
          gemm_tn(G(-1), xk, xk, G(1), v.back().view());  // Gram of the training rows
          res_.timings.decompose_gflop += 2.0 * m * p_ * p_ * 1e-9;
        }
        av.push_back(v.back().view());
        wv.push_back(w.back().view());
        res_.timings.decompose_gflop += eig_gflop(p_);
      }
      if (k0 + kn == k_ && kn < group) {
        av.push_back(gram.view());  // gram now holds V of all rows
        wv.push_back(w_full.view());
        full_done = true;
        res_.timings.decompose_gflop += eig_gflop(p_);
      }
      be_.syevd_many(av, wv);
      be_.synchronize();
      res_.timings.decompose_s += seconds(t0);

      for (long k = k0; k < k0 + kn; ++k) {
        const long a = bounds_[k], m = bounds_[k + 1] - a;
        const View<const float> xk = xf_.middle_rows(a, m);
        t0 = Clock::now();
        Array<G>& vk = v[static_cast<size_t>(k - k0)];
        const Array<double> s = clamped(w[static_cast<size_t>(k - k0)]);
        Array<Q> vq_store, aq;
        const View<const Q> vq = as_type<Q>(View<const G>(vk), vq_store);
        // A = X_k V (m × p) when M comes from it, or, rarely, for tied groups (score_fold).
        const auto held_out_a = [&] {
          aq = Array<Q>(be_, m, p_);
          x_times(xk, vq, aq.view());
          res_.timings.cv_gflop += 2.0 * m * p_ * p_ * 1e-9;
        };
        const bool from_gram = !gram_fold.empty() && moments_from_fold_gram(m, p_);
        if (!from_gram) held_out_a();
        const FoldMoments fm =
            from_gram ? fold_moments(s, moments_from_gram(gram_fold[static_cast<size_t>(k)], vk, xk))
                      : fold_moments(s, moments_from_a(aq));
        if (!gram_fold.empty()) gram_fold[static_cast<size_t>(k)] = Array<G>();
        if (from_gram && !fm.groups.empty()) held_out_a();
        const long z = fm.first, re = p_ - z;  // the eigenvectors that are used
        const View<const Q> ve = vq.middle_cols(z, re);
        const View<const Q> ae = aq.rows() ? View<const Q>(aq).middle_cols(z, re) : View<const Q>{};
        for (long j0 = 0; j0 < t_; j0 += tb_) {
          const long nb = std::min(tb_, t_ - j0);
          const View<const float> yb = y_batch(j0, nb);
          // Work space reused from batch to batch and fold to fold (ws_*: freed after the CV).
          const View<Q> xtyk = work(ws_xtyk_, p_, nb), b = work(ws_b_, re, nb), h = work(ws_h_, re, nb);
          View<const Q> pk;  // X_kᵀ Y_k, when kept or needed for H
          be_.copy(View<const Q>(xty).middle_cols(j0, nb), xtyk);
          if (!xty_fold.empty()) {
            pk = View<const Q>(xty_fold[static_cast<size_t>(k)]).middle_cols(j0, nb);
            be_.axpy(Q(-1), pk, xtyk);  // X_{-k}ᵀ Y_{-k}
          } else if (m < p_) {
            gemm_tn(Q(-1), xk, yb.middle_rows(a, m), Q(1), xtyk);  // X_{-k}ᵀ Y_{-k}
            res_.timings.cv_gflop += 2.0 * m * p_ * nb * 1e-9;
          } else {
            const View<Q> pkw = work(ws_pk_, p_, nb);
            gemm_tn(Q(1), xk, yb.middle_rows(a, m), Q(0), pkw);
            pk = pkw;
            be_.axpy(Q(-1), pk, xtyk);  // X_{-k}ᵀ Y_{-k}
            res_.timings.cv_gflop += 2.0 * m * p_ * nb * 1e-9;
          }
          be_.gemm(Op::trans, Op::none, Q(1), ve, View<const Q>(xtyk), Q(0), b);
          if (m < p_)  // H = Aᵀ Y_k = Vᵀ X_kᵀ Y_k, whichever product is smaller
            gemm_tn(Q(1), ae, yq_rows(yb, a, m), Q(0), h);
          else
            be_.gemm(Op::trans, Op::none, Q(1), ve, pk, Q(0), h);
          score_fold(k, fm, m, ae, b, h, j0);
          res_.timings.cv_gflop += (2.0 * p_ * re * nb + 2.0 * std::min(m, p_) * re * nb) * 1e-9;
        }
        vk = Array<G>();  // this fold is done
        if (!xty_fold.empty()) xty_fold[static_cast<size_t>(k)] = Array<Q>();
        be_.synchronize();
        res_.timings.cv_s += seconds(t0);
      }
    }
    release_work();
    select();

    t0 = Clock::now();
    if (!full_done) {
      be_.syevd(gram.view(), w_full.view());  // gram now holds V
      res_.timings.refit_gflop += eig_gflop(p_);
    }
    // The numerically null eigenvalues are left out, as in the CV scores: the minimum-norm weights.
    const Array<double> s = clamped(w_full);
    const long z = null_count(be_.download(View<const double>(s))), re = p_ - z;
    res_.refit_null_eigenvalues = z;
    Array<Q> vq_store;
    const View<const Q> vq = as_type<Q>(View<const G>(gram), vq_store).middle_cols(z, re);
    for (long j0 = 0; j0 < t_; j0 += tb_) {
      const long nb = std::min(tb_, t_ - j0);
      Array<Q> b(be_, re, nb);
      be_.gemm(Op::trans, Op::none, Q(1), vq, View<const Q>(xty).middle_cols(j0, nb), Q(0), b.view());
      Array<double> bd_store;
      const View<const double> bd = as_type<double>(View<const Q>(b), bd_store);
      Array<Q> bs(be_, re, nb), wq(be_, p_, nb);
      be_.shrink(bd, View<const double>(s).middle_cols(z, re), chosen_alphas(j0, nb), bs.view());
      be_.gemm(Op::none, Op::none, Q(1), vq, View<const Q>(bs), Q(0), wq.view());
      store_weights(wq, j0);
    }
    be_.synchronize();
    res_.timings.refit_s += seconds(t0);
    res_.timings.refit_gflop += 4.0 * p_ * re * t_ * 1e-9;
  }

  void run_dual() {
    auto t0 = Clock::now();
    Array<G> kern(be_, n_, n_);
    gram_nt(xf_, kern.view());  // K = XXᵀ
    be_.synchronize();
    res_.timings.gram_s += seconds(t0);
    res_.timings.gram_gflop += 2.0 * n_ * n_ * p_ * 1e-9;
    const View<const G> kv = kern;

    // As in run_primal: decompositions in groups (Backend::syevd_many), the refit's in the last
    // group when it has room (every fold's blocks of K have been copied by then).
    long max_nt = 0;
    for (long k = 0; k < k_; ++k) max_nt = std::max(max_nt, n_ - (bounds_[k + 1] - bounds_[k]));
    const long group = decomposition_group(std::max(max_nt, n_));
    Array<G> w_full(be_, 1, n_);
    bool full_done = false;
    for (long k0 = 0; k0 < k_; k0 += group) {
      const long kn = std::min(group, k_ - k0);
      t0 = Clock::now();
      std::vector<Array<G>> u, w, c;
      std::vector<View<G>> av, wv;
      for (long k = k0; k < k0 + kn; ++k) {
        const long a = bounds_[k], m = bounds_[k + 1] - a, e = bounds_[k + 1], nt = n_ - m;
        // K of the training rows [0, a) ∪ [e, n), without copying X.
        u.emplace_back(be_, nt, nt);
        w.emplace_back(be_, 1, nt);
        const View<G> uv = u.back().view();
        be_.copy(kv.middle_rows(0, a).middle_cols(0, a), uv.middle_rows(0, a).middle_cols(0, a));
        be_.copy(kv.middle_rows(0, a).middle_cols(e, n_ - e), uv.middle_rows(0, a).middle_cols(a, n_ - e));
        be_.copy(kv.middle_rows(e, n_ - e).middle_cols(0, a), uv.middle_rows(a, n_ - e).middle_cols(0, a));
        be_.copy(kv.middle_rows(e, n_ - e).middle_cols(e, n_ - e), uv.middle_rows(a, n_ - e).middle_cols(a, n_ - e));
        // K[k, train], for A = K[k, train] U.
        c.emplace_back(be_, m, nt);
        be_.copy(kv.middle_rows(a, m).middle_cols(0, a), c.back().view().middle_cols(0, a));
        be_.copy(kv.middle_rows(a, m).middle_cols(e, n_ - e), c.back().view().middle_cols(a, n_ - e));
        av.push_back(uv);
        wv.push_back(w.back().view());
        res_.timings.decompose_gflop += eig_gflop(nt);
      }
      if (k0 + kn == k_ && kn < group) {
        av.push_back(kern.view());  // kern now holds U of all rows
        wv.push_back(w_full.view());
        full_done = true;
        res_.timings.decompose_gflop += eig_gflop(n_);
      }
      be_.syevd_many(av, wv);
      be_.synchronize();
      res_.timings.decompose_s += seconds(t0);

      for (long k = k0; k < k0 + kn; ++k) {
        const long a = bounds_[k], m = bounds_[k + 1] - a, e = bounds_[k + 1], nt = n_ - m;
        const size_t i = static_cast<size_t>(k - k0);
        t0 = Clock::now();
        const Array<double> s = clamped(w[i]);
        Array<G> ag(be_, m, nt);
        be_.gemm(Op::none, Op::none, G(1), View<const G>(c[i]), View<const G>(u[i]), G(0), ag.view());
        Array<Q> aq_store;
        const View<const Q> aq = as_type<Q>(View<const G>(ag), aq_store);
        const FoldMoments fm = fold_moments(s, moments_from_a(aq));
        const long z = fm.first, re = nt - z;  // the eigenvectors that are used
        Array<Q> uq_store;
        const View<const Q> ue = as_type<Q>(View<const G>(u[i]), uq_store).middle_cols(z, re);
        const View<const Q> ae = aq.middle_cols(z, re);
        for (long j0 = 0; j0 < t_; j0 += tb_) {
          const long nb = std::min(tb_, t_ - j0);
          const View<const float> yb = y_batch(j0, nb);
          Array<Q> b(be_, re, nb);  // B = Uᵀ Y_train
          gemm_tn(Q(1), ue.middle_rows(0, a), yb.middle_rows(0, a), Q(0), b.view());
          gemm_tn(Q(1), ue.middle_rows(a, n_ - e), yb.middle_rows(e, n_ - e), Q(1), b.view());
          Array<Q> h(be_, re, nb);
          gemm_tn(Q(1), ae, yq_rows(yb, a, m), Q(0), h.view());  // H = Aᵀ Y_k
          score_fold(k, fm, m, ae, b, h, j0);
          res_.timings.cv_gflop += (2.0 * nt * re * nb + 2.0 * m * re * nb) * 1e-9;
        }
        u[i] = Array<G>();  // this fold is done
        c[i] = Array<G>();
        res_.timings.cv_gflop += 2.0 * m * nt * nt * 1e-9;
        be_.synchronize();
        res_.timings.cv_s += seconds(t0);
      }
    }
    release_work();
    select();

    t0 = Clock::now();
    if (!full_done) {
      be_.syevd(kern.view(), w_full.view());  // kern now holds U
      res_.timings.refit_gflop += eig_gflop(n_);
    }
    // The numerically null eigenvalues (Xᵀu = 0 up to round-off) are left out, as in the CV scores.
    const Array<double> s = clamped(w_full);
    const long z = null_count(be_.download(View<const double>(s))), re = n_ - z;
    res_.refit_null_eigenvalues = z;
    const View<const G> ue = View<const G>(kern).middle_cols(z, re);
    for (long j0 = 0; j0 < t_; j0 += tb_) {
      const long nb = std::min(tb_, t_ - j0);
      Array<G> b(be_, re, nb), mg(be_, n_, nb), wg(be_, p_, nb);
      gemm_tn(G(1), ue, y_batch(j0, nb), G(0), b.view());
      Array<double> bd_store;
      const View<const double> bd = as_type<double>(View<const G>(b), bd_store);
      Array<double> bs(be_, re, nb);
      be_.shrink(bd, View<const double>(s).middle_cols(z, re), chosen_alphas(j0, nb), bs.view());
      Array<G> bsg_store;
      const View<const G> bsg = as_type<G>(View<const double>(bs), bsg_store);
      be_.gemm(Op::none, Op::none, G(1), ue, bsg, G(0), mg.view());  // U (S + α)⁻¹ UᵀY
      gemm_tn_cols(xf_, mg, wg.view());  // W = Xᵀ(...)
      Array<Q> wq_store;
      store_weights(as_type<Q>(View<const G>(wg), wq_store), j0);
    }
    be_.synchronize();
    res_.timings.refit_s += seconds(t0);
    res_.timings.refit_gflop += (4.0 * n_ * re * t_ + 2.0 * n_ * p_ * t_) * 1e-9;
  }

  const Backend& be_;
  const RidgeOptions& opt_;
  std::vector<long> bounds_;
  long n_, p_, t_, k_, na_, tb_ = 1, block_ = 1;
  Array<float> xf_store_, yf_store_;
  View<const float> xf_, yf_;  ///< x and y in the backend's space
  Array<G> blk_a_, blk_b_;     ///< conversion blocks (float64 runs)
  Array<Q> yq_store_;          ///< held-out rows of Y in Q (float64 runs)
  Array<double> scores_, alpha_b_;
  Array<double> ymean_, yss_;  ///< folds × t: held-out targets' means and centred sums of squares
  Array<double> ws_bd_, ws_u_, ws_terms_, ws_sums_, ws_gsq_;  ///< score_fold's work space
  Array<Q> ws_pg_, ws_xtyk_, ws_b_, ws_h_, ws_pk_;              ///< the CV batches' work space
  RidgeCvResult res_;
};

/// At most 1 GiB and half the memory of X and Y in float32 (n × (p + t) elements).
bool fits_fold_memory(double elements, int element_bytes, long n, long p, long t) {
  return elements * element_bytes <=
         std::min(1024.0 * 1024.0 * 1024.0, 2.0 * static_cast<double>(n) * static_cast<double>(p + t));
}
}  // namespace

bool keeps_fold_products(long n, long p, long t, int folds, int element_bytes) {
  return fits_fold_memory(static_cast<double>(folds) * static_cast<double>(p) * static_cast<double>(t), element_bytes,
                          n, p, t);
}

bool moments_from_fold_gram(long m, long p) { return 3 * m > 4 * p; }

bool keeps_fold_grams(long n, long p, long t, int folds, int element_bytes) {
  return fits_fold_memory(static_cast<double>(folds) * static_cast<double>(p) * static_cast<double>(p), element_bytes,
                          n, p, t);
}

RidgeCvResult ridge_cv(const Backend& be, const MatrixF& x, const MatrixF& y, const std::vector<int>& fold_of_row,
                       int n_folds, const RidgeOptions& opt) {
  const long n = x.rows();
  if (y.rows() != n || static_cast<long>(fold_of_row.size()) != n)
    throw DimensionMismatch("ridge_cv: x has " + std::to_string(n) + " rows, y " + std::to_string(y.rows()) +
                            ", fold_of_row " + std::to_string(fold_of_row.size()));
  if (opt.alphas.empty()) throw ConfigError("ridge_cv: empty alpha grid");
  for (size_t i = 0; i < opt.alphas.size(); ++i)
    if (!(opt.alphas[i] > 0) || (i && opt.alphas[i] <= opt.alphas[i - 1]))
      throw ConfigError("ridge_cv: alphas must be > 0 and strictly ascending");
  auto bounds = fold_bounds(fold_of_row, n_folds);
  switch (opt.precision) {
    case Precision::mixed: return Engine<double, float>(be, x, y, std::move(bounds), opt).run();
    case Precision::float64: return Engine<double, double>(be, x, y, std::move(bounds), opt).run();
    case Precision::float32: return Engine<float, float>(be, x, y, std::move(bounds), opt).run();
  }
  throw ConfigError("ridge_cv: unknown precision");
}

MatrixF predict(const Backend& be, const MatrixF& x, const MatrixF& w) {
  if (x.cols() != w.rows())
    throw DimensionMismatch("predict: x is " + std::to_string(x.rows()) + "×" + std::to_string(x.cols()) +
                            ", weights " + std::to_string(w.rows()) + "×" + std::to_string(w.cols()));
  if (be.space() == Space::host) {
    MatrixF out(x.rows(), w.cols());
    be.gemm(Op::none, Op::none, 1.0f, host_view(x), host_view(w), 0.0f, host_view(out));
    return out;
  }
  const Array<float> xa = be.upload(host_view(x)), wa = be.upload(host_view(w));
  Array<float> out(be, x.rows(), w.cols());
  be.gemm(Op::none, Op::none, 1.0f, xa, wa, 0.0f, out.view());
  return be.download(View<const float>(out));
}

RidgeCvResult ridge_cv(const Backend& be, const MatrixF& x, const MatrixF& y, const std::vector<int>& fold_of_row,
                       int n_folds, const std::vector<double>& alphas) {
  RidgeOptions opt;
  opt.alphas = alphas;
  return ridge_cv(be, x, y, fold_of_row, n_folds, opt);
}

}  // namespace brainsweep
