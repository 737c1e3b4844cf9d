// `brainsweep rsa --sweep` and the units of an RSA plan (rsa_sweep.hpp).
#include "brainsweep/rsa_sweep.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "brainsweep/config.hpp"
#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/events.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/path_template.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/design.hpp"
#include "brainsweep/job_files.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

std::string RsaSource::set_label() const { return from_sweep ? sweep + ": key 'rsa.set'" : "--set"; }
std::string RsaSource::events_label() const { return from_sweep ? sweep + ": key 'rsa.events'" : "--events"; }
std::string RsaSource::distance_label() const { return from_sweep ? sweep + ": key 'rsa.distance'" : "--distance"; }
std::string RsaSource::roi_label(const std::string& name, const std::string& regex) const {
  return from_sweep ? fmt::format("{}: key 'rsa.rois.{}' ('{}')", sweep, name, regex) : fmt::format("--roi '{}={}'", name, regex);
}

RsaDesign rsa_design(const Plan& p, const RsaSource& src, const std::string& events_template,
                     const std::vector<std::string>& sets, const std::string& distance,
                     const std::vector<std::pair<std::string, std::string>>& roi_specs, int hrf_delay) {
  RsaDesign d;
  d.distance = distance;
  d.hrf_delay = hrf_delay;
  const std::string set_names = fmt::format("{}", fmt::join(sets, ","));
  for (const auto& name : sets) {
    const std::vector<std::string>* eps = p.set_episodes(name);
    if (!eps) throw ConfigError(fmt::format("{} {}: '{}' is not a set of {} (train or an eval set)", src.set_label(), set_names, name, src.sweep));
    for (const auto& ep : *eps)
      if (std::find(d.episodes.begin(), d.episodes.end(), ep) == d.episodes.end()) d.episodes.push_back(ep);
  }
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a over the events files' bytes (RsaDesign::inputs)
  const bool per_subject = events_template.find("{subject}") != std::string::npos;
  for (const auto& ep : d.episodes) {
    const std::string path = fill_template(events_template, {{"episode", ep}, {"subject", p.subjects.front()}});
    if (sfs::exists(path))
      for (const unsigned char ch : fs::read_text(path)) hash = (hash ^ ch) * 1099511628211ULL;
    long skipped = 0;
    d.events[ep] = read_events(path, &skipped);
    // {subject} (BIDS keeps events per subject, as `ceiling --events`): the same events for every
    // subject, since the model's condition patterns come from one timeline per episode
    for (size_t s = 1; per_subject && s < p.subjects.size(); ++s) {
      const std::string other = fill_template(events_template, {{"episode", ep}, {"subject", p.subjects[s]}});
      if (sfs::exists(other))
        for (const unsigned char ch : fs::read_text(other)) hash = (hash ^ ch) * 1099511628211ULL;
      const std::vector<Event> theirs = read_events(other, nullptr);
      const auto& mine = d.events[ep];
      size_t k = 0;
      while (k < mine.size() && k < theirs.size() && mine[k].onset == theirs[k].onset &&
             mine[k].duration == theirs[k].duration && mine[k].trial_type == theirs[k].trial_type)
        ++k;
      if (k < mine.size() || k < theirs.size())
        throw ConfigError(fmt::format("{} {}: {} (line {}) differs from {}'s {} (line {}): the subjects' events of episode "
                                      "'{}' must be the same (the model RDM is computed from one timeline per episode); "
                                      "per-subject timings are not supported", src.events_label(), events_template, other,
                                      k < theirs.size() ? theirs[k].line : theirs.empty() ? 0 : theirs.back().line,
                                      p.subjects.front(), path, k < mine.size() ? mine[k].line : mine.empty() ? 0 : mine.back().line,
                                      ep));
    }
    d.unlabelled += skipped;
    d.labelled += static_cast<long>(d.events[ep].size());
    d.event_file[ep] = path;
  }
  d.inputs = fmt::format("{:016x}", hash);
  std::vector<EventRun> runs;
  for (const auto& ep : d.episodes) runs.push_back({d.event_file[ep], nullptr, d.events[ep]});
  d.conditions = event_conditions(runs);
  if (d.conditions.size() < 3)
    throw DataError(fmt::format("{} {}: {} conditions (expected at least 3 trial_types)", src.events_label(), events_template,
                                d.conditions.size()));
  if (distance == "crossnobis") {
    if (runs.size() < 2)
      throw ConfigError(fmt::format("{} crossnobis: set {} of {} has 1 run ({}); the cross-validated distance needs at "
                                    "least 2 runs of the conditions", src.distance_label(), set_names, src.sweep, d.episodes.front()));
    require_conditions_in_every_run(runs, d.conditions, src.from_sweep ? "key 'rsa.distance' crossnobis" : "--distance crossnobis",
                                    fmt::format("the {} episodes of set {}", d.episodes.size(), set_names));
  }
  // ROIs: all parcels (named after the atlas), or NAME → REGEX over the parcel names.
  const auto& fmri_of_first = p.fmri.at(p.subjects.front());
  if (!fmri_of_first.count(d.episodes.front()))
    throw DataError(fmt::format("{} {}: {} has no fMRI for episode '{}'", src.set_label(), set_names, p.subjects.front(), d.episodes.front()));
  const FmriRef& ref = fmri_of_first.at(d.episodes.front());
  const auto names = parcel_names(ref.file, ref.n_parcels);
  if (roi_specs.empty()) {
    std::vector<long> all(names.size());
    std::iota(all.begin(), all.end(), 0L);
    d.rois.emplace_back(p.atlas, all);
    if (distance == "correlation" && all.size() < 3)
      throw ConfigError(fmt::format("{} correlation: the atlas {} has {} parcel{}; a correlation distance needs at least 3 "
                                    "channels (over 2 every correlation is ±1): use euclidean", src.distance_label(), p.atlas,
                                    all.size(), all.size() == 1 ? "" : "s"));
  }
  for (const auto& [name, pattern] : roi_specs) {
    std::regex re;
    try {
      re = std::regex(pattern);
    } catch (const std::regex_error& e) {
      throw ConfigError(src.roi_label(name, pattern) + ": not a regular expression (" + e.what() + ")");
    }
    std::vector<long> cols;
    if (const auto brace = name.find("{1}"); brace != std::string::npos) {
      // NAME holding {1}: one ROI per distinct first capture group of REGEX, named by it in place of {1}
      // (per parcel: '{1}=(.*)'; per Schaefer network: '{1}=7Networks_[LR]H_([A-Za-z]+)_.*')
      if (re.mark_count() < 1)
        throw ConfigError(src.roi_label(name, pattern) + ": the name holds {1} but the expression has no capture group "
                                                         "(write one in parentheses: the part of the parcel names that names the ROI)");
      std::vector<std::pair<std::string, std::vector<long>>> groups;
      for (size_t k = 0; k < names.size(); ++k) {
        std::smatch m;
        if (!std::regex_match(names[k], m, re)) continue;
        const std::string roi = name.substr(0, brace) + m[1].str() + name.substr(brace + 3);
        const auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == roi; });
        const size_t g = static_cast<size_t>(it - groups.begin());
        if (g == groups.size()) groups.emplace_back(roi, std::vector<long>{});
        groups[g].second.push_back(static_cast<long>(k));
      }
      if (groups.empty())
        throw ConfigError(fmt::format("{}: no parcel of {} matches (names such as {})", src.roi_label(name, pattern), ref.file,
                                      fmt::join(std::vector<std::string>(names.begin(), names.begin() + std::min<size_t>(3, names.size())), ", ")));
      for (auto& [roi, members] : groups) {
        if (distance == "correlation" && members.size() < 3)
          throw ConfigError(fmt::format("{}: ROI '{}' has {} parcel{} ({}); a correlation distance needs at least 3 channels "
                                        "(over 2 every correlation is ±1): larger groups, or distance euclidean",
                                        src.roi_label(name, pattern), roi, members.size(), members.size() == 1 ? "" : "s",
                                        names[static_cast<size_t>(members.front())]));
        if (std::any_of(d.rois.begin(), d.rois.end(), [&](const auto& r) { return r.first == roi; }))
          throw ConfigError(fmt::format("{}: ROI '{}' is also named by another ROI", src.roi_label(name, pattern), roi));
        d.rois.emplace_back(roi, std::move(members));
      }
      continue;
    }
    for (size_t k = 0; k < names.size(); ++k)
      if (std::regex_match(names[k], re)) cols.push_back(static_cast<long>(k));
    if (cols.empty())
      throw ConfigError(fmt::format("{}: no parcel of {} matches (names such as {})", src.roi_label(name, pattern), ref.file,
                                    fmt::join(std::vector<std::string>(names.begin(), names.begin() + std::min<size_t>(3, names.size())), ", ")));
    if (distance == "correlation" && cols.size() < 3)
      throw ConfigError(fmt::format("{}: {} parcel{} ({}); a correlation distance needs at least 3 channels (over 2 every "
                                    "correlation is ±1): a larger ROI, or distance euclidean", src.roi_label(name, pattern),
                                    cols.size(), cols.size() == 1 ? "" : "s", names[static_cast<size_t>(cols.front())]));
    d.rois.emplace_back(name, cols);
  }
  return d;
}

