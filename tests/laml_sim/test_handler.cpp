// The simulator's HTTP decisions without a socket.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "laml_sim/basic_auth.hpp"
#include "laml_sim/laml_sim.hpp"
#include "laml_sim/routes.hpp"
#include "laml_sim/sim_handler.hpp"

using namespace laml_sim;
using nlohmann::json;

namespace {

const std::string project = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
const std::string token = "PTsecret";
// base64("720796a0-8ee9-4350-83bd-2d07a3121f1e:PTsecret")
const std::string good_auth = "Basic NzIwNzk2YTAtOGVlOS00MzUwLTgzYmQtMmQwN2EzMTIxZjFlOlBUc2VjcmV0";

std::string recording_target(std::string_view sid, std::string_view ext = "",
                             std::string_view account = project) {
  return "/api/laml/2010-04-01/Accounts/" + std::string(account) + "/Recordings/" +
         std::string(sid) + std::string(ext);
}

response_plan call(sim_state& state, std::string_view method, std::string_view target,
                   std::optional<std::string_view> auth = std::nullopt,
                   std::optional<std::string_view> range = std::nullopt,
                   std::string_view body = {}) {
  return handle_request(state, request_view{method, target, auth, range, body});
}

}  // namespace

TEST_CASE("routes") {
  const route a =
      parse_route("/api/laml/2010-04-01/Accounts/acc/Recordings/" + normal_sid(1) + ".mp3?x=1");
  CHECK(a.kind == route_kind::recording);
  CHECK(a.account == "acc");
  CHECK(a.sid == normal_sid(1));
  CHECK(a.sid_valid);
  CHECK(a.ext == recording_ext::mp3);
  CHECK(a.path == "/api/laml/2010-04-01/Accounts/acc/Recordings/" + normal_sid(1) + ".mp3");
  CHECK(a.resource == "/2010-04-01/Accounts/acc/Recordings/" + normal_sid(1) + ".mp3");

  const route b = parse_route("/2010-04-01/Accounts/acc/Recordings/not-a-uuid.json");
  CHECK(b.kind == route_kind::recording);
  CHECK_FALSE(b.sid_valid);
  CHECK(b.ext == recording_ext::json);

  CHECK(parse_route("/2010-04-01/Accounts/acc/Recordings/" + normal_sid(1)).ext ==
        recording_ext::none);
  CHECK(parse_route("/2010-04-01/Accounts/acc/Recordings/" + normal_sid(1) + ".ogg").kind ==
        route_kind::unknown);
  CHECK(parse_route("/2010-04-01/Accounts/acc/Recordings/x/Transcriptions.json").kind ==
        route_kind::unknown);
  CHECK(parse_route("/api/laml/2010-04-01/Accounts/acc/Calls/x.json").kind == route_kind::unknown);
  CHECK(parse_route("/").kind == route_kind::unknown);
  CHECK(parse_route("/__sim/faults").kind == route_kind::faults);
  CHECK(parse_route("/__sim/requests?pretty").kind == route_kind::requests);
  CHECK(parse_route("/__sim/reset").kind == route_kind::reset);
  const route m = parse_route("/__sim/media/" + normal_sid(2) + ".wav");
  CHECK(m.kind == route_kind::media);
  CHECK(m.ext == recording_ext::wav);
  CHECK(parse_route("/__sim/media/" + normal_sid(2) + ".json").kind == route_kind::unknown);
}

TEST_CASE("basic auth") {
  CHECK(base64_decode("YWJj") == "abc");
  CHECK(base64_decode("YWI=") == "ab");
  CHECK_FALSE(base64_decode("YW!j"));
  CHECK(basic_auth_matches(good_auth, project, token));
  CHECK(basic_auth_matches("basic  " + good_auth.substr(6), project, token));
  // Upper-case project id in the username is the same project.
  CHECK(basic_auth_matches("Basic NzIwNzk2QTAtOEVFOS00MzUwLTgzQkQtMkQwN0EzMTIxRjFFOlBUc2VjcmV0",
                           project, token));
  CHECK_FALSE(basic_auth_matches(good_auth, project, "PTsecreT"));
  CHECK_FALSE(basic_auth_matches("Bearer PTsecret", project, token));
  CHECK_FALSE(basic_auth_matches("Basic", project, token));
  CHECK_FALSE(basic_auth_matches("Basic cHJvamVjdA==", project, token));  // no colon
}

