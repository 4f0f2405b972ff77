// The generated files are real audio: sox must read them and report the expected duration.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>
#include <unistd.h>

#include "child_process.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace laml_sim;
namespace fs = std::filesystem;

namespace {

bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string_view rest(path);
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const fs::path dir(std::string(rest.substr(0, colon)));
    if (::access((dir / name).c_str(), X_OK) == 0) return true;
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
  }
  return false;
}

void write_file(const fs::path& file, std::string_view sid, audio_format format,
                std::uint32_t duration) {
  std::vector<char> body(body_size(sid, format, duration));
  fill_body(sid, format, duration, 0, body);
  std::ofstream out(file, std::ios::binary);
  out.write(body.data(), static_cast<std::streamsize>(body.size()));
}

// `sox --i -D file`: the duration in seconds, or NaN when sox fails.
double sox_duration(const fs::path& file) {
  test_support::child_process sox({"sox", "--i", "-D", file.string()});
  const auto code = sox.wait_exit(std::chrono::seconds(20));
  const auto lines = sox.lines();
  if (code == 0) {
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      char* end = nullptr;
      const double value = std::strtod(it->c_str(), &end);
      if (end != it->c_str() && *end == '\0') return value;
    }
  }
  for (const auto& line : lines) MESSAGE("sox: ", line);
  return std::nan("");
}

}  // namespace

TEST_CASE("sox reads the generated wav and mp3 with the expected duration") {
  if (!on_path("sox")) {
    MESSAGE("sox is not on PATH: skipped");
    return;
  }
  const fs::path dir = fs::temp_directory_path() / ("laml_sim_sox_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  constexpr std::uint32_t duration = 10;
  const std::string sid = normal_sid(42);
  const double frame = static_cast<double>(mp3_samples_per_frame) / mp3_sample_rate;

  write_file(dir / "a.wav", sid, audio_format::wav, duration);
  CHECK(std::abs(sox_duration(dir / "a.wav") - duration) < frame);

  write_file(dir / "a.mp3", sid, audio_format::mp3, duration);
  CHECK(std::abs(sox_duration(dir / "a.mp3") - duration) < frame);

  std::error_code ignored;
  fs::remove_all(dir, ignored);
}
