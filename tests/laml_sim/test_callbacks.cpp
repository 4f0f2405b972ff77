// Status callbacks as laml-sim sends them (signature, form, request parsing), its callback sink,
// and the audio concurrency counters; the last cases over a real laml-sim process.
#include <future>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "http_client.hpp"
#include "laml_sim/callbacks.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace laml_sim;
using nlohmann::json;

namespace {

const std::string project = "720796a0-8ee9-4350-83bd-2d07a3121f1e";

// A form decoder of the test's own ('+' is a space, %XX a byte), to read what laml-sim sent.
form_fields decode_form(std::string_view body) {
  auto decode = [](std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+')
        out += ' ';
      else if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else
        out += s[i];
    }
    return out;
  };
  form_fields out;
  while (!body.empty()) {
    auto amp = body.find('&');
    auto pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    auto eq = pair.find('=');
    out.emplace_back(decode(pair.substr(0, eq)), decode(pair.substr(eq + 1)));
  }
  return out;
}

std::string field(const form_fields& fields, const std::string& name) {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return "<absent>";
}

struct sim_process {
  test_support::child_process process;
  unsigned short port = 0;

  sim_process()
      : process({LAML_SIM_BIN, "--listen", "127.0.0.1:0", "--project-id", project, "--api-token",
                 "PT-token", "--duration", "2", "--quiet"}) {
    const std::string prefix = "laml-sim: listening on 127.0.0.1:";
    const auto line = process.wait_for_line(
        [&](std::string_view l) { return l.starts_with(prefix); }, std::chrono::seconds(10));
    REQUIRE_MESSAGE(line, "laml-sim did not start");
    port = static_cast<unsigned short>(std::stoul(line->substr(prefix.size())));
  }
  test_support::http_result call(const std::string& method, const std::string& target,
                                 const std::string& body = {}) const {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    return test_support::request("127.0.0.1", port, method, target, headers, body);
  }
};

}  // namespace

