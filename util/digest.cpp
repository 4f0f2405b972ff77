#include "util/digest.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "util/codec.hpp"

namespace recgate {
namespace {

// An HMAC context for `digest_name`, set up once; each call works on a copy (copying only reads
// it, so threads may share it). Null when OpenSSL cannot provide it.
EVP_MAC_CTX* make_hmac_template(const char* digest_name) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* c = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
  EVP_MAC_free(mac);  // the context holds its own reference
  std::string name(digest_name);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name.data(), 0),
                         OSSL_PARAM_construct_end()};
  if (c != nullptr && EVP_MAC_CTX_set_params(c, params) != 1) {
    EVP_MAC_CTX_free(c);
    c = nullptr;
  }
  return c;
}

template <std::size_t N>
std::optional<std::array<unsigned char, N>> hmac(const EVP_MAC_CTX* tmpl, std::string_view key,
                                                 std::initializer_list<std::string_view> parts) {
  if (tmpl == nullptr) return std::nullopt;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(tmpl);
  bool ok = ctx != nullptr && EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()),
                                           key.size(), nullptr) == 1;
  for (auto part : parts) {
    ok = ok &&
         EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()), part.size()) == 1;
  }
  std::optional<std::array<unsigned char, N>> out(std::in_place);
  std::size_t len = 0;
  ok = ok && EVP_MAC_final(ctx, out->data(), &len, out->size()) == 1 && len == out->size();
  EVP_MAC_CTX_free(ctx);
  if (!ok) {
    OPENSSL_cleanse(out->data(), out->size());
    return std::nullopt;
  }
  return out;
}

}  // namespace

sha256_digest sha256(std::string_view data) {
  sha256_digest out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

sha256_stream::sha256_stream() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}

sha256_stream::~sha256_stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void sha256_stream::update(const char* data, std::size_t size) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size);
}

std::string sha256_stream::final_hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out, &len);
  return to_hex(out, len);
}

std::optional<sha256_digest> hmac_sha256(std::string_view key,
                                         std::initializer_list<std::string_view> parts) {
  static const EVP_MAC_CTX* tmpl = make_hmac_template("SHA256");
  return hmac<32>(tmpl, key, parts);
}

std::optional<sha1_digest> hmac_sha1(std::string_view key, std::string_view data) {
  static const EVP_MAC_CTX* tmpl = make_hmac_template("SHA1");
  return hmac<20>(tmpl, key, {data});
}

}  // namespace recgate
