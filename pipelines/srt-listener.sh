#!/bin/sh
# SRT listener on all interfaces; open with: ffplay "srt://127.0.0.1:${PORT}?mode=caller"
PORT=${1:-9000}
exec gst-launch-1.0 -e \
  videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
  clockoverlay ! nvencstreamsink mode=srt url="srt://:${PORT}?mode=listener&latency=120" video-codec=h264 avg-bitrate=3
