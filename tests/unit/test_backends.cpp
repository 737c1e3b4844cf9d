// Every compiled backend against the same expectations (STYLE.md: tests run every backend present).
// CUDA tests skip when no device is visible and fail instead when BRAINSWEEP_REQUIRE_GPU=1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "brainsweep/backend.hpp"
#include "brainsweep/blas_core.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/ridge.hpp"
#include "test_util.hpp"

namespace bs = brainsweep;
using bs::MatrixD;
using bs::MatrixF;

using brainsweep::test::randn;

namespace {

class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    try {
      be_ = bs::make_backend(GetParam());
    } catch (const bs::DeviceUnavailable& e) {
      const char* req = std::getenv("BRAINSWEEP_REQUIRE_GPU");
      if (req && std::string(req) == "1") FAIL() << e.what();
      GTEST_SKIP() << e.what();
    }
  }
  std::unique_ptr<bs::Backend> be_;
};

}  // namespace

TEST_P(BackendTest, GemmAllTransposesMatchEigen) {
  const MatrixD a = randn<MatrixD>(7, 5, 1), b = randn<MatrixD>(5, 6, 2), c0 = randn<MatrixD>(7, 6, 3);
  for (auto ta : {bs::Op::none, bs::Op::trans}) {
    for (auto tb : {bs::Op::none, bs::Op::trans}) {
      const MatrixD aa = ta == bs::Op::trans ? MatrixD(a.transpose()) : a;
      const MatrixD bb = tb == bs::Op::trans ? MatrixD(b.transpose()) : b;
      const auto da = be_->upload(bs::host_view(aa)), db = be_->upload(bs::host_view(bb));
      auto dc = be_->upload(bs::host_view(c0));
      be_->gemm(ta, tb, 2.0, da, db, 0.5, dc.view());
      const MatrixD expect = 2.0 * a * b + 0.5 * c0;
      EXPECT_LT((be_->download(bs::View<const double>(dc)) - expect).cwiseAbs().maxCoeff(), 1e-12);
      const MatrixF af = aa.cast<float>(), bf = bb.cast<float>();
      const auto fa = be_->upload(bs::host_view(af)), fb = be_->upload(bs::host_view(bf));
      bs::Array<float> fc(*be_, 7, 6);
      be_->gemm(ta, tb, 1.0f, fa, fb, 0.0f, fc.view());
      EXPECT_LT((be_->download(bs::View<const float>(fc)).cast<double>() - a * b).cwiseAbs().maxCoeff(), 1e-5);
    }
  }
}

