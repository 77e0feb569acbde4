"""permessage-deflate (RFC 7692) cases: categories 12 and 13 of the Autobahn
testsuite's catalogue, written anew for this harness.

These cases run against `parley serve --echo --deflate` (role "server": the
harness offers the extension in its upgrade request) and `parley connect
--echo --deflate` (role "client": the harness answers parley's offer). Each
case's `deflate` is a `Pmd` spec: what the harness offers, or how it
answers. The agreed parameters give the harness a `wire.Pmd`, which
decompresses what parley sends with exactly the agreed window, and with a
fresh inflater per message where parley agreed to reset its context, so a
frame that breaks the agreement fails to inflate (a violation, FAILED).

12.x: the default offer, compressed echo of messages of 16 bytes to 1 MiB,
text and binary, in one frame or fragmented.
13.x: every parameter of the offer and of the answer, several offers in one
header, offers parley must decline (server) or answers it must refuse
(client); compressed control frames, RSV1 on a continuation frame, a
compression bomb.
"""

import random
import re
import zlib

import wire
from cases import CASES, FAILED, NON_STRICT, OK, Case
from wire import BINARY, CONT, PING, TEXT

PARAMS = ("server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits",
          "client_max_window_bits")


def parse_extensions(values):
    """Sec-WebSocket-Extensions values -> [(name, [(param, value or None)])];
    ValueError for a syntax error."""
    out = []
    for value in values:
        for elem in value.split(","):
            elem = elem.strip()
            if not elem:
                continue
            parts = [p.strip() for p in elem.split(";")]
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", parts[0]):
                raise ValueError("bad extension token %r" % parts[0])
            params = []
            for p in parts[1:]:
                name, eq, v = p.partition("=")
                name, v = name.strip(), v.strip()
                if len(v) >= 2 and v[0] == v[-1] == '"':
                    v = v[1:-1]
                params.append((name.lower(), v if eq else None))
            out.append((parts[0].lower(), params))
    return out


def bits(value):
    """A window-bits value: 8-15, digits only, no leading zero (7692 7.1.2)."""
    if value is None or not re.fullmatch(r"[1-9][0-9]?", value) or not 8 <= int(value) <= 15:
        return None
    return int(value)


def check_params(params, answer):
    """Known, unique parameters with valid values -> dict; else a reason str.
    `answer`: client_max_window_bits then needs a value."""
    got = {}
    for name, value in params:
        if name not in PARAMS:
            return "unknown parameter %s" % name
        if name in got:
            return "%s twice" % name
        if name.endswith("takeover"):
            if value is not None:
                return "%s with a value" % name
            got[name] = True
        elif value is None and name == "client_max_window_bits" and not answer:
            got[name] = True      # offered without a value: any window up to 15
        elif bits(value) is None:
            return "%s=%r is not 8-15" % (name, value)
        else:
            got[name] = bits(value)
    return got


def first_acceptable(offer):
    """The first permessage-deflate offer in `offer` a server can accept (its
    parameters known, unique and valid), as a dict, or None."""
    for name, params in parse_extensions([offer]):
        if name != "permessage-deflate":
            continue
        got = check_params(params, answer=False)
        if isinstance(got, dict):
            return got
    return None


def check_answer(offered, answer_values):
    """RFC 7692 7.1: a server's answer to the offer `offered` (a dict from
    first_acceptable). Returns the agreed dict; ValueError when it breaks a rule."""
    exts = parse_extensions(answer_values)
    if len(exts) != 1 or exts[0][0] != "permessage-deflate":
        raise ValueError("RFC 7692 5: the answer must be one permessage-deflate element, got %r" % answer_values)
    got = check_params(exts[0][1], answer=True)
    if isinstance(got, str):
        raise ValueError("RFC 7692 7.1: the answer %r has %s" % (answer_values, got))
    if offered.get("server_no_context_takeover") and not got.get("server_no_context_takeover"):
        raise ValueError("RFC 7692 7.1.1.1: server_no_context_takeover offered but not in the answer %r" % answer_values)
    smwb = offered.get("server_max_window_bits")
    if smwb is not None and got.get("server_max_window_bits", 16) > smwb:
        raise ValueError("RFC 7692 7.1.2.1: server_max_window_bits=%d offered, the answer %r does not stay within it"
                         % (smwb, answer_values))
    if "client_max_window_bits" in got:
        cmwb = offered.get("client_max_window_bits")
        if cmwb is None:
            raise ValueError("RFC 7692 7.1.2.2: client_max_window_bits in the answer %r, not offered" % answer_values)
        if cmwb is not True and got["client_max_window_bits"] > cmwb:
            raise ValueError("RFC 7692 7.1.2.2: client_max_window_bits above the offered %d in %r" % (cmwb, answer_values))
    return got


