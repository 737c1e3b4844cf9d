#pragma once
/// Behavioural odd-one-out (METRICS.md §3): how often a model's similarities pick the item that
/// people chose as the odd one out of a triplet (THINGS, Hebart et al. 2020), with a bootstrap over
/// triplets and the human noise ceiling of repeated triplets.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"

namespace brainsweep {

/// Triplets with a human choice, item indices 0-based (the file's are 1-based, as THINGS's).
struct Triplets {
  std::string path;
  std::vector<std::array<std::int32_t, 3>> items;  ///< (a, b, c) per trial
  std::vector<std::int8_t> choice;                 ///< position 0, 1 or 2 of the odd one (file: 1-3)
};

/// Read a triplet TSV: a header naming (in any order, other columns allowed) `item_a`, `item_b`,
/// `item_c` (1-based item indices into the embedding's rows) and `odd_one_out` (1-3, the position of
/// the item chosen as the odd one), then one trial per line.
/// @param n_items  rows of the embedding: indices must be in 1 … n_items
/// @throw DataError  naming the file and line: a missing column, a field that is not an integer, an
///   index out of range, a choice outside 1-3, an item repeated within a triplet, no trial at all
Triplets read_triplets(const std::string& path, long n_items);

enum class Similarity { dot, cosine };
enum class OddRule {
  odd_one_out,  ///< the model's odd one is the item outside its most similar pair (chance 1/3)
  anchor,       ///< anchor = the first non-odd item of the trial, positive = the other one, negative
                ///< = the human's odd one: correct when sim(anchor, positive) > sim(anchor, negative) (chance 1/2)
};
/// @throw ConfigError naming the option for an unknown name
Similarity parse_similarity(const std::string& name);
OddRule parse_odd_rule(const std::string& name);
std::string to_string(Similarity s);
std::string to_string(OddRule r);

struct OddOneOutOptions {
  Similarity similarity = Similarity::dot;
  OddRule rule = OddRule::odd_one_out;
  long bootstrap = 1000;     ///< resamples of the triplets (0: none)
  std::uint64_t seed = 0;
};

struct OddOneOutResult {
  long n_items = 0, n_triplets = 0, n_correct = 0;
  double accuracy = 0, chance = 0;
  double bootstrap_sd = 0, ci_low = 0, ci_high = 0;  ///< NaN without bootstrap
  long n_distinct = 0;       ///< distinct triplets (the same three items in any order)
  long n_repeated = 0;       ///< distinct triplets answered at least twice
  double human_ceiling = 0;  ///< NaN when no triplet repeats
  std::vector<std::uint8_t> correct;  ///< per trial
};

/// Accuracy of `embedding` (items × dimensions) on `triplets` (METRICS.md §3).
/// - Similarity of items x, y: the dot product of their rows (float64 sums of float32 products), or
///   the cosine (dot / (‖x‖ ‖y‖); 0 when a row is all zeros).
/// - odd_one_out: with s_ab, s_ac, s_bc the pair similarities, the odd one is c, b or a for the
///   largest of them; among equal largest, the pair listed first in (ab, ac, bc) (numpy's argmax
///   over [s_ab, s_ac, s_bc], as in the THINGS/VICE evaluation code). Correct when it is the human's.
/// - Bootstrap: resample b draws n trials with replacement; the accuracy depends on a trial only
///   through whether it is correct, so resample b counts the draws u_bi = index_from_draw(
///   splitmix64_at(seed, b·n + i), n), i < n, that fall below n_correct (trials ordered correct
///   first). SD with ddof 1; the 95 % interval is the 2.5 and 97.5 percentiles (linear interpolation,
///   numpy's default). Identical on every platform and for any split of the work.
/// - Human noise ceiling: per distinct triplet answered at least twice, the share of its most common
///   answer (the item chosen), averaged over those triplets.
/// @throw DataError  if an index exceeds the embedding's rows or the embedding holds NaN/Inf
OddOneOutResult odd_one_out(const MatrixF& embedding, const Triplets& triplets, const OddOneOutOptions& options);

/// Read an embedding: `FILE.npy` (np.save of a 2-D float32/float64 array) or `FILE.h5:/dataset` (a
/// 2-D dataset, e.g. a layer of a feature file written by `brainsweep extract`, one row per item).
/// @throw DataError  naming the file (and dataset)
MatrixF read_embedding(const std::string& spec);

/// `FILE.h5` alone (a feature file, e.g. written by `extract` with `image:`: one row per item)
/// stands for every 2-D dataset at its root, `FILE.h5:/<layer>` in HDF5 name order; other specs are
/// kept. @throw DataError  for an HDF5 file without a 2-D dataset, or one that does not exist
std::vector<std::string> expand_embeddings(const std::vector<std::string>& specs);

/// `brainsweep odd-one-out`: read each embedding and the triplets, compute, write one CSV row per embedding.
struct OddOneOutCommand {
  std::vector<std::string> embeddings;  ///< one CSV row each (e.g. the layers of a model, or several models)
  std::string triplets, out;
  OddOneOutOptions options;
};

/// Columns of the CSV that `run_odd_one_out_command` writes (one row per embedding).
inline constexpr const char* kOddOneOutColumns =
    "embedding,triplets,similarity,rule,n_items,n_dimensions,n_triplets,n_correct,accuracy,bootstrap_sd,ci_low,"
    "ci_high,chance,n_bootstrap,seed,n_distinct_triplets,n_repeated_triplets,human_ceiling";

/// Run the command: `out` is written atomically and never overwritten (refused if it exists).
/// @return  the result, with the seconds spent reading (read_s), on the accuracy (score_s), the
///          bootstrap (bootstrap_s) and the ceiling; @throw ConfigError, DataError as above
std::vector<OddOneOutResult> run_odd_one_out_command(const OddOneOutCommand& c, double* read_s = nullptr,
                                                     double* compute_s = nullptr);

}  // namespace brainsweep
