// Ridge engine benchmark (issue #3): prints, per workload, the time and GFLOP/s of each phase,
// the fit time (median of repeats), peak RSS, and for W1 the agreement with a float64 reference.
// Not a test: figures are for docs/performance.md. Usage:
//   brainsweep_bench [--workload W1|W2|W3|all|S] [--threads N] [--repeats R] [--backend cpu|cuda]
//                    [--share-p 1024,2048,3072 --share-n 20000 --share-t 1000 (S: 1 vs 4 subjects)]
//                    [--scale S (shrinks every size by S, for smoke runs)] [--primal-too]
//                    [--no-reference] [--precision mixed|float32|float64] [--decompositions N (at once; 0 = auto)]
//                    [--save-h5 DIR (writes DIR/<workload>.h5 with /X /Y /Xt /Yt for `brainsweep ridge`)]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "brainsweep/backend.hpp"
#include "brainsweep/blas_core.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/ridge.hpp"

namespace bs = brainsweep;

namespace {

struct Workload {
  std::string name;
  long n_train, n_test, p, t;
};

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

/// Design with a power-law spectrum (column scale (i + 1)^-1/2, so eigenvalues fall as 1/i) and
/// targets X β + noise with SNR varied log-uniformly over two decades across targets.
void make_data(const Workload& w, bs::MatrixF& x, bs::MatrixF& y, bs::MatrixF& xt, bs::MatrixF& yt) {
  std::mt19937_64 rng(20251122);
  std::normal_distribution<float> nd;
  const long n = w.n_train + w.n_test;
  bs::MatrixF xa(n, w.p);
  for (long i = 0; i < n; ++i)
    for (long j = 0; j < w.p; ++j) xa(i, j) = nd(rng) / std::sqrt(static_cast<float>(j + 1));
  bs::MatrixF beta(w.p, w.t);
  for (long i = 0; i < beta.size(); ++i) beta.data()[i] = nd(rng);
  bs::MatrixF ya(n, w.t);
  const auto be = bs::make_backend("cpu");
  be->gemm(bs::Op::none, bs::Op::none, 1.0f, bs::host_view(std::as_const(xa)), bs::host_view(std::as_const(beta)), 0.0f,
           bs::host_view(ya));
  for (long j = 0; j < w.t; ++j) {
    const double sd = std::sqrt(ya.col(j).squaredNorm() / n);
    const float noise = static_cast<float>(sd * std::pow(10.0, -1.0 + 2.0 * j / std::max(1L, w.t - 1)));
    for (long i = 0; i < n; ++i) ya(i, j) += noise * nd(rng);
  }
  x = xa.topRows(w.n_train);
  xt = xa.bottomRows(w.n_test);
  y = ya.topRows(w.n_train);
  yt = ya.bottomRows(w.n_test);
  const auto stats = bs::column_stats(x);
  bs::standardize(x, stats);
  bs::standardize(xt, stats);
  const Eigen::RowVectorXf mean = y.colwise().mean();
  y.rowwise() -= mean;
  yt.rowwise() -= mean;
}

bs::RidgeCvResult timed_fit(const bs::Backend& be, const bs::MatrixF& x, const bs::MatrixF& y, const bs::RidgeOptions& o,
                            int repeats, double& median_s) {
  std::vector<double> times;
  bs::RidgeCvResult res;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    res = bs::ridge_cv(be, x, y, bs::fold_assignment({x.rows()}, 5), 5, o);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  median_s = times[times.size() / 2];
  return res;
}

/// The backend's own rates, measured in this run (issue #24: every phase's rate beside the limit):
/// SGEMM and DGEMM of n × n matrices, dsyevd (eigenvectors) of an m × m symmetric matrix counted as
/// ridge_cv counts a decomposition (9m³), each the best of 3 after a warm-up, in the backend's memory.
struct Peaks {
  double sgemm = 0, dgemm = 0, syevd = 0;  // GFLOP/s
  long n = 0, m = 0;
};

template <class T>
double gemm_rate(const bs::Backend& be, long n) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> nd;
  std::vector<T> host(static_cast<size_t>(n * n));
  for (auto& v : host) v = static_cast<T>(nd(rng));
  bs::Array<T> a(be, n, n), c(be, n, n);
  be.copy(a.view().data, be.space(), host.data(), bs::Space::host, host.size() * sizeof(T));
  double best = 1e300;
  for (int r = 0; r < 4; ++r) {  // the first is a warm-up
    be.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    be.gemm(bs::Op::none, bs::Op::trans, T(1), a, a, T(0), c);
    be.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) best = std::min(best, s);
  }
  return 2.0 * n * n * n * 1e-9 / best;
}

