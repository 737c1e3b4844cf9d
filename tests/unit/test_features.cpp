// Feature extraction logic without models: chunking, transcripts, context words, EXTRACT.yaml.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "brainsweep/errors.hpp"
#include "brainsweep/extract.hpp"
#include "brainsweep/media.hpp"
#include "brainsweep/text.hpp"
#include "test_util.hpp"

namespace bs = brainsweep;
namespace fsys = std::filesystem;

namespace {

fsys::path temp_dir(const std::string& name) {
  auto d = fsys::temp_directory_path() / ("brainsweep_features_" + name + "_" + std::to_string(::getpid()));
  fsys::remove_all(d);
  fsys::create_directories(d);
  return d;
}

void write(const fsys::path& p, const std::string& text) {
  fsys::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

using brainsweep::test::error_of;

}  // namespace

TEST(ChunkCount, CeilOfDurationOverTrWithPartialLastChunk) {
  EXPECT_EQ(bs::chunk_count(3.3, 1.0), 4);
  EXPECT_EQ(bs::chunk_count(3.0, 1.0), 3);          // a whole number of TRs opens no extra chunk
  EXPECT_EQ(bs::chunk_count(0.6, 1.49), 1);         // shorter than one chunk
  EXPECT_EQ(bs::chunk_count(1490.0 * 1.49, 1.49), 1490);
  EXPECT_EQ(bs::chunk_count(0.0, 1.49), 1);
}

TEST(ChunkWords, PrependsTheLastContextWordsOfEarlierChunks) {
  const std::vector<std::string> rows{"a b", "", "c d e", "f"};
  const auto w = bs::chunk_words(rows, 3);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(w[1], (std::vector<std::string>{"a", "b"}));  // an empty chunk keeps its context
  EXPECT_EQ(w[2], (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(w[3], (std::vector<std::string>{"c", "d", "e", "f"}));
  EXPECT_EQ(bs::chunk_words(rows, 0)[1], std::vector<std::string>{});
}

TEST(TranscriptTsv, ReadsTextPerTrWithQuotesAndNan) {
  const auto d = temp_dir("tsv");
  write(d / "t.tsv",
        "words_per_tr\ttext_per_tr\n[]\thello there\n[]\tnan\n[]\t\"a\ttab, \"\"quoted\"\"\"\n[]\t\n");
  const auto rows = bs::read_text_per_tr((d / "t.tsv").string());
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], "hello there");
  EXPECT_EQ(rows[1], "");
  EXPECT_EQ(rows[2], "a\ttab, \"quoted\"");
  EXPECT_EQ(rows[3], "");
  write(d / "bad.tsv", "text\n[]\n");
  EXPECT_NE(error_of([&] { bs::read_text_per_tr((d / "bad.tsv").string()); }).find("no column 'text_per_tr'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { bs::read_text_per_tr((d / "missing.tsv").string()); }).find("missing.tsv"),
            std::string::npos);
}

TEST(ExtractConfig, ReadsEveryKeyAndRefusesBadOnes) {
  const auto d = temp_dir("cfg");
  write(d / "s1" / "friends_s01e01a.mkv", "x");
  write(d / "s1" / "friends_s01e01b.mkv", "x");
  const std::string base = "name: vjepa2\nmodel: {path: m.pt, batch_size: 4}\nlayers: [blocks.11, norm]\n"
                           "pool: {mode: cls}\ntr: 1.49\nvideo: {frames_per_chunk: 2, size: [8, 12], layout: BCTHW}\n"
                           "stimuli: [{stimset: friends, group: s1, files: '" + (d / "s1" / "*.mkv").string() +
                           "'}]\nout: " + (d / "features").string() + "\n";
  write(d / "ok.yaml", base);
  const auto c = bs::ExtractConfig::load((d / "ok.yaml").string());
  EXPECT_EQ(c.modality, "video");
  EXPECT_EQ(c.layers, (std::vector<std::string>{"blocks.11", "norm"}));
  EXPECT_EQ(c.pool.mode, "cls");
  EXPECT_EQ(c.height, 8);
  EXPECT_EQ(c.width, 12);
  EXPECT_EQ(c.layout, "BCTHW");
  EXPECT_TRUE(c.float16);
  const auto eps = bs::list_episodes(c);
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].episode, "s01e01a");
  EXPECT_EQ(eps[1].output(c), (d / "features" / "vjepa2" / "friends" / "s1" / "friends_s01e01b.h5").string());

