// CUDA backend: cuBLAS GEMM, cuSOLVER ?syevd, small kernels for the element-wise work.
// One context per rank owns the handles, the stream and the solver workspace (faiss's
// GpuResources); kernels never create handles. The device is chosen from the node-local rank.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstdlib>
#include <string>

#include "brainsweep/backend.hpp"
#include "brainsweep/local_rank.hpp"

namespace brainsweep {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error(std::string("cuBLAS: ") + what + " failed (status " + std::to_string(s) + ")");
}
void check(cusolverStatus_t s, const char* what) {
  if (s != CUSOLVER_STATUS_SUCCESS)
    throw Error(std::string("cuSOLVER: ") + what + " failed (status " + std::to_string(s) + ")");
}

template <class T>
void check_device(const View<T>& v, const char* what) {
  if (v.space != Space::device) throw Error(std::string("cuda backend: ") + what + " is not in device memory");
}

constexpr int kThreads = 256;
inline unsigned blocks(long n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

template <class S, class D>
__global__ void convert_kernel(const S* src, long sld, D* dst, long dld, long rows, long cols) {
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= rows * cols) return;
  const long i = idx / cols, j = idx % cols;
  dst[i * dld + j] = static_cast<D>(src[i * sld + j]);
}

template <class T>
__global__ void shrink_kernel(const double* b, long bld, const double* s, const double* alpha, T* out, long old,
                              long rows, long cols) {
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= rows * cols) return;
  const long i = idx / cols, j = idx % cols;
  out[i * old + j] = static_cast<T>(b[i * bld + j] / (s[i] + alpha[j]));
}

/// One thread per column (adjacent threads read adjacent addresses of a row-major matrix).
template <class T>
__global__ void pearson_kernel(const T* p, long pld, const T* y, long yld, long n, long t, double weight, double* r) {
  const long j = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (j >= t || n < 2) return;
  double mp = 0, my = 0;
  for (long i = 0; i < n; ++i) mp += p[i * pld + j], my += y[i * yld + j];
  mp /= n;
  my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (long i = 0; i < n; ++i) {
    const double a = p[i * pld + j] - mp, b = y[i * yld + j] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  if (sxx > 0 && syy > 0) r[j] += weight * sxy / sqrt(sxx * syy);
}

/// out = [b∘b ; b∘u ; b∘h] (Backend::moment_terms: 3 blocks of r rows), one thread per element of b.
template <class H>
__global__ void moment_terms_kernel(const double* b, long bld, const double* u, long uld, const H* h, long hld,
                                    double* out, long old, long rows, long cols) {
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= rows * cols) return;
  const long i = idx / cols, j = idx % cols;
  const double bv = b[i * bld + j];
  out[i * old + j] = bv * bv;
  out[(rows + i) * old + j] = bv * u[i * uld + j];
  out[(2 * rows + i) * old + j] = bv * static_cast<double>(h[i * hld + j]);
}

/// One thread per column j: Pearson r of every alpha from the predictions' moments and the measured
/// column's mean and centred sum of squares (Backend::add_pearson_moments; as the CPU backend).
__global__ void pearson_moments_kernel(const double* spp, long ppld, const double* spy, long pyld, const double* sp,
                                       long pld, const double* y_mean, const double* y_ss, long m, long na, long t,
                                       double weight, double* r, long rld) {
  const long j = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (j >= t || m < 2) return;
  const double my = y_mean[j], syy = y_ss[j];
  if (!(syy > 0)) return;  // a constant column adds 0
  for (long a = 0; a < na; ++a) {
    const double pp = spp[a * ppld + j], py = spy[a * pyld + j], p = sp[a * pld + j];
    const double sxx = pp - p * p / m;
    if (sxx > 1e-10 * pp) r[a * rld + j] += weight * (py - p * my) / sqrt(sxx * syy);
  }
}

/// One thread per column (adjacent threads read adjacent addresses of a row-major matrix).
template <class T>
__global__ void column_squares_kernel(const T* p, long pld, long rows, long cols, double* row) {
  const long j = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (j >= cols) return;
  double s = 0;
  for (long i = 0; i < rows; ++i) {
    const double v = p[i * pld + j];
    s += v * v;
  }
  row[j] += s;
}

