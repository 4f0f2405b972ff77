// The laml-sim binary over real loopback sockets.
#include <future>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "http_client.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace laml_sim;
using nlohmann::json;
using test_support::http_result;

namespace {

const std::string project = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
const std::string token = "PT-do-not-log-me";
constexpr std::uint32_t duration = 2;

using header_list = std::vector<std::pair<std::string, std::string>>;

std::string rec(std::string_view sid, std::string_view ext, std::string_view account = project) {
  return "/api/laml/2010-04-01/Accounts/" + std::string(account) + "/Recordings/" +
         std::string(sid) + std::string(ext);
}

std::string expected(std::string_view sid, audio_format format, std::uint64_t first = 0,
                     std::uint64_t n = UINT64_MAX) {
  const std::uint64_t size = body_size(sid, format, duration);
  std::string out(std::min(n, size - first), '\0');
  fill_body(sid, format, duration, first, std::span<char>(out.data(), out.size()));
  return out;
}

// A laml-sim child on 127.0.0.1 and a free port, ready once its "listening on" line arrived.
struct sim_process {
  test_support::child_process process;
  unsigned short port = 0;

  explicit sim_process(bool quiet = true)
      : process(quiet ? std::vector<std::string>{LAML_SIM_BIN, "--listen", "127.0.0.1:0",
                                                 "--project-id", project, "--api-token", token,
                                                 "--duration", std::to_string(duration), "--quiet"}
                      : std::vector<std::string>{LAML_SIM_BIN, "--listen", "127.0.0.1:0",
                                                 "--project-id", project, "--api-token", token,
                                                 "--duration", std::to_string(duration),
                                                 "--threads", "3"}) {
    const std::string prefix = "laml-sim: listening on 127.0.0.1:";
    const auto line = process.wait_for_line(
        [&](std::string_view l) { return l.starts_with(prefix); }, std::chrono::seconds(10));
    REQUIRE_MESSAGE(line, "laml-sim did not start");
    port = static_cast<unsigned short>(std::stoul(line->substr(prefix.size())));
  }

  http_result get(const std::string& target, header_list headers = {},
                  std::string method = "GET") const {
    return test_support::request("127.0.0.1", port, std::move(method), target, std::move(headers));
  }

  void fault(const json& rule) const {
    const http_result r =
        test_support::request("127.0.0.1", port, "POST", "/__sim/faults",
                              {{"Content-Type", "application/json"}}, rule.dump());
    REQUIRE(r.status == 204);
  }

  json stats() const {
    const http_result r = get("/__sim/requests");
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  }
};

std::string auth() { return test_support::basic_authorization(project, token); }

void check_error(const http_result& r, unsigned status) {
  CHECK(r.ok());
  CHECK(r.status == status);
  CHECK(r.header("Content-Type") == "application/json");
  CHECK(r.header("Content-Length") == std::to_string(r.body.size()));
  const json j = json::parse(r.body, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j.at("status") == status);
  CHECK(j.contains("code"));
  CHECK(j.contains("message"));
  CHECK(j.contains("more_info"));
}

}  // namespace

TEST_CASE("server: recordings, both prefixes, HEAD") {
  const sim_process sim;
  const std::string sid = normal_sid(1);

  const http_result wav = sim.get(rec(sid, ".wav"));
  REQUIRE(wav.ok());
  CHECK(wav.status == 200);
  CHECK(wav.body == expected(sid, audio_format::wav));
  CHECK(wav.header("Content-Length") == std::to_string(wav.body.size()));
  CHECK(wav.header("Content-Type") == "audio/x-wav");
  CHECK(wav.header("Accept-Ranges") == "bytes");
  CHECK(wav.header("Server") == "laml-sim");
  CHECK(wav.header("Set-Cookie").value_or("").starts_with("sim_session="));

  CHECK(sim.get(rec(sid, "")).body == wav.body);
  CHECK(sim.get(rec(sid, ".wav?download=1")).body == wav.body);
  CHECK(sim.get("/2010-04-01/Accounts/" + project + "/Recordings/" + sid + ".wav").body ==
        wav.body);
  const http_result mp3 = sim.get(rec(sid, ".mp3"));
  CHECK(mp3.header("Content-Type") == "audio/mpeg");
  CHECK(mp3.body == expected(sid, audio_format::mp3));

  // Several chunks, an odd size, the Sid in upper case.
  const std::string big = sized_sid(0xabc, 300001);
  std::string upper = big;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(sim.get(rec(upper, ".wav")).body == expected(big, audio_format::wav));

  const http_result head = sim.get(rec(sid, ".mp3"), {}, "HEAD");
  CHECK(head.ok());
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == std::to_string(body_size(sid, audio_format::mp3, 2)));
  CHECK(head.body.empty());
  const http_result head_error = sim.get(rec(absent_sid(1), ".wav"), {}, "HEAD");
  CHECK(head_error.status == 404);
  CHECK(head_error.header("Content-Length") != "0");
}

