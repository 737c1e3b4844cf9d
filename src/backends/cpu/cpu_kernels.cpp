// CPU backend: OpenBLAS GEMM, LAPACKE ?syevd, plain loops for the element-wise kernels.
#include <cblas.h>
#include <lapacke.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <thread>
#include <vector>

#include "brainsweep/backend.hpp"
#include "brainsweep/build_config.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/module.hpp"

extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);

namespace brainsweep {
namespace {

template <class T>
void check_host(const View<T>& v, const char* what) {
  if (v.space != Space::host) throw Error(std::string("cpu backend: ") + what + " is not in host memory");
}

template <class A, class B, class C>
void check_gemm(Op ta, Op tb, const A& a, const B& b, const C& c) {
  const long m = ta == Op::trans ? a.cols : a.rows, k = ta == Op::trans ? a.rows : a.cols;
  const long kb = tb == Op::trans ? b.cols : b.rows, n = tb == Op::trans ? b.rows : b.cols;
  if (k != kb || c.rows != m || c.cols != n)
    throw DimensionMismatch("gemm: op(a) is " + std::to_string(m) + "×" + std::to_string(k) + ", op(b) " +
                            std::to_string(kb) + "×" + std::to_string(n) + ", c " + c.shape());
}

inline CBLAS_TRANSPOSE op(Op o) { return o == Op::trans ? CblasTrans : CblasNoTrans; }

template <class T>
void cpu_gemm(Op ta, Op tb, T alpha, View<const T> a, View<const T> b, T beta, View<T> c) {
  check_gemm(ta, tb, a, b, c);
  check_host(a, "gemm a");
  check_host(c, "gemm c");
  const long k = ta == Op::trans ? a.rows : a.cols;
  if (c.rows == 0 || c.cols == 0) return;
  if (k == 0) {
    for (long i = 0; i < c.rows; ++i)
      for (long j = 0; j < c.cols; ++j) c.data[i * c.ld + j] = beta == T(0) ? T(0) : beta * c.data[i * c.ld + j];
    return;
  }
  const int m = static_cast<int>(c.rows), n = static_cast<int>(c.cols);
  // A Gram matrix (aᵀa or aaᵀ of one view): SYRK does half the work; mirror the upper triangle.
  if (a.data == b.data && a.ld == b.ld && a.rows == b.rows && a.cols == b.cols && ta != tb && m == n) {
    const CBLAS_TRANSPOSE tr = ta == Op::trans ? CblasTrans : CblasNoTrans;
    if constexpr (std::is_same_v<T, float>)
      cblas_ssyrk(CblasRowMajor, CblasUpper, tr, n, static_cast<int>(k), alpha, a.data, static_cast<int>(a.ld), beta,
                  c.data, static_cast<int>(c.ld));
    else
      cblas_dsyrk(CblasRowMajor, CblasUpper, tr, n, static_cast<int>(k), alpha, a.data, static_cast<int>(a.ld), beta,
                  c.data, static_cast<int>(c.ld));
    // Mirror in 64 × 64 tiles (a row-by-row mirror reads the upper triangle column-wise, one
    // cache line per element).
    constexpr long tile = 64;
    for (long i0 = 0; i0 < c.rows; i0 += tile)
      for (long j0 = 0; j0 <= i0; j0 += tile)
        for (long i = i0; i < std::min(i0 + tile, c.rows); ++i)
          for (long j = j0; j < std::min({j0 + tile, i, c.rows}); ++j) c.data[i * c.ld + j] = c.data[j * c.ld + i];
    return;
  }
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, op(ta), op(tb), m, n, static_cast<int>(k), alpha, a.data, static_cast<int>(a.ld),
                b.data, static_cast<int>(b.ld), beta, c.data, static_cast<int>(c.ld));
  else
    cblas_dgemm(CblasRowMajor, op(ta), op(tb), m, n, static_cast<int>(k), alpha, a.data, static_cast<int>(a.ld),
                b.data, static_cast<int>(b.ld), beta, c.data, static_cast<int>(c.ld));
}

template <class T>
void cpu_syevd(View<T> a, View<T> w) {
  check_host(a, "syevd a");
  if (a.rows != a.cols || w.rows * w.cols != a.rows)
    throw DimensionMismatch("syevd: matrix " + a.shape() + ", eigenvalues " + w.shape());
  const int n = static_cast<int>(a.rows);
  if (n == 0) return;
  // A symmetric matrix is its own transpose: call LAPACK in column-major order on the row-major
  // buffer (LAPACKE's row-major path would copy the matrix twice), then transpose the eigenvectors
  // in place so that column j holds eigenvector j.
  int info;
  if constexpr (std::is_same_v<T, float>)
    info = LAPACKE_ssyevd(LAPACK_COL_MAJOR, 'V', 'L', n, a.data, static_cast<int>(a.ld), w.data);
  else
    info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, a.data, static_cast<int>(a.ld), w.data);
  if (info != 0) throw NumericalError("LAPACKE_?syevd failed (info " + std::to_string(info) + ") on a " + a.shape() + " matrix");
  for (long i = 0; i < n; ++i)
    for (long j = i + 1; j < n; ++j) std::swap(a.data[i * a.ld + j], a.data[j * a.ld + i]);
}

