// FFmpeg decoding of stimuli (media.hpp).
#include "brainsweep/media.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>

#include "brainsweep/errors.hpp"

namespace brainsweep {

namespace {

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

struct FormatDeleter {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};

using FormatPtr = std::unique_ptr<AVFormatContext, FormatDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;

FormatPtr open_input(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw DataError(path + ": stimulus file not found");
  av_log_set_level(AV_LOG_ERROR);
  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (rc < 0) throw DataError(path + ": not a media file FFmpeg can open (" + av_error(rc) + ")");
  FormatPtr fmt(raw);
  rc = avformat_find_stream_info(fmt.get(), nullptr);
  if (rc < 0) throw DataError(path + ": cannot read the streams (" + av_error(rc) + ")");
  return fmt;
}

/// Decoder of the best stream of `type`. Returns the stream index.
int open_decoder(AVFormatContext* fmt, AVMediaType type, const std::string& path, CodecPtr& ctx) {
  const AVCodec* codec = nullptr;
  const int idx = av_find_best_stream(fmt, type, -1, -1, &codec, 0);
  const char* what = type == AVMEDIA_TYPE_VIDEO ? "video" : "audio";
  if (idx < 0 || !codec) throw DataError(path + ": no decodable " + std::string(what) + " stream");
  ctx.reset(avcodec_alloc_context3(codec));
  if (!ctx) throw Error("avcodec_alloc_context3 failed");
  int rc = avcodec_parameters_to_context(ctx.get(), fmt->streams[idx]->codecpar);
  if (rc >= 0) {
    ctx->thread_count = 1;  // deterministic and cheap for the small frames we keep
    rc = avcodec_open2(ctx.get(), codec, nullptr);
  }
  if (rc < 0) throw DataError(path + ": cannot open the " + std::string(what) + " decoder (" + av_error(rc) + ")");
  return idx;
}

/// Pull decoder of one stream: next() gives decoded frames in order until the end (flushing the
/// decoder). Decoding errors throw: a corrupt file must not silently give short features.
class Decoder {
 public:
  Decoder(const std::string& path, AVMediaType type) : path_(path), fmt_(open_input(path)) {
    idx_ = open_decoder(fmt_.get(), type, path, ctx_);
    pkt_.reset(av_packet_alloc());
  }
  AVFormatContext* format() const { return fmt_.get(); }
  AVCodecContext* codec() const { return ctx_.get(); }
  const AVStream* stream() const { return fmt_->streams[idx_]; }

  /// Decode the next frame into `f` (unreferenced first); false at the end of the stream.
  bool next(AVFrame* f) {
    av_frame_unref(f);
    for (;;) {
      int rc = avcodec_receive_frame(ctx_.get(), f);
      if (rc == 0) return true;
      if (rc == AVERROR_EOF) return false;
      if (rc != AVERROR(EAGAIN)) throw DataError(path_ + ": decoding failed (" + av_error(rc) + ")");
      if (flushed_) return false;
      rc = av_read_frame(fmt_.get(), pkt_.get());
      if (rc == AVERROR_EOF) {
        avcodec_send_packet(ctx_.get(), nullptr);
        flushed_ = true;
        continue;
      }
      if (rc < 0) throw DataError(path_ + ": reading failed (" + av_error(rc) + ")");
      if (pkt_->stream_index == idx_) {
        rc = avcodec_send_packet(ctx_.get(), pkt_.get());
        av_packet_unref(pkt_.get());
        if (rc < 0 && rc != AVERROR(EAGAIN)) throw DataError(path_ + ": corrupt stream (" + av_error(rc) + ")");
      } else {
        av_packet_unref(pkt_.get());
      }
    }
  }

 private:
  std::string path_;
  FormatPtr fmt_;
  CodecPtr ctx_;
  PacketPtr pkt_;
  int idx_ = -1;
  bool flushed_ = false;
};

}  // namespace

namespace {
/// The container's duration, else the longest stream's, seconds. @throw DataError if there is none
double duration_of(const AVFormatContext* fmt, const std::string& path) {
  double d = 0;
  if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) d = static_cast<double>(fmt->duration) / AV_TIME_BASE;
  for (unsigned i = 0; d <= 0 && i < fmt->nb_streams; ++i) {
    const AVStream* s = fmt->streams[i];
    if (s->duration != AV_NOPTS_VALUE && s->duration > 0) d = std::max(d, s->duration * av_q2d(s->time_base));
  }
  if (!(d > 0)) throw DataError(path + ": the media file has no duration");
  return d;
}
}  // namespace

double media_duration(const std::string& path) { return duration_of(open_input(path).get(), path); }

