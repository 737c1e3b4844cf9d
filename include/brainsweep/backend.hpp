#pragma once
/// Dense kernels the ridge algorithm is written against (STYLE.md: algorithm apart from kernels,
/// after Ginkgo). `src/ridge/` only calls these; `src/backends/<name>/` implements them. A backend
/// owns its resources (BLAS threads, cuBLAS/cuSOLVER handles, workspace: faiss's GpuResources).
///
/// Matrices are row-major `View`s that carry their shape, leading dimension and memory space, so
/// every transpose is stated once and checked. Storage is an `Array` allocated by the backend.
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "brainsweep/errors.hpp"
#include "brainsweep/matrix.hpp"

namespace brainsweep {

enum class Space { host, device };

/// Non-owning row-major matrix view: element (i, j) at data[i * ld + j].
template <class T>
struct View {
  T* data = nullptr;
  long rows = 0, cols = 0, ld = 0;
  Space space = Space::host;

  /// Rows [r0, r0 + n) of this view (no copy).
  View middle_rows(long r0, long n) const { return {data + r0 * ld, n, cols, ld, space}; }
  /// Columns [c0, c0 + n) of this view (no copy).
  View middle_cols(long c0, long n) const { return {data + c0, rows, n, ld, space}; }
  template <class U = T, std::enable_if_t<!std::is_const_v<U>, int> = 0>
  operator View<const U>() const {
    return {data, rows, cols, ld, space};
  }
  std::string shape() const { return std::to_string(rows) + "×" + std::to_string(cols); }
};

class Backend;

/// Owning dense row-major matrix in a backend's memory space.
template <class T>
class Array {
 public:
  Array() = default;
  /// Uninitialised rows × cols array from `backend`. @throw Error if the allocation fails
  Array(const Backend& backend, long rows, long cols);
  View<T> view() const { return {mem_.get(), rows_, cols_, cols_, space_}; }
  operator View<T>() const { return view(); }
  operator View<const T>() const { return view(); }
  long rows() const { return rows_; }
  long cols() const { return cols_; }

 private:
  std::shared_ptr<T> mem_;
  long rows_ = 0, cols_ = 0;
  Space space_ = Space::host;
};

enum class Op { none, trans };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Space space() const = 0;

  virtual void* allocate(size_t bytes) const = 0;
  virtual void deallocate(void* p) const = 0;
  /// Copy `bytes` between any two spaces this backend knows (host ↔ backend).
  virtual void copy(void* dst, Space dst_space, const void* src, Space src_space, size_t bytes) const = 0;

