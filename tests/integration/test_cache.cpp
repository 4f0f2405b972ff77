// The audio cache end to end: laml-sim upstream, recgate with a real RocksDB in a temp folder.
#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <thread>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cache/store.hpp"
#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace gateway_test;

namespace {

stack_options cached() {
  stack_options o;
  o.cache = true;
  return o;
}

std::string bytes_of(const std::string& sid, std::uint64_t offset, std::uint64_t size) {
  std::string out(size, '\0');
  laml_sim::fill_body(sid, laml_sim::audio_format::wav, sim_duration, offset,
                      std::span<char>(out.data(), out.size()));
  return out;
}

// Waits until a fill is running: the simulator has seen its request.
void wait_for_fill_start(stack& s, const std::string& sid) {
  const auto path = recording_path(sid, "wav");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (upstream_fetches(s, path) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  REQUIRE(upstream_fetches(s, path) > 0);
}

}  // namespace

TEST_CASE("100 concurrent cold requests: one upstream fetch, 100 identical bodies") {
  stack s(cached());
  auto sid = laml_sim::sized_sid(101, 1 << 20);
  // Slow enough that all requests arrive while the fill is running.
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 4 << 20}});
  std::vector<test_support::http_result> results(100);
  std::vector<std::thread> clients;
  // 100 MiB to 100 clients on the same machine: under ThreadSanitizer (scripts/test-sanitizers)
  // that takes several times the default 10 s.
  for (auto& r : results) {
    clients.emplace_back([&s, &r, &sid] {
      r = test_support::request("127.0.0.1", s.gateway_port(), "GET", recording_path(sid, "wav"),
                                with_key(), {}, std::chrono::seconds(60));
    });
  }
  for (auto& t : clients) t.join();

  auto expected = expected_body(sid);
  std::map<std::string, int> labels;
  for (const auto& r : results) {
    INFO(r.error);
    REQUIRE(r.ok());
    CHECK(r.status == 200);
    CHECK(r.body == expected);
    labels[r.header("X-Cache").value_or("none")]++;
  }
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);
  CHECK(labels["MISS"] == 1);
  CHECK(labels["MISS"] + labels["STREAM"] + labels["HIT"] == 100);
  std::vector<long> first_byte, done;
  for (const auto& r : results) {
    first_byte.push_back(r.header_time.count());
    done.push_back(r.total_time.count());
  }
  std::sort(first_byte.begin(), first_byte.end());
  std::sort(done.begin(), done.end());
  MESSAGE("MISS " << labels["MISS"] << ", STREAM " << labels["STREAM"] << ", HIT " << labels["HIT"]
                  << "; headers after median " << first_byte[50] << " ms, max " << first_byte[99]
                  << " ms; complete after median " << done[50] << " ms, max " << done[99]
                  << " ms (the upstream needs 250 ms)");
}

TEST_CASE(".wav and no extension are one object; it survives a restart") {
  stack s(cached());
  auto sid = laml_sim::normal_sid(102);
  auto first = s.get(recording_path(sid, "wav"));
  REQUIRE(first.ok());
  CHECK(first.header("X-Cache") == std::string("MISS"));
  wait_for_hit(s, recording_path(sid, "wav"));
  auto second = s.get(recording_path(sid, "", ""));
  REQUIRE(second.ok());
  CHECK(second.header("X-Cache") == std::string("HIT"));
  CHECK(second.body == first.body);
  CHECK(first.body == expected_body(sid));
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);

  s.restart_gateway();
  auto after = s.get(recording_path(sid, "wav"));
  REQUIRE(after.ok());
  CHECK(after.header("X-Cache") == std::string("HIT"));
  CHECK(after.body == first.body);
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);

  // mp3 is another object; metadata is never cached (metadata_ttl defaults to 0).
  REQUIRE(s.get(recording_path(sid, "mp3")).ok());
  REQUIRE(s.get(recording_path(sid, "mp3")).ok());
  CHECK(upstream_fetches(s, recording_path(sid, "mp3")) == 1);
  REQUIRE(s.get(recording_path(sid, "json")).ok());
  REQUIRE(s.get(recording_path(sid, "json")).ok());
  CHECK(upstream_fetches(s, recording_path(sid, "json")) == 2);
}

