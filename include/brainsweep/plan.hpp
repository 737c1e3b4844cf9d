#pragma once
/// The sweep generator: a Sweep expanded into jobs with stable ids, grouped in work units, with
/// every input file resolved and checked (docs/plan-format.md).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "brainsweep/config.hpp"

namespace brainsweep {

/// One fMRI run of one subject.
struct FmriRef {
  std::string file, dataset;
  long n_tr = 0, n_parcels = 0;
};

/// A named evaluation set; `movies` maps each episode to its movie (ENCODING.md §5).
struct EvalSet {
  std::string name;
  std::vector<std::string> episodes;
  std::map<std::string, std::string> movies;
};

/// A test set (issue #5): episodes with features but no fMRI, predicted for every sample listed
/// in the set's sample counts (no exclusion), per subject.
struct TestSet {
  std::string name;
  std::string counts_source;          ///< JSON file or template the counts were read from
  std::vector<std::string> episodes;  ///< union over subjects, in count-file order
  std::map<std::string, std::string> movies;
  /// subject → (episode, n_samples) in count-file order; what a submission must hold
  std::map<std::string, std::vector<std::pair<std::string, long>>> n_samples;
  /// Samples of `episode` for `subject`, 0 if the subject has no such episode.
  long count(const std::string& subject, const std::string& episode) const;
};

/// One point of the sweep: feature set × grid point × subject (ENCODING.md, Terms).
struct Job {
  std::string job_id, unit_id, model;
  std::vector<std::string> layers;
  int hrf_delay = 0, stimulus_window = 1;
  std::string subject;
  std::vector<FeatureBand> bands;  ///< a banded feature set's bands (FeatureSet), else empty
  std::vector<double> gamma;       ///< their weights on the simplex
  /// A trained encoder's job (its unit's configuration): `model` is then "encoder", `layers` the
  /// streams' labels (model/layer+layer), hrf_delay 0 and stimulus_window 1 (features start-aligned).
  std::optional<EncoderConfig> encoder;
  std::string partition;  ///< a variance partition's subset model: its family (FeatureSet::partition)
  std::string estimator;  ///< "pls" for a PLS encoder (FeatureSet::estimator), empty for ridge
  /// Whether `bands` are bands of the design (a banded set, a partition's subset model), whose scores
  /// split per band; a PLS job's one band is its feature set.
  bool split_by_band() const { return !bands.empty() && estimator.empty(); }
};

/// Jobs that share one design matrix and one set of training rows: fitted together.
struct Unit {
  std::string unit_id, model;
  std::vector<std::string> layers;
  int hrf_delay = 0, stimulus_window = 1;
  std::vector<std::string> subjects;
  std::vector<std::string> job_ids;
  /// Training episodes of this unit when they differ from the plan's (`episodes: per_subject` and a
  /// subject that lacks some runs); empty means `Plan::train`.
  std::vector<std::string> train;
  std::vector<FeatureBand> bands;  ///< a banded feature set's bands (FeatureSet), else empty
  std::vector<double> gamma;       ///< their weights on the simplex: band k's columns scaled by √γ_k
  /// A trained encoder (docs/trained-encoders.md): one model for every subject of the unit, trained on
  /// `train` (the training episodes every subject has), early-stopped on Plan::encoder's eval set.
  std::optional<EncoderConfig> encoder;
  std::string partition;  ///< a variance partition's subset model: its family (FeatureSet::partition)
  std::string estimator;  ///< "pls" for a PLS encoder (FeatureSet::estimator), empty for ridge
  /// Whether `bands` are bands of the design (a banded set, a partition's subset model), whose scores
  /// split per band; a PLS job's one band is its feature set.
  bool split_by_band() const { return !bands.empty() && estimator.empty(); }
};

/// What the trained encoders of a plan share (the sweep's `encoder:` beyond its grid).
struct EncoderRun {
  std::string early_stopping;  ///< eval set, or empty with holdout
  double holdout = 0;          ///< or the tail fraction of every training episode (EncoderSpec::holdout)
  std::string device = "cpu";
  int threads = 0;
};

struct Plan {
  std::string version, sweep_file;
  std::string dataset_name, dataset_descriptor, dataset_root, atlas;
  double tr = 0;
  int exclude_start = 0, exclude_end = 0, max_missing_feature_rows = 0;
  std::vector<std::string> subjects, train;
  std::vector<EvalSet> eval;
  std::vector<TestSet> test;  ///< may be empty
  int folds = 5;
  std::vector<double> alphas;
  std::string backend;
  std::string precision = "mixed";
  std::string prediction_dtype = "float32";  ///< of the predictions in job files (ridge.prediction_dtype)
  /// "per_subject" (each subject trains on the listed episodes it has; subjects that lack some form
  /// their own units, whose `train` lists them) or "common" (`train` holds the listed episodes all
  /// subjects have).
  std::string episodes = "per_subject";
  std::map<std::string, std::map<std::string, FmriRef>> fmri;           ///< subject → episode → run
  std::map<std::string, std::map<std::string, std::string>> features;   ///< model → episode → file
  std::vector<Unit> units;
  std::vector<Job> jobs;
  /// An RSA plan (the sweep's `rsa:`): each unit compares its feature set's RDM with every subject
  /// × ROI (rsa_unit, rsa_sweep.hpp) instead of fitting ridge; results.csv holds the RSA table.
  std::optional<RsaSpec> rsa;
  /// Trained encoders: units with Unit::encoder (docs/trained-encoders.md).
  std::optional<EncoderRun> encoder;
  /// PLS encoders: units with Unit::estimator "pls" (the sweep's `pls:`).
  std::optional<PlsSpec> pls;
  /// plan_checksum of RUN_DIR/plan.json (set by `load`; empty for a plan not read from a file).
  /// Every job file carries it (attribute `plan_checksum`), so a file of another plan is never
  /// taken for this one's.
  std::string checksum;