  /// c = alpha · op(a) · op(b) + beta · c. @throw DimensionMismatch on inconsistent shapes
  virtual void gemm(Op ta, Op tb, float alpha, View<const float> a, View<const float> b, float beta,
                    View<float> c) const = 0;
  virtual void gemm(Op ta, Op tb, double alpha, View<const double> a, View<const double> b, double beta,
                    View<double> c) const = 0;
  /// Symmetric eigendecomposition (LAPACK/cuSOLVER ?syevd): on return column j of `a` holds the
  /// eigenvector of eigenvalue w[j], ascending. `w` is a 1 × n view. @throw NumericalError
  virtual void syevd(View<float> a, View<float> w) const = 0;
  virtual void syevd(View<double> a, View<double> w) const = 0;
  /// Independent symmetric eigendecompositions: syevd(a[i], w[i]) for every i. A backend may run up
  /// to concurrency() of them at once (the CPU backend: one BLAS thread each, which beats one
  /// decomposition on all threads: LAPACK's tridiagonalisation scales poorly). Callers bound their
  /// work space by passing at most concurrency() matrices at a time.
  /// @throw DimensionMismatch  if a and w differ in length or a shape is wrong
  /// @throw NumericalError  as syevd (the first failure, after every decomposition has finished)
  virtual void syevd_many(const std::vector<View<float>>& a, const std::vector<View<float>>& w) const = 0;
  virtual void syevd_many(const std::vector<View<double>>& a, const std::vector<View<double>>& w) const = 0;
  /// How many decompositions syevd_many runs at once (≥ 1).
  virtual int concurrency() const { return 1; }
  /// Element-wise conversion (shapes must match).
  virtual void convert(View<const float> src, View<double> dst) const = 0;
  virtual void convert(View<const double> src, View<float> dst) const = 0;
  /// out(i, j) = b(i, j) / (s[i] + alpha[j]); s is 1 × p, alpha 1 × t (float64), out may alias nothing.
  virtual void shrink(View<const double> b, View<const double> s, View<const double> alpha, View<float> out) const = 0;
  virtual void shrink(View<const double> b, View<const double> s, View<const double> alpha, View<double> out) const = 0;
  /// r[j] += weight · Pearson(pred(:, j), truth(:, j)), accumulated in float64; a column where either
  /// side has zero variance adds 0 (ENCODING.md §4). r is 1 × t.
  virtual void add_pearson(View<const float> pred, View<const float> truth, double weight, View<double> r) const = 0;
  virtual void add_pearson(View<const double> pred, View<const double> truth, double weight,
                           View<double> r) const = 0;
  /// Per-fold terms of ridge_cv's held-out Pearson r from moments (ridge_cv.cpp, `score_fold`):
  /// b, u, h are r × t; out (3r × t) = [b∘b ; b∘u ; b∘h] (three r × t blocks of rows), in float64
  /// (h is float32 in mixed precision, where the targets' products are float32).
  /// @throw DimensionMismatch  on inconsistent shapes
  virtual void moment_terms(View<const double> b, View<const double> u, View<const double> h,
                            View<double> out) const = 0;
  virtual void moment_terms(View<const double> b, View<const double> u, View<const float> h,
                            View<double> out) const = 0;
  /// r(a, j) += weight · Pearson r of m predictions ŷ against the measured column j, from the
  /// predictions' moments spp = Σŷ², spy = Σŷy, sp = Σŷ (each alphas × t, float64) and the measured
  /// column's mean `y_mean` and centred sum of squares `y_ss` (each 1 × t). Zero variance on either
  /// side adds 0 (ENCODING.md §4): y_ss ≤ 0 marks a constant measured column; a prediction counts as
  /// constant when its centred sum of squares is at most 1e-10 of Σŷ² (the moments are exact to
  /// about 1e-12 of Σŷ²).
  /// @throw DimensionMismatch  on inconsistent shapes
  virtual void add_pearson_moments(View<const double> spp, View<const double> spy, View<const double> sp,
                                   View<const double> y_mean, View<const double> y_ss, long m, double weight,
                                   View<double> r) const = 0;
  /// dst = src, element-wise between two views of the same shape in this backend's space.
  virtual void copy(View<const float> src, View<float> dst) const = 0;
  virtual void copy(View<const double> src, View<double> dst) const = 0;
  /// row(0, j) += Σ_i p(i, j)², accumulated in float64 (row: 1 × t). @throw DimensionMismatch
  virtual void add_column_squares(View<const float> p, View<double> row) const = 0;
  virtual void add_column_squares(View<const double> p, View<double> row) const = 0;
  /// y += alpha · x, element-wise between two views of the same shape. @throw DimensionMismatch
  virtual void axpy(float alpha, View<const float> x, View<float> y) const = 0;
  virtual void axpy(double alpha, View<const double> x, View<double> y) const = 0;
  /// Set every element of `a` to `value`.
  virtual void fill(View<double> a, double value) const = 0;
  /// Block until queued work is done (a no-op on the CPU).
  virtual void synchronize() const {}

  /// Host → backend copy of a whole host matrix into a new array.
  template <class T>
  Array<T> upload(View<const T> host) const;
  template <class T, std::enable_if_t<!std::is_const_v<T>, int> = 0>
  Array<T> upload(View<T> host) const {
    return upload(View<const T>(host));
  }
  /// Backend → host copy.
  template <class T>
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> download(View<const T> a) const;
};

