// An echo server on Node's `ws` (the project's node_modules), for
// bench/compare/run only: every message sent back as it came, no
// compression. Prints "ws://127.0.0.1:PORT/" on stdout once it listens.
//
//   node ws_echo.js [PORT]   (default 0: any free port)
'use strict';
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.argv[2] || 0),
  perMessageDeflate: false,
  maxPayload: 64 * 1024 * 1024,
  clientTracking: false,
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`ws://127.0.0.1:${wss.address().port}/`));
