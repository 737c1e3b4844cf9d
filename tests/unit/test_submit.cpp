// Test sets in sweeps (issue #5) and their sample counts (JSON and np.save'd count files).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "brainsweep/config.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/submit.hpp"
#include "test_util.hpp"

namespace bs = brainsweep;

namespace {

/// Temporary files of this process, removed at exit.
struct TempFiles {
  std::vector<std::filesystem::path> paths;
  ~TempFiles() {
    std::error_code ec;
    for (const auto& p : paths) std::filesystem::remove(p, ec);
  }
} temp_files;

std::string temp_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("brainsweep_submit_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary) << text;
  temp_files.paths.push_back(path);
  return path.string();
}

std::string sweep(const std::string& extra) {
  static int n = 0;
  return temp_file("sweep" + std::to_string(n++) + ".yaml",
                   "dataset: " + std::string(BRAINSWEEP_SOURCE_DIR) + "/configs/datasets/algonauts2025.yaml\n" +
                       "atlas: Schaefer18_parcel-1000Par7Net\nsubjects: [sub-01]\n"
                       "features:\n  - {model: vjepa2, layers: [blocks.4]}\ntrain: [s01e01a]\neval: {val: [s01e02a]}\n" +
                       extra);
}

using brainsweep::test::error_of;

}  // namespace

TEST(TestSets, SweepReadsListsAndAutoInOrder) {
  const auto s = bs::Sweep::load(sweep("test: {friends-s7: auto, ood: [chaplin1, wot2]}\nsample_counts: c.json\n"));
  ASSERT_EQ(s.test.size(), 2u);
  EXPECT_EQ(s.test[0].first, "friends-s7");
  EXPECT_TRUE(s.test[0].second.empty());  // auto
  EXPECT_EQ(s.test[1].second, (std::vector<std::string>{"chaplin1", "wot2"}));
  ASSERT_TRUE(s.sample_counts.has_value());
  EXPECT_TRUE(std::filesystem::path(*s.sample_counts).is_absolute());
}

TEST(TestSets, NameOfAnEvalSetOrCvIsRefusedWithItsLine) {
  const std::string e = error_of([] { bs::Sweep::load(sweep("test: {val: [s01e03a]}\n")); });
  EXPECT_NE(e.find("test.val"), std::string::npos) << e;
  EXPECT_NE(e.find(".yaml:8:"), std::string::npos) << e;  // the line of `test:`
  EXPECT_NE(error_of([] { bs::Sweep::load(sweep("test: {cv: auto}\n")); }).find("'cv'"), std::string::npos);
  EXPECT_NE(error_of([] { bs::Sweep::load(sweep("test: [ood]\n")); }).find("mapping"), std::string::npos);
}

TEST(TestSets, DescriptorTemplateIsUnderTheRoot) {
  const auto d = bs::DatasetDescriptor::load(std::string(BRAINSWEEP_SOURCE_DIR) + "/configs/datasets/algonauts2025.yaml",
                                             std::string("/data/alg"));
  EXPECT_EQ(d.sample_counts, "/data/alg/fmri/{subject}/target_sample_number/{subject}_{test_set}_fmri_samples.npy");
}

TEST(SampleCounts, JsonKeepsFileOrderAndNamesWhatIsMissing) {
  const auto path = temp_file("counts.json",
                              R"({"ood": {"sub-01": {"wot1": 353, "chaplin1": 432}, "sub-02": {"wot1": 353}}})");
  const auto c = bs::read_sample_counts(path, "ood", {});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c.at("sub-01")[0], (std::pair<std::string, long>{"wot1", 353}));  // file order, not sorted
  EXPECT_EQ(c.at("sub-01")[1].second, 432);
  std::string e = error_of([&] { bs::read_sample_counts(path, "friends-s7", {}); });
  EXPECT_NE(e.find("'friends-s7'"), std::string::npos) << e;
  EXPECT_NE(e.find("ood"), std::string::npos) << e;  // lists the sets found
  e = error_of([&] { bs::read_sample_counts(path, "ood", {"sub-01", "sub-05"}); });
  EXPECT_NE(e.find("sub-05"), std::string::npos) << e;
  const auto bad = temp_file("bad.json", R"({"ood": {"sub-01": {"wot1": -3}}})");
  e = error_of([&] { bs::read_sample_counts(bad, "ood", {}); });
  EXPECT_NE(e.find("'wot1'"), std::string::npos) << e;
}

TEST(SampleCounts, TemplateNamesTheMissingFile) {
  const std::string e = error_of([] { bs::read_sample_counts("/nonexistent/{subject}_{test_set}.npy", "ood", {"sub-03"}); });
  EXPECT_NE(e.find("/nonexistent/sub-03_ood.npy"), std::string::npos) << e;
  EXPECT_NE(error_of([] { bs::read_sample_counts("/x/counts.txt", "ood", {"sub-01"}); }).find("template"),
            std::string::npos);
}

// ---------------------------------------------------------------- stitch reports
#include "../../src/stitch/stitch_reports.hpp"

TEST(StitchReports, SchaeferNetworkAndLayerDepthFromNames) {
  EXPECT_EQ(bs::schaefer_network("7Networks_LH_Vis_1"), "Vis");
  EXPECT_EQ(bs::schaefer_network("7Networks_RH_Cont_Temp_1"), "Cont");
  EXPECT_EQ(bs::schaefer_network("17Networks_LH_DefaultA_pCunPCC_1"), "DefaultA");
  EXPECT_EQ(bs::schaefer_network("aud_early"), "");
  EXPECT_EQ(bs::schaefer_network("17"), "");
  EXPECT_EQ(bs::layer_index("blocks.12"), 12);
  EXPECT_EQ(bs::layer_index("model.layers.7"), 7);
  EXPECT_EQ(bs::layer_index("layers.12.fc2"), 12);  // whisper: not the 2 of fc2
  EXPECT_EQ(bs::layer_index("norm"), -1);
}

TEST(StitchReports, ParcelNamesFromSchaeferOrderFileOrPlainList) {
  const auto order = temp_file("order.txt",
                               "1\t7Networks_LH_Vis_1\t120\t18\t134\t0\n2\t7Networks_LH_SomMot_1\t70\t130\t180\t0\n");
  EXPECT_EQ(bs::read_parcel_names(order, 2), (std::vector<std::string>{"7Networks_LH_Vis_1", "7Networks_LH_SomMot_1"}));
  const auto plain = temp_file("plain.txt", "7Networks_RH_Default_3\r\nV1\n\n");
  EXPECT_EQ(bs::read_parcel_names(plain, 2), (std::vector<std::string>{"7Networks_RH_Default_3", "V1"}));
  const std::string e = error_of([&] { bs::read_parcel_names(plain, 1000); });
  EXPECT_NE(e.find("2 parcel names, the run has 1000"), std::string::npos) << e;
}