TEST_CASE("cached audio: ranges, validators, HEAD") {
  stack s(cached());
  auto sid = laml_sim::sized_sid(103, 600000);
  auto path = recording_path(sid, "wav");
  auto full = s.get(path);
  REQUIRE(full.ok());
  auto etag = wait_for_hit(s, path).header("ETag");
  REQUIRE(etag);
  CHECK(full.header("Accept-Ranges") == std::string("bytes"));
  CHECK(full.header("Cache-Control") == std::string("private, max-age=31536000, immutable"));

  SUBCASE("single ranges") {
    struct want {
      const char* range;
      std::uint64_t first, last;
    };
    for (auto w : {want{"bytes=0-99", 0, 99}, want{"bytes=299990-300010", 299990, 300010},
                   want{"bytes=599000-", 599000, 599999}, want{"bytes=-10", 599990, 599999},
                   want{"bytes=262140-262150", 262140, 262150}}) {  // across a chunk boundary
      CAPTURE(w.range);
      auto r = s.get(path, with_key({{"Range", w.range}}));
      REQUIRE(r.ok());
      CHECK(r.status == 206);
      CHECK(r.header("Content-Range") ==
            "bytes " + std::to_string(w.first) + "-" + std::to_string(w.last) + "/600000");
      CHECK(r.body == bytes_of(sid, w.first, w.last - w.first + 1));
    }
  }
  SUBCASE("unsatisfiable: 416") {
    auto r = s.get(path, with_key({{"Range", "bytes=600000-"}}));
    CHECK(r.status == 416);
    CHECK(r.header("Content-Range") == std::string("bytes */600000"));
  }
  SUBCASE("several ranges: the whole body") {
    auto r = s.get(path, with_key({{"Range", "bytes=0-1,10-11"}}));
    CHECK(r.status == 200);
    CHECK(r.body.size() == 600000);
  }
  SUBCASE("If-Range") {
    auto match = s.get(path, with_key({{"Range", "bytes=0-9"}, {"If-Range", *etag}}));
    CHECK(match.status == 206);
    auto stale = s.get(path, with_key({{"Range", "bytes=0-9"}, {"If-Range", "\"stale\""}}));
    CHECK(stale.status == 200);
    CHECK(stale.body.size() == 600000);
  }
  SUBCASE("If-None-Match: 304") {
    auto r = s.get(path, with_key({{"If-None-Match", *etag}}));
    CHECK(r.status == 304);
    CHECK(r.body.empty());
    CHECK(r.header("ETag") == etag);
    CHECK(s.get(path, with_key({{"If-None-Match", "\"other\""}})).status == 200);
  }
  SUBCASE("HEAD from the manifest") {
    auto r = s.get(path, with_key(), "HEAD");
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    CHECK(r.header("Content-Length") == std::string("600000"));
    CHECK(r.header("ETag") == etag);
    CHECK(r.header("X-Cache") == std::string("HIT"));
  }
  CHECK(upstream_fetches(s, path) == 1);
}

TEST_CASE("a fill in progress: others read it as it grows, ranges answer at once") {
  stack s(cached());
  auto sid = laml_sim::sized_sid(104, 1 << 20);
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 512 << 10}});  // 2 s for the whole
  auto path = recording_path(sid, "wav");
  test_support::http_result leader;
  std::thread first([&] { leader = s.get(path); });

  wait_for_fill_start(s, sid);
  auto ranged = s.get(path, with_key({{"Range", "bytes=0-99"}}));
  auto joined = s.get(path);
  first.join();

  REQUIRE(ranged.ok());
  CHECK(ranged.status == 206);
  CHECK(ranged.header("X-Cache") == std::string("STREAM"));
  CHECK(ranged.body == bytes_of(sid, 0, 100));
  CHECK(ranged.total_time < std::chrono::milliseconds(1000));  // long before the fill ends
  REQUIRE(joined.ok());
  CHECK(joined.header("X-Cache") == std::string("STREAM"));
  CHECK(joined.body == expected_body(sid));
  CHECK(joined.header_time < std::chrono::milliseconds(1000));  // not held until the fill ends
  REQUIRE(leader.ok());
  CHECK(leader.body == expected_body(sid));
  CHECK(upstream_fetches(s, path) == 1);
}

TEST_CASE("a fill outlives the client that started it") {
  stack s(cached());
  auto sid = laml_sim::sized_sid(105, 1 << 20);
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 2 << 20}});
  auto path = recording_path(sid, "wav");
  // The first client gives up after 150 ms, a fraction of the body in.
  auto gone = test_support::request("127.0.0.1", s.gateway_port(), "GET", path, with_key(), {},
                                    std::chrono::milliseconds(150));
  CHECK_FALSE(gone.ok());
  auto next = s.get(path);  // joins the fill still running, or hits its result
  REQUIRE(next.ok());
  CHECK(next.body == expected_body(sid));
  CHECK(next.header("X-Cache") != std::string("MISS"));
  CHECK(wait_for_hit(s, path).header("Content-Length") == std::to_string(1 << 20));
  CHECK(upstream_fetches(s, path) == 1);
}

TEST_CASE("broken upstream bodies are never committed; the next request fetches again") {
  stack s(cached());
  for (const char* fault : {"reset_after", "short_by"}) {
    CAPTURE(fault);
    auto sid = laml_sim::sized_sid(std::string(fault) == "reset_after" ? 106 : 107, 700000);
    auto path = recording_path(sid, "wav");
    s.sim_fault({{"sid", sid}, {fault, std::string(fault) == "reset_after" ? 300000 : 1000}});
    auto broken = s.get(path);
    CHECK_FALSE(broken.ok());
    CHECK(broken.body.size() < 700000);
    s.sim_clear_faults();
    auto good = s.get(path);
    REQUIRE(good.ok());
    CHECK(good.header("X-Cache") == std::string("MISS"));
    CHECK(good.body == expected_body(sid));
    wait_for_hit(s, path);
    CHECK(upstream_fetches(s, path) == 2);
  }
}

