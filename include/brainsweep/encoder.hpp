#pragma once
/// Trained encoders (issue #23): MedARC's multi-subject convolutional feature encoder of Algonauts 2025
/// (TRAINED_ENCODER.md; Villanueva et al., arXiv 2507.19956), trained in libtorch on CPU or CUDA.
///
/// This header has no torch in it: the model lives in src/encoder/torch/conv_encoder.cpp, the only
/// translation unit that includes libtorch (each costs 10–18 s and ~1.2 GB to compile); the window
/// schedule, the metric and the training loop (src/encoder/train.cpp) are plain C++.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"

namespace brainsweep::encoder {

/// The architecture (TRAINED_ENCODER.md §1; defaults as MedARC's config, §1.1).
struct ModelOptions {
  int embed_dim = 192;     ///< latent width d
  int kernel_size = 45;    ///< depthwise temporal convolution, TRs; <= 1: no convolution
  bool causal = false;     ///< taps after "now" masked to 0 (odd kernel_size only)
  bool positive = false;   ///< |taps|
  bool tied = false;       ///< one kernel shared by the d channels (MedARC's "blockwise"); bias per channel
  bool shared_head = true;     ///< Linear(d → P) shared by every subject
  bool subject_heads = true;   ///< one Linear(d → P) per subject, added to the shared head
};

/// Training (TRAINED_ENCODER.md §2.2–2.4; defaults as MedARC's config).
struct TrainOptions {
  double lr = 3e-4;            ///< AdamW learning rate, constant
  double weight_decay = 0.1;   ///< AdamW decoupled weight decay, on every parameter
  int batch_size = 16;         ///< windows per step
  int sample_length = 64;      ///< TRs per window
  int num_samples = 2000;      ///< windows per epoch (steps = ⌈num_samples / batch_size⌉)
  int epochs = 10;             ///< at most
  int patience = 0;            ///< epochs without improvement before stopping (MedARC: 0, stop at the first)
};

/// One episode: feature streams aligned to the fMRI (row t = TR t; `align_stream` makes them so) and
/// the fMRI of every subject, all with the same number of TRs.
struct Episode {
  std::string name;
  std::vector<MatrixF> streams;  ///< per stream: T × D_i
  std::vector<MatrixF> fmri;     ///< per subject: T × P (empty for test episodes)
  long length() const { return streams.empty() ? 0 : streams.front().rows(); }
};

/// A stream aligned as MedARC aligns features to the fMRI ("time locked to start", TRAINED_ENCODER.md
/// §2.1): the first `n_trs` rows, the last row repeated when the stream is shorter. There is no
/// hrf_delay: the temporal convolution learns the lag.
/// @throw DataError  if the stream has no rows
MatrixF align_stream(const MatrixF& stream, long n_trs, const std::string& what);

/// A parameter: MedARC's state-dict key (TRAINED_ENCODER.md §1.9), its shape and float32 values (C order).
struct NamedTensor {
  std::string name;
  std::vector<long> shape;
  std::vector<float> data;
};

/// A window of a training episode: rows [offset, offset + sample_length).
struct Window {
  int episode = 0;
  long offset = 0;
};

/// The model and its AdamW state, behind libtorch. Not thread-safe; one per rank.
class ConvEncoder {
 public:
  /// Builds the model with MedARC's initialisation (TRAINED_ENCODER.md §1.7: weights N(0, 0.02²)
  /// truncated at ±2, biases 0) from a generator seeded with `seed`.
  /// @param stream_dims  D_i of each feature stream, in order
  /// @param device  "cpu" or "cuda"; @param threads  intra-op threads (0: libtorch's default)
  /// @throw ConfigError  for a causal even kernel, no head, or non-positive sizes
  /// @throw NotCompiled / DeviceUnavailable  for "cuda" without a CUDA libtorch / without a device
  ConvEncoder(const ModelOptions& model, std::vector<long> stream_dims, int n_subjects, long n_parcels,
              std::uint64_t seed, const std::string& device = "cpu", int threads = 0);
  ~ConvEncoder();
  ConvEncoder(const ConvEncoder&) = delete;
  ConvEncoder& operator=(const ConvEncoder&) = delete;

