#include "brainsweep/scoring.hpp"

#include "brainsweep/errors.hpp"
#include "brainsweep/ridge.hpp"

namespace brainsweep {

MatrixF kept_rows(const MatrixF& m, int exclude_start, int exclude_end) {
  const long n = std::max(0L, m.rows() - exclude_start - exclude_end);
  return m.middleRows(std::min<long>(exclude_start, m.rows()), n);
}

std::vector<double> score_eval_set(const EvalSet& set, const std::map<std::string, MatrixF>& pred,
                                   const std::map<std::string, MatrixF>& truth, int exclude_start, int exclude_end) {
  std::vector<std::string> movies;
  for (const auto& ep : set.episodes) {
    const auto& mv = set.movies.at(ep);
    if (std::find(movies.begin(), movies.end(), mv) == movies.end()) movies.push_back(mv);
  }
  std::vector<double> mean;
  for (const auto& mv : movies) {
    // The movie's episodes, their kept rows taken together without copying them.
    std::vector<RowBlock> blocks;
    for (const auto& ep : set.episodes) {
      if (set.movies.at(ep) != mv) continue;
      const MatrixF& p = pred.at(ep);
      const MatrixF& t = truth.at(ep);
      if (p.rows() != t.rows() || p.cols() != t.cols())
        throw DimensionMismatch("episode '" + ep + "': prediction is " + std::to_string(p.rows()) + "×" +
                                std::to_string(p.cols()) + ", fMRI is " + std::to_string(t.rows()) + "×" +
                                std::to_string(t.cols()));
      const long row0 = std::min<long>(exclude_start, p.rows());
      blocks.push_back({&p, &t, row0, std::max(0L, p.rows() - exclude_start - exclude_end)});
    }
    const auto r = column_pearson(blocks);
    if (mean.empty()) mean.assign(r.size(), 0.0);
    for (size_t j = 0; j < r.size(); ++j) mean[j] += r[j] / static_cast<double>(movies.size());
  }
  return mean;
}

}  // namespace brainsweep
