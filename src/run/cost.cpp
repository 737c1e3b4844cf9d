// Cost model of a work unit (counts of ridge_cv's kernels) and makespan prediction.
#include "brainsweep/cost.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <queue>
#include <random>

#include <cblas.h>
#include <lapacke.h>
#include <nlohmann/json.hpp>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/ridge.hpp"
#include "brainsweep/rsa_sweep.hpp"

namespace brainsweep {

UnitWork unit_work(const UnitShape& s) {
  // Counts what ridge_cv.cpp does in precision mixed (per phase: gram, decompose, cv, refit), then
  // the eval predictions; products in float32 count half (`f32`).
  UnitWork w;
  if (s.encoder_flops > 0) {  // libtorch float32 on small operands: counted at the float64 GEMM rate
    w.gemm_flops = s.encoder_flops;
    w.stream = 4.0 * static_cast<double>(s.n + s.n_eval) * static_cast<double>(s.p + s.t);
    return w;
  }
  if (s.rsa) {  // rsa.cpp's rsa_compare per ROI × comparison, all subjects at once (docs/metrics.md, Speed)
    const auto& r = *s.rsa;
    const double c = static_cast<double>(r.conditions), m = c * (c - 1) / 2, sub = static_cast<double>(r.subjects);
    const double b = static_cast<double>(r.bootstrap), q = static_cast<double>(r.permutations);
    const double rois = static_cast<double>(r.rois), lg = std::log2(std::max(2.0, m));
    w.stream += 4.0 * static_cast<double>(s.n) * static_cast<double>(s.p);  // the design rows, condition patterns
    w.gemm_flops += 2.0 * c * c * static_cast<double>(s.p);                 // the model RDM
    for (int k = 0; k < r.linear; ++k) {
      w.gemm_flops += rois * 2.0 * b * c * c * (3 + 3 * sub);  // counts × term matrices
      w.stream += rois * (b * c * (3 + 3 * sub) + q * m * (1 + sub));
    }
    for (int k = 0; k < r.ranked; ++k) w.stream += rois * (b * m * (2 * sub + 1) + q * m * (1 + sub));
    for (int k = 0; k < r.tau; ++k) w.stream += rois * (b + q) * m * sub * (2 + lg / 4);
    return w;
  }
  constexpr double f32 = 0.5;
  if (s.pls_components > 0) {  // pls.cpp's pls_cv, per subject: K fold fits and the refit
    const double n = static_cast<double>(s.n), p = static_cast<double>(s.p), ne = static_cast<double>(s.n_eval);
    const double subjects = static_cast<double>(std::max(1L, s.pls_subjects)), ts = static_cast<double>(s.t) / subjects;
    const double kc = static_cast<double>(std::min(s.pls_components, std::min(s.p, s.n - 1)));
    const double lo = std::min(p, ts), hi = std::max(p, ts), folds = std::max(1, s.folds);
    const double fits = folds + 1;
    w.stream += 4 * (n + ne) * p + 3 * (n + ne) * static_cast<double>(s.t);  // reading, standardising, casting
    w.stream += subjects * fits * (3 * n * p + 3 * n * ts);                   // float64 copies, centring, scaling
    w.gemm_flops += subjects * fits * 2 * n * p * ts;                        // M = XᵀY
    w.gemm_flops += subjects * fits * kc * 2 * lo * lo * hi;                 // each component's Gram of M
    w.eig_cubes += subjects * fits * kc * lo * lo * lo;                      // and its eigendecomposition
    // scores, deflation and M's update: vectorised float64 passes in cache, measured about 6× the
    // model's stream rate (which includes HDF5 reads and casts): Sherlock's PLS units, 10 shapes, 2026-12-05
    w.stream += subjects * fits * kc * (3 * n * p + 2 * n * ts + p * ts) / 6;
    w.gemm_flops += subjects * s.pls_options * 2 * n * p * ts;               // every count's held-out predictions
    w.gemm_flops += f32 * 2 * ne * p * static_cast<double>(s.t);            // eval predictions
    return w;
  }
  const double n = static_cast<double>(s.n), p = static_cast<double>(s.p), t = static_cast<double>(s.t);
  const double ne = static_cast<double>(s.n_eval), na = static_cast<double>(s.n_alphas);
  const int k = std::max(1, s.folds);
  // Reading, aligning, standardising and casting the design and targets (train and eval).
  w.stream += 4 * (n + ne) * p + 3 * (n + ne) * t;
  long max_val = 0;
  for (int f = 0; f < k; ++f) max_val = std::max(max_val, s.n / k + (f < s.n % k ? 1 : 0));
  const bool dual = s.p > s.n - max_val;  // as ridge_cv's solver "auto"
  if (!dual) {
    w.gemm_flops += 2 * n * p * p + f32 * 2 * n * p * t;  // G = XᵀX (float64), XᵀY (float32)
    w.eig_cubes += p * p * p;                             // the refit's decomposition
    w.gemm_flops += f32 * 4 * p * p * t;                  // refit: B and the weights
    w.stream += p * t;
  } else {
    w.gemm_flops += 2 * n * n * p;  // K = XXᵀ
    w.eig_cubes += n * n * n;
    w.gemm_flops += 4 * n * n * t + 2 * n * p * t;  // refit: UᵀY, U(...), W = Xᵀ(...)
    w.stream += n * t;
  }
  const bool folds_kept = keeps_fold_products(s.n, s.p, s.t, k, sizeof(float));
  const bool grams_kept = !dual && keeps_fold_grams(s.n, s.p, s.t, k, sizeof(double));
  for (int f = 0; f < k; ++f) {
    const long m = s.n / k + (f < s.n % k ? 1 : 0);
    const double nv = static_cast<double>(m);
    const double r = dual ? n - nv : p;  // rank of the fold's spectral basis
    const bool from_gram = grams_kept && moments_from_fold_gram(m, s.p);  // M = Vᵀ G_k V, no A
    w.eig_cubes += r * r * r;
    if (!dual) {
      if (grams_kept)
        w.stream += 2 * p * p;          // G − G_k (XᵀX above is the sum of the G_k)
      else
        w.gemm_flops += 2 * nv * p * p;  // fold Gram G − X_kᵀX_k
      if (!from_gram) w.gemm_flops += f32 * 2 * nv * p * p;        // A = X_k V
      w.gemm_flops += f32 * (2 * p * p * t + 2 * std::min(nv, p) * p * t);  // B = Vᵀ X₋ₖᵀY₋ₖ; H
      if (!folds_kept) w.gemm_flops += f32 * 2 * nv * p * t;       // X_kᵀY_k, unless kept
      w.stream += 2 * p * t + p * p;                               // X₋ₖᵀY₋ₖ; V to float32
    } else {
      w.stream += r * r + nv * r;                                  // blocks of K
      w.gemm_flops += 2 * nv * r * r + f32 * (2 * r * r * t + 2 * nv * r * t);  // A = K_k,train U; B = UᵀY; H
      w.stream += r * r;                                                        // U to float32
    }
    // Moment scoring (ridge.hpp): M (AᵀA, or Vᵀ G_k V) and C on the host per fold; per target C·B
    // and the alphas × r weighted sums, then Pearson r from the moments.
    w.gemm_flops += (from_gram ? 4 * p * p * p : 2 * nv * r * r) + 2 * r * r * t + 8 * na * r * t;
    w.stream += 3 * r * r + 5 * r * t + nv * t + 2 * na * t;  // terms b∘b, b∘u, b∘h; y moments
  }
  w.gemm_flops += f32 * 2 * ne * p * t;  // eval predictions
  return w;
}

double unit_seconds(const UnitShape& shape, const MachineRates& rates) {
  const UnitWork w = unit_work(shape);
  return rates.unit_overhead_s + w.gemm_flops / rates.gemm_flops_per_s + w.eig_cubes / rates.eig_cubes_per_s +
         w.stream / rates.stream_per_s;
}

std::vector<UnitShape> unit_shapes(const Plan& plan) {
  std::map<std::pair<std::string, std::string>, long> cols;  // (file, layer) → columns
  std::vector<UnitShape> out;
  std::optional<long> rsa_conditions;
  const std::vector<std::string> eval_eps = plan.eval_episodes();
  for (const auto& u : plan.units) {
    UnitShape s;
    s.folds = plan.folds;
    s.n_alphas = static_cast<int>(plan.alphas.size());
    const auto& runs = plan.fmri.at(u.subjects.front());
    for (const auto& ep : plan.train_of(u))
      s.n += runs.at(ep).n_tr - plan.exclude_start - plan.exclude_end;
    for (const auto& ep : eval_eps) s.n_eval += runs.at(ep).n_tr;
    for (const auto& sub : u.subjects) s.t += plan.fmri.at(sub).at(plan.train_of(u).front()).n_parcels;
    std::vector<FeatureBand> sources = u.bands;  // a banded set's bands, or the set itself
    if (u.encoder) sources = u.encoder->streams;
    if (sources.empty()) sources.push_back({u.model, u.layers});
    long c = 0;
    for (const auto& band : sources) {
      const std::string& file = plan.features.at(band.model).at(plan.train_of(u).front());
      for (const auto& layer : band.layers) {
        auto key = std::make_pair(file, layer);
        auto it = cols.find(key);
        if (it == cols.end()) {
          const h5::File f(file);
          const auto dims = f.shape(layer);
          it = cols.emplace(key, dims.size() == 2 ? static_cast<long>(dims[1]) : 1L).first;
        }
        c += it->second;
      }
    }
    s.p = c * u.stimulus_window;
    if (plan.rsa) {  // the RSA's conditions are the events' trial_types: read once (rsa_design_of)
      if (!rsa_conditions) rsa_conditions = static_cast<long>(rsa_design_of(plan).conditions.size());
      UnitShape::Rsa r;
      r.conditions = *rsa_conditions;
      r.rois = std::max<long>(1, static_cast<long>(plan.rsa->rois.size()));
      r.subjects = static_cast<long>(plan.subjects.size());
      r.bootstrap = plan.rsa->bootstrap;
      r.permutations = plan.rsa->permutations;
      for (const auto& cmp : plan.rsa->comparisons) {
        if (cmp == "spearman") ++r.ranked;
        else if (cmp == "tau-a") ++r.tau;
        else ++r.linear;  // corr, cosine; cka (O(n²) per resample and permutation, as their quadratic forms)
      }
      s.n += s.n_eval;
      s.rsa = r;
    }
    if (u.estimator == "pls" && plan.pls) {
      s.pls_components = *std::max_element(plan.pls->components.begin(), plan.pls->components.end());
      s.pls_subjects = static_cast<long>(u.subjects.size());
      s.pls_options = static_cast<int>(plan.pls->components.size());
    }
    if (u.encoder) {
      const EncoderConfig& e = *u.encoder;
      const double d = e.embed_dim, k = e.kernel_size > 1 ? e.kernel_size : 0;
      const double heads = (e.shared_head ? 1.0 : 0.0) + (e.subject_heads ? static_cast<double>(u.subjects.size()) : 0.0);
      const double per_tr = static_cast<double>(c) * d + static_cast<double>(e.streams.size()) * d * k +
                            heads * d * static_cast<double>(s.t) / static_cast<double>(u.subjects.size());
      const double steps = static_cast<double>(e.epochs) * std::ceil(static_cast<double>(e.num_samples) / e.batch_size);
      s.encoder_flops = 6.0 * steps * e.batch_size * e.sample_length * per_tr +
                        2.0 * e.epochs * static_cast<double>(s.n_eval) * per_tr;
    }
    out.push_back(s);
  }
  return out;
}

std::vector<int> largest_first(const std::vector<double>& seconds) {
  std::vector<int> order(seconds.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return seconds[a] > seconds[b]; });
  return order;
}

