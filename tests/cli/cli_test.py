#!/usr/bin/env python3
"""End-to-end tests of the `parley` command: serve, connect and bench driven
against each other (and against a tiny WebSocket peer written here), exit
codes, the demo page, --static, SIGTERM, and the memory the server holds for
peers that do not read (its RSS, from /proc).

    python3 tests/cli/cli_test.py path/to/parley [unittest args]

Standard library only. Every process started is stopped by its PID, every
wait is bounded, everything listens on 127.0.0.1.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import redis_server  # noqa: E402  (a redis-server of a test's own)

PARLEY = os.environ.get("PARLEY_BIN", "")
MAKE_PKI = os.environ.get("PARLEY_MAKE_PKI", "")  # writes a test CA and certificates into a directory
TIMEOUT = 20  # seconds: the bound of any single command
# Set (e.g. "address,undefined") when parley was built with sanitizers: the
# RSS bounds are not checked then, since ASan's allocator keeps freed memory
# in quarantine (up to 256 MiB) and shadows every byte; the plain build checks them.
SANITIZED = bool(os.environ.get("PARLEY_SANITIZE"))
# The parley command reads proxy variables (as curl does); these tests talk
# to loopback servers directly, whatever the machine's environment says.
for _name in [n for n in os.environ if n.lower() in (
        "http_proxy", "https_proxy", "ws_proxy", "wss_proxy", "all_proxy", "no_proxy")]:
    del os.environ[_name]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, stdin=None, timeout=TIMEOUT):
    """Runs parley to completion; returns (rc, stdout bytes, stderr str)."""
    p = subprocess.run([PARLEY, *args], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, stdin=None if stdin is not None else subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


class Server:
    """A `parley serve --port 0 ...` process; reads its URL from stderr."""

    def __init__(self, tmp, *args):
        self.log_path = os.path.join(tmp, "serve-%d.log" % time.monotonic_ns())
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([PARLEY, "serve", "--port", "0", *args], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            m = re.search(r"listening on (wss?)://127\.0\.0\.1:(\d+)/", self.text())
            if m:
                self.scheme, self.port = m.group(1), int(m.group(2))
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.02)
        if self.port is None:
            self.stop()
            raise AssertionError("serve did not start: " + self.text())
        self.url = "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for_log(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return True
            time.sleep(0.02)
        return False

    def memory(self, field="VmRSS"):
        """A size field of the process's /proc/PID/status, in bytes: VmRSS
        (resident now) or VmHWM (the most it was resident)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no %s in /proc/%d/status" % (field, self.proc.pid))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)
        self.log.close()


def http_get(port, path, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def exchange(port, request):
    """Sends `request` (bytes) as is; returns all the server answers until it
    closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def raw_http(port, target):
    """Sends a request line as is (http.client would normalise `..`)."""
    data = exchange(port, ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % target).encode())
    return int(data.split(b" ", 2)[1]), data


# ---- a minimal WebSocket server peer, to drive `connect --echo` ----------

def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("peer closed")
        data += chunk
    return bytes(data)


def unmask(payload, key):
    """XORs `payload` with the 4-byte masking `key` (both ways: masking is its own inverse)."""
    n = len(payload)
    pad = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(pad, "big")).to_bytes(n, "big")


def read_frame(sock):
    b0, b1 = recv_exact(sock, 2)
    length = b1 & 0x7F
    if length == 126:
        length = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", recv_exact(sock, 8))[0]
    mask = recv_exact(sock, 4) if b1 & 0x80 else None
    payload = recv_exact(sock, length)
    if mask:
        payload = unmask(payload, mask)
    return b0 & 0x0F, bool(b0 & 0x80), payload


def frame(opcode, payload, fin=True, mask=None):
    """A frame; masked with the 4-byte key `mask` when given (a client's
    frames must be)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        return head + mask + unmask(payload, mask)
    return head + payload


def client_frame(opcode, payload, fin=True):
    """A frame as a client sends it: masked with a fresh key."""
    return frame(opcode, payload, fin, mask=os.urandom(4))


def accept_key(key):
    """The Sec-WebSocket-Accept answer to the Sec-WebSocket-Key `key` (bytes)."""
    return base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())


