#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "brainsweep/config.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/random.hpp"
#include "yaml_util.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

std::vector<double> default_alphas() {
  std::vector<double> a;
  for (int i = 0; i < 17; ++i) a.push_back(std::pow(10.0, -1.0 + 0.5 * i));
  return a;
}

std::string band_label(const FeatureBand& band, double gamma) {
  return fmt::format("{}/{}@{:.6g}", band.model, fmt::join(band.layers, "+"), gamma);
}

std::vector<std::vector<double>> dirichlet_samples(size_t n, size_t b, const std::vector<double>& concentrations,
                                                   std::uint64_t seed) {
  std::uint64_t k = 0;
  auto uniform = [&] {  // in (0, 1)
    return (static_cast<double>(splitmix64_at(seed, k++) >> 11) + 0.5) * 0x1.0p-53;
  };
  auto normal = [&] { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * M_PI * uniform()); };
  std::function<double(double)> gamma = [&](double a) -> double {
    if (a < 1.0) return gamma(a + 1.0) * std::pow(uniform(), 1.0 / a);
    const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      const double x = normal(), v0 = 1.0 + c * x;
      if (v0 <= 0) continue;
      const double v = v0 * v0 * v0, u = uniform();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  };
  std::vector<std::vector<double>> out;
  for (size_t i = 0; i < n; ++i) {
    const double a = concentrations[i % concentrations.size()];
    std::vector<double> g(b);
    double sum = 0;
    for (double& x : g) sum += x = gamma(a);
    if (!(sum > 0)) {  // every variate underflowed (tiny concentrations): the uniform point
      std::fill(g.begin(), g.end(), 1.0 / static_cast<double>(b));
      sum = 1;
    }
    for (double& x : g) x /= sum;
    out.push_back(std::move(g));
  }
  return out;
}

