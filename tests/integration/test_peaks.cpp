// Waveform peaks (GET /v1/recordings/{AccountSid}/{Sid}/peaks.json) against laml-sim: the values
// checked against min/max worked out here from the simulator's WAV, computed once and cached as
// an object of their own, purged and tombstoned with the recording, the audio's access rules.
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace gateway_test;

namespace {

std::string peaks_path(const std::string& sid, const std::string& query = "") {
  return "/v1/recordings/" + std::string(project_id) + "/" + sid + "/peaks.json" + query;
}

// The simulator's WAV is a 44-byte header and 16-bit mono samples at 8000 Hz: min/max per
// `spp` samples, divided by 256 (truncated) as audiowaveform writes 8-bit peaks.
nlohmann::json expected_peaks(const std::string& sid, int spp) {
  const std::string wav = expected_body(sid, "wav");
  REQUIRE(wav.size() > 44);
  nlohmann::json data = nlohmann::json::array();
  const std::size_t samples = (wav.size() - 44) / 2;
  for (std::size_t first = 0; first < samples; first += static_cast<std::size_t>(spp)) {
    int lo = 32767, hi = -32768;
    for (std::size_t i = first; i < std::min(samples, first + spp); ++i) {
      std::int16_t v;
      std::memcpy(&v, wav.data() + 44 + 2 * i, 2);
      lo = std::min<int>(lo, v);
      hi = std::max<int>(hi, v);
    }
    data.push_back(lo / 256);
    data.push_back(hi / 256);
  }
  return data;
}

void check_peaks(const test_support::http_result& r, const std::string& sid, int spp) {
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == std::string("application/json"));
  auto j = nlohmann::json::parse(r.body);
  CHECK(j["version"] == 2);
  CHECK(j["channels"] == 1);
  CHECK(j["sample_rate"] == 8000);
  CHECK(j["samples_per_pixel"] == spp);
  CHECK(j["bits"] == 8);
  auto expected = expected_peaks(sid, spp);
  CHECK(j["length"] == expected.size() / 2);
  CHECK(j["data"] == expected);
  // Not flat: the simulator's audio is a tone, so the check above means something.
  CHECK(j["data"][1].get<int>() - j["data"][0].get<int>() > 10);
}

stack_options cached() {
  stack_options o;
  o.cache = true;
  return o;
}

}  // namespace

TEST_CASE("peaks: computed from the WAV, cached as their own object, a few KB for megabytes") {
  stack s(cached());
  const auto sid = laml_sim::normal_sid(900);
  auto first = s.get(peaks_path(sid));
  check_peaks(first, sid, 256);
  CHECK(first.header("X-Cache") == std::string("MISS"));
  CHECK(first.body.size() * 10 < expected_body(sid, "wav").size());
  // The WAV came through its own fill: cached too, fetched from the upstream once.
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);
  wait_for_hit(s, recording_path(sid, "wav"));

  // Again: a hit on the stored peaks, nothing upstream; another resolution is its own object.
  const auto total = s.sim_stats()["total"].get<long>();
  auto again = s.get(peaks_path(sid));
  CHECK(again.header("X-Cache") == std::string("HIT"));
  CHECK(again.body == first.body);
  CHECK(again.header("ETag").has_value());
  auto head = s.get(peaks_path(sid), with_key(), "HEAD");
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == std::to_string(first.body.size()));
  auto coarse = s.get(peaks_path(sid, "?samples_per_pixel=1024"));
  check_peaks(coarse, sid, 1024);
  CHECK(coarse.header("X-Cache") == std::string("MISS"));  // computed from the cached WAV
  CHECK(s.sim_stats()["total"].get<long>() == total);
  REQUIRE(wait_metric(s, "recgate_cache_objects", exactly(3)));  // the WAV, two resolutions
  CHECK(
      scrape(s)
          [R"(recgate_requests_total{route="peaks",status="200",consumer="billing-service",project="default"})"] >=
      4);

  // Bad resolutions: 400, nothing upstream, nothing stored.
  for (const char* q :
       {"?samples_per_pixel=100", "?samples_per_pixel=32", "?samples_per_pixel=x"}) {
    CAPTURE(q);
    check_json_error(s.get(peaks_path(sid, q)), 400);
  }
  CHECK(s.sim_stats()["total"].get<long>() == total);

  // A purge takes the peaks with the audio; they are computed again (from a new fill).
  auto purged = s.admin("DELETE", "/cache/recordings/" + std::string(project_id) + "/" + sid);
  CHECK(purged.status == 200);
  CHECK(nlohmann::json::parse(purged.body)["purged"] == 3);
  CHECK(scrape(s)["recgate_cache_objects"] == 0);
  auto recomputed = s.get(peaks_path(sid));
  CHECK(recomputed.header("X-Cache") == std::string("MISS"));
  CHECK(recomputed.body == first.body);
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 2);

  // A missing recording: the upstream's 404, remembered like audio's.
  check_json_error(s.get(peaks_path(laml_sim::absent_sid(901))), 404);
}

