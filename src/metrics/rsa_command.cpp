// `brainsweep rsa` on precomputed RDMs (rsa.hpp).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/rsa.hpp"
#include "metrics_util.hpp"

namespace brainsweep {
namespace {

std::string join(const std::string& group, const std::string& name) {
  return group.empty() || group == "/" ? name : (group.back() == '/' ? group + name : group + "/" + name);
}

Rdm read_rdm(const h5::File& f, const std::string& ds) {
  const auto dims = f.shape(ds);
  const std::string where = f.path() + ": dataset '" + ds + "'";
  if (dims.size() != 2) throw DataError(fmt::format("{}: an RDM must be 2-D (conditions × conditions), found {}-D", where, dims.size()));
  const auto v = f.read_f64(ds);
  MatrixD m = Eigen::Map<const MatrixD>(v.data(), static_cast<long>(dims[0]), static_cast<long>(dims[1]));
  return rdm_from_matrix(m, where);
}

using metrics::csv_text;
std::string num(double x) { return metrics::csv_number(x); }

}  // namespace

void write_rsa_table(const std::vector<RsaEntry>& entries, const RsaOptions& options, const std::string& out,
                     std::ostream& report) {
  std::ostringstream csv;
  csv << kRsaColumns << "\n";
  for (size_t k = 0; k < entries.size();) {
    // One block per ROI × comparison: the consecutive entries that share them.
    size_t end = k;
    while (end < entries.size() && entries[end].roi == entries[k].roi && entries[end].comparison == entries[k].comparison) ++end;
    const auto ceil = entries[k].ceiling;
    std::vector<std::pair<double, std::string>> ranking;
    for (size_t q = k; q < end; ++q) {
      const RsaEntry& e = entries[q];
      const RsaResult& r = e.result;
      if (e.model.empty()) continue;  // an ROI without models: its ceiling, for the report
      for (size_t s = 0; s <= e.subjects.size(); ++s)
        csv << fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_text(e.model), csv_text(e.roi),
                           csv_text(s < e.subjects.size() ? e.subjects[s] : "mean"), to_string(e.comparison),
                           num(r.similarity[s]), num(r.bootstrap_sd[s]), num(r.ci_low[s]), num(r.ci_high[s]),
                           num(r.p_permutation[s]), num(e.ceiling.first), num(e.ceiling.second), e.n_conditions,
                           e.subjects.size(), r.bootstrap_n.empty() ? 0 : r.bootstrap_n[s], options.permutations,
                           options.seed);
      // 3 significant digits, never a cut string (p = 9.9995e-05 printed as "9.999500", issue #25)
      auto brief = [](double x) { return std::isnan(x) ? std::string("-") : fmt::format("{:.3g}", x); };
      const std::string line = fmt::format("{:<32} {:>8} {:>8} {:>8}", e.model,
                                           std::isnan(r.similarity.back()) ? std::string("NaN")
                                                                           : fmt::format("{:.4f}", r.similarity.back()),
                                           brief(r.bootstrap_sd.back()), brief(r.p_permutation.back()));
      ranking.emplace_back(r.similarity.back(), !e.undefined.empty() ? line + "  (undefined: " + e.undefined + ")"
                                                : std::isnan(r.similarity.back()) ? line + "  (undefined: a constant RDM)"
                                                                                  : line);
    }
    // undefined (NaN) similarities last, in their order
    std::stable_sort(ranking.begin(), ranking.end(), [](const auto& a, const auto& b) {
      return !std::isnan(a.first) && (std::isnan(b.first) || a.first > b.first);
    });
    report << fmt::format("{} ({} subjects, {} conditions), {}: noise ceiling [{}, {}]\n", entries[k].roi,
                          entries[k].subjects.size(), entries[k].n_conditions, to_string(entries[k].comparison),
                          std::isnan(ceil.first) ? "-" : fmt::format("{:.4f}", ceil.first),
                          std::isnan(ceil.second) ? "-" : fmt::format("{:.4f}", ceil.second));
    if (!entries[k].model.empty()) {
      report << fmt::format("  {:<32} {:>8} {:>8} {:>8}\n", "model", "mean", "boot SD", "p");
      for (const auto& [score, line] : ranking)
        report << "  " << line << (!std::isnan(ceil.first) && score >= ceil.first ? "  (within the ceiling)" : "") << "\n";
    }
    k = end;
  }
  if (!out.empty()) fs::write_text_atomic(out, csv.str());
}

