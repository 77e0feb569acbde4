// broker/redis.cpp — see redis.hpp.
#include "broker/redis.hpp"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <random>
#include <unordered_set>

#include "broker/envelope.hpp"
#include "broker/hiredis_loop.hpp"
#include "parley/protocol/utf8.hpp"
#include "string_hash.hpp"

namespace parley::broker {

namespace {

// XADD and PUBLISH in one step, so that the live order is the stream order
// and every live message carries its stream id.
// KEYS[1] stream; ARGV: maxlen, type, origin, data, channel, envelope head.
constexpr std::string_view kPublishScript =
    "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', "
    "'type', ARGV[2], 'origin', ARGV[3], 'data', ARGV[4])\n"
    "redis.call('PUBLISH', ARGV[5], ARGV[6] .. id .. '|' .. ARGV[4])\n"
    "return id\n";

// XRANGE and a PUBLISH of a marker in one step: the marker's place among
// the live messages is the read's place in the stream. Entries past a
// budget of field bytes are cut, and the string "cut" ends the answer then.
// KEYS[1] stream; ARGV: start, count, channel, marker envelope, budget.
constexpr std::string_view kMarkedReadScript =
    "local r = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])\n"
    "local budget = tonumber(ARGV[5])\n"
    "for i = 1, #r do\n"
    "  local f = r[i][2]\n"
    "  for k = 2, #f, 2 do budget = budget - #f[k] end\n"
    "  if budget < 0 then\n"
    "    for j = #r, i + 1, -1 do r[j] = nil end\n"
    "    r[i] = 'cut'\n"
    "    break\n"
    "  end\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[3], ARGV[4])\n"
    "return r\n";

std::string_view str_of(const redisReply* r) {
  return {r->str, r->len};
}
bool is_str(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

Error redis_error(std::string_view what) {
  return Error(make_error_code(BrokerError::redis_error), std::string(what));
}

}  // namespace

// ---- the implementation ---------------------------------------------------------

struct RedisBroker::Impl : std::enable_shared_from_this<RedisBroker::Impl> {
  enum class Phase { stopped, waiting, connecting, subscribing, up };
  enum class Reported { none, up, down };

  struct Conn {
    redisAsyncContext* ac = nullptr;
    std::shared_ptr<HiredisLoopAdapter> adapter;
    bool ready = false;  // connected (and authenticated)
  };
  struct PublishReq {
    Impl* impl;
    std::size_t bytes;
    PublishDone done;
  };
  struct HistoryReq {
    Impl* impl;
    StreamId since;
    bool from_start;
    std::function<void(HistoryAnswer)> answer;
  };

  net::Loop& loop;
  RedisBrokerOptions opt;
  Callbacks cb;
  std::uint64_t node = 0;
  std::string node_hex;
  Conn sub, cmd;
  Phase phase = Phase::stopped;
  Reported reported = Reported::none;
  bool fail_scheduled = false;
  bool closing = false;
  unsigned attempt = 0;
  std::size_t resub_pending = 0;
  bool ping_outstanding = false;
  net::Clock::time_point ping_sent{};
  net::TimerId connect_timer, retry_timer, ping_timer;
  std::unordered_set<std::string, detail::StringHash, std::equal_to<>> wanted;
  RedisBrokerStats stats;
  std::mt19937_64 rng{std::random_device{}()};
  std::string chan_buf, key_buf, env_buf;  // reused per publish

  Impl(net::Loop& l, RedisBrokerOptions o, Callbacks c) : loop(l), opt(std::move(o)), cb(std::move(c)) {
    node = opt.node_id;
    while (node == 0) {
      std::random_device rd;
      node = (std::uint64_t{rd()} << 32) ^ rd();
    }
    node_hex = node_id_hex(node);
  }
  ~Impl() { shutdown(); }

  Conn* conn_of(const redisAsyncContext* ac) {
    if (ac == sub.ac) return &sub;
    if (ac == cmd.ac) return &cmd;
    return nullptr;
  }

  Error check_options() const {
    auto bad = [](const char* what) { return Error(make_error_code(BrokerError::bad_option), what); };
    in6_addr a6;
    in_addr a4;
    if (inet_pton(AF_INET, opt.host.c_str(), &a4) != 1 && inet_pton(AF_INET6, opt.host.c_str(), &a6) != 1)
      return bad("host must be an IPv4 or IPv6 literal (resolve names before)");
    if (Error e = validate(static_cast<const RedisOptions&>(opt))) return e;
    return {};
  }

