#include "proxy/state/gateway.hpp"

#include "config/encryption_keys.hpp"
#include "config/load.hpp"
#include "proxy/callbacks/prefetcher.hpp"
#include "proxy/lifecycle/revalidator.hpp"
#include "proxy/lifecycle/upstream_existence.hpp"
#include "proxy/telemetry/audit_log.hpp"
#include "proxy/telemetry/logging.hpp"
#include "util/net/net.hpp"

namespace recgate {
namespace {

constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

}  // namespace

result<std::shared_ptr<ssl::context>> make_server_tls_context(const config::tls_config& tls) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  // TLS 1.2 limited to AEAD suites with forward secrecy (Mozilla's "intermediate" profile): no
  // CBC, no SHA-1 MACs, no static RSA key exchange. TLS 1.3's suites are all of that already.
  if (SSL_CTX_set_cipher_list(ctx->native_handle(), tls12_ciphers) != 1) {
    return fail("OpenSSL refused the TLS 1.2 cipher list");
  }
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) {
    return fail("cannot load tls.cert_file " + tls.cert_file + ": " + ec.message());
  }
  ctx->use_private_key_file(tls.key_file, ssl::context::pem, ec);
  if (!ec && SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return fail("tls.key_file " + tls.key_file + " does not match the certificate");
  }
  if (ec) {
    return fail("cannot load tls.key_file " + tls.key_file + ": " + ec.message());
  }
  if (!tls.client_ca_file.empty()) {
    ctx->load_verify_file(tls.client_ca_file, ec);
    if (ec) {
      return fail("cannot load tls.client_ca_file " + tls.client_ca_file + ": " + ec.message());
    }
    // Ask for a certificate; without require_client_certificate, clients without one may still
    // use keys or signed URLs. A certificate that is sent must verify.
    auto mode = ssl::verify_peer;
    if (tls.require_client_certificate) mode |= ssl::verify_fail_if_no_peer_cert;
    ctx->set_verify_mode(mode);
    // The CA's name in the CertificateRequest, so clients pick the right certificate.
    if (auto* names = SSL_load_client_CA_file(tls.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    }
    static const unsigned char session_context[] = "recgate";
    SSL_CTX_set_session_id_context(ctx->native_handle(), session_context,
                                   sizeof session_context - 1);
  }
  return ctx;
}

result<std::shared_ptr<gateway>> gateway::open(const config::config& cfg, std::string config_path,
                                               net::any_io_executor io) {
  // What the libraries underneath throw stays here: an OpenSSL context that cannot be made, a
  // thread that cannot be started, memory. The gateway's own failures are results.
  try {
    std::shared_ptr<gateway> gw(new gateway(cfg, std::move(config_path), io, nullptr));
    auto served = upstream_projects::build(cfg, io, nullptr, gw->observe_upstream_latency());
    if (!served.ok()) return fail(served.error());
    gw->projects.store(std::move(*served));
    if (auto opened = gw->open_parts(cfg, io); !opened.ok()) return fail(opened.error());
    return gw;
  } catch (const std::exception& e) {
    return fail(std::string("cannot start: ") + e.what());
  }
}

gateway::gateway(const config::config& cfg, std::string config_path, net::any_io_executor io,
                 std::shared_ptr<const upstream_projects> served)
    : fixed(restart_settings::of(cfg)),
      settings(std::make_shared<const live_settings>(live_settings::of(cfg))),
      revocations(std::make_shared<revocation_list>()),
      access(std::make_shared<access_policy>(cfg, revocations)),
      projects(std::move(served)),
      config_path_(std::move(config_path)),
      io_(std::move(io)) {}

latency_observer gateway::observe_upstream_latency() {
  return [this](double s) { stats.upstream_latency.observe(s); };
}

result<void> gateway::open_parts(const config::config& cfg, const net::any_io_executor& io) {
  if (!cfg.access.revocations_file.empty()) {
    if (auto loaded = revocations->load(cfg.access.revocations_file); !loaded.ok())
      return fail("cannot read the revocations: " + loaded.error());
  }
  if (cfg.tls.enabled()) {
    auto ctx = make_server_tls_context(cfg.tls);
    if (!ctx.ok()) return fail(ctx.error());
    tls_context.store(std::move(*ctx));
  }
  if (cfg.audit.enabled()) {
    auto opened = audit_log::open(cfg.audit);
    if (!opened.ok()) return fail(opened.error());
    audit = std::move(*opened);
  }
  if (cfg.cache.metadata_ttl.count() > 0) {
    metadata = std::make_unique<cache::metadata_cache>(cfg.cache.metadata_ttl, 100000,
                                                       cfg.cache.stale_if_error);
  }
  if (cfg.cache.enabled()) {
    if (auto opened = open_cache(cfg, io); !opened.ok()) return opened;
    if (cfg.cache.revalidate_after.count() > 0) {
      revalidation_options options;
      options.after =
          std::chrono::duration_cast<std::chrono::milliseconds>(cfg.cache.revalidate_after);
      options.before_serving = cfg.cache.revalidate_before_serving;
      revalidation =
          std::make_unique<revalidator>(options, *recordings, upstream_existence(projects), io);
    }
  }
  // After the cache: prefetching needs it (config validation requires a cache when
  // callbacks.prefetch_formats is set; forwarding alone does not).
  if (cfg.callbacks.enabled()) {
    prefetch = std::make_unique<prefetcher>(cfg.callbacks, recordings.get(), projects, io);
  }
  return {};
}

