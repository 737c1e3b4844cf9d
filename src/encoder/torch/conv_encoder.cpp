// MedARC's multi-subject convolutional feature encoder in libtorch (TRAINED_ENCODER.md §1, §2.3).
// The only translation unit of the encoder that includes torch.
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "brainsweep/encoder.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/local_rank.hpp"

extern "C" void openblas_set_num_threads(int);  // OpenBLAS, which Debian's libtorch calls for GEMMs

namespace brainsweep::encoder {
namespace F = torch::nn::functional;

namespace {

/// One feature stream: Linear(D → d), then the depthwise temporal convolution (§1.2).
struct Stream {
  torch::Tensor fc_weight, fc_bias;      // (d, D), (d)
  torch::Tensor conv_weight, conv_bias;  // (d or 1, 1, k), (d); undefined when k <= 1
};

std::vector<long> shape_of(const torch::Tensor& t) { return {t.sizes().begin(), t.sizes().end()}; }

/// Host float32 copy under a state-dict key.
NamedTensor named(const std::string& name, const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  NamedTensor n{name, shape_of(c), {}};
  n.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return n;
}

/// A T × C float32 matrix as a (T, C) tensor on `device` (copied).
torch::Tensor to_tensor(const MatrixF& m, const torch::Device& device) {
  return torch::from_blob(const_cast<float*>(m.data()), {m.rows(), m.cols()}, torch::kFloat32).to(device).clone();
}

MatrixF to_matrix(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  MatrixF m(c.size(0), c.size(1));
  std::copy(c.data_ptr<float>(), c.data_ptr<float>() + c.numel(), m.data());
  return m;
}

}  // namespace

struct ConvEncoder::Impl {
  ModelOptions opt;
  int n_subjects = 0;
  long n_parcels = 0;
  torch::Device device{torch::kCPU};
  std::vector<Stream> streams;
  torch::Tensor mask;                       // (k): 1, or 0 after "now" when causal
  torch::Tensor shared_weight, shared_bias;     // (P, d), (P)
  std::vector<torch::Tensor> subject_weight, subject_bias;   // per subject (P, d), (P)
  // Training data on the device: per episode, the streams (T, D_i) and the fMRI (S, T, P).
  std::vector<std::vector<torch::Tensor>> train_streams;
  std::vector<torch::Tensor> train_fmri;
  int sample_length = 0;
  std::unique_ptr<torch::optim::AdamW> optimizer;

  /// (name, tensor) of every parameter in MedARC's state-dict order.
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (size_t i = 0; i < streams.size(); ++i) {
      const Stream& s = streams[i];
      if (s.conv_weight.defined()) {
        out.emplace_back(fmt::format("feat_embeds.{}.fc.weight", i), s.fc_weight);
        out.emplace_back(fmt::format("feat_embeds.{}.fc.bias", i), s.fc_bias);
        out.emplace_back(fmt::format("feat_embeds.{}.conv.weight", i), s.conv_weight);
        out.emplace_back(fmt::format("feat_embeds.{}.conv.bias", i), s.conv_bias);
      } else {
        out.emplace_back(fmt::format("feat_embeds.{}.weight", i), s.fc_weight);
        out.emplace_back(fmt::format("feat_embeds.{}.bias", i), s.fc_bias);
      }
    }
    if (opt.shared_head) {
      out.emplace_back("shared_decoder.weight", shared_weight);
      out.emplace_back("shared_decoder.bias", shared_bias);
    }
    if (opt.subject_heads)
      for (int s = 0; s < n_subjects; ++s) {
        out.emplace_back(fmt::format("subject_decoders.{}.weight", s), subject_weight[static_cast<size_t>(s)]);
        out.emplace_back(fmt::format("subject_decoders.{}.bias", s), subject_bias[static_cast<size_t>(s)]);
      }
    return out;
  }
  /// The leaf tensors the optimiser updates.
  std::vector<torch::Tensor> leaves() const {
    std::vector<torch::Tensor> out;
    for (const Stream& s : streams) {
      out.push_back(s.fc_weight);
      out.push_back(s.fc_bias);
      if (s.conv_weight.defined()) {
        out.push_back(s.conv_weight);
        out.push_back(s.conv_bias);
      }
    }
    if (opt.shared_head) out.insert(out.end(), {shared_weight, shared_bias});
    if (opt.subject_heads)
      for (size_t s = 0; s < subject_weight.size(); ++s) out.insert(out.end(), {subject_weight[s], subject_bias[s]});
    return out;
  }

