"""The harness's own WebSocket wire code (RFC 6455), standard library only.

Nothing here comes from parley: a frame encoder that can build any frame,
valid or not (reserved bits, reserved opcodes, any length encoding, masked
or not); a strict decoder of what the peer sends, which reports every
violation of RFC 6455 it sees; the opening handshake of both roles; and a
`Channel`, one TCP connection whose incoming frames are decoded by a reader
thread into a queue of events while the case writes (so echoing 16 MiB never
deadlocks on full socket buffers).
"""

import base64
import hashlib
import os
import socket
import struct
import threading
import time
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPNAMES = {CONT: "continuation", TEXT: "text", BINARY: "binary", CLOSE: "close", PING: "ping", PONG: "pong"}


def xor_mask(data, key):
    """Masks/unmasks (RFC 6455 5.3) with big-int XOR: fast enough for 16 MiB."""
    n = len(data)
    if n == 0:
        return b""
    reps = (n + 3) // 4
    k = int.from_bytes((key * reps)[:n], "big")
    return (int.from_bytes(data, "big") ^ k).to_bytes(n, "big")


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=False, key=None):
    """One frame (RFC 6455 5.2). `mask` True masks with `key` (random when
    None). The length is encoded minimally, as 5.2 requires."""
    payload = bytes(payload)
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = key if key is not None else os.urandom(4)
        return head + key + xor_mask(payload, key)
    return head + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def valid_close_code(code):
    """RFC 6455 7.4.1/7.4.2 and the IANA registry: codes a peer may send."""
    if 1000 <= code <= 1003 or 1007 <= code <= 1014:
        return True
    return 3000 <= code <= 4999


class Event:
    """What the peer sent: message (text/binary, whole), ping, pong."""

    __slots__ = ("kind", "payload", "frames", "t", "compressed", "wire_size")

    def __init__(self, kind, payload, frames=1, compressed=False, wire_size=None):
        self.kind, self.payload, self.frames, self.t = kind, payload, frames, time.monotonic()
        self.compressed = compressed     # permessage-deflate: RSV1 was set on its first frame
        self.wire_size = len(payload) if wire_size is None else wire_size   # payload bytes on the wire

    def key(self):
        return (self.kind, self.payload)

    def __repr__(self):
        return "%s(%s)" % (self.kind, preview(self.payload))


def preview(data, limit=24):
    if len(data) <= limit:
        return repr(bytes(data))
    return "%d bytes %r..." % (len(data), bytes(data[:limit]))


class ProtocolViolation(Exception):
    pass


class Pmd:
    """permessage-deflate (RFC 7692) as agreed, seen from the harness: what
    it sends is compressed with `send_bits` (and a fresh compressor per
    message when `send_reset`); what the peer sends is decompressed with
    `recv_bits` (a back-reference more than 2^recv_bits + 32 bytes back is
    rejected)
    and, when `recv_reset`, with a fresh inflater per message, so a peer
    that kept its context where it had agreed not to fails to decode."""

    def __init__(self, send_bits=15, send_reset=False, recv_bits=15, recv_reset=False):
        self.send_bits, self.send_reset = send_bits, send_reset
        self.recv_bits, self.recv_reset = recv_bits, recv_reset
        self._deflater = None
        self._inflater = None

    def __repr__(self):
        return "Pmd(send %d bits%s, receive %d bits%s)" % (
            self.send_bits, " reset" if self.send_reset else "", self.recv_bits, " reset" if self.recv_reset else "")

    def compress(self, data):
        """The compressed payload of one message (7.2.1: the 00 00 ff ff tail
        removed). zlib cannot compress with an 8-bit window (it refuses a raw
        window of 8 bits), so for an agreed 8-bit window the harness uses
        zlib's run-length strategy, whose only back-references are one byte
        back: valid under any window."""
        if self._deflater is None or self.send_reset:
            if self.send_bits < 9:
                self._deflater = zlib.compressobj(6, zlib.DEFLATED, -9, 8, zlib.Z_RLE)
            else:
                self._deflater = zlib.compressobj(6, zlib.DEFLATED, -self.send_bits)
        out = self._deflater.compress(bytes(data)) + self._deflater.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    def forget(self):
        """The next message starts a fresh compressor (after a message the
        harness compressed by other means, which its compressor never saw:
        a fresh one refers to nothing before it, so it is valid with or
        without context takeover)."""
        self._deflater = None

    def decompress(self, data):
        """Raises zlib.error when the peer's bytes do not decode under the
        agreed parameters."""
        if self._inflater is None or self.recv_reset or self._inflater.eof:
            self._inflater = zlib.decompressobj(-self.recv_bits)
        data = bytes(data) + b"\x00\x00\xff\xff"
        if self.recv_bits >= 15:
            return self._inflater.decompress(data)
        # zlib checks a back-reference against the window only when it
        # reaches beyond the current output buffer: inflating 32 bytes per
        # call makes any distance over 2^bits + 32 an error. The input is
        # fed 4 KiB at a time so that each call's unconsumed tail stays short.
        out = []
        view = memoryview(data)
        for i in range(0, len(view), 4096):
            piece = view[i:i + 4096]
            while True:
                chunk = self._inflater.decompress(piece, 32)
                out.append(chunk)
                piece = self._inflater.unconsumed_tail
                if not piece and len(chunk) < 32:
                    break
        return b"".join(out)


