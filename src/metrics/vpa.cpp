// Net2Brain's RDM-level variance partitioning (vpa.hpp).
#include "brainsweep/vpa.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include <boost/math/distributions/students_t.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/config.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/partition.hpp"
#include "metrics_util.hpp"

namespace brainsweep {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

MatrixD ols_r2_subsets(const MatrixD& x, const MatrixD& y, const std::vector<std::vector<long>>& subsets) {
  if (x.rows() != y.rows()) throw DimensionMismatch(fmt::format("ols_r2_subsets: x has {} rows, y {}", x.rows(), y.rows()));
  const MatrixD xc = x.rowwise() - x.colwise().mean();  // the intercept: centred columns and targets
  const MatrixD yc = y.rowwise() - y.colwise().mean();
  const Eigen::RowVectorXd tss = yc.colwise().squaredNorm();
  const MatrixD g = xc.transpose() * xc, b = xc.transpose() * yc;  // k × k, k × targets
  MatrixD out(y.cols(), static_cast<long>(subsets.size()));
  for (size_t s = 0; s < subsets.size(); ++s) {
    const auto& idx = subsets[s];
    const MatrixD gs = g(idx, idx), bs = b(idx, Eigen::all);
    const MatrixD beta = gs.completeOrthogonalDecomposition().solve(bs);
    for (long j = 0; j < y.cols(); ++j)
      out(j, static_cast<long>(s)) = tss(j) > 0 ? bs.col(j).dot(beta.col(j)) / tss(j) : kNaN;
  }
  return out;
}

std::vector<double> bh_adjust(const std::vector<double>& p) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) idx.push_back(i);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> out(p.size(), kNaN);
  const double m = static_cast<double>(idx.size());
  double running = 1.0;
  for (size_t r = idx.size(); r-- > 0;) {
    running = std::min(running, p[idx[r]] * m / static_cast<double>(r + 1));
    out[idx[r]] = running;
  }
  return out;
}

std::pair<double, double> one_sample_t(const std::vector<double>& x) {
  const size_t n = x.size();
  if (n < 2) return {kNaN, kNaN};
  double mean = 0, ss = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(n);
  for (double v : x) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / static_cast<double>(n - 1));
  if (std::isnan(mean)) return {kNaN, kNaN};
  if (sd == 0) return mean == 0 ? std::pair{kNaN, kNaN} : std::pair{std::copysign(INFINITY, mean), 0.0};
  const double t = mean / (sd / std::sqrt(static_cast<double>(n)));
  const boost::math::students_t dist(static_cast<double>(n - 1));
  return {t, 2 * boost::math::cdf(boost::math::complement(dist, std::abs(t)))};
}

