#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "proxy/policy/error_body.hpp"

TEST_CASE("error bodies have the upstream's four fields") {
  auto j = nlohmann::json::parse(recgate::error_body(404, "not \"here\""));
  CHECK(j.size() == 4);
  CHECK(j["code"] == 20404);
  CHECK(j["status"] == 404);
  CHECK(j["message"] == "not \"here\"");
  CHECK(j["more_info"].get<std::string>().find("20404") != std::string::npos);
  CHECK(nlohmann::json::parse(recgate::error_body(401, "x"))["code"] == 20003);
}

TEST_CASE("error bodies stay valid JSON whatever bytes the message carries") {
  auto text = recgate::error_body(400, std::string("bad \xff\xfe byte\x01"));
  CHECK(nlohmann::json::accept(text));
}
