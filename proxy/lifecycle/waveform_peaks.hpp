#pragma once
// Waveform peaks in the JSON format of BBC's audiowaveform, version 2 (what peaks.js and
// wavesurfer.js load): for every `samples_per_pixel` samples of each channel, the minimum and
// the maximum, at 8 bits. Computed from a PCM WAV as it streams past, in bounded memory: the WAV
// is never held, only the pairs (at most max_pairs of them, one byte per value).
//
//   {"version":2,"channels":1,"sample_rate":8000,"samples_per_pixel":256,"bits":8,
//    "length":1875,"data":[-12,13,-40,38,...]}
//
// Each channel of the WAV is its own waveform channel (audiowaveform --split-channels): in a
// two-channel call recording, the two parties. Values are the 16-bit sample divided by 256 and
// truncated, as audiowaveform does for 8-bit output; a last, partial pixel counts. Accepted:
// RIFF/WAVE, PCM (format 1, or WAVE_FORMAT_EXTENSIBLE with the PCM subformat), 8/16/24/32-bit,
// 1 to 8 channels. Hand-written: Debian has libsndfile, but it wants the whole file (seekable)
// and brings no peaks; the RIFF walk here is ~100 lines. Pure, no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace recgate {

class waveform_peaks {
 public:
  enum class failure { none, not_pcm_wav, too_many_pairs };

  // max_pairs: min/max pairs (pixels times channels) the result may have.
  waveform_peaks(std::uint32_t samples_per_pixel, std::size_t max_pairs);

  // The next bytes of the WAV. false once it cannot go on (failed() says why).
  bool feed(std::string_view bytes);
  // After the last byte: the JSON, or nullopt (failed() says why: a WAV that ended before its
  // first sample is not_pcm_wav).
  std::optional<std::string> finish();

  failure failed() const { return failed_; }
  // For an error message: what was wrong, in words.
  const std::string& why() const { return why_; }

 private:
  bool fail(failure f, std::string why);
  bool parse_header();  // from header_; true when it needs more or found the data chunk
  void take_samples(std::string_view bytes);  // data chunk bytes, any split
  void take_frames(std::string_view frames);  // whole frames only
  void end_pixel();

  const std::uint32_t samples_per_pixel_;
  const std::size_t max_pairs_;
  failure failed_ = failure::none;
  std::string why_;

  // Before the samples: the header bytes so far.
  bool in_data_ = false;
  std::string header_;
  std::uint64_t data_left_ = 0;  // bytes of the data chunk still to come (~0: to the end)

  std::uint16_t channels_ = 0;
  std::uint32_t sample_rate_ = 0;
  std::uint16_t bytes_per_sample_ = 0;
  std::string carry_;  // an incomplete frame from the previous feed

  std::vector<std::int16_t> min_, max_;  // the current pixel's, per channel
  std::uint32_t in_pixel_ = 0;           // frames in the current pixel
  std::vector<std::int8_t> data_;        // the result: min, max per channel per pixel
};

}  // namespace recgate
