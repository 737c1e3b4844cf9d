// Job files, unit records and results.csv (docs/plan-format.md, docs/results-format.md): what every kind
// of unit writes and what `run`, `gather`, `status` and `stitch` read, apart from how units are computed.
#include "brainsweep/job_files.hpp"

#include <bit>
#include <cmath>
#include <tuple>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/csv.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/partition.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

std::string unit_marker_path(const std::string& run_dir, const std::string& unit_id) {
  return (sfs::path(run_dir) / "units" / (unit_id + ".done")).string();
}

void write_job_identity(h5::File& f, const Plan& p, const Unit& u, const std::string& job_id, const std::string& subject) {
  f.write_string_attr1("job_id", job_id);
  f.write_string_attr1("unit_id", u.unit_id);
  f.write_string_attr1("subject", subject);
  f.write_string_attr1("plan_checksum", p.checksum);
  f.write_string_attr1("model", u.model);
  f.write_string_attr1("layers", fmt::format("{}", fmt::join(u.layers, "+")));
  f.write_int_attr("hrf_delay", u.hrf_delay);
  f.write_int_attr("stimulus_window", u.stimulus_window);
}

std::string job_file_path(const std::string& run_dir, const std::string& job_id) {
  return (sfs::path(run_dir) / "jobs" / (job_id + ".h5")).string();
}

namespace {
/// Why the open job file `f` is not the file of `job` in plan `p`, or "".
std::string identity_problem(const h5::File& f, const Plan& p, const Job& job) {
  for (const auto& [attr, expected] : {std::pair<std::string, std::string>{"job_id", job.job_id},
                                       {"subject", job.subject},
                                       {"plan_checksum", p.checksum}}) {
    const std::string found = f.read_string_attr1(attr);
    if (found != expected)
      return fmt::format("{}: attribute '{}' is '{}', expected '{}' (the file of {}; a job file must not be copied, "
                         "linked or kept from another run)",
                         f.path(), attr, found, expected,
                         attr == "plan_checksum" ? (found.empty() ? "an earlier brainsweep" : "another plan")
                                                 : "another job");
  }
  return "";
}
}  // namespace

std::string job_file_problem(const Plan& p, const Job& job, const std::string& run_dir) {
  const std::string path = job_file_path(run_dir, job.job_id);
  std::error_code ec;
  if (!sfs::exists(path, ec)) return path + ": missing";
  try {
    return identity_problem(h5::File(path), p, job);
  } catch (const std::exception& e) {
    return std::string("unreadable: ") + e.what();
  }
}

h5::File open_job_file(const Plan& p, const Job& job, const std::string& run_dir) {
  const std::string path = job_file_path(run_dir, job.job_id);
  std::error_code ec;
  if (!sfs::exists(path, ec)) throw DataError(path + ": missing");
  std::unique_ptr<h5::File> f;  // opened once: checked, then handed to the caller
  std::string problem;
  try {
    f = std::make_unique<h5::File>(path);
    problem = identity_problem(*f, p, job);
  } catch (const std::exception& e) {
    problem = std::string("unreadable: ") + e.what();
  }
  if (!problem.empty()) throw DataError(problem);
  return std::move(*f);
}

std::string unit_record_problem(const Plan& p, const Unit& u, const std::string& run_dir) {
  std::error_code ec;
  if (!sfs::exists(unit_marker_path(run_dir, u.unit_id), ec)) return "";
  for (size_t k = 0; k < u.job_ids.size(); ++k) {  // job k of a unit is the job of its subject k
    const Job job{u.job_ids[k], u.unit_id, u.model, u.layers, u.hrf_delay, u.stimulus_window, u.subjects[k], u.bands, u.gamma, u.encoder, u.partition, u.estimator};
    const std::string problem = job_file_problem(p, job, run_dir);
    if (!problem.empty()) return problem;
  }
  return "";
}

bool unit_done(const Plan& p, const Unit& u, const std::string& run_dir) {
  std::error_code ec;
  return sfs::exists(unit_marker_path(run_dir, u.unit_id), ec) && unit_record_problem(p, u, run_dir).empty();
}

