// `brainsweep ceiling` and the ceiling table (ceiling.hpp, METRICS.md §1).
#include "brainsweep/ceiling.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/config.hpp"
#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/events.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/path_template.hpp"
#include "brainsweep/noise_ceiling.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/csv.hpp"
#include "brainsweep/scoring.hpp"

namespace brainsweep {
namespace {

/// The cells of a CSV line (csv.hpp: quoted names may hold commas). @throw DataError for an open quote
std::vector<std::string> split_commas(const std::string& line, const std::string& where) {
  std::vector<std::string> out;
  if (!split_csv(line, out)) throw DataError(where + ": a quote is not closed");
  return out;
}

/// Kept samples of one subject's episode.
MatrixF kept(const Plan& p, const std::string& sub, const std::string& ep) {
  const FmriRef& ref = p.fmri.at(sub).at(ep);
  return kept_rows(read_fmri(ref.file, ref.dataset), p.exclude_start, p.exclude_end);
}

/// split_half or ncsnr on condition patterns (--events): per subject, each episode of the set is a
/// run, its condition patterns (conditions × parcels) one repeat; every condition in every run.
void condition_level_ceilings(const CeilingOptions& o, const Sweep& sweep, const Plan& p,
                              const std::vector<std::string>& episodes, const std::vector<std::string>& parcels, std::ostringstream& csv,
                              std::vector<double>& mean, std::ostream& report) {
  if (sweep.hrf_delay.size() != 1)
    throw ConfigError(fmt::format("{}: key 'grid.hrf_delay' lists {} values; a ceiling on condition patterns uses one "
                                  "(the samples of a condition depend on it)", o.sweep, sweep.hrf_delay.size()));
  const int hrf = sweep.hrf_delay.front();
  if (episodes.size() < 2)
    throw ConfigError(fmt::format("--method {}: set '{}' of {} has {} run (expected at least 2 runs, each a repeat of "
                                  "the conditions)", o.method, o.set, o.sweep, episodes.size()));
  std::vector<std::string> conditions;
  std::string first_file;
  for (const auto& sub : p.subjects) {
    std::vector<MatrixF> samples;
    std::vector<EventRun> runs;
    for (const auto& ep : episodes) {
      const std::string path = fill_template(o.events, {{"episode", ep}, {"subject", sub}});
      runs.push_back({path, nullptr, read_events(path)});
    }
    if (conditions.empty()) {
      conditions = event_conditions(runs);
      first_file = runs.front().events_file;
      if (conditions.size() < 2)
        throw DataError(fmt::format("--events {}: {} condition ({}) (expected at least 2 trial_types)", o.events,
                                    conditions.size(), conditions.front()));
    }
    require_conditions_in_every_run(runs, conditions, "--method " + o.method, first_file);
    std::vector<MatrixD> repeats;
    for (size_t r = 0; r < episodes.size(); ++r) {
      const FmriRef& ref = p.fmri.at(sub).at(episodes[r]);
      const MatrixF y = read_fmri(ref.file, ref.dataset);
      EventRun run = runs[r];
      run.samples = &y;
      repeats.push_back(condition_patterns({run}, conditions, p.tr, hrf));
    }
    const long k = static_cast<long>(repeats.size()), c = static_cast<long>(conditions.size());
    if (o.method == "split_half") {
      const SplitHalf sh = split_half(std::vector<std::vector<MatrixD>>{repeats});
      for (size_t q = 0; q < parcels.size(); ++q) {
        csv << fmt::format("{},{},split_half,{},{:.9g},{},1,{},{:.9g},,\n", csv_text(sub), csv_text(parcels[q]), o.set, sh.ceiling[q], c, k,
                           sh.rho[q]);
        mean[q] += sh.ceiling[q] / static_cast<double>(p.subjects.size());
      }
    } else {
      const Ncsnr nc = ncsnr(repeats);
      for (size_t q = 0; q < parcels.size(); ++q) {
        csv << fmt::format("{},{},ncsnr,{},{:.9g},{},1,{},,{:.9g},{:.9g}\n", csv_text(sub), csv_text(parcels[q]), o.set, nc.ceiling[q], c, k,
                           nc.ncsnr[q], nc.nc[q]);
        mean[q] += nc.ceiling[q] / static_cast<double>(p.subjects.size());
      }
    }
  }
  report << fmt::format("{} conditions ({}), each once in each of {} runs; patterns at hrf_delay {} (TR {} s)\n",
                        conditions.size(), fmt::join(conditions, ", "), episodes.size(), hrf, p.tr);
}

}  // namespace

void run_ceiling_command(const CeilingOptions& o, std::ostream& report) {
  if (o.method != "isc" && o.method != "split_half" && o.method != "ncsnr")
    throw ConfigError("--method: expected isc, split_half or ncsnr, found '" + o.method + "'");
  if (o.method == "ncsnr" && o.events.empty())
    throw ConfigError("--method ncsnr: needs --events (it works on stimulus-level responses: the condition patterns of "
                      "each run, every run a repeat)");
  if (o.method == "isc" && !o.events.empty())
    throw ConfigError("--events: used by split_half and ncsnr (condition patterns over runs); isc correlates the "
                      "subjects' time series");
  if (!o.events.empty() && o.events.find("{episode}") == std::string::npos)
    throw ConfigError("--events '" + o.events + "': expected a path template holding {episode} (and optionally {subject})");
  if (std::filesystem::exists(o.out)) throw ConfigError("--out " + o.out + ": exists; refusing to overwrite it");
  fs::check_output_parent(o.out, "--out");
  const Sweep sweep = Sweep::load(o.sweep);
  const Plan p = make_plan(sweep, PlanScope::fmri);
  const std::vector<std::string>* set = p.set_episodes(o.set);
  if (!set) throw ConfigError(fmt::format("--set {}: not a set of {} (sets: {})", o.set, o.sweep, p.set_names()));
  const std::vector<std::string> episodes = *set;
  for (const auto& sub : p.subjects)
    for (const auto& ep : episodes)
      if (!p.fmri.at(sub).count(ep))
        throw DataError(fmt::format("--set {}: {} has no fMRI for episode '{}'", o.set, sub, ep));

  const auto& first = p.fmri.at(p.subjects.front()).at(episodes.front());
  const std::vector<std::string> parcels = parcel_names(first.file, first.n_parcels);
  std::ostringstream csv;
  csv << kCeilingColumns << "\n";
  std::vector<double> mean(parcels.size(), 0.0);

  if (o.method == "isc") {
    if (p.subjects.size() < 2)
      throw ConfigError(fmt::format("--method isc: a leave-one-out inter-subject ceiling needs at least 2 subjects; {} "
                                    "lists {} ({})", o.sweep, p.subjects.size(), p.subjects.front()));
    std::vector<MatrixF> series;
    for (const auto& sub : p.subjects) {
      long rows = 0;
      std::vector<MatrixF> parts;
      for (const auto& ep : episodes) {
        const FmriRef& ref = p.fmri.at(sub).at(ep);
        const FmriRef& ref0 = p.fmri.at(p.subjects.front()).at(ep);
        if (ref.n_tr != ref0.n_tr || ref.n_parcels != ref0.n_parcels)
          throw DataError(fmt::format("{}: dataset '{}' is {}×{}, {}'s is {}×{} (an inter-subject ceiling needs the "
                                      "same samples and parcels for every subject)", ref.file, ref.dataset, ref.n_tr,
                                      ref.n_parcels, p.subjects.front(), ref0.n_tr, ref0.n_parcels));
        parts.push_back(kept(p, sub, ep));
        rows += parts.back().rows();
      }
      MatrixF all(rows, parts.front().cols());
      long r0 = 0;
      for (const auto& m : parts) {
        all.middleRows(r0, m.rows()) = m;
        r0 += m.rows();
      }
      series.push_back(std::move(all));
    }
    const auto isc = isc_leave_one_out(series);
    for (size_t s = 0; s < p.subjects.size(); ++s)
      for (size_t c = 0; c < parcels.size(); ++c) {
        csv << fmt::format("{},{},isc,{},{:.9g},{},{},,,,\n", csv_text(p.subjects[s]), csv_text(parcels[c]), o.set, isc[s][c],
                           series[s].rows(), p.subjects.size());
        mean[c] += isc[s][c] / static_cast<double>(p.subjects.size());
      }
  } else if (!o.events.empty()) {
    condition_level_ceilings(o, sweep, p, episodes, parcels, csv, mean, report);
  } else {
    // Repetitions: <stimulus>_run-<n>, grouped by stimulus in set order.
    std::vector<std::pair<std::string, std::vector<std::string>>> groups;
    for (const auto& ep : episodes) {
      const auto pos = ep.rfind("_run-");
      if (pos == std::string::npos) continue;
      const std::string stim = ep.substr(0, pos);
      auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == stim; });
      if (it == groups.end()) groups.push_back({stim, {ep}});
      else it->second.push_back(ep);
    }
    std::erase_if(groups, [](const auto& g) { return g.second.size() < 2; });
    if (groups.empty())
      throw ConfigError(fmt::format("--method split_half: set '{}' of {} has no repeated episode (expected episodes "
                                    "named <stimulus>_run-<n>, at least two per stimulus)", o.set, o.sweep));
    for (const auto& sub : p.subjects) {
      std::vector<std::vector<MatrixF>> data;
      for (const auto& [stim, eps] : groups) {
        data.emplace_back();
        for (const auto& ep : eps) data.back().push_back(kept(p, sub, ep));
      }
      const SplitHalf sh = split_half(data);
      long samples = 0;
      for (const auto& g : data) {
        long rows = g[0].rows();
        for (const auto& m : g) rows = std::min(rows, m.rows());
        samples += rows;
      }
      for (size_t c = 0; c < parcels.size(); ++c) {
        csv << fmt::format("{},{},split_half,{},{:.9g},{},1,{},{:.9g},,\n", csv_text(sub), csv_text(parcels[c]), o.set, sh.ceiling[c],
                           samples, sh.k, sh.rho[c]);
        mean[c] += sh.ceiling[c] / static_cast<double>(p.subjects.size());
      }
    }
    std::string stims;
    for (const auto& [stim, eps] : groups) stims += (stims.empty() ? "" : ", ") + stim;
    report << fmt::format("repeated stimuli: {} ({} runs each)\n", stims, groups.front().second.size());
  }
  fs::write_text_atomic(o.out, csv.str());
  report << fmt::format("{} ceiling on set {} ({} episodes), {} subjects; mean over subjects per parcel:\n", o.method,
                        o.set, episodes.size(), p.subjects.size());
  const size_t shown = std::min<size_t>(parcels.size(), 20);
  for (size_t c = 0; c < shown; ++c) report << fmt::format("  {:<24} {:.4f}\n", parcels[c], mean[c]);
  if (shown < parcels.size()) report << fmt::format("  … {} more parcels in {}\n", parcels.size() - shown, o.out);
  report << fmt::format("wrote {}\n", o.out);
}

