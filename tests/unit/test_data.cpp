// Alignment (ENCODING.md §1), HDF5 readers and the fMRI key convention (DATA.md).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <filesystem>

#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/hdf5_io.hpp"

namespace bs = brainsweep;

namespace {
std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("brainsweep_test_" + std::to_string(::getpid()) + "_" + name)).string();
}
}  // namespace

TEST(Alignment, RowsAreOldestFirstAndClamped) {
  bs::MatrixF f(5, 2);
  for (int i = 0; i < 5; ++i) f.row(i) << static_cast<float>(i), static_cast<float>(10 * i);
  // T = 7 samples, hrf_delay 1, stimulus_window 2: row s holds feature rows s-2, s-1, clamped to [0, 4].
  const bs::MatrixF x = bs::align_features(f, 7, 1, 2);
  ASSERT_EQ(x.rows(), 7);
  ASSERT_EQ(x.cols(), 4);
  for (int s = 0; s < 7; ++s) {
    const int a = std::clamp(s - 2, 0, 4), b = std::clamp(s - 1, 0, 4);
    EXPECT_EQ(x(s, 0), a);
    EXPECT_EQ(x(s, 1), 10 * a);
    EXPECT_EQ(x(s, 2), b);
    EXPECT_EQ(x(s, 3), 10 * b);
  }
}

TEST(Alignment, WindowOneDelayZeroIsIdentityOnCommonRows) {
  bs::MatrixF f = bs::MatrixF::Random(4, 3);
  const bs::MatrixF x = bs::align_features(f, 6, 0, 1);  // fMRI longer than features: last row repeats
  EXPECT_TRUE(x.topRows(4).isApprox(f));
  EXPECT_TRUE(x.row(4).isApprox(f.row(3)));
  EXPECT_TRUE(x.row(5).isApprox(f.row(3)));
}

TEST(Hdf5, Float16RoundTripAndRowMajorLayout) {
  const std::string path = temp_path("f16.h5");
  bs::MatrixF m(2, 3);
  m << 0.5f, -2.0f, 1024.0f, 0.0f, 3.25f, -0.125f;  // exactly representable in float16
  {
    bs::h5::File f(path, bs::h5::File::Mode::truncate);
    f.write_f32("layers.0", m.data(), 2, 3, true);
    f.write_f32("deep/group/x", m.data(), 2, 3);
  }
  bs::h5::File f(path);
  EXPECT_EQ(f.read_f32("layers.0"), m);
  EXPECT_EQ(f.read_f32("deep/group/x"), m);
  EXPECT_TRUE(f.has("deep/group/x"));
  EXPECT_FALSE(f.has("deep/nothing/x"));
  std::filesystem::remove(path);
}

