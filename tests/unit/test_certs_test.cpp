// The test PKI helper (test_certs.hpp): every file is checked with the
// OpenSSL API to really be what the header says it is, so that a TLS test
// failing on, say, "unknown CA" can trust that the fixture is right.
#include "test_certs.hpp"

#include <gtest/gtest.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <stdlib.h>  // mkdtemp, setenv, unsetenv
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Pki = parley::testing::TestPki;
using parley::testing::detail::BioPtr;
using parley::testing::detail::OsslFree;
using parley::testing::detail::PkeyPtr;
using parley::testing::detail::X509Ptr;
using StorePtr = std::unique_ptr<X509_STORE, OsslFree<&X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OsslFree<&X509_STORE_CTX_free>>;
using SigPtr = std::unique_ptr<X509_SIG, OsslFree<&X509_SIG_free>>;
using Pbe2Ptr = std::unique_ptr<PBE2PARAM, OsslFree<&PBE2PARAM_free>>;

const char* const kAllFiles[] = {
    "ca.pem",         "ca.key",         "other-ca.pem",
    "server.pem",     "server.key",     "server-chain.pem",
    "other-host.pem", "other-host.key", "expired.pem",
    "expired.key",    "sni.pem",        "sni.key",
    "client.pem",     "client.key",     "encrypted.key",
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

BioPtr open_read(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) throw std::runtime_error("cannot open " + path);
  return bio;
}

// Every certificate in a PEM file, in order.
std::vector<X509Ptr> load_certs(const std::string& path) {
  BioPtr bio = open_read(path);
  std::vector<X509Ptr> certs;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(c);
  ERR_clear_error();  // the read that ended the loop queued "no start line"
  return certs;
}

// The first certificate in a PEM file (throws if there is none).
X509Ptr load_cert(const std::string& path) {
  std::vector<X509Ptr> certs = load_certs(path);
  if (certs.empty()) throw std::runtime_error("no certificate in " + path);
  return std::move(certs.front());
}

// Hands OpenSSL the password passed as `u` (a C string), or cancels when
// there is none, so that no test ever falls back to prompting on a tty.
extern "C" int password_cb(char* buf, int size, int /*rwflag*/, void* u) {
  if (u == nullptr) return -1;
  const auto* pw = static_cast<const char*>(u);
  const int len = static_cast<int>(std::strlen(pw));
  if (len > size) return -1;
  std::memcpy(buf, pw, static_cast<size_t>(len));
  return len;
}

// The private key in a PEM file, or null (with the error queue cleared).
PkeyPtr load_key(const std::string& path, const char* password = nullptr) {
  BioPtr bio = open_read(path);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, &password_cb,
                                      const_cast<char*>(password)));
  ERR_clear_error();
  return key;
}

// X509_verify_cert of `leaf` against the single trust anchor `anchor`, for
// `purpose` (0: any). Returns X509_V_OK or the verification error.
int verify(X509* leaf, X509* anchor, int purpose = 0) {
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), anchor) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) != 1)
    throw std::runtime_error("cannot set up verification");
  if (purpose != 0 && X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1)
    throw std::runtime_error("cannot set purpose");
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  if (ok == 1) return X509_V_OK;
  return err == X509_V_OK ? X509_V_ERR_UNSPECIFIED : err;
}

std::string verify_text(int err) { return X509_verify_cert_error_string(err); }

bool host_ok(X509* cert, const char* host) {
  return X509_check_host(cert, host, 0, 0, nullptr) == 1;
}

bool ip_ok(X509* cert, const char* ip) { return X509_check_ip_asc(cert, ip, 0) == 1; }

std::string common_name(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

// Seconds from now to `t` (negative: in the past).
double seconds_from_now(const ASN1_TIME* t) {
  int days = 0;
  int secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, t) != 1) throw std::runtime_error("ASN1_TIME_diff");
  return days * 86400.0 + secs;
}

bool has_eku(X509* cert, uint32_t bit) {
  return (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0 &&
         (X509_get_extended_key_usage(cert) & bit) != 0;
}

bool same_octets(const ASN1_OCTET_STRING* a, const ASN1_OCTET_STRING* b) {
  return a != nullptr && b != nullptr && ASN1_OCTET_STRING_cmp(a, b) == 0;
}

// One PKI for the whole suite (the fixture is named TestPki so the tests
// are TestPki.*); the tests that check creation and removal make their own.
class TestPki : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new Pki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  static std::string path(const char* name) { return pki_->path(name); }
  static X509Ptr cert(const char* name) { return load_cert(path(name)); }

  static Pki* pki_;
};