  // ---- connecting ----

  bool open(Conn& c, std::string& reason) {
    redisAsyncContext* ac = redisAsyncConnect(opt.host.c_str(), opt.port);
    if (ac == nullptr) {
      reason = "out of memory";
      return false;
    }
    if (ac->err) {
      reason = ac->errstr;
      redisAsyncFree(ac);
      return false;
    }
    (void)redisEnableKeepAlive(&ac->c);  // a silent peer is found by TCP too (the subscriber sends no PING)
    ac->data = this;
    c.ac = ac;
    c.ready = false;
    c.adapter = HiredisLoopAdapter::attach(loop, ac);
    redisAsyncSetDisconnectCallback(ac, &Impl::on_disconnect);
    redisAsyncSetConnectCallback(ac, &Impl::on_connect);  // 0.14: asks for the first write here
    if (c.adapter->watch_error()) {
      reason = c.adapter->watch_error().message();
      return false;
    }
    return true;
  }

  void connect() {
    retry_timer = {};
    if (closing) return;
    phase = Phase::connecting;
    fail_scheduled = false;
    std::string reason;
    if (!open(sub, reason) || !open(cmd, reason)) {
      fail("connect: " + reason);
      return;
    }
    connect_timer = loop.add_timer(opt.connect_timeout, [w = weak_from_this()] {
      if (auto self = w.lock()) {
        self->connect_timer = {};
        if (self->phase == Phase::connecting || self->phase == Phase::subscribing)
          self->fail("no connection to Redis within connect_timeout");
      }
    });
  }

  static void on_connect(const redisAsyncContext* cac, int status) {
    auto* self = static_cast<Impl*>(cac->data);
    Conn* c = self->conn_of(cac);
    if (c == nullptr) return;
    if (status != REDIS_OK) {
      std::string reason = cac->errstr != nullptr ? cac->errstr : "connect failed";
      c->ac = nullptr;  // hiredis frees it when this returns
      if (!self->closing) self->fail("connect: " + reason);
      return;
    }
    auto* ac = const_cast<redisAsyncContext*>(cac);
    // Ready only once Redis has answered (a connect can succeed against a
    // hung server: the kernel completes it): AUTH, or a PING without password.
    if (self->opt.password.empty()) {
      const char* argv[1] = {"PING"};
      const std::size_t len[1] = {4};
      if (redisAsyncCommandArgv(ac, &Impl::on_auth, nullptr, 1, argv, len) != REDIS_OK)
        self->fail("PING could not be sent");
      return;
    }
    const bool user = !self->opt.username.empty();
    const char* argv[3] = {"AUTH", user ? self->opt.username.c_str() : self->opt.password.c_str(),
                           self->opt.password.c_str()};
    const std::size_t len[3] = {4, user ? self->opt.username.size() : self->opt.password.size(),
                                self->opt.password.size()};
    if (redisAsyncCommandArgv(ac, &Impl::on_auth, nullptr, user ? 3 : 2, argv, len) != REDIS_OK)
      self->fail("AUTH could not be sent");
  }

  static void on_auth(redisAsyncContext* ac, void* r, void*) {
    auto* self = static_cast<Impl*>(ac->data);
    auto* reply = static_cast<redisReply*>(r);
    Conn* c = self->conn_of(ac);
    if (reply == nullptr || c == nullptr || self->closing) return;
    if (reply->type == REDIS_REPLY_ERROR) {
      self->fail("Redis refused the connection: " + std::string(str_of(reply)));
      return;
    }
    c->ready = true;
    self->check_ready();
  }

  static void on_disconnect(const redisAsyncContext* ac, int) {
    auto* self = static_cast<Impl*>(ac->data);
    Conn* c = self->conn_of(ac);
    if (c == nullptr) return;
    std::string reason = ac->err != 0 && ac->errstr != nullptr ? ac->errstr : "disconnected";
    c->ac = nullptr;
    c->ready = false;
    if (!self->closing) self->fail("Redis connection lost: " + reason);
  }

