// Prefetch on recording status callbacks, end to end: laml-sim sends signed callbacks to recgate
// (POST /__sim/callbacks), recgate verifies them and fills its cache from laml-sim in the
// background; laml-sim's callback sink receives what recgate forwards.
#include <cstdlib>
#include <thread>

#include <doctest/doctest.h>

#include "artifacts.hpp"
#include "gateway_fixture.hpp"
#include "laml_sim/callbacks.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace gateway_test;
using nlohmann::json;

namespace {

constexpr const char* callback_key_env = "RECGATE_TEST_CALLBACK_KEY";
constexpr const char* callback_key = "PSK_test-callback-signing-key-8d1f33a0";
constexpr const char* callback_path = "/callbacks/recording-status";

std::string callbacks_config(const std::string& more = "") {
  ::setenv(callback_key_env, callback_key, 1);  // the gateway inherits it
  test_support::artifacts::add_secret(callback_key);
  return std::string("[callbacks]\npath = \"") + callback_path + "\"\nsigning_key_env = \"" +
         callback_key_env + "\"\n" + more + "\n";
}

stack_options with_callbacks(const std::string& more = "") {
  stack_options o;
  o.cache = true;
  o.extra_config = callbacks_config(more);
  return o;
}

std::string callback_url(stack& s) {
  return "http://127.0.0.1:" + std::to_string(s.gateway_port()) + callback_path;
}

// Has laml-sim send a callback for `sid` to the gateway; returns laml-sim's report:
// {"status": the gateway's answer, "body": its body, "form": what was sent, ...}.
json send_callback(stack& s, const std::string& sid, json extra = json::object()) {
  json ask{{"url", callback_url(s)}, {"sid", sid}, {"signing_key", callback_key}};
  ask.update(extra);
  auto r = test_support::request("127.0.0.1", s.sim_port(), "POST", "/__sim/callbacks",
                                 {{"Content-Type", "application/json"}}, ask.dump());
  REQUIRE_MESSAGE(r.status == 200, r.body);
  return json::parse(r.body);
}

long audio_requests(stack& s) {
  long n = 0;
  auto stats = s.sim_stats();  // kept: the loop must not walk a destroyed temporary
  for (auto& [path, count] : stats["paths"].items()) {
    if (path.find("/Recordings/") != std::string::npos && !path.ends_with(".json")) {
      n += count.get<long>();
    }
  }
  return n;
}

json sink(stack& s) {
  auto r = test_support::request("127.0.0.1", s.sim_port(), "GET", "/__sim/callback-sink");
  REQUIRE(r.status == 200);
  return json::parse(r.body)["received"];
}

// Waits until laml-sim's callback sink holds n callbacks.
json wait_sink(stack& s, std::size_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  json got = sink(s);
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    got = sink(s);
  }
  REQUIRE(got.size() >= n);
  return got;
}

}  // namespace

TEST_CASE("a signed callback prefetches the recording: the next request is a HIT, no upstream") {
  stack s(with_callbacks());
  auto sid = laml_sim::normal_sid(801);
  auto sent = send_callback(s, sid);
  CHECK(sent["status"] == 204);
  REQUIRE(wait_metric(s, "recgate_prefetches_done_total", at_least(1)));
  CHECK(scrape(s)["recgate_callbacks_received_total"] == 1);
  CHECK(scrape(s)["recgate_prefetches_started_total"] == 1);
  CHECK(scrape(s)["recgate_prefetches_failed_total"] == 0);
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);

  auto r = s.get(recording_path(sid, "wav"));
  CHECK(r.status == 200);
  CHECK(r.header("X-Cache") == std::string("HIT"));
  CHECK(r.body == expected_body(sid));
  auto bare = s.get(recording_path(sid, ""));  // no extension: the same object
  CHECK(bare.header("X-Cache") == std::string("HIT"));
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);
  CHECK(upstream_fetches(s, recording_path(sid, "mp3")) ==
        0);  // prefetch_formats defaults to ["wav"]

  SUBCASE("X-Twilio-Signature is accepted as well, and a cached recording is not fetched again") {
    auto other = laml_sim::normal_sid(802);
    CHECK(send_callback(s, other, {{"signature_header", "X-Twilio-Signature"}})["status"] == 204);
    REQUIRE(wait_metric(s, "recgate_prefetches_done_total", at_least(2)));
    CHECK(upstream_fetches(s, recording_path(other, "wav")) == 1);
    CHECK(send_callback(s, sid)["status"] == 204);
    REQUIRE(wait_metric(s, "recgate_prefetches_skipped_total", at_least(1)));
    CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);
  }
}

