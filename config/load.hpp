#pragma once
// Loading and validating the TOML configuration. No I/O beyond reading the files named.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "util/result.hpp"

namespace recgate::config {

// One problem with the configuration: the dotted key it concerns ("upstream.base_url",
// "consumers[1].key_sha256", or "" for the file as a whole) and what is wrong.
struct error {
  std::string key;
  std::string message;
  std::string to_string() const;
};

// Reads an environment variable; returns nullopt when it is unset. Injected so tests need no
// process environment.
using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;
env_lookup process_env();

// The configuration, or every problem found (not only the first).
using load_result = result<config, std::vector<error>>;

// Parses TOML text (file_name is only used in messages), applies the environment overrides
// RECGATE_LISTEN, RECGATE_UPSTREAM_URL, SIGNALWIRE_PROJECT_ID and SIGNALWIRE_API_TOKEN, resolves
// secrets from the environment or files, and validates everything. Unknown keys are errors.
load_result load_from_string(std::string_view toml_text, std::string_view file_name,
                             const env_lookup& env);
load_result load_from_file(const std::string& path, const env_lookup& env);

// Reads a consumers file (only [[consumers]] entries) and returns `own` (the main file's
// consumers) plus the file's, validated as a whole: for reloads.
using consumers_result = result<std::vector<consumer_config>, std::vector<error>>;
consumers_result load_consumers_file(const std::string& path,
                                     const std::vector<consumer_config>& own);

// Parsers for single values, shared with tests. Each returns nullopt on malformed input.
// What server.threads = 0 means: the cores this process may run on (its CPU affinity, which
// taskset, cpusets and Kubernetes' static CPU manager narrow), not every core of the machine:
// two I/O threads sharing one allowed core only add wake-ups. At least 1.
unsigned usable_cores();

std::optional<duration> parse_duration(std::string_view text);  // "250ms", "5s", "2m", "1h", "1d"
std::optional<endpoint> parse_endpoint(std::string_view text);  // "host:port", "[::1]:port"
std::optional<base_url> parse_base_url(std::string_view text);
std::optional<cidr> parse_cidr(std::string_view text);  // "10.0.0.0/8", "::1/128", "127.0.0.1"
// An address as 16 bytes (IPv4 as IPv4-mapped IPv6); nullopt when it is not an IP address.
std::optional<std::array<unsigned char, 16>> parse_ip(std::string_view text);

}  // namespace recgate::config
