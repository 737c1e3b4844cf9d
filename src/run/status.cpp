// Unit state records (done / failed / pending) and `brainsweep status`.
#include "brainsweep/status.hpp"

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/run.hpp"
#include "brainsweep/scheduler.hpp"
#include "brainsweep/unit_kind.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

namespace {
std::string failed_path(const std::string& run_dir, const std::string& unit_id) {
  return (sfs::path(run_dir) / "units" / (unit_id + ".failed")).string();
}
}  // namespace

UnitStatus unit_status(const Plan& plan, const Unit& unit, const std::string& run_dir) {
  if (unit_done(plan, unit, run_dir)) {
    const std::string stale = unit_kind(plan, unit).stale(plan, unit, run_dir);
    if (stale.empty()) return {UnitState::done, ""};
    return {UnitState::pending, "marked done, but " + stale + "; `brainsweep run` fits it again"};
  }
  const std::string f = failed_path(run_dir, unit.unit_id);
  if (sfs::exists(f)) {
    std::string text;
    try {
      text = fs::read_text(f);
    } catch (const std::exception& e) {
      text = e.what();
    }
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return {UnitState::failed, text};
  }
  const std::string problem = unit_record_problem(plan, unit, run_dir);
  return {UnitState::pending, problem.empty() ? "" : "marked done, but " + problem + "; `brainsweep run` fits it again"};
}

void record_unit_failure(const std::string& run_dir, const std::string& unit_id, const std::string& error) {
  fs::write_text_atomic(failed_path(run_dir, unit_id), error + "\n");
}

void clear_unit_failure(const std::string& run_dir, const std::string& unit_id) {
  std::error_code ec;
  sfs::remove(failed_path(run_dir, unit_id), ec);
}

RunStatus run_status(const std::string& run_dir) {
  const Plan p = Plan::load(run_dir);
  RunStatus s;
  s.units = static_cast<long>(p.units.size());
  s.jobs = static_cast<long>(p.jobs.size());
  for (const auto& u : p.units) {
    const UnitStatus us = unit_status(p, u, run_dir);
    switch (us.state) {
      case UnitState::done:
        ++s.done;
        s.jobs_done += static_cast<long>(u.job_ids.size());
        break;
      case UnitState::failed:
        ++s.failed;
        s.failures.emplace_back(u.unit_id, us.error);
        break;
      case UnitState::pending:
        ++s.pending;
        s.pending_units.push_back(u.unit_id);
        if (!us.error.empty()) s.invalid.emplace_back(u.unit_id, us.error);
        break;
    }
  }
  s.results_csv = sfs::exists(sfs::path(run_dir) / "results.csv");
  s.results_h5 = sfs::exists(sfs::path(run_dir) / "results.h5");
  return s;
}

int print_run_status(const std::string& run_dir, std::ostream& out, int max_list) {
  const RunStatus s = run_status(run_dir);
  const Plan p = Plan::load(run_dir);
  auto describe = [&](const std::string& unit_id) {
    for (const auto& u : p.units)
      if (u.unit_id == unit_id) return unit_kind(p, u).describe(p, u, run_dir);
    return std::string();
  };
  fmt::print(out, "run {}: {} units ({} jobs)\n", run_dir, s.units, s.jobs);
  fmt::print(out, "  done     {:>6} units ({} jobs)\n", s.done, s.jobs_done);
  fmt::print(out, "  failed   {:>6} units\n", s.failed);
  fmt::print(out, "  pending  {:>6} units\n", s.pending);
  for (const auto& [id, err] : s.failures) fmt::print(out, "failed unit {} ({}):\n  {}\n", id, describe(id), err);
  int listed = 0;
  for (const auto& id : s.pending_units) {
    if (listed++ == max_list) {
      fmt::print(out, "  ... and {} more pending\n", s.pending - max_list);
      break;
    }
    fmt::print(out, "pending unit {} ({})\n", id, describe(id));
  }
  for (const auto& [id, why] : s.invalid) fmt::print(out, "unit {} ({}): {}\n", id, describe(id), why);
  if (p.rsa)  // an RSA plan's results are its RSA table; it has no results.h5
    fmt::print(out, "results.csv (the RSA table): {}; rsa_report.txt: {}\n", s.results_csv ? "written" : "not written",
               sfs::exists(sfs::path(run_dir) / "rsa_report.txt") ? "written" : "not written");
  else
    fmt::print(out, "results.csv: {}; results.h5: {}\n", s.results_csv ? "written" : "not written",
               s.results_h5 ? "written" : "not written");
  if (s.failed > 0) return 1;
  if (s.pending > 0) return 3;
  return 0;
}

}  // namespace brainsweep
