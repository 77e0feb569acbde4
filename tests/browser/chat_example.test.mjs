// The chat example (examples/chat) in a real Chromium: two pages in one room
// chat, a page in another room hears nothing of it, and the heartbeat of
// parley.js is answered without reaching the room. A screenshot is saved as
// an artifact.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { startExample } from "./examples.mjs";
import { ARTIFACTS, launchBrowser, newPage, TEST_TIMEOUT } from "./support.mjs";

let chrome;
let server;
before(async () => {
  chrome = await launchBrowser();
  server = await startExample("chat");
});
after(async () => {
  await server?.stop();
  await chrome?.close();
});

async function enter(name, room) {
  const page = await newPage(chrome.browser);
  await page.setViewportSize({ width: 800, height: 620 });
  await page.goto(`${server.url}/?name=${name}&room=${room}`);
  await page.waitForFunction((s) => document.getElementById("status").textContent === s, `${name} in ${room}`);
  return page;
}

const lines = (page) => page.$$eval("#log p", (ps) => ps.map((p) => p.textContent));
const hasLine = (page, text) =>
  page.waitForFunction((t) => [...document.querySelectorAll("#log p")].some((p) => p.textContent === t), text);

test("two pages chat in a room; another room hears nothing", { timeout: TEST_TIMEOUT }, async () => {
  const alice = await enter("alice", "lobby");
  const bob = await enter("bob", "lobby");
  const carol = await enter("carol", "garden");
  await hasLine(alice, "* bob joined lobby (2 here)");
  for (const [page, text] of [[alice, "hello bob"], [bob, "hi alice, <i>bob</i> here ✓"]]) {
    await page.fill("#text", text);
    await page.click("#send");
  }
  await hasLine(alice, "bob: hi alice, <i>bob</i> here ✓");
  await hasLine(bob, "alice: hello bob");
  // parley.js's heartbeat message is answered and never shown to the room.
  const reply = await carol.evaluate(async (url) => {
    const { HEARTBEAT_MESSAGE } = await import("/parley.js");
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => ws.send(HEARTBEAT_MESSAGE);
      ws.onmessage = (e) => { if (!e.data.startsWith("* ")) { resolve(e.data); ws.close(); } };
      ws.onerror = () => reject(new Error("socket error"));
    });
  }, server.ws + "/chat?room=garden&name=probe");
  assert.equal(reply, "__parley_pong__");
  await hasLine(carol, "* probe left");
  assert.deepEqual(await lines(carol), ["* carol joined garden (1 here)", "* probe joined garden (2 here)", "* probe left"]);
  assert.ok(!(await lines(alice)).some((l) => l.includes("probe") || l.includes("__parley")));
  assert.equal(await alice.$$eval("#log i", (i) => i.length), 0, "a message is shown as text, never as HTML");
  await alice.screenshot({ path: join(ARTIFACTS, "chat-example.png") });
  for (const page of [alice, bob, carol]) {
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});