def ws_connect(port, path="/", rcvbuf=None):
    """A raw WebSocket client socket to 127.0.0.1:`port`, past the 101. With
    `rcvbuf`, SO_RCVBUF is set before connecting (a small one makes a peer
    that does not read fill up fast)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16))
        s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path.encode(), key))
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: no frame after the head is taken
            head += recv_exact(s, 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0] or accept_key(key) not in head:
            raise AssertionError("no WebSocket handshake: %r" % head)
        return s
    except BaseException:
        s.close()
        raise


def unread_by_server(server_port, sock):
    """Bytes that `sock` sent to the server on `server_port` that the server
    has not read yet: in `sock`'s send queue or the server's receive queue
    (/proc/net/tcp, loopback IPv4)."""
    here, total = sock.getsockname()[1], 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            ports = (int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16))
            tx, rx = (int(x, 16) for x in fields[4].split(":"))
            if ports == (here, server_port):
                total += tx
            elif ports == (server_port, here):
                total += rx
    return total


class FrameReader:
    """Frames from a socket read through a buffer (for many small frames)."""

    def __init__(self, sock):
        self.file = sock.makefile("rb")

    def recv(self, n):
        return self.file.read1(n)

    def until(self, wanted, limit=1 << 20):
        """Reads frames until one for which `wanted(opcode, payload)` holds
        (at most `limit` of them); returns how many came before it."""
        for count in range(limit):
            op, _, payload = read_frame(self)
            if wanted(op, payload):
                return count
        raise AssertionError("%d frames without the one wanted" % limit)


class EchoDriver(threading.Thread):
    """Accepts one client, sends it messages, checks they come back as sent,
    then closes with 1000."""

    def __init__(self, messages):
        super().__init__(daemon=True)
        self.messages = messages  # [(opcode, payload, fragments)]
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.echoed = []
        self.close_reply = None
        self.error = None
        self.head = b""

    def run(self):
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(10)
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(4096)
                self.head = head
                key = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", head).group(1)
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n")
                for opcode, payload, parts in self.messages:
                    step = max(1, -(-len(payload) // parts))
                    pieces = [payload[i:i + step] for i in range(0, len(payload), step)] or [b""]
                    for i, piece in enumerate(pieces):
                        conn.sendall(frame(opcode if i == 0 else 0, piece, fin=i == len(pieces) - 1))
                    conn.sendall(frame(0x9, b"ping!"))  # a ping between messages: answered, not echoed
                    message, first = b"", None
                    while True:
                        op, fin, data = read_frame(conn)
                        if op == 0xA:
                            continue  # the pong
                        first = op if first is None else first
                        message += data
                        if fin:
                            break
                    self.echoed.append((first, message))
                conn.sendall(frame(0x8, struct.pack("!H", 1000) + b"done"))
                op, _, data = read_frame(conn)
                while op == 0xA:  # a late pong
                    op, _, data = read_frame(conn)
                self.close_reply = (op, data)
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.listener.close()


class CannedHttpPeer(threading.Thread):
    """Answers each connection, in turn, with the next of `answers` (raw
    bytes) once the request head is in, then closes it; stops after the
    last. A stand-in for a server that refuses the handshake."""

    def __init__(self, answers):
        super().__init__(daemon=True)
        self.answers = list(answers)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(len(self.answers))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.error = None

    def run(self):
        try:
            for answer in self.answers:
                conn, _ = self.listener.accept()
                conn.settimeout(10)
                with conn:
                    head = b""
                    while b"\r\n\r\n" not in head:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    conn.sendall(answer)
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.listener.close()


class CliTest(unittest.TestCase):
    def assert_growth_below(self, grown, limit):
        """A server's RSS growth (bytes) stays under `limit` (not checked in a sanitizer build)."""
        if not SANITIZED:
            self.assertLess(grown, limit, "RSS grew by %.1f MiB" % (grown / 2**20))

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="parley-cli-")
        self.servers = []
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=TIMEOUT)
            p.out.close()
            p.err.close()
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, *args):
        s = Server(self.tmp, *args)
        self.servers.append(s)
        return s

    def spawn(self, *args, stdin=subprocess.DEVNULL):
        out = open(os.path.join(self.tmp, "out-%d" % time.monotonic_ns()), "wb+")
        err = open(os.path.join(self.tmp, "err-%d" % time.monotonic_ns()), "wb+")
        p = subprocess.Popen([PARLEY, *args], stdin=stdin, stdout=out, stderr=err)
        p.out, p.err = out, err
        self.procs.append(p)
        return p

    @staticmethod
    def read(f):
        f.flush()
        f.seek(0)
        return f.read().decode("utf-8", "replace")

    def wait_until(self, fn, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if fn():
                return True
            time.sleep(0.02)
        return False

    def assertOneLine(self, err):
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected one line on stderr, got: %r" % err)

    # ---- arguments ----

    def test_help_and_version(self):
        rc, out, _ = run("--help")
        self.assertEqual(rc, 0)
        for word in (b"serve", b"connect", b"bench", b"Exit status"):
            self.assertIn(word, out)
        for cmd in ("serve", "connect", "bench"):
            rc, out, _ = run(cmd, "--help")
            self.assertEqual(rc, 0, cmd)
            self.assertIn(b"--", out)
        rc, out, _ = run("--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out.decode(), r"^parley \d+\.\d+\.\d+\n$")
        # The TLS flags of each command.
        flags = {"serve": (b"--tls-cert", b"--tls-key", b"--tls-client-ca"),
                 "connect": (b"--ca", b"--insecure", b"--cert", b"--key"),
                 "bench": (b"--ca", b"--insecure", b"--cert", b"--key")}
        for cmd, wanted in flags.items():
            _, out, _ = run(cmd, "--help")
            for flag in wanted:
                self.assertIn(flag, out, cmd)

    def test_unknown_flag(self):
        rc, out, err = run("connect", "--bogus", "ws://127.0.0.1:1/")
        self.assertEqual(rc, 2)
        self.assertOneLine(err)
        self.assertIn("--bogus", err)
        rc, _, err = run("serve", "--port", "notaport")
        self.assertEqual(rc, 2)
        self.assertOneLine(err)
        rc, _, err = run()
        self.assertEqual(rc, 2)
        self.assertOneLine(err)

    def test_bad_url(self):
        for url in ("not a url", "foo://127.0.0.1/", "ws://"):
            rc, _, err = run("connect", url, "-x", "hi")
            self.assertEqual(rc, 2, url)
            self.assertOneLine(err)
        rc, _, err = run("bench", "http//nope", "-d", "1")
        self.assertEqual(rc, 2)
        self.assertOneLine(err)

    def test_connection_refused(self):
        port = free_port()
        rc, _, err = run("connect", "ws://127.0.0.1:%d/" % port, "-x", "hi")
        self.assertEqual(rc, 3)
        self.assertOneLine(err)
        self.assertIn("refused", err.lower())
        # (--connect-timeout 2: the bench waits at most 2 x 2 + 1 s for its
        # connections; the default 10 s would pass this call's timeout.)
        rc, _, err = run("bench", "ws://127.0.0.1:%d/" % port, "-c", "2", "-d", "1", "--connect-timeout", "2")
        self.assertEqual(rc, 3)
        self.assertOneLine(err)

    def test_handshake_timeout(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)  # accepts (in the backlog), never answers
            t0 = time.monotonic()
            rc, _, err = run("connect", "ws://127.0.0.1:%d/" % s.getsockname()[1], "--connect-timeout", "0.5")
        self.assertEqual(rc, 3)
        self.assertOneLine(err)
        self.assertLess(time.monotonic() - t0, 5)

    def test_port_in_use(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            rc, _, err = run("serve", "--port", str(s.getsockname()[1]))
        self.assertEqual(rc, 1)
        self.assertOneLine(err)
        self.assertIn("in use", err)

    # ---- serve + connect ----

    def test_echo_path(self):
        s = self.serve()
        rc, out, err = run("connect", s.url + "/echo", "-x", "hello", "-x", "wörld")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode(), "hello\nwörld\n")
        self.assertIn("closed 1000", err)
        # stdin lines, and the log line of the server
        rc, out, err = run("connect", s.url + "/echo", stdin=b"one\ntwo\r\nthree")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"one\ntwo\nthree\n")
        self.assertTrue(s.wait_for_log(r"/echo closed 1000 \(normal closure\) after [\d.]+ s; in 3 msg"), s.text())

    def test_chat_broadcast(self):
        s = self.serve()
        listener = self.spawn("connect", s.url + "/chat", "--wait", "-1")
        self.assertTrue(self.wait_until(lambda: "connected" in self.read(listener.err)))
        rc, out, err = run("connect", s.url + "/chat", "-x", "hi all")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"hi all\n")  # the sender gets it too
        self.assertTrue(self.wait_until(lambda: "hi all" in self.read(listener.out)), self.read(listener.out))
        # an /echo connection does not get chat messages
        echo = self.spawn("connect", s.url + "/echo", "--wait", "-1")
        self.assertTrue(self.wait_until(lambda: "connected" in self.read(echo.err)))
        run("connect", s.url + "/chat", "-x", "second")
        self.assertTrue(self.wait_until(lambda: "second" in self.read(listener.out)))
        self.assertEqual(self.read(echo.out), "")
        for p in (listener, echo):
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=10), 0, self.read(p.err))

    def test_broadcast_mode(self):
        s = self.serve("--broadcast")
        a = self.spawn("connect", s.url + "/a", "--wait", "-1")
        self.assertTrue(self.wait_until(lambda: "connected" in self.read(a.err)))
        rc, out, _ = run("connect", s.url + "/b", "-x", "to everyone")
        self.assertEqual(rc, 0)
        self.assertEqual(out, b"to everyone\n")
        self.assertTrue(self.wait_until(lambda: "to everyone" in self.read(a.out)))
        a.send_signal(signal.SIGINT)
        self.assertEqual(a.wait(timeout=10), 0)

    def test_serve_echo_mode_text_and_binary(self):
        s = self.serve("--echo")
        rc, out, err = run("connect", s.url + "/any/path?x=1", "-x", "text")
        self.assertEqual((rc, out), (0, b"text\n"), err)
        rc, out, err = run("connect", s.url + "/", "--binary", "-x", "AB")
        self.assertEqual((rc, out), (0, b"4142\n"), err)
        payload = bytes(range(256)) * 4
        rc, out, err = run("connect", s.url + "/", "--binary", "--raw", stdin=payload)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, payload)
        # a page-less path over plain HTTP is still a WebSocket endpoint
        status, _, _ = http_get(s.port, "/echo")
        self.assertEqual(status, 426)

    def test_connect_echo_mode(self):
        big = os.urandom(70000)
        driver = EchoDriver([(0x1, "héllo".encode(), 1), (0x2, bytes(range(256)), 1),
                             (0x1, ("fragmented " * 100).encode(), 3), (0x2, big, 2), (0x1, b"", 1)])
        driver.start()
        rc, out, err = run("connect", "ws://127.0.0.1:%d/runCase?case=1&agent=parley" % driver.port, "--echo",
                           "-H", "X-One: 1", "--header", "X-Two:  two words ", "--cookie", "a=1; b=2",
                           "--origin", "http://o.example")
        driver.join(timeout=TIMEOUT)
        self.assertIsNone(driver.error, err)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"")  # nothing printed in echo mode
        expected = [(op, payload) for op, payload, _ in driver.messages]
        self.assertEqual(driver.echoed, expected)
        self.assertEqual(driver.close_reply[0], 0x8)
        self.assertEqual(struct.unpack("!H", driver.close_reply[1][:2])[0], 1000)
        head = driver.head.decode()
        self.assertIn("GET /runCase?case=1&agent=parley HTTP/1.1\r\n", head)
        for line in ("X-One: 1", "X-Two: two words", "Cookie: a=1; b=2", "Origin: http://o.example"):
            self.assertRegex(head, "(?i)\r\n" + re.escape(line) + "\r\n")

    def test_handshake_refused(self):
        s = self.serve("--origin", "http://good.example", "--subprotocol", "chat")
        rc, _, err = run("connect", s.url + "/echo", "--origin", "http://evil.example", "-x", "hi")
        self.assertEqual(rc, 4)
        self.assertOneLine(err)
        self.assertIn("403", err)
        rc, out, err = run("connect", s.url + "/echo", "--origin", "http://good.example", "--subprotocol", "x",
                           "--subprotocol", "chat", "-x", "hi", "-H", "X-Test: 1")
        self.assertEqual((rc, out), (0, b"hi\n"), err)
        self.assertIn("subprotocol chat", err)

    def test_refusal_from_the_server_printed_escaped(self):
        # A terminal escape sequence (OSC "set title", ESC ] ... BEL) in a
        # refusal's reason phrase and body must reach the terminal escaped.
        osc = b"\x1b]0;x\x07"
        body = b"go away " + osc + b"\n"
        answers = [
            # Control bytes in the reason: the answer does not parse, and
            # the error says so without them.
            b"HTTP/1.1 403 Forbidden " + osc + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
            # A reason with a C1 control (CSI, U+009B) in UTF-8, which HTTP
            # admits as obs-text, and the sequence in the body.
            b"HTTP/1.1 403 Forbidden \xc2\x9b31m\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
            % len(body) + body,
        ]
        peer = CannedHttpPeer(answers)
        peer.start()
        errs = []
        for _ in answers:
            rc, out, err = run("connect", "ws://127.0.0.1:%d/" % peer.port, "-x", "hi")
            self.assertEqual((rc, out), (4, b""), err)
            self.assertOneLine(err)
            for raw in ("\x1b", "\x07", "\x9b"):
                self.assertNotIn(raw, err)
            errs.append(err)
        peer.join(timeout=TIMEOUT)
        self.assertIsNone(peer.error)
        self.assertIn("reason phrase", errs[0])
        self.assertIn("403 Forbidden \\xc2\\x9b31m", errs[1])
        self.assertIn("go away \\x1b]0;x\\x07", errs[1])

    def test_escape_sequence_in_http_version(self):
        # Neither the 505 answer nor the server's log line repeats the
        # peer's control bytes raw.
        s = self.serve()
        data = exchange(s.port, b"GET / HTTP/1.1\x1b]0;pwned\x07\r\nHost: a\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 505 "), data)
        self.assertIn(b"HTTP/1.1\\x1b]0;pwned\\x07", data)
        self.assertNotIn(b"\x1b", data)
        self.assertNotIn(b"\x07", data)
        self.assertTrue(s.wait_for_log(r"not an HTTP/d\.d version"), s.text())
        with open(s.log_path, "rb") as f:
            log = f.read()
        self.assertIn(b"HTTP/1.1\\x1b]0;pwned\\x07", log)
        self.assertNotIn(b"\x1b", log)
        self.assertNotIn(b"\x07", log)

    def test_abnormal_close_exit_code(self):
        # The server limits messages to 10 bytes: a bigger one is closed with 1009.
        s = self.serve("--max-message-size", "10")
        rc, _, err = run("connect", s.url + "/echo", "-x", "x" * 100)
        self.assertEqual(rc, 5, err)
        self.assertIn("1009", err)

    def test_pings(self):
        s = self.serve("--ping-interval", "0.1", "--verbose")
        client = self.spawn("connect", s.url + "/echo", "--wait", "-1")
        self.assertTrue(s.wait_for_log(r"< frame ping fin 0 B"), s.text())
        self.assertTrue(s.wait_for_log(r"> frame pong fin 0 B"), s.text())  # the client answers the server's pings
        client.send_signal(signal.SIGTERM)
        self.assertEqual(client.wait(timeout=10), 0, self.read(client.err))

    def test_verbose_logs_frames_and_messages(self):
        s = self.serve("--verbose", "--ping-interval", "0")
        rc, out, err = run("connect", s.url + "/echo", "-x", "hello")
        self.assertEqual(rc, 0, err)
        self.assertTrue(s.wait_for_log(r"> frame close fin 2 B"), s.text())
        log = s.text()
        for line in (r"> frame text fin 5 B", r"< frame text fin 5 B", r"> text 5 B: hello", r"< text 5 B: hello",
                     r"< frame close fin 2 B"):
            self.assertRegex(log, re.escape(line))
        quiet = self.serve("--ping-interval", "0")
        rc, _, err = run("connect", quiet.url + "/echo", "-x", "hello")
        self.assertEqual(rc, 0, err)
        self.assertTrue(quiet.wait_for_log(r"closed 1000"), quiet.text())
        self.assertNotIn("frame", quiet.text())

    def test_idle_timeout(self):
        s = self.serve("--idle-timeout", "0.3", "--ping-interval", "0")
        client = self.spawn("connect", s.url + "/echo", "--wait", "-1")
        self.assertEqual(client.wait(timeout=10), 0, self.read(client.err))
        self.assertIn("closed 1001 (going away) idle timeout", self.read(client.err))

    # ---- HTTP ----

    def test_demo_page(self):
        s = self.serve()
        status, headers, body = http_get(s.port, "/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertIn(b"<html", body)
        self.assertIn(b'import { ParleySocket } from "/parley.js"', body)
        self.assertIn(b"/chat", body)
        # the browser client, compiled into the command from js/parley.js
        status, headers, script = http_get(s.port, "/parley.js")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/javascript"))
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "js", "parley.js"), "rb") as f:
            self.assertEqual(script, f.read())
        status, headers, body = http_get(s.port, "/", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        status, _, _ = http_get(s.port, "/nothing-here")
        self.assertEqual(status, 404)
        self.assertTrue(s.wait_for_log(r"http GET / -> 200"))

    def test_static(self):
        root = os.path.join(self.tmp, "www")
        os.makedirs(os.path.join(root, "sub"))
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("<p>index</p>")
        with open(os.path.join(root, "sub", "a.txt"), "w") as f:
            f.write("file a")
        with open(os.path.join(self.tmp, "secret.txt"), "w") as f:
            f.write("secret")
        os.symlink(os.path.join(self.tmp, "secret.txt"), os.path.join(root, "link.txt"))
        s = self.serve("--static", root, "--echo")
        status, headers, body = http_get(s.port, "/sub/a.txt")
        self.assertEqual((status, body), (200, b"file a"))
        self.assertTrue(headers["content-type"].startswith("text/plain"))
        status, headers, body = http_get(s.port, "/")
        self.assertEqual((status, body), (200, b"<p>index</p>"))
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertEqual(http_get(s.port, "/missing.txt")[0], 404)
        for target in ("/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/sub/%2E%2E/%2e%2e/secret.txt",
                       "/link.txt"):
            status, data = raw_http(s.port, target)
            self.assertEqual(status, 403, target)
            self.assertNotIn(b"secret\n", data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b"")
        # WebSocket still works on the same port
        rc, out, _ = run("connect", s.url + "/", "-x", "ws")
        self.assertEqual((rc, out), (0, b"ws\n"))

    def test_static_large_files_to_peers_that_do_not_read(self):
        # 16 downloads of a 60 MiB file that nobody reads: the file is
        # streamed from disk as each client takes it (256 KiB read ahead),
        # not held whole once per client (it was: about 16 x 60 MiB).
        root = os.path.join(self.tmp, "www")
        os.makedirs(root)
        with open(os.path.join(root, "big"), "wb") as f:
            f.truncate(60 << 20)
        s = self.serve("--static", root)
        idle = s.memory()
        peers = []
        try:
            for _ in range(16):
                peer = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                peers.append(peer)
                peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                peer.settimeout(5)
                peer.connect(("127.0.0.1", s.port))
                peer.sendall(b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            self.assertTrue(self.wait_until(lambda: len(re.findall(r"http GET /big -> 200", s.text())) == 16),
                            s.text())
            time.sleep(1)  # what the server would read or queue meanwhile
            grown = s.memory("VmHWM") - idle
            self.assert_growth_below(grown, 100 << 20)
        finally:
            for peer in peers:
                peer.close()

    def test_static_slow_download_is_complete(self):
        # A 24 MiB file taken at 4 MiB/s, twice the close timeout (3 s): the
        # server waits as long as the client keeps taking bytes.
        root = os.path.join(self.tmp, "www")
        os.makedirs(root)
        data = os.urandom(24 << 20)
        with open(os.path.join(root, "slow.bin"), "wb") as f:
            f.write(data)
        s = self.serve("--static", root, "--quiet")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as peer:
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            peer.settimeout(10)
            peer.connect(("127.0.0.1", s.port))
            peer.sendall(b"GET /slow.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            got = bytearray()
            while b"\r\n\r\n" not in got:
                got += recv_exact(peer, 1)
            self.assertIn(b" 200 ", got.split(b"\r\n", 1)[0])
            self.assertIn(b"\r\ncontent-length: %d\r\n" % len(data), got.lower())
            body, rate = bytearray(), 4 << 20
            start = time.monotonic()
            while len(body) < len(data) and time.monotonic() < start + 30:
                try:
                    chunk = peer.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                body += chunk
                time.sleep(max(0.0, len(body) / rate - (time.monotonic() - start)))
        self.assertEqual(len(body), len(data), "the download was cut short")
        self.assertTrue(body == data, "the body differs from the file")

    # ---- peers that do not read ----

    def test_ping_flood_from_a_peer_that_does_not_read(self):
        # 200 MiB of pings from a peer that reads nothing: the server holds
        # its pongs past its buffer limit (16 MiB) and answers only the
        # latest ping once the peer reads (before: every pong, +200 MiB).
        s = self.serve("--echo", "--quiet")
        peer = ws_connect(s.port, "/", rcvbuf=4096)
        self.addCleanup(peer.close)
        idle = s.memory()
        batch = client_frame(0x9, b"p" * 125) * 8192  # 131 bytes a ping: 1 MiB
        for _ in range(200):
            peer.sendall(batch)
        last = b"the last ping".ljust(125, b".")
        peer.sendall(client_frame(0x9, last))
        self.assertTrue(self.wait_until(lambda: unread_by_server(s.port, peer) == 0), "the server stopped reading")
        grown = s.memory("VmHWM") - idle
        self.assert_growth_below(grown, 64 << 20)
        # Reading now: the pongs queued, the latest ping's, then an echo.
        frames = FrameReader(peer)
        frames.until(lambda op, p: op == 0xA and p == last, limit=1 << 18)
        peer.sendall(client_frame(0x1, b"still open"))
        frames.until(lambda op, p: op == 0x1 and p == b"still open", limit=16)
        self.assertIsNone(s.proc.poll())

    def test_chat_rooms_are_separate(self):
        # /chat/<room> is a room (a topic) of its own; /chat and /chat/ are
        # the default room.
        s = self.serve()
        members = {}
        for path in ("/chat/red", "/chat/blue", "/chat", "/chat/"):
            p = self.spawn("connect", s.url + path, "--wait", "-1")
            members[path] = p
            self.assertTrue(self.wait_until(lambda: "connected" in self.read(p.err)))
        for path in ("/chat/red", "/chat"):
            rc, out, err = run("connect", s.url + path, "-x", "to " + path)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.decode(), "to " + path + "\n")
        self.assertTrue(self.wait_until(lambda: "to /chat" in self.read(members["/chat/"].out)), {p: self.read(m.out) for p, m in members.items()})
        self.assertTrue(self.wait_until(lambda: "to /chat/red" in self.read(members["/chat/red"].out)))
        self.assertEqual(self.read(members["/chat/red"].out), "to /chat/red\n")
        self.assertEqual(self.read(members["/chat"].out), "to /chat\n")
        self.assertEqual(self.read(members["/chat/"].out), "to /chat\n")
        self.assertEqual(self.read(members["/chat/blue"].out), "")
        for p in members.values():
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=10), 0, self.read(p.err))

    def start_redis(self):
        """A redis-server of this test's own on a free loopback port (no
        persistence), stopped by PID at cleanup; its port."""
        if shutil.which("redis-server") is None:
            self.fail("redis-server is not installed (scripts/install-deps.sh installs it)")
        port = free_port()
        proc = subprocess.Popen(redis_server.argv(port, self.tmp), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

        def stop():
            proc.terminate()
            try:
                proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=TIMEOUT)
        self.addCleanup(stop)
        self.assertTrue(redis_server.wait_for_ping(port, lambda: proc.poll() is None, 10),
                        "redis-server did not start")
        return port

    def test_redis_rooms_span_servers(self):
        port = self.start_redis()
        url = "redis://127.0.0.1:%d" % port
        a, b = self.serve("--redis", url), self.serve("--redis", url, "-t", "2")
        for s in (a, b):
            self.assertTrue(s.wait_for_log(r"Redis broker up"), s.text())
            self.assertIn("shared through Redis", s.text())
        member = self.spawn("connect", b.url + "/chat/lobby", "--wait", "-1")
        self.assertTrue(self.wait_until(lambda: "connected" in self.read(member.err)))
        other_room = self.spawn("connect", b.url + "/chat/elsewhere", "--wait", "-1")
        self.assertTrue(self.wait_until(lambda: "connected" in self.read(other_room.err)))
        # Rooms are subscribed on Redis as members join: retry until the
        # message sent on the other server arrives (bounded), then once more
        # to see it arrives exactly once.
        def crossed():
            run("connect", a.url + "/chat/lobby", "-x", "ping across")
            return self.wait_until(lambda: "ping across" in self.read(member.out), timeout=1)
        self.assertTrue(self.wait_until(crossed, timeout=15), b.text())
        before = self.read(member.out).count("\n")
        rc, out, err = run("connect", a.url + "/chat/lobby", "-x", "hello from a")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"hello from a\n")  # the sender's own server: at once
        self.assertTrue(self.wait_until(lambda: "hello from a" in self.read(member.out)))
        time.sleep(0.2)
        self.assertEqual(self.read(member.out).count("\n"), before + 1, self.read(member.out))
        self.assertEqual(self.read(other_room.out), "")
        for p in (member, other_room):
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=10), 0, self.read(p.err))

    def test_redis_history_recovers_what_a_client_missed(self):
        port = self.start_redis()
        url = "redis://127.0.0.1:%d" % port
        a, b = self.serve("--redis", url, "--history", "100"), self.serve("--redis", url, "--history", "100")
        for s in (a, b):
            self.assertTrue(s.wait_for_log(r"Redis broker up"), s.text())
            self.assertIn("keeping their last 100 messages", s.text())
        member = self.spawn("connect", b.url + "/chat/news", "--wait", "-1")
        self.assertTrue(self.wait_until(lambda: "connected" in self.read(member.err)))

        def crossed():
            run("connect", a.url + "/chat/news", "-x", "ping across")
            return self.wait_until(lambda: "ping across" in self.read(member.out), timeout=1)
        self.assertTrue(self.wait_until(crossed, timeout=15), b.text())
        seen = [json.loads(line) for line in self.read(member.out).splitlines()]
        self.assertTrue(all(m["text"] == "ping across" and m["offset"] for m in seen), seen)
        last = seen[-1]["offset"]
        member.send_signal(signal.SIGTERM)
        self.assertEqual(member.wait(timeout=10), 0, self.read(member.err))
        for text in ("missed 1", "missed 2"):
            rc, out, err = run("connect", a.url + "/chat/news", "-x", text)
            self.assertEqual(rc, 0, err)

        def recover(since):
            back = self.spawn("connect", b.url + "/chat/news?since=" + since, "--wait", "-1")
            self.assertTrue(self.wait_until(lambda: '"recovery"' in self.read(back.out)), self.read(back.err))
            back.send_signal(signal.SIGTERM)
            self.assertEqual(back.wait(timeout=10), 0, self.read(back.err))
            return [json.loads(line) for line in self.read(back.out).splitlines()]
        got = recover(last)
        self.assertEqual([m.get("text") for m in got[:-1]], ["missed 1", "missed 2"], got)
        def stream_id(offset):
            ms, seq = offset.split("-")
            return int(ms), int(seq)
        self.assertLess(stream_id(last), stream_id(got[0]["offset"]))
        self.assertEqual(got[-1], {"recovery": "recovered", "replayed": 2})
        self.assertTrue(b.wait_for_log(r"since %s: recovered, 2 message\(s\) replayed" % re.escape(last)), b.text())
        # An offset this room never had: told plainly, nothing replayed.
        got = recover("1-1")
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0]["recovery"], "gap")
        self.assertIn("not in the history", got[0]["reason"])

    def test_redis_bad_url(self):
        for url, text in (("http://x", "only redis://"), ("redis://x:99999", "port"),
                          ("redis://no-such-host.invalid", "does not resolve")):
            rc, out, err = run("serve", "--port", "0", "--redis", url)
            self.assertEqual(rc, 2, err)
            self.assertIn("--redis", err)
            self.assertIn(text, err)

    def test_chat_message_to_peers_that_do_not_read(self):
        # One 60 MiB message on /chat with 10 members that read nothing: a
        # member takes a message only within its buffer limit (16 MiB), so
        # the server does not hold it once per member (before: 10 x 60 MiB).
        s = self.serve("--quiet")
        for _ in range(10):
            self.addCleanup(ws_connect(s.port, "/chat", rcvbuf=4096).close)
        sender = ws_connect(s.port, "/chat")
        self.addCleanup(sender.close)
        idle = s.memory()
        sender.sendall(client_frame(0x2, bytes(60 << 20)))
        sender.sendall(client_frame(0x1, b"after the big one"))
        self.assertTrue(self.wait_until(lambda: unread_by_server(s.port, sender) == 0), "the server stopped reading")
        # The sender is a member too: its small message back means the
        # server is past the big one (and has room for it).
        try:
            FrameReader(sender).until(lambda op, p: op == 0x1 and p == b"after the big one", limit=16)
            answered = True
        except (TimeoutError, EOFError):
            answered = False
        grown = s.memory("VmHWM") - idle
        self.assert_growth_below(grown, 200 << 20)
        self.assertTrue(answered, "the small message did not come back")

    # ---- bench ----

    def test_bench_json(self):
        s = self.serve("--echo", "--quiet")
        rc, out, err = run("bench", s.url + "/", "-c", "10", "-p", "4", "-n", "2000", "--json", timeout=60)
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        self.assertEqual(r["messages"], 2000)
        self.assertEqual(r["errors"], 0)
        self.assertEqual(r["reconnects"], 0)
        self.assertGreater(r["messages_per_sec"], 0)
        for q in ("p50", "p90", "p99", "p99_9", "max"):
            self.assertGreater(r["latency_us"][q], 0)
        self.assertLessEqual(r["latency_us"]["p50"], r["latency_us"]["p99"])
        self.assertLessEqual(r["latency_us"]["p99"], r["latency_us"]["max"])
        # Plain ws:// goes through the direct engine, which reports its own cost.
        self.assertGreaterEqual(r["received"], r["messages"])
        g = r["generator"]
        self.assertEqual(g["engine"], "direct")
        self.assertGreater(g["cpu_us_per_msg"], 0)
        self.assertGreaterEqual(g["cpu_share"], 0)
        self.assertGreaterEqual(g["cores"], 1)
        self.assertIn(g["is_limit"], (True, False))

    def test_deflate_both_ways(self):
        s = self.serve("--echo", "--deflate", "--quiet")
        big = "x" * 5000
        rc, out, err = run("connect", "--deflate", s.url + "/", "-x", big, "-x", "small")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode(), big + "\nsmall\n")
        self.assertIn("(extension permessage-deflate", err)
        # without --deflate on one side: no compression, still works
        rc, out, err = run("connect", s.url + "/", "-x", big)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("extension", err)
        rc, out, err = run("bench", s.url + "/", "--deflate", "-c", "4", "-p", "2", "-s", "1K", "-n", "400", "--json",
                           timeout=60)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["errors"], 0)

    def test_bench_text_summary_binary(self):
        s = self.serve("--echo", "--quiet")
        rc, out, err = run("bench", s.url + "/", "-c", "3", "-p", "2", "-s", "1K", "--binary", "-d", "1",
                           timeout=60)
        self.assertEqual(rc, 0, err)
        text = out.decode()
        self.assertRegex(text, r"rate\s+\d+ msg/s")
        self.assertRegex(text, r"errors\s+0")
        self.assertIn("p99.9", text)
        self.assertRegex(text, r"generator\s+\d+ % of \d+ cores?, [\d.]+ us CPU per message \(user [\d.]+, sys [\d.]+\)")

    def test_bench_direct_engine_large_frames_and_pings(self):
        # Frames over 64 KiB (written from the template, read in many pieces)
        # while the server pings every 0.2 s: the direct engine answers the
        # pings and verifies every echo; the Client engine gives the same.
        s = self.serve("--echo", "--quiet", "--ping-interval", "0.2")
        rc, out, err = run("bench", s.url + "/", "-c", "2", "-p", "2", "-s", "300K", "-d", "1", "--json", timeout=60)
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        self.assertEqual((r["errors"], r["reconnects"], r["generator"]["engine"]), (0, 0, "direct"))
        self.assertGreater(r["messages"], 0)
        env = dict(os.environ, PARLEY_BENCH_CLIENT="1")
        p = subprocess.run([PARLEY, "bench", s.url + "/", "-c", "2", "-p", "2", "-s", "1K", "-n", "200", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = json.loads(p.stdout)
        self.assertEqual((r["errors"], r["generator"]["engine"]), (0, "client"))

    def test_bench_detects_wrong_echo(self):
        # A chat server sends each message to every connection: not an echo.
        s = self.serve("--broadcast", "--quiet")
        rc, out, err = run("bench", s.url + "/", "-c", "3", "-p", "1", "-n", "300", "--json", timeout=60)
        self.assertEqual(rc, 1, err)
        self.assertGreater(json.loads(out)["errors"], 0)

    # ---- TLS ----

    def pki(self):
        """The test PKI (tests/unit/test_certs.hpp's files) in a fresh directory."""
        d = os.path.join(self.tmp, "pki")
        os.mkdir(d)
        subprocess.run([MAKE_PKI, d], check=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        return lambda name: os.path.join(d, name)

    def tls_serve(self, pki, *args, cert="server-chain.pem", key="server.key"):
        return self.serve("--echo", "--tls-cert", pki(cert), "--tls-key", pki(key), *args)

    def test_tls_serve_and_connect(self):
        pki = self.pki()
        s = self.tls_serve(pki)
        self.assertTrue(s.url.startswith("wss://"), s.url)
        url = "wss://localhost:%d/" % s.port
        rc, out, err = run("connect", url, "--ca", pki("ca.pem"), "-x", "hello", "-x", "tls")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode(), "hello\ntls\n")
        # Verified against the system's CAs by default: refused, with the reason and 1015.
        rc, out, err = run("connect", url, "-x", "hello")
        self.assertEqual(rc, 3, err)
        self.assertIn("certificate verify failed", err)
        self.assertIn("1015", err)
        # -k turns verification off.
        rc, out, err = run("connect", url, "-k", "-x", "insecure")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode(), "insecure\n")
        # --ca and -k together make no sense.
        rc, _, err = run("connect", url, "-k", "--ca", pki("ca.pem"), "-x", "x")
        self.assertEqual(rc, 2, err)

    def test_tls_wrong_host_and_expired(self):
        pki = self.pki()
        other = self.tls_serve(pki, cert="other-host.pem", key="other-host.key")
        rc, _, err = run("connect", "wss://localhost:%d/" % other.port, "--ca", pki("ca.pem"), "-x", "x")
        self.assertEqual(rc, 3, err)
        self.assertIn("hostname mismatch", err)
        expired = self.tls_serve(pki, cert="expired.pem", key="expired.key")
        rc, _, err = run("connect", "wss://127.0.0.1:%d/" % expired.port, "--ca", pki("ca.pem"), "-x", "x")
        self.assertEqual(rc, 3, err)
        self.assertIn("expired", err)
        self.assertTrue(expired.wait_for_log(r"(error|warning): (#\d+ [^ ]+: )?TLS handshake with a client failed"), expired.text())

    def test_tls_plain_http_gets_400(self):
        pki = self.pki()
        s = self.tls_serve(pki)
        status, data = raw_http(s.port, "/")
        self.assertEqual(status, 400)
        self.assertIn(b"speaks TLS", data)
        # A plain ws:// client is refused with that 400 too (handshake failure, exit 4).
        rc, _, err = run("connect", "ws://127.0.0.1:%d/" % s.port, "-x", "x")
        self.assertEqual(rc, 4, err)
        self.assertIn("400", err)

    def test_tls_bench(self):
        pki = self.pki()
        s = self.tls_serve(pki, "--quiet")
        rc, out, err = run("bench", s.url + "/", "--ca", pki("ca.pem"), "-c", "8", "-p", "4", "-s", "2K", "-n", "2000",
                           "--json", timeout=60)
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        self.assertEqual(r["messages"], 2000)
        self.assertEqual(r["errors"], 0)
        self.assertEqual(r["generator"]["engine"], "client")  # wss:// goes through parley::Client

    def test_tls_client_certificates(self):
        pki = self.pki()
        s = self.tls_serve(pki, "--tls-client-ca", pki("ca.pem"))
        url = "wss://localhost:%d/" % s.port
        rc, _, err = run("connect", url, "--ca", pki("ca.pem"), "-x", "x")
        self.assertEqual(rc, 3, err)
        self.assertIn("client certificate is required", err)
        rc, out, err = run("connect", url, "--ca", pki("ca.pem"), "--cert", pki("client.pem"), "--key", pki("client.key"),
                           "-x", "with a certificate")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode(), "with a certificate\n")

    def test_tls_sighup_reloads_the_certificate(self):
        pki = self.pki()
        cert, key = os.path.join(self.tmp, "live.pem"), os.path.join(self.tmp, "live.key")
        shutil.copy(pki("expired.pem"), cert)
        shutil.copy(pki("expired.key"), key)
        s = self.serve("--echo", "--tls-cert", cert, "--tls-key", key)
        url = "wss://localhost:%d/" % s.port
        rc, _, err = run("connect", url, "--ca", pki("ca.pem"), "-x", "x")
        self.assertEqual(rc, 3, err)
        self.assertIn("expired", err)
        shutil.copy(pki("server-chain.pem"), cert)
        shutil.copy(pki("server.key"), key)
        s.proc.send_signal(signal.SIGHUP)
        self.assertTrue(s.wait_for_log(r"SIGHUP: TLS certificate reloaded"), s.text())
        rc, out, err = run("connect", url, "--ca", pki("ca.pem"), "-x", "renewed")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode(), "renewed\n")
        self.assertIsNone(s.proc.poll(), "serve must keep running")

    def test_tls_bad_certificate_file(self):
        rc, _, err = run("serve", "--port", "0", "--tls-cert", os.path.join(self.tmp, "missing.pem"))
        self.assertEqual(rc, 1, err)
        self.assertIn("missing.pem", err)

    # ---- signals ----

    def test_second_signal_stops_at_once(self):
        s = self.serve()
        # A peer that completes the handshake, then ignores everything
        # (never answers the server's close frame).
        peer = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        try:
            peer.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            self.assertIn(b" 101 ", peer.recv(4096))
            self.assertTrue(s.wait_for_log(r"/echo open"))
            s.proc.send_signal(signal.SIGTERM)
            self.assertTrue(s.wait_for_log(r"stopping \(SIGTERM\)"))
            self.assertIsNone(s.proc.poll())  # waiting for the close handshake
            t0 = time.monotonic()
            s.proc.send_signal(signal.SIGINT)
            self.assertEqual(s.proc.wait(timeout=10), 128 + signal.SIGINT)
            self.assertLess(time.monotonic() - t0, 2)
            self.assertIn("second signal", s.text())
        finally:
            peer.close()

    def test_sigterm_closes_with_1001(self):
        s = self.serve()
        client = self.spawn("connect", s.url + "/echo", "--wait", "-1")
        self.assertTrue(self.wait_until(lambda: "connected" in self.read(client.err)))
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(s.proc.wait(timeout=10), 0, s.text())
        self.assertEqual(client.wait(timeout=10), 0, self.read(client.err))
        self.assertIn("closed 1001 (going away)", self.read(client.err))
        self.assertIn("stopping (SIGTERM)", s.text())


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        PARLEY = sys.argv.pop(1)
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        MAKE_PKI = sys.argv.pop(1)
    if not PARLEY or not os.access(PARLEY, os.X_OK) or not MAKE_PKI or not os.access(MAKE_PKI, os.X_OK):
        sys.exit("usage: cli_test.py PATH_TO_PARLEY PATH_TO_MAKE_PKI [unittest args] "
                 "(or set PARLEY_BIN and PARLEY_MAKE_PKI)")
    unittest.main(verbosity=2)