def pmd_for(agreed, harness_is):
    """The wire.Pmd of the harness for the agreed parameters."""
    s = (agreed.get("server_max_window_bits", 15), bool(agreed.get("server_no_context_takeover")))
    c = agreed.get("client_max_window_bits", 15)
    c = (15 if c is True else c, bool(agreed.get("client_no_context_takeover")))
    mine, theirs = (c, s) if harness_is == "client" else (s, c)
    return wire.Pmd(send_bits=mine[0], send_reset=mine[1], recv_bits=theirs[0], recv_reset=theirs[1])


class Deflate:
    """How a case negotiates. Role "server" (harness = client): it sends
    `offer`; `accepts` says whether parley must accept one of its offers.
    Role "client" (harness = server): it answers parley's offer with `answer`
    (None: no extension); `refuse` when that answer breaks RFC 7692 and
    parley must fail the connection."""

    def __init__(self, offer="permessage-deflate", accepts=True, answer="permessage-deflate", refuse=False):
        self.offer, self.accepts, self.answer, self.refuse = offer, accepts, answer, refuse

    def negotiate(self, answer_values):
        """Role "server": checks parley's answer; returns the harness's Pmd."""
        offered = first_acceptable(self.offer)
        if not self.accepts or offered is None:
            if answer_values:
                raise ValueError("RFC 7692 5: parley accepted %r, which it must decline (answer %r)"
                                 % (self.offer, answer_values))
            return None
        if not answer_values:
            raise ValueError("parley declined the acceptable offer %r" % self.offer)
        return pmd_for(check_answer(offered, answer_values), "client")

    def respond(self, offer_values):
        """Role "client": the answer to parley's offer, and the harness's Pmd."""
        if self.answer is None or self.refuse:
            return self.answer, None
        agreed = check_params(parse_extensions([self.answer])[0][1], answer=True)
        return self.answer, pmd_for(agreed, "server")


def check_offer(ch):
    """Role "client": parley's offer must be a valid permessage-deflate offer
    allowing client_max_window_bits (what the cases answer with)."""
    offered = first_acceptable(", ".join(ch.extensions or []))
    if offered is None:
        return "parley's offer %r is not an acceptable permessage-deflate offer" % (ch.extensions,)
    if "client_max_window_bits" not in offered:
        return "parley's offer %r has no client_max_window_bits (the answers use it)" % (ch.extensions,)
    return None


def dcase(id, desc, rfc, run, deflate=None, exit_codes=(0, 5), roles=("server", "client")):
    c = Case(id, desc, "RFC 7692 " + rfc, run, custom=True)
    c.roles = roles             # the roles the case runs in
    c.deflate = deflate or Deflate()
    c.exit_codes = exit_codes   # parley connect's acceptable exit statuses
    CASES.append(c)


def rng_text(n, seed):
    """JSON-like text of n bytes: compresses well, with matches near and far."""
    r = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "\u00b5s", "\u20ac", "id", "name", "value", "true", "null", "42"]
    out, size = [], 0
    while size < n:
        w = '{"%s":"%s%d"},' % (r.choice(words), r.choice(words), r.randrange(1000))
        out.append(w)
        size += len(w.encode())
    data = "".join(out).encode()[:n]
    while True:   # cut on a code point boundary, pad with ASCII
        try:
            data.decode("utf-8")
            break
        except UnicodeDecodeError:
            data = data[:-1]
    return data + b" " * (n - len(data))


