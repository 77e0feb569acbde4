#!/usr/bin/env python3
"""parley behind real reverse proxies: Debian's nginx and Apache 2.4, each
started by this test as a foreground process with its own configuration,
prefix, logs and pid file on a loopback ephemeral port (never the system
service), in front of `parley serve`, with Python websockets as the client.

    /usr/bin/python3 tests/proxy/proxy_test.py path/to/parley [unittest args]

Three configurations (the templates beside this file, @...@ filled in):
nginx with the `map $http_upgrade` recipe, Apache with the RewriteRule [P]
recipe of the Perl WebSocket distribution, Apache with `ProxyPass ...
upgrade=websocket`. Through each: echo of text and binary, a 16 MiB
message, close codes and reasons both ways, an idle connection alive after
twice the proxy's 3 s timeout thanks to parley's 1 s pings (and, as the
control, one to a parley that does not ping cut by the proxy),
permessage-deflate negotiated end to end, and the client's address: parley
runs with `--trust-proxy 127.0.0.1/32` and the test client connects from
127.0.0.2, so its connection log line reads "127.0.0.2 via 127.0.0.1:PORT"
when the proxy's X-Forwarded-For was believed; a forged left-most
X-Forwarded-For and a forged Forwarded sent through the proxy, and a forged
X-Forwarded-For sent to parley directly from the untrusted 127.0.0.2, are
ignored.

Every process is stopped by its PID, every wait is bounded.
"""

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import websockets

PARLEY = os.environ.get("PARLEY_BIN", "")
HERE = os.path.dirname(os.path.abspath(__file__))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
PROXY_TIMEOUT = 3  # seconds: proxy_read_timeout / Timeout + ProxyTimeout in the templates
PING_INTERVAL = 1  # seconds: parley serve --ping-interval, under PROXY_TIMEOUT
CLIENT_IP = "127.0.0.2"  # the test client's source address: not the trusted 127.0.0.1
FORGED_IP = "198.51.100.66"  # what a forged header claims
WAIT = 10  # seconds: the bound of any single wait
BIG = 16 * 1024 * 1024


