#include "proxy/endpoints/admin.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "proxy/endpoints/metrics_page.hpp"
#include "proxy/http/request_reader.hpp"
#include "proxy/http/response_writer.hpp"
#include "proxy/lifecycle/revalidator.hpp"
#include "proxy/policy/error_body.hpp"
#include "proxy/telemetry/logging.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"
#include "util/uuid.hpp"

namespace recgate {
namespace {

struct admin_answer {
  unsigned status = 200;
  std::string body;  // JSON
  header_list extra;
};

admin_answer error_answer(unsigned status, std::string_view message) {
  return {status, error_body(static_cast<int>(status), message), {}};
}

nlohmann::json cache_stats_json(gateway& gw) {
  if (!gw.recordings) return {{"enabled", false}};
  auto s = gw.recordings->stats();
  const auto& c = gw.recordings->counters();
  nlohmann::json store{{"state", s.store.writable ? "writable" : "failing"},
                       {"write_failures", s.write_failures},
                       {"recoveries", c.recoveries.load()}};
  if (!s.store.writable) store["reason"] = s.store.reason;
  if (s.disk) {
    store["disk_used"] = s.disk->used;
    store["disk_free"] = s.disk->free;
    store["filesystem"] = s.disk->filesystem;
    store["min_free"] = s.min_free_bytes;
  }
  store["blob_garbage"] = s.blob_garbage_bytes;
  store["held_chunks"] = s.held_chunk_bytes;
  nlohmann::json out{{"enabled", true},
                     {"store", store},
                     {"objects", s.objects},
                     {"tombstones", s.tombstones},
                     {"bytes", s.bytes},
                     {"max_bytes", s.max_bytes},
                     {"fills_in_progress", s.fills_in_progress},
                     {"hits", c.hits.load()},
                     {"misses", c.misses.load()},
                     {"streams", c.streams.load()},
                     {"negative_hits", c.negative_hits.load()},
                     {"fills_committed", c.fills_committed.load()},
                     {"fills_failed", c.fills_failed.load()},
                     {"bytes_from_origin", c.bytes_from_origin.load()},
                     {"evictions", c.evictions.load()},
                     {"expirations", c.expirations.load()},
                     {"unreadable", c.unreadable.load()},
                     {"bypasses", c.bypasses.load()},
                     {"relays", c.relays.load()},
                     {"evictions_for_space", c.evictions_for_space.load()}};
  if (gw.revalidation) {
    const auto& r = gw.revalidation->counters();
    out["revalidations"] = {{"confirmed", r.confirmed.load()},
                            {"gone", r.gone.load()},
                            {"error", r.failed.load()},
                            {"skipped", r.skipped.load()},
                            {"running", gw.revalidation->running()},
                            {"tracked", gw.revalidation->tracked()}};
  }
  return out;
}

// "{AccountSid}/{Sid}" at the end of an admin path, lower-cased; or the answer to give instead.
result<std::pair<std::string, std::string>, admin_answer> recording_of(std::string_view rest) {
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return fail(error_answer(404, "Unknown admin path"));
  auto account = normalize_uuid(rest.substr(0, slash));
  auto sid = normalize_uuid(rest.substr(slash + 1));
  if (!account || !sid) return fail(error_answer(400, "AccountSid and Sid must be UUIDs"));
  return std::pair{*account, *sid};
}

admin_answer purge(gateway& gw, std::string_view rest) {
  auto parsed = recording_of(rest);
  if (!parsed.ok()) return parsed.error();
  const auto& [account, sid] = *parsed;
  if (gw.metadata) gw.metadata->erase(account, sid);
  if (!gw.recordings) return error_answer(409, "The cache is off");
  auto purged = gw.recordings->purge(account, sid);
  if (!purged.ok()) {
    logging::error("purge of " + sid + " failed: " + purged.error());
    return error_answer(500, "The purge failed; see the gateway's log");
  }
  logging::info("purged " + std::to_string(*purged) + " cached objects of recording " + sid);
  return {200, nlohmann::json{{"purged", *purged}}.dump(), {}};
}

admin_answer revoke(gateway& gw, std::string_view rest) {
  auto parsed = recording_of(rest);
  if (!parsed.ok()) return parsed.error();
  const auto& [account, sid] = *parsed;
  auto now = unix_now();
  auto persisted = gw.revocations->revoke(account, sid, now);
  if (!persisted.ok()) logging::error("revocation not persisted: " + persisted.error());
  logging::info("signed URLs for recording " + sid + " issued up to now are revoked");
  return {200, nlohmann::json{{"revoked_before", now}, {"persisted", persisted.ok()}}.dump(), {}};
}

admin_answer answer(gateway& gw, http::verb method, std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  constexpr std::string_view purge_prefix = "/cache/recordings/";
  constexpr std::string_view revoke_prefix = "/signed-urls/revoke/";
  bool known = path == "/healthz" || path == "/readyz" || path == "/metrics" ||
               path == "/cache/stats" || path.starts_with(purge_prefix) ||
               path.starts_with(revoke_prefix);
  if (!known) return error_answer(404, "Unknown admin path");
  bool is_purge = path.starts_with(purge_prefix);
  bool is_revoke = path.starts_with(revoke_prefix);
  auto allowed = is_purge ? http::verb::delete_ : is_revoke ? http::verb::post : http::verb::get;
  if (method != allowed) {
    auto a = error_answer(405, "Method not allowed here");
    a.extra.emplace_back("Allow", std::string(http::to_string(allowed)));
    return a;
  }
  if (path == "/healthz") return {200, R"({"status":"ok"})", {}};
  if (path == "/metrics") {
    admin_answer a{200, render_metrics(gw), {}};
    a.extra.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return a;
  }
  if (path == "/cache/stats") return {200, cache_stats_json(gw).dump(), {}};
  if (is_revoke) return revoke(gw, path.substr(revoke_prefix.size()));
  return purge(gw, path.substr(purge_prefix.size()));
}

// Ready when the gateway is not draining and a project's upstream answered recently: a response
// head within the last 30 s and no failure since, or else a connection made by an active probe,
// which is repeated at most every 5 s per project.
net::awaitable<admin_answer> readiness(gateway& gw) {
  using clock = std::chrono::steady_clock;
  auto now = clock::now();
  // A store that takes no writes leaves the gateway degraded, not unready: every request is still
  // answered (misses go to the upstream uncached, X-Cache: BYPASS), and a lone replica taken out
  // of its balancer would answer nothing at all. The body says so for monitoring.
  bool store_ok =
      !gw.fixed.cache.enabled() || (gw.recordings && gw.recordings->storage().writable());
  // Each project on its own: its upstream answered within 30 s, or else an active probe (at most
  // every 5 s) connected. Ready while any project is reachable (the others' requests fail on
  // their own; a replica taken out of the balancer would serve none); degraded while one is not.
  const auto served = gw.projects.load();
  nlohmann::json projects = nlohmann::json::object();
  std::size_t reachable = 0, refused = 0, accepted = 0;
  for (const auto& p : served->all()) {
    auto& health = p->client().health();
    // A failure since the last answer: asked again rather than taken on trust for 30 s.
    bool ok =
        health.reached_within(std::chrono::seconds(30), now) && health.consecutive_failures() == 0;
    if (!ok && !health.open(now)) {
      auto last = p->probed_at.load();
      if (last == 0 ||
          now.time_since_epoch().count() - last >
              std::chrono::duration_cast<clock::duration>(std::chrono::seconds(5)).count()) {
        p->probe_ok = co_await p->client().probe();
        p->probed_at = clock::now().time_since_epoch().count();
      }
      ok = p->probe_ok.load();
    }
    auto credentials = p->client().credentials();
    reachable += ok ? 1 : 0;
    refused += credentials == upstream_client::credentials_state::refused ? 1 : 0;
    accepted += credentials == upstream_client::credentials_state::accepted ? 1 : 0;
    projects[p->id()] = {
        {"upstream", ok ? "reachable" : "unreachable"},
        {"credentials", credentials == upstream_client::credentials_state::refused    ? "refused"
                        : credentials == upstream_client::credentials_state::accepted ? "accepted"
                                                                                      : "untried"}};
  }
  const bool all_reachable = reachable == served->all().size();
  bool draining = gw.draining.load();
  bool ready = reachable > 0 && !draining;
  // Refused credentials leave audio working and metadata failing: degraded, shown, not unready.
  bool credentials_ok = refused == 0;
  nlohmann::json body{{"status", !ready                                        ? "not ready"
                                 : store_ok && credentials_ok && all_reachable ? "ready"
                                                                               : "degraded"},
                      {"credentials", refused > 0    ? "refused"
                                      : accepted > 0 ? "accepted"
                                                     : "untried"},
                      {"store", !gw.fixed.cache.enabled() ? "off"
                                : store_ok                ? "writable"
                                                          : "failing"},
                      {"upstream", all_reachable   ? "reachable"
                                   : reachable > 0 ? "partly reachable"
                                                   : "unreachable"},
                      {"projects", projects},
                      {"draining", draining}};
  co_return admin_answer{ready ? 200u : 503u, body.dump(), {}};
}

}  // namespace

net::awaitable<void> run_admin_session(tcp::socket socket, std::shared_ptr<gateway> gw) {
  beast::error_code peer_ec;
  auto peer = socket.remote_endpoint(peer_ec);
  std::string client = peer_ec ? "-" : peer.address().to_string();
  client_stream stream(std::move(socket));
  request_reader reader;
  for (bool first = true;; first = false) {
    auto live = gw->settings.load();
    const auto& limits = live->server;
    // Admin requests have no body; idle and new connections are bounded like the main listener's.
    read_limits bounds{limits.max_header_bytes, 0, limits.idle_timeout, limits.header_timeout};
    http::request_parser<http::string_body> parser;
    auto got = co_await reader.read(stream, parser, bounds, first);
    if (got.status == read_status::closed) break;
    if (got.status != read_status::ok) {
      unsigned status = got.status == read_status::head_too_large   ? 431u
                        : got.status == read_status::line_too_long  ? 414u
                        : got.status == read_status::body_too_large ? 413u
                                                                    : 400u;
      // Built before the co_await: g++ 12 mishandles temporaries in a co_await's operands.
      std::string body = error_body(static_cast<int>(status), "Bad admin request");
      co_await write_json({stream, "admin", false, false, limits.write_timeout}, status,
                          std::move(body));
      co_await linger_close(stream);
      break;
    }
    const auto& req = parser.get();
    admin_answer a;
    auto path = req.target().substr(0, req.target().find('?'));
    const auto& exempt = live->admin.exempt_paths;
    bool probe =
        path == "/healthz" || std::find(exempt.begin(), exempt.end(), path) != exempt.end();
    if (live->admin.require_key && !probe) {
      // An admin-scoped key, whatever the account: admin actions are not per account.
      access_request who;
      who.authorization = req[http::field::authorization];
      who.client_address = client;
      who.scope = config::scope_admin;
      who.account_sid = "*";
      auto decision = gw->access.load()->decide(who, std::chrono::steady_clock::now());
      if (decision.outcome == access_outcome::unauthenticated) {
        a = error_answer(401, "Authentication required: send an admin key");
        a.extra.emplace_back("WWW-Authenticate", "Bearer realm=\"recgate-admin\"");
      } else if (decision.outcome != access_outcome::allow) {
        a = error_answer(403, "This key may not administer the gateway");
      }
      if (a.status != 200) logging::warn("admin request refused: " + decision.reason);
    }
    if (a.status == 200 && path == "/readyz" && req.method() == http::verb::get) {
      a = co_await readiness(*gw);
    } else if (a.status == 200) {
      a = answer(*gw, req.method(), req.target());
    }
    const reply to{stream, "admin", req.method() == http::verb::head, req.keep_alive(),
                   limits.write_timeout};
    auto w = co_await write_json(to, a.status, std::move(a.body), a.extra);
    if (!w.complete || !req.keep_alive()) break;
  }
  beast::error_code ec;
  stream.lowest().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace recgate
