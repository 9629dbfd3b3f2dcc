//! RTMP: `flvmux streamable=true ! queue (rtmp-buffer-size) ! rtmp2sink`, in a restartable link. H.265 and
//! AV1 (and H.264 with `rtmp-enhanced=true`) use Enhanced RTMP: `eflvmux` where GStreamer has it for the
//! codec (1.28+), else this plugin's `tdeflvmux`.

use gst::prelude::*;

use super::link::{Inner, Link, Probe};
use super::{ghost_mux_pad, link_chain, make, video_caps, Transport, TransportError};
use crate::encoder::Codec;
use crate::nvencstreamsink::plan::{FlvMuxer, Plan};
use crate::url::RtmpTarget;

pub fn build(
    plan: &Plan,
    target: &RtmpTarget,
    with_audio: bool,
) -> Result<Transport, TransportError> {
    let (plan_c, target_c) = (plan.clone(), target.clone());
    let link = Link::new(
        "rtmp-transport",
        with_audio,
        Probe::Rtmp,
        Box::new(move || build_inner(&plan_c, &target_c, with_audio)),
    )?;
    Ok(Transport::of_link(link, flv_video_caps(plan.encoder.codec)))
}

/// What FLV takes: length-prefixed H.264/H.265 with the configuration record in caps, AV1 temporal
/// units of OBUs.
fn flv_video_caps(codec: Codec) -> gst::Caps {
    match codec {
        Codec::H264 => video_caps(codec, Some("avc")),
        Codec::H265 => video_caps(codec, Some("hvc1")),
        Codec::Av1 => gst::Caps::builder(codec.media_type())
            .field("stream-format", "obu-stream")
            .field("alignment", "tu")
            .build(),
    }
}

/// One connection's worth of elements. A new flvmux per connection: every connection starts with the
/// FLV header, onMetaData and the codec sequence headers.
fn build_inner(
    plan: &Plan,
    target: &RtmpTarget,
    with_audio: bool,
) -> Result<Inner, TransportError> {
    let bin = gst::Bin::with_name("rtmp-connection");
    let purpose = match plan.flv {
        FlvMuxer::Legacy => "mode=rtmp (FLV muxing)",
        _ => "mode=rtmp with Enhanced RTMP (H.265/AV1 in FLV)",
    };
    let mux = make(plan.flv.factory(), "flvmux", purpose)?;
    if mux.find_property("streamable").is_some() {
        mux.set_property("streamable", true);
    }
    // The application-level buffer (rtmp-buffer-size): when the network cannot keep up it drops the
    // newest data instead of blocking the pipeline, and the link resumes at the next keyframe.
    let queue = make("queue", "rtmp-buffer", "mode=rtmp")?;
    queue.set_property("max-size-time", plan.rtmp_buffer_ns);
    queue.set_property("max-size-buffers", 0u32);
    queue.set_property("max-size-bytes", 0u32);
    crate::plugins::set_enum(&queue, "leaky", "upstream").map_err(TransportError::Link)?;
    let sink = make("rtmp2sink", "rtmp2sink", "mode=rtmp (RTMP client)")?;
    sink.set_property("location", target.location());
    // Added while the pipeline plays: never take the pipeline back to PAUSED for a preroll.
    sink.set_property("async", false);
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
    Ok(Inner {
        connected: None,
        bin,
        network_sink: sink,
        buffer: Some(queue),
    })
}
