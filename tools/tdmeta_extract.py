#!/usr/bin/env python3
"""Reads tdstream per-frame metadata out of a recorded or live H.264/H.265 stream, without GStreamer.

ffmpeg copies the video elementary stream as Annex B; this script finds the SEI user-data-unregistered
messages with the tdstream UUID and decodes them (docs/METADATA-WIRE-FORMAT.md). One JSON object per
frame on standard output, in decode order:
  {"frame": 12, "capture_us": 1795000000123456, "timecode": "01:02:03:04",
   "channels": {"tx": [0.5]}, "table": [["a", "b"]]}

usage: tdmeta_extract.py INPUT [--codec h264|hevc]
  INPUT is anything ffmpeg reads: a file (.ts, .mp4, .flv, .mkv) or a URL (srt://, rtmp://, rtsp://).
"""
import json
import struct
import subprocess
import sys

UUID = bytes.fromhex("97e65035c9684d3fa663c2b925c75976")


class Malformed(Exception):
    pass


def nal_units(stream):
    """NAL units of an Annex B byte stream (without start codes)."""
    starts = []
    i = stream.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = stream.find(b"\x00\x00\x01", i + 3)
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(stream)
        yield stream[s:end].rstrip(b"\x00")


def unescape(ebsp):
    return ebsp.replace(b"\x00\x00\x03", b"\x00\x00")


def sei_messages(rbsp):
    """(payload_type, payload) pairs of an SEI RBSP."""
    i = 0
    while i < len(rbsp) and rbsp[i:] != b"\x80":
        values = []
        for _ in range(2):
            v = 0
            while True:
                if i >= len(rbsp):
                    return
                b = rbsp[i]
                i += 1
                v += b
                if b != 0xFF:
                    break
            values.append(v)
        kind, size = values
        if i + size > len(rbsp):
            return
        yield kind, rbsp[i:i + size]
        i += size


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, n):
        if self.at + n > len(self.data):
            raise Malformed("truncated")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def varint(self):
        v = 0
        for shift in range(0, 70, 7):
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
        raise Malformed("varint too long")

    def string(self):
        return self.take(self.varint()).decode("utf-8")


def decode(payload):
    r = Reader(payload)
    version, flags = r.take(1)[0], r.take(1)[0]
    if version != 1:
        raise Malformed(f"version {version}")
    out = {}
    if flags & 1:
        out["frame"] = r.varint()
    if flags & 2:
        out["capture_us"] = struct.unpack("<q", r.take(8))[0]
    if flags & 4:
        h, m, s, f = r.take(4)
        out["timecode"] = f"{h:02}:{m:02}:{s:02}{';' if flags & 8 else ':'}{f:02}"
    channels = {}
    for _ in range(r.varint()):
        name = r.string()
        count = r.varint()
        channels[name] = list(struct.unpack(f"<{count}d", r.take(8 * count)))
    out["channels"] = channels
    rows, cols = r.varint(), r.varint()
    if rows * cols > 65536:
        raise Malformed("table too large")
    out["table"] = [[r.string() for _ in range(cols)] for _ in range(rows)]
    if r.at != len(payload):
        raise Malformed("trailing bytes")
    return out


def metadata(stream, codec):
    for nal in nal_units(stream):
        if not nal:
            continue
        if codec == "h264" and nal[0] & 0x1F == 6:
            rbsp = unescape(nal[1:])
        elif codec == "hevc" and (nal[0] >> 1) & 0x3F == 39:
            rbsp = unescape(nal[2:])
        else:
            continue
        for kind, payload in sei_messages(rbsp):
            if kind == 5 and payload[:16] == UUID:
                try:
                    yield decode(payload[16:])
                except (Malformed, UnicodeDecodeError, struct.error) as e:
                    print(f"skipped malformed metadata: {e}", file=sys.stderr)


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    codec = "h264"
    if "--codec" in args:
        codec = args[args.index("--codec") + 1]
    if codec not in ("h264", "hevc"):
        print("--codec must be h264 or hevc", file=sys.stderr)
        return 2
    bsf = "h264_mp4toannexb" if codec == "h264" else "hevc_mp4toannexb"
    cmd = ["ffmpeg", "-v", "error", "-i", args[0], "-map", "0:v:0", "-c:v", "copy",
           "-bsf:v", bsf, "-f", codec, "-"]
    # Streamed: a live URL prints its frames as they come.
    with subprocess.Popen(cmd, stdout=subprocess.PIPE) as ffmpeg:
        pending = b""
        while True:
            chunk = ffmpeg.stdout.read1(1 << 16)
            if not chunk:
                break
            pending += chunk
            # Keep the last (maybe incomplete) NAL unit for the next round.
            cut = pending.rfind(b"\x00\x00\x01")
            if cut <= 0:
                continue
            complete, pending = pending[:cut], pending[cut:]
            for record in metadata(complete, codec):
                print(json.dumps(record), flush=True)
        for record in metadata(pending, codec):
            print(json.dumps(record), flush=True)
        if ffmpeg.wait() != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