TEST_P(BackendTest, GemmOnSubViewsAndShapeCheck) {
  const MatrixD a = randn<MatrixD>(8, 8, 4);
  const auto da = be_->upload(bs::host_view(a));
  bs::Array<double> c(*be_, 3, 2);
  const bs::View<const double> av = da;
  be_->gemm(bs::Op::none, bs::Op::none, 1.0, av.middle_rows(2, 3).middle_cols(1, 4), av.middle_rows(4, 4).middle_cols(5, 2),
            0.0, c.view());
  const MatrixD expect = a.block(2, 1, 3, 4) * a.block(4, 5, 4, 2);
  EXPECT_LT((be_->download(bs::View<const double>(c)) - expect).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_THROW(be_->gemm(bs::Op::none, bs::Op::none, 1.0, av, av.middle_rows(0, 3), 0.0, c.view()), bs::DimensionMismatch);
}

TEST_P(BackendTest, SyevdReconstructsTheMatrixWithAscendingEigenvalues) {
  const MatrixD r = randn<MatrixD>(6, 6, 5);
  const MatrixD a = r * r.transpose();
  auto da = be_->upload(bs::host_view(a));
  bs::Array<double> w(*be_, 1, 6);
  be_->syevd(da.view(), w.view());
  const MatrixD v = be_->download(bs::View<const double>(da));
  const MatrixD ww = be_->download(bs::View<const double>(w));
  for (int i = 1; i < 6; ++i) EXPECT_LE(ww(0, i - 1), ww(0, i));
  const MatrixD rec = v * ww.row(0).asDiagonal() * v.transpose();
  EXPECT_LT((rec - a).cwiseAbs().maxCoeff(), 1e-10 * a.cwiseAbs().maxCoeff());
  EXPECT_LT((v.transpose() * v - MatrixD::Identity(6, 6)).cwiseAbs().maxCoeff(), 1e-12);
}

TEST_P(BackendTest, SyevdManyEqualsSyevdOnEach) {
  ASSERT_GE(be_->concurrency(), 1);
  std::vector<MatrixD> mats;
  for (unsigned i = 0; i < 3; ++i) {
    const MatrixD r = randn<MatrixD>(7 + i, 7 + i, 20 + i);
    mats.push_back(r * r.transpose());
  }
  std::vector<bs::Array<double>> a, w, a1, w1;
  std::vector<bs::View<double>> av, wv;
  for (const auto& m : mats) {
    a.push_back(be_->upload(bs::host_view(m)));
    w.emplace_back(*be_, 1, m.rows());
    av.push_back(a.back().view());
    wv.push_back(w.back().view());
    a1.push_back(be_->upload(bs::host_view(m)));
    w1.emplace_back(*be_, 1, m.rows());
    be_->syevd(a1.back().view(), w1.back().view());
  }
  be_->syevd_many(av, wv);
  for (size_t i = 0; i < mats.size(); ++i) {
    // The same LAPACK/cuSOLVER routine on the same input: the same eigenvalues; eigenvectors up to sign.
    const MatrixD wm = be_->download(bs::View<const double>(w[i])), wr = be_->download(bs::View<const double>(w1[i]));
    EXPECT_LT((wm - wr).cwiseAbs().maxCoeff(), 1e-12 * wr.cwiseAbs().maxCoeff()) << i;
    const MatrixD v = be_->download(bs::View<const double>(a[i]));
    const MatrixD rec = v * wm.row(0).asDiagonal() * v.transpose();
    EXPECT_LT((rec - mats[i]).cwiseAbs().maxCoeff(), 1e-10 * mats[i].cwiseAbs().maxCoeff()) << i;
  }
  // float too, and a length mismatch is refused.
  const MatrixF mf = mats[0].cast<float>();
  auto af = be_->upload(bs::host_view(mf));
  bs::Array<float> wf(*be_, 1, mf.rows());
  be_->syevd_many(std::vector<bs::View<float>>{af.view()}, std::vector<bs::View<float>>{wf.view()});
  const MatrixF wfh = be_->download(bs::View<const float>(wf));
  const MatrixD w0 = be_->download(bs::View<const double>(w[0]));
  EXPECT_LT((wfh.cast<double>() - w0).cwiseAbs().maxCoeff(), 1e-4 * w0.cwiseAbs().maxCoeff());
  EXPECT_THROW(be_->syevd_many(av, std::vector<bs::View<double>>{}), bs::DimensionMismatch);
}

TEST_P(BackendTest, ShrinkPearsonConvertCopyFill) {
  const MatrixD b = randn<MatrixD>(3, 4, 6), s = MatrixD(randn<MatrixD>(1, 3, 7).cwiseAbs()), al = MatrixD(randn<MatrixD>(1, 4, 8).cwiseAbs());
  const auto db = be_->upload(bs::host_view(b)), ds = be_->upload(bs::host_view(s)), dal = be_->upload(bs::host_view(al));
  bs::Array<double> out(*be_, 3, 4);
  be_->shrink(db, ds, dal, out.view());
  const MatrixD o = be_->download(bs::View<const double>(out));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(o(i, j), b(i, j) / (s(0, i) + al(0, j)), 1e-14);

  const MatrixD p = randn<MatrixD>(20, 3, 9);
  MatrixD y = randn<MatrixD>(20, 3, 10);
  y.col(2).setConstant(4.0);  // zero variance: adds 0
  const auto dp = be_->upload(bs::host_view(p)), dy = be_->upload(bs::host_view(y));
  bs::Array<double> r(*be_, 1, 3);
  be_->fill(r.view(), 0.25);
  be_->add_pearson(dp, dy, 0.5, r.view());
  const MatrixD rh = be_->download(bs::View<const double>(r));
  const auto expect = bs::column_pearson(p, y);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(rh(0, j), 0.25 + 0.5 * expect[static_cast<size_t>(j)], 1e-13);

  bs::Array<float> f(*be_, 20, 3);
  be_->convert(dp, f.view());
  bs::Array<double> back(*be_, 2, 2);
  be_->convert(bs::View<const float>(f).middle_rows(5, 2).middle_cols(1, 2), back.view());
  const MatrixD bh = be_->download(bs::View<const double>(back));
  EXPECT_NEAR(bh(1, 1), p(6, 2), 1e-6);
  bs::Array<double> cp(*be_, 2, 2);
  be_->copy(bs::View<const double>(dp).middle_rows(1, 2).middle_cols(0, 2), cp.view());
  EXPECT_EQ(be_->download(bs::View<const double>(cp)), MatrixD(p.block(1, 0, 2, 2)));
}

TEST_P(BackendTest, MomentTermsAndPearsonFromMoments) {
  const MatrixD b = randn<MatrixD>(5, 3, 21), u = randn<MatrixD>(5, 3, 22), h = randn<MatrixD>(5, 3, 23);
  const auto db = be_->upload(bs::host_view(b)), du = be_->upload(bs::host_view(u)), dh = be_->upload(bs::host_view(h));
  bs::Array<double> terms(*be_, 15, 3);
  be_->moment_terms(db, du, dh, terms.view());
  const MatrixD th = be_->download(bs::View<const double>(terms));
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) {
      EXPECT_NEAR(th(i, j), b(i, j) * b(i, j), 1e-15);
      EXPECT_NEAR(th(5 + i, j), b(i, j) * u(i, j), 1e-15);
      EXPECT_NEAR(th(10 + i, j), b(i, j) * h(i, j), 1e-15);
    }
  EXPECT_THROW(be_->moment_terms(db, du, dh, terms.view().middle_rows(0, 10)), bs::DimensionMismatch);
  // h in float32 (mixed precision): its values, widened exactly, on a column sub-view.
  const MatrixF hf = h.cast<float>();
  const auto dhf = be_->upload(bs::host_view(hf));
  bs::Array<double> terms_f(*be_, 15, 2);
  be_->moment_terms(bs::View<const double>(db).middle_cols(1, 2), bs::View<const double>(du).middle_cols(1, 2),
                    bs::View<const float>(dhf).middle_cols(1, 2), terms_f.view());
  const MatrixD tf = be_->download(bs::View<const double>(terms_f));
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 2; ++j) {
      EXPECT_EQ(tf(i, j), th(i, 1 + j));
      EXPECT_EQ(tf(5 + i, j), th(5 + i, 1 + j));
      EXPECT_EQ(tf(10 + i, j), b(i, 1 + j) * static_cast<double>(hf(i, 1 + j)));
    }
  EXPECT_THROW(be_->moment_terms(db, du, bs::View<const float>(dhf).middle_cols(0, 2), terms.view()),
               bs::DimensionMismatch);

  // axpy on sub-views: u[1:4, 0:2] += -2 · b[0:3, 1:3], in float64 and float32.
  be_->axpy(-2.0, bs::View<const double>(db).middle_rows(0, 3).middle_cols(1, 2), du.view().middle_rows(1, 3).middle_cols(0, 2));
  const MatrixD uh = be_->download(bs::View<const double>(du));
  MatrixD ue = u;
  ue.block(1, 0, 3, 2) -= 2.0 * b.block(0, 1, 3, 2);
  EXPECT_LT((uh - ue).cwiseAbs().maxCoeff(), 1e-15);
  const MatrixF bf = b.cast<float>(), uf = u.cast<float>();
  const auto dbf = be_->upload(bs::host_view(bf)), duf = be_->upload(bs::host_view(uf));
  be_->axpy(0.5f, bs::View<const float>(dbf), duf.view());
  EXPECT_LT((be_->download(bs::View<const float>(duf)) - MatrixF(uf + 0.5f * bf)).cwiseAbs().maxCoeff(), 1e-6);
  EXPECT_THROW(be_->axpy(1.0, bs::View<const double>(db), du.view().middle_cols(0, 2)), bs::DimensionMismatch);

  // Column sums of squares of b[1:5, 0:3] added to row 2 of terms' first 3 columns (float64 and float32).
  be_->add_column_squares(bs::View<const double>(db).middle_rows(1, 4), terms.view().middle_rows(2, 1).middle_cols(0, 3));
  be_->add_column_squares(bs::View<const float>(dbf).middle_rows(1, 4), terms.view().middle_rows(3, 1).middle_cols(0, 3));
  const MatrixD t2 = be_->download(bs::View<const double>(terms));
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(t2(2, j), th(2, j) + b.block(1, j, 4, 1).squaredNorm(), 1e-14);
    EXPECT_NEAR(t2(3, j), th(3, j) + b.block(1, j, 4, 1).squaredNorm(), 1e-5);
  }
  EXPECT_THROW(be_->add_column_squares(bs::View<const double>(db), terms.view().middle_rows(0, 2)), bs::DimensionMismatch);

  // Two "alphas" of predictions for 3 columns of 20 rows; column 1 of alpha 1 is constant and
  // column 2 of y is constant: both add 0.
  const long m = 20;
  std::vector<MatrixD> pred = {randn<MatrixD>(m, 3, 26), randn<MatrixD>(m, 3, 27)};
  pred[1].col(1).setConstant(0.5);
  MatrixD y = randn<MatrixD>(m, 3, 28);
  y.col(2).setConstant(-3.0);
  MatrixD spp(2, 3), spy(2, 3), sp(2, 3);
  for (int a = 0; a < 2; ++a)
    for (int j = 0; j < 3; ++j) {
      spp(a, j) = pred[a].col(j).squaredNorm();
      spy(a, j) = pred[a].col(j).dot(y.col(j));
      sp(a, j) = pred[a].col(j).sum();
    }
  const auto dpp = be_->upload(bs::host_view(spp)), dpy = be_->upload(bs::host_view(spy)),
             dps = be_->upload(bs::host_view(sp));
  // The measured columns' mean and centred sum of squares; column 2 is constant (0 marks it).
  MatrixD my(1, 3), syy(1, 3);
  for (int j = 0; j < 3; ++j) {
    my(0, j) = y.col(j).mean();
    syy(0, j) = j == 2 ? 0.0 : (y.col(j).array() - my(0, j)).square().sum();
  }
  const auto dmy = be_->upload(bs::host_view(my)), dsyy = be_->upload(bs::host_view(syy));
  bs::Array<double> r(*be_, 2, 3);
  be_->fill(r.view(), 0.125);
  be_->add_pearson_moments(dpp, dpy, dps, dmy, dsyy, m, 0.5, r.view());
  const MatrixD rh = be_->download(bs::View<const double>(r));
  for (int a = 0; a < 2; ++a) {
    const auto expect = bs::column_pearson(pred[a], y);
    for (int j = 0; j < 3; ++j) {
      const double e = (a == 1 && j == 1) || j == 2 ? 0.0 : expect[static_cast<size_t>(j)];
      if (j < 2 && !(a == 1 && j == 1)) ASSERT_NE(e, 0.0);
      EXPECT_NEAR(rh(a, j), 0.125 + 0.5 * e, 1e-13) << a << "," << j;
    }
  }
  // Columns 1 and 2 only, through sub-views of every operand.
  bs::Array<double> r2(*be_, 2, 2);
  be_->fill(r2.view(), 0.0);
  be_->add_pearson_moments(bs::View<const double>(dpp).middle_cols(1, 2), bs::View<const double>(dpy).middle_cols(1, 2),
                           bs::View<const double>(dps).middle_cols(1, 2), bs::View<const double>(dmy).middle_cols(1, 2),
                           bs::View<const double>(dsyy).middle_cols(1, 2), m, 1.0, r2.view());
  const MatrixD r2h = be_->download(bs::View<const double>(r2));
  EXPECT_NEAR(r2h(0, 0), bs::column_pearson(pred[0], y)[1], 1e-13);
  EXPECT_EQ(r2h(1, 0), 0.0);
  EXPECT_EQ(r2h(0, 1), 0.0);
  EXPECT_THROW(be_->add_pearson_moments(dpp, dpy, dps, dmy, dsyy, m, 1.0, r.view().middle_cols(0, 2)),
               bs::DimensionMismatch);
  EXPECT_THROW(be_->add_pearson_moments(dpp, dpy, dps, bs::View<const double>(dmy).middle_cols(0, 2), dsyy, m, 1.0,
                                        r.view()),
               bs::DimensionMismatch);
}

