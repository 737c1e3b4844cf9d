#include "brainsweep/stitch.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/ceiling.hpp"
#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/run.hpp"
#include "brainsweep/csv.hpp"
#include "brainsweep/scoring.hpp"
#include "stitch_reports.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

StitchOverride parse_stitch_override(const std::string& spec) {
  StitchOverride o;
  o.spec = spec;
  const auto ne = spec.find("!=");
  const auto eq = spec.find('=');
  if (ne != std::string::npos && ne < eq) {
    o.episodes = spec.substr(0, ne);
    o.regex = spec.substr(ne + 2);
    o.keep = false;
  } else if (eq != std::string::npos) {
    o.episodes = spec.substr(0, eq);
    o.regex = spec.substr(eq + 1);
  }
  if (o.episodes.empty() || o.regex.empty())
    throw ConfigError("--override '" + spec + "': expected GLOB=REGEX (keep the feature sets model/layers matching REGEX "
                      "for the episodes matching GLOB) or GLOB!=REGEX (drop them)");
  try {
    (void)std::regex(o.regex);
  } catch (const std::regex_error& e) {
    throw ConfigError("--override '" + spec + "': '" + o.regex + "' is not a regular expression (" + e.what() + ")");
  }
  return o;
}

void stitch(const std::string& run_dir, const StitchOptions& opt, std::ostream& report) {
  const Plan p = Plan::load(run_dir);
  if (p.rsa)
    throw ConfigError(run_dir + ": an RSA plan (its sweep has key 'rsa'): its results are results.csv and "
                      "rsa_report.txt, not encoding models to stitch");
  if (opt.top_k < 0) throw ConfigError("--top-k: expected >= 1, found " + std::to_string(opt.top_k));
  if (std::isnan(opt.min_score)) throw ConfigError("--min-score: expected a number, found nan");
  const bool softmax = opt.weights == "softmax";
  if (opt.weights != "topk" && !softmax)
    throw ConfigError("--weights: expected topk or softmax, found '" + opt.weights + "'");
  if (softmax && !(opt.temperature > 0))
    throw ConfigError(std::isnan(opt.temperature) ? std::string("--weights softmax: needs --temperature T (> 0; TRIBE used 0.3)")
                                                  : fmt::format("--temperature: expected > 0, found {}", opt.temperature));
  if (!softmax && !std::isnan(opt.temperature))
    throw ConfigError("--temperature: only with --weights softmax (topk weights are equal)");
  for (const auto& sub : p.subjects) {
    const long n = std::count_if(p.jobs.begin(), p.jobs.end(), [&](const Job& j) { return j.subject == sub; });
    if (opt.top_k > n)
      throw ConfigError(fmt::format("--top-k {}: {} has only {} jobs in {} (expected --top-k <= {})", opt.top_k, sub, n,
                                    run_dir, n));
  }
  const bool with_eval = !opt.eval.empty();
  const EvalSet* eval = with_eval ? &p.eval_set(opt.eval) : nullptr;
  if (opt.select != "cv") p.eval_set(opt.select);
  if (with_eval && opt.select == opt.eval)
    throw ConfigError("--select " + opt.select + " --eval " + opt.eval +
                      ": the set used for selection must not be the set used to report the score (ENCODING.md §6)");
  if (!with_eval && !opt.ceiling.empty())
    throw ConfigError("--ceiling: needs --eval (the ceiling normalises the held-out score, not the selection score)");
  if (opt.select == "cv")
    for (const auto& j : p.jobs)
      if (j.encoder)
        throw ConfigError("--select cv: " + run_dir + " holds trained-encoder jobs (e.g. " + j.job_id +
                          "), which have no cross-validation score (they are early-stopped on an eval set, not "
                          "cross-validated); select every job by an eval set instead: --select " +
                          (p.eval.empty() ? std::string("SET") : p.eval.front().name) + " (one the --eval set is not)");
  const std::string score_name = opt.select == "cv" ? "cv_r" : "eval/" + opt.select + "/r";
  for (const auto& j : p.jobs)  // every job file present, and the file of its job in this plan
    if (const std::string problem = job_file_problem(p, j, run_dir); !problem.empty())
      throw DataError(problem + "; the run is not complete (`brainsweep run " + run_dir +
                      "` fits the units whose job files are missing or wrong)");
  // Rules: 0 the default, 1 + k override k; an episode takes the first override whose glob matches.
  std::vector<std::regex> override_re;
  for (const auto& o : opt.overrides) override_re.emplace_back(o.regex);
  auto rule_of = [&](const std::string& episode) -> size_t {
    for (size_t k = 0; k < opt.overrides.size(); ++k)
      if (fnmatch(opt.overrides[k].episodes.c_str(), episode.c_str(), 0) == 0) return k + 1;
    return 0;
  };
  std::vector<std::string> override_specs;
  for (const auto& o : opt.overrides) {
    override_specs.push_back(o.spec);
    bool used = false;  // a glob that matches no stitched episode may be a typo: say so (not an error: the
                        // same overrides serve stitches of several eval sets)
    std::vector<std::string> stitched_eps = with_eval ? eval->episodes : std::vector<std::string>{};
    for (const auto& t : p.test) stitched_eps.insert(stitched_eps.end(), t.episodes.begin(), t.episodes.end());
    for (const auto& ep : stitched_eps) used |= fnmatch(o.episodes.c_str(), ep.c_str(), 0) == 0;
    if (!used)
      fmt::print(stderr, "warning: --override '{}': '{}' matches no episode stitched here (the --eval set's and the "
                         "test sets'; e.g. {}); it changes nothing\n", o.spec, o.episodes,
                 stitched_eps.empty() ? std::string("none") : stitched_eps.front());
    // A REGEX that matches no feature set of the run keeps or drops nothing (often a case slip:
    // '.*llama.*' against 'Llama-3.2-1B'); the regex is case-sensitive, as std::regex_match is.
    std::set<std::string> labels;
    for (const auto& j : p.jobs) labels.insert(fmt::format("{}/{}", j.model, fmt::join(j.layers, "+")));
    const std::regex re(o.regex);
    if (std::none_of(labels.begin(), labels.end(), [&](const std::string& l) { return std::regex_match(l, re); }))
      fmt::print(stderr, "warning: --override '{}': '{}' matches no feature set of the run (case-sensitive, the whole "
                         "model/layers; the run has {}); it {} nothing\n", o.spec, o.regex, fmt::join(labels, ", "),
                 o.keep ? "keeps" : "drops");
  }
  const int top_k = opt.top_k > 0 ? opt.top_k : softmax ? std::numeric_limits<int>::max() : 1;
  const std::string temperature_text = softmax ? fmt::format("{:.9g}", opt.temperature) : "";

  CeilingTable ceiling;
  if (!opt.ceiling.empty()) {
    if (std::isnan(opt.min_ceiling)) throw ConfigError("--min-ceiling: expected a number, found nan");
    ceiling = read_ceiling_csv(opt.ceiling);
    if (ceiling.set != opt.eval)
      throw ConfigError(fmt::format("--ceiling {}: computed on set '{}', the stitched score is on --eval {} (run "
                                    "`brainsweep ceiling SWEEP --method {} --set {} --out FILE`)", opt.ceiling,
                                    ceiling.set, opt.eval, ceiling.method, opt.eval));
  }
  std::vector<std::vector<double>> ceil_by_subject;  // subject → parcel → ceiling (with --ceiling)
  std::vector<std::string> not_normalised;

  const sfs::path out_dir = sfs::path(run_dir) / "stitched";
  const std::string pred_path = (out_dir / "predictions.h5").string();
  const std::string score_set = with_eval ? opt.eval : "selection:" + opt.select;
  std::ostringstream csv;
  csv << (opt.ceiling.empty() ? "subject,parcel,eval_set,r,job_ids\n"
                               : "subject,parcel,eval_set,r,job_ids,ceiling,r_normalized\n");

  std::vector<std::string> parcels;                                // of the first subject
  std::vector<std::vector<double>> r_by_subject;                   // subject → parcel → r
  std::vector<std::map<std::string, int>> winners;                 // parcel → feature set → subjects won
  // Test sets (issue #5): the same per-parcel choice applied to their predictions.
  std::vector<std::string> test_paths;
  std::vector<std::unique_ptr<h5::File>> test_out;
  WinnerReport winner_rows;
  std::vector<std::string> report_names;  // --parcel-names: for the network of each parcel
  // Banded winners (issue #14 §2): the scalings of each subject × parcel's best job, per band.
  std::ostringstream scalings;
  scalings << "subject,parcel,job_id,band,gamma,eval_set,r_split,r2_split\n";
  std::map<const Job*, std::pair<std::vector<double>, std::vector<double>>> split_of;  // banded job → r, R² split on --eval
  bool any_banded = false;
  std::map<std::string, std::vector<double>> gamma_sum;  // band → per parcel, Σ over subjects with a banded winner
  std::vector<long> banded_winners;                     // per parcel
  auto record_options = [&](h5::File& f) {
    f.write_string_attr1("select", opt.select);
    f.write_string_attr1("eval_set", opt.eval);
    f.write_int_attr("top_k", opt.top_k > 0 ? opt.top_k : softmax ? 0 : 1);
    f.write_string_attr1("weights", opt.weights);
    f.write_string_attr1("temperature", temperature_text);
    f.write_int_attr("zscore", opt.zscore ? 1 : 0);
    if (!override_specs.empty()) f.write_string_attr("overrides", override_specs);
  };
  try {
    for (const auto& t : p.test) {
      test_paths.push_back((out_dir / ("test_" + t.name + ".h5")).string());
      test_out.push_back(std::make_unique<h5::File>(test_paths.back(), h5::File::Mode::in_memory));
      test_out.back()->write_string_attr1("test_set", t.name);
      record_options(*test_out.back());
    }
    h5::File out(pred_path, h5::File::Mode::in_memory);  // written by save_atomic, every step checked
    record_options(out);
    for (const auto& sub : p.subjects) {
      std::vector<const Job*> jobs;
      for (const auto& j : p.jobs)
        if (j.subject == sub) jobs.push_back(&j);
      std::vector<std::vector<double>> score, alpha, train_mean, train_sd;
      std::vector<std::string> names;
      for (const Job* j : jobs) {
        const h5::File f((sfs::path(run_dir) / "jobs" / (j->job_id + ".h5")).string());
        score.push_back(f.read_f64(score_name));
        alpha.push_back(f.read_f64("alpha"));
        if (names.empty()) names = f.read_string_attr("/", "parcel_names");
        // a banded job's scores split per band on the eval set (issue #26 §2; absent from job files of
        // an earlier brainsweep: empty cells)
        if (with_eval && j->split_by_band() && f.has("eval/" + opt.eval + "/r_split"))
          split_of[j] = {f.read_f64("eval/" + opt.eval + "/r_split"), f.read_f64("eval/" + opt.eval + "/r2_split")};
        if (opt.zscore) {
          if (!f.has("train_pred_sd") || !f.has("train_pred_mean"))
            throw DataError(f.path() + ": no dataset 'train_pred_sd' (the statistics --zscore needs; this job was "
                            "fitted by an earlier brainsweep: `brainsweep generate SWEEP --out " + run_dir +
                            " --start-over` and `run` again)");
          train_mean.push_back(f.read_f64("train_pred_mean"));
          train_sd.push_back(f.read_f64("train_pred_sd"));
        }
      }
      const size_t n_parcels = score.front().size();
      if (!opt.parcel_names.empty() && report_names.empty())
        report_names = read_parcel_names(opt.parcel_names, n_parcels);
      // Candidates and weights per rule and parcel.
      const size_t n_rules = 1 + opt.overrides.size();
      std::vector<std::vector<std::vector<size_t>>> top(n_rules, std::vector<std::vector<size_t>>(n_parcels));
      std::vector<std::vector<std::vector<double>>> weight(n_rules, std::vector<std::vector<double>>(n_parcels));
      for (size_t rule = 0; rule < n_rules; ++rule) {
        std::vector<size_t> allowed;
        for (size_t ji = 0; ji < jobs.size(); ++ji) {
          if (rule == 0) {
            allowed.push_back(ji);
            continue;
          }
          const std::string label = fmt::format("{}/{}", jobs[ji]->model, fmt::join(jobs[ji]->layers, "+"));
          if (std::regex_match(label, override_re[rule - 1]) == opt.overrides[rule - 1].keep) allowed.push_back(ji);
        }
        if (allowed.empty())
          throw ConfigError(fmt::format("--override '{}': no job of {} is left (feature sets of the run: {}), so its "
                                        "episodes' parcels would have no candidate", opt.overrides[rule - 1].spec, sub,
                                        [&] {
                                          std::set<std::string> sets;
                                          for (const Job* j : jobs) sets.insert(fmt::format("{}/{}", j->model, fmt::join(j->layers, "+")));
                                          return fmt::format("{}", fmt::join(sets, ", "));
                                        }()));
        const size_t k = std::min<size_t>(static_cast<size_t>(top_k), allowed.size());
        for (size_t c = 0; c < n_parcels; ++c) {
          // A job whose selection score is NaN for this parcel (a fit that failed numerically) is no
          // candidate: a NaN would make the weights and the prediction NaN, or score 0 (issue #25).
          std::vector<size_t> idx;
          for (size_t ji : allowed)
            if (!std::isnan(score[ji][c])) idx.push_back(ji);
          if (idx.empty())
            throw DataError(fmt::format("{} parcel {}: every candidate job's selection score ({}) is NaN (e.g. {}); "
                                        "nothing to stitch (rerun those jobs, or select by another set)", sub,
                                        names.at(c), score_name, jobs[allowed.front()]->job_id));
          std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
            if (score[a][c] != score[b][c]) return score[a][c] > score[b][c];
            return jobs[a]->job_id < jobs[b]->job_id;
          });
          // Below the minimum selection score, the parcel falls back to the best single job.
          const size_t kc = score[idx.front()][c] < opt.min_score ? 1 : std::min(k, idx.size());
          top[rule][c].assign(idx.begin(), idx.begin() + static_cast<long>(kc));
          auto& w = weight[rule][c];
          if (softmax) {  // exp((s − s_max) / T), normalised: the same weights, without overflow
            const double best = score[idx.front()][c];
            double sum = 0;
            for (size_t ji : top[rule][c]) sum += w.emplace_back(std::exp((score[ji][c] - best) / opt.temperature));
            for (double& x : w) x /= sum;
          } else {
            w.assign(kc, 1.0 / static_cast<double>(kc));
          }
        }
      }
      for (size_t rule = 0; rule < n_rules; ++rule)
        for (size_t c = 0; c < n_parcels; ++c)
          for (size_t rank = 0; rank < top[rule][c].size(); ++rank) {
            const size_t ji = top[rule][c][rank];
            const std::string& label = report_names.empty() ? names.at(c) : report_names.at(c);
            winner_rows.push_back({sub, names.at(c), rank + 1, schaefer_network(label), jobs[ji], alpha[ji][c],
                                   score[ji][c], weight[rule][c][rank], rule == 0 ? "*" : opt.overrides[rule - 1].episodes});
          }
      // Where job ji enters, per rule: the parcels and its weight in each.
      // (topk: w = 1 and the sum divided by k, as the equal-weight mean always was; softmax: w, divided by 1;
      // --zscore: minus the job's training mean, over its training SD, first)
      struct Use {
        long c;
        float w, div, mean = 0, inv_sd = 1;
      };
      auto columns_of = [&](size_t rule, size_t ji) {
        std::vector<Use> cols;
        for (size_t c = 0; c < n_parcels; ++c)
          for (size_t q = 0; q < top[rule][c].size(); ++q)
            if (top[rule][c][q] == ji) {
              Use u = softmax ? Use{static_cast<long>(c), static_cast<float>(weight[rule][c][q]), 1.0f}
                              : Use{static_cast<long>(c), 1.0f, static_cast<float>(top[rule][c].size())};
              if (opt.zscore) {  // a job with constant predictions (SD 0) adds nothing
                u.mean = static_cast<float>(train_mean[ji][c]);
                u.inv_sd = train_sd[ji][c] > 0 ? static_cast<float>(1.0 / train_sd[ji][c]) : 0.0f;
              }
              cols.push_back(u);
            }
        return cols;
      };
      auto add = [&](const Use& u, const auto& col) -> Eigen::VectorXf {
        if (!opt.zscore) return u.w * col / u.div;
        return u.w * ((col.array() - u.mean) * u.inv_sd).matrix() / u.div;
      };
      // --zscore: the weighted sum of z-scores back on the scale of the candidates' predictions
      auto rescale = [&](size_t rule, MatrixF& a) {
        if (!opt.zscore) return;
        for (size_t c = 0; c < n_parcels; ++c) {
          double m = 0, sd = 0;
          for (size_t q = 0; q < top[rule][c].size(); ++q) {
            m += weight[rule][c][q] * train_mean[top[rule][c][q]][c];
            sd += weight[rule][c][q] * train_sd[top[rule][c][q]][c];
          }
          a.col(static_cast<long>(c)) = (a.col(static_cast<long>(c)).array() * static_cast<float>(sd) + static_cast<float>(m)).matrix();
        }
      };
      std::vector<std::map<std::string, MatrixF>> test_acc(p.test.size());
      for (size_t t = 0; t < p.test.size(); ++t)
        for (const auto& [ep, n] : p.test[t].n_samples.at(sub))
          test_acc[t][ep] = MatrixF::Zero(n, static_cast<long>(n_parcels));
      // Accumulate the selected jobs' predictions, one job file at a time.
      std::map<std::string, MatrixF> acc, truth;
      if (with_eval)
        for (const auto& ep : eval->episodes) {
          const auto& ref = p.fmri.at(sub).at(ep);
          acc[ep] = MatrixF::Zero(ref.n_tr, static_cast<long>(n_parcels));
          truth[ep] = read_fmri(ref.file, ref.dataset);
        }
      for (size_t ji = 0; ji < jobs.size(); ++ji) {
        std::vector<std::vector<Use>> cols(n_rules);
        bool used = false;
        for (size_t rule = 0; rule < n_rules; ++rule) used |= !(cols[rule] = columns_of(rule, ji)).empty();
        if (!used) continue;
        const h5::File f((sfs::path(run_dir) / "jobs" / (jobs[ji]->job_id + ".h5")).string());
        if (with_eval)
          for (const auto& ep : eval->episodes) {
            const auto& mine = cols[rule_of(ep)];
            if (mine.empty()) continue;
            const MatrixF m = f.read_f32("predictions/" + ep);
            for (const Use& u : mine) acc[ep].col(u.c) += add(u, m.col(u.c));
          }
        for (size_t t = 0; t < p.test.size(); ++t)
          for (auto& [ep, a] : test_acc[t]) {
            const auto& mine = cols[rule_of(ep)];
            if (mine.empty()) continue;
            const std::string name = "test/" + p.test[t].name + "/" + ep;
            if (!f.has(name))
              throw DataError(f.path() + ": no dataset '" + name + "' (the run predates test set '" +
                              p.test[t].name + "')");
            const MatrixF m = f.read_f32(name);
            if (m.rows() != a.rows() || m.cols() != a.cols())
              throw DataError(fmt::format("{}: dataset '{}' is {}×{}, expected {}×{}", f.path(), name, m.rows(),
                                          m.cols(), a.rows(), a.cols()));
            for (const Use& u : mine) a.col(u.c) += add(u, m.col(u.c));
          }
      }
      for (size_t t = 0; t < p.test.size(); ++t)
        for (auto& [ep, a] : test_acc[t]) {
          rescale(rule_of(ep), a);
          test_out[t]->write_f32(sub + "/" + ep, a.data(), a.rows(), a.cols());
        }
      if (with_eval)
        for (auto& [ep, a] : acc) rescale(rule_of(ep), a);
      // The held-out score, or without --eval the ensemble's selection score: the weighted mean of its
      // candidates' selection scores (optimistic: they chose the candidates).
      std::vector<double> r(n_parcels, 0.0);
      if (with_eval) {
        r = score_eval_set(*eval, acc, truth, p.exclude_start, p.exclude_end);
        for (const auto& ep : eval->episodes) out.write_f32(sub + "/" + ep, acc[ep].data(), acc[ep].rows(), n_parcels);
      } else {
        for (size_t c = 0; c < n_parcels; ++c)
          for (size_t q = 0; q < top[0][c].size(); ++q) r[c] += weight[0][c][q] * score[top[0][c][q]][c];
      }
      if (parcels.empty()) {
        parcels = names;
        winners.resize(n_parcels);
      }
      for (size_t c = 0; c < n_parcels; ++c) {
        std::string ids;
        for (size_t ji : top[0][c]) ids += (ids.empty() ? "" : "+") + jobs[ji]->job_id;
        csv << fmt::format("{},{},{},{:.9g},{}", csv_text(sub), csv_text(names.at(c)), score_set, r[c], ids);
        if (!opt.ceiling.empty()) {
          const auto it = ceiling.ceiling.find({sub, names.at(c)});
          if (it == ceiling.ceiling.end())
            throw DataError(fmt::format("--ceiling {}: no ceiling for {} parcel {} (expected every subject and parcel "
                                        "of the run)", opt.ceiling, sub, names.at(c)));
          if (ceil_by_subject.size() < r_by_subject.size() + 1) ceil_by_subject.emplace_back(names.size(), 0.0);
          ceil_by_subject.back()[c] = it->second;
          if (it->second >= opt.min_ceiling) csv << fmt::format(",{:.9g},{:.9g}\n", it->second, r[c] / it->second);
          else {
            csv << fmt::format(",{:.9g},\n", it->second);
            not_normalised.push_back(sub + "/" + names.at(c));
          }
        } else {
          csv << "\n";
        }
        const Job& best = *jobs[top[0][c].front()];
        const std::string label = fmt::format("{}/{} w{} d{}", best.model, fmt::join(best.layers, "+"),
                                              best.stimulus_window, best.hrf_delay);
        if (best.split_by_band() && best.partition.empty()) {  // (a partition's subset model is not scaled)
          any_banded = true;
          if (banded_winners.size() < n_parcels) banded_winners.resize(n_parcels, 0);
          ++banded_winners[c];
          for (size_t k = 0; k < best.bands.size(); ++k) {
            const std::string band = fmt::format("{}/{}", best.bands[k].model, fmt::join(best.bands[k].layers, "+"));
            std::string split_cells = ",,";
            if (const auto it = split_of.find(&best); it != split_of.end()) {
              const size_t i = k * names.size() + c;
              split_cells = fmt::format("{},{:.9g},{:.9g}", csv_text(opt.eval), it->second.first.at(i), it->second.second.at(i));
            }
            scalings << fmt::format("{},{},{},{},{:.9g},{}\n", csv_text(sub), csv_text(names.at(c)), best.job_id,
                                    csv_text(band), best.gamma[k], split_cells);
            auto& v = gamma_sum[band];
            if (v.size() < n_parcels) v.resize(n_parcels, 0.0);
            v[c] += best.gamma[k];
          }
        }
        if (c < winners.size()) ++winners[c][label];
      }
      r_by_subject.push_back(r);
    }
    // A run holds one stitch: an earlier one is replaced (file by file, atomically), and said so.
    if (std::error_code ec; sfs::exists(out_dir / "scores.csv", ec))
      report << fmt::format("replacing the earlier stitch in {} (copy the directory away to keep it)\n", out_dir.string());
    sfs::create_directories(out_dir);
    for (size_t t = 0; t < test_paths.size(); ++t) test_out[t]->save_atomic(test_paths[t]);
    if (with_eval) {
      out.save_atomic(pred_path);
    } else {
      std::error_code ec;
      sfs::remove(pred_path, ec);  // an earlier stitch's eval predictions would not be this one's
    }
  } catch (...) {
    test_out.clear();
    throw;
  }
  test_out.clear();
  fs::write_text_atomic((out_dir / "scores.csv").string(), csv.str());
  {
    std::error_code ec;
    if (any_banded) fs::write_text_atomic((out_dir / "scalings.csv").string(), scalings.str());
    else sfs::remove(out_dir / "scalings.csv", ec);  // an earlier stitch's would not be this one's
  }
  write_winner_reports(p, winner_rows, out_dir.string(), report);

  // Per-parcel summary: mean r over subjects and the winning feature sets (top-1 per subject).
  const size_t n_parcels = parcels.size();
  std::vector<double> mean_r(n_parcels, 0.0);
  for (const auto& r : r_by_subject)
    for (size_t c = 0; c < n_parcels && c < r.size(); ++c) mean_r[c] += r[c] / static_cast<double>(r_by_subject.size());
  report << fmt::format("stitched: select {} {} {}{} ({} subjects, {} jobs per subject)\n", opt.select,
                        softmax ? fmt::format("weights softmax (temperature {}) over {}", temperature_text,
                                              opt.top_k > 0 ? fmt::format("the top {}", opt.top_k) : std::string("every job"))
                                : fmt::format("top-k {}", top_k),
                        with_eval ? "eval " + opt.eval : "no eval set",
                        (opt.zscore ? ", z-scored" : "") +
                            (override_specs.empty() ? std::string() : fmt::format(", overrides {}", fmt::join(override_specs, " "))),
                        p.subjects.size(), p.jobs.size() / p.subjects.size());
  if (!with_eval)
    report << fmt::format("no --eval: the scores below are the ensemble's selection score ({}), optimistic: the "
                          "same data chose the candidates\n", opt.select);
  std::vector<size_t> order(n_parcels);
  std::iota(order.begin(), order.end(), 0);
  if (n_parcels > 40)  // many parcels: the best and worst 10
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return mean_r[a] > mean_r[b]; });
  // With a ceiling: per parcel, the mean of r / ceiling over the subjects whose ceiling passes.
  std::vector<double> mean_norm(n_parcels, 0.0);
  std::vector<int> n_norm(n_parcels, 0);
  for (size_t s = 0; s < ceil_by_subject.size(); ++s)
    for (size_t c = 0; c < n_parcels; ++c)
      if (ceil_by_subject[s][c] >= opt.min_ceiling) {
        mean_norm[c] += r_by_subject[s][c] / ceil_by_subject[s][c];
        ++n_norm[c];
      }
  auto norm_text = [&](size_t c) {
    if (opt.ceiling.empty()) return std::string();
    return n_norm[c] ? fmt::format(" {:>9.4f}", mean_norm[c] / n_norm[c]) : fmt::format(" {:>9}", "-");
  };
  report << fmt::format("{:<24} {:>8}{}  {}\n", "parcel", "mean r", opt.ceiling.empty() ? "" : fmt::format(" {:>9}", "r/ceiling"),
                        "winning feature sets (subjects)");
  for (size_t i = 0; i < n_parcels; ++i) {
    if (n_parcels > 40 && i == 10) report << fmt::format("{:<24}\n", "...");
    if (n_parcels > 40 && i >= 10 && i + 10 < n_parcels) continue;
    const size_t c = order[i];
    std::vector<std::pair<std::string, int>> w(winners[c].begin(), winners[c].end());
    std::stable_sort(w.begin(), w.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::string ws;
    for (const auto& [label, count] : w) ws += (ws.empty() ? "" : ", ") + fmt::format("{} ({})", label, count);
    report << fmt::format("{:<24} {:>8.4f}{}  {}\n", parcels[c], mean_r[c], norm_text(c), ws);
  }
  if (any_banded) {  // which band drives which parcel: mean γ over the subjects whose winner is banded
    report << fmt::format("banded winners: mean scaling γ per band over the subjects whose best job is banded "
                          "(stitched/scalings.csv)\n{:<24} {:>8}", "parcel", "subjects");
    for (const auto& [band, v] : gamma_sum) report << fmt::format(" {:>{}}", band, std::max<size_t>(8, band.size()));
    report << "\n";
    for (size_t c = 0; c < n_parcels; ++c) {
      if (c >= banded_winners.size() || banded_winners[c] == 0) continue;
      report << fmt::format("{:<24} {:>8}", parcels[c], banded_winners[c]);
      for (const auto& [band, v] : gamma_sum)
        report << fmt::format(" {:>{}.3f}", v[c] / static_cast<double>(banded_winners[c]), std::max<size_t>(8, band.size()));
      report << "\n";
    }
  }
  const double overall = n_parcels ? std::accumulate(mean_r.begin(), mean_r.end(), 0.0) / n_parcels : 0.0;
  report << fmt::format("mean r over parcels and subjects: {:.4f}\n", overall);
  {  // winners whose alpha sits at an edge of the grid (himalaya and scikit-learn users expect the warning)
    long edge = 0, winners = 0;
    for (const auto& w : winner_rows)
      if (w.rank == 1 && w.episodes == "*" && !w.job->encoder && w.job->estimator.empty() && !p.alphas.empty()) {
        ++winners;
        edge += w.alpha == p.alphas.front() || w.alpha == p.alphas.back();
      }
    if (edge > 0 && p.alphas.size() > 1)
      report << fmt::format("warning: {} of {} best jobs (subject × parcel) chose an alpha at an edge of the grid "
                            "({:g} or {:g}); at the top edge a prediction is close to the training mean\n", edge,
                            winners, p.alphas.front(), p.alphas.back());
  }
  if (!opt.ceiling.empty()) {
    double sum = 0;
    long count = 0;
    for (size_t s = 0; s < ceil_by_subject.size(); ++s)
      for (size_t c = 0; c < n_parcels; ++c)
        if (ceil_by_subject[s][c] >= opt.min_ceiling) {
          sum += r_by_subject[s][c] / ceil_by_subject[s][c];
          ++count;
        }
    report << fmt::format("ceiling: {} on set {} ({}); r / ceiling where the ceiling is at least {}: {} of {} subject × "
                          "parcel pairs, mean {:.4f}\n", ceiling.method, ceiling.set, opt.ceiling, opt.min_ceiling, count,
                          ceil_by_subject.size() * n_parcels, count ? sum / count : std::nan(""));
    if (!not_normalised.empty()) {
      std::string list;
      for (size_t i = 0; i < not_normalised.size() && i < 20; ++i) list += (i ? ", " : "") + not_normalised[i];
      if (not_normalised.size() > 20) list += fmt::format(", … ({} more in scores.csv)", not_normalised.size() - 20);
      report << fmt::format("not normalised (ceiling below {}): {} pairs: {}\n", opt.min_ceiling, not_normalised.size(), list);
    }
  }
  report << fmt::format("wrote {}{}\n", (out_dir / "scores.csv").string(), with_eval ? " and " + pred_path : "");
  for (const auto& tp : test_paths) report << fmt::format("wrote {}\n", tp);
}

}  // namespace brainsweep
