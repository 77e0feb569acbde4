#include "demo_page.hpp"

namespace parley_cli {

// Messages are inserted with textContent only (never innerHTML): whatever a
// peer sends is shown as text.
const std::string_view demo_page_html = R"PARLEY_HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
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
<script>
"use strict";
(function () {
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const text = document.getElementById("text");
  const send = document.getElementById("send");
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/chat";
  let ws = null;
  let retry = 500;

  function line(message, cls) {
    const p = document.createElement("p");
    if (cls) p.className = cls;
    p.textContent = message;
    log.appendChild(p);
    log.scrollTop = log.scrollHeight;
  }
  function enable(on) { text.disabled = !on; send.disabled = !on; if (on) text.focus(); }

  function connect() {
    ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = function () {
      retry = 500;
      status.textContent = "connected to " + url;
      line("connected", "sys");
      enable(true);
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data === "string") line(ev.data);
      else line("[binary message, " + ev.data.byteLength + " bytes]", "sys");
    };
    ws.onclose = function (ev) {
      enable(false);
      line("closed: " + ev.code + (ev.reason ? " " + ev.reason : "") + "; reconnecting…", "sys");
      status.textContent = "disconnected";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  document.getElementById("form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (ws && ws.readyState === WebSocket.OPEN && text.value !== "") {
      ws.send(text.value);
      text.value = "";
    }
  });
  connect();
})();
</script>
</body>
</html>
)PARLEY_HTML";

}  // namespace parley_cli
