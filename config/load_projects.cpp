// [[projects]]: the SignalWire projects one gateway serves, each with its own space, AccountSid
// and token; [upstream]'s own project first.
#include <set>

#include "config/sections.hpp"
#include "config/toml_reader.hpp"
#include "util/uuid.hpp"

namespace recgate::config::sections {

namespace {

// A secret from the variable named by `env_key` or the file named by `file_key` (exactly one
// when `required`); what check-config may print about where it came from goes to `source`.
std::string read_secret(table_reader& r, std::string_view env_key, std::string_view file_key,
                        bool required, const env_lookup& env, std::string* source) {
  std::string from_env, from_file;
  r.read(env_key, from_env);
  r.read(file_key, from_file);
  if (!from_env.empty() && !from_file.empty()) {
    r.fail(env_key, "give " + std::string(env_key) + " or " + std::string(file_key) + ", not both");
    return {};
  }
  std::optional<std::string> value;
  if (!from_env.empty()) {
    value = env(from_env);
    if (!value) r.fail(env_key, "the variable " + from_env + " is not set");
    if (source) *source = "env " + from_env;
  } else if (!from_file.empty()) {
    value = read_secret_file(from_file);
    if (!value) r.fail(file_key, "cannot read " + from_file);
    if (source) *source = "file " + from_file;
  } else if (required) {
    r.fail(env_key, "is required (or " + std::string(file_key) + ")");
  }
  if (value && value->empty()) {
    r.fail(from_env.empty() ? file_key : env_key, "the secret is empty");
    return {};
  }
  if (value && value->find_first_of("\r\n") != std::string::npos) {
    r.fail(from_env.empty() ? file_key : env_key, "the secret contains a line break");
    return {};
  }
  return value.value_or("");
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

void load_projects(const toml::table& root, const upstream_config& u,
                   std::vector<project_config>& out, const env_lookup& env,
                   std::vector<error>& errors) {
  if (!u.url.host.empty()) {
    out.push_back({"default", u.url, u.project_id, u.api_token, u.api_token_source, {}});
  }
  const auto* n = root.get("projects");
  if (n != nullptr && !n->is_array_of_tables()) {
    errors.push_back({"projects", "must be an array of tables ([[projects]])"});
    n = nullptr;
  }
  const auto* arr = n ? n->as_array() : nullptr;
  for (std::size_t i = 0; arr && i < arr->size(); ++i) {
    const std::string prefix = "projects[" + std::to_string(i) + "]";
    table_reader r((*arr)[i].as_table(), prefix, errors);
    r.reject_unknown({"id", "space_url", "project_id", "api_token_env", "api_token_file",
                      "callback_signing_key_env", "callback_signing_key_file", "api_token"});
    if (r.get("api_token")) {
      r.fail("api_token",
             "secrets are not accepted in the config file; use api_token_env or api_token_file");
    }
    project_config p;
    r.read("id", p.id);
    if (!valid_id(p.id)) r.fail("id", "is required: 1 to 64 of A-Z a-z 0-9 - _ .");
    std::string url;
    r.read("space_url", url);
    if (auto parsed = parse_base_url(url))
      p.url = *parsed;
    else
      r.fail("space_url", "is required: an http:// or https:// URL with a host and no path");
    r.read("project_id", p.project_id);
    if (!normalize_uuid(p.project_id)) {
      r.fail("project_id", "is required: the project's id (its AccountSid), a UUID");
    }
    p.api_token = read_secret(r, "api_token_env", "api_token_file", true, env, &p.api_token_source);
    p.callback_signing_key = read_secret(r, "callback_signing_key_env", "callback_signing_key_file",
                                         false, env, nullptr);
    out.push_back(std::move(p));
  }
  std::set<std::string> ids, accounts;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto& p = out[i];
    const std::string where =
        p.id == "default" && i == 0 && !u.url.host.empty()
            ? std::string("upstream")
            : "projects[" + std::to_string(i - (u.url.host.empty() ? 0 : 1)) + "]";
    if (!p.id.empty() && !ids.insert(p.id).second) {
      errors.push_back({where + ".id", "duplicate project id \"" + p.id + "\""});
    }
    auto account = normalize_uuid(p.project_id).value_or(p.project_id);
    if (!account.empty() && !accounts.insert(account).second) {
      errors.push_back({where + ".project_id", "another project has this project_id"});
    }
  }
  if (out.empty() && root.contains("projects")) {
    errors.push_back({"projects", "lists no project"});
  }
}

}  // namespace recgate::config::sections
