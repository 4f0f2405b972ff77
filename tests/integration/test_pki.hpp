#pragma once
// A test CA and certificates made by the openssl command line, shared by the TLS tests.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "child_process.hpp"
#include "gateway_fixture.hpp"  // run

namespace gateway_test {

namespace fs = std::filesystem;

// A test CA and the server certificates signed by it, made once for the whole file (~0.1 s).
// Every server certificate has the same key.
struct test_pki {
  fs::path dir;
  fs::path ca;         // the CA certificate: what ca_file points at
  fs::path key;        // the key of every server certificate below
  fs::path localhost;  // DNS:localhost, IP:127.0.0.1
  fs::path other;      // DNS:other.example only
  fs::path expired;    // DNS:localhost, IP:127.0.0.1, valid in 2020 only

  test_pki() {
    std::random_device rd;
    dir =
        fs::temp_directory_path() / ("recgate-pki-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(dir);
    ca = dir / "ca.pem";
    key = dir / "server.key";
    localhost = dir / "localhost.pem";
    other = dir / "other.pem";
    expired = dir / "expired.pem";
    const std::string ca_key = (dir / "ca.key").string();
    // EC keys: an RSA key costs more than all the rest together.
    run({"openssl",
         "req",
         "-x509",
         "-newkey",
         "ec",
         "-pkeyopt",
         "ec_paramgen_curve:prime256v1",
         "-nodes",
         "-keyout",
         ca_key,
         "-out",
         ca.string(),
         "-days",
         "2",
         "-subj",
         "/CN=recgate test CA",
         "-addext",
         "basicConstraints=critical,CA:TRUE",
         "-addext",
         "keyUsage=critical,keyCertSign,cRLSign"});
    run({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-out", key.string()});
    const fs::path localhost_csr = request("localhost", "DNS:localhost,IP:127.0.0.1");
    sign(localhost_csr, localhost);
    sign(request("other.example", "DNS:other.example"), other);

    // `openssl x509 -req` in OpenSSL 3.0 cannot backdate a certificate; `openssl ca` can, given a
    // minimal configuration and its database files.
    std::ofstream(dir / "ca.cnf") << "[ca]\ndefault_ca = test_ca\n"
                                  << "[test_ca]\ndatabase = " << (dir / "index.txt").string()
                                  << "\nserial = " << (dir / "serial").string()
                                  << "\nnew_certs_dir = " << dir.string()
                                  << "\ndefault_md = sha256\npolicy = any\n"
                                  << "copy_extensions = copy\nunique_subject = no\n"
                                  << "[any]\ncommonName = supplied\n";
    std::ofstream(dir / "index.txt").flush();
    run({"openssl", "ca", "-batch", "-config", (dir / "ca.cnf").string(), "-cert", ca.string(),
         "-keyfile", ca_key, "-in", localhost_csr.string(), "-out", expired.string(), "-startdate",
         "20200101000000Z", "-enddate", "20210101000000Z", "-rand_serial", "-notext"});
  }
  // A client certificate for mTLS, signed by the CA, with the shared key.
  fs::path client(const std::string& cn, const std::string& san) const {
    const fs::path out = dir / ("client-" + cn + ".pem");
    if (!fs::exists(out)) sign(request(cn, san), out);
    return out;
  }
  ~test_pki() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;

 private:
  fs::path request(const std::string& cn, const std::string& san) const {
    const fs::path csr = dir / (cn + ".csr");
    std::vector<std::string> argv{"openssl", "req",       "-new", "-key",      key.string(),
                                  "-subj",   "/CN=" + cn, "-out", csr.string()};
    if (!san.empty()) argv.insert(argv.end(), {"-addext", "subjectAltName=" + san});
    run(argv);
    return csr;
  }
  void sign(const fs::path& csr, const fs::path& out) const {
    run({"openssl", "x509", "-req", "-in", csr.string(), "-CA", ca.string(), "-CAkey",
         (dir / "ca.key").string(), "-days", "2", "-copy_extensions", "copy", "-out",
         out.string()});
  }
};

// The one instance for a test binary (made on first use, ~0.1 s).
const test_pki& pki();

}  // namespace gateway_test
