#include "demo_page.hpp"

namespace parley_cli {

// The chat page of `parley serve` (GET /), built on parley.js (GET
// /parley.js). Messages are inserted with textContent only (never
// innerHTML): whatever a peer sends is shown as text.
const std::string_view demo_page_html = R"PARLEY_HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>parley chat</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; margin-bottom: .2rem; }
  #status { color: #666; font-size: .9rem; margin-bottom: .8rem; }
  #log { border: 1px solid #ccc; border-radius: 4px; height: 22rem; overflow-y: auto; padding: .5rem; background: #fafafa; }
  #log p { margin: .15rem 0; white-space: pre-wrap; word-break: break-word; }
  #log .sys { color: #888; font-style: italic; }
  form { display: flex; gap: .5rem; margin-top: .6rem; }
  #text { flex: 1; padding: .4rem; font: inherit; }
  button { padding: .4rem 1rem; font: inherit; }
</style>
</head>
<body>
<h1>parley chat</h1>
<div id="status">connecting…</div>
<div id="log" aria-live="polite"></div>
<form id="form" autocomplete="off">
  <input id="text" placeholder="say something (everyone on this page sees it)" disabled>
  <button id="send" disabled>Send</button>
</form>
<script type="module">
// The chat, on parley.js (served by parley serve at /parley.js): it
// reconnects by itself, queues what is typed while disconnected, and its
// heartbeat notices a dead link.
import { ParleySocket } from "/parley.js";

const log = document.getElementById("log");
const status = document.getElementById("status");
const text = document.getElementById("text");
const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/chat";
// With parley serve --history, messages come as {"offset", "text"}: the
// last offset seen is sent back on reconnection (?since=), and the server
// replays what was missed before {"recovery": ...}.
let lastOffset = "";
const urlNow = () => (lastOffset ? url + "?since=" + encodeURIComponent(lastOffset) : url);

function line(message, cls) {
  const p = document.createElement("p");
  if (cls) p.className = cls;
  p.textContent = message;
  log.appendChild(p);
  log.scrollTop = log.scrollHeight;
}

const ws = new ParleySocket(urlNow, {
  binaryType: "arraybuffer",
  minDelay: 500,
  maxDelay: 10000,
  heartbeatInterval: 15000,
});
ws.addEventListener("open", () => {
  status.textContent = "connected to " + ws.url;
  line("connected", "sys");
});
// A history message or notice of parley serve --history, or null.
function historyMessage(data) {
  if (!data.startsWith('{"offset":') && !data.startsWith('{"recovery":')) return null;
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}
ws.addEventListener("message", (ev) => {
  if (typeof ev.data !== "string") return line("[binary message, " + ev.data.byteLength + " bytes]", "sys");
  const h = historyMessage(ev.data);
  if (!h) return line(ev.data);
  if (typeof h.offset === "string") {
    if (h.offset) lastOffset = h.offset;
    return line(h.text);
  }
  if (h.recovery === "recovered") {
    if (h.replayed > 0) line("caught up: " + h.replayed + " message(s) missed while away", "sys");
  } else {
    lastOffset = "";  // (asking again from it would fail again)
    line("some messages could not be recovered (" + (h.reason || h.recovery) + ")", "sys");
  }
});
ws.addEventListener("close", (ev) => {
  status.textContent = ev.willReconnect ? "disconnected; reconnecting…" : "disconnected";
  line("closed: " + ev.code + (ev.reason ? " " + ev.reason : ""), "sys");
});
ws.addEventListener("reconnecting", (ev) => {
  status.textContent = "reconnecting in " + (ev.delay / 1000).toFixed(1) + " s (attempt " + ev.attempt + ")";
});
ws.addEventListener("maximum", () => {
  status.textContent = "gave up reconnecting; reload the page";
});
ws.addEventListener("drop", () => line("a message typed while disconnected was dropped (queue full)", "sys"));

document.getElementById("form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (text.value === "") return;
  if (!ws.send(text.value)) line("(queued until reconnected) " + text.value, "sys");
  text.value = "";
  text.focus();
});
text.disabled = false;
document.getElementById("send").disabled = false;
text.focus();
</script>
</body>
</html>
)PARLEY_HTML";

}  // namespace parley_cli