TEST_CASE("the webhook signature is Twilio's published algorithm") {
  // Twilio's documented example ("Validating signatures from Twilio": auth token 12345) and the
  // vector of its helper libraries' tests (twilio-python/-ruby, Caller +14158675309); both also
  // recomputed here with:
  //   printf '%s' 'https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller
  //   +12349013030Digits1234From+12349013030To+18005551212' (one line, no break)
  //     | openssl dgst -sha1 -hmac 12345 -binary | base64     → 0/KCTR6DLpKmkAf8muzZqo1nDgQ=
  const std::string url = "https://mycompany.com/myapp.php?foo=1&bar=2";
  form_fields docs{{"To", "+18005551212"},
                   {"From", "+12349013030"},
                   {"CallSid", "CA1234567890ABCDE"},
                   {"Digits", "1234"},
                   {"Caller", "+12349013030"}};
  CHECK(webhook_signature("12345", url, docs) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
  form_fields libs{{"CallSid", "CA1234567890ABCDE"},
                   {"Caller", "+14158675309"},
                   {"Digits", "1234"},
                   {"From", "+14158675309"},
                   {"To", "+18005551212"}};
  CHECK(webhook_signature("12345", url, libs) == "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
  CHECK(webhook_signature("12346", url, libs) != "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

TEST_CASE("form encoding escapes everything but unreserved bytes") {
  CHECK(form_encode({{"From", "+1 415"}, {"a&b", "c=d"}}) == "From=%2B1%20415&a%26b=c%3Dd");
  CHECK(decode_form(form_encode({{"X", "é/ü?"}})) == form_fields{{"X", "é/ü?"}});
}

TEST_CASE("a callback request: the recording's fields, signed over the signed URL") {
  const std::string sid = normal_sid(7);
  std::string error;
  json ask{
      {"url", "http://127.0.0.1:8080/callbacks/rec?x=1"}, {"sid", sid}, {"signing_key", "PSK_key"}};
  auto c = parse_callback_request(ask.dump(), project, 2, "http://sim:1", error);
  REQUIRE_MESSAGE(c, error);
  CHECK(c->host == "127.0.0.1");
  CHECK(c->port == 8080);
  CHECK(c->target == "/callbacks/rec?x=1");
  CHECK(c->signature_header == "X-SignalWire-Signature");
  auto fields = decode_form(c->body);
  const auto meta = json::parse(metadata_json(sid, project, 2));
  CHECK(field(fields, "AccountSid") == project);
  CHECK(field(fields, "RecordingSid") == sid);
  CHECK(field(fields, "RecordingStatus") == "completed");
  CHECK(field(fields, "CallSid") == meta["call_sid"].get<std::string>());
  CHECK(field(fields, "RecordingUrl") ==
        "http://sim:1/api/laml/2010-04-01/Accounts/" + project + "/Recordings/" + sid);
  CHECK(field(fields, "RecordingDuration") != "<absent>");
  CHECK(c->signature ==
        webhook_signature("PSK_key", "http://127.0.0.1:8080/callbacks/rec?x=1", fields));

  SUBCASE("tamper changes the body after signing") {
    ask["tamper"] = {{"RecordingDuration", "999"}};
    auto t = parse_callback_request(ask.dump(), project, 2, "http://sim:1", error);
    REQUIRE(t);
    CHECK(t->signature == c->signature);
    CHECK(field(decode_form(t->body), "RecordingDuration") == "999");
  }
  SUBCASE("params change it before signing; signed_url and the header are chosen") {
    ask["params"] = {{"RecordingStatus", "absent"}, {"Extra", "1"}};
    ask["signed_url"] = "https://gw.example.com/callbacks/rec?x=1";
    ask["signature_header"] = "X-Twilio-Signature";
    auto p = parse_callback_request(ask.dump(), project, 2, "http://sim:1", error);
    REQUIRE(p);
    auto pf = decode_form(p->body);
    CHECK(field(pf, "RecordingStatus") == "absent");
    CHECK(field(pf, "Extra") == "1");
    CHECK(p->signature_header == "X-Twilio-Signature");
    CHECK(p->signature ==
          webhook_signature("PSK_key", "https://gw.example.com/callbacks/rec?x=1", pf));
  }
  SUBCASE("malformed requests") {
    for (auto bad :
         {json{{"url", "https://x/y"}, {"sid", sid}, {"signing_key", "k"}},
          json{{"url", "http://x:99999/y"}, {"sid", sid}, {"signing_key", "k"}},
          json{{"url", "http://x/y"}, {"sid", "nope"}, {"signing_key", "k"}},
          json{{"url", "http://x/y"}, {"sid", sid}},
          json{{"url", "http://x/y"}, {"sid", sid}, {"signing_key", "k"}, {"oops", 1}},
          json{{"url", "http://x/y"}, {"sid", sid}, {"signing_key", "k"}, {"tamper", 1}}}) {
      error.clear();
      CHECK_FALSE(parse_callback_request(bad.dump(), project, 2, "http://sim:1", error));
      CHECK_FALSE(error.empty());
    }
  }
}

TEST_CASE("laml-sim sends a signed callback to a URL and keeps what its sink receives") {
  sim_process sim;
  const std::string sid = normal_sid(8);
  const std::string url = "http://127.0.0.1:" + std::to_string(sim.port) + "/__sim/callback-sink";
  json ask{{"url", url}, {"sid", sid}, {"signing_key", "PSK_secret"}, {"status", "completed"}};
  auto sent = sim.call("POST", "/__sim/callbacks", ask.dump());
  REQUIRE(sent.status == 200);
  auto result = json::parse(sent.body);
  CHECK(result["status"] == 204);

  auto sink = json::parse(sim.call("GET", "/__sim/callback-sink").body);
  REQUIRE(sink["received"].size() == 1);
  const auto& got = sink["received"][0];
  CHECK(got["headers"]["Content-Type"] == "application/x-www-form-urlencoded");
  auto fields = decode_form(got["body"].get<std::string>());
  CHECK(field(fields, "RecordingSid") == sid);
  CHECK(got["headers"]["X-SignalWire-Signature"] == webhook_signature("PSK_secret", url, fields));
  CHECK(result["signature"] == got["headers"]["X-SignalWire-Signature"]);

  SUBCASE("an unreachable target is reported, not an error of laml-sim's") {
    json nowhere{{"url", "http://127.0.0.1:1/x"}, {"sid", sid}, {"signing_key", "k"}};
    auto r = sim.call("POST", "/__sim/callbacks", nowhere.dump());
    CHECK(r.status == 200);
    auto j = json::parse(r.body);
    CHECK(j["status"] == 0);
    CHECK_FALSE(j["error"].get<std::string>().empty());
  }
  SUBCASE("DELETE and /__sim/reset empty the sink") {
    CHECK(sim.call("DELETE", "/__sim/callback-sink").status == 204);
    CHECK(json::parse(sim.call("GET", "/__sim/callback-sink").body)["received"].empty());
  }
  SUBCASE("a malformed request is 400") {
    CHECK(sim.call("POST", "/__sim/callbacks", "{}").status == 400);
  }
}

TEST_CASE("/__sim/requests counts audio bodies in flight, their peak and the completed ones") {
  sim_process sim;
  const std::string sid = sized_sid(9, 40000);
  json fault{{"sid", sid}, {"bytes_per_second", 80000}};  // half a second per body
  REQUIRE(sim.call("POST", "/__sim/faults", fault.dump()).status == 204);
  const std::string path =
      "/api/laml/2010-04-01/Accounts/" + project + "/Recordings/" + sid + ".wav";
  auto a = std::async(std::launch::async, [&] { return sim.call("GET", path); });
  auto b = std::async(std::launch::async, [&] { return sim.call("GET", path); });
  CHECK(a.get().status == 200);
  CHECK(b.get().status == 200);
  auto stats = json::parse(sim.call("GET", "/__sim/requests").body);
  CHECK(stats["max_audio_in_flight"] == 2);
  CHECK(stats["audio_in_flight"] == 0);
  CHECK(stats["audio_completed"] == 2);
  REQUIRE(sim.call("POST", "/__sim/reset").status == 204);
  stats = json::parse(sim.call("GET", "/__sim/requests").body);
  CHECK(stats["max_audio_in_flight"] == 0);
  CHECK(stats["audio_completed"] == 0);
}
