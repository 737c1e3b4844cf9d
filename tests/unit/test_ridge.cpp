// RidgeCV against closed forms (ENCODING.md §2–4).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "brainsweep/errors.hpp"
#include "brainsweep/ridge.hpp"
#include "brainsweep/scoring.hpp"
#include "test_util.hpp"

namespace bs = brainsweep;
using bs::MatrixD;
using bs::MatrixF;

using brainsweep::test::randn;

namespace {

/// (XᵀX + αI)⁻¹ XᵀY in float64, by a Cholesky solve: the definition of ENCODING.md §3.
MatrixD ridge_closed_form(const MatrixF& xf, const MatrixF& yf, double alpha) {
  const MatrixD x = xf.cast<double>(), y = yf.cast<double>();
  MatrixD g = x.transpose() * x;
  g.diagonal().array() += alpha;
  return g.llt().solve(x.transpose() * y);
}

double pearson(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  const Eigen::VectorXd ac = a.array() - a.mean(), bc = b.array() - b.mean();
  return ac.dot(bc) / std::sqrt(ac.squaredNorm() * bc.squaredNorm());
}

const auto cpu = bs::make_backend("cpu");

/// Mean over folds of the held-out Pearson r of every alpha, by per-fold Cholesky solves in float64
/// (ENCODING.md §4), folds of `fold` contiguous rows; n_alphas × t.
MatrixD cv_scores_by_solves(const MatrixF& x, const MatrixF& y, long fold, int k, const std::vector<double>& alphas) {
  MatrixD out = MatrixD::Zero(static_cast<long>(alphas.size()), y.cols());
  for (int f = 0; f < k; ++f) {
    const long n = x.rows(), a0 = f * fold;
    MatrixF xt(n - fold, x.cols()), yt(n - fold, y.cols());
    for (long i = 0, r = 0; i < n; ++i)
      if (i < a0 || i >= a0 + fold) xt.row(r) = x.row(i), yt.row(r++) = y.row(i);
    for (size_t a = 0; a < alphas.size(); ++a) {
      const MatrixD w = ridge_closed_form(xt, yt, alphas[a]);
      const MatrixD pred = x.middleRows(a0, fold).cast<double>() * w;
      for (long t = 0; t < y.cols(); ++t) {
        const Eigen::VectorXd pc = pred.col(t);
        const Eigen::VectorXd yc = y.middleRows(a0, fold).col(t).cast<double>();
        const Eigen::VectorXd pcc = pc.array() - pc.mean();
        out(static_cast<long>(a), t) += pcc.squaredNorm() > 1e-20 ? pearson(pc, yc) / k : 0.0;
      }
    }
  }
  return out;
}

}  // namespace

TEST(RidgeCv, SingleAlphaWeightsMatchNormalEquations) {
  const MatrixF x = randn<MatrixF>(60, 8, 1), y = randn<MatrixF>(60, 3, 2);
  const auto res = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({60}, 5), 5, {3.0});
  EXPECT_EQ(res.solver, "primal");
  const MatrixD w = ridge_closed_form(x, y, 3.0);
  EXPECT_LT((res.weights.cast<double>() - w).cwiseAbs().maxCoeff(), 1e-6 * w.cwiseAbs().maxCoeff());
}

TEST(RidgeCv, DualPathWhenFeaturesExceedRowsGivesPrimalWeights) {
  const MatrixF x = randn<MatrixF>(20, 50, 3), y = randn<MatrixF>(20, 4, 4);
  const auto res = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({20}, 4), 4, {0.5});
  EXPECT_EQ(res.solver, "dual");
  const MatrixD w = ridge_closed_form(x, y, 0.5);
  EXPECT_LT((res.weights.cast<double>() - w).cwiseAbs().maxCoeff(), 1e-6 * w.cwiseAbs().maxCoeff());
}

/// Every precision and both solvers against per-fold closed-form solves.
class RidgeCvClosedForm : public ::testing::TestWithParam<std::tuple<bs::Precision, std::string>> {};

