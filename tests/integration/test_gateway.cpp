// End to end: laml-sim as the upstream, recgate in front, real sockets on loopback.
#include <map>
#include <string>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace gateway_test;

namespace {

long sim_total(stack& s) { return s.sim_stats()["total"].get<long>(); }

}  // namespace

TEST_CASE("audio passes through byte for byte, in every form") {
  stack s;
  auto sid = laml_sim::normal_sid(11);
  auto wav = expected_body(sid, "wav");
  auto mp3 = expected_body(sid, "mp3");
  struct form {
    std::string ext, prefix, type;
    const std::string* bytes;
  };
  for (const auto& f :
       {form{"", "/api/laml", "audio/x-wav", &wav}, form{"wav", "/api/laml", "audio/x-wav", &wav},
        form{"mp3", "/api/laml", "audio/mpeg", &mp3}, form{"wav", "", "audio/x-wav", &wav},
        form{"mp3", "", "audio/mpeg", &mp3}}) {
    CAPTURE(f.ext);
    CAPTURE(f.prefix);
    auto r = s.get(recording_path(sid, f.ext, f.prefix));
    REQUIRE(r.ok());
    CHECK(r.status == 200);
    CHECK(r.body == *f.bytes);
    CHECK(r.header("Content-Type") == f.type);
    CHECK(r.header("Content-Length") == std::to_string(f.bytes->size()));
    CHECK(r.header("X-Request-Id").has_value());
    // Upstream's Server, Set-Cookie and hop-by-hop headers stay behind.
    CHECK_FALSE(r.header("Server"));
    CHECK_FALSE(r.header("Set-Cookie"));
  }
  // The wav forms were one upstream object each time, always requested with the explicit .wav.
  auto stats = s.sim_stats();
  CHECK(stats["paths"][recording_path(sid, "wav")] == 3);
  CHECK(stats["paths"][recording_path(sid, "mp3")] == 2);
  CHECK_FALSE(stats["paths"].contains(recording_path(sid, "")));
}

TEST_CASE("HEAD answers the headers without a body") {
  stack s;
  auto sid = laml_sim::normal_sid(12);
  auto r = s.get(recording_path(sid, "wav"), with_key(), "HEAD");
  REQUIRE(r.ok());
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  CHECK(r.header("Content-Length") ==
        std::to_string(laml_sim::body_size(sid, laml_sim::audio_format::wav, sim_duration)));
  CHECK(s.sim_stats()["methods"]["HEAD"] == 1);
}

