#pragma once
// Deterministic recording bodies, generated at any offset without materialising the whole file.
// Bytes are a pure function of (lower-cased Sid, format, default duration). Pure code, no I/O.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace laml_sim {

enum class audio_format { wav, mp3 };

// WAV: RIFF/WAVE PCM, 8000 Hz, mono, 16-bit, 44-byte header.
inline constexpr std::uint64_t wav_header_size = 44;
inline constexpr std::uint64_t wav_bytes_per_second = 16000;
// MP3: MPEG-1 Layer III, 32 kHz, 32 kbps, mono, no CRC: 144-byte frames of 1152 samples.
inline constexpr std::uint64_t mp3_frame_size = 144;
inline constexpr std::uint64_t mp3_samples_per_frame = 1152;
inline constexpr std::uint64_t mp3_sample_rate = 32000;
inline constexpr std::array<unsigned char, 4> mp3_frame_header{0xFF, 0xFB, 0x18, 0xC4};
inline constexpr std::uint64_t mp3_side_info_size = 17;

// One recording body. Cheap to construct and copy; safe to share between threads (immutable).
class recording {
 public:
  // Prereq: is_uuid(sid).
  recording(std::string_view sid, audio_format format, std::uint32_t default_duration);

  audio_format format() const { return format_; }
  std::uint64_t size() const { return size_; }

  // Writes bytes [offset, offset + out.size()) of the body.
  // Prereq: offset + out.size() <= size().
  void fill(std::uint64_t offset, std::span<char> out) const;

 private:
  void fill_wav(std::uint64_t offset, std::span<char> out) const;
  void fill_mp3(std::uint64_t offset, std::span<char> out) const;

  std::uint64_t seed_;
  audio_format format_;
  std::uint64_t size_;
  std::array<char, wav_header_size> wav_header_{};
};

// Body size in bytes. Normal Sids: WAV 44 + 16000*d, MP3 ceil(d*32000/1152) frames of 144 bytes.
// Sized Sids (N bytes): WAV max(N, 44) bytes, MP3 max(1, floor(N/144)) frames.
// Prereq: is_uuid(sid). Absent Sids have a size too (the server answers 404 before using it).
std::uint64_t body_size(std::string_view sid, audio_format format, std::uint32_t default_duration);

// Bytes [offset, offset + out.size()) of a body. Prereq: offset + out.size() <= body_size(...).
void fill_body(std::string_view sid, audio_format format, std::uint32_t default_duration,
               std::uint64_t offset, std::span<char> out);

// Whole seconds of audio: the default duration, or (N - 44) / 16000 rounded down for sized Sids.
std::uint32_t duration_seconds(std::string_view sid, std::uint32_t default_duration);

}  // namespace laml_sim