  void check_ready() {
    if (phase != Phase::connecting || !sub.ready || !cmd.ready || fail_scheduled) return;
    phase = Phase::subscribing;
    ping_outstanding = false;
    resub_pending = 0;
    // Every wanted topic again, 256 channels per SUBSCRIBE.
    std::vector<std::string> chans;
    chans.reserve(std::min<std::size_t>(wanted.size(), 256));
    for (const auto& t : wanted) {
      chans.push_back(opt.channel_prefix + t);
      if (chans.size() == 256) send_subscribe(chans);
    }
    send_subscribe(chans);
    if (!fail_scheduled) ping_timer = loop.add_periodic(opt.ping_interval, [w = weak_from_this()] {
      if (auto self = w.lock()) self->on_ping_timer();
    });
    if (resub_pending == 0 && !fail_scheduled) become_up();
  }

  void send_subscribe(std::vector<std::string>& chans) {
    if (chans.empty()) return;
    std::vector<const char*> argv;
    std::vector<std::size_t> len;
    argv.reserve(chans.size() + 1);
    len.reserve(chans.size() + 1);
    argv.push_back("SUBSCRIBE");
    len.push_back(9);
    for (const auto& c : chans) {
      argv.push_back(c.data());
      len.push_back(c.size());
    }
    if (redisAsyncCommandArgv(sub.ac, &Impl::on_sub_reply, nullptr, static_cast<int>(argv.size()), argv.data(),
                              len.data()) != REDIS_OK) {
      fail("SUBSCRIBE could not be sent");
    } else {
      resub_pending += chans.size();
    }
    chans.clear();
  }

  void become_up() {
    phase = Phase::up;
    loop.cancel_timer(connect_timer);
    connect_timer = {};
    attempt = 0;
    ++stats.ups;
    report(true, {});
  }

  // on_state runs from a deferred callback: never inside hiredis, so it may
  // do anything (even destroy the broker).
  void report(bool is_up, std::string reason) {
    const Reported now = is_up ? Reported::up : Reported::down;
    if (reported == now) return;
    reported = now;
    loop.defer([w = weak_from_this(), is_up, reason = std::move(reason)] {
      auto self = w.lock();
      if (self && !self->closing && self->cb.on_state) self->cb.on_state(is_up, reason);
    });
  }

  // ---- failing and retrying ----

  // Called from anywhere (even inside hiredis): the teardown runs deferred.
  void fail(std::string reason) {
    if (fail_scheduled || closing) return;
    fail_scheduled = true;
    loop.defer([w = weak_from_this(), reason = std::move(reason)]() mutable {
      if (auto self = w.lock()) self->teardown_and_retry(std::move(reason));
    });
  }

  void close_conns() {
    loop.cancel_timer(connect_timer);
    loop.cancel_timer(ping_timer);
    connect_timer = ping_timer = {};
    for (Conn* c : {&sub, &cmd}) {
      if (c->ac != nullptr) {
        redisAsyncContext* ac = c->ac;
        redisAsyncFree(ac);  // pending callbacks run with no reply; on_disconnect clears c->ac
        c->ac = nullptr;
      }
      c->adapter.reset();
      c->ready = false;
    }
    ping_outstanding = false;
    resub_pending = 0;
  }

  void teardown_and_retry(std::string reason) {
    if (closing) return;
    ++stats.failures;
    // Publishes and history requests made from the callbacks that the frees
    // below run (with no reply) fail at once with `down`.
    phase = Phase::waiting;
    close_conns();
    if (closing) return;  // destroyed from one of those callbacks
    report(false, std::move(reason));
    const auto min = opt.reconnect_min_delay.count();
    const auto max = opt.reconnect_max_delay.count();
    auto cap = min;
    for (unsigned i = 0; i < attempt && cap < max; ++i) cap *= 2;
    cap = std::min(cap, max);
    if (attempt < 63) ++attempt;
    std::uniform_int_distribution<long long> pick(min, cap);
    const net::Millis delay{pick(rng)};
    fail_scheduled = false;
    retry_timer = loop.add_timer(delay, [w = weak_from_this()] {
      if (auto self = w.lock()) self->connect();
    });
  }

  void shutdown() {
    if (phase == Phase::stopped && sub.ac == nullptr && cmd.ac == nullptr) {
      closing = true;
      return;
    }
    closing = true;
    loop.cancel_timer(retry_timer);
    close_conns();
    phase = Phase::stopped;
  }

  // ---- PING ----

