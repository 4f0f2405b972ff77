#pragma once
// Audio redirects (storage URLs): which statuses are followed, and where a Location points from
// the origin that answered. Pure: no I/O.

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace recgate {

bool is_redirect(unsigned status);

// Where a redirect points: an origin and a path (with its query, which storage URLs carry).
struct redirect_target {
  config::base_url origin;
  std::string target;
};

// A Location value resolved against `from`: an absolute http(s) URL, or a path on `from`
// ("/..."). Anything else (a scheme-relative "//host", a relative path, a malformed URL, a space
// or control character anywhere): nullopt.
std::optional<redirect_target> resolve_location(std::string_view value,
                                                const config::base_url& from);

}  // namespace recgate
