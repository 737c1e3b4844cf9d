#include "brainsweep/stitch.hpp"

#include <filesystem>
#include <map>
#include <numeric>
#include <sstream>

#include <fmt/format.h>

#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/scoring.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

void stitch(const std::string& run_dir, const StitchOptions& opt, std::ostream& report) {
  const Plan p = Plan::load(run_dir);
  if (opt.top_k < 1) throw ConfigError("--top-k: expected >= 1, found " + std::to_string(opt.top_k));
  const EvalSet& eval = p.eval_set(opt.eval);
  if (opt.select != "cv") p.eval_set(opt.select);
  if (opt.select == opt.eval)
    throw ConfigError("--select " + opt.select + " --eval " + opt.eval +
                      ": the set used for selection must not be the set used to report the score (ENCODING.md §6)");
  const std::string score_name = opt.select == "cv" ? "cv_r" : "eval/" + opt.select + "/r";
  for (const auto& j : p.jobs)
    if (!sfs::exists(sfs::path(run_dir) / "jobs" / (j.job_id + ".h5")))
      throw DataError((sfs::path(run_dir) / "jobs" / (j.job_id + ".h5")).string() +
                      ": missing; the run is not complete (rerun `brainsweep run " + run_dir + "`)");

  const sfs::path out_dir = sfs::path(run_dir) / "stitched";
  sfs::create_directories(out_dir);
  const std::string pred_path = (out_dir / "predictions.h5").string();
  const std::string pred_tmp = fs::temp_name(pred_path);
  std::ostringstream csv;
  csv << "subject,parcel,eval_set,r,job_ids\n";

  std::vector<std::string> parcels;                                // of the first subject
  std::vector<std::vector<double>> r_by_subject;                   // subject → parcel → r
  std::vector<std::map<std::string, int>> winners;                 // parcel → feature set → subjects won
  {
    h5::File out(pred_tmp, h5::File::Mode::truncate);
    out.write_string_attr1("select", opt.select);
    out.write_string_attr1("eval_set", opt.eval);
    out.write_int_attr("top_k", opt.top_k);
    for (const auto& sub : p.subjects) {
      std::vector<const Job*> jobs;
      for (const auto& j : p.jobs)
        if (j.subject == sub) jobs.push_back(&j);
      std::vector<std::vector<double>> score;
      std::vector<std::string> names;
      for (const Job* j : jobs) {
        const h5::File f((sfs::path(run_dir) / "jobs" / (j->job_id + ".h5")).string());
        score.push_back(f.read_f64(score_name));
        if (names.empty()) names = f.read_string_attr("/", "parcel_names");
      }
      const size_t n_parcels = score.front().size();
      const size_t k = std::min<size_t>(static_cast<size_t>(opt.top_k), jobs.size());
      // Ranking per parcel: score descending, ties to the lower job id.
      std::vector<std::vector<size_t>> top(n_parcels);
      for (size_t c = 0; c < n_parcels; ++c) {
        std::vector<size_t> idx(jobs.size());
        std::iota(idx.begin(), idx.end(), 0);
        std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
          if (score[a][c] != score[b][c]) return score[a][c] > score[b][c];
          return jobs[a]->job_id < jobs[b]->job_id;
        });
        top[c].assign(idx.begin(), idx.begin() + static_cast<long>(k));
      }
      // Accumulate the selected jobs' predictions, one job file at a time.
      std::map<std::string, MatrixF> acc, truth;
      for (const auto& ep : eval.episodes) {
        const auto& ref = p.fmri.at(sub).at(ep);
        acc[ep] = MatrixF::Zero(ref.n_tr, static_cast<long>(n_parcels));
        truth[ep] = read_fmri(ref.file, ref.dataset);
      }
      for (size_t ji = 0; ji < jobs.size(); ++ji) {
        std::vector<long> cols;
        for (size_t c = 0; c < n_parcels; ++c)
          if (std::find(top[c].begin(), top[c].end(), ji) != top[c].end()) cols.push_back(static_cast<long>(c));
        if (cols.empty()) continue;
        const h5::File f((sfs::path(run_dir) / "jobs" / (jobs[ji]->job_id + ".h5")).string());
        for (const auto& ep : eval.episodes) {
          const MatrixF m = f.read_f32("predictions/" + ep);
          for (long c : cols) acc[ep].col(c) += m.col(c) / static_cast<float>(k);
        }
      }
      const auto r = score_eval_set(eval, acc, truth, p.exclude_start, p.exclude_end);
      for (const auto& ep : eval.episodes) out.write_f32(sub + "/" + ep, acc[ep].data(), acc[ep].rows(), n_parcels);
      if (parcels.empty()) {
        parcels = names;
        winners.resize(n_parcels);
      }
      for (size_t c = 0; c < n_parcels; ++c) {
        std::string ids;
        for (size_t ji : top[c]) ids += (ids.empty() ? "" : "+") + jobs[ji]->job_id;
        csv << fmt::format("{},{},{},{:.9g},{}\n", sub, names.at(c), opt.eval, r[c], ids);
        const Job& best = *jobs[top[c].front()];
        std::string label = best.model + "/";
        for (size_t l = 0; l < best.layers.size(); ++l) label += (l ? "+" : "") + best.layers[l];
        label += fmt::format(" w{} d{}", best.stimulus_window, best.hrf_delay);
        if (c < winners.size()) ++winners[c][label];
      }
      r_by_subject.push_back(r);
    }
  }
  fs::commit(pred_tmp, pred_path);
  fs::write_text_atomic((out_dir / "scores.csv").string(), csv.str());

  // Per-parcel summary: mean r over subjects and the winning feature sets (top-1 per subject).
  const size_t n_parcels = parcels.size();
  std::vector<double> mean_r(n_parcels, 0.0);
  for (const auto& r : r_by_subject)
    for (size_t c = 0; c < n_parcels && c < r.size(); ++c) mean_r[c] += r[c] / static_cast<double>(r_by_subject.size());
  report << fmt::format("stitched: select {} top-k {} eval {} ({} subjects, {} jobs per subject)\n", opt.select,
                        opt.top_k, opt.eval, p.subjects.size(), p.jobs.size() / p.subjects.size());
  std::vector<size_t> order(n_parcels);
  std::iota(order.begin(), order.end(), 0);
  if (n_parcels > 40)  // many parcels: the best and worst 10
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return mean_r[a] > mean_r[b]; });
  report << fmt::format("{:<24} {:>8}  {}\n", "parcel", "mean r", "winning feature sets (subjects)");
  for (size_t i = 0; i < n_parcels; ++i) {
    if (n_parcels > 40 && i == 10) report << fmt::format("{:<24}\n", "...");
    if (n_parcels > 40 && i >= 10 && i + 10 < n_parcels) continue;
    const size_t c = order[i];
    std::vector<std::pair<std::string, int>> w(winners[c].begin(), winners[c].end());
    std::stable_sort(w.begin(), w.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::string ws;
    for (const auto& [label, count] : w) ws += (ws.empty() ? "" : ", ") + fmt::format("{} ({})", label, count);
    report << fmt::format("{:<24} {:>8.4f}  {}\n", parcels[c], mean_r[c], ws);
  }
  const double overall = n_parcels ? std::accumulate(mean_r.begin(), mean_r.end(), 0.0) / n_parcels : 0.0;
  report << fmt::format("mean r over parcels and subjects: {:.4f}\n", overall);
  report << fmt::format("wrote {} and {}\n", (out_dir / "scores.csv").string(), pred_path);
}

}  // namespace brainsweep
