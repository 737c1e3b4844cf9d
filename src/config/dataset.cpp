#include <filesystem>

#include "brainsweep/config.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/path_template.hpp"
#include "yaml_util.hpp"

namespace brainsweep {
namespace {

std::regex compile(const std::string& file, const YAML::Node& node, const std::string& key, const std::string& re) {
  try {
    return std::regex(re);
  } catch (const std::regex_error& e) {
    throw ConfigError(yaml::at(file, node, key) + ": invalid regular expression '" + re + "': " + e.what());
  }
}

/// Replace `{name}` by values[name] and `{1}`.. by regex captures.
std::string expand(const std::string& tpl, std::vector<std::pair<std::string, std::string>> values,
                   const std::smatch* m = nullptr) {
  if (m)
    for (size_t i = 1; i < m->size(); ++i) values.emplace_back(std::to_string(i), (*m)[i].str());
  return fill_template(tpl, values);
}

}  // namespace

DatasetDescriptor DatasetDescriptor::load(const std::string& path, const std::optional<std::string>& root_override) {
  const YAML::Node doc = yaml::load_file(path);
  yaml::check_keys(path, doc, "",
                   {"name", "root", "tr", "exclude_start", "exclude_end", "max_missing_feature_rows", "max_extra_feature_rows", "fmri",
                    "features", "stimuli", "atlases", "description", "sample_counts"});
  DatasetDescriptor d;
  d.descriptor_path = fs::absolute(path);
  d.name = yaml::required<std::string>(path, doc, "name", "a string");
  d.root = fs::absolute(root_override ? *root_override : yaml::required<std::string>(path, doc, "root", "a path"));
  d.tr = yaml::required<double>(path, doc, "tr", "seconds per TR");
  if (d.tr <= 0) throw ConfigError(yaml::at(path, doc["tr"], "tr") + ": expected > 0");
  if (doc["exclude_start"]) d.exclude_start = yaml::scalar<int>(path, doc["exclude_start"], "exclude_start", "an integer");
  if (doc["exclude_end"]) d.exclude_end = yaml::scalar<int>(path, doc["exclude_end"], "exclude_end", "an integer");
  if (d.exclude_start < 0 || d.exclude_end < 0)
    throw ConfigError(yaml::at(path, doc, "exclude_start/exclude_end") + ": expected >= 0");
  if (doc["max_missing_feature_rows"])
    d.max_missing_feature_rows =
        yaml::scalar<int>(path, doc["max_missing_feature_rows"], "max_missing_feature_rows", "an integer");
  if (doc["max_extra_feature_rows"])
    d.max_extra_feature_rows =
        yaml::scalar<int>(path, doc["max_extra_feature_rows"], "max_extra_feature_rows", "an integer");
  if (d.max_missing_feature_rows < 0 || d.max_extra_feature_rows < 0)
    throw ConfigError(yaml::at(path, doc, "max_missing_feature_rows/max_extra_feature_rows") + ": expected >= 0");

  if (!doc["fmri"] || !doc["fmri"].IsSequence() || doc["fmri"].size() == 0)
    throw ConfigError(yaml::at(path, doc, "fmri") + ": expected a list of {file, episodes}");
  for (size_t i = 0; i < doc["fmri"].size(); ++i) {
    const auto n = doc["fmri"][i];
    const std::string key = "fmri[" + std::to_string(i) + "]";
    yaml::check_keys(path, n, key, {"file", "episodes", "dataset"});
    FmriRule r;
    r.file = yaml::required<std::string>(path, n, "file", "a path template");
    r.episodes = yaml::required<std::string>(path, n, "episodes", "a regex");
    r.episodes_re = compile(path, n, key + ".episodes", r.episodes);
    if (n["dataset"]) {
      r.dataset = yaml::scalar<std::string>(path, n["dataset"], key + ".dataset", "an HDF5 key template with {episode}");
      if (r.dataset.find("{episode}") == std::string::npos)
        throw ConfigError(yaml::at(path, n["dataset"], key + ".dataset") + ": expected a template holding {episode}, found '" +
                          r.dataset + "'");
    }
    d.fmri.push_back(std::move(r));
  }
  if (doc["sample_counts"]) {
    const auto sc = yaml::scalar<std::string>(path, doc["sample_counts"], "sample_counts", "a path template");
    d.sample_counts = std::filesystem::path(sc).is_absolute() ? sc : (std::filesystem::path(d.root) / sc).string();
  }
  d.feature_file = yaml::required<std::string>(path, doc, "features", "a path template");
  if (!doc["stimuli"] || !doc["stimuli"].IsSequence() || doc["stimuli"].size() == 0)
    throw ConfigError(yaml::at(path, doc, "stimuli") + ": expected a list of {episodes, stimset, group, movie}");
  for (size_t i = 0; i < doc["stimuli"].size(); ++i) {
    const auto n = doc["stimuli"][i];
    const std::string key = "stimuli[" + std::to_string(i) + "]";
    yaml::check_keys(path, n, key, {"episodes", "stimset", "group", "movie", "feature_episode"});
    StimulusRule r;
    r.episodes = yaml::required<std::string>(path, n, "episodes", "a regex");
    r.episodes_re = compile(path, n, key + ".episodes", r.episodes);
    r.stimset = yaml::required<std::string>(path, n, "stimset", "a string");
    r.group = yaml::required<std::string>(path, n, "group", "a string");
    r.movie = yaml::required<std::string>(path, n, "movie", "a string");
    r.feature_episode = n["feature_episode"] ? yaml::scalar<std::string>(path, n["feature_episode"], key, "a string")
                                             : std::string("{0}");
    d.stimuli.push_back(std::move(r));
  }
  return d;
}

std::string DatasetDescriptor::fmri_file(const std::string& subject, const std::string& atlas,
                                         const std::string& episode) const {
  return (std::filesystem::path(root) / expand(fmri_rule(episode).file, {{"subject", subject}, {"atlas", atlas}})).string();
}

std::string DatasetDescriptor::fmri_key(const std::string& episode) const { return fmri_rule(episode).dataset; }

const FmriRule& DatasetDescriptor::fmri_rule(const std::string& episode) const {
  for (const auto& r : fmri)
    if (std::regex_match(episode, r.episodes_re)) return r;
  throw DataError(descriptor_path + ": episode '" + episode + "' matches no `fmri` rule's `episodes` pattern");
}

const StimulusRule& DatasetDescriptor::stimulus_rule(const std::string& episode, std::smatch& m) const {
  for (const auto& r : stimuli)
    if (std::regex_match(episode, m, r.episodes_re)) return r;
  throw DataError(descriptor_path + ": episode '" + episode + "' matches no `stimuli` rule's `episodes` pattern");
}

std::string DatasetDescriptor::feature_file_of(const std::string& model, const std::string& episode) const {
  std::smatch m;
  const auto& r = stimulus_rule(episode, m);
  const std::string fe = expand(r.feature_episode, {{"0", episode}}, &m);
  const std::string rel = expand(feature_file, {{"model", model},
                                                {"stimset", expand(r.stimset, {}, &m)},
                                                {"group", expand(r.group, {}, &m)},
                                                {"episode", fe}});
  return (std::filesystem::path(root) / rel).string();
}

std::string DatasetDescriptor::movie_of(const std::string& episode) const {
  std::smatch m;
  const auto& r = stimulus_rule(episode, m);
  return expand(r.movie, {}, &m);
}

}  // namespace brainsweep
