// A real browser seeks in a recording through the gateway: headless Chromium (Debian's package,
// which scripts/setup-deps installs) loads an <audio> element from a signed URL, seeks to 90% of a
// 10-minute WAV and plays on from there, through the gateway without a cache (its Range goes
// upstream) and with one. The upstream sends at 256 KiB/s, so reaching 90% by reading from the
// start would take ~34 s: only a Range answered from there plays within seconds. The page
// reports what it saw to laml-sim's /__sim/callback-sink.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace gateway_test;
using json = nlohmann::json;

namespace {

std::string chromium_binary() {
  for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (std::filesystem::exists(path)) return path;
  return {};
}

struct playback {
  std::string report;  // what the page said: "played duration=D at=T", or what went wrong
  json sim;            // laml-sim's request counts afterwards
};

playback seek_and_play(bool cache) {
  setenv("RECGATE_TEST_SIGNING_KEY", "a-test-signing-secret-of-at-least-32-bytes", 1);
  stack_options o;
  o.cache = cache;
  o.sim_seconds = 600;  // 10 minutes: 9.6 MB of WAV
  o.extra_config = "[[signing_keys]]\nid = \"s1\"\nsecret_env = \"RECGATE_TEST_SIGNING_KEY\"\n";
  o.extra_consumers = consumer_entry("portal", "sign", "rgk_portal");
  stack s(o);
  auto sid = laml_sim::normal_sid(700);
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 256 * 1024}});
  auto minted = test_support::request(
      "127.0.0.1", s.gateway_port(), "POST", "/v1/signed-urls",
      {{"Authorization", "Bearer rgk_portal"}, {"Content-Type", "application/json"}},
      json{{"path", recording_path(sid, "wav")}, {"ttl", "10m"}}.dump());
  REQUIRE(minted.status == 201);
  const auto url = json::parse(minted.body)["url"].get<std::string>();
  REQUIRE(url.starts_with("/"));

  const std::string media = "http://127.0.0.1:" + std::to_string(s.gateway_port()) + url;
  const std::string sink =
      "http://127.0.0.1:" + std::to_string(s.sim_port()) + "/__sim/callback-sink";
  const auto page = s.dir() / "player.html";
  std::ofstream(page) << R"(<!doctype html><html><body>
<audio id="a" preload="auto" src=")"
                      << media << R"("></audio>
<script>
const a = document.getElementById('a');
let reported = false;
function report(text) {
  if (reported) return;
  reported = true;
  fetch(')" << sink << R"(', {method: 'POST', mode: 'no-cors', body: text});
}
let seekStarted = 0;
a.addEventListener('loadedmetadata', () => {
  seekStarted = performance.now();
  a.currentTime = a.duration * 0.9;
});
a.addEventListener('seeked', () => { a.play().catch(e => report('play failed: ' + e)); });
a.addEventListener('timeupdate', () => {
  if (a.currentTime > a.duration * 0.9 + 0.5) {
    report('played duration=' + a.duration + ' at=' + a.currentTime +
           ' after_ms=' + Math.round(performance.now() - seekStarted));
  }
});
a.addEventListener('error', () => report('media error ' + a.error.code + ': ' + a.error.message));
setTimeout(() => report('gave up: readyState=' + a.readyState + ' currentTime=' + a.currentTime +
                        ' seekable=' + a.seekable.length), 45000);
</script></body></html>
)";

  test_support::child_process browser(
      {chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
       "--autoplay-policy=no-user-gesture-required",
       "--user-data-dir=" + (s.dir() / "chromium").string(), "file://" + page.string()});
  playback out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (out.report.empty() && std::chrono::steady_clock::now() < deadline) {
    auto received = json::parse(s.sim_get("/__sim/callback-sink").body)["received"];
    if (!received.empty()) {
      out.report = received[0]["body"].get<std::string>();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  browser.terminate();
  if (out.report.empty()) {
    for (const auto& line : browser.lines()) MESSAGE(line);
  }
  out.sim = s.sim_stats();
  return out;
}

}  // namespace

TEST_CASE("Chromium seeks to 90% of a 10-minute WAV and plays on, with and without a cache") {
  REQUIRE_MESSAGE(!chromium_binary().empty(),
                  "Chromium is not installed (scripts/setup-deps installs Debian's chromium)");
  for (bool cache : {false, true}) {
    CAPTURE(cache);
    auto got = seek_and_play(cache);
    CAPTURE(got.report);
    double duration = 0;
    double at = 0;
    double after_ms = 0;
    REQUIRE(std::sscanf(got.report.c_str(), "played duration=%lf at=%lf after_ms=%lf", &duration,
                        &at, &after_ms) == 3);
    CHECK(duration == doctest::Approx(600).epsilon(0.001));
    CHECK(at > 540.5);
    // From the seek to half a second played: seconds, where reading up to 90% would take ~34 s.
    CHECK(after_ms < 15000);
    if (!cache) {
      // The seek reached the upstream as a Range: nothing else could start at 90%.
      CHECK(got.sim["ranges"].get<long>() >= 1);
    }
  }
}
