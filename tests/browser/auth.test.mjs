// The auth example (examples/auth: the seed's SECURITY CONSIDERATIONS) in a
// real Chromium: a good login chats, with a session cookie the page cannot
// read and a fresh CSRF token per connection and in every message; a
// handshake without the cookie, with a bad token, with an expired token or
// from an origin not allowed is refused with 403, and the page sees it; a
// message without a valid token gets a JSON error and close 1008.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { join } from "node:path";

import { startExample } from "./examples.mjs";
import { ARTIFACTS, launchBrowser, newPage, sleep, TEST_TIMEOUT, until, WAIT } from "./support.mjs";

const FORBIDDEN = "You do not have permission to access this websocket.";

let chrome;
let server;
before(async () => {
  chrome = await launchBrowser();
  server = await startExample("auth");
});
after(async () => {
  await server?.stop();
  await chrome?.close();
});

/** A page of `srv` (at `base`, default its 127.0.0.1 URL), logged in as `user` through the form. */
async function login(srv, user, base = srv.url) {
  const page = await newPage(chrome.browser);
  page.consoleLines = [];
  page.on("console", (m) => page.consoleLines.push(m.text()));
  await page.setViewportSize({ width: 800, height: 640 });
  await page.goto(base + "/");
  await page.waitForFunction(() => document.getElementById("status").textContent === "log in to chat");
  await page.fill("#user", user);
  await page.click("#login button");
  return page;
}

async function connected(page, user) {
  await page.waitForFunction((u) => document.getElementById("status").textContent === "connected as " + u, user);
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.click("#send");
}

function logLines(page) {
  return page.$$eval("#log p", (ps) => ps.map((p) => p.textContent));
}

/** A plain WebSocket from `page` to `url`: { opened, code } once it closed (bounded). */
function tryWebSocket(page, url) {
  return page.evaluate(async (u) => {
    const ws = new WebSocket(u);
    let opened = false;
    ws.onopen = () => { opened = true; };
    const code = await Promise.race([
      new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); }),
      new Promise((resolve) => setTimeout(() => resolve("no close within 10 s"), 10_000)),
    ]);
    return { opened, code };
  }, url);
}

/** A token from GET /csrf, as `page` gets it (its cookie). */
function tokenOf(page) {
  return page.evaluate(async () => (await (await fetch("/csrf")).json()).token);
}

/** Waits until the server logged `text` (its refusals name their reason). */
function logged(srv, text) {
  return until(() => srv.log().includes(text), `the server's log to say '${text}'`);
}

test("a good login chats; messages without a valid csrf get a JSON error and 1008", { timeout: TEST_TIMEOUT }, async () => {
  const alice = await login(server, "alice");
  const bob = await login(server, "bob");
  await connected(alice, "alice");
  await connected(bob, "bob");
  // The session cookie is HttpOnly and SameSite=Strict: the page cannot read it.
  assert.equal(await alice.evaluate(() => document.cookie), "");
  const cookies = await alice.context().cookies();
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].name, "sid");
  assert.match(cookies[0].value, /^[0-9a-f]{64}$/);
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].sameSite, "Strict");
  assert.equal(cookies[0].secure, false, "no Secure flag without TLS");

  await say(alice, "hello bob");
  await bob.waitForFunction(() => [...document.querySelectorAll("#log p")].some((p) => p.textContent === "alice: hello bob"));
  await say(bob, "hi alice, <b>here</b> ✓");
  await alice.waitForFunction(() => [...document.querySelectorAll("#log p")].some((p) => p.textContent.startsWith("bob: hi alice")));
  assert.ok((await logLines(alice)).includes("bob: hi alice, <b>here</b> ✓"));
  assert.equal(await alice.$$eval("#log p b", (b) => b.map((x) => x.textContent).join(",")), "alice,bob",
    "only the names are bold: a message is text, never HTML");
  await alice.screenshot({ path: join(ARTIFACTS, "auth-alice.png") });

  // A message without a csrf field: refused with the seed's JSON error, then 1008.
  await bob.evaluate(() => window.authDemo.socket.send(JSON.stringify({ text: "no token" })));
  await bob.waitForFunction(() => document.getElementById("status").textContent.startsWith("disconnected (1008"));
  assert.ok((await logLines(bob)).includes(`refused by the server: ${FORBIDDEN} (403)`));
  await logged(server, "message refused from 127.0.0.1");
  assert.match(server.log(), /message refused from [^:]+:\d+: no csrf field/);
  // A message whose csrf is not a token of this session: the same.
  const forged = "0".repeat(64) + "." + String(Math.floor(Date.now() / 1000) + 20);
  await alice.evaluate((t) => window.authDemo.socket.send(JSON.stringify({ text: "forged", csrf: t })), forged);
  await alice.waitForFunction(() => document.getElementById("status").textContent.startsWith("disconnected (1008"));
  await logged(server, "bad CSRF token");
  // Neither message reached anyone.
  for (const page of [alice, bob]) assert.ok(!(await logLines(page)).some((l) => /no token|forged/.test(l)));
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
  await alice.context().close();
  await bob.context().close();
});

