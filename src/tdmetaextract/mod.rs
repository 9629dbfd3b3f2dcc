//! `tdmetaextract`: finds the project's SEI messages in H.264/H.265 access units, restores
//! `TdFrameMeta` on the buffer (it then survives the decoder), optionally strips them, and measures
//! glass-to-glass latency from the capture time.
//!
//! ```text
//! ... ! tsdemux ! h264parse ! tdmetaextract emit-frame-messages=true ! avdec_h264 ! ...
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct TdMetaExtract(ObjectSubclass<imp::TdMetaExtract>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "tdmetaextract",
        gst::Rank::NONE,
        TdMetaExtract::static_type(),
    )
}
