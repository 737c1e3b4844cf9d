#pragma once
/// Decoding of movie stimuli with FFmpeg's libraries (libavformat, libavcodec, libswscale,
/// libswresample), for feature extraction. Not collective; every error is a DataError naming the file.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace brainsweep {

/// Duration of a media file in seconds: the container's duration, else the longest stream's.
/// @throw DataError  if the file is missing, not a media file, or has no duration
double media_duration(const std::string& path);

/// Frames of the first video stream shown at given times.
struct DecodedFrames {
  long width = 0, height = 0;      ///< native size of the video, pixels
  std::vector<std::uint8_t> rgb;   ///< times.size() × height × width × 3, RGB24, row-major
  std::vector<double> frame_time;  ///< per requested time: presentation time of the frame used, seconds
};

/// Sequential access to the frames of a video's first video stream, decoding once from the start:
/// for time t (seconds from the stream's first frame), the frame on screen, i.e. the last frame
/// whose presentation time is <= t (the first frame if t precedes it, the last one past the end).
/// Frames are converted to RGB24 at the native size with libswscale (bicubic, the ffmpeg command
/// line's default), only those that are served. Memory: two decoded frames.
class VideoSampler {
 public:
  /// @throw DataError  if the file is missing, not a media file, or has no decodable video frame
  explicit VideoSampler(const std::string& path);
  ~VideoSampler();
  VideoSampler(const VideoSampler&) = delete;
  VideoSampler& operator=(const VideoSampler&) = delete;

  /// The frames at `times`, ascending and not before the times of the previous call.
  /// @throw DataError  on a decoding error (a corrupt stream) or a frame size change
  DecodedFrames at(const std::vector<double>& times);

  /// The file's duration in seconds, as media_duration gives it (no second opening of the file).
  double duration() const;

  /// Decode the rest of the stream (without converting) and return the presentation time of its
  /// last frame, seconds. @throw DataError on a decoding error
  double end_time();

 struct Impl;  ///< FFmpeg state, defined in media.cpp only

 private:
  std::unique_ptr<Impl> impl_;
};

/// The first frame of an image file (PNG, JPEG, … through FFmpeg's image demuxers), converted to
/// RGB24 at its native size as VideoSampler converts frames.
/// @throw DataError  if the file is missing or holds no decodable image
DecodedFrames decode_image(const std::string& path);

/// The first audio stream, down-mixed to mono and resampled to `sample_rate` Hz with
/// libswresample (default options, as `ffmpeg -ac 1 -ar RATE -f f32le`), float32 samples in [-1, 1].
/// @throw DataError  if the file is missing, corrupt, or has no decodable audio stream
std::vector<float> decode_audio_mono(const std::string& path, int sample_rate);

}  // namespace brainsweep