void write_results_pls_csv(const Plan& p, const std::string& run_dir) {
  const auto path = sfs::path(run_dir) / "results_pls.csv";
  if (!p.pls) {
    std::error_code ec;
    sfs::remove(path, ec);  // an earlier plan's would not be this one's
    return;
  }
  std::ostringstream out;
  out << "job_id,feature_set,hrf_delay,stimulus_window,subject,parcel,n_components,cv_r\n";
  for (const auto& job : p.jobs) {
    if (job.estimator != "pls") continue;
    const h5::File f = open_job_file(p, job, run_dir);
    const auto names = f.read_string_attr("/", "parcel_names");
    const auto k = f.read_f64("n_components"), cv = f.read_f64("cv_r");
    for (size_t j = 0; j < names.size(); ++j)
      out << fmt::format("{},{},{},{},{},{},{},{}\n", job.job_id, csv_text(job.layers.front()), job.hrf_delay,
                         job.stimulus_window, csv_text(job.subject), csv_text(names[j]), static_cast<long>(k.at(j)),
                         std::isnan(cv.at(j)) ? std::string() : fmt::format("{:.9g}", cv.at(j)));
  }
  fs::write_text_atomic(path.string(), out.str());
}

void write_results_split_csv(const Plan& p, const std::string& run_dir) {
  const auto path = sfs::path(run_dir) / "results_split.csv";
  const bool any_banded = std::any_of(p.jobs.begin(), p.jobs.end(), [](const Job& j) { return j.split_by_band(); });
  if (!any_banded || p.eval.empty()) {
    std::error_code ec;
    sfs::remove(path, ec);  // an earlier plan's would not be this one's
    return;
  }
  std::ostringstream out;
  out << "job_id,subject,parcel,eval_set,band,gamma,r_split,r2_split,r2_alone,r2\n";
  for (const auto& job : p.jobs) {
    if (!job.split_by_band()) continue;
    const h5::File f = open_job_file(p, job, run_dir);
    const auto names = f.read_string_attr("/", "parcel_names");
    const long P = static_cast<long>(names.size()), B = static_cast<long>(job.bands.size());
    for (const auto& e : p.eval) {
      const std::string g = "eval/" + e.name + "/";
      const auto r = f.read_f64(g + "r_split"), r2 = f.read_f64(g + "r2_split"), alone = f.read_f64(g + "r2_alone"),
                 joint = f.read_f64(g + "r2");
      if (static_cast<long>(r.size()) != B * P || static_cast<long>(joint.size()) != P)
        throw DataError(fmt::format("{}: {}r_split holds {} values, expected {} bands × {} parcels",
                                    job_file_path(run_dir, job.job_id), g, r.size(), B, P));
      for (long c = 0; c < P; ++c)
        for (long k = 0; k < B; ++k) {
          const size_t i = static_cast<size_t>(k * P + c);
          out << fmt::format("{},{},{},{},{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g}\n", job.job_id, csv_text(job.subject),
                             csv_text(names.at(static_cast<size_t>(c))), csv_text(e.name),
                             csv_text(fmt::format("{}/{}", job.bands[static_cast<size_t>(k)].model,
                                                  fmt::join(job.bands[static_cast<size_t>(k)].layers, "+"))),
                             job.gamma.at(static_cast<size_t>(k)), r[i], r2[i], alone[i], joint[static_cast<size_t>(c)]);
        }
    }
  }
  fs::write_text_atomic(path.string(), out.str());
}

namespace {
/// The feature spaces of a partition family (FeatureSet::partition: names joined by '|').
std::vector<std::string> partition_spaces(const std::string& family) {
  std::vector<std::string> spaces;
  for (size_t a = 0, b; a <= family.size(); a = b + 1) {
    b = family.find('|', a);
    if (b == std::string::npos) b = family.size();
    spaces.push_back(family.substr(a, b - a));
  }
  return spaces;
}
}  // namespace