TEST_P(RidgeCvClosedForm, CvScoresAndWeightsMatchPerFoldSolves) {
  const auto [precision, solver] = GetParam();
  // Tolerances per precision: float64 everywhere; mixed (float32 per-alpha products); float32.
  const double tol = precision == bs::Precision::float64 ? 1e-9 : precision == bs::Precision::mixed ? 1e-6 : 1e-3;
  const MatrixF x = randn<MatrixF>(50, 5, 5);
  MatrixF y = x * randn<MatrixF>(5, 3, 6) + 2.0f * randn<MatrixF>(50, 3, 7);
  bs::RidgeOptions opt;
  opt.alphas = {0.1, 10.0, 1000.0};
  opt.precision = precision;
  opt.solver = solver;
  opt.target_batch = 2;  // exercise batching of targets
  // Default conversion blocks (one block here), and blocks of 7 elements: float32 → float64
  // conversion one row (dual: one column) at a time, summed over many blocks.
  for (const long block : {1L << 20, 7L}) {
    SCOPED_TRACE("convert_block " + std::to_string(block));
    opt.convert_block = block;
    const auto folds = bs::fold_assignment({50}, 5);  // blocks of 10 rows
    const auto res = bs::ridge_cv(*cpu, x, y, folds, 5, opt);
    EXPECT_EQ(res.solver, solver);
    for (size_t a = 0; a < opt.alphas.size(); ++a) {
      for (long t = 0; t < 3; ++t) {
        double mean = 0;
        for (int k = 0; k < 5; ++k) {
          MatrixF xt(40, 5), yt(40, 3);
          for (int i = 0, r = 0; i < 50; ++i)
            if (i / 10 != k) xt.row(r) = x.row(i), yt.row(r++) = y.row(i);
          const MatrixD w = ridge_closed_form(xt, yt, opt.alphas[a]);
          const Eigen::VectorXd pred = x.middleRows(10 * k, 10).cast<double>() * w.col(t);
          mean += pearson(pred, y.middleRows(10 * k, 10).col(t).cast<double>()) / 5;
        }
        EXPECT_NEAR(res.cv_scores(static_cast<long>(a), t), mean, tol);
      }
    }
    for (long t = 0; t < 3; ++t) {
      long best = 0;
      for (long a = 1; a < 3; ++a)
        if (res.cv_scores(a, t) >= res.cv_scores(best, t)) best = a;
      EXPECT_EQ(res.alpha[static_cast<size_t>(t)], opt.alphas[static_cast<size_t>(best)]);
      EXPECT_EQ(res.cv_r[static_cast<size_t>(t)], res.cv_scores(best, t));
      const MatrixD w = ridge_closed_form(x, y, res.alpha[static_cast<size_t>(t)]);
      EXPECT_LT((res.weights.col(t).cast<double>() - w.col(t)).cwiseAbs().maxCoeff(),
                std::max(1e-6, tol) * w.cwiseAbs().maxCoeff());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    PrecisionsAndSolvers, RidgeCvClosedForm,
    ::testing::Combine(::testing::Values(bs::Precision::mixed, bs::Precision::float64, bs::Precision::float32),
                       ::testing::Values(std::string("primal"), std::string("dual"))),
    [](const auto& info) { return bs::to_string(std::get<0>(info.param)) + "_" + std::get<1>(info.param); });


/// 120 rows, 12 columns of rank 8 (columns 3 and 7 repeat column 1, column 9 repeats column 5,
/// column 11 is zero), and 4 targets that depend on the first 6 columns plus noise.
static std::pair<MatrixF, MatrixF> collinear_design() {
  MatrixF x = randn<MatrixF>(120, 12, 31);
  x.col(3) = x.col(1);
  x.col(7) = x.col(1);
  x.col(9) = x.col(5);
  x.col(11).setZero();
  MatrixF y = x.leftCols(6) * randn<MatrixF>(6, 4, 32) + 3.0f * randn<MatrixF>(120, 4, 33);
  return {x, y};
}

// Moment scoring (ridge.hpp) with degenerate fold spectra: exactly repeated columns and an all-zero
// column give zero eigenvalues (left out as the null space), both solvers, a 17-alpha grid.
TEST(RidgeCv, TiedEigenvaluesScoreLikePerFoldSolves) {
  const auto [x, y] = collinear_design();
  bs::RidgeOptions opt;
  for (int i = 0; i < 17; ++i) opt.alphas.push_back(std::pow(10.0, -1.0 + 0.5 * i));
  opt.precision = bs::Precision::float64;
  const MatrixD expect = cv_scores_by_solves(x, y, 24, 5, opt.alphas);
  for (const char* solver : {"primal", "dual"}) {
    opt.solver = solver;
    const auto res = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({120}, 5), 5, opt);
    // primal: 4 null directions per fold; dual: 96 training rows of rank 8 per fold
    EXPECT_EQ(res.null_eigenvalues, std::string(solver) == "primal" ? 5 * 4 : 5 * 88) << solver;
    EXPECT_LT((res.cv_scores - expect).cwiseAbs().maxCoeff(), 1e-9) << solver;
  }
}

// Mixed precision forms the targets' products (XᵀY, B = VᵀXᵀY) in float32, so B is not exactly 0 on
// the null space of collinear features: there the refit must leave the null eigenvalues out
// (ridge.hpp), else a small alpha turns float32 round-off into weights (seen on Sherlock's topic
// model: |Δ eval r| 2e-3). The weights must be the minimum-norm solution of the normal equations.
TEST(RidgeCv, CollinearFeaturesGetMinimumNormWeightsInEveryPrecision) {
  const auto [x, y] = collinear_design();
  const MatrixD w = ridge_closed_form(x, y, 0.1);  // float64 LLT: XᵀY lies in the range of XᵀX
  for (const auto precision : {bs::Precision::mixed, bs::Precision::float64}) {
    for (const char* solver : {"primal", "dual"}) {
      bs::RidgeOptions opt;
      opt.alphas = {0.1};
      opt.precision = precision;
      opt.solver = solver;
      const auto res = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({120}, 5), 5, opt);
      SCOPED_TRACE(bs::to_string(precision) + " " + solver);
      // primal: 4 null directions; dual: 120 rows of rank 8
      EXPECT_EQ(res.refit_null_eigenvalues, std::string(solver) == "primal" ? 4 : 112);
      EXPECT_LT((res.weights.cast<double>() - w).cwiseAbs().maxCoeff(), 2e-6 * w.cwiseAbs().maxCoeff());
    }
  }
}

