"""parley's conformance cases, in the categories of the Autobahn|Testsuite.

The case list follows the public case catalogue of the Autobahn testsuite
(categories 1-7, 9, 10; ids and intent), written anew for this harness, plus
a few cases of parley's own (marked "parley:" in their description). Each
case names the RFC 6455 section it checks.

A case is data plus a `run(ch)` that writes to a `wire.Channel`:
  expect     what the peer must send back, in order ((kind, payload) tuples;
             kind is "text", "binary" or "pong"), for an OK verdict
  nonstrict  other sequences that give NON-STRICT instead of FAILED
  by         "me": the harness closes (1000, after `expect` arrived) unless
             run() already sent a close; the peer's close reply must carry a
             code in `codes` (None = no code).
             "peer": the peer must fail the connection with a code in `codes`.
  info       INFORMATIONAL: what happened is reported, never a failure
  hook       hook(ch, notes, verdict, reason) -> (verdict, reason), for
             checks beyond the above (fail-fast, timings)
  custom     run(ch, role) decides the verdict itself: returns (verdict, reason)
"""

import time

from wire import BINARY, CLOSE, CONT, PING, PONG, TEXT, close_payload

OK, NON_STRICT, INFORMATIONAL, FAILED = "OK", "NON-STRICT", "INFORMATIONAL", "FAILED"


class Case:
    def __init__(self, id, desc, rfc, run, expect=(), nonstrict=(), by="me", codes=(1000,),
                 timeout=5.0, info=False, hook=None, custom=False):
        self.id, self.desc, self.rfc, self.run = id, desc, rfc, run
        self.expect = list(expect)
        self.nonstrict = [list(alt) for alt in nonstrict]
        self.by, self.codes, self.timeout = by, tuple(codes), timeout
        self.info, self.hook, self.custom = info, hook, custom

    @property
    def category(self):
        return int(self.id.split(".")[0])


CASES = []


def case(*args, **kwargs):
    CASES.append(Case(*args, **kwargs))


def F(op, payload=b"", fin=True, rsv=0):
    if isinstance(payload, str):
        payload = payload.encode()
    return (op, payload, fin, rsv)


def frames(*specs, chop=None, delay=0.0, per_frame=False, frame_delay=0.0):
    """A run() writing frames: in one write; or chopped into writes of
    `chop` bytes; or one write per frame with `frame_delay` between."""
    def run(ch, notes):
        data = [ch.frame(*s) for s in specs]
        if per_frame:
            for i, d in enumerate(data):
                if i and frame_delay:
                    time.sleep(frame_delay)
                if not ch.send(d, chop, delay):
                    return
        else:
            ch.send(b"".join(data), chop, delay)
    return run


def T(s):
    return ("text", s.encode() if isinstance(s, str) else s)


def B(b):
    return ("binary", b)


def P(b):
    return ("pong", b.encode() if isinstance(b, str) else b)


# The peer fails at once; 3 s is the bound on a loaded machine.
FAIL = dict(by="peer", codes=(1002,), timeout=3.0)
FAIL_UTF8 = dict(by="peer", codes=(1007,), timeout=3.0)

HW = "Hello, world!"

def slow_header(op, payload):
    """Each header byte (and the masking key) in its own write, 5 ms apart,
    so the peer surely sees every partial header; then the payload."""
    def run(ch, notes):
        data = ch.frame(op, payload)
        hdr = len(data) - len(payload)
        if ch.send(data[:hdr], 1, 0.005):
            ch.send(data[hdr:])
    return run


# ---- 1 framing (RFC 6455 5.2, 5.6) --------------------------------------------
LENGTHS = [0, 125, 126, 127, 128, 65535, 65536]
for sub, op, kind, fill in ((1, TEXT, T, b"*"), (2, BINARY, B, b"\xfe")):
    name = "text" if op == TEXT else "binary"
    for i, n in enumerate(LENGTHS, 1):
        case("1.%d.%d" % (sub, i), "%s message, payload %d bytes" % (name, n), "5.2 (7/16/64-bit length), 5.6",
             frames(F(op, fill * n)), expect=[kind(fill * n)])
    case("1.%d.8" % sub, "%s message, payload 65536 bytes, written in 997-byte chops" % name, "5.2",
         frames(F(op, fill * 65536), chop=997), expect=[kind(fill * 65536)])
    for i, n in enumerate((125, 126, 127, 65536), 9):
        case("1.%d.%d" % (sub, i), "parley: %s message of %d bytes, the whole frame written 1 byte at a time" % (name, n),
             "5.2 (partial headers)", frames(F(op, fill * n), chop=1), expect=[kind(fill * n)],
             timeout=15.0)
    for i, n in enumerate((126, 65536), 13):
        case("1.%d.%d" % (sub, i), "parley: %s message of %d bytes, the header written 1 byte per 5 ms, then the payload"
             % (name, n), "5.2 (partial headers)", slow_header(op, fill * n), expect=[kind(fill * n)])


