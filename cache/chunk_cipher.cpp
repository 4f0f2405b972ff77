#include "cache/chunk_cipher.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <initializer_list>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "cache/bytes.hpp"
#include "util/codec.hpp"
#include "util/digest.hpp"

namespace recgate::cache {
namespace {

constexpr unsigned char sealed_version = 1;
constexpr std::size_t max_key_id = 32;
constexpr std::string_view chunk_label{"recgate chunk key v1\0", 21};
constexpr std::string_view manifest_label{"recgate manifest v1\0", 20};

using digest = sha256_digest;

// The identity as bytes: length-prefixed so no two identities encode alike.
std::string identity_bytes(const chunk_identity& id) {
  std::string out;
  put_be(out, id.object.size(), 4);
  out.append(id.object);
  put_be(out, id.generation, 8);
  put_be(out, id.index, 4);
  return out;
}

// This chunk's own key, used for it alone; nullopt only when OpenSSL fails.
std::optional<digest> chunk_key(const cipher_key& master, std::string_view nonce,
                                std::string_view identity) {
  return hmac_sha256(master.secret, {chunk_label, nonce, identity});
}

const EVP_CIPHER* aes_256_gcm() {
  // Fetched once: an implicit fetch on every chunk would take a lock each time.
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

struct cipher_context {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~cipher_context() { EVP_CIPHER_CTX_free(ctx); }
  cipher_context() = default;
  cipher_context(const cipher_context&) = delete;
  cipher_context& operator=(const cipher_context&) = delete;
};

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

key_ring::key_ring(std::vector<cipher_key> keys) : keys_(std::move(keys)) {
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    assert(keys_[i].secret.size() == 32);
    for (std::size_t j = 0; j < i; ++j) assert(keys_[i].id != keys_[j].id);
  }
}

const cipher_key& key_ring::current() const {
  assert(!keys_.empty());
  return keys_.front();
}

const cipher_key* key_ring::find(std::string_view id) const {
  for (const auto& k : keys_) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

std::optional<std::string> seal_chunk(const key_ring& ring, const chunk_identity& id,
                                      std::string_view plaintext) {
  const auto& master = ring.current();
  std::string out;
  out.reserve(2 + master.id.size() + chunk_nonce_bytes + plaintext.size() + chunk_tag_bytes);
  out.push_back(static_cast<char>(sealed_version));
  out.push_back(static_cast<char>(master.id.size()));
  out.append(master.id);
  std::array<unsigned char, chunk_nonce_bytes> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) return std::nullopt;
  out.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  const std::size_t header_size = out.size();

  auto identity = identity_bytes(id);
  auto key =
      chunk_key(master, std::string_view(out).substr(header_size - chunk_nonce_bytes), identity);
  if (!key) return std::nullopt;
  std::string aad = out + identity;
  out.resize(header_size + plaintext.size() + chunk_tag_bytes);
  auto* cipher_out = reinterpret_cast<unsigned char*>(out.data() + header_size);

  cipher_context c;
  int len = 0;
  bool ok =
      c.ctx != nullptr && aes_256_gcm() != nullptr &&
      EVP_EncryptInit_ex2(c.ctx, aes_256_gcm(), key->data(), nonce.data(), nullptr) == 1 &&
      EVP_EncryptUpdate(c.ctx, nullptr, &len, bytes(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(c.ctx, cipher_out, &len, bytes(plaintext),
                        static_cast<int>(plaintext.size())) == 1 &&
      static_cast<std::size_t>(len) == plaintext.size() &&
      EVP_EncryptFinal_ex(c.ctx, cipher_out + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(chunk_tag_bytes),
                          cipher_out + plaintext.size()) == 1;
  OPENSSL_cleanse(key->data(), key->size());
  if (!ok) return std::nullopt;
  return out;
}

std::optional<sealed_header> parse_sealed(std::string_view sealed) {
  if (sealed.size() < 2 || static_cast<unsigned char>(sealed[0]) != sealed_version) {
    return std::nullopt;
  }
  auto id_size = static_cast<unsigned char>(sealed[1]);
  if (id_size == 0 || id_size > max_key_id) return std::nullopt;
  const std::size_t overhead = 2 + id_size + chunk_nonce_bytes + chunk_tag_bytes;
  if (sealed.size() < overhead) return std::nullopt;
  return sealed_header{sealed.substr(2, id_size), sealed.size() - overhead};
}

std::string_view to_string(open_status s) {
  switch (s) {
    case open_status::ok:
      return "ok";
    case open_status::malformed:
      return "not a sealed chunk";
    case open_status::unknown_key:
      return "sealed under a key that is not configured";
    case open_status::not_authentic:
      return "failed authentication";
  }
  return "?";
}

open_status open_chunk(const key_ring& ring, const chunk_identity& id, std::string_view sealed,
                       std::span<char> out) {
  auto header = parse_sealed(sealed);
  if (!header || out.size() != header->plaintext_size) return open_status::malformed;
  const auto* master = ring.find(header->key_id);
  if (master == nullptr) return open_status::unknown_key;
  const std::size_t header_size = 2 + header->key_id.size() + chunk_nonce_bytes;
  auto nonce = sealed.substr(header_size - chunk_nonce_bytes, chunk_nonce_bytes);
  auto ciphertext = sealed.substr(header_size, header->plaintext_size);
  auto tag = sealed.substr(header_size + header->plaintext_size);

  auto identity = identity_bytes(id);
  auto key = chunk_key(*master, nonce, identity);
  // OpenSSL failing here is as good as a failed check: the chunk is not served.
  if (!key) return open_status::not_authentic;
  std::string aad(sealed.substr(0, header_size));
  aad += identity;
  std::array<unsigned char, chunk_tag_bytes> expected{};
  std::copy(tag.begin(), tag.end(), reinterpret_cast<char*>(expected.data()));

  cipher_context c;
  int len = 0;
  auto* plain = reinterpret_cast<unsigned char*>(out.data());
  bool ok =
      c.ctx != nullptr && aes_256_gcm() != nullptr &&
      EVP_DecryptInit_ex2(c.ctx, aes_256_gcm(), key->data(), bytes(nonce), nullptr) == 1 &&
      EVP_DecryptUpdate(c.ctx, nullptr, &len, bytes(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(c.ctx, plain, &len, bytes(ciphertext),
                        static_cast<int>(ciphertext.size())) == 1 &&
      static_cast<std::size_t>(len) == ciphertext.size() &&
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(expected.size()),
                          expected.data()) == 1;
  // The tag is checked here, after the plaintext was written: the caller drops it unless ok.
  ok = ok && EVP_DecryptFinal_ex(c.ctx, plain + len, &len) == 1;
  OPENSSL_cleanse(key->data(), key->size());
  return ok ? open_status::ok : open_status::not_authentic;
}

std::optional<std::string> manifest_tag(const key_ring& ring, std::string_view key_id,
                                        std::string_view canonical) {
  const auto* master = ring.find(key_id);
  if (master == nullptr) return std::nullopt;
  auto mac = hmac_sha256(master->secret, {manifest_label, canonical});
  if (!mac) return std::nullopt;
  return to_hex(mac->data(), mac->size());
}

bool check_manifest_tag(const key_ring& ring, std::string_view key_id, std::string_view canonical,
                        std::string_view tag) {
  auto expected = manifest_tag(ring, key_id, canonical);
  return expected && expected->size() == tag.size() &&
         CRYPTO_memcmp(expected->data(), tag.data(), tag.size()) == 0;
}

}  // namespace recgate::cache
