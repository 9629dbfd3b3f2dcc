//! RTMP: `flvmux streamable=true ! queue (rtmp-buffer-size) ! rtmp2sink`.

use gst::prelude::*;

use super::{ghost_mux_pad, link_chain, make, video_caps, Transport, TransportError};
use crate::nvencstreamsink::plan::Plan;
use crate::url::RtmpTarget;

pub fn build(
    plan: &Plan,
    target: &RtmpTarget,
    with_audio: bool,
) -> Result<Transport, TransportError> {
    let bin = gst::Bin::with_name("rtmp-transport");
    let mux = make("flvmux", "flvmux", "mode=rtmp (FLV muxing)")?;
    mux.set_property("streamable", true);
    let queue = make("queue", "rtmp-buffer", "mode=rtmp")?;
    queue.set_property("max-size-time", plan.rtmp_buffer_ns);
    queue.set_property("max-size-buffers", 0u32);
    queue.set_property("max-size-bytes", 0u32);
    let sink = make("rtmp2sink", "rtmp2sink", "mode=rtmp (RTMP client)")?;
    sink.set_property("location", target.location());
    // Credentials given as properties win over the URL's user:pass@.
    let username = plan.rtmp_username.as_ref().or(target.username.as_ref());
    let password = plan.rtmp_password.as_ref().or(target.password.as_ref());
    if let Some(u) = username {
        sink.set_property("username", u);
    }
    if let Some(p) = password {
        sink.set_property("password", p);
    }
    bin.add_many([&mux, &queue, &sink])
        .map_err(|e| TransportError::Link(e.to_string()))?;
    link_chain(&[&mux, &queue, &sink])?;
    ghost_mux_pad(&bin, &mux, "video", "video")?;
    if with_audio {
        ghost_mux_pad(&bin, &mux, "audio", "audio")?;
    }
    Ok(Transport {
        bin,
        network_sink: sink,
        video_caps: video_caps(plan.encoder.codec, Some("avc")),
    })
}
