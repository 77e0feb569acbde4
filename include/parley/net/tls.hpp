// parley/net/tls.hpp — TLS settings and contexts (OpenSSL 3) for TcpSocket.
//
// TLS runs on the socket's own event loop, non-blocking: TcpSocket feeds
// the bytes it reads to OpenSSL through an in-memory BIO and sends what
// OpenSSL writes through its corked output queue (see TcpSocket::start_tls).
// A TlsContext holds the settings (certificates, trust, versions, ciphers)
// and is shared by every connection that uses it, across threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "parley/error.hpp"
#include "parley/export.hpp"

namespace parley::net {

/// Lowest TLS version a context accepts.
enum class TlsVersion {
  tls1_2,  ///< TLS 1.2 and 1.3 (the default)
  tls1_3,  ///< TLS 1.3 only
};

/// One certificate a server can present: a PEM chain (the leaf first, then
/// intermediates) and its PEM private key.
struct TlsCertificate {
  /// Path of the PEM certificate chain, leaf first.
  std::string cert_file;
  /// Path of the PEM private key (may be encrypted: see
  /// TlsServerOptions::password).
  std::string key_file;
};

/// TLS settings of a server (`wss://`). TLS is on when `cert_file` is set.
struct TlsServerOptions {
  /// Path of the PEM certificate chain (leaf first). Required for TLS;
  /// empty = no TLS (plain ws://). Default empty.
  std::string cert_file;
  /// Path of the PEM private key of `cert_file`. Default empty: the key is
  /// read from `cert_file` itself.
  std::string key_file;
  /// Returns the password of an encrypted key file; called while the keys
  /// are loaded (at start and at each reload). Default none (keys are not
  /// encrypted).
  std::function<std::string()> password;
  /// More certificates, chosen by the server name a client sends (SNI): the
  /// first whose certificate's names (subjectAltName, wildcards included)
  /// match it. A client that sends no name, or a name none of these match,
  /// gets `cert_file`. Default none.
  std::vector<TlsCertificate> sni_certificates;
  /// PEM file of the CAs whose client certificates are accepted (mutual
  /// TLS). Set = the server asks each client for a certificate and
  /// verifies the one it sends; the certificate is visible to the
  /// handshake hook (`Connection::tls()`). Default empty (no client
  /// certificates asked for).
  std::string client_ca_file;
  /// With `client_ca_file`: refuse clients that send no certificate (TLS
  /// alert "certificate required"). Default true. False = a certificate is
  /// optional, but one that is sent must verify.
  bool require_client_certificate = true;
  /// Lowest TLS version accepted. Default TLS 1.2 (1.3 preferred when the
  /// client has it).
  TlsVersion min_version = TlsVersion::tls1_2;
  /// (Server) the TLS handshake must be done within this long after the
  /// connection is accepted, else the connection is dropped and on_error
  /// gets TlsError::timeout; the WebSocket upgrade that follows still has
  /// the rest of ServerOptions::handshake_timeout. 0 = only
  /// handshake_timeout applies. Default 5000 ms.
  std::chrono::milliseconds handshake_timeout{5000};
  /// OpenSSL cipher list for TLS 1.2. Default empty = parley's modern list:
  /// ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only (forward
  /// secrecy, AEAD). TLS 1.3 suites are OpenSSL's defaults.
  std::string ciphers;
};

/// TLS settings of a client (`wss://`). Verification is on by default.
struct TlsClientOptions {
  /// DANGER: accept any certificate, from anyone, for any name. Makes the
  /// connection open to interception by anyone on the path; for tests
  /// against self-signed servers only. Default false (verify).
  bool insecure = false;
  /// PEM file of trusted CAs, used instead of the system trust store.
  /// Default empty: the system store (OpenSSL's default paths, on Debian
  /// /etc/ssl/certs).
  std::string ca_file;
  /// Directory of trusted CAs (OpenSSL hashed-name layout, as made by
  /// `openssl rehash`), used with or instead of `ca_file`. Default empty.
  std::string ca_dir;
  /// Client certificate (PEM chain, leaf first) for servers that ask for
  /// one (mutual TLS). Default empty (none sent).
  std::string cert_file;
  /// Private key of `cert_file`. Default empty: read from `cert_file`.
  std::string key_file;
  /// Password of an encrypted `key_file`. Default none.
  std::function<std::string()> password;
  /// Lowest TLS version accepted. Default TLS 1.2.
  TlsVersion min_version = TlsVersion::tls1_2;
  /// OpenSSL cipher list for TLS 1.2. Default empty = the same modern
  /// list as TlsServerOptions::ciphers.
  std::string ciphers;
};

/// What a TLS connection agreed on, and who the peer is.
struct TlsInfo {
  /// "TLSv1.3" or "TLSv1.2".
  std::string version;
  /// The cipher suite's OpenSSL name, e.g. "TLS_AES_256_GCM_SHA384".
  std::string cipher;
  /// The ALPN protocol agreed ("http/1.1"), empty if none.
  std::string alpn;
  /// (server) The name the client asked for with SNI; (client) the name
  /// sent. Empty if none.
  std::string server_name;
  /// True when the peer presented a certificate and it verified (always
  /// true for a verified client connection; for a server, true when the
  /// client sent a certificate that verified).
  bool peer_verified = false;
  /// The peer certificate's subject, one line (e.g. "CN=localhost"); empty
  /// if it sent none.
  std::string peer_subject;
  /// The peer certificate's issuer, one line; empty if it sent none.
  std::string peer_issuer;
  /// The peer certificate, PEM; empty if it sent none.
  std::string peer_certificate_pem;
};

namespace detail {
struct TlsContextState;
}  // namespace detail

/// A TLS configuration (an OpenSSL SSL_CTX, plus the SNI certificates of a
/// server): made once, shared by every connection that uses it, on any
/// thread. Hold it through the shared_ptr the factories return; a socket
/// keeps its context alive while it needs it.
class PARLEY_EXPORT TlsContext {
 public:
  /// A server context: loads the certificates and keys and checks that
  /// each key matches its certificate. Errors: TlsError::bad_configuration
  /// naming the file and OpenSSL's reason (missing file, bad PEM, wrong
  /// password, key mismatch, bad cipher list).
  static Result<std::shared_ptr<TlsContext>> server(const TlsServerOptions& options);
  /// A client context: the trust store (system, or `ca_file`/`ca_dir`),
  /// the client certificate if any. Errors as server().
  static Result<std::shared_ptr<TlsContext>> client(const TlsClientOptions& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// Reads the certificate, key and CA files again (e.g. after a renewal)
  /// and makes the result the configuration of every connection started
  /// from now on; open connections keep theirs. Thread-safe. On an Error
  /// the previous configuration stays in force.
  Error reload();
  /// True for a server context.
  bool is_server() const noexcept { return server_; }
  /// True for a client context that verifies the peer (not `insecure`).
  bool verifies_peer() const noexcept { return verify_; }

  /// The OpenSSL SSL_CTX* in force now, with a reference taken for the
  /// caller (release it with SSL_CTX_free). Internal to parley's sockets;
  /// a `void*` so that this header does not include OpenSSL's.
  void* acquire_native() const;

 private:
  TlsContext(bool server, bool verify);
  bool server_;
  bool verify_;
  std::unique_ptr<detail::TlsContextState> state_;
};

}  // namespace parley::net
