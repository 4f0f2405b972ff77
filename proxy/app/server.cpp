// The listeners and the threading model.
//
// Threading: server.threads io_contexts (default: one per core), each run by one thread of its
// own (an io_context per thread, as nginx has a worker per core). The accept loop hands each
// new connection to the next io_context in turn, and the connection lives there to its end:
// its session needs no strand and no lock, and its operations never wake another thread.
// The first io_context also runs the listeners, the signals and the gateway's background work.
// State shared across sessions (the gateway) is fixed at start-up (restart_settings), replaced
// whole by a reload and read as one snapshot per request (live_settings, the access policy,
// the TLS context), or synchronises itself (the cache, whose fills run on the first
// io_context and wake their readers through the readers' own executors).
//
// Not SO_REUSEPORT listeners per thread: the kernel's hash spreads few connections unevenly
// (e.g. 20 and 12 of 32), a config's port 0 would need the first listener's port passed on,
// and draining would have a listener per thread to close. The hand-over costs one cross-thread
// post per connection, not per request.
#include "proxy/app/server.hpp"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/app/session.hpp"
#include "proxy/endpoints/admin.hpp"
#include "proxy/telemetry/audit_log.hpp"
#include "proxy/telemetry/logging.hpp"

namespace recgate {
namespace {

using session_fn = net::awaitable<void> (*)(tcp::socket, std::shared_ptr<gateway>);

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    logging::error(std::string("session ended by an exception: ") + x.what());
  } catch (...) {
    logging::error("session ended by an exception");
  }
}

// The io_contexts, one per thread; new connections go to each in turn.
class io_pool {
 public:
  explicit io_pool(unsigned threads) {
    for (unsigned i = 0; i < threads; ++i) {
      // Concurrency hint 1: each is run by one thread (other threads still post to it).
      contexts_.push_back(std::make_unique<net::io_context>(1));
      // Those without a listener would otherwise return from run() at once.
      if (i > 0) idle_guards_.push_back(net::make_work_guard(*contexts_.back()));
    }
  }

  net::io_context& first() { return *contexts_.front(); }
  net::io_context& at(std::size_t i) { return *contexts_[i]; }
  std::size_t size() const { return contexts_.size(); }
  // Only the accept loops call it, all on the listeners' strand.
  net::io_context& next() { return *contexts_[next_++ % contexts_.size()]; }
  void stop() {
    for (auto& c : contexts_) c->stop();
  }

 private:
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> idle_guards_;
  std::size_t next_ = 0;
};

void start_session(tcp::socket socket, const std::shared_ptr<gateway>& gw, session_fn session) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto ex = socket.get_executor();
  net::co_spawn(ex, session(std::move(socket), gw), log_exception);
}

net::awaitable<void> accept_loop(io_pool& pool, tcp::acceptor& acceptor,
                                 std::shared_ptr<gateway> gw, session_fn session) {
  // Each wake-up takes every connection waiting in the backlog (nginx's multi_accept), at most
  // a bound's worth: under a flood of connections one accept per turn of the I/O loop would
  // leave a normal client queued behind thousands of others.
  constexpr int max_batch = 1024;
  beast::error_code ec;
  acceptor.non_blocking(true, ec);
  for (;;) {
    ec = {};
    tcp::socket socket =
        co_await acceptor.async_accept(pool.next(), net::redirect_error(net::use_awaitable, ec));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or similar: say so, and give the system a moment before retrying.
      logging::warn("accept failed: " + ec.message());
      net::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    start_session(std::move(socket), gw, session);
    for (int i = 1; i < max_batch; ++i) {
      tcp::socket next = acceptor.accept(pool.next(), ec);
      if (ec) break;  // would_block: the backlog is empty; anything else: the async path says
      start_session(std::move(next), gw, session);
    }
  }
}

