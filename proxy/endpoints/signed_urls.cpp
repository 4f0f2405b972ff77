#include "proxy/endpoints/signed_urls.hpp"

#include <chrono>

#include <nlohmann/json.hpp>

#include "config/load.hpp"
#include "proxy/access/signing.hpp"
#include "proxy/http/request_rules.hpp"
#include "proxy/http/response_writer.hpp"
#include "proxy/policy/router.hpp"
#include "util/clock.hpp"

namespace recgate {

net::awaitable<endpoint_outcome> serve_signed_url_request(
    gateway& gw, const live_settings& live, client_stream& stream,
    const http::request<http::string_body>& req, const std::string& request_id,
    const std::string& client, bool keep_alive) {
  endpoint_outcome out;
  auto finish = [&](unsigned status, const write_result& w) {
    out.status = status;
    out.bytes = w.body_bytes;
    out.keep_alive = keep_alive && w.complete;
    return out;
  };
  const reply to{stream, request_id, false, keep_alive, live.server.write_timeout};
  if (req.method() != http::verb::post) {
    header_list allow;
    allow.emplace_back("Allow", "POST");
    auto w = co_await write_error(to, 405, "Use POST", allow);
    co_return finish(405, w);
  }
  auto read = read_signing_body(req.body());
  if (!read.ok()) {
    auto w = co_await write_error(to, 400, read.error());
    co_return finish(400, w);
  }
  auto& ask = *read;
  auto routed = route("GET", ask.path);
  if (!routed.ok()) {
    auto w = co_await write_error(to, 400, "path must be a recording's audio path");
    co_return finish(400, w);
  }
  const auto* recording = &*routed;

  access_request who;
  who.authorization = req[http::field::authorization];
  who.account_sid = recording->account_sid;
  who.client_address = client;
  who.sid = recording->sid;
  who.scope = config::scope_sign;
  who.unix_now = unix_now();
  auto policy = gw.access.load();
  auto decision = policy->decide(who, std::chrono::steady_clock::now());
  out.consumer = decision.consumer;
  out.key_id = decision.key_id;
  out.decision = decision.reason;
  if (decision.outcome != access_outcome::allow) {
    auto denied = denial_for(decision);
    auto w = co_await write_error(to, denied.status, denied.message, denied.headers);
    co_return finish(denied.status, w);
  }
  ask.consumer = decision.consumer;
  auto minted = mint_signed_url(policy->consumers(), policy->signing_keys(), ask, who.unix_now);
  if (!minted.ok()) {
    auto w = co_await write_error(to, minted.error().status, minted.error().message);
    co_return finish(minted.error().status, w);
  }
  const auto& url = *minted;
  nlohmann::json answer;
  answer["url"] = url.url;
  answer["expires"] = url.expires;
  auto w = co_await write_json(to, 201, answer.dump());
  co_return finish(201, w);
}

}  // namespace recgate
