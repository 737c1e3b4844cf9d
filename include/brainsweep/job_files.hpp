#pragma once
/// Job files, unit records and results.csv: what every kind of unit writes (RUN_DIR/jobs/<job_id>.h5,
/// RUN_DIR/units/<unit_id>.done) and what `run`, `gather`, `status` and `stitch` read, apart from how
/// units are computed (unit_kind.hpp) and from the MPI driver (run.hpp) (docs/plan-format.md).
#include <map>
#include <string>
#include <vector>

#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/plan.hpp"

namespace brainsweep {

/// RUN_DIR/units/<unit_id>.done: written when every job file of the unit is in place.
std::string unit_marker_path(const std::string& run_dir, const std::string& unit_id);

/// True if the unit's marker exists and every job file of the unit is usable (job_file_problem
/// empty): a rerun skips it.
bool unit_done(const Plan& plan, const Unit& unit, const std::string& run_dir);

/// For a unit whose marker `units/<id>.done` exists: why it is not done after all (the first job
/// file that is missing or fails job_file_problem), or "" if it is done or has no marker.
std::string unit_record_problem(const Plan& plan, const Unit& unit, const std::string& run_dir);

/// RUN_DIR/jobs/<job_id>.h5
std::string job_file_path(const std::string& run_dir, const std::string& job_id);

/// Why the job file of `job` cannot be used, or "" when it can. It must exist, open as HDF5 and
/// carry the attributes `job_id`, `subject` and `plan_checksum` of this job and plan: a file
/// copied or linked from another job, or left by another plan, is refused. Reads attributes only.
/// Not collective; never throws.
std::string job_file_problem(const Plan& plan, const Job& job, const std::string& run_dir);

/// Write the attributes that identify a job file, for ridge and RSA units alike: `job_id`, `unit_id`,
/// `subject`, `plan_checksum` (what job_file_problem checks), `model`, `layers` (joined by '+'),
/// `hrf_delay`, `stimulus_window`.
void write_job_identity(h5::File& f, const Plan& plan, const Unit& unit, const std::string& job_id,
                        const std::string& subject);

/// Open the job file of `job` after checking it (job_file_problem).
/// @throw DataError  naming the file and the problem
h5::File open_job_file(const Plan& plan, const Job& job, const std::string& run_dir);

/// Write RUN_DIR/results_split.csv when the plan has banded jobs and eval sets (else remove an
/// earlier one): one row per banded job × parcel × eval set × band, columns
/// `job_id,subject,parcel,eval_set,band,gamma,r_split,r2_split,r2_alone,r2` (split_eval_set, the job
/// files' eval/<set>/*_split). Called by write_results_csv.
/// @throw DataError  if a job file is missing or its split has the wrong size
void write_results_split_csv(const Plan& plan, const std::string& run_dir);

/// Write RUN_DIR/partition.csv when the plan has variance partitions (`partition:` feature sets, issue
/// #26 §1) and eval sets (else remove an earlier one): per partition × grid point × subject × parcel ×
/// eval set × measure (`r2`: the set's R², eval/<set>/r2; `rsq`: sign(r)·r²), the subset models' values
/// (kind `model`) and the partitions by inclusion–exclusion (Möbius inversion over the subset lattice,
/// Lescroart et al. 2015; kind `unique` for one space, `shared` for several), columns
/// `partition,hrf_delay,stimulus_window,subject,parcel,eval_set,measure,kind,spaces,value,negative`
/// (negative: 1 for a partition below 0, kept as it is). Called by write_results_csv.
/// @throw DataError  if a job file is missing or a family lacks a subset model
void write_partition_csv(const Plan& plan, const std::string& run_dir);

/// Write RUN_DIR/results_pls.csv (removed for a plan without `pls:`): one row per PLS job × parcel,
/// `job_id,feature_set,hrf_delay,stimulus_window,subject,parcel,n_components,cv_r` (the components
/// chosen by CV and their CV score; the job files hold every option's, `pls_cv_scores`). Called by
/// write_results_csv.
void write_results_pls_csv(const Plan& plan, const std::string& run_dir);

/// Write RUN_DIR/results.csv (and results_split.csv, partition.csv) from the job files: one row per job × parcel × eval set, in plan order.
/// With `ceiling` (subject → parcel → ceiling on eval set `ceiling_set`), two more columns:
/// `ceiling` and `r_normalized` = eval_r / ceiling, filled on the rows of that set whose ceiling is at
/// least `min_ceiling` (`ceiling` alone where it is below; both empty on other sets' rows).
/// @throw DataError  if a job file is missing
void write_results_csv(const Plan& plan, const std::string& run_dir,
                       const std::map<std::string, std::vector<double>>* ceiling = nullptr,
                       const std::string& ceiling_set = "", double min_ceiling = 0.1);

}  // namespace brainsweep
