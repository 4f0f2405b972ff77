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

}  // namespace

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
