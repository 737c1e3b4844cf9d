// Weighted RSA (weighted_rsa.hpp; docs/metrics.md#weighted-rsa-brainsweep-wrsa).
#include "brainsweep/weighted_rsa.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <sstream>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/random.hpp"
#include "metrics_util.hpp"

namespace brainsweep {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::uint64_t kSubjectStream = 0x5EB1EC7, kConditionStream = 0xC0D1710;

// Fisher–Yates of 0 … n − 1 from stream `seed` (i = n − 1 … 1 swaps i with a draw in [0, i]), then
// position q dealt to fold q mod folds.
std::vector<long> deal(long n, long folds, std::uint64_t seed) {
  std::vector<long> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0L);
  for (long i = n - 1; i >= 1; --i)
    std::swap(order[static_cast<size_t>(i)],
              order[index_from_draw(splitmix64_at(seed, static_cast<std::uint64_t>(i)), static_cast<std::uint64_t>(i + 1))]);
  std::vector<long> fold(static_cast<size_t>(n));
  for (long q = 0; q < n; ++q) fold[static_cast<size_t>(order[static_cast<size_t>(q)])] = q % folds;
  return fold;
}

std::vector<long> members(const std::vector<long>& fold, long f, bool in) {
  std::vector<long> out;
  for (size_t i = 0; i < fold.size(); ++i)
    if ((fold[i] == f) == in) out.push_back(static_cast<long>(i));
  return out;
}

// Upper-triangle entries (i, j), i < j, with both conditions in `conds` (sorted).
std::vector<size_t> pairs_within(const std::vector<long>& conds, long n) {
  std::vector<size_t> out;
  for (size_t a = 0; a < conds.size(); ++a)
    for (size_t b = a + 1; b < conds.size(); ++b) {
      const long i = conds[a], j = conds[b];
      out.push_back(static_cast<size_t>(i * n - i * (i + 1) / 2 + j - i - 1));
    }
  return out;
}

std::vector<double> gather(const std::vector<double>& v, const std::vector<size_t>& idx) {
  std::vector<double> out(idx.size());
  for (size_t q = 0; q < idx.size(); ++q) out[q] = v[idx[q]];
  return out;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double a : v) s += a;
  return v.empty() ? kNaN : s / static_cast<double>(v.size());
}

double sem_of(const std::vector<double>& v) {
  if (v.size() < 2) return kNaN;
  const double m = mean_of(v);
  double ss = 0;
  for (double a : v) ss += (a - m) * (a - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1)) / std::sqrt(static_cast<double>(v.size()));
}

// The centred Gram matrix of vectors (k × k, Σ (x_a − x̄_a)(x_b − x̄_b)) and their means.
std::pair<MatrixD, Eigen::VectorXd> centred_gram(const std::vector<const std::vector<double>*>& v) {
  const long k = static_cast<long>(v.size());
  Eigen::VectorXd mean(k);
  for (long a = 0; a < k; ++a) mean(a) = mean_of(*v[static_cast<size_t>(a)]);
  MatrixD g(k, k);
  for (long a = 0; a < k; ++a)
    for (long b = a; b < k; ++b) {
      const auto& x = *v[static_cast<size_t>(a)];
      const auto& y = *v[static_cast<size_t>(b)];
      double s = 0;
      for (size_t q = 0; q < x.size(); ++q) s += (x[q] - mean(a)) * (y[q] - mean(b));
      g(a, b) = g(b, a) = s;
    }
  return {g, mean};
}

// A row's values per fold (similarity, its square, ceiling bounds) or a weight per fold.
struct Series {
  std::vector<double> similarity, squared, lower, upper, weight;
};

std::string to_string(WrsaFit f) { return f == WrsaFit::ols ? "ols" : "nnls"; }

}  // namespace

