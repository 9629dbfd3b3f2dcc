#!/bin/sh
# RTMP to a service or media server. usage: pipelines/rtmp.sh rtmp://host/app/STREAM-KEY
# (plugin on GST_PLUGIN_PATH, e.g. export GST_PLUGIN_PATH=$PWD/target/release)
exec gst-launch-1.0 -e \
  videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
  clockoverlay ! nvencstreamsink name=s mode=rtmp url="${1:?usage: $0 rtmp://host/app/STREAM-KEY}" \
    profile=high quality=lowlatencymedium bitrate-mode=cbr avg-bitrate=4.5 keyframe-interval=60 audio-codec=aac \
  audiotestsrc is-live=true wave=ticks ! s.audio
