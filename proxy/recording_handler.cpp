#include "proxy/recording_handler.hpp"

#include "proxy/logging.hpp"
#include "proxy/response_writer.hpp"

namespace recgate {
namespace {

bool is_json_type(std::string_view content_type) {
  auto semicolon = content_type.find(';');
  auto media = content_type.substr(0, semicolon);
  while (media.ends_with(' ')) media.remove_suffix(1);
  return beast::iequals(media, "application/json") || beast::iequals(media, "application/problem+json");
}

// Only these upstream headers reach the client: hop-by-hop headers, Set-Cookie, Server and
// anything else the upstream adds stay behind.
header_list passed_headers(const http::fields& upstream, recording_format format) {
  header_list out;
  auto type = upstream.find(http::field::content_type);
  out.emplace_back("Content-Type", type != upstream.end() ? std::string(type->value())
                                                          : std::string(content_type(format)));
  for (auto field : {http::field::etag, http::field::last_modified}) {
    if (auto it = upstream.find(field); it != upstream.end()) {
      out.emplace_back(std::string(it->name_string()), std::string(it->value()));
    }
  }
  return out;
}

}  // namespace

net::awaitable<handler_outcome> serve_recording(gateway& gw, beast::tcp_stream& client,
                                                const recording_request& request,
                                                const std::string& request_id, bool keep_alive) {
  const auto& server = gw.cfg.server;
  handler_outcome out;
  auto fail = [&](unsigned status, std::string_view message) -> net::awaitable<handler_outcome> {
    auto w = co_await write_error(client, status, message, request.head, keep_alive, request_id,
                                  {}, server.write_timeout);
    co_return handler_outcome{status, w.body_bytes, out.upstream_status, keep_alive && w.complete};
  };

  auto result = co_await gw.upstream.fetch(request, request_id);
  if (auto* failure = std::get_if<upstream_failure>(&result)) {
    logging::warn("request_id=" + request_id + " upstream failed: " + failure->detail);
    if (failure->what == upstream_failure::kind::timeout) {
      co_return co_await fail(504, "The upstream did not answer in time");
    }
    co_return co_await fail(502, "The upstream could not be reached or answered badly");
  }
  auto& exchange = *std::get<std::unique_ptr<upstream_exchange>>(result);
  unsigned status = exchange.status();
  out.upstream_status = status;
  auto type_it = exchange.headers().find(http::field::content_type);
  bool json_body = type_it != exchange.headers().end() && is_json_type(type_it->value());

  if (status >= 500) {
    logging::warn("request_id=" + request_id + " upstream answered " + std::to_string(status));
    co_return co_await fail(502, "The upstream answered " + std::to_string(status));
  }
  if (status >= 400 && !json_body) {
    // SDKs parse every error body as JSON: give them the upstream's status in the JSON shape.
    co_return co_await fail(status, "The upstream answered " + std::to_string(status));
  }
  if (status < 400 && status != 200) {
    co_return co_await fail(502, "The upstream answered an unexpected " + std::to_string(status));
  }
  if (request.format == recording_format::json && !json_body) {
    co_return co_await fail(502, "The upstream answered metadata that is not JSON");
  }

  header_list headers = passed_headers(exchange.headers(), request.format);
  auto w = co_await write_streamed(client, status, headers, exchange, request.head, keep_alive,
                                   request_id, gw.cfg.upstream.buffer_bytes, server.write_timeout);
  out.status = status;
  out.bytes = w.body_bytes;
  out.keep_alive = keep_alive && w.complete;
  co_return out;
}

}  // namespace recgate