TEST_CASE("upstream errors on audio are passed on and never cached") {
  auto o = cached();
  o.extra_cache = "negative_ttl = 0";
  stack s(o);
  auto sid = laml_sim::absent_sid(108);
  for (int i = 0; i < 2; ++i) {
    auto r = s.get(recording_path(sid, "wav"));
    CHECK(r.status == 404);
    CHECK(nlohmann::json::parse(r.body)["status"] == 404);
  }
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) ==
        2);  // negative_ttl 0: nothing remembered
  auto failing = laml_sim::normal_sid(109);
  s.sim_fault({{"sid", failing}, {"status", 503}});
  CHECK(s.get(recording_path(failing, "wav")).status == 502);
  s.sim_clear_faults();
  auto ok = s.get(recording_path(failing, "wav"));
  CHECK(ok.status == 200);
  CHECK(ok.header("X-Cache") == std::string("MISS"));
}

TEST_CASE("purge removes every format of a recording, from the admin path and the CLI") {
  stack s(cached());
  auto sid = laml_sim::normal_sid(110);
  for (auto ext : {"wav", "mp3"}) {
    REQUIRE(s.get(recording_path(sid, ext)).ok());
    wait_for_hit(s, recording_path(sid, ext));
    auto hit = s.get(recording_path(sid, ext));
    CHECK(hit.header("X-Cache") == std::string("HIT"));
  }
  auto stats = nlohmann::json::parse(s.admin("GET", "/cache/stats").body);
  CHECK(stats["objects"] == 2);
  CHECK(stats["misses"] == 2);
  CHECK(stats["store"]["held_chunks"] > 0);  // the hits' chunks, in memory

  auto purged = s.admin("DELETE", "/cache/recordings/" + std::string(project_id) + "/" + sid);
  CHECK(purged.status == 200);
  CHECK(nlohmann::json::parse(purged.body)["purged"] == 2);
  CHECK(s.get(recording_path(sid, "wav"), with_key(), "HEAD").header("X-Cache") ==
        std::string("MISS"));
  auto after = nlohmann::json::parse(s.admin("GET", "/cache/stats").body);
  CHECK(after["objects"] == 0);
  CHECK(after["store"]["held_chunks"] == 0);  // purged means gone from memory too

  // Bad input on the admin path: clear answers.
  CHECK(s.admin("DELETE", "/cache/recordings/x/y").status == 400);
  CHECK(s.admin("GET", "/cache/recordings/" + std::string(project_id) + "/" + sid).status == 405);
  CHECK(s.admin("GET", "/nope").status == 404);
  CHECK(s.admin("GET", "/healthz").status == 200);

  // The CLI goes through the same admin listener.
  REQUIRE(s.get(recording_path(sid, "wav")).ok());
  wait_for_hit(s, recording_path(sid, "wav"));
  std::string admin = "127.0.0.1:" + std::to_string(s.admin_port());
  test_support::child_process stats_cli({RECGATE_BIN, "cache", "stats", "--admin", admin});
  CHECK(stats_cli.wait_exit(std::chrono::seconds(10)) == 0);
  CHECK(stats_cli.wait_for_line([](std::string_view l) { return l == "objects 1"; },
                                std::chrono::seconds(1)));
  test_support::child_process purge_cli(
      {RECGATE_BIN, "cache", "purge", "--admin", admin, "--account", project_id, "--sid", sid});
  CHECK(purge_cli.wait_exit(std::chrono::seconds(10)) == 0);
  CHECK(purge_cli.wait_for_line([](std::string_view l) { return l == "purged 1"; },
                                std::chrono::seconds(1)));
  CHECK(s.get(recording_path(sid, "wav"), with_key(), "HEAD").header("X-Cache") ==
        std::string("MISS"));
}

TEST_CASE("max_bytes: the least recently used recordings leave, the store stays under the limit") {
  auto o = cached();
  o.extra_cache = "max_bytes = 2500000\nchunk_size = 65536";
  stack s(o);
  auto a = laml_sim::sized_sid(121, 1000000);
  auto b = laml_sim::sized_sid(122, 1000000);
  auto c = laml_sim::sized_sid(123, 1000000);
  for (const auto& sid : {a, b}) {
    REQUIRE(s.get(recording_path(sid, "wav")).ok());
    wait_for_hit(s, recording_path(sid, "wav"));
  }
  REQUIRE(s.get(recording_path(a, "wav")).ok());  // a is now more recent than b
  REQUIRE(s.get(recording_path(c, "wav")).ok());  // 3 MB > 2.5 MB: b must go
  wait_for_hit(s, recording_path(c, "wav"));
  auto stats = nlohmann::json::parse(s.admin("GET", "/cache/stats").body);
  CHECK(stats["bytes"].get<long>() <= 2500000);
  CHECK(stats["evictions"] == 1);
  CHECK(s.get(recording_path(a, "wav"), with_key(), "HEAD").header("X-Cache") ==
        std::string("HIT"));
  auto again = s.get(recording_path(b, "wav"));
  CHECK(again.header("X-Cache") == std::string("MISS"));
  CHECK(again.body == expected_body(b));
  CHECK(upstream_fetches(s, recording_path(b, "wav")) == 2);
}

