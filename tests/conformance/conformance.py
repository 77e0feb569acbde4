#!/usr/bin/python3
"""parley's RFC 6455 conformance harness (Autobahn-style cases, both roles).

    /usr/bin/python3 tests/conformance/conformance.py PATH/TO/parley [--json OUT.json]
        [--role server|client|both] [--cases REGEX] [--list] [-v]

role "server": the harness is a fuzzing *client* against `parley serve --echo
--port 0` (started here; its port is read from its stderr).
role "client": the harness is a fuzzing *server* on 127.0.0.1 (port 0) that
`parley connect --echo ws://127.0.0.1:PORT/runCase?case=N&agent=parley`
connects to, one process per case (the Autobahn fuzzingserver URL scheme;
/getCaseCount and /updateReports are answered too).

Both parley commands run with their default options, plus `--deflate` for
the permessage-deflate categories 12 and 13 (deflate_cases.py: a second
`parley serve --deflate`; `parley connect --deflate`). Standard library only;
nothing here uses parley's code. Every process is stopped by its PID and
every wait is bounded. Exit status: 0 when no case is FAILED (FAILED-KNOWN
cases do not count), 1 otherwise, 2 for bad arguments.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wire  # noqa: E402
from cases import CASES, FAILED, INFORMATIONAL, NON_STRICT, OK  # noqa: E402
import deflate_cases  # noqa: E402,F401  (appends categories 12 and 13 to CASES)

FAILED_KNOWN = "FAILED-KNOWN"
VERDICTS = [OK, NON_STRICT, INFORMATIONAL, FAILED, FAILED_KNOWN]

# Cases that fail because of a parley bug not fixed yet: (role, case id) ->
# the bug. They are reported as FAILED-KNOWN and do not fail the run. Remove
# an entry as soon as the bug is fixed (a known failure that passes is
# reported, so the list cannot go stale silently).
KNOWN_FAILURES = {
}

SKIPPED = {
}

RUN_ERRORS = []       # problems outside any case (e.g. parley serve's exit status); they fail the run

CLOSE_WAIT = 5.0      # for the peer's close reply / TCP close
BUDGET = 220.0        # seconds for the whole run (--budget; ctest TIMEOUT 60 s more): later cases are reported as not run


def describe(keys, limit=4):
    items = ["%s(%s)" % (k, wire.preview(p, 16)) for k, p in keys[:limit]]
    if len(keys) > limit:
        items.append("... %d in all" % len(keys))
    return "[" + ", ".join(items) + "]"


def judge(case, ch, notes, role):
    """The verdict of a finished case from what the channel saw."""
    got = [e.key() for e in ch.events]
    cf = ch.close_frame
    verdict, reasons = OK, []

    def worse(v, why):
        nonlocal verdict
        order = [OK, INFORMATIONAL, NON_STRICT, FAILED]
        if order.index(v) > order.index(verdict):
            verdict = v
        reasons.append(why)

    if ch.violations:
        worse(FAILED, "peer violated RFC 6455: " + "; ".join(sorted(set(ch.violations))))
    if got == case.expect:
        pass
    elif got in case.nonstrict:
        worse(NON_STRICT, "received %s instead of %s" % (describe(got), describe(case.expect)))
    else:
        worse(FAILED, "expected %s, received %s" % (describe(case.expect), describe(got)))

    codes_txt = "/".join(str(c) for c in case.codes)
    if case.by == "me":
        peer_first = cf is not None and (not ch.close_sent or ch.close_frame_t < ch.close_sent_t)
        if peer_first:
            worse(FAILED, "peer closed first with %s (expected it to answer our close)" % (cf[0],))
        elif cf is None:
            if 1000 in case.codes or None in case.codes:
                worse(FAILED, "no close reply (%s)" % ("TCP dropped" if ch.eof else "timeout"))
            else:
                worse(NON_STRICT, "dropped TCP without a close frame (7.1.7: SHOULD send close %s)" % codes_txt)
        elif cf[0] not in case.codes:
            worse(FAILED, "close reply with code %s, expected %s" % (cf[0], codes_txt))
    else:
        if notes.get("no_fail"):
            worse(FAILED, "peer did not fail the connection within %.0f s (expected close %s)" % (case.timeout, codes_txt))
        elif cf is None:
            worse(NON_STRICT, "dropped TCP without a close frame (7.1.7: SHOULD send close %s)" % codes_txt)
        elif cf[0] not in case.codes:
            worse(FAILED, "failed the connection with code %s, expected %s" % (cf[0], codes_txt))
    if role == "server" and notes.get("tcp_close_late"):
        worse(NON_STRICT, notes["tcp_close_late"])
    reason = "; ".join(reasons)
    if case.hook:
        verdict, reason = case.hook(ch, notes, verdict, reason)
    if case.info and not ch.violations:
        verdict = INFORMATIONAL
    return verdict, reason


def execute(case, ch, role):
    """Runs one case on an open channel; returns (verdict, reason)."""
    notes = {}
    try:
        if case.custom:
            return case.run(ch, role)
        case.run(ch, notes)
        if case.by == "me":
            ch.wait_events(len(case.expect), case.timeout)
            if not ch.close_sent and ch.close_frame is None and not ch.eof:
                ch.send_close(1000)
            ch.wait_closed_by_peer(CLOSE_WAIT)
        else:
            if not ch.wait_closed_by_peer(case.timeout):
                notes["no_fail"] = True
                ch.send_close(1000)   # end it; judge() reports the missing failure
                ch.wait_closed_by_peer(CLOSE_WAIT)
        if ch.close_frame is not None and not ch.close_sent and not ch.eof:
            code = ch.close_frame[0]
            ch.send_close(code if code is not None and wire.valid_close_code(code) else None)
        if role == "server":
            # The harness is the client: the server closes TCP first (7.1.1).
            if ch.close_frame is not None and not ch.wait_eof(CLOSE_WAIT):
                notes["tcp_close_late"] = "server kept TCP open %.0f s after the close handshake (7.1.1)" % CLOSE_WAIT
        return judge(case, ch, notes, role)
    finally:
        ch.shutdown()


# ---- role "server": parley serve, the harness connects --------------------------------


class ParleyServer:
    def __init__(self, parley, tmp, extra=()):
        self.log_path = os.path.join(tmp, "serve-%d.log" % time.monotonic_ns())
        self.log = open(self.log_path, "wb")
        self.extra = list(extra)
        self.proc = subprocess.Popen([parley, "serve", "--echo", "--port", "0", "--quiet"] + self.extra,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.port = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = re.search(r"listening on ws://127\.0\.0\.1:(\d+)/", self.text())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("parley serve did not start: " + self.text())

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM (a graceful stop); returns an error text when it did not
        exit with status 0 (e.g. a sanitizer's report at exit)."""
        problem = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                problem = "parley serve did not stop within 5 s of SIGTERM"
        if problem is None and self.proc.returncode != 0:
            problem = "parley serve exited with status %s: %s" % (self.proc.returncode, self.text()[-2000:])
        self.log.close()
        return problem


