// proxy/request_rules: request ids, the Host check, the grant cookie, the signing body.
#include <set>

#include <doctest/doctest.h>

#include "proxy/http/request_rules.hpp"

using namespace recgate;

TEST_CASE("request ids: a plain offered one is kept, anything else replaced by 16 hex digits") {
  CHECK(request_id_for("abc-123_X.y") == "abc-123_X.y");
  CHECK(request_id_for(std::string(64, 'a')) == std::string(64, 'a'));
  std::set<std::string> made;
  for (std::string_view bad : {"", "has space", "semi;colon", "new\nline", "é"}) {
    auto id = request_id_for(bad);
    CHECK(id.size() == 16);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    made.insert(id);
  }
  CHECK(request_id_for(std::string(65, 'a')).size() == 16);
  CHECK(made.size() == 5);  // random: no two alike
}

TEST_CASE("Host: exactly one valid field for HTTP/1.1, at most one for HTTP/1.0") {
  CHECK(valid_host(1, "gw.example.com:8080", true));
  CHECK(valid_host(1, "[::1]:8080", true));
  CHECK(valid_host(0, "", false));
  CHECK_FALSE(valid_host(0, "", true));
  CHECK_FALSE(valid_host(2, "a", true));
  CHECK_FALSE(valid_host(1, "a b", true));
  CHECK_FALSE(valid_host(1, "a/b", true));
  CHECK_FALSE(valid_host(1, "a@b", true));
}

TEST_CASE("the grant cookie: scoped to the recording, HttpOnly, Lax, Secure on TLS") {
  access_decision d;
  d.grant_query = "rg_expires=200&rg_sig=x";
  d.grant_expires = 200;
  auto sid = "0e2c9a1e-1c7e-4bde-9f3a-2b7c4d5e6f70";
  auto plain = grant_cookie(d, sid, 150, false);
  CHECK(plain == grant_cookie_name(sid) +
                     "=rg_expires=200&rg_sig=x; Max-Age=50; Path=/; HttpOnly; SameSite=Lax");
  CHECK(grant_cookie(d, sid, 150, true).ends_with("; Secure"));
  CHECK(grant_cookie(d, sid, 300, false).find("Max-Age=0;") != std::string::npos);  // expired
}

TEST_CASE("the body of POST /v1/signed-urls") {
  auto read =
      read_signing_body(R"({"path":"/p","ttl":"5m","client":"10.0.0.1","bind_format":true})");
  REQUIRE(read.ok());
  CHECK(read->path == "/p");
  CHECK(read->ttl == std::chrono::minutes(5));
  CHECK(read->client == "10.0.0.1");
  CHECK(read->bind_format);
  CHECK(read_signing_body(R"({"path":"/p"})")->ttl == signing_request{}.ttl);  // the default
  auto problem = [](const std::string& body) {
    auto r = read_signing_body(body);
    return r.ok() ? std::string("(accepted)") : r.error();
  };
  CHECK(problem("not json") == "The body must be JSON with a \"path\"");
  CHECK(problem(R"({"ttl":"5m"})") == "The body must be JSON with a \"path\"");
  CHECK(problem(R"({"path":"/p","ttl":"soon"})").starts_with("ttl must"));
  CHECK(problem(R"({"path":"/p","ttl":5})").starts_with("ttl must"));
  CHECK(problem(R"({"path":"/p","client":1})").starts_with("client must"));
  CHECK(problem(R"({"path":"/p","bind_format":"yes"})").starts_with("bind_format must"));
}

TEST_CASE(
    "a denied request's answer: 401 asks for a key, 429 says when to retry, no reason leaks") {
  access_decision d;
  d.reason = "unknown key k-secret";
  auto unauthenticated = denial_for(d);
  CHECK(unauthenticated.status == 401);
  REQUIRE(unauthenticated.headers.size() == 1);
  CHECK(unauthenticated.headers[0].first == "WWW-Authenticate");
  CHECK(unauthenticated.message.find("k-secret") == std::string_view::npos);

  d.outcome = access_outcome::forbidden;
  auto forbidden = denial_for(d);
  CHECK(forbidden.status == 403);
  CHECK(forbidden.headers.empty());

  d.outcome = access_outcome::rate_limited;
  d.retry_after = std::chrono::seconds(0);  // rounded up: never "retry after 0 seconds"
  auto limited = denial_for(d);
  CHECK(limited.status == 429);
  REQUIRE(limited.headers.size() == 1);
  CHECK(limited.headers[0] == std::pair<std::string, std::string>{"Retry-After", "1"});
  d.retry_after = std::chrono::seconds(7);
  CHECK(denial_for(d).headers[0].second == "7");
}
