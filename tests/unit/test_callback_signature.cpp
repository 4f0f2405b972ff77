// Status callbacks without a socket: the signature, form bodies, the verdict, the config.
#include <cctype>
#include <cstdio>
#include <map>

#include <doctest/doctest.h>
#include <unistd.h>

#include "config/load.hpp"
#include "laml_sim/callbacks.hpp"
#include "proxy/callbacks/callback_signature.hpp"
#include "proxy/callbacks/status_callback.hpp"

using namespace recgate;

namespace {

const std::string twilio_url = "https://mycompany.com/myapp.php?foo=1&bar=2";
const std::string project = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
// The gateway's projects: this one on callbacks.signing_key, a second one with a key of its own.
const std::string second_project = "2b0e1d5c-3f4a-4b6c-8d7e-9f0a1b2c3d4e";
const std::vector<callback_account> served{{project, ""}, {second_project, "PSK_second"}};
const std::string sid = "5e5e0001-0000-4000-8000-000000000001";

config::callbacks_config callbacks(std::string public_url = "") {
  config::callbacks_config c;
  c.path = "/cb";
  c.signing_key = "PSK_key";
  c.public_url = std::move(public_url);
  return c;
}

form_params completed() {
  return {{"AccountSid", project},    {"CallSid", "11111111-2222-4333-8444-555555555555"},
          {"RecordingSid", sid},      {"RecordingStatus", "completed"},
          {"RecordingDuration", "2"}, {"RecordingUrl", "https://x/rec"}};
}

callback_verdict judge(const form_params& params, std::string_view url = "http://gw:8080/cb",
                       std::string signature = "",
                       std::string content_type = "application/x-www-form-urlencoded") {
  auto cfg = callbacks();
  if (signature.empty()) signature = callback_signature(cfg.signing_key, url, params);
  auto body = laml_sim::form_encode(params);
  return evaluate_callback(cfg, served, {content_type, body, signature, "http://gw:8080/cb"});
}

bool has_error(const config::load_result& r, std::string_view key, std::string_view words = "") {
  if (r.ok()) return false;
  for (const auto& e : r.error()) {
    if (e.key == key && e.message.find(words) != std::string::npos) return true;
  }
  return false;
}

config::load_result load(const std::string& extra, std::map<std::string, std::string> env = {}) {
  env.emplace("SIGNALWIRE_API_TOKEN", "PT");
  std::string text =
      "[upstream]\nbase_url = \"https://example.signalwire.com\"\nproject_id = \"proj\"\n"
      "[cache]\npath = \"/tmp/c\"\n[[consumers]]\nid = \"a\"\nscopes = [\"audio\"]\n"
      "accounts = [\"*\"]\nkey_sha256 = \"" +
      std::string(64, 'a') + "\"\n" + extra;
  return config::load_from_string(text, "t.toml",
                                  [env](std::string_view name) -> std::optional<std::string> {
                                    auto it = env.find(std::string(name));
                                    if (it == env.end()) return std::nullopt;
                                    return it->second;
                                  });
}

}  // namespace