class Channel:
    """One WebSocket connection, after the handshake, seen from the harness.

    role "client": the harness is the client, so it masks what it sends and
    requires unmasked frames from the peer; role "server": the opposite.
    A reader thread decodes the peer's frames; `events` gets messages,
    pings and pongs; close frames and EOF are recorded as state.
    """

    def __init__(self, sock, role, leftover=b"", pmd=None):
        self.sock = sock
        self.role = role
        self.mask = role == "client"
        self.pmd = pmd             # Pmd when permessage-deflate was agreed
        self.extensions = None     # the other side's Sec-WebSocket-Extensions (offer or answer), as sent
        self.cond = threading.Condition()
        self.events = []           # Event, in arrival order
        self.peer_pings = []       # pings the peer sent on its own (not compared)
        self.close_frame = None    # (code or None, reason bytes) of the peer's close frame
        self.close_frame_t = None
        self.close_sent = False
        self.close_sent_t = None
        self.eof = False           # TCP closed (FIN or reset) by the peer, or read failed
        self.eof_t = None
        self.violations = []       # RFC violations in what the peer sent
        self.after_close = []      # frames the peer sent after its close frame
        self.send_failed = None
        self._buf = bytearray(leftover)
        self._wlock = threading.Lock()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # ---- writing --------------------------------------------------------
    def frame(self, opcode, payload=b"", fin=True, rsv=0):
        return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask=self.mask)

    def send(self, data, chop=None, delay=0.0):
        """Writes bytes, whole or in writes of `chop` bytes (with `delay`
        seconds between them). Returns False when the peer has gone."""
        if self.send_failed:
            return False
        try:
            with self._wlock:
                if not chop:
                    self.sock.sendall(data)
                else:
                    for i in range(0, len(data), chop):
                        self.sock.sendall(data[i:i + chop])
                        if delay:
                            time.sleep(delay)
            return True
        except OSError as e:
            self.send_failed = str(e)
            return False

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, chop=None, delay=0.0):
        return self.send(self.frame(opcode, payload, fin, rsv), chop, delay)

    def message_frames(self, opcode, data, frag=None, compress=True, max_frames=None):
        """The frames of one message: compressed with the agreed parameters
        when `compress` and permessage-deflate is on (RSV1 on the first frame
        only, 7692 6.1), split into frames of `frag` payload bytes (more when
        that would make over `max_frames` frames)."""
        rsv = 0
        if compress and self.pmd is not None:
            data, rsv = self.pmd.compress(data), 4
        if frag and max_frames:
            frag = max(frag, -(-len(data) // max_frames))
        if not frag or len(data) <= frag:
            return self.frame(opcode, data, True, rsv)
        parts = [data[i:i + frag] for i in range(0, len(data), frag)]
        return b"".join(self.frame(opcode if i == 0 else CONT, p, i == len(parts) - 1, rsv if i == 0 else 0)
                        for i, p in enumerate(parts))

    def send_close(self, code=None, reason=b"", raw=None):
        payload = raw if raw is not None else close_payload(code, reason)
        with self.cond:   # before the write: the reply may arrive before send() returns
            if not self.close_sent:
                self.close_sent, self.close_sent_t = True, time.monotonic()
        return self.send_frame(CLOSE, payload)

    def shutdown(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- waiting ----------------------------------------------------------
    def wait(self, predicate, timeout):
        """Waits until predicate() (called under the lock) or timeout; returns its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = predicate()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    return v
                self.cond.wait(min(left, 0.25))

    def wait_closed_by_peer(self, timeout):
        """Close frame or EOF from the peer."""
        return self.wait(lambda: self.close_frame is not None or self.eof, timeout)

    def wait_eof(self, timeout):
        return self.wait(lambda: self.eof, timeout)

    def wait_events(self, n, timeout):
        return self.wait(lambda: len(self.events) >= n or self.close_frame is not None or self.eof, timeout)

    # ---- reading ------------------------------------------------------------
    def _fill(self, n):
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise EOFError
            self._buf += chunk

    def _take(self, n):
        self._fill(n)
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _violation(self, text):
        with self.cond:
            self.violations.append(text)
            self.cond.notify_all()

    def _read_loop(self):
        frag_op, frag_parts, frag_count, frag_comp = None, [], 0, False
        try:
            while True:
                b0, b1 = self._take(2)
                fin, rsv, op = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F
                masked, n = bool(b1 & 0x80), b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._take(2))[0]
                    if n < 126:
                        self._violation("5.2: 16-bit length %d not minimal" % n)
                elif n == 127:
                    n = struct.unpack("!Q", self._take(8))[0]
                    if n >> 63:
                        self._violation("5.2: 64-bit length with the top bit set")
                        return
                    if n < 65536:
                        self._violation("5.2: 64-bit length %d not minimal" % n)
                key = self._take(4) if masked else None
                payload = self._take(n)
                if key:
                    payload = xor_mask(payload, key)
                if self.role == "client" and masked:
                    self._violation("5.1: the server sent a masked %s frame" % OPNAMES.get(op, op))
                if self.role == "server" and not masked:
                    self._violation("5.1/5.3: the client sent an unmasked %s frame" % OPNAMES.get(op, op))
                if rsv and (self.pmd is None or rsv != 4):
                    self._violation("5.2: RSV bits %d set with no extension negotiated" % rsv)
                elif rsv and op >= 8:
                    self._violation("RFC 7692 6.1: RSV1 on a %s frame" % OPNAMES.get(op, op))
                elif rsv and op == CONT:
                    self._violation("RFC 7692 6.1: RSV1 on a continuation frame")
                if self.close_frame is not None:
                    with self.cond:
                        self.after_close.append(OPNAMES.get(op, op))
                    self._violation("5.5.1: a %s frame after its close frame" % OPNAMES.get(op, op))
                    continue
                if op >= 8:
                    if not fin:
                        self._violation("5.5: fragmented control frame")
                    if n > 125:
                        self._violation("5.5: control frame payload of %d bytes" % n)
                    if op == PING:
                        with self.cond:
                            self.peer_pings.append(payload)
                            self.cond.notify_all()
                    elif op == PONG:
                        self._event(Event("pong", payload))
                    elif op == CLOSE:
                        code, reason = None, b""
                        if n == 1:
                            self._violation("5.5.1: close payload of 1 byte")
                        elif n >= 2:
                            code = struct.unpack("!H", payload[:2])[0]
                            reason = payload[2:]
                            if not valid_close_code(code):
                                self._violation("7.4: close code %d may not be sent" % code)
                            try:
                                reason.decode("utf-8")
                            except UnicodeDecodeError:
                                self._violation("5.5.1: close reason not UTF-8")
                        with self.cond:
                            self.close_frame, self.close_frame_t = (code, reason), time.monotonic()
                            self.cond.notify_all()
                    else:
                        self._violation("5.2: reserved control opcode %d" % op)
                    continue
                if op in (TEXT, BINARY):
                    if frag_op is not None:
                        self._violation("5.4: new %s message inside a fragmented one" % OPNAMES[op])
                    frag_op, frag_parts, frag_count = op, [payload], 1
                    frag_comp = bool(rsv & 4) and self.pmd is not None
                elif op == CONT:
                    if frag_op is None:
                        self._violation("5.4: continuation frame with no message started")
                        continue
                    frag_parts.append(payload)
                    frag_count += 1
                else:
                    self._violation("5.2: reserved data opcode %d" % op)
                    continue
                if fin:
                    data = b"".join(frag_parts)
                    wire_size = len(data)
                    kind = "text" if frag_op == TEXT else "binary"
                    if frag_comp:
                        try:
                            data = self.pmd.decompress(data)
                        except zlib.error as e:
                            self._violation("RFC 7692 7.2.2: a compressed %s message of %d bytes does not inflate "
                                            "under the agreed parameters (%r): %s" % (kind, wire_size, self.pmd, e))
                    if kind == "text":
                        try:
                            data.decode("utf-8")
                        except UnicodeDecodeError:
                            self._violation("8.1: text message is not valid UTF-8")
                    self._event(Event(kind, data, frag_count, frag_comp, wire_size))
                    frag_op, frag_parts, frag_count, frag_comp = None, [], 0, False
        except (EOFError, OSError):
            pass
        finally:
            with self.cond:
                self.eof, self.eof_t = True, time.monotonic()
                self.cond.notify_all()

    def _event(self, ev):
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()


# ---- opening handshake (RFC 6455 4) ------------------------------------------

def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def read_head(sock, timeout):
    """Reads an HTTP head; returns (head str, leftover bytes)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("connection closed during the handshake")
        data += chunk
        if len(data) > 65536:
            raise ValueError("HTTP head over 64 KiB")
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def parse_headers(lines):
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers


def tokens(headers, name):
    return [t.strip().lower() for v in headers.get(name, []) for t in v.split(",")]


def client_handshake(host, port, path, timeout=10, extensions=None, negotiate=None):
    """Connects and upgrades (4.1); returns a Channel or raises ValueError.
    `extensions`: a Sec-WebSocket-Extensions offer to send; `negotiate`
    (called with the answer's header values, a list) checks the answer and
    returns the Pmd to use, or None (raises ValueError on a bad answer)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        ext = "Sec-WebSocket-Extensions: %s\r\n" % extensions if extensions else ""
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n") % (path, host, port, key, ext)
        sock.sendall(req.encode())
        head, rest = read_head(sock, timeout)
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[1] != "101":
            raise ValueError("4.1: expected 101, got %r" % lines[0])
        h = parse_headers(lines[1:])
        if "websocket" not in tokens(h, "upgrade"):
            raise ValueError("4.1: no Upgrade: websocket in the 101")
        if "upgrade" not in tokens(h, "connection"):
            raise ValueError("4.1: no Connection: Upgrade in the 101")
        if h.get("sec-websocket-accept", [""])[0] != accept_key(key):
            raise ValueError("4.1: wrong Sec-WebSocket-Accept")
        answer = h.get("sec-websocket-extensions", [])
        pmd = None
        if negotiate is not None:
            pmd = negotiate(answer)
        elif answer:
            raise ValueError("4.1: extension accepted that was not offered")
        ch = Channel(sock, "client", rest, pmd)
        ch.extensions = answer
        return ch
    except BaseException:
        sock.close()
        raise


def server_handshake(sock, timeout=10, answer=None):
    """Reads the client's upgrade request, answers 101 (4.2); returns (Channel,
    target). `answer` (called with the offer's Sec-WebSocket-Extensions
    values, a list) returns (the extensions answer or None, the Pmd or None)."""
    head, rest = read_head(sock, timeout)
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1":
        raise ValueError("4.1: bad request line %r" % lines[0])
    h = parse_headers(lines[1:])
    problems = []
    if "host" not in h:
        problems.append("no Host")
    if "websocket" not in tokens(h, "upgrade"):
        problems.append("no Upgrade: websocket")
    if "upgrade" not in tokens(h, "connection"):
        problems.append("no Connection: Upgrade")
    if h.get("sec-websocket-version", [""])[0] != "13":
        problems.append("Sec-WebSocket-Version is not 13")
    key = h.get("sec-websocket-key", [""])[0]
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            problems.append("Sec-WebSocket-Key is not 16 bytes")
    except ValueError:
        problems.append("Sec-WebSocket-Key is not base64")
    if problems:
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        raise ValueError("4.1: " + "; ".join(problems))
    offer = h.get("sec-websocket-extensions", [])
    ext, pmd = answer(offer) if answer is not None else (None, None)
    ext = "Sec-WebSocket-Extensions: %s\r\n" % ext if ext else ""
    sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (accept_key(key), ext)).encode())
    ch = Channel(sock, "server", rest, pmd)
    ch.extensions = offer
    return ch, parts[1]