def deflate_of(case):
    return getattr(case, "deflate", None)


def run_server_role(parley, cases, tmp, verbose, start):
    """Cases 1-10 against `parley serve --echo`; 12 and 13 (permessage-deflate)
    against a second one started with `--deflate`."""
    results = []
    plain = [c for c in cases if deflate_of(c) is None]
    dfl = [c for c in cases if deflate_of(c) is not None]
    if plain:
        results += run_server_cases(parley, plain, tmp, verbose, start, [])
    if dfl:
        results += run_server_cases(parley, dfl, tmp, verbose, start, ["--deflate"])
    return results


def run_server_cases(parley, cases, tmp, verbose, start, extra):
    results = []
    server = ParleyServer(parley, tmp, extra)
    try:
        for case in cases:
            t0 = time.monotonic()
            if t0 - start > BUDGET:
                results.append(result(case, FAILED, "not run: the run's time budget (%.0f s) was used up" % BUDGET, 0))
                continue
            try:
                d = deflate_of(case)
                ch = wire.client_handshake("127.0.0.1", server.port, "/", timeout=10,
                                           extensions=d.offer if d else None, negotiate=d.negotiate if d else None)
                verdict, reason = execute(case, ch, "server")
            except Exception as e:  # a handshake failure or a harness error is a FAILED case
                verdict, reason = FAILED, "%s: %s" % (type(e).__name__, e)
                if verbose:
                    traceback.print_exc()
            if not server.alive():
                verdict, reason = FAILED, "parley serve exited (status %s) during the case; %s" % (
                    server.proc.returncode, server.text()[-300:])
                RUN_ERRORS.append(server.stop() or "parley serve exited during case %s" % case.id)
                server = ParleyServer(parley, tmp, extra)
            results.append(result(case, verdict, reason, time.monotonic() - t0))
            progress(results[-1], "server", verbose)
    finally:
        problem = server.stop()
        if problem:
            RUN_ERRORS.append(problem)
    return results


