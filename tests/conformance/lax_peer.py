#!/usr/bin/python3
"""A deliberately lax WebSocket echo server that stands in for `parley` to
check the harness itself: it accepts the `serve --echo --port 0` arguments,
prints the same listening line, then echoes every data frame and answers
pings and closes, validating nothing (no RSV, opcode, UTF-8, close code or
length checks). The harness must report FAILED on categories 2-7:

    /usr/bin/python3 tests/conformance/conformance.py tests/conformance/lax_peer.py \\
        --role server --cases '(2|3|4|5|6\\.(3|4|12)|7)\\..*'
"""
import socket, sys, threading, struct, base64, hashlib
def conn(s):
    d=b""
    while b"\r\n\r\n" not in d: d+=s.recv(4096)
    head,rest=d.split(b"\r\n\r\n",1)
    key=[l.split(b":",1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
    acc=base64.b64encode(hashlib.sha1(key+b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    s.sendall(b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+acc+b"\r\n\r\n")
    buf=bytearray(rest)
    def take(n):
        while len(buf)<n:
            c=s.recv(65536)
            if not c: raise EOFError
            buf.extend(c)
        r=bytes(buf[:n]); del buf[:n]; return r
    msg=None
    try:
        while True:
            b0,b1=take(2); n=b1&127
            if n==126: n=struct.unpack("!H",take(2))[0]
            elif n==127: n=struct.unpack("!Q",take(8))[0]
            k=take(4); p=bytes(c^k[i%4] for i,c in enumerate(take(n)))
            op=b0&15
            if op==9: s.sendall(bytes([0x8A,len(p)])+p); continue
            if op==8: s.sendall(bytes([0x88,len(p[:2])])+p[:2]); s.close(); return
            if op==10: continue
            msg = p if op!=0 else (msg or b"")+p
            if b0&0x80:
                t = 1 if op in (1,0) else 2
                L=len(msg); h=bytes([0x80|t])+(bytes([L]) if L<126 else b"\x7e"+struct.pack("!H",L) if L<65536 else b"\x7f"+struct.pack("!Q",L))
                s.sendall(h+msg); msg=None
    except (EOFError,OSError): pass
l=socket.socket(); l.bind(("127.0.0.1",0)); l.listen(10)
sys.stderr.write("listening on ws://127.0.0.1:%d/\n"%l.getsockname()[1]); sys.stderr.flush()
while True:
    c,_=l.accept(); threading.Thread(target=conn,args=(c,),daemon=True).start()