/// syevd of every (a[i], w[i]), up to `threads` at once with one BLAS thread each (the BLAS thread
/// count is process-wide: it is set to 1 meanwhile and restored after).
template <class T>
void cpu_syevd_many(const std::vector<View<T>>& a, const std::vector<View<T>>& w, int threads) {
  if (a.size() != w.size())
    throw DimensionMismatch("syevd_many: " + std::to_string(a.size()) + " matrices, " + std::to_string(w.size()) +
                            " eigenvalue vectors");
  const size_t workers = std::min(a.size(), static_cast<size_t>(std::max(1, threads)));
  if (workers <= 1) {
    for (size_t i = 0; i < a.size(); ++i) cpu_syevd(a[i], w[i]);
    return;
  }
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> error(a.size());
  auto work = [&] {
    for (size_t i; (i = next++) < a.size();) {
      try {
        cpu_syevd(a[i], w[i]);
      } catch (...) {
        error[i] = std::current_exception();
      }
    }
  };
  openblas_set_num_threads(1);
  {
    std::vector<std::jthread> pool;
    for (size_t t = 1; t < workers; ++t) pool.emplace_back(work);
    work();
  }
  openblas_set_num_threads(threads);
  for (const auto& e : error)
    if (e) std::rethrow_exception(e);
}

template <class S, class D>
void cpu_convert(View<const S> src, View<D> dst) {
  if (src.rows != dst.rows || src.cols != dst.cols)
    throw DimensionMismatch("convert: source " + src.shape() + ", destination " + dst.shape());
  for (long i = 0; i < src.rows; ++i)
    for (long j = 0; j < src.cols; ++j) dst.data[i * dst.ld + j] = static_cast<D>(src.data[i * src.ld + j]);
}

template <class T>
void cpu_shrink(View<const double> b, View<const double> s, View<const double> alpha, View<T> out) {
  if (s.rows * s.cols != b.rows || alpha.rows * alpha.cols != b.cols || out.rows != b.rows || out.cols != b.cols)
    throw DimensionMismatch("shrink: b " + b.shape() + ", s " + s.shape() + ", alpha " + alpha.shape() + ", out " +
                            out.shape());
  for (long i = 0; i < b.rows; ++i) {
    const double si = s.data[i];
    const double* bi = b.data + i * b.ld;
    T* oi = out.data + i * out.ld;
    for (long j = 0; j < b.cols; ++j) oi[j] = static_cast<T>(bi[j] / (si + alpha.data[j]));
  }
}

