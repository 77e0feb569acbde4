"""Starting a redis-server of a test's own, for the Python tests that need
one (tests/cli/cli_test.py, tests/proxy/cluster_test.py; each puts this
folder on sys.path and runs the process its own way): Debian's
redis-server in the foreground on a loopback port, no persistence, its
files in a folder of the test's. Standard library only."""

import shutil
import socket
import time

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def argv(port, directory):
    """The command line of a redis-server on 127.0.0.1:`port`, in the
    foreground, without persistence, its files in `directory`."""
    return [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory, "--daemonize", "no", "--loglevel", "warning"]


def ping(port):
    """True when a Redis on 127.0.0.1:`port` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_for_ping(port, running, timeout):
    """True once the Redis on `port` answers PING; False when `running()`
    turns false or `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running():
        if ping(port):
            return True
        time.sleep(0.05)
    return False
