// Fuzz target: the parsers for single configuration values (config/load.hpp): durations,
// endpoints, upstream URLs, networks and IP addresses.
// Input: the parser's name on the first line (duration, endpoint, base_url, cidr, ip; anything
// else: all of them), the text to parse on the rest.

#include <string>

#include <arpa/inet.h>

#include "config/load.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace recgate;

void check_duration(std::string_view text) {
  auto d = config::parse_duration(text);
  if (!d) return;
  FUZZ_CHECK(d->count() >= 0 && d->count() <= (std::int64_t(1) << 62));
  FUZZ_CHECK(config::parse_duration(std::to_string(d->count()) + "ms") == d);
}

void check_endpoint(std::string_view text) {
  auto ep = config::parse_endpoint(text);
  if (!ep) return;
  FUZZ_CHECK(!ep->host.empty());
  auto again = config::parse_endpoint(ep->to_string());
  FUZZ_CHECK(again && again->host == ep->host && again->port == ep->port);
}

void check_base_url(std::string_view text) {
  auto url = config::parse_base_url(text);
  if (!url) return;
  FUZZ_CHECK((url->scheme == "http" || url->scheme == "https") && url->port != 0);
  FUZZ_CHECK(url->authority().find_first_of("/?#@ \r\n") == std::string::npos);
  auto again = config::parse_base_url(url->to_string());
  FUZZ_CHECK(again && again->scheme == url->scheme && again->host == url->host &&
             again->port == url->port);
}

void check_ip(std::string_view text) {
  auto ip = config::parse_ip(text);
  if (!ip) return;
  // An address is its text and nothing more: no byte after a NUL is ignored.
  FUZZ_CHECK(text.find('\0') == std::string_view::npos);
  char printed[INET6_ADDRSTRLEN] = {};
  FUZZ_CHECK(inet_ntop(AF_INET6, ip->data(), printed, sizeof printed) != nullptr);
  FUZZ_CHECK(config::parse_ip(printed) == ip);
}

void check_cidr(std::string_view text) {
  auto net = config::parse_cidr(text);
  if (!net) return;
  FUZZ_CHECK(net->prefix <= 128 && net->text == text);
  FUZZ_CHECK(net->contains(net->address));
  check_ip(text.substr(0, text.find('/')));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto f = fuzz::fields(fuzz::as_text(data, size), 2);
  auto which = f[0];
  auto text = f[1];
  bool all = which != "duration" && which != "endpoint" && which != "base_url" && which != "cidr" &&
             which != "ip";
  if (all || which == "duration") check_duration(text);
  if (all || which == "endpoint") check_endpoint(text);
  if (all || which == "base_url") check_base_url(text);
  if (all || which == "cidr") check_cidr(text);
  if (all || which == "ip") check_ip(text);
  return 0;
}