// A tied pair of non-zero eigenvalues whose held-out rows are not aligned with it: on the training
// rows of fold 0, columns 0 and 1 are orthogonal, of equal norm and orthogonal to the other columns,
// so that fold's Gram has the eigenvalue 96 twice; the held-out rows are random. Without the
// group's ‖A_g b_g‖² term (ridge.hpp) the cross term of the pair would be lost.
TEST(RidgeCv, TiedNonZeroEigenvaluesWithUnalignedHeldOutRows) {
  MatrixD x = randn<MatrixD>(120, 6, 42);
  const MatrixD q = Eigen::HouseholderQR<Eigen::MatrixXd>(Eigen::MatrixXd(randn<MatrixD>(96, 6, 43)))
                        .householderQ() * Eigen::MatrixXd::Identity(96, 6);
  x.bottomRows(96).leftCols(2) = std::sqrt(96.0) * q.leftCols(2);
  MatrixD rest = x.bottomRows(96).rightCols(4);
  rest -= q.leftCols(2) * (q.leftCols(2).transpose() * rest);  // orthogonal to columns 0 and 1
  x.bottomRows(96).rightCols(4) = rest;
  const MatrixF xf = x.cast<float>();
  const MatrixF y = xf * randn<MatrixF>(6, 3, 44) + randn<MatrixF>(120, 3, 45);
  bs::RidgeOptions opt;
  opt.alphas = {0.1, 1.0, 10.0, 100.0, 1000.0};
  opt.precision = bs::Precision::float64;
  opt.solver = "primal";
  const auto res = bs::ridge_cv(*cpu, xf, y, bs::fold_assignment({120}, 5), 5, opt);
  EXPECT_GE(res.tied_groups, 1);
  EXPECT_LT((res.cv_scores - cv_scores_by_solves(xf, y, 24, 5, opt.alphas)).cwiseAbs().maxCoeff(), 1e-9);
}

