// The demo chat of `parley serve --redis URL --history N` in a real
// Chromium (issue 16): the page keeps the offset of the last message it
// showed; when its server goes away and comes back, parley.js reconnects
// with ?since=OFFSET and the page shows what was said meanwhile on another
// server, then "caught up". A real redis-server, started here on a free
// loopback port, stopped by its PID.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import WebSocket from "ws";

import { ARTIFACTS, launchBrowser, newPage, serve, stopProcess, TEST_TIMEOUT, until } from "./support.mjs";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => { c.destroy(); resolve(true); });
    c.once("error", () => resolve(false));
  });
}

let chrome;
let redis;
let redisUrl;
const servers = [];
before(async () => {
  const port = await freePort();
  redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" });
  await until(() => accepts(port), "redis-server to listen");
  redisUrl = `redis://127.0.0.1:${port}`;
  chrome = await launchBrowser();
});
after(async () => {
  for (const s of servers) await s.stop();
  await chrome?.close();
  if (redis) await stopProcess(redis);
});

async function historyServer(port = 0) {
  const s = await serve(["--redis", redisUrl, "--history", "100"], { port });
  servers.push(s);
  await until(() => s.log().includes("Redis broker up"), "the broker to come up");
  return s;
}

function logLines(page) {
  return page.$$eval("#log p", (ps) => ps.map((p) => p.textContent));
}

test("a page that reconnects gets what it missed, then goes on live", { timeout: TEST_TIMEOUT }, async () => {
  const a = await historyServer();
  const b = await historyServer();
  const page = await newPage(chrome.browser);
  await page.setViewportSize({ width: 800, height: 600 });
  await page.goto(b.url + "/");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("connected to ws://"));
  // The page's own message comes back through Redis with its offset: shown as text.
  await page.fill("#text", "before the outage");
  await page.click("#send");
  await page.waitForFunction(() => [...document.querySelectorAll("#log p")].some((p) => p.textContent === "before the outage"));

  // Its server goes away; two messages are said on the other one meanwhile.
  await b.stop();
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("reconnecting"));
  const other = new WebSocket(a.ws + "/chat");
  await new Promise((resolve, reject) => { other.once("open", resolve); other.once("error", reject); });
  const echoed = [];
  other.on("message", (m) => echoed.push(String(m)));
  other.send("said while away 1");
  other.send("said while away 2");
  await until(() => echoed.length === 2, "the other client's messages to come back");

  // The server comes back on the same port: the page reconnects with ?since=.
  const back = await historyServer(b.port);
  await page.waitForFunction(
    () => [...document.querySelectorAll("#log p")].some((p) => p.textContent.startsWith("caught up")), null,
    { timeout: 20_000 });
  assert.match(await page.$eval("#status", (e) => e.textContent), /connected to ws:\/\/.*\/chat\?since=\d+-\d+/);
  other.send("live again");
  await page.waitForFunction(() => [...document.querySelectorAll("#log p")].some((p) => p.textContent === "live again"));
  other.close();

  const lines = (await logLines(page)).filter((l) => !l.startsWith("closed") && l !== "connected");
  assert.deepEqual(lines, [
    "before the outage",
    "said while away 1",
    "said while away 2",
    "caught up: 2 message(s) missed while away",
    "live again",
  ]);
  assert.match(back.log(), /since \d+-\d+: recovered, 2 message\(s\) replayed/);
  await page.screenshot({ path: join(ARTIFACTS, "chat-history-recovered.png") });
  await page.close();
});
