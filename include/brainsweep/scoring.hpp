#pragma once
/// Scores of ENCODING.md §5.
#include <map>
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"
#include "brainsweep/plan.hpp"

namespace brainsweep {

/// Rows [exclude_start, T − exclude_end) of m.
MatrixF kept_rows(const MatrixF& m, int exclude_start, int exclude_end);

/// Pearson r per target on an evaluation set (ENCODING.md §5): the episodes of each movie are
/// concatenated, in the set's order, after exclusion; r per column per movie; mean over movies.
/// @param pred, truth  episode → T × t (every sample; exclusion is applied here)
/// @throw DimensionMismatch  if an episode's prediction and measurement differ in shape
std::vector<double> score_eval_set(const EvalSet& set, const std::map<std::string, MatrixF>& pred,
                                   const std::map<std::string, MatrixF>& truth, int exclude_start, int exclude_end);

}  // namespace brainsweep
