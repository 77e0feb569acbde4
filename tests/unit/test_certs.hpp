// A throwaway PKI for the TLS tests, generated at test time with the
// OpenSSL 3 C API (libcrypto only, no `openssl` command line) into a fresh
// private temporary directory (mkdtemp under $TMPDIR, else /tmp) that the
// destructor removes again.
//
//   parley::testing::TestPki pki;  // a few milliseconds
//   SSL_CTX_use_certificate_chain_file(server_ctx, pki.path("server-chain.pem").c_str());
//   SSL_CTX_use_PrivateKey_file(server_ctx, pki.path("server.key").c_str(), SSL_FILETYPE_PEM);
//   SSL_CTX_load_verify_locations(client_ctx, pki.path("ca.pem").c_str(), nullptr);
//
// Files (certificates and keys in PEM; keys are EC P-256 in unencrypted
// PKCS#8 unless said otherwise; everything signed with SHA-256; every
// certificate has a distinct random serial, a subjectKeyIdentifier and,
// for all but the self-signed CAs, an authorityKeyIdentifier):
//
//   ca.pem, ca.key           self-signed CA "parley test CA": basicConstraints
//                            critical CA:TRUE, keyUsage critical keyCertSign
//                            and cRLSign; valid now-30d .. now+365d.
//   other-ca.pem             a second, unrelated self-signed CA ("unknown CA"
//                            tests); its key is not written.
//   server.pem, server.key   leaf signed by ca: CN=localhost, SAN
//                            DNS:localhost, IP:127.0.0.1, IP:::1, EKU
//                            serverAuth; valid now-1h .. now+1d. server.pem
//                            holds the leaf only.
//   server-chain.pem         server.pem followed by ca.pem.
//   other-host.pem/.key      leaf signed by ca, SAN DNS:example.invalid only
//                            (wrong hostname), EKU serverAuth.
//   expired.pem/.key         like server but valid now-10d .. now-1d.
//   sni.pem/.key             leaf signed by ca, SAN DNS:sni.example.test,
//                            EKU serverAuth (SNI selection tests).
//   client.pem/.key          leaf signed by ca, CN=parley-test-client, no SAN,
//                            EKU clientAuth (mutual TLS).
//   encrypted.key            the server key again, as encrypted PKCS#8
//                            (PBES2, AES-256-CBC), password TestPki::kKeyPassword
//                            ("secret").
//
// All leaves have basicConstraints CA:FALSE and keyUsage critical
// digitalSignature. The constructor throws std::runtime_error (carrying the
// OpenSSL error queue's text, or errno's) on any failure, and leaves no
// directory behind when it does. The object is neither copyable nor
// movable; share one per test suite (e.g. a static in SetUpTestSuite) if
// generating one per test is too slow under sanitizers.
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>  // mkdtemp

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace parley::testing {
namespace detail {

// unique_ptr deleter calling an OpenSSL free function.
template <auto Free>
struct OsslFree {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, OsslFree<&EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OsslFree<&X509_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, OsslFree<&X509_EXTENSION_free>>;
using BioPtr = std::unique_ptr<BIO, OsslFree<&BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, OsslFree<&BN_free>>;

// Throws std::runtime_error("TestPki: <what>: <OpenSSL error queue>") and
// empties the queue.
[[noreturn]] inline void fail(std::string_view what) {
  std::string msg = "TestPki: ";
  msg += what;
  bool any = false;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    msg += any ? "; " : ": ";
    msg += buf;
    any = true;
  }
  if (!any) msg += ": (no OpenSSL error queued)";
  throw std::runtime_error(msg);
}

inline PkeyPtr make_key() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("EC P-256 key generation");
  return key;
}

// What make_cert() issues.
struct CertSpec {
  const char* cn = nullptr;
  const char* org = "parley tests";
  bool ca = false;
  const char* san = nullptr;  // subjectAltName in OpenSSL config syntax
  const char* eku = nullptr;  // extendedKeyUsage, e.g. "serverAuth"
  long not_before = 0;        // seconds relative to now
  long not_after = 0;
};

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext) fail(std::string("building extension ") + OBJ_nid2sn(nid) + "=" + value);
  if (X509_add_ext(cert, ext.get(), -1) != 1) fail("adding an extension");
}

inline void add_name(X509_NAME* name, const char* field, const char* value) {
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value), -1, -1,
                                 0) != 1)
    fail(std::string("setting name field ") + field);
}

// Issues a certificate for `key` signed by issuer/issuer_key, or self-signed
// (by `key`) when `issuer` is null.
inline X509Ptr make_cert(const CertSpec& spec, EVP_PKEY* key, X509* issuer,
                         EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert) fail("X509_new");
  X509* x = cert.get();
  if (X509_set_version(x, X509_VERSION_3) != 1) fail("X509_set_version");

  // 159 random bits with the top one set: positive, non-zero, at most 20
  // octets encoded (RFC 5280 4.1.2.2), and distinct in practice.
  BnPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 159, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x)) == nullptr)
    fail("random serial number");

  if (X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after) == nullptr)
    fail("setting validity");

  X509_NAME* subject = X509_get_subject_name(x);
  if (spec.org != nullptr) add_name(subject, "O", spec.org);
  add_name(subject, "CN", spec.cn);
  const bool self_signed = issuer == nullptr;
  if (X509_set_issuer_name(x, self_signed ? subject : X509_get_subject_name(issuer)) != 1)
    fail("setting issuer name");
  if (X509_set_pubkey(x, key) != 1) fail("X509_set_pubkey");

  X509* iss = self_signed ? x : issuer;
  if (spec.ca) {
    add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, iss, NID_basic_constraints, "CA:FALSE");
    add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
  }
  if (spec.eku != nullptr) add_ext(x, iss, NID_ext_key_usage, spec.eku);
  if (spec.san != nullptr) add_ext(x, iss, NID_subject_alt_name, spec.san);
  // The subject key id must exist before the authority key id is derived
  // from the issuer's (for a self-signed CA, that is this very certificate).
  add_ext(x, iss, NID_subject_key_identifier, "hash");
  if (!self_signed) add_ext(x, iss, NID_authority_key_identifier, "keyid:always");

  if (X509_sign(x, self_signed ? key : issuer_key, EVP_sha256()) <= 0)
    fail(std::string("signing certificate CN=") + spec.cn);
  return cert;
}