template <class T>
__global__ void axpy_kernel(T alpha, const T* x, long xld, T* y, long yld, long rows, long cols) {
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= rows * cols) return;
  const long i = idx / cols, j = idx % cols;
  y[i * yld + j] += alpha * x[i * xld + j];
}

__global__ void fill_kernel(double* a, long ld, long rows, long cols, double v) {
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx < rows * cols) a[(idx / cols) * ld + idx % cols] = v;
}

class CudaBackend final : public BackendAdapter<CudaBackend> {
 public:
  CudaBackend() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0)
      throw DeviceUnavailable("backend 'cuda': no CUDA device visible to this process");
    device_ = node_local_rank() % count;
    check(cudaSetDevice(device_), "cudaSetDevice");
    check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    check(cublasCreate(&blas_), "cublasCreate");
    check(cublasSetStream(blas_, stream_), "cublasSetStream");
    check(cusolverDnCreate(&solver_), "cusolverDnCreate");
    check(cusolverDnSetStream(solver_, stream_), "cusolverDnSetStream");
    check(cudaMalloc(&info_, sizeof(int)), "cudaMalloc(info)");
  }
  ~CudaBackend() override {
    cudaFree(info_);
    cudaFree(work_);
    cusolverDnDestroy(solver_);
    cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda:" + std::to_string(device_); }
  Space space() const override { return Space::device; }
  void* allocate(size_t bytes) const override {
    void* p = nullptr;
    check(cudaMalloc(&p, bytes), ("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str());
    return p;
  }
  void deallocate(void* p) const override { cudaFree(p); }
  using BackendAdapter::copy;
  void copy(void* dst, Space, const void* src, Space, size_t bytes) const override {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream_), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void synchronize() const override { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

  template <class T>
  void add_column_squares_impl(View<const T> p, View<double> row) const {
    if (row.rows != 1 || row.cols != p.cols)
      throw DimensionMismatch("add_column_squares: p " + p.shape() + ", row " + row.shape());
    if (p.cols == 0) return;
    column_squares_kernel<<<blocks(p.cols), kThreads, 0, stream_>>>(p.data, p.ld, p.rows, p.cols, row.data);
    check(cudaGetLastError(), "column_squares kernel");
  }
  template <class T>
  void axpy_impl(T al, View<const T> x, View<T> y) const {
    if (x.rows != y.rows || x.cols != y.cols) throw DimensionMismatch("axpy: x " + x.shape() + ", y " + y.shape());
    if (x.rows * x.cols == 0) return;
    axpy_kernel<<<blocks(x.rows * x.cols), kThreads, 0, stream_>>>(al, x.data, x.ld, y.data, y.ld, x.rows, x.cols);
    check(cudaGetLastError(), "axpy kernel");
  }
  void fill_impl(View<double> a, double v) const {
    if (a.rows * a.cols == 0) return;
    fill_kernel<<<blocks(a.rows * a.cols), kThreads, 0, stream_>>>(a.data, a.ld, a.rows, a.cols, v);
    check(cudaGetLastError(), "fill kernel");
  }

  // The kernels, once for float and double (BackendAdapter dispatches to them).
  // Row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ: swap the operands.
  template <class T>
  void gemm_impl(Op ta, Op tb, T al, View<const T> a, View<const T> b, T be, View<T> c) const {
    const long m = ta == Op::trans ? a.cols : a.rows, k = ta == Op::trans ? a.rows : a.cols;
    const long kb = tb == Op::trans ? b.cols : b.rows, n = tb == Op::trans ? b.rows : b.cols;
    if (k != kb || c.rows != m || c.cols != n)
      throw DimensionMismatch("gemm: op(a) is " + std::to_string(m) + "×" + std::to_string(k) + ", op(b) " +
                              std::to_string(kb) + "×" + std::to_string(n) + ", c " + c.shape());
    check_device(a, "gemm a");
    check_device(b, "gemm b");
    check_device(c, "gemm c");
    if (m == 0 || n == 0) return;
    const auto opa = ta == Op::trans ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb == Op::trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int lda = static_cast<int>(std::max(1L, a.ld)), ldb = static_cast<int>(std::max(1L, b.ld));
    if constexpr (std::is_same_v<T, float>)
      check(cublasSgemm(blas_, opb, opa, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &al, b.data,
                        ldb, a.data, lda, &be, c.data, static_cast<int>(c.ld)),
            "cublasSgemm");
    else
      check(cublasDgemm(blas_, opb, opa, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &al, b.data,
                        ldb, a.data, lda, &be, c.data, static_cast<int>(c.ld)),
            "cublasDgemm");
  }

  template <class T>
  void syevd_impl(View<T> a, View<T> w) const {
    if (a.rows != a.cols || w.rows * w.cols != a.rows)
      throw DimensionMismatch("syevd: matrix " + a.shape() + ", eigenvalues " + w.shape());
    check_device(a, "syevd a");
    const int n = static_cast<int>(a.rows), lda = static_cast<int>(a.ld);
    if (n == 0) return;
    // A symmetric matrix is its own transpose: the row-major buffer is a valid column-major input.
    int lwork = 0;
    if constexpr (std::is_same_v<T, float>)
      check(cusolverDnSsyevd_bufferSize(solver_, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, n, a.data, lda,
                                        w.data, &lwork),
            "cusolverDnSsyevd_bufferSize");
    else
      check(cusolverDnDsyevd_bufferSize(solver_, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, n, a.data, lda,
                                        w.data, &lwork),
            "cusolverDnDsyevd_bufferSize");
    T* work = static_cast<T*>(workspace(sizeof(T) * static_cast<size_t>(lwork)));
    if constexpr (std::is_same_v<T, float>)
      check(cusolverDnSsyevd(solver_, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, n, a.data, lda, w.data, work,
                             lwork, info_),
            "cusolverDnSsyevd");
    else
      check(cusolverDnDsyevd(solver_, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, n, a.data, lda, w.data, work,
                             lwork, info_),
            "cusolverDnDsyevd");
    int info = 0;
    check(cudaMemcpyAsync(&info, info_, sizeof(int), cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync(info)");
    synchronize();
    if (info != 0) throw NumericalError("cusolverDn?syevd failed (info " + std::to_string(info) + ") on a " + a.shape() + " matrix");
    // Column-major eigenvectors are the rows of the row-major buffer: transpose in place via a copy.
    T* tmp = static_cast<T*>(allocate(sizeof(T) * static_cast<size_t>(n) * n));
    const T one = 1, zero = 0;
    if constexpr (std::is_same_v<T, float>)
      check(cublasSgeam(blas_, CUBLAS_OP_T, CUBLAS_OP_N, n, n, &one, a.data, lda, &zero, tmp, n, tmp, n), "cublasSgeam");
    else
      check(cublasDgeam(blas_, CUBLAS_OP_T, CUBLAS_OP_N, n, n, &one, a.data, lda, &zero, tmp, n, tmp, n), "cublasDgeam");
    check(cudaMemcpy2DAsync(a.data, sizeof(T) * a.ld, tmp, sizeof(T) * n, sizeof(T) * n, n, cudaMemcpyDeviceToDevice,
                            stream_),
          "cudaMemcpy2DAsync");
    synchronize();
    deallocate(tmp);
  }

  /// One after the other on the backend's stream (each syevd is already parallel on the device).
  template <class T>
  void syevd_many_impl(const std::vector<View<T>>& a, const std::vector<View<T>>& w) const {
    if (a.size() != w.size())
      throw DimensionMismatch("syevd_many: " + std::to_string(a.size()) + " matrices, " + std::to_string(w.size()) +
                              " eigenvalue vectors");
    for (size_t i = 0; i < a.size(); ++i) syevd_impl(a[i], w[i]);
  }

  template <class S, class D>
  void convert_impl(View<const S> s, View<D> d) const {
    if (s.rows != d.rows || s.cols != d.cols) throw DimensionMismatch("convert: " + s.shape() + " to " + d.shape());
    if (s.rows * s.cols == 0) return;
    convert_kernel<<<blocks(s.rows * s.cols), kThreads, 0, stream_>>>(s.data, s.ld, d.data, d.ld, s.rows, s.cols);
    check(cudaGetLastError(), "convert kernel");
  }
  template <class T>
  void copy_impl(View<const T> s, View<T> d) const {
    if (s.rows != d.rows || s.cols != d.cols) throw DimensionMismatch("copy: " + s.shape() + " to " + d.shape());
    if (s.rows * s.cols == 0) return;
    check(cudaMemcpy2DAsync(d.data, sizeof(T) * d.ld, s.data, sizeof(T) * s.ld, sizeof(T) * s.cols, s.rows,
                            cudaMemcpyDeviceToDevice, stream_),
          "cudaMemcpy2DAsync");
  }
  template <class T>
  void shrink_impl(View<const double> b, View<const double> s, View<const double> a, View<T> o) const {
    if (s.rows * s.cols != b.rows || a.rows * a.cols != b.cols || o.rows != b.rows || o.cols != b.cols)
      throw DimensionMismatch("shrink: b " + b.shape() + ", s " + s.shape() + ", alpha " + a.shape() + ", out " + o.shape());
    if (b.rows * b.cols == 0) return;
    shrink_kernel<<<blocks(b.rows * b.cols), kThreads, 0, stream_>>>(b.data, b.ld, s.data, a.data, o.data, o.ld, b.rows,
                                                                      b.cols);
    check(cudaGetLastError(), "shrink kernel");
  }
  template <class H>
  void moment_terms_impl(View<const double> b, View<const double> u, View<const H> h, View<double> out) const {
    const long r = b.rows, t = b.cols;
    if (u.rows != r || u.cols != t || h.rows != r || h.cols != t || out.rows != 3 * r || out.cols != t)
      throw DimensionMismatch("moment_terms: b " + b.shape() + ", u " + u.shape() + ", h " + h.shape() + ", out " +
                              out.shape() + " (expected 3·" + std::to_string(r) + " × " + std::to_string(t) + ")");
    if (r * t == 0) return;
    moment_terms_kernel<<<blocks(r * t), kThreads, 0, stream_>>>(b.data, b.ld, u.data, u.ld, h.data, h.ld, out.data,
                                                                   out.ld, r, t);
    check(cudaGetLastError(), "moment_terms kernel");
  }
  void add_pearson_moments_impl(View<const double> spp, View<const double> spy, View<const double> sp,
                                View<const double> y_mean, View<const double> y_ss, long m, double w,
                                View<double> r) const {
    const long na = spp.rows, t = spp.cols;
    if (spy.rows != na || spy.cols != t || sp.rows != na || sp.cols != t || y_mean.rows * y_mean.cols != t ||
        y_ss.rows * y_ss.cols != t || r.rows != na || r.cols != t)
      throw DimensionMismatch("add_pearson_moments: spp " + spp.shape() + ", spy " + spy.shape() + ", sp " +
                              sp.shape() + ", y_mean " + y_mean.shape() + ", y_ss " + y_ss.shape() + ", r " +
                              r.shape());
    if (t == 0) return;
    pearson_moments_kernel<<<blocks(t), kThreads, 0, stream_>>>(spp.data, spp.ld, spy.data, spy.ld, sp.data, sp.ld,
                                                                 y_mean.data, y_ss.data, m, na, t, w, r.data, r.ld);
    check(cudaGetLastError(), "pearson_moments kernel");
  }
  template <class T>
  void add_pearson_impl(View<const T> p, View<const T> y, double w, View<double> r) const {
    if (p.rows != y.rows || p.cols != y.cols || r.rows * r.cols != p.cols)
      throw DimensionMismatch("add_pearson: prediction " + p.shape() + ", measurement " + y.shape() + ", r " + r.shape());
    if (p.cols == 0) return;
    pearson_kernel<<<blocks(p.cols), kThreads, 0, stream_>>>(p.data, p.ld, y.data, y.ld, p.rows, p.cols, w, r.data);
    check(cudaGetLastError(), "pearson kernel");
  }
 private:
  void* workspace(size_t bytes) const {
    if (bytes > work_bytes_) {
      cudaFree(work_);
      work_ = nullptr;
      check(cudaMalloc(&work_, bytes), "cudaMalloc(workspace)");
      work_bytes_ = bytes;
    }
    return work_;
  }

  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cusolverDnHandle_t solver_ = nullptr;
  int* info_ = nullptr;
  mutable void* work_ = nullptr;
  mutable size_t work_bytes_ = 0;
};

}  // namespace

}  // namespace brainsweep

/// Entry point of the module (make_backend("cuda") loads it with dlopen; src/backends/cpu).
/// @throw DeviceUnavailable  if no CUDA device is visible
extern "C" __attribute__((visibility("default"))) brainsweep::Backend* brainsweep_make_cuda_backend() {
  return new brainsweep::CudaBackend();
}
