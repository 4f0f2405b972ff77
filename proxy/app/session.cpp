#include "proxy/app/session.hpp"

#include <array>
#include <chrono>
#include <utility>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config/load.hpp"
#include "proxy/access/client_certificate.hpp"
#include "proxy/endpoints/callback_endpoint.hpp"
#include "proxy/endpoints/recording_handler.hpp"
#include "proxy/endpoints/signed_urls.hpp"
#include "proxy/http/request_reader.hpp"
#include "proxy/http/request_rules.hpp"
#include "proxy/http/response_writer.hpp"
#include "proxy/policy/router.hpp"
#include "proxy/telemetry/audit_log.hpp"
#include "proxy/telemetry/logging.hpp"
#include "util/clock.hpp"
#include "util/codec.hpp"

namespace recgate {
namespace {

constexpr std::uint64_t max_request_body = 8 * 1024;

// What the loop records of one request: the endpoint's outcome, and where it was routed.
struct request_outcome : endpoint_outcome {
  // For metrics: audio, metadata, delete, sign, callback, other.
  std::string_view route = "other";
  // The recording asked for, once routed, with an audit trail; empty otherwise.
  std::string account_sid, sid, format;

  request_outcome() = default;
  request_outcome(endpoint_outcome answered, std::string_view routed)
      : endpoint_outcome(std::move(answered)), route(routed) {}

