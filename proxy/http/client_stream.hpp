#pragma once
// A client connection's stream: plain TCP, or TLS over TCP. Sessions, the recording handler and
// the response writer take this one type, so one compiled code path serves both listeners; only
// the lowest read and write calls choose. It models Beast's AsyncReadStream and
// AsyncWriteStream. Include only from .cpp files that already use net.hpp.

#include <chrono>
#include <utility>
#include <variant>

#include "config/config.hpp"
#include "util/net/net.hpp"
#include "util/net/socket_deadline.hpp"

namespace recgate {

class client_stream {
 public:
  using executor_type = net::any_io_executor;
  using tls_stream = beast::ssl_stream<tcp::socket>;

  explicit client_stream(tcp::socket socket) : stream_(std::in_place_index<0>, std::move(socket)) {
    deadline_.watch(lowest());
  }
  client_stream(tcp::socket socket, ssl::context& tls)
      : stream_(std::in_place_index<1>, std::move(socket), tls) {
    deadline_.watch(lowest());
  }
  // The deadline points at the socket inside: neither moves.
  client_stream(const client_stream&) = delete;
  client_stream& operator=(const client_stream&) = delete;

  executor_type get_executor() { return lowest().get_executor(); }
  tcp::socket& lowest() {
    if (auto* t = std::get_if<1>(&stream_)) return t->next_layer();
    return std::get<0>(stream_);
  }
  // Null on the plain listener.
  tls_stream* tls() { return std::get_if<1>(&stream_); }
  bool secure() const { return stream_.index() == 1; }

  // When the current answer's first byte was handed to the socket (the clock's epoch: not yet).
  // The session starts the clock anew for every request.
  void start_answer() { first_write_ = {}; }
  std::chrono::steady_clock::time_point first_write() const { return first_write_; }

  // The deadline for the reads and writes that follow: past it, the connection is closed (and
  // its operations fail). It stays until changed: expires_never() before a wait that is not on
  // the client (an upstream, a fill), which is bounded elsewhere.
  void expires_after(std::chrono::steady_clock::duration d) { deadline_.expires_after(d); }
  void expires_never() { deadline_.expires_never(); }

  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    if (auto* t = std::get_if<1>(&stream_)) {
      return t->async_read_some(buffers, std::forward<ReadHandler>(handler));
    }
    return std::get<0>(stream_).async_read_some(buffers, std::forward<ReadHandler>(handler));
  }

  template <class ConstBufferSequence, class WriteHandler>
  auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    if (first_write_ == std::chrono::steady_clock::time_point{}) {
      first_write_ = std::chrono::steady_clock::now();
    }
    if (auto* t = std::get_if<1>(&stream_)) {
      return t->async_write_some(buffers, std::forward<WriteHandler>(handler));
    }
    return std::get<0>(stream_).async_write_some(buffers, std::forward<WriteHandler>(handler));
  }

 private:
  std::variant<tcp::socket, tls_stream> stream_;
  socket_deadline deadline_;
  std::chrono::steady_clock::time_point first_write_{};
};

}  // namespace recgate