Makespan predict_makespan(const std::vector<double>& seconds, int ranks, bool dynamic) {
  if (ranks < 1) throw ConfigError("ranks: expected >= 1, found " + std::to_string(ranks));
  Makespan m;
  m.ranks = ranks;
  m.total_s = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  std::vector<double> busy(static_cast<size_t>(ranks), 0.0);
  if (dynamic) {
    // Min-heap of (time the rank becomes idle, rank): the idle rank takes the next unit.
    using Slot = std::pair<double, int>;
    std::priority_queue<Slot, std::vector<Slot>, std::greater<>> idle;
    for (int r = 0; r < ranks; ++r) idle.push({0.0, r});
    for (int i : largest_first(seconds)) {
      auto [at, r] = idle.top();
      idle.pop();
      busy[static_cast<size_t>(r)] = at + seconds[static_cast<size_t>(i)];
      idle.push({busy[static_cast<size_t>(r)], r});
    }
  } else {
    for (size_t i = 0; i < seconds.size(); ++i) busy[i % static_cast<size_t>(ranks)] += seconds[i];
  }
  m.makespan_s = *std::max_element(busy.begin(), busy.end());
  m.efficiency = m.makespan_s > 0 ? m.total_s / (ranks * m.makespan_s) : 1.0;
  return m;
}

