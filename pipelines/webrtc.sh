#!/bin/sh
# WebRTC to browsers: starts tdstream-signalling (signalling on 8443, viewer page on 8080) and registers the
# stream with it; open http://127.0.0.1:8080/ on this machine (ice-addresses=127.0.0.1: loopback only;
# for viewers elsewhere, leave ice-addresses empty and set stun-server/turn-servers as your network needs).
BIN=${TDSTREAM_BIN:-$(dirname "$0")/../target/release}
"$BIN/tdstream-signalling" --port 8443 --http-port 8080 &
SIG=$!
trap 'kill $SIG 2>/dev/null' EXIT INT TERM
gst-launch-1.0 -e \
  videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
  clockoverlay ! tdmetainject table="demo,webrtc" ! \
  nvencstreamsink name=s mode=webrtc url=ws://127.0.0.1:8443 stream-name=cam1 ice-addresses=127.0.0.1 avg-bitrate=3 \
  audiotestsrc is-live=true wave=ticks ! s.audio
