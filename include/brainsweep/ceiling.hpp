#pragma once
/// `brainsweep ceiling`: noise ceilings per subject × parcel on a set of a sweep (METRICS.md §1), and
/// the table that `stitch --ceiling` reads to report ceiling-normalised scores.
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace brainsweep {

struct CeilingOptions {
  std::string sweep;   ///< sweep YAML: dataset, atlas, subjects, the episodes of `set`
  std::string method;  ///< isc, split_half or ncsnr
  std::string set;     ///< an eval set of the sweep, or "train"
  /// BIDS events of each run, a template with {episode} (and optionally {subject}): split_half and
  /// ncsnr then work on condition patterns, each episode of the set one repeat (Haxby's 12 runs)
  std::string events;
  std::string out;     ///< CSV, refused if it exists
};

/// Columns of the ceiling CSV, one row per subject × parcel in sweep and parcel order.
/// n_samples: samples (isc, split_half on episodes) or conditions (with events); rho: split_half's
/// mean pairwise r; ncsnr and nc (explainable variance of the mean of the repeats): ncsnr only.
inline constexpr const char* kCeilingColumns =
    "subject,parcel,method,set,ceiling,n_samples,n_subjects,repetitions,rho,ncsnr,nc";

/// Compute and write the ceilings (atomically), print a per-parcel summary to `report`.
/// - isc: the episodes of the set, each with its kept samples (exclude_start/end of the dataset),
///   concatenated per subject; leave-one-out ISC (isc_leave_one_out) over the sweep's subjects.
/// - split_half: the set's episodes named `<stimulus>_run-<n>` grouped by stimulus (Algonauts
///   `figures01_run-1`, `_run-2`); per subject, split_half over the groups with ≥ 2 runs (kept
///   samples, truncated to the shortest run of a stimulus); `ceiling` is √max(ρ_k, 0), `rho` ρ.
/// - with `events` (split_half, ncsnr): per subject and episode of the set, the condition patterns
///   (condition_patterns, events.hpp, at the sweep's single hrf_delay, all samples of the run);
///   split_half correlates them over conditions between every pair of runs (k = runs); ncsnr
///   (noise_ceiling.hpp) treats each run as a session holding one repeat of every condition;
///   `ceiling` is √nc.
/// @throw ConfigError  for an unknown method or set, fewer than 2 subjects (isc), no repeated
///        episode (split_half), ncsnr without events, several hrf_delay values with events, an
///        existing --out; DataError for unreadable fMRI or episodes whose sample counts or parcels
///        differ between subjects (isc), a run without some condition, or events outside their run,
///        naming the file and episode or line
void run_ceiling_command(const CeilingOptions& options, std::ostream& report);

/// A ceiling CSV as read back: (subject, parcel) → ceiling, with the method and set it was made with.
struct CeilingTable {
  std::string path, method, set;
  std::map<std::pair<std::string, std::string>, double> ceiling;
};

/// @throw DataError  naming the file and line if it is not a ceiling CSV (columns, numbers), or
///        holds several methods or sets
CeilingTable read_ceiling_csv(const std::string& path);

}  // namespace brainsweep