  /// xs: per stream (B, T, D_i) → (B, S, T, P) (§1.9).
  torch::Tensor forward(const std::vector<torch::Tensor>& xs) const {
    torch::Tensor e;
    const long d = opt.embed_dim;
    for (size_t i = 0; i < streams.size(); ++i) {
      const Stream& s = streams[i];
      torch::Tensor h = F::linear(xs[i], s.fc_weight, s.fc_bias);  // (B, T, d)
      if (s.conv_weight.defined()) {
        torch::Tensor w = s.conv_weight * mask;  // mask broadcast over the taps
        if (opt.positive) w = w.abs();
        if (opt.tied) w = w.expand({d, 1, opt.kernel_size});
        // Depthwise cross-correlation with zero "same" padding (even k: the extra zero on the right).
        h = F::conv1d(h.transpose(1, 2), w,
                      F::Conv1dFuncOptions().bias(s.conv_bias).padding(torch::kSame).groups(d))
                .transpose(1, 2);
      }
      e = i == 0 ? h : e + h;  // streams summed in order
    }
    // Heads: one Linear per subject on the latent, stacked (B, S, T, P), plus the shared head's (B, 1, T, P)
    // (MedARC's formulation, separate leaves: an einsum over stacked weights was 1.3× slower per step).
    torch::Tensor out;
    if (opt.subject_heads) {
      std::vector<torch::Tensor> per_subject;
      for (size_t s = 0; s < subject_weight.size(); ++s) per_subject.push_back(F::linear(e, subject_weight[s], subject_bias[s]));
      out = torch::stack(per_subject, 1);
    }
    if (opt.shared_head) {
      const torch::Tensor sh = F::linear(e, shared_weight, shared_bias).unsqueeze(1);  // (B, 1, T, P)
      out = out.defined() ? out + sh : sh.expand({e.size(0), n_subjects, e.size(1), n_parcels});
    }
    return out;
  }
};

ConvEncoder::ConvEncoder(const ModelOptions& model, std::vector<long> stream_dims, int n_subjects, long n_parcels,
                         std::uint64_t seed, const std::string& device, int threads)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.opt = model;
  m.n_subjects = n_subjects;
  m.n_parcels = n_parcels;
  if (model.embed_dim < 1) throw ConfigError(fmt::format("embed_dim: expected >= 1, found {}", model.embed_dim));
  if (model.causal && model.kernel_size > 1 && model.kernel_size % 2 == 0)
    throw ConfigError(fmt::format("kernel_size {}: a causal kernel needs an odd size (MedARC's DepthConv1d)",
                                  model.kernel_size));
  if (!model.shared_head && !model.subject_heads)
    throw ConfigError("shared_head and subject_heads both false: the model would have no output");
  if (stream_dims.empty()) throw ConfigError("the encoder needs at least one feature stream");
  if (n_subjects < 1 || n_parcels < 1)
    throw ConfigError(fmt::format("the encoder needs subjects and parcels, found {} × {}", n_subjects, n_parcels));
  if (device == "cuda") {
    if (!torch::cuda::is_available())
      throw DeviceUnavailable("encoder device 'cuda' asked, but libtorch sees no CUDA device (no GPU visible to this "
                              "rank, or a CPU-only libtorch such as Debian's); not falling back to the CPU");
    const long local = node_local_rank();
    m.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local % torch::cuda::device_count()));
  } else if (device == "cpu") {
    // Most of a CPU step is GEMMs, which libtorch hands to OpenBLAS and its own threads. libtorch's
    // OpenMP pool beside them spin-waits (sched_yield) on the same cores: with 2 and 2 threads a step
    // took 1.7-2× longer than with one libtorch thread and OpenBLAS on `threads` (bench/encoder_bench.py;
    // docs/trained-encoders.md#speed). So: one libtorch thread, OpenBLAS on `threads` (0: its default).
    // A libtorch built with MKL (the CUDA wheels' libtorch) runs its GEMMs on its own OpenMP pool:
    // there `threads` is libtorch's thread count, as before.
    if (at::hasMKL()) {
      if (threads > 0) torch::set_num_threads(threads);
    } else {
      torch::set_num_threads(1);
      if (threads > 0) openblas_set_num_threads(threads);
    }
  } else {
    throw ConfigError("encoder device '" + device + "': expected cpu or cuda");
  }

  // MedARC's _init_weights (§1.7): every weight N(0, 0.02²) truncated at ±2 (absolute bounds, never
  // reached), every bias 0; drawn on the CPU from one generator, in state-dict order, then moved.
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  auto weight = [&](std::vector<long> shape) {
    torch::Tensor t = torch::empty(shape, torch::kFloat32);
    t.normal_(0.0, 0.02, gen).clamp_(-2.0, 2.0);
    return t.to(m.device).requires_grad_(true);
  };
  auto zeros = [&](std::vector<long> shape) {
    return torch::zeros(shape, torch::TensorOptions().dtype(torch::kFloat32).device(m.device)).requires_grad_(true);
  };
  const long d = model.embed_dim, k = model.kernel_size;
  for (long dim : stream_dims) {
    if (dim < 1) throw ConfigError(fmt::format("a feature stream of width {}: expected >= 1", dim));
    Stream s;
    s.fc_weight = weight({d, dim});
    s.fc_bias = zeros({d});
    if (k > 1) {
      s.conv_weight = weight({model.tied ? 1 : d, 1, k});
      s.conv_bias = zeros({d});
    }
    m.streams.push_back(std::move(s));
  }
  if (k > 1) {
    m.mask = torch::ones({k}, torch::kFloat32);
    if (model.causal) m.mask.slice(0, k / 2 + 1).zero_();
    m.mask = m.mask.to(m.device);
  }
  if (model.shared_head) {
    m.shared_weight = weight({n_parcels, d});
    m.shared_bias = zeros({n_parcels});
  }
  if (model.subject_heads)
    for (int s = 0; s < n_subjects; ++s) {
      m.subject_weight.push_back(weight({n_parcels, d}));
      m.subject_bias.push_back(zeros({n_parcels}));
    }
}

