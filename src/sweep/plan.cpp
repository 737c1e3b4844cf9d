#include "brainsweep/plan.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/build_config.hpp"
#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/grid.hpp"
#include "brainsweep/ridge.hpp"
#include "brainsweep/sample_counts.hpp"

namespace brainsweep {

using nlohmann::json;

std::string stable_id(const std::string& text) {
  return fmt::format("{:016x}", static_cast<unsigned long long>(XXH3_64bits(text.data(), text.size())));
}

namespace {
/// A banded feature set's bands in plan.json: [{model, layers, gamma}, …].
json bands_json(const std::vector<FeatureBand>& bands, const std::vector<double>& gamma) {
  json out = json::array();
  for (size_t k = 0; k < bands.size(); ++k)
    out.push_back({{"model", bands[k].model}, {"layers", bands[k].layers}, {"gamma", gamma.at(k)}});
  return out;
}
void bands_from_json(const json& j, std::vector<FeatureBand>& bands, std::vector<double>& gamma) {
  for (const auto& b : j) {
    bands.push_back({b.at("model"), b.at("layers").get<std::vector<std::string>>()});
    gamma.push_back(b.at("gamma"));
  }
}

/// Everything that defines the numbers of a job, except the subject and where the data live.
json numeric_identity(const Plan& p) {
  json evals = json::array();
  for (const auto& e : p.eval) evals.push_back({{"name", e.name}, {"episodes", e.episodes}, {"movies", e.movies}});
  json id = {{"dataset", p.dataset_name}, {"atlas", p.atlas},          {"tr", p.tr},
             {"exclude", {p.exclude_start, p.exclude_end}},           {"folds", p.folds},
             {"alphas", p.alphas},        {"train", p.train},          {"eval", evals},
             {"precision", p.precision}};
  if (p.prediction_dtype != "float32") id["prediction_dtype"] = p.prediction_dtype;  // float32 keeps earlier ids
  // Test sets change what a job file holds; plans without them keep their ids.
  if (!p.test.empty()) {
    json tests = json::array();
    for (const auto& t : p.test) tests.push_back({{"name", t.name}, {"n_samples", t.n_samples}});
    id["test"] = tests;
  }
  return id;
}

/// Test sets of the sweep (issue #5), with their sample counts per subject.
std::vector<TestSet> resolve_test_sets(const Sweep& s, const DatasetDescriptor& d) {
  std::vector<TestSet> out;
  if (s.test.empty()) return out;
  const std::string source = s.sample_counts ? *s.sample_counts : d.sample_counts;
  if (source.empty())
    throw ConfigError(s.path + ": key 'test': no sample counts (set `sample_counts:` in the sweep, or in " +
                      d.descriptor_path + ")");
  for (const auto& [name, listed] : s.test) {
    TestSet t;
    t.name = name;
    t.counts_source = source;
    const SampleCounts counts = read_sample_counts(source, name, s.subjects);
    for (const auto& sub : s.subjects) {
      const auto& c = counts.at(sub);
      if (listed.empty()) {
        t.n_samples[sub] = c;
      } else {
        for (const auto& ep : listed) {
          auto it = std::find_if(c.begin(), c.end(), [&](const auto& x) { return x.first == ep; });
          if (it == c.end())
            throw ConfigError(s.path + ": key 'test." + name + "': episode '" + ep + "' has no sample count for " +
                              sub + " in " + sample_counts_file(source, name, sub));
          t.n_samples[sub].push_back(*it);
        }
      }
      for (const auto& [ep, n] : t.n_samples[sub])
        if (std::find(t.episodes.begin(), t.episodes.end(), ep) == t.episodes.end()) t.episodes.push_back(ep);
    }
    for (const auto& ep : t.episodes) t.movies[ep] = d.movie_of(ep);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::string> episodes_needed(const Plan& p) {
  std::vector<std::string> eps = p.train;
  for (const auto& ep : p.eval_episodes())
    if (std::find(eps.begin(), eps.end(), ep) == eps.end()) eps.push_back(ep);
  return eps;
}

/// Grid values against the data that `generate` has opened (issue #16): a lag or window that
/// leaves most samples of an episode without their stimulus (ENCODING.md §1 clamps the indices:
/// `hrf_delay: 5000` makes every row the first feature row, hence scores of 0), and CV folds too
/// small to score (`folds` near the number of training samples, or exclusions that leave a handful).
void check_grid_against_data(const Sweep& s, const Plan& p,
                             const std::map<std::string, std::vector<std::string>>& train_of) {
  constexpr long min_fold_samples = 10;  // Pearson r over fewer held-out samples is noise
  const int xs = p.exclude_start, xe = p.exclude_end;
  std::set<std::pair<int, int>> lags;
  for (const GridPoint& g : grid_points(s)) lags.insert({g.hrf_delay, g.stimulus_window});
  for (const auto& [hrf, win] : lags) {
    // Samples s in [first, end) of an episode use feature rows s − hrf − win + 1 … s − hrf.
    auto check = [&](const std::string& what, long first, long end) {
      const long kept = end - first;
      const long whole = std::max(0L, end - std::max(first, static_cast<long>(hrf) + win - 1));
      if (2 * whole < kept)
        throw ConfigError(fmt::format(
            "{}: keys 'grid.hrf_delay' {} and 'grid.stimulus_window' {}: only {} of the {} samples of {} have their "
            "whole stimulus window inside the episode (feature rows s − {} … s − {}); at least half must (lower the "
            "hrf_delay or the stimulus_window)",
            s.path, hrf, win, whole, kept, what, hrf + win - 1, hrf));
    };
    for (const auto& [sub, runs] : p.fmri)
      for (const auto& [ep, r] : runs) check(fmt::format("episode '{}' of {} (kept)", ep, sub), xs, r.n_tr - xe);
    for (const auto& t : p.test)
      for (const auto& [sub, counts] : t.n_samples)
        for (const auto& [ep, n] : counts) check(fmt::format("test episode '{}' of {}", ep, sub), 0, n);
  }
  for (const auto& [sub, eps] : train_of) {
    std::vector<long> lengths;
    long n = 0;
    for (const auto& ep : eps) {
      lengths.push_back(std::max(0L, p.fmri.at(sub).at(ep).n_tr - xs - xe));
      n += lengths.back();
    }
    std::vector<long> per_fold(static_cast<size_t>(p.folds), 0);
    if (n >= p.folds)
      for (int f : fold_assignment(lengths, p.folds)) ++per_fold[static_cast<size_t>(f)];
    const long smallest = *std::min_element(per_fold.begin(), per_fold.end());
    if (smallest < min_fold_samples)
      throw ConfigError(fmt::format(
          "{}: key 'ridge.folds' {}: the {} training samples of {} ({} episodes, after exclude_start {} and "
          "exclude_end {}) leave {} samples in a fold; every fold needs at least {} (fewer folds, or more "
          "training episodes)",
          s.path, p.folds, n, sub, eps.size(), xs, xe, smallest, min_fold_samples));
  }
}

/// Append `u` to the plan with its stable ids: the unit's from `base` (what its numbers depend on) and
/// its subjects, each job's from `base` and its subject; one job per subject of the unit, carrying the
/// unit's model, layers, lags, bands and encoder configuration.
void add_unit(Plan& p, Unit u, const json& base) {
  json uj = base;
  uj["subjects"] = u.subjects;
  u.unit_id = stable_id(uj.dump());
  for (const auto& sub : u.subjects) {
    json jj = base;
    jj["subject"] = sub;
    Job job{stable_id(jj.dump()), u.unit_id, u.model, u.layers, u.hrf_delay, u.stimulus_window, sub, u.bands, u.gamma,
            u.encoder, u.partition, u.estimator};
    u.job_ids.push_back(job.job_id);
    p.jobs.push_back(std::move(job));
  }
  p.units.push_back(std::move(u));
}

/// The units of `encoder:` (docs/trained-encoders.md): one per configuration, every subject in it (the
/// multi-subject heads), trained on the training episodes every subject has, whatever `episodes:`
/// says (a window needs every subject's fMRI); its episodes' lengths are the shortest subject's.
void add_encoder_units(const Sweep& s, Plan& p, const std::map<std::string, std::vector<std::string>>& train_of,
                       const json& ident) {
  const EncoderSpec& spec = *s.encoder;
  p.encoder = EncoderRun{spec.early_stopping, spec.holdout, spec.device, spec.threads};
  std::vector<std::string> common = train_of.at(p.subjects.front());
  for (const auto& sub : p.subjects) {
    const auto& has = train_of.at(sub);
    std::erase_if(common, [&](const std::string& ep) { return std::find(has.begin(), has.end(), ep) == has.end(); });
  }
  if (common.empty())
    throw ConfigError(s.path + ": key 'encoder': no training episode has the fMRI of every subject (" +
                      fmt::format("{}", fmt::join(p.subjects, ", ")) +
                      "); a multi-subject encoder trains on windows of all subjects at once");
  long shortest = std::numeric_limits<long>::max();
  std::string shortest_ep;
  for (const auto& ep : common)
    for (const auto& sub : p.subjects)
      if (p.fmri.at(sub).at(ep).n_tr < shortest) shortest = p.fmri.at(sub).at(ep).n_tr, shortest_ep = ep;
  for (const EncoderConfig& c : spec.configs()) {
    const long usable = shortest - static_cast<long>(std::ceil(spec.holdout * static_cast<double>(shortest)));
    if (c.sample_length > usable)
      throw ConfigError(fmt::format("{}: key 'encoder.sample_length' {}: training episode '{}' has only {} TRs{} (a "
                                    "window must fit in an episode)", s.path, c.sample_length, shortest_ep, usable,
                                    spec.holdout > 0 ? " before its held-out tail" : ""));
    Unit u;
    u.model = "encoder";
    for (const auto& st : c.streams) u.layers.push_back(stream_label(st));
    u.hrf_delay = 0;
    u.stimulus_window = 1;
    u.subjects = p.subjects;
    if (common != p.train) u.train = common;
    u.encoder = c;
    json base = ident;
    base.update({{"kind", "encoder"}, {"encoder", encoder_json(c)}, {"early_stopping", spec.early_stopping},
                 {"train", common}});
    if (spec.holdout > 0) base["holdout"] = spec.holdout;
    add_unit(p, std::move(u), base);
  }
}

}  // namespace

std::string stream_label(const FeatureBand& s) { return fmt::format("{}/{}", s.model, fmt::join(s.layers, "+")); }

json encoder_json(const EncoderConfig& c) {
  json streams = json::array();
  for (const auto& s : c.streams) streams.push_back({{"model", s.model}, {"layers", s.layers}});
  return {{"streams", streams},          {"embed_dim", c.embed_dim},       {"kernel_size", c.kernel_size},
          {"causal", c.causal},          {"positive", c.positive},         {"tied", c.tied},
          {"shared_head", c.shared_head}, {"subject_heads", c.subject_heads}, {"lr", c.lr},
          {"weight_decay", c.weight_decay}, {"batch_size", c.batch_size},  {"sample_length", c.sample_length},
          {"num_samples", c.num_samples}, {"epochs", c.epochs},             {"patience", c.patience}};
}

EncoderConfig encoder_from_json(const json& j) {
  EncoderConfig c;
  for (const auto& s : j.at("streams")) c.streams.push_back({s.at("model"), s.at("layers").get<std::vector<std::string>>()});
  c.embed_dim = j.at("embed_dim"), c.kernel_size = j.at("kernel_size");
  c.causal = j.at("causal"), c.positive = j.at("positive"), c.tied = j.at("tied");
  c.shared_head = j.at("shared_head"), c.subject_heads = j.at("subject_heads");
  c.lr = j.at("lr"), c.weight_decay = j.at("weight_decay");
  c.batch_size = j.at("batch_size"), c.sample_length = j.at("sample_length"), c.num_samples = j.at("num_samples");
  c.epochs = j.at("epochs"), c.patience = j.at("patience");
  return c;
}

Plan make_plan(const Sweep& s, PlanScope scope) {
  if (scope == PlanScope::full && s.features.empty() && !s.encoder)
    throw ConfigError(s.path + ": key 'features': missing (expected a non-empty list of {model, layers}, or an "
                      "'encoder:' section; only `brainsweep ceiling` reads a sweep without features)");
  if (s.rsa && s.encoder)
    throw ConfigError(s.path + ": keys 'rsa' and 'encoder': an RSA sweep compares RDMs and fits no encoder; "
                      "use two sweeps");
  if (s.rsa && s.pls)
    throw ConfigError(s.path + ": keys 'rsa' and 'pls': an RSA sweep compares RDMs and fits no encoder; use two sweeps");
  {  // a missing path named with its key and the directory a relative one was resolved against
    namespace sfs = std::filesystem;
    const std::string cwd = " (a relative path is resolved against the working directory, " + sfs::current_path().string() + ")";
    if (!sfs::is_regular_file(s.dataset))
      throw ConfigError(s.path + ": key 'dataset': " + s.dataset + ": no such file" + cwd);
    if (s.dataset_root && !sfs::is_directory(*s.dataset_root))
      throw ConfigError(s.path + ": key 'dataset_root': '" + *s.dataset_root + "' is " + fs::absolute(*s.dataset_root) +
                        ": no such directory" + cwd);
  }
  const auto d = DatasetDescriptor::load(s.dataset, s.dataset_root);
  Plan p;
  p.version = BRAINSWEEP_VERSION;
  p.sweep_file = s.path;
  p.dataset_name = d.name;
  p.dataset_descriptor = d.descriptor_path;
  p.dataset_root = d.root;
  p.atlas = s.atlas;
  p.tr = d.tr;
  p.exclude_start = d.exclude_start;
  p.exclude_end = d.exclude_end;
  p.max_missing_feature_rows = d.max_missing_feature_rows;
  p.subjects = s.subjects;
  p.train = s.train;
  for (const auto& [name, eps] : s.eval) {
    EvalSet e{name, eps, {}};
    for (const auto& ep : eps) e.movies[ep] = d.movie_of(ep);
    p.eval.push_back(std::move(e));
  }
  p.test = resolve_test_sets(s, d);
  p.folds = s.folds;
  p.alphas = s.alphas;
  p.backend = s.backend;
  p.precision = s.precision;
  p.prediction_dtype = s.prediction_dtype;
  p.rsa = s.rsa;
  p.pls = s.pls;

  // Which episodes each subject has (Algonauts sub-02 and sub-05 lack some runs, DATA.md).
  // Evaluation episodes must exist for every subject; training episodes may be missing:
  // `episodes: per_subject` trains each subject on the listed episodes it has (its own units),
  // `episodes: common` trains everyone on the listed episodes all subjects have.
  std::map<std::string, std::vector<std::string>> train_of;  // subject → training episodes it has
  {
    std::vector<std::string> common;
    for (const auto& sub : p.subjects) {
      const std::vector<std::string> all = episodes_needed(p);
      std::vector<std::string> missing;
      std::string missing_file;
      for (const auto& ep : all) {
        const std::string file = d.fmri_file(sub, p.atlas, ep);
        if (!fmri_has_episode(file, ep, d.fmri_key(ep))) {
          const bool is_train = std::find(p.train.begin(), p.train.end(), ep) != p.train.end();
          bool in_eval = false;
          for (const auto& e : p.eval) in_eval = in_eval || std::find(e.episodes.begin(), e.episodes.end(), ep) != e.episodes.end();
          if (in_eval || !is_train) fmri_dataset_of(file, ep, d.fmri_key(ep));  // throws, naming the file and the episodes found
          missing.push_back(ep);
          missing_file = file;
          continue;
        }
        if (std::find(p.train.begin(), p.train.end(), ep) != p.train.end()) train_of[sub].push_back(ep);
      }
      if (train_of[sub].empty()) {
        fmri_dataset_of(missing_file, missing.front(), d.fmri_key(missing.front()));  // throws: names the file and the episodes found
      }
      if (sub == p.subjects.front()) {
        common = train_of[sub];
      } else {
        std::vector<std::string> keep;
        for (const auto& ep : common)
          if (std::find(train_of[sub].begin(), train_of[sub].end(), ep) != train_of[sub].end()) keep.push_back(ep);
        common = keep;
      }
    }
    if (s.episodes == "common") {
      if (common.empty())
        throw DataError(s.path + ": key 'episodes': common: no training episode is shared by all subjects");
      p.train = common;
      for (auto& [sub, eps] : train_of) eps = common;
    }
  }
  p.episodes = s.episodes;

  for (const auto& sub : p.subjects) {
    long n_parcels = -1;
    std::vector<std::string> eps = train_of[sub];
    for (const auto& ep : episodes_needed(p))
      if (std::find(p.train.begin(), p.train.end(), ep) == p.train.end()) eps.push_back(ep);
    for (const auto& ep : eps) {
      FmriRef r;
      r.file = d.fmri_file(sub, p.atlas, ep);
      r.dataset = fmri_dataset_of(r.file, ep, d.fmri_key(ep));
      std::tie(r.n_tr, r.n_parcels) = fmri_shape(r.file, r.dataset);
      if (n_parcels >= 0 && r.n_parcels != n_parcels)
        throw DataError(r.file + ": dataset '" + r.dataset + "' has " + std::to_string(r.n_parcels) +
                        " parcels, other runs of " + sub + " have " + std::to_string(n_parcels));
      n_parcels = r.n_parcels;
      if (r.n_tr <= p.exclude_start + p.exclude_end)
        throw DataError(r.file + ": dataset '" + r.dataset + "' has " + std::to_string(r.n_tr) +
                        " TRs, no more than the excluded " + std::to_string(p.exclude_start + p.exclude_end));
      p.fmri[sub][ep] = r;
    }
  }
  const auto episodes = episodes_needed(p);

  // parcel_names of every fMRI file: one name per parcel, or none.
  {
    std::set<std::string> checked;
    for (const auto& [sub, runs] : p.fmri)
      for (const auto& [ep, r] : runs)
        if (checked.insert(r.file).second) checked_parcel_names(r.file, r.n_parcels);
  }
  if (scope == PlanScope::fmri) return p;

  // Every layer has the same number of columns in every episode (the design's width): the first
  // file read sets it.
  std::map<std::pair<std::string, std::string>, std::pair<long, std::string>> width_of;  // (model, layer) → (C, file)
  auto check_width = [&](const std::string& model, const std::string& layer, const std::string& file, long cols) {
    const auto [it, first] = width_of.try_emplace({model, layer}, cols, file);
    if (!first && it->second.first != cols)
      throw DataError(file + ": dataset '" + layer + "' has " + std::to_string(cols) + " columns, " + it->second.second +
                      " has " + std::to_string(it->second.first) + " (a layer must have the same width in every episode)");
  };

  // The (model, layers) that feature files are read for: the feature set, or each of its bands.
  std::vector<FeatureBand> sources;
  for (const auto& f : s.features) {
    std::vector<FeatureBand> parts = f.bands;
    if (parts.empty()) parts.push_back({f.model, f.layers});
    for (auto& b : parts)
      if (std::find(sources.begin(), sources.end(), b) == sources.end()) sources.push_back(std::move(b));
  }
  if (s.encoder)
    for (const auto& set : s.encoder->feature_sets)
      for (const auto& b : set)
        if (std::find(sources.begin(), sources.end(), b) == sources.end()) sources.push_back(b);
  // Feature files: every layer of every feature set, for every episode, against the fMRI length.
  for (const auto& fs : sources) {
    for (const auto& ep : episodes) {
      const std::string file = d.feature_file_of(fs.model, ep);
      p.features[fs.model][ep] = file;
      long max_tr = 0;
      for (const auto& sub : p.subjects)
        if (p.fmri[sub].count(ep)) max_tr = std::max(max_tr, p.fmri[sub][ep].n_tr);
      for (const auto& layer : fs.layers) {
        const auto [rows, cols] = feature_shape(file, layer);
        check_width(fs.model, layer, file, cols);
        if (rows < max_tr - p.max_missing_feature_rows)
          throw DataError(file + ": dataset '" + layer + "' has " + std::to_string(rows) + " rows, fMRI of episode '" +
                          ep + "' has " + std::to_string(max_tr) + " (at most " +
                          std::to_string(p.max_missing_feature_rows) + " fewer allowed: max_missing_feature_rows)");
        if (rows > max_tr + d.max_extra_feature_rows)
          throw DataError(file + ": dataset '" + layer + "' has " + std::to_string(rows) + " rows, fMRI of episode '" +
                          ep + "' has " + std::to_string(max_tr) + " (at most " + std::to_string(d.max_extra_feature_rows) +
                          " more allowed: max_extra_feature_rows in " + d.descriptor_path +
                          "; another episode's file, or features at another TR?)");
      }
    }
  }

  // Test-set feature files: rows against the largest sample count (clamped, ENCODING.md §1).
  for (const auto& fs : sources) {
    for (const auto& t : p.test) {
      for (const auto& ep : t.episodes) {
        const std::string file = d.feature_file_of(fs.model, ep);
        p.features[fs.model][ep] = file;
        long max_n = 0;
        for (const auto& sub : p.subjects) max_n = std::max(max_n, t.count(sub, ep));
        for (const auto& layer : fs.layers) {
          const auto [rows, cols] = feature_shape(file, layer);
          check_width(fs.model, layer, file, cols);
          if (rows > max_n + d.max_extra_feature_rows)
            throw DataError(file + ": dataset '" + layer + "' has " + std::to_string(rows) + " rows, test set '" +
                            t.name + "' lists " + std::to_string(max_n) + " samples for episode '" + ep + "' (at most " +
                            std::to_string(d.max_extra_feature_rows) + " more allowed: max_extra_feature_rows in " +
                            d.descriptor_path + ")");
          if (rows < max_n - p.max_missing_feature_rows)
            throw DataError(file + ": dataset '" + layer + "' has " + std::to_string(rows) + " rows, test set '" +
                            t.name + "' lists " + std::to_string(max_n) + " samples for episode '" + ep +
                            "' (at most " + std::to_string(p.max_missing_feature_rows) +
                            " fewer allowed: max_missing_feature_rows)");
        }
      }
    }
  }

  check_grid_against_data(s, p, train_of);

  // Units: subjects share a unit when their runs have the same lengths (same design matrix).
  const json ident = numeric_identity(p);
  for (const GridPoint& point : grid_points(s)) {
    const FeatureSet& fs = s.features[point.feature_set];
    const int hrf = point.hrf_delay, win = point.stimulus_window;
    {
      {
        // Subjects share a unit when they train on the same episodes and all their runs have the
        // same lengths (one design matrix, one set of training rows).
        std::map<std::pair<std::vector<std::string>, std::vector<long>>, std::vector<std::string>> groups;
        std::vector<std::pair<std::vector<std::string>, std::vector<long>>> order;
        for (const auto& sub : p.subjects) {
          std::pair<std::vector<std::string>, std::vector<long>> sig{train_of[sub], {}};
          for (const auto& [ep, r] : p.fmri[sub]) sig.second.push_back(r.n_tr);
          if (!groups.count(sig)) order.push_back(sig);
          groups[sig].push_back(sub);
        }
        for (const auto& sig : order) {
          Unit u{"", fs.model, fs.layers, hrf, win, groups[sig], {}, {}, fs.bands, fs.gamma, {}, fs.partition, fs.estimator};
          json base = ident;
          if (sig.first != p.train) {
            u.train = sig.first;
            base["train"] = u.train;  // the numbers depend on the training episodes
          }
          base.update({{"model", fs.model}, {"layers", fs.layers}, {"hrf_delay", hrf}, {"stimulus_window", win}});
          if (!fs.bands.empty()) base["bands"] = bands_json(fs.bands, fs.gamma);
          if (!fs.partition.empty()) base["partition"] = fs.partition;
          if (!fs.estimator.empty())  // the components and scaling give other numbers: other job ids
            base["pls"] = {{"components", s.pls->components}, {"scale", s.pls->scale}};
          add_unit(p, std::move(u), base);
        }
      }
    }
  }
  if (s.encoder) add_encoder_units(s, p, train_of, ident);
  std::set<std::string> ids;
  for (const auto& j : p.jobs)
    if (!ids.insert(j.job_id).second)
      throw ConfigError(s.path + ": key 'features': job " + j.job_id + " appears twice (a feature set is listed twice)");
  if (p.rsa) {
    for (const auto& f : s.features)
      if (!f.bands.empty())
        throw ConfigError(s.path + ": key 'rsa': banded feature sets (bands:) scale bands for ridge; an RSA sweep "
                          "compares each feature set's own RDM (list the bands as plain feature sets)");
    // One model RDM is compared with every subject's, at one hrf_delay (the samples of a condition
    // depend on it): a unit must hold every subject.
    std::set<int> delays;
    for (const auto& u : p.units) delays.insert(u.hrf_delay);
    if (delays.size() > 1)
      throw ConfigError(fmt::format("{}: key 'rsa': the grid has {} hrf_delay values; an RSA sweep compares at one (the "
                                    "samples of a condition depend on it; keep one in grid.hrf_delay)", s.path, delays.size()));
    for (const auto& u : p.units)
      if (u.subjects.size() != p.subjects.size())
        throw ConfigError(fmt::format("{}: key 'rsa': subjects {} lack training episodes the others have, so they would "
                                      "form their own units; an RSA sweep compares all subjects at once (use "
                                      "`episodes: common`, or a train list every subject has)", s.path, fmt::join(u.subjects, ", ")));
  }
  return p;
}

json Plan::to_json() const {
  json j;
  j["format"] = "brainsweep-plan/1";
  j["brainsweep_version"] = version;
  j["sweep_file"] = sweep_file;
  j["dataset"] = {{"name", dataset_name}, {"descriptor", dataset_descriptor}, {"root", dataset_root},
                  {"tr", tr},             {"exclude_start", exclude_start},   {"exclude_end", exclude_end},
                  {"atlas", atlas},       {"max_missing_feature_rows", max_missing_feature_rows}};
  j["subjects"] = subjects;
  j["train"] = train;
  j["eval"] = json::array();
  for (const auto& e : eval) j["eval"].push_back({{"name", e.name}, {"episodes", e.episodes}, {"movies", e.movies}});
  if (!test.empty()) {
    j["test"] = json::array();
    for (const auto& t : test)
      j["test"].push_back({{"name", t.name}, {"counts_source", t.counts_source}, {"episodes", t.episodes},
                           {"movies", t.movies}, {"n_samples", t.n_samples}});
  }
  j["ridge"] = {{"folds", folds}, {"alphas", alphas}, {"backend", backend}, {"precision", precision}};
  if (prediction_dtype != "float32") j["ridge"]["prediction_dtype"] = prediction_dtype;
  j["episodes"] = episodes;
  for (const auto& [sub, eps] : fmri)
    for (const auto& [ep, r] : eps)
      j["fmri"][sub][ep] = {{"file", r.file}, {"dataset", r.dataset}, {"n_tr", r.n_tr}, {"n_parcels", r.n_parcels}};
  j["features"] = features;
  j["units"] = json::array();
  for (const auto& u : units) {
    j["units"].push_back({{"unit_id", u.unit_id}, {"model", u.model}, {"layers", u.layers}, {"hrf_delay", u.hrf_delay},
                          {"stimulus_window", u.stimulus_window}, {"subjects", u.subjects}, {"jobs", u.job_ids}});
    if (!u.train.empty()) j["units"].back()["train"] = u.train;
    if (!u.bands.empty()) j["units"].back()["bands"] = bands_json(u.bands, u.gamma);
    if (!u.partition.empty()) j["units"].back()["partition"] = u.partition;
    if (!u.estimator.empty()) j["units"].back()["estimator"] = u.estimator;
    if (u.encoder) j["units"].back()["encoder"] = encoder_json(*u.encoder);
  }
  j["jobs"] = json::array();
  for (const auto& b : jobs) {
    j["jobs"].push_back({{"job_id", b.job_id}, {"unit_id", b.unit_id}, {"model", b.model}, {"layers", b.layers},
                         {"hrf_delay", b.hrf_delay}, {"stimulus_window", b.stimulus_window}, {"subject", b.subject}});
    if (!b.bands.empty()) j["jobs"].back()["bands"] = bands_json(b.bands, b.gamma);
    if (!b.partition.empty()) j["jobs"].back()["partition"] = b.partition;
    if (!b.estimator.empty()) j["jobs"].back()["estimator"] = b.estimator;
    if (b.encoder) j["jobs"].back()["encoder"] = encoder_json(*b.encoder);
  }
  if (pls) j["pls"] = {{"components", pls->components}, {"scale", pls->scale}};
  if (encoder)
    j["encoder"] = {{"early_stopping", encoder->early_stopping}, {"holdout", encoder->holdout},
                    {"device", encoder->device}, {"threads", encoder->threads}};
  if (rsa) {
    json rois = json::array();
    for (const auto& [name, re] : rsa->rois) rois.push_back({name, re});
    j["rsa"] = {{"events", rsa->events},           {"sets", rsa->sets},       {"distance", rsa->distance},
                {"comparisons", rsa->comparisons}, {"rois", rois},            {"bootstrap", rsa->bootstrap},
                {"permutations", rsa->permutations}, {"seed", rsa->seed},     {"ceiling", rsa->ceiling}};
  }
  return j;
}

Plan Plan::from_json(const json& j, const std::string& where) {
  try {
    if (j.at("format") != "brainsweep-plan/1")
      throw DataError(where + ": not a brainsweep plan (format '" + j.at("format").dump() + "')");
    Plan p;
    p.version = j.at("brainsweep_version");
    p.sweep_file = j.at("sweep_file");
    const auto& d = j.at("dataset");
    p.dataset_name = d.at("name");
    p.dataset_descriptor = d.at("descriptor");
    p.dataset_root = d.at("root");
    p.tr = d.at("tr");
    p.exclude_start = d.at("exclude_start");
    p.exclude_end = d.at("exclude_end");
    p.atlas = d.at("atlas");
    p.max_missing_feature_rows = d.at("max_missing_feature_rows");
    p.subjects = j.at("subjects").get<std::vector<std::string>>();
    p.train = j.at("train").get<std::vector<std::string>>();
    for (const auto& e : j.at("eval"))
      p.eval.push_back({e.at("name"), e.at("episodes").get<std::vector<std::string>>(),
                        e.at("movies").get<std::map<std::string, std::string>>()});
    if (j.contains("test"))
      for (const auto& t : j.at("test"))
        p.test.push_back({t.at("name"), t.at("counts_source"), t.at("episodes").get<std::vector<std::string>>(),
                          t.at("movies").get<std::map<std::string, std::string>>(),
                          t.at("n_samples").get<std::map<std::string, std::vector<std::pair<std::string, long>>>>()});
    p.folds = j.at("ridge").at("folds");
    p.alphas = j.at("ridge").at("alphas").get<std::vector<double>>();
    p.backend = j.at("ridge").at("backend");
    p.precision = j.at("ridge").value("precision", "mixed");
    p.prediction_dtype = j.at("ridge").value("prediction_dtype", "float32");
    p.episodes = j.value("episodes", std::string("per_subject"));
    for (const auto& [sub, eps] : j.at("fmri").items())
      for (const auto& [ep, r] : eps.items())
        p.fmri[sub][ep] = {r.at("file"), r.at("dataset"), r.at("n_tr"), r.at("n_parcels")};
    p.features = j.at("features").get<std::map<std::string, std::map<std::string, std::string>>>();
    for (const auto& u : j.at("units")) {
      p.units.push_back({u.at("unit_id"), u.at("model"), u.at("layers").get<std::vector<std::string>>(),
                         u.at("hrf_delay"), u.at("stimulus_window"), u.at("subjects").get<std::vector<std::string>>(),
                         u.at("jobs").get<std::vector<std::string>>(),
                         u.value("train", std::vector<std::string>{}), {}, {}, {}, u.value("partition", std::string{}),
                         u.value("estimator", std::string{})});
      if (u.contains("bands")) bands_from_json(u.at("bands"), p.units.back().bands, p.units.back().gamma);
      if (u.contains("encoder")) p.units.back().encoder = encoder_from_json(u.at("encoder"));
    }
    for (const auto& b : j.at("jobs")) {
      p.jobs.push_back({b.at("job_id"), b.at("unit_id"), b.at("model"), b.at("layers").get<std::vector<std::string>>(),
                        b.at("hrf_delay"), b.at("stimulus_window"), b.at("subject"), {}, {}, {},
                        b.value("partition", std::string{}), b.value("estimator", std::string{})});
      if (b.contains("bands")) bands_from_json(b.at("bands"), p.jobs.back().bands, p.jobs.back().gamma);
      if (b.contains("encoder")) p.jobs.back().encoder = encoder_from_json(b.at("encoder"));
    }
    if (j.contains("pls")) {
      PlsSpec spec;
      spec.components = j.at("pls").at("components").get<std::vector<long>>();
      spec.scale = j.at("pls").at("scale");
      p.pls = spec;
    }
    if (j.contains("encoder")) {
      const auto& e = j.at("encoder");
      p.encoder = EncoderRun{e.at("early_stopping"), e.at("holdout"), e.at("device"), e.at("threads")};
    }
    if (j.contains("rsa")) {
      const auto& r = j.at("rsa");
      RsaSpec spec;
      spec.events = r.at("events");
      spec.sets = r.at("sets").get<std::vector<std::string>>();
      spec.distance = r.at("distance");
      spec.comparisons = r.at("comparisons").get<std::vector<std::string>>();
      for (const auto& roi : r.at("rois")) spec.rois.emplace_back(roi.at(0), roi.at(1));
      spec.bootstrap = r.at("bootstrap");
      spec.permutations = r.at("permutations");
      spec.seed = r.at("seed");
      spec.ceiling = r.at("ceiling");
      p.rsa = spec;
    }
    return p;
  } catch (const json::exception& e) {
    throw DataError(where + ": malformed plan: " + e.what());
  }
}

void remove_run_outputs(const std::string& run_dir) {
  const std::filesystem::path dir(run_dir);
  std::error_code ec;
  for (const char* name : {"jobs", "units", "stitched"}) {
    std::filesystem::remove_all(dir / name, ec);
    if (ec) throw Error((dir / name).string() + ": cannot remove: " + ec.message());
  }
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    for (const char* base : {"plan.json", "sweep.yaml", "results.csv", "results.h5", "rsa_report.txt"})
      if (n == base || n.rfind(std::string(base) + ".tmp", 0) == 0) {
        std::filesystem::remove(e.path(), ec);
        if (ec) throw Error(e.path().string() + ": cannot remove: " + ec.message());
      }
  }
}

std::string run_lock_path(const std::string& run_dir) {
  return (std::filesystem::path(run_dir) / "run.lock").string();
}

std::string plan_checksum(const json& plan_json) {
  json body = plan_json;
  body.erase("checksum");
  return stable_id(body.dump());
}

namespace {
json read_plan_json(const std::string& path) {
  try {
    return json::parse(fs::read_text(path));
  } catch (const json::parse_error& e) {
    throw DataError(path + ": not valid JSON: " + e.what());
  }
}
}  // namespace

Plan Plan::load(const std::string& run_dir) {
  const std::string path = (std::filesystem::path(run_dir) / "plan.json").string();
  std::error_code ec;
  if (!std::filesystem::is_directory(run_dir, ec))
    throw DataError(run_dir + (std::filesystem::exists(run_dir, ec) ? ": not a directory" : ": no such directory") +
                    " (expected a RUN_DIR written by `brainsweep generate SWEEP.yaml --out " + run_dir + "`)");
  if (!std::filesystem::exists(path))
    throw DataError(path + ": no plan (run `brainsweep generate SWEEP.yaml --out " + run_dir + "` first)");
  const json j = read_plan_json(path);
  const std::string regenerate = " (`brainsweep generate SWEEP.yaml --out " + run_dir +
                                 "` with the sweep that made it writes it again and keeps the results)";
  if (!j.is_object() || !j.contains("checksum") || !j.at("checksum").is_string())
    throw DataError(path + ": no checksum (written by an earlier brainsweep, or not a plan)" + regenerate);
  const std::string stored = j.at("checksum"), computed = plan_checksum(j);
  if (stored != computed)
    throw DataError(path + ": edited after `generate` (checksum " + stored + " stored, " + computed +
                    " computed): a run, its results and results.csv would disagree with it; plans are changed "
                    "through their sweep" + regenerate);
  Plan p = from_json(j, path);
  p.checksum = stored;
  return p;
}

std::vector<std::string> Plan::eval_episodes() const {
  std::vector<std::string> eps;
  for (const auto& e : eval)
    for (const auto& ep : e.episodes)
      if (std::find(eps.begin(), eps.end(), ep) == eps.end()) eps.push_back(ep);
  return eps;
}

const EvalSet& Plan::eval_set(const std::string& name) const {
  std::string known;
  for (const auto& e : eval) {
    if (e.name == name) return e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw ConfigError("eval set '" + name + "' is not in the plan (eval sets: " + (known.empty() ? "none" : known) + ")");
}

const std::vector<std::string>* Plan::set_episodes(const std::string& name) const {
  if (name == "train") return &train;
  for (const auto& e : eval)
    if (e.name == name) return &e.episodes;
  return nullptr;
}

std::string Plan::set_names() const {
  std::string names = "train";
  for (const auto& e : eval) names += ", " + e.name;
  return names;
}

const Job& Plan::job(const std::string& job_id) const {
  for (const auto& j : jobs)
    if (j.job_id == job_id) return j;
  throw DataError("job '" + job_id + "' is not in the plan");
}

long TestSet::count(const std::string& subject, const std::string& episode) const {
  auto it = n_samples.find(subject);
  if (it == n_samples.end()) return 0;
  for (const auto& [ep, n] : it->second)
    if (ep == episode) return n;
  return 0;
}

const TestSet& Plan::test_set(const std::string& name) const {
  std::string known;
  for (const auto& t : test) {
    if (t.name == name) return t;
    known += (known.empty() ? "" : ", ") + t.name;
  }
  throw ConfigError("test set '" + name + "' is not in the plan (test sets: " + (known.empty() ? "none" : known) + ")");
}

bool write_plan(const Plan& plan, const std::string& run_dir, bool start_over) {
  namespace sfs = std::filesystem;
  const sfs::path dir(run_dir);
  const sfs::path plan_path = dir / "plan.json";
  fs::check_output_parent(plan_path.string(), "--out");  // RUN_DIR or a directory above it is a file
  json j = plan.to_json();
  j["checksum"] = plan_checksum(j);
  if (sfs::exists(plan_path)) {
    json old;
    try {
      old = json::parse(fs::read_text(plan_path.string()));
    } catch (const json::parse_error&) {
      throw ConfigError(plan_path.string() + ": exists but is not a plan; refusing to overwrite it");
    }
    if (!old.is_object()) throw ConfigError(plan_path.string() + ": exists but is not a plan; refusing to overwrite it");
    auto strip = [](json x) {
      x.erase("sweep_file");
      x.erase("brainsweep_version");
      x.erase("checksum");
      return x;
    };
    const bool intact = old.contains("checksum") && old["checksum"].is_string() && old["checksum"] == plan_checksum(old);
    // The same plan, intact: nothing to do (a rerun resumes). The same content with a missing or
    // broken checksum, or a plan edited by hand whose stored checksum is the new plan's (the sweep
    // that made the results): plan.json is written again and the results are kept.
    const bool same = strip(old) == strip(j);
    if (same && intact) return false;
    const bool restores = !intact && old.contains("checksum") && old["checksum"] == j["checksum"];
    if (same || restores) {
      fs::write_text_atomic(plan_path.string(), j.dump(1) + "\n");
      return true;
    }
    if (!start_over)
      throw ConfigError(run_dir + " holds a different plan (" + plan_path.string() +
                        "); use a new RUN_DIR, or `generate --start-over` to delete its results and start over");
    const fs::FileLock lock(run_lock_path(run_dir), "brainsweep generate --start-over");  // not under a running run
    remove_run_outputs(run_dir);  // plan, sweep copy, job files, unit records, results; other files stay
  } else if (sfs::exists(dir) && !sfs::is_empty(dir))
    throw ConfigError(run_dir + ": exists, is not empty and holds no plan.json; refusing to write a plan into it");
  sfs::create_directories(dir);
  fs::write_text_atomic((dir / "sweep.yaml").string(), fs::read_text(plan.sweep_file));
  fs::write_text_atomic(plan_path.string(), j.dump(1) + "\n");
  return true;
}

}  // namespace brainsweep
