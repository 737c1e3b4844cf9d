// Every compiled backend against the same expectations (STYLE.md: tests run every backend present).
// CUDA tests skip when no device is visible and fail instead when BRAINSWEEP_REQUIRE_GPU=1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "brainsweep/backend.hpp"
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
