// `brainsweep submit`: stitched test-set predictions → fmri_predictions_<set>.npy in a stored zip.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/npy.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/submit.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

namespace {

/// Checks of one prediction matrix, as the scorer would fail on them.
void check_prediction(const MatrixF& m, long n_samples, long n_parcels, const std::string& where) {
  if (m.rows() != n_samples || m.cols() != n_parcels)
    throw DataError(fmt::format("{}: prediction is {}×{}, the scorer expects ({}, {}) (sample count × parcels)", where,
                                m.rows(), m.cols(), n_samples, n_parcels));
  for (long i = 0; i < m.rows(); ++i)
    for (long j = 0; j < m.cols(); ++j)
      if (!std::isfinite(m(i, j)))
        throw DataError(fmt::format("{}: non-finite value ({}) at sample {}, parcel {}", where, m(i, j), i, j));
  for (long j = 0; j < m.cols(); ++j) {
    bool constant = true;
    for (long i = 1; i < m.rows() && constant; ++i) constant = m(i, j) == m(0, j);
    if (constant)
      throw DataError(fmt::format("{}: parcel {} is constant ({}) over all {} samples; the scorer's Pearson r "
                                  "would be NaN",
                                  where, j, m.rows() ? m(0, j) : 0.0f, m.rows()));
  }
}

}  // namespace

std::string submit(const std::string& run_dir, const SubmitOptions& opt, std::ostream& report) {
  if (opt.n_parcels < 1) throw ConfigError("--parcels: expected >= 1, found " + std::to_string(opt.n_parcels));
  if (opt.subjects.empty()) throw ConfigError("--subjects: expected at least one subject");
  for (size_t i = 0; i < opt.subjects.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (opt.subjects[i] == opt.subjects[j])
        throw ConfigError("--subjects: '" + opt.subjects[i] + "' is listed twice; list each subject once");
  fs::check_output_parent((sfs::path(opt.out_dir) / "x.zip").string(), "--out");
  const Plan p = Plan::load(run_dir);
  const TestSet& t = p.test_set(opt.test_set);
  {  // the final name must be free for a file: a directory there failed the rename after the whole zip was built
    const std::string npy = submission_npy_name(t.name);
    const auto zip_name = sfs::path(opt.out_dir) / (npy.substr(0, npy.size() - 4) + ".zip");
    std::error_code ec;
    if (sfs::is_directory(zip_name, ec))
      throw ConfigError("--out " + opt.out_dir + ": " + zip_name.string() + " is a directory; the submission needs that name "
                        "for its zip (remove or rename the directory, or choose another --out)");
    if (sfs::exists(zip_name, ec) && !opt.overwrite)  // one rule: a named output is not replaced unasked
      throw ConfigError("--out " + opt.out_dir + ": " + zip_name.string() + " exists; refusing to replace it (--overwrite "
                        "replaces it)");
  }
  const std::string stitched = (sfs::path(run_dir) / "stitched" / ("test_" + t.name + ".h5")).string();
  if (!sfs::exists(stitched))
    throw DataError(stitched + ": missing; run `brainsweep stitch " + run_dir + " ...` first");
  // What the scorer expects: every episode of the count files, for every required subject.
  const SampleCounts counts = read_sample_counts(t.counts_source, t.name, opt.subjects);

  const h5::File f(stitched);
  std::set<std::string> present_subjects;
  for (const auto& s : f.list()) present_subjects.insert(s);
  for (const auto& s : present_subjects)
    if (std::find(opt.subjects.begin(), opt.subjects.end(), s) == opt.subjects.end())
      throw DataError(stitched + ": extra subject '" + s + "' (the submission holds exactly " +
                      fmt::format("{}", fmt::join(opt.subjects, ", ")) + ")");
  for (const auto& sub : opt.subjects) {
    if (!present_subjects.count(sub))
      throw DataError(stitched + ": subject " + sub + " is missing (test set '" + t.name +
                      "'; the sweep must include every subject the scorer requires)");
    const auto& eps = counts.at(sub);
    std::set<std::string> expected;
    for (const auto& [ep, n] : eps) expected.insert(ep);
    for (const auto& ep : f.list(sub))
      if (!expected.count(ep))
        throw DataError(stitched + ": " + sub + ", episode '" + ep + "' is extra (not in the sample counts " +
                        sample_counts_file(t.counts_source, t.name, sub) + " of test set '" + t.name + "')");
    for (const auto& [ep, n] : eps) {
      const std::string where = fmt::format("{}: {}, episode '{}'", stitched, sub, ep);
      if (!f.has(sub + "/" + ep))
        throw DataError(where + " is missing (the sample counts list it with " + std::to_string(n) + " samples)");
      check_prediction(f.read_f32(sub + "/" + ep), n, opt.n_parcels, where);
    }
  }

  // Everything checked: stream the npy into a temporary file, zip it, remove it.
  sfs::create_directories(opt.out_dir);
  const std::string npy_name = submission_npy_name(t.name);
  const std::string zip_path = (sfs::path(opt.out_dir) / (npy_name.substr(0, npy_name.size() - 4) + ".zip")).string();
  const std::string npy_tmp = fs::temp_name((sfs::path(opt.out_dir) / npy_name).string());
  std::vector<std::pair<std::string, std::vector<npy::ArrayEntry>>> dict;
  long total = 0;
  for (const auto& sub : opt.subjects) {
    dict.emplace_back(sub, std::vector<npy::ArrayEntry>{});
    for (const auto& [ep, n] : counts.at(sub)) {
      const std::string name = sub + "/" + ep;
      dict.back().second.push_back({ep, n, opt.n_parcels, [&f, name]() { return f.read_f32(name); }});
      total += n;
    }
  }
  try {
    {
      std::ofstream out(npy_tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw Error(npy_tmp + ": cannot write");
      npy::write_nested_float_dict(out, dict);
      out.close();
      if (!out) throw Error(npy_tmp + ": write failed (disk full?)");
    }
    write_stored_zip(zip_path, npy_name, npy_tmp);
  } catch (...) {
    std::error_code ec;
    sfs::remove(npy_tmp, ec);
    throw;
  }
  const auto npy_size = sfs::file_size(npy_tmp);
  sfs::remove(npy_tmp);
  report << fmt::format("{}: {} subjects, {} episodes per subject, {} samples in all, {} parcels\n", t.name,
                        opt.subjects.size(), counts.at(opt.subjects.front()).size(), total, opt.n_parcels);
  report << fmt::format("wrote {} ({} bytes; {} stored inside, {} bytes)\n", zip_path, sfs::file_size(zip_path),
                        npy_name, npy_size);
  return zip_path;
}

}  // namespace brainsweep
