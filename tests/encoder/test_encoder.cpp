// The trained encoder's structure against TRAINED_ENCODER.md §5.1 (closed forms; no data).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "brainsweep/encoder.hpp"
#include "brainsweep/errors.hpp"

namespace bs = brainsweep;
namespace enc = brainsweep::encoder;
using bs::MatrixF;

namespace {

MatrixF randn(long rows, long cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d;
  MatrixF m(rows, cols);
  for (long i = 0; i < m.size(); ++i) m.data()[i] = d(gen);
  return m;
}

/// MedARC's five default streams (§1.8): Llama-3.2-3B, Whisper, Qwen2.5-Omni-3B, InternVL3-14B, V-JEPA2.
const std::vector<long> kDefaultDims = {3072, 1280, 2048, 5120, 1408};

double max_abs(const MatrixF& a) { return a.cwiseAbs().maxCoeff(); }

}  // namespace

TEST(ConvEncoder, ParameterCountsMatchMedarcTable) {
  enc::ModelOptions o;
  EXPECT_EQ(enc::ConvEncoder(o, kDefaultDims, 4, 1000, 1).parameter_count(), 3492296);  // paper: "3.5M"
  const std::vector<std::pair<int, long>> by_d = {{32, 586216}, {64, 1167432}, {128, 2329864}, {256, 4654728}};
  for (auto [d, n] : by_d) {
    enc::ModelOptions od = o;
    od.embed_dim = d;
    EXPECT_EQ(enc::ConvEncoder(od, kDefaultDims, 4, 1000, 1).parameter_count(), n) << "d " << d;
  }
  const std::vector<std::pair<int, long>> by_k = {{0, 3448136}, {9, 3457736}, {17, 3465416}, {65, 3511496}};
  for (auto [k, n] : by_k) {
    enc::ModelOptions ok = o;
    ok.kernel_size = k;
    EXPECT_EQ(enc::ConvEncoder(ok, kDefaultDims, 4, 1000, 1).parameter_count(), n) << "k " << k;
  }
  enc::ModelOptions tied = o;
  tied.tied = true;
  EXPECT_EQ(enc::ConvEncoder(tied, kDefaultDims, 4, 1000, 1).parameter_count(), 3449321);
  EXPECT_EQ(enc::ConvEncoder(o, kDefaultDims, 1, 1000, 1).parameter_count(), 2913296);
}

TEST(ConvEncoder, IsAffine) {
  for (bool causal : {false, true}) {
    enc::ModelOptions o;
    o.embed_dim = 8, o.kernel_size = 7, o.causal = causal, o.positive = causal;
    enc::ConvEncoder m(o, {5, 3}, 2, 6, 11);
    const long t = 30;
    const std::vector<MatrixF> x = {randn(t, 5, 1), randn(t, 3, 2)}, y = {randn(t, 5, 3), randn(t, 3, 4)};
    const std::vector<MatrixF> zero = {MatrixF::Zero(t, 5), MatrixF::Zero(t, 3)};
    const std::vector<MatrixF> xy = {x[0] + y[0], x[1] + y[1]};
    const auto f0 = m.predict(zero), fx = m.predict(x), fy = m.predict(y), fxy = m.predict(xy);
    ASSERT_EQ(fx.size(), 2u);
    for (size_t s = 0; s < 2; ++s) {
      ASSERT_EQ(fx[s].rows(), t);
      ASSERT_EQ(fx[s].cols(), 6);
      const MatrixF lhs = fxy[s] - f0[s], rhs = (fx[s] - f0[s]) + (fy[s] - f0[s]);
      EXPECT_LT(max_abs(lhs - rhs), 1e-5 * std::max(1.0, static_cast<double>(max_abs(lhs)))) << "causal " << causal;
    }
  }
}