  void on_ping_timer() {
    if (cmd.ac == nullptr || fail_scheduled) return;
    if (ping_outstanding) {
      if (loop.now() - ping_sent >= opt.ping_timeout)
        fail("Redis did not answer PING within " + std::to_string(opt.ping_timeout.count()) + " ms");
      return;
    }
    const char* argv[1] = {"PING"};
    const std::size_t len[1] = {4};
    if (redisAsyncCommandArgv(cmd.ac, &Impl::on_pong, nullptr, 1, argv, len) == REDIS_OK) {
      ping_outstanding = true;
      ping_sent = loop.now();
    }
  }

  static void on_pong(redisAsyncContext* ac, void* r, void*) {
    if (r == nullptr) return;
    static_cast<Impl*>(ac->data)->ping_outstanding = false;
  }

  // ---- subscriber connection ----

  static void on_sub_reply(redisAsyncContext* ac, void* r, void*) {
    auto* self = static_cast<Impl*>(ac->data);
    auto* reply = static_cast<redisReply*>(r);
    if (reply == nullptr || self->closing || self->sub.ac != ac) return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 || !is_str(reply->element[0]) ||
        !is_str(reply->element[1]))
      return;
    const std::string_view kind = str_of(reply->element[0]);
    const std::string_view chan = str_of(reply->element[1]);
    if (kind == "message") {
      if (is_str(reply->element[2])) self->on_pubsub(chan, str_of(reply->element[2]));
    } else if (kind == "subscribe") {
      self->on_sub_ack(chan);
    }
  }

  void on_sub_ack(std::string_view chan) {
    if (phase == Phase::subscribing && resub_pending > 0 && --resub_pending == 0) become_up();
    if (!chan.starts_with(opt.channel_prefix)) return;
    const std::string_view topic = chan.substr(opt.channel_prefix.size());
    if (cb.on_subscribed && wanted.find(topic) != wanted.end()) cb.on_subscribed(topic);
  }

  void on_pubsub(std::string_view chan, std::string_view bytes) {
    if (!chan.starts_with(opt.channel_prefix)) {
      ++stats.unwanted;
      return;
    }
    const std::string_view topic = chan.substr(opt.channel_prefix.size());
    if (wanted.find(topic) == wanted.end()) {
      ++stats.unwanted;
      return;
    }
    if (bytes.size() > opt.max_payload + kEnvelopeFixed + kMaxStreamIdSize + 1) {
      ++stats.malformed;
      return;
    }
    const auto env = decode_envelope(bytes);
    if (!env || env->payload.size() > opt.max_payload) {
      ++stats.malformed;
      return;
    }
    if (env->marker) {
      // (Another node's read is none of this node's business.)
      if (env->origin != node || env->payload.empty() || env->payload.size() > 19) return;
      std::uint64_t token = 0;
      for (char ch : env->payload) {
        if (ch < '0' || ch > '9') return;
        token = token * 10 + static_cast<std::uint64_t>(ch - '0');
      }
      if (cb.on_marker) cb.on_marker(topic, token);
      return;
    }
    if (env->origin == node && !opt.echo_own) {
      ++stats.own_dropped;
      return;
    }
    ++stats.received;
    if (cb.on_message) cb.on_message(BrokerMessage{topic, env->type, env->payload, env->id, env->origin});
  }

  void send_unsubscribe(std::string_view topic) {
    if (sub.ac == nullptr || (phase != Phase::subscribing && phase != Phase::up)) return;
    chan_buf.assign(opt.channel_prefix).append(topic);
    const char* argv[2] = {"UNSUBSCRIBE", chan_buf.data()};
    const std::size_t len[2] = {11, chan_buf.size()};
    // hiredis refuses it (REDIS_ERR) when nothing is subscribed: nothing to undo then.
    (void)redisAsyncCommandArgv(sub.ac, nullptr, nullptr, 2, argv, len);
  }

  void send_one_subscribe(std::string_view topic) {
    if (sub.ac == nullptr || (phase != Phase::subscribing && phase != Phase::up)) return;
    chan_buf.assign(opt.channel_prefix).append(topic);
    const char* argv[2] = {"SUBSCRIBE", chan_buf.data()};
    const std::size_t len[2] = {9, chan_buf.size()};
    if (redisAsyncCommandArgv(sub.ac, &Impl::on_sub_reply, nullptr, 2, argv, len) != REDIS_OK)
      fail("SUBSCRIBE could not be sent");
  }

  // ---- command connection ----

