#include "proxy/upstream/upstream_projects.hpp"

#include "util/uuid.hpp"

namespace recgate {
namespace {

config::upstream_config settings_for(const config::project_config& p,
                                     const config::upstream_config& common) {
  config::upstream_config cfg = common;
  cfg.url = p.url;
  cfg.project_id = p.project_id;
  cfg.api_token = p.api_token;
  cfg.api_token_source = p.api_token_source;
  return cfg;
}

// The same connection settings, whatever the tokens.
bool same_place(config::upstream_config a, config::upstream_config b) {
  a.api_token.clear();
  a.api_token_source.clear();
  b.api_token.clear();
  b.api_token_source.clear();
  return a == b;
}

}  // namespace

upstream_project::upstream_project(const config::project_config& project,
                                   const config::upstream_config& common, net::any_io_executor io,
                                   std::unique_ptr<ssl::context> tls)
    : id_(project.id),
      account_sid_(normalize_uuid(project.project_id).value_or(project.project_id)),
      cfg_(settings_for(project, common)),
      callback_signing_key_(project.callback_signing_key),
      client_(cfg_, std::move(io), std::move(tls)) {}

result<std::shared_ptr<const upstream_projects>> upstream_projects::build(
    const config::config& cfg, const net::any_io_executor& io, const upstream_projects* previous,
    const latency_observer& observe) {
  auto next = std::make_shared<upstream_projects>();
  // Tokens of kept clients change only once every new client could be made: a refused reload
  // changes nothing.
  std::vector<std::pair<project_ptr, const config::project_config*>> rotated;
  for (const auto& p : cfg.projects) {
    project_ptr kept;
    if (previous != nullptr) {
      for (const auto& old : previous->projects_) {
        // Same project at the same place, same connection settings: its client goes on.
        if (old->id_ == p.id && old->callback_signing_key_ == p.callback_signing_key &&
            same_place(old->cfg_, settings_for(p, cfg.upstream))) {
          kept = old;
        }
      }
    }
    if (kept) {
      rotated.emplace_back(kept, &p);
      next->projects_.push_back(std::move(kept));
      continue;
    }
    auto trust = upstream_tls_context(cfg.upstream);
    if (!trust.ok()) return fail(trust.error());
    auto made = std::make_shared<upstream_project>(p, cfg.upstream, io, std::move(*trust));
    if (observe) made->client_.set_latency_observer(observe);
    next->projects_.push_back(std::move(made));
  }
  for (const auto& [kept, p] : rotated) kept->client_.set_credentials(p->project_id, p->api_token);
  return std::shared_ptr<const upstream_projects>(std::move(next));
}

upstream_projects::project_ptr upstream_projects::find(std::string_view account_sid) const {
  for (const auto& p : projects_) {
    if (p->account_sid_ == account_sid) return p;
  }
  return nullptr;
}

void upstream_projects::shutdown() const {
  for (const auto& p : projects_) p->client_.shutdown();
}

}  // namespace recgate