TEST_CASE("max_age: recordings leave after their age, popular or not") {
  auto o = cached();
  o.extra_cache = "max_age = \"1s\"";
  stack s(o);
  auto sid = laml_sim::normal_sid(124);
  auto path = recording_path(sid, "wav");
  REQUIRE(s.get(path).ok());
  wait_for_hit(s, path);
  // Keep asking; within a few seconds the object must stop being a hit, by age alone.
  bool expired = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!expired && std::chrono::steady_clock::now() < deadline) {
    expired = s.get(path, with_key(), "HEAD").header("X-Cache") == std::string("MISS");
  }
  CHECK(expired);
  CHECK(nlohmann::json::parse(s.admin("GET", "/cache/stats").body)["expirations"] == 1);
  auto again = s.get(path);
  CHECK(again.header("X-Cache") == std::string("MISS"));
  CHECK(again.body == expected_body(sid));
}

TEST_CASE("an upstream 404 for audio is remembered for negative_ttl") {
  auto o = cached();
  o.extra_cache = "negative_ttl = \"1m\"";
  stack s(o);
  auto sid = laml_sim::absent_sid(125);
  for (int i = 0; i < 5; ++i) CHECK(s.get(recording_path(sid, "wav")).status == 404);
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 1);
  CHECK(nlohmann::json::parse(s.admin("GET", "/cache/stats").body)["negative_hits"] == 4);
  // A purge forgets it too.
  s.admin("DELETE", "/cache/recordings/" + std::string(project_id) + "/" + sid);
  CHECK(s.get(recording_path(sid, "wav")).status == 404);
  CHECK(upstream_fetches(s, recording_path(sid, "wav")) == 2);
}

TEST_CASE("a range far beyond a fill's progress is answered at once, the fill goes on") {
  stack s(cached());
  auto sid = laml_sim::sized_sid(126, 4 << 20);
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 1 << 20}});  // 4 s for the whole recording
  auto path = recording_path(sid, "wav");
  auto r = s.get(path, with_key({{"Range", "bytes=4000000-4000099"}}));
  REQUIRE(r.ok());
  CHECK(r.status == 206);
  CHECK(r.header("Content-Range") == std::string("bytes 4000000-4000099/4194304"));
  CHECK(r.body == bytes_of(sid, 4000000, 100));
  CHECK(r.header("X-Cache") == std::string("RANGE"));
  CHECK(r.total_time < std::chrono::milliseconds(1500));  // the fill needs 4 s to get there
  auto stats = s.sim_stats();
  CHECK(stats["ranges"] == 1);            // one direct range request ...
  CHECK(upstream_fetches(s, path) == 2);  // ... besides the fill's own request
  auto gw_stats = nlohmann::json::parse(s.admin("GET", "/cache/stats").body);
  CHECK(gw_stats["fills_in_progress"] == 1);  // which is still running
  // A range the fill has nearly reached waits for the fill instead.
  auto near = s.get(path, with_key({{"Range", "bytes=0-99"}}));
  CHECK(near.header("X-Cache") == std::string("STREAM"));
  CHECK(s.sim_stats()["ranges"] == 1);
}

TEST_CASE("a far seek that starts a fill asks for its range at once, beside the fill") {
  auto o = cached();
  o.upstream_header_timeout = "3s";  // above the latency below
  stack s(o);
  auto sid = laml_sim::sized_sid(128, 4 << 20);
  // Every upstream answer waits 1.5 s: waiting for the fill's head before asking for the range
  // would take two of those, far more than any scheduling delay.
  s.sim_fault({{"sid", sid}, {"latency_ms", 1500}, {"bytes_per_second", 1 << 20}});
  auto path = recording_path(sid, "wav");
  auto r = s.get(path, with_key({{"Range", "bytes=3000000-"}}));  // open-ended, as players send
  REQUIRE(r.ok());
  CHECK(r.status == 206);
  CHECK(r.header("Content-Range") == std::string("bytes 3000000-4194303/4194304"));
  CHECK(r.body == bytes_of(sid, 3000000, 4194304 - 3000000));
  CHECK(r.header("X-Cache") == std::string("RANGE"));
  CHECK(r.header("Accept-Ranges") == std::string("bytes"));
  // One latency plus 1.2 MB at 1 MiB/s: about 2.65 s; after the fill's head it would be 4.15 s.
  // The threshold lies halfway.
  CHECK(r.total_time < std::chrono::milliseconds(3400));
  CHECK(s.sim_stats()["ranges"] == 1);
  CHECK(upstream_fetches(s, path) == 2);  // the range, and the fill's own request
  // The fill goes on and commits the whole recording: later requests are hits.
  wait_for_hit(s, path);
  auto whole = s.get(path);
  CHECK(whole.header("X-Cache") == std::string("HIT"));
  CHECK(whole.body == bytes_of(sid, 0, 4 << 20));
  // A suffix range needs the length first: it waits for the fill's head, then asks for the
  // range (two latencies, where the early request above took one).
  auto sid2 = laml_sim::sized_sid(129, 4 << 20);
  s.sim_fault({{"sid", sid2}, {"latency_ms", 1500}, {"bytes_per_second", 1 << 20}});
  auto suffix = s.get(recording_path(sid2, "wav"), with_key({{"Range", "bytes=-100"}}));
  CHECK(suffix.status == 206);
  CHECK(suffix.body == bytes_of(sid2, (4 << 20) - 100, 100));
  CHECK(suffix.total_time >= std::chrono::milliseconds(3000));
}