Eigen::VectorXd nnls_normal(const MatrixD& a, const Eigen::VectorXd& b) {
  const long k = b.size();
  if (a.rows() != k || a.cols() != k)
    throw DimensionMismatch(fmt::format("nnls_normal: A is {} × {}, b has {} entries", a.rows(), a.cols(), k));
  Eigen::VectorXd x = Eigen::VectorXd::Zero(k);
  std::vector<bool> passive(static_cast<size_t>(k), false);
  const double tol = 100 * std::numeric_limits<double>::epsilon() * std::max(1.0, b.cwiseAbs().maxCoeff());
  auto solve_passive = [&]() {
    std::vector<long> p;
    for (long i = 0; i < k; ++i)
      if (passive[static_cast<size_t>(i)]) p.push_back(i);
    MatrixD app(static_cast<long>(p.size()), static_cast<long>(p.size()));
    Eigen::VectorXd bp(static_cast<long>(p.size()));
    for (size_t r = 0; r < p.size(); ++r) {
      bp(static_cast<long>(r)) = b(p[r]);
      for (size_t c = 0; c < p.size(); ++c) app(static_cast<long>(r), static_cast<long>(c)) = a(p[r], p[c]);
    }
    const Eigen::VectorXd sp = app.completeOrthogonalDecomposition().solve(bp);
    Eigen::VectorXd s = Eigen::VectorXd::Zero(k);
    for (size_t r = 0; r < p.size(); ++r) s(p[r]) = sp(static_cast<long>(r));
    return s;
  };
  Eigen::VectorXd w = b - a * x;
  for (long iter = 0; iter < 3 * k + 10; ++iter) {
    long best = -1;
    for (long i = 0; i < k; ++i)
      if (!passive[static_cast<size_t>(i)] && w(i) > tol && (best < 0 || w(i) > w(best))) best = i;
    if (best < 0) break;
    passive[static_cast<size_t>(best)] = true;
    Eigen::VectorXd s = solve_passive();
    for (long inner = 0; inner < k + 1; ++inner) {
      bool negative = false;
      double step = 1;
      long leave = -1;
      for (long i = 0; i < k; ++i)
        if (passive[static_cast<size_t>(i)] && s(i) <= 0) {
          negative = true;
          const double t = x(i) / (x(i) - s(i));
          if (leave < 0 || t < step) step = t, leave = i;
        }
      if (!negative) break;
      x += step * (s - x);
      for (long i = 0; i < k; ++i)
        if (passive[static_cast<size_t>(i)] && (i == leave || x(i) <= 0)) passive[static_cast<size_t>(i)] = false, x(i) = 0;
      s = solve_passive();
    }
    x = s;
    w = b - a * x;
  }
  return x;
}

Eigen::VectorXd wrsa_weights(const MatrixD& gram, const Eigen::VectorXd& b, WrsaFit fit, double ridge_weight) {
  if (gram.rows() != b.size() || gram.cols() != b.size())
    throw DimensionMismatch(fmt::format("wrsa_weights: a {} × {} Gram matrix, {} entries of Xᵀy", gram.rows(), gram.cols(), b.size()));
  MatrixD a = gram;
  a.diagonal().array() += ridge_weight;
  // ols: the minimum-norm solution of the normal equations (that of least squares) where models are
  // collinear; nnls: Lawson–Hanson on the same normal equations
  Eigen::VectorXd theta = fit == WrsaFit::ols ? Eigen::VectorXd(a.completeOrthogonalDecomposition().solve(b))
                                              : nnls_normal(a, b);
  const double norm = theta.norm();
  return norm > 0 ? Eigen::VectorXd(theta / norm) : theta;
}