TEST_CASE("handler answers") {
  sim_state state({project, token, 10});
  const std::string sid = normal_sid(1);

  SUBCASE("audio is public, with length, type and ranges") {
    const response_plan wav = call(state, "GET", recording_target(sid, ".wav"));
    CHECK(wav.status == 200);
    CHECK(wav.header("Content-Type") == "audio/x-wav");
    CHECK(wav.header("Accept-Ranges") == "bytes");
    CHECK(wav.header("Server") == "laml-sim");
    CHECK(wav.header("Set-Cookie").starts_with("sim_session="));
    CHECK(wav.content_length == body_size(sid, audio_format::wav, 10));
    CHECK(call(state, "GET", recording_target(sid)).header("Content-Type") == "audio/x-wav");
    CHECK(call(state, "GET", recording_target(sid, ".mp3")).header("Content-Type") == "audio/mpeg");

    const response_plan head = call(state, "HEAD", recording_target(sid, ".mp3"));
    CHECK(head.status == 200);
    CHECK_FALSE(head.send_body);
    CHECK(head.content_length == body_size(sid, audio_format::mp3, 10));

    const response_plan part = call(state, "GET", recording_target(sid, ".wav"), {}, "bytes=-10");
    CHECK(part.status == 206);
    CHECK(part.content_length == 10);
    CHECK(part.header("Content-Range") == "bytes 160034-160043/160044");
    std::array<char, 10> got{};
    std::array<char, 10> want{};
    part.fill(0, got);
    fill_body(sid, audio_format::wav, 10, 160034, want);
    CHECK(got == want);

    const response_plan none = call(state, "GET", recording_target(sid), {}, "bytes=160044-");
    CHECK(none.status == 416);
    CHECK(none.header("Content-Range") == "bytes */160044");
    CHECK(call(state, "GET", recording_target(sid), {}, "bytes=0-1,4-5").status == 200);
  }
  SUBCASE("audio validators: ETag and Last-Modified, 304, If-Range") {
    const auto target = recording_target(sid, ".wav");
    auto with = [&](std::vector<std::pair<std::string_view, std::string_view>> headers,
                    std::optional<std::string_view> range = std::nullopt) {
      request_view v{"GET", target, std::nullopt, range, {}};
      v.headers = std::move(headers);
      return handle_request(state, v);
    };
    const response_plan wav = call(state, "GET", target);
    const std::string etag(wav.header("ETag"));
    const std::string modified(wav.header("Last-Modified"));
    CHECK(etag == "\"sim-" + sid + "-wav\"");
    CHECK(modified == "Wed, 01 Jan 2025 00:00:00 GMT");
    CHECK(call(state, "GET", recording_target(sid, ".mp3")).header("ETag") != etag);

    const response_plan same = with({{"If-None-Match", "\"x\", W/" + etag}});
    CHECK(same.status == 304);
    CHECK_FALSE(same.send_body);
    CHECK(same.header("ETag") == etag);
    CHECK(with({{"If-None-Match", "\"other\""}}).status == 200);
    CHECK(with({{"if-modified-since", modified}}).status == 304);
    CHECK(with({{"If-Modified-Since", "Tue, 31 Dec 2024 00:00:00 GMT"}}).status == 200);
    // If-None-Match wins over If-Modified-Since (RFC 9110 13.1.3).
    CHECK(with({{"If-None-Match", "\"other\""}, {"If-Modified-Since", modified}}).status == 200);

    CHECK(with({{"If-Range", etag}}, "bytes=0-9").status == 206);
    CHECK(with({{"If-Range", modified}}, "bytes=0-9").status == 206);
    const response_plan stale = with({{"If-Range", "\"old\""}}, "bytes=0-9");
    CHECK(stale.status == 200);
    CHECK(stale.content_length == body_size(sid, audio_format::wav, 10));
  }
  SUBCASE("json needs the project's Basic credentials") {
    const response_plan denied = call(state, "GET", recording_target(sid, ".json"));
    CHECK(denied.status == 401);
    CHECK(denied.header("WWW-Authenticate") == "Basic realm=\"SignalWire\"");
    CHECK(json::parse(denied.text).at("code") == 20003);
    CHECK(call(state, "GET", recording_target(sid, ".json"), "Basic eDp5").status == 401);
    const response_plan ok = call(state, "GET", recording_target(sid, ".json"), good_auth);
    CHECK(ok.status == 200);
    CHECK(ok.header("Content-Type") == "application/json");
    CHECK(ok.text == metadata_json(sid, project, 10));
    CHECK(ok.content_length == ok.text.size());
    // Both prefixes, same body.
    CHECK(call(state, "GET", "/2010-04-01/Accounts/" + project + "/Recordings/" + sid + ".json",
               good_auth)
              .text == ok.text);
  }
  SUBCASE("not found, wrong account, absent, malformed, method") {
    const response_plan absent = call(state, "GET", recording_target(absent_sid(1), ".wav"));
    CHECK(absent.status == 404);
    CHECK(json::parse(absent.text).at("message") == "The requested resource /2010-04-01/Accounts/" +
                                                        project + "/Recordings/" + absent_sid(1) +
                                                        ".wav was not found");
    CHECK(call(state, "GET", recording_target(absent_sid(1), ".json"), good_auth).status == 404);
    CHECK(call(state, "GET", recording_target(sid, ".wav", normal_sid(9))).status == 404);
    CHECK(call(state, "GET", recording_target(sid, ".wav", "720796A0-8EE9-4350-83BD-2D07A3121F1E"))
              .status == 200);
    CHECK(call(state, "GET", recording_target("nope", ".wav")).status == 404);
    CHECK(call(state, "GET", "/favicon.ico").status == 404);
    const response_plan post = call(state, "POST", recording_target(sid, ".wav"));
    CHECK(post.status == 405);
    CHECK(post.header("Content-Type") == "application/json");
    CHECK(call(state, "GET", "/__sim/faults").status == 405);
  }
  SUBCASE("fault rules") {
    CHECK(call(state, "POST", "/__sim/faults", {}, {}, "{").status == 400);
    CHECK(call(state, "POST", "/__sim/faults", {}, {}, R"({"latency_ms":5})").status == 400);
    CHECK(call(state, "POST", "/__sim/faults", {}, {}, R"({"sid":"x"})").status == 400);
    CHECK(call(state, "POST", "/__sim/faults", {}, {}, R"({"sid":")" + sid + R"(","short_by":-1})")
              .status == 400);
    for (const char* status : {"42", "199", "204", "304", "600", "\"500\""}) {
      CAPTURE(status);
      CHECK(call(state, "POST", "/__sim/faults", {}, {},
                 R"({"sid":")" + sid + R"(","status":)" + status + "}")
                .status == 400);
    }
    CHECK(call(state, "POST", "/__sim/faults", {}, {}, R"({"sid":")" + sid + R"(","bogus":1})")
              .status == 400);

    const std::string mixed = "ABCDEF01-0000-4000-8000-00000000000A";
    const response_plan set = call(state, "POST", "/__sim/faults", {}, {},
                                   R"({"sid":")" + mixed + R"(","latency_ms":25,"status":503})");
    CHECK(set.status == 204);
    CHECK_FALSE(set.content_length);
    const response_plan forced = call(state, "GET", recording_target(to_lower(mixed), ".mp3"));
    CHECK(forced.status == 503);
    CHECK(forced.latency_ms == 25);
    CHECK(json::parse(forced.text).at("status") == 503);
    // Any prefix, any format, the Sid in any case.
    CHECK(call(state, "GET", "/2010-04-01/Accounts/" + project + "/Recordings/" + mixed + ".json")
              .status == 503);
    CHECK(call(state, "GET", recording_target(sid)).status == 200);

    call(state, "POST", "/__sim/faults", {}, {},
         R"({"sid":")" + sid + R"(","redirect":true,"bytes_per_second":100,"short_by":3})");
    const response_plan redirect = call(state, "GET", recording_target(sid));
    CHECK(redirect.status == 302);
    CHECK(redirect.header("Location") == "/__sim/media/" + sid + ".wav");
    CHECK(redirect.content_length == 0);
    const response_plan media = call(state, "GET", "/__sim/media/" + sid + ".mp3");
    CHECK(media.status == 200);
    CHECK(media.body_faults.bytes_per_second == 100);
    CHECK(media.body_faults.short_by == 3);

    CHECK(call(state, "DELETE", "/__sim/faults").status == 204);
    CHECK(call(state, "GET", recording_target(sid)).status == 200);
  }
}