TEST_CASE("metadata: always fresh by default; with metadata_ttl, kept per account") {
  auto sid = laml_sim::normal_sid(127);
  {
    stack s(cached());
    REQUIRE(s.get(recording_path(sid, "json")).ok());
    REQUIRE(s.get(recording_path(sid, "json")).ok());
    CHECK(upstream_fetches(s, recording_path(sid, "json")) == 2);
  }
  auto o = cached();
  o.extra_cache = "metadata_ttl = \"1m\"";
  // A consumer that may read every account (the default one may read only the project's).
  o.extra_consumers =
      "[[consumers]]\nid = \"any\"\nscopes = [\"metadata\"]\naccounts = [\"*\"]\n"
      "key_sha256 = \"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb\"\n";  // "a"
  stack s(o);
  auto direct = s.sim_get(recording_path(sid, "json"));
  auto first = s.get(recording_path(sid, "json"));
  auto second = s.get(recording_path(sid, "json", ""));
  CHECK(first.header("X-Cache") == std::string("MISS"));
  CHECK(second.header("X-Cache") == std::string("HIT"));
  CHECK(first.body == direct.body);
  CHECK(second.body == direct.body);
  CHECK(second.header("Content-Type") == direct.header("Content-Type"));
  CHECK(upstream_fetches(s, recording_path(sid, "json")) ==
        2);  // the direct one and the gateway's one
  // Another account's request for the same Sid is not answered from it: 404 from upstream.
  auto other =
      s.get("/api/laml/2010-04-01/Accounts/00000000-0000-4000-8000-000000000000/Recordings/" + sid +
                ".json",
            {{"Authorization", "Bearer a"}});
  CHECK(other.status == 404);
  // Purge forgets metadata too.
  s.admin("DELETE", "/cache/recordings/" + std::string(project_id) + "/" + sid);
  CHECK(s.get(recording_path(sid, "json")).header("X-Cache") == std::string("MISS"));
}

TEST_CASE("HEAD is answered from the manifest alone; a damaged object is fetched again, whole") {
  stack s(cached());
  auto sid = laml_sim::sized_sid(128, 700000);
  auto path = recording_path(sid, "wav");
  REQUIRE(s.get(path).ok());
  auto etag = wait_for_hit(s, path).header("ETag");
  s.stop_gateway();
  {
    // Remove the object's chunks behind the gateway's back, keeping its manifest.
    recgate::cache::store_options options;
    options.path = (s.dir() / "cache").string();
    auto opened = recgate::cache::store::open(options);
    REQUIRE_MESSAGE(opened.ok(), opened.error());
    auto st = std::move(*opened);
    recgate::cache::object_key key{project_id, sid, "wav"};
    auto m = st->find(key);
    REQUIRE(m);
    REQUIRE(st->abort_fill(key, m->generation).ok());
    REQUIRE_FALSE(st->read_chunk(key, m->generation, 0));
  }
  s.restart_gateway();
  auto head = s.get(path, with_key(), "HEAD");
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == std::string("700000"));
  CHECK(head.header("ETag") == etag);
  CHECK(head.header("X-Cache") == std::string("HIT"));
  // Its first chunk is read before the head goes out: nothing is sent yet, so the damaged object
  // is dropped and the request answered as a miss, whole, from the upstream (stored anew).
  auto r = s.get(path);
  CHECK(r.status == 200);
  CHECK(r.header("X-Cache") == std::string("MISS"));
  CHECK(r.body == expected_body(sid, "wav"));
  CHECK(upstream_fetches(s, path) == 2);
  wait_for_hit(s, path);
}

TEST_CASE("a purge during a fill: the response in progress finishes, nothing is committed") {
  stack s(cached());
  auto sid = laml_sim::sized_sid(129, 1 << 20);
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 1 << 20}});
  auto path = recording_path(sid, "wav");
  test_support::http_result leader;
  std::thread first([&] { leader = s.get(path); });
  wait_for_fill_start(s, sid);
  auto purged = s.admin("DELETE", "/cache/recordings/" + std::string(project_id) + "/" + sid);
  CHECK(purged.status == 200);
  first.join();
  // The response in progress is whole (never shorter than its Content-Length for a purge).
  CHECK(leader.ok());
  CHECK(leader.body == expected_body(sid));
  s.sim_clear_faults();
  auto next = s.get(path);
  CHECK(next.header("X-Cache") == std::string("MISS"));
  CHECK(next.body == expected_body(sid));
  CHECK(upstream_fetches(s, path) == 2);
}

