// Messages: the send queue (order, bound, both full-queue modes), JSON in
// and out with the CSRF field, heartbeat, the WebSocket's properties.
import { test } from "node:test";
import assert from "node:assert/strict";

import { HEARTBEAT_MESSAGE, HEARTBEAT_REPLY, OPEN } from "../parley.js";
import { makeSocket } from "./fakes.js";

test("messages sent before open are flushed in order on open, before the open listeners run", () => {
  const { sock, last } = makeSocket();
  sock.addEventListener("open", () => sock.send("from the open listener"));
  assert.equal(sock.send("one"), false, "queued");
  sock.send("two");
  sock.json({ n: 3 });
  assert.equal(sock.queued, 3);
  last().accept();
  assert.deepEqual(last().sent, ["one", "two", '{"n":3}', "from the open listener"]);
  assert.equal(sock.queued, 0);
  assert.equal(sock.send("now"), true, "sent at once when open");
  assert.equal(last().sent.at(-1), "now");
});

test("messages sent while reconnecting go out on the next connection, in order", () => {
  const { sock, clock, last } = makeSocket();
  last().accept();
  sock.send("a");
  last().closeWith(1001);
  const first = last();
  for (let i = 0; i < 5; i++) sock.send(`queued ${i}`);
  clock.advance(60000);
  assert.notEqual(last(), first);
  last().accept();
  assert.deepEqual(first.sent, ["a"]);
  assert.deepEqual(last().sent, ["queued 0", "queued 1", "queued 2", "queued 3", "queued 4"]);
});

test("a full queue drops its oldest message with a drop event (the default)", () => {
  const { sock, of, last } = makeSocket("ws://fake/x", { queueSize: 3 });
  for (let i = 1; i <= 5; i++) sock.send(`m${i}`);
  assert.equal(sock.queued, 3);
  assert.deepEqual(of("drop").map((e) => e.data), ["m1", "m2"]);
  sock.json({ k: 6 });
  assert.deepEqual(of("drop").at(-1).data, "m3");
  last().accept();
  assert.deepEqual(last().sent, ["m4", "m5", '{"k":6}']);
});

test("the default queue holds 1,000 messages", () => {
  const { sock, of, last } = makeSocket();
  for (let i = 0; i < 1005; i++) sock.send(i);
  assert.equal(sock.queued, 1000);
  assert.deepEqual(of("drop").map((e) => e.data), [0, 1, 2, 3, 4]);
  last().accept();
  assert.equal(last().sent.length, 1000);
  assert.equal(last().sent[0], 5);
  assert.equal(last().sent[999], 1004);
});

test('queueFull "throw": a send past the bound throws and the queue keeps the first ones', () => {
  const { sock, of, last } = makeSocket("ws://fake/x", { queueSize: 2, queueFull: "throw" });
  sock.send("x");
  sock.send("y");
  assert.throws(() => sock.send("z"), RangeError);
  assert.throws(() => sock.json({ z: 1 }), /queue full \(2 messages\)/);
  assert.equal(of("drop").length, 0);
  last().accept();
  assert.deepEqual(last().sent, ["x", "y"]);
});

test("queueSize 0: nothing is queued", () => {
  const { sock, of, last } = makeSocket("ws://fake/x", { queueSize: 0 });
  sock.send("lost");
  assert.equal(sock.queued, 0);
  assert.equal(of("drop")[0].data, "lost");
  last().accept();
  assert.deepEqual(last().sent, []);
});

test("send passes strings, ArrayBuffers, typed arrays and Blobs to the socket as they are", () => {
  const { sock, last } = makeSocket();
  last().accept();
  const buffer = new ArrayBuffer(4);
  const bytes = new Uint8Array([1, 2, 3]);
  const blob = new Blob(["blob"]);
  for (const d of ["text", buffer, bytes, blob]) sock.send(d);
  assert.equal(last().sent.length, 4);
  assert.equal(last().sent[0], "text");
  assert.equal(last().sent[1], buffer);
  assert.equal(last().sent[2], bytes);
  assert.equal(last().sent[3], blob);
});

test("json() adds the CSRF field to objects, freshly read, without changing the caller's object", () => {
  let token = "t1";
  const { sock, last } = makeSocket("ws://fake/x", { csrf: () => token });
  last().accept();
  const value = { text: "hi" };
  sock.json(value);
  assert.deepEqual(value, { text: "hi" });
  token = "t2";
  sock.json([1, 2]);
  sock.json("plain");
  assert.deepEqual(last().sent, ['{"text":"hi","csrf":"t1"}', "[1,2]", '"plain"']);
});

test("json() while not open: the CSRF token is the one current when the message goes out", () => {
  let token = "old";
  const { sock, last } = makeSocket("ws://fake/x", { csrf: () => token, csrfField: "csrf_token" });
  sock.json({ a: 1 });
  token = "fresh";
  last().accept();
  assert.deepEqual(last().sent, ['{"a":1,"csrf_token":"fresh"}']);
});

