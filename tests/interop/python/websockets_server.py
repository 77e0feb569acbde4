#!/usr/bin/python3
"""The Python `websockets` peer as a server, for parley's client to connect to.

    /usr/bin/python3 websockets_server.py [--tls-cert FILE --tls-key FILE]

--tls-cert/--tls-key: wss://, with an ssl.SSLContext(PROTOCOL_TLS_SERVER)
holding that PEM certificate chain and key.
Listens on 127.0.0.1, port 0, and prints {"port": N} on stdout. Behaves by
the request path as tests/interop/README.md says (/echo, /close, /terminate,
/ping, /fragments, /refuse, /report). Runs until SIGTERM or stdin closes.
"""

import argparse
import asyncio
import http
import json
import signal
import ssl
import sys
import urllib.parse

import websockets

SUBPROTOCOLS = ["chat.v2", "chat.v1"]
FRAG_TEXT = ["fragmented \u2713 ", "message: \u00fcn\u00efc\u00f8d\u00e9", " \u20ac \U0001F600"]
FRAG_BINARY = bytes(range(256)) * 4
REFUSAL_BODY = "forbidden by interop test"

records = {}  # id -> {"close": [code, reason] | None, "subprotocol": str, "echoed": n}


def parse(path):
    u = urllib.parse.urlsplit(path)
    return u.path, dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))


async def process_request(path, headers):
    if parse(path)[0] == "/refuse":
        return http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain; charset=utf-8")], REFUSAL_BODY.encode()
    return None


async def handler(ws, path=None):
    route, q = parse(ws.path)
    rid = q.get("id")
    if route == "/report":
        await ws.send(json.dumps(records.get(q.get("of", ""), {"close": None})))
        await ws.close(1000)
        return
    if rid:
        records[rid] = {"close": None, "subprotocol": ws.subprotocol or "", "echoed": 0}
    try:
        if route == "/close":
            await ws.close(int(q.get("code", "1000")), q.get("reason", ""))
        elif route == "/terminate":
            ws.transport.abort()
        elif route == "/ping":
            payload = q.get("payload", "").encode()
            waiter = await ws.ping(payload)
            await asyncio.wait_for(waiter, 10)
            await ws.send("pong:" + payload.decode())
        elif route == "/fragments":
            async def text_fragments():
                yield FRAG_TEXT[0]
                await ws.ping(b"between")
                for f in FRAG_TEXT[1:]:
                    yield f
            await ws.send(text_fragments())
            await ws.send([FRAG_BINARY[:100], b"", FRAG_BINARY[100:]])
        elif route == "/burst-close":
            for i in range(100):
                await ws.send("burst %d" % i)
            await ws.close(1000, "burst done")
        elif route == "/terminate-on-message":
            await ws.recv()
            ws.transport.abort()
        elif route == "/close-on-message":
            async for message in ws:
                await ws.close(1000, "server")
        async for message in ws:
            await ws.send(message)
            if rid:
                records[rid]["echoed"] += 1
    except websockets.ConnectionClosed:
        pass
    except Exception as e:  # reported by the test through the missing reply
        print("websockets_server: %s: %r" % (ws.path, e), file=sys.stderr)
    await ws.wait_closed()
    if rid:
        records[rid]["close"] = [ws.close_code, ws.close_reason]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tls-cert", help="PEM certificate chain (leaf first): serve wss://")
    ap.add_argument("--tls-key", help="PEM private key of --tls-cert")
    args = ap.parse_args()
    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    stop = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(4096) or stop.done() or stop.set_result(None))
    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=SUBPROTOCOLS,
                                process_request=process_request, max_size=None,
                                ping_interval=None, close_timeout=3, ssl=context) as server:
        print(json.dumps({"port": server.sockets[0].getsockname()[1],
                          "version": websockets.__version__}), flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
