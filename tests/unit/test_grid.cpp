// Grid expansion: include/exclude rules and the reproducible random subsample (grid.hpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "brainsweep/config.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/grid.hpp"

namespace bs = brainsweep;

namespace {
bs::Sweep three_by_two_by_three() {
  bs::Sweep s;
  s.path = "memory.yaml";
  s.features = {{"annotations", {"speech"}}, {"annotations", {"all"}}, {"topic_model", {"t100"}}};
  s.hrf_delay = {0, 3};
  s.stimulus_window = {1, 2, 5};
  return s;
}
}  // namespace

TEST(Grid, ExpandsInFeatureHrfWindowOrder) {
  const auto g = bs::grid_points(three_by_two_by_three());
  ASSERT_EQ(g.size(), 18u);
  EXPECT_EQ(g[0], (bs::GridPoint{0, 0, 1}));
  EXPECT_EQ(g[1], (bs::GridPoint{0, 0, 2}));
  EXPECT_EQ(g[3], (bs::GridPoint{0, 3, 1}));
  EXPECT_EQ(g[17], (bs::GridPoint{2, 3, 5}));
}

TEST(Grid, ExcludeDropsPointsMatchingEveryKeyOfARule) {
  auto s = three_by_two_by_three();
  s.exclude = {{std::string("topic_model"), std::nullopt, std::nullopt, 5},  // topic_model with window 5
               {std::nullopt, std::vector<std::string>{"all"}, 3, std::nullopt}};  // layers [all] at hrf 3
  const auto g = bs::grid_points(s);
  EXPECT_EQ(g.size(), 18u - 2 - 3);
  for (const auto& p : g) {
    EXPECT_FALSE(p.feature_set == 2 && p.stimulus_window == 5);
    EXPECT_FALSE(p.feature_set == 1 && p.hrf_delay == 3);
  }
}

TEST(Grid, IncludeKeepsPointsMatchingAnyRuleThenExcludeApplies) {
  auto s = three_by_two_by_three();
  s.include = {{std::nullopt, std::nullopt, std::nullopt, 1}, {std::string("topic_model"), std::nullopt, std::nullopt, std::nullopt}};
  s.exclude = {{std::nullopt, std::nullopt, 3, std::nullopt}};
  // window 1 (3 feature sets × hrf 0) ∪ topic_model (hrf 0: windows 1, 2, 5) = 3 + 2 points.
  const auto g = bs::grid_points(s);
  EXPECT_EQ(g, (std::vector<bs::GridPoint>{{0, 0, 1}, {1, 0, 1}, {2, 0, 1}, {2, 0, 2}, {2, 0, 5}}));
  s.include = {{std::nullopt, std::nullopt, 3, std::nullopt}};
  EXPECT_THROW(bs::grid_points(s), bs::ConfigError);  // everything included is excluded
}

TEST(Grid, SampleIsReproducibleDistinctAndInGridOrder) {
  auto s = three_by_two_by_three();
  s.sample_n = 5;
  s.sample_seed = 42;
  const auto a = bs::grid_points(s), b = bs::grid_points(s);
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a, b);
  const auto all = bs::grid_points(three_by_two_by_three());
  size_t last = 0;
  for (const auto& p : a) {
    const size_t i = static_cast<size_t>(std::find(all.begin(), all.end(), p) - all.begin());
    ASSERT_LT(i, all.size());
    EXPECT_TRUE(i >= last);
    last = i + 1;
  }
  s.sample_seed = 43;
  EXPECT_NE(bs::grid_points(s), a);
  s.sample_n = 100;  // more than the grid: all points
  EXPECT_EQ(bs::grid_points(s).size(), 18u);
}

TEST(SampleIndices, FixedValuesForAFixedSeed) {
  // mt19937_64 is specified by the C++ standard, and the draw is ours: these values are the same on
  // every platform. A change here changes which grid points existing sweeps sample.
  EXPECT_EQ(bs::sample_indices(1000, 4, 0), (std::vector<size_t>{366, 694, 718, 993}));
  EXPECT_EQ(bs::sample_indices(10, 3, 12345), (std::vector<size_t>{0, 6, 7}));
  EXPECT_EQ(bs::sample_indices(3, 5, 1), (std::vector<size_t>{0, 1, 2}));
}

TEST(SampleIndices, IsUniformOverSeeds) {
  // 20 000 draws of 3 of 10: every index is picked 6000 times in expectation (sd ≈ 65).
  std::vector<int> count(10, 0);
  for (std::uint64_t seed = 0; seed < 20000; ++seed) {
    const auto v = bs::sample_indices(10, 3, seed);
    ASSERT_EQ(v.size(), 3u);
    ASSERT_TRUE(v[0] < v[1] && v[1] < v[2]);
    for (size_t i : v) ++count[i];
  }
  for (int c : count) EXPECT_NEAR(c, 6000, 400);
}

TEST(Grid, SweepFileRulesAreCheckedAgainstTheSweep) {
  const auto path = std::filesystem::temp_directory_path() / ("brainsweep_grid_" + std::to_string(::getpid()) + ".yaml");
  auto write = [&](const std::string& grid, const std::string& extra = "") {
    std::ofstream(path) << "dataset: d.yaml\natlas: roi6\nsubjects: [sub-01]\ntrain: [a]\n"
                        << "features:\n  - {model: annotations, layers: [speech]}\n  - {model: topic_model, layers: [t100]}\n"
                        << "grid:\n" << grid << extra;
    return path.string();
  };
  const auto ok = bs::Sweep::load(write("  stimulus_window: [1, 5]\n  exclude:\n    - {model: topic_model, stimulus_window: 5}\n",
                                        "sample: {n: 2, seed: 7}\n"));
  ASSERT_EQ(ok.exclude.size(), 1u);
  EXPECT_EQ(*ok.exclude[0].model, "topic_model");
  EXPECT_EQ(*ok.exclude[0].stimulus_window, 5);
  EXPECT_EQ(*ok.sample_n, 2u);
  EXPECT_EQ(ok.sample_seed, 7u);
  // A typo in a rule names the key and the file line instead of silently matching nothing.
  try {
    bs::Sweep::load(write("  stimulus_window: [1, 5]\n  exclude:\n    - {model: topic_modle}\n"));
    FAIL() << "no error";
  } catch (const bs::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("grid.exclude[0].model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("topic_modle"), std::string::npos) << e.what();
  }
  EXPECT_THROW(bs::Sweep::load(write("  stimulus_window: [1, 5]\n  include:\n    - {stimulus_window: 3}\n")), bs::ConfigError);
  EXPECT_THROW(bs::Sweep::load(write("  stimulus_window: [1]\n", "sample: {n: 0}\n")), bs::ConfigError);
  EXPECT_THROW(bs::Sweep::load(write("  stimulus_window: [1]\n", "sample: {n: 2, sed: 1}\n")), bs::ConfigError);
  std::filesystem::remove(path);
}
