//! RTSP server: an internal `rtspsharedserver` (one mount on the process-wide server for the port).

use gst::prelude::*;

use super::{make, video_caps, Transport, TransportError};
use crate::nvencstreamsink::plan::{Plan, RtspTarget};

pub fn build(
    plan: &Plan,
    target: &RtspTarget,
    with_audio: bool,
) -> Result<Transport, TransportError> {
    let bin = gst::Bin::with_name("rtsp-transport");
    let server = make("rtspsharedserver", "rtspsharedserver", "mode=rtsp-server")?;
    server.set_property("port", target.port as u32);
    server.set_property("stream-name", &target.stream_name);
    server.set_property("multicast", target.multicast);
    bin.add(&server)
        .map_err(|e| TransportError::Link(e.to_string()))?;
    let ghost = |name: &str, pad: Option<gst::Pad>| -> Result<(), TransportError> {
        let pad = pad
            .ok_or_else(|| TransportError::Link(format!("rtspsharedserver gave no {name} pad")))?;
        let g = gst::GhostPad::builder_with_target(&pad)
            .map_err(|e| TransportError::Link(e.to_string()))?
            .name(name)
            .build();
        bin.add_pad(&g)
            .map_err(|e| TransportError::Link(e.to_string()))
    };
    ghost("video", server.static_pad("video"))?;
    if with_audio {
        ghost("audio", server.request_pad_simple("audio"))?;
    }
    Ok(Transport {
        bin,
        network_sink: Some(server),
        link: None,
        video_caps: video_caps(plan.encoder.codec, Some("byte-stream")),
    })
}
