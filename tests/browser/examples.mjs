// Starting the servers of examples/ (chat, auth, dashboard) for the browser
// tests, as support.mjs starts `parley serve`: on 127.0.0.1, an ephemeral
// port, stopped by PID (after(), or the exit of this process), every wait
// bounded.
//
// Environment (set by tests/browser/CMakeLists.txt):
//   PARLEY_EXAMPLES_DIR  the folder of the example programs (<build>/examples)
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after } from "node:test";

import { stopProcess, until } from "./support.mjs";

const DIR = process.env.PARLEY_EXAMPLES_DIR;

const children = new Set();
process.on("exit", () => {
  for (const child of children) {
    try { process.kill(child.pid, "SIGKILL"); } catch { /* already gone */ }
  }
});
after(async () => {
  for (const child of [...children]) await stopProcess(child, "SIGKILL");
});

/**
 * Starts `<name>_example --port 0 ...args` with `env` added to the
 * environment. Resolves once it prints its listening line:
 * { proc, port, url (http://127.0.0.1:PORT), ws (ws://...), log() (stdout and stderr), stop() }.
 */
export async function startExample(name, args = [], env = {}) {
  if (!DIR) throw new Error("PARLEY_EXAMPLES_DIR is not set (the examples' build folder)");
  const proc = spawn(join(DIR, `${name}_example`), ["--port", "0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  children.add(proc);
  proc.once("exit", () => children.delete(proc));
  let log = "";
  for (const stream of [proc.stdout, proc.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (d) => { log += d; });
  }
  let match = null;
  await until(() => {
    match = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(log);
    return match !== null || proc.exitCode !== null;
  }, `${name}_example to listen`, 10_000).catch(() => {});
  if (match === null) {
    await stopProcess(proc, "SIGKILL");
    children.delete(proc);
    throw new Error(`${name}_example did not start: ${log}`);
  }
  const port = Number(match[1]);
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    log: () => log,
    stop: (signal = "SIGTERM") => stopProcess(proc, signal),
  };
}
