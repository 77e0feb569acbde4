// Test doubles for parley.js: a WebSocket whose server side the test plays,
// a clock the test advances, a scripted random. No browser needed.
import { ParleySocket } from "../parley.js";

/** Timers that run only when the test calls advance(). */
export class FakeClock {
  constructor() {
    this.now = 0;
    this.timers = new Map();
    this.nextId = 1;
    this.setTimeout = (fn, ms) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.now + Math.max(0, ms), fn });
      return id;
    };
    this.clearTimeout = (id) => {
      this.timers.delete(id);
    };
  }

  /** Runs every timer due within `ms`, in time order, then moves the clock to now + ms. */
  advance(ms) {
    const end = this.now + ms;
    for (let guard = 0; guard < 100000; guard++) {
      let nextId = null;
      let next = null;
      for (const [id, t] of this.timers) {
        if (t.at <= end && (next === null || t.at < next.at)) {
          nextId = id;
          next = t;
        }
      }
      if (next === null) {
        this.now = end;
        return;
      }
      this.timers.delete(nextId);
      this.now = next.at;
      next.fn();
    }
    throw new Error("FakeClock: a timer keeps rescheduling itself at the same time");
  }

  /** Delays (from now) of the timers still pending. */
  pending() {
    return [...this.timers.values()].map((t) => t.at - this.now).sort((a, b) => a - b);
  }
}

/** A WebSocket class recording its instances; the test drives each one's server side. */
export function fakeWebSocketClass() {
  const instances = [];
  class FakeWebSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.bufferedAmount = 0;
      this.protocol = "";
      this.extensions = "";
      this.binaryType = "blob";
      this.sent = [];
      this.closeCalls = [];
      this.onopen = this.onmessage = this.onerror = this.onclose = null;
      instances.push(this);
    }
    send(data) {
      if (this.readyState !== 1) throw new Error("InvalidStateError: send on a socket that is not open");
      this.sent.push(data);
    }
    close(code, reason) {
      this.closeCalls.push([code, reason]);
      if (this.readyState < 2) this.readyState = 2;
    }
    // ---- the server's side, played by the test ----
    accept({ protocol = "", extensions = "" } = {}) {
      this.protocol = protocol;
      this.extensions = extensions;
      this.readyState = 1;
      this.onopen?.({ type: "open" });
    }
    message(data) {
      this.onmessage?.({ type: "message", data, origin: "ws://fake" });
    }
    closeWith(code, reason = "", wasClean = code !== 1006) {
      this.readyState = 3;
      this.onclose?.({ type: "close", code, reason, wasClean });
    }
    /** A connection that could not be made: the browser's error, then close 1006. */
    fail() {
      this.readyState = 3;
      this.onerror?.({ type: "error" });
      this.onclose?.({ type: "close", code: 1006, reason: "", wasClean: false });
    }
  }
  FakeWebSocket.instances = instances;
  return FakeWebSocket;
}

/**
 * A ParleySocket on fakes. Returns { sock, clock, WS, events, last() }:
 * `events` records every event as [type, event]; `last()` is the newest
 * fake socket. `random` defaults to 0.5,
 * `connectTimeout` to 0 (off).
 */
export function makeSocket(url = "ws://fake/x", options = {}) {
  const clock = new FakeClock();
  const WS = fakeWebSocketClass();
  const eventSource = options.eventSource ?? new EventTarget();
  const sock = new ParleySocket(url, {
    WebSocket: WS,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random: () => 0.5,
    connectTimeout: 0, // on only where a test asks: sockets here open when the test says
    eventSource,
    ...options,
  });
  const events = [];
  for (const type of ["open", "message", "close", "error", "reconnecting", "maximum", "drop"]) {
    sock.addEventListener(type, (e) => events.push([type, e]));
  }
  const of = (type) => events.filter(([t]) => t === type).map(([, e]) => e);
  return { sock, clock, WS, events, of, eventSource, last: () => WS.instances[WS.instances.length - 1] };
}

/** Lets pending promise callbacks run. */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}
