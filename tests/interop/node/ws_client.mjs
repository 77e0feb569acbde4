// The Node `ws` peer as a client, against a parley server.
//
//     node ws_client.mjs ws[s]://127.0.0.1:PORT [--deflate[=...]] [--ca FILE] [case ...]
//
// --ca FILE: for wss://, trust the CAs of this PEM file (`ca`; the
// certificate is verified, name included: rejectUnauthorized stays true).
// tls-name-mismatch and tls-after-mismatch run only when named, against a
// server presenting a certificate for example.invalid only.
// Runs the client cases of tests/interop/README.md (all, or those named) and
// prints one JSON line per case on stdout: first {"plan": [...]}, then
// {"case": name, "ok": bool, "detail": str, "ms": n}.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import WebSocket from 'ws';

const wsVersion = createRequire(import.meta.url)('ws/package.json').version;
const FRAG_TEXT = 'fragmented \u2713 message: \u00fcn\u00efc\u00f8d\u00e9 \u20ac \u{1F600}';
const FRAG_BINARY = Buffer.concat(Array(4).fill(Buffer.from([...Array(256).keys()])));
const REFUSAL_BODY = 'forbidden by interop test';
const SIZES = [['0', 0], ['125', 125], ['126', 126], ['64KiB', 64 << 10], ['1MiB', 1 << 20], ['16MiB', 16 << 20]];
const UNIT = Buffer.from('parley \u2713 \u00fcn\u00efc\u00f8d\u00e9 \u{1F600} ');
let BASE = '';
let CA = null; // --ca: the trusted CAs (PEM) for wss://
let counter = 0;

class Failure extends Error {}
function check(cond, message) {
  if (!cond) throw new Failure(message);
}

// n bytes of valid UTF-8 mixing 1- to 4-byte characters.
function textOf(n) {
  const full = Buffer.concat(Array(Math.floor(n / UNIT.length) + 2).fill(UNIT));
  let i = n;
  while (i > 0 && (full[i] & 0xc0) === 0x80) i--;
  return Buffer.concat([full.subarray(0, i), Buffer.alloc(n - i, 'x')]).toString('utf8');
}