template <class T>
void cpu_add_pearson(View<const T> pred, View<const T> truth, double weight, View<double> r) {
  if (pred.rows != truth.rows || pred.cols != truth.cols || r.rows * r.cols != pred.cols)
    throw DimensionMismatch("add_pearson: prediction " + pred.shape() + ", measurement " + truth.shape() + ", r " +
                            r.shape());
  const long n = pred.rows, t = pred.cols;
  if (n < 2) return;
  // One pass over the rows: sums, sums of squares and cross products in float64. (The CV targets
  // are centred and the predictions nearly so, so the one-pass formula loses nothing here.)
  std::vector<double> sp(static_cast<size_t>(t), 0.0), sy(sp), spp(sp), syy(sp), spy(sp);
  for (long i = 0; i < n; ++i) {
    const T* p = pred.data + i * pred.ld;
    const T* y = truth.data + i * truth.ld;
    for (long j = 0; j < t; ++j) {
      const double a = p[j], b = y[j];
      sp[j] += a;
      sy[j] += b;
      spp[j] += a * a;
      syy[j] += b * b;
      spy[j] += a * b;
    }
  }
  const double dn = static_cast<double>(n);
  for (long j = 0; j < t; ++j) {
    const double sxx = spp[j] - sp[j] * sp[j] / dn, s_yy = syy[j] - sy[j] * sy[j] / dn;
    const double sxy = spy[j] - sp[j] * sy[j] / dn;
    // Zero variance: a constant column; a relative floor absorbs the one-pass round-off.
    if (sxx > 1e-12 * spp[j] && s_yy > 1e-12 * syy[j] && sxx > 0 && s_yy > 0)
      r.data[j] += weight * sxy / std::sqrt(sxx * s_yy);
  }
}

template <class H>
void check_moment_terms(View<const double> b, View<const double> u, View<const H> h, View<const double> out) {
  const long r = b.rows, t = b.cols;
  if (u.rows != r || u.cols != t || h.rows != r || h.cols != t || out.rows != 3 * r || out.cols != t)
    throw DimensionMismatch("moment_terms: b " + b.shape() + ", u " + u.shape() + ", h " + h.shape() + ", out " +
                            out.shape() + " (expected 3·" + std::to_string(r) + " × " + std::to_string(t) + ")");
}

template <class H>
void cpu_moment_terms(View<const double> b, View<const double> u, View<const H> h, View<double> out) {
  check_moment_terms(b, u, h, View<const double>(out));
  const long r = b.rows, t = b.cols;
  for (long i = 0; i < r; ++i) {
    const double *bi = b.data + i * b.ld, *ui = u.data + i * u.ld;
    const H* hi = h.data + i * h.ld;
    double *bb = out.data + i * out.ld, *bu = out.data + (r + i) * out.ld, *bh = out.data + (2 * r + i) * out.ld;
    for (long j = 0; j < t; ++j) {
      bb[j] = bi[j] * bi[j];
      bu[j] = bi[j] * ui[j];
      bh[j] = bi[j] * static_cast<double>(hi[j]);
    }
  }
}

void check_pearson_moments(View<const double> spp, View<const double> spy, View<const double> sp,
                           View<const double> y_mean, View<const double> y_ss, View<const double> r) {
  const long na = spp.rows, t = spp.cols;
  if (spy.rows != na || spy.cols != t || sp.rows != na || sp.cols != t || y_mean.rows * y_mean.cols != t ||
      y_ss.rows * y_ss.cols != t || r.rows != na || r.cols != t)
    throw DimensionMismatch("add_pearson_moments: spp " + spp.shape() + ", spy " + spy.shape() + ", sp " + sp.shape() +
                            ", y_mean " + y_mean.shape() + ", y_ss " + y_ss.shape() + ", r " + r.shape());
}

