#include "sim_session.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "callback_sender.hpp"

namespace laml_sim {
namespace {

constexpr auto io_timeout = std::chrono::seconds(30);
constexpr auto tls_handshake_timeout = std::chrono::seconds(10);
constexpr auto tls_shutdown_timeout = std::chrono::seconds(5);
constexpr std::uint64_t max_chunk = 64 * 1024;
constexpr std::uint64_t request_body_limit = 64 * 1024;

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

auto use_ec(beast::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

// The one place that decides which errors end a connection normally. stream_truncated: a TLS peer
// closed TCP without its close_notify, as most HTTP clients do once they have their answer.
bool is_normal_end(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == beast::error::timeout || ec == net::error::operation_aborted ||
         ec == ssl::error::stream_truncated;
}

// A request the parser rejected (as opposed to a connection that ended or timed out).
bool is_protocol_error(const beast::error_code& ec) {
  return ec && &ec.category() == &beast::error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

enum class next_step { keep_going, close, closed };

request_view to_view(const http::request<http::string_body>& req,
                     const std::optional<std::string>& sni, bool first, bool resumed) {
  request_view view;
  view.first_on_connection = first;
  view.tls_resumed = resumed;
  view.method = req.method_string();
  view.target = req.target();
  if (const auto it = req.find(http::field::authorization); it != req.end())
    view.authorization = it->value();
  if (const auto it = req.find(http::field::range); it != req.end()) view.range = it->value();
  view.body = req.body();
  if (sni) view.sni = *sni;
  for (const auto& field : req) view.headers.emplace_back(field.name_string(), field.value());
  return view;
}

// The helpers below take either stream, beast::tcp_stream or tls_stream. Faults act on the TCP
// layer under TLS too, so a TLS client sees the same reset or early close.

// SO_LINGER 0 then close: the kernel sends RST instead of FIN, so the peer sees a reset.
template <class Stream>
void reset_connection(Stream& stream) {
  beast::error_code ec;
  auto& socket = beast::get_lowest_layer(stream).socket();
  socket.set_option(net::socket_base::linger(true, 0), ec);
  socket.close(ec);
}

template <class Stream>
void close_connection(Stream& stream) {
  beast::error_code ec;
  auto& socket = beast::get_lowest_layer(stream).socket();
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

// The end of a connection that no fault cut, matched to the layer: TCP FIN, or TLS close_notify
// first. `why`: the error that ended the request loop, if any.
net::awaitable<void> end_connection(beast::tcp_stream& stream, const beast::error_code&) {
  close_connection(stream);
  co_return;
}

net::awaitable<void> end_connection(tls_stream& stream, const beast::error_code& why) {
  // Only a peer that is still there (or sent its own close_notify) gets a TLS shutdown.
  if (why && why != http::error::end_of_stream) {
    close_connection(stream);
    co_return;
  }
  beast::error_code ec;
  // Bounded: the shutdown waits for the peer's close_notify, which it may never send.
  beast::get_lowest_layer(stream).expires_after(tls_shutdown_timeout);
  co_await stream.async_shutdown(use_ec(ec));
  if (ec && !is_normal_end(ec)) spdlog::info("TLS shutdown: {}", ec.message());
  close_connection(stream);
}

// Closing with unread input makes the kernel send RST, which can destroy the error answer before
// the client reads it (an oversized body is still arriving): send FIN, discard input until the
// peer closes or a second passes, then close.
// Under TLS the input is drained below the TLS layer (no close_notify): the answer is complete
// and says "Connection: close", which is all the client needs.
template <class Stream>
net::awaitable<void> drain_and_close(Stream& stream) {
  beast::tcp_stream& tcp_layer = beast::get_lowest_layer(stream);
  beast::error_code ec;
  tcp_layer.socket().shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 4096> scratch{};
  tcp_layer.expires_after(std::chrono::seconds(1));
  while (!ec) co_await tcp_layer.async_read_some(net::buffer(scratch), use_ec(ec));
  tcp_layer.socket().close(ec);
}

// A throttled body goes out in pieces of about a tenth of a second each.
std::uint64_t chunk_for(const fault_rule& faults) {
  if (faults.bytes_per_second == 0) return max_chunk;
  return std::clamp<std::uint64_t>(faults.bytes_per_second / 10, 1, max_chunk);
}

// Writes the body after the header, applying the plan's body faults.
template <class Stream>
net::awaitable<next_step> send_body(Stream& stream, http::response<http::buffer_body>& res,
                                    http::response_serializer<http::buffer_body>& sr,
                                    const response_plan& plan, beast::error_code& ec) {
  const fault_rule& faults = plan.body_faults;
  const std::uint64_t length = plan.content_length.value_or(0);
  std::uint64_t limit = length - std::min(faults.short_by, length);
  bool cut_short = limit < length;
  bool reset = false;
  if (faults.reset_after && *faults.reset_after < limit) {
    limit = *faults.reset_after;
    reset = true;
    cut_short = false;
  }

  std::vector<char> buffer(static_cast<std::size_t>(std::min(chunk_for(faults), length)));
  net::steady_timer pacer(stream.get_executor());
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t sent = 0; sent < limit;) {
    const std::uint64_t n = std::min<std::uint64_t>(buffer.size(), limit - sent);
    if (faults.bytes_per_second != 0) {
      // No more than rate * elapsed bytes may have left once this chunk is written.
      const std::chrono::duration<double> due(static_cast<double>(sent + n) /
                                              static_cast<double>(faults.bytes_per_second));
      pacer.expires_at(start + std::chrono::duration_cast<std::chrono::nanoseconds>(due));
      co_await pacer.async_wait(use_ec(ec));
      if (ec) co_return next_step::closed;
    }
    plan.fill(sent, std::span<char>(buffer.data(), static_cast<std::size_t>(n)));
    res.body().data = buffer.data();
    res.body().size = static_cast<std::size_t>(n);
    res.body().more = true;
    beast::get_lowest_layer(stream).expires_after(io_timeout);
    co_await http::async_write(stream, sr, use_ec(ec));
    // need_buffer: the serializer consumed this chunk and waits for the next one.
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return next_step::closed;
    sent += n;
  }
  if (reset) {
    reset_connection(stream);
    co_return next_step::closed;
  }
  if (cut_short) {
    close_connection(stream);
    co_return next_step::closed;
  }
  res.body().data = nullptr;
  res.body().more = false;
  beast::get_lowest_layer(stream).expires_after(io_timeout);
  co_await http::async_write(stream, sr, use_ec(ec));
  co_return ec ? next_step::closed : next_step::keep_going;
}

template <class Stream>
net::awaitable<next_step> send_plan(Stream& stream, const response_plan& plan, unsigned version,
                                    bool keep_alive, beast::error_code& ec) {
  if (plan.latency_ms != 0) {
    net::steady_timer delay(stream.get_executor());
    delay.expires_after(std::chrono::milliseconds(plan.latency_ms));
    co_await delay.async_wait(use_ec(ec));
    if (ec) co_return next_step::closed;
  }

  http::response<http::buffer_body> res{static_cast<http::status>(plan.status), version};
  for (const auto& [name, value] : plan.headers) res.insert(name, value);
  if (plan.content_length) res.content_length(*plan.content_length);
  res.keep_alive(keep_alive);
  res.body().data = nullptr;
  res.body().more = plan.send_body;
  http::response_serializer<http::buffer_body> sr{res};

  beast::get_lowest_layer(stream).expires_after(io_timeout);
  co_await http::async_write_header(stream, sr, use_ec(ec));
  if (ec) co_return next_step::closed;
  if (plan.send_body) {
    const next_step step = co_await send_body(stream, res, sr, plan, ec);
    if (step != next_step::keep_going) co_return step;
  }
  co_return keep_alive ? next_step::keep_going : next_step::close;
}

// Serves requests on an open (and, for TLS, handshaken) stream until the connection ends.
// `sni`: set on TLS connections only, and then recorded with every request.
template <class Stream>
net::awaitable<void> serve(Stream& stream, sim_state& state, const std::optional<std::string>& sni,
                           bool resumed = false) {
  bool first = true;
  beast::flat_buffer buffer;
  beast::error_code ec;
  next_step step = next_step::keep_going;
  while (step == next_step::keep_going) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(request_body_limit);
    beast::get_lowest_layer(stream).expires_after(io_timeout);
    co_await http::async_read(stream, buffer, parser, use_ec(ec));
    if (is_protocol_error(ec)) {
      // Bad input is answered, then the connection ends: the parser cannot resynchronise.
      const bool too_large = ec == http::error::body_limit;
      const response_plan plan = protocol_error_plan(
          state, too_large ? 413 : 400, too_large ? "Request body too large" : "Malformed request");
      spdlog::info("malformed request: {} -> {}", ec.message(), plan.status);
      beast::error_code write_ec;
      if (co_await send_plan(stream, plan, 11, false, write_ec) != next_step::closed)
        co_await drain_and_close(stream);
      step = next_step::closed;
      ec = {};
      break;
    }
    if (ec) break;
    const http::request<http::string_body>& req = parser.get();
    const request_view view = to_view(req, sni, first, resumed);
    response_plan plan = handle_request(state, view);
    first = false;
    if (plan.callback) {
      // POST /__sim/callbacks: send it now, then answer with what the receiver said.
      const outgoing_callback callback = *plan.callback;
      const callback_delivery delivered = co_await send_callback(callback);
      plan = callback_result_plan(state, view, callback, delivered.status, delivered.body,
                                  delivered.error);
    }
    // Audio bodies being sent, for the concurrency counters in /__sim/requests.
    const bool audio_body = plan.audio && plan.send_body && plan.status / 100 == 2;
    if (audio_body) state.stats.audio_started();
    step = co_await send_plan(stream, plan, req.version(), req.keep_alive(), ec);
    if (audio_body) state.stats.audio_finished(step != next_step::closed);
    // The target may carry anything a client put there, but never the Authorization header.
    spdlog::info("{} {} -> {}{}", std::string_view(req.method_string()),
                 std::string_view(req.target()), plan.status,
                 ec ? " (" + ec.message() + ")" : std::string());
  }
  if (ec && !is_normal_end(ec)) spdlog::warn("connection ended: {}", ec.message());
  if (step != next_step::closed) co_await end_connection(stream, ec);
}

}  // namespace

net::awaitable<void> run_session(tcp::socket socket, sim_state& state) {
  beast::tcp_stream stream(std::move(socket));
  co_await serve(stream, state, std::nullopt);
}

net::awaitable<void> run_tls_session(tcp::socket socket, ssl::context& tls, sim_state& state) {
  tls_stream stream(std::move(socket), tls);
  beast::error_code ec;
  // Bounded: a client that connects and never says hello must not hold the session.
  beast::get_lowest_layer(stream).expires_after(tls_handshake_timeout);
  co_await stream.async_handshake(ssl::stream_base::server, use_ec(ec));
  if (ec) {
    // Typically the client rejected our certificate (unknown CA, wrong name, expired).
    state.stats.record_handshake_failure();
    spdlog::info("TLS handshake failed: {}", ec.message());
    close_connection(stream);
    co_return;
  }
  const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
  co_await serve(stream, state, std::optional<std::string>(name ? name : ""),
                 SSL_session_reused(stream.native_handle()) == 1);
}

}  // namespace laml_sim
