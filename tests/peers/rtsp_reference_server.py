#!/usr/bin/python3
"""The reference for the RTSP benchmark: a plain gst-rtsp-server, as its test-launch example serves,
with one shared media that encodes the stream itself.
usage: rtsp_reference_server.py PORT PATH LAUNCH [MAX_SECONDS]
  (binds 127.0.0.1 only; exits after MAX_SECONDS, default 600)"""
import os
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PORT, PATH, LAUNCH = sys.argv[1], sys.argv[2], sys.argv[3]
MAX = float(sys.argv[4]) if len(sys.argv) > 4 else 600

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(PORT)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(LAUNCH)
factory.set_shared(True)
server.get_mount_points().add_factory(PATH, factory)
server.attach(None)
threading.Timer(MAX, lambda: os._exit(0)).start()
print(f"READY rtsp://127.0.0.1:{PORT}{PATH}", flush=True)
GLib.MainLoop().run()