// float16 is converted by our own half_to_float / float_to_half (HDF5's software conversion is ~10×
// slower than the I/O). Decoding: every one of the 65 536 bit patterns against HDF5's H5Tconvert.
// Encoding: round to nearest, ties to even, checked by closed forms: every half round-trips, values
// halfway between two neighbouring halves go to the even one, a nudge either way goes to the nearer,
// beyond 65504 + ½ ulp is inf; and through a file, h5py-compatible (HDF5 reads our halves).
TEST(Hdf5, Float16ConversionAgainstHdf5AndRoundToNearestEven) {
  hid_t half = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(half, 15, 10, 5, 0, 10);
  H5Tset_size(half, 2);
  H5Tset_precision(half, 16);
  H5Tset_ebias(half, 15);
  std::vector<std::uint16_t> all(65536);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint16_t>(i);
  std::vector<float> by_hdf5(65536);
  std::memcpy(by_hdf5.data(), all.data(), all.size() * 2);  // converted in place, 2 → 4 bytes
  ASSERT_GE(H5Tconvert(half, H5T_NATIVE_FLOAT, all.size(), by_hdf5.data(), nullptr, H5P_DEFAULT), 0);
  long nan = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    const float ours = bs::h5::half_to_float(all[i]);
    if (std::isnan(by_hdf5[i])) {
      EXPECT_TRUE(std::isnan(ours)) << i;
      ++nan;
      continue;
    }
    ASSERT_EQ(ours, by_hdf5[i]) << "half 0x" << std::hex << i;
    ASSERT_EQ(std::signbit(ours), std::signbit(by_hdf5[i])) << i;
    ASSERT_EQ(bs::h5::float_to_half(ours), all[i]) << "round trip of 0x" << std::hex << i;
  }
  EXPECT_EQ(nan, 2 * 1023);
  H5Tclose(half);
  // ties to even and nearest, across normals and subnormals
  for (std::uint16_t h : {std::uint16_t{0x0001}, std::uint16_t{0x0002}, std::uint16_t{0x03fe}, std::uint16_t{0x3c00},
                          std::uint16_t{0x3c01}, std::uint16_t{0x4a3f}, std::uint16_t{0x7bfe}, std::uint16_t{0x8123}}) {
    const double lo = bs::h5::half_to_float(h), hi = bs::h5::half_to_float(static_cast<std::uint16_t>(h + 1));
    const float mid = static_cast<float>((lo + hi) / 2);  // exact in float32
    const std::uint16_t even = (h & 1u) ? static_cast<std::uint16_t>(h + 1) : h;
    EXPECT_EQ(bs::h5::float_to_half(mid), even) << std::hex << h;
    EXPECT_EQ(bs::h5::float_to_half(std::nextafter(mid, static_cast<float>(lo))), h) << std::hex << h;
    EXPECT_EQ(bs::h5::float_to_half(std::nextafter(mid, static_cast<float>(hi))), static_cast<std::uint16_t>(h + 1)) << std::hex << h;
  }
  EXPECT_EQ(bs::h5::float_to_half(65504.0f), 0x7bffu);
  EXPECT_EQ(bs::h5::float_to_half(65519.99f), 0x7bffu);
  EXPECT_EQ(bs::h5::float_to_half(65520.0f), 0x7c00u);  // the tie above the largest half goes to inf (even)
  EXPECT_EQ(bs::h5::float_to_half(-1e9f), 0xfc00u);
  EXPECT_EQ(bs::h5::float_to_half(1e-9f), 0x0000u);
  EXPECT_EQ(bs::h5::float_to_half(-0.0f), 0x8000u);
  EXPECT_TRUE(std::isnan(bs::h5::half_to_float(bs::h5::float_to_half(std::nanf("")))));
  // through a file: HDF5 reads what we wrote
  const std::string path = temp_path("f16_all.h5");
  std::vector<float> values;
  for (int i = -3000; i <= 3000; ++i) values.push_back(static_cast<float>(i) * 0.0137f);
  {
    bs::h5::File f(path, bs::h5::File::Mode::truncate);
    f.write_f32("v", values.data(), values.size(), 1, true);
  }
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), ds = H5Dopen2(file, "v", H5P_DEFAULT);
  std::vector<float> back(values.size());
  ASSERT_GE(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data()), 0);
  H5Dclose(ds);
  H5Fclose(file);
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(back[i], bs::h5::half_to_float(bs::h5::float_to_half(values[i]))) << i;
  std::filesystem::remove(path);
}

