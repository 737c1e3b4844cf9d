#include "brainsweep/run.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/blas_core.hpp"
#include "brainsweep/build_config.hpp"
#include "brainsweep/module.hpp"
#include "brainsweep/pls.hpp"
#include "brainsweep/data.hpp"
#include "brainsweep/cost.hpp"
#include "brainsweep/csv.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/gather.hpp"
#include "brainsweep/job_files.hpp"
#include "brainsweep/unit_kind.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/ridge.hpp"
#include "brainsweep/rsa_sweep.hpp"
#include "brainsweep/scheduler.hpp"
#include "brainsweep/scoring.hpp"
#include "brainsweep/status.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

namespace {



/// fMRI runs this process (one rank) has already read and checked, so that the units of a sweep,
/// which share their subjects, decompress each run once (Sherlock's files are gzip-compressed: a
/// third of a unit's time went to zlib). Bounded by BRAINSWEEP_FMRI_CACHE_MB (default 2048 MB,
/// 0 disables it); emptied when a new run would exceed the bound.
class FmriCache {
 public:
  using Run = std::shared_ptr<const MatrixF>;
  FmriCache() {
    const char* env = std::getenv("BRAINSWEEP_FMRI_CACHE_MB");
    budget_bytes_ = static_cast<size_t>(env ? std::max(0.0, std::atof(env)) : 2048.0) << 20;
  }
  Run find(const std::string& key) const {
    const auto it = runs_.find(key);
    return it == runs_.end() ? nullptr : it->second;
  }
  void put(const std::string& key, const Run& y) {
    const size_t bytes = static_cast<size_t>(y->size()) * sizeof(float);
    if (bytes > budget_bytes_) return;
    if (bytes_ + bytes > budget_bytes_) {
      runs_.clear();  // runs still in use by a unit live on in its shared_ptr
      bytes_ = 0;
    }
    runs_.emplace(key, y);
    bytes_ += bytes;
  }

 private:
  std::map<std::string, Run> runs_;
  size_t bytes_ = 0, budget_bytes_ = 0;
};

/// The run's fMRI (TRs × parcels), from the cache or read and checked; shared, not copied.
FmriCache::Run read_run(const FmriRef& r) {
  static FmriCache cache;
  const std::string key = r.file + '\n' + r.dataset;
  if (FmriCache::Run hit = cache.find(key)) return hit;
  auto y = std::make_shared<const MatrixF>(read_fmri(r.file, r.dataset));
  if (y->rows() != r.n_tr || y->cols() != r.n_parcels)
    throw DataError(r.file + ": dataset '" + r.dataset + "' is " + std::to_string(y->rows()) + "×" +
                    std::to_string(y->cols()) + ", the plan recorded " + std::to_string(r.n_tr) + "×" +
                    std::to_string(r.n_parcels) + " (the data changed since `generate`)");
  cache.put(key, y);
  return y;
}

}  // namespace

