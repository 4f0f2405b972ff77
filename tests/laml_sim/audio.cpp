#include "audio.hpp"

#include <algorithm>
#include <limits>

#include "sid_modes.hpp"

namespace laml_sim {
namespace {

// One period of a 400 Hz tone at 8000 Hz: round(2000 * sin(2*pi*k/20)). Integer on purpose, so
// the bytes never depend on the platform's libm.
constexpr std::array<int, 20> tone{0, 618,  1176,  1618,  1902,  2000,  1902,  1618,  1176,  618,
                                   0, -618, -1176, -1618, -1902, -2000, -1902, -1618, -1176, -618};

std::uint64_t mp3_frames(std::uint64_t seconds) {
  const std::uint64_t samples = seconds * mp3_sample_rate;
  return (samples + mp3_samples_per_frame - 1) / mp3_samples_per_frame;
}

void put_le(std::array<char, wav_header_size>& h, std::size_t at, std::uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i)
    h[at + static_cast<std::size_t>(i)] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

void put_tag(std::array<char, wav_header_size>& h, std::size_t at, const char (&tag)[5]) {
  std::copy(tag, tag + 4, h.begin() + static_cast<std::ptrdiff_t>(at));
}

// RIFF sizes are 32-bit: a body beyond 4 GiB saturates them (the usual convention).
std::uint32_t riff32(std::uint64_t value) {
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(value, 0xFFFFFFFFULL));
}

std::array<char, wav_header_size> make_wav_header(std::uint64_t size) {
  std::array<char, wav_header_size> h{};
  put_tag(h, 0, "RIFF");
  put_le(h, 4, riff32(size - 8), 4);
  put_tag(h, 8, "WAVE");
  put_tag(h, 12, "fmt ");
  put_le(h, 16, 16, 4);     // fmt chunk size
  put_le(h, 20, 1, 2);      // PCM
  put_le(h, 22, 1, 2);      // mono
  put_le(h, 24, 8000, 4);   // sample rate
  put_le(h, 28, 16000, 4);  // byte rate
  put_le(h, 32, 2, 2);      // block align
  put_le(h, 34, 16, 2);     // bits per sample
  put_tag(h, 36, "data");
  put_le(h, 40, riff32(size - wav_header_size), 4);
  return h;
}

}  // namespace

std::uint64_t body_size(std::string_view sid, audio_format format, std::uint32_t default_duration) {
  const sid_mode mode = parse_sid_mode(sid);
  if (mode.kind == sid_kind::sized) {
    if (format == audio_format::wav) return std::max(mode.sized_bytes, wav_header_size);
    return std::max<std::uint64_t>(1, mode.sized_bytes / mp3_frame_size) * mp3_frame_size;
  }
  if (format == audio_format::wav) return wav_header_size + wav_bytes_per_second * default_duration;
  return mp3_frames(default_duration) * mp3_frame_size;
}

std::uint32_t duration_seconds(std::string_view sid, std::uint32_t default_duration) {
  const sid_mode mode = parse_sid_mode(sid);
  if (mode.kind != sid_kind::sized) return default_duration;
  if (mode.sized_bytes <= wav_header_size) return 0;
  const std::uint64_t seconds = (mode.sized_bytes - wav_header_size) / wav_bytes_per_second;
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(seconds, std::numeric_limits<std::uint32_t>::max()));
}

recording::recording(std::string_view sid, audio_format format, std::uint32_t default_duration)
    : seed_(sid_seed(sid)), format_(format), size_(body_size(sid, format, default_duration)) {
  if (format_ == audio_format::wav) wav_header_ = make_wav_header(size_);
}

void recording::fill(std::uint64_t offset, std::span<char> out) const {
  if (format_ == audio_format::wav)
    fill_wav(offset, out);
  else
    fill_mp3(offset, out);
}

void recording::fill_wav(std::uint64_t offset, std::span<char> out) const {
  std::size_t i = 0;
  while (i < out.size()) {
    const std::uint64_t at = offset + i;
    if (at < wav_header_size) {
      out[i++] = wav_header_[at];
      continue;
    }
    const std::uint64_t data = at - wav_header_size;
    const std::uint64_t index = data / 2;
    // Tone plus noise in [-256, 255]: low amplitude, different for every Sid.
    const int noise = static_cast<int>(splitmix64(seed_ + index) & 0x1FF) - 256;
    const auto sample = static_cast<std::uint16_t>(tone[index % tone.size()] + noise);
    if ((data & 1) == 0) {
      out[i++] = static_cast<char>(sample & 0xFF);
      if (i < out.size()) out[i++] = static_cast<char>(sample >> 8);
    } else {
      out[i++] = static_cast<char>(sample >> 8);
    }
  }
}

void recording::fill_mp3(std::uint64_t offset, std::span<char> out) const {
  constexpr std::uint64_t filler_size = mp3_frame_size - 4 - mp3_side_info_size;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint64_t at = offset + i;
    const std::uint64_t frame = at / mp3_frame_size;
    const std::uint64_t pos = at % mp3_frame_size;
    if (pos < 4) {
      out[i] = static_cast<char>(mp3_frame_header[pos]);
    } else if (pos < 4 + mp3_side_info_size) {
      // All-zero side info: part2_3_length 0, a silent frame whose payload is ancillary data.
      out[i] = 0;
    } else {
      // Filler kept below 0x80 so it never contains a false frame sync.
      const std::uint64_t index = frame * filler_size + (pos - 4 - mp3_side_info_size);
      out[i] = static_cast<char>(splitmix64(seed_ + index) & 0x7F);
    }
  }
}

void fill_body(std::string_view sid, audio_format format, std::uint32_t default_duration,
               std::uint64_t offset, std::span<char> out) {
  recording(sid, format, default_duration).fill(offset, out);
}

}  // namespace laml_sim
