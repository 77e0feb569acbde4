// src/net/tls_socket.cpp — TLS on a TcpSocket: OpenSSL over an in-memory BIO.
//
// Reading: ciphertext is received into the second half of the loop's
// receive buffer, handed to OpenSSL through the BIO below, and the
// plaintext OpenSSL gives back is decrypted into the first half and
// delivered with on_data(). Writing: plaintext is gathered into full
// records (16 KiB: many small frames in one, a large frame cut into full
// ones, taken from the caller's buffer), each encrypted as soon as it is
// full, and sent straight from OpenSSL's buffer when nothing is queued
// ahead of it; the last, partial one waits (corked) until the socket is
// flushed at the end of the iteration, when the BIO appends it to the
// socket's ordinary output queue, sent as for plain TCP. Frames formatted
// in place (prepare()/commit(): the client's masked frames) are sealed the
// same way at commit(), from the front of the plaintext queue. So the
// plaintext queue stays within one pool block (a large frame formatted in
// place takes the loop's spare buffer for a moment). OpenSSL never touches
// the file descriptor itself.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include "net/tcp.hpp"
#include "socket_guard.hpp"
#include "sys.hpp"
#include "tls_internal.hpp"

namespace parley::net {

using detail::sys_error;

struct TcpSocket::Tls {
  SSL* ssl = nullptr;
  detail::ByteQueue plain;           // plaintext waiting for the handshake or the next flush
  std::span<const std::uint8_t> in;  // ciphertext being fed to OpenSSL (during tls_readable)
  std::string peer_name;             // (client) the name sent with SNI and verified
  bool established = false;          // the handshake completed (stays true)
  bool write_through = false;        // records may go to the kernel at once (see TlsBio::write)
  bool more = false;                 // write-through records go with MSG_MORE (commit(): see TlsBio::write)
  bool held = false;                 // a record went to the kernel with MSG_MORE since the last flush
  Error write_error;                 // an SSL_write failure inside write(), reported at the flush
};

// The BIO between OpenSSL and the socket: reads come from Tls::in, writes
// go to the socket's output queue.
struct TlsBio {
  static TcpSocket& socket(BIO* b) { return *static_cast<TcpSocket*>(BIO_get_data(b)); }

  static int write(BIO* b, const char* data, int len) {
    BIO_clear_retry_flags(b);
    if (len <= 0) return 0;
    TcpSocket& s = socket(b);
    std::span<const std::uint8_t> record(reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(len));
    if (s.tls_->write_through && s.out_.empty() && !(s.flags_ & TcpSocket::kBackpressure)) {
      // A full record sealed by write() or commit() with nothing queued
      // ahead of it: it goes to the kernel from OpenSSL's buffer (no copy
      // into the output queue, which stays without a buffer); only what the
      // kernel does not take is queued. Sealed by commit(): with MSG_MORE,
      // so that the kernel holds what does not fill a segment until the
      // flush at the end of the iteration pushes it, and the records of an
      // iteration go out in as few segments (and wake the peer as few
      // times) as one send of them all would. (Handshake records, alerts
      // and what the flush seals are queued and sent once per iteration.)
      s.tls_->held = s.tls_->held || s.tls_->more;
      record = record.subspan(s.send_direct(record, {}, s.tls_->more ? MSG_MORE : 0));
      if (record.empty()) return len;
    }
    if (!s.out_.reserve(*s.loop_, record.size())) return -1;
    s.out_.append(record);
    return len;
  }

  static int read(BIO* b, char* out, int len) {
    BIO_clear_retry_flags(b);
    auto& in = socket(b).tls_->in;
    if (in.empty()) {
      BIO_set_retry_read(b);
      return -1;
    }
    const std::size_t n = std::min(in.size(), static_cast<std::size_t>(len > 0 ? len : 0));
    std::memcpy(out, in.data(), n);
    in = in.subspan(n);
    return static_cast<int>(n);
  }

  static long ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }

  static BIO_METHOD* method() {
    // Made once, kept for the life of the process.
    static BIO_METHOD* const m = [] {
      BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "parley socket");
      if (bm) {
        BIO_meth_set_write(bm, write);
        BIO_meth_set_read(bm, read);
        BIO_meth_set_ctrl(bm, ctrl);
        BIO_meth_set_create(bm, create);
      }
      return bm;
    }();
    return m;
  }
};

namespace {

TlsError verify_error_code(long v) {
  switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return TlsError::certificate_expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return TlsError::certificate_not_yet_valid;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return TlsError::certificate_name_mismatch;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return TlsError::certificate_untrusted;
    default:
      return TlsError::certificate_invalid;
  }
}