TEST_CASE("without a cache, Range and validators go upstream and its 206, 304, 416 come back") {
  stack s;  // no cache: pass-through
  auto sid = laml_sim::normal_sid(13);
  const auto path = recording_path(sid, "wav");
  const auto whole = expected_body(sid, "wav");

  auto first = s.get(path);
  REQUIRE(first.status == 200);
  CHECK(first.header("Accept-Ranges") == std::string("bytes"));
  const auto etag = first.header("ETag");
  const auto modified = first.header("Last-Modified");
  REQUIRE(etag);
  REQUIRE(modified);

  SUBCASE("one range: 206 with the upstream's bytes and Content-Range") {
    auto r = s.get(path, with_key({{"Range", "bytes=100-199"}}));
    CHECK(r.status == 206);
    CHECK(r.body == whole.substr(100, 100));
    CHECK(r.header("Content-Range") == "bytes 100-199/" + std::to_string(whole.size()));
    CHECK(r.header("Content-Length") == std::string("100"));
    CHECK(r.header("Accept-Ranges") == std::string("bytes"));
    CHECK(r.header("ETag") == etag);
    auto tail = s.get(path, with_key({{"Range", "bytes=-10"}}));
    CHECK(tail.status == 206);
    CHECK(tail.body == whole.substr(whole.size() - 10));
    auto open =
        s.get(path, with_key({{"Range", "bytes=" + std::to_string(whole.size() - 5) + "-"}}));
    CHECK(open.status == 206);
    CHECK(open.body == whole.substr(whole.size() - 5));
    CHECK(s.sim_stats()["ranges"] == 3);
  }
  SUBCASE("several ranges: the whole body, and the upstream is asked for no range") {
    auto r = s.get(path, with_key({{"Range", "bytes=0-1,4-5"}}));
    CHECK(r.status == 200);
    CHECK(r.body == whole);
    CHECK(s.sim_stats()["ranges"] == 0);
  }
  SUBCASE("beyond the end: 416 with the complete length") {
    auto r = s.get(path, with_key({{"Range", "bytes=" + std::to_string(whole.size()) + "-"}}));
    CHECK(r.status == 416);
    CHECK(r.header("Content-Range") == "bytes */" + std::to_string(whole.size()));
    check_json_error(r, 416);
  }
  SUBCASE("If-None-Match and If-Modified-Since: 304 with the validators, no body") {
    auto r = s.get(path, with_key({{"If-None-Match", *etag}}));
    CHECK(r.status == 304);
    CHECK(r.body.empty());
    CHECK(r.header("ETag") == etag);
    CHECK(s.get(path, with_key({{"If-Modified-Since", *modified}})).status == 304);
    auto changed = s.get(path, with_key({{"If-None-Match", "\"other\""}}));
    CHECK(changed.status == 200);
    CHECK(changed.body == whole);
    CHECK(s.sim_stats()["conditionals"] == 3);
    // The connection stays usable after a 304 (no body was expected on it).
    CHECK(s.get(path, with_key({{"Range", "bytes=0-9"}})).status == 206);
  }
  SUBCASE("If-Range: the range when the validator matches, else the whole body") {
    auto match = s.get(path, with_key({{"Range", "bytes=0-9"}, {"If-Range", *etag}}));
    CHECK(match.status == 206);
    CHECK(match.body == whole.substr(0, 10));
    auto stale = s.get(path, with_key({{"Range", "bytes=0-9"}, {"If-Range", "\"stale\""}}));
    CHECK(stale.status == 200);
    CHECK(stale.body == whole);
  }
  SUBCASE("malformed validators are not sent upstream") {
    auto r =
        s.get(path, with_key({{"If-None-Match", "not-a-tag"}, {"If-Modified-Since", "yesterday"}}));
    CHECK(r.status == 200);
    CHECK(s.sim_stats()["conditionals"] == 0);
  }
  SUBCASE("metadata: no Range or validator goes upstream") {
    auto r = s.get(recording_path(sid, "json"),
                   with_key({{"Range", "bytes=0-9"}, {"If-None-Match", "*"}}));
    CHECK(r.status == 200);
    CHECK(r.body == expected_body(sid, "json"));
    auto stats = s.sim_stats();
    CHECK(stats["ranges"] == 0);
    CHECK(stats["conditionals"] == 0);
  }
}

TEST_CASE("metadata gets the project's credentials from the gateway, never from the client") {
  stack s;
  auto sid = laml_sim::normal_sid(13);
  auto direct = s.sim_get(recording_path(sid, "json"));
  REQUIRE(direct.status == 200);
  for (auto prefix : {"/api/laml", ""}) {
    auto r = s.get(recording_path(sid, "json", prefix));
    REQUIRE(r.ok());
    CHECK(r.status == 200);
    CHECK(r.body == direct.body);  // byte for byte, never re-serialised
    CHECK(r.header("Content-Type")->starts_with("application/json"));
  }
  auto stats = s.sim_stats();
  CHECK(stats["authorized_json"] == 3);  // the direct request and the gateway's two
  // The client's own Authorization (the gateway key) never went upstream on audio either.
  s.get(recording_path(sid, "wav"));
  CHECK(s.sim_stats()["requests_with_authorization"] == 3);
}

TEST_CASE("without a valid key: 401 with a JSON body and a challenge, nothing upstream") {
  stack s;
  auto sid = laml_sim::normal_sid(14);
  for (const auto& h :
       {headers{}, headers{{"Authorization", "Bearer wrong-key"}},
        headers{{"Authorization", std::string("Basic ") + consumer_key}},
        headers{{"Authorization", test_support::basic_authorization(project_id, api_token)}}}) {
    for (auto ext : {"wav", "json"}) {
      auto r = s.get(recording_path(sid, ext), h);
      check_json_error(r, 401);
      CHECK(r.header("WWW-Authenticate") ==
            std::string("Bearer realm=\"recgate\", Basic realm=\"recgate\""));
    }
  }
  CHECK(sim_total(s) == 0);
}

