#include "header_flood.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace test_support {
namespace {

struct connection {
  std::size_t sent = 0;
  bool answered = false;
};

void raise_file_limit(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

header_flood::header_flood(header_flood_options options) : options_(std::move(options)) {
  raise_file_limit(static_cast<rlim_t>(options_.connections) + 256);
  thread_ = std::thread([this] { run(); });
}

header_flood::~header_flood() { stop(); }

header_flood_totals header_flood::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return totals();
}

header_flood_totals header_flood::totals() const {
  return {connections_.load(), bytes_sent_.load(), answers_.load(), answers_431_.load(),
          connect_failures_.load()};
}

void header_flood::run() {
  if (options_.nice != 0) ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), options_.nice);
  std::string head = "GET " + options_.target + " HTTP/1.1\r\nHost: flood\r\n";
  const std::string_view line = "X-a: b\r\n";
  while (head.size() + line.size() <= options_.head_bytes) head += line;
  if (options_.finish) head += "\r\n";

  int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) return;
  std::unordered_map<int, connection> open;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(options_.port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  auto open_one = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ++connect_failures_;
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) {
      ++connect_failures_;
      ::close(fd);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.fd = fd;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
    open.emplace(fd, connection{});
    ++connections_;
  };
  auto close_one = [&](int fd) {
    ::epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    open.erase(fd);
  };

  for (int i = 0; i < options_.connections && !stop_; ++i) open_one();
  std::vector<epoll_event> events(1024);
  char scratch[4096];
  // A token bucket over all connections, one tenth of a second deep.
  using clock = std::chrono::steady_clock;
  const double rate = static_cast<double>(options_.bytes_per_second);
  double budget = rate / 10;
  auto refilled = clock::now();
  while (!stop_) {
    if (rate > 0) {
      auto now = clock::now();
      budget = std::min(rate / 10,
                        budget + rate * std::chrono::duration<double>(now - refilled).count());
      refilled = now;
      if (budget <= 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
    }
    int n = ::epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 50);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      auto it = open.find(fd);
      if (it == open.end()) continue;
      auto& c = it->second;
      bool closed = (events[i].events & (EPOLLERR | EPOLLHUP)) != 0;
      if (!closed && (events[i].events & (EPOLLIN | EPOLLRDHUP))) {
        for (;;) {
          auto got = ::recv(fd, scratch, sizeof scratch, 0);
          if (got > 0) {
            std::string_view text(scratch, static_cast<std::size_t>(got));
            if (!c.answered && text.starts_with("HTTP/1.1 ")) {
              c.answered = true;
              ++answers_;
              if (text.substr(9, 3) == "431") ++answers_431_;
            }
            continue;
          }
          if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
          break;
        }
      }
      if (!closed && (events[i].events & EPOLLOUT) && c.sent < head.size()) {
        auto size = std::min(options_.write_bytes, head.size() - c.sent);
        auto sent = ::send(fd, head.data() + c.sent, size, MSG_NOSIGNAL);
        if (sent > 0) {
          budget -= static_cast<double>(sent);
          c.sent += static_cast<std::size_t>(sent);
          bytes_sent_ += static_cast<std::uint64_t>(sent);
        } else if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
          closed = true;
        }
        if (!closed && c.sent >= head.size()) {
          // All sent: wait for the answer and the close.
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.fd = fd;
          ::epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &ev);
        }
      }
      if (closed) {
        close_one(fd);
        if (!stop_) open_one();
      }
    }
  }
  for (auto& [fd, c] : open) ::close(fd);
  ::close(epoll);
}

}  // namespace test_support
