// The Node `ws` peer as a server, for parley's client to connect to.
//
//     node ws_server.mjs [--deflate[=serverNoContextTakeover|clientNoContextTakeover]]
//                        [--tls-cert FILE --tls-key FILE]
//
// --tls-cert/--tls-key: wss://, over https.createServer({cert, key}) with
// that PEM certificate chain and key.
// Listens on 127.0.0.1, port 0, and prints {"port": N} on stdout. Behaves by
// the request path as tests/interop/README.md says (/echo, /close,
// /terminate, /ping, /fragments, /refuse, /report). Runs until SIGTERM or
// stdin closes.
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';

const wsVersion = createRequire(import.meta.url)('ws/package.json').version;
const SUBPROTOCOLS = ['chat.v2', 'chat.v1'];
const FRAG_TEXT = Buffer.from('fragmented \u2713 message: \u00fcn\u00efc\u00f8d\u00e9 \u20ac \u{1F600}');
const FRAG_BINARY = Buffer.concat(Array(4).fill(Buffer.from([...Array(256).keys()])));
const REFUSAL_BODY = 'forbidden by interop test';
const records = new Map(); // id -> {close: [code, reason] | null, subprotocol, echoed: n}

// --deflate[=serverNoContextTakeover|clientNoContextTakeover]: accept
// permessage-deflate (with that option); without it, ws's default (off).
const flags = process.argv.slice(2).filter((a) => a.startsWith('--deflate'));
const perMessageDeflate = flags.length === 0 ? false : Object.fromEntries(
  flags.map((f) => f.split('=')[1]).filter(Boolean).map((k) => [k, true]));

// --tls-cert FILE --tls-key FILE: TLS (wss://) through an https server.
const argValue = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const tlsCert = argValue('--tls-cert');
const tlsKey = argValue('--tls-key');
const https = tlsCert ? createHttpsServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey) }) : null;
if (https) https.on('tlsClientError', (e) => process.stderr.write(`ws_server: TLS: ${e.code ?? ''} ${e.message}\n`));

const wss = new WebSocketServer({
  ...(https ? { server: https } : { host: '127.0.0.1', port: 0 }),
  maxPayload: 64 << 20,
  perMessageDeflate,
  // The first of the client's offers that this server speaks (as parley does).
  handleProtocols: (offered) => [...offered].find((p) => SUBPROTOCOLS.includes(p)) ?? false,
  verifyClient: (info, done) => {
    if (new URL(info.req.url, 'http://x').pathname === '/refuse') {
      done(false, 403, REFUSAL_BODY, { 'Content-Type': 'text/plain; charset=utf-8' });
    } else {
      done(true);
    }
  },
});

(https ?? wss).on('listening', () => {
  process.stdout.write(JSON.stringify({ port: wss.address().port, version: wsVersion }) + '\n');
});
if (https) https.listen(0, '127.0.0.1');

wss.on('connection', (ws, req) => {
  const url = new URL(req.url, 'http://x');
  const q = url.searchParams;
  if (url.pathname === '/report') {
    ws.send(JSON.stringify(records.get(q.get('of')) ?? { close: null }));
    ws.close(1000);
    return;
  }
  const rid = q.get('id');
  if (rid) records.set(rid, { close: null, subprotocol: ws.protocol, echoed: 0 });
  ws.on('close', (code, reason) => {
    if (rid) records.get(rid).close = [code, reason.toString()];
  });
  ws.on('error', (e) => process.stderr.write(`ws_server: ${req.url}: ${e.message}\n`));
  if (url.pathname === '/close-on-message') ws.once('message', () => ws.close(1000, 'server'));
  else if (url.pathname === '/terminate-on-message') ws.once('message', () => ws.terminate());
  else {
    ws.on('message', (data, isBinary) => {
      // Echoes sent while open precede our close frame; later ones are dropped.
      if (rid && ws.readyState === ws.OPEN) records.get(rid).echoed++;
      ws.send(data, { binary: isBinary });
    });
  }
  switch (url.pathname) {
    case '/close':
      ws.close(Number(q.get('code') ?? 1000), q.get('reason') ?? '');
      break;
    case '/burst-close':
      for (let i = 0; i < 100; i++) ws.send(`burst ${i}`);
      ws.close(1000, 'burst done');
      break;
    case '/terminate':
      ws.terminate();
      break;
    case '/ping': {
      const payload = Buffer.from(q.get('payload') ?? '');
      ws.once('pong', (data) => ws.send('pong:' + data.toString()));
      ws.ping(payload);
      break;
    }
    case '/fragments':
      // The text is cut inside the 3-byte U+2713, with a ping between fragments.
      ws.send(FRAG_TEXT.subarray(0, 12), { binary: false, fin: false });
      ws.ping('between');
      ws.send(FRAG_TEXT.subarray(12, 20), { binary: false, fin: false });
      ws.send(FRAG_TEXT.subarray(20), { binary: false, fin: true });
      ws.send(FRAG_BINARY.subarray(0, 100), { binary: true, fin: false });
      ws.send(Buffer.alloc(0), { binary: true, fin: false });
      ws.send(FRAG_BINARY.subarray(100), { binary: true, fin: true });
      break;
    default:
      break;
  }
});

// Going away: every client gets a 1001 close, then the process ends.
const stop = () => {
  for (const ws of wss.clients) ws.close(1001, 'server shutdown');
  // ws does not close a server it was given: close the https server too.
  wss.close(() => (https ? https.close(() => process.exit(0)) : process.exit(0)));
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
