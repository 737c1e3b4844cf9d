#include "stitch_reports.hpp"

#include "brainsweep/csv.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"

namespace brainsweep {

std::string schaefer_network(const std::string& parcel) {
  static const std::regex re(R"(\d+Networks_(?:LH|RH)_([A-Za-z]+)_.*)");
  std::smatch m;
  return std::regex_match(parcel, m, re) ? m[1].str() : std::string();
}

std::vector<std::string> read_parcel_names(const std::string& path, size_t n_parcels) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the parcel names (--parcel-names)");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string first, second;
    fields >> first >> second;
    names.push_back(!second.empty() && second.find("Networks_") != std::string::npos ? second : line);
  }
  if (names.size() != n_parcels)
    throw ConfigError(path + ": " + std::to_string(names.size()) + " parcel names, the run has " +
                      std::to_string(n_parcels) + " parcels");
  return names;
}

int layer_index(const std::string& layer) {
  int value = -1;
  std::istringstream parts(layer);
  for (std::string part; std::getline(parts, part, '.');)
    if (!part.empty() && part.size() < 6 &&
        std::all_of(part.begin(), part.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); }))
      value = std::stoi(part);
  return value;
}

void write_winner_reports(const Plan& plan, const WinnerReport& rows, const std::string& out_dir,
                          std::ostream& report) {
  (void)plan;
  std::ostringstream w;
  w << "subject,parcel,network,rank,job_id,model,layers,hrf_delay,stimulus_window,alpha,select_score,weight,episodes\n";
  struct Tally {
    long won = 0;
    double depth_sum = 0, window_sum = 0;
    long depth_n = 0;
  };
  std::map<std::string, std::map<std::string, Tally>> by_net;  // network → feature set → tally
  std::map<std::string, long> net_total;
  for (const auto& r : rows) {
    std::string layers;
    for (const auto& l : r.job->layers) layers += (layers.empty() ? "" : "+") + l;
    std::string net = r.network;
    // no alpha (a trained encoder, a PLS job): an empty cell
    w << fmt::format("{},{},{},{},{},{},{},{},{},{},{:.9g},{:.9g},{}\n", csv_text(r.subject), csv_text(r.parcel),
                     csv_text(net), r.rank, r.job->job_id, csv_text(r.job->model), csv_text(layers), r.job->hrf_delay,
                     r.job->stimulus_window, std::isnan(r.alpha) ? std::string() : fmt::format("{:.9g}", r.alpha),
                     r.select_score, r.weight, r.episodes);
    if (r.rank != 1 || r.episodes != "*") continue;
    if (net.empty()) net = "all";
    Tally& t = by_net[net][r.job->model + "/" + layers];
    ++t.won;
    ++net_total[net];
    t.window_sum += r.job->stimulus_window;
    // A banded set has no layer depth (its "layers" are band labels with γ, whose digits are not one).
    const int depth = r.job->bands.empty() ? layer_index(r.job->layers.back()) : -1;
    if (depth >= 0) {
      t.depth_sum += depth;
      ++t.depth_n;
    }
  }
  const std::filesystem::path dir(out_dir);
  fs::write_text_atomic((dir / "winners.csv").string(), w.str());
  std::ostringstream n;
  n << "network,feature_set,parcels_won,share,mean_layer_index,mean_stimulus_window\n";
  size_t net_w = 12, set_w = 40;  // columns as wide as the longest name (banded sets' names are long)
  for (const auto& [net, sets] : by_net) {
    net_w = std::max(net_w, net.size());
    for (const auto& s : sets) set_w = std::max(set_w, s.first.size());
  }
  report << fmt::format("{:<{}} {:<{}} {:>7} {:>6} {:>6}\n", "network", net_w, "winning feature set (top-1)", set_w,
                        "won", "share", "layer");
  for (const auto& [net, sets] : by_net) {
    std::vector<std::pair<std::string, Tally>> v(sets.begin(), sets.end());
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.won > b.second.won; });
    for (const auto& [fs_name, t] : v) {
      const double share = static_cast<double>(t.won) / static_cast<double>(net_total[net]);
      const double depth = t.depth_n ? t.depth_sum / static_cast<double>(t.depth_n) : -1.0;
      n << fmt::format("{},{},{},{:.6f},{:.3f},{:.3f}\n", csv_text(net), csv_text(fs_name), t.won, share, depth,
                       t.window_sum / static_cast<double>(t.won));
      report << fmt::format("{:<{}} {:<{}} {:>7} {:>5.1f}% {:>6}\n", net, net_w, fs_name, set_w, t.won, 100 * share,
                            depth < 0 ? std::string("none") : fmt::format("{:.1f}", depth));
    }
  }
  fs::write_text_atomic((dir / "networks.csv").string(), n.str());
}

}  // namespace brainsweep