ConvEncoder::~ConvEncoder() = default;

long ConvEncoder::parameter_count() const {
  long n = 0;
  for (const auto& t : impl_->leaves()) n += t.numel();
  return n;
}

std::vector<NamedTensor> ConvEncoder::state() const {
  std::vector<NamedTensor> out;
  for (const auto& [name, t] : impl_->named_parameters()) out.push_back(named(name, t));
  return out;
}

void ConvEncoder::load_state(const std::vector<NamedTensor>& state) {
  std::map<std::string, const NamedTensor*> given;
  for (const auto& n : state) given[n.name] = &n;
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : impl_->named_parameters()) {
    const auto it = given.find(name);
    if (it == given.end()) throw DataError("encoder weights: parameter '" + name + "' missing");
    const NamedTensor& n = *it->second;
    if (n.shape != shape_of(t))
      throw DataError(fmt::format("encoder weights: parameter '{}' has shape ({}), the model's is ({})", name,
                                  fmt::join(n.shape, ", "), fmt::join(shape_of(t), ", ")));
    if (static_cast<long>(n.data.size()) != t.numel())
      throw DataError(fmt::format("encoder weights: parameter '{}' has {} values for shape ({})", name, n.data.size(),
                                  fmt::join(n.shape, ", ")));
    t.copy_(torch::from_blob(const_cast<float*>(n.data.data()), t.sizes(), torch::kFloat32));
    given.erase(it);
  }
  if (!given.empty()) throw DataError("encoder weights: unknown parameter '" + given.begin()->first + "'");
}

std::vector<MatrixF> ConvEncoder::predict(const std::vector<MatrixF>& streams) const {
  const Impl& m = *impl_;
  if (streams.size() != m.streams.size())
    throw DataError(fmt::format("encoder: {} feature streams given, the model has {}", streams.size(), m.streams.size()));
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> xs;
  for (size_t i = 0; i < streams.size(); ++i) {
    if (streams[i].cols() != m.streams[i].fc_weight.size(1) || streams[i].rows() != streams[0].rows())
      throw DataError(fmt::format("encoder: stream {} is {} × {}, expected {} × {}", i, streams[i].rows(),
                                  streams[i].cols(), streams[0].rows(), m.streams[i].fc_weight.size(1)));
    xs.push_back(to_tensor(streams[i], m.device).unsqueeze(0));
  }
  const torch::Tensor out = m.forward(xs)[0];  // (S, T, P)
  std::vector<MatrixF> per_subject;
  for (int s = 0; s < m.n_subjects; ++s) per_subject.push_back(to_matrix(out[s]));
  return per_subject;
}