Pki* TestPki::pki_ = nullptr;

// Sets an environment variable for one scope, restoring it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST_F(TestPki, WritesEveryFileIntoAPrivateDirectory) {
  struct stat st {};
  ASSERT_EQ(::stat(pki_->dir().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(path("x.pem"), pki_->dir() + "/x.pem");
  for (const char* name : kAllFiles) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(fs::is_regular_file(path(name)));
    EXPECT_GT(fs::file_size(path(name)), 0u);
  }
}

TEST_F(TestPki, CaIsASelfSignedCertificateAuthority) {
  const X509Ptr ca = cert("ca.pem");
  const PkeyPtr ca_key = load_key(path("ca.key"));
  ASSERT_TRUE(ca_key);
  EXPECT_EQ(X509_check_private_key(ca.get(), ca_key.get()), 1);
  EXPECT_EQ(X509_verify(ca.get(), ca_key.get()), 1);  // self-signed
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(ca.get()), X509_get_issuer_name(ca.get())), 0);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);  // basicConstraints CA:TRUE
  EXPECT_NE(X509_get_extension_flags(ca.get()) & EXFLAG_KUSAGE, 0u);
  EXPECT_NE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN, 0u);
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  EXPECT_EQ(verify(ca.get(), ca.get()), X509_V_OK);
  EXPECT_EQ(X509_get_signature_nid(ca.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(X509_get_version(ca.get()), X509_VERSION_3);
}

TEST_F(TestPki, ServerVerifiesAgainstCaForLocalhost) {
  const X509Ptr ca = cert("ca.pem");
  const X509Ptr server = cert("server.pem");
  const int err = verify(server.get(), ca.get(), X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(err, X509_V_OK) << verify_text(err);
  EXPECT_EQ(common_name(server.get()), "localhost");
  EXPECT_TRUE(host_ok(server.get(), "localhost"));
  EXPECT_TRUE(ip_ok(server.get(), "127.0.0.1"));
  EXPECT_TRUE(ip_ok(server.get(), "::1"));
  EXPECT_FALSE(host_ok(server.get(), "example.invalid"));
  EXPECT_FALSE(ip_ok(server.get(), "127.0.0.2"));
  EXPECT_TRUE(has_eku(server.get(), XKU_SSL_SERVER));
  EXPECT_FALSE(has_eku(server.get(), XKU_SSL_CLIENT));
  EXPECT_EQ(X509_check_ca(server.get()), 0);
  EXPECT_EQ(X509_get_signature_nid(server.get()), NID_ecdsa_with_SHA256);

  // Valid from an hour ago to a day from now (a minute's slack for slow runs).
  EXPECT_NEAR(seconds_from_now(X509_get0_notBefore(server.get())), -3600, 60);
  EXPECT_NEAR(seconds_from_now(X509_get0_notAfter(server.get())), 86400, 60);

  const PkeyPtr key = load_key(path("server.key"));
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_check_private_key(server.get(), key.get()), 1);
  EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), EVP_PKEY_EC);
  char group[64] = {};
  ASSERT_EQ(EVP_PKEY_get_group_name(key.get(), group, sizeof group, nullptr), 1);
  EXPECT_STREQ(group, "prime256v1");
}

TEST_F(TestPki, ServerPemIsTheLeafOnlyAndTheChainFileAddsTheCa) {
  const std::vector<X509Ptr> leaf = load_certs(path("server.pem"));
  ASSERT_EQ(leaf.size(), 1u);
  const std::vector<X509Ptr> chain = load_certs(path("server-chain.pem"));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(X509_cmp(chain[0].get(), leaf[0].get()), 0);
  EXPECT_EQ(X509_cmp(chain[1].get(), cert("ca.pem").get()), 0);
  EXPECT_EQ(slurp(path("server-chain.pem")), slurp(path("server.pem")) + slurp(path("ca.pem")));
}

