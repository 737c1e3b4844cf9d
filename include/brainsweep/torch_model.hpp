#pragma once
/// TorchScript models for feature extraction, behind an interface without torch headers: only
/// src/features/torch/torch_model.cpp includes libtorch (each torch translation unit costs 10–18 s
/// and ~1.2 GB to compile), so the rest of brainsweep compiles fast and builds without torch.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"

namespace brainsweep {

/// A dense float32 tensor on the host, row-major (C order).
struct HostTensor {
  std::vector<long> shape;
  std::vector<float> data;
  long numel() const;
};

/// How a layer's output (batch, ...) becomes one vector per batch element.
/// - mean: average over every dimension but the batch (0) and `channel_dim`; a (batch, C) output
///   is kept as it is.
/// - cls / last: the first / last token of a (batch, tokens, C) output (channel_dim must be the last).
/// - flatten: every non-batch dimension flattened, in C order.
struct Pooling {
  std::string mode = "mean";
  int channel_dim = -1;  ///< counted from the end when negative (-1: last dimension)
};

/// A TorchScript model (torch.jit.script or torch.jit.trace, saved with torch.jit.save) and the
/// layers to capture.
/// A layer is either a key of the dict of tensors the model returns, or the path of a submodule
/// (`blocks.11`, `encoder.layer.5`, as in named_modules()), captured without editing the model
/// file: a copy of `forward`'s graph inlines the calls on the way to the submodule and returns its
/// output (the first tensor when the submodule returns a tuple or list).
class TorchModel {
 public:
  /// @param path  TorchScript file
  /// @param layers  names to capture, in the order the outputs are returned
  /// @param device  "cpu" or "cuda" (cuda: the GPU of the rank's local index, as the ridge backend)
  /// @param threads  intra-op threads (0: libtorch's default)
  /// @throw DataError  if the file is missing or not TorchScript, or a layer is neither a submodule
  ///        called by forward nor an output key (the message lists the available ones)
  /// @throw NotCompiled / DeviceUnavailable  for "cuda" without CUDA support / without a device
  TorchModel(const std::string& path, const std::vector<std::string>& layers, const std::string& device, int threads);
  ~TorchModel();
  TorchModel(const TorchModel&) = delete;
  TorchModel& operator=(const TorchModel&) = delete;

  /// Run the model on a float32 input of any shape (batch first) and pool each layer.
  /// @return  one matrix per layer, batch × features (float32)
  /// @throw DataError  if an output cannot be pooled as asked (names the layer, shape and mode)
  std::vector<MatrixF> run(const HostTensor& input, const Pooling& pool) const;
  /// Run on one sequence of token ids, input shape (1, L) int64.
  std::vector<MatrixF> run_tokens(const std::vector<std::int64_t>& ids, const Pooling& pool) const;

  /// Submodule paths of the model (named_modules order), for error messages.
  std::vector<std::string> module_names() const;

  struct Impl;  ///< libtorch state, defined in torch_model.cpp only

 private:
  std::unique_ptr<Impl> impl_;
};

/// Frames (n × H × W × 3, RGB, uint8) to the model's input (n × 3 × height × width, float32):
/// bilinear resize (align_corners false, no antialiasing: torch.nn.functional.interpolate), scale
/// to [0, 1], then (x − mean[c]) / std[c].
HostTensor preprocess_frames(const std::vector<std::uint8_t>& rgb, long n, long h, long w, long height, long width,
                             const std::vector<double>& mean, const std::vector<double>& std);

}  // namespace brainsweep