# ---- role "client": the harness is the server, parley connect --echo per case ----------


def serve_control(ch, target, count):
    """/getCaseCount (the count as a text message) and /updateReports (no
    reports here: just a normal close) of the fuzzingserver URL scheme."""
    if target.startswith("/getCaseCount"):
        ch.send_frame(wire.TEXT, str(count).encode())
    ch.send_close(1000)
    ch.wait_closed_by_peer(CLOSE_WAIT)
    ch.shutdown()


def tail(path, n=300):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-n:].strip()
    except OSError:
        return ""


def run_client_role(parley, cases, tmp, verbose, start):
    results = []
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        for n, case in enumerate(cases, 1):
            t0 = time.monotonic()
            if t0 - start > BUDGET:
                results.append(result(case, FAILED, "not run: the run's time budget (%.0f s) was used up" % BUDGET, 0))
                continue
            url = "ws://127.0.0.1:%d/runCase?case=%d&agent=parley" % (port, n)
            log_path = os.path.join(tmp, "connect-%d.log" % n)
            with open(log_path, "wb") as log:
                d = deflate_of(case)
                proc = subprocess.Popen([parley, "connect", "--echo", "--quiet"] + (["--deflate"] if d else []) + [url],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
            exit_note = ""
            try:
                verdict, reason = FAILED, "parley connect did not connect within 10 s"
                listener.settimeout(10)
                try:
                    sock, _ = listener.accept()
                except socket.timeout:
                    sock = None
                if sock is not None:
                    try:
                        ch, target = wire.server_handshake(sock, timeout=10, answer=d.respond if d else None)
                        want = "/runCase?case=%d&agent=parley" % n
                        bad_offer = deflate_cases.check_offer(ch) if d else None
                        if target != want:
                            ch.shutdown()
                            verdict, reason = FAILED, "request target %r, expected %r" % (target, want)
                        elif bad_offer:
                            ch.shutdown()
                            verdict, reason = FAILED, bad_offer
                        else:
                            verdict, reason = execute(case, ch, "client")
                    except Exception as e:
                        sock.close()
                        verdict, reason = FAILED, "%s: %s" % (type(e).__name__, e)
                        if verbose:
                            traceback.print_exc()
                try:
                    rc = proc.wait(timeout=CLOSE_WAIT)
                    exit_note = "exit %d" % rc
                    if rc < 0:
                        verdict, reason = FAILED, "parley connect died with signal %d; %s" % (-rc, reason)
                    elif rc not in getattr(case, "exit_codes", (0, 5)):
                        # 0: closed normally, 5: closed with an error code or 1006, 4: handshake failed
                        verdict, reason = FAILED, "parley connect exited with status %d (%s); %s" % (
                            rc, tail(log_path), reason)
                except subprocess.TimeoutExpired:
                    if verdict != FAILED:
                        verdict = FAILED
                        reason = "parley connect did not exit within %.0f s after the connection closed; %s" % (
                            CLOSE_WAIT, reason)
                    exit_note = "killed"
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=5)
            r = result(case, verdict, reason, time.monotonic() - t0)
            r["exit"] = exit_note
            results.append(r)
            progress(r, "client", verbose)
        # The remaining fuzzingserver URLs, once: the case count and the report update.
        for path, want in (("/getCaseCount", str(len(cases))), ("/updateReports?agent=parley", None)):
            check_control(parley, listener, port, path, want, len(cases))
    finally:
        listener.close()
    return results