TEST_CASE("bad requests are answered by the gateway alone: 400, 404, 405") {
  stack s;
  auto sid = laml_sim::normal_sid(15);
  check_json_error(s.get(recording_path("not-a-uuid", "wav")), 400);
  check_json_error(s.get(recording_path(sid + "%2e", "wav")), 400);
  check_json_error(s.get(recording_path(sid, "wav.mp3")), 404);
  check_json_error(s.get(recording_path(sid, "ogg")), 404);
  check_json_error(s.get("/api/laml/2010-04-01/Accounts/" + std::string(project_id) + "/Calls"),
                   404);
  check_json_error(
      s.get("/api/laml/2010-04-01/Accounts//" + std::string(project_id) + "/Recordings/" + sid),
      404);
  check_json_error(s.get("/__sim/requests"), 404);
  auto r = s.get(recording_path(sid, "wav"), with_key(), "PUT");
  check_json_error(r, 405);
  CHECK(r.header("Allow") == std::string("GET, HEAD, DELETE"));
  // The test consumer has no delete scope: 403, and nothing goes upstream.
  check_json_error(s.get(recording_path(sid, "wav"), with_key(), "DELETE"), 403);
  CHECK(sim_total(s) == 0);
}

TEST_CASE("the query string never reaches the upstream") {
  stack s;
  auto sid = laml_sim::normal_sid(16);
  auto r = s.get(recording_path(sid, "mp3") + "?x=1&Expires=2");
  CHECK(r.status == 200);
  auto stats = s.sim_stats();
  CHECK(stats["paths"][recording_path(sid, "mp3")] == 1);
  CHECK(stats["total"] == 1);
}

TEST_CASE("upstream errors become clear JSON answers") {
  SUBCASE("an absent recording: the upstream's 404 passes through") {
    stack s;
    auto r = s.get(recording_path(laml_sim::absent_sid(1), "wav"));
    check_json_error(r, 404);
    auto direct = s.sim_get(recording_path(laml_sim::absent_sid(1), "wav"));
    CHECK(r.body == direct.body);
    check_json_error(s.get(recording_path(laml_sim::absent_sid(1), "json")), 404);
  }
  SUBCASE("an upstream 500 becomes 502") {
    stack s;
    auto sid = laml_sim::normal_sid(21);
    s.sim_fault({{"sid", sid}, {"status", 500}});
    check_json_error(s.get(recording_path(sid, "json")), 502);
    check_json_error(s.get(recording_path(sid, "wav")), 502);
  }
  SUBCASE("an upstream that does not answer in time: 504") {
    stack s;
    auto sid = laml_sim::normal_sid(22);
    s.sim_fault({{"sid", sid}, {"latency_ms", 3000}});
    auto r = s.get(recording_path(sid, "wav"));
    check_json_error(r, 504);
    CHECK(r.total_time < std::chrono::milliseconds(2500));  // header_timeout is 1 s
  }
  SUBCASE("an unreachable upstream: 502") {
    stack_options options;
    options.extra_upstream = "breaker_failures = 0\n";  // the breaker has its own test
    stack s(options);
    s.stop_sim();  // nothing listens on the upstream's port any more
    check_json_error(s.get(recording_path(laml_sim::normal_sid(23), "json")), 502);
    check_json_error(s.get(recording_path(laml_sim::normal_sid(23), "wav")), 502);
  }
}

TEST_CASE("a broken upstream body is never delivered as a complete one") {
  stack s;
  auto reset_sid = laml_sim::sized_sid(31, 1 << 20);
  s.sim_fault({{"sid", reset_sid}, {"reset_after", 100000}});
  auto r = s.get(recording_path(reset_sid, "wav"));
  CHECK(r.status == 200);
  CHECK_FALSE(r.ok());
  CHECK(r.body.size() < (1u << 20));

  auto short_sid = laml_sim::sized_sid(32, 1 << 20);
  s.sim_fault({{"sid", short_sid}, {"short_by", 1000}});
  auto r2 = s.get(recording_path(short_sid, "wav"));
  CHECK(r2.status == 200);
  CHECK_FALSE(r2.ok());
  CHECK(r2.body.size() < (1u << 20));

  // The gateway is fine for the next request.
  auto ok = s.get(recording_path(laml_sim::normal_sid(33), "wav"));
  CHECK(ok.ok());
  CHECK(ok.status == 200);
}

