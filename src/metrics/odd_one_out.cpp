// Behavioural odd-one-out (odd_one_out.hpp, METRICS.md §3).
#include "brainsweep/odd_one_out.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/npy.hpp"
#include "brainsweep/random.hpp"
#include "brainsweep/tsv.hpp"
#include "metrics_util.hpp"

namespace brainsweep {
namespace {

long parse_int(const std::string& field, const std::string& where) {
  long v = 0;
  const auto* end = field.data() + field.size();
  const auto r = std::from_chars(field.data(), end, v);
  if (field.empty() || r.ec != std::errc() || r.ptr != end)
    throw DataError(where + ": expected an integer, found '" + field + "'");
  return v;
}

/// Number of draws base … base + n − 1 of stream `seed` below `thr`: the bootstrap's inner loop.
/// Cloned for AVX-512 (8 SplitMix64 lanes with vpmullq) and AVX2 (GCC's target_clones picks the
/// clone at load time); the result does not depend on the clone.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) std::uint64_t count_draws_below(
    std::uint64_t seed, std::uint64_t base, std::uint64_t n, std::uint64_t thr) {
  std::uint64_t count = 0;
  for (std::uint64_t i = 0; i < n; ++i) count += splitmix64_at(seed, base + i) < thr ? 1 : 0;
  return count;
}

}  // namespace

Triplets read_triplets(const std::string& path, long n_items) {
  const TsvTable tsv = read_tsv(path);
  Triplets t;
  t.path = path;
  size_t col[4];
  const char* names[4] = {"item_a", "item_b", "item_c", "odd_one_out"};
  for (int k = 0; k < 4; ++k) {
    const auto it = std::find(tsv.header.begin(), tsv.header.end(), names[k]);
    if (it == tsv.header.end())
      throw DataError(fmt::format("{}:1: the header has no column '{}' (expected tab-separated item_a, item_b, "
                                  "item_c, odd_one_out; found {})", path, names[k], fmt::join(tsv.header, ", ")));
    col[k] = static_cast<size_t>(it - tsv.header.begin());
  }
  for (size_t r = 0; r < tsv.rows.size(); ++r) {
    const auto& f = tsv.rows[r];
    const std::string where = fmt::format("{}:{}", path, tsv.lines[r]);
    std::array<std::int32_t, 3> items{};
    for (int k = 0; k < 3; ++k) {
      const long v = parse_int(f[col[k]], where + ": column " + names[k]);
      if (v < 1 || v > n_items)
        throw DataError(fmt::format("{}: column {}: item {} is outside 1…{} (the embedding has {} rows; indices are "
                                    "1-based)", where, names[k], v, n_items, n_items));
      items[k] = static_cast<std::int32_t>(v - 1);
    }
    if (items[0] == items[1] || items[0] == items[2] || items[1] == items[2])
      throw DataError(fmt::format("{}: the triplet ({}, {}, {}) repeats an item (expected three different items)", where,
                                  items[0] + 1, items[1] + 1, items[2] + 1));
    const long c = parse_int(f[col[3]], where + ": column odd_one_out");
    if (c < 1 || c > 3)
      throw DataError(fmt::format("{}: column odd_one_out: expected 1, 2 or 3 (the position of the odd item), found {}",
                                  where, c));
    t.items.push_back(items);
    t.choice.push_back(static_cast<std::int8_t>(c - 1));
  }
  if (t.items.empty()) throw DataError(path + ": no triplet after the header");
  return t;
}

Similarity parse_similarity(const std::string& name) {
  if (name == "dot") return Similarity::dot;
  if (name == "cosine") return Similarity::cosine;
  throw ConfigError("--similarity: expected dot or cosine, found '" + name + "'");
}
OddRule parse_odd_rule(const std::string& name) {
  if (name == "odd-one-out") return OddRule::odd_one_out;
  if (name == "anchor") return OddRule::anchor;
  throw ConfigError("--rule: expected odd-one-out or anchor, found '" + name + "'");
}
std::string to_string(Similarity s) { return s == Similarity::dot ? "dot" : "cosine"; }
std::string to_string(OddRule r) { return r == OddRule::odd_one_out ? "odd-one-out" : "anchor"; }

