// The trained encoder's training loop, window schedule and metric (TRAINED_ENCODER.md §2), without torch.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "brainsweep/encoder.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/random.hpp"

namespace brainsweep::encoder {

MatrixF align_stream(const MatrixF& stream, long n_trs, const std::string& what) {
  if (stream.rows() == 0) throw DataError(what + ": a feature stream with no rows");
  MatrixF out(n_trs, stream.cols());
  const long keep = std::min(n_trs, static_cast<long>(stream.rows()));
  out.topRows(keep) = stream.topRows(keep);
  for (long t = keep; t < n_trs; ++t) out.row(t) = stream.row(stream.rows() - 1);  // edge padding
  return out;
}

std::vector<Window> epoch_windows(std::uint64_t seed, int epoch, const std::vector<long>& lengths, int sample_length,
                                  int num_samples) {
  if (lengths.empty()) throw DataError("encoder: no training episodes");
  for (size_t e = 0; e < lengths.size(); ++e)
    if (lengths[e] < sample_length)
      throw DataError(fmt::format("encoder: training episode {} has {} TRs, fewer than sample_length {}", e,
                                  lengths[e], sample_length));
  const std::uint64_t stream = seed + static_cast<std::uint64_t>(epoch) * 0xD1B54A32D192ED03ULL;
  std::uint64_t k = 0;
  std::vector<Window> out;
  out.reserve(static_cast<size_t>(std::max(0, num_samples)));
  std::vector<int> perm(lengths.size());
  while (static_cast<int>(out.size()) < num_samples) {
    std::iota(perm.begin(), perm.end(), 0);
    for (size_t i = perm.size(); i > 1; --i)  // Fisher–Yates
      std::swap(perm[i - 1], perm[index_from_draw(splitmix64_at(stream, k++), i)]);
    for (int e : perm) {
      if (static_cast<int>(out.size()) == num_samples) break;
      const auto span = static_cast<std::uint64_t>(lengths[static_cast<size_t>(e)] - sample_length + 1);
      out.push_back({e, static_cast<long>(index_from_draw(splitmix64_at(stream, k++), span))});
    }
  }
  return out;
}

std::vector<double> medarc_pearson(const MatrixF& pred, const MatrixF& truth) {
  if (pred.rows() != truth.rows() || pred.cols() != truth.cols())
    throw DimensionMismatch(fmt::format("medarc_pearson: prediction {} × {}, measurement {} × {}", pred.rows(),
                                        pred.cols(), truth.rows(), truth.cols()));
  std::vector<double> r(static_cast<size_t>(pred.cols()));
  const double n = static_cast<double>(pred.rows());
  for (long c = 0; c < pred.cols(); ++c) {
    double mp = 0, mt = 0;
    for (long t = 0; t < pred.rows(); ++t) mp += pred(t, c), mt += truth(t, c);
    mp /= n, mt /= n;
    double spp = 0, stt = 0, spt = 0;
    for (long t = 0; t < pred.rows(); ++t) {
      const double p = pred(t, c) - mp, y = truth(t, c) - mt;
      spp += p * p, stt += y * y, spt += p * y;
    }
    r[static_cast<size_t>(c)] = spt / ((std::sqrt(spp) + 1e-7) * (std::sqrt(stt) + 1e-7));
  }
  return r;
}

double score_episodes(const ConvEncoder& model, const std::vector<Episode>& episodes,
                      std::vector<std::vector<double>>* per_subject) {
  if (episodes.empty()) throw DataError("encoder: no episodes to score");
  std::vector<MatrixF> pred, truth;  // per subject, the episodes concatenated in time
  for (const Episode& ep : episodes) {
    const std::vector<MatrixF> p = model.predict(ep.streams);
    if (ep.fmri.size() != p.size())
      throw DataError(fmt::format("episode {}: fMRI of {} subjects, the model predicts {}", ep.name, ep.fmri.size(),
                                  p.size()));
    pred.resize(p.size());
    truth.resize(p.size());
    for (size_t s = 0; s < p.size(); ++s) {
      MatrixF a(pred[s].rows() + p[s].rows(), p[s].cols()), b(a.rows(), p[s].cols());
      a << pred[s], p[s];
      b << truth[s], ep.fmri[s];
      pred[s] = std::move(a), truth[s] = std::move(b);
    }
  }
  double sum = 0;
  long count = 0;
  if (per_subject) per_subject->clear();
  for (size_t s = 0; s < pred.size(); ++s) {
    const std::vector<double> r = medarc_pearson(pred[s], truth[s]);
    for (double v : r) sum += v, ++count;
    if (per_subject) per_subject->push_back(r);
  }
  return count ? sum / static_cast<double>(count) : std::nan("");
}

TrainResult train(ConvEncoder& model, const std::vector<Episode>& train_set, const TrainOptions& o, std::uint64_t seed,
                  const std::function<double()>& validate, const EpochReport& progress) {
  if (o.batch_size < 1 || o.sample_length < 1 || o.num_samples < 1 || o.epochs < 1 || o.patience < 0)
    throw ConfigError(fmt::format("encoder training: batch_size {}, sample_length {}, num_samples {}, epochs {}, "
                                  "patience {}: expected >= 1 (patience >= 0)", o.batch_size, o.sample_length,
                                  o.num_samples, o.epochs, o.patience));
  model.set_training_data(train_set, o);
  std::vector<long> lengths;
  for (const Episode& ep : train_set) lengths.push_back(ep.length());
  TrainResult res;
  double best = -std::numeric_limits<double>::infinity();
  int since_best = 0;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    const std::vector<Window> windows = epoch_windows(seed, epoch, lengths, o.sample_length, o.num_samples);
    const size_t first_step = res.loss.size();
    for (size_t b0 = 0; b0 < windows.size(); b0 += static_cast<size_t>(o.batch_size)) {
      const size_t b1 = std::min(windows.size(), b0 + static_cast<size_t>(o.batch_size));
      res.loss.push_back(model.train_step({windows.begin() + static_cast<long>(b0), windows.begin() + static_cast<long>(b1)}));
    }
    const double r = validate();
    if (!std::isfinite(r))
      throw NumericalError(fmt::format("encoder: the validation score of epoch {} is {} (constant predictions?)", epoch + 1,
                                       std::isnan(r) ? "NaN" : r > 0 ? "+Inf" : "-Inf"));
    res.val_r.push_back(r);
    res.epochs_run = epoch + 1;
    const double epoch_loss = std::accumulate(res.loss.begin() + static_cast<long>(first_step), res.loss.end(), 0.0) /
                              static_cast<double>(res.loss.size() - first_step);
    if (progress) progress(epoch, r, static_cast<long>(res.loss.size()), epoch_loss);
    if (epoch == 0 || r > best) {
      best = r;
      res.best_epoch = epoch;
      res.best_state = model.state();
      since_best = 0;
    } else if (++since_best > o.patience) {
      break;
    }
  }
  model.load_state(res.best_state);
  return res;
}

}  // namespace brainsweep::encoder
