// socket_deadline: one sweeper timer per io_context closes the sockets whose deadline passed,
// on real loopback sockets.
#include <chrono>
#include <optional>

#include <doctest/doctest.h>

#include "util/net/net.hpp"
#include "util/net/socket_deadline.hpp"

namespace recgate {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// A connected pair of loopback sockets on `io`.
struct socket_pair {
  explicit socket_pair(net::io_context& io) : a(io), b(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    a.connect(acceptor.local_endpoint());
    b = acceptor.accept();
  }
  tcp::socket a, b;
};

// Starts a read on `s` that records when and how it ended.
struct pending_read {
  char byte = 0;
  std::optional<boost::system::error_code> ended;
  clock_type::time_point at;
  void start(tcp::socket& s) {
    s.async_read_some(net::buffer(&byte, 1), [this](boost::system::error_code ec, std::size_t) {
      ended = ec;
      at = clock_type::now();
    });
  }
};

// Runs `io` until `done` holds (or `limit` passes).
template <class Done>
void run_until(net::io_context& io, Done done, clock_type::duration limit = 3s) {
  const auto until = clock_type::now() + limit;
  io.restart();
  while (!done() && clock_type::now() < until) io.run_one_for(10ms);
}

}  // namespace

TEST_CASE("socket_deadline: a read still pending at the deadline ends, and the socket is closed") {
  net::io_context io(1);
  socket_pair pair(io);
  socket_deadline deadline;
  deadline.watch(pair.a);
  pending_read read;
  read.start(pair.a);
  const auto started = clock_type::now();
  deadline.expires_after(80ms);
  io.run_for(2s);
  REQUIRE(read.ended.has_value());
  CHECK(*read.ended == net::error::operation_aborted);
  CHECK(deadline.expired());
  CHECK_FALSE(pair.a.is_open());
  CHECK(read.at - started >= 80ms);
  CHECK(read.at - started < 1s);
}

TEST_CASE("socket_deadline: a read that completes in time is left alone, and so is the socket") {
  net::io_context io(1);
  socket_pair pair(io);
  socket_deadline deadline;
  deadline.watch(pair.a);
  pending_read read;
  read.start(pair.a);
  deadline.expires_after(300ms);
  net::write(pair.b, net::buffer("x", 1));
  run_until(io, [&] { return read.ended.has_value(); });
  REQUIRE(read.ended.has_value());
  CHECK_FALSE(*read.ended);
  deadline.expires_never();  // as a session does once its read is done
  io.restart();
  io.run_for(500ms);  // past the old deadline: the sweeper fires and finds nothing due
  CHECK(pair.a.is_open());
  CHECK_FALSE(deadline.expired());
}

TEST_CASE("socket_deadline: a deadline moved earlier than the sweeper's timer is kept") {
  net::io_context io(1);
  socket_pair first(io), second(io);
  socket_deadline late, early;
  late.watch(first.a);
  early.watch(second.a);
  late.expires_after(10s);  // the sweeper's timer now waits 10 s
  pending_read read;
  read.start(second.a);
  const auto started = clock_type::now();
  early.expires_after(50ms);
  run_until(io, [&] { return read.ended.has_value(); });
  REQUIRE(read.ended.has_value());
  CHECK(read.at - started < 1s);
  CHECK(early.expired());
  CHECK(first.a.is_open());  // the later one is still waiting
  CHECK_FALSE(late.expired());
  CHECK(net::use_service<deadline_sweeper>(io).watched() == 2);
  CHECK(net::use_service<deadline_sweeper>(io).armed() <= started + 10s + 100ms);
}

TEST_CASE("socket_deadline: renewing a deadline before it passes keeps the socket open") {
  net::io_context io(1);
  socket_pair pair(io);
  socket_deadline deadline;
  deadline.watch(pair.a);
  // Four renewals, each before the previous one is due: as requests on a kept-alive connection.
  for (int i = 0; i < 4; ++i) {
    deadline.expires_after(150ms);
    io.restart();
    io.run_for(60ms);
    REQUIRE(pair.a.is_open());
  }
  io.restart();
  io.run_for(400ms);  // no renewal: closed
  CHECK_FALSE(pair.a.is_open());
  CHECK(deadline.expired());
}

TEST_CASE("socket_deadline: release and destruction leave the sweeper's list") {
  net::io_context io(1);
  socket_pair pair(io), other(io);
  auto& sweeper = net::use_service<deadline_sweeper>(io);
  {
    socket_deadline gone;
    gone.watch(other.a);
    gone.expires_after(50ms);
    CHECK(sweeper.watched() == 1);
  }
  CHECK(sweeper.watched() == 0);
  socket_deadline parked;
  parked.watch(pair.a);
  parked.expires_after(50ms);
  parked.release();  // as a pooled upstream connection: no deadline while idle
  CHECK(sweeper.watched() == 0);
  io.run_for(200ms);
  CHECK(pair.a.is_open());
  CHECK(other.a.is_open());
  parked.expires_after(50ms);  // taken from the pool again
  CHECK(sweeper.watched() == 1);
  io.restart();
  io.run_for(300ms);
  CHECK_FALSE(pair.a.is_open());
}

}  // namespace recgate
