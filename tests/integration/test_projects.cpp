// Several SignalWire projects in one gateway ([[projects]]), against two laml-sim spaces: each
// request goes to the space of its AccountSid's project with that project's credentials only,
// an AccountSid no project serves is 404 without any upstream request, each project has its own
// pool, breaker, readiness and metrics, and SIGHUP adds and removes projects.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <doctest/doctest.h>

#include "artifacts.hpp"
#include "child_process.hpp"
#include "gateway_fixture.hpp"
#include "http_client.hpp"
#include "laml_sim/laml_sim.hpp"
#include "read_file.hpp"

using namespace gateway_test;

namespace {

constexpr const char* second_project = "2b0e1d5c-3f4a-4b6c-8d7e-9f0a1b2c3d4e";
constexpr const char* second_token = "PT-second-space-token-5a4b3c2d1e0f";
constexpr const char* unserved_account = "3c1f2e6d-4a5b-4c7d-9e8f-0a1b2c3d4e5f";

// The second space: a laml-sim of its own, serving only the second project.
struct second_space {
  std::unique_ptr<test_support::child_process> sim;
  unsigned short port = 0;

  second_space() {
    sim = std::make_unique<test_support::child_process>(std::vector<std::string>{
        LAML_SIM_BIN, "--listen", "127.0.0.1:0", "--project-id", second_project, "--api-token",
        second_token, "--duration", std::to_string(sim_duration), "--quiet"});
    auto line = sim->wait_for_line(
        [](std::string_view l) {
          return l.starts_with("laml-sim:") && l.find("listening on") != std::string_view::npos;
        },
        std::chrono::seconds(10));
    REQUIRE(line);
    port = static_cast<unsigned short>(std::stoul(line->substr(line->rfind(':') + 1)));
    test_support::artifacts::add_secret(second_token);
    test_support::artifacts::add_secret(
        test_support::basic_authorization(second_project, second_token).substr(6));
  }

  nlohmann::json stats() const {
    auto r = test_support::request("127.0.0.1", port, "GET", "/__sim/requests");
    REQUIRE(r.status == 200);
    return nlohmann::json::parse(r.body);
  }

  std::string project_table() const {
    return "[[projects]]\nid = \"support\"\nspace_url = \"http://127.0.0.1:" +
           std::to_string(port) + "\"\nproject_id = \"" + second_project +
           "\"\napi_token_env = \"RECGATE_TEST_SECOND_TOKEN\"\n";
  }
};

std::string path_in(const std::string& account, const std::string& sid, const std::string& ext) {
  return "/api/laml/2010-04-01/Accounts/" + account + "/Recordings/" + sid +
         (ext.empty() ? "" : "." + ext);
}

const headers everywhere{{"Authorization", "Bearer rgk_everywhere"}};

}  // namespace

