// A trained encoder's work unit (issue #23, docs/trained-encoders.md), built as the module
// libbrainsweep_encoder_unit.so that `run` loads on its first encoder unit (module.hpp): libtorch takes
// ~150 MB of resident memory in every process that loads it, which the ranks of a ridge sweep should
// not pay. The interface is C; no exception crosses it.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/data.hpp"
#include "brainsweep/encoder.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/ridge.hpp"
#include "brainsweep/run.hpp"
#include "brainsweep/scoring.hpp"

namespace brainsweep {
namespace {

namespace enc = encoder;

/// The streams of `episode`, each the stream's layers side by side, aligned to `n_trs` TRs as MedARC
/// aligns them (enc::align_stream: start-locked, last row repeated or rows cut).
std::vector<MatrixF> episode_streams(const Plan& p, const EncoderConfig& c, const std::string& episode, long n_trs) {
  std::vector<MatrixF> out;
  for (const auto& s : c.streams) {
    const std::string& file = p.features.at(s.model).at(episode);
    std::vector<MatrixF> parts;
    long cols = 0;
    for (const auto& layer : s.layers) {
      const MatrixF f = read_feature_layer(file, layer);  // refuses non-finite values, naming row and column
      cols += f.cols();
      parts.push_back(enc::align_stream(f, n_trs, file + ": dataset '" + layer + "'"));
    }
    MatrixF x(n_trs, cols);
    long at = 0;
    for (const auto& m : parts) x.middleCols(at, m.cols()) = m, at += m.cols();
    out.push_back(std::move(x));
  }
  return out;
}

/// The seed of a unit's initialisation and windows: from its id, so that every rank count, order and
/// resume gives the same numbers.
std::uint64_t unit_seed(const std::string& unit_id) { return std::stoull(unit_id, nullptr, 16); }

void run_encoder_unit(const Plan& p, const Unit& u, const std::string& run_dir) {
  const auto t_unit = std::chrono::steady_clock::now();
  const EncoderConfig& c = *u.encoder;
  const EncoderRun& er = *p.encoder;
  const size_t n_sub = u.subjects.size();

  // Training episodes: every subject's fMRI truncated to the shortest (MedARC), the streams aligned to
  // it. With a holdout, the windows come from each episode's head, and `whole` keeps the full episode
  // for the held-out tail's predictions (the convolution sees the head as context, never its targets).
  std::vector<enc::Episode> train, whole;
  std::vector<long> head_rows;
  for (const auto& ep : p.train_of(u)) {
    long n = std::numeric_limits<long>::max();
    for (const auto& sub : u.subjects) n = std::min(n, p.fmri.at(sub).at(ep).n_tr);
    enc::Episode e{ep, episode_streams(p, c, ep, n), {}};
    for (const auto& sub : u.subjects) {
      const FmriRef& r = p.fmri.at(sub).at(ep);
      MatrixF y = read_fmri(r.file, r.dataset);
      if (!y.allFinite()) throw DataError(r.file + ": dataset '" + r.dataset + "' holds NaN or Inf");
      e.fmri.push_back(y.topRows(n));
    }
    const long head = n - static_cast<long>(std::ceil(er.holdout * static_cast<double>(n)));
    head_rows.push_back(head);
    if (er.holdout > 0) {
      enc::Episode h{ep, {}, {}};
      for (const auto& x : e.streams) h.streams.push_back(x.topRows(head));
      for (const auto& y : e.fmri) h.fmri.push_back(y.topRows(head));
      whole.push_back(std::move(e));
      train.push_back(std::move(h));
    } else {
      train.push_back(std::move(e));
    }
  }
  // Eval episodes: the fMRI of every subject (read and checked before anything is written); the
  // streams aligned to the longest subject's run, predictions cut to each subject's length.
  const std::vector<std::string> eval_eps = p.eval_episodes();
  std::vector<std::map<std::string, MatrixF>> truth(n_sub);
  std::map<std::string, std::vector<MatrixF>> eval_streams;
  for (const auto& ep : eval_eps) {
    long n = 0;
    for (size_t s = 0; s < n_sub; ++s) {
      const FmriRef& r = p.fmri.at(u.subjects[s]).at(ep);
      truth[s][ep] = read_fmri(r.file, r.dataset);
      n = std::max(n, truth[s][ep].rows());
    }
    eval_streams[ep] = episode_streams(p, c, ep, n);
  }
  const long n_parcels = train.front().fmri.front().cols();
  for (size_t s = 0; s < n_sub; ++s)
    for (const auto& e : train)
      if (e.fmri[s].cols() != n_parcels)
        throw DataError(fmt::format("{}: {} parcels in episode {}, {} in {}: a multi-subject encoder needs one parcel "
                                    "count", u.subjects[s], e.fmri[s].cols(), e.name, n_parcels, train.front().name));

  std::vector<long> dims;
  for (const auto& x : train.front().streams) dims.push_back(x.cols());
  enc::ModelOptions mo;
  mo.embed_dim = c.embed_dim, mo.kernel_size = c.kernel_size, mo.causal = c.causal, mo.positive = c.positive;
  mo.tied = c.tied, mo.shared_head = c.shared_head, mo.subject_heads = c.subject_heads;
  enc::TrainOptions to;
  to.lr = c.lr, to.weight_decay = c.weight_decay, to.batch_size = c.batch_size, to.sample_length = c.sample_length;
  to.num_samples = c.num_samples, to.epochs = c.epochs, to.patience = c.patience;
  const std::uint64_t seed = unit_seed(u.unit_id);
  enc::ConvEncoder model(mo, dims, static_cast<int>(n_sub), n_parcels, seed, er.device, er.threads);

  // Predictions of every eval episode for every subject (cut to the subject's TRs).
  auto predict_eval = [&] {
    std::vector<std::map<std::string, MatrixF>> pred(n_sub);
    for (const auto& ep : eval_eps) {
      const std::vector<MatrixF> y = model.predict(eval_streams.at(ep));
      for (size_t s = 0; s < n_sub; ++s) pred[s][ep] = y[s].topRows(truth[s].at(ep).rows());
    }
    return pred;
  };
  const EvalSet* stop_set = er.holdout > 0 ? nullptr : &p.eval_set(er.early_stopping);
  const std::string stop_name =
      er.holdout > 0 ? fmt::format("holdout {:g}", er.holdout) : er.early_stopping;
  // Early stopping: the mean over subjects and parcels of the stop set's r, scored as every job is
  // (ENCODING.md §5: after exclusion, episodes of a movie concatenated, movies averaged); with a
  // holdout, of the held-out tails, concatenated per subject.
  auto validate = [&] {
    if (!stop_set) {
      std::vector<std::vector<MatrixF>> pred(whole.size());
      for (size_t e = 0; e < whole.size(); ++e) pred[e] = model.predict(whole[e].streams);
      double sum = 0;
      long count = 0;
      for (size_t s = 0; s < n_sub; ++s) {
        std::vector<RowBlock> blocks;
        for (size_t e = 0; e < whole.size(); ++e)
          blocks.push_back({&pred[e][s], &whole[e].fmri[s], head_rows[e], whole[e].length() - head_rows[e]});
        for (double r : column_pearson(blocks)) sum += r, ++count;
      }
      return sum / static_cast<double>(count);
    }
    const auto pred = predict_eval();
    double sum = 0;
    long count = 0;
    for (size_t s = 0; s < n_sub; ++s)
      for (double r : score_eval_set(*stop_set, pred[s], truth[s], p.exclude_start, p.exclude_end)) sum += r, ++count;
    return sum / static_cast<double>(count);
  };
  const enc::TrainResult res = enc::train(model, train, to, seed, validate, [&](int epoch, double r, long steps, double loss) {
    spdlog::info("unit {} (encoder {}): epoch {}/{}, {} steps, loss {:.4f}, {} r {:.4f}", u.unit_id,
                 fmt::join(u.layers, "+"), epoch + 1, c.epochs, steps, loss, stop_name, r);
    fs::write_text_atomic((std::filesystem::path(run_dir) / "units" / (u.unit_id + ".epoch")).string(),
                          fmt::format("epoch {}/{} {} r {:.6f}\n", epoch + 1, c.epochs, stop_name, r));
  });

  const auto pred = predict_eval();
  // Training predictions' mean and SD per parcel (ddof 0), for `stitch --zscore`, over the training
  // episodes as the model sees them.
  std::vector<std::vector<double>> train_mean(n_sub, std::vector<double>(static_cast<size_t>(n_parcels), 0.0)),
      train_sd = train_mean;
  {
    std::vector<std::vector<double>> sum2 = train_mean;
    long rows = 0;
    for (const auto& e : train) {
      const std::vector<MatrixF> y = model.predict(e.streams);
      rows += y.front().rows();
      for (size_t s = 0; s < n_sub; ++s)
        for (long t = 0; t < y[s].rows(); ++t)
          for (long j = 0; j < n_parcels; ++j) {
            const double v = y[s](t, j);
            train_mean[s][static_cast<size_t>(j)] += v;
            sum2[s][static_cast<size_t>(j)] += v * v;
          }
    }
    for (size_t s = 0; s < n_sub; ++s)
      for (size_t j = 0; j < static_cast<size_t>(n_parcels); ++j) {
        const double m = train_mean[s][j] / static_cast<double>(rows);
        train_mean[s][j] = m;
        train_sd[s][j] = std::sqrt(std::max(0.0, sum2[s][j] / static_cast<double>(rows) - m * m));
      }
  }
  // Test sets: the largest sample count of the episode over the subjects, then cut per subject.
  std::map<std::string, std::map<std::string, std::vector<MatrixF>>> test_pred;
  for (const auto& t : p.test)
    for (const auto& ep : t.episodes) {
      long n_max = 0;
      for (const auto& sub : u.subjects) n_max = std::max(n_max, t.count(sub, ep));
      if (n_max > 0) test_pred[t.name][ep] = model.predict(episode_streams(p, c, ep, n_max));
    }

  const std::vector<enc::NamedTensor> state = model.state();
  const long n_alphas = static_cast<long>(p.alphas.size());
  const std::vector<double> nan_p(static_cast<size_t>(n_parcels), std::nan("")),
      nan_scores(static_cast<size_t>(n_alphas * n_parcels), std::nan(""));
  for (size_t s = 0; s < n_sub; ++s) {
    const std::string& sub = u.subjects[s];
    const std::string path = job_file_path(run_dir, u.job_ids[s]);
    h5::File f(path, h5::File::Mode::in_memory);
    // What a ridge job holds, so that gather, stitch and submit read both alike: no alpha and no CV
    // score (NaN; stitch --select cv refuses encoder jobs).
    f.write_f64("alpha", nan_p.data(), nan_p.size());
    f.write_f64("cv_r", nan_p.data(), nan_p.size());
    f.write_f64("cv_scores", nan_scores.data(), n_alphas, n_parcels);
    f.write_f64("train_pred_mean", train_mean[s].data(), train_mean[s].size());
    f.write_f64("train_pred_sd", train_sd[s].data(), train_sd[s].size());
    for (const auto& [ep, m] : pred[s])
      f.write_f32("predictions/" + ep, m.data(), m.rows(), m.cols(), p.prediction_dtype == "float16");
    for (const auto& e : p.eval) {
      const auto r = score_eval_set(e, pred[s], truth[s], p.exclude_start, p.exclude_end);
      f.write_f64("eval/" + e.name + "/r", r.data(), r.size());
    }
    for (const auto& t : p.test)
      for (const auto& [ep, n_samples] : t.n_samples.at(sub)) {
        const MatrixF m = test_pred.at(t.name).at(ep)[s].topRows(n_samples);
        f.write_f32("test/" + t.name + "/" + ep, m.data(), m.rows(), m.cols(), p.prediction_dtype == "float16");
      }
    const auto& ref = p.fmri.at(sub).at(p.train_of(u).front());
    f.write_string_attr("parcel_names", parcel_names(ref.file, ref.n_parcels));
    write_job_identity(f, p, u, u.job_ids[s], sub);
    f.write_string_attr1("solver", "encoder");
    // The training curve and this subject's model: the streams, the shared head and its own head
    // (saved as subject_decoders.0), under MedARC's state-dict keys.
    f.write_f64("encoder/loss", res.loss.data(), res.loss.size());
    f.write_f64("encoder/val_r", res.val_r.data(), res.val_r.size());
    f.write_string_attr1("encoder_config", encoder_json(c).dump());
    f.write_string_attr1("encoder_early_stopping", stop_name);
    f.write_int_attr("encoder_best_epoch", res.best_epoch);
    f.write_int_attr("encoder_epochs_run", res.epochs_run);
    f.write_int_attr("encoder_seed", static_cast<long long>(seed & 0x7fffffffffffffffULL));
    const std::string own = fmt::format("subject_decoders.{}.", s);
    for (const auto& t : state) {
      std::string name = t.name;
      if (name.rfind("subject_decoders.", 0) == 0) {
        if (name.rfind(own, 0) != 0) continue;
        name = "subject_decoders.0." + name.substr(own.size());
      }
      f.write_f32("encoder/weights/" + name, t.data.data(), t.data.size(), 1);
    }
    f.save_atomic(path);
  }
  spdlog::info("unit {} (encoder {}): {} subjects, {} training episodes, {} epochs (best {}, {} r {:.4f}), {} steps, "
               "{:.1f} s", u.unit_id, fmt::join(u.layers, "+"), n_sub, train.size(), res.epochs_run, res.best_epoch + 1,
               stop_name, res.val_r.at(static_cast<size_t>(res.best_epoch)), res.loss.size(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t_unit).count());
}

void set_error(char* err, size_t err_len, const char* what) {
  if (!err || err_len == 0) return;
  std::strncpy(err, what, err_len - 1);
  err[err_len - 1] = '\0';
}

}  // namespace
}  // namespace brainsweep

extern "C" {

/// Train unit `unit_index` of RUN_DIR's plan and write its job files (run_encoder_unit). Returns 0,
/// or the exit code of the error whose message is then in `err`.
int brainsweep_encoder_unit(const char* run_dir, int unit_index, char* err, size_t err_len) {
  using namespace brainsweep;
  set_error(err, err_len, "");
  try {
    const Plan p = Plan::load(run_dir);
    const Unit& u = p.units.at(static_cast<size_t>(unit_index));
    if (!u.encoder || !p.encoder) throw Error("unit " + u.unit_id + " is not a trained encoder's");
    run_encoder_unit(p, u, run_dir);
    return 0;
  } catch (const Error& e) {
    set_error(err, err_len, e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    set_error(err, err_len, e.what());
    return 1;
  }
}
}
