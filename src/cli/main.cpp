// brainsweep: one executable, one subcommand per stage. main() stays thin: it parses arguments,
// calls the library and maps exceptions to exit codes (0 success, 1 runtime failure, 2 input error).
#include <mpi.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "brainsweep/build_config.hpp"
#include "brainsweep/config.hpp"
#include "brainsweep/demo.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/ridge_command.hpp"
#include "brainsweep/run.hpp"
#include "brainsweep/stitch.hpp"
#include "brainsweep/submit.hpp"

namespace bs = brainsweep;

namespace {

int cmd_generate(const std::string& sweep_path, const std::string& out) {
  const auto sweep = bs::Sweep::load(sweep_path);
  const auto plan = bs::make_plan(sweep);
  const bool written = bs::write_plan(plan, out);
  std::set<std::string> sets;
  for (const auto& f : sweep.features) {
    std::string l;
    for (const auto& x : f.layers) l += (l.empty() ? "" : "+") + x;
    sets.insert(f.model + "/" + l);
  }
  fmt::print("plan: {} jobs in {} units = {} feature sets × {} hrf_delay × {} stimulus_window × {} subjects\n",
             plan.jobs.size(), plan.units.size(), sweep.features.size(), sweep.hrf_delay.size(),
             sweep.stimulus_window.size(), plan.subjects.size());
  std::string subs, evals;
  for (const auto& s : plan.subjects) subs += (subs.empty() ? "" : ", ") + s;
  for (const auto& e : plan.eval) evals += (evals.empty() ? "" : ", ") + fmt::format("{} ({} episodes)", e.name, e.episodes.size());
  fmt::print("dataset: {} ({}), atlas {}, TR {} s, exclude {}/{}\n", plan.dataset_name, plan.dataset_root, plan.atlas,
             plan.tr, plan.exclude_start, plan.exclude_end);
  fmt::print("subjects: {}\n", subs);
  fmt::print("feature sets: ");
  bool first = true;
  for (const auto& s : sets) fmt::print("{}{}", first ? "" : ", ", s), first = false;
  fmt::print("\ntrain: {} episodes, {}-fold CV, {} alphas; eval sets: {}\n", plan.train.size(), plan.folds,
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
  for (const auto& e : plan.eval)
    for (const auto& ep : e.episodes)
      if (std::find(plan.train.begin(), plan.train.end(), ep) != plan.train.end())
        fmt::print(stderr, "warning: eval set '{}' contains training episode '{}'; its score is not held out\n",
                   e.name, ep);
  fmt::print("{} {}\n", written ? "wrote" : "unchanged (same plan already there):",
             (std::filesystem::path(out) / "plan.json").string());
  return 0;
}

int cmd_run(const std::string& run_dir) {
  MPI_Init(nullptr, nullptr);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  spdlog::set_pattern(fmt::format("[%H:%M:%S] [rank {}/{}] %v", rank, size));
  int code = 1;
  try {
    code = bs::run_plan(run_dir, MPI_COMM_WORLD);
  } catch (const std::exception& e) {
    // Anything that escapes run_plan is unexpected and may be one rank only: abort them all.
    fmt::print(stderr, "[rank {}/{}] {}\n", rank, size, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"brainsweep " BRAINSWEEP_VERSION
               ": fit and compare brain encoding models at cluster scale.\n"
               "Stages: generate (sweep → plan), run (under MPI: fit every job), stitch (best models per parcel),\n"
               "submit (Algonauts 2025 zip of a test set), validate-submission (the scorer's checks and score)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", BRAINSWEEP_VERSION);
  spdlog::set_pattern("[%H:%M:%S] %v");

  std::string sweep_path, out, run_dir, demo_out;
  auto* gen = app.add_subcommand("generate", "Expand a sweep YAML into a plan of jobs with stable ids in RUN_DIR");
  gen->add_option("SWEEP", sweep_path, "sweep file (YAML)")->required();
  gen->add_option("--out,-o", out, "run directory to create (refused if it holds a different plan)")->required();

  auto* run = app.add_subcommand("run", "Fit every job of a plan; launch with mpirun/srun for several ranks");
  run->add_option("RUN_DIR", run_dir, "run directory written by `generate`")->required();

  bs::StitchOptions so;
  auto* st = app.add_subcommand("stitch", "Per subject and parcel, average the top-k jobs and score them");
  st->add_option("RUN_DIR", run_dir, "a finished run directory")->required();
  st->add_option("--select", so.select, "selection score: cv or the name of an eval set")->capture_default_str();
  st->add_option("--top-k", so.top_k, "jobs averaged per subject and parcel")->capture_default_str();
  st->add_option("--eval", so.eval, "eval set to report the stitched score on (not the selection set)")->required();
  st->add_option("--min-score", so.min_score,
                 "a parcel whose best selection score is below this uses the best single job, not the top-k mean");
  st->add_option("--parcel-names", so.parcel_names,
                 "parcel names for the network report (one per line, or Schaefer2018_*_order.txt)");

  bs::SubmitOptions sub_opt;
  auto* sm = app.add_subcommand("submit", "Write the Algonauts 2025 submission zip of a test set from stitched predictions");
  sm->add_option("RUN_DIR", run_dir, "a run directory after `stitch`")->required();
  sm->add_option("--test-set", sub_opt.test_set, "test set of the plan (friends-s7, ood, ...)")->required();
  sm->add_option("--out,-o", sub_opt.out_dir, "directory for fmri_predictions_<test set>.zip")->required();
  sm->add_option("--parcels", sub_opt.n_parcels, "parcels per prediction")->capture_default_str();
  sm->add_option("--subjects", sub_opt.subjects, "subjects the scorer requires")->capture_default_str();

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
  vs->add_option("--parcels", vo.n_parcels, "parcels per prediction")->capture_default_str();
  vs->add_option("--dataset", vo.descriptor, "dataset descriptor of the held-out fMRI (dry run): score the file");
  vs->add_option("--root", vo.root, "data root replacing the descriptor's");
  vs->add_option("--atlas", vo.atlas, "atlas name in the fMRI file names")->capture_default_str();
  vs->add_option("--exclude-start", vo.exclude_start, "samples dropped at the start of each episode")->capture_default_str();
  vs->add_option("--exclude-end", vo.exclude_end, "samples dropped at the end of each episode")->capture_default_str();

  bs::DemoOptions demo;
  auto* dd = app.add_subcommand("demo-data", "Write the embedded synthetic demo dataset (Algonauts 2025 layout)");
  dd->add_option("--out,-o", demo_out, "directory to create")->required();
  dd->add_option("--parcels", demo.n_parcels, "parcels per subject")->capture_default_str()->check(CLI::Range(1, 1000));
  dd->add_option("--seed", demo.seed, "random seed")->capture_default_str();

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
  rc->add_option("--threads", ro.threads, "BLAS threads of the cpu backend (0: OpenBLAS default)")->capture_default_str();
  rc->add_option("--precision", ro.precision, "mixed, float64 or float32")->capture_default_str();
  rc->add_option("--solver", ro.solver, "auto, primal or dual")->capture_default_str();
  rc->add_option("--target-batch", ro.target_batch, "targets solved together")->capture_default_str();
  rc->add_option("--out", ro.out, "output HDF5 file (refused if it exists)")->required();
  rc->add_flag("--timings", timings, "print one JSON line: seconds and GFLOP/s per phase, peak RSS");

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
    if (*gen) return cmd_generate(sweep_path, out);
    if (*run) return cmd_run(run_dir);
    if (*st) {
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