void compare_and_report(const std::vector<NamedRdm>& models, const std::vector<RsaRoi>& rois,
                        const std::vector<Comparison>& comps, const RsaOptions& options, bool with_ceiling,
                        const std::string& out, std::ostream& report, const std::string& save_rdms,
                        const std::vector<std::string>& conditions) {
  if (!save_rdms.empty() && std::filesystem::exists(save_rdms))
    throw ConfigError("--save-rdms " + save_rdms + ": exists; refusing to overwrite it");
  std::vector<RsaEntry> entries;
  std::vector<RsaEntry> ceilings_only;  // no models: one entry per ROI × comparison, for the report
  for (const auto& roi : rois) {
    if (with_ceiling && roi.rdms.size() < 2)
      throw ConfigError(fmt::format("--brain {}: {} subject ({}); the noise ceiling needs at least 2 (--no-ceiling "
                                    "compares without it)", roi.name, roi.rdms.size(), roi.subjects.front()));
    for (const Comparison cmp : comps) {
      const auto ceil = with_ceiling ? rsa_noise_ceiling(roi, cmp) : std::pair<double, double>{std::nan(""), std::nan("")};
      for (const auto& m : models)
        entries.push_back({m.name, roi.name, cmp, roi.subjects, roi.rdms.front().n, rsa_compare(m.rdm, roi.rdms, cmp, options),
                           ceil, m.rdm.undefined});
      if (models.empty()) ceilings_only.push_back({"", roi.name, cmp, roi.subjects, roi.rdms.front().n, {}, ceil, ""});
    }
  }
  if (!save_rdms.empty()) {
    fs::check_output_parent(save_rdms, "--save-rdms");
    h5::File f(save_rdms, h5::File::Mode::in_memory);
    auto square = [](const Rdm& r) {
      MatrixD m = MatrixD::Zero(r.n, r.n);
      size_t q = 0;
      for (long i = 0; i < r.n; ++i)
        for (long j = i + 1; j < r.n; ++j, ++q) m(i, j) = m(j, i) = r.v[q];
      return m;
    };
    for (const auto& m : models) {
      const MatrixD sq = square(m.rdm);
      f.write_f64("models/" + m.name, sq.data(), sq.rows(), sq.cols());
    }
    for (const auto& roi : rois)
      for (size_t s = 0; s < roi.rdms.size(); ++s) {
        const MatrixD sq = square(roi.rdms[s]);
        f.write_f64("subjects/" + roi.name + "/" + roi.subjects[s], sq.data(), sq.rows(), sq.cols());
      }
    if (!conditions.empty()) f.write_string_attr("conditions", conditions);
    f.save_atomic(save_rdms);
  }
  write_rsa_table(models.empty() ? ceilings_only : entries, options, models.empty() ? "" : out, report);
  report << fmt::format("wrote {}\n", out.empty() ? save_rdms : save_rdms.empty() ? out : out + " and " + save_rdms);
}

std::pair<double, double> rsa_noise_ceiling(const RsaRoi& roi, Comparison c) {
  std::vector<std::vector<double>> vecs;
  for (const auto& s : roi.rdms) vecs.push_back(s.v);
  return noise_ceiling(vecs, c);
}

