// Cost model of a work unit and makespan prediction (cost.hpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "brainsweep/cost.hpp"
#include "brainsweep/errors.hpp"

namespace bs = brainsweep;

TEST(UnitWork, CountsPrimalKernelsByHand) {
  // n = 10, K = 2: both folds train on 5 rows; p = 3 <= 5: primal everywhere.
  bs::UnitShape s{10, 3, 4, 2, 1, 6};
  const auto w = bs::unit_work(s);
  // Float32 products (mixed precision) count half. Gram XᵀX 2·10·9 = 180 and XᵀY 2·10·3·4 = 240
  // (f32); refit B and weights 4·9·4 = 144 (f32). Per fold (nv = 5): fold Gram 2·5·9 = 90 and
  // A = X_k V 90 (f32); X_kᵀY_k kept from XᵀY (2·4·3·4 floats <= half of X and Y, 2·10·7);
  // B 2·9·4 = 72 (f32); H 2·min(5, 3)·3·4 = 72 (f32); moment scoring: AᵀA 2·5·9 = 90, C·B 2·9·4 = 72,
  // one alpha's weighted sums 8·1·3·4 = 96. Eval predictions 2·6·3·4 = 144 (f32).
  const double fold = 90 + 0.5 * 90 + 0.5 * (72 + 72) + 90 + 72 + 96;
  EXPECT_DOUBLE_EQ(w.gemm_flops, 180 + 0.5 * 240 + 0.5 * 144 + 2 * fold + 0.5 * 144);
  // The folds' Grams were not kept either (2·9 doubles > 2·10·7 bytes). With t = 40 they are
  // (144 <= 2·10·43 bytes: keeps_fold_grams), and with 3·5 > 4·3 held-out rows M = Vᵀ G_k V costs
  // 4·27 instead of the fold Gram, A and AᵀA. X_kᵀY_k is now computed per fold (2·40·3·4 floats >
  // 2·10·43 bytes): 2·5·3·40 (f32).
  bs::UnitShape wide = s;
  wide.t = 40;
  const auto ww = bs::unit_work(wide);
  const double fold_w = 0.5 * (720 + 720 + 1200) + 4 * 27 + 720 + 960;
  EXPECT_DOUBLE_EQ(ww.gemm_flops, 180 + 0.5 * 2400 + 0.5 * 1440 + 2 * fold_w + 0.5 * 1440);
  EXPECT_DOUBLE_EQ(w.eig_cubes, 3 * 27.0);  // two folds and the refit, each eig of a 3 × 3 matrix
}

TEST(UnitWork, SwitchesToDualWhenFeaturesOutnumberRows) {
  // p = 8 > 5 training rows per fold: eig of the 5 × 5 block of XXᵀ per fold, and (the solver is
  // chosen once per fit) the refit's eig of the 10 × 10 XXᵀ.
  const auto w = bs::unit_work({10, 8, 1, 2, 3, 0});
  EXPECT_DOUBLE_EQ(w.eig_cubes, 2 * 125.0 + 1000.0);
  // Doubling the targets adds only target-proportional work: eig unchanged.
  EXPECT_DOUBLE_EQ(bs::unit_work({10, 8, 2, 2, 3, 0}).eig_cubes, w.eig_cubes);
  EXPECT_GT(bs::unit_work({10, 8, 2, 2, 3, 0}).gemm_flops, w.gemm_flops);
}

TEST(UnitSeconds, IsOverheadPlusWorkOverRates) {
  const bs::UnitShape s{946, 100, 6, 5, 17, 1030};
  const auto w = bs::unit_work(s);
  const bs::MachineRates r{1e9, 1e8, 1e7, 0.5};
  EXPECT_DOUBLE_EQ(bs::unit_seconds(s, r), 0.5 + w.gemm_flops / 1e9 + w.eig_cubes / 1e8 + w.stream / 1e7);
  // More alphas, more folds, more targets never cost less.
  EXPECT_GT(bs::unit_seconds({946, 100, 6, 5, 18, 1030}), bs::unit_seconds(s));
  EXPECT_GT(bs::unit_seconds({946, 100, 6, 6, 17, 1030}), bs::unit_seconds(s));
  EXPECT_GT(bs::unit_seconds({946, 100, 12, 5, 17, 1030}), bs::unit_seconds(s));
}

TEST(Schedule, LargestFirstBreaksTiesByIndex) {
  EXPECT_EQ(bs::largest_first({1, 3, 2, 3, 0}), (std::vector<int>{1, 3, 2, 0, 4}));
}

