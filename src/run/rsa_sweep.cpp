// `brainsweep rsa --sweep` (rsa_sweep.hpp).
#include "brainsweep/rsa_sweep.hpp"

#include <filesystem>
#include <algorithm>
#include <map>
#include <numeric>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/config.hpp"
#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/events.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/path_template.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/run.hpp"

namespace brainsweep {

void run_rsa_sweep_command(const RsaSweepCommand& c, std::ostream& report) {
  if (!c.out.empty() && std::filesystem::exists(c.out))
    throw ConfigError("--out " + c.out + ": exists; refusing to overwrite it");
  if (!c.out.empty()) fs::check_output_parent(c.out, "--out");
  std::vector<Comparison> comps;
  for (const auto& name : c.comparisons) comps.push_back(parse_comparison(name));
  if (c.distance != "correlation" && c.distance != "euclidean" && c.distance != "crossnobis")
    throw ConfigError("--distance: expected correlation, euclidean or crossnobis, found '" + c.distance + "'");
  if (c.events.find("{episode}") == std::string::npos)
    throw ConfigError("--events '" + c.events + "': expected a path template holding {episode}");
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
  const int hrf_delay = hrf_delays.front();
  std::vector<std::string> episodes;  // of every set named, in order, each once
  {
    std::stringstream ss(c.set);
    for (std::string name; std::getline(ss, name, ',');) {
      const std::vector<std::string>* eps = nullptr;
      if (name == "train") eps = &p.train;
      for (const auto& e : p.eval)
        if (e.name == name) eps = &e.episodes;
      if (!eps) throw ConfigError(fmt::format("--set {}: '{}' is not a set of {} (train or an eval set)", c.set, name, c.sweep));
      for (const auto& ep : *eps)
        if (std::find(episodes.begin(), episodes.end(), ep) == episodes.end()) episodes.push_back(ep);
    }
  }
  // Events per episode.
  std::map<std::string, std::vector<Event>> events;
  std::map<std::string, std::string> event_file;
  long unlabelled = 0, labelled = 0;
  for (const auto& ep : episodes) {
    const std::string path = fill_template(c.events, {{"episode", ep}});
    long skipped = 0;
    events[ep] = read_events(path, &skipped);
    unlabelled += skipped;
    labelled += static_cast<long>(events[ep].size());
    event_file[ep] = path;
  }
  // Conditions in order of first appearance over the set's episodes.
  std::vector<std::string> conditions;
  {
    std::vector<EventRun> runs;
    for (const auto& ep : episodes) runs.push_back({event_file[ep], nullptr, events[ep]});
    conditions = event_conditions(runs);
  }
  if (conditions.size() < 3)
    throw DataError(fmt::format("--events {}: {} conditions (expected at least 3 trial_types)", c.events, conditions.size()));

  const bool crossnobis = c.distance == "crossnobis";
  if (crossnobis) {
    std::vector<EventRun> runs;
    for (const auto& ep : episodes) runs.push_back({event_file[ep], nullptr, events[ep]});
    if (runs.size() < 2)
      throw ConfigError(fmt::format("--distance crossnobis: set {} of {} has 1 run ({}); the cross-validated distance "
                                    "needs at least 2 runs of the conditions", c.set, c.sweep, episodes.front()));
    require_conditions_in_every_run(runs, conditions, "--distance crossnobis",
                                    fmt::format("the {} episodes of set {}", episodes.size(), c.set));
  }
  // Condition patterns of per-episode samples (fMRI, or design rows): their mean over the runs, or
  // (crossnobis) one matrix per run.
  auto patterns_of = [&](const std::map<std::string, MatrixF>& samples) {
    std::vector<EventRun> runs;
    for (const auto& ep : episodes) runs.push_back({event_file[ep], &samples.at(ep), events[ep]});
    std::vector<MatrixD> out;
    if (crossnobis) {
      for (const auto& run : runs) out.push_back(condition_patterns({run}, conditions, p.tr, hrf_delay));
    } else {
      out.push_back(condition_patterns(runs, conditions, p.tr, hrf_delay));
    }
    return out;
  };
  auto rdm_of = [&](const std::vector<MatrixD>& patterns, const std::vector<long>* cols) {
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
    return crossnobis ? rdm_crossnobis(sel) : rdm_from_patterns(sel.front(), c.distance);
  };
  // ROIs: all parcels (named after the atlas), or --roi NAME=REGEX over the parcel names.
  std::vector<std::pair<std::string, std::vector<long>>> roi_columns;
  {
    const FmriRef& ref = p.fmri.at(p.subjects.front()).at(episodes.front());
    const auto names = parcel_names(ref.file, ref.n_parcels);
    if (c.rois.empty()) {
      std::vector<long> all(names.size());
      std::iota(all.begin(), all.end(), 0L);
      roi_columns.emplace_back(p.atlas, all);
    }
    for (const auto& spec : c.rois) {
      const auto eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        throw ConfigError("--roi '" + spec + "': expected NAME=REGEX (a regular expression over the parcel names)");
      const std::string name = spec.substr(0, eq), pattern = spec.substr(eq + 1);
      std::regex re;
      try {
        re = std::regex(pattern);
      } catch (const std::regex_error& e) {
        throw ConfigError("--roi '" + spec + "': not a regular expression (" + e.what() + ")");
      }
      std::vector<long> cols;
      for (size_t k = 0; k < names.size(); ++k)
        if (std::regex_match(names[k], re)) cols.push_back(static_cast<long>(k));
      if (cols.empty())
        throw ConfigError(fmt::format("--roi '{}': no parcel of {} matches (names such as {})", spec, ref.file,
                                      fmt::join(std::vector<std::string>(names.begin(), names.begin() + std::min<size_t>(3, names.size())), ", ")));
      roi_columns.emplace_back(name, cols);
    }
  }
  // Brain RDMs per subject × ROI.
  std::vector<RsaRoi> rois;
  for (const auto& [name, cols] : roi_columns) rois.push_back({name, {}, {}});
  std::map<std::string, MatrixF> first_fmri;  // episode → samples of the first subject (their row counts)
  for (const auto& sub : p.subjects) {
    std::map<std::string, MatrixF> fmri;
    for (const auto& ep : episodes) {
      if (!p.fmri.at(sub).count(ep)) throw DataError(fmt::format("--set {}: {} has no fMRI for episode '{}'", c.set, sub, ep));
      const FmriRef& ref = p.fmri.at(sub).at(ep);
      fmri[ep] = read_fmri(ref.file, ref.dataset);
    }
    const std::vector<MatrixD> patterns = patterns_of(fmri);
    for (size_t k = 0; k < roi_columns.size(); ++k) {
      rois[k].subjects.push_back(sub);
      rois[k].rdms.push_back(rdm_of(patterns, &roi_columns[k].second));
    }
    if (first_fmri.empty()) first_fmri = std::move(fmri);
  }
  // Model RDMs: one per unit (feature set × grid point), the design rows of the same samples.
  std::vector<NamedRdm> models;
  for (const auto& u : p.units) {
    std::map<std::string, MatrixF> design;
    for (const auto& ep : episodes) design[ep] = episode_design(p, u, ep, first_fmri.at(ep).rows());
    models.push_back({fmt::format("{}/{} w{} d{}", u.model, fmt::join(u.layers, "+"), u.stimulus_window, u.hrf_delay),
                      rdm_of(patterns_of(design), nullptr)});
  }
  report << fmt::format("{} conditions from {} events of {} ({} episodes of set {}; {} events without a trial_type left "
                        "out), {} subjects, {} models, distance {}{}\n", conditions.size(), labelled, c.events,
                        episodes.size(), c.set, unlabelled, p.subjects.size(), p.units.size(), c.distance,
                        crossnobis ? fmt::format(" (leave one of {} runs out)", episodes.size()) : "");
  compare_and_report(models, rois, comps, c.options, c.ceiling, c.out, report, c.save_rdms, conditions);
}

}  // namespace brainsweep