void write_partition_csv(const Plan& p, const std::string& run_dir) {
  const auto path = sfs::path(run_dir) / "partition.csv";
  const bool any = std::any_of(p.jobs.begin(), p.jobs.end(), [](const Job& j) { return !j.partition.empty(); });
  if (!any || p.eval.empty()) {
    std::error_code ec;
    sfs::remove(path, ec);  // an earlier plan's would not be this one's
    return;
  }
  // The families: (partition, hrf_delay, stimulus_window, subject) → subset mask → job, in plan order.
  using Key = std::tuple<std::string, int, int, std::string>;
  std::vector<Key> order;
  std::map<Key, std::map<unsigned, const Job*>> families;
  for (const auto& job : p.jobs) {
    if (job.partition.empty()) continue;
    const std::vector<std::string> spaces = partition_spaces(job.partition);
    unsigned mask = 0;
    for (const auto& band : job.bands) {
      const std::string name = fmt::format("{}/{}", band.model, fmt::join(band.layers, "+"));
      const auto it = std::find(spaces.begin(), spaces.end(), name);
      if (it == spaces.end()) throw DataError("plan.json: job " + job.job_id + ": band " + name + " is not a space of its partition " + job.partition);
      mask |= 1u << (it - spaces.begin());
    }
    const Key key{job.partition, job.hrf_delay, job.stimulus_window, job.subject};
    if (!families.count(key)) order.push_back(key);
    families[key][mask] = &job;
  }
  std::ostringstream out;
  out << "partition,hrf_delay,stimulus_window,subject,parcel,eval_set,measure,kind,spaces,value,negative\n";
  for (const auto& key : order) {
    const auto& [family, hrf, win, subject] = key;
    const auto& jobs = families.at(key);
    const std::vector<std::string> spaces = partition_spaces(family);
    const size_t K = spaces.size();
    auto names_of = [&](unsigned m) {
      std::vector<std::string> n;
      for (size_t k = 0; k < K; ++k)
        if (m & (1u << k)) n.push_back(spaces[k]);
      return fmt::format("{}", fmt::join(n, "+"));
    };
    const unsigned all = (1u << K) - 1;
    if (jobs.size() != all)
      throw DataError(fmt::format("plan.json: partition {} (subject {}, hrf_delay {}, stimulus_window {}) has {} of its "
                                  "{} subset models", family, subject, hrf, win, jobs.size(), all));
    // R(S) per eval set and parcel for both measures, each job file read once: the set's R²
    // (eval/<set>/r2) and the signed r² of its r
    std::vector<std::string> parcels;
    std::vector<std::map<unsigned, std::vector<double>>> r2_of(p.eval.size()), rsq_of(p.eval.size());
    for (const auto& [m, job] : jobs) {
      const h5::File f = open_job_file(p, *job, run_dir);
      if (parcels.empty()) parcels = f.read_string_attr("/", "parcel_names");
      for (size_t ei = 0; ei < p.eval.size(); ++ei) {
        r2_of[ei][m] = f.read_f64("eval/" + p.eval[ei].name + "/r2");
        for (double v : f.read_f64("eval/" + p.eval[ei].name + "/r")) rsq_of[ei][m].push_back(v * std::abs(v));
      }
    }
    for (size_t ei = 0; ei < p.eval.size(); ++ei) {
      const EvalSet& e = p.eval[ei];
      const auto& r2 = r2_of[ei];
      const auto& rsq = rsq_of[ei];
      for (size_t c = 0; c < parcels.size(); ++c) {
        for (const auto& [measure, values] : {std::pair{"r2", &r2}, std::pair{"rsq", &rsq}}) {
          auto R = [&](unsigned m) { return m == 0 ? 0.0 : values->at(m).at(c); };
          const std::string prefix = fmt::format("{},{},{},{},{},{},{},", csv_text(family), hrf, win, csv_text(subject),
                                                 csv_text(parcels[c]), csv_text(e.name), measure);
          for (const auto& [m, job] : jobs) out << prefix << fmt::format("model,{},{:.9g},\n", csv_text(names_of(m)), R(m));
          // Möbius inversion over the subset lattice (partition.hpp)
          for (const auto& [t, job] : jobs) {
            const double v = shared_exactly(t, all, R);
            out << prefix << fmt::format("{},{},{:.9g},{}\n", std::popcount(t) == 1 ? "unique" : "shared",
                                         csv_text(names_of(t)), v, v < 0 ? 1 : 0);
          }
        }
      }
    }
  }
  fs::write_text_atomic(path.string(), out.str());
}

