#include "brainsweep/ridge_command.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"

namespace brainsweep {
namespace {

MatrixF read_spec(const std::string& spec, const char* option) {
  const auto colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size())
    throw ConfigError(std::string(option) + " '" + spec + "': expected FILE.h5:/dataset");
  const std::string file = spec.substr(0, colon), ds = spec.substr(colon + 1);
  h5::File f(file);
  const auto dims = f.shape(ds);
  if (dims.size() != 2) throw DataError(file + ": dataset '" + ds + "': expected a 2-D matrix, found " + std::to_string(dims.size()) + "-D");
  if (dims[0] == 0 || dims[1] == 0)  // a 0-column X would fit nothing and score 0; a 0-column Y failed as a write error
    throw DataError(file + ": dataset '" + ds + "' (" + option + ") is " + std::to_string(dims[0]) + " × " +
                    std::to_string(dims[1]) + "; expected at least one row and one column");
  MatrixF m = f.read_f32(ds);
  check_finite(m, file + ": dataset '" + ds + "'");
  return m;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace

std::vector<double> parse_alphas(const std::string& text) {
  std::vector<double> a;
  try {
    if (text.rfind("logspace:", 0) == 0) {
      std::stringstream ss(text.substr(9));
      std::string s0, s1, sn;
      if (!std::getline(ss, s0, ':') || !std::getline(ss, s1, ':') || !std::getline(ss, sn, ':'))
        throw ConfigError("");
      const double lo = std::stod(s0), hi = std::stod(s1);
      const int num = std::stoi(sn);
      if (num < 1) throw ConfigError("");
      for (int i = 0; i < num; ++i) a.push_back(std::pow(10.0, num == 1 ? lo : lo + (hi - lo) * i / (num - 1)));
    } else {
      std::stringstream ss(text);
      for (std::string item; std::getline(ss, item, ',');) a.push_back(std::stod(item));
    }
  } catch (const std::exception&) {
    throw ConfigError("--alphas '" + text + "': expected a list such as 1,10,100 or logspace:START:STOP:NUM");
  }
  if (a.empty()) throw ConfigError("--alphas '" + text + "': no alphas");
  for (double x : a)
    if (!(x > 0) || !std::isfinite(x)) throw ConfigError("--alphas '" + text + "': expected alphas > 0");
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  return a;
}

RidgeOptions ridge_options(std::vector<double> alphas, const std::string& precision, const std::string& solver,
                           long target_batch) {
  RidgeOptions opt;
  if (alphas.empty())
    for (int i = 0; i < 17; ++i) alphas.push_back(std::pow(10.0, -1.0 + 0.5 * i));
  for (double a : alphas)
    if (!(a > 0) || !std::isfinite(a)) throw ConfigError("alphas: expected values > 0 and finite, found " + std::to_string(a));
  std::sort(alphas.begin(), alphas.end());
  alphas.erase(std::unique(alphas.begin(), alphas.end()), alphas.end());
  opt.alphas = std::move(alphas);
  opt.precision = parse_precision(precision);
  if (solver != "auto" && solver != "primal" && solver != "dual")
    throw ConfigError("solver: expected auto, primal or dual, found '" + solver + "'");
  opt.solver = solver;
  if (target_batch < 1) throw ConfigError("target_batch: expected >= 1 targets, found " + std::to_string(target_batch));
  opt.target_batch = target_batch;
  return opt;
}

RidgeModel fit_ridge_model(const Backend& backend, MatrixF x, MatrixF y, int folds, const RidgeOptions& options,
                           const std::vector<int>* fold_of_row, const std::vector<double>* column_scale) {
  if (folds < 2) throw ConfigError("folds: expected >= 2, found " + std::to_string(folds));
  if (x.rows() != y.rows())
    throw DimensionMismatch("X has " + std::to_string(x.rows()) + " rows, Y has " + std::to_string(y.rows()) +
                            " (expected the same training samples)");
  // ENCODING.md §2: z-score X with training statistics, centre Y with the training mean.
  RidgeModel m;
  m.x_stats = column_stats(x);
  if (column_scale) {
    if (static_cast<long>(column_scale->size()) != x.cols())
      throw DimensionMismatch("column_scale: " + std::to_string(column_scale->size()) + " factors for " +
                              std::to_string(x.cols()) + " columns");
    for (long j = 0; j < x.cols(); ++j) m.x_stats.inv_std(j) *= (*column_scale)[static_cast<size_t>(j)];
  }
  standardize(x, m.x_stats);
  m.y_mean = center_targets(y);
  m.alphas = options.alphas;
  if (fold_of_row) {
    if (static_cast<long>(fold_of_row->size()) != x.rows())
      throw DimensionMismatch("folds: " + std::to_string(fold_of_row->size()) + " fold indices for " +
                              std::to_string(x.rows()) + " rows");
    for (size_t i = 0; i < fold_of_row->size(); ++i)
      if ((*fold_of_row)[i] < 0 || (*fold_of_row)[i] >= folds)
        throw ConfigError("folds: row " + std::to_string(i) + " has fold " + std::to_string((*fold_of_row)[i]) +
                          ", expected 0 … " + std::to_string(folds - 1));
  }
  m.fit = ridge_cv(backend, x, y, fold_of_row ? *fold_of_row : fold_assignment({x.rows()}, folds), folds, options);
  return m;
}

MatrixF predict_ridge_model(const Backend& backend, const RidgeModel& model, MatrixF x) {
  if (x.cols() != model.fit.weights.rows())
    throw DimensionMismatch("X has " + std::to_string(x.cols()) + " columns, the model was fitted on " +
                            std::to_string(model.fit.weights.rows()) + " features");
  standardize(x, model.x_stats);
  MatrixF pred = predict(backend, x, model.fit.weights);
  add_intercept(pred, model.y_mean);
  return pred;
}

nlohmann::json run_ridge_command(const RidgeCommandOptions& o) {
  if (std::filesystem::exists(o.out)) throw ConfigError("--out " + o.out + ": exists; refusing to overwrite it");
  fs::check_output_parent(o.out, "--out");
  if (o.threads < 0) throw ConfigError("--threads: expected >= 0 (0: the BLAS default), found " + std::to_string(o.threads));
  if (o.target_batch < 1)
    throw ConfigError("--target-batch: expected >= 1 targets, found " + std::to_string(o.target_batch));
  const auto t_start = std::chrono::steady_clock::now();
  const auto backend = make_backend(o.backend, o.threads);
  MatrixF x = read_spec(o.x_train, "--x-train");
  MatrixF y = read_spec(o.y_train, "--y-train");
  MatrixF xt = read_spec(o.x_test, "--x-test");
  if (x.rows() != y.rows())
    throw DataError("--x-train " + o.x_train + " has " + std::to_string(x.rows()) + " rows, --y-train " + o.y_train + " has " +
                    std::to_string(y.rows()) + " (expected the same training samples)");
  if (xt.cols() != x.cols())
    throw DataError("--x-test " + o.x_test + " has " + std::to_string(xt.cols()) + " columns, --x-train " + o.x_train +
                    " has " + std::to_string(x.cols()) + " (expected the same features)");
  MatrixF yt;
  if (!o.y_test.empty()) {
    yt = read_spec(o.y_test, "--y-test");
    if (yt.rows() != xt.rows() || yt.cols() != y.cols())
      throw DataError("--y-test " + o.y_test + " is " + std::to_string(yt.rows()) + "×" + std::to_string(yt.cols()) +
                      ", expected " + std::to_string(xt.rows()) + "×" + std::to_string(y.cols()) +
                      " (--x-test's rows × --y-train's columns)");
  }
  const double read_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();

  const RidgeOptions opt = ridge_options(o.alphas, o.precision, o.solver, o.target_batch);
  const long n_train = x.rows(), p = x.cols(), t = y.cols(), n_test = xt.rows();
  const auto t_fit = std::chrono::steady_clock::now();
  const RidgeModel model = fit_ridge_model(*backend, std::move(x), std::move(y), o.folds, opt);
  const RidgeCvResult& fit = model.fit;
  const double fit_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_fit).count();