TEST(ConvEncoder, ImpulseReachesOnlyTheKernelsSpan) {
  for (bool causal : {false, true}) {
    enc::ModelOptions o;
    o.embed_dim = 4, o.kernel_size = 45, o.causal = causal;
    enc::ConvEncoder m(o, {3, 2}, 2, 5, 5);
    const long t = 120, t0 = 50;
    std::vector<MatrixF> x = {randn(t, 3, 7), randn(t, 2, 8)};
    const auto base = m.predict(x);
    x[1].row(t0).array() += 5.0f;
    const auto hit = m.predict(x);
    const long lo = causal ? t0 : t0 - 22, hi = t0 + 22;  // MedARC's causal mask keeps taps 0..k/2: past inputs
    for (size_t s = 0; s < base.size(); ++s)
      for (long i = 0; i < t; ++i) {
        const float d = (hit[s].row(i) - base[s].row(i)).cwiseAbs().maxCoeff();
        if (i < lo || i > hi)
          EXPECT_EQ(d, 0.0f) << "causal " << causal << " t " << i;
        else if (i == t0)
          EXPECT_GT(d, 0.0f) << "causal " << causal;
      }
  }
}

TEST(ConvEncoder, ShiftEquivariantAwayFromTheEdges) {
  enc::ModelOptions o;
  o.embed_dim = 6, o.kernel_size = 45;
  enc::ConvEncoder m(o, {4}, 3, 7, 9);
  const long t = 100, pre = 13;
  const MatrixF x = randn(t, 4, 21), extra = randn(pre, 4, 22), tail = randn(9, 4, 23);
  MatrixF longer(pre + t + 9, 4);
  longer << extra, x, tail;
  const auto a = m.predict({x}), b = m.predict({longer});
  for (size_t s = 0; s < a.size(); ++s)
    for (long i = 22; i < t - 22; ++i)
      EXPECT_LT((a[s].row(i) - b[s].row(i + pre)).cwiseAbs().maxCoeff(), 1e-5) << i;
}

TEST(ConvEncoder, InitialisationIsMedarcs) {
  enc::ModelOptions o;
  enc::ConvEncoder m(o, {300, 200}, 2, 500, 42);
  for (const auto& p : m.state()) {
    double sum = 0, sq = 0;
    for (float v : p.data) sum += v, sq += static_cast<double>(v) * v;
    const double n = static_cast<double>(p.data.size());
    if (p.name.find("bias") != std::string::npos) {
      EXPECT_EQ(sq, 0.0) << p.name;
    } else {
      EXPECT_NEAR(std::sqrt(sq / n - (sum / n) * (sum / n)), 0.02, 0.02 * 5 / std::sqrt(n) + 2e-4) << p.name;
    }
  }
  // the same seed gives the same weights, another seed others
  enc::ConvEncoder same(o, {300, 200}, 2, 500, 42), other(o, {300, 200}, 2, 500, 43);
  EXPECT_EQ(same.state()[0].data, m.state()[0].data);
  EXPECT_NE(other.state()[0].data, m.state()[0].data);
}

TEST(ConvEncoder, StateRoundTripsAndBadStatesAreRefused) {
  enc::ModelOptions o;
  o.embed_dim = 4, o.kernel_size = 5;
  enc::ConvEncoder a(o, {3}, 2, 5, 1), b(o, {3}, 2, 5, 2);
  std::vector<std::string> names;
  for (const auto& p : a.state()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"feat_embeds.0.fc.weight", "feat_embeds.0.fc.bias",
                                              "feat_embeds.0.conv.weight", "feat_embeds.0.conv.bias",
                                              "shared_decoder.weight", "shared_decoder.bias",
                                              "subject_decoders.0.weight", "subject_decoders.0.bias",
                                              "subject_decoders.1.weight", "subject_decoders.1.bias"}));
  b.load_state(a.state());
  const MatrixF x = randn(20, 3, 3);
  EXPECT_EQ(a.predict({x})[1], b.predict({x})[1]);
  auto bad = a.state();
  bad[0].shape = {3, 4};
  EXPECT_THROW(b.load_state(bad), bs::DataError);
  bad = a.state();
  bad.pop_back();
  EXPECT_THROW(b.load_state(bad), bs::DataError);
  o.causal = true, o.kernel_size = 4;
  EXPECT_THROW(enc::ConvEncoder(o, {3}, 2, 5, 1), bs::ConfigError);
}