// What `print` writes into a memory BIO, as a string.
template <class Print>
std::string printed(Print print) {
  BIO* mem = BIO_new(BIO_s_mem());
  if (!mem) return {};
  print(mem);
  char* data = nullptr;
  const long n = BIO_get_mem_data(mem, &data);
  std::string out(data, n > 0 ? static_cast<std::size_t>(n) : 0);
  BIO_free(mem);
  return out;
}

std::string name_line(const X509_NAME* name) {
  return printed([name](BIO* mem) { X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253); });
}

// The largest TLS record's plaintext, and how much ciphertext may wait
// ahead of the kernel (see tls_encrypt).
constexpr std::size_t kRecordSize = 16 * 1024;
constexpr std::size_t kEncryptAhead = 4 * kRecordSize;

// The answer to plain HTTP sent to a TLS port.
const std::string& plain_http_reply() {
  static const std::string reply = [] {
    const std::string body = "This port speaks TLS: connect with https:// or wss:// URLs\n";
    return "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
  }();
  return reply;
}

}  // namespace

Error TcpSocket::start_tls(const TlsContext& context, std::string_view peer_name) {
  if (fd_ < 0 || tls_) return sys_error(EINVAL, "start_tls: the socket is closed or already uses TLS");
  BIO_METHOD* method = TlsBio::method();
  if (!method) return sys_error(ENOMEM, "start_tls: BIO_meth_new");
  ERR_clear_error();
  auto* ctx = static_cast<SSL_CTX*>(context.acquire_native());
  SSL* ssl = SSL_new(ctx);
  SSL_CTX_free(ctx);  // the session holds its own reference
  if (!ssl) return sys_error(ENOMEM, "SSL_new: " + detail::openssl_reason());
  BIO* bio = BIO_new(method);
  if (!bio) {
    SSL_free(ssl);
    return sys_error(ENOMEM, "start_tls: BIO_new");
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl, bio, bio);  // the session owns the BIO (one reference for both directions)
  tls_ = new Tls;
  tls_->ssl = ssl;
  if (context.is_server()) {
    SSL_set_accept_state(ssl);
    return {};
  }
  SSL_set_connect_state(ssl);
  std::string name(peer_name);
  const bool is_ip = Endpoint::parse(name, 0).has_value();
  if (!name.empty() && !is_ip) SSL_set_tlsext_host_name(ssl, name.c_str());
  if (context.verifies_peer() && !name.empty()) {
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, name.c_str());
    }
  }
  tls_->peer_name = std::move(name);
  // The ClientHello goes out with the first flush.
  (void)SSL_do_handshake(ssl);
  ERR_clear_error();
  schedule_flush();
  return {};
}

bool TcpSocket::tls_established() const noexcept { return tls_ && tls_->established; }

std::size_t TcpSocket::tls_buffered() const noexcept { return tls_->plain.size(); }

detail::ByteQueue& TcpSocket::tls_plaintext() noexcept { return tls_->plain; }

bool TcpSocket::tls_has_work() const noexcept { return tls_->established && !tls_->plain.empty(); }

void TcpSocket::tls_free() noexcept {
  tls_->plain.release(*loop_);
  SSL_free(tls_->ssl);
  delete tls_;
  tls_ = nullptr;
}

// What went wrong, from OpenSSL's error queue and the verification result.
static Error tls_error(SSL* ssl, bool established, const std::string& peer) {
  const bool server = SSL_is_server(ssl) == 1;
  const unsigned long e = ERR_peek_last_error();
  const int reason = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
  const long verify = SSL_get_verify_result(ssl);
  std::string text = detail::openssl_reason();
  const std::string who = server ? "TLS handshake with a client" : "TLS handshake with " + (peer.empty() ? "the server" : peer);
  if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK) {
    return Error(verify_error_code(verify),
                 who + " failed: certificate verify failed: " + X509_verify_cert_error_string(verify));
  }
  switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
      return Error(TlsError::not_tls, who + " failed: the peer does not speak TLS (" + text + ")");
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      // (With TLS 1.3 the client learns it after its side of the handshake.)
      return Error(TlsError::certificate_required, who + " failed: a client certificate is required (" + text + ")");
    default:
      if (established) return Error(TlsError::protocol_error, "TLS: " + text);
      return Error(TlsError::handshake_failed, who + " failed: " + text);
  }
}