TEST_F(TestPki, LeavesAreIssuedByTheCaWithKeyIdsAndDistinctSerials) {
  const X509Ptr ca = cert("ca.pem");
  const ASN1_OCTET_STRING* ca_skid = X509_get0_subject_key_id(ca.get());
  ASSERT_NE(ca_skid, nullptr);
  std::set<std::string> serials;
  const auto add_serial = [&](X509* c) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), nullptr);
    char* hex = BN_bn2hex(bn);
    serials.insert(hex);
    OPENSSL_free(hex);
    BN_free(bn);
  };
  add_serial(ca.get());
  add_serial(cert("other-ca.pem").get());
  for (const char* stem : {"server", "other-host", "expired", "sni", "client"}) {
    SCOPED_TRACE(stem);
    const X509Ptr leaf = cert((std::string(stem) + ".pem").c_str());
    const PkeyPtr key = load_key(path((std::string(stem) + ".key").c_str()));
    ASSERT_TRUE(key);
    EXPECT_EQ(X509_check_private_key(leaf.get(), key.get()), 1);
    EXPECT_EQ(X509_check_issued(ca.get(), leaf.get()), X509_V_OK);
    EXPECT_NE(X509_get0_subject_key_id(leaf.get()), nullptr);
    EXPECT_TRUE(same_octets(X509_get0_authority_key_id(leaf.get()), ca_skid));
    EXPECT_EQ(X509_check_ca(leaf.get()), 0);
    EXPECT_EQ(X509_get_signature_nid(leaf.get()), NID_ecdsa_with_SHA256);
    add_serial(leaf.get());
  }
  EXPECT_EQ(serials.size(), 7u);
}

