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
13.1.x: the parameter grid, every combination of server_no_context_takeover
on/off, client_no_context_takeover on/off, server_max_window_bits {absent,
8, 9, 11, 15} and client_max_window_bits {absent, no value, 8, 9, 11, 15}:
120 offers (server role); in the client role the 100 of them that are
valid answers to parley's offer `permessage-deflate; client_max_window_bits`
(an answer's client_max_window_bits needs a value, RFC 7692 7.1.2.2: the 20
with a bare one are server role only; a bare one in an answer is 13.4.2).
Each echoes a hand-made deflate stream with a back-reference exactly the
agreed window back, a repeated 1000-byte text (does parley use its
context?), messages of 16 bytes to 64 KiB (to 1 MiB on the 10 points with
equal windows and takeover both ways), JSON-like text and partly random
binary, each once in one frame and once fragmented (1 to 65536 compressed
bytes per frame), one uncompressed message, and on the other points one
fragmented message of 256 KiB or 1 MiB. (Limited to 8 bits itself, the
harness compresses with zlib's run-length strategy, whose back-references
are all 1 byte: zlib has no 8-bit compressor.) Checked: every echoed byte; every
compressed echo inflates with exactly the agreed window and resets where
agreed; parley's answer is what it documents (every offered parameter back,
a bare client_max_window_bits dropped: INFORMATIONAL otherwise); limited to
an 8-bit window parley sends uncompressed (deflate.hpp; FAILED otherwise);
with its context kept and a window of 11 bits or more, parley's repeated
text shrinks (INFORMATIONAL otherwise).
13.2.x: windows of 10, 12, 13, 14 bits both ways (between the grid's).
13.3.x (server role): several offers in one header, offers parley must
decline. 13.4.x (client role): answers parley must refuse. 13.5.1 (client
role): no extension in the answer. 13.6.x: compressed control frames, RSV1
on a continuation frame, a compression bomb, a frame that is not deflate.
"""

import functools
import random
import re
import zlib

import wire
from cases import CASES, FAILED, INFORMATIONAL, NON_STRICT, OK, Case
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


def pmd_for(agreed, harness_is, offered=None):
    """The wire.Pmd of the harness for the agreed parameters. `offered`
    (role "server"): the harness's own offer, which binds the harness as a
    client even where the answer leaves a parameter out (7.1.1.2: offering
    client_no_context_takeover is a promise; 7.1.2.2: so is a
    client_max_window_bits value)."""
    offered = offered or {}
    s = (agreed.get("server_max_window_bits", 15), bool(agreed.get("server_no_context_takeover")))
    c = agreed.get("client_max_window_bits", offered.get("client_max_window_bits", 15))
    c = (15 if c is True else c,
         bool(agreed.get("client_no_context_takeover") or offered.get("client_no_context_takeover")))
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
        return pmd_for(check_answer(offered, answer_values), "client", offered)

    def respond(self, offer_values):
        """Role "client": the answer to parley's offer, and the harness's Pmd."""
        if self.answer is None or self.refuse:
            return self.answer, None
        offered = first_acceptable(", ".join(offer_values))
        if offered is not None:   # else check_offer() reports parley's offer
            try:
                check_answer(offered, [self.answer])
            except ValueError as e:
                raise ValueError("the harness's answer %r does not fit parley's offer %r: %s"
                                 % (self.answer, offer_values, e))
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


@functools.lru_cache(maxsize=None)
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
# The messages of the negotiation cases (13.3, 13.5): two equal messages in
# a row (a peer keeping its context sends the second as a back-reference to
# the first), binary with matches 700 bytes back (beyond a 9-bit window),
# and binary with matches just beyond 9, 10, 12 and 14-bit windows.
MSG13 = [("text", rng_text(2000, 1)), ("text", rng_text(2000, 1)), ("binary", rng_binary(3000, 2)),
         ("binary", rng_binary(3000, 2)), ("binary", far_matches(3)), ("text", b"short")]


def all_uncompressed(ch):
    comp = [e for e in ch.events if e.compressed]
    if comp:
        return FAILED, "%d echo(es) compressed where parley may not compress" % len(comp)
    return OK, ""


# ---- 13.1 / 13.2 the parameter grid -----------------------------------------------------------
# A deflate stream made by hand: one fixed-Huffman block (RFC 1951 3.2.6)
# whose back-reference reaches exactly 2^bits bytes back, the farthest an
# agreed window of `bits` allows (RFC 7692 7.1.2): a receiver must inflate
# it. zlib never makes one (its compressor keeps 262 bytes of the window
# for lookahead, and refuses an 8-bit window altogether).
LEN_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163,
            195, 227, 258)
LEN_EXTRA = (0,) * 8 + (1,) * 4 + (2,) * 4 + (3,) * 4 + (4,) * 4 + (5,) * 4 + (0,)
DIST_BASE = (1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
             3073, 4097, 6145, 8193, 12289, 16385, 24577)
DIST_EXTRA = (0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13)


class BitWriter:
    def __init__(self):
        self.acc, self.n, self.out = 0, 0, bytearray()

    def put(self, value, nbits):
        """Bits of a value, least significant first (RFC 1951 3.1.1)."""
        self.acc |= value << self.n
        self.n += nbits
        while self.n >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.n -= 8

    def code(self, code, nbits):
        """A Huffman code, most significant bit first."""
        self.put(int(format(code, "0%db" % nbits)[::-1], 2), nbits)

    def symbol(self, sym):
        """A literal/length symbol in the fixed code (RFC 1951 3.2.6)."""
        if sym < 144:
            self.code(0x30 + sym, 8)
        elif sym < 256:
            self.code(0x190 + sym - 144, 9)
        elif sym < 280:
            self.code(sym - 256, 7)
        else:
            self.code(0xC0 + sym - 280, 8)


def deflate_fixed(tokens):
    """A permessage-deflate payload: tokens (a literal byte, or (length,
    distance)) in one fixed-Huffman block with BFINAL clear, then the empty
    stored block of a sync flush without its 00 00 ff ff (RFC 7692 7.2.1)."""
    w = BitWriter()
    w.put(0, 1)   # BFINAL 0
    w.put(1, 2)   # BTYPE 01: fixed Huffman codes
    for t in tokens:
        if isinstance(t, int):
            w.symbol(t)
            continue
        length, dist = t
        i = max(k for k in range(len(LEN_BASE)) if LEN_BASE[k] <= length)
        w.symbol(257 + i)
        w.put(length - LEN_BASE[i], LEN_EXTRA[i])
        j = max(k for k in range(len(DIST_BASE)) if DIST_BASE[k] <= dist)
        w.code(j, 5)
        w.put(dist - DIST_BASE[j], DIST_EXTRA[j])
    w.symbol(256)   # end of block
    w.put(0, 3)     # the sync flush's stored block: BFINAL 0, BTYPE 00, then byte alignment
    if w.n:
        w.put(0, 8 - w.n)
    return bytes(w.out)


@functools.lru_cache(maxsize=None)
def full_window_message(bits):
    """(message, payload): 2^bits random bytes, then 258 bytes copied from
    exactly 2^bits bytes back (the longest match, RFC 1951 3.2.5); the payload is checked here with an inflater
    of exactly `bits` bits."""
    r = random.Random(bits)
    head = r.randbytes(1 << bits)
    message = head + (head * 2)[:258]    # an 8-bit window's copy overlaps itself
    payload = deflate_fixed(list(head) + [(258, 1 << bits)])
    check = wire.Pmd(recv_bits=bits)
    assert check.decompress(payload) == message, "the harness's hand-made deflate stream is wrong"
    return message, payload


@functools.lru_cache(maxsize=None)
def text_msg(n, seed):
    return rng_text(n, seed)


@functools.lru_cache(maxsize=None)
def mixed_binary(n, seed):
    """Binary of n bytes, partly random: runs of random bytes (they do not
    compress), copies of earlier bytes from 1 byte to 30000 bytes back, runs
    of one byte value."""
    r = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        k = r.randrange(16, 4096)
        what = r.randrange(3)
        if what == 0 or len(out) < 16:
            out += r.randbytes(k)
        elif what == 1:
            back = min(len(out), r.choice((r.randrange(1, 300), r.randrange(300, 3000), r.randrange(3000, 30000))))
            start = len(out) - back
            for _ in range(k // max(1, back) + 1):   # an overlapping copy, as LZ77 does it
                out += out[start:start + min(back, k)]
        else:
            out += bytes([r.randrange(256)]) * k
    return bytes(out[:n])


# The grid: every combination of the four parameters. The server role
# offers it; the client role answers parley's offer with it. parley's
# `connect --deflate` offers `permessage-deflate; client_max_window_bits`
# (DeflateOptions defaults: make_deflate_offer always adds
# client_max_window_bits), and RFC 7692 lets a server answer that with
# either no_context_takeover (7.1.1.1, 7.1.1.2: "MAY include ... even if the
# offer does not"), with any server_max_window_bits (7.1.2.1: MAY include it
# when the offer has none) and with client_max_window_bits=8..15 (7.1.2.2:
# only because the offer has it, and always with a value). So in the client
# role every combination is a valid answer except those with a bare
# client_max_window_bits, which parley must refuse (13.4.2 checks that).
GRID_SMWB = (None, 8, 9, 11, 15)
GRID_CMWB = (None, True, 8, 9, 11, 15)     # True: client_max_window_bits with no value
GRID = [(snct, cnct, smwb, cmwb) for snct in (False, True) for cnct in (False, True)
        for smwb in GRID_SMWB for cmwb in GRID_CMWB]


def extension_of(snct, cnct, smwb, cmwb):
    parts = ["permessage-deflate"]
    if snct:
        parts.append("server_no_context_takeover")
    if cnct:
        parts.append("client_no_context_takeover")
    if smwb is not None:
        parts.append("server_max_window_bits=%d" % smwb)
    if cmwb is True:
        parts.append("client_max_window_bits")
    elif cmwb is not None:
        parts.append("client_max_window_bits=%d" % cmwb)
    return "; ".join(parts)


def expected_answer(snct, cnct, smwb, cmwb):
    """parley's answer to the grid's offer, as documented (DeflateOptions:
    a server with the default limits of 15 grants what the client asks):
    every parameter offered comes back, except a bare client_max_window_bits
    (no limit wanted by the server)."""
    return extension_of(snct, cnct, smwb, None if cmwb is True else cmwb)


# The messages of a grid case, in order:
#  - the hand-made message reaching exactly the harness's agreed window back;
#  - a 1000-byte text twice in a row: parley keeping its context sends the
#    second as a back-reference (observable with a window of 11 bits or more:
#    zlib's usable window is 2^bits - 262 bytes);
#  - far_matches (repeats 600 to 17000 bytes back, beyond 9, 10, 12, 14 bits);
#  - the size sweep: each size as text (JSON-like) and as binary (partly
#    random), each once in one frame and once (other content) fragmented;
#  - a 4 KiB text sent uncompressed (RSV1 clear) in the middle of the
#    compressed ones (RFC 7692 6: a sender chooses per message).
SWEEP_FULL = [16, 64, 256, KB, 4 * KB, 16 * KB, 64 * KB, 256 * KB, MB]
SWEEP_SHORT = [16, 64, 256, KB, 4 * KB, 16 * KB, 64 * KB]
FRAG_SIZES = [1, 7, 125, 126, 1000, 4096, 65535, 65536]   # compressed bytes per frame, in turn
PROBE = 1000


def grid_plan(index, full):
    """[(kind, payload, how)], how: "whole", "frag", "raw" (uncompressed), or
    "full-window" (the hand-made stream)."""
    plan = [("binary", None, "full-window")]
    probe = text_msg(PROBE, 7)
    plan += [("text", probe, "whole"), ("text", probe, "whole"), ("binary", far_matches(3), "whole")]
    seed = 100
    for n in SWEEP_FULL if full else SWEEP_SHORT:
        for how in ("whole", "frag"):
            plan.append(("text", text_msg(n, seed), how))
            plan.append(("binary", mixed_binary(n, seed + 1), how))
            seed += 2
        if n == 4 * KB:
            plan.append(("text", text_msg(n, 99), "raw"))
    if not full:   # one large fragmented message: text or binary in turn, 1 MiB one time in four, else 256 KiB
        n = MB if index % 4 == 1 else 256 * KB
        plan.append(("text", text_msg(n, 200), "frag") if index % 2 else ("binary", mixed_binary(n, 201), "frag"))
    return plan


def grid_run(index, full, params):
    def run(ch, role):
        try:
            plan = grid_plan(index, full)
            sent, nfrag = [], 0
            for kind, payload, how in plan:
                op = TEXT if kind == "text" else BINARY
                if how == "full-window":
                    payload, packed = full_window_message(ch.pmd.send_bits)
                    data = ch.frame(op, packed, rsv=4)
                    ch.pmd.forget()
                elif how == "raw":
                    data = ch.message_frames(op, payload, compress=False)
                elif how == "frag":
                    frag = FRAG_SIZES[nfrag % len(FRAG_SIZES)]
                    nfrag += 1
                    data = ch.message_frames(op, payload, frag=frag, max_frames=256)
                else:
                    data = ch.message_frames(op, payload)
                sent.append((kind, payload))
                if not ch.send(data):
                    break
            return verdict_of(ch, sent, role, extra=lambda ch: grid_checks(ch, role, params))
        finally:
            ch.shutdown()
    return run


def grid_checks(ch, role, params):
    """What parley documents beyond RFC 7692's rules, and its use of its
    context. A failure only where parley breaks what it documents."""
    pmd = ch.pmd
    bits, reset = pmd.recv_bits, pmd.recv_reset       # parley's sending side, as agreed
    notes = ["parley sends with %d bits%s, the harness with %d bits%s" % (
        bits, ", no context takeover" if reset else "", pmd.send_bits, ", no context takeover" if pmd.send_reset else "")]
    verdict = OK
    if role == "server":
        want = expected_answer(*params)
        got = ", ".join(ch.extensions or [])
        if [(n, sorted(p)) for n, p in parse_extensions([got])] != \
                [(n, sorted(p)) for n, p in parse_extensions([want])]:
            verdict = INFORMATIONAL
            notes.append("parley answered %r, not %r as documented (allowed by RFC 7692)" % (got, want))
    comp = [e for e in ch.events if e.compressed]
    if bits == 8:
        # deflate.hpp: limited to an 8-bit window, parley sends uncompressed.
        if comp:
            return FAILED, "; ".join(notes + ["%d echo(es) compressed with parley's window limited to 8 bits, where "
                                              "parley documents that it sends uncompressed" % len(comp)])
        notes.append("8-bit window: every echo uncompressed, as documented")
        return verdict, "; ".join(notes)
    # parley's compression_threshold (a tuning, not an RFC rule: reported only).
    unc = [len(e.payload) for e in ch.events if not e.compressed]
    notes.append("echoes of %s uncompressed, from %s bytes compressed" % (
        "up to %d bytes" % max(unc) if unc else "no size", min((len(e.payload) for e in comp), default="no")))
    probe = [e for e in ch.events[1:3]]
    if len(probe) == 2 and all(e.compressed for e in probe):
        a, b = probe[0].wire_size, probe[1].wire_size
        used = b < a // 2
        notes.append("repeated %d-byte text: %d then %d bytes (%s)" % (
            PROBE, a, b, "context used" if used else "context reset, as agreed" if reset else
            "no gain from context" + (": the window is too small to reach back" if bits < 11 else "")))
        if not reset and bits >= 11 and not used:
            verdict = INFORMATIONAL
            notes.append("parley kept its context (no %s_no_context_takeover) but did not use it"
                         % ("server" if role == "server" else "client"))
    return verdict, "; ".join(notes)


def grid_desc(params, index, full):
    snct, cnct, smwb, cmwb = params
    return ("server_no_context_takeover %s, client_no_context_takeover %s, server_max_window_bits %s, "
            "client_max_window_bits %s: %r offered (server role)%s; echo of %s" % (
                "on" if snct else "off", "on" if cnct else "off", "absent" if smwb is None else smwb,
                "absent" if cmwb is None else "(no value)" if cmwb is True else cmwb, extension_of(*params),
                " (not an answer: client_max_window_bits needs a value there)" if cmwb is True else
                " / answered (client role)",
                "16 bytes to 1 MiB, each in one frame and fragmented" if full else
                "16 bytes to 64 KiB, each in one frame and fragmented, and %s fragmented" % (
                    "1 MiB" if index % 4 == 1 else "256 KiB")))


def full_sweep(params):
    """The grid points that echo the whole size sweep, 256 KiB and 1 MiB
    included: equal windows both ways (absent, 8, 9, 11, 15), each with
    the same context takeover both ways (10 points); the others send one
    large fragmented message."""
    snct, cnct, smwb, cmwb = params
    return snct == cnct and smwb == cmwb


for i, params in enumerate(GRID, 1):
    ext = extension_of(*params)
    full = full_sweep(params)
    dcase("13.1.%d" % i, grid_desc(params, i, full), "6, 7.1, 7.2",
          grid_run(i, full, params), deflate=Deflate(offer=ext, answer=ext),
          roles=("server",) if params[3] is True else ("server", "client"))

# Window sizes between the grid's: 10, 12, 13, 14 bits both ways (the grid
# has 8, 9, 11, 15), with and without context takeover.
for i, n in enumerate((10, 12, 13, 14), 1):
    params = (i % 2 == 0, i % 2 == 0, n, n)
    ext = extension_of(*params)
    dcase("13.2.%d" % i, "%r offered (server role) / answered (client role): windows of %d bits both ways; "
          "echo of 16 bytes to 64 KiB, each in one frame and fragmented, and %s fragmented"
          % (ext, n, "1 MiB" if i % 4 == 1 else "256 KiB"), "6, 7.1.2, 7.2",
          grid_run(i, False, params), deflate=Deflate(offer=ext, answer=ext))


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