MatrixF read_embedding(const std::string& spec) {
  MatrixF e;
  const auto colon = spec.rfind(':');
  if (spec.size() >= 4 && spec.substr(spec.size() - 4) == ".npy") {
    e = npy::read_matrix(spec);
    check_finite(e, spec);
  } else if (colon != std::string::npos && colon > 0 && colon + 1 < spec.size()) {
    const std::string file = spec.substr(0, colon), ds = spec.substr(colon + 1);
    e = read_feature_layer(file, ds);  // 2-D, float16/32 on disk, finite, errors name file and dataset
  } else {
    throw ConfigError("--embedding '" + spec + "': expected FILE.npy or FILE.h5:/dataset");
  }
  return e;
}

std::vector<std::string> expand_embeddings(const std::vector<std::string>& specs) {
  std::vector<std::string> out;
  for (const auto& spec : specs) {
    if (spec.size() < 3 || spec.substr(spec.size() - 3) != ".h5") {
      out.push_back(spec);
      continue;
    }
    if (!std::filesystem::exists(spec)) throw DataError("--embedding " + spec + ": no such file");
    const h5::File f(spec);
    const size_t before = out.size();
    for (const auto& name : f.list("/"))
      if (!f.is_group(name) && f.shape(name).size() == 2) out.push_back(spec + ":/" + name);
    if (out.size() == before)
      throw DataError("--embedding " + spec + ": no 2-D dataset (items × dimensions) at the file's root; name one as FILE.h5:/dataset");
  }
  return out;
}

OddOneOutResult odd_one_out(const MatrixF& e, const Triplets& t, const OddOneOutOptions& o) {
  if (o.bootstrap < 0) throw ConfigError("--bootstrap: expected >= 0 resamples, found " + std::to_string(o.bootstrap));
  check_finite(e, "embedding");
  const long n = static_cast<long>(t.items.size());
  OddOneOutResult r;
  r.n_items = e.rows();
  r.n_triplets = n;
  r.chance = o.rule == OddRule::odd_one_out ? 1.0 / 3.0 : 0.5;
  std::vector<double> inv_norm;
  if (o.similarity == Similarity::cosine) {
    inv_norm.resize(e.rows());
    for (long i = 0; i < e.rows(); ++i) {
      double s = 0;
      for (long d = 0; d < e.cols(); ++d) s += static_cast<double>(e(i, d)) * e(i, d);
      inv_norm[i] = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
    }
  }
  for (const auto& it : t.items)
    for (std::int32_t x : it)
      if (x < 0 || x >= e.rows())
        throw DataError(fmt::format("{}: item {} is outside the embedding's {} rows", t.path, x + 1, e.rows()));
  auto sim = [&](std::int32_t x, std::int32_t y) {
    double s = 0;
    const float* a = e.row(x).data();
    const float* b = e.row(y).data();
    for (long d = 0; d < e.cols(); ++d) s += static_cast<double>(a[d]) * b[d];
    return o.similarity == Similarity::cosine ? s * inv_norm[x] * inv_norm[y] : s;
  };
  r.correct.resize(n);
  for (long i = 0; i < n; ++i) {
    const auto& it = t.items[i];
    const int human = t.choice[i];
    bool ok;
    if (o.rule == OddRule::odd_one_out) {
      const double s[3] = {sim(it[0], it[1]), sim(it[0], it[2]), sim(it[1], it[2])};  // pairs ab, ac, bc
      const int best = static_cast<int>(std::max_element(s, s + 3) - s);            // first of the largest
      const int odd = 2 - best;                                                      // ab → c, ac → b, bc → a
      ok = odd == human;
    } else {
      int rest[2], k = 0;
      for (int p = 0; p < 3; ++p)
        if (p != human) rest[k++] = p;
      ok = sim(it[rest[0]], it[rest[1]]) > sim(it[rest[0]], it[human]);
    }
    r.correct[i] = ok ? 1 : 0;
    r.n_correct += ok;
  }
  r.accuracy = static_cast<double>(r.n_correct) / static_cast<double>(n);

  // Bootstrap: a draw z is a correct trial when ⌊z·n / 2^64⌋ < n_correct, i.e. z < ⌈n_correct·2^64 / n⌉.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  r.bootstrap_sd = r.ci_low = r.ci_high = nan;
  if (o.bootstrap > 0) {
    const auto un = static_cast<std::uint64_t>(n), k = static_cast<std::uint64_t>(r.n_correct);
    const unsigned __int128 num = static_cast<unsigned __int128>(k) << 64;
    const unsigned __int128 thr128 = (num + un - 1) / un;  // ⌈k·2^64 / n⌉, at most 2^64
    const bool all = thr128 >> 64;                         // k == n: every draw is correct
    const auto thr = static_cast<std::uint64_t>(thr128);
    std::vector<double> acc(o.bootstrap);
    for (long b = 0; b < o.bootstrap; ++b) {
      const std::uint64_t base = static_cast<std::uint64_t>(b) * un;
      std::uint64_t count = 0;
      if (all) count = un;
      else
        count = count_draws_below(o.seed, base, un, thr);
      acc[b] = static_cast<double>(count) / static_cast<double>(n);
    }
    const metrics::Spread sp = metrics::bootstrap_spread(std::move(acc));
    r.bootstrap_sd = sp.sd;
    r.ci_low = sp.ci_low;
    r.ci_high = sp.ci_high;
  }

  // Human noise ceiling over repeated triplets (the same three items, in any order): sort the trials
  // by (sorted items, chosen item), packed 21 bits each (items < 2^21, checked above), then count runs.
  if (e.rows() >= (1L << 21))
    throw DataError(fmt::format("embedding: {} items; the human ceiling supports at most 2^21", e.rows()));
  std::vector<std::pair<std::uint64_t, std::uint32_t>> keyed(n);
  for (long i = 0; i < n; ++i) {
    auto key = t.items[i];
    std::sort(key.begin(), key.end());
    keyed[i] = {static_cast<std::uint64_t>(key[0]) | static_cast<std::uint64_t>(key[1]) << 21 |
                    static_cast<std::uint64_t>(key[2]) << 42,
                static_cast<std::uint32_t>(t.items[i][t.choice[i]])};
  }
  std::sort(keyed.begin(), keyed.end());
  double sum = 0;
  for (long i = 0; i < n;) {
    long j = i, most = 0;
    while (j < n && keyed[j].first == keyed[i].first) {
      long k = j;
      while (k < n && keyed[k] == keyed[j]) ++k;  // one answer's run
      most = std::max(most, k - j);
      j = k;
    }
    ++r.n_distinct;
    if (j - i >= 2) {
      ++r.n_repeated;
      sum += static_cast<double>(most) / static_cast<double>(j - i);
    }
    i = j;
  }
  // The ceiling is the agreement of people's odd-one-out choices: a bound for the odd-one-out rule only.
  // The anchor rule scores another task (is the anchor closer to the positive?), which the choices do
  // not bound the same way, so it gets none (issue #27).
  r.human_ceiling = r.n_repeated > 0 && o.rule == OddRule::odd_one_out ? sum / static_cast<double>(r.n_repeated) : nan;
  return r;
}