inline BioPtr open_for_write(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  if (!bio) fail("opening " + path);
  return bio;
}

inline void close_written(BioPtr bio, const std::string& path) {
  if (BIO_flush(bio.get()) != 1) fail("writing " + path);
}

inline void write_certs(const std::string& path, std::initializer_list<X509*> certs) {
  BioPtr bio = open_for_write(path);
  for (X509* c : certs)
    if (PEM_write_bio_X509(bio.get(), c) != 1) fail("writing " + path);
  close_written(std::move(bio), path);
}

inline void write_key(const std::string& path, EVP_PKEY* key,
                      const EVP_CIPHER* cipher = nullptr, std::string_view password = {}) {
  BioPtr bio = open_for_write(path);
  if (PEM_write_bio_PrivateKey(bio.get(), key, cipher,
                               reinterpret_cast<const unsigned char*>(password.data()),
                               static_cast<int>(password.size()), nullptr, nullptr) != 1)
    fail("writing " + path);
  close_written(std::move(bio), path);
}

// Owns the temporary directory; a member of TestPki constructed before any
// generation so that it is removed even when the constructor throws.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = (base != nullptr && *base != '\0') ? base : "/tmp";
    while (tmpl.size() > 1 && tmpl.back() == '/') tmpl.pop_back();
    tmpl += "/parley-pki-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      const int err = errno;
      throw std::runtime_error("TestPki: mkdtemp(" + tmpl + "): " + std::strerror(err));
    }
    path_ = std::move(tmpl);
  }
  ~TempDir() {
    std::error_code ec;  // never throw from here
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

}  // namespace detail

class TestPki {
 public:
  // Password of encrypted.key.
  static constexpr const char* kKeyPassword = "secret";

  // Generates every file listed at the top of this header.
  TestPki() {
    using detail::CertSpec;
    constexpr long kHour = 3600;
    constexpr long kDay = 24 * kHour;
    constexpr const char* kLocalSan = "DNS:localhost,IP:127.0.0.1,IP:::1";

    const detail::PkeyPtr ca_key = detail::make_key();
    CertSpec ca_spec;
    ca_spec.cn = "parley test CA";
    ca_spec.ca = true;
    ca_spec.not_before = -30 * kDay;  // covers expired.pem's whole validity
    ca_spec.not_after = 365 * kDay;
    const detail::X509Ptr ca = detail::make_cert(ca_spec, ca_key.get(), nullptr, nullptr);
    detail::write_certs(path("ca.pem"), {ca.get()});
    detail::write_key(path("ca.key"), ca_key.get());

    {
      const detail::PkeyPtr key = detail::make_key();
      CertSpec spec = ca_spec;
      spec.cn = "parley other test CA";
      spec.org = "parley other tests";
      const detail::X509Ptr other = detail::make_cert(spec, key.get(), nullptr, nullptr);
      detail::write_certs(path("other-ca.pem"), {other.get()});
    }

    // Issues a leaf from ca and writes <stem>.pem and <stem>.key.
    auto leaf = [&](const char* stem, const CertSpec& spec, EVP_PKEY* key) {
      detail::X509Ptr cert = detail::make_cert(spec, key, ca.get(), ca_key.get());
      detail::write_certs(path(std::string(stem) + ".pem"), {cert.get()});
      detail::write_key(path(std::string(stem) + ".key"), key);
      return cert;
    };

    CertSpec server;
    server.cn = "localhost";
    server.san = kLocalSan;
    server.eku = "serverAuth";
    server.not_before = -kHour;
    server.not_after = kDay;
    const detail::PkeyPtr server_key = detail::make_key();
    const detail::X509Ptr server_cert = leaf("server", server, server_key.get());
    detail::write_certs(path("server-chain.pem"), {server_cert.get(), ca.get()});
    detail::write_key(path("encrypted.key"), server_key.get(), EVP_aes_256_cbc(),
                      kKeyPassword);

    CertSpec other_host = server;
    other_host.cn = "example.invalid";
    other_host.san = "DNS:example.invalid";
    leaf("other-host", other_host, detail::make_key().get());

    CertSpec expired = server;
    expired.not_before = -10 * kDay;
    expired.not_after = -kDay;
    leaf("expired", expired, detail::make_key().get());

    CertSpec sni = server;
    sni.cn = "sni.example.test";
    sni.san = "DNS:sni.example.test";
    leaf("sni", sni, detail::make_key().get());

    CertSpec client;
    client.cn = "parley-test-client";
    client.eku = "clientAuth";
    client.not_before = -kHour;
    client.not_after = kDay;
    leaf("client", client, detail::make_key().get());
  }

  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // Removes the directory and everything in it (errors are ignored).
  ~TestPki() = default;

  // The temporary directory, without a trailing slash.
  const std::string& dir() const noexcept { return dir_.path(); }

  // dir() + "/" + name; `name` is one of the files listed above.
  std::string path(std::string_view name) const {
    std::string p = dir();
    p += '/';
    p += name;
    return p;
  }

 private:
  detail::TempDir dir_;
};

}  // namespace parley::testing