result<void> gateway::open_cache(const config::config& cfg, const net::any_io_executor& io) {
  cache::cache_options options;
  options.storage.path = cfg.cache.path;
  options.storage.block_cache_bytes = cfg.cache.block_cache_bytes;
  options.chunk_size = cfg.cache.chunk_size;
  options.read_buffer_bytes = cfg.upstream.buffer_bytes;
  options.max_bytes = cfg.cache.max_bytes;
  options.min_free_bytes = cfg.cache.min_free_bytes;
  options.storage.max_age_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(cfg.cache.max_age).count();
  options.negative_ttl = cfg.cache.negative_ttl;
  for (const auto& k : cfg.cache.encryption_keys) {
    options.storage.encryption_keys.push_back({k.id, k.secret});
  }
  options.warn = [](const std::string& message) { logging::warn(message); };
  options.info = [](const std::string& message) { logging::info(message); };
  // RocksDB's own log, in the gateway's (never a LOG file in the cache folder).
  options.storage.log = [](cache::store_log_level level, std::string_view line) {
    std::string message = "rocksdb: " + std::string(line);
    switch (level) {
      case cache::store_log_level::error:
        logging::error(message);
        break;
      case cache::store_log_level::warn:
        logging::warn(message);
        break;
      case cache::store_log_level::info:
        logging::info(message);
        break;
      default:
        logging::debug(message);
        break;
    }
  };
  // Logged once each time it changes; counted and shown in /metrics, /cache/stats and /readyz.
  options.on_store_health = [](const cache::store_health& h) {
    if (h.writable) {
      logging::info("cache: the store takes writes again; misses are cached again");
    } else {
      logging::error("cache: the store takes no writes (" + h.reason +
                     "); misses are served from the upstream without caching (X-Cache: BYPASS) "
                     "until it recovers");
    }
  };
  if (cfg.cache.encrypted()) {
    if (auto w = config::key_file_permission_warning(cfg.cache.encryption_key_file); !w.empty()) {
      logging::warn(w);
    }
    logging::info("cache: encrypted at rest, new objects under key " +
                  cfg.cache.encryption_keys.front().id);
  }
  auto opened = cache::cache::open(options, io);
  if (!opened.ok()) return fail(opened.error());
  recordings = std::move(*opened);
  if (auto n = recordings->storage().interrupted_fills_removed()) {
    logging::info("cache: removed " + std::to_string(n) + " interrupted fills");
  }
  return {};
}

gateway::~gateway() {
  if (auto served = projects.load()) served->shutdown();
}

result<std::string> gateway::reload() {
  if (config_path_.empty()) return fail("no configuration file to re-read");
  auto loaded = config::load_from_file(config_path_, config::process_env());
  if (!loaded.ok()) {
    std::string problems;
    for (const auto& e : loaded.error()) problems += (problems.empty() ? "" : "; ") + e.to_string();
    return fail(std::move(problems));
  }
  const auto& next = *loaded;
  std::shared_ptr<ssl::context> next_tls;
  if (next.tls.enabled() && fixed.tls) {
    auto made = make_server_tls_context(next.tls);
    if (!made.ok()) return fail(made.error());
    next_tls = std::move(*made);
  }
  // The projects: unchanged ones keep their clients (tokens rotated: the next metadata request
  // says whether the new one is accepted), new ones get clients, removed ones leave once the
  // requests holding them finish.
  const auto previous = projects.load();
  // The connection settings common to every project ([upstream]'s timeouts, pool, trust...) stay
  // as started (a restart applies them); the projects themselves change now.
  config::config effective = next;
  effective.upstream = fixed.upstream;
  auto served =
      upstream_projects::build(effective, io_, previous.get(), observe_upstream_latency());
  if (!served.ok()) return fail(served.error());
  // Everything checked: now apply.
  access.store(std::make_shared<access_policy>(next, revocations, access.load().get()));
  std::vector<std::string> added, removed;
  for (const auto& p : (*served)->all()) {
    if (previous->find(p->account_sid()) != p) added.push_back(p->id());
  }
  for (const auto& p : previous->all()) {
    if ((*served)->find(p->account_sid()) != p) {
      removed.push_back(p->id());
      p->client().shutdown();
    }
  }
  projects.store(std::move(*served));
  settings.store(std::make_shared<const live_settings>(live_settings::of(next)));
  bool new_certificates = next_tls != nullptr;
  if (new_certificates) tls_context.store(std::move(next_tls));
  auto names = [](const std::vector<std::string>& ids) {
    std::string out;
    for (const auto& id : ids) out += (out.empty() ? "" : " ") + id;
    return out;
  };
  std::string applied = std::to_string(next.consumers.size()) + " consumers, " +
                        std::to_string(next.signing_keys.size()) + " signing keys, limits, " +
                        std::to_string(next.projects.size()) + " projects and their tokens" +
                        (added.empty() ? "" : " (new or changed: " + names(added) + ")") +
                        (removed.empty() ? "" : " (removed: " + names(removed) + ")") +
                        (new_certificates ? ", TLS certificates" : "");
  auto restart = needing_restart(fixed, restart_settings::of(next));
  for (std::size_t i = 0; i < restart.size(); ++i) {
    applied += (i == 0 ? "; changed but applied only at a restart: " : ", ") + restart[i];
  }
  return applied;
}

}  // namespace recgate