void fit_unit(const Plan& p, const Unit& u, const Backend& be, const std::string& run_dir) {
  const auto t_unit = std::chrono::steady_clock::now();
  // Wall time per phase, logged at debug level (SPDLOG_LEVEL=debug) for profiling.
  auto t_lap = t_unit;
  auto lap = [&t_lap] {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - t_lap).count();
    t_lap = now;
    return s;
  };
  double ph_design = 0, ph_fmri = 0, ph_eval_fmri = 0, ph_center = 0, ph_eval_pred = 0, ph_test_pred = 0,
         ph_slice = 0, ph_score = 0, ph_write = 0;
  const auto& first = p.fmri.at(u.subjects.front());
  const int xs = p.exclude_start, xe = p.exclude_end;

  // Design: training rows after exclusion, standardised with their own statistics (ENCODING.md §2).
  std::vector<long> run_lengths;
  std::vector<MatrixF> train_parts;
  long n = 0;
  const auto& train = p.train_of(u);
  std::vector<long> band_widths;  // columns per band (a banded unit), from the first episode's design
  for (const auto& ep : train) {
    train_parts.push_back(
        kept_rows(episode_design(p, u, ep, first.at(ep).n_tr, train_parts.empty() ? &band_widths : nullptr), xs, xe));
    run_lengths.push_back(train_parts.back().rows());
    n += run_lengths.back();
  }
  MatrixF x(n, train_parts.front().cols());
  for (long i = 0, at = 0; i < static_cast<long>(train_parts.size()); at += run_lengths[i], ++i)
    x.middleRows(at, run_lengths[i]) = train_parts[i];
  train_parts.clear();
  ColumnStats stats = column_stats(x);
  if (!u.bands.empty()) {
    // Banded ridge (himalaya's GroupRidgeCV scaling): band k's standardised columns times √γ_k, folded
    // into the statistics so that every design standardised with them (eval, test) is scaled alike.
    long at = 0;
    for (size_t k = 0; k < band_widths.size(); ++k) {
      stats.inv_std.segment(at, band_widths[k]) *= std::sqrt(u.gamma.at(k));
      at += band_widths[k];
    }
  }
  standardize(x, stats);
  ph_design = lap();

  // Targets: every subject's parcels side by side, centred with the training mean.
  std::vector<long> offset{0};
  for (const auto& sub : u.subjects) offset.push_back(offset.back() + p.fmri.at(sub).at(train.front()).n_parcels);
  MatrixF y(n, offset.back());
  for (size_t s = 0; s < u.subjects.size(); ++s) {
    long at = 0;
    for (const auto& ep : train) {
      const FmriCache::Run run = read_run(p.fmri.at(u.subjects[s]).at(ep));  // kept rows copied once, into y
      const long row0 = std::min<long>(xs, run->rows()), rows = std::max(0L, run->rows() - xs - xe);
      y.block(at, offset[s], rows, run->cols()) = run->middleRows(row0, rows);
      at += rows;
    }
  }
  ph_fmri = lap();
  // Eval-set fMRI of every subject, read (and checked) before anything is written.
  const std::vector<std::string> eval_eps = p.eval_episodes();
  std::vector<std::map<std::string, MatrixF>> truth(u.subjects.size());
  for (size_t s = 0; s < u.subjects.size(); ++s)
    for (const auto& ep : eval_eps) truth[s][ep] = *read_run(p.fmri.at(u.subjects[s]).at(ep));
  ph_eval_fmri = lap();

  VectorD y_mean = center_targets(y);
  ph_center = lap();

  const auto t0 = std::chrono::steady_clock::now();
  const bool pls = u.estimator == "pls";
  RidgeCvResult fit;
  PlsCvResult pls_fit;  // a PLS unit's: its components per parcel and their CV scores
  if (pls) {
    // PLS (issue #26 §6): the number of components chosen per parcel by the same folds; what the
    // rest of the unit reads (weights, cv_r) in ridge's shape, alpha and ridge's cv_scores NaN. PLS2's
    // components depend on every target fitted together: one fit per subject, on its own parcels.
    const auto folds = fold_assignment(run_lengths, p.folds);
    pls_fit.cv_scores.resize(static_cast<long>(p.pls->components.size()), y.cols());
    pls_fit.weights.resize(x.cols(), y.cols());
    pls_fit.intercept.resize(y.cols());
    for (size_t s = 0; s < u.subjects.size(); ++s) {
      const long c0 = offset[s], np = offset[s + 1] - offset[s];
      const PlsCvResult one = pls_cv(x, y.middleCols(c0, np), folds, p.folds, p.pls->components, p.pls->scale);
      pls_fit.cv_scores.middleCols(c0, np) = one.cv_scores;
      pls_fit.weights.middleCols(c0, np) = one.weights;
      pls_fit.intercept.segment(c0, np) = one.intercept;
      pls_fit.n_components.insert(pls_fit.n_components.end(), one.n_components.begin(), one.n_components.end());
      pls_fit.cv_r.insert(pls_fit.cv_r.end(), one.cv_r.begin(), one.cv_r.end());
    }
    fit.weights = pls_fit.weights;
    fit.cv_r = pls_fit.cv_r;
    fit.alpha.assign(static_cast<size_t>(y.cols()), std::nan(""));
    fit.cv_scores = MatrixD::Constant(static_cast<long>(p.alphas.size()), y.cols(), std::nan(""));
    fit.solver = "pls";
    y_mean += pls_fit.intercept;  // about 0: y is centred, x standardised
  } else {
    RidgeOptions options;
    options.alphas = p.alphas;
    options.precision = parse_precision(p.precision);
    fit = ridge_cv(be, x, y, fold_assignment(run_lengths, p.folds), p.folds, options);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  lap();

  // The training rows' own predictions, per parcel: mean and SD (ddof 0), for `stitch --zscore`
  // (ENCODING.md §6: predictions z-scored with the statistics of the data each job was fitted on).
  // In blocks of rows, so that no n × t matrix is held.
  std::vector<double> train_mean(static_cast<size_t>(y.cols()), 0.0), train_sd(static_cast<size_t>(y.cols()), 0.0);
  {
    std::vector<double> sum(train_mean.size(), 0.0), sum2(train_mean.size(), 0.0);
    constexpr long kBlock = 4096;
    for (long r0 = 0; r0 < x.rows(); r0 += kBlock) {
      const long rows = std::min(kBlock, x.rows() - r0);
      const MatrixF block = predict(be, x.middleRows(r0, rows), fit.weights);
      for (long c = 0; c < block.cols(); ++c)
        for (long r = 0; r < rows; ++r) {
          const double v = block(r, c);
          sum[static_cast<size_t>(c)] += v;
          sum2[static_cast<size_t>(c)] += v * v;
        }
    }
    const double nn = static_cast<double>(x.rows());
    for (size_t c = 0; c < sum.size(); ++c) {
      const double m = sum[c] / nn;
      train_mean[c] = m + y_mean[static_cast<long>(c)];
      train_sd[c] = std::sqrt(std::max(0.0, sum2[c] / nn - m * m));
    }
  }

  // The standardised design of the first n_samples samples of an episode, and its predictions with
  // the intercept added back.
  auto episode_x = [&](const std::string& ep, long n_samples) {
    MatrixF xe_ep = episode_design(p, u, ep, n_samples);
    standardize(xe_ep, stats);
    return xe_ep;
  };
  auto predict_x = [&](const MatrixF& xe_ep) {
    MatrixF out = predict(be, xe_ep, fit.weights);
    add_intercept(out, y_mean);
    return out;
  };
  // Every eval episode (all samples); a banded unit's prediction also split per band (issue #26 §2):
  // band k's standardised, √γ_k-scaled columns times their rows of the weights, no intercept
  // (himalaya's predict(split=True)).
  std::map<std::string, MatrixF> pred;
  std::vector<std::map<std::string, MatrixF>> band_pred(u.split_by_band() && !p.eval.empty() ? band_widths.size() : 0);
  for (const auto& ep : eval_eps) {
    const MatrixF xe_ep = episode_x(ep, first.at(ep).n_tr);
    pred[ep] = predict_x(xe_ep);
    long at = 0;
    for (size_t k = 0; k < band_pred.size(); ++k) {
      const MatrixF xk = xe_ep.middleCols(at, band_widths[k]);
      const MatrixF wk = fit.weights.middleRows(at, band_widths[k]);
      band_pred[k][ep] = predict(be, xk, wk);
      at += band_widths[k];
    }
  }
  ph_eval_pred = lap();
  // Test-set predictions (issue #5): every sample of the sample counts, features clamped (§1). Row s
  // of a design depends on s only, so one prediction for the unit's largest count serves every subject.
  std::map<std::string, std::map<std::string, MatrixF>> test_pred;  // test set → episode → T × t
  for (const auto& t : p.test) {
    for (const auto& ep : t.episodes) {
      long n_max = 0;
      for (const auto& sub : u.subjects) n_max = std::max(n_max, t.count(sub, ep));
      if (n_max == 0) continue;
      test_pred[t.name][ep] = predict_x(episode_x(ep, n_max));
    }
  }
  ph_test_pred = lap();

  const long n_alphas = static_cast<long>(p.alphas.size());
  for (size_t s = 0; s < u.subjects.size(); ++s) {
    const auto& sub = u.subjects[s];
    const long c0 = offset[s], np = offset[s + 1] - offset[s];
    const std::string path = job_file_path(run_dir, u.job_ids[s]);
    {
      // Built in memory, then written, fsync'ed and renamed by save_atomic with every step checked:
      // a full disk fails the unit (exit 1, naming the file and errno) and leaves no file behind.
      h5::File f(path, h5::File::Mode::in_memory);
      std::vector<double> alpha(fit.alpha.begin() + c0, fit.alpha.begin() + c0 + np);
      std::vector<double> cv_r(fit.cv_r.begin() + c0, fit.cv_r.begin() + c0 + np);
      f.write_f64("alpha", alpha.data(), np);
      f.write_f64("cv_r", cv_r.data(), np);
      const MatrixD scores = fit.cv_scores.middleCols(c0, np);
      f.write_f64("cv_scores", scores.data(), n_alphas, np);
      f.write_f64("train_pred_mean", train_mean.data() + c0, np);
      f.write_f64("train_pred_sd", train_sd.data() + c0, np);
      if (pls) {
        std::vector<double> k(pls_fit.n_components.begin() + c0, pls_fit.n_components.begin() + c0 + np);
        f.write_f64("n_components", k.data(), np);
        const MatrixD ps = pls_fit.cv_scores.middleCols(c0, np);
        f.write_f64("pls_cv_scores", ps.data(), ps.rows(), np);
        std::vector<double> options(p.pls->components.begin(), p.pls->components.end());
        f.write_f64("pls_components", options.data(), static_cast<long>(options.size()));
      }
      std::map<std::string, MatrixF> sub_pred;
      ph_write += lap();
      for (const auto& [ep, m] : pred) {
        sub_pred[ep] = m.middleCols(c0, np);
        ph_slice += lap();
        f.write_f32("predictions/" + ep, sub_pred[ep].data(), sub_pred[ep].rows(), np, p.prediction_dtype == "float16");
        ph_write += lap();
      }
      for (const auto& e : p.eval) {
        const auto r = score_eval_set(e, sub_pred, truth[s], xs, xe);
        f.write_f64("eval/" + e.name + "/r", r.data(), np);
        if (!band_pred.empty()) {
          std::vector<std::map<std::string, MatrixF>> sub_band(band_pred.size());
          for (size_t k = 0; k < band_pred.size(); ++k)
            for (const auto& ep : e.episodes) sub_band[k][ep] = band_pred[k].at(ep).middleCols(c0, np);
          const SplitScores sp = split_eval_set(e, sub_band, truth[s], xs, xe);
          const long nb = static_cast<long>(band_pred.size());
          f.write_f64("eval/" + e.name + "/r_split", sp.r.data(), nb, np);
          f.write_f64("eval/" + e.name + "/r2_split", sp.r2.data(), nb, np);
          f.write_f64("eval/" + e.name + "/r2_alone", sp.r2_alone.data(), nb, np);
          f.write_f64("eval/" + e.name + "/r2", sp.r2_joint.data(), np);
        }
        ph_score += lap();
      }
      for (const auto& t : p.test)
        for (const auto& [ep, n_samples] : t.n_samples.at(sub)) {
          const MatrixF m = test_pred.at(t.name).at(ep).block(0, c0, n_samples, np);
          f.write_f32("test/" + t.name + "/" + ep, m.data(), n_samples, np, p.prediction_dtype == "float16");
        }
      const auto& ref = p.fmri.at(sub).at(train.front());
      f.write_string_attr("parcel_names", parcel_names(ref.file, ref.n_parcels));
      write_job_identity(f, p, u, u.job_ids[s], sub);
      f.write_string_attr1("solver", fit.solver);
      if (u.split_by_band()) {
        std::vector<std::string> band_names;
        for (const auto& b : u.bands) band_names.push_back(fmt::format("{}/{}", b.model, fmt::join(b.layers, "+")));
        f.write_string_attr("bands", band_names);
        f.write_f64("gamma", u.gamma.data(), u.gamma.size());
      }
      ph_write += lap();
      f.save_atomic(path);
    }
    ph_write += lap();
  }
  const RidgeTimings& rt = fit.timings;
  spdlog::debug("unit {} phases (s): design {:.4f} fmri_train {:.4f} fmri_eval {:.4f} center {:.4f} | ridge {:.4f} = "
                "gram {:.4f} decompose {:.4f} cv {:.4f} refit {:.4f} other {:.4f} | eval_pred {:.4f} test_pred {:.4f} "
                "slice {:.4f} eval_score {:.4f} h5_write {:.4f}",
                u.unit_id, ph_design, ph_fmri, ph_eval_fmri, ph_center, seconds, rt.gram_s, rt.decompose_s, rt.cv_s,
                rt.refit_s, seconds - rt.gram_s - rt.decompose_s - rt.cv_s - rt.refit_s, ph_eval_pred, ph_test_pred,
                ph_slice, ph_score, ph_write);
  spdlog::info("unit {} ({} {} hrf_delay={} stimulus_window={}): {} subjects, n={} p={} t={}, {} solver, fit {:.2f} s, "
               "unit {:.3f} s",
               u.unit_id, u.model, fmt::join(u.layers, "+"), u.hrf_delay, u.stimulus_window, u.subjects.size(), n, x.cols(),
               y.cols(), fit.solver, seconds,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t_unit).count());
  fs::write_text_atomic(unit_marker_path(run_dir, u.unit_id), u.unit_id + "\n");
}

