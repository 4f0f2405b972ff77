// The listener and the threading model.
//
// Threading: one io_context, run by server.threads threads (default: one per core). Every
// accepted connection gets its own strand, and its session coroutine runs only there, so a
// session's state needs no locks while connections spread over all threads. State shared across
// sessions (the gateway) is immutable after start-up.
#include "proxy/server.hpp"

#include <csignal>
#include <iostream>
#include <thread>

#include "proxy/logging.hpp"
#include "proxy/session.hpp"

namespace recgate {
namespace {

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    logging::error(std::string("session ended by an exception: ") + x.what());
  }
}

net::awaitable<void> accept_loop(net::io_context& ioc, tcp::acceptor& acceptor,
                                 std::shared_ptr<gateway> gw) {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(
        net::make_strand(ioc), net::redirect_error(net::use_awaitable, ec));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or similar: say so, and give the system a moment before retrying.
      logging::warn("accept failed: " + ec.message());
      net::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto ex = socket.get_executor();
    net::co_spawn(ex, run_session(std::move(socket), gw), log_exception);
  }
}

}  // namespace

int run_server(const config::config& cfg) {
  unsigned threads = std::max(1u, cfg.server.threads);
  net::io_context ioc(static_cast<int>(threads));
  std::shared_ptr<gateway> gw;
  try {
    gw = std::make_shared<gateway>(cfg, ioc.get_executor());
  } catch (const std::exception& e) {
    logging::error(e.what());
    return 1;
  }

  // The acceptor and the signal handler share a strand: closing the acceptor from the signal
  // handler then never races the pending accept.
  auto accept_strand = net::make_strand(ioc);
  tcp::acceptor acceptor(accept_strand);
  beast::error_code ec;
  tcp::endpoint bind_at;
  tcp::resolver resolver(ioc);
  auto resolved = resolver.resolve(cfg.server.listen.host, std::to_string(cfg.server.listen.port),
                                   tcp::resolver::passive, ec);
  if (!ec && !resolved.empty()) bind_at = resolved.begin()->endpoint();
  if (!ec) acceptor.open(bind_at.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(bind_at, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    logging::error("cannot listen on " + cfg.server.listen.to_string() + ": " + ec.message());
    return 1;
  }
  auto local = acceptor.local_endpoint();
  std::string where = (local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                               : local.address().to_string()) +
                      ":" + std::to_string(local.port());
  // Scripts and tests read this line to learn the bound port (the config may say port 0).
  std::cout << "recgate: listening on " << where << std::endl;
  logging::info("listening on " + where + " with " + std::to_string(threads) +
                " threads; upstream " + cfg.upstream.url.to_string());

  net::co_spawn(accept_strand, accept_loop(ioc, acceptor, gw), log_exception);

  net::signal_set signals(accept_strand, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code& err, int sig) {
    if (err) return;
    logging::info("signal " + std::to_string(sig) + ": stopping");
    acceptor.close();
    ioc.stop();
  });

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  gw.reset();  // closes the store before the io_context goes
  return 0;
}

}  // namespace recgate
