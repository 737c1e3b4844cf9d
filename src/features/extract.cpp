// brainsweep extract (extract.hpp): episodes over ranks, decode, chunk, run the model, pool, write.
#include "brainsweep/extract.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/media.hpp"
#include "brainsweep/scheduler.hpp"
#include "brainsweep/text.hpp"

namespace brainsweep {

namespace {

/// Rows of every layer's features of one episode, filled batch by batch.
struct LayerRows {
  std::vector<std::vector<float>> data;  // per layer, row-major n_chunks × width
  std::vector<long> width;               // per layer, -1 until the first batch
  double model_s = 0;                    // seconds in the model's forward calls
  std::vector<std::string> stimulus_names;  // image modality: one per row
  explicit LayerRows(size_t n_layers) : data(n_layers), width(n_layers, -1) {}
  void append(const std::vector<MatrixF>& pooled, const ExtractConfig& c) {
    for (size_t l = 0; l < pooled.size(); ++l) {
      const auto& m = pooled[l];
      if (width[l] < 0) width[l] = m.cols();
      if (m.cols() != width[l])
        throw DataError(c.model + ": layer '" + c.layers[l] + "' gave " + std::to_string(m.cols()) +
                        " features, earlier batches " + std::to_string(width[l]));
      data[l].insert(data[l].end(), m.data(), m.data() + m.size());
    }
  }
};

/// Run `f` and add its wall-clock seconds to `acc`.
template <class F>
auto timed(double& acc, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = f();
  acc += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

/// Mean of every `group` consecutive rows (frames of one chunk) of `m`.
MatrixF mean_groups(const MatrixF& m, long group) {
  MatrixF out(m.rows() / group, m.cols());
  for (long r = 0; r < out.rows(); ++r)
    for (long j = 0; j < m.cols(); ++j) {
      double s = 0;
      for (long g = 0; g < group; ++g) s += m(r * group + g, j);
      out(r, j) = static_cast<float>(s / static_cast<double>(group));
    }
  return out;
}

/// Model inputs kept for --dump-inputs: rows of the flattened inputs, plus named extras.
struct Dump {
  bool on = false;
  std::vector<float> inputs;
  long input_cols = 0;
  std::vector<long> input_shape;  // per-chunk shape (after the batch dimension)
  std::vector<float> frames;      // video: RGB as float, n_frames × (H·W·3)
  long frame_cols = 0, frame_h = 0, frame_w = 0;
  std::vector<double> sample_time, frame_time;
  std::vector<float> waveform;
  std::vector<double> token_ids, token_offsets{0};
  void add_input(const HostTensor& t) {
    if (!on) return;
    input_cols = t.numel() / t.shape[0];
    input_shape.assign(t.shape.begin() + 1, t.shape.end());
    inputs.insert(inputs.end(), t.data.begin(), t.data.end());
  }
  void write(const std::string& path) const {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    h5::File f(path, h5::File::Mode::truncate);
    if (!inputs.empty()) {
      f.write_f32("inputs", inputs.data(), inputs.size() / input_cols, input_cols);
      std::vector<double> shape(input_shape.begin(), input_shape.end());
      f.write_f64("input_shape", shape.data(), shape.size());
    }
    if (!frames.empty()) {
      f.write_f32("frames", frames.data(), frames.size() / frame_cols, frame_cols);
      f.write_int_attr("frame_height", frame_h);
      f.write_int_attr("frame_width", frame_w);
      f.write_f64("sample_time", sample_time.data(), sample_time.size());
      f.write_f64("frame_time", frame_time.data(), frame_time.size());
    }
    if (!waveform.empty()) f.write_f32("waveform", waveform.data(), waveform.size(), 1);
    if (token_offsets.size() > 1) {
      f.write_f64("token_ids", token_ids.data(), token_ids.size());
      f.write_f64("token_offsets", token_offsets.data(), token_offsets.size());
    }
  }
};

/// Video: frames_per_chunk frames per chunk, at c·tr + (j + ½)·tr / frames_per_chunk.
long extract_video(const ExtractConfig& c, const TorchModel& model, const StimulusEpisode& e, LayerRows& rows,
                   Dump& dump) {
  VideoSampler sampler(e.file);
  const double duration = sampler.duration();
  const long n_chunks = chunk_count(duration, c.tr);
  const long T = c.frames_per_chunk;
  for (long c0 = 0; c0 < n_chunks; c0 += c.batch_size) {
    const long b = std::min<long>(c.batch_size, n_chunks - c0);
    std::vector<double> times;
    for (long k = c0; k < c0 + b; ++k)
      for (long j = 0; j < T; ++j) times.push_back(k * c.tr + (j + 0.5) * c.tr / static_cast<double>(T));
    const auto fr = sampler.at(times);
    HostTensor x = preprocess_frames(fr.rgb, b * T, fr.height, fr.width, c.height, c.width, c.mean, c.std);
    if (dump.on) {
      dump.frame_h = fr.height;
      dump.frame_w = fr.width;
      dump.frame_cols = fr.height * fr.width * 3;
      dump.frames.insert(dump.frames.end(), fr.rgb.begin(), fr.rgb.end());
      dump.sample_time.insert(dump.sample_time.end(), times.begin(), times.end());
      dump.frame_time.insert(dump.frame_time.end(), fr.frame_time.begin(), fr.frame_time.end());
    }
    const long hw = c.height * c.width;
    if (c.layout == "frames") {
      dump.add_input(x);
      auto pooled = timed(rows.model_s, [&] { return model.run(x, c.pool); });
      for (auto& m : pooled) m = mean_groups(m, T);
      rows.append(pooled, c);
      continue;
    }
    if (c.layout == "BTCHW") {
      x.shape = {b, T, 3, c.height, c.width};
    } else {  // BCTHW: (b, T, 3, H, W) → (b, 3, T, H, W)
      HostTensor y;
      y.shape = {b, 3, T, c.height, c.width};
      y.data.resize(x.data.size());
      for (long i = 0; i < b; ++i)
        for (long t = 0; t < T; ++t)
          for (long ch = 0; ch < 3; ++ch)
            std::copy_n(&x.data[static_cast<size_t>(((i * T + t) * 3 + ch) * hw)], hw,
                        &y.data[static_cast<size_t>(((i * 3 + ch) * T + t) * hw)]);
      x = std::move(y);
    }
    dump.add_input(x);
    rows.append(timed(rows.model_s, [&] { return model.run(x, c.pool); }), c);
  }
  // A truncated file decodes without error but ends early: the chunks past its end would all
  // repeat its last frame.
  const double end = sampler.end_time();
  if (end < duration - std::max(1.0, c.tr))
    throw DataError(e.file + ": the video's frames end at " + fmt::format("{:.2f}", end) + " s, but the file says " +
                    fmt::format("{:.2f}", duration) + " s (a truncated or damaged file?)");
  return n_chunks;
}

/// Audio: per chunk the window [c·tr − context, (c + 1)·tr) of the mono waveform, zeros outside it.
long extract_audio(const ExtractConfig& c, const TorchModel& model, const StimulusEpisode& e, LayerRows& rows,
                   Dump& dump) {
  const auto wave = decode_audio_mono(e.file, c.sample_rate);
  const double duration = static_cast<double>(wave.size()) / c.sample_rate;
  const long n_chunks = chunk_count(duration, c.tr);
  const long ctx = std::lround(c.context_s * c.sample_rate);
  const long len = std::lround(c.tr * c.sample_rate);
  if (dump.on) dump.waveform = wave;
  for (long c0 = 0; c0 < n_chunks; c0 += c.batch_size) {
    const long b = std::min<long>(c.batch_size, n_chunks - c0);
    HostTensor x;
    x.shape = {b, ctx + len};
    x.data.assign(static_cast<size_t>(b * (ctx + len)), 0.0f);
    for (long i = 0; i < b; ++i) {
      const long begin = std::lround((c0 + i) * c.tr * c.sample_rate) - ctx;
      for (long s = 0; s < ctx + len; ++s) {
        const long src = begin + s;
        if (src >= 0 && src < static_cast<long>(wave.size()))
          x.data[static_cast<size_t>(i * (ctx + len) + s)] = wave[static_cast<size_t>(src)];
      }
    }
    dump.add_input(x);
    rows.append(timed(rows.model_s, [&] { return model.run(x, c.pool); }), c);
  }
  return n_chunks;
}

/// Text: one chunk per transcript row; its context words and own words, tokenised, batch of one.
/// A chunk with no token at all (no bos, no words) is a row of zeros.
long extract_text(const ExtractConfig& c, const TorchModel& model, const Tokenizer& tok, const StimulusEpisode& e,
                  LayerRows& rows, Dump& dump) {
  const auto text = read_text_per_tr(e.file);
  if (text.empty()) throw DataError(e.file + ": the transcript has no rows");
  const auto words = chunk_words(text, c.context_words);
  std::vector<std::vector<MatrixF>> pooled(words.size());
  const std::vector<MatrixF>* first = nullptr;
  for (size_t k = 0; k < words.size(); ++k) {
    const auto ids = tok.encode(words[k], c.add_bos, c.max_tokens);
    if (dump.on) {
      dump.token_ids.insert(dump.token_ids.end(), ids.begin(), ids.end());
      dump.token_offsets.push_back(static_cast<double>(dump.token_ids.size()));
    }
    if (ids.empty()) continue;
    pooled[k] = timed(rows.model_s, [&] { return model.run_tokens(ids, c.pool); });
    if (!first) first = &pooled[k];
  }
  if (!first) throw DataError(e.file + ": no chunk has any token (the transcript is empty and text.add_bos is off)");
  for (auto& p : pooled) {
    if (p.empty())
      for (const auto& m : *first) p.push_back(MatrixF::Zero(1, m.cols()));
    rows.append(p, c);
  }
  return static_cast<long>(words.size());
}

/// Images: one row per image, `batch_size` images per forward call, preprocessed as video frames.
long extract_image(const ExtractConfig& c, const TorchModel& model, const StimulusEpisode& e, LayerRows& rows,
                   Dump& dump) {
  std::vector<std::uint8_t> rgb;
  long n = 0, h = 0, w = 0;
  if (!e.dataset.empty()) {
    const h5::File f(e.file);
    if (!f.has(e.dataset)) throw DataError(e.file + ": no dataset '" + e.dataset + "' (the images of " + e.stimset + "/" + e.group + ")");
    const auto dims = f.shape(e.dataset);
    if (dims.size() != 4 || dims[3] != 3)
      throw DataError(fmt::format("{}: dataset '{}': expected images N × height × width × 3 (RGB), found {}-D {}", e.file,
                                  e.dataset, dims.size(), fmt::join(dims, "×")));
    n = static_cast<long>(dims[0]), h = static_cast<long>(dims[1]), w = static_cast<long>(dims[2]);
    const std::vector<double> v = f.read_f64(e.dataset);
    rgb.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (!(v[i] >= 0 && v[i] <= 255 && v[i] == std::floor(v[i])))
        throw DataError(fmt::format("{}: dataset '{}': value {} at flat index {} (expected uint8 RGB, 0–255)", e.file,
                                    e.dataset, v[i], i));
      rgb[i] = static_cast<std::uint8_t>(v[i]);
    }
    for (long i = 0; i < n; ++i) rows.stimulus_names.push_back(fmt::format("{}[{}]", e.dataset, i));
  } else {
    for (const auto& file : e.images) {
      const DecodedFrames fr = decode_image(file);
      if (n == 0) h = fr.height, w = fr.width;
      if (fr.height != h || fr.width != w)
        throw DataError(fmt::format("{}: {}×{} pixels, {} is {}×{} (the images of one group must have one size)", file,
                                    fr.height, fr.width, e.images.front(), h, w));
      rgb.insert(rgb.end(), fr.rgb.begin(), fr.rgb.end());
      rows.stimulus_names.push_back(std::filesystem::path(file).filename().string());
      ++n;
    }
  }
  const size_t per_image = static_cast<size_t>(h * w * 3);
  for (long i0 = 0; i0 < n; i0 += c.batch_size) {
    const long b = std::min<long>(c.batch_size, n - i0);
    const std::vector<std::uint8_t> part(rgb.begin() + static_cast<std::ptrdiff_t>(i0 * per_image),
                                         rgb.begin() + static_cast<std::ptrdiff_t>((i0 + b) * per_image));
    const HostTensor x = preprocess_frames(part, b, h, w, c.height, c.width, c.mean, c.std);
    dump.add_input(x);
    rows.append(timed(rows.model_s, [&] { return model.run(x, c.pool); }), c);
  }
  return n;
}

void write_features(const ExtractConfig& c, const StimulusEpisode& e, const LayerRows& rows, long n_chunks) {
  const auto out = e.output(c);
  std::filesystem::create_directories(std::filesystem::path(out).parent_path());
  {
    {
      h5::File f(out, h5::File::Mode::in_memory);  // reaches the disk through save_atomic, every step checked
      for (size_t l = 0; l < c.layers.size(); ++l) {
        if (static_cast<long>(rows.data[l].size()) != n_chunks * rows.width[l])
          throw Error(out + ": layer '" + c.layers[l] + "' has " + std::to_string(rows.data[l].size()) +
                      " values, expected " + std::to_string(n_chunks) + " chunks × " + std::to_string(rows.width[l]));
        f.write_f32(c.layers[l], rows.data[l].data(), static_cast<hsize_t>(n_chunks),
                    static_cast<hsize_t>(rows.width[l]), c.float16);
      }
      f.write_string_attr1("model", c.model);
      f.write_string_attr1("modality", c.modality);
      f.write_string_attr1("stimulus", e.file);
      f.write_string_attr1("pool", c.pool.mode);
      f.write_string_attr1("tr_seconds", std::to_string(c.tr));
      f.write_string_attr1("name", c.name);
      if (!rows.stimulus_names.empty()) f.write_string_attr("stimulus_names", rows.stimulus_names);
      f.save_atomic(out);
    }
  }
}

/// Indices of the episodes whose feature file does not exist (all of them with `overwrite`).
std::vector<size_t> pending(const ExtractConfig& c, const std::vector<StimulusEpisode>& episodes, bool overwrite) {
  std::vector<size_t> out;
  for (size_t i = 0; i < episodes.size(); ++i)
    if (overwrite || !std::filesystem::exists(episodes[i].output(c))) out.push_back(i);
  return out;
}

}  // namespace

int extract_status(const ExtractConfig& c, std::ostream& out) {
  const auto episodes = list_episodes(c);
  const auto todo = pending(c, episodes, false);
  out << fmt::format("extract {}: {} episodes, {} extracted, {} pending\n", c.name, episodes.size(),
                     episodes.size() - todo.size(), todo.size());
  for (size_t i : todo)
    out << fmt::format("  pending: {}/{}/{}\n", episodes[i].stimset, episodes[i].group, episodes[i].episode);
  return todo.empty() ? 0 : 3;
}

int run_extract(const ExtractConfig& c, const ExtractOptions& opt, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  // Setup errors (no stimuli, model or tokenizer unusable, missing layer) are the same on every
  // rank: every rank tries, rank 0 reports, all return the same exit code.
  std::vector<StimulusEpisode> episodes;
  std::unique_ptr<TorchModel> model;
  std::unique_ptr<Tokenizer> tok;
  int code = 0;
  std::string error;
  try {
    episodes = list_episodes(c);
    model = std::make_unique<TorchModel>(c.model, c.layers, c.device, c.threads);
    if (c.modality == "text") tok = std::make_unique<Tokenizer>(c.tokenizer);
  } catch (const Error& e) {
    code = e.exit_code();
    error = e.what();
  }
  int global = 0;
  MPI_Allreduce(&code, &global, 1, MPI_INT, MPI_MAX, comm);
  if (global != 0) {
    int rank0_failed = rank == 0 && code != 0;
    MPI_Bcast(&rank0_failed, 1, MPI_INT, 0, comm);
    if (code != 0 && (rank == 0 || !rank0_failed))
      fmt::print(stderr, "{}error: {}\n", rank == 0 ? "" : fmt::format("[rank {}/{}] ", rank, size), error);
    return global;
  }
  const std::vector<size_t> todo = pending(c, episodes, opt.overwrite);
  if (rank == 0)
    spdlog::info("extract {}: {} episodes, {} already extracted, {} to do on {} rank(s)", c.name, episodes.size(),
                 episodes.size() - todo.size(), todo.size(), size);
  const auto t0 = std::chrono::steady_clock::now();
  int failed = 0, done = 0;
  {
    WorkCounter counter(comm);
    for (long k = counter.next(); k < static_cast<long>(todo.size()); k = counter.next()) {
      const auto& e = episodes[todo[static_cast<size_t>(k)]];
      try {
        const auto e0 = std::chrono::steady_clock::now();
        LayerRows rows(c.layers.size());
        Dump dump;
        dump.on = !opt.dump_inputs.empty();
        long n_chunks = 0;
        if (c.modality == "video")
          n_chunks = extract_video(c, *model, e, rows, dump);
        else if (c.modality == "audio")
          n_chunks = extract_audio(c, *model, e, rows, dump);
        else if (c.modality == "image")
          n_chunks = extract_image(c, *model, e, rows, dump);
        else
          n_chunks = extract_text(c, *model, *tok, e, rows, dump);
        if (dump.on)
          dump.write((std::filesystem::path(opt.dump_inputs) / (e.stimset + "_" + e.episode + ".h5")).string());
        write_features(c, e, rows, n_chunks);
        ++done;
        const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
        spdlog::info("{}/{}/{}: {} {} in {:.2f} s (model {:.2f} s, decoding and the rest {:.2f} s) → {}",
                     e.stimset, e.group, e.episode, n_chunks, c.modality == "image" ? "images" : "chunks", total,
                     rows.model_s, total - rows.model_s, e.output(c));
      } catch (const std::exception& err) {  // the other episodes go on; this one has no file
        ++failed;
        const auto* be = dynamic_cast<const Error*>(&err);
        code = std::max(code, be ? be->exit_code() : 1);
        fmt::print(stderr, "[rank {}/{}] {}/{}/{} failed: {}\n", rank, size, e.stimset, e.group, e.episode, err.what());
      }
      counter.finished(1.0);
    }
    MPI_Barrier(comm);
  }
  int totals[2] = {done, failed}, sums[2] = {0, 0};
  MPI_Reduce(totals, sums, 2, MPI_INT, MPI_SUM, 0, comm);
  MPI_Allreduce(&code, &global, 1, MPI_INT, MPI_MAX, comm);
  if (rank == 0) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("extract {}: {} episodes extracted, {} failed, {:.1f} s", c.name, sums[0], sums[1], s);
    if (sums[1] > 0) fmt::print(stderr, "error: {} episode(s) failed; rerun to retry them\n", sums[1]);
  }
  return global;
}

}  // namespace brainsweep