RsaInputs read_rsa_inputs(const RsaCommand& c) {
  if (c.brain.empty()) throw ConfigError("--brain: give at least one group of subject RDMs");
  if (c.models.empty() && c.features.empty())
    throw ConfigError("--model: give at least one model RDM (a dataset or a group of them), or --features");
  if (c.distance != "correlation" && c.distance != "euclidean" && c.distance != "standardized-euclidean")
    throw ConfigError("--distance: expected correlation, euclidean or standardized-euclidean for --features (crossnobis needs runs: rsa --sweep), "
                      "found '" + c.distance + "'");
  const h5::File f(c.rdms);
  std::vector<NamedRdm> models;
  for (const auto& spec : c.features) {
    // FILE.h5 or FILE.h5:LAYER (the last ':' after the file name's extension)
    std::string file = spec, layer;
    if (const auto colon = spec.rfind(':'); colon != std::string::npos && spec.find(".h5", 0) < colon &&
                                            !std::filesystem::exists(spec)) {
      file = spec.substr(0, colon);
      layer = spec.substr(colon + 1);
    }
    if (!std::filesystem::exists(file)) throw DataError(fmt::format("--features {}: {}: no such file", spec, file));
    const h5::File ff(file);
    std::vector<std::string> layers;
    if (!layer.empty()) {
      if (!ff.has(layer) || ff.is_group(layer))
        throw DataError(fmt::format("--features {}: {} has no dataset '{}' (datasets: {})", spec, file, layer, fmt::join(ff.list("/"), ", ")));
      layers.push_back(layer);
    } else {
      for (const auto& name : ff.list("/"))
        if (!ff.is_group(name) && ff.shape(name).size() == 2) layers.push_back(name);
      if (layers.empty()) throw DataError(fmt::format("--features {}: no 2-D dataset (stimuli × features) in {}", spec, file));
    }
    std::string name = ff.read_string_attr1("name");
    if (name.empty()) name = std::filesystem::path(file).stem().string();
    for (const auto& l : layers) {
      const std::string where = fmt::format("--features {}: {}: dataset '{}'", spec, file, l);
      if (ff.shape(l).size() != 2)
        throw DataError(fmt::format("{}: expected stimuli × features (2-D), found {}-D", where, ff.shape(l).size()));
      // as stored: float64 layers keep their precision (rows that differ at 1e-9 stay different)
      const auto dims = ff.shape(l);
      const std::vector<double> flat = ff.read_f64(l);
      const MatrixD x = Eigen::Map<const MatrixD>(flat.data(), static_cast<long>(dims[0]), static_cast<long>(dims[1]));
      for (long i = 0; i < x.rows(); ++i)
        for (long j = 0; j < x.cols(); ++j)
          if (!std::isfinite(x(i, j))) throw DataError(fmt::format("{}: non-finite value at row {}, column {}", where, i, j));
      if (x.rows() < 3) throw DataError(fmt::format("{}: {} stimuli (expected at least 3 conditions)", where, x.rows()));
      models.push_back({name + "/" + l, rdm_from_patterns(x, c.distance)});
    }
  }
  for (const auto& m : c.models) {
    if (!f.has(m)) throw DataError(fmt::format("{}: --model '{}' not found", c.rdms, m));
    // a group: every dataset below it, nested groups included (rsa --save-rdms writes models/<set>/<layer>)
    auto add = [&](auto&& self, const std::string& path) -> void {
      if (!f.is_group(path)) {
        models.push_back({path, read_rdm(f, path)});
        return;
      }
      for (const auto& child : f.list(path)) self(self, join(path, child));
    };
    add(add, m);
  }
  if (models.empty()) throw DataError(fmt::format("{}: --model: no dataset in {}", c.rdms, fmt::join(c.models, ", ")));
  for (size_t i = 0; i < models.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (models[i].name == models[j].name)
        throw ConfigError(fmt::format("--model/--features: the model '{}' is given twice (each model once: its rows "
                                      "and its saved RDM are named by it)", models[i].name));
  for (const auto& m : models)
    if (!m.rdm.undefined.empty())
      spdlog::warn("model {}: its RDM is undefined ({}); its similarities are NaN", m.name, m.rdm.undefined);
  const long n = models.front().rdm.n;
  for (const auto& m : models)
    if (m.rdm.n != n)
      throw DataError(fmt::format("{}: model '{}' has {} conditions, '{}' {}", c.rdms, m.name, m.rdm.n, models.front().name, n));
  std::vector<RsaRoi> rois;
  for (const auto& roi : c.brain) {
    if (!f.has(roi) || !f.is_group(roi))
      throw DataError(fmt::format("{}: --brain '{}': expected a group of subjects (datasets, or groups of session datasets)",
                                  c.rdms, roi));
    RsaRoi r{roi, {}, {}};
    for (const auto& child : f.list(roi)) {
      const std::string path = join(roi, child);
      Rdm rdm;
      if (f.is_group(path)) {  // sessions of one subject: their mean
        long k = 0;
        for (const auto& sess : f.list(path)) {
          const Rdm s = read_rdm(f, join(path, sess));
          if (k == 0) rdm = s;
          else {
            if (s.n != rdm.n)
              throw DataError(fmt::format("{}: {} has RDMs of {} and {} conditions", c.rdms, path, rdm.n, s.n));
            for (size_t q = 0; q < rdm.v.size(); ++q) rdm.v[q] += s.v[q];
          }
          ++k;
        }
        if (k == 0) throw DataError(fmt::format("{}: subject group '{}' holds no RDM", c.rdms, path));
        for (double& x : rdm.v) x /= static_cast<double>(k);
      } else {
        rdm = read_rdm(f, path);
      }
      if (rdm.n != n)
        throw DataError(fmt::format("{}: '{}' has {} conditions, the model '{}' {} (expected the same conditions)", c.rdms,
                                    path, rdm.n, models.front().name, n));
      if (child == "mean")
        throw ConfigError(fmt::format("{}: --brain '{}': a subject named 'mean' (the CSV's row 'mean' is the mean over "
                                      "subjects): rename it", c.rdms, roi));
      r.subjects.push_back(child);
      r.rdms.push_back(std::move(rdm));
    }
    if (r.rdms.empty()) throw DataError(fmt::format("{}: --brain '{}' holds no subject", c.rdms, roi));
    rois.push_back(std::move(r));
  }
  return {std::move(models), std::move(rois)};
}

void run_rsa_command(const RsaCommand& c, std::ostream& report) {
  if (std::filesystem::exists(c.out)) throw ConfigError("--out " + c.out + ": exists; refusing to overwrite it");
  fs::check_output_parent(c.out, "--out");
  if (!c.save_rdms.empty()) {
    if (std::filesystem::exists(c.save_rdms))
      throw ConfigError("--save-rdms " + c.save_rdms + ": exists; refusing to overwrite it");
    fs::check_output_parent(c.save_rdms, "--save-rdms");
  }
  const std::vector<Comparison> comps = parse_comparisons(c.comparisons);
  const RsaInputs in = read_rsa_inputs(c);
  compare_and_report(in.models, in.rois, comps, c.options, c.ceiling, c.out, report, c.save_rdms);
}

}  // namespace brainsweep