  auto refused = [&](const std::string& from, const std::string& to) {
    std::string text = base;
    text.replace(text.find(from), from.size(), to);
    write(d / "bad.yaml", text);
    return error_of([&] { bs::ExtractConfig::load((d / "bad.yaml").string()); });
  };
  EXPECT_EQ([&] {
    std::string text = base;
    text.replace(text.find("frames_per_chunk: 2"), 19, "fps: 4");
    write(d / "fps.yaml", text);
    return bs::ExtractConfig::load((d / "fps.yaml").string()).frames_per_chunk;
  }(), 6);  // round(4 · 1.49)
  EXPECT_NE(refused("frames_per_chunk: 2", "frames_per_chunk: 2, fps: 4").find("not both"), std::string::npos);
  EXPECT_NE(refused("layout: BCTHW", "layout: TCHW").find("key 'video.layout': expected BTCHW, BCTHW or frames, found 'TCHW'"),
            std::string::npos);
  EXPECT_NE(refused("batch_size: 4", "batch_size: 4, device: gpu").find("key 'model.device': expected cpu or cuda, found 'gpu'"),
            std::string::npos);
  EXPECT_NE(refused("tr: 1.49\n", "tr: 1.49\ndtype: float64\n").find("key 'dtype': expected float16 or float32, found 'float64'"),
            std::string::npos);
  EXPECT_NE(refused("pool: {mode: cls}", "pool: {mode: max}").find("expected mean, cls, last or flatten"),
            std::string::npos);
  EXPECT_NE(refused("tr: 1.49\n", "tr: 1.49\naudio: {sample_rate: 16000}\n").find("exactly one of"),
            std::string::npos);
  EXPECT_NE(refused("size: [8, 12]", "size: [8]").find("[height, width]"), std::string::npos);
  EXPECT_NE(refused("batch_size: 4", "batch_sise: 4").find("model.batch_sise"), std::string::npos);
  EXPECT_NE(refused("[blocks.11, norm]", "[a/b]").find("holds '/'"), std::string::npos);
}

TEST(ListEpisodes, RefusesAnEmptyPatternAndTwoFilesForOneEpisode) {
  const auto d = temp_dir("eps");
  write(d / "a" / "friends_s01e01a.mkv", "x");
  write(d / "a" / "friends_s01e01a.mp4", "x");
  bs::ExtractConfig c;
  c.path = "x.yaml";
  c.name = "m";
  c.out = (d / "features").string();
  c.stimuli = {{"friends", "s1", (d / "a" / "*").string()}};
  EXPECT_NE(error_of([&] { bs::list_episodes(c); }).find("are both episode 's01e01a'"), std::string::npos);
  c.stimuli = {{"friends", "s1", (d / "none" / "*.mkv").string()}};
  EXPECT_NE(error_of([&] { bs::list_episodes(c); }).find("matches no file"), std::string::npos);
}

TEST(Media, MissingAndNonMediaFilesAreDataErrors) {
  const auto d = temp_dir("media");
  write(d / "fake.mkv", "not a movie");
  EXPECT_THROW(bs::media_duration((d / "missing.mkv").string()), bs::DataError);
  EXPECT_THROW(bs::VideoSampler((d / "fake.mkv").string()), bs::DataError);
  EXPECT_THROW(bs::decode_audio_mono((d / "fake.mkv").string(), 16000), bs::DataError);
  EXPECT_THROW(bs::Tokenizer((d / "fake.mkv").string()), bs::DataError);
}
