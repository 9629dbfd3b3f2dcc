#!/usr/bin/env python3
"""A WHIP endpoint that is not GStreamer and refuses the DTLS handshake, as an endpoint whose WebRTC
stack shares no cipher suite with GStreamer's DTLS does ("Fatal SSL error" on the sender's side).

It answers each offer (HTTP 201 with an SDP answer: ICE-lite, its own ICE credentials, one host
candidate on 127.0.0.1, DTLS passive), answers the sender's ICE connectivity checks (STUN binding
success with XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT, RFC 5389/8445), so ICE connects,
and answers the DTLS ClientHello with a fatal handshake_failure alert (RFC 6347), so DTLS fails.

usage: whip_dtls_refuser.py HTTP_PORT [MAX_SECONDS [dtls|ice [REFUSE_FIRST UPSTREAM_URL]]]
(binds 127.0.0.1 only; exits after MAX_SECONDS, default 120). With REFUSE_FIRST and UPSTREAM_URL, only the
first REFUSE_FIRST sessions are refused; each later offer (and its DELETE) is passed to the WHIP endpoint
at UPSTREAM_URL, whose answer goes back as it is: an endpoint that fails a few sessions, then works.
Prints one line per event: POST, STUN, ALERT, DELETE, FORWARDED.
"""
import binascii, hashlib, hmac, http.client, os, socket, struct, sys, threading, urllib.parse
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

PORT = int(sys.argv[1])
MAX = float(sys.argv[2]) if len(sys.argv) > 2 else 120
# "dtls" (default): ICE connects, DTLS is refused; "ice": connectivity checks go unanswered.
REFUSE = sys.argv[3] if len(sys.argv) > 3 else "dtls"
REFUSE_FIRST = int(sys.argv[4]) if len(sys.argv) > 4 else -1
UPSTREAM = sys.argv[5] if len(sys.argv) > 5 else None
POSTS = [0]
FORWARDED = {}  # our resource path -> the upstream resource URL
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


def upstream(method, url, body, headers):
    """The upstream endpoint's answer: (status, headers, body)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request(method, parts.path + (("?" + parts.query) if parts.query else ""), body, headers)
    r = conn.getresponse()
    return r.status, dict(r.getheaders()), r.read()


class H(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        offer = self.rfile.read(n).decode("utf-8", "replace")
        say("POST", self.path, self.headers.get("Authorization", "(no Authorization)"))
        POSTS[0] += 1
        if UPSTREAM and 0 <= REFUSE_FIRST < POSTS[0]:
            return self.forward(offer)
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

    def forward(self, offer):
        headers = {"Content-Type": "application/sdp"}
        if self.headers.get("Authorization"):
            headers["Authorization"] = self.headers["Authorization"]
        status, answer_headers, body = upstream("POST", UPSTREAM, offer.encode(), headers)
        location = urllib.parse.urljoin(UPSTREAM, answer_headers.get("Location", ""))
        ours = "/whip/forwarded/%d" % POSTS[0]
        FORWARDED[ours] = location
        say("FORWARDED", status)
        self.send_response(status)
        self.send_header("Content-Type", answer_headers.get("Content-Type", "application/sdp"))
        self.send_header("Location", ours)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self):
        say("DELETE", self.path)
        if self.path in FORWARDED:
            upstream("DELETE", FORWARDED[self.path], None, {})
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