// More targets than the moment terms take at once (256): chunks of one batch, and a batch size
// (200) that does not divide the targets, give the same scores as per-fold solves.
// 1300 targets: two chunks of C·B (1024 + 276 targets) and sub-chunks of 256 for the terms, with
// remainders; in batches of 200 too.
TEST(RidgeCv, ManyTargetsInChunksAndBatches) {
  const MatrixF x = randn<MatrixF>(60, 6, 46);
  const MatrixF y = x * randn<MatrixF>(6, 1300, 47) + 4.0f * randn<MatrixF>(60, 1300, 48);
  bs::RidgeOptions opt;
  opt.alphas = {0.1, 3.0, 100.0};
  const MatrixD expect = cv_scores_by_solves(x, y, 12, 5, opt.alphas);
  for (const auto precision : {bs::Precision::float64, bs::Precision::mixed}) {
    opt.precision = precision;
    for (const long batch : {4096L, 200L}) {
      opt.target_batch = batch;
      const auto res = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({60}, 5), 5, opt);
      EXPECT_LT((res.cv_scores - expect).cwiseAbs().maxCoeff(), precision == bs::Precision::float64 ? 1e-9 : 1e-5)
          << bs::to_string(precision) << " " << batch;
    }
  }
}

// The primal solver's three ways to the held-out moments (ridge.hpp, keeps_fold_grams): the folds'
// Grams kept and M = Vᵀ G_k V (3m > 4p), kept but M = AᵀA (3m ≤ 4p), and not kept (the training
// Grams from XᵀX − X_kᵀX_k). Each must score like per-fold solves, in float64 and mixed precision.
TEST(RidgeCv, HeldOutMomentsFromTheFoldGramOrFromA) {
  struct Shape {
    long n, p, t;
    bool grams_kept, from_gram;
  };
  for (const Shape sh : {Shape{400, 8, 4, true, true}, Shape{200, 30, 60, true, false}, Shape{200, 30, 3, false, false}}) {
    SCOPED_TRACE("n " + std::to_string(sh.n) + " p " + std::to_string(sh.p) + " t " + std::to_string(sh.t));
    const long m = sh.n / 5;
    ASSERT_EQ(bs::keeps_fold_grams(sh.n, sh.p, sh.t, 5, sizeof(double)), sh.grams_kept);
    ASSERT_EQ(sh.grams_kept && bs::moments_from_fold_gram(m, sh.p), sh.from_gram);
    const MatrixF x = randn<MatrixF>(sh.n, sh.p, 60);
    const MatrixF y = x * randn<MatrixF>(sh.p, sh.t, 61) + 3.0f * randn<MatrixF>(sh.n, sh.t, 62);
    bs::RidgeOptions opt;
    for (int i = 0; i < 17; ++i) opt.alphas.push_back(std::pow(10.0, -1.0 + 0.5 * i));
    opt.solver = "primal";
    const MatrixD expect = cv_scores_by_solves(x, y, m, 5, opt.alphas);
    for (const auto precision : {bs::Precision::float64, bs::Precision::mixed}) {
      opt.precision = precision;
      const auto res = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({sh.n}, 5), 5, opt);
      EXPECT_LT((res.cv_scores - expect).cwiseAbs().maxCoeff(), precision == bs::Precision::float64 ? 1e-9 : 1e-5)
          << bs::to_string(precision);
    }
  }
}

