#include "proxy/upstream/upstream_origin.hpp"

#include "proxy/telemetry/logging.hpp"

namespace recgate {
namespace {

// The four fields a fill keeps, taken in one pass over the upstream's head (a search per field
// costs a case-insensitive walk of the whole set each time). The first of each counts.
void take_head_fields(const http::fields& fields, cache::origin_head& head) {
  bool type = false, modified = false, etag = false, range = false, ranges = false;
  auto take = [](bool& seen, std::string& to, std::string_view value) {
    if (seen) return;
    seen = true;
    to.assign(value.data(), value.size());
  };
  for (const auto& f : fields) {
    switch (f.name()) {
      case http::field::content_type:
        take(type, head.content_type, f.value());
        break;
      case http::field::last_modified:
        take(modified, head.last_modified, f.value());
        break;
      case http::field::etag:
        take(etag, head.etag, f.value());
        break;
      case http::field::content_range:
        take(range, head.content_range, f.value());
        break;
      case http::field::accept_ranges:
        take(ranges, head.accept_ranges, f.value());
        break;
      default:
        break;
    }
  }
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
  take_head_fields(fields, out.head);
  const bool asked_range = request.upstream_range || !request.forwarded.range.empty();
  if (out.head.status == 200 || (out.head.status == 206 && asked_range)) {
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

recording_request audio_request(const cache::object_key& key) {
  recording_request request;
  request.account_sid = key.account_sid;
  request.sid = key.sid;
  request.format = key.format == "mp3" ? recording_format::mp3 : recording_format::wav;
  return request;
}

cache::origin_fetch upstream_origin(std::shared_ptr<upstream_project> project,
                                    std::string request_id) {
  return [project = std::move(project), request_id = std::move(request_id)](
             const cache::object_key& key) -> net::awaitable<cache::origin_response> {
    co_return co_await fetch_from_upstream(project->client(), audio_request(key), request_id);
  };
}

}  // namespace recgate
