// parley.js: a browser WebSocket that reconnects, queues, and notices a dead
// link. A plain ES module with no dependencies and no globals:
//
//   import { ParleySocket } from "/parley.js";
//   const ws = new ParleySocket("wss://example.com/chat", { json: true });
//   ws.addEventListener("message", (e) => console.log(e.data));
//   ws.json({ text: "hello" });
//
// Every option, event and method is documented in README.md beside this file.

/** Text the heartbeat sends by default; `parley serve` answers it on every path. */
export const HEARTBEAT_MESSAGE = "__parley_ping__";
/** Text `parley serve` answers HEARTBEAT_MESSAGE with; never delivered as a message. */
export const HEARTBEAT_REPLY = "__parley_pong__";

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

// Close codes after which the server may well take the connection again:
// going away (a restart), abnormal (no close frame: network, crash, failed
// connect), internal error, service restart, try again later, bad gateway.
const TRANSIENT_CODES = new Set([1001, 1006, 1011, 1012, 1013, 1014]);

/**
 * The default `shouldReconnect`: true for 1001, 1006, 1011, 1012, 1013 and
 * 1014; false for every other code (1000 normal, 1002 protocol error, 1003
 * unsupported data, 1005 no status, 1007 invalid data, 1008 policy, 1009
 * too big, 1010 missing extension, 1015 TLS, and the application's
 * 3000-4999).
 */
export function defaultShouldReconnect(closeEvent) {
  return TRANSIENT_CODES.has(closeEvent.code);
}

/**
 * The delay before reconnection attempt `attempt` (1, 2, ...): uniform
 * ("full jitter") between minDelay and min(maxDelay, minDelay * factor ** attempt).
 * `random` returns a number in [0, 1).
 */
export function backoffDelay(attempt, { minDelay, maxDelay, factor }, random) {
  const ceiling = Math.max(minDelay, Math.min(maxDelay, minDelay * Math.pow(factor, attempt)));
  return Math.round(minDelay + random() * (ceiling - minDelay));
}

/** An Event carrying extra fields (data, code, attempt, ...) as own properties. */
export class ParleyEvent extends Event {
  constructor(type, fields) {
    super(type);
    if (fields) Object.assign(this, fields);
  }
}

const DEFAULTS = Object.freeze({
  protocols: undefined,
  json: false,
  binaryType: "blob",
  minDelay: 1000,
  maxDelay: 30000,
  factor: 2,
  maxAttempts: Infinity,
  minUptime: 5000,
  connectTimeout: 10000,
  shouldReconnect: defaultShouldReconnect,
  queueSize: 1000,
  queueFull: "drop-oldest",
  heartbeatInterval: 0,
  heartbeatTimeout: 0,
  heartbeatMessage: HEARTBEAT_MESSAGE,
  heartbeatReply: HEARTBEAT_REPLY,
  csrf: undefined,
  csrfField: "csrf",
  autoOpen: true,
  WebSocket: undefined,
  setTimeout: undefined,
  clearTimeout: undefined,
  random: undefined,
  eventSource: undefined,
});

const HANDLER_EVENTS = ["open", "message", "close", "error", "reconnecting", "maximum", "drop"];

function isThenable(v) {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof v.then === "function";
}

function nonNegative(name, v) {
  if (typeof v !== "number" || Number.isNaN(v) || v < 0) throw new TypeError(`ParleySocket: ${name} must be a number >= 0`);
  return v;
}