def rng_binary(n, seed):
    """Binary of n bytes: a random 700-byte block repeated with variations,
    so it has back-references at distances beyond small windows."""
    r = random.Random(seed)
    block = bytes(r.randrange(256) for _ in range(700))
    out = bytearray()
    while len(out) < n:
        out += block
        out += bytes(r.randrange(256) for _ in range(r.randrange(1, 40)))
    return bytes(out[:n])


def verdict_of(ch, sent, role, extra=None):
    """Common ending: our close, the peer's reply, the echo compared."""
    ch.wait_events(len(sent), 30.0)
    if ch.close_frame is None and not ch.eof:
        ch.send_close(1000)
    ch.wait_closed_by_peer(5.0)
    got = [e.key() for e in ch.events]
    if ch.violations:
        return FAILED, "parley violated the RFCs: " + "; ".join(sorted(set(ch.violations)))
    if got != sent:
        return FAILED, "expected %d echoed message(s), received %d%s" % (
            len(sent), len(got), " (different content)" if len(got) == len(sent) else "")
    if ch.close_frame is None or ch.close_frame[0] != 1000:
        return FAILED, "close reply %s, expected 1000" % (ch.close_frame,)
    comp = sum(1 for e in ch.events if e.compressed)
    wire_bytes = sum(e.wire_size for e in ch.events)
    total = sum(len(e.payload) for e in ch.events)
    text = "%d/%d echoes compressed, %d -> %d bytes" % (comp, len(ch.events), total, wire_bytes)
    if extra:
        verdict, more = extra(ch)
        return verdict, text + ("; " + more if more else "")
    return OK, text


def echo(messages, frag=None, extra=None):
    """run(ch, role): sends each (kind, payload) message compressed (in frames
    of `frag` compressed bytes when given), expects the same echoed back."""
    def run(ch, role):
        try:
            for kind, payload in messages:
                op = TEXT if kind == "text" else BINARY
                if not ch.send(ch.message_frames(op, payload, frag)):
                    break
            return verdict_of(ch, list(messages), role, extra)
        finally:
            ch.shutdown()
    return run


# ---- 12 compressed echo, default offer ---------------------------------------------------------
KB, MB = 1024, 1024 * 1024
SIZES12 = [16, 64, 256, KB, 4 * KB, 16 * KB, 64 * KB, 256 * KB, MB]


