#include "cache/object.hpp"

#include <nlohmann/json.hpp>

namespace recgate::cache {

std::string object_key::encoded() const {
  // One allocation (the chained + made four): this runs several times per hit.
  std::string out;
  out.reserve(account_sid.size() + sid.size() + format.size() + 2);
  out.append(account_sid).append(1, '/').append(sid).append(1, '/').append(format);
  return out;
}

std::optional<object_key> object_key::decode(std::string_view text) {
  auto first = text.find('/');
  auto second = first == std::string_view::npos ? first : text.find('/', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  object_key key{std::string(text.substr(0, first)),
                 std::string(text.substr(first + 1, second - first - 1)),
                 std::string(text.substr(second + 1))};
  if (key.account_sid.empty() || key.sid.empty() || key.format.empty()) return std::nullopt;
  return key;
}

std::string manifest::etag() const { return "\"" + sha256_hex.substr(0, 32) + "\""; }

std::uint32_t manifest::chunk_count() const {
  if (chunk_size == 0) return 0;
  return static_cast<std::uint32_t>((length + chunk_size - 1) / chunk_size);
}

std::string manifest::serialize() const {
  nlohmann::json j{{"v", 1},
                   {"length", length},
                   {"content_type", content_type},
                   {"sha256", sha256_hex},
                   {"created", created_unix},
                   {"generation", generation},
                   {"chunk_size", chunk_size},
                   {"last_modified", last_modified}};
  // Only encrypted objects carry these: a plaintext manifest stays as earlier versions wrote it.
  if (!key_id.empty()) j["key"] = key_id;
  if (!mac.empty()) j["mac"] = mac;
  // Header values from the upstream may hold any bytes: never throw on them.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<manifest> manifest::parse(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("v", 0) != 1) return std::nullopt;
  try {
    manifest m;
    m.length = j.at("length").get<std::uint64_t>();
    m.content_type = j.at("content_type").get<std::string>();
    m.sha256_hex = j.at("sha256").get<std::string>();
    m.created_unix = j.at("created").get<std::int64_t>();
    m.generation = j.at("generation").get<std::uint64_t>();
    m.chunk_size = j.at("chunk_size").get<std::uint32_t>();
    m.last_modified = j.value("last_modified", "");
    m.key_id = j.value("key", "");
    m.mac = j.value("mac", "");
    if (m.chunk_size == 0 || m.sha256_hex.size() != 64) return std::nullopt;
    return m;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace recgate::cache
