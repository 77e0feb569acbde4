// What the browser tests share: `parley serve` processes on 127.0.0.1
// ephemeral ports, Debian's Chromium driven by playwright-core, the test
// PKI, the artifacts folder. Every process started here is stopped by its
// PID (after(), or the exit of this process), and every wait is bounded.
//
// Environment (set by tests/browser/CMakeLists.txt):
//   PARLEY_BIN                the parley command
//   PARLEY_MAKE_PKI           parley_test_make_pki
//   PARLEY_BROWSER_ARTIFACTS  where screenshots go (default: a temporary folder)
import { spawn, execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";

import { chromium } from "playwright-core";

export const PARLEY = process.env.PARLEY_BIN;
if (!PARLEY) throw new Error("PARLEY_BIN is not set (the parley command)");

export const ARTIFACTS = process.env.PARLEY_BROWSER_ARTIFACTS || join(tmpdir(), "parley-browser-artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

/** Per-test bound, and the bound of any single wait inside a test. */
export const TEST_TIMEOUT = 60_000;
export const WAIT = 15_000;

const children = new Set(); // every process started here, until it is reaped

function killAll() {
  for (const child of children) {
    try { process.kill(child.pid, "SIGKILL"); } catch { /* already gone */ }
  }
}
process.on("exit", killAll);
after(async () => {
  for (const child of [...children]) await stopProcess(child, "SIGKILL");
});

/** Sends `signal` to the process by its PID and waits (bounded) until it is reaped. */
export async function stopProcess(child, signal = "SIGTERM") {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try { process.kill(child.pid, signal); } catch { /* already gone */ }
  const timer = setTimeout(() => { try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ } }, 5000);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` every 20 ms until it is true; throws after `ms`. */
export async function until(predicate, what, ms = WAIT) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/**
 * `parley serve --port PORT ...args` (PORT 0: any free port). Resolves when
 * it prints its listening line: { proc, port, url (http(s)://...), ws (ws(s)://...), log() , stop() }.
 */
export async function serve(args = [], { port = 0 } = {}) {
  const proc = spawn(PARLEY, ["serve", "--port", String(port), ...args], { stdio: ["ignore", "ignore", "pipe"] });
  children.add(proc);
  proc.once("exit", () => children.delete(proc));
  let log = "";
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (d) => { log += d; });
  let match = null;
  await until(() => {
    match = /listening on (wss?):\/\/127\.0\.0\.1:(\d+)\//.exec(log);
    return match !== null || proc.exitCode !== null;
  }, "parley serve to listen", 10_000).catch(() => {});
  if (match === null) {
    await stopProcess(proc, "SIGKILL");
    throw new Error(`parley serve did not start: ${log}`);
  }
  const tls = match[1] === "wss";
  const p = Number(match[2]);
  return {
    proc,
    port: p,
    url: `${tls ? "https" : "http"}://127.0.0.1:${p}`,
    ws: `${tls ? "wss" : "ws"}://127.0.0.1:${p}`,
    log: () => log,
    stop: (signal = "SIGTERM") => stopProcess(proc, signal),
  };
}

/** The flags of every browser of these tests (issue 14), besides Playwright's own. */
export const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/**
 * Debian's Chromium (never a downloaded one) with a fresh profile
 * (Playwright's temporary --user-data-dir). Returns { browser, pid, close() }.
 */
export async function launchBrowser(extraArgs = []) {
  const server = await chromium.launchServer({
    executablePath: "/usr/bin/chromium",
    headless: false, // --headless=new is in the args, as it is spelled there
    args: [...CHROMIUM_ARGS, ...extraArgs],
    timeout: 30_000,
  });
  const proc = server.process();
  children.add(proc);
  proc.once("exit", () => children.delete(proc));
  const browser = await chromium.connect(server.wsEndpoint(), { timeout: 30_000 });
  return {
    browser,
    pid: proc.pid,
    async close() {
      await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
      await Promise.race([server.close().catch(() => {}), sleep(5000)]);
      await stopProcess(proc, "SIGKILL");
    },
  };
}

/** A new page (in a new context: its own cookies) with console errors collected in page.errors. */
export async function newPage(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") page.errors.push(m.text()); });
  return page;
}

/** The test PKI (tests/make_pki.cpp) in a temporary folder: { dir, file(name), remove() }. */
export function makePki() {
  const maker = process.env.PARLEY_MAKE_PKI;
  if (!maker) throw new Error("PARLEY_MAKE_PKI is not set (parley_test_make_pki)");
  const dir = mkdtempSync(join(tmpdir(), "parley-browser-pki-"));
  execFileSync(maker, [dir], { timeout: 30_000, stdio: ["ignore", "ignore", "inherit"] });
  return { dir, file: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate: what --ignore-certificate-errors-spki-list takes. */
export function spkiHash(pemFile) {
  const cert = new X509Certificate(readFileSync(pemFile));
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}
