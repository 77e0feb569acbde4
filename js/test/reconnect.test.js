// Reconnection: backoff bounds and jitter, which close codes reconnect, the
// URL provider per attempt, minimum uptime, maximum, the state-machine bugs
// (close during the backoff wait, reconnect after maximum), the online event.
import { test } from "node:test";
import assert from "node:assert/strict";

import { backoffDelay, CLOSED, CONNECTING, OPEN, ParleySocket } from "../parley.js";
import { makeSocket, settle } from "./fakes.js";

const defaults = { minDelay: 1000, maxDelay: 30000, factor: 2 };

test("backoff: the window grows by factor from minDelay and stops at maxDelay", () => {
  const low = () => 0;
  const high = () => 0.9999999;
  const ceilings = [2000, 4000, 8000, 16000, 30000, 30000, 30000];
  ceilings.forEach((ceiling, i) => {
    assert.equal(backoffDelay(i + 1, defaults, low), 1000, `attempt ${i + 1}, random 0`);
    assert.equal(backoffDelay(i + 1, defaults, high), ceiling, `attempt ${i + 1}, random ~1`);
  });
  assert.equal(backoffDelay(3, { minDelay: 100, maxDelay: 10000, factor: 3 }, () => 0.5), 100 + 0.5 * (2700 - 100));
  // factor 1: a fixed delay, no jitter window
  assert.equal(backoffDelay(7, { minDelay: 500, maxDelay: 10000, factor: 1 }, () => 0.7), 500);
  // a huge attempt number does not overflow past maxDelay
  assert.equal(backoffDelay(5000, defaults, high), 30000);
});

test("backoff: full jitter spreads the delays over the whole window", () => {
  const delays = [];
  for (let i = 0; i < 400; i++) delays.push(backoffDelay(4, defaults, Math.random));
  const min = Math.min(...delays);
  const max = Math.max(...delays);
  assert.ok(min >= 1000 && max <= 16000, `within [1000, 16000]: ${min}..${max}`);
  assert.ok(min < 1000 + 0.1 * 15000, `some near the bottom: min ${min}`);
  assert.ok(max > 16000 - 0.1 * 15000, `some near the top: max ${max}`);
  assert.ok(new Set(delays).size > 300, "not a handful of fixed values");
});

test("reconnecting events carry the attempt and its delay; the next socket waits exactly that long", () => {
  const randoms = [0.25, 0.5, 0.75, 0];
  const { sock, clock, WS, of, last } = makeSocket("ws://fake/x", { random: () => randoms.shift() });
  assert.equal(WS.instances.length, 1);
  const expected = [
    [1, 1000 + 0.25 * 1000],
    [2, 1000 + 0.5 * 3000],
    [3, 1000 + 0.75 * 7000],
    [4, 1000],
  ];
  for (const [attempt, delay] of expected) {
    last().fail();
    const r = of("reconnecting").at(-1);
    assert.equal(r.attempt, attempt);
    assert.equal(r.delay, delay);
    assert.equal(sock.readyState, CONNECTING, "waiting to reconnect reads as CONNECTING");
    const before = WS.instances.length;
    clock.advance(delay - 1);
    assert.equal(WS.instances.length, before, "not before the delay");
    clock.advance(1);
    assert.equal(WS.instances.length, before + 1, "at the delay");
  }
  assert.equal(of("reconnecting").length, 4);
  assert.equal(of("error").length, 4, "each failed connect is an error event");
  assert.equal(of("close").length, 4);
  assert.ok(of("close").every((e) => e.code === 1006 && e.willReconnect === true));
});

for (const code of [1001, 1006, 1011, 1012, 1013, 1014]) {
  test(`close ${code} from the server reconnects`, () => {
    const { clock, WS, of, last } = makeSocket();
    last().accept();
    last().closeWith(code, "bye");
    const close = of("close")[0];
    assert.equal(close.code, code);
    assert.equal(close.reason, "bye");
    assert.equal(close.willReconnect, true);
    clock.advance(60000);
    assert.equal(WS.instances.length, 2);
  });
}

for (const code of [1000, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 1015, 3000, 4000, 4321, 4999]) {
  test(`close ${code} from the server does not reconnect`, () => {
    const { sock, clock, WS, of, last } = makeSocket();
    last().accept();
    last().closeWith(code);
    assert.equal(of("close")[0].willReconnect, false);
    clock.advance(600000);
    assert.equal(WS.instances.length, 1);
    assert.equal(of("reconnecting").length, 0);
    assert.equal(sock.readyState, CLOSED);
    assert.deepEqual(clock.pending(), [], "no timer left behind");
  });
}

