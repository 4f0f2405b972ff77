// Waveform peaks (audiowaveform's JSON, version 2) from WAVs built here sample by sample, fed
// whole and in every split, against min/max worked out by hand.
#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "proxy/lifecycle/waveform_peaks.hpp"

using recgate::waveform_peaks;

namespace {

void put16(std::string& s, std::uint32_t v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}

// A RIFF/WAVE file: `format` 1 (PCM) or 0xfffe (extensible, PCM subformat), an extra LIST chunk
// before the samples when `list`, then `samples` (interleaved, as 16-bit values scaled to `bits`).
std::string wav(const std::vector<int>& samples, std::uint16_t channels, std::uint16_t bits = 16,
                std::uint32_t format = 1, bool list = false) {
  std::string fmt;
  put16(fmt, format);
  put16(fmt, channels);
  put32(fmt, 8000);
  put32(fmt, 8000u * channels * bits / 8);
  put16(fmt, static_cast<std::uint32_t>(channels * bits / 8));
  put16(fmt, bits);
  if (format == 0xfffe) {
    put16(fmt, 22);
    put16(fmt, bits);
    put32(fmt, 0);
    put16(fmt, 1);  // the subformat GUID starts with the format tag: PCM
    fmt += std::string(14, '\0');
  }
  std::string data;
  for (int v : samples) {
    if (bits == 8) {
      data += static_cast<char>((v / 256) + 128);
    } else if (bits == 16) {
      put16(data, static_cast<std::uint32_t>(v) & 0xffff);
    } else {  // 24: the 16-bit value in the top two bytes
      data += '\x55';
      put16(data, static_cast<std::uint32_t>(v) & 0xffff);
    }
  }
  std::string out = "RIFF";
  std::string body = "WAVE";
  body += "fmt ";
  put32(body, static_cast<std::uint32_t>(fmt.size()));
  body += fmt;
  if (list) {
    body += "LIST";
    put32(body, 5);
    body += "abcde";
    body += '\0';  // padding to an even size
  }
  body += "data";
  put32(body, static_cast<std::uint32_t>(data.size()));
  body += data;
  put32(out, static_cast<std::uint32_t>(body.size()));
  return out + body;
}

nlohmann::json peaks_of(const std::string& file, std::uint32_t spp, std::size_t split = 0) {
  waveform_peaks p(spp, 1 << 20);
  if (split == 0) {
    REQUIRE(p.feed(file));
  } else {
    for (std::size_t at = 0; at < file.size(); at += split) {
      REQUIRE(p.feed(std::string_view(file).substr(at, split)));
    }
  }
  auto json = p.finish();
  REQUIRE_MESSAGE(json.has_value(), p.why());
  return nlohmann::json::parse(*json);
}

}  // namespace

TEST_CASE("peaks: mono 16-bit, min/max per pixel at 8 bits, the last pixel partial") {
  // Pixels of 4 samples: [100, -300, 512, 0], [-32768, 32767, 256, -256], [1000, -1000].
  const std::vector<int> s{100, -300, 512, 0, -32768, 32767, 256, -256, 1000, -1000};
  auto file = wav(s, 1);
  for (std::size_t split : {0, 1, 3, 7, 45}) {
    CAPTURE(split);
    auto j = peaks_of(file, 4, split);
    CHECK(j["version"] == 2);
    CHECK(j["channels"] == 1);
    CHECK(j["sample_rate"] == 8000);
    CHECK(j["samples_per_pixel"] == 4);
    CHECK(j["bits"] == 8);
    CHECK(j["length"] == 3);
    // -300/256 = -1 and 512/256 = 2 (truncated, as audiowaveform), -32768/256 = -128...
    CHECK(j["data"] == nlohmann::json::array({-1, 2, -128, 127, -3, 3}));
  }
}

TEST_CASE("peaks: channels interleaved per pixel (stereo), 8-bit and 24-bit samples") {
  // Left: 1000, -2000; right: -5000, 7000 (one pixel of two frames).
  const std::vector<int> s{1000, -5000, -2000, 7000};
  auto j = peaks_of(wav(s, 2), 2);
  CHECK(j["channels"] == 2);
  CHECK(j["length"] == 1);
  CHECK(j["data"] == nlohmann::json::array({-7, 3, -19, 27}));
  CHECK(peaks_of(wav(s, 2, 24), 2, 5)["data"] == j["data"]);
  // 8-bit keeps only the top byte, so the values are the same at 8 bits.
  auto eight = peaks_of(wav({-25600, 12800}, 1, 8), 64);
  CHECK(eight["data"] == nlohmann::json::array({-100, 50}));
}

TEST_CASE("peaks: WAVE_FORMAT_EXTENSIBLE PCM and chunks before the data are read past") {
  const std::vector<int> s{256, -512};
  CHECK(peaks_of(wav(s, 1, 16, 0xfffe, true), 64, 3)["data"] == nlohmann::json::array({-2, 1}));
}

TEST_CASE("peaks: what is not a PCM WAV fails, and so does a result beyond max_pairs") {
  {
    waveform_peaks p(256, 1 << 20);
    CHECK_FALSE(p.feed("ID3\x03 this is an mp3 file, not a wav"));
    CHECK(p.failed() == waveform_peaks::failure::not_pcm_wav);
  }
  {
    waveform_peaks p(256, 1 << 20);
    CHECK_FALSE(p.feed(wav({1, 2}, 1, 16, 3)));  // IEEE float
    CHECK(p.failed() == waveform_peaks::failure::not_pcm_wav);
  }
  {
    waveform_peaks p(256, 1 << 20);
    auto file = wav({1, 2}, 1);
    CHECK(p.feed(std::string_view(file).substr(0, 30)));  // ends inside the header
    CHECK_FALSE(p.finish().has_value());
    CHECK(p.failed() == waveform_peaks::failure::not_pcm_wav);
  }
  {
    waveform_peaks p(64, 2);  // three pixels of 64 samples: one too many
    std::vector<int> s(64 * 3, 7);
    CHECK_FALSE(p.feed(wav(s, 1)));
    CHECK(p.failed() == waveform_peaks::failure::too_many_pairs);
  }
}