def read(path):
    """A log file's text ("" when there is none)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def free_port():
    """A port that was free a moment ago (the caller retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A foreground process with its output in a log file; stopped by PID."""

    def __init__(self, argv, log_path):
        self.argv = argv
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self):
        return self.proc.poll() is None

    def wait_for_log(self, pattern, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            time.sleep(0.02)
        return None

    def stop(self, sig=signal.SIGTERM):
        """Signals the process by its PID and waits for it; SIGKILL after WAIT."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=WAIT)


def stop_all(processes, tmp):
    """Stops `processes` by PID, last started first; removes `tmp` once all
    have exited (kept, with the logs, otherwise)."""
    for p in reversed(processes):
        p.stop()
    if all(p.proc.returncode is not None for p in processes):
        shutil.rmtree(tmp, ignore_errors=True)


def wait_for_port(port, process):
    """Until 127.0.0.1:`port` accepts; False when `process` exits first or
    after WAIT."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if not process.running():
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Parley(Process):
    """`parley serve --port 0 ARGS`; its port read from the listening line."""

    def __init__(self, tmp, name, *args):
        super().__init__([PARLEY, "serve", "--port", "0", *args], os.path.join(tmp, name + ".log"))
        m = self.wait_for_log(r"listening on ws://127\.0\.0\.1:(\d+)/")
        if not m:
            self.stop()
            raise AssertionError("parley serve did not start: " + self.text())
        self.port = int(m.group(1))


def render(tmp, templates, name, values):
    """Concatenates `templates` (files beside this script), fills in the
    @KEY@ placeholders from `values`, and writes tmp/name."""
    text = ""
    for t in templates:
        with open(os.path.join(HERE, t)) as f:
            text += f.read() + "\n"
    for key, value in values.items():
        text = text.replace("@%s@" % key, str(value))
    left = re.findall(r"@[A-Z]+@", text)
    if left:
        raise AssertionError("placeholders left in %s: %s" % (name, left))
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def start_proxy(kind, tmp, upstream, quiet):
    """nginx, apache_rewrite or apache_proxypass in front of `upstream`
    (and `quiet` for /quiet/); returns (Process, port). Retries with
    another port when the one picked was taken meanwhile."""
    last = ""
    for attempt in range(5):
        port = free_port()
        d = tempfile.mkdtemp(dir=tmp, prefix="%s-" % kind)
        os.chmod(d, 0o755)  # Apache's and nginx's workers run as nobody
        values = {"DIR": d, "PORT": port, "UPSTREAM": upstream, "QUIET": quiet}
        if kind == "nginx":
            conf = render(d, ["nginx.conf.in"], "nginx.conf", values)
            argv = [NGINX, "-p", d, "-e", os.path.join(d, "error.log"), "-c", conf,
                    "-g", "daemon off; pid %s;" % os.path.join(d, "nginx.pid")]
        else:
            conf = render(d, ["apache_common.conf.in", kind + ".conf.in"], "apache.conf", values)
            argv = [APACHE, "-DFOREGROUND", "-f", conf]
        proc = Process(argv, os.path.join(d, "stdout.log"))
        if wait_for_port(port, proc):
            return proc, port
        proc.stop()
        last = proc.text()
        last += read(os.path.join(d, "error.log"))
        if "in use" not in last:
            break
    raise AssertionError("%s did not start:\n%s" % (kind, last))


async def connect(url, **kw):
    """A websockets client connection (the legacy API of websockets 10,
    Debian 12's python3-websockets)."""
    kw.setdefault("ping_interval", None)  # the client never pings: the server's pings must do
    kw.setdefault("max_size", 2 * BIG)
    kw.setdefault("open_timeout", WAIT)
    kw.setdefault("close_timeout", WAIT)
    return await websockets.connect(url, **kw)


@contextlib.asynccontextmanager
async def connected(url, **kw):
    """connect(), closed on leaving the block."""
    ws = await connect(url, **kw)
    try:
        yield ws
    finally:
        await ws.close()


async def echo(ws, message):
    await ws.send(message)
    return await asyncio.wait_for(ws.recv(), WAIT)


async def closed_by_server(ws):
    """Waits (bounded) until the server closes `ws`; its (code, reason)."""
    try:
        await asyncio.wait_for(ws.recv(), WAIT)
        raise AssertionError("a message instead of the close")
    except websockets.ConnectionClosed:
        pass
    await asyncio.wait_for(ws.wait_closed(), WAIT)
    return ws.close_code, ws.close_reason


_direct_shutdown = None


def direct_shutdown_close(tmp):
    """What a client connected straight to parley gets when parley stops on
    SIGTERM: the (code, reason) the proxies must pass on unchanged."""
    global _direct_shutdown
    if _direct_shutdown is None:
        server = Parley(tmp, "direct", "--echo")
        try:
            async def run():
                ws = await connect("ws://127.0.0.1:%d/echo" % server.port)
                await echo(ws, "ready")
                server.stop()
                return await closed_by_server(ws)
            _direct_shutdown = asyncio.run(run())
        finally:
            server.stop()
    return _direct_shutdown


class Behind:
    """The checks, for one proxy configuration (`kind`, `prefix`: the path
    under which the proxy forwards to parley's /)."""

    kind = None
    prefix = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="parley-proxy-")
        os.chmod(cls.tmp, 0o755)
        cls.processes = []
        try:
            cls.parley = Parley(cls.tmp, "parley", "--echo", "--deflate", "--ping-interval", str(PING_INTERVAL),
                                "--trust-proxy", "127.0.0.1/32")
            cls.processes.append(cls.parley)
            cls.quiet = Parley(cls.tmp, "quiet", "--echo", "--ping-interval", "0")
            cls.processes.append(cls.quiet)
            cls.proxy, cls.port = start_proxy(cls.kind, cls.tmp, cls.parley.port, cls.quiet.port)
            cls.processes.append(cls.proxy)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        stop_all(cls.processes, cls.tmp)

    def url(self, path="echo"):
        return "ws://127.0.0.1:%d%s%s" % (self.port, self.prefix, path)

    def quiet_url(self):
        return "ws://127.0.0.1:%d/quiet/echo" % self.port

    def logs(self):
        return "\n--- proxy:\n%s\n--- parley:\n%s" % (
            "".join(read(os.path.join(root, f))
                    for root, _, files in os.walk(self.tmp) for f in files if f in ("error.log", "stdout.log")),
            self.parley.text()[-3000:])

    def run_async(self, coro):
        try:
            return asyncio.run(asyncio.wait_for(coro, 60))
        except BaseException as e:
            raise AssertionError("%r%s" % (e, self.logs())) from e

    def test_echo_text_and_binary(self):
        async def run():
            async with connected(self.url(), compression=None) as ws:
                self.assertEqual(await echo(ws, "héllo through %s" % self.kind), "héllo through %s" % self.kind)
                self.assertEqual(await echo(ws, b"\x00\x01\xfe\xff" * 100), b"\x00\x01\xfe\xff" * 100)
                self.assertEqual(await echo(ws, ""), "")
                self.assertEqual(await echo(ws, b""), b"")
        self.run_async(run())

    def test_16_mib_message(self):
        async def run():
            async with connected(self.url(), compression=None) as ws:
                data = os.urandom(BIG)
                self.assertEqual(await echo(ws, data), data)
                text = "x" * BIG
                self.assertEqual(await echo(ws, text), text)
        self.run_async(run())

    def test_close_codes_and_reasons_both_ways(self):
        async def run():
            # Client to server: parley logs the code and reason it got.
            ws = await connect(self.url())
            await echo(ws, "ready")
            reason = "bye from %s" % self.kind
            await ws.close(4001, reason)
            self.assertEqual(ws.close_code, 4001)  # parley answers with the same code
            self.assertTrue(self.parley.wait_for_log(r"closed 4001 \(application code\) %s" % re.escape(reason)),
                            self.parley.text())
            ws = await connect(self.url())
            await echo(ws, "ready")
            await ws.close(1000)
            self.assertEqual(ws.close_code, 1000)
            self.assertTrue(self.parley.wait_for_log(r"closed 1000"), self.parley.text())
        self.run_async(run())
        # Server to client: what parley sends when it stops (1001 and its
        # reason) arrives as a client straight to parley gets it.
        expected = direct_shutdown_close(self.tmp)
        server = Parley(self.tmp, "stopping", "--echo")
        self.processes.append(server)
        proxy, port = start_proxy(self.kind, self.tmp, server.port, self.quiet.port)
        self.processes.append(proxy)

        async def stopping():
            ws = await connect("ws://127.0.0.1:%d%secho" % (port, self.prefix))
            await echo(ws, "ready")
            server.stop()
            return await closed_by_server(ws)
        got = self.run_async(stopping())
        self.assertEqual(got, expected)
        self.assertEqual(got[0], 1001)

    def test_deflate_negotiated_end_to_end(self):
        async def run():
            async with connected(self.url(), compression="deflate") as ws:
                self.assertEqual(ws.response_headers.get("Sec-WebSocket-Extensions", "").split(";")[0],
                                 "permessage-deflate")
                self.assertEqual([type(e).__name__ for e in ws.extensions], ["PerMessageDeflate"])
                text = "compressible " * 20000
                self.assertEqual(await echo(ws, text), text)
                self.assertEqual(await echo(ws, text.encode()), text.encode())
            async with connected(self.url(), compression=None) as ws:
                self.assertNotIn("Sec-WebSocket-Extensions", ws.response_headers)
                self.assertEqual(ws.extensions, [])
        self.run_async(run())

    def test_idle_connection_outlives_twice_the_proxy_timeout(self):
        async def run():
            ws = await connect(self.url())
            control = await connect(self.quiet_url())
            await echo(ws, "before")
            await echo(control, "before")
            await asyncio.sleep(2 * PROXY_TIMEOUT + 1)
            # parley pinged every second: the proxy saw traffic and kept it.
            self.assertEqual(await echo(ws, "after"), "after")
            await ws.close()
            # The control, to a parley that does not ping, was cut by the proxy.
            with self.assertRaises(websockets.ConnectionClosed):
                await echo(control, "after")
            self.assertNotEqual(control.close_code, 1000)
        self.run_async(run())

    def opened_line(self, path):
        """parley's log line for the connection opened on `path`."""
        m = self.parley.wait_for_log(r"(?m)^\S+ (.*) %s open" % re.escape(path))
        self.assertTrue(m, "no open line for %s%s" % (path, self.logs()))
        return m.group(1)

    def client_seen(self, path, headers=(), direct=False):
        """Connects from CLIENT_IP to `path` (through the proxy, or straight
        to parley), with extra `headers`; who parley's log says it is."""
        async def run():
            url = ("ws://127.0.0.1:%d%s" % (self.parley.port, path) if direct
                   else "ws://127.0.0.1:%d%s%s" % (self.port, self.prefix, path.lstrip("/")))
            async with connected(url, extra_headers=list(headers), local_addr=(CLIENT_IP, 0)) as ws:
                self.assertEqual(await echo(ws, "who"), "who")
        self.run_async(run())
        return self.opened_line(path)

    def test_client_address_from_x_forwarded_for(self):
        who = self.client_seen("/xff-plain")
        self.assertRegex(who, r"^%s via 127\.0\.0\.1:\d+$" % re.escape(CLIENT_IP))

    def test_forged_left_most_x_forwarded_for_is_ignored(self):
        who = self.client_seen("/xff-forged", [("X-Forwarded-For", FORGED_IP)])
        self.assertRegex(who, r"^%s via 127\.0\.0\.1:\d+$" % re.escape(CLIENT_IP))

    def test_forged_forwarded_through_the_proxy_is_ignored(self):
        who = self.client_seen("/fwd-forged", [("Forwarded", "for=%s;proto=https" % FORGED_IP)])
        self.assertRegex(who, r"^%s via 127\.0\.0\.1:\d+$" % re.escape(CLIENT_IP))

    def test_forged_x_forwarded_for_from_an_untrusted_peer_is_ignored(self):
        who = self.client_seen("/xff-direct", [("X-Forwarded-For", FORGED_IP), ("Forwarded", "for=" + FORGED_IP)],
                               direct=True)
        self.assertRegex(who, r"^%s:\d+$" % re.escape(CLIENT_IP))


class Nginx(Behind, unittest.TestCase):
    kind = "nginx"
    prefix = "/"


class ApacheRewrite(Behind, unittest.TestCase):
    kind = "apache_rewrite"
    prefix = "/wss/"


class ApacheProxyPass(Behind, unittest.TestCase):
    kind = "apache_proxypass"
    prefix = "/wss/"


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        PARLEY = sys.argv.pop(1)
    if not PARLEY:
        sys.exit("usage: proxy_test.py path/to/parley [unittest args] (or set PARLEY_BIN)")
    unittest.main(verbosity=2)
