#!/usr/bin/env python3
"""parley's client through a real HTTP CONNECT proxy: Debian's tinyproxy,
started by this test as a foreground process (`tinyproxy -d -c CONF`) with
its own configuration, log and pid file on a loopback port (never the
system service), stopped by PID. In front of `parley serve --echo` (ws://
and wss:// with the test PKI), driven with `parley connect` and `parley
bench`:

- ws:// and wss:// through the proxy (TLS inside the tunnel, verified
  against the target's name), with and without Basic authentication;
- wrong credentials (407), a port the proxy forbids (403), the proxy down
  (connection refused naming the proxy): clear errors;
- the proxy from the environment (on by default in the command), `no_proxy`
  and `--no-proxy` bypassing it.

    /usr/bin/python3 tests/proxy/connect_proxy_test.py PARLEY MAKE_PKI [unittest args]

A missing tinyproxy fails the test; it never skips.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

# Process (stopped by PID), stop_all, free_port, wait_for_port, read: shared
# with the reverse-proxy tests beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proxy_test import WAIT, Process, free_port, read, stop_all, wait_for_port  # noqa: E402

PARLEY = os.environ.get("PARLEY_BIN", "")
MAKE_PKI = os.environ.get("PARLEY_MAKE_PKI", "")
TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
PROXY_VARS = ("ws_proxy", "WS_PROXY", "wss_proxy", "WSS_PROXY", "http_proxy", "HTTP_PROXY", "https_proxy",
              "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY")


def clean_env(**extra):
    """The environment without any proxy variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update(extra)
    return env