  // What a written response says about the request and its connection.
  request_outcome& settle(unsigned answered, const write_result& w, bool keep_open) {
    status = answered;
    bytes = w.body_bytes;
    keep_alive = keep_open && w.complete;
    return *this;
  }
};

// What the session knows of its connection, for access decisions.
struct connection_info {
  std::string client;                    // the peer's IP address
  std::vector<std::string> certificate;  // verified client certificate identities
  bool has_certificate = false;
  bool secure = false;  // TLS listener
  // The digest of the key its requests presented last (mutable: a memo, not a fact about the
  // connection).
  mutable key_digest_memo key_memo;
};

// The request's fields the session reads, found in one pass over them (a search per field walks
// the whole set case-insensitively each time). Views into the request; the first of each
// counts, as Beast's operator[] has it.
struct request_fields {
  std::size_t host_count = 0;
  std::string_view host;
  std::string_view authorization;
  std::string_view cookie;
  std::string_view if_none_match;
  std::string_view range;
  std::string_view if_range;
  std::string_view if_modified_since;
  std::string_view request_id;  // X-Request-Id
  bool transfer_encoding = false;
};

request_fields scan_fields(const http::fields& fields) {
  request_fields out;
  auto first = [](std::string_view& to, std::string_view value) {
    if (to.data() == nullptr) to = value.empty() ? std::string_view("", 0) : value;
  };
  for (const auto& f : fields) {
    const auto value = f.value();
    const std::string_view text(value.data(), value.size());
    switch (f.name()) {
      case http::field::host:
        if (out.host_count++ == 0) out.host = text;
        break;
      case http::field::authorization:
        first(out.authorization, text);
        break;
      case http::field::cookie:
        first(out.cookie, text);
        break;
      case http::field::if_none_match:
        first(out.if_none_match, text);
        break;
      case http::field::range:
        first(out.range, text);
        break;
      case http::field::if_range:
        first(out.if_range, text);
        break;
      case http::field::if_modified_since:
        first(out.if_modified_since, text);
        break;
      case http::field::transfer_encoding:
        out.transfer_encoding = true;
        break;
      case http::field::unknown: {
        const auto name = f.name_string();
        if (iequals(std::string_view(name.data(), name.size()), "X-Request-Id")) {
          first(out.request_id, text);
        }
        break;
      }
      default:
        break;
    }
  }
  return out;
}

// What the access policy needs to know of a routed recording request. Views into `req`,
// `fields` and `conn`, which outlive it.
access_request access_request_for(const http::request<http::string_body>& req,
                                  const request_fields& fields, const recording_request& routed,
                                  const connection_info& conn) {
  auto target = req.target();
  auto question = target.find('?');
  access_request ask;
  ask.authorization = fields.authorization;
  ask.account_sid = routed.account_sid;
  ask.metadata = routed.format == recording_format::json;
  ask.client_address = conn.client;
  ask.sid = routed.sid;
  // Peaks are derived from the audio: any grant for the recording covers them (format "").
  ask.format = routed.format == recording_format::peaks ? "" : extension(routed.format);
  ask.query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  ask.unix_now = unix_now();
  ask.certificate = conn.has_certificate ? &conn.certificate : nullptr;
  ask.cookies = fields.cookie;
  ask.key_memo = &conn.key_memo;
  // Deleting needs its own scope, and a key: a signed URL or its cookie never grants it.
  if (routed.remove) ask.scope = config::scope_delete;
  return ask;
}

// Answers one request; what happened is recorded in `out` (filled in place, not returned: see
// serve_recording).
net::awaitable<void> dispatch(gateway& gw, const live_settings& live, client_stream& stream,
                              const http::request<http::string_body>& req,
                              const request_fields& fields, const std::string& request_id,
                              const connection_info& conn, bool keep_alive, request_outcome& out) {
  if (!valid_host(fields.host_count, fields.host, req.version() >= 11)) {
    reply to{stream, request_id, req.method() == http::verb::head, false,
             live.server.write_timeout};
    auto w = co_await write_error(to, 400, "The request needs exactly one valid Host header");
    out.settle(400, w, false);
    co_return;
  }
  auto target_path = req.target().substr(0, req.target().find('?'));
  if (target_path == "/v1/signed-urls") {
    auto signed_url = co_await serve_signed_url_request(gw, live, stream, req, request_id,
                                                        conn.client, keep_alive);
    out = request_outcome(std::move(signed_url), "sign");
    co_return;
  }
  if (gw.prefetch && target_path == gw.fixed.callbacks.path) {
    auto callback = co_await serve_status_callback(gw, live, stream, req, request_id, keep_alive);
    out = request_outcome(std::move(callback), "callback");
    co_return;
  }

  bool head = req.method() == http::verb::head;
  const reply to{stream, request_id, head, keep_alive, live.server.write_timeout};
  auto routed = route(req.method_string(), req.target());

  if (!routed.ok()) {
    const auto& err = routed.error();
    header_list extra;
    if (err.status == 405) extra.emplace_back("Allow", err.allow);
    auto w = co_await write_error(to, static_cast<unsigned>(err.status), err.message, extra);
    out.settle(static_cast<unsigned>(err.status), w, keep_alive);
    co_return;
  }

  const auto& routed_request = *routed;
  out.route = routed_request.remove                              ? "delete"
              : routed_request.format == recording_format::json  ? "metadata"
              : routed_request.format == recording_format::peaks ? "peaks"
                                                                 : "audio";
  if (gw.audit) {  // only the audit trail reads them
    out.account_sid = routed_request.account_sid;
    out.sid = routed_request.sid;
    out.format = std::string(extension(routed_request.format));
  }
  const auto ask = access_request_for(req, fields, routed_request, conn);
  auto decision = gw.access.load()->decide(ask, std::chrono::steady_clock::now());
  out.consumer = decision.consumer;
  out.key_id = decision.key_id;
  out.decision = decision.reason;
  if (decision.outcome != access_outcome::allow) {
    auto denied = denial_for(decision);
    auto w = co_await write_error(to, denied.status, denied.message, denied.headers);
    out.settle(denied.status, w, keep_alive);
    co_return;
  }

  header_list audio_extra;
  if (!decision.grant_query.empty()) {
    audio_extra.emplace_back("Set-Cookie",
                             grant_cookie(decision, routed_request.sid, ask.unix_now, conn.secure));
  }
  conditional_headers conditions{fields.if_none_match, fields.range, fields.if_range,
                                 fields.if_modified_since};
  co_await serve_recording(gw, live, stream, routed_request, conditions, request_id, keep_alive,
                           decision.budget.get(), audio_extra, out);
}

// Counts the connection while it lives, for max_connections and /metrics.
class connection_slot {
 public:
  explicit connection_slot(gateway& gw)
      : gw_(gw), count_(gw.connections.fetch_add(1, std::memory_order_relaxed) + 1) {}
  ~connection_slot() { gw_.connections.fetch_sub(1, std::memory_order_relaxed); }
  std::uint64_t count() const { return count_; }

 private:
  gateway& gw_;
  std::uint64_t count_;
};

// One request in flight, for a draining gateway to wait on.
class in_flight {
 public:
  explicit in_flight(gateway& gw) : gw_(gw) { gw_.requests_in_flight.fetch_add(1); }
  ~in_flight() { gw_.requests_in_flight.fetch_sub(1); }