std::vector<WrsaFold> wrsa_folds(long subjects, long conditions, WrsaCv cv, long subject_folds, long stimulus_folds,
                                 std::uint64_t seed) {
  if (subjects < 2)
    throw ConfigError(fmt::format("wrsa: {} subject; the cross-validation and its noise ceiling need at least 2", subjects));
  const bool by_subject = cv != WrsaCv::stimuli, by_condition = cv != WrsaCv::subjects;
  const long n_subject_folds = by_subject ? (subject_folds == 0 ? subjects : subject_folds) : 1;
  const long fc = by_condition ? stimulus_folds : 1;
  if (by_subject && (n_subject_folds < 2 || n_subject_folds > subjects))
    throw ConfigError(fmt::format("--subject-folds: expected 2 … {} (the ROI's subjects), found {}", subjects, n_subject_folds));
  if (by_condition && fc < 2) throw ConfigError(fmt::format("--stimulus-folds: expected at least 2, found {}", fc));
  if (by_condition && conditions / fc < 3)
    throw ConfigError(fmt::format("--stimulus-folds {}: {} conditions leave a fold {} (expected at least 3 conditions "
                                  "per fold: at most {} folds)", fc, conditions, conditions / fc, conditions / 3));
  std::vector<long> sfold(static_cast<size_t>(subjects), 0), cfold(static_cast<size_t>(conditions), 0);
  if (by_subject) {
    if (n_subject_folds == subjects) std::iota(sfold.begin(), sfold.end(), 0L);
    else sfold = deal(subjects, n_subject_folds, seed ^ kSubjectStream);
  }
  if (by_condition) cfold = deal(conditions, fc, seed ^ kConditionStream);
  std::vector<long> all_s(static_cast<size_t>(subjects)), all_c(static_cast<size_t>(conditions));
  std::iota(all_s.begin(), all_s.end(), 0L);
  std::iota(all_c.begin(), all_c.end(), 0L);
  std::vector<WrsaFold> folds;
  for (long a = 0; a < n_subject_folds; ++a)
    for (long b = 0; b < fc; ++b)
      folds.push_back({by_subject ? members(sfold, a, false) : all_s, by_subject ? members(sfold, a, true) : all_s,
                       by_condition ? members(cfold, b, false) : all_c, by_condition ? members(cfold, b, true) : all_c});
  return folds;
}

