// BIDS events and condition patterns (events.hpp).
#include "brainsweep/events.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/tsv.hpp"

namespace brainsweep {

std::vector<Event> read_events(const std::string& path, long* unlabelled) {
  if (unlabelled) *unlabelled = 0;
  const TsvTable t = read_tsv(path);
  const size_t co = t.column("onset"), cd = t.column("duration"), ct = t.column("trial_type");
  std::vector<Event> out;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& f = t.rows[r];
    Event e;
    e.line = t.lines[r];
    auto number = [&](size_t c, const char* name) {
      try {
        size_t used = 0;
        const double v = std::stod(f[c], &used);
        if (used != f[c].size() || !std::isfinite(v)) throw std::invalid_argument("");
        return v;
      } catch (const std::exception&) {
        throw DataError(fmt::format("{}:{}: column {}: expected a number of seconds, found '{}'", path, e.line, name, f[c]));
      }
    };
    e.onset = number(co, "onset");
    e.duration = number(cd, "duration");
    e.trial_type = f[ct];
    if (e.onset < 0) throw DataError(fmt::format("{}:{}: onset {} is negative", path, e.line, e.onset));
    if (e.duration <= 0) throw DataError(fmt::format("{}:{}: duration {} (expected > 0 s)", path, e.line, e.duration));
    if (e.trial_type.empty() || e.trial_type == "n/a") {
      if (unlabelled) ++*unlabelled;
      continue;
    }
    out.push_back(std::move(e));
  }
  if (out.empty()) throw DataError(path + ": no event with a trial_type after the header");
  return out;
}

std::vector<std::string> event_conditions(const std::vector<EventRun>& runs) {
  std::vector<std::string> out;
  for (const auto& r : runs)
    for (const auto& e : r.events)
      if (std::find(out.begin(), out.end(), e.trial_type) == out.end()) out.push_back(e.trial_type);
  return out;
}

void require_conditions_in_every_run(const std::vector<EventRun>& runs, const std::vector<std::string>& conditions,
                                     const std::string& needed_by, const std::string& conditions_from) {
  for (const auto& run : runs) {
    const std::vector<std::string> here = event_conditions({run});
    for (const auto& c : conditions)
      if (std::find(here.begin(), here.end(), c) == here.end())
        throw DataError(fmt::format("{}: no event of condition '{}' ({} needs every condition of {} in every "
                                    "run: each run is one repeat)", run.events_file, c, needed_by, conditions_from));
    for (const auto& c : here)
      if (std::find(conditions.begin(), conditions.end(), c) == conditions.end())
        throw DataError(fmt::format("{}: condition '{}' is not in {} (every run must hold the same conditions)",
                                    run.events_file, c, conditions_from));
  }
}

MatrixD condition_patterns(const std::vector<EventRun>& runs, const std::vector<std::string>& conditions, double tr,
                           int hrf_delay) {
  std::map<std::string, size_t> row;
  for (size_t k = 0; k < conditions.size(); ++k) row[conditions[k]] = k;
  const long channels = runs.front().samples->cols();
  MatrixD sum = MatrixD::Zero(static_cast<long>(conditions.size()), channels);
  std::vector<long> events(conditions.size(), 0);
  for (const auto& run : runs) {
    const MatrixF& x = *run.samples;
    if (x.cols() != channels)
      throw DimensionMismatch(fmt::format("{}: runs with {} and {} channels", run.events_file, channels, x.cols()));
    const double run_end = static_cast<double>(x.rows()) * tr;
    for (const auto& e : run.events) {
      const auto it = row.find(e.trial_type);
      if (it == row.end())
        throw DataError(fmt::format("{}:{}: condition '{}' is not among the conditions compared", run.events_file, e.line,
                                    e.trial_type));
      if (e.onset + e.duration > run_end + 1e-9)
        throw DataError(fmt::format("{}:{}: the event [{}, {}) s ends after its run ({} samples × {} s = {} s)",
                                    run.events_file, e.line, e.onset, e.onset + e.duration, x.rows(), tr, run_end));
      Eigen::RowVectorXd mean = Eigen::RowVectorXd::Zero(channels);
      long n = 0;
      // samples t with (t − hrf)·tr in [onset, onset + duration): t from ⌈onset/tr⌉ + hrf
      for (long t = std::max(0L, static_cast<long>(std::ceil(e.onset / tr - 1e-9)) + hrf_delay); t < x.rows(); ++t) {
        const double time = static_cast<double>(t - hrf_delay) * tr;
        if (time >= e.onset + e.duration - 1e-9) break;
        if (time < e.onset - 1e-9) continue;
        mean += x.row(t).cast<double>();
        ++n;
      }
      if (n == 0)
        throw DataError(fmt::format("{}:{}: the event [{}, {}) s of '{}' holds no sample (TR {} s, hrf_delay {})",
                                    run.events_file, e.line, e.onset, e.onset + e.duration, e.trial_type, tr, hrf_delay));
      sum.row(static_cast<long>(it->second)) += mean / static_cast<double>(n);
      ++events[it->second];
    }
  }
  for (size_t k = 0; k < conditions.size(); ++k) {
    if (events[k] == 0) throw DataError(fmt::format("condition '{}' has no event in any run", conditions[k]));
    sum.row(static_cast<long>(k)) /= static_cast<double>(events[k]);
  }
  return sum;
}

}  // namespace brainsweep