TEST(EncoderWindows, ShuffledPassesWithOneOffsetPerVisit) {
  const std::vector<long> lengths = {100, 70, 64, 300};
  const auto w = enc::epoch_windows(5, 0, lengths, 64, 10);
  ASSERT_EQ(w.size(), 10u);
  for (size_t pass = 0; pass < 2; ++pass) {  // windows 0-3 and 4-7: each a permutation of the episodes
    std::set<int> seen;
    for (size_t i = 4 * pass; i < 4 * pass + 4; ++i) seen.insert(w[i].episode);
    EXPECT_EQ(seen.size(), 4u);
  }
  for (const auto& x : w) {
    EXPECT_GE(x.offset, 0);
    EXPECT_LE(x.offset + 64, lengths[static_cast<size_t>(x.episode)]);
    if (x.episode == 2) EXPECT_EQ(x.offset, 0);
  }
  const auto again = enc::epoch_windows(5, 0, lengths, 64, 10), next = enc::epoch_windows(5, 1, lengths, 64, 10);
  bool same = true, differs = false;
  for (size_t i = 0; i < w.size(); ++i) {
    same &= again[i].episode == w[i].episode && again[i].offset == w[i].offset;
    differs |= next[i].episode != w[i].episode || next[i].offset != w[i].offset;
  }
  EXPECT_TRUE(same);
  EXPECT_TRUE(differs);
  // offsets cover the range uniformly: the mean offset of episode 3 (0..236) over many windows
  const auto many = enc::epoch_windows(9, 0, lengths, 64, 40000);
  double sum = 0;
  long n = 0;
  for (const auto& x : many)
    if (x.episode == 3) sum += static_cast<double>(x.offset), ++n;
  EXPECT_NEAR(sum / static_cast<double>(n), 118.0, 3.0);
  EXPECT_THROW(enc::epoch_windows(1, 0, {63}, 64, 1), bs::DataError);
}

TEST(EncoderMetric, PearsonAsMedarcComputesIt) {
  MatrixF p(4, 2), y(4, 2);
  p << 1, 5, 2, 5, 3, 5, 4, 5;  // column 1 constant
  y << 2, 1, 4, 2, 6, 3, 9, 4;
  const auto r = enc::medarc_pearson(p, y);
  // closed form for column 0: x = (-1.5, -0.5, 0.5, 1.5), y - ȳ = (-3.25, -1.25, 0.75, 3.75)
  const double sxy = 1.5 * 3.25 + 0.5 * 1.25 + 0.5 * 0.75 + 1.5 * 3.75, sxx = 5.0,
               syy = 3.25 * 3.25 + 1.25 * 1.25 + 0.75 * 0.75 + 3.75 * 3.75;
  EXPECT_NEAR(r[0], sxy / ((std::sqrt(sxx) + 1e-7) * (std::sqrt(syy) + 1e-7)), 1e-12);
  EXPECT_EQ(r[1], 0.0);
}

TEST(EncoderAlignment, EdgePadsAndTruncatesFromTheStart) {
  MatrixF f(3, 2);
  f << 1, 2, 3, 4, 5, 6;
  const MatrixF longer = enc::align_stream(f, 5, "x"), shorter = enc::align_stream(f, 2, "x");
  EXPECT_EQ(longer.row(4), f.row(2));
  EXPECT_EQ(longer.row(3), f.row(2));
  EXPECT_EQ(longer.topRows(3), f);
  EXPECT_EQ(shorter, f.topRows(2));
}
