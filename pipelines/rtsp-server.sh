#!/bin/sh
# Two named streams on one RTSP port (one server, shared media, one encode per stream).
# Open with: ffplay rtsp://127.0.0.1:8554/cam1   and   ffplay rtsp://127.0.0.1:8554/cam2
PORT=${1:-8554}
exec gst-launch-1.0 -e \
  videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,width=1280,height=720,framerate=30/1 ! clockoverlay ! \
    nvencstreamsink mode=rtsp-server port=$PORT stream-name=cam1 video-codec=h264 keyframe-interval=300 \
  videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 ! clockoverlay ! \
    nvencstreamsink mode=rtsp-server port=$PORT stream-name=cam2 video-codec=h265
