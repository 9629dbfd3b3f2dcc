#!/bin/sh
# SRT caller with encryption, towards a listener such as:
#   srt-live-transmit "srt://:9000?mode=listener&passphrase=change-me-please" udp://127.0.0.1:5000
# usage: pipelines/srt-caller.sh HOST:PORT PASSPHRASE
exec gst-launch-1.0 -e \
  videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1 ! clockoverlay ! \
  nvencstreamsink mode=srt url="srt://${1:-127.0.0.1:9000}?mode=caller&latency=200&passphrase=${2:-change-me-please}&pbkeylen=16" \
    video-codec=h265 profile=main avg-bitrate=2