TEST_CASE("two projects on two spaces: each AccountSid to its own space and credentials") {
  second_space support;
  setenv("RECGATE_TEST_SECOND_TOKEN", second_token, 1);
  stack_options o;
  o.cache = true;
  o.extra_config = support.project_table();
  o.extra_consumers = consumer_entry("everywhere", "audio\", \"metadata", "rgk_everywhere");
  stack s(o);
  const auto sid = laml_sim::normal_sid(950);

  // The first project's recordings: its space, its credentials; the second space sees nothing.
  REQUIRE(s.get(path_in(project_id, sid, "json"), everywhere).status == 200);
  REQUIRE(s.get(path_in(project_id, sid, "wav"), everywhere).status == 200);
  CHECK(s.sim_stats()["requests_with_valid_authorization"] == 1);
  CHECK(support.stats()["total"] == 0);

  // The second project's: its space with its own token (laml-sim accepts only its own).
  auto metadata = s.get(path_in(second_project, sid, "json"), everywhere);
  REQUIRE(metadata.status == 200);
  CHECK(nlohmann::json::parse(metadata.body)["account_sid"] == second_project);
  auto audio = s.get(path_in(second_project, sid, "wav"), everywhere);
  CHECK(audio.status == 200);
  CHECK(audio.body == expected_body(sid, "wav"));
  auto stats = support.stats();
  CHECK(stats["total"] == 2);
  CHECK(stats["requests_with_valid_authorization"] == 1);  // the .json, with its own token
  CHECK(stats["media_with_authorization"] == 0);           // audio never carries credentials
  CHECK(s.sim_stats()["total"] == 2);                      // nothing more reached the first

  // The same Sid under two projects is two recordings in the cache.
  bool hit = false;
  for (int i = 0; i < 500 && !hit; ++i) {  // the fill commits a moment after the body is sent
    hit = s.get(path_in(second_project, sid, "wav"), everywhere, "HEAD").header("X-Cache") ==
          std::string("HIT");
    if (!hit) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(hit);
  CHECK(s.get(path_in(second_project, sid, "wav"), everywhere).header("X-Cache") ==
        std::string("HIT"));
  CHECK(s.get(path_in(project_id, sid, "wav"), everywhere).header("X-Cache") ==
        std::string("HIT"));  // the first project's copy is its own

  // An AccountSid no project serves: 404 here, no request anywhere.
  for (const char* ext : {"wav", "json"}) {
    CAPTURE(ext);
    check_json_error(s.get(path_in(unserved_account, sid, ext), everywhere), 404);
  }
  CHECK(s.sim_stats()["total"] == 2);
  CHECK(support.stats()["total"] == 2);

  // Per project: metrics, readiness.
  auto m = scrape(s);
  CHECK(m[R"(recgate_upstream_attempts_total{project="default"})"] == 2);
  CHECK(m[R"(recgate_upstream_attempts_total{project="support"})"] == 2);
  CHECK(m[R"(recgate_upstream_circuit_open{project="support"})"] == 0);
  CHECK(
      m[R"(recgate_requests_total{route="metadata",status="200",consumer="everywhere",project="support"})"] ==
      1);
  CHECK(
      m[R"(recgate_requests_total{route="audio",status="404",consumer="everywhere",project="-"})"] ==
      1);
  auto ready = nlohmann::json::parse(s.admin("GET", "/readyz").body);
  CHECK(ready["status"] == "ready");
  CHECK(ready["projects"]["default"]["upstream"] == "reachable");
  CHECK(ready["projects"]["support"]["upstream"] == "reachable");
  CHECK(ready["projects"]["support"]["credentials"] == "accepted");

  // One space down: the other project goes on; /readyz says which one, degraded but ready.
  support.sim->terminate();
  auto failed = s.get(path_in(second_project, laml_sim::normal_sid(951), "wav"), everywhere);
  CHECK(failed.status >= 502);
  CHECK(s.get(path_in(project_id, laml_sim::normal_sid(951), "wav"), everywhere).status == 200);
  auto degraded = s.admin("GET", "/readyz");
  CHECK(degraded.status == 200);
  auto body = nlohmann::json::parse(degraded.body);
  CHECK(body["status"] == "degraded");
  CHECK(body["upstream"] == "partly reachable");
  CHECK(body["projects"]["support"]["upstream"] == "unreachable");
  CHECK(body["projects"]["default"]["upstream"] == "reachable");

  // The access log names the project of each request.
  bool named = false;
  for (const auto& line : s.stop_gateway()) {
    if (line.find("\"log\":\"access\"") == std::string::npos) continue;
    if (line.find(second_project) != std::string::npos &&
        line.find("\"project\":\"support\"") != std::string::npos) {
      named = true;
    }
    if (line.find(unserved_account) != std::string::npos) {
      CHECK(line.find("\"project\":\"-\"") != std::string::npos);
    }
  }
  CHECK(named);
}

TEST_CASE("SIGHUP adds and removes projects; requests for a removed one are 404 at once") {
  second_space support;
  setenv("RECGATE_TEST_SECOND_TOKEN", second_token, 1);
  stack_options o;
  o.extra_consumers = consumer_entry("everywhere", "audio\", \"metadata", "rgk_everywhere");
  stack s(o);
  const auto sid = laml_sim::normal_sid(960);
  const auto original = test_support::read_file(s.config_path());
  check_json_error(s.get(path_in(second_project, sid, "json"), everywhere), 404);
  CHECK(support.stats()["total"] == 0);

  // Added: served from the next request on, with its token.
  {
    // Before the consumers: a [[projects]] table after them would be read as part of the last.
    auto added = original;
    added.insert(added.find("[[consumers]]"), support.project_table());
    std::ofstream(s.config_path()) << added;
  }
  s.signal_gateway(SIGHUP);
  REQUIRE(s.wait_gateway_line({"configuration reloaded", "2 projects", "new or changed: support"}));
  CHECK(s.get(path_in(second_project, sid, "json"), everywhere).status == 200);
  CHECK(support.stats()["requests_with_valid_authorization"] == 1);
  CHECK(scrape(s)[R"(recgate_upstream_attempts_total{project="support"})"] == 1);

  // Removed: 404 again, nothing sent to its space; the first project is untouched.
  std::ofstream(s.config_path()) << original;
  s.signal_gateway(SIGHUP);
  REQUIRE(s.wait_gateway_line({"configuration reloaded", "1 projects", "removed: support"}));
  check_json_error(s.get(path_in(second_project, sid, "json"), everywhere), 404);
  CHECK(support.stats()["total"] == 1);
  CHECK(s.get(path_in(project_id, sid, "json"), everywhere).status == 200);
  CHECK(scrape(s).count(R"(recgate_upstream_attempts_total{project="support"})") == 0);
}

TEST_CASE(
    "status callbacks of two projects: each verified with its project's key, prefetched "
    "from its own space") {
  second_space support;
  setenv("RECGATE_TEST_SECOND_TOKEN", second_token, 1);
  const char* common_key = "PSK_common-callback-key-0b1c2d3e4f";
  const char* support_key = "PSK_support-callback-key-5a6b7c8d9e";
  setenv("RECGATE_TEST_CALLBACK_KEY", common_key, 1);
  setenv("RECGATE_TEST_SUPPORT_CALLBACK_KEY", support_key, 1);
  test_support::artifacts::add_secret(common_key);
  test_support::artifacts::add_secret(support_key);
  stack_options o;
  o.cache = true;
  o.extra_config =
      "[callbacks]\npath = \"/callbacks/recording-status\"\n"
      "signing_key_env = \"RECGATE_TEST_CALLBACK_KEY\"\n" +
      support.project_table() +
      "callback_signing_key_env = \"RECGATE_TEST_SUPPORT_CALLBACK_KEY\"\n";
  o.extra_consumers = consumer_entry("everywhere", "audio\", \"metadata", "rgk_everywhere");
  stack s(o);
  const std::string url =
      "http://127.0.0.1:" + std::to_string(s.gateway_port()) + "/callbacks/recording-status";
  auto send = [&](unsigned short sim_port, const std::string& sid, const char* key) {
    nlohmann::json ask{{"url", url}, {"sid", sid}, {"signing_key", key}};
    auto r = test_support::request("127.0.0.1", sim_port, "POST", "/__sim/callbacks",
                                   {{"Content-Type", "application/json"}}, ask.dump());
    REQUIRE_MESSAGE(r.status == 200, r.body);
    return nlohmann::json::parse(r.body)["status"].get<int>();
  };
  const auto first_sid = laml_sim::normal_sid(970);
  const auto second_sid = laml_sim::normal_sid(971);

  // The second space's callback, signed with its project's own key: accepted, and the recording
  // is prefetched from that space.
  CHECK(send(support.port, second_sid, support_key) == 204);
  CHECK(send(support.port, second_sid, common_key) == 403);  // not its project's key
  CHECK(send(s.sim_port(), first_sid, common_key) == 204);   // the first: the common key
  CHECK(send(s.sim_port(), first_sid, support_key) == 403);
  REQUIRE(wait_metric(s, "recgate_prefetches_done_total", exactly(2)));
  CHECK(support.stats()["paths"].contains(path_in(second_project, second_sid, "wav")));
  CHECK_FALSE(s.sim_stats()["paths"].contains(path_in(second_project, second_sid, "wav")));
  CHECK(s.sim_stats()["paths"].contains(path_in(project_id, first_sid, "wav")));
  auto cached = s.get(path_in(second_project, second_sid, "wav"), everywhere, "HEAD");
  CHECK(cached.header("X-Cache") == std::string("HIT"));
}