test("a handshake without the session cookie is refused", { timeout: TEST_TIMEOUT }, async () => {
  const member = await login(server, "carol");
  await connected(member, "carol");
  const token = await tokenOf(member); // a valid token, but for someone else's cookie
  const stranger = await newPage(chrome.browser);
  stranger.consoleLines = [];
  stranger.on("console", (m) => stranger.consoleLines.push(m.text()));
  await stranger.goto(server.url + "/");
  await stranger.waitForFunction(() => document.getElementById("status").textContent === "log in to chat");
  const before = server.log().length;
  const r = await tryWebSocket(stranger, server.ws + "/ws?csrf=" + encodeURIComponent(token));
  assert.deepEqual(r, { opened: false, code: 1006 });
  await logged(server, "no session cookie");
  assert.match(server.log().slice(before), /handshake refused from [^:]+:\d+: no session cookie/);
  await until(() => stranger.consoleLines.some((l) => l.includes("403")), "Chromium to report the 403");
  await member.context().close();
  await stranger.context().close();
});

test("a handshake with a bad token is refused", { timeout: TEST_TIMEOUT }, async () => {
  const page = await login(server, "dave");
  await connected(page, "dave");
  const token = await tokenOf(page);
  const flipped = (token[0] === "a" ? "b" : "a") + token.slice(1); // one hex digit of the MAC changed
  const before = server.log().length;
  for (const bad of [flipped, "nonsense", token.split(".")[0], ""]) {
    const r = await tryWebSocket(page, server.ws + "/ws?csrf=" + encodeURIComponent(bad));
    assert.deepEqual(r, { opened: false, code: 1006 }, `csrf=${bad}`);
  }
  await until(() => (server.log().slice(before).match(/bad CSRF token/g) ?? []).length === 4, "four refusals");
  await until(() => page.consoleLines.filter((l) => l.includes("403")).length >= 4, "Chromium to report each 403");
  // The refusal's body is the seed's JSON (a browser never shows it to the page).
  const cookie = (await page.context().cookies())[0];
  const answer = await new Promise((resolve, reject) => {
    const req = request(server.url + "/ws?csrf=" + flipped, {
      headers: {
        Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", Origin: server.url, Cookie: `sid=${cookie.value}`,
      },
      timeout: WAIT,
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ status: res.statusCode, type: res.headers["content-type"], body }));
    });
    req.on("upgrade", () => reject(new Error("upgraded with a bad token")));
    req.on("timeout", () => req.destroy(new Error("no answer")));
    req.on("error", reject);
    req.end();
  });
  assert.equal(answer.status, 403);
  assert.equal(answer.type, "application/json");
  assert.deepEqual(JSON.parse(answer.body), { code: 403, message: FORBIDDEN, status: 403 });
  // The page itself is still connected: its own token was good.
  assert.equal(await page.textContent("#status"), "connected as dave");
  await page.context().close();
});

test("a handshake with an expired token is refused (2 s tokens); the page keeps its own fresh", { timeout: TEST_TIMEOUT }, async () => {
  const short = await startExample("auth", [], { PARLEY_AUTH_CSRF_TTL: "2" });
  try {
    const page = await login(short, "erin");
    await connected(page, "erin");
    const token = await tokenOf(page);
    const expires = Number(token.split(".")[1]);
    assert.ok(expires - Date.now() / 1000 <= 2.01, "the token lives 2 s");
    await sleep(3500);
    const r = await tryWebSocket(page, short.ws + "/ws?csrf=" + encodeURIComponent(token));
    assert.deepEqual(r, { opened: false, code: 1006 });
    await logged(short, "expired CSRF token");
    assert.doesNotMatch(short.log(), /bad CSRF token/);
    // Meanwhile the page refreshed its token: its messages still go through.
    await say(page, "still here after 3.5 s");
    await page.waitForFunction(() => [...document.querySelectorAll("#log p")].some((p) => p.textContent === "erin: still here after 3.5 s"));
    assert.equal(await page.textContent("#status"), "connected as erin");
    await page.context().close();
  } finally {
    await short.stop();
  }
});

test("a handshake from an origin not allowed is refused, and the page says so", { timeout: TEST_TIMEOUT }, async () => {
  // A session made outside the browser, its cookie given to a page served
  // as http://localhost:PORT: same server, but not the allowed origin
  // (http://127.0.0.1:PORT, where the server says it listens).
  const sid = await new Promise((resolve, reject) => {
    const req = request(server.url + "/login", { method: "POST", timeout: WAIT,
      headers: { "Content-Type": "application/x-www-form-urlencoded" } }, (res) => {
      res.resume();
      const m = /sid=([0-9a-f]{64})/.exec(String(res.headers["set-cookie"]));
      if (res.statusCode === 200 && m) resolve(m[1]); else reject(new Error("login: " + res.statusCode));
    });
    req.on("timeout", () => req.destroy(new Error("no answer")));
    req.on("error", reject);
    req.end("user=mallory");
  });
  const page = await newPage(chrome.browser);
  const origin = `http://localhost:${server.port}`;
  await page.context().addCookies([{ name: "sid", value: sid, url: origin, httpOnly: true, sameSite: "Strict" }]);
  const before = server.log().length;
  await page.goto(origin + "/");
  // Logged in (the cookie works for GET /csrf), but the handshake is refused.
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("refused:"));
  await logged(server, `origin '${origin}' not allowed`);
  assert.doesNotMatch(server.log().slice(before), /connected from/);
  await page.screenshot({ path: join(ARTIFACTS, "auth-wrong-origin.png") });
  // The login form refuses that origin too (login CSRF).
  const login = await page.evaluate(async () => {
    const r = await fetch("/login", { method: "POST", body: new URLSearchParams({ user: "x" }) });
    return { status: r.status, body: await r.json() };
  });
  assert.deepEqual(login, { status: 403, body: { code: 403, message: "origin not allowed" } });
  await page.context().close();
});
