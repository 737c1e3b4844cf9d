// brainsweep: one executable, one subcommand per stage. main() stays thin: it parses arguments,
// calls the library and maps exceptions to exit codes (0 success, 1 runtime failure, 2 input error).
#include <charconv>
#include <cmath>
#include <functional>
#include <mpi.h>
#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/blas_core.hpp"
#include "brainsweep/build_config.hpp"
#include "brainsweep/ceiling.hpp"
#include "brainsweep/config.hpp"
#include "brainsweep/cost.hpp"
#include "brainsweep/demo.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/module.hpp"
#include "brainsweep/odd_one_out.hpp"
#include "brainsweep/gather.hpp"
#include "brainsweep/grid.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/ridge_command.hpp"
#include "brainsweep/rsa.hpp"
#include "brainsweep/rsa_sweep.hpp"
#include "brainsweep/vpa.hpp"
#include "brainsweep/weighted_rsa.hpp"
#include "brainsweep/run.hpp"
#include "brainsweep/status.hpp"
#include "brainsweep/stitch.hpp"
#include "brainsweep/submit.hpp"

namespace bs = brainsweep;

namespace {

/// A numeric option's check: `integer` (or a number when false) >= lo, said in one line
/// ("expected an integer >= 1, found '0'"; CLI11's PositiveNumber printed DBL_MAX in 300 digits).
std::function<std::string(const std::string&)> at_least(double lo, bool integer) {
  return [lo, integer](const std::string& v) -> std::string {
    const std::string want = fmt::format("expected {} >= {:g}, found '{}'", integer ? "an integer" : "a number", lo, v);
    try {
      size_t used = 0;
      const double x = std::stod(v, &used);
      if (used != v.size() || !(x >= lo) || std::isinf(x) || (integer && x != std::floor(x))) return want;
    } catch (const std::exception&) {
      return want;
    }
    return "";
  };
}

/// A seed option's text: an integer in [0, 2^64 − 1] (CLI11 saturates -1 and 2^64 silently; the
/// sweep keys refuse them, and so do the options).
std::string check_seed(const std::string& v) {
  std::uint64_t x = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size())
    return "expected an integer in [0, 2^64 - 1], found '" + v + "'";
  return "";
}

/// Print the predicted makespan of `plan` on each rank count (cost.hpp).
void print_plan_cost(const bs::Plan& plan, const std::vector<int>& ranks, const bs::MachineRates& rates,
                     bool per_unit = false) {
  std::vector<double> seconds;
  const auto shapes = bs::unit_shapes(plan);
  for (const auto& s : shapes) seconds.push_back(bs::unit_seconds(s, rates));
  if (per_unit) {
    fmt::print("unit_id,n,p,t,folds,n_alphas,n_eval,predicted_s,gemm_flops,eig_cubes,stream\n");
    for (size_t i = 0; i < shapes.size(); ++i) {
      const auto w = bs::unit_work(shapes[i]);
      fmt::print("{},{},{},{},{},{},{},{:.4f},{:.6g},{:.6g},{:.6g}\n", plan.units[i].unit_id, shapes[i].n, shapes[i].p,
                 shapes[i].t, shapes[i].folds, shapes[i].n_alphas, shapes[i].n_eval, seconds[i], w.gemm_flops,
                 w.eig_cubes, w.stream);
    }
  }
  const double total = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  if (!shapes.empty() && shapes.front().rsa) {
    const auto& r = *shapes.front().rsa;
    fmt::print("RSA units: {} conditions × {} ROI{} × {} subjects, comparisons {}, bootstrap {}, permutations {}: "
               "counted as rsa_compare works (resamples, permutations; not the ridge model)\n", r.conditions, r.rois,
               r.rois == 1 ? "" : "s", r.subjects, fmt::join(plan.rsa->comparisons, ","), r.bootstrap, r.permutations);
  }
  fmt::print("cost model: {} units, {:.3g} s of work on one rank with one BLAS thread (rates on {}: dgemm {:.2g} "
             "flop/s, dsyevd {:.2g} n³/s, {:.2g} elements/s, {:.3f} s per unit, {:.1f} s per run; {})\n",
             seconds.size(), total, rates.backend, rates.gemm_flops_per_s, rates.eig_cubes_per_s, rates.stream_per_s,
             rates.unit_overhead_s, rates.run_overhead_s, rates.source.empty() ? "built in" : rates.source);
  fmt::print("predicted run time (units + {:.1f} s start-up and results.csv; gather not included):\n",
             rates.run_overhead_s);
  fmt::print("{:>7} {:>14} {:>11} {:>14} {:>11}\n", "ranks", "dynamic", "efficiency", "static", "efficiency");
  for (int r : ranks) {
    const auto d = bs::predict_makespan(seconds, r, true), st = bs::predict_makespan(seconds, r, false);
    fmt::print("{:>7} {:>14} {:>10.1f}% {:>14} {:>10.1f}%\n", r,
               fmt::format("{:.3g} s", d.makespan_s + rates.run_overhead_s), 100 * d.efficiency,
               fmt::format("{:.3g} s", st.makespan_s + rates.run_overhead_s), 100 * st.efficiency);
  }
}