std::vector<OddOneOutResult> run_odd_one_out_command(const OddOneOutCommand& c, double* read_s, double* compute_s) {
  if (std::filesystem::exists(c.out)) throw ConfigError("--out " + c.out + ": exists; refusing to overwrite it");
  fs::check_output_parent(c.out, "--out");
  if (c.options.bootstrap < 0)
    throw ConfigError("--bootstrap: expected >= 0 resamples, found " + std::to_string(c.options.bootstrap));
  if (c.embeddings.empty()) throw ConfigError("--embedding: give at least one");
  using metrics::csv_number;
  using metrics::csv_text;
  std::string csv = std::string(kOddOneOutColumns) + "\n";
  std::vector<OddOneOutResult> out;
  double rs = 0, cs = 0;
  for (const auto& spec : c.embeddings) {  // everything is read and checked before anything is written
    const auto t0 = std::chrono::steady_clock::now();
    const MatrixF e = read_embedding(spec);
    const Triplets t = read_triplets(c.triplets, e.rows());
    const auto t1 = std::chrono::steady_clock::now();
    out.push_back(odd_one_out(e, t, c.options));
    const auto t2 = std::chrono::steady_clock::now();
    rs += std::chrono::duration<double>(t1 - t0).count();
    cs += std::chrono::duration<double>(t2 - t1).count();
    const OddOneOutResult& r = out.back();
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_text(spec), csv_text(c.triplets),
                       to_string(c.options.similarity), to_string(c.options.rule), r.n_items, e.cols(), r.n_triplets,
                       r.n_correct, csv_number(r.accuracy), csv_number(r.bootstrap_sd), csv_number(r.ci_low),
                       csv_number(r.ci_high), csv_number(r.chance), c.options.bootstrap, c.options.seed, r.n_distinct,
                       r.n_repeated, csv_number(r.human_ceiling));
  }
  if (read_s) *read_s = rs;
  if (compute_s) *compute_s = cs;
  fs::write_text_atomic(c.out, csv);
  return out;
}

}  // namespace brainsweep