export class ParleySocket extends EventTarget {
  /**
   * @param url a ws:// or wss:// URL, or a function returning one (or a
   *   Promise of one), called before every connection attempt
   * @param options see README.md
   */
  constructor(url, options = {}) {
    super();
    if (url === undefined || url === null || url === "") throw new TypeError("ParleySocket: no URL");
    const o = { ...DEFAULTS };
    for (const [k, v] of Object.entries(options)) {
      if (!(k in DEFAULTS)) throw new TypeError(`ParleySocket: unknown option ${k}`);
      if (v !== undefined) o[k] = v;
    }
    for (const k of ["minDelay", "maxDelay", "minUptime", "connectTimeout", "queueSize", "heartbeatInterval", "heartbeatTimeout"]) {
      nonNegative(k, o[k]);
    }
    if (nonNegative("maxAttempts", o.maxAttempts) !== Infinity && !Number.isInteger(o.maxAttempts)) {
      throw new TypeError("ParleySocket: maxAttempts must be an integer or Infinity");
    }
    if (!(o.factor >= 1)) throw new TypeError("ParleySocket: factor must be >= 1");
    if (o.maxDelay < o.minDelay) throw new TypeError("ParleySocket: maxDelay must be >= minDelay");
    if (o.queueFull !== "drop-oldest" && o.queueFull !== "throw") {
      throw new TypeError('ParleySocket: queueFull must be "drop-oldest" or "throw"');
    }
    if (o.heartbeatInterval > 0 && o.heartbeatTimeout === 0) o.heartbeatTimeout = 2 * o.heartbeatInterval;
    this._o = o;
    this._url = url;
    this._WebSocket = o.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WebSocket !== "function") throw new TypeError("ParleySocket: no WebSocket constructor here");
    this._setTimeout = o.setTimeout ?? globalThis.setTimeout.bind(globalThis);
    this._clearTimeout = o.clearTimeout ?? globalThis.clearTimeout.bind(globalThis);
    this._random = o.random ?? Math.random;
    const source = o.eventSource ?? globalThis;
    this._eventSource = typeof source?.addEventListener === "function" ? source : null;
    this._binaryType = o.binaryType;

