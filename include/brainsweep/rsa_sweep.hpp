#pragma once
/// `brainsweep rsa --sweep`: RSA on conditions defined by BIDS events (METRICS.md §2), for the
/// subjects and feature sets of a sweep: one brain RDM per subject from its fMRI patterns over all
/// parcels of the sweep's atlas, one model RDM per feature set × grid point from the design rows of
/// the same samples, every model compared with the subjects.
#include <ostream>
#include <string>
#include <vector>

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

/// Conditions: the trial_types of the set's events in order of first appearance; patterns as
/// condition_patterns (events.hpp) with the dataset's TR and each grid point's hrf_delay; RDMs by
/// `distance` (rdm_from_patterns). Output and report as `brainsweep rsa` (compare_and_report): the
/// ROI is named after the atlas, models `model/layer+layer w<window> d<hrf_delay>`.
/// @throw ConfigError, DataError  naming the file, key or line (events outside their run, conditions
///        without samples, fewer than 3 conditions, one subject with the ceiling asked, …)
void run_rsa_sweep_command(const RsaSweepCommand& c, std::ostream& report);

}  // namespace brainsweep