TEST(Schedule, DynamicMakespanIsLongestProcessingTimeFirst) {
  // LPT on 2 ranks: 5→A, 4→B, 3→B (7), 3→A (8), 3→B (10)... worked by hand below.
  const std::vector<double> c{3, 5, 3, 4, 3};
  const auto d = bs::predict_makespan(c, 2, true);
  // Order 5,4,3,3,3: A=5, B=4, B=7, A=8, B=10 → makespan 10, total 18, efficiency 0.9.
  EXPECT_DOUBLE_EQ(d.total_s, 18);
  EXPECT_DOUBLE_EQ(d.makespan_s, 10);
  EXPECT_DOUBLE_EQ(d.efficiency, 0.9);
  // Static round robin: rank 0 gets 3 + 3 + 3 = 9, rank 1 gets 5 + 4 = 9.
  EXPECT_DOUBLE_EQ(bs::predict_makespan(c, 2, false).makespan_s, 9);
  // One big unit bounds the makespan whatever the rank count.
  EXPECT_DOUBLE_EQ(bs::predict_makespan({10, 1, 1, 1}, 64, true).makespan_s, 10);
  EXPECT_NEAR(bs::predict_makespan({10, 1, 1, 1}, 64, true).efficiency, 13.0 / 640, 1e-12);
  EXPECT_DOUBLE_EQ(bs::predict_makespan(c, 1, true).makespan_s, 18);
  EXPECT_THROW(bs::predict_makespan(c, 0, true), bs::ConfigError);
}

TEST(Schedule, DynamicBeatsStaticOnSortedHeterogeneousUnits) {
  // Plan order puts the expensive units on the same rank under round robin.
  const std::vector<double> c{8, 1, 8, 1, 8, 1, 8, 1};
  EXPECT_DOUBLE_EQ(bs::predict_makespan(c, 2, false).makespan_s, 32);
  EXPECT_DOUBLE_EQ(bs::predict_makespan(c, 2, true).makespan_s, 18);
}

namespace {
std::string write_temp(const std::string& text) {
  char name[] = "/tmp/brainsweep-rates-XXXXXX";
  const int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  return name;
}
}  // namespace

TEST(Rates, ReadFromTheJsonOfFitCostRatesAndRefuseBadKeys) {
  // what bench/fit_cost_rates.py --json writes: a rate the fit found free is "inf"
  const std::string ok = write_temp(R"({"gemm_flops_per_s": 5e12, "eig_cubes_per_s": "inf", "stream_per_s": 2e10,
      "unit_overhead_s": 0.05, "backend": "cuda", "source": "fitted to 20 units on an H200"})");
  const bs::MachineRates r = bs::rates_from_json(ok);
  EXPECT_DOUBLE_EQ(r.gemm_flops_per_s, 5e12);
  EXPECT_TRUE(std::isinf(r.eig_cubes_per_s));
  EXPECT_DOUBLE_EQ(r.stream_per_s, 2e10);
  EXPECT_DOUBLE_EQ(r.unit_overhead_s, 0.05);
  EXPECT_DOUBLE_EQ(r.run_overhead_s, 0.5);  // default
  EXPECT_EQ(r.backend, "cuda");
  EXPECT_EQ(r.source, "fitted to 20 units on an H200");
  // the prediction uses them: a unit's seconds are the overhead plus its work over the rates
  const bs::UnitShape s{10000, 1000, 500, 5, 17, 1000};
  const auto w = bs::unit_work(s);
  EXPECT_NEAR(bs::unit_seconds(s, r), 0.05 + w.gemm_flops / 5e12 + w.stream / 2e10, 1e-12);
  std::remove(ok.c_str());
  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"gemm_flops_per_s": 1e9, "stream_per_s": 1e8, "unit_overhead_s": 0.1})", "key 'eig_cubes_per_s' missing"},
           {R"({"gemm_flops_per_s": -1, "eig_cubes_per_s": 1, "stream_per_s": 1, "unit_overhead_s": 0})",
            "key 'gemm_flops_per_s': expected a number > 0"},
           {R"({"gemm_flops_per_s": 1, "eig_cubes_per_s": 1, "stream_per_s": 1, "unit_overhead_s": 0, "backend": "tpu"})",
            "key 'backend': expected cpu or cuda"},
           {"not json", "not a rates file"}}) {
    const std::string path = write_temp(text);
    try {
      bs::rates_from_json(path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const bs::DataError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    std::remove(path.c_str());
  }
}

TEST(UnitWork, CountsAPlsUnitByHand) {
  // n 10, p 3, t 4 parcels of 2 subjects (2 each: PLS fits a subject at a time), K 2 (3 fits with the
  // refit), counts up to 5 (at most p = 3 components), 2 options, 6 eval samples. lo = min(p, 2) = 2,
  // hi = 3. Stream: reading 4·16·3 + 3·16·4 = 384; copies 2·3·(3·10·3 + 3·10·2) = 900; components
  // 2·3·3·(3·10·3 + 2·10·2 + 3·2)/6 = 408. Products: M 2·3·2·10·3·2 = 720; Grams of M 2·3·3·2·2²·3 = 432;
  // held-out predictions 2·2·2·10·3·2 = 480; eval predictions (float32, half) 0.5·2·6·3·4 = 72.
  // Eigendecompositions 2·3·3·2³ = 144.
  bs::UnitShape s{10, 3, 4, 2, 17, 6};
  s.pls_components = 5;
  s.pls_subjects = 2;
  s.pls_options = 2;
  const auto w = bs::unit_work(s);
  EXPECT_DOUBLE_EQ(w.stream, 384 + 900 + 408);
  EXPECT_DOUBLE_EQ(w.gemm_flops, 720 + 432 + 480 + 72);
  EXPECT_DOUBLE_EQ(w.eig_cubes, 144);
  // and not the ridge count of the same shape
  s.pls_components = 0;
  EXPECT_NE(bs::unit_work(s).gemm_flops, 720 + 432 + 480 + 72);
}