double syevd_rate(const bs::Backend& be, long m) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> nd;
  bs::MatrixD r(m, m);
  for (long i = 0; i < m; ++i)
    for (long j = 0; j < m; ++j) r(i, j) = nd(rng);
  const bs::MatrixD host = r * r.transpose() / static_cast<double>(m) + bs::MatrixD::Identity(m, m);
  bs::Array<double> a(be, m, m), w(be, 1, m);
  double best = 1e300;
  for (int k = 0; k < 4; ++k) {
    be.copy(a.view().data, be.space(), host.data(), bs::Space::host, static_cast<size_t>(m * m) * sizeof(double));
    be.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    be.syevd(a.view(), w.view());
    be.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (k > 0) best = std::min(best, s);
  }
  return 9.0 * m * m * m * 1e-9 / best;
}

Peaks measure_peaks(const bs::Backend& be, long n, long m) {
  Peaks p;
  p.n = n, p.m = m;
  p.sgemm = gemm_rate<float>(be, n);
  p.dgemm = gemm_rate<double>(be, n);
  p.syevd = syevd_rate(be, m);
  fmt::print("peak (measured in this run on {}): SGEMM {:.0f} GFLOP/s, DGEMM {:.0f} GFLOP/s (n {}), dsyevd {:.0f} "
             "GFLOP/s (m {}, 9m³ flops)\n", be.name(), p.sgemm, p.dgemm, n, p.syevd, m);
  return p;
}

Peaks g_peaks;           // zero: not measured (--no-peak)
bool g_float64 = false;  // the timed fits' products in float64 (else float32, mixed precision)

void print_phases(const std::string& label, const bs::RidgeCvResult& r, double median_s) {
  const auto& t = r.timings;
  // Gram matrices in float64; decompositions against dsyevd; the CV's and refit's products in the
  // precision of the fit (mixed: float32 with the targets)
  auto ph = [](const char* name, double s, double gf, double peak) {
    const double rate = s > 0 ? gf / s : 0.0;
    return peak > 0 ? fmt::format("{} {:.3f} s ({:.0f} GFLOP/s, {:.0f} % of peak)", name, s, rate, 100 * rate / peak)
                    : fmt::format("{} {:.3f} s ({:.0f} GFLOP/s)", name, s, rate);
  };
  const double products = g_float64 ? g_peaks.dgemm : g_peaks.sgemm;
  fmt::print("  {:<26} fit {:.3f} s median | {} | {} | {} | {} | solver {}\n", label, median_s,
             ph("gram", t.gram_s, t.gram_gflop, g_peaks.dgemm), ph("decompose", t.decompose_s, t.decompose_gflop, g_peaks.syevd),
             ph("cv", t.cv_s, t.cv_gflop, products), ph("refit", t.refit_s, t.refit_gflop, products), r.solver);
}

}  // namespace