  /// Trainable parameters (the causal mask is not one): 3,492,296 at MedARC's default widths.
  long parameter_count() const;
  /// The parameters under MedARC's state-dict keys, on the host.
  std::vector<NamedTensor> state() const;
  /// Replaces the parameters. @throw DataError  for a missing or unknown key or a wrong shape
  void load_state(const std::vector<NamedTensor>& state);

  /// The whole episode in one forward pass (batch 1, no gradient).
  /// @param streams  per stream T × D_i (same T) @return  per subject T × P
  std::vector<MatrixF> predict(const std::vector<MatrixF>& streams) const;

  /// Holds the training episodes on the model's device (their fMRI is needed) and (re)creates the
  /// optimiser: AdamW(lr, betas 0.9/0.999, eps 1e-8, weight_decay), one parameter group.
  /// @throw DataError  if an episode lacks fMRI or its widths differ from the model's
  void set_training_data(const std::vector<Episode>& episodes, const TrainOptions& options);
  /// One step on the windows of the training episodes (each `sample_length` rows, stacked in the
  /// given order): MSE over every element, backward, AdamW. @return  the loss before the update
  /// @throw NumericalError  if the loss is not finite
  double train_step(const std::vector<Window>& batch);
  /// The gradients of the last train_step, under the parameters' keys.
  std::vector<NamedTensor> gradients() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The windows of one epoch, as MedARC's sampler draws them (TRAINED_ENCODER.md §2.2: shuffled passes
/// over the episodes, one uniform offset per visit, until num_samples windows) from the counter-based
/// stream of `seed` (random.hpp; epoch e uses draws of the stream seed + e), so that the schedule
/// is the same on every machine and rank count. @throw DataError  if an episode is shorter than
/// sample_length
std::vector<Window> epoch_windows(std::uint64_t seed, int epoch, const std::vector<long>& lengths, int sample_length,
                                  int num_samples);

/// Pearson r per column as MedARC's metric computes it (TRAINED_ENCODER.md §6.8): centred columns
/// divided by (L2 norm + 1e-7), then their dot product; float64. pred and truth: T × P.
std::vector<double> medarc_pearson(const MatrixF& pred, const MatrixF& truth);

/// What train() returns.
struct TrainResult {
  std::vector<double> loss;        ///< per step
  std::vector<double> val_r;       ///< mean Pearson r on the early-stopping set, per epoch run
  int best_epoch = 0;              ///< the epoch whose weights are kept (0-based)
  int epochs_run = 0;
  std::vector<NamedTensor> best_state;  ///< the weights after best_epoch (also loaded in the model)
};

/// After each epoch: (epoch, its validation score, steps so far, the epoch's mean training loss).
using EpochReport = std::function<void(int, double, long, double)>;

/// Trains the model: per epoch the windows of epoch_windows(seed, epoch, …) in batches of
/// batch_size, then `validate()` (the early-stopping score: higher is better); stops after `patience`
/// epochs without improvement and keeps the best epoch's weights (MedARC saved the last epoch's by
/// an aliasing slip, TRAINED_ENCODER.md §2.4 and §8.4; brainsweep keeps the weights it reports).
/// @throw ConfigError  for sizes < 1; DataError for episodes shorter than sample_length;
///        NumericalError if the loss or the validation score is not finite
TrainResult train(ConvEncoder& model, const std::vector<Episode>& train_set, const TrainOptions& options,
                  std::uint64_t seed, const std::function<double()>& validate, const EpochReport& progress = {});


/// Mean over subjects and parcels of medarc_pearson on the episodes concatenated in time per subject.
/// @return  also, per subject, the r of each parcel (in `per_subject`, when not null)
double score_episodes(const ConvEncoder& model, const std::vector<Episode>& episodes,
                      std::vector<std::vector<double>>* per_subject = nullptr);

}  // namespace brainsweep::encoder