TEST_CASE("audio redirects are followed without credentials; metadata is never redirected") {
  stack s;
  auto sid = laml_sim::normal_sid(41);
  s.sim_fault({{"sid", sid}, {"redirect", true}});
  auto r = s.get(recording_path(sid, "wav"));
  REQUIRE(r.ok());
  CHECK(r.status == 200);
  CHECK(r.body == expected_body(sid, "wav"));
  auto stats = s.sim_stats();
  CHECK(stats["media_with_authorization"] == 0);
  CHECK(stats["requests_with_authorization"] == 0);
}

TEST_CASE("audio streams as it arrives, with memory bounded by a buffer") {
  stack s;
  SUBCASE("the first bytes reach the client long before the last") {
    auto sid = laml_sim::sized_sid(51, 200000);
    s.sim_fault({{"sid", sid}, {"bytes_per_second", 100000}});
    auto r = s.get(recording_path(sid, "wav"));
    REQUIRE(r.ok());
    CHECK(r.body.size() == 200000);
    CHECK(r.total_time >= std::chrono::milliseconds(1500));
    CHECK(r.header_time < r.total_time / 2);
  }
  SUBCASE("a 50 MiB recording") {
    // Warm up first, so the baseline includes what any request allocates.
    REQUIRE(s.get(recording_path(laml_sim::normal_sid(52), "wav")).ok());
    long before = peak_rss_kib(s.gateway_pid());
    auto sid = laml_sim::sized_sid(53, 50u << 20);
    auto r = s.get(recording_path(sid, "wav"));
    long after = peak_rss_kib(s.gateway_pid());
    REQUIRE(r.ok());
    REQUIRE(r.body.size() == (50u << 20));
    std::string expected(1 << 20, '\0');
    laml_sim::fill_body(sid, laml_sim::audio_format::wav, sim_duration, 49u << 20,
                        std::span<char>(expected.data(), expected.size()));
    CHECK(r.body.compare(49u << 20, 1u << 20, expected) == 0);
    MESSAGE("gateway peak RSS " << before << " KiB -> " << after << " KiB");
    CHECK(before > 0);
    CHECK(after - before < 8 * 1024);  // far less than the 50 MiB that went through
  }
}

TEST_CASE("the access log has a line per request; no secret is ever logged or answered") {
  stack s;
  auto sid = laml_sim::normal_sid(61);
  std::vector<test_support::http_result> answers;
  answers.push_back(s.get(recording_path(sid, "json"), with_key({{"X-Request-Id", "trace-me-1"}})));
  answers.push_back(s.get(recording_path(sid, "wav")));
  answers.push_back(s.get(recording_path(sid, "json"), {{"Authorization", "Bearer nope"}}));
  answers.push_back(s.get(recording_path("bad", "json")));
  auto lines = s.stop_gateway();

  CHECK(answers[0].header("X-Request-Id") == std::string("trace-me-1"));
  int access_lines = 0;
  for (const auto& line : lines) {
    CAPTURE(line);
    CHECK(line.find(api_token) == std::string::npos);
    CHECK(line.find(consumer_key) == std::string::npos);
    CHECK(line.find("Basic ") == std::string::npos);
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("log", "") == "access") {
      ++access_lines;
      for (auto key : {"time", "request_id", "consumer", "method", "path", "status", "bytes",
                       "upstream_status", "duration_ms", "cache", "client"}) {
        CHECK(j.contains(key));
      }
    }
  }
  CHECK(access_lines == 4);
  bool found_trace = false;
  for (const auto& line : lines) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("request_id", "") == "trace-me-1") {
      found_trace = true;
      CHECK(j["consumer"] == "billing-service");
      CHECK(j["status"] == 200);
      CHECK(j["upstream_status"] == 200);
    }
  }
  CHECK(found_trace);
  for (const auto& a : answers) {
    CHECK(a.body.find(api_token) == std::string::npos);
    for (const auto& [name, value] : a.headers) CHECK(value.find(api_token) == std::string::npos);
  }
}