namespace {

/// Condition patterns of per-episode samples (fMRI, or design rows): their mean over the runs, or
/// (crossnobis) one matrix per run.
std::vector<MatrixD> patterns_of(const RsaDesign& d, const std::map<std::string, MatrixF>& samples, double tr) {
  std::vector<EventRun> runs;
  for (const auto& ep : d.episodes) runs.push_back({d.event_file.at(ep), &samples.at(ep), d.events.at(ep)});
  std::vector<MatrixD> out;
  if (d.distance == "crossnobis") {
    for (const auto& run : runs) out.push_back(condition_patterns({run}, d.conditions, tr, d.hrf_delay));
  } else {
    out.push_back(condition_patterns(runs, d.conditions, tr, d.hrf_delay));
  }
  return out;
}

Rdm rdm_of(const RsaDesign& d, const std::vector<MatrixD>& patterns, const std::vector<long>* cols) {
  std::vector<MatrixD> sel;
  for (const auto& m : patterns) {
    if (!cols) {
      sel.push_back(m);
      continue;
    }
    MatrixD part(m.rows(), static_cast<long>(cols->size()));
    for (size_t q = 0; q < cols->size(); ++q) part.col(static_cast<long>(q)) = m.col((*cols)[q]);
    sel.push_back(std::move(part));
  }
  return d.distance == "crossnobis" ? rdm_crossnobis(sel) : rdm_from_patterns(sel.front(), d.distance);
}

/// `--roi NAME=REGEX` options as (name, regex). @throw ConfigError naming a malformed one
std::vector<std::pair<std::string, std::string>> parse_roi_specs(const std::vector<std::string>& rois) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& spec : rois) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw ConfigError("--roi '" + spec + "': expected NAME=REGEX (a regular expression over the parcel names)");
    out.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }
  return out;
}

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string name; std::getline(ss, name, ',');) out.push_back(name);
  return out;
}