TEST_CASE("TLS counters: requests per SNI name, handshake failures") {
  sim_config config{project, token, 10};
  config.tls = true;
  sim_state state(config);
  const std::string target = recording_target(normal_sid(1), ".wav");
  request_view named{"GET", target, std::nullopt, std::nullopt, {}, "localhost"};
  handle_request(state, named);
  handle_request(state, named);
  request_view unnamed = named;
  unnamed.sni = "";
  handle_request(state, unnamed);
  state.stats.record_handshake_failure();
  // The stats request itself is not counted.
  const request_view stats_request{"GET", "/__sim/requests", std::nullopt, std::nullopt,
                                   {},    "localhost"};
  const json stats = json::parse(handle_request(state, stats_request).text);
  CHECK(stats.at("total") == 3);
  CHECK(stats.at("sni") == json{{"", 1}, {"localhost", 2}});
  CHECK(stats.at("tls_handshake_failures") == 1);

  CHECK(call(state, "POST", "/__sim/reset").status == 204);
  const json after = json::parse(call(state, "GET", "/__sim/requests").text);
  CHECK(after.at("sni").empty());
  CHECK(after.at("tls_handshake_failures") == 0);

  // A plain listener's counters have no TLS fields.
  sim_state plain({project, token, 10});
  const json plain_stats = json::parse(call(plain, "GET", "/__sim/requests").text);
  CHECK_FALSE(plain_stats.contains("sni"));
  CHECK_FALSE(plain_stats.contains("tls_handshake_failures"));
}

