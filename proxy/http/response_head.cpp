#include "proxy/http/response_head.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <boost/beast/http/status.hpp>

#include "util/codec.hpp"

namespace recgate {

namespace {

// Set by the writer from the body and the connection, never by a caller.
bool framing_field(std::string_view name) {
  // By length first: nearly every name is none of the three, and most differ in length.
  switch (name.size()) {
    case 14:
      return iequals(name, "content-length");
    case 17:
      return iequals(name, "transfer-encoding");
    case 10:
      return iequals(name, "connection");
    default:
      return false;
  }
}

// The bytes that break a field's framing: in a name, and in a value.
constexpr std::array<bool, 256> breaks_name = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : {':', ' ', '\t', '\r', '\n', '\0'}) t[c] = true;
  return t;
}();
constexpr std::array<bool, 256> breaks_value = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : {'\r', '\n', '\0'}) t[c] = true;
  return t;
}();

// One pass per field, a table lookup per byte (find_first_of calls memchr per character).
bool breaks_framing(std::string_view name, std::string_view value) {
  if (name.empty()) return true;
  bool bad = false;
  for (char c : name) bad |= breaks_name[static_cast<unsigned char>(c)];
  for (char c : value) bad |= breaks_value[static_cast<unsigned char>(c)];
  return bad;
}

}  // namespace

std::string_view response_head::reason(unsigned status) {
  auto text = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  if (text == "<unknown-status>") return "Unknown";
  return {text.data(), text.size()};
}

response_head::response_head(unsigned status, std::string_view date, std::string_view request_id) {
  text_.reserve(512);
  char code[4];
  auto end = std::to_chars(code, code + sizeof code, std::min(status, 999u)).ptr;
  text_.append("HTTP/1.1 ").append(code, end).append(" ").append(reason(status)).append("\r\n");
  field("Date", date);
  field("X-Request-Id", request_id);
}

void response_head::field(std::string_view name, std::string_view value) {
  text_.append(name).append(": ").append(value).append("\r\n");
}

void response_head::add(std::string_view name, std::string_view value) {
  if (framing_field(name) || breaks_framing(name, value)) return;
  field(name, value);
}

void response_head::content_length(std::uint64_t length) {
  char digits[20];
  auto end = std::to_chars(digits, digits + sizeof digits, length).ptr;
  field("Content-Length", std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

void response_head::chunked() { field("Transfer-Encoding", "chunked"); }

void response_head::finish(bool keep_alive) {
  if (!keep_alive) field("Connection", "close");
  text_.append("\r\n");
}

std::string_view chunk_size_line(std::size_t size, char (&out)[20]) {
  auto end = std::to_chars(out, out + sizeof out - 2, size, 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  return {out, static_cast<std::size_t>(end - out)};
}

}  // namespace recgate
