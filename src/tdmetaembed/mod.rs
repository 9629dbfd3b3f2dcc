//! `tdmetaembed`: writes each access unit's `TdFrameMeta` (and any GstVideoSEIUserDataUnregisteredMeta)
//! into the H.264/H.265 stream as SEI user-data-unregistered NAL units, before the first slice,
//! without copying the picture data.
//!
//! ```text
//! ... ! tdmetainject ! x264enc ! tdmetaembed ! h264parse ! mpegtsmux ! ...
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct TdMetaEmbed(ObjectSubclass<imp::TdMetaEmbed>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "tdmetaembed",
        gst::Rank::NONE,
        TdMetaEmbed::static_type(),
    )
}
