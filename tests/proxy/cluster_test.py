#!/usr/bin/env python3
"""A cluster behind nginx: examples/cluster/nginx.conf (its ports replaced by
loopback ephemeral ones) in front of three `parley serve --redis` sharing a
redis-server of the test's own (Debian's, no persistence, its own
directory), with Python websockets (Debian's python3-websockets, hence
/usr/bin/python3) as the client.

    /usr/bin/python3 tests/proxy/cluster_test.py path/to/parley [unittest args]

Checks, in order (each test leaves the cluster whole for the next, but the
last stops a server):
1. Three clients connected through nginx at the same time land on three
   different servers: the servers run with --trust-proxy 127.0.0.1/32 and
   each client connects from its own loopback address (127.0.0.11, ...),
   so the "127.0.0.1N via 127.0.0.1:PORT /chat/... open" line says which
   server got it. A message from one reaches all three.
2. With members of a room connected straight to each server (two each) and
   members of another room (one each): messages sent in the room from every
   server reach every member of the room on every server exactly once, in
   the order each sender sent them (read on for a while after: nothing
   doubled), and the other room's members get nothing.
3. Redis killed: every server logs "Redis broker down"; members on the same
   server still chat (and those on others get nothing); Redis restarted on
   the same port: every server logs "Redis broker up", and, within a
   bounded retry, the room spans the servers again, exactly once.
4. One server killed: new connections through nginx still open (nginx
   skips it) and their room spans the two left.

A missing nginx, redis-server or websockets fails the test; it never skips.
Every process is stopped by its PID, every wait is bounded.
"""

import asyncio
import os
import re
import signal
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
import proxy_test as pt  # noqa: E402  (Process, Parley, free_port, connect, ...)
import redis_server  # noqa: E402

import websockets  # noqa: E402

EXAMPLE_CONF = os.path.join(HERE, "..", "..", "examples", "cluster", "nginx.conf")
SERVERS = 3
WAIT = pt.WAIT
QUIET = 1.0  # seconds: how long a client reads on after the last message expected, for duplicates


class Redis(pt.Process):
    """redis-server on 127.0.0.1:`port` (a new ephemeral one when None),
    no persistence, its files in `d`."""

    def __init__(self, d, port=None):
        last = ""
        for _ in range(10):
            self.port = port or pt.free_port()
            super().__init__(redis_server.argv(self.port, d), os.path.join(d, "redis.log"))
            if redis_server.wait_for_ping(self.port, self.running, WAIT):
                return
            self.stop()
            last = self.text()
            time.sleep(0.3)  # a port of our own: it may still be closing
        raise AssertionError("redis-server did not start:\n" + last)


def nginx_conf(d, port, upstreams):
    """examples/cluster/nginx.conf with its ports replaced: 8080 by `port`,
    8081... by `upstreams`; written to d/nginx.conf."""
    with open(EXAMPLE_CONF) as f:
        text = f.read()
    replacements = [("127.0.0.1:8080;", "127.0.0.1:%d;" % port)]
    replacements += [("127.0.0.1:%d " % (8081 + i), "127.0.0.1:%d " % p) for i, p in enumerate(upstreams)]
    for old, new in replacements:
        if text.count(old) != 1:
            raise AssertionError("examples/cluster/nginx.conf: %r is not there once" % old)
        text = text.replace(old, new)
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def start_nginx(tmp, upstreams):
    """nginx with the example's configuration; (Process, port)."""
    last = ""
    for _ in range(5):
        port = pt.free_port()
        d = tempfile.mkdtemp(dir=tmp, prefix="nginx-")
        os.chmod(d, 0o755)  # its workers run as nobody
        conf = nginx_conf(d, port, upstreams)
        proc = pt.Process([pt.NGINX, "-c", conf, "-p", d, "-e", os.path.join(d, "error.log")],
                          os.path.join(d, "stdout.log"))
        if pt.wait_for_port(port, proc):
            return proc, port
        proc.stop()
        last = proc.text() + pt.read(os.path.join(d, "error.log"))
        if "in use" not in last:
            break
    raise AssertionError("nginx did not start:\n" + last)


async def collect(ws, quiet=QUIET, want=None):
    """Messages received until `quiet` seconds pass without one (or, with
    `want`, once that many have come, then `quiet` more seconds, so that a
    duplicate shows); bounded by WAIT + quiet overall."""
    got = []
    deadline = time.monotonic() + WAIT + quiet
    while time.monotonic() < deadline:
        wait = quiet if want is None or len(got) >= want else max(0.01, deadline - quiet - time.monotonic())
        try:
            got.append(await asyncio.wait_for(ws.recv(), wait))
        except asyncio.TimeoutError:
            if want is None or len(got) >= want:
                break
    return got