// Runs the io_context until it stops. An exception that escapes a completion handler (one thrown
// inside a composed operation rather than in a coroutine, where co_spawn's handler catches it)
// ends that handler's connection, not the process: logged and counted, and the thread runs on.
void run_io(net::io_context& ioc, gateway& gw) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      gw.stats.escaped_exceptions.fetch_add(1, std::memory_order_relaxed);
      logging::error(std::string("an I/O handler ended by an exception: ") + e.what());
    } catch (...) {
      gw.stats.escaped_exceptions.fetch_add(1, std::memory_order_relaxed);
      logging::error("an I/O handler ended by an exception");
    }
  }
}

void reload_config(gateway& gw, std::string_view why) {
  if (auto reloaded = gw.reload(); reloaded.ok()) {
    logging::info("configuration reloaded (" + std::string(why) + "): " + *reloaded);
  } else {
    logging::error("new configuration rejected (" + std::string(why) +
                   "), keeping the previous one: " + reloaded.error());
  }
}

// SIGTERM: waits until no request is in flight, or the drain deadline, then stops the
// io_context. Idle kept-alive connections are simply closed at exit.
net::awaitable<void> drain(io_pool& pool, std::shared_ptr<gateway> gw, int& exit_code) {
  auto deadline = std::chrono::steady_clock::now() + gw->settings.load()->server.drain_timeout;
  net::steady_timer tick(co_await net::this_coro::executor);
  while (gw->requests_in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    tick.expires_after(std::chrono::milliseconds(20));
    beast::error_code ec;
    co_await tick.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
  auto left = gw->requests_in_flight.load();
  // The audit lines of the requests that just finished reach the file before the exit.
  if (gw->audit) gw->audit->flush();
  if (left == 0) {
    logging::info("drained: every request in flight has finished");
  } else {
    logging::warn("drain deadline passed with " + std::to_string(left) +
                  " requests in flight: they are cut off");
    exit_code = 3;
  }
  pool.stop();
}

std::optional<std::filesystem::file_time_type> modified(const std::string& path) {
  std::error_code ec;
  auto t = std::filesystem::last_write_time(path, ec);
  if (ec) return std::nullopt;
  return t;
}

net::awaitable<void> watch_consumers_file(net::steady_timer& timer, std::shared_ptr<gateway> gw) {
  const auto& path = gw->fixed.consumers_file;
  auto seen = modified(path);
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    beast::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;  // cancelled: the server is stopping
    auto now = modified(path);
    if (now && now != seen) {
      seen = now;
      reload_config(*gw, "file changed");
    }
  }
}

