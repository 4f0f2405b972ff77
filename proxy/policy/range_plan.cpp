#include "proxy/policy/range_plan.hpp"

#include <charconv>

#include "util/codec.hpp"

namespace recgate {
namespace {

std::optional<std::uint64_t> parse_number(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view opaque_tag(std::string_view tag) {
  tag = trim(tag);
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  return tag;
}

constexpr std::size_t max_forwarded_value = 256;

// RFC 9110 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text.
bool is_entity_tag(std::string_view tag) {
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') return false;
  for (char c : tag.substr(1, tag.size() - 2)) {
    auto u = static_cast<unsigned char>(c);
    if (!(u == 0x21 || (u >= 0x23 && u <= 0x7E) || u >= 0x80)) return false;
  }
  return true;
}

// "*" or a comma-separated list of entity tags (empty elements allowed, as 5.6.1 has it).
bool is_tag_list(std::string_view list) {
  list = trim(list);
  if (list == "*") return true;
  bool any = false;
  while (true) {
    auto comma = list.find(',');
    auto tag = trim(list.substr(0, comma));
    if (!tag.empty()) {
      if (!is_entity_tag(tag)) return false;
      any = true;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return any;
}

// IMF-fixdate (RFC 9110 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
bool is_imf_fixdate(std::string_view d) {
  constexpr std::string_view days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (d.size() != 29 || d.substr(3, 2) != ", " || d[7] != ' ' || d[11] != ' ' || d[16] != ' ' ||
      d[19] != ':' || d[22] != ':' || d.substr(25) != " GMT") {
    return false;
  }
  auto one_of = [](std::string_view v, const auto& list) {
    for (auto x : list)
      if (v == x) return true;
    return false;
  };
  auto digits = [&](std::size_t at, std::size_t n) {
    for (std::size_t i = at; i < at + n; ++i)
      if (d[i] < '0' || d[i] > '9') return false;
    return true;
  };
  return one_of(d.substr(0, 3), days) && one_of(d.substr(8, 3), months) && digits(5, 2) &&
         digits(12, 4) && digits(17, 2) && digits(20, 2) && digits(23, 2);
}

// One byte range in the request's own syntax, rebuilt from its numbers; empty when the header
// is not one (several ranges, another unit, malformed, a > b).
std::string forwardable_range(std::string_view header) {
  header = trim(header);
  constexpr std::string_view unit = "bytes=";
  if (!header.starts_with(unit)) return {};
  auto spec = trim(header.substr(unit.size()));
  if (spec.find(',') != std::string_view::npos) return {};
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  auto first_text = trim(spec.substr(0, dash));
  auto last_text = trim(spec.substr(dash + 1));
  if (first_text.empty()) {
    auto n = parse_number(last_text);
    return n ? "bytes=-" + std::to_string(*n) : std::string();
  }
  auto first = parse_number(first_text);
  if (!first) return {};
  if (last_text.empty()) return "bytes=" + std::to_string(*first) + "-";
  auto last = parse_number(last_text);
  if (!last || *last < *first) return {};
  return "bytes=" + std::to_string(*first) + "-" + std::to_string(*last);
}

}  // namespace

forwarded_conditions forwardable_conditions(const conditional_headers& request) {
  forwarded_conditions out;
  auto fits = [](std::string_view v) { return !v.empty() && v.size() <= max_forwarded_value; };
  if (fits(request.range)) out.range = forwardable_range(request.range);
  if (auto inm = trim(request.if_none_match); fits(inm) && is_tag_list(inm)) {
    out.if_none_match = std::string(inm);
  }
  if (auto ims = trim(request.if_modified_since); fits(ims) && is_imf_fixdate(ims)) {
    out.if_modified_since = std::string(ims);
  }
  if (auto ir = trim(request.if_range);
      !out.range.empty() && fits(ir) && (is_entity_tag(ir) || is_imf_fixdate(ir))) {
    out.if_range = std::string(ir);
  }
  return out;
}

bool content_range_matches(std::string_view content_range, std::uint64_t body_length) {
  constexpr std::string_view unit = "bytes ";
  if (!content_range.starts_with(unit)) return false;
  auto spec = content_range.substr(unit.size());
  auto dash = spec.find('-');
  auto slash = spec.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return false;
  }
  auto first = parse_number(spec.substr(0, dash));
  auto last = parse_number(spec.substr(dash + 1, slash - dash - 1));
  auto total_text = spec.substr(slash + 1);
  if (!first || !last || *last < *first || *last - *first + 1 != body_length) return false;
  if (total_text == "*") return true;
  auto total = parse_number(total_text);
  return total && *last < *total;
}

parsed_range parse_range(std::string_view header, std::uint64_t length) {
  header = trim(header);
  constexpr std::string_view unit = "bytes=";
  if (!header.starts_with(unit)) return {};
  auto spec = trim(header.substr(unit.size()));
  if (spec.find(',') != std::string_view::npos) return {};  // several ranges: the whole body
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  auto first_text = trim(spec.substr(0, dash));
  auto last_text = trim(spec.substr(dash + 1));

  if (first_text.empty()) {  // suffix: the last n bytes
    auto n = parse_number(last_text);
    if (!n) return {};
    if (*n == 0 || length == 0) return {range_kind::unsatisfiable, {}};
    std::uint64_t count = std::min(*n, length);
    return {range_kind::single, {length - count, length - 1}};
  }
  auto first = parse_number(first_text);
  if (!first) return {};
  std::uint64_t last = length == 0 ? 0 : length - 1;
  if (!last_text.empty()) {
    auto l = parse_number(last_text);
    if (!l || *l < *first) return {};  // invalid: ignore the header
    last = std::min(*l, last);
  }
  if (*first >= length) return {range_kind::unsatisfiable, {}};
  return {range_kind::single, {*first, last}};
}

bool etag_matches_any(std::string_view if_none_match, std::string_view etag) {
  if (etag.empty()) return false;
  if (trim(if_none_match) == "*") return true;
  auto ours = opaque_tag(etag);
  while (!if_none_match.empty()) {
    auto comma = if_none_match.find(',');
    if (opaque_tag(if_none_match.substr(0, comma)) == ours) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

response_plan plan_response(const representation& rep, const conditional_headers& request) {
  response_plan plan;
  if (!request.if_none_match.empty() && etag_matches_any(request.if_none_match, rep.etag)) {
    plan.status = 304;
    return plan;
  }
  if (request.range.empty() || !rep.length) return plan;
  if (!request.if_range.empty()) {
    auto validator = trim(request.if_range);
    bool strong_match = validator.starts_with('"')
                            ? (!rep.etag.empty() && validator == rep.etag)
                            : (!rep.last_modified.empty() && validator == rep.last_modified);
    if (!strong_match) return plan;  // the client's copy is stale: send the whole body
  }
  auto length = *rep.length;
  auto parsed = parse_range(request.range, length);
  if (parsed.kind == range_kind::unsatisfiable) {
    plan.status = 416;
    plan.content_range = "bytes */" + std::to_string(length);
  } else if (parsed.kind == range_kind::single) {
    plan.status = 206;
    plan.begin = parsed.range.first;
    plan.end = parsed.range.last + 1;
    plan.content_range = "bytes " + std::to_string(parsed.range.first) + "-" +
                         std::to_string(parsed.range.last) + "/" + std::to_string(length);
  }
  return plan;
}

std::optional<byte_range> plain_range(const conditional_headers& request, std::uint64_t open_end) {
  if (request.range.empty() || !request.if_range.empty()) return std::nullopt;
  if (!request.range.starts_with("bytes=") || request.range.substr(6).starts_with('-')) {
    return std::nullopt;
  }
  auto parsed = parse_range(request.range, open_end);
  if (parsed.kind != range_kind::single) return std::nullopt;
  return parsed.range;
}

std::optional<std::uint64_t> content_range_length(std::string_view content_range) {
  auto slash = content_range.rfind('/');
  if (!content_range.starts_with("bytes ") || slash == std::string_view::npos) return std::nullopt;
  return parse_number(content_range.substr(slash + 1));
}

}  // namespace recgate
