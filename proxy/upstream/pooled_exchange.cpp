#include "proxy/upstream/pooled_exchange.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "proxy/telemetry/logging.hpp"

namespace recgate {

namespace {

constexpr std::size_t upstream_header_limit = 64 * 1024;

}  // namespace

pooled_exchange::pooled_exchange(std::unique_ptr<upstream_connection> conn,
                                 std::shared_ptr<upstream_client::pool> pool,
                                 const config::upstream_config& cfg,
                                 std::shared_ptr<upstream_error_counts> errors,
                                 const std::string& request_id)
    : conn_(std::move(conn)),
      pool_(std::move(pool)),
      idle_timeout_(cfg.idle_timeout),
      pace_(cfg.min_body_rate, cfg.body_rate_window, cfg.body_timeout),
      errors_(std::move(errors)),
      request_id_(request_id) {
  // Beast reads at most the buffer's free capacity per call: a small buffer turns a body into
  // thousands of tiny reads, and each one wakes every reader of a fill.
  // Kept with the connection (in the pool too): allocated once per connection, not per request.
  if (conn_->read_buffer.capacity() < cfg.buffer_bytes)
    conn_->read_buffer.reserve(cfg.buffer_bytes);
  parser_.header_limit(upstream_header_limit);
  // Recordings are large; memory is bounded by the caller's buffer, not by a body limit.
  // (Not boost::none: Beast 1.74 compares the length against an empty optional and fails.)
  parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
}

pooled_exchange::~pooled_exchange() { release(); }

void pooled_exchange::release() {
  if (conn_ && pool_ && !failed_ && parser_.is_done() && parser_.keep_alive() &&
      conn_->read_buffer.size() == 0) {
    pool_->put(std::move(conn_));
  }
}

net::awaitable<upstream_step> pooled_exchange::read_head(bool head_request,
                                                         config::duration timeout) {
  if (head_request) parser_.skip(true);
  beast::error_code ec;
  conn_->expires_after(timeout);
  co_await conn_->read_header(conn_->read_buffer, parser_, ec);
  if (!ec) {
    if (parser_.is_done()) release();  // HEAD, or an empty body
    co_return upstream_step{};
  }
  failed_ = true;
  // An upstream too slow to answer is not asked again: that would multiply the client's wait
  // and the upstream's load. A connection that broke is.
  bool timed_out = ec == beast::error::timeout;
  co_return fail(upstream_failure{
      timed_out ? upstream_failure::kind::timeout : upstream_failure::kind::bad_response,
      "reading the response head: " + ec.message(), !timed_out});
}

void pooled_exchange::body_failed(const beast::error_code& ec, std::string_view why) {
  if (ec == net::error::operation_aborted) return;  // shutting down: not the upstream's doing
  auto kind = !why.empty()                  ? upstream_error_counts::slow
              : ec == beast::error::timeout ? upstream_error_counts::timeout
                                            : upstream_error_counts::body;
  errors_->add(kind);
  auto length = content_length();
  logging::warn("request_id=" + request_id_ + " upstream body broke off after " +
                std::to_string(body_bytes_) +
                (length ? " of " + std::to_string(*length) : std::string()) +
                " bytes [kind=" + std::string(upstream_error_counts::names[kind]) +
                "]: " + (why.empty() ? ec.message() : std::string(why)));
}

unsigned pooled_exchange::status() const { return parser_.get().result_int(); }

const http::fields& pooled_exchange::headers() const { return parser_.get().base(); }

std::optional<std::uint64_t> pooled_exchange::content_length() const {
  // The parser validated and kept it while reading the head: no second search of the fields.
  if (!parser_.is_header_done()) return std::nullopt;
  auto length = parser_.content_length();
  if (!length) return std::nullopt;
  return *length;
}

bool pooled_exchange::first_bytes_at_hand() const {
  // Chunked: what came with the head may be framing alone, and the first read would wait.
  return !failed_ &&
         (parser_.is_done() || (conn_ && conn_->read_buffer.size() > 0 && !parser_.chunked()));
}

net::awaitable<std::size_t> pooled_exchange::read_some(net::mutable_buffer buffer,
                                                       beast::error_code& ec) {
  ec = {};
  // Framing (chunk headers) can be consumed without producing body bytes: read until bytes,
  // the end of the message, or an error.
  while (!parser_.is_done()) {
    auto& body = parser_.get().body();
    body.data = buffer.data();
    body.size = buffer.size();
    // Bounded by idle_timeout (an upstream that stalls mid-body is given up on) and by what
    // is left of body_timeout.
    conn_->expires_after(
        std::min<std::chrono::steady_clock::duration>(idle_timeout_, pace_.left()));
    auto started = std::chrono::steady_clock::now();
    co_await conn_->read_some(conn_->read_buffer, parser_, ec);
    if (ec == http::error::need_buffer) ec = {};
    std::size_t n = buffer.size() - parser_.get().body().size;
    body_bytes_ += n;
    auto slow = pace_.observe(std::chrono::steady_clock::now() - started, n);
    if (!ec && !slow.empty()) ec = beast::error::timeout;
    if (ec) {
      failed_ = true;
      body_failed(ec, slow);
      co_return 0;
    }
    if (parser_.is_done()) release();
    if (n > 0) co_return n;
  }
  co_return 0;
}

}  // namespace recgate
