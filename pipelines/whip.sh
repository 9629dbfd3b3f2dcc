#!/bin/sh
# WHIP publish: whip.sh ENDPOINT [TOKEN], e.g. whip.sh https://whip.example.com/whip/endpoint secret
# (Opus audio; H.264 without B-frames, which is what WHIP servers forward to browsers)
ENDPOINT=${1:?usage: whip.sh ENDPOINT [TOKEN]}
exec gst-launch-1.0 -e \
  videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
  clockoverlay ! nvencstreamsink name=s mode=whip url="$ENDPOINT" ${2:+bearer-token="$2"} avg-bitrate=3 \
  audiotestsrc is-live=true wave=ticks ! s.audio