test("shouldReconnect decides instead of the default, given the close event", () => {
  const seen = [];
  const { clock, WS, last } = makeSocket("ws://fake/x", {
    shouldReconnect: (e) => {
      seen.push(e.code);
      return e.code === 4001;
    },
  });
  last().accept();
  last().closeWith(4001);
  clock.advance(60000);
  assert.equal(WS.instances.length, 2, "4001 reconnects by the option");
  last().accept();
  last().closeWith(1006);
  clock.advance(60000);
  assert.equal(WS.instances.length, 2, "1006 does not, by the option");
  assert.deepEqual(seen, [4001, 1006]);
});

test("the page's own close() never reconnects, whatever code the close ends with", () => {
  const { sock, clock, WS, of, last } = makeSocket();
  last().accept();
  sock.close(4000, "done");
  assert.deepEqual(last().closeCalls, [[4000, "done"]]);
  last().closeWith(1006); // e.g. the network went before the close handshake ended
  assert.equal(of("close")[0].willReconnect, false);
  clock.advance(600000);
  assert.equal(WS.instances.length, 1);
  assert.equal(sock.readyState, CLOSED);
  assert.throws(() => sock.close(1001), RangeError, "a page may not send 1001");
});

test("bug 1: close() during the backoff wait does not reopen", () => {
  const { sock, clock, WS, of, last } = makeSocket();
  last().accept();
  last().closeWith(1006);
  assert.equal(of("reconnecting").length, 1);
  sock.close();
  assert.equal(sock.readyState, CLOSED);
  clock.advance(600000);
  assert.equal(WS.instances.length, 1, "no socket after close()");
  assert.equal(of("reconnecting").length, 1);
  assert.deepEqual(clock.pending(), []);
});

test("close() while an async URL provider is pending does not open", async () => {
  let resolveUrl;
  const { sock, WS } = makeSocket(() => new Promise((r) => { resolveUrl = r; }));
  assert.equal(WS.instances.length, 0);
  sock.close();
  resolveUrl("ws://fake/late");
  await settle();
  assert.equal(WS.instances.length, 0);
  assert.equal(sock.readyState, CLOSED);
});

test("close() from a close listener stops the reconnection that listener would see", () => {
  const { sock, clock, WS, last } = makeSocket();
  sock.addEventListener("close", () => sock.close());
  last().accept();
  last().closeWith(1006);
  clock.advance(600000);
  assert.equal(WS.instances.length, 1);
});

test("maxAttempts: gives up with one maximum event", () => {
  const { sock, clock, WS, of, last } = makeSocket("ws://fake/x", { maxAttempts: 3 });
  last().fail();
  for (let i = 0; i < 3; i++) {
    clock.advance(60000);
    last().fail();
  }
  clock.advance(600000);
  assert.equal(WS.instances.length, 4, "the first try and 3 reconnections");
  assert.deepEqual(of("reconnecting").map((e) => e.attempt), [1, 2, 3]);
  assert.equal(of("maximum").length, 1);
  assert.equal(of("maximum")[0].attempts, 3);
  assert.equal(sock.readyState, CLOSED);
});

test("bug 2: reconnect() after maximum connects again, with a fresh attempt count", () => {
  const { sock, clock, WS, of, last } = makeSocket("ws://fake/x", { maxAttempts: 1 });
  last().fail();
  clock.advance(60000);
  last().fail();
  assert.equal(of("maximum").length, 1);
  sock.reconnect();
  assert.equal(WS.instances.length, 3, "a socket at once");
  last().accept();
  assert.equal(sock.readyState, OPEN);
  assert.equal(sock.send("after"), true);
  assert.deepEqual(last().sent, ["after"]);
  last().fail();
  assert.deepEqual(of("reconnecting").map((e) => e.attempt), [1, 1], "counting from 1 again");
});

test("reconnect() after close() connects again, and reconnects again after a drop", () => {
  const { sock, clock, WS, last } = makeSocket();
  last().accept();
  sock.close();
  last().closeWith(1000);
  sock.reconnect();
  assert.equal(WS.instances.length, 2);
  last().accept();
  assert.equal(sock.readyState, OPEN);
  last().closeWith(1006); // no longer closed by the page: this one reconnects
  clock.advance(60000);
  assert.equal(WS.instances.length, 3);
});

test("reconnect() on an open connection replaces it", () => {
  const { sock, WS, of, last } = makeSocket();
  last().accept();
  const first = last();
  sock.reconnect();
  assert.deepEqual(first.closeCalls, [[1000, "reconnect"]]);
  assert.equal(WS.instances.length, 2);
  assert.equal(of("close")[0].willReconnect, true);
  first.closeWith(1000); // the old socket's late close event is not ours any more
  assert.equal(of("close").length, 1);
  last().accept();
  assert.equal(of("open").length, 2);
});

test("the attempt count resets only after minUptime open", () => {
  const { clock, of, last } = makeSocket("ws://fake/x", { minUptime: 5000 });
  last().fail();
  clock.advance(60000);
  last().accept();
  clock.advance(4999);
  last().closeWith(1006); // up 4.999 s: not stable
  assert.deepEqual(of("reconnecting").map((e) => e.attempt), [1, 2]);
  clock.advance(60000);
  last().accept();
  clock.advance(5000);
  last().closeWith(1006); // up 5 s: stable, count from 1
  assert.deepEqual(of("reconnecting").map((e) => e.attempt), [1, 2, 1]);
});