TEST_CASE("a purge while a cached recording is read: that response finishes, the next one misses") {
  stack s(cached());
  auto sid = laml_sim::sized_sid(131, 8 << 20);
  auto path = recording_path(sid, "wav");
  REQUIRE(s.get(path).status == 200);
  wait_for_hit(s, path);
  // A slow reader of the hit, then a purge, then eviction pressure: its chunks stay until it ends.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 16 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(s.gateway_port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  auto request = "GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                 std::string(consumer_key) + "\r\nConnection: close\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
  std::string got;
  char buffer[65536];
  while (got.size() < 64 * 1024) {
    auto n = ::recv(fd, buffer, sizeof buffer, 0);
    REQUIRE(n > 0);
    got.append(buffer, static_cast<std::size_t>(n));
  }
  auto purged = s.admin("DELETE", "/cache/recordings/" + std::string(project_id) + "/" + sid);
  CHECK(purged.status == 200);
  CHECK(s.get(path, with_key(), "HEAD").header("X-Cache") != std::string("HIT"));
  // Maintenance runs meanwhile (once a second): the chunks it would remove are still read.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (;;) {
    auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto body_at = got.find("\r\n\r\n");
  REQUIRE(body_at != std::string::npos);
  CHECK(got.size() - body_at - 4 == (8u << 20));
  CHECK(got.substr(body_at + 4) == expected_body(sid));
  CHECK(s.get(path).header("X-Cache") == std::string("MISS"));
}

TEST_CASE("a signed URL plays in a browser: Range requests, no key, one cache entry") {
  setenv("RECGATE_TEST_SIGNING_KEY", "a-test-signing-secret-of-at-least-32-bytes", 1);
  auto o = cached();
  std::random_device rd;
  auto revocations =
      std::filesystem::temp_directory_path() / ("recgate-revocations-" + std::to_string(rd()));
  o.extra_config = "[access]\nrevocations_file = \"" + revocations.string() +
                   "\"\n"
                   "[[signing_keys]]\nid = \"s1\"\nsecret_env = \"RECGATE_TEST_SIGNING_KEY\"\n";
  o.extra_consumers = "[[consumers]]\nid = \"portal\"\nscopes = [\"sign\"]\naccounts = [\"" +
                      std::string(project_id) + "\"]\nkey_sha256 = \"" + sha256_hex("rgk_portal") +
                      "\"\n";
  stack s(o);
  auto sid = laml_sim::sized_sid(130, 300000);
  auto path = recording_path(sid, "mp3");
  test_support::child_process cli({RECGATE_BIN, "sign", "--config", s.config_path().string(),
                                   "--consumer", "portal", "--path", path, "--ttl", "10m"});
  REQUIRE(cli.wait_exit(std::chrono::seconds(10)) == 0);
  auto url = cli.wait_for_line([](std::string_view l) { return l.starts_with("/api/laml/"); },
                               std::chrono::seconds(1));
  REQUIRE(url);
  CHECK(url->find("rg_sig=") != std::string::npos);

  auto expected_size = laml_sim::body_size(sid, laml_sim::audio_format::mp3, sim_duration);
  std::string expected(expected_size, '\0');
  laml_sim::fill_body(sid, laml_sim::audio_format::mp3, sim_duration, 0,
                      std::span<char>(expected.data(), expected.size()));
  // What an <audio> element does: a first open-ended range, then seeks.
  auto first = s.get(*url, {{"Range", "bytes=0-"}});
  REQUIRE(first.ok());
  CHECK(first.status == 206);
  CHECK(first.body == expected);
  auto seek = s.get(*url, {{"Range", "bytes=1000-1999"}});
  CHECK(seek.status == 206);
  CHECK(seek.body == expected.substr(1000, 1000));
  // The signature's parameters neither reached the upstream nor split the cache.
  auto stats = s.sim_stats();
  CHECK(stats["total"] == 1);
  CHECK(stats["paths"].contains(path));
  // Tampered, or used for the metadata: 403. Without it: 401.
  auto tampered = *url;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  check_json_error(s.get(tampered, {}), 403);
  auto as_json = *url;
  as_json.replace(as_json.find(".mp3"), 4, ".json");
  check_json_error(s.get(as_json, {}), 403);
  check_json_error(s.get(path, {}), 401);
  // The portal's own key cannot play audio: its scope is sign only.
  check_json_error(s.get(path, {{"Authorization", "Bearer rgk_portal"}}), 403);
  CHECK(s.sim_stats()["total"] == 1);

  // The same through the API, for a consumer holding the sign scope.
  auto mint = [&](const std::string& key, const std::string& body) {
    return test_support::request(
        "127.0.0.1", s.gateway_port(), "POST", "/v1/signed-urls",
        {{"Authorization", "Bearer " + key}, {"Content-Type", "application/json"}}, body);
  };
  auto minted = mint("rgk_portal", R"({"path":")" + path + R"(","ttl":"5m","bind_format":true})");
  REQUIRE(minted.status == 201);
  auto answer = nlohmann::json::parse(minted.body);
  auto api_url = answer["url"].get<std::string>();
  CHECK(api_url.find("rg_format=mp3") != std::string::npos);
  CHECK(s.get(api_url, {{"Range", "bytes=0-99"}}).body == expected.substr(0, 100));
  check_json_error(mint(consumer_key, R"({"path":")" + path + R"("})"), 403);  // no sign scope
  check_json_error(mint("rgk_portal", R"({"path":"/nope"})"), 400);
  check_json_error(mint("rgk_portal", R"({"path":")" + path + R"(","ttl":"30d"})"), 400);
  check_json_error(mint("rgk_portal", "not json"), 400);
  check_json_error(mint("wrong", R"({"path":")" + path + R"("})"), 401);
  check_json_error(s.get("/v1/signed-urls", {{"Authorization", "Bearer rgk_portal"}}), 405);
  auto other_account =
      "/api/laml/2010-04-01/Accounts/00000000-0000-4000-8000-000000000000/"
      "Recordings/" +
      sid + ".mp3";
  check_json_error(mint("rgk_portal", R"({"path":")" + other_account + R"("})"), 403);
  CHECK(s.sim_stats()["total"] == 1);

  // Revoked: every URL issued so far for the recording stops working, also after a restart.
  auto revoked = s.admin("POST", "/signed-urls/revoke/" + std::string(project_id) + "/" + sid);
  CHECK(revoked.status == 200);
  CHECK(nlohmann::json::parse(revoked.body)["persisted"] == true);
  check_json_error(s.get(*url, {{"Range", "bytes=0-99"}}), 403);
  check_json_error(s.get(api_url, {{"Range", "bytes=0-99"}}), 403);
  s.restart_gateway();
  check_json_error(s.get(*url, {{"Range", "bytes=0-99"}}), 403);

  for (const auto& line : s.stop_gateway()) {
    CHECK(line.find("a-test-signing-secret") == std::string::npos);
    CHECK(line.find("rg_sig") == std::string::npos);  // the query never reaches the log
  }
  std::filesystem::remove(revocations);
}

