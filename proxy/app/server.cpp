// The listeners and the threading model.
//
// Threading: one io_context, run by server.threads threads (default: one per core). Every
// accepted connection gets its own strand (with one thread: the io_context, which is one), and
// its session coroutine runs only there, so a session's state needs no locks while connections
// spread over all threads. State shared across sessions (the gateway) is fixed at start-up
// (restart_settings), replaced whole by a reload and read as one snapshot per request
// (live_settings, the access policy, the TLS context), or synchronises itself (the cache).
#include "proxy/app/server.hpp"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <thread>

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

// With one thread the io_context itself serialises everything: a strand per connection would
// only add its cost (a shared state and a queue per handler) to every operation.
net::any_io_executor session_executor(net::io_context& ioc, bool one_thread) {
  if (one_thread) return ioc.get_executor();
  return net::make_strand(ioc);
}

void start_session(tcp::socket socket, const std::shared_ptr<gateway>& gw, session_fn session) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto ex = socket.get_executor();
  net::co_spawn(ex, session(std::move(socket), gw), log_exception);
}

net::awaitable<void> accept_loop(net::io_context& ioc, tcp::acceptor& acceptor,
                                 std::shared_ptr<gateway> gw, session_fn session, bool one_thread) {
  // Each wake-up takes every connection waiting in the backlog (nginx's multi_accept), at most
  // a bound's worth: under a flood of connections one accept per turn of the I/O loop would
  // leave a normal client queued behind thousands of others.
  constexpr int max_batch = 1024;
  beast::error_code ec;
  acceptor.non_blocking(true, ec);
  for (;;) {
    ec = {};
    tcp::socket socket = co_await acceptor.async_accept(
        session_executor(ioc, one_thread), net::redirect_error(net::use_awaitable, ec));
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
      tcp::socket next = acceptor.accept(session_executor(ioc, one_thread), ec);
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
  std::string message;
  if (gw.reload(message)) {
    logging::info("configuration reloaded (" + std::string(why) + "): " + message);
  } else {
    logging::error("new configuration rejected (" + std::string(why) +
                   "), keeping the "
                   "previous one: " +
                   message);
  }
}

// SIGTERM: waits until no request is in flight, or the drain deadline, then stops the
// io_context. Idle kept-alive connections are simply closed at exit.
net::awaitable<void> drain(net::io_context& ioc, std::shared_ptr<gateway> gw, int& exit_code) {
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
  ioc.stop();
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

}  // namespace

int run_server(const config::config& cfg, const std::string& config_path) {
  unsigned threads = std::max(1u, cfg.server.threads);
  net::io_context ioc(static_cast<int>(threads));
  std::shared_ptr<gateway> gw;
  try {
    gw = std::make_shared<gateway>(cfg, config_path, ioc.get_executor());
  } catch (const std::exception& e) {
    logging::error(e.what());
    return 1;
  }

  // The acceptors and the signal handler share a strand: closing the acceptors from the signal
  // handler then never races a pending accept.
  auto accept_strand = net::make_strand(ioc);
  tcp::acceptor acceptor(accept_strand);
  tcp::acceptor tls_acceptor(accept_strand);
  tcp::acceptor admin_acceptor(accept_strand);
  std::string where, tls_where, admin_where;
  if (cfg.server.plain) {
    where = open_listener(acceptor, cfg.server.listen);
    if (where.empty()) return 1;
  }
  if (cfg.tls.enabled()) {
    tls_where = open_listener(tls_acceptor, cfg.tls.listen);
    if (tls_where.empty()) return 1;
  }
  if (cfg.admin.enabled) {
    admin_where = open_listener(admin_acceptor, cfg.admin.listen);
    if (admin_where.empty()) return 1;
  }
  // Scripts and tests read these lines to learn the bound ports (the config may say port 0).
  // One fputs for all lines: the logging thread writes to the same stdout and must not land
  // inside.
  std::string announce;
  if (cfg.server.plain) announce += "recgate: listening on " + where + "\n";
  if (cfg.tls.enabled()) announce += "recgate: tls listening on " + tls_where + "\n";
  if (cfg.admin.enabled) announce += "recgate: admin listening on " + admin_where + "\n";
  std::fputs(announce.c_str(), stdout);
  std::fflush(stdout);
  logging::info("listening on " + (cfg.server.plain ? where : std::string("-")) +
                (cfg.tls.enabled() ? " (TLS on " + tls_where + ")" : "") + " with " +
                std::to_string(threads) + " threads; upstream " + cfg.upstream.url.to_string() +
                (cfg.cache.enabled() ? "; cache " + cfg.cache.path : "; cache off") +
                (cfg.admin.enabled ? "; admin " + admin_where : ""));

  // The consumers file is also reloaded when it changes: checked once a second, so an edit
  // takes effect without a signal (and a file replaced by a rename is seen too).
  net::steady_timer watch(accept_strand);
  if (!cfg.access.consumers_file.empty()) {
    net::co_spawn(accept_strand, watch_consumers_file(watch, gw), log_exception);
  }

  if (cfg.server.plain) {
    net::co_spawn(accept_strand, accept_loop(ioc, acceptor, gw, run_session, threads == 1),
                  log_exception);
  }
  if (cfg.tls.enabled()) {
    net::co_spawn(accept_strand, accept_loop(ioc, tls_acceptor, gw, run_tls_session, threads == 1),
                  log_exception);
  }
  if (cfg.admin.enabled) {
    net::co_spawn(accept_strand,
                  accept_loop(ioc, admin_acceptor, gw, run_admin_session, threads == 1),
                  log_exception);
  }

  int exit_code = 0;
  net::signal_set signals(accept_strand, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const beast::error_code&, int)> on_signal = [&](const beast::error_code& err,
                                                                     int sig) {
    if (err) return;
    if (sig == SIGHUP) {
      reload_config(*gw, "SIGHUP");
      // logrotate moved the audit file away: write on in a new one at the configured path.
      if (gw->audit) {
        std::string error;
        if (gw->audit->reopen(error))
          logging::info("audit file reopened");
        else
          logging::error(error + "; still writing to the previous file");
      }
      signals.async_wait(on_signal);
      return;
    }
    if (gw->draining.exchange(true)) {
      logging::warn("second signal: stopping now");
      ioc.stop();
      return;
    }
    logging::info("signal " + std::to_string(sig) + ": draining, no new connections");
    acceptor.close();
    tls_acceptor.close();
    watch.cancel();
    // The admin listener stays open while draining: /readyz says so to load balancers.
    net::co_spawn(accept_strand, drain(ioc, gw, exit_code), log_exception);
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&ioc, &gw] { run_io(ioc, *gw); });
  run_io(ioc, *gw);
  for (auto& t : pool) t.join();
  admin_acceptor.close();
  gw.reset();  // closes the store before the io_context goes
  return exit_code;
}

}  // namespace recgate