def raw_header(b0, length_bytes, payload=b""):
    """A run() writing a hand-made header (masked with a zero key when the
    harness is the client, so the payload bytes go out as given)."""
    def run(ch, notes):
        b1 = length_bytes[0] | (0x80 if ch.mask else 0)
        ch.send(bytes([b0, b1]) + length_bytes[1:] + (b"\0\0\0\0" if ch.mask else b"") + payload)
    return run


def wrong_mask(ch, notes):
    from wire import encode_frame
    ch.send(encode_frame(TEXT, HW.encode(), mask=not ch.mask))


case("1.3.1", "parley: 64-bit payload length with the most significant bit set", "5.2",
     raw_header(0x82, b"\x7f" + (1 << 63).to_bytes(8, "big")), by="peer", codes=(1002, 1009), timeout=3.0)
case("1.3.2", "parley: a binary frame announcing 1 TiB (over any message limit), no payload sent", "10.4, 7.4.1 (1009)",
     raw_header(0x82, b"\x7f" + (1 << 40).to_bytes(8, "big")), by="peer", codes=(1009,), timeout=3.0)
case("1.4.1", "parley: a text frame masked the wrong way for the role (unmasked to a server, masked to a client)",
     "5.1, 5.3", wrong_mask, by="peer", codes=(1002,), timeout=3.0)

# ---- 2 ping/pong (5.5.2, 5.5.3) --------------------------------------------------
case("2.1", "ping, no payload", "5.5.2", frames(F(PING)), expect=[P(b"")])
case("2.2", "ping, 125 bytes of text payload", "5.5.2", frames(F(PING, "*" * 125)), expect=[P("*" * 125)])
BIN8 = bytes([0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF])
case("2.3", "ping, binary payload", "5.5.2", frames(F(PING, BIN8)), expect=[P(BIN8)])
case("2.4", "ping, 125 bytes of binary payload", "5.5.2", frames(F(PING, b"\xfe" * 125)), expect=[P(b"\xfe" * 125)])
case("2.5", "ping, 126 bytes of payload: control frame too long", "5.5", frames(F(PING, b"\xfe" * 126)), **FAIL)
case("2.6", "ping, 125 bytes, written 1 byte at a time", "5.5.2", frames(F(PING, "*" * 125), chop=1),
     expect=[P("*" * 125)])
case("2.7", "unsolicited pong, no payload: ignored", "5.5.3", frames(F(PONG)))
case("2.8", "unsolicited pong with payload: ignored", "5.5.3", frames(F(PONG, "unsolicited pong payload")))
case("2.9", "unsolicited pong, then ping: one pong, for the ping", "5.5.3",
     frames(F(PONG, "unsolicited pong payload"), F(PING, "ping payload")), expect=[P("ping payload")])
TEN = [F(PING, "payload-%d" % i) for i in range(10)]
TEN_PONGS = [P("payload-%d" % i) for i in range(10)]


def last_only_ok(ch, notes, verdict, reason):
    # 5.5.3: a peer MAY answer only the most recent of several pings.
    got = [e.key() for e in ch.events]
    if verdict == FAILED and got and got[-1] == TEN_PONGS[-1] and all(k in TEN_PONGS for k in got) \
            and got == sorted(got, key=TEN_PONGS.index) and not ch.violations:
        return OK, "pongs for %d of 10 pings, the last included (5.5.3 allows it)" % len(got)
    return verdict, reason


case("2.10", "10 pings in a row: pongs (at least for the last)", "5.5.2, 5.5.3", frames(*TEN),
     expect=TEN_PONGS, hook=last_only_ok)
