#!/usr/bin/python3
"""The Python `websockets` peer as a client, against a parley server.

    /usr/bin/python3 websockets_client.py ws[s]://127.0.0.1:PORT [--ca FILE] [case ...]

--ca FILE: for wss://, verify the server's certificate (name included)
against the CAs of this PEM file (ssl.create_default_context(cafile=FILE)).

Runs the client cases of tests/interop/README.md (all, or those named) and
prints one JSON line per case on stdout: first {"plan": [...]}, then
{"case": name, "ok": bool, "detail": str, "ms": n}.
"""

import asyncio
import json
import os
import ssl
import sys
import urllib.parse
import time

import websockets
import websockets.client
import websockets.uri

FRAG_TEXT = "fragmented \u2713 message: \u00fcn\u00efc\u00f8d\u00e9 \u20ac \U0001F600"
FRAG_BINARY = bytes(range(256)) * 4
REFUSAL_BODY = "forbidden by interop test"
SIZES = [("0", 0), ("125", 125), ("126", 126), ("64KiB", 64 << 10), ("1MiB", 1 << 20), ("16MiB", 16 << 20)]
UNIT = "parley \u2713 \u00fcn\u00efc\u00f8d\u00e9 \U0001F600 ".encode()

BASE = ""
SSL = None  # the client's ssl.SSLContext for wss://
counter = 0


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def text_of(n):
    """n bytes of valid UTF-8 mixing 1- to 4-byte characters."""
    full = UNIT * (n // len(UNIT) + 2)
    i = n
    while i > 0 and (full[i] & 0xC0) == 0x80:
        i -= 1
    return (full[:i] + b"x" * (n - i)).decode()


def new_id(case):
    global counter
    counter += 1
    return "%s-%d-%d" % (case, os.getpid(), counter)


def connect(path, **kw):
    kw.setdefault("max_size", None)
    if SSL is not None:
        kw.setdefault("ssl", SSL)
    return websockets.connect(BASE + path, ping_interval=None, open_timeout=10, close_timeout=10, **kw)


async def report(rid):
    """What the server saw of connection `rid`, once it closed (5 s at most)."""
    deadline = time.monotonic() + 5
    while True:
        async with connect("/report?of=" + rid) as ws:
            rec = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if rec.get("close") or time.monotonic() > deadline:
            return rec
        await asyncio.sleep(0.05)


async def expect_server_close(rid, code, reason):
    # reason None: not compared (the reason of a 1006 is the server's own words).
    rec = await report(rid)
    seen = rec.get("close")
    check(seen is not None and seen[0] == code and (reason is None or seen[1] == reason),
          "server saw close %r, expected %r" % (rec.get("close"), [code, reason]))
    return rec


async def echo_one(message, timeout=10):
    async with connect("/echo") as ws:
        await ws.send(message)
        got = await asyncio.wait_for(ws.recv(), timeout)
        check(type(got) is type(message), "echo came back as %s, sent %s" % (type(got).__name__, type(message).__name__))
        check(got == message, "echo differs: %d bytes back for %d sent" % (len(got), len(message)))


def sized(kind, n):
    async def run():
        message = text_of(n) if kind == "text" else os.urandom(n)
        await echo_one(message, timeout=30)
    return run


async def text_fragmented():
    async with connect("/echo") as ws:
        parts = ["fragmented \u2713 ", "", "message: \u00fcn\u00efc\u00f8d\u00e9", " \u20ac \U0001F600"]
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == "".join(parts), "echo differs: %r" % got)


async def binary_fragmented():
    async with connect("/echo") as ws:
        parts = [os.urandom(1000), b"", os.urandom(65536), b"\x00"]
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == b"".join(parts), "echo differs: %d bytes back" % len(got))


async def fragmented_with_ping():
    async with connect("/echo") as ws:
        waiters = []

        async def parts():
            yield "first half, "
            waiters.append(await ws.ping(b"between fragments"))
            yield "second half"
        await ws.send(parts())
        await asyncio.wait_for(waiters[0], 10)
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == "first half, second half", "echo differs: %r" % got)