def run(*args, env=None):
    """Runs parley to completion; (rc, stdout text, stderr text)."""
    p = subprocess.run([PARLEY, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, env=env if env is not None else clean_env())
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class Serve(Process):
    """`parley serve --echo --port 0 ARGS`; its port from the listening line."""

    def __init__(self, tmp, name, *args):
        super().__init__([PARLEY, "serve", "--echo", "--port", "0", *args], os.path.join(tmp, name + ".log"))
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            m = re.search(r"listening on wss?://127\.0\.0\.1:(\d+)/", self.text())
            if m:
                self.port = int(m.group(1))
                return
            if not self.running():
                break
            time.sleep(0.02)
        self.stop()
        raise AssertionError("parley serve did not start: " + self.text())


class Tinyproxy(Process):
    """tinyproxy on 127.0.0.1 allowing CONNECT to `ports` only, with Basic
    authentication when `auth` is (user, password)."""

    def __init__(self, tmp, name, ports, auth=None):
        last = ""
        for _ in range(5):
            d = tempfile.mkdtemp(dir=tmp, prefix=name + "-")
            os.chmod(d, 0o777)  # tinyproxy may drop to nobody
            self.port = free_port()
            self.log = os.path.join(d, "tinyproxy.log")
            lines = ["Port %d" % self.port, "Listen 127.0.0.1", "Timeout 30", "MaxClients 50",
                     "LogFile \"%s\"" % self.log, "LogLevel Info", "PidFile \"%s\"" % os.path.join(d, "tinyproxy.pid"),
                     "Allow 127.0.0.1"]
            lines += ["ConnectPort %d" % p for p in ports]
            if auth:
                lines.append("BasicAuth %s %s" % auth)
            conf = os.path.join(d, "tinyproxy.conf")
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            super().__init__([TINYPROXY, "-d", "-c", conf], os.path.join(d, "stdout.log"))
            if wait_for_port(self.port, self):
                self.url = "http://127.0.0.1:%d" % self.port
                return
            self.stop()
            last = self.text() + read(self.log)
            if "in use" not in last:
                break
        raise AssertionError("tinyproxy did not start:\n" + last)

    def connects(self):
        """How many CONNECT requests the proxy logged."""
        return len(re.findall(r"Request \(file descriptor \d+\): CONNECT ", read(self.log)))


class ConnectProxy(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="parley-connect-proxy-")
        os.chmod(cls.tmp, 0o755)
        cls.processes = []
        try:
            pki = os.path.join(cls.tmp, "pki")
            os.mkdir(pki)
            subprocess.run([MAKE_PKI, pki], check=True, timeout=60, stdin=subprocess.DEVNULL)
            cls.pki = staticmethod(lambda name: os.path.join(pki, name))
            cls.ws = Serve(cls.tmp, "ws")
            cls.processes.append(cls.ws)
            cls.wss = Serve(cls.tmp, "wss", "--tls-cert", cls.pki("server-chain.pem"), "--tls-key",
                            cls.pki("server.key"))
            cls.processes.append(cls.wss)
            cls.forbidden = Serve(cls.tmp, "forbidden")  # a port no proxy allows
            cls.processes.append(cls.forbidden)
            ports = [cls.ws.port, cls.wss.port]
            cls.open_proxy = Tinyproxy(cls.tmp, "open", ports)
            cls.processes.append(cls.open_proxy)
            cls.auth_proxy = Tinyproxy(cls.tmp, "auth", ports, auth=("alice", "s3cret"))
            cls.processes.append(cls.auth_proxy)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        stop_all(cls.processes, cls.tmp)

    def logs(self):
        return "\n--- open proxy:\n%s\n--- auth proxy:\n%s" % (read(self.open_proxy.log)[-2000:],
                                                               read(self.auth_proxy.log)[-2000:])

    def echo(self, url, *args, env=None):
        """`parley connect URL ARGS -x hello`: asserts the echo came back."""
        rc, out, err = run("connect", url, *args, "-x", "hello", env=env)
        self.assertEqual((rc, out), (0, "hello\n"), err + self.logs())

    def through(self, proxy, fn):
        """Runs fn() and asserts it made `proxy` open exactly one more tunnel."""
        before = proxy.connects()
        fn()
        deadline = time.monotonic() + WAIT
        while proxy.connects() == before and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(proxy.connects(), before + 1, self.logs())

    def test_ws_through_the_proxy(self):
        url = "ws://127.0.0.1:%d/" % self.ws.port
        self.through(self.open_proxy, lambda: self.echo(url, "--proxy", self.open_proxy.url))

    def test_wss_through_the_proxy_verified_against_the_target(self):
        url = "wss://localhost:%d/" % self.wss.port
        self.through(self.open_proxy, lambda: self.echo(url, "--proxy", self.open_proxy.url, "--ca", self.pki("ca.pem")))
        # The certificate is checked against the target's name, not the proxy's.
        rc, _, err = run("connect", "wss://localhost:%d/" % self.wss.port, "--proxy", self.open_proxy.url, "-x", "x")
        self.assertEqual(rc, 3, err)
        self.assertIn("certificate verify failed", err)

    def test_basic_authentication(self):
        url = "ws://127.0.0.1:%d/" % self.ws.port
        good = "http://alice:s3cret@127.0.0.1:%d" % self.auth_proxy.port
        self.through(self.auth_proxy, lambda: self.echo(url, "--proxy", good))
        wss = "wss://localhost:%d/" % self.wss.port
        self.through(self.auth_proxy, lambda: self.echo(wss, "--proxy", good, "--ca", self.pki("ca.pem")))
        # No credentials: 407. Wrong ones: tinyproxy 1.11 answers 401 (others 407).
        for proxy, status in (("http://alice:Wr0ngPw@127.0.0.1:%d" % self.auth_proxy.port, r"40[17]"),
                              (self.auth_proxy.url, r"407")):
            rc, _, err = run("connect", url, "--proxy", proxy, "-x", "x")
            self.assertEqual(rc, 4, err)  # an HTTP refusal, as a server's 403 (exit status 4)
            self.assertRegex(err, r"refused the tunnel to 127\.0\.0\.1:%d: HTTP/1\.[01] %s " % (self.ws.port, status))
            self.assertIn("127.0.0.1:%d" % self.auth_proxy.port, err)
            self.assertNotIn("Wr0ngPw", err)  # the password is never shown

    def test_forbidden_port(self):
        rc, _, err = run("connect", "ws://127.0.0.1:%d/" % self.forbidden.port, "--proxy", self.open_proxy.url,
                         "-x", "x")
        self.assertEqual(rc, 4, err)
        self.assertIn("403", err)
        self.assertIn("127.0.0.1:%d" % self.open_proxy.port, err)

    def test_proxy_down(self):
        down = free_port()
        rc, _, err = run("connect", "ws://127.0.0.1:%d/" % self.ws.port, "--proxy", "http://127.0.0.1:%d" % down,
                         "-x", "x")
        self.assertEqual(rc, 3, err)
        self.assertIn("proxy http://127.0.0.1:%d" % down, err)
        self.assertIn("refused", err.lower())

    def test_environment_and_no_proxy(self):
        url = "ws://127.0.0.1:%d/" % self.ws.port
        wss = "wss://localhost:%d/" % self.wss.port
        # On by default in the command: ws_proxy for ws://, https_proxy for wss://.
        self.through(self.open_proxy, lambda: self.echo(url, env=clean_env(ws_proxy=self.open_proxy.url)))
        self.through(self.open_proxy, lambda: self.echo(url, env=clean_env(http_proxy=self.open_proxy.url)))
        self.through(self.open_proxy, lambda: self.echo(wss, "--ca", self.pki("ca.pem"),
                                                        env=clean_env(https_proxy=self.open_proxy.url)))
        # no_proxy and --no-proxy bypass it; a broken proxy proves it unused.
        broken = "http://127.0.0.1:%d" % free_port()
        before = self.open_proxy.connects()
        self.echo(url, env=clean_env(ws_proxy=broken, no_proxy="localhost,127.0.0.0/8"))
        self.echo(wss, "--ca", self.pki("ca.pem"), env=clean_env(https_proxy=broken, no_proxy=".localhost,localhost"))
        self.echo(url, "--no-proxy", env=clean_env(ws_proxy=broken, all_proxy=broken))
        self.assertEqual(self.open_proxy.connects(), before)
        # --proxy wins over the environment.
        self.through(self.open_proxy, lambda: self.echo(url, "--proxy", self.open_proxy.url,
                                                        env=clean_env(ws_proxy=broken)))

    def test_bench_through_the_proxy(self):
        url = "ws://127.0.0.1:%d/" % self.ws.port
        before = self.open_proxy.connects()
        rc, out, err = run("bench", url, "--proxy", self.open_proxy.url, "-c", "2", "-n", "200", "--json")
        self.assertEqual(rc, 0, err + self.logs())
        self.assertIn('"errors":0', out.replace(" ", ""))
        self.assertGreaterEqual(self.open_proxy.connects(), before + 2, self.logs())


if __name__ == "__main__":
    if len(sys.argv) > 2 and not sys.argv[1].startswith("-"):
        PARLEY = sys.argv.pop(1)
        MAKE_PKI = sys.argv.pop(1)
    if not PARLEY or not MAKE_PKI:
        sys.exit("usage: connect_proxy_test.py PARLEY MAKE_PKI [unittest args] (or set PARLEY_BIN, PARLEY_MAKE_PKI)")
    unittest.main(verbosity=2)
