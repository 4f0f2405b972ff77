#include "proxy/access/client_certificate.hpp"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace recgate {
namespace {

// An ASN.1 string as text, or empty when it holds a NUL (a name forged to look like another).
std::string text_of(const ASN1_STRING* s) {
  if (s == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                  static_cast<std::size_t>(ASN1_STRING_length(s)));
  if (out.find('\0') != std::string::npos) return {};
  return out;
}

}  // namespace

std::vector<std::string> certificate_identities(X509* certificate) {
  std::vector<std::string> out;
  if (certificate == nullptr) return out;
  X509_NAME* subject = X509_get_subject_name(certificate);
  for (int i = -1; subject != nullptr;) {
    i = X509_NAME_get_index_by_NID(subject, NID_commonName, i);
    if (i < 0) break;
    auto cn = text_of(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
    if (!cn.empty()) out.push_back("CN=" + cn);
  }
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    std::string value;
    const char* prefix = nullptr;
    if (name->type == GEN_DNS)
      prefix = "DNS:";
    else if (name->type == GEN_URI)
      prefix = "URI:";
    else if (name->type == GEN_EMAIL)
      prefix = "email:";
    if (prefix == nullptr) continue;
    value = text_of(name->d.ia5);
    if (!value.empty()) out.push_back(prefix + value);
  }
  GENERAL_NAMES_free(names);
  return out;
}

}  // namespace recgate