// Binds and listens; returns the bound address as text, or an empty string (error logged).
std::string open_listener(tcp::acceptor& acceptor, const config::endpoint& at) {
  beast::error_code ec;
  tcp::resolver resolver(acceptor.get_executor());
  auto resolved = resolver.resolve(at.host, std::to_string(at.port), tcp::resolver::passive, ec);
  tcp::endpoint bind_at;
  if (!ec && !resolved.empty()) bind_at = resolved.begin()->endpoint();
  if (!ec) acceptor.open(bind_at.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(bind_at, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    logging::error("cannot listen on " + at.to_string() + ": " + ec.message());
    return {};
  }
  auto local = acceptor.local_endpoint();
  auto address = local.address().to_string();
  return (local.address().is_v6() ? "[" + address + "]" : address) + ":" +
         std::to_string(local.port());
}

// The three listeners (each open only when configured) and where each is bound. The acceptors
// and the signal handler share a strand: closing the acceptors from the signal handler then
// never races a pending accept.
struct listeners {
  explicit listeners(net::io_context& ioc)
      : strand(net::make_strand(ioc)), plain(strand), tls(strand), admin(strand) {}

  net::strand<net::io_context::executor_type> strand;
  tcp::acceptor plain, tls, admin;
  std::string plain_at, tls_at, admin_at;

  // False when a configured listener could not be opened (logged).
  bool open(const config::config& cfg) {
    if (cfg.server.plain && (plain_at = open_listener(plain, cfg.server.listen)).empty())
      return false;
    if (cfg.tls.enabled() && (tls_at = open_listener(tls, cfg.tls.listen)).empty()) return false;
    if (cfg.admin.enabled && (admin_at = open_listener(admin, cfg.admin.listen)).empty())
      return false;
    return true;
  }

  // Scripts and tests read the "listening on" lines to learn the bound ports (the config may
  // say port 0). One fputs for all lines: the logging thread writes to the same stdout and must
  // not land inside.
  void announce(const config::config& cfg, unsigned threads) const {
    std::string lines;
    if (!plain_at.empty()) lines += "recgate: listening on " + plain_at + "\n";
    if (!tls_at.empty()) lines += "recgate: tls listening on " + tls_at + "\n";
    if (!admin_at.empty()) lines += "recgate: admin listening on " + admin_at + "\n";
    std::fputs(lines.c_str(), stdout);
    std::fflush(stdout);
    logging::info("listening on " + (plain_at.empty() ? std::string("-") : plain_at) +
                  (tls_at.empty() ? "" : " (TLS on " + tls_at + ")") + " with " +
                  std::to_string(threads) + " threads; upstream " + cfg.upstream.url.to_string() +
                  (cfg.cache.enabled() ? "; cache " + cfg.cache.path : "; cache off") +
                  (admin_at.empty() ? "" : "; admin " + admin_at));
  }

  void start_accepting(io_pool& pool, const std::shared_ptr<gateway>& gw) {
    if (!plain_at.empty())
      net::co_spawn(strand, accept_loop(pool, plain, gw, run_session), log_exception);
    if (!tls_at.empty())
      net::co_spawn(strand, accept_loop(pool, tls, gw, run_tls_session), log_exception);
    if (!admin_at.empty())
      net::co_spawn(strand, accept_loop(pool, admin, gw, run_admin_session), log_exception);
  }
};

// SIGHUP: the config again, and the audit file at its configured path (logrotate moved it).
void on_sighup(gateway& gw) {
  reload_config(gw, "SIGHUP");
  if (gw.audit) {
    if (auto reopened = gw.audit->reopen(); reopened.ok())
      logging::info("audit file reopened");
    else
      logging::error(reopened.error() + "; still writing to the previous file");
  }
}

}  // namespace

int run_server(const config::config& cfg, const std::string& config_path) {
  unsigned threads = std::max(1u, cfg.server.threads);
  io_pool pool(threads);
  net::io_context& ioc = pool.first();
  auto opened = gateway::open(cfg, config_path, ioc.get_executor());
  if (!opened.ok()) {
    logging::error(opened.error());
    return 1;
  }
  std::shared_ptr<gateway> gw = std::move(*opened);
  listeners on(ioc);
  if (!on.open(cfg)) return 1;
  on.announce(cfg, threads);

  // The consumers file is also reloaded when it changes: checked once a second, so an edit
  // takes effect without a signal (and a file replaced by a rename is seen too).
  net::steady_timer watch(on.strand);
  if (!cfg.access.consumers_file.empty()) {
    net::co_spawn(on.strand, watch_consumers_file(watch, gw), log_exception);
  }
  on.start_accepting(pool, gw);

  int exit_code = 0;
  net::signal_set signals(on.strand, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const beast::error_code&, int)> on_signal = [&](const beast::error_code& err,
                                                                     int sig) {
    if (err) return;
    if (sig == SIGHUP) {
      on_sighup(*gw);
    } else if (gw->draining.exchange(true)) {
      logging::warn("second signal: stopping now");
      pool.stop();
      return;
    } else {
      logging::info("signal " + std::to_string(sig) + ": draining, no new connections");
      on.plain.close();
      on.tls.close();
      watch.cancel();
      // The admin listener stays open while draining: /readyz says so to load balancers.
      net::co_spawn(on.strand, drain(pool, gw, exit_code), log_exception);
    }
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  std::vector<std::thread> workers;
  for (std::size_t i = 1; i < pool.size(); ++i) {
    workers.emplace_back([&pool, &gw, i] { run_io(pool.at(i), *gw); });
  }
  run_io(ioc, *gw);
  for (auto& t : workers) t.join();
  on.admin.close();
  gw.reset();  // closes the store before the io_context goes
  return exit_code;
}

}  // namespace recgate
