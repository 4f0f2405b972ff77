#include "sim_server.hpp"

#include <csignal>
#include <iostream>
#include <optional>
#include <thread>
#include <vector>

#include <openssl/ssl.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "sim_session.hpp"

namespace laml_sim {
namespace {

// "host:port" or "[v6]:port"; nullopt when it does not resolve.
std::optional<tcp::endpoint> resolve_listen(net::io_context& ioc, const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  const auto results = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (ec || results.empty()) return std::nullopt;
  return results.begin()->endpoint();
}

// The address clients should use: a wildcard bind is reachable on loopback.
std::string display(const tcp::endpoint& ep) {
  net::ip::address address = ep.address();
  if (address.is_unspecified())
    address = address.is_v6() ? net::ip::address(net::ip::address_v6::loopback())
                              : net::ip::address(net::ip::address_v4::loopback());
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(ep.port());
}

// The server side of TLS: 1.2 or later, the given chain and key. nullopt (with a message on
// stderr) when they cannot be loaded or do not match.
std::optional<ssl::context> make_tls_context(const server_options& options) {
  ssl::context tls(ssl::context::tls_server);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  beast::error_code ec;
  tls.use_certificate_chain_file(options.tls_cert, ec);
  if (ec) {
    std::cerr << "laml-sim: cannot load --tls-cert " << options.tls_cert << ": " << ec.message()
              << "\n";
    return std::nullopt;
  }
  // OpenSSL also checks here that the key belongs to the certificate.
  tls.use_private_key_file(options.tls_key, ssl::context::pem, ec);
  if (ec) {
    std::cerr << "laml-sim: cannot load --tls-key " << options.tls_key << ": " << ec.message()
              << "\n";
    return std::nullopt;
  }
  return tls;
}

// `tls`: null for plain HTTP; otherwise every connection is TLS. Outlives the loop.
net::awaitable<void> accept_loop(tcp::acceptor acceptor, sim_state& state, ssl::context* tls) {
  for (;;) {
    // Every connection on its own strand, so a session may run on any of the I/O threads.
    tcp::socket socket(net::make_strand(acceptor.get_executor()));
    beast::error_code ec;
    co_await acceptor.async_accept(socket, net::redirect_error(net::use_awaitable, ec));
    if (ec == net::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors or similar: keep serving the connections we have.
      spdlog::warn("accept: {}", ec.message());
      continue;
    }
    // Head and body are written separately: without this, Nagle holds a kept-alive
    // connection's next response ~40 ms for the client's delayed ACK.
    socket.set_option(tcp::no_delay(true), ec);
    const auto executor = socket.get_executor();
    auto session = tls ? run_tls_session(std::move(socket), *tls, state)
                       : run_session(std::move(socket), state);
    net::co_spawn(executor, std::move(session), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        spdlog::error("session failed: {}", x.what());
      }
    });
  }
}

}  // namespace

int run_server(const server_options& options) {
  auto logger = spdlog::stderr_logger_mt("laml-sim");
  logger->set_pattern("laml-sim %H:%M:%S.%e %l: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(options.quiet ? spdlog::level::off : spdlog::level::info);

  const bool use_tls = !options.tls_cert.empty() && !options.tls_key.empty();
  std::optional<ssl::context> tls;
  if (use_tls) {
    tls = make_tls_context(options);
    if (!tls) return 2;
  }
  sim_config sim = options.sim;
  sim.tls = use_tls;
  sim_state state(std::move(sim));
  const unsigned threads = options.threads == 0 ? 1 : options.threads;
  net::io_context ioc(static_cast<int>(threads));

  const auto endpoint = resolve_listen(ioc, options.listen);
  if (!endpoint) {
    std::cerr << "laml-sim: cannot resolve --listen " << options.listen << "\n";
    return 2;
  }
  tcp::acceptor acceptor(ioc);
  beast::error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  const tcp::endpoint bound = ec ? tcp::endpoint{} : acceptor.local_endpoint(ec);
  if (ec) {
    std::cerr << "laml-sim: cannot listen on " << options.listen << ": " << ec.message() << "\n";
    return 2;
  }

  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&ioc](const beast::error_code&, int) { ioc.stop(); });
  net::co_spawn(ioc, accept_loop(std::move(acceptor), state, tls ? &*tls : nullptr), net::detached);

  std::cout << "laml-sim: listening on " << display(bound) << std::endl;

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace laml_sim
