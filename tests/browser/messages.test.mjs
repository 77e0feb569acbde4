// Messages between Chromium (through parley.js) and `parley serve`: binary
// both ways with a Node ws peer checking the bytes, one 16 MiB message, and
// permessage-deflate negotiated with Chromium under --deflate.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import WebSocket from "ws";

import { launchBrowser, newPage, serve, TEST_TIMEOUT, until } from "./support.mjs";

let chrome;
before(async () => {
  chrome = await launchBrowser();
});
after(async () => {
  await chrome?.close();
});

/** A page of `server` with parley.js loaded and a ParleySocket on `path` open as window.sock; messages in window.got. */
async function pageWithSocket(server, path, options = {}) {
  const page = await newPage(chrome.browser);
  await page.goto(server.url + "/");
  await page.evaluate(async ({ url, options }) => {
    const { ParleySocket } = await import("/parley.js");
    window.got = [];
    window.sock = new ParleySocket(url, options);
    window.sock.addEventListener("message", (e) => window.got.push(e.data));
    await new Promise((resolve, reject) => {
      window.sock.addEventListener("open", resolve, { once: true });
      window.sock.addEventListener("close", (e) => reject(new Error("closed " + e.code)), { once: true });
    });
  }, { url: server.ws + path, options });
  return page;
}

test("binary messages both ways (ArrayBuffer in the page, checked byte for byte by a Node ws peer)", { timeout: TEST_TIMEOUT }, async () => {
  const server = await serve();
  try {
    const peer = new WebSocket(server.ws + "/chat");
    const received = [];
    peer.on("message", (data, isBinary) => received.push({ data, isBinary }));
    await new Promise((resolve, reject) => { peer.once("open", resolve); peer.once("error", reject); });
    const page = await pageWithSocket(server, "/chat", { binaryType: "arraybuffer" });

    // page -> server -> peer: 1000 bytes 0, 7, 14, ... (mod 256), as an ArrayBuffer and as a typed array view
    await page.evaluate(() => {
      const bytes = new Uint8Array(1000).map((_, i) => (i * 7) & 255);
      window.sock.send(bytes.buffer);
      window.sock.send(bytes.subarray(10, 20));
    });
    await until(() => received.length >= 2, "the peer to get 2 binary messages");
    const expected = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 255));
    assert.equal(received[0].isBinary, true);
    assert.ok(received[0].data.equals(expected));
    assert.ok(received[1].data.equals(expected.subarray(10, 20)));

    // peer -> server -> page: arrives as an ArrayBuffer
    const fromPeer = Buffer.from([0, 255, 1, 254, 128, 127]);
    peer.send(fromPeer, { binary: true });
    await page.waitForFunction(() => window.got.length >= 3);
    const got = await page.evaluate(() => window.got.map((d) => ({
      isArrayBuffer: d instanceof ArrayBuffer,
      bytes: Array.from(new Uint8Array(d)),
    })));
    assert.deepEqual(got[2], { isArrayBuffer: true, bytes: [0, 255, 1, 254, 128, 127] });
    assert.equal(got[0].bytes.length, 1000, "the page's own message came back through the chat too");
    peer.close();
    assert.deepEqual(page.errors, []);
    await page.context().close();
  } finally {
    await server.stop();
  }
});

test("a 16 MiB message goes out and comes back whole", { timeout: TEST_TIMEOUT }, async () => {
  const server = await serve();
  try {
    const page = await pageWithSocket(server, "/echo", { binaryType: "arraybuffer" });
    const result = await page.evaluate(async () => {
      const size = 16 * 1024 * 1024;
      const bytes = new Uint8Array(size);
      let x = 12345;
      for (let i = 0; i < size; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        bytes[i] = x >>> 24;
      }
      const start = performance.now();
      window.sock.send(bytes.buffer);
      await new Promise((resolve) => {
        const poll = () => (window.got.length > 0 ? resolve() : setTimeout(poll, 10));
        poll();
      });
      const ms = performance.now() - start;
      const back = new Uint8Array(window.got[0]);
      let same = back.length === size;
      for (let i = 0; same && i < size; i++) same = back[i] === bytes[i];
      return { length: back.length, same, ms };
    });
    assert.equal(result.length, 16 * 1024 * 1024);
    assert.equal(result.same, true, "every byte as sent");
    console.log(`16 MiB round trip in Chromium: ${result.ms.toFixed(0)} ms`);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  } finally {
    await server.stop();
  }
});

test("permessage-deflate is negotiated with Chromium under --deflate, and not without", { timeout: TEST_TIMEOUT }, async () => {
  const plain = await serve();
  const deflate = await serve(["--deflate", "--verbose"]);
  try {
    const off = await pageWithSocket(plain, "/echo");
    assert.equal(await off.evaluate(() => window.sock.extensions), "");
    await off.context().close();

    const on = await pageWithSocket(deflate, "/echo");
    const extensions = await on.evaluate(() => window.sock.extensions);
    assert.match(extensions, /^permessage-deflate(;|$)/, `extensions as Chromium reports them: ${extensions}`);
    console.log(`Chromium's extensions: ${extensions}`);
    const text = "parley ".repeat(20000);
    await on.evaluate((t) => window.sock.send(t), text);
    await on.waitForFunction(() => window.got.length >= 1);
    assert.equal(await on.evaluate(() => window.got[0]), text);
    // The frames both ways were compressed: RSV1 set on the 140,000-byte text.
    await until(() => /> frame text fin rsv1 \d+ B/.test(deflate.log()) && /< frame text fin rsv1 \d+ B/.test(deflate.log()),
      "compressed frames in the server's --verbose log");
    const inbound = /> frame text fin rsv1 (\d+) B/.exec(deflate.log());
    assert.ok(Number(inbound[1]) < 5000, `140,000 repetitive bytes compress: ${inbound[1]} B on the wire`);
    assert.deepEqual(on.errors, []);
    await on.context().close();
  } finally {
    await plain.stop();
    await deflate.stop();
  }
});
