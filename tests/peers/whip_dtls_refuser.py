#!/usr/bin/env python3
"""A WHIP endpoint that is not GStreamer and refuses the DTLS handshake, as an endpoint whose WebRTC
stack shares no cipher suite with GStreamer's DTLS does ("Fatal SSL error" on the sender's side).

It answers each offer (HTTP 201 with an SDP answer: ICE-lite, its own ICE credentials, one host
candidate on 127.0.0.1, DTLS passive), answers the sender's ICE connectivity checks (STUN binding
success with XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT, RFC 5389/8445), so ICE connects,
and answers the DTLS ClientHello with a fatal handshake_failure alert (RFC 6347), so DTLS fails.

usage: whip_dtls_refuser.py HTTP_PORT [MAX_SECONDS]   (binds 127.0.0.1 only; exits after MAX_SECONDS,
default 120). Prints one line per event: POST, STUN, ALERT, DELETE.
"""
import binascii, hashlib, hmac, os, socket, struct, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

PORT = int(sys.argv[1])
MAX = float(sys.argv[2]) if len(sys.argv) > 2 else 120
# "dtls" (default): ICE connects, DTLS is refused; "ice": connectivity checks go unanswered.
REFUSE = sys.argv[3] if len(sys.argv) > 3 else "dtls"
UFRAG, PWD = "refuser", "refuserpassword0123456789"
COOKIE = 0x2112A442
FINGERPRINT = ":".join(f"{b:02X}" for b in hashlib.sha256(b"refuser").digest())

udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
UDP_PORT = udp.getsockname()[1]


def say(*words):
    print(*words, flush=True)


def stun_response(request, addr):
    """A binding success response to `request` from `addr`."""
    txid = request[8:20]
    ip = struct.unpack("!I", socket.inet_aton(addr[0]))[0]
    xor_addr = struct.pack("!BBHI", 0, 1, addr[1] ^ (COOKIE >> 16), ip ^ COOKIE)
    attrs = struct.pack("!HH", 0x0020, len(xor_addr)) + xor_addr

    def header(length):
        return struct.pack("!HHI", 0x0101, length, COOKIE) + txid

    # MESSAGE-INTEGRITY over everything before it, the length counting it already (24 bytes).
    mi = hmac.new(PWD.encode(), header(len(attrs) + 24) + attrs, hashlib.sha1).digest()
    attrs += struct.pack("!HH", 0x0008, 20) + mi
    # FINGERPRINT: CRC-32 of everything before it, the length counting it (8 bytes), XOR 0x5354554e.
    crc = binascii.crc32(header(len(attrs) + 8) + attrs) ^ 0x5354554E
    attrs += struct.pack("!HHI", 0x8028, 4, crc & 0xFFFFFFFF)
    return header(len(attrs)) + attrs


def udp_loop():
    while True:
        data, addr = udp.recvfrom(4096)
        if len(data) >= 20 and data[0] < 2 and struct.unpack("!I", data[4:8])[0] == COOKIE:
            if struct.unpack("!H", data[0:2])[0] == 0x0001 and REFUSE == "ice":
                say("STUN-IGNORED", addr[1])
            elif struct.unpack("!H", data[0:2])[0] == 0x0001:  # binding request
                say("STUN", addr[1])
                udp.sendto(stun_response(data, addr), addr)
        elif data and 20 <= data[0] <= 63:  # DTLS record: refuse the handshake
            # Alert record, DTLS 1.2, epoch 0, sequence 0: level fatal (2), handshake_failure (40).
            alert = bytes([21, 0xFE, 0xFD]) + bytes(8) + struct.pack("!H", 2) + bytes([2, 40])
            udp.sendto(alert, addr)
            say("ALERT", addr[1])


def answer(offer):
    """An answer that takes the first codec of every m-section, receive-only, all bundled."""
    sections, current = [], None
    for line in offer.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            current = {"m": line, "lines": []}
            sections.append(current)
        elif current is not None:
            current["lines"].append(line)
    mids, body = [], []
    for i, sec in enumerate(sections):
        media, _, proto, *pts = sec["m"][2:].split()
        pt = pts[0]
        mid = next((l[6:] for l in sec["lines"] if l.startswith("a=mid:")), str(i))
        mids.append(mid)
        body.append(f"m={media} 9 {proto} {pt}")
        body.append("c=IN IP4 127.0.0.1")
        body += [l for l in sec["lines"] if l.startswith((f"a=rtpmap:{pt} ", f"a=fmtp:{pt} ", f"a=rtcp-fb:{pt} "))]
        body += [f"a=mid:{mid}", "a=recvonly", "a=rtcp-mux", "a=setup:passive",
                 f"a=ice-ufrag:{UFRAG}", f"a=ice-pwd:{PWD}", "a=fingerprint:sha-256 " + FINGERPRINT]
        if i == 0:
            body.append(f"a=candidate:1 1 UDP 2130706431 127.0.0.1 {UDP_PORT} typ host")
            body.append("a=end-of-candidates")
    head = [
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=ice-lite",
        f"a=group:BUNDLE {' '.join(mids)}",
    ]
    return "\r\n".join(head + body) + "\r\n"


class H(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        offer = self.rfile.read(n).decode("utf-8", "replace")
        say("POST", self.path, self.headers.get("Authorization", "(no Authorization)"))
        sdp = answer(offer).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/sdp")
        self.send_header("Location", "/whip/resource/1")
        self.send_header("Content-Length", str(len(sdp)))
        self.end_headers()
        self.wfile.write(sdp)

    def do_PATCH(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.send_response(204)
        self.end_headers()

    def do_DELETE(self):
        say("DELETE", self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


threading.Thread(target=udp_loop, daemon=True).start()
threading.Timer(MAX, lambda: os._exit(0)).start()
srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
say("whip endpoint on 127.0.0.1:%d, ICE on udp %d" % (PORT, UDP_PORT))
srv.serve_forever()
