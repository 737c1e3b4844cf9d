// Runs brainsweep's trained encoder on the input file of tests/reference/trained_encoder_reference.py
// (same initial weights, same window schedule) and writes what that script writes, so that
// tests/e2e/test_encoder_reference.py can compare them. Not a user tool.
//
// Usage: brainsweep_encoder_driver IN.h5 OUT.h5 d k causal positive tied shared subject lr wd S P n_streams L
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include <fmt/format.h>

#include "brainsweep/encoder.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/hdf5_io.hpp"

namespace bs = brainsweep;
namespace enc = brainsweep::encoder;

namespace {

/// A dataset as float32 values and its shape (any rank; HDF5 converts the type).
enc::NamedTensor read_tensor(const bs::h5::File& f, const std::string& path, const std::string& name) {
  enc::NamedTensor t{name, {}, {}};
  for (auto d : f.shape(path)) t.shape.push_back(static_cast<long>(d));
  for (double v : f.read_f64(path)) t.data.push_back(static_cast<float>(v));
  return t;
}

/// group/<episode>/{fmri (S, T, P), stream<i> (T, D_i)} for every episode of the group, by name.
std::vector<enc::Episode> read_episodes(const bs::h5::File& f, const std::string& group, int n_streams) {
  std::vector<enc::Episode> out;
  if (!f.has(group)) return out;
  for (const auto& name : f.list(group)) {
    enc::Episode ep;
    ep.name = name;
    for (int i = 0; i < n_streams; ++i) ep.streams.push_back(f.read_f32(fmt::format("{}/{}/stream{}", group, name, i)));
    const enc::NamedTensor y = read_tensor(f, group + "/" + name + "/fmri", "fmri");
    const long s = y.shape[0], t = y.shape[1], p = y.shape[2];
    for (long k = 0; k < s; ++k) {
      bs::MatrixF m(t, p);
      std::copy(y.data.begin() + k * t * p, y.data.begin() + (k + 1) * t * p, m.data());
      ep.fmri.push_back(std::move(m));
    }
    out.push_back(std::move(ep));
  }
  return out;
}

void write_tensors(bs::h5::File& f, const std::string& group, const std::vector<enc::NamedTensor>& ts) {
  for (const auto& t : ts) f.write_f32(group + "/" + t.name, t.data.data(), t.data.size(), 1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 17) {
    std::fprintf(stderr, "usage: %s IN.h5 OUT.h5 d k causal positive tied shared subject lr wd S P n_streams L threads\n",
                 argv[0]);
    return 2;
  }
  try {
    enc::ModelOptions mo;
    mo.embed_dim = std::stoi(argv[3]);
    mo.kernel_size = std::stoi(argv[4]);
    mo.causal = std::stoi(argv[5]), mo.positive = std::stoi(argv[6]), mo.tied = std::stoi(argv[7]);
    mo.shared_head = std::stoi(argv[8]), mo.subject_heads = std::stoi(argv[9]);
    enc::TrainOptions to;
    to.lr = std::stod(argv[10]), to.weight_decay = std::stod(argv[11]);
    const int n_subjects = std::stoi(argv[12]), n_streams = std::stoi(argv[14]);
    const long n_parcels = std::stol(argv[13]);
    to.sample_length = std::stoi(argv[15]);
    const int threads = std::stoi(argv[16]);

    const bs::h5::File in(argv[1]);
    const auto train = read_episodes(in, "train", n_streams), eval = read_episodes(in, "eval", n_streams);
    std::vector<long> dims;
    for (const auto& s : train.front().streams) dims.push_back(s.cols());
    enc::ConvEncoder model(mo, dims, n_subjects, n_parcels, 0, "cpu", threads);
    std::vector<enc::NamedTensor> init;
    for (const auto& p : model.state()) init.push_back(read_tensor(in, "init/" + p.name, p.name));
    model.load_state(init);
    model.set_training_data(train, to);

    const enc::NamedTensor sched = read_tensor(in, "schedule", "schedule");  // (steps, B, 2)
    const long steps = sched.shape.empty() ? 0 : sched.shape[0], batch = steps ? sched.shape[1] : 0;
    std::vector<double> loss;
    std::vector<enc::NamedTensor> grad0;
    double first_s = 0, later_s = 0;
    for (long s = 0; s < steps; ++s) {
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<enc::Window> w;
      for (long b = 0; b < batch; ++b)
        w.push_back({static_cast<int>(sched.data[(s * batch + b) * 2]), static_cast<long>(sched.data[(s * batch + b) * 2 + 1])});
      loss.push_back(model.train_step(w));
      (s == 0 ? first_s : later_s) += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s == 0) grad0 = model.gradients();
    }
    // wall time of the steps (window assembly, forward, backward, AdamW), for bench/encoder_bench.py
    std::printf("timing: steps %ld, first step %.6f s, later steps %.6f s\n", steps, first_s, later_s);
    bs::h5::File out(argv[2], bs::h5::File::Mode::in_memory);
    if (!loss.empty()) out.write_f64("loss", loss.data(), loss.size());
    write_tensors(out, "final", model.state());
    write_tensors(out, "grad0", grad0);
    if (!eval.empty()) {
      std::vector<std::vector<double>> r;
      enc::score_episodes(model, eval, &r);
      std::vector<double> flat;
      for (const auto& v : r) flat.insert(flat.end(), v.begin(), v.end());
      out.write_f64("eval_r", flat.data(), r.size(), r.front().size());
    }
    for (const auto& ep : eval) {
      const auto pred = model.predict(ep.streams);
      std::vector<float> all;
      for (const auto& m : pred) all.insert(all.end(), m.data(), m.data() + m.size());
      out.write_f32("eval/" + ep.name + "/pred", all.data(), pred.size() * pred[0].rows(), pred[0].cols());
    }
    out.save_atomic(argv[2]);
    return 0;
  } catch (const bs::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
