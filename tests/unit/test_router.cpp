#include <doctest/doctest.h>

#include "proxy/policy/router.hpp"
#include "util/uuid.hpp"

using namespace recgate;

namespace {

constexpr const char* account = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
constexpr const char* sid = "19e436af-5688-4307-b03b-bdb2b42b8142";

std::string path(std::string_view prefix, std::string_view last) {
  return std::string(prefix) + "/2010-04-01/Accounts/" + account + "/Recordings/" +
         std::string(last);
}

int status_of(const route_result& r) { return r.ok() ? 200 : r.error().status; }

}  // namespace

TEST_CASE("uuid: 8-4-4-4-12 hex, either case, normalised to lower case") {
  CHECK(normalize_uuid("19E436AF-5688-4307-B03B-BDB2B42B8142") == std::string(sid));
  CHECK(normalize_uuid(sid) == std::string(sid));
  CHECK_FALSE(normalize_uuid("19e436af56884307b03bbdb2b42b8142"));     // no dashes
  CHECK_FALSE(normalize_uuid("19e436af-5688-4307-b03b-bdb2b42b814"));  // short
  CHECK_FALSE(normalize_uuid("19e436af-5688-4307-b03b-bdb2b42b81420"));
  CHECK_FALSE(normalize_uuid("19e436af-5688-4307-b03b_bdb2b42b8142"));
  CHECK_FALSE(normalize_uuid("g9e436af-5688-4307-b03b-bdb2b42b8142"));
  CHECK_FALSE(normalize_uuid("19e436af-568-84307-b03b-bdb2b42b8142"));  // dash misplaced
  CHECK_FALSE(normalize_uuid("19e436af-5688-4307-b03b-bdb2b42b81-2"));  // a fifth dash
  CHECK_FALSE(normalize_uuid("-9e436af-5688-4307-b03b-bdb2b42b8142"));
  CHECK_FALSE(normalize_uuid("19e436af-5688-4307-b03b-bdb2b42b814G"));
  CHECK_FALSE(normalize_uuid(std::string_view("19e436af-5688-4307-b03b-bdb2b42b814\0", 36)));
  CHECK_FALSE(normalize_uuid(""));
}

TEST_CASE("router: every upstream form lands on one recording_request") {
  struct form {
    std::string last;
    recording_format format;
  };
  for (auto prefix : {"/api/laml", ""}) {
    for (const auto& f :
         {form{sid, recording_format::wav}, form{std::string(sid) + ".wav", recording_format::wav},
          form{std::string(sid) + ".mp3", recording_format::mp3},
          form{std::string(sid) + ".json", recording_format::json}}) {
      CAPTURE(prefix);
      CAPTURE(f.last);
      auto r = route("GET", path(prefix, f.last));
      REQUIRE(r.ok());
      const auto& req = *r;
      CHECK(req.account_sid == account);
      CHECK(req.sid == sid);
      CHECK(req.format == f.format);
      CHECK_FALSE(req.head);
    }
  }
}

TEST_CASE("router: upper-case UUIDs are lower-cased; HEAD is marked") {
  auto r = route("HEAD",
                 "/api/laml/2010-04-01/Accounts/720796A0-8EE9-4350-83BD-2D07A3121F1E/"
                 "Recordings/19E436AF-5688-4307-B03B-BDB2B42B8142.mp3");
  REQUIRE(r.ok());
  const auto& req = *r;
  CHECK(req.account_sid == account);
  CHECK(req.sid == sid);
  CHECK(req.head);
  CHECK(upstream_target(req) ==
        std::string("/api/laml/2010-04-01/Accounts/") + account + "/Recordings/" + sid + ".mp3");
}

TEST_CASE("router: the upstream target always has the /api/laml prefix and an extension") {
  auto r = route("GET", path("", sid));
  REQUIRE(r.ok());
  CHECK(upstream_target(*r) ==
        std::string("/api/laml/2010-04-01/Accounts/") + account + "/Recordings/" + sid + ".wav");
}

TEST_CASE("router: query strings are ignored and never reach the request") {
  auto r = route("GET", path("/api/laml", std::string(sid) + ".wav?sig=abc&expires=1/../x"));
  REQUIRE(r.ok());
  CHECK(upstream_target(*r).find('?') == std::string::npos);
}

TEST_CASE("router: methods") {
  CHECK(status_of(route("POST", path("/api/laml", sid))) == 405);
  // DELETE is a request of its own (the delete scope), on every form of the path.
  for (const char* ext : {"", ".wav", ".mp3", ".json"}) {
    auto deleting = route("DELETE", path("", std::string(sid) + ext));
    REQUIRE(deleting.ok());
    CHECK(deleting->remove);
    CHECK_FALSE(deleting->head);
  }
  CHECK_FALSE(route("GET", path("", sid))->remove);
  CHECK(status_of(route("OPTIONS", path("", sid))) == 405);
  CHECK(status_of(route("POST", "/nope")) == 404);  // unknown path first
}

TEST_CASE("router: malformed Sids are 400") {
  CHECK(status_of(route("GET", path("/api/laml", "not-a-uuid.wav"))) == 400);
  CHECK(status_of(route("GET", path("/api/laml", "19e436af-5688-4307-b03b-bdb2b42b814.wav"))) ==
        400);
  CHECK(status_of(route(
            "GET", "/api/laml/2010-04-01/Accounts/abc/Recordings/" + std::string(sid))) == 400);
}