void write_results_csv(const Plan& p, const std::string& run_dir, const std::map<std::string, std::vector<double>>* ceiling,
                       const std::string& ceiling_set, double min_ceiling) {
  if (p.rsa) throw Error("write_results_csv: " + run_dir + " is an RSA plan (its results.csv is the RSA table: write_rsa_results)");
  std::ostringstream out;
  out << "job_id,model,layers,hrf_delay,stimulus_window,subject,parcel,alpha,cv_r,eval_set,eval_r"
      << (ceiling ? ",ceiling,r_normalized\n" : "\n");
  long at_top = 0, at_bottom = 0, fits = 0;  // alphas at the grid's edges (a top-edge fit predicts ~the mean)
  for (const auto& job : p.jobs) {
    const h5::File f = open_job_file(p, job, run_dir);
    const auto alpha = f.read_f64("alpha");
    if (!job.encoder && !p.alphas.empty())
      for (double a : alpha) at_top += a == p.alphas.back(), at_bottom += a == p.alphas.front(), ++fits;
    const auto cv_r = f.read_f64("cv_r");
    const auto names = f.read_string_attr("/", "parcel_names");
    std::vector<std::vector<double>> eval_r;
    for (const auto& e : p.eval) eval_r.push_back(f.read_f64("eval/" + e.name + "/r"));
    const std::string prefix = fmt::format("{},{},{},{},{},{},", job.job_id, csv_text(job.model),
                                           csv_text(fmt::format("{}", fmt::join(job.layers, "+"))), job.hrf_delay,
                                           job.stimulus_window, csv_text(job.subject));
    const std::vector<double>* ceil = ceiling ? &ceiling->at(job.subject) : nullptr;
    auto ceiling_cells = [&](size_t e, size_t j) -> std::string {
      if (!ceil) return "";
      if (p.eval[e].name != ceiling_set) return ",,";
      const double c = (*ceil)[j];
      return c >= min_ceiling ? fmt::format(",{:.9g},{:.9g}", c, eval_r[e][j] / c) : fmt::format(",{:.9g},", c);
    };
    for (size_t j = 0; j < alpha.size(); ++j) {
      // A trained encoder has no alpha and no CV score: empty cells (NaN in its job file).
      // A PLS job has no alpha (its components: results_pls.csv).
      const std::string a = job.encoder || !job.estimator.empty() ? "" : fmt::format("{:.9g}", alpha[j]),
                        cv = job.encoder ? "" : fmt::format("{:.9g}", cv_r[j]);
      if (p.eval.empty()) out << prefix << fmt::format("{},{},{},,\n", csv_text(names.at(j)), a, cv);
      for (size_t e = 0; e < p.eval.size(); ++e)
        out << prefix
            << fmt::format("{},{},{},{},{:.9g}{}\n", csv_text(names.at(j)), a, cv, csv_text(p.eval[e].name), eval_r[e][j],
                           ceiling_cells(e, j));
    }
  }
  fs::write_text_atomic((sfs::path(run_dir) / "results.csv").string(), out.str());
  write_results_split_csv(p, run_dir);
  write_partition_csv(p, run_dir);
  write_results_pls_csv(p, run_dir);
  if (at_top + at_bottom > 0 && p.alphas.size() > 1)
    spdlog::warn("{} of {} job × parcel fits chose an alpha at an edge of the grid ({} at the top, {:g}: their "
                 "predictions are close to the training mean; {} at the bottom, {:g}); a wider ridge.alphas may fit "
                 "them better", at_top + at_bottom, fits, at_top, p.alphas.back(), at_bottom, p.alphas.front());
}

}  // namespace brainsweep