RsaOptions options_of(const RsaSpec& spec) {
  RsaOptions o;
  o.bootstrap = spec.bootstrap;
  o.permutations = spec.permutations;
  o.seed = spec.seed;
  return o;
}

}  // namespace

std::vector<RsaRoi> rsa_brain_rdms(const Plan& p, const RsaDesign& d) {
  std::vector<RsaRoi> rois;
  for (const auto& [name, cols] : d.rois) rois.push_back({name, {}, {}});
  for (const auto& sub : p.subjects) {
    std::map<std::string, MatrixF> fmri;
    for (const auto& ep : d.episodes) {
      if (!p.fmri.at(sub).count(ep)) throw DataError(fmt::format("set of the RSA: {} has no fMRI for episode '{}'", sub, ep));
      const FmriRef& ref = p.fmri.at(sub).at(ep);
      fmri[ep] = read_fmri(ref.file, ref.dataset);
    }
    const std::vector<MatrixD> patterns = patterns_of(d, fmri, p.tr);
    for (size_t k = 0; k < d.rois.size(); ++k) {
      rois[k].subjects.push_back(sub);
      rois[k].rdms.push_back(rdm_of(d, patterns, &d.rois[k].second));
      if (!rois[k].rdms.back().undefined.empty())  // a brain RDM is the data: refused, not scored NaN
        throw DataError(fmt::format("ROI {} of {}: its RDM is undefined ({}; conditions in the order of the events: {}, "
                                    "…): distance euclidean, or other conditions", rois[k].name, sub,
                                    rois[k].rdms.back().undefined,
                                    fmt::join(std::vector<std::string>(d.conditions.begin(), d.conditions.begin() + 3), ", ")));
    }
  }
  return rois;
}

