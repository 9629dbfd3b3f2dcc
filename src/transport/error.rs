//! The transports' errors: [`DestinationError`] when a destination cannot be (its URL, or a setting it
//! cannot carry), found before anything is built; [`TransportError`] when building one fails.

use super::url::UrlError;
use super::webrtc::config::IceError;
use crate::plugins::MissingElement;

/// A destination that cannot be: each names the setting and the fix.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DestinationError {
    #[error("url: {0}")]
    Url(#[from] UrlError),
    #[error("{0}")]
    Ice(#[from] IceError),
    #[error("{0}")]
    Rtsp(String),
    #[error("{setting} cannot be played by browsers over WebRTC: {why}. Fix: {fix}")]
    Browser {
        setting: String,
        why: &'static str,
        fix: &'static str,
    },
    #[error("video-codec={codec} cannot be sent with mode={mode}: {why}. Fix: {fix}")]
    CodecOnProtocol {
        codec: &'static str,
        mode: &'static str,
        why: &'static str,
        fix: &'static str,
    },
    #[error("audio-codec={codec} cannot be sent with mode={mode}: {why}. Fix: {fix}")]
    AudioOnProtocol {
        codec: &'static str,
        mode: &'static str,
        why: &'static str,
        fix: &'static str,
    },
}

/// Building a destination's elements failed.
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