case("2.11", "10 pings, written 1 byte at a time", "5.5.2, 5.5.3", frames(*TEN, chop=1),
     expect=TEN_PONGS, hook=last_only_ok)

# ---- 3 reserved bits (5.2) ------------------------------------------------------------
case("3.1", "text with RSV=1", "5.2", frames(F(TEXT, HW, rsv=1)), **FAIL)
case("3.2", "text, then text with RSV=2, then ping", "5.2",
     frames(F(TEXT, HW), F(TEXT, HW, rsv=2), F(PING, HW)), expect=[T(HW)], nonstrict=[[]], **FAIL)
case("3.3", "text, then text with RSV=3, then ping, 1 byte at a time", "5.2",
     frames(F(TEXT, HW), F(TEXT, HW, rsv=3), F(PING, HW), chop=1), expect=[T(HW)], nonstrict=[[]], **FAIL)
case("3.4", "text, then text with RSV=4, then ping, one write per frame", "5.2",
     frames(F(TEXT, HW), F(TEXT, HW, rsv=4), F(PING, HW), per_frame=True, frame_delay=0.05),
     expect=[T(HW)], nonstrict=[[]], **FAIL)
case("3.5", "binary with RSV=5", "5.2", frames(F(BINARY, BIN8, rsv=5)), **FAIL)
case("3.6", "ping with RSV=6", "5.2", frames(F(PING, HW, rsv=6)), **FAIL)
case("3.7", "close with RSV=7", "5.2", frames(F(CLOSE, close_payload(1000), rsv=7)), **FAIL)

# ---- 4 opcodes (5.2) --------------------------------------------------------------------
for sub, ops in ((1, (3, 4, 5, 6, 7)), (2, (11, 12, 13, 14, 15))):
    kind = "data" if sub == 1 else "control"
    a, b, c, d, e = ops
    case("4.%d.1" % sub, "reserved %s opcode %d" % (kind, a), "5.2", frames(F(a)), **FAIL)
    case("4.%d.2" % sub, "reserved %s opcode %d with payload" % (kind, b), "5.2", frames(F(b, "reserved opcode payload")), **FAIL)
    case("4.%d.3" % sub, "text, reserved opcode %d, ping" % c, "5.2",
         frames(F(TEXT, HW), F(c), F(PING, HW)), expect=[T(HW)], nonstrict=[[]], **FAIL)
    case("4.%d.4" % sub, "text, reserved opcode %d with payload, ping; 1 byte at a time" % d, "5.2",
         frames(F(TEXT, HW), F(d, "reserved opcode payload"), F(PING, HW), chop=1),
         expect=[T(HW)], nonstrict=[[]], **FAIL)
    case("4.%d.5" % sub, "text, reserved opcode %d with payload, ping; one write per frame" % e, "5.2",
         frames(F(TEXT, HW), F(e, "reserved opcode payload"), F(PING, HW), per_frame=True, frame_delay=0.05),
         expect=[T(HW)], nonstrict=[[]], **FAIL)

# ---- 5 fragmentation (5.4) ---------------------------------------------------------------
case("5.1", "ping in 2 fragments", "5.4, 5.5", frames(F(PING, "fragment1", fin=False), F(CONT, "fragment2")), **FAIL)
case("5.2", "pong in 2 fragments", "5.4, 5.5", frames(F(PONG, "fragment1", fin=False), F(CONT, "fragment2")), **FAIL)
TWO = [F(TEXT, "fragment1", fin=False), F(CONT, "fragment2")]
MODES = [("", {}), (", 1 byte at a time", {"chop": 1}), (", one write per frame", {"per_frame": True, "frame_delay": 0.05})]
for i, (how, kw) in enumerate(MODES):
    case("5.%d" % (3 + i), "text in 2 fragments" + how, "5.4", frames(*TWO, **kw), expect=[T("fragment1fragment2")])
for i, (how, kw) in enumerate(MODES):
    case("5.%d" % (6 + i), "text in 2 fragments, a ping between them" + how, "5.4 (control frames inside a message)",
         frames(TWO[0], F(PING, "ping payload"), TWO[1], **kw), expect=[P("ping payload"), T("fragment1fragment2")])