Rdm rsa_model_rdm(const Plan& p, const Unit& u, const RsaDesign& d) {
  std::map<std::string, MatrixF> design;
  const auto& runs = p.fmri.at(p.subjects.front());
  for (const auto& ep : d.episodes) design[ep] = episode_design(p, u, ep, runs.at(ep).n_tr);
  return rdm_of(d, patterns_of(d, design, p.tr), nullptr);
}

std::string rsa_model_name(const Unit& u) {
  return fmt::format("{}/{} w{} d{}", u.model, fmt::join(u.layers, "+"), u.stimulus_window, u.hrf_delay);
}

RsaDesign rsa_design_of(const Plan& p) {
  if (!p.rsa) throw ConfigError(p.sweep_file + ": not an RSA plan (no key 'rsa')");
  if (p.units.empty()) throw ConfigError(p.sweep_file + ": an RSA plan without units");
  if (p.rsa->ceiling && p.subjects.size() < 2)
    throw ConfigError(fmt::format("{}: key 'rsa.ceiling': {} subject ({}); the noise ceiling needs at least 2 (set "
                                  "rsa.ceiling: false to compare without it)", p.sweep_file, p.subjects.size(), p.subjects.front()));
  if (std::find(p.subjects.begin(), p.subjects.end(), "mean") != p.subjects.end())
    throw ConfigError(p.sweep_file + ": key 'subjects': a subject named 'mean' (the RSA table's row 'mean' is the mean "
                      "over subjects): rename it");
  RsaSource src{p.sweep_file, true};
  return rsa_design(p, src, p.rsa->events, p.rsa->sets, p.rsa->distance, p.rsa->rois, p.units.front().hrf_delay);
}

namespace {

/// The brain side of an RSA plan, computed once per process: design, brain RDMs, ceilings.
struct BrainSide {
  std::string checksum;
  RsaDesign design;
  std::vector<RsaRoi> rois;
  std::vector<Comparison> comparisons;
  std::vector<std::pair<double, double>> ceilings;  ///< ROI-major, then comparison
};

const BrainSide& brain_side(const Plan& p) {
  static std::unique_ptr<BrainSide> cached;
  if (cached && cached->checksum == p.checksum && !p.checksum.empty()) return *cached;
  auto b = std::make_unique<BrainSide>();
  b->checksum = p.checksum;
  b->design = rsa_design_of(p);
  b->rois = rsa_brain_rdms(p, b->design);
  for (const auto& c : p.rsa->comparisons) b->comparisons.push_back(parse_comparison(c, "rsa.comparisons"));
  for (const auto& roi : b->rois)
    for (const Comparison c : b->comparisons)
      b->ceilings.push_back(p.rsa->ceiling && roi.rdms.size() >= 2 ? rsa_noise_ceiling(roi, c)
                                                                   : std::pair<double, double>{std::nan(""), std::nan("")});
  cached = std::move(b);
  return *cached;
}

/// The inputs hash (RsaDesign::inputs) of the plan's RSA design, read once per process and plan.
std::string brain_inputs(const Plan& p) {
  static std::string checksum, inputs;
  if (checksum.empty() || checksum != p.checksum) {
    inputs = rsa_design_of(p).inputs;
    checksum = p.checksum;
  }
  return inputs;
}

}  // namespace

std::string rsa_stale_inputs(const Plan& p, const Unit& u, const std::string& run_dir) {
  const std::string inputs = brain_inputs(p);
  for (const auto& id : u.job_ids) {
    const std::string path = job_file_path(run_dir, id);
    std::error_code ec;
    if (!sfs::exists(path, ec)) continue;  // unit_done says what is missing
    if (h5::File(path).read_string_attr1("rsa_inputs") != inputs)
      return fmt::format("{} was computed from other events than the plan's events files (changed since)", path);
  }
  return "";
}