    this._ws = null; // the current socket, or null between sockets
    this._phase = "closed"; // "connecting" (resolving the URL or opening), "open", "waiting" (backoff), "closed"
    this._gen = 0; // bumped by every attempt, close() and reconnect(): stale results are ignored
    this._attempt = 0; // reconnection attempts since the last connection that stayed up minUptime
    this._closedByPage = false;
    this._lastUrl = typeof url === "function" ? "" : String(url);
    this._queue = [];
    this._timers = { backoff: null, connect: null, uptime: null, beat: null, silence: null };
    this._handlers = {};
    this._onOnline = () => {
      if (this._phase !== "waiting") return;
      this._clear("backoff");
      this._connect();
    };
    this._listening = false;
    if (o.autoOpen) this.reconnect();
  }

  // ---- the WebSocket's own properties, passed through ----

  get readyState() {
    if (this._ws) return this._ws.readyState;
    return this._phase === "closed" ? CLOSED : CONNECTING;
  }
  get bufferedAmount() { return this._ws ? this._ws.bufferedAmount : 0; }
  get protocol() { return this._ws ? this._ws.protocol : ""; }
  get extensions() { return this._ws ? this._ws.extensions : ""; }
  get url() { return this._ws ? this._ws.url : this._lastUrl; }
  get binaryType() { return this._binaryType; }
  set binaryType(v) {
    if (v !== "blob" && v !== "arraybuffer") return; // as WebSocket: other values are ignored
    this._binaryType = v;
    if (this._ws) this._ws.binaryType = v;
  }
  get CONNECTING() { return CONNECTING; }
  get OPEN() { return OPEN; }
  get CLOSING() { return CLOSING; }
  get CLOSED() { return CLOSED; }

  // ---- parley's own state ----

  /** Messages waiting for the next open connection. */
  get queued() { return this._queue.length; }
  /** The number of the current or next reconnection attempt (0: none since the last stable connection). */
  get attempt() { return this._attempt; }
  /** The native WebSocket of the current connection, or null. */
  get socket() { return this._ws; }

  // ---- methods ----

  /**
   * Sends a string, ArrayBuffer, typed array or Blob now if the connection
   * is open (returns true), else queues it for the next open connection
   * (returns false). A full queue drops its oldest message (a "drop" event)
   * or throws a RangeError, by the queueFull option.
   */
  send(data) {
    if (this._ws && this._ws.readyState === OPEN) {
      this._ws.send(data);
      return true;
    }
    this._enqueue({ data });
    return false;
  }

  /**
   * Sends JSON.stringify(value). With the csrf option, an object gets the
   * token in its csrfField (a copy: value is not changed). A queued value
   * is stringified, token included, when it goes out.
   */
  json(value) {
    if (this._ws && this._ws.readyState === OPEN) {
      this._ws.send(this._stringify(value));
      return true;
    }
    this._enqueue({ json: value });
    return false;
  }

  /**
   * Closes the connection (code 1000 or 3000-4999, as WebSocket.close) and
   * stops reconnecting, including a wait for a reconnection already under
   * way. Messages still queued stay queued for a later reconnect().
   */
  close(code = 1000, reason = "") {
    if (code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new RangeError(`ParleySocket.close: code must be 1000 or 3000-4999, not ${code}`);
    }
    this._closedByPage = true;
    this._gen++;
    this._clearAll();
    this._listenOnline(false);
    this._phase = "closed";
    // The socket's own close event follows, as a "close" event (willReconnect false).
    const ws = this._ws;
    if (ws && (ws.readyState === CONNECTING || ws.readyState === OPEN)) ws.close(code, reason);
  }

  /**
   * Connects again now: after maximum, after close(), or to replace an
   * open connection (closed with `code`, `reason`). Resets the attempt count.
   */
  reconnect(code = 1000, reason = "reconnect") {
    this._closedByPage = false;
    this._attempt = 0;
    this._clearAll();
    const ws = this._ws;
    if (ws) {
      this._detach(ws);
      if (ws.readyState === CONNECTING || ws.readyState === OPEN) {
        try { ws.close(code, reason); } catch { /* the code was not one a page may send */ ws.close(); }
      }
      this._emit("close", { code, reason, wasClean: false, willReconnect: true });
    }
    this._connect();
  }

  // ---- internals ----

  _emit(type, fields) {
    this.dispatchEvent(new ParleyEvent(type, fields));
  }

  _clear(name) {
    if (this._timers[name] !== null) {
      this._clearTimeout(this._timers[name]);
      this._timers[name] = null;
    }
  }

  _clearAll() {
    for (const name of Object.keys(this._timers)) this._clear(name);
  }

  _set(name, ms, fn) {
    this._clear(name);
    this._timers[name] = this._setTimeout(() => {
      this._timers[name] = null;
      fn();
    }, ms);
  }

  _listenOnline(on) {
    if (!this._eventSource || on === this._listening) return;
    this._listening = on;
    if (on) this._eventSource.addEventListener("online", this._onOnline);
    else this._eventSource.removeEventListener("online", this._onOnline);
  }

  _stringify(value) {
    const csrf = this._o.csrf;
    if (typeof csrf === "function" && value !== null && typeof value === "object" && !Array.isArray(value)) {
      value = { ...value, [this._o.csrfField]: csrf() };
    }
    return JSON.stringify(value);
  }

  _enqueue(entry) {
    const q = this._queue;
    if (q.length >= this._o.queueSize) {
      if (this._o.queueFull === "throw") {
        throw new RangeError(`ParleySocket: send queue full (${this._o.queueSize} messages)`);
      }
      q.push(entry);
      const dropped = q.shift();
      this._emit("drop", "json" in dropped ? { data: dropped.json, json: true } : { data: dropped.data, json: false });
      return;
    }
    q.push(entry);
  }

  _flush() {
    while (this._queue.length > 0 && this._ws && this._ws.readyState === OPEN) {
      const entry = this._queue.shift();
      this._ws.send("json" in entry ? this._stringify(entry.json) : entry.data);
    }
  }

  // One connection attempt: resolve the URL and subprotocols (each a value,
  // a function, or a function returning a Promise), then open a socket.
  _connect() {
    const gen = ++this._gen;
    this._phase = "connecting";
    this._listenOnline(true);
    let url;
    let protocols;
    try {
      url = typeof this._url === "function" ? this._url() : this._url;
      protocols = typeof this._o.protocols === "function" ? this._o.protocols() : this._o.protocols;
    } catch (error) {
      this._attemptFailed(gen, error);
      return;
    }
    if (isThenable(url) || isThenable(protocols)) {
      Promise.all([url, protocols]).then(
        ([u, p]) => { if (gen === this._gen) this._open(gen, u, p); },
        (error) => this._attemptFailed(gen, error));
    } else {
      this._open(gen, url, protocols);
    }
  }

  _open(gen, url, protocols) {
    let ws;
    try {
      this._lastUrl = String(url);
      ws = protocols === undefined ? new this._WebSocket(this._lastUrl) : new this._WebSocket(this._lastUrl, protocols);
    } catch (error) {
      this._attemptFailed(gen, error);
      return;
    }
    this._ws = ws;
    ws.binaryType = this._binaryType;
    ws.onopen = () => { if (ws === this._ws) this._opened(); };
    ws.onmessage = (e) => { if (ws === this._ws) this._received(e); };
    ws.onerror = (e) => { if (ws === this._ws) this._emit("error", { error: undefined, original: e }); };
    ws.onclose = (e) => {
      if (ws !== this._ws) return;
      this._detach(ws);
      this._closed({ code: e.code, reason: e.reason, wasClean: e.wasClean, original: e });
    };
    if (this._o.connectTimeout > 0) {
      this._set("connect", this._o.connectTimeout, () => this._abandon(ws, "connect timeout"));
    }
  }

  _detach(ws) {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    if (ws === this._ws) this._ws = null;
    for (const name of ["connect", "uptime", "beat", "silence"]) this._clear(name);
  }

  // Gives a socket up without waiting for the browser (a connect that hangs,
  // a silent link): its close event is a 1006 of ours, now.
  _abandon(ws, reason) {
    if (ws !== this._ws) return;
    this._detach(ws);
    try { ws.close(); } catch { /* already closing */ }
    this._closed({ code: 1006, reason, wasClean: false });
  }

  _opened() {
    this._clear("connect");
    this._phase = "open";
    if (this._o.minUptime > 0) this._set("uptime", this._o.minUptime, () => { this._attempt = 0; });
    else this._attempt = 0;
    this._flush();
    if (this._o.heartbeatInterval > 0) {
      this._beat();
      this._heard();
    }
    this._emit("open", {});
  }

  _beat() {
    this._set("beat", this._o.heartbeatInterval, () => {
      if (this._ws && this._ws.readyState === OPEN) this._ws.send(this._o.heartbeatMessage);
      this._beat();
    });
  }

  // Something arrived: the link is alive for another heartbeatTimeout.
  _heard() {
    const ws = this._ws;
    this._set("silence", this._o.heartbeatTimeout, () => this._abandon(ws, "heartbeat timeout"));
  }

  _received(e) {
    if (this._o.heartbeatInterval > 0) this._heard();
    const raw = e.data;
    if (this._o.heartbeatReply !== null && raw === this._o.heartbeatReply) return;
    let data = raw;
    if (this._o.json && typeof raw === "string") {
      try {
        data = JSON.parse(raw);
      } catch (error) {
        this._emit("error", { error, data: raw, original: e });
        return;
      }
    }
    this._emit("message", { data, raw, origin: e.origin, original: e });
  }

  // No socket came of an attempt (the URL provider threw or rejected, the
  // WebSocket constructor threw): an "error" event, then the next attempt.
  // Always reported a microtask later, so that a failure during the
  // constructor reaches listeners added right after it.
  _attemptFailed(gen, error) {
    Promise.resolve().then(() => {
      if (gen !== this._gen) return;
      this._emit("error", { error, original: undefined });
      if (gen === this._gen) this._schedule();
    });
  }

  _closed(fields) {
    let again = false;
    if (!this._closedByPage) {
      try {
        again = Boolean(this._o.shouldReconnect(fields.original ?? fields));
      } catch (error) {
        this._emit("error", { error, original: undefined });
      }
    }
    const gen = this._gen;
    this._phase = again ? "waiting" : "closed";
    this._emit("close", { ...fields, willReconnect: again });
    // A listener may have called close() or reconnect(): that decides.
    if (gen !== this._gen) return;
    if (again) this._schedule();
    else this._listenOnline(false);
  }

  _schedule() {
    if (this._attempt >= this._o.maxAttempts) {
      this._phase = "closed";
      this._listenOnline(false);
      this._emit("maximum", { attempts: this._attempt });
      return;
    }
    this._attempt += 1;
    const delay = backoffDelay(this._attempt, this._o, this._random);
    this._phase = "waiting";
    const gen = this._gen;
    this._set("backoff", delay, () => this._connect());
    this._emit("reconnecting", { attempt: this._attempt, delay });
    if (gen !== this._gen) this._clear("backoff");
  }
}

// on<event> properties, as WebSocket has: one handler each, beside the listeners.
for (const type of HANDLER_EVENTS) {
  Object.defineProperty(ParleySocket.prototype, "on" + type, {
    get() { return this._handlers[type]?.fn ?? null; },
    set(fn) {
      const old = this._handlers[type];
      if (old) this.removeEventListener(type, old.listener);
      if (typeof fn !== "function") {
        delete this._handlers[type];
        return;
      }
      const listener = (e) => fn.call(this, e);
      this._handlers[type] = { fn, listener };
      this.addEventListener(type, listener);
    },
    configurable: true,
    enumerable: true,
  });
}

export default ParleySocket;
