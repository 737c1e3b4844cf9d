#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <random>

#include <fmt/format.h>

#include "brainsweep/demo.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/matrix.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

namespace {

struct Episode {
  const char* name;
  const char* task;     // friends | movie10
  const char* stimset;  // MedARC stimset
  const char* group;
  long n_tr;
};

constexpr Episode kEpisodes[] = {
    {"s01e01a", "friends", "friends", "s1", 260}, {"s01e01b", "friends", "friends", "s1", 250},
    {"s01e02a", "friends", "friends", "s1", 270}, {"s01e02b", "friends", "friends", "s1", 240},
    {"s01e03a", "friends", "friends", "s1", 255}, {"s01e03b", "friends", "friends", "s1", 245},
    {"s01e04a", "friends", "friends", "s1", 230}, {"bourne01", "movie10", "movie10", "bourne", 280},
    {"bourne02", "movie10", "movie10", "bourne", 265},
};
constexpr const char* kSubjects[] = {"sub-01", "sub-02", "sub-03", "sub-05"};
constexpr int kLatent = 6;
constexpr int kHrfDelay = 3;
constexpr long kFeatureShortfall = 2;  // feature files have this many rows fewer than the fMRI

MatrixF gaussian(long rows, long cols, std::mt19937_64& rng) {
  std::normal_distribution<float> n(0.0f, 1.0f);
  MatrixF m(rows, cols);
  for (long i = 0; i < m.size(); ++i) m.data()[i] = n(rng);
  return m;
}

/// Stationary AR(1) latent stimulus, unit variance per column.
MatrixF latent(long rows, std::mt19937_64& rng) {
  const float phi = 0.6f, innov = std::sqrt(1.0f - phi * phi);
  MatrixF z = gaussian(rows, kLatent, rng);
  for (long i = 1; i < rows; ++i) z.row(i) = phi * z.row(i - 1) + innov * z.row(i);
  return z;
}

std::string fmri_file(const std::string& dir, const std::string& sub, const std::string& task) {
  const std::string desc = task == "friends" ? "_desc-s123456" : "";
  return fmt::format("{}/fmri/{}/func/{}_task-{}_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net{}_bold.h5",
                     dir, sub, sub, task, desc);
}

}  // namespace

void write_demo_dataset(const std::string& dir, const DemoOptions& opt) {
  if (sfs::exists(dir) && !sfs::is_empty(dir))
    throw Error(dir + ": exists and is not empty; refusing to write the demo dataset into it");
  const long np = opt.n_parcels;
  std::mt19937_64 rng(opt.seed);

  std::vector<double> planted(static_cast<size_t>(np));
  for (long j = 0; j < np; ++j) planted[static_cast<size_t>(j)] = 0.65 - 0.6 * j / std::max<long>(1, np - 1);

  // Stimulus: one latent trajectory per episode, and the feature layers derived from it.
  const MatrixF mix_hi = gaussian(kLatent, 24, rng), mix_lo = gaussian(kLatent, 24, rng);
  const MatrixF mix_lang = gaussian(kLatent / 2, 32, rng);
  std::vector<MatrixF> z;
  for (const auto& ep : kEpisodes) {
    const long tf = ep.n_tr - kFeatureShortfall;
    z.push_back(latent(tf, rng));
    const MatrixF& zz = z.back();
    const MatrixF hi = zz * mix_hi + 0.3f * gaussian(tf, 24, rng);
    const MatrixF lo = zz * mix_lo + 2.0f * gaussian(tf, 24, rng);
    const MatrixF lang = zz.leftCols(kLatent / 2) * mix_lang + 0.3f * gaussian(tf, 32, rng);
    for (const char* model : {"vjepa2", "Llama-3.2-1B"}) {
      const sfs::path path = sfs::path(dir) / "features" / model / ep.stimset / ep.group /
                             fmt::format("{}_{}.h5", ep.stimset, ep.name);
      sfs::create_directories(path.parent_path());
      h5::File f(path.string(), h5::File::Mode::truncate);
      if (std::string(model) == "vjepa2") {
        f.write_f32("blocks.4", lo.data(), tf, 24, true);
        f.write_f32("blocks.12", hi.data(), tf, 24, true);
      } else {
        f.write_f32("model.layers.7", lang.data(), tf, 32);
      }
    }
  }

  // fMRI: r_j · s_j + sqrt(1 − r_j²) · noise + baseline, s_j = z(t − hrf_delay) · b_j / |b_j|.
  for (const char* sub : kSubjects) {
    const MatrixF b = gaussian(kLatent, np, rng);
    const VectorF norm = b.colwise().norm().transpose();
    const VectorF baseline = 100.0f * VectorF::Ones(np) + 10.0f * gaussian(np, 1, rng).col(0);
    std::map<std::string, std::unique_ptr<h5::File>> files;
    for (size_t e = 0; e < std::size(kEpisodes); ++e) {
      const auto& ep = kEpisodes[e];
      const std::string path = fmri_file(dir, sub, ep.task);
      if (!files.count(path)) {
        sfs::create_directories(sfs::path(path).parent_path());
        files[path] = std::make_unique<h5::File>(path, h5::File::Mode::truncate);
      }
      const MatrixF noise = gaussian(ep.n_tr, np, rng);
      MatrixF y(ep.n_tr, np);
      for (long t = 0; t < ep.n_tr; ++t) {
        const long src = std::clamp<long>(t - kHrfDelay, 0, z[e].rows() - 1);
        const Eigen::RowVectorXf s = (z[e].row(src) * b).array() / norm.transpose().array();
        for (long j = 0; j < np; ++j) {
          const float r = static_cast<float>(planted[static_cast<size_t>(j)]);
          y(t, j) = baseline(j) + r * s(j) + std::sqrt(1.0f - r * r) * noise(t, j);
        }
      }
      files[path]->write_f32(fmt::format("ses-{:03d}_task-{}", e / 2 + 1, ep.name), y.data(), ep.n_tr, np);
    }
  }
  std::string csv = "parcel,planted_r\n";
  for (long j = 0; j < np; ++j) csv += fmt::format("{},{:.6f}\n", j, planted[static_cast<size_t>(j)]);
  fs::write_text_atomic((sfs::path(dir) / "planted_r.csv").string(), csv);
}

}  // namespace brainsweep
