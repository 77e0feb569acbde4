#!/usr/bin/python3
"""Interop of parley with real peers — Node `ws` and Python `websockets` —
in both directions: each peer's client against parley's server, and
parley's client against each peer's server, over ws:// and wss://. The
cases and the path protocol the servers share are in
tests/interop/README.md.

    /usr/bin/python3 tests/interop/run_interop.py \\
        --server build/x/tests/interop/parley_interop_server \\
        --client build/x/tests/interop/parley_interop_client \\
        --make-pki build/x/tests/parley_test_make_pki \\
        [--peer node|python] [--json results.json] [--markdown]

The certificates of the TLS legs are made by parley_test_make_pki (no
`openssl` command needed) in a temporary directory removed at the end.

Everything listens on 127.0.0.1 on ephemeral ports; every process started
is stopped by its PID; every wait is bounded. A missing peer (node, the ws
package of package-lock.json, /usr/bin/python3 with websockets) is a
failure, not a skip. Exit status 0 only if every case passed (or failed as
listed in KNOWN_FAILURES, which may also pass).
"""

import argparse
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"
LEG_TIMEOUT = 100  # seconds: the bound of one client run (all its cases)
START_TIMEOUT = 15  # seconds: a server must print its port within this

# Cases that fail because of a parley bug, by (peer, direction, case): the
# assertion stays; a failure is reported as XFAIL and does not fail the run;
# a pass is reported as XPASS ("remove the entry") and does not fail the run
# either, because the library changes under these tests while the bug is
# being fixed. Remove an entry once its bug is fixed.
# direction: "to-parley" = the peer's client against parley's server,
#            "from-parley" = parley's client against the peer's server.
# Compression and TLS legs: direction "to-parley:VARIANT" / "from-parley:VARIANT"
# (e.g. "to-parley:tls", "from-parley:tls-expired").
KNOWN_FAILURES = {}

# permessage-deflate (RFC 7692): legs run again with compression on both
# sides, on a subset of the cases. deflate-negotiated checks the answer
# (Sec-WebSocket-Extensions) has permessage-deflate and `expect`.
DEFLATE_CASES = ["deflate-negotiated", "text-126", "text-64KiB", "text-1MiB", "binary-64KiB", "binary-1MiB",
                 "text-fragmented", "binary-fragmented", "large-fragmented", "receive-fragmented", "many-messages",
                 "close-client-normal", "close-server-normal", "close-after-large"]
# (peer, variant, the peer's switches, what the answer must contain)
DEFLATE_VARIANTS = [
    ("node", "deflate", ["--deflate"], ["permessage-deflate"]),
    ("node", "deflate-snct", ["--deflate=serverNoContextTakeover"],
     ["permessage-deflate", "server_no_context_takeover"]),
    ("node", "deflate-cnct", ["--deflate=clientNoContextTakeover"],
     ["permessage-deflate", "client_no_context_takeover"]),
    ("python", "deflate", [], ["permessage-deflate"]),   # websockets compresses by default
]

# TLS (wss://): the full legs run every case with the server presenting
# server-chain.pem (CN=localhost, SAN IP:127.0.0.1) and the client trusting
# ca.pem (verification on, name included). The refusal legs below run
# cases that exist only for them; their detail must contain `expect`.
TLS_FILES = ["ca.pem", "server-chain.pem", "server.key", "expired.pem", "expired.key",
             "other-host.pem", "other-host.key"]
# (peer, direction, variant, the server's certificate stem, cases, {case: what its detail must contain})
TLS_REFUSALS = [
    # parley's client, trusting the CA, against a peer server presenting an
    # expired certificate: parley's error (category: message) says "expired".
    ("node", "from-parley", "tls-expired", "expired", ["tls-expired"], {"tls-expired": ["parley.tls", "expired"]}),
    ("python", "from-parley", "tls-expired", "expired", ["tls-expired"], {"tls-expired": ["parley.tls", "expired"]}),
    # ws's client, trusting the CA, against parley's server presenting a
    # certificate for example.invalid: Node refuses it for 127.0.0.1, and
    # parley's server serves the next connection (asking for example.invalid).
    ("node", "to-parley", "tls-other-host", "other-host", ["tls-name-mismatch", "tls-after-mismatch"],
     {"tls-name-mismatch": ["ERR_TLS_CERT_ALTNAME_INVALID"]}),
]

