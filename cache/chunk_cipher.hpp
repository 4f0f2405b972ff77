#pragma once
// Encryption at rest for cached audio: AES-256-GCM (OpenSSL EVP) per chunk, plus an HMAC that
// authenticates manifests. Pure functions over bytes; no RocksDB, no Asio; OpenSSL stays in the
// .cpp.
//
// A sealed chunk is
//   version (1 byte, 1) | key id length L (1 byte) | key id (L bytes) | nonce (12 bytes)
//   | ciphertext (as long as the plaintext) | GCM tag (16 bytes)
// Every chunk is encrypted under a key of its own, HMAC-SHA256(master key, label | nonce |
// identity), where the nonce is 96 random bits and the identity is the object's encoded key, the
// fill's generation and the chunk's index. A derived key seals exactly one chunk, so no GCM nonce
// is ever used twice under one key, even if a fill of the same object and generation is repeated
// (a clock set back) and however many chunks one master key seals. The header and the identity
// are also the GCM additional data: a chunk moved to another object, generation or position, or
// given another key id, does not authenticate.
//
// Thread safety: every function may be called from any thread at once.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace recgate::cache {

// A master key: an id (1 to 32 of [A-Za-z0-9._-]) and 32 secret bytes. Never logged.
struct cipher_key {
  std::string id;
  std::string secret;
};

// The keys a store may use. The first seals new chunks and manifests; every one opens.
class key_ring {
 public:
  key_ring() = default;
  // Prereq: each key valid (see cipher_key) and ids distinct; config/ checks this.
  explicit key_ring(std::vector<cipher_key> keys);

  bool empty() const { return keys_.empty(); }
  // Prereq: !empty().
  const cipher_key& current() const;
  const cipher_key* find(std::string_view id) const;

 private:
  std::vector<cipher_key> keys_;
};

// Where a chunk belongs. The sealed bytes are bound to exactly this.
struct chunk_identity {
  std::string_view object;  // object_key::encoded()
  std::uint64_t generation = 0;
  std::uint32_t index = 0;
};

inline constexpr std::size_t chunk_nonce_bytes = 12;
inline constexpr std::size_t chunk_tag_bytes = 16;

// The sealed form of `plaintext` under the ring's current key; nullopt only when OpenSSL fails
// (no randomness). Prereq: !ring.empty().
std::optional<std::string> seal_chunk(const key_ring& ring, const chunk_identity& id,
                                      std::string_view plaintext);

// The key id a sealed chunk names and its plaintext size; nullopt when it is not a sealed chunk.
struct sealed_header {
  std::string_view key_id;
  std::size_t plaintext_size = 0;
};
std::optional<sealed_header> parse_sealed(std::string_view sealed);

enum class open_status { ok, malformed, unknown_key, not_authentic };
std::string_view to_string(open_status s);

// Decrypts into `out` (exactly parse_sealed(sealed)->plaintext_size bytes). Anything but ok
// leaves `out` with bytes that must not be used.
open_status open_chunk(const key_ring& ring, const chunk_identity& id, std::string_view sealed,
                       std::span<char> out);

// The manifest authenticator: hex HMAC-SHA256 under key `key_id` of `canonical` (the manifest's
// fields with the object's identity, made by the store). nullopt when the ring has no such key
// (or OpenSSL fails).
std::optional<std::string> manifest_tag(const key_ring& ring, std::string_view key_id,
                                        std::string_view canonical);
// True when `tag` is manifest_tag(ring, key_id, canonical) (compared in constant time).
bool check_manifest_tag(const key_ring& ring, std::string_view key_id, std::string_view canonical,
                        std::string_view tag);

}  // namespace recgate::cache
