// wss:// in Chromium: `parley serve --tls-cert` with the test PKI
// (tests/make_pki.cpp). Chromium trusts exactly that certificate's key,
// through --ignore-certificate-errors-spki-list, with every other check on;
// a browser without the flag refuses the same server.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { ARTIFACTS, launchBrowser, makePki, newPage, serve, spkiHash, TEST_TIMEOUT } from "./support.mjs";

let pki;
let server;
before(async () => {
  pki = makePki();
  server = await serve(["--tls-cert", pki.file("server-chain.pem"), "--tls-key", pki.file("server.key")]);
});
after(async () => {
  await server?.stop();
  pki?.remove();
});

test("the chat over https:// and wss://, the test certificate trusted by its SPKI hash", { timeout: TEST_TIMEOUT }, async () => {
  assert.match(server.url, /^https:/);
  const chrome = await launchBrowser([`--ignore-certificate-errors-spki-list=${spkiHash(pki.file("server.pem"))}`]);
  try {
    const page = await newPage(chrome.browser);
    await page.goto(server.url + "/");
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("connected to wss://"));
    await page.fill("#text", "over TLS");
    await page.click("#send");
    await page.waitForFunction(() => [...document.querySelectorAll("#log p")].some((p) => p.textContent === "over TLS"));
    assert.equal(await page.evaluate(() => location.protocol), "https:");
    await page.screenshot({ path: join(ARTIFACTS, "chat-wss.png") });
    assert.deepEqual(page.errors, []);
  } finally {
    await chrome.close();
  }
});

test("without the flag Chromium refuses the test certificate (the check is on)", { timeout: TEST_TIMEOUT }, async () => {
  const chrome = await launchBrowser();
  try {
    const page = await newPage(chrome.browser);
    await assert.rejects(page.goto(server.url + "/"), /ERR_CERT_AUTHORITY_INVALID/);
  } finally {
    await chrome.close();
  }
});