void encoder_unit(const Plan& p, const Unit& u, const std::string& run_dir) {
#if BRAINSWEEP_WITH_TORCH
  // In the module libbrainsweep_encoder_unit.so (src/run/encoder_unit.cpp says why), loaded once.
  using Entry = int (*)(const char*, int, char*, size_t);
  static const Entry entry = reinterpret_cast<Entry>(
      module_symbol({"trained encoders", "BRAINSWEEP_ENCODER_MODULE", BRAINSWEEP_ENCODER_MODULE_NAME,
                     BRAINSWEEP_ENCODER_MODULE_PATH, "brainsweep_encoder_unit"}));
  const int index = static_cast<int>(&u - p.units.data());
  std::string err(8192, '\0');
  const int code = entry(run_dir.c_str(), index, err.data(), err.size());
  err.resize(std::strlen(err.c_str()));
  if (code == 2) throw ConfigError(err);
  if (code != 0) throw Error(err);
  std::error_code ec;
  sfs::remove(sfs::path(run_dir) / "units" / (u.unit_id + ".epoch"), ec);
  fs::write_text_atomic(unit_marker_path(run_dir, u.unit_id), u.unit_id + "\n");
#else
  (void)p, (void)run_dir;
  throw NotCompiled("unit " + u.unit_id + ": trained encoders need a build with libtorch (install Debian's libtorch-dev; "
                    "tools/build.sh then builds them)");
#endif
}

