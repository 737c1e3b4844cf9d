#pragma once
/// Feature extraction (`brainsweep extract`, ARCHITECTURE.md): TorchScript models over decoded
/// stimuli, written in the MedARC feature layout (DATA.md) that sweeps read.
#include <mpi.h>

#include <ostream>
#include <string>
#include <vector>

#include "brainsweep/torch_model.hpp"

namespace brainsweep {

/// One group of stimulus files: episodes of `stimset`/`group`, found by a glob pattern. The episode
/// name is the file name without its extension and without a leading `<stimset>_`.
/// With the `image` modality a group is one episode named after the group, one feature row per
/// image: the images of `dataset` (an HDF5 array N × H × W × 3 of uint8 RGB in the one file `files`
/// matches), or every image file `files` matches (PNG, JPEG, …), in file-name order.
struct StimulusGroup {
  std::string stimset, group;
  std::string files;  ///< glob pattern on file names (`stimuli/movies/friends/s1/*.mkv`); absolute
  std::string dataset;  ///< image modality: the HDF5 dataset of the images (empty: image files)
};

/// An extraction, read from EXTRACT.yaml (README "Feature extraction" gives every key).
struct ExtractConfig {
  std::string path;                  ///< the YAML file, absolute
  std::string name;                  ///< features/<name>/...: the model name sweeps use
  std::string model;                 ///< TorchScript file, absolute
  std::string device = "cpu";        ///< cpu | cuda
  int threads = 0;                   ///< libtorch intra-op threads (0: default)
  int batch_size = 8;                ///< chunks per forward call (video, audio)
  std::vector<std::string> layers;   ///< submodule paths or output dict keys
  Pooling pool;
  bool float16 = true;               ///< dtype of the written datasets (float16 | float32)
  double tr = 1.49;                  ///< chunk length, seconds
  std::string modality;              ///< video | audio | text | image
  // video
  int frames_per_chunk = 8;          ///< frames sampled per chunk, at its (j + ½)/frames_per_chunk points
                                     ///< (YAML: frames_per_chunk, or fps → round(fps · tr))
  long height = 224, width = 224;    ///< model input size, pixels (video and image)
  std::vector<double> mean{0.485, 0.456, 0.406}, std{0.229, 0.224, 0.225};  ///< per RGB channel, on [0, 1]
  std::string layout = "BTCHW";      ///< BTCHW | BCTHW (clip models) | frames (image models, pooled over frames)
  // audio
  int sample_rate = 16000;           ///< Hz
  double context_s = 0;              ///< audio before each chunk, seconds (zeros before the start)
  // text
  std::string tokenizer;             ///< SentencePiece model, absolute
  int context_words = 0;             ///< preceding words prepended to each chunk
  int max_tokens = 512;              ///< tokens kept (the last ones)
  bool add_bos = true;
  std::vector<StimulusGroup> stimuli;
  std::string out;                   ///< feature root (features/), absolute

  /// @throw ConfigError  naming the file, key and line for unknown keys, missing keys, bad values
  static ExtractConfig load(const std::string& path);
};

/// One episode to extract.
struct StimulusEpisode {
  std::string stimset, group, episode, file;
  std::string dataset;              ///< image modality: the HDF5 dataset of the images in `file`
  std::vector<std::string> images;  ///< image modality without `dataset`: the image files, sorted
  /// out/<name>/<stimset>/<group>/<stimset>_<episode>.h5
  std::string output(const ExtractConfig& c) const;
};

/// Episodes of every stimulus group, sorted by (stimset, group, episode).
/// @throw DataError  if a pattern matches no file, or two files give the same episode
std::vector<StimulusEpisode> list_episodes(const ExtractConfig& c);

/// Number of TR chunks of a stimulus of `duration_s`: ⌈duration / tr⌉ (the last chunk may be
/// partial), at least 1.
long chunk_count(double duration_s, double tr);

struct ExtractOptions {
  std::string dump_inputs;  ///< if set, per episode: DIR/<stimset>_<episode>.h5 with the model inputs
  bool overwrite = false;   ///< re-extract episodes whose file exists (default: skip them, resume)
};

/// Print the episodes of `c` already extracted and those pending (their files); does not load the
/// model. @return 0 if every episode's file exists, 3 if some are pending (as `brainsweep status`)
/// @throw DataError  as list_episodes
int extract_status(const ExtractConfig& c, std::ostream& out);

/// Extract every episode of `c` over the ranks of `comm` (dynamic: each rank takes the next
/// episode). Each episode's file is written to a temporary name and renamed when complete, so a
/// killed run leaves no partial file and a rerun skips finished episodes.
/// Collective over `comm`. @return 0 on success, non-zero if an episode failed (errors are logged
/// as `[rank r/N] ...`; other episodes go on).
int run_extract(const ExtractConfig& c, const ExtractOptions& opt, MPI_Comm comm);

}  // namespace brainsweep
