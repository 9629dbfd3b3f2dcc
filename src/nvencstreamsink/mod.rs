//! `nvencstreamsink`: TouchDesigner's *Video Stream Out TOP* as a GStreamer sink bin.
//!
//! Takes raw video (and, on the `audio` request pad, raw audio), encodes on NVENC where there is one
//! (software otherwise), and streams it:
//!
//! ```text
//! gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
//!     nvencstreamsink mode=srt url="srt://:9000?mode=listener"
//! gst-launch-1.0 videotestsrc is-live=true ! nvencstreamsink name=s mode=rtmp \
//!     url=rtmp://127.0.0.1/live/STREAM-KEY audiotestsrc is-live=true ! s.audio
//! ```

use gst::glib;
use gst::prelude::*;

mod chain;
mod imp;
mod list;
pub mod plan;
mod props;
mod timing;

// The enums of `mode` and `audio-codec` belong to the layers that use them; the element re-exports them.
pub use crate::destination::ConnectionState;
pub use crate::encoder::AudioCodec;
pub use crate::transport::Mode;

/// The debug category of `nvencstreamsink` itself: its plan, encoder, destinations, monitor. The parts
/// below it have their own (`tdstream-rtmp`, `tdstream-srt`, `tdstream-webrtc`, `tdstream-link`, …):
/// `GST_DEBUG=nvencstreamsink:6,tdstream-*:6` shows all of it.
pub(crate) static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "nvencstreamsink",
        gst::DebugColorFlags::empty(),
        Some("tdstream all-in-one encode-and-stream sink"),
    )
});

glib::wrapper! {
    pub struct NvencStreamSink(ObjectSubclass<imp::NvencStreamSink>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::ChildProxy;
}

/// Who encodes for WebRTC and WHIP.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "TdStreamWebrtcEncode")]
pub enum WebrtcEncode {
    #[enum_value(
        name = "Shared: this bin encodes once (NVENC, all settings, metadata SEI), every viewer gets the same H.264 at a fixed bitrate",
        nick = "shared"
    )]
    Shared = 0,
    #[enum_value(
        name = "Per viewer: webrtcsink encodes for each viewer with congestion control (our settings via encoder-setup, SEI via request-encoded-filter)",
        nick = "per-viewer"
    )]
    PerViewer = 1,
}

/// Whether to send a silent audio track when no audio pad is linked (TouchDesigner: *Silent Audio*).
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "TdStreamSilentAudio")]
pub enum SilentAudio {
    #[enum_value(
        name = "Automatic: on for RTMP (services expect an audio track), off otherwise",
        nick = "automatic"
    )]
    Automatic = 0,
    #[enum_value(name = "On: silent track when no audio pad is linked", nick = "on")]
    On = 1,
    #[enum_value(name = "Off: video only when no audio pad is linked", nick = "off")]
    Off = 2,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "nvencstreamsink",
        gst::Rank::NONE,
        NvencStreamSink::static_type(),
    )
}