// Wide, nearly rank-deficient designs in the mixed default precision: 40 columns of which 30
// are near-copies (1e-4 noise) of 10, so the fold Grams have clusters of small eigenvalues.
TEST(RidgeCv, NearlyCollinearColumnsScoreLikePerFoldSolves) {
  const MatrixF base = randn<MatrixF>(150, 10, 34);
  MatrixF x(150, 40);
  x.leftCols(10) = base;
  for (int c = 0; c < 3; ++c) x.middleCols(10 + 10 * c, 10) = base + 1e-4f * randn<MatrixF>(150, 10, 35 + c);
  const MatrixF y = base * randn<MatrixF>(10, 3, 40) + 2.0f * randn<MatrixF>(150, 3, 41);
  bs::RidgeOptions opt;
  for (int i = 0; i < 17; ++i) opt.alphas.push_back(std::pow(10.0, -1.0 + 0.5 * i));
  const MatrixD expect = cv_scores_by_solves(x, y, 30, 5, opt.alphas);
  for (const char* solver : {"primal", "dual"}) {
    opt.solver = solver;
    const auto res = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({150}, 5), 5, opt);
    EXPECT_LT((res.cv_scores - expect).cwiseAbs().maxCoeff(), 1e-5) << solver;
  }
}

TEST(RidgeCv, RejectsNonContiguousFolds) {
  const MatrixF x = randn<MatrixF>(10, 2, 1), y = randn<MatrixF>(10, 1, 2);
  EXPECT_THROW(bs::ridge_cv(*cpu, x, y, {0, 1, 0, 1, 0, 1, 0, 1, 0, 1}, 2, {1.0}), bs::DataError);
}

TEST(RidgeCv, ConstantTargetScoresZeroAndTiesGoToLargerAlpha) {
  const MatrixF x = randn<MatrixF>(30, 4, 8);
  const MatrixF y = MatrixF::Zero(30, 1);  // a constant target, centred
  const auto res = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({30}, 3), 3, {0.1, 1.0, 10.0});
  for (long a = 0; a < 3; ++a) EXPECT_EQ(res.cv_scores(a, 0), 0.0);
  EXPECT_EQ(res.alpha[0], 10.0);
  EXPECT_EQ(res.weights.cwiseAbs().maxCoeff(), 0.0);
}

TEST(RidgeCv, ZeroVarianceColumnIsZeroedAndGetsNoWeight) {
  MatrixF x = randn<MatrixF>(40, 4, 9);
  x.col(2).setConstant(7.0f);
  const MatrixF y = randn<MatrixF>(40, 2, 10);
  const auto stats = bs::column_stats(x);
  EXPECT_EQ(stats.inv_std(2), 0.0);
  bs::standardize(x, stats);
  EXPECT_EQ(x.col(2).cwiseAbs().maxCoeff(), 0.0f);
  const auto res = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({40}, 4), 4, {1.0});
  EXPECT_NEAR(res.weights.row(2).cwiseAbs().maxCoeff(), 0.0, 1e-12);
}

TEST(Standardize, PopulationStdOfTrainingRows) {
  MatrixF x(4, 1);
  x << 1, 2, 3, 6;  // mean 3, population variance (4 + 1 + 0 + 9) / 4 = 3.5
  const auto s = bs::column_stats(x);
  EXPECT_DOUBLE_EQ(s.mean(0), 3.0);
  EXPECT_NEAR(s.inv_std(0), 1.0 / std::sqrt(3.5), 1e-15);
}

TEST(Pearson, ClosedFormAndZeroVariance) {
  MatrixF p(3, 2), t(3, 2);
  p << 1, 5, 2, 5, 3, 5;
  t << 1, 1, 2, 2, 4, 3;
  const auto r = bs::column_pearson(p, t);
  // x = (1,2,3), y = (1,2,4): centred (-1,0,1), (-4/3,-1/3,5/3): r = 3 / sqrt(2 · 14/3)
  EXPECT_NEAR(r[0], 3.0 / std::sqrt(2.0 * 14.0 / 3.0), 1e-12);
  EXPECT_EQ(r[1], 0.0);  // constant prediction
}