CeilingTable read_ceiling_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw DataError(path + ": cannot open the ceiling file");
  CeilingTable t;
  t.path = path;
  std::string line;
  if (!std::getline(in, line)) throw DataError(path + ": empty file (expected the CSV of `brainsweep ceiling`)");
  const auto header = split_commas(line, path + ":1");
  auto col = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end())
      throw DataError(fmt::format("{}:1: no column '{}' (expected the CSV of `brainsweep ceiling`: {})", path, name,
                                  kCeilingColumns));
    return static_cast<size_t>(it - header.begin());
  };
  const size_t cs = col("subject"), cp = col("parcel"), cm = col("method"), cset = col("set"), cc = col("ceiling");
  for (long lineno = 2; std::getline(in, line); ++lineno) {
    if (line.empty()) continue;
    const auto f = split_commas(line, fmt::format("{}:{}", path, lineno));
    if (f.size() != header.size())
      throw DataError(fmt::format("{}:{}: expected {} fields, found {}", path, lineno, header.size(), f.size()));
    if (t.method.empty()) {
      t.method = f[cm];
      t.set = f[cset];
    } else if (f[cm] != t.method || f[cset] != t.set) {
      throw DataError(fmt::format("{}:{}: method {} on set {}, earlier rows {} on {} (expected one method and set per "
                                  "file)", path, lineno, f[cm], f[cset], t.method, t.set));
    }
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(f[cc], &used);
      if (used != f[cc].size()) throw std::invalid_argument("");
    } catch (const std::exception&) {
      throw DataError(fmt::format("{}:{}: column ceiling: expected a number, found '{}'", path, lineno, f[cc]));
    }
    if (!std::isfinite(v) || v < -1 || v > 1)  // a ceiling is a correlation
      throw DataError(fmt::format("{}:{}: column ceiling: expected a correlation in [-1, 1], found {} ({} {})", path,
                                  lineno, f[cc], f[cs], f[cp]));
    if (!t.ceiling.emplace(std::make_pair(f[cs], f[cp]), v).second)
      throw DataError(fmt::format("{}:{}: {} {} listed twice", path, lineno, f[cs], f[cp]));
  }
  if (t.ceiling.empty()) throw DataError(path + ": no ceiling after the header");
  return t;
}

}  // namespace brainsweep
