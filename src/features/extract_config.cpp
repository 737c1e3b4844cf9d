// EXTRACT.yaml (extract.hpp): read in one place, typed, unknown keys are errors with file and line.
#include <glob.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "../config/yaml_util.hpp"
#include "brainsweep/extract.hpp"
#include "brainsweep/fs.hpp"

namespace brainsweep {

ExtractConfig ExtractConfig::load(const std::string& path) {
  using namespace yaml;
  const YAML::Node doc = load_file(path);
  ExtractConfig c;
  c.path = fs::absolute(path);
  check_keys(path, doc, "", {"name", "model", "layers", "pool", "dtype", "tr", "video", "audio", "text", "image", "stimuli", "out"});
  c.name = required<std::string>(path, doc, "name", "a feature model name");
  if (c.name.empty() || c.name.find('/') != std::string::npos)
    throw ConfigError(at(path, doc["name"], "name") + ": expected a name without '/', found '" + c.name + "'");

  if (!doc["model"]) throw ConfigError(at(path, doc, "model") + ": missing (expected {path: MODEL.pt, ...})");
  const auto m = doc["model"];
  check_keys(path, m, "model", {"path", "device", "threads", "batch_size"});
  c.model = fs::absolute(required<std::string>(path, m, "path", "a TorchScript file"));
  if (m["device"]) c.device = choice(path, m["device"], "model.device", {"cpu", "cuda"});
  if (m["threads"]) c.threads = scalar<int>(path, m["threads"], "model.threads", "an integer >= 0");
  if (m["batch_size"]) c.batch_size = scalar<int>(path, m["batch_size"], "model.batch_size", "an integer >= 1");
  if (c.threads < 0 || c.batch_size < 1)
    throw ConfigError(at(path, m, "model") + ": threads must be >= 0 and batch_size >= 1");

  if (!doc["layers"]) throw ConfigError(at(path, doc, "layers") + ": missing (expected a list of layer names)");
  c.layers = list<std::string>(path, doc["layers"], "layers", "layer names");
  if (c.layers.empty()) throw ConfigError(at(path, doc["layers"], "layers") + ": expected at least one layer");
  for (const auto& l : c.layers)
    if (l.empty() || l.find('/') != std::string::npos)
      throw ConfigError(at(path, doc["layers"], "layers") + ": layer '" + l + "' is empty or holds '/'");

  if (const auto p = doc["pool"]) {
    check_keys(path, p, "pool", {"mode", "channel_dim"});
    if (p["mode"]) c.pool.mode = choice(path, p["mode"], "pool.mode", {"mean", "cls", "last", "flatten"});
    if (p["channel_dim"]) c.pool.channel_dim = scalar<int>(path, p["channel_dim"], "pool.channel_dim", "an integer");
  }
  if (doc["dtype"]) c.float16 = choice(path, doc["dtype"], "dtype", {"float16", "float32"}) == "float16";
  if (doc["tr"]) c.tr = scalar<double>(path, doc["tr"], "tr", "seconds > 0");
  if (!(c.tr > 0)) throw ConfigError(at(path, doc["tr"], "tr") + ": expected seconds > 0");

  const int n_modalities = (doc["video"] ? 1 : 0) + (doc["audio"] ? 1 : 0) + (doc["text"] ? 1 : 0) + (doc["image"] ? 1 : 0);
  if (n_modalities != 1)
    throw ConfigError(at(path, doc, "video") + ": expected exactly one of the keys video, audio, text, image; found " +
                      std::to_string(n_modalities));
  // size, mean and std of video: and image: (the same preprocessing)
  auto pixels = [&](const YAML::Node& v, const std::string& section) {
    if (v["size"]) {
      const auto s = list<long>(path, v["size"], section + ".size", "[height, width] in pixels");
      if (s.size() != 2 || s[0] < 1 || s[1] < 1)
        throw ConfigError(at(path, v["size"], section + ".size") + ": expected [height, width], two integers >= 1");
      c.height = s[0];
      c.width = s[1];
    }
    for (const char* k : {"mean", "std"}) {
      if (!v[k]) continue;
      auto vals = list<double>(path, v[k], section + "." + k, "three numbers (R, G, B)");
      if (vals.size() != 3)
        throw ConfigError(at(path, v[k], section + "." + k) + ": expected three numbers (R, G, B), found " +
                          std::to_string(vals.size()));
      if (std::string(k) == "std" && std::any_of(vals.begin(), vals.end(), [](double x) { return !(x > 0); }))
        throw ConfigError(at(path, v[k], section + ".std") + ": expected numbers > 0");
      (std::string(k) == "mean" ? c.mean : c.std) = vals;
    }
  };
  if (const auto v = doc["video"]) {
    c.modality = "video";
    check_keys(path, v, "video", {"frames_per_chunk", "fps", "size", "mean", "std", "layout"});
    if (v["frames_per_chunk"] && v["fps"])
      throw ConfigError(at(path, v["fps"], "video.fps") + ": give frames_per_chunk or fps, not both");
    if (v["frames_per_chunk"])
      c.frames_per_chunk = scalar<int>(path, v["frames_per_chunk"], "video.frames_per_chunk", "an integer >= 1");
    if (v["fps"]) {  // a sampling rate: round(fps · tr) frames per chunk, evenly spaced
      const double fps = scalar<double>(path, v["fps"], "video.fps", "frames per second > 0");
      if (!(fps > 0)) throw ConfigError(at(path, v["fps"], "video.fps") + ": expected frames per second > 0");
      c.frames_per_chunk = std::max(1, static_cast<int>(std::lround(fps * c.tr)));
    }
    if (c.frames_per_chunk < 1) throw ConfigError(at(path, v, "video.frames_per_chunk") + ": expected >= 1");
    pixels(v, "video");
    if (v["layout"]) c.layout = choice(path, v["layout"], "video.layout", {"BTCHW", "BCTHW", "frames"});
  } else if (const auto im = doc["image"]) {
    c.modality = "image";
    if (!im.IsMap()) throw ConfigError(at(path, im, "image") + ": expected a mapping {size, mean, std} (may be {})");
    check_keys(path, im, "image", {"size", "mean", "std"});
    pixels(im, "image");
  } else if (const auto a = doc["audio"]) {
    c.modality = "audio";
    check_keys(path, a, "audio", {"sample_rate", "context"});
    if (a["sample_rate"]) c.sample_rate = scalar<int>(path, a["sample_rate"], "audio.sample_rate", "Hz > 0");
    if (a["context"]) c.context_s = scalar<double>(path, a["context"], "audio.context", "seconds >= 0");
    if (c.sample_rate <= 0 || c.context_s < 0)
      throw ConfigError(at(path, a, "audio") + ": expected sample_rate > 0 and context >= 0");
  } else {
    const auto t = doc["text"];
    c.modality = "text";
    check_keys(path, t, "text", {"tokenizer", "context_words", "max_tokens", "add_bos"});
    c.tokenizer = fs::absolute(required<std::string>(path, t, "tokenizer", "a SentencePiece model file"));
    if (t["context_words"]) c.context_words = scalar<int>(path, t["context_words"], "text.context_words", "an integer >= 0");
    if (t["max_tokens"]) c.max_tokens = scalar<int>(path, t["max_tokens"], "text.max_tokens", "an integer >= 1");
    if (t["add_bos"]) c.add_bos = scalar<bool>(path, t["add_bos"], "text.add_bos", "true or false");
    if (c.context_words < 0 || c.max_tokens < 1)
      throw ConfigError(at(path, t, "text") + ": expected context_words >= 0 and max_tokens >= 1");
  }

  if (!doc["stimuli"] || !doc["stimuli"].IsSequence() || doc["stimuli"].size() == 0)
    throw ConfigError(at(path, doc, "stimuli") + ": expected a list of {stimset, group, files}");
  for (size_t i = 0; i < doc["stimuli"].size(); ++i) {
    const auto s = doc["stimuli"][i];
    const std::string key = "stimuli[" + std::to_string(i) + "]";
    check_keys(path, s, key, {"stimset", "group", "files", "dataset"});
    StimulusGroup g;
    if (s["dataset"]) {
      if (c.modality != "image")
        throw ConfigError(at(path, s["dataset"], key + ".dataset") + ": only for the image modality (an HDF5 array of images)");
      g.dataset = scalar<std::string>(path, s["dataset"], key + ".dataset", "an HDF5 dataset of N × H × W × 3 uint8 images");
    }
    g.stimset = required<std::string>(path, s, "stimset", "a stimulus set name (friends, movie10, ood, ...)");
    g.group = required<std::string>(path, s, "group", "a group name (s1, bourne, ...)");
    g.files = fs::absolute(required<std::string>(path, s, "files", "a glob pattern of stimulus files"));
    for (const auto* part : {&g.stimset, &g.group})
      if (part->empty() || part->find('/') != std::string::npos)
        throw ConfigError(at(path, s, key) + ": stimset and group must be non-empty names without '/'");
    c.stimuli.push_back(g);
  }
  c.out = fs::absolute(required<std::string>(path, doc, "out", "the feature root directory"));
  return c;
}

std::string StimulusEpisode::output(const ExtractConfig& c) const {
  return (std::filesystem::path(c.out) / c.name / stimset / group / (stimset + "_" + episode + ".h5")).string();
}

std::vector<StimulusEpisode> list_episodes(const ExtractConfig& c) {
  std::vector<StimulusEpisode> eps;
  std::map<std::string, std::string> seen;  // output path → file
  for (const auto& g : c.stimuli) {
    glob_t gl{};
    const int rc = glob(g.files.c_str(), 0, nullptr, &gl);
    std::vector<std::string> files(gl.gl_pathv, gl.gl_pathv + (rc == 0 ? gl.gl_pathc : 0));
    globfree(&gl);
    if (files.empty())
      throw DataError(c.path + ": stimuli pattern '" + g.files + "' (" + g.stimset + "/" + g.group + ") matches no file");
    if (c.modality == "image") {  // the group is one episode: its images
      StimulusEpisode e{g.stimset, g.group, g.group, g.dataset.empty() ? g.files : files.front(), g.dataset, {}};
      if (!g.dataset.empty() && files.size() != 1)
        throw DataError(c.path + ": stimuli pattern '" + g.files + "' (" + g.stimset + "/" + g.group + ") matches " +
                        std::to_string(files.size()) + " files; with 'dataset' it must name one HDF5 file");
      if (g.dataset.empty()) {
        e.images = files;
        std::sort(e.images.begin(), e.images.end());
      }
      const auto out = e.output(c);
      if (seen.count(out))
        throw DataError(c.path + ": two stimulus groups are both " + g.stimset + "/" + g.group + " (one episode each)");
      seen[out] = g.files;
      eps.push_back(e);
      continue;
    }
    for (const auto& f : files) {
      StimulusEpisode e{g.stimset, g.group, std::filesystem::path(f).stem().string(), f, {}, {}};
      const std::string prefix = g.stimset + "_";
      if (e.episode.rfind(prefix, 0) == 0 && e.episode.size() > prefix.size()) e.episode = e.episode.substr(prefix.size());
      const auto out = e.output(c);
      if (seen.count(out))
        throw DataError(c.path + ": files '" + seen[out] + "' and '" + f + "' are both episode '" + e.episode + "' of " +
                        g.stimset + "/" + g.group);
      seen[out] = f;
      eps.push_back(e);
    }
  }
  std::sort(eps.begin(), eps.end(), [](const auto& a, const auto& b) {
    return std::tie(a.stimset, a.group, a.episode) < std::tie(b.stimset, b.group, b.episode);
  });
  return eps;
}

long chunk_count(double duration_s, double tr) {
  // A duration within a microsecond of a whole number of TRs does not open one more chunk.
  return std::max(1L, static_cast<long>(std::ceil(duration_s / tr - 1e-6)));
}

}  // namespace brainsweep