TEST_CASE("DELETE through the gateway: deleted upstream, purged here, 404 from a tombstone") {
  stack_options o;
  o.cache = true;
  o.extra_consumers = consumer_entry("retention", "delete", "rgk_retention");
  stack s(o);
  const headers retention{{"Authorization", "Bearer rgk_retention"}};
  auto sid = laml_sim::normal_sid(800);
  REQUIRE(s.get(recording_path(sid, "wav")).status == 200);
  REQUIRE(s.get(recording_path(sid, "mp3")).status == 200);
  REQUIRE(s.get(recording_path(sid, "json")).status == 200);
  wait_for_hit(s, recording_path(sid, "wav"));
  wait_for_hit(s, recording_path(sid, "mp3"));

  // Consumers without the delete scope cannot, and reach nothing upstream.
  auto before = s.sim_stats()["total"].get<long>();
  check_json_error(s.get(recording_path(sid, "json"), with_key(), "DELETE"), 403);
  CHECK(s.sim_stats()["total"].get<long>() == before);

  auto deleted = s.get(recording_path(sid, "", ""), retention, "DELETE");  // the SDKs' prefix
  CHECK(deleted.status == 204);
  CHECK(deleted.body.empty());
  REQUIRE(wait_metric(
      s,
      R"(recgate_requests_total{route="delete",status="204",consumer="retention",project="default"})",
      [](double v) { return v == 1; }));
  auto stats = s.sim_stats();
  CHECK(stats["methods"]["DELETE"] == 1);
  CHECK(stats["requests_with_valid_authorization"].get<long>() >= 2);  // the .json and the DELETE
  CHECK(s.sim_get(recording_path(sid, "wav")).status == 404);          // gone upstream

  // Every form is 404 now, without an upstream request: the tombstone answers.
  auto after_delete = stats["total"].get<long>();
  for (const char* ext : {"", "wav", "mp3", "json"}) {
    CAPTURE(ext);
    check_json_error(s.get(recording_path(sid, ext)), 404);
    CHECK(s.get(recording_path(sid, ext), with_key(), "HEAD").status == 404);
  }
  CHECK(s.sim_stats()["total"].get<long>() == after_delete + 1);  // only the sim_get above
  auto m = scrape(s);
  CHECK(m["recgate_cache_tombstones"] == 1);
  CHECK(m["recgate_cache_objects"] == 0);
  CHECK(nlohmann::json::parse(s.admin("GET", "/cache/stats").body)["tombstones"] == 1);

  // Across a restart too.
  s.restart_gateway();
  check_json_error(s.get(recording_path(sid, "wav")), 404);
  check_json_error(s.get(recording_path(sid, "json")), 404);
  CHECK(s.sim_stats()["total"].get<long>() == after_delete + 1);

  // Deleting again: the upstream says 404, the client hears it; still one tombstone.
  auto again = s.get(recording_path(sid, "json"), retention, "DELETE");
  check_json_error(again, 404);
  CHECK(scrape(s)["recgate_cache_tombstones"] == 1);
  // Other recordings are untouched.
  CHECK(s.get(recording_path(laml_sim::normal_sid(801), "wav")).status == 200);
}