/// Pearson r from the moments of m predictions against y's mean `my` and centred sum of squares `syy`.
inline double pearson_from_moments(double spp, double spy, double sp, double my, double syy, double m) {
  const double sxx = spp - sp * sp / m;
  if (!(sxx > 1e-10 * spp) || !(syy > 0)) return 0.0;
  return (spy - sp * my) / std::sqrt(sxx * syy);
}

void cpu_add_pearson_moments(View<const double> spp, View<const double> spy, View<const double> sp,
                             View<const double> y_mean, View<const double> y_ss, long m, double weight,
                             View<double> r) {
  check_pearson_moments(spp, spy, sp, y_mean, y_ss, View<const double>(r));
  if (m < 2) return;
  for (long a = 0; a < spp.rows; ++a)
    for (long j = 0; j < spp.cols; ++j)
      r.data[a * r.ld + j] += weight * pearson_from_moments(spp.data[a * spp.ld + j], spy.data[a * spy.ld + j],
                                                            sp.data[a * sp.ld + j], y_mean.data[j], y_ss.data[j],
                                                            static_cast<double>(m));
}

class CpuBackend final : public BackendAdapter<CpuBackend> {
  static constexpr size_t kHeader = 64, kMapBytes = size_t(1) << 20;

 public:
  explicit CpuBackend(int threads) {
    if (threads > 0) openblas_set_num_threads(threads);
  }
  /// The BLAS threads: syevd_many runs that many decompositions at once, one thread each.
  int concurrency() const override { return std::max(1, openblas_get_num_threads()); }
  std::string name() const override { return "cpu"; }
  Space space() const override { return Space::host; }
  /// 64-byte aligned. Arrays of 1 MB or more are mapped directly and unmapped when freed: glibc
  /// would put them on its heap once its dynamic mmap threshold has risen (to the size of the
  /// largest block freed, up to 32 MB), and a fragmented heap keeps its pages, so that the
  /// resident memory of a fit grew from fold to fold. A 64-byte header records how.
  void* allocate(size_t bytes) const override {
    const size_t total = kHeader + (bytes + 63) / 64 * 64;
    const bool mapped = total >= kMapBytes;
    void* base = nullptr;
    if (mapped) {
      base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED) base = nullptr;
    } else {
      base = std::aligned_alloc(64, total);
    }
    if (!base) throw Error("cpu backend: cannot allocate " + std::to_string(bytes) + " bytes");
    *static_cast<size_t*>(base) = mapped ? total : 0;
    return static_cast<char*>(base) + kHeader;
  }
  void deallocate(void* p) const override {
    if (!p) return;
    void* base = static_cast<char*>(p) - kHeader;
    if (const size_t total = *static_cast<size_t*>(base))
      munmap(base, total);
    else
      std::free(base);
  }
  void copy(void* dst, Space ds, const void* src, Space ss, size_t bytes) const override {
    if (ds != Space::host || ss != Space::host) throw Error("cpu backend: copy involving device memory");
    std::memcpy(dst, src, bytes);
  }
  using BackendAdapter::copy;

  // The kernels, once for float and double (BackendAdapter dispatches to them).
  template <class T>
  void gemm_impl(Op ta, Op tb, T al, View<const T> a, View<const T> b, T be, View<T> c) const {
    cpu_gemm(ta, tb, al, a, b, be, c);
  }
  template <class T>
  void syevd_impl(View<T> a, View<T> w) const { cpu_syevd(a, w); }
  template <class T>
  void syevd_many_impl(const std::vector<View<T>>& a, const std::vector<View<T>>& w) const {
    cpu_syevd_many(a, w, concurrency());
  }
  template <class S, class D>
  void convert_impl(View<const S> s, View<D> d) const { cpu_convert(s, d); }
  template <class T>
  void copy_impl(View<const T> s, View<T> d) const { cpu_convert(s, d); }
  template <class T>
  void shrink_impl(View<const double> b, View<const double> s, View<const double> a, View<T> o) const {
    cpu_shrink(b, s, a, o);
  }
  template <class T>
  void add_pearson_impl(View<const T> p, View<const T> t, double w, View<double> r) const {
    cpu_add_pearson(p, t, w, r);
  }
  template <class H>
  void moment_terms_impl(View<const double> b, View<const double> u, View<const H> h, View<double> out) const {
    cpu_moment_terms(b, u, h, out);
  }
  void add_pearson_moments_impl(View<const double> spp, View<const double> spy, View<const double> sp,
                                View<const double> y_mean, View<const double> y_ss, long m, double w,
                                View<double> r) const {
    cpu_add_pearson_moments(spp, spy, sp, y_mean, y_ss, m, w, r);
  }
  template <class T>
  void add_column_squares_impl(View<const T> p, View<double> row) const {
    if (row.rows != 1 || row.cols != p.cols)
      throw DimensionMismatch("add_column_squares: p " + p.shape() + ", row " + row.shape());
    for (long i = 0; i < p.rows; ++i)
      for (long j = 0; j < p.cols; ++j) {
        const double v = p.data[i * p.ld + j];
        row.data[j] += v * v;
      }
  }
  template <class T>
  void axpy_impl(T al, View<const T> x, View<T> y) const {
    if (x.rows != y.rows || x.cols != y.cols) throw DimensionMismatch("axpy: x " + x.shape() + ", y " + y.shape());
    for (long i = 0; i < x.rows; ++i)
      for (long j = 0; j < x.cols; ++j) y.data[i * y.ld + j] += al * x.data[i * x.ld + j];
  }
  void fill_impl(View<double> a, double v) const {
    for (long i = 0; i < a.rows; ++i)
      for (long j = 0; j < a.cols; ++j) a.data[i * a.ld + j] = v;
  }
};

}  // namespace

