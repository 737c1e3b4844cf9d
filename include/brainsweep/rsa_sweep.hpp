#pragma once
/// `brainsweep rsa --sweep`: RSA on conditions defined by BIDS events (METRICS.md §2), for the
/// subjects and feature sets of a sweep: one brain RDM per subject from its fMRI patterns over all
/// parcels of the sweep's atlas, one model RDM per feature set × grid point from the design rows of
/// the same samples, every model compared with the subjects.
#include <ostream>
#include <string>
#include <vector>

#include <map>
#include <utility>

#include "brainsweep/events.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/rsa.hpp"

namespace brainsweep {

struct RsaSweepCommand {
  std::string sweep;
  std::string events;    ///< template with {episode}: the events file of each episode of the set
  std::string set;       ///< sets of the sweep, comma-separated (train or eval sets): their episodes are the runs
  std::string distance = "correlation";
  /// ROIs as NAME=REGEX (full match over the parcel names of the atlas file, e.g. `vis=.*_Vis_.*` for
  /// a Schaefer network); none: one ROI of all parcels, named after the atlas
  std::vector<std::string> rois;
  std::vector<std::string> comparisons{"corr"};
  RsaOptions options;
  bool ceiling = true;
  std::string out;
  std::string save_rdms;  ///< optional HDF5 file of the RDMs (root attribute `conditions`: the trial_types)
};

/// What the events of a set define for RSA over a plan: the runs (episodes), their events, the
/// conditions (trial_types in order of first appearance), and the ROIs as parcel columns.
struct RsaDesign {
  std::vector<std::string> episodes;                           ///< the runs, in the order of the sets
  std::map<std::string, std::string> event_file;               ///< episode → events file
  std::map<std::string, std::vector<Event>> events;            ///< episode → its labelled events
  std::vector<std::string> conditions;
  long labelled = 0, unlabelled = 0;                           ///< events with and without a trial_type
  std::string distance;                                        ///< correlation | euclidean | crossnobis
  int hrf_delay = 0;
  std::vector<std::pair<std::string, std::vector<long>>> rois;  ///< name → parcel columns
  /// What the units' results depend on beyond the plan: a hash (FNV-1a, hex) of the events files'
  /// bytes, in episode order. Job files carry it (attribute `rsa_inputs`); a unit whose files carry
  /// another is not done (its events changed after it ran: `run` fits it again, `gather` refuses).
  std::string inputs;
};

/// Where the settings of an RSA came from, for messages: the options of `rsa --sweep` (`--set`,
/// `--events`, `--roi`, `--distance`) or the keys of a sweep's `rsa:` section (`rsa.set`, …).
struct RsaSource {
  std::string sweep;        ///< the sweep file
  bool from_sweep = false;  ///< keys of `rsa:` rather than options
  std::string set_label() const;
  std::string events_label() const;
  std::string distance_label() const;
  std::string roi_label(const std::string& name, const std::string& regex) const;
};

/// Read the events of the episodes of `sets` (train or eval sets of `p`) and resolve the ROIs
/// (NAME → REGEX, full match over the parcel names of the first subject's file; none: one ROI of all
/// parcels, named after the atlas). Reads events and parcel names only.
/// @throw ConfigError, DataError  naming the option or key, file and line: an unknown set, fewer
///        than 3 conditions, an ROI that matches no parcel, for crossnobis a set of one run or a
///        run without some condition
RsaDesign rsa_design(const Plan& p, const RsaSource& src, const std::string& events_template,
                     const std::vector<std::string>& sets, const std::string& distance,
                     const std::vector<std::pair<std::string, std::string>>& rois, int hrf_delay);

/// Brain RDMs of every subject of `p` × ROI of `d` (fMRI read from the plan's files).
/// @throw DataError  naming the file: a subject without fMRI for a run, events outside their run, …
std::vector<RsaRoi> rsa_brain_rdms(const Plan& p, const RsaDesign& d);

/// The RDM of a unit's feature set: the design rows (ENCODING.md §1) of the same samples.
Rdm rsa_model_rdm(const Plan& p, const Unit& u, const RsaDesign& d);

/// `model/layer+layer w<stimulus_window> d<hrf_delay>`: a unit's name in RSA tables.
std::string rsa_model_name(const Unit& u);

/// The design of an RSA plan (its `rsa:` spec at the plan's hrf_delay); `generate` calls it to check
/// an RSA sweep before writing its plan. @throw as rsa_design; ConfigError for a ceiling asked with
/// one subject
RsaDesign rsa_design_of(const Plan& p);

/// Columns of an RSA job file's `rsa/subject` and `rsa/mean` (one row per ROI × comparison).
inline const std::vector<std::string> kRsaJobColumns{"similarity", "bootstrap_sd", "ci_low", "ci_high", "p_permutation",
                                                     "n_bootstrap"};

/// Why the done unit `u` of an RSA plan no longer holds for the plan's current inputs (its job file
/// was computed from events files that have changed since), or "" if it holds.
std::string rsa_stale_inputs(const Plan& p, const Unit& u, const std::string& run_dir);

/// Compare the unit's model RDM with every subject × ROI × comparison of an RSA plan and write
/// `RUN_DIR/jobs/<job_id>.h5` for each of its jobs (one per subject), each atomically, then the
/// marker `units/<unit_id>.done`. A job file holds, for its subject and for the mean over subjects,
/// rows (ROI-major, then comparison) of kRsaJobColumns in `rsa/subject` and `rsa/mean`, and the ROI's noise ceiling (lower, upper) in `rsa/ceiling`
/// (docs/metrics.md). The brain RDMs and ceilings are computed once per process. Not collective.
void rsa_unit(const Plan& p, const Unit& u, const std::string& run_dir);

/// RUN_DIR/results.csv of an RSA plan from its job files: the table of `rsa --sweep` (kRsaColumns,
/// rows ROI × comparison × unit in plan order × subject, then `mean`), byte for byte; the ranking is
/// printed to `report` and written to RUN_DIR/rsa_report.txt.
/// @throw DataError  naming a job file that is missing or not this plan's
void write_rsa_results(const Plan& p, const std::string& run_dir, std::ostream& report);

/// Conditions: the trial_types of the set's events in order of first appearance; patterns as
/// condition_patterns (events.hpp) with the dataset's TR and each grid point's hrf_delay; RDMs by
/// `distance` (rdm_from_patterns). Output and report as `brainsweep rsa` (compare_and_report): the
/// ROI is named after the atlas, models `model/layer+layer w<window> d<hrf_delay>`.
/// @throw ConfigError, DataError  naming the file, key or line (events outside their run, conditions
///        without samples, fewer than 3 conditions, one subject with the ceiling asked, …)
void run_rsa_sweep_command(const RsaSweepCommand& c, std::ostream& report);

/// `brainsweep rsa --predictions RUN_DIR` (veRSA, issue #26 §4; Conwell et al. 2024's voxel-encoding
/// RSA as Net2Brain's `veRSA=True` and BBScore's `versa` compute it): for every job of a finished
/// encoding run (ridge or trained encoder), the RDM of its held-out predictions (`predictions/<episode>`
/// of the job file, the episodes of `c.set`, which must be eval sets of the run) over the conditions
/// of the events, per ROI, compared with the same subject's brain RDM of the same samples. The
/// conditions, ROIs, distance and comparisons are those of `rsa --sweep` (`c.sweep` is the run
/// directory; the plan's dataset and subjects); each subject has its own model RDM, so the table's
/// `mean` row holds the mean similarity over subjects and no bootstrap or permutation of its own (its
/// uncertainty is in the subjects' rows). `hrf_delay`: the BOLD lag of the condition samples, as in
/// rsa --sweep; −1 takes the plan's if all its jobs share one.
/// @throw ConfigError, DataError  naming the option, file or key: a set that is not an eval set of
///        the run, a job file missing (the run is not complete), …
void run_versa_command(const RsaSweepCommand& c, const std::string& run_dir, int hrf_delay, std::ostream& report);

}  // namespace brainsweep