int cmd_generate(const std::string& sweep_path, const std::string& out, const std::vector<int>& ranks,
                 bool start_over) {
  const auto sweep = bs::Sweep::load(sweep_path);
  const auto plan = bs::make_plan(sweep);
  std::optional<bs::RsaDesign> rsa;
  if (plan.rsa) rsa = bs::rsa_design_of(plan);  // events, conditions and ROIs checked before anything is written
  const bool written = bs::write_plan(plan, out, start_over);
  std::set<std::string> sets;
  for (const auto& f : sweep.features) {
    sets.insert(fmt::format("{}/{}", f.model, fmt::join(f.layers, "+")));
  }
  long encoder_units = 0, encoder_jobs = 0;
  for (const auto& u : plan.units)
    if (u.encoder) ++encoder_units, encoder_jobs += static_cast<long>(u.job_ids.size());
  if (!sweep.features.empty())
    fmt::print("plan: {} jobs in {} units = {} feature sets × {} hrf_delay × {} stimulus_window × {} subjects\n",
               plan.jobs.size() - encoder_jobs, plan.units.size() - encoder_units, sweep.features.size(),
               sweep.hrf_delay.size(), sweep.stimulus_window.size(), plan.subjects.size());
  if (sweep.encoder) {
    const auto& e = *sweep.encoder;
    size_t points = 1;
    for (const auto& [k, v] : e.grid) points *= v.size();
    const std::vector<std::string>& train = plan.units.back().train.empty() ? plan.train : plan.units.back().train;
    fmt::print("plan: {} trained-encoder jobs in {} units = {} feature sets × {} hyperparameter points{} (every "
               "subject in each unit); trained on the {} training episodes every subject has, early stopping on {}, "
               "device {}\n", encoder_jobs, encoder_units, e.feature_sets.size(),
               e.sample_n ? std::min(*e.sample_n, points) : points,
               e.sample_n ? fmt::format(" (sampled from {}, seed {})", points, e.sample_seed) : std::string(),
               train.size(), e.holdout > 0 ? fmt::format("the last {:g} % of each training episode", 100 * e.holdout)
                                           : "'" + e.early_stopping + "'", e.device);
  }
  if (!sweep.include.empty() || !sweep.exclude.empty() || sweep.sample_n)
    fmt::print("grid: {} of {} points kept by include/exclude rules{}\n", bs::grid_points(sweep).size(),
               sweep.features.size() * sweep.hrf_delay.size() * sweep.stimulus_window.size(),
               sweep.sample_n ? fmt::format(" and sample (n {}, seed {})", *sweep.sample_n, sweep.sample_seed) : "");
  std::string subs, evals;
  for (const auto& s : plan.subjects) subs += (subs.empty() ? "" : ", ") + s;
  for (const auto& e : plan.eval) evals += (evals.empty() ? "" : ", ") + fmt::format("{} ({} episodes)", e.name, e.episodes.size());
  fmt::print("dataset: {} ({}), atlas {}, TR {} s, exclude {}/{}\n", plan.dataset_name, plan.dataset_root, plan.atlas,
             plan.tr, plan.exclude_start, plan.exclude_end);
  fmt::print("subjects: {}\n", subs);
  if (!sets.empty()) {
    fmt::print("feature sets: ");
    bool first = true;
    for (const auto& s : sets) fmt::print("{}{}", first ? "" : ", ", s), first = false;
    fmt::print("\n");
  }
  if (sweep.encoder) {
    std::set<std::string> esets;
    for (const auto& set : sweep.encoder->feature_sets) {
      std::vector<std::string> labels;
      for (const auto& st : set) labels.push_back(bs::stream_label(st));
      esets.insert(fmt::format("[{}]", fmt::join(labels, ", ")));
    }
    fmt::print("encoder feature sets (streams): {}\n", fmt::join(esets, ", "));
  }
  if (rsa)  // an RSA plan fits nothing: no folds, no alphas
    fmt::print("train: {} episodes; eval sets: {}\n", plan.train.size(), evals.empty() ? "none" : evals);
  else
    fmt::print("train: {} episodes, {}-fold CV, {} alphas; eval sets: {}\n", plan.train.size(), plan.folds,
               plan.alphas.size(), evals.empty() ? "none" : evals);
  if (!plan.test.empty()) {
    std::string tests;
    for (const auto& t : plan.test) {
      long samples = 0;
      for (const auto& [ep, n] : t.n_samples.at(plan.subjects.front())) samples += n;
      tests += (tests.empty() ? "" : ", ") +
               fmt::format("{} ({} episodes, {} samples for {})", t.name, t.episodes.size(), samples, plan.subjects.front());
    }
    fmt::print("test sets: {}\n", tests);
  }
  // Subjects that lack training episodes (episodes: per_subject / common).
  if (plan.episodes == "common" && plan.train != sweep.train) {
    std::string dropped;
    for (const auto& ep : sweep.train)
      if (std::find(plan.train.begin(), plan.train.end(), ep) == plan.train.end()) dropped += " " + ep;
    fmt::print("episodes: common: training on the {} of {} listed episodes that every subject has (dropped:{})\n",
               plan.train.size(), sweep.train.size(), dropped);
  }
  std::set<std::string> told;
  for (const auto& u : plan.units)
    for (const auto& sub : u.subjects)
      if (!u.encoder && !u.train.empty() && told.insert(sub).second) {
        std::string lacks;
        for (const auto& ep : plan.train)
          if (std::find(u.train.begin(), u.train.end(), ep) == u.train.end()) lacks += " " + ep;
        fmt::print("episodes: per_subject: {} trains on {} of {} episodes in its own units (lacks:{})\n", sub,
                   u.train.size(), plan.train.size(), lacks);
      }
  for (const auto& e : plan.eval)
    for (const auto& ep : e.episodes)
      if (std::find(plan.train.begin(), plan.train.end(), ep) != plan.train.end())
        fmt::print(stderr, "warning: eval set '{}' contains training episode '{}'; its score is not held out\n",
                   e.name, ep);
  if (rsa) {
    std::string rois;
    for (const auto& [name, cols] : rsa->rois) rois += fmt::format("{}{} ({} parcels)", rois.empty() ? "" : ", ", name, cols.size());
    fmt::print("rsa: {} conditions from {} events over {} runs of set {}, distance {}, comparisons {}, ROIs {}; "
               "bootstrap {}, permutations {}, seed {}, ceiling {}; each unit compares one model RDM with every "
               "subject × ROI (results.csv is the RSA table)\n",
               rsa->conditions.size(), rsa->labelled, rsa->episodes.size(), fmt::join(plan.rsa->sets, ","),
               plan.rsa->distance, fmt::join(plan.rsa->comparisons, ","), rois, plan.rsa->bootstrap,
               plan.rsa->permutations, plan.rsa->seed, plan.rsa->ceiling ? "yes" : "no");
  }
  fmt::print("{} {}\n", written ? "wrote" : "unchanged (same plan already there):",
             (std::filesystem::path(out) / "plan.json").string());
  if (!ranks.empty()) print_plan_cost(plan, ranks, bs::MachineRates{});
  return 0;
}