/// Implements every typed kernel of Backend by forwarding to the member templates of `Impl`
/// (gemm_impl, syevd_impl, syevd_many_impl, convert_impl, copy_impl, shrink_impl, add_pearson_impl,
/// moment_terms_impl, add_pearson_moments_impl, add_column_squares_impl, axpy_impl, fill_impl), so
/// that a backend writes each kernel once for float and double (CRTP).
template <class Impl>
class BackendAdapter : public Backend {
 public:
  using Backend::copy;
  void gemm(Op ta, Op tb, float al, View<const float> a, View<const float> b, float be, View<float> c) const override {
    self().gemm_impl(ta, tb, al, a, b, be, c);
  }
  void gemm(Op ta, Op tb, double al, View<const double> a, View<const double> b, double be,
            View<double> c) const override {
    self().gemm_impl(ta, tb, al, a, b, be, c);
  }
  void syevd(View<float> a, View<float> w) const override { self().syevd_impl(a, w); }
  void syevd(View<double> a, View<double> w) const override { self().syevd_impl(a, w); }
  void syevd_many(const std::vector<View<float>>& a, const std::vector<View<float>>& w) const override {
    self().syevd_many_impl(a, w);
  }
  void syevd_many(const std::vector<View<double>>& a, const std::vector<View<double>>& w) const override {
    self().syevd_many_impl(a, w);
  }
  void convert(View<const float> s, View<double> d) const override { self().convert_impl(s, d); }
  void convert(View<const double> s, View<float> d) const override { self().convert_impl(s, d); }
  void copy(View<const float> s, View<float> d) const override { self().copy_impl(s, d); }
  void copy(View<const double> s, View<double> d) const override { self().copy_impl(s, d); }
  void shrink(View<const double> b, View<const double> s, View<const double> a, View<float> o) const override {
    self().shrink_impl(b, s, a, o);
  }
  void shrink(View<const double> b, View<const double> s, View<const double> a, View<double> o) const override {
    self().shrink_impl(b, s, a, o);
  }
  void add_pearson(View<const float> p, View<const float> t, double w, View<double> r) const override {
    self().add_pearson_impl(p, t, w, r);
  }
  void add_pearson(View<const double> p, View<const double> t, double w, View<double> r) const override {
    self().add_pearson_impl(p, t, w, r);
  }
  void moment_terms(View<const double> b, View<const double> u, View<const double> h,
                    View<double> out) const override {
    self().moment_terms_impl(b, u, h, out);
  }
  void moment_terms(View<const double> b, View<const double> u, View<const float> h, View<double> out) const override {
    self().moment_terms_impl(b, u, h, out);
  }
  void add_pearson_moments(View<const double> spp, View<const double> spy, View<const double> sp,
                           View<const double> y_mean, View<const double> y_ss, long m, double w,
                           View<double> r) const override {
    self().add_pearson_moments_impl(spp, spy, sp, y_mean, y_ss, m, w, r);
  }
  void add_column_squares(View<const float> p, View<double> row) const override { self().add_column_squares_impl(p, row); }
  void add_column_squares(View<const double> p, View<double> row) const override {
    self().add_column_squares_impl(p, row);
  }
  void axpy(float al, View<const float> x, View<float> y) const override { self().axpy_impl(al, x, y); }
  void axpy(double al, View<const double> x, View<double> y) const override { self().axpy_impl(al, x, y); }
  void fill(View<double> a, double v) const override { self().fill_impl(a, v); }

 private:
  const Impl& self() const { return static_cast<const Impl&>(*this); }
};

/// The backend named `name` ("cpu" or "cuda"). `threads` > 0 sets the BLAS threads of the CPU backend.
/// @throw NotCompiled  for "cuda" in a build without CUDA (no silent fallback to the CPU)
/// @throw ConfigError  for an unknown name
std::unique_ptr<Backend> make_backend(const std::string& name, int threads = 0);

/// Names of the backends compiled into this build.
std::vector<std::string> compiled_backends();

/// A host view of an Eigen row-major matrix.
template <class T>
View<T> host_view(Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>& m) {
  return {m.data(), m.rows(), m.cols(), m.cols(), Space::host};
}
template <class T>
View<const T> host_view(const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>& m) {
  return {m.data(), m.rows(), m.cols(), m.cols(), Space::host};
}

// ---- template definitions ----------------------------------------------------------------

template <class T>
Array<T>::Array(const Backend& backend, long rows, long cols) : rows_(rows), cols_(cols), space_(backend.space()) {
  const size_t bytes = static_cast<size_t>(std::max(1L, rows * cols)) * sizeof(T);
  const Backend* b = &backend;
  mem_ = std::shared_ptr<T>(static_cast<T*>(backend.allocate(bytes)), [b](T* p) { b->deallocate(p); });
}

template <class T>
Array<T> Backend::upload(View<const T> host) const {
  Array<T> a(*this, host.rows, host.cols);
  if (host.ld == host.cols) {
    copy(a.view().data, space(), host.data, Space::host, sizeof(T) * host.rows * host.cols);
    return a;
  }
  for (long i = 0; i < host.rows; ++i)
    copy(a.view().data + i * a.cols(), space(), host.data + i * host.ld, Space::host, sizeof(T) * host.cols);
  return a;
}

template <class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Backend::download(View<const T> a) const {
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m(a.rows, a.cols);
  if (a.ld == a.cols) {
    copy(m.data(), Space::host, a.data, a.space, sizeof(T) * a.rows * a.cols);
    return m;
  }
  for (long i = 0; i < a.rows; ++i)
    copy(m.data() + i * a.cols, Space::host, a.data + i * a.ld, a.space, sizeof(T) * a.cols);
  return m;
}

}  // namespace brainsweep