TEST_CASE("callbacks recgate cannot believe are refused and fetch nothing") {
  // One prefetch at a time, in order: once a later good callback's prefetch is done, any job an
  // earlier bad one had queued would have run too.
  stack s(with_callbacks("concurrency = 1"));
  auto sid = laml_sim::normal_sid(811);
  auto other = laml_sim::normal_sid(812);

  auto wrong_key = send_callback(s, sid, {{"signing_key", "PSK_not-the-key"}});
  CHECK(wrong_key["status"] == 403);
  auto body = json::parse(wrong_key["body"].get<std::string>());
  CHECK(body["status"] == 403);
  CHECK(body["code"] == 20403);
  CHECK(body.contains("more_info"));
  CHECK(send_callback(s, sid, {{"signature_header", ""}})["status"] == 403);
  // A recording Sid swapped after signing: a forged callback must not pick what gets fetched.
  CHECK(send_callback(s, sid, {{"tamper", {{"RecordingSid", other}}}})["status"] == 403);
  CHECK(send_callback(s, sid, {{"tamper", {{"RecordingStatus", "completed "}}}})["status"] == 403);
  // Signed for another URL (another host, as behind a proxy without public_url).
  CHECK(send_callback(s, sid,
                      {{"signed_url",
                        "https://gw.example.com" + std::string(callback_path)}})["status"] == 403);
  CHECK(scrape(s)["recgate_callbacks_rejected_total{reason=\"forbidden\"}"] == 5);

  // Signed, but not about a recording this gateway serves: 400.
  CHECK(send_callback(s, sid, {{"params", {{"RecordingSid", "not-a-sid"}}}})["status"] == 400);
  CHECK(send_callback(s, sid,
                      {{"account_sid", "00000000-0000-4000-8000-000000000000"}})["status"] == 400);
  CHECK(scrape(s)["recgate_callbacks_rejected_total{reason=\"invalid\"}"] == 2);

  // Not completed: acknowledged, nothing fetched.
  CHECK(send_callback(s, sid, {{"status", "in-progress"}})["status"] == 204);
  CHECK(send_callback(s, sid, {{"status", "absent"}})["status"] == 204);

  // Only POST.
  auto get = s.get(callback_path, {});
  check_json_error(get, 405);
  CHECK(get.header("Allow") == std::string("POST"));

  // The barrier: a good callback for a third recording, prefetched after all of the above.
  auto third = laml_sim::normal_sid(813);
  CHECK(send_callback(s, third)["status"] == 204);
  REQUIRE(wait_metric(s, "recgate_prefetches_done_total", at_least(1)));
  CHECK(scrape(s)["recgate_prefetches_started_total"] == 1);
  CHECK(upstream_fetches(s, recording_path(third, "wav")) == 1);
  CHECK(audio_requests(s) == 1);
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 0);
  CHECK(upstream_fetches(s, recording_path(other, "wav")) == 0);
  CHECK(scrape(s)["recgate_callbacks_received_total"] == 11);
}

TEST_CASE("the answer comes at once; a client arriving meanwhile joins the prefetch's fill") {
  stack s(with_callbacks());
  auto sid = laml_sim::sized_sid(821, 200000);
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 200000}});  // a second of upstream transfer
  CHECK(send_callback(s, sid)["status"] == 204);
  // The fill is still running after the 204: the answer did not wait for the prefetch.
  REQUIRE(wait_metric(s, "recgate_cache_fills_in_progress", at_least(1)));

  auto r = s.get(recording_path(sid, "wav"));
  CHECK(r.status == 200);
  CHECK(r.header("X-Cache") == std::string("STREAM"));
  CHECK(r.body == expected_body(sid));
  REQUIRE(wait_metric(s, "recgate_prefetches_done_total", at_least(1)));
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);
  CHECK(s.get(recording_path(sid, "wav")).header("X-Cache") == std::string("HIT"));
}