 private:
  gateway& gw_;
};

void log_unparsed(const std::string& id, const std::string& client, unsigned status) {
  logging::access_record record;
  record.request_id = id;
  record.client = client;
  record.consumer = record.method = record.path = record.decision = "-";
  record.status = status;
  logging::access(record);
}

// Answers a request that could not be read as one (too large, not valid HTTP/1.1), then closes
// the connection without destroying that answer.
net::awaitable<void> refuse_unread(client_stream& stream, gateway& gw, const connection_info& conn,
                                   const read_result& got, config::duration write_timeout) {
  unsigned status = 400;
  std::string message;
  switch (got.status) {
    case read_status::line_too_long:
      status = 414;
      message = "The request line is too long";
      break;
    case read_status::head_too_large:
      status = 431;
      message = "The request headers are too large";
      break;
    case read_status::body_too_large:
      status = 413;
      message = "The request body is too large";
      break;
    default:
      message = "The request is not valid HTTP/1.1: " + got.detail;
      break;
  }
  std::string id = request_id_for({});
  co_await write_error({stream, id, false, false, write_timeout}, status, message);
  log_unparsed(id, conn.client, status);
  gw.stats.requests.add({"other", std::to_string(status), "-", "-"});
  co_await linger_close(stream);
}

// What one answered request leaves behind: its access-log line, its metrics, its audit line.
// Last, so the outcome's strings move into the audit record instead of being copied.
void record_request(gateway& gw, const client_stream& stream, const connection_info& conn,
                    const http::request<http::string_body>& req, const request_fields& fields,
                    const std::string& request_id, std::chrono::steady_clock::time_point started,
                    request_outcome& outcome) {
  const auto ended = std::chrono::steady_clock::now();
  if (logging::access_enabled()) {
    auto target = req.target();
    logging::access_record record;
    record.request_id = request_id;
    record.client = conn.client;
    record.consumer = outcome.consumer;
    record.key_id = outcome.key_id;
    record.decision = outcome.decision;
    record.method = req.method_string();
    record.path = target.substr(0, target.find('?'));
    record.status = outcome.status;
    record.bytes = outcome.bytes;
    record.upstream_status = outcome.upstream_status;
    record.cache = outcome.cache;
    record.project = outcome.project;
    record.duration_ms = std::chrono::duration<double, std::milli>(ended - started).count();
    logging::access(record);
  }
  gw.stats.requests.add(
      {outcome.route, std::to_string(outcome.status), outcome.consumer, outcome.project});
  gw.stats.request_latency.observe({outcome.route, outcome.cache},
                                   std::chrono::duration<double>(ended - started).count());
  if (const auto first = stream.first_write(); first != std::chrono::steady_clock::time_point{}) {
    gw.stats.first_byte_latency.observe({outcome.route, outcome.cache},
                                        std::chrono::duration<double>(first - started).count());
  }
  if (outcome.bytes > 0) gw.stats.bytes_served.add({outcome.cache}, outcome.bytes);
  if (gw.audit && !outcome.sid.empty()) {
    // Every routed recording request, denied ones included: who asked for what.
    audit_record entry;
    entry.consumer = std::move(outcome.consumer);
    entry.key_id = std::move(outcome.key_id);
    entry.account_sid = std::move(outcome.account_sid);
    entry.recording_sid = std::move(outcome.sid);
    entry.format = std::move(outcome.format);
    entry.method = std::string(req.method_string());
    entry.status = outcome.status;
    entry.bytes = outcome.bytes;
    entry.range = std::string(fields.range);
    entry.client = conn.client;
    entry.request_id = request_id;
    entry.decision = std::move(outcome.decision);
    if (outcome.project != "-") entry.project = std::move(outcome.project);
    gw.audit->append(entry);
  }
}

// The request loop shared by both listeners, once the connection is set up.
net::awaitable<void> serve(client_stream& stream, std::shared_ptr<gateway> gw,
                           const connection_info& conn) {
  request_reader reader;
  unsigned served = 0;
  for (bool first = true;; first = false) {
    // This request's settings: a reload meanwhile applies from the next request on.
    auto live = gw->settings.load();
    const auto& limits = live->server;
    read_limits bounds{limits.max_header_bytes, max_request_body, limits.idle_timeout,
                       limits.header_timeout};
    http::request_parser<http::string_body> parser;
    auto got = co_await reader.read(stream, parser, bounds, first);
    request_fields fields;
    if (got.status == read_status::ok) fields = scan_fields(parser.get().base());
    // RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked has no knowable
    // length. Beast reads it as bodiless and would parse its body as the next request, which a
    // front end may see otherwise (request smuggling): refused like a parse error, and closed.
    if (got.status == read_status::ok && fields.transfer_encoding && !parser.chunked()) {
      got = {read_status::invalid,
             http::make_error_code(http::error::bad_transfer_encoding).message()};
    }
    if (got.status == read_status::closed) break;
    if (got.status != read_status::ok) {
      // A request we cannot take gets one clear answer, then the connection is closed.
      co_await refuse_unread(stream, *gw, conn, got, limits.write_timeout);
      break;
    }

    in_flight counted(*gw);
    ++served;
    auto started = std::chrono::steady_clock::now();
    stream.start_answer();
    const auto& req = parser.get();
    std::string request_id = request_id_for(fields.request_id);
    // The connection's last request says so: at the per-connection limit, or while draining.
    bool last =
        (limits.max_requests_per_connection != 0 && served >= limits.max_requests_per_connection) ||
        gw->draining.load(std::memory_order_relaxed);
    bool keep_alive = req.keep_alive() && !last;
    request_outcome outcome;
    co_await dispatch(*gw, *live, stream, req, fields, request_id, conn, keep_alive, outcome);

    record_request(*gw, stream, conn, req, fields, request_id, started, outcome);
    if (!outcome.keep_alive) {
      // Closed by the gateway while the client may still be sending (it pipelined more requests,
      // or expected to keep the connection): the answers written so far must reach it whole.
      if (reader.has_unread() || req.keep_alive()) co_await linger_close(stream);
      break;
    }
  }
}

// Over max_connections: one clear answer, then the connection closes.
net::awaitable<bool> refuse_if_full(client_stream& stream, gateway& gw, const connection_slot& slot,
                                    const std::string& client) {
  auto live = gw.settings.load();
  const auto max = live->server.max_connections;
  if (max == 0 || slot.count() <= max) co_return false;
  gw.connections_rejected.fetch_add(1, std::memory_order_relaxed);
  auto id = request_id_for({});
  header_list extra;
  extra.emplace_back("Retry-After", "1");
  co_await write_error({stream, id, false, false, std::chrono::seconds(2)}, 503,
                       "Too many connections: try again shortly", extra);
  log_unparsed(id, client, 503);
  co_return true;
}

std::string peer_address(const tcp::socket& socket) {
  beast::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  return ec ? "-" : peer.address().to_string();
}

}  // namespace

net::awaitable<void> run_session(tcp::socket socket, std::shared_ptr<gateway> gw) {
  connection_slot slot(*gw);
  connection_info conn;
  conn.client = peer_address(socket);
  client_stream stream(std::move(socket));
  if (!co_await refuse_if_full(stream, *gw, slot, conn.client)) co_await serve(stream, gw, conn);
  beast::error_code ec;
  stream.lowest().shutdown(tcp::socket::shutdown_send, ec);
}

net::awaitable<void> run_tls_session(tcp::socket socket, std::shared_ptr<gateway> gw) {
  connection_slot slot(*gw);
  connection_info conn;
  conn.client = peer_address(socket);
  conn.secure = true;
  // The context current when the connection arrived: a reload affects later connections.
  auto context = gw->tls_context.load();
  client_stream stream(std::move(socket), *context);
  auto* tls = stream.tls();
  beast::error_code ec;
  stream.expires_after(gw->settings.load()->server.header_timeout);
  co_await tls->async_handshake(ssl::stream_base::server,
                                net::redirect_error(net::use_awaitable, ec));
  stream.expires_never();
  if (ec) {
    logging::debug("TLS handshake with " + conn.client + " failed: " + ec.message());
    co_return;
  }
  SSL* ssl_handle = tls->native_handle();
  if (X509* peer = SSL_get0_peer_certificate(ssl_handle);
      peer != nullptr && SSL_get_verify_result(ssl_handle) == X509_V_OK) {
    conn.certificate = certificate_identities(peer);
    conn.has_certificate = true;
  }
  if (!co_await refuse_if_full(stream, *gw, slot, conn.client)) co_await serve(stream, gw, conn);
  // close_notify, briefly: a client that is gone must not hold the session.
  stream.expires_after(std::chrono::seconds(2));
  co_await tls->async_shutdown(net::redirect_error(net::use_awaitable, ec));
}

}  // namespace recgate
