// The demo chat of `parley serve` in a real Chromium: two pages chat through
// it (screenshots saved as artifacts), and the heartbeat of parley.js is
// answered on every path without reaching the chat.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { ARTIFACTS, launchBrowser, newPage, serve, TEST_TIMEOUT } from "./support.mjs";

let chrome;
let server;
before(async () => {
  chrome = await launchBrowser();
  server = await serve();
});
after(async () => {
  await server?.stop();
  await chrome?.close();
});

async function openChat(page) {
  await page.goto(server.url + "/");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("connected to ws://"));
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.click("#send");
}

function logLines(page) {
  return page.$$eval("#log p", (ps) => ps.map((p) => p.textContent));
}

test("two pages chat through the demo page", { timeout: TEST_TIMEOUT }, async () => {
  const alice = await newPage(chrome.browser);
  const bob = await newPage(chrome.browser);
  await alice.setViewportSize({ width: 800, height: 600 });
  await bob.setViewportSize({ width: 800, height: 600 });
  await openChat(alice);
  await openChat(bob);

  await say(alice, "hello from alice");
  await bob.waitForFunction(() => [...document.querySelectorAll("#log p")].some((p) => p.textContent === "hello from alice"));
  await say(bob, "hi alice, <b>bob</b> here");
  await alice.waitForFunction(() => [...document.querySelectorAll("#log p")].some((p) => p.textContent.startsWith("hi alice")));
  await say(alice, "ünïcødé ✓ καλημέρα");
  await bob.waitForFunction(() => [...document.querySelectorAll("#log p")].some((p) => p.textContent === "ünïcødé ✓ καλημέρα"));

  const expected = ["connected", "hello from alice", "hi alice, <b>bob</b> here", "ünïcødé ✓ καλημέρα"];
  assert.deepEqual(await logLines(alice), expected);
  assert.deepEqual(await logLines(bob), expected);
  assert.equal(await alice.$$eval("#log b", (b) => b.length), 0, "a message is shown as text, never as HTML");
  assert.equal(await alice.inputValue("#text"), "", "the input is cleared after sending");

  await alice.screenshot({ path: join(ARTIFACTS, "chat-alice.png") });
  await bob.screenshot({ path: join(ARTIFACTS, "chat-bob.png") });
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
  await alice.context().close();
  await bob.context().close();
});

test("the heartbeat is answered on every path and never reaches the chat", { timeout: TEST_TIMEOUT }, async () => {
  const member = await newPage(chrome.browser);
  await openChat(member);
  const page = await newPage(chrome.browser);
  await page.goto(server.url + "/");
  const result = await page.evaluate(async (base) => {
    const { HEARTBEAT_MESSAGE, ParleySocket } = await import("/parley.js");
    // With a plain WebSocket: what the server answers to the heartbeat message.
    const answers = {};
    for (const path of ["/chat", "/echo", "/any/other"]) {
      answers[path] = await new Promise((resolve, reject) => {
        const ws = new WebSocket(base + path);
        ws.onopen = () => ws.send(HEARTBEAT_MESSAGE);
        ws.onmessage = (e) => { resolve(e.data); ws.close(); };
        ws.onerror = () => reject(new Error("socket error on " + path));
      });
    }
    // With parley.js: a heartbeat every 100 ms, given up after 400 ms of
    // silence. The replies keep the connection alive and are not messages.
    const events = [];
    const sock = new ParleySocket(base + "/chat", { heartbeatInterval: 100, heartbeatTimeout: 400 });
    for (const type of ["open", "message", "close", "error"]) sock.addEventListener(type, (e) => events.push(type + (e.data ? ":" + e.data : "")));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const state = sock.readyState;
    sock.close();
    return { answers, events, state };
  }, server.ws);
  assert.deepEqual(result.answers, { "/chat": "__parley_pong__", "/echo": "__parley_pong__", "/any/other": "__parley_pong__" });
  assert.deepEqual(result.events, ["open"], "about 14 heartbeats answered: no message event, no close");
  assert.equal(result.state, 1);
  const lines = await logLines(member);
  assert.ok(!lines.some((l) => l.includes("__parley_p")), `the chat never shows a heartbeat: ${JSON.stringify(lines)}`);
  assert.deepEqual(page.errors, []);
  await member.context().close();
  await page.context().close();
});
