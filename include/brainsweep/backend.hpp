#pragma once
/// Dense kernels the ridge algorithm is written against (STYLE.md: algorithm apart from kernels).
/// `src/ridge/` only calls these; `src/backends/<name>/` implements them.
#include <memory>
#include <string>

#include "brainsweep/matrix.hpp"

namespace brainsweep {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  /// c = op(a) · op(b), float32, op = transpose when the flag is set. c is resized.
  /// @throw DimensionMismatch  if the inner dimensions differ
  virtual void gemm(bool trans_a, bool trans_b, const MatrixF& a, const MatrixF& b, MatrixF& c) const = 0;
  /// The same in float64.
  virtual void gemm(bool trans_a, bool trans_b, const MatrixD& a, const MatrixD& b, MatrixD& c) const = 0;
  /// Symmetric eigendecomposition in float64 (LAPACK ?syevd): on return the columns of `a` are the
  /// eigenvectors and `w` the eigenvalues, ascending. @throw NumericalError if it does not converge
  virtual void syevd(MatrixD& a, VectorD& w) const = 0;
};

/// The backend named `name` ("cpu" or "cuda").
/// @throw NotCompiled  for "cuda" in a build without CUDA (no silent fallback to the CPU)
/// @throw ConfigError  for an unknown name
std::unique_ptr<Backend> make_backend(const std::string& name);

}  // namespace brainsweep