for i, (how, kw) in enumerate(MODES):
    case("5.%d" % (9 + i), "continuation (FIN) with no message started, then text" + how, "5.4",
         frames(F(CONT, "non-continuation payload"), F(TEXT, HW), **kw), **FAIL)
for i, (how, kw) in enumerate(MODES):
    case("5.%d" % (12 + i), "continuation (no FIN) with no message started, then text" + how, "5.4",
         frames(F(CONT, "non-continuation payload", fin=False), F(TEXT, HW), **kw), **FAIL)
case("5.15", "text in 2 fragments, then continuation (no FIN) and text (FIN)", "5.4",
     frames(F(TEXT, "fragment1", fin=False), F(CONT, "fragment2"), F(CONT, "fragment3", fin=False), F(TEXT, "fragment4")),
     expect=[T("fragment1fragment2")], nonstrict=[[]], **FAIL)
case("5.16", "twice: continuation (no FIN), text (no FIN), continuation (FIN)", "5.4",
     frames(*[F(CONT, "fragment1", fin=False), F(TEXT, "fragment2", fin=False), F(CONT, "fragment3")] * 2), **FAIL)
case("5.17", "twice: continuation (FIN), text (no FIN), continuation (FIN)", "5.4",
     frames(*[F(CONT, "fragment1"), F(TEXT, "fragment2", fin=False), F(CONT, "fragment3")] * 2), **FAIL)
case("5.18", "text (no FIN), then text (FIN): a new message inside a fragmented one", "5.4",
     frames(F(TEXT, "fragment1", fin=False), F(TEXT, "fragment2")), **FAIL)


def five_fragments(chop):
    def run(ch, notes):
        send = lambda *specs: ch.send(b"".join(ch.frame(*s) for s in specs), chop)
        send(F(TEXT, "fragment1", fin=False), F(CONT, "fragment2", fin=False), F(PING, "pongme 1!"))
        time.sleep(0.2)
        send(F(CONT, "fragment3", fin=False))
        time.sleep(0.2)
        send(F(CONT, "fragment4", fin=False), F(PING, "pongme 2!"))
        time.sleep(0.2)
        send(F(CONT, "fragment5"))
    return run


case("5.19", "text in 5 fragments with pauses, pings after the 2nd and 4th", "5.4",
     five_fragments(None), expect=[P("pongme 1!"), P("pongme 2!"), T("fragment1fragment2fragment3fragment4fragment5")])
case("5.20", "as 5.19, 1 byte at a time", "5.4",
     five_fragments(1), expect=[P("pongme 1!"), P("pongme 2!"), T("fragment1fragment2fragment3fragment4fragment5")])

# ---- 6 UTF-8 (5.6, 8.1) -------------------------------------------------------------------
case("6.1.1", "empty text message", "5.6", frames(F(TEXT)), expect=[T("")])
case("6.1.2", "empty text message in 3 empty fragments", "5.4, 5.6",
     frames(F(TEXT, fin=False), F(CONT, fin=False), F(CONT)), expect=[T("")])
case("6.1.3", "text in 3 fragments, first and last empty", "5.4, 5.6",
     frames(F(TEXT, fin=False), F(CONT, "middle frame payload", fin=False), F(CONT)), expect=[T("middle frame payload")])

HELLO = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!".encode()
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"


def split_codepoints(data):
    s = data.decode()
    return [c.encode() for c in s]


def octet_fragments(data, op=TEXT):
    if not data:
        return [F(op)]
    return [F(op if i == 0 else CONT, data[i:i + 1], fin=(i == len(data) - 1)) for i in range(len(data))]


def cp_fragments(data):
    parts = split_codepoints(data)
    return [F(TEXT if i == 0 else CONT, p, fin=(i == len(parts) - 1)) for i, p in enumerate(parts)]


case("6.2.1", "valid UTF-8 text in one frame", "8.1", frames(F(TEXT, HELLO)), expect=[T(HELLO)])
case("6.2.2", "valid UTF-8 text, fragmented on code point boundaries", "5.4, 8.1",
     frames(*cp_fragments(HELLO)), expect=[T(HELLO)])
case("6.2.3", "valid UTF-8 text, fragmented on every octet (code points split)", "5.4, 8.1",
     frames(*octet_fragments(HELLO)), expect=[T(HELLO)])
