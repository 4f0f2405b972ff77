#include "artifacts.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>

#include <unistd.h>

namespace test_support::artifacts {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t max_body = 1 << 20;
constexpr std::size_t audio_edge = 8 * 1024;

struct recorder {
  std::mutex mutex;
  fs::path root;  // empty: recording is off
  fs::path scan;
  std::set<std::string> secrets;
  std::set<unsigned short> ports;
  std::set<std::size_t> bodies;  // hashes of the bodies kept so far: each is kept once
  unsigned outputs = 0;

  recorder() {
    const char* dir = std::getenv("RECGATE_TEST_ARTIFACTS");
    if (dir == nullptr || *dir == '\0') return;
    root = dir;
    scan = root / "scan" / std::to_string(::getpid());
    std::error_code ec;
    fs::create_directories(scan, ec);
    if (!ec) fs::create_directories(root / "secrets", ec);
    // Not fatal here: the sweep then finds nothing recorded and fails, saying so.
    if (ec) std::cerr << "artifacts: cannot create " << scan << ": " << ec.message() << "\n";
  }
};

recorder& the_recorder() {
  static recorder r;
  return r;
}

// The body as kept: whole, or its two ends around a note of what was left out.
std::string kept_body(std::string_view body, bool audio) {
  std::size_t edge = audio ? audio_edge : max_body / 2;
  if (body.size() <= 2 * edge) return std::string(body);
  return std::string(body.substr(0, edge)) + "\n[... " + std::to_string(body.size() - 2 * edge) +
         " bytes not kept ...]\n" + std::string(body.substr(body.size() - edge));
}

void append(const fs::path& file, std::string_view text) {
  std::ofstream out(file, std::ios::binary | std::ios::app);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

}  // namespace

bool enabled() { return !the_recorder().root.empty(); }

void add_secret(std::string_view secret) {
  auto& r = the_recorder();
  if (r.root.empty() || secret.empty()) return;
  std::lock_guard lock(r.mutex);
  if (!r.secrets.emplace(secret).second) return;
  append(r.root / "secrets" / (std::to_string(::getpid()) + ".txt"), std::string(secret) + "\n");
}

void watch_port(unsigned short port) {
  auto& r = the_recorder();
  if (r.root.empty()) return;
  std::lock_guard lock(r.mutex);
  r.ports.insert(port);
}

void unwatch_port(unsigned short port) {
  auto& r = the_recorder();
  if (r.root.empty()) return;
  std::lock_guard lock(r.mutex);
  r.ports.erase(port);
}

void save_output(std::string_view name, const std::vector<std::string>& lines) {
  auto& r = the_recorder();
  if (r.root.empty()) return;
  std::string text;
  for (const auto& l : lines) text.append(l).append("\n");
  std::lock_guard lock(r.mutex);
  append(r.scan / ("output-" + std::to_string(++r.outputs) + "-" + std::string(name) + ".log"),
         text);
}

void record_response(unsigned short port, const http_result& result) {
  auto& r = the_recorder();
  if (r.root.empty()) return;
  std::lock_guard lock(r.mutex);
  // Most exchanges are with other ports (the simulator, admin): nothing to build for them.
  if (!r.ports.contains(port)) return;
  std::string text = "--- response from port " + std::to_string(port) + "\n";
  if (result.status != 0) text += "HTTP/1.1 " + std::to_string(result.status) + "\n";
  for (const auto& [name, value] : result.headers) text += name + ": " + value + "\n";
  text += "\n";
  const auto type = result.header("Content-Type").value_or("");
  // The same recording is answered thousands of times in a run: what is kept of a body is kept
  // once. Only the kept text is hashed (the sweep sees nothing else), never megabytes of audio.
  auto kept = kept_body(result.body, type.starts_with("audio/"));
  if (r.bodies.insert(std::hash<std::string>{}(kept)).second) {
    text += kept + "\n";
  } else {
    text += "[the same text as a body kept before, from " + std::to_string(result.body.size()) +
            " bytes]\n";
  }
  append(r.scan / "responses.txt", text);
}

void record_raw(unsigned short port, std::string_view received) {
  auto& r = the_recorder();
  if (r.root.empty()) return;
  std::lock_guard lock(r.mutex);
  if (!r.ports.contains(port)) return;
  append(r.scan / "responses.txt", "--- raw exchange with port " + std::to_string(port) + "\n" +
                                       kept_body(received, false) + "\n");
}

}  // namespace test_support::artifacts
