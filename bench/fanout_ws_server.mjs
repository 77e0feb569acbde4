// A broadcast server on Node's `ws` (the project's node_modules), the peer
// of `parley serve`'s chat rooms in bench/fanout_figures.sh: each message
// from any client is sent to every open client of the same path, the
// sender included, as ws's README broadcasts (a loop of
// `client.send(data, { binary: isBinary })` over the open clients; one Set
// per path instead of `wss.clients`). No compression, no pings. Prints
// "listening on ws://127.0.0.1:PORT/" on stderr once it listens.
//
//   node bench/fanout_ws_server.mjs [PORT]   (default 0: any free port)
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// ws from the project's node_modules, wherever this is started from.
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const { WebSocketServer, WebSocket } = createRequire(path.join(root, 'package.json'))('ws');

const rooms = new Map();  // path -> Set of clients

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.argv[2] || 0),
  perMessageDeflate: false,
  clientTracking: false,
  backlog: 1024,
});
wss.on('connection', (ws, req) => {
  const room = new URL(req.url, 'ws://x').pathname;
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(ws);
  ws.on('message', (data, isBinary) => {
    members.forEach((client) => {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
  });
  ws.on('close', () => {
    members.delete(ws);
    if (members.size === 0) rooms.delete(room);
  });
  ws.on('error', () => {});
});
wss.on('listening', () => console.error(`listening on ws://127.0.0.1:${wss.address().port}/`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
