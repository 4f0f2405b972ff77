#pragma once
// A response body that arrives over time: an upstream exchange, a cached object, or a fill in
// progress. Whoever sends a body to a client reads any of them the same way.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "util/net/async.hpp"

namespace recgate {

// A buffer for body bytes that have to be copied somewhere: allocated at its first use (a hit
// served from cached chunks never needs one), or lent by the caller. An owned buffer goes back
// to its thread's spares when done (at most spares_per_thread, each at most max_spare_bytes),
// so a pass-through response reuses one rather than allocating and freeing a large block.
class body_scratch {
 public:
  static constexpr std::size_t spares_per_thread = 4;
  static constexpr std::size_t max_spare_bytes = 1 << 20;

  explicit body_scratch(std::size_t size) : size_(size) {}
  explicit body_scratch(net::mutable_buffer lent) : lent_(lent), size_(lent.size()) {}
  ~body_scratch();
  body_scratch(const body_scratch&) = delete;
  body_scratch& operator=(const body_scratch&) = delete;

  net::mutable_buffer get() {
    if (lent_.size() > 0) return lent_;
    if (!owned_) owned_ = take_spare(size_);
    return net::mutable_buffer(owned_.get(), size_);
  }

 private:
  // A spare of exactly `size` bytes from this thread's, or a new one (not zeroed).
  static std::unique_ptr<char[]> take_spare(std::size_t size);

  net::mutable_buffer lent_;
  std::unique_ptr<char[]> owned_;
  std::size_t size_;
};

class body_source {
 public:
  virtual ~body_source() = default;

  // Total length when known in advance (Content-Length), nullopt for a body of unknown length.
  virtual std::optional<std::uint64_t> content_length() const = 0;

  // Fills up to buffer.size() bytes. Returns the count, 0 at the end of the body. A failure
  // (reset, short body, timeout, a fill that failed) is reported in ec; the body is then
  // incomplete and the response must not be finished as if it were whole.
  virtual net::awaitable<std::size_t> read_some(net::mutable_buffer buffer,
                                                boost::system::error_code& ec) = 0;

  // True when the bytes are at hand (a committed object): reading them never waits on a network.
  virtual bool immediate() const { return false; }

  // True when the first read will not wait (the head of a response can go out with its first
  // bytes, in one write): always for immediate sources, and for a network body whose first
  // bytes have arrived with its head.
  virtual bool first_bytes_at_hand() const { return immediate(); }

  // The client reads slowly: from now on, bytes held in stored chunks are copied into the
  // scratch buffer and the chunk is let go, rather than kept (pinned, or copied whole) until
  // the client has taken all of it. Memory per slow reader becomes the scratch buffer alone.
  virtual void prefer_copies() {}

  // The next at most `max` bytes (max > 0), as a view valid until the next call; empty at the
  // end of the body; errors as read_some. Sources that hold the bytes already (cached chunks)
  // answer a view of them without a copy; the rest read into the scratch buffer.
  virtual net::awaitable<net::const_buffer> next(body_scratch& scratch, std::size_t max,
                                                 boost::system::error_code& ec) {
    auto buffer = scratch.get();
    std::size_t n = co_await read_some(net::buffer(buffer, std::min(max, buffer.size())), ec);
    co_return net::const_buffer(buffer.data(), n);
  }

  // Several stored chunks at once, for one gather write: up to out.size() views (at most
  // max_views are used) of the next bytes, at most `max` in all, all valid until the next call;
  // the count, 0 at the end (errors as next). Only worth overriding where the bytes are at hand
  // (immediate()); by default one view from next().
  static constexpr std::size_t max_views = 4;
  virtual net::awaitable<std::size_t> next_views(body_scratch& scratch, std::size_t max,
                                                 std::span<net::const_buffer> out,
                                                 boost::system::error_code& ec) {
    auto view = co_await next(scratch, max, ec);
    if (view.size() == 0 || out.empty()) co_return 0;
    out[0] = view;
    co_return 1;
  }
};

// A body held whole in memory (a derived object computed here, e.g. waveform peaks).
std::unique_ptr<body_source> string_body(std::string bytes);

}  // namespace recgate