TEST_CASE("callback_signature: Twilio's published examples") {
  // From Twilio's "Validating signatures from Twilio" (auth token 12345) and its helper
  // libraries' tests; recomputed independently with
  //   printf '%s' "$URL"'CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030'
  //   'To+18005551212' | openssl dgst -sha1 -hmac 12345 -binary | base64   (one command line)
  form_params docs{{"To", "+18005551212"},
                   {"From", "+12349013030"},
                   {"CallSid", "CA1234567890ABCDE"},
                   {"Digits", "1234"},
                   {"Caller", "+12349013030"}};
  CHECK(callback_signature("12345", twilio_url, docs) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
  form_params libs{{"CallSid", "CA1234567890ABCDE"},
                   {"Caller", "+14158675309"},
                   {"Digits", "1234"},
                   {"From", "+14158675309"},
                   {"To", "+18005551212"}};
  CHECK(callback_signature("12345", twilio_url, libs) == "RSOYDt4T1cUTdK1PDd93/VVr8B8=");

  CHECK(callback_signature_valid("12345", twilio_url, libs, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  CHECK_FALSE(callback_signature_valid("12345", twilio_url, libs, "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
  CHECK_FALSE(callback_signature_valid("12345", twilio_url, libs, "RSOYDt4T1cUTdK1PDd93/VVr8B9="));
  CHECK_FALSE(callback_signature_valid("12345", twilio_url, libs, ""));
  CHECK_FALSE(callback_signature_valid("12346", twilio_url, libs, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  CHECK_FALSE(
      callback_signature_valid("12345", twilio_url + "&x", libs, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  // Duplicate names sort by value, so their order in the body does not matter.
  form_params ab{{"N", "a"}, {"N", "b"}}, ba{{"N", "b"}, {"N", "a"}};
  CHECK(callback_signature("k", "u", ab) == callback_signature("k", "u", ba));
}

TEST_CASE("form bodies: decoding, encoding, malformed escapes") {
  auto p = parse_form("To=%2B18005551212&Caller=%2b1+415&empty=&flag&&x=a%3Db");
  REQUIRE(p);
  CHECK(
      *p ==
      form_params{
          {"To", "+18005551212"}, {"Caller", "+1 415"}, {"empty", ""}, {"flag", ""}, {"x", "a=b"}});
  CHECK(form_value(*p, "Caller") == std::string_view("+1 415"));
  CHECK_FALSE(form_value(*p, "missing"));
  CHECK_FALSE(parse_form("a=%2"));
  CHECK_FALSE(parse_form("a=%zz"));
  CHECK(parse_form("")->empty());
  form_params odd{{"a b", "c&d=e+f/é"}};
  CHECK(parse_form(laml_sim::form_encode(odd)) == odd);
}

TEST_CASE("evaluate_callback: signature first, then the recording, then the status") {
  auto ok = judge(completed());
  CHECK(ok.status == 204);
  CHECK(ok.prefetch);
  CHECK(ok.reason == "accepted");
  CHECK(ok.account_sid == project);
  CHECK(ok.recording_sid == sid);

  SUBCASE("upper-case Sids are normalised") {
    auto params = completed();
    for (auto& [n, v] : params) {
      if (n == "RecordingSid" || n == "AccountSid") {
        for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
    }
    auto v = judge(params);
    CHECK(v.status == 204);
    CHECK(v.recording_sid == sid);
  }
  SUBCASE("not signed, signed wrongly, signed for another URL, or changed after signing: 403") {
    auto cfg = callbacks();
    auto body = laml_sim::form_encode(completed());
    auto none = evaluate_callback(
        cfg, served, {"application/x-www-form-urlencoded", body, "", "http://gw:8080/cb"});
    CHECK(none.status == 403);
    CHECK(none.reason == "no signature");
    CHECK(judge(completed(), "http://gw:8080/cb", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=").status == 403);
    CHECK(judge(completed(), "http://other:8080/cb").status == 403);
    auto tampered = completed();
    auto signature = callback_signature("PSK_key", "http://gw:8080/cb", tampered);
    tampered[2].second = "5e5e0001-0000-4000-8000-000000000002";
    auto v = judge(tampered, "http://gw:8080/cb", signature);
    CHECK(v.status == 403);
    CHECK(v.reason == "bad signature");
    CHECK(v.recording_sid.empty());
  }
  SUBCASE("signed, but not a form or not about a recording of ours: 400") {
    CHECK(judge(completed(), "http://gw:8080/cb", "", "application/json").status == 400);
    auto cfg = callbacks();
    CHECK(evaluate_callback(cfg, served,
                            {"application/x-www-form-urlencoded; charset=utf-8", "a=%zz", "sig",
                             "http://gw:8080/cb"})
              .status == 400);
    auto bad_sid = completed();
    bad_sid[2].second = "RE123";
    CHECK(judge(bad_sid).reason == "bad RecordingSid");
    auto other_account = completed();
    other_account[0].second = "00000000-0000-4000-8000-000000000000";
    CHECK(judge(other_account).status == 400);
    CHECK(judge(other_account).reason == "unknown AccountSid");
  }
  SUBCASE("a project with a callback key of its own: its callbacks verify with that key only") {
    auto params = completed();
    params[0].second = second_project;
    auto with_own = judge(params, "http://gw:8080/cb",
                          callback_signature("PSK_second", "http://gw:8080/cb", params));
    CHECK(with_own.status == 204);
    CHECK(with_own.account_sid == second_project);
    CHECK(judge(params).status == 403);  // signed with the common key: refused
  }
  SUBCASE("any other RecordingStatus is acknowledged without a prefetch") {
    for (std::string status : {"in-progress", "absent", "failed", "Completed", ""}) {
      auto params = completed();
      params[3].second = status;
      auto v = judge(params);
      CHECK(v.status == 204);
      CHECK_FALSE(v.prefetch);
      CHECK(v.reason == "ignored");
    }
  }
}

TEST_CASE("signed_callback_url: public_url, or the listener's scheme and the Host") {
  CHECK(signed_callback_url(callbacks(), false, "gw:8080", "/cb?a=1") == "http://gw:8080/cb?a=1");
  CHECK(signed_callback_url(callbacks(), true, "gw", "/cb") == "https://gw/cb");
  CHECK(signed_callback_url(callbacks("https://rec.example.com/prefix"), false, "10.0.0.1:8080",
                            "/cb") == "https://rec.example.com/prefix/cb");
}

TEST_CASE("[callbacks] configuration") {
  auto r = load("[callbacks]\npath = \"/callbacks/recording-status\"\nsigning_key_env = \"K\"\n",
                {{"K", "PSK_secret"}});
  REQUIRE(r.ok());
  const auto& c = r->callbacks;
  CHECK(c.enabled());
  CHECK(c.signing_key == "PSK_secret");
  CHECK(c.signing_key_source == "env K");
  CHECK(c.prefetch_formats == std::vector<std::string>{"wav"});
  CHECK(c.concurrency == 2);
  CHECK(c.queue_limit == 1000);
  CHECK(c.forward_url.empty());
  CHECK_FALSE(load("")->callbacks.enabled());

  auto full = load(
      "[callbacks]\npath = \"/cb\"\nsigning_key_env = \"K\"\n"
      "prefetch_formats = [\"mp3\", \"wav\", \"mp3\"]\nconcurrency = 4\n"
      "queue_limit = 0\nforward_url = \"http://10.0.0.5:8000/hooks/rec?x=1\"\n"
      "forward_timeout = \"3s\"\npublic_url = \"https://rec.example.com/\"\n",
      {{"K", "k"}});
  REQUIRE(full.ok());
  const auto& f = full->callbacks;
  CHECK(f.prefetch_formats == std::vector<std::string>{"mp3", "wav"});
  CHECK(f.concurrency == 4);
  CHECK(f.queue_limit == 0);
  CHECK(f.forward_base.host == "10.0.0.5");
  CHECK(f.forward_base.port == 8000);
  CHECK(f.forward_target == "/hooks/rec?x=1");
  CHECK(f.forward_timeout == std::chrono::seconds(3));
  CHECK(f.public_url == "https://rec.example.com");

  SUBCASE("the key comes from a file") {
    char name[] = "/tmp/recgate-cbkey-XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "PSK_from_file\n", 14) == 14);
    close(fd);
    auto fr =
        load("[callbacks]\npath = \"/cb\"\nsigning_key_file = \"" + std::string(name) + "\"\n");
    std::remove(name);
    REQUIRE(fr.ok());
    CHECK(fr->callbacks.signing_key == "PSK_from_file");
  }
  SUBCASE("invalid settings name their key") {
    auto bad = [](const std::string& lines, std::map<std::string, std::string> env = {{"K", "k"}}) {
      return load("[callbacks]\n" + lines + "\n", env);
    };
    CHECK(has_error(bad("signing_key_env = \"K\""), "callbacks.path", "required"));
    CHECK(has_error(bad("path = \"cb\"\nsigning_key_env = \"K\""), "callbacks.path"));
    CHECK(
        has_error(bad("path = \"/api/x\"\nsigning_key_env = \"K\""), "callbacks.path", "overlap"));
    CHECK(has_error(bad("path = \"/v1/signed-urls\"\nsigning_key_env = \"K\""), "callbacks.path"));
    CHECK(has_error(bad("path = \"/cb\""), "callbacks.signing_key_env"));
    CHECK(has_error(bad("path = \"/cb\"\nsigning_key_env = \"UNSET\""), "callbacks.signing_key_env",
                    "not set"));
    CHECK(has_error(bad("path = \"/cb\"\nsigning_key = \"inline\"\nsigning_key_env = \"K\""),
                    "callbacks.signing_key", "not accepted"));
    CHECK(has_error(bad("path = \"/cb\"\nsigning_key_env = \"K\"\nprefetch_formats = [\"json\"]"),
                    "callbacks.prefetch_formats"));
    CHECK(has_error(bad("path = \"/cb\"\nsigning_key_env = \"K\"\nconcurrency = 0"),
                    "callbacks.concurrency"));
    CHECK(has_error(bad("path = \"/cb\"\nsigning_key_env = \"K\"\nforward_url = \"https://x/y\""),
                    "callbacks.forward_url", "http://"));
    CHECK(has_error(bad("path = \"/cb\"\nsigning_key_env = \"K\"\npublic_url = \"gw.example.com\""),
                    "callbacks.public_url"));
    CHECK(has_error(bad("path = \"/cb\"\nsigning_key_env = \"K\"\nextra = 1"), "callbacks.extra",
                    "unknown"));
    // The key's value is never in a message.
    for (const auto& e :
         bad("path = \"cb\"\nsigning_key_env = \"K\"", {{"K", "PSK_do_not_show"}}).error()) {
      CHECK(e.to_string().find("PSK_do_not_show") == std::string::npos);
    }
  }
  SUBCASE("prefetching needs the cache; forwarding alone does not") {
    std::string no_cache =
        "[upstream]\nbase_url = \"https://example.signalwire.com\"\nproject_id = \"proj\"\n"
        "[[consumers]]\nid = \"a\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\nkey_sha256 = \"" +
        std::string(64, 'a') + "\"\n[callbacks]\npath = \"/cb\"\nsigning_key_env = \"K\"\n";
    auto env = [](std::string_view name) -> std::optional<std::string> {
      if (name == "K") return "k";
      if (name == "SIGNALWIRE_API_TOKEN") return "PT";
      return std::nullopt;
    };
    CHECK(has_error(config::load_from_string(no_cache, "t", env), "callbacks.prefetch_formats",
                    "cache"));
    CHECK(config::load_from_string(
              no_cache + "prefetch_formats = []\nforward_url = \"http://h/x\"\n", "t", env)
              .ok());
  }
}
