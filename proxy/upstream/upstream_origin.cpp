#include "proxy/upstream/upstream_origin.hpp"

#include "proxy/telemetry/logging.hpp"

namespace recgate {
namespace {

std::string header_value(const http::fields& fields, http::field name) {
  auto it = fields.find(name);
  return it == fields.end() ? std::string() : std::string(it->value());
}

}  // namespace

net::awaitable<cache::origin_response> fetch_from_upstream(upstream_client& upstream,
                                                           const recording_request& request,
                                                           const std::string& request_id) {
  cache::origin_response out;
  auto result = co_await upstream.fetch(request, request_id);
  if (!result.ok()) {
    const auto& failure = result.error();
    out.head.timed_out = failure.what == upstream_failure::kind::timeout;
    out.head.unavailable = failure.what == upstream_failure::kind::circuit_open;
    out.head.detail = failure.detail;
    auto kind = error_kind(failure);
    logging::warn("request_id=" + request_id + " upstream failed [kind=" +
                  std::string(kind ? upstream_error_counts::names[*kind] : "circuit_open") +
                  "]: " + failure.detail);
    co_return out;
  }
  auto exchange = std::move(*result);
  const auto& fields = exchange->headers();
  out.head.status = exchange->status();
  out.head.length = exchange->content_length();
  out.head.content_type = header_value(fields, http::field::content_type);
  out.head.last_modified = header_value(fields, http::field::last_modified);
  out.head.etag = header_value(fields, http::field::etag);
  out.head.content_range = header_value(fields, http::field::content_range);
  if (out.head.status == 200 || (out.head.status == 206 && request.upstream_range)) {
    out.body = std::move(exchange);
    co_return out;
  }

  out.head.detail = "upstream answered " + std::to_string(out.head.status);
  if (out.head.status >= 500) {
    logging::warn("request_id=" + request_id + " " + out.head.detail + " [kind=http_5xx]");
  }
  out.head.error_content_type = out.head.content_type;
  // Keep a bounded error body to pass on; a read error just ends it early.
  char buffer[8192];
  while (!request.head && out.head.error_body.size() < max_error_body) {
    beast::error_code ec;
    std::size_t n = co_await exchange->read_some(net::buffer(buffer), ec);
    if (ec || n == 0) break;
    out.head.error_body.append(buffer, std::min(n, max_error_body - out.head.error_body.size()));
  }
  co_return out;
}

cache::origin_fetch upstream_origin(upstream_client& upstream, std::string request_id) {
  return [&upstream, request_id = std::move(request_id)](
             const cache::object_key& key) -> net::awaitable<cache::origin_response> {
    recording_request request;
    request.account_sid = key.account_sid;
    request.sid = key.sid;
    request.format = key.format == "mp3" ? recording_format::mp3 : recording_format::wav;
    co_return co_await fetch_from_upstream(upstream, request, request_id);
  };
}

}  // namespace recgate