test("json: true decodes messages; a parse failure is an error event with the raw data, never a throw", () => {
  const { last, of } = makeSocket("ws://fake/x", { json: true });
  last().accept();
  last().message('{"a":[1,2]}');
  assert.doesNotThrow(() => last().message("{not json"));
  last().message("42");
  const bytes = new ArrayBuffer(2);
  last().message(bytes);
  const messages = of("message");
  assert.deepEqual(messages.map((e) => e.data), [{ a: [1, 2] }, 42, bytes]);
  assert.equal(messages[0].raw, '{"a":[1,2]}');
  const errors = of("error");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].data, "{not json");
  assert.ok(errors[0].error instanceof SyntaxError);
});

test("without json: messages are delivered as they came", () => {
  const { last, of } = makeSocket();
  last().accept();
  last().message('{"a":1}');
  assert.equal(of("message")[0].data, '{"a":1}');
  assert.equal(of("message")[0].origin, "ws://fake");
});

test("heartbeat: sends its message every interval; replies are not delivered", () => {
  const { clock, last, of } = makeSocket("ws://fake/x", { heartbeatInterval: 1000 });
  last().accept();
  clock.advance(999);
  assert.deepEqual(last().sent, []);
  clock.advance(1);
  assert.deepEqual(last().sent, [HEARTBEAT_MESSAGE]);
  last().message(HEARTBEAT_REPLY);
  clock.advance(1000);
  assert.deepEqual(last().sent, [HEARTBEAT_MESSAGE, HEARTBEAT_MESSAGE]);
  assert.equal(of("message").length, 0, "the reply is not a message");
  assert.equal(HEARTBEAT_MESSAGE, "__parley_ping__");
  assert.equal(HEARTBEAT_REPLY, "__parley_pong__");
});

test("heartbeat: silence for heartbeatTimeout closes without waiting for the browser, and reconnects", () => {
  const { sock, clock, WS, last, of } = makeSocket("ws://fake/x", {
    heartbeatInterval: 1000,
    heartbeatTimeout: 2500,
    heartbeatMessage: "ping?",
  });
  last().accept();
  clock.advance(2000);
  last().message("anything counts"); // t = 2000: the timeout restarts here
  clock.advance(2499);
  assert.equal(of("close").length, 0, "alive: something came 2.499 s ago");
  assert.equal(sock.readyState, OPEN);
  const dead = last();
  clock.advance(1); // t = 4500: 2.5 s of silence
  assert.equal(of("close").length, 1);
  const close = of("close")[0];
  assert.equal(close.code, 1006);
  assert.equal(close.reason, "heartbeat timeout");
  assert.equal(close.willReconnect, true);
  assert.equal(dead.closeCalls.length, 1, "the dead socket is told to close");
  assert.ok(dead.sent.every((m) => m === "ping?") && dead.sent.length === 4);
  dead.closeWith(1006); // the browser's own close event, much later: ignored
  assert.equal(of("close").length, 1);
  clock.advance(1500);
  assert.equal(WS.instances.length, 2);
});

test("heartbeat: the default timeout is twice the interval; off by default", () => {
  const on = makeSocket("ws://fake/x", { heartbeatInterval: 1000 });
  on.last().accept();
  on.clock.advance(1999);
  assert.equal(on.of("close").length, 0);
  on.clock.advance(1);
  assert.equal(on.of("close").length, 1);

  const off = makeSocket();
  off.last().accept();
  off.clock.advance(3600000);
  assert.deepEqual(off.last().sent, []);
  assert.equal(off.of("close").length, 0);
});

test("the WebSocket's properties pass through", () => {
  const { sock, last } = makeSocket("ws://fake/props", { binaryType: "arraybuffer" });
  assert.equal(last().binaryType, "arraybuffer");
  assert.equal(sock.url, "ws://fake/props");
  last().accept({ protocol: "chat", extensions: "permessage-deflate; client_max_window_bits" });
  assert.equal(sock.protocol, "chat");
  assert.equal(sock.extensions, "permessage-deflate; client_max_window_bits");
  last().bufferedAmount = 1234;
  assert.equal(sock.bufferedAmount, 1234);
  sock.binaryType = "blob";
  assert.equal(last().binaryType, "blob");
  sock.binaryType = "nonsense";
  assert.equal(sock.binaryType, "blob");
  assert.equal(sock.readyState, OPEN);
  assert.equal(sock.OPEN, 1);
  assert.equal(sock.socket, last());
});

test("on<event> handler properties work beside listeners", () => {
  const { sock, last } = makeSocket();
  const seen = [];
  sock.onopen = () => seen.push("open");
  sock.onmessage = (e) => seen.push(e.data);
  last().accept();
  last().message("m");
  sock.onmessage = null;
  last().message("not seen");
  assert.deepEqual(seen, ["open", "m"]);
  assert.equal(sock.onmessage, null);
});