  bool backlog_full(std::size_t bytes) const {
    return stats.pending_commands >= opt.max_pending_commands ||
           stats.pending_bytes + bytes > opt.max_pending_bytes;
  }

  Error publish(std::string_view topic, MessageType type, std::string_view payload, PublishDone done) {
    if (topic.size() > opt.max_topic_size) return Error(make_error_code(BrokerError::topic_too_long));
    if (payload.size() > opt.max_payload) return Error(make_error_code(BrokerError::payload_too_large));
    if (phase != Phase::up || cmd.ac == nullptr || fail_scheduled) {
      ++stats.lost_publishes;
      return Error(make_error_code(BrokerError::down));
    }
    if (backlog_full(payload.size())) {
      ++stats.lost_publishes;
      return Error(make_error_code(BrokerError::backlog_full));
    }
    chan_buf.assign(opt.channel_prefix).append(topic);
    env_buf.clear();
    int status;
    void* priv;
    redisCallbackFn* fn;
    PublishReq* req = nullptr;
    if (done) {
      req = new PublishReq{this, payload.size(), std::move(done)};
      priv = req;
      fn = &Impl::on_publish_done;
    } else {
      priv = reinterpret_cast<void*>(static_cast<std::uintptr_t>(payload.size()));
      fn = &Impl::on_publish;
    }
    if (opt.history_length == 0) {
      encode_envelope(env_buf, type, node, {}, payload);
      const char* argv[3] = {"PUBLISH", chan_buf.data(), env_buf.data()};
      const std::size_t len[3] = {7, chan_buf.size(), env_buf.size()};
      status = redisAsyncCommandArgv(cmd.ac, fn, priv, 3, argv, len);
    } else {
      key_buf.assign(opt.channel_prefix).append("h:").append(topic);
      encode_envelope_head(env_buf, type, node);
      const std::string maxlen = std::to_string(opt.history_length);
      const char* argv[10] = {"EVAL", kPublishScript.data(), "1", key_buf.data(), maxlen.data(),
                              type == MessageType::text ? "t" : "b", node_hex.data(), payload.data(),
                              chan_buf.data(), env_buf.data()};
      const std::size_t len[10] = {4, kPublishScript.size(), 1, key_buf.size(), maxlen.size(), 1,
                                   node_hex.size(), payload.size(), chan_buf.size(), env_buf.size()};
      status = redisAsyncCommandArgv(cmd.ac, fn, priv, 10, argv, len);
    }
    if (status != REDIS_OK) {
      delete req;
      ++stats.lost_publishes;
      return Error(make_error_code(BrokerError::down));
    }
    ++stats.pending_commands;
    stats.pending_bytes += payload.size();
    return {};
  }

  // A publish's reply: true when Redis took it.
  bool settle_publish(std::size_t bytes, const redisReply* reply) {
    --stats.pending_commands;
    stats.pending_bytes -= bytes;
    if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) {
      ++stats.lost_publishes;
      return false;
    }
    ++stats.published;
    return true;
  }

  static void on_publish(redisAsyncContext* ac, void* r, void* priv) {
    auto* self = static_cast<Impl*>(ac->data);
    self->settle_publish(reinterpret_cast<std::uintptr_t>(priv), static_cast<redisReply*>(r));
  }

  static void on_publish_done(redisAsyncContext*, void* r, void* priv) {
    std::unique_ptr<PublishReq> req(static_cast<PublishReq*>(priv));
    Impl* self = req->impl;
    auto* reply = static_cast<redisReply*>(r);
    const bool ok = self->settle_publish(req->bytes, reply);
    if (self->closing) return;
    if (ok) {
      req->done(Error{}, is_str(reply) ? str_of(reply) : std::string_view{});
    } else if (reply == nullptr) {
      req->done(Error(make_error_code(BrokerError::down), "connection lost before Redis answered"), {});
    } else {
      req->done(redis_error(str_of(reply)), {});
    }
  }

  void answer_later(std::function<void(HistoryAnswer)> answer, Error e) {
    loop.defer([w = weak_from_this(), answer = std::move(answer), e = std::move(e)]() mutable {
      auto self = w.lock();
      if (!self || self->closing) return;
      HistoryAnswer a;
      a.error = std::move(e);
      answer(std::move(a));
    });
  }

