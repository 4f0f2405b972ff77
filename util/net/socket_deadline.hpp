#pragma once
// A socket's deadline, kept by one timer per io_context instead of a timer per read and write.
//
// Beast's tcp_stream arms a timer when each operation starts and cancels it when the operation
// ends: two passes through the reactor's timer queue (and its lock) per read or write, the
// largest share of a warm hit's timer cost. Here setting a deadline is a store; each io_context
// has one sweeper whose timer waits for the earliest deadline of its sockets (and is moved only
// when a new deadline comes before it). When a deadline passes, the sweeper closes the socket:
// its pending operations complete with operation_aborted and later ones fail, as Beast's stream
// does on a timeout; expired() tells a timeout from other failures. nginx keeps its connection
// timers the same way (one tree per worker, looked at once per turn of its event loop).
//
// A deadline belongs to the io_context of its socket and is used from that io_context's one
// thread (proxy/app/server.cpp: a thread per io_context). release() forgets the sweeper, so an
// object parked where another thread may destroy it (an upstream connection in its pool) does
// not touch the sweeper's list from that thread.

#include <chrono>

#include "util/net/net.hpp"

namespace recgate {

class deadline_sweeper;

class socket_deadline {
 public:
  using clock = std::chrono::steady_clock;

  socket_deadline() = default;
  ~socket_deadline() { release(); }
  socket_deadline(const socket_deadline&) = delete;
  socket_deadline& operator=(const socket_deadline&) = delete;

  // The socket closed when the deadline passes; set before the first expires_*.
  void watch(tcp::socket& socket) { socket_ = &socket; }

  // From now on, the socket is closed if it is still open `d` from now.
  void expires_after(clock::duration d) { expires_at(clock::now() + d); }
  void expires_at(clock::time_point at);
  // No deadline (the next wait is not on the socket, or is bounded elsewhere).
  void expires_never() { at_ = clock::time_point::max(); }
  // The socket was closed by this deadline (since the last expires_after/expires_at).
  bool expired() const { return expired_; }
  // Leaves the sweeper's list (and the deadline unset); the next expires_* joins it again,
  // without looking the sweeper up a second time.
  void release();

 private:
  friend class deadline_sweeper;
  void join(clock::time_point at);

  tcp::socket* socket_ = nullptr;
  deadline_sweeper* sweeper_ = nullptr;
  clock::time_point at_ = clock::time_point::max();
  bool expired_ = false;
  bool listed_ = false;              // in sweeper_'s list
  socket_deadline* prev_ = nullptr;  // the sweeper's list
  socket_deadline* next_ = nullptr;
};

// One per io_context (an Asio service): the sockets with a deadline, and the timer set to the
// earliest of them.
class deadline_sweeper : public net::execution_context::service {
 public:
  static net::execution_context::id id;
  explicit deadline_sweeper(net::io_context& io);

  // When the timer fires next (max: not waiting).
  socket_deadline::clock::time_point armed() const { return armed_; }
  // Sockets in the list (for tests).
  std::size_t watched() const { return count_; }

 private:
  friend class socket_deadline;
  void add(socket_deadline& d);
  void remove(socket_deadline& d);
  void arm(socket_deadline::clock::time_point at);
  void sweep();
  void shutdown() override;

  net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>,
                            net::io_context::executor_type>
      timer_;
  socket_deadline::clock::time_point armed_ = socket_deadline::clock::time_point::max();
  socket_deadline* head_ = nullptr;
  std::size_t count_ = 0;
  bool shut_ = false;
};

inline void socket_deadline::expires_at(clock::time_point at) {
  at_ = at;
  expired_ = false;
  // The common case is a store: already listed, and the timer fires no later than `at`.
  if (!listed_ || at < sweeper_->armed_) join(at);
}

}  // namespace recgate