  const auto t_pred = std::chrono::steady_clock::now();
  const MatrixF pred = predict_ridge_model(*backend, model, std::move(xt));
  const double predict_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_pred).count();

  {
    h5::File f(o.out, h5::File::Mode::in_memory);  // reaches the disk through save_atomic, every step checked
    f.write_f64("alphas", fit.alpha.data(), fit.alpha.size());
    f.write_f64("cv_scores", fit.cv_scores.data(), fit.cv_scores.rows(), fit.cv_scores.cols());
    f.write_f32("predictions", pred.data(), pred.rows(), pred.cols());
    if (yt.size() > 0) {
      const auto r = column_pearson(pred, yt);
      f.write_f64("test_r", r.data(), r.size());
    }
    f.write_string_attr1("solver", fit.solver);
    f.write_string_attr1("precision", o.precision);
    f.write_string_attr1("backend", backend->name());
    f.save_atomic(o.out);
  }

  const auto& tm = fit.timings;
  auto phase = [](double s, double gflop) {
    return nlohmann::json{{"s", s}, {"gflop", gflop}, {"gflops", s > 0 ? gflop / s : 0.0}};
  };
  return {{"n_train", n_train},
          {"n_test", n_test},
          {"p", p},
          {"t", t},
          {"n_alphas", opt.alphas.size()},
          {"folds", o.folds},
          {"solver", fit.solver},
          {"precision", o.precision},
          {"backend", backend->name()},
          {"read_s", read_s},
          {"fit_s", fit_s},
          {"predict_s", predict_s},
          {"phases",
           {{"gram", phase(tm.gram_s, tm.gram_gflop)},
            {"decompose", phase(tm.decompose_s, tm.decompose_gflop)},
            {"cv_products", phase(tm.cv_s, tm.cv_gflop)},
            {"refit", phase(tm.refit_s, tm.refit_gflop)}}},
          {"peak_rss_mb", peak_rss_mb()}};
}

}  // namespace brainsweep