void rsa_unit(const Plan& p, const Unit& u, const std::string& run_dir) {
  const auto t0 = std::chrono::steady_clock::now();
  const BrainSide& b = brain_side(p);
  const Rdm model = rsa_model_rdm(p, u, b.design);
  const RsaOptions options = options_of(*p.rsa);
  std::vector<RsaResult> results;  // ROI-major, then comparison
  for (const auto& roi : b.rois)
    for (const Comparison c : b.comparisons) results.push_back(rsa_compare(model, roi.rdms, c, options));
  const size_t n_rows = results.size(), n_sub = p.subjects.size();
  auto row_of = [&](const RsaResult& r, size_t s) {
    return std::vector<double>{r.similarity[s], r.bootstrap_sd[s], r.ci_low[s], r.ci_high[s], r.p_permutation[s],
                               static_cast<double>(r.bootstrap_n[s])};
  };
  if (!model.undefined.empty())
    spdlog::warn("unit {} (RSA {}): the model RDM is undefined ({}); its similarities are NaN", u.unit_id,
                 rsa_model_name(u), model.undefined);
  std::vector<double> mean, ceiling;
  for (size_t k = 0; k < n_rows; ++k) {
    const auto m = row_of(results[k], n_sub);
    mean.insert(mean.end(), m.begin(), m.end());
    ceiling.push_back(b.ceilings[k].first);
    ceiling.push_back(b.ceilings[k].second);
  }
  std::vector<std::string> roi_names, comparison_names;
  for (const auto& roi : b.rois) roi_names.push_back(roi.name);
  for (const Comparison c : b.comparisons) comparison_names.push_back(to_string(c));
  for (size_t j = 0; j < u.job_ids.size(); ++j) {
    const auto& sub = u.subjects[j];
    const size_t s = static_cast<size_t>(std::find(p.subjects.begin(), p.subjects.end(), sub) - p.subjects.begin());
    std::vector<double> own;
    for (size_t k = 0; k < n_rows; ++k) {
      const auto r = row_of(results[k], s);
      own.insert(own.end(), r.begin(), r.end());
    }
    const std::string path = job_file_path(run_dir, u.job_ids[j]);
    h5::File f(path, h5::File::Mode::in_memory);
    f.write_f64("rsa/subject", own.data(), n_rows, kRsaJobColumns.size());
    f.write_f64("rsa/mean", mean.data(), n_rows, kRsaJobColumns.size());
    f.write_f64("rsa/ceiling", ceiling.data(), n_rows, 2);
    f.write_string_attr("rois", roi_names);
    f.write_string_attr("comparisons", comparison_names);
    f.write_string_attr("conditions", b.design.conditions);
    f.write_string_attr("columns", kRsaJobColumns);
    f.write_string_attr1("rsa_inputs", b.design.inputs);
    f.write_string_attr1("model_rdm_undefined", model.undefined);
    f.write_string_attr1("metric", "rsa");
    f.write_string_attr1("model_name", rsa_model_name(u));
    f.write_string_attr1("distance", p.rsa->distance);
    write_job_identity(f, p, u, u.job_ids[j], sub);
    f.save_atomic(path);
  }
  spdlog::info("unit {} (RSA {}): {} conditions, {} subjects × {} ROIs × {} comparisons, {:.3f} s", u.unit_id,
               rsa_model_name(u), model.n, n_sub, b.rois.size(), b.comparisons.size(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  fs::write_text_atomic((sfs::path(run_dir) / "units" / (u.unit_id + ".done")).string(), u.unit_id + "\n");
}

void write_rsa_results(const Plan& p, const std::string& run_dir, std::ostream& report) {
  std::vector<std::string> roi_names, comparison_names;
  struct UnitRows {
    std::vector<std::vector<double>> subject;  // per subject of p.subjects: n_rows × 5, flattened
    std::vector<double> mean, ceiling;
    long n_conditions = 0;
    std::string undefined;
  };
  const std::string inputs = brain_inputs(p);
  std::vector<UnitRows> rows(p.units.size());
  for (size_t i = 0; i < p.units.size(); ++i) {
    const Unit& u = p.units[i];
    rows[i].subject.resize(p.subjects.size());
    for (size_t j = 0; j < u.job_ids.size(); ++j) {
      const Job job{u.job_ids[j], u.unit_id, u.model, u.layers, u.hrf_delay, u.stimulus_window, u.subjects[j], u.bands, u.gamma, u.encoder, u.partition, u.estimator};
      const h5::File f = open_job_file(p, job, run_dir);
      const auto rois = f.read_string_attr("/", "rois"), comps = f.read_string_attr("/", "comparisons");
      if (roi_names.empty()) roi_names = rois, comparison_names = comps;
      if (rois != roi_names || comps != comparison_names || !f.has("rsa/subject") ||
          f.read_string_attr("/", "columns") != kRsaJobColumns)
        throw DataError(f.path() + ": not an RSA job file of this plan (its ROIs, comparisons or columns differ)");
      if (f.read_string_attr1("rsa_inputs") != inputs)
        throw DataError(fmt::format("{}: computed from other events than the plan's current events files (changed since "
                                    "unit {} ran); `brainsweep run` fits the units again", f.path(), u.unit_id));
      const size_t s = static_cast<size_t>(std::find(p.subjects.begin(), p.subjects.end(), u.subjects[j]) - p.subjects.begin());
      rows[i].subject[s] = f.read_f64("rsa/subject");
      if (j == 0) {
        rows[i].mean = f.read_f64("rsa/mean");
        rows[i].ceiling = f.read_f64("rsa/ceiling");
        rows[i].n_conditions = static_cast<long>(f.read_string_attr("/", "conditions").size());
        rows[i].undefined = f.read_string_attr1("model_rdm_undefined");
      }
    }
  }
  RsaOptions options = options_of(*p.rsa);
  std::vector<RsaEntry> entries;
  const size_t n_comp = comparison_names.size();
  for (size_t r = 0; r < roi_names.size(); ++r)
    for (size_t c = 0; c < n_comp; ++c) {
      const size_t k = r * n_comp + c;
      for (size_t i = 0; i < p.units.size(); ++i) {
        RsaEntry e;
        e.model = rsa_model_name(p.units[i]);
        e.roi = roi_names[r];
        e.comparison = parse_comparison(comparison_names[c]);
        e.subjects = p.subjects;
        e.n_conditions = rows[i].n_conditions;
        e.ceiling = {rows[i].ceiling[2 * k], rows[i].ceiling[2 * k + 1]};
        e.undefined = rows[i].undefined;
        auto add = [&](const std::vector<double>& v) {
          const size_t w = kRsaJobColumns.size();
          e.result.similarity.push_back(v[w * k]);
          e.result.bootstrap_sd.push_back(v[w * k + 1]);
          e.result.ci_low.push_back(v[w * k + 2]);
          e.result.ci_high.push_back(v[w * k + 3]);
          e.result.p_permutation.push_back(v[w * k + 4]);
          e.result.bootstrap_n.push_back(static_cast<long>(v[w * k + 5]));
        };
        for (const auto& v : rows[i].subject) add(v);
        add(rows[i].mean);
        entries.push_back(std::move(e));
      }
    }
  std::ostringstream text;
  write_rsa_table(entries, options, (sfs::path(run_dir) / "results.csv").string(), text);
  fs::write_text_atomic((sfs::path(run_dir) / "rsa_report.txt").string(), text.str());
  report << text.str();
}

void run_rsa_sweep_command(const RsaSweepCommand& c, std::ostream& report) {
  if (!c.out.empty() && std::filesystem::exists(c.out))
    throw ConfigError("--out " + c.out + ": exists; refusing to overwrite it");
  if (!c.out.empty()) fs::check_output_parent(c.out, "--out");
  if (!c.save_rdms.empty()) {
    if (std::filesystem::exists(c.save_rdms))
      throw ConfigError("--save-rdms " + c.save_rdms + ": exists; refusing to overwrite it");
    fs::check_output_parent(c.save_rdms, "--save-rdms");
  }
  const std::vector<Comparison> comps = parse_comparisons(c.comparisons);
  if (c.distance != "correlation" && c.distance != "euclidean" && c.distance != "standardized-euclidean" &&
      c.distance != "crossnobis")
    throw ConfigError("--distance: expected correlation, euclidean, standardized-euclidean or crossnobis, found '" + c.distance + "'");
  if (c.events.find("{episode}") == std::string::npos)
    throw ConfigError("--events '" + c.events + "': expected a path template holding {episode} (and optionally {subject})");
  const Sweep sweep = Sweep::load(c.sweep);
  const bool with_models = !sweep.features.empty();
  if (with_models && c.out.empty()) throw ConfigError("rsa --sweep: --out is required (the CSV of the comparisons)");
  if (!with_models && !c.out.empty())
    throw ConfigError(fmt::format("--out {}: {} has no features, so there is no model to compare; give --save-rdms "
                                  "alone to write its brain RDMs", c.out, c.sweep));
  if (!with_models && c.save_rdms.empty())
    throw ConfigError(fmt::format("{} has no features: rsa --sweep can only write its brain RDMs; give --save-rdms FILE.h5",
                                  c.sweep));
  const Plan p = make_plan(sweep, with_models ? PlanScope::full : PlanScope::fmri);
  std::vector<int> hrf_delays;  // of the grid: the samples of a condition depend on it
  if (with_models) {
    for (const auto& u : p.units)
      if (std::find(hrf_delays.begin(), hrf_delays.end(), u.hrf_delay) == hrf_delays.end()) hrf_delays.push_back(u.hrf_delay);
  } else {
    hrf_delays = sweep.hrf_delay;
  }
  if (hrf_delays.size() != 1)
    throw ConfigError(fmt::format("{}: the grid has {} hrf_delay values; rsa --sweep compares one at a time (use "
                                  "grid.include{} to keep one)", c.sweep, hrf_delays.size(), with_models ? "" : " or grid.hrf_delay"));
  const auto roi_specs = parse_roi_specs(c.rois);
  const std::vector<std::string> sets = split_commas(c.set);
  const RsaDesign d = rsa_design(p, RsaSource{c.sweep, false}, c.events, sets, c.distance, roi_specs, hrf_delays.front());
  const std::vector<RsaRoi> rois = rsa_brain_rdms(p, d);
  std::vector<NamedRdm> models;
  for (const auto& u : p.units) models.push_back({rsa_model_name(u), rsa_model_rdm(p, u, d)});
  report << fmt::format("{} conditions from {} events of {} ({} episodes of set {}; {} events without a trial_type left "
                        "out), {} subjects, {} models, distance {}{}\n", d.conditions.size(), d.labelled, c.events,
                        d.episodes.size(), c.set, d.unlabelled, p.subjects.size(), p.units.size(), c.distance,
                        d.distance == "crossnobis" ? fmt::format(" (leave one of {} runs out)", d.episodes.size()) : "");
  compare_and_report(models, rois, comps, c.options, c.ceiling, c.out, report, c.save_rdms, d.conditions);
}

void run_versa_command(const RsaSweepCommand& c, const std::string& run_dir, int hrf_delay, std::ostream& report) {
  if (std::filesystem::exists(c.out)) throw ConfigError("--out " + c.out + ": exists; refusing to overwrite it");
  fs::check_output_parent(c.out, "--out");
  const std::vector<Comparison> comps = parse_comparisons(c.comparisons);
  if (c.distance == "crossnobis")
    throw ConfigError("--distance crossnobis: not with --predictions (a job's predictions are one estimate per sample, "
                      "not independent runs' patterns); use correlation, euclidean or standardized-euclidean");
  if (c.events.find("{episode}") == std::string::npos)
    throw ConfigError("--events '" + c.events + "': expected a path template holding {episode} (and optionally {subject})");
  const Plan p = Plan::load(run_dir);
  if (p.rsa) throw ConfigError("--predictions " + run_dir + ": an RSA plan; veRSA needs an encoding run's predictions");
  const std::vector<std::string> sets = split_commas(c.set);
  for (const auto& name : sets)
    if (std::none_of(p.eval.begin(), p.eval.end(), [&](const EvalSet& e) { return e.name == name; }))
      throw ConfigError(fmt::format("--set {}: '{}' is not an eval set of {} (its job files hold predictions of the eval "
                                    "sets' episodes only: {})", c.set, name, run_dir,
                                    fmt::join([&] { std::vector<std::string> v; for (const auto& e : p.eval) v.push_back(e.name); return v; }(), ", ")));
  if (hrf_delay < 0) {
    std::set<int> lags;
    for (const auto& u : p.units) lags.insert(u.hrf_delay);
    if (lags.size() != 1)
      throw ConfigError(fmt::format("{}: its jobs have {} hrf_delay values; give --hrf-delay, the BOLD lag in TRs of the "
                                    "samples that belong to an event", run_dir, lags.size()));
    hrf_delay = *lags.begin();
  }
  const auto roi_specs = parse_roi_specs(c.rois);
  const RsaDesign d = rsa_design(p, RsaSource{run_dir + "/plan.json", false}, c.events, sets, c.distance, roi_specs, hrf_delay);
  const std::vector<RsaRoi> rois = rsa_brain_rdms(p, d);
  // Every job file first: a missing one fails before any comparison
  for (const auto& job : p.jobs)
    if (const std::string problem = job_file_problem(p, job, run_dir); !problem.empty())
      throw DataError(problem + "; the run is not complete (`brainsweep run " + run_dir + "` first)");
  report << fmt::format("veRSA: {} conditions from {} events of {} ({} episodes of set {}), {} subjects, {} units' "
                        "predictions, distance {}, hrf_delay {}\n", d.conditions.size(), d.labelled, c.events,
                        d.episodes.size(), c.set, p.subjects.size(), p.units.size(), c.distance, hrf_delay);
  // The model RDMs, once: each job file read and its condition patterns made once, an RDM per ROI
  // (model_rdm[unit][k][subject index of the ROI]).
  std::vector<std::vector<std::vector<Rdm>>> model_rdm(p.units.size(), std::vector<std::vector<Rdm>>(rois.size()));
  for (size_t ui = 0; ui < p.units.size(); ++ui) {
    const Unit& u = p.units[ui];
    for (const auto& sub : rois.front().subjects) {  // every ROI has the plan's subjects, in order
      const auto it = std::find(u.subjects.begin(), u.subjects.end(), sub);
      if (it == u.subjects.end()) throw DataError(fmt::format("unit {} has no job of subject {}", u.unit_id, sub));
      const std::string& job_id = u.job_ids[static_cast<size_t>(it - u.subjects.begin())];
      const Job& job = *std::find_if(p.jobs.begin(), p.jobs.end(), [&](const Job& j) { return j.job_id == job_id; });
      const h5::File f = open_job_file(p, job, run_dir);
      std::map<std::string, MatrixF> pred;
      for (const auto& ep : d.episodes) {
        const std::string name = "predictions/" + ep;
        if (!f.has(name)) throw DataError(fmt::format("{}: no dataset '{}'", f.path(), name));
        pred[ep] = f.read_f32(name);
      }
      const std::vector<MatrixD> patterns = patterns_of(d, pred, p.tr);
      for (size_t k = 0; k < rois.size(); ++k) model_rdm[ui][k].push_back(rdm_of(d, patterns, &d.rois[k].second));
    }
  }
  std::vector<RsaEntry> entries;
  const double kNan = std::numeric_limits<double>::quiet_NaN();
  for (size_t k = 0; k < rois.size(); ++k) {
    const RsaRoi& roi = rois[k];
    for (const Comparison cmp : comps) {
      const auto ceil = c.ceiling ? rsa_noise_ceiling(roi, cmp) : std::pair<double, double>{kNan, kNan};
      for (size_t ui = 0; ui < p.units.size(); ++ui) {
        RsaEntry e{rsa_model_name(p.units[ui]), roi.name, cmp, roi.subjects, roi.rdms.front().n, {}, ceil, ""};
        RsaResult& r = e.result;
        const size_t ns = roi.subjects.size();
        r.similarity.assign(ns + 1, 0.0);
        r.bootstrap_sd = r.ci_low = r.ci_high = r.p_permutation = std::vector<double>(ns + 1, kNan);
        r.bootstrap_n.assign(ns + 1, 0);
        std::vector<std::string> undefined;
        for (size_t s = 0; s < ns; ++s) {
          const Rdm& model = model_rdm[ui][k][s];
          if (!model.undefined.empty()) undefined.push_back(roi.subjects[s] + ": " + model.undefined);
          const RsaResult one = rsa_compare(model, {roi.rdms[s]}, cmp, c.options);
          r.similarity[s] = one.similarity[0];
          r.bootstrap_sd[s] = one.bootstrap_sd[0], r.ci_low[s] = one.ci_low[0], r.ci_high[s] = one.ci_high[0];
          r.p_permutation[s] = one.p_permutation[0];
          r.bootstrap_n[s] = one.bootstrap_n[0];
          r.similarity[ns] += one.similarity[0] / static_cast<double>(ns);
        }
        if (!undefined.empty()) e.undefined = fmt::format("{}", fmt::join(undefined, "; "));
        entries.push_back(std::move(e));
      }
    }
  }
  write_rsa_table(entries, c.options, c.out, report);
  report << fmt::format("wrote {}\n", c.out);
}

}  // namespace brainsweep
