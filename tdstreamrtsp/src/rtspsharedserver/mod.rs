//! `rtspsharedserver`: serves encoded video (and audio) at `rtsp://host:port/<stream-name>`.
//!
//! Every instance in a process that uses the same address and port shares one gst-rtsp-server (one
//! mount each), like TouchDesigner's Video Stream Out TOPs on one port. Media is shared: one encode and
//! one payloader per stream whatever the number of clients, and a client that starts playing gets an
//! IDR at once.
//!
//! ```text
//! gst-launch-1.0 videotestsrc is-live=true ! x264enc tune=zerolatency ! h264parse ! \
//!     rtspsharedserver port=8554 stream-name=cam1
//! ```

use gst::glib;
use gst::prelude::*;

pub(crate) mod imp;

glib::wrapper! {
    pub struct RtspSharedServer(ObjectSubclass<imp::RtspSharedServer>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtspsharedserver",
        gst::Rank::NONE,
        RtspSharedServer::static_type(),
    )
}
