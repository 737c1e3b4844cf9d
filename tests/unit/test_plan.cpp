// Plan expansion and stable job ids.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "brainsweep/errors.hpp"
#include "brainsweep/plan.hpp"

namespace bs = brainsweep;

namespace {

std::string sweep_file(const std::string& grid) {
  static int n = 0;
  const auto path = std::filesystem::temp_directory_path() / ("brainsweep_plan_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".yaml");
  std::ofstream(path) << "dataset: " << BRAINSWEEP_SOURCE_DIR << "/configs/datasets/sherlock.yaml\n"
                      << "dataset_root: " << BRAINSWEEP_SHERLOCK_DIR << "\n"
                      << "atlas: roi6\nsubjects: [sub-01, sub-02, sub-03]\n"
                      << "features:\n  - {model: annotations, layers: [speech, music]}\n"
                      << "  - {model: description_lsa, layers: [lsa16]}\n"
                      << grid << "train: [sherlock01]\neval: {test: [sherlock02]}\n";
  return path.string();
}

bool have_sherlock() { return std::filesystem::exists(BRAINSWEEP_SHERLOCK_DIR); }

}  // namespace

TEST(StableId, IsXxh3OfTheText) {
  EXPECT_EQ(bs::stable_id(""), "2d06800538d394c2");  // XXH3_64bits test vector, seed 0
  EXPECT_EQ(bs::stable_id("abc"), bs::stable_id("abc"));
  EXPECT_NE(bs::stable_id("abc"), bs::stable_id("abd"));
}

TEST(Plan, ExpandsGridIntoUnitsAndJobsWithStableIds) {
  if (!have_sherlock()) GTEST_SKIP() << "no Sherlock data";
  const auto a = bs::make_plan(bs::Sweep::load(sweep_file("grid: {hrf_delay: [0], stimulus_window: [1, 3]}\n")));
  EXPECT_EQ(a.units.size(), 4u);   // 2 feature sets × 2 windows; the 3 subjects share runs
  EXPECT_EQ(a.jobs.size(), 12u);   // × 3 subjects
  std::set<std::string> ids;
  for (const auto& j : a.jobs) ids.insert(j.job_id);
  EXPECT_EQ(ids.size(), 12u);
  EXPECT_EQ(a.units[0].layers, (std::vector<std::string>{"speech", "music"}));
  EXPECT_EQ(a.fmri.at("sub-02").at("sherlock02").n_tr, 1030);
  EXPECT_EQ(a.eval[0].movies.at("sherlock02"), "sherlock");

  // Same inputs, same ids; a grid point shared with another sweep keeps its id.
  const auto b = bs::make_plan(bs::Sweep::load(sweep_file("grid: {hrf_delay: [0], stimulus_window: [3]}\n")));
  std::set<std::string> b_ids;
  for (const auto& j : b.jobs) b_ids.insert(j.job_id);
  for (const auto& j : a.jobs) EXPECT_EQ(b_ids.count(j.job_id), j.stimulus_window == 3 ? 1u : 0u);

  // Round trip through JSON.
  const auto c = bs::Plan::from_json(a.to_json(), "memory");
  EXPECT_EQ(c.to_json(), a.to_json());
}

TEST(Plan, WritePlanRefusesADifferentPlanAndKeepsTheOld) {
  if (!have_sherlock()) GTEST_SKIP() << "no Sherlock data";
  const auto dir = std::filesystem::temp_directory_path() / ("brainsweep_plan_dir_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const auto a = bs::make_plan(bs::Sweep::load(sweep_file("grid: {hrf_delay: [0], stimulus_window: [1]}\n")));
  const auto b = bs::make_plan(bs::Sweep::load(sweep_file("grid: {hrf_delay: [0], stimulus_window: [2]}\n")));
  EXPECT_TRUE(bs::write_plan(a, dir.string()));
  EXPECT_FALSE(bs::write_plan(a, dir.string()));  // same plan: unchanged
  EXPECT_THROW(bs::write_plan(b, dir.string()), bs::ConfigError);
  EXPECT_EQ(bs::Plan::load(dir.string()).to_json()["jobs"], a.to_json()["jobs"]);
  std::filesystem::remove_all(dir);
}
