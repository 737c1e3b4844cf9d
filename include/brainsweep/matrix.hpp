#pragma once
/// Dense matrix types. Everything is row-major, like HDF5 datasets and C arrays, so a matrix
/// read from a file is used as is; BLAS calls state `CblasRowMajor` explicitly.
#include <Eigen/Dense>

namespace brainsweep {
using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VectorD = Eigen::VectorXd;
using VectorF = Eigen::VectorXf;
}  // namespace brainsweep