async def receive_fragmented():
    async with connect("/fragments") as ws:
        text = await asyncio.wait_for(ws.recv(), 10)
        check(text == FRAG_TEXT, "text differs: %r" % text)
        binary = await asyncio.wait_for(ws.recv(), 10)
        check(binary == FRAG_BINARY, "binary differs: %d bytes" % len(binary))


async def many_messages():
    async with connect("/echo") as ws:
        sent = ["message %d %s" % (i, "\u00e9" * (i % 50)) for i in range(1000)]
        for m in sent:
            await ws.send(m)
        for i, m in enumerate(sent):
            got = await asyncio.wait_for(ws.recv(), 10)
            check(got == m, "message %d out of order or changed: %r" % (i, got[:40]))


async def ping_from_client():
    async with connect("/echo") as ws:
        for payload in (b"", b"hello \xe2\x9c\x93", bytes(range(125))):
            waiter = await ws.ping(payload)
            await asyncio.wait_for(waiter, 10)  # resolves on the pong with this payload


async def ping_from_server():
    async with connect("/ping?payload=srv-ping-%E2%9C%93") as ws:
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == "pong:srv-ping-\u2713", "server reported %r" % got)


def close_client(code, reason):
    async def run():
        rid = new_id("close-client")
        ws = await connect("/echo?id=" + rid)
        await ws.close(code, reason)
        check(ws.close_code == code, "server answered the close with %r %r" % (ws.close_code, ws.close_reason))
        await expect_server_close(rid, code, reason)
    return run


def close_server(code, reason):
    async def run():
        from urllib.parse import quote
        async with connect("/close?code=%d&reason=%s" % (code, quote(reason))) as ws:
            try:
                got = await asyncio.wait_for(ws.recv(), 10)
                raise Failure("got a message instead of the close: %r" % got)
            except websockets.ConnectionClosed:
                pass
            await ws.wait_closed()
            check((ws.close_code, ws.close_reason) == (code, reason),
                  "closed with %r %r" % (ws.close_code, ws.close_reason))
    return run


async def close_server_abrupt():
    async with connect("/terminate") as ws:
        try:
            got = await asyncio.wait_for(ws.recv(), 10)
            raise Failure("got a message: %r" % got)
        except websockets.ConnectionClosedError:
            pass
        check(ws.close_code == 1006, "close code %r, expected 1006" % ws.close_code)


async def close_server_abrupt_open():
    async with connect("/terminate-on-message") as ws:
        await ws.send("drop me")
        try:
            got = await asyncio.wait_for(ws.recv(), 10)
            raise Failure("got a message: %r" % got)
        except websockets.ConnectionClosedError:
            pass
        check(ws.close_code == 1006, "close code %r, expected 1006" % ws.close_code)


async def close_client_abrupt():
    rid = new_id("abrupt")
    ws = await connect("/echo?id=" + rid)
    await ws.send("about to vanish")
    await asyncio.wait_for(ws.recv(), 10)
    ws.transport.abort()
    await expect_server_close(rid, 1006, None)


def subprotocol(offer, expected):
    async def run():
        async with connect("/echo", subprotocols=offer) as ws:
            check(ws.subprotocol == expected, "negotiated %r, expected %r" % (ws.subprotocol, expected))
            await ws.send("after negotiation")
            check(await asyncio.wait_for(ws.recv(), 10) == "after negotiation", "echo differs")
    return run