  /// The plan as JSON, without its checksum (write_plan adds it).
  nlohmann::json to_json() const;
  /// @throw DataError  if the JSON is not a brainsweep plan (names `where`)
  static Plan from_json(const nlohmann::json& j, const std::string& where);
  /// Read RUN_DIR/plan.json and check its checksum (plan_checksum).
  /// @throw DataError  if RUN_DIR or plan.json is missing, malformed, has no checksum or was edited
  ///        after `generate` (the stored checksum differs from the content's)
  static Plan load(const std::string& run_dir);
  const EvalSet& eval_set(const std::string& name) const;
  /// Episodes of the set `name`: "train" (the training episodes) or an eval set; nullptr if neither
  /// (the caller names its option in the message; set_names lists the choices).
  const std::vector<std::string>* set_episodes(const std::string& name) const;
  /// "train, NAME, …": the sets set_episodes knows, for messages.
  std::string set_names() const;
  /// Episodes of all eval sets, each once, in the order the sets list them.
  std::vector<std::string> eval_episodes() const;
  const Job& job(const std::string& job_id) const;
  /// @throw ConfigError  naming the plan's test sets if `name` is not one
  const TestSet& test_set(const std::string& name) const;
  /// Training episodes of `unit`, in fold order: `unit.train`, or `train` when that is empty.
  const std::vector<std::string>& train_of(const Unit& unit) const { return unit.train.empty() ? train : unit.train; }
};

/// How much of a sweep make_plan resolves: everything (`full`), or only the fMRI runs of its
/// subjects and sets (`fmri`: no feature files, grid or units; for `brainsweep ceiling`, which
/// needs no model and accepts a sweep without `features`).
enum class PlanScope { full, fmri };

/// An encoder configuration as JSON (plan.json, job ids) and back.
nlohmann::json encoder_json(const EncoderConfig& c);
EncoderConfig encoder_from_json(const nlohmann::json& j);
/// "annotations/all", "llama/layers.11+layers.12": the label of a stream (FeatureBand).
std::string stream_label(const FeatureBand& s);

/// Expand a sweep into a plan, resolving and checking every fMRI and feature file it needs
/// (existence, episode keys, layers, feature rows against fMRI rows). Reads metadata only.
/// @throw ConfigError, DataError  naming the file and the key or dataset; ConfigError for a sweep
///        without `features` in the `full` scope
Plan make_plan(const Sweep& sweep, PlanScope scope = PlanScope::full);

/// Write the plan into run_dir (plan.json, sweep.yaml), creating it. A run_dir that already holds
/// the same plan is left as it is (a rerun resumes); one that holds a different plan is refused
/// unless `start_over`, which first deletes that plan and its results (remove_run_outputs); one
/// that holds other files and no plan is refused. plan.json carries `checksum` (plan_checksum). A
/// plan.json with the same content but a missing or broken checksum, or one edited by hand whose
/// stored checksum is this plan's, is written again and its results are kept.
/// @return  false if the identical plan was already there
/// @throw ConfigError  when run_dir holds a different plan (without start_over) or is not a brainsweep run directory
bool write_plan(const Plan& plan, const std::string& run_dir, bool start_over = false);

/// Delete what brainsweep wrote in a run directory: plan.json, sweep.yaml, jobs/, units/,
/// results.csv, results.h5 and stitched/ (and their temporaries). Other files (e.g. SLURM logs)
/// stay. Not collective. @throw Error if something cannot be removed
void remove_run_outputs(const std::string& run_dir);

/// RUN_DIR/run.lock: `run`, `gather` and `generate --start-over` hold it (fs::FileLock), so that two
/// of them never write one RUN_DIR at once; a second one exits 2 naming the holder.
std::string run_lock_path(const std::string& run_dir);

/// Checksum of a plan's JSON: stable_id of its compact dump without the key "checksum".
/// write_plan stores it in plan.json; Plan::load refuses a plan.json whose content no longer matches.
std::string plan_checksum(const nlohmann::json& plan_json);

/// First 16 hex digits of XXH3-64 of `text`.
std::string stable_id(const std::string& text);

}  // namespace brainsweep