TEST_CASE("request counters") {
  sim_state state({project, token, 10});
  const std::string sid = normal_sid(1);
  call(state, "GET", recording_target(sid, ".wav"), {}, "bytes=0-1");
  call(state, "HEAD", recording_target(sid, ".wav"));
  call(state, "GET", recording_target(sid, ".json"), good_auth);
  call(state, "GET", recording_target(sid, ".json"), "Basic eDp5");
  call(state, "GET", "/__sim/media/" + sid + ".wav", good_auth);
  call(state, "POST", "/__sim/faults", {}, {}, R"({"sid":")" + sid + R"("})");
  call(state, "GET", "/__sim/requests");

  const json stats = json::parse(call(state, "GET", "/__sim/requests").text);
  CHECK(stats.at("total") == 5);
  CHECK(stats.at("paths").at(recording_target(sid, ".wav")) == 2);
  CHECK(stats.at("paths").at(recording_target(sid, ".json")) == 2);
  CHECK(stats.at("paths").at("/__sim/media/" + sid + ".wav") == 1);
  CHECK(stats.at("methods") == json{{"GET", 4}, {"HEAD", 1}});
  CHECK(stats.at("ranges") == 1);
  CHECK(stats.at("authorized_json") == 1);
  CHECK(stats.at("media_with_authorization") == 1);
  CHECK(stats.at("requests_with_authorization") == 3);
  CHECK(stats.at("requests_with_valid_authorization") == 2);

  CHECK(call(state, "POST", "/__sim/reset").status == 204);
  const json after = json::parse(call(state, "GET", "/__sim/requests").text);
  CHECK(after.at("total") == 0);
  CHECK(after.at("paths").empty());
  CHECK_FALSE(state.faults.find(sid));
}