namespace {

/// A `sample: {n, seed}` section at `key`: n ≥ 1 points (`what`) drawn with seed (default 0).
void load_sample(const std::string& path, const YAML::Node& node, const std::string& key, const std::string& what,
                 std::optional<size_t>& n_out, std::uint64_t& seed_out) {
  yaml::check_keys(path, node, key, {"n", "seed"});
  const std::string expected = "the number of " + what;
  const long n = yaml::required<long>(path, node, "n", expected.c_str());
  if (n < 1) throw ConfigError(yaml::at(path, node["n"], key + ".n") + ": expected >= 1, found " + std::to_string(n));
  n_out = static_cast<size_t>(n);
  if (node["seed"]) seed_out = yaml::scalar<std::uint64_t>(path, node["seed"], key + ".seed", "an integer >= 0");
}

/// The `encoder:` section (docs/sweep-reference.md, "Trained encoders").
EncoderSpec load_encoder_spec(const std::string& path, const YAML::Node& en, const Sweep& s) {
  std::set<std::string> allowed(kEncoderGridKeys.begin(), kEncoderGridKeys.end());
  allowed.insert({"features", "early_stopping", "sample", "device", "threads"});
  yaml::check_keys(path, en, "encoder", allowed);
  EncoderSpec e;
  const auto fsn = en["features"];
  if (!fsn || !fsn.IsSequence() || fsn.size() == 0)
    throw ConfigError(yaml::at(path, fsn ? fsn : en, "encoder.features") +
                      ": expected a non-empty list of feature sets, each a list of streams {model, layers}");
  for (size_t i = 0; i < fsn.size(); ++i) {
    const std::string key = "encoder.features[" + std::to_string(i) + "]";
    const YAML::Node set = fsn[i];
    if (!set.IsSequence() || set.size() == 0)
      throw ConfigError(yaml::at(path, set, key) + ": expected a non-empty list of streams {model, layers}");
    std::vector<FeatureBand> streams;
    for (size_t k = 0; k < set.size(); ++k) {
      const std::string sk = key + "[" + std::to_string(k) + "]";
      yaml::check_keys(path, set[k], sk, {"model", "layers"});
      FeatureBand b{yaml::required<std::string>(path, set[k], "model", "a model name"),
                    yaml::list<std::string>(path, set[k]["layers"], sk + ".layers", "layer names")};
      if (b.layers.empty()) throw ConfigError(yaml::at(path, set[k], sk + ".layers") + ": expected at least one layer");
      if (std::find(streams.begin(), streams.end(), b) != streams.end())
        throw ConfigError(yaml::at(path, set[k], sk) + ": the same stream is listed twice in this feature set");
      streams.push_back(std::move(b));
    }
    if (std::find(e.feature_sets.begin(), e.feature_sets.end(), streams) != e.feature_sets.end())
      throw ConfigError(yaml::at(path, set, key) + ": the same feature set is listed twice");
    e.feature_sets.push_back(std::move(streams));
  }
  const YAML::Node es = en["early_stopping"];
  if (es && es.IsMap()) {
    yaml::check_keys(path, es, "encoder.early_stopping", {"holdout"});
    e.holdout = yaml::required<double>(path, es, "holdout", "a fraction in (0, 0.5]");
    if (!(e.holdout > 0 && e.holdout <= 0.5))
      throw ConfigError(yaml::at(path, es["holdout"], "encoder.early_stopping.holdout") + ": expected a fraction in (0, "
                        "0.5] (the tail of every training episode held out for early stopping), found " +
                        fmt::format("{}", e.holdout));
  } else {
    e.early_stopping = yaml::required<std::string>(path, en, "early_stopping",
                                                   "the name of an eval set of this sweep, or {holdout: F}");
  }
  if (e.holdout == 0 &&
      std::none_of(s.eval.begin(), s.eval.end(), [&](const auto& ev) { return ev.first == e.early_stopping; }))
    throw ConfigError(yaml::at(path, en["early_stopping"], "encoder.early_stopping") + ": '" + e.early_stopping +
                      "' is not an eval set of this sweep (the encoder stops training when its mean r stops rising; "
                      "add it under eval:)");
  for (const auto& key : kEncoderGridKeys) {
    const YAML::Node n = en[key];
    if (!n) continue;
    const std::string kp = "encoder." + key;
    const bool is_bool = key == "causal" || key == "positive" || key == "tied" || key == "shared_head" ||
                         key == "subject_heads";
    const bool is_real = key == "lr" || key == "weight_decay";
    std::vector<double> v;
    if (is_bool) {
      for (bool b : yaml::list<bool>(path, n, kp, "true or false")) v.push_back(b ? 1.0 : 0.0);
    } else if (is_real) {
      v = yaml::list<double>(path, n, kp, "numbers");
      for (double x : v)
        if (!std::isfinite(x) || (key == "lr" ? !(x > 0) : x < 0))
          throw ConfigError(yaml::at(path, n, kp) + ": expected " + (key == "lr" ? "finite numbers > 0" : "finite numbers >= 0") +
                            ", found " + fmt::format("{}", x));
    } else {
      for (long x : yaml::list<long>(path, n, kp, "integers")) {
        const long lo = key == "kernel_size" || key == "patience" ? 0 : 1;
        if (x < lo || x > 1000000)
          throw ConfigError(fmt::format("{}: expected integers in [{}, 1000000], found {}", yaml::at(path, n, kp), lo, x));
        v.push_back(static_cast<double>(x));
      }
    }
    if (v.empty()) throw ConfigError(yaml::at(path, n, kp) + ": empty list (expected at least one value)");
    for (size_t i = 0; i < v.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (v[i] == v[j]) throw ConfigError(yaml::at(path, n, kp) + ": a value is listed twice");
    e.grid.emplace_back(key, std::move(v));
  }
  size_t points = 1;
  for (const auto& [k, v] : e.grid) {
    points *= v.size();
    if (points > 10000000)
      throw ConfigError(yaml::at(path, en, "encoder") + ": more than 10^7 hyperparameter points; use encoder.sample");
  }
  if (const auto sm = en["sample"]) load_sample(path, sm, "encoder.sample", "hyperparameter points to keep", e.sample_n, e.sample_seed);
  if (en["device"]) e.device = yaml::choice(path, en["device"], "encoder.device", {"cpu", "cuda"});
  if (en["threads"]) {
    const long t = yaml::scalar<long>(path, en["threads"], "encoder.threads", "an integer >= 0");
    if (t < 0 || t > 4096) throw ConfigError(yaml::at(path, en["threads"], "encoder.threads") + ": expected 0 … 4096");
    e.threads = static_cast<int>(t);
  }
  // Combinations the model refuses (every pair of grid values may meet): refused here, not mid-run.
  auto values = [&](const std::string& key, double dflt) {
    for (const auto& [k, v] : e.grid)
      if (k == key) return v;
    return std::vector<double>{dflt};
  };
  const auto causal = values("causal", 0), kernel = values("kernel_size", 45);
  if (std::count(causal.begin(), causal.end(), 1.0) > 0)
    for (double k : kernel)
      if (k > 1 && static_cast<long>(k) % 2 == 0)
        throw ConfigError(fmt::format("{}: causal: true with an even kernel_size ({}): MedARC's causal mask needs an odd "
                                      "one", yaml::at(path, en, "encoder"), k));
  const auto shared = values("shared_head", 1), subject = values("subject_heads", 1);
  if (std::count(shared.begin(), shared.end(), 0.0) > 0 && std::count(subject.begin(), subject.end(), 0.0) > 0)
    throw ConfigError(yaml::at(path, en, "encoder") + ": shared_head: false with subject_heads: false leaves no output head");
  return e;
}

}  // namespace

Sweep Sweep::load(const std::string& path) {
  const YAML::Node doc = yaml::load_file(path);
  yaml::check_keys(path, doc, "",
                   {"dataset", "dataset_root", "atlas", "subjects", "features", "grid", "ridge", "train", "eval",
                    "description", "test", "sample_counts", "episodes", "sample", "rsa", "encoder", "pls"});
  Sweep s;
  s.path = fs::absolute(path);
  // Relative paths are resolved against the working directory; make_plan checks that they exist.
  s.dataset = fs::absolute(yaml::required<std::string>(path, doc, "dataset", "a descriptor path"));
  if (doc["dataset_root"]) s.dataset_root = yaml::scalar<std::string>(path, doc["dataset_root"], "dataset_root", "a path");
  s.atlas = yaml::required<std::string>(path, doc, "atlas", "an atlas name");

  auto nonempty = [&](const YAML::Node& n, const std::string& key, const char* what) {
    if (!n) throw ConfigError(yaml::at(path, doc, key) + ": missing (expected " + what + ")");
    auto v = yaml::list<std::string>(path, n, key, what);
    if (v.empty()) throw ConfigError(yaml::at(path, n, key) + ": empty list (expected " + what + ")");
    // A repeated episode would sit in two CV folds at once (held-out rows also in the training
    // rows: inflated CV scores); a repeated subject or layer is a typo. All are refused.
    for (size_t i = 0; i < v.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (v[i] == v[j])
          throw ConfigError(yaml::at(path, n.IsSequence() ? n[i] : n, key) + ": '" + v[i] + "' is listed twice (items " +
                            std::to_string(j + 1) + " and " + std::to_string(i + 1) + "); list each once");
    return v;
  };
  // The `{model, layers}` entries of a banded set's `bands` or a partition's spaces (`list_key`, e.g.
  // `features[0].bands`), a layer in one entry only (`what` it belongs to: "band", "feature space").
  auto read_spaces = [&](const YAML::Node& list, const std::string& list_key, const std::string& what) {
    std::vector<FeatureBand> out;
    for (size_t k = 0; k < list.size(); ++k) {
      const std::string bk = list_key + "[" + std::to_string(k) + "]";
      yaml::check_keys(path, list[k], bk, {"model", "layers"});
      FeatureBand band{yaml::required<std::string>(path, list[k], "model", "a model name"),
                       nonempty(list[k]["layers"], bk + ".layers", "layer names")};
      for (size_t q = 0; q < out.size(); ++q)
        for (const auto& layer : band.layers)
          if (out[q].model == band.model && std::find(out[q].layers.begin(), out[q].layers.end(), layer) != out[q].layers.end())
            throw ConfigError(yaml::at(path, list[k], bk) + ": layer '" + band.model + "/" + layer + "' is also in " +
                              list_key + "[" + std::to_string(q) + "] (a layer belongs to one " + what + ")");
      out.push_back(std::move(band));
    }
    return out;
  };
  s.subjects = nonempty(doc["subjects"], "subjects", "subject names");
  s.train = nonempty(doc["train"], "train", "training episodes");

  // `features` may be absent (a sweep of the brain data only, for `ceiling`); make_plan refuses it
  // for anything that fits models.
  const auto feats = doc["features"];
  if (feats && (!feats.IsSequence() || feats.size() == 0))
    throw ConfigError(yaml::at(path, feats, "features") + ": expected a non-empty list of {model, layers}");
  for (size_t i = 0; feats && i < feats.size(); ++i) {
    const std::string key = "features[" + std::to_string(i) + "]";
    if (feats[i].IsMap() && feats[i]["partition"]) {  // variance partition: one feature set per subset
      yaml::check_keys(path, feats[i], key, {"partition"});
      const auto pn = feats[i]["partition"];
      if (!pn.IsSequence() || pn.size() < 2 || pn.size() > kMaxPartitionSpaces)
        throw ConfigError(fmt::format("{}: expected a list of 2 to {} feature spaces {{model, layers}} (2^K − 1 subset "
                                      "models are fitted), found {}", yaml::at(path, pn, key + ".partition"),
                                      kMaxPartitionSpaces, pn.IsSequence() ? std::to_string(pn.size()) + (pn.size() == 1 ? " entry" : " entries") : "no list"));
      const std::vector<FeatureBand> spaces = read_spaces(pn, key + ".partition", "feature space");
      std::vector<std::string> names;
      for (const auto& space : spaces) names.push_back(fmt::format("{}/{}", space.model, fmt::join(space.layers, "+")));
      // Every non-empty subset, smallest first, then in the order of the spaces (bit order).
      const size_t K = spaces.size();
      std::vector<unsigned> masks;
      for (unsigned m = 1; m < (1u << K); ++m) masks.push_back(m);
      std::stable_sort(masks.begin(), masks.end(), [](unsigned a, unsigned b) { return std::popcount(a) < std::popcount(b); });
      const std::string family = fmt::format("{}", fmt::join(names, "|"));
      for (unsigned m : masks) {
        FeatureSet f;
        f.model = "partition";
        f.partition = family;
        for (size_t k = 0; k < K; ++k)
          if (m & (1u << k)) {
            f.bands.push_back(spaces[k]);
            f.gamma.push_back(1.0);  // √1: the spaces' standardised columns side by side, as one ridge
            f.layers.push_back(names[k]);
          }
        s.features.push_back(std::move(f));
      }
      continue;
    }
    if (feats[i].IsMap() && feats[i]["bands"]) {  // banded: one feature set per scaling
      yaml::check_keys(path, feats[i], key, {"bands", "scalings"});
      const auto bn = feats[i]["bands"];
      if (!bn.IsSequence() || bn.size() < 2)
        throw ConfigError(yaml::at(path, bn, key + ".bands") + ": expected a list of at least 2 bands {model, layers}");
      const std::vector<FeatureBand> bands = read_spaces(bn, key + ".bands", "band");
      size_t n_samples = 20;
      std::vector<double> conc{0.1, 1.0};
      std::uint64_t seed = 0;
      if (const auto sc = feats[i]["scalings"]) {
        yaml::check_keys(path, sc, key + ".scalings", {"samples", "concentrations", "seed"});
        if (sc["samples"]) {
          const long v = yaml::scalar<long>(path, sc["samples"], key + ".scalings.samples", "a count >= 0");
          if (v < 0) throw ConfigError(yaml::at(path, sc["samples"], key + ".scalings.samples") + ": expected a count >= 0, found " + std::to_string(v));
          if (v > kMaxScalingSamples)  // each sample is a unit of the plan: 1e11 grew memory until the kernel killed generate
            throw ConfigError(fmt::format("{}: expected at most {} (each sample is one unit of the plan per grid point), "
                                          "found {}", yaml::at(path, sc["samples"], key + ".scalings.samples"),
                                          kMaxScalingSamples, v));
          n_samples = static_cast<size_t>(v);
        }
        if (sc["concentrations"]) {
          conc = yaml::list<double>(path, sc["concentrations"], key + ".scalings.concentrations", "numbers > 0");
          if (conc.empty() || std::any_of(conc.begin(), conc.end(), [](double c) { return !(c > 0) || std::isinf(c); }))
            throw ConfigError(yaml::at(path, sc["concentrations"], key + ".scalings.concentrations") +
                              ": expected finite numbers > 0 (Dirichlet concentrations)");
        }
        if (sc["seed"]) seed = yaml::scalar<std::uint64_t>(path, sc["seed"], key + ".scalings.seed", "a non-negative integer");
      }
      // The uniform point, the b one-hot corners, then the Dirichlet samples (himalaya's random search).
      const size_t b = bands.size();
      std::vector<std::vector<double>> gammas{std::vector<double>(b, 1.0 / static_cast<double>(b))};
      for (size_t k = 0; k < b; ++k) {
        std::vector<double> corner(b, 0.0);
        corner[k] = 1.0;
        gammas.push_back(corner);
      }
      // Small concentrations put samples on the corners (0.001: nearly all of them); a point drawn
      // twice is one feature set, kept once (it was refused as "a feature set listed twice").
      size_t repeated = 0;
      for (auto& g : dirichlet_samples(n_samples, b, conc, seed)) {
        if (std::find(gammas.begin(), gammas.end(), g) != gammas.end()) ++repeated;
        else gammas.push_back(std::move(g));
      }
      if (repeated > 0)
        spdlog::warn("{}: {} of the {} Dirichlet samples repeat a scaling already in the set (the corners, at "
                     "concentrations {}); each scaling is fitted once: {} in all", yaml::at(path, feats[i], key + ".scalings"),
                     repeated, n_samples, fmt::join(conc, ", "), gammas.size());
      for (const auto& g : gammas) {
        FeatureSet f;
        f.model = "banded";
        f.bands = bands;
        f.gamma = g;
        for (size_t k = 0; k < b; ++k) f.layers.push_back(band_label(bands[k], g[k]));
        s.features.push_back(std::move(f));
      }
      continue;
    }
    yaml::check_keys(path, feats[i], key, {"model", "layers"});
    FeatureSet f;
    f.model = yaml::required<std::string>(path, feats[i], "model", "a model name");
    f.layers = nonempty(feats[i]["layers"], key + ".layers", "layer names");
    for (size_t j = 0; j < s.features.size(); ++j)
      if (s.features[j].model == f.model && s.features[j].layers == f.layers)
        throw ConfigError(yaml::at(path, feats[i], key) + ": the same feature set as features[" + std::to_string(j) +
                          "] (" + f.model + "); list each once");
    s.features.push_back(std::move(f));
  }

  if (const auto pn = doc["pls"]) {  // a PLS encoder beside the ridge one of every plain feature set
    yaml::check_keys(path, pn, "pls", {"components", "scale"});
    PlsSpec spec;
    if (pn["components"]) {
      spec.components = yaml::list<long>(path, pn["components"], "pls.components", "counts >= 1");
      if (spec.components.empty())
        throw ConfigError(yaml::at(path, pn["components"], "pls.components") + ": empty list (expected counts >= 1)");
      for (long k : spec.components)
        if (k < 1)
          throw ConfigError(fmt::format("{}: expected counts >= 1, found {}", yaml::at(path, pn["components"], "pls.components"), k));
      std::sort(spec.components.begin(), spec.components.end());
      if (std::adjacent_find(spec.components.begin(), spec.components.end()) != spec.components.end())
        throw ConfigError(yaml::at(path, pn["components"], "pls.components") + ": a count listed twice");
    }
    if (pn["scale"]) spec.scale = yaml::scalar<bool>(path, pn["scale"], "pls.scale", "true or false");
    std::vector<FeatureSet> pls_sets;
    for (const auto& f : s.features)
      if (f.bands.empty() && f.partition.empty()) {
        FeatureSet g;
        g.model = "pls";
        g.layers = {fmt::format("{}/{}", f.model, fmt::join(f.layers, "+"))};
        g.bands = {{f.model, f.layers}};
        g.gamma = {1.0};
        g.estimator = "pls";
        pls_sets.push_back(std::move(g));
      }
    if (pls_sets.empty())
      throw ConfigError(yaml::at(path, pn, "pls") + ": no plain feature set {model, layers} in 'features' to fit PLS "
                        "encoders of (banded sets and partitions are ridge's)");
    s.features.insert(s.features.end(), pls_sets.begin(), pls_sets.end());
    s.pls = spec;
  }

  if (const auto grid = doc["grid"]) {
    yaml::check_keys(path, grid, "grid", {"hrf_delay", "stimulus_window", "include", "exclude"});
    auto ints = [&](const char* key, int min) {
      const auto n = grid[key];
      const std::string kp = std::string("grid.") + key;
      auto v = yaml::list<int>(path, n, kp, "integers");
      if (v.empty()) throw ConfigError(yaml::at(path, n, kp) + ": empty grid (expected at least one value)");
      for (int x : v)
        if (x < min)
          throw ConfigError(yaml::at(path, n, kp) + ": expected values >= " + std::to_string(min) + ", found " +
                            std::to_string(x));
      return v;
    };
    if (grid["hrf_delay"]) s.hrf_delay = ints("hrf_delay", 0);
    if (grid["stimulus_window"]) s.stimulus_window = ints("stimulus_window", 1);
    // include / exclude rules: lists of {model, layers, hrf_delay, stimulus_window}, each value one
    // that the sweep has (a typo must not silently match nothing).
    for (const char* which : {"include", "exclude"}) {
      const auto rules = grid[which];
      if (!rules) continue;
      const std::string kp = std::string("grid.") + which;
      if (!rules.IsSequence()) throw ConfigError(yaml::at(path, rules, kp) + ": expected a list of rules");
      for (size_t i = 0; i < rules.size(); ++i) {
        const auto r = rules[i];
        const std::string rp = kp + "[" + std::to_string(i) + "]";
        yaml::check_keys(path, r, rp, {"model", "layers", "hrf_delay", "stimulus_window"});
        GridRule g;
        auto bad = [&](const char* key, const std::string& found) {
          return ConfigError(yaml::at(path, r[key], rp + "." + key) + ": '" + found + "' is not in the sweep");
        };
        if (r["model"]) {
          g.model = yaml::scalar<std::string>(path, r["model"], rp + ".model", "a model name");
          if (std::none_of(s.features.begin(), s.features.end(), [&](const FeatureSet& f) { return f.model == *g.model; }))
            throw bad("model", *g.model);
        }
        if (r["layers"]) {
          g.layers = yaml::list<std::string>(path, r["layers"], rp + ".layers", "layer names");
          if (std::none_of(s.features.begin(), s.features.end(), [&](const FeatureSet& f) { return f.layers == *g.layers; }))
            throw bad("layers", fmt::format("[{}]", fmt::join(*g.layers, ", ")));
        }
        for (auto [key, dst, grid_values] : {std::tuple{"hrf_delay", &g.hrf_delay, &s.hrf_delay},
                                             std::tuple{"stimulus_window", &g.stimulus_window, &s.stimulus_window}}) {
          if (!r[key]) continue;
          *dst = yaml::scalar<int>(path, r[key], rp + "." + key, "an integer");
          if (std::find(grid_values->begin(), grid_values->end(), **dst) == grid_values->end())
            throw bad(key, std::to_string(**dst));
        }
        (std::string(which) == "include" ? s.include : s.exclude).push_back(std::move(g));
      }
    }
  }

  if (const auto sample = doc["sample"]) load_sample(path, sample, "sample", "grid points to keep", s.sample_n, s.sample_seed);

  s.alphas = default_alphas();
  if (const auto ridge = doc["ridge"]) {
    yaml::check_keys(path, ridge, "ridge", {"folds", "alphas", "backend", "precision", "prediction_dtype"});
    if (ridge["prediction_dtype"]) {
      s.prediction_dtype = yaml::choice(path, ridge["prediction_dtype"], "ridge.prediction_dtype", {"float32", "float16"});
    }
    if (ridge["folds"]) {
      s.folds = yaml::scalar<int>(path, ridge["folds"], "ridge.folds", "an integer");
      if (s.folds < 2)
        throw ConfigError(yaml::at(path, ridge["folds"], "ridge.folds") + ": expected >= 2, found " +
                          std::to_string(s.folds));
    }
    if (ridge["alphas"]) {
      s.alphas = yaml::list<double>(path, ridge["alphas"], "ridge.alphas", "positive numbers");
      if (s.alphas.empty()) throw ConfigError(yaml::at(path, ridge["alphas"], "ridge.alphas") + ": empty list");
      for (double a : s.alphas)
        if (!(a > 0) || !std::isfinite(a))
          throw ConfigError(yaml::at(path, ridge["alphas"], "ridge.alphas") + ": expected alphas > 0, found " +
                            std::to_string(a));
      std::sort(s.alphas.begin(), s.alphas.end());
      s.alphas.erase(std::unique(s.alphas.begin(), s.alphas.end()), s.alphas.end());
    }
    if (ridge["precision"]) {
      if (ridge["precision"].IsScalar() && ridge["precision"].as<std::string>() == "float32")
        throw ConfigError(yaml::at(path, ridge["precision"], "ridge.precision") + ": float32 " + kFloat32Refused);
      s.precision = yaml::choice(path, ridge["precision"], "ridge.precision", {"mixed", "float64"});
    }
    if (ridge["backend"]) {
      s.backend = yaml::choice(path, ridge["backend"], "ridge.backend", {"cpu", "cuda"});
    }
  }

  if (doc["episodes"]) {
    s.episodes = yaml::choice(path, doc["episodes"], "episodes", {"per_subject", "common"});
  }

  if (const auto ev = doc["eval"]) {
    if (!ev.IsMap()) throw ConfigError(yaml::at(path, ev, "eval") + ": expected a mapping {set name: [episodes]}");
    for (const auto& kv : ev) {
      const auto name = kv.first.as<std::string>();
      if (name == "cv")
        throw ConfigError(yaml::at(path, kv.first, "eval.cv") + ": 'cv' is reserved for the cross-validation score");
      s.eval.emplace_back(name, nonempty(kv.second, "eval." + name, "episodes"));
    }
  }
  if (const auto te = doc["test"]) {
    if (!te.IsMap())
      throw ConfigError(yaml::at(path, te, "test") + ": expected a mapping {test set: [episodes] or auto}");
    for (const auto& kv : te) {
      const auto name = kv.first.as<std::string>();
      const bool clash = name == "cv" || std::any_of(s.eval.begin(), s.eval.end(), [&](const auto& e) {
                           return e.first == name;
                         });
      if (clash)
        throw ConfigError(yaml::at(path, kv.first, "test." + name) + ": test set '" + name +
                          "' has the name of an eval set or of 'cv'");
      if (kv.second.IsScalar() && kv.second.as<std::string>() == "auto")
        s.test.emplace_back(name, std::vector<std::string>{});
      else
        s.test.emplace_back(name, nonempty(kv.second, "test." + name, "episodes or auto"));
    }
  }
  if (doc["sample_counts"])
    s.sample_counts = fs::absolute(yaml::scalar<std::string>(path, doc["sample_counts"], "sample_counts", "a path"));
  if (const auto rn = doc["rsa"]) {
    yaml::check_keys(path, rn, "rsa", {"events", "set", "distance", "comparisons", "rois", "bootstrap", "permutations",
                                       "seed", "ceiling"});
    RsaSpec r;
    r.events = yaml::required<std::string>(path, rn, "events", "an events file template with {episode}");
    if (r.events.find("{episode}") == std::string::npos)
      throw ConfigError(yaml::at(path, rn["events"], "rsa.events") + ": expected a path template holding {episode} (and optionally {subject}), found '" +
                        r.events + "'");
    r.events = fs::absolute(r.events);
    r.sets = nonempty(rn["set"], "rsa.set", "sets of this sweep (train or eval sets)");
    for (const auto& name : r.sets)
      if (name != "train" && std::none_of(s.eval.begin(), s.eval.end(), [&](const auto& e) { return e.first == name; }))
        throw ConfigError(yaml::at(path, rn["set"], "rsa.set") + ": '" + name + "' is not a set of this sweep (train or a key of eval)");
    if (rn["distance"]) {
      r.distance = yaml::choice(path, rn["distance"], "rsa.distance", {"correlation", "euclidean", "standardized-euclidean", "crossnobis"});
    }
    if (rn["comparisons"]) {
      r.comparisons = nonempty(rn["comparisons"], "rsa.comparisons", "corr, spearman, tau-a, cosine, cka or cka-debiased");
      for (const auto& c : r.comparisons)
        yaml::check_choice(path, rn["comparisons"], "rsa.comparisons", c, {"corr", "spearman", "tau-a", "cosine", "cka", "cka-debiased"});
    }
    if (const auto ro = rn["rois"]) {
      if (!ro.IsMap() || ro.size() == 0)
        throw ConfigError(yaml::at(path, ro, "rsa.rois") + ": expected a mapping {ROI name: regular expression over parcel names}");
      for (const auto& kv : ro) {
        const auto name = kv.first.as<std::string>();
        if (name.empty() || name.find_first_of("/,\"") != std::string::npos)
          throw ConfigError(yaml::at(path, kv.first, "rsa.rois." + name) + ": an ROI name must be non-empty without '/', ',' or '\"'");
        const auto re = yaml::scalar<std::string>(path, kv.second, "rsa.rois." + name, "a regular expression");
        try {
          (void)std::regex(re);
        } catch (const std::regex_error& e) {
          throw ConfigError(yaml::at(path, kv.second, "rsa.rois." + name) + ": not a regular expression (" + e.what() + ")");
        }
        r.rois.emplace_back(name, re);
      }
    }
    for (const char* key : {"bootstrap", "permutations"})
      if (rn[key]) {
        const long v = yaml::scalar<long>(path, rn[key], std::string("rsa.") + key, "a count ≥ 0");
        if (v < 0) throw ConfigError(yaml::at(path, rn[key], std::string("rsa.") + key) + ": expected a count ≥ 0, found " + std::to_string(v));
        (std::string(key) == "bootstrap" ? r.bootstrap : r.permutations) = v;
      }
    if (rn["seed"]) r.seed = yaml::scalar<std::uint64_t>(path, rn["seed"], "rsa.seed", "a non-negative integer");
    if (rn["ceiling"]) r.ceiling = yaml::scalar<bool>(path, rn["ceiling"], "rsa.ceiling", "true or false");
    s.rsa = r;
  }
  if (const auto en = doc["encoder"]) s.encoder = load_encoder_spec(path, en, s);
  return s;
}

std::vector<EncoderConfig> EncoderSpec::configs() const {
  // The grid's points, last key fastest.
  std::vector<std::vector<double>> values;
  for (const auto& key : kEncoderGridKeys) {
    const auto it = std::find_if(grid.begin(), grid.end(), [&](const auto& kv) { return kv.first == key; });
    values.push_back(it == grid.end() ? std::vector<double>{} : it->second);
  }
  size_t n_points = 1;
  for (const auto& v : values) n_points *= std::max<size_t>(1, v.size());
  std::vector<size_t> points(n_points);
  std::iota(points.begin(), points.end(), size_t{0});
  if (sample_n && *sample_n < n_points) {  // a partial Fisher–Yates shuffle: the first n of a random order
    for (size_t i = 0; i < *sample_n; ++i)
      std::swap(points[i], points[i + index_from_draw(splitmix64_at(sample_seed, i), n_points - i)]);
    points.resize(*sample_n);
  }
  std::vector<EncoderConfig> out;
  for (const auto& streams : feature_sets)
    for (size_t point : points) {
      EncoderConfig c;
      c.streams = streams;
      size_t rest = point;
      for (size_t k = kEncoderGridKeys.size(); k-- > 0;) {
        if (values[k].empty()) continue;
        const double v = values[k][rest % values[k].size()];
        rest /= values[k].size();
        const std::string& key = kEncoderGridKeys[k];
        if (key == "lr") c.lr = v;
        else if (key == "weight_decay") c.weight_decay = v;
        else if (key == "kernel_size") c.kernel_size = static_cast<int>(v);
        else if (key == "embed_dim") c.embed_dim = static_cast<int>(v);
        else if (key == "num_samples") c.num_samples = static_cast<int>(v);
        else if (key == "sample_length") c.sample_length = static_cast<int>(v);
        else if (key == "batch_size") c.batch_size = static_cast<int>(v);
        else if (key == "epochs") c.epochs = static_cast<int>(v);
        else if (key == "patience") c.patience = static_cast<int>(v);
        else if (key == "causal") c.causal = v != 0;
        else if (key == "positive") c.positive = v != 0;
        else if (key == "tied") c.tied = v != 0;
        else if (key == "shared_head") c.shared_head = v != 0;
        else if (key == "subject_heads") c.subject_heads = v != 0;
      }
      out.push_back(std::move(c));
    }
  return out;
}

}  // namespace brainsweep