void run_unit(const Plan& p, const Unit& u, const Backend& backend, const std::string& run_dir) {
  unit_kind(p, u).run(p, u, backend, run_dir);
}

namespace {

/// Remove temporary files that a killed run left behind (`*.tmp.<pid>` in jobs/ and units/).
void remove_stale_temporaries(const std::string& run_dir) {
  for (const char* sub : {"jobs", "units"}) {
    std::error_code ec;
    for (const auto& e : sfs::directory_iterator(sfs::path(run_dir) / sub, ec)) {
      const std::string name = e.path().filename().string();
      if (name.find(".tmp.") != std::string::npos) sfs::remove(e.path(), ec);
    }
  }
}

/// Refuse a RUN_DIR whose unit records are not the plan's (plan.json replaced by hand): mixing the
/// results of two plans must be asked for (`generate --start-over` deletes the old ones).
void check_records_belong_to(const Plan& p, const std::string& run_dir) {
  std::set<std::string> ids;
  for (const auto& u : p.units) ids.insert(u.unit_id);
  std::error_code ec;
  for (const auto& e : sfs::directory_iterator(sfs::path(run_dir) / "units", ec)) {
    const std::string name = e.path().filename().string();
    const auto dot = name.find('.');
    if (!ids.count(name.substr(0, dot)))
      throw ConfigError(e.path().string() + ": a unit record of another plan; this RUN_DIR mixes two plans (use a new "
                        "RUN_DIR, or `brainsweep generate SWEEP --out RUN_DIR --start-over` to start over)");
  }
}

}  // namespace

