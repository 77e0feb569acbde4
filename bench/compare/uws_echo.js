// An echo server on uWebSockets.js (uWebSockets' Node binding, from npm), for
// bench/compare/run only: every message sent back as it came, no
// compression. Prints "ws://127.0.0.1:PORT/" on stdout once it listens; exits
// with status 3 and the reason on stderr when the binding does not load here.
//
//   node uws_echo.js MODULE_DIR [PORT]
'use strict';
let uWS;
try {
  uWS = require(process.argv[2]);
} catch (e) {
  console.error(`uWebSockets.js does not load: ${String(e.message).split('\n').filter((l) => l.trim()).slice(-1)[0]}`);
  process.exit(3);
}
uWS.App()
  .ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 64 * 1024 * 1024,
    maxBackpressure: 256 * 1024 * 1024,
    idleTimeout: 0,
    message: (ws, message, isBinary) => { ws.send(message, isBinary); },
  })
  .listen('127.0.0.1', Number(process.argv[3] || 0), (token) => {
    if (!token) {
      console.error('uWebSockets.js: cannot listen');
      process.exit(1);
    }
    console.log(`ws://127.0.0.1:${uWS.us_socket_local_port(token)}/`);
  });