// Gzip (deflate) float32 datasets are read chunk by chunk and inflated by libdeflate (hdf5_io.cpp);
// everything else goes through H5Dread. h5py (its own HDF5 and zlib) writes both kinds: chunks that
// do not divide the shape, levels 1, 4 and 9, barely and very compressible data, and the fallbacks
// (shuffle + gzip, float64, 1-D, no filter, chunks never written, which read as the fill value).
// Each must equal the uncompressed copy.
TEST(Hdf5, GzipChunksReadExactlyAndOtherLayoutsFallBack) {
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3 (numpy, h5py)";
  const std::string path = temp_path("gzip.h5");
  const std::string py =
      "import h5py, numpy as np; r = np.random.default_rng(5); f = h5py.File('" + path + "', 'w'); "
      "noise = (1000 + 10 * r.standard_normal((130, 67))).astype('f4'); "
      "smooth = np.repeat(np.arange(40, dtype='f4'), 23).reshape(46, 20); "
      "g = dict(compression='gzip'); "
      "f.create_dataset('noise', data=noise, chunks=(60, 61), compression_opts=4, **g); "
      "f.create_dataset('smooth', data=smooth, chunks=(7, 5), compression_opts=9, **g); "
      "f.create_dataset('one_chunk', data=noise, chunks=(130, 67), compression_opts=1, **g); "
      "f.create_dataset('shuffled', data=noise, chunks=(60, 61), shuffle=True, **g); "
      "f.create_dataset('double', data=noise.astype('f8'), chunks=(60, 61), **g); "
      "f.create_dataset('column', data=noise[:, 0], chunks=(50,), **g); "
      "f.create_dataset('plain', data=noise, chunks=(60, 61)); "
      "p = f.create_dataset('partial', shape=(46, 20), chunks=(7, 5), fillvalue=7.5, dtype='f4', **g); "
      "p[7:14, 5:10] = smooth[7:14, 5:10]; "
      "f.create_dataset('noise_raw', data=noise); f.create_dataset('smooth_raw', data=smooth)";
  ASSERT_EQ(std::system(("/usr/bin/python3 -c \"" + py + "\"").c_str()), 0);
  const bs::h5::File f(path);
  const bs::MatrixF noise = f.read_f32("noise_raw"), smooth = f.read_f32("smooth_raw");
  ASSERT_EQ(noise.rows(), 130);
  ASSERT_EQ(smooth.cols(), 20);
  EXPECT_EQ(f.read_f32("noise"), noise);
  EXPECT_EQ(f.read_f32("smooth"), smooth);
  EXPECT_EQ(f.read_f32("one_chunk"), noise);
  EXPECT_EQ(f.read_f32("shuffled"), noise);
  EXPECT_EQ(f.read_f32("double"), noise);
  EXPECT_EQ(f.read_f32("column"), bs::MatrixF(noise.col(0)));
  EXPECT_EQ(f.read_f32("plain"), noise);
  bs::MatrixF partial = bs::MatrixF::Constant(46, 20, 7.5f);
  partial.block(7, 5, 7, 5) = smooth.block(7, 5, 7, 5);
  EXPECT_EQ(f.read_f32("partial"), partial);
  std::filesystem::remove(path);
}

TEST(Hdf5, MissingDatasetIsDataErrorNamingFileAndDataset) {
  const std::string path = temp_path("missing.h5");
  { bs::h5::File f(path, bs::h5::File::Mode::truncate); }
  try {
    bs::h5::File(path).read_f32("nope");
    FAIL() << "no exception";
  } catch (const bs::DataError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos);
  }
  std::filesystem::remove(path);
}

TEST(Fmri, EpisodeKeyHasThirteenCharacterPrefix) {
  const std::string path = temp_path("fmri.h5");
  bs::MatrixF y = bs::MatrixF::Constant(3, 2, 1.0f);
  {
    bs::h5::File f(path, bs::h5::File::Mode::truncate);
    f.write_f32("ses-003_task-s01e01a", y.data(), 3, 2);
    f.write_f32("ses-012_task-figures01_run-1", y.data(), 3, 2);
  }
  EXPECT_EQ(bs::fmri_dataset_of(path, "s01e01a"), "ses-003_task-s01e01a");
  EXPECT_EQ(bs::fmri_dataset_of(path, "figures01_run-1"), "ses-012_task-figures01_run-1");
  EXPECT_THROW(bs::fmri_dataset_of(path, "s01e01"), bs::DataError);
  EXPECT_EQ(bs::parcel_names(path, 2), (std::vector<std::string>{"0", "1"}));
  std::filesystem::remove(path);
}

TEST(Fmri, ReadsSherlockParcelNamesAndShape) {
  const std::string file = std::string(BRAINSWEEP_SHERLOCK_DIR) +
                           "/fmri/sub-01/func/sub-01_task-sherlock_space-MNI152_atlas-roi6_bold.h5";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "no Sherlock data at " << file;
  const auto ds = bs::fmri_dataset_of(file, "sherlock02");
  EXPECT_EQ(bs::fmri_shape(file, ds), (std::pair<long, long>{1030, 6}));
  const auto names = bs::parcel_names(file, 6);
  EXPECT_EQ(names[0], "early_visual");
  EXPECT_EQ(names[1], "aud_early");
}

TEST(Features, NonFiniteValueIsRejectedWithRowAndColumn) {
  const std::string path = temp_path("nan.h5");
  bs::MatrixF x = bs::MatrixF::Zero(4, 3);
  x(2, 1) = std::numeric_limits<float>::quiet_NaN();
  {
    bs::h5::File f(path, bs::h5::File::Mode::truncate);
    f.write_f32("layer", x.data(), 4, 3);
  }
  try {
    bs::read_feature_layer(path, "layer");
    FAIL() << "no exception";
  } catch (const bs::DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos);
    EXPECT_NE(msg.find("row 2, column 1"), std::string::npos) << msg;
  }
  std::filesystem::remove(path);
}
