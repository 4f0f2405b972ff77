// The consumers file: reloaded on SIGHUP and when it changes, an invalid one rejected.
#include <fstream>
#include <random>

#include <doctest/doctest.h>
#include <signal.h>

#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"
#include "read_file.hpp"

using namespace gateway_test;

namespace {

std::string consumer_entry(const std::string& id, const std::string& key) {
  return "[[consumers]]\nid = \"" + id + "\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\n" +
         "key_sha256 = \"" + sha256_hex(key) + "\"\n";
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  auto tmp = path.string() + ".tmp";
  std::ofstream(tmp) << text;
  std::filesystem::rename(tmp, path);  // as editors and config tools do: atomically
}

}  // namespace

TEST_CASE("the consumers file is reloaded on SIGHUP and on change; a bad one is refused") {
  std::random_device rd;
  auto file = std::filesystem::temp_directory_path() /
              ("recgate-consumers-" + std::to_string(rd()) + ".toml");
  write_file(file, consumer_entry("filed", "rgk_filed"));
  stack_options o;
  o.extra_config = "[access]\nconsumers_file = \"" + file.string() + "\"\n";
  stack s(o);
  auto path = recording_path(laml_sim::normal_sid(91), "mp3");
  auto status_for = [&](const std::string& key) {
    return s.get(path, {{"Authorization", "Bearer " + key}}).status;
  };
  CHECK(status_for("rgk_filed") == 200);
  CHECK(status_for(consumer_key) == 200);  // the main file's consumer

  // SIGHUP after an edit (the file watcher may see the edit first: either reload counts).
  write_file(file, consumer_entry("filed2", "rgk_filed2"));
  ::kill(s.gateway_pid(), SIGHUP);
  REQUIRE(s.wait_gateway_output("configuration reloaded"));
  CHECK(status_for("rgk_filed") == 401);
  CHECK(status_for("rgk_filed2") == 200);
  CHECK(status_for(consumer_key) == 200);

  // An invalid file is refused; the consumers stay as they were.
  write_file(file, "[[consumers]]\nid = \"broken\"\n");
  REQUIRE(s.wait_gateway_output("new configuration rejected"));
  CHECK(status_for("rgk_filed2") == 200);

  // No signal needed: a change is picked up by itself.
  int reloads = 0;
  for (const auto& line : s.gateway_lines())
    reloads += line.find("configuration reloaded") != std::string::npos;
  write_file(file, consumer_entry("filed2", "rgk_filed2") + consumer_entry("filed3", "rgk_filed3"));
  REQUIRE(s.wait_gateway_output("configuration reloaded", reloads + 1));
  CHECK(status_for("rgk_filed3") == 200);
  CHECK(status_for("rgk_filed2") == 200);
  CHECK(s.sim_stats()["total"].get<int>() == 7);  // only the allowed requests went upstream
  std::filesystem::remove(file);
}

TEST_CASE("admin.require_key: admin requests need a key with the admin scope") {
  stack_options o;
  o.extra_admin = "require_key = true";
  o.extra_consumers = "[[consumers]]\nid = \"ops\"\nscopes = [\"admin\"]\naccounts = [\"" +
                      std::string(project_id) + "\"]\nkey_sha256 = \"" + sha256_hex("rgk_ops") +
                      "\"\n";
  stack s(o);
  auto stats = [&](const std::string& key) {
    headers h;
    if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
    return test_support::request("127.0.0.1", s.admin_port(), "GET", "/cache/stats", h);
  };
  CHECK(stats("").status == 401);
  CHECK(stats("wrong").status == 401);
  CHECK(stats(consumer_key).status == 403);  // a valid key without the admin scope
  CHECK(stats("rgk_ops").status == 200);
  CHECK(s.admin("GET", "/healthz").status == 200);  // probes need no key
  // The CLI takes the key from RECGATE_ADMIN_KEY.
  setenv("RECGATE_ADMIN_KEY", "rgk_ops", 1);
  test_support::child_process cli(
      {RECGATE_BIN, "cache", "stats", "--admin", "127.0.0.1:" + std::to_string(s.admin_port())});
  CHECK(cli.wait_exit(std::chrono::seconds(10)) == 0);
  unsetenv("RECGATE_ADMIN_KEY");
}

TEST_CASE("a consumer given the sign scope by a reload can mint signed URLs at once") {
  setenv("RECGATE_TEST_SIGNING_KEY", "a-test-signing-secret-of-at-least-32-bytes", 1);
  std::random_device rd;
  auto file = std::filesystem::temp_directory_path() /
              ("recgate-consumers-" + std::to_string(rd()) + ".toml");
  write_file(file, consumer_entry("other", "rgk_other"));
  stack_options o;
  o.extra_config = "[access]\nconsumers_file = \"" + file.string() +
                   "\"\n"
                   "[[signing_keys]]\nid = \"s1\"\nsecret_env = \"RECGATE_TEST_SIGNING_KEY\"\n";
  stack s(o);
  auto path = recording_path(laml_sim::normal_sid(92), "mp3");
  auto mint = [&] {
    return test_support::request("127.0.0.1", s.gateway_port(), "POST", "/v1/signed-urls",
                                 {{"Authorization", "Bearer rgk_signer"}},
                                 R"({"path":")" + path + R"("})");
  };
  CHECK(mint().status == 401);
  write_file(file,
             "[[consumers]]\nid = \"signer\"\nscopes = [\"sign\"]\naccounts = [\"*\"]\n"
             "key_sha256 = \"" +
                 sha256_hex("rgk_signer") + "\"\n");
  ::kill(s.gateway_pid(), SIGHUP);
  REQUIRE(s.wait_gateway_output("configuration reloaded"));
  auto minted = mint();
  REQUIRE(minted.status == 201);
  auto url = nlohmann::json::parse(minted.body)["url"].get<std::string>();
  CHECK(s.get(url, {}).status == 200);
  std::filesystem::remove(file);
}

