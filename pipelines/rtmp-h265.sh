#!/bin/sh
# H.265 over RTMP (Enhanced RTMP: YouTube, FFmpeg 6.1+, nginx-rtmp with `wait_key off`), on GStreamer 1.22
# too (tdeflvmux). usage: pipelines/rtmp-h265.sh rtmp://host/app/STREAM-KEY [h265|av1]
exec gst-launch-1.0 -e \
  videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
  clockoverlay ! tdmetainject table="source,pipelines/rtmp-h265.sh" ! \
  nvencstreamsink name=s mode=rtmp url="${1:?usage: $0 rtmp://host/app/STREAM-KEY [h265|av1]}" \
    video-codec="${2:-h265}" profile=main quality=lowlatencymedium bitrate-mode=cbr avg-bitrate=3 \
    keyframe-interval=60 audio-codec=aac \
  audiotestsrc is-live=true wave=ticks ! s.audio
