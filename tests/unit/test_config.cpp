#include <cstdio>
#include <fstream>
#include <map>

#include <doctest/doctest.h>
#include <sched.h>
#include <unistd.h>

#include "config/load.hpp"

using namespace recgate::config;

namespace {

const std::string hash(64, 'a');

std::string minimal(std::string extra_upstream = "", std::string extra = "") {
  return "[server]\nlisten = \"127.0.0.1:8080\"\n"
         "[upstream]\nbase_url = \"https://example.signalwire.com\"\nproject_id = \"proj\"\n" +
         extra_upstream +
         "\n[[consumers]]\nid = \"billing\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\n" +
         "key_sha256 = \"" + hash + "\"\n" + extra;
}

env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const env_lookup with_token = env_of({{"SIGNALWIRE_API_TOKEN", "PT-secret"}});

// True when some error names `key` and its message contains `words`.
bool has_error(const load_result& r, std::string_view key, std::string_view words = "") {
  if (r.ok()) return false;
  for (const auto& e : r.error()) {
    if (e.key == key && e.message.find(words) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("server.threads = 0 is the cores the process may run on, not every core") {
  cpu_set_t original;
  CPU_ZERO(&original);
  REQUIRE(sched_getaffinity(0, sizeof original, &original) == 0);
  CHECK(usable_cores() == static_cast<unsigned>(CPU_COUNT(&original)));
  // Narrowed to one core (as taskset or a cpuset does): one I/O thread.
  int first = 0;
  while (!CPU_ISSET(first, &original)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  auto r = load_from_string(minimal(), "t.toml", with_token);
  const unsigned narrowed = usable_cores();
  REQUIRE(sched_setaffinity(0, sizeof original, &original) == 0);
  REQUIRE(r.ok());
  CHECK(narrowed == 1);
  CHECK(r->server.threads == 1);
}

TEST_CASE("a minimal configuration loads with defaults") {
  auto r = load_from_string(minimal(), "t.toml", with_token);
  REQUIRE(r.ok());
  const auto& c = *r;
  CHECK(c.server.listen.host == "127.0.0.1");
  CHECK(c.server.listen.port == 8080);
  CHECK(c.server.threads >= 1);
  CHECK(c.upstream.url.scheme == "https");
  CHECK(c.upstream.url.host == "example.signalwire.com");
  CHECK(c.upstream.url.port == 443);
  CHECK(c.upstream.url.authority() == "example.signalwire.com");
  CHECK(c.upstream.project_id == "proj");
  CHECK(c.upstream.api_token == "PT-secret");
  CHECK(c.upstream.api_token_source == "env SIGNALWIRE_API_TOKEN");
  REQUIRE(c.consumers.size() == 1);
  CHECK(c.consumers[0].id == "billing");
  CHECK(c.log.format == "text");
}

TEST_CASE("environment overrides win over the file") {
  auto r = load_from_string(minimal(), "t.toml",
                            env_of({{"RECGATE_LISTEN", "0.0.0.0:9000"},
                                    {"RECGATE_UPSTREAM_URL", "http://127.0.0.1:7000"},
                                    {"SIGNALWIRE_PROJECT_ID", "other"},
                                    {"SIGNALWIRE_API_TOKEN", "tok"}}));
  REQUIRE(r.ok());
  CHECK(r->server.listen.port == 9000);
  CHECK(r->upstream.url.to_string() == "http://127.0.0.1:7000");
  CHECK(r->upstream.url.authority() == "127.0.0.1:7000");
  CHECK(r->upstream.project_id == "other");
  CHECK(r->upstream.api_token == "tok");
}

TEST_CASE("the token comes from the named variable or a file, never the config text") {
  SUBCASE("a custom variable") {
    auto r = load_from_string(minimal("api_token_env = \"MY_TOKEN\""), "t.toml",
                              env_of({{"MY_TOKEN", "abc"}}));
    REQUIRE(r.ok());
    CHECK(r->upstream.api_token == "abc");
  }
  SUBCASE("a file, trailing newline trimmed") {
    char name[] = "/tmp/recgate-token-XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    std::string path = name;
    std::ofstream(path) << "from-file\n";
    auto r = load_from_string(minimal("api_token_file = \"" + path + "\""), "t.toml", env_of({}));
    std::remove(path.c_str());
    REQUIRE(r.ok());
    CHECK(r->upstream.api_token == "from-file");
    CHECK(r->upstream.api_token_source == "file " + path);
  }
  SUBCASE("an unreadable file") {
    auto r =
        load_from_string(minimal("api_token_file = \"/nonexistent/token\""), "t.toml", env_of({}));
    CHECK(has_error(r, "upstream.api_token_file", "cannot read"));
  }
  SUBCASE("no token at all") {
    auto r = load_from_string(minimal(), "t.toml", env_of({}));
    CHECK(has_error(r, "upstream.api_token_env", "SIGNALWIRE_API_TOKEN"));
  }
  SUBCASE("a literal token in the file is refused, and not echoed") {
    auto r = load_from_string(minimal("api_token = \"PT-literal-secret\""), "t.toml", with_token);
    CHECK(has_error(r, "upstream.api_token", "not accepted"));
    for (const auto& e : r.error())
      CHECK(e.to_string().find("PT-literal-secret") == std::string::npos);
  }
}

TEST_CASE("errors name the key and the problem") {
  CHECK(has_error(load_from_string(minimal("base_url = 1"), "t.toml", with_token), "",
                  "t.toml:"));  // duplicate key: a TOML syntax error with its position
  auto r = load_from_string(
      "[server]\nlisten = \"nope\"\nthreads = -1\nheader_timeout = \"5 parsecs\"\n"
      "[upstream]\nbase_url = \"ftp://x\"\nverify_tls = \"yes\"\n"
      "max_redirects = 99\ncolour = \"blue\"\n"
      "[[consumers]]\nid = \"\"\nkey_sha256 = \"ABC\"\n"
      "[[consumers]]\nid = \"a\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\nkey_sha256 = \"" +
          hash +
          "\"\n"
          "[[consumers]]\nid = \"a\"\nscopes = [\"play\"]\naccounts = [\"nope\"]\nnetworks = "
          "[\"10.0.0.0/33\"]\nkey_sha256 = \"" +
          hash +
          "\"\n"
          "[log]\nlevel = \"loud\"\nformat = \"xml\"\n[extra]\n",
      "t.toml", with_token);
  CHECK_FALSE(r.ok());
  CHECK(has_error(r, "server.listen", "host:port"));
  CHECK(has_error(r, "server.threads", "between"));
  CHECK(has_error(r, "server.header_timeout", "duration"));
  CHECK(has_error(r, "upstream.base_url", "http:// or https://"));
  CHECK(has_error(r, "upstream.verify_tls", "true or false"));
  CHECK(has_error(r, "upstream.max_redirects", "between 0 and 10"));
  CHECK(has_error(r, "upstream.colour", "unknown key"));
  CHECK(has_error(r, "upstream.project_id", "required"));
  CHECK(has_error(r, "consumers[0].id", "required"));
  CHECK(has_error(r, "consumers[0].key_sha256", "64 lower-case hex"));
  CHECK(has_error(r, "consumers[2].id", "duplicate"));
  CHECK(has_error(r, "consumers[2].key_sha256", "twice"));
  CHECK(has_error(r, "consumers[0].scopes", "required"));
  CHECK(has_error(r, "consumers[0].accounts", "required"));
  CHECK(has_error(r, "consumers[2].scopes", "unknown scope"));
  CHECK(has_error(r, "consumers[2].accounts", "neither"));
  CHECK(has_error(r, "consumers[2].networks", "not an address"));
  CHECK(has_error(r, "log.level", "one of"));
  CHECK(has_error(r, "log.format", "text"));
  CHECK(has_error(r, "extra", "unknown key"));

  // A list with an item that is not a string: that is one error, and its strings are still
  // checked, so every problem is reported at once.
  auto mixed = load_from_string(
      "[upstream]\nbase_url = \"https://example.signalwire.com\"\nproject_id = \"p\"\n"
      "[[consumers]]\nid = \"a\"\nscopes = [\"audio\", 1, \"bogus\"]\naccounts = [\"*\"]\n"
      "key_sha256 = \"" +
          hash + "\"\n",
      "t.toml", with_token);
  CHECK(has_error(mixed, "consumers[0].scopes", "array of strings"));
  CHECK(has_error(mixed, "consumers[0].scopes", "unknown scope \"bogus\""));
}

TEST_CASE("the cache section: off by default, validated when present") {
  auto off = load_from_string(minimal(), "t.toml", with_token);
  REQUIRE(off.ok());
  CHECK_FALSE(off->cache.enabled());
  auto on =
      load_from_string(minimal("", "[cache]\npath = \"/var/cache/recgate\"\nchunk_size = 65536\n"),
                       "t.toml", with_token);
  REQUIRE(on.ok());
  CHECK(on->cache.enabled());
  CHECK(on->cache.chunk_size == 65536);
  CHECK(on->cache.cache_control.find("immutable") != std::string::npos);
  auto bad =
      load_from_string(minimal("", "[cache]\nchunk_size = 10\nsize = 1\n"), "t.toml", with_token);
  CHECK(has_error(bad, "cache.chunk_size", "between"));
  CHECK(has_error(bad, "cache.size", "unknown key"));
}

TEST_CASE("cache.revalidate_after and cache.revalidate") {
  auto off = load_from_string(minimal("", "[cache]\npath = \"/c\"\n"), "t.toml", with_token);
  REQUIRE(off.ok());
  CHECK(off->cache.revalidate_after.count() == 0);
  CHECK_FALSE(off->cache.revalidate_before_serving);
  auto on = load_from_string(minimal("",
                                     "[cache]\npath = \"/c\"\nrevalidate_after = \"1h\"\n"
                                     "revalidate = \"before-serving\"\n"),
                             "t.toml", with_token);
  REQUIRE(on.ok());
  CHECK(on->cache.revalidate_after == std::chrono::hours(1));
  CHECK(on->cache.revalidate_before_serving);
  auto bad_mode = load_from_string(
      minimal("", "[cache]\npath = \"/c\"\nrevalidate_after = \"1h\"\nrevalidate = \"now\"\n"),
      "t.toml", with_token);
  CHECK(has_error(bad_mode, "cache.revalidate", "\"background\" or \"before-serving\""));
  auto no_after =
      load_from_string(minimal("", "[cache]\npath = \"/c\"\nrevalidate = \"before-serving\"\n"),
                       "t.toml", with_token);
  CHECK(has_error(no_after, "cache.revalidate", "needs revalidate_after"));
  auto too_short = load_from_string(
      minimal("", "[cache]\npath = \"/c\"\nrevalidate_after = \"100ms\"\n"), "t.toml", with_token);
  CHECK(has_error(too_short, "cache.revalidate_after", "at least 1s"));
  auto no_cache =
      load_from_string(minimal("", "[cache]\nrevalidate_after = \"1h\"\n"), "t.toml", with_token);
  CHECK(has_error(no_cache, "cache.revalidate_after", "needs the cache"));
}

TEST_CASE("consumers: several keys with ids, scopes, accounts, networks, rate limits") {
  auto r = load_from_string(
      "[upstream]\nbase_url = \"http://127.0.0.1:1\"\nproject_id = \"p\"\n"
      "[access]\npublic_audio = true\n"
      "[[consumers]]\nid = \"support\"\nscopes = [\"audio\", \"sign\"]\n"
      "accounts = [\"720796A0-8EE9-4350-83BD-2D07A3121F1E\"]\nnetworks = [\"10.0.0.0/8\", "
      "\"::1\"]\n"
      "rate_per_second = 5\nenabled = false\n"
      "[[consumers.keys]]\nid = \"old\"\nsha256 = \"" +
          std::string(64, 'b') +
          "\"\n"
          "[[consumers.keys]]\nid = \"new\"\nsha256 = \"" +
          std::string(64, 'c') + "\"\n",
      "t.toml", with_token);
  REQUIRE(r.ok());
  const auto& c = r->consumers.at(0);
  CHECK(r->access.public_audio);
  REQUIRE(c.keys.size() == 2);
  CHECK(c.keys[0].id == "old");
  CHECK(c.keys[1].id == "new");
  CHECK(c.has_scope("sign"));
  CHECK_FALSE(c.has_scope("metadata"));
  CHECK(c.may_read("720796a0-8ee9-4350-83bd-2d07a3121f1e"));  // normalised to lower case
  CHECK_FALSE(c.may_read("00000000-0000-4000-8000-000000000000"));
  CHECK(c.networks.size() == 2);
  CHECK(c.rate_per_second == 5);
  CHECK(c.burst == 5);  // one second's worth by default
  CHECK_FALSE(c.enabled);
}

TEST_CASE("a consumers file adds consumers; ids and keys stay unique across both files") {
  char name[] = "/tmp/recgate-consumers-XXXXXX";
  int fd = mkstemp(name);
  REQUIRE(fd >= 0);
  close(fd);
  std::string path = name;
  std::ofstream(path) << "[[consumers]]\nid = \"filed\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\n"
                         "key_sha256 = \""
                      << std::string(64, 'd') << "\"\n";
  auto r = load_from_string(minimal("", "[access]\nconsumers_file = \"" + path + "\"\n"), "t.toml",
                            with_token);
  REQUIRE(r.ok());
  CHECK(r->consumers.size() == 2);
  CHECK(r->own_consumers == 1);
  CHECK(r->consumers[1].id == "filed");

  auto reload = load_consumers_file(path, {r->consumers[0]});
  CHECK(reload.ok());
  REQUIRE(reload.ok());
  CHECK(reload->size() == 2);

  std::ofstream(path)
      << "[[consumers]]\nid = \"billing\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\n"
         "key_sha256 = \""
      << hash << "\"\n[server]\n";
  auto clash = load_consumers_file(path, {r->consumers[0]});
  REQUIRE_FALSE(clash.ok());
  const load_result refused = recgate::fail(clash.error());
  CHECK(has_error(refused, path + ": consumers[0].id", "duplicate"));
  CHECK(has_error(refused, path + ": consumers[0].key_sha256", "twice"));
  CHECK(has_error(refused, path + ": server", "unknown key"));
  std::remove(path.c_str());
}

TEST_CASE("networks: IPv4 and IPv6 prefixes") {
  auto ten = *parse_cidr("10.0.0.0/8");
  CHECK(ten.contains(*parse_ip("10.200.1.1")));
  CHECK_FALSE(ten.contains(*parse_ip("11.0.0.1")));
  CHECK_FALSE(ten.contains(*parse_ip("::1")));
  auto host = *parse_cidr("127.0.0.1");
  CHECK(host.contains(*parse_ip("127.0.0.1")));
  CHECK_FALSE(host.contains(*parse_ip("127.0.0.2")));
  auto v6 = *parse_cidr("fd00::/8");
  CHECK(v6.contains(*parse_ip("fd12::1")));
  CHECK_FALSE(v6.contains(*parse_ip("fe80::1")));
  CHECK(parse_cidr("0.0.0.0/0")->contains(*parse_ip("8.8.8.8")));
  CHECK(parse_cidr("10.1.2.3/31")->contains(*parse_ip("10.1.2.2")));
  CHECK_FALSE(parse_cidr("10.0.0.0/33"));
  CHECK_FALSE(parse_cidr("10.0.0/8"));
  CHECK_FALSE(parse_cidr("host/8"));
  CHECK_FALSE(parse_cidr("::1/129"));
}

TEST_CASE("a configuration without consumers is refused: the gateway is never an open door") {
  auto r = load_from_string("[upstream]\nbase_url = \"http://127.0.0.1:1\"\nproject_id = \"p\"\n",
                            "t.toml", with_token);
  CHECK(has_error(r, "consumers", "at least one"));
}

TEST_CASE("single values") {
  CHECK(parse_duration("250ms") == duration(250));
  CHECK(parse_duration("5s") == duration(5000));
  CHECK(parse_duration("2m") == duration(120000));
  CHECK(parse_duration("1h") == duration(3600000));
  CHECK(parse_duration("1d") == duration(86400000));
  CHECK_FALSE(parse_duration("5"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("5 s"));
  CHECK_FALSE(parse_duration("200000000000d"));  // would overflow in milliseconds

  CHECK(parse_endpoint("[::1]:80")->host == "::1");
  CHECK(parse_endpoint("[::1]:80")->to_string() == "[::1]:80");
  CHECK(parse_endpoint("localhost:0")->port == 0);
  CHECK_FALSE(parse_endpoint("localhost"));
  CHECK_FALSE(parse_endpoint(":80"));
  CHECK_FALSE(parse_endpoint("::1:80"));
  CHECK_FALSE(parse_endpoint("host:70000"));

  CHECK(parse_base_url("http://127.0.0.1:8000/")->port == 8000);
  CHECK(parse_base_url("https://[::1]")->authority() == "[::1]");
  CHECK(parse_base_url("https://[::1]:8443")->authority() == "[::1]:8443");
  CHECK_FALSE(parse_base_url("https://example.com/api"));
  CHECK_FALSE(parse_base_url("https://user@example.com"));
  CHECK_FALSE(parse_base_url("https://example.com?x"));
  CHECK_FALSE(parse_base_url("example.com"));
  CHECK_FALSE(parse_base_url("https://"));
  CHECK_FALSE(parse_base_url("https://example.com:0"));
}

TEST_CASE(
    "fail-safe settings: header bound, body rate and deadline, free-space floor, exempt paths") {
  auto ok = load_from_string(
      minimal("min_body_rate = 2048\nbody_rate_window = \"5s\"\nbody_timeout = \"2m\"\n",
              "[cache]\npath = \"/tmp/x\"\nmin_free_bytes = 1048576\n"
              "[admin]\nrequire_key = true\nexempt_paths = [\"/healthz\", \"/readyz\", "
              "\"/metrics\"]\n"),
      "t.toml", with_token);
  REQUIRE(ok.ok());
  CHECK(ok->upstream.min_body_rate == 2048);
  CHECK(ok->upstream.body_rate_window == std::chrono::seconds(5));
  CHECK(ok->upstream.body_timeout == std::chrono::minutes(2));
  CHECK(ok->cache.min_free_bytes == 1048576);
  CHECK(ok->admin.exempt_paths.size() == 3);

  // Defaults: a minimum rate, a deadline, probes exempt.
  auto defaults = load_from_string(minimal(), "t.toml", with_token);
  REQUIRE(defaults.ok());
  CHECK(defaults->upstream.min_body_rate == 4096);
  CHECK(defaults->upstream.body_timeout == std::chrono::minutes(10));
  CHECK(defaults->admin.exempt_paths == std::vector<std::string>{"/healthz", "/readyz"});

  // What the parser cannot hold is refused; so are exemptions for what changes state.
  auto big = load_from_string(
      "[server]\nmax_header_bytes = 131072\n" + minimal().substr(minimal().find("[upstream]")),
      "t.toml", with_token);
  CHECK(has_error(big, "server.max_header_bytes", "between 1024 and 65536"));
  auto purge = load_from_string(minimal("", "[admin]\nexempt_paths = [\"/cache/recordings\"]\n"),
                                "t.toml", with_token);
  CHECK(has_error(purge, "admin.exempt_paths", "cannot be exempt"));
  auto zero = load_from_string(minimal("body_timeout = \"0s\"\n"), "t.toml", with_token);
  CHECK(has_error(zero, "upstream.body_timeout", "greater than zero"));
}

TEST_CASE("[[projects]]: several projects, [upstream]'s own first as \"default\", validated") {
  const std::string consumers =
      "\n[[consumers]]\nid = \"billing\"\nscopes = [\"audio\"]\n"
      "accounts = [\"*\"]\nkey_sha256 = \"" +
      hash + "\"\n";
  auto project = [](const std::string& id, const std::string& account,
                    const std::string& token = "api_token_env = \"SUPPORT_TOKEN\"\n") {
    return "[[projects]]\nid = \"" + id + "\"\nspace_url = \"https://" + id +
           ".signalwire.com\"\nproject_id = \"" + account + "\"\n" + token;
  };
  const auto env = env_of({{"SIGNALWIRE_API_TOKEN", "PT-default"}, {"SUPPORT_TOKEN", "PT-s"}});
  const std::string a = "2b0e1d5c-3f4a-4b6c-8d7e-9f0a1b2c3d4e";
  const std::string b = "3C1F2E6D-4A5B-4C7D-9E8F-0A1B2C3D4E5F";

  auto with_default = load_from_string(minimal("", project("support", a)), "t.toml", env);
  REQUIRE(with_default.ok());
  REQUIRE(with_default->projects.size() == 2);
  CHECK(with_default->projects[0].id == "default");
  CHECK(with_default->projects[0].api_token == "PT-default");
  CHECK(with_default->projects[1].id == "support");
  CHECK(with_default->projects[1].url.host == "support.signalwire.com");
  CHECK(with_default->projects[1].api_token == "PT-s");  // not SIGNALWIRE_API_TOKEN
  CHECK(with_default->projects[1].api_token_source == "env SUPPORT_TOKEN");

  // [upstream] with the common settings only: the projects are all there is.
  auto only = load_from_string("[upstream]\nheader_timeout = \"3s\"\n" + project("support", a) +
                                   project("sales", b) + consumers,
                               "t.toml", env);
  REQUIRE_MESSAGE(only.ok(), (only.ok() ? "" : only.error()[0].to_string()));
  REQUIRE(only->projects.size() == 2);
  CHECK(only->projects[1].id == "sales");
  CHECK(only->upstream.header_timeout == std::chrono::seconds(3));
  CHECK(load_from_string(project("support", a) + consumers, "t.toml", env).ok());  // no [upstream]

  auto twice =
      load_from_string(project("support", a) + project("support", b) + consumers, "t.toml", env);
  CHECK(has_error(twice, "projects[1].id", "duplicate project id"));
  auto same_account = load_from_string(
      project("support", a) + project("sales", "2B0E1D5C-3F4A-4B6C-8D7E-9F0A1B2C3D4E") + consumers,
      "t.toml", env);
  CHECK(has_error(same_account, "projects[1].project_id", "another project"));
  auto bad = load_from_string(
      "[[projects]]\nid = \"\"\nspace_url = \"ftp://x\"\nproject_id = \"not-a-uuid\"\n" + consumers,
      "t.toml", env);
  CHECK(has_error(bad, "projects[0].space_url", "http:// or https://"));
  CHECK(has_error(bad, "projects[0].id", "is required"));
  CHECK(has_error(bad, "projects[0].project_id", "UUID"));
  CHECK(has_error(bad, "projects[0].api_token_env", "is required"));
  auto secret =
      load_from_string(project("support", a, "api_token = \"PT-x\"\n") + consumers, "t.toml", env);
  CHECK(has_error(secret, "projects[0].api_token", "not accepted"));
  auto unset = load_from_string(project("support", a, "api_token_env = \"NOPE\"\n") + consumers,
                                "t.toml", env);
  CHECK(has_error(unset, "projects[0].api_token_env", "NOPE is not set"));
  auto stray_token = load_from_string(
      "[upstream]\napi_token_env = \"X\"\n" + project("support", a) + consumers, "t.toml", env);
  CHECK(has_error(stray_token, "upstream.api_token_env", "each project names its own token"));
  CHECK(has_error(load_from_string("[upstream]\n" + consumers, "t.toml", env), "upstream.base_url",
                  "is required"));
  // An empty token or callback key is refused (an empty callback key would fall back to the
  // common one: another project's callbacks could then be forged with it).
  const auto empty = env_of({{"SUPPORT_TOKEN", ""}, {"SUPPORT_KEY", ""}});
  auto blank =
      load_from_string(project("support", a,
                               "api_token_env = \"SUPPORT_TOKEN\"\ncallback_signing_key_env = "
                               "\"SUPPORT_KEY\"\n") +
                           consumers,
                       "t.toml", empty);
  CHECK(has_error(blank, "projects[0].api_token_env", "empty"));
  CHECK(has_error(blank, "projects[0].callback_signing_key_env", "empty"));
  // SIGNALWIRE_PROJECT_ID exported for other tools does not make [upstream] a project.
  CHECK(load_from_string(project("support", a) + consumers, "t.toml",
                         env_of({{"SUPPORT_TOKEN", "PT-s"}, {"SIGNALWIRE_PROJECT_ID", a}}))
            .ok());
}
