//! The network end of `nvencstreamsink`: one sub-bin per mode, with `video` and (optional) `audio`
//! sink pads taking parsed, encoded streams.

use gst::prelude::*;

use crate::encoder::Codec;
use crate::nvencstreamsink::plan::Plan;
use crate::plugins::MissingElement;

pub mod gate;
pub mod link;
pub mod rtmp;
pub mod rtsp;
pub mod srt;
pub mod stats;
pub mod webrtc;

/// A built transport.
pub struct Transport {
    pub bin: gst::Bin,
    /// The element that talks to the network (rtmp2sink, srtsink, the internal rtspsharedserver); for a
    /// restartable link, its first one.
    pub network_sink: Option<gst::Element>,
    /// RTMP and SRT caller/rendezvous: the link that is rebuilt when the connection drops.
    pub link: Option<std::sync::Arc<link::Link>>,
    /// The caps the video must have when it enters `bin`'s `video` pad.
    pub video_caps: gst::Caps,
}

impl Transport {
    /// The transport of a restartable link: its outer bin, first network sink and the link itself.
    pub(crate) fn of_link(link: std::sync::Arc<link::Link>, video_caps: gst::Caps) -> Transport {
        Transport {
            bin: link.outer().clone(),
            network_sink: link.network_sink(),
            link: Some(link),
            video_caps,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{0}")]
    Missing(#[from] MissingElement),
    #[error("{0}")]
    Link(String),
    #[error(
        "the GStreamer element '{factory}' is missing, needed for {mode}: it comes from gst-plugins-rs, which \
         Debian 12 does not package. Fix: install tdstream's WebRTC plugin libgsttdstreamwebrtc.so next to \
         libgsttdstream.so (./run build builds it; or cargo build --release -p gst-plugin-tdstreamwebrtc), or \
         gst-plugins-rs' own webrtc plugin (libgstrswebrtc.so), and check with gst-inspect-1.0 {factory}"
    )]
    NoWebrtc { factory: String, mode: String },
}

pub(crate) use crate::plugins::make;

/// Adds a ghost pad `name` on `bin` for the request pad of `mux` that takes `caps`.
pub(crate) fn ghost_mux_pad(
    bin: &gst::Bin,
    mux: &gst::Element,
    template: &str,
    name: &str,
) -> Result<(), TransportError> {
    let pad = mux
        .request_pad_simple(template)
        .ok_or_else(|| TransportError::Link(format!("{} gave no '{template}' pad", mux.name())))?;
    let ghost = gst::GhostPad::builder_with_target(&pad)
        .map_err(|e| TransportError::Link(e.to_string()))?
        .name(name)
        .build();
    bin.add_pad(&ghost)
        .map_err(|e| TransportError::Link(e.to_string()))
}

/// Encoded-video caps for a muxer: `stream_format` is `avc`/`hvc1` for FLV, `byte-stream` for TS.
pub(crate) fn video_caps(codec: Codec, stream_format: Option<&str>) -> gst::Caps {
    let mut b = gst::Caps::builder(codec.media_type());
    if let Some(f) = stream_format {
        b = b.field("stream-format", f);
    }
    if codec != Codec::Av1 {
        b = b.field("alignment", "au");
    }
    b.build()
}

pub fn build(plan: &Plan, with_audio: bool) -> Result<Transport, TransportError> {
    match &plan.target {
        crate::nvencstreamsink::plan::Target::Rtmp(t) => rtmp::build(plan, t, with_audio),
        crate::nvencstreamsink::plan::Target::Srt(t) => srt::build(plan, t, with_audio),
        crate::nvencstreamsink::plan::Target::Rtsp(t) => rtsp::build(plan, t, with_audio),
        crate::nvencstreamsink::plan::Target::Webrtc(t) => webrtc::build(plan, t, with_audio),
    }
}

/// Sets an enum property by nick, without the panic of `set_property_from_str` on a bad nick.
pub(crate) fn set_enum(
    element: &gst::Element,
    name: &str,
    nick: &str,
) -> Result<(), TransportError> {
    crate::plugins::set_enum(element, name, nick).map_err(TransportError::Link)
}

/// A hint for a network sink's error text, naming what to fix.
pub fn explain(error_text: &str) -> Option<&'static str> {
    let t = error_text.to_ascii_lowercase();
    let hint = if t.contains("passphrase") || t.contains("decrypt") {
        "Fix: use the peer's SRT passphrase (passphrase=... in url, same pbkeylen on both sides)"
    } else if t.contains("publish")
        || t.contains("denied")
        || t.contains("unauthorized")
        || t.contains("badname")
        || t.contains("rejected")
        || t.contains("403")
    {
        "Fix: the server refused to accept the stream: check the stream key and any credentials in url"
    } else if t.contains("refused")
        || t.contains("does not exist")
        || t.contains("could not resolve")
        || t.contains("timed out")
        || t.contains("timeout")
        || t.contains("unreachable")
    {
        "Fix: check that the server or listener at url is running and reachable"
    } else if t.contains("closed") || t.contains("reset") || t.contains("broken pipe") {
        "The peer closed the connection (set reconnect-attempts to keep trying)"
    } else {
        return None;
    };
    Some(hint)
}

/// A second hint for Enhanced RTMP (H.265/AV1 in FLV): servers that cannot read it do not say so in
/// RTMP, they hang up (FFmpeg before 6.1, nginx-rtmp's players with `wait_key on`, older services).
pub fn explain_enhanced(error_text: &str, codec: &str) -> Option<String> {
    let t = error_text.to_ascii_lowercase();
    let hung_up = [
        "closed",
        "reset",
        "broken pipe",
        "connection error",
        "end of stream",
        "eof",
    ]
    .iter()
    .any(|w| t.contains(w));
    hung_up.then(|| {
        format!(
            "video-codec={codec} goes as Enhanced RTMP, which some servers cannot read and hang up on \
             (FFmpeg before 6.1, older services); if this happens right after connecting, \
             Fix: set video-codec=h264 (legacy FLV, which every server takes) or use a server that reads \
             Enhanced RTMP (YouTube, FFmpeg 6.1+, nginx-rtmp with wait_key off)"
        )
    })
}

/// Links a chain of elements already in one bin.
pub(crate) fn link_chain(elements: &[&gst::Element]) -> Result<(), TransportError> {
    gst::Element::link_many(elements.iter().copied())
        .map_err(|e| TransportError::Link(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_rtmp_hint_only_when_the_server_hung_up() {
        let hint = explain_enhanced("Connection error", "h265").unwrap_or_default();
        assert!(
            hint.contains("video-codec=h265")
                && hint.contains("Fix: set video-codec=h264")
                && hint.contains("wait_key off"),
            "{hint}"
        );
        assert!(explain_enhanced("Could not connect: Connection refused", "av1").is_none());
    }
}