namespace {

// Replaces `from` by `to` in the stack's config file (atomically), then reloads by SIGHUP and
// waits for the reload's log line; returns that line.
std::string reload_with(stack& s, const std::string& from, const std::string& to) {
  auto text = test_support::read_file(s.config_path());
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  int reloads = 0;
  for (const auto& line : s.gateway_lines()) {
    reloads += line.find("configuration reloaded") != std::string::npos;
  }
  write_file(s.config_path(), text);
  s.signal_gateway(SIGHUP);
  REQUIRE(s.wait_gateway_output("configuration reloaded", reloads + 1));
  int seen = 0;
  for (const auto& line : s.gateway_lines()) {
    if (line.find("configuration reloaded") != std::string::npos && ++seen == reloads + 1) {
      return line;
    }
  }
  return {};
}

std::string key_entry(const std::string& id, const std::string& env) {
  return "[[signing_keys]]\nid = \"" + id + "\"\nsecret_env = \"" + env + "\"\n";
}

}  // namespace

// The README: "the first one signs, all verify"; a SIGHUP changes the keys for minting and
// checking alike, so a key is rotated without a restart: {A} -> {B, A} -> {B}.
TEST_CASE("a signing key rotated by SIGHUP: POST /v1/signed-urls mints with the new key") {
  setenv("RECGATE_TEST_SIGNING_KEY_A", "signing-secret-a-of-at-least-32-bytes-0001", 1);
  setenv("RECGATE_TEST_SIGNING_KEY_B", "signing-secret-b-of-at-least-32-bytes-0002", 1);
  stack_options o;
  o.extra_config = key_entry("a", "RECGATE_TEST_SIGNING_KEY_A");
  o.extra_consumers =
      "[[consumers]]\nid = \"signer\"\nscopes = [\"sign\"]\naccounts = [\"*\"]\n"
      "key_sha256 = \"" +
      sha256_hex("rgk_signer") + "\"\n";
  stack s(o);
  auto path = recording_path(laml_sim::normal_sid(93), "mp3");
  auto mint = [&] {
    auto r = test_support::request("127.0.0.1", s.gateway_port(), "POST", "/v1/signed-urls",
                                   {{"Authorization", "Bearer rgk_signer"}},
                                   R"({"path":")" + path + R"("})");
    REQUIRE(r.status == 201);
    return nlohmann::json::parse(r.body)["url"].get<std::string>();
  };
  auto under_a = mint();
  CHECK(under_a.find("rg_key=a") != std::string::npos);
  CHECK(s.get(under_a, {}).status == 200);

  // B added in front: B signs, A still verifies.
  reload_with(
      s, key_entry("a", "RECGATE_TEST_SIGNING_KEY_A"),
      key_entry("b", "RECGATE_TEST_SIGNING_KEY_B") + key_entry("a", "RECGATE_TEST_SIGNING_KEY_A"));
  auto under_b = mint();
  CHECK(under_b.find("rg_key=b") != std::string::npos);
  CHECK(s.get(under_b, {}).status == 200);
  CHECK(s.get(under_a, {}).status == 200);

  // A removed: its URLs are refused, B's play, new ones are B's.
  reload_with(s, key_entry("a", "RECGATE_TEST_SIGNING_KEY_A"), "");
  CHECK(s.get(under_a, {}).status == 403);
  CHECK(s.get(under_b, {}).status == 200);
  auto again = mint();
  CHECK(again.find("rg_key=b") != std::string::npos);
  CHECK(s.get(again, {}).status == 200);
  unsetenv("RECGATE_TEST_SIGNING_KEY_A");
  unsetenv("RECGATE_TEST_SIGNING_KEY_B");
}

TEST_CASE(
    "a reload applies live settings to the next request and names those that need a restart") {
  stack_options o;
  o.cache = true;
  o.extra_cache = "cache_control = \"private, max-age=60\"\n";
  stack s(o);
  auto path = recording_path(laml_sim::normal_sid(94), "wav");
  REQUIRE(s.get(path).ok());
  CHECK(s.get(path).header("Cache-Control") == std::string("private, max-age=60"));

  // cache_control is live; upstream.retries and cache.negative_ttl wait for a restart.
  auto line = reload_with(s, "cache_control = \"private, max-age=60\"\n",
                          "cache_control = \"private, max-age=120\"\nnegative_ttl = \"3s\"\n");
  CHECK(s.get(path).header("Cache-Control") == std::string("private, max-age=120"));
  CHECK(line.find("applied only at a restart: cache.negative_ttl") != std::string::npos);
  CHECK(line.find("cache_control") == std::string::npos);
}
