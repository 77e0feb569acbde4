// The dashboard example's slow-consumer rule, end to end: a client that
// completed its handshake and never reads (never_reads.py: a tiny receive
// buffer and a small MSS) is skipped once its unsent output passes
// --max-buffered, while a Chromium page and a Node `ws` client keep getting
// every update, in order; the server keeps no more than the limit (plus one
// update) for the slow one. Seen through the updates' `seq` and `missed`
// fields and the example's read-only GET /status.
import { spawn } from "node:child_process";
import http from "node:http";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

import WebSocket from "ws";

import { startExample } from "./examples.mjs";
import { launchBrowser, newPage, sleep, stopProcess, TEST_TIMEOUT, until } from "./support.mjs";

const PERIOD_MS = 20; // 50 updates a second: the slow client's buffers fill in seconds
const LIMIT = 4096; // --max-buffered: the unsent output a page may have
const NEVER_READS = fileURLToPath(new URL("never_reads.py", import.meta.url));

let chrome;
let server;
let slow = null;
process.on("exit", () => {
  if (slow) try { process.kill(slow.pid, "SIGKILL"); } catch { /* already gone */ }
});
before(async () => {
  chrome = await launchBrowser();
  server = await startExample("dashboard", ["--period-ms", String(PERIOD_MS), "--max-buffered", String(LIMIT)]);
});
after(async () => {
  if (slow) await stopProcess(slow, "SIGKILL");
  await server?.stop();
  await chrome?.close();
});

/**
 * GET /status, on a connection of its own: parley closes the connection
 * after an on_http answer without saying "Connection: close", so a client
 * that keeps connections alive (fetch) can send its next request into one
 * the server is closing ("other side closed").
 */
function status() {
  return new Promise((resolve, reject) => {
    const req = http.get(server.url + "/status", { agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { body += d; });
      res.on("end", () => {
        try {
          assert.equal(res.statusCode, 200, body);
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("GET /status timed out")));
    req.on("error", reject);
  });
}

/** Checks that `got` ([seq, missed] per update, as received) has no gap, nothing out of order, nothing missed. */
function assertEveryUpdate(who, got, last) {
  assert.ok(got.length > 0, `${who} got updates`);
  const first = got[0][0];
  const gaps = got.filter(([seq], i) => seq !== first + i);
  assert.deepEqual(gaps.slice(0, 5), [], `${who}: every update from ${first} on, in order`);
  assert.deepEqual(got.filter(([, missed]) => missed !== 0).slice(0, 5), [], `${who}: missed stays 0`);
  assert.ok(got.at(-1)[0] >= last - 5, `${who} is up to date (${got.at(-1)[0]} of ${last})`);
}

test("a client that never reads is skipped; the page and the other client get every update", { timeout: TEST_TIMEOUT }, async (t) => {
  // The page records what its WebSocket receives, before parley.js sees it.
  const page = await newPage(chrome.browser);
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.__updates = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener("message", (e) => {
          if (e.data === "__parley_pong__") return; // parley.js's heartbeat answer
          const m = JSON.parse(e.data);
          if (typeof m.seq === "number") window.__updates.push([m.seq, m.missed]);
        });
      }
    };
  });
  await page.goto(server.url + "/");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("live from ws://"));

  const fast = [];
  const peer = new WebSocket(server.ws + "/figures");
  peer.on("message", (data) => {
    const m = JSON.parse(String(data));
    fast.push([m.seq, m.missed]);
  });
  await new Promise((resolve, reject) => { peer.once("open", resolve); peer.once("error", reject); });

  slow = spawn("/usr/bin/python3", [NEVER_READS, "127.0.0.1", String(server.port), "/figures", "55"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let slowOut = "";
  for (const stream of [slow.stdout, slow.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (d) => { slowOut += d; });
  }
  await until(() => slowOut.startsWith("open") || slow.exitCode !== null, "the slow client's handshake", 10_000);
  assert.match(slowOut, /^open /, slowOut);
  await until(async () => (await status()).connections === 3, "three connections");

  // Its buffers fill (some 60 KB in the kernel at 5 KB/s: 10-20 s), then it is skipped.
  const filling = Date.now();
  await until(async () => (await status()).skipped > 0, "the slow client to be skipped", 40_000);
  const filled = Date.now() - filling;
  const s1 = await status();
  await sleep(2000);
  const s2 = await status();
  const ticks = s2.updates - s1.updates;
  assert.ok(ticks >= 20, `updates went on (${ticks} in 2 s)`);
  // From then on one page is skipped at each update: the slow one (the fast
  // ones' missed stays 0, below). Its connection stays open.
  const skipped = s2.skipped - s1.skipped;
  assert.ok(skipped >= ticks - 3 && skipped <= ticks + 3, `one page skipped at each update: ${skipped} skips in ${ticks} updates`);
  assert.equal(s2.connections, 3, "the slow client is still connected");
  assert.equal(s2.max_buffered_amount, LIMIT);
  // What the server holds for it: the limit, plus the one update that went past it.
  assert.ok(s2.peak_buffered <= LIMIT + 256, `peak unsent output ${s2.peak_buffered} B, limit ${LIMIT} B`);
  assert.equal(slow.exitCode, null, "the slow client is still there");

  const last = (await status()).updates;
  await sleep(300);
  const seen = await page.evaluate(() => window.__updates);
  t.diagnostic(`skipped after ${filled} ms; then ${skipped} skips in ${ticks} updates; ` +
    `peak unsent ${s2.peak_buffered} B; the Node client got ${fast.length} updates, the page ${seen.length}, of ${last}`);
  assertEveryUpdate("the Node client", fast, last);
  assertEveryUpdate("the Chromium page", seen, last);
  assert.deepEqual(page.errors, []);
  peer.close();
  await page.context().close();
});