void run_vpa_command(const VpaCommand& c, std::ostream& report) {
  if (std::filesystem::exists(c.out)) throw ConfigError("--out " + c.out + ": exists; refusing to overwrite it");
  fs::check_output_parent(c.out, "--out");
  if (c.spaces.size() < 2 || c.spaces.size() > kMaxPartitionSpaces)
    throw ConfigError(fmt::format("--space: expected 2 to {} feature spaces (2^K − 1 subset models), found {}",
                                  kMaxPartitionSpaces, c.spaces.size()));
  // NAME=DATASET[,DATASET…] → each space's model RDMs, read as rsa reads them
  std::vector<std::string> names;
  std::vector<std::vector<NamedRdm>> spaces;
  std::vector<RsaRoi> rois;
  std::map<std::string, std::string> owner;  // dataset → space
  for (const auto& spec : c.spaces) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError(fmt::format("--space '{}': expected NAME=DATASET[,DATASET…]", spec));
    const std::string name = spec.substr(0, eq);
    if (std::find(names.begin(), names.end(), name) != names.end())
      throw ConfigError(fmt::format("--space {}: named twice (each space once)", name));
    RsaCommand in;
    in.rdms = c.rdms;
    in.brain = c.brain;
    std::stringstream ss(spec.substr(eq + 1));
    for (std::string item; std::getline(ss, item, ',');)
      if (!item.empty()) in.models.push_back(item);
    if (in.models.empty())
      throw ConfigError(fmt::format("--space {}: no model RDM (zero columns; expected NAME=DATASET[,DATASET…])", name));
    RsaInputs read = read_rsa_inputs(in);
    for (const auto& m : read.models) {
      if (owner.count(m.name))
        throw ConfigError(fmt::format("--space {}: the RDM '{}' is also in space {} (a regressor in one space only)", name,
                                      m.name, owner[m.name]));
      owner[m.name] = name;
    }
    if (rois.empty()) rois = std::move(read.rois);
    names.push_back(name);
    spaces.push_back(std::move(read.models));
  }
  for (const auto& roi : rois)
    if (roi.rdms.size() < 2)
      throw ConfigError(fmt::format("--brain {}: {} subject ({}); the t-test over subjects needs at least 2", roi.name,
                                    roi.rdms.size(), roi.subjects.front()));
  const unsigned k = static_cast<unsigned>(spaces.size()), all = (1u << k) - 1;
  const long pairs = static_cast<long>(spaces.front().front().rdm.v.size());
  // the regressors side by side: each space's RDMs, or their mean; a subset is its spaces' columns
  std::vector<long> first{0};
  for (unsigned s = 0; s < k; ++s) first.push_back(first.back() + (c.average_models ? 1 : static_cast<long>(spaces[s].size())));
  MatrixD x = MatrixD::Zero(pairs, first.back());
  for (unsigned s = 0; s < k; ++s) {
    const auto& ms = spaces[s];
    for (size_t m = 0; m < ms.size(); ++m)
      for (long q = 0; q < pairs; ++q) {
        const double v = ms[m].rdm.v[static_cast<size_t>(q)];
        if (c.average_models) x(q, first[s]) += v / static_cast<double>(ms.size());
        else x(q, first[s] + static_cast<long>(m)) = v;
      }
  }
  const std::vector<unsigned> order = subsets_by_size(k);
  std::vector<std::vector<long>> columns_of;
  for (unsigned m : order) {
    columns_of.emplace_back();
    for (unsigned s = 0; s < k; ++s)
      if (m & (1u << s))
        for (long j = first[s]; j < first[s + 1]; ++j) columns_of.back().push_back(j);
  }
  auto label = [&](unsigned m) {
    std::vector<std::string> n;
    for (unsigned s = 0; s < k; ++s)
      if (m & (1u << s)) n.push_back(names[s]);
    return fmt::format("{}", fmt::join(n, "+"));
  };
  using metrics::csv_number;
  using metrics::csv_text;
  const auto t0 = std::chrono::steady_clock::now();  // the RDMs are read: the fits and tests from here
  std::ostringstream csv;
  csv << kVpaColumns << "\n";
  for (const auto& roi : rois) {
    // per subject: R²(S) of every subset and the partitions
    std::vector<std::map<unsigned, double>> r2(roi.rdms.size()), part(roi.rdms.size());
    MatrixD y(pairs, static_cast<long>(roi.rdms.size()));  // the subjects' RDMs as columns
    for (size_t sub = 0; sub < roi.rdms.size(); ++sub)
      y.col(static_cast<long>(sub)) = Eigen::Map<const Eigen::VectorXd>(roi.rdms[sub].v.data(), pairs);
    const MatrixD r2_of = ols_r2_subsets(x, y, columns_of);  // subjects × subsets
    for (size_t sub = 0; sub < roi.rdms.size(); ++sub) {
      for (size_t i = 0; i < order.size(); ++i) r2[sub][order[i]] = r2_of(static_cast<long>(sub), static_cast<long>(i));
      for (unsigned t : order) part[sub][t] = shared_exactly(t, all, [&](unsigned m) { return r2[sub].at(m); });
    }
    const long ns = static_cast<long>(roi.rdms.size());
    auto row = [&](const std::string& subject, const std::string& kind, unsigned m, double value, double t, double p,
                   double p_fdr) {
      csv << fmt::format("{},{},{},{},{},{},{},{},{},{},{}\n", csv_text(roi.name), csv_text(subject), kind,
                         csv_text(label(m)), csv_number(value), csv_number(t), csv_number(p), csv_number(p_fdr),
                         value < 0 ? 1 : 0, ns, pairs);
    };
    auto kind_of = [](unsigned m) { return std::popcount(m) == 1 ? "unique" : "shared"; };
    for (size_t sub = 0; sub < roi.rdms.size(); ++sub) {
      for (unsigned m : order) row(roi.subjects[sub], "model", m, r2[sub][m], kNaN, kNaN, kNaN);
      for (unsigned m : order) row(roi.subjects[sub], kind_of(m), m, part[sub][m], kNaN, kNaN, kNaN);
    }
    // the mean over subjects with the one-sample t-test; BH over the ROI's partitions
    auto values = [&](const std::vector<std::map<unsigned, double>>& of, unsigned m) {
      std::vector<double> v;
      for (const auto& s : of) v.push_back(s.at(m));
      return v;
    };
    auto mean_of = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); };
    std::vector<double> part_p;
    for (unsigned m : order) part_p.push_back(one_sample_t(values(part, m)).second);
    const std::vector<double> part_fdr = bh_adjust(part_p);
    for (unsigned m : order) {
      const auto [t, p] = one_sample_t(values(r2, m));
      row("mean", "model", m, mean_of(values(r2, m)), t, p, kNaN);
    }
    report << fmt::format("{} ({} subjects, {} pairs), in-sample R² of the RDM (Net2Brain's VPA), mean over subjects:\n",
                          roi.name, ns, pairs);
    report << fmt::format("  {:<8} {:<40} {:>9} {:>9} {:>9}\n", "kind", "spaces", "value", "p", "p_fdr");
    report << fmt::format("  {:<8} {:<40} {:>9.4f}\n", "model", label(all), mean_of(values(r2, all)));
    for (size_t i = 0; i < order.size(); ++i) {
      const unsigned m = order[i];
      const auto [t, p] = one_sample_t(values(part, m));
      const double v = mean_of(values(part, m));
      row("mean", kind_of(m), m, v, t, p, part_fdr[i]);
      report << fmt::format("  {:<8} {:<40} {:>9.4f} {:>9.3g} {:>9.3g}{}\n", kind_of(m), label(m), v, p, part_fdr[i],
                            v < 0 ? "  (negative)" : "");
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fs::write_text_atomic(c.out, csv.str());
  report << fmt::format("wrote {} (subset models fitted and tested in {:.4f} s)\n", c.out, seconds);
}

}  // namespace brainsweep
