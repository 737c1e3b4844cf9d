// The npy/pickle writer and reader of Algonauts submissions, against bytes that Debian's NumPy 1.24
// wrote (`np.save` to a BytesIO, hex below; the script is in the comment of each fixture).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "brainsweep/errors.hpp"
#include "brainsweep/npy.hpp"
#include "brainsweep/submit.hpp"

namespace bs = brainsweep;

namespace {

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

// a1 = sys.intern('a1')
// np.save(b, {'sub-01': {a1: np.arange(6, dtype=np.float32).reshape(3, 2), 'a2': np.ones((2, 2), np.float32)},
//             'sub-02': {a1: np.zeros((3, 2), np.float32)}})
const char* kNestedHex =
    "934e554d5059010076007b276465736372273a20277c4f272c2027666f727472616e5f6f72646572273a2046616c73652c20"
    "277368617065273a2028292c207d202020202020202020202020202020202020202020202020202020202020202020202020"
    "2020202020202020202020202020202020202020202020202020200a8003636e756d70792e636f72652e6d756c7469617272"
    "61790a5f7265636f6e7374727563740a7100636e756d70790a6e6461727261790a71014b0085710243016271038771045271"
    "05284b0129636e756d70790a64747970650a710658020000004f3871078988877108527109284b0358010000007c710a4e4e"
    "4e4affffffff4affffffff4b3f74710b62895d710c7d710d2858060000007375622d3031710e7d710f285802000000613171"
    "10680068014b008571116803877112527113284b014b034b0286711468065802000000663471158988877116527117284b03"
    "58010000003c71184e4e4e4affffffff4affffffff4b0074711962894318000000000000803f000000400000404000008040"
    "0000a040711a74711b6258020000006132711c680068014b0085711d680387711e52711f284b014b024b0286712068178943"
    "100000803f0000803f0000803f0000803f7121747122627558060000007375622d303271237d71246810680068014b008571"
    "256803877126527127284b014b034b0286712868178943180000000000000000000000000000000000000000000000007129"
    "74712a6273756174712b622e";

// np.save(b, {'chaplin1': 432, 'big': 70000, 'np': np.int64(5)})
const char* kCountsHex =
    "934e554d5059010076007b276465736372273a20277c4f272c2027666f727472616e5f6f72646572273a2046616c73652c20"
    "277368617065273a2028292c207d202020202020202020202020202020202020202020202020202020202020202020202020"
    "2020202020202020202020202020202020202020202020202020200a8003636e756d70792e636f72652e6d756c7469617272"
    "61790a5f7265636f6e7374727563740a7100636e756d70790a6e6461727261790a71014b0085710243016271038771045271"
    "05284b0129636e756d70790a64747970650a710658020000004f3871078988877108527109284b0358010000007c710a4e4e"
    "4e4affffffff4affffffff4b3f74710b62895d710c7d710d285808000000636861706c696e31710e4db00158030000006269"
    "67710f4a7011010058020000006e707110636e756d70792e636f72652e6d756c746961727261790a7363616c61720a711168"
    "065802000000693871128988877113527114284b0358010000003c71154e4e4e4affffffff4affffffff4b00747116624308"
    "05000000000000007117867118527119756174711a622e";

std::vector<std::pair<std::string, std::vector<bs::npy::ArrayEntry>>> fixture_dict() {
  bs::MatrixF a(3, 2), b = bs::MatrixF::Ones(2, 2), c = bs::MatrixF::Zero(3, 2);
  a << 0, 1, 2, 3, 4, 5;
  return {{"sub-01", {{"a1", 3, 2, [a] { return a; }}, {"a2", 2, 2, [b] { return b; }}}},
          {"sub-02", {{"a1", 3, 2, [c] { return c; }}}}};
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("brainsweep_npy_" + std::to_string(::getpid()) + "_" + name)).string();
}

}  // namespace

TEST(Npy, HeaderIsNumpyV1ObjectHeaderPaddedTo128Bytes) {
  const std::string h = bs::npy::object_header_v1();
  ASSERT_EQ(h.size(), 128u);
  EXPECT_EQ(h, unhex(kNestedHex).substr(0, 128));
}

TEST(Npy, WriterMatchesNumpy124ByteForByte) {
  std::ostringstream out;
  bs::npy::write_nested_float_dict(out, fixture_dict());
  const std::string expected = unhex(kNestedHex);
  ASSERT_EQ(out.str().size(), expected.size());
  EXPECT_EQ(out.str(), expected);
}