PEERS = {
    "node": {
        "name": "Node ws",
        "client": lambda url: ["node", os.path.join(HERE, "node", "ws_client.mjs"), url],
        "server": lambda: ["node", os.path.join(HERE, "node", "ws_server.mjs")],
    },
    "python": {
        "name": "Python websockets",
        "client": lambda url: [PYTHON, os.path.join(HERE, "python", "websockets_client.py"), url],
        "server": lambda: [PYTHON, os.path.join(HERE, "python", "websockets_server.py")],
    },
}


def pinned_ws_version():
    with open(os.path.join(ROOT, "package.json")) as f:
        return json.load(f)["devDependencies"]["ws"]


def preflight(peer):
    """"" if the peer can run, else why not (with the fix)."""
    if peer == "node":
        if not shutil.which("node"):
            return "node is not installed: run scripts/install-deps.sh (Debian packages nodejs, npm)"
        want = pinned_ws_version()
        p = subprocess.run(["node", "-e", "process.stdout.write(require('ws/package.json').version)"],
                           cwd=os.path.join(HERE, "node"), capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            return ("the npm package ws is not installed (node_modules/ws missing): run scripts/install-deps.sh "
                    "(npm ci at the repository root)")
        if p.stdout != want:
            return "node_modules has ws %s, package-lock.json pins %s: run npm ci" % (p.stdout, want)
        return ""
    if not os.access(PYTHON, os.X_OK):
        return "%s is missing: run scripts/install-deps.sh (Debian package python3)" % PYTHON
    p = subprocess.run([PYTHON, "-c", "import websockets"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return "Python websockets is missing for %s: run scripts/install-deps.sh (python3-websockets)" % PYTHON
    return ""


def stop(proc):
    """Stops a process we started, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
    for f in (proc.stdin, proc.stdout):
        if f:
            f.close()


def tail(path, n=2000):
    with open(path, "rb") as f:
        data = f.read()
    return data[-n:].decode("utf-8", "replace").strip()


class Server:
    """A server process that prints {"port": N, "version": ...} first."""

    def __init__(self, argv, tmp, label, scheme="ws"):
        self.err_path = os.path.join(tmp, label + ".stderr")
        self.err = open(self.err_path, "wb")
        # stdin is a pipe: if this harness dies, the server sees EOF and stops.
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        line = b""
        deadline = time.monotonic() + START_TIMEOUT
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        sel.close()
        try:
            info = json.loads(line)
            self.port, self.version = info["port"], info["version"]
        except ValueError:
            self.stop()
            raise RuntimeError("the server did not start (%s): %s" % (" ".join(argv), tail(self.err_path)))
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Stops the server; returns "" or what went wrong (it must exit with
        status 0 within 5 s of SIGTERM: a sanitizer report, a crash or a hang
        in shutdown is a failure)."""
        if self.err.closed:
            return ""
        killed = self.proc.poll() is None
        stop(self.proc)
        self.err.close()
        status = self.proc.returncode
        if status == 0:
            return ""
        what = ("did not exit within 5 s of SIGTERM" if killed and status == -signal.SIGKILL
                else "exited with status %s" % status)
        return "the server %s; stderr: %s" % (what, tail(self.err_path))


def run_client(argv, tmp, label, on_line=None, timeout=LEG_TIMEOUT):
    """Runs a client to its end (bounded); returns (plan, version, results,
    problem). on_line(record) is called with each JSON line as it arrives."""
    err_path = os.path.join(tmp, label + ".stderr")
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        out = b""
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        timed_out = True
        seen = 0
        while time.monotonic() < deadline:
            if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    timed_out = False
                    break
                out += chunk
                while on_line and b"\n" in out[seen:]:
                    end = out.index(b"\n", seen)
                    try:
                        on_line(json.loads(out[seen:end]))
                    except ValueError:
                        pass
                    seen = end + 1
        sel.close()
        stop(proc)
    plan, version, results = [], "?", {}
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "plan" in rec:
            plan, version = rec["plan"], rec.get("version", "?")
        elif "case" in rec:
            results[rec["case"]] = rec
    problem = ""
    if timed_out:
        problem = "the client did not finish within %d s" % timeout
    elif proc.returncode != 0:
        problem = "the client exited with status %s" % proc.returncode
    if problem or len(results) < len(plan) or not plan:
        problem = (problem or "the client stopped early") + ("; stderr: " + tail(err_path) if tail(err_path) else "")
    return plan, version, results, problem


def run_deflate_leg(peer, direction, variant, peer_args, expect, args, tmp):
    """A compression leg: parley with --deflate, the peer with `peer_args`,
    the DEFLATE_CASES; deflate-negotiated must show `expect` in the answer."""
    parley_args = ["--deflate"]
    server_args, client_args = (parley_args, peer_args) if direction == "to-parley" else (peer_args, parley_args)
    return run_subset_leg(peer, direction, variant, server_args, client_args, DEFLATE_CASES,
                          {"deflate-negotiated": expect}, args, tmp)


def run_subset_leg(peer, direction, variant, server_args, client_args, cases, expect, args, tmp, scheme="ws"):
    """A leg of the named `cases`: the server (parley's or the peer's, by
    `direction`) started with `server_args`, the client with `client_args`;
    expect = {case: [strings its detail must contain once it passed]}."""
    spec = PEERS[peer]
    label = "%s-%s-%s" % (peer, direction, variant)
    leg = {"peer": peer, "direction": "%s:%s" % (direction, variant), "cases": {}, "problem": "", "versions": {}}
    server = None
    start = time.monotonic()
    try:
        if direction == "to-parley":
            server = Server([args.server] + server_args, tmp, label + "-server", scheme)
            client_argv = spec["client"](server.url) + client_args + cases
        else:
            server = Server(spec["server"]() + server_args, tmp, label + "-server", scheme)
            client_argv = [args.client, server.url] + client_args + cases
        plan, version, results, problem = run_client(client_argv, tmp, label + "-client")
        if not server.alive():
            problem = ("the server died (status %s) during the run; stderr: %s"
                       % (server.proc.returncode, tail(server.err_path))) + ("; " + problem if problem else "")
        leg["problem"] = problem
        for case in plan:
            r = results.get(case)
            leg["cases"][case] = r if r else {"case": case, "ok": False, "detail": "no result: " + problem, "ms": 0}
        for case, wanted in expect.items():
            r = leg["cases"].get(case)
            if r and r["ok"]:
                missing = [t for t in wanted if t not in r["detail"]]
                if missing:
                    leg["cases"][case] = dict(r, ok=False, detail="%r lacks %s" % (r["detail"], ", ".join(missing)))
        stopped = server.stop()
        server = None
        if stopped:
            leg["problem"] = (leg["problem"] + "; " if leg["problem"] else "") + stopped
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        leg["problem"] = str(e)
    finally:
        if server:
            stopped = server.stop()
            if stopped:
                leg["problem"] = (leg["problem"] + "; " if leg["problem"] else "") + stopped
    leg["seconds"] = round(time.monotonic() - start, 1)
    return leg


def run_leg(peer, direction, args, tmp, tls=None):
    """One peer, one direction, every case: returns a dict with the cases'
    outcomes. tls = (the server's switches, the client's switches): over
    wss://, the leg's direction is then DIRECTION:tls."""
    spec = PEERS[peer]
    server_args, client_args = tls or ([], [])
    scheme = "wss" if tls else "ws"
    label = "%s-%s%s" % (peer, direction, "-tls" if tls else "")
    leg = {"peer": peer, "direction": direction + (":tls" if tls else ""), "cases": {}, "problem": "", "versions": {}}
    server = None
    start = time.monotonic()
    try:
        if direction == "to-parley":
            server = Server([args.server] + server_args, tmp, label + "-server", scheme)
            client_argv = spec["client"](server.url) + client_args
            leg["versions"]["parley"] = server.version
        else:
            server = Server(spec["server"]() + server_args, tmp, label + "-server", scheme)
            client_argv = [args.client, server.url] + client_args
            leg["versions"][peer] = server.version
        plan, version, results, problem = run_client(client_argv, tmp, label + "-client")
        leg["versions"]["parley" if direction == "from-parley" else peer] = version
        if not server.alive():
            problem = ("the server died (status %s) during the run; stderr: %s"
                       % (server.proc.returncode, tail(server.err_path))) + ("; " + problem if problem else "")
        leg["problem"] = problem
        for case in plan:
            r = results.get(case)
            leg["cases"][case] = r if r else {"case": case, "ok": False, "detail": "no result: " + problem, "ms": 0}
        stopped = server.stop()
        if stopped:
            leg["problem"] = (leg["problem"] + "; " if leg["problem"] else "") + stopped
        server = None
        # close-server-shutdown: a fresh server, stopped (SIGTERM) while the
        # client is connected; the client must see 1001 (going away).
        case = "close-server-shutdown"
        server = Server(([args.server] if direction == "to-parley" else spec["server"]()) + server_args, tmp,
                        label + "-shutdown", scheme)
        argv = (spec["client"](server.url) if direction == "to-parley" else [args.client, server.url]) + client_args
        signalled = []

        def on_line(rec):
            if rec.get("ready") and server.alive():
                os.kill(server.proc.pid, signal.SIGTERM)
                signalled.append(time.monotonic())
        plan, _, results, problem = run_client(argv + [case], tmp, label + "-shutdown-client", on_line, 30)
        result = results.get(case) or {"case": case, "ok": False, "detail": "no result: " + problem, "ms": 0}
        if signalled:
            try:
                server.proc.wait(timeout=max(0.1, signalled[0] + 10 - time.monotonic()))
            except subprocess.TimeoutExpired:
                result = dict(result, ok=False, detail=(result["detail"] + "; " if result["detail"] else "")
                              + "the server did not exit within 10 s of SIGTERM")
        stopped = server.stop()
        server = None
        if stopped:
            result = dict(result, ok=False, detail=(result["detail"] + "; " if result["detail"] else "") + stopped)
        leg["cases"][case] = result
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        leg["problem"] = str(e)
    finally:
        if server:
            stopped = server.stop()
            if stopped:
                leg["problem"] = (leg["problem"] + "; " if leg["problem"] else "") + stopped
    leg["seconds"] = round(time.monotonic() - start, 1)
    return leg


def make_pki(make_pki_path, tmp):
    """Makes the TLS legs' certificates in TMP/pki; returns (its path, "")
    or (None, what went wrong)."""
    pki = os.path.join(tmp, "pki")
    os.mkdir(pki, 0o700)
    try:
        p = subprocess.run([make_pki_path, pki], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return None, "cannot make the certificates (%s): %s" % (make_pki_path, e)
    missing = [f for f in TLS_FILES if not os.path.isfile(os.path.join(pki, f))]
    if p.returncode != 0 or missing:
        return None, "cannot make the certificates (%s exited with %s%s): %s" % (
            make_pki_path, p.returncode, "; missing " + ", ".join(missing) if missing else "", p.stderr.strip())
    return pki, ""


def tls_legs(peer, args, tmp, pki, why):
    """The TLS legs of one peer: both directions over wss:// with every case,
    then the refusals of TLS_REFUSALS."""
    legs = []
    ca = ["--ca", os.path.join(pki or "", "ca.pem")]

    def cert(stem):
        chain = "server-chain" if stem == "server" else stem
        return ["--tls-cert", os.path.join(pki or "", chain + ".pem"), "--tls-key", os.path.join(pki or "", stem + ".key")]

    for direction in ("to-parley", "from-parley"):
        legs.append(run_leg(peer, direction, args, tmp, (cert("server"), ca)) if not why else {
            "peer": peer, "direction": direction + ":tls", "cases": {}, "problem": why, "versions": {}, "seconds": 0})
    for rpeer, direction, variant, stem, cases, expect in TLS_REFUSALS:
        if rpeer != peer:
            continue
        legs.append(run_subset_leg(peer, direction, variant, cert(stem), ca, cases, expect, args, tmp, "wss")
                    if not why else {"peer": peer, "direction": "%s:%s" % (direction, variant), "cases": {},
                                     "problem": why, "versions": {}, "seconds": 0})
    for leg in legs:
        leg["group"] = "tls"
    return legs


def direction_label(peer, direction):
    name = PEERS[peer]["name"].split()[-1]
    direction, _, variant = direction.partition(":")
    label = ("%s client → parley server" % name) if direction == "to-parley" else ("parley client → %s server" % name)
    return label + (" (%s)" % variant if variant else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="path of parley_interop_server")
    ap.add_argument("--client", required=True, help="path of parley_interop_client")
    ap.add_argument("--make-pki", required=True,
                    help="path of parley_test_make_pki (writes the TLS legs' certificates)")
    ap.add_argument("--peer", action="append", choices=sorted(PEERS), help="only this peer (repeatable)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--markdown", action="store_true", help="print the matrix as a Markdown table")
    args = ap.parse_args()
    peers = args.peer or ["node", "python"]

    began = time.monotonic()
    legs, failures, xfails, xpasses = [], [], [], []
    # The temporary directory (the logs, the certificates) is removed at the end.
    with tempfile.TemporaryDirectory(prefix="parley-interop-") as tmp:
        pki, pki_problem = make_pki(args.make_pki, tmp)
        for peer in peers:
            why = preflight(peer)
            for direction in ("to-parley", "from-parley"):
                leg = run_leg(peer, direction, args, tmp) if not why else {
                    "peer": peer, "direction": direction, "cases": {}, "problem": why, "versions": {}, "seconds": 0}
                leg["group"] = "plain"
                legs.append(leg)
            for vpeer, variant, peer_args, expect in DEFLATE_VARIANTS:
                if vpeer != peer:
                    continue
                for direction in ("to-parley", "from-parley"):
                    leg = run_deflate_leg(peer, direction, variant, peer_args, expect, args, tmp) if not why else {
                        "peer": peer, "direction": "%s:%s" % (direction, variant), "cases": {}, "problem": why,
                        "versions": {}, "seconds": 0}
                    leg["group"] = "deflate"
                    legs.append(leg)
            legs += tls_legs(peer, args, tmp, pki, why or pki_problem)
    elapsed = time.monotonic() - began

    # The matrices: one row per case, one column per leg; the compression
    # legs apart, the TLS legs apart.
    plain = [l for l in legs if l["group"] == "plain"]
    compressed = [l for l in legs if l["group"] == "deflate"]
    secure = [l for l in legs if l["group"] == "tls"]
    tables = [matrix(group, xfails, xpasses, failures) for group in (plain, compressed, secure) if group]
    problems = ["[%s | %s] %s" % (PEERS[l["peer"]]["name"], direction_label(l["peer"], l["direction"]), l["problem"])
                for l in legs if l["problem"]]

    versions = {}
    for leg in legs:
        versions.update(leg["versions"])
    for cases, columns, rows in tables:
        if args.markdown:
            print("| case | " + " | ".join(columns) + " |")
            print("|---|" + "---|" * len(columns))
            for row in rows:
                print("| " + " | ".join(row) + " |")
        else:
            width = max([len(c) for c in cases] + [4])
            for i, c in enumerate(columns):
                print("  [%d] %s" % (i + 1, c))
            print("%-*s  %s" % (width, "case", "  ".join("[%d]  " % (i + 1) for i in range(len(columns)))))
            for row in rows:
                print("%-*s  %s" % (width, row[0], "  ".join("%-5s" % v for v in row[1:])))
        print()
    print("versions: %s; %s" % (", ".join("%s %s" % kv for kv in sorted(versions.items())),
                                ", ".join("%s %.1fs" % ("%s/%s" % (l["peer"], l["direction"]), l["seconds"])
                                          for l in legs)))
    for l in compressed:
        r = l["cases"].get("deflate-negotiated")
        if r and r["ok"]:
            print("negotiated [%s]: %s" % (direction_label(l["peer"], l["direction"]), r["detail"]))
    for l in secure:
        for case, r in l["cases"].items():
            if r["ok"] and r["detail"]:
                print("refused [%s] %s: %s" % (direction_label(l["peer"], l["direction"]), case, r["detail"]))
    for line in xfails:
        print("XFAIL " + line)
    for line in problems:
        print("ERROR " + line)
    for line in failures:
        print("FAIL  " + line)
    for line in xpasses:
        print("XPASS " + line)
    total = sum(len(l["cases"]) for l in legs)
    print("%d case runs: %d failed, %d known failures, %d errors, in %.1f s"
          % (total, len(failures), len(xfails), len(problems), elapsed))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"versions": versions, "seconds": round(elapsed, 1), "legs": legs,
                       "known_failures": ["%s/%s/%s: %s" % (k + (v,)) for k, v in KNOWN_FAILURES.items()]},
                      f, indent=1, ensure_ascii=False)
    return 1 if failures or problems else 0


def matrix(legs, xfails, xpasses, failures):
    """(cases, column labels, rows) of one group of legs; collects the
    outcomes into xfails, xpasses and failures."""
    cases = []
    for leg in legs:
        cases += [c for c in leg["cases"] if c not in cases]
    columns = [direction_label(l["peer"], l["direction"]) for l in legs]
    rows = []
    for case in cases:
        row = [case]
        for leg in legs:
            r = leg["cases"].get(case)
            key = (leg["peer"], leg["direction"], case)
            where = "[%s | %s] %s" % (PEERS[leg["peer"]]["name"], direction_label(leg["peer"], leg["direction"]), case)
            if r is None:
                row.append("—")
            elif r["ok"] and key in KNOWN_FAILURES:
                row.append("XPASS")
                xpasses.append("%s: passes but is listed in KNOWN_FAILURES (%s): remove it" % (where, KNOWN_FAILURES[key]))
            elif r["ok"]:
                row.append("pass")
            elif key in KNOWN_FAILURES:
                row.append("XFAIL")
                xfails.append("%s: %s (known parley bug: %s)" % (where, r["detail"], KNOWN_FAILURES[key]))
            else:
                row.append("FAIL")
                failures.append("%s: %s" % (where, r["detail"]))
        rows.append(row)
    return cases, columns, rows


if __name__ == "__main__":
    sys.exit(main())