TEST_CASE("server: concurrent downloads on several threads") {
  const sim_process sim;
  std::vector<std::future<bool>> downloads;
  for (std::uint32_t i = 0; i < 4; ++i)
    downloads.push_back(std::async(std::launch::async, [&sim, i] {
      const std::string sid = sized_sid(100 + i, 1'000'000);
      return sim.get(rec(sid, ".mp3")).body == expected(sid, audio_format::mp3);
    }));
  for (auto& d : downloads) CHECK(d.get());
}

TEST_CASE("server: metadata needs Basic auth") {
  const sim_process sim;
  const std::string sid = normal_sid(2);

  const http_result denied = sim.get(rec(sid, ".json"));
  check_error(denied, 401);
  CHECK(json::parse(denied.body).at("code") == 20003);
  CHECK(denied.header("WWW-Authenticate") == "Basic realm=\"SignalWire\"");
  check_error(sim.get(rec(sid, ".json"), {{"Authorization", "Basic eDp5"}}), 401);
  check_error(sim.get(rec(sid, ".json"),
                      {{"Authorization", test_support::basic_authorization(project, "wrong")}}),
              401);

  const http_result ok = sim.get(rec(sid, ".json"), {{"Authorization", auth()}});
  CHECK(ok.status == 200);
  CHECK(ok.header("Content-Type") == "application/json");
  CHECK(ok.body == metadata_json(sid, project, duration));
  CHECK(json::parse(ok.body).size() == 21);
  const http_result short_prefix =
      sim.get("/2010-04-01/Accounts/" + project + "/Recordings/" + sid + ".json",
              {{"Authorization", auth()}});
  CHECK(short_prefix.body == ok.body);
}

TEST_CASE("server: ranges") {
  const sim_process sim;
  const std::string sid = normal_sid(3);
  const std::uint64_t size = body_size(sid, audio_format::mp3, duration);

  const http_result part = sim.get(rec(sid, ".mp3"), {{"Range", "bytes=100-199"}});
  CHECK(part.status == 206);
  CHECK(part.header("Content-Range") == "bytes 100-199/" + std::to_string(size));
  CHECK(part.body == expected(sid, audio_format::mp3, 100, 100));

  const http_result tail = sim.get(rec(sid, ".wav"), {{"Range", "bytes=-7"}});
  CHECK(tail.status == 206);
  CHECK(tail.body == expected(sid, audio_format::wav, 44 + 32000 - 7));

  const http_result beyond =
      sim.get(rec(sid, ".mp3"), {{"Range", "bytes=" + std::to_string(size) + "-"}});
  CHECK(beyond.status == 416);
  CHECK(beyond.header("Content-Range") == "bytes */" + std::to_string(size));

  const http_result several = sim.get(rec(sid, ".mp3"), {{"Range", "bytes=0-1,5-9"}});
  CHECK(several.status == 200);
  CHECK(several.body.size() == size);
}

TEST_CASE("server: not found and method errors") {
  const sim_process sim;
  for (const char* ext : {"", ".wav", ".mp3"}) check_error(sim.get(rec(absent_sid(7), ext)), 404);
  check_error(sim.get(rec(absent_sid(7), ".json"), {{"Authorization", auth()}}), 404);
  const http_result wrong_account = sim.get(rec(normal_sid(1), ".wav", normal_sid(99)));
  check_error(wrong_account, 404);
  CHECK(json::parse(wrong_account.body).at("message") ==
        "The requested resource /2010-04-01/Accounts/" + normal_sid(99) + "/Recordings/" +
            normal_sid(1) + ".wav was not found");
  check_error(sim.get(rec("not-a-sid", ".wav")), 404);
  check_error(sim.get("/nothing/here"), 404);
  check_error(sim.get(rec(normal_sid(1), ".wav"), {}, "POST"), 405);
  check_error(sim.get("/__sim/media/" + normal_sid(1) + ".wav", {}, "DELETE"), 405);
}