async def refused():
    # The legacy client raises InvalidStatusCode without the body; websockets'
    # sans-I/O client reads the whole refusal, body included.
    try:
        async with connect("/refuse"):
            raise Failure("the handshake succeeded")
    except websockets.InvalidStatusCode as e:
        check(e.status_code == 403, "status %d" % e.status_code)
    conn = websockets.client.ClientConnection(websockets.uri.parse_uri(BASE + "/refuse"))
    conn.send_request(conn.connect())
    u = urllib.parse.urlsplit(BASE)
    tls = {"ssl": SSL, "server_hostname": u.hostname} if u.scheme == "wss" else {}
    reader, writer = await asyncio.wait_for(asyncio.open_connection(u.hostname, u.port, **tls), 10)
    try:
        for chunk in conn.data_to_send():
            writer.write(chunk)
        response = None
        while response is None:
            data = await asyncio.wait_for(reader.read(65536), 10)
            conn.receive_data(data) if data else conn.receive_eof()
            for event in conn.events_received():
                response = event
            check(data or response is not None, "EOF before a response")
        check(response.status_code == 403, "status %d" % response.status_code)
        check(REFUSAL_BODY in (response.body or b"").decode(), "body %r" % response.body)
    finally:
        writer.close()


REASON_123 = "\u00e9" * 61 + "x"  # the longest reason: 123 bytes
PING_125 = "abcdefghij" * 12 + "abcde"


async def large_fragmented():
    async with connect("/echo") as ws:
        parts = [os.urandom(64 << 10) for _ in range(256)]  # 16 MiB
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), 30)
        check(got == b"".join(parts), "echo differs: %d bytes back" % len(got))


async def empty_fragments():
    async with connect("/echo") as ws:
        await ws.send(["", "", ""])
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == "", "echo differs: %r" % got)


async def many_connections():
    async def one(i):
        async with connect("/echo") as ws:
            await ws.send("connection %d" % i)
            got = await asyncio.wait_for(ws.recv(), 10)
            check(got == "connection %d" % i, "connection %d got %r" % (i, got))
    await asyncio.gather(*(one(i) for i in range(20)))


async def ping_from_server_125():
    async with connect("/ping?payload=" + PING_125) as ws:
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == "pong:" + PING_125, "server reported %r" % got)


def close_after_burst(count, size):
    async def run():
        rid = new_id("burst")
        ws = await connect("/echo?id=" + rid)
        got = []

        async def read():
            try:
                async for m in ws:
                    got.append(m)
            except websockets.ConnectionClosed:
                pass
        reader = asyncio.create_task(read())
        sent = ["burst %d %s" % (i, text_of(size)) for i in range(count)]
        for m in sent:
            await ws.send(m)
        await ws.close(1000, "done")
        await asyncio.wait_for(reader, 30)
        check(ws.close_code == 1000, "the server answered the close with %r" % ws.close_code)
        rec = await expect_server_close(rid, 1000, "done")
        # Every echo the server sent before its close frame must arrive (a server
        # may stop echoing once it has the close: websockets does).
        check(got == sent[:rec["echoed"]], "%d echoes arrived, the server sent %d" % (len(got), rec["echoed"]))
    return run


async def close_simultaneous():
    # The server closes on receipt of the message; the client closes right
    # after sending it: the two close frames cross.
    rid = new_id("simultaneous")
    ws = await connect("/close-on-message?id=" + rid)
    await ws.send("close now")
    await ws.close(1000, "client")
    check(ws.close_code == 1000 and ws.close_reason in ("server", "client"),
          "closed with %r %r" % (ws.close_code, ws.close_reason))
    await expect_server_close(rid, 1000, "client")


async def close_server_shutdown():
    # Run alone: the driver stops the server (SIGTERM) once "ready" is printed.
    ws = await connect("/echo")
    await ws.send("ready")
    await asyncio.wait_for(ws.recv(), 10)
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.wait_for(ws.wait_closed(), 15)
    check(ws.close_code == 1001, "closed with %r %r, expected 1001" % (ws.close_code, ws.close_reason))


async def ping_burst():
    async with connect("/echo") as ws:
        waiters = [await ws.ping(b"burst %d" % i) for i in range(10)]
        # each waiter resolves on the pong with its payload
        await asyncio.wait_for(asyncio.gather(*waiters), 10)


