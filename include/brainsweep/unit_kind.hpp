#pragma once
/// Kinds of work units (issue #23): ridge encoders, RSA comparisons and trained encoders, behind one
/// interface, so that `run` schedules, resumes, records and reports units without knowing their kind
/// and a new kind (the analyses that follow) is one class here and one module. What every kind
/// writes (job files, markers, results.csv) is job_files.hpp.
#include <string>

#include "brainsweep/backend.hpp"
#include "brainsweep/plan.hpp"

namespace brainsweep {

class UnitKind {
 public:
  virtual ~UnitKind() = default;
  /// "ridge", "rsa" or "encoder".
  virtual const char* name() const = 0;
  /// Compute the unit and write its job files (each atomically) and then its marker
  /// RUN_DIR/units/<unit_id>.done. Not collective.
  /// @throw Error  (its exit_code: 2 for bad input, 1 for a failed computation) naming what failed
  virtual void run(const Plan& plan, const Unit& unit, const Backend& backend, const std::string& run_dir) const = 0;
  /// One line for `status` and failure reports: what the unit fits, on which subjects, and (a trained
  /// encoder in training) its last epoch.
  virtual std::string describe(const Plan& plan, const Unit& unit, const std::string& run_dir) const = 0;
  /// Why a unit marked done no longer holds for inputs that its plan names but does not contain
  /// (an RSA unit's events files, changed since it ran), or "": such a unit is fitted again.
  virtual std::string stale(const Plan&, const Unit&, const std::string&) const { return ""; }
};

/// The kind of `unit` in `plan`: rsa for an RSA plan's units, encoder for Unit::encoder, else ridge.
const UnitKind& unit_kind(const Plan& plan, const Unit& unit);

}  // namespace brainsweep
