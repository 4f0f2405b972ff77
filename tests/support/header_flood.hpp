#pragma once
// A flood of keyless clients sending oversized request heads, as an attacker would: many
// connections on loopback, each sending a request line and then short header lines
// ("X-a: b\r\n") in small writes, left unfinished or finished, and connecting again as soon as the
// server closes. Runs on a thread of its own (epoll) until stopped. POSIX only, no Asio.
//
//   test_support::header_flood flood({.port = gateway_port, .connections = 3000});
//   ... measure the server meanwhile ...
//   auto totals = flood.stop();

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

namespace test_support {

struct header_flood_options {
  unsigned short port = 0;              // on 127.0.0.1
  int connections = 3000;               // open at once
  std::size_t head_bytes = 160 * 1024;  // header lines sent per connection
  std::size_t write_bytes = 4096;       // per send(): small writes, read by the server one by one
  bool finish = false;                  // end the head with an empty line
  // All connections together send at most this many bytes a second (0: as fast as they can), so
  // the flood does not take the CPU a test on a small machine needs to measure the server.
  std::uint64_t bytes_per_second = 0;
  // The flood thread's niceness (0: unchanged). Above 0 the flood takes only CPU the server and
  // the test's own client leave over, as an attacker on another machine would: on a 2-core test
  // machine it otherwise competes with both, and what a test then measures is the scheduler.
  int nice = 0;
  std::string target = "/";  // the request line's target
};

struct header_flood_totals {
  std::uint64_t connections = 0;  // opened, reconnections included
  std::uint64_t bytes_sent = 0;
  std::uint64_t answers = 0;      // responses received (any status)
  std::uint64_t answers_431 = 0;  // of which 431 Request Header Fields Too Large
  std::uint64_t connect_failures = 0;
};

class header_flood {
 public:
  // Starts at once; raises this process's open-file limit to its hard limit when it needs to.
  explicit header_flood(header_flood_options options);
  ~header_flood();  // stop()
  header_flood(const header_flood&) = delete;
  header_flood& operator=(const header_flood&) = delete;

  // Closes every connection and returns what was done. Idempotent.
  header_flood_totals stop();
  // So far (approximate while running).
  header_flood_totals totals() const;

 private:
  void run();

  header_flood_options options_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> connections_{0}, bytes_sent_{0}, answers_{0}, answers_431_{0},
      connect_failures_{0};
  std::thread thread_;
};

}  // namespace test_support
