#pragma once
// Reports of `stitch` (issue #5): the winning jobs per subject and parcel, and which feature sets
// and layer depths win in each Schaefer network.
#include <ostream>
#include <string>
#include <vector>

#include "brainsweep/plan.hpp"

namespace brainsweep {

/// One selected job of one subject and parcel (rank 1 = best by the selection score).
struct WinnerRow {
  std::string subject, parcel;
  size_t rank = 1;
  std::string network;  ///< Schaefer network, empty when unknown
  const Job* job = nullptr;
  double alpha = 0, select_score = 0;
  double weight = 1;              ///< the job's weight in its rule's ensemble of this parcel
  std::string episodes = "*";     ///< the episodes its rule applies to: `*` (default) or an override's glob
};
using WinnerReport = std::vector<WinnerRow>;

/// Schaefer 2018 network of a parcel name such as `7Networks_LH_Vis_1` (Vis, SomMot, DorsAttn,
/// SalVentAttn, Limbic, Cont, Default); empty when the name does not follow that scheme.
std::string schaefer_network(const std::string& parcel);

/// Parcel names from a text file: one per line, or a Schaefer `*_order.txt` / LUT line
/// (`1<TAB>7Networks_LH_Vis_1<TAB>R G B 0`), whose second field is taken.
/// @throw ConfigError  naming the file when it cannot be read or has not `n_parcels` names
std::vector<std::string> read_parcel_names(const std::string& path, size_t n_parcels);

/// Depth of a layer: the last all-digit component of its dotted name (`blocks.12` → 12,
/// `model.layers.7` → 7, `layers.12.fc2` → 12), or -1 (`norm`).
int layer_index(const std::string& layer);

/// Write OUT_DIR/winners.csv (`subject,parcel,network,rank,job_id,model,layers,hrf_delay,
/// stimulus_window,alpha,select_score,weight,episodes`, every selected job of every rule) and OUT_DIR/networks.csv
/// (`network,feature_set,parcels_won,share,mean_layer_index,mean_stimulus_window`, rank-1 winners of the default rule
/// counted over subjects × parcels of each network; network `all` when names carry none), each
/// atomically, and print the network table to `report`.
void write_winner_reports(const Plan& plan, const WinnerReport& rows, const std::string& out_dir, std::ostream& report);

}  // namespace brainsweep
