#include "proxy/upstream/redirects.hpp"

#include "config/load.hpp"

namespace recgate {

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::optional<redirect_target> resolve_location(std::string_view value,
                                                const config::base_url& from) {
  // A target goes into the request line as it is: no space or control character may end it early.
  for (char c : value) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  }
  if (value.starts_with('/') && !value.starts_with("//")) {
    return redirect_target{from, std::string(value)};
  }
  auto scheme_end = value.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  auto path_start = value.find('/', scheme_end + 3);
  auto origin = config::parse_base_url(value.substr(0, path_start));
  if (!origin) return std::nullopt;
  std::string target =
      path_start == std::string_view::npos ? "/" : std::string(value.substr(path_start));
  return redirect_target{*origin, std::move(target)};
}

}  // namespace recgate