class Cluster(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for program in (pt.NGINX, redis_server.REDIS):
            if not os.access(program, os.X_OK):
                raise AssertionError("%s is missing (scripts/install-deps.sh installs it)" % program)
        cls.tmp = tempfile.mkdtemp(prefix="parley-cluster-")
        os.chmod(cls.tmp, 0o755)
        cls.processes = []
        try:
            cls.redis_dir = os.path.join(cls.tmp, "redis")
            os.mkdir(cls.redis_dir)
            cls.redis = Redis(cls.redis_dir)
            cls.processes.append(cls.redis)
            cls.servers = []
            for i in range(SERVERS):
                s = pt.Parley(cls.tmp, "parley-%d" % (i + 1), "--redis", "redis://127.0.0.1:%d" % cls.redis.port,
                              "--trust-proxy", "127.0.0.1/32")
                cls.servers.append(s)
                cls.processes.append(s)
            for s in cls.servers:
                if not s.wait_for_log(r"Redis broker up"):
                    raise AssertionError("no 'Redis broker up' from %s:\n%s" % (s.argv, s.text()))
            cls.nginx, cls.port = start_nginx(cls.tmp, [s.port for s in cls.servers])
            cls.processes.append(cls.nginx)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        pt.stop_all(cls.processes, cls.tmp)

    def logs(self):
        text = "\n--- redis:\n" + self.redis.text()[-2000:]
        for s in self.servers:
            text += "\n--- %s:\n%s" % (os.path.basename(s.log_path), s.text()[-3000:])
        return text + "\n--- nginx:\n" + self.nginx.text()[-2000:]

    def run_async(self, coro, timeout=90):
        try:
            return asyncio.run(asyncio.wait_for(coro, timeout))
        except BaseException as e:
            raise AssertionError("%r%s" % (e, self.logs())) from e

    def direct(self, server, path):
        return "ws://127.0.0.1:%d%s" % (self.servers[server].port, path)

    async def members(self, urls):
        """One connection per URL, all open."""
        return [await pt.connect(u) for u in urls]

    async def close_all(self, conns):
        for ws in conns:
            await ws.close()

    async def until_spanning(self, room, sender, receivers, rounds=40):
        """Bounded retry: `sender` sends probes (0.25 s apart) until every
        one of `receivers` has got one; then drains everything, so that
        what follows starts clean. A room's Redis subscription is made
        after its first member joins, and again after Redis comes back."""
        pending = set(range(len(receivers)))
        for k in range(rounds):
            await sender.send("probe %s %d" % (room, k))
            await asyncio.sleep(0.25)
            for i in list(pending):
                try:
                    while True:
                        m = await asyncio.wait_for(receivers[i].recv(), 0.01)
                        if m.startswith("probe %s " % room):
                            pending.discard(i)
                except asyncio.TimeoutError:
                    pass
            if not pending:
                break
        self.assertFalse(pending, "room %s never reached receivers %s" % (room, sorted(pending)))
        for ws in {id(w): w for w in receivers + [sender]}.values():
            await collect(ws, quiet=0.5)

    async def exactly_once(self, senders, members, others=(), count=20):
        """Each of `senders` sends `count` numbered messages (interleaved);
        every one of `members` gets each exactly once, each sender's in
        order, nothing else; `others` get nothing."""
        tag = "m%d" % int(time.monotonic() * 1000)
        for n in range(count):
            for i, ws in enumerate(senders):
                await ws.send("%s from %d #%d" % (tag, i, n))
        expected = sorted("%s from %d #%d" % (tag, i, n) for i in range(len(senders)) for n in range(count))
        results = await asyncio.gather(*(collect(ws, want=len(expected)) for ws in members),
                                       *(collect(ws) for ws in others))
        for j, got in enumerate(results[:len(members)]):
            self.assertEqual(sorted(got), expected, "member %d: got %d of %d (or doubles/strays)" %
                             (j, len(got), len(expected)))
            for i in range(len(senders)):
                mine = [m for m in got if m.startswith("%s from %d #" % (tag, i))]
                self.assertEqual(mine, ["%s from %d #%d" % (tag, i, n) for n in range(count)],
                                 "member %d: sender %d's messages out of order" % (j, i))
        for j, got in enumerate(results[len(members):]):
            self.assertEqual(got, [], "a member of another room (%d) got messages" % j)

    def test_1_clients_through_nginx_land_on_every_server(self):
        ips = ["127.0.0.%d" % (11 + i) for i in range(SERVERS)]

        async def run():
            conns = []
            for ip in ips:
                conns.append(await pt.connect("ws://127.0.0.1:%d/chat/lb" % self.port, local_addr=(ip, 0)))
            try:
                where = {}  # client address -> the server whose log has its open line
                deadline = time.monotonic() + WAIT
                while len(where) < len(ips) and time.monotonic() < deadline:
                    for ip in ips:
                        for k, s in enumerate(self.servers):
                            if re.search(r"(?m) %s via 127\.0\.0\.1:\d+ /chat/lb open" % re.escape(ip), s.text()):
                                where[ip] = k
                    await asyncio.sleep(0.05)
                self.assertEqual(sorted(where), ips, "not every client found in a server's log")
                self.assertEqual(sorted(where.values()), list(range(SERVERS)),
                                 "the clients did not land on %d different servers: %s" % (SERVERS, where))
                await self.until_spanning("lb", conns[0], conns)
                await self.exactly_once(conns[:1], conns, count=5)
            finally:
                await self.close_all(conns)
        self.run_async(run())

    def test_2_room_spans_servers_exactly_once(self):
        async def run():
            room = await self.members([self.direct(k, "/chat/a") for k in range(SERVERS) for _ in range(2)])
            other = await self.members([self.direct(k, "/chat/b") for k in range(SERVERS)])
            default = await self.members([self.direct(k, "/chat") for k in range(SERVERS)])
            try:
                await self.until_spanning("a", room[0], room)
                await self.until_spanning("b", other[0], other)
                await self.until_spanning("default", default[0], default)
                # One sender on each server, all at once.
                await self.exactly_once(room[0::2], room, other + default)
                # And through a second member, from the last server only.
                await self.exactly_once(room[-1:], room, other + default)
            finally:
                await self.close_all(room + other + default)
        self.run_async(run())

    def test_3_redis_killed_and_restarted(self):
        async def run():
            room = await self.members([self.direct(k, "/chat/r") for k in range(SERVERS) for _ in range(2)])
            try:
                await self.until_spanning("r", room[0], room)
                ups = [len(re.findall(r"Redis broker up", s.text())) for s in self.servers]
                self.redis.stop(signal.SIGKILL)
                for s in self.servers:
                    self.assertTrue(s.wait_for_log(r"Redis broker down"), "no 'Redis broker down' in the log")
                # Redis down: each server's members still chat with one
                # another, exactly once; the other servers' get nothing.
                for k in range(SERVERS):
                    local, rest = room[2 * k:2 * k + 2], room[:2 * k] + room[2 * k + 2:]
                    await self.exactly_once(local, local, rest, count=5)
                # Redis back on the same port: every server says so, and
                # the room spans the servers again.
                self.processes.remove(self.redis)
                type(self).redis = Redis(self.redis_dir, port=self.redis.port)
                self.processes.insert(0, self.redis)
                deadline = time.monotonic() + 3 * WAIT
                for s, before in zip(self.servers, ups):
                    while len(re.findall(r"Redis broker up", s.text())) <= before and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    self.assertGreater(len(re.findall(r"Redis broker up", s.text())), before,
                                       "no 'Redis broker up' after the restart")
                await self.until_spanning("r", room[0], room)
                await self.exactly_once(room[0::2], room)
            finally:
                await self.close_all(room)
        self.run_async(run())

    def test_4_one_server_killed(self):
        victim = self.servers[-1]
        victim.stop(signal.SIGKILL)

        async def run():
            # nginx tries the dead one (refused), skips to another: every
            # connection opens.
            conns = []
            for _ in range(4):
                conns.append(await pt.connect("ws://127.0.0.1:%d/chat/after" % self.port))
            try:
                await self.until_spanning("after", conns[0], conns)
                await self.exactly_once(conns[:2], conns)
            finally:
                await self.close_all(conns)
        self.run_async(run())
        live = self.servers[:-1]
        opened = [len(re.findall(r" /chat/after open", s.text())) for s in live]
        self.assertEqual(sum(opened), 4, opened)
        self.assertTrue(all(opened), "nginx did not spread the connections over the servers left: %s" % opened)


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        pt.PARLEY = sys.argv.pop(1)
    else:
        pt.PARLEY = os.environ.get("PARLEY_BIN", "")
    if not pt.PARLEY:
        sys.exit("usage: cluster_test.py path/to/parley [unittest args] (or set PARLEY_BIN)")
    unittest.main(verbosity=2)
