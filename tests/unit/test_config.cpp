// Sweep files and dataset descriptors: defaults, bounds, unknown keys with their line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "brainsweep/config.hpp"
#include "brainsweep/errors.hpp"

namespace bs = brainsweep;

namespace {

const std::string kDescriptor = std::string(BRAINSWEEP_SOURCE_DIR) + "/configs/datasets/sherlock.yaml";

std::string write_sweep(const std::string& body) {
  static int n = 0;
  const auto path = std::filesystem::temp_directory_path() / ("brainsweep_sweep_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".yaml");
  std::ofstream(path) << "dataset: " << kDescriptor << "\n" << body;
  return path.string();
}

const std::string kMinimal =
    "atlas: roi6\n"
    "subjects: [sub-01]\n"
    "features:\n"
    "  - {model: annotations, layers: [all]}\n"
    "train: [sherlock01]\n";

std::string error_of(const std::string& body) {
  try {
    bs::Sweep::load(write_sweep(body));
  } catch (const bs::ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Sweep, DefaultsFollowEncodingConventions) {
  const auto s = bs::Sweep::load(write_sweep(kMinimal));
  EXPECT_EQ(s.hrf_delay, std::vector<int>{3});
  EXPECT_EQ(s.stimulus_window, std::vector<int>{5});
  EXPECT_EQ(s.folds, 5);
  ASSERT_EQ(s.alphas.size(), 17u);
  for (size_t i = 0; i < 17; ++i) EXPECT_NEAR(s.alphas[i], std::pow(10.0, -1.0 + 0.5 * static_cast<double>(i)), 1e-9 * s.alphas[i]);
  EXPECT_EQ(s.backend, "cpu");
  EXPECT_TRUE(s.eval.empty());
}

TEST(Sweep, ReadsGridRidgeAndNamedEvalSetsInOrder) {
  const auto s = bs::Sweep::load(write_sweep(kMinimal +
                                             "grid: {hrf_delay: [0, 2], stimulus_window: [1, 3]}\n"
                                             "ridge: {folds: 4, alphas: [100, 1, 10]}\n"
                                             "eval: {val: [sherlock02], test: [sherlock01, sherlock02]}\n"));
  EXPECT_EQ(s.hrf_delay, (std::vector<int>{0, 2}));
  EXPECT_EQ(s.stimulus_window, (std::vector<int>{1, 3}));
  EXPECT_EQ(s.folds, 4);
  EXPECT_EQ(s.alphas, (std::vector<double>{1, 10, 100}));
  ASSERT_EQ(s.eval.size(), 2u);
  EXPECT_EQ(s.eval[0].first, "val");
  EXPECT_EQ(s.eval[1].second, (std::vector<std::string>{"sherlock01", "sherlock02"}));
}

TEST(Sweep, UnknownKeyNamesKeyPathAndLine) {
  const auto msg = error_of(kMinimal + "grid: {hrf_delay: [0]}\nridge:\n  folds: 5\n  alpha: [1]\n");
  EXPECT_NE(msg.find(":10: key 'ridge.alpha': unknown key"), std::string::npos) << msg;
  const auto top = error_of(kMinimal + "subject: [sub-02]\n");
  EXPECT_NE(top.find(":7: key 'subject': unknown key"), std::string::npos) << top;
}

TEST(Sweep, RejectsEmptyGridBadAlphasAndWindows) {
  EXPECT_NE(error_of(kMinimal + "grid: {stimulus_window: []}\n").find("empty grid"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "ridge: {alphas: [1, 0]}\n").find("alphas > 0"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "ridge: {alphas: [-3]}\n").find("alphas > 0"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "grid: {stimulus_window: [0]}\n").find("grid.stimulus_window"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "grid: {hrf_delay: [-1]}\n").find("grid.hrf_delay"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "ridge: {folds: 1}\n").find("ridge.folds"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "ridge: {backend: gpu}\n").find("ridge.backend"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "eval: {cv: [sherlock02]}\n").find("reserved"), std::string::npos);
  EXPECT_NE(error_of("atlas: roi6\n").find("'subjects': missing"), std::string::npos);
}

TEST(Descriptor, AlgonautsLayoutResolvesFriendsMovie10AndOod) {
  const auto d = bs::DatasetDescriptor::load(std::string(BRAINSWEEP_SOURCE_DIR) + "/configs/datasets/algonauts2025.yaml",
                                             std::string("/data/algo"));
  EXPECT_EQ(d.tr, 1.49);
  EXPECT_EQ(d.exclude_start, 5);
  EXPECT_EQ(d.exclude_end, 5);
  EXPECT_EQ(d.feature_file_of("Llama-3.2-1B", "s01e01a"), "/data/algo/features/Llama-3.2-1B/friends/s1/friends_s01e01a.h5");
  EXPECT_EQ(d.feature_file_of("whisper", "bourne01"), "/data/algo/features/whisper/movie10/bourne/movie10_bourne01.h5");
  EXPECT_EQ(d.feature_file_of("vjepa2", "figures01_run-2"), "/data/algo/features/vjepa2/movie10/figures/movie10_figures01.h5");
  EXPECT_EQ(d.feature_file_of("vjepa2", "chaplin1"), "/data/algo/features/vjepa2/ood/chaplin/ood_chaplin1.h5");
  EXPECT_EQ(d.movie_of("s06e03b"), "friends-s6");
  EXPECT_EQ(d.movie_of("life02_run-1"), "life");
  const std::string atlas = "Schaefer18_parcel-1000Par7Net";
  EXPECT_EQ(d.fmri_file("sub-02", atlas, "s01e01a"),
            "/data/algo/fmri/sub-02/func/sub-02_task-friends_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-"
            "1000Par7Net_desc-s123456_bold.h5");
  EXPECT_EQ(d.fmri_file("sub-02", atlas, "wolf13"),
            "/data/algo/fmri/sub-02/func/sub-02_task-movie10_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-"
            "1000Par7Net_bold.h5");
  EXPECT_THROW(d.fmri_file("sub-02", atlas, "sherlock01"), bs::DataError);
}

// Banded ridge's scalings (issue #14): Dirichlet samples on the simplex, from our own stream. For
// two bands, component 1 of Dirichlet(α, α) is Beta(α, α): mean 1/2, variance 1/(4(2α + 1)); for
// three bands the mean of each component is 1/3. Reproducible from the seed, different across seeds.
TEST(Scalings, DirichletSamplesHaveTheBetaMomentsAndAreSeeded) {
  for (double alpha : {0.1, 1.0, 5.0}) {
    const auto g = bs::dirichlet_samples(40000, 2, {alpha}, 7);
    double mean = 0, var = 0;
    for (const auto& x : g) {
      ASSERT_EQ(x.size(), 2u);
      EXPECT_NEAR(x[0] + x[1], 1.0, 1e-12);
      EXPECT_GE(x[0], 0.0);
      mean += x[0] / static_cast<double>(g.size());
    }
    for (const auto& x : g) var += (x[0] - mean) * (x[0] - mean) / static_cast<double>(g.size() - 1);
    const double want_var = 1.0 / (4.0 * (2.0 * alpha + 1.0));
    EXPECT_NEAR(mean, 0.5, 4.0 * std::sqrt(want_var / 40000.0)) << alpha;
    EXPECT_NEAR(var, want_var, 0.03 * want_var) << alpha;
  }
  const auto three = bs::dirichlet_samples(30000, 3, {0.1, 1.0}, 3);  // concentrations alternate
  double m[3] = {0, 0, 0};
  for (const auto& x : three)
    for (int k = 0; k < 3; ++k) m[k] += x[k] / 30000.0;
  for (double v : m) EXPECT_NEAR(v, 1.0 / 3.0, 0.01);
  EXPECT_EQ(bs::dirichlet_samples(5, 3, {1.0}, 11), bs::dirichlet_samples(5, 3, {1.0}, 11));
  EXPECT_NE(bs::dirichlet_samples(5, 3, {1.0}, 11), bs::dirichlet_samples(5, 3, {1.0}, 12));
}