int run_plan(const std::string& run_dir, MPI_Comm comm, const RunOptions& opt) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);

  // Set-up fails the same way on every rank in practice (same plan, same build); agree on it
  // collectively anyway so that no rank waits for one that threw.
  Plan p;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<fs::FileLock> lock;  // rank 0: one run (or gather) per RUN_DIR at a time
  std::vector<double> cost;  // predicted seconds per unit, plan order
  int setup = 0;
  std::string setup_error;
  try {
    if (opt.schedule != "dynamic" && opt.schedule != "static")
      throw ConfigError("--schedule: expected dynamic or static, found '" + opt.schedule + "'");
    p = Plan::load(run_dir);
    if (rank == 0) lock = std::make_unique<fs::FileLock>(run_lock_path(run_dir), "brainsweep run on " + std::to_string(size) + " ranks");
    backend = make_backend(p.backend);
    if (rank == 0) {
      sfs::create_directories(sfs::path(run_dir) / "jobs");
      sfs::create_directories(sfs::path(run_dir) / "units");
      remove_stale_temporaries(run_dir);
      check_records_belong_to(p, run_dir);
      for (const auto& s : unit_shapes(p)) cost.push_back(unit_seconds(s));
    }
  } catch (const Error& e) {
    setup = e.exit_code();
    setup_error = e.what();
  } catch (const std::exception& e) {
    setup = 1;
    setup_error = e.what();
  }
  int setup_all = 0, setup_root = setup;
  MPI_Allreduce(&setup, &setup_all, 1, MPI_INT, MPI_MAX, comm);
  MPI_Bcast(&setup_root, 1, MPI_INT, 0, comm);
  if (setup_all != 0) {
    if (setup != 0 && (rank == 0 || setup_root == 0)) fmt::print(stderr, "[rank {}/{}] {}\n", rank, size, setup_error);
    return setup_all;
  }

  // Rank 0 decides which units are pending and in which order; every rank gets the same list.
  std::vector<int> todo;
  int n_todo = 0;
  long skipped = 0;
  if (rank == 0) {
    const std::vector<int> order = opt.schedule == "dynamic" ? largest_first(cost) : [&] {
      std::vector<int> o(p.units.size());
      std::iota(o.begin(), o.end(), 0);
      return o;
    }();
    for (int i : order) {
      const Unit& u = p.units[static_cast<size_t>(i)];
      const bool done = unit_done(p, u, run_dir);
      const std::string problem = done ? unit_kind(p, u).stale(p, u, run_dir) : unit_record_problem(p, u, run_dir);
      if (done && problem.empty()) continue;
      if (!problem.empty()) {  // marked done, but a job file is missing, unreadable or not this job's
        spdlog::warn("unit {} was marked done, but {}; fitting it again", u.unit_id, problem);
        std::error_code ec;
        sfs::remove(unit_marker_path(run_dir, u.unit_id), ec);
      }
      todo.push_back(i);
    }
    skipped = static_cast<long>(p.units.size() - todo.size());
    n_todo = static_cast<int>(todo.size());
  } else {
    cost.assign(p.units.size(), 0.0);
  }
  MPI_Bcast(&n_todo, 1, MPI_INT, 0, comm);
  todo.resize(static_cast<size_t>(n_todo));
  MPI_Bcast(todo.data(), n_todo, MPI_INT, 0, comm);
  MPI_Bcast(cost.data(), static_cast<int>(cost.size()), MPI_DOUBLE, 0, comm);

  long todo_jobs = 0;
  double todo_cost = 0;
  for (int i : todo) {
    todo_jobs += static_cast<long>(p.units[static_cast<size_t>(i)].job_ids.size());
    todo_cost += cost[static_cast<size_t>(i)];
  }
  if (rank == 0)
    spdlog::info("run {}: {} jobs in {} units on {} ranks, backend {}, schedule {}; {} units already done, {} to fit "
                 "(predicted {} of work for one rank)",
                 run_dir, p.jobs.size(), p.units.size(), size, backend->name(), opt.schedule, skipped, todo.size(),
                 format_duration(todo_cost));
  if (rank == 0 && backend->name() == "cpu") spdlog::info("BLAS: {}", blas_description());

  int code = 0, fitted = 0;
  std::vector<std::string> errors;
  MPI_Barrier(comm);
  const auto t_fit = std::chrono::steady_clock::now();  // the fitting phase: throughput figures
  {
    WorkCounter counter(comm);
    ProgressReporter progress(n_todo, todo_jobs, todo_cost, opt.progress_interval_s);
    auto report = [&](bool force) {
      if (rank != 0) return;
      const auto [units_done, cost_done] = counter.progress();
      // Jobs per unit vary little (subjects per unit); estimate finished jobs from the share of units.
      progress.update(units_done, n_todo ? todo_jobs * units_done / n_todo : 0, cost_done, force);
    };
    auto fit_one = [&](int i) {
      const Unit& u = p.units[static_cast<size_t>(i)];
      try {
        run_unit(p, u, *backend, run_dir);
        clear_unit_failure(run_dir, u.unit_id);
        ++fitted;
      } catch (const std::exception& e) {
        const int c = dynamic_cast<const Error*>(&e) ? dynamic_cast<const Error&>(e).exit_code() : 1;
        const std::string msg = fmt::format("unit {}: {}", u.unit_id, e.what());
        errors.push_back(msg);
        code = std::max(code, c);
        fmt::print(stderr, "[rank {}/{}] {}\n", rank, size, msg);
        try {
          record_unit_failure(run_dir, u.unit_id, fmt::format("[rank {}/{}] {}", rank, size, e.what()));
        } catch (const std::exception& e2) {
          fmt::print(stderr, "[rank {}/{}] {}\n", rank, size, e2.what());
        }
      }
      counter.finished(cost[static_cast<size_t>(i)]);
      report(false);
    };
    if (opt.schedule == "dynamic") {
      for (long k = counter.next(); k < n_todo; k = counter.next()) fit_one(todo[static_cast<size_t>(k)]);
    } else {
      for (int k = rank; k < n_todo; k += size) fit_one(todo[static_cast<size_t>(k)]);
    }
    // Rank 0 keeps reporting while the others finish their last units, polling every 5 ms: a
    // longer nap delays the end of the run by up to its length (200 ms cost 10 % of the 2-rank
    // throughput on 60 Sherlock units of ~50 ms).
    if (rank == 0)
      while (counter.progress().first < n_todo) {
        report(false);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    report(true);
  }  // the counter's window is freed collectively here

  int global = 0;
  MPI_Allreduce(&code, &global, 1, MPI_INT, MPI_MAX, comm);
  int fitted_all = 0;
  MPI_Reduce(&fitted, &fitted_all, 1, MPI_INT, MPI_SUM, 0, comm);
  const double fit_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_fit).count();
  if (rank == 0) {
    const int failed = n_todo - fitted_all;
    spdlog::info("units fitted {}, already done {}, failed {}; fitting took {:.3f} s ({:.1f} jobs/s)", fitted_all,
                 skipped, failed, fit_s, fit_s > 0 ? static_cast<double>(todo_jobs) / fit_s : 0.0);
    if (global == 0) {
      try {
        const auto t_csv = std::chrono::steady_clock::now();
        if (p.rsa) write_rsa_results(p, run_dir, std::cout);  // an RSA plan's results.csv is its RSA table
        else write_results_csv(p, run_dir);
        spdlog::info("wrote {} ({:.3f} s)", (sfs::path(run_dir) / "results.csv").string(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t_csv).count());
      } catch (const Error& e) {
        fmt::print(stderr, "[rank 0/{}] {}\n", size, e.what());
        global = e.exit_code();
      }
    } else {
      fmt::print(stderr, "run failed: {} of {} units failed (errors recorded in {}/units/*.failed; "
                         "`brainsweep status {}` lists them); results.csv not written; fix the input and rerun "
                         "(finished units are kept)\n",
                 failed, p.units.size(), run_dir, run_dir);
      for (const auto& u : p.units) {
        const UnitStatus s = unit_status(p, u, run_dir);
        if (s.state == UnitState::failed) fmt::print(stderr, "  unit {}: {}\n", u.unit_id, s.error);
      }
    }
  }
  MPI_Bcast(&global, 1, MPI_INT, 0, comm);
  // An RSA plan's results are its results.csv (the RSA table): there is no results.h5 to gather.
  if (global == 0 && opt.gather && !p.rsa) global = gather_results(run_dir, comm, /*take_lock=*/false);  // rank 0 holds it
  return global;
}

}  // namespace brainsweep