TEST_CASE("both formats when configured; the callback is forwarded after the prefetch") {
  stack s(with_callbacks(
      "prefetch_formats = [\"wav\", \"mp3\"]\n"
      "forward_url = \"http://127.0.0.1:@SIM_PORT@/__sim/callback-sink?from=recgate\""));
  auto sid = laml_sim::sized_sid(831, 100000);
  // Slow enough that a forward sent before the prefetch ended would arrive first.
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 200000}});
  auto sent = send_callback(s, sid);
  CHECK(sent["status"] == 204);

  auto got = wait_sink(s, 1);
  CHECK(got.size() == 1);
  // Both audio bodies had been sent whole when the forward arrived.
  CHECK(got[0]["audio_completed"] == 2);
  CHECK(got[0]["body"] == sent["form"]);
  CHECK(got[0]["headers"]["Content-Type"] == "application/x-www-form-urlencoded");
  CHECK(got[0]["headers"]["X-Recgate-Prefetch"] == "done");
  CHECK(got[0]["headers"].contains("X-Request-Id"));
  REQUIRE(wait_metric(s, "recgate_callback_forwards_total", at_least(1)));
  CHECK(scrape(s)["recgate_prefetches_done_total"] == 2);
  CHECK(s.get(recording_path(sid, "mp3")).header("X-Cache") == std::string("HIT"));
  CHECK(s.get(recording_path(sid, "wav")).header("X-Cache") == std::string("HIT"));
  CHECK(upstream_fetches(s, recording_path(sid, "mp3")) == 1);
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);

  SUBCASE("a callback that is not about a completed recording is forwarded without a fetch") {
    auto other = laml_sim::normal_sid(832);
    auto absent = send_callback(s, other, {{"status", "absent"}});
    CHECK(absent["status"] == 204);
    auto both = wait_sink(s, 2);
    CHECK(both[1]["body"] == absent["form"]);
    CHECK(both[1]["headers"]["X-Recgate-Prefetch"] == "none");
    CHECK(upstream_fetches(s, recording_path(other, "wav")) == 0);
  }
  SUBCASE("a refused callback is not forwarded") {
    CHECK(send_callback(s, sid, {{"signing_key", "wrong"}})["status"] == 403);
    CHECK(send_callback(s, laml_sim::normal_sid(833), {{"status", "failed"}})["status"] == 204);
    auto received = wait_sink(s, 2);
    CHECK(received.size() == 2);  // the first callback and the last one only
    CHECK(received[1]["headers"]["X-Recgate-Prefetch"] == "none");
  }
}

TEST_CASE("a recording the upstream does not have: the prefetch fails, the forward says so") {
  stack s(with_callbacks("forward_url = \"http://127.0.0.1:@SIM_PORT@/__sim/callback-sink\""));
  auto sid = laml_sim::absent_sid(836);
  CHECK(send_callback(s, sid)["status"] == 204);
  auto got = wait_sink(s, 1);
  CHECK(got[0]["headers"]["X-Recgate-Prefetch"] == "failed");
  CHECK(scrape(s)["recgate_prefetches_failed_total"] == 1);
  CHECK(scrape(s)["recgate_prefetches_done_total"] == 0);
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);
  CHECK(s.get(recording_path(sid, "wav")).status == 404);  // the remembered 404: no new fetch
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);
}

TEST_CASE("a forward that fails is counted and logged") {
  stack s(with_callbacks("forward_url = \"http://127.0.0.1:1/nowhere\"\nforward_timeout = \"2s\""));
  auto sid = laml_sim::normal_sid(841);
  CHECK(send_callback(s, sid)["status"] == 204);
  REQUIRE(wait_metric(s, "recgate_callback_forward_failures_total", at_least(1)));
  CHECK(scrape(s)["recgate_prefetches_done_total"] == 1);
  CHECK(s.wait_gateway_output("not forwarded"));
}

TEST_CASE("prefetches run at most `concurrency` at once") {
  stack s(with_callbacks("concurrency = 2"));
  std::vector<std::string> sids;
  for (int i = 0; i < 5; ++i) {
    sids.push_back(laml_sim::sized_sid(850 + i, 60000));
    // Half a second each, so they overlap unless something holds them back.
    s.sim_fault({{"sid", sids.back()}, {"bytes_per_second", 120000}});
  }
  for (const auto& sid : sids) CHECK(send_callback(s, sid)["status"] == 204);
  REQUIRE(wait_metric(s, "recgate_prefetches_done_total", at_least(5)));
  auto stats = s.sim_stats();
  CHECK(stats["max_audio_in_flight"] == 2);  // never more, and the bound was used
  CHECK(stats["audio_completed"] == 5);
  for (const auto& sid : sids) CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);
  CHECK(scrape(s)["recgate_prefetches_running"] == 0);
  CHECK(scrape(s)["recgate_prefetch_queue_length"] == 0);
}

