// The Python extension module `brainsweep._engine` (issue #15): the ridge engine of `brainsweep
// ridge` on numpy arrays. The estimator in scikit-learn's conventions (`brainsweep.RidgeCV`) and the
// readers of run directories are Python, in python/brainsweep/__init__.py; this file only moves
// arrays in and out of the engine and turns its exceptions into Python ones.
#include <optional>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "brainsweep/backend.hpp"
#include "brainsweep/blas_core.hpp"
#include "brainsweep/build_config.hpp"
#include "brainsweep/config.hpp"
#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/ridge.hpp"
#include "brainsweep/ridge_command.hpp"
#include "brainsweep/rsa.hpp"
#include "brainsweep/scoring.hpp"

namespace py = pybind11;
namespace bs = brainsweep;

namespace {

/// A float32 C-ordered n × p copy of a 2-D numpy array for the engine, which standardises its input
/// in place (the caller's array is never modified). A C-contiguous float32 array is copied with one
/// memcpy; any other dtype or layout is converted by numpy first. The array must be finite.
/// @throw py::value_error  naming `name` when it is not 2-D, is empty, or holds NaN/Inf
bs::MatrixF to_matrix(const py::handle& obj, const char* name) {
  py::array any = py::array::ensure(obj);
  if (!any) throw py::value_error(std::string(name) + ": expected a numpy array (or array-like), found " +
                                  std::string(py::str(py::type::of(obj))));
  if (any.ndim() != 2)
    throw py::value_error(std::string(name) + ": expected a 2-D array (samples × columns), found " +
                          std::to_string(any.ndim()) + "-D");
  auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(any);
  if (!a) throw py::value_error(std::string(name) + ": cannot be converted to float32");
  if (a.shape(0) == 0 || a.shape(1) == 0)
    throw py::value_error(std::string(name) + ": expected a non-empty array, found shape (" +
                          std::to_string(a.shape(0)) + ", " + std::to_string(a.shape(1)) + ")");
  bs::MatrixF m = Eigen::Map<const bs::MatrixF>(a.data(), a.shape(0), a.shape(1));
  try {
    bs::check_finite(m, name);
  } catch (const bs::Error& e) {
    throw py::value_error(e.what());
  }
  return m;
}

template <class M>
py::array_t<typename M::Scalar> to_numpy(const M& m) {
  py::array_t<typename M::Scalar> out({static_cast<py::ssize_t>(m.rows()), static_cast<py::ssize_t>(m.cols())});
  std::copy(m.data(), m.data() + m.size(), out.mutable_data());
  return out;
}

py::array_t<double> to_numpy(const std::vector<double>& v) {
  py::array_t<double> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

py::array_t<double> to_numpy(const bs::VectorD& v) {
  py::array_t<double> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.data(), v.data() + v.size(), out.mutable_data());
  return out;
}

/// A fitted model and the backend it was fitted on (predict uses the same one).
struct Fitted {
  std::shared_ptr<bs::Backend> backend;
  bs::RidgeModel model;
  double fit_s = 0;
};

std::shared_ptr<Fitted> fit(const py::handle& x_obj, const py::handle& y_obj, std::vector<double> alphas, int cv,
                            const std::string& backend, int threads, const std::string& precision,
                            const std::string& solver, long target_batch, std::optional<std::vector<int>> folds,
                            std::optional<std::vector<double>> column_scale) {
  bs::MatrixF x = to_matrix(x_obj, "X");
  bs::MatrixF y = to_matrix(y_obj, "Y");
  if (x.rows() != y.rows())
    throw py::value_error("X has " + std::to_string(x.rows()) + " samples, Y has " + std::to_string(y.rows()) +
                          " (expected the same training samples)");
  if (folds && static_cast<long>(folds->size()) != x.rows())
    throw py::value_error("folds: " + std::to_string(folds->size()) + " fold indices for " + std::to_string(x.rows()) +
                          " samples");
  if (cv < 2 || cv > x.rows())
    throw py::value_error("cv: expected 2 <= cv <= n_samples (" + std::to_string(x.rows()) + "), found " +
                          std::to_string(cv));
  if (threads < 0) throw py::value_error("threads: expected >= 0 (0: the BLAS default), found " + std::to_string(threads));
  auto out = std::make_shared<Fitted>();
  const bs::RidgeOptions opt = bs::ridge_options(std::move(alphas), precision, solver, target_batch);
  out->backend = bs::make_backend(backend, threads);
  {
    py::gil_scoped_release release;  // the fit holds no Python object
    const auto t0 = std::chrono::steady_clock::now();
    out->model = bs::fit_ridge_model(*out->backend, std::move(x), std::move(y), cv, opt, folds ? &*folds : nullptr,
                                     column_scale ? &*column_scale : nullptr);
    out->fit_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return out;
}

py::array_t<float> predict(const Fitted& f, const py::handle& x_obj) {
  bs::MatrixF x = to_matrix(x_obj, "X");
  if (x.cols() != f.model.fit.weights.rows())
    throw py::value_error("X has " + std::to_string(x.cols()) + " features, the model was fitted on " +
                          std::to_string(f.model.fit.weights.rows()));
  bs::MatrixF pred;
  {
    py::gil_scoped_release release;
    pred = bs::predict_ridge_model(*f.backend, f.model, std::move(x));
  }
  return to_numpy(pred);
}

}  // namespace

PYBIND11_MODULE(_engine, m) {
  m.doc() = "brainsweep's ridge engine (ENCODING.md); use the estimator brainsweep.RidgeCV.";
  m.attr("__version__") = BRAINSWEEP_VERSION;
  m.attr("FLOAT32_REFUSED") = bs::kFloat32Refused;

  // Input and option errors are ValueError (they name the argument); the rest RuntimeError.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const bs::ConfigError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const bs::DataError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const bs::DimensionMismatch& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  py::class_<Fitted, std::shared_ptr<Fitted>>(m, "Fitted", "A fitted ridge model (returned by fit).")
      .def_property_readonly("alphas", [](const Fitted& f) { return to_numpy(f.model.fit.alpha); },
                             "chosen alpha per target, shape (n_targets,)")
      .def_property_readonly("cv_scores", [](const Fitted& f) { return to_numpy(f.model.fit.cv_scores); },
                             "mean held-out Pearson r over folds, shape (n_alphas, n_targets)")
      .def_property_readonly("alpha_grid", [](const Fitted& f) { return to_numpy(f.model.alphas); },
                             "the candidate alphas, ascending, shape (n_alphas,)")
      .def_property_readonly("weights", [](const Fitted& f) { return to_numpy(f.model.fit.weights); },
                             "weights for z-scored X and centred Y, float32, shape (n_features, n_targets)")
      .def_property_readonly("x_mean", [](const Fitted& f) { return to_numpy(f.model.x_stats.mean); })
      .def_property_readonly("x_inv_std", [](const Fitted& f) { return to_numpy(f.model.x_stats.inv_std); })
      .def_property_readonly("y_mean", [](const Fitted& f) { return to_numpy(f.model.y_mean); })
      .def_property_readonly("solver", [](const Fitted& f) { return f.model.fit.solver; })
      .def_property_readonly("backend", [](const Fitted& f) { return f.backend->name(); })
      .def_property_readonly(
          "timings",
          [](const Fitted& f) {
            const auto& t = f.model.fit.timings;
            py::dict d;
            d["gram_s"] = t.gram_s;
            d["decompose_s"] = t.decompose_s;
            d["cv_s"] = t.cv_s;
            d["refit_s"] = t.refit_s;
            d["gram_gflop"] = t.gram_gflop;
            d["decompose_gflop"] = t.decompose_gflop;
            d["cv_gflop"] = t.cv_gflop;
            d["refit_gflop"] = t.refit_gflop;
            return d;
          },
          "seconds and GFLOP of each phase of the fit (as `brainsweep ridge --timings`)")
      .def_property_readonly("fit_seconds", [](const Fitted& f) { return f.fit_s; },
                             "wall time of the engine's fit (standardisation, CV, refit), seconds")
      .def("predict", &predict, py::arg("X"), "predictions for X (n_samples, n_features): float32 (n_samples, n_targets)");

  m.def(
      "restore",
      [](const std::string& backend, int threads, const py::handle& x_mean, const py::handle& x_inv_std,
         const py::handle& weights, const py::handle& y_mean, const std::string& solver) {
        // A fitted model from its arrays (unpickling RidgeCV): what predict needs, on `backend`.
        auto vec = [](const py::handle& h, const char* name) {
          auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(h);
          if (!a || a.ndim() != 1) throw py::value_error(std::string(name) + ": expected a 1-D array");
          return bs::VectorD(Eigen::Map<const bs::VectorD>(a.data(), a.shape(0)));
        };
        auto out = std::make_shared<Fitted>();
        out->model.x_stats = {vec(x_mean, "x_mean"), vec(x_inv_std, "x_inv_std")};
        out->model.y_mean = vec(y_mean, "y_mean");
        out->model.fit.weights = to_matrix(weights, "weights");
        out->model.fit.solver = solver;
        if (out->model.fit.weights.rows() != out->model.x_stats.mean.size() ||
            out->model.fit.weights.cols() != out->model.y_mean.size())
          throw py::value_error("weights: shape does not match x_mean and y_mean");
        out->backend = bs::make_backend(backend, threads);
        return out;
      },
      py::arg("backend"), py::arg("threads"), py::arg("x_mean"), py::arg("x_inv_std"), py::arg("weights"),
      py::arg("y_mean"), py::arg("solver"), "A fitted model from its arrays (RidgeCV's unpickling).");
  m.def("fit", &fit, py::arg("X"), py::arg("Y"), py::arg("alphas"), py::arg("cv"), py::arg("backend"),
        py::arg("threads"), py::arg("precision"), py::arg("solver"), py::arg("target_batch"),
        py::arg("folds") = py::none(), py::arg("column_scale") = py::none(),
        "Fit ridge with one alpha per target chosen by contiguous K-fold CV (ENCODING.md §2-4), as "
        "`brainsweep ridge`; `folds`: the fold of every row (contiguous blocks), else K blocks. Empty alphas: "
        "ENCODING.md's grid. `column_scale`: factors multiplying the standardised columns (a banded fit's √γ_k).");
  m.def("dirichlet_samples", &bs::dirichlet_samples, py::arg("n"), py::arg("b"), py::arg("concentrations"),
        py::arg("seed"),
        "The scalings a sweep's banded set draws (config.hpp): n points of the b-simplex, sample i from "
        "Dirichlet(concentrations[i mod len]), a counter-based stream (the same on every platform).");
  m.def(
      "split_scores",
      [](const py::handle& y_obj, const std::vector<py::handle>& parts) {
        // float32 C-ordered views (a copy only where numpy must convert), checked, then one pass
        using F = py::array_t<float, py::array::c_style | py::array::forcecast>;
        auto view = [](const py::handle& obj, const std::string& name) {
          py::array any = py::array::ensure(obj);
          if (!any || any.ndim() != 2)
            throw py::value_error(name + ": expected a 2-D array (samples × targets)" +
                                  (any ? ", found " + std::to_string(any.ndim()) + "-D" : std::string()));
          F a = F::ensure(any);
          if (!a) throw py::value_error(name + ": cannot be converted to float32");
          return a;
        };
        // NaN/Inf reach the sums: only then is the input scanned, to name the first bad entry
        auto check_finite = [](const F& a, const std::string& name) {
          const float* d = a.data();
          for (py::ssize_t i = 0; i < a.size(); ++i)
            if (!std::isfinite(d[i]))
              throw py::value_error(name + ": contains a non-finite value at row " + std::to_string(i / a.shape(1)) +
                                    ", column " + std::to_string(i % a.shape(1)));
        };
        const F y = view(y_obj, "Y");
        std::vector<F> keep;
        std::vector<const float*> ptrs;
        for (size_t k = 0; k < parts.size(); ++k) {
          keep.push_back(view(parts[k], "Y_split[" + std::to_string(k) + "]"));
          if (keep.back().shape(0) != y.shape(0) || keep.back().shape(1) != y.shape(1))
            throw py::value_error("Y_split[" + std::to_string(k) + "]: shape (" + std::to_string(keep.back().shape(0)) +
                                  ", " + std::to_string(keep.back().shape(1)) + "), Y (" + std::to_string(y.shape(0)) +
                                  ", " + std::to_string(y.shape(1)) + ")");
          ptrs.push_back(keep.back().data());
        }
        bs::SplitScores s;
        {
          py::gil_scoped_release release;
          s = bs::split_scores(y.data(), ptrs, y.shape(0), y.shape(1));
        }
        if (!s.r.allFinite() || !std::all_of(s.r2_joint.begin(), s.r2_joint.end(), [](double v) { return !std::isinf(v); })) {
          check_finite(y, "Y");
          for (size_t k = 0; k < keep.size(); ++k) check_finite(keep[k], "Y_split[" + std::to_string(k) + "]");
        }
        py::dict d;
        d["r"] = to_numpy(s.r);
        d["r2"] = to_numpy(s.r2);
        d["r2_alone"] = to_numpy(s.r2_alone);
        d["r2_joint"] = to_numpy(s.r2_joint);
        return d;
      },
      py::arg("Y"), py::arg("parts"),
      "himalaya's correlation_score_split and r2_score_split (scoring.hpp's split_eval_set on one movie): "
      "Y (n, t) and each band's part of the prediction (n, t), no intercept.");
  m.def("fold_assignment", &bs::fold_assignment, py::arg("run_lengths"), py::arg("k"),
        "The fold of every row over runs of these lengths, as `brainsweep run` assigns them (ENCODING.md §4): "
        "whole runs per fold when there are at least k runs, else k contiguous blocks.");
  m.def(
      "pearson_r",
      [](const py::handle& pred, const py::handle& truth) {
        auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(pred);
        auto b = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(truth);
        if (!a || !b || a.ndim() != 2 || b.ndim() != 2 || a.shape(0) != b.shape(0) || a.shape(1) != b.shape(1))
          throw py::value_error("pred and truth: expected two 2-D arrays of one shape, found " +
                                std::string(py::str(py::array::ensure(pred).attr("shape"))) + " and " +
                                std::string(py::str(py::array::ensure(truth).attr("shape"))));
        const bs::MatrixD x = Eigen::Map<const bs::MatrixD>(a.data(), a.shape(0), a.shape(1));
        const bs::MatrixD y = Eigen::Map<const bs::MatrixD>(b.data(), b.shape(0), b.shape(1));
        return to_numpy(bs::column_pearson(x, y));
      },
      py::arg("pred"), py::arg("truth"), "Pearson r per column in float64; zero variance scores 0 (ENCODING.md §4)");

  // RSA (METRICS.md §2) on numpy arrays: the engine's functions of `brainsweep rsa`.
  m.def(
      "rdm",
      [](const py::handle& patterns, const std::string& distance) {
        auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(patterns);
        if (!a || a.ndim() != 2) throw py::value_error("patterns: expected a 2-D array (conditions × channels)");
        const bs::MatrixD p = Eigen::Map<const bs::MatrixD>(a.data(), a.shape(0), a.shape(1));
        const bs::Rdm r = bs::rdm_from_patterns(p, distance);
        if (!r.undefined.empty())  // never NaN entries or a made-up distance (issue #25)
          throw py::value_error("patterns: the RDM is not defined: " + r.undefined +
                                " (use distance='euclidean', or other patterns)");
        return to_numpy(r.v);
      },
      py::arg("patterns"), py::arg("distance") = "correlation");
  m.def(
      "rdm_vector",
      [](const py::handle& matrix) {
        auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(matrix);
        if (!a || a.ndim() != 2) throw py::value_error("rdm: expected a 2-D array (conditions × conditions)");
        const bs::MatrixD m = Eigen::Map<const bs::MatrixD>(a.data(), a.shape(0), a.shape(1));
        return to_numpy(bs::rdm_from_matrix(m, "rdm").v);
      },
      py::arg("rdm"));
  m.def(
      "compare",
      [](const std::vector<double>& x, const std::vector<double>& y, const std::string& method) {
        return bs::compare_rdms(x, y, bs::parse_comparison(method, "method"));
      },
      py::arg("x"), py::arg("y"), py::arg("method") = "corr");
  m.def(
      "noise_ceiling",
      [](const std::vector<std::vector<double>>& rdms, const std::string& method) {
        return bs::noise_ceiling(rdms, bs::parse_comparison(method, "method"));
      },
      py::arg("rdms"), py::arg("method") = "corr");
  m.def("blas_info", &bs::blas_description,
        "the OpenBLAS in use: version, kernels (core) and threads, as `brainsweep --version` prints");
  m.def("default_alphas", [] { return bs::ridge_options({}, "mixed", "auto", 1).alphas; },
        "ENCODING.md's alpha grid: 10^-1 ... 10^7, 17 values");
}
