// Loads the TOML configuration with toml++, applies environment overrides, resolves secrets and
// validates. Every problem is collected with the key it concerns, so an operator sees them all.
#include "config/load.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "config/sections.hpp"
#include "config/toml_reader.hpp"

namespace recgate::config {

std::string error::to_string() const { return key.empty() ? message : key + ": " + message; }

env_lookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

using namespace sections;

load_result load_from_string(std::string_view toml_text, std::string_view file_name,
                             const env_lookup& env) {
  toml::table root;
  try {
    root = toml::parse(toml_text, file_name);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return fail(std::vector<error>{{"", std::string(file_name) + ":" + std::to_string(where.line) +
                                            ":" + std::to_string(where.column) + ": " +
                                            std::string(e.description())}});
  }

  std::vector<error> errors;
  for (auto&& [k, node] : root) {
    std::string_view name = k.str();
    if (name != "server" && name != "tls" && name != "upstream" && name != "consumers" &&
        name != "access" && name != "signing_keys" && name != "cache" && name != "admin" &&
        name != "log" && name != "callbacks" && name != "audit" && name != "projects") {
      errors.push_back({std::string(name), "unknown key"});
    }
  }
  config c;
  load_server(sub_table(root, "server", errors), c.server, env, errors);
  load_tls(sub_table(root, "tls", errors), c.tls, errors);
  if (!c.server.plain && !c.tls.enabled()) {
    errors.push_back({"server.plain", "false needs a [tls] listener: otherwise nothing listens"});
  }
  load_upstream(sub_table(root, "upstream", errors), c.upstream, env, errors,
                root.contains("projects"));
  load_projects(root, c.upstream, c.projects, env, errors);
  load_consumers(root, c.consumers, errors);
  c.own_consumers = c.consumers.size();
  load_access(sub_table(root, "access", errors), c.access, errors);
  if (!c.access.consumers_file.empty())
    load_consumers_from(c.access.consumers_file, c.consumers, errors);
  require_consumers(c.consumers, errors);
  load_signing_keys(root, c.signing_keys, env, errors);
  load_cache(sub_table(root, "cache", errors), c.cache, env, errors);
  load_admin(sub_table(root, "admin", errors), c.admin, errors);
  load_log(sub_table(root, "log", errors), c.log, errors);
  load_callbacks(sub_table(root, "callbacks", errors), c.callbacks, env, errors);
  if (c.callbacks.enabled() && !c.callbacks.prefetch_formats.empty() && !c.cache.enabled()) {
    errors.push_back({"callbacks.prefetch_formats",
                      "prefetching needs the cache (cache.path); "
                      "use [] to only forward callbacks"});
  }
  load_audit(sub_table(root, "audit", errors), c.audit, errors);
  if (!errors.empty()) return fail(std::move(errors));
  return c;
}

consumers_result load_consumers_file(const std::string& path,
                                     const std::vector<consumer_config>& own) {
  std::vector<consumer_config> consumers = own;
  std::vector<error> errors;
  load_consumers_from(path, consumers, errors);
  require_consumers(consumers, errors);
  if (!errors.empty()) return fail(std::move(errors));
  return consumers;
}

load_result load_from_file(const std::string& path, const env_lookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(std::vector<error>{{"", "cannot read config file " + path}});
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_from_string(ss.str(), path, env);
}

}  // namespace recgate::config