case("6.2.4", "valid UTF-8 text 'kosme', fragmented on every octet", "5.4, 8.1",
     frames(*octet_fragments(KOSME)), expect=[T(KOSME)])

BAD = KOSME + b"\xed\xa0\x80" + b"edited"
case("6.3.1", "invalid UTF-8 text (a surrogate) in one frame", "8.1", frames(F(TEXT, BAD)), **FAIL_UTF8)
case("6.3.2", "invalid UTF-8 text, fragmented on every octet", "5.4, 8.1", frames(*octet_fragments(BAD)), **FAIL_UTF8)


def fail_fast(first, rest):
    """Writes `first`, waits up to 1 s for the peer to fail, then `rest`."""
    def run(ch, notes):
        ch.send(b"".join(ch.frame(*s) for s in first) if isinstance(first, list) else first(ch))
        notes["fail_fast"] = bool(ch.wait_closed_by_peer(1.0))
        if not notes["fail_fast"]:
            ch.send(b"".join(ch.frame(*s) for s in rest) if isinstance(rest, list) else rest(ch))
    return run


def fail_fast_hook(ch, notes, verdict, reason):
    if verdict == OK and not notes.get("fail_fast"):
        return NON_STRICT, "failed the connection (1007) only once the rest arrived, not on the invalid bytes (8.1 fail fast)"
    return verdict, reason


case("6.4.1", "fail fast: 3 fragments; the 2nd (invalid: U+110000) must fail it before the 3rd is sent", "8.1, 5.4",
     fail_fast([F(TEXT, KOSME, fin=False), F(CONT, b"\xf4\x90\x80\x80", fin=False)], [F(CONT, b"edited")]),
     hook=fail_fast_hook, **FAIL_UTF8)
case("6.4.2", "fail fast: 3 fragments, the invalid sequence starts in the 1st and continues in the 2nd", "8.1, 5.4",
     fail_fast([F(TEXT, KOSME + b"\xf4", fin=False), F(CONT, b"\x90\x80\x80", fin=False)], [F(CONT, b"edited")]),
     hook=fail_fast_hook, **FAIL_UTF8)


def one_frame_parts(cut1, cut2):
    """A single text frame KOSME + F4 90 80 80 + 'edited', written in two
    parts cut inside the payload: returns (first(ch), rest(ch)) that share one
    encoding of the frame."""
    payload = KOSME + b"\xf4\x90\x80\x80" + b"edited"
    state = {}

    def first(ch):
        state["data"] = ch.frame(TEXT, payload)
        hdr = len(state["data"]) - len(payload)
        state["cut"] = hdr + cut1
        return state["data"][:state["cut"]]

    def rest(ch):
        return state["data"][state["cut"]:]
    return first, rest


case("6.4.3", "fail fast: one text frame written in parts; the part ending after the invalid U+110000 must fail it",
     "8.1", fail_fast(*one_frame_parts(len(KOSME) + 4, None)), hook=fail_fast_hook, **FAIL_UTF8)
case("6.4.4", "fail fast: one text frame written in parts, cut right after the byte F4 90 that makes it invalid",
     "8.1", fail_fast(*one_frame_parts(len(KOSME) + 2, None)), hook=fail_fast_hook, **FAIL_UTF8)

# The UTF-8 vectors (Markus Kuhn's decoder stress test, as in Autobahn 6.5-6.23).
V = []   # (group, description, bytes, valid)


def group(g, desc, valid, items):
    for b in items:
        V.append((g, desc, b, valid))