TEST_CASE("peaks: the audio's access rules, a signed URL for the recording, the tombstone") {
  setenv("RECGATE_TEST_SIGNING_KEY", "a-test-signing-secret-of-at-least-32-bytes", 1);
  auto o = cached();
  o.extra_config = "[[signing_keys]]\nid = \"s1\"\nsecret_env = \"RECGATE_TEST_SIGNING_KEY\"\n";
  o.extra_consumers = consumer_entry("portal", "sign", "rgk_portal") +
                      consumer_entry("books", "metadata", "rgk_books") +
                      consumer_entry("retention", "delete", "rgk_retention");
  stack s(o);
  const auto sid = laml_sim::normal_sid(910);
  check_json_error(s.get(peaks_path(sid), {}), 401);
  check_json_error(s.get(peaks_path(sid), {{"Authorization", "Bearer rgk_books"}}), 403);
  CHECK(s.sim_stats()["total"] == 0);

  // A URL signed for the recording's mp3 (format bound) also opens its peaks: same recording.
  auto minted = test_support::request(
      "127.0.0.1", s.gateway_port(), "POST", "/v1/signed-urls",
      {{"Authorization", "Bearer rgk_portal"}, {"Content-Type", "application/json"}},
      R"({"path":")" + recording_path(sid, "mp3") + R"(","ttl":"5m","bind_format":true})");
  REQUIRE(minted.status == 201);
  auto url = nlohmann::json::parse(minted.body)["url"].get<std::string>();
  auto query = url.substr(url.find('?'));
  check_peaks(s.get(peaks_path(sid, query + "&samples_per_pixel=512"), {}), sid, 512);
  // ...but not another recording's.
  check_json_error(s.get(peaks_path(laml_sim::normal_sid(911), query), {}), 403);

  // Deleted through the gateway: the peaks go with it and stay 404.
  REQUIRE(s.get(peaks_path(sid)).status == 200);
  auto deleted =
      s.get(recording_path(sid, "json"), {{"Authorization", "Bearer rgk_retention"}}, "DELETE");
  CHECK(deleted.status == 204);
  const auto total = s.sim_stats()["total"].get<long>();
  check_json_error(s.get(peaks_path(sid)), 404);
  check_json_error(s.get(peaks_path(sid, "?samples_per_pixel=512")), 404);
  CHECK(s.sim_stats()["total"].get<long>() == total);
  CHECK(scrape(s)["recgate_cache_objects"] == 0);
}

TEST_CASE("peaks without a cache: computed from the upstream's WAV for each request") {
  stack s;
  const auto sid = laml_sim::normal_sid(920);
  check_peaks(s.get(peaks_path(sid, "?samples_per_pixel=2048")), sid, 2048);
  check_peaks(s.get(peaks_path(sid, "?samples_per_pixel=2048")), sid, 2048);
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 2);
}

TEST_CASE("peaks: at most four computed at once; the fifth is 503 with Retry-After, then served") {
  stack s(cached());
  // Five recordings whose WAVs trickle in (32 KB at 8 KB/s: 4 s each), so computations stay open.
  std::vector<std::string> sids;
  for (std::uint32_t i = 0; i < 5; ++i) {
    sids.push_back(laml_sim::normal_sid(930 + i));
    s.sim_fault({{"sid", sids.back()}, {"bytes_per_second", 8 * 1024}});
  }
  std::vector<std::thread> first_four;
  std::vector<int> statuses(4, 0);
  for (std::size_t i = 0; i < 4; ++i) {
    first_four.emplace_back(
        [&, i] { statuses[i] = static_cast<int>(s.get(peaks_path(sids[i])).status); });
  }
  // Each computation holds its slot from the WAV's head on: wait until all four WAVs flow.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (s.sim_stats()["audio_in_flight"].get<long>() < 4 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(s.sim_stats()["audio_in_flight"] == 4);
  auto refused = s.get(peaks_path(sids[4]));
  check_json_error(refused, 503);
  CHECK(refused.header("Retry-After") == std::string("1"));
  for (auto& t : first_four) t.join();
  for (int status : statuses) CHECK(status == 200);
  // Not remembered: once the others are done, it is computed.
  check_peaks(s.get(peaks_path(sids[4])), sids[4], 256);
}