MachineRates rates_from_json(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(fs::read_text(path));
  } catch (const nlohmann::json::exception& e) {
    throw DataError(path + ": not a rates file (JSON: " + std::string(e.what()) + ")");
  }
  if (!j.is_object()) throw DataError(path + ": expected a JSON object of rates");
  MachineRates r;
  auto num = [&](const char* key, double& out, bool required) {
    if (!j.contains(key)) {
      if (required) throw DataError(path + ": key '" + key + "' missing (bench/fit_cost_rates.py --json writes it)");
      return;
    }
    const auto& v = j.at(key);
    const double x = v.is_number() ? v.get<double>() : v.is_string() && v.get<std::string>() == "inf" ? INFINITY : NAN;
    if (!(x > 0) && !(std::string(key) == "unit_overhead_s" && x == 0))
      throw DataError(path + ": key '" + key + "': expected a number > 0 (or \"inf\"), found " + v.dump());
    out = x;
  };
  num("gemm_flops_per_s", r.gemm_flops_per_s, true);
  num("eig_cubes_per_s", r.eig_cubes_per_s, true);
  num("stream_per_s", r.stream_per_s, true);
  num("unit_overhead_s", r.unit_overhead_s, true);
  num("run_overhead_s", r.run_overhead_s, false);
  r.backend = j.value("backend", std::string("cpu"));
  if (r.backend != "cpu" && r.backend != "cuda")
    throw DataError(path + ": key 'backend': expected cpu or cuda, found '" + r.backend + "'");
  r.source = j.value("source", path);
  return r;
}