TEST_CASE("a full prefetch queue answers 503 and keeps memory bounded") {
  stack s(with_callbacks("concurrency = 1\nqueue_limit = 1"));
  std::vector<std::string> sids;
  for (int i = 0; i < 4; ++i) {
    sids.push_back(laml_sim::sized_sid(860 + i, 100000));
    s.sim_fault({{"sid", sids.back()}, {"bytes_per_second", 50000}});  // two seconds each
  }
  CHECK(send_callback(s, sids[0])["status"] == 204);
  REQUIRE(wait_metric(s, "recgate_prefetches_running", exactly(1)));  // running
  CHECK(send_callback(s, sids[1])["status"] == 204);                  // waiting
  auto refused = send_callback(s, sids[2]);
  CHECK(refused["status"] == 503);
  CHECK(json::parse(refused["body"].get<std::string>())["status"] == 503);
  CHECK(s.wait_gateway_output("prefetch queue full"));

  // The same, signed here and POSTed straight to the gateway, to see the whole answer.
  const laml_sim::form_fields form{
      {"AccountSid", project_id}, {"RecordingSid", sids[3]}, {"RecordingStatus", "completed"}};
  auto direct =
      test_support::request("127.0.0.1", s.gateway_port(), "POST", callback_path,
                            {{"Content-Type", "application/x-www-form-urlencoded"},
                             {"X-SignalWire-Signature",
                              laml_sim::webhook_signature(callback_key, callback_url(s), form)}},
                            laml_sim::form_encode(form));
  check_json_error(direct, 503);
  CHECK(direct.header("Retry-After") == std::string("1"));

  // Each refusal counted once, under its own name (not also as a rejected callback).
  auto m = scrape(s);
  CHECK(m["recgate_prefetch_queue_refused_total"] == 2);
  CHECK(m["recgate_callbacks_received_total"] == 4);
  for (const auto& [series, value] : m) {
    CAPTURE(series);
    if (series.starts_with("recgate_callbacks_rejected_total")) CHECK(value == 0);
  }
  REQUIRE(wait_metric(s, "recgate_prefetches_done_total", at_least(2)));
  CHECK(upstream_fetches(s, recording_path(sids[0], "wav")) == 1);
  CHECK(upstream_fetches(s, recording_path(sids[1], "wav")) == 1);
  CHECK(upstream_fetches(s, recording_path(sids[2], "wav")) == 0);
  CHECK(upstream_fetches(s, recording_path(sids[3], "wav")) == 0);
}

TEST_CASE("behind a proxy, public_url is the URL the signature covers") {
  stack s(with_callbacks("public_url = \"https://recordings.example.com/\""));
  auto sid = laml_sim::normal_sid(871);
  std::string public_callback = "https://recordings.example.com" + std::string(callback_path);
  CHECK(send_callback(s, sid, {{"signed_url", public_callback}})["status"] == 204);
  // Signed for the address recgate itself listens on: not what SignalWire was configured with.
  CHECK(send_callback(s, sid)["status"] == 403);
  REQUIRE(wait_metric(s, "recgate_prefetches_done_total", at_least(1)));
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);
}

TEST_CASE("the signing key appears nowhere in the gateway's output") {
  stack s(with_callbacks());
  auto sid = laml_sim::normal_sid(881);
  CHECK(send_callback(s, sid, {{"signing_key", "wrong"}})["status"] == 403);
  CHECK(send_callback(s, sid)["status"] == 204);
  REQUIRE(wait_metric(s, "recgate_prefetches_done_total", at_least(1)));
  auto lines = s.stop_gateway();
  bool logged_callback = false;
  for (const auto& line : lines) {
    CHECK(line.find(callback_key) == std::string::npos);
    logged_callback =
        logged_callback || line.find("recording status callback") != std::string::npos;
  }
  CHECK(logged_callback);
}

TEST_CASE("a callback saying a recording is gone (absent, failed, deleted) purges it for good") {
  stack s(with_callbacks());
  auto sid = laml_sim::normal_sid(820);
  REQUIRE(s.get(recording_path(sid, "wav")).status == 200);
  REQUIRE(wait_metric(s, "recgate_cache_objects", at_least(1)));
  auto fetches = upstream_fetches(s, recording_path(sid, "wav"));

  for (const char* status : {"absent", "failed", "deleted"}) {
    CAPTURE(status);
    CHECK(send_callback(s, sid, {{"status", status}})["status"] == 204);
  }
  CHECK(scrape(s)["recgate_cache_tombstones"] == 1);
  CHECK(scrape(s)["recgate_cache_objects"] == 0);
  // Gone from the cache, and never asked of the upstream again.
  check_json_error(s.get(recording_path(sid, "wav")), 404);
  check_json_error(s.get(recording_path(sid, "json")), 404);
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == fetches);
  CHECK(upstream_fetches(s, recording_path(sid, "json")) == 0);

  // Other statuses only acknowledge.
  auto other = laml_sim::normal_sid(821);
  REQUIRE(s.get(recording_path(other, "wav")).status == 200);
  CHECK(send_callback(s, other, {{"status", "in-progress"}})["status"] == 204);
  CHECK(scrape(s)["recgate_cache_tombstones"] == 1);
  CHECK(s.get(recording_path(other, "wav")).header("X-Cache") == std::string("HIT"));
}