void ConvEncoder::set_training_data(const std::vector<Episode>& episodes, const TrainOptions& options) {
  Impl& m = *impl_;
  m.train_streams.clear();
  m.train_fmri.clear();
  for (const Episode& ep : episodes) {
    if (ep.streams.size() != m.streams.size())
      throw DataError(fmt::format("episode {}: {} feature streams, the model has {}", ep.name, ep.streams.size(),
                                  m.streams.size()));
    if (static_cast<int>(ep.fmri.size()) != m.n_subjects)
      throw DataError(fmt::format("episode {}: fMRI of {} subjects, the model has {}", ep.name, ep.fmri.size(),
                                  m.n_subjects));
    std::vector<torch::Tensor> st;
    for (size_t i = 0; i < ep.streams.size(); ++i) {
      if (ep.streams[i].cols() != m.streams[i].fc_weight.size(1) || ep.streams[i].rows() != ep.length())
        throw DataError(fmt::format("episode {}: stream {} is {} × {}, expected {} × {}", ep.name, i,
                                    ep.streams[i].rows(), ep.streams[i].cols(), ep.length(),
                                    m.streams[i].fc_weight.size(1)));
      st.push_back(to_tensor(ep.streams[i], m.device));
    }
    std::vector<torch::Tensor> fm;
    for (const MatrixF& y : ep.fmri) {
      if (y.rows() != ep.length() || y.cols() != m.n_parcels)
        throw DataError(fmt::format("episode {}: fMRI is {} × {}, expected {} × {}", ep.name, y.rows(), y.cols(),
                                    ep.length(), m.n_parcels));
      fm.push_back(to_tensor(y, m.device));
    }
    m.train_streams.push_back(std::move(st));
    m.train_fmri.push_back(torch::stack(fm));  // (S, T, P)
  }
  m.sample_length = options.sample_length;
  m.optimizer = std::make_unique<torch::optim::AdamW>(
      m.leaves(), torch::optim::AdamWOptions(options.lr).betas({0.9, 0.999}).eps(1e-8).weight_decay(options.weight_decay));
}

double ConvEncoder::train_step(const std::vector<Window>& batch) {
  Impl& m = *impl_;
  if (!m.optimizer) throw Error("encoder: train_step before set_training_data");
  const long len = m.sample_length;
  std::vector<std::vector<torch::Tensor>> parts(m.streams.size());
  std::vector<torch::Tensor> targets;
  for (const Window& w : batch) {
    if (w.episode < 0 || w.episode >= static_cast<int>(m.train_fmri.size()) || w.offset < 0 ||
        w.offset + len > m.train_fmri[static_cast<size_t>(w.episode)].size(1))
      throw DataError(fmt::format("encoder: window ({}, {}) of {} TRs is outside the training episodes", w.episode,
                                  w.offset, len));
    const auto e = static_cast<size_t>(w.episode);
    for (size_t i = 0; i < m.streams.size(); ++i) parts[i].push_back(m.train_streams[e][i].narrow(0, w.offset, len));
    targets.push_back(m.train_fmri[e].narrow(1, w.offset, len));
  }
  std::vector<torch::Tensor> xs;
  for (auto& p : parts) xs.push_back(torch::stack(p));  // (B, L, D_i)
  const torch::Tensor y = torch::stack(targets);        // (B, S, L, P)
  const torch::Tensor loss = F::mse_loss(m.forward(xs), y);
  m.optimizer->zero_grad();
  loss.backward();
  const double value = loss.item<double>();
  if (!std::isfinite(value))
    throw NumericalError(fmt::format("encoder: the training loss became {} (lr too large for these features?)",
                                     std::isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf"));
  m.optimizer->step();
  return value;
}

std::vector<NamedTensor> ConvEncoder::gradients() const {
  std::vector<NamedTensor> out;
  for (const auto& [name, t] : impl_->named_parameters())
    out.push_back(named(name, t.grad().defined() ? t.grad() : torch::zeros_like(t)));
  return out;
}

}  // namespace brainsweep::encoder