MachineRates calibrate_rates(long size) {
  using clock = std::chrono::steady_clock;
  // OpenBLAS and LAPACKE directly (what the CPU backend runs), so that calibration does not depend
  // on the backend interface.
  std::mt19937 rng(0);
  std::normal_distribution<double> normal;
  MatrixD a(size, size), b(size, size), c;
  for (long i = 0; i < a.size(); ++i) a.data()[i] = normal(rng), b.data()[i] = normal(rng);
  MachineRates r;
  auto time = [](auto&& f) {
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      const auto t0 = clock::now();
      f();
      best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count());
    }
    return best;
  };
  const double sz = static_cast<double>(size);
  const int n = static_cast<int>(size);
  c.resize(size, size);
  r.gemm_flops_per_s = 2 * sz * sz * sz / time([&] {
                         cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a.data(), n, b.data(), n,
                                     0.0, c.data(), n);
                       });
  MatrixD g(size, size);
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, 1.0, a.data(), n, a.data(), n, 0.0, g.data(), n);
  r.eig_cubes_per_s = sz * sz * sz / time([&] {
                        MatrixD m = g;
                        VectorD w(size);
                        if (LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, m.data(), n, w.data()) != 0)
                          throw NumericalError("calibrate_rates: LAPACKE_dsyevd failed");
                      });
  MatrixF x = a.cast<float>();
  r.stream_per_s = static_cast<double>(x.size()) / time([&] {
                     MatrixD y = x.cast<double>();
                     for (long i = 0; i < y.rows(); ++i) y.row(i) *= 0.5;
                     x = y.cast<float>();
                   });
  r.source = "measured by plan-cost --calibrate on this machine";
  return r;
}

}  // namespace brainsweep
