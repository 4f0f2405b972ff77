#pragma once
// The names in a verified client certificate that can identify a consumer: the subject's
// common name as "CN=...", and each subjectAltName entry as "DNS:...", "URI:..." or "email:...".
// OpenSSL only, no I/O.

#include <string>
#include <vector>

typedef struct x509_st X509;

namespace recgate {

std::vector<std::string> certificate_identities(X509* certificate);

}  // namespace recgate