#if BRAINSWEEP_WITH_CUDA
namespace {

/// The CUDA backend lives in a module (src/backends/cuda, built as libbrainsweep_cuda.so) loaded on
/// first use, so that processes that never ask for it do not load the CUDA libraries (~180 MB of
/// resident memory). Loaded from $BRAINSWEEP_CUDA_MODULE when set; otherwise tried in order: next to
/// the executable, the build location, then dlopen's own search (LD_LIBRARY_PATH, ld.so.cache).
/// @throw DeviceUnavailable  naming every path tried and dlopen's error, when none loads
std::unique_ptr<Backend> make_cuda_backend() {
  using Factory = Backend* (*)();
  static const Factory factory = [] {
    try {
      return reinterpret_cast<Factory>(module_symbol({"the CUDA backend", "BRAINSWEEP_CUDA_MODULE",
                                                      BRAINSWEEP_CUDA_MODULE_NAME, BRAINSWEEP_CUDA_MODULE_PATH,
                                                      "brainsweep_make_cuda_backend"}));
    } catch (const Error& e) {
      throw DeviceUnavailable(std::string("backend 'cuda': ") + e.what());
    }
  }();
  return std::unique_ptr<Backend>(factory());
}

}  // namespace
#endif

std::unique_ptr<Backend> make_backend(const std::string& name, int threads) {
  if (name == "cpu") return std::make_unique<CpuBackend>(threads);
  if (name == "cuda") {
#if BRAINSWEEP_WITH_CUDA
    return make_cuda_backend();
#else
    throw NotCompiled("backend 'cuda': brainsweep was not compiled with CUDA (configure with -DBRAINSWEEP_WITH_CUDA=ON)");
#endif
  }
  throw ConfigError("unknown backend '" + name + "' (expected cpu or cuda)");
}

std::vector<std::string> compiled_backends() {
  std::vector<std::string> b{"cpu"};
  if (BRAINSWEEP_WITH_CUDA) b.push_back("cuda");
  return b;
}

}  // namespace brainsweep