TEST_CASE("server: DELETE removes a recording in every form, with the project's credentials") {
  const sim_process sim;
  const std::string sid = normal_sid(5);
  check_error(sim.get(rec(sid, ".json"), {}, "DELETE"), 401);
  CHECK(sim.get(rec(sid, ".wav")).status == 200);
  const http_result deleted = sim.get(rec(sid, ""), {{"Authorization", auth()}}, "DELETE");
  CHECK(deleted.status == 204);
  CHECK(deleted.body.empty());
  for (const char* ext : {"", ".wav", ".mp3"}) check_error(sim.get(rec(sid, ext)), 404);
  check_error(sim.get(rec(sid, ".json"), {{"Authorization", auth()}}), 404);
  check_error(sim.get(rec(sid, ".json"), {{"Authorization", auth()}}, "DELETE"), 404);
  CHECK(sim.get(rec(normal_sid(6), ".wav")).status == 200);  // only that one
  CHECK(sim.get("/__sim/reset", {}, "POST").status == 204);
  CHECK(sim.get(rec(sid, ".wav")).status == 200);
}

TEST_CASE("server: request counters") {
  const sim_process sim;
  const std::string sid = normal_sid(4);
  sim.get(rec(sid, ".wav"), {{"Range", "bytes=0-9"}});
  sim.get(rec(sid, ".wav"), {}, "HEAD");
  sim.get(rec(sid, ".json"), {{"Authorization", auth()}});
  sim.get(rec(sid, ".json"));
  sim.fault({{"sid", sid}});  // not counted

  json stats = sim.stats();
  CHECK(stats.at("total") == 4);
  CHECK(stats.at("paths").at(rec(sid, ".wav")) == 2);
  CHECK(stats.at("paths").at(rec(sid, ".json")) == 2);
  CHECK(stats.at("methods") == json{{"GET", 3}, {"HEAD", 1}});
  CHECK(stats.at("ranges") == 1);
  CHECK(stats.at("authorized_json") == 1);
  CHECK(stats.at("requests_with_authorization") == 1);
  CHECK(stats.at("requests_with_valid_authorization") == 1);
  CHECK(stats.at("media_with_authorization") == 0);

  CHECK(test_support::request("127.0.0.1", sim.port, "POST", "/__sim/reset").status == 204);
  stats = sim.stats();
  CHECK(stats.at("total") == 0);
  CHECK(stats.at("paths").empty());
}

