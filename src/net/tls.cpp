// src/net/tls.cpp — TlsContext: OpenSSL SSL_CTX setup, SNI, reload.
#include "parley/net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <variant>

#include "tls_internal.hpp"

namespace parley::net {

namespace {

// TLS 1.2: ECDHE (forward secrecy) with AEAD ciphers only.
constexpr const char* kDefaultCiphers = "ECDHE+AESGCM:ECDHE+CHACHA20";
// ALPN: WebSocket upgrades are HTTP/1.1 requests.
constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

struct CtxDeleter {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;

Error config_error(const std::string& what) {
  return Error(TlsError::bad_configuration, what + ": " + detail::openssl_reason());
}

int password_cb(char* buf, int size, int, void* user) {
  const auto* fn = static_cast<const std::function<std::string()>*>(user);
  if (!fn || !*fn || size <= 0) return 0;
  const std::string pw = (*fn)();
  const int n = static_cast<int>(std::min<std::size_t>(pw.size(), static_cast<std::size_t>(size)));
  std::memcpy(buf, pw.data(), static_cast<std::size_t>(n));
  return n;
}

Error load_key_pair(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                    const std::function<std::string()>& password) {
  const std::string& key_file = key.empty() ? cert : key;
  SSL_CTX_set_default_passwd_cb(ctx, password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<std::function<std::string()>*>(&password));
  Error e;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    e = config_error("cannot load the certificate chain " + cert);
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    e = config_error("cannot load the private key " + key_file);
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    e = config_error("the private key " + key_file + " does not match the certificate " + cert);
  }
  // The password callback must not outlive this call's `password`.
  SSL_CTX_set_default_passwd_cb(ctx, nullptr);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  return e;
}

Error common_setup(SSL_CTX* ctx, TlsVersion min_version, const std::string& ciphers) {
  SSL_CTX_set_min_proto_version(ctx, min_version == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their 17 KiB read/write buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, ciphers.empty() ? kDefaultCiphers : ciphers.c_str()) != 1) {
    return config_error("bad cipher list '" + ciphers + "'");
  }
  return {};
}

// ---- server: SNI and ALPN --------------------------------------------------------

// The certificates a server context chooses from, owned by its main SSL_CTX
// (freed with it through the ex_data free callback).
struct SniTable {
  struct Entry {
    CtxPtr ctx;
    X509* leaf = nullptr;  // owned by ctx
  };
  std::vector<Entry> entries;
};

void free_sni_table(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<SniTable*>(ptr); }

int sni_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_sni_table);
  return index;
}

