//! `tdeflvmux`: an enhanced-FLV muxer (Enhanced RTMP v1) for GStreamer versions without `eflvmux`
//! (before 1.28): H.265 (`hvc1`), AV1 (`av01`) and H.264 (`avc1`) video with a FourCC, AAC or MP3 audio
//! as in legacy FLV. Its output is a stream of whole FLV tags, one per buffer, that `rtmp2sink` sends
//! like `flvmux`'s and `filesink` writes as a `.flv` file that FFmpeg 6.1+ reads.
//!
//! ```text
//! gst-launch-1.0 videotestsrc is-live=true ! x265enc tune=zerolatency ! h265parse ! \
//!     video/x-h265,stream-format=hvc1,alignment=au ! tdeflvmux name=mux ! \
//!     rtmp2sink location=rtmp://127.0.0.1/live/stream \
//!   audiotestsrc is-live=true ! voaacenc ! aacparse ! mux.audio
//! ```
//!
//! The byte layout is in [`crate::flv`]; it is tested byte for byte against FFmpeg 7's own muxer.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct TdEflvMux(ObjectSubclass<imp::TdEflvMux>) @extends gst_base::Aggregator, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "tdeflvmux",
        gst::Rank::NONE,
        TdEflvMux::static_type(),
    )
}
