#include "proxy/http/response_head.hpp"

#include <algorithm>
#include <charconv>

#include <boost/beast/http/status.hpp>

#include "util/codec.hpp"

namespace recgate {

namespace {

// Set by the writer from the body and the connection, never by a caller.
bool framing_field(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection");
}

// One pass per field, by comparison (find_first_of calls memchr per character).
bool breaks_framing(std::string_view name, std::string_view value) {
  if (name.empty()) return true;
  for (char c : name) {
    if (c == ':' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0') return true;
  }
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
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
