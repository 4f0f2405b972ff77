// The [callbacks] and [audit] sections.
#include <algorithm>

#include "config/sections.hpp"
#include "config/toml_reader.hpp"

namespace recgate::config::sections {

namespace {

// "http://host:port/path?query" into its base and its target ("/" when it has no path).
std::optional<std::pair<base_url, std::string>> split_url(std::string_view text) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  auto slash = text.find_first_of("/?", sep + 3);
  auto base = parse_base_url(text.substr(0, slash));
  if (!base) return std::nullopt;
  std::string target = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
  if (target.front() != '/') target.insert(0, "/");
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') return std::nullopt;
  }
  return std::pair{*base, target};
}

// The callback path: absolute, plain, and apart from the gateway's own paths.
void read_callback_path(table_reader& r, callbacks_config& c) {
  r.read("path", c.path);
  if (c.path.empty()) {
    r.fail("path", "is required, for example \"/callbacks/recording-status\"");
  } else if (c.path.front() != '/' || c.path.find_first_of("?#% \t\r\n") != std::string::npos) {
    r.fail("path", "must be a path starting with '/', without query, '%' or spaces");
  } else if (c.path == "/v1/signed-urls" || c.path.starts_with("/api/") ||
             c.path.starts_with("/2010-04-01/")) {
    r.fail("path",
           "must not overlap the gateway's own paths (/v1/signed-urls, /api/..., "
           "/2010-04-01/...)");
  }
}

// The key SignalWire signs callbacks with: from a variable or a file, never from the config.
void read_callback_signing_key(table_reader& r, callbacks_config& c, const env_lookup& env) {
  if (r.get("signing_key")) {
    r.fail("signing_key",
           "secrets are not accepted in the config file; use signing_key_env or "
           "signing_key_file");
  }
  std::string from_env, from_file;
  r.read("signing_key_env", from_env);
  r.read("signing_key_file", from_file);
  if (!from_env.empty()) {
    if (auto v = env(from_env)) {
      c.signing_key = *v;
      c.signing_key_source = "env " + from_env;
    } else {
      r.fail("signing_key_env", "the variable " + from_env + " is not set");
    }
  } else if (!from_file.empty()) {
    if (auto v = read_secret_file(from_file)) {
      c.signing_key = *v;
      c.signing_key_source = "file " + from_file;
    } else {
      r.fail("signing_key_file", "cannot read " + from_file);
    }
  } else {
    r.fail("signing_key_env",
           "callbacks need the signing key: signing_key_env or "
           "signing_key_file");
  }
  if (!c.signing_key_source.empty() && c.signing_key.empty()) {
    r.fail(from_env.empty() ? "signing_key_file" : "signing_key_env", "the signing key is empty");
  }
}

// What a callback starts: prefetches of some formats, in a bounded queue.
void read_prefetch(table_reader& r, callbacks_config& c) {
  if (auto* n = r.get("prefetch_formats")) {
    c.prefetch_formats.clear();
    auto* arr = n->as_array();
    if (arr == nullptr) r.fail("prefetch_formats", "must be an array of \"wav\" and \"mp3\"");
    for (std::size_t i = 0; arr && i < arr->size(); ++i) {
      auto v = (*arr)[i].value<std::string>();
      if (!v || !(*arr)[i].is_string() || (*v != "wav" && *v != "mp3")) {
        r.fail("prefetch_formats", "must be an array of \"wav\" and \"mp3\"");
      } else if (std::find(c.prefetch_formats.begin(), c.prefetch_formats.end(), *v) ==
                 c.prefetch_formats.end()) {
        c.prefetch_formats.push_back(*v);
      }
    }
  }
  r.read_int("concurrency", c.concurrency, 1, 64);
  r.read_int("queue_limit", c.queue_limit, 0, 100000);
}

// Where callbacks go on to (forward_url) and how the gateway is reached from outside
// (public_url).
void read_callback_urls(table_reader& r, callbacks_config& c) {
  r.read_timeout("forward_timeout", c.forward_timeout);
  r.read("forward_url", c.forward_url);
  if (!c.forward_url.empty()) {
    auto parts = split_url(c.forward_url);
    if (!parts || parts->first.tls()) {
      r.fail("forward_url",
             "must be an http:// URL, for example "
             "\"http://10.0.0.5:8000/hooks/recording\"");
    } else {
      c.forward_base = parts->first;
      c.forward_target = parts->second;
    }
  }
  r.read("public_url", c.public_url);
  if (!c.public_url.empty()) {
    auto parts = split_url(c.public_url);
    if (!parts || parts->second.find('?') != std::string::npos) {
      r.fail("public_url",
             "must be an http:// or https:// URL without a query, for example "
             "\"https://recordings.example.com\"");
    }
    while (c.public_url.ends_with('/')) c.public_url.pop_back();
  }
}

}  // namespace

void load_callbacks(const toml::table* t, callbacks_config& c, const env_lookup& env,
                    std::vector<error>& errors) {
  table_reader r(t, "callbacks", errors);
  if (t == nullptr) return;
  r.reject_unknown({"path", "signing_key_env", "signing_key_file", "prefetch_formats",
                    "concurrency", "queue_limit", "forward_url", "forward_timeout", "public_url",
                    "signing_key"});
  read_callback_path(r, c);
  read_callback_signing_key(r, c, env);
  read_prefetch(r, c);
  read_callback_urls(r, c);
}

void load_audit(const toml::table* t, audit_config& a, std::vector<error>& errors) {
  table_reader r(t, "audit", errors);
  r.reject_unknown({"file", "flush_interval"});
  r.read("file", a.file);
  r.read_timeout("flush_interval", a.flush_interval);
  if (t != nullptr && a.file.empty()) r.fail("file", "is required in [audit]");
}

}  // namespace recgate::config::sections
