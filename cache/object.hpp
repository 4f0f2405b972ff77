#pragma once
// What the cache stores: objects named by (AccountSid, Sid, format), each a body in fixed-size
// chunks plus a manifest. Plain data and pure functions; no RocksDB, no Asio.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace recgate::cache {

// Nothing from the request but these three parts ever enters a key: no query string, no Range,
// no credentials. ".wav" and no extension are both "wav".
struct object_key {
  std::string account_sid;  // lower-case UUID
  std::string sid;          // lower-case UUID
  std::string format;       // "wav" or "mp3"

  // "{account_sid}/{sid}/{format}": fixed-width UUIDs, so keys of one recording share a prefix.
  std::string encoded() const;
  // The inverse of encoded(); nullopt for anything else.
  static std::optional<object_key> decode(std::string_view text);
  bool operator==(const object_key&) const = default;
};

// A committed object's description. Written last, in the same batch as the final chunk.
struct manifest {
  std::uint64_t length = 0;
  std::string content_type;
  std::string sha256_hex;         // of the whole body
  std::int64_t created_unix = 0;  // when the fill completed
  std::uint64_t generation = 0;   // names this fill's chunks
  std::uint32_t chunk_size = 0;
  std::string last_modified;  // the upstream's, if it sent one
  // Encryption at rest: the id of the key the chunks are sealed under and the store's
  // authenticator of this manifest; both empty for a plaintext object.
  std::string key_id;
  std::string mac;

  // Strong validator derived from the content: the same bytes always give the same ETag.
  std::string etag() const;
  std::uint32_t chunk_count() const;

  std::string serialize() const;
  // nullopt for anything that is not a manifest this version wrote.
  static std::optional<manifest> parse(std::string_view text);
  bool operator==(const manifest&) const = default;
};

}  // namespace recgate::cache
