#pragma once
/// State of a run directory's work units: done (`units/<id>.done` and every job file present),
/// failed (`units/<id>.failed`, holding the error), or pending (docs/plan-format.md).
#include <ostream>
#include <string>
#include <vector>

#include "brainsweep/plan.hpp"

namespace brainsweep {

enum class UnitState { pending, done, failed };

struct UnitStatus {
  UnitState state = UnitState::pending;
  std::string error;  ///< the recorded error of a failed unit; for a pending unit marked done whose
                      ///< job files are missing or wrong (unit_record_problem), what is wrong
};

/// State of one unit. A done marker wins over a failure record (a later rerun succeeded).
/// Not collective; reads the file system only.
UnitStatus unit_status(const Plan& plan, const Unit& unit, const std::string& run_dir);

/// Record that `unit` failed: write `RUN_DIR/units/<unit_id>.failed` atomically, holding `error`
/// (first line: the rank that ran it). @throw Error if the file cannot be written
void record_unit_failure(const std::string& run_dir, const std::string& unit_id, const std::string& error);

/// Remove a unit's failure record, if any (after the unit succeeded). Never throws.
void clear_unit_failure(const std::string& run_dir, const std::string& unit_id);

/// Counts over all units of a plan.
struct RunStatus {
  long units = 0, done = 0, failed = 0, pending = 0;
  long jobs = 0, jobs_done = 0;
  std::vector<std::pair<std::string, std::string>> failures;  ///< (unit_id, error)
  std::vector<std::string> pending_units;
  std::vector<std::pair<std::string, std::string>> invalid;  ///< pending units marked done: (unit_id, what is wrong)
  bool results_csv = false, results_h5 = false;
};

/// Status of the run in `run_dir`. @throw DataError if there is no plan
RunStatus run_status(const std::string& run_dir);

/// Print `run_status` for people: counts, every failure with its error, pending units (the first
/// `max_list`), and whether results.csv / results.h5 exist.
/// @return  0 when complete, 1 when units failed, 3 when units are pending (none failed)
int print_run_status(const std::string& run_dir, std::ostream& out, int max_list = 20);

}  // namespace brainsweep
