#!/usr/bin/env python3
"""A WebSocket client that completes its opening handshake and never reads
again: the slow consumer of dashboard_slow.test.mjs.

    never_reads.py HOST PORT PATH SECONDS

Its socket has a tiny receive buffer (SO_RCVBUF 2048, which Linux doubles
to 4096) and a small MSS (TCP_MAXSEG 256), both set before connect: the
window it offers stays tiny, and the small MSS keeps the server's kernel
from growing its send buffer for this socket (it sizes it by segments:
with loopback's 64 KiB MSS it takes megabytes of small writes, with 256
bytes some 60 KB), so what the server cannot send soon stays in the
server's own output buffer.

It reads the 101 answer byte by byte, so nothing after the head is taken,
prints "open" on stdout, sleeps SECONDS (a bound: the test stops it by PID
before), and exits without closing politely.
"""
import base64
import hashlib
import os
import socket
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def main():
    host, port, path, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 256)
    s.settimeout(10)
    s.connect((host, port))
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() +
              b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = s.recv(1)
        if not byte:
            sys.exit("never_reads: closed during the handshake: %r" % head)
        head += byte
    lines = head.decode("latin-1").split("\r\n")
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if lines[0].split(" ")[1:2] != ["101"] or ("sec-websocket-accept: " + accept).lower() not in map(str.lower, lines):
        sys.exit("never_reads: not a WebSocket answer: %r" % head)
    print("open rcvbuf=%d mss=%d" % (s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
                                     s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)), flush=True)
    time.sleep(seconds)


if __name__ == "__main__":
    main()