// Blocks of rows of two episodes scored together, without copying them: the same as the closed
// form on their concatenation (centred dot products in float64, Eigen), and checked shapes.
TEST(Pearson, RowBlocksScoreTheirConcatenation) {
  const MatrixF p1 = randn<MatrixF>(9, 4, 70), t1 = randn<MatrixF>(9, 4, 71);
  const MatrixF p2 = randn<MatrixF>(7, 4, 72), t2 = randn<MatrixF>(7, 4, 73);
  const auto r = bs::column_pearson({bs::RowBlock{&p1, &t1, 2, 5}, bs::RowBlock{&p2, &t2, 0, 7}});
  Eigen::MatrixXd pc(12, 4), tc(12, 4);
  pc << p1.middleRows(2, 5).cast<double>(), p2.cast<double>();
  tc << t1.middleRows(2, 5).cast<double>(), t2.cast<double>();
  for (int j = 0; j < 4; ++j) {
    const Eigen::VectorXd a = pc.col(j).array() - pc.col(j).mean(), b = tc.col(j).array() - tc.col(j).mean();
    EXPECT_NEAR(r[static_cast<size_t>(j)], a.dot(b) / std::sqrt(a.squaredNorm() * b.squaredNorm()), 1e-12) << j;
  }
  const MatrixF narrow = randn<MatrixF>(7, 3, 74);
  EXPECT_THROW(bs::column_pearson({bs::RowBlock{&p1, &t1, 5, 5}}), bs::DimensionMismatch);  // rows 5..10 of 9
  EXPECT_THROW(bs::column_pearson({bs::RowBlock{&p2, &narrow, 0, 7}}), bs::DimensionMismatch);
  EXPECT_THROW(bs::column_pearson({bs::RowBlock{&p1, &t1, 0, 9}, bs::RowBlock{&narrow, &narrow, 0, 7}}),
               bs::DimensionMismatch);
}

TEST(Folds, WholeRunsWhenAtLeastKRuns) {
  const auto f = bs::fold_assignment({1, 1, 1, 1, 1, 1, 1}, 5);  // R = 7, K = 5
  EXPECT_EQ(f, (std::vector<int>{0, 1, 2, 2, 3, 4, 4}));
  const auto g = bs::fold_assignment({2, 3}, 2);
  EXPECT_EQ(g, (std::vector<int>{0, 0, 1, 1, 1}));
}