TEST_CASE("metadata is never answered with a redirect, whatever the upstream says") {
  stack s;
  auto sid = laml_sim::normal_sid(71);
  s.sim_fault({{"sid", sid}, {"status", 302}});
  auto r = s.get(recording_path(sid, "json"));
  check_json_error(r, 502);
  CHECK_FALSE(r.header("Location"));
}

TEST_CASE("keep-alive: several requests on one connection, answered in order") {
  stack s;
  auto sid = laml_sim::normal_sid(72);
  std::string request = "GET " + recording_path(sid, "mp3") +
                        " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + consumer_key +
                        "\r\n\r\n";
  std::string last = "GET " + recording_path("bad", "mp3") +
                     " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " +
                     consumer_key + "\r\n\r\n";
  auto replies =
      test_support::raw_exchange("127.0.0.1", s.gateway_port(), request + request + last);
  auto mp3_size =
      std::to_string(laml_sim::body_size(sid, laml_sim::audio_format::mp3, sim_duration));
  std::vector<std::string> statuses;
  for (std::size_t pos = 0; (pos = replies.find("HTTP/1.1 ", pos)) != std::string::npos; pos += 9) {
    statuses.push_back(replies.substr(pos + 9, 3));
  }
  CHECK(statuses == std::vector<std::string>{"200", "200", "400"});
  CHECK(s.sim_stats()["total"] == 2);
}

TEST_CASE("access control end to end: SDK Basic auth, 403 and 429 never reach the upstream") {
  stack_options o;
  o.extra_consumers =
      "[[consumers]]\nid = \"player\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\n"
      "key_sha256 = \"" +
      sha256_hex("rgk_player-key") +
      "\"\n"
      "[[consumers]]\nid = \"report\"\nscopes = [\"metadata\"]\naccounts = [\"*\"]\n"
      "rate_per_second = 0.5\nburst = 2\n"
      "key_sha256 = \"" +
      sha256_hex("rgk_report-key") + "\"\n";
  stack s(o);
  auto sid = laml_sim::normal_sid(81);

  // Exactly what SignalWire's compatibility SDK sends: no /api/laml, Basic project id + key.
  auto sdk = s.get(recording_path(sid, "json", ""),
                   {{"Authorization", test_support::basic_authorization(project_id, consumer_key)},
                    {"Accept", "application/json"},
                    {"Accept-Encoding", "gzip,deflate"},
                    {"Connection", "close"}});
  CHECK(sdk.status == 200);
  CHECK(sdk.body == s.sim_get(recording_path(sid, "json")).body);
  long upstream_before = sim_total(s);

  // A valid consumer without the scope: 403, nothing upstream.
  auto no_scope = s.get(recording_path(sid, "json"), {{"Authorization", "Bearer rgk_player-key"}});
  check_json_error(no_scope, 403);
  // Basic with another account than the path's: 401, as if the key were wrong.
  auto other = s.get(
      recording_path(sid, "json", ""),
      {{"Authorization",
        test_support::basic_authorization("00000000-0000-4000-8000-000000000000", consumer_key)}});
  check_json_error(other, 401);
  // Rate limit: a burst of 2, then 429 with Retry-After.
  auto report = headers{{"Authorization", "Bearer rgk_report-key"}};
  CHECK(s.get(recording_path(sid, "json"), report).status == 200);
  CHECK(s.get(recording_path(sid, "json"), report).status == 200);
  auto limited = s.get(recording_path(sid, "json"), report);
  check_json_error(limited, 429);
  CHECK(limited.header("Retry-After") == std::string("2"));
  CHECK(sim_total(s) == upstream_before + 2);

  // Every decision is in the access log with its consumer and reason.
  auto lines = s.stop_gateway();
  std::map<std::string, int> reasons;
  for (const auto& line : lines) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("log", "") == "access") {
      reasons[j.value("consumer", "") + ":" + j.value("decision", "")]++;
    }
  }
  CHECK(reasons["billing-service:allowed"] == 1);
  CHECK(reasons["player:no metadata scope"] == 1);
  CHECK(reasons["-:basic username does not fit"] == 1);
  CHECK(reasons["report:allowed"] == 2);
  CHECK(reasons["report:rate limit"] == 1);
}
