// CPU backend: OpenBLAS SGEMM and LAPACKE dsyevd (ENCODING.md §7: float32 products, float64 decomposition).
#include <cblas.h>
#include <lapacke.h>

#include "brainsweep/backend.hpp"
#include "brainsweep/build_config.hpp"
#include "brainsweep/errors.hpp"

namespace brainsweep {
namespace {

template <class M>
std::string shape(const M& m, bool t) {
  return std::to_string(t ? m.cols() : m.rows()) + "×" + std::to_string(t ? m.rows() : m.cols());
}

inline void xgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda,
                  const float* b, int ldb, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}
inline void xgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a, int lda,
                  const double* b, int ldb, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

template <class M>
void gemm_impl(bool ta, bool tb, const M& a, const M& b, M& c) {
  const long m = ta ? a.cols() : a.rows(), k = ta ? a.rows() : a.cols();
  const long kb = tb ? b.cols() : b.rows(), n = tb ? b.rows() : b.cols();
  if (k != kb) throw DimensionMismatch("gemm: op(a) is " + shape(a, ta) + ", op(b) is " + shape(b, tb));
  c.resize(m, n);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    c.setZero();
    return;
  }
  xgemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
        static_cast<int>(k), a.data(), static_cast<int>(a.cols()), b.data(), static_cast<int>(b.cols()), c.data(),
        static_cast<int>(c.cols()));
}

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }

  void gemm(bool ta, bool tb, const MatrixF& a, const MatrixF& b, MatrixF& c) const override {
    gemm_impl(ta, tb, a, b, c);
  }
  void gemm(bool ta, bool tb, const MatrixD& a, const MatrixD& b, MatrixD& c) const override {
    gemm_impl(ta, tb, a, b, c);
  }

  void syevd(MatrixD& a, VectorD& w) const override {
    if (a.rows() != a.cols())
      throw DimensionMismatch("syevd: matrix is " + std::to_string(a.rows()) + "×" + std::to_string(a.cols()));
    const int n = static_cast<int>(a.rows());
    w.resize(n);
    if (n == 0) return;
    const int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, a.data(), n, w.data());
    if (info != 0) throw NumericalError("LAPACKE_dsyevd failed (info " + std::to_string(info) + ")");
  }
};

}  // namespace

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "cpu") return std::make_unique<CpuBackend>();
  if (name == "cuda") {
#if BRAINSWEEP_WITH_CUDA
    throw NotCompiled("backend 'cuda': the CUDA backend is not implemented yet (issue #3)");
#else
    throw NotCompiled("backend 'cuda': brainsweep was not compiled with CUDA (configure with -DBRAINSWEEP_WITH_CUDA=ON)");
#endif
  }
  throw ConfigError("unknown backend '" + name + "' (expected cpu or cuda)");
}

}  // namespace brainsweep