TEST_P(BackendTest, RidgeCvAgreesWithTheCpuBackend) {
  const MatrixF x = randn<MatrixD>(80, 30, 11).cast<float>();
  const MatrixF y = (x * randn<MatrixD>(30, 5, 12).cast<float>() + 3.0f * randn<MatrixD>(80, 5, 13).cast<float>()).eval();
  bs::RidgeOptions opt;
  opt.alphas = {0.1, 1, 10, 100, 1000};
  opt.convert_block = 64;  // float32 → float64 conversion of X and Y in blocks of 2 rows (dual: columns)
  opt.concurrent_decompositions = 0;  // the backend's concurrency (CPU: its BLAS threads)
  for (const char* solver : {"primal", "dual"}) {
    opt.solver = solver;
    const auto cpu = bs::ridge_cv(*bs::make_backend("cpu"), x, y, bs::fold_assignment({40, 40}, 2), 2, opt);
    const auto got = bs::ridge_cv(*be_, x, y, bs::fold_assignment({40, 40}, 2), 2, opt);
    EXPECT_LT((got.cv_scores - cpu.cv_scores).cwiseAbs().maxCoeff(), 1e-5) << solver;
    EXPECT_EQ(got.alpha, cpu.alpha) << solver;
    EXPECT_LT((got.weights - cpu.weights).cwiseAbs().maxCoeff(), 1e-4 * cpu.weights.cwiseAbs().maxCoeff()) << solver;
  }
}

INSTANTIATE_TEST_SUITE_P(Compiled, BackendTest, ::testing::ValuesIn(bs::compiled_backends()),
                         [](const auto& info) { return info.param; });

// OpenBLAS issue #4267: the Prescott fallback is corrected to the widest kernels the CPU can run,
// and nothing else is touched (a known core, or a CPU without AVX2/FMA, keeps what was detected).
TEST(BlasCore, CorrectsOnlyThePrescottFallback) {
  using brainsweep::corrected_blas_core;
  EXPECT_EQ(corrected_blas_core("Prescott", true, true), "SkylakeX");
  EXPECT_EQ(corrected_blas_core("Prescott", false, true), "Haswell");
  EXPECT_EQ(corrected_blas_core("Prescott", false, false), "");
  EXPECT_EQ(corrected_blas_core("Haswell", true, true), "");
  EXPECT_EQ(corrected_blas_core("SkylakeX", true, true), "");
  EXPECT_EQ(corrected_blas_core("Zen", false, true), "");
  EXPECT_EQ(corrected_blas_core("Cooperlake", true, true), "");
}
