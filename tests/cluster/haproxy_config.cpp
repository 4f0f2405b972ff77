#include "haproxy_config.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace cluster_test {
namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::string_view trim(std::string_view s) {
  auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

std::string_view first_word(std::string_view line) {
  line = trim(line);
  return line.substr(0, line.find_first_of(" \t"));
}

// HAProxy's section keywords: a line starting with one of them opens a section.
bool opens_section(std::string_view line) {
  static constexpr std::array<std::string_view, 13> keywords{
      "global",   "defaults", "frontend", "backend",     "listen", "resolvers", "peers",
      "userlist", "mailers",  "program",  "http-errors", "ring",   "cache"};
  auto word = first_word(line);
  return std::find(keywords.begin(), keywords.end(), word) != keywords.end();
}

// A section's name as section_lines takes it: its keyword and name, single-spaced.
std::string section_name(std::string_view line) {
  std::string name;
  line = trim(line);
  while (!line.empty()) {
    auto word = line.substr(0, line.find_first_of(" \t"));
    if (word.starts_with('#')) break;
    if (!name.empty()) name += ' ';
    name += word;
    line = trim(line.substr(word.size()));
  }
  return name;
}

std::string_view without_comment(std::string_view line) {
  auto hash = line.find('#');
  return trim(hash == std::string_view::npos ? line : line.substr(0, hash));
}

}  // namespace

std::string localize_config(std::string_view shipped, const loopback_site& site) {
  std::string out;
  std::string section;
  int binds = 0;
  int stats_sockets = 0;
  int servers = 0;
  for (auto line : split_lines(shipped)) {
    auto directive = without_comment(line);
    auto word = first_word(directive);
    if (opens_section(line)) section = section_name(line);
    if (section == "global" &&
        (word == "chroot" || word == "user" || word == "group" || word == "daemon")) {
      continue;
    }
    if (directive.starts_with("stats socket ")) {
      ++stats_sockets;
      auto rest = trim(directive.substr(std::string_view("stats socket ").size()));
      auto options = rest.find_first_of(" \t");
      out += "    stats socket " + site.stats_socket +
             (options == std::string_view::npos ? "" : std::string(rest.substr(options))) + "\n";
      continue;
    }
    if (word == "bind") {
      ++binds;
      out += "    bind 127.0.0.1:" + std::to_string(site.frontend_port) + "\n";
      continue;
    }
    if (section == "backend recgate" && word == "server") {
      if (servers++ == 0) {
        for (std::size_t i = 0; i < site.servers.size(); ++i) {
          const auto& s = site.servers[i];
          out += "    server " + s.name + " 127.0.0.1:" + std::to_string(s.port) + " id " +
                 std::to_string(i + 1) + " port " + std::to_string(s.admin_port) + "\n";
        }
      }
      continue;
    }
    out += std::string(line) + "\n";
  }
  auto require = [](bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("the shipped HAProxy config needs ") + what);
  };
  require(binds == 1, "exactly one bind");
  require(stats_sockets == 1, "one stats socket");
  require(servers > 0, "server lines in backend recgate");
  return out;
}

std::string configmap_entry(std::string_view yaml, std::string_view key) {
  auto lines = split_lines(yaml);
  const std::string header = std::string(key) + ": |";
  auto start = std::find_if(lines.begin(), lines.end(),
                            [&](std::string_view l) { return trim(l) == header; });
  if (start == lines.end()) throw std::runtime_error("no `" + header + "` in the manifest");
  auto key_indent = start->find_first_not_of(' ');
  std::string out;
  std::size_t indent = std::string_view::npos;  // of the block: its first non-blank line's
  for (auto it = start + 1; it != lines.end(); ++it) {
    auto text = *it;
    if (trim(text).empty()) {
      out += "\n";
      continue;
    }
    auto this_indent = text.find_first_not_of(' ');
    if (this_indent <= key_indent) break;
    if (indent == std::string_view::npos) indent = this_indent;
    if (this_indent < indent) break;
    out += std::string(text.substr(indent)) + "\n";
  }
  return out;
}

std::vector<std::string> section_lines(std::string_view cfg, std::string_view section,
                                       bool skip_servers) {
  std::vector<std::string> out;
  bool inside = false;
  for (auto line : split_lines(cfg)) {
    if (opens_section(line)) {
      inside = section_name(line) == section;
      continue;
    }
    auto directive = without_comment(line);
    if (!inside || directive.empty()) continue;
    if (skip_servers && first_word(directive) == "server") continue;
    out.emplace_back(directive);
  }
  return out;
}

std::map<std::string, server_state> parse_show_stat(std::string_view csv,
                                                    std::string_view backend) {
  auto split_fields = [](std::string_view line) {
    std::vector<std::string_view> fields;
    for (;;) {
      auto comma = line.find(',');
      fields.push_back(line.substr(0, comma));
      if (comma == std::string_view::npos) break;
      line.remove_prefix(comma + 1);
    }
    return fields;
  };
  std::map<std::string, server_state> out;
  auto lines = split_lines(csv);
  if (lines.empty() || !lines[0].starts_with("# ")) return out;
  auto header = split_fields(lines[0].substr(2));
  auto column = [&](std::string_view name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  auto status = column("status");
  auto check = column("check_status");
  auto retries = column("wretr");
  auto redispatches = column("wredis");
  for (auto c : {status, check, retries, redispatches}) {
    if (c == header.size()) return out;
  }
  auto number = [](std::string_view field) {
    return field.empty() ? 0L : std::stol(std::string(field));
  };
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto fields = split_fields(lines[i]);
    if (fields.size() < header.size() || fields[0] != backend) continue;
    if (fields[1] == "FRONTEND" || fields[1] == "BACKEND") continue;
    out[std::string(fields[1])] = {std::string(fields[status]), std::string(fields[check]),
                                   number(fields[retries]), number(fields[redispatches])};
  }
  return out;
}

}  // namespace cluster_test