const newId = (c) => `${c}-${process.pid}-${++counter}`;

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Failure(`timed out waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// A ws connection with queues of its messages and pongs, and its close.
class Peer {
  constructor(path, protocols, extra = {}) {
    const options = { maxPayload: 64 << 20, handshakeTimeout: 10000, ...extra };
    if (DEFLATE) options.perMessageDeflate = DEFLATE;
    if (CA) options.ca = CA;
    this.ws = new WebSocket(BASE + path, protocols, options);
    this.extensions = null; // the Sec-WebSocket-Extensions of the server's 101
    this.ws.once('upgrade', (res) => { this.extensions = res.headers['sec-websocket-extensions'] ?? ''; });
    this.messages = [];
    this.pongs = [];
    this.waiters = [];
    this.closeInfo = null;
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (req, res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          req.destroy();
          reject(Object.assign(new Failure(`unexpected response ${res.statusCode}`), {
            status: res.statusCode, body: Buffer.concat(chunks).toString(),
          }));
        });
      });
    });
    this.opened.catch(() => {});
    this.ws.on('error', () => {});
    this.ws.on('message', (data, isBinary) => { this.messages.push({ data, isBinary }); this.wake(); });
    this.ws.on('pong', (data) => { this.pongs.push(data); this.wake(); });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closeInfo);
      });
    });
  }
  wake() {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }
  async until(pred, what, ms = 10000) {
    return withTimeout(new Promise((resolve, reject) => {
      const test = () => {
        const v = pred();
        if (v !== undefined) resolve(v);
        else if (this.closeInfo) reject(new Failure(`connection closed (${this.closeInfo.code}) waiting for ${what}`));
        else this.waiters.push(test);
      };
      test();
    }), ms, what);
  }
  next(ms) {
    return this.until(() => this.messages.shift(), 'a message', ms);
  }
  pong() {
    return this.until(() => this.pongs.shift(), 'a pong');
  }
  async done() {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    return withTimeout(this.closed, 10000, 'the close');
  }
}

async function open(path, protocols, extra) {
  const p = new Peer(path, protocols, extra);
  await withTimeout(p.opened, 15000, 'the handshake');
  return p;
}

async function report(rid) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const p = await open('/report?of=' + encodeURIComponent(rid));
    const rec = JSON.parse((await p.next()).data.toString());
    await p.done();
    if (rec.close || Date.now() > deadline) return rec;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function expectServerClose(rid, code, reason) {
  // reason null: not compared (the reason of a 1006 is the server's own words).
  const rec = await report(rid);
  const seen = rec.close;
  check(seen && seen[0] === code && (reason === null || seen[1] === reason),
    `server saw close ${JSON.stringify(rec.close)}, expected ${JSON.stringify([code, reason])}`);
  return rec;
}

async function echoOne(data, isBinary, ms = 10000) {
  const p = await open('/echo');
  p.ws.send(data, { binary: isBinary });
  const m = await p.next(ms);
  check(m.isBinary === isBinary, `echo came back as ${m.isBinary ? 'binary' : 'text'}`);
  const want = Buffer.isBuffer(data) ? data : Buffer.from(data);
  check(want.equals(m.data), `echo differs: ${m.data.length} bytes back for ${want.length} sent`);
  await p.done();
}

const sized = (kind, n) => () =>
  kind === 'text' ? echoOne(textOf(n), false, 30000) : echoOne(randomBytes(n), true, 30000);

async function sendFragments(p, parts, binary) {
  parts.forEach((part, i) => p.ws.send(part, { binary, fin: i === parts.length - 1 }));
}

async function textFragmented() {
  const p = await open('/echo');
  const t = Buffer.from(FRAG_TEXT);
  // Cut inside the 3-byte U+2713 and the 4-byte U+1F600, with an empty fragment.
  const parts = [t.subarray(0, 12), Buffer.alloc(0), t.subarray(12, t.length - 2), t.subarray(t.length - 2)];
  sendFragments(p, parts, false);
  const m = await p.next();
  check(!m.isBinary && m.data.toString() === FRAG_TEXT, `echo differs: ${m.data.toString()}`);
  await p.done();
}

async function binaryFragmented() {
  const p = await open('/echo');
  const parts = [randomBytes(1000), Buffer.alloc(0), randomBytes(65536), Buffer.from([0])];
  sendFragments(p, parts, true);
  const m = await p.next();
  check(m.isBinary && Buffer.concat(parts).equals(m.data), `echo differs: ${m.data.length} bytes back`);
  await p.done();
}

async function fragmentedWithPing() {
  const p = await open('/echo');
  p.ws.send('first half, ', { binary: false, fin: false });
  p.ws.ping('between fragments');
  p.ws.send('second half', { binary: false, fin: true });
  const pong = await p.pong();
  check(pong.toString() === 'between fragments', `pong payload ${pong.toString()}`);
  const m = await p.next();
  check(m.data.toString() === 'first half, second half', `echo differs: ${m.data.toString()}`);
  await p.done();
}

async function noStatusClose() {
  const rid = newId('no-status');
  const p = await open('/echo?id=' + rid);
  p.ws.close(); // an empty close frame
  const c = await withTimeout(p.closed, 10000, 'the close');
  check(c.code === 1005, `the server answered with ${c.code}`);
  await expectServerClose(rid, 1005, '');
}

async function receiveFragmented() {
  const p = await open('/fragments');
  const t = await p.next();
  check(!t.isBinary && t.data.toString() === FRAG_TEXT, `text differs: ${t.data.toString()}`);
  const b = await p.next();
  check(b.isBinary && b.data.equals(FRAG_BINARY), `binary differs: ${b.data.length} bytes`);
  await p.done();
}

async function manyMessages() {
  const p = await open('/echo');
  const sent = [...Array(1000).keys()].map((i) => `message ${i} ${'\u00e9'.repeat(i % 50)}`);
  sent.forEach((m) => p.ws.send(m));
  for (let i = 0; i < sent.length; i++) {
    const m = await p.next();
    check(m.data.toString() === sent[i], `message ${i} out of order or changed`);
  }
  await p.done();
}

async function pingFromClient() {
  const p = await open('/echo');
  for (const payload of [Buffer.alloc(0), Buffer.from('hello \u2713'), Buffer.from([...Array(125).keys()])]) {
    p.ws.ping(payload);
    const pong = await p.pong();
    check(pong.equals(payload), `pong payload of ${pong.length} bytes for a ping of ${payload.length}`);
  }
  await p.done();
}

async function pingFromServer() {
  const p = await open('/ping?payload=srv-ping-%E2%9C%93');
  const m = await p.next();
  check(m.data.toString() === 'pong:srv-ping-\u2713', `server reported ${m.data.toString()}`);
  await p.done();
}

const closeClient = (code, reason) => async () => {
  const rid = newId('close-client');
  const p = await open('/echo?id=' + rid);
  p.ws.close(code, reason);
  const c = await withTimeout(p.closed, 10000, 'the close');
  check(c.code === code, `the server answered the close with ${c.code} ${c.reason}`);
  await expectServerClose(rid, code, reason);
};

const closeServer = (code, reason) => async () => {
  const p = new Peer(`/close?code=${code}&reason=${encodeURIComponent(reason)}`);
  await withTimeout(p.opened, 15000, 'the handshake');
  const c = await withTimeout(p.closed, 10000, 'the close');
  check(c.code === code && c.reason === reason, `closed with ${c.code} ${c.reason}`);
  check(p.messages.length === 0, 'got a message');
};

async function closeServerAbrupt() {
  const p = new Peer('/terminate');
  await withTimeout(p.opened, 15000, 'the handshake');
  const c = await withTimeout(p.closed, 10000, 'the close');
  check(c.code === 1006, `closed with ${c.code}, expected 1006`);
}

async function closeServerAbruptOpen() {
  const p = await open('/terminate-on-message');
  p.ws.send('drop me');
  const c = await withTimeout(p.closed, 10000, 'the close');
  check(c.code === 1006, `closed with ${c.code}, expected 1006`);
  check(p.messages.length === 0, 'got a message');
}

async function closeClientAbrupt() {
  const rid = newId('abrupt');
  const p = await open('/echo?id=' + rid);
  p.ws.send('about to vanish');
  await p.next();
  p.ws.terminate();
  await expectServerClose(rid, 1006, null);
}

const subprotocol = (offer, expected) => async () => {
  const p = await open('/echo', offer);
  check(p.ws.protocol === expected, `negotiated '${p.ws.protocol}', expected '${expected}'`);
  p.ws.send('after negotiation');
  check((await p.next()).data.toString() === 'after negotiation', 'echo differs');
  await p.done();
};

async function subprotocolNoneCommon() {
  // ws fails a handshake whose 101 names no subprotocol when it offered some
  // (stricter than RFC 6455 requires): that error proves parley chose none.
  const p = new Peer('/echo', ['x-unknown']);
  try {
    await withTimeout(p.opened, 15000, 'the handshake');
  } catch (e) {
    check(e.message === 'Server sent no subprotocol', `handshake failed: ${e.message}`);
    return;
  }
  throw new Failure(`negotiated '${p.ws.protocol}'`);
}

async function refused() {
  const p = new Peer('/refuse');
  try {
    await withTimeout(p.opened, 15000, 'the refusal');
  } catch (e) {
    check(e.status === 403, `${e.message}`);
    check(e.body.includes(REFUSAL_BODY), `body '${e.body}'`);
    return;
  }
  throw new Failure('the handshake succeeded');
}

const REASON_123 = '\u00e9'.repeat(61) + 'x'; // the longest reason: 123 bytes
const PING_125 = 'abcdefghij'.repeat(12) + 'abcde';

async function largeFragmented() {
  const p = await open('/echo');
  const parts = [...Array(256)].map(() => randomBytes(64 << 10)); // 16 MiB
  sendFragments(p, parts, true);
  const m = await p.next(30000);
  check(m.isBinary && Buffer.concat(parts).equals(m.data), `echo differs: ${m.data.length} bytes back`);
  await p.done();
}

async function emptyFragments() {
  const p = await open('/echo');
  sendFragments(p, ['', '', ''], false);
  const m = await p.next();
  check(!m.isBinary && m.data.length === 0, `echo differs: ${m.data.length} bytes, binary ${m.isBinary}`);
  await p.done();
}

async function manyConnections() {
  await Promise.all([...Array(20).keys()].map(async (i) => {
    const p = await open('/echo');
    p.ws.send(`connection ${i}`);
    const m = await p.next();
    check(m.data.toString() === `connection ${i}`, `connection ${i} got ${m.data.toString()}`);
    await p.done();
  }));
}

async function pingFromServer125() {
  const p = await open('/ping?payload=' + PING_125);
  const m = await p.next();
  check(m.data.toString() === 'pong:' + PING_125, `server reported ${m.data.toString()}`);
  await p.done();
}

const closeAfterBurst = (count, size) => async () => {
  const rid = newId('burst');
  const p = await open('/echo?id=' + rid);
  const sent = [...Array(count).keys()].map((i) => `burst ${i} ${textOf(size)}`);
  sent.forEach((m) => p.ws.send(m));
  p.ws.close(1000, 'done');
  const c = await withTimeout(p.closed, 30000, 'the close');
  const got = p.messages.map((m) => m.data.toString());
  check(c.code === 1000, `the server answered the close with ${c.code}`);
  const rec = await expectServerClose(rid, 1000, 'done');
  // Every echo the server sent before its close frame must arrive (a server
  // may stop echoing once it has the close: websockets does).
  check(JSON.stringify(got) === JSON.stringify(sent.slice(0, rec.echoed)),
    `${got.length} echoes arrived, the server sent ${rec.echoed}`);
};

async function closeSimultaneous() {
  // The server closes on receipt of the message; the client closes right
  // after sending it: the two close frames cross.
  const rid = newId('simultaneous');
  const p = await open('/close-on-message?id=' + rid);
  p.ws.send('close now');
  p.ws.close(1000, 'client');
  const c = await withTimeout(p.closed, 10000, 'the close');
  check(c.code === 1000 && ['server', 'client'].includes(c.reason), `closed with ${c.code} ${c.reason}`);
  await expectServerClose(rid, 1000, 'client');
}

async function closeServerShutdown() {
  // Run alone: the driver stops the server (SIGTERM) once "ready" is printed.
  const p = await open('/echo');
  p.ws.send('ready');
  await p.next();
  console.log(JSON.stringify({ ready: true }));
  const c = await withTimeout(p.closed, 15000, 'the close');
  check(c.code === 1001, `closed with ${c.code} ${c.reason}, expected 1001`);
}

async function pingBurst() {
  const p = await open('/echo');
  for (let i = 0; i < 10; i++) p.ws.ping(`burst ${i}`);
  for (let i = 0; i < 10; i++) {
    const pong = (await p.pong()).toString();
    check(pong === `burst ${i}`, `pong ${i} has the payload '${pong}'`);
  }
  await p.done();
}

async function closeServerAfterBurst() {
  const p = new Peer('/burst-close');
  await withTimeout(p.opened, 15000, 'the handshake');
  const c = await withTimeout(p.closed, 10000, 'the close');
  const got = p.messages.map((m) => m.data.toString());
  const want = [...Array(100).keys()].map((i) => `burst ${i}`);
  check(JSON.stringify(got) === JSON.stringify(want), `${got.length} of the 100 messages before the close`);
  check(c.code === 1000 && c.reason === 'burst done', `closed with ${c.code} ${c.reason}`);
}

// With --deflate: the server accepted permessage-deflate; a compressible
// message goes both ways. The detail is the answer (run_interop.py checks it).
async function deflateNegotiated() {
  const p = await open('/echo');
  const ext = p.extensions ?? '';
  check(ext.includes('permessage-deflate'), `no permessage-deflate in the answer: '${ext}'`);
  const data = textOf(20000);
  p.ws.send(data);
  const m = await p.next(30000);
  check(!m.isBinary && m.data.toString() === data, 'echo differs');
  await p.done();
  return ext;
}

// Run only when named (the driver runs them on their own).
// Against a server whose certificate is for example.invalid only (signed by
// the CA of --ca): ws (Node's TLS) must refuse it for 127.0.0.1.
async function tlsNameMismatch() {
  const p = new Peer('/echo');
  let error = null;
  await withTimeout(p.opened.then(() => {}, (e) => { error = e; }), 15000, 'the handshake');
  if (!error) {
    await p.done();
    throw new Failure('the handshake succeeded: the certificate for example.invalid was accepted for 127.0.0.1');
  }
  check(error.code === 'ERR_TLS_CERT_ALTNAME_INVALID', `failed otherwise: ${error.code}: ${error.message}`);
  await withTimeout(p.closed, 10000, 'the close');
  return `${error.code}: ${error.message}`;
}

// After tls-name-mismatch, the same server still serves: a connection that
// asks for the certificate's own name (SNI and verification against
// example.invalid) gets its echo.
async function tlsAfterMismatch() {
  const p = await open('/echo', undefined, { servername: 'example.invalid' });
  p.ws.send('still serving');
  const m = await p.next();
  check(m.data.toString() === 'still serving', `echo differs: ${m.data.toString()}`);
  await p.done();
}

const ALONE = [['close-server-shutdown', closeServerShutdown], ['deflate-negotiated', deflateNegotiated],
  ['tls-name-mismatch', tlsNameMismatch], ['tls-after-mismatch', tlsAfterMismatch]];

const CASES = [
  ...['text', 'binary'].flatMap((kind) => SIZES.map(([label, n]) => [`${kind}-${label}`, sized(kind, n)])),
  ['text-fragmented', textFragmented],
  ['binary-fragmented', binaryFragmented],
  ['fragmented-with-ping', fragmentedWithPing],
  ['large-fragmented', largeFragmented],
  ['empty-fragments', emptyFragments],
  ['receive-fragmented', receiveFragmented],
  ['many-messages', manyMessages],
  ['many-connections', manyConnections],
  ['ping-from-client', pingFromClient],
  ['ping-burst', pingBurst],
  ['ping-from-server', pingFromServer],
  ['ping-from-server-125', pingFromServer125],
  ['close-client-normal', closeClient(1000, '')],
  ['close-client-reason', closeClient(4001, 'client bye \u2713')],
  ['close-client-reason-123', closeClient(4003, REASON_123)],
  ['close-after-burst', closeAfterBurst(100, 0)],
  ['close-after-large', closeAfterBurst(4, 4 << 20)],
  ['close-simultaneous', closeSimultaneous],
  ['close-client-no-status', noStatusClose],
  ['close-server-normal', closeServer(1000, '')],
  ['close-server-reason', closeServer(4002, 'server bye \u2713')],
  ['close-server-reason-123', closeServer(4004, REASON_123)],
  ['close-server-after-burst', closeServerAfterBurst],
  ['close-server-abrupt', closeServerAbrupt],
  ['close-server-abrupt-open', closeServerAbruptOpen],
  ['close-client-abrupt', closeClientAbrupt],
  ['subprotocol-common', subprotocol(['x-unknown', 'chat.v1'], 'chat.v1')],
  ['subprotocol-none-common', subprotocolNoneCommon],
  ['subprotocol-not-offered', subprotocol(undefined, '')],
  ['refused-403', refused],
];

BASE = process.argv[2].replace(/\/$/, '');
// --deflate[=serverNoContextTakeover|clientNoContextTakeover]: perMessageDeflate
// on (with that option); without it, ws's default (on, not required).
const args = process.argv.slice(3);
const caAt = args.indexOf('--ca');
if (caAt >= 0) CA = readFileSync(args.splice(caAt, 2)[1]);
const flags = args.filter((a) => a.startsWith('--deflate'));
const DEFLATE = flags.length === 0 ? null : Object.fromEntries(
  flags.map((f) => f.split('=')[1]).filter(Boolean).map((k) => [k, true]));
const wanted = args.filter((a) => !a.startsWith('--'));
const cases = [
  ...CASES.filter(([n]) => wanted.length === 0 || wanted.includes(n)),
  ...ALONE.filter(([n]) => wanted.includes(n)),
];
console.log(JSON.stringify({ plan: cases.map(([n]) => n), version: wsVersion }));
for (const [name, fn] of cases) {
  const start = Date.now();
  let ok = true;
  let detail = '';
  try {
    const note = await withTimeout(fn(), 60000, 'the case');
    if (typeof note === 'string') detail = note;
  } catch (e) {
    ok = false;
    detail = e instanceof Failure ? e.message : `${e.name}: ${e.message}`;
  }
  console.log(JSON.stringify({ case: name, ok, detail, ms: Date.now() - start }));
}
process.exit(0);
