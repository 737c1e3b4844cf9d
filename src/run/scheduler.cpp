// Dynamic unit scheduling over MPI one-sided atomics, and the progress reporter of rank 0.
#include "brainsweep/scheduler.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "brainsweep/errors.hpp"

namespace brainsweep {

namespace {
constexpr int kNext = 0, kFinished = 1, kCostMicros = 2, kSlots = 3;
}

WorkCounter::WorkCounter(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const MPI_Aint bytes = rank == 0 ? static_cast<MPI_Aint>(kSlots * sizeof(long)) : 0;
  if (MPI_Win_allocate(bytes, sizeof(long), MPI_INFO_NULL, comm, &base_, &win_) != MPI_SUCCESS)
    throw Error("MPI_Win_allocate failed for the unit counter");
  if (rank == 0)
    for (int i = 0; i < kSlots; ++i) base_[i] = 0;
  MPI_Barrier(comm);  // rank 0's counters are zero before anyone reads them
  MPI_Win_lock_all(MPI_MODE_NOCHECK, win_);
}

WorkCounter::~WorkCounter() {
  MPI_Win_unlock_all(win_);
  MPI_Win_free(&win_);
}

long WorkCounter::next() {
  const long one = 1;
  long got = 0;
  MPI_Fetch_and_op(&one, &got, MPI_LONG, 0, kNext, MPI_SUM, win_);
  MPI_Win_flush(0, win_);
  return got;
}

void WorkCounter::finished(double cost_s) {
  const long one = 1, micros = std::lround(cost_s * 1e6);
  long ignored = 0;
  MPI_Fetch_and_op(&micros, &ignored, MPI_LONG, 0, kCostMicros, MPI_SUM, win_);
  MPI_Fetch_and_op(&one, &ignored, MPI_LONG, 0, kFinished, MPI_SUM, win_);
  MPI_Win_flush(0, win_);
}

std::pair<long, double> WorkCounter::progress() {
  long finished = 0, micros = 0;
  const long zero = 0;
  MPI_Fetch_and_op(&zero, &finished, MPI_LONG, 0, kFinished, MPI_NO_OP, win_);
  MPI_Fetch_and_op(&zero, &micros, MPI_LONG, 0, kCostMicros, MPI_NO_OP, win_);
  MPI_Win_flush(0, win_);
  return {finished, static_cast<double>(micros) * 1e-6};
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

ProgressReporter::ProgressReporter(long total_units, long total_jobs, double total_cost_s, double interval_s)
    : total_units_(total_units),
      total_jobs_(total_jobs),
      total_cost_s_(total_cost_s),
      interval_s_(interval_s),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void ProgressReporter::update(long units_done, long jobs_done, double cost_done_s, bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (!force && since < (tty_ ? std::min(interval_s_, 1.0) : interval_s_)) return;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  // ETA from the predicted cost still to do, at the pace measured so far.
  const double eta = cost_done_s > 0 ? elapsed * (total_cost_s_ - cost_done_s) / cost_done_s : NAN;
  const std::string line =
      fmt::format("progress: {}/{} units ({:.0f}%), {}/{} jobs, {:.2f} jobs/s, elapsed {}, ETA {}", units_done,
                  total_units_, total_units_ ? 100.0 * units_done / total_units_ : 100.0, jobs_done, total_jobs_,
                  elapsed > 0 ? jobs_done / elapsed : 0.0, format_duration(elapsed),
                  units_done >= total_units_ ? "0:00" : format_duration(eta));
  if (tty_) {
    fmt::print(stderr, "\r{}\x1b[K", line);
    if (units_done >= total_units_) fmt::print(stderr, "\n");
  } else {
    fmt::print(stderr, "{}\n", line);
  }
  std::fflush(stderr);
  printed_ = true;
}

}  // namespace brainsweep
