// parley.js in Chromium against servers that go away: `parley serve`
// restarted on the same port (the queue delivered in order on the new
// connection), and a server that freezes its connection (the heartbeat
// gives it up within its timeout, long before Chromium would).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { WebSocketServer } from "ws";

import { ARTIFACTS, launchBrowser, newPage, serve, sleep, TEST_TIMEOUT, until } from "./support.mjs";

let chrome;
before(async () => {
  chrome = await launchBrowser();
});
after(async () => {
  await chrome?.close();
});

/** Records the socket's events in window.events as [type, fields, performance.now()]. */
function recordEvents() {
  window.events = [];
  for (const type of ["open", "message", "close", "error", "reconnecting", "maximum", "drop"]) {
    window.sock.addEventListener(type, (e) => {
      const fields = {};
      for (const k of ["data", "code", "reason", "willReconnect", "attempt", "delay"]) if (k in e) fields[k] = e[k];
      window.events.push([type, fields, performance.now()]);
    });
  }
}

test("restarted on the same port: parley.js reconnects and delivers its queue in order", { timeout: TEST_TIMEOUT }, async () => {
  let server = await serve();
  const port = server.port;
  try {
    const page = await newPage(chrome.browser);
    await page.goto(server.url + "/");
    await page.evaluate(async ({ url, record }) => {
      const { ParleySocket } = await import("/parley.js");
      window.sock = new ParleySocket(url, { minDelay: 100, maxDelay: 400 });
      new Function(record)();
      await new Promise((resolve) => window.sock.addEventListener("open", resolve, { once: true }));
    }, { url: server.ws + "/echo", record: `(${recordEvents})()` });
    assert.equal(await page.evaluate(() => window.sock.send("before")), true);
    await page.waitForFunction(() => window.events.some(([t, f]) => t === "message" && f.data === "before"));

    await server.stop("SIGTERM"); // closes every connection with 1001
    await page.waitForFunction(() => window.events.some(([t]) => t === "close"));
    const queuedWhileDown = await page.evaluate(() => {
      const results = [];
      for (let i = 0; i < 50; i++) results.push(window.sock.send(`queued ${i}`));
      return { results, queued: window.sock.queued, state: window.sock.readyState };
    });
    assert.ok(queuedWhileDown.results.every((r) => r === false), "sent while down: queued");
    assert.equal(queuedWhileDown.queued, 50);
    assert.equal(queuedWhileDown.state, 0, "CONNECTING while it waits to reconnect");
    await sleep(600); // some attempts fail against the closed port first

    server = await serve([], { port });
    assert.equal(server.port, port);
    await page.waitForFunction(() => window.events.filter(([t]) => t === "message").length >= 51, null, { timeout: 15000 });
    const events = await page.evaluate(() => window.events.map(([t, f]) => [t, f]));
    const messages = events.filter(([t]) => t === "message").map(([, f]) => f.data);
    assert.deepEqual(messages, ["before", ...Array.from({ length: 50 }, (_, i) => `queued ${i}`)]);
    const closes = events.filter(([t]) => t === "close").map(([, f]) => f);
    assert.equal(closes[0].code, 1001, "the stopping server said going away");
    assert.ok(closes.every((c) => c.willReconnect === true));
    const attempts = events.filter(([t]) => t === "reconnecting").map(([, f]) => f);
    assert.ok(attempts.length >= 2, `failed attempts while the server was down: ${JSON.stringify(attempts)}`);
    assert.ok(attempts.every((a) => a.delay >= 100 && a.delay <= 400), JSON.stringify(attempts));
    assert.equal(events.filter(([t]) => t === "open").length, 2);
    assert.equal(await page.evaluate(() => window.sock.queued), 0);
    await page.context().close();
  } finally {
    await server.stop();
  }
});

test("a server that freezes is given up by the heartbeat within its timeout, and parley.js reconnects", { timeout: TEST_TIMEOUT }, async () => {
  // A Node ws server answering the heartbeat until frozen; frozen, it
  // neither answers nor reads nor closes: the TCP connection stays up.
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => wss.once("listening", resolve));
  let frozen = false;
  let connections = 0;
  wss.on("connection", (ws) => {
    connections++;
    ws.on("message", (data, isBinary) => {
      if (frozen) return;
      if (!isBinary && data.toString() === "__parley_ping__") ws.send("__parley_pong__");
      else ws.send(data, { binary: isBinary });
    });
  });
  const parley = await serve(); // only serves the page and /parley.js
  try {
    const page = await newPage(chrome.browser);
    await page.goto(parley.url + "/");
    await page.evaluate(async ({ url, record }) => {
      const { ParleySocket } = await import("/parley.js");
      window.sock = new ParleySocket(url, { heartbeatInterval: 200, heartbeatTimeout: 1000, minDelay: 100, maxDelay: 200 });
      new Function(record)();
      await new Promise((resolve) => window.sock.addEventListener("open", resolve, { once: true }));
    }, { url: `ws://127.0.0.1:${wss.address().port}/`, record: `(${recordEvents})()` });

    await sleep(1500); // 7 heartbeats answered: still open
    assert.equal(await page.evaluate(() => window.sock.readyState), 1);
    assert.deepEqual(await page.evaluate(() => window.events.map(([t]) => t)), ["open"]);

    frozen = true;
    for (const client of wss.clients) client._socket.pause(); // stop reading too
    const frozenAt = await page.evaluate(() => performance.now());
    await page.waitForFunction(() => window.events.some(([t]) => t === "close"), null, { timeout: 10000 });
    const { close, closedAt } = await page.evaluate(() => {
      const [, fields, at] = window.events.find(([t]) => t === "close");
      return { close: fields, closedAt: at };
    });
    assert.equal(close.code, 1006);
    assert.equal(close.reason, "heartbeat timeout");
    assert.equal(close.willReconnect, true);
    const took = closedAt - frozenAt;
    // The last answer came at most one interval (200 ms) before the freeze,
    // so the timeout (1000 ms after it) ends 800-1000 ms after the freeze,
    // plus the scheduling slack of a loaded machine.
    console.log(`heartbeat gave the frozen server up ${took.toFixed(0)} ms after it froze (timeout 1000 ms)`);
    assert.ok(took >= 700 && took <= 1600, `given up ${took.toFixed(0)} ms after the freeze`);

    frozen = false; // new connections are answered again
    await page.waitForFunction(() => window.events.filter(([t]) => t === "open").length >= 2, null, { timeout: 10000 });
    await until(() => connections >= 2, "the reconnection to reach the server");
    assert.equal(await page.evaluate(() => window.sock.send("alive again")), true);
    await page.waitForFunction(() => window.events.some(([t, f]) => t === "message" && f.data === "alive again"));
    await page.screenshot({ path: join(ARTIFACTS, "after-heartbeat-timeout.png") });
    await page.context().close();
  } finally {
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await parley.stop();
  }
});
