// The [cache] section and its encryption keys.
#include <limits>

#include "config/encryption_keys.hpp"
#include "config/sections.hpp"
#include "config/toml_reader.hpp"

namespace recgate::config::sections {

namespace {

// cache.encryption_key_file / encryption_key_env: the keys, or errors that never quote them.
void load_encryption_keys(table_reader& r, cache_config& c, const env_lookup& env) {
  if (r.get("encryption_key")) {
    r.fail("encryption_key",
           "secrets are not accepted in the config file; use "
           "encryption_key_file or encryption_key_env");
  }
  std::string from_env;
  r.read("encryption_key_file", c.encryption_key_file);
  r.read("encryption_key_env", from_env);
  if (c.encryption_key_file.empty() && from_env.empty()) return;
  if (!c.encryption_key_file.empty() && !from_env.empty()) {
    return r.fail("encryption_key_env", "give encryption_key_file or encryption_key_env, not both");
  }
  const char* name = from_env.empty() ? "encryption_key_file" : "encryption_key_env";
  std::optional<std::string> text;
  if (!from_env.empty()) {
    text = env(from_env);
    if (!text) return r.fail(name, "the variable " + from_env + " is not set");
    c.encryption_key_source = "env " + from_env;
  } else {
    text = read_secret_file(c.encryption_key_file);
    if (!text) return r.fail(name, "cannot read " + c.encryption_key_file);
    c.encryption_key_source = "file " + c.encryption_key_file;
  }
  auto parsed = parse_encryption_keys(*text);
  if (!parsed.error.empty()) return r.fail(name, c.encryption_key_source + ": " + parsed.error);
  c.encryption_keys = std::move(parsed.keys);
  if (c.path.empty()) r.fail(name, "encryption needs the cache (cache.path)");
}

}  // namespace

void load_cache(const toml::table* t, cache_config& c, const env_lookup& env,
                std::vector<error>& errors) {
  table_reader r(t, "cache", errors);
  r.reject_unknown({"path", "chunk_size", "block_cache_bytes", "cache_control", "max_bytes",
                    "min_free_bytes", "max_age", "negative_ttl", "metadata_ttl", "stale_if_error",
                    "revalidate_after", "revalidate", "encryption_key_file", "encryption_key_env",
                    "encryption_key"});
  r.read("path", c.path);
  r.read_int("max_bytes", c.max_bytes, 0, std::numeric_limits<std::int64_t>::max());
  r.read_int("min_free_bytes", c.min_free_bytes, 0, std::numeric_limits<std::int64_t>::max());
  r.read("max_age", c.max_age);
  r.read("negative_ttl", c.negative_ttl);
  r.read("metadata_ttl", c.metadata_ttl);
  r.read("stale_if_error", c.stale_if_error);
  if (c.stale_if_error.count() > 0 && c.metadata_ttl.count() == 0) {
    r.fail("stale_if_error", "needs metadata_ttl: only kept metadata can be served stale");
  }
  r.read("revalidate_after", c.revalidate_after);
  std::string revalidate = c.revalidate_before_serving ? "before-serving" : "background";
  r.read("revalidate", revalidate);
  if (revalidate != "background" && revalidate != "before-serving") {
    r.fail("revalidate", "must be \"background\" or \"before-serving\"");
  }
  c.revalidate_before_serving = revalidate == "before-serving";
  if (c.revalidate_before_serving && c.revalidate_after.count() == 0) {
    r.fail("revalidate", "needs revalidate_after: how old a confirmation may be before a check");
  }
  if (c.revalidate_after.count() > 0 && c.revalidate_after < std::chrono::seconds(1)) {
    r.fail("revalidate_after", "must be at least 1s (or 0: never)");
  }
  if (c.revalidate_after.count() > 0 && c.path.empty()) {
    r.fail("revalidate_after", "needs the cache (cache.path): only cached audio is revalidated");
  }
  if (c.max_age.count() > 0 && c.max_age < std::chrono::seconds(1)) {
    r.fail("max_age", "must be at least 1s (or 0 for no limit)");
  }
  r.read_int("chunk_size", c.chunk_size, 4096, 16 << 20);
  r.read_int("block_cache_bytes", c.block_cache_bytes, 1 << 20, std::int64_t(1) << 40);
  r.read("cache_control", c.cache_control);
  if (c.cache_control.find_first_of("\r\n") != std::string::npos) {
    r.fail("cache_control", "must not contain line breaks");
  }
  load_encryption_keys(r, c, env);
}

}  // namespace recgate::config::sections