TEST_CASE("router: paths are matched exactly, never normalised") {
  std::string s(sid);
  SUBCASE("unknown paths and versions are 404") {
    CHECK(status_of(route("GET", "/")) == 404);
    CHECK(status_of(route("GET", "/api/laml")) == 404);
    CHECK(status_of(route("GET", "/api/laml/2010-04-01/Accounts/" + std::string(account))) == 404);
    CHECK(status_of(route("GET", "/api/laml/2008-08-01/Accounts/" + std::string(account) +
                                     "/Recordings/" + s)) == 404);
    CHECK(status_of(route("GET", "/api/laml/2010-04-01/Accounts/" + std::string(account) +
                                     "/Calls/" + s)) == 404);
    CHECK(status_of(route("GET", path("/api/laml", s + "/Transcriptions.json"))) == 404);
  }
  SUBCASE("mixed case in fixed segments is 404") {
    CHECK(status_of(route("GET", "/api/laml/2010-04-01/accounts/" + std::string(account) +
                                     "/Recordings/" + s)) == 404);
    CHECK(status_of(route("GET", "/API/laml/2010-04-01/Accounts/" + std::string(account) +
                                     "/Recordings/" + s)) == 404);
  }
  SUBCASE("double and unknown extensions are 404") {
    CHECK(status_of(route("GET", path("", s + ".wav.mp3"))) == 404);
    CHECK(status_of(route("GET", path("", s + ".json.wav"))) == 404);
    CHECK(status_of(route("GET", path("", s + ".WAV"))) == 404);
    CHECK(status_of(route("GET", path("", s + ".ogg"))) == 404);
    CHECK(status_of(route("GET", path("", s + "."))) == 404);
  }
  SUBCASE("empty segments, dot segments and trailing slashes are 404") {
    CHECK(status_of(route(
              "GET", "//2010-04-01/Accounts/" + std::string(account) + "/Recordings/" + s)) == 404);
    CHECK(status_of(route("GET", "/api/laml/2010-04-01/Accounts//" + std::string(account) +
                                     "/Recordings/" + s)) == 404);
    CHECK(status_of(route("GET", "/api/laml/2010-04-01/./Accounts/" + std::string(account) +
                                     "/Recordings/" + s)) == 404);
    CHECK(status_of(route("GET", "/api/laml/x/../2010-04-01/Accounts/" + std::string(account) +
                                     "/Recordings/" + s)) == 404);
    CHECK(status_of(route("GET", path("", s + "/"))) == 404);
    CHECK(status_of(route("GET", "/api/laml/2010-04-01/Accounts/" + std::string(account) +
                                     "/Recordings/")) == 404);
    CHECK(status_of(route("GET", "/api/laml//2010-04-01/Accounts/" + std::string(account) +
                                     "/Recordings/" + s)) == 404);
  }
  SUBCASE("percent-encoding, control bytes and non-ASCII are 400") {
    CHECK(status_of(route("GET", path("", s + "%2ewav"))) == 400);
    CHECK(status_of(route("GET", "/api/laml/2010-04-01/Accounts%2F" + std::string(account) +
                                     "/Recordings/" + s)) == 400);
    CHECK(status_of(route("GET", path("", "19e436af%2D5688-4307-b03b-bdb2b42b8142"))) == 400);
    CHECK(status_of(route("GET", path("", s + std::string(1, '\0')))) == 400);
    CHECK(status_of(route("GET", path("", s + "\x01"))) == 400);
    CHECK(status_of(route("GET", path("", s + "\xef\xbc\x8ewav"))) == 400);  // fullwidth dot
    CHECK(status_of(route("GET", path("", s + ".wav#frag"))) == 400);
    CHECK(status_of(route("GET", path("", s + ";.mp3"))) == 400);
  }
  SUBCASE("targets not in origin form are 400") {
    CHECK(status_of(route("GET", "http://example.com" + path("", s))) == 400);
    CHECK(status_of(route("GET", "*")) == 400);
    CHECK(status_of(route("GET", "")) == 400);
  }
}

TEST_CASE("router: waveform peaks, their samples_per_pixel and methods") {
  const std::string peaks = std::string("/v1/recordings/") + account + "/" + sid + "/peaks.json";
  auto r = route("GET", peaks);
  REQUIRE(r.ok());
  CHECK(r->format == recording_format::peaks);
  CHECK(r->is_audio());  // the audio scope and signed URLs
  CHECK(r->samples_per_pixel == 256);
  CHECK(r->account_sid == account);
  CHECK(r->sid == sid);
  CHECK(route("HEAD", peaks)->head);
  for (const char* n : {"64", "1024", "65536"}) {
    CAPTURE(n);
    auto sized = route("GET", peaks + "?rg_x=1&samples_per_pixel=" + n + "&samples_per_pixel=3");
    REQUIRE(sized.ok());
    CHECK(sized->samples_per_pixel == std::stoul(n));
  }
  for (const char* n : {"0", "32", "100", "131072", "", "-64", "256x", "0256000"}) {
    CAPTURE(n);
    auto bad = route("GET", peaks + "?samples_per_pixel=" + n);
    CHECK(status_of(bad) == 400);
  }
  CHECK(status_of(route("DELETE", peaks)) == 405);
  CHECK(route("DELETE", peaks).error().allow == "GET, HEAD");
  CHECK(status_of(route("GET", peaks + "/")) == 404);
  CHECK(status_of(route("GET", std::string("/v1/recordings/") + account + "/" + sid)) == 404);
  CHECK(status_of(route(
            "GET", std::string("/v1/recordings/") + account + "/" + sid + "/peaks.dat")) == 404);
  CHECK(status_of(route("GET", std::string("/v1/recordings/x/") + sid + "/peaks.json")) == 400);
  CHECK(status_of(route("GET", "/v1/recordings")) == 404);
}