TEST(Npy, ReaderDecodesNumpysNestedDict) {
  const std::string data = unhex(kNestedHex);
  const auto n = bs::npy::parse_object_npy(data, "fixture");
  EXPECT_EQ(n.pickle.protocol, 3);
  for (const auto& g : n.pickle.globals) EXPECT_EQ(g.rfind("numpy._core", 0), std::string::npos);
  ASSERT_EQ(n.item->kind, bs::npy::PyValue::Kind::dict);
  ASSERT_EQ(n.item->dict.size(), 2u);
  EXPECT_EQ(n.item->dict[1].first->s, "sub-02");
  const auto& sub1 = n.item->dict[0].second;
  ASSERT_EQ(sub1->dict.size(), 2u);
  const auto a = bs::npy::as_ndarray(sub1->dict[0].second, "a1");
  EXPECT_EQ(a.shape, (std::vector<long>{3, 2}));
  EXPECT_EQ(a.descr, "<f4");
  float v[6];
  std::memcpy(v, a.data.data(), 24);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(v[k], static_cast<float>(k));
  // The second subject's key is a memo reference (BINGET) to the first 'a1'.
  EXPECT_EQ(n.item->dict[1].second->dict[0].first->s, "a1");
}

TEST(Npy, ReadsCountDictsWithPythonAndNumpyIntegers) {
  const std::string path = temp_path("counts.npy");
  std::ofstream(path, std::ios::binary) << unhex(kCountsHex);
  const auto c = bs::npy::read_count_dict(path);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], (std::pair<std::string, long>{"chaplin1", 432}));  // BININT2
  EXPECT_EQ(c[1], (std::pair<std::string, long>{"big", 70000}));     // BININT
  EXPECT_EQ(c[2], (std::pair<std::string, long>{"np", 5}));          // numpy.core.multiarray.scalar
  std::filesystem::remove(path);
}

TEST(Npy, RejectsWhatIsNotAPickledObject) {
  std::string data = unhex(kNestedHex);
  EXPECT_THROW(bs::npy::parse_object_npy(data.substr(0, 200), "cut"), bs::DataError);   // truncated pickle
  std::string plain = data;
  plain.replace(plain.find("|O"), 2, "<f");
  EXPECT_THROW(bs::npy::parse_object_npy(plain, "plain"), bs::DataError);                // not an object array
  EXPECT_THROW(bs::npy::parse_object_npy("hello", "text"), bs::DataError);              // no magic
}

TEST(Npy, NumpyTwoModuleNameIsVisibleToTheValidator) {
  std::string data = unhex(kNestedHex);
  const std::string from = "numpy.core.multiarray\n";
  data.replace(data.find(from), from.size(), "numpy._core.multiarray\n");
  const auto n = bs::npy::parse_object_npy(data, "numpy2");
  EXPECT_EQ(n.pickle.globals.front(), "numpy._core.multiarray");
}

TEST(Submission, ZipIsStoredAndRoundTrips) {
  const std::string src = temp_path("payload.npy"), zip = temp_path("sub.zip");
  std::ostringstream out;
  bs::npy::write_nested_float_dict(out, fixture_dict());
  std::ofstream(src, std::ios::binary) << out.str();
  bs::write_stored_zip(zip, "fmri_predictions_ood.npy", src);
  EXPECT_EQ(bs::zip_entries(zip), (std::vector<std::string>{"fmri_predictions_ood.npy"}));
  EXPECT_EQ(bs::read_zip_entry(zip, "fmri_predictions_ood.npy"), out.str());
  // Stored: the local file header's compression method (offset 8) is 0.
  std::ifstream in(zip, std::ios::binary);
  char hdr[10];
  in.read(hdr, 10);
  EXPECT_EQ(std::string(hdr, 4), std::string("PK\x03\x04"));
  EXPECT_EQ(hdr[8], 0);
  EXPECT_EQ(hdr[9], 0);
  EXPECT_EQ(bs::submission_npy_name("friends-s7"), "fmri_predictions_friends_s7.npy");
  std::filesystem::remove(src);
  std::filesystem::remove(zip);
}

TEST(Submission, PearsonColumnsMatchesClosedFormAndNaNForConstant) {
  bs::MatrixD a(4, 2), b(4, 2);
  a << 1, 1, 2, 1, 3, 1, 4, 1;
  b << 2, 5, 4, 6, 6, 7, 9, 8;
  const auto r = bs::pearson_columns(a, b);
  // x = 1..4, y = 2, 4, 6, 9: Σdxdy = 11.5, Σdx² = 5, Σdy² = 26.75
  EXPECT_NEAR(r[0], 11.5 / std::sqrt(5 * 26.75), 1e-12);
  EXPECT_TRUE(std::isnan(r[1]));
}