group(5, "valid: 'kosme'", True, [KOSME, b"\xce\xba", b"\xce\xba\xe1\xbd\xb9", b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc", HELLO])
group(6, "prefixes of 'kosme' (odd ones end inside a code point)", None, [KOSME[:i] for i in range(1, len(KOSME) + 1)])
group(7, "first code point of each length", True, [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80"])
group(8, "5- and 6-byte sequences", False, [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"])
group(9, "last code point of each length", True, [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf"])
group(10, "past U+10FFFF", False, [b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf\xbf"])
group(11, "other boundaries", None, [b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbd", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80"])
group(12, "unexpected continuation bytes", False,
      [b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf", b"\x80\xbf\x80\xbf\x80",
       b"\x80\xbf\x80\xbf\x80\xbf", bytes(range(0x80, 0xC0))])
group(13, "lonely start bytes, each followed by a space", False,
      [b"".join(bytes([c]) + b" " for c in rng) for rng in
       (range(0xC0, 0xE0), range(0xE0, 0xF0), range(0xF0, 0xF8), range(0xF8, 0xFC), range(0xFC, 0xFE))])
MISSING = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
           b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
group(14, "sequences with the last continuation byte missing", False, MISSING)
group(15, "all of 6.14 concatenated", False, [b"".join(MISSING)])
group(16, "impossible bytes", False, [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"])
group(17, "overlong '/'", False, [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xf8\x80\x80\x80\xaf",
                                   b"\xfc\x80\x80\x80\x80\xaf"])
group(18, "maximum overlong sequences", False, [b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf",
                                                 b"\xf8\x87\xbf\xbf\xbf", b"\xfc\x83\xbf\xbf\xbf\xbf"])
group(19, "overlong NUL", False, [b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"\xf8\x80\x80\x80\x80",
                                   b"\xfc\x80\x80\x80\x80\x80"])
group(20, "single UTF-16 surrogates", False, [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf",
                                                b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"])
group(21, "paired UTF-16 surrogates", False,
      [a + b for a in (b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf")
       for b in (b"\xed\xb0\x80", b"\xed\xbf\xbf")])
group(22, "noncharacters (valid UTF-8)", True,
      [b"\xef\xbf\xbe", b"\xef\xbf\xbf"] + [chr(p * 0x10000 + low).encode() for p in range(1, 17) for low in (0xFFFE, 0xFFFF)])
group(23, "specials and replacement (valid)", True,
      [chr(c).encode() for c in (0xFFF9, 0xFFFA, 0xFFFB, 0xFFFC, 0xFFFD, 0xFEFF)] + [b"\xef\xbf\xbdx"])


def utf8_valid(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


counter = {}
for g, desc, data, valid in V:
    if valid is None:
        valid = utf8_valid(data)
    assert valid == utf8_valid(data), (g, data)  # the vector table and Python's strict decoder agree
    counter[g] = counter.get(g, 0) + 1
    cid = "6.%d.%d" % (g, counter[g])
    what = "%s: %s %s" % (desc, "valid" if valid else "invalid", data.hex(" ") if len(data) <= 12 else "%d bytes" % len(data))
    ok = dict(expect=[T(data)]) if valid else dict(FAIL_UTF8)
    case(cid, what + ", one frame", "8.1 (5.6)", frames(F(TEXT, data)), **ok)
    case(cid + "f", what + ", one fragment per octet", "8.1, 5.4", frames(*octet_fragments(data)), **ok)
    case(cid + "c", what + ", one frame written 1 byte at a time", "8.1, 5.2", frames(F(TEXT, data), chop=1), **ok)

# ---- 7 close handling (5.5.1, 7) ------------------------------------------------------------


def then_close(*specs, close=close_payload(1000), after=()):
    def run(ch, notes):
        data = b"".join(ch.frame(*s) for s in specs)
        ch.send(data)
        ch.send_close(raw=close)
        if after:
            ch.send(b"".join(ch.frame(*s) for s in after))
    return run


case("7.1.1", "text, then close 1000: the text is echoed before the close reply", "7.1.2, 5.5.1",
     then_close(F(TEXT, HW)), expect=[T(HW)])
case("7.1.2", "close 1000 twice: one reply, the second close ignored", "5.5.1", then_close(after=[F(CLOSE, close_payload(1000))]))
case("7.1.3", "close, then ping: no pong after close", "5.5.1", then_close(after=[F(PING, HW)]))
case("7.1.4", "close, then text: no echo after close", "5.5.1", then_close(after=[F(TEXT, HW)]))
case("7.1.5", "text fragment, close, continuation: the message is never completed", "5.5.1",
     then_close(F(TEXT, "fragment1", fin=False), after=[F(CONT, "fragment2")]))
BIG = b"BAsd7&jh23" * 26214 + b"BAsd"   # 262144 bytes


def info_716(ch, notes, verdict, reason):
    got = [e.kind for e in ch.events]
    return INFORMATIONAL, "received %s before the close reply %s" % (got or "nothing", ch.close_frame and ch.close_frame[0])


case("7.1.6", "256 KiB text, close, ping: whether the echo is flushed before the close reply", "5.5.1, 7.1.2",
     then_close(F(TEXT, BIG), after=[F(PING, HW)]), expect=[T(BIG)], info=True, hook=info_716)
case("7.3.1", "close with empty payload: reply empty or 1000", "5.5.1, 7.1.5", then_close(close=b""), codes=(None, 1000))
case("7.3.2", "close with a 1-byte payload", "5.5.1", then_close(close=b"a"), codes=(1002,))
case("7.3.3", "close 1000, no reason", "7.4.1", then_close(), codes=(1000,))
case("7.3.4", "close 1000 with a 123-byte reason (payload 125)", "5.5, 5.5.1", then_close(close=close_payload(1000, "*" * 123)))
case("7.3.5", "close 1000 with a 124-byte reason (payload 126): control frame too long", "5.5",
     then_close(close=close_payload(1000, "*" * 124)), codes=(1002,))
case("7.5.1", "close 1000 with an invalid UTF-8 reason", "5.5.1, 8.1",
     then_close(close=close_payload(1000) + BAD), codes=(1007,))
for i, code in enumerate((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999), 1):
    case("7.7.%d" % i, "close with valid code %d" % code, "7.4.1, 7.4.2", then_close(close=close_payload(code)),
         codes=(1000, code))
for i, code in enumerate((0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999), 1):
    case("7.9.%d" % i, "close with invalid code %d" % code, "7.4.1, 7.4.2 (5.5.1)", then_close(close=close_payload(code)),
         codes=(1002,))


def info_code(ch, notes, verdict, reason):
    cf = ch.close_frame
    return INFORMATIONAL, "peer replied %s" % ("close %s" % (cf[0],) if cf else "by dropping TCP")


for i, code in enumerate((1012, 1013, 1014), 1):
    case("7.11.%d" % i, "parley: close with code %d (registered with IANA after RFC 6455)" % code, "7.4.2",
         then_close(close=close_payload(code)), codes=(1000, code, 1002), info=True, hook=info_code)
for i, code in enumerate((5000, 65535), 1):
    case("7.13.%d" % i, "close with code %d (outside the ranges of 7.4.2)" % code, "7.4.2",
         then_close(close=close_payload(code)), codes=(1000, code, 1002), info=True, hook=info_code)


# Close timeouts (parley's own cases): the harness stops answering.
def timeout_after_close(ch, role):
    """We close, the peer replies, we keep TCP open: the peer must drop TCP
    itself (a server at once, 7.1.1; a client after a reasonable time)."""
    ch.send_close(1000)
    if not ch.wait(lambda: ch.close_frame is not None or ch.eof, 5.0):
        return FAILED, "no close reply within 5 s"
    if ch.close_frame is None:
        return FAILED, "dropped TCP without replying to the close"
    t0 = ch.close_frame_t
    if not ch.wait_eof(8.0):
        return FAILED, "kept TCP open more than 8 s after the close handshake (we never closed it)"
    dt = ch.eof_t - t0
    return OK, "closed TCP %.2f s after its close reply" % dt


def timeout_after_fail(ch, role):
    """The peer fails the connection (reserved opcode); we never answer its
    close frame: it must still close TCP (7.1.7, 7.1.1)."""
    ch.send_frame(3)
    if not ch.wait(lambda: ch.close_frame is not None or ch.eof, 5.0):
        return FAILED, "did not fail the connection within 5 s"
    t0 = time.monotonic()
    if not ch.wait_eof(8.0):
        return FAILED, "kept TCP open more than 8 s after failing it, waiting for a close reply that never came"
    return OK, "close %s, then closed TCP %.2f s later without our reply" % (
        ch.close_frame[0] if ch.close_frame else "(none)", ch.eof_t - t0 if ch.eof_t > t0 else 0.0)


case("7.10.1", "parley: close timeout: the harness closes, then never closes TCP", "7.1.1, 7.1.2",
     timeout_after_close, custom=True)
case("7.10.2", "parley: close timeout: the peer fails the connection, the harness never replies", "7.1.7, 7.1.1",
     timeout_after_fail, custom=True)

# ---- 9 limits and performance (10.4) ------------------------------------------------------------
PAT = "0123456789\u00b5\u20ac!".encode()   # 16 bytes, whole code points
assert len(PAT) == 16
KB, MB = 1024, 1024 * 1024


def text_payload(n):
    return PAT * (n // 16)


def timed(ch, notes, verdict, reason):
    dt = notes.get("elapsed")
    if verdict == OK and dt is not None:
        return OK, "%.3f s" % dt
    return verdict, reason


def bulk(op, payload, frag=None, chop=None):
    def run(ch, notes):
        t0 = time.monotonic()
        if frag:
            n = len(payload)
            specs = [(op if i == 0 else CONT, payload[i:i + frag], i + frag >= n, 0) for i in range(0, n, frag)]
            data = b"".join(ch.frame(*s) for s in specs)
        else:
            data = ch.frame(op, payload)
        ch.send(data, chop)
        ch.wait_events(1, 30.0)
        notes["elapsed"] = time.monotonic() - t0
    return run


def round_trips(op, payload, count=1000):
    def run(ch, notes):
        t0 = time.monotonic()
        data = ch.frame(op, payload)
        for i in range(count):
            if not ch.send(data) or not ch.wait_events(i + 1, 10.0) or len(ch.events) <= i:
                break
        notes["elapsed"] = time.monotonic() - t0
    return run


SIZES = [64 * KB, 256 * KB, MB, 4 * MB, 8 * MB, 16 * MB]
FRAGS = [64, 256, KB, 4 * KB, 16 * KB, 64 * KB, 256 * KB, MB, 4 * MB]
CHOPS = [64, 128, 256, 512, 1024, 2048]
RT = [0, 16, 64, 256, KB, 4 * KB]


def size(n):
    return "%d MiB" % (n // MB) if n >= MB else "%d KiB" % (n // KB) if n >= KB else "%d bytes" % n


for op, base, kind, mk in ((TEXT, 1, "text", lambda n: text_payload(n)), (BINARY, 2, "binary", lambda n: b"\xfe" * n)):
    tk = T if op == TEXT else B
    for i, n in enumerate(SIZES, 1):
        p = mk(n)
        case("9.%d.%d" % (base, i), "%s message of %s" % (kind, size(n)), "5.2, 10.4", bulk(op, p), expect=[tk(p)],
             timeout=30.0, hook=timed)
    p4 = mk(4 * MB)
    for i, f in enumerate(FRAGS, 1):
        case("9.%d.%d" % (base + 2, i), "%s message of 4 MiB in fragments of %s" % (kind, size(f)), "5.4, 10.4",
             bulk(op, p4, frag=f), expect=[tk(p4)], timeout=30.0, hook=timed)
    p1 = mk(MB)
    for i, c in enumerate(CHOPS, 1):
        case("9.%d.%d" % (base + 4, i), "%s message of 1 MiB, one frame written in chops of %d bytes" % (kind, c),
             "5.2, 10.4", bulk(op, p1, chop=c), expect=[tk(p1)], timeout=30.0, hook=timed)
    for i, n in enumerate(RT, 1):
        p = mk(n)
        case("9.%d.%d" % (base + 6, i), "1000 %s messages of %s, one round trip each" % (kind, size(n)), "10.4",
             round_trips(op, p), expect=[tk(p)] * 1000, timeout=30.0, hook=timed)

# ---- 10 auto-fragmentation (5.4) -------------------------------------------------------------------


def frames_hook(ch, notes, verdict, reason):
    if verdict == OK and ch.events:
        return OK, "echo arrived in %d frame(s)" % ch.events[0].frames
    return verdict, reason


P64 = text_payload(65536)
case("10.1.1", "text message of 64 KiB sent in 1300-byte fragments; the echo may be fragmented any way", "5.4",
     bulk(TEXT, P64, frag=1300), expect=[T(P64)], hook=frames_hook)
case("10.1.2", "parley: binary message of 64 KiB in 1300-byte fragments", "5.4",
     bulk(BINARY, b"\xfe" * 65536, frag=1300), expect=[B(b"\xfe" * 65536)], hook=frames_hook)

ids = [c.id for c in CASES]
assert len(ids) == len(set(ids)), "duplicate case ids"