void run_wrsa_command(const WrsaCommand& c, std::ostream& report) {
  if (std::filesystem::exists(c.out)) throw ConfigError("--out " + c.out + ": exists; refusing to overwrite it");
  fs::check_output_parent(c.out, "--out");
  std::vector<WrsaFit> fits;
  for (const auto& f : c.fits) {
    if (f == "ols") fits.push_back(WrsaFit::ols);
    else if (f == "nnls") fits.push_back(WrsaFit::nnls);
    else throw ConfigError(fmt::format("--fit: expected ols or nnls (comma-separated), found '{}'", f));
  }
  if (fits.empty()) throw ConfigError("--fit: give ols, nnls or both");
  const WrsaCv cv = c.cv == "subjects" ? WrsaCv::subjects : c.cv == "stimuli" ? WrsaCv::stimuli
                    : c.cv == "both"   ? WrsaCv::both
                                       : throw ConfigError(fmt::format("--cv: expected subjects, stimuli or both, found '{}'", c.cv));
  if (!(c.ridge_weight >= 0)) throw ConfigError(fmt::format("--ridge-weight: expected ≥ 0, found {}", c.ridge_weight));
  const RsaInputs in = read_rsa_inputs(c.input);
  const auto& models = in.models;
  for (const auto& m : models) {
    const auto [lo, hi] = std::minmax_element(m.rdm.v.begin(), m.rdm.v.end());
    if (*lo == *hi)
      throw DataError(fmt::format("{}: model '{}' is a constant RDM (it cannot be weighted: leave it out)", c.input.rdms, m.name));
  }
  const long n = models.front().rdm.n;
  const long k = static_cast<long>(models.size());
  for (const auto& roi : in.rois)
    if (roi.rdms.size() < 2)
      throw ConfigError(fmt::format("--brain {}: {} subject ({}); weighted RSA's cross-validation and noise ceiling need "
                                    "at least 2", roi.name, roi.rdms.size(), roi.subjects.front()));
  std::vector<std::vector<WrsaFold>> roi_folds;  // every ROI checked before anything is computed
  for (const auto& roi : in.rois)
    roi_folds.push_back(wrsa_folds(static_cast<long>(roi.rdms.size()), n, cv, c.subject_folds, c.stimulus_folds, c.seed));

  using metrics::csv_number;
  using metrics::csv_text;
  const auto t0 = std::chrono::steady_clock::now();  // the RDMs are read: the fits and scores from here
  std::ostringstream csv;
  csv << kWrsaColumns << "\n";
  for (size_t r = 0; r < in.rois.size(); ++r) {
    const RsaRoi& roi = in.rois[r];
    const auto& folds = roi_folds[r];
    std::vector<Series> mixture(fits.size()), single(static_cast<size_t>(k));
    std::vector<std::vector<Series>> weights(fits.size(), std::vector<Series>(static_cast<size_t>(k)));
    Series ceiling;
    // Folds of subjects keep every pair: their fits and scores come from moments computed once, the
    // models' centred Gram G, Dz = Σ (d_k − d̄_k) z_s and Zz = Σ z_s z_t over the pairs (z_s the subject's
    // RDM z-scored, ddof 0, as pool_rdm 'corr' takes it). A pool of a set of subjects is Σ z_t (its
    // mean's shift and scale do not change a centred fit or a Pearson r), so b = Σ_{t∈train} Dz[:, t],
    // r(mixture θ, s) = θᵀDz[:, s] / √(θᵀGθ · Zz[s, s]), r(pool L, s) = Σ_{t∈L} Zz[t, s] /
    // √(Σ_{t,u∈L} Zz[t, u] · Zz[s, s]): O(k² + S²) per fold instead of passes over the pairs.
    const long ns = static_cast<long>(roi.rdms.size());
    MatrixD gram_full, dz, zz;
    if (cv == WrsaCv::subjects) {
      std::vector<const std::vector<double>*> all_models;
      for (const auto& m : models) all_models.push_back(&m.rdm.v);
      Eigen::VectorXd mean;
      std::tie(gram_full, mean) = centred_gram(all_models);
      const size_t np = roi.rdms.front().v.size();
      MatrixD z(ns, static_cast<long>(np)), dc(k, static_cast<long>(np));
      for (long s = 0; s < ns; ++s) {
        const auto& v = roi.rdms[static_cast<size_t>(s)].v;
        const double mu = mean_of(v);
        double ss = 0;
        for (double a : v) ss += (a - mu) * (a - mu);
        const double sd = std::sqrt(ss / static_cast<double>(np));
        for (size_t q = 0; q < np; ++q) z(s, static_cast<long>(q)) = sd > 0 ? (v[q] - mu) / sd : 0.0;
      }
      for (long m = 0; m < k; ++m)
        for (size_t q = 0; q < np; ++q) dc(m, static_cast<long>(q)) = models[static_cast<size_t>(m)].rdm.v[q] - mean(m);
      dz = dc * z.transpose();
      zz = z * z.transpose();
    }
    auto pearson_of = [](double cov, double var_a, double var_b) {
      return var_a > 0 && var_b > 0 ? cov / std::sqrt(var_a * var_b) : kNaN;
    };
    auto pool_r = [&](const std::vector<long>& set, long s) {  // r(pool of `set`, subject s) from Zz
      double num = 0, var = 0;
      for (long t : set) {
        num += zz(t, s);
        for (long u : set) var += zz(t, u);
      }
      return pearson_of(num, var, zz(s, s));
    };
    std::vector<long> everyone(static_cast<size_t>(ns));
    std::iota(everyone.begin(), everyone.end(), 0L);
    for (const WrsaFold& fold : folds) {
      const double nt = static_cast<double>(fold.test_subjects.size());
      auto add_scores = [&](Series& out, const std::vector<double>& r_of_test) {
        double sr = 0, sr2 = 0;
        for (double r : r_of_test) sr += r, sr2 += r * r;
        out.similarity.push_back(sr / nt);
        out.squared.push_back(sr2 / nt);
      };
      if (cv == WrsaCv::subjects) {
        Eigen::VectorXd b = Eigen::VectorXd::Zero(k);
        for (long t : fold.train_subjects) b += dz.col(t);
        for (size_t f = 0; f < fits.size(); ++f) {
          const Eigen::VectorXd theta = wrsa_weights(gram_full, b, fits[f], c.ridge_weight);
          const double var = theta.dot(gram_full * theta);
          std::vector<double> r;
          for (long s : fold.test_subjects) r.push_back(pearson_of(theta.dot(dz.col(s)), var, zz(s, s)));
          add_scores(mixture[f], r);
          for (long m = 0; m < k; ++m) weights[f][static_cast<size_t>(m)].weight.push_back(theta(m));
        }
        for (long m = 0; m < k; ++m) {
          std::vector<double> r;
          for (long s : fold.test_subjects) r.push_back(pearson_of(dz(m, s), gram_full(m, m), zz(s, s)));
          add_scores(single[static_cast<size_t>(m)], r);
        }
        double lo = 0, hi = 0;
        for (long s : fold.test_subjects) {
          std::vector<long> others;
          for (long t : fold.train_subjects)
            if (t != s) others.push_back(t);
          lo += pool_r(others, s);
          hi += pool_r(everyone, s);
        }
        ceiling.lower.push_back(lo / nt);
        ceiling.upper.push_back(hi / nt);
        continue;
      }
      // Folds of conditions: every vector on the fold's training and test pairs
      const auto train = pairs_within(fold.train_conditions, n), test = pairs_within(fold.test_conditions, n);
      std::vector<std::vector<double>> train_subj, test_subj, train_m, test_m;
      for (const auto& s : roi.rdms) train_subj.push_back(gather(s.v, train)), test_subj.push_back(gather(s.v, test));
      for (const auto& m : models) train_m.push_back(gather(m.rdm.v, train)), test_m.push_back(gather(m.rdm.v, test));
      auto pool_of = [&](const std::vector<long>& set, const std::vector<std::vector<double>>& vectors) {
        std::vector<const std::vector<double>*> vs;
        for (long s : set) vs.push_back(&vectors[static_cast<size_t>(s)]);
        return pool_rdms(vs, Comparison::corr);
      };
      const std::vector<double> target = pool_of(fold.train_subjects, train_subj);
      std::vector<const std::vector<double>*> train_ptr;
      for (const auto& v : train_m) train_ptr.push_back(&v);
      const auto [gram, mean] = centred_gram(train_ptr);
      const double y_mean = mean_of(target);
      Eigen::VectorXd b(k);
      for (long m = 0; m < k; ++m) {
        const auto& v = train_m[static_cast<size_t>(m)];
        double dot = 0;
        for (size_t q = 0; q < v.size(); ++q) dot += (v[q] - mean(m)) * (target[q] - y_mean);
        b(m) = dot;
      }
      auto r_with_test = [&](const std::vector<double>& pred) {
        std::vector<double> r;
        for (long s : fold.test_subjects) r.push_back(compare_rdms(pred, test_subj[static_cast<size_t>(s)], Comparison::corr));
        return r;
      };
      std::vector<double> pred(test.size());
      for (size_t f = 0; f < fits.size(); ++f) {
        const Eigen::VectorXd theta = wrsa_weights(gram, b, fits[f], c.ridge_weight);
        std::fill(pred.begin(), pred.end(), 0.0);
        for (long m = 0; m < k; ++m)
          for (size_t q = 0; q < pred.size(); ++q) pred[q] += theta(m) * test_m[static_cast<size_t>(m)][q];
        add_scores(mixture[f], r_with_test(pred));
        for (long m = 0; m < k; ++m) weights[f][static_cast<size_t>(m)].weight.push_back(theta(m));
      }
      for (long m = 0; m < k; ++m) add_scores(single[static_cast<size_t>(m)], r_with_test(test_m[static_cast<size_t>(m)]));
      // the ceiling on the same test pairs: lower pools the training subjects other than s, upper all
      const std::vector<double> upper_pool = pool_of(everyone, test_subj);
      double lo = 0, hi = 0;
      for (long s : fold.test_subjects) {
        std::vector<long> others;
        for (long t : fold.train_subjects)
          if (t != s) others.push_back(t);
        lo += compare_rdms(pool_of(others, test_subj), test_subj[static_cast<size_t>(s)], Comparison::corr);
        hi += compare_rdms(upper_pool, test_subj[static_cast<size_t>(s)], Comparison::corr);
      }
      ceiling.lower.push_back(lo / nt);
      ceiling.upper.push_back(hi / nt);
    }

    // rows: per fold, then the mean over folds
    auto rows = [&](const std::string& model, const std::string& fit, const Series& s, bool weight_row) {
      for (size_t f = 0; f <= folds.size(); ++f) {
        const bool mean = f == folds.size();
        auto at = [&](const std::vector<double>& v) { return v.empty() ? kNaN : mean ? mean_of(v) : v[f]; };
        // a weight row carries the weight only; a score row its scores and the fold's ceiling
        const double sim = weight_row ? kNaN : at(s.similarity), lower = weight_row ? kNaN : at(ceiling.lower);
        const double sem = mean && !weight_row ? sem_of(s.similarity) : kNaN;
        std::string counts = ",,,";
        if (!mean) {
          const WrsaFold& fd = folds[f];
          counts = fmt::format("{},{},{},{}", fd.train_subjects.size(), fd.test_subjects.size(), fd.train_conditions.size(),
                               fd.test_conditions.size());
        }
        csv << fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_text(roi.name), csv_text(model), fit, c.cv,
                           mean ? std::string("mean") : std::to_string(f), csv_number(weight_row ? at(s.weight) : kNaN),
                           csv_number(sim), csv_number(weight_row ? kNaN : at(s.squared)), csv_number(sem),
                           csv_number(lower), csv_number(weight_row ? kNaN : at(ceiling.upper)),
                           csv_number(weight_row ? kNaN : 100 * sim / lower), counts, c.seed);
      }
    };
    for (size_t f = 0; f < fits.size(); ++f) {
      rows("weighted", to_string(fits[f]), mixture[f], false);
      for (long m = 0; m < k; ++m) rows(models[static_cast<size_t>(m)].name, to_string(fits[f]), weights[f][static_cast<size_t>(m)], true);
    }
    for (long m = 0; m < k; ++m) rows(models[static_cast<size_t>(m)].name, "single", single[static_cast<size_t>(m)], false);

    // report: the mixtures and the single models ranked by their mean r, against the ceiling
    const double lower = mean_of(ceiling.lower), upper = mean_of(ceiling.upper);
    const std::string design = cv == WrsaCv::subjects ? fmt::format("{} folds of subjects", folds.size())
                               : cv == WrsaCv::stimuli ? fmt::format("{} folds of conditions", folds.size())
                                                       : fmt::format("{} folds (subjects × conditions)", folds.size());
    report << fmt::format("{} ({} subjects, {} conditions, {} models), cv {}: {}; noise ceiling in the same folds [{:.4f}, {:.4f}]\n",
                          roi.name, roi.rdms.size(), n, k, c.cv, design, lower, upper);
    std::vector<std::pair<double, std::string>> ranking;
    auto line = [&](const std::string& name, const Series& s) {
      const double m = mean_of(s.similarity);
      ranking.emplace_back(m, fmt::format("{:<34} {:>8} {:>8} {:>8}", name, std::isnan(m) ? "NaN" : fmt::format("{:.4f}", m),
                                          std::isnan(sem_of(s.similarity)) ? "-" : fmt::format("{:.4f}", sem_of(s.similarity)),
                                          std::isnan(m) ? "-" : fmt::format("{:.1f}", 100 * m / lower)));
    };
    for (size_t f = 0; f < fits.size(); ++f) line("weighted (" + to_string(fits[f]) + ")", mixture[f]);
    for (long m = 0; m < k; ++m) line(models[static_cast<size_t>(m)].name, single[static_cast<size_t>(m)]);
    std::stable_sort(ranking.begin(), ranking.end(), [](const auto& a, const auto& b) {
      return !std::isnan(a.first) && (std::isnan(b.first) || a.first > b.first);
    });
    report << fmt::format("  {:<34} {:>8} {:>8} {:>8}\n", "model", "mean r", "sem", "% lower");
    for (const auto& [score, text] : ranking) report << "  " << text << "\n";
    for (size_t f = 0; f < fits.size(); ++f) {
      std::vector<std::string> parts;
      for (long m = 0; m < k; ++m)
        parts.push_back(fmt::format("{} {:.3f}", models[static_cast<size_t>(m)].name, mean_of(weights[f][static_cast<size_t>(m)].weight)));
      report << fmt::format("  mean weights ({}): {}\n", to_string(fits[f]), fmt::join(parts, ", "));
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fs::write_text_atomic(c.out, csv.str());
  report << fmt::format("wrote {} (folds fitted and scored in {:.4f} s)\n", c.out, seconds);
}

}  // namespace brainsweep
