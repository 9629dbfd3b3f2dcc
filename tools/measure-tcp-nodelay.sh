#!/bin/bash
# What rtmp-tcp-nodelay changes on a link where Nagle's algorithm matters (docs/FINDINGS.md, issue #29).
# Run as root from the repository after `./run setup` and a release build (`./run demo` makes one):
#   tools/measure-tcp-nodelay.sh [RATE]      (default 4.6mbit)
# In a private network namespace, the loopback gets an MTU of 1500 (an Internet path's, instead of
# 64 kB) and the sender's way to nginx-rtmp (destination port 19350) is shaped to RATE with htb and a
# pfifo: a 4 Mbit/s 720p30 stream on a link a little faster than itself keeps data in flight. For
# rtmp-tcp-nodelay=true and false, alternately, three times: a gst-launch-1.0 sender, and a reader's
# per-picture latency from the capture time (tdmetaextract), pictures 60 on: p50, p95, max in ms.
set -eu
if [[ ${TDSTREAM_IN_NETNS:-} != 1 ]]; then
  exec unshare -n env TDSTREAM_IN_NETNS=1 "$0" "$@"
fi
rate=${1:-4.6mbit}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
ip link set lo up
ip link set lo mtu 1500
tc qdisc add dev lo root handle 1: htb default 20 2>/dev/null
tc class add dev lo parent 1: classid 1:10 htb rate "$rate" 2>/dev/null
tc class add dev lo parent 1: classid 1:20 htb rate 10gbit 2>/dev/null
tc qdisc add dev lo parent 1:10 pfifo limit 2000
tc filter add dev lo protocol ip parent 1:0 prio 1 u32 match ip dport 19350 0xffff flowid 1:10
cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off; master_process off; worker_processes 1; pid nginx.pid; error_log stderr warn;
events { worker_connections 64; }
rtmp { server { listen 127.0.0.1:19350; chunk_size 4096; application live { live on; record off; } } }
CONF
nginx -p "$work" -c nginx.conf -e stderr 2>"$work/nginx.log" &
export GST_PLUGIN_PATH=$repo/target/release GST_REGISTRY=$work/registry.bin
for round in 1 2 3; do
  for nodelay in true false; do
    gst-launch-1.0 -q videotestsrc is-live=true pattern=ball ! \
      video/x-raw,width=1280,height=720,framerate=30/1 ! tdmetainject ! \
      nvencstreamsink mode=rtmp url=rtmp://127.0.0.1:19350/live/n$round$nodelay quality=lowlatencyhigh \
      keyframe-interval=30 avg-bitrate=4 rtmp-tcp-nodelay=$nodelay >"$work/sender.log" 2>&1 &
    sender=$!
    timeout 14 gst-launch-1.0 -m rtmp2src location=rtmp://127.0.0.1:19350/live/n$round$nodelay ! \
      flvdemux name=d d.video ! queue ! h264parse ! tdmetaextract emit-frame-messages=true ! \
      fakesink sync=false async=false d.audio ! queue ! fakesink sync=false async=false 2>&1 |
      grep -o 'latency-ms=(double)[0-9.]*' | sed 's/latency-ms=(double)//' | tail -n +60 | sort -n |
      awk -v nd=$nodelay -v r=$round '{a[NR]=$1} END {printf "round %d rtmp-tcp-nodelay=%s: %d pictures, p50 %.1f p95 %.1f max %.1f ms\n", r, nd, NR, a[int(NR*0.5)], a[int(NR*0.95)], a[NR]}'
    kill $sender 2>/dev/null || true
    wait $sender 2>/dev/null || true
  done
done
