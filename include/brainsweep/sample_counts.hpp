#pragma once
/// Test-set sample counts of a dataset (DATA.md, "Submission"): how many fMRI samples each test
/// episode of each subject has. Read by planning (test sets of a sweep) and by `submit`.
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace brainsweep {

/// Per subject, the episodes of one test set and their fMRI sample counts, in file order.
using SampleCounts = std::map<std::string, std::vector<std::pair<std::string, long>>>;

/// Read the sample counts of test set `test_set` (`friends-s7`, `ood`, or a pseudo test set).
/// `source` is either
///  - a JSON file `{test_set: {subject: {episode: n_samples}}}` (the format of
///    `../shared/data/algonauts2025/target_sample_counts.json`), or
///  - a path template holding `{subject}` and `{test_set}`, e.g.
///    `ROOT/fmri/{subject}/target_sample_number/{subject}_{test_set}_fmri_samples.npy`, each file an
///    `np.save`d dict {episode: n_samples} (read with brainsweep's own pickle reader).
/// @param subjects  subjects to read; for a JSON source, empty means every subject in the file
/// @throw DataError  naming the file and the test set or subject when missing or malformed
SampleCounts read_sample_counts(const std::string& source, const std::string& test_set,
                                const std::vector<std::string>& subjects);

/// The file that holds the counts of `subject` for `test_set`: the template with `{subject}` and
/// `{test_set}` filled in, or the JSON file itself.
std::string sample_counts_file(const std::string& source, const std::string& test_set, const std::string& subject);

}  // namespace brainsweep