TEST_F(TestPki, OtherHostFailsTheLocalhostCheck) {
  const X509Ptr leaf = cert("other-host.pem");
  const int err = verify(leaf.get(), cert("ca.pem").get(), X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(err, X509_V_OK) << verify_text(err);  // the chain is fine, the name is not
  EXPECT_FALSE(host_ok(leaf.get(), "localhost"));
  EXPECT_FALSE(ip_ok(leaf.get(), "127.0.0.1"));
  EXPECT_TRUE(host_ok(leaf.get(), "example.invalid"));
}

TEST_F(TestPki, ExpiredFailsVerificationAsExpired) {
  const X509Ptr leaf = cert("expired.pem");
  const int err = verify(leaf.get(), cert("ca.pem").get(), X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(err, X509_V_ERR_CERT_HAS_EXPIRED) << verify_text(err);
  EXPECT_TRUE(host_ok(leaf.get(), "localhost"));  // only the dates are wrong
  EXPECT_TRUE(ip_ok(leaf.get(), "127.0.0.1"));
  EXPECT_TRUE(ip_ok(leaf.get(), "::1"));
  EXPECT_NEAR(seconds_from_now(X509_get0_notBefore(leaf.get())), -10 * 86400, 60);
  EXPECT_NEAR(seconds_from_now(X509_get0_notAfter(leaf.get())), -86400, 60);
}

TEST_F(TestPki, ServerDoesNotVerifyAgainstTheOtherCa) {
  const X509Ptr other = cert("other-ca.pem");
  EXPECT_EQ(X509_check_ca(other.get()), 1);
  EXPECT_NE(X509_cmp(other.get(), cert("ca.pem").get()), 0);
  const int err = verify(cert("server.pem").get(), other.get(), X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(err, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) << verify_text(err);
}

TEST_F(TestPki, SniCertificateNamesOnlyItsHost) {
  const X509Ptr leaf = cert("sni.pem");
  const int err = verify(leaf.get(), cert("ca.pem").get(), X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(err, X509_V_OK) << verify_text(err);
  EXPECT_TRUE(host_ok(leaf.get(), "sni.example.test"));
  EXPECT_FALSE(host_ok(leaf.get(), "localhost"));
  EXPECT_NE(X509_cmp(leaf.get(), cert("server.pem").get()), 0);
}

TEST_F(TestPki, ClientCertificateIsForClientAuthOnly) {
  const X509Ptr ca = cert("ca.pem");
  const X509Ptr client = cert("client.pem");
  EXPECT_EQ(common_name(client.get()), "parley-test-client");
  EXPECT_TRUE(has_eku(client.get(), XKU_SSL_CLIENT));
  int err = verify(client.get(), ca.get(), X509_PURPOSE_SSL_CLIENT);
  EXPECT_EQ(err, X509_V_OK) << verify_text(err);
  err = verify(client.get(), ca.get(), X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(err, X509_V_ERR_INVALID_PURPOSE) << verify_text(err);
  // ...and the server certificate is no client certificate.
  err = verify(cert("server.pem").get(), ca.get(), X509_PURPOSE_SSL_CLIENT);
  EXPECT_EQ(err, X509_V_ERR_INVALID_PURPOSE) << verify_text(err);
}

TEST_F(TestPki, EncryptedKeyLoadsOnlyWithThePassword) {
  EXPECT_STREQ(Pki::kKeyPassword, "secret");
  const std::string pem = slurp(path("encrypted.key"));
  EXPECT_NE(pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----"), std::string::npos);

  // PKCS#8 with PBES2 and AES-256-CBC.
  {
    BioPtr bio = open_read(path("encrypted.key"));
    const SigPtr p8(PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(p8);
    const X509_ALGOR* alg = nullptr;
    X509_SIG_get0(p8.get(), &alg, nullptr);
    const ASN1_OBJECT* oid = nullptr;
    const void* param = nullptr;
    int param_type = 0;
    X509_ALGOR_get0(&oid, &param_type, &param, alg);
    ASSERT_EQ(OBJ_obj2nid(oid), NID_pbes2);
    ASSERT_EQ(param_type, V_ASN1_SEQUENCE);
    const Pbe2Ptr pbe2(static_cast<PBE2PARAM*>(ASN1_item_unpack(
        static_cast<const ASN1_STRING*>(param), ASN1_ITEM_rptr(PBE2PARAM))));
    ASSERT_TRUE(pbe2);
    const ASN1_OBJECT* cipher = nullptr;
    X509_ALGOR_get0(&cipher, nullptr, nullptr, pbe2->encryption);
    EXPECT_EQ(OBJ_obj2nid(cipher), NID_aes_256_cbc);
  }

  const PkeyPtr key = load_key(path("encrypted.key"), "secret");
  ASSERT_TRUE(key);
  const PkeyPtr server_key = load_key(path("server.key"));
  ASSERT_TRUE(server_key);
  EXPECT_EQ(EVP_PKEY_eq(key.get(), server_key.get()), 1);
  EXPECT_FALSE(load_key(path("encrypted.key"), "Secret"));
  EXPECT_FALSE(load_key(path("encrypted.key"), ""));
  EXPECT_FALSE(load_key(path("encrypted.key")));
  EXPECT_NE(slurp(path("server.key")).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
}

TEST_F(TestPki, EachInstanceIsFreshAndIsRemovedOnDestruction) {
  std::string dir;
  {
    const Pki pki;
    dir = pki.dir();
    ASSERT_TRUE(fs::is_directory(dir));
    EXPECT_NE(dir, pki_->dir());
    EXPECT_NE(slurp(pki.path("ca.pem")), slurp(path("ca.pem")));
    EXPECT_NE(verify(load_cert(pki.path("server.pem")).get(), cert("ca.pem").get()), X509_V_OK);
  }
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(TestPki, UsesTmpdir) {
  char tmpl[] = "/tmp/parley-pki-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string base = tmpl;
  {
    const ScopedEnv env("TMPDIR", base + "/");
    const Pki pki;
    EXPECT_EQ(pki.dir().rfind(base + "/parley-pki-", 0), 0u) << pki.dir();
    EXPECT_TRUE(fs::is_regular_file(pki.path("server.pem")));
  }
  EXPECT_TRUE(fs::is_empty(base));
  fs::remove(base);
}

TEST_F(TestPki, OpenSslFailuresCarryTheErrorQueueText) {
  ERR_clear_error();
  ASSERT_EQ(BIO_new_file("/nonexistent-parley-dir/x.pem", "r"), nullptr);
  try {
    parley::testing::detail::fail("opening x.pem");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("TestPki: opening x.pem: error:", 0), 0u) << what;
    EXPECT_NE(what.find("No such file"), std::string::npos) << what;
  }
  EXPECT_EQ(ERR_peek_error(), 0u);  // fail() drained the queue
}

TEST_F(TestPki, ThrowsWhenTheDirectoryCannotBeMade) {
  const ScopedEnv env("TMPDIR", "/nonexistent-parley-dir");
  try {
    const Pki pki;
    FAIL() << "constructed in " << pki.dir();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("mkdtemp"), std::string::npos) << e.what();
  }
}

}  // namespace