def check_control(parley, listener, port, path, want, count):
    proc = subprocess.Popen([parley, "connect", "--quiet", "--wait", "-1", "ws://127.0.0.1:%d%s" % (port, path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        listener.settimeout(10)
        sock, _ = listener.accept()
        ch, target = wire.server_handshake(sock, timeout=10)
        serve_control(ch, target, count)
        out, _ = proc.communicate(timeout=CLOSE_WAIT)
        if want is not None and out.decode().strip() != want:
            print("warning: %s answered, parley connect printed %r" % (path, out))
    except Exception as e:
        print("warning: %s: %s" % (path, e))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


# ---- results ------------------------------------------------------------------------


def rfc_of(case):
    return case.rfc if case.rfc.startswith("RFC ") else "RFC 6455 " + case.rfc


def result(case, verdict, reason, duration):
    return {"id": case.id, "category": case.category, "description": case.desc, "rfc": rfc_of(case),
            "verdict": verdict, "reason": reason, "duration": round(duration, 3)}


def progress(r, role, verbose):
    if verbose or r["verdict"] not in (OK, INFORMATIONAL):
        print("%-6s %-8s %-13s %s%s" % (role, r["id"], r["verdict"], r["description"],
                                        (" -- " + r["reason"]) if r["reason"] else ""), flush=True)


def apply_known(results, role):
    stale = []
    for r in results:
        bug = KNOWN_FAILURES.get((role, r["id"]))
        if bug is None:
            continue
        if r["verdict"] == FAILED:
            r["verdict"] = FAILED_KNOWN
            r["known_bug"] = bug
        else:
            stale.append(r["id"])
    return stale


def summarize(results):
    cats = {}
    for r in results:
        c = cats.setdefault(str(r["category"]), {v: 0 for v in VERDICTS})
        c[r["verdict"]] += 1
    return cats


def print_table(roles):
    cats = sorted({int(c) for role in roles.values() for c in role["summary"]} | set(SKIPPED))
    head = "| role | category | cases | OK | NON-STRICT | INFORMATIONAL | FAILED | FAILED-KNOWN |"
    lines = [head, "|" + "---|" * 8]
    for name, role in roles.items():
        label = {"server": "server (parley serve --echo)", "client": "client (parley connect --echo)"}[name]
        tot = {v: 0 for v in VERDICTS}
        for c in cats:
            if c in SKIPPED and str(c) not in role["summary"]:
                lines.append("| %s | %d | skipped: %s | | | | | |" % (label, c, SKIPPED[c]))
                continue
            s = role["summary"][str(c)]
            for v in VERDICTS:
                tot[v] += s[v]
            lines.append("| %s | %d | %d | %s |" % (label, c, sum(s.values()), " | ".join(str(s[v]) for v in VERDICTS)))
        lines.append("| %s | all | %d | %s |" % (label, sum(tot.values()), " | ".join(str(tot[v]) for v in VERDICTS)))
    return "\n".join(lines)


def main():
    global BUDGET
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("parley", help="the parley binary")
    ap.add_argument("--json", help="write the results here (default: none)")
    ap.add_argument("--role", choices=["server", "client", "both"], default="both")
    ap.add_argument("--cases", help="regular expression: run only the case ids it matches (re.match)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    ap.add_argument("--budget", type=float, default=BUDGET,
                    help="seconds for the whole run; cases past it are FAILED 'not run' (default: %.0f)" % BUDGET)
    args = ap.parse_args()
    BUDGET = args.budget

    cases = [c for c in CASES if not args.cases or re.match(args.cases + r"$", c.id)]
    if args.list:
        for c in cases:
            print("%-8s %-28s %s" % (c.id, rfc_of(c), c.desc))
        return 0
    if not cases:
        print("no case matches %r" % args.cases)
        return 2
    if not os.access(args.parley, os.X_OK):
        print("not an executable: %s" % args.parley)
        return 2

    started = time.monotonic()
    roles = {}
    stale = []
    with tempfile.TemporaryDirectory(prefix="parley-conformance-") as tmp:
        for role in (["server", "client"] if args.role == "both" else [args.role]):
            t0 = time.monotonic()
            runner = run_server_role if role == "server" else run_client_role
            mine = [c for c in cases if role in getattr(c, "roles", (role,))]
            results = runner(args.parley, mine, tmp, args.verbose, started)
            stale += ["%s %s" % (role, i) for i in apply_known(results, role)]
            roles[role] = {"seconds": round(time.monotonic() - t0, 1), "summary": summarize(results), "cases": results}
    elapsed = time.monotonic() - started

    print()
    print(print_table(roles))
    for role, data in roles.items():
        print("%s role: %d cases in %.1f s" % (role, len(data["cases"]), data["seconds"]))
    print("total: %.1f s" % elapsed)
    for role, data in roles.items():
        for r in data["cases"]:
            if r["verdict"] == FAILED_KNOWN:
                print("known failure: %s %s -- %s" % (role, r["id"], r["known_bug"]))
    if stale:
        print("KNOWN_FAILURES entries that no longer fail (remove them): " + ", ".join(stale))
    failed = [(role, r) for role, d in roles.items() for r in d["cases"] if r["verdict"] == FAILED]
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"agent": "parley", "parley": os.path.abspath(args.parley), "seconds": round(elapsed, 1),
                       "skipped": {str(k): v for k, v in SKIPPED.items()}, "errors": RUN_ERRORS,
                       "roles": roles}, f, indent=1)
        print("results: %s" % args.json)
    for e in RUN_ERRORS:
        print("error: " + e)
    if failed:
        print("%d FAILED case(s)" % len(failed))
        return 1
    if RUN_ERRORS:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