struct VideoSampler::Impl {
  explicit Impl(const std::string& p, bool still_image = false) : path(p), dec(p, AVMEDIA_TYPE_VIDEO) {
    if (!still_image) duration = duration_of(dec.format(), path);  // an image file has none
    tb = av_q2d(dec.stream()->time_base);
    start = dec.stream()->start_time != AV_NOPTS_VALUE ? dec.stream()->start_time : 0;
    cur.reset(av_frame_alloc());
    nxt.reset(av_frame_alloc());
    if (!dec.next(cur.get())) throw DataError(path + ": the video stream has no decodable frame");
    cur_t = time_of(cur.get(), 0.0);
    have_next = dec.next(nxt.get());
    if (have_next) nxt_t = time_of(nxt.get(), cur_t);
  }
  double time_of(const AVFrame* f, double fallback) const {
    const int64_t pts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
    return pts == AV_NOPTS_VALUE ? fallback : static_cast<double>(pts - start) * tb;
  }
  /// RGB24 of the current frame (converted once).
  const std::vector<std::uint8_t>& current_rgb() {
    if (converted) return rgb;
    const AVFrame* f = cur.get();
    if (!sws) {
      width = f->width;
      height = f->height;
      sws.reset(sws_getContext(f->width, f->height, static_cast<AVPixelFormat>(f->format), f->width, f->height,
                               AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr));
      if (!sws) throw DataError(path + ": unsupported pixel format for RGB conversion");
    }
    if (f->width != width || f->height != height)
      throw DataError(path + ": the frame size changes within the video (" + std::to_string(width) + "x" +
                      std::to_string(height) + " then " + std::to_string(f->width) + "x" + std::to_string(f->height) +
                      ")");
    rgb.resize(static_cast<size_t>(width * height * 3));
    std::uint8_t* dst[4] = {rgb.data(), nullptr, nullptr, nullptr};
    int stride[4] = {static_cast<int>(width * 3), 0, 0, 0};
    sws_scale(sws.get(), f->data, f->linesize, 0, f->height, dst, stride);
    converted = true;
    return rgb;
  }
  std::string path;
  Decoder dec;
  double tb = 0;
  int64_t start = 0;
  FramePtr cur, nxt;
  double duration = 0;  // of the file, seconds (media_duration)
  double cur_t = 0, nxt_t = 0, last_request = -1e300;
  bool have_next = false, converted = false;
  std::unique_ptr<SwsContext, SwsDeleter> sws;
  long width = 0, height = 0;
  std::vector<std::uint8_t> rgb;
};

VideoSampler::VideoSampler(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}

DecodedFrames decode_image(const std::string& path) {
  VideoSampler::Impl s(path, /*still_image=*/true);
  DecodedFrames out;
  out.rgb = s.current_rgb();
  out.width = s.width;
  out.height = s.height;
  out.frame_time.push_back(0.0);
  return out;
}
VideoSampler::~VideoSampler() = default;

double VideoSampler::duration() const { return impl_->duration; }

DecodedFrames VideoSampler::at(const std::vector<double>& times) {
  auto& s = *impl_;
  DecodedFrames out;
  for (double t : times) {
    if (t < s.last_request) throw Error("VideoSampler::at: times must be ascending across calls");
    s.last_request = t;
    while (s.have_next && s.nxt_t <= t) {  // advance: the next frame is on screen at t
      std::swap(s.cur, s.nxt);
      s.cur_t = s.nxt_t;
      s.converted = false;
      s.have_next = s.dec.next(s.nxt.get());
      if (s.have_next) s.nxt_t = s.time_of(s.nxt.get(), s.cur_t);
    }
    const auto& rgb = s.current_rgb();
    out.rgb.insert(out.rgb.end(), rgb.begin(), rgb.end());
    out.frame_time.push_back(s.cur_t);
  }
  out.width = s.width;
  out.height = s.height;
  if (times.empty()) out.width = out.height = 0;
  return out;
}

double VideoSampler::end_time() {
  auto& s = *impl_;
  double last = s.have_next ? s.nxt_t : s.cur_t;
  while (s.have_next) {
    s.have_next = s.dec.next(s.nxt.get());
    if (s.have_next) last = s.nxt_t = s.time_of(s.nxt.get(), last);
  }
  return last;
}

std::vector<float> decode_audio_mono(const std::string& path, int sample_rate) {
  if (sample_rate <= 0) throw ConfigError("audio sample_rate " + std::to_string(sample_rate) + ": expected > 0");
  Decoder dec(path, AVMEDIA_TYPE_AUDIO);
  std::unique_ptr<SwrContext, SwrDeleter> swr;
  std::vector<float> out, buf;
  AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  auto convert = [&](const std::uint8_t** in, int n_in) {
    const int cap = swr_get_out_samples(swr.get(), n_in);
    if (cap < 0) throw DataError(path + ": audio resampling failed");
    buf.resize(static_cast<size_t>(cap) + 16);
    std::uint8_t* o[1] = {reinterpret_cast<std::uint8_t*>(buf.data())};
    const int got = swr_convert(swr.get(), o, static_cast<int>(buf.size()), in, n_in);
    if (got < 0) throw DataError(path + ": audio resampling failed (" + av_error(got) + ")");
    out.insert(out.end(), buf.begin(), buf.begin() + got);
  };
  FramePtr f(av_frame_alloc());
  while (dec.next(f.get())) {
    if (!swr) {
      SwrContext* raw = nullptr;
      int rc = swr_alloc_set_opts2(&raw, &mono, AV_SAMPLE_FMT_FLT, sample_rate, &f->ch_layout,
                                   static_cast<AVSampleFormat>(f->format), f->sample_rate, 0, nullptr);
      if (rc < 0 || swr_init(raw) < 0) {
        swr_free(&raw);
        throw DataError(path + ": cannot set up audio resampling");
      }
      swr.reset(raw);
    }
    convert(const_cast<const std::uint8_t**>(f->extended_data), f->nb_samples);
  }
  if (!swr) throw DataError(path + ": the audio stream has no decodable frame");
  convert(nullptr, 0);  // flush the resampler
  return out;
}

}  // namespace brainsweep
