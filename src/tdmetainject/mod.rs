//! `tdmetainject`: attaches `TdFrameMeta` (per-frame channels, a table, frame number, capture time,
//! timecode) to every buffer that passes, like a CHOP or DAT sent with every frame of a
//! TouchDesigner Video Stream Out TOP.
//!
//! ```text
//! gst-launch-1.0 videotestsrc ! tdmetainject channels="c, tx=(double)0.5, rgb=<1.0, 0.5, 0.2>" \
//!     table="name,value;speed,3" ! x264enc ! tdmetaembed ! h264parse ! ...
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct TdMetaInject(ObjectSubclass<imp::TdMetaInject>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "tdmetainject",
        gst::Rank::NONE,
        TdMetaInject::static_type(),
    )
}