  void history(std::string_view topic, std::string_view since, std::function<void(HistoryAnswer)> answer,
               std::uint64_t marker, std::size_t max_bytes) {
    if (!answer) return;
    if (opt.history_length == 0) return answer_later(std::move(answer), Error(make_error_code(BrokerError::history_off)));
    if (topic.size() > opt.max_topic_size)
      return answer_later(std::move(answer), Error(make_error_code(BrokerError::topic_too_long)));
    const bool from_start = since.empty() || since == "0" || since == "0-0";
    StreamId sid;
    if (!from_start) {
      auto p = parse_stream_id(since, true);
      if (!p) return answer_later(std::move(answer), Error(make_error_code(BrokerError::bad_offset)));
      sid = *p;
    }
    if (phase != Phase::up || cmd.ac == nullptr || fail_scheduled)
      return answer_later(std::move(answer), Error(make_error_code(BrokerError::down)));
    if (backlog_full(0)) return answer_later(std::move(answer), Error(make_error_code(BrokerError::backlog_full)));
    key_buf.assign(opt.channel_prefix).append("h:").append(topic);
    // Inclusive from `since`: finding `since` itself proves nothing after it was trimmed.
    const std::string start = from_start ? std::string("-") : std::to_string(sid.ms) + "-" + std::to_string(sid.seq);
    const std::string count = std::to_string(opt.history_max_replay + (from_start ? 1 : 2));
    auto* req = new HistoryReq{this, sid, from_start, std::move(answer)};
    int status;
    if (marker == 0) {
      const char* argv[6] = {"XRANGE", key_buf.data(), start.data(), "+", "COUNT", count.data()};
      const std::size_t len[6] = {6, key_buf.size(), start.size(), 1, 5, count.size()};
      status = redisAsyncCommandArgv(cmd.ac, &Impl::on_xrange, req, 6, argv, len);
    } else {
      chan_buf.assign(opt.channel_prefix).append(topic);
      env_buf.clear();
      encode_marker(env_buf, node, std::to_string(marker));
      const std::string budget = std::to_string(max_bytes);
      const char* argv[9] = {"EVAL",       kMarkedReadScript.data(), "1",           key_buf.data(), start.data(),
                             count.data(), chan_buf.data(),          env_buf.data(), budget.data()};
      const std::size_t len[9] = {4,           kMarkedReadScript.size(), 1,
                                  key_buf.size(), start.size(),         count.size(),
                                  chan_buf.size(), env_buf.size(),      budget.size()};
      status = redisAsyncCommandArgv(cmd.ac, &Impl::on_xrange, req, 9, argv, len);
    }
    if (status != REDIS_OK) {
      auto a = std::move(req->answer);
      delete req;
      return answer_later(std::move(a), Error(make_error_code(BrokerError::down)));
    }
    ++stats.pending_commands;
  }

  static void on_xrange(redisAsyncContext*, void* r, void* priv) {
    std::unique_ptr<HistoryReq> req(static_cast<HistoryReq*>(priv));
    Impl* self = req->impl;
    --self->stats.pending_commands;
    if (self->closing) return;
    auto* reply = static_cast<redisReply*>(r);
    HistoryAnswer a;
    if (reply == nullptr) {
      a.error = Error(make_error_code(BrokerError::down), "connection lost before Redis answered");
    } else if (reply->type == REDIS_REPLY_ERROR) {
      a.error = redis_error(str_of(reply));
    } else if (reply->type != REDIS_REPLY_ARRAY) {
      a.error = redis_error("XRANGE answered something other than an array");
    } else {
      self->read_entries(*reply, *req, a);
    }
    req->answer(std::move(a));
  }