int on_servername(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  const auto* table = static_cast<const SniTable*>(arg);
  for (const auto& e : table->entries) {
    if (X509_check_host(e.leaf, name, 0, 0, nullptr) == 1) {
      SSL_set_SSL_CTX(ssl, e.ctx.get());
      break;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

int on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpn, sizeof kAlpn, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // the client offers no http/1.1: go on without ALPN
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

Result<CtxPtr> make_server_ctx(const TlsServerOptions& o, const TlsCertificate& cert) {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return config_error("SSL_CTX_new");
  if (Error e = common_setup(ctx.get(), o.min_version, o.ciphers)) return e;
  if (Error e = load_key_pair(ctx.get(), cert.cert_file, cert.key_file, o.password)) return e;
  SSL_CTX_set_alpn_select_cb(ctx.get(), on_alpn, nullptr);
  static const unsigned char kSessionContext[] = "parley";
  SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
  if (!o.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), o.client_ca_file.c_str(), nullptr) != 1) {
      return config_error("cannot load the client CA file " + o.client_ca_file);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(ctx.get(), names);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | (o.require_client_certificate ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       nullptr);
  }
  return ctx;
}

Result<CtxPtr> build_server(const TlsServerOptions& o) {
  if (o.cert_file.empty()) return Error(TlsError::bad_configuration, "TLS needs a certificate file (cert_file)");
  auto main = make_server_ctx(o, TlsCertificate{o.cert_file, o.key_file});
  if (!main) return main.error();
  auto table = std::make_unique<SniTable>();
  for (const auto& c : o.sni_certificates) {
    auto ctx = make_server_ctx(o, c);
    if (!ctx) return ctx.error();
    X509* leaf = SSL_CTX_get0_certificate(ctx->get());
    table->entries.push_back({std::move(*ctx), leaf});
  }
  if (!table->entries.empty()) {
    SSL_CTX_set_tlsext_servername_callback(main->get(), on_servername);
    SSL_CTX_set_tlsext_servername_arg(main->get(), table.get());
    SSL_CTX_set_ex_data(main->get(), sni_index(), table.release());
  }
  return std::move(*main);
}

// ---- client ------------------------------------------------------------------------

Result<CtxPtr> build_client(const TlsClientOptions& o) {
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return config_error("SSL_CTX_new");
  if (Error e = common_setup(ctx.get(), o.min_version, o.ciphers)) return e;
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof kAlpn);
  if (!o.insecure) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (!o.ca_file.empty() || !o.ca_dir.empty()) {
      if (SSL_CTX_load_verify_locations(ctx.get(), o.ca_file.empty() ? nullptr : o.ca_file.c_str(),
                                        o.ca_dir.empty() ? nullptr : o.ca_dir.c_str()) != 1) {
        return config_error("cannot load the CA " + (o.ca_file.empty() ? "directory " + o.ca_dir : "file " + o.ca_file));
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return config_error("cannot load the system trust store");
    }
  }
  if (!o.cert_file.empty()) {
    if (Error e = load_key_pair(ctx.get(), o.cert_file, o.key_file, o.password)) return e;
  }
  return ctx;
}

}  // namespace

// ---- TlsContext ----------------------------------------------------------------------

namespace detail {

struct TlsContextState {
  std::variant<TlsServerOptions, TlsClientOptions> options;
  mutable std::mutex mutex;
  CtxPtr current;  // guarded by mutex
};

std::string openssl_reason() {
  unsigned long err = ERR_peek_last_error();
  std::string out;
  if (err != 0) {
    const char* reason = ERR_reason_error_string(err);
    out = reason ? reason : "error " + std::to_string(ERR_GET_REASON(err));
  } else {
    out = "unknown OpenSSL error";
  }
  ERR_clear_error();
  return out;
}

}  // namespace detail

TlsContext::TlsContext(bool server, bool verify)
    : server_(server), verify_(verify), state_(std::make_unique<detail::TlsContextState>()) {}

TlsContext::~TlsContext() = default;

Result<std::shared_ptr<TlsContext>> TlsContext::server(const TlsServerOptions& options) {
  ERR_clear_error();
  auto ctx = build_server(options);
  if (!ctx) return ctx.error();
  std::shared_ptr<TlsContext> c(new TlsContext(true, !options.client_ca_file.empty()));
  c->state_->options = options;
  c->state_->current = std::move(*ctx);
  return c;
}

Result<std::shared_ptr<TlsContext>> TlsContext::client(const TlsClientOptions& options) {
  ERR_clear_error();
  auto ctx = build_client(options);
  if (!ctx) return ctx.error();
  std::shared_ptr<TlsContext> c(new TlsContext(false, !options.insecure));
  c->state_->options = options;
  c->state_->current = std::move(*ctx);
  return c;
}

Error TlsContext::reload() {
  ERR_clear_error();
  auto ctx = server_ ? build_server(std::get<TlsServerOptions>(state_->options))
                     : build_client(std::get<TlsClientOptions>(state_->options));
  if (!ctx) return ctx.error();
  std::lock_guard lock(state_->mutex);
  state_->current = std::move(*ctx);  // sessions made from the old one keep it alive (refcount)
  return {};
}

void* TlsContext::acquire_native() const {
  std::lock_guard lock(state_->mutex);
  SSL_CTX_up_ref(state_->current.get());
  return state_->current.get();
}

}  // namespace parley::net
