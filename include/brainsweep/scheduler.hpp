#pragma once
/// Dynamic scheduling of work units over MPI ranks without a scheduler thread: a shared counter in
/// an MPI window on rank 0, advanced with MPI_Fetch_and_op (passive target, MPI_Win_lock_all).
/// Every rank, rank 0 included, takes the next unit of one list ordered largest cost first.
#include <mpi.h>

#include <chrono>
#include <string>

namespace brainsweep {

/// Counters shared by all ranks of `comm`, stored on rank 0: the next unit to hand out, units
/// finished (done or failed), and the predicted cost of the finished units.
/// The constructor and destructor are collective; the other calls are not (one-sided).
/// Progress of the one-sided operations does not need rank 0 to call MPI: true for OpenMPI's
/// shared-memory (osc/sm) and UCX (osc/ucx) components; with others it can wait until rank 0 enters
/// MPI again, between its units (results are unaffected, only the balance).
class WorkCounter {
 public:
  /// @throw Error  if the window cannot be created
  explicit WorkCounter(MPI_Comm comm);
  ~WorkCounter();
  WorkCounter(const WorkCounter&) = delete;
  WorkCounter& operator=(const WorkCounter&) = delete;

  /// Atomically take the next index (0, 1, 2, ... over all ranks together). Not collective.
  long next();
  /// Record one finished unit and its predicted cost (seconds). Not collective.
  void finished(double cost_s);
  /// Units finished so far and their predicted cost in seconds (a consistent snapshot). Not collective.
  std::pair<long, double> progress();

 private:
  MPI_Win win_ = MPI_WIN_NULL;
  long* base_ = nullptr;
};

/// Progress lines on rank 0: units done / total, jobs per second, elapsed, ETA (from the predicted
/// cost of what is left). On a terminal one line rewritten in place; otherwise (SLURM logs) one
/// line per update, at most one every `interval_s`.
class ProgressReporter {
 public:
  ProgressReporter(long total_units, long total_jobs, double total_cost_s, double interval_s);
  /// Print if the interval has passed (or `force`). `units_done` and `jobs_done` count this run only.
  void update(long units_done, long jobs_done, double cost_done_s, bool force = false);

 private:
  long total_units_, total_jobs_;
  double total_cost_s_, interval_s_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
  bool printed_ = false;
};

/// "1:02:03" or "2:03" for a number of seconds.
std::string format_duration(double seconds);

}  // namespace brainsweep