/// Commands that run under MPI: initialise, name the rank in log lines, map escaping exceptions
/// to MPI_Abort (one rank that throws must not hang the others).
template <class F>
int with_mpi(F&& body) {
  MPI_Init(nullptr, nullptr);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  spdlog::set_pattern(fmt::format("[%H:%M:%S] [rank {}/{}] %v", rank, size));
  int code = 1;
  try {
    code = body(MPI_COMM_WORLD);
  } catch (const std::exception& e) {
    fmt::print(stderr, "[rank {}/{}] {}\n", rank, size, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  bs::restart_with_corrected_blas_core(argv);  // before MPI_Init and before any thread starts
  CLI::App app{"brainsweep " BRAINSWEEP_VERSION
               ": fit and compare brain encoding models at cluster scale.\n"
               "Stages: generate (sweep → plan), run (under MPI: fit every job), stitch (best models per parcel),\n"
               "submit (Algonauts 2025 zip of a test set), validate-submission (the scorer's checks and score)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] { return std::string(BRAINSWEEP_VERSION) + " (" + bs::blas_description() + ")"; });
  spdlog::set_pattern("[%H:%M:%S] %v");
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=debug: per-phase timings of every unit

  std::string sweep_path, out, run_dir, demo_out;
  auto* gen = app.add_subcommand("generate", "Expand a sweep YAML into a plan of jobs with stable ids in RUN_DIR");
  gen->add_option("SWEEP", sweep_path, "sweep file (YAML)")->required();
  gen->add_option("--out,-o", out, "run directory to create (refused if it holds a different plan)")->required();

  std::vector<int> gen_ranks;
  gen->add_option("--ranks", gen_ranks, "also print the predicted makespan on these rank counts (e.g. 1,16,256)")
      ->delimiter(',')->check(CLI::Range(1, 1 << 20));
  bool start_over = false;
  gen->add_flag("--start-over", start_over, "if RUN_DIR holds a different plan, delete it and its results first");

  bs::RunOptions run_opts;
  bool no_gather = false;
  auto* run = app.add_subcommand("run", "Fit every job of a plan; launch with mpirun/srun for several ranks");
  run->add_option("RUN_DIR", run_dir, "run directory written by `generate`")->required();
  run->add_option("--schedule", run_opts.schedule, "dynamic (largest units first, to the next idle rank) or static "
                                             "(round robin)")->capture_default_str()
      ->check(CLI::IsMember({"dynamic", "static"}));
  run->add_option("--progress-interval", run_opts.progress_interval_s, "seconds between progress lines (not a terminal)")
      ->capture_default_str()->check(at_least(0, false));
  run->add_flag("--no-gather", no_gather, "do not write results.h5 at the end (run `brainsweep gather` later)");

  auto* gat = app.add_subcommand("gather", "Merge the job files of a finished run into RUN_DIR/results.h5 "
                                           "(parallel HDF5; launch with mpirun/srun)");
  gat->add_option("RUN_DIR", run_dir, "a finished run directory")->required();
  bs::GatherCeiling gather_ceiling;
  gat->add_option("--ceiling", gather_ceiling.file, "a ceiling CSV of `brainsweep ceiling` on one eval set: results.csv "
                  "and results.h5 also give r / ceiling");
  gat->add_option("--min-ceiling", gather_ceiling.min_ceiling, "parcels with a lower ceiling are not normalised")
      ->capture_default_str();

  auto* stat = app.add_subcommand("status", "Units done, failed (with their error) and pending of a run");
  stat->add_option("RUN_DIR", run_dir, "run directory")->required();

  std::vector<int> cost_ranks{1, 16, 256, 1024};
  bool calibrate = false;
  auto* pc = app.add_subcommand("plan-cost", "Predicted makespan and load balance of a plan on N ranks");
  pc->add_option("RUN_DIR", run_dir, "run directory written by `generate`")->required();
  pc->add_option("--ranks", cost_ranks, "rank counts, 1 to 1048576")->delimiter(',')->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  bool per_unit = false;
  pc->add_flag("--per-unit", per_unit, "also print each unit's shape and predicted seconds (CSV)");
  pc->add_flag("--calibrate", calibrate, "measure this machine's rates first (about 1 s) instead of the built-in ones");
  std::string rates_file;
  pc->add_option("--rates", rates_file, "rates fitted to a sweep's unit times on the machine to predict (JSON of "
                 "bench/fit_cost_rates.py --json; e.g. a GPU node for ridge.backend: cuda)")->check(CLI::ExistingFile);

  std::string extract_path;
  std::string dump_inputs;
  bool overwrite = false;
  auto* ext = app.add_subcommand("extract", "Extract features from stimuli (video, audio, transcripts) with a "
                                            "TorchScript model, into the feature layout sweeps read; under MPI, "
                                            "episodes are split across ranks");
  ext->add_option("EXTRACT", extract_path, "extraction file (YAML; docs/extraction.md)")->required();
  ext->add_option("--dump-inputs", dump_inputs, "also write each episode's model inputs (decoded frames, samples, "
                                                "token ids) to DIR/<stimset>_<episode>.h5, for checks");
  ext->add_flag("--overwrite", overwrite, "extract episodes whose feature file exists again (default: skip them)");
  bool extract_status = false;
  ext->add_flag("--status", extract_status, "only list the episodes extracted and pending (exit 0 all done, 3 some "
                                            "pending); loads no model");

  bs::StitchOptions so;
  auto* st = app.add_subcommand("stitch", "Per subject and parcel, average the top-k jobs and score them");
  st->add_option("RUN_DIR", run_dir, "a finished run directory")->required();
  st->add_option("--select", so.select, "selection score: cv or the name of an eval set")->capture_default_str();
  st->add_option("--top-k", so.top_k, "candidates per subject and parcel, best first (default: 1 for topk weights, "
                 "every job for softmax)")
      ->check([](const std::string& v) -> std::string {  // 0 is not "the default": refused
        long k = 0;
        try {
          k = std::stol(v);
        } catch (const std::exception&) {
          return "expected an integer >= 1, found '" + v + "'";
        }
        return k >= 1 ? std::string() : "expected >= 1 candidates per parcel, found " + v;
      });
  st->add_option("--weights", so.weights, "topk (equal weights over the top-k) or softmax (weights ∝ exp(score / T))")
      ->capture_default_str();
  st->add_option("--temperature", so.temperature, "softmax temperature T > 0, in units of the selection score (TRIBE: 0.3)");
  st->add_flag("--zscore", so.zscore, "z-score each candidate's predictions per parcel with its training predictions' "
               "mean and SD before averaging (VIBE); the ensemble rescaled to their weighted mean and SD");
  std::vector<std::string> stitch_overrides;
  st->add_option("--override", stitch_overrides, "GLOB=REGEX or GLOB!=REGEX: for the episodes matching GLOB, keep (=) or "
                 "drop (!=) the feature sets model/layers matching REGEX (e.g. 'chaplin*!=.*llama.*'); repeatable, the "
                 "first match applies");
  st->add_option("--eval", so.eval, "eval set to report the stitched score on (not the selection set); without it the "
                 "report gives the selection score (optimistic)");
  st->add_option("--min-score", so.min_score,
                 "a parcel whose best selection score is below this uses the best single job, not the top-k mean");
  st->add_option("--ceiling", so.ceiling, "ceiling CSV of `brainsweep ceiling` on the --eval set: also report r / ceiling");
  st->add_option("--min-ceiling", so.min_ceiling, "parcels with a lower ceiling are not normalised (counted, listed)")
      ->capture_default_str();
  st->add_option("--parcel-names", so.parcel_names,
                 "parcel names for the network report (one per line, or Schaefer2018_*_order.txt)");

  bs::SubmitOptions sub_opt;
  auto* sm = app.add_subcommand("submit", "Write the Algonauts 2025 submission zip of a test set from stitched predictions");
  sm->add_option("RUN_DIR", run_dir, "a run directory after `stitch`")->required();
  sm->add_option("--test-set", sub_opt.test_set, "test set of the plan (friends-s7, ood, ...)")->required();
  sm->add_option("--out,-o", sub_opt.out_dir, "directory for fmri_predictions_<test set>.zip")->required();
  sm->add_option("--parcels", sub_opt.n_parcels, "parcels per prediction")->capture_default_str()
      ->check(at_least(1, true));
  sm->add_option("--subjects", sub_opt.subjects, "subjects the scorer requires")->capture_default_str();
  sm->add_flag("--overwrite", sub_opt.overwrite, "replace an existing zip (refused otherwise)");

  bs::ValidateOptions vo;
  std::string zip_path;
  auto* vs = app.add_subcommand("validate-submission",
                                "Check a submission zip as the Algonauts 2025 scorer does; with fMRI (--dataset), score it");
  vs->add_option("ZIP", zip_path, "submission zip")->required();
  vs->add_option("--test-set", vo.test_set, "test set (friends-s7, ood, or a pseudo test set of the counts)")->required();
  vs->add_option("--counts", vo.counts,
                 "sample counts: a JSON {test set: {subject: {episode: n}}} or a template with {subject} and {test_set} "
                 "of np.save'd dicts")->required();
  vs->add_option("--subjects", vo.subjects, "subjects the scorer requires")->capture_default_str();
  vs->add_option("--parcels", vo.n_parcels, "parcels per prediction")->capture_default_str()
      ->check(at_least(1, true));
  vs->add_option("--dataset", vo.descriptor, "dataset descriptor of the held-out fMRI (dry run): score the file");
  vs->add_option("--root", vo.root, "data root replacing the descriptor's");
  vs->add_option("--atlas", vo.atlas, "atlas name in the fMRI file names")->capture_default_str();
  vs->add_option("--exclude-start", vo.exclude_start, "samples dropped at the start of each episode")->capture_default_str();
  vs->add_option("--exclude-end", vo.exclude_end, "samples dropped at the end of each episode")->capture_default_str();

  bs::DemoOptions demo;
  auto* dd = app.add_subcommand("demo-data", "Write the embedded synthetic demo dataset (Algonauts 2025 layout)");
  dd->add_option("--out,-o", demo_out, "directory to create")->required();
  dd->add_option("--parcels", demo.n_parcels, "parcels per subject")->capture_default_str()->check(CLI::Range(1, 1000));
  dd->add_option("--seed", demo.seed, "random seed")->capture_default_str()->check(check_seed);

  bs::RidgeCommandOptions ro;
  std::string alphas_text;
  bool timings = false;
  auto* rc = app.add_subcommand("ridge", "RidgeCV on prepared matrices in HDF5 files (ENCODING.md §2-4)");
  rc->add_option("--x-train", ro.x_train, "training design, FILE.h5:/dataset (n × p)")->required();
  rc->add_option("--y-train", ro.y_train, "training targets, FILE.h5:/dataset (n × t)")->required();
  rc->add_option("--x-test", ro.x_test, "test design, FILE.h5:/dataset (m × p)")->required();
  rc->add_option("--y-test", ro.y_test, "test targets, FILE.h5:/dataset (m × t): adds test_r");
  rc->add_option("--alphas", alphas_text, "1,10,100 or logspace:START:STOP:NUM (default 10^-1..10^7, 17 steps)");
  rc->add_option("--folds", ro.folds, "K of K-fold CV (contiguous blocks)")->capture_default_str()->check(CLI::Range(2, 1000));
  rc->add_option("--backend", ro.backend, "cpu or cuda")->capture_default_str();
  rc->add_option("--threads", ro.threads, "BLAS threads of the cpu backend (0: OpenBLAS default)")->capture_default_str()
      ->check(CLI::Range(0, 4096));
  rc->add_option("--precision", ro.precision, "mixed or float64 (float32 is refused: docs/ridge-engine.md)")->capture_default_str();
  rc->add_option("--solver", ro.solver, "auto, primal or dual")->capture_default_str();
  rc->add_option("--target-batch", ro.target_batch, "targets solved together")->capture_default_str()
      ->check(at_least(1, true));
  rc->add_option("--out", ro.out, "output HDF5 file (refused if it exists)")->required();
  rc->add_flag("--timings", timings, "print one JSON line: seconds and GFLOP/s per phase, peak RSS");

  bs::CeilingOptions co;
  auto* cc = app.add_subcommand("ceiling", "Noise ceilings per subject and parcel on a set of a sweep (inter-subject "
                                           "split-half or NCSNR; METRICS.md §1), for stitch --ceiling");
  cc->add_option("sweep", co.sweep, "sweep YAML (dataset, atlas, subjects, sets)")->required();
  cc->add_option("--method", co.method, "isc (leave-one-out inter-subject correlation), split_half (repeated "
                                        "episodes <stimulus>_run-<n>, or runs with --events) or ncsnr (with --events)")
      ->required();
  cc->add_option("--events", co.events, "BIDS events of each run, a template with {episode} (and {subject}): "
                                        "split_half/ncsnr on condition patterns, every run a repeat");
  cc->add_option("--set", co.set, "an eval set of the sweep, or train")->required();
  cc->add_option("--out", co.out, "output CSV (refused if it exists)")->required();

  bs::RsaCommand rsa;
  std::string rsa_comparisons = "corr";
  auto* rs = app.add_subcommand("rsa", "Compare model RDMs with subjects' RDMs (RSA; METRICS.md §2): similarity, "
                                       "bootstrap over conditions, permutation test, noise ceiling");
  bs::RsaSweepCommand rsw;
  rs->add_option("--rdms", rsa.rdms, "HDF5 file holding the RDMs (conditions × conditions datasets)");
  rs->add_option("--brain", rsa.brain, "with --rdms: a group of subjects (each a dataset, or a group of session "
                                       "datasets); repeatable");
  rs->add_option("--model", rsa.models, "with --rdms: a model RDM dataset, or a group of them; repeatable");
  rs->add_option("--features", rsa.features, "with --rdms: a stimulus-level feature file (one row per condition, e.g. "
                 "from `extract` with image:), FILE.h5 (every 2-D dataset) or FILE.h5:LAYER; repeatable");
  rs->add_option("--sweep", rsw.sweep, "instead of --rdms: a sweep whose subjects (fMRI) and feature sets give the RDMs");
  std::string rsa_predictions;
  int rsa_hrf_delay = -1;
  rs->add_option("--predictions", rsa_predictions, "instead of --rdms/--sweep: veRSA, the RDMs of a finished encoding "
                 "run's held-out predictions (RUN_DIR; --set: its eval sets) against the subjects' brain RDMs");
  rs->add_option("--hrf-delay", rsa_hrf_delay, "with --predictions: the BOLD lag (TRs) of the samples of an event "
                 "(default: the run's, if its jobs share one)")->check(CLI::Range(0, 1000));
  rs->add_option("--events", rsw.events, "with --sweep: BIDS events file of each episode, a template with {episode}");
  rs->add_option("--set", rsw.set, "with --sweep: the episodes (an eval set of the sweep, or train)");
  rs->add_option("--distance", rsw.distance, "of the RDMs computed from patterns: correlation, euclidean, "
                 "standardized-euclidean (channels z-scored) or (--sweep) crossnobis, cross-validated over the set's runs")->capture_default_str();
  rs->add_option("--roi", rsw.rois, "with --sweep: NAME=REGEX, the parcels whose names match (repeatable; default: all "
                                    "parcels of the atlas)");
  rs->add_option("--comparison", rsa_comparisons, "comma-separated: corr, spearman, tau-a, cosine, cka, cka-debiased")->capture_default_str();
  rs->add_option("--bootstrap", rsa.options.bootstrap, "resamples of the conditions (0: none)")->capture_default_str()
      ->check(CLI::Range(0L, 100000000L));
  rs->add_option("--permutations", rsa.options.permutations, "permutations of the model's conditions (0: none)")
      ->capture_default_str()->check(CLI::Range(0L, 100000000L));
  rs->add_option("--seed", rsa.options.seed, "seed of the counter-based resampling stream")->capture_default_str()
      ->check(check_seed);
  bool rsa_no_ceiling = false;
  rs->add_flag("--no-ceiling", rsa_no_ceiling, "skip the noise ceiling (allows ROIs of one subject)");
  rs->add_option("--save-rdms", rsa.save_rdms, "also write the RDMs compared to this HDF5 file (for tools/plot_rsa.py)");
  rs->add_option("--out", rsa.out, "output CSV (refused if it exists); required, except for a sweep without features "
                 "(brain RDMs only, to --save-rdms)");

  bs::WrsaCommand wr;
  std::string wr_fits = "ols,nnls";
  auto* wrc = app.add_subcommand("wrsa", "Weighted RSA: a mixture of model RDMs fitted on some subjects and conditions, "
                                         "scored by Pearson r on others beside the noise ceiling of the same folds");
  wrc->add_option("--rdms", wr.input.rdms, "HDF5 file holding the RDMs (as rsa --rdms)")->required();
  wrc->add_option("--brain", wr.input.brain, "a group of subjects (each a dataset, or a group of session datasets); "
                                             "repeatable")->required();
  wrc->add_option("--model", wr.input.models, "a model RDM dataset, or a group of them (nested groups included); "
                                              "repeatable")->required();
  wrc->add_option("--fit", wr_fits, "comma-separated: ols (rsatoolbox fit_regress, 'corr'), nnls (non-negative)")
      ->capture_default_str();
  wrc->add_option("--cv", wr.cv, "subjects, stimuli or both (every subject fold × condition fold)")->capture_default_str();
  wrc->add_option("--subject-folds", wr.subject_folds, "folds of subjects (default: leave one subject out)");
  wrc->add_option("--stimulus-folds", wr.stimulus_folds, "folds of conditions (each at least 3 conditions)")
      ->capture_default_str();
  wrc->add_option("--ridge-weight", wr.ridge_weight, "λ added to the models' Gram matrix")->capture_default_str();
  wrc->add_option("--seed", wr.seed, "seed of the fold assignment")->capture_default_str()->check(check_seed);
  wrc->add_option("--out", wr.out, "output CSV (refused if it exists)")->required();

  bs::VpaCommand vp;
  auto* vpc = app.add_subcommand("vpa", "Net2Brain's variance partitioning of RDMs: in-sample R² of every subset of 2-4 "
                                        "spaces of model RDMs per subject, unique and shared parts, t-test and BH-FDR");
  vpc->add_option("--rdms", vp.rdms, "HDF5 file holding the RDMs (as rsa --rdms)")->required();
  vpc->add_option("--brain", vp.brain, "a group of subjects (each a dataset, or a group of session datasets); "
                                       "repeatable")->required();
  vpc->add_option("--space", vp.spaces, "NAME=DATASET[,DATASET...]: a feature space's model RDMs (datasets or groups); "
                                        "2 to 4 times")->required();
  vpc->add_flag("--average-models", vp.average_models, "each space's RDMs averaged into one regressor");
  vpc->add_option("--out", vp.out, "output CSV (refused if it exists)")->required();

  bs::OddOneOutCommand oo;
  std::string oo_similarity = "dot", oo_rule = "odd-one-out";
  auto* ooc = app.add_subcommand("odd-one-out", "Accuracy of an embedding on odd-one-out triplets (THINGS), with a "
                                                "bootstrap and the human noise ceiling (METRICS.md §3)");
  ooc->add_option("--embedding", oo.embeddings, "items × dimensions: FILE.npy, FILE.h5:/dataset (a feature layer) or "
                  "FILE.h5 (each of its 2-D datasets, e.g. the layers `extract` wrote); "
                                               "repeatable, one CSV row each")->required();
  ooc->add_option("--triplets", oo.triplets, "TSV with item_a, item_b, item_c (1-based rows) and odd_one_out (1-3)")
      ->required();
  ooc->add_option("--similarity", oo_similarity, "dot or cosine")->capture_default_str();
  ooc->add_option("--rule", oo_rule, "odd-one-out (chance 1/3) or anchor (chance 1/2)")->capture_default_str();
  ooc->add_option("--bootstrap", oo.options.bootstrap, "resamples of the triplets (0: none)")->capture_default_str()
      ->check(CLI::Range(0L, 1000000000L));
  ooc->add_option("--seed", oo.options.seed, "seed of the bootstrap's counter-based draws")->capture_default_str()
      ->check(check_seed);
  ooc->add_option("--out", oo.out, "output CSV (one row; refused if it exists)")->required();
  ooc->add_flag("--timings", timings, "also print the seconds spent reading and computing");

  if (argc > 1 && argv[1][0] != '-') {
    std::string known;
    bool found = false;
    for (const auto* sub : app.get_subcommands({})) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      found = found || sub->get_name() == argv[1];
    }
    if (!found) {
      fmt::print(stderr, "error: unknown subcommand '{}' (expected one of: {}); run with --help\n", argv[1], known);
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    if (*gen) return cmd_generate(sweep_path, out, gen_ranks, start_over);
    if (*run) {
      run_opts.gather = !no_gather;
      return with_mpi([&](MPI_Comm comm) { return bs::run_plan(run_dir, comm, run_opts); });
    }
    if (*gat) return with_mpi([&](MPI_Comm comm) { return bs::gather_results(run_dir, comm, true, gather_ceiling); });
    if (*stat) return bs::print_run_status(run_dir, std::cout);
    if (*ext) {
#if BRAINSWEEP_WITH_TORCH
      // Extraction lives in a module (src/features/extract_module.cpp says why).
      using Entry = int (*)(int, const char*, const char*, int, MPI_Comm, char*, size_t);
      const auto entry = reinterpret_cast<Entry>(bs::module_symbol(
          {"feature extraction", "BRAINSWEEP_EXTRACT_MODULE", BRAINSWEEP_EXTRACT_MODULE_NAME,
           BRAINSWEEP_EXTRACT_MODULE_PATH, "brainsweep_extract_entry"}));
      char err[8192];
      const int checked = entry(extract_status ? 1 : 0, extract_path.c_str(), nullptr, 0, MPI_COMM_NULL, err, sizeof err);
      if (checked != 0 || extract_status) {
        if (err[0]) fmt::print(stderr, "error: {}\n", err);
        return checked;
      }
      return with_mpi([&](MPI_Comm comm) {
        const int rc = entry(2, extract_path.c_str(), dump_inputs.c_str(), overwrite, comm, err, sizeof err);
        if (err[0]) throw bs::Error(err);
        return rc;
      });
#else
      throw bs::NotCompiled("extract: this brainsweep was built without libtorch (configure with "
                            "-DBRAINSWEEP_WITH_TORCH=ON; Debian: libtorch-dev, libavformat-dev, libsentencepiece-dev)");
#endif
    }
    if (*pc) {
      const auto plan = bs::Plan::load(run_dir);
      if (calibrate && !rates_file.empty()) throw bs::ConfigError("plan-cost: --calibrate or --rates, not both");
      const bs::MachineRates rates = !rates_file.empty() ? bs::rates_from_json(rates_file)
                                     : calibrate         ? bs::calibrate_rates()
                                                         : bs::MachineRates{};
      if (plan.backend != rates.backend)
        fmt::print("warning: the plan fits on {} (ridge.backend) but these rates are {}'s ({}): give --rates with rates "
                   "fitted on the machine that will run it (bench/sweep_bench.py --backends {} writes them)\n",
                   plan.backend, rates.backend, rates.source.empty() ? "built in" : rates.source, plan.backend);
      print_plan_cost(plan, cost_ranks, rates, per_unit);
      return 0;
    }
    if (*st) {
      for (const auto& spec : stitch_overrides) so.overrides.push_back(bs::parse_stitch_override(spec));
      bs::stitch(run_dir, so, std::cout);
      return 0;
    }
    if (*rc) {
      if (!alphas_text.empty()) ro.alphas = bs::parse_alphas(alphas_text);
      const auto t = bs::run_ridge_command(ro);
      if (timings) fmt::print("{}\n", t.dump());
      else fmt::print("wrote {} ({} solver, fit {:.3f} s)\n", ro.out, t["solver"].get<std::string>(), t["fit_s"].get<double>());
      return 0;
    }
    if (*sm) {
      bs::submit(run_dir, sub_opt, std::cout);
      return 0;
    }
    if (*vs) {
      const auto v = bs::validate_submission(zip_path, vo);
      for (const auto& p : v.problems) fmt::print(stderr, "error: {}\n", p);
      if (!v.problems.empty()) {
        fmt::print(stderr, "{}: INVALID ({} problems); the scorer would reject it (score 0)\n", zip_path, v.problems.size());
        return 2;
      }
      fmt::print("{}: valid submission for test set '{}' ({} subjects)\n", zip_path, vo.test_set, vo.subjects.size());
      if (v.scored) {
        for (const auto& [sub, movies] : v.movie_r)
          for (const auto& [movie, r] : movies) fmt::print("  {} {:<16} mean r {:.6f}\n", sub, movie, r);
        fmt::print("score (mean Pearson r over parcels, movies, subjects): {:.9f}\n", v.score);
      }
      return 0;
    }
    if (*rs) {
      rsa.comparisons.clear();
      std::stringstream ss(rsa_comparisons);
      for (std::string item; std::getline(ss, item, ',');) rsa.comparisons.push_back(item);
      rsa.ceiling = !rsa_no_ceiling;
      if (static_cast<int>(!rsa.rdms.empty()) + static_cast<int>(!rsw.sweep.empty()) + static_cast<int>(!rsa_predictions.empty()) != 1)
        throw bs::ConfigError("rsa: give one of --rdms FILE.h5 (with --brain and --model), --sweep SWEEP.yaml (with "
                              "--events and --set) or --predictions RUN_DIR (with --events and --set)");
      if (rsa_hrf_delay >= 0 && rsa_predictions.empty())
        throw bs::ConfigError("--hrf-delay: only with --predictions (rsa --sweep takes the sweep's grid.hrf_delay)");
      if (!rsa_predictions.empty()) {
        if (rsw.events.empty() || rsw.set.empty()) throw bs::ConfigError("rsa --predictions: --events and --set are required");
        if (rsa.out.empty()) throw bs::ConfigError("rsa --predictions: --out is required (the CSV of the comparisons)");
        if (!rsa.save_rdms.empty()) throw bs::ConfigError("--save-rdms: not with --predictions (one model RDM per job and subject)");
        rsw.comparisons = rsa.comparisons;
        rsw.options = rsa.options;
        rsw.ceiling = rsa.ceiling;
        rsw.out = rsa.out;
        bs::run_versa_command(rsw, rsa_predictions, rsa_hrf_delay, std::cout);
      } else if (!rsa.rdms.empty()) {
        if (rsa.brain.empty() || (rsa.models.empty() && rsa.features.empty()))
          throw bs::ConfigError("rsa --rdms: --brain and --model (or --features) are required");
        rsa.distance = rsw.distance;
        if (rsa.out.empty()) throw bs::ConfigError("rsa --rdms: --out is required (the CSV of the comparisons)");
        bs::run_rsa_command(rsa, std::cout);
      } else {
        if (rsw.events.empty() || rsw.set.empty()) throw bs::ConfigError("rsa --sweep: --events and --set are required");
        rsw.comparisons = rsa.comparisons;
        rsw.options = rsa.options;
        rsw.ceiling = rsa.ceiling;
        rsw.out = rsa.out;
        rsw.save_rdms = rsa.save_rdms;
        bs::run_rsa_sweep_command(rsw, std::cout);
      }
      return 0;
    }
    if (*vpc) {
      bs::run_vpa_command(vp, std::cout);
      return 0;
    }
    if (*wrc) {
      wr.fits.clear();
      std::stringstream ss(wr_fits);
      for (std::string item; std::getline(ss, item, ',');) wr.fits.push_back(item);
      bs::run_wrsa_command(wr, std::cout);
      return 0;
    }
    if (*cc) {
      bs::run_ceiling_command(co, std::cout);
      return 0;
    }
    if (*ooc) {
      oo.options.similarity = bs::parse_similarity(oo_similarity);
      oo.options.rule = bs::parse_odd_rule(oo_rule);
      double read_s = 0, compute_s = 0;
      oo.embeddings = bs::expand_embeddings(oo.embeddings);
      const auto results = bs::run_odd_one_out_command(oo, &read_s, &compute_s);
      for (size_t k = 0; k < results.size(); ++k) {
        const auto& r = results[k];
        if (results.size() > 1) fmt::print("{}: ", oo.embeddings[k]);
        fmt::print("{} triplets of {} items ({} similarity, rule {}): accuracy {:.4f} ({} correct; chance {:.4f})",
                   r.n_triplets, r.n_items, oo_similarity, oo_rule, r.accuracy, r.n_correct, r.chance);
        if (oo.options.bootstrap > 0)
          fmt::print(", bootstrap SD {:.4f}, 95 % interval [{:.4f}, {:.4f}] ({} resamples)", r.bootstrap_sd, r.ci_low,
                     r.ci_high, oo.options.bootstrap);
        fmt::print("\n");
      }
      const auto& r = results.front();
      if (oo.options.rule == bs::OddRule::anchor)
        fmt::print("no human noise ceiling for the anchor rule (the repeated triplets' ceiling is the odd-one-out "
                   "task's; {} repeated triplets)\n", r.n_repeated);
      else if (r.n_repeated > 0)
        fmt::print("human noise ceiling {:.4f} over {} repeated triplets ({} distinct)\n", r.human_ceiling, r.n_repeated,
                   r.n_distinct);
      else
        fmt::print("no triplet repeats: no human noise ceiling\n");
      if (timings) fmt::print("{{\"read_s\": {:.6f}, \"compute_s\": {:.6f}}}\n", read_s, compute_s);
      fmt::print("wrote {}\n", oo.out);
      return 0;
    }
    if (*dd) {
      bs::write_demo_dataset(demo_out, demo);
      fmt::print("wrote the demo dataset to {} (planted r per parcel in planted_r.csv)\n", demo_out);
      return 0;
    }
  } catch (const bs::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 2;
}
