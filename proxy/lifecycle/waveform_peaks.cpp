#include "proxy/lifecycle/waveform_peaks.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace recgate {
namespace {

// Header bytes (RIFF chunks before "data": fmt, LIST, fact...) accepted before the samples.
constexpr std::size_t max_header_bytes = 64 * 1024;
constexpr std::uint64_t to_the_end = ~std::uint64_t(0);

std::uint32_t le16(std::string_view s, std::size_t at) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 8;
}

std::uint32_t le32(std::string_view s, std::size_t at) {
  return le16(s, at) | le16(s, at + 2) << 16;
}

// One sample as 16 bits: 8-bit WAV is unsigned, wider ones keep their top 16 bits.
std::int16_t sample16(const char* p, std::uint16_t bytes) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  switch (bytes) {
    case 1:
      return static_cast<std::int16_t>((static_cast<int>(u[0]) - 128) * 256);
    case 2:
      return static_cast<std::int16_t>(u[0] | u[1] << 8);
    case 3:
      return static_cast<std::int16_t>(u[1] | u[2] << 8);
    default:
      return static_cast<std::int16_t>(u[2] | u[3] << 8);
  }
}

void append_int(std::string& out, int v) {
  char buf[8];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

}  // namespace

waveform_peaks::waveform_peaks(std::uint32_t samples_per_pixel, std::size_t max_pairs)
    : samples_per_pixel_(std::max<std::uint32_t>(1, samples_per_pixel)), max_pairs_(max_pairs) {}

bool waveform_peaks::fail(failure f, std::string why) {
  failed_ = f;
  why_ = std::move(why);
  return false;
}

bool waveform_peaks::parse_header() {
  if (header_.size() < 12) return true;
  if (header_.compare(0, 4, "RIFF") != 0 || header_.compare(8, 4, "WAVE") != 0) {
    return fail(failure::not_pcm_wav, "the audio is not a RIFF/WAVE file");
  }
  std::size_t at = 12;
  while (header_.size() >= at + 8) {
    const std::string_view id(header_.data() + at, 4);
    const std::uint32_t size = le32(header_, at + 4);
    if (id == "data") {
      if (channels_ == 0) return fail(failure::not_pcm_wav, "the WAV has no fmt chunk before data");
      in_data_ = true;
      // 0 or ~0: written while recording, before the length was known: read to the end.
      data_left_ = (size == 0 || size == 0xffffffffu) ? to_the_end : size;
      const std::string rest = header_.substr(at + 8);
      header_.clear();
      header_.shrink_to_fit();
      take_samples(rest);
      return true;
    }
    const std::size_t padded = static_cast<std::size_t>(size) + (size & 1);
    if (header_.size() < at + 8 + padded) break;  // the chunk's payload is still to come
    if (id == "fmt ") {
      if (size < 16) return fail(failure::not_pcm_wav, "the WAV's fmt chunk is too short");
      std::uint32_t format = le16(header_, at + 8);
      if (format == 0xfffe && size >= 26) format = le16(header_, at + 8 + 24);  // extensible
      channels_ = static_cast<std::uint16_t>(le16(header_, at + 10));
      sample_rate_ = le32(header_, at + 12);
      const std::uint32_t bits = le16(header_, at + 22);
      if (format != 1) return fail(failure::not_pcm_wav, "the WAV is not PCM");
      if (bits != 8 && bits != 16 && bits != 24 && bits != 32) {
        return fail(failure::not_pcm_wav, "the WAV's sample size is not 8, 16, 24 or 32 bits");
      }
      if (channels_ < 1 || channels_ > 8 || sample_rate_ == 0) {
        return fail(failure::not_pcm_wav, "the WAV has 1 to 8 channels and a sample rate");
      }
      bytes_per_sample_ = static_cast<std::uint16_t>(bits / 8);
      min_.assign(channels_, std::numeric_limits<std::int16_t>::max());
      max_.assign(channels_, std::numeric_limits<std::int16_t>::min());
    }
    at += 8 + padded;
  }
  if (header_.size() > max_header_bytes) {
    return fail(failure::not_pcm_wav, "the WAV has no data chunk in its first 64 KiB");
  }
  return true;
}

bool waveform_peaks::feed(std::string_view bytes) {
  if (failed_ != failure::none) return false;
  if (!in_data_) {
    header_.append(bytes);
    return parse_header() && failed_ == failure::none;
  }
  take_samples(bytes);
  return failed_ == failure::none;
}

void waveform_peaks::take_samples(std::string_view bytes) {
  if (data_left_ != to_the_end) {
    bytes = bytes.substr(
        0, static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), data_left_)));
    data_left_ -= bytes.size();
  }
  const std::size_t frame = static_cast<std::size_t>(channels_) * bytes_per_sample_;
  if (!carry_.empty()) {
    const std::size_t need = std::min(frame - carry_.size(), bytes.size());
    carry_.append(bytes.substr(0, need));
    bytes.remove_prefix(need);
    if (carry_.size() < frame) return;
    std::string whole = std::move(carry_);
    carry_.clear();
    take_frames(whole);
  }
  const std::size_t whole = bytes.size() - bytes.size() % frame;
  take_frames(bytes.substr(0, whole));
  carry_.assign(bytes.substr(whole));
}

void waveform_peaks::take_frames(std::string_view frames) {
  const std::size_t frame = static_cast<std::size_t>(channels_) * bytes_per_sample_;
  for (std::size_t at = 0; at + frame <= frames.size(); at += frame) {
    for (std::uint16_t c = 0; c < channels_; ++c) {
      const std::int16_t v =
          sample16(frames.data() + at + c * bytes_per_sample_, bytes_per_sample_);
      min_[c] = std::min(min_[c], v);
      max_[c] = std::max(max_[c], v);
    }
    if (++in_pixel_ == samples_per_pixel_) {
      end_pixel();
      if (failed_ != failure::none) return;
    }
  }
}

void waveform_peaks::end_pixel() {
  if (data_.size() / 2 + channels_ > max_pairs_) {
    fail(failure::too_many_pairs, "the recording is too long for this samples_per_pixel");
    return;
  }
  for (std::uint16_t c = 0; c < channels_; ++c) {
    // As audiowaveform's 8-bit output: the 16-bit value divided by 256, truncated.
    data_.push_back(static_cast<std::int8_t>(min_[c] / 256));
    data_.push_back(static_cast<std::int8_t>(max_[c] / 256));
    min_[c] = std::numeric_limits<std::int16_t>::max();
    max_[c] = std::numeric_limits<std::int16_t>::min();
  }
  in_pixel_ = 0;
}

std::optional<std::string> waveform_peaks::finish() {
  if (failed_ != failure::none) return std::nullopt;
  if (!in_data_) {
    fail(failure::not_pcm_wav, "the audio ended before its first sample");
    return std::nullopt;
  }
  if (in_pixel_ > 0) end_pixel();
  if (failed_ != failure::none) return std::nullopt;
  std::string out;
  out.reserve(128 + data_.size() * 4);
  out += "{\"version\":2,\"channels\":";
  append_int(out, channels_);
  out += ",\"sample_rate\":";
  out += std::to_string(sample_rate_);
  out += ",\"samples_per_pixel\":";
  out += std::to_string(samples_per_pixel_);
  out += ",\"bits\":8,\"length\":";
  out += std::to_string(data_.size() / 2 / channels_);
  out += ",\"data\":[";
  for (std::size_t i = 0; i < data_.size(); ++i) {
    if (i > 0) out += ',';
    append_int(out, data_[i]);
  }
  out += "]}";
  return out;
}

}  // namespace recgate
