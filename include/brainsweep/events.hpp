#pragma once
/// BIDS events (`*_events.tsv`: onset, duration in seconds, trial_type) and the condition patterns
/// of METRICS.md §2 built from them.
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"

namespace brainsweep {

struct Event {
  double onset = 0, duration = 0;  ///< seconds from the start of the run
  std::string trial_type;          ///< the condition
  long line = 0;                   ///< in the file, for messages
};

/// Read a BIDS events file. Events without a condition (trial_type empty or `n/a`, as BIDS writes
/// it: e.g. 164 of Sherlock's 518 scan-2 segments lie between its 50 named scenes) are left out and
/// counted in `unlabelled`.
/// @throw DataError  naming the file and line: no onset/duration/trial_type column, a value that is
///   not a number, a negative onset or a duration ≤ 0; no labelled event at all
std::vector<Event> read_events(const std::string& path, long* unlabelled = nullptr);

/// One run's samples and events.
struct EventRun {
  std::string events_file;  ///< for messages
  const MatrixF* samples;   ///< T × channels (fMRI samples, or the design rows of the same samples)
  std::vector<Event> events;
};

/// Condition patterns (METRICS.md §2): sample t of a run belongs to an event when its time after
/// the hrf delay, (t − hrf_delay)·tr, lies in [onset, onset + duration); an event's pattern is the
/// mean of its samples; a condition's pattern the mean of its events' patterns over all runs.
/// @param conditions  the condition order of the rows (all conditions present must be listed)
/// @return  conditions × channels, float64
/// @throw DataError  naming the events file and line: an event that ends after its run (onset +
///   duration > T·tr) or holds no sample; a listed condition without any event; or a condition not listed
MatrixD condition_patterns(const std::vector<EventRun>& runs, const std::vector<std::string>& conditions, double tr,
                           int hrf_delay);

/// The conditions of the runs' events, in order of first appearance.
std::vector<std::string> event_conditions(const std::vector<EventRun>& runs);

/// Check that every run holds an event of each of `conditions` and no other condition (each run a
/// repeat of the conditions: split-half and NCSNR ceilings, the crossnobis distance).
/// @param needed_by  what needs it, for the message (e.g. "--method ncsnr")
/// @param conditions_from  where the conditions were taken from (an events file, "the 12 episodes of
///        set train"), for the message
/// @throw DataError  naming the run's events file and the condition
void require_conditions_in_every_run(const std::vector<EventRun>& runs, const std::vector<std::string>& conditions,
                                     const std::string& needed_by, const std::string& conditions_from);

}  // namespace brainsweep