void TcpSocket::tls_fail(const Error& error) {
  if (tls_ && SSL_is_server(tls_->ssl) == 1 && !tls_->established && error.code() == TlsError::not_tls) {
    // Most likely plain HTTP sent to a TLS port: say so in HTTP.
    out_.head = out_.tail;
    const std::string& reply = plain_http_reply();
    if (out_.reserve(*loop_, reply.size())) {
      out_.append({reinterpret_cast<const std::uint8_t*>(reply.data()), reply.size()});
    }
  }
  if (!out_.empty()) (void)send_direct({out_.data(), out_.size()}, {});  // the alert, if the kernel takes it now
  close();
  if (handler_) handler_->on_error(*this, error);
}

void TcpSocket::tls_readable() {
  const std::size_t half = loop_->receive_buffer_size() / 2;
  std::uint8_t* const plain = loop_->rbuf();
  std::uint8_t* const cipher = plain + half;
  const ssize_t n = receive(cipher, half);
  Tls& t = *tls_;
  const bool server = SSL_is_server(t.ssl) == 1;
  if (n == 0) {
    if (!t.established) {
      return tls_fail(Error(TlsError::closed, server ? "a client closed the connection during the TLS handshake"
                                                     : "the server closed the connection during the TLS handshake"));
    }
    return peer_eof();
  }
  if (n < 0) {
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    if (!t.established && (err == ECONNRESET || err == EPIPE)) {
      // A peer that closes with our ClientHello unread resets the connection.
      return tls_fail(Error(TlsError::closed, std::string(server ? "a client" : "the server") +
                                                  " reset the connection during the TLS handshake"));
    }
    return fail(err, "recv");
  }
  t.in = {cipher, static_cast<std::size_t>(n)};
  Guard guard(this);
  std::size_t filled = 0;
  for (;;) {
    ERR_clear_error();
    const int r = SSL_read(t.ssl, plain + filled, static_cast<int>(half - filled));
    int status = SSL_ERROR_NONE;
    if (r > 0) {
      filled += static_cast<std::size_t>(r);
    } else {
      status = SSL_get_error(t.ssl, r);
    }
    if (!t.established && SSL_is_init_finished(t.ssl)) t.established = true;
    if (filled > 0 && (status != SSL_ERROR_NONE || filled == half)) {
      // Deliver what was decrypted (a pause_reading() from the handler
      // takes effect at the next read, as for plain TCP).
      if (!handler_) return;
      handler_->on_data(*this, {plain, filled});
      if (guard.destroyed || fd_ < 0) return;
      filled = 0;
    }
    if (status == SSL_ERROR_NONE) continue;
    if (status == SSL_ERROR_WANT_READ) break;
    t.in = {};
    if (status == SSL_ERROR_ZERO_RETURN) {
      // close_notify: the peer will send no more.
      ERR_clear_error();
      if (!out_.empty()) schedule_flush();
      return peer_eof();
    }
    return tls_fail(tls_error(t.ssl, t.established, t.peer_name));
  }
  t.in = {};
  // Handshake records to send, or plaintext that waited for the handshake.
  if (!out_.empty() || (t.established && !t.plain.empty())) schedule_flush();
}

bool TcpSocket::tls_seal(std::span<const std::uint8_t> plain) {
  Tls& t = *tls_;
  ERR_clear_error();
  t.write_through = true;
  const int r = SSL_write(t.ssl, plain.data(), static_cast<int>(plain.size()));
  t.write_through = false;
  if (r > 0) return true;  // all of it (the BIO never asks to retry)
  // Reported from the loop, never from inside write().
  t.write_error = tls_error(t.ssl, t.established, t.peer_name);
  schedule_flush();
  return false;
}

// Records are made as soon as they are full (16 KiB of plaintext: several
// small frames, or a piece of a large one); what does not fill one waits in
// `plain` for more writes or the flush, which seals it (corking). Only
// while the handshake is done, nothing failed, and the kernel keeps up:
// otherwise everything waits as plaintext for the flush.
bool TcpSocket::tls_sealing() const noexcept {
  const Tls& t = *tls_;
  return t.established && !t.write_error && !(flags_ & kBackpressure) && out_.size() < kEncryptAhead;
}

bool TcpSocket::tls_write(std::span<const std::uint8_t> head, std::span<const std::uint8_t> body) {
  Tls& t = *tls_;
  detail::ByteQueue& q = t.plain;
  if (head.size() + body.size() > std::numeric_limits<std::uint32_t>::max() - q.size()) return false;
  // (A large frame's full records are taken from the caller's buffer
  // without a copy; the plaintext queue stays within one pool block.)
  for (std::span<const std::uint8_t> part : {head, body}) {
    while (!part.empty()) {
      const bool seal = q.size() < kRecordSize && tls_sealing();
      if (seal && q.empty() && part.size() >= kRecordSize) {
        if (!tls_seal(part.first(kRecordSize))) break;
        part = part.subspan(kRecordSize);
        continue;
      }
      const std::size_t n = seal ? std::min(part.size(), kRecordSize - q.size()) : part.size();
      (void)q.reserve(*loop_, n);  // (cannot fail: the size was checked above)
      q.append(part.first(n));
      part = part.subspan(n);
      if (seal && q.size() == kRecordSize && tls_seal({q.data(), q.size()})) q.head = q.tail = 0;
    }
  }
  schedule_flush();
  return true;
}

