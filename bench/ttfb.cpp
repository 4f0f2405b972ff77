// bench-ttfb: opens N connections to one HTTP/1.1 server, sends the same GET on each as close
// together as it can (connection 0 first: the leader), and prints, per connection, the time to
// the first response byte, to the first body byte and to the last body byte.
//
// The benchmark uses it for what wrk cannot show: a cold storm (N requests for one uncached
// recording; does every follower wait for the whole fill, or stream behind the leader?) and the
// time to the first byte of a Range inside an uncached, throttled recording.
//
// Plain POSIX sockets and epoll, one thread: the measuring client must not be the bottleneck
// or add dependencies. Times are measured from the moment that connection's request was written.
//
// Usage: bench-ttfb --port P --path /x [--path /y]... [--host 127.0.0.1] [-n N]
//                   [-H 'Name: value']... [--timeout-ms 60000] [--quiet]
// With several --path, connection i asks for path i modulo their number (many cold streams).
// Output: one "conn ..." line per connection (unless --quiet), then one "summary ..." line:
//   leader_status, leader_ttfb_ms (first body byte), leader_total_ms, followers, followers'
//   first-body-byte p50/p99/max, followers' total p50/p99, ok (connections with a 2xx status and
//   as many body bytes as Content-Length said), body_bytes (all connections'), elapsed_ms (from
//   the first request to the last response's end) and x_cache (each X-Cache value, its count).
// Exit status: 0 when every connection got a 2xx and a complete body, 1 otherwise, 2 on usage.

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::vector<std::string> paths;
  std::vector<std::string> headers;
  int connections = 1;
  int timeout_ms = 60000;
  bool quiet = false;
};

struct connection {
  int fd = -1;
  clock_type::time_point sent;
  std::optional<clock_type::time_point> first_byte;       // of the response
  std::optional<clock_type::time_point> first_body_byte;  // after the header block
  std::optional<clock_type::time_point> done;
  std::string head;  // bytes until the end of the header block
  bool head_done = false;
  int status = 0;
  std::optional<std::uint64_t> content_length;
  std::uint64_t body_bytes = 0;
  std::string x_cache;
  std::string error;
};

[[noreturn]] void usage(const char* message) {
  if (message != nullptr) std::fprintf(stderr, "bench-ttfb: %s\n", message);
  std::fprintf(message != nullptr ? stderr : stdout,
               "usage: bench-ttfb --port P --path /x [--path /y]... [--host 127.0.0.1] "
               "[-n N] [-H 'Name: value']... [--timeout-ms MS] [--quiet]\n");
  std::exit(message != nullptr ? 2 : 0);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("an option lacks its value");
      return argv[++i];
    };
    if (a == "--host")
      o.host = value();
    else if (a == "--port")
      o.port = std::atoi(value().c_str());
    else if (a == "--path")
      o.paths.push_back(value());
    else if (a == "-H")
      o.headers.push_back(value());
    else if (a == "-n")
      o.connections = std::atoi(value().c_str());
    else if (a == "--timeout-ms")
      o.timeout_ms = std::atoi(value().c_str());
    else if (a == "--quiet")
      o.quiet = true;
    else if (a == "-h" || a == "--help")
      usage(nullptr);
    else
      usage("unknown option");
  }
  if (o.port <= 0 || o.port > 65535) usage("--port is required (1-65535)");
  if (o.paths.empty()) usage("--path is required");
  for (const auto& p : o.paths)
    if (p.empty() || p[0] != '/') usage("a --path starts with /");
  if (o.connections < 1 || o.connections > 10000) usage("-n is 1-10000");
  return o;
}

double ms(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Reads the status and the two headers we use from a complete header block.
void parse_head(connection& c) {
  std::string_view head = c.head;
  auto line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  if (status_line.size() >= 12 && status_line.substr(0, 5) == "HTTP/")
    c.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  std::size_t pos = line_end + 2;
  while (pos < head.size()) {
    auto end = head.find("\r\n", pos);
    if (end == std::string_view::npos || end == pos) break;
    std::string_view line = head.substr(pos, end - pos);
    pos = end + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto name = lower(line.substr(0, colon));
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (name == "content-length")
      c.content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
    else if (name == "x-cache")
      c.x_cache = std::string(value);
  }
}

// Consumes bytes just read; returns true once the response is complete.
bool consume(connection& c, const char* data, std::size_t n, clock_type::time_point now) {
  if (!c.first_byte) c.first_byte = now;
  if (!c.head_done) {
    c.head.append(data, n);
    auto end = c.head.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.head.size() > 65536) {
        c.error = "header block over 64 KiB";
        return true;
      }
      return false;
    }
    c.head_done = true;
    std::uint64_t extra = c.head.size() - (end + 4);
    c.head.resize(end + 4);
    parse_head(c);
    if (extra > 0) {
      c.first_body_byte = now;
      c.body_bytes += extra;
    }
  } else {
    if (!c.first_body_byte) c.first_body_byte = now;
    c.body_bytes += n;
  }
  return c.content_length && c.body_bytes >= *c.content_length;
}

