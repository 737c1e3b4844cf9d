// `brainsweep validate-submission`: the Algonauts 2025 scorer's checks, and its score on a dry run.
#include <cmath>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "brainsweep/config.hpp"
#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/npy.hpp"
#include "brainsweep/submit.hpp"

namespace brainsweep {

std::vector<double> pearson_columns(const MatrixD& a, const MatrixD& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    throw DimensionMismatch(fmt::format("pearson_columns: {}×{} vs {}×{}", a.rows(), a.cols(), b.rows(), b.cols()));
  std::vector<double> r(static_cast<size_t>(a.cols()));
  const double n = static_cast<double>(a.rows());
  for (long j = 0; j < a.cols(); ++j) {
    const double ma = a.col(j).sum() / n, mb = b.col(j).sum() / n;
    double sab = 0, saa = 0, sbb = 0;
    for (long i = 0; i < a.rows(); ++i) {
      const double da = a(i, j) - ma, db = b(i, j) - mb;
      sab += da * db;
      saa += da * da;
      sbb += db * db;
    }
    r[static_cast<size_t>(j)] = sab / std::sqrt(saa * sbb);  // 0/0 = NaN for a constant column
  }
  return r;
}

namespace {

/// The array as float64, row-major (little-endian f4 or f8).
MatrixD to_double(const npy::NdArray& a) {
  MatrixD m(a.shape[0], a.shape[1]);
  const size_t n = static_cast<size_t>(m.size());
  if (a.descr == "<f4") {
    for (size_t k = 0; k < n; ++k) {
      float x;
      std::memcpy(&x, a.data.data() + 4 * k, 4);
      m.data()[k] = x;
    }
  } else {
    std::memcpy(m.data(), a.data.data(), 8 * n);
  }
  return m;
}

}  // namespace

Validation validate_submission(const std::string& zip_path, const ValidateOptions& opt) {
  Validation v;
  auto problem = [&](const std::string& msg) { v.problems.push_back(msg); };
  const SampleCounts counts = read_sample_counts(opt.counts, opt.test_set, opt.subjects);

  std::vector<std::string> npys;
  for (const auto& e : zip_entries(zip_path))
    if (e.size() >= 4 && e.substr(e.size() - 4) == ".npy") npys.push_back(e);
  if (npys.size() != 1) {
    problem(fmt::format("{}: expected exactly one .npy file in the zip, found {}", zip_path, npys.size()));
    return v;
  }
  const std::string where = zip_path + ":" + npys.front();
  const std::string data = read_zip_entry(zip_path, npys.front());
  npy::ObjectNpy obj;
  try {
    obj = npy::parse_object_npy(data, where);
  } catch (const DataError& e) {
    problem(e.what());
    return v;
  }
  for (const auto& m : obj.pickle.globals)
    if (m.rfind("numpy._core", 0) == 0) {
      problem(where + ": the pickle names module '" + m +
              "' (written by NumPy 2); the scorer's NumPy 1.x cannot load it (use numpy.core)");
      break;
    }
  if (obj.item->kind != npy::PyValue::Kind::dict) {
    problem(where + ": expected a dict {subject: {episode: array}}, found a " + std::string(obj.item->kind_name()));
    return v;
  }
  std::map<std::string, npy::PyRef> subjects;
  for (const auto& [k, val] : obj.item->dict) {
    if (k->kind != npy::PyValue::Kind::str) {
      problem(where + ": a top-level key is a " + std::string(k->kind_name()) + ", not a subject name");
      continue;
    }
    subjects[k->s] = val;
    if (std::find(opt.subjects.begin(), opt.subjects.end(), k->s) == opt.subjects.end())
      problem(where + ": extra key '" + k->s + "' (subjects expected: " + fmt::format("{}", fmt::join(opt.subjects, ", ")) + ")");
  }
  std::map<std::string, std::map<std::string, npy::NdArray>> arrays;  // valid arrays
  for (const auto& sub : opt.subjects) {
    if (!subjects.count(sub)) {
      problem(where + ": subject " + sub + " is missing");
      continue;
    }
    const auto& d = subjects.at(sub);
    if (d->kind != npy::PyValue::Kind::dict) {
      problem(where + ": " + sub + ": expected a dict {episode: array}, found a " + std::string(d->kind_name()));
      continue;
    }
    std::map<std::string, npy::PyRef> eps;
    for (const auto& [k, val] : d->dict)
      if (k->kind == npy::PyValue::Kind::str) eps[k->s] = val;
    std::set<std::string> expected;
    for (const auto& [ep, n] : counts.at(sub)) expected.insert(ep);
    for (const auto& [ep, val] : eps)
      if (!expected.count(ep)) problem(where + ": " + sub + ", episode '" + ep + "' is extra (not in the sample counts)");
    for (const auto& [ep, n] : counts.at(sub)) {
      const std::string at = where + ": " + sub + ", episode '" + ep + "'";
      if (!eps.count(ep)) {
        problem(at + " is missing");
        continue;
      }
      npy::NdArray a;
      try {
        a = npy::as_ndarray(eps.at(ep), at);
      } catch (const DataError& e) {
        problem(e.what());
        continue;
      }
      bool ok = true;
      if (a.shape.size() != 2 || a.shape[0] != n || a.shape[1] != opt.n_parcels) {
        problem(fmt::format("{}: shape ({}) (expected ({}, {}))", at, fmt::join(a.shape, ", "), n, opt.n_parcels));
        if (a.shape.size() != 2) continue;
        ok = false;  // a 2-D array of the wrong shape: its values are still checked below (issue #25)
      }
      if (a.descr != "<f4" && a.descr != "<f8") {
        problem(at + ": dtype " + a.descr + " (expected float32)");
        continue;
      }
      // Every problem of the array, not just the first: all non-finite values (counted, the first
      // named) and every constant parcel (listed; a column with a NaN is not tested for constancy).
      const MatrixD m = to_double(a);
      long non_finite = 0, fi = -1, fj = -1;
      std::vector<long> constant;
      for (long j = 0; j < m.cols(); ++j) {
        bool finite_col = true;
        for (long i = 0; i < m.rows(); ++i)
          if (!std::isfinite(m(i, j))) {
            if (non_finite++ == 0) fi = i, fj = j;
            finite_col = false;
          }
        if (finite_col && m.rows() > 0 && (m.col(j).array() == m(0, j)).all()) constant.push_back(j);
      }
      if (non_finite > 0) {
        problem(fmt::format("{}: {} non-finite value{} (the first at sample {}, parcel {})", at, non_finite,
                            non_finite == 1 ? "" : "s", fi, fj));
        ok = false;
      }
      if (!constant.empty()) {
        const size_t shown = std::min<size_t>(constant.size(), 20);
        problem(fmt::format("{}: parcel {}{} constant ({} parcel{}); Pearson r would be NaN", at,
                            fmt::join(constant.begin(), constant.begin() + static_cast<long>(shown), ", "),
                            constant.size() > shown ? ", ..." : "", constant.size(), constant.size() == 1 ? "" : "s"));
        ok = false;
      }
      if (ok) arrays[sub][ep] = a;
    }
  }
  if (!v.problems.empty() || opt.descriptor.empty()) return v;

  // Score as the server does (DATA.md): exclusion, movies concatenated, r per parcel, means.
  const auto d = DatasetDescriptor::load(opt.descriptor, opt.root.empty() ? std::nullopt : std::optional(opt.root));
  double sum_subjects = 0;
  for (const auto& sub : opt.subjects) {
    std::vector<std::string> movies;
    std::map<std::string, std::vector<MatrixD>> pred_parts, true_parts;
    for (const auto& [ep, n] : counts.at(sub)) {
      const std::string file = d.fmri_file(sub, opt.atlas, ep);
      const MatrixF y = read_fmri(file, fmri_dataset_of(file, ep, d.fmri_key(ep)));
      if (y.rows() != n || y.cols() != opt.n_parcels)
        throw DataError(fmt::format("{}: episode '{}' of {} is {}×{}, the sample counts say ({}, {})", file, ep, sub,
                                    y.rows(), y.cols(), n, opt.n_parcels));
      const long keep = n - opt.exclude_start - opt.exclude_end;
      if (keep < 2) throw DataError(fmt::format("{}: episode '{}' has {} samples, too few after exclusion", file, ep, n));
      const std::string movie = d.movie_of(ep);
      if (!pred_parts.count(movie)) movies.push_back(movie);
      pred_parts[movie].push_back(to_double(arrays[sub][ep]).middleRows(opt.exclude_start, keep));
      true_parts[movie].push_back(y.cast<double>().middleRows(opt.exclude_start, keep));
    }
    double sum_movies = 0;
    for (const auto& movie : movies) {
      long rows = 0;
      for (const auto& m : pred_parts[movie]) rows += m.rows();
      MatrixD p(rows, opt.n_parcels), t(rows, opt.n_parcels);
      for (size_t k = 0, at = 0; k < pred_parts[movie].size(); at += static_cast<size_t>(pred_parts[movie][k].rows()), ++k) {
        p.middleRows(static_cast<long>(at), pred_parts[movie][k].rows()) = pred_parts[movie][k];
        t.middleRows(static_cast<long>(at), true_parts[movie][k].rows()) = true_parts[movie][k];
      }
      const auto r = pearson_columns(p, t);
      double mean = 0;
      for (double x : r) mean += x;
      mean /= static_cast<double>(r.size());
      v.movie_r[sub][movie] = mean;
      sum_movies += mean;
    }
    sum_subjects += sum_movies / static_cast<double>(movies.size());
  }
  v.score = sum_subjects / static_cast<double>(opt.subjects.size());
  v.scored = true;
  return v;
}

}  // namespace brainsweep