def size(n):
    return "%d MiB" % (n // MB) if n >= MB else "%d KiB" % (n // KB) if n >= KB else "%d bytes" % n


for sub, kind, mk in ((1, "text", rng_text), (2, "binary", rng_binary)):
    for i, n in enumerate(SIZES12, 1):
        count = 10 if n <= 64 * KB else 3 if n <= 256 * KB else 2
        msgs = [(kind, mk(n, seed)) for seed in range(count)]
        dcase("12.%d.%d" % (sub, i), "%d %s messages of %s, compressed, default offer" % (count, kind, size(n)),
              "6, 7.2", echo(msgs))
        frag = max(4, n // 20)
        dcase("12.%d.%d" % (sub + 2, i), "%d %s messages of %s, compressed, in fragments of about %d compressed bytes"
              % (count, kind, size(n), frag // 4), "6.1, 7.2", echo(msgs, frag=max(1, frag // 4)))


def far_matches(seed):
    """Binary whose only matches are 200-byte repeats 600, 1100, 4200 and
    17000 bytes back: a peer limited to a 9, 10, 12 or 14-bit window cannot
    use them; one that ignores the limit does, and fails to inflate."""
    r = random.Random(seed)
    out = bytearray()
    for d in (600, 1100, 4200, 17000):
        block = bytes(r.randrange(256) for _ in range(d))
        out += block + block[:200]
    return bytes(out)


# ---- 13 parameters ----------------------------------------------------------------------------
# Messages that tell the parameters apart: two equal messages in a row (a
# peer keeping its context sends the second as a back-reference to the
# first), binary with matches 700 bytes back (beyond a 9-bit window), and
# binary with matches just beyond 9, 10, 12 and 14-bit windows.
MSG13 = [("text", rng_text(2000, 1)), ("text", rng_text(2000, 1)), ("binary", rng_binary(3000, 2)),
         ("binary", rng_binary(3000, 2)), ("binary", far_matches(3)), ("text", b"short")]


def takeover_note(ch):
    """A note (never a failure): did parley use its context (the repeated
    message much smaller the second time)?"""
    ev = ch.events
    if len(ev) >= 2 and ev[0].compressed and ev[1].compressed:
        return OK, "repeated message: %d then %d bytes (%s)" % (
            ev[0].wire_size, ev[1].wire_size, "context used" if ev[1].wire_size < ev[0].wire_size // 2 else "no gain from context")
    return OK, ""


def all_uncompressed(ch):
    comp = [e for e in ch.events if e.compressed]
    if comp:
        return FAILED, "%d echo(es) compressed where parley may not compress" % len(comp)
    return OK, ""


# Role "server": the harness offers; the answer is checked against 7692 7.1.
# Role "client": the harness answers parley's offer (which must allow client_max_window_bits).
COMBOS = [
    ("permessage-deflate", "permessage-deflate"),
    ("permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits=15"),
    ("permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"),
    ("permessage-deflate; client_no_context_takeover", "permessage-deflate; client_no_context_takeover"),
    ("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
]
for n in (8, 9, 10, 12, 15):
    COMBOS.append(("permessage-deflate; server_max_window_bits=%d" % n,
                   "permessage-deflate; server_max_window_bits=%d" % n))
for n in (8, 9, 10, 12, 15):
    COMBOS.append(("permessage-deflate; client_max_window_bits=%d" % n,
                   "permessage-deflate; client_max_window_bits=%d" % n))
COMBOS.append(("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
               "server_max_window_bits=9; client_max_window_bits=9",
               "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
               "server_max_window_bits=9; client_max_window_bits=9"))
COMBOS.append(("permessage-deflate; client_max_window_bits; server_max_window_bits=10",
               "permessage-deflate; client_max_window_bits=10; server_max_window_bits=10"))


for i, (offer, answer) in enumerate(COMBOS, 1):
    dcase("13.1.%d" % i, "offer %r (server role) / answer %r (client role), then compressed echo" % (offer, answer),
          "7.1, 7.2", echo(MSG13, extra=takeover_note),
          deflate=Deflate(offer=offer, answer=answer))
    dcase("13.2.%d" % i, "as 13.1.%d, messages fragmented (compressed payload in frames of 300 bytes)" % i,
          "6.1, 7.1, 7.2", echo(MSG13, frag=300, extra=takeover_note), deflate=Deflate(offer=offer, answer=answer))

# Several offers in one header (role server) / answers parley must refuse (role client).
MULTI = [
    ("permessage-deflate; server_max_window_bits=10, permessage-deflate", True),
    ("permessage-deflate; foo=1, permessage-deflate; server_no_context_takeover", True),
    ("permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits=9", True),
    ("x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover", True),
    ("permessage-deflate; server_max_window_bits=7", False),
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", False),
    ("permessage-deflate; client_max_window_bits=16", False),
    ("permessage-deflate; server_max_window_bits", False),
    ("permessage-deflate; server_max_window_bits=010", False),
    ("permessage-deflate; client_no_context_takeover=1", False),
    ("x-webkit-deflate-frame", False),
]
BAD_ANSWERS = [
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_max_window_bits=16",
    "permessage-deflate; foo",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate, permessage-deflate",
    "x-webkit-deflate-frame",
    "permessage-deflate; server_no_context_takeover=yes",
]


for i, (offer, accepts) in enumerate(MULTI, 1):
    dcase("13.3.%d" % i, "offer %r: parley %s" % (offer, "accepts the first valid offer" if accepts else
                                                   "must decline (no extension, uncompressed echo)"),
          "5, 7.1", echo(MSG13, extra=None if accepts else all_uncompressed),
          deflate=Deflate(offer=offer, accepts=accepts), roles=("server",))


def refused(ch, role):
    """Role "client": after an answer that breaks RFC 7692, parley must fail
    the connection (RFC 6455 4.1 / 9.1): send nothing, close TCP."""
    try:
        closed = ch.wait_eof(5.0)
        if ch.events:
            return FAILED, "parley accepted the answer %r and exchanged messages" % (ch.extensions,)
        if not closed:
            return FAILED, "parley kept the connection open after an answer it must refuse"
        return OK, "closed%s" % (" with close %s" % (ch.close_frame[0],) if ch.close_frame else " (TCP)")
    finally:
        ch.shutdown()


for i, answer in enumerate(BAD_ANSWERS, 1):
    dcase("13.4.%d" % i, "answer %r: parley's client must fail the connection" % answer, "7.1 (5)",
          refused, deflate=Deflate(answer=answer, refuse=True), exit_codes=(4, 5), roles=("client",))

dcase("13.5.1", "no extension in the answer: parley's client goes on uncompressed", "5",
      echo(MSG13, extra=all_uncompressed), deflate=Deflate(answer=None), roles=("client",))


# ---- 13.6 frame-level errors with compression on ------------------------------------------------


def send_then_fail(build, codes=(1002,), wait=3.0):
    def run(ch, role):
        try:
            ch.send(build(ch))
            ch.wait_closed_by_peer(wait)
            if ch.close_frame is not None and not ch.close_sent:
                ch.send_close(ch.close_frame[0] if wire.valid_close_code(ch.close_frame[0] or 0) else None)
            if ch.close_frame is None:
                return FAILED if not ch.eof else NON_STRICT, "no close frame (%s)" % ("TCP dropped" if ch.eof else "timeout")
            if ch.close_frame[0] not in codes:
                return FAILED, "failed with %s, expected %s" % (ch.close_frame[0], "/".join(map(str, codes)))
            if ch.events:
                return FAILED, "echoed %d message(s) first" % len(ch.events)
            return OK, "close %d" % ch.close_frame[0]
        finally:
            ch.shutdown()
    return run


def compressed_ping(ch):
    return ch.frame(PING, zlib.compressobj(6, zlib.DEFLATED, -15).compress(b"hi") + b"\x03\x00", rsv=4)


def rsv1_continuation(ch):
    packed = ch.pmd.compress(b"Hello, world! " * 40)
    half = len(packed) // 2
    return ch.frame(TEXT, packed[:half], fin=False, rsv=4) + ch.frame(CONT, packed[half:], rsv=4)


def rsv1_uncompressed_continuation(ch):
    return ch.frame(TEXT, b"Hello, ", fin=False) + ch.frame(CONT, b"world!", rsv=4)


def compressed_close(ch):
    return ch.frame(wire.CLOSE, b"\x03\xe8", rsv=4)


def bomb(ch):
    """65 MiB of zeros in one compressed frame of about 64 KiB: past the
    default max message size (64 MiB) once inflated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(MB)
    out = [c.compress(chunk) for _ in range(65)]
    out.append(c.flush(zlib.Z_SYNC_FLUSH)[:-4])
    return ch.frame(BINARY, b"".join(out), rsv=4)


def garbage(ch):
    return ch.frame(BINARY, b"\xff\xff\xff\xff\xff\xff", rsv=4)


dcase("13.6.1", "a ping with RSV1 (compressed control frame)", "6.1", send_then_fail(compressed_ping))
dcase("13.6.2", "a close with RSV1", "6.1", send_then_fail(compressed_close))
dcase("13.6.3", "RSV1 on the continuation frame of a compressed message", "6.1", send_then_fail(rsv1_continuation))
dcase("13.6.4", "RSV1 on the continuation frame of an uncompressed message", "6.1",
      send_then_fail(rsv1_uncompressed_continuation))
dcase("13.6.5", "compression bomb: one ~64 KiB frame inflating to 65 MiB (max message size 64 MiB)", "6.2, RFC 6455 10.4",
      send_then_fail(bomb, codes=(1009,), wait=10.0))
dcase("13.6.6", "parley: a compressed frame that is not a deflate stream", "6.2", send_then_fail(garbage, codes=(1002, 1007)))
