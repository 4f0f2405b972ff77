#include <cstring>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "laml_sim/laml_sim.hpp"

using namespace laml_sim;

namespace {

std::vector<char> whole(std::string_view sid, audio_format format, std::uint32_t duration) {
  std::vector<char> out(body_size(sid, format, duration));
  fill_body(sid, format, duration, 0, out);
  return out;
}

std::uint32_t le32(const std::vector<char>& b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

std::uint16_t le16(const std::vector<char>& b, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(b[at]) |
                                    (static_cast<unsigned char>(b[at + 1]) << 8));
}

}  // namespace

TEST_CASE("body sizes") {
  const std::string sid = normal_sid(1);
  CHECK(body_size(sid, audio_format::wav, 10) == 44 + 160000);
  CHECK(body_size(sid, audio_format::wav, 0) == 44);
  // ceil(10 * 32000 / 1152) = 278 frames.
  CHECK(body_size(sid, audio_format::mp3, 10) == 278 * 144);
  CHECK(body_size(sid, audio_format::mp3, 9) == 250 * 144);  // exactly 250 frames
  CHECK(duration_seconds(sid, 10) == 10);

  CHECK(body_size(sized_sid(1, 52428800), audio_format::wav, 10) == 52428800);
  CHECK(body_size(sized_sid(1, 45), audio_format::wav, 10) == 45);  // odd data size
  CHECK(body_size(sized_sid(1, 10), audio_format::wav, 10) == 44);  // never below the header
  CHECK(body_size(sized_sid(1, 52428800), audio_format::mp3, 10) == 52428800 / 144 * 144);
  CHECK(body_size(sized_sid(1, 100), audio_format::mp3, 10) == 144);  // at least one frame
  CHECK(duration_seconds(sized_sid(1, 44 + 16000 * 3 + 15999), 10) == 3);
  CHECK(duration_seconds(sized_sid(1, 20), 10) == 0);
}

TEST_CASE("bodies are deterministic and differ between sids") {
  for (const auto format : {audio_format::wav, audio_format::mp3}) {
    const auto a = whole(normal_sid(1), format, 2);
    CHECK(a == whole(normal_sid(1), format, 2));
    CHECK(a == whole("00000001-0000-4000-8000-000000000000", format, 2));
    const auto b = whole(normal_sid(2), format, 2);
    REQUIRE(a.size() == b.size());
    CHECK(a != b);
  }
}

TEST_CASE("random access equals sequential generation") {
  for (const auto format : {audio_format::wav, audio_format::mp3}) {
    const std::string sid = sized_sid(9, 300001);
    const auto all = whole(sid, format, 10);
    const recording rec(sid, format, 10);
    REQUIRE(rec.size() == all.size());
    // Offsets across the header, odd positions, frame borders and the very end.
    const std::vector<std::pair<std::uint64_t, std::size_t>> cases{{0, 1},
                                                                   {0, 44},
                                                                   {3, 100},
                                                                   {43, 2},
                                                                   {44, 1},
                                                                   {45, 1},
                                                                   {45, 3},
                                                                   {143, 2},
                                                                   {144, 145},
                                                                   {1001, 4097},
                                                                   {all.size() - 1, 1},
                                                                   {all.size() - 3, 3},
                                                                   {all.size() / 2 + 1, 65536}};
    for (const auto& [offset, n] : cases) {
      CAPTURE(offset);
      std::vector<char> piece(n);
      rec.fill(offset, piece);
      CHECK(std::memcmp(piece.data(), all.data() + offset, n) == 0);
    }
  }
}

TEST_CASE("wav header is valid PCM 8 kHz mono 16-bit") {
  for (const std::uint64_t size : {std::uint64_t{44 + 16000 * 3}, std::uint64_t{1001}}) {
    CAPTURE(size);
    const auto b = whole(sized_sid(2, size), audio_format::wav, 10);
    REQUIRE(b.size() == size);
    CHECK(std::string(b.data(), 4) == "RIFF");
    CHECK(le32(b, 4) == size - 8);
    CHECK(std::string(b.data() + 8, 4) == "WAVE");
    CHECK(std::string(b.data() + 12, 4) == "fmt ");
    CHECK(le32(b, 16) == 16);
    CHECK(le16(b, 20) == 1);      // PCM
    CHECK(le16(b, 22) == 1);      // mono
    CHECK(le32(b, 24) == 8000);   // sample rate
    CHECK(le32(b, 28) == 16000);  // byte rate
    CHECK(le16(b, 32) == 2);      // block align
    CHECK(le16(b, 34) == 16);     // bits per sample
    CHECK(std::string(b.data() + 36, 4) == "data");
    CHECK(le32(b, 40) == size - 44);
  }
}

TEST_CASE("wav samples are low amplitude and not silent") {
  const auto b = whole(normal_sid(5), audio_format::wav, 1);
  int peak = 0;
  for (std::size_t at = 44; at + 1 < b.size(); at += 2) {
    const auto sample = static_cast<std::int16_t>(le16(b, at));
    peak = std::max(peak, sample < 0 ? -sample : static_cast<int>(sample));
  }
  CHECK(peak > 1000);
  CHECK(peak < 4000);
}

TEST_CASE("mp3 frames start with FF FB 18 C4 every 144 bytes, side info zero") {
  const auto b = whole(normal_sid(3), audio_format::mp3, 10);
  REQUIRE(b.size() % 144 == 0);
  for (std::size_t frame = 0; frame < b.size(); frame += 144) {
    CAPTURE(frame);
    REQUIRE(static_cast<unsigned char>(b[frame]) == 0xFF);
    REQUIRE(static_cast<unsigned char>(b[frame + 1]) == 0xFB);
    REQUIRE(static_cast<unsigned char>(b[frame + 2]) == 0x18);
    REQUIRE(static_cast<unsigned char>(b[frame + 3]) == 0xC4);
    for (std::size_t i = 4; i < 21; ++i) REQUIRE(b[frame + i] == 0);
    // The filler never contains a byte that could start a frame sync.
    for (std::size_t i = 21; i < 144; ++i) REQUIRE(static_cast<unsigned char>(b[frame + i]) < 0x80);
  }
}

TEST_CASE("mp3 header bits mean MPEG-1 Layer III, 32 kbps, 32 kHz, mono, no CRC") {
  const std::uint32_t h = 0xFFFB18C4;
  CHECK(((h >> 21) & 0x7FF) == 0x7FF);  // frame sync
  CHECK(((h >> 19) & 0x3) == 0x3);      // MPEG-1
  CHECK(((h >> 17) & 0x3) == 0x1);      // Layer III
  CHECK(((h >> 16) & 0x1) == 0x1);      // no CRC
  CHECK(((h >> 12) & 0xF) == 0x1);      // 32 kbps
  CHECK(((h >> 10) & 0x3) == 0x2);      // 32 kHz
  CHECK(((h >> 9) & 0x1) == 0x0);       // no padding
  CHECK(((h >> 6) & 0x3) == 0x3);       // mono
  // Frame length 144 * bitrate / sample rate + padding.
  CHECK(144 * 32000 / 32000 == mp3_frame_size);
}