int main(int argc, char** argv) {
  brainsweep::restart_with_corrected_blas_core(argv);
  CLI::App app{"brainsweep ridge benchmark (issue #3 workloads W1, W2, W3)"};
  std::string which = "all", backend = "cpu";
  int threads = 2, repeats = 3;
  double scale = 1.0;
  bool primal_too = false, no_reference = false;
  std::string save_dir, precision = "mixed";
  int decompositions = 0;
  bool no_peak = false;
  long peak_n = 0, peak_m = 0;
  app.add_option("--workload", which, "W1, W2, W3, all, or S (subjects sharing a unit)")->capture_default_str();
  app.add_option("--threads", threads, "BLAS threads")->capture_default_str();
  app.add_option("--repeats", repeats, "fits per workload (median reported)")->capture_default_str();
  app.add_option("--backend", backend, "cpu or cuda")->capture_default_str();
  app.add_option("--scale", scale, "divide every size by this (smoke runs)")->capture_default_str();
  app.add_flag("--no-reference", no_reference, "W1: skip the float64 reference fit and the agreement");
  app.add_flag("--primal-too", primal_too, "W2: also time the primal solver (slow: eig of a p × p matrix)");
  app.add_option("--precision", precision, "precision of the timed fits (W1 compares it with float64)")
      ->capture_default_str();
  app.add_option("--decompositions", decompositions,
                 "eigendecompositions run at once (0: one per BLAS thread; 1: one at a time on all threads)")
      ->capture_default_str();
  app.add_flag("--no-peak", no_peak, "skip measuring the backend's SGEMM, DGEMM and dsyevd rates (each phase's % of peak)");
  app.add_option("--peak-n", peak_n, "size of the peak GEMMs (default 8192 on cuda, 2048 on cpu, divided by --scale)");
  app.add_option("--peak-m", peak_m, "size of the peak dsyevd (default 4096 on cuda, 768 on cpu, divided by --scale)");
  std::vector<long> share_p{1024, 2048, 3072};
  long share_n = 20000, share_t = 1000;
  app.add_option("--share-p", share_p, "S: design widths to run")->delimiter(',')->capture_default_str();
  app.add_option("--share-n", share_n, "S: training rows")->capture_default_str();
  app.add_option("--share-t", share_t, "S: targets (parcels) per subject")->capture_default_str();
  app.add_option("--save-h5", save_dir,
                 "write DIR/<workload>.h5 (/X, /Y, /Xt, /Yt, float32) and exit, for `brainsweep ridge`")
      ->check(CLI::ExistingDirectory);  // checked first: a missing DIR aborted after the data were made
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints the message (or --help)
    return code == 0 ? 0 : 2;      // usage errors: exit 2, as brainsweep's
  }

  const auto be = bs::make_backend(backend, threads);
  std::vector<double> alphas;
  for (int i = 0; i < 13; ++i) alphas.push_back(std::pow(10.0, 0.5 * i));  // logspace(0, 6, 13)
  auto sz = [&](long v) { return std::max(8L, static_cast<long>(v / scale)); };
  const std::vector<Workload> all{{"W1", sz(5000), sz(1000), sz(2048), sz(1000)},
                                  {"W2", sz(2000), sz(1000), sz(20000), sz(1000)},
                                  {"W3", sz(5000), sz(1000), sz(1024), sz(100000)}};
  fmt::print("brainsweep_bench: backend {}, {} BLAS threads, 5 contiguous folds, 13 alphas logspace(0, 6)\n",
             be->name(), threads);
  if (backend == "cpu") fmt::print("BLAS: {}\n", brainsweep::blas_description());
  g_float64 = precision == "float64";
  if (!no_peak)
    g_peaks = measure_peaks(*be, sz(peak_n > 0 ? peak_n : backend == "cuda" ? 8192 : 2048),
                            sz(peak_m > 0 ? peak_m : backend == "cuda" ? 4096 : 768));
  if (which == "S") {
    // Subjects sharing a unit (issue #4): one design, the parcels of 1 and of 4 subjects fitted
    // together, with the sweep's default grid (17 alphas 10^-1 … 10^7); the ratio of fit times.
    std::vector<double> grid;
    for (int i = 0; i < 17; ++i) grid.push_back(std::pow(10.0, -1.0 + 0.5 * i));
    fmt::print("S: subjects sharing a unit; n_train {}, {} targets per subject, 17 alphas 10^-1 … 10^7\n", share_n,
               share_t);
    for (const long p : share_p) {
      bs::MatrixF x, y, xt, yt;
      make_data({"S", share_n, 8, p, 4 * share_t}, x, y, xt, yt);
      bs::RidgeOptions o;
      o.alphas = grid;
      o.precision = bs::parse_precision(precision, true);
      o.concurrent_decompositions = decompositions;
      const bs::MatrixF y1 = y.leftCols(share_t);
      // Alternating fits (1, 4, 1, 4, ...), so that a change of machine load hits both alike.
      std::vector<double> t1, t4;
      bs::RidgeCvResult r1, r4;
      std::string pairs;
      for (int rep = 0; rep < repeats; ++rep) {
        double s1 = 0, s4 = 0;
        r1 = timed_fit(*be, x, y1, o, 1, s1);
        print_phases(fmt::format("p {} × 1 subject", p), r1, s1);
        r4 = timed_fit(*be, x, y, o, 1, s4);
        print_phases(fmt::format("p {} × 4 subjects", p), r4, s4);
        t1.push_back(s1);
        t4.push_back(s4);
        pairs += fmt::format(" {:.2f}", s4 / s1);
      }
      std::sort(t1.begin(), t1.end());
      std::sort(t4.begin(), t4.end());
      const double m1 = t1[t1.size() / 2], m4 = t4[t4.size() / 2];
      long same = 0;
      for (long j = 0; j < share_t; ++j) same += r1.alpha[static_cast<size_t>(j)] == r4.alpha[static_cast<size_t>(j)];
      fmt::print("  p {}: 1 subject {:.2f} s, 4 subjects {:.2f} s (medians of {}); ratio per pair{}; ratio of medians "
                 "{:.2f} (target <= 1.5); subject 1's alphas identical in both: {}/{}\n",
                 p, m1, m4, repeats, pairs, m4 / m1, same, share_t);
      std::fflush(stdout);
    }
    fmt::print("  peak RSS: {:.0f} MB\n", peak_rss_mb());
    return 0;
  }
  for (const auto& w : all) {
    if (which != "all" && which != w.name) continue;
    bs::MatrixF x, y, xt, yt;
    make_data(w, x, y, xt, yt);
    if (!save_dir.empty()) {
      const std::string path = save_dir + "/" + w.name + ".h5";
      bs::h5::File f(path, bs::h5::File::Mode::truncate);
      f.write_f32("X", x.data(), x.rows(), x.cols());
      f.write_f32("Y", y.data(), y.rows(), y.cols());
      f.write_f32("Xt", xt.data(), xt.rows(), xt.cols());
      f.write_f32("Yt", yt.data(), yt.rows(), yt.cols());
      fmt::print("{}: wrote {}\n", w.name, path);
      continue;
    }
    fmt::print("{}: n_train {}, n_test {}, p {}, t {}\n", w.name, w.n_train, w.n_test, w.p, w.t);
    bs::RidgeOptions o;
    o.alphas = alphas;
    o.precision = bs::parse_precision(precision, true);
    o.concurrent_decompositions = decompositions;
    double med = 0;
    const auto res = timed_fit(*be, x, y, o, w.name == "W3" ? 1 : repeats, med);
    print_phases(precision == "mixed" ? "mixed precision (default)" : precision, res, med);
    fmt::print("  peak RSS after these fits: {:.0f} MB\n", peak_rss_mb());
    if (w.name == "W1" && !no_reference) {
      o.precision = bs::Precision::float64;
      double med64 = 0;
      const auto ref = timed_fit(*be, x, y, o, 1, med64);
      g_float64 = true;  // its products in float64
      print_phases("float64 reference", ref, med64);
      g_float64 = precision == "float64";
      long same = 0;
      for (size_t j = 0; j < res.alpha.size(); ++j) same += res.alpha[j] == ref.alpha[j];
      const auto r = bs::column_pearson(bs::predict(*be, xt, res.weights), yt);
      const auto r64 = bs::column_pearson(bs::predict(*be, xt, ref.weights), yt);
      double dr = 0;
      for (size_t j = 0; j < r.size(); ++j) dr = std::max(dr, std::abs(r[j] - r64[j]));
      fmt::print("  agreement with float64: alphas identical on {:.2f} % of targets, max |test r diff| {:.2e}\n",
                 100.0 * same / res.alpha.size(), dr);
      o.precision = bs::parse_precision(precision, true);
    }
    if (w.name == "W2" && primal_too) {
      o.solver = "primal";
      double medp = 0;
      const auto rp = timed_fit(*be, x, y, o, 1, medp);
      print_phases("primal (forced)", rp, medp);
      fmt::print("  dual is {:.1f}× faster than primal\n", medp / med);
      o.solver = "auto";
    }
    fmt::print("  peak RSS so far: {:.0f} MB\n", peak_rss_mb());
  }
  return 0;
}
