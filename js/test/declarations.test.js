// parley.d.ts names what parley.js has, no more and no less: the exports, the
// options the constructor accepts, the events with an on<type> property, and
// the public methods and properties of ParleySocket. (types.test-d.ts checks
// the types themselves, with tsc: ctest test js_types.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import * as parley from "../parley.js";
import { fakeWebSocketClass } from "./fakes.js";

const dts = readFileSync(new URL("../parley.d.ts", import.meta.url), "utf8");

/** The text between `opening` and the first line that is just "}". */
function block(opening) {
  const start = dts.indexOf(opening);
  assert.notEqual(start, -1, `parley.d.ts has ${opening}`);
  return dts.slice(start + opening.length, dts.indexOf("\n}", start));
}

const sorted = (names) => [...new Set(names)].sort();

test("the module exports what parley.d.ts declares", () => {
  const declared = [...dts.matchAll(/^export (?:const|function|class) (\w+)/gm)].map((m) => m[1]);
  if (/^export default /m.test(dts)) declared.push("default");
  assert.deepEqual(sorted(Object.keys(parley)), sorted(declared));
});

test("the constructor accepts exactly the options ParleySocketOptions declares", () => {
  const declared = [...block("export interface ParleySocketOptions {").matchAll(/^ {2}(\w+)\?:/gm)].map((m) => m[1]);
  const sock = new parley.ParleySocket("ws://fake/", { autoOpen: false, WebSocket: fakeWebSocketClass() });
  assert.deepEqual(sorted(Object.keys(sock._o)), sorted(declared));
  for (const name of declared) new parley.ParleySocket("ws://fake/", { [name]: undefined, autoOpen: false, WebSocket: fakeWebSocketClass() });
});

test("every event of ParleySocketEventMap has its on<type> property, and no other", () => {
  const events = [...block("export interface ParleySocketEventMap {").matchAll(/^ {2}(\w+):/gm)].map((m) => m[1]);
  const handlers = Object.getOwnPropertyNames(parley.ParleySocket.prototype).filter((n) => /^on[a-z]/.test(n));
  assert.deepEqual(sorted(handlers), sorted(events.map((e) => "on" + e)));
});

test("ParleySocket's public methods and properties are the declared ones", () => {
  const members = [...block("export class ParleySocket extends EventTarget {").matchAll(/^ {2}(?:readonly )?(\w+)[(<:]/gm)]
    .map((m) => m[1])
    .filter((n) => n !== "constructor" && n !== "addEventListener" && n !== "removeEventListener");
  const own = Object.getOwnPropertyNames(parley.ParleySocket.prototype).filter((n) => n !== "constructor" && !n.startsWith("_"));
  assert.deepEqual(sorted(own), sorted(members));
});