int connect_to(const options& o, std::string& error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(o.port));
  if (::inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) {
    error = "--host must be an IPv4 address";
    ::close(fd);
    return -1;
  }
  // Blocking connect: on loopback it completes at once, and every connection is then ready
  // before the first request is written, so the requests leave together.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  auto rank =
      static_cast<std::size_t>(std::max(1.0, std::ceil(p / 100.0 * static_cast<double>(v.size()))));
  return v[std::min(rank, v.size()) - 1];
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);

  std::vector<std::string> requests;
  for (const auto& path : o.paths) {
    std::string r = "GET " + path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
                    "\r\nUser-Agent: bench-ttfb\r\nConnection: close\r\n";
    for (const auto& h : o.headers) r += h + "\r\n";
    requests.push_back(r + "\r\n");
  }

  std::vector<connection> conns(static_cast<std::size_t>(o.connections));
  for (auto& c : conns) {
    std::string error;
    c.fd = connect_to(o, error);
    if (c.fd < 0) {
      std::fprintf(stderr, "bench-ttfb: %s\n", error.c_str());
      return 1;
    }
  }

  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    std::perror("bench-ttfb: epoll_create1");
    return 1;
  }
  for (std::size_t i = 0; i < conns.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }

  // The leader's request goes first; the followers' go right behind it, in order.
  for (std::size_t i = 0; i < conns.size(); ++i) {
    auto& c = conns[i];
    const auto& request = requests[i % requests.size()];
    c.sent = clock_type::now();
    auto n = ::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(request.size())) {
      c.error = "short send";
      c.done = c.sent;
    }
  }

  const auto deadline = clock_type::now() + std::chrono::milliseconds(o.timeout_ms);
  std::size_t open = static_cast<std::size_t>(
      std::count_if(conns.begin(), conns.end(), [](const connection& c) { return !c.done; }));
  std::vector<char> buffer(1 << 20);
  std::vector<epoll_event> events(256);
  while (open > 0) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
    if (left <= 0) break;
    int ready =
        ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), static_cast<int>(left));
    if (ready < 0) {
      if (errno == EINTR) continue;
      std::perror("bench-ttfb: epoll_wait");
      return 1;
    }
    for (int e = 0; e < ready; ++e) {
      auto& c = conns[events[static_cast<std::size_t>(e)].data.u64];
      if (c.done) continue;
      for (;;) {
        auto n = ::recv(c.fd, buffer.data(), buffer.size(), 0);
        auto now = clock_type::now();
        if (n > 0) {
          if (consume(c, buffer.data(), static_cast<std::size_t>(n), now)) {
            c.done = now;
            break;
          }
          continue;
        }
        if (n == 0) {  // closed: complete only if no Content-Length was promised
          if (!c.head_done)
            c.error = "closed before the header block ended";
          else if (c.content_length && c.body_bytes < *c.content_length)
            c.error = "body cut short";
          c.done = now;
          break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        c.error = std::string("recv: ") + std::strerror(errno);
        c.done = now;
        break;
      }
      if (c.done) {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
        --open;
      }
    }
  }
  for (auto& c : conns) {
    if (c.fd >= 0) {
      ::close(c.fd);
      c.fd = -1;
    }
    if (!c.done && c.error.empty()) c.error = "timed out";
  }

  int ok = 0;
  std::uint64_t total_body_bytes = 0;
  auto last_done = conns.front().sent;
  std::vector<double> follower_body, follower_total;
  std::map<std::string, int> x_cache;
  for (std::size_t i = 0; i < conns.size(); ++i) {
    const auto& c = conns[i];
    bool good = c.error.empty() && c.status >= 200 && c.status < 300 && c.done &&
                (!c.content_length || c.body_bytes == *c.content_length);
    ok += good ? 1 : 0;
    total_body_bytes += c.body_bytes;
    if (c.done && *c.done > last_done) last_done = *c.done;
    ++x_cache[c.x_cache.empty() ? "-" : c.x_cache];
    double first = c.first_byte ? ms(c.sent, *c.first_byte) : -1;
    double body = c.first_body_byte ? ms(c.sent, *c.first_body_byte) : -1;
    double total = c.done ? ms(c.sent, *c.done) : -1;
    if (i > 0 && c.first_body_byte) follower_body.push_back(body);
    if (i > 0 && c.done) follower_total.push_back(total);
    if (!o.quiet) {
      std::printf(
          "conn %zu status %d first_byte_ms %.3f first_body_byte_ms %.3f total_ms %.3f "
          "body_bytes %llu x_cache %s%s%s\n",
          i, c.status, first, body, total, static_cast<unsigned long long>(c.body_bytes),
          c.x_cache.empty() ? "-" : c.x_cache.c_str(), c.error.empty() ? "" : " error ",
          c.error.c_str());
    }
  }
  const auto& leader = conns.front();
  std::string caches;
  for (const auto& [value, count] : x_cache)
    caches += (caches.empty() ? "" : ",") + value + ":" + std::to_string(count);
  std::printf(
      "summary connections %zu ok %d leader_status %d leader_ttfb_ms %.3f leader_total_ms %.3f "
      "followers %zu followers_ttfb_p50_ms %.3f followers_ttfb_p99_ms %.3f "
      "followers_ttfb_max_ms %.3f followers_total_p50_ms %.3f followers_total_p99_ms %.3f "
      "body_bytes %llu elapsed_ms %.3f x_cache %s\n",
      conns.size(), ok, leader.status,
      leader.first_body_byte ? ms(leader.sent, *leader.first_body_byte) : -1.0,
      leader.done ? ms(leader.sent, *leader.done) : -1.0, follower_body.size(),
      percentile(follower_body, 50), percentile(follower_body, 99),
      follower_body.empty() ? 0.0 : *std::max_element(follower_body.begin(), follower_body.end()),
      percentile(follower_total, 50), percentile(follower_total, 99),
      static_cast<unsigned long long>(total_body_bytes), ms(conns.front().sent, last_done),
      caches.c_str());
  return ok == o.connections ? 0 : 1;
}