TEST_CASE("server: fault knobs") {
  const sim_process sim;

  SUBCASE("latency delays the headers") {
    const std::string sid = normal_sid(10);
    sim.fault({{"sid", sid}, {"latency_ms", 300}});
    const http_result r = sim.get(rec(sid, ".json"), {{"Authorization", auth()}});
    CHECK(r.status == 200);
    CHECK(r.header_time >= std::chrono::milliseconds(300));
  }
  SUBCASE("throttle paces the body") {
    const std::string sid = sized_sid(11, 44 + 2000);
    sim.fault({{"sid", sid}, {"bytes_per_second", 4000}});
    const http_result r = sim.get(rec(sid, ".wav"));
    CHECK(r.ok());
    CHECK(r.body == expected(sid, audio_format::wav));
    // 2044 bytes at 4000 B/s: the last byte may not leave before 511 ms.
    CHECK(r.total_time >= std::chrono::milliseconds(500));
  }
  SUBCASE("reset_after ends the body with an error") {
    const std::string sid = sized_sid(12, 1'000'000);
    sim.fault({{"sid", sid}, {"reset_after", 1000}});
    const http_result r = sim.get(rec(sid, ".wav"));
    CHECK_FALSE(r.ok());
    CHECK(r.body.size() <= 1000);
  }
  SUBCASE("short_by sends less than Content-Length") {
    const std::string sid = normal_sid(13);
    sim.fault({{"sid", sid}, {"short_by", 100}});
    const http_result r = sim.get(rec(sid, ".mp3"));
    const std::string full = expected(sid, audio_format::mp3);
    CHECK(r.status == 200);
    CHECK(r.header("Content-Length") == std::to_string(full.size()));
    CHECK_FALSE(r.ok());
    CHECK(r.body == full.substr(0, full.size() - 100));
  }
  SUBCASE("status is forced for every form and account") {
    const std::string sid = normal_sid(14);
    sim.fault({{"sid", sid}, {"status", 503}});
    check_error(sim.get(rec(sid, ".wav")), 503);
    check_error(sim.get("/2010-04-01/Accounts/" + project + "/Recordings/" + sid + ".json",
                        {{"Authorization", auth()}}),
                503);
    CHECK(sim.get(rec(normal_sid(15), ".wav")).status == 200);  // other Sids unaffected

    CHECK(test_support::request("127.0.0.1", sim.port, "DELETE", "/__sim/faults").status == 204);
    CHECK(sim.get(rec(sid, ".wav")).status == 200);
  }
  SUBCASE("redirect to media, served without credentials") {
    const std::string sid = normal_sid(16);
    sim.fault({{"sid", sid}, {"redirect", true}});
    const http_result r = sim.get(rec(sid, ".mp3"));
    CHECK(r.status == 302);
    CHECK(r.header("Location") == "/__sim/media/" + sid + ".mp3");
    CHECK(r.header("Content-Length") == "0");
    CHECK(r.body.empty());
    CHECK(sim.get(rec(sid, "")).header("Location") == "/__sim/media/" + sid + ".wav");

    const http_result media = sim.get(*r.header("Location"));
    CHECK(media.status == 200);
    CHECK(media.header("Content-Type") == "audio/mpeg");
    CHECK(media.body == expected(sid, audio_format::mp3));
    const http_result ranged = sim.get("/__sim/media/" + sid + ".wav",
                                       {{"Range", "bytes=10-19"}, {"Authorization", auth()}});
    CHECK(ranged.status == 206);
    CHECK(ranged.body == expected(sid, audio_format::wav, 10, 10));
    const json stats = sim.stats();
    CHECK(stats.at("media_with_authorization") == 1);
    CHECK(stats.at("paths").at("/__sim/media/" + sid + ".mp3") == 1);
  }
  SUBCASE("malformed rules are rejected") {
    CHECK(
        test_support::request("127.0.0.1", sim.port, "POST", "/__sim/faults", {}, "{nope").status ==
        400);
    CHECK(test_support::request("127.0.0.1", sim.port, "POST", "/__sim/faults", {},
                                R"({"sid":"x","latency_ms":1})")
              .status == 400);
  }
  SUBCASE("unparsable requests and oversized bodies are answered, then closed") {
    check_error(test_support::request("127.0.0.1", sim.port, "GE(T", "/x"), 400);
    check_error(test_support::request("127.0.0.1", sim.port, "POST", "/__sim/faults", {},
                                      std::string(100 * 1024, ' ')),
                413);
  }
}

TEST_CASE("server: logs requests but never the token; SIGTERM exits 0") {
  sim_process sim(/*quiet=*/false);
  const std::string sid = normal_sid(20);
  CHECK(sim.get(rec(sid, ".json"), {{"Authorization", auth()}}).status == 200);
  CHECK(sim.process.wait_for_line(
      [](std::string_view l) { return l.find("GET /api/laml/") != std::string_view::npos; },
      std::chrono::seconds(5)));
  CHECK(sim.process.terminate() == 0);
  for (const auto& line : sim.process.lines()) {
    CAPTURE(line);
    CHECK(line.find(token) == std::string::npos);
    CHECK(line.find(auth().substr(6)) == std::string::npos);
  }
}

TEST_CASE("server: --tls-cert and --tls-key come together, as loadable PEM") {
  const auto exit_code = [](std::vector<std::string> tls_args) {
    std::vector<std::string> argv{LAML_SIM_BIN, "--listen",    "127.0.0.1:0", "--project-id",
                                  project,      "--api-token", token};
    argv.insert(argv.end(), tls_args.begin(), tls_args.end());
    test_support::child_process p(argv);
    const auto code = p.wait_exit(std::chrono::seconds(10));
    // Output is complete once it has ended: wait for that (a line that never matches).
    p.wait_for_line([](std::string_view) { return false; }, std::chrono::seconds(5));
    return std::make_pair(code, p.lines());
  };
  // Usage errors (CLI11's codes are above 100), before anything is bound.
  CHECK(exit_code({"--tls-cert", LAML_SIM_BIN}).first > 100);
  CHECK(exit_code({"--tls-key", LAML_SIM_BIN}).first > 100);
  CHECK(exit_code({"--tls-cert", "/nonexistent.pem", "--tls-key", LAML_SIM_BIN}).first > 100);
  // An existing file that is not a PEM certificate: 2, naming the option.
  const auto [code, lines] = exit_code({"--tls-cert", LAML_SIM_BIN, "--tls-key", LAML_SIM_BIN});
  CHECK(code == 2);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.front().starts_with("laml-sim: cannot load --tls-cert"));
}
