#pragma once
// One loader per section of the config file (config/load_*.cpp), each filling its part of the
// config and adding what is wrong to `errors` under the section's keys. load.cpp calls them in
// order; cross-section checks stay there.

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "config/config.hpp"
#include "config/load.hpp"

namespace recgate::config::sections {

void load_server(const toml::table* t, server_config& s, const env_lookup& env,
                 std::vector<error>& errors);

void load_tls(const toml::table* t, tls_config& tls, std::vector<error>& errors);

void load_admin(const toml::table* t, admin_config& a, std::vector<error>& errors);

void load_log(const toml::table* t, log_config& l, std::vector<error>& errors);

// with_projects: [[projects]] name the projects, so [upstream]'s base_url, project_id and token
// are optional (given, they are one more project, "default").
void load_upstream(const toml::table* t, upstream_config& u, const env_lookup& env,
                   std::vector<error>& errors, bool with_projects = false);
// [[projects]] (root: the whole document), after [upstream]: the projects served, [upstream]'s
// own one first when it names one (u.url set).
void load_projects(const toml::table& root, const upstream_config& u,
                   std::vector<project_config>& out, const env_lookup& env,
                   std::vector<error>& errors);

void load_consumers(const toml::table& root, std::vector<consumer_config>& out,
                    std::vector<error>& errors, const std::string& key_prefix = "");

void load_signing_keys(const toml::table& root, std::vector<signing_key>& out,
                       const env_lookup& env, std::vector<error>& errors);

void load_access(const toml::table* t, access_config& a, std::vector<error>& errors);

void require_consumers(const std::vector<consumer_config>& consumers, std::vector<error>& errors);

// The [[consumers]] of a consumers file, appended to `out` (ids and hashes unique across both).
void load_consumers_from(const std::string& path, std::vector<consumer_config>& out,
                         std::vector<error>& errors);

void load_cache(const toml::table* t, cache_config& c, const env_lookup& env,
                std::vector<error>& errors);

void load_callbacks(const toml::table* t, callbacks_config& c, const env_lookup& env,
                    std::vector<error>& errors);

void load_audit(const toml::table* t, audit_config& a, std::vector<error>& errors);

}  // namespace recgate::config::sections