  void read_entries(const redisReply& reply, const HistoryReq& req, HistoryAnswer& a) {
    bool first = true;
    a.entries.reserve(reply.elements);
    for (std::size_t i = 0; i < reply.elements; ++i) {
      const redisReply* e = reply.element[i];
      if (is_str(e) && str_of(e) == "cut") {  // (a marked read's byte budget)
        a.truncated = true;
        break;
      }
      if (e == nullptr || e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !is_str(e->element[0]) ||
          e->element[1] == nullptr || e->element[1]->type != REDIS_REPLY_ARRAY) {
        ++stats.malformed_history;
        continue;
      }
      const std::string_view id = str_of(e->element[0]);
      const auto sid = parse_stream_id(id);
      if (!sid) {
        ++stats.malformed_history;
        continue;
      }
      if (first && !req.from_start) {
        first = false;
        if (*sid == req.since) continue;  // `since` itself is retained: no gap
        a.gap = true;
      }
      first = false;
      const redisReply* f = e->element[1];
      std::string_view type, origin, data;
      bool have_data = false;
      for (std::size_t k = 0; k + 1 < f->elements; k += 2) {
        if (!is_str(f->element[k]) || !is_str(f->element[k + 1])) continue;
        const std::string_view name = str_of(f->element[k]);
        const std::string_view value = str_of(f->element[k + 1]);
        if (name == "type") type = value;
        else if (name == "origin") origin = value;
        else if (name == "data") {
          data = value;
          have_data = true;
        }
      }
      std::uint64_t org = 0;
      bool origin_ok = origin.size() == 16;
      for (char ch : origin) {
        const int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (v < 0) origin_ok = false;
        org = (org << 4) | static_cast<std::uint64_t>(v < 0 ? 0 : v);
      }
      const bool text = type == "t";
      if (!have_data || !origin_ok || (!text && type != "b") || data.size() > opt.max_payload ||
          (text && !protocol::is_valid_utf8(data))) {
        ++stats.malformed_history;
        continue;
      }
      if (a.entries.size() == opt.history_max_replay) {
        a.truncated = true;
        break;
      }
      a.entries.push_back(HistoryEntry{std::string(id), text ? MessageType::text : MessageType::binary, org,
                                       std::string(data)});
    }
    if (!req.from_start && first) a.gap = true;  // nothing at or after `since`: the stream was lost or never had it
  }
};

}  // namespace parley::broker

namespace parley::broker {

// ---- RedisBroker -------------------------------------------------------------------

RedisBroker::RedisBroker(net::Loop& loop, RedisBrokerOptions options, Callbacks callbacks)
    : impl_(std::make_shared<Impl>(loop, std::move(options), std::move(callbacks))) {}

RedisBroker::~RedisBroker() {
  Impl& i = *impl_;
  const bool inside = (i.sub.ac != nullptr && (i.sub.ac->c.flags & REDIS_IN_CALLBACK) != 0) ||
                      (i.cmd.ac != nullptr && (i.cmd.ac->c.flags & REDIS_IN_CALLBACK) != 0);
  i.closing = true;  // no callback of the user from now on
  if (inside) {
    // Destroyed from inside a hiredis callback: hiredis is still using the
    // context; free it once the callback has returned.
    i.loop.defer([keep = impl_] { keep->shutdown(); });
  } else {
    i.shutdown();
  }
}

Error RedisBroker::start() {
  if (impl_->phase != Impl::Phase::stopped || impl_->closing) return {};
  if (Error e = impl_->check_options()) return e;
  impl_->connect();
  return {};
}

Error RedisBroker::subscribe(std::string_view topic) {
  Impl& i = *impl_;
  if (topic.size() > i.opt.max_topic_size) return Error(make_error_code(BrokerError::topic_too_long));
  if (i.wanted.find(topic) != i.wanted.end()) return {};
  i.wanted.emplace(topic);
  i.send_one_subscribe(topic);
  return {};
}

void RedisBroker::unsubscribe(std::string_view topic) {
  Impl& i = *impl_;
  auto it = i.wanted.find(topic);
  if (it == i.wanted.end()) return;
  i.wanted.erase(it);
  i.send_unsubscribe(topic);
}

bool RedisBroker::wants(std::string_view topic) const { return impl_->wanted.find(topic) != impl_->wanted.end(); }
std::size_t RedisBroker::topic_count() const noexcept { return impl_->wanted.size(); }

Error RedisBroker::publish(std::string_view topic, MessageType type, std::string_view payload, PublishDone done) {
  return impl_->publish(topic, type, payload, std::move(done));
}

void RedisBroker::history(std::string_view topic, std::string_view since, std::function<void(HistoryAnswer)> answer,
                          std::uint64_t marker, std::size_t max_bytes) {
  impl_->history(topic, since, std::move(answer), marker, max_bytes);
}

bool RedisBroker::up() const noexcept { return impl_->phase == Impl::Phase::up && !impl_->fail_scheduled; }
std::uint64_t RedisBroker::node_id() const noexcept { return impl_->node; }
const RedisBrokerStats& RedisBroker::stats() const noexcept { return impl_->stats; }

}  // namespace parley::broker
