#pragma once
/// The embedded demo dataset: small, synthetic, in the Algonauts 2025 layout (DATA.md), with a
/// planted linear signal of known strength so that the demo has a known answer.
#include <string>

namespace brainsweep {

struct DemoOptions {
  int n_parcels = 1000;
  unsigned long long seed = 2025;
};

/// Write the demo dataset into `dir` (created; refused if it exists and is not empty):
/// - fMRI of sub-01, sub-02, sub-03, sub-05 (Friends s01e01a…s01e04a and Movie10 bourne01/02),
///   float32 (n_TR, n_parcels), keys `ses-001_task-<episode>`;
/// - features of two models in the MedARC layout: `vjepa2` (layers `blocks.4`, weakly informative,
///   and `blocks.12`, strongly informative; float16) and `Llama-3.2-1B` (`model.layers.7`, carries
///   half of the latent signal; float32), two rows fewer than the fMRI per episode;
/// - `planted_r.csv`: per parcel, the planted correlation r_j between the fMRI and its signal.
/// Parcel j's BOLD is r_j · s_j + sqrt(1 − r_j²) · noise (+ a baseline), s_j a unit-variance linear
/// read-out of a 6-dimensional latent stimulus, hrf_delay 3 TRs, r_j falling linearly 0.65 → 0.05.
/// @throw Error  if dir is not empty or cannot be written
void write_demo_dataset(const std::string& dir, const DemoOptions& options = {});

}  // namespace brainsweep