namespace {

// Deletes a recording at the simulator itself, behind the gateway's back (as a retention policy
// or another tool would at SignalWire).
void delete_at_sim(stack& s, const std::string& sid) {
  auto r = test_support::request(
      "127.0.0.1", s.sim_port(), "DELETE", recording_path(sid, "json"),
      {{"Authorization", test_support::basic_authorization(project_id, api_token)}});
  REQUIRE(r.status == 204);
}

long sim_heads(stack& s) { return s.sim_stats()["methods"].value("HEAD", 0L); }

// A cache with revalidate_after = 3s (and `mode`); the object's confirmation (its fill's
// completion, kept in whole seconds) is certainly older than that 4 s after the fill.
stack_options revalidating(const std::string& mode) {
  stack_options o;
  o.cache = true;
  o.extra_cache = "revalidate_after = \"3s\"\nrevalidate = \"" + mode + "\"\n";
  return o;
}

}  // namespace

TEST_CASE(
    "revalidation: a recording deleted at SignalWire leaves the cache after revalidate_after") {
  stack s(revalidating("background"));
  const auto gone = laml_sim::normal_sid(820);
  const auto kept = laml_sim::normal_sid(821);
  REQUIRE(s.get(recording_path(gone, "wav")).status == 200);
  REQUIRE(s.get(recording_path(kept, "mp3")).status == 200);
  wait_for_hit(s, recording_path(gone, "wav"));
  wait_for_hit(s, recording_path(kept, "mp3"));
  const auto filled = std::chrono::steady_clock::now();
  const long heads = sim_heads(s);

  delete_at_sim(s, gone);
  // Confirmed by its fill less than revalidate_after ago: served from the cache, nothing asked.
  auto fresh = s.get(recording_path(gone, "wav"));
  CHECK(fresh.status == 200);
  CHECK(fresh.header("X-Cache") == "HIT");
  CHECK(sim_heads(s) == heads);

  std::this_thread::sleep_until(filled + std::chrono::seconds(4));
  // Due: this hit is served as cached, and one HEAD goes upstream beside it...
  auto due = s.get(recording_path(gone, "wav"));
  CHECK(due.status == 200);
  CHECK(due.body == expected_body(gone, "wav"));
  REQUIRE(wait_metric(s, R"(recgate_cache_revalidations_total{result="gone"})", exactly(1)));
  // ...which found it gone: every form is 404 from the tombstone, without the upstream.
  const auto total = s.sim_stats()["total"].get<long>();
  for (const char* ext : {"", "wav", "mp3", "json"}) {
    CAPTURE(ext);
    check_json_error(s.get(recording_path(gone, ext)), 404);
  }
  CHECK(s.sim_stats()["total"].get<long>() == total);
  CHECK(sim_heads(s) == heads + 1);

  // A recording still there: several due hits, one check, confirmed, still served.
  for (int i = 0; i < 5; ++i) {
    auto hit = s.get(recording_path(kept, "mp3"));
    CHECK(hit.status == 200);
    CHECK(hit.header("X-Cache") == "HIT");
  }
  REQUIRE(wait_metric(s, R"(recgate_cache_revalidations_total{result="confirmed"})", exactly(1)));
  CHECK(s.get(recording_path(kept, "mp3")).status == 200);
  CHECK(sim_heads(s) == heads + 2);
  auto m = scrape(s);
  CHECK(m["recgate_cache_tombstones"] == 1);
  CHECK(m[R"(recgate_cache_revalidations_total{result="error"})"] == 0);
  auto stats = nlohmann::json::parse(s.admin("GET", "/cache/stats").body);
  CHECK(stats["revalidations"]["gone"] == 1);
  CHECK(stats["revalidations"]["confirmed"] == 1);
  CHECK(stats["revalidations"]["tracked"] == 1);  // the kept one's confirmation
}

TEST_CASE("revalidation before serving: the first due hit on a deleted recording is already 404") {
  stack s(revalidating("before-serving"));
  const auto gone = laml_sim::normal_sid(822);
  REQUIRE(s.get(recording_path(gone, "wav")).status == 200);
  wait_for_hit(s, recording_path(gone, "wav"));
  const auto filled = std::chrono::steady_clock::now();
  const long heads = sim_heads(s);
  delete_at_sim(s, gone);
  std::this_thread::sleep_until(filled + std::chrono::seconds(4));
  check_json_error(s.get(recording_path(gone, "wav")), 404);
  CHECK(sim_heads(s) == heads + 1);
  CHECK(scrape(s)[R"(recgate_cache_revalidations_total{result="gone"})"] == 1);
  // The upstream unreachable: a due hit is served as cached (counted as an error), not refused.
  const auto other = laml_sim::normal_sid(823);
  REQUIRE(s.get(recording_path(other, "wav")).status == 200);
  wait_for_hit(s, recording_path(other, "wav"));
  const auto other_filled = std::chrono::steady_clock::now();
  s.stop_sim();
  std::this_thread::sleep_until(other_filled + std::chrono::seconds(4));
  auto served = s.get(recording_path(other, "wav"));
  CHECK(served.status == 200);
  CHECK(served.body == expected_body(other, "wav"));
  CHECK(scrape(s)[R"(recgate_cache_revalidations_total{result="error"})"] == 1);
}