async def close_server_after_burst():
    async with connect("/burst-close") as ws:
        got = []
        try:
            while True:
                got.append(await asyncio.wait_for(ws.recv(), 10))
        except websockets.ConnectionClosed:
            pass
        check(got == ["burst %d" % i for i in range(100)], "%d of the 100 messages before the close" % len(got))
        check((ws.close_code, ws.close_reason) == (1000, "burst done"),
              "closed with %r %r" % (ws.close_code, ws.close_reason))


# Run only when named (the driver runs them on their own).
ALONE = [("close-server-shutdown", close_server_shutdown)]

CASES = [("%s-%s" % (kind, label), sized(kind, n)) for kind in ("text", "binary") for label, n in SIZES] + [
    ("text-fragmented", text_fragmented),
    ("binary-fragmented", binary_fragmented),
    ("fragmented-with-ping", fragmented_with_ping),
    ("large-fragmented", large_fragmented),
    ("empty-fragments", empty_fragments),
    ("receive-fragmented", receive_fragmented),
    ("many-messages", many_messages),
    ("many-connections", many_connections),
    ("ping-from-client", ping_from_client),
    ("ping-burst", ping_burst),
    ("ping-from-server", ping_from_server),
    ("ping-from-server-125", ping_from_server_125),
    ("close-client-normal", close_client(1000, "")),
    ("close-client-reason", close_client(4001, "client bye \u2713")),
    ("close-client-reason-123", close_client(4003, REASON_123)),
    ("close-after-burst", close_after_burst(100, 0)),
    ("close-after-large", close_after_burst(4, 4 << 20)),
    ("close-simultaneous", close_simultaneous),
    ("close-server-normal", close_server(1000, "")),
    ("close-server-reason", close_server(4002, "server bye \u2713")),
    ("close-server-reason-123", close_server(4004, REASON_123)),
    ("close-server-after-burst", close_server_after_burst),
    ("close-server-abrupt", close_server_abrupt),
    ("close-server-abrupt-open", close_server_abrupt_open),
    ("close-client-abrupt", close_client_abrupt),
    ("subprotocol-common", subprotocol(["x-unknown", "chat.v1"], "chat.v1")),
    ("subprotocol-none-common", subprotocol(["x-unknown"], None)),
    ("subprotocol-not-offered", subprotocol(None, None)),
    ("refused-403", refused),
]


async def deflate_negotiated():
    """The server accepted permessage-deflate (websockets offers it by
    default); a compressible message goes both ways. Returns the answer,
    which run_interop.py checks."""
    async with connect("/echo") as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        check("permessage-deflate" in ext, "no permessage-deflate in the answer: %r" % ext)
        data = text_of(20000)
        await ws.send(data)
        got = await asyncio.wait_for(ws.recv(), 30)
        check(got == data, "echo differs")
    return ext


ALONE.append(("deflate-negotiated", deflate_negotiated))   # run only when named


async def main():
    global BASE, SSL
    BASE = sys.argv[1].rstrip("/")
    args = sys.argv[2:]
    if "--ca" in args:
        at = args.index("--ca")
        SSL = ssl.create_default_context(cafile=args[at + 1])
        del args[at:at + 2]
    elif BASE.startswith("wss:"):
        SSL = ssl.create_default_context()
    wanted = [a for a in args if not a.startswith("--")]   # --deflate: compression is on by default
    cases = [(n, f) for n, f in CASES if not wanted or n in wanted] + [(n, f) for n, f in ALONE if n in wanted]
    print(json.dumps({"plan": [n for n, _ in cases], "version": websockets.__version__}), flush=True)
    for name, fn in cases:
        start = time.monotonic()
        ok, detail = True, ""
        try:
            note = await asyncio.wait_for(fn(), 60)
            if isinstance(note, str):
                detail = note
        except asyncio.TimeoutError:
            ok, detail = False, "timed out"
        except Failure as e:
            ok, detail = False, str(e)
        except Exception as e:
            ok, detail = False, "%s: %s" % (type(e).__name__, e)
        print(json.dumps({"case": name, "ok": ok, "detail": detail,
                          "ms": int((time.monotonic() - start) * 1000)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