test("URL provider: called before every attempt, its value used for that attempt", () => {
  let n = 0;
  const { clock, WS, last } = makeSocket(() => `ws://fake/chat?csrf=token${++n}`);
  last().fail();
  clock.advance(60000);
  last().accept();
  last().closeWith(1012);
  clock.advance(60000);
  assert.deepEqual(WS.instances.map((w) => w.url), [
    "ws://fake/chat?csrf=token1",
    "ws://fake/chat?csrf=token2",
    "ws://fake/chat?csrf=token3",
  ]);
  assert.equal(n, 3);
});

test("URL and subprotocol providers may return Promises", async () => {
  let n = 0;
  const { sock, clock, WS, last } = makeSocket(async () => `ws://fake/p?t=${++n}`, {
    protocols: () => Promise.resolve(["v2", "v1"]),
  });
  assert.equal(WS.instances.length, 0, "nothing before the Promise settles");
  assert.equal(sock.readyState, CONNECTING);
  await settle();
  assert.equal(WS.instances.length, 1);
  assert.equal(last().url, "ws://fake/p?t=1");
  assert.deepEqual(last().protocols, ["v2", "v1"]);
  last().accept({ protocol: "v2" });
  assert.equal(sock.protocol, "v2");
  last().closeWith(1006);
  clock.advance(60000);
  await settle();
  assert.equal(WS.instances.length, 2);
  assert.equal(last().url, "ws://fake/p?t=2");
});

test("a URL provider that rejects is an error event and a failed attempt", async () => {
  let n = 0;
  const { clock, WS, of } = makeSocket(() => (++n === 1 ? Promise.reject(new Error("no token")) : "ws://fake/ok"));
  await settle();
  assert.equal(WS.instances.length, 0);
  assert.equal(of("error")[0].error.message, "no token");
  assert.equal(of("reconnecting")[0].attempt, 1);
  clock.advance(60000);
  await settle();
  assert.equal(WS.instances.length, 1);
  assert.equal(WS.instances[0].url, "ws://fake/ok");
});

test("a WebSocket constructor that throws is reported to listeners added after new", async () => {
  const { sock, of } = makeSocket("ws://fake/x", {
    WebSocket: class {
      constructor() { throw new SyntaxError("bad URL"); }
    },
  });
  await settle();
  assert.equal(of("error").length, 1);
  assert.ok(of("error")[0].error instanceof SyntaxError);
  assert.equal(of("reconnecting").length, 1);
  sock.close();
});

test("online: a reconnection waiting for its delay happens at once", () => {
  const { sock, WS, eventSource, last } = makeSocket("ws://fake/x", { minDelay: 20000, maxDelay: 60000 });
  last().accept();
  eventSource.dispatchEvent(new Event("online"));
  assert.equal(WS.instances.length, 1, "an open connection is left alone");
  last().closeWith(1006);
  assert.equal(WS.instances.length, 1);
  eventSource.dispatchEvent(new Event("online"));
  assert.equal(WS.instances.length, 2, "connects now instead of after 20 s");
  last().fail();
  sock.close();
  eventSource.dispatchEvent(new Event("online"));
  assert.equal(WS.instances.length, 2, "not after close()");
});

test("connectTimeout: a connect that hangs is given up as a 1006 and retried", () => {
  const { clock, WS, of, last } = makeSocket("ws://fake/x", { connectTimeout: 3000 });
  clock.advance(2999);
  assert.equal(of("close").length, 0);
  clock.advance(1);
  assert.equal(of("close")[0].code, 1006);
  assert.equal(of("close")[0].reason, "connect timeout");
  assert.equal(WS.instances[0].closeCalls.length, 1, "the hanging socket is closed");
  assert.equal(of("reconnecting")[0].delay, 1500);
  clock.advance(1500);
  assert.equal(WS.instances.length, 2);
  last().accept();
  clock.advance(60000);
  assert.equal(of("close").length, 1, "no timeout once open");
});

test("options are checked", () => {
  const WebSocket = class {};
  assert.throws(() => new ParleySocket("ws://x", { WebSocket, maxDelay: 10, minDelay: 20 }), TypeError);
  assert.throws(() => new ParleySocket("ws://x", { WebSocket, queueFull: "drop" }), TypeError);
  assert.throws(() => new ParleySocket("ws://x", { WebSocket, minDelya: 10 }), /unknown option minDelya/);
  assert.throws(() => new ParleySocket("", { WebSocket }), TypeError);
  assert.throws(() => new ParleySocket("ws://x", { WebSocket, factor: 0.5 }), TypeError);
});