void TcpSocket::tls_commit(std::size_t n) {
  detail::ByteQueue& q = tls_->plain;
  if (!q.buf) return;
  q.tail += static_cast<std::uint32_t>(std::min<std::size_t>(n, q.cap - q.tail));
  schedule_flush();  // (even for 0 bytes: the flush gives an unused block back)
  // The full records at the front of what prepare()/commit() queued.
  while (q.size() >= kRecordSize && tls_sealing()) {
    tls_->more = true;
    const bool sealed = tls_seal({q.data(), kRecordSize});
    tls_->more = false;
    if (!sealed) return;
    q.head += static_cast<std::uint32_t>(kRecordSize);
  }
  // A large frame was formatted in a buffer past the pool's blocks: the
  // rest (the start of the next record) moves to a block, so that buffer
  // goes back to the loop (its spare) for the next connection's frame
  // instead of each connection holding one until the flush.
  if (q.cap > Loop::kBlockSize && q.size() <= Loop::kBlockSize) {
    detail::ByteQueue rest;
    if (!q.empty()) {
      (void)rest.reserve(*loop_, q.size());  // (a pool block)
      rest.append({q.data(), q.size()});
    }
    q.release(*loop_);
    q = rest;
  }
}

bool TcpSocket::tls_encrypt() {
  Tls& t = *tls_;
  if (t.write_error) {
    const Error error = t.write_error;  // (tls_fail frees `t`)
    Guard guard(this);
    tls_fail(error);
    return false;
  }
  if (!t.plain.empty()) {
    ERR_clear_error();
    // Encrypted a record at a time, and only while the ciphertext the kernel
    // has not taken stays under kEncryptAhead: under backpressure a large
    // message waits as plaintext instead of being doubled as ciphertext; the
    // flush that empties the output comes back for the rest.
    while (!t.plain.empty() && out_.size() < kEncryptAhead) {
      const int r = SSL_write(t.ssl, t.plain.data(), static_cast<int>(std::min(t.plain.size(), kRecordSize)));
      if (r > 0) {
        t.plain.head += static_cast<std::uint32_t>(r);
        continue;
      }
      if (SSL_get_error(t.ssl, r) == SSL_ERROR_WANT_READ) break;  // the handshake is not done yet
      Guard guard(this);
      tls_fail(tls_error(t.ssl, t.established, t.peer_name));
      return false;
    }
    if (!t.established && SSL_is_init_finished(t.ssl)) t.established = true;
    if (t.plain.empty()) t.plain.release(*loop_);
  }
  if (t.held) {
    // Records went out with MSG_MORE: the flush's send pushes them, or
    // with nothing left to send, TCP_CORK off does (a push that leaves
    // TCP_NODELAY as it was).
    t.held = false;
    if (out_.empty()) {
      const int off = 0;
      (void)::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
    }
  }
  if ((flags_ & kShutdownWanted) && t.established && t.plain.empty() &&
      (SSL_get_shutdown(t.ssl) & SSL_SENT_SHUTDOWN) == 0) {
    ERR_clear_error();
    (void)SSL_shutdown(t.ssl);
    ERR_clear_error();
  }
  return true;
}

std::optional<TlsInfo> TcpSocket::tls_info() const {
  if (!tls_ || !tls_->established) return std::nullopt;
  SSL* ssl = tls_->ssl;
  TlsInfo info;
  info.version = SSL_get_version(ssl);
  if (const char* c = SSL_get_cipher_name(ssl)) info.cipher = c;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn) info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (SSL_is_server(ssl) == 1) {
    if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) info.server_name = sni;
  } else {
    info.server_name = tls_->peer_name;
  }
  if (X509* peer = SSL_get0_peer_certificate(ssl)) {
    info.peer_verified = (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0 && SSL_get_verify_result(ssl) == X509_V_OK;
    info.peer_subject = name_line(X509_get_subject_name(peer));
    info.peer_issuer = name_line(X509_get_issuer_name(peer));
    info.peer_certificate_pem = printed([peer](BIO* mem) { PEM_write_bio_X509(mem, peer); });
  }
  return info;
}

}  // namespace parley::net
