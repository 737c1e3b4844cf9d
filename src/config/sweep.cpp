#include <cmath>

#include <fmt/format.h>

#include "brainsweep/config.hpp"
#include "brainsweep/fs.hpp"
#include "yaml_util.hpp"

namespace brainsweep {

std::vector<double> default_alphas() {
  std::vector<double> a;
  for (int i = 0; i < 17; ++i) a.push_back(std::pow(10.0, -1.0 + 0.5 * i));
  return a;
}

Sweep Sweep::load(const std::string& path) {
  const YAML::Node doc = yaml::load_file(path);
  yaml::check_keys(path, doc, "",
                   {"dataset", "dataset_root", "atlas", "subjects", "features", "grid", "ridge", "train", "eval",
                    "episodes", "description"});
  Sweep s;
  s.path = fs::absolute(path);
  s.dataset = fs::absolute(yaml::required<std::string>(path, doc, "dataset", "a descriptor path"));
  if (doc["dataset_root"]) s.dataset_root = yaml::scalar<std::string>(path, doc["dataset_root"], "dataset_root", "a path");
  s.atlas = yaml::required<std::string>(path, doc, "atlas", "an atlas name");

  auto nonempty = [&](const YAML::Node& n, const std::string& key, const char* what) {
    if (!n) throw ConfigError(yaml::at(path, doc, key) + ": missing (expected " + what + ")");
    auto v = yaml::list<std::string>(path, n, key, what);
    if (v.empty()) throw ConfigError(yaml::at(path, n, key) + ": empty list (expected " + what + ")");
    return v;
  };
  s.subjects = nonempty(doc["subjects"], "subjects", "subject names");
  s.train = nonempty(doc["train"], "train", "training episodes");

  const auto feats = doc["features"];
  if (!feats || !feats.IsSequence() || feats.size() == 0)
    throw ConfigError(yaml::at(path, feats ? feats : doc, "features") + ": expected a non-empty list of {model, layers}");
  for (size_t i = 0; i < feats.size(); ++i) {
    const std::string key = "features[" + std::to_string(i) + "]";
    yaml::check_keys(path, feats[i], key, {"model", "layers"});
    FeatureSet f;
    f.model = yaml::required<std::string>(path, feats[i], "model", "a model name");
    f.layers = nonempty(feats[i]["layers"], key + ".layers", "layer names");
    s.features.push_back(std::move(f));
  }

  if (const auto grid = doc["grid"]) {
    yaml::check_keys(path, grid, "grid", {"hrf_delay", "stimulus_window"});
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
  }

  s.alphas = default_alphas();
  if (const auto ridge = doc["ridge"]) {
    yaml::check_keys(path, ridge, "ridge", {"folds", "alphas", "backend"});
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
    if (ridge["backend"]) {
      s.backend = yaml::scalar<std::string>(path, ridge["backend"], "ridge.backend", "cpu or cuda");
      if (s.backend != "cpu" && s.backend != "cuda")
        throw ConfigError(yaml::at(path, ridge["backend"], "ridge.backend") + ": expected cpu or cuda, found '" +
                          s.backend + "'");
    }
  }

  if (doc["episodes"]) {
    s.episodes = yaml::scalar<std::string>(path, doc["episodes"], "episodes", "per_subject or common");
    if (s.episodes != "per_subject" && s.episodes != "common")
      throw ConfigError(yaml::at(path, doc["episodes"], "episodes") + ": expected per_subject or common, found '" +
                        s.episodes + "'");
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
  return s;
}

}  // namespace brainsweep