TEST(Folds, ContiguousBlocksLikeKFoldWhenFewerRuns) {
  EXPECT_EQ(bs::fold_assignment({7}, 3), (std::vector<int>{0, 0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(bs::fold_assignment({3, 4}, 3), (std::vector<int>{0, 0, 0, 1, 1, 2, 2}));
  EXPECT_THROW(bs::fold_assignment({2}, 3), bs::DataError);
}

TEST(Scoring, MoviesConcatenatedAfterExclusionThenAveraged) {
  bs::EvalSet set{"test", {"a1", "a2", "b1"}, {{"a1", "a"}, {"a2", "a"}, {"b1", "b"}}};
  std::map<std::string, MatrixF> pred, truth;
  pred["a1"] = randn<MatrixF>(6, 2, 11), pred["a2"] = randn<MatrixF>(5, 2, 12), pred["b1"] = randn<MatrixF>(7, 2, 13);
  truth["a1"] = randn<MatrixF>(6, 2, 14), truth["a2"] = randn<MatrixF>(5, 2, 15), truth["b1"] = randn<MatrixF>(7, 2, 16);
  const auto r = bs::score_eval_set(set, pred, truth, 1, 2);
  for (long c = 0; c < 2; ++c) {
    Eigen::VectorXd pa(3 + 2), ta(3 + 2);  // a1 keeps rows 1..3, a2 rows 1..2
    pa << pred["a1"].col(c).segment(1, 3).cast<double>(), pred["a2"].col(c).segment(1, 2).cast<double>();
    ta << truth["a1"].col(c).segment(1, 3).cast<double>(), truth["a2"].col(c).segment(1, 2).cast<double>();
    const double rb = pearson(pred["b1"].col(c).segment(1, 4).cast<double>(), truth["b1"].col(c).segment(1, 4).cast<double>());
    EXPECT_NEAR(r[static_cast<size_t>(c)], (pearson(pa, ta) + rb) / 2, 1e-12);
  }
}

TEST(Backend, CudaIsNotCompiledOrReportsItsDevice) {
  if (bs::compiled_backends().size() == 1) {
    EXPECT_THROW(bs::make_backend("cuda"), bs::NotCompiled);
  } else {
    try {
      EXPECT_EQ(bs::make_backend("cuda")->name().rfind("cuda:", 0), 0u);
    } catch (const bs::DeviceUnavailable&) {
      // compiled with CUDA, no device here: the backend says so instead of falling back to the CPU
    }
  }
  EXPECT_THROW(bs::make_backend("tpu"), bs::ConfigError);
}

// Issue #25: the partial-fraction split of Σŷ² pairs M_ij with M_ji; M = Vᵀ G_k V rounded in float32 is
// not symmetric, and the asymmetry over eigenvalue gaps decays as 1/α where Σŷ² decays as 1/α², so the
// CV scores of the large alphas drifted (Sherlock topic_model, float32: 0.13 at α = 1e7). Collinear
// topic-like proportions (rows sum to 1, a largest eigenvalue ~1e4); float32 arithmetic (only
// brainsweep_bench still offers it) against float64 at the top of the grid, where the Gram matrix's
// float32 eigenvalue errors no longer matter.
TEST(RidgeCv, Float32MomentsStayAccurateAtLargeAlphas) {
  std::mt19937 gen(7);
  std::gamma_distribution<double> gam(0.2, 1.0);
  const long n = 600, p = 60;
  MatrixF x(n, p);
  for (long i = 0; i < n; ++i) {
    double s = 0;
    for (long j = 0; j < p; ++j) s += (x(i, j) = static_cast<float>(gam(gen)));
    x.row(i) /= static_cast<float>(s);
  }
  const bs::ColumnStats st = bs::column_stats(x);
  bs::standardize(x, st);
  MatrixF y = (x * randn<MatrixF>(p, 40, 8) * 0.05f + randn<MatrixF>(n, 40, 9)).eval();
  bs::center_targets(y);
  std::vector<double> alphas;
  for (int i = 0; i < 17; ++i) alphas.push_back(std::pow(10.0, -1.0 + 0.5 * i));
  bs::RidgeOptions o;
  o.alphas = alphas;
  o.precision = bs::Precision::float64;
  const auto ref = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({n}, 5), 5, o);
  o.precision = bs::Precision::float32;
  const auto f32 = bs::ridge_cv(*cpu, x, y, bs::fold_assignment({n}, 5), 5, o);
  for (long a = 12; a < 17; ++a)  // alpha 10^5 … 10^7
    EXPECT_LT((f32.cv_scores.row(a) - ref.cv_scores.row(a)).cwiseAbs().maxCoeff(), 1e-3) << "alpha " << alphas[a];
}

TEST(RidgeCv, Float32IsRefusedForResultsWithTheReason) {
  EXPECT_EQ(bs::parse_precision("mixed"), bs::Precision::mixed);
  EXPECT_EQ(bs::parse_precision("float32", true), bs::Precision::float32);
  try {
    bs::parse_precision("float32");
    FAIL() << "float32 accepted";
  } catch (const bs::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("use mixed"), std::string::npos) << e.what();
  }
}
